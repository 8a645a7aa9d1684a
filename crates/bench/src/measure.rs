//! One measurement, in a child process of its own: status, stop + wait and reset + wait of one
//! vendor's fleet, with the client's CPU time and peak memory probed around each operation.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cloudphone::{
    BatchReport, CloudPhoneProvider, Config, Outcome, PhoneState, ResetOptions, WaitOptions,
};
use serde_json::{json, Value};

use crate::ideal::ideal;
use crate::sim::{Admin, SimProcess};
use crate::vendors::Vendor;
use crate::{BenchArgs, Error};

/// The operations, each measured on a freshly seeded fleet in a process of its own.
pub(crate) const OPS: [&str; 3] = ["status", "stop", "reset"];

/// How long waiting may take before the bench gives up on a phone.
const WAIT_TIMEOUT: Duration = Duration::from_secs(900);

/// Builds the provider from the table the simulator wrote for it, as a user's is built
/// (through `Config`), with the bench's settings added: concurrency, retry delays, the
/// vendor's tuning and rate budgets, and for the naive client one phone per request.
fn provider(
    args: &BenchArgs,
    vendor: &Vendor,
    sim: &SimProcess,
    naive: bool,
) -> Result<Arc<dyn CloudPhoneProvider>, Error> {
    let bad = |e: &dyn std::fmt::Display| format!("the simulator's configuration: {e}");
    let mut doc: toml::Table = sim.config.parse().map_err(|e| bad(&e))?;
    let table = doc
        .get_mut("providers")
        .and_then(|p| p.get_mut(&sim.provider))
        .and_then(toml::Value::as_table_mut)
        .ok_or_else(|| bad(&format!("no [providers.{}] table", sim.provider)))?;
    let conc = if naive { 1 } else { args.concurrency };
    let common =
        format!("concurrency = {conc}\nretry_min_delay_ms = 50\nretry_max_delay_ms = 2000\n");
    let limits = if args.limits {
        vendor.limits_on
    } else {
        vendor.limits_off
    };
    let naive_keys = if naive { vendor.naive } else { "" };
    for keys in [common.as_str(), vendor.tuning, limits, naive_keys] {
        let keys: toml::Table = keys
            .parse()
            .map_err(|e| format!("the bench's settings for {}: {e}", vendor.name))?;
        table.extend(keys);
    }
    let text = toml::to_string(&doc).map_err(|e| bad(&e))?;
    let config = Config::from_toml_str_with_env(&text, &|_| None).map_err(|e| e.to_string())?;
    config.build(&sim.provider).map_err(|e| e.to_string())
}

/// CPU time of this process, every thread including those that have ended, from the
/// process CPU clock (`CLOCK_PROCESS_CPUTIME_ID`, nanosecond-exact).
///
/// The bench used to sum `/proc/self/task/*/schedstat`: that misses the threads that ended
/// during the operation (a runtime's blocking pool lets idle ones go) and moves in scheduler
/// ticks for the reading thread.
fn cpu_time() -> Duration {
    cloudphone_sim::process_cpu_time()
}

/// Resets the peak resident set size (`VmHWM`) to the current one; false where not allowed.
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// `VmHWM` in MiB.
fn peak_rss_mib() -> f64 {
    status_mib("VmHWM:")
}

/// A memory figure of `/proc/self/status` (`VmHWM:`, `VmRSS:`) in MiB.
fn status_mib(key: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with(key))?;
            line.split_whitespace().nth(1)?.parse::<f64>().ok()
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// One measured operation.
struct Probe {
    t0: Instant,
    cpu0: Duration,
    peak_reset: bool,
    /// The resident set when the operation started (the phone list, the runtime, the
    /// provider): the part of the peak that is not the operation's own.
    rss0: f64,
    /// Wall and CPU time of the bench's own look at the simulator in the middle of the
    /// operation, taken off the operation's.
    excluded: (Duration, Duration),
}

impl Probe {
    fn start() -> Probe {
        let peak_reset = reset_peak();
        Probe {
            rss0: status_mib("VmRSS:"),
            t0: Instant::now(),
            cpu0: cpu_time(),
            peak_reset,
            excluded: (Duration::ZERO, Duration::ZERO),
        }
    }

