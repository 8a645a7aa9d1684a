//! The type-erased control of one simulated vendor, so that callers can loop over the vendors of
//! a simulator without naming them; and the writers of its banner lines and provider table.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;

use serde_json::Value;

use super::calls::CallStats;
use super::meter::RateStats;
use super::state::VendorSim;
use super::SimVendor;
use crate::config::Faults;

/// One simulated vendor of a running simulator, as [`Simulator::vendors`](crate::Simulator::vendors)
/// lists them.
pub type VendorHandle = Arc<dyn VendorControl>;

/// What every simulated vendor offers in-process, whatever its model: its identity, URL and
/// phones, faults, limits (as JSON), calls and applied counters (as JSON), and its provider
/// table for `cloudphone.toml`. The typed controls (`GeelarkControl`, `HuaweiControl`) offer
/// the same operations with typed values, and more.
pub trait VendorControl: Send + Sync + std::fmt::Debug {
    /// The `type` of its provider table in `cloudphone.toml` (e.g. `"huawei-cph"`).
    fn type_name(&self) -> &'static str;
    /// Its human-readable name.
    fn label(&self) -> &'static str;
    /// The provider name the ready client configuration gives it (`[providers.NAME]`).
    fn provider_name(&self) -> &'static str;
    /// The auth modes [`VendorControl::provider_table`] can write; the first is the default.
    fn auth_modes(&self) -> &'static [&'static str];
    /// The base URL of its listener.
    fn url(&self) -> String;
    /// Its listener address.
    fn addr(&self) -> SocketAddr;
    /// Every phone id, in insertion (seed) order.
    fn phone_ids(&self) -> Vec<String>;
    /// Number of phones.
    fn phone_count(&self) -> usize;
    /// Seeds `n` more phones; returns their ids.
    fn seed_phones(&self, n: usize) -> Vec<String>;
    /// Adds a phone with the given id and raw status; false if the id already exists.
    fn add_phone(&self, id: &str, status: i32) -> bool;
    /// Current raw status of a phone.
    fn status(&self, id: &str) -> Option<i32>;
    /// Sets a phone's raw status at once, cancelling any transition; false if unknown.
    fn set_status(&self, id: &str, status: i32) -> bool;
    /// A snapshot of one phone, as `GET /_sim/phones/{id}` answers it.
    fn phone_json(&self, id: &str) -> Option<Value>;
    /// A phone's applied-operation counters, as `GET /_sim/phones/{id}/applied` answers them.
    fn applied_json(&self, id: &str) -> Option<Value>;
    /// The faults in force.
    fn faults(&self) -> Faults;
    /// Replaces the faults.
    fn set_faults(&self, faults: Faults);
    /// Removes every fault.
    fn clear_faults(&self) {
        self.set_faults(Faults::default());
    }
    /// The rate limits in force, as `GET /_sim/limits` answers them.
    fn limits_json(&self) -> Value;
    /// Replaces the rate limits (missing fields take defaults), as `PUT /_sim/limits` does.
    fn set_limits_json(&self, limits: Value) -> Result<(), String>;
    /// Calls received so far.
    fn calls(&self) -> CallStats;
    /// Calls received for one endpoint key.
    fn call_count(&self, endpoint_key: &str) -> u64;
    /// Clears call counters and the call log.
    fn reset_calls(&self);
    /// What the rate limit saw, as `GET /_sim/rates` answers it ([`VendorSim::rates`]).
    fn rates(&self) -> RateStats;
    /// Starts the rate meter afresh ([`VendorSim::reset_rates`]).
    fn reset_rates(&self, window: Option<std::time::Duration>);
    /// Its lines of [`Simulator::banner`](crate::Simulator::banner).
    fn banner(&self) -> String;
    /// Its fleet and jobs/tasks as JSON (what `--state` saves).
    fn save_state(&self) -> Value;
    /// Replaces its fleet and jobs/tasks with what [`VendorControl::save_state`] wrote.
    fn load_state(&self, saved: &Value) -> Result<(), String>;
    /// The body of its provider table in `cloudphone.toml` (the lines after `[providers.NAME]`,
    /// `type` first); `None` for an auth mode it does not know.
    fn provider_table(&self, options: &TableOptions) -> Option<String>;
}

/// How [`VendorControl::provider_table`] writes a provider table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TableOptions {
    /// The auth mode (one of [`VendorControl::auth_modes`]); `None` for the vendor's default.
    pub auth: Option<String>,
    /// The URL to send requests to (e.g. a proxy in front of the simulator); `None` for the
    /// vendor's listener.
    pub url: Option<String>,
    /// A value written in place of the auth mode's secret (e.g. a wrong one).
    pub secret: Option<String>,
}

