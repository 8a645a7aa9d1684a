//! What the vendor's rate limit saw, per endpoint: the calls that reached it, the most of them
//! in any window of the meter's length (sliding, in real time), and the throttling answers it
//! gave (injected throttling faults are not counted: they are not the limit's). `GET /_sim/rates` answers it; `DELETE /_sim/rates` starts afresh; `PUT /_sim/rates
//! {"window_ms": 1000}` sets the window (default one second) and starts afresh.
//!
//! A sliding window is stricter than the vendors' fixed ones: a run that never has more than
//! the limit in any sliding window never trips a fixed window either.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

/// The meter's window unless told otherwise.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(1);

/// One endpoint's figures.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EndpointRates {
    /// Calls the rate limit let through.
    pub admitted: u64,
    /// Calls answered with the vendor's throttling code (40007 / 40014, 429 APIGW.0308, …).
    pub throttled: u64,
    /// The most calls that reached the rate limit (let through or throttled) in any window of
    /// `window_ms` (sliding, real time).
    pub max_in_window: u64,
    /// When the first and the last call reached the rate limit, in milliseconds since the meter
    /// started.
    pub first_ms: u64,
    /// See `first_ms`.
    pub last_ms: u64,
}

/// The meter's figures for every endpoint (`GET /_sim/rates`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RateStats {
    /// The sliding window of `max_in_window`, in milliseconds.
    pub window_ms: u64,
    /// By endpoint key.
    pub endpoints: BTreeMap<String, EndpointRates>,
}

impl RateStats {
    /// Throttling answers over every endpoint.
    pub fn throttled(&self) -> u64 {
        self.endpoints.values().map(|e| e.throttled).sum()
    }
}

#[derive(Default)]
struct Endpoint {
    rates: EndpointRates,
    recent: VecDeque<Instant>,
}

/// The meter of one vendor.
pub(crate) struct RateMeter {
    window: Duration,
    start: Instant,
    endpoints: BTreeMap<String, Endpoint>,
}

impl Default for RateMeter {
    fn default() -> Self {
        RateMeter::new(DEFAULT_WINDOW)
    }
}

impl RateMeter {
    pub(crate) fn new(window: Duration) -> Self {
        RateMeter {
            window: window.max(Duration::from_millis(1)),
            start: Instant::now(),
            endpoints: BTreeMap::new(),
        }
    }

    fn entry(&mut self, endpoint: &str) -> &mut Endpoint {
        if !self.endpoints.contains_key(endpoint) {
            self.endpoints
                .insert(endpoint.to_owned(), Endpoint::default());
        }
        self.endpoints.get_mut(endpoint).expect("just inserted")
    }

    /// A call that reached the rate limit now: let through, or answered with a throttling code.
    pub(crate) fn record(&mut self, endpoint: &str, throttled: bool) {
        let (now, window) = (Instant::now(), self.window);
        let at = now.duration_since(self.start).as_millis() as u64;
        let e = self.entry(endpoint);
        while e
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= window)
        {
            e.recent.pop_front();
        }
        e.recent.push_back(now);
        let r = &mut e.rates;
        if r.admitted + r.throttled == 0 {
            r.first_ms = at;
        }
        if throttled {
            r.throttled += 1;
        } else {
            r.admitted += 1;
        }
        r.last_ms = at;
        r.max_in_window = r.max_in_window.max(e.recent.len() as u64);
    }

    pub(crate) fn stats(&self) -> RateStats {
        RateStats {
            window_ms: self.window.as_millis() as u64,
            endpoints: self
                .endpoints
                .iter()
                .map(|(k, e)| (k.clone(), e.rates.clone()))
                .collect(),
        }
    }

    /// Starts afresh, with `window` if given.
    pub(crate) fn reset(&mut self, window: Option<Duration>) {
        *self = RateMeter::new(window.unwrap_or(self.window));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_busiest_window_slides() {
        let mut m = RateMeter::new(Duration::from_secs(1));
        for _ in 0..3 {
            m.record("a", false);
        }
        tokio::time::advance(Duration::from_millis(600)).await;
        for _ in 0..2 {
            m.record("a", false);
        }
        m.record("a", true);
        // The first three leave the window a second after they came.
        tokio::time::advance(Duration::from_millis(400)).await;
        m.record("a", false);
        let s = m.stats();
        let a = &s.endpoints["a"];
        assert_eq!((a.admitted, a.throttled, a.max_in_window), (6, 1, 6));
        assert_eq!((a.first_ms, a.last_ms), (0, 1000));
        assert_eq!(s.throttled(), 1);
        m.reset(Some(Duration::from_millis(10)));
        assert_eq!(m.stats().window_ms, 10);
        assert!(m.stats().endpoints.is_empty());
    }
}
