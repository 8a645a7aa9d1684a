//! `status`, `stop`, `start`, `restart`, `reset`: one batch operation across the fleet,
//! followed chunk by chunk (ndjson prints each outcome as its chunk is answered), then with
//! `--wait` waited for. The whole command, waiting included, ends at `--timeout`; SIGINT and
//! SIGTERM stop sending and print what is known.

use std::collections::HashSet;
use std::io::Write;
use std::time::Duration;

use cloudphone::{Fleet, FleetReport, PhoneRef, StartOptions};

use super::wait::wait_rounds_in;
use super::{check_providers, cut_short, finish, Op, Session};
use crate::args::{ChangeArgs, ResetArgs, StartArgs, StatusArgs, WaitArgs};
use crate::exit::{io, Exit, UsageError};
use crate::output::{self, Format};
use crate::{follow, input, Ctx};

/// `cloudphone status`.
pub(crate) async fn status(ctx: &Ctx, fleet: &Fleet, a: StatusArgs) -> Result<Exit, UsageError> {
    let phones = input::phones(&a.phones)?;
    change(ctx, fleet, Op::Status, phones, None, a.timeout).await
}

/// `cloudphone stop`.
pub(crate) async fn stop(ctx: &Ctx, fleet: &Fleet, a: ChangeArgs) -> Result<Exit, UsageError> {
    let phones = input::phones(&a.phones)?;
    change(ctx, fleet, Op::Stop, phones, Some(&a.wait), a.wait.timeout).await
}

/// `cloudphone restart`.
pub(crate) async fn restart(ctx: &Ctx, fleet: &Fleet, a: ChangeArgs) -> Result<Exit, UsageError> {
    let phones = input::phones(&a.phones)?;
    change(
        ctx,
        fleet,
        Op::Restart,
        phones,
        Some(&a.wait),
        a.wait.timeout,
    )
    .await
}

/// `cloudphone start`.
pub(crate) async fn start(ctx: &Ctx, fleet: &Fleet, a: StartArgs) -> Result<Exit, UsageError> {
    let phones = input::phones(&a.phones)?;
    let mut opts = StartOptions::default();
    opts.extras = input::extras(&a.extras);
    let op = Op::Start(opts);
    change(ctx, fleet, op, phones, Some(&a.wait), a.wait.timeout).await
}

/// `cloudphone reset`.
pub(crate) async fn reset(ctx: &Ctx, fleet: &Fleet, a: ResetArgs) -> Result<Exit, UsageError> {
    let phones = input::phones(&a.phones)?;
    let opts = input::reset_options(
        a.image,
        &a.properties,
        a.properties_file.as_deref(),
        &a.extras,
        a.phones.provider.as_deref(),
    )?;
    check_providers(fleet, &phones)?;
    if let Some(refused) = super::journal::check_resets(fleet, &phones, a.force)? {
        return Ok(refused);
    }
    let op = Op::Reset(opts);
    change(ctx, fleet, op, phones, Some(&a.wait), a.wait.timeout).await
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
