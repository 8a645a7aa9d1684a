//! A stateful simulator of the GeeLark and Huawei Cloud CPH cloud-phone HTTP APIs.
//!
//! It is an independent implementation of the vendors' wire formats (it shares no code with the
//! client crates), used embedded in tests, demos and benchmarks, and standalone as the
//! `cloudphone-sim` binary. Two loopback listeners serve:
//!
//! * **GeeLark** — `POST /open/v1/phone/{status,stop,start,restart,list}`, `POST /open/v2/phone/newOne`,
//!   `POST /open/v1/auth/status`; key-verification (`appId`/`traceId`/`ts`/`nonce`/`sign`) or bearer
//!   auth; the `{"traceId","code","msg","data"}` envelope; per-API rate limits (40007 / 40014).
//! * **Huawei** — IAM `POST /v3/auth/tokens` and CPH `/v1/{project_id}/cloud-phone/...`
//!   (`phones/batch-reset`, `phones/batch-restart`, `phones/batch-stop`, `phones`, `phones/{id}`,
//!   `jobs`, `jobs/{id}`); `X-Auth-Token` or AK/SK `SDK-HMAC-SHA256` auth; asynchronous jobs;
//!   per-API throttling (429 APIGW.0308).
//!
//! Phone transitions are computed lazily from timestamps, so a 100,000-phone fleet costs a few
//! tens of megabytes and no timers. Every simulated duration is multiplied by
//! [`SimConfig::time_scale`]. All randomness (ids, tokens, faults) comes from
//! [`SimConfig::seed`].
//!
//! Each listener also serves a JSON admin API under `/_sim/` (see [`GeelarkControl`] and
//! [`HuaweiControl`] for the same operations in-process).
//!
//! # Defaults
//!
//! * Credentials: [`SimCredentials::default`] — fixed, obviously fake values (project id
//!   `0123456789abcdef0123456789abcdef`, region `cn-east-3`, ...). [`Simulator::banner`] prints them.
//! * Durations ([`Timings`], multiplied by `time_scale`): GeeLark start 3 s (status 1 → 0),
//!   stop 2 s (status unchanged, then 2), restart 4 s (1 → 0), newOne 6 s (1 → 0); Huawei reset
//!   5 s (3 → 2), restart 4 s (4 → 2, also from 8), stop 3 s (7 → 8).
//! * Rate limits: GeeLark 200/min and 24,000/h per API path (40007; 40014 plus a 2 h lock);
//!   Huawei 200/s per API (429 APIGW.0308) and an AK/SK lock-out after 5 consecutive
//!   authentication failures (5 min). All windows and locks are fixed windows multiplied by
//!   `time_scale` (scale 0.01: a "minute" lasts 0.6 s); `None` turns a limit off.
//! * IAM token lifetime: 24 h of real time (not scaled); see [`HuaweiControl::set_token_ttl`].
//!
//! # Behaviour worth knowing when writing a client
//!
//! * GeeLark: every answer is HTTP 200 with an envelope, except faults (5xx) and unknown paths
//!   (404). `nonce` must be the first 6 characters of `traceId`; `sign` must be upper-case hex.
//!   `start`/`stop` take at most 200 ids, `status` 100 (else 40004). Restart and newOne accept any
//!   non-expired phone (43004 for an expired one, 43011 while a newOne runs); stop of an
//!   already shut-down phone succeeds, stop of an expired one is 43004.
//! * Huawei: an expired IAM token answers `401 {"error_code":"APIGW.0301","error_msg":"Incorrect
//!   IAM authentication information: token expired, ..."}`; an unknown token says "decrypt token
//!   fail". [`HuaweiControl::expire_tokens`] expires IAM-issued tokens only; the static
//!   [`SimCredentials::huawei_token`] never expires. A token scoped to another project (IAM login
//!   with another project name or id) is accepted by IAM but refused by CPH with APIGW.0301.
//! * Huawei per-phone batch errors (HTTP 200): CPS.0004 malformed id (not 32 lowercase hex),
//!   CPS.0005 unknown id, CPS.0022 phone busy or in a state that refuses the operation (creating,
//!   resetting, restarting, stopping, frozen). Request errors (HTTP 400): CPS.0009 empty list,
//!   CPS.0029/0030 empty/malformed `image_id`, CPS.0002 bad offset/limit, CPS.0010 bad status
//!   filter, and `CPS.0101` (a code of the simulator's choosing) for a malformed body, a
//!   non-string or non-JSON `property`, or more than 20 `request_ids`. Unknown phone or job in a
//!   GET: 400 CPS.0005. Unknown route: 404 APIGW.0101.
//! * Every CPH answer carries `X-Request-Id`; batch answers use the same id as `request_id`, and
//!   each job remembers it (`GET jobs/{id}` returns the creating request's id).
//! * The call log counts every received request (rejected ones too) under an endpoint key:
//!   `"POST /open/v1/phone/stop"`, `"POST /v3/auth/tokens"`,
//!   `"GET /v1/{project_id}/cloud-phone/phones/{phone_id}"`, ... (unknown paths: the raw path).
//! * `applied_*` counters count operations the simulator accepted and carried out for a phone,
//!   including those whose answer a fault then destroyed: the ground truth for "was this phone
//!   reset twice?".
//!
//! # Faults
//!
//! [`Faults`] (serde-able) is set per vendor at start ([`SimConfig::geelark_faults`],
//! [`SimConfig::huawei_faults`]), in-process (`set_faults`) or over HTTP (`PUT /_sim/faults`). Per
//! request, after authentication and rate limiting, the seeded RNG picks at most one of throttle,
//! 5xx, connection reset, hang, malformed; for the ambiguous ones it then decides with
//! `applied_ratio` (default 0.5) whether the action was carried out first. `drop_ids` and
//! `job_failure` act inside normal answers. `endpoints` restricts faults to matching endpoint
//! keys. Faults do not apply to IAM or to the admin API.
//!
//! # Admin HTTP API (both listeners, JSON, no auth)
//!
//! | method | path | effect |
//! |---|---|---|
//! | GET | `/_sim/health` | liveness |
//! | GET | `/_sim/phones?offset&limit` | `{total, phones:[info]}` in insertion order |
//! | POST | `/_sim/phones/seed` `{"count":N}` | seeds N phones, returns `{ids}` |
//! | POST | `/_sim/phones` `{"id"?, "status"?, ...}` | adds a phone (409 if the id exists); GeeLark also takes `serial_name`, `remote_connected`, `executing_task` |
//! | GET | `/_sim/phones/{id}` | phone info: status, flags, applied counters |
//! | PUT/POST | `/_sim/phones/{id}/status` `{"status":n}` | sets the raw status, cancelling transitions |
//! | PUT/POST | `/_sim/phones/{id}/flags` `{"remote_connected"?, "executing_task"?}` | GeeLark only |
//! | GET | `/_sim/phones/{id}/applied` | applied-operation counters |
//! | GET, PUT/POST, DELETE | `/_sim/faults` | read, replace (missing fields take defaults), clear |
//! | GET, PUT/POST | `/_sim/limits` | read, replace ([`GeelarkLimits`] / [`HuaweiLimits`]) |
//! | GET, DELETE | `/_sim/calls` (also POST `/_sim/calls/reset`) | [`CallStats`]; reset |
//! | POST | `/_sim/tokens` | Huawei: issue a valid token `{token}` |
//! | POST | `/_sim/tokens/expire` | Huawei: expire every issued token |
//! | GET, PUT/POST | `/_sim/tokens/ttl` `{"seconds":s}` | Huawei: token lifetime for new tokens |
//! | GET | `/_sim/jobs/{job_id}`, `/_sim/jobs?request_id=` | Huawei: job info |
//!
//! ```no_run
//! use cloudphone_sim::{SimConfig, Simulator};
//!
//! # async fn demo() -> std::io::Result<()> {
//! let sim = Simulator::start(SimConfig::default().with_time_scale(0.01)).await?;
//! let phone = sim.geelark_phone_ids()[0].clone();
//! println!("GeeLark at {}, Huawei at {}", sim.geelark_url(), sim.huawei_url());
//!
//! // Make the next stop of this phone fail with 43006 and make 10% of calls answer 5xx.
//! sim.geelark().set_remote_connected(&phone, true);
//! sim.geelark().set_faults(cloudphone_sim::Faults { error_5xx: 0.1, ..Default::default() });
//!
//! // ... drive a client against sim.geelark_url() with sim.credentials() ...
//! assert_eq!(sim.geelark().applied_resets(&phone), 0);
//! sim.shutdown().await;
//! # Ok(())
//! # }
//! ```

