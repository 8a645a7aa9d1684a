//! Every fault kind is observable, and ambiguous faults both apply and skip the action.

mod common;

use std::time::Duration;

use cloudphone_sim::huawei::status as hw_status;
use cloudphone_sim::{Faults, SimConfig};
use common::*;
use reqwest::Method;
use serde_json::{json, Value};

#[tokio::test]
async fn geelark_throttle_and_5xx() {
    let sim = sim(fast()).await;
    let c = client();
    let ctl = sim.geelark();
    let id = sim.geelark_phone_ids()[0].clone();

    ctl.set_faults(Faults {
        throttle: 1.0,
        ..Faults::default()
    });
    let v = gl(&c, &sim, "/open/v1/phone/restart", json!({"id": id})).await;
    assert_eq!(v["code"], 40007);
    assert_eq!(
        ctl.applied_restarts(&id),
        0,
        "a throttled call is never applied"
    );

    ctl.set_faults(Faults {
        error_5xx: 1.0,
        applied_ratio: 1.0,
        ..Faults::default()
    });
    let r = gl_request(&c, &sim, "/open/v1/phone/restart", &json!({"id": id}))
        .send()
        .await
        .unwrap();
    assert!([500, 502, 503].contains(&r.status().as_u16()));
    assert_eq!(ctl.applied_restarts(&id), 1);

    ctl.set_faults(Faults {
        error_5xx: 1.0,
        applied_ratio: 0.0,
        ..Faults::default()
    });
    let r = gl_request(&c, &sim, "/open/v1/phone/restart", &json!({"id": id}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_server_error());
    assert_eq!(ctl.applied_restarts(&id), 1);

    // With the default ratio both outcomes occur.
    ctl.set_faults(Faults {
        error_5xx: 1.0,
        ..Faults::default()
    });
    for _ in 0..30 {
        let r = gl_request(&c, &sim, "/open/v1/phone/restart", &json!({"id": id}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_server_error());
    }
    let applied = ctl.applied_restarts(&id) - 1;
    assert!(applied > 0 && applied < 30, "applied {applied} of 30");
    sim.shutdown().await;
}

#[tokio::test]
async fn geelark_reset_hang_malformed_drop() {
    let sim = sim(fast()).await;
    let c = client();
    let ctl = sim.geelark();
    let ids = sim.geelark_phone_ids();

    ctl.set_faults(Faults {
        connection_reset: 1.0,
        applied_ratio: 1.0,
        ..Faults::default()
    });
    let result = match gl_request(&c, &sim, "/open/v1/phone/restart", &json!({"id": ids[1]}))
        .send()
        .await
    {
        Ok(r) => r.bytes().await.map(|_| ()),
        Err(e) => Err(e),
    };
    assert!(result.is_err(), "the connection is cut");
    assert_eq!(ctl.applied_restarts(&ids[1]), 1);

    ctl.set_faults(Faults {
        hang: 1.0,
        hang_duration_ms: 2_000,
        ..Faults::default()
    });
    let quick = reqwest::Client::builder()
        .timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    let err = gl_request(
        &quick,
        &sim,
        "/open/v1/phone/status",
        &json!({"ids": [ids[0]]}),
    )
    .send()
    .await
    .unwrap_err();
    assert!(err.is_timeout());

    ctl.set_faults(Faults {
        malformed: 1.0,
        ..Faults::default()
    });
    let r = gl_request(&c, &sim, "/open/v1/phone/status", &json!({"ids": [ids[0]]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(serde_json::from_slice::<Value>(&r.bytes().await.unwrap()).is_err());

    let stoppable = ids
        .iter()
        .find(|id| ctl.status(id) == Some(cloudphone_sim::geelark::status::STARTED))
        .unwrap()
        .clone();
    ctl.set_faults(Faults {
        drop_ids: 1.0,
        ..Faults::default()
    });
    let v = gl(&c, &sim, "/open/v1/phone/stop", json!({"ids": [stoppable]})).await;
    assert_eq!(v["code"], 0);
    assert_eq!(v["data"]["totalAmount"], 1);
    assert!(v["data"]["successDetails"].as_array().unwrap().is_empty());
    assert!(v["data"]["failDetails"].as_array().unwrap().is_empty());
    assert_eq!(
        ctl.applied_stops(&stoppable),
        1,
        "a dropped id was still acted on"
    );

    // Faults can target one endpoint only.
    ctl.set_faults(Faults {
        throttle: 1.0,
        endpoints: vec!["/phone/stop".into()],
        ..Faults::default()
    });
    assert_eq!(
        gl(&c, &sim, "/open/v1/phone/status", json!({"ids": [ids[0]]})).await["code"],
        0
    );
    assert_eq!(
        gl(&c, &sim, "/open/v1/phone/stop", json!({"ids": [ids[0]]})).await["code"],
        40007
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn huawei_faults() {
    let sim = sim(fast()).await;
    let c = client();
    let ctl = sim.huawei();
    let running: Vec<String> = sim
        .huawei_phone_ids()
        .into_iter()
        .filter(|id| ctl.status(id) == Some(hw_status::RUNNING))
        .collect();

    ctl.set_faults(Faults {
        throttle: 1.0,
        ..Faults::default()
    });
    let (st, v) = hw(
        &c,
        &sim,
        Method::POST,
        "phones/batch-reset",
        Some(json!({"phones": [{"phone_id": running[0]}]})),
    )
    .await;
    assert_eq!((st, v["error_code"].as_str().unwrap()), (429, "APIGW.0308"));
    assert_eq!(ctl.applied_resets(&running[0]), 0);

    ctl.set_faults(Faults {
        error_5xx: 1.0,
        applied_ratio: 1.0,
        ..Faults::default()
    });
    let r = c
        .post(cph(&sim, "phones/batch-reset"))
        .header("x-auth-token", &sim.credentials().huawei_token)
        .json(&json!({"phones": [{"phone_id": running[0]}]}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_server_error());
    assert_eq!(
        ctl.applied_resets(&running[0]),
        1,
        "ambiguous failure: the reset happened"
    );

    ctl.set_faults(Faults {
        malformed: 1.0,
        applied_ratio: 0.0,
        ..Faults::default()
    });
    let r = c
        .post(cph(&sim, "phones/batch-reset"))
        .header("x-auth-token", &sim.credentials().huawei_token)
        .json(&json!({"phones": [{"phone_id": running[1]}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(serde_json::from_slice::<Value>(&r.bytes().await.unwrap()).is_err());
    assert_eq!(ctl.applied_resets(&running[1]), 0);

    ctl.set_faults(Faults {
        drop_ids: 1.0,
        ..Faults::default()
    });
    let (_, v) = hw(
        &c,
        &sim,
        Method::POST,
        "phones/batch-stop",
        Some(json!({"phone_ids": [running[2]]})),
    )
    .await;
    assert!(v["jobs"].as_array().unwrap().is_empty());
    assert_eq!(ctl.applied_stops(&running[2]), 1);

    ctl.set_faults(Faults {
        job_failure: 1.0,
        ..Faults::default()
    });
    let (_, v) = hw(
        &c,
        &sim,
        Method::POST,
        "phones/batch-reset",
        Some(json!({"phones": [{"phone_id": running[3]}]})),
    )
    .await;
    let job_id = v["jobs"][0]["job_id"].as_str().unwrap().to_string();
    assert!(
        eventually(Duration::from_secs(3), || async {
            ctl.job(&job_id).unwrap().status == -1
        })
        .await
    );
    let (_, job) = hw(&c, &sim, Method::GET, &format!("jobs/{job_id}"), None).await;
    assert_eq!(job["status"], -1);
    assert!(job["error_code"].is_string());
    assert_eq!(ctl.status(&running[3]), Some(hw_status::RESET_FAILED));

    // Tokens that expire after N calls.
    ctl.set_faults(Faults {
        expire_token_after_calls: Some(2),
        ..Faults::default()
    });
    let token = ctl.issue_token();
    let mut codes = Vec::new();
    let mut last = Value::Null;
    for _ in 0..3 {
        let r = c
            .get(cph(&sim, "phones?limit=1"))
            .header("x-auth-token", &token)
            .send()
            .await
            .unwrap();
        codes.push(r.status().as_u16());
        last = r.json().await.unwrap();
    }
    assert_eq!(codes, vec![200, 200, 401]);
    assert!(last["error_msg"]
        .as_str()
        .unwrap()
        .contains("token expired"));
    sim.shutdown().await;
}

#[tokio::test]
async fn shutdown_cuts_hanging_requests() {
    let sim = sim(SimConfig::default()).await;
    sim.geelark().set_faults(Faults {
        hang: 1.0,
        ..Faults::default()
    });
    let c = client();
    let req = gl_request(&c, &sim, "/open/v1/auth/status", &json!({}));
    let pending = tokio::spawn(async move { req.send().await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    tokio::time::timeout(Duration::from_secs(10), sim.shutdown())
        .await
        .expect("shutdown does not wait for the 30 s hang");
    let _ = pending.await;
}
