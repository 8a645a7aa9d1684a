//! One signed eds-aic exchange: the RPC request (`POST /`, the action in `x-acs-action`, every
//! parameter in the query), signed afresh on every attempt, sent through the shared HTTP rules
//! and the engine (rate limit per action, retries, credential rules), its answer classified.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use cloudphone_core::raw::{http, BatchEngine, Idempotency};
use cloudphone_core::{Error, ErrorKind, PhoneId, Result};
use reqwest::header::{HeaderName, HeaderValue, ACCEPT};
use reqwest::Url;

use crate::clock::Clock;
use crate::signer::{self, Signer};
use crate::wire;
use crate::VENDOR;

/// A source of signature nonces (fresh per attempt).
pub(crate) type Nonces = Arc<dyn Fn() -> String + Send + Sync>;

/// The decoded query parameters of one call, lists flattened (`Name.1`, `Name.2`, …).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Params(pub Vec<(String, String)>);

impl Params {
    pub fn new() -> Self {
        Params::default()
    }

    /// `name.1=…&name.2=…` (1-based); nothing for an empty list.
    pub fn list<'a>(mut self, name: &str, items: impl IntoIterator<Item = &'a str>) -> Self {
        for (i, item) in items.into_iter().enumerate() {
            self.0.push((format!("{name}.{}", i + 1), item.to_owned()));
        }
        self
    }

    /// The ids of a chunk as a list.
    pub fn ids(self, name: &str, ids: &[PhoneId]) -> Self {
        self.list(name, ids.iter().map(PhoneId::as_str))
    }

    pub fn set(mut self, key: &str, value: impl ToString) -> Self {
        self.0.push((key.to_owned(), value.to_string()));
        self
    }

    /// A boolean, as lower-case `true`/`false`.
    pub fn flag(self, key: &str, value: bool) -> Self {
        self.set(key, if value { "true" } else { "false" })
    }

    /// `key` when there is a non-empty value: an empty `NextToken` is never sent (it would
    /// restart the listing).
    pub fn opt(self, key: &str, value: Option<&str>) -> Self {
        match value.filter(|v| !v.is_empty()) {
            Some(v) => self.set(key, v),
            None => self,
        }
    }
}

pub(crate) struct Client {
    pub http: reqwest::Client,
    pub engine: BatchEngine,
    pub endpoint: Url,
    pub signer: Signer,
    pub clock: Arc<dyn Clock>,
    pub nonces: Nonces,
    pub max_body: usize,
    /// Whether a request was answered since the credentials were last refused (or ever):
    /// until then a fan-out sends one request alone first.
    pub proven: AtomicBool,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.endpoint.as_str())
            .field("signer", &self.signer)
            .field("clock", &self.clock)
            .field("max_body", &self.max_body)
            .field("engine", &self.engine)
            .finish()
    }
}

fn header_value(v: &str, sensitive: bool) -> Result<HeaderValue> {
    let mut hv = HeaderValue::from_str(v).map_err(|_| {
        Error::new(
            ErrorKind::Config,
            "a credential or header contains characters not allowed in HTTP headers",
        )
        .with_vendor(VENDOR)
    })?;
    hv.set_sensitive(sensitive);
    Ok(hv)
}

impl Client {
    /// Whether the credentials were accepted since they were last refused.
    pub fn proven(&self) -> bool {
        self.proven.load(Ordering::SeqCst)
    }

    /// The URL of a call: the endpoint with the canonical query as its query, so that the
    /// bytes signed are the bytes sent.
    pub fn url(&self, params: &Params) -> Url {
        let mut url = self.endpoint.clone();
        let q = signer::canonical_query(&params.0);
        url.set_query((!q.is_empty()).then_some(q.as_str()));
        url
    }

    /// Records a refusal of the credentials with the engine at once (scrubbed: the engine
    /// logs it), before the answer travels back up: no request of another task may start in
    /// between.
    fn refused(&self, e: &Error) {
        self.proven.store(false, Ordering::SeqCst);
        let e = self.engine.scrubber().scrub_error(e.clone());
        self.engine.note::<()>(&Err(e));
    }

    /// Calls `action` with `params` through the engine, under its credential rules (nothing is
    /// sent after a refusal, errors are scrubbed); `decode` reads a 2xx body (with the
    /// `x-acs-request-id` header, if any) — inside the attempt, so that an undecodable answer
    /// to a read is retried.
    pub async fn call<T>(
        &self,
        action: &'static str,
        idempotency: Idempotency,
        params: &Params,
        decode: impl Fn(&[u8], Option<&str>) -> Result<T>,
    ) -> Result<T> {
        let decode = &decode;
        let res = self
            .engine
            .guarded(self.engine.call(action, idempotency, || async move {
                self.attempt(action, params, decode).await
            }))
            .await;
        match &res {
            Ok(_) => self.proven.store(true, Ordering::SeqCst),
            Err(e) if e.kind().is_auth() => self.proven.store(false, Ordering::SeqCst),
            Err(_) => {}
        }
        res
    }

    /// One attempt: signed with a fresh date and nonce. A `SignatureNonceUsed` refusal (the
    /// vendor did nothing) is sent once more with a new nonce, then stands.
    async fn attempt<T>(
        &self,
        action: &'static str,
        params: &Params,
        decode: &impl Fn(&[u8], Option<&str>) -> Result<T>,
    ) -> Result<T> {
        let url = self.url(params);
        let mut nonce_retry = true;
        loop {
            let date = signer::format_date(self.clock.now());
            let nonce = (self.nonces)();
            let mut rb = self
                .http
                .post(url.clone())
                .header(ACCEPT, HeaderValue::from_static("application/json"));
            for (name, value) in self.signer.headers(action, &url, &params.0, &date, &nonce) {
                let sensitive = matches!(name, "authorization" | "x-acs-security-token");
                rb = rb.header(
                    HeaderName::from_static(name),
                    header_value(&value, sensitive)?,
                );
            }
            let answer = http::send(rb, self.max_body)
                .await
                .map_err(|e| e.with_vendor(VENDOR))?;
            let request_id = answer.header("x-acs-request-id").map(str::to_owned);
            tracing::debug!(
                vendor = VENDOR,
                action,
                http = answer.status,
                request_id,
                "answer"
            );
            if !(200..300).contains(&answer.status) {
                let retry_after = answer
                    .header("x-acs-retry-after")
                    .and_then(wire::parse_acs_retry_after)
                    .or_else(|| answer.retry_after());
                let e = wire::http_error(
                    answer.status,
                    &answer.body,
                    retry_after,
                    request_id.as_deref(),
                );
                if e.vendor_code() == Some("SignatureNonceUsed") && nonce_retry {
                    tracing::debug!(
                        vendor = VENDOR,
                        action,
                        "nonce refused as used; once more with a new one"
                    );
                    nonce_retry = false;
                    continue;
                }
                if e.kind().is_auth() {
                    self.refused(&e);
                }
                return Err(e);
            }
            return decode(&answer.body, request_id.as_deref()).map_err(|e| match request_id {
                Some(r) if e.request_id().is_none() => e.with_request_id(r),
                _ => e,
            });
        }
    }
}
