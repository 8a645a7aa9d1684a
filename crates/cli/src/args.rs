//! The command line: every subcommand and its options, as clap structs.
//!
//! Only parsing lives here; each command's behaviour is in [`crate::commands`].

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use cloudphone::PhoneState;

use crate::input;
use crate::output::Format;

/// Drive cloud phones from several vendors as one fleet.
#[derive(Debug, Parser)]
#[command(name = "cloudphone", version, about, long_about = None)]
pub(crate) struct Cli {
    /// The configuration file.
    #[arg(
        long,
        global = true,
        env = "CLOUDPHONE_CONFIG",
        default_value = "cloudphone.toml"
    )]
    pub(crate) config: PathBuf,
    /// Output format.
    #[arg(long, short = 'o', global = true, value_enum, default_value_t = Format::Table)]
    pub(crate) output: Format,
    /// No progress bar.
    #[arg(long, short = 'q', global = true)]
    pub(crate) quiet: bool,
    /// More logging on stderr (-v info, -vv debug); RUST_LOG overrides.
    #[arg(long, short = 'v', global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
    /// Keep no journal of the state changes sent (`resume` and the reset check then cannot
    /// help after a crash).
    #[arg(long, global = true)]
    pub(crate) no_journal: bool,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// List the configured providers and their capabilities.
    Providers,
    /// Read the state of phones.
    Status(StatusArgs),
    /// Power phones off.
    Stop(ChangeArgs),
    /// Power phones on.
    Start(StartArgs),
    /// Reboot phones.
    Restart(ChangeArgs),
    /// Reset phones to a fresh machine (wipes apps and data).
    Reset(ResetArgs),
    /// Wait until phones reach a state.
    Wait(WaitCmd),
    /// List the phones of providers.
    List(ListArgs),
    /// Look up vendor jobs (`NAME/JOB_ID`).
    Jobs(JobsArgs),
    /// The journal of state changes sent: what is unfinished after a crash.
    #[command(subcommand)]
    Journal(crate::commands::journal::JournalCmd),
    /// Wait for everything the journal says is unfinished and print how it ended (nothing is
    /// sent again).
    Resume(crate::commands::resume::ResumeArgs),
    /// Run the main job on an embedded simulator of both vendors.
    Demo(DemoArgs),
    /// The vendor simulator.
    #[command(subcommand)]
    Sim(SimCmd),
}

#[derive(Debug, Subcommand)]
pub(crate) enum SimCmd {
    /// Serve both simulated vendors until Ctrl-C.
    Serve(cloudphone_sim::SimArgs),
}

/// Which phones.
#[derive(Debug, Args, Clone)]
pub(crate) struct PhoneArgs {
    /// Phones as NAME/ID (or bare ids with --provider).
    pub(crate) phones: Vec<String>,
    /// Treat every phone as a bare id on this provider.
    #[arg(long)]
    pub(crate) provider: Option<String>,
    /// Read phones from a file (`-` for stdin), one or more per line; `#` starts a comment
    /// line. Stdin is never read unless asked for this way.
    #[arg(long)]
    pub(crate) from: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    #[command(flatten)]
    pub(crate) phones: PhoneArgs,
    /// End the whole command after this long, retries and paging included (at most 30 days).
    #[arg(long, default_value = "10m", value_parser = input::duration)]
    pub(crate) timeout: Duration,
}

#[derive(Debug, Args, Clone)]
pub(crate) struct WaitArgs {
    /// Wait until the operation completes.
    #[arg(long)]
    pub(crate) wait: bool,
    /// End the whole command after this long — the operation, its retries and throttling
    /// waits, and waiting — even without --wait (e.g. 90s, 10m; at most 30 days).
    #[arg(long, default_value = "10m", value_parser = input::duration)]
    pub(crate) timeout: Duration,
    /// Time between polls while waiting (at least 10ms).
    #[arg(long, default_value = "5s", value_parser = input::poll_interval)]
    pub(crate) poll_interval: Duration,
}

#[derive(Debug, Args)]
pub(crate) struct ChangeArgs {
    #[command(flatten)]
    pub(crate) phones: PhoneArgs,
    #[command(flatten)]
    pub(crate) wait: WaitArgs,
}

#[derive(Debug, Args)]
pub(crate) struct StartArgs {
    #[command(flatten)]
    pub(crate) phones: PhoneArgs,
    #[command(flatten)]
    pub(crate) wait: WaitArgs,
    /// A vendor-specific option, KEY=VALUE (e.g. width=300).
    #[arg(long = "extra", value_parser = input::key_value)]
    pub(crate) extras: Vec<(String, String)>,
}

#[derive(Debug, Args)]
pub(crate) struct ResetArgs {
    #[command(flatten)]
    pub(crate) phones: PhoneArgs,
    #[command(flatten)]
    pub(crate) wait: WaitArgs,
    /// Re-image with this image.
    #[arg(long)]
    pub(crate) image: Option<String>,
    /// A system property for every phone, KEY=VALUE.
    #[arg(long = "property", value_parser = input::key_value)]
    pub(crate) properties: Vec<(String, String)>,
    /// A JSON file of properties: {"key": "value", "NAME/ID": {"key": "value"}}.
    #[arg(long = "properties")]
    pub(crate) properties_file: Option<PathBuf>,
    /// A vendor-specific option, KEY=VALUE (e.g. keepRegion=true).
    #[arg(long = "extra", value_parser = input::key_value)]
    pub(crate) extras: Vec<(String, String)>,
    /// Reset even phones whose previous reset is unfinished or unknown in the journal.
    #[arg(long)]
    pub(crate) force: bool,
}

#[derive(Debug, Args)]
pub(crate) struct WaitCmd {
    #[command(flatten)]
    pub(crate) phones: PhoneArgs,
    /// The state to wait for: running, stopped, …
    #[arg(long)]
    pub(crate) until: PhoneState,
    /// Give up after this long (at most 30 days).
    #[arg(long, default_value = "10m", value_parser = input::duration)]
    pub(crate) timeout: Duration,
    /// Time between polls (at least 10ms).
    #[arg(long, default_value = "5s", value_parser = input::poll_interval)]
    pub(crate) poll_interval: Duration,
}

#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    /// Only these providers (default: all).
    #[arg(long)]
    pub(crate) provider: Vec<String>,
    /// Phones per vendor page.
    #[arg(long)]
    pub(crate) page_size: Option<usize>,
}

#[derive(Debug, Args)]
pub(crate) struct JobsArgs {
    /// Jobs as NAME/JOB_ID (or bare ids with --provider).
    pub(crate) jobs: Vec<String>,
    /// Treat every job as a bare id on this provider.
    #[arg(long)]
    pub(crate) provider: Option<String>,
    /// The request that created the jobs, where the vendor needs it.
    #[arg(long)]
    pub(crate) request_id: Option<String>,
}

/// Options of `cloudphone demo`.
#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Phones per vendor.
    #[arg(long, default_value_t = 6)]
    pub(crate) phones: usize,
    /// Simulated time per real second (smaller is faster).
    #[arg(long, default_value_t = 0.1)]
    pub(crate) time_scale: f64,
    /// Keep the demo's configuration file and print its path.
    #[arg(long)]
    pub(crate) keep_config: bool,
}
