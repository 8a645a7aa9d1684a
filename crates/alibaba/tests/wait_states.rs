//! A finished instance task that reports its phone's state (`InstanceStatus`) confirms it: the
//! wait reads states (`DescribeAndroidInstances`) only for the phones whose task did not say.

mod common;

use std::sync::Arc;
use std::time::Duration;

use cloudphone_core::{CloudPhoneProvider, PhoneState, WaitOptions};
use common::wire::*;
use common::*;

#[tokio::test]
async fn finished_tasks_with_the_phone_state_need_no_state_read() {
    let mut s = mockito::Server::new_async().await;
    let log: Log = Arc::default();
    let reboot = r#"{"RequestId":"r-reboot","Tasks":{"ParentTaskId":"t-parent","ChildTasks":[
        {"InstanceId":"acp-a","TaskId":"t-a"},{"InstanceId":"acp-b","TaskId":"t-b"}]}}"#;
    let _r = action(&mut s, "RebootAndroidInstancesInGroup", 200, reboot, &log).await;
    let tasks = r#"{"RequestId":"q","TotalCount":2,"NextToken":"","Data":[
      {"TaskId":"t-a","TaskStatus":"Finished","Level":2,"InstanceId":"acp-a","InstanceStatus":"RUNNING"},
      {"TaskId":"t-b","TaskStatus":"Finished","Level":2,"InstanceId":"acp-b"}]}"#;
    let _t = action(&mut s, "DescribeTasks", 200, tasks, &log).await;
    let describe = r#"{"RequestId":"d","TotalCount":1,"NextToken":"","InstanceModel":[
      {"AndroidInstanceId":"acp-b","AndroidInstanceStatus":"RUNNING"}]}"#;
    let _d = action(&mut s, "DescribeAndroidInstances", 200, describe, &log).await;
    let p = fixed(config(&s.url()).with_check_states(false));
    let r = p.restart(&ids(&["acp-a", "acp-b"])).await.unwrap();
    assert_eq!(r.summary().pending, 2);
    let opts = WaitOptions::default()
        .poll_interval(Duration::from_millis(5))
        .timeout(Duration::from_secs(10));
    let done = p.wait(&r, &opts).await.unwrap();
    assert!(done.all_done(), "{done:?}");
    for o in &done.outcomes {
        assert_eq!(o.phone_state(), Some(PhoneState::Running));
        assert_eq!(o.state.as_ref().unwrap().raw, "RUNNING");
        assert!(o.job.is_some());
    }
    let log = log.lock().unwrap().clone();
    let reads: Vec<&str> = log
        .iter()
        .filter(|c| c.action() == "DescribeAndroidInstances")
        .map(|c| c.query())
        .collect();
    // One read, of the phone whose task said nothing of its state.
    assert_eq!(reads.len(), 1, "{reads:?}");
    assert!(
        reads[0].contains("acp-b") && !reads[0].contains("acp-a"),
        "{reads:?}"
    );
}

/// Task pages are applied as they arrive, each to its own phones: a page that fails leaves
/// its 100 phones pending with the reason, while a phone whose page answered without its task
/// is read by state — another page's failure says nothing about it.
#[tokio::test]
async fn a_failed_task_page_holds_only_its_own_phones() {
    use cloudphone_core::{BatchReport, JobRef, Operation, PhoneOutcome};
    use mockito::Matcher;

    let mut s = mockito::Server::new_async().await;
    let log: Log = Arc::default();
    let phones: Vec<String> = (0..101).map(|i| format!("acp-{i:03}")).collect();
    // The first page (the tasks of the first 100 phones) is refused as a bad request every
    // round; the second answers, without the task of the 101st phone.
    let _refused = s
        .mock("POST", Matcher::Regex("^/".into()))
        .match_header("x-acs-action", "DescribeTasks")
        .match_query(Matcher::Regex("TaskIds.1=t-000(&|$)".into()))
        .with_status(400)
        .with_header("content-type", "application/json")
        .with_body(
            r#"{"RequestId":"q1","Code":"InvalidParameter","Message":"the page is refused"}"#,
        )
        .create_async()
        .await;
    let _empty = s
        .mock("POST", Matcher::Regex("^/".into()))
        .match_header("x-acs-action", "DescribeTasks")
        .match_query(Matcher::Regex("TaskIds.1=t-100(&|$)".into()))
        .with_status(200)
        .with_header("content-type", "application/json")
        .with_body(r#"{"RequestId":"q2","TotalCount":0,"NextToken":"","Data":[]}"#)
        .create_async()
        .await;
    let describe = r#"{"RequestId":"d","TotalCount":1,"NextToken":"","InstanceModel":[
      {"AndroidInstanceId":"acp-100","AndroidInstanceStatus":"RUNNING"}]}"#;
    let _d = action(&mut s, "DescribeAndroidInstances", 200, describe, &log).await;
    let p = fixed(config(&s.url()).with_check_states(false));
    let outcomes = phones
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let job = JobRef::new(format!("t-{i:03}"), Some("r-reboot".into()));
            PhoneOutcome::pending(id.as_str().into()).with_job(job)
        })
        .collect();
    let mut report = BatchReport::new(Operation::Restart, outcomes);
    report.origin = p.origin();
    let opts = WaitOptions::default()
        .poll_interval(Duration::from_millis(20))
        .timeout(Duration::from_millis(300));
    let done = p.wait(&report, &opts).await.unwrap();
    let last = &done.outcomes[100];
    assert!(last.is_done(), "{last:?}");
    assert!(last.wait_error.is_none(), "{last:?}");
    assert_eq!(last.phone_state(), Some(PhoneState::Running));
    for o in &done.outcomes[..100] {
        assert!(o.is_pending(), "{o:?}");
        let why = o.wait_error.as_ref().expect("the page's failure is kept");
        assert!(why.to_string().contains("the page is refused"), "{why}");
        assert!(o.job.is_some(), "{o:?}");
    }
    // The state read asked for the one phone its page left out, not for the others.
    let reads: Vec<String> = log
        .lock()
        .unwrap()
        .iter()
        .filter(|c| c.action() == "DescribeAndroidInstances")
        .map(|c| c.query().to_owned())
        .collect();
    assert!(!reads.is_empty());
    assert!(
        reads
            .iter()
            .all(|q| q.contains("acp-100") && !q.contains("acp-000")),
        "{reads:?}"
    );
}
