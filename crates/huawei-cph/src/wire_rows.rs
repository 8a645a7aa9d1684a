//! Borrowed views of the CPH pages read at fleet scale (list-jobs and list-phones pages in
//! `status` and `wait`): only the fields those need, strings borrowed from the answer where
//! they carry no escapes, every other field skipped without being built. A 100,000-phone wait
//! decodes 150,000 records per round; none of them is kept as a vendor record.

use std::borrow::Cow;
use std::fmt;

use cloudphone_core::{Error, ErrorKind, JobState, ObservedState};
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use crate::wire::{code_error, job_state, phone_state};
use crate::VENDOR;

/// A status code as the vendor sent it, number or string, without building a JSON value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Code<'a> {
    Int(i64),
    Text(Cow<'a, str>),
}

impl Code<'_> {
    /// The code verbatim, as [`crate::wire::raw_code`] writes it.
    pub fn raw(&self) -> String {
        match self {
            Code::Int(n) => n.to_string(),
            Code::Text(s) => s.clone().into_owned(),
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Code<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Code<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a status code")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Code::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(i64::try_from(v).map_or_else(|_| Code::Text(v.to_string().into()), Code::Int))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                // Verbatim as a JSON number prints.
                let shown =
                    serde_json::Number::from_f64(v).map_or_else(String::new, |n| n.to_string());
                Ok(Code::Text(shown.into()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(Code::Text(v.to_string().into()))
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Code::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Code::Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Code::Text(Cow::Owned(v)))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Code::Text(Cow::Borrowed("")))
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Code::Text(Cow::Borrowed("")))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                d.deserialize_any(V)
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                // Not a code any CPH page sends; kept as its JSON text, like `raw_code` does.
                let v = serde_json::Value::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
                Ok(Code::Text(v.to_string().into()))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                let v = serde_json::Value::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(Code::Text(v.to_string().into()))
            }
        }
        d.deserialize_any(V)
    }
}

/// A string field that may be missing, null, escaped (owned) or plain (borrowed).
type Text<'a> = Option<Cow<'a, str>>;

/// One job of a list-jobs page: what a wait needs (its id, state, and why it failed).
#[derive(Debug, Deserialize)]
pub(crate) struct JobRow<'a> {
    #[serde(default, borrow)]
    pub job_id: Text<'a>,
    #[serde(default, borrow)]
    pub phone_id: Text<'a>,
    #[serde(default, borrow)]
    pub status: Option<Code<'a>>,
    #[serde(default, borrow)]
    pub error_code: Text<'a>,
    #[serde(default, borrow)]
    pub error_msg: Text<'a>,
    #[serde(default, borrow)]
    pub execute_msg: Text<'a>,
}

impl JobRow<'_> {
    /// The job's state (an unknown or missing code counts as running).
    pub fn state(&self) -> JobState {
        match &self.status {
            Some(Code::Int(2)) => JobState::Succeeded,
            Some(Code::Int(-1)) => JobState::Failed,
            Some(Code::Int(_)) | None => JobState::Running,
            Some(Code::Text(s)) => job_state(s),
        }
    }

    /// Why a failed job failed, as [`crate::wire::Job::failure`] says it.
    pub fn failure(&self) -> Error {
        let msg = self
            .error_msg
            .as_deref()
            .or(self.execute_msg.as_deref())
            .filter(|m| !m.is_empty())
            .unwrap_or("the vendor job failed");
        match self.error_code.as_deref().filter(|c| !c.is_empty()) {
            Some(code) => code_error(code, msg, None),
            None => Error::new(ErrorKind::Other, msg)
                .with_vendor(VENDOR)
                .with_vendor_code(self.status.as_ref().map(Code::raw).unwrap_or_default()),
        }
    }
}

/// A list-jobs page.
#[derive(Debug, Deserialize)]
pub(crate) struct JobRows<'a> {
    #[serde(default, borrow)]
    pub jobs: Option<Vec<JobRow<'a>>>,
}

/// One phone of a list page: its id, name and state.
#[derive(Debug, Deserialize)]
pub(crate) struct PhoneRow<'a> {
    #[serde(default, borrow)]
    pub phone_id: Text<'a>,
    #[serde(default, borrow)]
    pub phone_name: Text<'a>,
    #[serde(default, borrow)]
    pub status: Option<Code<'a>>,
}

impl PhoneRow<'_> {
    /// The observed state, raw code kept.
    pub fn state(&self) -> ObservedState {
        match &self.status {
            // The common case, an integer code: written out to be matched, then a documented
            // one is borrowed from the table, so no string is kept per phone.
            Some(Code::Int(n)) => {
                let raw = n.to_string();
                ObservedState::coded(phone_state(&raw), &raw, crate::wire::PHONE_CODES)
            }
            Some(Code::Text(s)) => {
                ObservedState::coded(phone_state(s), s, crate::wire::PHONE_CODES)
            }
            None => ObservedState::new(phone_state(""), ""),
        }
    }
}

/// A list-phones page.
#[derive(Debug, Deserialize)]
pub(crate) struct PhoneRows<'a> {
    #[serde(default)]
    pub count: Option<u64>,
    #[serde(default, borrow)]
    pub phones: Option<Vec<PhoneRow<'a>>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{raw_code, Job};

    #[test]
    fn rows_read_codes_and_failures_as_the_full_records_do() {
        let page = br#"{"jobs":[
            {"job_id":"j1","status":2,"phone_id":"p","extra":{"x":[1,2]}},
            {"job_id":"j\u0032","status":"-1","error_code":"CPS.0022","error_msg":"busy \"now\""},
            {"job_id":"j3","status":-1,"execute_msg":"boom"},
            {"job_id":"j4","status":null},
            {"job_id":"j5","status":1.5}
        ]}"#;
        let rows: JobRows<'_> = serde_json::from_slice(page).unwrap();
        let full: crate::wire::JobList = serde_json::from_slice(page).unwrap();
        for (r, f) in rows.jobs.unwrap().iter().zip(full.jobs.unwrap()) {
            let f: Job = f;
            assert_eq!(r.job_id.as_deref(), f.job_id.as_deref());
            assert_eq!(r.state(), f.state());
            assert_eq!(
                r.status.as_ref().map(Code::raw).unwrap_or_default(),
                f.status.as_ref().map(raw_code).unwrap_or_default()
            );
            let (a, b) = (r.failure(), f.failure());
            assert_eq!(
                (a.kind(), a.message(), a.vendor_code()),
                (b.kind(), b.message(), b.vendor_code())
            );
        }
        let phones: PhoneRows<'_> = serde_json::from_slice(
            br#"{"count":2,"phones":[{"phone_id":"a","phone_name":"n","status":8,"server_id":"s"},{"phone_id":"b","status":"2"}]}"#,
        )
        .unwrap();
        let p = phones.phones.unwrap();
        assert_eq!(p[0].state().raw, "8");
        assert_eq!(p[1].state().raw, "2");
        assert_eq!(phones.count, Some(2));
    }
}
