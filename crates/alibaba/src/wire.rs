//! The eds-aic answers, read tolerantly (fields may be missing, `""`, numbers or strings), the
//! 15 instance states and the task states mapped to normalized ones, and error codes to
//! [`ErrorKind`]s.

use std::collections::BTreeMap;
use std::time::Duration;

use cloudphone_core::raw::undecodable;
use cloudphone_core::{Error, ErrorKind, JobState, ObservedState, PhoneState, Result};
use serde_json::{Map, Value};

use crate::VENDOR;

/// The 15 documented `AndroidInstanceStatus` values.
pub const INSTANCE_STATES: [&str; 15] = [
    "CREATING",
    "RUNNING",
    "STARTING",
    "STOPPING",
    "STOPPED",
    "REBOOTING",
    "RESETTING",
    "BACKUPING",
    "RECOVERING",
    "DELETING",
    "DELETED",
    "FAILED",
    "UNAVAILABLE",
    "BACKUP_FAILED",
    "RECOVER_FAILED",
];

/// Maps an `AndroidInstanceStatus` to the normalized state (the raw string is always kept
/// beside it). `BACKUPING`, `RECOVERING`, `DELETING`, `BACKUP_FAILED`, `RECOVER_FAILED` and any
/// undocumented value (an image-change state, say) are [`PhoneState::Unknown`]: they say
/// nothing about power. `FAILED` (creation failed), `UNAVAILABLE` (abnormal) and `DELETED` are
/// [`PhoneState::Failed`]: a wait stops there.
pub fn phone_state(raw: &str) -> PhoneState {
    match raw.trim().to_ascii_uppercase().as_str() {
        "CREATING" => PhoneState::Creating,
        "RUNNING" => PhoneState::Running,
        "STARTING" => PhoneState::Starting,
        "STOPPING" => PhoneState::Stopping,
        "STOPPED" => PhoneState::Stopped,
        "REBOOTING" => PhoneState::Restarting,
        "RESETTING" => PhoneState::Resetting,
        "FAILED" | "UNAVAILABLE" | "DELETED" => PhoneState::Failed,
        _ => PhoneState::Unknown,
    }
}

/// Maps a `TaskStatus` to a job state. Documented: `Processing`, `Finished`; a `Failed` (or any
/// status naming a failure, an error or a cancellation) is a failure, `Finished` (or
/// `Success`, `Succeeded`, `Completed`) with an `ErrorCode` too. Anything else — unknown
/// statuses included — is still running (the raw status is kept, and the phone's state is
/// polled as well).
pub fn job_state(raw: &str, error_code: Option<&str>) -> JobState {
    let s = raw.trim().to_ascii_lowercase();
    let failed = ["fail", "error", "cancel", "timeout", "abort"]
        .iter()
        .any(|w| s.contains(w));
    if failed {
        return JobState::Failed;
    }
    match s.as_str() {
        "finished" | "finish" | "success" | "succeeded" | "successful" | "completed"
        | "complete" | "done" => {
            if error_code.is_some_and(|c| !c.trim().is_empty()) {
                JobState::Failed
            } else {
                JobState::Succeeded
            }
        }
        _ => JobState::Running,
    }
}

/// A scalar field as text: strings verbatim, numbers and booleans as JSON writes them;
/// `None` for a missing field, `null`, `""`, an object or an array.
pub(crate) fn text(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) if s.is_empty() => None,
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A field that must be a non-negative integer (a number or a numeric string).
pub(crate) fn uint(v: &Value, key: &str) -> Option<u64> {
    match v.get(key)? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The JSON object of a 2xx answer, or an undecodable error naming `action`.
pub(crate) fn object(action: &str, body: &[u8]) -> Result<Map<String, Value>> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(other) => Err(undecodable(
            VENDOR,
            format_args!("answer of `{action}`"),
            format_args!("expected a JSON object, got {}", kind_of(&other)),
        )),
        Err(e) => Err(undecodable(VENDOR, format_args!("answer of `{action}`"), e)),
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The array under `key` (missing or `null`: empty); anything else is undecodable.
pub(crate) fn array<'a>(action: &str, v: &'a Value, key: &str) -> Result<&'a [Value]> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        // The XML-to-JSON shape some Alibaba gateways use: `{"Key": {"Item": [...]}}`.
        Some(Value::Object(o)) if o.len() == 1 && o.values().all(Value::is_array) => Ok(o
            .values()
            .next()
            .and_then(Value::as_array)
            .expect("checked")),
        Some(other) => Err(undecodable(
            VENDOR,
            format_args!("answer of `{action}`"),
            format_args!("`{key}` is {}, not an array", kind_of(other)),
        )),
    }
}

