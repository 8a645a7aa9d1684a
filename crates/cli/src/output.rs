//! Rendering: a readable table, one JSON document, or one JSON object per line.

use std::io::Write;

use cloudphone::{FleetOutcome, FleetReport, Outcome, Summary};
use serde_json::{json, Value};

/// The output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A table for people.
    Table,
    /// One JSON document.
    Json,
    /// One JSON object per outcome, printed as outcomes complete.
    Ndjson,
}

/// One outcome as JSON (the `outcomes[]` element of `--output json`).
pub fn outcome_json(o: &FleetOutcome) -> Value {
    let p = &o.outcome;
    let (status, error) = match &p.outcome {
        Outcome::Done => ("done", Value::Null),
        Outcome::Pending => ("pending", Value::Null),
        Outcome::Failed(e) => (
            "failed",
            json!({"kind": e.kind().as_str(), "code": e.vendor_code(), "message": e.message()}),
        ),
        _ => ("unknown", Value::Null),
    };
    json!({
        "provider": o.provider,
        "phone_id": p.phone.as_str(),
        "ok": error.is_null(),
        "status": status,
        "state": p.state.as_ref().map(|s| s.state.as_str()),
        "raw_state": p.state.as_ref().map(|s| s.raw.as_str()),
        "job_id": p.job.as_ref().map(|j| j.job_id.as_str()),
        "request_id": p.job.as_ref().and_then(|j| j.request_id.as_deref()),
        "name": p.name,
        "live_view_url": p.live_view_url,
        "error": error,
    })
}

/// The summary as JSON.
pub fn summary_json(s: &Summary) -> Value {
    json!({"total": s.total, "succeeded": s.succeeded, "pending": s.pending, "failed": s.failed})
}

/// The whole report as one JSON document.
pub fn report_json(report: &FleetReport) -> Value {
    json!({
        "operation": report.operation.as_str(),
        "outcomes": report.outcomes.iter().map(outcome_json).collect::<Vec<_>>(),
        "summary": summary_json(&report.summary()),
    })
}

/// Prints rows as an aligned table.
pub fn table(out: &mut dyn Write, header: &[&str], rows: &[Vec<String>]) -> std::io::Result<()> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  "));
            }
        }
        s.trim_end().to_owned()
    };
    writeln!(out, "{}", line(header.to_vec()))?;
    for r in rows {
        writeln!(out, "{}", line(r.iter().map(String::as_str).collect()))?;
    }
    Ok(())
}

fn outcome_row(o: &FleetOutcome) -> Vec<String> {
    let p = &o.outcome;
    let (result, detail) = match &p.outcome {
        Outcome::Done => ("done", p.live_view_url.clone().unwrap_or_default()),
        Outcome::Pending => ("pending", p.live_view_url.clone().unwrap_or_default()),
        Outcome::Failed(e) => {
            let code = e
                .vendor_code()
                .map(|c| format!(" ({c})"))
                .unwrap_or_default();
            ("FAILED", format!("{}{code}: {}", e.kind(), e.message()))
        }
        _ => ("unknown", String::new()),
    };
    vec![
        format!("{}/{}", o.provider, p.phone),
        result.to_owned(),
        p.state
            .as_ref()
            .map(|s| format!("{} ({})", s.state, s.raw))
            .unwrap_or_else(|| "-".into()),
        p.job
            .as_ref()
            .map(|j| j.job_id.clone())
            .unwrap_or_else(|| "-".into()),
        detail,
    ]
}

/// Prints a report in `format` (for ndjson: every outcome not yet printed).
pub fn report(out: &mut dyn Write, format: Format, report: &FleetReport) -> std::io::Result<()> {
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, &report_json(report))?;
            writeln!(out)
        }
        Format::Ndjson => {
            for o in &report.outcomes {
                ndjson_line(out, report, o)?;
            }
            Ok(())
        }
        Format::Table => {
            let rows: Vec<_> = report.outcomes.iter().map(outcome_row).collect();
            table(out, &["PHONE", "RESULT", "STATE", "JOB", "DETAIL"], &rows)?;
            summary_line(out, report)
        }
    }
}

/// One ndjson line.
pub fn ndjson_line(
    out: &mut dyn Write,
    report: &FleetReport,
    o: &FleetOutcome,
) -> std::io::Result<()> {
    let mut v = outcome_json(o);
    v["operation"] = json!(report.operation.as_str());
    serde_json::to_writer(&mut *out, &v)?;
    writeln!(out)
}

/// `stop: 12 phones — 10 done, 1 pending, 1 failed`.
pub fn summary_line(out: &mut dyn Write, report: &FleetReport) -> std::io::Result<()> {
    let s = report.summary();
    writeln!(
        out,
        "{}: {} phones — {} done, {} pending, {} failed",
        report.operation, s.total, s.succeeded, s.pending, s.failed
    )
}
