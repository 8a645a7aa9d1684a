//! The GeeLark side: phone state, the `/open/v1` API, the admin API and the in-process control.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::{to_bytes, Bytes};
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::common::{
    admin_common, admin_error, admin_ok, connection_reset_response, json_response,
    parse_admin_json, parse_query, plan_faults, random_digits18, raw_response, roll_targeted,
    sleep_or_shutdown, AdminControl, CallLog, CallStats, Clock, FaultKind,
};
use crate::config::{Faults, GeelarkLimits, SimCredentials, Timings};
use crate::sign::geelark_sign;

const MAX_BODY: usize = 16 * 1024 * 1024;
const OK_MSG: &str = "成功";

/// GeeLark phone status codes.
pub mod status {
    /// Started (running).
    pub const STARTED: i32 = 0;
    /// Starting.
    pub const STARTING: i32 = 1;
    /// Shut down.
    pub const SHUT_DOWN: i32 = 2;
    /// Expired.
    pub const EXPIRED: i32 = 3;
}

/// How many times each state-changing operation was accepted and carried out for one phone
/// (counted even when a fault then hid the answer from the client).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GeelarkApplied {
    /// Accepted `phone/start` requests.
    pub starts: u32,
    /// Accepted `phone/stop` requests.
    pub stops: u32,
    /// Accepted `phone/restart` requests.
    pub restarts: u32,
    /// Accepted `v2/phone/newOne` (reset) requests.
    pub new_ones: u32,
}

/// Flags that make GeeLark refuse to stop a phone.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct GeelarkFlags {
    /// Someone is remotely connected: stop answers 43006.
    pub remote_connected: bool,
    /// The phone is executing a task: stop answers 43005.
    pub executing_task: bool,
}

/// A snapshot of one GeeLark phone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GeelarkPhoneInfo {
    /// Phone id.
    pub id: String,
    /// Display name.
    pub serial_name: String,
    /// Current status code (see [`status`]).
    pub status: i32,
    /// Refusal flags.
    pub flags: GeelarkFlags,
    /// True while a one-click new machine is in progress.
    pub new_one_in_progress: bool,
    /// Applied-operation counters.
    pub applied: GeelarkApplied,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Start,
    Stop,
    Restart,
    NewOne,
}

#[derive(Clone, Copy, Debug)]
struct Pending {
    op: Op,
    during: i32,
    after: i32,
    until: Instant,
}

struct Phone {
    id: String,
    serial_name: String,
    serial_no: u32,
    status: i32,
    pending: Option<Pending>,
    flags: GeelarkFlags,
    applied: GeelarkApplied,
}

impl Phone {
    fn status_at(&self, now: Instant) -> i32 {
        match self.pending {
            Some(p) if now < p.until => p.during,
            Some(p) => p.after,
            None => self.status,
        }
    }

    fn settle(&mut self, now: Instant) {
        if let Some(p) = self.pending {
            if now >= p.until {
                self.status = p.after;
                self.pending = None;
            }
        }
    }

    fn new_one_running(&self, now: Instant) -> bool {
        matches!(self.pending, Some(p) if p.op == Op::NewOne && now < p.until)
    }

    fn group(&self) -> (String, String) {
        let g = (self.serial_no.saturating_sub(1)) % 4 + 1;
        (format!("70000000000000000{g}"), format!("group-{g}"))
    }

    fn info(&self, now: Instant) -> GeelarkPhoneInfo {
        GeelarkPhoneInfo {
            id: self.id.clone(),
            serial_name: self.serial_name.clone(),
            status: self.status_at(now),
            flags: self.flags,
            new_one_in_progress: self.new_one_running(now),
            applied: self.applied,
        }
    }
}

#[derive(Default)]
struct RateState {
    minute_idx: u64,
    minute_count: u32,
    hour_idx: u64,
    hour_count: u32,
    locked_until: Option<Instant>,
}

pub(crate) struct GlState {
    phones: Vec<Phone>,
    index: HashMap<String, usize>,
    rng: SmallRng,
    faults: Faults,
    limits: GeelarkLimits,
    rates: HashMap<String, RateState>,
    calls: CallLog,
}

