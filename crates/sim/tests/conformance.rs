//! Conformance: the example answers of the seed pages (`../shared/seeds/`) and of the vendor
//! references (`../shared/vendors/{geelark,huawei-cph,alibaba-eds-aic}.md`) replayed against the
//! simulator's answers to the same requests, over real HTTP, field by field.
//!
//! The comparison is on shape and types, not values: every field of the example must be present
//! in the answer with the same JSON type (integer vs float vs string vs bool vs object vs array;
//! a `null` in an example means "any type", used where a document gives no type); extra fields
//! in the answer are allowed. For arrays, every element of the example must match at least one
//! element of the answer (so a success entry and a failure entry of a batch are both checked).
//!
//! Where a page only has a field table (no JSON example), the example here is written from that
//! table, with the documented types; each one says where it comes from.

mod common;

use cloudphone_sim::alibaba::{sign, status};
use cloudphone_sim::geelark::status as gl_status;
use cloudphone_sim::Simulator;
use common::*;
use serde_json::{json, Value};
use time::macros::format_description;
use time::OffsetDateTime;

// ---------------------------------------------------------------------------------------------
// Shape comparison

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "float",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Collects every difference in shape between `example` and `actual` under `path`.
fn shape_diff(example: &Value, actual: &Value, path: &str, errors: &mut Vec<String>) {
    match example {
        Value::Null => {}
        Value::Object(fields) => {
            let Some(obj) = actual.as_object() else {
                errors.push(format!(
                    "{path}: expected object, got {}",
                    type_name(actual)
                ));
                return;
            };
            for (key, ex) in fields {
                let sub = format!("{path}.{key}");
                match obj.get(key) {
                    None => errors.push(format!("{sub}: missing")),
                    Some(v) => shape_diff(ex, v, &sub, errors),
                }
            }
        }
        Value::Array(items) => {
            let Some(arr) = actual.as_array() else {
                errors.push(format!("{path}: expected array, got {}", type_name(actual)));
                return;
            };
            for (i, ex) in items.iter().enumerate() {
                let sub = format!("{path}[{i}]");
                let mut best: Option<Vec<String>> = None;
                for v in arr {
                    let mut errs = Vec::new();
                    shape_diff(ex, v, &sub, &mut errs);
                    if best.as_ref().is_none_or(|b| errs.len() < b.len()) {
                        best = Some(errs);
                    }
                }
                match best {
                    None => errors.push(format!("{sub}: no element in the answer to match")),
                    Some(errs) => errors.extend(errs),
                }
            }
        }
        _ => {
            if type_name(example) != type_name(actual) {
                errors.push(format!(
                    "{path}: expected {}, got {} ({actual})",
                    type_name(example),
                    type_name(actual)
                ));
            }
        }
    }
}

#[track_caller]
fn assert_conforms(what: &str, example: &Value, actual: &Value) {
    let mut errors = Vec::new();
    shape_diff(example, actual, "$", &mut errors);
    assert!(
        errors.is_empty(),
        "{what}: the simulator's answer differs from the example:\n  {}\nanswer: {actual:#}",
        errors.join("\n  ")
    );
}

#[test]
fn the_comparison_catches_missing_fields_and_wrong_types() {
    let example = json!({"a": 1, "b": "x", "c": [{"d": 1.5}], "e": null});
    let mut errs = Vec::new();
    shape_diff(
        &example,
        &json!({"a": 2, "b": "y", "c": [{"d": 0.5}], "e": [], "extra": true}),
        "$",
        &mut errs,
    );
    assert!(errs.is_empty(), "{errs:?}");
    shape_diff(
        &example,
        &json!({"a": "2", "c": [{"d": 1}], "e": 1}),
        "$",
        &mut errs,
    );
    assert_eq!(errs.len(), 3, "{errs:?}");
}

// ---------------------------------------------------------------------------------------------
// GeeLark

/// `../shared/seeds/geelark-phone-stop.txt`, "Response Example", verbatim.
const GEELARK_STOP_EXAMPLE: &str = r#"{
    "code": 0,
    "msg": "成功",
    "traceId": "123456ABCDEF",
    "data": {
        "totalAmount": 4,
        "successAmount": 3,
        "failAmount": 1,
        "successDetails": [
            {"id": "123456ABCDEF", "serialName": "name1", "status": 0},
            {"id": "123456ABCDEF", "serialName": "name2", "status": 1},
            {"id": "123456ABCDEF", "serialName": "name3", "status": 1}
        ],
        "failDetails": [
            {"code": 42001, "id": "123456ABCDEF", "msg": "env not found"}
        ]
    }
}"#;

