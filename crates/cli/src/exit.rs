//! How a command ends: the error every command returns and the process exit codes.
//!
//! | code | meaning |
//! |---:|---|
//! | 0 | everything succeeded |
//! | 1 | some phones failed (or, after waiting, did not finish) |
//! | 2 | a usage or configuration mistake |
//! | 3 | credentials were refused (for any phone, or while waiting) |
//! | 4 | every phone failed on the vendor or the network |
//! | 5 | some change was sent but its answer was lost: it may have been applied |
//! | 6 | the output could not be written (work may have been done) |
//! | 7 | refused: a previous reset of these phones is unfinished or unknown in the journal (nothing sent) |
//! | 130 / 143 | stopped by SIGINT / SIGTERM, after printing what was known |
//!
//! When several apply, the first in this order wins: a refusal (3), an unknown outcome (5),
//! then 0, 1 or 4 from the counts ([`exit_code`]). The README documents the same table.

use cloudphone::{ErrorKind, FleetReport};

/// Why a command stopped early: a mistake in how it was called or configured (exit code 2),
/// or output that could not be written (exit code 6) — after work may already have been sent,
/// so it must not pass for a usage error.
#[derive(Debug)]
pub(crate) enum Failure {
    /// A usage or configuration mistake.
    Usage(String),
    /// Writing the output failed (`> /dev/full`, a closed pipe); the I/O error's text.
    Output(String),
}

/// The error every command returns. Most are usage mistakes, built as `UsageError(message)`;
/// [`io`] makes the output failures.
pub(crate) type UsageError = Failure;

/// A usage or configuration mistake (exit code 2).
#[allow(non_snake_case)]
pub(crate) fn UsageError(message: String) -> Failure {
    Failure::Usage(message)
}

/// An output write failure: exit code 6, never a usage error.
pub(crate) fn io(e: std::io::Error) -> UsageError {
    Failure::Output(e.to_string())
}

/// Exit codes, as documented in the README.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    /// Everything succeeded.
    Ok,
    /// Some phones failed (or did not finish while waiting).
    SomeFailed,
    /// A usage or configuration mistake.
    Usage,
    /// Credentials were refused.
    Auth,
    /// Every phone failed on the vendor or the network.
    Vendor,
    /// Some change was sent but its answer was lost: it may have been applied.
    Unknown,
    /// The output could not be written (work may have been done).
    Output,
    /// Refused before sending: a previous reset of the phones is unfinished or unknown in the
    /// journal.
    Unsettled,
    /// Stopped by a signal: 130 (SIGINT) or 143 (SIGTERM), after printing what was known.
    Signal(u8),
}

impl Exit {
    /// The process exit code, as documented in the README.
    pub(crate) fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::SomeFailed => 1,
            Exit::Usage => 2,
            Exit::Auth => 3,
            Exit::Vendor => 4,
            Exit::Unknown => 5,
            Exit::Output => 6,
            Exit::Unsettled => 7,
            Exit::Signal(code) => code,
        }
    }
}

/// 3 credentials were refused (for any phone, or while waiting); 5 some change may or may not
/// have been applied (unknown); 0 all succeeded; 1 some failed (or, after waiting, did not
/// finish); 4 every phone failed on the vendor or the network.
pub(crate) fn exit_code(report: &FleetReport, waited: bool) -> Exit {
    let s = report.summary();
    let refused = report.outcomes.iter().any(|o| {
        o.outcome.cause().is_some_and(|e| e.kind().is_auth())
            || o.outcome
                .wait_error
                .as_ref()
                .is_some_and(|e| e.kind().is_auth())
    });
    if refused {
        return Exit::Auth;
    }
    if s.unknown > 0 {
        return Exit::Unknown;
    }
    if s.failed == 0 {
        return if waited && s.pending > 0 {
            Exit::SomeFailed
        } else {
            Exit::Ok
        };
    }
    if s.failed < s.total {
        return Exit::SomeFailed;
    }
    let kinds: Vec<ErrorKind> = report
        .outcomes
        .iter()
        .filter_map(|o| o.outcome.error().map(|e| e.kind()))
        .collect();
    if kinds.iter().all(|k| {
        matches!(
            k,
            ErrorKind::Unavailable
                | ErrorKind::Timeout
                | ErrorKind::RateLimited
                | ErrorKind::InvalidResponse
                | ErrorKind::MissingFromResponse
        )
    }) {
        Exit::Vendor
    } else {
        Exit::SomeFailed
    }
}
