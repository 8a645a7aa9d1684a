//! The eds-aic RPC API: `POST /` with the action in `x-acs-action` and every parameter in the
//! query (lists flattened, `Name.1`, `Name.2`, …); every answer a JSON object with `RequestId`,
//! also sent as `x-acs-request-id`.

use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::Response;
use serde_json::json;
use time::OffsetDateTime;
use tokio::time::Instant;

use super::auth::authenticate;
use super::model::{random_id, throttled, Failure, Op, Task};
use super::sign::decode_query;
use super::wire::{ChangeAnswer, ChildTask, Instance, InstancePage, Listed, TaskPage, Tasks};
use super::{status, Alibaba};
use crate::engine::{
    json_response, raw_response, roll_targeted, serialized_response, FaultAnswers, Req, VendorSim,
};

/// The API version every call must name.
pub(crate) const VERSION: &str = "2023-09-30";

/// The ids one call takes at most (the simulator's choice: the documented cap of sibling
/// calls).
pub(crate) const MAX_IDS: usize = 100;

/// An API error: HTTP status, `Code`, `Message`.
pub(crate) type ApiError = (StatusCode, &'static str, String);

fn bad(code: &'static str, msg: impl Into<String>) -> ApiError {
    (StatusCode::BAD_REQUEST, code, msg.into())
}

/// An error answer in Alibaba's shape.
pub(crate) fn api_error(status: StatusCode, code: &str, msg: &str, request_id: &str) -> Response {
    json_response(
        status,
        &json!({
            "RequestId": request_id,
            "HostId": "eds-aic.cn-shanghai.aliyuncs.com",
            "Code": code,
            "Message": msg,
            "Recommend": format!("https://next.api.aliyun.com/troubleshoot?q={code}&product=eds-aic"),
        }),
    )
}

/// The actions the simulator serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// `DescribeAndroidInstances`.
    DescribeInstances,
    /// A state change.
    Change(Op),
    /// `DescribeTasks`.
    DescribeTasks,
}

impl Action {
    fn parse(name: &str) -> Option<Action> {
        Some(match name {
            "DescribeAndroidInstances" => Action::DescribeInstances,
            "StartAndroidInstance" => Action::Change(Op::Start),
            "StopAndroidInstance" => Action::Change(Op::Stop),
            "RebootAndroidInstancesInGroup" => Action::Change(Op::Reboot),
            "ResetAndroidInstancesInGroup" => Action::Change(Op::Reset),
            "UpdateInstanceImage" => Action::Change(Op::Reimage),
            "DescribeTasks" => Action::DescribeTasks,
            _ => return None,
        })
    }
}

/// Where a request goes.
pub enum Route {
    /// An RPC call (`POST /`) naming this action (`None`: unknown or missing).
    Call(Option<Action>),
    /// Not an RPC call.
    Unknown,
}

/// The endpoint key (`POST / StopAndroidInstance`) and route of a request.
pub(crate) fn route(parts: &Parts) -> (String, Route) {
    let path = parts.uri.path();
    if parts.method != Method::POST || path != "/" {
        return (format!("{} {path}", parts.method), Route::Unknown);
    }
    let action = parts
        .headers
        .get("x-acs-action")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let shown: String = action
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(64)
        .collect();
    (
        format!("POST / {shown}"),
        Route::Call(Action::parse(action)),
    )
}

/// Answers one request; every answer carries the call's request id.
pub(crate) async fn serve(
    sim: &VendorSim<Alibaba>,
    mut req: Req<'_>,
    route: Route,
    request_id: String,
) -> Response {
    let rid = request_id.as_str();
    let mut resp = match route {
        Route::Unknown => api_error(
            StatusCode::NOT_FOUND,
            "InvalidApi.NotFound",
            "Specified api is not found, please check your url and method.",
            rid,
        ),
        Route::Call(action) => {
            let params = decode_query(req.parts.uri.query());
            match authenticate(sim, req.parts, req.body, &params, rid) {
                Err(refusal) => refusal,
                Ok(()) => {
                    let version = req
                        .parts
                        .headers
                        .get("x-acs-version")
                        .and_then(|v| v.to_str().ok());
                    match action {
                        _ if version != Some(VERSION) => api_error(
                            StatusCode::BAD_REQUEST,
                            "NoSuchVersion",
                            "Specified api version is not valid.",
                            rid,
                        ),
                        None => api_error(
                            StatusCode::NOT_FOUND,
                            "InvalidApi.NotFound",
                            "Specified api is not found, please check your url and method.",
                            rid,
                        ),
                        Some(action) => {
                            let endpoint = req.endpoint;
                            let limit = |st: &mut crate::engine::VendorState<Alibaba>| {
                                throttled(st, sim.clock(), endpoint, Instant::now())
                                    .map(|ms| throttle_response(rid, Some(ms)))
                            };
                            let exec = || execute(sim, action, &params, endpoint, rid);
                            sim.guarded(&mut req, &Answers { request_id: rid }, limit, exec)
                                .await
                        }
                    }
                }
            }
        }
    };
    if let Ok(v) = HeaderValue::from_str(rid) {
        resp.headers_mut().insert("x-acs-request-id", v);
    }
    resp
}

