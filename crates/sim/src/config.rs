//! Configuration: fleet sizes, credentials, timings, rate limits and faults.
//!
//! The first two vendors keep their settings in fields of their own (`geelark_*`, `huawei_*`);
//! the `with_vendor_*` builders reach every vendor's settings by its type name, wherever they
//! live, and a vendor without fields of its own keeps them in a per-vendor section.

use std::collections::BTreeMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::engine::{Slots, VendorEntry};
use crate::vendors::geelark::GeelarkLimits;
use crate::vendors::huawei::HuaweiLimits;

/// The default GeeLark `ts` window ([`SimConfig::geelark_max_clock_skew`]): 5 minutes either way.
pub const GEELARK_MAX_CLOCK_SKEW: Duration = Duration::from_secs(5 * 60);

/// Everything the simulator needs to start. `SimConfig::default()` gives a loopback simulator with
/// 20 phones per vendor, no latency, real-time transitions and the demo credentials.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Address both listeners bind to (default `127.0.0.1`).
    pub bind: IpAddr,
    /// GeeLark listener port; `0` picks an ephemeral port.
    pub geelark_port: u16,
    /// Huawei listener port (CPH and IAM share it); `0` picks an ephemeral port.
    pub huawei_port: u16,
    /// Number of GeeLark phones seeded at start (default 20).
    pub geelark_phones: usize,
    /// Number of Huawei phones seeded at start (default 20).
    pub huawei_phones: usize,
    /// Latency added to every vendor call (admin calls excluded; default 0).
    pub latency: Duration,
    /// Multiplies every simulated duration: phone transitions, rate-limit windows, lock-outs
    /// (default 1.0; tests use e.g. 0.01). Token lifetimes and `hang` delays are not scaled.
    pub time_scale: f64,
    /// Seed of every random choice (ids, tokens, faults), so runs are reproducible: **the same
    /// seed gives the same phone ids, job ids and tokens on every start** (the default seed is
    /// fixed, `0x5eed`). Good for tests; for a long-lived stand whose ids must not repeat
    /// across restarts, use [`SimConfig::with_random_seed`] (`--random-ids`), or `--state`.
    pub seed: u64,
    /// Credentials the simulator accepts.
    pub credentials: SimCredentials,
    /// GeeLark per-API rate limits.
    pub geelark_limits: GeelarkLimits,
    /// Huawei per-API throttling and AK/SK lock-out.
    pub huawei_limits: HuaweiLimits,
    /// Faults injected into GeeLark calls from the start (default none).
    pub geelark_faults: Faults,
    /// Faults injected into Huawei CPH calls from the start (default none).
    pub huawei_faults: Faults,
    /// Base (unscaled) durations of phone transitions.
    pub timings: Timings,
    /// Lifetime of IAM-issued tokens, in real time (default 24 h; not scaled).
    pub token_ttl: Duration,
    /// How many recent requests each vendor keeps in its call log (default 1000).
    pub call_log_capacity: usize,
    /// Refuse GeeLark key-verified requests whose `ts` (Unix milliseconds) is further than this
    /// from the simulator's wall clock, either way (default [`GEELARK_MAX_CLOCK_SKEW`], 5
    /// minutes; `None` turns the check off). GeeLark does not document its window; the
    /// simulator's is a choice that catches a stale timestamp and one sent in seconds instead of
    /// milliseconds. A refused `ts` gets GeeLark's signature answer, `40003 "Signature
    /// verification failed"`. Real time, not scaled by `time_scale`. CLI:
    /// `--geelark-max-skew-secs N` (0 = off).
    pub geelark_max_clock_skew: Option<Duration>,
    /// Serve every listener over HTTPS with a certificate generated at start (default off;
    /// `--tls`). The URLs become `https://`, the CA certificate is written to
    /// [`SimConfig::tls_ca_file`] and every provider table of
    /// [`Simulator::client_config`](crate::Simulator::client_config) names it in `ca_file`.
    pub tls: bool,
    /// Where `tls` writes the CA certificate (PEM); default `cloudphone-sim-<pid>-<n>/ca.pem`
    /// in the temporary directory (`--tls-ca-file`).
    pub tls_ca_file: Option<PathBuf>,
    /// Keep the fleet in this JSON file across restarts (default none; `--state FILE`): at
    /// start, when the file exists, every vendor's phones (id, status, counters, data) and its
    /// jobs/tasks (Huawei jobs, Alibaba tasks) replace the seeded fleet; the state is written (atomically:
    /// a temporary file renamed over it) every [`SimConfig::state_save_interval`] when it
    /// changed, and on [`Simulator::shutdown`](crate::Simulator::shutdown). A transition in
    /// flight is saved as finished. Tokens, faults, limits and call logs are not kept.
    pub state_file: Option<PathBuf>,
    /// How often `state_file` is written when the state changed (default 5 s, real time).
    pub state_save_interval: Duration,
    /// Settings of the vendors without fields of their own above, by type name (see
    /// [`SimConfig::with_vendor_phones`] and the other `with_vendor_*` builders).
    pub(crate) vendors: BTreeMap<String, VendorSection>,
}

