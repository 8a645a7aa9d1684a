//! The engine's tests.

use super::*;
use crate::PhoneOutcome;
use std::sync::atomic::AtomicUsize;

fn ids(v: &[&str]) -> Vec<PhoneId> {
    v.iter().map(|s| PhoneId::from(*s)).collect()
}

fn engine() -> BatchEngine {
    BatchEngine::new("test", EngineConfig::default().retry(RetryPolicy::none()))
}

#[test]
fn dedupe_keeps_first_occurrence_in_order() {
    let got = dedupe(ids(&["b", "a", "b", "c", "a"]));
    assert_eq!(got, ids(&["b", "a", "c"]));
}

#[tokio::test]
async fn chunks_respect_the_maximum_and_outcomes_keep_request_order() {
    let sizes = Mutex::new(Vec::new());
    let phones: Vec<PhoneId> = (0..250)
        .rev()
        .map(|i| PhoneId::new(i.to_string()))
        .collect();
    let report = engine()
        .run_chunks(Operation::Status, &phones, 100, |chunk| {
            sizes.lock().unwrap().push(chunk.len());
            async move {
                // Answer in reverse to prove the engine restores request order.
                Ok(chunk.into_iter().rev().map(PhoneOutcome::done).collect())
            }
        })
        .await
        .unwrap();
    let mut sizes = sizes.into_inner().unwrap();
    sizes.sort();
    assert_eq!(sizes, vec![50, 100, 100]);
    let got: Vec<_> = report.outcomes.iter().map(|o| o.phone.clone()).collect();
    assert_eq!(got, phones);
    assert!(report.all_done());
}

#[tokio::test]
async fn answers_keep_the_callers_ids_whole_batch_or_chunked_in_any_order() {
    let phones: Vec<PhoneId> = (0..300).map(|i| PhoneId::new(format!("p{i}"))).collect();
    // The vendor's copies of the ids, in order (one chunk: taken whole) and reversed.
    for (size, reverse) in [
        (usize::MAX, false),
        (usize::MAX, true),
        (64, false),
        (64, true),
    ] {
        let report = engine()
            .run_chunks(Operation::Status, &phones, size, |chunk| async move {
                let mut out: Vec<PhoneOutcome> = chunk
                    .iter()
                    .map(|id| PhoneOutcome::done(PhoneId::new(id.as_str().to_owned())))
                    .collect();
                if reverse {
                    out.reverse();
                }
                Ok(out)
            })
            .await
            .unwrap();
        assert_eq!(report.outcomes.len(), 300);
        for (o, id) in report.outcomes.iter().zip(&phones) {
            assert!(o.is_done(), "{o:?}");
            // The same allocation as the caller's id, not the vendor's copy.
            assert_eq!(
                o.phone.as_str().as_ptr(),
                id.as_str().as_ptr(),
                "{size} {reverse}"
            );
        }
    }
}

#[tokio::test]
async fn duplicates_are_sent_once_and_reported_once() {
    let sent = Mutex::new(Vec::new());
    let report = engine()
        .run_chunks(Operation::Stop, &ids(&["a", "b", "a"]), 10, |chunk| {
            sent.lock().unwrap().extend(chunk.clone());
            async move { Ok(chunk.into_iter().map(PhoneOutcome::pending).collect()) }
        })
        .await
        .unwrap();
    assert_eq!(sent.into_inner().unwrap(), ids(&["a", "b"]));
    assert_eq!(report.outcomes.len(), 2);
}

