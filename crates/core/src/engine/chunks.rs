//! The batch path: one outcome per distinct phone, chunk by chunk.

use std::collections::HashMap;
use std::future::Future;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::StreamExt;

use super::{changes_state, BatchEngine};
use crate::progress::{self, Event, EventKind};
use crate::{
    BatchReport, Error, ErrorKind, Operation, Outcome, PhoneId, PhoneOutcome, Result, StrayJob,
};

impl BatchEngine {
    /// Runs a batch operation over `phones` in chunks of at most `chunk_size`, `concurrency`
    /// chunks at a time, and returns exactly one outcome per distinct valid id, in request
    /// order.
    ///
    /// `run` gets one chunk and returns the outcomes the vendor gave. A chunk that fails as a
    /// whole marks its phones failed without touching the other chunks — or, for a state change
    /// whose answer was lost after sending ([`Error::may_have_applied`]), *unknown*. Ids the
    /// vendor left out get an [`ErrorKind::MissingFromResponse`] error (failed for reads,
    /// unknown for state changes); ids that can never be sent fail on their own without a call.
    ///
    /// When the vendor refuses the credentials nothing more is sent, now or in any later call of
    /// this engine, and chunks in flight are abandoned (a state change among them is unknown).
    /// The call is `Err` if no phone had been accepted, otherwise the accepted outcomes are kept
    /// and the rest fail. Each chunk is reported to an observing caller ([`crate::progress`]) as
    /// it is sent and as it is answered.
    pub async fn run_chunks<F, Fut>(
        &self,
        operation: Operation,
        phones: &[PhoneId],
        chunk_size: usize,
        run: F,
    ) -> Result<BatchReport>
    where
        F: Fn(Vec<PhoneId>) -> Fut,
        Fut: Future<Output = Result<Vec<PhoneOutcome>>>,
    {
        if let Some(e) = self.not_sent() {
            return Err(e);
        }
        let changes = changes_state(operation);
        let emit = |outcomes: &mut dyn Iterator<Item = PhoneOutcome>| {
            progress::emit(|| Event {
                provider: None,
                vendor: self.vendor,
                operation,
                kind: EventKind::Answered(outcomes.collect()),
            })
        };
        // Each distinct id gets a slot in request order; answers land in their slot, so a
        // 100,000-phone batch holds one map of positions, not a second copy of the outcomes.
        // Borrowed from `phones`: a 100,000-phone batch touches each id's reference count once
        // per copy it really hands out (the chunk sent, the outcome), not for its bookkeeping.
        let mut index: HashMap<&str, usize> = HashMap::with_capacity(phones.len());
        let mut ids: Vec<&PhoneId> = Vec::with_capacity(phones.len());
        for id in phones {
            if let std::collections::hash_map::Entry::Vacant(e) = index.entry(id.as_str()) {
                e.insert(ids.len());
                ids.push(id);
            }
        }
        // Allocated when the first answer arrives (or an id is invalid): a batch answered in
        // one piece, in order, needs no slots of its own.
        let mut slots: Vec<Option<PhoneOutcome>> = Vec::new();
        let all_none = |slots: &mut Vec<Option<PhoneOutcome>>| {
            if slots.is_empty() {
                slots.resize_with(ids.len(), || None);
            }
        };
        let mut valid = Vec::with_capacity(ids.len());
        // The slot of each valid id.
        let mut valid_slot: Vec<usize> = Vec::with_capacity(ids.len());
        let mut invalid = Vec::new();
        for (i, id) in ids.iter().enumerate() {
            match id.invalid_reason() {
                Some(why) => {
                    all_none(&mut slots);
                    let shown: String = id.as_str().chars().take(64).collect();
                    let err = Error::new(
                        ErrorKind::InvalidArgument,
                        format!("{why}: `{}`", shown.escape_debug()),
                    )
                    .with_vendor(self.vendor);
                    slots[i] = Some(PhoneOutcome::failed((*id).clone(), err));
                    invalid.push(i);
                }
                None => {
                    valid.push(*id);
                    valid_slot.push(i);
                }
            }
        }
        if !invalid.is_empty() && progress::is_observed() {
            emit(&mut invalid.iter().filter_map(|&i| slots[i].clone()));
        }

        // Chunks as ranges of `valid` (a batch of one-id calls holds no vector per phone).
        let size = chunk_size.max(1);
        let chunks: Vec<Range<usize>> = (0..valid.len())
            .step_by(size)
            .map(|a| a..(a.saturating_add(size)).min(valid.len()))
            .collect();
        // Which chunk each slot was sent in: an answer may only fill the slots of its chunk.
        let mut chunk_of = vec![usize::MAX; ids.len()];
        for (k, r) in chunks.iter().enumerate() {
            for &i in &valid_slot[r.clone()] {
                chunk_of[i] = k;
            }
        }
        let started: Vec<AtomicBool> = chunks.iter().map(|_| AtomicBool::new(false)).collect();
        let rejected = AtomicBool::new(false);
        let mut auth_error: Option<Error> = None;
        // Every chunk in flight carries the same credentials: until they are known to be good,
        // one chunk goes alone, so that a wrong key is sent once, not `concurrency` times
        // (Huawei locks an AK/SK after five failures).
        let attempt = |k: usize| {
            let (rejected, run, started, chunks, valid) =
                (&rejected, &run, &started, &chunks, &valid);
            async move {
                let chunk = &valid[chunks[k].clone()];
                if rejected.load(Ordering::SeqCst) {
                    return (k, None);
                }
                started[k].store(true, Ordering::SeqCst);
                // A tap may refuse the chunk (a journal that could not record it as sent):
                // then it is not sent, and its phones fail as not applied.
                let announced = progress::announce(|| Event {
                    provider: None,
                    vendor: self.vendor,
                    operation,
                    kind: EventKind::Sent(owned(chunk)),
                });
                if let Err(e) = announced {
                    let e = self
                        .scrubber
                        .scrub_error(e)
                        .with_operation(operation)
                        .with_not_applied(true);
                    return (k, Some(Err(e)));
                }
                let answer = run(owned(chunk))
                    .await
                    .map_err(|e| self.scrubber.scrub_error(e).with_operation(operation));
                if matches!(&answer, Err(e) if e.kind().is_auth()) {
                    rejected.store(true, Ordering::SeqCst);
                }
                self.note(&answer);
                self.publish_refusal().await;
                (k, Some(answer))
            }
        };
        let mut order = 0..chunks.len();
        let mut first = Vec::new();
        if !self.credentials_ok.load(Ordering::SeqCst) {
            if let Some(k) = order.next() {
                first.push(attempt(k).await);
            }
        }
        let mut answers = futures::stream::iter(first).chain(
            futures::stream::iter(order)
                .map(attempt)
                .buffer_unordered(self.config.concurrency.max(1)),
        );

        let mut answered = vec![false; chunks.len()];
        let mut stray = Vec::new();
        while let Some((k, answer)) = answers.next().await {
            answered[k] = true;
            let chunk = &valid[chunks[k].clone()];
            let chunk_slots = &valid_slot[chunks[k].clone()];
            let whole =
                matches!(&answer, Some(Ok(o)) if chunks.len() == 1 && in_order(o, chunk, &ids));
            if !whole {
                all_none(&mut slots);
            }
            match answer {
                // The whole batch in one chunk, answered in request order (a status from list
                // pages): the answer becomes the slots, without a second copy of 100,000
                // outcomes.
                Some(Ok(outcomes)) if whole => {
                    slots = outcomes
                        .into_iter()
                        .zip(&ids)
                        .map(|(mut o, &id)| {
                            o.phone = id.clone();
                            o.outcome = self.scrub_outcome(o.outcome);
                            Some(o)
                        })
                        .collect();
                }
                Some(Ok(outcomes)) => {
                    for (j, mut o) in outcomes.into_iter().enumerate() {
                        // Most answers list the chunk's phones in request order: the id at
                        // the same position is compared first, and only an answer out of
                        // order pays for a lookup.
                        let i = match chunk.get(j) {
                            Some(&id) if *id == o.phone => Some(chunk_slots[j]),
                            _ => index
                                .get(o.phone.as_str())
                                .copied()
                                .filter(|&i| chunk_of[i] == k),
                        };
                        let Some(i) = i else {
                            // A job for a phone not in this chunk (or naming no phone, given
                            // as an empty id): reported, never dropped.
                            if let Some(job) = o.job.take() {
                                tracing::warn!(vendor = self.vendor, %operation, phone = %o.phone, job = %job.job_id(), "the vendor reported a job for a phone not asked for");
                                stray.push(StrayJob {
                                    phone: (!o.phone.as_str().is_empty()).then_some(o.phone),
                                    job,
                                });
                            }
                            continue;
                        };
                        // Only phones of this chunk, and the first outcome of each: a phone
                        // listed twice is merged by the backend, never overwritten here.
                        if slots[i].is_none() && chunk_of[i] == k {
                            o.outcome = self.scrub_outcome(o.outcome);
                            // The caller's id, shared: not the vendor's copy of it.
                            o.phone = ids[i].clone();
                            slots[i] = Some(o);
                        }
                    }
                    for (&id, &i) in chunk.iter().zip(chunk_slots) {
                        let slot = &mut slots[i];
                        if slot.is_none() {
                            let err = Error::new(
                                ErrorKind::MissingFromResponse,
                                format!("the vendor's answer said nothing about phone `{id}`"),
                            )
                            .with_vendor(self.vendor);
                            // The request went out and the vendor answered: a change left out
                            // of the answer may still have been made.
                            *slot = Some(if changes {
                                PhoneOutcome::unknown(id.clone(), err)
                            } else {
                                PhoneOutcome::failed(id.clone(), err)
                            });
                        }
                    }
                }
                Some(Err(e)) => {
                    tracing::debug!(vendor = self.vendor, %operation, phones = chunk.len(), error = %e, "chunk failed");
                    let is_auth = e.kind().is_auth();
                    if is_auth && auth_error.is_none() {
                        auth_error = Some(e.clone());
                    }
                    for (&id, &i) in chunk.iter().zip(chunk_slots) {
                        slots[i] = Some(if changes {
                            PhoneOutcome::of_change_error(id.clone(), e.clone())
                        } else {
                            PhoneOutcome::failed(id.clone(), e.clone())
                        });
                    }
                }
                None => {
                    let e = self.not_sent().unwrap_or_else(|| {
                        Error::new(
                            ErrorKind::Unauthenticated,
                            "not sent: the vendor refused the credentials",
                        )
                        .with_vendor(self.vendor)
                    });
                    for (&id, &i) in chunk.iter().zip(chunk_slots) {
                        slots[i] = Some(PhoneOutcome::failed(id.clone(), e.clone()));
                    }
                }
            }
            if progress::is_observed() {
                emit(&mut chunk_slots.iter().filter_map(|&i| slots[i].clone()));
            }
            if auth_error.is_some() {
                // Abandon what is in flight: it carries the refused credentials too.
                break;
            }
        }
        drop(answers);

        all_none(&mut slots);
        if let Some(refusal) = &auth_error {
            let not_sent = self.not_sent().unwrap_or_else(|| refusal.clone());
            let abandoned = Error::new(
                ErrorKind::Unavailable,
                format!(
                    "abandoned in flight when the vendor refused the credentials on another request ({}); it may have been applied",
                    refusal.message()
                ),
            )
            .with_vendor(self.vendor);
            for (k, r) in chunks.iter().enumerate() {
                if answered[k] {
                    continue;
                }
                let in_flight = started[k].load(Ordering::SeqCst);
                let chunk_slots = &valid_slot[r.clone()];
                for (&id, &i) in valid[r.clone()].iter().zip(chunk_slots) {
                    slots[i] = Some(if in_flight && changes {
                        PhoneOutcome::unknown(id.clone(), abandoned.clone())
                    } else {
                        PhoneOutcome::failed(id.clone(), not_sent.clone())
                    });
                }
                if progress::is_observed() {
                    emit(&mut chunk_slots.iter().filter_map(|&i| slots[i].clone()));
                }
            }
            let accepted = slots
                .iter()
                .flatten()
                .any(|o| !matches!(o.outcome, Outcome::Failed(_)));
            if !accepted {
                return Err(refusal.clone());
            }
        }

        drop(index);
        // Slots first: collected in place, the slots' allocation becomes the outcomes'.
        let outcomes = slots
            .into_iter()
            .zip(ids)
            .map(|(slot, id)| {
                slot.unwrap_or_else(|| {
                    // Unreachable by construction (every chunk fills its slots); kept as a
                    // failure rather than a panic.
                    let err = Error::new(
                        ErrorKind::MissingFromResponse,
                        format!("no outcome was recorded for phone `{id}`"),
                    )
                    .with_vendor(self.vendor);
                    PhoneOutcome::failed(id.clone(), err)
                })
            })
            .collect();
        let mut report = BatchReport::new(operation, outcomes);
        report.stray_jobs = stray;
        report.origin = Some(self.origin());
        Ok(report)
    }

