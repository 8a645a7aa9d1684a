//! Error mapping for every class, and what is (not) retried.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use cloudphone_core::{CloudPhoneProvider, Error, ErrorKind, ResetOptions};
use cloudphone_huawei_cph::{HuaweiCphConfig, HuaweiCphProvider, StatusStrategy};
use common::*;
use mockito::{Matcher, Server};

fn detail_provider(url: &str, retries: usize) -> HuaweiCphProvider {
    HuaweiCphProvider::new(
        config(url)
            .with_token(TOKEN.to_owned().into())
            .with_retries(retries, 1, 5)
            .with_status_strategy(StatusStrategy::Detail),
    )
    .unwrap()
}

/// The error a status read of one phone ends with, whether per phone or for the whole call.
async fn status_error(p: &HuaweiCphProvider) -> Error {
    match p.status(&ids(&["a"])).await {
        Ok(r) => r.outcomes[0].error().expect("a failure").clone(),
        Err(e) => e,
    }
}

#[tokio::test]
async fn every_error_class_maps_to_its_kind() {
    let cases: &[(usize, &str, ErrorKind, &str)] = &[
        (
            400,
            r#"{"error_code":"CPS.0001","error_msg":"no permission"}"#,
            ErrorKind::PermissionDenied,
            "CPS.0001",
        ),
        (
            400,
            r#"{"error_code":"CPS.0002","error_msg":"offset invalid"}"#,
            ErrorKind::InvalidArgument,
            "CPS.0002",
        ),
        (
            400,
            r#"{"error_code":"CPS.0003","error_msg":"internal error"}"#,
            ErrorKind::Unavailable,
            "CPS.0003",
        ),
        (
            400,
            r#"{"error_code":"CPS.0004","error_msg":"bad id"}"#,
            ErrorKind::InvalidArgument,
            "CPS.0004",
        ),
        (
            400,
            r#"{"error_code":"CPS.0005","error_msg":"not found"}"#,
            ErrorKind::NotFound,
            "CPS.0005",
        ),
        (
            400,
            r#"{"error_code":"CPS.0006","error_msg":"arrears"}"#,
            ErrorKind::QuotaExceeded,
            "CPS.0006",
        ),
        (
            400,
            r#"{"error_code":"CPS.0007","error_msg":"suspended"}"#,
            ErrorKind::PermissionDenied,
            "CPS.0007",
        ),
        (
            400,
            r#"{"error_code":"CPS.0008","error_msg":"unverified"}"#,
            ErrorKind::PermissionDenied,
            "CPS.0008",
        ),
        (
            400,
            r#"{"error_code":"CPS.0009","error_msg":"empty"}"#,
            ErrorKind::InvalidArgument,
            "CPS.0009",
        ),
        (
            400,
            r#"{"error_code":"CPS.0010","error_msg":"status invalid"}"#,
            ErrorKind::InvalidState,
            "CPS.0010",
        ),
        (
            400,
            r#"{"error_code":"CPS.0022","error_msg":"unavailable"}"#,
            ErrorKind::InvalidState,
            "CPS.0022",
        ),
        (
            400,
            r#"{"error_code":"CPS.0029","error_msg":"image empty"}"#,
            ErrorKind::InvalidArgument,
            "CPS.0029",
        ),
        (
            400,
            r#"{"error_code":"CPS.0030","error_msg":"image invalid"}"#,
            ErrorKind::InvalidArgument,
            "CPS.0030",
        ),
        (
            404,
            r#"{"error_code":"APIGW.0101","error_msg":"The API does not exist"}"#,
            ErrorKind::Unsupported,
            "APIGW.0101",
        ),
        (
            401,
            r#"{"error_code":"APIGW.0301","error_msg":"Incorrect IAM authentication information"}"#,
            ErrorKind::Unauthenticated,
            "APIGW.0301",
        ),
        (
            401,
            r#"{"error_code":"APIGW.0303","error_msg":"Incorrect app authentication information"}"#,
            ErrorKind::Unauthenticated,
            "APIGW.0303",
        ),
        (
            401,
            r#"{"error_code":"APIGW.0307","error_msg":"The token must be updated."}"#,
            ErrorKind::Unauthenticated,
            "APIGW.0307",
        ),
        (
            429,
            r#"{"error_code":"APIGW.0308","error_msg":"The throttling threshold has been reached"}"#,
            ErrorKind::RateLimited,
            "APIGW.0308",
        ),
        (
            429,
            r#"{"error":{"code":"APIG.0308","message":"throttled"}}"#,
            ErrorKind::RateLimited,
            "APIG.0308",
        ),
        (
            403,
            r#"{"error":{"code":"APIG.0201","message":"forbidden"}}"#,
            ErrorKind::PermissionDenied,
            "APIG.0201",
        ),
        (503, "<html>busy</html>", ErrorKind::Unavailable, "503"),
        (200, "not json", ErrorKind::InvalidResponse, ""),
    ];
    for (status, body, kind, code) in cases {
        let mut s = Server::new_async().await;
        s.mock("GET", format!("{BASE}/phones/a").as_str())
            .with_status(*status)
            .with_body(*body)
            .create_async()
            .await;
        let e = status_error(&detail_provider(&s.url(), 0)).await;
        assert_eq!(e.kind(), *kind, "{status} {body}: {e}");
        if !code.is_empty() {
            assert_eq!(e.vendor_code(), Some(*code), "{body}");
        }
        assert_eq!(e.vendor(), Some("huawei-cph"));
    }
}

