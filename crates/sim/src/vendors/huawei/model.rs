//! The Huawei CPH model: phones, jobs, IAM tokens, throttling windows, lock-out and settings.

use std::collections::HashMap;
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use time::macros::format_description;
use time::OffsetDateTime;
use tokio::time::Instant;

use super::wire::{Listed, ListedJob};
use super::{status, Huawei};
use crate::engine::{self, random_hex32, Clock, SimPhone, VendorLimits, VendorState, Window};

pub(crate) const DEFAULT_IMAGE: &str = "5a1f0b7e2c9d4e8f9a6b3c2d1e0f4a5b";

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

/// Huawei per-API throttling and AK/SK lock-out. Windows are scaled by `time_scale`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HuaweiLimits {
    /// Calls per second per API before 429 APIGW.0308 (default 200; `None` = off).
    pub per_second: Option<u32>,
    /// Consecutive AK/SK authentication failures that lock the access key (default 5; `None` = off).
    pub aksk_lockout_failures: Option<u32>,
    /// How long a locked access key stays locked (default 5 min, scaled).
    #[serde(with = "crate::engine::duration_ms", rename = "aksk_lockout_ms")]
    pub aksk_lockout: Duration,
}

impl Default for HuaweiLimits {
    fn default() -> Self {
        HuaweiLimits {
            per_second: Some(200),
            aksk_lockout_failures: Some(5),
            aksk_lockout: Duration::from_secs(300),
        }
    }
}

impl HuaweiLimits {
    /// No throttling and no AK/SK lock-out.
    pub fn off() -> Self {
        HuaweiLimits {
            per_second: None,
            aksk_lockout_failures: None,
            ..Self::default()
        }
    }
}

impl VendorLimits for HuaweiLimits {
    fn off() -> Self {
        HuaweiLimits::off()
    }
}

/// The operations a Huawei phone goes through (each one a job).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `batch-reset`.
    Reset,
    /// `batch-restart`.
    Restart,
    /// `batch-stop`.
    Stop,
}

impl Op {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Op::Reset => "reset",
            Op::Restart => "restart",
            Op::Stop => "stop",
        }
    }
}

/// Huawei's own data of a phone.
#[derive(Serialize, Deserialize)]
pub struct PhoneData {
    pub(crate) name: String,
    pub(crate) server_id: String,
    pub(crate) image_id: String,
    pub(crate) created_unix: i64,
    /// Last change by an accepted reset, restart or stop (Unix seconds).
    pub(crate) updated_unix: i64,
    /// The phone's properties as the last reset or restart set them: a JSON-encoded object.
    pub(crate) property: String,
    /// A stable 15-digit IMEI.
    pub(crate) imei: String,
    /// The phone's place on its server (addresses and ports derive from it).
    pub(crate) index: u32,
}

/// One Huawei phone.
pub(crate) type Phone = engine::Phone<PhoneData>;

impl SimPhone for PhoneData {
    type Op = Op;
    type Info = HuaweiPhoneInfo;
    type Applied = HuaweiApplied;

    fn info(p: &Phone, now: Instant) -> HuaweiPhoneInfo {
        HuaweiPhoneInfo {
            id: p.id.clone(),
            name: p.data.name.clone(),
            server_id: p.data.server_id.clone(),
            status: p.life.status_at(now),
            image_id: p.data.image_id.clone(),
            applied: p.applied,
        }
    }
}

impl Phone {
    /// The detail (`GET phones/{id}`) of a phone: the fields of the SDK's
    /// `ShowCloudPhoneDetailResponse`, filled from the phone's state.
    pub(crate) fn detail_json(&self, now: Instant, region: &str) -> Value {
        let d = &self.data;
        let mut v = serde_json::to_value(Listed::of(self, now, region)).unwrap_or_default();
        let custom: serde_json::Map<String, Value> = serde_json::from_str::<Value>(&d.property)
            .ok()
            .and_then(|p| p.as_object().cloned())
            .unwrap_or_default()
            .into_iter()
            .map(|(k, x)| {
                let text = match x {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                (k, Value::String(text))
            })
            .collect();
        let (hi, lo) = ((d.index >> 8) & 0xff, d.index & 0xff);
        v["property"] = json!(d.property);
        v["custom_property"] = Value::Object(custom);
        v["access_infos"] = json!([{
            "type": "adb",
            "device_ip": format!("172.16.{hi}.{lo}"),
            "phone_ip": format!("172.17.{hi}.{lo}"),
            "listen_port": 5555,
            "access_ip": format!("100.64.{hi}.{lo}"),
            "public_ip": format!("198.51.{hi}.{lo}"),
            "intranet_ip": format!("192.168.{hi}.{lo}"),
            "server_ip": format!("10.0.{hi}.{lo}"),
            "access_port": 20_000 + d.index % 10_000,
            "phone_ipv6": null,
            "server_ipv6": null,
        }]);
        v["phone_data_volume"] = json!({"volume_type": "SSD", "volume_size": 32});
        v["has_encrypt"] = json!(false);
        v
    }
}

/// A stable, Luhn-valid 15-digit IMEI for the phone at `index`.
fn imei_of(index: u32) -> String {
    let body = format!("86{:012}", u64::from(index) * 7_919 % 1_000_000_000_000);
    let sum: u32 = body
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let x = u32::from(b - b'0');
            if i % 2 == 0 {
                let y = x * 2;
                y / 10 + y % 10
            } else {
                x
            }
        })
        .sum();
    format!("{body}{}", (10 - sum % 10) % 10)
}