/// The `NextToken` of a page: `None` when absent or `""` (the last page).
pub(crate) fn next_token(v: &Value) -> Option<String> {
    text(v, "NextToken").filter(|t| !t.trim().is_empty())
}

/// One instance of `DescribeAndroidInstances`.
#[derive(Debug, Clone)]
pub(crate) struct Instance {
    pub id: Option<String>,
    pub name: Option<String>,
    pub status: String,
    pub extra: BTreeMap<String, String>,
}

/// Instance fields kept as a listed phone's extras, with their names there.
const INSTANCE_EXTRAS: &[(&str, &str)] = &[
    ("AndroidInstanceGroupId", "group_id"),
    ("AndroidInstanceGroupName", "group_name"),
    ("ImageId", "image_id"),
    ("ImageVersion", "image_version"),
    ("SystemVersion", "system_version"),
    ("RegionId", "region_id"),
    ("ZoneId", "zone_id"),
    ("InstanceType", "instance_type"),
    ("ChargeType", "charge_type"),
    ("GmtCreate", "gmt_create"),
    ("GmtModified", "gmt_modified"),
    ("GmtExpired", "gmt_expired"),
    ("NetworkInterfaceIp", "network_interface_ip"),
    ("PublicIpAddress", "public_ip_address"),
    ("SessionStatus", "session_status"),
    ("InternetStatus", "internet_status"),
    ("ErrorCode", "error_code"),
    ("Cpu", "cpu"),
    ("Memory", "memory"),
    ("OfficeSiteId", "office_site_id"),
];

impl Instance {
    pub fn from_value(v: &Value) -> Instance {
        let mut i = Instance::brief(v);
        i.extra = INSTANCE_EXTRAS
            .iter()
            .filter_map(|(k, name)| Some(((*name).to_owned(), text(v, k)?)))
            .collect();
        i
    }

    /// Id, name and status only: what a status read keeps (the 25 other fields are for
    /// listings).
    pub fn brief(v: &Value) -> Instance {
        Instance {
            id: text(v, "AndroidInstanceId"),
            name: text(v, "AndroidInstanceName"),
            status: text(v, "AndroidInstanceStatus").unwrap_or_default(),
            extra: BTreeMap::new(),
        }
    }

    pub fn state(&self) -> ObservedState {
        ObservedState::coded(phone_state(&self.status), &self.status, &INSTANCE_STATES)
    }
}

/// One page of `DescribeAndroidInstances`.
#[derive(Debug, Clone)]
pub(crate) struct InstancePage {
    pub total: Option<u64>,
    pub next: Option<String>,
    pub instances: Vec<Instance>,
}

pub(crate) fn instance_page(body: &[u8]) -> Result<InstancePage> {
    instance_page_with(body, Instance::from_value)
}

/// A page of `DescribeAndroidInstances` with only what a status read keeps of each phone.
pub(crate) fn instance_states(body: &[u8]) -> Result<InstancePage> {
    instance_page_with(body, Instance::brief)
}

fn instance_page_with(body: &[u8], read: fn(&Value) -> Instance) -> Result<InstancePage> {
    const ACTION: &str = "DescribeAndroidInstances";
    let v = Value::Object(object(ACTION, body)?);
    let instances = array(ACTION, &v, "InstanceModel")?
        .iter()
        .map(read)
        .collect();
    Ok(InstancePage {
        total: uint(&v, "TotalCount"),
        next: next_token(&v),
        instances,
    })
}

