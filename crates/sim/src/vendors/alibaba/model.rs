//! The eds-aic model: phones with the 15 string states (kept as codes by the core), tasks
//! (`Level` 1 per call, 2 per phone, `InvokeId` = the call's `RequestId`), used nonces, rate
//! windows and settings.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use time::OffsetDateTime;
use tokio::time::Instant;

use super::{durations, status, Alibaba};
use crate::engine::{self, Clock, SimPhone, VendorLimits, VendorState, Window};

pub(crate) const DEFAULT_IMAGE: &str = "imgc-075cllfeuazh0d4wd";

/// How many times each state change was accepted and begun for one phone, counted even when a
/// fault then hid the answer from the client.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlibabaApplied {
    /// Begun `StartAndroidInstance`s.
    pub starts: u32,
    /// Begun `StopAndroidInstance`s.
    pub stops: u32,
    /// Begun `RebootAndroidInstancesInGroup`s.
    pub reboots: u32,
    /// Begun `ResetAndroidInstancesInGroup`s.
    pub resets: u32,
    /// Begun `UpdateInstanceImage`s.
    pub reimages: u32,
}

/// A snapshot of one phone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlibabaPhoneInfo {
    /// Instance id (`acp-` and 17 characters for seeded phones).
    pub id: String,
    /// Instance name.
    pub name: String,
    /// Current status code (see [`status`]).
    pub status: i32,
    /// Current `AndroidInstanceStatus` string.
    pub status_name: String,
    /// Instance group.
    pub group_id: String,
    /// Image in use.
    pub image_id: String,
    /// The phone's region (`RegionId`, the `BizRegionId` filter).
    pub region_id: String,
    /// Applied-operation counters.
    pub applied: AlibabaApplied,
}

/// A snapshot of one task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlibabaTaskInfo {
    /// Task id.
    pub task_id: String,
    /// `RequestId` of the call that created it.
    pub invoke_id: String,
    /// 1: the call's batch task; 2: one phone's instance task.
    pub level: u8,
    /// The batch task of an instance task.
    pub parent_task_id: Option<String>,
    /// The phone of an instance task.
    pub instance_id: Option<String>,
    /// `StartInstance`, `StopInstance`, `RebootInstance`, `ResetInstance`,
    /// `UpdateInstanceImage`.
    pub task_type: String,
    /// `Processing`, `Finished` or `Failed`.
    pub status: String,
    /// Error code of a failed task.
    pub error_code: Option<String>,
}

/// Per-action throttling (`Throttling.User`). Windows are scaled by `time_scale`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AlibabaLimits {
    /// Calls per second per action (default 100; `None` = off). Alibaba publishes no eds-aic
    /// figure: the simulator's choice.
    pub per_second: Option<u32>,
}

impl Default for AlibabaLimits {
    fn default() -> Self {
        AlibabaLimits {
            per_second: Some(100),
        }
    }
}

impl VendorLimits for AlibabaLimits {
    fn off() -> Self {
        AlibabaLimits { per_second: None }
    }
}

/// The state changes a phone goes through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `StartAndroidInstance`.
    Start,
    /// `StopAndroidInstance`.
    Stop,
    /// `RebootAndroidInstancesInGroup`.
    Reboot,
    /// `ResetAndroidInstancesInGroup`.
    Reset,
    /// `UpdateInstanceImage`.
    Reimage,
}

impl Op {
    pub(crate) fn task_type(self) -> &'static str {
        match self {
            Op::Start => "StartInstance",
            Op::Stop => "StopInstance",
            Op::Reboot => "RebootInstance",
            Op::Reset => "ResetInstance",
            Op::Reimage => "UpdateInstanceImage",
        }
    }

    /// The documented states the operation is accepted from.
    pub(crate) fn allowed(self) -> &'static [i32] {
        use status::*;
        match self {
            Op::Start => &[STOPPED, BACKUP_FAILED, RECOVER_FAILED],
            Op::Stop => &[RUNNING, BACKUP_FAILED, RECOVER_FAILED],
            Op::Reboot => &[RUNNING, UNAVAILABLE, BACKUP_FAILED, RECOVER_FAILED],
            Op::Reset => &[RUNNING, STOPPED, UNAVAILABLE, BACKUP_FAILED, RECOVER_FAILED],
            Op::Reimage => &[RUNNING, STOPPED],
        }
    }

    /// The state shown during the operation and the one it ends in.
    pub(crate) fn transition(self) -> (i32, i32) {
        use status::*;
        match self {
            Op::Start => (STARTING, RUNNING),
            Op::Stop => (STOPPING, STOPPED),
            Op::Reboot => (REBOOTING, RUNNING),
            Op::Reset | Op::Reimage => (RESETTING, RUNNING),
        }
    }
}

