//! `cloudphone`: drive cloud phone fleets from several vendors from the shell.
//!
//! See `cloudphone --help`; the README has a walk-through.

mod bench;
mod demo;
mod follow;
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

#[derive(Debug, Args)]
struct StatusArgs {
    #[command(flatten)]
    phones: PhoneArgs,
    /// End the whole command after this long, retries and paging included (at most 30 days).
    #[arg(long, default_value = "10m", value_parser = input::duration)]
    timeout: Duration,
}

#[derive(Debug, Args, Clone)]
struct WaitArgs {
    /// Wait until the operation completes.
    #[arg(long)]
    wait: bool,
    /// End the whole command after this long — the operation, its retries and throttling
    /// waits, and waiting — even without --wait (e.g. 90s, 10m; at most 30 days).
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
    /// Everything succeeded.
    Ok,
    /// Some phones failed (or did not finish while waiting).
    SomeFailed,
    /// A usage or configuration mistake.
    Usage,
    /// Credentials were refused.
    Auth,
    /// Every phone failed on the vendor or the network.
    Vendor,
    /// Some change was sent but its answer was lost: it may have been applied.
    Unknown,
    /// The output could not be written (work may have been done).
    Output,
    /// Stopped by a signal: 130 (SIGINT) or 143 (SIGTERM), after printing what was known.
    Signal(u8),
}

