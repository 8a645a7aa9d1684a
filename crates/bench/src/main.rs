//! `cloudphone-bench`: fleet-scale performance of the cloudphone clients on the simulator.
//!
//! ```sh
//! cargo run --release -p cloudphone-bench -- --quick
//! ```
//!
//! Every (vendor, fleet size, operation) is measured in a fresh child process of this binary
//! (`--internal-vendor/--internal-size`), which itself starts the simulator as a grandchild
//! (`--internal-sim`). So the CPU time and the peak memory read from `/proc/self` belong to the
//! client alone, and each size's peak is its own rather than the largest seen so far.
//!
//! The vendors are the simulator's own ([`cloudphone_sim::Simulator::vendors`]); each provider
//! is built from the table the simulator writes for it, through `Config`, exactly as a user's
//! is; batch sizes and rate budgets are read back from the provider's `capabilities()`.
//! BENCHMARKS.md explains the method and holds the results.
//!
//! * [`run`]: the parent — one child process per measurement, then the results files;
//! * [`measure`]: one child — build the provider, run an operation, probe CPU and memory;
//! * [`ideal`]: the lower bound each measurement is compared with;
//! * [`sim`]: the simulator process and its admin API;
//! * [`vendors`]: the simulator's vendors, and what the bench knows of them (tuning,
//!   endpoints, the ideal's model);
//! * [`report`]: the results as Markdown;
//! * [`shared_budget`]: `cloudphone-bench shared-budget`, processes sharing one rate budget in
//!   Redis.

mod floor;
mod ideal;
mod measure;
mod report;
mod run;
mod shared_budget;
mod sim;
mod vendors;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

/// Why the bench stopped: a bad option, or a process, the simulator or a file that failed.
/// Printed as `error: …`; exit code 2.
pub(crate) type Error = String;

/// Measure the cloudphone clients at fleet scale on the simulator (writes
/// bench-results.{md,json}).
#[derive(Debug, Parser, Clone)]
#[command(name = "cloudphone-bench", version, long_about = None)]
pub(crate) struct BenchArgs {
    /// Fleet sizes (phones per vendor), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1000,10000,100000")]
    pub(crate) sizes: Vec<usize>,
    /// Fleets of 1,000 and 10,000 phones and no naive comparison (about a minute).
    #[arg(long)]
    pub(crate) quick: bool,
    /// Vendors to measure, comma-separated, by the bench's name (geelark, huawei) or the
    /// provider type (default: every vendor the simulator serves).
    #[arg(long, value_delimiter = ',')]
    pub(crate) vendors: Vec<String>,
    /// Latency the simulator adds to every vendor call, in milliseconds.
    #[arg(long, default_value_t = 50)]
    pub(crate) latency_ms: u64,
    /// Switch the vendors' rate limits on, in the simulator and in the clients (at the vendors'
    /// published limits). Rate-limit windows then run in real time (time scale 1).
    #[arg(long)]
    pub(crate) limits: bool,
    /// Simulated seconds per real second for phone transitions (ignored with --limits).
    #[arg(long, default_value_t = 0.1)]
    pub(crate) time_scale: f64,
    /// Requests in flight per provider.
    #[arg(long, default_value_t = 32)]
    pub(crate) concurrency: usize,
    /// Time between poll rounds while waiting.
    #[arg(long, default_value = "200ms", value_parser = duration)]
    pub(crate) poll_interval: Duration,
    /// Phones in the naive comparison (default: the smallest fleet).
    #[arg(long)]
    pub(crate) naive_phones: Option<usize>,
    /// Skip the naive client comparison.
    #[arg(long)]
    pub(crate) no_naive: bool,
    /// Directory for bench-results.md and bench-results.json.
    #[arg(long, default_value = ".")]
    pub(crate) out_dir: PathBuf,
    /// One measurement: the vendor's type (child process).
    #[arg(long, hide = true, requires = "internal_size")]
    pub(crate) internal_vendor: Option<String>,
    /// One measurement: the fleet size (child process).
    #[arg(long, hide = true)]
    pub(crate) internal_size: Option<usize>,
    /// One measurement: the naive client.
    #[arg(long, hide = true)]
    pub(crate) internal_naive: bool,
    /// One measurement: only this operation.
    #[arg(long, hide = true)]
    pub(crate) internal_op: Option<String>,
    /// Serve the simulator for `--internal-vendor` and `--internal-size` (grandchild process).
    #[arg(long, hide = true, requires = "internal_vendor")]
    pub(crate) internal_sim: bool,
}

