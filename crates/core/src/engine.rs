//! The batch engine every backend shares: dedupe, validation, chunking, bounded fan-out, rate
//! limiting, retries, per-chunk failure containment and the completeness check.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures::StreamExt;

use crate::progress::{self, Event, EventKind};
use crate::{
    BatchReport, Error, ErrorKind, Idempotency, Operation, Origin, Outcome, PhoneId, PhoneOutcome,
    RateBudget, RateLimiter, Result, RetryPolicy, Scrubber, StrayJob,
};

/// Collapses duplicate ids, keeping the first occurrence and the request order.
pub fn dedupe(phones: impl IntoIterator<Item = PhoneId>) -> Vec<PhoneId> {
    let mut seen = HashSet::new();
    phones
        .into_iter()
        .filter(|p| seen.insert(p.clone()))
        .collect()
}

/// Whose calls share a rate budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RateScope {
    /// One budget for every call of the provider.
    #[default]
    Provider,
    /// One budget per endpoint, for vendors that limit each API separately (GeeLark).
    Endpoint,
}

/// Settings of a [`BatchEngine`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EngineConfig {
    /// Vendor calls in flight at once for one batch.
    pub concurrency: usize,
    /// Retry policy for temporary failures.
    pub retry: RetryPolicy,
    /// Client-side budgets (empty: no limiting).
    pub rate_limits: Vec<RateBudget>,
    /// Whether budgets apply per provider or per endpoint.
    pub rate_scope: RateScope,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            concurrency: 8,
            retry: RetryPolicy::default(),
            rate_limits: Vec::new(),
            rate_scope: RateScope::Provider,
        }
    }
}

impl EngineConfig {
    /// Sets the fan-out concurrency (at least 1).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// Sets the retry policy.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Sets the rate budgets and their scope.
    pub fn rate_limits(mut self, budgets: Vec<RateBudget>, scope: RateScope) -> Self {
        self.rate_limits = budgets;
        self.rate_scope = scope;
        self
    }
}

/// The machinery behind every batch call of one provider instance. Its rate limiters are shared
/// by all calls made through it.
#[derive(Debug)]
pub struct BatchEngine {
    vendor: &'static str,
    config: EngineConfig,
    shared: Arc<RateLimiter>,
    per_endpoint: Mutex<HashMap<&'static str, Arc<RateLimiter>>>,
    /// Whether a request has succeeded since the last credential rejection.
    credentials_ok: AtomicBool,
    /// The vendor's refusal of our credentials, once one arrived: credentials never change
    /// within a provider, so no request is sent with them again (vendors lock keys after a few
    /// failures: Huawei after five).
    refused: Mutex<Option<Error>>,
    scrubber: Scrubber,
    /// Attempts sent and retries granted, for the provider's retry budget.
    attempts: AtomicU64,
    retries: AtomicU64,
    instance: u64,
}

/// Provider instances made so far, to tell their reports apart.
static INSTANCES: AtomicU64 = AtomicU64::new(1);

/// Retries every provider may make without earning them.
const RETRY_BUDGET_FLOOR: u64 = 10;
/// Beyond the floor, one retry is earned by every this many attempts: when a vendor fails
/// everything, 1,000 chunks make about 1,200 calls, not 5,000.
const ATTEMPTS_PER_RETRY: u64 = 5;

/// Whether `operation` changes phones (so a lost answer leaves its outcome unknown).
fn changes_state(operation: Operation) -> bool {
    matches!(
        operation,
        Operation::Stop | Operation::Start | Operation::Restart | Operation::Reset
    )
}

