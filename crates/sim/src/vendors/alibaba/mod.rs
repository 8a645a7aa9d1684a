//! Alibaba Cloud Cloud Phone (`eds-aic`, API 2023-09-30): the RPC API with `ACS3-HMAC-SHA256`
//! verification, phones with the 15 string states, tasks, its admin extras and its in-process
//! control.
//!
//! * `model` — phones, tasks, nonces, limits and settings;
//! * `sign` — the signature verifier (public: tests sign with it);
//! * `auth` — the signature, date window, nonce replay and STS checks;
//! * `routes` — routing and the action handlers;
//! * `admin` — the `tasks` admin routes and the controls;
//! * `cli` — its command-line flags.
//!
//! Behaviour worth knowing when writing a client:
//!
//! * Every call is `POST /` with `x-acs-action`; the endpoint key is `POST / {Action}` (e.g.
//!   `"POST / StopAndroidInstance"`), the raw method and path for anything else (404
//!   `InvalidApi.NotFound`). Every answer carries `RequestId` and `x-acs-request-id`.
//! * Authentication: `host` and every `x-acs-*` header sent must be signed; an unknown
//!   AccessKey is 404 `InvalidAccessKeyId.NotFound`, a wrong signature 400
//!   `SignatureDoesNotMatch` (with the server's string to sign), a date more than 15 minutes off
//!   (real time) 400 `InvalidTimeStamp.Expired`, a nonce seen in the last 30 minutes 400
//!   `SignatureNonceUsed` (only correctly signed requests use a nonce up). The STS AccessKey
//!   needs its `x-acs-security-token`.
//! * Lists are flattened (`AndroidInstanceIds.1`); a bare name is ignored, as an unknown
//!   parameter is (so `DescribeAndroidInstances` then lists everything). At most 100 ids per
//!   call (400 `InvalidParameter.AndroidInstanceIds`). Queries are decoded as forms (`+` is a
//!   space) before the signature is checked.
//! * `DescribeAndroidInstances`: `MaxResults` default 100, `NextToken` opaque (`""` at the end;
//!   an empty one starts over); an unknown id is simply not listed. `DescribeTasks`:
//!   `MaxResults` default **10**.
//! * State changes: an unknown id fails the whole request (400 `InvalidInstanceId.NotFound`,
//!   nothing done); a phone whose state the documented preconditions refuse gets an instance
//!   task that fails at once (`IncorrectInstanceStatus`) and is not touched. Every call creates a
//!   batch task (`Level` 1) and one instance task per phone (`Level` 2), all with `InvokeId` =
//!   the call's `RequestId`. Start and stop answer `{RequestId}` only; reboot and reset add
//!   `Tasks{ParentTaskId, ChildTasks[{InstanceId, TaskId}]}` (`drop_ids` drops child entries),
//!   `UpdateInstanceImage` also `TaskId`. `job_failure` makes an instance task fail and its
//!   phone end `UNAVAILABLE`.
//! * Throttling: 400 `Throttling.User` past `per_second` calls of one action, with
//!   `x-acs-retry-after` (milliseconds to the next window); injected throttles carry none.

mod admin;
mod auth;
mod cli;
mod model;
mod routes;
pub mod sign;
mod wire;

use std::net::SocketAddr;

use axum::http::request::Parts;
use axum::response::Response;
use rand::rngs::SmallRng;

pub use model::{AlibabaApplied, AlibabaLimits, AlibabaPhoneInfo, AlibabaTaskInfo};

use crate::config::SimConfig;
use crate::engine::{AdminReq, Req, SimVendor, VendorSim, VendorState};
use crate::Simulator;

/// The default durations of the simulated transitions, before `time_scale` (the `alibaba`
/// section's `start_ms`, `stop_ms`, `reboot_ms`, `reset_ms`, `reimage_ms` override them).
pub mod durations {
    use std::time::Duration;

