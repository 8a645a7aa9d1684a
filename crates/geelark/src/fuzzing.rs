//! The decoders of GeeLark answers, for property tests and fuzzing.
//!
//! Each function runs exactly the code the provider runs on one attempt's answer — HTTP status,
//! `Retry-After`, envelope, `code`, `data` — without the transport, rate limiting, retries or
//! the bookkeeping of a 40014 lock. Whatever the bytes, they return `Ok` or `Err`, never panic.
//! Not a stable API: signatures follow the provider's internals.

use std::time::Duration;

use cloudphone_core::{Error, ErrorKind, Operation, PhoneId, PhoneOutcome, PhonePage, Result};
use reqwest::StatusCode;
use serde_json::Value;

use crate::provider::{
    answer_envelope, batch_outcomes, envelope_data, list_data, list_page_of, Cursor, AUTH_STATUS,
    NEW_ONE, RESTART, START, STATUS, STOP,
};
use crate::wire::Envelope;
use crate::VENDOR;

/// One answer as the provider receives it.
#[derive(Debug, Clone, Copy)]
pub struct Answer<'a> {
    /// The HTTP status code.
    pub http_status: u16,
    /// The `Retry-After` header, if any.
    pub retry_after: Option<&'a str>,
    /// The body.
    pub body: &'a [u8],
    /// The attempt's clock in milliseconds (it places the retry of a 40007).
    pub ts_ms: u64,
}

impl<'a> Answer<'a> {
    /// An HTTP 200 answer with `body` and no `Retry-After`.
    pub fn ok(body: &'a [u8]) -> Self {
        Answer {
            http_status: 200,
            retry_after: None,
            body,
            ts_ms: 0,
        }
    }
}

/// `Retry-After` as the provider reads it (the shared parser): delay-seconds or an HTTP-date,
/// anything else ignored.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    cloudphone_core::raw::http::parse_retry_after(value)
}

fn data(path: &'static str, details_ok: bool, answer: &Answer<'_>) -> Result<Option<Value>> {
    // reqwest never yields a status outside 100..=999; such input is refused, not decoded.
    let status = StatusCode::from_u16(answer.http_status).map_err(|_| {
        Error::new(
            ErrorKind::InvalidArgument,
            format!("{} is not an HTTP status", answer.http_status),
        )
        .with_vendor(VENDOR)
    })?;
    let envelope = serde_json::from_slice::<Envelope>(answer.body);
    let retry_after = answer.retry_after.and_then(parse_retry_after);
    let envelope = answer_envelope(status.as_u16(), retry_after, envelope, path, answer.ts_ms)?;
    envelope_data(envelope, details_ok, path, answer.ts_ms)
}

fn unsupported(operation: Operation, what: &str) -> Error {
    Error::new(
        ErrorKind::InvalidArgument,
        format!("{operation} is not decoded as {what}"),
    )
    .with_vendor(VENDOR)
}

/// The answer of a batch endpoint — `status`, `stop` or `start` — for the chunk `phones`: the
/// per-phone outcomes it gives (phones it leaves out get none), or the request-level error.
pub fn decode_batch(
    operation: Operation,
    phones: &[PhoneId],
    answer: &Answer<'_>,
) -> Result<Vec<PhoneOutcome>> {
    let path = match operation {
        Operation::Status => STATUS,
        Operation::Stop => STOP,
        Operation::Start => START,
        other => return Err(unsupported(other, "a batch answer")),
    };
    let data = data(path, true, answer)?;
    batch_outcomes(operation, path, phones, data, answer.ts_ms, None)
}

/// The answer of a one-phone endpoint — `restart` or `reset` (newOne): `Ok` when accepted.
pub fn decode_ack(operation: Operation, answer: &Answer<'_>) -> Result<()> {
    let path = match operation {
        Operation::Restart => RESTART,
        Operation::Reset => NEW_ONE,
        other => return Err(unsupported(other, "a one-phone answer")),
    };
    data(path, false, answer).map(drop)
}

/// The answer of `/open/v1/auth/status`: `Ok` when the credentials are accepted.
pub fn decode_auth(answer: &Answer<'_>) -> Result<()> {
    data(AUTH_STATUS, false, answer).map(drop)
}

/// The answer of `/open/v1/phone/list` for page `page` of `page_size` phones, read without a
/// previous page.
pub fn decode_list(page: u64, page_size: u64, answer: &Answer<'_>) -> Result<PhonePage> {
    let data = data(crate::provider::LIST, false, answer)?;
    let at = Cursor {
        page,
        previous: None,
    };
    Ok(list_page_of(list_data(data)?, at, page_size))
}

/// The answer of `/open/v1/phone/list` for the page a cursor (from [`PhonePage::next`]) names:
/// a page repeating the one before ends the listing.
pub fn decode_list_at(cursor: &str, page_size: u64, answer: &Answer<'_>) -> Result<PhonePage> {
    let at = Cursor::parse(cursor)?;
    let data = data(crate::provider::LIST, false, answer)?;
    Ok(list_page_of(list_data(data)?, at, page_size))
}
