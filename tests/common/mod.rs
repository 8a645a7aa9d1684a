//! Helpers shared by the root suites: the vendors and auth modes to run (every vendor the
//! simulator serves, every auth mode it writes a provider table for), providers built through
//! the configuration path from those tables, the completeness check, and an observing proxy
//! that counts the faults the simulator injected.
//!
//! Nothing here names a vendor; the few vendor facts the suites need are in [`vendors`].

// Each test binary compiles this module on its own and uses only part of it.
#![allow(dead_code)]

pub mod proxy;
pub mod vendors;

use std::collections::HashSet;
use std::sync::{Arc, OnceLock};

use cloudphone::registry::ConfigTable;
use cloudphone::{BatchReport, CloudPhoneProvider, Config, Operation, PhoneId};
use cloudphone_sim::{SimConfig, Simulator, TableOptions, VendorHandle};
use serde_json::Value;

pub use vendors::Knowledge;

/// One simulated vendor as the suites know it before any simulator runs.
#[derive(Clone, Debug)]
pub struct SimVendor {
    /// Its `type`.
    pub vendor: &'static str,
    /// The auth modes its provider table can be written for; the first is the default.
    pub auth_modes: &'static [&'static str],
    /// The raw status the simulator gives a phone added without one (`POST /_sim/phones {}`):
    /// a running phone, for every vendor so far.
    pub added_status: i32,
    /// An id the simulator made for a phone of a throwaway fleet: of the vendor's shape and
    /// (checked where used) unknown to any other simulator.
    pub spare_id: String,
}

static CATALOGUE: OnceLock<Vec<SimVendor>> = OnceLock::new();

/// Every vendor the simulator serves, in its order (asked once of a throwaway simulator).
pub async fn sim_vendors() -> &'static [SimVendor] {
    if let Some(c) = CATALOGUE.get() {
        return c;
    }
    // A seed of its own: its ids are not drawn like those of the suites' simulators.
    let sim = Simulator::start(SimConfig::default().with_seed(0xca7a_1095))
        .await
        .expect("simulator starts");
    let mut found = Vec::new();
    for v in sim.vendors() {
        let added = admin(v, reqwest::Method::POST, "phones", Some("{}"))
            .await
            .expect("every vendor adds phones");
        let spare_id = added["id"].as_str().expect("an id").to_owned();
        found.push(SimVendor {
            vendor: v.type_name(),
            auth_modes: v.auth_modes(),
            added_status: v.status(&spare_id).expect("the added phone"),
            spare_id,
        });
    }
    sim.shutdown().await;
    let _ = CATALOGUE.set(found);
    CATALOGUE.get().expect("just set")
}

/// What the catalogue knows of `vendor` (after [`sim_vendors`] ran).
fn catalogued(vendor: &str) -> &'static SimVendor {
    CATALOGUE
        .get()
        .and_then(|c| c.iter().find(|v| v.vendor == vendor))
        .unwrap_or_else(|| panic!("`{vendor}` is not in the simulator's catalogue"))
}

/// The raw status of a running phone of `vendor`: the table's, else the status the simulator
/// gives a phone added without one.
pub fn running_status(vendor: &'static str) -> i32 {
    Knowledge::of(vendor)
        .running
        .unwrap_or_else(|| catalogued(vendor).added_status)
}

/// A vendor and the way it authenticates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mode {
    /// The vendor's `type`.
    pub vendor: &'static str,
    /// One of its simulator's auth modes.
    pub auth: &'static str,
    /// Whether `auth` is the vendor's default mode.
    pub default: bool,
}

impl Mode {
    /// `type/auth`, as messages name it.
    pub fn name(self) -> String {
        format!("{}/{}", self.vendor, self.auth)
    }

    /// A stable number for the mode, for mixing into fault seeds: its historical one (see
    /// [`Knowledge::fault_salts`]), else FNV-1a of its name.
    pub fn salt(self) -> u64 {
        if let Some((_, n)) = self
            .knowledge()
            .fault_salts
            .iter()
            .find(|(auth, _)| *auth == self.auth)
        {
            return n.wrapping_mul(0x9e37_79b9);
        }
        self.name().bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
    }