    /// `StartAndroidInstance`: `STARTING` → `RUNNING`.
    pub const START: Duration = Duration::from_millis(3_000);
    /// `StopAndroidInstance`: `STOPPING` → `STOPPED`.
    pub const STOP: Duration = Duration::from_millis(2_000);
    /// `RebootAndroidInstancesInGroup`: `REBOOTING` → `RUNNING`.
    pub const REBOOT: Duration = Duration::from_millis(4_000);
    /// `ResetAndroidInstancesInGroup`: `RESETTING` → `RUNNING`.
    pub const RESET: Duration = Duration::from_millis(6_000);
    /// `UpdateInstanceImage`: `RESETTING` → `RUNNING`.
    pub const REIMAGE: Duration = Duration::from_millis(8_000);
}

/// eds-aic instance states as the simulator's status codes, and their strings.
pub mod status {
    /// `CREATING`.
    pub const CREATING: i32 = 1;
    /// `RUNNING`.
    pub const RUNNING: i32 = 2;
    /// `STARTING`.
    pub const STARTING: i32 = 3;
    /// `STOPPING`.
    pub const STOPPING: i32 = 4;
    /// `STOPPED`.
    pub const STOPPED: i32 = 5;
    /// `REBOOTING`.
    pub const REBOOTING: i32 = 6;
    /// `RESETTING`.
    pub const RESETTING: i32 = 7;
    /// `BACKUPING`.
    pub const BACKUPING: i32 = 8;
    /// `RECOVERING`.
    pub const RECOVERING: i32 = 9;
    /// `DELETING`.
    pub const DELETING: i32 = 10;
    /// `DELETED`.
    pub const DELETED: i32 = 11;
    /// `FAILED` (creation failed).
    pub const FAILED: i32 = 12;
    /// `UNAVAILABLE` (abnormal).
    pub const UNAVAILABLE: i32 = 13;
    /// `BACKUP_FAILED`.
    pub const BACKUP_FAILED: i32 = 14;
    /// `RECOVER_FAILED`.
    pub const RECOVER_FAILED: i32 = 15;

    const NAMES: [&str; 15] = [
        "CREATING",
        "RUNNING",
        "STARTING",
        "STOPPING",
        "STOPPED",
        "REBOOTING",
        "RESETTING",
        "BACKUPING",
        "RECOVERING",
        "DELETING",
        "DELETED",
        "FAILED",
        "UNAVAILABLE",
        "BACKUP_FAILED",
        "RECOVER_FAILED",
    ];

    /// The `AndroidInstanceStatus` of a code; any other code shows as `STATUS_{code}` (an
    /// undocumented state, for clients to keep raw).
    pub fn name(code: i32) -> String {
        Name(code).to_string()
    }

    /// [`name`] without the allocation, for answers written straight out.
    pub(crate) struct Name(pub(crate) i32);

    impl std::fmt::Display for Name {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            let code = self.0;
            match usize::try_from(code - 1).ok().and_then(|i| NAMES.get(i)) {
                Some(n) => f.write_str(n),
                None => write!(f, "STATUS_{code}"),
            }
        }
    }

    /// The code of an `AndroidInstanceStatus`.
    pub fn code(name: &str) -> Option<i32> {
        NAMES.iter().position(|n| *n == name).map(|i| i as i32 + 1)
    }
}

/// The simulated Alibaba Cloud Cloud Phone vendor.
#[derive(Clone, Copy, Debug)]
pub struct Alibaba;

/// A cheap, cloneable in-process handle to the Alibaba side of a running simulator.
pub type AlibabaControl = VendorSim<Alibaba>;

