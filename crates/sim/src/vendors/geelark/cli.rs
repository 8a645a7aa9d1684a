//! GeeLark's command-line flags: aliases of the generic `--port`/`--phones`, and credentials.

use crate::config::SimConfig;
use crate::engine::set_some;

/// GeeLark's command-line flags (aliases of the generic `--port`/`--phones`, and credentials).
#[derive(Clone, Debug, clap::Args)]
#[command(next_help_heading = "GeeLark")]
#[group(id = "geelark-flags")]
pub struct Flags {
    /// GeeLark port (0 = ephemeral; default 7001); same as --port geelark=PORT.
    #[arg(long)]
    geelark_port: Option<u16>,
    /// Seeded GeeLark fleet size (default 20); same as --phones geelark=N.
    #[arg(long)]
    geelark_phones: Option<usize>,
    /// GeeLark appId to accept.
    #[arg(long, env = "SIM_GEELARK_APP_ID")]
    geelark_app_id: Option<String>,
    /// GeeLark apiKey to accept.
    #[arg(long, env = "SIM_GEELARK_API_KEY")]
    geelark_api_key: Option<String>,
    /// GeeLark bearer token to accept.
    #[arg(long, env = "SIM_GEELARK_TOKEN")]
    geelark_token: Option<String>,
    /// Refuse a key-verified request whose `ts` is more than this many seconds off the
    /// simulator's clock (default 300; 0 = no check). GeeLark answers 40003.
    #[arg(long, value_name = "SECS")]
    geelark_max_skew_secs: Option<u64>,
}

/// Applies the flags to a configuration.
pub(crate) fn apply(flags: Flags, config: &mut SimConfig) {
    set_some(&mut config.geelark_port, flags.geelark_port);
    set_some(&mut config.geelark_phones, flags.geelark_phones);
    if let Some(secs) = flags.geelark_max_skew_secs {
        config.geelark_max_clock_skew = (secs > 0).then(|| std::time::Duration::from_secs(secs));
    }
    let c = &mut config.credentials;
    set_some(&mut c.geelark_app_id, flags.geelark_app_id);
    set_some(&mut c.geelark_api_key, flags.geelark_api_key);
    set_some(&mut c.geelark_token, flags.geelark_token);
}
