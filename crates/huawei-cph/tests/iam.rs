//! IAM password login: one shared login, refresh ahead of expiry, one refresh on an
//! expired-token answer, and no retry of rejected credentials.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use cloudphone_core::{CloudPhoneProvider, ErrorKind, ResetOptions};
use cloudphone_huawei_cph::{HuaweiCphProvider, StatusStrategy};
use common::*;
use mockito::{Matcher, Server};
use time::macros::datetime;
use time::OffsetDateTime;

const T0: OffsetDateTime = datetime!(2024-03-01 10:00:00 UTC);
const IAM_BODY: &str = r#"{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"alice","password":"pw-SECRET","domain":{"name":"acct"}}}},"scope":{"project":{"id":"proj-1"}}}}"#;

fn provider(server: &Server, clock: &FixedClock) -> HuaweiCphProvider {
    let cfg = config(&server.url())
        .with_iam_endpoint(server.url())
        .with_password("alice", "pw-SECRET".to_owned().into(), "acct")
        .with_status_strategy(StatusStrategy::Detail);
    HuaweiCphProvider::builder(cfg)
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap()
}

/// An IAM mock handing out `tok-1`, `tok-2`, … each valid for one hour from T0.
async fn iam(server: &mut Server, expect: usize) -> (mockito::Mock, Arc<AtomicUsize>) {
    let n = Arc::new(AtomicUsize::new(0));
    let counter = n.clone();
    let m = server
        .mock("POST", "/v3/auth/tokens")
        .match_header("content-type", "application/json;charset=utf8")
        .match_header("x-auth-token", Matcher::Missing)
        .match_body(Matcher::Exact(IAM_BODY.into()))
        .with_status(201)
        .with_header_from_request("X-Subject-Token", move |_| {
            format!("tok-{}", counter.fetch_add(1, Ordering::SeqCst) + 1)
        })
        .with_body(
            r#"{"token":{"expires_at":"2024-03-01T11:00:00.701000Z","methods":["password"]}}"#,
        )
        .expect(expect)
        .create_async()
        .await;
    (m, n)
}