/// A well-formed GeeLark id no phone has.
const GL_UNKNOWN: &str = "999999999999999999";

#[tokio::test]
async fn geelark_answers_match_the_seed_pages_and_the_reference() {
    let sim = sim(fast()).await;
    let client = client();
    let ids = sim.geelark_phone_ids();
    // Idle, running phones (the seeded fleet has every status, expired ones too).
    for id in &ids[..6] {
        sim.geelark().set_status(id, gl_status::STARTED);
    }
    sim.geelark().set_status(&ids[3], gl_status::SHUT_DOWN);

    // Seed: geelark-phone-status.md (field tables: SuccessDetails / FailDetails).
    let status_example = json!({
        "traceId": "", "code": 0, "msg": "",
        "data": {
            "totalAmount": 2, "successAmount": 1, "failAmount": 1,
            "successDetails": [{"id": "", "serialName": "", "status": 0}],
            "failDetails": [{"code": 42001, "id": "", "msg": ""}]
        }
    });
    let answer = gl(
        &client,
        &sim,
        "/open/v1/phone/status",
        json!({"ids": [ids[0], GL_UNKNOWN]}),
    )
    .await;
    assert_conforms("GeeLark status", &status_example, &answer);
    assert_eq!(answer["data"]["failDetails"][0]["code"], 42001);

    // Seed: geelark-phone-stop.txt (the JSON example, verbatim), with an unknown id so that
    // failDetails has an entry.
    let stop_example: Value = serde_json::from_str(GEELARK_STOP_EXAMPLE).unwrap();
    let answer = gl(
        &client,
        &sim,
        "/open/v1/phone/stop",
        json!({"ids": [ids[1], ids[2], GL_UNKNOWN]}),
    )
    .await;
    assert_conforms("GeeLark stop", &stop_example, &answer);

    // Reference (geelark.md, phone endpoints table): start's successDetails:[{id, url,
    // chargingMethod}] (chargingMethod a string, as GeeLark documents it).
    let start_example = json!({
        "traceId": "", "code": 0, "msg": "",
        "data": {
            "totalAmount": 1, "successAmount": 1, "failAmount": 0,
            "successDetails": [{"id": "", "url": "", "chargingMethod": "Per-minute usage"}],
            "failDetails": []
        }
    });
    let answer = gl(
        &client,
        &sim,
        "/open/v1/phone/start",
        json!({"ids": [ids[3]]}),
    )
    .await;
    assert_conforms("GeeLark start", &start_example, &answer);

    // Reference: list {total, page, pageSize, items:[{id, serialName, serialNo, status, group,
    // remark, tags, ...}]} (group's type is not given there).
    let list_example = json!({
        "traceId": "", "code": 0, "msg": "",
        "data": {
            "total": 20, "page": 1, "pageSize": 10,
            "items": [{
                "id": "", "serialName": "", "serialNo": "", "status": 0,
                "group": null, "remark": "", "tags": []
            }]
        }
    });
    let answer = gl(
        &client,
        &sim,
        "/open/v1/phone/list",
        json!({"page": 1, "pageSize": 10}),
    )
    .await;
    assert_conforms("GeeLark list", &list_example, &answer);

    // Reference: restart and newOne answer the envelope only.
    let envelope = json!({"traceId": "", "code": 0, "msg": ""});
    for (path, body) in [
        ("/open/v1/phone/restart", json!({"id": ids[4]})),
        ("/open/v2/phone/newOne", json!({"id": ids[5]})),
    ] {
        let answer = gl(&client, &sim, path, body).await;
        assert_conforms(path, &envelope, &answer);
        assert_eq!(answer["code"], 0, "{path}: {answer}");
    }

    // Reference: an API error is HTTP 200 with a non-zero code in the same envelope.
    let answer = gl(&client, &sim, "/open/v1/phone/status", json!({"ids": []})).await;
    assert_conforms("GeeLark error", &envelope, &answer);
    assert_ne!(answer["code"], 0);
    sim.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Huawei CPH

/// `../shared/seeds/huawei-cph-batch-reset.txt`, "Example Responses", verbatim.
const HUAWEI_RESET_EXAMPLE: &str = r#"{ "request_id" : "6837531fd3f54550927b930180a706bf", "jobs" : [ { "phone_id" : "1234567b8bab40ffb711234cb80d0234", "job_id" : "1564567b8bab40f34711234cb80d0123" }, { "phone_id" : "1678567b8bab40f93711234cb80d0764", "error_code" : "CPS.0004", "error_msg" : "Parameter: phone_id is invalid." } ] }"#;

/// The seed's example request: two phones with a `property`, and an `image_id`.
fn reset_request(known: &str) -> Value {
    let property = r#"{"sys.prop.writephonenum":"13666666666","sys.prop.writeimsi":"460021624617113","sys.prop.writewifissid":"test_wifi"}"#;
    json!({
        "phones": [
            {"phone_id": known, "property": property},
            {"phone_id": "1678567b8bab40f93711234cb80d0764", "property": property}
        ],
        "image_id": "1564567b8bab40f34711234cb80d8574"
    })
}

#[tokio::test]
async fn huawei_answers_match_the_seed_page_and_the_reference() {
    let sim = sim(fast()).await;
    let client = client();
    let ids = sim.huawei_phone_ids();
    let post = reqwest::Method::POST;
    let get = reqwest::Method::GET;

    // Seed: huawei-cph-batch-reset.txt — the example request, one phone replaced by a real one;
    // the other id is well-formed and unknown, which the example answers with CPS.0004.
    let reset_example: Value = serde_json::from_str(HUAWEI_RESET_EXAMPLE).unwrap();
    let (st, answer) = hw(
        &client,
        &sim,
        post.clone(),
        "phones/batch-reset",
        Some(reset_request(&ids[0])),
    )
    .await;
    assert_eq!(st, 200, "{answer}");
    assert_conforms("Huawei batch-reset", &reset_example, &answer);
    let failed = &answer["jobs"][1];
    assert_eq!(failed["error_code"], "CPS.0004", "{answer}");
    assert_eq!(failed["error_msg"], "Parameter: phone_id is invalid.");
    let job_id = answer["jobs"][0]["job_id"].as_str().unwrap().to_string();
    let request_id = answer["request_id"].as_str().unwrap().to_string();

    // Reference (huawei-cph.md): restart takes the reset's body, stop {"phone_ids"}; both answer
    // {request_id, jobs:[PhoneJob]}.
    let (st, answer) = hw(
        &client,
        &sim,
        post.clone(),
        "phones/batch-restart",
        Some(reset_request(&ids[1])),
    )
    .await;
    assert_eq!(st, 200, "{answer}");
    assert_conforms("Huawei batch-restart", &reset_example, &answer);
    let (st, answer) = hw(
        &client,
        &sim,
        post,
        "phones/batch-stop",
        Some(json!({"phone_ids": [ids[2], "1678567b8bab40f93711234cb80d0764"]})),
    )
    .await;
    assert_eq!(st, 200, "{answer}");
    assert_conforms("Huawei batch-stop", &reset_example, &answer);

    // Reference: phone detail is a flat object (not {phone: ...}).
    let detail_example = json!({
        "phone_id": "", "phone_name": "", "server_id": "", "status": 2, "image_id": "",
        "request_id": ""
    });
    let (st, answer) = hw(
        &client,
        &sim,
        get.clone(),
        &format!("phones/{}", ids[3]),
        None,
    )
    .await;
    assert_eq!(st, 200, "{answer}");
    assert_conforms("Huawei phone detail", &detail_example, &answer);

    // Reference: list phones {request_id, count, phones:[Phone]}.
    let list_example = json!({
        "request_id": "", "count": 20,
        "phones": [{"phone_id": "", "phone_name": "", "server_id": "", "status": 2, "image_id": ""}]
    });
    let (st, answer) = hw(&client, &sim, get.clone(), "phones?offset=0&limit=10", None).await;
    assert_eq!(st, 200, "{answer}");
    assert_conforms("Huawei list phones", &list_example, &answer);

    // Reference: show job {request_id, job_id, phone_id, server_id, status, begin_time,
    // end_time, error_code, error_msg, execute_msg}; the times, error fields and execute_msg may
    // be null ("many fields may be null"), so they are typed "any" here.
    let job_example = json!({
        "request_id": "", "job_id": "", "phone_id": "", "server_id": "", "status": 1,
        "begin_time": null, "end_time": null, "error_code": null, "error_msg": null,
        "execute_msg": null
    });
    let (st, answer) = hw(&client, &sim, get.clone(), &format!("jobs/{job_id}"), None).await;
    assert_eq!(st, 200, "{answer}");
    assert_conforms("Huawei show job", &job_example, &answer);
    assert_eq!(answer["request_id"], request_id.as_str());

    // Reference: list jobs {request_id, jobs:[Job]} (no count).
    let jobs_example = json!({"request_id": "", "jobs": [job_example]});
    let (st, answer) = hw(
        &client,
        &sim,
        get.clone(),
        &format!("jobs?request_id={request_id}"),
        None,
    )
    .await;
    assert_eq!(st, 200, "{answer}");
    assert_conforms("Huawei list jobs", &jobs_example, &answer);

    // Reference: service errors are 4xx {"error_code": "CPS.xxxx", "error_msg"}.
    let error_example = json!({"error_code": "CPS.0005", "error_msg": ""});
    let (st, answer) = hw(
        &client,
        &sim,
        get,
        "phones/1678567b8bab40f93711234cb80d0764",
        None,
    )
    .await;
    assert_eq!(st, 400, "{answer}");
    assert_conforms("Huawei error", &error_example, &answer);
    sim.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Alibaba eds-aic

fn acs_date(t: OffsetDateTime) -> String {
    t.format(format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
    ))
    .unwrap()
}

/// An ACS3-signed eds-aic call (as crates/sim/tests/alibaba.rs signs them): `POST /?{query}`,
/// the action in `x-acs-action`; returns (status, body).
async fn ali(sim: &Simulator, action: &str, params: &[(&str, &str)]) -> (u16, Value) {
    let a = sim.alibaba();
    let url = reqwest::Url::parse(&sim.alibaba_url()).unwrap();
    let host = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap());
    let params: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let query = sign::canonical_query(&params);
    let headers = vec![
        ("host".to_string(), host),
        ("x-acs-action".to_string(), action.to_string()),
        ("x-acs-version".to_string(), "2023-09-30".to_string()),
        (
            "x-acs-date".to_string(),
            acs_date(OffsetDateTime::now_utc()),
        ),
        (
            "x-acs-signature-nonce".to_string(),
            uuid::Uuid::new_v4().simple().to_string(),
        ),
        ("x-acs-content-sha256".to_string(), sign::payload_hash(b"")),
    ];
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
    let sig = sign::signature(&a.secret_key(), &sign::string_to_sign(&canonical));
    let mut sorted = names.clone();
    sorted.sort();
    let mut rb = client().post(format!("{}/?{query}", sim.alibaba_url()));
    for (k, v) in &headers {
        rb = rb.header(k.as_str(), v.as_str());
    }
    let auth = format!(
        "ACS3-HMAC-SHA256 Credential={},SignedHeaders={},Signature={sig}",
        a.access_key(),
        sorted.join(";")
    );
    let resp = rb.header("authorization", auth).send().await.unwrap();
    let st = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    match serde_json::from_str::<Value>(&text) {
        Ok(_) => (st, common::canonical(&text)),
        Err(_) => (st, Value::Null),
    }
}

