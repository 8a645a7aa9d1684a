//! One signed/authenticated HTTP exchange with CPH or IAM, and the IAM token cache.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use cloudphone_core::{BatchEngine, Error, ErrorKind, Idempotency, Result};
use reqwest::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use reqwest::{Method, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::clock::Clock;
use crate::signer::{encode_component, Signer};
use crate::wire;
use crate::VENDOR;

pub(crate) enum Auth {
    Token(SecretString),
    AkSk(Signer),
    Iam(Box<IamLogin>),
}

impl Auth {
    fn name(&self) -> &'static str {
        match self {
            Auth::Token(_) => "token",
            Auth::AkSk(_) => "aksk",
            Auth::Iam(_) => "password",
        }
    }
}

pub(crate) struct IamLogin {
    pub username: String,
    pub password: SecretString,
    pub domain: String,
    pub url: Url,
    pub margin: Duration,
    /// Held across the IAM call, so that concurrent requests share one login.
    pub cache: tokio::sync::Mutex<Option<CachedToken>>,
    /// Set once IAM refuses the password: the credentials never change within a provider, so
    /// every later caller gets the refusal instead of logging in again (repeated failures lock
    /// the account).
    pub rejected: std::sync::OnceLock<cloudphone_core::Error>,
}

pub(crate) struct CachedToken {
    token: SecretString,
    expires_at: OffsetDateTime,
    generation: u64,
}

/// A decoded answer and the `X-Request-Id` it came with.
pub(crate) struct Answer<T> {
    pub value: T,
    pub request_id: Option<String>,
}

pub(crate) struct Client {
    pub http: reqwest::Client,
    pub engine: BatchEngine,
    pub endpoint: Url,
    pub project_id: String,
    pub auth: Auth,
    pub clock: Arc<dyn Clock>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.endpoint.as_str())
            .field("project_id", &self.project_id)
            .field("auth", &self.auth.name())
            .field("clock", &self.clock)
            .field("engine", &self.engine)
            .finish()
    }
}

#[derive(Serialize)]
struct IamBody<'a> {
    auth: IamAuth<'a>,
}
#[derive(Serialize)]
struct IamAuth<'a> {
    identity: IamIdentity<'a>,
    scope: IamScope<'a>,
}
#[derive(Serialize)]
struct IamIdentity<'a> {
    methods: [&'a str; 1],
    password: IamPassword<'a>,
}
#[derive(Serialize)]
struct IamPassword<'a> {
    user: IamUser<'a>,
}
#[derive(Serialize)]
struct IamUser<'a> {
    name: &'a str,
    password: &'a str,
    domain: IamName<'a>,
}
#[derive(Serialize)]
struct IamName<'a> {
    name: &'a str,
}
#[derive(Serialize)]
struct IamScope<'a> {
    project: IamId<'a>,
}
#[derive(Serialize)]
struct IamId<'a> {
    id: &'a str,
}

#[derive(Deserialize)]
struct IamAnswer {
    #[serde(default)]
    token: Option<IamToken>,
}
#[derive(Deserialize)]
struct IamToken {
    #[serde(default)]
    expires_at: Option<String>,
}

/// Classifies a transport failure: nothing sent, timed out (ambiguous) or broken (ambiguous).
pub(crate) fn transport_error(e: reqwest::Error) -> Error {
    let (connect, timeout) = (e.is_connect(), e.is_timeout());
    let message = if connect {
        format!("could not connect: {e}")
    } else if timeout {
        format!("request timed out: {e}")
    } else {
        format!("transport failure: {e}")
    };
    Error::transport(connect, timeout, message, e).with_vendor(VENDOR)
}

fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    parse_retry_after(headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?)
}

/// `Retry-After` in seconds; the HTTP-date form is ignored (the backoff applies instead).
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// `Ok` for a 2xx answer, else the error its status and body stand for.
pub(crate) fn check_status(status: u16, body: &[u8], retry_after: Option<Duration>) -> Result<()> {
    if !(200..300).contains(&status) {
        return Err(wire::http_error(status, body, retry_after));
    }
    Ok(())
}

