//! Waiting for asynchronous work by polling phone states.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

use crate::{
    BatchReport, CloudPhoneProvider, Error, ErrorKind, Operation, Outcome, PhoneId, PhoneOutcome,
    PhoneState, Result, WaitOptions,
};

/// Whether an outcome still needs watching on the way to `target`.
///
/// Not when waiting already failed for it for good (refused credentials, a permanent read
/// error), nor for an unknown restart or reset whose phone was seen in the target state (its
/// state cannot tell more). Callers that wait in rounds use this to know what is settled.
pub fn needs_watch(o: &PhoneOutcome, target: PhoneState) -> bool {
    if o.wait_error
        .as_ref()
        .is_some_and(|e| e.kind().is_auth() || !e.is_temporary())
    {
        return false;
    }
    match &o.outcome {
        Outcome::Pending => true,
        // Unknown: the change may have happened; looking at the phone is how we find out.
        Outcome::Unknown(_) => o.phone_state() != Some(target),
        Outcome::Done => o.phone_state().is_some_and(|s| s != target),
        Outcome::Failed(_) => false,
    }
}

/// A deadline `timeout` from now that never overflows: an absurd timeout means "a very long
/// time", not a panic.
pub fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 24 * 3600))
}

/// Whether `state` shows a change in progress (so a change whose answer was lost did happen).
fn in_transition(state: PhoneState) -> bool {
    matches!(
        state,
        PhoneState::Starting
            | PhoneState::Stopping
            | PhoneState::Restarting
            | PhoneState::Resetting
            | PhoneState::Creating
    )
}

/// Folds one status observation into a watched outcome of `operation`. Returns whether the
/// phone is settled (reached `target`, failed for good, or cannot be told apart further).
///
/// Everything already known about the phone (job reference, name, live-view URL) is kept. A
/// temporary failure to read the state leaves the phone watched; a permanent one settles it
/// with the error attached as [`PhoneOutcome::wait_error`] — the accepted outcome is kept, a
/// later error never turns accepted work into "failed".
///
/// An *unknown* outcome becomes pending once the phone is seen changing, and done when a stop
/// or start finds the phone in the target state. A restart or reset whose phone is seen
/// running without having been seen changing stays unknown: its state cannot tell whether it
/// happened.
pub fn observe(
    o: &mut PhoneOutcome,
    seen: PhoneOutcome,
    target: PhoneState,
    operation: Operation,
) -> bool {
    if o.name.is_none() {
        o.name = seen.name;
    }
    match seen.outcome {
        // The read failed, not the operation: ask again next round.
        Outcome::Failed(e) | Outcome::Unknown(e)
            if e.is_temporary() || e.kind() == ErrorKind::MissingFromResponse =>
        {
            false
        }
        Outcome::Failed(e) | Outcome::Unknown(e) => {
            o.wait_error = Some(e);
            true
        }
        Outcome::Done | Outcome::Pending => {
            let Some(state) = seen.state else {
                return false;
            };
            o.wait_error = None;
            let now = state.state;
            let raw = state.raw.clone();
            o.state = Some(state);
            let unknown = o.is_unknown();
            if now == target {
                let state_proves_it = !matches!(operation, Operation::Restart | Operation::Reset);
                if !unknown || state_proves_it {
                    o.outcome = Outcome::Done;
                }
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
                if !unknown || in_transition(now) {
                    o.outcome = Outcome::Pending;
                }
                false
            }
        }
    }
}

/// Refuses a report another provider made: its job ids and phones mean nothing here. A report
/// without an origin (built by hand, e.g. [`BatchReport::pending`]) is accepted.
pub fn check_origin<P>(provider: &P, report: &BatchReport) -> Result<()>
where
    P: CloudPhoneProvider + ?Sized,
{
    let Some(made_by) = report.origin else {
        return Ok(());
    };
    let other_vendor = made_by.vendor != provider.vendor();
    let other_instance = provider.origin().is_some_and(|o| o != made_by);
    if other_vendor || other_instance {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!(
                "this `{}` report was made by another provider ({} #{}); wait on it with the provider that made it",
                report.operation, made_by.vendor, made_by.instance
            ),
        )
        .with_vendor(provider.vendor()));
    }
    Ok(())
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

