//! Normalized, lossless types shared by every vendor.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::Error;

/// A vendor's phone id, kept exactly as the vendor spells it.
///
/// Shared, not copied: an id is cloned into chunks, outcomes and lookups many times over a
/// 100,000-phone batch, and each clone is a reference count, not an allocation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PhoneId(Arc<str>);

impl PhoneId {
    /// Wraps an id. Validation (empty ids, control characters) happens in the batch engine so
    /// that a bad id becomes that phone's failure instead of failing the whole batch.
    pub fn new(id: impl Into<String>) -> Self {
        PhoneId(Arc::from(id.into()))
    }

    /// The id as sent to the vendor.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The longest id accepted, in bytes. No vendor's ids come close; a longer one is a mistake
    /// (or an attack on the request size) and is refused without a call.
    pub const MAX_LEN: usize = 256;

    /// Why this id can never be sent to any vendor, if it cannot.
    pub fn invalid_reason(&self) -> Option<&'static str> {
        if self.0.is_empty() {
            Some("phone id is empty")
        } else if self.0.len() > Self::MAX_LEN {
            Some("phone id is longer than 256 bytes")
        } else if self.0.chars().any(char::is_control) {
            Some("phone id contains a control character")
        } else if self.0.trim() != &*self.0 {
            Some("phone id has leading or trailing white space")
        } else {
            None
        }
    }
}

impl fmt::Display for PhoneId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for PhoneId {
    fn from(s: &str) -> Self {
        PhoneId(Arc::from(s))
    }
}

impl From<String> for PhoneId {
    fn from(s: String) -> Self {
        PhoneId(Arc::from(s))
    }
}

impl AsRef<str> for PhoneId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// A phone's state in vendor-neutral terms (after Apache Libcloud's `NodeState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum PhoneState {
    /// Powered on and usable.
    Running,
    /// Powering on.
    Starting,
    /// Powering off.
    Stopping,
    /// Powered off.
    Stopped,
    /// Rebooting.
    Restarting,
    /// Being reset / re-imaged.
    Resetting,
    /// Being created.
    Creating,
    /// Frozen by the vendor (arrears, abuse).
    Frozen,
    /// The subscription expired.
    Expired,
    /// A failed state (reset failed, stop failed, abnormal).
    Failed,
    /// A state this library does not know; see the raw code.
    Unknown,
}

impl PhoneState {
    /// A stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            PhoneState::Running => "running",
            PhoneState::Starting => "starting",
            PhoneState::Stopping => "stopping",
            PhoneState::Stopped => "stopped",
            PhoneState::Restarting => "restarting",
            PhoneState::Resetting => "resetting",
            PhoneState::Creating => "creating",
            PhoneState::Frozen => "frozen",
            PhoneState::Expired => "expired",
            PhoneState::Failed => "failed",
            PhoneState::Unknown => "unknown",
        }
    }

    /// Every state, for parsers and docs.
    pub const ALL: [PhoneState; 11] = [
        PhoneState::Running,
        PhoneState::Starting,
        PhoneState::Stopping,
        PhoneState::Stopped,
        PhoneState::Restarting,
        PhoneState::Resetting,
        PhoneState::Creating,
        PhoneState::Frozen,
        PhoneState::Expired,
        PhoneState::Failed,
        PhoneState::Unknown,
    ];

    /// Whether a phone in this state will not move on by itself, so waiting for another state is
    /// pointless.
    pub fn is_dead_end(self) -> bool {
        matches!(
            self,
            PhoneState::Failed | PhoneState::Expired | PhoneState::Frozen
        )
    }
}

impl fmt::Display for PhoneState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for PhoneState {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PhoneState::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                let names: Vec<_> = PhoneState::ALL.iter().map(|s| s.as_str()).collect();
                Error::new(
                    crate::ErrorKind::InvalidArgument,
                    format!("unknown phone state `{s}` (one of: {})", names.join(", ")),
                )
            })
    }
}

/// A state as observed: the normalized state and the vendor's raw code, which always survives.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct ObservedState {
    /// The normalized state.
    pub state: PhoneState,
    /// The vendor's own code, verbatim (e.g. `"2"`, `"-5"`). A documented code is borrowed from
    /// the backend's table rather than allocated for each of 100,000 phones.
    pub raw: Cow<'static, str>,
}

impl ObservedState {
    /// Pairs a normalized state with the raw code it came from.
    pub fn new(state: PhoneState, raw: impl Into<Cow<'static, str>>) -> Self {
        ObservedState {
            state,
            raw: raw.into(),
        }
    }

