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
        // The read failed, not the operation: ask again next round.
        Outcome::Failed(e) if e.is_temporary() || e.kind() == ErrorKind::MissingFromResponse => {
            false
        }
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

/// Lines a status report up with the ids asked for. The contract gives one outcome per id in
/// request order, so this is a zip; a provider that breaks the order still gets matched by id
/// (without a map of the whole fleet in the common case).
pub fn align(ids: &[PhoneId], seen: Vec<PhoneOutcome>) -> Vec<Option<PhoneOutcome>> {
    if seen.len() == ids.len() && seen.iter().zip(ids).all(|(o, id)| &o.phone == id) {
        return seen.into_iter().map(Some).collect();
    }
    let mut by_id: HashMap<PhoneId, PhoneOutcome> =
        seen.into_iter().map(|o| (o.phone.clone(), o)).collect();
    ids.iter().map(|id| by_id.remove(id)).collect()
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
        let mut seen = align(&ids, seen.outcomes);
        let mut k = 0;
        watch.retain(|&i| {
            let s = seen[k].take();
            k += 1;
            match s {
                Some(s) => !observe(&mut outcomes[i], s, target),
                None => true,
            }
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::{
        CloudPhoneProvider, Error, ErrorKind, FakeProvider, Operation, PhoneId, PhoneState,
        ResetOptions, WaitOptions,
    };

    fn ids(n: usize) -> Vec<PhoneId> {
        (0..n).map(|i| PhoneId::new(format!("fake-{i}"))).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn a_deadline_keeps_every_job_reference() {
        let fake = FakeProvider::builder()
            .phones(250)
            .settle_polls(1_000)
            .build();
        let accepted = fake
            .reset(&ids(250), &ResetOptions::default())
            .await
            .unwrap();
        assert_eq!(accepted.jobs().count(), 250);
        let opts = WaitOptions::default()
            .timeout(Duration::from_secs(10))
            .poll_interval(Duration::from_secs(1));
        let start = tokio::time::Instant::now();
        let waited = fake.wait(&accepted, &opts).await.unwrap();
        assert_eq!(start.elapsed(), Duration::from_secs(10));
        assert_eq!(waited.summary().pending, 250);
        for (before, after) in accepted.outcomes.iter().zip(&waited.outcomes) {
            assert_eq!(before.job, after.job, "job of {} kept", before.phone);
            assert_eq!(after.phone_state(), Some(PhoneState::Resetting));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn waiting_reaches_the_target_or_a_dead_end() {
        let fake = FakeProvider::builder().phones(3).settle_polls(3).build();
        let phones = ids(3);
        let stopping = fake.stop(&phones).await.unwrap();
        fake.set_state(&phones[2], PhoneState::Failed);
        let opts = WaitOptions::default().poll_interval(Duration::from_secs(1));
        let waited = fake.wait(&stopping, &opts).await.unwrap();
        assert!(waited.outcomes[0].is_done());
        assert_eq!(waited.outcomes[1].phone_state(), Some(PhoneState::Stopped));
        let e = waited.outcomes[2].error().unwrap();
        assert_eq!(e.kind(), ErrorKind::InvalidState);
        assert!(e.message().contains("failed"), "{e}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_status_report_needs_an_explicit_target() {
        let fake = FakeProvider::builder().phones(1).build();
        let report = fake.status(&ids(1)).await.unwrap();
        let e = fake
            .wait(&report, &WaitOptions::default())
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        let r = crate::BatchReport::pending(Operation::Status, ids(1));
        let waited = fake
            .wait(&r, &WaitOptions::default().target(PhoneState::Running))
            .await
            .unwrap();
        assert!(waited.all_done());
    }

    #[tokio::test(start_paused = true)]
    async fn a_reset_is_not_retried_after_an_ambiguous_failure() {
        let fake = FakeProvider::builder().phones(1).build();
        fake.fail_next_requests([Error::new(ErrorKind::Unavailable, "502 bad gateway")]);
        let r = fake.reset(&ids(1), &ResetOptions::default()).await.unwrap();
        assert_eq!(
            r.outcomes[0].error().unwrap().kind(),
            ErrorKind::Unavailable
        );
        assert_eq!(fake.requests(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_reset_is_retried_after_a_throttling_answer() {
        let fake = FakeProvider::builder().phones(1).build();
        fake.fail_next_requests([
            Error::new(ErrorKind::RateLimited, "40007"),
            Error::new(ErrorKind::RateLimited, "40007"),
        ]);
        let r = fake.reset(&ids(1), &ResetOptions::default()).await.unwrap();
        assert!(r.outcomes[0].is_pending());
        assert_eq!(fake.requests(), 3);
        assert_eq!(fake.applied(Operation::Reset, &ids(1)[0]), 1);
    }

    #[test]
    fn align_matches_by_position_or_by_id() {
        use crate::PhoneOutcome;
        let ids = ids(3);
        let in_order: Vec<_> = ids.iter().cloned().map(PhoneOutcome::done).collect();
        let got = super::align(&ids, in_order);
        assert!(got
            .iter()
            .zip(&ids)
            .all(|(o, id)| &o.as_ref().unwrap().phone == id));
        // Out of order, one missing: matched by id, the missing one is `None`.
        let shuffled = vec![
            PhoneOutcome::done(ids[2].clone()),
            PhoneOutcome::done(ids[0].clone()),
        ];
        let got = super::align(&ids, shuffled);
        assert_eq!(got[0].as_ref().unwrap().phone, ids[0]);
        assert!(got[1].is_none());
        assert_eq!(got[2].as_ref().unwrap().phone, ids[2]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_phone_left_out_of_a_status_answer_stays_pending() {
        let fake = FakeProvider::builder().phones(2).settle_polls(1).build();
        let phones = ids(2);
        let stopping = fake.stop(&phones).await.unwrap();
        fake.omit_phone(&phones[1]);
        let opts = WaitOptions::default()
            .timeout(Duration::from_secs(3))
            .poll_interval(Duration::from_secs(1));
        let waited = fake.wait(&stopping, &opts).await.unwrap();
        assert!(waited.outcomes[0].is_done());
        assert!(waited.outcomes[1].is_pending(), "{:?}", waited.outcomes[1]);
    }

    #[tokio::test(start_paused = true)]
    async fn transient_status_failures_keep_phones_pending() {
        let fake = FakeProvider::builder().phones(2).settle_polls(1).build();
        let stopping = fake.stop(&ids(2)).await.unwrap();
        // Every status read fails for a while (retries included), then recovers.
        fake.fail_next_requests((0..5).map(|_| Error::new(ErrorKind::Unavailable, "503")));
        let opts = WaitOptions::default().poll_interval(Duration::from_secs(1));
        let waited = fake.wait(&stopping, &opts).await.unwrap();
        assert!(waited.all_done(), "{waited:?}");
    }
}