// Handlers return early with ready-made HTTP responses as their error type; boxing them would
// only add noise on a cold path.
#![allow(clippy::result_large_err)]

mod common;
mod config;
pub mod geelark;
pub mod huawei;
pub mod sign;

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use common::{CallRecord, CallStats};
pub use config::{Faults, GeelarkLimits, HuaweiLimits, SimConfig, SimCredentials, Timings};
pub use geelark::{GeelarkApplied, GeelarkControl, GeelarkFlags, GeelarkPhoneInfo};
pub use huawei::{HuaweiApplied, HuaweiControl, HuaweiJobInfo, HuaweiPhoneInfo};

/// A running simulator: two listeners and their state. Dropping it stops the listeners; prefer
/// [`Simulator::shutdown`], which also waits for them to end.
pub struct Simulator {
    geelark: GeelarkControl,
    huawei: HuaweiControl,
    geelark_addr: SocketAddr,
    huawei_addr: SocketAddr,
    credentials: SimCredentials,
    shutdown_tx: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("geelark", &self.geelark_addr)
            .field("huawei", &self.huawei_addr)
            .finish_non_exhaustive()
    }
}

impl Simulator {
    /// Binds both listeners, seeds the fleets and serves in background tokio tasks.
    pub async fn start(config: SimConfig) -> std::io::Result<Simulator> {
        let gl_listener = TcpListener::bind((config.bind, config.geelark_port)).await?;
        let hw_listener = TcpListener::bind((config.bind, config.huawei_port)).await?;
        let geelark_addr = gl_listener.local_addr()?;
        let huawei_addr = hw_listener.local_addr()?;
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let clock = common::Clock::new(config.time_scale);

        let geelark = geelark::build(geelark::Setup {
            seed: config.seed,
            phones: config.geelark_phones,
            clock,
            creds: config.credentials.clone(),
            timings: config.timings.clone(),
            latency: config.latency,
            max_skew: config.geelark_max_clock_skew,
            base_url: format!("http://{geelark_addr}"),
            limits: config.geelark_limits.clone(),
            faults: config.geelark_faults.clone(),
            call_log_capacity: config.call_log_capacity,
            shutdown: shutdown_rx.clone(),
        });
        let huawei = huawei::build(huawei::Setup {
            seed: config.seed,
            phones: config.huawei_phones,
            clock,
            creds: config.credentials.clone(),
            timings: config.timings.clone(),
            latency: config.latency,
            base_url: format!("http://{huawei_addr}"),
            limits: config.huawei_limits.clone(),
            faults: config.huawei_faults.clone(),
            token_ttl: config.token_ttl,
            call_log_capacity: config.call_log_capacity,
            shutdown: shutdown_rx.clone(),
        });

        let gl_app = Router::new()
            .fallback(geelark::handle)
            .with_state(geelark.clone());
        let hw_app = Router::new()
            .fallback(huawei::handle)
            .with_state(huawei.clone());
        let tasks = vec![
            spawn_server(gl_listener, gl_app, shutdown_rx.clone()),
            spawn_server(hw_listener, hw_app, shutdown_rx),
        ];
        Ok(Simulator {
            geelark,
            huawei,
            geelark_addr,
            huawei_addr,
            credentials: config.credentials,
            shutdown_tx,
            tasks,
        })
    }

