//! Pieces both vendors share: the scaled clock, the call log, fault planning, random ids.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::Response;
use rand::rngs::SmallRng;
use rand::Rng;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::config::Faults;

/// Serde helper: a `Duration` as integer milliseconds.
pub(crate) mod duration_ms {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

/// Simulated time: real monotonic time, with simulated durations multiplied by the scale.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Clock {
    pub(crate) start: Instant,
    pub(crate) scale: f64,
}

impl Clock {
    pub(crate) fn new(scale: f64) -> Self {
        Clock {
            start: Instant::now(),
            scale: if scale.is_finite() && scale >= 0.0 {
                scale
            } else {
                1.0
            },
        }
    }

    pub(crate) fn scaled(&self, d: Duration) -> Duration {
        d.mul_f64(self.scale)
    }

    /// Index of the fixed window of (scaled) length `window` that `now` falls in.
    pub(crate) fn window_index(&self, now: Instant, window: Duration) -> u64 {
        let w = self.scaled(window).as_nanos().max(1);
        (now.saturating_duration_since(self.start).as_nanos() / w) as u64
    }
}

/// One request as the simulator received it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallRecord {
    /// Sequence number, counting from 1 since the simulator started (not reset by `reset_calls`).
    pub seq: u64,
    /// Milliseconds since the simulator started.
    pub at_ms: u64,
    /// Endpoint key, e.g. `"POST /open/v1/phone/status"` or
    /// `"GET /v1/{project_id}/cloud-phone/phones/{phone_id}"`.
    pub endpoint: String,
    /// HTTP method.
    pub method: String,
    /// Path as received (still percent-encoded).
    pub path: String,
    /// Raw query string, if any.
    pub query: Option<String>,
    /// Header names (lower-case) and values, secrets included: this is a local test tool.
    pub headers: Vec<(String, String)>,
    /// Body, lossily decoded as UTF-8.
    pub body: String,
}

/// What a vendor listener has received: counts per endpoint key and the most recent requests.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallStats {
    /// Calls per endpoint key since the last reset (every received call, including rejected ones).
    pub counts: BTreeMap<String, u64>,
    /// The most recent requests, oldest first (bounded by `SimConfig::call_log_capacity`).
    pub recent: Vec<CallRecord>,
}

impl CallStats {
    /// Calls received for one endpoint key (0 if none).
    pub fn count(&self, endpoint_key: &str) -> u64 {
        self.counts.get(endpoint_key).copied().unwrap_or(0)
    }

    /// Calls received in total.
    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }
}

pub(crate) struct CallLog {
    counts: HashMap<String, u64>,
    recent: VecDeque<CallRecord>,
    capacity: usize,
    seq: u64,
}

