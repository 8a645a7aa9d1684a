//! [`GeelarkProvider`]: the GeeLark Open API behind [`CloudPhoneProvider`].

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use cloudphone_core::http;
use cloudphone_core::{
    BatchEngine, BatchReport, Capabilities, CloudPhoneProvider, Error, ErrorKind, Extras,
    Idempotency, ListRequest, Operation, PhoneId, PhoneOutcome, PhonePage, RateBudget, RateScope,
    ResetOptions, Result, StartOptions,
};
use reqwest::header::{HeaderValue, CONTENT_TYPE};
use secrecy::ExposeSecret;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use crate::codes::{self, vendor_error};
use crate::config::{Credentials, GeelarkConfig};
use crate::wire::{self, BatchData, Envelope};
use crate::{auth, VENDOR};

pub(crate) const STATUS: &str = "/open/v1/phone/status";
pub(crate) const STOP: &str = "/open/v1/phone/stop";
pub(crate) const START: &str = "/open/v1/phone/start";
pub(crate) const NEW_ONE: &str = "/open/v2/phone/newOne";
pub(crate) const RESTART: &str = "/open/v1/phone/restart";
pub(crate) const LIST: &str = "/open/v1/phone/list";
pub(crate) const AUTH_STATUS: &str = "/open/v1/auth/status";

/// Phones per list page, the vendor's maximum.
const MAX_PAGE_SIZE: usize = 100;

/// The most phones a listing reads by default before it gives up on the vendor's paging:
/// whatever `total` claims, a listing costs at most this many phones' worth of pages.
pub const DEFAULT_MAX_LISTED: u64 = 1_000_000;

type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;
type TraceIds = Arc<dyn Fn() -> String + Send + Sync>;

/// Builds a [`GeelarkProvider`] with test hooks: a fixed clock and trace ids make every signed
/// header predictable, and a custom `reqwest::Client` can be supplied.
pub struct GeelarkProviderBuilder {
    config: GeelarkConfig,
    clock: Option<Clock>,
    trace_ids: Option<TraceIds>,
    client: Option<reqwest::Client>,
    max_listed: u64,
}

impl fmt::Debug for GeelarkProviderBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeelarkProviderBuilder")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl GeelarkProviderBuilder {
    /// The clock used for the `ts` header, in milliseconds since the Unix epoch.
    pub fn clock(mut self, now_ms: impl Fn() -> u64 + Send + Sync + 'static) -> Self {
        self.clock = Some(Arc::new(now_ms));
        self
    }

    /// The source of `traceId` headers, called once per attempt.
    pub fn trace_ids(mut self, next: impl Fn() -> String + Send + Sync + 'static) -> Self {
        self.trace_ids = Some(Arc::new(next));
        self
    }

    /// Sends through this client. Its own connect timeout applies; the request timeout
    /// (`timeout_secs`) and the body cap (`max_body_bytes`) still apply to every request.
    ///
    /// Build it from [`cloudphone_core::http::HttpOptions::client_builder`]: a client that
    /// follows redirects would carry the signed headers or the token to another host.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self
    }

    /// The most phones a listing reads (default [`DEFAULT_MAX_LISTED`]): past it, whatever the
    /// vendor's `total` claims, the next page is refused with an error instead of being read.
    pub fn max_listed(mut self, phones: u64) -> Self {
        self.max_listed = phones.max(1);
        self
    }

    /// Validates the configuration and builds the provider.
    pub fn build(self) -> Result<GeelarkProvider> {
        let config = self.config;
        config.validate()?;
        let credentials = config.credentials()?;
        let http_options = config.client.http_options();
        let client = config.client.http_client(VENDOR, self.client)?;
        let rate_limits: Vec<RateBudget> = [
            RateBudget::per_minute(config.rate_limit_per_minute),
            RateBudget::per_hour(config.rate_limit_per_hour),
        ]
        .into_iter()
        .filter(|b| b.limit > 0)
        .collect();
        let engine = BatchEngine::new(
            VENDOR,
            config
                .client
                .engine_config()
                // GeeLark counts each API separately.
                .rate_limits(rate_limits.clone(), RateScope::Endpoint),
        );
        // A vendor echoing a credential back must not put it in an error, a log or the output.
        for secret in [&config.api_key, &config.token].into_iter().flatten() {
            engine.scrubber().add(secret.expose_secret());
        }
        let operations = [
            Operation::Status,
            Operation::Stop,
            Operation::Start,
            Operation::Restart,
            Operation::Reset,
            Operation::List,
            Operation::Wait,
        ];
        let mut capabilities = Capabilities::default();
        capabilities.operations = operations.into_iter().collect();
        capabilities.batch_sizes = [
            (Operation::Status, config.status_batch_size),
            (Operation::Stop, config.batch_size),
            (Operation::Start, config.batch_size),
            (Operation::Restart, 1),
            (Operation::Reset, 1),
            (Operation::List, MAX_PAGE_SIZE),
        ]
        .into_iter()
        .collect();
        capabilities.rate_limits = rate_limits;
        capabilities.jobs = false;
        Ok(GeelarkProvider {
            base_url: config.base_url.trim_end_matches('/').to_owned(),
            timeout: http_options.timeout,
            max_body: http_options.max_body_bytes,
            credentials,
            client,
            engine,
            capabilities,
            clock: self.clock.unwrap_or_else(|| Arc::new(auth::now_ms)),
            trace_ids: self
                .trace_ids
                .unwrap_or_else(|| Arc::new(auth::new_trace_id)),
            locked: Mutex::new(HashMap::new()),
            max_listed: self.max_listed,
            config,
        })
    }
}