#[tokio::test]
async fn ids_missing_from_the_answer_get_their_own_outcome() {
    for op in [Operation::Stop, Operation::Status] {
        let report = engine()
            .run_chunks(op, &ids(&["a", "b", "c"]), 10, |_| async {
                // The vendor answers about `a` and about a phone nobody asked for.
                Ok(vec![
                    PhoneOutcome::pending("a".into()),
                    PhoneOutcome::done("zzz".into()),
                ])
            })
            .await
            .unwrap();
        assert_eq!(report.outcomes.len(), 3);
        assert!(report.outcomes[0].is_pending());
        for o in &report.outcomes[1..] {
            assert_eq!(o.cause().unwrap().kind(), ErrorKind::MissingFromResponse);
            // A stop the vendor answered without this phone may have been made.
            assert_eq!(o.is_unknown(), op == Operation::Stop, "{op}: {o:?}");
        }
    }
}

#[tokio::test]
async fn one_failing_chunk_leaves_the_others_intact() {
    let phones: Vec<PhoneId> = (0..30).map(|i| PhoneId::new(format!("p{i}"))).collect();
    let report = engine()
        .run_chunks(Operation::Reset, &phones, 10, |chunk| async move {
            if chunk.contains(&PhoneId::from("p15")) {
                Err(Error::new(ErrorKind::NotFound, "no such group"))
            } else if chunk.contains(&PhoneId::from("p25")) {
                Err(Error::new(ErrorKind::Unavailable, "503"))
            } else {
                Ok(chunk.into_iter().map(PhoneOutcome::pending).collect())
            }
        })
        .await
        .unwrap();
    let s = report.summary();
    assert_eq!((s.total, s.pending, s.failed, s.unknown), (30, 10, 10, 10));
    for o in &report.outcomes[10..20] {
        assert_eq!(o.error().unwrap().kind(), ErrorKind::NotFound);
    }
    // A 503 after a reset was sent: it may have been applied, so it is unknown.
    for o in &report.outcomes[20..30] {
        assert!(o.is_unknown(), "{o:?}");
        assert_eq!(o.cause().unwrap().kind(), ErrorKind::Unavailable);
    }
}

#[tokio::test]
async fn a_lost_answer_is_unknown_for_changes_and_failed_for_reads() {
    for (op, unknown) in [(Operation::Stop, true), (Operation::Status, false)] {
        let report = engine()
            .run_chunks(op, &ids(&["a", "b"]), 10, |_| async {
                Err::<Vec<PhoneOutcome>, _>(Error::new(ErrorKind::Timeout, "timed out"))
            })
            .await
            .unwrap();
        assert!(
            report.outcomes.iter().all(|o| o.is_unknown() == unknown),
            "{op}: {report:?}"
        );
        // Refused before anything happened (throttled, connection refused): failed.
        let report = engine()
            .run_chunks(op, &ids(&["a"]), 10, |_| async {
                Err::<Vec<PhoneOutcome>, _>(Error::new(ErrorKind::RateLimited, "slow down"))
            })
            .await
            .unwrap();
        assert!(report.outcomes[0].error().is_some(), "{op}");
    }
}

#[tokio::test]
async fn a_refusal_abandons_chunks_in_flight_and_stops_later_calls() {
    let calls = AtomicUsize::new(0);
    let e = BatchEngine::new(
        "test",
        EngineConfig::default()
            .concurrency(4)
            .retry(RetryPolicy::none()),
    );
    // Prove the credentials first, so that chunks fan out at once.
    e.run_chunks(Operation::Status, &ids(&["x"]), 1, |c| async move {
        Ok(c.into_iter().map(PhoneOutcome::done).collect())
    })
    .await
    .unwrap();
    let phones: Vec<PhoneId> = (0..8).map(|i| PhoneId::new(format!("p{i}"))).collect();
    let report = e
        .run_chunks(Operation::Reset, &phones, 1, |chunk| {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            async move {
                if n == 0 {
                    // Accepted at once.
                    return Ok(chunk.into_iter().map(PhoneOutcome::pending).collect());
                }
                if n == 1 {
                    tokio::task::yield_now().await;
                    return Err(Error::new(ErrorKind::Unauthenticated, "key locked"));
                }
                // The others hang: they are in flight when the refusal arrives.
                std::future::pending::<()>().await;
                unreachable!()
            }
        })
        .await
        .unwrap();
    let s = report.summary();
    // Chunk 0 answered at once, so chunk 4 took its place before the refusal arrived.
    assert_eq!(
        calls.load(Ordering::SeqCst),
        5,
        "nothing sent after the refusal"
    );
    assert_eq!(s.pending, 1, "{report:?}");
    assert_eq!(s.unknown, 3, "the three in flight may have been applied");
    assert_eq!(s.failed, 4, "the refused one and the three never sent");
    // Later calls send nothing.
    let err = e
        .run_chunks(Operation::Status, &phones, 1, |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Ok(vec![]) }
        })
        .await
        .unwrap_err();
    assert!(
        err.kind().is_auth() && err.message().contains("not sent"),
        "{err}"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 5);
    let err = e
        .call("x", Idempotency::ReadOnly, || {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Ok(()) }
        })
        .await
        .unwrap_err();
    assert!(err.kind().is_auth());
    assert_eq!(calls.load(Ordering::SeqCst), 5);
}

