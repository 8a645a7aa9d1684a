//! State changes: one call per `batch_size` phones, the phones' states read against the
//! documented preconditions when the vendor refuses a chunk (`check_states = "on-refusal"`,
//! the default) or before sending (`"first"`: a stop of a `STOPPED` phone is done without a
//! call).
//! No change has an idempotency token, so none is ever repeated after its answer was lost:
//! its outcome is unknown until a wait (or a status read) looks.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use futures::StreamExt;

use cloudphone_core::raw::{dedupe, merge_settled, ExtraOptions, Idempotency};
use cloudphone_core::{
    BatchReport, Error, ErrorKind, Operation, Outcome, PhoneId, PhoneOutcome, ResetOptions, Result,
};

use super::decode::change_outcomes;
use super::{AlibabaProvider, PAGE_SIZE, REBOOT, RESET, START, STOP, UPDATE_IMAGE};
use crate::client::Params;
use crate::config::CheckStates;
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

    /// A state change of `phones`: with `check_states`, their states read first and only the
    /// phones whose state allows the change sent, in chunks of `batch_size`.
    ///
    /// At fleet scale the check holds one flag per phone and the outcomes of the phones it
    /// settles, not a report of the whole read: the read is judged page by page as it
    /// arrives, and the merge places the vendor's answer and the settled outcomes by slot.
    pub(super) async fn change(
        &self,
        change: Change,
        phones: &[PhoneId],
        image: Option<&str>,
        force: bool,
    ) -> Result<BatchReport> {
        if self.check_states != CheckStates::First {
            return self.send(change, phones, image, force).await;
        }
        let phones = distinct(phones);
        let settled = self.check(change, &phones).await?;
        if settled.is_empty() {
            // Every phone goes: the answer is the report.
            return self.send(change, &phones, image, force).await;
        }
        let mut is_settled = vec![false; phones.len()];
        for (slot, _) in &settled {
            is_settled[*slot] = true;
        }
        let to_send: Vec<PhoneId> = phones
            .iter()
            .zip(is_settled)
            .filter(|(_, s)| !s)
            .map(|(id, _)| id.clone())
            .collect();
        let sent = if to_send.is_empty() {
            None
        } else {
            Some(self.send(change, &to_send, image, force).await)
        };
        drop(to_send);
        merge_settled(
            change.operation(),
            VENDOR,
            &phones,
            settled,
            sent,
            self.engine().origin(),
        )
    }

    /// The states of `phones` read and judged: the outcomes of the phones not to be sent (done,
    /// pending, or failed and not applied), by slot, ascending. A read that fails fails its
    /// phones, not applied; a refusal of the credentials is the call's error (nothing is sent).
    /// Ids that can never be sent are left to the send, which fails them without a call.
    async fn check(
        &self,
        change: Change,
        phones: &[PhoneId],
    ) -> Result<Vec<(usize, PhoneOutcome)>> {
        let valid: Vec<usize> = (0..phones.len())
            .filter(|&i| phones[i].invalid_reason().is_none())
            .collect();
        let chunks: Vec<Vec<usize>> = valid.chunks(PAGE_SIZE).map(<[usize]>::to_vec).collect();
        drop(valid);
        let mut settled: Vec<(usize, PhoneOutcome)> = Vec::new();
        let mut pages = std::pin::pin!(self.fan_out(chunks, |slots: Vec<usize>| async move {
            let ids = slots.iter().map(|&i| phones[i].clone()).collect();
            (slots, self.describe_ids(ids).await)
        }));
        while let Some((slots, read)) = pages.next().await {
            let outcomes = match read {
                Ok(outcomes) => outcomes,
                Err(e) if e.kind().is_auth() => return Err(self.scrub(e)),
                Err(e) => {
                    let e = not_sent(&self.scrub(e));
                    settled.extend(
                        slots
                            .iter()
                            .map(|&i| (i, PhoneOutcome::failed(phones[i].clone(), e.clone()))),
                    );
                    continue;
                }
            };
            let mut judged = vec![false; slots.len()];
            // The read answers in the order asked: each phone is looked for from where the
            // last one was found, so an answer in order costs one comparison per phone.
            let mut from = 0;
            for o in outcomes {
                let at = (from..slots.len()).chain(0..from);
                let Some(k) = at.into_iter().find(|&k| phones[slots[k]] == o.phone) else {
                    continue;
                };
                from = k + 1;
                if std::mem::replace(&mut judged[k], true) {
                    continue;
                }
                if let Some(o) = judge(change, o, "not sent") {
                    settled.push((slots[k], o));
                }
            }
            for (&i, _) in slots.iter().zip(&judged).filter(|(_, j)| !**j) {
                let e = Error::new(
                    ErrorKind::MissingFromResponse,
                    format!(
                        "the vendor's answer said nothing about phone `{}`",
                        phones[i]
                    ),
                )
                .with_vendor(VENDOR);
                settled.push((i, PhoneOutcome::failed(phones[i].clone(), not_sent(&e))));
            }
        }
        settled.sort_unstable_by_key(|(slot, _)| *slot);
        Ok(settled)
    }

    /// Sends the change in chunks of `batch_size`; with [`CheckStates::OnRefusal`], a chunk the
    /// vendor refuses for a state or an unknown id is read and sent once more
    /// ([`Self::after_refusal`]).
    async fn send(
        &self,
        change: Change,
        phones: &[PhoneId],
        image: Option<&str>,
        force: bool,
    ) -> Result<BatchReport> {
        let on_refusal = self.check_states == CheckStates::OnRefusal;
        self.engine()
            .run_chunks(
                change.operation(),
                phones,
                self.batch_size,
                |chunk| async move {
                    match self.send_chunk(change, &chunk, image, force).await {
                        Err(e) if on_refusal && refused_for_state(&e) => {
                            self.after_refusal(change, chunk, image, force, e).await
                        }
                        answer => answer,
                    }
                },
            )
            .await
    }

    /// One call of the change for `chunk`.
    async fn send_chunk(
        &self,
        change: Change,
        chunk: &[PhoneId],
        image: Option<&str>,
        force: bool,
    ) -> Result<Vec<PhoneOutcome>> {
        let action = change.action();
        let mut params = Params::new().ids(change.list_name(), chunk);
        match change {
            Change::Stop | Change::Reboot if force => params = params.flag("ForceStop", true),
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
        Ok(change_outcomes(answer.0, answer.1.as_deref(), chunk))
    }

    /// A chunk the vendor refused as a whole (`refusal`: a state or an unknown id, nothing
    /// done): its states read, the phones the preconditions settle settled as
    /// [`CheckStates::First`] settles them, and the others sent once more. The refusal stands
    /// for every phone when the read fails or finds nothing to set apart (the vendor refused
    /// what the states allow: sending it again would be refused again), and for a phone the
    /// read leaves out.
    async fn after_refusal(
        &self,
        change: Change,
        chunk: Vec<PhoneId>,
        image: Option<&str>,
        force: bool,
        refusal: Error,
    ) -> Result<Vec<PhoneOutcome>> {
        let read = match self.describe_ids(chunk.clone()).await {
            Ok(read) => read,
            Err(e) if e.kind().is_auth() => return Err(e),
            Err(_) => return Err(refusal),
        };
        let mut read: HashMap<PhoneId, PhoneOutcome> =
            read.into_iter().map(|o| (o.phone.clone(), o)).collect();
        let mut out = Vec::with_capacity(chunk.len());
        let mut again = Vec::new();
        for id in chunk.iter() {
            // A phone the read left out, or whose state it could not read (other than "no such
            // phone"), keeps the refusal.
            let read = read
                .remove(id)
                .filter(|o| o.error().is_none_or(|e| e.kind() == ErrorKind::NotFound));
            match read.map(|o| judge(change, o, "refused")) {
                Some(Some(settled)) => out.push(settled),
                Some(None) => again.push(id.clone()),
                None => out.push(PhoneOutcome::failed(id.clone(), refusal.clone())),
            }
        }
        tracing::debug!(
            vendor = VENDOR,
            action = change.action(),
            phones = chunk.len(),
            again = again.len(),
            "a refused chunk was read: the phones its states allow are sent once more"
        );
        if again.len() == chunk.len() {
            return Err(refusal);
        }
        if !again.is_empty() {
            match self.send_chunk(change, &again, image, force).await {
                Ok(answer) => out.extend(answer),
                Err(e) if e.kind().is_auth() => return Err(e),
                Err(e) => out.extend(
                    again
                        .into_iter()
                        .map(|id| PhoneOutcome::of_change_error(id, e.clone())),
                ),
            }
        }
        Ok(out)
    }
}

