//! Configuration: fleet sizes, credentials, timings, rate limits and faults.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use serde::{Deserialize, Serialize};

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
    /// Seed of every random choice (ids, tokens, faults), so runs are reproducible.
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
    /// Reject GeeLark requests whose `ts` is further than this from now (default `None`: the
    /// tolerated skew is undocumented, so it is not enforced unless asked for).
    pub geelark_max_clock_skew: Option<Duration>,
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
            geelark_max_clock_skew: None,
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

    /// Sets the GeeLark rate limits.
    pub fn with_geelark_limits(mut self, limits: GeelarkLimits) -> Self {
        self.geelark_limits = limits;
        self
    }

    /// Sets the Huawei rate limits.
    pub fn with_huawei_limits(mut self, limits: HuaweiLimits) -> Self {
        self.huawei_limits = limits;
        self
    }

    /// Turns every rate limit and the AK/SK lock-out off (handy for load tests).
    pub fn without_limits(mut self) -> Self {
        self.geelark_limits = GeelarkLimits::off();
        self.huawei_limits = HuaweiLimits::off();
        self
    }
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
    #[serde(with = "crate::common::duration_ms", rename = "geelark_start_ms")]
    pub geelark_start: Duration,
    /// GeeLark stop: unchanged for this long, then 2 (default 2 s).
    #[serde(with = "crate::common::duration_ms", rename = "geelark_stop_ms")]
    pub geelark_stop: Duration,
    /// GeeLark restart: status 1 for this long, then 0 (default 4 s).
    #[serde(with = "crate::common::duration_ms", rename = "geelark_restart_ms")]
    pub geelark_restart: Duration,
    /// GeeLark one-click new machine: status 1 for this long, then 0 (default 6 s).
    #[serde(with = "crate::common::duration_ms", rename = "geelark_new_one_ms")]
    pub geelark_new_one: Duration,
    /// Huawei reset: status 3 for this long, then 2 (default 5 s).
    #[serde(with = "crate::common::duration_ms", rename = "huawei_reset_ms")]
    pub huawei_reset: Duration,
    /// Huawei restart: status 4 for this long, then 2 (default 4 s).
    #[serde(with = "crate::common::duration_ms", rename = "huawei_restart_ms")]
    pub huawei_restart: Duration,
    /// Huawei stop: status 7 for this long, then 8 (default 3 s).
    #[serde(with = "crate::common::duration_ms", rename = "huawei_stop_ms")]
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

/// GeeLark per-API rate limits. Windows are fixed (aligned to simulator start) and scaled by
/// `time_scale`: with scale 0.01 a "minute" lasts 0.6 s. Rejected calls do not count.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GeelarkLimits {
    /// Calls per minute per API path before code 40007 (default 200; `None` = off).
    pub per_minute: Option<u32>,
    /// Calls per hour per API path before code 40014 (default 24,000; `None` = off).
    pub per_hour: Option<u32>,
    /// How long an API stays locked after exceeding the hourly limit (default 2 h, scaled).
    #[serde(with = "crate::common::duration_ms", rename = "hourly_lock_ms")]
    pub hourly_lock: Duration,
}

impl Default for GeelarkLimits {
    fn default() -> Self {
        GeelarkLimits {
            per_minute: Some(200),
            per_hour: Some(24_000),
            hourly_lock: Duration::from_secs(2 * 3600),
        }
    }
}

impl GeelarkLimits {
    /// No rate limits at all.
    pub fn off() -> Self {
        GeelarkLimits {
            per_minute: None,
            per_hour: None,
            ..Self::default()
        }
    }
}

/// Huawei per-API throttling and AK/SK lock-out. Windows are scaled by `time_scale`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HuaweiLimits {
    /// Calls per second per API before 429 APIGW.0308 (default 200; `None` = off).
    pub per_second: Option<u32>,
    /// Consecutive AK/SK authentication failures that lock the access key (default 5; `None` = off).
    pub aksk_lockout_failures: Option<u32>,
    /// How long a locked access key stays locked (default 5 min, scaled).
    #[serde(with = "crate::common::duration_ms", rename = "aksk_lockout_ms")]
    pub aksk_lockout: Duration,
}

impl Default for HuaweiLimits {
    fn default() -> Self {
        HuaweiLimits {
            per_second: Some(200),
            aksk_lockout_failures: Some(5),
            aksk_lockout: Duration::from_secs(300),
        }
    }
}

impl HuaweiLimits {
    /// No throttling and no AK/SK lock-out.
    pub fn off() -> Self {
        HuaweiLimits {
            per_second: None,
            aksk_lockout_failures: None,
            ..Self::default()
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
