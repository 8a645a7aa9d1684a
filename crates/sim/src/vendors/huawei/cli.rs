//! Huawei's command-line flags: aliases of the generic `--port`/`--phones`, and credentials.

use crate::config::SimConfig;
use crate::engine::set_some;

/// Huawei's command-line flags (aliases of the generic `--port`/`--phones`, and credentials).
#[derive(Clone, Debug, clap::Args)]
#[command(next_help_heading = "Huawei CPH")]
#[group(id = "huawei-cph-flags")]
pub struct Flags {
    /// Huawei CPH + IAM port (0 = ephemeral; default 7002); same as --port huawei-cph=PORT.
    #[arg(long)]
    huawei_port: Option<u16>,
    /// Seeded Huawei fleet size (default 20); same as --phones huawei-cph=N.
    #[arg(long)]
    huawei_phones: Option<usize>,
    /// Huawei project id.
    #[arg(long, env = "SIM_HUAWEI_PROJECT_ID")]
    huawei_project_id: Option<String>,
    /// Huawei region (IAM project name).
    #[arg(long, env = "SIM_HUAWEI_REGION")]
    huawei_region: Option<String>,
    /// Huawei access key.
    #[arg(long, env = "SIM_HUAWEI_AK")]
    huawei_ak: Option<String>,
    /// Huawei secret key.
    #[arg(long, env = "SIM_HUAWEI_SK")]
    huawei_sk: Option<String>,
    /// Require this X-Security-Token on AK/SK requests.
    #[arg(long, env = "SIM_HUAWEI_SECURITY_TOKEN")]
    huawei_security_token: Option<String>,
    /// IAM user name.
    #[arg(long, env = "SIM_HUAWEI_USERNAME")]
    huawei_username: Option<String>,
    /// IAM password.
    #[arg(long, env = "SIM_HUAWEI_PASSWORD")]
    huawei_password: Option<String>,
    /// IAM domain name.
    #[arg(long, env = "SIM_HUAWEI_DOMAIN")]
    huawei_domain: Option<String>,
    /// Static X-Auth-Token to accept.
    #[arg(long, env = "SIM_HUAWEI_TOKEN")]
    huawei_token: Option<String>,
}

/// Applies the flags to a configuration.
pub(crate) fn apply(flags: Flags, config: &mut SimConfig) {
    set_some(&mut config.huawei_port, flags.huawei_port);
    set_some(&mut config.huawei_phones, flags.huawei_phones);
    let c = &mut config.credentials;
    set_some(&mut c.huawei_project_id, flags.huawei_project_id);
    set_some(&mut c.huawei_region, flags.huawei_region);
    set_some(&mut c.huawei_access_key, flags.huawei_ak);
    set_some(&mut c.huawei_secret_key, flags.huawei_sk);
    set_some(&mut c.huawei_username, flags.huawei_username);
    set_some(&mut c.huawei_password, flags.huawei_password);
    set_some(&mut c.huawei_domain, flags.huawei_domain);
    set_some(&mut c.huawei_token, flags.huawei_token);
    if flags.huawei_security_token.is_some() {
        c.huawei_security_token = flags.huawei_security_token;
    }
}
