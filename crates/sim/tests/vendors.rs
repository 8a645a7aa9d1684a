//! The simulator's vendors as a list: the generic control, per-vendor configuration by type name,
//! the client configuration and banner each vendor writes, and the per-vendor command line.

mod common;

use clap::{CommandFactory, Parser};
use cloudphone_sim::{Faults, SimArgs, SimConfig, TableOptions};
use common::*;
use serde_json::json;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    sim: SimArgs,
}

fn parse(args: &[&str]) -> SimConfig {
    let mut argv = vec!["cloudphone-sim"];
    argv.extend_from_slice(args);
    Cli::try_parse_from(argv)
        .expect("valid flags")
        .sim
        .into_config()
}

#[tokio::test]
async fn vendors_are_listed_with_a_generic_control() {
    let sim = sim(fast().with_phones(3, 2)).await;
    let types: Vec<&str> = sim.vendors().iter().map(|v| v.type_name()).collect();
    assert_eq!(types, ["geelark", "huawei-cph", "alibaba"]);
    let gl = sim.vendor("geelark").expect("registered");
    assert_eq!(gl.url(), sim.geelark_url());
    assert_eq!(gl.phone_ids(), sim.geelark_phone_ids());
    assert_eq!(sim.vendor("huawei-cph").unwrap().phone_count(), 2);
    assert!(sim.vendor("nope").is_none());

    for v in sim.vendors() {
        let id = v.phone_ids()[0].clone();
        assert!(v.set_status(&id, 5));
        assert_eq!(v.status(&id), Some(5));
        assert_eq!(v.phone_json(&id).unwrap()["status"], 5);
        assert!(v.applied_json(&id).unwrap().is_object());
        assert!(v.phone_json("unknown").is_none());

        v.set_faults(Faults {
            error_5xx: 0.25,
            ..Faults::default()
        });
        assert_eq!(v.faults().error_5xx, 0.25);
        v.clear_faults();
        assert_eq!(v.faults(), Faults::default());

        let limits = v.limits_json();
        assert!(limits.is_object());
        assert!(
            v.set_limits_json(json!({"nonsense": 1})).is_ok(),
            "unknown fields are ignored"
        );
        assert!(v.set_limits_json(json!("not limits")).is_err());
        assert!(v.set_limits_json(limits.clone()).is_ok());
        assert_eq!(v.limits_json(), limits);

        assert!(v.add_phone("fresh-phone", 1));
        assert!(!v.add_phone("fresh-phone", 1));
        assert_eq!(v.seed_phones(2).len(), 2);
        assert_eq!(v.phone_count(), v.phone_ids().len());

        let health = reqwest::get(format!("{}/_sim/health", v.url())).await;
        let health: serde_json::Value = health.unwrap().json().await.unwrap();
        assert_eq!(health["ok"], true);
        assert_eq!(v.calls().total(), 0, "admin calls are not vendor calls");
        v.reset_calls();
    }
    assert_eq!(sim.geelark().status(&sim.geelark_phone_ids()[0]), Some(5));
    assert_eq!(sim.huawei().phone_count(), 5);
    sim.shutdown().await;
}

#[tokio::test]
async fn client_config_is_each_vendors_table() {
    let sim = sim(fast().with_phones(1, 1)).await;
    let c = sim.credentials().clone();
    let expected = format!(
        "[providers.gl]\ntype = \"geelark\"\nbase_url = \"{gl}\"\napp_id = \"{app}\"\napi_key = \"{key}\"\n\n\
         [providers.hw]\ntype = \"huawei-cph\"\nregion = \"{region}\"\nproject_id = \"{pid}\"\n\
         endpoint = \"{hw}\"\niam_endpoint = \"{hw}\"\naccess_key = \"{ak}\"\nsecret_key = \"{sk}\"\n\n\
         [providers.ali]\ntype = \"alibaba\"\nsite = \"cn-shanghai\"\nendpoint = \"{ali}\"\n\
         access_key = \"{ali_ak}\"\nsecret_key = \"{ali_sk}\"\n",
        gl = sim.geelark_url(),
        app = c.geelark_app_id,
        key = c.geelark_api_key,
        region = c.huawei_region,
        pid = c.huawei_project_id,
        hw = sim.huawei_url(),
        ak = c.huawei_access_key,
        sk = c.huawei_secret_key,
        ali = sim.alibaba_url(),
        ali_ak = sim.alibaba().access_key(),
        ali_sk = sim.alibaba().secret_key(),
    );
    assert_eq!(sim.client_config(), expected);

    let picked = sim
        .client_config_with(&[("geelark", "token"), ("huawei-cph", "iam")])
        .unwrap();
    assert!(picked.contains(&format!("token = \"{}\"", c.geelark_token)));
    assert!(picked.contains(&format!("password = \"{}\"", c.huawei_password)));
    assert!(!picked.contains("api_key"));
    assert!(sim.client_config_with(&[("geelark", "nope")]).is_err());
    assert!(sim.client_config_with(&[("nope", "key")]).is_err());

    let hw = sim.vendor("huawei-cph").unwrap();
    assert_eq!(hw.provider_name(), "hw");
    assert_eq!(hw.auth_modes()[0], "aksk");
    for mode in hw.auth_modes() {
        let table = hw
            .provider_table(
                &TableOptions::new()
                    .with_auth(*mode)
                    .with_url("http://proxy:1")
                    .with_secret("wrong"),
            )
            .unwrap();
        assert!(table.starts_with("type = \"huawei-cph\"\n"));
        assert!(table.contains("endpoint = \"http://proxy:1\""));
        assert!(table.contains("\"wrong\""), "{mode}: {table}");
    }
    assert!(hw
        .provider_table(&TableOptions::new().with_auth("key"))
        .is_none());
    sim.shutdown().await;
}

