//! The wall clock used for `x-acs-date`, replaceable in tests.

use std::fmt::Debug;

use time::OffsetDateTime;

/// A source of the current UTC time.
pub trait Clock: Debug + Send + Sync {
    /// The current time.
    fn now(&self) -> OffsetDateTime;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}