/// The settings of a vendor that has no fields of its own in [`SimConfig`].
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct VendorSection {
    port: u16,
    phones: usize,
    faults: Faults,
    pub(crate) limits: Option<serde_json::Value>,
    settings: serde_json::Map<String, serde_json::Value>,
}

impl Default for VendorSection {
    fn default() -> Self {
        VendorSection {
            port: 0,
            phones: 20,
            faults: Faults::default(),
            limits: None,
            settings: serde_json::Map::new(),
        }
    }
}

impl VendorSection {
    pub(crate) fn slots(&mut self) -> Slots<'_> {
        Slots {
            port: &mut self.port,
            phones: &mut self.phones,
            faults: &mut self.faults,
        }
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            geelark_port: 0,
            huawei_port: 0,
            geelark_phones: 20,
            huawei_phones: 20,
            latency: Duration::ZERO,
            time_scale: 1.0,
            seed: 0x5eed,
            credentials: SimCredentials::default(),
            geelark_limits: GeelarkLimits::default(),
            huawei_limits: HuaweiLimits::default(),
            geelark_faults: Faults::default(),
            huawei_faults: Faults::default(),
            timings: Timings::default(),
            token_ttl: Duration::from_secs(24 * 3600),
            call_log_capacity: 1000,
            geelark_max_clock_skew: Some(GEELARK_MAX_CLOCK_SKEW),
            tls: false,
            state_file: None,
            state_save_interval: Duration::from_secs(5),
            tls_ca_file: None,
            vendors: BTreeMap::new(),
        }
    }
}

impl SimConfig {
    /// Sets both fleet sizes.
    pub fn with_phones(mut self, geelark: usize, huawei: usize) -> Self {
        self.geelark_phones = geelark;
        self.huawei_phones = huawei;
        self
    }

    /// Sets the time scale (see [`SimConfig::time_scale`]).
    pub fn with_time_scale(mut self, scale: f64) -> Self {
        self.time_scale = scale;
        self
    }

    /// Sets the latency added to every vendor call.
    pub fn with_latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// Sets the GeeLark `ts` window (see [`SimConfig::geelark_max_clock_skew`]; `None` = off).
    pub fn with_geelark_max_clock_skew(mut self, skew: Option<Duration>) -> Self {
        self.geelark_max_clock_skew = skew;
        self
    }

    /// Seeds every random choice from the operating system, so that ids (phones, jobs, tokens)
    /// are fresh on every start (`--random-ids`). The seed drawn is printed by
    /// [`crate::Simulator::banner`] and returned by [`crate::Simulator::seed`], so a run can
    /// still be replayed with `--seed`.
    pub fn with_random_seed(mut self) -> Self {
        self.seed = rand::random();
        self
    }

    /// Serves every listener over HTTPS (see [`SimConfig::tls`]).
    pub fn with_tls(mut self) -> Self {
        self.tls = true;
        self
    }

