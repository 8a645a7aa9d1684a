//! GeeLark cloud phones for [cloudphone](https://docs.rs/cloudphone): the GeeLark Open API
//! behind [`cloudphone_core::CloudPhoneProvider`].
//!
//! - Authentication by key verification (`appId` + signed `traceId`/`ts`/`nonce`, see [`sign`])
//!   or by bearer token; every attempt, retries included, gets a fresh trace id and signature.
//! - `status` (≤ 100 ids per call), `stop` and `start` (chunks of `batch_size`), `restart` and
//!   `reset` (one-click new machine, one id per call), `list_page`, and `wait` by status polling.
//! - GeeLark states: `0` running, `1` starting, `2` stopped, `3` expired; any other code is
//!   unknown with the raw code kept.
//! - Per-API client-side rate limits (default 120/min and 20,000/h, under GeeLark's 200/min and
//!   24,000/h); throttling answers (40007, 40017, 47002) are retried with backoff, the two-hour
//!   lock (40014) and rejected credentials (40003) never are; after a credential refusal nothing
//!   more is sent by the provider.
//! - Transport through `cloudphone_core::raw::http`: redirects are never followed (a 3xx is an error
//!   naming its status and Location host), answers are capped at `max_body_bytes`, and the
//!   timeout covers the whole body. A state change whose answer was lost (a timeout or cut
//!   connection after sending, a 5xx, an undecodable or oversized 2xx) is *unknown*, never
//!   failed, and never re-sent.
//! - Errors carry the request's `traceId`; the API key and token are scrubbed from anything the
//!   vendor echoes.
//!
//! ```no_run
//! # async fn demo() -> cloudphone_core::Result<()> {
//! use cloudphone_core::{CloudPhoneProvider, PhoneId, WaitOptions};
//! use cloudphone_geelark::{GeelarkConfig, GeelarkProvider};
//!
//! let provider = GeelarkProvider::new(GeelarkConfig::with_api_key("app-id", "api-key"))?;
//! let phones = [PhoneId::from("528715748189668352")];
//! let stopping = provider.stop(&phones).await?;
//! let stopped = provider.wait(&stopping, &WaitOptions::default()).await?;
//! println!("{:?}", stopped.summary());
//! # Ok(())
//! # }
//! ```

mod auth;
mod codes;
mod config;
#[doc(hidden)]
pub mod fuzzing;
mod provider;
mod wire;

pub use auth::{new_trace_id, sign};
pub use config::{GeelarkConfig, DEFAULT_BASE_URL};
pub use provider::{GeelarkProvider, GeelarkProviderBuilder, DEFAULT_MAX_LISTED};

/// The vendor name providers report and the facade registers (`type = "geelark"`).
pub const VENDOR: &str = "geelark";

/// This backend for the vendor registry: `type = "geelark"`, its secret keys, how a
/// configuration table becomes a provider. The facade registers it in one line.
pub const fn vendor() -> cloudphone_core::raw::registry::TypedVendor<GeelarkConfig> {
    cloudphone_core::raw::registry::TypedVendor::new(
        VENDOR,
        &["api_key", "token"],
        |c: &GeelarkConfig| Ok(std::sync::Arc::new(GeelarkProvider::new(c.clone())?)),
    )
    .with_urls(|c: &GeelarkConfig| vec![("base_url", c.base_url.clone())])
}
