//! GeeLark error codes → normalized errors.

use std::time::Duration;

use cloudphone_core::{Error, ErrorKind};

use crate::VENDOR;

/// Envelope code of a throttled call, lifted the next minute.
pub(crate) const RATE_LIMITED: i64 = 40007;
/// Envelope code of the hourly limit: the API is then locked for two hours.
pub(crate) const LOCKED: i64 = 40014;
/// How long GeeLark locks an API after [`LOCKED`].
pub(crate) const LOCK_DURATION: Duration = Duration::from_secs(2 * 3600);
/// "Partial success": some phones were acted on.
pub(crate) const PARTIAL_SUCCESS: i64 = 40006;
/// "Partial success" and "batch completely failed": envelopes that may still carry details.
pub(crate) const PARTIAL: [i64; 2] = [PARTIAL_SUCCESS, 40009];
/// "Internal error": the vendor may have failed after acting.
pub(crate) const INTERNAL: i64 = 50000;
/// A start of a phone that is already running.
pub(crate) const ALREADY_STARTED: i64 = 43009;

/// The normalized kind and a description of a documented GeeLark code.
fn classify(code: i64) -> Option<(ErrorKind, &'static str)> {
    use ErrorKind::*;
    Some(match code {
        40003 => (
            Unauthenticated,
            "signature verification failed or invalid token",
        ),
        40013 => (Unauthenticated, "user not found"),
        40007 => (RateLimited, "rate limited, lifted the next minute"),
        40017 => (RateLimited, "too many requests, try later"),
        47002 => (
            RateLimited,
            "too many concurrent requests or resources insufficient",
        ),
        40014 => (RateLimited, "hourly limit exceeded"),
        40015 => (PermissionDenied, "insufficient permissions"),
        40016 => (PermissionDenied, "IP not in whitelist"),
        40011 => (PermissionDenied, "paid users only"),
        40001 => (InvalidArgument, "request body unreadable"),
        40002 => (InvalidArgument, "traceId empty"),
        40004 => (InvalidArgument, "parameter validation failed"),
        40008 => (InvalidArgument, "pageSize out of range"),
        40005 => (NotFound, "resource not found"),
        // Without per-phone details a partial success says that some phones were acted on,
        // not which: an answer that cannot be used, and ambiguous for a state change.
        PARTIAL_SUCCESS => (
            InvalidResponse,
            "partial success, but the answer names no phone",
        ),
        40009 => (Other, "batch completely failed"),
        42001 | 47004 => (NotFound, "cloud phone does not exist"),
        43004 | 47003 => (Expired, "cloud phone expired"),
        43005 => (Busy, "cloud phone is executing a task"),
        43006 => (Busy, "cloud phone is being remotely connected"),
        43007 => (Busy, "cloud phone is in use by another user"),
        43010 => (Busy, "cloud phone is starting"),
        43011 => (Busy, "one-click new machine in progress"),
        43021 => (Busy, "cloud phone is in use"),
        43009 => (InvalidState, "cloud phone already started"),
        43036 => (
            InvalidState,
            "cloud phone is running, operation not allowed",
        ),
        41000 => (QuotaExceeded, "insufficient task points"),
        41001 => (QuotaExceeded, "balance not enough"),
        43008 => (QuotaExceeded, "daily open limit reached"),
        47001 => (QuotaExceeded, "device concurrency limit reached"),
        43020 => (Unavailable, "currently unavailable, retry later"),
        43029 => (Unavailable, "model under maintenance, retry later"),
        43015 => (Unsupported, "one-click new machine not supported"),
        40012 => (Unsupported, "API deprecated"),
        INTERNAL => (Unavailable, "internal error"),
        _ => return None,
    })
}

/// Whether GeeLark answering `code` proves it did not act: every documented code is a refusal,
/// except a partial success (some phones were acted on) and an internal error (it may have
/// failed after acting). Unknown codes prove nothing.
fn is_refusal(code: i64) -> bool {
    !matches!(code, PARTIAL_SUCCESS | INTERNAL) && classify(code).is_some()
}