/// The token and its expiry from an IAM login answer. A missing or unreadable `expires_at`
/// gives an hour from `now`.
pub(crate) fn iam_answer(
    status: u16,
    retry_after: Option<Duration>,
    subject_token: Option<&str>,
    body: &[u8],
    now: impl FnOnce() -> OffsetDateTime,
) -> Result<(SecretString, OffsetDateTime)> {
    if let Err(e) = check_status(status, body, retry_after) {
        return Err(Error::new(
            e.kind(),
            format!("IAM password login failed: {}", e.message()),
        )
        .with_vendor(VENDOR)
        .with_vendor_code(e.vendor_code().unwrap_or_default().to_owned())
        .with_temporary(e.is_temporary()));
    }
    let token = subject_token.filter(|t| !t.is_empty()).ok_or_else(|| {
        Error::new(
            ErrorKind::InvalidResponse,
            "IAM answered without an X-Subject-Token header",
        )
        .with_vendor(VENDOR)
    })?;
    let answer: IamAnswer = decode(body)?;
    let expires_at = answer
        .token
        .and_then(|t| t.expires_at)
        .and_then(|s| {
            OffsetDateTime::parse(&s, &time::format_description::well_known::Rfc3339).ok()
        })
        // Without a readable expiry, assume a short life so that it is renewed soon.
        .unwrap_or_else(|| now() + Duration::from_secs(3600));
    Ok((SecretString::from(token.to_owned()), expires_at))
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
    /// `…/v1/{project_id}/cloud-phone/{segments…}?{query}`, every segment and query part
    /// encoded as one component, so an id can never escape its segment.
    pub fn url(&self, segments: &[&str], query: &[(&str, String)]) -> Result<Url> {
        let base = self.endpoint.path().trim_end_matches('/');
        let mut path = format!(
            "{base}/v1/{}/cloud-phone",
            encode_component(&self.project_id)
        );
        for seg in segments {
            if seg.is_empty() || *seg == "." || *seg == ".." {
                // URL parsers treat `.`/`..` (even as `%2E%2E`) as dot segments and would
                // move the request to another path; such an id cannot be addressed at all.
                return Err(Error::new(
                    ErrorKind::InvalidArgument,
                    format!("`{seg}` cannot be used as an id in a URL path"),
                )
                .with_vendor(VENDOR));
            }
            path.push('/');
            path.push_str(&encode_component(seg));
        }
        let mut url = self.endpoint.clone();
        url.set_path(&path);
        if query.is_empty() {
            url.set_query(None);
        } else {
            let q = query
                .iter()
                .map(|(k, v)| format!("{}={}", encode_component(k), encode_component(v)))
                .collect::<Vec<_>>()
                .join("&");
            url.set_query(Some(&q));
        }
        if url.path() != path {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("refusing a request path the URL parser rewrote: `{path}`"),
            )
            .with_vendor(VENDOR));
        }
        Ok(url)
    }

    /// Sends one CPH request through the engine (rate limit, retries), with a one-time IAM
    /// token refresh when the gateway says the token expired.
    pub async fn send<T: DeserializeOwned>(
        &self,
        endpoint: &'static str,
        idempotency: Idempotency,
        method: Method,
        url: &Url,
        body: Option<Vec<u8>>,
    ) -> Result<Answer<T>> {
        let mut stale = None;
        loop {
            let token = match &self.auth {
                // Nothing reached CPH yet, so even a reset may be retried by the caller.
                Auth::Iam(login) => Some(
                    self.iam_token(login, stale)
                        .await
                        .map_err(|e| e.with_not_applied(true))?,
                ),
                _ => None,
            };
            let bearer = token.as_ref().map(|(t, _)| t);
            let res = self
                .engine
                .call(endpoint, idempotency, || {
                    self.attempt::<T>(method.clone(), url, body.as_deref(), bearer)
                })
                .await;
            match (res, &self.auth) {
                (Err(e), Auth::Iam(_)) if wire::is_token_expired(&e) => {
                    if stale.is_some() {
                        return Err(Error::new(
                            ErrorKind::Unauthenticated,
                            format!(
                                "the gateway rejected a freshly issued IAM token as expired \
                                 (check the clock and the token's region): {}",
                                e.message()
                            ),
                        )
                        .with_vendor(VENDOR)
                        .with_vendor_code(e.vendor_code().unwrap_or_default().to_owned()));
                    }
                    tracing::debug!(vendor = VENDOR, "IAM token expired; logging in again");
                    stale = token.map(|(_, gen)| gen);
                }
                (Err(e), Auth::Token(_)) if wire::is_token_expired(&e) => {
                    return Err(Error::new(
                        ErrorKind::Unauthenticated,
                        format!("the configured `token` has expired: {}", e.message()),
                    )
                    .with_vendor(VENDOR)
                    .with_vendor_code(e.vendor_code().unwrap_or_default().to_owned()));
                }
                (res, _) => return res,
            }
        }
    }

    async fn attempt<T: DeserializeOwned>(
        &self,
        method: Method,
        url: &Url,
        body: Option<&[u8]>,
        bearer: Option<&SecretString>,
    ) -> Result<Answer<T>> {
        let mut rb = self.http.request(method.clone(), url.clone());
        if body.is_some() {
            rb = rb.header(CONTENT_TYPE, "application/json");
        }
        match &self.auth {
            Auth::Token(t) => {
                rb = rb.header("X-Auth-Token", header_value(t.expose_secret(), true)?);
            }
            Auth::Iam(_) => {
                let t = bearer.expect("an IAM token is fetched before each call");
                rb = rb.header("X-Auth-Token", header_value(t.expose_secret(), true)?);
            }
            Auth::AkSk(signer) => {
                let headers = signer.signed_headers(
                    method.as_str(),
                    url,
                    self.clock.now(),
                    &[("X-Project-Id", &self.project_id)],
                    body.unwrap_or_default(),
                );
                for (k, v) in headers {
                    let sensitive = k.eq_ignore_ascii_case("x-security-token");
                    let name = HeaderName::from_bytes(k.as_bytes()).expect("static header names");
                    rb = rb.header(name, header_value(&v, sensitive)?);
                }
            }
        }
        if let Some(b) = body {
            rb = rb.body(b.to_vec());
        }
        let (request_id, bytes) = self.exchange(rb).await?;
        Ok(Answer {
            value: decode(&bytes)?,
            request_id,
        })
    }

    /// Sends, reads the whole body, and turns a non-2xx answer into the mapped error.
    async fn exchange(&self, rb: reqwest::RequestBuilder) -> Result<(Option<String>, Vec<u8>)> {
        let resp = rb.send().await.map_err(transport_error)?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let request_id = headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = resp.bytes().await.map_err(transport_error)?;
        check_status(status, &bytes, retry_after(&headers))?;
        Ok((request_id, bytes.to_vec()))
    }

    /// The cached IAM token, or a new one when it is missing, due for refresh, or the one the
    /// caller saw rejected (`stale` generation). Concurrent callers wait on the same lock and
    /// share one login.
    async fn iam_token(&self, login: &IamLogin, stale: Option<u64>) -> Result<(SecretString, u64)> {
        let mut cache = login.cache.lock().await;
        if let Some(e) = login.rejected.get() {
            return Err(e.clone());
        }
        let now = self.clock.now();
        if let Some(c) = cache.as_ref() {
            // Checked: a margin past the date range (accepted by the config) means never
            // fresh, not a panic.
            let fresh = time::Duration::try_from(login.margin)
                .ok()
                .and_then(|m| now.checked_add(m))
                .is_some_and(|due| due < c.expires_at);
            if fresh && stale != Some(c.generation) {
                return Ok((c.token.clone(), c.generation));
            }
        }
        let generation = cache.as_ref().map_or(1, |c| c.generation + 1);
        let (token, expires_at) = self
            .engine
            .call("iam-token", Idempotency::ReadOnly, || self.iam_login(login))
            .await
            .inspect_err(|e| {
                if e.kind().is_auth() {
                    let _ = login.rejected.set(e.clone());
                }
            })?;
        *cache = Some(CachedToken {
            token: token.clone(),
            expires_at,
            generation,
        });
        Ok((token, generation))
    }

    async fn iam_login(&self, login: &IamLogin) -> Result<(SecretString, OffsetDateTime)> {
        let body = IamBody {
            auth: IamAuth {
                identity: IamIdentity {
                    methods: ["password"],
                    password: IamPassword {
                        user: IamUser {
                            name: &login.username,
                            password: login.password.expose_secret(),
                            domain: IamName {
                                name: &login.domain,
                            },
                        },
                    },
                },
                scope: IamScope {
                    project: IamId {
                        id: &self.project_id,
                    },
                },
            },
        };
        let bytes = serde_json::to_vec(&body).expect("plain strings serialize");
        let rb = self
            .http
            .post(login.url.clone())
            .header(CONTENT_TYPE, "application/json;charset=utf8")
            .body(bytes);
        let resp = rb.send().await.map_err(transport_error)?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.bytes().await.map_err(transport_error)?;
        let token = headers.get("x-subject-token").and_then(|v| v.to_str().ok());
        iam_answer(status, retry_after(&headers), token, &body, || {
            self.clock.now()
        })
    }
}

/// Decodes a 2xx body; an undecodable one is a temporary invalid response.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| {
        Error::new(
            ErrorKind::InvalidResponse,
            format!("undecodable answer: {e}"),
        )
        .with_vendor(VENDOR)
        .with_temporary(true)
    })
}