fn throttle_response(request_id: &str, retry_after_ms: Option<u64>) -> Response {
    let mut resp = api_error(
        StatusCode::BAD_REQUEST,
        "Throttling.User",
        "Request was denied due to user flow control.",
        request_id,
    );
    if let Some(ms) = retry_after_ms {
        resp.headers_mut()
            .insert("x-acs-retry-after", HeaderValue::from(ms));
    }
    resp
}

/// eds-aic's answers to injected faults.
struct Answers<'a> {
    request_id: &'a str,
}

impl FaultAnswers for Answers<'_> {
    fn throttled(&self) -> Response {
        throttle_response(self.request_id, None)
    }

    fn server_error(&self, variant: u8) -> Response {
        match variant {
            0 => api_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                "The request processing has failed due to some unknown error, exception or failure.",
                self.request_id,
            ),
            1 => api_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailable",
                "The request has failed due to a temporary failure of the server.",
                self.request_id,
            ),
            _ => raw_response(
                StatusCode::BAD_GATEWAY,
                "text/html",
                "<html><body><h1>502 Bad Gateway</h1></body></html>".into(),
            ),
        }
    }

    fn timed_out(&self) -> Response {
        raw_response(
            StatusCode::GATEWAY_TIMEOUT,
            "text/html",
            "<html><body><h1>504 Gateway Time-out</h1></body></html>".into(),
        )
    }

    fn malformed(&self) -> Response {
        raw_response(
            StatusCode::OK,
            "application/json;charset=utf-8",
            format!(
                "{{\"RequestId\":\"{}\",\"Tasks\":{{\"ChildTasks\":[{{\"InstanceId\":",
                self.request_id
            ),
        )
    }
}

fn execute(
    sim: &VendorSim<Alibaba>,
    action: Action,
    q: &[(String, String)],
    endpoint: &str,
    request_id: &str,
) -> Response {
    // Every answer is serialised straight from the model (`wire`).
    let result = match action {
        Action::DescribeInstances => describe_instances(sim, q, request_id),
        Action::Change(op) => change(sim, op, q, endpoint, request_id),
        Action::DescribeTasks => describe_tasks(sim, q, request_id),
    };
    match result {
        Ok(resp) => resp,
        Err((status, code, msg)) => api_error(status, code, &msg, request_id),
    }
}

fn get<'a>(q: &'a [(String, String)], key: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// The values of a flattened list `name.1`, `name.2`, … in index order. The bare name (or a
/// JSON array) is not a list: it is ignored, as the service ignores parameters it does not
/// know.
pub(crate) fn list(q: &[(String, String)], name: &str) -> Vec<String> {
    let prefix = format!("{name}.");
    let mut items: Vec<(u32, &str)> = q
        .iter()
        .filter_map(|(k, v)| {
            let n: u32 = k.strip_prefix(&prefix)?.parse().ok()?;
            (n >= 1).then_some((n, v.as_str()))
        })
        .collect();
    items.sort_by_key(|(n, _)| *n);
    items.into_iter().map(|(_, v)| v.to_string()).collect()
}

fn bool_param(q: &[(String, String)], key: &'static str) -> Result<Option<bool>, ApiError> {
    match get(q, key) {
        None => Ok(None),
        Some("true" | "True") => Ok(Some(true)),
        Some("false" | "False") => Ok(Some(false)),
        Some(other) => Err(bad(
            "InvalidParameter",
            format!("The parameter {key} is invalid: `{other}` is not a boolean."),
        )),
    }
}

/// `MaxResults`: 1–100, `default` when absent.
fn max_results(q: &[(String, String)], default: usize) -> Result<usize, ApiError> {
    match get(q, "MaxResults") {
        None => Ok(default),
        Some(s) => s
            .parse()
            .ok()
            .filter(|n| (1..=100).contains(n))
            .ok_or_else(|| {
                bad(
                    "InvalidParameter.MaxResults",
                    "The parameter MaxResults must be between 1 and 100.",
                )
            }),
    }
}