impl TableOptions {
    /// The vendor's default auth mode, its own URL, the right secret.
    pub fn new() -> Self {
        Self::default()
    }

    /// Writes the table for this auth mode.
    pub fn with_auth(mut self, auth: impl Into<String>) -> Self {
        self.auth = Some(auth.into());
        self
    }

    /// Sends requests to this URL instead of the vendor's listener.
    pub fn with_url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }

    /// Writes this value in place of the auth mode's secret.
    pub fn with_secret(mut self, secret: impl Into<String>) -> Self {
        self.secret = Some(secret.into());
        self
    }
}

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl<V: SimVendor> VendorControl for VendorSim<V> {
    fn type_name(&self) -> &'static str {
        V::TYPE
    }
    fn label(&self) -> &'static str {
        V::LABEL
    }
    fn provider_name(&self) -> &'static str {
        V::PROVIDER
    }
    fn auth_modes(&self) -> &'static [&'static str] {
        V::AUTH_MODES
    }
    fn url(&self) -> String {
        VendorSim::url(self)
    }
    fn addr(&self) -> SocketAddr {
        VendorSim::addr(self)
    }
    fn phone_ids(&self) -> Vec<String> {
        VendorSim::phone_ids(self)
    }
    fn phone_count(&self) -> usize {
        VendorSim::phone_count(self)
    }
    fn seed_phones(&self, n: usize) -> Vec<String> {
        VendorSim::seed_phones(self, n)
    }
    fn add_phone(&self, id: &str, status: i32) -> bool {
        VendorSim::add_phone(self, id, status)
    }
    fn status(&self, id: &str) -> Option<i32> {
        VendorSim::status(self, id)
    }
    fn set_status(&self, id: &str, status: i32) -> bool {
        VendorSim::set_status(self, id, status)
    }
    fn phone_json(&self, id: &str) -> Option<Value> {
        self.phone(id).map(|p| serde_json::json!(p))
    }
    fn applied_json(&self, id: &str) -> Option<Value> {
        self.applied(id).map(|a| serde_json::json!(a))
    }
    fn faults(&self) -> Faults {
        VendorSim::faults(self)
    }
    fn set_faults(&self, faults: Faults) {
        VendorSim::set_faults(self, faults)
    }
    fn limits_json(&self) -> Value {
        serde_json::json!(self.limits())
    }
    fn set_limits_json(&self, limits: Value) -> Result<(), String> {
        self.set_limits(serde_json::from_value(limits).map_err(|e| e.to_string())?);
        Ok(())
    }
    fn calls(&self) -> CallStats {
        VendorSim::calls(self)
    }
    fn call_count(&self, endpoint_key: &str) -> u64 {
        VendorSim::call_count(self, endpoint_key)
    }
    fn reset_calls(&self) {
        VendorSim::reset_calls(self)
    }

    fn rates(&self) -> RateStats {
        VendorSim::rates(self)
    }

    fn reset_rates(&self, window: Option<std::time::Duration>) {
        VendorSim::reset_rates(self, window)
    }

    fn banner(&self) -> String {
        let mut out = String::new();
        for (i, (key, value)) in V::banner(self).into_iter().enumerate() {
            let key = if i == 0 {
                format!("{:<10}{key}", V::LABEL)
            } else {
                format!("  {key}")
            };
            let _ = writeln!(out, "{key:<19}: {value}");
        }
        out
    }

    fn save_state(&self) -> Value {
        VendorSim::save_state(self)
    }

    fn load_state(&self, saved: &Value) -> Result<(), String> {
        VendorSim::load_state(self, saved)
    }

    fn provider_table(&self, options: &TableOptions) -> Option<String> {
        let auth = options.auth.as_deref().unwrap_or(V::AUTH_MODES[0]);
        if !V::AUTH_MODES.contains(&auth) {
            return None;
        }
        let url = options.url.clone().unwrap_or_else(|| VendorSim::url(self));
        let entries = V::provider_table(self.settings(), auth, &url, options.secret.as_deref());
        let mut out = format!("type = {}\n", toml_string(V::TYPE));
        for (key, value) in entries {
            let _ = writeln!(out, "{key} = {}", toml_string(&value));
        }
        if let Some(ca) = VendorSim::ca_file(self) {
            let _ = writeln!(out, "ca_file = {}", toml_string(&ca.display().to_string()));
        }
        Some(out)
    }
}
