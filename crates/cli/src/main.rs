//! `cloudphone`: drive cloud phone fleets from several vendors from the shell.
//!
//! See `cloudphone --help`; the README has a walk-through.

mod bench;
mod demo;
mod input;
mod output;

use std::collections::{BTreeMap, HashSet};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use cloudphone::{
    Config, ErrorKind, Fleet, FleetReport, JobRef, Operation, PhoneRef, PhoneState, ResetOptions,
    StartOptions, WaitOptions,
};
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;

use output::Format;

/// Drive cloud phones from several vendors as one fleet.
#[derive(Debug, Parser)]
#[command(name = "cloudphone", version, about, long_about = None)]
struct Cli {
    /// The configuration file.
    #[arg(
        long,
        global = true,
        env = "CLOUDPHONE_CONFIG",
        default_value = "cloudphone.toml"
    )]
    config: PathBuf,
    /// Output format.
    #[arg(long, short = 'o', global = true, value_enum, default_value_t = Format::Table)]
    output: Format,
    /// No progress bar.
    #[arg(long, short = 'q', global = true)]
    quiet: bool,
    /// More logging on stderr (-v info, -vv debug); RUST_LOG overrides.
    #[arg(long, short = 'v', global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List the configured providers and their capabilities.
    Providers,
    /// Read the state of phones.
    Status(PhoneArgs),
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
    /// Run the main job on an embedded simulator of both vendors.
    Demo(demo::DemoArgs),
    /// Measure the clients at fleet scale on the simulator (writes bench-results.{md,json}).
    Bench(bench::BenchArgs),
    /// The vendor simulator.
    #[command(subcommand)]
    Sim(SimCmd),
}

#[derive(Debug, Subcommand)]
enum SimCmd {
    /// Serve both simulated vendors until Ctrl-C.
    Serve(cloudphone_sim::SimArgs),
}

/// Which phones.
#[derive(Debug, Args, Clone)]
pub(crate) struct PhoneArgs {
    /// Phones as NAME/ID (or bare ids with --provider).
    phones: Vec<String>,
    /// Treat every phone as a bare id on this provider.
    #[arg(long)]
    provider: Option<String>,
    /// Read phones from a file (`-` for stdin), one or more per line; `#` starts a comment
    /// line. Stdin is never read unless asked for this way.
    #[arg(long)]
    from: Option<PathBuf>,
}

#[derive(Debug, Args, Clone)]
struct WaitArgs {
    /// Wait until the operation completes.
    #[arg(long)]
    wait: bool,
    /// Give up waiting after this long (e.g. 90s, 10m; at most 30 days).
    #[arg(long, default_value = "10m", value_parser = input::duration)]
    timeout: Duration,
    /// Time between polls while waiting (at least 10ms).
    #[arg(long, default_value = "5s", value_parser = input::poll_interval)]
    poll_interval: Duration,
}

#[derive(Debug, Args)]
struct ChangeArgs {
    #[command(flatten)]
    phones: PhoneArgs,
    #[command(flatten)]
    wait: WaitArgs,
}

#[derive(Debug, Args)]
struct StartArgs {
    #[command(flatten)]
    phones: PhoneArgs,
    #[command(flatten)]
    wait: WaitArgs,
    /// A vendor-specific option, KEY=VALUE (e.g. width=300).
    #[arg(long = "extra", value_parser = input::key_value)]
    extras: Vec<(String, String)>,
}

#[derive(Debug, Args)]
struct ResetArgs {
    #[command(flatten)]
    phones: PhoneArgs,
    #[command(flatten)]
    wait: WaitArgs,
    /// Re-image with this image.
    #[arg(long)]
    image: Option<String>,
    /// A system property for every phone, KEY=VALUE.
    #[arg(long = "property", value_parser = input::key_value)]
    properties: Vec<(String, String)>,
    /// A JSON file of properties: {"key": "value", "NAME/ID": {"key": "value"}}.
    #[arg(long = "properties")]
    properties_file: Option<PathBuf>,
    /// A vendor-specific option, KEY=VALUE (e.g. keepRegion=true).
    #[arg(long = "extra", value_parser = input::key_value)]
    extras: Vec<(String, String)>,
}