/// eds-aic's own data of a phone.
#[derive(Serialize, Deserialize)]
pub struct PhoneData {
    pub(crate) name: String,
    pub(crate) group_id: String,
    pub(crate) image_id: String,
    pub(crate) region_id: String,
    pub(crate) created_unix: i64,
}

/// One phone.
pub(crate) type Phone = engine::Phone<PhoneData>;

impl SimPhone for PhoneData {
    type Op = Op;
    type Info = AlibabaPhoneInfo;
    type Applied = AlibabaApplied;

    fn info(p: &Phone, now: Instant) -> AlibabaPhoneInfo {
        let code = p.life.status_at(now);
        AlibabaPhoneInfo {
            id: p.id.clone(),
            name: p.data.name.clone(),
            status: code,
            status_name: status::name(code),
            group_id: p.data.group_id.clone(),
            image_id: p.data.image_id.clone(),
            region_id: p.data.region_id.clone(),
            applied: p.applied,
        }
    }
}

/// Extra fields of a phone added over the admin API: none.
#[derive(Debug, Default, Deserialize)]
pub struct NewPhone {}

/// Why a task failed: its `ErrorCode` and `ErrorMsg`.
#[derive(Clone, Debug)]
pub(crate) struct Failure {
    pub(crate) code: &'static str,
    pub(crate) message: String,
}

/// One task: a call's batch task (level 1) or one phone's instance task (level 2).
pub(crate) struct Task {
    pub(crate) task_id: String,
    pub(crate) invoke_id: String,
    pub(crate) level: u8,
    pub(crate) parent: Option<usize>,
    pub(crate) phone: Option<usize>,
    pub(crate) children: Vec<usize>,
    pub(crate) op: Op,
    pub(crate) begin_unix: i64,
    pub(crate) begin: Instant,
    pub(crate) end: Instant,
    pub(crate) failure: Option<Failure>,
}

/// eds-aic's settings, fixed at start (read from the per-vendor section over these defaults).
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub(crate) access_key: String,
    pub(crate) secret_key: String,
    pub(crate) sts_access_key: String,
    pub(crate) sts_secret_key: String,
    pub(crate) security_token: String,
    pub(crate) site: String,
    /// The region of the seeded phones.
    pub(crate) region: String,
    /// Whether `UpdateInstanceImage` is offered (a China-site matrix feature).
    pub(crate) reimage: bool,
    pub(crate) max_clock_skew_secs: u64,
    pub(crate) start_ms: u64,
    pub(crate) stop_ms: u64,
    pub(crate) reboot_ms: u64,
    pub(crate) reset_ms: u64,
    pub(crate) reimage_ms: u64,
}

fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            access_key: "LTAI5simFAKE0000000001".into(),
            secret_key: "SIMALISKfake00000000000000000001".into(),
            sts_access_key: "STS.simFAKE00000000000000001".into(),
            sts_secret_key: "SIMALISTSSKfake000000000000001".into(),
            security_token: "CAISsimSTStoken-fake-000000000000000001".into(),
            site: "cn-shanghai".into(),
            region: "cn-hangzhou".into(),
            reimage: true,
            max_clock_skew_secs: 15 * 60,
            start_ms: ms(durations::START),
            stop_ms: ms(durations::STOP),
            reboot_ms: ms(durations::REBOOT),
            reset_ms: ms(durations::RESET),
            reimage_ms: ms(durations::REIMAGE),
        }
    }
}

impl Settings {
    pub(crate) fn duration(&self, op: Op) -> Duration {
        Duration::from_millis(match op {
            Op::Start => self.start_ms,
            Op::Stop => self.stop_ms,
            Op::Reboot => self.reboot_ms,
            Op::Reset => self.reset_ms,
            Op::Reimage => self.reimage_ms,
        })
    }
}

/// How long a used nonce is remembered (real time): the date window on either side.
pub(crate) const NONCE_MEMORY: Duration = Duration::from_secs(30 * 60);

