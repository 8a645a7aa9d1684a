//! `cloudphone bench`: fleet-scale performance of the clients on the simulator.
//!
//! Every (vendor, fleet size) is measured in a fresh child process of this binary
//! (`--internal-vendor/--internal-size`), which itself starts the simulator as a grandchild
//! (`cloudphone sim serve`). So the CPU time and the peak memory read from `/proc/self` belong to
//! the client alone, and each size's peak is its own rather than the largest seen so far.
//!
//! The providers are built from a TOML document through `Config`, exactly as a user's are.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use cloudphone::{
    BatchReport, CloudPhoneProvider, Config, Outcome, PhoneId, PhoneState, ResetOptions,
    WaitOptions,
};
use cloudphone_sim::SimCredentials;
use serde_json::{json, Value};

use crate::exit::{Exit, UsageError};

/// Targets from the issue; the bench reports against them, it does not assert them.
const TARGET_RATIO: f64 = 1.25;
const TARGET_CPU_US: f64 = 20.0;
const TARGET_PEAK_MIB: f64 = 100.0;

/// GeeLark: `status` takes at most 100 ids, `stop` 200.
const GL_STATUS_BATCH: u64 = 100;
const GL_STOP_BATCH: u64 = 200;
/// Huawei: no batch maximum is documented; 100 is the client default and a list-jobs page.
const HW_BATCH: u64 = 100;
const HW_LIST_PAGE: u64 = 200;
const HW_JOBS_PAGE: u64 = 100;

/// Vendor limits, per API, as `(calls, window)`.
const GL_LIMITS: [(u64, f64); 2] = [(200, 60.0), (24_000, 3600.0)];
const HW_LIMITS: [(u64, f64); 1] = [(200, 1.0)];

/// The operations, each measured on a freshly seeded fleet in a process of its own.
const OPS: [&str; 3] = ["status", "stop", "reset"];

/// How long waiting may take before the bench gives up on a phone.
const WAIT_TIMEOUT: Duration = Duration::from_secs(900);

/// A vendor to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Vendor {
    /// GeeLark.
    Geelark,
    /// Huawei Cloud CPH.
    Huawei,
}

impl Vendor {
    fn as_str(self) -> &'static str {
        match self {
            Vendor::Geelark => "geelark",
            Vendor::Huawei => "huawei",
        }
    }
}

/// Options of `cloudphone bench`.
#[derive(Debug, Args, Clone)]
pub struct BenchArgs {
    /// Fleet sizes (phones per vendor), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1000,10000,100000")]
    sizes: Vec<usize>,
    /// Fleets of 1,000 and 10,000 phones and no naive comparison (about a minute).
    #[arg(long)]
    quick: bool,
    /// Vendors to measure, comma-separated.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "geelark,huawei"
    )]
    vendors: Vec<Vendor>,
    /// Latency the simulator adds to every vendor call, in milliseconds.
    #[arg(long, default_value_t = 50)]
    latency_ms: u64,
    /// Switch the vendors' rate limits on, in the simulator and in the clients (at the vendors'
    /// published limits). Rate-limit windows then run in real time (time scale 1).
    #[arg(long)]
    limits: bool,
    /// Simulated seconds per real second for phone transitions (ignored with --limits).
    #[arg(long, default_value_t = 0.1)]
    time_scale: f64,
    /// Requests in flight per provider.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Time between poll rounds while waiting.
    #[arg(long, default_value = "200ms", value_parser = crate::input::duration)]
    poll_interval: Duration,
    /// Phones in the naive comparison (default: the smallest fleet).
    #[arg(long)]
    naive_phones: Option<usize>,
    /// Skip the naive client comparison.
    #[arg(long)]
    no_naive: bool,
    /// Directory for bench-results.md and bench-results.json.
    #[arg(long, default_value = ".")]
    out_dir: PathBuf,
    #[arg(long, hide = true, requires = "internal_size")]
    internal_vendor: Option<Vendor>,
    #[arg(long, hide = true)]
    internal_size: Option<usize>,
    #[arg(long, hide = true)]
    internal_naive: bool,
    #[arg(long, hide = true)]
    internal_op: Option<String>,
}

