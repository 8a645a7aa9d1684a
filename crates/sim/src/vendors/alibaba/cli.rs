//! eds-aic's command-line flags: aliases of the generic `--port`/`--phones`, and credentials.

use crate::config::SimConfig;

/// eds-aic's command-line flags.
#[derive(Clone, Debug, clap::Args)]
#[command(next_help_heading = "Alibaba eds-aic")]
#[group(id = "alibaba-flags")]
pub struct Flags {
    /// Alibaba eds-aic port (0 = ephemeral; default 7003); same as --port alibaba=PORT.
    #[arg(long)]
    alibaba_port: Option<u16>,
    /// Seeded Alibaba fleet size (default 20); same as --phones alibaba=N.
    #[arg(long)]
    alibaba_phones: Option<usize>,
    /// Alibaba AccessKey id.
    #[arg(long, env = "SIM_ALIBABA_AK")]
    alibaba_ak: Option<String>,
    /// Alibaba AccessKey secret.
    #[arg(long, env = "SIM_ALIBABA_SK")]
    alibaba_sk: Option<String>,
    /// Alibaba STS security token (accepted with the STS AccessKey).
    #[arg(long, env = "SIM_ALIBABA_STS_TOKEN")]
    alibaba_security_token: Option<String>,
}

/// Applies the flags to a configuration.
pub(crate) fn apply(flags: Flags, config: &mut SimConfig) {
    const TYPE: &str = "alibaba";
    let mut c = std::mem::take(config);
    if let Some(p) = flags.alibaba_port {
        c = c.with_vendor_port(TYPE, p);
    }
    if let Some(n) = flags.alibaba_phones {
        c = c.with_vendor_phones(TYPE, n);
    }
    for (key, value) in [
        ("access_key", flags.alibaba_ak),
        ("secret_key", flags.alibaba_sk),
        ("security_token", flags.alibaba_security_token),
    ] {
        if let Some(v) = value {
            c = c.with_vendor_setting(TYPE, key, v);
        }
    }
    *config = c;
}
