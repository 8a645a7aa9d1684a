//! The simulated eds-aic API over HTTP: signature verification (a wrong secret, a stale date, a
//! reused nonce, unsigned headers, STS tokens), `NextToken` paging, the documented
//! preconditions, tasks of both levels, throttling and faults.

mod common;

use std::time::Duration;

use cloudphone_sim::alibaba::{sign, status};
use cloudphone_sim::{Faults, SimConfig, Simulator};
use common::*;
use serde_json::Value;
use time::macros::format_description;
use time::OffsetDateTime;

fn date(t: OffsetDateTime) -> String {
    t.format(format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
    ))
    .unwrap()
}

fn nonce() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// How one request is signed (each field can be spoiled by a test).
struct Signing {
    access_key: String,
    secret: String,
    token: Option<String>,
    date: String,
    nonce: String,
}

impl Signing {
    fn ok(sim: &Simulator) -> Self {
        let a = sim.alibaba();
        Signing {
            access_key: a.access_key(),
            secret: a.secret_key(),
            token: None,
            date: date(OffsetDateTime::now_utc()),
            nonce: nonce(),
        }
    }
}

/// A signed eds-aic call: `POST /?{canonical query}` with the action in `x-acs-action`.
async fn call_signed(
    sim: &Simulator,
    action: &str,
    params: &[(&str, &str)],
    s: &Signing,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let url = reqwest::Url::parse(&sim.alibaba_url()).unwrap();
    let host = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap());
    let params: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let query = sign::canonical_query(&params);
    let mut headers = vec![
        ("host".to_string(), host),
        ("x-acs-action".to_string(), action.to_string()),
        ("x-acs-version".to_string(), "2023-09-30".to_string()),
        ("x-acs-date".to_string(), s.date.clone()),
        ("x-acs-signature-nonce".to_string(), s.nonce.clone()),
        ("x-acs-content-sha256".to_string(), sign::payload_hash(b"")),
    ];
    if let Some(t) = &s.token {
        headers.push(("x-acs-security-token".to_string(), t.clone()));
    }
    let names: Vec<String> = headers.iter().map(|(k, _)| k.clone()).collect();
    let canonical = sign::canonical_request(
        "POST",
        "/",
        &params,
        &headers,
        &names,
        &sign::payload_hash(b""),
    )
    .unwrap();
    let sig = sign::signature(&s.secret, &sign::string_to_sign(&canonical));
    let mut sorted = names.clone();
    sorted.sort();
    let mut rb = client().post(format!("{}/?{query}", sim.alibaba_url()));
    for (k, v) in &headers {
        rb = rb.header(k.as_str(), v.as_str());
    }
    let auth = format!(
        "ACS3-HMAC-SHA256 Credential={},SignedHeaders={},Signature={sig}",
        s.access_key,
        sorted.join(";")
    );
    let resp = rb.header("authorization", auth).send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    let body = match serde_json::from_str::<Value>(&text) {
        Ok(_) => common::canonical(&text),
        Err(_) => Value::Null,
    };
    (status, headers, body)
}

async fn call(sim: &Simulator, action: &str, params: &[(&str, &str)]) -> (u16, Value) {
    let (status, _, body) = call_signed(sim, action, params, &Signing::ok(sim)).await;
    (status, body)
}

fn config() -> SimConfig {
    SimConfig::default()
        .with_time_scale(0.01)
        .with_vendor_phones("alibaba", 20)
}