#[tokio::test]
async fn echoed_secrets_never_leave_the_engine() {
    let e = engine();
    e.scrubber().add("s3cr3t-key");
    let report = e
        .run_chunks(Operation::Stop, &ids(&["a", "b"]), 1, |chunk| async move {
            if chunk[0].as_str() == "a" {
                Ok(vec![PhoneOutcome::failed(
                    chunk[0].clone(),
                    Error::new(ErrorKind::Busy, "busy; your key is s3cr3t-key"),
                )])
            } else {
                Err(Error::new(ErrorKind::NotFound, "bad key s3cr3t-key"))
            }
        })
        .await
        .unwrap();
    for o in &report.outcomes {
        let shown = format!("{} {:?}", o.cause().unwrap(), o.cause().unwrap());
        assert!(
            !shown.contains("s3cr3t-key") && shown.contains("[redacted]"),
            "{shown}"
        );
    }
}

#[tokio::test]
async fn chunks_are_handed_out_as_they_are_answered() {
    let events = Arc::new(Mutex::new(Vec::new()));
    let log = events.clone();
    let phones: Vec<PhoneId> = (0..5).map(|i| PhoneId::new(format!("p{i}"))).collect();
    let e = engine();
    let report = crate::progress::observe(
        move |ev| {
            let what = match &ev.kind {
                crate::progress::EventKind::Sent(ids) => format!("sent {}", ids.len()),
                crate::progress::EventKind::Answered(o) => format!("answered {}", o.len()),
                _ => "other".into(),
            };
            log.lock().unwrap().push(what);
        },
        e.run_chunks(Operation::Stop, &phones, 2, |chunk| async move {
            Ok(chunk.into_iter().map(PhoneOutcome::pending).collect())
        }),
    )
    .await
    .unwrap();
    assert_eq!(report.summary().pending, 5);
    let events = events.lock().unwrap().clone();
    let sent: usize = events.iter().filter(|e| e.starts_with("sent")).count();
    let answered: Vec<&String> = events
        .iter()
        .filter(|e| e.starts_with("answered"))
        .collect();
    assert_eq!(sent, 3);
    assert_eq!(answered, ["answered 2", "answered 2", "answered 1"]);
}

