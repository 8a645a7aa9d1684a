//! The AK/SK signer against Huawei's published vectors, and byte-exact signed requests.

mod common;

use cloudphone_core::{CloudPhoneProvider, ListRequest};
use cloudphone_huawei_cph::signer;
use cloudphone_huawei_cph::HuaweiCphProvider;
use common::*;
use hmac::{Hmac, Mac};
use reqwest::Url;
use sha2::{Digest, Sha256};

const EMPTY_SHA: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

fn hmac_hex(key: &str, data: &str) -> String {
    let mut m = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
    m.update(data.as_bytes());
    hex::encode(m.finalize().into_bytes())
}

#[test]
fn vector_a_huawei_docs() {
    let url = Url::parse(
        "https://service.region.example.com/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs?limit=2&marker=13551d6b-755d-4757-b956-536f674975c0",
    )
    .unwrap();
    let headers = [
        ("Content-Type", "application/json"),
        ("Host", "service.region.example.com"),
        ("X-Sdk-Date", "20191115T033655Z"),
    ];
    let (canonical, signed) = signer::canonical_request("GET", &url, &headers, b"");
    let expected = "GET\n\
        /v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs/\n\
        limit=2&marker=13551d6b-755d-4757-b956-536f674975c0\n\
        content-type:application/json\n\
        host:service.region.example.com\n\
        x-sdk-date:20191115T033655Z\n\
        \n\
        content-type;host;x-sdk-date\n\
        e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    assert_eq!(canonical, expected);
    assert_eq!(signed, "content-type;host;x-sdk-date");
    assert_eq!(
        hex::encode(Sha256::digest(canonical.as_bytes())),
        "b25362e603ee30f4f25e7858e8a7160fd36e803bb2dfe206278659d71a9bcd7a"
    );
    let auth = signer::sign(
        "QTWAOYTTINDUT2QVKYUC",
        "MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc",
        "GET",
        &url,
        &headers,
        b"",
    );
    assert_eq!(
        auth,
        "SDK-HMAC-SHA256 Access=QTWAOYTTINDUT2QVKYUC, SignedHeaders=content-type;host;x-sdk-date, \
         Signature=7be6668032f70418fcc22abc52071e57aff61b84a1d2381bb430d6870f4f6ebe"
    );
}

#[test]
fn vector_b_go_sdk_get() {
    let url = Url::parse("https://example.huaweicloud.com/path?limit=1").unwrap();
    let headers = [("x-sdk-date", "20060102T150405Z")];
    let (canonical, _) = signer::canonical_request("GET", &url, &headers, b"");
    assert_eq!(
        canonical,
        format!("GET\n/path/\nlimit=1\nx-sdk-date:20060102T150405Z\n\nx-sdk-date\n{EMPTY_SHA}")
    );
    let auth = signer::sign("AccessKey", "SecretKey", "GET", &url, &headers, b"");
    assert!(auth
        .ends_with("Signature=5a2ce64c865e0e6046321c6f3d5a77ba8413eeaf355c3166c03d58d02ac79624"));
}

#[test]
fn vector_c_go_sdk_post_with_body() {
    let url = Url::parse("https://example.huaweicloud.com/path?key=value").unwrap();
    let headers = [("x-sdk-date", "20060102T150405Z")];
    let body = b"{\"Name\":\"test\",\"Id\":1}\n";
    let auth = signer::sign("AccessKey", "SecretKey", "POST", &url, &headers, body);
    assert_eq!(
        auth,
        "SDK-HMAC-SHA256 Access=AccessKey, SignedHeaders=x-sdk-date, \
         Signature=cecc2af119b18ab70b4d094c0750f3b42c02f254903179a0fc2cc72fc9db4f59"
    );
}

fn aksk_provider(url: &str, security_token: bool) -> HuaweiCphProvider {
    let mut cfg = config(url).with_access_key("MYAK", "MYSK-secret".to_owned().into());
    if security_token {
        cfg = cfg.with_security_token("STS-secret".to_owned().into());
    }
    HuaweiCphProvider::builder(cfg)
        .clock(std::sync::Arc::new(FixedClock::at(
            time::macros::datetime!(2024-01-02 03:04:05 UTC),
        )))
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_signed_post_is_byte_exact() {
    let mut server = mockito::Server::new_async().await;
    let host = server.host_with_port();
    let body = r#"{"phone_ids":["p1"]}"#;
    let canonical = format!(
        "POST\n{BASE}/phones/batch-stop/\n\nhost:{host}\nx-project-id:{PROJECT}\n\
         x-sdk-date:20240102T030405Z\nx-security-token:STS-secret\n\n\
         host;x-project-id;x-sdk-date;x-security-token\n{}",
        hex::encode(Sha256::digest(body.as_bytes()))
    );
    let sts = format!(
        "SDK-HMAC-SHA256\n20240102T030405Z\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let authorization = format!(
        "SDK-HMAC-SHA256 Access=MYAK, SignedHeaders=host;x-project-id;x-sdk-date;x-security-token, Signature={}",
        hmac_hex("MYSK-secret", &sts)
    );
    let m = server
        .mock("POST", format!("{BASE}/phones/batch-stop").as_str())
        .match_header("authorization", authorization.as_str())
        .match_header("x-sdk-date", "20240102T030405Z")
        .match_header("x-project-id", PROJECT)
        .match_header("x-security-token", "STS-secret")
        .match_header("host", host.as_str())
        .match_header("content-type", "application/json")
        .match_header("x-auth-token", mockito::Matcher::Missing)
        .match_body(mockito::Matcher::Exact(body.into()))
        .with_body(r#"{"request_id":"r1","jobs":[{"phone_id":"p1","job_id":"j1"}]}"#)
        .expect(1)
        .create_async()
        .await;
    let p = aksk_provider(&server.url(), true);
    let report = p.stop(&ids(&["p1"])).await.unwrap();
    m.assert_async().await;
    assert!(report.outcomes[0].is_pending());
}

#[tokio::test]
async fn a_signed_get_signs_the_sorted_query() {
    let mut server = mockito::Server::new_async().await;
    let host = server.host_with_port();
    let canonical = format!(
        "GET\n{BASE}/phones/\nlimit=50&offset=400\nhost:{host}\nx-project-id:{PROJECT}\n\
         x-sdk-date:20240102T030405Z\n\nhost;x-project-id;x-sdk-date\n{EMPTY_SHA}"
    );
    let sts = format!(
        "SDK-HMAC-SHA256\n20240102T030405Z\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let authorization = format!(
        "SDK-HMAC-SHA256 Access=MYAK, SignedHeaders=host;x-project-id;x-sdk-date, Signature={}",
        hmac_hex("MYSK-secret", &sts)
    );
    let m = server
        .mock("GET", format!("{BASE}/phones?offset=400&limit=50").as_str())
        .match_header("authorization", authorization.as_str())
        .match_header("content-type", mockito::Matcher::Missing)
        .with_body(r#"{"request_id":"r","count":401,"phones":[{"phone_id":"p","status":2}]}"#)
        .expect(1)
        .create_async()
        .await;
    let p = aksk_provider(&server.url(), false);
    let page = p
        .list_page(
            &ListRequest::default()
                .page_size(50)
                .cursor(Some("400".into())),
        )
        .await
        .unwrap();
    m.assert_async().await;
    assert_eq!(page.phones.len(), 1);
    assert_eq!(page.next, None);
}
