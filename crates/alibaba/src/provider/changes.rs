//! State changes: one call per `batch_size` phones, each chunk's states checked against the
//! documented preconditions just before its call (a stop of a `STOPPED` phone is done without
//! a call).
//! No change has an idempotency token, so none is ever repeated after its answer was lost:
//! its outcome is unknown until a wait (or a status read) looks.

use cloudphone_core::raw::{ExtraOptions, Idempotency};
use cloudphone_core::{
    BatchReport, Error, ErrorKind, Operation, Outcome, PhoneId, PhoneOutcome, ResetOptions, Result,
};

use super::decode::change_outcomes;
use super::{AlibabaProvider, REBOOT, RESET, START, STOP, UPDATE_IMAGE};
use crate::client::Params;
use crate::wire;
use crate::VENDOR;

/// One kind of state change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    Start,
    Stop,
    Reboot,
    Reset,
    /// A reset with an image: `UpdateInstanceImage(Reset=true)`.
    Reimage,
}

/// What the state check makes of one phone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The state allows the change: send it.
    Send,
    /// Already where the change leads: done, nothing sent.
    Done,
    /// Already on its way there: pending, nothing sent.
    Pending,
    /// The documented preconditions refuse it: failed, nothing sent.
    Refuse,
}

impl Change {
    pub(crate) fn action(self) -> &'static str {
        match self {
            Change::Start => START,
            Change::Stop => STOP,
            Change::Reboot => REBOOT,
            Change::Reset => RESET,
            Change::Reimage => UPDATE_IMAGE,
        }
    }

    pub(crate) fn operation(self) -> Operation {
        match self {
            Change::Start => Operation::Start,
            Change::Stop => Operation::Stop,
            Change::Reboot => Operation::Restart,
            Change::Reset | Change::Reimage => Operation::Reset,
        }
    }

    /// The name of the id list: not uniform across the API.
    pub(crate) fn list_name(self) -> &'static str {
        match self {
            Change::Reimage => "InstanceIdList",
            _ => "AndroidInstanceIds",
        }
    }

    /// The documented states the change may be sent from.
    fn allowed(self) -> &'static [&'static str] {
        match self {
            Change::Start => &["STOPPED", "BACKUP_FAILED", "RECOVER_FAILED"],
            Change::Stop => &["RUNNING", "BACKUP_FAILED", "RECOVER_FAILED"],
            Change::Reboot => &["RUNNING", "UNAVAILABLE", "BACKUP_FAILED", "RECOVER_FAILED"],
            Change::Reset => &[
                "RUNNING",
                "STOPPED",
                "UNAVAILABLE",
                "BACKUP_FAILED",
                "RECOVER_FAILED",
            ],
            Change::Reimage => &["RUNNING", "STOPPED"],
        }
    }

    /// What a phone in the raw state `raw` gets. A state outside the 15 documented ones (an
    /// image-change state, say) is sent: the vendor judges what we cannot.
    pub(crate) fn verdict(self, raw: &str) -> Verdict {
        let s = raw.trim().to_ascii_uppercase();
        if self.allowed().contains(&s.as_str()) {
            return Verdict::Send;
        }
        match (self, s.as_str()) {
            (Change::Start, "RUNNING") | (Change::Stop, "STOPPED") => Verdict::Done,
            (Change::Start, "STARTING")
            | (Change::Stop, "STOPPING")
            | (Change::Reboot, "REBOOTING")
            | (Change::Reset, "RESETTING") => Verdict::Pending,
            _ if wire::INSTANCE_STATES.contains(&s.as_str()) => Verdict::Refuse,
            _ => Verdict::Send,
        }
    }
}

/// A phone the change was not sent to because its state could not be read first.
fn not_sent(e: &Error) -> Error {
    if e.kind() == ErrorKind::NotFound || e.kind().is_auth() {
        return e.clone().with_not_applied(true);
    }
    let mut n = Error::new(
        e.kind(),
        format!(
            "not sent: its state could not be read first ({})",
            e.message()
        ),
    )
    .with_vendor(VENDOR)
    .with_temporary(e.is_temporary())
    .with_not_applied(true);
    if let Some(c) = e.vendor_code() {
        n = n.with_vendor_code(c.to_owned());
    }
    if let Some(r) = e.request_id() {
        n = n.with_request_id(r.to_owned());
    }
    if let Some(ep) = e.endpoint() {
        n = n.with_endpoint(ep);
    }
    if let Some(op) = e.operation() {
        n = n.with_operation(op);
    }
    // The read's error is the cause (a refused certificate, a proxy): kept, not flattened.
    n.with_source(e.clone())
}

impl AlibabaProvider {
    /// `reset`: the phone's own image, or a re-image where offered.
    pub(super) async fn reset_phones(
        &self,
        phones: &[PhoneId],
        options: &ResetOptions,
    ) -> Result<BatchReport> {
        ExtraOptions::none(VENDOR, Operation::Reset, &options.extras)?;
        if !options.properties.is_empty() || !options.phone_properties.is_empty() {
            return Err(Error::new(
                ErrorKind::Unsupported,
                "eds-aic resets take no system properties (`properties`, `phone_properties`)",
            )
            .with_vendor(VENDOR));
        }
        match options.image.as_deref().map(str::trim) {
            None => self.change(Change::Reset, phones, None, false).await,
            Some("") => Err(
                Error::new(ErrorKind::InvalidArgument, "the reset image id is empty")
                    .with_vendor(VENDOR),
            ),
            Some(_) if !self.reimage => Err(Error::new(
                ErrorKind::Unsupported,
                "a reset with an image (the `image` option) is UpdateInstanceImage, a cloud-phone-matrix \
                 feature of the China site, and is off for this provider; set `reimage = true` if your \
                 account offers it",
            )
            .with_vendor(VENDOR)),
            Some(image) => self.change(Change::Reimage, phones, Some(image), false).await,
        }
    }

