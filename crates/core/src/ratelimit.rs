//! A client-side rate limiter with several budgets (e.g. per minute and per hour).
//!
//! It keeps a sliding log of recent call times per budget, so that no window of a budget's
//! length ever holds more than its limit — a token bucket would allow up to twice the limit
//! across a window boundary, which is exactly what trips fixed-window vendor counters
//! (GeeLark's 200/min). Time is tokio's, so tests run it under a paused clock.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// A limit of `limit` calls in any window of `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RateBudget {
    /// Calls allowed per window.
    pub limit: u32,
    /// The window length.
    pub per: Duration,
}

impl RateBudget {
    /// `limit` calls per minute.
    pub fn per_minute(limit: u32) -> Self {
        RateBudget {
            limit,
            per: Duration::from_secs(60),
        }
    }

    /// `limit` calls per hour.
    pub fn per_hour(limit: u32) -> Self {
        RateBudget {
            limit,
            per: Duration::from_secs(3600),
        }
    }

    /// `limit` calls per second.
    pub fn per_second(limit: u32) -> Self {
        RateBudget {
            limit,
            per: Duration::from_secs(1),
        }
    }
}

impl fmt::Display for RateBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.per.as_secs() {
            1 => write!(f, "{}/s", self.limit),
            60 => write!(f, "{}/min", self.limit),
            3600 => write!(f, "{}/h", self.limit),
            _ => write!(f, "{}/{:?}", self.limit, self.per),
        }
    }
}

/// Shared by every call of one provider instance; calls wait in [`RateLimiter::acquire`] until
/// all budgets have room.
pub struct RateLimiter {
    budgets: Vec<RateBudget>,
    logs: Mutex<Vec<VecDeque<Instant>>>,
}

impl fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("budgets", &self.budgets)
            .finish()
    }
}

impl RateLimiter {
    /// A limiter enforcing every budget at once. Budgets with a zero limit are ignored (off).
    pub fn new(budgets: impl IntoIterator<Item = RateBudget>) -> Self {
        let budgets: Vec<_> = budgets.into_iter().filter(|b| b.limit > 0).collect();
        let logs = budgets
            .iter()
            .map(|b| VecDeque::with_capacity(b.limit.min(4096) as usize))
            .collect();
        RateLimiter {
            budgets,
            logs: Mutex::new(logs),
        }
    }

    /// The budgets enforced.
    pub fn budgets(&self) -> &[RateBudget] {
        &self.budgets
    }

    /// Waits until a call fits every budget, then records it.
    pub async fn acquire(&self) {
        while let Some(wait) = self.try_acquire() {
            tokio::time::sleep(wait).await;
        }
    }

    /// Records a call if it fits every budget now (`None`); otherwise records nothing and
    /// returns how long until it would fit. Never waits (the lock is held only to check and
    /// record).
    pub fn try_acquire(&self) -> Option<Duration> {
        if self.budgets.is_empty() {
            return None;
        }
        let mut logs = self.logs.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let mut wait = Duration::ZERO;
        for (b, log) in self.budgets.iter().zip(logs.iter_mut()) {
            while log.front().is_some_and(|t| now.duration_since(*t) >= b.per) {
                log.pop_front();
            }
            if log.len() >= b.limit as usize {
                let oldest = log[log.len() - b.limit as usize];
                wait = wait.max(b.per - now.duration_since(oldest));
            }
        }
        if !wait.is_zero() {
            return Some(wait);
        }
        for log in logs.iter_mut() {
            log.push_back(now);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test(start_paused = true)]
    async fn burst_of_concurrent_calls_never_exceeds_any_window() {
        let limiter = Arc::new(RateLimiter::new([
            RateBudget::per_minute(10),
            RateBudget::per_hour(25),
        ]));
        let start = Instant::now();
        let tasks: Vec<_> = (0..30)
            .map(|_| {
                let l = limiter.clone();
                tokio::spawn(async move {
                    l.acquire().await;
                    Instant::now().duration_since(start)
                })
            })
            .collect();
        let mut times = Vec::new();
        for t in tasks {
            times.push(t.await.unwrap());
        }
        times.sort();
        for (i, t) in times.iter().enumerate() {
            let in_minute = times[i..]
                .iter()
                .take_while(|u| **u - *t < Duration::from_secs(60))
                .count();
            assert!(
                in_minute <= 10,
                "{in_minute} calls in one minute from {t:?}"
            );
            let in_hour = times[i..]
                .iter()
                .take_while(|u| **u - *t < Duration::from_secs(3600))
                .count();
            assert!(in_hour <= 25, "{in_hour} calls in one hour from {t:?}");
        }
        // 10 immediately, 10 after a minute, 5 after two; the last 5 wait for the hour.
        assert_eq!(times[9], Duration::ZERO);
        assert_eq!(times[10], Duration::from_secs(60));
        assert_eq!(times[24], Duration::from_secs(120));
        assert_eq!(times[25], Duration::from_secs(3600));
    }

    #[tokio::test(start_paused = true)]
    async fn zero_limits_are_off() {
        let limiter = RateLimiter::new([RateBudget::per_second(0)]);
        let start = Instant::now();
        for _ in 0..1000 {
            limiter.acquire().await;
        }
        assert_eq!(Instant::now(), start);
    }
}
