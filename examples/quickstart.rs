//! The main job as library code: status → stop → wait → reset → wait, across two vendors.
//!
//! It runs on the embedded simulator, so it needs no account:
//! `cargo run --example quickstart`.

use cloudphone::{Config, Fleet, PhoneRef, ResetOptions, WaitOptions};
use cloudphone_sim::{SimConfig, Simulator};
use std::time::Duration;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A simulator of both vendors on loopback; with real accounts, skip this and point the
    // configuration at the vendors.
    let sim =
        Simulator::start(SimConfig::default().with_phones(3, 3).with_time_scale(0.05)).await?;
    let c = sim.credentials();
    let config = Config::from_toml_str(&format!(
        r#"
        [providers.gl]
        type = "geelark"
        base_url = "{}"
        app_id = "{}"
        api_key = "{}"

        [providers.hw]
        type = "huawei-cph"
        region = "{}"
        project_id = "{}"
        endpoint = "{}"
        token = "{}"
        "#,
        sim.geelark_url(),
        c.geelark_app_id,
        c.geelark_api_key,
        c.huawei_region,
        c.huawei_project_id,
        sim.huawei_url(),
        c.huawei_token,
    ))?;
    let fleet = Fleet::from_config(&config)?;

    let phones: Vec<PhoneRef> = sim
        .geelark_phone_ids()
        .into_iter()
        .map(|id| PhoneRef::new("gl", id))
        .chain(
            sim.huawei_phone_ids()
                .into_iter()
                .map(|id| PhoneRef::new("hw", id)),
        )
        .collect();
    let wait = WaitOptions::default().poll_interval(Duration::from_millis(200));

    let status = fleet.status(&phones).await?;
    println!("status: {:?}", status.summary());

    let stopping = fleet.stop(&phones).await?; // accepted; the phones are not down yet
    let stopped = fleet.wait(&stopping, &wait).await?;
    println!("stopped: {:?}", stopped.summary());

    let resetting = fleet.reset(&phones, &ResetOptions::default()).await?;
    let reset = fleet.wait(&resetting, &wait).await?;
    for o in &reset.outcomes {
        let job = o.outcome.job.as_ref().map(|j| j.job_id()).unwrap_or("-");
        match o.outcome.error() {
            None => println!(
                "{}/{} {:?} job {job}",
                o.provider,
                o.outcome.phone,
                o.outcome.phone_state()
            ),
            Some(e) => println!("{}/{} failed: {e}", o.provider, o.outcome.phone),
        }
    }
    sim.shutdown().await;
    Ok(())
}
