//! The per-vendor state holder: phones, faults, limits, call log and model behind one lock, with
//! the settings fixed at start; and its typed in-process control.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::SeedableRng;
use tokio::sync::watch;
use tokio::time::Instant;

use super::calls::{CallLog, CallStats};
use super::meter::{RateMeter, RateStats};
use super::util::Clock;
use super::{SimPhone, SimVendor};
use crate::config::{Faults, SimConfig};

/// A transition in progress: the phone shows `during` until `until`, then `after`.
#[derive(Clone, Copy, Debug)]
pub struct Pending<Op> {
    pub(crate) op: Op,
    pub(crate) during: i32,
    pub(crate) after: i32,
    pub(crate) until: Instant,
}

/// A phone's raw status and its transition, computed lazily from timestamps (no timers).
#[derive(Clone, Copy, Debug)]
pub struct Lifecycle<Op> {
    pub(crate) status: i32,
    pub(crate) pending: Option<Pending<Op>>,
}

impl<Op: Copy> Lifecycle<Op> {
    pub(crate) fn new(status: i32) -> Self {
        Lifecycle {
            status,
            pending: None,
        }
    }

    /// The status at `now`.
    pub(crate) fn status_at(&self, now: Instant) -> i32 {
        match self.pending {
            Some(p) if now < p.until => p.during,
            Some(p) => p.after,
            None => self.status,
        }
    }

    /// Folds a finished transition into the status.
    pub(crate) fn settle(&mut self, now: Instant) {
        if let Some(p) = self.pending {
            if now >= p.until {
                self.status = p.after;
                self.pending = None;
            }
        }
    }

    /// Sets the raw status at once, cancelling any transition.
    pub(crate) fn force(&mut self, status: i32) {
        self.pending = None;
        self.status = status;
    }

    /// Starts a transition: `during` until `until`, then `after`.
    pub(crate) fn begin(&mut self, op: Op, during: i32, after: i32, until: Instant) {
        self.pending = Some(Pending {
            op,
            during,
            after,
            until,
        });
    }
}

/// One phone: what every vendor's phones have, and the vendor's own data.
pub struct Phone<K: SimPhone> {
    pub(crate) id: String,
    pub(crate) life: Lifecycle<K::Op>,
    pub(crate) applied: K::Applied,
    pub(crate) data: K,
}

impl<K: SimPhone> Phone<K> {
    /// A phone with this raw status, nothing applied yet.
    pub(crate) fn new(id: String, status: i32, data: K) -> Self {
        Phone {
            id,
            life: Lifecycle::new(status),
            applied: K::Applied::default(),
            data,
        }
    }
}

/// The phones of one vendor in insertion (seed) order, with an index by id.
pub struct Fleet<K: SimPhone> {
    pub(crate) phones: Vec<Phone<K>>,
    index: HashMap<String, usize>,
}