impl BenchArgs {
    fn scale(&self) -> f64 {
        if self.limits {
            1.0
        } else {
            self.time_scale
        }
    }

    fn sizes(&self) -> Vec<usize> {
        let mut sizes = if self.quick {
            vec![1000, 10_000]
        } else {
            self.sizes.clone()
        };
        sizes.retain(|n| *n > 0);
        sizes.sort_unstable();
        sizes.dedup();
        sizes
    }

    fn latency(&self) -> f64 {
        self.latency_ms as f64 / 1e3
    }
}

/// Runs the benchmark (or, with the internal flags, one measurement of it).
pub async fn run(args: BenchArgs) -> Result<Exit, UsageError> {
    if !(args.time_scale > 0.0 && args.time_scale.is_finite()) {
        return Err(UsageError("--time-scale must be positive".into()));
    }
    if args.concurrency == 0 || args.concurrency > 64 {
        return Err(UsageError(
            "--concurrency must be between 1 and 64 (Huawei's maximum)".into(),
        ));
    }
    if let (Some(vendor), Some(n)) = (args.internal_vendor, args.internal_size) {
        let doc = measure(&args, vendor, n, args.internal_naive).await?;
        println!("{doc}");
        return Ok(Exit::Ok);
    }
    let sizes = args.sizes();
    if sizes.is_empty() || args.vendors.is_empty() {
        return Err(UsageError("nothing to measure".into()));
    }
    let started = Instant::now();
    let mut runs: Vec<Value> = Vec::new();
    for &n in &sizes {
        for &v in &args.vendors {
            for op in OPS {
                eprintln!("bench: {} × {n} phones: {op} …", v.as_str());
                let doc = tokio::task::block_in_place(|| child(&args, &[(v, n)], Some(op)))?;
                runs.extend(doc);
            }
        }
    }
    let mut naive: Vec<Value> = Vec::new();
    if !(args.no_naive || args.quick) {
        let n = args.naive_phones.unwrap_or(sizes[0]);
        eprintln!("bench: naive clients × {n} phones (one request per phone, sequential) …");
        let jobs: Vec<(Vendor, usize)> = args.vendors.iter().map(|v| (*v, n)).collect();
        naive = tokio::task::block_in_place(|| child(&args, &jobs, None))?;
    }
    let doc = json!({
        "settings": settings(&args, &sizes),
        "machine": machine(),
        "elapsed_s": started.elapsed().as_secs_f64(),
        "runs": runs,
        "naive": naive,
    });
    let md = markdown(&doc);
    print!("{md}");
    std::fs::create_dir_all(&args.out_dir)
        .map_err(|e| UsageError(format!("cannot create {}: {e}", args.out_dir.display())))?;
    let write = |name: &str, text: String| {
        let path = args.out_dir.join(name);
        std::fs::write(&path, text)
            .map_err(|e| UsageError(format!("cannot write {}: {e}", path.display())))
    };
    write("bench-results.md", md)?;
    let pretty = serde_json::to_string_pretty(&doc).map_err(|e| UsageError(e.to_string()))?;
    write("bench-results.json", pretty + "\n")?;
    eprintln!(
        "bench: wrote {} and {}",
        args.out_dir.join("bench-results.md").display(),
        args.out_dir.join("bench-results.json").display()
    );
    Ok(Exit::Ok)
}