    /// Serves every listener over HTTPS and writes the CA certificate to `path`.
    pub fn with_tls_ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.tls = true;
        self.tls_ca_file = Some(path.into());
        self
    }

    /// Keeps the fleet in `path` across restarts (see [`SimConfig::state_file`]).
    pub fn with_state_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.state_file = Some(path.into());
        self
    }

    /// Sets the random seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Sets the credentials.
    pub fn with_credentials(mut self, credentials: SimCredentials) -> Self {
        self.credentials = credentials;
        self
    }

    /// Turns every vendor's rate limits (and lock-outs) off (handy for load tests).
    pub fn without_limits(mut self) -> Self {
        for vendor in crate::vendors::registry() {
            (vendor.limits_off)(&mut self);
        }
        self
    }

    /// Sets one vendor's listener port, by its type name (`0` = ephemeral). A type no vendor is
    /// registered for makes [`Simulator::start`](crate::Simulator::start) fail.
    pub fn with_vendor_port(mut self, vendor: &str, port: u16) -> Self {
        *self.slots(vendor).port = port;
        self
    }

    /// Sets the number of phones one vendor seeds at start, by its type name.
    pub fn with_vendor_phones(mut self, vendor: &str, phones: usize) -> Self {
        *self.slots(vendor).phones = phones;
        self
    }

    /// Sets the faults one vendor injects from the start, by its type name.
    pub fn with_vendor_faults(mut self, vendor: &str, faults: Faults) -> Self {
        *self.slots(vendor).faults = faults;
        self
    }

    /// Sets one vendor's rate limits from JSON (as `PUT /_sim/limits` takes them; missing
    /// fields take defaults). Fails for an unknown vendor or limits it cannot read.
    pub fn with_vendor_limits(
        mut self,
        vendor: &str,
        limits: serde_json::Value,
    ) -> Result<Self, String> {
        let entry = VendorEntry::find(vendor).ok_or_else(|| unknown_vendor(vendor))?;
        (entry.set_limits_json)(&mut self, limits).map_err(|e| format!("{vendor} limits: {e}"))?;
        Ok(self)
    }

    /// Sets one setting (a credential, a duration, ...) of a vendor without fields of its own in
    /// this configuration, by its type name; the vendor reads its settings at start, over its
    /// defaults. (GeeLark and Huawei keep theirs in [`SimConfig::credentials`],
    /// [`SimConfig::timings`] and the fields above, and ignore these.)
    pub fn with_vendor_setting(
        mut self,
        vendor: &str,
        key: &str,
        value: impl Into<serde_json::Value>,
    ) -> Self {
        self.vendor_section(vendor)
            .settings
            .insert(key.to_string(), value.into());
        self
    }

    /// The settings of a vendor without fields of its own, read into its settings type (whose
    /// serde defaults fill what was not set).
    #[allow(dead_code)] // for the vendors to come; the first two keep their settings in fields
    pub(crate) fn vendor_settings<T: serde::de::DeserializeOwned>(
        &self,
        vendor: &str,
    ) -> Result<T, String> {
        let settings = self
            .vendors
            .get(vendor)
            .map(|s| s.settings.clone())
            .unwrap_or_default();
        serde_json::from_value(serde_json::Value::Object(settings)).map_err(|e| e.to_string())
    }

    /// Where one vendor's port, fleet size and faults live.
    fn slots(&mut self, vendor: &str) -> Slots<'_> {
        match VendorEntry::find(vendor) {
            Some(entry) => (entry.slots)(self),
            None => self.vendor_section(vendor).slots(),
        }
    }

    /// The per-vendor section of a vendor without fields of its own.
    pub(crate) fn vendor_section(&mut self, vendor: &str) -> &mut VendorSection {
        self.vendors.entry(vendor.to_string()).or_default()
    }

    /// The limits (JSON) in the per-vendor section of a vendor without fields of its own.
    pub(crate) fn vendor_limits(&self, vendor: &str) -> Option<&serde_json::Value> {
        self.vendors.get(vendor).and_then(|s| s.limits.as_ref())
    }

    /// Fails if settings were given for a vendor that is not registered.
    pub(crate) fn check_vendors(&self) -> io::Result<()> {
        match self.vendors.keys().find(|k| VendorEntry::find(k).is_none()) {
            None => Ok(()),
            Some(k) => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                unknown_vendor(k),
            )),
        }
    }
}

