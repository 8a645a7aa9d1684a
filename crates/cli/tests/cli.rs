//! End-to-end tests of the `cloudphone` binary against the simulator.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use cloudphone_sim::{Faults, SimConfig, Simulator};
use serde_json::Value;

mod common;

struct Env {
    sim: Simulator,
    dir: tempfile::TempDir,
    config: PathBuf,
}

const GL_KEY_VAR: &str = "CLI_TEST_GEELARK_API_KEY";
const HW_SK_VAR: &str = "CLI_TEST_HW_SECRET_KEY";

impl Env {
    async fn new() -> Env {
        let sim = Simulator::start(SimConfig::default().with_phones(4, 4).with_time_scale(0.01))
            .await
            .unwrap();
        let c = sim.credentials().clone();
        let doc = format!(
            r#"
[providers.gl]
type = "geelark"
base_url = "{}"
app_id = "{}"
api_key = "${{{GL_KEY_VAR}}}"
retry_min_delay_ms = 5
retry_max_delay_ms = 50

[providers.hw]
type = "huawei-cph"
region = "{}"
project_id = "{}"
endpoint = "{}"
access_key = "{}"
secret_key = "${{{HW_SK_VAR}}}"
retry_min_delay_ms = 5
retry_max_delay_ms = 50
"#,
            sim.geelark_url(),
            c.geelark_app_id,
            c.huawei_region,
            c.huawei_project_id,
            sim.huawei_url(),
            c.huawei_access_key
        );
        // The simulator seeds a realistic mix of states; these tests start from a running fleet.
        for id in sim.geelark_phone_ids() {
            sim.geelark().set_status(&id, 0);
        }
        for id in sim.huawei_phone_ids() {
            sim.huawei().set_status(&id, 2);
        }
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("cloudphone.toml");
        std::fs::write(&config, doc).unwrap();
        Env { sim, dir, config }
    }

    fn secrets(&self) -> Vec<String> {
        let c = self.sim.credentials();
        vec![c.geelark_api_key.clone(), c.huawei_secret_key.clone()]
    }

    fn gl(&self, i: usize) -> String {
        format!("gl/{}", self.sim.geelark_phone_ids()[i])
    }

    fn hw(&self, i: usize) -> String {
        format!("hw/{}", self.sim.huawei_phone_ids()[i])
    }

    fn all(&self) -> Vec<String> {
        (0..4)
            .map(|i| self.gl(i))
            .chain((0..4).map(|i| self.hw(i)))
            .collect()
    }

    async fn run(&self, args: &[&str]) -> Output {
        self.run_with(args, None, &[]).await
    }

    /// The command for `args`, with the test configuration and its variables.
    fn command(&self, args: &[&str]) -> Command {
        let c = self.sim.credentials();
        let mut cmd = common::cloudphone(self.dir.path());
        if !args.contains(&"--config") {
            cmd.arg("--config").arg(&self.config);
        }
        cmd.args(args)
            .env(GL_KEY_VAR, &c.geelark_api_key)
            .env(HW_SK_VAR, &c.huawei_secret_key);
        cmd
    }

