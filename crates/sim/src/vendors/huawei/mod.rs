//! Huawei Cloud CPH: IAM tokens, AK/SK verification, CPH phones and jobs, its admin extras and
//! its in-process control.
//!
//! * `model` — phones, jobs, tokens, limits and settings;
//! * `auth` — IAM login, tokens, AK/SK signatures and the lock-out;
//! * `routes` — routing and the phone and job handlers; `batch` — the batch operations;
//! * `admin` — the `jobs` and `tokens` admin routes and their controls;
//! * `cli` — its command-line flags.

mod admin;
mod auth;
mod batch;
mod cli;
mod model;
mod routes;
mod wire;

use std::net::SocketAddr;

use axum::http::request::Parts;
use axum::response::Response;
use rand::rngs::SmallRng;

pub use model::{HuaweiApplied, HuaweiJobInfo, HuaweiLimits, HuaweiPhoneInfo};

use crate::config::SimConfig;
use crate::engine::{random_hex32, AdminReq, Req, SimVendor, Slots, VendorSim, VendorState};
use crate::Simulator;

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

/// The simulated Huawei Cloud CPH vendor (CPH and IAM on one listener).
#[derive(Clone, Copy, Debug)]
pub struct Huawei;

/// A cheap, cloneable in-process handle to the Huawei side of a running simulator. Its call log
/// counts IAM calls too, under `"POST /v3/auth/tokens"`.
pub type HuaweiControl = VendorSim<Huawei>;

impl SimVendor for Huawei {
    const TYPE: &'static str = "huawei-cph";
    const HEALTH_NAME: &'static str = "huawei";
    const LABEL: &'static str = "Huawei";
    const PROVIDER: &'static str = "hw";
    const DEFAULT_PORT: u16 = 7002;
    const AUTH_MODES: &'static [&'static str] = &["aksk", "token", "iam"];
    const SEED_SALT: u64 = 0x6875_6177_6569_0000;
    const ADDED_STATUS: i32 = status::RUNNING;

    type Phone = model::PhoneData;
    type Limits = HuaweiLimits;
    type Model = model::Model;
    type Settings = model::Settings;
    type NewPhone = model::NewPhone;
    type Route = routes::Route;
    type Call = String;
    type Flags = cli::Flags;

    fn slots(config: &mut SimConfig) -> Slots<'_> {
        Slots {
            port: &mut config.huawei_port,
            phones: &mut config.huawei_phones,
            faults: &mut config.huawei_faults,
        }
    }

    fn limits(config: &SimConfig) -> Result<HuaweiLimits, String> {
        Ok(config.huawei_limits.clone())
    }

    fn set_limits(config: &mut SimConfig, limits: HuaweiLimits) {
        config.huawei_limits = limits;
    }

    fn apply_flags(flags: cli::Flags, config: &mut SimConfig) {
        cli::apply(flags, config);
    }

    fn build(config: &SimConfig) -> Result<(model::Settings, model::Model), String> {
        let (c, t) = (&config.credentials, &config.timings);
        let settings = model::Settings {
            project_id: c.huawei_project_id.clone(),
            region: c.huawei_region.clone(),
            access_key: c.huawei_access_key.clone(),
            secret_key: c.huawei_secret_key.clone(),
            security_token: c.huawei_security_token.clone(),
            username: c.huawei_username.clone(),
            password: c.huawei_password.clone(),
            domain: c.huawei_domain.clone(),
            token: c.huawei_token.clone(),
            reset: t.huawei_reset,
            restart: t.huawei_restart,
            stop: t.huawei_stop,
        };
        Ok((settings, model::Model::new(config.token_ttl)))
    }

    fn new_id(rng: &mut SmallRng) -> String {
        random_hex32(rng)
    }

    fn seed(st: &mut VendorState<Self>, n: usize) -> Vec<String> {
        model::seed(st, n)
    }

    fn insert(st: &mut VendorState<Self>, id: String, status: i32, _extra: model::NewPhone) {
        model::insert(st, id, status)
    }

    fn limits_changed(model: &mut model::Model) {
        model.forget_rates();
    }

    fn save_model(st: &VendorState<Self>, now: tokio::time::Instant) -> serde_json::Value {
        model::save_jobs(st, now)
    }

    fn load_model(st: &mut VendorState<Self>, saved: &serde_json::Value) -> Result<(), String> {
        model::load_jobs(st, saved)
    }

    fn route(parts: &Parts) -> (String, routes::Route) {
        routes::route(parts)
    }

    fn on_call(st: &mut VendorState<Self>) -> String {
        random_hex32(&mut st.rng)
    }

    async fn serve<'a>(
        sim: &'a VendorSim<Self>,
        req: Req<'a>,
        route: routes::Route,
        request_id: String,
    ) -> Response {
        routes::serve(sim, req, route, request_id).await
    }

    fn admin(sim: &VendorSim<Self>, req: &AdminReq<'_>) -> Result<Option<Response>, Response> {
        admin::routes(sim, req)
    }

    fn banner(sim: &VendorSim<Self>) -> Vec<(&'static str, String)> {
        let s = sim.settings();
        let url = sim.url();
        vec![
            ("CPH URL", url.clone()),
            ("IAM URL", format!("{url}/v3/auth/tokens")),
            ("project id", s.project_id.clone()),
            ("region", s.region.clone()),
            ("access key", s.access_key.clone()),
            ("secret key", s.secret_key.clone()),
            (
                "security token",
                s.security_token.as_deref().unwrap_or("(none)").to_string(),
            ),
            (
                "IAM user/pwd/dom",
                format!("{} / {} / {}", s.username, s.password, s.domain),
            ),
            ("static X-Auth-Token", s.token.clone()),
        ]
    }

    fn provider_table(
        s: &model::Settings,
        auth: &str,
        url: &str,
        secret: Option<&str>,
    ) -> Vec<(&'static str, String)> {
        let secret = |v: &str| secret.unwrap_or(v).to_string();
        let mut table = vec![
            ("region", s.region.clone()),
            ("project_id", s.project_id.clone()),
            ("endpoint", url.to_string()),
            ("iam_endpoint", url.to_string()),
        ];
        match auth {
            "token" => table.push(("token", secret(&s.token))),
            "iam" => table.extend([
                ("username", s.username.clone()),
                ("password", secret(&s.password)),
                ("domain", s.domain.clone()),
            ]),
            _ => {
                table.push(("access_key", s.access_key.clone()));
                table.push(("secret_key", secret(&s.secret_key)));
                if let Some(token) = &s.security_token {
                    table.push(("security_token", token.clone()));
                }
            }
        }
        table
    }
}

impl Simulator {
    /// In-process control of the Huawei side.
    pub fn huawei(&self) -> HuaweiControl {
        self.control::<Huawei>()
    }

    /// Huawei CPH base URL (append `/v1/{project_id}/cloud-phone/...`).
    pub fn huawei_url(&self) -> String {
        self.huawei().url()
    }

    /// Huawei IAM base URL (append `/v3/auth/tokens`); the same listener as CPH.
    pub fn iam_url(&self) -> String {
        self.huawei_url()
    }

    /// Huawei listener address.
    pub fn huawei_addr(&self) -> SocketAddr {
        self.huawei().addr()
    }

    /// Every Huawei phone id, in seed (insertion) order.
    pub fn huawei_phone_ids(&self) -> Vec<String> {
        self.huawei().phone_ids()
    }
}

impl SimConfig {
    /// Sets the Huawei rate limits.
    pub fn with_huawei_limits(mut self, limits: HuaweiLimits) -> Self {
        self.huawei_limits = limits;
        self
    }
}
