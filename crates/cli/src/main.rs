//! `cloudphone`: drive cloud phone fleets from several vendors from the shell.
//!
//! See `cloudphone --help`; the README has a walk-through. The layout:
//!
//! * [`args`]: the command line (clap structs), nothing else;
//! * [`commands`]: one module per command, and the phases they share;
//! * [`exit`]: the error commands return and the exit codes;
//! * [`follow`]: following a batch chunk by chunk, signals; [`input`]: phone lists, files and
//!   option values; [`output`]: tables, JSON and ndjson.

mod args;
mod commands;
mod exit;
mod follow;
mod input;
mod output;

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use cloudphone::{Config, Fleet};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use args::{Cli, Command, SimCmd};
use exit::{Exit, Failure, UsageError};
use output::Format;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(Exit::Vendor.code());
        }
    };
    let code = match rt.block_on(run(cli)) {
        Ok(code) => code,
        // Messages may quote vendor text and user input: escaped for the terminal.
        Err(Failure::Usage(msg)) => {
            eprintln!("error: {}", output::escape(&msg));
            Exit::Usage
        }
        Err(Failure::Output(msg)) => {
            eprintln!("error: cannot write output: {}", output::escape(&msg));
            Exit::Output
        }
    };
    ExitCode::from(code.code())
}

fn init_logging(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let filter = match std::env::var("RUST_LOG") {
        Ok(v) if !v.is_empty() => EnvFilter::new(v),
        _ => EnvFilter::new(match verbose {
            0 => "warn",
            1 => "info",
            _ => "debug",
        }),
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// Runs the command: those that need no configuration first, then the fleet's.
async fn run(cli: Cli) -> Result<Exit, UsageError> {
    use commands::{jobs, list, providers, status_change, wait};
    let ctx = Ctx {
        format: cli.output,
        quiet: cli.quiet,
    };
    match cli.command {
        Command::Demo(args) => return commands::demo::run(&ctx, args).await,
        Command::Sim(SimCmd::Serve(args)) => {
            cloudphone_sim::serve_until_ctrl_c(args.into_config())
                .await
                .map_err(|e| UsageError(format!("simulator: {e}")))?;
            return Ok(Exit::Ok);
        }
        _ => {}
    }
    let config = Config::from_path(&cli.config).map_err(|e| UsageError(e.to_string()))?;
    // A shared rate-limit store that cannot be reached stops the command here, before any call.
    if !matches!(cli.command, Command::Providers | Command::Journal(_)) {
        config
            .check_rate_limit_stores()
            .await
            .map_err(|e| UsageError(e.message().to_owned()))?;
    }
    let mut fleet = Fleet::from_config(&config).map_err(|e| UsageError(e.to_string()))?;
    // Only commands that change phones (or read the journal) open it.
    let journaled = matches!(
        cli.command,
        Command::Stop(_)
            | Command::Start(_)
            | Command::Restart(_)
            | Command::Reset(_)
            | Command::Resume(_)
            | Command::Journal(_)
    );
    if journaled {
        if let Some(journal) = commands::journal::open(&config, cli.no_journal)? {
            fleet = fleet.with_journal(journal);
        }
    }
    match cli.command {
        Command::Providers => providers::run(&ctx, &fleet),
        Command::Status(a) => status_change::status(&ctx, &fleet, a).await,
        Command::Stop(a) => status_change::stop(&ctx, &fleet, a).await,
        Command::Start(a) => status_change::start(&ctx, &fleet, a).await,
        Command::Restart(a) => status_change::restart(&ctx, &fleet, a).await,
        Command::Reset(a) => status_change::reset(&ctx, &fleet, a).await,
        Command::Wait(a) => wait::run(&ctx, &fleet, a).await,
        Command::List(a) => list::run(&ctx, &fleet, &a).await,
        Command::Jobs(a) => jobs::run(&ctx, &fleet, &a).await,
        Command::Journal(commands::journal::JournalCmd::List(a)) => {
            commands::journal::list(&ctx, fleet.journal(), &a)
        }
        Command::Resume(a) => commands::resume::run(&ctx, &fleet, a).await,
        Command::Demo(_) | Command::Sim(_) => unreachable!("handled above"),
    }
}

/// Settings every command shares.
pub(crate) struct Ctx {
    format: Format,
    quiet: bool,
}

impl Ctx {
    fn progress(&self, len: u64, what: &str) -> ProgressBar {
        if self.quiet || !std::io::stderr().is_terminal() {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {pos}/{len} {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_message(what.to_owned());
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    }
}
