//! The GeeLark API: `/open/v1/phone/...`, `/open/v2/phone/newOne` and `/open/v1/auth/status`,
//! answered in the `{"traceId","code","msg","data"}` envelope.

use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};
use tokio::time::Instant;

use super::model::{rate_limit, Op, Phone};
use super::wire::{envelope_of, BatchData, Failure, Success};
use super::{auth, status, Geelark};
use crate::engine::{
    json_response, raw_response, roll_targeted, FaultAnswers, Req, VendorSim, VendorState,
};

const OK_MSG: &str = "成功";

/// An envelope code and message.
pub(crate) type ApiError = (i64, &'static str);

pub(crate) fn envelope(trace: &str, code: i64, msg: &str, data: Value) -> Response {
    envelope_of(trace, code, msg, data)
}

/// The operation behind an API path.
pub(crate) fn route(path: &str) -> Option<&'static str> {
    Some(match path {
        "/open/v1/phone/status" => "status",
        "/open/v1/phone/stop" => "stop",
        "/open/v1/phone/start" => "start",
        "/open/v1/phone/restart" => "restart",
        "/open/v2/phone/newOne" => "newOne",
        "/open/v1/phone/list" => "list",
        "/open/v1/auth/status" => "auth",
        _ => return None,
    })
}

pub(crate) fn header_str(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_string())
}

/// GeeLark's answers to injected faults.
struct Answers<'a> {
    trace: &'a str,
}

fn nginx_page(status: StatusCode, title: &str) -> Response {
    raw_response(
        status,
        "text/html",
        format!("<html><head><title>{title}</title></head><body><center><h1>{title}</h1></center><hr><center>nginx</center></body></html>"),
    )
}

impl FaultAnswers for Answers<'_> {
    fn throttled(&self) -> Response {
        envelope(
            self.trace,
            40007,
            "Too many requests, the limit is lifted next minute",
            Value::Null,
        )
    }

    fn server_error(&self, variant: u8) -> Response {
        match variant {
            0 => json_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                &json!({"traceId": self.trace, "code": 50000, "msg": "internal error", "data": null}),
            ),
            1 => nginx_page(StatusCode::BAD_GATEWAY, "502 Bad Gateway"),
            _ => nginx_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "503 Service Temporarily Unavailable",
            ),
        }
    }

    fn timed_out(&self) -> Response {
        nginx_page(StatusCode::GATEWAY_TIMEOUT, "504 Gateway Time-out")
    }

    fn malformed(&self) -> Response {
        raw_response(
            StatusCode::OK,
            "application/json;charset=UTF-8",
            format!(
                "{{\"traceId\":\"{}\",\"code\":0,\"msg\":\"成功\",\"data\":{{\"totalAmount\":",
                self.trace
            ),
        )
    }
}

/// Answers one GeeLark request.
pub(crate) async fn serve(
    sim: &VendorSim<Geelark>,
    mut req: Req<'_>,
    op: Option<&str>,
) -> Response {
    let parts = req.parts;
    let trace = header_str(&parts.headers, "traceid").unwrap_or_default();
    let Some(op) = op else {
        return json_response(
            StatusCode::NOT_FOUND,
            &json!({"traceId": trace, "code": 40000, "msg": "API not found", "data": null}),
        );
    };
    if parts.method != Method::POST {
        return json_response(
            StatusCode::METHOD_NOT_ALLOWED,
            &json!({"traceId": trace, "code": 40000, "msg": "Request method not supported", "data": null}),
        );
    }
    if let Err((code, msg)) = auth::check(sim.settings(), &parts.headers) {
        return envelope(&trace, code, msg, Value::Null);
    }
    let path = parts.uri.path();
    let (endpoint, body) = (req.endpoint, req.body);
    let limit = |st: &mut VendorState<Geelark>| {
        rate_limit(st, sim.clock(), path, Instant::now())
            .map(|(code, msg)| envelope(&trace, code, &msg, Value::Null))
    };
    let exec = || execute(sim, op, endpoint, &trace, body);
    sim.guarded(&mut req, &Answers { trace: &trace }, limit, exec)
        .await
}

