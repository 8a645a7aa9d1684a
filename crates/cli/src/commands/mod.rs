//! One module per command, and the phases the state-changing commands share.
//!
//! * [`status_change`]: `status`, `stop`, `start`, `restart`, `reset` — one batch operation,
//!   followed chunk by chunk, optionally waited for.
//! * [`wait`]: `wait`, and the wait loop `--wait` and the demo use.
//! * [`list`], [`jobs`], [`providers`]: read-only look-ups.
//! * [`demo`]: the main job on an embedded simulator.
//! * [`journal`], [`resume`]: the journal of sent changes, and finishing what a stopped run left.
//!
//! Shared here: the operation ([`Op`]), what a command carries through its phases
//! ([`Session`]: signals and deadline), and how it ends ([`finish`], [`cut_short`]).

pub(crate) mod demo;
pub(crate) mod jobs;
pub(crate) mod journal;
pub(crate) mod list;
pub(crate) mod providers;
pub(crate) mod resume;
pub(crate) mod status_change;
pub(crate) mod wait;

use std::collections::HashSet;
use std::io::Write;
use std::time::Duration;

use cloudphone::{Fleet, FleetReport, Operation, PhoneRef, ResetOptions, StartOptions};
use serde_json::json;

use crate::exit::{exit_code, io, Exit, UsageError};
use crate::output::{self, Format};
use crate::{follow, Ctx};

/// A batch operation with its options.
#[derive(Debug, Clone)]
pub(crate) enum Op {
    Status,
    Stop,
    Start(StartOptions),
    Restart,
    Reset(ResetOptions),
}

impl Op {
    pub(crate) fn operation(&self) -> Operation {
        match self {
            Op::Status => Operation::Status,
            Op::Stop => Operation::Stop,
            Op::Start(_) => Operation::Start,
            Op::Restart => Operation::Restart,
            Op::Reset(_) => Operation::Reset,
        }
    }

    pub(crate) async fn call(
        &self,
        fleet: &Fleet,
        phones: &[PhoneRef],
    ) -> cloudphone::Result<FleetReport> {
        match self {
            Op::Status => fleet.status(phones).await,
            Op::Stop => fleet.stop(phones).await,
            Op::Start(o) => fleet.start(phones, o).await,
            Op::Restart => fleet.restart(phones).await,
            Op::Reset(o) => fleet.reset(phones, o).await,
        }
    }
}

/// Every phone's provider must be configured; the error lists those that are.
pub(crate) fn check_providers(fleet: &Fleet, phones: &[PhoneRef]) -> Result<(), UsageError> {
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

/// What a command carries through its phases: the signals it listens to and its deadline.
pub(crate) struct Session {
    pub(crate) signals: Option<follow::Signals>,
    pub(crate) deadline: tokio::time::Instant,
}

impl Session {
    /// Listens for SIGINT/SIGTERM from now on (before anything is sent); the whole command
    /// ends by `timeout` from now, its retries, throttling waits and paging included.
    pub(crate) fn new(timeout: Duration) -> Session {
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

/// Prints everything known when a signal or the deadline cut the command short — accepted
/// work (with its job ids) first — and picks the exit code: 130/143 for a signal.
pub(crate) fn cut_short(
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

/// Prints the final report (ndjson was printed along the way) and picks the exit code.
pub(crate) fn finish(
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
