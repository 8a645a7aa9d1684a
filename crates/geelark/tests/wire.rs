//! The exact wire request of every operation: method, path, signed headers and JSON body.

mod common;

use cloudphone_core::{
    CloudPhoneProvider, CloudPhoneProviderExt, ErrorKind, ListRequest, PhoneState, ResetOptions,
    StartOptions,
};
use cloudphone_geelark::{GeelarkConfig, GeelarkProvider};
use common::*;
use futures::TryStreamExt;
use mockito::Matcher;
use serde_json::json;

#[test]
fn the_documented_test_vector_signs() {
    assert_eq!(
        cloudphone_geelark::sign(APP_ID, TRACE_ID, TS, NONCE, API_KEY),
        SIGN
    );
}

#[tokio::test]
async fn status_sends_ids_with_the_documented_signature() {
    let mut server = mockito::Server::new_async().await;
    let m = signed(&mut server, "/open/v1/phone/status")
        .match_body(Matcher::Exact(r#"{"ids":["1","2"]}"#.into()))
        .with_body(ok(json!({
            "totalAmount": 2, "successAmount": 2, "failAmount": 0,
            "successDetails": [
                {"id": "1", "serialName": "one", "status": 0},
                {"id": "2", "serialName": "two", "status": 2},
            ],
            "failDetails": [],
        })))
        .expect(1)
        .create_async()
        .await;
    let report = fixed(key_config(&server))
        .status(&ids(&["1", "2"]))
        .await
        .unwrap();
    m.assert_async().await;
    assert!(report.all_done());
    assert_eq!(report.outcomes[0].phone_state(), Some(PhoneState::Running));
    assert_eq!(report.outcomes[0].name.as_deref(), Some("one"));
    assert_eq!(report.outcomes[1].phone_state(), Some(PhoneState::Stopped));
    assert_eq!(report.outcomes[1].state.as_ref().unwrap().raw, "2");
}

#[tokio::test]
async fn stop_sends_ids_and_answers_pending() {
    let mut server = mockito::Server::new_async().await;
    let m = signed(&mut server, "/open/v1/phone/stop")
        .match_body(Matcher::Exact(r#"{"ids":["1","2"]}"#.into()))
        .with_body(ok(json!({
            "totalAmount": 2, "successAmount": 2, "failAmount": 0,
            "successDetails": [{"id": "1", "status": 0}, {"id": "2", "status": 2}],
        })))
        .expect(1)
        .create_async()
        .await;
    let report = fixed(key_config(&server))
        .stop(&ids(&["1", "2"]))
        .await
        .unwrap();
    m.assert_async().await;
    // Still running when answered: pending. Already shut down: done.
    assert!(report.outcomes[0].is_pending());
    assert!(report.outcomes[0].job.is_none());
    assert!(report.outcomes[1].is_done());
}

#[tokio::test]
async fn start_sends_its_options_and_keeps_the_live_view_url() {
    let mut server = mockito::Server::new_async().await;
    let m = signed(&mut server, "/open/v1/phone/start")
        .match_body(Matcher::Exact(
            r#"{"ids":["1"],"width":300,"center":1,"energySavingMode":0}"#.into(),
        ))
        .with_body(ok(json!({
            "totalAmount": 1, "successAmount": 1, "failAmount": 0,
            "successDetails": [{"id": "1", "url": "https://live.example/1", "chargingMethod": "Per-minute usage"}],
            "failDetails": [],
        })))
        .expect(1)
        .create_async()
        .await;
    let options = StartOptions::default()
        .extra("width", 300)
        .extra("center", 1)
        .extra("energySavingMode", 0);
    let report = fixed(key_config(&server))
        .start(&ids(&["1"]), &options)
        .await
        .unwrap();
    m.assert_async().await;
    let o = &report.outcomes[0];
    assert!(o.is_pending());
    assert_eq!(o.live_view_url.as_deref(), Some("https://live.example/1"));
}

#[tokio::test]
async fn start_without_options_sends_only_ids() {
    let mut server = mockito::Server::new_async().await;
    let m = signed(&mut server, "/open/v1/phone/start")
        .match_body(Matcher::Exact(r#"{"ids":["1"]}"#.into()))
        .with_body(ok(json!({"successDetails": [{"id": "1"}]})))
        .expect(1)
        .create_async()
        .await;
    fixed(key_config(&server))
        .start(&ids(&["1"]), &StartOptions::default())
        .await
        .unwrap();
    m.assert_async().await;
}

#[tokio::test]
async fn reset_is_one_new_one_call_per_phone_with_its_options() {
    let mut server = mockito::Server::new_async().await;
    let mut mocks = Vec::new();
    for id in ["1", "2"] {
        mocks.push(
            signed(&mut server, "/open/v2/phone/newOne")
                .match_body(Matcher::Exact(format!(
                    r#"{{"id":"{id}","changeBrandModel":true,"keepRegion":false}}"#
                )))
                .with_body(ok(serde_json::Value::Null))
                .expect(1)
                .create_async()
                .await,
        );
    }
    let options = ResetOptions::default()
        .extra("keepRegion", false)
        .extra("changeBrandModel", true);
    let report = fixed(key_config(&server))
        .reset(&ids(&["1", "2"]), &options)
        .await
        .unwrap();
    for m in mocks {
        m.assert_async().await;
    }
    assert_eq!(report.summary().pending, 2);
    assert!(report.outcomes.iter().all(|o| o.job.is_none()));
}

#[tokio::test]
async fn restart_sends_one_id() {
    let mut server = mockito::Server::new_async().await;
    let m = signed(&mut server, "/open/v1/phone/restart")
        .match_body(Matcher::Exact(r#"{"id":"528715748189668352"}"#.into()))
        .with_body(ok(json!(null)))
        .expect(1)
        .create_async()
        .await;
    let report = fixed(key_config(&server))
        .restart(&ids(&["528715748189668352"]))
        .await
        .unwrap();
    m.assert_async().await;
    assert!(report.outcomes[0].is_pending());
}

#[tokio::test]
async fn list_pages_by_page_number_until_the_total() {
    let mut server = mockito::Server::new_async().await;
    let page1 = signed(&mut server, "/open/v1/phone/list")
        .match_body(Matcher::Exact(r#"{"page":1,"pageSize":2}"#.into()))
        .with_body(ok(json!({"total": 3, "page": 1, "pageSize": 2, "items": [
            {"id": "1", "serialName": "a", "serialNo": "101", "status": 0,
             "group": {"id": "g", "name": "grp"}, "remark": "", "tags": []},
            {"id": 2, "serialName": "b", "status": 2},
        ]})))
        // Once by `list_page`, once by the `list` stream.
        .expect(2)
        .create_async()
        .await;
    let page2 = signed(&mut server, "/open/v1/phone/list")
        .match_body(Matcher::Exact(r#"{"page":2,"pageSize":2}"#.into()))
        .with_body(ok(json!({"total": 3, "page": 2, "pageSize": 2, "items": [
            {"id": "3", "serialName": "c", "status": 5},
        ]})))
        .expect(1)
        .create_async()
        .await;
    let provider = fixed(key_config(&server));
    let first = provider
        .list_page(&ListRequest::default().page_size(2))
        .await
        .unwrap();
    // Page 2, with a fingerprint of page 1 to notice a vendor repeating it.
    let next = first.next.as_deref().unwrap();
    assert!(next.starts_with("2."), "{next}");
    assert_eq!(first.total, Some(3));
    assert_eq!(first.phones[0].extra["serialNo"], "101");

    let all: Vec<_> = provider.list(Some(2)).try_collect().await.unwrap();
    page1.assert_async().await;
    page2.assert_async().await;
    let got: Vec<_> = all.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(got, ["1", "2", "3"]);
    assert_eq!(all[1].state.state, PhoneState::Stopped);
    assert_eq!(all[2].state.state, PhoneState::Unknown);
    assert_eq!(all[2].state.raw, "5");
}

#[tokio::test]
async fn list_caps_the_page_size_and_rejects_a_bad_cursor() {
    let mut server = mockito::Server::new_async().await;
    let m = signed(&mut server, "/open/v1/phone/list")
        .match_body(Matcher::Exact(r#"{"page":1,"pageSize":100}"#.into()))
        .with_body(ok(json!({"total": 0, "items": []})))
        .expect(1)
        .create_async()
        .await;
    let provider = fixed(key_config(&server));
    let page = provider
        .list_page(&ListRequest::default().page_size(1000))
        .await
        .unwrap();
    m.assert_async().await;
    assert!(page.phones.is_empty() && page.next.is_none());
    let e = provider
        .list_page(&ListRequest::default().cursor(Some("zero".into())))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
}

#[tokio::test]
async fn check_auth_posts_an_empty_object() {
    let mut server = mockito::Server::new_async().await;
    let m = signed(&mut server, "/open/v1/auth/status")
        .match_body(Matcher::Exact("{}".into()))
        .with_body(ok(json!(null)))
        .expect(1)
        .create_async()
        .await;
    fixed(key_config(&server)).check_auth().await.unwrap();
    m.assert_async().await;
}

#[tokio::test]
async fn check_auth_reports_an_invalid_token_once() {
    let mut server = mockito::Server::new_async().await;
    let m = server
        .mock("POST", "/open/v1/auth/status")
        .with_body(envelope(40003, "token invalid", json!(null)))
        .expect(1)
        .create_async()
        .await;
    let config = GeelarkConfig::with_token("tok")
        .base_url(server.url())
        .retries(4, 1, 5);
    let e = fixed(config).check_auth().await.unwrap_err();
    m.assert_async().await;
    assert_eq!(e.kind(), ErrorKind::Unauthenticated);
    assert_eq!(e.vendor_code(), Some("40003"));
}

#[tokio::test]
async fn token_auth_sends_a_bearer_token_and_no_signature() {
    let mut server = mockito::Server::new_async().await;
    let m = server
        .mock("POST", "/open/v1/phone/status")
        .match_header("traceId", TRACE_ID)
        .match_header("authorization", "Bearer my-token")
        .match_header("content-type", "application/json")
        .match_header("appId", Matcher::Missing)
        .match_header("sign", Matcher::Missing)
        .match_header("ts", Matcher::Missing)
        .match_header("nonce", Matcher::Missing)
        .match_body(Matcher::Exact(r#"{"ids":["1"]}"#.into()))
        .with_body(ok(json!({"successDetails": [{"id": "1", "status": 1}]})))
        .expect(1)
        .create_async()
        .await;
    let config = GeelarkConfig::with_token("my-token").base_url(server.url());
    let report = fixed(config).status(&ids(&["1"])).await.unwrap();
    m.assert_async().await;
    assert_eq!(report.outcomes[0].phone_state(), Some(PhoneState::Starting));
}

#[tokio::test]
async fn key_verification_wins_when_a_token_is_also_given() {
    let mut server = mockito::Server::new_async().await;
    let m = signed(&mut server, "/open/v1/phone/status")
        .with_body(ok(json!({"successDetails": [{"id": "1", "status": 0}]})))
        .expect(1)
        .create_async()
        .await;
    let mut config = key_config(&server);
    config.token = Some("also-a-token".into());
    fixed(config).status(&ids(&["1"])).await.unwrap();
    m.assert_async().await;
}

#[tokio::test]
async fn the_default_trace_id_is_32_upper_hex_and_the_nonce_its_prefix() {
    let mut server = mockito::Server::new_async().await;
    let m = server
        .mock("POST", "/open/v1/phone/status")
        .match_header("traceId", Matcher::Regex("^[0-9A-F]{32}$".into()))
        .match_header("nonce", Matcher::Regex("^[0-9A-F]{6}$".into()))
        .match_header("ts", Matcher::Regex("^[0-9]{13}$".into()))
        .match_header("sign", Matcher::Regex("^[0-9A-F]{64}$".into()))
        .with_body(ok(json!({"successDetails": [{"id": "1", "status": 0}]})))
        .expect(1)
        .create_async()
        .await;
    let provider = GeelarkProvider::new(key_config(&server)).unwrap();
    provider.status(&ids(&["1"])).await.unwrap();
    m.assert_async().await;
}

#[tokio::test]
async fn a_base_url_with_a_trailing_slash_or_prefix_works() {
    let mut server = mockito::Server::new_async().await;
    let m = signed(&mut server, "/gw/open/v1/phone/status")
        .with_body(ok(json!({"successDetails": [{"id": "1", "status": 0}]})))
        .expect(1)
        .create_async()
        .await;
    let config = key_config(&server).base_url(format!("{}/gw/", server.url()));
    fixed(config).status(&ids(&["1"])).await.unwrap();
    m.assert_async().await;
}