pub(crate) struct Shared {
    state: Mutex<GlState>,
    clock: Clock,
    creds: SimCredentials,
    timings: Timings,
    latency: Duration,
    max_skew: Option<Duration>,
    base_url: String,
    shutdown: watch::Receiver<bool>,
}

pub(crate) struct Setup {
    pub(crate) seed: u64,
    pub(crate) phones: usize,
    pub(crate) clock: Clock,
    pub(crate) creds: SimCredentials,
    pub(crate) timings: Timings,
    pub(crate) latency: Duration,
    pub(crate) max_skew: Option<Duration>,
    pub(crate) base_url: String,
    pub(crate) limits: GeelarkLimits,
    pub(crate) faults: Faults,
    pub(crate) call_log_capacity: usize,
    pub(crate) shutdown: watch::Receiver<bool>,
}

pub(crate) fn build(setup: Setup) -> GeelarkControl {
    let mut st = GlState {
        phones: Vec::with_capacity(setup.phones),
        index: HashMap::with_capacity(setup.phones),
        rng: SmallRng::seed_from_u64(setup.seed ^ 0x6765_656c_6172_6b00),
        faults: setup.faults,
        limits: setup.limits,
        rates: HashMap::new(),
        calls: CallLog::new(setup.call_log_capacity),
    };
    st.seed(setup.phones);
    GeelarkControl {
        shared: Arc::new(Shared {
            state: Mutex::new(st),
            clock: setup.clock,
            creds: setup.creds,
            timings: setup.timings,
            latency: setup.latency,
            max_skew: setup.max_skew,
            base_url: setup.base_url,
            shutdown: setup.shutdown,
        }),
    }
}

impl GlState {
    fn seed(&mut self, n: usize) -> Vec<String> {
        let mut ids = Vec::with_capacity(n);
        for _ in 0..n {
            let id = loop {
                let id = random_digits18(&mut self.rng);
                if !self.index.contains_key(&id) {
                    break id;
                }
            };
            // A realistic fleet: mostly running, some shut down, a few expired.
            let roll: f64 = self.rng.random();
            let status = if roll < 0.6 {
                status::STARTED
            } else if roll < 0.95 {
                status::SHUT_DOWN
            } else {
                status::EXPIRED
            };
            self.insert(id.clone(), status, None);
            ids.push(id);
        }
        ids
    }

    fn insert(&mut self, id: String, status: i32, serial_name: Option<String>) {
        let serial_no = self.phones.len() as u32 + 1;
        self.index.insert(id.clone(), self.phones.len());
        self.phones.push(Phone {
            id,
            serial_name: serial_name.unwrap_or_else(|| format!("phone-{serial_no:04}")),
            serial_no,
            status,
            pending: None,
            flags: GeelarkFlags::default(),
            applied: GeelarkApplied::default(),
        });
    }

    fn phone(&self, id: &str) -> Option<&Phone> {
        self.index.get(id).map(|&i| &self.phones[i])
    }

    fn phone_mut(&mut self, id: &str) -> Option<&mut Phone> {
        match self.index.get(id) {
            Some(&i) => Some(&mut self.phones[i]),
            None => None,
        }
    }

    /// Returns the envelope code and message if the call must be refused.
    fn rate_limit(&mut self, clock: &Clock, path: &str, now: Instant) -> Option<(i64, String)> {
        let limits = self.limits.clone();
        if limits.per_minute.is_none() && limits.per_hour.is_none() {
            return None;
        }
        let minute_idx = clock.window_index(now, Duration::from_secs(60));
        let hour_idx = clock.window_index(now, Duration::from_secs(3600));
        let r = self.rates.entry(path.to_string()).or_default();
        if let Some(until) = r.locked_until {
            if now < until {
                return Some((
                    40014,
                    "Hourly request limit exceeded, the API is locked for two hours".into(),
                ));
            }
            r.locked_until = None;
        }
        if r.minute_idx != minute_idx {
            r.minute_idx = minute_idx;
            r.minute_count = 0;
        }
        if r.hour_idx != hour_idx {
            r.hour_idx = hour_idx;
            r.hour_count = 0;
        }
        if let Some(per_hour) = limits.per_hour {
            if r.hour_count >= per_hour {
                r.locked_until = Some(now + clock.scaled(limits.hourly_lock));
                r.hour_count = 0;
                return Some((
                    40014,
                    "Hourly request limit exceeded, the API is locked for two hours".into(),
                ));
            }
        }
        if let Some(per_minute) = limits.per_minute {
            if r.minute_count >= per_minute {
                return Some((
                    40007,
                    "Too many requests, the limit is lifted next minute".into(),
                ));
            }
        }
        r.minute_count += 1;
        r.hour_count += 1;
        None
    }
}