/// The normalized error for GeeLark `code` with message `msg`, answered by API `path`.
///
/// `ts_ms` (the attempt's clock) places the retry of a 40007 just after the minute turns. A
/// refusal is marked not applied, so that it never looks like a lost answer.
pub(crate) fn vendor_error(code: i64, msg: &str, path: &str, ts_ms: u64) -> Error {
    let (kind, what) = classify(code).unwrap_or((ErrorKind::Other, "unknown error"));
    let message = match code {
        LOCKED => format!(
            "hourly limit exceeded: the API `{path}` is locked for two hours{}",
            if msg.is_empty() {
                String::new()
            } else {
                format!(" ({msg})")
            }
        ),
        _ if msg.is_empty() => what.to_owned(),
        _ => msg.to_owned(),
    };
    let mut e = Error::new(kind, message)
        .with_vendor(VENDOR)
        .with_vendor_code(code.to_string());
    if is_refusal(code) {
        e = e.with_not_applied(true);
    }
    match code {
        // Never retried: more calls during the ban are pointless.
        // Shared through a rate-limit store, so that other processes do not call it either.
        LOCKED => e = e.with_temporary(false).with_lockout(LOCK_DURATION),
        RATE_LIMITED => {
            let to_next_minute = 60_000 - ts_ms % 60_000;
            // A second of slack for clock skew against the vendor's minute.
            e = e.with_retry_after(Duration::from_millis(to_next_minute + 1_000));
        }
        // "Retry later" refusals: the vendor did not act on the phone.
        43020 | 43029 => e = e.with_temporary(true).with_not_applied(true),
        _ => {}
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_follow_the_issue_table() {
        let kind = |c| vendor_error(c, "", "/p", 0).kind();
        for c in [42001, 47004] {
            assert_eq!(kind(c), ErrorKind::NotFound, "{c}");
        }
        for c in [43005, 43006, 43007, 43021, 43011, 43010] {
            assert_eq!(kind(c), ErrorKind::Busy, "{c}");
        }
        for c in [43004, 47003] {
            assert_eq!(kind(c), ErrorKind::Expired, "{c}");
        }
        for c in [43009, 43036] {
            assert_eq!(kind(c), ErrorKind::InvalidState, "{c}");
        }
        for c in [40004, 40008] {
            assert_eq!(kind(c), ErrorKind::InvalidArgument, "{c}");
        }
        for c in [41000, 41001, 43008, 47001] {
            assert_eq!(kind(c), ErrorKind::QuotaExceeded, "{c}");
        }
        for c in [40015, 40016] {
            assert_eq!(kind(c), ErrorKind::PermissionDenied, "{c}");
        }
        assert_eq!(kind(40003), ErrorKind::Unauthenticated);
        assert_eq!(kind(12345), ErrorKind::Other);
    }

    #[test]
    fn throttling_is_retryable_but_the_two_hour_lock_is_not() {
        for c in [40007, 40017, 47002] {
            let e = vendor_error(c, "", "/p", 0);
            assert_eq!(e.kind(), ErrorKind::RateLimited);
            assert!(e.is_temporary() && e.is_not_applied(), "{c}");
        }
        let e = vendor_error(40014, "超过限制", "/open/v1/phone/stop", 0);
        assert_eq!(e.kind(), ErrorKind::RateLimited);
        assert!(!e.is_temporary());
        assert!(e.message().contains("locked"), "{}", e.message());
        assert!(e.message().contains("two hours"));
        assert!(e.message().contains("/open/v1/phone/stop"));
        for c in [43020, 43029] {
            let e = vendor_error(c, "", "/p", 0);
            assert_eq!(e.kind(), ErrorKind::Unavailable);
            assert!(e.is_temporary() && e.is_not_applied());
        }
    }

    #[test]
    fn refusals_are_never_ambiguous_and_lost_work_is() {
        for c in [
            40001, 40003, 40004, 40007, 40009, 40014, 42001, 43006, 43020, 43029, 47002,
        ] {
            let e = vendor_error(c, "", "/p", 0);
            assert!(e.is_not_applied() && !e.may_have_applied(), "{c}");
        }
        for c in [40006, 50000] {
            let e = vendor_error(c, "", "/p", 0);
            assert!(e.may_have_applied(), "{c}");
        }
        // An unknown code proves nothing, but is not an ambiguous kind either.
        let e = vendor_error(12345, "", "/p", 0);
        assert!(!e.is_not_applied() && !e.may_have_applied());
    }

    #[test]
    fn throttling_waits_for_the_next_minute() {
        let e = vendor_error(40007, "", "/p", 1_716_972_892_166);
        // 52.166 s into the minute: 7.834 s to go, plus a second of slack.
        assert_eq!(e.retry_after(), Some(Duration::from_millis(8_834)));
    }

    #[test]
    fn the_vendor_message_and_code_survive() {
        let e = vendor_error(42001, "env not found", "/p", 0);
        assert_eq!(e.message(), "env not found");
        assert_eq!(e.vendor_code(), Some("42001"));
        assert_eq!(e.vendor(), Some("geelark"));
        let e = vendor_error(42001, "", "/p", 0);
        assert_eq!(e.message(), "cloud phone does not exist");
    }
}