impl BenchArgs {
    /// The simulator's time scale: 1 with rate limits on (their windows are real time).
    pub(crate) fn scale(&self) -> f64 {
        if self.limits {
            1.0
        } else {
            self.time_scale
        }
    }

    /// The fleet sizes to measure, ascending.
    pub(crate) fn sizes(&self) -> Vec<usize> {
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

    /// The simulator's latency, in seconds.
    pub(crate) fn latency(&self) -> f64 {
        self.latency_ms as f64 / 1e3
    }
}

/// `200ms`, `1.5s`, `5m`, `1h` (a bare number is seconds), at most 30 days — the same forms
/// as the `cloudphone` command's durations.
fn duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let not_a_duration = || format!("`{s}` is not a duration like 30s, 500ms, 5m");
    let n: f64 = num.parse().map_err(|_| not_a_duration())?;
    let secs = match unit {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("`{s}`: unknown unit `{unit}` (ms, s, m, h)")),
    };
    if !secs.is_finite() || secs > 30.0 * 24.0 * 3600.0 {
        return Err(format!("`{s}` is too long: at most 30 days"));
    }
    Duration::try_from_secs_f64(secs).map_err(|_| not_a_duration())
}

fn main() -> ExitCode {
    // `cloudphone-bench shared-budget …`: processes sharing one rate budget (its own flags).
    if let Some(code) = shared_budget::dispatch() {
        return code;
    }
    let args = BenchArgs::parse();
    init_logging();
    // The simulator runs as the `cloudphone-sim` binary does: tokio's default, a worker per
    // core. The measuring processes drive the client on one worker thread: with two, GeeLark
    // newOne cost 5–8 µs more per call and the peak grew by 9 MiB at 10,000 phones (one glibc
    // arena more), for no gain in wall time (BENCHMARKS.md, fifth round).
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if !args.internal_sim {
        runtime.worker_threads(1);
    }
    let rt = match runtime.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match rt.block_on(async { tokio::spawn(run::run(args)).await.unwrap() }) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            // Messages may quote what a child process printed: control characters escaped.
            let msg: String = msg
                .chars()
                .flat_map(|c| {
                    if c.is_control() {
                        c.escape_default().collect::<Vec<_>>()
                    } else {
                        vec![c]
                    }
                })
                .collect();
            eprintln!("error: {msg}");
            ExitCode::from(2)
        }
    }
}

/// Warnings on stderr (RUST_LOG overrides), as the `cloudphone` command logs.
fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = match std::env::var("RUST_LOG") {
        Ok(v) if !v.is_empty() => EnvFilter::new(v),
        _ => EnvFilter::new("warn"),
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_a_unit() {
        assert_eq!(duration("200ms"), Ok(Duration::from_millis(200)));
        assert_eq!(duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(duration("1.5m"), Ok(Duration::from_secs(90)));
        assert!(duration("fast").is_err());
        assert!(duration("3d").is_err());
        assert!(duration("999999999h").is_err());
    }

    #[test]
    fn the_flags_parse() {
        let a = BenchArgs::try_parse_from(["cloudphone-bench", "--quick"]).unwrap();
        assert_eq!(a.sizes(), vec![1000, 10_000]);
        let a = BenchArgs::try_parse_from(["cloudphone-bench", "--sizes", "30,0,10,30"]).unwrap();
        assert_eq!(a.sizes(), vec![10, 30]);
        let a = BenchArgs::try_parse_from(["cloudphone-bench", "--vendors", "a,b"]).unwrap();
        assert_eq!(a.vendors, ["a", "b"]);
        assert!(BenchArgs::try_parse_from(["cloudphone-bench", "--internal-sim"]).is_err());
    }
}