#[tokio::test]
async fn a_correct_signature_is_accepted_and_every_wrong_one_refused() {
    let sim = sim(config()).await;
    let id = sim.alibaba_phone_ids()[0].clone();
    let ids = [("AndroidInstanceIds.1", id.as_str()), ("MaxResults", "100")];
    let (st, headers, body) =
        call_signed(&sim, "DescribeAndroidInstances", &ids, &Signing::ok(&sim)).await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["InstanceModel"][0]["AndroidInstanceId"], id.as_str());
    assert_eq!(
        headers["x-acs-request-id"].to_str().unwrap(),
        body["RequestId"].as_str().unwrap()
    );

    let wrong_secret = Signing {
        secret: "not-the-secret".into(),
        ..Signing::ok(&sim)
    };
    let (st, _, body) = call_signed(&sim, "DescribeAndroidInstances", &ids, &wrong_secret).await;
    assert_eq!(
        (st, body["Code"].as_str()),
        (400, Some("SignatureDoesNotMatch"))
    );
    assert!(body["Message"]
        .as_str()
        .unwrap()
        .contains("ACS3-HMAC-SHA256\n"));

    let stale = Signing {
        date: date(OffsetDateTime::now_utc() - Duration::from_secs(16 * 60)),
        ..Signing::ok(&sim)
    };
    let (st, _, body) = call_signed(&sim, "DescribeAndroidInstances", &ids, &stale).await;
    assert_eq!(
        (st, body["Code"].as_str()),
        (400, Some("InvalidTimeStamp.Expired"))
    );
    let malformed = Signing {
        date: "2025-01-02T03:04:05.123Z".into(),
        ..Signing::ok(&sim)
    };
    let (_, _, body) = call_signed(&sim, "DescribeAndroidInstances", &ids, &malformed).await;
    assert_eq!(body["Code"], "InvalidTimeStamp.Format");

    let once = Signing::ok(&sim);
    let again = Signing {
        nonce: once.nonce.clone(),
        ..Signing::ok(&sim)
    };
    assert_eq!(
        call_signed(&sim, "DescribeAndroidInstances", &ids, &once)
            .await
            .0,
        200
    );
    let (st, _, body) = call_signed(&sim, "DescribeAndroidInstances", &ids, &again).await;
    assert_eq!(
        (st, body["Code"].as_str()),
        (400, Some("SignatureNonceUsed"))
    );

    let unknown = Signing {
        access_key: "LTAI-nobody".into(),
        ..Signing::ok(&sim)
    };
    let (st, _, body) = call_signed(&sim, "DescribeAndroidInstances", &ids, &unknown).await;
    assert_eq!(
        (st, body["Code"].as_str()),
        (404, Some("InvalidAccessKeyId.NotFound"))
    );

    // STS: the temporary AccessKey needs its token, and the static one must not carry one.
    let (ak, sk, token) = sim.alibaba().sts_credentials();
    let sts = |token: Option<String>| Signing {
        access_key: ak.clone(),
        secret: sk.clone(),
        token,
        ..Signing::ok(&sim)
    };
    assert_eq!(
        call_signed(
            &sim,
            "DescribeAndroidInstances",
            &ids,
            &sts(Some(token.clone()))
        )
        .await
        .0,
        200
    );
    let (_, _, body) = call_signed(&sim, "DescribeAndroidInstances", &ids, &sts(None)).await;
    assert_eq!(body["Code"], "MissingSecurityToken");
    let (_, _, body) = call_signed(
        &sim,
        "DescribeAndroidInstances",
        &ids,
        &sts(Some("forged".into())),
    )
    .await;
    assert_eq!(body["Code"], "InvalidSecurityToken.Malformed");

    // An x-acs header that is not signed, and no signature at all.
    let resp = client()
        .post(format!("{}/", sim.alibaba_url()))
        .header("x-acs-action", "DescribeAndroidInstances")
        .send()
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["Code"], "IncompleteSignature");
    let resp = client()
        .get(format!("{}/v1/whatever", sim.alibaba_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let (st, body) = call(&sim, "NoSuchAction", &[]).await;
    assert_eq!(
        (st, body["Code"].as_str()),
        (404, Some("InvalidApi.NotFound"))
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn instances_page_with_next_token_and_filters() {
    let sim = sim(config()).await;
    let mut seen = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let mut p = vec![("MaxResults", "7")];
        if !token.is_empty() {
            p.push(("NextToken", token.as_str()));
        }
        let (st, body) = call(&sim, "DescribeAndroidInstances", &p).await;
        assert_eq!(st, 200, "{body}");
        assert_eq!(body["TotalCount"], 20);
        pages += 1;
        for i in body["InstanceModel"].as_array().unwrap() {
            seen.push(i["AndroidInstanceId"].as_str().unwrap().to_string());
        }
        token = body["NextToken"].as_str().unwrap().to_string();
        if token.is_empty() {
            break;
        }
    }
    assert_eq!(pages, 3);
    let mut expected = sim.alibaba_phone_ids();
    expected.reverse();
    assert_eq!(seen, expected, "newest first");
    let (st, body) = call(
        &sim,
        "DescribeAndroidInstances",
        &[("NextToken", "garbage")],
    )
    .await;
    assert_eq!(
        (st, body["Code"].as_str()),
        (400, Some("InvalidParameter.NextToken"))
    );
    let (st, _) = call(&sim, "DescribeAndroidInstances", &[("MaxResults", "101")]).await;
    assert_eq!(st, 400);

    // Ids in the order asked; an unknown id is simply not listed; the bare name is ignored.
    let ids = sim.alibaba_phone_ids();
    let (_, body) = call(
        &sim,
        "DescribeAndroidInstances",
        &[
            ("AndroidInstanceIds.1", ids[3].as_str()),
            ("AndroidInstanceIds.2", "acp-nope"),
            ("AndroidInstanceIds.10", ids[1].as_str()),
        ],
    )
    .await;
    let got: Vec<&str> = body["InstanceModel"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["AndroidInstanceId"].as_str().unwrap())
        .collect();
    assert_eq!(got, [ids[3].as_str(), ids[1].as_str()]);
    assert_eq!(body["NextToken"], "");
    let bare = format!("{},{}", ids[0], ids[1]);
    let (_, body) = call(
        &sim,
        "DescribeAndroidInstances",
        &[("AndroidInstanceIds", &bare)],
    )
    .await;
    assert_eq!(body["TotalCount"], 20, "a bare list is not a filter");

    let (_, body) = call(
        &sim,
        "DescribeAndroidInstances",
        &[("BizRegionId", "cn-hangzhou")],
    )
    .await;
    assert_eq!(body["TotalCount"], 20);
    let (_, body) = call(
        &sim,
        "DescribeAndroidInstances",
        &[("BizRegionId", "cn-beijing")],
    )
    .await;
    assert_eq!(body["TotalCount"], 0);
    sim.alibaba().set_status(&ids[0], status::STOPPED);
    let (_, body) = call(&sim, "DescribeAndroidInstances", &[("Status", "STOPPED")]).await;
    assert!(body["TotalCount"].as_u64().unwrap() >= 1);
    let (st, _) = call(&sim, "DescribeAndroidInstances", &[("Status", "ASLEEP")]).await;
    assert_eq!(st, 400);
    sim.shutdown().await;
}

#[tokio::test]
async fn changes_create_tasks_and_respect_the_preconditions() {
    let sim = sim(config()).await;
    let ali = sim.alibaba();
    let ids = sim.alibaba_phone_ids();
    let (running, stopped) = (ids[0].clone(), ids[1].clone());
    ali.set_status(&running, status::RUNNING);
    ali.set_status(&stopped, status::STOPPED);

    // Stop both: the running one stops, the stopped one's task fails and nothing changes.
    let (st, body) = call(
        &sim,
        "StopAndroidInstance",
        &[
            ("AndroidInstanceIds.1", running.as_str()),
            ("AndroidInstanceIds.2", stopped.as_str()),
            ("ForceStop", "true"),
        ],
    )
    .await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(
        body.as_object().unwrap().len(),
        1,
        "start and stop answer a RequestId only"
    );
    let rid = body["RequestId"].as_str().unwrap().to_string();
    assert_eq!(ali.applied_stops(&running), 1);
    assert_eq!(ali.applied_stops(&stopped), 0);
    assert_eq!(ali.status(&running), Some(status::STOPPING));
    let tasks = ali.tasks_of_invoke(&rid);
    assert_eq!(tasks.len(), 3);
    assert_eq!(tasks[0].level, 1);
    let failed = tasks
        .iter()
        .find(|t| t.instance_id.as_deref() == Some(stopped.as_str()))
        .unwrap();
    assert_eq!(failed.status, "Failed");
    assert_eq!(
        failed.error_code.as_deref(),
        Some("IncorrectInstanceStatus")
    );

    // DescribeTasks by InvokeId, instance tasks only.
    let (_, body) = call(&sim, "DescribeTasks", &[("InvokeId", &rid), ("Level", "2")]).await;
    let data = body["Data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    assert!(data
        .iter()
        .all(|t| t["InvokeId"] == rid.as_str() && t["Level"] == 2));
    assert!(
        eventually(Duration::from_secs(5), || async {
            ali.status(&running) == Some(status::STOPPED)
        })
        .await
    );
    let (_, body) = call(&sim, "DescribeTasks", &[("InvokeId", &rid), ("Level", "1")]).await;
    let parent = &body["Data"][0];
    assert_eq!(
        (
            parent["TaskStatus"].as_str(),
            parent["TotalChildCount"].as_u64()
        ),
        (Some("Finished"), Some(2))
    );
    assert_eq!(parent["FailedChildCount"], 1);

    // Reboot answers its child tasks; an unknown id fails the whole request.
    let (st, body) = call(
        &sim,
        "RebootAndroidInstancesInGroup",
        &[("AndroidInstanceIds.1", ids[2].as_str())],
    )
    .await;
    assert_eq!(st, 200, "{body}");
    let child = &body["Tasks"]["ChildTasks"][0];
    assert_eq!(child["InstanceId"], ids[2].as_str());
    let task_id = child["TaskId"].as_str().unwrap();
    let (_, body) = call(&sim, "DescribeTasks", &[("TaskIds.1", task_id)]).await;
    assert_eq!(body["Data"][0]["TaskId"], task_id);
    let (st, body) = call(
        &sim,
        "ResetAndroidInstancesInGroup",
        &[
            ("AndroidInstanceIds.1", ids[3].as_str()),
            ("AndroidInstanceIds.2", "acp-nope"),
        ],
    )
    .await;
    assert_eq!(
        (st, body["Code"].as_str()),
        (400, Some("InvalidInstanceId.NotFound"))
    );
    assert_eq!(ali.applied_resets(&ids[3]), 0);
    let (st, _) = call(&sim, "StartAndroidInstance", &[]).await;
    assert_eq!(st, 400);

    // Re-image: the other list name, an image, and the phone ends running with it.
    let (st, body) = call(
        &sim,
        "UpdateInstanceImage",
        &[
            ("InstanceIdList.1", ids[4].as_str()),
            ("ImageId", "imgc-new"),
            ("Reset", "true"),
        ],
    )
    .await;
    assert_eq!(st, 200, "{body}");
    assert!(body["TaskId"].is_string());
    assert_eq!(ali.phone(&ids[4]).unwrap().image_id, "imgc-new");
    assert_eq!(ali.applied_reimages(&ids[4]), 1);

    // DescribeTasks pages 10 at a time unless asked.
    let many: Vec<(String, String)> = ids[5..20]
        .iter()
        .enumerate()
        .map(|(i, id)| (format!("AndroidInstanceIds.{}", i + 1), id.clone()))
        .collect();
    let many: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (_, body) = call(&sim, "ResetAndroidInstancesInGroup", &many).await;
    let rid = body["RequestId"].as_str().unwrap().to_string();
    let (_, body) = call(&sim, "DescribeTasks", &[("InvokeId", &rid)]).await;
    assert_eq!(body["Data"].as_array().unwrap().len(), 10);
    assert_eq!(body["TotalCount"], 16);
    assert!(!body["NextToken"].as_str().unwrap().is_empty());
    let (_, body) = call(
        &sim,
        "DescribeTasks",
        &[("InvokeId", &rid), ("MaxResults", "100")],
    )
    .await;
    assert_eq!(body["Data"].as_array().unwrap().len(), 16);
    sim.shutdown().await;
}

#[tokio::test]
async fn throttling_and_faults() {
    // Real seconds: at the suite's time scale the window is 10 ms, and two calls on a loaded
    // machine can fall into different windows.
    let sim = sim(config().with_time_scale(1.0)).await;
    let ali = sim.alibaba();
    ali.set_limits(cloudphone_sim::AlibabaLimits {
        per_second: Some(1),
    });
    let p = [("MaxResults", "1")];
    let (st, _) = call(&sim, "DescribeAndroidInstances", &p).await;
    assert_eq!(st, 200);
    let (st, headers, body) =
        call_signed(&sim, "DescribeAndroidInstances", &p, &Signing::ok(&sim)).await;
    assert_eq!((st, body["Code"].as_str()), (400, Some("Throttling.User")));
    let ms: u64 = headers["x-acs-retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=1000).contains(&ms), "{ms} ms (within the second)");
    ali.set_limits(cloudphone_sim::AlibabaLimits { per_second: None });

    // A 5xx after acting: the stop was applied although the answer is an error.
    let id = sim.alibaba_phone_ids()[0].clone();
    ali.set_status(&id, status::RUNNING);
    ali.set_faults(Faults {
        error_5xx: 1.0,
        applied_ratio: 1.0,
        endpoints: vec!["StopAndroidInstance".into()],
        ..Faults::default()
    });
    let resp = call(
        &sim,
        "StopAndroidInstance",
        &[("AndroidInstanceIds.1", id.as_str())],
    )
    .await;
    assert!(resp.0 >= 500 || resp.1.is_null(), "{resp:?}");
    assert_eq!(ali.applied_stops(&id), 1);
    assert_eq!(ali.call_count("POST / StopAndroidInstance"), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn flags_and_settings_reach_the_vendor() {
    use clap::Parser;
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        sim: cloudphone_sim::SimArgs,
    }
    let cli = Cli::try_parse_from([
        "cloudphone-sim",
        "--alibaba-port",
        "0",
        "--alibaba-phones",
        "3",
        "--alibaba-ak",
        "LTAI-flag",
        "--port",
        "geelark=0",
        "--port",
        "huawei-cph=0",
    ])
    .unwrap();
    let sim = sim(cli.sim.into_config().with_time_scale(0.01)).await;
    assert_eq!(sim.alibaba().access_key(), "LTAI-flag");
    assert_eq!(sim.alibaba().phone_count(), 3);
    assert!(
        sim.banner().contains("  access key       : LTAI-flag\n"),
        "{}",
        sim.banner()
    );
    let table = sim
        .vendor("alibaba")
        .unwrap()
        .provider_table(&cloudphone_sim::TableOptions::new().with_auth("sts"))
        .unwrap();
    assert!(table.contains("security_token = "), "{table}");
    sim.shutdown().await;

    let sim = sim_with_settings().await;
    assert_eq!(
        sim.alibaba()
            .phone(&sim.alibaba_phone_ids()[0])
            .unwrap()
            .region_id,
        "ap-southeast-1"
    );
    let (st, body) = call(
        &sim,
        "UpdateInstanceImage",
        &[("InstanceIdList.1", "x"), ("ImageId", "i")],
    )
    .await;
    assert_eq!(
        (st, body["Code"].as_str()),
        (403, Some("Forbidden.NotSupported"))
    );
    sim.shutdown().await;
}

async fn sim_with_settings() -> Simulator {
    sim(config()
        .with_vendor_setting("alibaba", "region", "ap-southeast-1")
        .with_vendor_setting("alibaba", "site", "ap-southeast-1")
        .with_vendor_setting("alibaba", "reimage", false))
    .await
}