/// Whether `e` is the vendor refusing a whole change request for a phone's state or an unknown
/// id, provably without acting on it: what [`CheckStates::OnRefusal`] reads the states after.
fn refused_for_state(e: &Error) -> bool {
    matches!(e.kind(), ErrorKind::InvalidState | ErrorKind::NotFound)
        && e.vendor_code().is_some()
        && !e.may_have_applied()
}

/// `phones` without repeats, first occurrences in request order (borrowed when there are none).
fn distinct(phones: &[PhoneId]) -> Cow<'_, [PhoneId]> {
    let mut seen: HashSet<&str> = HashSet::with_capacity(phones.len());
    if phones.iter().all(|p| seen.insert(p.as_str())) {
        Cow::Borrowed(phones)
    } else {
        Cow::Owned(dedupe(phones.iter().cloned()))
    }
}

/// What the state check makes of one phone's read: `None` to send it, or its outcome without
/// a call (done, pending, or failed and not applied).
/// `verb` says what became of the change: "not sent" (read first) or "refused" (read after
/// the vendor refused it).
fn judge(change: Change, mut o: PhoneOutcome, verb: &str) -> Option<PhoneOutcome> {
    let verdict = match (&o.outcome, &o.state) {
        (Outcome::Failed(e) | Outcome::Unknown(e), _) => {
            return Some(PhoneOutcome::failed(o.phone.clone(), not_sent(e)));
        }
        (_, Some(state)) => change.verdict(&state.raw),
        (_, None) => Verdict::Send,
    };
    match verdict {
        Verdict::Send => return None,
        Verdict::Done => {}
        Verdict::Pending => o.outcome = Outcome::Pending,
        Verdict::Refuse => {
            let raw = o.state.as_ref().map(|s| s.raw.clone()).unwrap_or_default();
            let e = Error::new(
                ErrorKind::InvalidState,
                format!(
                    "{verb}: the phone is {raw}, and {} is only accepted from {}",
                    change.action(),
                    change.allowed().join(", ")
                ),
            )
            .with_vendor(VENDOR)
            .with_vendor_code(raw)
            .with_not_applied(true);
            o.outcome = Outcome::Failed(e);
        }
    }
    Some(o)
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
