//! Normalized errors: one [`ErrorKind`] for every vendor, the vendor's own code and message kept.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Shorthand for results whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, in vendor-neutral terms.
///
/// Backends map every vendor code to one of these; the raw code survives in
/// [`Error::vendor_code`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The phone (or job) does not exist.
    NotFound,
    /// The phone is busy (executing a task, remotely connected, in use).
    Busy,
    /// The phone is in a state that does not allow the operation.
    InvalidState,
    /// The request was malformed or a value was out of range.
    InvalidArgument,
    /// Credentials were missing, wrong or expired.
    Unauthenticated,
    /// Credentials were accepted but lack the right (or the IP is not allowed).
    PermissionDenied,
    /// The vendor throttled the call; it is safe to retry later.
    RateLimited,
    /// An account quota, balance or hard limit was reached.
    QuotaExceeded,
    /// The phone or its subscription expired.
    Expired,
    /// The vendor or the network was unavailable (5xx, connection failure).
    Unavailable,
    /// The call or the wait ran out of time.
    Timeout,
    /// The vendor does not offer this operation.
    Unsupported,
    /// The vendor answered the batch but said nothing about this phone.
    MissingFromResponse,
    /// The vendor's answer could not be understood.
    InvalidResponse,
    /// The local configuration is wrong.
    Config,
    /// Anything else; see the vendor code and message.
    Other,
}