/// GeeLark cloud phones through the GeeLark Open API.
///
/// Stop, start, restart and reset return before the phone changes state: their outcomes are
/// pending (GeeLark has no jobs) and [`CloudPhoneProvider::wait`] polls `status` until the
/// target state shows. Every API has its own client-side rate budget.
pub struct GeelarkProvider {
    config: GeelarkConfig,
    base_url: String,
    timeout: Duration,
    max_body: usize,
    credentials: Credentials,
    client: reqwest::Client,
    engine: BatchEngine,
    capabilities: Capabilities,
    clock: Clock,
    trace_ids: TraceIds,
    /// APIs GeeLark locked after a 40014, and until when.
    locked: Mutex<HashMap<&'static str, Instant>>,
    /// The most phones a listing reads.
    max_listed: u64,
}

impl fmt::Debug for GeelarkProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeelarkProvider")
            .field("base_url", &self.base_url)
            .field("credentials", &self.credentials)
            .field("config", &self.config)
            .field("engine", &self.engine)
            .finish_non_exhaustive()
    }
}

impl GeelarkProvider {
    /// A provider from a validated configuration.
    pub fn new(config: GeelarkConfig) -> Result<Self> {
        Self::builder(config).build()
    }

    /// A builder, for injecting a clock, trace ids or an HTTP client.
    pub fn builder(config: GeelarkConfig) -> GeelarkProviderBuilder {
        GeelarkProviderBuilder {
            config,
            clock: None,
            trace_ids: None,
            client: None,
            max_listed: DEFAULT_MAX_LISTED,
        }
    }

    /// The configuration the provider was built from.
    pub fn config(&self) -> &GeelarkConfig {
        &self.config
    }

    /// Checks the credentials with `POST /open/v1/auth/status`: `Ok` when GeeLark accepts
    /// them, an [`ErrorKind::Unauthenticated`] error (vendor code 40003) when it does not. A
    /// refusal is remembered: nothing is sent with these credentials again.
    pub async fn check_auth(&self) -> Result<()> {
        self.engine
            .guarded(self.request(
                AUTH_STATUS,
                Idempotency::ReadOnly,
                b"{}".to_vec(),
                false,
                |_, _| Ok(()),
            ))
            .await
    }

