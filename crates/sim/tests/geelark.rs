//! GeeLark wire behaviour: auth, per-phone rules, transitions, listing, rate limits.

mod common;

use std::time::Duration;

use cloudphone_sim::geelark::status;
use cloudphone_sim::{GeelarkLimits, SimConfig};
use common::*;
use serde_json::json;

#[tokio::test]
async fn key_and_bearer_auth() {
    let sim = sim(fast()).await;
    let c = client();
    let ids = sim.geelark_phone_ids();
    assert_eq!(ids.len(), 20);
    assert!(ids
        .iter()
        .all(|id| id.len() == 18 && id.bytes().all(|b| b.is_ascii_digit())));

    let ok = gl(&c, &sim, "/open/v1/phone/status", json!({"ids": [ids[0]]})).await;
    assert_eq!(ok["code"], 0);
    assert_eq!(ok["msg"], "成功");
    assert_eq!(ok["data"]["successDetails"][0]["id"], ids[0].as_str());
    assert_eq!(ok["data"]["successDetails"][0]["serialName"], "phone-0001");

    // A tampered sign is refused with 40003.
    let creds = sim.credentials().clone();
    let trace = trace_id();
    let bad: serde_json::Value = c
        .post(format!("{}/open/v1/phone/status", sim.geelark_url()))
        .header("appId", &creds.geelark_app_id)
        .header("traceId", &trace)
        .header("ts", "1716972892166")
        .header("nonce", &trace[..6])
        .header(
            "sign",
            "6280C080AF7C3CCE168F15C913E3444A00A618CB0E16038EED9811D6E3366BDD",
        )
        .json(&json!({"ids": [ids[0]]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(bad["code"], 40003);
    assert_eq!(bad["traceId"], trace.as_str());

    // Missing traceId is 40002.
    let no_trace: serde_json::Value = c
        .post(format!("{}/open/v1/phone/status", sim.geelark_url()))
        .json(&json!({"ids": [ids[0]]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(no_trace["code"], 40002);

    // Bearer token: the right one passes, a wrong one is 40003.
    for (token, code) in [(creds.geelark_token.as_str(), 0), ("nope", 40003)] {
        let v: serde_json::Value = c
            .post(format!("{}/open/v1/auth/status", sim.geelark_url()))
            .header("traceid", trace_id())
            .bearer_auth(token)
            .json(&json!({}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(v["code"], code);
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn stop_refusals_and_unknown_ids() {
    let sim = sim(fast()).await;
    let c = client();
    let ctl = sim.geelark();
    assert!(ctl.add_phone("100000000000000001", status::STARTED));
    assert!(ctl.add_phone("100000000000000002", status::STARTED));
    assert!(ctl.add_phone("100000000000000003", status::STARTED));
    assert!(!ctl.add_phone("100000000000000003", status::STARTED));
    ctl.set_remote_connected("100000000000000001", true);
    ctl.set_executing_task("100000000000000002", true);

    let v = gl(
        &c,
        &sim,
        "/open/v1/phone/stop",
        json!({"ids": ["100000000000000001", "100000000000000002", "100000000000000003", "999"]}),
    )
    .await;
    assert_eq!(v["code"], 0, "partial failure still answers code 0");
    let d = &v["data"];
    assert_eq!(d["totalAmount"], 4);
    assert_eq!(d["successAmount"], 1);
    assert_eq!(d["failAmount"], 3);
    let fails = d["failDetails"].as_array().unwrap();
    let code_of = |id: &str| fails.iter().find(|f| f["id"] == id).unwrap()["code"].clone();
    assert_eq!(code_of("100000000000000001"), 43006);
    assert_eq!(code_of("100000000000000002"), 43005);
    assert_eq!(code_of("999"), 42001);
    assert_eq!(ctl.applied_stops("100000000000000001"), 0);
    assert_eq!(ctl.applied_stops("100000000000000003"), 1);

    // Too many ids for status.
    let many: Vec<String> = (0..101).map(|i| format!("{i}")).collect();
    let v = gl(&c, &sim, "/open/v1/phone/status", json!({ "ids": many })).await;
    assert_eq!(v["code"], 40004);

    // Expired phone cannot start.
    ctl.add_phone("100000000000000004", status::EXPIRED);
    let v = gl(
        &c,
        &sim,
        "/open/v1/phone/start",
        json!({"ids": ["100000000000000004"]}),
    )
    .await;
    assert_eq!(v["data"]["failDetails"][0]["code"], 43004);
    sim.shutdown().await;
}

#[tokio::test]
async fn transitions_over_scaled_time() {
    // Start 3 s, stop 2 s, restart 4 s, newOne 6 s, all × 0.1: long enough that the
    // intermediate states are still visible right after the answer on a busy machine.
    let sim = sim(SimConfig::default().with_time_scale(0.1)).await;
    let c = client();
    let ctl = sim.geelark();
    let id = "200000000000000001";
    ctl.add_phone(id, status::SHUT_DOWN);

    let v = gl(
        &c,
        &sim,
        "/open/v1/phone/start",
        json!({"ids": [id], "width": 300}),
    )
    .await;
    let detail = &v["data"]["successDetails"][0];
    assert_eq!(detail["id"], id);
    assert!(detail["url"]
        .as_str()
        .unwrap()
        .starts_with("http://127.0.0.1"));
    assert!(detail["chargingMethod"].is_string(), "{detail}");
    assert_eq!(ctl.status(id), Some(status::STARTING));
    assert!(
        eventually(Duration::from_secs(3), || async {
            ctl.status(id) == Some(status::STARTED)
        })
        .await
    );

    // Stop returns before the phone is down.
    let v = gl(&c, &sim, "/open/v1/phone/stop", json!({"ids": [id]})).await;
    assert_eq!(v["data"]["successDetails"][0]["status"], status::STARTED);
    assert_eq!(ctl.status(id), Some(status::STARTED));
    assert!(
        eventually(Duration::from_secs(3), || async {
            ctl.status(id) == Some(status::SHUT_DOWN)
        })
        .await
    );

    // A start while a stop is pending cancels the stop.
    ctl.set_status(id, status::STARTED);
    gl(&c, &sim, "/open/v1/phone/stop", json!({"ids": [id]})).await;
    gl(&c, &sim, "/open/v1/phone/start", json!({"ids": [id]})).await;
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(ctl.status(id), Some(status::STARTED));
    assert_eq!(ctl.applied_starts(id), 2);

    // Restart: 1 then 0.
    let v = gl(&c, &sim, "/open/v1/phone/restart", json!({"id": id})).await;
    assert_eq!(v["code"], 0);
    assert_eq!(ctl.status(id), Some(status::STARTING));
    assert!(
        eventually(Duration::from_secs(3), || async {
            ctl.status(id) == Some(status::STARTED)
        })
        .await
    );

    // One-click new machine: a second one while in progress is 43011.
    let v = gl(
        &c,
        &sim,
        "/open/v2/phone/newOne",
        json!({"id": id, "changeBrandModel": true}),
    )
    .await;
    assert_eq!(v["code"], 0);
    let v = gl(&c, &sim, "/open/v2/phone/newOne", json!({"id": id})).await;
    assert_eq!(v["code"], 43011);
    assert_eq!(ctl.applied_resets(id), 1);
    assert!(
        eventually(Duration::from_secs(3), || async {
            ctl.status(id) == Some(status::STARTED)
        })
        .await
    );
    let v = gl(&c, &sim, "/open/v2/phone/newOne", json!({"id": "123"})).await;
    assert_eq!(v["code"], 42001);
    sim.shutdown().await;
}

#[tokio::test]
async fn list_pagination() {
    let sim = sim(fast().with_phones(25, 1)).await;
    let c = client();
    let ids = sim.geelark_phone_ids();
    let v = gl(
        &c,
        &sim,
        "/open/v1/phone/list",
        json!({"page": 3, "pageSize": 10}),
    )
    .await;
    assert_eq!(v["data"]["total"], 25);
    let items = v["data"]["items"].as_array().unwrap();
    assert_eq!(items.len(), 5);
    assert_eq!(items[0]["id"], ids[20].as_str());
    assert_eq!(items[0]["serialName"], "phone-0021");

    let v = gl(
        &c,
        &sim,
        "/open/v1/phone/list",
        json!({"page": 1, "pageSize": 101}),
    )
    .await;
    assert_eq!(v["code"], 40008);
    let v = gl(
        &c,
        &sim,
        "/open/v1/phone/list",
        json!({"page": 0, "pageSize": 10}),
    )
    .await;
    assert_eq!(v["code"], 40004);

    let v = gl(
        &c,
        &sim,
        "/open/v1/phone/list",
        json!({"page": 1, "pageSize": 100, "ids": [ids[3], ids[7]]}),
    )
    .await;
    assert_eq!(v["data"]["total"], 2);
    // With ids, paging is ignored (the docs): page 5 of size 1 still lists both.
    let v = gl(
        &c,
        &sim,
        "/open/v1/phone/list",
        json!({"page": 5, "pageSize": 1, "ids": [ids[3], ids[7]]}),
    )
    .await;
    assert_eq!(v["data"]["total"], 2);
    let items = v["data"]["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{v}");
    assert_eq!(items[1]["id"], ids[7].as_str());
    // Every item carries the documented fields, with plausible types.
    for it in items {
        let e = &it["equipmentInfo"];
        for k in [
            "countryName",
            "phoneNumber",
            "imei",
            "osVersion",
            "deviceModel",
        ] {
            assert!(e[k].is_string(), "{k}: {it}");
        }
        assert!(
            it["proxy"].is_object() && it["proxy"]["port"].is_u64(),
            "{it}"
        );
        assert!(matches!(it["chargeMode"].as_i64(), Some(0 | 1)), "{it}");
        assert!(it["hasBind"].is_boolean(), "{it}");
        assert!(it["monthlyExpire"].is_i64(), "{it}");
        assert!(matches!(it["rpaStatus"].as_i64(), Some(0 | 1)), "{it}");
    }

    // openStatus: 1 on (started), 0 off (anything else), not the raw status code.
    let ctl = sim.geelark();
    for id in &ids {
        ctl.set_status(id, status::SHUT_DOWN);
    }
    ctl.set_status(&ids[0], status::STARTED);
    ctl.set_status(&ids[1], status::STARTING);
    let on = gl(
        &c,
        &sim,
        "/open/v1/phone/list",
        json!({"pageSize": 100, "openStatus": 1}),
    )
    .await;
    assert_eq!(on["data"]["total"], 1, "{on}");
    assert_eq!(on["data"]["items"][0]["id"], ids[0].as_str());
    let off = gl(
        &c,
        &sim,
        "/open/v1/phone/list",
        json!({"pageSize": 100, "openStatus": 0}),
    )
    .await;
    assert_eq!(off["data"]["total"], 24, "{off}");

    let v = gl(
        &c,
        &sim,
        "/open/v1/phone/list",
        json!({"page": 1, "pageSize": 100, "serialName": "phone-0012"}),
    )
    .await;
    assert_eq!(v["data"]["items"][0]["id"], ids[11].as_str());
    sim.shutdown().await;
}

#[tokio::test]
async fn rate_limits_per_minute_and_hour() {
    // Real-time windows so the test cannot straddle a window boundary in practice.
    let config = SimConfig::default().with_geelark_limits(GeelarkLimits {
        per_minute: Some(3),
        per_hour: None,
        ..GeelarkLimits::default()
    });
    let sim = sim(config).await;
    let c = client();
    let id = sim.geelark_phone_ids()[0].clone();
    let mut codes = Vec::new();
    for _ in 0..4 {
        codes.push(
            gl(&c, &sim, "/open/v1/phone/status", json!({"ids": [id]})).await["code"].clone(),
        );
    }
    assert_eq!(codes, vec![0, 0, 0, 40007]);
    // Limits are per API path: another path is unaffected.
    let v = gl(
        &c,
        &sim,
        "/open/v1/phone/list",
        json!({"page": 1, "pageSize": 1}),
    )
    .await;
    assert_eq!(v["code"], 0);

    sim.geelark().set_limits(GeelarkLimits {
        per_minute: None,
        per_hour: Some(2),
        ..GeelarkLimits::default()
    });
    let mut codes = Vec::new();
    for _ in 0..4 {
        codes.push(
            gl(&c, &sim, "/open/v1/phone/status", json!({"ids": [id]})).await["code"].clone(),
        );
    }
    assert_eq!(
        codes,
        vec![0, 0, 40014, 40014],
        "hourly excess locks the API"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn deterministic_seed() {
    let a = sim(SimConfig::default().with_seed(7)).await;
    let b = sim(SimConfig::default().with_seed(7)).await;
    let c = sim(SimConfig::default().with_seed(8)).await;
    assert_eq!(a.geelark_phone_ids(), b.geelark_phone_ids());
    assert_eq!(a.huawei_phone_ids(), b.huawei_phone_ids());
    assert_ne!(a.geelark_phone_ids(), c.geelark_phone_ids());
    assert_eq!(a.seed(), 7);
    assert!(a.banner().contains("Seed: 7"), "{}", a.banner());
    a.shutdown().await;
    b.shutdown().await;
    c.shutdown().await;
}

#[tokio::test]
async fn random_ids_are_fresh_and_replayable() {
    let a = sim(SimConfig::default().with_random_seed()).await;
    let b = sim(SimConfig::default().with_random_seed()).await;
    assert_ne!(a.seed(), b.seed());
    assert_ne!(a.geelark_phone_ids(), b.geelark_phone_ids());
    assert_ne!(a.huawei_phone_ids(), b.huawei_phone_ids());
    // The printed seed replays the run.
    let again = sim(SimConfig::default().with_seed(a.seed())).await;
    assert_eq!(again.huawei_phone_ids(), a.huawei_phone_ids());
    // The command line: --random-ids overrides --seed.
    use clap::Parser;
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        sim: cloudphone_sim::SimArgs,
    }
    let fixed = Cli::parse_from(["sim", "--seed", "9"]).sim.into_config();
    assert_eq!(fixed.seed, 9);
    let fresh = |argv: &[&str]| Cli::parse_from(argv).sim.into_config().seed;
    let argv = ["sim", "--seed", "9", "--random-ids"];
    assert!(fresh(&argv) != 9 || fresh(&argv) != 9);
    for s in [a, b, again] {
        s.shutdown().await;
    }
}

/// A key-verified request with the given `ts`, correctly signed.
async fn signed_at(c: &reqwest::Client, sim: &cloudphone_sim::Simulator, ts: &str) -> i64 {
    let creds = sim.credentials();
    let trace = trace_id();
    let nonce = &trace[..6];
    let sign = cloudphone_sim::sign::geelark_sign(
        &creds.geelark_app_id,
        &trace,
        ts,
        nonce,
        &creds.geelark_api_key,
    );
    let v: serde_json::Value = c
        .post(format!("{}/open/v1/auth/status", sim.geelark_url()))
        .header("appId", &creds.geelark_app_id)
        .header("traceId", &trace)
        .header("ts", ts)
        .header("nonce", nonce)
        .header("sign", sign)
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["code"].as_i64().unwrap()
}

#[tokio::test]
async fn ts_outside_the_skew_window_is_refused() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let ms = |d: Duration| (now - d).as_millis().to_string();
    let c = client();

    // The default window: 5 minutes either way.
    let sim = sim(fast()).await;
    assert_eq!(signed_at(&c, &sim, &ms(Duration::ZERO)).await, 0);
    assert_eq!(signed_at(&c, &sim, &ms(Duration::from_secs(60))).await, 0);
    // 20 minutes old, 20 minutes ahead, or seconds instead of milliseconds: 40003.
    assert_eq!(
        signed_at(&c, &sim, &ms(Duration::from_secs(20 * 60))).await,
        40003
    );
    let ahead = (now + Duration::from_secs(20 * 60)).as_millis().to_string();
    assert_eq!(signed_at(&c, &sim, &ahead).await, 40003);
    assert_eq!(signed_at(&c, &sim, &now.as_secs().to_string()).await, 40003);
    sim.shutdown().await;

    // Configurable: a wider window accepts the 20-minute-old ts, `None` turns the check off.
    for skew in [Some(Duration::from_secs(30 * 60)), None] {
        let sim = common::sim(fast().with_geelark_max_clock_skew(skew)).await;
        assert_eq!(
            signed_at(&c, &sim, &ms(Duration::from_secs(20 * 60))).await,
            0
        );
        sim.shutdown().await;
    }
    assert_eq!(
        SimConfig::default().geelark_max_clock_skew,
        Some(cloudphone_sim::GEELARK_MAX_CLOCK_SKEW)
    );
}
