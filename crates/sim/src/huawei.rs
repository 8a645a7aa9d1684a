//! The Huawei side: IAM tokens, AK/SK verification, CPH phones and jobs, admin API and control.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::{to_bytes, Bytes};
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::Response;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::common::{
    admin_common, admin_error, admin_ok, connection_reset_response, json_response,
    parse_admin_json, parse_query, plan_faults, query_get, random_hex32, random_token,
    raw_response, roll_targeted, sleep_or_shutdown, AdminControl, CallLog, CallStats, Clock,
    FaultKind,
};
use crate::config::{Faults, HuaweiLimits, SimCredentials, Timings};
use crate::sign::{canonical_request, huawei_signature, parse_authorization};

const MAX_BODY: usize = 16 * 1024 * 1024;
const DEFAULT_IMAGE: &str = "5a1f0b7e2c9d4e8f9a6b3c2d1e0f4a5b";
/// Code the simulator uses for a malformed request body or parameter that has no documented code.
const PARAM_ERROR: &str = "CPS.0101";

/// Huawei CPH phone status codes.
pub mod status {
    /// Creating.
    pub const CREATING: i32 = 1;
    /// Running.
    pub const RUNNING: i32 = 2;
    /// Resetting.
    pub const RESETTING: i32 = 3;
    /// Restarting.
    pub const RESTARTING: i32 = 4;
    /// Frozen.
    pub const FROZEN: i32 = 6;
    /// Stopping.
    pub const STOPPING: i32 = 7;
    /// Stopped.
    pub const STOPPED: i32 = 8;
    /// Reset failed.
    pub const RESET_FAILED: i32 = -5;
    /// Restart failed.
    pub const RESTART_FAILED: i32 = -6;
    /// Abnormal.
    pub const ABNORMAL: i32 = -7;
    /// Creation failed.
    pub const CREATE_FAILED: i32 = -8;
    /// Stop failed.
    pub const STOP_FAILED: i32 = -9;
}

/// How many times each state-changing operation was accepted (a job was created) for one phone,
/// counted even when a fault then hid the answer from the client.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HuaweiApplied {
    /// Accepted `batch-reset` entries.
    pub resets: u32,
    /// Accepted `batch-restart` entries.
    pub restarts: u32,
    /// Accepted `batch-stop` entries.
    pub stops: u32,
}

/// A snapshot of one Huawei phone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HuaweiPhoneInfo {
    /// Phone id (32 lowercase hex chars for seeded phones).
    pub id: String,
    /// Phone name.
    pub name: String,
    /// Server hosting the phone.
    pub server_id: String,
    /// Current status code (see [`status`]).
    pub status: i32,
    /// Image in use.
    pub image_id: String,
    /// Applied-operation counters.
    pub applied: HuaweiApplied,
}

/// A snapshot of one Huawei job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HuaweiJobInfo {
    /// Job id.
    pub job_id: String,
    /// Id of the request that created the job.
    pub request_id: String,
    /// Phone the job acts on.
    pub phone_id: String,
    /// `"reset"`, `"restart"` or `"stop"`.
    pub operation: String,
    /// 1 running, 2 succeeded, −1 failed.
    pub status: i32,
    /// Error code of a failed job.
    pub error_code: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Reset,
    Restart,
    Stop,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Reset => "reset",
            Op::Restart => "restart",
            Op::Stop => "stop",
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Pending {
    during: i32,
    after: i32,
    until: Instant,
}

struct Phone {
    id: String,
    name: String,
    server_id: String,
    image_id: String,
    created_unix: i64,
    status: i32,
    pending: Option<Pending>,
    applied: HuaweiApplied,
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

    fn info(&self, now: Instant) -> HuaweiPhoneInfo {
        HuaweiPhoneInfo {
            id: self.id.clone(),
            name: self.name.clone(),
            server_id: self.server_id.clone(),
            status: self.status_at(now),
            image_id: self.image_id.clone(),
            applied: self.applied,
        }
    }

    fn json(&self, now: Instant, region: &str) -> Value {
        let created = fmt_secs(unix(self.created_unix));
        json!({
            "phone_name": self.name,
            "server_id": self.server_id,
            "phone_id": self.id,
            "status": self.status_at(now),
            "metadata": {"order_id": null, "product_id": null},
            "image_version": "2",
            "image_id": self.image_id,
            "vnc_enable": "true",
            "phone_model_name": "kvm.rx1.xlarge",
            "type": 0,
            "create_time": created,
            "update_time": created,
            "imei": null,
            "traffic_type": "routing",
            "volume_mode": 0,
            "availability_zone": format!("{region}a"),
        })
    }
}

struct Job {
    job_id: String,
    request_id: String,
    phone: usize,
    op: Op,
    begin_unix: i64,
    begin: Instant,
    end: Instant,
    failed: bool,
}

impl Job {
    fn status_at(&self, now: Instant) -> i32 {
        if now < self.end {
            1
        } else if self.failed {
            -1
        } else {
            2
        }
    }
}

struct TokenInfo {
    project_id: String,
    expires_at: Instant,
    forced_expired: bool,
    calls: u64,
}

pub(crate) struct HwState {
    phones: Vec<Phone>,
    index: HashMap<String, usize>,
    jobs: Vec<Job>,
    job_index: HashMap<String, usize>,
    request_jobs: HashMap<String, Vec<usize>>,
    tokens: HashMap<String, TokenInfo>,
    token_ttl: Duration,
    rng: SmallRng,
    faults: Faults,
    limits: HuaweiLimits,
    rates: HashMap<String, (u64, u32)>,
    aksk_failures: u32,
    aksk_locked_until: Option<Instant>,
    calls: CallLog,
    start_unix: i64,
}