/// The answer of a state change: the request id and the child tasks, if any.
#[derive(Debug, Clone, Default)]
pub(crate) struct ChangeAnswer {
    pub request_id: Option<String>,
    /// `(InstanceId, TaskId)` of each child task; either may be missing.
    pub children: Vec<(Option<String>, Option<String>)>,
}

pub(crate) fn change_answer(action: &str, body: &[u8]) -> Result<ChangeAnswer> {
    let v = Value::Object(object(action, body)?);
    let mut children = Vec::new();
    if let Some(tasks) = v.get("Tasks").filter(|t| !t.is_null()) {
        if !tasks.is_object() {
            return Err(undecodable(
                VENDOR,
                format_args!("answer of `{action}`"),
                format_args!("`Tasks` is {}, not an object", kind_of(tasks)),
            ));
        }
        for child in array(action, tasks, "ChildTasks")? {
            children.push((text(child, "InstanceId"), text(child, "TaskId")));
        }
    }
    Ok(ChangeAnswer {
        request_id: text(&v, "RequestId"),
        children,
    })
}

/// One task of `DescribeTasks`.
#[derive(Debug, Clone)]
pub(crate) struct Task {
    pub task_id: Option<String>,
    pub status: String,
    pub level: Option<u64>,
    pub instance_id: Option<String>,
    pub invoke_id: Option<String>,
    pub error_code: Option<String>,
    pub error_msg: Option<String>,
    pub task_type: Option<String>,
    /// The phone's state an instance task reports (`InstanceStatus`), if it does.
    pub instance_status: Option<String>,
}

impl Task {
    pub fn from_value(v: &Value) -> Task {
        Task {
            task_id: text(v, "TaskId"),
            status: text(v, "TaskStatus").unwrap_or_default(),
            level: uint(v, "Level"),
            // The instance task names its phone as `InstanceId`; `ResourceId` is the same
            // for power tasks.
            instance_id: text(v, "InstanceId").or_else(|| text(v, "ResourceId")),
            invoke_id: text(v, "InvokeId"),
            error_code: text(v, "ErrorCode"),
            error_msg: text(v, "ErrorMsg"),
            task_type: text(v, "TaskType"),
            instance_status: text(v, "InstanceStatus"),
        }
    }

    pub fn state(&self) -> JobState {
        job_state(&self.status, self.error_code.as_deref())
    }

    /// Why a failed task failed, carrying the vendor's code.
    pub fn failure(&self) -> Error {
        let what = self.task_type.as_deref().unwrap_or("task");
        let msg = self
            .error_msg
            .clone()
            .unwrap_or_else(|| format!("the vendor's {what} ended {}", self.status));
        match self.error_code.as_deref() {
            Some(code) => code_error(code, &msg, None),
            None => Error::new(ErrorKind::Other, msg)
                .with_vendor(VENDOR)
                .with_vendor_code(self.status.clone()),
        }
    }
}

/// One page of `DescribeTasks`.
#[derive(Debug, Clone)]
pub(crate) struct TaskPage {
    pub next: Option<String>,
    pub tasks: Vec<Task>,
}

pub(crate) fn task_page(body: &[u8]) -> Result<TaskPage> {
    const ACTION: &str = "DescribeTasks";
    let v = Value::Object(object(ACTION, body)?);
    let tasks = array(ACTION, &v, "Data")?
        .iter()
        .map(Task::from_value)
        .collect();
    Ok(TaskPage {
        next: next_token(&v),
        tasks,
    })
}