    /// A state change of `phones`, in chunks of `batch_size`: with `check_states`, each
    /// chunk's states are read just before its request, and only the phones whose state
    /// allows the change are sent.
    ///
    /// Checked chunk by chunk, not for the whole fleet first: nothing fleet-sized is held
    /// besides the report (the whole-fleet read held a second report of 100,000 outcomes, a
    /// map of the phones set aside and copies of the ids), and the states are as fresh as
    /// they can be. The chunk is announced as sent (the journal's *sent* row) before its
    /// states are read: a phone found already there is then answered done, and one the
    /// preconditions refuse failed and not applied, so an entry never claims less than may
    /// have gone out.
    pub(super) async fn change(
        &self,
        change: Change,
        phones: &[PhoneId],
        image: Option<&str>,
        force: bool,
    ) -> Result<BatchReport> {
        let action = change.action();
        let check = self.check_states;
        self.engine()
            .run_chunks(
                change.operation(),
                phones,
                self.batch_size,
                |chunk| async move {
                    let (to_send, mut settled) = if check {
                        self.check_chunk(change, chunk).await?
                    } else {
                        (chunk, Vec::new())
                    };
                    if to_send.is_empty() {
                        return Ok(settled);
                    }
                    let mut params = Params::new().ids(change.list_name(), &to_send);
                    match change {
                        Change::Stop | Change::Reboot if force => {
                            params = params.flag("ForceStop", true)
                        }
                        Change::Reimage => {
                            params = params
                                .set("ImageId", image.unwrap_or_default())
                                .flag("Reset", true)
                        }
                        _ => {}
                    }
                    let answer = self
                        .client
                        .call(action, Idempotency::StateChanging, &params, |body, rid| {
                            Ok((wire::change_answer(action, body)?, rid.map(str::to_owned)))
                        })
                        .await?;
                    let sent = change_outcomes(answer.0, answer.1.as_deref(), &to_send);
                    if settled.is_empty() {
                        return Ok(sent);
                    }
                    settled.extend(sent);
                    Ok(settled)
                },
            )
            .await
    }

    /// One chunk's states read and judged: the phones to send, and the outcomes of the others
    /// (done, pending, or failed and not applied). A read that fails as a whole fails the
    /// chunk, not applied: nothing was sent.
    async fn check_chunk(
        &self,
        change: Change,
        chunk: Vec<PhoneId>,
    ) -> Result<(Vec<PhoneId>, Vec<PhoneOutcome>)> {
        let before = self.describe_ids(chunk).await.map_err(|e| not_sent(&e))?;
        let mut to_send = Vec::with_capacity(before.len());
        let mut settled = Vec::new();
        for mut o in before {
            let verdict = match (&o.outcome, &o.state) {
                (Outcome::Failed(e) | Outcome::Unknown(e), _) => {
                    settled.push(PhoneOutcome::failed(o.phone.clone(), not_sent(e)));
                    continue;
                }
                (_, Some(state)) => change.verdict(&state.raw),
                (_, None) => Verdict::Send,
            };
            match verdict {
                Verdict::Send => to_send.push(o.phone),
                Verdict::Done => settled.push(o),
                Verdict::Pending => {
                    o.outcome = Outcome::Pending;
                    settled.push(o);
                }
                Verdict::Refuse => {
                    let raw = o.state.as_ref().map(|s| s.raw.clone()).unwrap_or_default();
                    let e = Error::new(
                        ErrorKind::InvalidState,
                        format!(
                            "not sent: the phone is {raw}, and {} is only accepted from {}",
                            change.action(),
                            change.allowed().join(", ")
                        ),
                    )
                    .with_vendor(VENDOR)
                    .with_vendor_code(raw)
                    .with_not_applied(true);
                    o.outcome = Outcome::Failed(e);
                    settled.push(o);
                }
            }
        }
        Ok((to_send, settled))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preconditions_follow_the_docs() {
        use Verdict::*;
        assert_eq!(Change::Stop.verdict("RUNNING"), Send);
        assert_eq!(Change::Stop.verdict("STOPPED"), Done);
        assert_eq!(Change::Stop.verdict("STOPPING"), Pending);
        assert_eq!(Change::Stop.verdict("RESETTING"), Refuse);
        assert_eq!(Change::Start.verdict("STOPPED"), Send);
        assert_eq!(Change::Start.verdict("BACKUP_FAILED"), Send);
        assert_eq!(Change::Start.verdict("running"), Done);
        assert_eq!(Change::Start.verdict("UNAVAILABLE"), Refuse);
        assert_eq!(Change::Reboot.verdict("UNAVAILABLE"), Send);
        assert_eq!(Change::Reboot.verdict("STOPPED"), Refuse);
        assert_eq!(Change::Reboot.verdict("REBOOTING"), Pending);
        assert_eq!(Change::Reset.verdict("STOPPED"), Send);
        assert_eq!(Change::Reset.verdict("RESETTING"), Pending);
        assert_eq!(Change::Reset.verdict("CREATING"), Refuse);
        assert_eq!(Change::Reimage.verdict("UNAVAILABLE"), Refuse);
        assert_eq!(Change::Reimage.verdict("RESETTING"), Refuse);
        // Undocumented states go to the vendor.
        assert_eq!(Change::Reimage.verdict("IMAGE_UPDATE_FAILED"), Send);
        assert_eq!(Change::Stop.verdict(""), Send);
    }
}