/// A cheap, cloneable in-process handle to the GeeLark side of a running simulator.
#[derive(Clone)]
pub struct GeelarkControl {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for GeelarkControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeelarkControl")
            .field("base_url", &self.shared.base_url)
            .finish_non_exhaustive()
    }
}

impl GeelarkControl {
    fn lock(&self) -> MutexGuard<'_, GlState> {
        self.shared
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The GeeLark base URL.
    pub fn url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// Seeds `n` more phones with random ids and states; returns their ids.
    pub fn seed_phones(&self, n: usize) -> Vec<String> {
        self.lock().seed(n)
    }

    /// Adds a phone with the given id and raw status; false if the id already exists.
    pub fn add_phone(&self, id: &str, status: i32) -> bool {
        let mut st = self.lock();
        if st.index.contains_key(id) {
            return false;
        }
        st.insert(id.to_string(), status, None);
        true
    }

    /// Every phone id, in insertion (seed) order.
    pub fn phone_ids(&self) -> Vec<String> {
        self.lock().phones.iter().map(|p| p.id.clone()).collect()
    }

    /// Number of phones.
    pub fn phone_count(&self) -> usize {
        self.lock().phones.len()
    }

    /// A snapshot of one phone.
    pub fn phone(&self, id: &str) -> Option<GeelarkPhoneInfo> {
        let now = Instant::now();
        self.lock().phone(id).map(|p| p.info(now))
    }

    /// Current raw status of a phone.
    pub fn status(&self, id: &str) -> Option<i32> {
        let now = Instant::now();
        self.lock().phone(id).map(|p| p.status_at(now))
    }

    /// Sets a phone's raw status at once, cancelling any transition; false if unknown.
    pub fn set_status(&self, id: &str, status: i32) -> bool {
        match self.lock().phone_mut(id) {
            Some(p) => {
                p.pending = None;
                p.status = status;
                true
            }
            None => false,
        }
    }

    /// A phone's refusal flags.
    pub fn flags(&self, id: &str) -> Option<GeelarkFlags> {
        self.lock().phone(id).map(|p| p.flags)
    }

    /// Sets a phone's refusal flags; false if unknown.
    pub fn set_flags(&self, id: &str, flags: GeelarkFlags) -> bool {
        match self.lock().phone_mut(id) {
            Some(p) => {
                p.flags = flags;
                true
            }
            None => false,
        }
    }

    /// Sets only the `remote_connected` flag; false if unknown.
    pub fn set_remote_connected(&self, id: &str, on: bool) -> bool {
        match self.lock().phone_mut(id) {
            Some(p) => {
                p.flags.remote_connected = on;
                true
            }
            None => false,
        }
    }

    /// Sets only the `executing_task` flag; false if unknown.
    pub fn set_executing_task(&self, id: &str, on: bool) -> bool {
        match self.lock().phone_mut(id) {
            Some(p) => {
                p.flags.executing_task = on;
                true
            }
            None => false,
        }
    }

    /// Applied-operation counters of a phone.
    pub fn applied(&self, id: &str) -> Option<GeelarkApplied> {
        self.lock().phone(id).map(|p| p.applied)
    }

    /// Accepted one-click-new-machine (reset) requests for a phone (0 if unknown).
    pub fn applied_resets(&self, id: &str) -> u32 {
        self.applied(id).map_or(0, |a| a.new_ones)
    }

    /// Accepted start requests for a phone (0 if unknown).
    pub fn applied_starts(&self, id: &str) -> u32 {
        self.applied(id).map_or(0, |a| a.starts)
    }

    /// Accepted stop requests for a phone (0 if unknown).
    pub fn applied_stops(&self, id: &str) -> u32 {
        self.applied(id).map_or(0, |a| a.stops)
    }