#[tokio::test]
async fn jobs_for_phones_not_asked_for_are_kept_as_strays() {
    let report = engine()
        .run_chunks(Operation::Reset, &ids(&["a"]), 10, |_| async {
            Ok(vec![
                PhoneOutcome::pending("a".into()).with_job(crate::JobRef::new("j-a", None)),
                PhoneOutcome::pending("zzz".into()).with_job(crate::JobRef::new("j-z", None)),
                PhoneOutcome::pending("".into()).with_job(crate::JobRef::new("j-none", None)),
            ])
        })
        .await
        .unwrap();
    assert_eq!(report.outcomes.len(), 1);
    let strays: Vec<_> = report
        .stray_jobs
        .iter()
        .map(|s| {
            (
                s.phone.as_ref().map(|p| p.to_string()),
                s.job.job_id.to_string(),
            )
        })
        .collect();
    assert_eq!(
        strays,
        [
            (Some("zzz".to_owned()), "j-z".to_owned()),
            (None, "j-none".to_owned())
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_provider_wide_retry_budget_bounds_calls_when_everything_fails() {
    let e = BatchEngine::new(
        "test",
        EngineConfig::default()
            .concurrency(4)
            .retry(RetryPolicy::default().delays(
                std::time::Duration::from_millis(1),
                std::time::Duration::from_millis(1),
            )),
    );
    let calls = AtomicUsize::new(0);
    let phones: Vec<PhoneId> = (0..200).map(|i| PhoneId::new(format!("p{i}"))).collect();
    let report = e
        .run_chunks(Operation::Status, &phones, 1, |_| {
            e.call("status", Idempotency::ReadOnly, || {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Err::<Vec<PhoneOutcome>, _>(Error::new(ErrorKind::Unavailable, "503")) }
            })
        })
        .await
        .unwrap();
    assert_eq!(report.summary().failed, 200);
    let n = calls.load(Ordering::SeqCst);
    // 200 first attempts and a budget of about 10 + n/5 retries — not 200 × 5 = 1,000.
    assert!((200..=265).contains(&n), "{n} calls");
    let err = report.outcomes[0].error().unwrap();
    assert_eq!(err.operation(), Some(Operation::Status));
    assert_eq!(err.endpoint(), Some("status"));
    assert!(err.is_persistent());
}

#[test]
fn overlong_ids_are_invalid() {
    assert!(PhoneId::new("x".repeat(256)).invalid_reason().is_none());
    assert!(PhoneId::new("x".repeat(257)).invalid_reason().is_some());
}

#[tokio::test]
async fn invalid_ids_fail_alone_without_a_call() {
    let sent = Mutex::new(Vec::new());
    let report = engine()
        .run_each(Operation::Reset, &ids(&["ok", "", "x\ny"]), |id| {
            sent.lock().unwrap().push(id.clone());
            async move { Ok(PhoneOutcome::pending(id)) }
        })
        .await
        .unwrap();
    assert_eq!(sent.into_inner().unwrap(), ids(&["ok"]));
    assert!(report.outcomes[0].is_pending());
    assert_eq!(
        report.outcomes[1].error().unwrap().kind(),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        report.outcomes[2].error().unwrap().kind(),
        ErrorKind::InvalidArgument
    );
}

#[tokio::test]
async fn rejected_credentials_stop_the_batch() {
    let calls = AtomicUsize::new(0);
    let e = BatchEngine::new(
        "test",
        EngineConfig::default()
            .concurrency(1)
            .retry(RetryPolicy::none()),
    );
    let phones: Vec<PhoneId> = (0..5).map(|i| PhoneId::new(format!("p{i}"))).collect();
    let err = e
        .run_each(Operation::Stop, &phones, |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err::<PhoneOutcome, _>(Error::new(ErrorKind::Unauthenticated, "40003")) }
        })
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthenticated);
    assert_eq!(calls.load(Ordering::SeqCst), 1, "no call after a rejection");
}

#[tokio::test]
async fn rejected_credentials_are_sent_once_even_with_concurrency() {
    let calls = AtomicUsize::new(0);
    let e = BatchEngine::new(
        "test",
        EngineConfig::default()
            .concurrency(8)
            .retry(RetryPolicy::none()),
    );
    let phones: Vec<PhoneId> = (0..40).map(|i| PhoneId::new(format!("p{i}"))).collect();
    let err = e
        .run_chunks(Operation::Reset, &phones, 5, |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            async {
                tokio::task::yield_now().await;
                Err::<Vec<PhoneOutcome>, _>(Error::new(ErrorKind::Unauthenticated, "bad AK/SK"))
            }
        })
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthenticated);
    assert_eq!(calls.load(Ordering::SeqCst), 1, "one probe, then stop");
}

