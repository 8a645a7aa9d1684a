//! A stateful simulator of the GeeLark, Huawei Cloud CPH and Alibaba Cloud Cloud Phone (eds-aic)
//! cloud-phone HTTP APIs.
//!
//! It is an independent implementation of the vendors' wire formats (it shares no code with the
//! client crates), used embedded in tests, demos and benchmarks, and standalone as the
//! `cloudphone-sim` binary. One loopback listener per vendor serves:
//!
//! * **GeeLark** — `POST /open/v1/phone/{status,stop,start,restart,list}`, `POST /open/v2/phone/newOne`,
//!   `POST /open/v1/auth/status`; key-verification (`appId`/`traceId`/`ts`/`nonce`/`sign`) or bearer
//!   auth; the `{"traceId","code","msg","data"}` envelope; per-API rate limits (40007 / 40014);
//!   a `ts` more than 5 minutes off the wall clock (configurable:
//!   [`SimConfig::geelark_max_clock_skew`], `--geelark-max-skew-secs`) is refused with 40003.
//! * **Huawei** — IAM `POST /v3/auth/tokens` and CPH `/v1/{project_id}/cloud-phone/...`
//!   (`phones/batch-reset`, `phones/batch-restart`, `phones/batch-stop`, `phones`, `phones/{id}`,
//!   `jobs`, `jobs/{id}`); `X-Auth-Token` or AK/SK `SDK-HMAC-SHA256` auth; asynchronous jobs;
//!   per-API throttling (429 APIGW.0308).
//! * **Alibaba** — eds-aic 2023-09-30 RPC calls (`POST /`, the action in `x-acs-action`):
//!   `DescribeAndroidInstances`, `StartAndroidInstance`, `StopAndroidInstance`,
//!   `RebootAndroidInstancesInGroup`, `ResetAndroidInstancesInGroup`, `UpdateInstanceImage`,
//!   `DescribeTasks`; `ACS3-HMAC-SHA256` verified by its own verifier ([`alibaba::sign`]: date
//!   window, nonce replay, STS tokens); the 15 string states; tasks of `Level` 1 and 2 with
//!   `InvokeId`; `NextToken` paging; per-action throttling (`Throttling.User`). See the
//!   [`alibaba`] module for what a client should know.
//!
//! Phone transitions are computed lazily from timestamps, so a 100,000-phone fleet costs a few
//! tens of megabytes and no timers. Every simulated duration is multiplied by
//! [`SimConfig::time_scale`]. All randomness (ids, tokens, faults) comes from
//! [`SimConfig::seed`]: **ids repeat across restarts with the same seed** (the default seed is
//! fixed), which tests want and long-lived stands may not: `--random-ids`
//! ([`SimConfig::with_random_seed`]) draws the seed from the OS (printed in the banner, so a run
//! can be replayed), and `--state FILE` keeps the fleet itself across restarts.
//!
//! Each listener also serves a JSON admin API under `/_sim/` (see [`GeelarkControl`] and
//! [`HuaweiControl`] for the same operations in-process, typed, and [`Simulator::vendors`] for
//! them type-erased, so that callers can loop over the vendors without naming them).
//!
//! # Shape
//!
//! * `engine` — the generic core, written once: the per-vendor state holder [`VendorSim`]
//!   (phones, faults, limits, call log, settings; `GeelarkControl` and `HuaweiControl` are
//!   `VendorSim<Geelark>` and `VendorSim<Huawei>`), the request life cycle (body cap, call log,
//!   latency, rate limit, fault plan), the admin routes, the type-erased [`VendorControl`], the
//!   banner and provider-table writers, and the registry entry that starts a vendor and reads its
//!   configuration and flags.
//! * `vendors/<name>/` — what is a vendor's own, behind the `SimVendor` trait: `model` (phones
//!   and state), `auth`, `routes` (its API), `admin` (its extra admin routes and controls),
//!   `cli` (its command-line flags).
//! * [`Simulator`] starts every registered vendor; [`Simulator::client_config`] concatenates
//!   each vendor's own `[providers.NAME]` table; [`Simulator::banner`] each vendor's lines.
//!
//! # Adding a vendor to the simulator
//!
//! Write one folder module, `src/vendors/<name>/`, split as the others are (`mod.rs`,
//! `model.rs`, `auth.rs`, `routes.rs`, and `admin.rs` / `cli.rs` if it has admin routes or flags
//! of its own), around a unit type implementing `SimVendor`: its `TYPE` (the client
//! configuration's `type`), label, provider name, default port and auth modes; its own phone data
//! (`SimPhone`; the core keeps ids, statuses, transitions and applied counters), limits
//! (`VendorLimits`), model and settings; `seed` and `insert`; `route` (the endpoint key of a
//! request); `serve` (its auth check, then `VendorSim::guarded` with its `FaultAnswers`, then its
//! handlers); and `banner` and `provider_table`. Then add one line to the registry in
//! `src/vendors/mod.rs`. Everything else comes with it: its listener, the admin API, its place in
//! [`Simulator::vendors`], the banner and [`Simulator::client_config`], its port, fleet size,
//! faults and limits by type name ([`SimConfig::with_vendor_phones`] and the other
//! `with_vendor_*` builders, `--port TYPE=PORT`, `--phones TYPE=N`). A new vendor needs no field
//! in [`SimConfig`]: its port, fleet, faults and limits live in a per-vendor section, and so do
//! its settings ([`SimConfig::with_vendor_setting`], read by its `build` over its defaults, e.g.
//! its demo credentials; its `Flags` write them there too). Typed accessors such as
//! `Simulator::geelark()` are optional sugar written in the vendor's own module.
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
//! * Huawei per-phone batch errors (HTTP 200): CPS.0004 "Parameter: phone_id is invalid." for a
//!   malformed id (not 32 lowercase hex) and for a well-formed unknown one (as the seed page's
//!   example answers it), CPS.0022 phone busy or in a state that refuses the operation (creating,
//!   resetting, restarting, stopping, frozen). Request errors (HTTP 400): CPS.0009 empty list,
//!   CPS.0029/0030 empty/malformed `image_id`, CPS.0002 bad offset/limit, CPS.0010 bad status
//!   filter, and `CPS.0101` (a code of the simulator's choosing) for a malformed body or a
//!   non-string or non-JSON `property`. List-jobs requires `request_id` or
//!   `request_ids` (the API reference: one of them must be given; `request_ids` wins) and takes
//!   at most 20 request ids: neither, or more than 20, is 400 CPS.0002. Unknown phone or job in a
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
//! [`SimConfig::huawei_faults`], [`SimConfig::with_vendor_faults`]), in-process (`set_faults`, also
//! on every [`VendorControl`]) or over HTTP (`PUT /_sim/faults`). Per
//! request, after authentication and rate limiting, the seeded RNG picks at most one of throttle,
//! 5xx, connection reset, hang, malformed; for the ambiguous ones it then decides with
//! `applied_ratio` (default 0.5) whether the action was carried out first. `drop_ids` and
//! `job_failure` act inside normal answers. `endpoints` restricts faults to matching endpoint
//! keys. Faults do not apply to IAM or to the admin API.
//!
//! # Admin HTTP API (every listener, JSON, no auth)
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
//! | GET | `/_sim/stats` | `{calls, cpu_ns, cpu_ns_total, process_cpu_ns, peak_rss_kib}`: calls and handler CPU time per endpoint since the last reset of the calls, the process's CPU time and peak RSS since start |
//! | POST | `/_sim/tokens` | Huawei: issue a valid token `{token}` |
//! | POST | `/_sim/tokens/expire` | Huawei: expire every issued token |
//! | GET, PUT/POST | `/_sim/tokens/ttl` `{"seconds":s}` | Huawei: token lifetime for new tokens |
//! | GET | `/_sim/jobs/{job_id}`, `/_sim/jobs?request_id=` | Huawei: job info |
//! | GET | `/_sim/tasks/{task_id}`, `/_sim/tasks?invoke_id=` | Alibaba: task info |
//!
//! # Command line
//!
//! `cloudphone-sim --port huawei-cph=8082 --phones geelark=100 ...` (or `cloudphone sim serve`):
//! `--port TYPE=PORT` and `--phones TYPE=N` for any registered vendor (repeatable); each vendor
//! adds its own flags (`--geelark-port`, `--huawei-phones`, credentials, ...), which the generic
//! ones override. The standalone listeners default to ports 7001 (GeeLark), 7002 (Huawei) and
//! 7003 (Alibaba).
//!
//! `--state FILE` ([`SimConfig::with_state_file`]) keeps the fleet across restarts: when the
//! file exists at start, every vendor's saved phones (id, status, applied counters, own data)
//! and their jobs or tasks (Huawei jobs, Alibaba tasks; finished on load) replace the seeded
//! fleet; the simulator writes it every 5 s when it
//! changed ([`SimConfig::state_save_interval`]) and on [`Simulator::shutdown`] (Ctrl-C), each
//! time atomically. A transition in flight is saved as finished; tokens, faults, limits and call
//! logs are not kept. An unreadable file stops the start.
//!
//! `--tls` ([`SimConfig::with_tls`]) serves every listener over HTTPS: a CA generated at start
//! signs a certificate for `localhost`, `127.0.0.1`, `::1` and the bind address; the CA
//! certificate (PEM) is written to `--tls-ca-file FILE` (or a fresh file in the temporary
//! directory), the banner prints its path ([`Simulator::ca_file`]) and every provider table of
//! [`Simulator::client_config`] carries `ca_file = "<path>"`, the client key that adds it to the
//! trusted roots. Certificate verification is never turned off.
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
//!
//! // The same without naming vendors: every vendor's URL, phones and control.
//! for vendor in sim.vendors() {
//!     println!("{} at {} with {} phones", vendor.type_name(), vendor.url(), vendor.phone_count());
//!     vendor.clear_faults();
//! }
//! let toml = sim.client_config(); // [providers.gl] ... [providers.hw] ...
//! # let _ = toml;
//! sim.shutdown().await;
//! # Ok(())
//! # }
//! ```

