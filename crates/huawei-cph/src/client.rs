//! One signed/authenticated HTTP exchange with CPH or IAM, and the IAM token cache.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cloudphone_core::raw::{decode_json, http, BatchEngine, ErrorContext, Idempotency};
use cloudphone_core::{Error, ErrorKind, Result};
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
    /// The newest token generation CPH accepted at least once.
    pub accepted: AtomicU64,
}

pub(crate) struct CachedToken {
    token: SecretString,
    expires_at: OffsetDateTime,
    generation: u64,
    /// Issued because CPH rejected the previous token as expired.
    after_rejection: bool,
}

/// A token handed to one request: the secret, its generation, and whether it was issued
/// because the previous one was rejected.
struct IssuedToken {
    token: SecretString,
    generation: u64,
    after_rejection: bool,
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
    /// The largest answer body read.
    pub max_body: usize,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.endpoint.as_str())
            .field("project_id", &self.project_id)
            .field("auth", &self.auth.name())
            .field("clock", &self.clock)
            .field("max_body", &self.max_body)
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

/// `Ok` for a 2xx answer, else the error its status and body stand for, carrying the
/// `X-Request-Id` (or the body's `request_id`).
pub(crate) fn check_status(
    status: u16,
    body: &[u8],
    retry_after: Option<Duration>,
    request_id: Option<&str>,
) -> Result<()> {
    if !(200..300).contains(&status) {
        return Err(wire::http_error(status, body, retry_after, request_id));
    }
    Ok(())
}

