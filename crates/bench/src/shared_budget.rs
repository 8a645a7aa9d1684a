//! `cloudphone-bench shared-budget`: N processes on one vendor account, one rate budget in
//! Redis. How close do they get to the vendor's limit together, and does the vendor throttle
//! any of them?
//!
//! ```sh
//! cargo run --release -p cloudphone-bench -- shared-budget --processes 1,4,8
//! ```
//!
//! The parent starts a `redis-server` on a free loopback port and the simulator in-process
//! (Huawei, its per-second limit on, real time), then starts N worker processes of this binary
//! at once (`shared-budget --internal-worker CONFIG`). Each builds its provider through
//! `cloudphone::Config` with `[rate_limit] store = "redis://…"` and a budget equal to the
//! vendor's limit, and reads the status of every phone one detail call at a time. The figures
//! are the simulator's own rate meter (`/_sim/rates`): calls that reached its limit, the
//! throttling answers it gave, and when the first and the last call came. The sustained rate
//! is the calls let through after the first window's burst over the time they took:
//! `(admitted − limit) / (last − first)`. A last row runs the largest count without the store
//! (one budget per process), for comparison.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use cloudphone::{Config, Fleet, PhoneRef};
use cloudphone_redis::server::RedisServer;
use cloudphone_sim::{HuaweiLimits, SimConfig, Simulator, TableOptions, VendorControl};
use serde_json::{json, Value};

/// The subcommand's first argument.
const NAME: &str = "shared-budget";
/// Huawei's published limit: calls per second per API.
const VENDOR_LIMIT: u32 = 200;
const ENDPOINT: &str = "GET /v1/{project_id}/cloud-phone/phones/{phone_id}";

/// N processes sharing one rate budget in Redis, against the simulator's vendor limit.
#[derive(Debug, Parser)]
#[command(name = "cloudphone-bench shared-budget")]
struct Args {
    /// Worker process counts to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,4,8")]
    processes: Vec<usize>,
    /// Detail calls (phones) per run, shared among the workers.
    #[arg(long, default_value_t = 1000)]
    calls: usize,
    /// Calls in flight per worker.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// One worker: the configuration file to build the fleet from (its phones follow).
    #[arg(long, hide = true)]
    internal_worker: Option<std::path::PathBuf>,
    /// One worker's phones, `hw/ID` each.
    #[arg(hide = true)]
    phones: Vec<String>,
}

/// Runs the subcommand if the command line names it (`Some(exit code)`), else `None`.
pub(crate) fn dispatch() -> Option<std::process::ExitCode> {
    let mut argv = std::env::args_os();
    let exe = argv.next()?;
    if argv.next().is_none_or(|a| a != NAME) {
        return None;
    }
    let args = Args::parse_from(std::iter::once(exe).chain(argv));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .ok()?;
    Some(match rt.block_on(run(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::from(2)
        }
    })
}