impl ErrorKind {
    /// A stable snake_case name, used in JSON output and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "not_found",
            ErrorKind::Busy => "busy",
            ErrorKind::InvalidState => "invalid_state",
            ErrorKind::InvalidArgument => "invalid_argument",
            ErrorKind::Unauthenticated => "unauthenticated",
            ErrorKind::PermissionDenied => "permission_denied",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::QuotaExceeded => "quota_exceeded",
            ErrorKind::Expired => "expired",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::MissingFromResponse => "missing_from_response",
            ErrorKind::InvalidResponse => "invalid_response",
            ErrorKind::Config => "config",
            ErrorKind::Other => "other",
        }
    }

    /// Whether an error of this kind is, by default, worth trying again later.
    pub fn is_temporary(self) -> bool {
        matches!(
            self,
            ErrorKind::RateLimited | ErrorKind::Unavailable | ErrorKind::Timeout
        )
    }

    /// Whether this kind means the credentials themselves were refused.
    ///
    /// Such an error stops a batch at once: vendors lock keys after repeated failures.
    pub fn is_auth(self) -> bool {
        matches!(self, ErrorKind::Unauthenticated)
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error from a provider: a normalized kind, the vendor's code and message, and whether a
/// retry is safe.
///
/// Cheap to clone (one chunk failure becomes the outcome of every phone in the chunk). Messages
/// never carry credentials: backends build them from vendor answers and static text only.
#[derive(Clone)]
pub struct Error {
    // Boxed: outcomes carry errors, and a 100,000-phone report should not pay for a large
    // error in every successful outcome.
    inner: Box<Inner>,
}

#[derive(Clone)]
struct Inner {
    kind: ErrorKind,
    message: String,
    vendor: Option<&'static str>,
    vendor_code: Option<String>,
    temporary: bool,
    persistent: bool,
    not_applied: bool,
    retry_after: Option<Duration>,
    lockout: Option<Duration>,
    context: Context,
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

/// Where an error happened: filled in by the engine and the backends, shown by `Display`.
#[derive(Clone, Default)]
struct Context {
    operation: Option<crate::Operation>,
    endpoint: Option<&'static str>,
    request_id: Option<String>,
    attempts: u32,
    first_cause: Option<String>,
}

impl Error {
    /// A new error of `kind`; temporariness defaults to [`ErrorKind::is_temporary`].
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            inner: Box::new(Inner {
                kind,
                message: message.into(),
                vendor: None,
                vendor_code: None,
                temporary: kind.is_temporary(),
                persistent: false,
                // A throttling answer is a refusal: the vendor did not act on the request.
                not_applied: kind == ErrorKind::RateLimited,
                retry_after: None,
                lockout: None,
                context: Context::default(),
                source: None,
            }),
        }
    }

    /// A 3xx answer. Redirects are never followed (credentials must not reach another host and a
    /// state change must not be re-sent); the vendor's endpoint did not act on the request, it
    /// pointed elsewhere, so the error is permanent and "not applied".
    pub fn redirect(status: u16, location: Option<&str>) -> Self {
        let host = location
            .map(|l| match l.split_once("://") {
                Some((_, rest)) => rest.split(['/', '?', '#']).next().unwrap_or(rest),
                None => "(same host)",
            })
            // The user-info part of a URL may carry credentials: name the host only.
            .map(|h| h.rsplit('@').next().unwrap_or(h).to_owned());
        let to = host.map_or_else(
            || "no Location".to_owned(),
            |h| format!("Location host `{h}`"),
        );
        Error::new(
            ErrorKind::InvalidResponse,
            format!("the endpoint answered HTTP {status} ({to}); redirects are never followed, so check the configured endpoint"),
        )
        .with_temporary(false)
        .with_not_applied(true)
    }

    /// An answer body larger than `limit` bytes: an error, not retried (the next answer would be
    /// as large). For a state change it is ambiguous: the vendor answered, so it may have acted.
    pub fn body_too_large(limit: usize) -> Self {
        Error::new(
            ErrorKind::InvalidResponse,
            format!("the answer body exceeds the {limit}-byte limit (`max_body_bytes`)"),
        )
        .with_temporary(false)
    }

    /// The operation is not offered by `vendor`.
    pub fn unsupported(vendor: &'static str, operation: crate::Operation) -> Self {
        Error::new(
            ErrorKind::Unsupported,
            format!("{vendor} does not support the `{operation}` operation"),
        )
        .with_vendor(vendor)
    }

    /// Classifies a request that got no HTTP answer at all, for the retry rules.
    ///
    /// `connect`: the connection was never established, so nothing reached the vendor and even
    /// a state change may be repeated — unless the TLS handshake failed (a bad or untrusted
    /// certificate), which no retry can fix. `timeout`: the vendor may have acted, so only
    /// reads are repeated. Anything else (a reset connection, a cut body) is ambiguous too.
    pub fn transport(
        connect: bool,
        timeout: bool,
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        let e = if connect && is_tls_failure(&source) {
            Error::new(ErrorKind::Unavailable, message)
                .with_temporary(false)
                .with_not_applied(true)
        } else if connect {
            Error::new(ErrorKind::Unavailable, message).with_not_applied(true)
        } else if timeout {
            Error::new(ErrorKind::Timeout, message)
        } else {
            Error::new(ErrorKind::Unavailable, message)
        };
        e.with_source(source)
    }

    /// Names the vendor that produced the error.
    pub fn with_vendor(mut self, vendor: &'static str) -> Self {
        self.inner.vendor = Some(vendor);
        self
    }

    /// Keeps the vendor's own error code (e.g. `42001`, `CPS.0004`).
    pub fn with_vendor_code(mut self, code: impl Into<String>) -> Self {
        self.inner.vendor_code = Some(code.into());
        self
    }

    /// Overrides whether retrying later may succeed.
    pub fn with_temporary(mut self, temporary: bool) -> Self {
        self.inner.temporary = temporary;
        self
    }

    /// Records that the vendor provably did not act on the request (connection refused before
    /// anything was sent, a throttling answer), which makes even a state-changing call safe to
    /// retry.
    pub fn with_not_applied(mut self, not_applied: bool) -> Self {
        self.inner.not_applied = not_applied;
        self
    }

    /// How long the vendor asked us to wait before retrying.
    pub fn with_retry_after(mut self, after: Duration) -> Self {
        self.inner.retry_after = Some(after);
        self
    }

    /// Records that the vendor locked the endpoint for this long (GeeLark bans an API for two
    /// hours past its hourly limit): the engine records the lock-out in a shared rate-limit
    /// store, so that no process sharing it calls the endpoint until then.
    pub fn with_lockout(mut self, duration: Duration) -> Self {
        self.inner.lockout = Some(duration);
        self
    }

    /// Marks a temporary failure that stayed: the retries (or the retry budget or deadline)
    /// were spent on it. Retrying at once is pointless; later may work.
    pub fn with_persistent(mut self, persistent: bool) -> Self {
        self.inner.persistent = persistent;
        self
    }

    /// How long the vendor locked the endpoint, if this error says it did
    /// ([`Error::with_lockout`]).
    pub fn lockout(&self) -> Option<Duration> {
        self.inner.lockout
    }

    /// Names the batch operation the error happened in.
    pub fn with_operation(mut self, operation: crate::Operation) -> Self {
        self.inner.context.operation = Some(operation);
        self
    }

    /// Names the vendor endpoint (API) the error came from.
    pub fn with_endpoint(mut self, endpoint: &'static str) -> Self {
        self.inner.context.endpoint = Some(endpoint);
        self
    }

    /// Keeps the vendor's id for the request (`X-Request-Id`, GeeLark `traceId` …), for support.
    pub fn with_request_id(mut self, id: impl Into<String>) -> Self {
        self.inner.context.request_id = Some(id.into());
        self
    }

    /// Records how many attempts were made, and the first distinct cause when it differs from
    /// this (the last) one, so that a retried failure names where it started.
    pub fn with_attempts(mut self, attempts: u32, first_cause: Option<String>) -> Self {
        self.inner.context.attempts = attempts;
        self.inner.context.first_cause = first_cause;
        self
    }

    /// Rewrites every text the error carries (message, vendor code, cause, first cause) with
    /// `f`, e.g. to redact secrets a vendor echoed. A source whose text changes is replaced by
    /// its rewritten text.
    pub fn map_text(mut self, f: impl Fn(&str) -> Option<String>) -> Self {
        let inner = &mut *self.inner;
        if let Some(m) = f(&inner.message) {
            inner.message = m;
        }
        if let Some(c) = inner.vendor_code.as_deref().and_then(&f) {
            inner.vendor_code = Some(c);
        }
        if let Some(fc) = inner.context.first_cause.as_deref().and_then(&f) {
            inner.context.first_cause = Some(fc);
        }
        if let Some(r) = inner.context.request_id.as_deref().and_then(&f) {
            inner.context.request_id = Some(r);
        }
        if let Some(src) = &inner.source {
            // Debug too: a cause's Debug may show more than its Display.
            let shown = format!("{src} {src:?}");
            if f(&shown).is_some() {
                let text = f(&src.to_string()).unwrap_or_else(|| src.to_string());
                inner.source = Some(Arc::new(Redacted(text)));
            }
        }
        self
    }

    /// Attaches the underlying cause.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.inner.source = Some(Arc::new(source));
        self
    }

    /// The normalized kind.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// The human-readable message (the vendor's, where it gave one).
    pub fn message(&self) -> &str {
        &self.inner.message
    }

    /// The vendor that produced the error, if any.
    pub fn vendor(&self) -> Option<&'static str> {
        self.inner.vendor
    }

    /// The vendor's raw error code, if any.
    pub fn vendor_code(&self) -> Option<&str> {
        self.inner.vendor_code.as_deref()
    }

    /// Whether trying again later may succeed.
    pub fn is_temporary(&self) -> bool {
        self.inner.temporary
    }

    /// Whether the vendor provably did not act on the request.
    pub fn is_not_applied(&self) -> bool {
        self.inner.not_applied
    }

    /// The delay the vendor asked for, if it named one.
    pub fn retry_after(&self) -> Option<Duration> {
        self.inner.retry_after
    }

    /// Whether this is a temporary failure the retries were spent on (temporary, but it
    /// persisted): neither "try again now" nor "never".
    pub fn is_persistent(&self) -> bool {
        self.inner.persistent
    }

    /// The batch operation the error happened in, if known.
    pub fn operation(&self) -> Option<crate::Operation> {
        self.inner.context.operation
    }

    /// The vendor endpoint (API) the error came from, if known.
    pub fn endpoint(&self) -> Option<&'static str> {
        self.inner.context.endpoint
    }

    /// The vendor's id for the failed request, if it gave one.
    pub fn request_id(&self) -> Option<&str> {
        self.inner.context.request_id.as_deref()
    }

    /// How many attempts were made (0 when not recorded).
    pub fn attempts(&self) -> u32 {
        self.inner.context.attempts
    }

    /// The first distinct cause of a retried failure, when it differs from the last.
    pub fn first_cause(&self) -> Option<&str> {
        self.inner.context.first_cause.as_deref()
    }

    /// Whether a state change that ended in this error may nevertheless have been applied: the
    /// request was sent and its answer was lost or unusable (a timeout, a cut connection, a 5xx,
    /// an undecodable 2xx). Such an outcome is *unknown*, never "failed".
    pub fn may_have_applied(&self) -> bool {
        !self.inner.not_applied
            && matches!(
                self.inner.kind,
                ErrorKind::Timeout | ErrorKind::Unavailable | ErrorKind::InvalidResponse
            )
    }
}