/// The error a code stands for. `http` is the HTTP status it came with (`None` for a task's
/// `ErrorCode`). Classified by code, not by status: Alibaba's tables give the same code with
/// different statuses.
pub(crate) fn code_error(code: &str, message: &str, http: Option<u16>) -> Error {
    let c = code.trim();
    let (kind, note) = code_kind(c, http);
    let mut message = message.to_owned();
    if let Some(note) = note {
        message.push_str(note);
    }
    let mut e = Error::new(kind, message)
        .with_vendor(VENDOR)
        .with_vendor_code(c.to_owned());
    if c == "SignatureNonceUsed" {
        // Refused before anything was done; a fresh nonce may pass.
        e = e.with_not_applied(true);
    }
    e
}

fn code_kind(c: &str, http: Option<u16>) -> (ErrorKind, Option<&'static str>) {
    let starts = |p: &str| c.starts_with(p);
    if starts("Throttling") {
        return (ErrorKind::RateLimited, None);
    }
    if starts("InvalidTimeStamp") {
        return (
            ErrorKind::Unauthenticated,
            Some(" (x-acs-date must be within 15 minutes of the vendor's clock: check the clock)"),
        );
    }
    if starts("InvalidAccessKeyId")
        || starts("InvalidAccessKeySecret")
        || starts("InvalidSecurityToken")
        || starts("MissingSecurityToken")
        || c == "SignatureDoesNotMatch"
        || c == "IncompleteSignature"
        || starts("InvalidAuthorization")
    {
        return (ErrorKind::Unauthenticated, None);
    }
    if c == "SignatureNonceUsed" {
        return (ErrorKind::Other, None);
    }
    if starts("Forbidden") || starts("NoPermission") || c.contains("NotAuthorized") {
        return (ErrorKind::PermissionDenied, None);
    }
    if starts("ServiceUnavailable") || starts("InternalError") || starts("UnknownError") {
        return (ErrorKind::Unavailable, None);
    }
    if c == "InvalidApi.NotFound" || starts("InvalidAction") || c == "NoSuchVersion" {
        return (ErrorKind::Unsupported, None);
    }
    if starts("InsufficientBalance") || c.contains("Quota") || c.contains("Arrears") {
        return (ErrorKind::QuotaExceeded, None);
    }
    if c.contains("NotFound") || c.contains("NotExist") {
        return (ErrorKind::NotFound, None);
    }
    if c.contains("Status") || c.contains("State") {
        return (ErrorKind::InvalidState, None);
    }
    if starts("Missing")
        || starts("Invalid")
        || starts("UnsupportedParameter")
        || starts("IllegalParam")
    {
        return (ErrorKind::InvalidArgument, None);
    }
    (http.map_or(ErrorKind::Other, status_kind), None)
}

/// The kind an HTTP status stands for when the body names no code.
pub(crate) fn status_kind(status: u16) -> ErrorKind {
    match status {
        400 => ErrorKind::InvalidArgument,
        401 => ErrorKind::Unauthenticated,
        403 => ErrorKind::PermissionDenied,
        404 => ErrorKind::NotFound,
        408 => ErrorKind::Timeout,
        409 => ErrorKind::InvalidState,
        429 => ErrorKind::RateLimited,
        500..=599 => ErrorKind::Unavailable,
        _ => ErrorKind::Other,
    }
}

/// The `x-acs-retry-after` header: a positive number of **milliseconds** (as the SDK reads
/// it); anything else is ignored.
pub fn parse_acs_retry_after(value: &str) -> Option<Duration> {
    value
        .trim()
        .parse::<u64>()
        .ok()
        .filter(|ms| *ms > 0)
        .map(Duration::from_millis)
}

/// The first `<tag>…</tag>` of an XML error body.
fn xml_tag(body: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let start = body.find(&open)? + open.len();
    let len = body[start..].find(&format!("</{tag}>"))?;
    Some(body[start..start + len].trim().to_owned()).filter(|s| !s.is_empty())
}

