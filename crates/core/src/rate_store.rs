//! Where rate budgets and lock-outs are kept: [`RateLimitStore`].
//!
//! The default, [`InProcessStore`], keeps each provider's budgets in its own process (the
//! sliding log of [`RateLimiter`]) and shares nothing. A store shared by several processes
//! (the `cloudphone-redis` crate: Redis) makes every process on one vendor account draw from
//! one budget, and makes a lock-out one process learns (GeeLark's two-hour ban of an API, a
//! refused key) binding on all of them until it expires.
//!
//! The trait is small on purpose (object_store's and OpenDAL's are the model): take one call
//! from a budget or say how long to wait, and record a lock-out. The engine does the waiting,
//! so that a store never sleeps and tests can run it under a paused clock.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use sha2::{Digest, Sha256};

use crate::engine::RateScope;
use crate::{RateBudget, RateLimiter, Result};

/// How long a refusal of the credentials one process met keeps every process sharing the store
/// from sending with them: 10 minutes. Longer than Huawei's five-minute lock of a key after five
/// failures, so that the workers of a fleet together send at most one refused request per ten
/// minutes instead of burning the key's failures; short enough that a key put right recovers
/// without anyone clearing the store. (The process that met the refusal never sends with those
/// credentials again, as without a store.)
pub const CREDENTIALS_LOCKOUT: Duration = Duration::from_secs(600);

/// The budget a call draws from: the vendor, the account (a fingerprint, see [`account_id`]),
/// and the endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct BudgetKey {
    /// The vendor (e.g. `"geelark"`).
    pub vendor: &'static str,
    /// Who the vendor counts calls for: a fingerprint that identifies the account without
    /// exposing a secret ([`account_id`]).
    pub account: Arc<str>,
    /// The endpoint (API) called.
    pub endpoint: &'static str,
    /// Whether the budgets are the endpoint's own ([`RateScope::Endpoint`]) or shared by every
    /// endpoint of the account ([`RateScope::Provider`]).
    pub scope: RateScope,
}

impl BudgetKey {
    /// The budget of `endpoint` on `vendor`'s `account`, scoped as `scope` says.
    pub fn new(
        vendor: &'static str,
        account: Arc<str>,
        endpoint: &'static str,
        scope: RateScope,
    ) -> Self {
        BudgetKey {
            vendor,
            account,
            endpoint,
            scope,
        }
    }

    /// The name of the budget log: the endpoint, or `*` when every endpoint shares it.
    pub fn budget_name(&self) -> &'static str {
        match self.scope {
            RateScope::Provider => "*",
            RateScope::Endpoint => self.endpoint,
        }
    }
}

/// What a lock-out covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LockScope {
    /// Every call of the account: the vendor refused its credentials.
    Account,
    /// One endpoint of the account (GeeLark locks an API for two hours past its hourly limit).
    Endpoint,
}

/// A lock-out: no call under it is sent until it expires.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Lockout {
    /// What it covers.
    pub scope: LockScope,
    /// The vendor's error code that caused it, if any.
    pub vendor_code: Option<String>,
    /// Why, as the vendor's error said it (scrubbed of secrets by the engine).
    pub message: String,
    /// How long it lasts: from now when recorded, what is left when read.
    pub duration: Duration,
}

impl Lockout {
    /// A lock-out of `scope` for `duration`, because of `message` (and the vendor's code).
    pub fn new(
        scope: LockScope,
        vendor_code: Option<String>,
        message: impl Into<String>,
        duration: Duration,
    ) -> Self {
        Lockout {
            scope,
            vendor_code,
            message: message.into(),
            duration,
        }
    }
}

/// The answer to [`RateLimitStore::try_acquire`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Admission {
    /// One call was taken from every budget: send it.
    Granted,
    /// A budget is full: nothing was taken; ask again after this long.
    Wait(Duration),
    /// A lock-out is in force (its `duration` is what is left): nothing was taken.
    LockedOut(Lockout),
}

/// Where rate budgets and lock-outs are kept. Object-safe: engines hold an
/// `Arc<dyn RateLimitStore>`.
///
/// A store must keep the sliding-window guarantee: across everyone drawing from a
/// [`BudgetKey`], no window of a budget's length ever holds more calls than its limit (a token
/// bucket does not: it allows twice the limit across a fixed vendor window).
///
/// An `Err` from either method means the store could not answer: the engine then sends
/// nothing (it fails closed) and reports the call as not applied, with the store's error.
#[async_trait]
pub trait RateLimitStore: fmt::Debug + Send + Sync + 'static {
    /// Atomically checks the lock-outs of `key` (its account's and its endpoint's) and every
    /// budget of `budgets` (empty: none); takes one call from every budget if all have room.
    async fn try_acquire(&self, key: &BudgetKey, budgets: &[RateBudget]) -> Result<Admission>;

    /// Records `lockout` for `key`'s account (or only its endpoint, as `lockout.scope` says),
    /// for `lockout.duration` from now; a longer lock-out already recorded stays.
    async fn lock_out(&self, key: &BudgetKey, lockout: &Lockout) -> Result<()>;

    /// Where the budgets are kept, for errors and logs (a URL without its password).
    fn describe(&self) -> String;

    /// Whether other processes see this store's budgets and lock-outs (false for
    /// [`InProcessStore`]).
    fn is_shared(&self) -> bool {
        true
    }
}