    fn check_lock(&self, path: &'static str) -> Result<()> {
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

    /// One signed attempt through the shared HTTP rules (no redirects, capped body): the
    /// envelope of the answer, and the attempt's clock and request id. Every error names the
    /// request id (our `traceId`, and the vendor's echo when it differs).
    async fn attempt(&self, path: &'static str, body: &[u8]) -> Result<(Envelope, Reply)> {
        self.check_lock(path)?;
        let trace_id = (self.trace_ids)();
        let ts = (self.clock)();
        let request = self
            .client
            .post(format!("{}{path}", self.base_url))
            .headers(auth::headers(&self.credentials, &trace_id, ts))
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .timeout(self.timeout)
            .body(body.to_vec());
        let answer = http::send(request, self.max_body)
            .await
            .map_err(|e| e.with_vendor(VENDOR).with_request_id(trace_id.clone()))?;
        let envelope = serde_json::from_slice::<Envelope>(&answer.body);
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
    async fn request<T>(
        &self,
        path: &'static str,
        idempotency: Idempotency,
        body: Vec<u8>,
        details_ok: bool,
        decode: impl Fn(Option<Value>, &Reply) -> Result<T>,
    ) -> Result<T> {
        let (body, decode) = (&body, &decode);
        self.engine
            .call(path, idempotency, || async move {
                let (envelope, reply) = self.attempt(path, body).await?;
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
                decode(data, &reply).map_err(|e| match e.request_id() {
                    Some(_) => e,
                    None => e.with_request_id(reply.request_id.clone()),
                })
            })
            .await
    }

    /// A batch endpoint (status, stop, start) over `phones` in chunks of `chunk_size`.
    async fn batch(
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
                self.request(path, idempotency, bytes, true, |data, reply| {
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
    async fn each(
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
                    |_, _| Ok(()),
                )
                .await?;
                Ok(PhoneOutcome::pending(id))
            })
            .await
    }
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

fn to_json(value: &impl serde::Serialize) -> Result<Vec<u8>> {
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
    envelope.map_err(|e| {
        Error::new(
            ErrorKind::InvalidResponse,
            format!("undecodable answer from `{path}`: {e}"),
        )
        .with_vendor(VENDOR)
        // Reads retry it; a state change does not, and its outcome is unknown (the vendor
        // answered, so it may have acted).
        .with_temporary(true)
    })
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

/// `data` of a list answer.
pub(crate) fn list_data(data: Option<Value>) -> Result<wire::ListData> {
    serde_json::from_value(data.unwrap_or(Value::Null)).map_err(|e| {
        Error::new(
            ErrorKind::InvalidResponse,
            format!("undecodable `data` from `{LIST}`: {e}"),
        )
        .with_vendor(VENDOR)
        .with_temporary(true)
    })
}

/// A position in a listing: the page to read (from 1) and the fingerprint of the page before
/// it, so that a vendor answering the same page again ends the listing instead of looping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cursor {
    pub page: u64,
    pub previous: Option<u64>,
}

impl Cursor {
    /// The first page.
    pub const FIRST: Cursor = Cursor {
        page: 1,
        previous: None,
    };

    /// `N` (a page number from 1) or `N.<16 hex digits>` as [`PhonePage::next`] gives it.
    pub fn parse(text: &str) -> Result<Cursor> {
        let bad = || {
            Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "bad geelark list cursor `{}` (a page number from 1)",
                    text.chars().take(40).collect::<String>().escape_debug()
                ),
            )
            .with_vendor(VENDOR)
        };
        let (page, previous) = match text.split_once('.') {
            None => (text, None),
            Some((p, fp)) if fp.len() == 16 => {
                (p, Some(u64::from_str_radix(fp, 16).map_err(|_| bad())?))
            }
            Some(_) => return Err(bad()),
        };
        let page = page
            .parse::<u64>()
            .ok()
            .filter(|p| *p >= 1)
            .ok_or_else(bad)?;
        Ok(Cursor { page, previous })
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.previous {
            Some(fp) => write!(f, "{}.{fp:016x}", self.page),
            None => write!(f, "{}", self.page),
        }
    }
}

/// The pages a listing of `size` phones per page may read when it may read `max_listed` phones.
pub(crate) fn max_pages(max_listed: u64, size: u64) -> u64 {
    max_listed.div_ceil(size.max(1))
}

/// A fingerprint of the set of ids on a page (order and repeats ignored).
fn fingerprint(items: &[wire::ListItem]) -> u64 {
    let mut ids: Vec<&str> = items.iter().map(|i| i.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut h = Sha256::new();
    for id in ids {
        h.update(id.as_bytes());
        h.update([0]);
    }
    let digest = h.finalize();
    u64::from_be_bytes(
        digest[..8]
            .try_into()
            .expect("a SHA-256 digest has 32 bytes"),
    )
}

/// The page at `at` of `size` phones, and the cursor of the next one if another follows. The
/// listing ends when a page is empty, when the vendor's `total` is reached, or when a page
/// holds exactly the phones of the page before it (a vendor that ignores `page` would
/// otherwise be listed forever); the repeated phones are not returned again.
pub(crate) fn list_page_of(data: wire::ListData, at: Cursor, size: u64) -> PhonePage {
    let fp = fingerprint(&data.items);
    if !data.items.is_empty() && at.previous == Some(fp) {
        tracing::warn!(
            vendor = VENDOR,
            page = at.page,
            "the vendor answered a list page with the same phones as the page before; the listing ends here"
        );
        return PhonePage {
            phones: Vec::new(),
            next: None,
            total: data.total,
        };
    }
    let more = match data.total {
        _ if data.items.is_empty() => false,
        // Saturating: a cursor near `u64::MAX` must not overflow.
        Some(total) => at.page.saturating_mul(size) < total,
        None => data.items.len() as u64 >= size,
    };
    PhonePage {
        next: more.then(|| at.page.checked_add(1)).flatten().map(|page| {
            Cursor {
                page,
                previous: Some(fp),
            }
            .to_string()
        }),
        phones: data
            .items
            .into_iter()
            .map(wire::ListItem::into_summary)
            .collect(),
        total: data.total,
    }
}

fn has_details(data: Option<&Value>) -> bool {
    let non_empty = |key| {
        data.and_then(|d| d.get(key))
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty())
    };
    non_empty("failDetails") || non_empty("successDetails")
}

/// The per-phone outcomes of a batch answer, for the phones of `chunk` only. Ids the answer
/// leaves out get no outcome here; the engine gives them one of their own. `request_id` is
/// attached to every per-phone error.
pub(crate) fn batch_outcomes(
    operation: Operation,
    path: &str,
    chunk: &[PhoneId],
    data: Option<Value>,
    ts: u64,
    request_id: Option<&str>,
) -> Result<Vec<PhoneOutcome>> {
    let data: BatchData = match data {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(v) => serde_json::from_value(v).map_err(|e| {
            Error::new(
                ErrorKind::InvalidResponse,
                format!("undecodable `data` from `{path}`: {e}"),
            )
            .with_vendor(VENDOR)
            .with_temporary(true)
        })?,
    };
    let asked: HashSet<&str> = chunk.iter().map(PhoneId::as_str).collect();
    let mut out: HashMap<String, PhoneOutcome> = HashMap::new();
    let has_success_list = data.success_details.is_some();
    // Accepted entries first. Where the answer contradicts itself about a phone (the stop seed
    // lists one id as shut down and as not found), what the vendor accepted is kept: reporting
    // a phone it acted on as failed invites a second stop, start or reset.
    for s in data.success_details.unwrap_or_default() {
        if !asked.contains(s.id.as_str()) || out.contains_key(&s.id) {
            continue;
        }
        let id = PhoneId::new(s.id.clone());
        let state = s.status.as_deref().map(wire::observed);
        let reached = match operation.target_state() {
            None => true,
            Some(target) => state.as_ref().is_some_and(|st| st.state == target),
        };
        let mut o = if reached {
            PhoneOutcome::done(id)
        } else {
            PhoneOutcome::pending(id)
        };
        if let Some(st) = state {
            o = o.with_state(st);
        }
        if let Some(name) = s.serial_name {
            o = o.with_name(name);
        }
        if let Some(url) = s.url {
            o = o.with_live_view_url(url);
        }
        out.insert(s.id, o);
    }
    for f in data.fail_details.unwrap_or_default() {
        if !asked.contains(f.id.as_str()) {
            continue;
        }
        let id = PhoneId::new(f.id.clone());
        let outcome = if operation == Operation::Start && f.code == codes::ALREADY_STARTED {
            // The goal is reached; no state is invented for it.
            PhoneOutcome::done(id)
        } else {
            let mut e = vendor_error(f.code, &f.msg, path, ts);
            if let Some(r) = request_id {
                e = e.with_request_id(r);
            }
            PhoneOutcome::failed(id, e)
        };
        match out.get(&f.id) {
            // An accepted entry is never replaced; a failure only by an acceptance.
            Some(kept) if kept.error().is_none() || outcome.error().is_some() => {}
            _ => {
                out.insert(f.id, outcome);
            }
        }
    }
    // Stop documents only `failDetails`: the other phones were accepted, provided the counters
    // agree. A status answer without details says nothing about any phone.
    if !has_success_list && operation != Operation::Status {
        let accepted: Vec<&PhoneId> = chunk
            .iter()
            .filter(|id| !out.contains_key(id.as_str()))
            .collect();
        if data
            .success_amount
            .is_none_or(|n| n == accepted.len() as u64)
        {
            for id in accepted {
                out.insert(id.to_string(), PhoneOutcome::pending(id.clone()));
            }
        }
    }
    Ok(out.into_values().collect())
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
    let e = e.with_vendor(VENDOR);
    match retry_after {
        Some(after) => e.with_retry_after(after),
        None => e,
    }
}

fn unknown_option(what: &str, key: &str, known: &[&str]) -> Error {
    Error::new(
        ErrorKind::InvalidArgument,
        format!(
            "unknown {what} option `{key}` for geelark (known: {})",
            known.join(", ")
        ),
    )
    .with_vendor(VENDOR)
}

fn bad_option(what: &str, key: &str, expected: &str) -> Error {
    Error::new(
        ErrorKind::InvalidArgument,
        format!("{what} option `{key}` must be {expected}"),
    )
    .with_vendor(VENDOR)
}

/// Validated `start` options: width, center, energySavingMode.
fn start_options(extras: &Extras) -> Result<(Option<u64>, Option<u8>, Option<u8>)> {
    const KNOWN: [&str; 3] = ["width", "center", "energySavingMode"];
    let flag = |key: &str, v: &Value| match v {
        Value::Bool(b) => Ok(u8::from(*b)),
        Value::Number(n) if n.as_u64() == Some(0) => Ok(0),
        Value::Number(n) if n.as_u64() == Some(1) => Ok(1),
        _ => Err(bad_option("start", key, "0 or 1")),
    };
    let (mut width, mut center, mut saving) = (None, None, None);
    for (key, v) in extras {
        match key.as_str() {
            "width" => {
                width = Some(
                    v.as_u64()
                        .filter(|w| (200..=600).contains(w))
                        .ok_or_else(|| bad_option("start", key, "an integer from 200 to 600"))?,
                )
            }
            "center" => center = Some(flag(key, v)?),
            "energySavingMode" => saving = Some(flag(key, v)?),
            _ => return Err(unknown_option("start", key, &KNOWN)),
        }
    }
    Ok((width, center, saving))
}

/// Validated `reset` options; GeeLark's one-click new machine takes no image or properties.
fn new_one_options(options: &ResetOptions) -> Result<wire::NewOneOptions> {
    const KNOWN: [&str; 5] = [
        "changeBrandModel",
        "keepNetType",
        "keepPhoneNumber",
        "keepRegion",
        "keepLanguage",
    ];
    let unsupported = |what: &str| {
        Error::new(
            ErrorKind::InvalidArgument,
            format!("geelark's one-click new machine does not support reset option `{what}`"),
        )
        .with_vendor(VENDOR)
    };
    if options.image.is_some() {
        return Err(unsupported("image"));
    }
    if !options.properties.is_empty() {
        return Err(unsupported("properties"));
    }
    if !options.phone_properties.is_empty() {
        return Err(unsupported("phone_properties"));
    }
    let mut o = wire::NewOneOptions::default();
    for (key, v) in &options.extras {
        let slot = match key.as_str() {
            "changeBrandModel" => &mut o.change_brand_model,
            "keepNetType" => &mut o.keep_net_type,
            "keepPhoneNumber" => &mut o.keep_phone_number,
            "keepRegion" => &mut o.keep_region,
            "keepLanguage" => &mut o.keep_language,
            _ => return Err(unknown_option("reset", key, &KNOWN)),
        };
        *slot = Some(
            v.as_bool()
                .ok_or_else(|| bad_option("reset", key, "true or false"))?,
        );
    }
    Ok(o)
}

#[async_trait]
impl CloudPhoneProvider for GeelarkProvider {
    fn vendor(&self) -> &'static str {
        VENDOR
    }

    fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    async fn status(&self, phones: &[PhoneId]) -> Result<BatchReport> {
        self.batch(
            Operation::Status,
            STATUS,
            phones,
            self.config.status_batch_size,
            |ids| to_json(&wire::IdsBody { ids }),
        )
        .await
    }

    async fn stop(&self, phones: &[PhoneId]) -> Result<BatchReport> {
        self.batch(
            Operation::Stop,
            STOP,
            phones,
            self.config.batch_size,
            |ids| to_json(&wire::IdsBody { ids }),
        )
        .await
    }

    async fn start(&self, phones: &[PhoneId], options: &StartOptions) -> Result<BatchReport> {
        let (width, center, energy_saving_mode) = start_options(&options.extras)?;
        self.batch(
            Operation::Start,
            START,
            phones,
            self.config.batch_size,
            |ids| {
                to_json(&wire::StartBody {
                    ids,
                    width,
                    center,
                    energy_saving_mode,
                })
            },
        )
        .await
    }

    async fn restart(&self, phones: &[PhoneId]) -> Result<BatchReport> {
        self.each(Operation::Restart, RESTART, phones, |id| {
            to_json(&wire::IdBody { id })
        })
        .await
    }

    async fn reset(&self, phones: &[PhoneId], options: &ResetOptions) -> Result<BatchReport> {
        let options = new_one_options(options)?;
        self.each(Operation::Reset, NEW_ONE, phones, |id| {
            to_json(&wire::NewOneBody {
                id,
                options: &options,
            })
        })
        .await
    }

