//! Property tests of every eds-aic answer decoder: on arbitrary bytes, any JSON, and the
//! reference's answers mutated (bytes flipped, truncated, spliced; fields swapped for other
//! types, huge numbers, deep nesting), each returns `Ok` or an error — never panics. Unchanged
//! reference answers decode to what they say.
//!
//! Cases per property: 256 by default, `PROPTEST_CASES` to change.

#[path = "../../geelark/tests/mutate/mod.rs"]
mod mutate;

use cloudphone_alibaba::fuzzing::{
    decode_change, decode_error, decode_list, decode_status, decode_tasks, Answer,
};
use cloudphone_alibaba::{REBOOT, RESET, START, STOP, UPDATE_IMAGE, VENDOR};
use cloudphone_core::{ErrorKind, JobRef, JobState, PhoneId, PhoneState};
use mutate::{hostile_body, http_status, retry_after};
use proptest::prelude::*;

/// `DescribeAndroidInstances`, shaped as the SDK's response model and the docs' example.
const DESCRIBE_SEED: &str = r#"{"RequestId":"A3D8D1E2-2B5E-4C27-8F8A-6C8A9C1F1E11","TotalCount":2,"NextToken":"AAAAAV3MpHK1AP0pfERHZN5pu6kU+SQXzm0H9mu/FiSc","InstanceModel":[{"AndroidInstanceId":"acp-25nt4kk9whhok0001","AndroidInstanceName":"test","AndroidInstanceStatus":"RUNNING","AndroidInstanceGroupId":"ag-25nt4kk9whhok0001","ImageId":"imgc-075cllfeuazh0d4wd","RegionId":"cn-hangzhou","ZoneId":"cn-hangzhou-i","InstanceType":"acp.basic.small","ChargeType":"PostPaid","GmtCreate":"2023-05-06 10:42:10","GmtModified":"2023-05-06 10:42:10","Cpu":"4","Memory":8192,"Disks":[{"DiskSize":32,"DiskType":"DataDisk"}],"DisplayConfig":{"Dpi":240,"Fps":30,"LockResolution":"on","ResolutionHeight":1280,"ResolutionWidth":720},"Tags":[{"Key":"k","Value":"v"}],"ErrorCode":"","Rate":0},{"AndroidInstanceId":"acp-25nt4kk9whhok0002","AndroidInstanceStatus":"BACKUP_FAILED","AndroidInstanceName":""}]}"#;
const START_SEED: &str = r#"{"RequestId":"1A923337-44D9-5CAD-9A53-95084BD4****"}"#;
const REBOOT_SEED: &str = r#"{"RequestId":"1A923337-44D9-5CAD-9A53-95084BD4****","Tasks":{"ParentTaskId":"t-bp67acfmxazb4p****","ChildTasks":[{"InstanceId":"acp-25nt4kk9whhok0001","TaskId":"t-bp67acfmxazb4q****"}]}}"#;
const RESET_SEED: &str = r#"{"RequestId":"r","OrderId":"","Tasks":{"ParentTaskId":"t-p","ChildTasks":[{"InstanceId":"acp-25nt4kk9whhok0001","TaskId":"t-1"},{"InstanceId":"acp-other","TaskId":"t-2"}]}}"#;
const IMAGE_SEED: &str =
    r#"{"RequestId":"r","TaskId":"t-p","Tasks":{"ParentTaskId":"t-p","ChildTasks":[]}}"#;