    /// GeeLark base URL, e.g. `http://127.0.0.1:41234` (append `/open/v1/...`).
    pub fn geelark_url(&self) -> String {
        format!("http://{}", self.geelark_addr)
    }

    /// Huawei CPH base URL (append `/v1/{project_id}/cloud-phone/...`).
    pub fn huawei_url(&self) -> String {
        format!("http://{}", self.huawei_addr)
    }

    /// Huawei IAM base URL (append `/v3/auth/tokens`); the same listener as CPH.
    pub fn iam_url(&self) -> String {
        self.huawei_url()
    }

    /// GeeLark listener address.
    pub fn geelark_addr(&self) -> SocketAddr {
        self.geelark_addr
    }

    /// Huawei listener address.
    pub fn huawei_addr(&self) -> SocketAddr {
        self.huawei_addr
    }

    /// The credentials the simulator accepts.
    pub fn credentials(&self) -> &SimCredentials {
        &self.credentials
    }

    /// Every GeeLark phone id, in seed (insertion) order.
    pub fn geelark_phone_ids(&self) -> Vec<String> {
        self.geelark.phone_ids()
    }

    /// Every Huawei phone id, in seed (insertion) order.
    pub fn huawei_phone_ids(&self) -> Vec<String> {
        self.huawei.phone_ids()
    }

    /// In-process control of the GeeLark side.
    pub fn geelark(&self) -> GeelarkControl {
        self.geelark.clone()
    }

    /// In-process control of the Huawei side.
    pub fn huawei(&self) -> HuaweiControl {
        self.huawei.clone()
    }

