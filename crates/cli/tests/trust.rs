//! The `cloudphone` command when things go wrong on purpose: a signal mid-reset, answers lost
//! after the vendor acted, a deadline shorter than the work. Real binary, real simulator on
//! loopback, real signals.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cloudphone_sim::{Faults, SimConfig, Simulator};
use serde_json::Value;

mod common;
use common::wait_exit;

struct Env {
    sim: Simulator,
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Env {
    /// `huawei` phones behind a simulator answering every call after `latency`; the Huawei
    /// provider sends `batch` ids per call, one call at a time, so a batch takes a while.
    async fn new(huawei: usize, latency: Duration, batch: usize) -> Env {
        Env::with_scale(huawei, latency, batch, 0.01).await
    }

    /// [`Env::new`] with the simulator's time scale (1.0: a reset takes its real 5 s).
    async fn with_scale(huawei: usize, latency: Duration, batch: usize, scale: f64) -> Env {
        let sim = Simulator::start(
            SimConfig::default()
                .with_phones(1, huawei)
                .with_time_scale(scale)
                .with_latency(latency),
        )
        .await
        .unwrap();
        for id in sim.huawei_phone_ids() {
            sim.huawei().set_status(&id, 2);
        }
        // The simulator's ready table for the Huawei provider (`hw`), with small chunks sent
        // one at a time.
        let hw = sim
            .vendors()
            .iter()
            .find(|v| v.provider_name() == "hw")
            .expect("the Huawei simulator")
            .provider_table(&cloudphone_sim::TableOptions::new())
            .unwrap();
        let doc = format!(
            "[providers.hw]\n{hw}batch_size = {batch}\nconcurrency = 1\nretry_min_delay_ms = 5\nretry_max_delay_ms = 20\n"
        );
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("cloudphone.toml");
        std::fs::write(&config, doc).unwrap();
        Env { sim, dir, config }
    }

    fn phones_file(&self) -> PathBuf {
        let path = self.dir.path().join("phones.txt");
        let lines: Vec<String> = self
            .sim
            .huawei_phone_ids()
            .iter()
            .map(|id| format!("hw/{id}"))
            .collect();
        std::fs::write(&path, lines.join("\n")).unwrap();
        path
    }

    fn spawn(&self, args: &[&str]) -> Child {
        common::cloudphone(self.dir.path())
            .arg("--config")
            .arg(&self.config)
            .arg("--quiet")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    fn resets(&self, id: &str) -> u32 {
        self.sim.huawei().applied(id).map_or(0, |a| a.resets)
    }
}

fn signal(child: &Child, name: &str) {
    let ok = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{name}");
}

/// Every phone's ndjson line, by id (the last line wins: a phone may be printed as accepted,
/// then again as it settles).
fn by_phone(lines: &[Value]) -> HashMap<String, Value> {
    lines
        .iter()
        .map(|v| (v["phone_id"].as_str().unwrap().to_owned(), v.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_mid_reset_prints_every_outcome_stops_sending_and_loses_nothing() {
    let env = Env::new(60, Duration::from_millis(150), 5).await;
    let file = env.phones_file();
    let mut child = env.spawn(&["reset", "--from", file.to_str().unwrap(), "-o", "ndjson"]);
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    // Accepted work shows up as soon as the vendor answers its chunk: wait for the first
    // line, then interrupt while the rest of the batch is still going out.
    let mut lines = Vec::new();
    let mut first = String::new();
    tokio::task::block_in_place(|| stdout.read_line(&mut first)).unwrap();
    lines.push(serde_json::from_str::<Value>(&first).unwrap());
    signal(&child, "INT");
    let (code, stderr) = tokio::task::block_in_place(|| {
        let mut rest = String::new();
        stdout.read_to_string(&mut rest).unwrap();
        for l in rest.lines() {
            lines.push(serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")));
        }
        wait_exit(&mut child, Duration::from_secs(20))
    });
    assert_eq!(code, 130, "stderr: {stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    let calls_at_exit = env.sim.huawei().calls().total();

    let ids = env.sim.huawei_phone_ids();
    let seen = by_phone(&lines);
    assert_eq!(
        seen.len(),
        ids.len(),
        "every phone gets an outcome: {lines:?}"
    );
    let (mut accepted, mut unknown, mut not_sent) = (0, 0, 0);
    for id in &ids {
        let v = &seen[id];
        let resets = env.resets(id);
        match v["status"].as_str().unwrap() {
            "pending" | "done" => {
                accepted += 1;
                assert_eq!(resets, 1, "{id} accepted but reset {resets} times");
                assert!(v["job_id"].is_string(), "accepted without its job: {v}");
            }
            "unknown" => {
                unknown += 1;
                assert!(resets <= 1, "{id} reset {resets} times");
            }
            "failed" => {
                not_sent += 1;
                assert_eq!(resets, 0, "{id} reported failed but was reset: {v}");
            }
            other => panic!("status {other}: {v}"),
        }
    }
    assert!(accepted >= 1, "the first answered chunk was accepted");
    assert!(
        not_sent > 0,
        "the interrupt came before the end: {accepted} {unknown}"
    );
    // Nothing was sent after the process ended (nothing in flight was left to retry).
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(env.sim.huawei().calls().total(), calls_at_exit);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_json_output_prints_a_valid_document_accepted_first() {
    let env = Env::new(40, Duration::from_millis(150), 5).await;
    let file = env.phones_file();
    let mut child = env.spawn(&["reset", "--from", file.to_str().unwrap(), "-o", "json"]);
    // Let a few chunks be answered, then terminate.
    let ids = env.sim.huawei_phone_ids();
    let start = Instant::now();
    while ids.iter().filter(|id| env.resets(id) > 0).count() < 10 {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no reset reached the simulator"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    signal(&child, "TERM");
    let (code, out) = tokio::task::block_in_place(|| {
        let mut out = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        (wait_exit(&mut child, Duration::from_secs(20)).0, out)
    });
    assert_eq!(code, 143);
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert!(doc["interrupted"].as_str().unwrap().contains("SIGTERM"));
    let outcomes = doc["outcomes"].as_array().unwrap();
    assert_eq!(outcomes.len(), ids.len());
    let ranks: Vec<u8> = outcomes
        .iter()
        .map(|o| match o["status"].as_str().unwrap() {
            "pending" | "done" => 0,
            "unknown" => 1,
            _ => 2,
        })
        .collect();
    assert!(
        ranks.windows(2).all(|w| w[0] <= w[1]),
        "accepted first: {ranks:?}"
    );
    assert!(ranks[0] == 0, "some work was accepted");
    let s = &doc["summary"];
    assert_eq!(
        s["pending"].as_u64().unwrap()
            + s["succeeded"].as_u64().unwrap()
            + s["failed"].as_u64().unwrap()
            + s["unknown"].as_u64().unwrap(),
        ids.len() as u64
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_lost_after_the_vendor_acted_is_unknown_with_its_own_exit_code() {
    let env = Env::new(6, Duration::ZERO, 100).await;
    // Every stop is carried out, then answered with a 5xx.
    env.sim.huawei().set_faults(Faults {
        error_5xx: 1.0,
        applied_ratio: 1.0,
        endpoints: vec!["batch-stop".into()],
        ..Faults::default()
    });
    let file = env.phones_file();
    let mut child = env.spawn(&["stop", "--from", file.to_str().unwrap(), "-o", "json"]);
    let (code, out, err) = tokio::task::block_in_place(|| {
        let mut out = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        let (code, err) = wait_exit(&mut child, Duration::from_secs(30));
        (code, out, err)
    });
    assert_eq!(code, 5, "{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    for o in doc["outcomes"].as_array().unwrap() {
        assert_eq!(o["status"], "unknown", "{o}");
        assert_eq!(o["ok"], false);
        assert_eq!(o["error"]["kind"], "unavailable", "{o}");
    }
    assert_eq!(doc["summary"]["unknown"], 6);
    // Applied once each, and never re-sent after the ambiguous answer.
    for id in env.sim.huawei_phone_ids() {
        assert_eq!(env.sim.huawei().applied(&id).unwrap().stops, 1, "{id}");
    }
    let stops: u64 = env
        .sim
        .huawei()
        .calls()
        .counts
        .iter()
        .filter(|(k, _)| k.contains("batch-stop"))
        .map(|(_, v)| v)
        .sum();
    assert_eq!(stops, 1, "a stop whose answer was lost is not retried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_timeout_bounds_the_whole_command_without_wait() {
    // Each call takes 1.5 s and there are four chunks: far more than the 1 s allowed.
    let env = Env::new(8, Duration::from_millis(1500), 2).await;
    let file = env.phones_file();
    let start = Instant::now();
    let mut child = env.spawn(&[
        "stop",
        "--from",
        file.to_str().unwrap(),
        "--timeout",
        "1s",
        "-o",
        "json",
    ]);
    let (code, out, err) = tokio::task::block_in_place(|| {
        let mut out = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        let (code, err) = wait_exit(&mut child, Duration::from_secs(30));
        (code, out, err)
    });
    assert!(
        start.elapsed() < Duration::from_secs(8),
        "{:?}",
        start.elapsed()
    );
    assert!(err.contains("--timeout"), "{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    let statuses: Vec<&str> = doc["outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses.len(), 8);
    // The first chunk was sent when time ran out: unknown; the others were never sent.
    assert_eq!(
        statuses.iter().filter(|s| **s == "unknown").count(),
        2,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == "failed").count(),
        6,
        "{statuses:?}"
    );
    assert_eq!(code, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_while_waiting_keeps_every_accepted_job() {
    // Resets take their real five seconds: the interrupt lands while waiting.
    let env = Env::with_scale(12, Duration::ZERO, 100, 1.0).await;
    let file = env.phones_file();
    let mut child = env.spawn(&[
        "reset",
        "--from",
        file.to_str().unwrap(),
        "--wait",
        "--poll-interval",
        "100ms",
        "-o",
        "ndjson",
    ]);
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let ids = env.sim.huawei_phone_ids();
    // The accepted resets are printed as soon as the vendor answers, before any waiting.
    let mut lines = Vec::new();
    tokio::task::block_in_place(|| {
        while lines.len() < ids.len() {
            let mut line = String::new();
            stdout.read_line(&mut line).unwrap();
            lines.push(serde_json::from_str::<Value>(&line).unwrap());
        }
    });
    assert!(lines
        .iter()
        .all(|v| v["status"] == "pending" && v["job_id"].is_string()));
    signal(&child, "INT");
    let (code, stderr) = tokio::task::block_in_place(|| {
        let mut rest = String::new();
        stdout.read_to_string(&mut rest).unwrap();
        for l in rest.lines() {
            lines.push(serde_json::from_str(l).unwrap());
        }
        wait_exit(&mut child, Duration::from_secs(20))
    });
    assert_eq!(code, 130, "{stderr}");
    let seen = by_phone(&lines);
    assert_eq!(seen.len(), ids.len());
    for id in &ids {
        let v = &seen[id];
        assert!(v["status"] == "pending" || v["status"] == "done", "{v}");
        assert!(v["job_id"].is_string(), "the job is kept: {v}");
        assert_eq!(env.resets(id), 1);
    }
}
