//! The ideal: the lower bound of an operation, from the provider's `capabilities()` (batch
//! sizes, rate budgets), the vendor's model ([`crate::vendors`]) and the bench's settings.

use cloudphone::{Capabilities, Operation};
use cloudphone_sim::Timings;

use crate::vendors::{Poll, StatusBy, Vendor};
use crate::BenchArgs;

/// What one operation is bounded by.
pub(crate) struct Ideal {
    /// Minimum calls for the operation itself (status, stop, reset).
    pub(crate) op_calls: u64,
    /// Minimum calls per poll round while waiting (0 for status).
    pub(crate) round_calls: u64,
    /// Minimum state reads of a wait beyond its poll rounds: each phone's state confirmed once
    /// (0 for status, and where the poll rounds are state reads themselves).
    pub(crate) confirm_calls: u64,
    /// Seconds: operation + (simulated transition + one poll interval + one poll round).
    pub(crate) seconds: f64,
}

/// Lower bound of `calls` requests through `concurrency` slots of `latency` each, under the
/// vendor's rate budgets `(calls, window in seconds)` (the first `limit` calls of a window go
/// at once, the rest wait for the window to pass).
pub(crate) fn ideal_calls(
    calls: u64,
    concurrency: u64,
    latency: f64,
    budgets: &[(u64, f64)],
) -> f64 {
    if calls == 0 {
        return 0.0;
    }
    let by_latency = calls.div_ceil(concurrency) as f64 * latency;
    let by_rate = budgets
        .iter()
        .map(|&(limit, window)| ((calls - 1) / limit) as f64 * window + latency)
        .fold(0.0, f64::max);
    by_latency.max(by_rate)
}

/// The ideal of `op` (`status`, `stop`, `reset`) on `n` phones of `vendor`, for a provider
/// with these capabilities.
pub(crate) fn ideal(
    args: &BenchArgs,
    vendor: &Vendor,
    caps: &Capabilities,
    op: &str,
    n: u64,
) -> Ideal {
    let conc = args.concurrency as u64;
    let lat = args.latency();
    let batch = |o: Operation| caps.batch_sizes.get(&o).map_or(1, |&b| b.max(1) as u64);
    let budgets: Vec<(u64, f64)> = caps
        .rate_limits
        .iter()
        .filter(|b| b.limit > 0)
        .map(|b| (u64::from(b.limit), b.per.as_secs_f64()))
        .collect();
    let round = match vendor.poll {
        Poll::Status => n.div_ceil(batch(Operation::Status)),
        Poll::JobPages(page) => n.div_ceil(page.max(1) as u64),
    };
    // The simulator's default transitions, scaled.
    let t = (vendor.transitions)(&Timings::default());
    let status_calls = match vendor.status_by {
        StatusBy::Batch => n.div_ceil(batch(Operation::Status)),
        StatusBy::Listing => n.div_ceil(batch(Operation::List)).min(n),
    };
    let (op_calls, round_calls, transition) = match op {
        "status" => (status_calls, 0, 0.0),
        "stop" => (
            n.div_ceil(batch(Operation::Stop)),
            round,
            t.stop.as_secs_f64(),
        ),
        _ => (
            n.div_ceil(batch(Operation::Reset)),
            round,
            t.reset.as_secs_f64(),
        ),
    };
    let mut seconds = ideal_calls(op_calls, conc, lat, &budgets);
    if round_calls > 0 {
        seconds += transition * args.scale()
            + args.poll_interval.as_secs_f64()
            + ideal_calls(round_calls, conc, lat, &budgets);
    }
    let confirm_calls = if round_calls > 0 && !vendor.endpoints.confirm.is_empty() {
        status_calls
    } else {
        0
    };
    Ideal {
        op_calls,
        round_calls,
        confirm_calls,
        seconds,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ideal_is_bounded_by_concurrency_latency_and_rate() {
        assert_eq!(ideal_calls(0, 4, 0.05, &[]), 0.0);
        assert!((ideal_calls(100, 32, 0.05, &[]) - 0.2).abs() < 1e-9);
        // 1,000 calls at 200 per minute: four full windows must pass first.
        let t = ideal_calls(1000, 32, 0.05, &[(200, 60.0), (24_000, 3600.0)]);
        assert!((t - (4.0 * 60.0 + 0.05)).abs() < 1e-9, "{t}");
    }
}
