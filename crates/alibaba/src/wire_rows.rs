//! A borrowed fast path for the pages a status read decodes at fleet scale: a
//! `DescribeAndroidInstances` page read straight into id, name and state, without building a
//! `serde_json::Value` of every instance's thirty fields. Any shape it does not expect (a
//! number where a string was, the XML-style wrapper, a duplicate key) falls back to the
//! tolerant `Value` reading of [`crate::wire`], so both read every answer alike.

use std::borrow::Cow;

use serde::Deserialize;

use crate::wire::{self, Instance, InstancePage, Task, TaskPage};
use cloudphone_core::Result;

#[derive(Deserialize)]
struct StatesPage<'a> {
    #[serde(rename = "TotalCount", default)]
    total: Option<u64>,
    #[serde(rename = "NextToken", default, borrow)]
    next: Option<Cow<'a, str>>,
    #[serde(rename = "InstanceModel", default, borrow)]
    instances: Option<Vec<StateRow<'a>>>,
}

#[derive(Deserialize)]
struct StateRow<'a> {
    #[serde(rename = "AndroidInstanceId", default, borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(rename = "AndroidInstanceName", default, borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(rename = "AndroidInstanceStatus", default, borrow)]
    status: Option<Cow<'a, str>>,
}

/// `body` when it is a JSON object (serde would read a struct from an array too).
fn object(body: &[u8]) -> Option<&[u8]> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace())?;
    (*first == b'{').then_some(body)
}

/// A non-empty string, as [`wire::text`] reads one.
fn text(s: Option<Cow<'_, str>>) -> Option<String> {
    s.filter(|s| !s.is_empty()).map(Cow::into_owned)
}

/// Id, name and state of each instance of a `DescribeAndroidInstances` page.
pub(crate) fn instance_states(body: &[u8]) -> Result<InstancePage> {
    let Some(page) = object(body).and_then(|b| serde_json::from_slice::<StatesPage<'_>>(b).ok())
    else {
        return wire::instance_states(body);
    };
    let instances = page
        .instances
        .unwrap_or_default()
        .into_iter()
        .map(|r| Instance {
            id: text(r.id),
            name: text(r.name),
            status: text(r.status).unwrap_or_default(),
            extra: Default::default(),
        })
        .collect();
    Ok(InstancePage {
        total: page.total,
        next: text(page.next).filter(|t| !t.trim().is_empty()),
        instances,
    })
}

#[derive(Deserialize)]
struct TasksPage<'a> {
    #[serde(rename = "NextToken", default, borrow)]
    next: Option<Cow<'a, str>>,
    #[serde(rename = "Data", default, borrow)]
    tasks: Option<Vec<TaskRow<'a>>>,
}

#[derive(Deserialize)]
struct TaskRow<'a> {
    #[serde(rename = "TaskId", default, borrow)]
    task_id: Option<Cow<'a, str>>,
    #[serde(rename = "TaskStatus", default, borrow)]
    status: Option<Cow<'a, str>>,
    #[serde(rename = "Level", default)]
    level: Option<u64>,
    #[serde(rename = "InstanceId", default, borrow)]
    instance_id: Option<Cow<'a, str>>,
    #[serde(rename = "ResourceId", default, borrow)]
    resource_id: Option<Cow<'a, str>>,
    #[serde(rename = "InvokeId", default, borrow)]
    invoke_id: Option<Cow<'a, str>>,
    #[serde(rename = "ErrorCode", default, borrow)]
    error_code: Option<Cow<'a, str>>,
    #[serde(rename = "ErrorMsg", default, borrow)]
    error_msg: Option<Cow<'a, str>>,
    #[serde(rename = "TaskType", default, borrow)]
    task_type: Option<Cow<'a, str>>,
    #[serde(rename = "InstanceStatus", default, borrow)]
    instance_status: Option<Cow<'a, str>>,
}