#[derive(Debug, Args)]
struct WaitCmd {
    #[command(flatten)]
    phones: PhoneArgs,
    /// The state to wait for: running, stopped, …
    #[arg(long)]
    until: PhoneState,
    /// Give up after this long (at most 30 days).
    #[arg(long, default_value = "10m", value_parser = input::duration)]
    timeout: Duration,
    /// Time between polls (at least 10ms).
    #[arg(long, default_value = "5s", value_parser = input::poll_interval)]
    poll_interval: Duration,
}

#[derive(Debug, Args)]
struct ListArgs {
    /// Only these providers (default: all).
    #[arg(long)]
    provider: Vec<String>,
    /// Phones per vendor page.
    #[arg(long)]
    page_size: Option<usize>,
}

#[derive(Debug, Args)]
struct JobsArgs {
    /// Jobs as NAME/JOB_ID (or bare ids with --provider).
    jobs: Vec<String>,
    /// Treat every job as a bare id on this provider.
    #[arg(long)]
    provider: Option<String>,
    /// The request that created the jobs, where the vendor needs it.
    #[arg(long)]
    request_id: Option<String>,
}

/// Why a command stopped early: a mistake in how it was called or configured (exit code 2),
/// or output that could not be written (exit code 6) — after work may already have been sent,
/// so it must not pass for a usage error.
#[derive(Debug)]
pub(crate) enum Failure {
    /// A usage or configuration mistake.
    Usage(String),
    /// Writing the output failed (`> /dev/full`, a closed pipe); the I/O error's text.
    Output(String),
}

/// The error every command returns. Most are usage mistakes, built as `UsageError(message)`;
/// [`io`] makes the output failures.
pub(crate) type UsageError = Failure;

/// A usage or configuration mistake (exit code 2).
#[allow(non_snake_case)]
pub(crate) fn UsageError(message: String) -> Failure {
    Failure::Usage(message)
}

/// Exit codes, as documented in the README.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exit {
    Ok = 0,
    SomeFailed = 1,
    Usage = 2,
    Auth = 3,
    Vendor = 4,
    // 5 is taken: an operation whose outcome is unknown.
    /// The output could not be written (work may have been done).
    Output = 6,
}

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
            return ExitCode::from(Exit::Vendor as u8);
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
    ExitCode::from(code as u8)
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

