//! The simulator's generic core, written once for every vendor.
//!
//! A vendor is a unit type implementing [`SimVendor`]. It supplies only what is its own: the
//! phone type and its model state, its limits, how it authenticates and answers its API (one
//! `serve` function), its extra admin routes, its banner lines and its `cloudphone.toml` table.
//! Everything else is here, once: the per-vendor state holder ([`VendorSim`]: phones, faults,
//! limits, call log, settings), the request life cycle (body cap, admin dispatch, call log,
//! latency, rate limit, fault plan), the admin routes under `/_sim/`, the type-erased control
//! ([`VendorControl`]) behind `Simulator::vendors`, and the registry entry that starts a vendor,
//! reads its configuration and its command-line flags.

mod admin;
mod calls;
mod control;
mod cpu;
mod faults;
mod http;
mod json;
mod meter;
mod registry;
mod state;
mod util;

use std::future::Future;

use axum::http::request::Parts;
use axum::response::Response;
use rand::rngs::SmallRng;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::time::Instant;

use crate::config::{Faults, SimConfig};

pub use calls::{CallRecord, CallStats};
pub use control::{TableOptions, VendorControl, VendorHandle};
pub use cpu::process_cpu_time;
pub use meter::{EndpointRates, RateStats};
pub use state::VendorSim;

pub(crate) use admin::{admin_error, admin_ok, parse_admin_json, unknown_phone, AdminReq};
pub(crate) use faults::roll_targeted;
pub(crate) use http::{FaultAnswers, Req};
pub(crate) use json::{serialized_response, Concat, IsoSecs, SpacedSecs, Text};
pub(crate) use registry::{ConfigEdit, VendorEntry};
pub(crate) use state::{Launch, Phone, VendorState};
pub(crate) use util::{
    duration_ms, json_response, parse_query, query_get, random_hex32, raw_response, set_some,
    Clock, Window,
};

