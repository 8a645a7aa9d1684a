//! `resume`: wait for everything the journal says is unfinished — accepted changes through
//! their jobs, changes whose answer was lost by looking at the phones — and print how each
//! ended. Nothing is sent again.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use clap::Args;
use cloudphone::{Fleet, FleetReport, WaitOptions};
use serde_json::json;

use super::Session;
use crate::exit::{exit_code, io, Exit, UsageError};
use crate::output::{self, Format};
use crate::{follow, input, Ctx};

/// Options of `cloudphone resume`.
#[derive(Debug, Args)]
pub(crate) struct ResumeArgs {
    /// Give up waiting after this long; what is still unfinished stays in the journal for a
    /// later resume (at most 30 days).
    #[arg(long, default_value = "10m", value_parser = input::duration)]
    pub(crate) timeout: Duration,
    /// Time between polls (at least 10ms).
    #[arg(long, default_value = "5s", value_parser = input::poll_interval)]
    pub(crate) poll_interval: Duration,
}

/// `cloudphone resume`.
pub(crate) async fn run(ctx: &Ctx, fleet: &Fleet, a: ResumeArgs) -> Result<Exit, UsageError> {
    let Some(journal) = fleet.journal() else {
        return Err(UsageError(
            "`resume` works from the journal: drop --no-journal".into(),
        ));
    };
    let path = journal.path().display().to_string();
    let mut session = Session::new(a.timeout);
    let options = WaitOptions::default()
        .timeout(a.timeout)
        .poll_interval(a.poll_interval);
    let mut call = Box::pin(fleet.resume(&options));
    let resumed = tokio::select! {
        biased;
        code = follow::signal(&mut session.signals) => {
            eprintln!("error: interrupted: the journal keeps what is still unfinished; run `cloudphone resume` again");
            return Ok(Exit::Signal(code));
        }
        // The wait ends by its own timeout; a call in flight then must not hold the command.
        _ = tokio::time::sleep_until(session.deadline + Duration::from_secs(2)) => {
            eprintln!("error: the --timeout passed: the journal keeps what is still unfinished");
            return Ok(Exit::SomeFailed);
        }
        r = &mut call => r.map_err(|e| UsageError(e.to_string()))?,
    };
    drop(call);
    let mut skipped: BTreeMap<&str, usize> = BTreeMap::new();
    for e in &resumed.skipped {
        *skipped.entry(e.provider.as_str()).or_default() += 1;
    }
    for (provider, n) in &skipped {
        eprintln!(
            "warning: {n} unfinished entries of provider `{}`, which is not configured: left in the journal",
            output::escape(provider)
        );
    }
    let mut out = std::io::stdout().lock();
    if resumed.reports.is_empty() {
        eprintln!(
            "nothing to resume: the journal ({}) has no unfinished entries{}",
            output::escape(&path),
            if skipped.is_empty() {
                ""
            } else {
                " for the configured providers"
            }
        );
    }
    match ctx.format {
        Format::Json => {
            let doc = json!({
                "journal": path,
                "reports": resumed.reports.iter().map(output::report_json).collect::<Vec<_>>(),
                "summary": output::summary_json(&resumed.summary()),
                "skipped": skipped,
            });
            serde_json::to_writer_pretty(&mut out, &doc)
                .map_err(std::io::Error::other)
                .map_err(io)?;
            writeln!(out).map_err(io)?;
        }
        format => {
            for r in &resumed.reports {
                output::report(&mut out, format, r).map_err(io)?;
            }
        }
    }
    out.flush().map_err(io)?;
    // One report of everything, for the exit code (after waiting: unfinished counts).
    let all = FleetReport::new(
        resumed
            .reports
            .first()
            .map_or(cloudphone::Operation::Wait, |r| r.operation),
        resumed
            .reports
            .into_iter()
            .flat_map(|r| r.outcomes)
            .collect(),
    );
    let code = exit_code(&all, true);
    Ok(if code == Exit::Ok && !skipped.is_empty() {
        Exit::SomeFailed
    } else {
        code
    })
}
