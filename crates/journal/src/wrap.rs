//! [`Journaled`]: any provider, with every state change it sends kept in a [`Journal`].
//!
//! The journal learns of a chunk through the batch engine's progress events, tapped
//! ([`progress::tap`]) so that an enclosing observer (a command printing outcomes as chunks
//! are answered) still gets every event — but only after the journal wrote it. A chunk is
//! written as *sent* when its request is about to go out, and its answer before anyone else
//! is told of it; sinks are synchronous, so the write is done when the event moves on.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use cloudphone_core::progress::{self, Event, EventKind};
use cloudphone_core::wait::needs_watch;
use cloudphone_core::{
    BatchReport, Capabilities, CloudPhoneProvider, Error, ErrorKind, JobInfo, JobRef, ListRequest,
    Operation, Origin, Outcome, PhoneId, PhoneOutcome, PhonePage, PhoneState, ResetOptions, Result,
    StartOptions, WaitOptions,
};

use crate::entry::{Answer, End};
use crate::store::{Journal, Update};

/// A provider whose state changes (stop, start, restart, reset) are journaled: each phone's
/// change is written as sent before its request goes out, what came back before the caller
/// learns of it, and how it ended when a wait through this provider settles it. Reads
/// (status, list, jobs) pass through untouched.
#[derive(Debug, Clone)]
pub struct Journaled {
    name: String,
    inner: Arc<dyn CloudPhoneProvider>,
    journal: Journal,
}

impl Journaled {
    /// Wraps `inner`, known in the journal as `name` (the fleet's name for it: what
    /// `resume` later looks up).
    pub fn new(
        name: impl Into<String>,
        inner: Arc<dyn CloudPhoneProvider>,
        journal: Journal,
    ) -> Self {
        Journaled {
            name: name.into(),
            inner,
            journal,
        }
    }

    /// The wrapped provider.
    pub fn inner(&self) -> &Arc<dyn CloudPhoneProvider> {
        &self.inner
    }

    /// The journal written to.
    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// The name the entries carry.
    pub fn name(&self) -> &str {
        &self.name
    }

    async fn change<F>(&self, operation: Operation, fut: F) -> Result<BatchReport>
    where
        F: std::future::Future<Output = Result<BatchReport>> + Send,
    {
        let call = Arc::new(Call {
            journal: self.journal.clone(),
            provider: self.name.clone(),
            vendor: self.inner.vendor(),
            operation,
            sent: Mutex::new(HashMap::new()),
        });
        let tap = call.clone();
        let result = progress::tap(move |ev| tap.on_event(ev), fut).await;
        match &result {
            // Whatever no event reported (a provider that does not emit them).
            Ok(report) => call.answered(&report.outcomes),
            Err(e) => call.failed_as_a_whole(e),
        }
        result
    }
}

/// What happened to an answer: the columns to write, and whether the entry ended.
fn answer_of(o: &PhoneOutcome) -> Update {
    let (answer, end) = match &o.outcome {
        Outcome::Done => (Answer::Accepted, Some(End::Done)),
        Outcome::Pending => (Answer::Accepted, None),
        Outcome::Failed(_) => (Answer::Refused, Some(End::Failed)),
        Outcome::Unknown(_) => (Answer::Unknown, None),
        // A future outcome kind: keep the entry open, so that resume looks.
        _ => (Answer::Unknown, None),
    };
    Update {
        answer: Some(answer),
        end,
        job: o.job.clone(),
        error: o.cause().map(|e| e.to_string()),
    }
}