pub(crate) struct Shared {
    state: Mutex<HwState>,
    clock: Clock,
    creds: SimCredentials,
    timings: Timings,
    latency: Duration,
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
    pub(crate) base_url: String,
    pub(crate) limits: HuaweiLimits,
    pub(crate) faults: Faults,
    pub(crate) token_ttl: Duration,
    pub(crate) call_log_capacity: usize,
    pub(crate) shutdown: watch::Receiver<bool>,
}

pub(crate) fn build(setup: Setup) -> HuaweiControl {
    let mut st = HwState {
        phones: Vec::with_capacity(setup.phones),
        index: HashMap::with_capacity(setup.phones),
        jobs: Vec::new(),
        job_index: HashMap::new(),
        request_jobs: HashMap::new(),
        tokens: HashMap::new(),
        token_ttl: setup.token_ttl,
        rng: SmallRng::seed_from_u64(setup.seed ^ 0x6875_6177_6569_0000),
        faults: setup.faults,
        limits: setup.limits,
        rates: HashMap::new(),
        aksk_failures: 0,
        aksk_locked_until: None,
        calls: CallLog::new(setup.call_log_capacity),
        start_unix: OffsetDateTime::now_utc().unix_timestamp(),
    };
    st.seed(setup.phones);
    HuaweiControl {
        shared: Arc::new(Shared {
            state: Mutex::new(st),
            clock: setup.clock,
            creds: setup.creds,
            timings: setup.timings,
            latency: setup.latency,
            base_url: setup.base_url,
            shutdown: setup.shutdown,
        }),
    }
}

fn unix(secs: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(secs).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn fmt_secs(t: OffsetDateTime) -> String {
    t.format(format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
    ))
    .unwrap_or_default()
}

fn fmt_micros(t: OffsetDateTime) -> String {
    t.format(format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
    ))
    .unwrap_or_default()
}

fn is_hex32(s: &str) -> bool {
    s.len() == 32
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl HwState {
    fn seed(&mut self, n: usize) -> Vec<String> {
        let mut ids = Vec::with_capacity(n);
        let mut server = random_hex32(&mut self.rng);
        for _ in 0..n {
            // Real CPH servers host several phones each.
            if self.phones.len().is_multiple_of(4) {
                server = random_hex32(&mut self.rng);
            }
            let id = loop {
                let id = random_hex32(&mut self.rng);
                if !self.index.contains_key(&id) {
                    break id;
                }
            };
            let roll: f64 = self.rng.random();
            let status = if roll < 0.8 {
                status::RUNNING
            } else {
                status::STOPPED
            };
            self.insert(id.clone(), status, server.clone());
            ids.push(id);
        }
        ids
    }

    fn insert(&mut self, id: String, status: i32, server_id: String) {
        let n = self.phones.len();
        self.index.insert(id.clone(), n);
        // Creation times ascend with insertion order (one second apart, wrapping after a day), so
        // "newest first" is simply reverse insertion order.
        let created_unix = self.start_unix - 86_400 + (n as i64 % 86_000);
        self.phones.push(Phone {
            id,
            name: format!("cph-sim-phone-{:04}", n + 1),
            server_id,
            image_id: DEFAULT_IMAGE.to_string(),
            created_unix,
            status,
            pending: None,
            applied: HuaweiApplied::default(),
        });
    }

    fn phone_mut(&mut self, id: &str) -> Option<&mut Phone> {
        match self.index.get(id) {
            Some(&i) => Some(&mut self.phones[i]),
            None => None,
        }
    }

    fn job_info(&self, j: &Job, now: Instant) -> HuaweiJobInfo {
        HuaweiJobInfo {
            job_id: j.job_id.clone(),
            request_id: j.request_id.clone(),
            phone_id: self.phones[j.phone].id.clone(),
            operation: j.op.name().to_string(),
            status: j.status_at(now),
            error_code: (j.failed && now >= j.end).then(|| "CPS.0003".to_string()),
        }
    }

    fn job_json(&self, j: &Job, now: Instant) -> Value {
        let st = j.status_at(now);
        let phone = &self.phones[j.phone];
        let end = (st != 1).then(|| {
            let d = j.end.saturating_duration_since(j.begin);
            fmt_secs(unix(j.begin_unix + d.as_secs() as i64))
        });
        json!({
            "job_id": j.job_id,
            "request_id": j.request_id,
            "phone_id": phone.id,
            "server_id": phone.server_id,
            "node_id": null,
            "status": st,
            "begin_time": fmt_secs(unix(j.begin_unix)),
            "end_time": end,
            "error_code": (st == -1).then_some("CPS.0003"),
            "error_msg": (st == -1).then(|| format!("{} phone failed: Service internal error.", j.op.name())),
            "execute_msg": if st == 2 { Some("success") } else { None },
        })
    }

    fn issue_token(&mut self, project_id: String) -> (String, OffsetDateTime) {
        let token = random_token(&mut self.rng, 240);
        let ttl = self.token_ttl;
        self.tokens.insert(
            token.clone(),
            TokenInfo {
                project_id,
                expires_at: Instant::now() + ttl,
                forced_expired: false,
                calls: 0,
            },
        );
        let expires = OffsetDateTime::now_utc() + ttl;
        (token, expires)
    }

    fn throttled(&mut self, clock: &Clock, key: &str, now: Instant) -> bool {
        let Some(per_second) = self.limits.per_second else {
            return false;
        };
        let idx = clock.window_index(now, Duration::from_secs(1));
        let r = self.rates.entry(key.to_string()).or_insert((idx, 0));
        if r.0 != idx {
            *r = (idx, 0);
        }
        if r.1 >= per_second {
            return true;
        }
        r.1 += 1;
        false
    }
}

/// A cheap, cloneable in-process handle to the Huawei side of a running simulator.
#[derive(Clone)]
pub struct HuaweiControl {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for HuaweiControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HuaweiControl")
            .field("base_url", &self.shared.base_url)
            .finish_non_exhaustive()
    }
}

