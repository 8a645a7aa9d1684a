//! The journal end to end: a 1,000-phone Huawei reset with `--wait` killed with SIGKILL before
//! any answer, mid-batch and mid-wait, then `cloudphone resume`: every phone the simulator
//! reset is accounted for (with its job where the vendor gave one), none is reset twice, and
//! the changes whose answer was lost are resolved by looking, never by sending again. The same
//! for GeeLark (no job ids: resume polls status). Real binary, real simulator on loopback, real
//! SQLite file, real SIGKILL.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cloudphone_sim::{Faults, SimConfig, Simulator, TableOptions};
use serde_json::Value;

mod common;
use common::wait_exit;

const HUAWEI_PHONES: usize = 1000;
const GEELARK_PHONES: usize = 150;

struct Env {
    sim: Simulator,
    dir: tempfile::TempDir,
    config: PathBuf,
    vendor: &'static str,
}

impl Env {
    /// `phones` running phones of `vendor` behind a simulator answering each call after
    /// `latency`, resets taking their base time times `scale`.
    async fn new(vendor: &'static str, phones: usize, latency: Duration, scale: f64) -> Env {
        let (gl, hw) = if vendor == "huawei-cph" {
            (0, phones)
        } else {
            (phones, 0)
        };
        let sim = Simulator::start(
            SimConfig::default()
                .with_phones(gl, hw)
                .with_time_scale(scale)
                .with_latency(latency)
                .without_limits(),
        )
        .await
        .unwrap();
        for id in sim.huawei_phone_ids() {
            sim.huawei().set_status(&id, 2);
        }
        for id in sim.geelark_phone_ids() {
            sim.geelark().set_status(&id, 0);
        }
        let v = sim.vendor(vendor).expect("the vendor's simulator");
        let table = v.provider_table(&TableOptions::new()).unwrap();
        let name = v.provider_name();
        let tuning = if vendor == "huawei-cph" {
            // Ten chunks of 100, one at a time: the batch takes about ten latencies.
            "batch_size = 100\nconcurrency = 1\n"
        } else {
            "concurrency = 8\nrate_limit_per_minute = 100000\nrate_limit_per_hour = 1000000\n"
        };
        let doc = format!(
            "[providers.{name}]\n{table}{tuning}retry_min_delay_ms = 5\nretry_max_delay_ms = 20\n"
        );
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("cloudphone.toml");
        std::fs::write(&config, doc).unwrap();
        Env {
            sim,
            dir,
            config,
            vendor,
        }
    }

    fn ids(&self) -> Vec<String> {
        if self.vendor == "huawei-cph" {
            self.sim.huawei_phone_ids()
        } else {
            self.sim.geelark_phone_ids()
        }
    }

    fn name(&self) -> &'static str {
        self.sim.vendor(self.vendor).unwrap().provider_name()
    }

    fn phones_file(&self) -> PathBuf {
        let path = self.dir.path().join("phones.txt");
        let lines: Vec<String> = self
            .ids()
            .iter()
            .map(|id| format!("{}/{id}", self.name()))
            .collect();
        std::fs::write(&path, lines.join("\n")).unwrap();
        path
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = common::cloudphone(self.dir.path());
        cmd.arg("--config")
            .arg(&self.config)
            .arg("--quiet")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// Runs a command to its end (bounded): exit code, stdout, stderr.
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let mut child = self.command(args).spawn().unwrap();
        let mut out = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        let (code, err) = wait_exit(&mut child, Duration::from_secs(60));
        (code, out, err)
    }

    /// How many times the simulator applied a reset to `id`.
    fn resets(&self, id: &str) -> u32 {
        if self.vendor == "huawei-cph" {
            self.sim.huawei().applied(id).map_or(0, |a| a.resets)
        } else {
            self.sim.geelark().applied_resets(id)
        }
    }

    /// Reset requests the simulator received (answered or not).
    fn reset_calls(&self) -> u64 {
        let key = if self.vendor == "huawei-cph" {
            "batch-reset"
        } else {
            "newOne"
        };
        let calls = if self.vendor == "huawei-cph" {
            self.sim.huawei().calls()
        } else {
            self.sim.geelark().calls()
        };
        calls
            .counts
            .iter()
            .filter(|(k, _)| k.contains(key))
            .map(|(_, v)| v)
            .sum()
    }

    /// The journal's entries, by phone.
    fn journal(&self, unfinished: bool) -> HashMap<String, Value> {
        let mut args = vec!["journal", "list", "-o", "json"];
        if unfinished {
            args.push("--unfinished");
        }
        let (code, out, err) = self.run(&args);
        assert_eq!(code, 0, "{err}");
        let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
        let path = doc["path"].as_str().unwrap();
        assert!(
            path.starts_with(self.dir.path().to_str().unwrap()),
            "the journal is in the test's state directory: {path}"
        );
        doc["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["phone_id"].as_str().unwrap().to_owned(), e.clone()))
            .collect()
    }
}

