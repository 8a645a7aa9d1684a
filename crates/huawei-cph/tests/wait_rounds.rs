//! Waiting at the vendor minimum: a round lists only the request ids that still have
//! unfinished jobs, and each phone's state is confirmed once (one listing for the fleet), not
//! once per round.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cloudphone_core::progress::{self, EventKind};
use cloudphone_core::{CloudPhoneProvider, PhoneId, PhoneState, ResetOptions, WaitOptions};
use cloudphone_huawei_cph::HuaweiCphProvider;
use common::*;
use mockito::{Matcher, Server};
use serde_json::{json, Value};

/// 1,000 phones reset in ten requests of 100. The jobs of the first five requests succeed the
/// first time they are listed; the others run until their third listing.
#[tokio::test]
async fn later_rounds_list_only_unfinished_requests_and_states_are_confirmed_once() {
    let mut s = Server::new_async().await;
    let phones: Vec<String> = (0..1000).map(|i| format!("p{i:04}")).collect();
    let requests: Requests = Arc::default();
    mock_batch_reset(&mut s, &requests, 10).await;

    // Every list-jobs call: the request ids it named.
    let calls: Arc<Mutex<Vec<Vec<String>>>> = Arc::default();
    let sightings: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let (reqs, calls2, seen) = (requests.clone(), calls.clone(), sightings.clone());
    s.mock(
        "GET",
        Matcher::Regex(r"^/v1/proj-1/cloud-phone/jobs\?".into()),
    )
    .with_body_from_request(move |req| {
        let page = jobs_page(req, &reqs);
        calls2.lock().unwrap().push(page.rids);
        let mut seen = seen.lock().unwrap();
        let jobs: Vec<Value> = page
            .jobs
            .into_iter()
            .map(|(rid, job)| {
                let n = seen.entry(job.clone()).or_default();
                *n += 1;
                // Phones p0000–p0499 are in the first five requests.
                let quick = job.as_str() < "job-p0500";
                let status = if quick || *n >= 3 { 2 } else { 1 };
                json!({"job_id": job, "phone_id": &job[4..], "request_id": rid, "status": status})
            })
            .collect();
        serde_json::to_vec(&json!({"jobs": jobs})).unwrap()
    })
    .create_async()
    .await;

    let list_calls = Arc::new(AtomicUsize::new(0));
    let (lc, all_phones) = (list_calls.clone(), phones.clone());
    s.mock(
        "GET",
        Matcher::Regex(r"^/v1/proj-1/cloud-phone/phones\?".into()),
    )
    .with_body_from_request(move |req| {
        lc.fetch_add(1, Ordering::SeqCst);
        let offset: usize = param(req, "offset").unwrap().parse().unwrap();
        let limit: usize = param(req, "limit").unwrap().parse().unwrap();
        let page: Vec<Value> = all_phones
            .iter()
            .skip(offset)
            .take(limit)
            .map(|p| json!({"phone_id": p, "phone_name": format!("n-{p}"), "status": 2}))
            .collect();
        serde_json::to_vec(&json!({"count": 1000, "phones": page})).unwrap()
    })
    .create_async()
    .await;
    let details = s
        .mock(
            "GET",
            Matcher::Regex(r"^/v1/proj-1/cloud-phone/phones/".into()),
        )
        .expect(0)
        .create_async()
        .await;

    let p = HuaweiCphProvider::new(config(&s.url()).with_token(TOKEN.to_owned().into())).unwrap();
    let all: Vec<PhoneId> = phones.iter().map(|p| p.as_str().into()).collect();
    let report = p.reset(&all, &ResetOptions::default()).await.unwrap();
    assert_eq!(report.summary().pending, 1000);
    let opts = WaitOptions::default()
        .poll_interval(Duration::from_millis(5))
        .timeout(Duration::from_secs(30));
    // Handed over and observed: each round's settled phones carry their final outcome, job
    // reference included.
    // (phone, done, job id) per settled phone.
    type Settled = Vec<(PhoneId, bool, Option<String>)>;
    let settled: Arc<Mutex<Settled>> = Arc::default();
    let log = settled.clone();
    let done = progress::observe(
        move |ev| {
            if let EventKind::Waited(s) = &ev.kind {
                log.lock().unwrap().extend(s.iter().map(|o| {
                    (
                        o.phone.clone(),
                        o.is_done(),
                        o.job.as_ref().map(|j| j.job_id.to_string()),
                    )
                }));
            }
        },
        p.wait_owned(report, &opts),
    )
    .await
    .unwrap();
    let mut settled = settled.lock().unwrap().clone();
    settled.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(settled.len(), 1000, "every phone settled once");
    for ((phone, is_done, job), id) in settled.iter().zip(&all) {
        assert_eq!(phone, id);
        assert!(is_done);
        assert_eq!(job.as_deref(), Some(format!("job-{id}").as_str()));
    }

    // Every phone: one outcome, done, running, its job kept, in request order.
    assert_eq!(done.outcomes.len(), 1000);
    for (o, id) in done.outcomes.iter().zip(&all) {
        assert_eq!(&o.phone, id);
        assert!(o.is_done(), "{o:?}");
        assert_eq!(o.phone_state(), Some(PhoneState::Running));
        assert_eq!(o.job.as_ref().unwrap().job_id(), format!("job-{id}"));
        assert_eq!(o.name.as_deref(), Some(format!("n-{id}").as_str()));
    }
    let calls = calls.lock().unwrap().clone();
    // Round 1: the ten requests' 1,000 jobs, ten pages. Rounds 2 and 3: only the five
    // unfinished requests, five pages each.
    assert_eq!(calls.len(), 20, "{calls:?}");
    let quick = [
        "req-p0000",
        "req-p0100",
        "req-p0200",
        "req-p0300",
        "req-p0400",
    ];
    assert!(calls[..10].iter().all(|rids| rids.len() == 10));
    for rids in &calls[10..] {
        assert_eq!(rids.len(), 5, "{rids:?}");
        assert!(
            rids.iter().all(|r| !quick.contains(&r.as_str())),
            "{rids:?}"
        );
    }
    let seen = sightings.lock().unwrap().clone();
    assert!(seen
        .iter()
        .all(|(j, &n)| n == if j.as_str() < "job-p0500" { 1 } else { 3 }));
    // The states are confirmed once, by one listing of 5 pages of 200 — not after each round
    // in which jobs finished — and with no detail call.
    assert_eq!(list_calls.load(Ordering::SeqCst), 5);
    details.assert_async().await;
}