impl<K: SimPhone> Fleet<K> {
    fn with_capacity(n: usize) -> Self {
        Fleet {
            phones: Vec::with_capacity(n),
            index: HashMap::with_capacity(n),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.phones.len()
    }

    pub(crate) fn contains(&self, id: &str) -> bool {
        self.index.contains_key(id)
    }

    /// The position of a phone in insertion order.
    pub(crate) fn position(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
    }

    pub(crate) fn get(&self, id: &str) -> Option<&Phone<K>> {
        self.position(id).map(|i| &self.phones[i])
    }

    pub(crate) fn get_mut(&mut self, id: &str) -> Option<&mut Phone<K>> {
        match self.position(id) {
            Some(i) => Some(&mut self.phones[i]),
            None => None,
        }
    }

    /// Forgets every phone.
    pub(crate) fn clear(&mut self) {
        self.phones.clear();
        self.index.clear();
    }

    /// Appends a phone whose id is unused.
    pub(crate) fn push(&mut self, phone: Phone<K>) {
        self.index.insert(phone.id.clone(), self.phones.len());
        self.phones.push(phone);
    }
}

/// Everything of one vendor that changes, behind one lock.
pub struct VendorState<V: SimVendor> {
    pub(crate) fleet: Fleet<V::Phone>,
    pub(crate) rng: SmallRng,
    pub(crate) faults: Faults,
    pub(crate) limits: V::Limits,
    pub(crate) calls: CallLog,
    /// What the rate limit saw (`/_sim/rates`).
    pub(crate) meter: RateMeter,
    pub(crate) model: V::Model,
}

impl<V: SimVendor> VendorState<V> {
    /// A random phone id no phone has.
    pub(crate) fn fresh_id(&mut self) -> String {
        loop {
            let id = V::new_id(&mut self.rng);
            if !self.fleet.contains(&id) {
                break id;
            }
        }
    }
}

struct Shared<V: SimVendor> {
    state: Mutex<VendorState<V>>,
    settings: V::Settings,
    clock: Clock,
    latency: Duration,
    addr: SocketAddr,
    base_url: String,
    ca_file: Option<std::path::PathBuf>,
    shutdown: watch::Receiver<bool>,
}

/// One simulated vendor of a running simulator: a cheap, cloneable in-process handle to its
/// state. `GeelarkControl` and `HuaweiControl` are this type for their vendor; the same
/// operations, type-erased, are [`VendorControl`](crate::VendorControl).
pub struct VendorSim<V: SimVendor> {
    shared: Arc<Shared<V>>,
}

impl<V: SimVendor> Clone for VendorSim<V> {
    fn clone(&self) -> Self {
        VendorSim {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<V: SimVendor> std::fmt::Debug for VendorSim<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VendorSim")
            .field("vendor", &V::TYPE)
            .field("base_url", &self.shared.base_url)
            .finish_non_exhaustive()
    }
}

/// Where and when a vendor runs: what the core hands it at start.
#[derive(Clone, Debug)]
pub(crate) struct Launch {
    pub(crate) addr: SocketAddr,
    /// The CA file when the listener serves TLS.
    pub(crate) ca_file: Option<std::path::PathBuf>,
    pub(crate) clock: Clock,
    pub(crate) shutdown: watch::Receiver<bool>,
}

impl<V: SimVendor> VendorSim<V> {
    /// The vendor's state for a configuration, its fleet seeded.
    pub(crate) fn new(
        config: &SimConfig,
        launch: Launch,
        phones: usize,
        faults: Faults,
        limits: V::Limits,
    ) -> Result<Self, String> {
        let (settings, model) = V::build(config)?;
        let mut st = VendorState {
            fleet: Fleet::with_capacity(phones),
            rng: SmallRng::seed_from_u64(config.seed ^ V::SEED_SALT),
            faults,
            limits,
            calls: CallLog::new(config.call_log_capacity),
            meter: RateMeter::default(),
            model,
        };
        V::seed(&mut st, phones);
        Ok(VendorSim {
            shared: Arc::new(Shared {
                state: Mutex::new(st),
                settings,
                clock: launch.clock,
                latency: config.latency,
                base_url: format!(
                    "{}://{}",
                    if launch.ca_file.is_some() {
                        "https"
                    } else {
                        "http"
                    },
                    launch.addr
                ),
                ca_file: launch.ca_file,
                addr: launch.addr,
                shutdown: launch.shutdown,
            }),
        })
    }

    /// The vendor's fleet (and model extras: jobs, tasks) as JSON, for `--state`. A transition
    /// in flight is saved as finished (its final status).
    pub fn save_state(&self) -> serde_json::Value {
        let now = Instant::now();
        let st = self.lock();
        let phones: Vec<serde_json::Value> = st
            .fleet
            .phones
            .iter()
            .map(|p| {
                let status = p.life.pending.map_or(p.life.status, |x| x.after);
                serde_json::json!({
                    "id": p.id,
                    "status": status,
                    "applied": serde_json::to_value(p.applied).unwrap_or_default(),
                    "data": serde_json::to_value(&p.data).unwrap_or_default(),
                })
            })
            .collect();
        serde_json::json!({"phones": phones, "model": V::save_model(&st, now)})
    }

