//! GeeLark: phone state, the `/open/v1` API, its admin extras and its in-process control.
//!
//! * `model` — phones, flags, applied counters, rate limits and settings;
//! * `auth` — the bearer token and key verification;
//! * `routes` — the API handlers;
//! * `admin` — the `flags` and `live` admin routes and the flag controls;
//! * `cli` — its command-line flags.

mod admin;
mod auth;
mod cli;
mod model;
mod routes;
mod wire;

use std::net::SocketAddr;

use axum::http::request::Parts;
use axum::response::Response;
use rand::rngs::SmallRng;

pub use model::{GeelarkApplied, GeelarkFlags, GeelarkLimits, GeelarkPhoneInfo};

use crate::config::SimConfig;
use crate::engine::{AdminReq, Req, SimVendor, Slots, VendorSim, VendorState};
use crate::Simulator;

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

/// The simulated GeeLark vendor.
#[derive(Clone, Copy, Debug)]
pub struct Geelark;

/// A cheap, cloneable in-process handle to the GeeLark side of a running simulator.
pub type GeelarkControl = VendorSim<Geelark>;

impl SimVendor for Geelark {
    const TYPE: &'static str = "geelark";
    const HEALTH_NAME: &'static str = "geelark";
    const LABEL: &'static str = "GeeLark";
    const PROVIDER: &'static str = "gl";
    const DEFAULT_PORT: u16 = 7001;
    const AUTH_MODES: &'static [&'static str] = &["key", "token"];
    const SEED_SALT: u64 = 0x6765_656c_6172_6b00;
    const ADDED_STATUS: i32 = status::STARTED;

    type Phone = model::PhoneData;
    type Limits = GeelarkLimits;
    type Model = model::Model;
    type Settings = model::Settings;
    type NewPhone = model::NewPhone;
    type Route = Option<&'static str>;
    type Call = ();
    type Flags = cli::Flags;

    fn slots(config: &mut SimConfig) -> Slots<'_> {
        Slots {
            port: &mut config.geelark_port,
            phones: &mut config.geelark_phones,
            faults: &mut config.geelark_faults,
        }
    }

    fn limits(config: &SimConfig) -> Result<GeelarkLimits, String> {
        Ok(config.geelark_limits.clone())
    }

    fn set_limits(config: &mut SimConfig, limits: GeelarkLimits) {
        config.geelark_limits = limits;
    }

    fn apply_flags(flags: cli::Flags, config: &mut SimConfig) {
        cli::apply(flags, config);
    }

    fn build(config: &SimConfig) -> Result<(model::Settings, model::Model), String> {
        let (c, t) = (&config.credentials, &config.timings);
        let settings = model::Settings {
            app_id: c.geelark_app_id.clone(),
            api_key: c.geelark_api_key.clone(),
            token: c.geelark_token.clone(),
            start: t.geelark_start,
            stop: t.geelark_stop,
            restart: t.geelark_restart,
            new_one: t.geelark_new_one,
            max_skew: config.geelark_max_clock_skew,
        };
        Ok((settings, model::Model::default()))
    }

    fn new_id(rng: &mut SmallRng) -> String {
        model::random_id(rng)
    }

    fn seed(st: &mut VendorState<Self>, n: usize) -> Vec<String> {
        model::seed(st, n)
    }

    fn insert(st: &mut VendorState<Self>, id: String, status: i32, extra: model::NewPhone) {
        model::insert(st, id, status, extra)
    }

    fn limits_changed(model: &mut model::Model) {
        model.forget_rates();
    }

    fn route(parts: &Parts) -> (String, Option<&'static str>) {
        let path = parts.uri.path();
        (format!("{} {}", parts.method, path), routes::route(path))
    }

    fn on_call(_st: &mut VendorState<Self>) {}

    async fn serve<'a>(
        sim: &'a VendorSim<Self>,
        req: Req<'a>,
        route: Option<&'static str>,
        _call: (),
    ) -> Response {
        routes::serve(sim, req, route).await
    }

    fn admin(sim: &VendorSim<Self>, req: &AdminReq<'_>) -> Result<Option<Response>, Response> {
        admin::routes(sim, req)
    }

    fn banner(sim: &VendorSim<Self>) -> Vec<(&'static str, String)> {
        let s = sim.settings();
        vec![
            ("base URL", sim.url()),
            ("appId", s.app_id.clone()),
            ("apiKey", s.api_key.clone()),
            ("bearer token", s.token.clone()),
        ]
    }

    fn provider_table(
        settings: &model::Settings,
        auth: &str,
        url: &str,
        secret: Option<&str>,
    ) -> Vec<(&'static str, String)> {
        let secret = |s: &str| secret.unwrap_or(s).to_string();
        let mut table = vec![("base_url", url.to_string())];
        if auth == "token" {
            table.push(("token", secret(&settings.token)));
        } else {
            table.push(("app_id", settings.app_id.clone()));
            table.push(("api_key", secret(&settings.api_key)));
        }
        table
    }
}

impl Simulator {
    /// In-process control of the GeeLark side.
    pub fn geelark(&self) -> GeelarkControl {
        self.control::<Geelark>()
    }

    /// GeeLark base URL, e.g. `http://127.0.0.1:41234` (append `/open/v1/...`).
    pub fn geelark_url(&self) -> String {
        self.geelark().url()
    }

    /// GeeLark listener address.
    pub fn geelark_addr(&self) -> SocketAddr {
        self.geelark().addr()
    }

    /// Every GeeLark phone id, in seed (insertion) order.
    pub fn geelark_phone_ids(&self) -> Vec<String> {
        self.geelark().phone_ids()
    }
}

impl SimConfig {
    /// Sets the GeeLark rate limits.
    pub fn with_geelark_limits(mut self, limits: GeelarkLimits) -> Self {
        self.geelark_limits = limits;
        self
    }
}
