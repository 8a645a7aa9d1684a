//! Configuration: defaults, validation naming the key, unknown keys, capabilities, and secrets
//! that never show in `Debug` or errors.

mod common;

use std::sync::Arc;

use cloudphone_core::{CloudPhoneProvider, ErrorKind, Operation, RateBudget};
use cloudphone_geelark::{GeelarkConfig, GeelarkProvider};
use serde_json::json;

const KEY: &str = "super-secret-api-key-0001";
const TOKEN: &str = "super-secret-token-0002";

fn parse(v: serde_json::Value) -> Result<GeelarkConfig, serde_json::Error> {
    serde_json::from_value(v)
}

#[test]
fn defaults_match_the_documentation() {
    let c = parse(json!({"app_id": "a", "api_key": "k"})).unwrap();
    assert_eq!(c.base_url, "https://openapi.geelark.com");
    assert_eq!(c.batch_size, 100);
    assert_eq!(c.status_batch_size, 100);
    assert_eq!(c.concurrency, 4);
    assert_eq!(c.rate_limit_per_minute, 120);
    assert_eq!(c.rate_limit_per_hour, 20_000);
    assert_eq!(c.max_retries, 4);
    assert_eq!(c.retry_min_delay_ms, 1_000);
    assert_eq!(c.retry_max_delay_ms, 60_000);
    assert_eq!(c.timeout_secs, 30);
    assert_eq!(c.connect_timeout_secs, 10);
    assert_eq!(
        c.max_body_bytes,
        cloudphone_core::http::DEFAULT_MAX_BODY_BYTES
    );
    GeelarkProvider::new(c).unwrap();
}

#[test]
fn an_unknown_key_is_named() {
    let e = parse(json!({"token": "t", "batchsize": 5})).unwrap_err();
    assert!(e.to_string().contains("batchsize"), "{e}");
}

#[test]
fn invalid_values_are_errors_naming_the_key() {
    let cases = [
        (json!({}), "`token`"),
        (json!({"app_id": "a"}), "`api_key`"),
        (json!({"api_key": "k"}), "`app_id`"),
        (json!({"token": ""}), "`token`"),
        (json!({"token": "t", "batch_size": 0}), "`batch_size`"),
        (json!({"token": "t", "batch_size": 201}), "`batch_size`"),
        (
            json!({"token": "t", "status_batch_size": 101}),
            "`status_batch_size`",
        ),
        (json!({"token": "t", "concurrency": 0}), "`concurrency`"),
        (json!({"token": "t", "base_url": "not a url"}), "`base_url`"),
        (json!({"token": "t", "base_url": "ftp://x"}), "`base_url`"),
        (
            json!({"token": "t", "retry_min_delay_ms": 10, "retry_max_delay_ms": 5}),
            "`retry_min_delay_ms`",
        ),
        (json!({"token": "t", "timeout_secs": 0}), "`timeout_secs`"),
        (
            json!({"token": "t", "connect_timeout_secs": 0}),
            "`connect_timeout_secs`",
        ),
        (
            json!({"token": "t", "max_body_bytes": 0}),
            "`max_body_bytes`",
        ),
        (
            json!({"token": "t", "max_body_bytes": 1023}),
            "`max_body_bytes`",
        ),
    ];
    for (v, named) in cases {
        let e = GeelarkProvider::new(parse(v.clone()).unwrap()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config, "{v}");
        assert!(e.message().contains(named), "{v}: {}", e.message());
    }
    let ok = parse(json!({"token": "t", "batch_size": 200, "base_url": "http://127.0.0.1:9"}));
    GeelarkProvider::new(ok.unwrap()).unwrap();
    let ok = parse(json!({"token": "t", "max_body_bytes": 1024})).unwrap();
    assert_eq!(ok.max_body_bytes, 1024);
    GeelarkProvider::new(ok).unwrap();
    let e = parse(json!({"token": "t", "max_body_bytes": -1})).unwrap_err();
    assert!(e.to_string().contains("invalid value"), "{e}");
}