#[tokio::test]
async fn alibaba_answers_match_the_reference() {
    let sim = sim(fast().with_vendor_phones("alibaba", 20)).await;
    let ids = sim.alibaba_phone_ids();
    let ali_ctl = sim.alibaba();

    // alibaba-eds-aic.md, Operations table and "Instance fields worth mapping": Cpu a string,
    // Memory an int, Disks[{DiskSize, DiskType}], DisplayConfig{...}, times as strings.
    let instance = json!({
        "AndroidInstanceId": "acp-25nt4kk9whhok****",
        "AndroidInstanceName": "", "AndroidInstanceStatus": "RUNNING",
        "AndroidInstanceGroupId": "ag-", "ImageId": "imgc-", "RegionId": "cn-shanghai",
        "InstanceType": "", "ChargeType": "PostPaid", "GmtCreate": "2023-05-06 10:42:10",
        "Cpu": "4", "Memory": 8192
    });
    let describe_example = json!({
        "RequestId": "", "TotalCount": 20, "NextToken": "", "InstanceModel": [instance]
    });
    let (st, answer) = ali(&sim, "DescribeAndroidInstances", &[("MaxResults", "5")]).await;
    assert_eq!(st, 200, "{answer}");
    assert_conforms(
        "eds-aic DescribeAndroidInstances",
        &describe_example,
        &answer,
    );

    // Start / Stop: {RequestId} only.
    ali_ctl.set_status(&ids[0], status::STOPPED);
    ali_ctl.set_status(&ids[1], status::RUNNING);
    let request_only = json!({"RequestId": ""});
    let (st, answer) = ali(
        &sim,
        "StartAndroidInstance",
        &[("AndroidInstanceIds.1", ids[0].as_str())],
    )
    .await;
    assert_eq!(st, 200, "{answer}");
    assert_conforms("eds-aic StartAndroidInstance", &request_only, &answer);
    let (st, answer) = ali(
        &sim,
        "StopAndroidInstance",
        &[("AndroidInstanceIds.1", ids[1].as_str())],
    )
    .await;
    assert_eq!(st, 200, "{answer}");
    assert_conforms("eds-aic StopAndroidInstance", &request_only, &answer);

    // Reboot / Reset: {RequestId, Tasks:{ParentTaskId, ChildTasks:[{InstanceId, TaskId}]}}.
    ali_ctl.set_status(&ids[2], status::RUNNING);
    ali_ctl.set_status(&ids[3], status::RUNNING);
    let tasks_example = json!({
        "RequestId": "",
        "Tasks": {"ParentTaskId": "t-", "ChildTasks": [{"InstanceId": "acp-", "TaskId": "t-"}]}
    });
    let (st, answer) = ali(
        &sim,
        "RebootAndroidInstancesInGroup",
        &[("AndroidInstanceIds.1", ids[2].as_str())],
    )
    .await;
    assert_eq!(st, 200, "{answer}");
    assert_conforms(
        "eds-aic RebootAndroidInstancesInGroup",
        &tasks_example,
        &answer,
    );
    let reboot_request = answer["RequestId"].as_str().unwrap().to_string();
    let (st, answer) = ali(
        &sim,
        "ResetAndroidInstancesInGroup",
        &[("AndroidInstanceIds.1", ids[3].as_str())],
    )
    .await;
    assert_eq!(st, 200, "{answer}");
    assert_conforms(
        "eds-aic ResetAndroidInstancesInGroup",
        &tasks_example,
        &answer,
    );

    // DescribeTasks: {RequestId, TotalCount, NextToken, Data:[Task]}; the batch task carries
    // the child counters (Async tasks section).
    let task = json!({"TaskId": "t-", "TaskStatus": "Processing", "TaskType": ""});
    let describe_tasks = json!({
        "RequestId": "", "TotalCount": 1, "NextToken": null, "Data": [task]
    });
    let (st, answer) = ali(
        &sim,
        "DescribeTasks",
        &[("InvokeId", reboot_request.as_str()), ("MaxResults", "100")],
    )
    .await;
    assert_eq!(st, 200, "{answer}");
    assert_conforms("eds-aic DescribeTasks", &describe_tasks, &answer);
    let batch = json!({"Data": [{
        "TaskId": "", "TotalChildCount": 1, "SuccessChildCount": 0, "FailedChildCount": 0,
        "RunningChildCount": 1
    }]});
    let (st, answer) = ali(
        &sim,
        "DescribeTasks",
        &[
            ("InvokeId", reboot_request.as_str()),
            ("Level", "1"),
            ("MaxResults", "100"),
        ],
    )
    .await;
    assert_eq!(st, 200, "{answer}");
    assert_conforms("eds-aic DescribeTasks Level=1", &batch, &answer);

    // Errors section: {RequestId, Message, Recommend, HostId, Code}.
    let error_example = json!({"RequestId": "", "Message": "", "HostId": "", "Code": ""});
    let (st, answer) = ali(&sim, "NoSuchAction", &[]).await;
    assert!(st >= 400, "{st} {answer}");
    assert_conforms("eds-aic error", &error_example, &answer);
    sim.shutdown().await;
}