/// Polls `ready` every 2 ms until it holds (at most 30 s) while the command runs.
fn until(run: &mut Running, what: &str, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    let child = &mut run.child;
    while !ready() {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            panic!("the command ended ({status}) before {what}: {err}");
        }
        assert!(start.elapsed() < Duration::from_secs(30), "never: {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A running `reset`, its stdout read as it comes (a full pipe would stall the command).
struct Running {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    reader: std::thread::JoinHandle<()>,
}

impl Running {
    /// Kills the process with SIGKILL and reaps it; returns what it had printed.
    fn sigkill(mut self) -> String {
        self.child.kill().unwrap();
        let (code, _) = wait_exit(&mut self.child, Duration::from_secs(10));
        assert_eq!(code, -9, "killed by SIGKILL");
        self.reader.join().unwrap();
        self.lines.lock().unwrap().join("\n")
    }
}

/// [`start_reset`], killed with SIGKILL once `ready` holds (given how many lines the command
/// printed): what it printed, and the journal's unfinished entries by phone after the kill.
fn reset_killed_when(
    env: &Env,
    what: &str,
    mut ready: impl FnMut(usize) -> bool,
) -> (String, HashMap<String, Value>) {
    let mut run = start_reset(env);
    let lines = run.lines.clone();
    until(&mut run, what, || ready(lines.lock().unwrap().len()));
    let out = run.sigkill();
    (out, env.journal(true))
}

/// `reset --from FILE --wait`, ndjson, polling often.
fn start_reset(env: &Env) -> Running {
    let file = env.phones_file();
    let mut child = env
        .command(&[
            "reset",
            "--from",
            file.to_str().unwrap(),
            "--wait",
            "--poll-interval",
            "50ms",
            "-o",
            "ndjson",
        ])
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    let reader = std::thread::spawn(move || {
        for line in stdout.lines() {
            let Ok(line) = line else { break };
            sink.lock().unwrap().push(line);
        }
    });
    Running {
        child,
        lines,
        reader,
    }
}

/// The ndjson lines the killed reset printed before its end: accepted outcomes, by phone.
fn printed(out: &str) -> HashMap<String, Value> {
    out.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|v| (v["phone_id"].as_str().unwrap().to_owned(), v))
        .collect()
}

/// Runs `resume` and checks the whole story against the simulator's counters. Returns the
/// final outcomes by phone.
fn resume_and_check(env: &Env, before: &HashMap<String, Value>, shown: &HashMap<String, Value>) {
    let journaled = env.journal(false);
    let calls = env.reset_calls();
    let (code, out, err) = env.run(&[
        "resume",
        "--poll-interval",
        "50ms",
        "--timeout",
        "30s",
        "-o",
        "json",
    ]);
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    assert_eq!(env.reset_calls(), calls, "resume never sends a reset again");
    let mut resumed: HashMap<String, Value> = HashMap::new();
    for r in doc["reports"].as_array().unwrap() {
        assert_eq!(r["operation"], "reset");
        for o in r["outcomes"].as_array().unwrap() {
            resumed.insert(o["phone_id"].as_str().unwrap().to_owned(), o.clone());
        }
    }
    assert_eq!(
        resumed.keys().collect::<HashSet<_>>(),
        before.keys().collect::<HashSet<_>>(),
        "resume took every unfinished entry, and only those"
    );
    let mut unknown = 0;
    for id in env.ids() {
        let resets = env.resets(&id);
        assert!(resets <= 1, "{id} was reset {resets} times");
        // What the killed process printed as accepted was in the journal, job and all.
        if let Some(line) = shown.get(&id) {
            if line["status"] == "pending" || line["status"] == "done" {
                let entry = &journaled[&id];
                assert_eq!(entry["answer"], "accepted", "{id}: {entry}");
                assert_eq!(
                    entry["job_id"], line["job_id"],
                    "{id}: the journal has the job it was shown with"
                );
            }
        }
        match resumed.get(&id) {
            Some(o) => {
                let status = o["status"].as_str().unwrap();
                if resets == 1 {
                    assert_eq!(status, "done", "{id} was reset: accounted for as done: {o}");
                    let journaled = &before[&id]["job_id"];
                    if !journaled.is_null() {
                        assert_eq!(&o["job_id"], journaled, "{id} keeps its job");
                    }
                } else {
                    // Sent, never applied: looking shows a running phone that never reset.
                    assert_eq!(status, "unknown", "{id} was never reset: {o}");
                    assert!(before[&id]["answer"] == "none" || before[&id]["answer"] == "unknown");
                    unknown += 1;
                }
            }
            None => {
                assert_eq!(
                    resets, 0,
                    "{id} was reset but resume did not account for it"
                );
            }
        }
    }
    eprintln!(
        "{}: resumed {} entries: {unknown} unknown (never applied), the rest done",
        env.vendor,
        resumed.len()
    );
    let expect = if unknown > 0 { 5 } else { 0 };
    assert_eq!(code, expect, "{err}");
    // Nothing is left unfinished; the unknown ones ended as unknown (looked, cannot tell).
    let after = env.journal(true);
    assert!(after.is_empty(), "left unfinished: {after:?}");
    // The next resume has nothing to do.
    let (code, _, err) = env.run(&["resume", "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("nothing to resume"), "{err}");
}

fn huawei_job(v: &Value) -> bool {
    v["job_id"].as_str().is_some_and(|j| !j.is_empty())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huawei_killed_before_any_answer_then_resumed_by_looking() {
    // Resets take 4 s: resume looks well before the applied ones finish.
    let env = Env::new("huawei-cph", HUAWEI_PHONES, Duration::ZERO, 0.8).await;
    // The vendor carries out each batch reset at once, then its answer hangs: applied, answer
    // lost — the case where sending again would wipe the phones twice.
    env.sim.huawei().set_faults(Faults {
        hang: 1.0,
        applied_ratio: 1.0,
        hang_duration_ms: 20_000,
        endpoints: vec!["batch-reset".into()],
        ..Faults::default()
    });
    let ids = env.ids();
    let (out, before) = tokio::task::block_in_place(|| {
        reset_killed_when(&env, "the first chunk applied", |_| {
            ids[..100].iter().all(|id| env.resets(id) == 1)
        })
    });
    assert!(out.trim().is_empty(), "killed before any answer: {out}");
    assert_eq!(before.len(), 100, "the chunk in flight, recorded as sent");
    assert!(before.values().all(|e| e["answer"] == "none"));
    // A new reset of those phones is refused (exit 7, naming them), nothing sent.
    let phone = format!("{}/{}", env.name(), before.keys().min().unwrap());
    let calls = env.reset_calls();
    let (code, _, err) = tokio::task::block_in_place(|| env.run(&["reset", &phone]));
    assert_eq!(code, 7, "{err}");
    assert!(err.contains(&phone), "{err}");
    assert!(err.contains("--force"), "{err}");
    assert_eq!(env.reset_calls(), calls);
    tokio::task::block_in_place(|| resume_and_check(&env, &before, &HashMap::new()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huawei_killed_mid_batch_then_resumed() {
    let env = Env::new("huawei-cph", HUAWEI_PHONES, Duration::from_millis(60), 0.5).await;
    // Four chunks answered, the fifth in flight (or just answered), the rest never sent.
    let (out, before) = tokio::task::block_in_place(|| {
        reset_killed_when(&env, "five reset calls", |_| env.reset_calls() >= 5)
    });
    let shown = printed(&out);
    assert!(
        before.len() >= 400 && before.len() < HUAWEI_PHONES,
        "{}",
        before.len()
    );
    let accepted = before
        .values()
        .filter(|e| e["answer"] == "accepted")
        .count();
    assert!(accepted >= 400, "{accepted}");
    assert!(before
        .values()
        .filter(|e| e["answer"] == "accepted")
        .all(huawei_job));
    assert!(
        !shown.is_empty(),
        "accepted work was printed before the kill"
    );
    tokio::task::block_in_place(|| resume_and_check(&env, &before, &shown));
    // The phones never sent can be reset now: nothing in the journal holds them back.
    let never: Vec<String> = env
        .ids()
        .into_iter()
        .filter(|id| !before.contains_key(id))
        .collect();
    assert!(!never.is_empty());
    let (code, _, err) = tokio::task::block_in_place(|| {
        env.run(&[
            "reset",
            &format!("{}/{}", env.name(), never[0]),
            "-o",
            "json",
        ])
    });
    assert_eq!(code, 0, "{err}");
    assert_eq!(env.resets(&never[0]), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huawei_killed_mid_wait_then_resumed() {
    let env = Env::new("huawei-cph", HUAWEI_PHONES, Duration::from_millis(10), 0.5).await;
    // Every chunk answered (one line per accepted phone), then killed while waiting.
    let (out, before) = tokio::task::block_in_place(|| {
        reset_killed_when(&env, "every chunk answered", |n| n >= HUAWEI_PHONES)
    });
    let shown = printed(&out);
    assert!(shown
        .values()
        .all(|v| v["status"] == "pending" && huawei_job(v)));
    assert!(
        before.len() > HUAWEI_PHONES / 2,
        "most resets still running at the kill: {}",
        before.len()
    );
    for id in env.ids() {
        assert_eq!(env.resets(&id), 1);
    }
    tokio::task::block_in_place(|| resume_and_check(&env, &before, &shown));
    // What ended before the kill ended as done in the journal too.
    let all = tokio::task::block_in_place(|| env.journal(false));
    assert_eq!(all.len(), HUAWEI_PHONES);
    assert!(
        all.values().all(|e| e["end"] == "done"),
        "every reset ended done"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn geelark_killed_mid_batch_then_resumed_by_polling_status() {
    let env = Env::new("geelark", GEELARK_PHONES, Duration::from_millis(40), 0.3).await;
    let (out, before) = tokio::task::block_in_place(|| {
        reset_killed_when(&env, "40 reset calls", |_| env.reset_calls() >= 40)
    });
    let shown = printed(&out);
    assert!(
        before.len() >= 32 && before.len() < GEELARK_PHONES,
        "{}",
        before.len()
    );
    assert!(
        before.values().all(|e| e["job_id"].is_null()),
        "GeeLark has no jobs"
    );
    tokio::task::block_in_place(|| resume_and_check(&env, &before, &shown));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn geelark_killed_mid_wait_then_resumed_by_polling_status() {
    let env = Env::new("geelark", GEELARK_PHONES, Duration::from_millis(5), 0.3).await;
    let (out, before) = tokio::task::block_in_place(|| {
        reset_killed_when(&env, "every phone answered", |n| n >= GEELARK_PHONES)
    });
    let shown = printed(&out);
    assert!(!before.is_empty(), "resets still running at the kill");
    assert!(before.values().all(|e| e["answer"] == "accepted"));
    tokio::task::block_in_place(|| resume_and_check(&env, &before, &shown));
}