impl SimVendor for Alibaba {
    const TYPE: &'static str = "alibaba";
    const HEALTH_NAME: &'static str = "alibaba";
    const LABEL: &'static str = "Alibaba";
    const PROVIDER: &'static str = "ali";
    const DEFAULT_PORT: u16 = 7003;
    const AUTH_MODES: &'static [&'static str] = &["aksk", "sts"];
    const SEED_SALT: u64 = 0x616c_6962_6162_6100;
    const ADDED_STATUS: i32 = status::RUNNING;

    type Phone = model::PhoneData;
    type Limits = AlibabaLimits;
    type Model = model::Model;
    type Settings = model::Settings;
    type NewPhone = model::NewPhone;
    type Route = routes::Route;
    type Call = String;
    type Flags = cli::Flags;

    fn apply_flags(flags: cli::Flags, config: &mut SimConfig) {
        cli::apply(flags, config);
    }

    fn build(config: &SimConfig) -> Result<(model::Settings, model::Model), String> {
        let settings: model::Settings = config.vendor_settings(Self::TYPE)?;
        let model = model::Model::new(settings.region.clone());
        Ok((settings, model))
    }

    fn new_id(rng: &mut SmallRng) -> String {
        model::random_id(rng, "acp-", 17)
    }

    fn seed(st: &mut VendorState<Self>, n: usize) -> Vec<String> {
        let region = st.model_region();
        model::seed(st, n, &region)
    }

    fn insert(st: &mut VendorState<Self>, id: String, code: i32, _extra: model::NewPhone) {
        let region = st.model_region();
        model::insert(st, id, code, &region)
    }

    fn limits_changed(model: &mut model::Model) {
        model.forget_rates();
    }

    fn save_model(st: &VendorState<Self>, _now: tokio::time::Instant) -> serde_json::Value {
        model::save_tasks(st)
    }

    fn load_model(st: &mut VendorState<Self>, saved: &serde_json::Value) -> Result<(), String> {
        model::load_tasks(st, saved)
    }

    fn route(parts: &Parts) -> (String, routes::Route) {
        routes::route(parts)
    }

    fn on_call(st: &mut VendorState<Self>) -> String {
        model::request_id(&mut st.rng)
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
        vec![
            ("endpoint", sim.url()),
            ("site", s.site.clone()),
            ("phone region", s.region.clone()),
            ("access key", s.access_key.clone()),
            ("secret key", s.secret_key.clone()),
            ("STS access key", s.sts_access_key.clone()),
            ("STS secret key", s.sts_secret_key.clone()),
            ("STS token", s.security_token.clone()),
        ]
    }

    fn provider_table(
        s: &model::Settings,
        auth: &str,
        url: &str,
        secret: Option<&str>,
    ) -> Vec<(&'static str, String)> {
        let secret = |v: &str| secret.unwrap_or(v).to_string();
        let mut table = vec![("site", s.site.clone()), ("endpoint", url.to_string())];
        match auth {
            "sts" => table.extend([
                ("access_key", s.sts_access_key.clone()),
                ("secret_key", secret(&s.sts_secret_key)),
                ("security_token", s.security_token.clone()),
            ]),
            _ => table.extend([
                ("access_key", s.access_key.clone()),
                ("secret_key", secret(&s.secret_key)),
            ]),
        }
        table
    }
}

impl VendorState<Alibaba> {
    /// The region seeded phones live in. The settings are not reachable from the state, so the
    /// model keeps a copy.
    fn model_region(&self) -> String {
        self.model.region.clone()
    }
}

impl Simulator {
    /// In-process control of the Alibaba side.
    pub fn alibaba(&self) -> AlibabaControl {
        self.control::<Alibaba>()
    }

    /// The Alibaba eds-aic endpoint (every call is `POST /`).
    pub fn alibaba_url(&self) -> String {
        self.alibaba().url()
    }

    /// Alibaba listener address.
    pub fn alibaba_addr(&self) -> SocketAddr {
        self.alibaba().addr()
    }

    /// Every Alibaba phone id, in seed (insertion) order.
    pub fn alibaba_phone_ids(&self) -> Vec<String> {
        self.alibaba().phone_ids()
    }
}
