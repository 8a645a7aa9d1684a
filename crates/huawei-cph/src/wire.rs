//! Wire formats of the CPH API and the mapping of its codes to normalized ones.

use std::time::Duration;

use cloudphone_core::{Error, ErrorKind, JobState, ObservedState, PhoneState};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::VENDOR;

/// `{"image_id"?, "phones": [{"phone_id", "property"?}]}` of batch-reset and batch-restart.
#[derive(Debug, Serialize)]
pub(crate) struct PhonesBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_id: Option<&'a str>,
    pub phones: Vec<PhoneProperty<'a>>,
}

#[derive(Debug, Serialize)]
pub(crate) struct PhoneProperty<'a> {
    pub phone_id: &'a str,
    /// A JSON object encoded as a string, as the API wants it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub property: Option<String>,
}

/// `{"phone_ids": [...]}` of batch-stop.
#[derive(Debug, Serialize)]
pub(crate) struct StopBody<'a> {
    pub phone_ids: Vec<&'a str>,
}

/// The answer of the batch calls.
#[derive(Debug, Deserialize)]
pub(crate) struct BatchAnswer {
    #[serde(default)]
    pub request_id: Option<String>,
    #[serde(default)]
    pub jobs: Option<Vec<PhoneJob>>,
    #[serde(default)]
    pub error_code: Option<String>,
    #[serde(default)]
    pub error_msg: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct PhoneJob {
    #[serde(default)]
    pub phone_id: Option<String>,
    #[serde(default)]
    pub job_id: Option<String>,
    #[serde(default)]
    pub error_code: Option<String>,
    #[serde(default)]
    pub error_msg: Option<String>,
}

/// A phone, as the detail call returns it (flat) and as list pages hold it.
#[derive(Debug, Deserialize)]
pub(crate) struct Phone {
    #[serde(default)]
    pub phone_id: Option<String>,
    #[serde(default)]
    pub phone_name: Option<String>,
    #[serde(default)]
    pub status: Option<Value>,
    #[serde(default)]
    pub server_id: Option<String>,
    #[serde(default)]
    pub image_id: Option<String>,
    #[serde(default)]
    pub phone_model_name: Option<String>,
    #[serde(default, rename = "type")]
    pub phone_type: Option<Value>,
    #[serde(default)]
    pub create_time: Option<String>,
    #[serde(default)]
    pub update_time: Option<String>,
}

impl Phone {
    pub fn state(&self) -> ObservedState {
        let raw = self.status.as_ref().map(raw_code).unwrap_or_default();
        ObservedState::coded(phone_state(&raw), &raw, PHONE_CODES)
    }