/// Extra fields of a phone added over the admin API: none.
#[derive(Debug, Default, Deserialize)]
pub struct NewPhone {}

/// One asynchronous job.
pub(crate) struct Job {
    pub(crate) job_id: String,
    pub(crate) request_id: String,
    pub(crate) phone: usize,
    pub(crate) op: Op,
    pub(crate) begin_unix: i64,
    pub(crate) begin: Instant,
    pub(crate) end: Instant,
    pub(crate) failed: bool,
}

impl Job {
    /// 1 running, 2 succeeded, −1 failed.
    pub(crate) fn status_at(&self, now: Instant) -> i32 {
        if now < self.end {
            1
        } else if self.failed {
            -1
        } else {
            2
        }
    }
}

pub(crate) struct TokenInfo {
    pub(crate) project_id: String,
    pub(crate) expires_at: Instant,
    pub(crate) forced_expired: bool,
    pub(crate) calls: u64,
}

/// Huawei's settings, fixed at start.
pub struct Settings {
    pub(crate) project_id: String,
    pub(crate) region: String,
    pub(crate) access_key: String,
    pub(crate) secret_key: String,
    pub(crate) security_token: Option<String>,
    pub(crate) username: String,
    pub(crate) password: String,
    pub(crate) domain: String,
    pub(crate) token: String,
    pub(crate) reset: Duration,
    pub(crate) restart: Duration,
    pub(crate) stop: Duration,
}

/// Huawei's state beyond phones: jobs, tokens, throttling windows and the AK/SK lock-out.
pub struct Model {
    pub(crate) jobs: Vec<Job>,
    pub(crate) job_index: HashMap<String, usize>,
    pub(crate) request_jobs: HashMap<String, Vec<usize>>,
    pub(crate) tokens: HashMap<String, TokenInfo>,
    pub(crate) token_ttl: Duration,
    rates: HashMap<String, Window>,
    pub(crate) aksk_failures: u32,
    pub(crate) aksk_locked_until: Option<Instant>,
    start_unix: i64,
}

impl Model {
    pub(crate) fn new(token_ttl: Duration) -> Self {
        Model {
            jobs: Vec::new(),
            job_index: HashMap::new(),
            request_jobs: HashMap::new(),
            tokens: HashMap::new(),
            token_ttl,
            rates: HashMap::new(),
            aksk_failures: 0,
            aksk_locked_until: None,
            start_unix: OffsetDateTime::now_utc().unix_timestamp(),
        }
    }

    pub(crate) fn forget_rates(&mut self) {
        self.rates.clear();
        self.aksk_failures = 0;
        self.aksk_locked_until = None;
    }

    pub(crate) fn issue_token(
        &mut self,
        rng: &mut SmallRng,
        project_id: String,
    ) -> (String, OffsetDateTime) {
        let token = random_token(rng, 240);
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
}

/// An IAM-like token: `MII` and `len` URL-safe characters.
fn random_token(rng: &mut SmallRng, len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut s = String::with_capacity(len + 3);
    s.push_str("MII");
    for _ in 0..len {
        s.push(ALPHABET[rng.random_range(0..ALPHABET.len())] as char);
    }
    s
}

pub(crate) fn fmt_micros(t: OffsetDateTime) -> String {
    t.format(format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
    ))
    .unwrap_or_default()
}

