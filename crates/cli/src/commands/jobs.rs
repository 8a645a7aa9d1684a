//! `jobs`: look up vendor jobs by `NAME/JOB_ID`.

use std::collections::BTreeMap;
use std::io::Write;

use cloudphone::{Fleet, JobRef};
use serde_json::json;

use super::check_providers;
use crate::args::{JobsArgs, PhoneArgs};
use crate::exit::{io, Exit, UsageError};
use crate::output::{self, Format};
use crate::{input, Ctx};

/// `cloudphone jobs`.
pub(crate) async fn run(ctx: &Ctx, fleet: &Fleet, args: &JobsArgs) -> Result<Exit, UsageError> {
    let refs = input::phones(&PhoneArgs {
        phones: args.jobs.clone(),
        provider: args.provider.clone(),
        from: None,
    })?;
    check_providers(fleet, &refs)?;
    let mut by_provider: BTreeMap<&str, Vec<JobRef>> = BTreeMap::new();
    for r in &refs {
        by_provider
            .entry(r.provider.as_str())
            .or_default()
            .push(JobRef::new(
                r.phone.as_str(),
                args.request_id.as_deref().map(Into::into),
            ));
    }
    let mut out = std::io::stdout().lock();
    let mut rows = Vec::new();
    let mut docs = Vec::new();
    let mut failed = false;
    for (name, jobs) in by_provider {
        match fleet.providers()[name].jobs(&jobs).await {
            Ok(infos) => {
                for j in infos {
                    let state = format!("{:?}", j.state).to_lowercase();
                    failed |= j.error.is_some();
                    let err = j.error.as_ref().map(|e| e.to_string());
                    rows.push(vec![
                        format!("{name}/{}", j.job.job_id),
                        j.phone.as_ref().map(|p| p.to_string()).unwrap_or_default(),
                        format!("{state} ({})", j.raw_state),
                        err.clone().unwrap_or_default(),
                    ]);
                    docs.push(json!({
                        "provider": name, "job_id": j.job.job_id(), "request_id": j.job.request_id(),
                        "phone_id": j.phone.as_ref().map(|p| p.as_str()), "state": state,
                        "raw_state": j.raw_state, "error": err,
                    }));
                }
            }
            Err(e) => {
                eprintln!(
                    "error: `{}`: {}",
                    output::escape(name),
                    output::escape(&e.to_string())
                );
                failed = true;
            }
        }
    }
    match ctx.format {
        Format::Table => {
            output::table(&mut out, &["JOB", "PHONE", "STATE", "ERROR"], &rows).map_err(io)?
        }
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &json!({ "jobs": docs }))
                .map_err(|e| io(std::io::Error::other(e)))?;
            writeln!(out).map_err(io)?;
        }
        Format::Ndjson => {
            for d in docs {
                writeln!(out, "{d}").map_err(io)?;
            }
        }
    }
    Ok(if failed { Exit::SomeFailed } else { Exit::Ok })
}