// Handlers return early with ready-made HTTP responses as their error type; boxing them would
// only add noise on a cold path.
#![allow(clippy::result_large_err)]

mod cli;
mod config;
mod engine;
pub mod sign;
mod state;
mod tls;
mod vendors;

use std::any::Any;
use std::io;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use cli::{serve_until_ctrl_c, SimArgs, VendorFlags};
pub use config::{Faults, SimConfig, SimCredentials, Timings, GEELARK_MAX_CLOCK_SKEW};
pub use engine::process_cpu_time;
pub use engine::{
    CallRecord, CallStats, EndpointRates, RateStats, TableOptions, VendorControl, VendorHandle,
    VendorSim,
};
pub use vendors::alibaba::{
    self, AlibabaApplied, AlibabaControl, AlibabaLimits, AlibabaPhoneInfo, AlibabaTaskInfo,
};
pub use vendors::geelark::{
    self, GeelarkApplied, GeelarkControl, GeelarkFlags, GeelarkLimits, GeelarkPhoneInfo,
};
pub use vendors::huawei::{
    self, HuaweiApplied, HuaweiControl, HuaweiJobInfo, HuaweiLimits, HuaweiPhoneInfo,
};

use engine::{Clock, Launch, SimVendor};

/// A running simulator: one listener per registered vendor and their state. Dropping it stops
/// the listeners; prefer [`Simulator::shutdown`], which also waits for them to end.
pub struct Simulator {
    vendors: Vec<VendorHandle>,
    typed: Vec<Box<dyn Any + Send + Sync>>,
    credentials: SimCredentials,
    seed: u64,
    ca_file: Option<std::path::PathBuf>,
    state_file: Option<std::path::PathBuf>,
    shutdown_tx: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("Simulator");
        for v in &self.vendors {
            d.field(v.type_name(), &v.addr());
        }
        d.finish_non_exhaustive()
    }
}

