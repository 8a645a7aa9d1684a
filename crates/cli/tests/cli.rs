//! End-to-end tests of the `cloudphone` binary against the simulator.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use cloudphone_sim::{Faults, SimConfig, Simulator};
use serde_json::Value;

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

    async fn run_with(&self, args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> Output {
        let c = self.sim.credentials();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cloudphone"));
        if !args.contains(&"--config") {
            cmd.arg("--config").arg(&self.config);
        }
        cmd.args(args)
            .env(GL_KEY_VAR, &c.geelark_api_key)
            .env(HW_SK_VAR, &c.huawei_secret_key)
            .env_remove("RUST_LOG")
            .current_dir(self.dir.path())
            .stdin(if stdin.is_some() {
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
    // Bare ids on one provider, from stdin.
    let ids = env.sim.geelark_phone_ids().join("\n");
    let out = env
        .run_with(&["stop", "--provider", "gl", "-o", "json"], Some(&ids), &[])
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
