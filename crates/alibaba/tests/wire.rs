//! The exact wire request of every action (method, path `/`, headers, the flattened query, the
//! signature), the decoding of every answer shape of the reference, tolerant decoding, and
//! every error class.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cloudphone_alibaba::signer::{self, EMPTY_BODY_SHA256};
use cloudphone_alibaba::{AlibabaConfig, CheckStates};
use cloudphone_core::{
    CloudPhoneProvider, ErrorKind, JobRef, JobState, ListRequest, Operation, PhoneState,
    ResetOptions, StartOptions,
};
use common::wire::*;
use common::*;

fn unchecked(url: &str) -> AlibabaConfig {
    config(url).with_check_states(false)
}

const DESCRIBE_A_B: &str = r#"{"RequestId":"r-describe","TotalCount":2,"NextToken":"","InstanceModel":[
  {"AndroidInstanceId":"acp-a","AndroidInstanceName":"phone a","AndroidInstanceStatus":"RUNNING","Cpu":"4","Memory":8192,"RegionId":"cn-hangzhou","GmtCreate":"2023-05-06 10:42:10","AndroidInstanceGroupId":"ag-1"},
  {"AndroidInstanceId":"acp-b","AndroidInstanceStatus":"STOPPED","AndroidInstanceName":""}]}"#;

#[tokio::test]
async fn status_sends_the_documented_signed_request() {
    let mut s = mockito::Server::new_async().await;
    let log: Log = Arc::default();
    let _m = action(&mut s, "DescribeAndroidInstances", 200, DESCRIBE_A_B, &log).await;
    let p = fixed(config(&s.url()));
    let r = p.status(&ids(&["acp-a", "acp-b", "acp-c"])).await.unwrap();
    let req = log.lock().unwrap()[0].clone();
    assert_eq!(req.method, "POST");
    assert_eq!(
        req.path_and_query,
        "/?AndroidInstanceIds.1=acp-a&AndroidInstanceIds.2=acp-b&AndroidInstanceIds.3=acp-c&MaxResults=100"
    );
    assert!(req.body.is_empty());
    let host = s.host_with_port();
    assert_eq!(req.header("host"), Some(host.as_str()));
    assert_eq!(req.header("x-acs-action"), Some("DescribeAndroidInstances"));
    assert_eq!(req.header("x-acs-version"), Some("2023-09-30"));
    assert_eq!(req.header("x-acs-date"), Some(DATE));
    assert_eq!(req.header("x-acs-signature-nonce"), Some("nonce-0001"));
    assert_eq!(req.header("x-acs-content-sha256"), Some(EMPTY_BODY_SHA256));
    assert_eq!(req.header("accept"), Some("application/json"));
    let acs: Vec<&str> = req
        .headers
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| k.starts_with("x-acs-"))
        .collect();
    assert_eq!(acs.len(), 5, "no x-acs header that is not signed: {acs:?}");
    let params = [
        ("AndroidInstanceIds.1", "acp-a"),
        ("AndroidInstanceIds.2", "acp-b"),
        ("AndroidInstanceIds.3", "acp-c"),
        ("MaxResults", "100"),
    ];
    let headers = [
        ("host", host.as_str()),
        ("x-acs-action", "DescribeAndroidInstances"),
        ("x-acs-version", "2023-09-30"),
        ("x-acs-date", DATE),
        ("x-acs-signature-nonce", "nonce-0001"),
        ("x-acs-content-sha256", EMPTY_BODY_SHA256),
    ];
    let expected = signer::authorization("LTAI-test", SK, "POST", "/", &params, &headers, b"");
    assert_eq!(req.header("authorization"), Some(expected.as_str()));
    assert!(expected.contains(",SignedHeaders=host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,"));

    // Decoded: states with the raw string, names, and the id not listed is not found.
    assert_eq!(r.outcomes[0].phone_state(), Some(PhoneState::Running));
    assert_eq!(r.outcomes[0].name.as_deref(), Some("phone a"));
    assert_eq!(r.outcomes[1].state.as_ref().unwrap().raw, "STOPPED");
    assert_eq!(r.outcomes[1].name, None, "an empty name is no name");
    assert_eq!(r.outcomes[2].error().unwrap().kind(), ErrorKind::NotFound);
}