/// The error for a vendor type no vendor is registered for.
pub(crate) fn unknown_vendor(vendor: &str) -> String {
    format!(
        "unknown simulator vendor `{vendor}` (registered: {})",
        VendorEntry::type_names()
    )
}

/// Credentials the simulator accepts. The defaults are fixed, obviously fake demo values.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimCredentials {
    /// GeeLark team AppId (key verification).
    pub geelark_app_id: String,
    /// GeeLark API key (key verification).
    pub geelark_api_key: String,
    /// GeeLark bearer token (token verification).
    pub geelark_token: String,
    /// Huawei project id (32 lowercase hex chars) used in every CPH path.
    pub huawei_project_id: String,
    /// Huawei region; also the project name for IAM scoping.
    pub huawei_region: String,
    /// Huawei access key (AK/SK signing).
    pub huawei_access_key: String,
    /// Huawei secret key (AK/SK signing).
    pub huawei_secret_key: String,
    /// If set, AK/SK requests must carry `X-Security-Token` equal to it (temporary credentials).
    pub huawei_security_token: Option<String>,
    /// IAM user name.
    pub huawei_username: String,
    /// IAM password.
    pub huawei_password: String,
    /// IAM domain (account) name.
    pub huawei_domain: String,
    /// A pre-issued static `X-Auth-Token` that is always valid for the project.
    pub huawei_token: String,
}

impl Default for SimCredentials {
    fn default() -> Self {
        SimCredentials {
            geelark_app_id: "SIMAPPID0000000000000001".into(),
            geelark_api_key: "SIMAPIKEYfake00000000000000001".into(),
            geelark_token: "sim-geelark-token-fake-0001".into(),
            huawei_project_id: "0123456789abcdef0123456789abcdef".into(),
            huawei_region: "cn-east-3".into(),
            huawei_access_key: "SIMAKFAKE0000000000A".into(),
            huawei_secret_key: "SIMSKfake000000000000000000000000000000A".into(),
            huawei_security_token: None,
            huawei_username: "sim-user".into(),
            huawei_password: "sim-password".into(),
            huawei_domain: "sim-domain".into(),
            huawei_token: "MIISIMSTATICTOKEN-fake-0001".into(),
        }
    }
}

/// Base durations of phone transitions, before [`SimConfig::time_scale`] is applied.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Timings {
    /// GeeLark start: status 1 for this long, then 0 (default 3 s).
    #[serde(with = "crate::engine::duration_ms", rename = "geelark_start_ms")]
    pub geelark_start: Duration,
    /// GeeLark stop: unchanged for this long, then 2 (default 2 s).
    #[serde(with = "crate::engine::duration_ms", rename = "geelark_stop_ms")]
    pub geelark_stop: Duration,
    /// GeeLark restart: status 1 for this long, then 0 (default 4 s).
    #[serde(with = "crate::engine::duration_ms", rename = "geelark_restart_ms")]
    pub geelark_restart: Duration,
    /// GeeLark one-click new machine: status 1 for this long, then 0 (default 6 s).
    #[serde(with = "crate::engine::duration_ms", rename = "geelark_new_one_ms")]
    pub geelark_new_one: Duration,
    /// Huawei reset: status 3 for this long, then 2 (default 5 s).
    #[serde(with = "crate::engine::duration_ms", rename = "huawei_reset_ms")]
    pub huawei_reset: Duration,
    /// Huawei restart: status 4 for this long, then 2 (default 4 s).
    #[serde(with = "crate::engine::duration_ms", rename = "huawei_restart_ms")]
    pub huawei_restart: Duration,
    /// Huawei stop: status 7 for this long, then 8 (default 3 s).
    #[serde(with = "crate::engine::duration_ms", rename = "huawei_stop_ms")]
    pub huawei_stop: Duration,
}