    /// Like [`ObservedState::new`], with `raw` borrowed from `known` (a backend's documented
    /// codes) where it is one of them, and copied only where it is not.
    pub fn coded(state: PhoneState, raw: &str, known: &'static [&'static str]) -> Self {
        let raw = match known.iter().find(|k| **k == raw) {
            Some(k) => Cow::Borrowed(*k),
            None => Cow::Owned(raw.to_owned()),
        };
        ObservedState { state, raw }
    }
}

/// A reference to asynchronous work accepted by a vendor.
///
/// The ids are shared, not copied: one request id is carried by every phone of its batch
/// (100 per call), and a wait indexes and hands out job ids without allocating.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct JobRef {
    /// The vendor's job id.
    pub job_id: Arc<str>,
    /// The id of the request that created the job, where the vendor has one.
    pub request_id: Option<Arc<str>>,
}

impl JobRef {
    /// A job reference. Pass the batch's one `request_id` (an `Arc<str>`, cloned per phone)
    /// to share it; a `String` converts with `.map(Into::into)`.
    pub fn new(job_id: impl Into<Arc<str>>, request_id: Option<Arc<str>>) -> Self {
        JobRef {
            job_id: job_id.into(),
            request_id,
        }
    }

    /// The job id.
    pub fn job_id(&self) -> &str {
        &self.job_id
    }

    /// The request id, if any.
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }
}

/// The state of a vendor job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum JobState {
    /// Still running.
    Running,
    /// Finished successfully.
    Succeeded,
    /// Finished with a failure.
    Failed,
}

/// What a vendor says about one job.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct JobInfo {
    /// The job.
    pub job: JobRef,
    /// The phone it acts on.
    pub phone: Option<PhoneId>,
    /// Its state.
    pub state: JobState,
    /// The vendor's raw job status code.
    pub raw_state: String,
    /// Why it failed, for a failed job.
    pub error: Option<Error>,
}

impl JobInfo {
    /// A job observation.
    pub fn new(job: JobRef, phone: Option<PhoneId>, state: JobState, raw_state: String) -> Self {
        JobInfo {
            job,
            phone,
            state,
            raw_state,
            error: None,
        }
    }

    /// Attaches the failure of a failed job.
    pub fn with_error(mut self, error: Error) -> Self {
        self.error = Some(error);
        self
    }
}

/// The batch operations a provider may offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Operation {
    /// Read phone states.
    Status,
    /// Power phones off.
    Stop,
    /// Power phones on.
    Start,
    /// Reboot phones.
    Restart,
    /// Reset phones to a fresh machine.
    Reset,
    /// List the account's phones.
    List,
    /// Wait for earlier operations to finish.
    Wait,
    /// Look up vendor jobs.
    Jobs,
}

impl Operation {
    /// A stable lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Status => "status",
            Operation::Stop => "stop",
            Operation::Start => "start",
            Operation::Restart => "restart",
            Operation::Reset => "reset",
            Operation::List => "list",
            Operation::Wait => "wait",
            Operation::Jobs => "jobs",
        }
    }

    /// The state a phone reaches when this operation completes, if it has one.
    pub fn target_state(self) -> Option<PhoneState> {
        match self {
            Operation::Stop => Some(PhoneState::Stopped),
            Operation::Start | Operation::Restart | Operation::Reset => Some(PhoneState::Running),
            _ => None,
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where one phone's operation stands.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Outcome {
    /// Finished (for `status`: the state was read).
    Done,
    /// Accepted by the vendor but not finished; wait for it.
    Pending,
    /// Failed for this phone.
    Failed(Error),
    /// The state change was sent but its answer was lost (a timeout after sending, a cut
    /// connection, a 5xx, an undecodable answer): it **may have been applied**. Never treat it
    /// as failed — repeating a reset could wipe a phone twice; wait (which looks) or check.
    Unknown(Error),
}

impl Outcome {
    /// A stable lower-case name: `done`, `pending`, `failed` or `unknown`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Done => "done",
            Outcome::Pending => "pending",
            Outcome::Failed(_) => "failed",
            Outcome::Unknown(_) => "unknown",
        }
    }
}

