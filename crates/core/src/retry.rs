//! Retries with exponential backoff and jitter that know which calls are safe to repeat.

use std::future::Future;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};

use crate::Error;

/// Whether repeating a call can change the outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Idempotency {
    /// A read: repeating it is always safe.
    ReadOnly,
    /// A state change (stop, reset …): repeated only when the vendor provably did not act
    /// (a throttling answer, a connection refused before anything was sent). A reset repeated
    /// after an ambiguous failure could wipe a phone twice.
    StateChanging,
}

/// How many times, and how far apart, temporary failures are retried.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Retries after the first attempt (0 disables retries).
    pub max_retries: usize,
    /// The first backoff delay.
    pub min_delay: Duration,
    /// The cap on any backoff delay (also on a vendor's `Retry-After`).
    pub max_delay: Duration,
    /// Whether to add random jitter, so that many clients do not retry in lock-step.
    pub jitter: bool,
    /// The longest one call may spend retrying, waits included; past it the last error
    /// stands (as persistent).
    pub deadline: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 4,
            min_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            jitter: true,
            deadline: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> Self {
        RetryPolicy {
            max_retries: 0,
            ..RetryPolicy::default()
        }
    }

    /// Sets the number of retries.
    pub fn max_retries(mut self, n: usize) -> Self {
        self.max_retries = n;
        self
    }

    /// Sets the first and the largest delay.
    pub fn delays(mut self, min: Duration, max: Duration) -> Self {
        self.min_delay = min;
        self.max_delay = max.max(min);
        self
    }

    /// Sets how long one call may spend retrying.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// Sets jitter on or off.
    pub fn jitter(mut self, on: bool) -> Self {
        self.jitter = on;
        self
    }

    /// Whether `error` may be retried for a call of this idempotency.
    pub fn should_retry(error: &Error, idempotency: Idempotency) -> bool {
        if error.kind().is_auth() || !error.is_temporary() {
            return false;
        }
        match idempotency {
            Idempotency::ReadOnly => true,
            Idempotency::StateChanging => error.is_not_applied(),
        }
    }

    /// Runs `attempt` until it succeeds, fails for good, or retries run out. Each attempt is a
    /// fresh call of `attempt`, so signatures and trace ids are regenerated every time.
    pub async fn run<T, F, Fut>(&self, idempotency: Idempotency, attempt: F) -> Result<T, Error>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        self.run_budgeted(idempotency, &|| true, attempt).await
    }

    /// [`run`](Self::run), asking `may_retry` before each retry of a failure (a shared retry
    /// budget: so that a thousand failing chunks cannot make five thousand calls). Throttling
    /// answers are retried without asking.
    pub async fn run_budgeted<T, F, Fut>(
        &self,
        idempotency: Idempotency,
        may_retry: &(dyn Fn() -> bool + Sync),
        attempt: F,
    ) -> Result<T, Error>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        let started = tokio::time::Instant::now();
        let deadline = self.deadline;
        let mut backoff = ExponentialBuilder::default()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay)
            .with_max_times(self.max_retries);
        if self.jitter {
            backoff = backoff.with_jitter();
        }
        let max = self.max_delay;
        // Counted for the final error: after retries it names the attempts and the first
        // distinct cause, not only the last one.
        // Atomics and a mutex, not cells: the future must stay `Send`.
        let attempts = std::sync::atomic::AtomicU32::new(0);
        let first: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);
        let mut attempt = attempt;
        let result = (|| {
            attempts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            attempt()
        })
        .retry(backoff)
        .sleep(tokio::time::sleep)
        .when(|e: &Error| {
            // Throttling is pacing, not failure: it waits (Retry-After) rather than spending
            // the budget meant to stop a failing vendor from being hammered.
            Self::should_retry(e, idempotency)
                && started.elapsed() < deadline
                && (e.kind() == crate::ErrorKind::RateLimited || may_retry())
        })
        .adjust(move |e: &Error, dur| match (e.retry_after(), dur) {
            // The vendor's own hint wins, but never beyond our cap.
            (Some(after), Some(_)) => Some(after.min(max)),
            _ => dur,
        })
        .notify(|e: &Error, dur| {
            first
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get_or_insert_with(|| e.to_string());
            tracing::debug!(error = %e, delay_ms = dur.as_millis() as u64, "retrying");
        })
        .await;
        result.map_err(|e| {
            let n = attempts.into_inner();
            // A temporary failure that outlived the retries it was allowed.
            let e = if e.is_temporary() && Self::should_retry(&e, idempotency) {
                e.with_persistent(true)
            } else {
                e
            };
            if n <= 1 {
                return e;
            }
            let first = first
                .into_inner()
                .unwrap_or_else(|p| p.into_inner())
                .filter(|f| *f != e.to_string());
            e.with_attempts(n, first)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn policy() -> RetryPolicy {
        RetryPolicy::default().delays(Duration::from_millis(10), Duration::from_millis(100))
    }

    async fn count_attempts(idem: Idempotency, err: Error) -> usize {
        let n = AtomicUsize::new(0);
        let _ = policy()
            .run(idem, || {
                n.fetch_add(1, Ordering::SeqCst);
                let e = err.clone();
                async move { Err::<(), _>(e) }
            })
            .await;
        n.load(Ordering::SeqCst)
    }

    #[tokio::test(start_paused = true)]
    async fn reads_retry_temporary_failures() {
        let e = Error::new(ErrorKind::Unavailable, "502");
        assert_eq!(count_attempts(Idempotency::ReadOnly, e).await, 5);
    }

    #[tokio::test(start_paused = true)]
    async fn a_retried_failure_names_its_attempts_and_first_cause() {
        let n = AtomicUsize::new(0);
        let e = policy()
            .run(Idempotency::ReadOnly, || {
                let k = n.fetch_add(1, Ordering::SeqCst);
                async move {
                    Err::<(), _>(if k == 0 {
                        Error::new(ErrorKind::Unavailable, "connection reset")
                    } else {
                        Error::new(ErrorKind::Unavailable, "502 bad gateway")
                    })
                }
            })
            .await
            .unwrap_err();
        assert_eq!(e.attempts(), 5);
        assert!(e.is_persistent() && e.is_temporary());
        assert!(e.first_cause().unwrap().contains("connection reset"), "{e}");
        let shown = e.to_string();
        assert!(
            shown.contains("after 5 attempts") && shown.contains("connection reset"),
            "{shown}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn state_changes_are_not_retried_after_ambiguous_failures() {
        let e = Error::new(
            ErrorKind::Unavailable,
            "502 after the vendor may have acted",
        );
        assert_eq!(count_attempts(Idempotency::StateChanging, e).await, 1);
        let e = Error::new(ErrorKind::Timeout, "timed out");
        assert_eq!(count_attempts(Idempotency::StateChanging, e).await, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn state_changes_are_retried_after_throttling_and_refused_connections() {
        let e = Error::new(ErrorKind::RateLimited, "40007");
        assert_eq!(count_attempts(Idempotency::StateChanging, e).await, 5);
        let e = Error::new(ErrorKind::Unavailable, "connection refused").with_not_applied(true);
        assert_eq!(count_attempts(Idempotency::StateChanging, e).await, 5);
    }

    #[tokio::test(start_paused = true)]
    async fn auth_and_permanent_failures_are_never_retried() {
        let e = Error::new(ErrorKind::Unauthenticated, "bad signature").with_temporary(true);
        assert_eq!(count_attempts(Idempotency::ReadOnly, e).await, 1);
        let e = Error::new(ErrorKind::NotFound, "no such phone");
        assert_eq!(count_attempts(Idempotency::ReadOnly, e).await, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn the_retry_deadline_and_budget_stop_retries() {
        let e = Error::new(ErrorKind::Unavailable, "502");
        let n = AtomicUsize::new(0);
        let slow = RetryPolicy::default()
            .max_retries(100)
            .jitter(false)
            .delays(Duration::from_secs(10), Duration::from_secs(10))
            .deadline(Duration::from_secs(35));
        let _ = slow
            .run(Idempotency::ReadOnly, || {
                n.fetch_add(1, Ordering::SeqCst);
                let e = e.clone();
                async move { Err::<(), _>(e) }
            })
            .await;
        assert_eq!(
            n.load(Ordering::SeqCst),
            5,
            "0 s, 10, 20, 30, 40: none after 35 s"
        );
        let n = AtomicUsize::new(0);
        let err = policy()
            .run_budgeted(Idempotency::ReadOnly, &|| false, || {
                n.fetch_add(1, Ordering::SeqCst);
                let e = e.clone();
                async move { Err::<(), _>(e) }
            })
            .await
            .unwrap_err();
        assert_eq!(n.load(Ordering::SeqCst), 1, "no budget, no retry");
        assert!(err.is_persistent());
    }

    #[tokio::test(start_paused = true)]
    async fn a_retry_after_hint_is_honoured() {
        let start = tokio::time::Instant::now();
        let n = AtomicUsize::new(0);
        let r = RetryPolicy::default()
            .jitter(false)
            .delays(Duration::from_millis(10), Duration::from_secs(60))
            .run(Idempotency::StateChanging, || {
                let k = n.fetch_add(1, Ordering::SeqCst);
                async move {
                    if k == 0 {
                        Err(Error::new(ErrorKind::RateLimited, "429")
                            .with_retry_after(Duration::from_secs(7)))
                    } else {
                        Ok(k)
                    }
                }
            })
            .await;
        assert_eq!(r.unwrap(), 1);
        assert_eq!(start.elapsed(), Duration::from_secs(7));
    }
}