    /// The vendor's facts the simulator cannot tell (see [`vendors`]).
    pub fn knowledge(self) -> Knowledge {
        Knowledge::of(self.vendor)
    }

    /// The vendor's handle on a running simulator.
    pub fn handle(self, sim: &Simulator) -> &VendorHandle {
        sim.vendor(self.vendor)
            .unwrap_or_else(|| panic!("the simulator serves {}", self.vendor))
    }

    /// The provider table the simulator writes for this mode, with `options` (URL, secret)
    /// and the extra `lines` appended (tuning keys).
    pub fn table(self, v: &VendorHandle, options: TableOptions, lines: &str) -> String {
        let table = v
            .provider_table(&options.with_auth(self.auth))
            .unwrap_or_else(|| panic!("{}: the simulator writes no table", self.name()));
        format!("{table}{lines}\n")
    }

    /// Every phone of the mode's vendor.
    pub fn phones(self, sim: &Simulator) -> Vec<PhoneId> {
        self.handle(sim)
            .phone_ids()
            .into_iter()
            .map(PhoneId::new)
            .collect()
    }
}

/// Every auth mode of every simulated vendor.
pub async fn all_modes() -> Vec<Mode> {
    sim_vendors()
        .await
        .iter()
        .flat_map(|v| {
            v.auth_modes.iter().enumerate().map(|(i, auth)| Mode {
                vendor: v.vendor,
                auth,
                default: i == 0,
            })
        })
        .collect()
}

/// Each simulated vendor in its default auth mode.
pub async fn default_modes() -> Vec<Mode> {
    all_modes()
        .await
        .into_iter()
        .filter(|m| m.default)
        .collect()
}

/// A simulator configuration seeding `phones` phones for every vendor.
pub async fn sim_config(phones: usize) -> SimConfig {
    let mut config = SimConfig::default();
    for v in sim_vendors().await {
        config = config.with_vendor_phones(v.vendor, phones);
    }
    config
}

/// Sets every phone of every vendor running (each vendor's fleet starts from a mix of states).
pub fn set_all_running(sim: &Simulator) {
    for v in sim.vendors() {
        let running = running_status(v.type_name());
        for id in v.phone_ids() {
            v.set_status(&id, running);
        }
    }
}

/// Builds a provider through the same configuration path a user's goes through.
pub fn build(table: &str) -> (Config, Arc<dyn CloudPhoneProvider>) {
    let config = Config::from_toml_str(&format!("[providers.p]\n{table}"))
        .unwrap_or_else(|e| panic!("config: {e}\n{table}"));
    let provider = config.build("p").unwrap_or_else(|e| panic!("build: {e}"));
    (config, provider)
}

/// Tuning for fast runs on the simulator: short backoffs, no client-side rate limit (the
/// simulator's own limits are off too), several chunks per batch.
pub fn fast_tuning(mode: Mode, timeout_secs: u64, concurrency: usize, batch: usize) -> String {
    format!(
        "timeout_secs = {timeout_secs}\nconnect_timeout_secs = {timeout_secs}\nmax_retries = 6\n\
         retry_min_delay_ms = 5\nretry_max_delay_ms = 40\nconcurrency = {concurrency}\n{}",
        mode.knowledge()
            .tuning
            .replace("{batch}", &batch.to_string())
    )
}

/// An id of the vendor's shape that it does not know.
pub fn unknown_phone(v: &VendorHandle) -> PhoneId {
    let id = catalogued(v.type_name()).spare_id.clone();
    assert!(
        v.status(&id).is_none(),
        "{}: the spare id {id} is a phone here",
        v.type_name()
    );
    PhoneId::new(id)
}

