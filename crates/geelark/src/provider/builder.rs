//! [`GeelarkProviderBuilder`]: configuration validated once, the shared client options turned
//! into an engine and an HTTP client, and the test hooks (clock, trace ids, client).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use cloudphone_core::raw::rate_store::account_id;
use cloudphone_core::raw::{capabilities, rate_budgets, BatchEngine, RateScope};
use cloudphone_core::{Operation, RateBudget, Result};
use secrecy::ExposeSecret;

use super::{GeelarkProvider, DEFAULT_MAX_LISTED, MAX_PAGE_SIZE};
use crate::config::GeelarkConfig;
use crate::{auth, VENDOR};

pub(super) type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;
pub(super) type TraceIds = Arc<dyn Fn() -> String + Send + Sync>;

/// Builds a [`GeelarkProvider`] with test hooks: a fixed clock and trace ids make every signed
/// header predictable, and a custom `reqwest::Client` can be supplied.
pub struct GeelarkProviderBuilder {
    config: GeelarkConfig,
    clock: Option<Clock>,
    trace_ids: Option<TraceIds>,
    client: Option<reqwest::Client>,
    max_listed: u64,
}

impl fmt::Debug for GeelarkProviderBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeelarkProviderBuilder")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl GeelarkProviderBuilder {
    /// The clock used for the `ts` header, in milliseconds since the Unix epoch.
    pub fn clock(mut self, now_ms: impl Fn() -> u64 + Send + Sync + 'static) -> Self {
        self.clock = Some(Arc::new(now_ms));
        self
    }

    /// The source of `traceId` headers, called once per attempt.
    pub fn trace_ids(mut self, next: impl Fn() -> String + Send + Sync + 'static) -> Self {
        self.trace_ids = Some(Arc::new(next));
        self
    }

    /// Sends through this client. Its own connect timeout applies; the request timeout
    /// (`timeout_secs`) and the body cap (`max_body_bytes`) still apply to every request.
    ///
    /// Build it from [`cloudphone_core::raw::http::HttpOptions::client_builder`]: a client that
    /// follows redirects would carry the signed headers or the token to another host.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self
    }

    /// The most phones a listing reads (default [`DEFAULT_MAX_LISTED`]): past it, whatever the
    /// vendor's `total` claims, the next page is refused with an error instead of being read.
    pub fn max_listed(mut self, phones: u64) -> Self {
        self.max_listed = phones.max(1);
        self
    }

    /// Validates the configuration and builds the provider.
    pub fn build(self) -> Result<GeelarkProvider> {
        let config = self.config;
        config.validate()?;
        let credentials = config.credentials()?;
        let http_options = config.client.http_options();
        let client = config.client.http_client(VENDOR, self.client)?;
        let rate_limits = rate_budgets([
            RateBudget::per_minute(config.rate_limit_per_minute),
            RateBudget::per_hour(config.rate_limit_per_hour),
        ]);
        // Who GeeLark counts calls for (a shared rate-limit store keys budgets by it): the
        // app, or the token's fingerprint; never a secret in clear.
        // `https://h/` and `https://h` are one account.
        let base = config.base_url.trim_end_matches('/');
        let account = match &credentials {
            crate::config::Credentials::Key { app_id, .. } => account_id(&[base, "app", app_id]),
            crate::config::Credentials::Token(token) => {
                account_id(&[base, "token", token.expose_secret()])
            }
        };
        let engine = BatchEngine::new(
            VENDOR,
            config
                .client
                .engine_config()
                // GeeLark counts each API separately.
                .rate_limits(rate_limits.clone(), RateScope::Endpoint)
                .account(account),
        );
        // A vendor echoing a credential back must not put it in an error, a log or the output.
        for secret in [&config.api_key, &config.token].into_iter().flatten() {
            engine.scrubber().add(secret.expose_secret());
        }
        let capabilities = capabilities(
            [
                (Operation::Status, config.status_batch_size),
                (Operation::Stop, config.batch_size),
                (Operation::Start, config.batch_size),
                (Operation::Restart, 1),
                (Operation::Reset, 1),
                (Operation::List, MAX_PAGE_SIZE),
            ],
            rate_limits,
            false,
        );
        Ok(GeelarkProvider {
            base_url: config.base_url.trim_end_matches('/').to_owned(),
            timeout: http_options.timeout,
            max_body: http_options.max_body_bytes,
            credentials,
            client,
            engine,
            capabilities,
            clock: self.clock.unwrap_or_else(|| Arc::new(auth::now_ms)),
            trace_ids: self
                .trace_ids
                .unwrap_or_else(|| Arc::new(auth::new_trace_id)),
            locked: Mutex::new(HashMap::new()),
            urls: Mutex::new(HashMap::new()),
            max_listed: self.max_listed,
            config,
        })
    }
}

impl GeelarkProvider {
    /// A provider from a validated configuration.
    pub fn new(config: GeelarkConfig) -> Result<Self> {
        Self::builder(config).build()
    }

    /// A builder, for injecting a clock, trace ids or an HTTP client.
    pub fn builder(config: GeelarkConfig) -> GeelarkProviderBuilder {
        GeelarkProviderBuilder {
            config,
            clock: None,
            trace_ids: None,
            client: None,
            max_listed: DEFAULT_MAX_LISTED,
        }
    }
}
