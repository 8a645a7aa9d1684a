//! The CPH batch operations (`batch-reset`, `batch-restart`, `batch-stop`): one job per accepted
//! phone, per-phone errors in the answer.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;
use time::OffsetDateTime;
use tokio::time::Instant;

use super::model::{is_hex32, Job, Op};
use super::routes::{CpsError, PARAM_ERROR};
use super::wire::{BatchAnswer, BatchEntry};
use super::{status, Huawei};
use crate::engine::{random_hex32, roll_targeted, serialized_response, VendorSim, VendorState};

/// The phones and image of a batch request.
/// The phones (each with its `property`, a JSON-encoded object) and image of a batch request.
type Request = (Vec<(String, Option<String>)>, Option<String>);

fn read_request(op: Op, body: &[u8]) -> Result<Request, CpsError> {
    let bad_body = || {
        (
            PARAM_ERROR,
            "Parameter: request body is invalid.".to_string(),
        )
    };
    let v: Value = serde_json::from_slice(body).map_err(|_| bad_body())?;
    if !v.is_object() {
        return Err(bad_body());
    }
    let empty = || ("CPS.0009", "Parameter: phone_id list is empty.".to_string());
    let mut image_id = None;
    let phone_ids: Vec<(String, Option<String>)> = if op == Op::Stop {
        let list = v["phone_ids"].as_array().ok_or_else(empty)?;
        list.iter()
            .map(|x| x.as_str().map(|s| (s.to_string(), None)))
            .collect::<Option<Vec<_>>>()
            .ok_or((PARAM_ERROR, "Parameter: phone_ids is invalid.".to_string()))?
    } else {
        match &v["image_id"] {
            Value::Null => {}
            Value::String(s) if s.is_empty() => {
                return Err(("CPS.0029", "Parameter: image_id is empty.".into()))
            }
            Value::String(s) if is_hex32(s) => image_id = Some(s.clone()),
            _ => return Err(("CPS.0030", "Parameter: image_id is invalid.".into())),
        }
        let list = v["phones"].as_array().ok_or_else(empty)?;
        let mut ids = Vec::with_capacity(list.len());
        for entry in list {
            let Some(id) = entry["phone_id"].as_str() else {
                return Err(("CPS.0004", "Invalid phone id.".into()));
            };
            let mut property = None;
            match &entry["property"] {
                Value::Null => {}
                Value::String(s) => {
                    if !serde_json::from_str::<Value>(s).is_ok_and(|p| p.is_object()) {
                        return Err((PARAM_ERROR, "Parameter: property is invalid.".into()));
                    }
                    property = Some(s.clone());
                }
                _ => {
                    return Err((
                        PARAM_ERROR,
                        "Parameter: property is invalid, it must be a JSON-encoded string.".into(),
                    ))
                }
            }
            ids.push((id.to_string(), property));
        }
        ids
    };
    if phone_ids.is_empty() {
        return Err(empty());
    }
    Ok((phone_ids, image_id))
}

/// One batch request as the phones see it.
struct Batch<'a> {
    op: Op,
    image_id: Option<String>,
    endpoint: &'a str,
    request_id: &'a str,
    now: Instant,
    now_unix: i64,
}

