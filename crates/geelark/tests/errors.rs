//! Limits and every error path: chunking, throttling, locks, rejected credentials, omissions,
//! ambiguous failures, and options refused before anything is sent.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use cloudphone_core::{
    CloudPhoneProvider, ErrorKind, Operation, PhoneState, ResetOptions, StartOptions, WaitOptions,
};
use cloudphone_geelark::{sign, GeelarkConfig};
use common::*;
use mockito::Matcher;
use serde_json::json;

fn status_body(ids: &[String]) -> String {
    json!({ "ids": ids }).to_string()
}

#[tokio::test]
async fn status_of_250_phones_takes_three_calls_and_gives_250_outcomes() {
    let mut server = mockito::Server::new_async().await;
    let phones: Vec<String> = (0..250).map(|i| format!("{}", 1_000_000 + i)).collect();
    let mut mocks = Vec::new();
    for chunk in phones.chunks(100) {
        let details: Vec<_> = chunk
            .iter()
            .map(|id| json!({"id": id, "serialName": id, "status": 2}))
            .collect();
        mocks.push(
            signed(&mut server, "/open/v1/phone/status")
                .match_body(Matcher::Exact(status_body(chunk)))
                .with_body(ok(json!({"successDetails": details, "failDetails": []})))
                .expect(1)
                .create_async()
                .await,
        );
    }
    let requested = ids(&phones.iter().map(String::as_str).collect::<Vec<_>>());
    let report = fixed(key_config(&server)).status(&requested).await.unwrap();
    for m in mocks {
        m.assert_async().await;
    }
    assert_eq!(report.outcomes.len(), 250);
    assert!(report.all_done());
    let got: Vec<_> = report.outcomes.iter().map(|o| o.phone.clone()).collect();
    assert_eq!(got, requested);
}

#[tokio::test]
async fn start_and_stop_chunk_by_the_configured_batch_size() {
    let mut server = mockito::Server::new_async().await;
    let mut mocks = Vec::new();
    for body in [r#"{"ids":["1","2"]}"#, r#"{"ids":["3"]}"#] {
        mocks.push(
            signed(&mut server, "/open/v1/phone/stop")
                .match_body(Matcher::Exact(body.into()))
                .with_body(ok(json!({"failDetails": []})))
                .expect(1)
                .create_async()
                .await,
        );
    }
    let report = fixed(key_config(&server).batch_size(2))
        .stop(&ids(&["1", "2", "3"]))
        .await
        .unwrap();
    for m in mocks {
        m.assert_async().await;
    }
    assert_eq!(report.summary().pending, 3);
}