async fn run(cli: Cli) -> Result<Exit, UsageError> {
    let ctx = Ctx {
        format: cli.output,
        quiet: cli.quiet,
    };
    match cli.command {
        Command::Demo(args) => return demo::run(&ctx, args).await,
        Command::Bench(args) => return bench::run(args).await,
        Command::Sim(SimCmd::Serve(args)) => {
            cloudphone_sim::serve_until_ctrl_c(args.into_config())
                .await
                .map_err(|e| UsageError(format!("simulator: {e}")))?;
            return Ok(Exit::Ok);
        }
        _ => {}
    }
    let config = Config::from_path(&cli.config).map_err(|e| UsageError(e.to_string()))?;
    let fleet = Fleet::from_config(&config).map_err(|e| UsageError(e.to_string()))?;
    match cli.command {
        Command::Providers => providers(&ctx, &fleet),
        Command::Status(a) => {
            let phones = input::phones(&a)?;
            change(&ctx, &fleet, Op::Status, phones, None).await
        }
        Command::Stop(a) => {
            let phones = input::phones(&a.phones)?;
            change(&ctx, &fleet, Op::Stop, phones, Some(&a.wait)).await
        }
        Command::Restart(a) => {
            let phones = input::phones(&a.phones)?;
            change(&ctx, &fleet, Op::Restart, phones, Some(&a.wait)).await
        }
        Command::Start(a) => {
            let phones = input::phones(&a.phones)?;
            let mut opts = StartOptions::default();
            opts.extras = input::extras(&a.extras);
            change(&ctx, &fleet, Op::Start(opts), phones, Some(&a.wait)).await
        }
        Command::Reset(a) => {
            let phones = input::phones(&a.phones)?;
            let opts = input::reset_options(
                a.image,
                &a.properties,
                a.properties_file.as_deref(),
                &a.extras,
                a.phones.provider.as_deref(),
            )?;
            change(&ctx, &fleet, Op::Reset(opts), phones, Some(&a.wait)).await
        }
        Command::Wait(a) => {
            let phones = input::phones(&a.phones)?;
            check_providers(&fleet, &phones)?;
            let pending = pending_report(&phones, Operation::Status);
            let opts = WaitArgs {
                wait: true,
                timeout: a.timeout,
                poll_interval: a.poll_interval,
            };
            let mut out = std::io::stdout().lock();
            let report =
                wait_and_print(&ctx, &fleet, pending, Some(a.until), &opts, &mut out).await?;
            finish(&ctx, &mut out, &report, true)
        }
        Command::List(a) => list(&ctx, &fleet, &a).await,
        Command::Jobs(a) => jobs(&ctx, &fleet, &a).await,
        Command::Demo(_) | Command::Bench(_) | Command::Sim(_) => unreachable!("handled above"),
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

/// A batch operation with its options.
#[derive(Debug, Clone)]
enum Op {
    Status,
    Stop,
    Start(StartOptions),
    Restart,
    Reset(ResetOptions),
}

impl Op {
    fn operation(&self) -> Operation {
        match self {
            Op::Status => Operation::Status,
            Op::Stop => Operation::Stop,
            Op::Start(_) => Operation::Start,
            Op::Restart => Operation::Restart,
            Op::Reset(_) => Operation::Reset,
        }
    }

    async fn call(&self, fleet: &Fleet, phones: &[PhoneRef]) -> cloudphone::Result<FleetReport> {
        match self {
            Op::Status => fleet.status(phones).await,
            Op::Stop => fleet.stop(phones).await,
            Op::Start(o) => fleet.start(phones, o).await,
            Op::Restart => fleet.restart(phones).await,
            Op::Reset(o) => fleet.reset(phones, o).await,
        }
    }
}

fn check_providers(fleet: &Fleet, phones: &[PhoneRef]) -> Result<(), UsageError> {
    for p in phones {
        if fleet.get(&p.provider).is_none() {
            let known: Vec<_> = fleet.providers().keys().map(String::as_str).collect();
            return Err(UsageError(format!(
                "unknown provider `{}` in `{p}` (configured: {})",
                p.provider,
                if known.is_empty() {
                    "none".into()
                } else {
                    known.join(", ")
                }
            )));
        }
    }
    Ok(())
}

fn pending_report(phones: &[PhoneRef], operation: Operation) -> FleetReport {
    let mut seen = HashSet::new();
    FleetReport::new(
        operation,
        phones
            .iter()
            .filter(|p| seen.insert(*p))
            .map(|p| cloudphone::FleetOutcome {
                provider: p.provider.clone(),
                outcome: cloudphone::PhoneOutcome::pending(p.phone.clone()),
            })
            .collect(),
    )
}

/// Runs one operation (optionally waiting for it) and prints the result.
async fn change(
    ctx: &Ctx,
    fleet: &Fleet,
    op: Op,
    phones: Vec<PhoneRef>,
    wait: Option<&WaitArgs>,
) -> Result<Exit, UsageError> {
    check_providers(fleet, &phones)?;
    let mut out = std::io::stdout().lock();
    let report = run_op(ctx, fleet, &op, &phones, &mut out).await?;
    let waited = wait.is_some_and(|w| w.wait);
    let report = match wait {
        Some(w) if w.wait => {
            if ctx.format == Format::Table {
                output::summary_line(&mut out, &report).map_err(io)?;
            }
            wait_and_print(ctx, fleet, report, None, w, &mut out).await?
        }
        _ => report,
    };
    finish(ctx, &mut out, &report, waited)
}

/// Runs `op`; with ndjson each provider's outcomes are printed as soon as that provider
/// answers.
async fn run_op(
    ctx: &Ctx,
    fleet: &Fleet,
    op: &Op,
    phones: &[PhoneRef],
    out: &mut dyn Write,
) -> Result<FleetReport, UsageError> {
    let bar = ctx.progress(phones.len() as u64, op.operation().as_str());
    let mut groups: BTreeMap<&str, Vec<PhoneRef>> = BTreeMap::new();
    for p in phones {
        groups
            .entry(p.provider.as_str())
            .or_default()
            .push(p.clone());
    }
    let mut calls: futures::stream::FuturesUnordered<_> = groups
        .into_values()
        .map(|group| async move { op.call(fleet, &group).await })
        .collect();
    let mut merged = FleetReport::new(op.operation(), Vec::with_capacity(phones.len()));
    while let Some(result) = calls.next().await {
        let part = result.map_err(|e| UsageError(e.to_string()))?;
        bar.inc(part.outcomes.len() as u64);
        if ctx.format == Format::Ndjson {
            bar.suspend(|| output::report(out, Format::Ndjson, &part))
                .map_err(io)?;
        }
        merged.outcomes.extend(part.outcomes);
    }
    bar.finish_and_clear();
    // Back to request order (each provider kept its own order; duplicates were collapsed).
    let mut index: std::collections::HashMap<(String, String), cloudphone::FleetOutcome> = merged
        .outcomes
        .into_iter()
        .map(|o| ((o.provider.clone(), o.outcome.phone.to_string()), o))
        .collect();
    merged.outcomes = phones
        .iter()
        .filter_map(|p| index.remove(&(p.provider.clone(), p.phone.to_string())))
        .collect();
    Ok(merged)
}

/// Waits in single poll rounds so that the progress bar and ndjson can follow along. An
/// output write failure is left unreported (see [`wait_and_print`]).
async fn wait_rounds(
    ctx: &Ctx,
    fleet: &Fleet,
    report: FleetReport,
    target: Option<PhoneState>,
    args: &WaitArgs,
    out: &mut dyn Write,
) -> FleetReport {
    let mut written = Ok(());
    wait_rounds_into(ctx, fleet, report, target, args, out, &mut written).await
}

/// [`wait_rounds`], failing (exit code 6) if ndjson output could not be written.
async fn wait_and_print(
    ctx: &Ctx,
    fleet: &Fleet,
    report: FleetReport,
    target: Option<PhoneState>,
    args: &WaitArgs,
    out: &mut dyn Write,
) -> Result<FleetReport, UsageError> {
    let mut written = Ok(());
    let report = wait_rounds_into(ctx, fleet, report, target, args, out, &mut written).await;
    written.map_err(io)?;
    Ok(report)
}

/// The wait loop; the first output write failure lands in `written` and ends the wait (there
/// is no one left to tell).
async fn wait_rounds_into(
    ctx: &Ctx,
    fleet: &Fleet,
    mut report: FleetReport,
    target: Option<PhoneState>,
    args: &WaitArgs,
    out: &mut dyn Write,
    written: &mut std::io::Result<()>,
) -> FleetReport {
    let bar = ctx.progress(report.outcomes.len() as u64, "waiting");
    let deadline = tokio::time::Instant::now() + args.timeout;
    let mut round = WaitOptions::default()
        .timeout(Duration::ZERO)
        .poll_interval(args.poll_interval);
    if let Some(t) = target {
        round = round.target(t);
    }
    let mut printed: HashSet<usize> = HashSet::new();
    loop {
        let next = match fleet.wait(&report, &round).await {
            Ok(r) => r,
            Err(e) => {
                bar.suspend(|| eprintln!("error: waiting failed: {e}"));
                break;
            }
        };
        report = next;
        let settled = report
            .outcomes
            .iter()
            .filter(|o| !o.outcome.is_pending())
            .count();
        bar.set_position(settled as u64);
        if ctx.format == Format::Ndjson {
            for (i, o) in report.outcomes.iter().enumerate() {
                if written.is_ok() && !o.outcome.is_pending() && printed.insert(i) {
                    *written = bar.suspend(|| output::ndjson_line(out, &report, o));
                }
            }
        }
        let now = tokio::time::Instant::now();
        if settled == report.outcomes.len() || now >= deadline || written.is_err() {
            break;
        }
        tokio::time::sleep(args.poll_interval.min(deadline - now)).await;
    }
    bar.finish_and_clear();
    if ctx.format == Format::Ndjson {
        for (i, o) in report.outcomes.iter().enumerate() {
            if written.is_ok() && !printed.contains(&i) {
                *written = output::ndjson_line(out, &report, o);
            }
        }
    }
    report
}

/// An output write failure: exit code 6, never a usage error.
fn io(e: std::io::Error) -> UsageError {
    Failure::Output(e.to_string())
}

/// Prints the final report (ndjson was printed along the way) and picks the exit code.
fn finish(
    ctx: &Ctx,
    out: &mut dyn Write,
    report: &FleetReport,
    waited: bool,
) -> Result<Exit, UsageError> {
    if ctx.format != Format::Ndjson {
        output::report(out, ctx.format, report).map_err(io)?;
    }
    out.flush().map_err(io)?;
    Ok(exit_code(report, waited))
}

/// 0 all succeeded; 1 some failed (or, after waiting, did not finish); 3 every phone failed on
/// rejected credentials; 4 every phone failed on the vendor or the network.
fn exit_code(report: &FleetReport, waited: bool) -> Exit {
    let s = report.summary();
    if s.failed == 0 {
        return if waited && s.pending > 0 {
            Exit::SomeFailed
        } else {
            Exit::Ok
        };
    }
    if s.failed < s.total {
        return Exit::SomeFailed;
    }
    let kinds: Vec<ErrorKind> = report
        .outcomes
        .iter()
        .filter_map(|o| o.outcome.error().map(|e| e.kind()))
        .collect();
    if kinds.contains(&ErrorKind::Unauthenticated) {
        Exit::Auth
    } else if kinds.iter().all(|k| {
        matches!(
            k,
            ErrorKind::Unavailable
                | ErrorKind::Timeout
                | ErrorKind::RateLimited
                | ErrorKind::InvalidResponse
                | ErrorKind::MissingFromResponse
        )
    }) {
        Exit::Vendor
    } else {
        Exit::SomeFailed
    }
}

fn providers(ctx: &Ctx, fleet: &Fleet) -> Result<Exit, UsageError> {
    let mut out = std::io::stdout().lock();
    let mut rows = Vec::new();
    let mut docs = Vec::new();
    for (name, p) in fleet.providers() {
        let caps = p.capabilities();
        let ops: Vec<&str> = caps.operations.iter().map(|o| o.as_str()).collect();
        let batches: Vec<String> = caps
            .batch_sizes
            .iter()
            .map(|(o, n)| format!("{o}={n}"))
            .collect();
        let limits: Vec<String> = caps.rate_limits.iter().map(|b| b.to_string()).collect();
        rows.push(vec![
            name.clone(),
            p.vendor().to_owned(),
            ops.join(","),
            batches.join(","),
            if limits.is_empty() {
                "-".into()
            } else {
                limits.join(",")
            },
        ]);
        docs.push(json!({
            "name": name, "type": p.vendor(), "operations": ops,
            "batch_sizes": caps.batch_sizes.iter().map(|(o, n)| (o.as_str().to_owned(), json!(n))).collect::<serde_json::Map<_, _>>(),
            "rate_limits": limits, "jobs": caps.jobs,
        }));
    }
    match ctx.format {
        Format::Table => output::table(
            &mut out,
            &["NAME", "TYPE", "OPERATIONS", "BATCH SIZES", "RATE LIMITS"],
            &rows,
        ),
        Format::Json => serde_json::to_writer_pretty(&mut out, &json!({ "providers": docs }))
            .map_err(std::io::Error::other)
            .and_then(|_| writeln!(out)),
        Format::Ndjson => docs.iter().try_for_each(|d| writeln!(out, "{d}")),
    }
    .map_err(io)?;
    Ok(Exit::Ok)
}

async fn list(ctx: &Ctx, fleet: &Fleet, args: &ListArgs) -> Result<Exit, UsageError> {
    use cloudphone::CloudPhoneProviderExt;
    let names: Vec<String> = if args.provider.is_empty() {
        fleet.providers().keys().cloned().collect()
    } else {
        args.provider.clone()
    };
    let mut out = std::io::stdout().lock();
    let mut rows = Vec::new();
    let mut docs = Vec::new();
    let mut failed = false;
    for name in &names {
        let p = fleet
            .get(name)
            .ok_or_else(|| UsageError(format!("unknown provider `{name}` given to --provider")))?;
        let mut phones = p.list(args.page_size);
        while let Some(item) = phones.next().await {
            match item {
                Ok(ph) => {
                    let doc = json!({
                        "provider": name, "phone_id": ph.id.as_str(), "name": ph.name,
                        "state": ph.state.state.as_str(), "raw_state": ph.state.raw,
                    });
                    if ctx.format == Format::Ndjson {
                        writeln!(out, "{doc}").map_err(io)?;
                    }
                    rows.push(vec![
                        format!("{name}/{}", ph.id),
                        ph.name.clone().unwrap_or_default(),
                        format!("{} ({})", ph.state.state, ph.state.raw),
                    ]);
                    docs.push(doc);
                }
                Err(e) => {
                    eprintln!("error: listing `{name}`: {e}");
                    failed = true;
                }
            }
        }
    }
    match ctx.format {
        Format::Table => {
            output::table(&mut out, &["PHONE", "NAME", "STATE"], &rows).map_err(io)?;
            writeln!(out, "{} phones", rows.len()).map_err(io)?;
        }
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &json!({ "phones": docs }))
                .map_err(|e| io(std::io::Error::other(e)))?;
            writeln!(out).map_err(io)?;
        }
        Format::Ndjson => {}
    }
    Ok(if failed { Exit::SomeFailed } else { Exit::Ok })
}

