//! The batch engine every backend shares: dedupe, validation, chunking, bounded fan-out, rate
//! limiting, retries, per-chunk failure containment and the completeness check.
//!
//! This file holds the engine and its single-request path ([`BatchEngine::call`]); `chunks.rs`
//! the batch path ([`BatchEngine::run_chunks`]).

mod admit;
mod chunks;
#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::rate_store::{InProcessStore, RateLimitStore, SharedStore};
use crate::{
    Error, ErrorKind, Idempotency, Operation, Origin, PhoneId, RateBudget, Result, RetryPolicy,
    Scrubber,
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
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
    /// Where the budgets and lock-outs are kept (`None`: in this process only,
    /// [`InProcessStore`]).
    pub rate_store: Option<SharedStore>,
    /// Who the vendor counts calls for, as a fingerprint
    /// ([`account_id`](crate::rate_store::account_id)); budgets and lock-outs in a shared store
    /// are keyed by it. `None`: every provider of the vendor without one shares one budget.
    pub account: Option<String>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            concurrency: 8,
            retry: RetryPolicy::default(),
            rate_limits: Vec::new(),
            rate_scope: RateScope::Provider,
            rate_store: None,
            account: None,
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

    /// Keeps the budgets and lock-outs in `store` (e.g. one shared by several processes).
    pub fn rate_limit_store(mut self, store: Option<SharedStore>) -> Self {
        self.rate_store = store;
        self
    }

    /// Sets the account fingerprint budgets are keyed by.
    pub fn account(mut self, account: impl Into<String>) -> Self {
        self.account = Some(account.into());
        self
    }
}

/// The vendor's refusal of the credentials, and where it came from.
#[derive(Debug, Clone)]
struct Refusal {
    error: Error,
    /// Until when it holds: `None` for a refusal this engine met (credentials never change
    /// within a provider), the lock-out's end for one another process met.
    until: Option<tokio::time::Instant>,
    /// Whether the shared store knows it (or it came from there).
    published: bool,
}

/// The machinery behind every batch call of one provider instance. Its rate limiters are shared
/// by all calls made through it.
#[derive(Debug)]
pub struct BatchEngine {
    vendor: &'static str,
    config: EngineConfig,
    /// Where budgets and lock-outs are kept.
    store: Arc<dyn RateLimitStore>,
    /// The account fingerprint budgets are keyed by.
    account: Arc<str>,
    /// Whether a request has succeeded since the last credential rejection.
    credentials_ok: AtomicBool,
    /// The vendor's refusal of our credentials, once one arrived: credentials never change
    /// within a provider, so no request is sent with them again (vendors lock keys after a few
    /// failures: Huawei after five).
    refused: Mutex<Option<Refusal>>,
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
            store: match &config.rate_store {
                Some(s) => s.store().clone(),
                None => Arc::new(InProcessStore::new()),
            },
            account: Arc::from(config.account.as_deref().unwrap_or("default")),
            config,
            credentials_ok: AtomicBool::new(false),
            refused: Mutex::new(None),
            scrubber: Scrubber::new(),
            attempts: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            instance: INSTANCES.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// This engine's provider instance, as stamped on its reports
    /// ([`BatchReport::origin`](crate::BatchReport::origin)).
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

    /// Whether a request has succeeded since the credentials were last refused: until then a
    /// fan-out sends one request alone (see [`crate::raw::fan_out`]).
    pub fn credentials_proven(&self) -> bool {
        self.credentials_ok.load(Ordering::SeqCst)
    }

    /// The vendor's refusal of this provider's credentials, if one arrived.
    pub fn refusal(&self) -> Option<Error> {
        let mut r = self.refused.lock().unwrap_or_else(|p| p.into_inner());
        if r.as_ref()
            .and_then(|r| r.until)
            .is_some_and(|until| tokio::time::Instant::now() >= until)
        {
            // Another process's refusal, expired in the shared store: try again.
            *r = None;
        }
        r.as_ref().map(|r| r.error.clone())
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
                    *r = Some(Refusal {
                        error: e.clone(),
                        until: None,
                        published: false,
                    });
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
        self.publish_refusal().await;
        result
    }

    /// Makes one vendor request: every attempt waits for its budget in the rate-limit store
    /// (and is not sent while a lock-out is in force, or when the store cannot answer), and temporary
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
        let attempt = &attempt;
        let may_retry = || self.grant_retry();
        self.config
            .retry
            .run_budgeted(idempotency, &may_retry, || async move {
                // Refused already: take no budget (a shared one is every process's). Checked
                // again after the wait, in case a refusal arrived meanwhile.
                if let Some(e) = self.not_sent() {
                    return Err(e);
                }
                // Wait first, build second: the request (timestamp, signature) is made only
                // once it may be sent.
                self.admit(endpoint).await?;
                if let Some(e) = self.not_sent() {
                    return Err(e);
                }
                self.attempts.fetch_add(1, Ordering::Relaxed);
                let result = attempt().await.map_err(|e| {
                    let e = if e.endpoint().is_none() {
                        e.with_endpoint(endpoint)
                    } else {
                        e
                    };
                    self.scrubber.scrub_error(e)
                });
                if let Err(e) = &result {
                    self.share_lockout(endpoint, e).await;
                }
                result
            })
            .await
    }
}
