//! A vendor written against the core alone, as a new vendor module would be: the defaults of
//! `SimVendor` (settings in the per-vendor section) and the generic machinery are enough.

use std::sync::Arc;

use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::Response;
use rand::rngs::SmallRng;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::time::Instant;

use super::*;
use crate::config::SimConfig;

struct Echo;

#[derive(Default, Serialize, serde::Deserialize)]
struct EchoPhone;

#[derive(Clone, Copy, Debug, Default, Serialize, serde::Deserialize)]
struct EchoApplied {
    pings: u32,
}

impl SimPhone for EchoPhone {
    type Op = ();
    type Info = serde_json::Value;
    type Applied = EchoApplied;
    fn info(p: &Phone<Self>, now: Instant) -> serde_json::Value {
        json!({"id": p.id, "status": p.life.status_at(now)})
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
struct EchoLimits {
    per_second: Option<u32>,
}

impl VendorLimits for EchoLimits {
    fn off() -> Self {
        EchoLimits { per_second: None }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default)]
struct EchoSettings {
    key: String,
}

impl Default for EchoSettings {
    fn default() -> Self {
        EchoSettings { key: "demo".into() }
    }
}

struct Refusals;

impl FaultAnswers for Refusals {
    fn throttled(&self) -> Response {
        json_response(StatusCode::TOO_MANY_REQUESTS, &json!({}))
    }
    fn server_error(&self, _variant: u8) -> Response {
        json_response(StatusCode::INTERNAL_SERVER_ERROR, &json!({}))
    }
    fn timed_out(&self) -> Response {
        json_response(StatusCode::GATEWAY_TIMEOUT, &json!({}))
    }
    fn malformed(&self) -> Response {
        raw_response(StatusCode::OK, "application/json", "{".into())
    }
}

impl SimVendor for Echo {
    const TYPE: &'static str = "echo";
    const HEALTH_NAME: &'static str = "echo";
    const LABEL: &'static str = "Echo";
    const PROVIDER: &'static str = "ec";
    const DEFAULT_PORT: u16 = 7009;
    const AUTH_MODES: &'static [&'static str] = &["key"];
    const SEED_SALT: u64 = 9;
    const ADDED_STATUS: i32 = 1;

    type Phone = EchoPhone;
    type Limits = EchoLimits;
    type Model = ();
    type Settings = EchoSettings;
    type NewPhone = EchoNew;
    type Route = ();
    type Call = ();
    type Flags = NoFlags;

    fn apply_flags(_flags: NoFlags, _config: &mut SimConfig) {}
    fn build(config: &SimConfig) -> Result<(EchoSettings, ()), String> {
        Ok((config.vendor_settings(Self::TYPE)?, ()))
    }
    fn new_id(rng: &mut SmallRng) -> String {
        random_hex32(rng)
    }
    fn seed(st: &mut VendorState<Self>, n: usize) -> Vec<String> {
        (0..n)
            .map(|_| {
                let id = st.fresh_id();
                Self::insert(st, id.clone(), 1, EchoNew::default());
                id
            })
            .collect()
    }
    fn insert(st: &mut VendorState<Self>, id: String, status: i32, _extra: EchoNew) {
        st.fleet.push(Phone::new(id, status, EchoPhone));
    }
    fn route(parts: &Parts) -> (String, ()) {
        (format!("{} {}", parts.method, parts.uri.path()), ())
    }
    fn on_call(_st: &mut VendorState<Self>) {}
    async fn serve<'a>(sim: &'a VendorSim<Self>, mut req: Req<'a>, _: (), _: ()) -> Response {
        let key = req.parts.headers.get("x-key").and_then(|v| v.to_str().ok());
        if key != Some(sim.settings().key.as_str()) {
            return json_response(StatusCode::UNAUTHORIZED, &json!({}));
        }
        let id = parse_query(req.parts.uri.query())
            .into_iter()
            .find(|(k, _)| k == "id")
            .map(|(_, v)| v)
            .unwrap_or_default();
        let exec = || {
            let mut st = sim.lock();
            match st.fleet.get_mut(&id) {
                Some(p) => {
                    p.applied.pings += 1;
                    json_response(StatusCode::OK, &json!({"status": p.life.status}))
                }
                None => json_response(StatusCode::NOT_FOUND, &json!({})),
            }
        };
        sim.guarded(&mut req, &Refusals, |_| None, exec).await
    }
    fn banner(sim: &VendorSim<Self>) -> Vec<(&'static str, String)> {
        vec![("URL", sim.url())]
    }
    fn provider_table(
        s: &EchoSettings,
        _auth: &str,
        url: &str,
        secret: Option<&str>,
    ) -> Vec<(&'static str, String)> {
        vec![
            ("url", url.into()),
            ("key", secret.unwrap_or(&s.key).into()),
        ]
    }
}

#[derive(Debug, Default, Deserialize)]
struct EchoNew {}

#[tokio::test]
async fn a_vendor_needs_only_its_own_pieces() {
    let entry = VendorEntry::of::<Echo>();
    let mut config = SimConfig::default()
        .with_vendor_phones("echo", 3)
        .with_vendor_setting("echo", "key", "secret-key");
    assert!(
        (entry.set_limits_json)(&mut config, json!({"per_second": 5})).is_ok(),
        "limits kept in the per-vendor section"
    );
    let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
    let (_tx, shutdown) = watch::channel(false);
    let launch = Launch {
        addr: listener.local_addr().unwrap(),
        ca_file: None,
        clock: Clock::new(1.0),
        shutdown,
    };
    let launched = (entry.launch)(&mut config, launch).unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, launched.router).await });
    let echo: Arc<dyn VendorControl> = launched.handle;
    assert_eq!(echo.phone_count(), 3);
    assert_eq!(echo.limits_json()["per_second"], 5);
    let table = echo.provider_table(&TableOptions::new()).unwrap();
    assert!(table.starts_with("type = \"echo\"\n"));
    assert!(table.contains("key = \"secret-key\""));
    assert!(echo.banner().starts_with("Echo      URL      : http://"));

    let id = echo.phone_ids()[0].clone();
    let c = reqwest::Client::new();
    let ping = |key: &'static str| {
        c.get(format!("{}/ping?id={id}", echo.url()))
            .header("x-key", key)
            .send()
    };
    assert_eq!(ping("secret-key").await.unwrap().status(), 200);
    assert_eq!(ping("wrong").await.unwrap().status(), 401);
    assert_eq!(echo.applied_json(&id).unwrap()["pings"], 1);
    assert_eq!(echo.calls().count("GET /ping"), 2);
    let health = c.get(format!("{}/_sim/health", echo.url())).send().await;
    let health: serde_json::Value = health.unwrap().json().await.unwrap();
    assert_eq!(health["vendor"], "echo");
    echo.set_faults(crate::Faults {
        error_5xx: 1.0,
        applied_ratio: 1.0,
        ..Default::default()
    });
    assert_eq!(ping("secret-key").await.unwrap().status(), 500);
    assert_eq!(echo.applied_json(&id).unwrap()["pings"], 2);
    server.abort();
}
