//! The proof of issue 14 §2: four `cloudphone` processes on one simulator account, the vendor's
//! rate limit on. With a shared Redis store the simulator sees no window over its limit and
//! throttles nothing; without it, the same run exceeds the limit and is throttled.
//!
//! Needs a real `redis-server` (on `PATH`, or `$CLOUDPHONE_TEST_REDIS`); without one the test
//! says it was skipped and why. Windows are real seconds (Huawei's per-second limit, time
//! scale 1), kept small so the run takes a few seconds.

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use cloudphone_redis::server::RedisServer;
use cloudphone_sim::{HuaweiLimits, SimConfig, Simulator, TableOptions};

mod common;

/// The simulator's limit: calls per second per API.
const VENDOR_LIMIT: u32 = 20;
/// The budget the processes share: half the vendor's limit, as the clients' defaults are (100/s
/// against Huawei's 200/s). The budget holds for the times calls are granted; the vendor counts
/// them when they arrive, a few milliseconds later and not all equally late. Any second of
/// arrivals then comes from grants less than two seconds apart (as long as no call takes a
/// second to get there): at most two budgets' worth, which is the vendor's limit.
const BUDGET: u32 = 10;
const PROCESSES: usize = 4;
const PHONES: usize = 10;
/// One detail call per phone (`status_strategy = "detail"`).
const ENDPOINT: &str = "GET /v1/{project_id}/cloud-phone/phones/{phone_id}";
const SK_VAR: &str = "SHARED_BUDGET_TEST_HW_SK";

fn config(sim: &Simulator, store: Option<&str>) -> String {
    let rate_limit = store
        .map(|url| format!("[rate_limit]\nstore = \"{url}\"\n"))
        .unwrap_or_default();
    // The simulator's own table, the secret read from the environment.
    let table = sim
        .vendor("huawei-cph")
        .expect("the Huawei simulator")
        .provider_table(&TableOptions::new().with_secret(format!("${{{SK_VAR}}}")))
        .unwrap();
    format!(
        r#"{rate_limit}
[providers.hw]
{table}status_strategy = "detail"
rate_limit_per_second = {BUDGET}
concurrency = 8
# A throttled call fails at once instead of being retried: every throttling shows.
max_retries = 0
"#
    )
}

/// Runs `status` of every phone in `PROCESSES` processes at once.
async fn run_all(sim: &Simulator, dir: &Path, doc: &str) -> Vec<Output> {
    let config = dir.join("cloudphone.toml");
    std::fs::write(&config, doc).unwrap();
    let phones: Vec<String> = sim
        .huawei_phone_ids()
        .into_iter()
        .map(|id| format!("hw/{id}"))
        .collect();
    let sk = sim.credentials().huawei_secret_key.clone();
    let children: Vec<_> = (0..PROCESSES)
        .map(|_| {
            common::cloudphone(dir)
                .arg("--config")
                .arg(&config)
                .args(["status", "-o", "json"])
                .args(&phones)
                .env(SK_VAR, &sk)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    tokio::task::spawn_blocking(move || {
        children
            .into_iter()
            .map(|c| c.wait_with_output().unwrap())
            .collect()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_processes_sharing_a_store_stay_under_the_vendor_limit_and_without_it_do_not() {
    let redis = match RedisServer::start() {
        Ok(r) => r,
        Err(why) => {
            println!("skipped four_processes_sharing_a_store_…: {why}");
            return;
        }
    };
    let sim = Simulator::start(
        SimConfig::default()
            .with_phones(0, PHONES)
            .with_time_scale(1.0)
            .with_huawei_limits(HuaweiLimits {
                per_second: Some(VENDOR_LIMIT),
                ..HuaweiLimits::off()
            }),
    )
    .await
    .unwrap();
    let hw = sim.huawei();
    let dir = tempfile::tempdir().unwrap();

    // Shared: one budget of 10/s for the four processes together.
    hw.reset_rates(Some(Duration::from_secs(1)));
    let started = Instant::now();
    let outs = run_all(&sim, dir.path(), &config(&sim, Some(&redis.url()))).await;
    let shared_took = started.elapsed();
    for out in &outs {
        assert!(
            out.status.success(),
            "{:?}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let rates = hw.rates();
    let seen = &rates.endpoints[ENDPOINT];
    println!("shared store: {seen:?} in {shared_took:?}");
    assert_eq!(seen.admitted, (PROCESSES * PHONES) as u64);
    assert_eq!(rates.throttled(), 0, "{rates:?}");
    assert!(
        seen.max_in_window <= u64::from(VENDOR_LIMIT),
        "{} calls in one second: {rates:?}",
        seen.max_in_window
    );
    // 40 calls at 10 per second: the budget made them wait for three more windows.
    assert!(shared_took >= Duration::from_secs(3), "{shared_took:?}");

    // Not shared: each process has its own 10/s, 40/s together against 20/s.
    hw.reset_rates(Some(Duration::from_secs(1)));
    let outs = run_all(&sim, dir.path(), &config(&sim, None)).await;
    let rates = hw.rates();
    let seen = &rates.endpoints[ENDPOINT];
    println!("in-process budgets: {seen:?}");
    assert!(
        seen.max_in_window > u64::from(VENDOR_LIMIT),
        "the processes together exceed the vendor's window: {rates:?}"
    );
    assert!(rates.throttled() > 0, "{rates:?}");
    assert!(
        outs.iter().any(|o| !o.status.success()),
        "throttled phones fail (no retries)"
    );
    let stdout: String = outs
        .iter()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .collect();
    assert!(stdout.contains("APIGW.0308"), "{stdout}");
}

#[tokio::test]
async fn an_unreachable_store_stops_the_command_at_start_naming_it() {
    let sim = Simulator::start(SimConfig::default().with_phones(0, 1))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("redis://:hunter2@127.0.0.1:{port}/0");
    let outs = run_all_one(&sim, dir.path(), &config(&sim, Some(&url))).await;
    let stderr = String::from_utf8_lossy(&outs.stderr);
    assert_eq!(outs.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("redis://:***@127.0.0.1:{port}/0")),
        "{stderr}"
    );
    assert!(stderr.contains("unreachable"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
    // Nothing reached the vendor.
    assert_eq!(sim.huawei().calls().total(), 0);
}

async fn run_all_one(sim: &Simulator, dir: &Path, doc: &str) -> Output {
    let config = dir.join("cloudphone.toml");
    std::fs::write(&config, doc).unwrap();
    let phone = format!("hw/{}", sim.huawei_phone_ids()[0]);
    let sk = sim.credentials().huawei_secret_key.clone();
    let mut cmd = common::cloudphone(dir);
    cmd.arg("--config")
        .arg(&config)
        .args(["status", &phone])
        .env(SK_VAR, &sk);
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}