    /// A human-readable summary of URLs and credentials (secrets included: a local test tool).
    pub fn banner(&self) -> String {
        let c = &self.credentials;
        format!(
            "cloudphone-sim — local test simulator; the credentials below are fake and printed on purpose\n\
             GeeLark   base URL : {gl}\n\
             \x20 appId            : {app}\n\
             \x20 apiKey           : {key}\n\
             \x20 bearer token     : {tok}\n\
             Huawei    CPH URL  : {hw}\n\
             \x20 IAM URL          : {iam}/v3/auth/tokens\n\
             \x20 project id       : {pid}\n\
             \x20 region           : {region}\n\
             \x20 access key       : {ak}\n\
             \x20 secret key       : {sk}\n\
             \x20 security token   : {st}\n\
             \x20 IAM user/pwd/dom : {user} / {pwd} / {dom}\n\
             \x20 static X-Auth-Token: {htok}\n\
             Admin API under /_sim/ on both listeners (e.g. GET {gl}/_sim/calls)\n\
             Fleet: {ngl} GeeLark phones, {nhw} Huawei phones",
            gl = self.geelark_url(),
            app = c.geelark_app_id,
            key = c.geelark_api_key,
            tok = c.geelark_token,
            hw = self.huawei_url(),
            iam = self.iam_url(),
            pid = c.huawei_project_id,
            region = c.huawei_region,
            ak = c.huawei_access_key,
            sk = c.huawei_secret_key,
            st = c.huawei_security_token.as_deref().unwrap_or("(none)"),
            user = c.huawei_username,
            pwd = c.huawei_password,
            dom = c.huawei_domain,
            htok = c.huawei_token,
            ngl = self.geelark.phone_count(),
            nhw = self.huawei.phone_count(),
        )
    }

    /// A `cloudphone.toml` for the `cloudphone` command and library that points at this
    /// simulator (GeeLark key auth, Huawei AK/SK). Written here, not taken from the client
    /// crates: the simulator stays independent of them.
    pub fn client_config(&self) -> String {
        let c = &self.credentials;
        format!(
            "[providers.gl]\ntype = \"geelark\"\nbase_url = \"{gl}\"\napp_id = \"{app}\"\napi_key = \"{key}\"\n\n\
             [providers.hw]\ntype = \"huawei-cph\"\nregion = \"{region}\"\nproject_id = \"{pid}\"\n\
             endpoint = \"{hw}\"\niam_endpoint = \"{iam}\"\naccess_key = \"{ak}\"\nsecret_key = \"{sk}\"\n",
            gl = self.geelark_url(),
            app = c.geelark_app_id,
            key = c.geelark_api_key,
            region = c.huawei_region,
            pid = c.huawei_project_id,
            hw = self.huawei_url(),
            iam = self.iam_url(),
            ak = c.huawei_access_key,
            sk = c.huawei_secret_key,
        )
    }

    /// Stops both listeners and waits until every server task has ended. Hanging responses are
    /// cut short; connections still open after a grace period are aborted.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown_tx.send(true);
        for mut task in std::mem::take(&mut self.tasks) {
            if tokio::time::timeout(Duration::from_secs(3), &mut task)
                .await
                .is_err()
            {
                task.abort();
                let _ = task.await;
            }
        }
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        // Graceful: the listeners stop accepting and close idle connections on their own.
        let _ = self.shutdown_tx.send(true);
    }
}

fn spawn_server(
    listener: TcpListener,
    app: Router,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let signal = async move {
            let _ = shutdown.wait_for(|v| *v).await;
        };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(signal)
            .await
        {
            tracing::warn!("cloudphone-sim listener ended with an error: {e}");
        }
    })
}

