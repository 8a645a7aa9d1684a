//! One journal entry: a state change sent for one phone, what came back and how it ended.

use cloudphone_core::{Error, ErrorKind, JobRef, Operation, PhoneId, PhoneOutcome};

/// What the vendor answered for one phone's state change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Answer {
    /// Nothing recorded yet: the request went out (or was about to) and no answer was written.
    /// After a crash this is as good as [`Answer::Unknown`]: it may have been applied.
    NoAnswer,
    /// Accepted (finished at once, or pending with its job).
    Accepted,
    /// Refused for this phone: not applied.
    Refused,
    /// Sent, answer lost (a timeout, a cut connection, a 5xx): it may have been applied.
    Unknown,
}

impl Answer {
    /// A stable lower-case name: `none`, `accepted`, `refused` or `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            Answer::NoAnswer => "none",
            Answer::Accepted => "accepted",
            Answer::Refused => "refused",
            Answer::Unknown => "unknown",
        }
    }

    pub(crate) fn parse(s: Option<&str>) -> Answer {
        match s {
            Some("accepted") => Answer::Accepted,
            Some("refused") => Answer::Refused,
            Some("unknown") => Answer::Unknown,
            _ => Answer::NoAnswer,
        }
    }

    pub(crate) fn column(self) -> Option<&'static str> {
        (self != Answer::NoAnswer).then(|| self.as_str())
    }
}

/// How an entry ended. An entry without an end is *unfinished*.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum End {
    /// The change finished (the phone was seen in the target state, or the job succeeded).
    Done,
    /// The change failed (refused, the job failed, the phone reached a dead end).
    Failed,
    /// Looked at, and the phone's state cannot tell whether the change happened (a reset whose
    /// answer was lost and whose phone was seen running, never resetting).
    Unknown,
}

impl End {
    /// A stable lower-case name: `done`, `failed` or `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            End::Done => "done",
            End::Failed => "failed",
            End::Unknown => "unknown",
        }
    }

    pub(crate) fn parse(s: Option<&str>) -> Option<End> {
        match s {
            Some("done") => Some(End::Done),
            Some("failed") => Some(End::Failed),
            Some("unknown") => Some(End::Unknown),
            _ => None,
        }
    }
}

/// One state change the journal knows of.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Entry {
    /// The entry's id in the journal (increasing in the order entries were written).
    pub id: i64,
    /// The fleet's name for the provider.
    pub provider: String,
    /// The provider's vendor (`geelark`, `huawei-cph`, …).
    pub vendor: String,
    /// The phone.
    pub phone: PhoneId,
    /// The state change.
    pub operation: Operation,
    /// When the request was about to go out, in milliseconds since the Unix epoch.
    pub sent_at_ms: i64,
    /// What came back.
    pub answer: Answer,
    /// The job carrying the work, when the vendor gave one.
    pub job: Option<JobRef>,
    /// Why it was refused, is unknown or failed (already scrubbed of secrets).
    pub error: Option<String>,
    /// When the answer was written, in milliseconds since the Unix epoch.
    pub answered_at_ms: Option<i64>,
    /// How it ended; `None` while unfinished.
    pub end: Option<End>,
    /// When it ended, in milliseconds since the Unix epoch.
    pub ended_at_ms: Option<i64>,
}

impl Entry {
    /// Whether the entry is still unfinished (no end recorded).
    pub fn is_unfinished(&self) -> bool {
        self.end.is_none()
    }

    /// Whether this entry forbids another change of the phone without `--force`: it is
    /// unfinished, or ended unknown (the change may or may not have happened).
    pub fn is_unsettled(&self) -> bool {
        matches!(self.end, None | Some(End::Unknown))
    }

    /// The outcome to wait on for an unfinished entry: pending with its job when the vendor
    /// accepted it, *unknown* when the answer was lost or never written (it may have been
    /// applied: waiting looks at the phone, it never sends the change again), and the recorded
    /// end otherwise.
    pub fn outcome(&self) -> PhoneOutcome {
        let phone = self.phone.clone();
        let why = |default: &str| self.error.clone().unwrap_or_else(|| default.to_owned());
        let o = match (self.end, self.answer) {
            (Some(End::Done), _) => PhoneOutcome::done(phone),
            (Some(End::Failed), _) | (None, Answer::Refused) => PhoneOutcome::failed(
                phone,
                Error::new(ErrorKind::Other, why("failed (as recorded in the journal)")),
            ),
            (Some(End::Unknown), _) | (None, Answer::Unknown) => PhoneOutcome::unknown(
                phone,
                Error::new(ErrorKind::Unavailable, why("the answer was lost")),
            ),
            (None, Answer::NoAnswer) => PhoneOutcome::unknown(
                phone,
                Error::new(
                    ErrorKind::Unavailable,
                    "sent, but no answer was recorded (the process stopped): it may have been applied",
                ),
            ),
            (None, Answer::Accepted) => PhoneOutcome::pending(phone),
        };
        match &self.job {
            Some(j) => o.with_job(j.clone()),
            None => o,
        }
    }
}

/// The operation of a stored name.
pub(crate) fn parse_operation(s: &str) -> Option<Operation> {
    [
        Operation::Stop,
        Operation::Start,
        Operation::Restart,
        Operation::Reset,
        Operation::Status,
        Operation::List,
        Operation::Wait,
        Operation::Jobs,
    ]
    .into_iter()
    .find(|o| o.as_str() == s)
}

/// `ms` since the Unix epoch as an RFC 3339 time in UTC (`2026-01-31T12:00:00.123Z`).
pub fn rfc3339(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| ms.to_string())
}