const TOKEN_PREFIX: &str = "AAAAAV";
const TOKEN_SALT: u64 = 0x3c5a_96e1_d2b4_7f08;

fn token(offset: usize) -> String {
    format!("{TOKEN_PREFIX}{:016x}", offset as u64 ^ TOKEN_SALT)
}

/// The offset a `NextToken` points to; an empty one starts over (as the service does).
fn offset(q: &[(String, String)]) -> Result<usize, ApiError> {
    match get(q, "NextToken") {
        None | Some("") => Ok(0),
        Some(t) => t
            .strip_prefix(TOKEN_PREFIX)
            .filter(|h| h.len() == 16)
            .and_then(|h| u64::from_str_radix(h, 16).ok())
            .map(|v| (v ^ TOKEN_SALT) as usize)
            .ok_or_else(|| {
                bad(
                    "InvalidParameter.NextToken",
                    "The parameter NextToken is invalid.",
                )
            }),
    }
}

/// The range of one page of `total` items from `offset`, and the token of the next (`""` at
/// the end).
fn page(total: usize, offset: usize, size: usize) -> (std::ops::Range<usize>, String) {
    let end = offset.saturating_add(size).min(total);
    let next = if end < total {
        token(end)
    } else {
        String::new()
    };
    (offset.min(total)..end, next)
}

fn describe_instances(
    sim: &VendorSim<Alibaba>,
    q: &[(String, String)],
    request_id: &str,
) -> Result<Response, ApiError> {
    let ids = list(q, "AndroidInstanceIds");
    if ids.len() > MAX_IDS {
        return Err(bad(
            "InvalidParameter.AndroidInstanceIds",
            format!("At most {MAX_IDS} AndroidInstanceIds are allowed."),
        ));
    }
    let size = max_results(q, 100)?;
    let offset = offset(q)?;
    let status_filter = match get(q, "Status").filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(status::code(s).ok_or_else(|| {
            bad(
                "InvalidParameter.Status",
                format!("The parameter Status `{s}` is invalid."),
            )
        })?),
    };
    let region = get(q, "BizRegionId").filter(|s| !s.is_empty());
    let group = get(q, "InstanceGroupId").filter(|s| !s.is_empty());
    let name = get(q, "AndroidInstanceName").filter(|s| !s.is_empty());
    let now = Instant::now();
    let st = sim.lock();
    let phones = &st.fleet.phones;
    let filtered = status_filter.is_some() || region.is_some() || group.is_some() || name.is_some();
    let answer = |total: usize, items: Vec<Instance<'_>>, next: String| {
        let page = InstancePage {
            instance_model: items,
            next_token: next,
            request_id,
            total_count: total,
        };
        serialized_response(StatusCode::OK, &page)
    };
    if ids.is_empty() && !filtered {
        // Newest first is reverse insertion order: the page is a slice, no scan of the fleet.
        let (range, next) = page(phones.len(), offset, size);
        let items = range
            .map(|k| Instance::of(&phones[phones.len() - 1 - k], now))
            .collect();
        return Ok(answer(phones.len(), items, next));
    }
    let candidates: Vec<usize> = if ids.is_empty() {
        (0..phones.len()).rev().collect()
    } else {
        let mut seen = std::collections::HashSet::new();
        ids.iter()
            .filter(|id| seen.insert(id.as_str()))
            .filter_map(|id| st.fleet.position(id))
            .collect()
    };
    let matching: Vec<usize> = if filtered {
        candidates
            .into_iter()
            .filter(|&i| {
                let p = &phones[i];
                status_filter.is_none_or(|s| p.life.status_at(now) == s)
                    && region.is_none_or(|r| p.data.region_id == r)
                    && group.is_none_or(|g| p.data.group_id == g)
                    && name.is_none_or(|n| p.data.name.contains(n))
            })
            .collect()
    } else {
        candidates
    };
    let (range, next) = page(matching.len(), offset, size);
    let items = matching[range]
        .iter()
        .map(|&i| Instance::of(&phones[i], now))
        .collect();
    Ok(answer(matching.len(), items, next))
}