fn settings(args: &BenchArgs, sizes: &[usize]) -> Value {
    json!({
        "sizes": sizes,
        "vendors": args.vendors.iter().map(|v| v.as_str()).collect::<Vec<_>>(),
        "latency_ms": args.latency_ms,
        "rate_limits": args.limits,
        "time_scale": args.scale(),
        "concurrency": args.concurrency,
        "poll_interval_ms": args.poll_interval.as_millis() as u64,
        "batch_sizes": {
            "geelark": {"status": GL_STATUS_BATCH, "stop": GL_STOP_BATCH, "reset": 1},
            "huawei": {"stop": HW_BATCH, "reset": HW_BATCH, "list_page": HW_LIST_PAGE},
        },
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
    jobs: &[(Vendor, usize)],
    op: Option<&str>,
) -> Result<Vec<Value>, UsageError> {
    let exe = std::env::current_exe().map_err(|e| UsageError(format!("current_exe: {e}")))?;
    let mut children = Vec::new();
    for &(vendor, n) in jobs {
        let mut cmd = Command::new(&exe);
        cmd.args(["--quiet", "bench", "--internal-vendor", vendor.as_str()])
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
                .map_err(|e| UsageError(format!("cannot start a bench process: {e}")))?,
        );
    }
    let mut docs = Vec::new();
    for c in children {
        let out = c
            .wait_with_output()
            .map_err(|e| UsageError(format!("bench process: {e}")))?;
        let text = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            return Err(UsageError(format!(
                "a bench process failed ({}): {text}",
                out.status
            )));
        }
        let line = text.lines().last().unwrap_or_default();
        docs.push(
            serde_json::from_str(line)
                .map_err(|e| UsageError(format!("bench process answered `{line}`: {e}")))?,
        );
    }
    Ok(docs)
}