fn execute(
    sim: &VendorSim<Geelark>,
    op: &str,
    endpoint: &str,
    trace: &str,
    body: &[u8],
) -> Response {
    let body: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(_) => {
                return envelope(trace, 40001, "Request body unreadable", Value::Null);
            }
        }
    };
    if !body.is_object() {
        return envelope(trace, 40001, "Request body unreadable", Value::Null);
    }
    let result = match op {
        "auth" => Ok(Value::Null),
        "status" | "stop" | "start" => return batch(sim, op, endpoint, trace, &body),
        "restart" | "newOne" => single(sim, op, &body),
        "list" => list(sim, &body),
        _ => Err((40000, "unknown")),
    };
    match result {
        Ok(data) => envelope(trace, 0, OK_MSG, data),
        Err((code, msg)) => envelope(trace, code, msg, Value::Null),
    }
}

/// Reads `ids` as strings, accepting numbers too (some GeeLark docs type ids as integers).
fn ids_of(v: &Value) -> Option<Vec<String>> {
    v.as_array()?
        .iter()
        .map(|x| match x {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
        .collect()
}

fn single_id(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// What `status`, `stop` or `start` does to one phone; its state before, for its answer.
fn batch_one(
    sim: &VendorSim<Geelark>,
    op: &str,
    p: &mut Phone,
    now: Instant,
) -> Result<i32, ApiError> {
    let settings = sim.settings();
    p.life.settle(now);
    let cur = p.life.status_at(now);
    match op {
        "status" => Ok(cur),
        "stop" => {
            if p.data.flags.remote_connected {
                Err((43006, "The cloud phone is being remotely connected"))
            } else if p.data.flags.executing_task {
                Err((43005, "The cloud phone is executing a task"))
            } else if p.new_one_running(now) {
                Err((43011, "One-click new machine in progress"))
            } else if cur == status::EXPIRED {
                Err((43004, "The cloud phone has expired"))
            } else {
                if cur != status::SHUT_DOWN {
                    let until = now + sim.clock().scaled(settings.stop);
                    p.life.begin(Op::Stop, cur, status::SHUT_DOWN, until);
                }
                p.applied.stops += 1;
                Ok(cur)
            }
        }
        _ => {
            if cur == status::EXPIRED {
                return Err((43004, "The cloud phone has expired"));
            }
            // A pending stop would still take the phone down: start cancels it (already up)
            // or starts it afresh.
            let stopping = p.life.pending.is_some_and(|x| x.op == Op::Stop);
            if stopping && cur == status::STARTED {
                p.life.force(status::STARTED);
            }
            let busy_starting = cur == status::STARTING
                && p.life.pending.is_some_and(|x| x.after == status::STARTED);
            if cur != status::STARTED && !busy_starting {
                let until = now + sim.clock().scaled(settings.start);
                p.life
                    .begin(Op::Start, status::STARTING, status::STARTED, until);
            }
            p.applied.starts += 1;
            Ok(cur)
        }
    }
}

/// The billing mode of a phone as GeeLark writes it in `chargingMethod` (a string).
pub(crate) fn charging_method(p: &Phone) -> &'static str {
    if p.data.serial_no.is_multiple_of(2) {
        "Per-minute usage"
    } else {
        "Monthly rental"
    }
}

/// `status`, `stop` or `start` of up to 100 / 200 phones, answered in full.
fn batch(
    sim: &VendorSim<Geelark>,
    op: &str,
    endpoint: &str,
    trace: &str,
    body: &Value,
) -> Response {
    let refuse = |(code, msg): ApiError| envelope(trace, code, msg, Value::Null);
    let Some(ids) = body.get("ids").and_then(ids_of) else {
        return refuse((40004, "Parameter validation failed: ids"));
    };
    let max = if op == "status" { 100 } else { 200 };
    if ids.is_empty() || ids.len() > max {
        return refuse((40004, "Parameter validation failed: ids"));
    }
    if op == "start" {
        if let Some(w) = body.get("width").filter(|w| !w.is_null()) {
            if !w.as_i64().is_some_and(|w| (200..=600).contains(&w)) {
                return refuse((40004, "Parameter validation failed: width"));
            }
        }
    }
    let now = Instant::now();
    let mut guard = sim.lock();
    let st = &mut *guard;
    let faults = st.faults.clone();
    // Phones acted on first (positions and their state before); their answers after, borrowed
    // from the fleet.
    let mut done: Vec<(usize, i32)> = Vec::with_capacity(ids.len());
    let mut fail = Vec::new();
    for id in &ids {
        let outcome = match st.fleet.position(id) {
            None => Err((42001, "env not found")),
            Some(pi) => batch_one(sim, op, &mut st.fleet.phones[pi], now).map(|cur| (pi, cur)),
        };
        if roll_targeted(&mut st.rng, &faults, endpoint, faults.drop_ids) {
            continue;
        }
        match outcome {
            Ok(d) => done.push(d),
            Err((code, msg)) => fail.push(Failure { code, id, msg }),
        }
    }
    let phones = &st.fleet.phones;
    let url = if op == "start" {
        sim.url()
    } else {
        String::new()
    };
    let success: Vec<Success<'_>> = done
        .iter()
        .map(|&(pi, cur)| {
            let p = &phones[pi];
            if op == "start" {
                Success::Started {
                    charging_method: charging_method(p),
                    id: &p.id,
                    url: format!("{url}/_sim/live/{}", p.id),
                }
            } else {
                Success::State {
                    id: &p.id,
                    serial_name: &p.data.serial_name,
                    status: cur,
                }
            }
        })
        .collect();
    let data = BatchData {
        fail_amount: fail.len(),
        fail_details: fail,
        success_amount: success.len(),
        success_details: success,
        total_amount: ids.len(),
    };
    envelope_of(trace, 0, OK_MSG, data)
}

fn single(sim: &VendorSim<Geelark>, op: &str, body: &Value) -> Result<Value, ApiError> {
    let Some(id) = body.get("id").and_then(single_id) else {
        return Err((40004, "Parameter validation failed: id"));
    };
    let settings = sim.settings();
    let now = Instant::now();
    let mut st = sim.lock();
    let Some(p) = st.fleet.get_mut(&id) else {
        return Err((42001, "Cloud phone does not exist"));
    };
    p.life.settle(now);
    if p.life.status_at(now) == status::EXPIRED {
        return Err((43004, "The cloud phone has expired"));
    }
    if p.new_one_running(now) {
        return Err((43011, "One-click new machine in progress"));
    }
    let (op, d) = if op == "newOne" {
        p.applied.new_ones += 1;
        (Op::NewOne, settings.new_one)
    } else {
        p.applied.restarts += 1;
        (Op::Restart, settings.restart)
    };
    let until = now + sim.clock().scaled(d);
    p.life.begin(op, status::STARTING, status::STARTED, until);
    Ok(Value::Null)
}

/// The filters of a `phone/list` call.
struct ListFilter {
    ids: Option<Vec<String>>,
    serial_name: Option<String>,
    remark: Option<String>,
    group_name: Option<String>,
    tags: Vec<String>,
    open_status: Option<i64>,
}

impl ListFilter {
    fn read(body: &Value) -> Result<Self, ApiError> {
        let ids = match body.get("ids") {
            None | Some(Value::Null) => None,
            Some(v) => {
                let ids = ids_of(v).ok_or((40004, "Parameter validation failed: ids"))?;
                if ids.len() > 100 {
                    return Err((40004, "Parameter validation failed: ids"));
                }
                Some(ids)
            }
        };
        let text = |k: &str| {
            body.get(k)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        Ok(ListFilter {
            ids,
            serial_name: text("serialName"),
            remark: text("remark"),
            group_name: text("groupName"),
            tags: body
                .get("tags")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|t| t.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
            open_status: body.get("openStatus").and_then(Value::as_i64),
        })
    }

    fn is_empty(&self) -> bool {
        self.ids.is_none()
            && self.serial_name.is_none()
            && self.remark.is_none()
            && self.group_name.is_none()
            && self.tags.is_empty()
            && self.open_status.is_none()
    }

    fn matches(&self, p: &Phone, now: Instant) -> bool {
        self.ids.as_ref().is_none_or(|ids| ids.contains(&p.id))
            && self
                .serial_name
                .as_ref()
                .is_none_or(|s| p.data.serial_name.contains(s.as_str()))
            && self.remark.is_none()
            && self.group_name.as_ref().is_none_or(|g| p.group().1 == *g)
            && (self.tags.is_empty() || self.tags.iter().any(|t| t == "sim"))
            && self.open_status.is_none_or(|s| {
                // `openStatus` is documented as 0 off, 1 on, not as a raw status code: "on"
                // is a started phone, "off" every other one (starting, shut down, expired).
                let on = p.life.status_at(now) == status::STARTED;
                s == i64::from(on)
            })
    }
}

fn list(sim: &VendorSim<Geelark>, body: &Value) -> Result<Value, ApiError> {
    let page = match body.get("page") {
        None | Some(Value::Null) => 1,
        Some(v) => v
            .as_i64()
            .filter(|p| *p >= 1)
            .ok_or((40004, "Parameter validation failed: page"))?,
    };
    let page_size = match body.get("pageSize") {
        None | Some(Value::Null) => 10,
        Some(v) => v
            .as_i64()
            .filter(|s| (1..=100).contains(s))
            .ok_or((40008, "pageSize out of range (1-100)"))?,
    };
    let filter = ListFilter::read(body)?;
    let now = Instant::now();
    let st = sim.lock();
    let item = |p: &Phone| list_item(p, p.life.status_at(now));
    // With `ids` the docs say paging is ignored: every listed phone comes back.
    let (skip, take) = if filter.ids.is_some() {
        (0, usize::MAX)
    } else {
        (((page - 1) * page_size) as usize, page_size as usize)
    };
    let phones = &st.fleet.phones;
    let (total, items): (usize, Vec<Value>) = if filter.is_empty() {
        // Unfiltered pages slice the fleet directly: no scan, no sort.
        let items = phones.iter().skip(skip).take(take).map(item).collect();
        (phones.len(), items)
    } else {
        let candidates: Box<dyn Iterator<Item = &Phone>> = match &filter.ids {
            Some(ids) => Box::new(ids.iter().filter_map(|i| st.fleet.get(i))),
            None => Box::new(phones.iter()),
        };
        let all: Vec<&Phone> = candidates.filter(|p| filter.matches(p, now)).collect();
        let items = all.iter().skip(skip).take(take).map(|p| item(p)).collect();
        (all.len(), items)
    };
    Ok(json!({"total": total, "page": page, "pageSize": page_size, "items": items}))
}

/// One `phone/list` item: the documented fields, filled from the phone's serial number (stable
/// for a phone, varied across the fleet) and its status.
fn list_item(p: &Phone, status_now: i32) -> Value {
    let (gid, gname) = p.group();
    let n = p.data.serial_no;
    let monthly = n % 2 == 1;
    // Monthly phones expire 30 days after a fixed, plausible date; per-minute phones have none.
    let monthly_expire: i64 = if monthly {
        1_767_225_600 + i64::from(n % 30) * 86_400
    } else {
        0
    };
    let proxy = if n.is_multiple_of(3) {
        json!({
            "type": "socks5",
            "server": format!("proxy{}.sim.invalid", n % 5),
            "port": 1080 + (n % 10),
            "username": format!("user{n}"),
            "password": "",
        })
    } else {
        json!({"type": "", "server": "", "port": 0, "username": "", "password": ""})
    };
    json!({
        "id": p.id,
        "serialName": p.data.serial_name,
        "serialNo": n.to_string(),
        "status": status_now,
        "group": {"id": gid, "name": gname, "remark": ""},
        "remark": "",
        "tags": [{"name": "sim"}],
        "equipmentInfo": {
            "countryName": "United States",
            "phoneNumber": format!("+1555{:07}", n),
            "enableSim": 1,
            "imei": format!("86{:013}", u64::from(n) * 7_919),
            "osVersion": if n.is_multiple_of(2) { "Android 12" } else { "Android 13" },
            "wifiBssid": format!("02:00:00:{:02x}:{:02x}:{:02x}", (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff),
            "mac": format!("02:00:01:{:02x}:{:02x}:{:02x}", (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff),
            "bluetoothMac": format!("02:00:02:{:02x}:{:02x}:{:02x}", (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff),
            "timeZone": "America/New_York",
            "deviceBrand": "samsung",
            "deviceModel": "SM-S9180",
            "deviceName": format!("Galaxy S24 #{n}"),
        },
        "proxy": proxy,
        // 0 per-minute, 1 monthly, as `chargingMethod` of start says in words.
        "chargeMode": i32::from(monthly),
        "hasBind": n.is_multiple_of(4),
        "monthlyExpire": monthly_expire,
        // 0 no automation task running, 1 running.
        "rpaStatus": i32::from(p.data.flags.executing_task),
    })
}
