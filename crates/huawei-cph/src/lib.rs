//! Huawei Cloud CPH (Cloud Phone Host) backend for
//! [cloudphone](https://docs.rs/cloudphone): [`HuaweiCphProvider`] implements
//! [`cloudphone_core::CloudPhoneProvider`] over the CPH REST API.
//!
//! - Authentication: a ready `X-Auth-Token`, IAM password login (token cached, refreshed ahead
//!   of expiry and once on an expired-token answer), or AK/SK signing ([`signer`]).
//! - Reset, stop, start (via `batch-restart`: CPH has no start call, so phones already running
//!   are read first and left alone) and restart are batch calls, chunked by `batch_size`;
//!   accepted phones are pending with their job id and request id, and `wait` follows them with
//!   the list-jobs API. A state change whose answer was lost (a 5xx, a cut connection, an
//!   undecodable or oversized answer) is *unknown*, never failed, and never sent again.
//! - Every call goes through the shared HTTP client (no redirects, answers capped at
//!   `max_body_bytes`), is rate-limited per API, retried with backoff and jitter when that is
//!   safe, and never sent again once the credentials were refused (Huawei locks a key after
//!   five failures). Configured secrets and IAM-issued tokens are scrubbed from every error.
//!
//! ```no_run
//! # async fn demo() -> cloudphone_core::Result<()> {
//! use cloudphone_core::{CloudPhoneProvider, PhoneId, ResetOptions, WaitOptions};
//! use cloudphone_huawei_cph::{HuaweiCphConfig, HuaweiCphProvider};
//!
//! let config = HuaweiCphConfig::new("cn-east-3", "my-project-id")
//!     .with_access_key("AK", "SK".to_owned().into());
//! let cph = HuaweiCphProvider::new(config)?;
//! let phones: Vec<PhoneId> = vec!["phone-1".into(), "phone-2".into()];
//! let report = cph.reset(&phones, &ResetOptions::default()).await?;
//! let done = cph.wait(&report, &WaitOptions::default()).await?;
//! println!("{:?}", done.summary());
//! # Ok(())
//! # }
//! ```

mod client;
pub mod clock;
mod config;
#[doc(hidden)]
pub mod fuzzing;
mod provider;
pub mod signer;
mod wire;
mod wire_rows;

pub use clock::{Clock, SystemClock};
pub use config::{HuaweiCphConfig, StatusStrategy};
pub use provider::{
    HuaweiCphProvider, HuaweiCphProviderBuilder, JOBS_PAGE_SIZE, LIST_PAGE_SIZE,
    REQUEST_IDS_PER_CALL,
};
pub use wire::{job_state, phone_state};

/// The vendor name every error and report of this crate carries.
pub const VENDOR: &str = "huawei-cph";

/// This backend for the vendor registry: `type = "huawei-cph"`, its secret keys, how a
/// configuration table becomes a provider. The facade registers it in one line.
pub const fn vendor() -> cloudphone_core::raw::registry::TypedVendor<HuaweiCphConfig> {
    cloudphone_core::raw::registry::TypedVendor::new(
        VENDOR,
        &["secret_key", "security_token", "token", "password"],
        |c: &HuaweiCphConfig| Ok(std::sync::Arc::new(HuaweiCphProvider::new(c.clone())?)),
    )
    .with_urls(|c: &HuaweiCphConfig| {
        [("endpoint", &c.endpoint), ("iam_endpoint", &c.iam_endpoint)]
            .into_iter()
            .filter_map(|(k, v)| Some((k, v.clone()?)))
            .collect()
    })
}
