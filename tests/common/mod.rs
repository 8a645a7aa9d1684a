//! Helpers shared by the fault and security suites: providers built through the configuration
//! path, the completeness check, and an observing proxy that counts the faults the simulator
//! injected.

// Each test binary compiles this module on its own and uses only part of it.
#![allow(dead_code)]

pub mod proxy;

use std::collections::HashSet;
use std::sync::Arc;

use cloudphone::{BatchReport, CloudPhoneProvider, Config, PhoneId};
use cloudphone_sim::SimCredentials;

/// A vendor and the way it authenticates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// GeeLark, key verification (app id + api key signature).
    GeelarkKey,
    /// GeeLark, bearer token.
    GeelarkToken,
    /// Huawei, a given static `X-Auth-Token`.
    HuaweiToken,
    /// Huawei, IAM password login.
    HuaweiIam,
    /// Huawei, AK/SK signing.
    HuaweiAkSk,
}

impl Mode {
    pub const ALL: [Mode; 5] = [
        Mode::GeelarkKey,
        Mode::GeelarkToken,
        Mode::HuaweiToken,
        Mode::HuaweiIam,
        Mode::HuaweiAkSk,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Mode::GeelarkKey => "geelark-key",
            Mode::GeelarkToken => "geelark-token",
            Mode::HuaweiToken => "huawei-token",
            Mode::HuaweiIam => "huawei-iam",
            Mode::HuaweiAkSk => "huawei-aksk",
        }
    }

    pub fn is_geelark(self) -> bool {
        matches!(self, Mode::GeelarkKey | Mode::GeelarkToken)
    }
}

/// Where a provider sends its requests (the simulator itself or a proxy in front of it).
#[derive(Clone, Debug)]
pub struct Target {
    pub geelark_url: String,
    pub huawei_url: String,
}

/// A TOML provider table for `mode`, with `extra` lines appended (tuning keys).
/// `wrong_secret` replaces the mode's secret with that value.
pub fn provider_table(
    mode: Mode,
    target: &Target,
    c: &SimCredentials,
    extra: &str,
    wrong_secret: Option<&str>,
) -> String {
    let secret = |s: &str| wrong_secret.unwrap_or(s).to_owned();
    let hw = format!(
        "type = \"huawei-cph\"\nregion = \"{}\"\nproject_id = \"{}\"\nendpoint = \"{}\"\niam_endpoint = \"{}\"",
        c.huawei_region, c.huawei_project_id, target.huawei_url, target.huawei_url
    );
    let creds = match mode {
        Mode::GeelarkKey => format!(
            "type = \"geelark\"\nbase_url = \"{}\"\napp_id = \"{}\"\napi_key = \"{}\"",
            target.geelark_url,
            c.geelark_app_id,
            secret(&c.geelark_api_key)
        ),
        Mode::GeelarkToken => format!(
            "type = \"geelark\"\nbase_url = \"{}\"\ntoken = \"{}\"",
            target.geelark_url,
            secret(&c.geelark_token)
        ),
        Mode::HuaweiToken => format!("{hw}\ntoken = \"{}\"", secret(&c.huawei_token)),
        Mode::HuaweiIam => format!(
            "{hw}\nusername = \"{}\"\npassword = \"{}\"\ndomain = \"{}\"",
            c.huawei_username,
            secret(&c.huawei_password),
            c.huawei_domain
        ),
        Mode::HuaweiAkSk => {
            let mut t = format!(
                "{hw}\naccess_key = \"{}\"\nsecret_key = \"{}\"",
                c.huawei_access_key,
                secret(&c.huawei_secret_key)
            );
            if let Some(st) = &c.huawei_security_token {
                t.push_str(&format!("\nsecurity_token = \"{st}\""));
            }
            t
        }
    };
    format!("{creds}\n{extra}\n")
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
    let common = format!(
        "timeout_secs = {timeout_secs}\nconnect_timeout_secs = {timeout_secs}\nmax_retries = 6\n\
         retry_min_delay_ms = 5\nretry_max_delay_ms = 40\nconcurrency = {concurrency}\n\
         batch_size = {batch}"
    );
    if mode.is_geelark() {
        format!(
            "{common}\nstatus_batch_size = {batch}\nrate_limit_per_minute = 0\nrate_limit_per_hour = 0"
        )
    } else {
        format!("{common}\nrate_limit_per_second = 0")
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
