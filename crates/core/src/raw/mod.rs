//! What only backend writers need, out of the user-facing API (OpenDAL's `raw` is the model):
//! the batch engine, the wait helpers, the HTTP rules, the shared client options and the small
//! helpers every backend would otherwise write again.
//!
//! A backend typically:
//! - embeds [`ClientOptions`] in its configuration (`#[serde(flatten, deserialize_with = …)]`
//!   over [`ClientOptions::deserialize_flat`]) and validates it with
//!   [`ClientOptions::validate`];
//! - builds its [`BatchEngine`] from [`ClientOptions::engine_config`] and its HTTP client with
//!   [`ClientOptions::http_client`] (never following redirects), sending through
//!   [`http::send`];
//! - reads operation options with [`ExtraOptions`], fans its own requests out with
//!   [`fan_out`], and waits with the [`wait`] helpers;
//! - declares what it offers with [`capabilities`], and exports a [`registry::TypedVendor`] so
//!   that configuration can name it.
//!
//! [`client_options_field!`](crate::client_options_field) plumbs the embedded options in one
//! line.
//!
//! The root paths of these items (`cloudphone_core::BatchEngine`, `cloudphone_core::wait`, …)
//! still work for now; new code imports them from here.

mod backend;
mod errors;
mod extras;
mod fan_out;
mod settled;

pub use backend::{capabilities, rate_budgets};
pub use errors::{decode_json, not_sent, undecodable, ErrorContext};
pub use extras::ExtraOptions;
pub use fan_out::fan_out;
pub use settled::merge_settled;

pub use crate::engine::{dedupe, BatchEngine, EngineConfig, RateScope};
pub use crate::options::{ClientOptions, MAX_BODY_BYTES, MAX_CONCURRENCY, MIN_BODY_BYTES};
pub use crate::rate_store;
pub use crate::ratelimit::{RateBudget, RateLimiter};
pub use crate::redact::Scrubber;
pub use crate::retry::{Idempotency, RetryPolicy};
pub use crate::{http, progress, registry, wait};

/// For [`client_options_field!`](crate::client_options_field): serde as core sees it.
#[doc(hidden)]
pub use serde as __serde;
