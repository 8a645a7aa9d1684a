//! `cloudphone demo`: the main job on both vendors, on the embedded simulator.
//!
//! The providers are built the way a user's are: a TOML file (in a temporary directory) whose
//! secrets are `${VAR}`s, parsed by the same `Config` code path as `--config`.

use std::collections::HashMap;
use std::io::Write;
use std::time::Duration;

use cloudphone::{Config, ErrorKind, Fleet, FleetReport, PhoneRef, ResetOptions};
use cloudphone_sim::{SimConfig, Simulator};

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

/// Runs status → stop → wait → reset → wait → status across both vendors.
pub(crate) async fn run(ctx: &Ctx, args: DemoArgs) -> Result<Exit, UsageError> {
    let phones_per_vendor = args.phones.max(1);
    let sim = Simulator::start(
        SimConfig::default()
            .with_phones(phones_per_vendor, phones_per_vendor)
            .with_time_scale(args.time_scale),
    )
    .await
    .map_err(|e| UsageError(format!("cannot start the simulator: {e}")))?;

    // One GeeLark phone is remotely connected, so its stop is refused (43006): the demo shows
    // a partial failure reported as data, next to the phones that succeeded.
    let busy = sim.geelark_phone_ids()[0].clone();
    sim.geelark().set_remote_connected(&busy, true);

    let creds = sim.credentials().clone();
    let doc = format!(
        r#"# Written by `cloudphone demo`: a simulator of both vendors on loopback.
[providers.gl]
type = "geelark"
base_url = "{gl}"
app_id = "{app_id}"
api_key = "${{DEMO_GEELARK_API_KEY}}"
retry_min_delay_ms = 50

[providers.hw]
type = "huawei-cph"
region = "{region}"
project_id = "{project}"
endpoint = "{hw}"
iam_endpoint = "{iam}"
access_key = "{ak}"
secret_key = "${{DEMO_HW_SECRET_KEY}}"
retry_min_delay_ms = 50
"#,
        gl = sim.geelark_url(),
        app_id = creds.geelark_app_id,
        region = creds.huawei_region,
        project = creds.huawei_project_id,
        hw = sim.huawei_url(),
        iam = sim.iam_url(),
        ak = creds.huawei_access_key,
    );
    let dir = tempfile::tempdir().map_err(|e| UsageError(format!("temp dir: {e}")))?;
    let path = dir.path().join("cloudphone.toml");
    std::fs::write(&path, &doc).map_err(|e| UsageError(format!("writing demo config: {e}")))?;
    let env: HashMap<&str, String> = HashMap::from([
        ("DEMO_GEELARK_API_KEY", creds.geelark_api_key.clone()),
        ("DEMO_HW_SECRET_KEY", creds.huawei_secret_key.clone()),
    ]);
    let text = std::fs::read_to_string(&path).map_err(|e| UsageError(e.to_string()))?;
    let config = Config::from_toml_str_with_env(&text, &|v| env.get(v).cloned())
        .map_err(|e| UsageError(e.to_string()))?;
    let fleet = Fleet::from_config(&config).map_err(|e| UsageError(e.to_string()))?;

    let phones: Vec<PhoneRef> = sim
        .geelark_phone_ids()
        .into_iter()
        .map(|id| PhoneRef::new("gl", id))
        .chain(
            sim.huawei_phone_ids()
                .into_iter()
                .map(|id| PhoneRef::new("hw", id)),
        )
        .collect();

    if ctx.format == Format::Table {
        println!(
            "cloudphone demo: {} GeeLark and {} Huawei CPH phones on an embedded simulator\n\
             GeeLark  {}\nHuawei   {} (IAM {})\nconfig   {}",
            phones_per_vendor,
            phones_per_vendor,
            sim.geelark_url(),
            sim.huawei_url(),
            sim.iam_url(),
            path.display()
        );
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
        .filter(|p| p.phone.as_str() != busy)
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
        let calls = sim.geelark().calls().total() + sim.huawei().calls().total();
        println!("vendor API calls made: {calls}");
    }
    if args.keep_config {
        let kept = dir.keep();
        eprintln!("configuration kept in {}", kept.display());
    }
    sim.shutdown().await;
    // The remotely connected phone and the simulator's expired phones are meant to fail;
    // any other failure is a real one.
    let unexpected = steps.iter().flat_map(|r| &r.outcomes).any(|o| {
        o.outcome
            .error()
            .is_some_and(|e| !matches!(e.kind(), ErrorKind::Busy | ErrorKind::Expired))
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