/// Phones per status read of a wait round: whole status batches, enough of them to keep the
/// most concurrent provider busy for a few waves. A provider without a batch status call
/// (batch size 1, perhaps reading list pages) is read in one piece, as a listing is paid per
/// read, not per phone.
fn status_slice<P: CloudPhoneProvider + ?Sized>(provider: &P) -> usize {
    match provider.capabilities().batch_sizes.get(&Operation::Status) {
        Some(&b) if b > 1 => b.saturating_mul(crate::options::MAX_CONCURRENCY * 4),
        _ => usize::MAX,
    }
}

/// Polls `provider.status` until every watched phone of `report` reaches the target state,
/// fails, or the deadline passes. The default [`CloudPhoneProvider::wait`].
///
/// Phones already failed stay failed; phones still unfinished at the deadline stay pending (or
/// unknown) with their job references and last observed state. A status call that fails as a
/// whole is attached to the watched phones as their wait error; refused credentials end the
/// wait at once (the report is still `Ok`, every accepted outcome kept).
pub async fn wait_by_status<P>(
    provider: &P,
    report: &BatchReport,
    options: &WaitOptions,
) -> Result<BatchReport>
where
    P: CloudPhoneProvider + ?Sized,
{
    check_origin(provider, report)?;
    options.resolve_target(report.operation)?;
    wait_by_status_owned(provider, report.clone(), options).await
}