#[tokio::test]
async fn banner_has_each_vendors_lines_and_the_listeners() {
    let sim = sim(SimConfig::default().with_phones(2, 3)).await;
    let banner = sim.banner();
    assert!(banner.contains(&format!("GeeLark   base URL : {}\n", sim.geelark_url())));
    assert!(banner.contains(&format!("Huawei    CPH URL  : {}\n", sim.huawei_url())));
    assert!(banner.contains("  static X-Auth-Token: MIISIMSTATICTOKEN-fake-0001\n"));
    assert!(banner.contains(&format!("Alibaba   endpoint : {}\n", sim.alibaba_url())));
    assert!(banner.contains("Fleet: 2 GeeLark phones, 3 Huawei phones, 20 Alibaba phones\n"));
    assert!(banner.ends_with(&format!(
        "Listeners: geelark={} huawei-cph={} alibaba={}",
        sim.geelark_url(),
        sim.huawei_url(),
        sim.alibaba_url()
    )));
    sim.shutdown().await;
}

#[tokio::test]
async fn per_vendor_settings_by_type_name() {
    let config = fast()
        .with_vendor_phones("geelark", 4)
        .with_vendor_phones("huawei-cph", 1)
        .with_vendor_faults(
            "huawei-cph",
            Faults {
                throttle: 1.0,
                ..Faults::default()
            },
        )
        .with_vendor_limits("geelark", json!({"per_minute": 7}))
        .unwrap();
    assert_eq!(config.geelark_phones, 4, "the vendor's own field is set");
    assert_eq!(config.geelark_limits.per_minute, Some(7));
    assert!(fast().with_vendor_limits("nope", json!({})).is_err());
    assert!(fast()
        .with_vendor_limits("geelark", json!({"per_minute": "x"}))
        .is_err());
    let off = fast().without_limits();
    assert_eq!(off.geelark_limits.per_minute, None);
    assert_eq!(off.huawei_limits.per_second, None);

    let sim = sim(config).await;
    assert_eq!(sim.geelark().phone_count(), 4);
    assert_eq!(sim.huawei().faults().throttle, 1.0);
    assert_eq!(sim.geelark().limits().per_minute, Some(7));
    sim.shutdown().await;

    let err = cloudphone_sim::Simulator::start(fast().with_vendor_port("nope", 0))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("registered: geelark, huawei-cph, alibaba"),
        "{err}"
    );
}

#[test]
fn command_line_is_generic_per_vendor_and_keeps_the_old_flags() {
    Cli::command().debug_assert();

    let defaults = parse(&[]);
    assert_eq!((defaults.geelark_port, defaults.huawei_port), (7001, 7002));
    assert_eq!((defaults.geelark_phones, defaults.huawei_phones), (20, 20));

    let old = parse(&[
        "--geelark-port",
        "0",
        "--huawei-port",
        "8082",
        "--geelark-phones",
        "5",
        "--huawei-phones",
        "0",
        "--geelark-app-id",
        "APP",
        "--huawei-sk",
        "SK",
        "--huawei-security-token",
        "ST",
        "--latency-ms",
        "3",
        "--time-scale",
        "0.5",
        "--no-limits",
    ]);
    assert_eq!((old.geelark_port, old.huawei_port), (0, 8082));
    assert_eq!((old.geelark_phones, old.huawei_phones), (5, 0));
    assert_eq!(old.credentials.geelark_app_id, "APP");
    assert_eq!(old.credentials.huawei_secret_key, "SK");
    assert_eq!(old.credentials.huawei_security_token.as_deref(), Some("ST"));
    assert_eq!(old.latency.as_millis(), 3);
    assert_eq!(old.time_scale, 0.5);
    assert_eq!(old.geelark_limits.per_minute, None);
    assert_eq!(old.huawei_limits.aksk_lockout_failures, None);

    let generic = parse(&[
        "--huawei-port",
        "1",
        "--port",
        "huawei-cph=8082",
        "--port",
        "geelark=8081",
        "--phones",
        "geelark=100",
    ]);
    assert_eq!(
        (generic.geelark_port, generic.huawei_port),
        (8081, 8082),
        "the generic flags win"
    );
    assert_eq!(generic.geelark_phones, 100);

    for bad in [
        &["--port", "nope=1"][..],
        &["--port", "8081"],
        &["--phones", "geelark=x"],
    ] {
        let mut argv = vec!["cloudphone-sim"];
        argv.extend_from_slice(bad);
        assert!(Cli::try_parse_from(argv).is_err(), "{bad:?}");
    }
}