    async fn run_with(&self, args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> Output {
        let mut cmd = self.command(args);
        cmd.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let input = stdin.map(str::to_owned);
        let secrets = self.secrets();
        let out = tokio::task::spawn_blocking(move || {
            let mut child = cmd.spawn().unwrap();
            if let Some(text) = input {
                child
                    .stdin
                    .take()
                    .unwrap()
                    .write_all(text.as_bytes())
                    .unwrap();
            }
            child.wait_with_output().unwrap()
        })
        .await
        .unwrap();
        // Whatever the command, no secret is ever printed.
        for s in &secrets {
            assert!(!String::from_utf8_lossy(&out.stdout).contains(s.as_str()));
            assert!(!String::from_utf8_lossy(&out.stderr).contains(s.as_str()));
        }
        out
    }
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("exit code")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn status_json_has_one_outcome_per_phone_with_provider_labels() {
    let env = Env::new().await;
    let mut args = vec!["status", "--output", "json"];
    let phones = env.all();
    args.extend(phones.iter().map(String::as_str));
    let out = env.run(&args).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["operation"], "status");
    let outcomes = v["outcomes"].as_array().unwrap();
    assert_eq!(outcomes.len(), 8);
    for (o, want) in outcomes.iter().zip(&phones) {
        assert_eq!(
            format!(
                "{}/{}",
                o["provider"].as_str().unwrap(),
                o["phone_id"].as_str().unwrap()
            ),
            *want
        );
        assert_eq!(o["ok"], true);
        assert_eq!(o["state"], "running");
        assert!(o["raw_state"].is_string());
        assert!(o["error"].is_null());
    }
    assert_eq!(v["summary"]["total"], 8);
    assert_eq!(v["summary"]["succeeded"], 8);
}

#[tokio::test(flavor = "multi_thread")]
async fn stop_wait_then_start_restart_and_reset_with_properties() {
    let env = Env::new().await;
    let phones = env.all();
    let mut args = vec!["stop", "--wait", "--poll-interval", "20ms", "-o", "json"];
    args.extend(phones.iter().map(String::as_str));
    let out = env.run(&args).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let v = json(&out);
    assert!(v["outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .all(|o| o["state"] == "stopped"));

    let mut args = vec!["start", "--wait", "--poll-interval", "20ms", "-o", "json"];
    args.extend(phones.iter().map(String::as_str));
    let out = env.run(&args).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json(&out)["summary"]["succeeded"], 8);

    let hw = env.hw(1);
    let out = env
        .run(&[
            "restart",
            &hw,
            "--wait",
            "--poll-interval",
            "20ms",
            "-o",
            "json",
        ])
        .await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json(&out)["outcomes"][0]["state"], "running");

    let props = env.dir.path().join("props.json");
    std::fs::write(&props, r#"{"sys.prop.writewifissid": "lab"}"#).unwrap();
    let out = env
        .run(&[
            "reset",
            &hw,
            "--property",
            "sys.prop.writephonenum=13666666666",
            "--properties",
            props.to_str().unwrap(),
            "--wait",
            "--poll-interval",
            "20ms",
            "-o",
            "json",
        ])
        .await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["outcomes"][0]["state"], "running");
    assert!(v["outcomes"][0]["job_id"].is_string());
    assert!(v["outcomes"][0]["request_id"].is_string());
    let id = &env.sim.huawei_phone_ids()[1];
    assert_eq!(env.sim.huawei().applied_resets(id), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn reset_without_wait_reports_jobs_that_jobs_can_look_up() {
    let env = Env::new().await;
    let hw = env.hw(0);
    let out = env.run(&["reset", &hw, "-o", "json"]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["outcomes"][0]["status"], "pending");
    let job = v["outcomes"][0]["job_id"].as_str().unwrap().to_owned();
    let out = env.run(&["jobs", &format!("hw/{job}"), "-o", "json"]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["jobs"][0]["job_id"], job.as_str());
    assert_eq!(
        v["jobs"][0]["phone_id"].as_str(),
        Some(env.sim.huawei_phone_ids()[0].as_str())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn wait_until_a_state_and_phones_from_stdin_and_files() {
    let env = Env::new().await;
    // Bare ids on one provider, from stdin (`--from -`).
    let ids = env.sim.geelark_phone_ids().join("\n");
    let out = env
        .run_with(
            &["stop", "--provider", "gl", "--from", "-", "-o", "json"],
            Some(&ids),
            &[],
        )
        .await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json(&out)["summary"]["pending"], 4);
    // NAME/ID lines from a file, with a comment.
    let file = env.dir.path().join("phones.txt");
    std::fs::write(&file, format!("# lab\n{}\n{}\n", env.gl(0), env.gl(1))).unwrap();
    let out = env
        .run(&[
            "wait",
            "--until",
            "stopped",
            "--from",
            file.to_str().unwrap(),
            "--poll-interval",
            "20ms",
            "-o",
            "json",
        ])
        .await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["summary"]["succeeded"], 2);
    assert!(v["outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .all(|o| o["state"] == "stopped"));
}

#[tokio::test(flavor = "multi_thread")]
async fn ndjson_prints_one_parsable_outcome_per_line() {
    let env = Env::new().await;
    let mut args = vec![
        "stop",
        "--wait",
        "--poll-interval",
        "20ms",
        "--output",
        "ndjson",
    ];
    let phones = env.all();
    args.extend(phones.iter().map(String::as_str));
    let out = env.run(&args).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // Accepted (8) as each provider answers, then settled (8) as each phone stops.
    assert_eq!(lines.len(), 16);
    let stopped = lines.iter().filter(|l| l["state"] == "stopped").count();
    assert_eq!(stopped, 8);
}

#[tokio::test(flavor = "multi_thread")]
async fn providers_list_and_table_output() {
    let env = Env::new().await;
    let out = env.run(&["providers", "-o", "json"]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let v = json(&out);
    let types: Vec<&str> = v["providers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["geelark", "huawei-cph"]);

    let out = env.run(&["list", "-o", "json"]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json(&out)["phones"].as_array().unwrap().len(), 8);

    let gl = env.gl(0);
    let out = env.run(&["status", &gl]).await;
    assert_eq!(code(&out), 0);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("PHONE"), "{text}");
    assert!(text.contains(&gl) && text.contains("running (0)"), "{text}");
    assert!(
        text.contains("status: 1 phones — 1 done, 0 pending, 0 failed"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn exit_code_1_when_some_phones_fail() {
    let env = Env::new().await;
    env.sim
        .geelark()
        .set_remote_connected(&env.sim.geelark_phone_ids()[0], true);
    let (a, b) = (env.gl(0), env.gl(1));
    let out = env.run(&["stop", &a, &b, "-o", "json"]).await;
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["outcomes"][0]["error"]["kind"], "busy");
    assert_eq!(v["outcomes"][0]["error"]["code"], "43006");
    assert_eq!(v["outcomes"][1]["ok"], true);
}

#[tokio::test(flavor = "multi_thread")]
async fn exit_code_2_for_usage_and_configuration_errors() {
    let env = Env::new().await;
    // Unknown provider.
    let out = env.run(&["status", "zz/1"]).await;
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("unknown provider `zz`"),
        "{}",
        stderr(&out)
    );
    // No phones at all.
    let out = env.run(&["status"]).await;
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("no phones given"), "{}", stderr(&out));
    // A bad configuration names provider and key.
    let bad = env.dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[providers.gl]\ntype = \"geelark\"\napp_idd = \"x\"\n",
    )
    .unwrap();
    let out = env
        .run(&["--config", bad.to_str().unwrap(), "providers"])
        .await;
    assert_eq!(code(&out), 2);
    let err = stderr(&out);
    assert!(err.contains("`gl`") && err.contains("`app_idd`"), "{err}");
    // A missing environment variable.
    let missing = env.dir.path().join("missing.toml");
    std::fs::write(
        &missing,
        "[providers.gl]\ntype = \"geelark\"\ntoken = \"${CLI_TEST_NOT_SET}\"\n",
    )
    .unwrap();
    let out = env
        .run(&["--config", missing.to_str().unwrap(), "providers"])
        .await;
    assert_eq!(code(&out), 2);
    let err = stderr(&out);
    assert!(
        err.contains("`gl`") && err.contains("`token`") && err.contains("CLI_TEST_NOT_SET"),
        "{err}"
    );
    // A missing configuration file.
    let out = env
        .run(&["--config", "/nonexistent/cp.toml", "providers"])
        .await;
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("/nonexistent/cp.toml"));
}

#[tokio::test(flavor = "multi_thread")]
async fn exit_code_3_when_credentials_are_rejected() {
    let env = Env::new().await;
    let gl = env.gl(0);
    let out = env
        .run_with(
            &["status", &gl, "-o", "json"],
            None,
            &[(GL_KEY_VAR, "wrong-key")],
        )
        .await;
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert_eq!(
        json(&out)["outcomes"][0]["error"]["kind"],
        "unauthenticated"
    );
    let hw = env.hw(0);
    let out = env
        .run_with(
            &["stop", &hw, "-o", "json"],
            None,
            &[(HW_SK_VAR, "wrong-secret")],
        )
        .await;
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert_eq!(
        env.sim
            .huawei()
            .applied_stops(&env.sim.huawei_phone_ids()[0]),
        0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn exit_code_4_when_the_vendor_fails_and_nothing_is_done() {
    let env = Env::new().await;
    env.sim.geelark().set_faults(Faults {
        error_5xx: 1.0,
        ..Faults::default()
    });
    let (a, b) = (env.gl(0), env.gl(1));
    let out = env.run(&["status", &a, &b, "-o", "json"]).await;
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert_eq!(json(&out)["summary"]["failed"], 2);
    assert_eq!(json(&out)["outcomes"][0]["error"]["kind"], "unavailable");
}

#[tokio::test(flavor = "multi_thread")]
async fn verbose_logs_never_show_secrets() {
    let env = Env::new().await;
    let (a, b) = (env.gl(0), env.hw(0));
    let out = env
        .run_with(&["-vv", "status", &a, &b], None, &[("RUST_LOG", "trace")])
        .await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // Logs were really on (the run helper has already checked that no secret appears).
    assert!(!out.stderr.is_empty(), "expected logs on stderr");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_configuration_the_simulator_prints_works_as_is() {
    let env = Env::new().await;
    let printed = env.dir.path().join("printed.toml");
    std::fs::write(&printed, env.sim.client_config()).unwrap();
    let (a, b) = (env.gl(0), env.hw(0));
    let out = env
        .run(&[
            "--config",
            printed.to_str().unwrap(),
            "status",
            &a,
            &b,
            "-o",
            "json",
        ])
        .await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json(&out)["summary"]["succeeded"], 2);
}

/// Runs `cmd` on a blocking thread, failing the test if it has not exited within `secs`.
async fn within(secs: u64, mut cmd: Command) -> Output {
    tokio::task::spawn_blocking(move || {
        let mut child = cmd.spawn().unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            if child.try_wait().unwrap().is_some() {
                return child.wait_with_output().unwrap();
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the command did not exit within {secs}s");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    })
    .await
    .unwrap()
}

fn sim_calls(env: &Env) -> u64 {
    env.sim.geelark().calls().total() + env.sim.huawei().calls().total()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_write_failure_after_work_was_sent_exits_6_not_2() {
    let env = Env::new().await;
    for (i, format) in ["table", "json", "ndjson"].into_iter().enumerate() {
        let hw = env.hw(i);
        let id = env.sim.huawei_phone_ids()[i].clone();
        let mut cmd = env.command(&["stop", &hw, "-o", format]);
        cmd.stdin(Stdio::null())
            .stdout(std::fs::File::create("/dev/full").unwrap())
            .stderr(Stdio::piped());
        let out = within(60, cmd).await;
        let err = stderr(&out);
        assert_eq!(code(&out), 6, "{format}: {err}");
        assert!(err.contains("cannot write output"), "{format}: {err}");
        assert!(!err.contains("usage"), "{format}: {err}");
        // The work was done: the exit code says the output, not the work, failed.
        assert_eq!(env.sim.huawei().applied_stops(&id), 1, "{format}");
    }
    let hw = env.hw(0);
    // While waiting, too (ndjson prints as phones settle).
    let mut cmd = env.command(&[
        "start",
        &hw,
        "--wait",
        "--poll-interval",
        "20ms",
        "-o",
        "ndjson",
    ]);
    cmd.stdin(Stdio::null())
        .stdout(std::fs::File::create("/dev/full").unwrap())
        .stderr(Stdio::piped());
    let out = within(60, cmd).await;
    assert_eq!(code(&out), 6, "{}", stderr(&out));
    // Commands that send nothing report it the same way.
    let mut cmd = env.command(&["providers"]);
    cmd.stdin(Stdio::null())
        .stdout(std::fs::File::create("/dev/full").unwrap())
        .stderr(Stdio::piped());
    let out = within(60, cmd).await;
    assert_eq!(code(&out), 6, "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn stdin_is_read_only_when_asked_for() {
    let env = Env::new().await;
    // Stdin open and never written to or closed (as under some CI runners): no ids is a usage
    // error at once, not a wait for input.
    let mut cmd = env.command(&["status"]);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let out = tokio::task::spawn_blocking(move || {
        let mut child = cmd.spawn().unwrap();
        let stdin = child.stdin.take();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let out = loop {
            if child.try_wait().unwrap().is_some() {
                break child.wait_with_output().unwrap();
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                panic!("`status` without ids waited for stdin");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        drop((stdin, tx));
        out
    })
    .await
    .unwrap();
    drop(rx);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("no phones given"), "{}", stderr(&out));
    // Ids on stdin without `--from -` are not read.
    let ids = env.gl(0);
    let out = env.run_with(&["status"], Some(&ids), &[]).await;
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert_eq!(sim_calls(&env), 0);
    // With `--from -` they are.
    let out = env
        .run_with(&["status", "--from", "-", "-o", "json"], Some(&ids), &[])
        .await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json(&out)["summary"]["succeeded"], 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_is_refused_with_its_line_before_anything_is_sent() {
    let env = Env::new().await;
    let file = env.dir.path().join("phones.txt");
    let long = format!("gl/{}", "1".repeat(300));
    for (text, line, what) in [
        (format!("\u{feff}{}\n", env.gl(0)), 1, "byte order mark"),
        (
            format!("{}\n{}\u{200b}\n", env.gl(0), env.gl(1)),
            2,
            "zero-width",
        ),
        (
            format!("# lab\n{}\n{long}\n", env.gl(0)),
            3,
            "longer than the 256",
        ),
        (
            format!("{}\n{} # trailing\n", env.gl(0), env.gl(1)),
            2,
            "comment",
        ),
    ] {
        std::fs::write(&file, &text).unwrap();
        let out = env.run(&["stop", "--from", file.to_str().unwrap()]).await;
        let err = stderr(&out);
        assert_eq!(code(&out), 2, "{text:?}: {err}");
        assert!(
            err.contains(&format!("line {line}:")) && err.contains(what),
            "{text:?}: {err}"
        );
    }
    // A long positional id, too.
    let out = env.run(&["stop", &long]).await;
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("longer than the 256"),
        "{}",
        stderr(&out)
    );
    assert_eq!(sim_calls(&env), 0, "nothing was sent");
    // `#` inside an id is part of it: sent, and refused by the vendor as unknown.
    std::fs::write(&file, format!("{}#x\n", env.gl(0))).unwrap();
    let out = env
        .run(&["status", "--from", file.to_str().unwrap(), "-o", "json"])
        .await;
    let v = json(&out);
    assert_eq!(
        v["outcomes"][0]["phone_id"].as_str().unwrap(),
        format!("{}#x", env.sim.geelark_phone_ids()[0])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn absurd_durations_are_refused_before_anything_is_sent() {
    let env = Env::new().await;
    let gl = env.gl(0);
    for (args, want) in [
        (
            vec![
                "stop",
                gl.as_str(),
                "--wait",
                "--timeout",
                "10000000000000000000s",
            ],
            "at most 30 days",
        ),
        (
            vec![
                "wait",
                "--until",
                "stopped",
                gl.as_str(),
                "--timeout",
                "99999999999999999999999h",
            ],
            "at most 30 days",
        ),
        (
            vec!["stop", gl.as_str(), "--wait", "--poll-interval", "0"],
            "at least 10ms",
        ),
        (
            vec![
                "wait",
                "--until",
                "stopped",
                gl.as_str(),
                "--poll-interval",
                "0ms",
            ],
            "at least 10ms",
        ),
    ] {
        let out = env.run(&args).await;
        let err = stderr(&out);
        assert_eq!(code(&out), 2, "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    assert_eq!(sim_calls(&env), 0, "nothing was sent");
}

#[tokio::test(flavor = "multi_thread")]
async fn vendor_strings_cannot_forge_table_rows() {
    let env = Env::new().await;
    let hostile = "1\u{1b}[2J\rgl/999  done\n\u{202e}x";
    assert!(env.sim.geelark().add_phone(hostile, 0));
    let out = env.run(&["list", "--provider", "gl"]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    assert!(
        !text
            .chars()
            .any(|c| (c.is_control() && c != '\n') || c == '\u{202e}'),
        "{text:?}"
    );
    // One header, one row per phone (4 seeded and the hostile one), one count line.
    assert_eq!(text.lines().count(), 1 + 5 + 1, "{text}");
    assert!(
        text.contains("gl/1\\x1b[2J\\rgl/999  done\\n\\u{202e}x"),
        "{text}"
    );
    // JSON keeps the string as it is, escaped by JSON itself.
    let out = env.run(&["list", "--provider", "gl", "-o", "json"]).await;
    let v = json(&out);
    assert!(v["phones"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["phone_id"] == hostile));
}

#[tokio::test(flavor = "multi_thread")]
async fn plain_http_off_loopback_is_warned_about() {
    let env = Env::new().await;
    let cfg = env.dir.path().join("http.toml");
    std::fs::write(
        &cfg,
        "[providers.far]\ntype = \"geelark\"\nbase_url = \"http://192.0.2.7:8081\"\ntoken = \"t\"\n",
    )
    .unwrap();
    let out = env
        .run(&["--config", cfg.to_str().unwrap(), "providers"])
        .await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("WARN") && err.contains("`far`") && err.contains("http://"),
        "{err}"
    );
    // The simulator is on loopback: no warning.
    let out = env.run(&["providers"]).await;
    assert!(!stderr(&out).contains("http://"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn configuration_errors_show_variables_not_their_values() {
    let env = Env::new().await;
    let cfg = env.dir.path().join("typed.toml");
    std::fs::write(
        &cfg,
        "[providers.gl]\ntype = \"geelark\"\ntoken = \"t\"\nbatch_size = \"${CLI_TEST_TOKEN}\"\n",
    )
    .unwrap();
    let out = env
        .run_with(
            &["--config", cfg.to_str().unwrap(), "providers"],
            None,
            &[("CLI_TEST_TOKEN", "hunter2-secret")],
        )
        .await;
    assert_eq!(code(&out), 2);
    let err = stderr(&out);
    assert!(!err.contains("hunter2"), "{err}");
    assert!(
        err.contains("${CLI_TEST_TOKEN}") && err.contains("batch_size"),
        "{err}"
    );
    // A syntax error names the file, the line and the key.
    std::fs::write(&cfg, "[providers.gl]\ntype = \"geelark\"\ntoken = \n").unwrap();
    let out = env
        .run(&["--config", cfg.to_str().unwrap(), "providers"])
        .await;
    assert_eq!(code(&out), 2);
    let err = stderr(&out);
    assert!(
        err.contains(cfg.to_str().unwrap()) && err.contains("line 3") && err.contains("`token`"),
        "{err}"
    );
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn a_fifo_as_configuration_is_refused_not_waited_on() {
    let env = Env::new().await;
    let fifo = env.dir.path().join("fifo.toml");
    let made = Command::new("mkfifo").arg(&fifo).status();
    if !made.is_ok_and(|s| s.success()) {
        eprintln!("skipped: mkfifo is not available");
        return;
    }
    let mut cmd = env.command(&["--config", fifo.to_str().unwrap(), "providers"]);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = within(30, cmd).await;
    assert_eq!(code(&out), 2);
    let err = stderr(&out);
    assert!(
        err.contains("not a regular file") && err.contains("fifo.toml"),
        "{err}"
    );
}