pub(crate) fn is_hex32(s: &str) -> bool {
    s.len() == 32
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

pub(crate) fn seed(st: &mut VendorState<Huawei>, n: usize) -> Vec<String> {
    let mut ids = Vec::with_capacity(n);
    let mut server = random_hex32(&mut st.rng);
    for _ in 0..n {
        // Real CPH servers host several phones each.
        if st.fleet.len().is_multiple_of(4) {
            server = random_hex32(&mut st.rng);
        }
        let id = st.fresh_id();
        let roll: f64 = st.rng.random();
        let status = if roll < 0.8 {
            status::RUNNING
        } else {
            status::STOPPED
        };
        push(st, id.clone(), status, server.clone());
        ids.push(id);
    }
    ids
}

/// Adds a phone on a server of its own.
pub(crate) fn insert(st: &mut VendorState<Huawei>, id: String, status: i32) {
    let server = random_hex32(&mut st.rng);
    push(st, id, status, server);
}

fn push(st: &mut VendorState<Huawei>, id: String, status: i32, server_id: String) {
    let n = st.fleet.len();
    // Creation times ascend with insertion order (one second apart, wrapping after a day), so
    // "newest first" is simply reverse insertion order.
    let created_unix = st.model.start_unix - 86_400 + (n as i64 % 86_000);
    let index = n as u32 + 1;
    let data = PhoneData {
        name: format!("cph-sim-phone-{index:04}"),
        server_id,
        image_id: DEFAULT_IMAGE.to_string(),
        created_unix,
        updated_unix: created_unix,
        property: format!(
            "{{\"sys.prop.writephonenum\":\"1360000{:04}\"}}",
            index % 10_000
        ),
        imei: imei_of(index),
        index,
    };
    st.fleet.push(Phone::new(id, status, data));
}

/// The jobs as `--state` keeps them: each one finished (a job running at save is saved with
/// its planned outcome).
pub(crate) fn save_jobs(st: &VendorState<Huawei>, _now: Instant) -> Value {
    let jobs: Vec<Value> = st
        .model
        .jobs
        .iter()
        .map(|j| {
            json!({
                "job_id": j.job_id,
                "request_id": j.request_id,
                "phone": j.phone,
                "op": j.op.name(),
                "begin_unix": j.begin_unix,
                "duration_ms": j.end.saturating_duration_since(j.begin).as_millis() as u64,
                "failed": j.failed,
            })
        })
        .collect();
    json!({ "jobs": jobs })
}

/// Restores [`save_jobs`]' jobs (finished), for phones that were loaded.
pub(crate) fn load_jobs(st: &mut VendorState<Huawei>, saved: &Value) -> Result<(), String> {
    let now = Instant::now();
    let model = &mut st.model;
    model.jobs.clear();
    model.job_index.clear();
    model.request_jobs.clear();
    let Some(jobs) = saved.get("jobs").and_then(Value::as_array) else {
        return Ok(());
    };
    for j in jobs {
        let text = |k: &str| j[k].as_str().map(str::to_string);
        let (Some(job_id), Some(request_id), Some(phone)) =
            (text("job_id"), text("request_id"), j["phone"].as_u64())
        else {
            return Err(format!("huawei-cph: a saved job is incomplete: {j}"));
        };
        let phone = phone as usize;
        if phone >= st.fleet.len() {
            return Err(format!("huawei-cph: job {job_id} names no saved phone"));
        }
        let op = match j["op"].as_str() {
            Some("reset") => Op::Reset,
            Some("restart") => Op::Restart,
            Some("stop") => Op::Stop,
            other => return Err(format!("huawei-cph: job {job_id}: unknown op {other:?}")),
        };
        let d = Duration::from_millis(j["duration_ms"].as_u64().unwrap_or(0));
        let idx = model.jobs.len();
        model.job_index.insert(job_id.clone(), idx);
        model
            .request_jobs
            .entry(request_id.clone())
            .or_default()
            .push(idx);
        model.jobs.push(Job {
            job_id,
            request_id,
            phone,
            op,
            begin_unix: j["begin_unix"].as_i64().unwrap_or(0),
            begin: now.checked_sub(d).unwrap_or(now),
            end: now,
            failed: j["failed"].as_bool().unwrap_or(false),
        });
    }
    Ok(())
}

pub(crate) fn job_info(st: &VendorState<Huawei>, j: &Job, now: Instant) -> HuaweiJobInfo {
    HuaweiJobInfo {
        job_id: j.job_id.clone(),
        request_id: j.request_id.clone(),
        phone_id: st.fleet.phones[j.phone].id.clone(),
        operation: j.op.name().to_string(),
        status: j.status_at(now),
        error_code: (j.failed && now >= j.end).then(|| "CPS.0003".to_string()),
    }
}

/// A job as `GET jobs/{id}` answers it.
pub(crate) fn job_json(st: &VendorState<Huawei>, j: &Job, now: Instant) -> Value {
    serde_json::to_value(ListedJob::of(st, j, now)).unwrap_or_default()
}

/// True if a call to this API must be throttled (429 APIGW.0308).
pub(crate) fn throttled(
    st: &mut VendorState<Huawei>,
    clock: &Clock,
    key: &str,
    now: Instant,
) -> bool {
    let Some(per_second) = st.limits.per_second else {
        return false;
    };
    let r = st.model.rates.entry(key.to_string()).or_default();
    r.roll(clock, now, Duration::from_secs(1));
    if r.count >= per_second {
        return true;
    }
    r.count += 1;
    false
}