fn change(
    sim: &VendorSim<Alibaba>,
    op: Op,
    q: &[(String, String)],
    endpoint: &str,
    request_id: &str,
) -> Result<Response, ApiError> {
    let s = sim.settings();
    let list_name = if op == Op::Reimage {
        "InstanceIdList"
    } else {
        "AndroidInstanceIds"
    };
    if op == Op::Reimage && !s.reimage {
        return Err((
            StatusCode::FORBIDDEN,
            "Forbidden.NotSupported",
            "UpdateInstanceImage is a cloud phone matrix feature not available on this site."
                .into(),
        ));
    }
    let mut ids = list(q, list_name);
    if ids.is_empty() {
        return Err(bad(
            if op == Op::Reimage {
                "MissingInstanceIdList"
            } else {
                "MissingAndroidInstanceIds"
            },
            format!("{list_name} is mandatory for this action."),
        ));
    }
    if ids.len() > MAX_IDS {
        return Err(bad(
            "InvalidParameter.AndroidInstanceIds",
            format!("At most {MAX_IDS} {list_name} are allowed."),
        ));
    }
    if matches!(op, Op::Stop | Op::Reboot) {
        bool_param(q, "ForceStop")?;
    }
    if op == Op::Reset {
        if let Some(t) = get(q, "SettingResetType").filter(|t| !matches!(*t, "0" | "1")) {
            return Err(bad(
                "InvalidParameter",
                format!("The parameter SettingResetType `{t}` is invalid."),
            ));
        }
    }
    let image = if op == Op::Reimage {
        bool_param(q, "Reset")?;
        match get(q, "ImageId").filter(|i| !i.trim().is_empty()) {
            Some(i) => Some(i.to_string()),
            None => {
                return Err(bad(
                    "MissingImageId",
                    "ImageId is mandatory for this action.",
                ))
            }
        }
    } else {
        None
    };
    let mut seen = std::collections::HashSet::new();
    ids.retain(|id| seen.insert(id.clone()));
    let now = Instant::now();
    let now_unix = OffsetDateTime::now_utc().unix_timestamp();
    let mut st = sim.lock();
    if let Some(unknown) = ids.iter().find(|id| !st.fleet.contains(id)) {
        return Err(bad(
            "InvalidInstanceId.NotFound",
            format!("The specified instance does not exist: {unknown}."),
        ));
    }
    let st = &mut *st;
    let faults = st.faults.clone();
    let parent_id = random_id(&mut st.rng, "t-", 16);
    let parent = st.model.tasks.len();
    st.model.tasks.push(Task {
        task_id: parent_id.clone(),
        invoke_id: request_id.to_string(),
        level: 1,
        parent: None,
        phone: None,
        children: Vec::new(),
        op,
        begin_unix: now_unix,
        begin: now,
        end: now,
        failure: None,
    });
    let mut children = Vec::with_capacity(ids.len());
    for id in &ids {
        let pi = st.fleet.position(id).expect("checked above");
        let cur = {
            let p = &mut st.fleet.phones[pi];
            p.life.settle(now);
            p.life.status_at(now)
        };
        let (end, failure) = if op.allowed().contains(&cur) {
            let fails = roll_targeted(&mut st.rng, &faults, endpoint, faults.job_failure);
            let until = now + sim.clock().scaled(s.duration(op));
            let (during, after) = op.transition();
            let p = &mut st.fleet.phones[pi];
            p.life.begin(
                op,
                during,
                if fails { status::UNAVAILABLE } else { after },
                until,
            );
            if let Some(img) = &image {
                p.data.image_id = img.clone();
            }
            match op {
                Op::Start => p.applied.starts += 1,
                Op::Stop => p.applied.stops += 1,
                Op::Reboot => p.applied.reboots += 1,
                Op::Reset => p.applied.resets += 1,
                Op::Reimage => p.applied.reimages += 1,
            }
            let failure = fails.then(|| Failure {
                code: "InstanceOperationFailed",
                message: format!("{} failed: internal error of the instance.", op.task_type()),
            });
            (until, failure)
        } else {
            let failure = Failure {
                code: "IncorrectInstanceStatus",
                message: format!(
                    "The current status of the instance does not support this operation: {}.",
                    status::name(cur)
                ),
            };
            (now, Some(failure))
        };
        let task_id = random_id(&mut st.rng, "t-", 16);
        let idx = st.model.tasks.len();
        st.model.tasks.push(Task {
            task_id: task_id.clone(),
            invoke_id: request_id.to_string(),
            level: 2,
            parent: Some(parent),
            phone: Some(pi),
            children: Vec::new(),
            op,
            begin_unix: now_unix,
            begin: now,
            end,
            failure,
        });
        st.model.task_index.insert(task_id.clone(), idx);
        children.push(idx);
    }
    st.model.tasks[parent].children = children.clone();
    st.model.task_index.insert(parent_id.clone(), parent);
    let invoke = st
        .model
        .invoke_index
        .entry(request_id.to_string())
        .or_default();
    invoke.push(parent);
    invoke.extend(&children);
    let mut answer = ChangeAnswer {
        request_id,
        task_id: None,
        tasks: None,
    };
    if matches!(op, Op::Start | Op::Stop) {
        return Ok(serialized_response(StatusCode::OK, &answer));
    }
    let kept: Vec<usize> = children
        .iter()
        .copied()
        .filter(|_| !roll_targeted(&mut st.rng, &faults, endpoint, faults.drop_ids))
        .collect();
    let child_tasks = kept
        .iter()
        .map(|&c| {
            let t = &st.model.tasks[c];
            let phone = &st.fleet.phones[t.phone.expect("instance task")];
            ChildTask {
                instance_id: &phone.id,
                task_id: &t.task_id,
            }
        })
        .collect();
    answer.tasks = Some(Tasks {
        child_tasks,
        parent_task_id: &parent_id,
    });
    if op == Op::Reimage {
        answer.task_id = Some(&parent_id);
    }
    Ok(serialized_response(StatusCode::OK, &answer))
}