/// How many times the simulator carried out `op` for `id` (0 for an unknown phone): its
/// applied counter for `op` (see [`Knowledge::applied_key`]), or, for a vendor whose counters
/// go by other names, every operation it carried out.
pub fn applied(v: &VendorHandle, op: Operation, id: &PhoneId) -> u32 {
    let Some(counters) = v.applied_json(id.as_str()) else {
        return 0;
    };
    let key = Knowledge::of(v.type_name()).applied_key(op);
    let n = match counters.get(key) {
        Some(n) => n.as_u64().expect("a count"),
        None => counters
            .as_object()
            .expect("applied counters")
            .values()
            .filter_map(Value::as_u64)
            .sum(),
    };
    n as u32
}

/// One call of the simulator's admin API (`/_sim/...`): the answer of a 2xx, `None` for a
/// route the vendor does not have (404).
pub async fn admin(
    v: &VendorHandle,
    method: reqwest::Method,
    path: &str,
    body: Option<&str>,
) -> Option<Value> {
    let client = reqwest::Client::new();
    let mut req = client.request(method, format!("{}/_sim/{path}", v.url()));
    if let Some(body) = body {
        req = req
            .header("content-type", "application/json")
            .body(body.to_owned());
    }
    let resp = req.send().await.expect("admin API answers");
    let status = resp.status();
    if status == reqwest::StatusCode::NOT_FOUND {
        return None;
    }
    let text = resp.text().await.unwrap_or_default();
    assert!(
        status.is_success(),
        "{} admin {path}: {status} {text}",
        v.type_name()
    );
    Some(serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Expires every token the vendor issued; false if it issues none.
pub async fn expire_tokens(v: &VendorHandle) -> bool {
    admin(v, reqwest::Method::POST, "tokens/expire", None)
        .await
        .is_some()
}

/// Checks that every vendor registered with the client library (`builtin_registry`) that
/// talks to a server has a simulator counterpart, so that the suites cover it; a vendor that
/// builds from an empty table and sends requests nowhere (the in-memory fake) needs none.
pub async fn assert_every_registered_vendor_is_simulated() {
    let simulated: HashSet<&str> = sim_vendors().await.iter().map(|v| v.vendor).collect();
    let registry = cloudphone::builtin_registry();
    let mut missing = Vec::new();
    for vendor in registry.vendors() {
        let name = vendor.type_name();
        if simulated.contains(name) {
            continue;
        }
        let in_process = vendor
            .parse(ConfigTable::new())
            .is_ok_and(|c| c.urls().is_empty());
        if !in_process {
            missing.push(name);
        }
    }
    assert!(
        missing.is_empty(),
        "registered vendors without a simulator counterpart (the suites cannot cover them): \
         {missing:?}; simulated: {simulated:?}"
    );
    for v in sim_vendors().await {
        assert!(
            registry.get(v.vendor).is_some(),
            "the simulator serves `{}`, which the client library does not register ({})",
            v.vendor,
            registry.type_list()
        );
    }
}

/// The distinct ids of `asked`, in first-occurrence order: what a report must hold.
pub fn distinct(asked: &[PhoneId]) -> Vec<PhoneId> {
    let mut seen = HashSet::new();
    asked.iter().filter(|p| seen.insert(*p)).cloned().collect()
}

/// How many requested ids a report lost, duplicated or reordered (0 when complete).
pub fn ids_lost(asked: &[PhoneId], report: &BatchReport) -> usize {
    let want = distinct(asked);
    let got: Vec<&PhoneId> = report.outcomes.iter().map(|o| &o.phone).collect();
    if got.len() == want.len() && got.iter().zip(&want).all(|(g, w)| *g == w) {
        return 0;
    }
    let got_set: HashSet<&PhoneId> = got.iter().copied().collect();
    let missing = want.iter().filter(|w| !got_set.contains(w)).count();
    // Extra or repeated outcomes count as well; a mere reordering counts once.
    let extra = got.len().saturating_sub(want.len() - missing);
    (missing + extra).max(1)
}
