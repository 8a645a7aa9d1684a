//! `cloudphone demo`: the main job on every vendor the embedded simulator serves.
//!
//! The providers are built the way a user's are: a TOML file (in a temporary directory) whose
//! secrets are `${VAR}`s, parsed by the same `Config` code path as `--config`.

use std::collections::HashMap;
use std::io::Write;
use std::time::Duration;

use cloudphone::{Config, ErrorKind, Fleet, FleetReport, PhoneRef, ResetOptions};
use cloudphone_sim::{SimConfig, Simulator, TableOptions};

use super::status_change::run_op;
use super::wait::wait_rounds;
use super::Op;
use crate::args::{DemoArgs, WaitArgs};
use crate::exit::{io, Exit, UsageError};
use crate::output::{self, Format};
use crate::Ctx;

fn say(ctx: &Ctx, text: &str) {
    if ctx.format == Format::Table {
        println!("\n== {text}");
    }
}

/// The phone the demo asks for that no vendor has: its failure is reported as data, next to
/// the phones that succeed.
const MISSING: &str = "demo-no-such-phone";

/// Runs status → stop → wait → reset → wait → status across every vendor the simulator serves.
pub(crate) async fn run(ctx: &Ctx, args: DemoArgs) -> Result<Exit, UsageError> {
    let phones_per_vendor = args.phones.max(1);
    let sim = Simulator::start(SimConfig::default().with_time_scale(args.time_scale))
        .await
        .map_err(|e| UsageError(format!("cannot start the simulator: {e}")))?;

    // Each vendor's ready configuration table, its secret written as a `${VAR}` that the
    // environment of the demo supplies — as a user's file would.
    let mut doc =
        String::from("# Written by `cloudphone demo`: every simulated vendor on loopback.\n");
    let mut env: HashMap<String, String> = HashMap::new();
    let mut phones: Vec<PhoneRef> = Vec::new();
    for (i, v) in sim.vendors().iter().enumerate() {
        let have = v.phone_count();
        if have < phones_per_vendor {
            v.seed_phones(phones_per_vendor - have);
        }
        let var = format!("DEMO_SECRET_{i}");
        let plain = v.provider_table(&TableOptions::new());
        let with_var = v.provider_table(&TableOptions::new().with_secret(format!("${{{var}}}")));
        let (Some(plain), Some(with_var)) = (plain, with_var) else {
            continue;
        };
        if let Some(secret) = changed_value(&plain, &with_var) {
            env.insert(var, secret);
        }
        doc.push_str(&format!("\n[providers.{}]\n{with_var}", v.provider_name()));
        doc.push_str("retry_min_delay_ms = 50\n");
        phones.extend(
            v.phone_ids()
                .into_iter()
                .take(phones_per_vendor)
                .map(|id| PhoneRef::new(v.provider_name(), id)),
        );
    }
    // One phone no vendor has: a partial failure shows up as data.
    if let Some(first) = phones.first().map(|p| p.provider.clone()) {
        phones.insert(1, PhoneRef::new(first, MISSING));
    }
    let dir = tempfile::tempdir().map_err(|e| UsageError(format!("temp dir: {e}")))?;
    let path = dir.path().join("cloudphone.toml");
    std::fs::write(&path, &doc).map_err(|e| UsageError(format!("writing demo config: {e}")))?;
    let text = std::fs::read_to_string(&path).map_err(|e| UsageError(e.to_string()))?;
    let config = Config::from_toml_str_with_env(&text, &|v| env.get(v).cloned())
        .map_err(|e| UsageError(e.to_string()))?;
    let fleet = Fleet::from_config(&config).map_err(|e| UsageError(e.to_string()))?;

    if ctx.format == Format::Table {
        println!("cloudphone demo: {phones_per_vendor} phones per vendor on an embedded simulator");
        for v in sim.vendors() {
            println!("{:<12} {:<22} {}", v.provider_name(), v.label(), v.url());
        }
        println!("config       {}", path.display());
    }
    let wait = WaitArgs {
        wait: true,
        timeout: Duration::from_secs(120),
        poll_interval: Duration::from_millis(250),
    };
    let mut out = std::io::stdout().lock();
    let mut steps: Vec<FleetReport> = Vec::new();

    say(ctx, "status");
    steps.push(run_op(ctx, &fleet, &Op::Status, &phones, &mut out).await?);
    print(ctx, &mut out, steps.last())?;

    say(ctx, "stop (returns before the phones are down)");
    let stopping = run_op(ctx, &fleet, &Op::Stop, &phones, &mut out).await?;
    print(ctx, &mut out, Some(&stopping))?;
    say(ctx, "wait until stopped");
    steps.push(wait_rounds(ctx, &fleet, stopping, None, &wait, &mut out).await);
    print(ctx, &mut out, steps.last())?;

    let resettable: Vec<PhoneRef> = phones
        .iter()
        .filter(|p| p.phone.as_str() != MISSING)
        .cloned()
        .collect();
    say(ctx, "reset (one-click new machine / batch-reset)");
    let resetting = run_op(
        ctx,
        &fleet,
        &Op::Reset(ResetOptions::default()),
        &resettable,
        &mut out,
    )
    .await?;
    print(ctx, &mut out, Some(&resetting))?;
    say(ctx, "wait until running");
    steps.push(wait_rounds(ctx, &fleet, resetting, None, &wait, &mut out).await);
    print(ctx, &mut out, steps.last())?;

    say(ctx, "status");
    steps.push(run_op(ctx, &fleet, &Op::Status, &phones, &mut out).await?);
    print(ctx, &mut out, steps.last())?;

    if ctx.format == Format::Table {
        println!("\n== summary");
        for s in &steps {
            output::summary_line(&mut out, s).map_err(io)?;
        }
        let calls: u64 = sim.vendors().iter().map(|v| v.calls().total()).sum();
        println!("vendor API calls made: {calls}");
    }
    if args.keep_config {
        let kept = dir.keep();
        eprintln!("configuration kept in {}", kept.display());
    }
    sim.shutdown().await;
    // The missing phone and the simulator's seeded expired or busy phones are meant to fail;
    // any other failure (or an unknown outcome) is a real one.
    let unexpected = steps.iter().flat_map(|r| &r.outcomes).any(|o| {
        let expected = |e: &cloudphone::Error| {
            o.outcome.phone.as_str() == MISSING
                || matches!(
                    e.kind(),
                    ErrorKind::Busy | ErrorKind::Expired | ErrorKind::InvalidState
                )
        };
        o.outcome.is_unknown() || o.outcome.error().is_some_and(|e| !expected(e))
    });
    Ok(if unexpected {
        Exit::SomeFailed
    } else {
        Exit::Ok
    })
}

fn print(ctx: &Ctx, out: &mut dyn Write, report: Option<&FleetReport>) -> Result<(), UsageError> {
    match (ctx.format, report) {
        (Format::Ndjson, _) | (_, None) => Ok(()),
        (f, Some(r)) => output::report(out, f, r).map_err(io),
    }
}

/// The value that differs between two renderings of one TOML table: the secret the second
/// one replaced.
fn changed_value(plain: &str, replaced: &str) -> Option<String> {
    let a: toml::Table = plain.parse().ok()?;
    let b: toml::Table = replaced.parse().ok()?;
    fn walk(a: &toml::Table, b: &toml::Table) -> Option<String> {
        for (k, va) in a {
            match (va, b.get(k)?) {
                (toml::Value::Table(ta), toml::Value::Table(tb)) => {
                    if let Some(v) = walk(ta, tb) {
                        return Some(v);
                    }
                }
                (toml::Value::String(x), toml::Value::String(y)) if x != y => {
                    return Some(x.clone())
                }
                _ => {}
            }
        }
        None
    }
    walk(&a, &b)
}
