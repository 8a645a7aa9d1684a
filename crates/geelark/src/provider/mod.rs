//! [`GeelarkProvider`]: the GeeLark Open API behind [`CloudPhoneProvider`].
//!
//! - `builder`: configuration to provider (engine, HTTP client, test hooks);
//! - `request`: one signed request through the engine, its envelope checked;
//! - `batch`: per-phone outcomes of batch answers;
//! - `list`: list paging (cursors, the page cap, repeated pages);
//! - `options`: the vendor options of `start` and `reset`.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use cloudphone_core::raw::{BatchEngine, Idempotency};
use cloudphone_core::{
    BatchReport, Capabilities, CloudPhoneProvider, ListRequest, Operation, PhoneId, PhonePage,
    ResetOptions, Result, StartOptions,
};
use tokio::time::Instant;

use crate::config::{Credentials, GeelarkConfig};
use crate::{wire, VENDOR};

mod batch;
mod builder;
mod list;
mod options;
mod request;

pub(crate) use batch::batch_outcomes;
pub use builder::GeelarkProviderBuilder;
pub(crate) use list::{list_data, list_page_of, Cursor};
pub(crate) use request::{answer_envelope, envelope_data};

use builder::{Clock, TraceIds};
use options::{new_one_options, start_options};
use request::to_json;

pub(crate) const STATUS: &str = "/open/v1/phone/status";
pub(crate) const STOP: &str = "/open/v1/phone/stop";
pub(crate) const START: &str = "/open/v1/phone/start";
pub(crate) const NEW_ONE: &str = "/open/v2/phone/newOne";
pub(crate) const RESTART: &str = "/open/v1/phone/restart";
pub(crate) const LIST: &str = "/open/v1/phone/list";
pub(crate) const AUTH_STATUS: &str = "/open/v1/auth/status";

/// Phones per list page, the vendor's maximum.
const MAX_PAGE_SIZE: usize = 100;

/// The most phones a listing reads by default before it gives up on the vendor's paging:
/// whatever `total` claims, a listing costs at most this many phones' worth of pages.
pub const DEFAULT_MAX_LISTED: u64 = 1_000_000;

/// GeeLark cloud phones through the GeeLark Open API.
///
/// Stop, start, restart and reset return before the phone changes state: their outcomes are
/// pending (GeeLark has no jobs) and [`CloudPhoneProvider::wait`] polls `status` until the
/// target state shows. Every API has its own client-side rate budget.
pub struct GeelarkProvider {
    config: GeelarkConfig,
    base_url: String,
    timeout: Duration,
    max_body: usize,
    credentials: Credentials,
    client: reqwest::Client,
    engine: BatchEngine,
    capabilities: Capabilities,
    clock: Clock,
    trace_ids: TraceIds,
    /// APIs GeeLark locked after a 40014, and until when.
    locked: Mutex<HashMap<&'static str, Instant>>,
    /// Each endpoint's URL, parsed once (parsing took a tenth of a newOne call's client CPU).
    urls: Mutex<HashMap<&'static str, reqwest::Url>>,
    /// The most phones a listing reads.
    max_listed: u64,
}

impl fmt::Debug for GeelarkProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeelarkProvider")
            .field("base_url", &self.base_url)
            .field("credentials", &self.credentials)
            .field("config", &self.config)
            .field("engine", &self.engine)
            .finish_non_exhaustive()
    }
}

impl GeelarkProvider {
    /// The configuration the provider was built from.
    pub fn config(&self) -> &GeelarkConfig {
        &self.config
    }

    /// Checks the credentials with `POST /open/v1/auth/status`: `Ok` when GeeLark accepts
    /// them, an [`ErrorKind::Unauthenticated`](cloudphone_core::ErrorKind::Unauthenticated) error (vendor code 40003) when it does not. A
    /// refusal is remembered: nothing is sent with these credentials again.
    pub async fn check_auth(&self) -> Result<()> {
        self.engine
            .guarded(self.request(
                AUTH_STATUS,
                Idempotency::ReadOnly,
                b"{}".to_vec(),
                false,
                request::Data::Skip,
                |_, _| Ok(()),
            ))
            .await
    }
}

#[async_trait]
impl CloudPhoneProvider for GeelarkProvider {
    fn vendor(&self) -> &'static str {
        VENDOR
    }

    fn origin(&self) -> Option<cloudphone_core::Origin> {
        Some(self.engine.origin())
    }

    fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    async fn status(&self, phones: &[PhoneId]) -> Result<BatchReport> {
        self.batch(
            Operation::Status,
            STATUS,
            phones,
            self.config.status_batch_size,
            |ids| to_json(&wire::IdsBody { ids }),
        )
        .await
    }

    async fn stop(&self, phones: &[PhoneId]) -> Result<BatchReport> {
        self.batch(
            Operation::Stop,
            STOP,
            phones,
            self.config.batch_size,
            |ids| to_json(&wire::IdsBody { ids }),
        )
        .await
    }

    async fn start(&self, phones: &[PhoneId], options: &StartOptions) -> Result<BatchReport> {
        let (width, center, energy_saving_mode) = start_options(&options.extras)?;
        self.batch(
            Operation::Start,
            START,
            phones,
            self.config.batch_size,
            |ids| {
                to_json(&wire::StartBody {
                    ids,
                    width,
                    center,
                    energy_saving_mode,
                })
            },
        )
        .await
    }

    async fn restart(&self, phones: &[PhoneId]) -> Result<BatchReport> {
        self.each(Operation::Restart, RESTART, phones, |id| {
            to_json(&wire::IdBody { id })
        })
        .await
    }

    async fn reset(&self, phones: &[PhoneId], options: &ResetOptions) -> Result<BatchReport> {
        let options = new_one_options(options)?;
        self.each(Operation::Reset, NEW_ONE, phones, |id| {
            to_json(&wire::NewOneBody {
                id,
                options: &options,
            })
        })
        .await
    }

    /// One page of `/open/v1/phone/list`. The cursor is the page number (and a fingerprint of
    /// the page before, for the listing to end if the vendor answers the same page again); a
    /// listing reads at most 1,000,000 phones' worth of pages ([`DEFAULT_MAX_LISTED`], see
    /// [`GeelarkProviderBuilder::max_listed`]), whatever `total` claims.
    async fn list_page(&self, request: &ListRequest) -> Result<PhonePage> {
        self.list(request).await
    }

    /// The default wait (status polls), updating the report's outcomes in place.
    async fn wait_owned(
        &self,
        report: BatchReport,
        options: &cloudphone_core::WaitOptions,
    ) -> Result<BatchReport> {
        cloudphone_core::raw::wait::wait_by_status_owned(self, report, options).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::GeelarkConfig;
    use cloudphone_core::raw::RateScope;
    use cloudphone_core::RateBudget;

    #[test]
    fn provider_uses_one_budget_per_endpoint() {
        let p = GeelarkProvider::new(GeelarkConfig::with_token("t")).unwrap();
        assert_eq!(p.engine.config().rate_scope, RateScope::Endpoint);
        assert_eq!(
            p.capabilities().rate_limits,
            vec![RateBudget::per_minute(120), RateBudget::per_hour(20_000)]
        );
        let p = GeelarkProvider::new(GeelarkConfig::with_token("t").rate_limits(0, 5)).unwrap();
        assert_eq!(p.capabilities().rate_limits, vec![RateBudget::per_hour(5)]);
    }
}