/// A `DescribeTasks` page, as [`wire::task_page`] reads it.
pub(crate) fn task_page(body: &[u8]) -> Result<TaskPage> {
    let Some(page) = object(body).and_then(|b| serde_json::from_slice::<TasksPage<'_>>(b).ok())
    else {
        return wire::task_page(body);
    };
    let tasks = page
        .tasks
        .unwrap_or_default()
        .into_iter()
        .map(|r| Task {
            task_id: text(r.task_id),
            status: text(r.status).unwrap_or_default(),
            level: r.level,
            instance_id: text(r.instance_id).or_else(|| text(r.resource_id)),
            invoke_id: text(r.invoke_id),
            error_code: text(r.error_code),
            error_msg: text(r.error_msg),
            task_type: text(r.task_type),
            instance_status: text(r.instance_status),
        })
        .collect();
    Ok(TaskPage {
        next: text(page.next).filter(|t| !t.trim().is_empty()),
        tasks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both readings of one answer, field by field.
    fn same(body: &str) {
        let fast = instance_states(body.as_bytes());
        let slow = wire::instance_states(body.as_bytes());
        match (fast, slow) {
            (Ok(a), Ok(b)) => {
                assert_eq!((a.total, &a.next), (b.total, &b.next), "{body}");
                let a: Vec<_> = a
                    .instances
                    .iter()
                    .map(|i| (&i.id, &i.name, &i.status))
                    .collect();
                let b: Vec<_> = b
                    .instances
                    .iter()
                    .map(|i| (&i.id, &i.name, &i.status))
                    .collect();
                assert_eq!(a, b, "{body}");
            }
            (Err(a), Err(b)) => assert_eq!(a.message(), b.message(), "{body}"),
            (a, b) => panic!("{body}: {a:?} vs {b:?}"),
        }
    }

    #[test]
    fn the_fast_path_reads_every_shape_as_the_value_reading_does() {
        for body in [
            r#"{"TotalCount":2,"NextToken":"t","InstanceModel":[{"AndroidInstanceId":"a","AndroidInstanceName":"n\u00e9","AndroidInstanceStatus":"RUNNING","Cpu":"4","Memory":8192},{"AndroidInstanceId":"b","AndroidInstanceName":"","AndroidInstanceStatus":"STOPPED"}]}"#,
            r#"{"TotalCount":"3","NextToken":" ","InstanceModel":null}"#,
            r#"{"NextToken":7,"InstanceModel":[{"AndroidInstanceId":12,"AndroidInstanceStatus":true}]}"#,
            r#"{"InstanceModel":{"Item":[{"AndroidInstanceId":"x"}]}}"#,
            r#"{"InstanceModel":[1,{"AndroidInstanceId":"y","AndroidInstanceId":"z"}]}"#,
            r#"{"InstanceModel":"nope"}"#,
            r#"[1,2]"#,
            r#"[null,null,[]]"#,
            "not json",
            r#"{"TotalCount":-1,"InstanceModel":[]}"#,
        ] {
            same(body);
        }
    }

    #[test]
    fn task_pages_read_alike_too() {
        for body in [
            r#"{"NextToken":"n","Data":[{"TaskId":"t-a","TaskStatus":"Finished","Level":2,"InstanceId":"acp-a","InvokeId":"r1","TaskType":"RebootInstance","ErrorCode":"","InstanceStatus":"RUNNING"},{"TaskId":"t-b","TaskStatus":"Failed","ResourceId":"acp-b","ErrorCode":"X","ErrorMsg":"no"}]}"#,
            r#"{"Data":[{"TaskId":"t","Level":"2"}]}"#,
            r#"{"Data":{"Item":[{"TaskId":"t"}]}}"#,
            r#"{"Data":null,"NextToken":""}"#,
            r#"{"Data":7}"#,
            "[]",
            r#"[null,[]]"#,
        ] {
            let (fast, slow) = (task_page(body.as_bytes()), wire::task_page(body.as_bytes()));
            match (fast, slow) {
                (Ok(a), Ok(b)) => {
                    assert_eq!(a.next, b.next, "{body}");
                    let a: Vec<String> = a.tasks.iter().map(|t| format!("{t:?}")).collect();
                    let b: Vec<String> = b.tasks.iter().map(|t| format!("{t:?}")).collect();
                    assert_eq!(a, b, "{body}");
                }
                (Err(a), Err(b)) => assert_eq!(a.message(), b.message(), "{body}"),
                (a, b) => panic!("{body}: {a:?} vs {b:?}"),
            }
        }
    }
}
