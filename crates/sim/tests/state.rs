//! `--state FILE`: the fleet (phones, Huawei jobs) survives a restart.

mod common;

use std::time::Duration;

use cloudphone_sim::geelark::status as gl_status;
use cloudphone_sim::huawei::status as hw_status;
use cloudphone_sim::SimConfig;
use common::*;
use reqwest::Method;
use serde_json::json;

fn state_path(name: &str) -> std::path::PathBuf {
    std::env::temp_dir()
        .join(format!(
            "cloudphone-sim-state-{}-{name}",
            std::process::id()
        ))
        .join("state.json")
}

#[tokio::test]
async fn the_fleet_and_jobs_survive_a_restart() {
    let path = state_path("restart");
    let _ = std::fs::remove_file(&path);
    let config = || {
        SimConfig::default()
            .with_phones(3, 3)
            .with_time_scale(0.01)
            .with_state_file(&path)
    };
    let sim = sim(config().with_seed(1)).await;
    let c = client();
    let gl_ids = sim.geelark_phone_ids();
    let hw_ids = sim.huawei_phone_ids();
    let ali_ids = sim.vendor("alibaba").unwrap().phone_ids();
    sim.geelark().set_status(&gl_ids[1], gl_status::EXPIRED);
    let hw_phone = hw_ids[0].clone();
    sim.huawei().set_status(&hw_phone, hw_status::RUNNING);
    let prop = "{\"sys.prop.writephonenum\":\"13900000000\"}";
    let (st, v) = hw(
        &c,
        &sim,
        Method::POST,
        "phones/batch-reset",
        Some(json!({"phones": [{"phone_id": hw_phone, "property": prop}]})),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    let request_id = v["request_id"].as_str().unwrap().to_string();
    let job_id = v["jobs"][0]["job_id"].as_str().unwrap().to_string();
    sim.shutdown().await;
    assert!(path.exists());

    // Another seed would seed other ids: the saved fleet wins.
    let sim = common::sim(config().with_seed(2)).await;
    assert_eq!(sim.geelark_phone_ids(), gl_ids);
    assert_eq!(sim.huawei_phone_ids(), hw_ids);
    assert_eq!(sim.vendor("alibaba").unwrap().phone_ids(), ali_ids);
    assert_eq!(sim.geelark().status(&gl_ids[1]), Some(gl_status::EXPIRED));
    // The reset in flight at shutdown is saved as finished.
    assert_eq!(sim.huawei().status(&hw_phone), Some(hw_status::RUNNING));
    assert_eq!(sim.huawei().applied_resets(&hw_phone), 1);
    let (_, detail) = hw(&c, &sim, Method::GET, &format!("phones/{hw_phone}"), None).await;
    assert_eq!(detail["property"], prop);
    let (st, job) = hw(&c, &sim, Method::GET, &format!("jobs/{job_id}"), None).await;
    assert_eq!(st, 200, "{job}");
    assert_eq!(job["status"], 2);
    let (_, jobs) = hw(
        &c,
        &sim,
        Method::GET,
        &format!("jobs?request_id={request_id}"),
        None,
    )
    .await;
    assert_eq!(jobs["jobs"][0]["job_id"], job_id.as_str());
    sim.shutdown().await;
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}

#[tokio::test]
async fn the_state_is_saved_periodically_when_it_changes() {
    let path = state_path("periodic");
    let _ = std::fs::remove_file(&path);
    let mut config = SimConfig::default()
        .with_phones(2, 2)
        .with_state_file(&path);
    config.state_save_interval = Duration::from_millis(50);
    let sim = sim(config).await;
    let id = sim.geelark_phone_ids()[0].clone();
    sim.geelark().set_status(&id, gl_status::EXPIRED);
    let saved = eventually(Duration::from_secs(3), || async {
        std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .is_some_and(|doc| {
                doc["vendors"]["geelark"]["phones"][0]["status"] == gl_status::EXPIRED
            })
    })
    .await;
    assert!(saved, "the change reaches the file without a shutdown");
    // A broken file is refused at start, not silently replaced.
    drop(sim);
    std::fs::write(&path, "{not json").unwrap();
    let e = cloudphone_sim::Simulator::start(SimConfig::default().with_state_file(&path))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("state"), "{e}");
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alibaba_tasks_survive_a_restart() {
    use cloudphone::{Config, Fleet, PhoneRef};
    let path = state_path("alibaba");
    let _ = std::fs::remove_file(&path);
    let config = || {
        SimConfig::default()
            .with_phones(1, 1)
            .with_time_scale(0.01)
            .with_state_file(&path)
    };
    let sim = sim(config()).await;
    let ali = sim.vendor("alibaba").unwrap().clone();
    let id = ali.phone_ids()[0].clone();
    ali.set_status(&id, cloudphone_sim::alibaba::status::RUNNING);
    let fleet = Fleet::from_config(&Config::from_toml_str(&sim.client_config()).unwrap()).unwrap();
    let report = fleet
        .stop(&[PhoneRef::new(ali.provider_name(), id.clone())])
        .await
        .unwrap();
    assert!(report.outcomes[0].outcome.error().is_none());
    sim.shutdown().await;

    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let tasks = doc["vendors"]["alibaba"]["model"]["tasks"]
        .as_array()
        .unwrap();
    assert!(!tasks.is_empty(), "{doc}");
    let task_id = tasks[0]["task_id"].as_str().unwrap().to_string();

    let sim = common::sim(config()).await;
    let task = sim.alibaba().task(&task_id).expect("the task is kept");
    assert_eq!(task.status, "Finished");
    assert_eq!(
        sim.alibaba().tasks_of_invoke(&task.invoke_id).len(),
        tasks.len()
    );
    assert_eq!(sim.alibaba().applied_stops(&id), 1);
    sim.shutdown().await;
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}