async fn run(args: Args) -> Result<(), String> {
    if let Some(config) = &args.internal_worker {
        return worker(config, &args.phones).await;
    }
    let redis = RedisServer::start().map_err(|e| format!("cannot start redis-server: {e}"))?;
    let sim = Simulator::start(
        SimConfig::default()
            .with_phones(0, args.calls)
            .with_vendor_phones("alibaba", 0)
            .with_time_scale(1.0)
            .with_huawei_limits(HuaweiLimits {
                per_second: Some(VENDOR_LIMIT),
                ..HuaweiLimits::off()
            }),
    )
    .await
    .map_err(|e| format!("cannot start the simulator: {e}"))?;
    let hw = sim.huawei();
    let table = hw
        .provider_table(&TableOptions::new())
        .ok_or("the simulator wrote no Huawei table")?;
    let dir = std::env::temp_dir().join(format!("cloudphone-shared-budget-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let provider = format!(
        "[providers.hw]\n{table}\nstatus_strategy = \"detail\"\n\
         rate_limit_per_second = {VENDOR_LIMIT}\nconcurrency = {}\n",
        args.concurrency
    );
    let shared_config = dir.join("shared.toml");
    let own_config = dir.join("own.toml");
    let shared_doc = format!("[rate_limit]\nstore = \"{}\"\n\n{provider}", redis.url());
    for (path, doc) in [
        (&shared_config, shared_doc.as_str()),
        (&own_config, &provider),
    ] {
        std::fs::write(path, doc).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let phones: Vec<String> = sim
        .huawei_phone_ids()
        .into_iter()
        .map(|id| format!("hw/{id}"))
        .collect();
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let mut rows = Vec::new();
    // Every count with the shared store, then the largest without it, for comparison.
    let mut plan: Vec<(usize, bool)> = args.processes.iter().map(|&n| (n, true)).collect();
    if let Some(&n) = args.processes.iter().max() {
        plan.push((n, false));
    }
    for (n, shared) in plan {
        if n == 0 {
            continue;
        }
        let config = if shared { &shared_config } else { &own_config };
        // A fresh window: the previous run's calls are out of every budget.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        hw.reset_rates(Some(Duration::from_secs(1)));
        let started = Instant::now();
        let children = phones
            .chunks(phones.len().div_ceil(n))
            .map(|part| {
                Command::new(&exe)
                    .args([NAME, "--internal-worker"])
                    .arg(config)
                    .args(part)
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::inherit())
                    .spawn()
                    .map_err(|e| format!("cannot start a worker: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let outs = tokio::task::spawn_blocking(move || {
            children
                .into_iter()
                .map(|c| c.wait_with_output())
                .collect::<Result<Vec<_>, _>>()
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("a worker: {e}"))?;
        let wall = started.elapsed();
        let mut failed = 0u64;
        for out in &outs {
            let v: Value = serde_json::from_slice(&out.stdout)
                .map_err(|e| format!("a worker printed no result ({e}): {:?}", out.status))?;
            failed += v["failed"].as_u64().unwrap_or(0);
        }
        let rates = hw.rates();
        let seen = rates
            .endpoints
            .get(ENDPOINT)
            .cloned()
            .ok_or("no call reached the simulator")?;
        let span = (seen.last_ms.saturating_sub(seen.first_ms)) as f64 / 1e3;
        let calls = seen.admitted + seen.throttled;
        // Useful calls: a throttled one is sent again.
        let rate = (seen.admitted.saturating_sub(u64::from(VENDOR_LIMIT))) as f64 / span.max(1e-3);
        rows.push(json!({
            "processes": outs.len(),
            "budget": if shared { "shared (Redis)" } else { "one per process" },
            "calls": calls,
            "throttled": seen.throttled,
            "max_in_window": seen.max_in_window,
            "sustained_per_s": rate,
            "share_of_limit": rate / f64::from(VENDOR_LIMIT),
            "wall_s": wall.as_secs_f64(),
            "failed": failed,
        }));
    }
    let _ = std::fs::remove_dir_all(&dir);
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "| processes | budget | calls | vendor limit | sustained calls/s | share of limit | max in any 1 s (sliding) | throttled | failed | wall s |\n|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for r in &rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {VENDOR_LIMIT}/s | {:.1} | {:.1} % | {} | {} | {} | {:.2} |",
            r["processes"],
            r["budget"].as_str().unwrap_or(""),
            r["calls"],
            r["sustained_per_s"].as_f64().unwrap_or(0.0),
            100.0 * r["share_of_limit"].as_f64().unwrap_or(0.0),
            r["max_in_window"],
            r["throttled"],
            r["failed"],
            r["wall_s"].as_f64().unwrap_or(0.0),
        );
    }
    let _ = writeln!(out, "\n{}", json!({ "shared_budget": rows }));
    sim.shutdown().await;
    drop(redis);
    Ok(())
}

/// One worker: the status of `phones` through a fleet built from `config`; prints
/// `{"done": …, "failed": …}`.
async fn worker(config: &std::path::Path, phones: &[String]) -> Result<(), String> {
    let config = Config::from_path(config).map_err(|e| e.to_string())?;
    config
        .check_rate_limit_stores()
        .await
        .map_err(|e| e.to_string())?;
    let fleet = Fleet::from_config(&config).map_err(|e| e.to_string())?;
    let phones: Vec<PhoneRef> = phones
        .iter()
        .map(|p| p.parse())
        .collect::<Result<_, _>>()
        .map_err(|e: cloudphone::Error| e.to_string())?;
    let report = fleet.status(&phones).await.map_err(|e| e.to_string())?;
    let s = report.summary();
    println!(
        "{}",
        json!({"done": s.succeeded, "failed": s.failed + s.unknown})
    );
    Ok(())
}
