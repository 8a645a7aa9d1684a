//! The Huawei API: IAM `POST /v3/auth/tokens` and CPH `/v1/{project_id}/cloud-phone/...`
//! (batch operations in `batch`, phones and jobs here), every answer with `X-Request-Id`.

use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};
use tokio::time::Instant;

use super::auth::{authenticate, iam_error, iam_login};
use super::batch::batch;
use super::model::{is_hex32, job_json, throttled, Op};
use super::wire::{JobPage, Listed, ListedJob, PhonePage};
use super::Huawei;
use crate::engine::{
    json_response, parse_query, query_get, raw_response, serialized_response, FaultAnswers, Req,
    VendorSim, VendorState,
};

/// Code the simulator uses for a malformed request body or parameter that has no documented code.
pub(crate) const PARAM_ERROR: &str = "CPS.0101";

/// A CPH error code and message.
pub(crate) type CpsError = (&'static str, String);

pub(crate) fn cps_error(
    status: StatusCode,
    code: &str,
    msg: &str,
    request_id: Option<&str>,
) -> Response {
    let mut v = json!({"error_code": code, "error_msg": msg});
    if let Some(r) = request_id {
        v["request_id"] = json!(r);
    }
    json_response(status, &v)
}

pub(crate) fn unauthorized(msg: &str) -> Response {
    cps_error(
        StatusCode::UNAUTHORIZED,
        "APIGW.0301",
        &format!("Incorrect IAM authentication information: {msg}"),
        None,
    )
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Api {
    Batch(Op),
    ListPhones,
    ShowPhone,
    ListJobs,
    ShowJob,
}

/// A CPH route.
pub struct Matched {
    api: Api,
    project_id: String,
    /// Decoded trailing path parameter (phone id / job id).
    param: Option<String>,
    key: &'static str,
}

/// Where a request goes.
pub enum Route {
    /// IAM login.
    Iam,
    /// A CPH API.
    Cph(Matched),
    /// No such API.
    Unknown,
}

fn match_cph(method: &Method, path: &str) -> Option<Matched> {
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let ["v1", pid, "cloud-phone", rest @ ..] = segs.as_slice() else {
        return None;
    };
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    let (api, param, key) = match (method.clone(), rest) {
        (Method::POST, ["phones", "batch-reset"]) => (
            Api::Batch(Op::Reset),
            None,
            "POST /v1/{project_id}/cloud-phone/phones/batch-reset",
        ),
        (Method::POST, ["phones", "batch-restart"]) => (
            Api::Batch(Op::Restart),
            None,
            "POST /v1/{project_id}/cloud-phone/phones/batch-restart",
        ),
        (Method::POST, ["phones", "batch-stop"]) => (
            Api::Batch(Op::Stop),
            None,
            "POST /v1/{project_id}/cloud-phone/phones/batch-stop",
        ),
        (Method::GET, ["phones"]) => (
            Api::ListPhones,
            None,
            "GET /v1/{project_id}/cloud-phone/phones",
        ),
        (Method::GET, ["phones", id]) if !id.is_empty() => (
            Api::ShowPhone,
            Some(decode(id)),
            "GET /v1/{project_id}/cloud-phone/phones/{phone_id}",
        ),
        (Method::GET, ["jobs"]) => (Api::ListJobs, None, "GET /v1/{project_id}/cloud-phone/jobs"),
        (Method::GET, ["jobs", id]) if !id.is_empty() => (
            Api::ShowJob,
            Some(decode(id)),
            "GET /v1/{project_id}/cloud-phone/jobs/{job_id}",
        ),
        _ => return None,
    };
    Some(Matched {
        api,
        project_id: decode(pid),
        param,
        key,
    })
}

/// The endpoint key and route of a request.
pub(crate) fn route(parts: &Parts) -> (String, Route) {
    let path = parts.uri.path();
    if path.trim_end_matches('/') == "/v3/auth/tokens" {
        return (format!("{} /v3/auth/tokens", parts.method), Route::Iam);
    }
    match match_cph(&parts.method, path) {
        Some(m) => (m.key.to_string(), Route::Cph(m)),
        None => (format!("{} {}", parts.method, path), Route::Unknown),
    }
}

/// Answers one Huawei request; every answer carries the call's request id.
pub(crate) async fn serve(
    sim: &VendorSim<Huawei>,
    req: Req<'_>,
    route: Route,
    request_id: String,
) -> Response {
    let mut resp = match route {
        Route::Iam if req.parts.method == Method::POST => iam_login(sim, req.body),
        Route::Iam => iam_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "The method is not allowed for the requested URL.",
            "Method Not Allowed",
        ),
        Route::Unknown => cps_error(
            StatusCode::NOT_FOUND,
            "APIGW.0101",
            "The API does not exist or has not been published in the environment",
            None,
        ),
        Route::Cph(m) => cph(sim, req, m, &request_id).await,
    };
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}

fn throttle_response(request_id: &str) -> Response {
    cps_error(
        StatusCode::TOO_MANY_REQUESTS,
        "APIGW.0308",
        "The throttling threshold has been reached: policy user over ratelimit,limit:200,time:1 second",
        Some(request_id),
    )
}

/// Huawei's answers to injected faults.
struct Answers<'a> {
    request_id: &'a str,
}