#[tokio::test]
async fn the_query_sorts_ten_before_two_and_sts_signs_its_token() {
    let mut s = mockito::Server::new_async().await;
    let log: Log = Arc::default();
    let _m = action(
        &mut s,
        "DescribeAndroidInstances",
        200,
        r#"{"InstanceModel":[]}"#,
        &log,
    )
    .await;
    let p = fixed(config(&s.url()).with_security_token("STS-token-0123456789".to_owned()));
    let phones: Vec<String> = (1..=12).map(|i| format!("acp-{i:02}")).collect();
    let refs: Vec<&str> = phones.iter().map(String::as_str).collect();
    p.status(&ids(&refs)).await.unwrap();
    let req = log.lock().unwrap()[0].clone();
    assert!(req.query().starts_with(
        "AndroidInstanceIds.1=acp-01&AndroidInstanceIds.10=acp-10&AndroidInstanceIds.11=acp-11&AndroidInstanceIds.12=acp-12&AndroidInstanceIds.2=acp-02"
    ), "{}", req.query());
    assert_eq!(
        req.header("x-acs-security-token"),
        Some("STS-token-0123456789")
    );
    assert_eq!(req.header("x-acs-accesskey-id"), Some("LTAI-test"));
    assert!(req
        .header("authorization")
        .unwrap()
        .contains("SignedHeaders=host;x-acs-accesskey-id;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-security-token;x-acs-signature-nonce;x-acs-version,"));
}

#[tokio::test]
async fn status_follows_next_token_and_never_sends_an_empty_one() {
    let mut s = mockito::Server::new_async().await;
    let log: Log = Arc::default();
    let pages = Arc::new(Mutex::new(vec![
        r#"{"NextToken":"tok+/=1","InstanceModel":[{"AndroidInstanceId":"acp-a","AndroidInstanceStatus":"RUNNING"}]}"#,
        r#"{"InstanceModel":[{"AndroidInstanceId":"acp-b","AndroidInstanceStatus":"STARTING"}]}"#,
    ]));
    let (l, p2) = (log.clone(), pages.clone());
    let _m = s
        .mock("POST", mockito::Matcher::Any)
        .with_body_from_request(move |req| {
            l.lock().unwrap().push(seen(req));
            p2.lock().unwrap().remove(0).as_bytes().to_vec()
        })
        .create_async()
        .await;
    let p = fixed(config(&s.url()));
    let r = p.status(&ids(&["acp-a", "acp-b", "acp-c"])).await.unwrap();
    let log = log.lock().unwrap().clone();
    assert_eq!(log.len(), 2);
    assert!(!log[0].query().contains("NextToken"));
    assert!(
        log[1].query().ends_with("&NextToken=tok%2B%2F%3D1"),
        "{}",
        log[1].query()
    );
    assert_eq!(log[1].header("x-acs-signature-nonce"), Some("nonce-0002"));
    assert_eq!(r.outcomes[1].phone_state(), Some(PhoneState::Starting));
    assert_eq!(r.outcomes[2].error().unwrap().kind(), ErrorKind::NotFound);
}

#[tokio::test]
async fn a_repeated_token_stops_the_paging_and_leaves_phones_unread_not_absent() {
    let mut s = mockito::Server::new_async().await;
    let log: Log = Arc::default();
    let body = r#"{"NextToken":"same","InstanceModel":[{"AndroidInstanceId":"acp-x","AndroidInstanceStatus":"RUNNING"}]}"#;
    let _m = action(&mut s, "DescribeAndroidInstances", 200, body, &log).await;
    let p = fixed(config(&s.url()));
    let r = p.status(&ids(&["acp-a"])).await.unwrap();
    assert_eq!(
        log.lock().unwrap().len(),
        2,
        "the first page, then the token once"
    );
    let e = r.outcomes[0].error().unwrap();
    assert_eq!(e.kind(), ErrorKind::MissingFromResponse, "{e}");
}