    /// One page of `/open/v1/phone/list`. The cursor is the page number (and a fingerprint of
    /// the page before, for the listing to end if the vendor answers the same page again); a
    /// listing reads at most 1,000,000 phones' worth of pages ([`DEFAULT_MAX_LISTED`], see
    /// [`GeelarkProviderBuilder::max_listed`]), whatever `total` claims.
    async fn list_page(&self, request: &ListRequest) -> Result<PhonePage> {
        let at = match &request.cursor {
            None => Cursor::FIRST,
            Some(c) => Cursor::parse(c)?,
        };
        let size = request
            .page_size
            .unwrap_or(MAX_PAGE_SIZE)
            .clamp(1, MAX_PAGE_SIZE) as u64;
        if at.page > max_pages(self.max_listed, size) {
            return Err(Error::new(
                ErrorKind::InvalidResponse,
                format!(
                    "not sent: page {} of {size} phones would pass the listing's cap of {} \
                     phones while the vendor still claims more; its paging looks endless",
                    at.page, self.max_listed
                ),
            )
            .with_vendor(VENDOR)
            .with_endpoint(LIST)
            .with_temporary(false)
            .with_not_applied(true));
        }
        let body = to_json(&wire::ListBody {
            page: at.page,
            page_size: size,
        })?;
        let data = self
            .engine
            .guarded(
                self.request(LIST, Idempotency::ReadOnly, body, false, |data, _| {
                    list_data(data)
                }),
            )
            .await?;
        Ok(list_page_of(data, at, size))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_options_are_validated() {
        let ok = StartOptions::default()
            .extra("width", 300)
            .extra("center", 1)
            .extra("energySavingMode", false);
        assert_eq!(
            start_options(&ok.extras).unwrap(),
            (Some(300), Some(1), Some(0))
        );
        for (k, v) in [("width", 199), ("width", 601), ("center", 2)] {
            let e = start_options(&StartOptions::default().extra(k, v).extras).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidArgument);
            assert!(e.message().contains(k), "{}", e.message());
        }
        let e = start_options(&StartOptions::default().extra("colour", 1).extras).unwrap_err();
        assert!(e.message().contains("`colour`"), "{}", e.message());
    }