async fn jobs(ctx: &Ctx, fleet: &Fleet, args: &JobsArgs) -> Result<Exit, UsageError> {
    let refs = input::phones(&PhoneArgs {
        phones: args.jobs.clone(),
        provider: args.provider.clone(),
        from: None,
    })?;
    check_providers(fleet, &refs)?;
    let mut by_provider: BTreeMap<&str, Vec<JobRef>> = BTreeMap::new();
    for r in &refs {
        by_provider
            .entry(r.provider.as_str())
            .or_default()
            .push(JobRef::new(r.phone.as_str(), args.request_id.clone()));
    }
    let mut out = std::io::stdout().lock();
    let mut rows = Vec::new();
    let mut docs = Vec::new();
    let mut failed = false;
    for (name, jobs) in by_provider {
        match fleet.providers()[name].jobs(&jobs).await {
            Ok(infos) => {
                for j in infos {
                    let state = format!("{:?}", j.state).to_lowercase();
                    failed |= j.error.is_some();
                    let err = j.error.as_ref().map(|e| e.to_string());
                    rows.push(vec![
                        format!("{name}/{}", j.job.job_id),
                        j.phone.as_ref().map(|p| p.to_string()).unwrap_or_default(),
                        format!("{state} ({})", j.raw_state),
                        err.clone().unwrap_or_default(),
                    ]);
                    docs.push(json!({
                        "provider": name, "job_id": j.job.job_id, "request_id": j.job.request_id,
                        "phone_id": j.phone.as_ref().map(|p| p.as_str()), "state": state,
                        "raw_state": j.raw_state, "error": err,
                    }));
                }
            }
            Err(e) => {
                eprintln!("error: `{name}`: {e}");
                failed = true;
            }
        }
    }
    match ctx.format {
        Format::Table => {
            output::table(&mut out, &["JOB", "PHONE", "STATE", "ERROR"], &rows).map_err(io)?
        }
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &json!({ "jobs": docs }))
                .map_err(|e| io(std::io::Error::other(e)))?;
            writeln!(out).map_err(io)?;
        }
        Format::Ndjson => {
            for d in docs {
                writeln!(out, "{d}").map_err(io)?;
            }
        }
    }
    Ok(if failed { Exit::SomeFailed } else { Exit::Ok })
}