impl Simulator {
    /// Binds one listener per registered vendor, seeds the fleets and serves in background tokio
    /// tasks. Fails if a listener cannot bind, or if the configuration names a vendor that is
    /// not registered or limits a vendor cannot read.
    pub async fn start(mut config: SimConfig) -> io::Result<Simulator> {
        config.check_vendors()?;
        let registry = vendors::registry();
        let mut listeners = Vec::with_capacity(registry.len());
        for vendor in registry {
            let port = *(vendor.slots)(&mut config).port;
            listeners.push(TcpListener::bind((config.bind, port)).await?);
        }
        let tls = if config.tls {
            Some(tls::generate(config.bind, config.tls_ca_file.as_deref())?)
        } else {
            None
        };
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let clock = Clock::new(config.time_scale);
        let mut sim = Simulator {
            vendors: Vec::with_capacity(registry.len()),
            typed: Vec::with_capacity(registry.len()),
            credentials: config.credentials.clone(),
            seed: config.seed,
            ca_file: tls.as_ref().map(|t| t.ca_file.clone()),
            state_file: config.state_file.clone(),
            shutdown_tx,
            tasks: Vec::with_capacity(registry.len()),
        };
        for (vendor, listener) in registry.iter().zip(listeners) {
            let launch = Launch {
                addr: listener.local_addr()?,
                ca_file: tls.as_ref().map(|t| t.ca_file.clone()),
                clock,
                shutdown: shutdown_rx.clone(),
            };
            let launched = (vendor.launch)(&mut config, launch)?;
            sim.tasks.push(spawn_server(
                listener,
                launched.router,
                tls.as_ref().map(|t| t.acceptor.clone()),
                shutdown_rx.clone(),
            ));
            sim.vendors.push(launched.handle);
            sim.typed.push(launched.typed);
        }
        if let Some(path) = config.state_file.clone() {
            state::load(&path, &sim.vendors)?;
            sim.tasks.push(state::spawn_saver(
                path,
                sim.vendors.clone(),
                config.state_save_interval,
                shutdown_rx.clone(),
            ));
        }
        Ok(sim)
    }