/// A [`RateLimitStore`] handle that compares by identity, so that configuration structs holding
/// one can still derive `PartialEq`.
#[derive(Clone)]
pub struct SharedStore(pub Arc<dyn RateLimitStore>);

impl SharedStore {
    /// A handle on `store`.
    pub fn new(store: impl RateLimitStore) -> Self {
        SharedStore(Arc::new(store))
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn RateLimitStore> {
        &self.0
    }
}

impl fmt::Debug for SharedStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SharedStore({})", self.0.describe())
    }
}

impl PartialEq for SharedStore {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for SharedStore {}

impl From<Arc<dyn RateLimitStore>> for SharedStore {
    fn from(store: Arc<dyn RateLimitStore>) -> Self {
        SharedStore(store)
    }
}

/// The default store: budgets in this process only, one sliding log per budget key. Lock-outs
/// are not kept here (the engine's own refusal and the backends' own locks apply within the
/// process); nothing is shared.
#[derive(Debug, Default)]
pub struct InProcessStore {
    limiters: Mutex<HashMap<LogKey, RateLimiter>>,
}

/// Vendor, account, budget name.
type LogKey = (&'static str, Arc<str>, &'static str);

impl InProcessStore {
    /// An empty store.
    pub fn new() -> Self {
        InProcessStore::default()
    }
}

#[async_trait]
impl RateLimitStore for InProcessStore {
    async fn try_acquire(&self, key: &BudgetKey, budgets: &[RateBudget]) -> Result<Admission> {
        if budgets.is_empty() {
            return Ok(Admission::Granted);
        }
        let mut map = self.limiters.lock().unwrap_or_else(|p| p.into_inner());
        let limiter = map
            .entry((key.vendor, key.account.clone(), key.budget_name()))
            .or_insert_with(|| RateLimiter::new(budgets.iter().copied()));
        Ok(match limiter.try_acquire() {
            None => Admission::Granted,
            Some(wait) => Admission::Wait(wait),
        })
    }

    async fn lock_out(&self, _key: &BudgetKey, _lockout: &Lockout) -> Result<()> {
        Ok(())
    }

    fn describe(&self) -> String {
        "in-process".into()
    }

    fn is_shared(&self) -> bool {
        false
    }
}

/// A fingerprint of an account from the parts that identify it (endpoint, account or key id —
/// never a secret): 32 hex digits of SHA-256 over the length-prefixed parts. Stores key budgets
/// and lock-outs by it, so that what they hold names no account in clear.
///
/// ```
/// use cloudphone_core::rate_store::account_id;
///
/// let a = account_id(&["https://openapi.geelark.com", "app-1"]);
/// assert_eq!(a.len(), 32);
/// assert_eq!(a, account_id(&["https://openapi.geelark.com", "app-1"]));
/// assert_ne!(a, account_id(&["https://openapi.geelark.com", "app-2"]));
/// // Parts are length-prefixed: moving a boundary changes the fingerprint.
/// assert_ne!(account_id(&["ab", "c"]), account_id(&["a", "bc"]));
/// ```
pub fn account_id(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    h.update(b"cloudphone-account-v1");
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p.as_bytes());
    }
    hex::encode(&h.finalize()[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_in_process_store_keeps_one_log_per_budget_key() {
        let store = InProcessStore::new();
        let budgets = [RateBudget::per_second(2)];
        let key = |account: &str, endpoint, scope| {
            BudgetKey::new("v", Arc::from(account), endpoint, scope)
        };
        let a = key("acct", "/a", RateScope::Endpoint);
        assert_eq!(
            store.try_acquire(&a, &budgets).await.unwrap(),
            Admission::Granted
        );
        assert_eq!(
            store.try_acquire(&a, &budgets).await.unwrap(),
            Admission::Granted
        );
        assert_eq!(
            store.try_acquire(&a, &budgets).await.unwrap(),
            Admission::Wait(Duration::from_secs(1))
        );
        // Another endpoint and another account have budgets of their own.
        let b = key("acct", "/b", RateScope::Endpoint);
        assert_eq!(
            store.try_acquire(&b, &budgets).await.unwrap(),
            Admission::Granted
        );
        let other = key("other", "/a", RateScope::Endpoint);
        assert_eq!(
            store.try_acquire(&other, &budgets).await.unwrap(),
            Admission::Granted
        );
        // Provider scope: every endpoint draws from one log.
        let p1 = key("p", "/a", RateScope::Provider);
        let p2 = key("p", "/b", RateScope::Provider);
        store.try_acquire(&p1, &budgets).await.unwrap();
        store.try_acquire(&p2, &budgets).await.unwrap();
        assert!(matches!(
            store.try_acquire(&p1, &budgets).await.unwrap(),
            Admission::Wait(_)
        ));
        // No budgets: always granted; lock-outs are not kept in process.
        assert_eq!(
            store.try_acquire(&a, &[]).await.unwrap(),
            Admission::Granted
        );
        let lock = Lockout::new(LockScope::Account, None, "refused", Duration::from_secs(60));
        store.lock_out(&b, &lock).await.unwrap();
        assert!(!store.is_shared());
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(
            store.try_acquire(&a, &budgets).await.unwrap(),
            Admission::Granted
        );
    }

    #[test]
    fn shared_handles_compare_by_identity() {
        let a = SharedStore::new(InProcessStore::new());
        let b = SharedStore::new(InProcessStore::new());
        assert_eq!(a, a.clone());
        assert_ne!(a, b);
        assert_eq!(format!("{a:?}"), "SharedStore(in-process)");
    }
}
