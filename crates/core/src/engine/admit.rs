//! The engine and its rate-limit store: a budget for every attempt, lock-outs honoured and
//! shared, and a store that cannot answer failing closed.

use std::time::Duration;

use super::{BatchEngine, Refusal};
use crate::rate_store::{Admission, BudgetKey, LockScope, Lockout, CREDENTIALS_LOCKOUT};
use crate::{Error, ErrorKind, Result};

/// Whole minutes, rounded up, for messages.
fn minutes(d: Duration) -> u64 {
    d.as_secs().div_ceil(60).max(1)
}

impl BatchEngine {
    fn budget_key(&self, endpoint: &'static str) -> BudgetKey {
        BudgetKey::new(
            self.vendor,
            self.account.clone(),
            endpoint,
            self.config.rate_scope,
        )
    }

    /// The store's name, for errors and logs.
    pub fn rate_store(&self) -> String {
        self.store.describe()
    }

    /// Waits until the store grants a call to `endpoint`. A lock-out in force, or a store
    /// that cannot answer, is the error of a call that was not sent.
    pub(super) async fn admit(&self, endpoint: &'static str) -> Result<()> {
        let key = self.budget_key(endpoint);
        loop {
            let admission = self
                .store
                .try_acquire(&key, &self.config.rate_limits)
                .await
                .map_err(|e| self.store_failure(endpoint, e))?;
            match admission {
                Admission::Granted => return Ok(()),
                Admission::Wait(wait) => tokio::time::sleep(wait).await,
                Admission::LockedOut(lockout) => return Err(self.locked_out(endpoint, lockout)),
            }
        }
    }

    /// No budget, so nothing was sent: a permanent failure, never an unknown outcome.
    fn store_failure(&self, endpoint: &'static str, e: Error) -> Error {
        let store = self.store.describe();
        let message = if e.message().contains(&store) {
            e.message().to_owned()
        } else {
            format!("rate-limit store `{store}`: {}", e.message())
        };
        Error::new(
            ErrorKind::Unavailable,
            format!("not sent: {message} (no call goes out without a budget)"),
        )
        .with_vendor(self.vendor)
        .with_endpoint(endpoint)
        .with_temporary(false)
        .with_not_applied(true)
    }

    fn locked_out(&self, endpoint: &'static str, lockout: Lockout) -> Error {
        let store = self.store.describe();
        let left = minutes(lockout.duration);
        let e = match lockout.scope {
            LockScope::Account => {
                let e = Error::new(
                    ErrorKind::Unauthenticated,
                    format!(
                        "not sent: the vendor refused these credentials to a process sharing the \
                         rate-limit store `{store}` ({}); about {left} min left of the lock-out",
                        lockout.message
                    ),
                );
                // Honoured here until the lock-out ends, not for good: the credentials may be
                // this process's own, and right.
                let mut r = self.refused.lock().unwrap_or_else(|p| p.into_inner());
                if r.is_none() {
                    *r = Some(Refusal {
                        error: e.clone(),
                        until: Some(tokio::time::Instant::now() + lockout.duration),
                        published: true,
                    });
                }
                e
            }
            _ => Error::new(
                ErrorKind::RateLimited,
                format!(
                    "not sent: the vendor locked `{endpoint}` for this account ({}); about {left} \
                     min left (recorded in the rate-limit store `{store}`)",
                    lockout.message
                ),
            ),
        };
        let e = e
            .with_vendor(self.vendor)
            .with_endpoint(endpoint)
            .with_temporary(false)
            .with_not_applied(true);
        match lockout.vendor_code {
            Some(code) => e.with_vendor_code(code),
            None => e,
        }
    }

    /// Records the vendor's lock of `endpoint` (an error carrying [`Error::lockout`]) in the
    /// store, for every process sharing it.
    pub(super) async fn share_lockout(&self, endpoint: &'static str, e: &Error) {
        if let Some(duration) = e.lockout() {
            self.record(endpoint, LockScope::Endpoint, e, duration)
                .await;
        }
    }

    /// Records a refusal of the credentials this engine met (once) in a shared store, for
    /// [`CREDENTIALS_LOCKOUT`].
    pub(super) async fn publish_refusal(&self) {
        if !self.store.is_shared() {
            return;
        }
        let error = {
            let mut r = self.refused.lock().unwrap_or_else(|p| p.into_inner());
            match r.as_mut() {
                Some(r) if !r.published => {
                    r.published = true;
                    r.error.clone()
                }
                _ => return,
            }
        };
        let endpoint = error.endpoint().unwrap_or("*");
        self.record(endpoint, LockScope::Account, &error, CREDENTIALS_LOCKOUT)
            .await;
    }

    /// Records a lock-out of `scope` for `duration`, because of the vendor's `error`.
    async fn record(
        &self,
        endpoint: &'static str,
        scope: LockScope,
        error: &Error,
        duration: Duration,
    ) {
        let lockout = Lockout::new(
            scope,
            error.vendor_code().map(str::to_owned),
            error.message(),
            duration,
        );
        if let Err(e) = self
            .store
            .lock_out(&self.budget_key(endpoint), &lockout)
            .await
        {
            // This process honours it anyway; the others will meet the vendor's refusal.
            tracing::warn!(vendor = self.vendor, endpoint, error = %e, "cannot record a lock-out in the rate-limit store");
        }
    }
}
