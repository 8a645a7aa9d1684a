//! One GeeLark request: signed, sent through the shared HTTP rules and the engine (rate limit,
//! retries, credential rules), its envelope checked; and the batch and one-id endpoints on top.

use std::time::Duration;

use cloudphone_core::raw::http;
use cloudphone_core::raw::{undecodable, ErrorContext, Idempotency};
use cloudphone_core::{BatchReport, Error, ErrorKind, Operation, PhoneId, PhoneOutcome, Result};
use reqwest::header::{HeaderValue, CONTENT_TYPE};
use serde_json::Value;
use tokio::time::Instant;

use super::batch::batch_outcomes;
use super::GeelarkProvider;
use crate::codes::{self, vendor_error};
use crate::wire::{BareEnvelope, Envelope};
use crate::{auth, VENDOR};

impl GeelarkProvider {
    pub(super) fn check_lock(&self, path: &'static str) -> Result<()> {
        let locked = self.locked.lock().unwrap_or_else(|p| p.into_inner());
        match locked.get(path) {
            Some(until) if Instant::now() < *until => {
                let mins = (*until - Instant::now()).as_secs().div_ceil(60);
                Err(Error::new(
                    ErrorKind::RateLimited,
                    format!(
                        "not sent: GeeLark locked the API `{path}` for two hours after its \
                         hourly limit was exceeded; about {mins} min left"
                    ),
                )
                .with_vendor(VENDOR)
                .with_vendor_code(codes::LOCKED.to_string())
                .with_temporary(false))
            }
            _ => Ok(()),
        }
    }

    /// The URL of `path`, parsed on first use.
    fn url(&self, path: &'static str) -> Option<reqwest::Url> {
        let mut urls = self.urls.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(u) = urls.get(path) {
            return Some(u.clone());
        }
        let url = reqwest::Url::parse(&format!("{}{path}", self.base_url)).ok()?;
        urls.insert(path, url.clone());
        Some(url)
    }

    /// One signed attempt through the shared HTTP rules (no redirects, capped body): the
    /// envelope of the answer, and the attempt's clock and request id. Every error names the
    /// request id (our `traceId`, and the vendor's echo when it differs).
    pub(super) async fn attempt(
        &self,
        path: &'static str,
        body: &bytes::Bytes,
        data: Data,
    ) -> Result<(Envelope, Reply)> {
        self.check_lock(path)?;
        let trace_id = (self.trace_ids)();
        let ts = (self.clock)();
        let request = match self.url(path) {
            Some(url) => self.client.post(url),
            // Unparseable: reqwest reports it as the request's error, as before.
            None => self.client.post(format!("{}{path}", self.base_url)),
        };
        let request = request
            .headers(auth::headers(&self.credentials, &trace_id, ts))
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .timeout(self.timeout)
            // Shared, not copied: a retry sends the same bytes.
            .body(body.clone());
        let answer = http::send(request, self.max_body)
            .await
            .map_err(|e| e.with_vendor(VENDOR).with_request_id(trace_id.clone()))?;
        let envelope = match data {
            Data::Keep => serde_json::from_slice::<Envelope>(&answer.body),
            Data::Skip => serde_json::from_slice::<BareEnvelope>(&answer.body).map(Envelope::from),
        };
        let echoed = envelope.as_ref().ok().and_then(|e| e.trace_id.as_deref());
        let request_id = request_id(&trace_id, echoed);
        tracing::debug!(
            vendor = VENDOR,
            path,
            request_id,
            http = answer.status,
            code = envelope.as_ref().ok().map(|e| e.code),
            "answer"
        );
        let envelope = answer_envelope(answer.status, answer.retry_after(), envelope, path, ts)
            .map_err(|e| e.with_request_id(request_id.clone()))?;
        Ok((envelope, Reply { ts, request_id }))
    }

    /// One vendor request through the engine (rate limit, retries, a fresh signature per
    /// attempt). A non-zero `code` is a request-level error, except a partial-failure code whose
    /// `data` carries per-phone details when `details_ok`. `decode` turns `data` into `T`.
    pub(super) async fn request<T>(
        &self,
        path: &'static str,
        idempotency: Idempotency,
        body: Vec<u8>,
        details_ok: bool,
        data: Data,
        decode: impl Fn(Option<Value>, &Reply) -> Result<T>,
    ) -> Result<T> {
        let body = bytes::Bytes::from(body);
        let (body, decode) = (&body, &decode);
        self.engine
            .call(path, idempotency, || async move {
                let (envelope, reply) = self.attempt(path, body, data).await?;
                let code = envelope.code;
                let data = envelope_data(envelope, details_ok, path, reply.ts).map_err(|e| {
                    if code == codes::LOCKED {
                        self.locked
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .insert(path, Instant::now() + codes::LOCK_DURATION);
                    }
                    e.with_request_id(reply.request_id.clone())
                })?;
                decode(data, &reply).map_err(|e| e.or_request_id(Some(&reply.request_id)))
            })
            .await
    }

    /// A batch endpoint (status, stop, start) over `phones` in chunks of `chunk_size`.
    pub(super) async fn batch(
        &self,
        operation: Operation,
        path: &'static str,
        phones: &[PhoneId],
        chunk_size: usize,
        body: impl Fn(Vec<&str>) -> Result<Vec<u8>>,
    ) -> Result<BatchReport> {
        let idempotency = match operation {
            Operation::Status => Idempotency::ReadOnly,
            _ => Idempotency::StateChanging,
        };
        let body = &body;
        self.engine
            .run_chunks(operation, phones, chunk_size, |chunk| async move {
                let bytes = body(chunk.iter().map(PhoneId::as_str).collect())?;
                self.request(path, idempotency, bytes, true, Data::Keep, |data, reply| {
                    batch_outcomes(
                        operation,
                        path,
                        &chunk,
                        data,
                        reply.ts,
                        Some(&reply.request_id),
                    )
                })
                .await
            })
            .await
    }

