//! Error helpers every backend needs when it reads an answer.

use std::fmt;
use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::{Error, ErrorKind, Result};

/// An answer (or part of one) that could not be decoded, as `undecodable {what}: {cause}`.
///
/// Temporary: a read retries it; a state change does not, and its outcome is unknown (the
/// vendor answered, so it may have acted).
pub fn undecodable(
    vendor: &'static str,
    what: impl fmt::Display,
    cause: impl fmt::Display,
) -> Error {
    Error::new(
        ErrorKind::InvalidResponse,
        format!("undecodable {what}: {cause}"),
    )
    .with_vendor(vendor)
    .with_temporary(true)
}

/// `bytes` decoded as JSON, or [`undecodable`] `what`.
pub fn decode_json<T: DeserializeOwned>(
    vendor: &'static str,
    what: impl fmt::Display,
    bytes: &[u8],
) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| undecodable(vendor, what, e))
}

/// The error of a request that was not sent because the vendor refused the credentials
/// earlier: unauthenticated, with the refusal's message and vendor code, and not applied.
pub fn not_sent(vendor: &'static str, refusal: &Error) -> Error {
    Error::new(
        ErrorKind::Unauthenticated,
        format!(
            "not sent: the vendor refused the credentials earlier ({})",
            refusal.message()
        ),
    )
    .with_vendor(vendor)
    .with_vendor_code(refusal.vendor_code().unwrap_or_default().to_owned())
    .with_not_applied(true)
}

/// Context a backend adds to errors when it has it.
pub trait ErrorContext {
    /// Sets the request id when one is known and none is set yet.
    fn or_request_id(self, id: Option<&str>) -> Self;
    /// Sets the vendor's `Retry-After` when it gave one.
    fn or_retry_after(self, after: Option<Duration>) -> Self;
}

impl ErrorContext for Error {
    fn or_request_id(self, id: Option<&str>) -> Self {
        match id {
            Some(id) if self.request_id().is_none() => self.with_request_id(id),
            _ => self,
        }
    }

    fn or_retry_after(self, after: Option<Duration>) -> Self {
        match after {
            Some(after) => self.with_retry_after(after),
            None => self,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undecodable_answers_are_temporary_invalid_responses() {
        let e = decode_json::<u32>("v", "answer from `/x`", b"{").unwrap_err();
        assert_eq!(
            (e.kind(), e.vendor()),
            (ErrorKind::InvalidResponse, Some("v"))
        );
        assert!(e.is_temporary() && e.message().starts_with("undecodable answer from `/x`: "));
        assert_eq!(decode_json::<u32>("v", "answer", b"7").unwrap(), 7);
    }

    #[test]
    fn context_is_added_only_where_missing() {
        let e = Error::new(ErrorKind::Other, "x");
        assert_eq!(e.clone().or_request_id(None).request_id(), None);
        let e = e.or_request_id(Some("a")).or_request_id(Some("b"));
        assert_eq!(e.request_id(), Some("a"));
        let e = e.or_retry_after(Some(Duration::from_secs(3)));
        assert_eq!(e.retry_after(), Some(Duration::from_secs(3)));
        let refused = Error::new(ErrorKind::Unauthenticated, "bad key").with_vendor_code("401");
        let n = not_sent("v", &refused);
        assert!(n.is_not_applied() && n.kind().is_auth());
        assert_eq!(n.vendor_code(), Some("401"));
        assert!(n.message().contains("bad key"));
    }
}
