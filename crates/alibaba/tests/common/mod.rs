#![allow(dead_code)]

pub mod wire;

use std::time::Duration;

use cloudphone_alibaba::{AlibabaConfig, AlibabaProvider};
use cloudphone_core::{PhoneId, WaitOptions};
use cloudphone_sim::{SimConfig, Simulator, TableOptions};

pub const SK: &str = "SK-alibaba-test-secret-0123456789";

pub fn ids(v: &[&str]) -> Vec<PhoneId> {
    v.iter().map(|s| PhoneId::from(*s)).collect()
}

/// Fast, unthrottled settings against `url`, signing with `SK`.
pub fn config(url: &str) -> AlibabaConfig {
    AlibabaConfig::new("cn-shanghai", "LTAI-test", SK.to_owned())
        .with_endpoint(url)
        .with_rate_limit_per_second(0)
        .with_retries(2, 1, 5)
}

pub async fn sim(phones: usize) -> Simulator {
    Simulator::start(
        SimConfig::default()
            .with_time_scale(0.01)
            .with_phones(0, 0)
            .with_vendor_phones("alibaba", phones),
    )
    .await
    .expect("simulator starts")
}

/// The configuration the simulator writes for its Alibaba side in `auth` mode, made fast.
pub fn sim_config(sim: &Simulator, options: TableOptions) -> AlibabaConfig {
    let table = sim
        .vendor("alibaba")
        .expect("registered")
        .provider_table(&options)
        .expect("a known auth mode");
    let (first, rest) = table.split_once('\n').unwrap();
    assert_eq!(first, "type = \"alibaba\"");
    let c: AlibabaConfig = toml::from_str(rest).expect("the simulator's table parses");
    c.with_rate_limit_per_second(0).with_retries(2, 1, 5)
}

pub fn sim_provider(sim: &Simulator) -> AlibabaProvider {
    AlibabaProvider::new(sim_config(sim, TableOptions::new())).unwrap()
}

pub fn fast_wait() -> WaitOptions {
    WaitOptions::default()
        .poll_interval(Duration::from_millis(10))
        .timeout(Duration::from_secs(20))
}