const TASKS_SEED: &str = r#"{"RequestId":"r","TotalCount":2,"NextToken":"","Data":[{"TaskId":"t-bp67acfmxazb4q****","TaskType":"StartInstance","TaskStatus":"Finished","Level":2,"ParentTaskId":"t-bp67acfmxazb4p****","InstanceId":"acp-25nt4kk9whhok0001","InvokeId":"1A923337-44D9-5CAD-9A53-95084BD4****","StartTime":"2022-10-11T08:53:32Z","FinishTime":"2022-10-11T08:53:40Z","ErrorCode":"","ErrorMsg":"","Result":"{\"Success\": True}","InstanceStatus":"RUNNING"},{"TaskId":"t-bp67acfmxazb4p****","TaskStatus":"Processing","Level":1,"TotalChildCount":1,"SuccessChildCount":1,"FailedChildCount":0,"RunningChildCount":0}]}"#;
const ERROR_SEED: &str = r#"{"RequestId":"r","Message":"Request was denied due to user flow control.","Recommend":"https://next.api.aliyun.com/troubleshoot?q=Throttling.User","HostId":"eds-aic.cn-shanghai.aliyuncs.com","Code":"Throttling.User"}"#;
const XML_SEED: &str = "<?xml version=\"1.0\"?><Error><RequestId>r</RequestId><Code>SignatureDoesNotMatch</Code><Message>m</Message></Error>";

const SEEDS: &[&str] = &[
    DESCRIBE_SEED,
    START_SEED,
    REBOOT_SEED,
    RESET_SEED,
    IMAGE_SEED,
    TASKS_SEED,
    ERROR_SEED,
];

const KEYS: &[&str] = &[
    "RequestId",
    "TotalCount",
    "NextToken",
    "InstanceModel",
    "AndroidInstanceId",
    "AndroidInstanceName",
    "AndroidInstanceStatus",
    "Tasks",
    "ParentTaskId",
    "ChildTasks",
    "InstanceId",
    "TaskId",
    "Data",
    "TaskStatus",
    "Level",
    "InvokeId",
    "ErrorCode",
    "ErrorMsg",
    "Code",
    "Message",
];

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(256);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn answer<'a>(status: u16, retry: &'a Option<String>, body: &'a [u8]) -> Answer<'a> {
    Answer {
        http_status: status,
        retry_after: retry.as_deref(),
        request_id: Some("hdr-req"),
        body,
    }
}

fn check<T>(a: &Answer<'_>, res: &cloudphone_core::Result<T>) -> Result<(), TestCaseError> {
    if let Err(e) = res {
        prop_assert_eq!(e.vendor(), Some(VENDOR));
    }
    if !(200..300).contains(&a.http_status) {
        prop_assert!(res.is_err(), "a {} answer decoded Ok", a.http_status);
    }
    Ok(())
}

fn chunk() -> Vec<PhoneId> {
    ["acp-25nt4kk9whhok0001", "acp-25nt4kk9whhok0002", "acp-x"]
        .map(PhoneId::from)
        .to_vec()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn status_answers_never_panic(
        status in http_status(),
        retry in retry_after(),
        body in hostile_body(SEEDS, KEYS),
    ) {
        let a = answer(status, &retry, &body);
        let res = decode_status(&chunk(), &a);
        check(&a, &res)?;
        if let Ok(outcomes) = res {
            let asked = chunk();
            for o in &outcomes {
                prop_assert!(asked.contains(&o.phone), "only phones asked for");
            }
        }
        let res = decode_list(Some("cursor"), &a);
        check(&a, &res)?;
        if let Ok(page) = res {
            prop_assert!(page.next.as_deref() != Some("cursor") && page.next.as_deref() != Some(""));
        }
    }

    #[test]
    fn change_answers_never_panic(
        status in http_status(),
        retry in retry_after(),
        body in hostile_body(SEEDS, KEYS),
        action in proptest::sample::select(&[START, STOP, REBOOT, RESET, UPDATE_IMAGE][..]),
    ) {
        let a = answer(status, &retry, &body);
        let res = decode_change(action, &chunk(), &a);
        check(&a, &res)?;
        if let Ok(outcomes) = res {
            // Every phone of the chunk is pending; the rest are strays carrying a job.
            for (o, id) in outcomes.iter().zip(chunk()) {
                prop_assert_eq!(&o.phone, &id);
                prop_assert!(o.is_pending());
            }
            prop_assert!(outcomes.len() >= 3);
            for o in &outcomes[3..] {
                prop_assert!(o.is_pending() && o.job.is_some());
            }
        }
    }

    #[test]
    fn task_answers_never_panic(
        status in http_status(),
        retry in retry_after(),
        body in hostile_body(SEEDS, KEYS),
    ) {
        let a = answer(status, &retry, &body);
        for job in [
            JobRef::new("t-bp67acfmxazb4q****", Some("r".into())),
            JobRef::new("r", Some("r".into())),
        ] {
            let res = decode_tasks(&job, &a);
            check(&a, &res)?;
            if let Ok(infos) = res {
                prop_assert!(!infos.is_empty());
                for i in infos {
                    prop_assert_eq!(&i.job, &job);
                    prop_assert_eq!(i.state == JobState::Failed, i.error.is_some());
                }
            }
        }
    }

    #[test]
    fn error_answers_never_panic(
        status in 100u16..1000,
        retry in retry_after(),
        body in prop_oneof![hostile_body(SEEDS, KEYS), Just(XML_SEED.as_bytes().to_vec())],
    ) {
        let e = decode_error(&answer(status, &retry, &body));
        prop_assert_eq!(e.vendor(), Some(VENDOR));
        if status >= 500 && e.kind() != ErrorKind::RateLimited {
            prop_assert!(e.is_temporary());
        }
    }
}

