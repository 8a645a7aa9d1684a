//! Shared fixtures: the documented signing test vector and a provider pointed at mockito.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use cloudphone_geelark::{GeelarkConfig, GeelarkProvider};
use mockito::{Matcher, Mock, Server};
use serde_json::{json, Value};

pub const APP_ID: &str = "eH6gQR4oHr3FsZpI36La01IW";
pub const API_KEY: &str = "YjmFIUuq0oJgSDJ42fxLEb6R1qjjqf";
pub const TRACE_ID: &str = "db6094ab-3797-4186-84d5-b0b58eebad56";
pub const TS: u64 = 1716972892166;
pub const NONCE: &str = "db6094";
pub const SIGN: &str = "6280C080AF7C3CCE168F15C913E3444A00A618CB0E16038EED9811D6E3366BDD";

/// Key verification against `server`, no client-side rate limit, tiny retry delays.
pub fn key_config(server: &Server) -> GeelarkConfig {
    GeelarkConfig::with_api_key(APP_ID, API_KEY)
        .base_url(server.url())
        .rate_limits(0, 0)
        .retries(4, 1, 5)
}

/// A provider with the documented clock and trace id, so every `sign` is the test vector's.
pub fn fixed(config: GeelarkConfig) -> GeelarkProvider {
    GeelarkProvider::builder(config)
        .clock(|| TS)
        .trace_ids(|| TRACE_ID.to_owned())
        .build()
        .unwrap()
}

/// Trace ids `T0000001`, `T0000002` … and a clock that ticks one millisecond per call; the
/// returned counter tells how many attempts were made.
pub fn counting(config: GeelarkConfig) -> (GeelarkProvider, Arc<AtomicU64>) {
    let n = Arc::new(AtomicU64::new(0));
    let (a, b) = (n.clone(), Arc::new(AtomicU64::new(TS)));
    let p = GeelarkProvider::builder(config)
        .trace_ids(move || format!("T{:07}", a.fetch_add(1, Ordering::SeqCst) + 1))
        .clock(move || b.fetch_add(1, Ordering::SeqCst))
        .build()
        .unwrap();
    (p, n)
}

/// A mock of `POST path` that requires the test vector's key-verification headers.
pub fn signed(server: &mut Server, path: &str) -> Mock {
    server
        .mock("POST", path)
        .match_header("appId", APP_ID)
        .match_header("traceId", TRACE_ID)
        .match_header("ts", "1716972892166")
        .match_header("nonce", NONCE)
        .match_header("sign", SIGN)
        .match_header("content-type", "application/json")
        .match_header("authorization", Matcher::Missing)
}

/// A GeeLark envelope.
pub fn envelope(code: i64, msg: &str, data: Value) -> String {
    json!({"traceId": "8F1E2D3C4B5A69788796A5B4C3D2E1F0", "code": code, "msg": msg, "data": data})
        .to_string()
}

/// A success envelope with a Chinese message, as the service sends.
pub fn ok(data: Value) -> String {
    envelope(0, "成功", data)
}

pub fn ids(v: &[&str]) -> Vec<cloudphone_core::PhoneId> {
    v.iter()
        .map(|s| cloudphone_core::PhoneId::from(*s))
        .collect()
}
