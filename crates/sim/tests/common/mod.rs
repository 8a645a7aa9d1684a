//! Request helpers shared by the integration tests: a GeeLark key signer and a Huawei AK/SK signer
//! built on the simulator's public verifier functions.
#![allow(dead_code)]

use std::time::Duration;

use cloudphone_sim::sign::{canonical_request, geelark_sign, huawei_signature};
use cloudphone_sim::{SimConfig, SimCredentials, Simulator};
use serde_json::Value;
use time::macros::format_description;
use time::OffsetDateTime;

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

pub async fn sim(config: SimConfig) -> Simulator {
    Simulator::start(config).await.expect("simulator starts")
}

pub fn fast() -> SimConfig {
    SimConfig::default().with_time_scale(0.01)
}

pub fn trace_id() -> String {
    uuid::Uuid::new_v4().simple().to_string().to_uppercase()
}

fn now_ms() -> String {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        .to_string()
}

/// Signed GeeLark request builder (key verification).
pub fn gl_request(
    client: &reqwest::Client,
    sim: &Simulator,
    path: &str,
    body: &Value,
) -> reqwest::RequestBuilder {
    let c = sim.credentials();
    let trace = trace_id();
    let ts = now_ms();
    let nonce = trace[..6].to_string();
    let sign = geelark_sign(&c.geelark_app_id, &trace, &ts, &nonce, &c.geelark_api_key);
    client
        .post(format!("{}{}", sim.geelark_url(), path))
        .header("appId", &c.geelark_app_id)
        .header("traceId", &trace)
        .header("ts", &ts)
        .header("nonce", &nonce)
        .header("sign", &sign)
        .json(body)
}

/// Signed GeeLark call; returns the decoded envelope.
pub async fn gl(client: &reqwest::Client, sim: &Simulator, path: &str, body: Value) -> Value {
    let resp = gl_request(client, sim, path, &body).send().await.unwrap();
    assert_eq!(resp.status(), 200, "GeeLark answers HTTP 200");
    canonical(&resp.text().await.unwrap())
}

/// Parses an answer and checks it is written as `serde_json::json!` writes a value: compact,
/// every object's keys sorted. The simulator serialises its large answers from structs, so this
/// is what keeps them byte for byte what they were.
pub fn canonical(text: &str) -> Value {
    let v: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    assert_eq!(v.to_string(), text, "the answer is not in canonical form");
    v
}

pub fn sdk_date(t: OffsetDateTime) -> String {
    t.format(format_description!(
        "[year][month][day]T[hour][minute][second]Z"
    ))
    .unwrap()
}

/// Builds an AK/SK-signed Huawei request.
pub fn hw_signed(
    client: &reqwest::Client,
    creds: &SimCredentials,
    method: reqwest::Method,
    url: &str,
    body: Option<&Value>,
    date: &str,
) -> reqwest::RequestBuilder {
    hw_signed_with_key(
        client,
        creds,
        &creds.huawei_secret_key,
        method,
        url,
        body,
        date,
    )
}

pub fn hw_signed_with_key(
    client: &reqwest::Client,
    creds: &SimCredentials,
    secret_key: &str,
    method: reqwest::Method,
    url: &str,
    body: Option<&Value>,
    date: &str,
) -> reqwest::RequestBuilder {
    let parsed = reqwest::Url::parse(url).unwrap();
    let host = format!(
        "{}:{}",
        parsed.host_str().unwrap(),
        parsed.port_or_known_default().unwrap()
    );
    let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
    let headers = vec![
        ("content-type".to_string(), "application/json".to_string()),
        ("host".to_string(), host),
        ("x-sdk-date".to_string(), date.to_string()),
    ];
    let signed: Vec<String> = ["content-type", "host", "x-sdk-date"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let canonical = canonical_request(
        method.as_str(),
        parsed.path(),
        parsed.query(),
        &headers,
        &signed,
        &bytes,
    )
    .unwrap();
    let sig = huawei_signature(secret_key, date, &canonical);
    let mut rb = client
        .request(method, parsed)
        .header("content-type", "application/json")
        .header("x-sdk-date", date)
        .header(
            "authorization",
            format!(
                "SDK-HMAC-SHA256 Access={}, SignedHeaders={}, Signature={sig}",
                creds.huawei_access_key,
                signed.join(";")
            ),
        );
    if let Some(t) = &creds.huawei_security_token {
        rb = rb.header("x-security-token", t);
    }
    if body.is_some() {
        rb = rb.body(bytes);
    }
    rb
}

/// CPH URL for a path below `/v1/{project_id}/cloud-phone/`.
pub fn cph(sim: &Simulator, rest: &str) -> String {
    format!(
        "{}/v1/{}/cloud-phone/{}",
        sim.huawei_url(),
        sim.credentials().huawei_project_id,
        rest
    )
}

/// A token-authenticated CPH call (static token); returns (status, body).
pub async fn hw(
    client: &reqwest::Client,
    sim: &Simulator,
    method: reqwest::Method,
    rest: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut rb = client
        .request(method, cph(sim, rest))
        .header("x-auth-token", &sim.credentials().huawei_token);
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let resp = rb.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, canonical(&resp.text().await.unwrap()))
}

/// Polls `f` until it returns true or `timeout` passes.
pub async fn eventually<F, Fut>(timeout: Duration, mut f: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if f().await {
            return true;
        }
        if tokio::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