    /// Runs `f` (the bench's own work) without counting its time towards the operation.
    async fn aside<T>(&mut self, f: impl std::future::Future<Output = T>) -> T {
        let (t, c) = (Instant::now(), cpu_time());
        let out = f.await;
        self.excluded.0 += t.elapsed();
        self.excluded.1 += cpu_time().saturating_sub(c);
        out
    }

    /// Wall seconds, CPU seconds, peak MiB, and whether the peak is this operation's own.
    fn stop(&self) -> (f64, f64, f64, bool) {
        let wall = self
            .t0
            .elapsed()
            .saturating_sub(self.excluded.0)
            .as_secs_f64();
        let cpu = cpu_time()
            .saturating_sub(self.cpu0)
            .saturating_sub(self.excluded.1)
            .as_secs_f64();
        (wall, cpu, peak_rss_mib(), self.peak_reset)
    }
}

/// One library wait, as `cloudphone … --wait` does, counting its poll rounds from the
/// progress events it hands out.
async fn wait_rounds(
    p: &dyn CloudPhoneProvider,
    report: BatchReport,
    poll: Duration,
) -> (BatchReport, u32, Option<String>) {
    let options = WaitOptions::default()
        .timeout(WAIT_TIMEOUT)
        .poll_interval(poll);
    let rounds = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let counter = rounds.clone();
    let operation = report.operation;
    // Handed over, as the `*_and_wait` helpers do: the wait updates the outcomes in place.
    let waited = cloudphone::progress::observe(
        move |ev| {
            if let cloudphone::progress::EventKind::Waited(_) = ev.kind {
                counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        },
        p.wait_owned(report, &options),
    )
    .await;
    let rounds = rounds.load(std::sync::atomic::Ordering::Relaxed);
    match waited {
        Ok(r) => (r, rounds, None),
        Err(e) => (
            BatchReport::new(operation, Vec::new()),
            rounds,
            Some(e.to_string()),
        ),
    }
}

/// The naive client's wait: one status request per pending phone, one phone after another.
async fn naive_wait(
    p: &dyn CloudPhoneProvider,
    report: BatchReport,
    target: PhoneState,
    poll: Duration,
) -> (BatchReport, u32, Option<String>) {
    let mut outcomes = report.outcomes;
    let deadline = Instant::now() + WAIT_TIMEOUT;
    let mut rounds = 0;
    loop {
        let mut pending = 0;
        for o in outcomes.iter_mut().filter(|o| o.is_pending()) {
            match p.status(std::slice::from_ref(&o.phone)).await {
                Ok(r) if r.outcomes.first().and_then(|s| s.phone_state()) == Some(target) => {
                    o.outcome = Outcome::Done;
                }
                Ok(_) => pending += 1,
                Err(e) => {
                    return (
                        BatchReport::new(report.operation, outcomes),
                        rounds,
                        Some(e.to_string()),
                    )
                }
            }
        }
        rounds += 1;
        if pending == 0 || Instant::now() >= deadline {
            return (BatchReport::new(report.operation, outcomes), rounds, None);
        }
        tokio::time::sleep(poll).await;
    }
}

/// Measures status, stop + wait and reset + wait (or `--internal-op` alone) for one vendor
/// and fleet size.
pub(crate) async fn measure(
    args: &BenchArgs,
    vendor: &Vendor,
    n: usize,
    naive: bool,
) -> Result<Value, Error> {
    let sim = tokio::task::block_in_place(|| SimProcess::start(args, vendor, n))?;
    let admin = Admin {
        http: reqwest::Client::new(),
        url: sim.url.clone(),
    };
    let ids = admin.phone_ids(n).await?;
    let provider = provider(args, vendor, &sim, naive)?;
    // The ideal is the batching client's, for the naive client too: what the API allows.
    let model = if naive {
        self::provider(args, vendor, &sim, false)?
    } else {
        provider.clone()
    };
    let p = provider.as_ref();
    let poll = args.poll_interval;
    let mut rows = Vec::new();
    for op in OPS {
        if args.internal_op.as_deref().is_some_and(|o| o != op) {
            continue;
        }
        admin.reset_calls().await?;
        let sim_before = admin.stats().await?;
        let mut probe = Probe::start();
        let accepted = match op {
            "status" => p.status(&ids).await,
            "stop" => p.stop(&ids).await,
            _ => p.reset(&ids, &ResetOptions::default()).await,
        };
        let mut error = None;
        let mut accept_s = None;
        // Calls made by the change itself (before the wait): what a client reads first shows
        // here, apart from the wait's reads.
        let mut before_wait = None;
        let mut rounds = 0;
        let report = match accepted {
            Err(e) => {
                error = Some(e.to_string());
                None
            }
            Ok(r) if op == "status" => Some(r),
            Ok(r) => {
                accept_s = Some(probe.t0.elapsed().as_secs_f64());
                before_wait = Some(probe.aside(admin.stats()).await?.calls);
                let target = if op == "stop" {
                    PhoneState::Stopped
                } else {
                    PhoneState::Running
                };
                let (r, k, e) = if naive {
                    naive_wait(p, r, target, poll).await
                } else {
                    wait_rounds(p, r, poll).await
                };
                rounds = k;
                error = e;
                Some(r)
            }
        };
        let (wall, cpu, peak, peak_reset) = probe.stop();
        let sim_after = admin.stats().await?;
        let calls = sim_after.calls;
        // The simulator's own CPU: in its handlers (per endpoint), and the whole process's
        // (HTTP and runtime too) over the operation.
        let sim_cpu_s = sim_after.cpu_ns.values().sum::<u64>() as f64 / 1e9;
        let sim_process_cpu_s = sim_after
            .process_cpu_ns
            .saturating_sub(sim_before.process_cpu_ns) as f64
            / 1e9;
        let summary = report.as_ref().map(BatchReport::summary);
        let first_failure = report.as_ref().and_then(|r| {
            r.outcomes
                .iter()
                .find_map(|o| o.error().map(|e| e.to_string()))
        });
        let total: u64 = calls.values().sum();
        let sim_by_endpoint: serde_json::Map<String, Value> = sim_after
            .cpu_ns
            .iter()
            .map(|(k, ns)| {
                let n = calls.get(k).copied().unwrap_or(0).max(1);
                (k.clone(), json!(*ns as f64 / 1e3 / n as f64))
            })
            .collect();
        let op_name = match op {
            "status" => "status",
            "stop" => "stop + wait",
            _ => "reset + wait",
        };
        let ideal = ideal(args, vendor, model.capabilities(), op, n as u64);
        rows.push(json!({
            "vendor": vendor.name,
            "phones": n,
            "naive": naive,
            "operation": op_name,
            "wall_s": wall,
            "accept_s": accept_s,
            "calls_before_wait": before_wait,
            "ideal_s": ideal.seconds,
            "ratio": wall / ideal.seconds,
            "calls": calls,
            "calls_total": total,
            "calls_per_phone": total as f64 / n as f64,
            "min_op_calls": ideal.op_calls,
            "min_calls_per_round": ideal.round_calls,
            "rounds": rounds,
            "cpu_s": cpu,
            "cpu_us_per_phone": cpu * 1e6 / n as f64,
            "cpu_us_per_call": cpu * 1e6 / total.max(1) as f64,
            "min_confirm_calls": ideal.confirm_calls,
            "sim_cpu_s": sim_cpu_s,
            "sim_cpu_us_per_call": sim_cpu_s * 1e6 / total.max(1) as f64,
            "sim_cpu_us_by_endpoint": sim_by_endpoint,
            "sim_process_cpu_s": sim_process_cpu_s,
            "sim_process_cpu_us_per_call": sim_process_cpu_s * 1e6 / total.max(1) as f64,
            "sim_peak_rss_mib": sim_after.peak_rss_kib.map(|k| k as f64 / 1024.0),
            "peak_rss_mib": peak,
            "peak_is_per_operation": peak_reset,
            "rss_at_start_mib": probe.rss0,
            "succeeded": summary.map_or(0, |s| s.succeeded),
            "pending": summary.map_or(0, |s| s.pending),
            "failed": summary.map_or(n, |s| s.failed),
            "error": error,
            "first_failure": first_failure,
        }));
    }
    drop(sim);
    let caps = p.capabilities();
    Ok(json!({
        "vendor": vendor.name,
        "phones": n,
        "naive": naive,
        "batch_sizes": caps
            .batch_sizes
            .iter()
            .map(|(o, b)| (o.as_str().to_owned(), json!(b)))
            .collect::<serde_json::Map<_, _>>(),
        "rate_limits": caps.rate_limits.iter().map(|b| b.to_string()).collect::<Vec<_>>(),
        "process_peak_rss_mib": peak_rss_mib(),
        "rows": rows,
    }))
}