    /// A one-id endpoint (newOne, restart): an envelope error is that phone's failure, and an
    /// accepted phone is pending.
    pub(super) async fn each(
        &self,
        operation: Operation,
        path: &'static str,
        phones: &[PhoneId],
        body: impl Fn(&str) -> Result<Vec<u8>>,
    ) -> Result<BatchReport> {
        let body = &body;
        self.engine
            .run_each(operation, phones, |id| async move {
                let bytes = body(id.as_str())?;
                self.request(
                    path,
                    Idempotency::StateChanging,
                    bytes,
                    false,
                    Data::Skip,
                    |_, _| Ok(()),
                )
                .await?;
                Ok(PhoneOutcome::pending(id))
            })
            .await
    }
}

/// Whether a request's decoder reads the envelope's `data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Data {
    Keep,
    /// Skipped unbuilt: the decoder gets `None`.
    Skip,
}

/// What an answered attempt tells the decoder besides `data`.
pub(crate) struct Reply {
    /// The attempt's clock in milliseconds.
    pub ts: u64,
    /// Our `traceId`, and the vendor's echo when it differs.
    pub request_id: String,
}

/// The request id errors carry: the `traceId` we sent, and the one the vendor echoed when it
/// differs (kept only when it looks like an id: it is vendor text shown to people).
fn request_id(sent: &str, echoed: Option<&str>) -> String {
    match echoed {
        Some(e)
            if e != sent
                && !e.is_empty()
                && e.len() <= 64
                && e.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            format!("{sent}, echoed {e}")
        }
        _ => sent.to_owned(),
    }
}

pub(super) fn to_json(value: &impl serde::Serialize) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| {
        Error::new(
            ErrorKind::InvalidArgument,
            format!("cannot encode request: {e}"),
        )
        .with_vendor(VENDOR)
    })
}

/// The envelope of one answer, or the error its HTTP status or undecodable body stands for.
pub(crate) fn answer_envelope(
    status: u16,
    retry_after: Option<Duration>,
    envelope: serde_json::Result<Envelope>,
    path: &str,
    ts: u64,
) -> Result<Envelope> {
    if !(200..300).contains(&status) {
        return Err(http_error(status, retry_after, envelope.ok(), path, ts));
    }
    // Reads retry it; a state change does not, and its outcome is unknown (the vendor
    // answered, so it may have acted).
    envelope.map_err(|e| undecodable(VENDOR, format_args!("answer from `{path}`"), e))
}

/// `data` of an accepted envelope. A non-zero `code` is a request-level error, except a
/// partial-failure code whose `data` carries per-phone details when `details_ok`.
pub(crate) fn envelope_data(
    envelope: Envelope,
    details_ok: bool,
    path: &str,
    ts: u64,
) -> Result<Option<Value>> {
    let partial = details_ok
        && codes::PARTIAL.contains(&envelope.code)
        && has_details(envelope.data.as_ref());
    if envelope.code != 0 && !partial {
        return Err(vendor_error(envelope.code, &envelope.msg, path, ts));
    }
    Ok(envelope.data)
}

fn has_details(data: Option<&Value>) -> bool {
    let non_empty = |key| {
        data.and_then(|d| d.get(key))
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty())
    };
    non_empty("failDetails") || non_empty("successDetails")
}

fn http_error(
    status: u16,
    retry_after: Option<Duration>,
    envelope: Option<Envelope>,
    path: &str,
    ts: u64,
) -> Error {
    let shown = reqwest::StatusCode::from_u16(status)
        .map_or_else(|_| status.to_string(), |s| s.to_string());
    let message = format!("HTTP {shown} from `{path}`");
    let e = match status {
        // Only reachable without the shared client (which refuses 3xx itself): never followed.
        300..=399 => Error::redirect(status, None),
        // The gateway may have passed the request on: ambiguous for state changes.
        500..=599 => Error::new(ErrorKind::Unavailable, message),
        429 => Error::new(ErrorKind::RateLimited, message),
        408 => Error::new(ErrorKind::Timeout, message),
        _ => match envelope {
            Some(env) if env.code != 0 => return vendor_error(env.code, &env.msg, path, ts),
            _ => {
                let kind = match status {
                    401 => ErrorKind::Unauthenticated,
                    403 => ErrorKind::PermissionDenied,
                    _ => ErrorKind::Other,
                };
                Error::new(kind, message)
            }
        },
    };
    e.with_vendor(VENDOR).or_retry_after(retry_after)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_name_ours_and_a_differing_echo() {
        assert_eq!(request_id("ABC", None), "ABC");
        assert_eq!(request_id("ABC", Some("ABC")), "ABC");
        assert_eq!(request_id("ABC", Some("X-1_2")), "ABC, echoed X-1_2");
        // Vendor text that does not look like an id is not repeated.
        assert_eq!(request_id("ABC", Some("a\u{1b}[2J")), "ABC");
        assert_eq!(request_id("ABC", Some(&"A".repeat(65))), "ABC");
    }
}