/// One simulated vendor: the pieces of the simulator that are its own.
///
/// Implemented by a unit type in `src/vendors/<name>/` and registered with one line in
/// `src/vendors/mod.rs`; the core does the rest.
pub trait SimVendor: Sized + Send + Sync + 'static {
    /// The `type` of its provider table in `cloudphone.toml` (e.g. `"huawei-cph"`); also its
    /// name in the per-vendor command-line flags (`--port TYPE=PORT`) and builders.
    const TYPE: &'static str;
    /// Its name in `GET /_sim/health`.
    const HEALTH_NAME: &'static str;
    /// Its human-readable name (banner).
    const LABEL: &'static str;
    /// The provider name the ready client configuration gives it (`[providers.NAME]`).
    const PROVIDER: &'static str;
    /// The port of the standalone simulator's listener unless told otherwise.
    const DEFAULT_PORT: u16;
    /// The auth modes its provider table can be written for; the first is the default.
    const AUTH_MODES: &'static [&'static str];
    /// Mixed into the seed, so every vendor draws its own random sequence.
    const SEED_SALT: u64;
    /// Raw status of a phone added (admin API, `add_phone`) without one.
    const ADDED_STATUS: i32;

    /// Its own data of one phone.
    type Phone: SimPhone;
    /// Its rate limits (serde-able, for the admin API and per-vendor configuration).
    type Limits: VendorLimits;
    /// Its state beyond phones, faults, limits and calls (jobs, tokens, rate windows, ...).
    type Model: Send + 'static;
    /// Its settings fixed at start (credentials, durations, ...).
    type Settings: Send + Sync + 'static;
    /// Extra fields `POST /_sim/phones` accepts besides `id` and `status`.
    type NewPhone: DeserializeOwned + Default;
    /// What [`SimVendor::route`] learnt about a request, for [`SimVendor::serve`].
    type Route: Send + Sync;
    /// Values drawn while a call is recorded (e.g. a request id), for [`SimVendor::serve`].
    type Call: Send + Sync;
    /// Its own command-line flags (`clap::Args`), [`NoFlags`] for none.
    type Flags: clap::Args + clap::FromArgMatches + Clone + Send + Sync + 'static;

    /// Where its port, fleet size and initial faults live in a configuration. The default keeps
    /// them in the configuration's per-vendor section; a vendor with fields of its own overrides
    /// this (and [`SimVendor::limits`] / [`SimVendor::set_limits`]).
    fn slots(config: &mut SimConfig) -> Slots<'_> {
        config.vendor_section(Self::TYPE).slots()
    }

    /// Its rate limits in a configuration.
    fn limits(config: &SimConfig) -> Result<Self::Limits, String> {
        match config.vendor_limits(Self::TYPE) {
            None => Ok(Self::Limits::default()),
            Some(v) => serde_json::from_value(v.clone()).map_err(|e| e.to_string()),
        }
    }

    /// Replaces its rate limits in a configuration.
    fn set_limits(config: &mut SimConfig, limits: Self::Limits) {
        config.vendor_section(Self::TYPE).limits = Some(serde_json::json!(limits));
    }

    /// Applies its parsed command-line flags to a configuration.
    fn apply_flags(flags: Self::Flags, config: &mut SimConfig);

    /// Its settings and initial model for a configuration. A vendor without fields of its own in
    /// [`SimConfig`] reads its settings (credentials, durations, ...) with
    /// `SimConfig::vendor_settings`, over its defaults.
    fn build(config: &SimConfig) -> Result<(Self::Settings, Self::Model), String>;

    /// A random phone id (the core retries until it is unused).
    fn new_id(rng: &mut SmallRng) -> String;

    /// Seeds `n` phones with random ids and states; returns their ids.
    fn seed(st: &mut VendorState<Self>, n: usize) -> Vec<String>;

    /// Adds one phone whose id is known to be unused.
    fn insert(st: &mut VendorState<Self>, id: String, status: i32, extra: Self::NewPhone);

    /// Called after the limits were replaced (forget windows and lock-outs).
    fn limits_changed(_model: &mut Self::Model) {}

    /// What `--state` keeps of the vendor's model beyond phones (jobs, tasks), as JSON.
    fn save_model(_st: &VendorState<Self>, _now: Instant) -> serde_json::Value {
        serde_json::Value::Null
    }

    /// Restores what [`SimVendor::save_model`] wrote, after the phones were loaded.
    fn load_model(_st: &mut VendorState<Self>, _saved: &serde_json::Value) -> Result<(), String> {
        Ok(())
    }

    /// The endpoint key of a vendor request (call log, fault targeting) and its route.
    fn route(parts: &Parts) -> (String, Self::Route);

    /// Draws per-call values while the call is recorded, under the state lock.
    fn on_call(st: &mut VendorState<Self>) -> Self::Call;

    /// Answers one vendor request, after the core recorded it and waited the latency:
    /// authentication, [`VendorSim::guarded`] (rate limit and faults) and the handlers.
    fn serve<'a>(
        sim: &'a VendorSim<Self>,
        req: Req<'a>,
        route: Self::Route,
        call: Self::Call,
    ) -> impl Future<Output = Response> + Send + 'a;

    /// Its admin routes beyond the shared ones; `Ok(None)` for a route it does not know.
    fn admin(_sim: &VendorSim<Self>, _req: &AdminReq<'_>) -> Result<Option<Response>, Response> {
        Ok(None)
    }

    /// Its banner lines as (key, value): the first names its URL (shown after its label), the
    /// others follow indented.
    fn banner(sim: &VendorSim<Self>) -> Vec<(&'static str, String)>;

    /// The keys and values of its provider table for an auth mode (one of
    /// [`SimVendor::AUTH_MODES`]), `type` left out; `secret`, if given, replaces the mode's
    /// secret.
    fn provider_table(
        settings: &Self::Settings,
        auth: &str,
        url: &str,
        secret: Option<&str>,
    ) -> Vec<(&'static str, String)>;
}

/// A vendor's own data of one phone; the core keeps the rest ([`Phone`]: id, raw status and
/// transition, applied counters).
pub trait SimPhone: Sized + Send + Serialize + DeserializeOwned + 'static {
    /// The operations whose transitions the phone goes through.
    type Op: Copy + Send;
    /// The phone's admin snapshot.
    type Info: Serialize;
    /// The phone's applied-operation counters.
    type Applied: Serialize + DeserializeOwned + Copy + Default + Send;

    /// A snapshot of the phone at `now`.
    fn info(phone: &Phone<Self>, now: Instant) -> Self::Info;
}

/// A vendor's rate limits.
pub trait VendorLimits:
    Clone + Default + std::fmt::Debug + Serialize + DeserializeOwned + Send + 'static
{
    /// Every limit off.
    fn off() -> Self;
}

/// Where a vendor's port, fleet size and initial faults live in a configuration.
pub struct Slots<'a> {
    /// Listener port (0 = ephemeral).
    pub port: &'a mut u16,
    /// Phones seeded at start.
    pub phones: &'a mut usize,
    /// Faults injected from the start.
    pub faults: &'a mut Faults,
}

/// The command-line flags of a vendor that has none of its own.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct NoFlags {}

#[cfg(test)]
mod tests;
