//! Request bodies and tolerant decoding of GeeLark answers.

use std::collections::BTreeMap;

use cloudphone_core::{ObservedState, PhoneId, PhoneState, PhoneSummary};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// The envelope of every answer. Unknown fields are ignored; `msg` may be Chinese.
#[derive(Debug, Deserialize)]
pub(crate) struct Envelope {
    pub code: i64,
    #[serde(default)]
    pub msg: String,
    #[serde(default)]
    pub data: Option<Value>,
    /// The vendor's echo of our `traceId` (or its own). Never fails the envelope: anything
    /// but a string is ignored.
    #[serde(default, rename = "traceId", deserialize_with = "lenient_string")]
    pub trace_id: Option<String>,
}

/// An envelope read without its `data` (skipped unbuilt), for the calls whose answer carries
/// nothing else they use (newOne, restart, the credentials check): a newOne call spent about
/// 7 % of its client instructions building `data` as a `serde_json::Value`.
#[derive(Debug, Deserialize)]
pub(crate) struct BareEnvelope {
    pub code: i64,
    #[serde(default)]
    pub msg: String,
    #[serde(default, rename = "traceId", deserialize_with = "lenient_string")]
    pub trace_id: Option<String>,
}

impl From<BareEnvelope> for Envelope {
    fn from(e: BareEnvelope) -> Envelope {
        Envelope {
            code: e.code,
            msg: e.msg,
            data: None,
            trace_id: e.trace_id,
        }
    }
}

/// A JSON string, or `None` for anything else.
fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => Some(s),
        _ => None,
    })
}

/// A JSON string or number, as a string: ids and status codes arrive as either.
fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(serde::de::Error::custom(format!(
            "expected a string or a number, got {other}"
        ))),
    }
}

fn opt_string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(serde::de::Error::custom(format!(
            "expected a string or a number, got {other}"
        ))),
    }
}

/// `data` of the batch endpoints (status, start, stop).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BatchData {
    #[serde(default)]
    pub success_amount: Option<u64>,
    /// `None` when the vendor left the list out (stop documents only `failDetails`).
    #[serde(default)]
    pub success_details: Option<Vec<SuccessDetail>>,
    #[serde(default)]
    pub fail_details: Option<Vec<FailDetail>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SuccessDetail {
    #[serde(deserialize_with = "string_or_number")]
    pub id: String,
    #[serde(default)]
    pub serial_name: Option<String>,
    #[serde(default, deserialize_with = "opt_string_or_number")]
    pub status: Option<String>,
    /// Start: the browser live view.
    #[serde(default)]
    pub url: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct FailDetail {
    #[serde(deserialize_with = "string_or_number")]
    pub id: String,
    pub code: i64,
    #[serde(default)]
    pub msg: String,
}

/// `data` of `/open/v1/phone/list`.
#[derive(Debug, Deserialize)]
pub(crate) struct ListData {
    #[serde(default)]
    pub total: Option<u64>,
    #[serde(default)]
    pub items: Vec<ListItem>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ListItem {
    #[serde(deserialize_with = "string_or_number")]
    pub id: String,
    #[serde(default)]
    pub serial_name: Option<String>,
    #[serde(default, deserialize_with = "opt_string_or_number")]
    pub status: Option<String>,
    #[serde(flatten)]
    pub rest: BTreeMap<String, Value>,
}

impl ListItem {
    pub fn into_summary(self) -> PhoneSummary {
        let state = observed(self.status.as_deref().unwrap_or(""));
        let mut s = PhoneSummary::new(PhoneId::new(self.id), self.serial_name, state);
        s.extra = self
            .rest
            .into_iter()
            .filter_map(|(k, v)| match v {
                Value::Null => None,
                Value::String(s) => Some((k, s)),
                other => Some((k, other.to_string())),
            })
            .collect();
        s
    }
}

/// GeeLark status code → normalized state; the raw decimal code always survives.
pub fn observed(raw: &str) -> ObservedState {
    let state = match raw {
        "0" => PhoneState::Running,
        "1" => PhoneState::Starting,
        "2" => PhoneState::Stopped,
        "3" => PhoneState::Expired,
        _ => PhoneState::Unknown,
    };
    ObservedState::coded(state, raw, &["0", "1", "2", "3"])
}

#[derive(Serialize)]
pub(crate) struct IdsBody<'a> {
    pub ids: Vec<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StartBody<'a> {
    pub ids: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub center: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub energy_saving_mode: Option<u8>,
}

/// Options of `/open/v2/phone/newOne`, all optional.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NewOneOptions {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change_brand_model: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_net_type: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_phone_number: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_region: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_language: Option<bool>,
}