impl CallLog {
    pub(crate) fn new(capacity: usize) -> Self {
        CallLog {
            counts: HashMap::new(),
            recent: VecDeque::new(),
            capacity,
            seq: 0,
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn record(
        &mut self,
        clock: &Clock,
        endpoint: &str,
        method: &Method,
        path: &str,
        query: Option<&str>,
        headers: &HeaderMap,
        body: &[u8],
    ) {
        self.seq += 1;
        *self.counts.entry(endpoint.to_string()).or_insert(0) += 1;
        if self.capacity == 0 {
            return;
        }
        if self.recent.len() >= self.capacity {
            self.recent.pop_front();
        }
        self.recent.push_back(CallRecord {
            seq: self.seq,
            at_ms: clock.start.elapsed().as_millis() as u64,
            endpoint: endpoint.to_string(),
            method: method.to_string(),
            path: path.to_string(),
            query: query.map(str::to_string),
            headers: headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            body: String::from_utf8_lossy(body).into_owned(),
        });
    }

    pub(crate) fn stats(&self) -> CallStats {
        CallStats {
            counts: self.counts.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            recent: self.recent.iter().cloned().collect(),
        }
    }

    pub(crate) fn count(&self, key: &str) -> u64 {
        self.counts.get(key).copied().unwrap_or(0)
    }

    pub(crate) fn reset(&mut self) {
        self.counts.clear();
        self.recent.clear();
    }
}

/// The request-level fault chosen for one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FaultKind {
    Throttle,
    Error5xx,
    ConnectionReset,
    Hang,
    Malformed,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct FaultPlan {
    pub(crate) kind: Option<FaultKind>,
    /// Whether the action is carried out (always true without a fault, never for throttling).
    pub(crate) applied: bool,
    pub(crate) hang: Duration,
}

impl FaultPlan {
    pub(crate) fn none() -> Self {
        FaultPlan {
            kind: None,
            applied: true,
            hang: Duration::ZERO,
        }
    }
}

fn roll(rng: &mut SmallRng, p: f64) -> bool {
    p > 0.0 && rng.random::<f64>() < p
}

pub(crate) fn plan_faults(rng: &mut SmallRng, faults: &Faults, endpoint: &str) -> FaultPlan {
    if !faults.targets(endpoint) {
        return FaultPlan::none();
    }
    let kind = if roll(rng, faults.throttle) {
        Some(FaultKind::Throttle)
    } else if roll(rng, faults.error_5xx) {
        Some(FaultKind::Error5xx)
    } else if roll(rng, faults.connection_reset) {
        Some(FaultKind::ConnectionReset)
    } else if roll(rng, faults.hang) {
        Some(FaultKind::Hang)
    } else if roll(rng, faults.malformed) {
        Some(FaultKind::Malformed)
    } else {
        None
    };
    let applied = match kind {
        None => true,
        Some(FaultKind::Throttle) => false,
        Some(_) => rng.random::<f64>() < faults.applied_ratio,
    };
    FaultPlan {
        kind,
        applied,
        hang: Duration::from_millis(faults.hang_duration_ms),
    }
}

/// True with probability `p` if the faults target this endpoint.
pub(crate) fn roll_targeted(rng: &mut SmallRng, faults: &Faults, endpoint: &str, p: f64) -> bool {
    p > 0.0 && faults.targets(endpoint) && roll(rng, p)
}

pub(crate) fn random_hex32(rng: &mut SmallRng) -> String {
    format!("{:032x}", rng.random::<u128>())
}

/// An 18-digit decimal id like GeeLark's (first digit 5, as in the documented examples).
pub(crate) fn random_digits18(rng: &mut SmallRng) -> String {
    let n: u64 = rng.random_range(500_000_000_000_000_000..600_000_000_000_000_000);
    n.to_string()
}

pub(crate) fn random_token(rng: &mut SmallRng, len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut s = String::with_capacity(len + 3);
    s.push_str("MII");
    for _ in 0..len {
        s.push(ALPHABET[rng.random_range(0..ALPHABET.len())] as char);
    }
    s
}

/// Sleeps for `d`, returning early when the simulator shuts down (so shutdown never waits on a
/// hanging response).
pub(crate) async fn sleep_or_shutdown(d: Duration, shutdown: &mut watch::Receiver<bool>) {
    if d.is_zero() {
        return;
    }
    tokio::select! {
        _ = tokio::time::sleep(d) => {}
        _ = shutdown.wait_for(|v| *v) => {}
    }
}

pub(crate) fn json_response(status: StatusCode, value: &serde_json::Value) -> Response {
    raw_response(status, "application/json;charset=UTF-8", value.to_string())
}

pub(crate) fn raw_response(status: StatusCode, content_type: &str, body: String) -> Response {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(body))
        .expect("static response parts are valid")
}

/// A response whose body fails immediately: hyper then aborts the connection, so the client
/// sees it cut without a complete response.
pub(crate) fn connection_reset_response() -> Response {
    let stream = futures::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "cloudphone-sim: injected connection reset",
        ))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(stream))
        .expect("static response parts are valid")
}

/// Parses `a=b&c=d` into decoded pairs (for handlers, not for signature checks).
pub(crate) fn parse_query(q: Option<&str>) -> Vec<(String, String)> {
    let Some(q) = q else { return Vec::new() };
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode_component(k), decode_component(v))
        })
        .collect()
}

fn decode_component(s: &str) -> String {
    let s = s.replace('+', " ");
    percent_encoding::percent_decode_str(&s)
        .decode_utf8_lossy()
        .into_owned()
}

pub(crate) fn query_get<'a>(q: &'a [(String, String)], key: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// Admin-side helpers shared by both vendors.
pub(crate) fn admin_error(status: StatusCode, msg: &str) -> Response {
    json_response(status, &serde_json::json!({ "error": msg }))
}

pub(crate) fn admin_ok(value: serde_json::Value) -> Response {
    json_response(StatusCode::OK, &value)
}

pub(crate) fn parse_admin_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Response> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body)
        .map_err(|e| admin_error(StatusCode::BAD_REQUEST, &format!("invalid JSON body: {e}")))
}

