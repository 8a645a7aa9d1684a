//! `list`: every phone of the chosen providers, page by page (ndjson prints each as it comes).

use std::io::Write;

use cloudphone::Fleet;
use futures::StreamExt;
use serde_json::json;

use crate::args::ListArgs;
use crate::exit::{io, Exit, UsageError};
use crate::output::{self, Format};
use crate::Ctx;

/// `cloudphone list`.
pub(crate) async fn run(ctx: &Ctx, fleet: &Fleet, args: &ListArgs) -> Result<Exit, UsageError> {
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
