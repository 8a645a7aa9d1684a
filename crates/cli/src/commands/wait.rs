//! `wait`: poll phones until they reach a state; and the wait that `--wait` and the demo share.
//! The library waits; the command follows its progress events, so the progress bar and ndjson
//! show each phone as it settles; a signal or the deadline ends it with every accepted outcome
//! and job kept.

use std::collections::{HashMap, HashSet};
use std::io::Write;

use cloudphone::progress::{Event, EventKind};
use cloudphone::{
    Fleet, FleetOutcome, FleetReport, Operation, PhoneId, PhoneOutcome, PhoneRef, PhoneState,
    WaitOptions,
};

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
            .map(|p| {
                FleetOutcome::new(
                    p.provider.clone(),
                    cloudphone::PhoneOutcome::pending(p.phone.clone()),
                )
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

/// The wait: one library wait until the session's deadline, followed phone by phone as each
/// poll round settles it (ndjson lines, the progress bar). The first output write failure
/// lands in `written` (there is no one left to tell). A signal ends it at once: the report
/// then holds every phone settled so far and, for the rest, the accepted outcomes and jobs as
/// they were.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn wait_rounds_in(
    session: &mut Session,
    ctx: &Ctx,
    fleet: &Fleet,
    report: FleetReport,
    target: Option<PhoneState>,
    args: &WaitArgs,
    out: &mut dyn Write,
    written: &mut std::io::Result<()>,
) -> (FleetReport, Option<follow::Stop>) {
    let bar = ctx.progress(report.outcomes.len() as u64, "waiting");
    let deadline = session.deadline;
    let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
    let mut options = WaitOptions::default()
        .timeout(remaining)
        .poll_interval(args.poll_interval);
    if let Some(t) = target {
        options = options.target(t);
    }
    let ndjson = ctx.format == Format::Ndjson;
    let (sink, mut events) = follow::channel();
    let mut call = Box::pin(follow::observe(sink, fleet.wait(&report, &options)));
    let mut settled: HashMap<(String, PhoneId), PhoneOutcome> = HashMap::new();
    let mut take = |ev: Event, settled: &mut HashMap<(String, PhoneId), PhoneOutcome>| {
        let (EventKind::Waited(outcomes), Some(provider)) = (ev.kind, ev.provider) else {
            return;
        };
        for o in outcomes {
            bar.inc(1);
            let o = FleetOutcome::new(provider.to_string(), o);
            if ndjson && written.is_ok() {
                *written = bar.suspend(|| output::ndjson_line(&mut *out, &report, &o));
            }
            settled.insert((o.provider, o.outcome.phone.clone()), o.outcome);
        }
    };
    let result = loop {
        tokio::select! {
            biased;
            code = follow::signal(&mut session.signals) => break Err(follow::Stop::Signal(code)),
            // The library's wait ends by the deadline (its last round's answer is worth a
            // moment's grace); a call still in flight then must not hold the command.
            _ = tokio::time::sleep_until(deadline + std::time::Duration::from_millis(500)) => break Ok(None),
            Some(ev) = events.recv() => take(ev, &mut settled),
            r = &mut call => break Ok(Some(r)),
        }
    };
    drop(call);
    while let Ok(ev) = events.try_recv() {
        take(ev, &mut settled);
    }
    bar.finish_and_clear();
    let merged = |mut r: FleetReport| {
        for o in &mut r.outcomes {
            if let Some(s) = settled.get(&(o.provider.clone(), o.outcome.phone.clone())) {
                o.outcome = s.clone();
            }
        }
        r
    };
    let (report, stop) = match result {
        Ok(Some(Ok(waited))) => (waited, None),
        Ok(Some(Err(e))) => {
            eprintln!("error: waiting failed: {}", output::escape(&e.to_string()));
            (merged(report), None)
        }
        Ok(None) => (merged(report), None),
        Err(why) => (merged(report), Some(why)),
    };
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
    if stop.is_none() && ndjson {
        // The phones no round settled (unfinished at the deadline, or never watched).
        for o in &report.outcomes {
            let printed = settled.contains_key(&(o.provider.clone(), o.outcome.phone.clone()));
            if written.is_ok() && !printed {
                *written = output::ndjson_line(out, &report, o);
            }
        }
    }
    (report, stop)
}