/// How a waited outcome ended, if it did: done, failed, or unknown once looking can tell no
/// more. Nothing while it is still pending, or when waiting could not look (its wait error).
fn end_of(o: &PhoneOutcome, target: Option<PhoneState>) -> Option<Update> {
    let end = match &o.outcome {
        Outcome::Done => End::Done,
        Outcome::Failed(_) => End::Failed,
        Outcome::Unknown(_) if o.wait_error.is_none() => {
            let settled = target.is_some_and(|t| !needs_watch(o, t));
            if !settled {
                return None;
            }
            End::Unknown
        }
        _ => return None,
    };
    let error = match end {
        End::Unknown => Some(
            "looked at the phone: its state cannot tell whether the change was applied".to_owned(),
        ),
        _ => o.cause().map(|e| e.to_string()),
    };
    Some(Update {
        answer: None,
        end: Some(end),
        job: o.job.clone(),
        error,
    })
}

/// One state-changing call: the entries it wrote as sent and not yet answered.
struct Call {
    journal: Journal,
    provider: String,
    vendor: &'static str,
    operation: Operation,
    sent: Mutex<HashMap<PhoneId, i64>>,
}

impl Call {
    /// Records an event; a chunk that cannot be recorded as sent is refused (not sent), so
    /// that no change goes out that a crash could leave unaccounted for.
    fn on_event(&self, ev: &Event) -> Result<()> {
        if ev.operation != self.operation {
            return Ok(());
        }
        match &ev.kind {
            EventKind::Sent(ids) => {
                let rows = self
                    .journal
                    .record_sent(&self.provider, self.vendor, self.operation, ids)
                    .map_err(|e| {
                        tracing::error!(error = %e, provider = %self.provider, "the journal could not record a chunk as sent; it is not sent");
                        Error::new(
                            ErrorKind::Unavailable,
                            format!("not sent: the journal could not record it as sent ({e})"),
                        )
                    })?;
                let mut sent = self.sent.lock().unwrap_or_else(|e| e.into_inner());
                sent.extend(ids.iter().cloned().zip(rows));
            }
            EventKind::Answered(outcomes) => self.answered(outcomes),
            _ => {}
        }
        Ok(())
    }

    /// Writes the answers of entries still waiting for one (one transaction).
    fn answered(&self, outcomes: &[PhoneOutcome]) {
        let answers: Vec<(PhoneId, (i64, Update))> = {
            let mut sent = self.sent.lock().unwrap_or_else(|e| e.into_inner());
            if sent.is_empty() {
                return;
            }
            outcomes
                .iter()
                .filter_map(|o| {
                    let id = sent.remove(&o.phone)?;
                    Some((o.phone.clone(), (id, answer_of(o))))
                })
                .collect()
        };
        self.write(answers);
    }

    /// The call failed as a whole after some chunks went out: those are unknown when the
    /// change may have been applied, refused otherwise.
    fn failed_as_a_whole(&self, e: &Error) {
        let sent: Vec<(PhoneId, i64)> = self
            .sent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain()
            .collect();
        let Some((first, _)) = sent.first() else {
            return;
        };
        // One error for every phone: the same answer, worked out once.
        let u = answer_of(&PhoneOutcome::of_change_error(first.clone(), e.clone()));
        self.write(
            sent.into_iter()
                .map(|(p, id)| (p, (id, u.clone())))
                .collect(),
        );
    }

    /// Writes `answers` (one transaction), then forgets the entries they ended.
    fn write(&self, answers: Vec<(PhoneId, (i64, Update))>) {
        let (phones, updates): (Vec<PhoneId>, Vec<(i64, Update)>) = answers.into_iter().unzip();
        if let Err(e) = self.journal.write(&updates) {
            tracing::error!(error = %e, provider = %self.provider, "the journal could not record an answer");
            return;
        }
        self.journal.close(
            &self.provider,
            self.operation,
            phones
                .iter()
                .zip(&updates)
                .filter(|(_, (_, u))| u.end.is_some())
                .map(|(p, (id, _))| (p, std::slice::from_ref(id))),
        );
    }
}