impl FaultAnswers for Answers<'_> {
    fn throttled(&self) -> Response {
        throttle_response(self.request_id)
    }

    fn server_error(&self, variant: u8) -> Response {
        match variant {
            0 => cps_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "CPS.0003",
                "Service internal error.",
                Some(self.request_id),
            ),
            1 => cps_error(
                StatusCode::BAD_GATEWAY,
                "APIGW.0201",
                "Backend unavailable",
                None,
            ),
            _ => cps_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "APIGW.0202",
                "Backend service unavailable, try again later",
                None,
            ),
        }
    }

    fn timed_out(&self) -> Response {
        cps_error(
            StatusCode::GATEWAY_TIMEOUT,
            "APIGW.0203",
            "Backend timeout",
            None,
        )
    }

    fn malformed(&self) -> Response {
        raw_response(
            StatusCode::OK,
            "application/json;charset=UTF-8",
            format!(
                "{{\"request_id\":\"{}\",\"jobs\":[{{\"phone_id\":",
                self.request_id
            ),
        )
    }
}

async fn cph(sim: &VendorSim<Huawei>, mut req: Req<'_>, m: Matched, request_id: &str) -> Response {
    let cred_project = match authenticate(sim, req.parts, req.body) {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    let ours = &sim.settings().project_id;
    if cred_project != *ours || m.project_id != *ours {
        return unauthorized(
            "the token or credentials do not belong to the project in the URL (other project)",
        );
    }
    let limit = |st: &mut VendorState<Huawei>| {
        throttled(st, sim.clock(), m.key, Instant::now()).then(|| throttle_response(request_id))
    };
    let (parts, body, endpoint) = (req.parts, req.body, req.endpoint);
    let exec = || execute(sim, &m, parts, body, endpoint, request_id);
    sim.guarded(&mut req, &Answers { request_id }, limit, exec)
        .await
}

fn execute(
    sim: &VendorSim<Huawei>,
    m: &Matched,
    parts: &Parts,
    body: &[u8],
    endpoint: &str,
    request_id: &str,
) -> Response {
    let q = parse_query(parts.uri.query());
    let param = m.param.as_deref().unwrap_or("");
    let ok = |v: Value| json_response(StatusCode::OK, &v);
    // The answers of many records are serialised straight from the model (`wire`).
    let result = match m.api {
        Api::Batch(op) => batch(sim, op, body, endpoint, request_id),
        Api::ShowPhone => show_phone(sim, param, request_id).map(ok),
        Api::ListPhones => list_phones(sim, &q, request_id),
        Api::ShowJob => show_job(sim, param).map(ok),
        Api::ListJobs => list_jobs(sim, &q, request_id),
    };
    match result {
        Ok(resp) => resp,
        Err((code, msg)) => cps_error(StatusCode::BAD_REQUEST, code, &msg, Some(request_id)),
    }
}

fn show_phone(sim: &VendorSim<Huawei>, id: &str, request_id: &str) -> Result<Value, CpsError> {
    if !is_hex32(id) && !sim.lock().fleet.contains(id) {
        return Err(("CPS.0004", "Invalid phone id.".into()));
    }
    let now = Instant::now();
    let st = sim.lock();
    let Some(p) = st.fleet.get(id) else {
        return Err(("CPS.0005", "Phone is not found.".into()));
    };
    let mut v = p.detail_json(now, &sim.settings().region);
    v["request_id"] = json!(request_id);
    Ok(v)
}

/// `offset` (default 0) and `limit` (default 100, at most `max_limit`) of a CPH list call;
/// anything else is CPS.0002, as the service answers.
fn page_params(q: &[(String, String)], max_limit: usize) -> Result<(usize, usize), CpsError> {
    let bad_page = || {
        (
            "CPS.0002",
            "Parameter: offset or limit is invalid.".to_string(),
        )
    };
    let offset: usize = match query_get(q, "offset") {
        None | Some("") => 0,
        Some(s) => s.parse().map_err(|_| bad_page())?,
    };
    let limit: usize = match query_get(q, "limit") {
        None | Some("") => 100,
        Some(s) => s
            .parse()
            .ok()
            .filter(|l| (1..=max_limit).contains(l))
            .ok_or_else(bad_page)?,
    };
    Ok((offset, limit))
}

/// An optional integer query parameter; `code` if it is not one.
fn int_param(
    q: &[(String, String)],
    key: &str,
    code: &'static str,
) -> Result<Option<i32>, CpsError> {
    match query_get(q, key) {
        None | Some("") => Ok(None),
        Some(s) => s
            .parse()
            .map(Some)
            .map_err(|_| (code, format!("Parameter: {key} is invalid."))),
    }
}

fn list_phones(
    sim: &VendorSim<Huawei>,
    q: &[(String, String)],
    request_id: &str,
) -> Result<Response, CpsError> {
    let (offset, limit) = page_params(q, 200)?;
    let status_filter = int_param(q, "status", "CPS.0010")?;
    let type_filter = int_param(q, "type", PARAM_ERROR)?;
    let name = query_get(q, "phone_name").filter(|s| !s.is_empty());
    let server = query_get(q, "server_id").filter(|s| !s.is_empty());
    let now = Instant::now();
    let st = sim.lock();
    let region = &sim.settings().region;
    let phones = &st.fleet.phones;
    let filtered =
        status_filter.is_some() || type_filter.is_some() || name.is_some() || server.is_some();
    let (count, items): (usize, Vec<Listed<'_>>) = if !filtered {
        // Newest first is the reverse of insertion order: page without scanning or sorting.
        let items = phones
            .iter()
            .rev()
            .skip(offset)
            .take(limit)
            .map(|p| Listed::of(p, now, region))
            .collect();
        (phones.len(), items)
    } else {
        let mut count = 0;
        let mut items = Vec::new();
        for p in phones.iter().rev() {
            let ok = status_filter.is_none_or(|s| s == p.life.status_at(now))
                && type_filter.is_none_or(|t| t == 0)
                && name.is_none_or(|n| p.data.name.contains(n))
                && server.is_none_or(|s| p.data.server_id == s);
            if ok {
                if count >= offset && items.len() < limit {
                    items.push(Listed::of(p, now, region));
                }
                count += 1;
            }
        }
        (count, items)
    };
    let page = PhonePage {
        count,
        phones: items,
        request_id,
    };
    Ok(serialized_response(StatusCode::OK, &page))
}

fn show_job(sim: &VendorSim<Huawei>, id: &str) -> Result<Value, CpsError> {
    let now = Instant::now();
    let st = sim.lock();
    let Some(&i) = st.model.job_index.get(id) else {
        return Err(("CPS.0005", "Job is not found.".into()));
    };
    Ok(job_json(&st, &st.model.jobs[i], now))
}

fn list_jobs(
    sim: &VendorSim<Huawei>,
    q: &[(String, String)],
    request_id: &str,
) -> Result<Response, CpsError> {
    let (offset, limit) = page_params(q, 100)?;
    let ids: Option<Vec<String>> = match (query_get(q, "request_ids"), query_get(q, "request_id")) {
        (Some(many), _) if !many.is_empty() => Some(
            many.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
        ),
        (_, Some(one)) if !one.is_empty() => Some(vec![one.to_string()]),
        _ => None,
    };
    // The API reference (and the SDK's ListJobsRequest): "request_id和request_ids必须指定其中
    // 一个" — one of them is required, at most 20 request ids. Both are parameter errors,
    // CPS.0002 (the documented "invalid parameter" code).
    let Some(ids) = ids else {
        return Err((
            "CPS.0002",
            "Parameter: request_id or request_ids is required.".into(),
        ));
    };
    if ids.is_empty() || ids.len() > 20 {
        return Err((
            "CPS.0002",
            "Parameter: request_ids is invalid, at most 20 are allowed.".into(),
        ));
    }
    let now = Instant::now();
    let st = sim.lock();
    // The jobs of each request id, from the index by request id: no scan of the others.
    let jobs: Vec<ListedJob<'_>> = ids
        .iter()
        .filter_map(|r| st.model.request_jobs.get(r))
        .flatten()
        .skip(offset)
        .take(limit)
        .map(|&i| ListedJob::of(&st, &st.model.jobs[i], now))
        .collect();
    let page = JobPage { jobs, request_id };
    Ok(serialized_response(StatusCode::OK, &page))
}
