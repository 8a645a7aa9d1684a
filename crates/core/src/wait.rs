//! Waiting for asynchronous work by polling phone states.

use std::collections::HashMap;

use tokio::time::Instant;

use crate::{
    BatchReport, CloudPhoneProvider, Error, ErrorKind, Outcome, PhoneId, PhoneOutcome, PhoneState,
    Result, WaitOptions,
};

/// Whether an outcome still needs watching on the way to `target`.
pub fn needs_watch(o: &PhoneOutcome, target: PhoneState) -> bool {
    match &o.outcome {
        Outcome::Pending => true,
        Outcome::Done => o.phone_state().is_some_and(|s| s != target),
        Outcome::Failed(_) => false,
    }
}

/// Folds one status observation into a watched outcome. Returns whether the phone is settled
/// (reached `target` or failed for good).
///
/// Everything already known about the phone (job reference, name, live-view URL) is kept. A
/// temporary failure to read the state leaves the phone pending: the operation may still
/// finish, and the next round asks again.
pub fn observe(o: &mut PhoneOutcome, seen: PhoneOutcome, target: PhoneState) -> bool {
    if o.name.is_none() {
        o.name = seen.name;
    }
    match seen.outcome {
        Outcome::Failed(e) if e.is_temporary() => false,
        Outcome::Failed(e) => {
            o.outcome = Outcome::Failed(e);
            true
        }
        Outcome::Done | Outcome::Pending => {
            let Some(state) = seen.state else {
                return false;
            };
            let now = state.state;
            let raw = state.raw.clone();
            o.state = Some(state);
            if now == target {
                o.outcome = Outcome::Done;
                true
            } else if now.is_dead_end() {
                let e = Error::new(
                    ErrorKind::InvalidState,
                    format!("phone is {now} (vendor state {raw}) while waiting for {target}"),
                )
                .with_vendor_code(raw);
                o.outcome = Outcome::Failed(e);
                true
            } else {
                o.outcome = Outcome::Pending;
                false
            }
        }
    }
}

/// Polls `provider.status` until every watched phone of `report` reaches the target state,
/// fails, or the deadline passes. The default [`CloudPhoneProvider::wait`].
///
/// Phones already failed stay failed; phones still unfinished at the deadline stay pending
/// with their job references and last observed state.
pub async fn wait_by_status<P>(
    provider: &P,
    report: &BatchReport,
    options: &WaitOptions,
) -> Result<BatchReport>
where
    P: CloudPhoneProvider + ?Sized,
{
    let target = options.resolve_target(report.operation)?;
    let deadline = Instant::now() + options.timeout;
    let mut outcomes = report.outcomes.clone();
    let mut watch: Vec<usize> = (0..outcomes.len())
        .filter(|&i| needs_watch(&outcomes[i], target))
        .collect();
    let mut rounds = 0u32;
    while !watch.is_empty() {
        let ids: Vec<PhoneId> = watch.iter().map(|&i| outcomes[i].phone.clone()).collect();
        let seen = provider.status(&ids).await?;
        rounds += 1;
        let mut by_id: HashMap<PhoneId, PhoneOutcome> = seen
            .outcomes
            .into_iter()
            .map(|o| (o.phone.clone(), o))
            .collect();
        watch.retain(|&i| match by_id.remove(&outcomes[i].phone) {
            Some(s) => !observe(&mut outcomes[i], s, target),
            None => true,
        });
        let now = Instant::now();
        if watch.is_empty() || now >= deadline {
            break;
        }
        tokio::time::sleep(options.poll_interval.min(deadline - now)).await;
    }
    tracing::debug!(
        vendor = provider.vendor(),
        rounds,
        unfinished = watch.len(),
        "wait finished"
    );
    Ok(BatchReport::new(report.operation, outcomes))
}