/// The outcome for one requested phone, with everything the vendor told us about it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PhoneOutcome {
    /// The phone, as requested.
    pub phone: PhoneId,
    /// Done, pending or failed.
    pub outcome: Outcome,
    /// The last state observed, if any.
    pub state: Option<ObservedState>,
    /// The vendor job carrying this phone's work, if the vendor uses jobs. Never dropped.
    pub job: Option<JobRef>,
    /// The phone's display name, if the vendor gave one.
    pub name: Option<String>,
    /// A browser live-view URL (GeeLark `start`), if any.
    pub live_view_url: Option<String>,
    /// Why waiting could not settle this phone (a rejected status read, credentials refused
    /// mid-wait). The outcome itself is kept: a later error never turns accepted work into
    /// "failed".
    pub wait_error: Option<Error>,
}

impl PhoneOutcome {
    fn with_outcome(phone: PhoneId, outcome: Outcome) -> Self {
        PhoneOutcome {
            phone,
            outcome,
            state: None,
            job: None,
            name: None,
            live_view_url: None,
            wait_error: None,
        }
    }

    /// A finished outcome.
    pub fn done(phone: PhoneId) -> Self {
        Self::with_outcome(phone, Outcome::Done)
    }

    /// An accepted, unfinished outcome.
    pub fn pending(phone: PhoneId) -> Self {
        Self::with_outcome(phone, Outcome::Pending)
    }

    /// A failed outcome.
    pub fn failed(phone: PhoneId, error: Error) -> Self {
        Self::with_outcome(phone, Outcome::Failed(error))
    }

    /// An outcome that may have been applied: the request was sent, its answer was lost.
    pub fn unknown(phone: PhoneId, error: Error) -> Self {
        Self::with_outcome(phone, Outcome::Unknown(error))
    }

    /// The outcome of a state change that ended in `error`: unknown when the change may have
    /// been applied ([`Error::may_have_applied`]: sent, its answer lost), failed otherwise.
    pub fn of_change_error(phone: PhoneId, error: Error) -> Self {
        if error.may_have_applied() {
            Self::unknown(phone, error)
        } else {
            Self::failed(phone, error)
        }
    }

    /// Records why waiting could not settle the phone.
    pub fn with_wait_error(mut self, error: Error) -> Self {
        self.wait_error = Some(error);
        self
    }

    /// Records the observed state.
    pub fn with_state(mut self, state: ObservedState) -> Self {
        self.state = Some(state);
        self
    }

    /// Records the job carrying the work.
    pub fn with_job(mut self, job: JobRef) -> Self {
        self.job = Some(job);
        self
    }

    /// Records the phone's name.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Records a live-view URL.
    pub fn with_live_view_url(mut self, url: impl Into<String>) -> Self {
        self.live_view_url = Some(url.into());
        self
    }

    /// Whether the operation finished for this phone.
    pub fn is_done(&self) -> bool {
        matches!(self.outcome, Outcome::Done)
    }

    /// Whether the operation is still running for this phone.
    pub fn is_pending(&self) -> bool {
        matches!(self.outcome, Outcome::Pending)
    }

    /// The failure, if the operation failed for this phone.
    pub fn error(&self) -> Option<&Error> {
        match &self.outcome {
            Outcome::Failed(e) => Some(e),
            _ => None,
        }
    }

    /// Whether the operation may or may not have been applied ([`Outcome::Unknown`]).
    pub fn is_unknown(&self) -> bool {
        matches!(self.outcome, Outcome::Unknown(_))
    }

    /// The error behind the outcome: the failure, or why it is unknown.
    pub fn cause(&self) -> Option<&Error> {
        match &self.outcome {
            Outcome::Failed(e) | Outcome::Unknown(e) => Some(e),
            _ => None,
        }
    }

    /// The normalized state, if one was observed.
    pub fn phone_state(&self) -> Option<PhoneState> {
        self.state.as_ref().map(|s| s.state)
    }
}

/// Counts of outcomes in a report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Summary {
    /// Phones in the report.
    pub total: usize,
    /// Phones whose operation finished.
    pub succeeded: usize,
    /// Phones whose operation is still running.
    pub pending: usize,
    /// Phones whose operation failed.
    pub failed: usize,
    /// Phones whose state change may or may not have been applied.
    pub unknown: usize,
}

impl Summary {
    /// Counts `outcomes`.
    pub fn of<'a>(outcomes: impl IntoIterator<Item = &'a PhoneOutcome>) -> Self {
        let mut s = Summary::default();
        for o in outcomes {
            s.add(o);
        }
        s
    }

    /// Counts one more outcome.
    pub fn add(&mut self, o: &PhoneOutcome) {
        self.total += 1;
        match o.outcome {
            Outcome::Done => self.succeeded += 1,
            Outcome::Pending => self.pending += 1,
            Outcome::Failed(_) => self.failed += 1,
            Outcome::Unknown(_) => self.unknown += 1,
        }
    }
}

