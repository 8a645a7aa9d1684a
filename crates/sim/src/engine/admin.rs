//! The admin API under `/_sim/`, written once: health, phones, status, applied counters, faults,
//! limits, calls, CPU stats and rate-limit meters for every vendor; a vendor adds its own routes through
//! [`SimVendor::admin`].

use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;
use tokio::time::Instant;

use super::state::VendorSim;
use super::util::{json_response, parse_query, query_get};
use super::{SimPhone, SimVendor};
use crate::config::Faults;

/// One admin request: the path below `/_sim/` in segments, the method, query and body.
pub struct AdminReq<'a> {
    pub(crate) segs: Vec<&'a str>,
    pub(crate) method: &'a Method,
    pub(crate) query: Vec<(String, String)>,
    pub(crate) body: &'a [u8],
}

impl AdminReq<'_> {
    /// PUT and POST both set.
    pub(crate) fn is_set(&self) -> bool {
        *self.method == Method::PUT || *self.method == Method::POST
    }
}

pub(crate) fn admin_error(status: StatusCode, msg: &str) -> Response {
    json_response(status, &json!({ "error": msg }))
}

pub(crate) fn admin_ok(value: serde_json::Value) -> Response {
    json_response(StatusCode::OK, &value)
}

/// The JSON body of an admin request (an empty body reads as `{}`); a 400 if it is not valid.
pub(crate) fn parse_admin_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Response> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body)
        .map_err(|e| admin_error(StatusCode::BAD_REQUEST, &format!("invalid JSON body: {e}")))
}

pub(crate) fn unknown_phone() -> Response {
    admin_error(StatusCode::NOT_FOUND, "unknown phone")
}

/// Answers one admin request: the shared routes, then the vendor's, else 404.
pub(crate) fn serve<V: SimVendor>(sim: &VendorSim<V>, parts: &Parts, body: &[u8]) -> Response {
    let path = parts.uri.path().trim_end_matches('/');
    let req = AdminReq {
        segs: path.split('/').skip(2).collect(),
        method: &parts.method,
        query: parse_query(parts.uri.query()),
        body,
    };
    let answer = match shared(sim, &req) {
        Ok(None) => V::admin(sim, &req),
        other => other,
    };
    match answer {
        Ok(Some(resp)) | Err(resp) => resp,
        Ok(None) => admin_error(StatusCode::NOT_FOUND, "unknown admin route"),
    }
}

#[derive(Deserialize)]
struct SeedReq {
    count: usize,
}

#[derive(Deserialize)]
struct RatesReq {
    window_ms: Option<u64>,
}

#[derive(Deserialize)]
struct StatusReq {
    status: i32,
}

#[derive(Deserialize)]
struct AddReq<E> {
    id: Option<String>,
    status: Option<i32>,
    #[serde(flatten)]
    extra: E,
}

/// The routes every vendor has; `Ok(None)` for any other.
fn shared<V: SimVendor>(
    sim: &VendorSim<V>,
    req: &AdminReq<'_>,
) -> Result<Option<Response>, Response> {
    let m = req.method;
    let body = req.body;
    let json_of = |v: Option<serde_json::Value>| v.map(admin_ok).ok_or_else(unknown_phone);
    let phone_json = |id: &str| sim.phone(id).map(|p| json!(p));
    Ok(Some(match req.segs.as_slice() {
        ["health"] => admin_ok(json!({"ok": true, "vendor": V::HEALTH_NAME})),
        ["phones"] if *m == Method::GET => {
            let number = |key, default| {
                query_get(&req.query, key)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(default)
            };
            let (offset, limit) = (number("offset", 0), number("limit", 100));
            let now = Instant::now();
            let st = sim.lock();
            let phones: Vec<_> = st
                .fleet
                .phones
                .iter()
                .skip(offset)
                .take(limit)
                .map(|p| V::Phone::info(p, now))
                .collect();
            admin_ok(json!({"total": st.fleet.len(), "phones": phones}))
        }
        ["phones"] if *m == Method::POST => {
            let add: AddReq<V::NewPhone> = parse_admin_json(body)?;
            let mut st = sim.lock();
            let id = match add.id {
                Some(id) => id,
                None => st.fresh_id(),
            };
            if st.fleet.contains(&id) {
                return Err(admin_error(StatusCode::CONFLICT, "phone id already exists"));
            }
            let status = add.status.unwrap_or(V::ADDED_STATUS);
            V::insert(&mut st, id.clone(), status, add.extra);
            admin_ok(json!({"id": id}))
        }
        ["phones", "seed"] if *m == Method::POST => {
            let seed: SeedReq = parse_admin_json(body)?;
            admin_ok(json!({"ids": sim.seed_phones(seed.count)}))
        }
        ["phones", id] if *m == Method::GET => json_of(phone_json(id))?,
        ["phones", id, "status"] if req.is_set() => {
            let set: StatusReq = parse_admin_json(body)?;
            if !sim.set_status(id, set.status) {
                return Err(unknown_phone());
            }
            admin_ok(json!(phone_json(id)))
        }
        ["phones", id, "applied"] if *m == Method::GET => {
            json_of(sim.applied(id).map(|a| json!(a)))?
        }
        ["faults"] if *m == Method::GET => admin_ok(json!(sim.faults())),
        ["faults"] if req.is_set() => {
            sim.set_faults(parse_admin_json(body)?);
            admin_ok(json!(sim.faults()))
        }
        ["faults"] if *m == Method::DELETE => {
            sim.set_faults(Faults::default());
            admin_ok(json!(sim.faults()))
        }
        ["limits"] if *m == Method::GET => admin_ok(json!(sim.limits())),
        ["limits"] if req.is_set() => {
            sim.set_limits(parse_admin_json(body)?);
            admin_ok(json!(sim.limits()))
        }
        ["rates"] if *m == Method::GET => admin_ok(json!(sim.rates())),
        ["rates"] if *m == Method::DELETE => {
            sim.reset_rates(None);
            admin_ok(json!(sim.rates()))
        }
        ["rates"] if req.is_set() => {
            let set: RatesReq = parse_admin_json(body)?;
            sim.reset_rates(set.window_ms.map(std::time::Duration::from_millis));
            admin_ok(json!(sim.rates()))
        }
        ["calls"] if *m == Method::GET => admin_ok(json!(sim.calls())),
        ["stats"] if *m == Method::GET => {
            // The process clock is read first: the handlers' sums never exceed it.
            let process = super::cpu::process_cpu_time();
            let st = sim.lock();
            let cpu = st.calls.cpu_ns();
            admin_ok(json!({
                "calls": st.calls.counts(),
                "cpu_ns": cpu,
                "cpu_ns_total": cpu.values().sum::<u64>(),
                "process_cpu_ns": u64::try_from(process.as_nanos()).unwrap_or(u64::MAX),
                "peak_rss_kib": super::cpu::peak_rss_kib(),
            }))
        }
        ["calls"] if *m == Method::DELETE => {
            sim.reset_calls();
            admin_ok(json!({"ok": true}))
        }
        ["calls", "reset"] if *m == Method::POST => {
            sim.reset_calls();
            admin_ok(json!({"ok": true}))
        }
        _ => return Ok(None),
    }))
}