    /// Every simulated vendor, in registration order: its type name, URL, phones and a generic
    /// control (faults, limits as JSON, calls, applied counters, raw status, provider table).
    pub fn vendors(&self) -> &[VendorHandle] {
        &self.vendors
    }

    /// The simulated vendor whose provider `type` is `type_name` (e.g. `"huawei-cph"`).
    pub fn vendor(&self, type_name: &str) -> Option<&VendorHandle> {
        self.vendors.iter().find(|v| v.type_name() == type_name)
    }

    /// The typed control of vendor `V` (every registered vendor runs).
    pub(crate) fn control<V: SimVendor>(&self) -> VendorSim<V> {
        self.typed
            .iter()
            .find_map(|t| t.downcast_ref::<VendorSim<V>>())
            .cloned()
            .expect("every registered vendor runs")
    }

    /// The seed of this run's random choices ([`SimConfig::seed`]; drawn at random with
    /// [`SimConfig::with_random_seed`]): starting again with it gives the same ids.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The CA certificate (PEM) of a TLS simulator ([`SimConfig::tls`]): add it to a client's
    /// trusted roots (`ca_file` in its provider table). `None` over plain HTTP.
    pub fn ca_file(&self) -> Option<&std::path::Path> {
        self.ca_file.as_deref()
    }

    /// The credentials the simulator accepts.
    pub fn credentials(&self) -> &SimCredentials {
        &self.credentials
    }

