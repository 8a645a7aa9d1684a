//! The batch engine every backend shares: dedupe, validation, chunking, bounded fan-out, rate
//! limiting, retries, per-chunk failure containment and the completeness check.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use futures::StreamExt;

use crate::{
    BatchReport, Error, ErrorKind, Idempotency, Operation, PhoneId, PhoneOutcome, RateBudget,
    RateLimiter, Result, RetryPolicy,
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
        }
    }

    /// The engine's settings.
    pub fn config(&self) -> &EngineConfig {
        &self.config
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
    /// failures are retried as the policy and `idempotency` allow. `attempt` is called afresh
    /// each time, so it must build (and sign) its request inside.
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
        self.config
            .retry
            .run(idempotency, || async move {
                // Wait first, build second: the request (timestamp, signature) is made only
                // once it may be sent.
                limiter.acquire().await;
                attempt().await
            })
            .await
    }

    /// Runs a batch operation over `phones` in chunks of at most `chunk_size`, `concurrency`
    /// chunks at a time, and returns exactly one outcome per distinct valid id, in request
    /// order.
    ///
    /// `run` gets one chunk and returns the outcomes the vendor gave. A chunk that fails as a
    /// whole marks its phones failed without touching the other chunks; ids the vendor left out
    /// become [`ErrorKind::MissingFromResponse`] failures; ids that can never be sent fail on
    /// their own without a call. When the vendor rejects the credentials no further chunk is
    /// sent (vendors lock keys after repeated failures); the call is `Err` if no phone had been
    /// accepted, otherwise the accepted outcomes are kept and the rest fail.
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
        for (i, id) in ids.iter().enumerate() {
            match id.invalid_reason() {
                Some(why) => {
                    let err = Error::new(ErrorKind::InvalidArgument, format!("{why}: `{id}`"))
                        .with_vendor(self.vendor);
                    slots[i] = Some(PhoneOutcome::failed(id.clone(), err));
                }
                None => valid.push(id.clone()),
            }
        }

        let rejected = AtomicBool::new(false);
        let mut auth_error: Option<Error> = None;
        // Every chunk in flight carries the same credentials: until they are known to be good,
        // one chunk goes alone, so that a wrong key is sent once, not `concurrency` times
        // (Huawei locks an AK/SK after five failures).
        let attempt = |chunk: Vec<PhoneId>| {
            let (rejected, run) = (&rejected, &run);
            async move {
                if rejected.load(Ordering::SeqCst) {
                    return (chunk, None);
                }
                let answer = run(chunk.clone()).await;
                match &answer {
                    Err(e) if e.kind().is_auth() => {
                        rejected.store(true, Ordering::SeqCst);
                        self.credentials_ok.store(false, Ordering::SeqCst);
                    }
                    Ok(_) => self.credentials_ok.store(true, Ordering::SeqCst),
                    Err(_) => {}
                }
                (chunk, Some(answer))
            }
        };
        let mut chunks = valid.chunks(chunk_size.max(1)).map(<[PhoneId]>::to_vec);
        let mut first = Vec::new();
        if !self.credentials_ok.load(Ordering::SeqCst) {
            if let Some(chunk) = chunks.next() {
                first.push(attempt(chunk).await);
            }
        }
        let mut answers = futures::stream::iter(first).chain(
            futures::stream::iter(chunks)
                .map(attempt)
                .buffer_unordered(self.config.concurrency.max(1)),
        );

        while let Some((chunk, answer)) = answers.next().await {
            match answer {
                Some(Ok(outcomes)) => {
                    let wanted: HashSet<&PhoneId> = chunk.iter().collect();
                    for o in outcomes {
                        if wanted.contains(&o.phone) {
                            let slot = &mut slots[index[&o.phone]];
                            if slot.is_none() {
                                *slot = Some(o);
                            }
                        }
                    }
                }
                Some(Err(e)) => {
                    tracing::debug!(vendor = self.vendor, %operation, phones = chunk.len(), error = %e, "chunk failed");
                    if e.kind().is_auth() && auth_error.is_none() {
                        auth_error = Some(e.clone());
                    }
                    for id in chunk {
                        let i = index[&id];
                        slots[i] = Some(PhoneOutcome::failed(id, e.clone()));
                    }
                }
                None => {
                    let e = Error::new(
                        ErrorKind::Unauthenticated,
                        "not sent: the vendor rejected the credentials on an earlier request",
                    )
                    .with_vendor(self.vendor);
                    for id in chunk {
                        let i = index[&id];
                        slots[i] = Some(PhoneOutcome::failed(id, e.clone()));
                    }
                }
            }
        }
        drop(answers);

        if let Some(e) = auth_error {
            let accepted = slots.iter().flatten().any(|o| o.error().is_none());
            if !accepted {
                return Err(e);
            }
        }

        drop(index);
        let outcomes = ids
            .into_iter()
            .zip(slots)
            .map(|(id, slot)| {
                slot.unwrap_or_else(|| {
                    let err = Error::new(
                        ErrorKind::MissingFromResponse,
                        format!("the vendor's answer said nothing about phone `{id}`"),
                    )
                    .with_vendor(self.vendor);
                    PhoneOutcome::failed(id, err)
                })
            })
            .collect();
        Ok(BatchReport::new(operation, outcomes))
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
    async fn ids_missing_from_the_answer_become_failures() {
        let report = engine()
            .run_chunks(Operation::Stop, &ids(&["a", "b", "c"]), 10, |_| async {
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
            assert_eq!(o.error().unwrap().kind(), ErrorKind::MissingFromResponse);
        }
    }

    #[tokio::test]
    async fn one_failing_chunk_leaves_the_others_intact() {
        let phones: Vec<PhoneId> = (0..30).map(|i| PhoneId::new(format!("p{i}"))).collect();
        let report = engine()
            .run_chunks(Operation::Reset, &phones, 10, |chunk| async move {
                if chunk.contains(&PhoneId::from("p15")) {
                    Err(Error::new(ErrorKind::Unavailable, "503"))
                } else {
                    Ok(chunk.into_iter().map(PhoneOutcome::pending).collect())
                }
            })
            .await
            .unwrap();
        let s = report.summary();
        assert_eq!((s.total, s.pending, s.failed), (30, 20, 10));
        for o in &report.outcomes[10..20] {
            assert_eq!(o.error().unwrap().kind(), ErrorKind::Unavailable);
        }
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