fn phone(server: &mut Server, id: &str, token: &str) -> mockito::Mock {
    server
        .mock("GET", format!("{BASE}/phones/{id}").as_str())
        .match_header("x-auth-token", token)
        .with_body(format!(r#"{{"phone_id":"{id}","status":2}}"#))
}

#[tokio::test]
async fn one_login_serves_many_concurrent_calls() {
    let mut s = Server::new_async().await;
    let (login, _) = iam(&mut s, 1).await;
    let phones: Vec<String> = (0..30).map(|i| format!("p{i}")).collect();
    let mut mocks = Vec::new();
    for id in &phones {
        mocks.push(phone(&mut s, id, "tok-1").expect(1).create_async().await);
    }
    let clock = FixedClock::at(T0);
    let p = Arc::new(provider(&s, &clock));
    // Two batches racing each other as well as their own 8-way fan-out.
    let ids_all: Vec<_> = phones.iter().map(|s| s.as_str().into()).collect::<Vec<_>>();
    let (a, b) = ids_all.split_at(15);
    let (ra, rb) = tokio::join!(p.status(a), p.status(b));
    assert!(ra.unwrap().all_done() && rb.unwrap().all_done());
    login.assert_async().await;
    for m in &mocks {
        m.assert_async().await;
    }
}

#[tokio::test]
async fn the_token_is_refreshed_ahead_of_expiry() {
    let mut s = Server::new_async().await;
    let (login, logins) = iam(&mut s, 2).await;
    let m1 = phone(&mut s, "a", "tok-1").expect(2).create_async().await;
    let m2 = phone(&mut s, "a", "tok-2").expect(1).create_async().await;
    let clock = FixedClock::at(T0);
    let p = provider(&s, &clock);
    assert!(p.status(&ids(&["a"])).await.unwrap().all_done());
    // Expires 11:00:00.7; the 600 s margin starts at 10:50:00.7.
    clock.set(datetime!(2024-03-01 10:50:00 UTC));
    assert!(p.status(&ids(&["a"])).await.unwrap().all_done());
    assert_eq!(logins.load(Ordering::SeqCst), 1);
    clock.set(datetime!(2024-03-01 10:50:01 UTC));
    assert!(p.status(&ids(&["a"])).await.unwrap().all_done());
    assert_eq!(logins.load(Ordering::SeqCst), 2);
    login.assert_async().await;
    m1.assert_async().await;
    m2.assert_async().await;
}

#[tokio::test]
async fn an_expired_token_answer_triggers_one_refresh_even_for_a_reset() {
    let mut s = Server::new_async().await;
    let (login, _) = iam(&mut s, 2).await;
    let rejected = s
        .mock("POST", format!("{BASE}/phones/batch-reset").as_str())
        .match_header("x-auth-token", "tok-1")
        .with_status(401)
        .with_body(r#"{"error_code":"APIGW.0307","error_msg":"The token must be updated."}"#)
        .expect(1)
        .create_async()
        .await;
    let accepted = s
        .mock("POST", format!("{BASE}/phones/batch-reset").as_str())
        .match_header("x-auth-token", "tok-2")
        .with_body(r#"{"request_id":"r","jobs":[{"phone_id":"a","job_id":"j"}]}"#)
        .expect(1)
        .create_async()
        .await;
    let p = provider(&s, &FixedClock::at(T0));
    let r = p
        .reset(&ids(&["a"]), &ResetOptions::default())
        .await
        .unwrap();
    assert!(r.outcomes[0].is_pending());
    login.assert_async().await;
    rejected.assert_async().await;
    accepted.assert_async().await;
}

#[tokio::test]
async fn a_token_still_rejected_after_the_refresh_is_a_clear_error() {
    let mut s = Server::new_async().await;
    let (login, _) = iam(&mut s, 2).await;
    let cph = s
        .mock("GET", format!("{BASE}/phones/a").as_str())
        .with_status(401)
        .with_body(r#"{"error_code":"APIGW.0301","error_msg":"Incorrect IAM authentication information: token expired"}"#)
        .expect(2)
        .create_async()
        .await;
    let p = provider(&s, &FixedClock::at(T0));
    let e = p.status(&ids(&["a"])).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthenticated);
    assert_eq!(e.vendor_code(), Some("APIGW.0301"));
    assert!(e.message().contains("freshly issued"), "{e}");
    login.assert_async().await;
    cph.assert_async().await;
}

#[tokio::test]
async fn other_auth_failures_are_not_refreshed_or_retried() {
    let mut s = Server::new_async().await;
    let (login, _) = iam(&mut s, 1).await;
    let cph = s
        .mock("GET", format!("{BASE}/phones/a").as_str())
        .with_status(401)
        .with_body(r#"{"error_code":"APIGW.0301","error_msg":"Incorrect IAM authentication information: decrypt token fail"}"#)
        .expect(1)
        .create_async()
        .await;
    let p = provider(&s, &FixedClock::at(T0));
    let e = p.status(&ids(&["a"])).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthenticated);
    login.assert_async().await;
    cph.assert_async().await;
}

#[tokio::test]
async fn a_rejected_password_is_tried_once_and_stops_the_batch() {
    let mut s = Server::new_async().await;
    let login = s
        .mock("POST", "/v3/auth/tokens")
        .with_status(401)
        .with_body(r#"{"error":{"code":401,"message":"The username or password is wrong.","title":"Unauthorized"}}"#)
        .expect(1)
        .create_async()
        .await;
    let cph = s.mock("POST", Matcher::Any).expect(0).create_async().await;
    let cfg = config(&s.url())
        .with_iam_endpoint(s.url())
        .with_password("alice", "pw-SECRET".to_owned().into(), "acct")
        .with_batch_size(1);
    let mut cfg = cfg;
    cfg.concurrency = 1;
    let p = HuaweiCphProvider::new(cfg).unwrap();
    let e = p
        .reset(&ids(&["a", "b", "c"]), &ResetOptions::default())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthenticated);
    assert!(e.message().contains("password is wrong"), "{e}");
    assert!(!e.to_string().contains("pw-SECRET"));
    login.assert_async().await;
    cph.assert_async().await;
}