/// A cause whose text had to be rewritten (see [`Error::map_text`]).
#[derive(Debug)]
struct Redacted(String);

impl fmt::Display for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Redacted {}

/// Whether `e` (or a cause of it) is a failed TLS handshake: tokio-rustls reports those as
/// I/O errors of kind `InvalidData`. (Messages are not searched: they may quote the URL.)
fn is_tls_failure(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        // An I/O error wrapping another hides it from `source()`: look inside by hand.
        let mut io = err.downcast_ref::<std::io::Error>();
        while let Some(i) = io {
            if i.kind() == std::io::ErrorKind::InvalidData {
                return true;
            }
            io = i
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<std::io::Error>());
        }
        cur = err.source();
    }
    false
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.inner.kind)
            .field("message", &self.inner.message);
        if let Some(v) = self.inner.vendor {
            d.field("vendor", &v);
        }
        if let Some(c) = &self.inner.vendor_code {
            d.field("vendor_code", c);
        }
        d.field("temporary", &self.inner.temporary);
        if self.inner.persistent {
            d.field("persistent", &true);
        }
        let c = &self.inner.context;
        if let Some(o) = c.operation {
            d.field("operation", &o);
        }
        if let Some(e) = c.endpoint {
            d.field("endpoint", &e);
        }
        if let Some(r) = &c.request_id {
            d.field("request_id", r);
        }
        if c.attempts > 0 {
            d.field("attempts", &c.attempts);
        }
        if let Some(s) = &self.inner.source {
            d.field("source", &s.to_string());
        }
        d.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(v) = self.inner.vendor {
            write!(f, "{v}: ")?;
        }
        write!(f, "{}", self.inner.kind)?;
        if let Some(c) = &self.inner.vendor_code {
            write!(f, " ({c})")?;
        }
        if !self.inner.message.is_empty() {
            write!(f, ": {}", self.inner.message)?;
        }
        let c = &self.inner.context;
        if c.attempts > 1 {
            write!(f, " (after {} attempts", c.attempts)?;
            if let Some(first) = &c.first_cause {
                write!(f, "; first: {first}")?;
            }
            write!(f, ")")?;
        }
        if let Some(r) = &c.request_id {
            write!(f, " [request {r}]")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner
            .source
            .as_deref()
            .map(|s| s as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_vendor_kind_code_and_message() {
        let e = Error::new(ErrorKind::NotFound, "env not found")
            .with_vendor("acme")
            .with_vendor_code("42001");
        assert_eq!(e.to_string(), "acme: not_found (42001): env not found");
        assert!(!e.is_temporary());
    }

    #[test]
    fn transport_failures_are_classified_for_retries() {
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let e = Error::transport(true, false, "connect", refused);
        assert!(e.is_temporary() && e.is_not_applied());
        // As hyper-rustls reports it: an I/O error wrapping the handshake's I/O error.
        let tls = std::io::Error::other(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "invalid peer certificate",
        ));
        let e = Error::transport(true, false, "connect", tls);
        assert!(
            !e.is_temporary(),
            "a bad certificate is not fixed by retrying"
        );
        let timeout = std::io::Error::new(std::io::ErrorKind::TimedOut, "timed out");
        let e = Error::transport(false, true, "send", timeout);
        assert_eq!(e.kind(), ErrorKind::Timeout);
        assert!(e.is_temporary() && !e.is_not_applied());
    }

    #[test]
    fn throttling_is_temporary_and_not_applied_by_default() {
        let e = Error::new(ErrorKind::RateLimited, "slow down");
        assert!(e.is_temporary());
        assert!(e.is_not_applied());
        let e = Error::new(ErrorKind::Unavailable, "502");
        assert!(e.is_temporary());
        assert!(!e.is_not_applied(), "a 5xx may come after the vendor acted");
    }
}