/// The tasks as `--state` keeps them (each one finished on load, with its planned outcome).
pub(crate) fn save_tasks(st: &VendorState<Alibaba>) -> Value {
    let tasks: Vec<Value> = st
        .model
        .tasks
        .iter()
        .map(|t| {
            json!({
                "task_id": t.task_id,
                "invoke_id": t.invoke_id,
                "level": t.level,
                "parent": t.parent,
                "phone": t.phone,
                "children": t.children,
                "op": t.op.task_type(),
                "begin_unix": t.begin_unix,
                "duration_ms": t.end.saturating_duration_since(t.begin).as_millis() as u64,
                "failure": t.failure.as_ref().map(|f| json!({"code": f.code, "message": f.message})),
            })
        })
        .collect();
    json!({ "tasks": tasks })
}

/// Restores [`save_tasks`]' tasks, finished.
pub(crate) fn load_tasks(st: &mut VendorState<Alibaba>, saved: &Value) -> Result<(), String> {
    let now = Instant::now();
    let phones = st.fleet.len();
    let m = &mut st.model;
    m.tasks.clear();
    m.task_index.clear();
    m.invoke_index.clear();
    let Some(tasks) = saved.get("tasks").and_then(Value::as_array) else {
        return Ok(());
    };
    let n = tasks.len();
    for t in tasks {
        let bad = || format!("alibaba: a saved task is invalid: {t}");
        let text = |k: &str| t[k].as_str().map(str::to_string);
        let index = |v: &Value| -> Result<Option<usize>, String> {
            match v {
                Value::Null => Ok(None),
                v => v.as_u64().map(|i| Some(i as usize)).ok_or_else(bad),
            }
        };
        let (Some(task_id), Some(invoke_id)) = (text("task_id"), text("invoke_id")) else {
            return Err(bad());
        };
        let parent = index(&t["parent"])?.filter(|p| *p < n);
        let phone = index(&t["phone"])?;
        if phone.is_some_and(|p| p >= phones) {
            return Err(bad());
        }
        let children: Vec<usize> = t["children"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_u64)
                    .map(|i| i as usize)
                    .filter(|i| *i < n)
                    .collect()
            })
            .unwrap_or_default();
        let op = match t["op"].as_str() {
            Some("StartInstance") => Op::Start,
            Some("StopInstance") => Op::Stop,
            Some("RebootInstance") => Op::Reboot,
            Some("ResetInstance") => Op::Reset,
            Some("UpdateInstanceImage") => Op::Reimage,
            _ => return Err(bad()),
        };
        let failure = match &t["failure"] {
            Value::Null => None,
            f => Some(Failure {
                code: match f["code"].as_str() {
                    Some("IncorrectInstanceStatus") => "IncorrectInstanceStatus",
                    _ => "InstanceOperationFailed",
                },
                message: f["message"].as_str().unwrap_or_default().to_string(),
            }),
        };
        let d = Duration::from_millis(t["duration_ms"].as_u64().unwrap_or(0));
        let idx = m.tasks.len();
        m.task_index.insert(task_id.clone(), idx);
        m.invoke_index
            .entry(invoke_id.clone())
            .or_default()
            .push(idx);
        m.tasks.push(Task {
            task_id,
            invoke_id,
            level: t["level"].as_u64().unwrap_or(2) as u8,
            parent,
            phone,
            children,
            op,
            begin_unix: t["begin_unix"].as_i64().unwrap_or(0),
            begin: now.checked_sub(d).unwrap_or(now),
            end: now,
            failure,
        });
    }
    Ok(())
}

/// eds-aic's state beyond phones: tasks, used nonces and rate windows.
pub struct Model {
    pub(crate) tasks: Vec<Task>,
    pub(crate) task_index: HashMap<String, usize>,
    pub(crate) invoke_index: HashMap<String, Vec<usize>>,
    nonces: HashMap<String, Instant>,
    nonce_order: VecDeque<(Instant, String)>,
    rates: HashMap<String, Window>,
    start_unix: i64,
    /// The region seeded phones live in (from the settings).
    pub(crate) region: String,
}

impl Model {
    pub(crate) fn new(region: String) -> Self {
        Model {
            region,
            tasks: Vec::new(),
            task_index: HashMap::new(),
            invoke_index: HashMap::new(),
            nonces: HashMap::new(),
            nonce_order: VecDeque::new(),
            rates: HashMap::new(),
            start_unix: OffsetDateTime::now_utc().unix_timestamp(),
        }
    }

    pub(crate) fn forget_rates(&mut self) {
        self.rates.clear();
    }

