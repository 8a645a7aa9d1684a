//! The `/_sim/` admin API over HTTP, and a 100,000-phone fleet.

mod common;

use cloudphone_sim::SimConfig;
use common::*;
use reqwest::Method;
use serde_json::{json, Value};

async fn admin(
    c: &reqwest::Client,
    method: Method,
    url: String,
    body: Option<Value>,
) -> (u16, Value) {
    let mut rb = c.request(method, url);
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let r = rb.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test]
async fn geelark_admin_over_http() {
    let sim = sim(fast()).await;
    let c = client();
    let base = format!("{}/_sim", sim.geelark_url());

    let (st, v) = admin(
        &c,
        Method::POST,
        format!("{base}/phones/seed"),
        Some(json!({"count": 3})),
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(v["ids"].as_array().unwrap().len(), 3);
    assert_eq!(sim.geelark_phone_ids().len(), 23);

    let id = "300000000000000001";
    let (st, _) = admin(
        &c,
        Method::POST,
        format!("{base}/phones"),
        Some(json!({"id": id, "status": 0, "remote_connected": true})),
    )
    .await;
    assert_eq!(st, 200);
    let (st, _) = admin(
        &c,
        Method::POST,
        format!("{base}/phones"),
        Some(json!({"id": id})),
    )
    .await;
    assert_eq!(st, 409);
    let v = gl(&c, &sim, "/open/v1/phone/stop", json!({"ids": [id]})).await;
    assert_eq!(v["data"]["failDetails"][0]["code"], 43006);

    let (_, v) = admin(
        &c,
        Method::PUT,
        format!("{base}/phones/{id}/flags"),
        Some(json!({"remote_connected": false})),
    )
    .await;
    assert_eq!(v["flags"]["remote_connected"], false);
    let (_, v) = admin(
        &c,
        Method::PUT,
        format!("{base}/phones/{id}/status"),
        Some(json!({"status": 3})),
    )
    .await;
    assert_eq!(v["status"], 3);
    let (_, v) = admin(&c, Method::GET, format!("{base}/phones/{id}"), None).await;
    assert_eq!(v["status"], 3);
    assert_eq!(v["applied"]["stops"], 0);
    let (st, _) = admin(&c, Method::GET, format!("{base}/phones/nope"), None).await;
    assert_eq!(st, 404);

    let (_, v) = admin(
        &c,
        Method::PUT,
        format!("{base}/faults"),
        Some(json!({"throttle": 1.0})),
    )
    .await;
    assert_eq!(v["throttle"], 1.0);
    assert_eq!(
        v["hang_duration_ms"], 30_000,
        "unspecified fields keep their defaults"
    );
    assert_eq!(
        gl(&c, &sim, "/open/v1/auth/status", json!({})).await["code"],
        40007
    );
    admin(&c, Method::DELETE, format!("{base}/faults"), None).await;
    assert_eq!(
        gl(&c, &sim, "/open/v1/auth/status", json!({})).await["code"],
        0
    );

    let (_, v) = admin(
        &c,
        Method::PUT,
        format!("{base}/limits"),
        Some(json!({"per_minute": null, "per_hour": 5})),
    )
    .await;
    assert_eq!(v["per_hour"], 5);
    assert!(v["per_minute"].is_null());

    let (_, v) = admin(&c, Method::GET, format!("{base}/calls"), None).await;
    assert_eq!(v["counts"]["POST /open/v1/phone/stop"], 1);
    assert_eq!(v["counts"]["POST /open/v1/auth/status"], 2);
    let last = v["recent"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["path"], "/open/v1/auth/status");
    assert!(last["headers"]
        .as_array()
        .unwrap()
        .iter()
        .any(|h| h[0] == "sign"));
    assert_eq!(sim.geelark().call_count("POST /open/v1/phone/stop"), 1);
    admin(&c, Method::DELETE, format!("{base}/calls"), None).await;
    let (_, v) = admin(&c, Method::GET, format!("{base}/calls"), None).await;
    assert!(v["counts"].as_object().unwrap().is_empty());
    sim.shutdown().await;
}

#[tokio::test]
async fn huawei_admin_over_http() {
    let sim = sim(fast()).await;
    let c = client();
    let base = format!("{}/_sim", sim.huawei_url());
    let id = "00000000000000000000000000000abc";
    let (st, _) = admin(
        &c,
        Method::POST,
        format!("{base}/phones"),
        Some(json!({"id": id, "status": 8})),
    )
    .await;
    assert_eq!(st, 200);
    let (_, v) = hw(&c, &sim, Method::GET, &format!("phones/{id}"), None).await;
    assert_eq!(v["status"], 8);
    let (_, v) = hw(
        &c,
        &sim,
        Method::POST,
        "phones/batch-reset",
        Some(json!({"phones": [{"phone_id": id}]})),
    )
    .await;
    let job = v["jobs"][0]["job_id"].as_str().unwrap().to_string();
    let (_, v) = admin(&c, Method::GET, format!("{base}/phones/{id}"), None).await;
    assert_eq!(v["applied"]["resets"], 1);
    let (_, v) = admin(&c, Method::GET, format!("{base}/jobs/{job}"), None).await;
    assert_eq!(v["operation"], "reset");
    let (_, v) = admin(
        &c,
        Method::PUT,
        format!("{base}/phones/{id}/status"),
        Some(json!({"status": -7})),
    )
    .await;
    assert_eq!(v["status"], -7);

    let (_, v) = admin(&c, Method::POST, format!("{base}/tokens"), None).await;
    let token = v["token"].as_str().unwrap().to_string();
    let ok = c
        .get(cph(&sim, "phones?limit=1"))
        .header("x-auth-token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    admin(&c, Method::POST, format!("{base}/tokens/expire"), None).await;
    let r = c
        .get(cph(&sim, "phones?limit=1"))
        .header("x-auth-token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let (_, v) = admin(
        &c,
        Method::PUT,
        format!("{base}/tokens/ttl"),
        Some(json!({"seconds": 5})),
    )
    .await;
    assert_eq!(v["seconds"], 5.0);
    assert_eq!(sim.huawei().token_ttl().as_secs(), 5);

    let (_, v) = admin(&c, Method::GET, format!("{base}/calls"), None).await;
    assert_eq!(
        v["counts"]["POST /v1/{project_id}/cloud-phone/phones/batch-reset"],
        1
    );
    assert_eq!(
        v["counts"]["GET /v1/{project_id}/cloud-phone/phones/{phone_id}"],
        1
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn holds_a_hundred_thousand_phones_per_vendor() {
    let sim = sim(fast().with_phones(100_000, 100_000)).await;
    assert_eq!(sim.geelark().phone_count(), 100_000);
    assert_eq!(sim.huawei().phone_count(), 100_000);
    let gl_ids = sim.geelark_phone_ids();
    let c = client();
    let v = gl(
        &c,
        &sim,
        "/open/v1/phone/status",
        json!({"ids": [gl_ids[99_999]]}),
    )
    .await;
    assert_eq!(v["data"]["successAmount"], 1);
    let v = gl(
        &c,
        &sim,
        "/open/v1/phone/list",
        json!({"page": 1000, "pageSize": 100}),
    )
    .await;
    assert_eq!(v["data"]["total"], 100_000);
    assert_eq!(v["data"]["items"][99]["id"], gl_ids[99_999].as_str());
    let (_, v) = hw(&c, &sim, Method::GET, "phones?offset=99990&limit=200", None).await;
    assert_eq!(v["count"], 100_000);
    assert_eq!(v["phones"].as_array().unwrap().len(), 10);
    assert_eq!(
        v["phones"][9]["phone_id"],
        sim.huawei_phone_ids()[0].as_str()
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn banner_names_urls_and_credentials() {
    let sim = sim(SimConfig::default().with_phones(2, 2)).await;
    let banner = sim.banner();
    assert!(banner.contains(&sim.geelark_url()));
    assert!(banner.contains(&sim.credentials().huawei_secret_key));
    assert_eq!(sim.iam_url(), sim.huawei_url());
    sim.shutdown().await;
}

#[tokio::test]
async fn stats_count_calls_and_their_handlers_cpu_time() {
    let sim = sim(fast()).await;
    let c = client();
    let base = format!("{}/_sim", sim.geelark_url());
    let ids = sim.geelark_phone_ids();
    for _ in 0..3 {
        gl(&c, &sim, "/open/v1/phone/status", json!({"ids": ids})).await;
    }
    let key = "POST /open/v1/phone/status";
    let (st, v) = admin(&c, Method::GET, format!("{base}/stats"), None).await;
    assert_eq!(st, 200);
    assert_eq!(v["calls"][key], 3, "{v}");
    let cpu = v["cpu_ns"][key].as_u64().unwrap();
    assert_eq!(v["cpu_ns_total"].as_u64(), Some(cpu));
    if cfg!(target_os = "linux") {
        // Three status calls of 20 phones took some CPU, and no more than the process used.
        assert!(cpu > 0, "{v}");
        assert!(v["process_cpu_ns"].as_u64().unwrap() >= cpu, "{v}");
        assert!(v["peak_rss_kib"].as_u64().unwrap() > 0, "{v}");
    }
    // The admin calls themselves are neither counted nor timed; a reset of the calls zeroes both.
    let (_, again) = admin(&c, Method::GET, format!("{base}/stats"), None).await;
    assert_eq!(again["calls"], v["calls"]);
    assert_eq!(again["cpu_ns"], v["cpu_ns"]);
    admin(&c, Method::DELETE, format!("{base}/calls"), None).await;
    let (_, zero) = admin(&c, Method::GET, format!("{base}/stats"), None).await;
    assert_eq!(zero["calls"], json!({}));
    assert_eq!(zero["cpu_ns"], json!({}));
    assert_eq!(zero["cpu_ns_total"], 0);
    // The CallStats of the in-process control carry the same handler times.
    gl(&c, &sim, "/open/v1/phone/status", json!({"ids": ids})).await;
    let stats = sim.geelark().calls();
    assert_eq!(stats.count(key), 1);
    assert!(stats.cpu_ns.contains_key(key));
}