#[tokio::test]
async fn a_given_token_that_expired_says_so_and_is_not_retried() {
    let mut s = Server::new_async().await;
    let m = s
        .mock("GET", format!("{BASE}/phones/a").as_str())
        .with_status(401)
        .with_body(r#"{"error_code":"APIGW.0307","error_msg":"The token must be updated."}"#)
        .expect(1)
        .create_async()
        .await;
    let e = status_error(&detail_provider(&s.url(), 4)).await;
    assert_eq!(e.kind(), ErrorKind::Unauthenticated);
    assert!(e.message().contains("`token` has expired"), "{e}");
    assert!(!format!("{e} {e:?}").contains(TOKEN));
    m.assert_async().await;
}

#[tokio::test]
async fn a_rejected_signature_is_sent_once_and_stops_the_batch() {
    let mut s = Server::new_async().await;
    let m = s
        .mock("POST", format!("{BASE}/phones/batch-reset").as_str())
        .with_status(401)
        .with_body(r#"{"error_code":"APIGW.0301","error_msg":"Incorrect IAM authentication information: verify aksk signature fail"}"#)
        .expect(1)
        .create_async()
        .await;
    let mut cfg = config(&s.url())
        .with_access_key("AK", "SK-SECRET".to_owned().into())
        .with_batch_size(1);
    cfg.concurrency = 1;
    let p = HuaweiCphProvider::new(cfg).unwrap();
    let e = p
        .reset(&ids(&["a", "b", "c"]), &ResetOptions::default())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthenticated);
    m.assert_async().await;
}

/// A mock answering `first` (status, body, headers) once, then `then` forever.
async fn flaky(
    s: &mut Server,
    method: &str,
    path: &str,
    first: (usize, &'static str, Option<(&'static str, &'static str)>),
    then: &'static str,
) -> Arc<AtomicUsize> {
    let n = Arc::new(AtomicUsize::new(0));
    let (c1, c2) = (n.clone(), n.clone());
    let mut m = s
        .mock(method, path)
        .with_status_code_from_request(move |_| {
            if c1.fetch_add(1, Ordering::SeqCst) == 0 {
                first.0
            } else {
                200
            }
        })
        .with_body_from_request(move |_| {
            if c2.load(Ordering::SeqCst) <= 1 {
                first.1.into()
            } else {
                then.into()
            }
        });
    if let Some((k, v)) = first.2 {
        m = m.with_header(k, v);
    }
    m.create_async().await;
    n
}

const RESET_OK: &str = r#"{"request_id":"r","jobs":[{"phone_id":"a","job_id":"j"}]}"#;

#[tokio::test]
async fn throttled_state_changes_are_retried() {
    let mut s = Server::new_async().await;
    let n = flaky(
        &mut s,
        "POST",
        &format!("{BASE}/phones/batch-reset"),
        (
            429,
            r#"{"error_code":"APIGW.0308","error_msg":"throttled"}"#,
            None,
        ),
        RESET_OK,
    )
    .await;
    let p = token_provider(&s.url());
    let r = p
        .reset(&ids(&["a"]), &ResetOptions::default())
        .await
        .unwrap();
    assert!(r.outcomes[0].is_pending());
    assert_eq!(n.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn retry_after_is_read_from_a_throttling_answer() {
    let mut s = Server::new_async().await;
    s.mock("GET", format!("{BASE}/phones/a").as_str())
        .with_status(429)
        .with_header("Retry-After", "3")
        .with_body(r#"{"error_code":"APIGW.0308","error_msg":"throttled"}"#)
        .create_async()
        .await;
    let e = status_error(&detail_provider(&s.url(), 0)).await;
    assert_eq!(e.kind(), ErrorKind::RateLimited);
    assert_eq!(e.retry_after(), Some(std::time::Duration::from_secs(3)));
    assert!(e.is_not_applied());
}

#[tokio::test]
async fn cps_0003_is_retried_for_reads_but_not_for_a_reset() {
    let mut s = Server::new_async().await;
    let busy = r#"{"error_code":"CPS.0003","error_msg":"Internal error, retry later."}"#;
    let reads = flaky(
        &mut s,
        "GET",
        &format!("{BASE}/phones/a"),
        (400, busy, None),
        r#"{"phone_id":"a","status":2}"#,
    )
    .await;
    let resets = s
        .mock("POST", format!("{BASE}/phones/batch-reset").as_str())
        .with_status(400)
        .with_body(busy)
        .expect(1)
        .create_async()
        .await;
    let p = detail_provider(&s.url(), 4);
    assert!(p.status(&ids(&["a"])).await.unwrap().all_done());
    assert_eq!(reads.load(Ordering::SeqCst), 2);
    let r = p
        .reset(&ids(&["a"]), &ResetOptions::default())
        .await
        .unwrap();
    // Ambiguous: the vendor may have acted, so the reset is unknown, never failed or repeated.
    assert!(r.outcomes[0].is_unknown(), "{:?}", r.outcomes[0]);
    let e = r.outcomes[0].cause().unwrap();
    assert_eq!(e.kind(), ErrorKind::Unavailable);
    assert!(e.is_temporary() && !e.is_not_applied());
    resets.assert_async().await;
}

#[tokio::test]
async fn a_5xx_is_retried_for_reads_only() {
    let mut s = Server::new_async().await;
    let reads = flaky(
        &mut s,
        "GET",
        &format!("{BASE}/phones/a"),
        (502, "bad gateway", None),
        r#"{"phone_id":"a","status":2}"#,
    )
    .await;
    let stops = s
        .mock("POST", format!("{BASE}/phones/batch-stop").as_str())
        .with_status(500)
        .expect(1)
        .create_async()
        .await;
    let p = detail_provider(&s.url(), 4);
    assert!(p.status(&ids(&["a"])).await.unwrap().all_done());
    assert_eq!(reads.load(Ordering::SeqCst), 2);
    let r = p.stop(&ids(&["a"])).await.unwrap();
    // A 500 after sending: the stop may have been made, so it is unknown.
    assert!(r.outcomes[0].is_unknown(), "{:?}", r.outcomes[0]);
    assert_eq!(
        r.outcomes[0].cause().unwrap().kind(),
        ErrorKind::Unavailable
    );
    stops.assert_async().await;
}

#[tokio::test]
async fn a_refused_connection_is_unavailable_and_not_applied() {
    // Bind then drop: nothing listens on the port any more.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let p = token_provider(&format!("http://127.0.0.1:{port}"));
    let r = p
        .reset(&ids(&["a"]), &ResetOptions::default())
        .await
        .unwrap();
    let e = r.outcomes[0].error().unwrap();
    assert_eq!(e.kind(), ErrorKind::Unavailable);
    assert!(e.is_not_applied());
}

#[tokio::test]
async fn a_timed_out_reset_is_ambiguous_and_sent_once() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            held.push(sock); // never answer
        }
    });
    let http = cloudphone_core::http::HttpOptions::default()
        .timeout(std::time::Duration::from_millis(200))
        .client()
        .unwrap();
    let p = HuaweiCphProvider::builder(
        config(&format!("http://{addr}")).with_token(TOKEN.to_owned().into()),
    )
    .http_client(http)
    .build()
    .unwrap();
    let r = p
        .reset(&ids(&["a"]), &ResetOptions::default())
        .await
        .unwrap();
    assert!(r.outcomes[0].is_unknown(), "{:?}", r.outcomes[0]);
    let e = r.outcomes[0].cause().unwrap();
    assert_eq!(e.kind(), ErrorKind::Timeout);
    assert!(!e.is_not_applied());
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn per_phone_error_codes_inside_a_200_are_failures() {
    let mut s = Server::new_async().await;
    s.mock("POST", format!("{BASE}/phones/batch-stop").as_str())
        .match_body(Matcher::Exact(r#"{"phone_ids":["a","b","c"]}"#.into()))
        .with_body(
            r#"{"request_id":"r","jobs":[
              {"phone_id":"a","error_code":"CPS.0022","error_msg":"phone not available"},
              {"phone_id":"b","error_code":"CPS.0010","error_msg":"status invalid"},
              {"phone_id":"c","error_code":"CPS.0005","error_msg":"no such phone"}]}"#,
        )
        .create_async()
        .await;
    let p = token_provider(&s.url());
    let r = p.stop(&ids(&["a", "b", "c"])).await.unwrap();
    let kinds: Vec<_> = r
        .outcomes
        .iter()
        .map(|o| o.error().unwrap().kind())
        .collect();
    assert_eq!(
        kinds,
        [
            ErrorKind::InvalidState,
            ErrorKind::InvalidState,
            ErrorKind::NotFound
        ]
    );
    assert_eq!(
        r.outcomes[0].error().unwrap().message(),
        "phone not available"
    );
}

#[test]
fn configuration_errors_name_the_keys() {
    let base = || HuaweiCphConfig::new("cn-east-3", "p");
    let cases: Vec<(HuaweiCphConfig, &str)> = vec![
        (base(), "`token`, or `access_key` + `secret_key`"),
        (
            HuaweiCphConfig::new("cn-east-3", "").with_token("t".to_owned().into()),
            "`project_id`",
        ),
        (
            base()
                .with_token("t".to_owned().into())
                .with_access_key("a", "s".to_owned().into()),
            "conflicting credentials: `token` and `access_key`/`secret_key`",
        ),
        (
            {
                let mut c = base();
                c.access_key = Some("a".into());
                c
            },
            "`secret_key` is required",
        ),
        (
            {
                let mut c = base();
                c.username = Some("u".into());
                c
            },
            "`password` and `domain`",
        ),
        (
            base()
                .with_token("t".to_owned().into())
                .with_security_token("x".to_owned().into()),
            "`security_token` needs",
        ),
        (
            base()
                .with_token("t".to_owned().into())
                .with_batch_size(501),
            "`batch_size`",
        ),
        (
            {
                let mut c = base().with_token("t".to_owned().into());
                c.region = None;
                c
            },
            "`region` or `endpoint`",
        ),
        (
            base()
                .with_token("t".to_owned().into())
                .with_endpoint("ftp://x"),
            "`endpoint`",
        ),
    ];
    for (cfg, want) in cases {
        let e = HuaweiCphProvider::new(cfg).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        assert!(e.message().contains(want), "{e} lacks {want}");
    }
}

#[tokio::test]
async fn a_request_level_error_inside_a_200_fails_the_chunk() {
    let mut s = Server::new_async().await;
    s.mock("POST", format!("{BASE}/phones/batch-restart").as_str())
        .with_body(r#"{"request_id":"r","error_code":"CPS.0006","error_msg":"account in arrears"}"#)
        .create_async()
        .await;
    let p = token_provider(&s.url());
    let r = p.restart(&ids(&["a", "b"])).await.unwrap();
    for o in &r.outcomes {
        let e = o.error().unwrap();
        assert_eq!(
            (e.kind(), e.vendor_code()),
            (ErrorKind::QuotaExceeded, Some("CPS.0006"))
        );
    }
}

#[tokio::test]
async fn an_unreachable_iam_leaves_a_reset_marked_not_applied() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let s = Server::new_async().await;
    let p = HuaweiCphProvider::new(
        config(&s.url())
            .with_iam_endpoint(format!("http://127.0.0.1:{port}"))
            .with_password("u", "pw".to_owned().into(), "d")
            .with_retries(0, 1, 1),
    )
    .unwrap();
    let r = p
        .reset(&ids(&["a"]), &ResetOptions::default())
        .await
        .unwrap();
    let e = r.outcomes[0].error().unwrap();
    assert_eq!(e.kind(), ErrorKind::Unavailable);
    assert!(e.is_not_applied());
}