impl HuaweiControl {
    fn lock(&self) -> MutexGuard<'_, HwState> {
        self.shared
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The CPH (and IAM) base URL.
    pub fn url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// The project id every CPH path must carry.
    pub fn project_id(&self) -> String {
        self.shared.creds.huawei_project_id.clone()
    }

    /// Seeds `n` more phones with random ids and states; returns their ids.
    pub fn seed_phones(&self, n: usize) -> Vec<String> {
        self.lock().seed(n)
    }

    /// Adds a phone with the given id (any string) and raw status; false if it already exists.
    pub fn add_phone(&self, id: &str, status: i32) -> bool {
        let mut st = self.lock();
        if st.index.contains_key(id) {
            return false;
        }
        let server = random_hex32(&mut st.rng);
        st.insert(id.to_string(), status, server);
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
    pub fn phone(&self, id: &str) -> Option<HuaweiPhoneInfo> {
        let now = Instant::now();
        let st = self.lock();
        st.index.get(id).map(|&i| st.phones[i].info(now))
    }

    /// Current raw status of a phone.
    pub fn status(&self, id: &str) -> Option<i32> {
        self.phone(id).map(|p| p.status)
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

    /// Applied-operation counters of a phone.
    pub fn applied(&self, id: &str) -> Option<HuaweiApplied> {
        self.phone(id).map(|p| p.applied)
    }

    /// Accepted resets for a phone (0 if unknown).
    pub fn applied_resets(&self, id: &str) -> u32 {
        self.applied(id).map_or(0, |a| a.resets)
    }

    /// Accepted restarts for a phone (0 if unknown).
    pub fn applied_restarts(&self, id: &str) -> u32 {
        self.applied(id).map_or(0, |a| a.restarts)
    }

    /// Accepted stops for a phone (0 if unknown).
    pub fn applied_stops(&self, id: &str) -> u32 {
        self.applied(id).map_or(0, |a| a.stops)
    }

    /// A snapshot of one job.
    pub fn job(&self, job_id: &str) -> Option<HuaweiJobInfo> {
        let now = Instant::now();
        let st = self.lock();
        st.job_index
            .get(job_id)
            .map(|&i| st.job_info(&st.jobs[i], now))
    }

    /// The jobs one request created, in creation order.
    pub fn jobs_of_request(&self, request_id: &str) -> Vec<HuaweiJobInfo> {
        let now = Instant::now();
        let st = self.lock();
        st.request_jobs
            .get(request_id)
            .map(|v| v.iter().map(|&i| st.job_info(&st.jobs[i], now)).collect())
            .unwrap_or_default()
    }

    /// Number of jobs created so far.
    pub fn job_count(&self) -> usize {
        self.lock().jobs.len()
    }

    /// Makes every IAM-issued token expired (the static token stays valid); the next call with
    /// one gets 401 APIGW.0301 "…token expired…".
    pub fn expire_tokens(&self) {
        for t in self.lock().tokens.values_mut() {
            t.forced_expired = true;
        }
    }

    /// Sets the lifetime of tokens issued from now on (real time, not scaled).
    pub fn set_token_ttl(&self, ttl: Duration) {
        self.lock().token_ttl = ttl;
    }

    /// The lifetime of newly issued tokens.
    pub fn token_ttl(&self) -> Duration {
        self.lock().token_ttl
    }

    /// Issues a project-scoped token in-process, as a successful IAM login would.
    pub fn issue_token(&self) -> String {
        let pid = self.project_id();
        self.lock().issue_token(pid).0
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

    /// The limits in force.
    pub fn limits(&self) -> HuaweiLimits {
        self.lock().limits.clone()
    }

    /// Replaces the limits and forgets current windows and AK/SK lock-outs.
    pub fn set_limits(&self, limits: HuaweiLimits) {
        let mut st = self.lock();
        st.limits = limits;
        st.rates.clear();
        st.aksk_failures = 0;
        st.aksk_locked_until = None;
    }

    /// Calls received so far (IAM included, under `"POST /v3/auth/tokens"`).
    pub fn calls(&self) -> CallStats {
        self.lock().calls.stats()
    }

    /// Calls received for one endpoint key, e.g.
    /// `"POST /v1/{project_id}/cloud-phone/phones/batch-reset"`.
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

fn cps_error(status: StatusCode, code: &str, msg: &str, request_id: Option<&str>) -> Response {
    let mut v = json!({"error_code": code, "error_msg": msg});
    if let Some(r) = request_id {
        v["request_id"] = json!(r);
    }
    json_response(status, &v)
}

fn unauthorized(msg: &str) -> Response {
    cps_error(
        StatusCode::UNAUTHORIZED,
        "APIGW.0301",
        &format!("Incorrect IAM authentication information: {msg}"),
        None,
    )
}

fn iam_error(status: StatusCode, message: &str, title: &str) -> Response {
    json_response(
        status,
        &json!({"error": {"code": status.as_u16(), "message": message, "title": title}}),
    )
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    Reset,
    Restart,
    Stop,
    ListPhones,
    ShowPhone,
    ListJobs,
    ShowJob,
}

struct Matched {
    route: Route,
    project_id: String,
    /// Decoded trailing path parameter (phone id / job id).
    param: Option<String>,
    key: &'static str,
}

fn route(method: &Method, path: &str) -> Option<Matched> {
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let ["v1", pid, "cloud-phone", rest @ ..] = segs.as_slice() else {
        return None;
    };
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    let (route, param, key) = match (method.clone(), rest) {
        (Method::POST, ["phones", "batch-reset"]) => (
            Route::Reset,
            None,
            "POST /v1/{project_id}/cloud-phone/phones/batch-reset",
        ),
        (Method::POST, ["phones", "batch-restart"]) => (
            Route::Restart,
            None,
            "POST /v1/{project_id}/cloud-phone/phones/batch-restart",
        ),
        (Method::POST, ["phones", "batch-stop"]) => (
            Route::Stop,
            None,
            "POST /v1/{project_id}/cloud-phone/phones/batch-stop",
        ),
        (Method::GET, ["phones"]) => (
            Route::ListPhones,
            None,
            "GET /v1/{project_id}/cloud-phone/phones",
        ),
        (Method::GET, ["phones", id]) if !id.is_empty() => (
            Route::ShowPhone,
            Some(decode(id)),
            "GET /v1/{project_id}/cloud-phone/phones/{phone_id}",
        ),
        (Method::GET, ["jobs"]) => (
            Route::ListJobs,
            None,
            "GET /v1/{project_id}/cloud-phone/jobs",
        ),
        (Method::GET, ["jobs", id]) if !id.is_empty() => (
            Route::ShowJob,
            Some(decode(id)),
            "GET /v1/{project_id}/cloud-phone/jobs/{job_id}",
        ),
        _ => return None,
    };
    Some(Matched {
        route,
        project_id: decode(pid),
        param,
        key,
    })
}

pub(crate) async fn handle(State(ctl): State<HuaweiControl>, req: Request) -> Response {
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
    let is_iam = path.trim_end_matches('/') == "/v3/auth/tokens";
    let matched = if is_iam {
        None
    } else {
        route(&parts.method, &path)
    };
    let endpoint = match (&matched, is_iam) {
        (Some(m), _) => m.key.to_string(),
        (None, true) => format!("{} /v3/auth/tokens", parts.method),
        (None, false) => format!("{} {}", parts.method, path),
    };
    let (latency, request_id) = {
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
        let rid = random_hex32(&mut st.rng);
        (
            sh.latency + Duration::from_millis(st.faults.latency_ms),
            rid,
        )
    };
    let mut shutdown = sh.shutdown.clone();
    sleep_or_shutdown(latency, &mut shutdown).await;

    let mut resp = if is_iam {
        if parts.method == Method::POST {
            ctl.iam_login(&body)
        } else {
            iam_error(
                StatusCode::METHOD_NOT_ALLOWED,
                "The method is not allowed for the requested URL.",
                "Method Not Allowed",
            )
        }
    } else {
        match matched {
            None => cps_error(
                StatusCode::NOT_FOUND,
                "APIGW.0101",
                "The API does not exist or has not been published in the environment",
                None,
            ),
            Some(m) => {
                ctl.cph(m, &parts, &body, &endpoint, &request_id, &mut shutdown)
                    .await
            }
        }
    };
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}

impl HuaweiControl {
    fn iam_login(&self, body: &Bytes) -> Response {
        let creds = &self.shared.creds;
        let Ok(v) = serde_json::from_slice::<Value>(body) else {
            return iam_error(
                StatusCode::BAD_REQUEST,
                "The request you have made requires authentication.",
                "Bad Request",
            );
        };
        let identity = &v["auth"]["identity"];
        let has_password = identity["methods"]
            .as_array()
            .is_some_and(|m| m.iter().any(|x| x == "password"));
        let user = &identity["password"]["user"];
        let (Some(name), Some(password)) = (user["name"].as_str(), user["password"].as_str())
        else {
            return iam_error(
                StatusCode::BAD_REQUEST,
                "Invalid input for field 'identity': the password user is missing.",
                "Bad Request",
            );
        };
        if !has_password {
            return iam_error(
                StatusCode::BAD_REQUEST,
                "Invalid input for field 'identity': 'password' is not a supported method.",
                "Bad Request",
            );
        }
        let domain = user["domain"]["name"].as_str().unwrap_or_default();
        if name != creds.huawei_username
            || password != creds.huawei_password
            || domain != creds.huawei_domain
        {
            return iam_error(
                StatusCode::UNAUTHORIZED,
                "The username or password is wrong.",
                "Unauthorized",
            );
        }
        let project = &v["auth"]["scope"]["project"];
        let (pid, pname) = match (project["id"].as_str(), project["name"].as_str()) {
            (Some(id), _) if id == creds.huawei_project_id => {
                (id.to_string(), creds.huawei_region.clone())
            }
            (_, Some(n)) if n == creds.huawei_region => {
                (creds.huawei_project_id.clone(), n.to_string())
            }
            // Another project of the same account: the token works, just not for our project.
            (Some(id), _) => (id.to_string(), "other-project".to_string()),
            (_, Some(n)) => (
                hex::encode(&Sha256::digest(n.as_bytes())[..16]),
                n.to_string(),
            ),
            _ => {
                return iam_error(
                    StatusCode::BAD_REQUEST,
                    "Invalid input for field 'scope': a project scope is required.",
                    "Bad Request",
                )
            }
        };
        let (token, expires) = self.lock().issue_token(pid.clone());
        let now = OffsetDateTime::now_utc();
        let domain_obj =
            json!({"id": "0f1e2d3c4b5a69788796a5b4c3d2e1f0", "name": creds.huawei_domain});
        let body = json!({"token": {
            "expires_at": fmt_micros(expires),
            "issued_at": fmt_micros(now),
            "methods": ["password"],
            "catalog": [],
            "roles": [{"id": "0", "name": "op_service"}],
            "project": {"id": pid, "name": pname, "domain": domain_obj},
            "user": {"id": "a1b2c3d4e5f60718293a4b5c6d7e8f90", "name": creds.huawei_username, "domain": domain_obj},
        }});
        let mut resp = json_response(StatusCode::CREATED, &body);
        if let Ok(v) = HeaderValue::from_str(&token) {
            resp.headers_mut().insert("x-subject-token", v);
        }
        resp
    }

    /// Authenticates a CPH call; returns the project the credentials belong to.
    fn authenticate(&self, parts: &Parts, body: &Bytes) -> Result<String, Response> {
        let creds = &self.shared.creds;
        let now = Instant::now();
        let header = |n: &str| {
            parts
                .headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        if let Some(token) = header("x-auth-token") {
            if token == creds.huawei_token {
                return Ok(creds.huawei_project_id.clone());
            }
            let mut st = self.lock();
            let limit = st.faults.expire_token_after_calls;
            let Some(t) = st.tokens.get_mut(&token) else {
                return Err(unauthorized("decrypt token fail"));
            };
            if t.forced_expired || now >= t.expires_at || limit.is_some_and(|n| t.calls >= n) {
                t.forced_expired = true;
                return Err(unauthorized("token expired, please acquire a new token"));
            }
            t.calls += 1;
            return Ok(t.project_id.clone());
        }
        let Some(authz) = header("authorization") else {
            return Err(unauthorized("x-auth-token not found"));
        };
        let Some(auth) = parse_authorization(&authz) else {
            return Err(unauthorized("Authorization header format is invalid"));
        };
        let mut st = self.lock();
        if let Some(until) = st.aksk_locked_until {
            if now < until {
                return Err(unauthorized(
                    "the access key is locked after too many authentication failures, try again later",
                ));
            }
            st.aksk_locked_until = None;
            st.aksk_failures = 0;
        }
        let result = self.verify_aksk(parts, body, &auth);
        match result {
            Ok(()) => {
                st.aksk_failures = 0;
                Ok(creds.huawei_project_id.clone())
            }
            Err((resp, counts)) => {
                if counts {
                    st.aksk_failures += 1;
                    if let Some(max) = st.limits.aksk_lockout_failures {
                        if st.aksk_failures >= max {
                            st.aksk_locked_until =
                                Some(now + self.shared.clock.scaled(st.limits.aksk_lockout));
                        }
                    }
                }
                Err(resp)
            }
        }
    }

    /// Checks an AK/SK signature; the flag says whether a failure counts towards lock-out.
    fn verify_aksk(
        &self,
        parts: &Parts,
        body: &Bytes,
        auth: &crate::sign::AkSkAuthorization,
    ) -> Result<(), (Response, bool)> {
        let creds = &self.shared.creds;
        if auth.access != creds.huawei_access_key {
            return Err((unauthorized("access key not found"), true));
        }
        if !auth.signed_headers.iter().any(|h| h == "x-sdk-date") {
            return Err((unauthorized("x-sdk-date is not signed"), true));
        }
        let Some(date) = parts
            .headers
            .get("x-sdk-date")
            .and_then(|v| v.to_str().ok())
        else {
            return Err((unauthorized("x-sdk-date not found"), true));
        };
        let Ok(parsed) = PrimitiveDateTime::parse(
            date,
            format_description!("[year][month][day]T[hour][minute][second]Z"),
        ) else {
            return Err((unauthorized("x-sdk-date format is invalid"), true));
        };
        let skew = (OffsetDateTime::now_utc() - parsed.assume_utc()).abs();
        if skew > time::Duration::minutes(15) {
            return Err((
                cps_error(
                    StatusCode::UNAUTHORIZED,
                    "APIGW.0303",
                    "Incorrect app authentication information: the X-Sdk-Date differs from the server time by more than 15 minutes",
                    None,
                ),
                false,
            ));
        }
        if let Some(expected) = &creds.huawei_security_token {
            let sent = parts
                .headers
                .get("x-security-token")
                .and_then(|v| v.to_str().ok());
            if sent != Some(expected.as_str()) {
                return Err((unauthorized("security token is missing or invalid"), true));
            }
        }
        let headers: Vec<(String, String)> = parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let Some(canonical) = canonical_request(
            parts.method.as_str(),
            parts.uri.path(),
            parts.uri.query(),
            &headers,
            &auth.signed_headers,
            body,
        ) else {
            return Err((unauthorized("a signed header is missing"), true));
        };
        let expected = huawei_signature(&creds.huawei_secret_key, date, &canonical);
        if expected == auth.signature {
            Ok(())
        } else {
            Err((unauthorized("verify aksk signature fail"), true))
        }
    }

    async fn cph(
        &self,
        m: Matched,
        parts: &Parts,
        body: &Bytes,
        endpoint: &str,
        request_id: &str,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Response {
        let cred_project = match self.authenticate(parts, body) {
            Ok(p) => p,
            Err(resp) => return resp,
        };
        let ours = &self.shared.creds.huawei_project_id;
        if cred_project != *ours || m.project_id != *ours {
            return unauthorized(
                "the token or credentials do not belong to the project in the URL (other project)",
            );
        }
        let (plan, variant) = {
            let mut st = self.lock();
            if st.throttled(&self.shared.clock, m.key, Instant::now()) {
                return throttle_response(request_id);
            }
            let faults = st.faults.clone();
            let plan = plan_faults(&mut st.rng, &faults, endpoint);
            let variant: u8 = if plan.kind.is_some() {
                st.rng.random_range(0..3)
            } else {
                0
            };
            (plan, variant)
        };
        let exec = || self.execute(&m, parts, body, endpoint, request_id);
        match plan.kind {
            None => exec(),
            Some(FaultKind::Throttle) => throttle_response(request_id),
            Some(FaultKind::Error5xx) => {
                if plan.applied {
                    let _ = exec();
                }
                match variant {
                    0 => cps_error(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "CPS.0003",
                        "Service internal error.",
                        Some(request_id),
                    ),
                    1 => cps_error(
                        StatusCode::BAD_GATEWAY,
                        "APIGW.0201",
                        "Backend unavailable",
                        None,
                    ),
                    _ => cps_error(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "APIGW.0202",
                        "Backend service unavailable, try again later",
                        None,
                    ),
                }
            }
            Some(FaultKind::ConnectionReset) => {
                if plan.applied {
                    let _ = exec();
                }
                connection_reset_response()
            }
            Some(FaultKind::Hang) => {
                let answer = plan.applied.then(exec);
                sleep_or_shutdown(plan.hang, shutdown).await;
                answer.unwrap_or_else(|| {
                    cps_error(
                        StatusCode::GATEWAY_TIMEOUT,
                        "APIGW.0203",
                        "Backend timeout",
                        None,
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
                    format!("{{\"request_id\":\"{request_id}\",\"jobs\":[{{\"phone_id\":"),
                )
            }
        }
    }

    fn execute(
        &self,
        m: &Matched,
        parts: &Parts,
        body: &Bytes,
        endpoint: &str,
        request_id: &str,
    ) -> Response {
        let q = parse_query(parts.uri.query());
        let result = match m.route {
            Route::Reset => self.batch(Op::Reset, body, endpoint, request_id),
            Route::Restart => self.batch(Op::Restart, body, endpoint, request_id),
            Route::Stop => self.batch(Op::Stop, body, endpoint, request_id),
            Route::ShowPhone => self.show_phone(m.param.as_deref().unwrap_or(""), request_id),
            Route::ListPhones => self.list_phones(&q, request_id),
            Route::ShowJob => self.show_job(m.param.as_deref().unwrap_or(""), request_id),
            Route::ListJobs => self.list_jobs(&q, request_id),
        };
        match result {
            Ok(v) => json_response(StatusCode::OK, &v),
            Err((code, msg)) => cps_error(StatusCode::BAD_REQUEST, code, &msg, Some(request_id)),
        }
    }

    fn batch(
        &self,
        op: Op,
        body: &Bytes,
        endpoint: &str,
        request_id: &str,
    ) -> Result<Value, (&'static str, String)> {
        let bad_body = || {
            (
                PARAM_ERROR,
                "Parameter: request body is invalid.".to_string(),
            )
        };
        let v: Value = serde_json::from_slice(body).map_err(|_| bad_body())?;
        if !v.is_object() {
            return Err(bad_body());
        }
        let empty = || ("CPS.0009", "Parameter: phone_id list is empty.".to_string());
        let mut image_id = None;
        let phone_ids: Vec<String> = if op == Op::Stop {
            let list = v["phone_ids"].as_array().ok_or_else(empty)?;
            list.iter()
                .map(|x| x.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .ok_or((PARAM_ERROR, "Parameter: phone_ids is invalid.".to_string()))?
        } else {
            match &v["image_id"] {
                Value::Null => {}
                Value::String(s) if s.is_empty() => {
                    return Err(("CPS.0029", "Parameter: image_id is empty.".into()))
                }
                Value::String(s) if is_hex32(s) => image_id = Some(s.clone()),
                _ => return Err(("CPS.0030", "Parameter: image_id is invalid.".into())),
            }
            let list = v["phones"].as_array().ok_or_else(empty)?;
            let mut ids = Vec::with_capacity(list.len());
            for entry in list {
                let Some(id) = entry["phone_id"].as_str() else {
                    return Err(("CPS.0004", "Invalid phone id.".into()));
                };
                match &entry["property"] {
                    Value::Null => {}
                    Value::String(s) => {
                        if !serde_json::from_str::<Value>(s).is_ok_and(|p| p.is_object()) {
                            return Err((PARAM_ERROR, "Parameter: property is invalid.".into()));
                        }
                    }
                    _ => {
                        return Err((
                            PARAM_ERROR,
                            "Parameter: property is invalid, it must be a JSON-encoded string."
                                .into(),
                        ))
                    }
                }
                ids.push(id.to_string());
            }
            ids
        };
        if phone_ids.is_empty() {
            return Err(empty());
        }
        let sh = &self.shared;
        let now = Instant::now();
        let now_unix = OffsetDateTime::now_utc().unix_timestamp();
        let mut st = self.lock();
        let faults = st.faults.clone();
        let mut jobs = Vec::with_capacity(phone_ids.len());
        for id in &phone_ids {
            let entry = if !is_hex32(id) {
                json!({"phone_id": id, "error_code": "CPS.0004", "error_msg": "Parameter: phone_id is invalid."})
            } else if let Some(&pi) = st.index.get(id.as_str()) {
                let cur = {
                    let p = &mut st.phones[pi];
                    p.settle(now);
                    p.status_at(now)
                };
                let allowed = matches!(
                    cur,
                    status::RUNNING
                        | status::STOPPED
                        | status::RESET_FAILED
                        | status::RESTART_FAILED
                        | status::ABNORMAL
                        | status::STOP_FAILED
                );
                if !allowed {
                    json!({"phone_id": id, "error_code": "CPS.0022", "error_msg": "Not available phone."})
                } else {
                    let failed = roll_targeted(&mut st.rng, &faults, endpoint, faults.job_failure);
                    let job_id = random_hex32(&mut st.rng);
                    let (during, ok, bad, d) = match op {
                        Op::Reset => (
                            status::RESETTING,
                            status::RUNNING,
                            status::RESET_FAILED,
                            sh.timings.huawei_reset,
                        ),
                        Op::Restart => (
                            status::RESTARTING,
                            status::RUNNING,
                            status::RESTART_FAILED,
                            sh.timings.huawei_restart,
                        ),
                        Op::Stop => (
                            status::STOPPING,
                            status::STOPPED,
                            status::STOP_FAILED,
                            sh.timings.huawei_stop,
                        ),
                    };
                    // Stopping a stopped phone has nothing to do: its job succeeds at once.
                    let noop = op == Op::Stop && cur == status::STOPPED;
                    let end = if noop { now } else { now + sh.clock.scaled(d) };
                    let failed = failed && !noop;
                    let p = &mut st.phones[pi];
                    if !noop {
                        p.pending = Some(Pending {
                            during,
                            after: if failed { bad } else { ok },
                            until: end,
                        });
                    }
                    if op != Op::Stop {
                        if let Some(img) = &image_id {
                            p.image_id = img.clone();
                        }
                    }
                    match op {
                        Op::Reset => p.applied.resets += 1,
                        Op::Restart => p.applied.restarts += 1,
                        Op::Stop => p.applied.stops += 1,
                    }
                    let idx = st.jobs.len();
                    st.jobs.push(Job {
                        job_id: job_id.clone(),
                        request_id: request_id.to_string(),
                        phone: pi,
                        op,
                        begin_unix: now_unix,
                        begin: now,
                        end,
                        failed,
                    });
                    st.job_index.insert(job_id.clone(), idx);
                    st.request_jobs
                        .entry(request_id.to_string())
                        .or_default()
                        .push(idx);
                    json!({"phone_id": id, "job_id": job_id})
                }
            } else {
                json!({"phone_id": id, "error_code": "CPS.0005", "error_msg": "Phone is not found."})
            };
            if roll_targeted(&mut st.rng, &faults, endpoint, faults.drop_ids) {
                continue;
            }
            jobs.push(entry);
        }
        Ok(json!({"request_id": request_id, "jobs": jobs}))
    }

    fn show_phone(&self, id: &str, request_id: &str) -> Result<Value, (&'static str, String)> {
        if !is_hex32(id) && !self.lock().index.contains_key(id) {
            return Err(("CPS.0004", "Invalid phone id.".into()));
        }
        let now = Instant::now();
        let st = self.lock();
        let Some(&i) = st.index.get(id) else {
            return Err(("CPS.0005", "Phone is not found.".into()));
        };
        let mut v = st.phones[i].json(now, &self.shared.creds.huawei_region);
        v["property"] = json!("{\"sys.prop.writephonenum\":\"13666666666\"}");
        v["access_infos"] = json!([]);
        v["has_encryption_key"] = json!(false);
        v["request_id"] = json!(request_id);
        Ok(v)
    }

    fn list_phones(
        &self,
        q: &[(String, String)],
        request_id: &str,
    ) -> Result<Value, (&'static str, String)> {
        let (offset, limit) = page_params(q, 200)?;
        let status_filter: Option<i32> = match query_get(q, "status") {
            None | Some("") => None,
            Some(s) => Some(
                s.parse()
                    .map_err(|_| ("CPS.0010", "Parameter: status is invalid.".to_string()))?,
            ),
        };
        let type_filter: Option<i32> = match query_get(q, "type") {
            None | Some("") => None,
            Some(s) => Some(
                s.parse()
                    .map_err(|_| (PARAM_ERROR, "Parameter: type is invalid.".to_string()))?,
            ),
        };
        let name = query_get(q, "phone_name").filter(|s| !s.is_empty());
        let server = query_get(q, "server_id").filter(|s| !s.is_empty());
        let now = Instant::now();
        let st = self.lock();
        let region = &self.shared.creds.huawei_region;
        let filtered =
            status_filter.is_some() || type_filter.is_some() || name.is_some() || server.is_some();
        let (count, phones): (usize, Vec<Value>) = if !filtered {
            // Newest first is the reverse of insertion order: page without scanning or sorting.
            let items = st
                .phones
                .iter()
                .rev()
                .skip(offset)
                .take(limit)
                .map(|p| p.json(now, region))
                .collect();
            (st.phones.len(), items)
        } else {
            let mut count = 0;
            let mut items = Vec::new();
            for p in st.phones.iter().rev() {
                let ok = status_filter.is_none_or(|s| s == p.status_at(now))
                    && type_filter.is_none_or(|t| t == 0)
                    && name.is_none_or(|n| p.name.contains(n))
                    && server.is_none_or(|s| p.server_id == s);
                if ok {
                    if count >= offset && items.len() < limit {
                        items.push(p.json(now, region));
                    }
                    count += 1;
                }
            }
            (count, items)
        };
        Ok(json!({"request_id": request_id, "count": count, "phones": phones}))
    }

    fn show_job(&self, id: &str, _request_id: &str) -> Result<Value, (&'static str, String)> {
        let now = Instant::now();
        let st = self.lock();
        let Some(&i) = st.job_index.get(id) else {
            return Err(("CPS.0005", "Job is not found.".into()));
        };
        Ok(st.job_json(&st.jobs[i], now))
    }

    fn list_jobs(
        &self,
        q: &[(String, String)],
        request_id: &str,
    ) -> Result<Value, (&'static str, String)> {
        let (offset, limit) = page_params(q, 100)?;
        let ids: Option<Vec<String>> =
            match (query_get(q, "request_ids"), query_get(q, "request_id")) {
                (Some(many), _) if !many.is_empty() => Some(
                    many.split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect(),
                ),
                (_, Some(one)) if !one.is_empty() => Some(vec![one.to_string()]),
                _ => None,
            };
        if ids.as_ref().is_some_and(|v| v.len() > 20) {
            return Err((
                PARAM_ERROR,
                "Parameter: request_ids is invalid, at most 20 are allowed.".into(),
            ));
        }
        let now = Instant::now();
        let st = self.lock();
        let idx: Vec<usize> = match &ids {
            Some(ids) => ids
                .iter()
                .flat_map(|r| st.request_jobs.get(r).cloned().unwrap_or_default())
                .collect(),
            None => (0..st.jobs.len()).rev().collect(),
        };
        let jobs: Vec<Value> = idx
            .iter()
            .skip(offset)
            .take(limit)
            .map(|&i| st.job_json(&st.jobs[i], now))
            .collect();
        Ok(json!({"request_id": request_id, "jobs": jobs}))
    }
}

fn throttle_response(request_id: &str) -> Response {
    cps_error(
        StatusCode::TOO_MANY_REQUESTS,
        "APIGW.0308",
        "The throttling threshold has been reached: policy user over ratelimit,limit:200,time:1 second",
        Some(request_id),
    )
}

// ---------------------------------------------------------------------------------------------
// Admin API

#[derive(Deserialize)]
struct AddReq {
    id: Option<String>,
    status: Option<i32>,
}

#[derive(Deserialize)]
struct TtlReq {
    seconds: f64,
}

/// `offset` (default 0) and `limit` (default 100, at most `max_limit`) of a CPH list call;
/// anything else is CPS.0002, as the service answers.
fn page_params(
    q: &[(String, String)],
    max_limit: usize,
) -> Result<(usize, usize), (&'static str, String)> {
    let bad_page = || {
        (
            "CPS.0002",
            "Parameter: offset or limit is invalid.".to_string(),
        )
    };
    let offset: usize = match query_get(q, "offset") {
        None | Some("") => 0,
        Some(s) => s.parse().map_err(|_| bad_page())?,
    };
    let limit: usize = match query_get(q, "limit") {
        None | Some("") => 100,
        Some(s) => s
            .parse()
            .ok()
            .filter(|l| (1..=max_limit).contains(l))
            .ok_or_else(bad_page)?,
    };
    Ok((offset, limit))
}

impl AdminControl for HuaweiControl {
    const VENDOR: &'static str = "huawei";
    type Limits = HuaweiLimits;

    fn phone_page(&self, offset: usize, limit: usize) -> Value {
        let now = Instant::now();
        let st = self.lock();
        let phones: Vec<HuaweiPhoneInfo> = st
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
    fn get_limits(&self) -> HuaweiLimits {
        self.limits()
    }
    fn put_limits(&self, limits: HuaweiLimits) {
        self.set_limits(limits)
    }
    fn call_stats(&self) -> CallStats {
        self.calls()
    }
    fn clear_calls(&self) {
        self.reset_calls()
    }
}

fn admin(ctl: &HuaweiControl, parts: &Parts, body: &[u8]) -> Response {
    admin_inner(ctl, parts, body).unwrap_or_else(|e| e)
}

fn admin_inner(ctl: &HuaweiControl, parts: &Parts, body: &[u8]) -> Result<Response, Response> {
    let path = parts.uri.path().trim_end_matches('/');
    let segs: Vec<&str> = path.split('/').skip(2).collect();
    let q = parse_query(parts.uri.query());
    let m = &parts.method;
    let is_set = *m == Method::PUT || *m == Method::POST;
    Ok(match segs.as_slice() {
        ["phones"] if *m == Method::POST => {
            let req: AddReq = parse_admin_json(body)?;
            let id = match req.id {
                Some(id) => id,
                None => {
                    let mut st = ctl.lock();
                    random_hex32(&mut st.rng)
                }
            };
            if !ctl.add_phone(&id, req.status.unwrap_or(status::RUNNING)) {
                return Err(admin_error(StatusCode::CONFLICT, "phone id already exists"));
            }
            admin_ok(json!({"id": id}))
        }
        ["jobs", id] if *m == Method::GET => match ctl.job(id) {
            Some(j) => admin_ok(json!(j)),
            None => admin_error(StatusCode::NOT_FOUND, "unknown job"),
        },
        ["jobs"] if *m == Method::GET => {
            let rid = query_get(&q, "request_id").unwrap_or_default();
            admin_ok(json!({"jobs": ctl.jobs_of_request(rid)}))
        }
        ["tokens"] if *m == Method::POST => admin_ok(json!({"token": ctl.issue_token()})),
        ["tokens", "expire"] if *m == Method::POST => {
            ctl.expire_tokens();
            admin_ok(json!({"ok": true}))
        }
        ["tokens", "ttl"] if *m == Method::GET => {
            admin_ok(json!({"seconds": ctl.token_ttl().as_secs_f64()}))
        }
        ["tokens", "ttl"] if is_set => {
            let req: TtlReq = parse_admin_json(body)?;
            if !(req.seconds.is_finite() && req.seconds >= 0.0) {
                return Err(admin_error(StatusCode::BAD_REQUEST, "seconds must be >= 0"));
            }
            ctl.set_token_ttl(Duration::from_secs_f64(req.seconds));
            admin_ok(json!({"seconds": req.seconds}))
        }
        _ => return admin_common(ctl, &segs, m, &q, body),
    })
}