#[derive(Serialize)]
pub(crate) struct NewOneBody<'a> {
    pub id: &'a str,
    #[serde(flatten)]
    pub options: &'a NewOneOptions,
}

#[derive(Serialize)]
pub(crate) struct IdBody<'a> {
    pub id: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ListBody {
    pub page: u64,
    pub page_size: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_decode_from_strings_and_numbers() {
        let d: BatchData = serde_json::from_str(
            r#"{"failDetails":[{"code":42001,"id":528715748189668352,"msg":"x"},
                               {"code":42001,"id":"7","msg":"y","extra":true}],
                "successDetails":[{"id":1,"status":"2","whatever":[1]}]}"#,
        )
        .unwrap();
        let f = d.fail_details.unwrap();
        assert_eq!(f[0].id, "528715748189668352");
        assert_eq!(f[1].id, "7");
        let s = d.success_details.unwrap();
        assert_eq!((s[0].id.as_str(), s[0].status.as_deref()), ("1", Some("2")));
    }

    #[test]
    fn states_map_and_keep_the_raw_code() {
        assert_eq!(observed("0").state, PhoneState::Running);
        assert_eq!(observed("1").state, PhoneState::Starting);
        assert_eq!(observed("2").state, PhoneState::Stopped);
        assert_eq!(observed("3").state, PhoneState::Expired);
        let o = observed("9");
        assert_eq!((o.state, &*o.raw), (PhoneState::Unknown, "9"));
    }

    #[test]
    fn list_items_keep_the_other_fields() {
        let item: ListItem = serde_json::from_str(
            r#"{"id":"1","serialName":"n","serialNo":"42","status":0,
                "group":{"name":"g"},"remark":null,"tags":[{"name":"t"}]}"#,
        )
        .unwrap();
        let s = item.into_summary();
        assert_eq!(s.name.as_deref(), Some("n"));
        assert_eq!(s.state.state, PhoneState::Running);
        assert_eq!(s.extra["serialNo"], "42");
        assert_eq!(s.extra["group"], r#"{"name":"g"}"#);
        assert!(!s.extra.contains_key("remark"));
    }

    #[test]
    fn a_bare_envelope_reads_what_the_full_one_does_but_data() {
        for body in [
            r#"{"code":0,"msg":"ok","traceId":"T1","data":{"x":[1,{"y":2}]}}"#,
            r#"{"code":43004,"msg":"expired","data":null}"#,
            r#"{"code":0,"traceId":7,"data":5}"#,
            r#"{"msg":"no code"}"#,
            r#"{"code":"0"}"#,
            r#"{"code":0,"data":{"unterminated":[}"#,
        ] {
            let full = serde_json::from_slice::<Envelope>(body.as_bytes());
            let bare = serde_json::from_slice::<BareEnvelope>(body.as_bytes()).map(Envelope::from);
            match (full, bare) {
                (Ok(f), Ok(b)) => {
                    assert_eq!((f.code, &f.msg, &f.trace_id), (b.code, &b.msg, &b.trace_id));
                    assert!(b.data.is_none());
                }
                (Err(_), Err(_)) => {}
                (f, b) => panic!("{body}: {f:?} vs {b:?}"),
            }
        }
    }
}
