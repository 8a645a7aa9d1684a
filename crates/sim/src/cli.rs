//! The standalone simulator's command line: generic per-vendor flags (`--port TYPE=PORT`,
//! `--phones TYPE=N`), each vendor's own flags (aliases and credentials), and the serve loop.

use std::fmt;
use std::time::Duration;

use crate::config::{unknown_vendor, SimConfig};
use crate::engine::{ConfigEdit, VendorEntry};
use crate::Simulator;

/// Command-line options of the standalone simulator; `#[command(flatten)]` it to embed.
#[derive(Clone, Debug, clap::Args)]
pub struct SimArgs {
    /// Address to bind (loopback by default).
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: std::net::IpAddr,
    /// One vendor's port as TYPE=PORT, e.g. huawei-cph=8082 (0 = ephemeral; repeatable).
    #[arg(long = "port", value_name = "TYPE=PORT", value_parser = per_vendor::<u16>)]
    pub ports: Vec<(String, u16)>,
    /// One vendor's seeded fleet size as TYPE=N, e.g. geelark=100 (repeatable).
    #[arg(long = "phones", value_name = "TYPE=N", value_parser = per_vendor::<usize>)]
    pub phones: Vec<(String, usize)>,
    /// Latency added to every vendor call, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Multiplier of every simulated duration (0.01 = a hundred times faster).
    #[arg(long, default_value_t = 1.0)]
    pub time_scale: f64,
    /// Random seed: the same seed gives the same phone ids, job ids and tokens on every start.
    #[arg(long, default_value_t = 0x5eed)]
    pub seed: u64,
    /// Fresh ids on every start: seed from the operating system (overrides --seed; the seed
    /// drawn is printed, so the run can be replayed).
    #[arg(long)]
    pub random_ids: bool,
    /// Serve every vendor over HTTPS with a generated certificate; the CA is written to a file
    /// (printed) that the printed client configuration names in `ca_file`.
    #[arg(long)]
    pub tls: bool,
    /// Where --tls writes the CA certificate (PEM; implies --tls).
    #[arg(long, value_name = "FILE")]
    pub tls_ca_file: Option<std::path::PathBuf>,
    /// Keep the fleet (phones, jobs) in this JSON file: loaded at start when it exists, saved
    /// every 5 s when it changed and on shutdown.
    #[arg(long, value_name = "FILE")]
    pub state: Option<std::path::PathBuf>,
    /// Disable every vendor's rate limits and lock-outs.
    #[arg(long)]
    pub no_limits: bool,
    /// Each vendor's own flags.
    #[command(flatten)]
    pub vendors: VendorFlags,
}

/// Parses `TYPE=VALUE` for a registered vendor type.
fn per_vendor<T>(s: &str) -> Result<(String, T), String>
where
    T: std::str::FromStr,
    T::Err: fmt::Display,
{
    let (vendor, value) = s
        .split_once('=')
        .ok_or_else(|| format!("expected TYPE=VALUE, got `{s}`"))?;
    if VendorEntry::find(vendor).is_none() {
        return Err(unknown_vendor(vendor));
    }
    let value = value.parse().map_err(|e| format!("`{value}`: {e}"))?;
    Ok((vendor.to_string(), value))
}

/// The flags every registered vendor adds (its aliases of `--port`/`--phones` and its
/// credentials), as changes to a configuration.
#[derive(Clone, Default)]
pub struct VendorFlags {
    edits: Vec<ConfigEdit>,
}

impl fmt::Debug for VendorFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VendorFlags")
            .field("vendors", &self.edits.len())
            .finish()
    }
}

impl clap::FromArgMatches for VendorFlags {
    fn from_arg_matches(matches: &clap::ArgMatches) -> Result<Self, clap::Error> {
        let edits = crate::vendors::registry()
            .iter()
            .map(|v| (v.read_flags)(matches))
            .collect::<Result<_, _>>()?;
        Ok(VendorFlags { edits })
    }

    fn update_from_arg_matches(&mut self, matches: &clap::ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

impl clap::Args for VendorFlags {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        crate::vendors::registry()
            .iter()
            .fold(cmd, |cmd, v| (v.augment_flags)(cmd))
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

impl SimArgs {
    /// Turns the options into a [`SimConfig`]: every vendor on its default port, then each
    /// vendor's own flags, then the generic `--port`/`--phones` (which win).
    pub fn into_config(self) -> SimConfig {
        let mut config = SimConfig {
            bind: self.bind,
            latency: Duration::from_millis(self.latency_ms),
            time_scale: self.time_scale,
            seed: self.seed,
            ..SimConfig::default()
        };
        for vendor in crate::vendors::registry() {
            config = config.with_vendor_port(vendor.type_name, vendor.default_port);
        }
        for edit in &self.vendors.edits {
            edit(&mut config);
        }
        for (vendor, port) in &self.ports {
            config = config.with_vendor_port(vendor, *port);
        }
        for (vendor, phones) in &self.phones {
            config = config.with_vendor_phones(vendor, *phones);
        }
        if self.no_limits {
            config = config.without_limits();
        }
        if let Some(path) = self.state {
            config = config.with_state_file(path);
        }
        if self.tls {
            config = config.with_tls();
        }
        if let Some(path) = self.tls_ca_file {
            config = config.with_tls_ca_file(path);
        }
        if self.random_ids {
            config = config.with_random_seed();
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