    #[test]
    fn list_cursors_round_trip_and_refuse_garbage() {
        for c in [
            Cursor::FIRST,
            Cursor {
                page: 7,
                previous: Some(0xdead_beef),
            },
            Cursor {
                page: u64::MAX,
                previous: Some(u64::MAX),
            },
        ] {
            assert_eq!(Cursor::parse(&c.to_string()).unwrap(), c);
        }
        assert_eq!(Cursor::parse("3").unwrap().page, 3);
        for bad in [
            "",
            "0",
            "-1",
            "x",
            "2.",
            "2.zz",
            "2.0123",
            "2.0123456789abcdefg",
            ".1",
        ] {
            let e = Cursor::parse(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{bad}");
        }
        // Shown escaped and shortened: a cursor is caller input.
        let e = Cursor::parse(&format!("\u{1b}[31m{}", "9".repeat(500))).unwrap_err();
        assert!(!e.message().contains('\u{1b}') && e.message().len() < 200);
    }

    #[test]
    fn request_ids_name_ours_and_a_differing_echo() {
        assert_eq!(request_id("ABC", None), "ABC");
        assert_eq!(request_id("ABC", Some("ABC")), "ABC");
        assert_eq!(request_id("ABC", Some("X-1_2")), "ABC, echoed X-1_2");
        // Vendor text that does not look like an id is not repeated.
        assert_eq!(request_id("ABC", Some("a\u{1b}[2J")), "ABC");
        assert_eq!(request_id("ABC", Some(&"A".repeat(65))), "ABC");
    }

    #[test]
    fn the_page_cap_covers_a_million_phones() {
        assert_eq!(max_pages(DEFAULT_MAX_LISTED, 100), 10_000);
        assert_eq!(max_pages(DEFAULT_MAX_LISTED, 1), 1_000_000);
        assert_eq!(max_pages(DEFAULT_MAX_LISTED, 0), 1_000_000);
        assert_eq!(max_pages(DEFAULT_MAX_LISTED, u64::MAX), 1);
        assert_eq!(max_pages(250, 100), 3);
    }

    #[test]
    fn provider_uses_one_budget_per_endpoint() {
        let p = GeelarkProvider::new(GeelarkConfig::with_token("t")).unwrap();
        assert_eq!(p.engine.config().rate_scope, RateScope::Endpoint);
        assert_eq!(
            p.capabilities().rate_limits,
            vec![RateBudget::per_minute(120), RateBudget::per_hour(20_000)]
        );
        let p = GeelarkProvider::new(GeelarkConfig::with_token("t").rate_limits(0, 5)).unwrap();
        assert_eq!(p.capabilities().rate_limits, vec![RateBudget::per_hour(5)]);
    }
}
