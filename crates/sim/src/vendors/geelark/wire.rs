//! The GeeLark envelope and the batch answers (`status`, `stop`, `start`), serialised straight
//! from the model with no `serde_json::Value` in between. Fields are declared in sorted order:
//! the bytes are those `json!` wrote (see `engine::json`).

use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;

use crate::engine::serialized_response;

/// `{"code","data","msg","traceId"}`.
#[derive(Serialize)]
struct Envelope<'a, T> {
    code: i64,
    data: T,
    msg: &'a str,
    #[serde(rename = "traceId")]
    trace_id: &'a str,
}

/// An envelope answer (HTTP 200) around `data`.
pub(crate) fn envelope_of<T: Serialize>(trace: &str, code: i64, msg: &str, data: T) -> Response {
    let envelope = Envelope {
        code,
        data,
        msg,
        trace_id: trace,
    };
    serialized_response(StatusCode::OK, &envelope)
}

/// One phone of `successDetails`: its state (`status`, `stop`), or where it is shown (`start`).
#[derive(Serialize)]
#[serde(untagged)]
pub(crate) enum Success<'a> {
    State {
        id: &'a str,
        #[serde(rename = "serialName")]
        serial_name: &'a str,
        status: i32,
    },
    Started {
        #[serde(rename = "chargingMethod")]
        charging_method: &'static str,
        id: &'a str,
        url: String,
    },
}

/// One phone of `failDetails`.
#[derive(Serialize)]
pub(crate) struct Failure<'a> {
    pub(crate) code: i64,
    pub(crate) id: &'a str,
    pub(crate) msg: &'static str,
}

/// `data` of a batch answer.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BatchData<'a> {
    pub(crate) fail_amount: usize,
    pub(crate) fail_details: Vec<Failure<'a>>,
    pub(crate) success_amount: usize,
    pub(crate) success_details: Vec<Success<'a>>,
    pub(crate) total_amount: usize,
}