#[tokio::test]
async fn stop_and_start_answer_a_request_id_that_becomes_the_job() {
    let mut s = mockito::Server::new_async().await;
    let log: Log = Arc::default();
    let _stop = action(
        &mut s,
        "StopAndroidInstance",
        200,
        r#"{"RequestId":"r-stop"}"#,
        &log,
    )
    .await;
    let _start = action(&mut s, "StartAndroidInstance", 200, "{}", &log).await;
    let p = fixed(unchecked(&s.url()).with_force_stop(true));
    let r = p.stop(&ids(&["acp-a", "acp-b"])).await.unwrap();
    assert_eq!(r.operation, Operation::Stop);
    for o in &r.outcomes {
        assert!(o.is_pending());
        assert_eq!(o.job, Some(JobRef::new("r-stop", Some("r-stop".into()))));
    }
    // No RequestId in the body: the x-acs-request-id header (none here), else no job.
    let r = p
        .start(&ids(&["acp-a"]), &StartOptions::default())
        .await
        .unwrap();
    assert!(r.outcomes[0].is_pending() && r.outcomes[0].job.is_none());
    let log = log.lock().unwrap().clone();
    assert_eq!(log[0].action(), "StopAndroidInstance");
    assert_eq!(
        log[0].query(),
        "AndroidInstanceIds.1=acp-a&AndroidInstanceIds.2=acp-b&ForceStop=true"
    );
    assert_eq!(log[1].action(), "StartAndroidInstance");
    assert_eq!(log[1].query(), "AndroidInstanceIds.1=acp-a");
    let e = p
        .start(
            &ids(&["a"]),
            &StartOptions::default().extra("SaleMode", "x"),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
}

#[tokio::test]
async fn force_stop_is_an_explicit_call_and_chunks_follow_batch_size() {
    let mut s = mockito::Server::new_async().await;
    let log: Log = Arc::default();
    let _m = action(
        &mut s,
        "StopAndroidInstance",
        200,
        r#"{"RequestId":"r"}"#,
        &log,
    )
    .await;
    let p = fixed(unchecked(&s.url()).with_batch_size(2));
    p.stop(&ids(&["a", "b", "c", "a"])).await.unwrap();
    p.force_stop(&ids(&["d"])).await.unwrap();
    let log = log.lock().unwrap().clone();
    let queries: Vec<&str> = log.iter().map(Seen::query).collect();
    assert_eq!(
        queries,
        [
            "AndroidInstanceIds.1=a&AndroidInstanceIds.2=b",
            "AndroidInstanceIds.1=c",
            "AndroidInstanceIds.1=d&ForceStop=true"
        ]
    );
}

#[tokio::test]
async fn restart_and_reset_keep_child_tasks_strays_and_the_request_id() {
    let mut s = mockito::Server::new_async().await;
    let log: Log = Arc::default();
    let reboot = r#"{"RequestId":"r-reboot","Tasks":{"ParentTaskId":"t-parent","ChildTasks":[
        {"InstanceId":"acp-a","TaskId":"t-a"},{"InstanceId":"acp-z","TaskId":"t-z"},
        {"InstanceId":"acp-a","TaskId":"t-a2"},{"TaskId":"t-none"},{"InstanceId":"acp-b"}]}}"#;
    let _r = action(&mut s, "RebootAndroidInstancesInGroup", 200, reboot, &log).await;
    let _z = action(
        &mut s,
        "ResetAndroidInstancesInGroup",
        200,
        r#"{"RequestId":"r-reset","OrderId":"","Tasks":null}"#,
        &log,
    )
    .await;
    let p = fixed(unchecked(&s.url()));
    let r = p.restart(&ids(&["acp-a", "acp-b"])).await.unwrap();
    assert_eq!(
        r.outcomes[0].job,
        Some(JobRef::new("t-a", Some("r-reboot".into())))
    );
    assert_eq!(
        r.outcomes[1].job,
        Some(JobRef::new("r-reboot", Some("r-reboot".into()))),
        "no child task: the request id"
    );
    let strays: Vec<&str> = r.stray_jobs.iter().map(|s| s.job.job_id()).collect();
    assert_eq!(strays, ["t-z", "t-a2", "t-none"]);
    assert_eq!(r.stray_jobs[0].phone.as_ref().unwrap().as_str(), "acp-z");
    let r = p
        .reset(&ids(&["acp-a"]), &ResetOptions::default())
        .await
        .unwrap();
    assert_eq!(r.outcomes[0].job.as_ref().unwrap().job_id(), "r-reset");
    let log = log.lock().unwrap().clone();
    assert_eq!(log[1].query(), "AndroidInstanceIds.1=acp-a");
}

