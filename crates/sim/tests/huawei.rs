//! Huawei CPH + IAM wire behaviour: tokens, AK/SK, jobs, listing, throttling.

mod common;

use std::time::Duration;

use cloudphone_sim::huawei::status;
use cloudphone_sim::{HuaweiLimits, SimConfig, SimCredentials};
use common::*;
use reqwest::Method;
use serde_json::{json, Value};
use time::OffsetDateTime;

fn login_body(c: &SimCredentials, password: &str) -> Value {
    json!({"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": c.huawei_username, "password": password, "domain": {"name": c.huawei_domain}}}},
        "scope": {"project": {"name": c.huawei_region}}}})
}

#[tokio::test]
async fn iam_login_token_use_and_expiry() {
    let sim = sim(fast()).await;
    let c = client();
    let creds = sim.credentials().clone();
    let url = format!("{}/v3/auth/tokens", sim.iam_url());

    let bad = c
        .post(&url)
        .json(&login_body(&creds, "wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
    let v: Value = bad.json().await.unwrap();
    assert_eq!(v["error"]["message"], "The username or password is wrong.");

    let ok = c
        .post(&url)
        .json(&login_body(&creds, &creds.huawei_password))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 201);
    let token = ok.headers()["x-subject-token"]
        .to_str()
        .unwrap()
        .to_string();
    let v: Value = ok.json().await.unwrap();
    assert_eq!(
        v["token"]["project"]["id"],
        creds.huawei_project_id.as_str()
    );
    let expires = v["token"]["expires_at"].as_str().unwrap();
    assert!(expires.ends_with('Z') && expires.len() == "2020-01-04T09:05:22.701000Z".len());

    let call = |t: String| {
        let c = c.clone();
        let url = cph(&sim, "phones?limit=1");
        async move {
            let r = c.get(url).header("x-auth-token", t).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (st, v) = call(token.clone()).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["count"], 20);

    let (st, v) = call("not-a-token".into()).await;
    assert_eq!(st, 401);
    assert_eq!(v["error_code"], "APIGW.0301");

    sim.huawei().expire_tokens();
    let (st, v) = call(token).await;
    assert_eq!(st, 401);
    assert_eq!(v["error_code"], "APIGW.0301");
    assert!(v["error_msg"].as_str().unwrap().contains("token expired"));

    // A short ttl expires by itself.
    sim.huawei().set_token_ttl(Duration::from_millis(300));
    let token = sim.huawei().issue_token();
    assert_eq!(call(token.clone()).await.0, 200);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (st, v) = call(token).await;
    assert_eq!(st, 401);
    assert!(v["error_msg"].as_str().unwrap().contains("token expired"));

    // The static token keeps working; a token of another project does not.
    assert_eq!(call(creds.huawei_token.clone()).await.0, 200);
    let mut other = login_body(&creds, &creds.huawei_password);
    other["auth"]["scope"]["project"] = json!({"name": "ap-southeast-1"});
    sim.huawei().set_token_ttl(Duration::from_secs(60));
    let r = c.post(&url).json(&other).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let other_token = r.headers()["x-subject-token"].to_str().unwrap().to_string();
    let (st, v) = call(other_token).await;
    assert_eq!(st, 401);
    assert_eq!(v["error_code"], "APIGW.0301");
    sim.shutdown().await;
}

#[tokio::test]
async fn aksk_signature_checks() {
    let sim = sim(fast()).await;
    let c = client();
    let creds = sim.credentials().clone();
    let now = sdk_date(OffsetDateTime::now_utc());
    let url = cph(&sim, "phones?offset=0&limit=5");

    let r = hw_signed(&c, &creds, Method::GET, &url, None, &now)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().contains_key("x-request-id"));

    // Signed POST with a body.
    let id = sim.huawei_phone_ids()[0].clone();
    let body = json!({"phone_ids": [id]});
    let r = hw_signed(
        &c,
        &creds,
        Method::POST,
        &cph(&sim, "phones/batch-stop"),
        Some(&body),
        &now,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 200);

    let r = hw_signed_with_key(&c, &creds, "wrong-secret", Method::GET, &url, None, &now)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().await.unwrap()["error_code"], "APIGW.0301");

    let stale = sdk_date(OffsetDateTime::now_utc() - time::Duration::minutes(20));
    let r = hw_signed(&c, &creds, Method::GET, &url, None, &stale)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().await.unwrap()["error_code"], "APIGW.0303");

    // Valid signature, but the path names another project.
    let other = format!(
        "{}/v1/{}/cloud-phone/phones",
        sim.huawei_url(),
        "f".repeat(32)
    );
    let r = hw_signed(&c, &creds, Method::GET, &other, None, &now)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().await.unwrap()["error_code"], "APIGW.0301");

    // No credentials at all.
    let r = c.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 401);
    sim.shutdown().await;
}