/// A job the vendor reported that belongs to no requested phone: a job for a phone nobody asked
/// for, or one naming no phone. Kept, never dropped: every accepted job is reported.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StrayJob {
    /// The phone the vendor named, if it named one.
    pub phone: Option<PhoneId>,
    /// The job.
    pub job: JobRef,
}

/// Which provider instance made a report: waiting on it with another provider is a mistake
/// (its job ids mean nothing there) and is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Origin {
    /// The vendor.
    pub vendor: &'static str,
    /// The provider instance (its batch engine), unique within the process.
    pub instance: u64,
}

/// The result of a batch call: exactly one outcome per distinct requested phone, in request
/// order.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct BatchReport {
    /// The operation that produced the report.
    pub operation: Operation,
    /// One outcome per distinct requested phone, in request order.
    pub outcomes: Vec<PhoneOutcome>,
    /// Jobs the vendor reported for no requested phone (usually empty).
    pub stray_jobs: Vec<StrayJob>,
    /// The provider instance that made it, when a provider did.
    pub origin: Option<Origin>,
    /// Positions by id, built on the first look-up.
    index: std::sync::OnceLock<std::collections::HashMap<PhoneId, usize>>,
}

impl BatchReport {
    /// A report from outcomes already in request order.
    pub fn new(operation: Operation, outcomes: Vec<PhoneOutcome>) -> Self {
        BatchReport {
            operation,
            outcomes,
            stray_jobs: Vec::new(),
            origin: None,
            index: std::sync::OnceLock::new(),
        }
    }

    /// A report marking every phone pending, e.g. to wait for phones changed elsewhere.
    pub fn pending(operation: Operation, phones: impl IntoIterator<Item = PhoneId>) -> Self {
        let outcomes = crate::engine::dedupe(phones)
            .into_iter()
            .map(PhoneOutcome::pending)
            .collect();
        BatchReport::new(operation, outcomes)
    }

    /// Counts of done, pending, failed and unknown outcomes.
    pub fn summary(&self) -> Summary {
        Summary::of(&self.outcomes)
    }

    /// Whether every phone's operation finished successfully.
    pub fn all_done(&self) -> bool {
        self.outcomes.iter().all(PhoneOutcome::is_done)
    }

    /// The outcome for `phone`, if it was requested. Looked up by id (an index is built on
    /// the first call), not by scanning the report.
    pub fn get(&self, phone: &PhoneId) -> Option<&PhoneOutcome> {
        let index = self.index.get_or_init(|| {
            self.outcomes
                .iter()
                .enumerate()
                .map(|(i, o)| (o.phone.clone(), i))
                .collect()
        });
        match index.get(phone).and_then(|&i| self.outcomes.get(i)) {
            Some(o) if &o.phone == phone => Some(o),
            // `outcomes` is public and was changed after the index was built.
            _ => self.outcomes.iter().find(|o| &o.phone == phone),
        }
    }

    /// Every job reference in the report.
    pub fn jobs(&self) -> impl Iterator<Item = &JobRef> {
        self.outcomes.iter().filter_map(|o| o.job.as_ref())
    }
}

/// A phone as listed by a vendor.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PhoneSummary {
    /// Its id.
    pub id: PhoneId,
    /// Its display name.
    pub name: Option<String>,
    /// Its state.
    pub state: ObservedState,
    /// Further vendor fields (group, tags, server id …) as strings.
    pub extra: BTreeMap<String, String>,
}

impl PhoneSummary {
    /// A listed phone.
    pub fn new(id: PhoneId, name: Option<String>, state: ObservedState) -> Self {
        PhoneSummary {
            id,
            name,
            state,
            extra: BTreeMap::new(),
        }
    }
}

/// One page of a phone listing.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct PhonePage {
    /// The phones on this page.
    pub phones: Vec<PhoneSummary>,
    /// The cursor of the next page, if there is one.
    pub next: Option<String>,
    /// The total the vendor reported, if it did.
    pub total: Option<u64>,
}

impl PhonePage {
    /// A page of `phones`, the cursor of the `next` one, and the vendor's `total`.
    pub fn new(phones: Vec<PhoneSummary>, next: Option<String>, total: Option<u64>) -> Self {
        PhonePage {
            phones,
            next,
            total,
        }
    }
}