#[tokio::test]
async fn a_reset_with_an_image_is_update_instance_image_or_unsupported() {
    let mut s = mockito::Server::new_async().await;
    let log: Log = Arc::default();
    let body = r#"{"RequestId":"r-img","TaskId":"t-parent","Tasks":{"ParentTaskId":"t-parent","ChildTasks":[{"InstanceId":"acp-a","TaskId":"t-a"}]}}"#;
    let _m = action(&mut s, "UpdateInstanceImage", 200, body, &log).await;
    let p = fixed(unchecked(&s.url()));
    let r = p
        .reset(&ids(&["acp-a"]), &ResetOptions::default().image("imgc-1"))
        .await
        .unwrap();
    assert_eq!(r.outcomes[0].job.as_ref().unwrap().job_id(), "t-a");
    let req = log.lock().unwrap()[0].clone();
    assert_eq!(
        req.query(),
        "ImageId=imgc-1&InstanceIdList.1=acp-a&Reset=true"
    );

    // The international site has no re-imaging: refused before anything is sent.
    let intl = fixed(
        AlibabaConfig::new("ap-southeast-1", "LTAI-test", SK.to_owned()).with_endpoint(s.url()),
    );
    let e = intl
        .reset(&ids(&["acp-a"]), &ResetOptions::default().image("imgc-1"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    assert!(
        e.message().contains("`image`") && e.message().contains("`reimage"),
        "{e}"
    );
    let e = p
        .reset(
            &ids(&["acp-a"]),
            &ResetOptions::default().property("ro.x", "1"),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    let e = p
        .reset(&ids(&["acp-a"]), &ResetOptions::default().image(" "))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert_eq!(log.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn the_state_check_reads_first_and_sends_only_what_the_docs_allow() {
    let mut s = mockito::Server::new_async().await;
    let log: Log = Arc::default();
    let _d = action(&mut s, "DescribeAndroidInstances", 200, DESCRIBE_A_B, &log).await;
    let _m = action(
        &mut s,
        "StopAndroidInstance",
        200,
        r#"{"RequestId":"r"}"#,
        &log,
    )
    .await;
    let p = fixed(config(&s.url()).with_check_states(CheckStates::First));
    let r = p.stop(&ids(&["acp-b", "acp-a", "acp-gone"])).await.unwrap();
    assert!(r.outcomes[0].is_done(), "already stopped: done");
    assert_eq!(r.outcomes[0].phone_state(), Some(PhoneState::Stopped));
    assert!(r.outcomes[1].is_pending());
    let e = r.outcomes[2].error().unwrap();
    assert!(e.kind() == ErrorKind::NotFound && e.is_not_applied());
    let log = log.lock().unwrap().clone();
    assert_eq!(log.len(), 2);
    assert_eq!(log[1].query(), "AndroidInstanceIds.1=acp-a");
    assert!(r.origin.is_some());
}

/// A `StopAndroidInstance` mock for the requests whose query matches the regular expression.
async fn stop_for(
    server: &mut mockito::Server,
    query: &str,
    status: usize,
    body: &str,
    log: &Log,
) -> mockito::Mock {
    let query = mockito::Matcher::Regex(query.into());
    action_where(server, "StopAndroidInstance", query, status, body, log).await
}

const REFUSED: &str = r#"{"RequestId":"r-refused","Code":"IncorrectInstanceStatus","Message":"The current status of the instance does not support this operation."}"#;

#[tokio::test]
async fn a_chunk_refused_for_a_state_is_read_and_what_its_states_allow_sent_once_more() {
    let mut s = mockito::Server::new_async().await;
    let log: Log = Arc::default();
    let _d = action(&mut s, "DescribeAndroidInstances", 200, DESCRIBE_A_B, &log).await;
    let _refused = stop_for(&mut s, "AndroidInstanceIds\\.3=", 400, REFUSED, &log).await;
    let _again = stop_for(
        &mut s,
        "^AndroidInstanceIds\\.1=acp-a$",
        200,
        r#"{"RequestId":"r-again"}"#,
        &log,
    )
    .await;
    let p = fixed(config(&s.url()));
    let r = p.stop(&ids(&["acp-b", "acp-a", "acp-gone"])).await.unwrap();
    assert!(
        r.outcomes[0].is_done(),
        "already stopped: {:?}",
        r.outcomes[0]
    );
    assert_eq!(r.outcomes[0].phone_state(), Some(PhoneState::Stopped));
    assert!(r.outcomes[1].is_pending());
    assert_eq!(
        r.outcomes[1].job,
        Some(JobRef::new("r-again", Some("r-again".into())))
    );
    let e = r.outcomes[2].error().unwrap();
    assert!(e.kind() == ErrorKind::NotFound && e.is_not_applied(), "{e}");
    let log = log.lock().unwrap().clone();
    let actions: Vec<&str> = log.iter().map(|r| r.action()).collect();
    assert_eq!(
        actions,
        [
            "StopAndroidInstance",
            "DescribeAndroidInstances",
            "StopAndroidInstance"
        ]
    );
    assert_eq!(log[2].query(), "AndroidInstanceIds.1=acp-a");
}

#[tokio::test]
async fn a_refusal_the_states_do_not_explain_stands_and_nothing_is_sent_again() {
    let mut s = mockito::Server::new_async().await;
    let log: Log = Arc::default();
    let _d = action(&mut s, "DescribeAndroidInstances", 200, DESCRIBE_A_B, &log).await;
    let _refused = stop_for(&mut s, "AndroidInstanceIds\\.1=acp-a", 400, REFUSED, &log).await;
    for (mode, calls) in [(CheckStates::OnRefusal, 2), (CheckStates::Never, 1)] {
        log.lock().unwrap().clear();
        let p = fixed(config(&s.url()).with_check_states(mode));
        let r = p.stop(&ids(&["acp-a"])).await.unwrap();
        let e = r.outcomes[0].error().expect("refused");
        assert_eq!(
            (e.kind(), e.vendor_code()),
            (ErrorKind::InvalidState, Some("IncorrectInstanceStatus")),
            "{mode:?}"
        );
        assert!(!r.outcomes[0].is_unknown(), "an answered refusal: {mode:?}");
        // The read finds acp-a RUNNING: a stop it allows, so the refusal stands.
        assert_eq!(log.lock().unwrap().len(), calls, "{mode:?}");
    }
}

#[tokio::test]
async fn jobs_ask_for_task_ids_and_invoke_ids_with_a_full_page() {
    let mut s = mockito::Server::new_async().await;
    let log: Log = Arc::default();
    let tasks = r#"{"RequestId":"q","TotalCount":3,"NextToken":"","Data":[
      {"TaskId":"t-a","TaskStatus":"Finished","Level":2,"InstanceId":"acp-a","InvokeId":"r1","TaskType":"RebootInstance","ErrorCode":""},
      {"TaskId":"t-b","TaskStatus":"Failed","Level":"2","InstanceId":"acp-b","InvokeId":"r1","ErrorCode":"IncorrectInstanceStatus","ErrorMsg":"no"},
      {"TaskId":"t-p","TaskStatus":"Processing","Level":1,"InvokeId":"r1","TotalChildCount":2}]}"#;
    let _m = action(&mut s, "DescribeTasks", 200, tasks, &log).await;
    let p = fixed(config(&s.url()));
    let infos = p
        .jobs(&[
            JobRef::new("t-a", Some("r1".into())),
            JobRef::new("t-b", Some("r1".into())),
            JobRef::new("t-missing", None),
            JobRef::new("r1", Some("r1".into())),
        ])
        .await
        .unwrap();
    let log = log.lock().unwrap().clone();
    assert_eq!(log.len(), 2);
    assert_eq!(
        log[0].query(),
        "MaxResults=100&TaskIds.1=t-a&TaskIds.2=t-b&TaskIds.3=t-missing"
    );
    assert_eq!(log[1].query(), "InvokeId=r1&Level=2&MaxResults=100");
    assert_eq!(
        (infos[0].state, infos[0].raw_state.as_str()),
        (JobState::Succeeded, "Finished")
    );
    assert_eq!(infos[0].phone.as_ref().unwrap().as_str(), "acp-a");
    let e = infos[1].error.as_ref().unwrap();
    assert_eq!(
        (e.kind(), e.vendor_code()),
        (ErrorKind::InvalidState, Some("IncorrectInstanceStatus"))
    );
    assert_eq!(infos[2].error.as_ref().unwrap().kind(), ErrorKind::NotFound);
    // The invoke id: one info per instance task (the batch task is left out).
    assert_eq!(infos.len(), 5);
    assert!(infos[3..]
        .iter()
        .all(|i| i.job.job_id() == "r1" && i.phone.is_some()));
}

#[tokio::test]
async fn listing_uses_the_vendor_cursor_and_region() {
    let mut s = mockito::Server::new_async().await;
    let log: Log = Arc::default();
    let body = r#"{"TotalCount":"3","NextToken":"n2","InstanceModel":[{"AndroidInstanceId":"acp-a","AndroidInstanceStatus":"WEIRD_STATE","Cpu":"8"}]}"#;
    let _m = action(&mut s, "DescribeAndroidInstances", 200, body, &log).await;
    let p = fixed(config(&s.url()).with_region("cn-hangzhou"));
    let page = p
        .list_page(&ListRequest::default().page_size(7))
        .await
        .unwrap();
    assert_eq!((page.next.as_deref(), page.total), (Some("n2"), Some(3)));
    let ph = &page.phones[0];
    assert_eq!(
        (ph.state.state, &*ph.state.raw),
        (PhoneState::Unknown, "WEIRD_STATE")
    );
    assert_eq!(ph.extra.get("cpu").map(String::as_str), Some("8"));
    // The same token back: the listing ends rather than loops.
    let page = p
        .list_page(&ListRequest::default().cursor(Some("n2".into())))
        .await
        .unwrap();
    assert_eq!(page.next, None);
    let log = log.lock().unwrap().clone();
    assert_eq!(log[0].query(), "BizRegionId=cn-hangzhou&MaxResults=7");
    assert_eq!(
        log[1].query(),
        "BizRegionId=cn-hangzhou&MaxResults=100&NextToken=n2"
    );
    let e = p
        .list_page(&ListRequest::default().cursor(Some(String::new())))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
}

#[tokio::test]
async fn tolerant_decoding_of_missing_fields_empty_values_and_odd_shapes() {
    let mut s = mockito::Server::new_async().await;
    let log: Log = Arc::default();
    let body = r#"{"InstanceModel":{"Instance":[{"AndroidInstanceId":"acp-a"},
        {"AndroidInstanceId":"","AndroidInstanceStatus":"RUNNING"},
        {"AndroidInstanceId":"acp-b","AndroidInstanceStatus":"running","Memory":"x","Disks":"?"}]},
        "TotalCount":null,"NextToken":null,"Unknown":{"deep":[1,2]}}"#;
    let _m = action(&mut s, "DescribeAndroidInstances", 200, body, &log).await;
    let p = fixed(config(&s.url()));
    let r = p.status(&ids(&["acp-a", "acp-b"])).await.unwrap();
    assert_eq!(r.outcomes[0].phone_state(), Some(PhoneState::Unknown));
    assert_eq!(r.outcomes[0].state.as_ref().unwrap().raw, "");
    assert_eq!(r.outcomes[1].phone_state(), Some(PhoneState::Running));
}

