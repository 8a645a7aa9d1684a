//! The CPU time the simulator spends answering vendor calls, per endpoint.
//!
//! A request's handler future is timed poll by poll with the polling thread's CPU clock
//! (`CLOCK_THREAD_CPUTIME_ID`, nanosecond-exact, unlike `/proc/thread-self/schedstat`, which
//! moves in scheduler ticks): only the work done for that request counts, not its latency sleep
//! and not the other requests sharing the worker thread, wherever the runtime moves the task.
//! `GET /_sim/stats` reports the sums with the whole process's CPU clock beside them (which also
//! counts HTTP parsing and writing, outside the handlers) and its peak resident set.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// CPU time of the calling thread so far (zero where the platform has no such clock).
pub(crate) fn thread_cpu() -> Duration {
    #[cfg(target_os = "linux")]
    {
        clock(rustix::time::ClockId::ThreadCPUTime)
    }
    #[cfg(not(target_os = "linux"))]
    {
        Duration::ZERO
    }
}

/// CPU time of the calling process so far: every thread, those that have ended included
/// (`CLOCK_PROCESS_CPUTIME_ID`; zero where the platform has no such clock). What
/// `GET /_sim/stats` reports for the simulator's process; a fleet test can read its own with it.
pub fn process_cpu_time() -> Duration {
    #[cfg(target_os = "linux")]
    {
        clock(rustix::time::ClockId::ProcessCPUTime)
    }
    #[cfg(not(target_os = "linux"))]
    {
        Duration::ZERO
    }
}

/// The process's peak resident set (`VmHWM` of `/proc/self/status`) in KiB, where Linux tells.
pub(crate) fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(target_os = "linux")]
fn clock(id: rustix::time::ClockId) -> Duration {
    let t = rustix::time::clock_gettime(id);
    let secs = u64::try_from(t.tv_sec).unwrap_or(0);
    let nanos = u32::try_from(t.tv_nsec).unwrap_or(0).min(999_999_999);
    Duration::new(secs, nanos)
}

/// A future whose polls are timed with the polling thread's CPU clock; it yields the inner
/// future's output and the CPU time its polls took.
pub(crate) struct Timed<F> {
    // Boxed so that `Timed` is `Unpin` and needs no pin projection (no unsafe code).
    inner: Pin<Box<F>>,
    spent: Duration,
}

impl<F: Future> Timed<F> {
    pub(crate) fn new(inner: F) -> Self {
        Timed {
            inner: Box::pin(inner),
            spent: Duration::ZERO,
        }
    }
}

impl<F: Future> Future for Timed<F> {
    type Output = (F::Output, Duration);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let t0 = thread_cpu();
        let polled = this.inner.as_mut().poll(cx);
        this.spent += thread_cpu().saturating_sub(t0);
        polled.map(|out| (out, this.spent))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_timed_future_counts_its_own_work_not_its_sleep() {
        let (sum, spent) = Timed::new(async {
            tokio::time::sleep(Duration::from_millis(30)).await;
            // Work the optimiser cannot drop.
            (0..200_000u64).fold(0u64, |a, x| a.wrapping_add(std::hint::black_box(x)))
        })
        .await;
        assert_eq!(sum, (0..200_000u64).sum::<u64>());
        if cfg!(target_os = "linux") {
            assert!(spent > Duration::ZERO, "the loop took CPU time");
            // The 30 ms sleep is not CPU time; the loop takes well under that here.
            assert!(spent < Duration::from_millis(30), "{spent:?}");
            assert!(process_cpu_time() >= spent);
        }
    }
}