/// The simulator in a child process, killed on drop.
struct SimProcess {
    child: Child,
    // Kept open so that the simulator never writes into a closed pipe.
    _stdout: BufReader<ChildStdout>,
    geelark_url: String,
    huawei_url: String,
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `cloudphone sim serve` on ephemeral loopback ports and waits until it serves.
fn start_sim(args: &BenchArgs, vendor: Vendor, n: usize) -> Result<SimProcess, UsageError> {
    let exe = std::env::current_exe().map_err(|e| UsageError(format!("current_exe: {e}")))?;
    let (gl, hw) = match vendor {
        Vendor::Geelark => (n, 0),
        Vendor::Huawei => (0, n),
    };
    let mut cmd = Command::new(exe);
    cmd.args(["sim", "serve", "--geelark-port", "0", "--huawei-port", "0"])
        .args(["--geelark-phones", &gl.to_string()])
        .args(["--huawei-phones", &hw.to_string()])
        .args(["--latency-ms", &args.latency_ms.to_string()])
        .args(["--time-scale", &args.scale().to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    // The simulator's credentials must be the defaults this process configures the clients with.
    for (var, _) in std::env::vars() {
        if var.starts_with("SIM_") {
            cmd.env_remove(var);
        }
    }
    if !args.limits {
        cmd.arg("--no-limits");
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| UsageError(format!("cannot start the simulator: {e}")))?;
    let stdout = child.stdout.take().expect("piped");
    let mut sim = SimProcess {
        child,
        _stdout: BufReader::new(stdout),
        geelark_url: String::new(),
        huawei_url: String::new(),
    };
    let mut line = String::new();
    loop {
        line.clear();
        let read = sim
            ._stdout
            .read_line(&mut line)
            .map_err(|e| UsageError(format!("reading the simulator: {e}")))?;
        if read == 0 {
            return Err(UsageError("the simulator exited before serving".into()));
        }
        let url = || line.split_once(": ").map(|(_, u)| u.trim().to_owned());
        if line.starts_with("GeeLark   base URL") {
            sim.geelark_url = url().unwrap_or_default();
        } else if line.starts_with("Huawei    CPH URL") {
            sim.huawei_url = url().unwrap_or_default();
        } else if line.starts_with("Press Ctrl-C") {
            break;
        }
    }
    if sim.geelark_url.is_empty() || sim.huawei_url.is_empty() {
        return Err(UsageError("the simulator did not print its URLs".into()));
    }
    Ok(sim)
}

/// The admin API of the simulator (not counted as vendor calls).
struct Admin {
    http: reqwest::Client,
    url: String,
}

impl Admin {
    async fn get(&self, path: &str) -> Result<Value, UsageError> {
        let r = self
            .http
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| UsageError(format!("simulator admin {path}: {e}")))?;
        r.json()
            .await
            .map_err(|e| UsageError(format!("simulator admin {path}: {e}")))
    }

    async fn reset_calls(&self) -> Result<(), UsageError> {
        self.http
            .delete(format!("{}/_sim/calls", self.url))
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| UsageError(format!("simulator admin: {e}")))?;
        Ok(())
    }

    /// Vendor calls per endpoint since the last reset.
    async fn calls(&self) -> Result<BTreeMap<String, u64>, UsageError> {
        let v = self.get("/_sim/calls").await?;
        Ok(v["counts"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, n)| (short_endpoint(k), n.as_u64().unwrap_or(0)))
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn phone_ids(&self, n: usize) -> Result<Vec<PhoneId>, UsageError> {
        let mut ids = Vec::with_capacity(n);
        while ids.len() < n {
            let page = self
                .get(&format!("/_sim/phones?offset={}&limit=2000", ids.len()))
                .await?;
            let phones = page["phones"].as_array().cloned().unwrap_or_default();
            if phones.is_empty() {
                break;
            }
            ids.extend(
                phones
                    .iter()
                    .filter_map(|p| p["id"].as_str().map(PhoneId::new)),
            );
        }
        if ids.len() != n {
            return Err(UsageError(format!(
                "the simulator holds {} phones, not {n}",
                ids.len()
            )));
        }
        Ok(ids)
    }
}

/// `POST /v1/{project_id}/cloud-phone/phones/batch-stop` → `batch-stop`;
/// `GET …/cloud-phone/jobs` → `GET jobs`; `POST /open/v1/phone/status` → `status`.
fn short_endpoint(key: &str) -> String {
    let (method, path) = key.split_once(' ').unwrap_or(("", key));
    let tail = path
        .rsplit_once("/cloud-phone/")
        .or_else(|| path.rsplit_once("/phone/"))
        .map_or(path, |(_, t)| t)
        .replace("{phone_id}", "{id}")
        .replace("{job_id}", "{id}");
    if method == "GET" {
        format!("GET {tail}")
    } else {
        tail
    }
}

/// The provider configuration, as a user would write it.
fn config_doc(args: &BenchArgs, sim: &SimProcess, naive: bool) -> String {
    let c = SimCredentials::default();
    let conc = if naive { 1 } else { args.concurrency };
    let (gl_batch, gl_status, hw_batch, strategy) = if naive {
        (1, 1, 1, "detail")
    } else {
        (GL_STOP_BATCH, GL_STATUS_BATCH, HW_BATCH, "auto")
    };
    let (per_min, per_hour, per_sec) = if args.limits {
        (GL_LIMITS[0].0, GL_LIMITS[1].0, HW_LIMITS[0].0)
    } else {
        (0, 0, 0)
    };
    format!(
        r#"[providers.gl]
type = "geelark"
base_url = "{gl}"
app_id = "{app_id}"
api_key = "{api_key}"
batch_size = {gl_batch}
status_batch_size = {gl_status}
concurrency = {conc}
rate_limit_per_minute = {per_min}
rate_limit_per_hour = {per_hour}
retry_min_delay_ms = 50
retry_max_delay_ms = 2000

[providers.hw]
type = "huawei-cph"
region = "{region}"
project_id = "{project}"
endpoint = "{hw}"
iam_endpoint = "{hw}"
access_key = "{ak}"
secret_key = "{sk}"
batch_size = {hw_batch}
concurrency = {conc}
rate_limit_per_second = {per_sec}
status_strategy = "{strategy}"
retry_min_delay_ms = 50
retry_max_delay_ms = 2000
"#,
        gl = sim.geelark_url,
        app_id = c.geelark_app_id,
        api_key = c.geelark_api_key,
        region = c.huawei_region,
        project = c.huawei_project_id,
        hw = sim.huawei_url,
        ak = c.huawei_access_key,
        sk = c.huawei_secret_key,
    )
}

/// CPU time of this process (every thread), from Linux's per-task schedstat, in nanoseconds.
fn cpu_time() -> Duration {
    let mut total = 0u64;
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for task in tasks.flatten() {
            if let Some(ns) = std::fs::read_to_string(task.path().join("schedstat"))
                .ok()
                .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
            {
                total += ns;
            }
        }
    }
    Duration::from_nanos(total)
}

/// Resets the peak resident set size (`VmHWM`) to the current one; false where not allowed.
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// `VmHWM` in MiB.
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
            line.split_whitespace().nth(1)?.parse::<f64>().ok()
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// One measured operation.
struct Probe {
    t0: Instant,
    cpu0: Duration,
    peak_reset: bool,
}

impl Probe {
    fn start() -> Probe {
        let peak_reset = reset_peak();
        Probe {
            t0: Instant::now(),
            cpu0: cpu_time(),
            peak_reset,
        }
    }

