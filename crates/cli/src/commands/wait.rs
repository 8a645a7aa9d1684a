//! `wait`: poll phones until they reach a state; and the wait loop that `--wait` and the demo
//! share. It polls in single rounds so that the progress bar and ndjson follow along; a
//! signal or the deadline ends it with every accepted outcome and job kept.

use std::collections::HashSet;
use std::io::Write;
use std::time::Duration;

use cloudphone::{Fleet, FleetReport, Operation, PhoneRef, PhoneState, WaitOptions};

use super::{check_providers, cut_short, finish, Session};
use crate::args::{WaitArgs, WaitCmd};
use crate::exit::{io, Exit, UsageError};
use crate::output::{self, Format};
use crate::{follow, input, Ctx};

/// `cloudphone wait`.
pub(crate) async fn run(ctx: &Ctx, fleet: &Fleet, a: WaitCmd) -> Result<Exit, UsageError> {
    let phones = input::phones(&a.phones)?;
    check_providers(fleet, &phones)?;
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
        ctx,
        fleet,
        pending,
        Some(a.until),
        &opts,
        &mut out,
        &mut written,
    )
    .await;
    written.map_err(io)?;
    if let Some(why) = stop {
        return cut_short(ctx, &mut out, report, why);
    }
    finish(ctx, &mut out, &report, true)
}

/// Every distinct phone pending, in request order: where `wait` starts from.
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
pub(crate) async fn wait_rounds_in(
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