/// Decodes a non-2xx answer: the JSON `{"Code","Message","RequestId",…}` (either case), or the
/// XML `<Error>` some gateways send, or nothing usable (then the HTTP status decides). The
/// error carries the body's request id, else `header_request_id`, and `retry_after`.
pub(crate) fn http_error(
    status: u16,
    body: &[u8],
    retry_after: Option<Duration>,
    header_request_id: Option<&str>,
) -> Error {
    let json: Option<Value> = serde_json::from_slice(body).ok().filter(Value::is_object);
    let (code, message, request_id) = match &json {
        Some(v) => (
            text(v, "Code").or_else(|| text(v, "code")),
            text(v, "Message").or_else(|| text(v, "message")),
            text(v, "RequestId").or_else(|| text(v, "requestId")),
        ),
        None => {
            let s = String::from_utf8_lossy(body);
            if s.contains("<Error") || s.contains("<Code>") {
                (
                    xml_tag(&s, "Code"),
                    xml_tag(&s, "Message"),
                    xml_tag(&s, "RequestId"),
                )
            } else {
                (None, None, None)
            }
        }
    };
    let message = message.unwrap_or_else(|| format!("HTTP {status}"));
    let mut e = match code {
        Some(c) => code_error(&c, &message, Some(status)),
        None => Error::new(status_kind(status), message)
            .with_vendor(VENDOR)
            .with_vendor_code(status.to_string()),
    };
    if status >= 500 && !e.is_temporary() && e.kind() != ErrorKind::RateLimited {
        // A 5xx is the vendor failing, whatever code it wraps: retry reads, keep a change
        // ambiguous.
        e = e.with_temporary(true);
    }
    if status == 429 && e.kind() != ErrorKind::RateLimited {
        e = Error::new(ErrorKind::RateLimited, e.message().to_owned())
            .with_vendor(VENDOR)
            .with_vendor_code(e.vendor_code().unwrap_or("429").to_owned());
    }
    if let Some(after) = retry_after {
        e = e.with_retry_after(after);
    }
    match request_id.or_else(|| header_request_id.map(str::to_owned)) {
        Some(r) if !r.is_empty() => e.with_request_id(r),
        _ => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_state_maps_and_unknown_ones_stay_raw() {
        let expected = [
            PhoneState::Creating,
            PhoneState::Running,
            PhoneState::Starting,
            PhoneState::Stopping,
            PhoneState::Stopped,
            PhoneState::Restarting,
            PhoneState::Resetting,
            PhoneState::Unknown,
            PhoneState::Unknown,
            PhoneState::Unknown,
            PhoneState::Failed,
            PhoneState::Failed,
            PhoneState::Failed,
            PhoneState::Unknown,
            PhoneState::Unknown,
        ];
        for (raw, want) in INSTANCE_STATES.iter().zip(expected) {
            assert_eq!(phone_state(raw), want, "{raw}");
        }
        assert_eq!(phone_state(" running "), PhoneState::Running);
        assert_eq!(phone_state("IMAGE_UPDATE_FAILED"), PhoneState::Unknown);
        assert_eq!(phone_state(""), PhoneState::Unknown);
    }

    #[test]
    fn task_states() {
        assert_eq!(job_state("Processing", None), JobState::Running);
        assert_eq!(job_state("Finished", None), JobState::Succeeded);
        assert_eq!(job_state("Finished", Some("")), JobState::Succeeded);
        assert_eq!(job_state("Finished", Some("X")), JobState::Failed);
        assert_eq!(job_state("Failed", None), JobState::Failed);
        assert_eq!(job_state("PartialFailed", None), JobState::Failed);
        assert_eq!(job_state("Whatever", None), JobState::Running);
    }

    #[test]
    fn codes_classify_by_code_not_status() {
        let k = |c: &str, s: u16| code_error(c, "m", Some(s)).kind();
        assert_eq!(k("Throttling.User", 400), ErrorKind::RateLimited);
        assert_eq!(k("Throttling.Api", 503), ErrorKind::RateLimited);
        assert_eq!(
            k("InvalidAccessKeyId.NotFound", 404),
            ErrorKind::Unauthenticated
        );
        assert_eq!(k("SignatureDoesNotMatch", 400), ErrorKind::Unauthenticated);
        assert_eq!(k("IncompleteSignature", 400), ErrorKind::Unauthenticated);
        assert_eq!(
            k("InvalidTimeStamp.Expired", 400),
            ErrorKind::Unauthenticated
        );
        assert_eq!(k("SignatureNonceUsed", 400), ErrorKind::Other);
        assert!(code_error("SignatureNonceUsed", "m", Some(400)).is_not_applied());
        assert_eq!(k("Forbidden.RAM", 403), ErrorKind::PermissionDenied);
        assert_eq!(k("ServiceUnavailable", 503), ErrorKind::Unavailable);
        assert_eq!(k("InternalError", 500), ErrorKind::Unavailable);
        assert_eq!(k("InvalidApi.NotFound", 404), ErrorKind::Unsupported);
        assert_eq!(
            k("InvalidParameter.MaxResults", 400),
            ErrorKind::InvalidArgument
        );
        assert_eq!(
            k("MissingAndroidInstanceIds", 400),
            ErrorKind::InvalidArgument
        );
        assert_eq!(k("InstanceNotFound", 400), ErrorKind::NotFound);
        assert_eq!(k("IncorrectInstanceStatus", 400), ErrorKind::InvalidState);
        assert_eq!(k("InsufficientBalance", 400), ErrorKind::QuotaExceeded);
        assert_eq!(k("Whatever", 409), ErrorKind::InvalidState);
    }

    #[test]
    fn error_bodies_of_every_shape() {
        let e = http_error(
            400,
            br#"{"RequestId":"r1","Message":"Request was denied due to user flow control.","Recommend":"x","HostId":"h","Code":"Throttling.User"}"#,
            Some(Duration::from_millis(1500)),
            Some("hdr"),
        );
        assert_eq!(e.kind(), ErrorKind::RateLimited);
        assert_eq!(e.request_id(), Some("r1"));
        assert_eq!(e.retry_after(), Some(Duration::from_millis(1500)));
        let e = http_error(
            403,
            br#"{"code":"Forbidden","message":"no"}"#,
            None,
            Some("hdr"),
        );
        assert_eq!(
            (e.kind(), e.request_id()),
            (ErrorKind::PermissionDenied, Some("hdr"))
        );
        let xml = b"<?xml version='1.0'?><Error><RequestId>x1</RequestId><Code>SignatureDoesNotMatch</Code><Message>bad</Message></Error>";
        let e = http_error(400, xml, None, None);
        assert_eq!(e.kind(), ErrorKind::Unauthenticated);
        assert_eq!(
            (e.vendor_code(), e.request_id()),
            (Some("SignatureDoesNotMatch"), Some("x1"))
        );
        let e = http_error(502, b"<html>bad gateway</html>", None, None);
        assert_eq!(
            (e.kind(), e.vendor_code()),
            (ErrorKind::Unavailable, Some("502"))
        );
        assert!(e.is_temporary() && e.may_have_applied());
        let e = http_error(
            500,
            br#"{"Code":"InvalidParameter","Message":"m"}"#,
            None,
            None,
        );
        assert!(e.is_temporary());
        assert_eq!(
            parse_acs_retry_after("250"),
            Some(Duration::from_millis(250))
        );
        assert_eq!(parse_acs_retry_after("0"), None);
        assert_eq!(parse_acs_retry_after("soon"), None);
    }

    #[test]
    fn tolerant_fields() {
        let v: Value =
            serde_json::json!({"A": "", "B": 3, "C": "x", "D": null, "E": [1], "N": "7"});
        assert_eq!(text(&v, "A"), None);
        assert_eq!(text(&v, "B").as_deref(), Some("3"));
        assert_eq!(text(&v, "C").as_deref(), Some("x"));
        assert_eq!(text(&v, "D"), None);
        assert_eq!(text(&v, "E"), None);
        assert_eq!(uint(&v, "N"), Some(7));
        assert_eq!(next_token(&serde_json::json!({"NextToken": " "})), None);
    }
}
