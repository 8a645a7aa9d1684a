//! [`AlibabaProviderBuilder`]: configuration validated once, the AccessKey turned into a signer
//! (its secrets scrubbed), the shared client options into an engine and an HTTP client.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use cloudphone_core::raw::rate_store::account_id;
use cloudphone_core::raw::{capabilities, rate_budgets, BatchEngine, RateScope};
use cloudphone_core::{Operation, RateBudget, Result};
use secrecy::ExposeSecret;

use super::{AlibabaProvider, PAGE_SIZE};
use crate::client::{Client, Nonces};
use crate::clock::{Clock, SystemClock};
use crate::config::AlibabaConfig;
use crate::signer::{new_nonce, Signer};
use crate::VENDOR;

/// Builds an [`AlibabaProvider`] with an injected clock, nonce source or HTTP client.
pub struct AlibabaProviderBuilder {
    config: AlibabaConfig,
    clock: Option<Arc<dyn Clock>>,
    nonces: Option<Nonces>,
    http: Option<reqwest::Client>,
}

impl std::fmt::Debug for AlibabaProviderBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlibabaProviderBuilder")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl AlibabaProviderBuilder {
    /// Uses `clock` for `x-acs-date`.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Uses `next` for `x-acs-signature-nonce` (called once per attempt; it must not repeat
    /// itself: the vendor refuses a nonce it has seen).
    pub fn nonces(mut self, next: impl Fn() -> String + Send + Sync + 'static) -> Self {
        self.nonces = Some(Arc::new(next));
        self
    }

    /// Uses `client` for HTTP (its own timeouts then apply instead of the configured ones).
    ///
    /// Build it from [`cloudphone_core::raw::http::HttpOptions::client_builder`]: that one never
    /// follows a redirect (which would carry the signed request to another host and re-send a
    /// state change). The body cap (`max_body_bytes`) applies whatever the client.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// Validates the configuration and builds the provider.
    pub fn build(self) -> Result<AlibabaProvider> {
        let c = self.config;
        let v = c.validate()?;
        let options = c.client.http_options();
        let http = c.client.http_client(VENDOR, self.http)?;
        let budgets = rate_budgets([RateBudget::per_second(c.rate_limit_per_second)]);
        let engine = BatchEngine::new(
            VENDOR,
            c.client
                .engine_config()
                // Alibaba throttles each API of an account separately.
                .rate_limits(budgets.clone(), RateScope::Endpoint)
                // A shared rate-limit store keys budgets by the endpoint and key id.
                .account(account_id(&[v.endpoint.as_str(), &v.access_key])),
        );
        // Whatever the vendor echoes back, the secrets never reach an error or a log.
        engine.scrubber().add(v.secret.expose_secret());
        let mut signer = Signer::new(v.access_key, v.secret);
        if let Some(t) = c.security_token.clone() {
            engine.scrubber().add(t.expose_secret());
            signer = signer.with_security_token(t);
        }
        let capabilities = capabilities(
            [
                (Operation::Status, PAGE_SIZE),
                (Operation::Stop, c.batch_size),
                (Operation::Start, c.batch_size),
                (Operation::Restart, c.batch_size),
                (Operation::Reset, c.batch_size),
                (Operation::List, PAGE_SIZE),
            ],
            budgets,
            true,
        );
        Ok(AlibabaProvider {
            client: Client {
                http,
                engine,
                endpoint: v.endpoint,
                signer,
                clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock)),
                nonces: self.nonces.unwrap_or_else(|| Arc::new(new_nonce)),
                max_body: options.max_body_bytes,
                proven: AtomicBool::new(false),
            },
            batch_size: c.batch_size,
            concurrency: c.concurrency,
            force_stop: c.force_stop,
            check_states: c.check_states,
            reimage: c.reimage_enabled(),
            region: c
                .region
                .as_deref()
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .map(str::to_owned),
            capabilities,
        })
    }
}

impl AlibabaProvider {
    /// Validates `config` and builds a provider with the system clock, random nonces and a
    /// fresh HTTP client.
    pub fn new(config: AlibabaConfig) -> Result<Self> {
        Self::builder(config).build()
    }

    /// A builder, to inject a clock, nonces or an HTTP client.
    pub fn builder(config: AlibabaConfig) -> AlibabaProviderBuilder {
        AlibabaProviderBuilder {
            config,
            clock: None,
            nonces: None,
            http: None,
        }
    }
}