#[test]
fn debug_never_shows_the_key_or_the_token() {
    let mut config = GeelarkConfig::with_api_key("visible-app-id", KEY);
    config.token = Some(TOKEN.into());
    let shown = format!("{config:?} {config:#?}");
    assert!(shown.contains("visible-app-id"));
    assert!(!shown.contains(KEY) && !shown.contains(TOKEN), "{shown}");

    let provider = GeelarkProvider::new(config.clone()).unwrap();
    let shown = format!("{provider:?} {provider:#?}");
    assert!(shown.contains("geelark.com"));
    assert!(!shown.contains(KEY) && !shown.contains(TOKEN), "{shown}");

    let builder = GeelarkProvider::builder(config);
    assert!(!format!("{builder:?}").contains(KEY));

    let provider = GeelarkProvider::new(GeelarkConfig::with_token(TOKEN)).unwrap();
    assert!(!format!("{provider:?}").contains(TOKEN));
}

#[tokio::test]
async fn errors_never_show_the_token() {
    let mut server = mockito::Server::new_async().await;
    server
        .mock("POST", "/open/v1/phone/stop")
        .with_status(500)
        .create_async()
        .await;
    let config = GeelarkConfig::with_token(TOKEN).base_url(server.url());
    let report = GeelarkProvider::new(config)
        .unwrap()
        .stop(&common::ids(&["1"]))
        .await
        .unwrap();
    // A 500 after a stop was sent: the outcome is unknown, with the 500 as its cause.
    assert!(report.outcomes[0].is_unknown(), "{report:?}");
    let e = report.outcomes[0].cause().unwrap();
    let shown = format!("{e} {e:?} {report:?}");
    assert!(!shown.contains(TOKEN), "{shown}");
}

#[test]
fn capabilities_describe_the_vendor() {
    let config = GeelarkConfig::with_token("t")
        .batch_size(150)
        .status_batch_size(50)
        .rate_limits(100, 0);
    let provider: Arc<dyn CloudPhoneProvider> = Arc::new(GeelarkProvider::new(config).unwrap());
    assert_eq!(provider.vendor(), "geelark");
    let caps = provider.capabilities();
    for op in [
        Operation::Status,
        Operation::Stop,
        Operation::Start,
        Operation::Restart,
        Operation::Reset,
        Operation::List,
        Operation::Wait,
    ] {
        assert!(caps.supports(op), "{op}");
    }
    assert!(!caps.supports(Operation::Jobs));
    assert!(!caps.jobs);
    assert_eq!(caps.batch_sizes[&Operation::Status], 50);
    assert_eq!(caps.batch_sizes[&Operation::Stop], 150);
    assert_eq!(caps.batch_sizes[&Operation::Start], 150);
    assert_eq!(caps.batch_sizes[&Operation::Reset], 1);
    assert_eq!(caps.batch_sizes[&Operation::Restart], 1);
    assert_eq!(caps.rate_limits, vec![RateBudget::per_minute(100)]);
}

#[tokio::test]
async fn jobs_stay_unsupported() {
    let provider = GeelarkProvider::new(GeelarkConfig::with_token("t")).unwrap();
    let e = provider.jobs(&[]).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
}

#[test]
fn the_shared_keys_are_read_from_the_same_table_and_capped_like_every_vendor() {
    let every_key = json!({
        "base_url": "http://127.0.0.1:9", "app_id": "a", "api_key": "k", "token": "t",
        "batch_size": 1, "status_batch_size": 1, "rate_limit_per_minute": 1,
        "rate_limit_per_hour": 1, "timeout_secs": 1, "connect_timeout_secs": 1,
        "max_retries": 0, "retry_min_delay_ms": 1, "retry_max_delay_ms": 1, "concurrency": 64,
        "max_body_bytes": 1024,
    });
    GeelarkProvider::new(parse(every_key).unwrap()).unwrap();
    let e = parse(json!({"token": "t", "nope": 1}))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("`nope`") && e.contains("`rate_limit_per_hour`") && e.contains("`concurrency`"),
        "{e}"
    );
    let e = parse(json!({"token": "t", "concurrency": "4"}))
        .unwrap_err()
        .to_string();
    assert!(e.contains("`concurrency`"), "{e}");
    for (v, named) in [
        (
            json!({"token": "t", "concurrency": 65}),
            "`concurrency` must be between 1 and 64",
        ),
        (
            json!({"token": "t", "max_body_bytes": 1_u64 << 31}),
            "`max_body_bytes`",
        ),
    ] {
        let e = GeelarkProvider::new(parse(v).unwrap()).unwrap_err();
        assert!(e.message().contains(named), "{}", e.message());
    }
}