impl Exit {
    /// The process exit code, as documented in the README.
    fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::SomeFailed => 1,
            Exit::Usage => 2,
            Exit::Auth => 3,
            Exit::Vendor => 4,
            Exit::Unknown => 5,
            Exit::Output => 6,
            Exit::Signal(code) => code,
        }
    }
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
            let phones = input::phones(&a.phones)?;
            change(&ctx, &fleet, Op::Status, phones, None, a.timeout).await
        }
        Command::Stop(a) => {
            let phones = input::phones(&a.phones)?;
            change(
                &ctx,
                &fleet,
                Op::Stop,
                phones,
                Some(&a.wait),
                a.wait.timeout,
            )
            .await
        }
        Command::Restart(a) => {
            let phones = input::phones(&a.phones)?;
            change(
                &ctx,
                &fleet,
                Op::Restart,
                phones,
                Some(&a.wait),
                a.wait.timeout,
            )
            .await
        }
        Command::Start(a) => {
            let phones = input::phones(&a.phones)?;
            let mut opts = StartOptions::default();
            opts.extras = input::extras(&a.extras);
            change(
                &ctx,
                &fleet,
                Op::Start(opts),
                phones,
                Some(&a.wait),
                a.wait.timeout,
            )
            .await
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
            change(
                &ctx,
                &fleet,
                Op::Reset(opts),
                phones,
                Some(&a.wait),
                a.wait.timeout,
            )
            .await
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
            let mut session = Session::new(a.timeout);
            let mut out = std::io::stdout().lock();
            let mut written = Ok(());
            let (report, stop) = wait_rounds_in(
                &mut session,
                &ctx,
                &fleet,
                pending,
                Some(a.until),
                &opts,
                &mut out,
                &mut written,
            )
            .await;
            written.map_err(io)?;
            if let Some(why) = stop {
                return cut_short(&ctx, &mut out, report, why);
            }
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

/// What a command carries through its phases: the signals it listens to and its deadline.
pub(crate) struct Session {
    signals: Option<follow::Signals>,
    deadline: tokio::time::Instant,
}

impl Session {
    /// Listens for SIGINT/SIGTERM from now on (before anything is sent); the whole command
    /// ends by `timeout` from now, its retries, throttling waits and paging included.
    fn new(timeout: Duration) -> Session {
        Session {
            signals: follow::Signals::install(),
            deadline: cloudphone::wait::deadline_after(timeout),
        }
    }

    /// No signals, no deadline to speak of (the demo).
    pub(crate) fn unbounded() -> Session {
        Session {
            signals: None,
            deadline: cloudphone::wait::deadline_after(Duration::MAX),
        }
    }
}

/// Runs one operation (optionally waiting for it) and prints the result. The whole command,
/// waiting included, ends at `timeout`; an interrupt prints what is known and exits 130/143.
async fn change(
    ctx: &Ctx,
    fleet: &Fleet,
    op: Op,
    phones: Vec<PhoneRef>,
    wait: Option<&WaitArgs>,
    timeout: Duration,
) -> Result<Exit, UsageError> {
    check_providers(fleet, &phones)?;
    let mut session = Session::new(timeout);
    let mut out = std::io::stdout().lock();
    let (report, stop) = run_op_in(&mut session, ctx, fleet, &op, &phones, &mut out).await?;
    if let Some(why) = stop {
        return cut_short(ctx, &mut out, report, why);
    }
    let waited = wait.is_some_and(|w| w.wait);
    let report = match wait {
        Some(w) if w.wait => {
            if ctx.format == Format::Table {
                output::summary_line(&mut out, &report).map_err(io)?;
            }
            let mut written = Ok(());
            let (report, stop) = wait_rounds_in(
                &mut session,
                ctx,
                fleet,
                report,
                None,
                w,
                &mut out,
                &mut written,
            )
            .await;
            written.map_err(io)?;
            if let Some(why) = stop {
                return cut_short(ctx, &mut out, report, why);
            }
            report
        }
        _ => report,
    };
    finish(ctx, &mut out, &report, waited)
}

/// Prints everything known when a signal or the deadline cut the command short — accepted
/// work (with its job ids) first — and picks the exit code: 130/143 for a signal.
fn cut_short(
    ctx: &Ctx,
    out: &mut dyn Write,
    mut report: FleetReport,
    why: follow::Stop,
) -> Result<Exit, UsageError> {
    let rank = |o: &cloudphone::FleetOutcome| match o.outcome.outcome {
        cloudphone::Outcome::Pending | cloudphone::Outcome::Done => 0,
        cloudphone::Outcome::Unknown(_) => 1,
        _ => 2,
    };
    // Stable: request order within each rank.
    report.outcomes.sort_by_key(rank);
    let what = match why {
        follow::Stop::Signal(130) => "interrupted (SIGINT)",
        follow::Stop::Signal(_) => "terminated (SIGTERM)",
        follow::Stop::Deadline => "the command's --timeout passed",
    };
    eprintln!("error: {what}: nothing more is sent; printing what is known");
    if ctx.format == Format::Json {
        let mut doc = output::report_json(&report);
        doc["interrupted"] = json!(what);
        serde_json::to_writer_pretty(&mut *out, &doc)
            .map_err(std::io::Error::other)
            .and_then(|_| writeln!(out))
            .map_err(io)?;
    } else {
        output::report(out, ctx.format, &report).map_err(io)?;
    }
    out.flush().map_err(io)?;
    Ok(match why {
        follow::Stop::Signal(code) => Exit::Signal(code),
        follow::Stop::Deadline => exit_code(&report, true),
    })
}

/// [`run_op_in`] without signals or deadline, for the demo.
pub(crate) async fn run_op(
    ctx: &Ctx,
    fleet: &Fleet,
    op: &Op,
    phones: &[PhoneRef],
    out: &mut dyn Write,
) -> Result<FleetReport, UsageError> {
    let mut session = Session::unbounded();
    Ok(run_op_in(&mut session, ctx, fleet, op, phones, out)
        .await?
        .0)
}

/// Runs `op`, following it chunk by chunk: ndjson prints each outcome as soon as its chunk is
/// answered. A signal or the deadline stops sending at once and returns what is known (phones
/// whose request went out are unknown, the rest not sent) with the reason.
async fn run_op_in(
    session: &mut Session,
    ctx: &Ctx,
    fleet: &Fleet,
    op: &Op,
    phones: &[PhoneRef],
    out: &mut dyn Write,
) -> Result<(FleetReport, Option<follow::Stop>), UsageError> {
    let bar = ctx.progress(phones.len() as u64, op.operation().as_str());
    let mut follow = follow::Follow::new(op.operation(), phones);
    let (sink, mut events) = follow::channel();
    let mut call = Box::pin(follow::observe(sink, op.call(fleet, phones)));
    let mut printed: HashSet<(String, cloudphone::PhoneId)> = HashSet::new();
    let mut written: std::io::Result<()> = Ok(());
    let ndjson = ctx.format == Format::Ndjson;
    let report = ndjson.then(|| FleetReport::new(op.operation(), Vec::new()));
    let mut show = |answered: Vec<cloudphone::FleetOutcome>,
                    printed: &mut HashSet<(String, cloudphone::PhoneId)>,
                    written: &mut std::io::Result<()>| {
        bar.inc(answered.len() as u64);
        if let Some(r) = &report {
            for o in answered {
                if written.is_ok() && printed.insert((o.provider.clone(), o.outcome.phone.clone()))
                {
                    *written = bar.suspend(|| output::ndjson_line(&mut *out, r, &o));
                }
            }
        }
    };
    let result = loop {
        tokio::select! {
            biased;
            code = follow::signal(&mut session.signals) => break Err(follow::Stop::Signal(code)),
            _ = tokio::time::sleep_until(session.deadline) => break Err(follow::Stop::Deadline),
            Some(ev) = events.recv() => show(follow.apply(ev), &mut printed, &mut written),
            r = &mut call => break Ok(r),
        }
    };
    // Stop sending: dropping the call abandons every request in flight.
    drop(call);
    while let Ok(ev) = events.try_recv() {
        show(follow.apply(ev), &mut printed, &mut written);
    }
    bar.finish_and_clear();
    let (report, stop) = match result {
        Ok(r) => (r.map_err(|e| UsageError(e.to_string()))?, None),
        Err(why) => (follow.report(why), Some(why)),
    };
    if ndjson {
        // What no chunk reported (a provider that failed as a whole, phones never sent).
        for o in &report.outcomes {
            if written.is_ok() && !printed.contains(&(o.provider.clone(), o.outcome.phone.clone()))
            {
                written = output::ndjson_line(out, &report, o);
            }
        }
    }
    written.map_err(io)?;
    for (provider, j) in &report.stray_jobs {
        eprintln!(
            "warning: {} reported job {} for {}, which was not asked for",
            output::escape(provider),
            output::escape(&j.job.job_id),
            output::escape(j.phone.as_ref().map_or("no phone", |p| p.as_str()))
        );
    }
    Ok((report, stop))
}

/// Waits in single poll rounds so that the progress bar and ndjson can follow along (no
/// signals, no deadline beyond `args.timeout`: the demo). An output write failure is left
/// unreported.
pub(crate) async fn wait_rounds(
    ctx: &Ctx,
    fleet: &Fleet,
    report: FleetReport,
    target: Option<PhoneState>,
    args: &WaitArgs,
    out: &mut dyn Write,
) -> FleetReport {
    let mut session = Session::unbounded();
    session.deadline = cloudphone::wait::deadline_after(args.timeout);
    let mut written = Ok(());
    wait_rounds_in(
        &mut session,
        ctx,
        fleet,
        report,
        target,
        args,
        out,
        &mut written,
    )
    .await
    .0
}

/// Whether waiting has nothing left to learn about `o`.
fn settled(o: &cloudphone::FleetOutcome, target: Option<PhoneState>, op: Operation) -> bool {
    match target.or_else(|| op.target_state()) {
        Some(t) => !cloudphone::wait::needs_watch(&o.outcome, t),
        None => !o.outcome.is_pending(),
    }
}

/// The wait loop, in rounds until the session's deadline; the first output write failure
/// lands in `written` and ends the wait (there is no one left to tell). A signal ends it at
/// once with the last round's report, every accepted outcome and job kept.
#[allow(clippy::too_many_arguments)]
async fn wait_rounds_in(
    session: &mut Session,
    ctx: &Ctx,
    fleet: &Fleet,
    mut report: FleetReport,
    target: Option<PhoneState>,
    args: &WaitArgs,
    out: &mut dyn Write,
    written: &mut std::io::Result<()>,
) -> (FleetReport, Option<follow::Stop>) {
    let bar = ctx.progress(report.outcomes.len() as u64, "waiting");
    let deadline = session.deadline;
    let mut round = WaitOptions::default()
        .timeout(Duration::ZERO)
        .poll_interval(args.poll_interval);
    if let Some(t) = target {
        round = round.target(t);
    }
    let op = report.operation;
    let mut printed: HashSet<usize> = HashSet::new();
    let mut stop = None;
    loop {
        let next = tokio::select! {
            biased;
            code = follow::signal(&mut session.signals) => {
                stop = Some(follow::Stop::Signal(code));
                break;
            }
            _ = tokio::time::sleep_until(deadline) => break,
            r = fleet.wait(&report, &round) => r,
        };
        report = match next {
            Ok(r) => r,
            Err(e) => {
                bar.suspend(|| {
                    eprintln!("error: waiting failed: {}", output::escape(&e.to_string()))
                });
                break;
            }
        };
        let done = report
            .outcomes
            .iter()
            .filter(|o| settled(o, target, op))
            .count();
        bar.set_position(done as u64);
        if ctx.format == Format::Ndjson {
            for (i, o) in report.outcomes.iter().enumerate() {
                if written.is_ok() && settled(o, target, op) && printed.insert(i) {
                    *written = bar.suspend(|| output::ndjson_line(out, &report, o));
                }
            }
        }
        let now = tokio::time::Instant::now();
        if done == report.outcomes.len() || now >= deadline || written.is_err() {
            break;
        }
        let pause = tokio::time::sleep(args.poll_interval.min(deadline - now));
        tokio::select! {
            biased;
            code = follow::signal(&mut session.signals) => {
                stop = Some(follow::Stop::Signal(code));
                break;
            }
            _ = pause => {}
        }
    }
    bar.finish_and_clear();
    // Refused credentials end the wait: say so once per provider.
    let mut told = HashSet::new();
    for o in &report.outcomes {
        if let Some(e) = o.outcome.wait_error.as_ref().filter(|e| e.kind().is_auth()) {
            if told.insert(o.provider.clone()) {
                eprintln!(
                    "error: `{}`: credentials refused while waiting: {}",
                    output::escape(&o.provider),
                    output::escape(&e.to_string())
                );
            }
        }
    }
    if stop.is_none() && ctx.format == Format::Ndjson {
        for (i, o) in report.outcomes.iter().enumerate() {
            if written.is_ok() && !printed.contains(&i) {
                *written = output::ndjson_line(out, &report, o);
            }
        }
    }
    (report, stop)
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
    // A refusal stops the provider: say so on stderr, once per provider, whatever the format.
    let mut told = HashSet::new();
    for o in &report.outcomes {
        if let Some(e) = o.outcome.cause().filter(|e| e.kind().is_auth()) {
            if told.insert(o.provider.as_str()) {
                eprintln!(
                    "error: `{}`: credentials refused: {}",
                    output::escape(&o.provider),
                    output::escape(&e.to_string())
                );
            }
        }
    }
    Ok(exit_code(report, waited))
}

/// 3 credentials were refused (for any phone, or while waiting); 5 some change may or may not
/// have been applied (unknown); 0 all succeeded; 1 some failed (or, after waiting, did not
/// finish); 4 every phone failed on the vendor or the network.
fn exit_code(report: &FleetReport, waited: bool) -> Exit {
    let s = report.summary();
    let refused = report.outcomes.iter().any(|o| {
        o.outcome.cause().is_some_and(|e| e.kind().is_auth())
            || o.outcome
                .wait_error
                .as_ref()
                .is_some_and(|e| e.kind().is_auth())
    });
    if refused {
        return Exit::Auth;
    }
    if s.unknown > 0 {
        return Exit::Unknown;
    }
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
    if kinds.iter().all(|k| {
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
                    eprintln!(
                        "error: listing `{}`: {}",
                        output::escape(name),
                        output::escape(&e.to_string())
                    );
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
                eprintln!(
                    "error: `{}`: {}",
                    output::escape(name),
                    output::escape(&e.to_string())
                );
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