    /// Replaces the fleet (and model extras) with what [`VendorSim::save_state`] wrote.
    pub fn load_state(&self, saved: &serde_json::Value) -> Result<(), String> {
        #[derive(serde::Deserialize)]
        #[serde(bound(deserialize = ""))]
        struct Saved<K: SimPhone> {
            id: String,
            status: i32,
            #[serde(default)]
            applied: K::Applied,
            data: K,
        }
        let phones = saved
            .get("phones")
            .and_then(|p| p.as_array())
            .ok_or_else(|| format!("{}: no `phones` list", V::TYPE))?;
        let mut loaded = Vec::with_capacity(phones.len());
        for p in phones {
            let s: Saved<V::Phone> = serde_json::from_value(p.clone())
                .map_err(|e| format!("{}: a saved phone: {e}", V::TYPE))?;
            let mut phone = Phone::new(s.id, s.status, s.data);
            phone.applied = s.applied;
            loaded.push(phone);
        }
        let mut st = self.lock();
        st.fleet.clear();
        for p in loaded {
            if !st.fleet.contains(&p.id) {
                st.fleet.push(p);
            }
        }
        V::load_model(
            &mut st,
            saved.get("model").unwrap_or(&serde_json::Value::Null),
        )
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, VendorState<V>> {
        self.shared
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The settings fixed at start.
    pub(crate) fn settings(&self) -> &V::Settings {
        &self.shared.settings
    }

    pub(crate) fn clock(&self) -> &Clock {
        &self.shared.clock
    }

    pub(crate) fn latency(&self) -> Duration {
        self.shared.latency
    }

    pub(crate) fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shared.shutdown.clone()
    }

    /// The base URL of its listener, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// The CA certificate file of a TLS listener (`None` over plain HTTP).
    pub fn ca_file(&self) -> Option<&std::path::Path> {
        self.shared.ca_file.as_deref()
    }

    /// Its listener address.
    pub fn addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// Seeds `n` more phones with random ids and states; returns their ids.
    pub fn seed_phones(&self, n: usize) -> Vec<String> {
        V::seed(&mut self.lock(), n)
    }

    /// Adds a phone with the given id and raw status; false if the id already exists.
    pub fn add_phone(&self, id: &str, status: i32) -> bool {
        let mut st = self.lock();
        if st.fleet.contains(id) {
            return false;
        }
        V::insert(&mut st, id.to_string(), status, V::NewPhone::default());
        true
    }

    /// Every phone id, in insertion (seed) order.
    pub fn phone_ids(&self) -> Vec<String> {
        let st = self.lock();
        st.fleet.phones.iter().map(|p| p.id.clone()).collect()
    }

    /// Number of phones.
    pub fn phone_count(&self) -> usize {
        self.lock().fleet.len()
    }

    /// A snapshot of one phone.
    pub fn phone(&self, id: &str) -> Option<<V::Phone as SimPhone>::Info> {
        let now = Instant::now();
        self.lock().fleet.get(id).map(|p| V::Phone::info(p, now))
    }

    /// Current raw status of a phone.
    pub fn status(&self, id: &str) -> Option<i32> {
        let now = Instant::now();
        self.lock().fleet.get(id).map(|p| p.life.status_at(now))
    }

    /// Sets a phone's raw status at once, cancelling any transition; false if unknown.
    pub fn set_status(&self, id: &str, status: i32) -> bool {
        match self.lock().fleet.get_mut(id) {
            Some(p) => {
                p.life.force(status);
                true
            }
            None => false,
        }
    }

    /// Applied-operation counters of a phone.
    pub fn applied(&self, id: &str) -> Option<<V::Phone as SimPhone>::Applied> {
        self.lock().fleet.get(id).map(|p| p.applied)
    }

    /// Applied-operation counters of a phone, zero if unknown.
    pub(crate) fn applied_or_zero(&self, id: &str) -> <V::Phone as SimPhone>::Applied {
        self.applied(id).unwrap_or_default()
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
    pub fn limits(&self) -> V::Limits {
        self.lock().limits.clone()
    }

    /// Replaces the rate limits and forgets current windows and locks.
    pub fn set_limits(&self, limits: V::Limits) {
        let mut st = self.lock();
        st.limits = limits;
        V::limits_changed(&mut st.model);
    }

    /// What the rate limit saw since the meter last started: per endpoint, the calls that
    /// reached it, the most of them in any sliding window, and the throttling answers.
    pub fn rates(&self) -> RateStats {
        self.lock().meter.stats()
    }

    /// Starts the rate meter afresh, with a sliding window of `window` if given (default one
    /// second).
    pub fn reset_rates(&self, window: Option<Duration>) {
        self.lock().meter.reset(window);
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