    fn stop(self) -> (f64, f64, f64, bool) {
        let wall = self.t0.elapsed().as_secs_f64();
        let cpu = cpu_time().saturating_sub(self.cpu0).as_secs_f64();
        (wall, cpu, peak_rss_mib(), self.peak_reset)
    }
}

/// Lower bound of `calls` requests through `concurrency` slots of `latency` each, under the
/// vendor's rate budgets (the first `limit` calls of a window go at once, the rest wait for
/// the window to pass).
fn ideal_calls(calls: u64, concurrency: u64, latency: f64, budgets: &[(u64, f64)]) -> f64 {
    if calls == 0 {
        return 0.0;
    }
    let by_latency = calls.div_ceil(concurrency) as f64 * latency;
    let by_rate = budgets
        .iter()
        .map(|&(limit, window)| ((calls - 1) / limit) as f64 * window + latency)
        .fold(0.0, f64::max);
    by_latency.max(by_rate)
}

/// What one operation is bounded by.
struct Ideal {
    /// Minimum calls for the operation itself (status, stop, reset).
    op_calls: u64,
    /// Minimum calls per poll round while waiting (0 for status).
    round_calls: u64,
    /// Seconds: operation + (simulated transition + one poll interval + one poll round).
    seconds: f64,
}

fn ideal(args: &BenchArgs, vendor: Vendor, op: &str, n: u64) -> Ideal {
    let conc = args.concurrency as u64;
    let lat = args.latency();
    let budgets: &[(u64, f64)] = match (args.limits, vendor) {
        (false, _) => &[],
        (true, Vendor::Geelark) => &GL_LIMITS,
        (true, Vendor::Huawei) => &HW_LIMITS,
    };
    // Default transition durations of the simulator, scaled.
    let (op_calls, round_calls, transition) = match (vendor, op) {
        (Vendor::Geelark, "status") => (n.div_ceil(GL_STATUS_BATCH), 0, 0.0),
        (Vendor::Geelark, "stop") => (n.div_ceil(GL_STOP_BATCH), n.div_ceil(GL_STATUS_BATCH), 2.0),
        (Vendor::Geelark, _) => (n, n.div_ceil(GL_STATUS_BATCH), 6.0),
        (Vendor::Huawei, "status") => (n.div_ceil(HW_LIST_PAGE).min(n), 0, 0.0),
        (Vendor::Huawei, "stop") => (n.div_ceil(HW_BATCH), n.div_ceil(HW_JOBS_PAGE), 3.0),
        (Vendor::Huawei, _) => (n.div_ceil(HW_BATCH), n.div_ceil(HW_JOBS_PAGE), 5.0),
    };
    let mut seconds = ideal_calls(op_calls, conc, lat, budgets);
    if round_calls > 0 {
        seconds += transition * args.scale()
            + args.poll_interval.as_secs_f64()
            + ideal_calls(round_calls, conc, lat, budgets);
    }
    Ideal {
        op_calls,
        round_calls,
        seconds,
    }
}

/// Polls in single rounds, as `cloudphone … --wait` does, counting the rounds.
async fn wait_rounds(
    p: &dyn CloudPhoneProvider,
    mut report: BatchReport,
    poll: Duration,
) -> (BatchReport, u32, Option<String>) {
    let once = WaitOptions::default()
        .timeout(Duration::ZERO)
        .poll_interval(poll);
    let deadline = Instant::now() + WAIT_TIMEOUT;
    let mut rounds = 0;
    loop {
        report = match p.wait(&report, &once).await {
            Ok(r) => r,
            Err(e) => return (report, rounds, Some(e.to_string())),
        };
        rounds += 1;
        if report.summary().pending == 0 || Instant::now() >= deadline {
            return (report, rounds, None);
        }
        tokio::time::sleep(poll).await;
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

/// Measures status, stop + wait and reset + wait for one vendor and fleet size.
async fn measure(
    args: &BenchArgs,
    vendor: Vendor,
    n: usize,
    naive: bool,
) -> Result<Value, UsageError> {
    let sim = tokio::task::block_in_place(|| start_sim(args, vendor, n))?;
    let admin = Admin {
        http: reqwest::Client::new(),
        url: match vendor {
            Vendor::Geelark => sim.geelark_url.clone(),
            Vendor::Huawei => sim.huawei_url.clone(),
        },
    };
    let ids = admin.phone_ids(n).await?;
    let config = Config::from_toml_str_with_env(&config_doc(args, &sim, naive), &|_| None)
        .map_err(|e| UsageError(e.to_string()))?;
    let provider: Arc<dyn CloudPhoneProvider> = config
        .build(match vendor {
            Vendor::Geelark => "gl",
            Vendor::Huawei => "hw",
        })
        .map_err(|e| UsageError(e.to_string()))?;
    let p = provider.as_ref();
    let poll = args.poll_interval;
    let mut rows = Vec::new();
    for op in OPS {
        if args.internal_op.as_deref().is_some_and(|o| o != op) {
            continue;
        }
        admin.reset_calls().await?;
        let probe = Probe::start();
        let accepted = match op {
            "status" => p.status(&ids).await,
            "stop" => p.stop(&ids).await,
            _ => p.reset(&ids, &ResetOptions::default()).await,
        };
        let mut error = None;
        let mut accept_s = None;
        let mut rounds = 0;
        let report = match accepted {
            Err(e) => {
                error = Some(e.to_string());
                None
            }
            Ok(r) if op == "status" => Some(r),
            Ok(r) => {
                accept_s = Some(probe.t0.elapsed().as_secs_f64());
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
        let calls = admin.calls().await?;
        let summary = report.as_ref().map(BatchReport::summary);
        let first_failure = report.as_ref().and_then(|r| {
            r.outcomes
                .iter()
                .find_map(|o| o.error().map(|e| e.to_string()))
        });
        let total: u64 = calls.values().sum();
        let op_name = match op {
            "status" => "status",
            "stop" => "stop + wait",
            _ => "reset + wait",
        };
        let ideal = ideal(args, vendor, op, n as u64);
        rows.push(json!({
            "vendor": vendor.as_str(),
            "phones": n,
            "naive": naive,
            "operation": op_name,
            "wall_s": wall,
            "accept_s": accept_s,
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
            "peak_rss_mib": peak,
            "peak_is_per_operation": peak_reset,
            "succeeded": summary.map_or(0, |s| s.succeeded),
            "pending": summary.map_or(0, |s| s.pending),
            "failed": summary.map_or(n, |s| s.failed),
            "error": error,
            "first_failure": first_failure,
        }));
    }
    drop(sim);
    Ok(json!({
        "vendor": vendor.as_str(),
        "phones": n,
        "naive": naive,
        "process_peak_rss_mib": peak_rss_mib(),
        "rows": rows,
    }))
}

/// Which vendor endpoints serve the operation itself and its poll rounds.
fn endpoints(vendor: &str, op: &str) -> (&'static str, &'static str) {
    match (vendor, op) {
        ("geelark", "status") => ("status", ""),
        ("geelark", "stop + wait") => ("stop", "status"),
        ("geelark", _) => ("newOne", "status"),
        (_, "status") => ("GET phones", ""),
        (_, "stop + wait") => ("phones/batch-stop", "GET jobs"),
        _ => ("phones/batch-reset", "GET jobs"),
    }
}

/// The targets a row misses, with by how much.
fn misses(row: &Value, phones: u64) -> Vec<String> {
    let mut out = Vec::new();
    let f = |k: &str| row[k].as_f64().unwrap_or(0.0);
    let u = |k: &str| row[k].as_u64().unwrap_or(0);
    let calls = |k: &str| row["calls"][k].as_u64().unwrap_or(0);
    let vendor = row["vendor"].as_str().unwrap_or_default();
    let op = row["operation"].as_str().unwrap_or_default();
    let (op_ep, poll_ep) = endpoints(vendor, op);
    let min = u("min_op_calls");
    let mut op_calls = calls(op_ep);
    if vendor == "huawei" && op == "status" {
        op_calls += calls("GET phones/{id}");
    }
    if op_calls > min {
        out.push(format!("{op_ep}: {op_calls} calls, minimum {min}"));
    }
    let rounds = u("rounds");
    let per_round = u("min_calls_per_round");
    if rounds > 0 && !poll_ep.is_empty() {
        let avg = calls(poll_ep) as f64 / rounds as f64;
        if avg > per_round as f64 {
            out.push(format!(
                "{poll_ep}: {avg:.1} calls per round, minimum {per_round}"
            ));
        }
    }
    if f("ratio") > TARGET_RATIO {
        out.push(format!("wall {:.2}× ideal", f("ratio")));
    }
    if f("cpu_us_per_phone") > TARGET_CPU_US {
        out.push(format!("CPU {:.1} µs/phone", f("cpu_us_per_phone")));
    }
    if phones >= 100_000 && f("peak_rss_mib") > TARGET_PEAK_MIB {
        out.push(format!("peak {:.0} MiB", f("peak_rss_mib")));
    }
    if let Some(e) = row["error"].as_str() {
        out.push(format!("stopped early: {e}"));
    }
    out
}

/// `done / failed`, plus the phones still pending if any.
fn outcome(row: &Value) -> String {
    let u = |k: &str| row[k].as_u64().unwrap_or(0);
    let mut s = format!("{} / {}", u("succeeded"), u("failed"));
    if u("pending") > 0 {
        s.push_str(&format!(" ({} pending)", u("pending")));
    }
    s
}

fn fmt_calls(calls: &Value) -> String {
    calls
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k} {}", v.as_u64().unwrap_or(0)))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

/// The results as Markdown: settings, the main table and the naive comparison.
fn markdown(doc: &Value) -> String {
    use std::fmt::Write;
    let s = &doc["settings"];
    let m = &doc["machine"];
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Simulator latency {} ms per call; rate limits {}; time scale {}; concurrency {}; \
         poll interval {} ms. Machine: {} CPUs ({}). Run took {:.0} s.\n",
        s["latency_ms"],
        if s["rate_limits"].as_bool() == Some(true) {
            "on (vendor limits in simulator and client)"
        } else {
            "off"
        },
        s["time_scale"],
        s["concurrency"],
        s["poll_interval_ms"],
        m["cpus"],
        m["cpu_model"].as_str().unwrap_or("?"),
        doc["elapsed_s"].as_f64().unwrap_or(0.0),
    );
    let _ = writeln!(
        out,
        "| vendor | phones | operation | wall s | ideal s | ratio | API calls by endpoint | calls/phone | poll rounds | CPU µs/phone | peak MiB | done / failed | targets missed |"
    );
    let _ = writeln!(
        out,
        "|---|---:|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---|"
    );
    let rows = |runs: &Value| -> Vec<Value> {
        runs.as_array()
            .into_iter()
            .flatten()
            .flat_map(|r| r["rows"].as_array().cloned().unwrap_or_default())
            .collect()
    };
    let main = rows(&doc["runs"]);
    for r in &main {
        let phones = r["phones"].as_u64().unwrap_or(0);
        let miss = misses(r, phones);
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.2} | {:.2} | {:.2} | {} | {:.3} | {} | {:.1} | {:.1} | {} | {} |",
            r["vendor"].as_str().unwrap_or_default(),
            phones,
            r["operation"].as_str().unwrap_or_default(),
            r["wall_s"].as_f64().unwrap_or(0.0),
            r["ideal_s"].as_f64().unwrap_or(0.0),
            r["ratio"].as_f64().unwrap_or(0.0),
            fmt_calls(&r["calls"]),
            r["calls_per_phone"].as_f64().unwrap_or(0.0),
            r["rounds"],
            r["cpu_us_per_phone"].as_f64().unwrap_or(0.0),
            r["peak_rss_mib"].as_f64().unwrap_or(0.0),
            outcome(r),
            if miss.is_empty() {
                "none".to_owned()
            } else {
                miss.join("; ")
            },
        );
    }
    let naive = rows(&doc["naive"]);
    if !naive.is_empty() {
        let _ = writeln!(
            out,
            "\nNaive client (one request per phone, sequential; its two vendors ran at the same time, \
             each in its own process) against this client on the same fleet:\n"
        );
        let _ = writeln!(
            out,
            "| vendor | phones | operation | naive wall s | naive calls | wall s | calls | naive ÷ this client |"
        );
        let _ = writeln!(out, "|---|---:|---|---:|---:|---:|---:|---:|");
        for r in &naive {
            let same = main.iter().find(|o| {
                o["vendor"] == r["vendor"]
                    && o["phones"] == r["phones"]
                    && o["operation"] == r["operation"]
            });
            let nw = r["wall_s"].as_f64().unwrap_or(0.0);
            let (w, c, ratio) = match same {
                Some(o) => {
                    let w = o["wall_s"].as_f64().unwrap_or(0.0);
                    (
                        format!("{w:.2}"),
                        o["calls_total"].to_string(),
                        format!("{:.0}×", nw / w),
                    )
                }
                None => ("-".into(), "-".into(), "-".into()),
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {:.2} | {} | {w} | {c} | {ratio} |",
                r["vendor"].as_str().unwrap_or_default(),
                r["phones"],
                r["operation"].as_str().unwrap_or_default(),
                nw,
                r["calls_total"],
            );
        }
    }
    let _ = writeln!(
        out,
        "\nEach row of the first table ran in a fresh client process against a freshly seeded \
         simulator in another process: CPU time and peak memory (VmHWM) are that client \
         process's own, its phone list included."
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_keys_are_shortened() {
        assert_eq!(short_endpoint("POST /open/v1/phone/status"), "status");
        assert_eq!(short_endpoint("POST /open/v2/phone/newOne"), "newOne");
        assert_eq!(
            short_endpoint("GET /v1/{project_id}/cloud-phone/phones/{phone_id}"),
            "GET phones/{id}"
        );
        assert_eq!(
            short_endpoint("POST /v1/{project_id}/cloud-phone/phones/batch-stop"),
            "phones/batch-stop"
        );
        assert_eq!(
            short_endpoint("GET /v1/{project_id}/cloud-phone/jobs"),
            "GET jobs"
        );
    }

    #[test]
    fn the_ideal_is_bounded_by_concurrency_latency_and_rate() {
        assert_eq!(ideal_calls(0, 4, 0.05, &[]), 0.0);
        assert!((ideal_calls(100, 32, 0.05, &[]) - 0.2).abs() < 1e-9);
        // 1,000 calls at 200 per minute: four full windows must pass first.
        let t = ideal_calls(1000, 32, 0.05, &GL_LIMITS);
        assert!((t - (4.0 * 60.0 + 0.05)).abs() < 1e-9, "{t}");
    }
}
