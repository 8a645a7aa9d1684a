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
