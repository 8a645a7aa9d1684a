//! The journal of sent state changes: where it lives, `cloudphone journal list`, and the check
//! before a reset that refuses phones whose previous reset is unsettled.
//!
//! The file is `[journal] path` from the configuration, else
//! `$XDG_STATE_HOME/cloudphone/journal.sqlite`, else
//! `$HOME/.local/state/cloudphone/journal.sqlite`; `--no-journal` keeps none.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use cloudphone::journal::{rfc3339, Entry, Journal};
use cloudphone::{Config, Fleet, Operation, PhoneRef};
use serde_json::{json, Value};

use crate::exit::{io, Exit, UsageError};
use crate::output::{self, Format};
use crate::Ctx;

/// `cloudphone journal …`.
#[derive(Debug, Subcommand)]
pub(crate) enum JournalCmd {
    /// List the journal's entries (oldest first).
    List(ListArgs),
}

/// Options of `cloudphone journal list`.
#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    /// Only entries not finished yet (what `resume` would wait for).
    #[arg(long)]
    pub(crate) unfinished: bool,
}

/// The default journal file: under `$XDG_STATE_HOME`, else `$HOME/.local/state`.
fn default_path() -> Option<PathBuf> {
    // The XDG rule: a relative (or empty) XDG_STATE_HOME is to be ignored.
    let var = |name: &str| {
        std::env::var_os(name)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    let base = var("XDG_STATE_HOME").or_else(|| var("HOME").map(|h| h.join(".local/state")))?;
    Some(base.join("cloudphone").join("journal.sqlite"))
}

/// Opens the journal the configuration names (or the default one); `None` with
/// `--no-journal`.
pub(crate) fn open(config: &Config, no_journal: bool) -> Result<Option<Journal>, UsageError> {
    if no_journal {
        return Ok(None);
    }
    let settings = config.journal().cloned().unwrap_or_default();
    let default = default_path();
    if settings.path.is_none() && default.is_none() {
        return Err(UsageError(
            "cannot tell where the journal lives: neither XDG_STATE_HOME nor HOME is set; set `[journal] path` or pass --no-journal".into(),
        ));
    }
    settings.open(default).map(Some).map_err(|e| {
        UsageError(format!(
            "{}; pass --no-journal to run without one",
            e.message()
        ))
    })
}

/// Refuses (exit 7, naming the phones) to reset phones whose previous reset is unfinished or
/// unknown in the journal, unless `force`. `Ok(None)` to go ahead.
pub(crate) fn check_resets(
    fleet: &Fleet,
    phones: &[PhoneRef],
    force: bool,
) -> Result<Option<Exit>, UsageError> {
    let unsettled = fleet
        .unsettled(Operation::Reset, phones)
        .map_err(|e| UsageError(e.to_string()))?;
    if unsettled.is_empty() {
        return Ok(None);
    }
    if force {
        eprintln!(
            "warning: --force: resetting {} phone(s) whose previous reset is unfinished or unknown in the journal",
            unsettled.len()
        );
        return Ok(None);
    }
    const SHOWN: usize = 10;
    let mut names: Vec<String> = unsettled
        .iter()
        .take(SHOWN)
        .map(|e| format!("{}/{} ({})", e.provider, e.phone, describe(e)))
        .collect();
    if unsettled.len() > SHOWN {
        names.push(format!("and {} more", unsettled.len() - SHOWN));
    }
    eprintln!(
        "error: refusing to reset {} phone(s) whose previous reset is unfinished or unknown in the journal (resetting again may wipe them twice): {}",
        unsettled.len(),
        output::escape(&names.join(", "))
    );
    eprintln!(
        "hint: `cloudphone resume` waits for the earlier resets; `cloudphone journal list --unfinished` shows them; --force resets anyway"
    );
    Ok(Some(Exit::Unsettled))
}

/// `sent 2026-…, accepted, job J` — what the journal says about an entry, short.
fn describe(e: &Entry) -> String {
    let mut s = format!(
        "sent {}, answer {}",
        rfc3339(e.sent_at_ms),
        e.answer.as_str()
    );
    if let Some(j) = &e.job {
        s.push_str(&format!(", job {}", j.job_id));
    }
    match e.end {
        Some(end) => s.push_str(&format!(", ended {}", end.as_str())),
        None => s.push_str(", unfinished"),
    }
    s
}

fn entry_json(e: &Entry) -> Value {
    json!({
        "id": e.id, "provider": e.provider, "vendor": e.vendor, "phone_id": e.phone.as_str(),
        "operation": e.operation.as_str(), "sent_at": rfc3339(e.sent_at_ms),
        "answer": e.answer.as_str(),
        "job_id": e.job.as_ref().map(|j| j.job_id()),
        "request_id": e.job.as_ref().and_then(|j| j.request_id.as_deref()),
        "error": e.error,
        "answered_at": e.answered_at_ms.map(rfc3339),
        "end": e.end.map(|x| x.as_str()),
        "ended_at": e.ended_at_ms.map(rfc3339),
    })
}

/// `cloudphone journal list`.
pub(crate) fn list(
    ctx: &Ctx,
    journal: Option<&Journal>,
    args: &ListArgs,
) -> Result<Exit, UsageError> {
    let journal = journal
        .ok_or_else(|| UsageError("`journal list` reads the journal: drop --no-journal".into()))?;
    let entries = journal
        .list(args.unfinished)
        .map_err(|e| UsageError(e.to_string()))?;
    let mut out = std::io::stdout().lock();
    match ctx.format {
        Format::Json => {
            let doc = json!({
                "path": journal.path().display().to_string(),
                "entries": entries.iter().map(entry_json).collect::<Vec<_>>(),
            });
            serde_json::to_writer_pretty(&mut out, &doc)
                .map_err(std::io::Error::other)
                .map_err(io)?;
            writeln!(out).map_err(io)?;
        }
        Format::Ndjson => {
            for e in &entries {
                serde_json::to_writer(&mut out, &entry_json(e))
                    .map_err(std::io::Error::other)
                    .map_err(io)?;
                writeln!(out).map_err(io)?;
            }
        }
        Format::Table => {
            let rows: Vec<Vec<String>> = entries
                .iter()
                .map(|e| {
                    vec![
                        e.id.to_string(),
                        format!("{}/{}", e.provider, e.phone),
                        e.operation.to_string(),
                        rfc3339(e.sent_at_ms),
                        e.answer.as_str().to_owned(),
                        e.job
                            .as_ref()
                            .map_or_else(|| "-".into(), |j| j.job_id.to_string()),
                        e.end.map_or("UNFINISHED", |x| x.as_str()).to_owned(),
                        e.error.clone().unwrap_or_default(),
                    ]
                })
                .collect();
            output::table(
                &mut out,
                &[
                    "ID",
                    "PHONE",
                    "OPERATION",
                    "SENT",
                    "ANSWER",
                    "JOB",
                    "END",
                    "DETAIL",
                ],
                &rows,
            )
            .map_err(io)?;
            let unfinished = entries.iter().filter(|e| e.is_unfinished()).count();
            writeln!(
                out,
                "{} entries, {unfinished} unfinished ({})",
                entries.len(),
                output::escape(&journal.path().display().to_string())
            )
            .map_err(io)?;
        }
    }
    out.flush().map_err(io)?;
    Ok(Exit::Ok)
}