#[tokio::test]
async fn a_throttled_stop_is_retried_with_a_fresh_trace_id_and_signature() {
    let mut server = mockito::Server::new_async().await;
    // Each attempt must carry its own trace id, nonce, ts and matching sign.
    let expect = |n: u64| {
        let trace = format!("T{n:07}");
        let ts = TS + n - 1;
        let nonce = trace[..6].to_owned();
        let sign = sign(APP_ID, &trace, ts, &nonce, API_KEY);
        (trace, ts.to_string(), nonce, sign)
    };
    let (t1, ts1, n1, s1) = expect(1);
    let (t2, ts2, n2, s2) = expect(2);
    assert_ne!(s1, s2);
    let first = server
        .mock("POST", "/open/v1/phone/stop")
        .match_header("traceId", t1.as_str())
        .match_header("ts", ts1.as_str())
        .match_header("nonce", n1.as_str())
        .match_header("sign", s1.as_str())
        .with_body(envelope(40007, "请求过于频繁", json!(null)))
        .expect(1)
        .create_async()
        .await;
    let second = server
        .mock("POST", "/open/v1/phone/stop")
        .match_header("traceId", t2.as_str())
        .match_header("ts", ts2.as_str())
        .match_header("nonce", n2.as_str())
        .match_header("sign", s2.as_str())
        .match_body(Matcher::Exact(r#"{"ids":["1"]}"#.into()))
        .with_body(ok(json!({"successDetails": [{"id": "1", "status": 0}]})))
        .expect(1)
        .create_async()
        .await;
    let (provider, attempts) = counting(key_config(&server));
    let report = provider.stop(&ids(&["1"])).await.unwrap();
    first.assert_async().await;
    second.assert_async().await;
    assert_eq!(attempts.load(Ordering::SeqCst), 2);
    assert!(report.outcomes[0].is_pending());
}

#[tokio::test]
async fn throttling_that_persists_fails_the_chunk_after_the_retries() {
    let mut server = mockito::Server::new_async().await;
    let m = server
        .mock("POST", "/open/v1/phone/status")
        .with_body(envelope(40017, "too many requests", json!(null)))
        .expect(3)
        .create_async()
        .await;
    let (provider, attempts) = counting(key_config(&server).retries(2, 1, 2));
    let report = provider.status(&ids(&["1"])).await.unwrap();
    m.assert_async().await;
    assert_eq!(attempts.load(Ordering::SeqCst), 3);
    let e = report.outcomes[0].error().unwrap();
    assert_eq!(e.kind(), ErrorKind::RateLimited);
    assert_eq!(e.vendor_code(), Some("40017"));
}

#[tokio::test]
async fn the_two_hour_lock_is_never_retried_and_stops_further_calls_to_that_api() {
    let mut server = mockito::Server::new_async().await;
    let stop = server
        .mock("POST", "/open/v1/phone/stop")
        .with_body(envelope(40014, "超过每小时调用上限", json!(null)))
        .expect(1)
        .create_async()
        .await;
    let status = server
        .mock("POST", "/open/v1/phone/status")
        .with_body(ok(json!({"successDetails": [{"id": "1", "status": 0}]})))
        .expect(1)
        .create_async()
        .await;
    let (provider, attempts) = counting(key_config(&server));
    let report = provider.stop(&ids(&["1", "2"])).await.unwrap();
    assert_eq!(attempts.load(Ordering::SeqCst), 1);
    for o in &report.outcomes {
        let e = o.error().unwrap();
        assert_eq!(e.kind(), ErrorKind::RateLimited);
        assert_eq!(e.vendor_code(), Some("40014"));
        assert!(!e.is_temporary());
        assert!(
            e.message().contains("locked for two hours"),
            "{}",
            e.message()
        );
    }
    // The same API is not called again during the lock; other APIs are.
    let report = provider.stop(&ids(&["3"])).await.unwrap();
    let e = report.outcomes[0].error().unwrap();
    assert!(e.message().starts_with("not sent"), "{}", e.message());
    assert_eq!(attempts.load(Ordering::SeqCst), 1);
    provider.status(&ids(&["1"])).await.unwrap();
    stop.assert_async().await;
    status.assert_async().await;
}

#[tokio::test]
async fn a_bad_signature_fails_the_call_once_and_sends_nothing_more() {
    let mut server = mockito::Server::new_async().await;
    let m = server
        .mock("POST", "/open/v1/phone/status")
        .with_body(envelope(40003, "签名验证失败", json!(null)))
        .expect(1)
        .create_async()
        .await;
    let config = key_config(&server).status_batch_size(1).concurrency(1);
    let (provider, attempts) = counting(config);
    let e = provider.status(&ids(&["1", "2", "3"])).await.unwrap_err();
    m.assert_async().await;
    assert_eq!(attempts.load(Ordering::SeqCst), 1);
    assert_eq!(e.kind(), ErrorKind::Unauthenticated);
    assert_eq!(e.vendor_code(), Some("40003"));
}

#[tokio::test]
async fn permission_errors_are_normalized_and_not_retried() {
    for (code, msg) in [
        (40016, "IP not in whitelist"),
        (40015, "insufficient permissions"),
    ] {
        let mut server = mockito::Server::new_async().await;
        let m = server
            .mock("POST", "/open/v1/phone/status")
            .with_body(envelope(code, msg, json!(null)))
            .expect(1)
            .create_async()
            .await;
        let report = fixed(key_config(&server))
            .status(&ids(&["1"]))
            .await
            .unwrap();
        m.assert_async().await;
        let e = report.outcomes[0].error().unwrap();
        assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{code}");
        assert_eq!(e.message(), msg);
    }
}

#[tokio::test]
async fn a_one_id_envelope_error_is_that_phones_failure() {
    let mut server = mockito::Server::new_async().await;
    signed(&mut server, "/open/v2/phone/newOne")
        .match_body(Matcher::Exact(r#"{"id":"busy"}"#.into()))
        .with_body(envelope(43011, "一键新机中", json!(null)))
        .expect(1)
        .create_async()
        .await;
    signed(&mut server, "/open/v2/phone/newOne")
        .match_body(Matcher::Exact(r#"{"id":"fine"}"#.into()))
        .with_body(ok(json!(null)))
        .expect(1)
        .create_async()
        .await;
    let report = fixed(key_config(&server))
        .reset(&ids(&["busy", "fine"]), &ResetOptions::default())
        .await
        .unwrap();
    let e = report.outcomes[0].error().unwrap();
    assert_eq!(
        (e.kind(), e.vendor_code()),
        (ErrorKind::Busy, Some("43011"))
    );
    assert!(report.outcomes[1].is_pending());
}

#[tokio::test]
async fn a_one_id_auth_error_fails_the_call() {
    let mut server = mockito::Server::new_async().await;
    let m = server
        .mock("POST", "/open/v1/phone/restart")
        .with_body(envelope(40003, "invalid token", json!(null)))
        .expect(1)
        .create_async()
        .await;
    let (provider, attempts) = counting(key_config(&server).concurrency(1));
    let e = provider.restart(&ids(&["1", "2", "3"])).await.unwrap_err();
    m.assert_async().await;
    assert_eq!(attempts.load(Ordering::SeqCst), 1);
    assert_eq!(e.kind(), ErrorKind::Unauthenticated);
}

#[tokio::test]
async fn a_phone_the_vendor_leaves_out_fails_on_its_own() {
    let mut server = mockito::Server::new_async().await;
    signed(&mut server, "/open/v1/phone/status")
        .with_body(ok(json!({
            "totalAmount": 3, "successAmount": 2, "failAmount": 0,
            "successDetails": [{"id": "1", "status": 0}, {"id": "3", "status": 2},
                               {"id": "not-asked", "status": 0}],
            "failDetails": [],
        })))
        .create_async()
        .await;
    let report = fixed(key_config(&server))
        .status(&ids(&["1", "2", "3"]))
        .await
        .unwrap();
    assert_eq!(report.outcomes.len(), 3);
    assert!(report.outcomes[0].is_done() && report.outcomes[2].is_done());
    let e = report.outcomes[1].error().unwrap();
    assert_eq!(e.kind(), ErrorKind::MissingFromResponse);
}

#[tokio::test]
async fn a_5xx_on_stop_is_unknown_and_not_retried() {
    let mut server = mockito::Server::new_async().await;
    let m = server
        .mock("POST", "/open/v1/phone/stop")
        .with_status(502)
        .with_body("bad gateway")
        .expect(1)
        .create_async()
        .await;
    let (provider, attempts) = counting(key_config(&server));
    let report = provider.stop(&ids(&["1"])).await.unwrap();
    m.assert_async().await;
    assert_eq!(attempts.load(Ordering::SeqCst), 1);
    // The gateway may have passed the stop on: it may have been applied, so never "failed".
    assert!(report.outcomes[0].is_unknown(), "{report:?}");
    let e = report.outcomes[0].cause().unwrap();
    assert_eq!(e.kind(), ErrorKind::Unavailable);
    assert!(!e.is_not_applied());
    assert!(e.to_string().contains("[request T0000001]"), "{e}");
}

#[tokio::test]
async fn a_5xx_on_status_is_retried() {
    let mut server = mockito::Server::new_async().await;
    let failing = server
        .mock("POST", "/open/v1/phone/status")
        .with_status(503)
        .expect(1)
        .create_async()
        .await;
    let working = server
        .mock("POST", "/open/v1/phone/status")
        .with_body(ok(json!({"successDetails": [{"id": "1", "status": 2}]})))
        .expect(1)
        .create_async()
        .await;
    let (provider, attempts) = counting(key_config(&server));
    let report = provider.status(&ids(&["1"])).await.unwrap();
    failing.assert_async().await;
    working.assert_async().await;
    assert_eq!(attempts.load(Ordering::SeqCst), 2);
    assert_eq!(report.outcomes[0].phone_state(), Some(PhoneState::Stopped));
}

#[tokio::test]
async fn an_undecodable_answer_is_retried_for_reads_only() {
    let mut server = mockito::Server::new_async().await;
    server
        .mock("POST", "/open/v1/phone/stop")
        .with_body("<html>oops</html>")
        .create_async()
        .await;
    server
        .mock("POST", "/open/v1/phone/status")
        .with_body("<html>oops</html>")
        .create_async()
        .await;
    let (provider, attempts) = counting(key_config(&server).retries(2, 1, 2));
    let report = provider.stop(&ids(&["1"])).await.unwrap();
    assert_eq!(attempts.load(Ordering::SeqCst), 1);
    // The vendor answered something: the stop may have been applied.
    assert!(report.outcomes[0].is_unknown(), "{report:?}");
    let e = report.outcomes[0].cause().unwrap();
    assert_eq!(e.kind(), ErrorKind::InvalidResponse);
    let report = provider.status(&ids(&["1"])).await.unwrap();
    assert_eq!(attempts.load(Ordering::SeqCst), 1 + 3);
    assert_eq!(
        report.outcomes[0].error().unwrap().kind(),
        ErrorKind::InvalidResponse
    );
}

#[tokio::test]
async fn a_refused_connection_is_retried_even_for_stop() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = GeelarkConfig::with_api_key(APP_ID, API_KEY)
        .base_url(format!("http://127.0.0.1:{port}"))
        .retries(2, 1, 2);
    let (provider, attempts) = counting(config);
    let report = provider.stop(&ids(&["1"])).await.unwrap();
    assert_eq!(attempts.load(Ordering::SeqCst), 3);
    let e = report.outcomes[0].error().unwrap();
    assert_eq!(e.kind(), ErrorKind::Unavailable);
    assert!(e.is_not_applied());
}

#[tokio::test]
async fn unsupported_and_invalid_options_fail_before_sending() {
    let server = mockito::Server::new_async().await;
    let (provider, attempts) = counting(key_config(&server));
    let phones = ids(&["1"]);
    let cases = [
        (ResetOptions::default().image("android-12"), "`image`"),
        (
            ResetOptions::default().property("ro.x", "1"),
            "`properties`",
        ),
        (
            ResetOptions::default().phone_property("1".into(), "ro.x", "1"),
            "`phone_properties`",
        ),
        (ResetOptions::default().extra("wipeAll", true), "`wipeAll`"),
        (
            ResetOptions::default().extra("keepRegion", "yes"),
            "`keepRegion`",
        ),
    ];
    for (options, named) in cases {
        let e = provider.reset(&phones, &options).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        assert!(e.message().contains(named), "{}", e.message());
    }
    for (key, value) in [
        ("width", json!(700)),
        ("center", json!(3)),
        ("energySavingMode", json!("on")),
        ("resolution", json!(1)),
    ] {
        let options = StartOptions::default().extra(key, value);
        let e = provider.start(&phones, &options).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        assert!(e.message().contains(&format!("`{key}`")), "{}", e.message());
    }
    assert_eq!(attempts.load(Ordering::SeqCst), 0, "nothing was sent");
}

#[tokio::test]
async fn empty_input_touches_nothing() {
    let server = mockito::Server::new_async().await;
    let (provider, attempts) = counting(key_config(&server));
    assert!(provider.stop(&[]).await.unwrap().outcomes.is_empty());
    assert!(provider.status(&[]).await.unwrap().outcomes.is_empty());
    assert_eq!(attempts.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn waiting_after_stop_polls_status_until_stopped() {
    let mut server = mockito::Server::new_async().await;
    signed(&mut server, "/open/v1/phone/stop")
        .with_body(ok(json!({"successDetails": [{"id": "1", "status": 0}]})))
        .create_async()
        .await;
    let running = signed(&mut server, "/open/v1/phone/status")
        .with_body(ok(json!({"successDetails": [{"id": "1", "status": 0}]})))
        .expect(1)
        .create_async()
        .await;
    let stopped = signed(&mut server, "/open/v1/phone/status")
        .with_body(ok(json!({"successDetails": [{"id": "1", "status": 2}]})))
        .expect(1)
        .create_async()
        .await;
    let provider = fixed(key_config(&server));
    let stopping = provider.stop(&ids(&["1"])).await.unwrap();
    assert!(stopping.outcomes[0].is_pending());
    let options = WaitOptions::default().poll_interval(Duration::from_millis(1));
    let done = provider.wait(&stopping, &options).await.unwrap();
    running.assert_async().await;
    stopped.assert_async().await;
    assert_eq!(done.operation, Operation::Stop);
    assert!(done.outcomes[0].is_done());
    assert_eq!(done.outcomes[0].phone_state(), Some(PhoneState::Stopped));
}

#[tokio::test]
async fn a_gateway_429_is_throttling_and_retried_even_for_stop() {
    let mut server = mockito::Server::new_async().await;
    let throttled = server
        .mock("POST", "/open/v1/phone/stop")
        .with_status(429)
        .with_header("retry-after", "0")
        .expect(1)
        .create_async()
        .await;
    let accepted = server
        .mock("POST", "/open/v1/phone/stop")
        .with_body(ok(json!({"successDetails": [{"id": "1", "status": 0}]})))
        .expect(1)
        .create_async()
        .await;
    let (provider, attempts) = counting(key_config(&server));
    let report = provider.stop(&ids(&["1"])).await.unwrap();
    throttled.assert_async().await;
    accepted.assert_async().await;
    assert_eq!(attempts.load(Ordering::SeqCst), 2);
    assert!(report.outcomes[0].is_pending());
}