impl Default for Timings {
    fn default() -> Self {
        Timings {
            geelark_start: Duration::from_secs(3),
            geelark_stop: Duration::from_secs(2),
            geelark_restart: Duration::from_secs(4),
            geelark_new_one: Duration::from_secs(6),
            huawei_reset: Duration::from_secs(5),
            huawei_restart: Duration::from_secs(4),
            huawei_stop: Duration::from_secs(3),
        }
    }
}

/// Faults injected per request, decided with the seeded RNG. Rates are probabilities in 0.0–1.0;
/// the default injects nothing. At most one of `throttle`, `error_5xx`, `connection_reset`, `hang`,
/// `malformed` hits a request (checked in that order); `drop_ids` and `job_failure` act inside a
/// normal answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    /// Extra latency added to every call, in milliseconds.
    pub latency_ms: u64,
    /// Answer 500/502/503; the action may or may not have been applied first.
    pub error_5xx: f64,
    /// Throttling answer (GeeLark code 40007, Huawei 429 APIGW.0308); never applied.
    pub throttle: f64,
    /// Cut the connection without a valid response; the action may or may not have been applied.
    pub connection_reset: f64,
    /// Delay the response by `hang_duration_ms`; if the action was not applied, the late answer
    /// is a 504. Not scaled by `time_scale`.
    pub hang: f64,
    /// How long a hang lasts (default 30,000 ms).
    pub hang_duration_ms: u64,
    /// HTTP 200 with an invalid JSON body; the action may or may not have been applied.
    pub malformed: f64,
    /// In a batch answer, leave each id out with this probability (the action IS applied to it).
    pub drop_ids: f64,
    /// Huawei only: a job ends −1 and its phone lands in the failed state (−5/−6/−9).
    pub job_failure: f64,
    /// Huawei only: an IAM-issued token expires after this many CPH calls made with it.
    pub expire_token_after_calls: Option<u64>,
    /// Probability that an ambiguous fault (5xx, reset, hang, malformed) applied the action
    /// before failing (default 0.5, so both cases occur).
    pub applied_ratio: f64,
    /// Restrict faults to endpoints whose key (e.g. `"POST /open/v1/phone/stop"`) contains one of
    /// these strings; empty = every vendor endpoint.
    pub endpoints: Vec<String>,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            latency_ms: 0,
            error_5xx: 0.0,
            throttle: 0.0,
            connection_reset: 0.0,
            hang: 0.0,
            hang_duration_ms: 30_000,
            malformed: 0.0,
            drop_ids: 0.0,
            job_failure: 0.0,
            expire_token_after_calls: None,
            applied_ratio: 0.5,
            endpoints: Vec::new(),
        }
    }
}

impl Faults {
    /// True if these faults target the endpoint with this key.
    pub fn targets(&self, endpoint_key: &str) -> bool {
        self.endpoints.is_empty() || self.endpoints.iter().any(|e| endpoint_key.contains(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, PartialEq, Deserialize)]
    #[serde(default)]
    struct Settings {
        key: String,
        seconds: u64,
    }

    #[test]
    fn vendor_settings_read_over_defaults() {
        let config = SimConfig::default()
            .with_vendor_setting("new-vendor", "key", "k")
            .with_vendor_setting("new-vendor", "seconds", 3)
            .with_vendor_phones("new-vendor", 7);
        assert_eq!(
            config.vendor_settings::<Settings>("new-vendor").unwrap(),
            Settings {
                key: "k".into(),
                seconds: 3
            }
        );
        assert_eq!(
            config.vendor_settings::<Settings>("other").unwrap(),
            Settings::default()
        );
        let bad = config.with_vendor_setting("new-vendor", "seconds", "x");
        assert!(bad.vendor_settings::<Settings>("new-vendor").is_err());
        assert!(bad.check_vendors().is_err(), "new-vendor is not registered");
    }
}
