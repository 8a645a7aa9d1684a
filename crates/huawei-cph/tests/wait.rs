//! Jobs and waiting: the seed page's answer, a 1,000-phone reset followed with few list-jobs
//! calls, failures, deadlines and the status fallback.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cloudphone_core::{
    BatchReport, CloudPhoneProvider, ErrorKind, Operation, PhoneId, PhoneState, ResetOptions,
    WaitOptions,
};
use cloudphone_huawei_cph::{HuaweiCphProvider, StatusStrategy};
use common::*;
use mockito::{Matcher, Server};
use serde_json::{json, Value};

fn fast() -> WaitOptions {
    WaitOptions::default()
        .poll_interval(Duration::from_millis(5))
        .timeout(Duration::from_secs(30))
}

#[tokio::test]
async fn the_seed_pages_answer_is_one_pending_and_one_failed_phone() {
    let mut s = Server::new_async().await;
    let prop = r#"{"sys.prop.writeimsi":"460021624617113","sys.prop.writephonenum":"13666666666","sys.prop.writewifissid":"test_wifi"}"#;
    let sent = json!({
        "image_id": "1564567b8bab40f34711234cb80d8574",
        "phones": [
            {"phone_id": "1234567b8bab40ffb711234cb80d0234", "property": prop},
            {"phone_id": "1678567b8bab40f93711234cb80d0764", "property": prop},
        ]
    });
    let m = s
        .mock("POST", format!("{BASE}/phones/batch-reset").as_str())
        .match_body(Matcher::Json(sent))
        .with_body(r#"{ "request_id" : "6837531fd3f54550927b930180a706bf", "jobs" : [ { "phone_id" : "1234567b8bab40ffb711234cb80d0234", "job_id" : "1564567b8bab40f34711234cb80d0123" }, { "phone_id" : "1678567b8bab40f93711234cb80d0764", "error_code" : "CPS.0004", "error_msg" : "Parameter: phone_id is invalid." } ] }"#)
        .expect(1)
        .create_async()
        .await;
    let p = token_provider(&s.url());
    let opts = ResetOptions::default()
        .image("1564567b8bab40f34711234cb80d8574")
        .property("sys.prop.writephonenum", "13666666666")
        .property("sys.prop.writeimsi", "460021624617113")
        .property("sys.prop.writewifissid", "test_wifi");
    let r = p
        .reset(
            &ids(&[
                "1234567b8bab40ffb711234cb80d0234",
                "1678567b8bab40f93711234cb80d0764",
            ]),
            &opts,
        )
        .await
        .unwrap();
    m.assert_async().await;
    let s = r.summary();
    assert_eq!((s.pending, s.failed), (1, 1));
    let job = r.outcomes[0].job.as_ref().unwrap();
    assert_eq!(job.job_id(), "1564567b8bab40f34711234cb80d0123");
    assert_eq!(
        job.request_id.as_deref(),
        Some("6837531fd3f54550927b930180a706bf")
    );
    let e = r.outcomes[1].error().unwrap();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert_eq!(e.vendor_code(), Some("CPS.0004"));
    assert_eq!(e.message(), "Parameter: phone_id is invalid.");
}

/// Resets 1,000 phones in chunks of `batch_size`, then waits. Each job reports running the
/// first time it is listed and succeeded afterwards, so waiting takes two rounds of list-jobs.
async fn thousand_phones(batch_size: usize) {
    let mut s = Server::new_async().await;
    let phones: Vec<String> = (0..1000).map(|i| format!("p{i:04}")).collect();
    // request id -> its job ids, filled as resets arrive.
    let requests: Requests = Arc::default();
    let resets = mock_batch_reset(&mut s, &requests, 1000 / batch_size).await;

    let seen: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let calls: Arc<Mutex<Vec<(usize, usize, usize)>>> = Arc::default();
    let (reqs, seen2, calls2) = (requests.clone(), seen.clone(), calls.clone());
    s.mock(
        "GET",
        Matcher::Regex(r"^/v1/proj-1/cloud-phone/jobs\?".into()),
    )
    .with_body_from_request(move |req| {
        let page = jobs_page(req, &reqs);
        calls2
            .lock()
            .unwrap()
            .push((page.rids.len(), page.offset, page.limit));
        let mut seen = seen2.lock().unwrap();
        let jobs: Vec<Value> = page
            .jobs
            .into_iter()
            .map(|(rid, job)| {
                let n = seen.entry(job.clone()).or_default();
                *n += 1;
                let status = if *n == 1 { 1 } else { 2 };
                json!({"job_id": job, "phone_id": &job[4..], "request_id": rid,
                           "status": status, "error_code": null})
            })
            .collect();
        serde_json::to_vec(&json!({"request_id": "q", "jobs": jobs})).unwrap()
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
            .map(|p| json!({"phone_id": p, "status": 2}))
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

    let p = HuaweiCphProvider::new(
        config(&s.url())
            .with_token(TOKEN.to_owned().into())
            .with_batch_size(batch_size),
    )
    .unwrap();
    let all: Vec<PhoneId> = phones.iter().map(|p| p.as_str().into()).collect();
    let report = p.reset(&all, &ResetOptions::default()).await.unwrap();
    resets.assert_async().await;
    assert_eq!(report.summary().pending, 1000);

    let done = p.wait(&report, &fast()).await.unwrap();
    assert!(done.all_done(), "{:?}", done.summary());
    assert!(done
        .outcomes
        .iter()
        .all(|o| o.phone_state() == Some(PhoneState::Running) && o.job.is_some()));

    let calls = calls.lock().unwrap().clone();
    // Two rounds (every job runs when first listed), at most 10 list-jobs calls each.
    assert_eq!(calls.len(), 20, "{calls:?}");
    assert!(calls
        .iter()
        .all(|&(rids, _, limit)| rids <= 20 && limit == 100));
    assert!(seen.lock().unwrap().values().all(|&n| n == 2));
    // Confirmation by state: 5 list pages of 200, no per-phone detail call.
    assert_eq!(list_calls.load(Ordering::SeqCst), 5);
    details.assert_async().await;
}

#[tokio::test]
async fn a_thousand_phone_reset_waits_with_ten_list_jobs_calls_per_round() {
    thousand_phones(100).await;
}

#[tokio::test]
async fn a_hundred_request_ids_are_listed_twenty_at_a_time() {
    thousand_phones(10).await;
}

async fn reset_two(s: &mut Server) -> (HuaweiCphProvider, BatchReport) {
    s.mock("POST", format!("{BASE}/phones/batch-reset").as_str())
        .with_body(r#"{"request_id":"r","jobs":[{"phone_id":"a","job_id":"ja"},{"phone_id":"b","job_id":"jb"}]}"#)
        .create_async()
        .await;
    let p = HuaweiCphProvider::new(
        config(&s.url())
            .with_token(TOKEN.to_owned().into())
            .with_status_strategy(StatusStrategy::Detail),
    )
    .unwrap();
    let r = p
        .reset(&ids(&["a", "b"]), &ResetOptions::default())
        .await
        .unwrap();
    (p, r)
}

#[tokio::test]
async fn failed_jobs_and_failed_phone_states_are_failures_with_the_vendor_code() {
    let mut s = Server::new_async().await;
    let (p, report) = reset_two(&mut s).await;
    s.mock("GET", format!("{BASE}/jobs?limit=100&offset=0&request_ids=r").as_str())
        .with_body(
            r#"{"jobs":[
              {"job_id":"ja","phone_id":"a","request_id":"r","status":-1,"error_code":"CPS.0022","error_msg":"phone not available"},
              {"job_id":"jb","phone_id":"b","request_id":"r","status":2}]}"#,
        )
        .expect(1)
        .create_async()
        .await;
    s.mock("GET", format!("{BASE}/phones/b").as_str())
        .with_body(r#"{"phone_id":"b","status":-5}"#)
        .expect(1)
        .create_async()
        .await;
    let r = p.wait(&report, &fast()).await.unwrap();
    let a = r.outcomes[0].error().unwrap();
    assert_eq!(
        (a.kind(), a.vendor_code()),
        (ErrorKind::InvalidState, Some("CPS.0022"))
    );
    assert_eq!(r.outcomes[0].job.as_ref().unwrap().job_id(), "ja");
    let b = r.outcomes[1].error().unwrap();
    assert_eq!(b.vendor_code(), Some("-5"));
    assert_eq!(r.outcomes[1].phone_state(), Some(PhoneState::Failed));
}

#[tokio::test]
async fn a_deadline_keeps_every_unfinished_phone_pending_with_its_job() {
    let mut s = Server::new_async().await;
    let (p, report) = reset_two(&mut s).await;
    s.mock(
        "GET",
        format!("{BASE}/jobs?limit=100&offset=0&request_ids=r").as_str(),
    )
    .with_body(r#"{"jobs":[{"job_id":"ja","status":1},{"job_id":"jb","status":1}]}"#)
    .expect_at_least(1)
    .create_async()
    .await;
    let r = p
        .wait(
            &report,
            &WaitOptions::default()
                .poll_interval(Duration::from_millis(5))
                .timeout(Duration::from_millis(30)),
        )
        .await
        .unwrap();
    assert_eq!(r.summary().pending, 2);
    let jobs: Vec<_> = r
        .jobs()
        .map(|j| (j.job_id(), j.request_id.as_deref()))
        .collect();
    assert_eq!(jobs, [("ja", Some("r")), ("jb", Some("r"))]);
}

#[tokio::test]
async fn pending_phones_without_jobs_are_polled_by_status() {
    let mut s = Server::new_async().await;
    let n = Arc::new(AtomicUsize::new(0));
    let c = n.clone();
    s.mock("GET", format!("{BASE}/phones/a").as_str())
        .with_body_from_request(move |_| {
            let status = if c.fetch_add(1, Ordering::SeqCst) == 0 {
                7
            } else {
                8
            };
            format!(r#"{{"phone_id":"a","status":{status}}}"#).into()
        })
        .create_async()
        .await;
    let jobs = s
        .mock("GET", Matcher::Regex("/jobs".into()))
        .expect(0)
        .create_async()
        .await;
    let p = token_provider(&s.url());
    let report = BatchReport::pending(Operation::Stop, ids(&["a"]));
    let r = p.wait(&report, &fast()).await.unwrap();
    assert!(r.all_done());
    assert_eq!(r.outcomes[0].phone_state(), Some(PhoneState::Stopped));
    assert_eq!(n.load(Ordering::SeqCst), 2);
    jobs.assert_async().await;
}
