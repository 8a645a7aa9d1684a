//! A borrowed fast path for the pages a status read decodes at fleet scale: a
//! `DescribeAndroidInstances` page read straight into id, name and state, without building a
//! `serde_json::Value` of every instance's thirty fields. Any shape it does not expect (a
//! number where a string was, the XML-style wrapper, a duplicate key) falls back to the
//! tolerant `Value` reading of [`crate::wire`], so both read every answer alike.

use std::borrow::Cow;

use serde::Deserialize;

use crate::wire::{self, Instance, InstancePage};
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

/// A non-empty string, as [`wire::text`] reads one.
fn text(s: Option<Cow<'_, str>>) -> Option<String> {
    s.filter(|s| !s.is_empty()).map(Cow::into_owned)
}

/// Id, name and state of each instance of a `DescribeAndroidInstances` page.
pub(crate) fn instance_states(body: &[u8]) -> Result<InstancePage> {
    let Ok(page) = serde_json::from_slice::<StatesPage<'_>>(body) else {
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
            "not json",
            r#"{"TotalCount":-1,"InstanceModel":[]}"#,
        ] {
            same(body);
        }
    }
}