    /// A human-readable summary of URLs and credentials (secrets included: a local test tool),
    /// each vendor's lines written by that vendor.
    pub fn banner(&self) -> String {
        let mut out = String::from(
            "cloudphone-sim — local test simulator; the credentials below are fake and printed on purpose\n",
        );
        for v in &self.vendors {
            out.push_str(&v.banner());
        }
        if let Some(ca) = &self.ca_file {
            out.push_str(&format!(
                "TLS: every listener serves HTTPS; CA certificate: {} (ca_file in each provider table)\n",
                ca.display()
            ));
        }
        let example = self.vendors.first().map(|v| v.url()).unwrap_or_default();
        out.push_str(&format!(
            "Admin API under /_sim/ on every listener (e.g. GET {example}/_sim/calls)\n"
        ));
        let fleet: Vec<String> = self
            .vendors
            .iter()
            .map(|v| format!("{} {} phones", v.phone_count(), v.label()))
            .collect();
        let listeners: Vec<String> = self
            .vendors
            .iter()
            .map(|v| format!("{}={}", v.type_name(), v.url()))
            .collect();
        out.push_str(&format!(
            "Fleet: {}\nSeed: {} (the same --seed gives the same ids; --random-ids for fresh ones)\nListeners: {}",
            fleet.join(", "),
            self.seed,
            listeners.join(" ")
        ));
        out
    }

    /// A `cloudphone.toml` for the `cloudphone` command and library that points at this
    /// simulator: each vendor's own `[providers.NAME]` table in its default auth mode (GeeLark
    /// key auth, Huawei AK/SK). Written here, not taken from the client crates: the simulator
    /// stays independent of them.
    pub fn client_config(&self) -> String {
        self.client_config_with(&[])
            .expect("every vendor writes its default auth mode")
    }

    /// [`Simulator::client_config`] with chosen auth modes, as (vendor type, auth mode) pairs
    /// (see [`VendorControl::auth_modes`]); vendors left out use their default. Fails for an
    /// unknown vendor or auth mode.
    pub fn client_config_with(&self, auth: &[(&str, &str)]) -> Result<String, String> {
        if let Some((vendor, _)) = auth.iter().find(|(t, _)| self.vendor(t).is_none()) {
            return Err(config::unknown_vendor(vendor));
        }
        let mut sections = Vec::with_capacity(self.vendors.len());
        for v in &self.vendors {
            let mut options = TableOptions::new();
            if let Some((_, mode)) = auth.iter().find(|(t, _)| *t == v.type_name()) {
                options = options.with_auth(*mode);
            }
            let table = v.provider_table(&options).ok_or_else(|| {
                format!(
                    "{} has no auth mode `{}` (modes: {})",
                    v.type_name(),
                    options.auth.as_deref().unwrap_or_default(),
                    v.auth_modes().join(", ")
                )
            })?;
            sections.push(format!("[providers.{}]\n{table}", v.provider_name()));
        }
        Ok(sections.join("\n"))
    }

    /// Stops every listener and waits until every server task has ended. Hanging responses are
    /// cut short; connections still open after a grace period are aborted.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown_tx.send(true);
        if let Some(path) = &self.state_file {
            if let Err(e) = state::save(path, &self.vendors) {
                tracing::warn!(
                    "cloudphone-sim: cannot save the state to {}: {e}",
                    path.display()
                );
            }
        }
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
    tls: Option<tokio_rustls::TlsAcceptor>,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        if let Some(acceptor) = tls {
            return tls::serve(listener, app, acceptor, shutdown).await;
        }
        let signal = async move {
            let _ = shutdown.wait_for(|v| *v).await;
        };
        // No Nagle, as on reqwest's side: an answer written in parts is never held back for
        // the peer's (delayed) ACK — a latency no vendor adds.
        let listener =
            axum::serve::ListenerExt::tap_io(listener, |tcp: &mut tokio::net::TcpStream| {
                if let Err(e) = tcp.set_nodelay(true) {
                    tracing::debug!("cloudphone-sim: TCP_NODELAY not set: {e}");
                }
            });
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(signal)
            .await
        {
            tracing::warn!("cloudphone-sim listener ended with an error: {e}");
        }
    })
}