    pub fn extras(&self) -> std::collections::BTreeMap<String, String> {
        let mut m = std::collections::BTreeMap::new();
        let fields = [
            ("server_id", self.server_id.clone()),
            ("image_id", self.image_id.clone()),
            ("phone_model_name", self.phone_model_name.clone()),
            ("type", self.phone_type.as_ref().map(raw_code)),
            ("create_time", self.create_time.clone()),
            ("update_time", self.update_time.clone()),
        ];
        for (k, v) in fields {
            if let Some(v) = v {
                m.insert(k.to_owned(), v);
            }
        }
        m
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct PhoneList {
    #[serde(default)]
    pub count: Option<u64>,
    #[serde(default)]
    pub phones: Option<Vec<Phone>>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Job {
    #[serde(default)]
    pub job_id: Option<String>,
    #[serde(default)]
    pub phone_id: Option<String>,
    #[serde(default)]
    pub request_id: Option<String>,
    #[serde(default)]
    pub status: Option<Value>,
    #[serde(default)]
    pub error_code: Option<String>,
    #[serde(default)]
    pub error_msg: Option<String>,
    #[serde(default)]
    pub execute_msg: Option<String>,
}

impl Job {
    pub fn raw_status(&self) -> String {
        self.status.as_ref().map(raw_code).unwrap_or_default()
    }

    pub fn state(&self) -> JobState {
        job_state(&self.raw_status())
    }

    /// Why a failed job failed, carrying the vendor's error code.
    pub fn failure(&self) -> Error {
        let msg = self
            .error_msg
            .clone()
            .or_else(|| self.execute_msg.clone())
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| "the vendor job failed".to_owned());
        match self.error_code.as_deref().filter(|c| !c.is_empty()) {
            Some(code) => code_error(code, &msg, None),
            None => Error::new(ErrorKind::Other, msg)
                .with_vendor(VENDOR)
                .with_vendor_code(self.raw_status()),
        }
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct JobList {
    #[serde(default)]
    pub jobs: Option<Vec<Job>>,
}

/// A status code as the vendor sent it: numbers and strings alike, verbatim.
pub(crate) fn raw_code(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The documented phone status codes, as written (raw codes are borrowed from here).
pub const PHONE_CODES: &[&str] = &[
    "0", "1", "2", "3", "4", "6", "7", "8", "-5", "-6", "-7", "-8", "-9",
];

/// Maps a CPH phone status to the normalized state.
pub fn phone_state(raw: &str) -> PhoneState {
    match raw.trim().parse::<i64>() {
        Ok(0 | 1) => PhoneState::Creating,
        Ok(2) => PhoneState::Running,
        Ok(3) => PhoneState::Resetting,
        Ok(4) => PhoneState::Restarting,
        Ok(6) => PhoneState::Frozen,
        Ok(7) => PhoneState::Stopping,
        Ok(8) => PhoneState::Stopped,
        Ok(-9..=-5) => PhoneState::Failed,
        _ => PhoneState::Unknown,
    }
}

/// Maps a CPH job status (1 running, 2 succeeded, −1 failed) to the normalized state; unknown
/// codes count as still running.
pub fn job_state(raw: &str) -> JobState {
    match raw.trim().parse::<i64>() {
        Ok(2) => JobState::Succeeded,
        Ok(-1) => JobState::Failed,
        _ => JobState::Running,
    }
}

/// The error an error code stands for. `http` is the HTTP status it came with (`None` for a
/// per-phone `error_code` inside a 200 answer).
pub(crate) fn code_error(code: &str, message: &str, http: Option<u16>) -> Error {
    // Some pages spell the gateway prefix `APIG.`; treat both alike.
    let norm = code
        .strip_prefix("APIG.")
        .map(|rest| format!("APIGW.{rest}"));
    let norm = norm.as_deref().unwrap_or(code);
    let (kind, temporary) = match norm {
        "CPS.0001" => (ErrorKind::PermissionDenied, None),
        "CPS.0002" | "CPS.0004" | "CPS.0009" | "CPS.0029" | "CPS.0030" => {
            (ErrorKind::InvalidArgument, None)
        }
        // "Internal error, retry later": worth retrying, but it may come after the vendor
        // acted, so it is not marked not-applied and a reset is not repeated.
        "CPS.0003" => (ErrorKind::Unavailable, Some(true)),
        "CPS.0005" => (ErrorKind::NotFound, None),
        "CPS.0006" => (ErrorKind::QuotaExceeded, None),
        "CPS.0007" | "CPS.0008" => (ErrorKind::PermissionDenied, None),
        "CPS.0010" | "CPS.0022" => (ErrorKind::InvalidState, None),
        "APIGW.0101" => (ErrorKind::Unsupported, None),
        "APIGW.0301" | "APIGW.0303" | "APIGW.0307" => (ErrorKind::Unauthenticated, None),
        "APIGW.0308" => (ErrorKind::RateLimited, None),
        _ => (http.map_or(ErrorKind::Other, status_kind), None),
    };
    let mut message = message.to_owned();
    if norm == "APIGW.0303" {
        message.push_str(" (X-Sdk-Date is more than 15 minutes off: check the clock)");
    }
    let mut e = Error::new(kind, message)
        .with_vendor(VENDOR)
        .with_vendor_code(code);
    if let Some(t) = temporary {
        e = e.with_temporary(t);
    }
    e
}

/// The kind an HTTP status stands for when the body names no known code.
pub(crate) fn status_kind(status: u16) -> ErrorKind {
    match status {
        400 => ErrorKind::InvalidArgument,
        401 => ErrorKind::Unauthenticated,
        403 => ErrorKind::PermissionDenied,
        404 => ErrorKind::NotFound,
        409 => ErrorKind::InvalidState,
        429 => ErrorKind::RateLimited,
        500..=599 => ErrorKind::Unavailable,
        _ => ErrorKind::Other,
    }
}

/// Decodes a non-2xx answer: `{"error_code","error_msg"}` (CPS, gateway) or
/// `{"error":{"code","message"}}` (IAM, some proxies). The error carries `request_id` (the
/// `X-Request-Id` header) or else the body's `request_id`.
pub(crate) fn http_error(
    status: u16,
    body: &[u8],
    retry_after: Option<Duration>,
    request_id: Option<&str>,
) -> Error {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let (code, msg) = match &parsed {
        Some(v) => {
            let flat = (
                v.get("error_code").map(raw_code),
                v.get("error_msg").map(raw_code),
            );
            match (flat, v.get("error")) {
                ((Some(c), m), _) => (Some(c), m),
                ((None, m), Some(inner)) if inner.is_object() => (
                    inner.get("code").map(raw_code),
                    inner.get("message").map(raw_code).or(m),
                ),
                ((None, m), _) => (None, m),
            }
        }
        None => (None, None),
    };
    let msg = msg
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| format!("HTTP {status}"));
    let mut e = match code.clone().filter(|c| c.contains('.')) {
        Some(c) => code_error(&c, &msg, Some(status)),
        None => {
            let kind = status_kind(status);
            let e = Error::new(kind, msg).with_vendor(VENDOR);
            match code {
                Some(c) if !c.is_empty() => e.with_vendor_code(c),
                _ => e.with_vendor_code(status.to_string()),
            }
        }
    };
    if status == 429 && e.kind() != ErrorKind::RateLimited {
        e = Error::new(ErrorKind::RateLimited, e.message().to_owned())
            .with_vendor(VENDOR)
            .with_vendor_code(e.vendor_code().unwrap_or("429").to_owned());
    }
    if status >= 500 && e.kind() != ErrorKind::Unavailable && !e.is_temporary() {
        // A 5xx is the vendor failing, whatever code it wraps: retry reads, keep it ambiguous.
        e = e.with_temporary(true);
    }
    if let Some(after) = retry_after {
        e = e.with_retry_after(after);
    }
    let body_rid = parsed
        .as_ref()
        .and_then(|v| v.get("request_id"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    match request_id.map(str::to_owned).or(body_rid) {
        Some(r) if !r.is_empty() => e.with_request_id(r),
        _ => e,
    }
}

/// Whether an authentication failure says the token expired (so a fresh IAM token may help).
pub(crate) fn is_token_expired(e: &Error) -> bool {
    if e.kind() != ErrorKind::Unauthenticated {
        return false;
    }
    match e.vendor_code() {
        Some("APIGW.0307" | "APIG.0307") => true,
        Some("APIGW.0301" | "APIG.0301") => e.message().to_ascii_lowercase().contains("expired"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_map_and_keep_unknown_codes() {
        assert_eq!(phone_state("0"), PhoneState::Creating);
        assert_eq!(phone_state("2"), PhoneState::Running);
        assert_eq!(phone_state("8"), PhoneState::Stopped);
        assert_eq!(phone_state("-7"), PhoneState::Failed);
        assert_eq!(phone_state("5"), PhoneState::Unknown);
        assert_eq!(phone_state("-4"), PhoneState::Unknown);
        assert_eq!(phone_state("x"), PhoneState::Unknown);
        assert_eq!(job_state("-1"), JobState::Failed);
        assert_eq!(job_state("2"), JobState::Succeeded);
        assert_eq!(job_state("1"), JobState::Running);
    }

    #[test]
    fn error_bodies_of_both_shapes_decode() {
        let e = http_error(
            400,
            br#"{"error_code":"CPS.0005","error_msg":"no phone","request_id":"body-rid"}"#,
            None,
            None,
        );
        assert_eq!(e.request_id(), Some("body-rid"));
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert_eq!(e.vendor_code(), Some("CPS.0005"));
        let e = http_error(
            401,
            br#"{"error":{"code":"APIG.0301","message":"Incorrect IAM authentication information"}}"#,
            None,
            Some("hdr-rid"),
        );
        assert_eq!(e.request_id(), Some("hdr-rid"));
        assert_eq!(e.kind(), ErrorKind::Unauthenticated);
        let e = http_error(
            401,
            br#"{"error":{"code":401,"message":"x","title":"Unauthorized"}}"#,
            None,
            None,
        );
        assert_eq!(e.kind(), ErrorKind::Unauthenticated);
        assert_eq!(e.vendor_code(), Some("401"));
        let e = http_error(502, b"<html>bad gateway</html>", None, None);
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        assert!(!e.is_not_applied());
    }
}