#[tokio::test]
async fn security_token_and_lockout() {
    let creds = SimCredentials {
        huawei_security_token: Some("sim-sts".into()),
        ..SimCredentials::default()
    };
    let sim = sim(fast().with_credentials(creds.clone())).await;
    let c = client();
    let now = sdk_date(OffsetDateTime::now_utc());
    let url = cph(&sim, "phones");
    assert_eq!(
        hw_signed(&c, &creds, Method::GET, &url, None, &now)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let no_sts = SimCredentials {
        huawei_security_token: None,
        ..creds.clone()
    };
    assert_eq!(
        hw_signed(&c, &no_sts, Method::GET, &url, None, &now)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );

    // Five consecutive failures lock the key: even a correct signature is refused then.
    for _ in 0..5 {
        let r = hw_signed_with_key(&c, &creds, "bad", Method::GET, &url, None, &now)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
    }
    let r = hw_signed(&c, &creds, Method::GET, &url, None, &now)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.json::<Value>().await.unwrap()["error_msg"]
        .as_str()
        .unwrap()
        .contains("locked"));
    // The lock lasts 5 min × 0.01 = 3 s; lifting the limits clears it at once.
    sim.huawei().set_limits(HuaweiLimits::default());
    assert_eq!(
        hw_signed(&c, &creds, Method::GET, &url, None, &now)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn batch_reset_jobs_finish() {
    let sim = sim(SimConfig::default().with_time_scale(0.1)).await;
    let c = client();
    let ctl = sim.huawei();
    let ids = sim.huawei_phone_ids();
    let running: Vec<&String> = ids
        .iter()
        .filter(|id| ctl.status(id) == Some(status::RUNNING))
        .take(2)
        .collect();
    let body = json!({
    "image_id": "1564567b8bab40f34711234cb80d8574",
    "phones": [
        {"phone_id": running[0], "property": "{\"sys.prop.writephonenum\":\"13666666666\"}"},
        {"phone_id": running[1]},
        {"phone_id": "not-a-phone"},
        {"phone_id": "0123456789abcdef0123456789abcdef"},
    ]});
    let (st, v) = hw(&c, &sim, Method::POST, "phones/batch-reset", Some(body)).await;
    assert_eq!(st, 200, "{v}");
    let request_id = v["request_id"].as_str().unwrap().to_string();
    assert_eq!(request_id.len(), 32);
    let jobs = v["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 4);
    assert_eq!(jobs[2]["error_code"], "CPS.0004");
    assert_eq!(jobs[2]["error_msg"], "Parameter: phone_id is invalid.");
    // A well-formed but unknown id: the seed page's own example answers it with CPS.0004.
    assert_eq!(jobs[3]["error_code"], "CPS.0004");
    assert_eq!(jobs[3]["error_msg"], "Parameter: phone_id is invalid.");
    assert!(jobs[3].get("job_id").is_none());
    let job_id = jobs[0]["job_id"].as_str().unwrap().to_string();
    assert_eq!(ctl.status(running[0]), Some(status::RESETTING));
    assert_eq!(ctl.applied_resets(running[0]), 1);

    // Resetting again while busy is refused per phone; nothing is applied twice.
    let (_, v) = hw(
        &c,
        &sim,
        Method::POST,
        "phones/batch-reset",
        Some(json!({"phones": [{"phone_id": running[0]}]})),
    )
    .await;
    assert_eq!(v["jobs"][0]["error_code"], "CPS.0022");
    assert_eq!(ctl.applied_resets(running[0]), 1);

    let (st, v) = hw(&c, &sim, Method::GET, &format!("jobs/{job_id}"), None).await;
    assert_eq!(st, 200);
    assert_eq!(v["status"], 1);
    assert_eq!(v["phone_id"], running[0].as_str());
    assert!(v["end_time"].is_null());

    let done = eventually(Duration::from_secs(3), || {
        let (c, sim, job_id) = (c.clone(), &sim, job_id.clone());
        async move {
            hw(&c, sim, Method::GET, &format!("jobs/{job_id}"), None)
                .await
                .1["status"]
                == 2
        }
    })
    .await;
    assert!(done, "job finishes after (scaled) 500 ms");
    let (_, phone) = hw(
        &c,
        &sim,
        Method::GET,
        &format!("phones/{}", running[0]),
        None,
    )
    .await;
    assert_eq!(phone["status"], status::RUNNING);
    assert_eq!(phone["image_id"], "1564567b8bab40f34711234cb80d8574");
    assert!(phone["request_id"].is_string());

    let (_, v) = hw(
        &c,
        &sim,
        Method::GET,
        &format!("jobs?request_id={request_id}"),
        None,
    )
    .await;
    assert_eq!(v["jobs"].as_array().unwrap().len(), 2);
    assert!(v.get("count").is_none());
    let (_, v) = hw(
        &c,
        &sim,
        Method::GET,
        &format!("jobs?request_ids={request_id},{}", "0".repeat(32)),
        None,
    )
    .await;
    assert_eq!(v["jobs"].as_array().unwrap().len(), 2);
    // More than 20 request ids, or neither request_id nor request_ids: the documented
    // parameter error, CPS.0002 (never a made-up code).
    let many = vec!["a"; 21].join(",");
    let twenty = vec!["a"; 20].join(",");
    for (query, want) in [
        (format!("jobs?request_ids={many}"), 400),
        ("jobs".to_string(), 400),
        ("jobs?offset=0&limit=10".to_string(), 400),
        (format!("jobs?request_ids={twenty}"), 200),
    ] {
        let (st, v) = hw(&c, &sim, Method::GET, &query, None).await;
        assert_eq!(st, want, "{query}: {v}");
        if want == 400 {
            assert_eq!(v["error_code"], "CPS.0002", "{query}: {v}");
        }
    }

    // Parameter errors.
    let (st, v) = hw(
        &c,
        &sim,
        Method::POST,
        "phones/batch-reset",
        Some(json!({"phones": []})),
    )
    .await;
    assert_eq!((st, v["error_code"].as_str().unwrap()), (400, "CPS.0009"));
    let (st, v) = hw(
        &c,
        &sim,
        Method::POST,
        "phones/batch-reset",
        Some(json!({"phones": [{"phone_id": running[1], "property": {"a": "b"}}]})),
    )
    .await;
    assert_eq!(st, 400);
    assert!(v["error_code"].as_str().unwrap().starts_with("CPS."));
    // The wrong shape for batch-stop (`phones` instead of `phone_ids`) is an empty list.
    let (st, v) = hw(
        &c,
        &sim,
        Method::POST,
        "phones/batch-stop",
        Some(json!({"phones": [{"phone_id": running[1]}]})),
    )
    .await;
    assert_eq!((st, v["error_code"].as_str().unwrap()), (400, "CPS.0009"));
    let (st, v) = hw(&c, &sim, Method::GET, "phones/zzz", None).await;
    assert_eq!((st, v["error_code"].as_str().unwrap()), (400, "CPS.0004"));
    let (st, v) = hw(
        &c,
        &sim,
        Method::GET,
        &format!("phones/{}", "0".repeat(32)),
        None,
    )
    .await;
    assert_eq!((st, v["error_code"].as_str().unwrap()), (400, "CPS.0005"));
    let (st, v) = hw(&c, &sim, Method::GET, "no-such-api", None).await;
    assert_eq!((st, v["error_code"].as_str().unwrap()), (404, "APIGW.0101"));
    sim.shutdown().await;
}

#[tokio::test]
async fn stop_and_restart_transitions() {
    let sim = sim(SimConfig::default().with_time_scale(0.1)).await;
    let c = client();
    let ctl = sim.huawei();
    let id = "abcdefabcdefabcdefabcdefabcdef01";
    ctl.add_phone(id, status::RUNNING);
    let (_, v) = hw(
        &c,
        &sim,
        Method::POST,
        "phones/batch-stop",
        Some(json!({"phone_ids": [id]})),
    )
    .await;
    assert!(v["jobs"][0]["job_id"].is_string());
    assert_eq!(ctl.status(id), Some(status::STOPPING));
    assert!(
        eventually(Duration::from_secs(3), || async {
            ctl.status(id) == Some(status::STOPPED)
        })
        .await
    );
    // batch-restart starts a stopped phone: 8 → 4 → 2.
    let (_, v) = hw(
        &c,
        &sim,
        Method::POST,
        "phones/batch-restart",
        Some(json!({"phones": [{"phone_id": id}]})),
    )
    .await;
    assert!(v["jobs"][0]["job_id"].is_string());
    assert_eq!(ctl.status(id), Some(status::RESTARTING));
    assert!(
        eventually(Duration::from_secs(3), || async {
            ctl.status(id) == Some(status::RUNNING)
        })
        .await
    );
    assert_eq!(ctl.applied_stops(id), 1);
    assert_eq!(ctl.applied_restarts(id), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn list_phones_pagination() {
    let sim = sim(fast().with_phones(1, 30)).await;
    let c = client();
    let ids = sim.huawei_phone_ids();
    let (st, v) = hw(&c, &sim, Method::GET, "phones?offset=0&limit=10", None).await;
    assert_eq!(st, 200);
    assert_eq!(v["count"], 30);
    let phones = v["phones"].as_array().unwrap();
    assert_eq!(phones.len(), 10);
    assert_eq!(phones[0]["phone_id"], ids[29].as_str(), "newest first");
    let (_, v) = hw(&c, &sim, Method::GET, "phones?offset=25&limit=10", None).await;
    assert_eq!(v["phones"].as_array().unwrap().len(), 5);
    assert_eq!(v["phones"][4]["phone_id"], ids[0].as_str());
    let (_, v) = hw(&c, &sim, Method::GET, "phones", None).await;
    assert_eq!(v["phones"].as_array().unwrap().len(), 30);
    for bad in [
        "phones?limit=0",
        "phones?limit=201",
        "phones?offset=-1",
        "phones?limit=x",
    ] {
        let (st, v) = hw(&c, &sim, Method::GET, bad, None).await;
        assert_eq!(
            (st, v["error_code"].as_str().unwrap()),
            (400, "CPS.0002"),
            "{bad}"
        );
    }
    let stopped = ids
        .iter()
        .filter(|id| sim.huawei().status(id) == Some(status::STOPPED))
        .count();
    let (_, v) = hw(&c, &sim, Method::GET, "phones?status=8&limit=200", None).await;
    assert_eq!(v["count"], stopped);
    sim.shutdown().await;
}

#[tokio::test]
async fn throttling_per_api() {
    let sim = sim(SimConfig::default().with_huawei_limits(HuaweiLimits {
        per_second: Some(3),
        ..HuaweiLimits::default()
    }))
    .await;
    let c = client();
    let mut answers = Vec::new();
    for _ in 0..12 {
        answers.push(hw(&c, &sim, Method::GET, "phones?limit=1", None).await);
    }
    // Window boundaries may split the burst, but 12 quick calls cannot all pass at 3/s.
    let throttled: Vec<&Value> = answers
        .iter()
        .filter(|(st, _)| *st == 429)
        .map(|(_, v)| v)
        .collect();
    assert!(!throttled.is_empty());
    assert!(throttled.iter().all(|v| v["error_code"] == "APIGW.0308"));
    sim.shutdown().await;
}

/// The fields of the official SDK's `ShowCloudPhoneDetailResponse` (huaweicloudsdkcph).
const SDK_DETAIL_FIELDS: &[&str] = &[
    "request_id",
    "phone_name",
    "server_id",
    "phone_id",
    "image_id",
    "image_version",
    "vnc_enable",
    "phone_model_name",
    "status",
    "access_infos",
    "property",
    "custom_property",
    "metadata",
    "phone_data_volume",
    "imei",
    "type",
    "traffic_type",
    "volume_mode",
    "availability_zone",
    "has_encrypt",
    "create_time",
    "update_time",
];

#[tokio::test]
async fn phone_detail_has_the_sdk_fields_from_state() {
    let sim = sim(SimConfig::default().with_time_scale(0.1)).await;
    let c = client();
    let ctl = sim.huawei();
    let id = sim
        .huawei_phone_ids()
        .into_iter()
        .find(|id| ctl.status(id) == Some(status::RUNNING))
        .unwrap();
    let (st, before) = hw(&c, &sim, Method::GET, &format!("phones/{id}"), None).await;
    assert_eq!(st, 200);
    for k in SDK_DETAIL_FIELDS {
        assert!(before.get(*k).is_some(), "{k} missing: {before}");
    }
    assert!(before.get("has_encryption_key").is_none());
    assert_eq!(before["has_encrypt"], false);
    let imei = before["imei"].as_str().unwrap();
    assert_eq!(imei.len(), 15);
    assert!(imei.bytes().all(|b| b.is_ascii_digit()));
    let access = &before["access_infos"][0];
    for k in [
        "type",
        "device_ip",
        "phone_ip",
        "access_ip",
        "public_ip",
        "intranet_ip",
        "server_ip",
    ] {
        assert!(access[k].is_string(), "{k}: {access}");
    }
    assert!(access["listen_port"].is_u64() && access["access_port"].is_u64());
    assert!(before["phone_data_volume"]["volume_size"].is_u64());
    assert!(before["phone_data_volume"]["volume_type"].is_string());
    assert!(before["custom_property"].is_object());
    assert_eq!(before["create_time"], before["update_time"]);

    // A reset with a property: the detail shows it (and its custom_property), and
    // update_time moves.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let prop = "{\"sys.prop.writephonenum\":\"13912345678\",\"ro.sim.flag\":\"1\"}";
    let (st, v) = hw(
        &c,
        &sim,
        Method::POST,
        "phones/batch-reset",
        Some(json!({"phones": [{"phone_id": id, "property": prop}]})),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    assert!(v["jobs"][0]["job_id"].is_string(), "{v}");
    let (_, after) = hw(&c, &sim, Method::GET, &format!("phones/{id}"), None).await;
    assert_eq!(after["property"], prop);
    assert_eq!(
        after["custom_property"]["sys.prop.writephonenum"],
        "13912345678"
    );
    assert_eq!(after["custom_property"]["ro.sim.flag"], "1");
    assert_ne!(after["update_time"], before["update_time"]);
    assert_eq!(after["create_time"], before["create_time"]);
    assert_eq!(after["imei"], before["imei"]);

    // A restart without a property keeps the last one.
    assert!(
        eventually(Duration::from_secs(3), || async {
            ctl.status(&id) == Some(status::RUNNING)
        })
        .await
    );
    let (st, _) = hw(
        &c,
        &sim,
        Method::POST,
        "phones/batch-restart",
        Some(json!({"phones": [{"phone_id": id}]})),
    )
    .await;
    assert_eq!(st, 200);
    let (_, later) = hw(&c, &sim, Method::GET, &format!("phones/{id}"), None).await;
    assert_eq!(later["property"], prop);
    sim.shutdown().await;
}
