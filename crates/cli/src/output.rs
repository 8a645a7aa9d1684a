//! Rendering: a readable table, one JSON document, or one JSON object per line.
//!
//! Table cells hold what vendors send — names, ids, states, messages — so every cell is passed
//! through [`escape`] first: a vendor cannot forge rows, move the cursor or reorder text on the
//! operator's terminal. JSON output is escaped by `serde_json`.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::Write;

use cloudphone::{Error, FleetOutcome, FleetReport, Outcome, Summary};
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

/// An error as JSON: kind, vendor code, message and where it happened.
pub fn error_json(e: &Error) -> Value {
    json!({
        "kind": e.kind().as_str(), "code": e.vendor_code(), "message": e.message(),
        "endpoint": e.endpoint(), "request_id": e.request_id(),
        "attempts": (e.attempts() > 0).then_some(e.attempts()),
        "first_cause": e.first_cause(),
    })
}

/// One outcome as JSON (the `outcomes[]` element of `--output json`). `status` is `done`,
/// `pending`, `failed` or `unknown` (sent, answer lost: it may have been applied); `error`
/// holds the failure or why it is unknown, `wait_error` why waiting could not settle it.
pub fn outcome_json(o: &FleetOutcome) -> Value {
    let p = &o.outcome;
    let error = p.cause().map_or(Value::Null, error_json);
    json!({
        "provider": o.provider,
        "phone_id": p.phone.as_str(),
        "ok": matches!(p.outcome, Outcome::Done | Outcome::Pending),
        "status": p.outcome.as_str(),
        "state": p.state.as_ref().map(|s| s.state.as_str()),
        "raw_state": p.state.as_ref().map(|s| &*s.raw),
        "job_id": p.job.as_ref().map(|j| j.job_id()),
        "request_id": p.job.as_ref().and_then(|j| j.request_id.as_deref()),
        "name": p.name,
        "live_view_url": p.live_view_url,
        "error": error,
        "wait_error": p.wait_error.as_ref().map_or(Value::Null, error_json),
    })
}

/// The summary as JSON.
pub fn summary_json(s: &Summary) -> Value {
    json!({"total": s.total, "succeeded": s.succeeded, "pending": s.pending, "failed": s.failed,
           "unknown": s.unknown})
}

/// Jobs a vendor reported for no requested phone, as JSON.
pub fn stray_jobs_json(report: &FleetReport) -> Value {
    report
        .stray_jobs
        .iter()
        .map(|(provider, j)| {
            json!({"provider": provider, "phone_id": j.phone.as_ref().map(|p| p.as_str()),
                   "job_id": j.job.job_id(), "request_id": j.job.request_id()})
        })
        .collect()
}

/// The whole report as one JSON document.
pub fn report_json(report: &FleetReport) -> Value {
    json!({
        "operation": report.operation.as_str(),
        "outcomes": report.outcomes.iter().map(outcome_json).collect::<Vec<_>>(),
        "summary": summary_json(&report.summary()),
        "stray_jobs": stray_jobs_json(report),
    })
}

