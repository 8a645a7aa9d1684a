//! Extreme but accepted configuration values must not panic at request time.

mod common;

use std::sync::Arc;

use cloudphone_core::CloudPhoneProvider;
use cloudphone_huawei_cph::{HuaweiCphProvider, StatusStrategy};
use common::*;
use mockito::Server;
use time::macros::datetime;

#[tokio::test]
async fn a_huge_token_refresh_margin_logs_in_every_time_instead_of_panicking() {
    // Found while fuzzing the configuration: `now + margin` overflowed the date range (a panic
    // in `time`) as soon as a cached IAM token was checked for freshness.
    let mut s = Server::new_async().await;
    let login = s
        .mock("POST", "/v3/auth/tokens")
        .with_status(201)
        .with_header("X-Subject-Token", "tok")
        .with_body(r#"{"token":{"expires_at":"2024-03-01T11:00:00Z"}}"#)
        .expect(2)
        .create_async()
        .await;
    let phone = s
        .mock("GET", format!("{BASE}/phones/p0").as_str())
        .match_header("x-auth-token", "tok")
        .with_body(r#"{"phone_id":"p0","status":2}"#)
        .expect(2)
        .create_async()
        .await;
    let mut cfg = config(&s.url())
        .with_iam_endpoint(s.url())
        .with_password("alice", "pw".to_owned().into(), "acct")
        .with_status_strategy(StatusStrategy::Detail);
    cfg.token_refresh_margin_secs = u64::MAX;
    let p = HuaweiCphProvider::builder(cfg)
        .clock(Arc::new(FixedClock::at(datetime!(2024-03-01 10:00 UTC))))
        .build()
        .unwrap();
    for _ in 0..2 {
        assert!(p.status(&ids(&["p0"])).await.unwrap().all_done());
    }
    login.assert_async().await;
    phone.assert_async().await;
}

#[tokio::test]
async fn the_largest_accepted_numbers_serve_a_call() {
    let mut s = Server::new_async().await;
    let phone = s
        .mock("GET", format!("{BASE}/phones/p0").as_str())
        .with_body(r#"{"phone_id":"p0","status":2}"#)
        .expect(1)
        .create_async()
        .await;
    let mut cfg = config(&s.url())
        .with_token(TOKEN.to_owned().into())
        .with_rate_limit_per_second(u32::MAX)
        .with_retries(usize::MAX, u64::MAX, u64::MAX)
        .with_status_strategy(StatusStrategy::Detail);
    cfg.timeout_secs = u64::MAX;
    cfg.connect_timeout_secs = u64::MAX;
    cfg.concurrency = 64;
    let p = HuaweiCphProvider::new(cfg).unwrap();
    assert!(p.status(&ids(&["p0"])).await.unwrap().all_done());
    phone.assert_async().await;
}
