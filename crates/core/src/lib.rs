//! The contract of [cloudphone](https://docs.rs/cloudphone): one async, batch-first interface to
//! cloud phones from several vendors.
//!
//! - [`CloudPhoneProvider`]: the object-safe trait every vendor backend implements
//!   (`Arc<dyn CloudPhoneProvider>`), with batch `status`, `stop`, `start`, `restart`, `reset`,
//!   listing, jobs and waiting.
//! - [`BatchReport`]: exactly one [`PhoneOutcome`] per distinct requested phone, in request
//!   order: done, pending (with its [`JobRef`]) or failed (with a normalized [`Error`]).
//! - [`raw::BatchEngine`]: the machinery backends share — dedupe, chunking, bounded fan-out, a
//!   [`raw::RateLimiter`], retries that know [`raw::Idempotency`], per-chunk failure containment and the
//!   completeness check.
//! - [`wait`]: polling until phones reach a target state.
//! - [`http`]: the one HTTP client (no redirects, capped bodies) and transport classifier.
//! - [`progress`]: outcomes handed out per answered chunk.
//! - [`registry`]: vendors by configuration `type`, one registration line each.
//! - [`rate_store`]: where rate budgets and lock-outs are kept — this process (default) or a
//!   store shared by several processes on one vendor account.
//! - [`ClientOptions`]: the timeouts, retries, concurrency and body cap every vendor shares.
//! - [`raw`]: what only backend writers need (engine, wait helpers, HTTP rules, option readers).
//!
//! ```
//! # #[cfg(feature = "fake")]
//! # async fn demo() -> cloudphone_core::Result<()> {
//! use std::sync::Arc;
//! use cloudphone_core::{CloudPhoneProvider, FakeProvider, PhoneId, WaitOptions};
//!
//! let provider: Arc<dyn CloudPhoneProvider> = Arc::new(FakeProvider::builder().phones(3).build());
//! let phones: Vec<PhoneId> = vec!["fake-0".into(), "fake-1".into(), "nope".into()];
//! let stopping = provider.stop(&phones).await?;
//! let done = provider.wait(&stopping, &WaitOptions::default()).await?;
//! assert_eq!(done.summary().succeeded, 2);
//! assert_eq!(done.summary().failed, 1); // `nope` does not exist: its own outcome, not an Err
//! # Ok(())
//! # }
//! ```

mod engine;
mod error;
#[cfg(any(test, feature = "fake"))]
mod fake;
pub mod http;
pub mod options;
pub mod progress;
mod provider;
pub mod rate_store;
mod ratelimit;
pub mod raw;
mod redact;
pub mod registry;
mod retry;
mod types;
pub mod wait;

// Backend-only items live in `raw`; the root paths stay (hidden) for code written before it.
#[doc(hidden)]
pub use engine::{dedupe, BatchEngine, EngineConfig, RateScope};
pub use error::{Error, ErrorKind, Result};
#[cfg(any(test, feature = "fake"))]
pub use fake::{FakeBuilder, FakeProvider};
pub use options::ClientOptions;
pub use provider::{
    Capabilities, CloudPhoneProvider, CloudPhoneProviderExt, Extras, ListRequest, ResetOptions,
    StartOptions, WaitOptions,
};
pub use ratelimit::RateBudget;
#[doc(hidden)]
pub use ratelimit::RateLimiter;
pub use redact::{Scrubber, REDACTED};
#[doc(hidden)]
pub use retry::Idempotency;
pub use retry::RetryPolicy;
pub use types::{
    BatchReport, JobInfo, JobRef, JobState, ObservedState, Operation, Origin, Outcome, PhoneId,
    PhoneOutcome, PhonePage, PhoneState, PhoneSummary, StrayJob, Summary,
};

/// `async_trait`, re-exported so backends implement [`CloudPhoneProvider`] with the same macro.
pub use async_trait::async_trait;