/// The token and its expiry from an IAM login answer. A missing or unreadable `expires_at`
/// gives an hour from `now`.
pub(crate) fn iam_answer(
    status: u16,
    retry_after: Option<Duration>,
    request_id: Option<&str>,
    subject_token: Option<&str>,
    body: &[u8],
    now: impl FnOnce() -> OffsetDateTime,
) -> Result<(SecretString, OffsetDateTime)> {
    if let Err(e) = check_status(status, body, retry_after, request_id) {
        let mut login = Error::new(
            e.kind(),
            format!("IAM password login failed: {}", e.message()),
        )
        .with_vendor(VENDOR)
        .with_vendor_code(e.vendor_code().unwrap_or_default().to_owned())
        .with_temporary(e.is_temporary())
        .with_not_applied(e.is_not_applied());
        if let Some(after) = e.retry_after() {
            login = login.with_retry_after(after);
        }
        if let Some(rid) = e.request_id() {
            login = login.with_request_id(rid);
        }
        return Err(login);
    }
    let token = subject_token.filter(|t| !t.is_empty()).ok_or_else(|| {
        Error::new(
            ErrorKind::InvalidResponse,
            "IAM answered without an X-Subject-Token header",
        )
        .with_vendor(VENDOR)
    })?;
    let answer: IamAnswer = decode(body).map_err(|e| e.or_request_id(request_id))?;
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

    /// Records a refusal of the credentials with the engine at once (scrubbed: the engine
    /// logs it).
    fn refused(&self, e: &Error) {
        let e = self.engine.scrubber().scrub_error(e.clone());
        self.engine.note::<()>(&Err(e));
    }

    /// Whether the credentials were accepted since they were last refused (the engine keeps
    /// it: every request runs under [`BatchEngine::guarded`]).
    pub fn proven(&self) -> bool {
        self.engine.credentials_proven()
    }

    /// Sends one CPH request through the engine (rate limit, retries), with a one-time IAM
    /// token refresh when the gateway says the token expired.
    ///
    /// The whole exchange runs under the engine's credential rules ([`BatchEngine::guarded`]):
    /// nothing is sent (no IAM login either) once the vendor refused the credentials, a new
    /// refusal is remembered, and errors are scrubbed of every known secret.
    pub async fn send<T: DeserializeOwned>(
        &self,
        endpoint: &'static str,
        idempotency: Idempotency,
        method: Method,
        url: &Url,
        body: Option<Vec<u8>>,
    ) -> Result<Answer<T>> {
        self.send_with(endpoint, idempotency, method, url, body, &decode::<T>)
            .await
    }

    /// [`Client::send`] with the 2xx body turned into `T` by `decode`, inside the attempt (an
    /// undecodable answer is retried like any other temporary failure of a read). Pages are
    /// decoded this way into what the caller keeps of them, with borrowed strings, instead of
    /// whole vendor records.
    pub async fn send_with<T>(
        &self,
        endpoint: &'static str,
        idempotency: Idempotency,
        method: Method,
        url: &Url,
        body: Option<Vec<u8>>,
        decode: &(dyn Fn(&[u8]) -> Result<T> + Sync),
    ) -> Result<Answer<T>> {
        self.engine
            .guarded(self.send_unguarded(endpoint, idempotency, method, url, body, decode))
            .await
    }

    async fn send_unguarded<T>(
        &self,
        endpoint: &'static str,
        idempotency: Idempotency,
        method: Method,
        url: &Url,
        body: Option<Vec<u8>>,
        decode: &(dyn Fn(&[u8]) -> Result<T> + Sync),
    ) -> Result<Answer<T>> {
        let mut stale = None;
        loop {
            let issued = match &self.auth {
                // Nothing reached CPH yet, so even a reset may be retried by the caller.
                Auth::Iam(login) => Some(
                    self.iam_token(login, stale)
                        .await
                        .map_err(|e| e.with_not_applied(true))?,
                ),
                _ => None,
            };
            let bearer = issued.as_ref().map(|t| &t.token);
            let res = self
                .engine
                .call(endpoint, idempotency, || {
                    self.attempt::<T>(method.clone(), url, body.as_deref(), bearer, decode)
                })
                .await;
            if let (Auth::Iam(login), Some(t)) = (&self.auth, &issued) {
                // Anything but an expired-token answer means the gateway took the token (a 5xx
                // or a per-phone error comes after authentication; a cut connection proves
                // nothing, and counting it only costs one more login if the token was bad).
                if !matches!(&res, Err(e) if wire::is_token_expired(e)) {
                    login.accepted.fetch_max(t.generation, Ordering::SeqCst);
                }
            }
            match (res, &self.auth, issued) {
                (Ok(answer), Auth::Iam(_), Some(_)) => return Ok(answer),
                (Err(e), Auth::Iam(login), Some(t)) if wire::is_token_expired(&e) => {
                    // A token issued because its predecessor was rejected, and rejected itself
                    // before CPH ever took it, will not be cured by another login (a clock or
                    // region problem): say so instead of logging in again and again.
                    let fresh =
                        t.after_rejection && login.accepted.load(Ordering::SeqCst) < t.generation;
                    if stale.is_some() || fresh {
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
                    stale = Some(t.generation);
                }
                (Err(e), Auth::Token(_), _) if wire::is_token_expired(&e) => {
                    return Err(Error::new(
                        ErrorKind::Unauthenticated,
                        format!("the configured `token` has expired: {}", e.message()),
                    )
                    .with_vendor(VENDOR)
                    .with_vendor_code(e.vendor_code().unwrap_or_default().to_owned()));
                }
                (res, _, _) => return res,
            }
        }
    }

    async fn attempt<T>(
        &self,
        method: Method,
        url: &Url,
        body: Option<&[u8]>,
        bearer: Option<&SecretString>,
        decode: &(dyn Fn(&[u8]) -> Result<T> + Sync),
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
        let answer = http::send(rb, self.max_body)
            .await
            .map_err(|e| e.with_vendor(VENDOR))?;
        let request_id = answer.header("x-request-id").map(str::to_owned);
        check_status(
            answer.status,
            &answer.body,
            answer.retry_after(),
            request_id.as_deref(),
        )
        .inspect_err(|e| {
            // Recorded the moment it arrives, not when the answer has travelled back up: no
            // request of another task may start in between. An expired IAM token is not a
            // refusal (a new login may cure it).
            let expired_iam = matches!(self.auth, Auth::Iam(_)) && wire::is_token_expired(e);
            if e.kind().is_auth() && !expired_iam {
                self.refused(e);
            }
        })?;
        let value = decode(&answer.body).map_err(|e| e.or_request_id(request_id.as_deref()))?;
        Ok(Answer { value, request_id })
    }

    /// The cached IAM token, or a new one when it is missing, due for refresh, or the one the
    /// caller saw rejected (`stale` generation). Concurrent callers wait on the same lock and
    /// share one login. A refused login is remembered by the engine (the caller runs under
    /// [`BatchEngine::guarded`]), so the password is never sent again.
    async fn iam_token(&self, login: &IamLogin, stale: Option<u64>) -> Result<IssuedToken> {
        let mut cache = login.cache.lock().await;
        let now = self.clock.now();
        if let Some(c) = cache.as_ref() {
            // Checked: a margin past the date range (accepted by the config) means never
            // fresh, not a panic.
            let fresh = time::Duration::try_from(login.margin)
                .ok()
                .and_then(|m| now.checked_add(m))
                .is_some_and(|due| due < c.expires_at);
            if fresh && stale != Some(c.generation) {
                return Ok(IssuedToken {
                    token: c.token.clone(),
                    generation: c.generation,
                    after_rejection: c.after_rejection,
                });
            }
        }
        let generation = cache.as_ref().map_or(1, |c| c.generation + 1);
        let after_rejection = stale.is_some();
        let (token, expires_at) = self
            .engine
            .call("iam-token", Idempotency::ReadOnly, || self.iam_login(login))
            .await
            .inspect_err(|e| {
                // Before the lock is released: a caller waiting on it must find the refusal.
                if e.kind().is_auth() {
                    self.refused(e);
                }
            })?;
        *cache = Some(CachedToken {
            token: token.clone(),
            expires_at,
            generation,
            after_rejection,
        });
        Ok(IssuedToken {
            token,
            generation,
            after_rejection,
        })
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
        let answer = http::send(rb, self.max_body)
            .await
            .map_err(|e| e.with_vendor(VENDOR))?;
        let token = answer.header("x-subject-token");
        let issued = iam_answer(
            answer.status,
            answer.retry_after(),
            answer.header("x-request-id"),
            token,
            &answer.body,
            || self.clock.now(),
        )?;
        // Scrubbed from here on: a vendor echoing our token must not put it in an error.
        self.engine.scrubber().add(issued.0.expose_secret());
        Ok(issued)
    }
}

/// Decodes a 2xx body; an undecodable one is a temporary invalid response.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    decode_json(VENDOR, "answer", bytes)
}