/// `s` made safe to print on a terminal: control characters (C0, DEL, C1), zero-width
/// characters, line and paragraph separators and bidirectional controls are written as
/// escapes — `\n`, `\r`, `\t`, `\x1b`, `\u{202e}` — and everything else is left as it is
/// (a backslash included: the point is that nothing can move the cursor or reorder text, not
/// that the text can be decoded back).
pub fn escape(s: &str) -> Cow<'_, str> {
    fn unsafe_char(c: char) -> bool {
        c.is_control()
            || matches!(
                c,
                '\u{061c}'
                    | '\u{200b}'..='\u{200f}'
                    | '\u{2028}'..='\u{202e}'
                    | '\u{2060}'..='\u{2069}'
                    | '\u{feff}'
            )
    }
    if !s.chars().any(unsafe_char) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x80 && unsafe_char(c) => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if unsafe_char(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Prints rows as an aligned table, every cell [escaped](escape).
pub fn table(out: &mut dyn Write, header: &[&str], rows: &[Vec<String>]) -> std::io::Result<()> {
    let header: Vec<Cow<'_, str>> = header.iter().map(|h| escape(h)).collect();
    let rows: Vec<Vec<Cow<'_, str>>> = rows
        .iter()
        .map(|r| r.iter().map(|c| escape(c)).collect())
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in &rows {
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
    writeln!(out, "{}", line(header.iter().map(|h| h.as_ref()).collect()))?;
    for r in &rows {
        writeln!(out, "{}", line(r.iter().map(|c| c.as_ref()).collect()))?;
    }
    Ok(())
}

/// `kind (code): message`, with the attempts and first cause when retried.
fn error_text(e: &Error) -> String {
    let code = e
        .vendor_code()
        .map(|c| format!(" ({c})"))
        .unwrap_or_default();
    let mut s = format!("{}{code}: {}", e.kind(), e.message());
    if e.attempts() > 1 {
        let _ = write!(s, " (after {} attempts", e.attempts());
        if let Some(first) = e.first_cause() {
            let _ = write!(s, "; first: {first}");
        }
        s.push(')');
    }
    if let Some(r) = e.request_id() {
        let _ = write!(s, " [request {r}]");
    }
    s
}

fn outcome_row(o: &FleetOutcome) -> Vec<String> {
    let p = &o.outcome;
    let (result, mut detail) = match &p.outcome {
        Outcome::Done => ("done", p.live_view_url.clone().unwrap_or_default()),
        Outcome::Pending => ("pending", p.live_view_url.clone().unwrap_or_default()),
        Outcome::Failed(e) => ("FAILED", error_text(e)),
        Outcome::Unknown(e) => (
            "UNKNOWN",
            format!("may have been applied — {}", error_text(e)),
        ),
        _ => ("?", String::new()),
    };
    if let Some(w) = &p.wait_error {
        if !detail.is_empty() {
            detail.push_str("; ");
        }
        let _ = write!(detail, "wait: {}", error_text(w));
    }
    vec![
        format!("{}/{}", o.provider, p.phone),
        result.to_owned(),
        p.state
            .as_ref()
            .map(|s| format!("{} ({})", s.state, s.raw))
            .unwrap_or_else(|| "-".into()),
        p.job
            .as_ref()
            .map(|j| j.job_id.to_string())
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
            summary_line(out, report)?;
            for (provider, j) in &report.stray_jobs {
                let phone = j.phone.as_ref().map_or("no phone", |p| p.as_str());
                writeln!(
                    out,
                    "stray job {}/{} (for {}) reported by the vendor",
                    escape(provider),
                    escape(&j.job.job_id),
                    escape(phone)
                )?;
            }
            Ok(())
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

/// `stop: 12 phones — 10 done, 1 pending, 1 failed` (and `, 2 unknown (may have been
/// applied)` when there are such).
pub fn summary_line(out: &mut dyn Write, report: &FleetReport) -> std::io::Result<()> {
    let s = report.summary();
    let unknown = if s.unknown > 0 {
        format!(", {} unknown (may have been applied)", s.unknown)
    } else {
        String::new()
    };
    writeln!(
        out,
        "{}: {} phones — {} done, {} pending, {} failed{unknown}",
        report.operation, s.total, s.succeeded, s.pending, s.failed
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What must never reach a terminal from a vendor.
    fn dangerous(c: char) -> bool {
        c.is_control()
            || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
            || matches!(c, '\u{200b}'..='\u{200d}' | '\u{2060}' | '\u{feff}')
    }

    #[test]
    fn escapes_look_like_rust_escapes() {
        assert_eq!(escape("a\nb\rc\td"), "a\\nb\\rc\\td");
        assert_eq!(escape("\u{1b}[2J"), "\\x1b[2J");
        assert_eq!(escape("\0\u{7f}"), "\\x00\\x7f");
        assert_eq!(escape("\u{85}\u{9b}"), "\\u{85}\\u{9b}");
        assert_eq!(escape("abc\u{202e}fed"), "abc\\u{202e}fed");
        assert_eq!(escape("\u{2066}\u{2069}"), "\\u{2066}\\u{2069}");
        assert_eq!(escape("\u{200b}\u{feff}"), "\\u{200b}\\u{feff}");
    }

    #[test]
    fn ordinary_text_is_left_alone() {
        for s in [
            "",
            "gl/528715748189668352",
            "running (0)",
            "é 中文 ✓",
            "a\\nb",
        ] {
            assert!(matches!(escape(s), Cow::Borrowed(b) if b == s), "{s}");
        }
    }

    #[test]
    fn every_dangerous_character_becomes_a_printable_escape() {
        for c in (0..=0x10ffff_u32).filter_map(char::from_u32) {
            let s = c.to_string();
            let e = escape(&s);
            if dangerous(c) {
                assert!(
                    e.starts_with('\\') && e.chars().all(|c| c.is_ascii_graphic()),
                    "U+{:04X} -> {e:?}",
                    c as u32
                );
            } else {
                assert!(
                    e == s || e.starts_with("\\u{"),
                    "U+{:04X} -> {e:?}",
                    c as u32
                );
            }
        }
    }

    #[test]
    fn a_vendor_string_cannot_forge_rows_or_move_the_cursor() {
        let rows = vec![vec![
            "gl/1".to_owned(),
            "done\ngl/2  done  running (0)".to_owned(),
            "\u{1b}[1A\u{1b}[2K\rrunning".to_owned(),
            "\u{202e}gnimmargorp".to_owned(),
        ]];
        let mut out = Vec::new();
        table(&mut out, &["PHONE", "RESULT", "STATE", "DETAIL"], &rows).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(!text.chars().any(|c| c != '\n' && dangerous(c)), "{text:?}");
        assert!(text.contains("done\\ngl/2"), "{text}");
        assert!(text.contains("\\x1b[1A\\x1b[2K\\rrunning"), "{text}");
        assert!(text.contains("\\u{202e}gnimmargorp"), "{text}");
        // Columns line up on the escaped text.
        let header = text.lines().next().unwrap();
        let row = text.lines().nth(1).unwrap();
        assert_eq!(header.find("STATE"), row.find("\\x1b"), "{text}");
    }
}