/// Records how waited outcomes ended, for the entries this process knows to be open.
fn settle<'a>(
    journal: &Journal,
    provider: &str,
    operation: Operation,
    target: Option<PhoneState>,
    outcomes: impl IntoIterator<Item = &'a PhoneOutcome>,
) {
    let ends: Vec<(&PhoneOutcome, Update)> = outcomes
        .into_iter()
        .filter_map(|o| end_of(o, target).map(|u| (o, u)))
        .collect();
    if ends.is_empty() {
        return;
    }
    let open = journal.open_ids(provider, operation, ends.iter().map(|(o, _)| &o.phone));
    let mut updates = Vec::new();
    for ((_, u), ids) in ends.iter().zip(&open) {
        updates.extend(ids.iter().map(|&id| (id, u.clone())));
    }
    if updates.is_empty() {
        return;
    }
    if let Err(e) = journal.write(&updates) {
        tracing::error!(error = %e, provider, "the journal could not record how a change ended");
        return;
    }
    journal.close(
        provider,
        operation,
        ends.iter()
            .zip(&open)
            .map(|((o, _), ids)| (&o.phone, ids.as_slice())),
    );
}

#[async_trait]
impl CloudPhoneProvider for Journaled {
    fn vendor(&self) -> &'static str {
        self.inner.vendor()
    }

    fn capabilities(&self) -> &Capabilities {
        self.inner.capabilities()
    }

    async fn status(&self, phones: &[PhoneId]) -> Result<BatchReport> {
        self.inner.status(phones).await
    }

    async fn stop(&self, phones: &[PhoneId]) -> Result<BatchReport> {
        self.change(Operation::Stop, self.inner.stop(phones)).await
    }

    async fn start(&self, phones: &[PhoneId], options: &StartOptions) -> Result<BatchReport> {
        self.change(Operation::Start, self.inner.start(phones, options))
            .await
    }

    async fn restart(&self, phones: &[PhoneId]) -> Result<BatchReport> {
        self.change(Operation::Restart, self.inner.restart(phones))
            .await
    }

    async fn reset(&self, phones: &[PhoneId], options: &ResetOptions) -> Result<BatchReport> {
        self.change(Operation::Reset, self.inner.reset(phones, options))
            .await
    }

    async fn list_page(&self, request: &ListRequest) -> Result<PhonePage> {
        self.inner.list_page(request).await
    }

    async fn jobs(&self, jobs: &[JobRef]) -> Result<Vec<JobInfo>> {
        self.inner.jobs(jobs).await
    }

    fn origin(&self) -> Option<Origin> {
        self.inner.origin()
    }

    /// The wrapped provider's wait; each phone it settles ends its open entries (done, failed,
    /// or unknown when looking cannot tell), written before the settled outcome moves on.
    async fn wait(&self, report: &BatchReport, options: &WaitOptions) -> Result<BatchReport> {
        self.waited(report.operation, options, self.inner.wait(report, options))
            .await
    }

    /// The wrapped provider's owned wait, journalled as [`CloudPhoneProvider::wait`] is.
    async fn wait_owned(&self, report: BatchReport, options: &WaitOptions) -> Result<BatchReport> {
        let operation = report.operation;
        self.waited(operation, options, self.inner.wait_owned(report, options))
            .await
    }
}

impl Journaled {
    /// Runs the wrapped provider's wait `fut` for `operation`: the phones each round settles
    /// end their open entries as the round's event passes, and those the finished wait
    /// settled (whatever no event reported) when it returns.
    async fn waited<F>(
        &self,
        operation: Operation,
        options: &WaitOptions,
        fut: F,
    ) -> Result<BatchReport>
    where
        F: std::future::Future<Output = Result<BatchReport>> + Send,
    {
        let target = options.resolve_target(operation).ok();
        let (journal, name) = (self.journal.clone(), self.name.clone());
        let result = progress::tap(
            move |ev| {
                if let (EventKind::Waited(settled), true) = (&ev.kind, ev.operation == operation) {
                    settle(&journal, &name, operation, target, settled);
                }
                Ok(())
            },
            fut,
        )
        .await;
        if let Ok(waited) = &result {
            settle(
                &self.journal,
                &self.name,
                operation,
                target,
                &waited.outcomes,
            );
        }
        result
    }
}
