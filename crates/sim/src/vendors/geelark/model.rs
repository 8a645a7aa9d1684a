//! The GeeLark model: phones, their flags and counters, rate limits and settings.

use std::collections::HashMap;
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::Rng;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::{status, Geelark};
use crate::engine::{self, Clock, SimPhone, VendorLimits, VendorState, Window};

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

/// GeeLark per-API rate limits. Windows are fixed (aligned to simulator start) and scaled by
/// `time_scale`: with scale 0.01 a "minute" lasts 0.6 s. Rejected calls do not count.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GeelarkLimits {
    /// Calls per minute per API path before code 40007 (default 200; `None` = off).
    pub per_minute: Option<u32>,
    /// Calls per hour per API path before code 40014 (default 24,000; `None` = off).
    pub per_hour: Option<u32>,
    /// How long an API stays locked after exceeding the hourly limit (default 2 h, scaled).
    #[serde(with = "crate::engine::duration_ms", rename = "hourly_lock_ms")]
    pub hourly_lock: Duration,
}

impl Default for GeelarkLimits {
    fn default() -> Self {
        GeelarkLimits {
            per_minute: Some(200),
            per_hour: Some(24_000),
            hourly_lock: Duration::from_secs(2 * 3600),
        }
    }
}

impl GeelarkLimits {
    /// No rate limits at all.
    pub fn off() -> Self {
        GeelarkLimits {
            per_minute: None,
            per_hour: None,
            ..Self::default()
        }
    }
}

impl VendorLimits for GeelarkLimits {
    fn off() -> Self {
        GeelarkLimits::off()
    }
}

/// The operations a GeeLark phone goes through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `phone/start`.
    Start,
    /// `phone/stop`.
    Stop,
    /// `phone/restart`.
    Restart,
    /// `v2/phone/newOne`.
    NewOne,
}

/// GeeLark's own data of a phone.
#[derive(Serialize, Deserialize)]
pub struct PhoneData {
    pub(crate) serial_name: String,
    pub(crate) serial_no: u32,
    pub(crate) flags: GeelarkFlags,
}

/// One GeeLark phone.
pub(crate) type Phone = engine::Phone<PhoneData>;

impl Phone {
    pub(crate) fn new_one_running(&self, now: Instant) -> bool {
        matches!(self.life.pending, Some(p) if p.op == Op::NewOne && now < p.until)
    }

    pub(crate) fn group(&self) -> (String, String) {
        let g = (self.data.serial_no.saturating_sub(1)) % 4 + 1;
        (format!("70000000000000000{g}"), format!("group-{g}"))
    }
}

impl SimPhone for PhoneData {
    type Op = Op;
    type Info = GeelarkPhoneInfo;
    type Applied = GeelarkApplied;

    fn info(p: &Phone, now: Instant) -> GeelarkPhoneInfo {
        GeelarkPhoneInfo {
            id: p.id.clone(),
            serial_name: p.data.serial_name.clone(),
            status: p.life.status_at(now),
            flags: p.data.flags,
            new_one_in_progress: p.new_one_running(now),
            applied: p.applied,
        }
    }
}

/// Extra fields of a phone added over the admin API.
#[derive(Debug, Default, Deserialize)]
pub struct NewPhone {
    serial_name: Option<String>,
    #[serde(default)]
    remote_connected: bool,
    #[serde(default)]
    executing_task: bool,
}

/// GeeLark's settings, fixed at start.
pub struct Settings {
    pub(crate) app_id: String,
    pub(crate) api_key: String,
    pub(crate) token: String,
    pub(crate) start: Duration,
    pub(crate) stop: Duration,
    pub(crate) restart: Duration,
    pub(crate) new_one: Duration,
    pub(crate) max_skew: Option<Duration>,
}

#[derive(Default)]
struct RateState {
    minute: Window,
    hour: Window,
    locked_until: Option<Instant>,
}

/// GeeLark's state beyond phones: the rate windows per API path.
#[derive(Default)]
pub struct Model {
    rates: HashMap<String, RateState>,
}

impl Model {
    pub(crate) fn forget_rates(&mut self) {
        self.rates.clear();
    }
}

/// An 18-digit decimal id like GeeLark's (first digit 5, as in the documented examples).
pub(crate) fn random_id(rng: &mut SmallRng) -> String {
    let n: u64 = rng.random_range(500_000_000_000_000_000..600_000_000_000_000_000);
    n.to_string()
}

pub(crate) fn seed(st: &mut VendorState<Geelark>, n: usize) -> Vec<String> {
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        let id = st.fresh_id();
        // A realistic fleet: mostly running, some shut down, a few expired.
        let roll: f64 = st.rng.random();
        let status = if roll < 0.6 {
            status::STARTED
        } else if roll < 0.95 {
            status::SHUT_DOWN
        } else {
            status::EXPIRED
        };
        insert(st, id.clone(), status, NewPhone::default());
        ids.push(id);
    }
    ids
}

pub(crate) fn insert(st: &mut VendorState<Geelark>, id: String, status: i32, extra: NewPhone) {
    let serial_no = st.fleet.len() as u32 + 1;
    let data = PhoneData {
        serial_name: extra
            .serial_name
            .unwrap_or_else(|| format!("phone-{serial_no:04}")),
        serial_no,
        flags: GeelarkFlags {
            remote_connected: extra.remote_connected,
            executing_task: extra.executing_task,
        },
    };
    st.fleet.push(Phone::new(id, status, data));
}

const HOURLY_LOCKED: &str = "Hourly request limit exceeded, the API is locked for two hours";

/// The envelope code and message if a call to this API path must be refused.
pub(crate) fn rate_limit(
    st: &mut VendorState<Geelark>,
    clock: &Clock,
    path: &str,
    now: Instant,
) -> Option<(i64, String)> {
    let limits = st.limits.clone();
    if limits.per_minute.is_none() && limits.per_hour.is_none() {
        return None;
    }
    let r = st.model.rates.entry(path.to_string()).or_default();
    if let Some(until) = r.locked_until {
        if now < until {
            return Some((40014, HOURLY_LOCKED.into()));
        }
        r.locked_until = None;
    }
    r.minute.roll(clock, now, Duration::from_secs(60));
    r.hour.roll(clock, now, Duration::from_secs(3600));
    if let Some(per_hour) = limits.per_hour {
        if r.hour.count >= per_hour {
            r.locked_until = Some(now + clock.scaled(limits.hourly_lock));
            r.hour.count = 0;
            return Some((40014, HOURLY_LOCKED.into()));
        }
    }
    if let Some(per_minute) = limits.per_minute {
        if r.minute.count >= per_minute {
            return Some((
                40007,
                "Too many requests, the limit is lifted next minute".into(),
            ));
        }
    }
    r.minute.count += 1;
    r.hour.count += 1;
    None
}