/// [`wait_by_status`] handed the report: its outcomes are updated in place, not copied (the
/// default [`CloudPhoneProvider::wait_owned`] of providers without their own wait should call
/// this).
pub async fn wait_by_status_owned<P>(
    provider: &P,
    mut report: BatchReport,
    options: &WaitOptions,
) -> Result<BatchReport>
where
    P: CloudPhoneProvider + ?Sized,
{
    check_origin(provider, &report)?;
    let target = options.resolve_target(report.operation)?;
    let deadline = deadline_after(options.timeout);
    let mut outcomes = std::mem::take(&mut report.outcomes);
    let mut watch: Vec<usize> = (0..outcomes.len())
        .filter(|&i| needs_watch(&outcomes[i], target))
        .collect();
    let slice = status_slice(provider);
    let mut rounds = 0u32;
    let mut stop = false;
    while !watch.is_empty() {
        rounds += 1;
        let mut settled = Vec::new();
        let mut still = Vec::with_capacity(watch.len());
        // A round reads the watched phones a slice at a time: each status report holds a
        // slice, not the fleet, and slices are whole status batches (no extra call).
        for part in watch.chunks(slice) {
            if stop {
                still.extend_from_slice(part);
                continue;
            }
            let ids: Vec<PhoneId> = part.iter().map(|&i| outcomes[i].phone.clone()).collect();
            match provider.status(&ids).await {
                Ok(seen) => {
                    for (&i, s) in part.iter().zip(align(&ids, seen.outcomes)) {
                        let done = match s {
                            Some(s) => observe(&mut outcomes[i], s, target, report.operation),
                            None => false,
                        };
                        if done {
                            settled.push(i);
                        } else {
                            still.push(i);
                        }
                    }
                }
                Err(e) => {
                    // The read failed as a whole: the outcomes stand, with the reason attached.
                    for &i in part {
                        outcomes[i].wait_error = Some(e.clone());
                    }
                    still.extend_from_slice(part);
                    if e.kind().is_auth() || !e.is_temporary() {
                        // Refused credentials are never sent again, and a permanent failure
                        // would repeat: stop at once, every watched phone carrying the error.
                        for &i in &watch {
                            outcomes[i].wait_error = Some(e.clone());
                        }
                        stop = true;
                    }
                }
            }
        }
        watch = still;
        crate::progress::waited_in(provider.vendor(), report.operation, &mut outcomes, &settled);
        let now = Instant::now();
        if stop || watch.is_empty() || now >= deadline {
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
    let mut waited = BatchReport::new(report.operation, outcomes);
    waited.stray_jobs = report.stray_jobs;
    waited.origin = report.origin;
    Ok(waited)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::{
        CloudPhoneProvider, Error, ErrorKind, FakeProvider, Operation, PhoneId, PhoneOutcome,
        PhoneState, ResetOptions, WaitOptions,
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
    async fn a_round_read_in_slices_costs_whole_status_batches_only() {
        // 30,000 phones: a slice of 25,600 and one of 4,400, both whole batches of 100.
        let n = 30_000;
        let fake = FakeProvider::builder().phones(n).settle_polls(2).build();
        let phones = ids(n);
        let stopping = fake.stop(&phones).await.unwrap();
        let before = fake.requests();
        let opts = WaitOptions::default().poll_interval(Duration::from_secs(1));
        let waited = fake.wait(&stopping, &opts).await.unwrap();
        assert!(waited.all_done(), "{:?}", waited.summary());
        let reads = fake.requests() - before;
        // Every round reads every watched phone in batches of 100: 300 calls a round.
        assert!(
            reads > 0 && reads.is_multiple_of(300),
            "{reads} status calls"
        );
        for (o, id) in waited.outcomes.iter().zip(&phones) {
            assert_eq!(&o.phone, id);
            assert_eq!(o.phone_state(), Some(PhoneState::Stopped));
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
        // Sent, answer lost: it may have been applied — unknown, never "failed".
        assert!(r.outcomes[0].is_unknown(), "{:?}", r.outcomes[0]);
        assert_eq!(
            r.outcomes[0].cause().unwrap().kind(),
            ErrorKind::Unavailable
        );
        assert_eq!(fake.requests(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn waiting_resolves_an_unknown_stop_by_looking() {
        let fake = FakeProvider::builder().phones(2).settle_polls(1).build();
        let phones = ids(2);
        // The first stop's answer is lost (the fake applies it, then fails the request).
        fake.fail_next_requests([Error::new(ErrorKind::Timeout, "timed out after sending")]);
        let r = fake.stop(&phones).await.unwrap();
        assert_eq!(r.summary().unknown, 2, "{r:?}");
        let opts = WaitOptions::default()
            .timeout(Duration::from_secs(30))
            .poll_interval(Duration::from_secs(1));
        let waited = fake.wait(&r, &opts).await.unwrap();
        let s = waited.summary();
        // Whatever the fake did, the wait looked: stopped phones are done, others stay unknown.
        assert_eq!(s.failed, 0, "{waited:?}");
        for o in &waited.outcomes {
            assert_eq!(
                o.is_done(),
                o.phone_state() == Some(PhoneState::Stopped),
                "{o:?}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_report_of_another_provider_is_refused() {
        let a = FakeProvider::builder().phones(1).build();
        let b = FakeProvider::builder().phones(1).build();
        let stopping = a.stop(&ids(1)).await.unwrap();
        let e = b
            .wait(&stopping, &WaitOptions::default())
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        assert!(e.message().contains("another provider"), "{e}");
        assert!(a.wait(&stopping, &WaitOptions::default()).await.is_ok());
        // Looked up by id.
        assert!(stopping.get(&ids(1)[0]).is_some());
        assert!(stopping.get(&PhoneId::from("nope")).is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn absurd_timeouts_do_not_panic_and_a_zero_poll_interval_is_refused() {
        let fake = FakeProvider::builder().phones(1).settle_polls(1).build();
        let stopping = fake.stop(&ids(1)).await.unwrap();
        let opts = WaitOptions::default().timeout(Duration::MAX);
        assert!(fake.wait(&stopping, &opts).await.unwrap().all_done());
        let opts = WaitOptions::default().poll_interval(Duration::ZERO);
        let e = fake.wait(&stopping, &opts).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    }

    #[tokio::test(start_paused = true)]
    async fn a_refusal_mid_wait_keeps_accepted_outcomes_and_stops() {
        let fake = FakeProvider::builder().phones(2).settle_polls(50).build();
        let r = fake.reset(&ids(2), &ResetOptions::default()).await.unwrap();
        let before = fake.requests();
        fake.fail_next_requests((0..10).map(|_| Error::new(ErrorKind::Unauthenticated, "40003")));
        let opts = WaitOptions::default().poll_interval(Duration::from_secs(1));
        let waited = fake.wait(&r, &opts).await.unwrap();
        assert_eq!(
            fake.requests() - before,
            1,
            "no status call after the refusal"
        );
        for (a, b) in r.outcomes.iter().zip(&waited.outcomes) {
            assert!(b.is_pending() && a.job == b.job, "{b:?}");
            assert!(b.wait_error.as_ref().unwrap().kind().is_auth());
        }
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

    /// The owned wait lends its outcomes to each round's `Waited` event: whether the observer
    /// drops the event or keeps it, every phone is settled once, with its final outcome, and
    /// the report is the one the lent wait returns.
    #[tokio::test(start_paused = true)]
    async fn an_owned_wait_lends_settled_outcomes_to_observers_that_keep_them_or_not() {
        use std::sync::{Arc, Mutex};

        use crate::progress::{self, Event, EventKind};

        let phones = ids(20);
        let opts = WaitOptions::default().poll_interval(Duration::from_secs(1));
        let run = |keep: bool| {
            let (phones, opts) = (phones.clone(), opts.clone());
            async move {
                let fake = FakeProvider::builder().phones(20).settle_polls(2).build();
                let stopping = fake.stop(&phones).await.unwrap();
                fake.set_state(&phones[3], PhoneState::Failed);
                let lent = fake.wait(&stopping, &opts).await.unwrap();
                let fake = FakeProvider::builder().phones(20).settle_polls(2).build();
                let stopping = fake.stop(&phones).await.unwrap();
                fake.set_state(&phones[3], PhoneState::Failed);
                let kept: Arc<Mutex<Vec<Event>>> = Arc::default();
                let seen: Arc<Mutex<Vec<(PhoneId, &'static str)>>> = Arc::default();
                let (k, s) = (kept.clone(), seen.clone());
                let owned = progress::observe(
                    move |ev| {
                        if let EventKind::Waited(settled) = &ev.kind {
                            let mut s = s.lock().unwrap();
                            s.extend(
                                settled
                                    .iter()
                                    .map(|o| (o.phone.clone(), o.outcome.as_str())),
                            );
                        }
                        if keep {
                            k.lock().unwrap().push(ev);
                        }
                    },
                    fake.wait_owned(stopping, &opts),
                )
                .await
                .unwrap();
                let seen = seen.lock().unwrap().clone();
                (lent, owned, seen, kept)
            }
        };
        for keep in [false, true] {
            let (lent, owned, seen, kept) = run(keep).await;
            assert_eq!(owned.summary(), lent.summary(), "keep {keep}");
            assert_eq!(owned.summary().failed, 1);
            assert_eq!(owned.summary().succeeded, 19);
            for (a, b) in lent.outcomes.iter().zip(&owned.outcomes) {
                assert_eq!(a.phone, b.phone);
                assert_eq!(a.outcome.as_str(), b.outcome.as_str());
            }
            let mut settled: Vec<_> = seen.iter().map(|(p, _)| p.clone()).collect();
            settled.sort();
            let mut all = phones.clone();
            all.sort();
            assert_eq!(
                settled, all,
                "every phone settled exactly once (keep {keep})"
            );
            for (p, kind) in &seen {
                assert_eq!(*kind, owned.get(p).unwrap().outcome.as_str());
            }
            // Kept events still read the outcomes as they were when the round settled them.
            let kept: Vec<PhoneOutcome> = kept
                .lock()
                .unwrap()
                .drain(..)
                .filter_map(|ev| match ev.kind {
                    EventKind::Waited(s) => Some(s),
                    _ => None,
                })
                .flatten()
                .collect();
            assert_eq!(kept.len(), if keep { 20 } else { 0 });
            for o in &kept {
                assert_eq!(
                    o.outcome.as_str(),
                    owned.get(&o.phone).unwrap().outcome.as_str()
                );
            }
        }
    }
}