    /// Records a nonce; false if it was used within [`NONCE_MEMORY`].
    pub(crate) fn use_nonce(&mut self, nonce: &str, now: Instant) -> bool {
        while let Some((at, _)) = self.nonce_order.front() {
            if now.saturating_duration_since(*at) < NONCE_MEMORY {
                break;
            }
            let (_, old) = self.nonce_order.pop_front().expect("checked");
            self.nonces.remove(&old);
        }
        if self.nonces.contains_key(nonce) {
            return false;
        }
        self.nonces.insert(nonce.to_owned(), now);
        self.nonce_order.push_back((now, nonce.to_owned()));
        true
    }
}

/// A random id: `prefix` and `n` lower-case alphanumerics.
pub(crate) fn random_id(rng: &mut SmallRng, prefix: &str, n: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut s = String::with_capacity(prefix.len() + n);
    s.push_str(prefix);
    for _ in 0..n {
        s.push(ALPHABET[rng.random_range(0..ALPHABET.len())] as char);
    }
    s
}

/// A `RequestId`: an upper-case UUID.
pub(crate) fn request_id(rng: &mut SmallRng) -> String {
    let h = format!("{:032X}", rng.random::<u128>());
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

pub(crate) fn seed(st: &mut VendorState<Alibaba>, n: usize, region: &str) -> Vec<String> {
    let mut ids = Vec::with_capacity(n);
    let mut group = random_id(&mut st.rng, "ag-", 17);
    for _ in 0..n {
        // A group holds many phones.
        if st.fleet.len().is_multiple_of(50) {
            group = random_id(&mut st.rng, "ag-", 17);
        }
        let id = st.fresh_id();
        let roll: f64 = st.rng.random();
        let code = if roll < 0.8 {
            status::RUNNING
        } else {
            status::STOPPED
        };
        push(st, id.clone(), code, group.clone(), region);
        ids.push(id);
    }
    ids
}

/// Adds a phone in a group of its own.
pub(crate) fn insert(st: &mut VendorState<Alibaba>, id: String, code: i32, region: &str) {
    let group = random_id(&mut st.rng, "ag-", 17);
    push(st, id, code, group, region);
}

fn push(st: &mut VendorState<Alibaba>, id: String, code: i32, group_id: String, region: &str) {
    let n = st.fleet.len();
    // Creation times ascend with insertion order, so "newest first" is reverse insertion.
    let created_unix = st.model.start_unix - 86_400 + (n as i64 % 86_000);
    let data = PhoneData {
        name: format!("acp-sim-{:05}", n + 1),
        group_id,
        image_id: DEFAULT_IMAGE.to_string(),
        region_id: region.to_string(),
        created_unix,
    };
    st.fleet.push(Phone::new(id, code, data));
}

/// `Processing`, `Finished` or `Failed` at `now`.
pub(crate) fn task_status(st: &VendorState<Alibaba>, t: &Task, now: Instant) -> &'static str {
    if t.level == 1 {
        let running = t.children.iter().any(|&c| now < st.model.tasks[c].end);
        return if running { "Processing" } else { "Finished" };
    }
    if now < t.end {
        "Processing"
    } else if t.failure.is_some() {
        "Failed"
    } else {
        "Finished"
    }
}

pub(crate) fn task_info(st: &VendorState<Alibaba>, t: &Task, now: Instant) -> AlibabaTaskInfo {
    let status = task_status(st, t, now);
    AlibabaTaskInfo {
        task_id: t.task_id.clone(),
        invoke_id: t.invoke_id.clone(),
        level: t.level,
        parent_task_id: t.parent.map(|p| st.model.tasks[p].task_id.clone()),
        instance_id: t.phone.map(|p| st.fleet.phones[p].id.clone()),
        task_type: t.op.task_type().to_string(),
        status: status.to_string(),
        error_code: (status == "Failed")
            .then(|| t.failure.as_ref().map(|f| f.code.to_string()))
            .flatten(),
    }
}

/// `Some(milliseconds to the next window)` if a call to `action` must be throttled.
pub(crate) fn throttled(
    st: &mut VendorState<Alibaba>,
    clock: &Clock,
    action: &str,
    now: Instant,
) -> Option<u64> {
    let per_second = st.limits.per_second?;
    let r = st.model.rates.entry(action.to_string()).or_default();
    r.roll(clock, now, Duration::from_secs(1));
    if r.count >= per_second {
        let window = clock.scaled(Duration::from_secs(1)).as_nanos().max(1);
        let into = now.saturating_duration_since(clock.start).as_nanos() % window;
        return Some(((window - into) / 1_000_000).max(1) as u64);
    }
    r.count += 1;
    None
}
