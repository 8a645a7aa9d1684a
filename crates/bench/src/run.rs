//! The parent process: one child process per measurement, then `bench-results.{md,json}`.

use std::process::{Command, Stdio};
use std::time::Instant;

use serde_json::{json, Value};

use crate::floor::measure_floor;
use crate::measure::{measure, OPS};
use crate::vendors::{self, Vendor};
use crate::{report, sim, BenchArgs, Error};

/// The `--internal-op` of the transport floor ([`measure_floor`]).
const FLOOR_OP: &str = "floor";

/// Runs the benchmark — or, with the internal flags, one measurement of it, or its simulator.
pub(crate) async fn run(args: BenchArgs) -> Result<(), Error> {
    if !(args.time_scale > 0.0 && args.time_scale.is_finite()) {
        return Err("--time-scale must be positive".into());
    }
    if args.concurrency == 0 || args.concurrency > 64 {
        return Err("--concurrency must be between 1 and 64 (the clients' maximum)".into());
    }
    let all = vendors::all().await?;
    let find = |name: &str| {
        all.iter().find(|v| v.is(name)).ok_or_else(|| {
            let names: Vec<&str> = all.iter().map(|v| v.name).collect();
            format!(
                "unknown vendor `{name}` (the simulator's: {})",
                names.join(", ")
            )
        })
    };
    if let (Some(name), Some(n)) = (args.internal_vendor.as_deref(), args.internal_size) {
        let vendor = find(name)?;
        if args.internal_sim {
            return sim::serve(&args, vendor, n).await;
        }
        let doc = if args.internal_op.as_deref() == Some(FLOOR_OP) {
            measure_floor(&args, vendor, n).await?
        } else {
            measure(&args, vendor, n, args.internal_naive).await?
        };
        println!("{doc}");
        return Ok(());
    }
    let sizes = args.sizes();
    let chosen: Vec<&Vendor> = if args.vendors.is_empty() {
        all.iter().collect()
    } else {
        let mut chosen = Vec::new();
        for v in &all {
            if args.vendors.iter().any(|n| v.is(n)) {
                chosen.push(v);
            }
        }
        for name in &args.vendors {
            find(name)?;
        }
        chosen
    };
    if sizes.is_empty() || chosen.is_empty() {
        return Err("nothing to measure".into());
    }
    let started = Instant::now();
    let mut runs: Vec<Value> = Vec::new();
    let mut floors: Vec<Value> = Vec::new();
    for &n in &sizes {
        for &v in &chosen {
            for op in OPS {
                eprintln!("bench: {} × {n} phones: {op} …", v.name);
                let doc = tokio::task::block_in_place(|| child(&args, &[(v, n)], Some(op)))?;
                runs.extend(doc);
            }
            // GeeLark's newOne takes one id per call: what bare reqwest costs per call bounds
            // its CPU figure from below.
            if v.type_name == cloudphone::geelark::VENDOR {
                eprintln!("bench: {} × {n} phones: newOne transport floor …", v.name);
                floors.extend(tokio::task::block_in_place(|| {
                    child(&args, &[(v, n)], Some(FLOOR_OP))
                })?);
            }
        }
    }
    let mut naive: Vec<Value> = Vec::new();
    if !(args.no_naive || args.quick) {
        let n = args.naive_phones.unwrap_or(sizes[0]);
        eprintln!("bench: naive clients × {n} phones (one request per phone, sequential) …");
        let jobs: Vec<(&Vendor, usize)> = chosen.iter().map(|v| (*v, n)).collect();
        naive = tokio::task::block_in_place(|| child(&args, &jobs, None))?;
    }
    let doc = json!({
        "settings": settings(&args, &sizes, &chosen, &runs),
        "machine": machine(),
        "elapsed_s": started.elapsed().as_secs_f64(),
        "runs": runs,
        "floors": floors,
        "naive": naive,
    });
    let md = report::markdown(&doc);
    print!("{md}");
    std::fs::create_dir_all(&args.out_dir)
        .map_err(|e| format!("cannot create {}: {e}", args.out_dir.display()))?;
    let write = |name: &str, text: String| {
        let path = args.out_dir.join(name);
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
    };
    write("bench-results.md", md)?;
    let pretty = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?;
    write("bench-results.json", pretty + "\n")?;
    eprintln!(
        "bench: wrote {} and {}",
        args.out_dir.join("bench-results.md").display(),
        args.out_dir.join("bench-results.json").display()
    );
    Ok(())
}

/// The settings of the run; each vendor's batch sizes as its provider's capabilities said.
fn settings(args: &BenchArgs, sizes: &[usize], chosen: &[&Vendor], runs: &[Value]) -> Value {
    let batch_sizes: serde_json::Map<String, Value> = chosen
        .iter()
        .filter_map(|v| {
            let run = runs.iter().find(|r| r["vendor"] == v.name)?;
            Some((v.name.to_owned(), run["batch_sizes"].clone()))
        })
        .collect();
    json!({
        "sizes": sizes,
        "vendors": chosen.iter().map(|v| v.name).collect::<Vec<_>>(),
        "latency_ms": args.latency_ms,
        "rate_limits": args.limits,
        "time_scale": args.scale(),
        "concurrency": args.concurrency,
        "poll_interval_ms": args.poll_interval.as_millis() as u64,
        "batch_sizes": batch_sizes,
    })
}

fn machine() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_default();
    json!({
        "cpus": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "cpu_model": cpu,
        "os": std::env::consts::OS,
        "arch": std::env::consts::ARCH,
    })
}

/// Runs one measurement per job in child processes (all at once) and returns their documents:
/// one operation of this client, or (`op` None) every operation of the naive client.
fn child(
    args: &BenchArgs,
    jobs: &[(&Vendor, usize)],
    op: Option<&str>,
) -> Result<Vec<Value>, Error> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let mut children = Vec::new();
    for &(vendor, n) in jobs {
        let mut cmd = Command::new(&exe);
        cmd.args(["--internal-vendor", vendor.type_name])
            .args(["--internal-size", &n.to_string()])
            .args(["--latency-ms", &args.latency_ms.to_string()])
            .args(["--time-scale", &args.time_scale.to_string()])
            .args(["--concurrency", &args.concurrency.to_string()])
            .args([
                "--poll-interval",
                &format!("{}ms", args.poll_interval.as_millis()),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if args.limits {
            cmd.arg("--limits");
        }
        match op {
            Some(op) => cmd.args(["--internal-op", op]),
            None => cmd.arg("--internal-naive"),
        };
        children.push(
            cmd.spawn()
                .map_err(|e| format!("cannot start a bench process: {e}"))?,
        );
    }
    let mut docs = Vec::new();
    for c in children {
        let out = c
            .wait_with_output()
            .map_err(|e| format!("bench process: {e}"))?;
        let text = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            return Err(format!("a bench process failed ({}): {text}", out.status));
        }
        let line = text.lines().last().unwrap_or_default();
        docs.push(
            serde_json::from_str(line)
                .map_err(|e| format!("bench process answered `{line}`: {e}"))?,
        );
    }
    Ok(docs)
}