impl BatchEngine {
    /// An engine for `vendor`'s calls.
    pub fn new(vendor: &'static str, config: EngineConfig) -> Self {
        BatchEngine {
            vendor,
            shared: Arc::new(RateLimiter::new(config.rate_limits.iter().copied())),
            config,
            per_endpoint: Mutex::new(HashMap::new()),
            credentials_ok: AtomicBool::new(false),
            refused: Mutex::new(None),
            scrubber: Scrubber::new(),
            attempts: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            instance: INSTANCES.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// This engine's provider instance, as stamped on its reports ([`BatchReport::origin`]).
    pub fn origin(&self) -> Origin {
        Origin {
            vendor: self.vendor,
            instance: self.instance,
        }
    }

    /// Grants one retry from the provider's budget, if any is left.
    fn grant_retry(&self) -> bool {
        let earned =
            RETRY_BUDGET_FLOOR + self.attempts.load(Ordering::Relaxed) / ATTEMPTS_PER_RETRY;
        let granted = self
            .retries
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |r| {
                (r < earned).then_some(r + 1)
            })
            .is_ok();
        if !granted {
            tracing::debug!(vendor = self.vendor, "retry budget spent; the error stands");
        }
        granted
    }

    /// The engine's settings.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The scrubber applied to every error and outcome passing through this engine; backends
    /// feed it their configured secrets and the tokens issued to them.
    pub fn scrubber(&self) -> &Scrubber {
        &self.scrubber
    }

    /// The vendor's refusal of this provider's credentials, if one arrived.
    pub fn refusal(&self) -> Option<Error> {
        self.refused
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Records what a request's result says about the credentials: a refusal is kept (and
    /// stops every later request), a success proves them.
    pub fn note<T>(&self, result: &Result<T>) {
        match result {
            Err(e) if e.kind().is_auth() => {
                self.credentials_ok.store(false, Ordering::SeqCst);
                let mut r = self.refused.lock().unwrap_or_else(|p| p.into_inner());
                if r.is_none() {
                    tracing::warn!(vendor = self.vendor, error = %e, "credentials refused; no further request is sent with them");
                    *r = Some(e.clone());
                }
            }
            Ok(_) => self.credentials_ok.store(true, Ordering::SeqCst),
            Err(_) => {}
        }
    }

    /// The refusal as the error of a request that was therefore not sent.
    fn not_sent(&self) -> Option<Error> {
        self.refusal().map(|e| {
            Error::new(
                ErrorKind::Unauthenticated,
                format!(
                    "not sent: the vendor refused the credentials earlier ({})",
                    e.message()
                ),
            )
            .with_vendor(self.vendor)
            .with_vendor_code(e.vendor_code().unwrap_or_default().to_owned())
            .with_not_applied(true)
        })
    }

    /// Runs a request that is not a batch (jobs, listing, a login check) under the credential
    /// rules: nothing is sent after a refusal, a new refusal is remembered, errors are
    /// scrubbed.
    pub async fn guarded<T>(&self, request: impl Future<Output = Result<T>>) -> Result<T> {
        if let Some(e) = self.not_sent() {
            return Err(e);
        }
        let result = request.await.map_err(|e| self.scrubber.scrub_error(e));
        self.note(&result);
        result
    }

    fn limiter(&self, endpoint: &'static str) -> Arc<RateLimiter> {
        match self.config.rate_scope {
            RateScope::Provider => self.shared.clone(),
            RateScope::Endpoint => {
                let mut map = self.per_endpoint.lock().unwrap_or_else(|p| p.into_inner());
                map.entry(endpoint)
                    .or_insert_with(|| {
                        Arc::new(RateLimiter::new(self.config.rate_limits.iter().copied()))
                    })
                    .clone()
            }
        }
    }

    /// Makes one vendor request: every attempt waits for the rate limiter, and temporary
    /// failures are retried as the policy and `idempotency` allow, within the provider's retry
    /// budget (ten retries, plus one per five attempts made). `attempt` is called afresh each
    /// time, so it must build (and sign) its request inside. No attempt starts once the
    /// credentials were refused; errors are scrubbed of secrets and name the endpoint.
    pub async fn call<T, F, Fut>(
        &self,
        endpoint: &'static str,
        idempotency: Idempotency,
        attempt: F,
    ) -> Result<T>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let limiter = self.limiter(endpoint);
        let (attempt, limiter) = (&attempt, &limiter);
        let may_retry = || self.grant_retry();
        self.config
            .retry
            .run_budgeted(idempotency, &may_retry, || async move {
                // Wait first, build second: the request (timestamp, signature) is made only
                // once it may be sent.
                limiter.acquire().await;
                if let Some(e) = self.not_sent() {
                    return Err(e);
                }
                self.attempts.fetch_add(1, Ordering::Relaxed);
                attempt().await.map_err(|e| {
                    let e = if e.endpoint().is_none() {
                        e.with_endpoint(endpoint)
                    } else {
                        e
                    };
                    self.scrubber.scrub_error(e)
                })
            })
            .await
    }

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
        let mut index: HashMap<PhoneId, usize> = HashMap::with_capacity(phones.len());
        let mut ids = Vec::with_capacity(phones.len());
        for id in phones {
            if !index.contains_key(id) {
                index.insert(id.clone(), ids.len());
                ids.push(id.clone());
            }
        }
        let mut slots: Vec<Option<PhoneOutcome>> = Vec::with_capacity(ids.len());
        slots.resize_with(ids.len(), || None);
        let mut valid = Vec::with_capacity(ids.len());
        let mut invalid = Vec::new();
        for (i, id) in ids.iter().enumerate() {
            match id.invalid_reason() {
                Some(why) => {
                    let shown: String = id.as_str().chars().take(64).collect();
                    let err = Error::new(
                        ErrorKind::InvalidArgument,
                        format!("{why}: `{}`", shown.escape_debug()),
                    )
                    .with_vendor(self.vendor);
                    slots[i] = Some(PhoneOutcome::failed(id.clone(), err));
                    invalid.push(i);
                }
                None => valid.push(id.clone()),
            }
        }
        if !invalid.is_empty() && progress::is_observed() {
            emit(&mut invalid.iter().filter_map(|&i| slots[i].clone()));
        }

        let chunks: Vec<Vec<PhoneId>> = valid
            .chunks(chunk_size.max(1))
            .map(<[PhoneId]>::to_vec)
            .collect();
        drop(valid);
        // Which chunk each slot was sent in: an answer may only fill the slots of its chunk.
        let mut chunk_of = vec![usize::MAX; ids.len()];
        for (k, chunk) in chunks.iter().enumerate() {
            for id in chunk {
                chunk_of[index[id]] = k;
            }
        }
        let started: Vec<AtomicBool> = chunks.iter().map(|_| AtomicBool::new(false)).collect();
        let rejected = AtomicBool::new(false);
        let mut auth_error: Option<Error> = None;
        // Every chunk in flight carries the same credentials: until they are known to be good,
        // one chunk goes alone, so that a wrong key is sent once, not `concurrency` times
        // (Huawei locks an AK/SK after five failures).
        let attempt = |k: usize| {
            let (rejected, run, started, chunks) = (&rejected, &run, &started, &chunks);
            async move {
                if rejected.load(Ordering::SeqCst) {
                    return (k, None);
                }
                started[k].store(true, Ordering::SeqCst);
                progress::emit(|| Event {
                    provider: None,
                    vendor: self.vendor,
                    operation,
                    kind: EventKind::Sent(chunks[k].clone()),
                });
                let answer = run(chunks[k].clone())
                    .await
                    .map_err(|e| self.scrubber.scrub_error(e).with_operation(operation));
                if matches!(&answer, Err(e) if e.kind().is_auth()) {
                    rejected.store(true, Ordering::SeqCst);
                }
                self.note(&answer);
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
            let chunk = &chunks[k];
            match answer {
                Some(Ok(outcomes)) => {
                    for mut o in outcomes {
                        let i = index.get(&o.phone).copied().filter(|&i| chunk_of[i] == k);
                        let Some(i) = i else {
                            // A job for a phone not in this chunk (or naming no phone, given
                            // as an empty id): reported, never dropped.
                            if let Some(job) = o.job.take() {
                                tracing::warn!(vendor = self.vendor, %operation, phone = %o.phone, job = %job.job_id, "the vendor reported a job for a phone not asked for");
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
                            o.outcome = match o.outcome {
                                Outcome::Failed(e) => Outcome::Failed(self.scrubber.scrub_error(e)),
                                Outcome::Unknown(e) => {
                                    Outcome::Unknown(self.scrubber.scrub_error(e))
                                }
                                other => other,
                            };
                            slots[i] = Some(o);
                        }
                    }
                    for id in chunk {
                        let slot = &mut slots[index[id]];
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
                    let unknown = changes && e.may_have_applied();
                    for id in chunk {
                        slots[index[id]] = Some(if unknown {
                            PhoneOutcome::unknown(id.clone(), e.clone())
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
                    for id in chunk {
                        slots[index[id]] = Some(PhoneOutcome::failed(id.clone(), e.clone()));
                    }
                }
            }
            if progress::is_observed() {
                emit(&mut chunk.iter().filter_map(|id| slots[index[id]].clone()));
            }
            if auth_error.is_some() {
                // Abandon what is in flight: it carries the refused credentials too.
                break;
            }
        }
        drop(answers);

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
            for (k, chunk) in chunks.iter().enumerate() {
                if answered[k] {
                    continue;
                }
                let in_flight = started[k].load(Ordering::SeqCst);
                for id in chunk {
                    slots[index[id]] = Some(if in_flight && changes {
                        PhoneOutcome::unknown(id.clone(), abandoned.clone())
                    } else {
                        PhoneOutcome::failed(id.clone(), not_sent.clone())
                    });
                }
                if progress::is_observed() {
                    emit(&mut chunk.iter().filter_map(|id| slots[index[id]].clone()));
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
        let outcomes = ids
            .into_iter()
            .zip(slots)
            .map(|(id, slot)| {
                slot.unwrap_or_else(|| {
                    // Unreachable by construction (every chunk fills its slots); kept as a
                    // failure rather than a panic.
                    let err = Error::new(
                        ErrorKind::MissingFromResponse,
                        format!("no outcome was recorded for phone `{id}`"),
                    )
                    .with_vendor(self.vendor);
                    PhoneOutcome::failed(id, err)
                })
            })
            .collect();
        let mut report = BatchReport::new(operation, outcomes);
        report.stray_jobs = stray;
        report.origin = Some(self.origin());
        Ok(report)
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn ids(v: &[&str]) -> Vec<PhoneId> {
        v.iter().map(|s| PhoneId::from(*s)).collect()
    }

    fn engine() -> BatchEngine {
        BatchEngine::new("test", EngineConfig::default().retry(RetryPolicy::none()))
    }

    #[test]
    fn dedupe_keeps_first_occurrence_in_order() {
        let got = dedupe(ids(&["b", "a", "b", "c", "a"]));
        assert_eq!(got, ids(&["b", "a", "c"]));
    }

    #[tokio::test]
    async fn chunks_respect_the_maximum_and_outcomes_keep_request_order() {
        let sizes = Mutex::new(Vec::new());
        let phones: Vec<PhoneId> = (0..250)
            .rev()
            .map(|i| PhoneId::new(i.to_string()))
            .collect();
        let report = engine()
            .run_chunks(Operation::Status, &phones, 100, |chunk| {
                sizes.lock().unwrap().push(chunk.len());
                async move {
                    // Answer in reverse to prove the engine restores request order.
                    Ok(chunk.into_iter().rev().map(PhoneOutcome::done).collect())
                }
            })
            .await
            .unwrap();
        let mut sizes = sizes.into_inner().unwrap();
        sizes.sort();
        assert_eq!(sizes, vec![50, 100, 100]);
        let got: Vec<_> = report.outcomes.iter().map(|o| o.phone.clone()).collect();
        assert_eq!(got, phones);
        assert!(report.all_done());
    }

    #[tokio::test]
    async fn duplicates_are_sent_once_and_reported_once() {
        let sent = Mutex::new(Vec::new());
        let report = engine()
            .run_chunks(Operation::Stop, &ids(&["a", "b", "a"]), 10, |chunk| {
                sent.lock().unwrap().extend(chunk.clone());
                async move { Ok(chunk.into_iter().map(PhoneOutcome::pending).collect()) }
            })
            .await
            .unwrap();
        assert_eq!(sent.into_inner().unwrap(), ids(&["a", "b"]));
        assert_eq!(report.outcomes.len(), 2);
    }

    #[tokio::test]
    async fn ids_missing_from_the_answer_get_their_own_outcome() {
        for op in [Operation::Stop, Operation::Status] {
            let report = engine()
                .run_chunks(op, &ids(&["a", "b", "c"]), 10, |_| async {
                    // The vendor answers about `a` and about a phone nobody asked for.
                    Ok(vec![
                        PhoneOutcome::pending("a".into()),
                        PhoneOutcome::done("zzz".into()),
                    ])
                })
                .await
                .unwrap();
            assert_eq!(report.outcomes.len(), 3);
            assert!(report.outcomes[0].is_pending());
            for o in &report.outcomes[1..] {
                assert_eq!(o.cause().unwrap().kind(), ErrorKind::MissingFromResponse);
                // A stop the vendor answered without this phone may have been made.
                assert_eq!(o.is_unknown(), op == Operation::Stop, "{op}: {o:?}");
            }
        }
    }

    #[tokio::test]
    async fn one_failing_chunk_leaves_the_others_intact() {
        let phones: Vec<PhoneId> = (0..30).map(|i| PhoneId::new(format!("p{i}"))).collect();
        let report = engine()
            .run_chunks(Operation::Reset, &phones, 10, |chunk| async move {
                if chunk.contains(&PhoneId::from("p15")) {
                    Err(Error::new(ErrorKind::NotFound, "no such group"))
                } else if chunk.contains(&PhoneId::from("p25")) {
                    Err(Error::new(ErrorKind::Unavailable, "503"))
                } else {
                    Ok(chunk.into_iter().map(PhoneOutcome::pending).collect())
                }
            })
            .await
            .unwrap();
        let s = report.summary();
        assert_eq!((s.total, s.pending, s.failed, s.unknown), (30, 10, 10, 10));
        for o in &report.outcomes[10..20] {
            assert_eq!(o.error().unwrap().kind(), ErrorKind::NotFound);
        }
        // A 503 after a reset was sent: it may have been applied, so it is unknown.
        for o in &report.outcomes[20..30] {
            assert!(o.is_unknown(), "{o:?}");
            assert_eq!(o.cause().unwrap().kind(), ErrorKind::Unavailable);
        }
    }

    #[tokio::test]
    async fn a_lost_answer_is_unknown_for_changes_and_failed_for_reads() {
        for (op, unknown) in [(Operation::Stop, true), (Operation::Status, false)] {
            let report = engine()
                .run_chunks(op, &ids(&["a", "b"]), 10, |_| async {
                    Err::<Vec<PhoneOutcome>, _>(Error::new(ErrorKind::Timeout, "timed out"))
                })
                .await
                .unwrap();
            assert!(
                report.outcomes.iter().all(|o| o.is_unknown() == unknown),
                "{op}: {report:?}"
            );
            // Refused before anything happened (throttled, connection refused): failed.
            let report = engine()
                .run_chunks(op, &ids(&["a"]), 10, |_| async {
                    Err::<Vec<PhoneOutcome>, _>(Error::new(ErrorKind::RateLimited, "slow down"))
                })
                .await
                .unwrap();
            assert!(report.outcomes[0].error().is_some(), "{op}");
        }
    }

    #[tokio::test]
    async fn a_refusal_abandons_chunks_in_flight_and_stops_later_calls() {
        let calls = AtomicUsize::new(0);
        let e = BatchEngine::new(
            "test",
            EngineConfig::default()
                .concurrency(4)
                .retry(RetryPolicy::none()),
        );
        // Prove the credentials first, so that chunks fan out at once.
        e.run_chunks(Operation::Status, &ids(&["x"]), 1, |c| async move {
            Ok(c.into_iter().map(PhoneOutcome::done).collect())
        })
        .await
        .unwrap();
        let phones: Vec<PhoneId> = (0..8).map(|i| PhoneId::new(format!("p{i}"))).collect();
        let report = e
            .run_chunks(Operation::Reset, &phones, 1, |chunk| {
                let n = calls.fetch_add(1, Ordering::SeqCst);
                async move {
                    if n == 0 {
                        // Accepted at once.
                        return Ok(chunk.into_iter().map(PhoneOutcome::pending).collect());
                    }
                    if n == 1 {
                        tokio::task::yield_now().await;
                        return Err(Error::new(ErrorKind::Unauthenticated, "key locked"));
                    }
                    // The others hang: they are in flight when the refusal arrives.
                    std::future::pending::<()>().await;
                    unreachable!()
                }
            })
            .await
            .unwrap();
        let s = report.summary();
        // Chunk 0 answered at once, so chunk 4 took its place before the refusal arrived.
        assert_eq!(
            calls.load(Ordering::SeqCst),
            5,
            "nothing sent after the refusal"
        );
        assert_eq!(s.pending, 1, "{report:?}");
        assert_eq!(s.unknown, 3, "the three in flight may have been applied");
        assert_eq!(s.failed, 4, "the refused one and the three never sent");
        // Later calls send nothing.
        let err = e
            .run_chunks(Operation::Status, &phones, 1, |_| {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Ok(vec![]) }
            })
            .await
            .unwrap_err();
        assert!(
            err.kind().is_auth() && err.message().contains("not sent"),
            "{err}"
        );
        assert_eq!(calls.load(Ordering::SeqCst), 5);
        let err = e
            .call("x", Idempotency::ReadOnly, || {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Ok(()) }
            })
            .await
            .unwrap_err();
        assert!(err.kind().is_auth());
        assert_eq!(calls.load(Ordering::SeqCst), 5);
    }

    #[tokio::test]
    async fn echoed_secrets_never_leave_the_engine() {
        let e = engine();
        e.scrubber().add("s3cr3t-key");
        let report = e
            .run_chunks(Operation::Stop, &ids(&["a", "b"]), 1, |chunk| async move {
                if chunk[0].as_str() == "a" {
                    Ok(vec![PhoneOutcome::failed(
                        chunk[0].clone(),
                        Error::new(ErrorKind::Busy, "busy; your key is s3cr3t-key"),
                    )])
                } else {
                    Err(Error::new(ErrorKind::NotFound, "bad key s3cr3t-key"))
                }
            })
            .await
            .unwrap();
        for o in &report.outcomes {
            let shown = format!("{} {:?}", o.cause().unwrap(), o.cause().unwrap());
            assert!(
                !shown.contains("s3cr3t-key") && shown.contains("[redacted]"),
                "{shown}"
            );
        }
    }

    #[tokio::test]
    async fn chunks_are_handed_out_as_they_are_answered() {
        let events = Arc::new(Mutex::new(Vec::new()));
        let log = events.clone();
        let phones: Vec<PhoneId> = (0..5).map(|i| PhoneId::new(format!("p{i}"))).collect();
        let e = engine();
        let report = crate::progress::observe(
            move |ev| {
                let what = match &ev.kind {
                    crate::progress::EventKind::Sent(ids) => format!("sent {}", ids.len()),
                    crate::progress::EventKind::Answered(o) => format!("answered {}", o.len()),
                };
                log.lock().unwrap().push(what);
            },
            e.run_chunks(Operation::Stop, &phones, 2, |chunk| async move {
                Ok(chunk.into_iter().map(PhoneOutcome::pending).collect())
            }),
        )
        .await
        .unwrap();
        assert_eq!(report.summary().pending, 5);
        let events = events.lock().unwrap().clone();
        let sent: usize = events.iter().filter(|e| e.starts_with("sent")).count();
        let answered: Vec<&String> = events
            .iter()
            .filter(|e| e.starts_with("answered"))
            .collect();
        assert_eq!(sent, 3);
        assert_eq!(answered, ["answered 2", "answered 2", "answered 1"]);
    }

    #[tokio::test]
    async fn jobs_for_phones_not_asked_for_are_kept_as_strays() {
        let report = engine()
            .run_chunks(Operation::Reset, &ids(&["a"]), 10, |_| async {
                Ok(vec![
                    PhoneOutcome::pending("a".into()).with_job(crate::JobRef::new("j-a", None)),
                    PhoneOutcome::pending("zzz".into()).with_job(crate::JobRef::new("j-z", None)),
                    PhoneOutcome::pending("".into()).with_job(crate::JobRef::new("j-none", None)),
                ])
            })
            .await
            .unwrap();
        assert_eq!(report.outcomes.len(), 1);
        let strays: Vec<_> = report
            .stray_jobs
            .iter()
            .map(|s| {
                (
                    s.phone.as_ref().map(|p| p.to_string()),
                    s.job.job_id.clone(),
                )
            })
            .collect();
        assert_eq!(
            strays,
            [
                (Some("zzz".to_owned()), "j-z".to_owned()),
                (None, "j-none".to_owned())
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_provider_wide_retry_budget_bounds_calls_when_everything_fails() {
        let e = BatchEngine::new(
            "test",
            EngineConfig::default()
                .concurrency(4)
                .retry(RetryPolicy::default().delays(
                    std::time::Duration::from_millis(1),
                    std::time::Duration::from_millis(1),
                )),
        );
        let calls = AtomicUsize::new(0);
        let phones: Vec<PhoneId> = (0..200).map(|i| PhoneId::new(format!("p{i}"))).collect();
        let report = e
            .run_chunks(Operation::Status, &phones, 1, |_| {
                e.call("status", Idempotency::ReadOnly, || {
                    calls.fetch_add(1, Ordering::SeqCst);
                    async { Err::<Vec<PhoneOutcome>, _>(Error::new(ErrorKind::Unavailable, "503")) }
                })
            })
            .await
            .unwrap();
        assert_eq!(report.summary().failed, 200);
        let n = calls.load(Ordering::SeqCst);
        // 200 first attempts and a budget of about 10 + n/5 retries — not 200 × 5 = 1,000.
        assert!((200..=265).contains(&n), "{n} calls");
        let err = report.outcomes[0].error().unwrap();
        assert_eq!(err.operation(), Some(Operation::Status));
        assert_eq!(err.endpoint(), Some("status"));
        assert!(err.is_persistent());
    }

    #[test]
    fn overlong_ids_are_invalid() {
        assert!(PhoneId::new("x".repeat(256)).invalid_reason().is_none());
        assert!(PhoneId::new("x".repeat(257)).invalid_reason().is_some());
    }

    #[tokio::test]
    async fn invalid_ids_fail_alone_without_a_call() {
        let sent = Mutex::new(Vec::new());
        let report = engine()
            .run_each(Operation::Reset, &ids(&["ok", "", "x\ny"]), |id| {
                sent.lock().unwrap().push(id.clone());
                async move { Ok(PhoneOutcome::pending(id)) }
            })
            .await
            .unwrap();
        assert_eq!(sent.into_inner().unwrap(), ids(&["ok"]));
        assert!(report.outcomes[0].is_pending());
        assert_eq!(
            report.outcomes[1].error().unwrap().kind(),
            ErrorKind::InvalidArgument
        );
        assert_eq!(
            report.outcomes[2].error().unwrap().kind(),
            ErrorKind::InvalidArgument
        );
    }

    #[tokio::test]
    async fn rejected_credentials_stop_the_batch() {
        let calls = AtomicUsize::new(0);
        let e = BatchEngine::new(
            "test",
            EngineConfig::default()
                .concurrency(1)
                .retry(RetryPolicy::none()),
        );
        let phones: Vec<PhoneId> = (0..5).map(|i| PhoneId::new(format!("p{i}"))).collect();
        let err = e
            .run_each(Operation::Stop, &phones, |_| {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Err::<PhoneOutcome, _>(Error::new(ErrorKind::Unauthenticated, "40003")) }
            })
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unauthenticated);
        assert_eq!(calls.load(Ordering::SeqCst), 1, "no call after a rejection");
    }

    #[tokio::test]
    async fn rejected_credentials_are_sent_once_even_with_concurrency() {
        let calls = AtomicUsize::new(0);
        let e = BatchEngine::new(
            "test",
            EngineConfig::default()
                .concurrency(8)
                .retry(RetryPolicy::none()),
        );
        let phones: Vec<PhoneId> = (0..40).map(|i| PhoneId::new(format!("p{i}"))).collect();
        let err = e
            .run_chunks(Operation::Reset, &phones, 5, |_| {
                calls.fetch_add(1, Ordering::SeqCst);
                async {
                    tokio::task::yield_now().await;
                    Err::<Vec<PhoneOutcome>, _>(Error::new(ErrorKind::Unauthenticated, "bad AK/SK"))
                }
            })
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unauthenticated);
        assert_eq!(calls.load(Ordering::SeqCst), 1, "one probe, then stop");
    }

    #[tokio::test]
    async fn once_credentials_work_chunks_fan_out_at_once() {
        let e = BatchEngine::new("test", EngineConfig::default().concurrency(4));
        let ok = |chunk: Vec<PhoneId>| async move {
            Ok(chunk.into_iter().map(PhoneOutcome::done).collect())
        };
        let phones: Vec<PhoneId> = (0..8).map(|i| PhoneId::new(format!("p{i}"))).collect();
        e.run_chunks(Operation::Status, &phones, 2, ok)
            .await
            .unwrap();
        // Now proven: all four chunks are in flight together.
        let in_flight = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        e.run_chunks(Operation::Status, &phones, 2, |chunk| {
            let (in_flight, peak) = (&in_flight, &peak);
            async move {
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                tokio::task::yield_now().await;
                in_flight.fetch_sub(1, Ordering::SeqCst);
                Ok(chunk.into_iter().map(PhoneOutcome::done).collect())
            }
        })
        .await
        .unwrap();
        assert_eq!(peak.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn accepted_work_survives_a_later_credential_rejection() {
        let calls = AtomicUsize::new(0);
        let e = BatchEngine::new(
            "test",
            EngineConfig::default()
                .concurrency(1)
                .retry(RetryPolicy::none()),
        );
        let phones: Vec<PhoneId> = (0..4).map(|i| PhoneId::new(format!("p{i}"))).collect();
        let report = e
            .run_each(Operation::Reset, &phones, |id| {
                let n = calls.fetch_add(1, Ordering::SeqCst);
                async move {
                    if n == 0 {
                        Ok(PhoneOutcome::pending(id).with_job(crate::JobRef::new("j1", None)))
                    } else {
                        Err(Error::new(ErrorKind::Unauthenticated, "token expired"))
                    }
                }
            })
            .await
            .unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert_eq!(report.outcomes[0].job.as_ref().unwrap().job_id, "j1");
        assert_eq!(report.summary().failed, 3);
    }

    #[tokio::test(start_paused = true)]
    async fn call_waits_for_the_shared_budget() {
        let e = BatchEngine::new(
            "test",
            EngineConfig::default()
                .concurrency(16)
                .rate_limits(vec![RateBudget::per_minute(5)], RateScope::Provider),
        );
        let start = tokio::time::Instant::now();
        let phones: Vec<PhoneId> = (0..12).map(|i| PhoneId::new(format!("p{i}"))).collect();
        let report = e
            .run_each(Operation::Restart, &phones, |id| {
                e.call("restart", Idempotency::StateChanging, move || {
                    let id = id.clone();
                    async move { Ok(PhoneOutcome::pending(id)) }
                })
            })
            .await
            .unwrap();
        assert_eq!(report.summary().pending, 12);
        // 5 now, 5 after one minute, 2 after two.
        assert_eq!(start.elapsed(), std::time::Duration::from_secs(120));
    }

    #[tokio::test(start_paused = true)]
    async fn endpoint_scope_keeps_separate_budgets() {
        let e = BatchEngine::new(
            "test",
            EngineConfig::default()
                .rate_limits(vec![RateBudget::per_minute(1)], RateScope::Endpoint),
        );
        let start = tokio::time::Instant::now();
        e.call("a", Idempotency::ReadOnly, || async { Ok(()) })
            .await
            .unwrap();
        e.call("b", Idempotency::ReadOnly, || async { Ok(()) })
            .await
            .unwrap();
        assert_eq!(start.elapsed(), std::time::Duration::ZERO);
        e.call("a", Idempotency::ReadOnly, || async { Ok(()) })
            .await
            .unwrap();
        assert_eq!(start.elapsed(), std::time::Duration::from_secs(60));
    }
}