/// What the admin routes both vendors share need from a vendor's control handle.
pub(crate) trait AdminControl {
    /// The vendor's name in `/_sim/health`.
    const VENDOR: &'static str;
    /// The vendor's rate-limit settings.
    type Limits: Serialize + serde::de::DeserializeOwned;
    /// `{"total", "phones"}` for one page of the fleet, in seed order.
    fn phone_page(&self, offset: usize, limit: usize) -> serde_json::Value;
    /// Seeds `n` more phones.
    fn seed(&self, n: usize) -> Vec<String>;
    /// One phone's admin view.
    fn phone_json(&self, id: &str) -> Option<serde_json::Value>;
    /// Forces a phone's raw status; false for an unknown phone.
    fn force_status(&self, id: &str, status: i32) -> bool;
    /// How often each operation was applied to a phone.
    fn applied_json(&self, id: &str) -> Option<serde_json::Value>;
    /// Current faults.
    fn get_faults(&self) -> Faults;
    /// Replaces the faults.
    fn put_faults(&self, faults: Faults);
    /// Current limits.
    fn get_limits(&self) -> Self::Limits;
    /// Replaces the limits.
    fn put_limits(&self, limits: Self::Limits);
    /// The call log.
    fn call_stats(&self) -> CallStats;
    /// Empties the call log.
    fn clear_calls(&self);
}

#[derive(Deserialize)]
struct SeedReq {
    count: usize,
}

#[derive(Deserialize)]
struct StatusReq {
    status: i32,
}

/// The admin routes both vendors share (health, phones, status, applied, faults, limits,
/// calls); anything else is an unknown route.
pub(crate) fn admin_common<C: AdminControl>(
    ctl: &C,
    segs: &[&str],
    m: &Method,
    q: &[(String, String)],
    body: &[u8],
) -> Result<Response, Response> {
    let is_set = *m == Method::PUT || *m == Method::POST;
    let not_found = || admin_error(StatusCode::NOT_FOUND, "unknown phone");
    Ok(match segs {
        ["health"] => admin_ok(serde_json::json!({"ok": true, "vendor": C::VENDOR})),
        ["phones"] if *m == Method::GET => {
            let number = |key, default| {
                query_get(q, key)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(default)
            };
            admin_ok(ctl.phone_page(number("offset", 0), number("limit", 100)))
        }
        ["phones", "seed"] if *m == Method::POST => {
            let req: SeedReq = parse_admin_json(body)?;
            admin_ok(serde_json::json!({"ids": ctl.seed(req.count)}))
        }
        ["phones", id] if *m == Method::GET => match ctl.phone_json(id) {
            Some(info) => admin_ok(info),
            None => not_found(),
        },
        ["phones", id, "status"] if is_set => {
            let req: StatusReq = parse_admin_json(body)?;
            if !ctl.force_status(id, req.status) {
                return Err(not_found());
            }
            admin_ok(serde_json::json!(ctl.phone_json(id)))
        }
        ["phones", id, "applied"] if *m == Method::GET => match ctl.applied_json(id) {
            Some(a) => admin_ok(a),
            None => not_found(),
        },
        ["faults"] if *m == Method::GET => admin_ok(serde_json::json!(ctl.get_faults())),
        ["faults"] if is_set => {
            ctl.put_faults(parse_admin_json(body)?);
            admin_ok(serde_json::json!(ctl.get_faults()))
        }
        ["faults"] if *m == Method::DELETE => {
            ctl.put_faults(Faults::default());
            admin_ok(serde_json::json!(ctl.get_faults()))
        }
        ["limits"] if *m == Method::GET => admin_ok(serde_json::json!(ctl.get_limits())),
        ["limits"] if is_set => {
            ctl.put_limits(parse_admin_json(body)?);
            admin_ok(serde_json::json!(ctl.get_limits()))
        }
        ["calls"] if *m == Method::GET => admin_ok(serde_json::json!(ctl.call_stats())),
        ["calls"] if *m == Method::DELETE => {
            ctl.clear_calls();
            admin_ok(serde_json::json!({"ok": true}))
        }
        ["calls", "reset"] if *m == Method::POST => {
            ctl.clear_calls();
            admin_ok(serde_json::json!({"ok": true}))
        }
        _ => admin_error(StatusCode::NOT_FOUND, "unknown admin route"),
    })
}
