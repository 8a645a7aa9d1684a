//! Extreme but accepted configuration values must not panic at request time.

mod common;

use cloudphone_core::CloudPhoneProvider;
use cloudphone_geelark::{GeelarkConfig, GeelarkProvider};
use common::*;

#[tokio::test]
async fn the_largest_accepted_numbers_serve_a_call() {
    let mut server = mockito::Server::new_async().await;
    let m = server
        .mock("POST", "/open/v1/phone/status")
        .with_body(ok(serde_json::json!({
            "successAmount": 1,
            "successDetails": [{"id": "a", "status": 0}]
        })))
        .expect(1)
        .create_async()
        .await;
    let mut cfg = GeelarkConfig::with_token("t")
        .base_url(server.url())
        .rate_limits(u32::MAX, u32::MAX)
        .retries(usize::MAX, u64::MAX, u64::MAX)
        .timeouts(u64::MAX, u64::MAX)
        .max_body_bytes(cloudphone_core::options::MAX_BODY_BYTES);
    cfg.concurrency = cloudphone_core::options::MAX_CONCURRENCY;
    // Past the shared caps (the same for every vendor): refused, naming the key.
    for (key, mut over) in [
        ("`concurrency`", cfg.clone()),
        ("`max_body_bytes`", cfg.clone()),
    ] {
        if key == "`concurrency`" {
            over.concurrency = usize::MAX;
        } else {
            over.max_body_bytes = usize::MAX;
        }
        let e = GeelarkProvider::new(over).unwrap_err();
        assert!(e.message().contains(key), "{e}");
    }
    let report = GeelarkProvider::new(cfg)
        .unwrap()
        .status(&ids(&["a"]))
        .await
        .unwrap();
    assert!(report.all_done());
    m.assert_async().await;
}
