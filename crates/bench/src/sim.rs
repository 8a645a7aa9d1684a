//! The simulator in a process of its own, and its admin API.
//!
//! A measuring child starts `cloudphone-bench --internal-sim …` (this binary again), which
//! serves the simulator on ephemeral loopback ports and prints one JSON line: the vendor's URL
//! and the provider table the simulator writes for it (`[providers.NAME]`). It serves until its stdin
//! closes, so it never outlives the child that started it.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use cloudphone::PhoneId;
use cloudphone_sim::{SimConfig, Simulator, TableOptions};
use serde_json::{json, Value};

use crate::vendors::{self, Vendor};
use crate::{BenchArgs, Error};

/// Serves the simulator for `--internal-vendor` / `--internal-size` until stdin closes: `n`
/// phones of `vendor`, none of the others.
pub(crate) async fn serve(args: &BenchArgs, vendor: &Vendor, n: usize) -> Result<(), Error> {
    let mut config = SimConfig::default()
        .with_latency(Duration::from_millis(args.latency_ms))
        .with_time_scale(args.scale());
    for other in vendors::all().await? {
        let phones = if other.type_name == vendor.type_name {
            n
        } else {
            0
        };
        config = config.with_vendor_phones(other.type_name, phones);
    }
    if !args.limits {
        config = config.without_limits();
    }
    let sim = Simulator::start(config)
        .await
        .map_err(|e| format!("cannot start the simulator: {e}"))?;
    let served = sim
        .vendor(vendor.type_name)
        .ok_or_else(|| format!("the simulator does not serve `{}`", vendor.type_name))?;
    let table = served.provider_table(&TableOptions::new()).ok_or_else(|| {
        format!(
            "the simulator wrote no provider table for `{}`",
            vendor.type_name
        )
    })?;
    let name = served.provider_name();
    println!(
        "{}",
        json!({"url": served.url(), "provider": name, "config": format!("[providers.{name}]\n{table}")})
    );
    let _ =
        tokio::task::spawn_blocking(|| std::io::copy(&mut std::io::stdin(), &mut std::io::sink()))
            .await;
    sim.shutdown().await;
    Ok(())
}

/// The simulator in a child process, killed on drop.
pub(crate) struct SimProcess {
    child: Child,
    // Kept open: the simulator serves until its stdin closes, and never writes into a closed
    // pipe.
    _stdin: Option<ChildStdin>,
    _stdout: BufReader<ChildStdout>,
    /// The vendor's base URL (its API and the admin API).
    pub(crate) url: String,
    /// The provider's name in `config`.
    pub(crate) provider: String,
    /// The client configuration the simulator wrote for the vendor: one provider table.
    pub(crate) config: String,
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl SimProcess {
    /// Starts the simulator with `n` phones of `vendor` and waits until it serves.
    pub(crate) fn start(args: &BenchArgs, vendor: &Vendor, n: usize) -> Result<SimProcess, Error> {
        let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
        let mut cmd = Command::new(exe);
        cmd.args(["--internal-sim", "--internal-vendor", vendor.type_name])
            .args(["--internal-size", &n.to_string()])
            .args(["--latency-ms", &args.latency_ms.to_string()])
            .args(["--time-scale", &args.time_scale.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if args.limits {
            cmd.arg("--limits");
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start the simulator: {e}"))?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("piped");
        let mut sim = SimProcess {
            child,
            _stdin: stdin,
            _stdout: BufReader::new(stdout),
            url: String::new(),
            provider: String::new(),
            config: String::new(),
        };
        let mut line = String::new();
        let read = sim
            ._stdout
            .read_line(&mut line)
            .map_err(|e| format!("reading the simulator: {e}"))?;
        if read == 0 {
            return Err("the simulator exited before serving".into());
        }
        let ready: Value = serde_json::from_str(&line)
            .map_err(|e| format!("the simulator answered `{}`: {e}", line.trim()))?;
        let text = |k: &str| ready[k].as_str().unwrap_or_default().to_owned();
        sim.url = text("url");
        sim.provider = text("provider");
        sim.config = text("config");
        if sim.url.is_empty() || sim.provider.is_empty() || sim.config.is_empty() {
            return Err("the simulator did not print its URL and configuration".into());
        }
        Ok(sim)
    }
}

/// What `GET /_sim/stats` tells, endpoints shortened ([`short_endpoint`]).
pub(crate) struct SimStats {
    /// Vendor calls per endpoint since the last reset.
    pub(crate) calls: BTreeMap<String, u64>,
    /// CPU time in each endpoint's handlers since the last reset, in nanoseconds.
    pub(crate) cpu_ns: BTreeMap<String, u64>,
    /// CPU time of the whole simulator process since it started (every thread: HTTP, runtime
    /// and handlers), in nanoseconds.
    pub(crate) process_cpu_ns: u64,
    /// The simulator process's peak resident set so far (its whole life), in KiB.
    pub(crate) peak_rss_kib: Option<u64>,
}

/// The admin API of the simulator (not counted as vendor calls).
pub(crate) struct Admin {
    pub(crate) http: reqwest::Client,
    pub(crate) url: String,
}

impl Admin {
    async fn get(&self, path: &str) -> Result<Value, Error> {
        let r = self
            .http
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| format!("simulator admin {path}: {e}"))?;
        r.json()
            .await
            .map_err(|e| format!("simulator admin {path}: {e}"))
    }

    /// Zeroes the call counters.
    pub(crate) async fn reset_calls(&self) -> Result<(), Error> {
        self.http
            .delete(format!("{}/_sim/calls", self.url))
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| format!("simulator admin: {e}"))?;
        Ok(())
    }

    /// Vendor calls and the simulator's CPU time since the last reset (`GET /_sim/stats`).
    pub(crate) async fn stats(&self) -> Result<SimStats, Error> {
        let v = self.get("/_sim/stats").await?;
        let by_endpoint = |key: &str| -> BTreeMap<String, u64> {
            v[key]
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, n)| (short_endpoint(k), n.as_u64().unwrap_or(0)))
                        .collect()
                })
                .unwrap_or_default()
        };
        let process = v["process_cpu_ns"].as_u64();
        Ok(SimStats {
            calls: by_endpoint("calls"),
            cpu_ns: by_endpoint("cpu_ns"),
            process_cpu_ns: process.ok_or("simulator admin /_sim/stats: no process_cpu_ns")?,
            peak_rss_kib: v["peak_rss_kib"].as_u64(),
        })
    }

    /// The ids of the simulator's `n` phones, in seed order.
    pub(crate) async fn phone_ids(&self, n: usize) -> Result<Vec<PhoneId>, Error> {
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
            return Err(format!("the simulator holds {} phones, not {n}", ids.len()));
        }
        Ok(ids)
    }
}

/// `POST /v1/{project_id}/cloud-phone/phones/batch-stop` → `batch-stop`;
/// `GET …/cloud-phone/jobs` → `GET jobs`; `POST /open/v1/phone/status` → `status`;
/// `POST / DescribeTasks` (an RPC action) → `DescribeTasks`.
pub(crate) fn short_endpoint(key: &str) -> String {
    if let Some(action) = key.strip_prefix("POST / ") {
        return action.to_owned();
    }
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
        assert_eq!(short_endpoint("POST / DescribeTasks"), "DescribeTasks");
    }
}