    /// Accepted restart requests for a phone (0 if unknown).
    pub fn applied_restarts(&self, id: &str) -> u32 {
        self.applied(id).map_or(0, |a| a.restarts)
    }

    /// The faults in force.
    pub fn faults(&self) -> Faults {
        self.lock().faults.clone()
    }

    /// Replaces the faults (takes effect on the next request).
    pub fn set_faults(&self, faults: Faults) {
        self.lock().faults = faults;
    }

    /// Removes every fault.
    pub fn clear_faults(&self) {
        self.set_faults(Faults::default());
    }

    /// The rate limits in force.
    pub fn limits(&self) -> GeelarkLimits {
        self.lock().limits.clone()
    }

    /// Replaces the rate limits and forgets current windows and locks.
    pub fn set_limits(&self, limits: GeelarkLimits) {
        let mut st = self.lock();
        st.limits = limits;
        st.rates.clear();
    }

    /// Calls received so far.
    pub fn calls(&self) -> CallStats {
        self.lock().calls.stats()
    }

    /// Calls received for one endpoint key, e.g. `"POST /open/v1/phone/stop"`.
    pub fn call_count(&self, endpoint_key: &str) -> u64 {
        self.lock().calls.count(endpoint_key)
    }

    /// Clears call counters and the call log.
    pub fn reset_calls(&self) {
        self.lock().calls.reset();
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP

fn envelope(trace: &str, code: i64, msg: &str, data: Value) -> Response {
    json_response(
        StatusCode::OK,
        &json!({ "traceId": trace, "code": code, "msg": msg, "data": data }),
    )
}

fn route(path: &str) -> Option<&'static str> {
    Some(match path {
        "/open/v1/phone/status" => "status",
        "/open/v1/phone/stop" => "stop",
        "/open/v1/phone/start" => "start",
        "/open/v1/phone/restart" => "restart",
        "/open/v2/phone/newOne" => "newOne",
        "/open/v1/phone/list" => "list",
        "/open/v1/auth/status" => "auth",
        _ => return None,
    })
}

pub(crate) async fn handle(State(ctl): State<GeelarkControl>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = match to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => return raw_response(StatusCode::PAYLOAD_TOO_LARGE, "text/plain", String::new()),
    };
    let path = parts.uri.path().to_string();
    if path == "/_sim" || path.starts_with("/_sim/") {
        return admin(&ctl, &parts, &body);
    }
    let sh = &ctl.shared;
    let endpoint = format!("{} {}", parts.method, path);
    let latency = {
        let mut st = ctl.lock();
        st.calls.record(
            &sh.clock,
            &endpoint,
            &parts.method,
            &path,
            parts.uri.query(),
            &parts.headers,
            &body,
        );
        sh.latency + Duration::from_millis(st.faults.latency_ms)
    };
    let mut shutdown = sh.shutdown.clone();
    sleep_or_shutdown(latency, &mut shutdown).await;

    let trace = header_str(&parts.headers, "traceid").unwrap_or_default();
    let Some(op) = route(&path) else {
        return json_response(
            StatusCode::NOT_FOUND,
            &json!({"traceId": trace, "code": 40000, "msg": "API not found", "data": null}),
        );
    };
    if parts.method != Method::POST {
        return json_response(
            StatusCode::METHOD_NOT_ALLOWED,
            &json!({"traceId": trace, "code": 40000, "msg": "Request method not supported", "data": null}),
        );
    }
    if let Err((code, msg)) = ctl.check_auth(&parts.headers) {
        return envelope(&trace, code, msg, Value::Null);
    }
    let (plan, variant) = {
        let mut st = ctl.lock();
        if let Some((code, msg)) = st.rate_limit(&sh.clock, &path, Instant::now()) {
            return envelope(&trace, code, &msg, Value::Null);
        }
        let faults = st.faults.clone();
        let plan = plan_faults(&mut st.rng, &faults, &endpoint);
        let variant: u8 = if plan.kind.is_some() {
            st.rng.random_range(0..3)
        } else {
            0
        };
        (plan, variant)
    };
    let exec = || ctl.execute(op, &endpoint, &trace, &body);
    match plan.kind {
        None => exec(),
        Some(FaultKind::Throttle) => envelope(
            &trace,
            40007,
            "Too many requests, the limit is lifted next minute",
            Value::Null,
        ),
        Some(FaultKind::Error5xx) => {
            if plan.applied {
                let _ = exec();
            }
            error_5xx(&trace, variant)
        }
        Some(FaultKind::ConnectionReset) => {
            if plan.applied {
                let _ = exec();
            }
            connection_reset_response()
        }
        Some(FaultKind::Hang) => {
            let answer = plan.applied.then(exec);
            sleep_or_shutdown(plan.hang, &mut shutdown).await;
            answer.unwrap_or_else(|| {
                raw_response(
                    StatusCode::GATEWAY_TIMEOUT,
                    "text/html",
                    "<html><head><title>504 Gateway Time-out</title></head><body><center><h1>504 Gateway Time-out</h1></center><hr><center>nginx</center></body></html>".into(),
                )
            })
        }
        Some(FaultKind::Malformed) => {
            if plan.applied {
                let _ = exec();
            }
            raw_response(
                StatusCode::OK,
                "application/json;charset=UTF-8",
                format!("{{\"traceId\":\"{trace}\",\"code\":0,\"msg\":\"成功\",\"data\":{{\"totalAmount\":"),
            )
        }
    }
}