async fn one_error(
    status: usize,
    body: &str,
    headers: &[(&str, &str)],
) -> (cloudphone_core::Error, usize) {
    let mut s = mockito::Server::new_async().await;
    let log: Log = Arc::default();
    let (l, b) = (log.clone(), body.to_owned());
    let mut m = s.mock("POST", mockito::Matcher::Any).with_status(status);
    for (k, v) in headers {
        m = m.with_header(*k, v);
    }
    let _m = m
        .with_body_from_request(move |req| {
            l.lock().unwrap().push(seen(req));
            b.clone().into_bytes()
        })
        .create_async()
        .await;
    let p = fixed(config(&s.url()));
    let r = p.status(&ids(&["acp-a"])).await;
    let e = match r {
        Ok(r) => r.outcomes[0].error().cloned().expect("an error"),
        Err(e) => e,
    };
    let n = log.lock().unwrap().len();
    (e, n)
}

#[tokio::test]
async fn every_error_class() {
    // Credentials refused: never retried, the call is Err (nothing was accepted).
    for (status, code) in [
        (404, "InvalidAccessKeyId.NotFound"),
        (400, "InvalidAccessKeyId.Inactive"),
        (403, "SignatureDoesNotMatch"),
        (400, "IncompleteSignature"),
        (400, "InvalidTimeStamp.Expired"),
        (400, "InvalidSecurityToken.Expired"),
    ] {
        let body = format!(r#"{{"RequestId":"rq","Code":"{code}","Message":"m"}}"#);
        let (e, n) = one_error(status, &body, &[]).await;
        assert_eq!(
            (e.kind(), e.vendor_code(), n),
            (ErrorKind::Unauthenticated, Some(code), 1),
            "{code}"
        );
        assert_eq!(e.request_id(), Some("rq"));
    }
    // Throttled: retried (here until the retries run out).
    let (e, n) = one_error(
        400,
        r#"{"Code":"Throttling.User","Message":"Request was denied due to user flow control."}"#,
        &[],
    )
    .await;
    assert_eq!((e.kind(), n), (ErrorKind::RateLimited, 3));
    // Unavailable: reads are retried.
    let (e, n) = one_error(503, r#"{"Code":"ServiceUnavailable"}"#, &[]).await;
    assert_eq!((e.kind(), n), (ErrorKind::Unavailable, 3));
    let (e, _) = one_error(500, r#"{"Code":"InternalError"}"#, &[]).await;
    assert!(e.is_temporary() && e.kind() == ErrorKind::Unavailable);
    // Bad input: not retried.
    let (e, n) = one_error(
        400,
        r#"{"Code":"InvalidParameter.MaxResults","Message":"m"}"#,
        &[],
    )
    .await;
    assert_eq!((e.kind(), n), (ErrorKind::InvalidArgument, 1));
    let (e, _) = one_error(403, r#"{"Code":"Forbidden.RAM"}"#, &[]).await;
    assert_eq!(e.kind(), ErrorKind::PermissionDenied);
    let (e, _) = one_error(404, r#"{"Code":"InvalidApi.NotFound"}"#, &[]).await;
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    // XML errors and no body at all, with the header request id.
    let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><RequestId>x1</RequestId><Code>Forbidden</Code><Message>no</Message></Error>";
    let (e, _) = one_error(403, xml, &[("content-type", "text/xml;charset=utf-8")]).await;
    assert_eq!(
        (e.kind(), e.request_id()),
        (ErrorKind::PermissionDenied, Some("x1"))
    );
    let (e, _) = one_error(502, "", &[("x-acs-request-id", "hdr-1")]).await;
    assert_eq!(
        (e.kind(), e.request_id()),
        (ErrorKind::Unavailable, Some("hdr-1"))
    );
    // An undecodable 200 to a read: retried, then invalid.
    let (e, n) = one_error(200, "{\"InstanceModel\":[", &[]).await;
    assert_eq!((e.kind(), n), (ErrorKind::InvalidResponse, 3));
    let (e, _) = one_error(200, r#"{"InstanceModel":"nope"}"#, &[]).await;
    assert_eq!(e.kind(), ErrorKind::InvalidResponse);
}

#[tokio::test]
async fn throttling_honours_x_acs_retry_after_in_milliseconds() {
    let mut s = mockito::Server::new_async().await;
    let _throttled = s
        .mock("POST", mockito::Matcher::Any)
        .with_status(400)
        .with_header("x-acs-retry-after", "300")
        .with_body(r#"{"Code":"Throttling.User"}"#)
        .expect(1)
        .create_async()
        .await;
    let _ok = s
        .mock("POST", mockito::Matcher::Any)
        .with_body(r#"{"RequestId":"r"}"#)
        .create_async()
        .await;
    let p = fixed(unchecked(&s.url()).with_retries(3, 1, 10_000));
    let started = std::time::Instant::now();
    let r = p.stop(&ids(&["a"])).await.unwrap();
    assert!(
        r.outcomes[0].is_pending(),
        "a throttled change is retried: {r:?}"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(290),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_used_nonce_is_sent_once_more_with_a_new_one() {
    let mut s = mockito::Server::new_async().await;
    let log: Log = Arc::default();
    let _m = action(
        &mut s,
        "StopAndroidInstance",
        400,
        r#"{"Code":"SignatureNonceUsed","Message":"used"}"#,
        &log,
    )
    .await;
    let p = fixed(unchecked(&s.url()));
    let r = p.stop(&ids(&["a"])).await.unwrap();
    let e = r.outcomes[0]
        .error()
        .expect("failed, not unknown: the vendor did nothing");
    assert_eq!(e.vendor_code(), Some("SignatureNonceUsed"));
    assert!(e.is_not_applied());
    let log = log.lock().unwrap().clone();
    assert_eq!(log.len(), 2, "one more, then it stands");
    assert_eq!(log[0].header("x-acs-signature-nonce"), Some("nonce-0001"));
    assert_eq!(log[1].header("x-acs-signature-nonce"), Some("nonce-0002"));
}

#[tokio::test]
async fn a_change_whose_answer_was_lost_is_unknown_and_sent_once() {
    for (status, body) in [
        (500, r#"{"Code":"InternalError"}"#),
        (503, r#"{"Code":"ServiceUnavailable"}"#),
        (200, "{\"RequestId\":"),
        (504, "<html>gateway timeout</html>"),
    ] {
        let mut s = mockito::Server::new_async().await;
        let log: Log = Arc::default();
        let _m = action(&mut s, "RebootAndroidInstancesInGroup", status, body, &log).await;
        let p = fixed(unchecked(&s.url()));
        let r = p.restart(&ids(&["a", "b"])).await.unwrap();
        assert!(r.outcomes.iter().all(|o| o.is_unknown()), "{status}: {r:?}");
        assert_eq!(log.lock().unwrap().len(), 1, "{status}: never repeated");
    }
    // A request-level refusal fails the chunk: the vendor did not act.
    let mut s = mockito::Server::new_async().await;
    let log: Log = Arc::default();
    let _m = action(
        &mut s,
        "StartAndroidInstance",
        400,
        r#"{"Code":"InvalidInstanceId.NotFound","Message":"acp-x"}"#,
        &log,
    )
    .await;
    let p = fixed(unchecked(&s.url()));
    let r = p
        .start(&ids(&["acp-x", "acp-y"]), &StartOptions::default())
        .await
        .unwrap();
    assert!(r
        .outcomes
        .iter()
        .all(|o| o.error().map(|e| e.kind()) == Some(ErrorKind::NotFound)));
}