fn describe_tasks(
    sim: &VendorSim<Alibaba>,
    q: &[(String, String)],
    request_id: &str,
) -> Result<Response, ApiError> {
    // The documented default page holds 10 tasks.
    let size = max_results(q, 10)?;
    let offset = offset(q)?;
    let level: Option<u8> = match get(q, "Level").filter(|l| !l.is_empty()) {
        None => None,
        Some(l) => Some(
            l.parse()
                .ok()
                .filter(|l| matches!(l, 1 | 2))
                .ok_or_else(|| bad("InvalidParameter.Level", "The parameter Level is invalid."))?,
        ),
    };
    let task_ids = list(q, "TaskIds");
    let resources = list(q, "ResourceIds");
    let mut statuses = list(q, "TaskStatuses");
    statuses.extend(
        get(q, "TaskStatus")
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
    );
    let invoke = get(q, "InvokeId").filter(|s| !s.is_empty());
    let parent = get(q, "ParentTaskId").filter(|s| !s.is_empty());
    let instance = get(q, "InstanceId").filter(|s| !s.is_empty());
    let now = Instant::now();
    let st = sim.lock();
    let m = &st.model;
    // The candidates from an index (task ids, the request id, the parent task) where one is
    // given: the other tasks are not looked at.
    let indexed: Vec<usize>;
    let candidates: Box<dyn Iterator<Item = usize> + '_> = if !task_ids.is_empty() {
        let mut seen = std::collections::HashSet::new();
        indexed = task_ids
            .iter()
            .filter(|t| seen.insert(t.as_str()))
            .filter_map(|t| m.task_index.get(t).copied())
            .collect();
        Box::new(indexed.iter().copied())
    } else if let Some(rid) = invoke {
        Box::new(m.invoke_index.get(rid).into_iter().flatten().copied())
    } else if let Some(p) = parent {
        let children = m.task_index.get(p).map(|&i| m.tasks[i].children.as_slice());
        Box::new(children.into_iter().flatten().copied())
    } else {
        Box::new((0..m.tasks.len()).rev())
    };
    let phone_of = |t: &Task| t.phone.map(|p| st.fleet.phones[p].id.as_str());
    let matching: Vec<usize> = candidates
        .filter(|&i| {
            let t = &m.tasks[i];
            level.is_none_or(|l| t.level == l)
                && invoke.is_none_or(|r| t.invoke_id == r)
                && instance.is_none_or(|id| phone_of(t) == Some(id))
                && (resources.is_empty()
                    || phone_of(t).is_some_and(|id| resources.iter().any(|r| r == id)))
                && (statuses.is_empty()
                    || statuses
                        .iter()
                        .any(|s| s == super::model::task_status(&st, t, now)))
        })
        .collect();
    let (range, next) = page(matching.len(), offset, size);
    let data = matching[range]
        .iter()
        .map(|&i| Listed::of(&st, &m.tasks[i], now))
        .collect();
    let page = TaskPage {
        data,
        next_token: next,
        request_id,
        total_count: matching.len(),
    };
    Ok(serialized_response(StatusCode::OK, &page))
}