/// Command-line options of the standalone simulator; `#[command(flatten)]` it to embed.
#[derive(Clone, Debug, clap::Args)]
pub struct SimArgs {
    /// Address to bind (loopback by default).
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: std::net::IpAddr,
    /// GeeLark port (0 = ephemeral).
    #[arg(long, default_value_t = 7001)]
    pub geelark_port: u16,
    /// Huawei CPH + IAM port (0 = ephemeral).
    #[arg(long, default_value_t = 7002)]
    pub huawei_port: u16,
    /// Seeded GeeLark fleet size.
    #[arg(long, default_value_t = 20)]
    pub geelark_phones: usize,
    /// Seeded Huawei fleet size.
    #[arg(long, default_value_t = 20)]
    pub huawei_phones: usize,
    /// Latency added to every vendor call, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Multiplier of every simulated duration (0.01 = a hundred times faster).
    #[arg(long, default_value_t = 1.0)]
    pub time_scale: f64,
    /// Random seed.
    #[arg(long, default_value_t = 0x5eed)]
    pub seed: u64,
    /// Disable every rate limit and the AK/SK lock-out.
    #[arg(long)]
    pub no_limits: bool,
    /// GeeLark appId to accept.
    #[arg(long, env = "SIM_GEELARK_APP_ID")]
    pub geelark_app_id: Option<String>,
    /// GeeLark apiKey to accept.
    #[arg(long, env = "SIM_GEELARK_API_KEY")]
    pub geelark_api_key: Option<String>,
    /// GeeLark bearer token to accept.
    #[arg(long, env = "SIM_GEELARK_TOKEN")]
    pub geelark_token: Option<String>,
    /// Huawei project id.
    #[arg(long, env = "SIM_HUAWEI_PROJECT_ID")]
    pub huawei_project_id: Option<String>,
    /// Huawei region (IAM project name).
    #[arg(long, env = "SIM_HUAWEI_REGION")]
    pub huawei_region: Option<String>,
    /// Huawei access key.
    #[arg(long, env = "SIM_HUAWEI_AK")]
    pub huawei_ak: Option<String>,
    /// Huawei secret key.
    #[arg(long, env = "SIM_HUAWEI_SK")]
    pub huawei_sk: Option<String>,
    /// Require this X-Security-Token on AK/SK requests.
    #[arg(long, env = "SIM_HUAWEI_SECURITY_TOKEN")]
    pub huawei_security_token: Option<String>,
    /// IAM user name.
    #[arg(long, env = "SIM_HUAWEI_USERNAME")]
    pub huawei_username: Option<String>,
    /// IAM password.
    #[arg(long, env = "SIM_HUAWEI_PASSWORD")]
    pub huawei_password: Option<String>,
    /// IAM domain name.
    #[arg(long, env = "SIM_HUAWEI_DOMAIN")]
    pub huawei_domain: Option<String>,
    /// Static X-Auth-Token to accept.
    #[arg(long, env = "SIM_HUAWEI_TOKEN")]
    pub huawei_token: Option<String>,
}

impl SimArgs {
    /// Turns the options into a [`SimConfig`].
    pub fn into_config(self) -> SimConfig {
        let mut c = SimCredentials::default();
        let set = |slot: &mut String, v: Option<String>| {
            if let Some(v) = v {
                *slot = v;
            }
        };
        set(&mut c.geelark_app_id, self.geelark_app_id);
        set(&mut c.geelark_api_key, self.geelark_api_key);
        set(&mut c.geelark_token, self.geelark_token);
        set(&mut c.huawei_project_id, self.huawei_project_id);
        set(&mut c.huawei_region, self.huawei_region);
        set(&mut c.huawei_access_key, self.huawei_ak);
        set(&mut c.huawei_secret_key, self.huawei_sk);
        set(&mut c.huawei_username, self.huawei_username);
        set(&mut c.huawei_password, self.huawei_password);
        set(&mut c.huawei_domain, self.huawei_domain);
        set(&mut c.huawei_token, self.huawei_token);
        if self.huawei_security_token.is_some() {
            c.huawei_security_token = self.huawei_security_token;
        }
        let mut config = SimConfig {
            bind: self.bind,
            geelark_port: self.geelark_port,
            huawei_port: self.huawei_port,
            geelark_phones: self.geelark_phones,
            huawei_phones: self.huawei_phones,
            latency: Duration::from_millis(self.latency_ms),
            time_scale: self.time_scale,
            seed: self.seed,
            credentials: c,
            ..SimConfig::default()
        };
        if self.no_limits {
            config = config.without_limits();
        }
        config
    }
}

/// Starts a simulator, prints its URLs and credentials to stdout, serves until Ctrl-C, then shuts
/// down gracefully. Meant for the standalone binary and for other binaries that embed it.
pub async fn serve_until_ctrl_c(config: SimConfig) -> std::io::Result<()> {
    let sim = Simulator::start(config).await?;
    println!("{}", sim.banner());
    println!(
        "\nA cloudphone.toml for these servers (cloudphone --config FILE …):\n\n{}",
        sim.client_config()
    );
    println!("Press Ctrl-C to stop.");
    tokio::signal::ctrl_c().await?;
    println!("cloudphone-sim: shutting down");
    sim.shutdown().await;
    Ok(())
}
