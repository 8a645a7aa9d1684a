//! `providers`: the configured providers, their types and capabilities.

use std::io::Write;

use cloudphone::Fleet;
use serde_json::json;

use crate::exit::{io, Exit, UsageError};
use crate::output::{self, Format};
use crate::Ctx;

/// `cloudphone providers`.
pub(crate) fn run(ctx: &Ctx, fleet: &Fleet) -> Result<Exit, UsageError> {
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