pub(crate) fn batch(
    sim: &VendorSim<Huawei>,
    op: Op,
    body: &[u8],
    endpoint: &str,
    request_id: &str,
) -> Result<Response, CpsError> {
    let (phone_ids, image_id) = read_request(op, body)?;
    let b = Batch {
        op,
        image_id,
        endpoint,
        request_id,
        now: Instant::now(),
        now_unix: OffsetDateTime::now_utc().unix_timestamp(),
    };
    let mut st = sim.lock();
    let faults = st.faults.clone();
    let mut jobs = Vec::with_capacity(phone_ids.len());
    for (id, property) in &phone_ids {
        // A malformed id and a well-formed unknown one get the same answer: the seed page
        // (huawei-cph-batch-reset) answers an id of the right shape it does not know with
        // CPS.0004 "Parameter: phone_id is invalid.".
        let refused = |code, msg| BatchEntry {
            error_code: Some(code),
            error_msg: Some(msg),
            job_id: None,
            phone_id: id,
        };
        let position = if is_hex32(id) {
            st.fleet.position(id)
        } else {
            None
        };
        let entry = if let Some(pi) = position {
            match start_job(sim, &mut st, &b, pi, property.as_deref()) {
                Some(job_id) => BatchEntry {
                    error_code: None,
                    error_msg: None,
                    job_id: Some(job_id),
                    phone_id: id,
                },
                None => refused("CPS.0022", "Not available phone."),
            }
        } else {
            refused("CPS.0004", "Parameter: phone_id is invalid.")
        };
        if roll_targeted(&mut st.rng, &faults, endpoint, faults.drop_ids) {
            continue;
        }
        jobs.push(entry);
    }
    drop(st);
    let answer = BatchAnswer { jobs, request_id };
    Ok(serialized_response(StatusCode::OK, &answer))
}

/// Starts the batch's job on phone `pi`; its id, or `None` if the phone's state refuses it.
fn start_job(
    sim: &VendorSim<Huawei>,
    st: &mut VendorState<Huawei>,
    b: &Batch<'_>,
    pi: usize,
    property: Option<&str>,
) -> Option<String> {
    let (op, now) = (b.op, b.now);
    let cur = {
        let p = &mut st.fleet.phones[pi];
        p.life.settle(now);
        p.life.status_at(now)
    };
    let allowed = matches!(
        cur,
        status::RUNNING
            | status::STOPPED
            | status::RESET_FAILED
            | status::RESTART_FAILED
            | status::ABNORMAL
            | status::STOP_FAILED
    );
    if !allowed {
        return None;
    }
    let faults = &st.faults;
    let failed = roll_targeted(&mut st.rng, faults, b.endpoint, faults.job_failure);
    let job_id = random_hex32(&mut st.rng);
    let s = sim.settings();
    let (during, ok, bad, d) = match op {
        Op::Reset => (
            status::RESETTING,
            status::RUNNING,
            status::RESET_FAILED,
            s.reset,
        ),
        Op::Restart => (
            status::RESTARTING,
            status::RUNNING,
            status::RESTART_FAILED,
            s.restart,
        ),
        Op::Stop => (
            status::STOPPING,
            status::STOPPED,
            status::STOP_FAILED,
            s.stop,
        ),
    };
    // Stopping a stopped phone has nothing to do: its job succeeds at once.
    let noop = op == Op::Stop && cur == status::STOPPED;
    let end = if noop {
        now
    } else {
        now + sim.clock().scaled(d)
    };
    let failed = failed && !noop;
    let p = &mut st.fleet.phones[pi];
    if !noop {
        p.life.begin(op, during, if failed { bad } else { ok }, end);
    }
    if op != Op::Stop {
        if let Some(img) = &b.image_id {
            p.data.image_id = img.clone();
        }
        // Reset and restart write the phone's properties; the detail shows them.
        if let Some(prop) = property {
            p.data.property = prop.to_string();
        }
    }
    p.data.updated_unix = b.now_unix;
    match op {
        Op::Reset => p.applied.resets += 1,
        Op::Restart => p.applied.restarts += 1,
        Op::Stop => p.applied.stops += 1,
    }
    let model = &mut st.model;
    let idx = model.jobs.len();
    model.jobs.push(Job {
        job_id: job_id.clone(),
        request_id: b.request_id.to_string(),
        phone: pi,
        op,
        begin_unix: b.now_unix,
        begin: now,
        end,
        failed,
    });
    model.job_index.insert(job_id.clone(), idx);
    model
        .request_jobs
        .entry(b.request_id.to_string())
        .or_default()
        .push(idx);
    Some(job_id)
}