fn error_5xx(trace: &str, variant: u8) -> Response {
    match variant {
        0 => json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            &json!({"traceId": trace, "code": 50000, "msg": "internal error", "data": null}),
        ),
        1 => raw_response(
            StatusCode::BAD_GATEWAY,
            "text/html",
            "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>".into(),
        ),
        _ => raw_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "text/html",
            "<html><head><title>503 Service Temporarily Unavailable</title></head><body><center><h1>503 Service Temporarily Unavailable</h1></center><hr><center>nginx</center></body></html>".into(),
        ),
    }
}

fn header_str(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_string())
}

/// Reads `ids` as strings, accepting numbers too (some GeeLark docs type ids as integers).
fn ids_of(v: &Value) -> Option<Vec<String>> {
    v.as_array()?
        .iter()
        .map(|x| match x {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
        .collect()
}

fn single_id(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

type ApiError = (i64, &'static str);

impl GeelarkControl {
    fn check_auth(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let creds = &self.shared.creds;
        let trace = header_str(headers, "traceid").unwrap_or_default();
        if trace.is_empty() {
            return Err((40002, "traceId is empty"));
        }
        if let Some(auth) = header_str(headers, "authorization") {
            let token = auth
                .strip_prefix("Bearer ")
                .or_else(|| auth.strip_prefix("bearer "))
                .unwrap_or("")
                .trim();
            return if token == creds.geelark_token {
                Ok(())
            } else {
                Err((40003, "Invalid token"))
            };
        }
        const BAD_SIGN: ApiError = (40003, "Signature verification failed");
        let get = |n: &str| header_str(headers, n).filter(|s| !s.is_empty());
        let (Some(app_id), Some(ts), Some(nonce), Some(sign)) =
            (get("appid"), get("ts"), get("nonce"), get("sign"))
        else {
            return Err(BAD_SIGN);
        };
        if app_id != creds.geelark_app_id {
            return Err(BAD_SIGN);
        }
        if !trace.starts_with(&nonce) || nonce.chars().count() != 6 {
            return Err(BAD_SIGN);
        }
        let Ok(ts_ms) = ts.parse::<u64>() else {
            return Err(BAD_SIGN);
        };
        if let Some(skew) = self.shared.max_skew {
            let now_ms = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis() as u64;
            if now_ms.abs_diff(ts_ms) > skew.as_millis() as u64 {
                return Err(BAD_SIGN);
            }
        }
        let expected = geelark_sign(&app_id, &trace, &ts, &nonce, &creds.geelark_api_key);
        if sign == expected {
            Ok(())
        } else {
            Err(BAD_SIGN)
        }
    }

    fn execute(&self, op: &str, endpoint: &str, trace: &str, body: &Bytes) -> Response {
        let body: Value = if body.iter().all(u8::is_ascii_whitespace) {
            json!({})
        } else {
            match serde_json::from_slice(body) {
                Ok(v) => v,
                Err(_) => {
                    return envelope(trace, 40001, "Request body unreadable", Value::Null);
                }
            }
        };
        if !body.is_object() {
            return envelope(trace, 40001, "Request body unreadable", Value::Null);
        }
        let result = match op {
            "auth" => Ok(Value::Null),
            "status" | "stop" | "start" => self.batch(op, endpoint, &body),
            "restart" | "newOne" => self.single(op, &body),
            "list" => self.list(&body),
            _ => Err((40000, "unknown")),
        };
        match result {
            Ok(data) => envelope(trace, 0, OK_MSG, data),
            Err((code, msg)) => envelope(trace, code, msg, Value::Null),
        }
    }

    fn batch(&self, op: &str, endpoint: &str, body: &Value) -> Result<Value, ApiError> {
        let Some(ids) = body.get("ids").and_then(ids_of) else {
            return Err((40004, "Parameter validation failed: ids"));
        };
        let max = if op == "status" { 100 } else { 200 };
        if ids.is_empty() || ids.len() > max {
            return Err((40004, "Parameter validation failed: ids"));
        }
        if op == "start" {
            if let Some(w) = body.get("width").filter(|w| !w.is_null()) {
                if !w.as_i64().is_some_and(|w| (200..=600).contains(&w)) {
                    return Err((40004, "Parameter validation failed: width"));
                }
            }
        }
        let sh = &self.shared;
        let now = Instant::now();
        let mut st = self.lock();
        let faults = st.faults.clone();
        let mut success = Vec::new();
        let mut fail = Vec::new();
        for id in &ids {
            let outcome = match st.index.get(id.as_str()).copied() {
                None => Err((42001, "env not found")),
                Some(i) => {
                    let p = &mut st.phones[i];
                    p.settle(now);
                    let cur = p.status_at(now);
                    match op {
                        "status" => {
                            Ok(json!({"id": p.id, "serialName": p.serial_name, "status": cur}))
                        }
                        "stop" => {
                            if p.flags.remote_connected {
                                Err((43006, "The cloud phone is being remotely connected"))
                            } else if p.flags.executing_task {
                                Err((43005, "The cloud phone is executing a task"))
                            } else if p.new_one_running(now) {
                                Err((43011, "One-click new machine in progress"))
                            } else if cur == status::EXPIRED {
                                Err((43004, "The cloud phone has expired"))
                            } else {
                                if cur != status::SHUT_DOWN {
                                    p.pending = Some(Pending {
                                        op: Op::Stop,
                                        during: cur,
                                        after: status::SHUT_DOWN,
                                        until: now + sh.clock.scaled(sh.timings.geelark_stop),
                                    });
                                }
                                p.applied.stops += 1;
                                Ok(json!({"id": p.id, "serialName": p.serial_name, "status": cur}))
                            }
                        }
                        _ => {
                            if cur == status::EXPIRED {
                                Err((43004, "The cloud phone has expired"))
                            } else {
                                // A pending stop would still take the phone down: start
                                // cancels it (already up) or starts it afresh.
                                let stopping = p.pending.is_some_and(|x| x.op == Op::Stop);
                                if stopping && cur == status::STARTED {
                                    p.pending = None;
                                    p.status = status::STARTED;
                                }
                                let busy_starting = cur == status::STARTING
                                    && p.pending.is_some_and(|x| x.after == status::STARTED);
                                if cur != status::STARTED && !busy_starting {
                                    p.pending = Some(Pending {
                                        op: Op::Start,
                                        during: status::STARTING,
                                        after: status::STARTED,
                                        until: now + sh.clock.scaled(sh.timings.geelark_start),
                                    });
                                }
                                p.applied.starts += 1;
                                Ok(json!({
                                    "id": p.id,
                                    "url": format!("{}/_sim/live/{}", sh.base_url, p.id),
                                    "chargingMethod": p.serial_no % 2,
                                }))
                            }
                        }
                    }
                }
            };
            if roll_targeted(&mut st.rng, &faults, endpoint, faults.drop_ids) {
                continue;
            }
            match outcome {
                Ok(v) => success.push(v),
                Err((code, msg)) => fail.push(json!({"code": code, "id": id, "msg": msg})),
            }
        }
        Ok(json!({
            "totalAmount": ids.len(),
            "successAmount": success.len(),
            "failAmount": fail.len(),
            "successDetails": success,
            "failDetails": fail,
        }))
    }

    fn single(&self, op: &str, body: &Value) -> Result<Value, ApiError> {
        let Some(id) = body.get("id").and_then(single_id) else {
            return Err((40004, "Parameter validation failed: id"));
        };
        let sh = &self.shared;
        let now = Instant::now();
        let mut st = self.lock();
        let Some(p) = st.phone_mut(&id) else {
            return Err((42001, "Cloud phone does not exist"));
        };
        p.settle(now);
        if p.status_at(now) == status::EXPIRED {
            return Err((43004, "The cloud phone has expired"));
        }
        if p.new_one_running(now) {
            return Err((43011, "One-click new machine in progress"));
        }
        let (op, d) = if op == "newOne" {
            p.applied.new_ones += 1;
            (Op::NewOne, sh.timings.geelark_new_one)
        } else {
            p.applied.restarts += 1;
            (Op::Restart, sh.timings.geelark_restart)
        };
        p.pending = Some(Pending {
            op,
            during: status::STARTING,
            after: status::STARTED,
            until: now + sh.clock.scaled(d),
        });
        Ok(Value::Null)
    }

    fn list(&self, body: &Value) -> Result<Value, ApiError> {
        let page = match body.get("page") {
            None | Some(Value::Null) => 1,
            Some(v) => v
                .as_i64()
                .filter(|p| *p >= 1)
                .ok_or((40004, "Parameter validation failed: page"))?,
        };
        let page_size = match body.get("pageSize") {
            None | Some(Value::Null) => 10,
            Some(v) => v
                .as_i64()
                .filter(|s| (1..=100).contains(s))
                .ok_or((40008, "pageSize out of range (1-100)"))?,
        };
        let ids = match body.get("ids") {
            None | Some(Value::Null) => None,
            Some(v) => {
                let ids = ids_of(v).ok_or((40004, "Parameter validation failed: ids"))?;
                if ids.len() > 100 {
                    return Err((40004, "Parameter validation failed: ids"));
                }
                Some(ids)
            }
        };
        let text = |k: &str| {
            body.get(k)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let serial_name = text("serialName");
        let remark = text("remark");
        let group_name = text("groupName");
        let tags: Vec<String> = body
            .get("tags")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let open_status = body.get("openStatus").and_then(Value::as_i64);
        let now = Instant::now();
        let st = self.lock();
        let item = |p: &Phone| {
            let (gid, gname) = p.group();
            json!({
                "id": p.id,
                "serialName": p.serial_name,
                "serialNo": p.serial_no.to_string(),
                "status": p.status_at(now),
                "group": {"id": gid, "name": gname, "remark": ""},
                "remark": "",
                "tags": [{"name": "sim"}],
            })
        };
        let skip = ((page - 1) * page_size) as usize;
        let take = page_size as usize;
        let filtered = ids.is_some()
            || serial_name.is_some()
            || remark.is_some()
            || group_name.is_some()
            || !tags.is_empty()
            || open_status.is_some();
        let (total, items): (usize, Vec<Value>) = if !filtered {
            // Unfiltered pages slice the fleet directly: no scan, no sort.
            let items = st.phones.iter().skip(skip).take(take).map(item).collect();
            (st.phones.len(), items)
        } else {
            let matches = |p: &Phone| {
                ids.as_ref().is_none_or(|ids| ids.contains(&p.id))
                    && serial_name
                        .as_ref()
                        .is_none_or(|s| p.serial_name.contains(s.as_str()))
                    && remark.is_none()
                    && group_name.as_ref().is_none_or(|g| p.group().1 == *g)
                    && (tags.is_empty() || tags.iter().any(|t| t == "sim"))
                    && open_status.is_none_or(|s| s == i64::from(p.status_at(now)))
            };
            let candidates: Box<dyn Iterator<Item = &Phone>> = match &ids {
                Some(ids) => Box::new(ids.iter().filter_map(|i| st.phone(i))),
                None => Box::new(st.phones.iter()),
            };
            let all: Vec<&Phone> = candidates.filter(|p| matches(p)).collect();
            let items = all.iter().skip(skip).take(take).map(|p| item(p)).collect();
            (all.len(), items)
        };
        Ok(json!({"total": total, "page": page, "pageSize": page_size, "items": items}))
    }
}

// ---------------------------------------------------------------------------------------------
// Admin API

#[derive(Deserialize)]
struct AddReq {
    id: Option<String>,
    status: Option<i32>,
    serial_name: Option<String>,
    #[serde(default)]
    remote_connected: bool,
    #[serde(default)]
    executing_task: bool,
}

#[derive(Deserialize)]
struct FlagsReq {
    remote_connected: Option<bool>,
    executing_task: Option<bool>,
}

impl AdminControl for GeelarkControl {
    const VENDOR: &'static str = "geelark";
    type Limits = GeelarkLimits;

    fn phone_page(&self, offset: usize, limit: usize) -> Value {
        let now = Instant::now();
        let st = self.lock();
        let phones: Vec<GeelarkPhoneInfo> = st
            .phones
            .iter()
            .skip(offset)
            .take(limit)
            .map(|p| p.info(now))
            .collect();
        json!({"total": st.phones.len(), "phones": phones})
    }
    fn seed(&self, n: usize) -> Vec<String> {
        self.seed_phones(n)
    }
    fn phone_json(&self, id: &str) -> Option<Value> {
        self.phone(id).map(|p| json!(p))
    }
    fn force_status(&self, id: &str, status: i32) -> bool {
        self.set_status(id, status)
    }
    fn applied_json(&self, id: &str) -> Option<Value> {
        self.applied(id).map(|a| json!(a))
    }
    fn get_faults(&self) -> Faults {
        self.faults()
    }
    fn put_faults(&self, faults: Faults) {
        self.set_faults(faults)
    }
    fn get_limits(&self) -> GeelarkLimits {
        self.limits()
    }
    fn put_limits(&self, limits: GeelarkLimits) {
        self.set_limits(limits)
    }
    fn call_stats(&self) -> CallStats {
        self.calls()
    }
    fn clear_calls(&self) {
        self.reset_calls()
    }
}

fn admin(ctl: &GeelarkControl, parts: &Parts, body: &[u8]) -> Response {
    admin_inner(ctl, parts, body).unwrap_or_else(|e| e)
}

fn admin_inner(ctl: &GeelarkControl, parts: &Parts, body: &[u8]) -> Result<Response, Response> {
    let path = parts.uri.path().trim_end_matches('/');
    let segs: Vec<&str> = path.split('/').skip(2).collect();
    let q = parse_query(parts.uri.query());
    let m = &parts.method;
    let is_set = *m == Method::PUT || *m == Method::POST;
    let not_found = || admin_error(StatusCode::NOT_FOUND, "unknown phone");
    Ok(match segs.as_slice() {
        ["phones"] if *m == Method::POST => {
            let req: AddReq = parse_admin_json(body)?;
            let mut st = ctl.lock();
            let id = match req.id {
                Some(id) => id,
                None => loop {
                    let id = random_digits18(&mut st.rng);
                    if !st.index.contains_key(&id) {
                        break id;
                    }
                },
            };
            if st.index.contains_key(&id) {
                return Err(admin_error(StatusCode::CONFLICT, "phone id already exists"));
            }
            st.insert(
                id.clone(),
                req.status.unwrap_or(status::STARTED),
                req.serial_name,
            );
            if let Some(p) = st.phone_mut(&id) {
                p.flags = GeelarkFlags {
                    remote_connected: req.remote_connected,
                    executing_task: req.executing_task,
                };
            }
            admin_ok(json!({"id": id}))
        }
        ["phones", id, "flags"] if is_set => {
            let req: FlagsReq = parse_admin_json(body)?;
            let Some(mut flags) = ctl.flags(id) else {
                return Err(not_found());
            };
            if let Some(v) = req.remote_connected {
                flags.remote_connected = v;
            }
            if let Some(v) = req.executing_task {
                flags.executing_task = v;
            }
            ctl.set_flags(id, flags);
            admin_ok(json!(ctl.phone(id)))
        }
        ["live", id] => match ctl.phone(id) {
            Some(info) => raw_response(
                StatusCode::OK,
                "text/html",
                format!(
                    "<html><body>cloudphone-sim live view of {} (status {})</body></html>",
                    info.serial_name, info.status
                ),
            ),
            None => not_found(),
        },
        _ => return admin_common(ctl, &segs, m, &q, body),
    })
}