#[tokio::test]
async fn once_credentials_work_chunks_fan_out_at_once() {
    let e = BatchEngine::new("test", EngineConfig::default().concurrency(4));
    let ok = |chunk: Vec<PhoneId>| async move {
        Ok(chunk.into_iter().map(PhoneOutcome::done).collect())
    };
    let phones: Vec<PhoneId> = (0..8).map(|i| PhoneId::new(format!("p{i}"))).collect();
    e.run_chunks(Operation::Status, &phones, 2, ok)
        .await
        .unwrap();
    // Now proven: all four chunks are in flight together.
    let in_flight = AtomicUsize::new(0);
    let peak = AtomicUsize::new(0);
    e.run_chunks(Operation::Status, &phones, 2, |chunk| {
        let (in_flight, peak) = (&in_flight, &peak);
        async move {
            let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            tokio::task::yield_now().await;
            in_flight.fetch_sub(1, Ordering::SeqCst);
            Ok(chunk.into_iter().map(PhoneOutcome::done).collect())
        }
    })
    .await
    .unwrap();
    assert_eq!(peak.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn accepted_work_survives_a_later_credential_rejection() {
    let calls = AtomicUsize::new(0);
    let e = BatchEngine::new(
        "test",
        EngineConfig::default()
            .concurrency(1)
            .retry(RetryPolicy::none()),
    );
    let phones: Vec<PhoneId> = (0..4).map(|i| PhoneId::new(format!("p{i}"))).collect();
    let report = e
        .run_each(Operation::Reset, &phones, |id| {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            async move {
                if n == 0 {
                    Ok(PhoneOutcome::pending(id).with_job(crate::JobRef::new("j1", None)))
                } else {
                    Err(Error::new(ErrorKind::Unauthenticated, "token expired"))
                }
            }
        })
        .await
        .unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(report.outcomes[0].job.as_ref().unwrap().job_id(), "j1");
    assert_eq!(report.summary().failed, 3);
}

#[tokio::test(start_paused = true)]
async fn call_waits_for_the_shared_budget() {
    let e = BatchEngine::new(
        "test",
        EngineConfig::default()
            .concurrency(16)
            .rate_limits(vec![RateBudget::per_minute(5)], RateScope::Provider),
    );
    let start = tokio::time::Instant::now();
    let phones: Vec<PhoneId> = (0..12).map(|i| PhoneId::new(format!("p{i}"))).collect();
    let report = e
        .run_each(Operation::Restart, &phones, |id| {
            e.call("restart", Idempotency::StateChanging, move || {
                let id = id.clone();
                async move { Ok(PhoneOutcome::pending(id)) }
            })
        })
        .await
        .unwrap();
    assert_eq!(report.summary().pending, 12);
    // 5 now, 5 after one minute, 2 after two.
    assert_eq!(start.elapsed(), std::time::Duration::from_secs(120));
}

#[tokio::test(start_paused = true)]
async fn endpoint_scope_keeps_separate_budgets() {
    let e = BatchEngine::new(
        "test",
        EngineConfig::default().rate_limits(vec![RateBudget::per_minute(1)], RateScope::Endpoint),
    );
    let start = tokio::time::Instant::now();
    e.call("a", Idempotency::ReadOnly, || async { Ok(()) })
        .await
        .unwrap();
    e.call("b", Idempotency::ReadOnly, || async { Ok(()) })
        .await
        .unwrap();
    assert_eq!(start.elapsed(), std::time::Duration::ZERO);
    e.call("a", Idempotency::ReadOnly, || async { Ok(()) })
        .await
        .unwrap();
    assert_eq!(start.elapsed(), std::time::Duration::from_secs(60));
}
