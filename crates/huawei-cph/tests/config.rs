//! Configuration decoding, defaults, secrets hidden from Debug, and provider shape.

use std::sync::Arc;

use cloudphone_core::{CloudPhoneProvider, Operation};
use cloudphone_huawei_cph::{HuaweiCphConfig, HuaweiCphProvider, StatusStrategy};

fn from_json(v: serde_json::Value) -> Result<HuaweiCphConfig, serde_json::Error> {
    serde_json::from_value(v)
}

#[test]
fn defaults_apply_and_unknown_keys_are_rejected() {
    let c = from_json(serde_json::json!({
        "region": "cn-east-3", "project_id": "p", "token": "t"
    }))
    .unwrap();
    assert_eq!(
        (
            c.batch_size,
            c.concurrency,
            c.rate_limit_per_second,
            c.max_retries
        ),
        (100, 8, 100, 4)
    );
    assert_eq!((c.retry_min_delay_ms, c.retry_max_delay_ms), (2000, 30_000));
    assert_eq!((c.timeout_secs, c.connect_timeout_secs), (30, 10));
    assert_eq!(c.status_strategy, StatusStrategy::Auto);
    assert_eq!(c.token_refresh_margin_secs, 600);
    let e = from_json(serde_json::json!({"project_id": "p", "api_key": "x"})).unwrap_err();
    assert!(e.to_string().contains("api_key"), "{e}");
    let c = from_json(serde_json::json!({"project_id": "p", "status_strategy": "list"})).unwrap();
    assert_eq!(c.status_strategy, StatusStrategy::List);
}

#[test]
fn debug_of_config_and_provider_hides_every_secret() {
    let secrets = [
        "TOKEN-s3cr3t",
        "AK-s3cr3t",
        "SK-s3cr3t",
        "STS-s3cr3t",
        "PW-s3cr3t",
    ];
    let mut c = HuaweiCphConfig::new("cn-east-3", "p")
        .with_access_key(secrets[1], secrets[2].to_owned().into())
        .with_security_token(secrets[3].to_owned().into());
    c.token = Some(secrets[0].to_owned().into());
    c.password = Some(secrets[4].to_owned().into());
    let dbg = format!("{c:?}");
    for s in secrets {
        assert!(!dbg.contains(s), "{s} leaked: {dbg}");
    }
    for c in [
        HuaweiCphConfig::new("cn-east-3", "p").with_token(secrets[0].to_owned().into()),
        HuaweiCphConfig::new("cn-east-3", "p")
            .with_access_key(secrets[1], secrets[2].to_owned().into())
            .with_security_token(secrets[3].to_owned().into()),
        HuaweiCphConfig::new("cn-east-3", "p").with_password(
            "user",
            secrets[4].to_owned().into(),
            "acct",
        ),
    ] {
        let p = HuaweiCphProvider::new(c).unwrap();
        let dbg = format!("{p:?}");
        for s in secrets {
            assert!(!dbg.contains(s), "{s} leaked: {dbg}");
        }
        assert!(dbg.contains("cph.cn-east-3.myhuaweicloud.com"), "{dbg}");
    }
}

#[test]
fn the_provider_is_shareable_and_declares_its_capabilities() {
    let p: Arc<dyn CloudPhoneProvider> = Arc::new(
        HuaweiCphProvider::new(
            HuaweiCphConfig::new("cn-east-3", "p")
                .with_token("t".to_owned().into())
                .with_batch_size(50),
        )
        .unwrap(),
    );
    assert_eq!(p.vendor(), "huawei-cph");
    let caps = p.capabilities();
    for op in [
        Operation::Reset,
        Operation::Start,
        Operation::Wait,
        Operation::Jobs,
    ] {
        assert!(caps.supports(op));
    }
    assert_eq!(caps.batch_sizes[&Operation::Reset], 50);
    assert_eq!(caps.rate_limits[0].to_string(), "100/s");
    assert!(caps.jobs);
}

#[test]
fn max_body_bytes_defaults_to_the_core_cap_and_is_validated() {
    let c = from_json(serde_json::json!({
        "region": "cn-east-3", "project_id": "p", "token": "t"
    }))
    .unwrap();
    assert_eq!(
        c.max_body_bytes,
        cloudphone_core::http::DEFAULT_MAX_BODY_BYTES
    );
    let c = from_json(serde_json::json!({
        "region": "cn-east-3", "project_id": "p", "token": "t", "max_body_bytes": 4096
    }))
    .unwrap();
    assert_eq!(c.max_body_bytes, 4096);
    assert!(HuaweiCphProvider::new(c).is_ok());
    for bad in [0usize, 1023, (1 << 30) + 1] {
        let c = HuaweiCphConfig::new("cn-east-3", "p")
            .with_token("t".to_owned().into())
            .with_max_body_bytes(bad);
        let e = HuaweiCphProvider::new(c).unwrap_err();
        assert!(e.message().contains("`max_body_bytes`"), "{bad}: {e}");
    }
}

#[test]
fn the_shared_keys_are_read_from_the_same_table_and_capped_like_every_vendor() {
    let every_key = serde_json::json!({
        "region": "cn-east-3", "project_id": "p", "endpoint": "http://127.0.0.1:9",
        "iam_endpoint": "http://127.0.0.1:9", "token": "t", "batch_size": 1,
        "rate_limit_per_second": 1, "status_strategy": "detail",
        "token_refresh_margin_secs": 1, "timeout_secs": 1, "connect_timeout_secs": 1,
        "max_retries": 0, "retry_min_delay_ms": 1, "retry_max_delay_ms": 1, "concurrency": 64,
        "max_body_bytes": 1024,
    });
    HuaweiCphProvider::new(from_json(every_key).unwrap()).unwrap();
    let e = from_json(serde_json::json!({"project_id": "p", "nope": 1}))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("`nope`") && e.contains("`status_strategy`") && e.contains("`max_retries`"),
        "{e}"
    );
    let mut c = HuaweiCphConfig::new("cn-east-3", "p").with_token("t".to_owned().into());
    c.concurrency = 65;
    let e = HuaweiCphProvider::new(c).unwrap_err();
    assert!(
        e.message()
            .contains("`concurrency` must be between 1 and 64"),
        "{e}"
    );
}