    /// An outcome with its error scrubbed of secrets.
    fn scrub_outcome(&self, outcome: Outcome) -> Outcome {
        match outcome {
            Outcome::Failed(e) => Outcome::Failed(self.scrubber.scrub_error(e)),
            Outcome::Unknown(e) => Outcome::Unknown(self.scrubber.scrub_error(e)),
            other => other,
        }
    }

    /// Runs a single-id operation for each phone, `concurrency` at a time, with the same
    /// guarantees as [`BatchEngine::run_chunks`].
    pub async fn run_each<F, Fut>(
        &self,
        operation: Operation,
        phones: &[PhoneId],
        run: F,
    ) -> Result<BatchReport>
    where
        F: Fn(PhoneId) -> Fut,
        Fut: Future<Output = Result<PhoneOutcome>>,
    {
        self.run_chunks(operation, phones, 1, |mut chunk| {
            let id = chunk.pop().expect("chunks of one id");
            let fut = run(id);
            async move { fut.await.map(|o| vec![o]) }
        })
        .await
    }
}

/// Whether `outcomes` answer every id of `chunk` — which holds every id of the batch — once,
/// in request order.
fn in_order(outcomes: &[PhoneOutcome], chunk: &[&PhoneId], ids: &[&PhoneId]) -> bool {
    chunk.len() == ids.len()
        && outcomes.len() == ids.len()
        && outcomes.iter().zip(ids).all(|(o, id)| &o.phone == *id)
}

/// A chunk of borrowed ids as the owned ids a request takes.
fn owned(chunk: &[&PhoneId]) -> Vec<PhoneId> {
    chunk.iter().map(|&id| id.clone()).collect()
}