#[test]
fn the_reference_answers_decode_to_what_they_say() {
    let s = decode_status(&chunk(), &Answer::ok(DESCRIBE_SEED.as_bytes())).unwrap();
    assert_eq!(s.len(), 2, "paging not ended: the third id is left unread");
    assert_eq!(s[0].phone_state(), Some(PhoneState::Running));
    assert_eq!(s[1].state.as_ref().unwrap().raw, "BACKUP_FAILED");
    let page = decode_list(None, &Answer::ok(DESCRIBE_SEED.as_bytes())).unwrap();
    assert_eq!(page.total, Some(2));
    assert_eq!(
        page.next.as_deref(),
        Some("AAAAAV3MpHK1AP0pfERHZN5pu6kU+SQXzm0H9mu/FiSc")
    );
    assert_eq!(page.phones[0].extra["gmt_create"], "2023-05-06 10:42:10");
    let c = decode_change(REBOOT, &chunk(), &Answer::ok(REBOOT_SEED.as_bytes())).unwrap();
    assert_eq!(c[0].job.as_ref().unwrap().job_id(), "t-bp67acfmxazb4q****");
    assert_eq!(
        c[1].job.as_ref().unwrap().job_id(),
        "1A923337-44D9-5CAD-9A53-95084BD4****"
    );
    let c = decode_change(START, &chunk(), &Answer::ok(START_SEED.as_bytes())).unwrap();
    assert!(c
        .iter()
        .all(|o| o.job.as_ref().unwrap().request_id.as_deref()
            == Some("1A923337-44D9-5CAD-9A53-95084BD4****")));
    let c = decode_change(RESET, &chunk(), &Answer::ok(RESET_SEED.as_bytes())).unwrap();
    assert_eq!(c.len(), 4, "the task of another phone is a stray");
    let job = JobRef::new(
        "1A923337-44D9-5CAD-9A53-95084BD4****",
        Some("1A923337-44D9-5CAD-9A53-95084BD4****".into()),
    );
    let infos = decode_tasks(&job, &Answer::ok(TASKS_SEED.as_bytes())).unwrap();
    assert_eq!(infos.len(), 1, "the instance task, not the batch task");
    assert_eq!(infos[0].state, JobState::Succeeded);
    let e = decode_error(&Answer {
        http_status: 400,
        retry_after: Some("1200"),
        request_id: None,
        body: ERROR_SEED.as_bytes(),
    });
    assert_eq!(e.kind(), ErrorKind::RateLimited);
    assert_eq!(
        e.retry_after(),
        Some(std::time::Duration::from_millis(1200))
    );
}
