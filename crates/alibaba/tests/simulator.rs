//! The client against the simulator: status, stop, start, restart, reset (and re-image) with
//! waits, the state checks (first, after a refusal), task failures, lost answers, refused credentials,
//! listing, STS, and the number of calls a batch takes.

mod common;

use cloudphone_alibaba::{AlibabaProvider, CheckStates, DESCRIBE_INSTANCES, DESCRIBE_TASKS, STOP};
use cloudphone_core::{
    CloudPhoneProvider, CloudPhoneProviderExt, ErrorKind, JobState, ListRequest, Operation,
    PhoneId, PhoneState, ResetOptions, StartOptions,
};
use cloudphone_sim::alibaba::status;
use cloudphone_sim::{Faults, TableOptions};
use common::*;
use futures::StreamExt;

fn key(action: &str) -> String {
    format!("POST / {action}")
}

fn phone_ids(sim: &cloudphone_sim::Simulator) -> Vec<PhoneId> {
    sim.alibaba_phone_ids()
        .into_iter()
        .map(PhoneId::new)
        .collect()
}

#[tokio::test]
async fn status_stop_start_restart_reset_and_wait() {
    let sim = sim(6).await;
    let ali = sim.alibaba();
    let phones = phone_ids(&sim);
    for p in &phones {
        ali.set_status(p.as_str(), status::RUNNING);
    }
    let p = sim_provider(&sim);

    let mut asked = phones.clone();
    asked.push(PhoneId::from("acp-doesnotexist00001"));
    let s = p.status(&asked).await.unwrap();
    assert_eq!(s.outcomes.len(), 7);
    for o in &s.outcomes[..6] {
        assert!(o.is_done(), "{o:?}");
        let st = o.state.as_ref().unwrap();
        assert_eq!((st.state, &*st.raw), (PhoneState::Running, "RUNNING"));
        assert!(o.name.as_deref().unwrap().starts_with("acp-sim-"));
    }
    assert_eq!(s.outcomes[6].error().unwrap().kind(), ErrorKind::NotFound);
    assert_eq!(ali.call_count(&key(DESCRIBE_INSTANCES)), 1);

    // Stop: pending with the request id as job, waited to stopped.
    let stopping = p.stop(&phones).await.unwrap();
    let rid = stopping.outcomes[0].job.clone().unwrap();
    assert_eq!(Some(rid.job_id.clone()), rid.request_id);
    assert!(stopping
        .outcomes
        .iter()
        .all(|o| o.is_pending() && o.job.as_ref() == Some(&rid)));
    let stopped = p.wait(&stopping, &fast_wait()).await.unwrap();
    assert!(stopped.all_done(), "{stopped:?}");
    assert!(stopped
        .outcomes
        .iter()
        .all(|o| o.phone_state() == Some(PhoneState::Stopped)));
    assert!(
        ali.call_count(&key(DESCRIBE_TASKS)) >= 1,
        "the wait follows the tasks"
    );
    let infos = p.jobs(&[rid]).await.unwrap();
    assert_eq!(infos.len(), 6, "one instance task per phone");
    assert!(infos
        .iter()
        .all(|i| i.state == JobState::Succeeded && i.phone.is_some()));

    // A second stop: sent, and the vendor judges (each instance task fails: the phone is
    // STOPPED); the wait reads that state from the tasks: done, nothing applied again.
    let before = ali.call_count(&key(STOP));
    let again = p.stop(&phones).await.unwrap();
    assert!(again.outcomes.iter().all(|o| o.is_pending()), "{again:?}");
    assert_eq!(ali.call_count(&key(STOP)), before + 1);
    let again = p.wait(&again, &fast_wait()).await.unwrap();
    assert!(again.all_done(), "{again:?}");
    assert_eq!(ali.applied_stops(phones[0].as_str()), 1);
    // With the states read first: nothing to do, no call.
    let first = AlibabaProvider::new(
        sim_config(&sim, TableOptions::new()).with_check_states(CheckStates::First),
    )
    .unwrap();
    let again = first.stop(&phones).await.unwrap();
    assert!(again.all_done());
    assert_eq!(ali.call_count(&key(STOP)), before + 1);

    let started = p
        .start_and_wait(&phones, &StartOptions::default(), &fast_wait())
        .await
        .unwrap();
    assert!(started.all_done(), "{started:?}");

    // Restart: child task ids, looked up as jobs.
    let restarting = p.restart(&phones[..2]).await.unwrap();
    let job = restarting.outcomes[0].job.clone().unwrap();
    assert!(job.job_id.starts_with("t-") && job.request_id.as_deref() != Some(&job.job_id));
    let restarted = p.wait(&restarting, &fast_wait()).await.unwrap();
    assert!(restarted.all_done(), "{restarted:?}");
    let info = &p.jobs(&[job]).await.unwrap()[0];
    assert_eq!(
        (info.state, info.raw_state.as_str()),
        (JobState::Succeeded, "Finished")
    );
    assert_eq!(ali.applied_reboots(phones[0].as_str()), 1);

    // Reset, and a reset with an image.
    let reset = p
        .reset_and_wait(&phones[2..4], &ResetOptions::default(), &fast_wait())
        .await
        .unwrap();
    assert!(reset.all_done(), "{reset:?}");
    assert_eq!(ali.applied_resets(phones[2].as_str()), 1);
    let reimaged = p
        .reset_and_wait(
            &phones[4..5],
            &ResetOptions::default().image("imgc-sim-2"),
            &fast_wait(),
        )
        .await
        .unwrap();
    assert!(reimaged.all_done(), "{reimaged:?}");
    assert_eq!(
        ali.phone(phones[4].as_str()).unwrap().image_id,
        "imgc-sim-2"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn the_preconditions_are_checked_before_sending() {
    let sim = sim(4).await;
    let ali = sim.alibaba();
    let phones = phone_ids(&sim);
    ali.set_status(phones[0].as_str(), status::STOPPED);
    ali.set_status(phones[1].as_str(), status::RUNNING);
    ali.set_status(phones[2].as_str(), status::REBOOTING);
    ali.set_status(phones[3].as_str(), status::CREATING);
    let p = AlibabaProvider::new(
        sim_config(&sim, TableOptions::new()).with_check_states(CheckStates::First),
    )
    .unwrap();
    let r = p.restart(&phones).await.unwrap();
    let e = r.outcomes[0].error().unwrap();
    assert_eq!(
        (e.kind(), e.vendor_code()),
        (ErrorKind::InvalidState, Some("STOPPED"))
    );
    assert!(
        e.is_not_applied() && e.message().contains("RebootAndroidInstancesInGroup"),
        "{e}"
    );
    assert!(r.outcomes[1].is_pending() && r.outcomes[1].job.is_some());
    assert!(
        r.outcomes[2].is_pending() && r.outcomes[2].job.is_none(),
        "already rebooting"
    );
    assert!(r.outcomes[3].error().is_some());
    assert_eq!(ali.applied_reboots(phones[1].as_str()), 1);
    assert_eq!(ali.applied_reboots(phones[0].as_str()), 0);
    assert_eq!(
        ali.calls().recent.last().unwrap().query.as_deref(),
        Some(format!("AndroidInstanceIds.1={}", phones[1]).as_str()),
        "only the phone the preconditions allow is sent"
    );

    // Without the check, the vendor judges: the stopped phone's instance task fails.
    let unchecked =
        AlibabaProvider::new(sim_config(&sim, TableOptions::new()).with_check_states(false))
            .unwrap();
    let r = unchecked.restart(&phones[..1]).await.unwrap();
    assert!(r.outcomes[0].is_pending());
    let waited = unchecked.wait(&r, &fast_wait()).await.unwrap();
    let e = waited.outcomes[0].error().expect("the task failed");
    assert_eq!(
        (e.kind(), e.vendor_code()),
        (ErrorKind::InvalidState, Some("IncorrectInstanceStatus"))
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn the_states_are_read_only_after_a_refusal_and_a_failed_task_is_judged_by_its_state() {
    let sim = sim(3).await;
    let ali = sim.alibaba();
    let phones = phone_ids(&sim);
    ali.set_status(phones[0].as_str(), status::RUNNING);
    ali.set_status(phones[1].as_str(), status::STOPPED);
    ali.set_status(phones[2].as_str(), status::RESETTING);
    let p = sim_provider(&sim);

    // The vendor fails the phones its preconditions refuse one by one: no read, one call.
    let r = p.stop(&phones).await.unwrap();
    assert!(r.outcomes.iter().all(|o| o.is_pending()), "{r:?}");
    assert_eq!(ali.call_count(&key(STOP)), 1);
    assert_eq!(ali.call_count(&key(DESCRIBE_INSTANCES)), 0);
    let w = p.wait(&r, &fast_wait()).await.unwrap();
    assert!(w.outcomes[0].is_done() && w.outcomes[1].is_done(), "{w:?}");
    assert_eq!(w.outcomes[1].phone_state(), Some(PhoneState::Stopped));
    let e = w.outcomes[2]
        .error()
        .expect("a stop of a resetting phone fails");
    assert_eq!(e.vendor_code(), Some("IncorrectInstanceStatus"), "{e}");
    assert_eq!(ali.applied_stops(phones[0].as_str()), 1);
    assert_eq!(ali.applied_stops(phones[1].as_str()), 0);
    // A reset refused in its task stays failed, whatever the phone is doing: another
    // request's reset cannot stand for it.
    let r = p
        .reset(&phones[2..3], &ResetOptions::default())
        .await
        .unwrap();
    let w = p.wait(&r, &fast_wait()).await.unwrap();
    let e = w.outcomes[0]
        .error()
        .expect("a reset of a resetting phone fails");
    assert_eq!(e.vendor_code(), Some("IncorrectInstanceStatus"), "{e}");
    assert_eq!(ali.applied_resets(phones[2].as_str()), 0);

    // An unknown id makes it refuse the whole request, nothing done: the chunk's states are
    // read and the phones they allow sent once more.
    ali.set_status(phones[0].as_str(), status::RUNNING);
    ali.reset_calls();
    let mut asked = phones.clone();
    asked.push(PhoneId::from("acp-doesnotexist00001"));
    let r = p.stop(&asked).await.unwrap();
    assert_eq!(
        ali.call_count(&key(STOP)),
        2,
        "the refused call and one more"
    );
    assert_eq!(ali.call_count(&key(DESCRIBE_INSTANCES)), 1);
    assert!(r.outcomes[0].is_pending() && r.outcomes[0].job.is_some());
    assert!(
        r.outcomes[1].is_done(),
        "already stopped: {:?}",
        r.outcomes[1]
    );
    let e = r.outcomes[2].error().unwrap();
    assert_eq!(e.kind(), ErrorKind::InvalidState);
    assert!(e.is_not_applied() && e.message().starts_with("refused: the phone is RESETTING"));
    let e = r.outcomes[3].error().unwrap();
    assert!(e.kind() == ErrorKind::NotFound && e.is_not_applied(), "{e}");
    assert_eq!(
        ali.calls().recent.last().unwrap().query.as_deref(),
        Some(format!("AndroidInstanceIds.1={}", phones[0]).as_str()),
        "only the phone its state allows is sent again"
    );
    let w = p.wait(&r, &fast_wait()).await.unwrap();
    assert!(w.outcomes[0].is_done(), "{w:?}");
    assert_eq!(ali.applied_stops(phones[0].as_str()), 2);

    // Never: the refusal fails the chunk.
    let never = AlibabaProvider::new(
        sim_config(&sim, TableOptions::new()).with_check_states(CheckStates::Never),
    )
    .unwrap();
    let r = never.stop(&asked).await.unwrap();
    assert!(
        r.outcomes
            .iter()
            .all(|o| o.error().is_some_and(|e| e.kind() == ErrorKind::NotFound)),
        "{r:?}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_failed_task_fails_its_phone_with_the_vendor_code() {
    let sim = sim(2).await;
    let ali = sim.alibaba();
    let phones = phone_ids(&sim);
    for p in &phones {
        ali.set_status(p.as_str(), status::RUNNING);
    }
    ali.set_faults(Faults {
        job_failure: 1.0,
        ..Faults::default()
    });
    let p = sim_provider(&sim);
    for report in [
        p.reset(&phones[..1], &ResetOptions::default())
            .await
            .unwrap(),
        p.stop(&phones[1..]).await.unwrap(),
    ] {
        let waited = p.wait(&report, &fast_wait()).await.unwrap();
        let e = waited.outcomes[0]
            .error()
            .unwrap_or_else(|| panic!("{waited:?}"));
        assert_eq!(e.vendor_code(), Some("InstanceOperationFailed"), "{e}");
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn a_lost_stop_is_unknown_never_sent_again_and_the_wait_looks() {
    let sim = sim(1).await;
    let ali = sim.alibaba();
    let phone = phone_ids(&sim).remove(0);
    ali.set_status(phone.as_str(), status::RUNNING);
    ali.set_faults(Faults {
        error_5xx: 1.0,
        applied_ratio: 1.0,
        endpoints: vec![STOP.into()],
        ..Faults::default()
    });
    let p = sim_provider(&sim);
    let r = p.stop(std::slice::from_ref(&phone)).await.unwrap();
    assert!(r.outcomes[0].is_unknown(), "{:?}", r.outcomes[0]);
    assert_eq!(ali.call_count(&key(STOP)), 1, "never re-sent");
    assert_eq!(ali.applied_stops(phone.as_str()), 1);
    ali.clear_faults();
    let waited = p.wait(&r, &fast_wait()).await.unwrap();
    assert!(waited.all_done(), "{waited:?}");
    assert_eq!(waited.outcomes[0].phone_state(), Some(PhoneState::Stopped));
    sim.shutdown().await;
}

#[tokio::test]
async fn wrong_credentials_are_sent_once() {
    let sim = sim(250).await;
    let ali = sim.alibaba();
    let p = AlibabaProvider::new(sim_config(
        &sim,
        TableOptions::new().with_secret("not-the-secret"),
    ))
    .unwrap();
    let phones = phone_ids(&sim);
    let e = p.status(&phones).await.unwrap_err();
    assert_eq!(
        (e.kind(), e.vendor_code()),
        (ErrorKind::Unauthenticated, Some("SignatureDoesNotMatch"))
    );
    let e = p.stop(&phones).await.unwrap_err();
    assert!(e.kind().is_auth());
    assert_eq!(ali.calls().total(), 1, "one probe, then nothing");
    sim.shutdown().await;
}

#[tokio::test]
async fn batches_take_the_fewest_calls() {
    let sim = sim(250).await;
    let ali = sim.alibaba();
    let phones = phone_ids(&sim);
    for p in &phones {
        ali.set_status(p.as_str(), status::RUNNING);
    }
    let p =
        AlibabaProvider::new(sim_config(&sim, TableOptions::new()).with_concurrency(8)).unwrap();
    let s = p.status(&phones).await.unwrap();
    assert!(s.all_done());
    assert_eq!(ali.call_count(&key(DESCRIBE_INSTANCES)), 3, "⌈250/100⌉");
    ali.reset_calls();
    let r = p.stop(&phones).await.unwrap();
    assert_eq!(r.summary().pending, 250);
    assert_eq!(ali.call_count(&key(STOP)), 3);
    assert_eq!(
        ali.call_count(&key(DESCRIBE_INSTANCES)),
        0,
        "no state read: the vendor refused nothing"
    );
    ali.reset_calls();
    let w = p.wait(&r, &fast_wait()).await.unwrap();
    assert!(w.all_done());
    let rounds = ali.call_count(&key(DESCRIBE_TASKS));
    // At least one page per request; a request whose tasks finished drops out of later
    // rounds, so the total need not be a multiple of three.
    assert!(
        rounds >= 3,
        "{rounds}: one page of 100 per request per round"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn listing_pages_and_filters_by_region() {
    let sim = sim(23).await;
    let p = sim_provider(&sim);
    let listed: Vec<_> = p.list(Some(10)).collect().await;
    assert_eq!(listed.len(), 23);
    let first = listed[0].as_ref().unwrap();
    assert_eq!(
        first.extra.get("region_id").map(String::as_str),
        Some("cn-hangzhou")
    );
    let page = p
        .list_page(&ListRequest::default().page_size(500))
        .await
        .unwrap();
    assert_eq!(
        (page.phones.len(), page.total, page.next),
        (23, Some(23), None)
    );
    let other =
        AlibabaProvider::new(sim_config(&sim, TableOptions::new()).with_region("cn-beijing"))
            .unwrap();
    let page = other.list_page(&ListRequest::default()).await.unwrap();
    assert!(page.phones.is_empty());
    let q = sim
        .alibaba()
        .calls()
        .recent
        .last()
        .unwrap()
        .query
        .clone()
        .unwrap();
    assert!(q.contains("BizRegionId=cn-beijing"), "{q}");
    assert!(!q.contains("NextToken"));
    sim.shutdown().await;
}

#[tokio::test]
async fn sts_credentials_work_and_capabilities_are_declared() {
    let sim = sim(2).await;
    let p = AlibabaProvider::new(sim_config(&sim, TableOptions::new().with_auth("sts"))).unwrap();
    let s = p.status(&phone_ids(&sim)).await.unwrap();
    assert!(s.all_done(), "{s:?}");
    let c = p.capabilities();
    for op in [
        Operation::Status,
        Operation::Stop,
        Operation::Start,
        Operation::Restart,
        Operation::Reset,
        Operation::List,
        Operation::Wait,
        Operation::Jobs,
    ] {
        assert!(c.supports(op), "{op}");
    }
    assert_eq!(c.batch_sizes[&Operation::Status], 100);
    assert!(c.jobs);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_followed_wait_reports_each_settled_phone() {
    use cloudphone_core::progress::{self, EventKind};
    use std::sync::{Arc, Mutex};
    let sim = sim(3).await;
    let phones = phone_ids(&sim);
    for p in &phones {
        sim.alibaba().set_status(p.as_str(), status::RUNNING);
    }
    let p = sim_provider(&sim);
    let stopping = p.stop(&phones).await.unwrap();
    let waited = Arc::new(Mutex::new(Vec::new()));
    let w = waited.clone();
    let done = progress::observe(
        move |ev| {
            if let EventKind::Waited(outcomes) = ev.kind {
                w.lock()
                    .unwrap()
                    .extend(outcomes.into_iter().map(|o| o.phone));
            }
        },
        p.wait(&stopping, &fast_wait()),
    )
    .await
    .unwrap();
    assert!(done.all_done());
    let mut seen = waited.lock().unwrap().clone();
    seen.sort();
    let mut expected = phones.clone();
    expected.sort();
    assert_eq!(seen, expected);
    sim.shutdown().await;
}
