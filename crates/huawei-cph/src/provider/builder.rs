//! [`HuaweiCphProviderBuilder`]: configuration validated once, credentials turned into an
//! authentication scheme (their secrets scrubbed), the shared client options into an engine
//! and an HTTP client.

use std::collections::VecDeque;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cloudphone_core::raw::rate_store::account_id;
use cloudphone_core::raw::{capabilities, rate_budgets, BatchEngine, RateScope};
use cloudphone_core::{Operation, RateBudget, Result};
use secrecy::ExposeSecret;

use super::{HuaweiCphProvider, LIST_PAGE_SIZE};
use crate::client::{Auth, Client, IamLogin};
use crate::clock::{Clock, SystemClock};
use crate::config::{Credentials, HuaweiCphConfig};
use crate::signer::Signer;
use crate::VENDOR;

/// Builds a [`HuaweiCphProvider`] with an injected clock or HTTP client.
#[derive(Debug)]
pub struct HuaweiCphProviderBuilder {
    config: HuaweiCphConfig,
    clock: Option<Arc<dyn Clock>>,
    http: Option<reqwest::Client>,
}

impl HuaweiCphProviderBuilder {
    /// Uses `clock` for `X-Sdk-Date` and IAM token expiry.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Uses `client` for HTTP (its own timeouts then apply instead of the configured ones).
    ///
    /// Build it from [`cloudphone_core::raw::http::HttpOptions::client_builder`]: that one never follows a redirect (which
    /// would carry the credentials to another host and re-send a state change). The body cap
    /// (`max_body_bytes`) applies whatever the client.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// Validates the configuration and builds the provider.
    pub fn build(self) -> Result<HuaweiCphProvider> {
        let c = self.config;
        let v = c.validate()?;
        let options = c.client.http_options();
        let http = c.client.http_client(VENDOR, self.http)?;
        let clock = self.clock.unwrap_or_else(|| Arc::new(SystemClock));
        let budgets = rate_budgets([RateBudget::per_second(c.rate_limit_per_second)]);
        // Who the gateway counts calls for (a shared rate-limit store keys budgets and a
        // refused key's lock-out by it): the endpoint, the project and the key id or user;
        // never a secret.
        let who = match &v.credentials {
            Credentials::Token(_) => "token".to_owned(),
            Credentials::AkSk { access_key, .. } => format!("ak:{access_key}"),
            Credentials::Password {
                username, domain, ..
            } => format!("user:{username}@{domain}"),
        };
        let account = account_id(&[v.endpoint.as_str(), c.project_id.trim(), &who]);
        let engine = BatchEngine::new(
            VENDOR,
            c.client
                .engine_config()
                .rate_limits(budgets.clone(), RateScope::Endpoint)
                .account(account),
        );
        // Every configured secret is scrubbed from whatever the vendor echoes back.
        let scrubber = engine.scrubber();
        let auth = match v.credentials {
            Credentials::Token(t) => {
                scrubber.add(t.expose_secret());
                Auth::Token(t)
            }
            Credentials::AkSk {
                access_key,
                secret_key,
                security_token,
            } => {
                scrubber.add(secret_key.expose_secret());
                let mut s = Signer::new(access_key, secret_key);
                if let Some(t) = security_token {
                    scrubber.add(t.expose_secret());
                    s = s.with_security_token(t);
                }
                Auth::AkSk(s)
            }
            Credentials::Password {
                username,
                password,
                domain,
                iam_endpoint,
            } => {
                scrubber.add(password.expose_secret());
                let mut url = iam_endpoint;
                let path = format!("{}/v3/auth/tokens", url.path().trim_end_matches('/'));
                url.set_path(&path);
                Auth::Iam(Box::new(IamLogin {
                    username,
                    password,
                    domain,
                    url,
                    margin: Duration::from_secs(c.token_refresh_margin_secs),
                    cache: tokio::sync::Mutex::new(None),
                    accepted: AtomicU64::new(0),
                }))
            }
        };
        let capabilities = capabilities(
            [
                (Operation::Status, 1),
                (Operation::Stop, c.batch_size),
                (Operation::Start, c.batch_size),
                (Operation::Restart, c.batch_size),
                (Operation::Reset, c.batch_size),
                (Operation::List, LIST_PAGE_SIZE),
            ],
            budgets,
            true,
        );
        Ok(HuaweiCphProvider {
            client: Client {
                http,
                engine,
                endpoint: v.endpoint,
                project_id: c.project_id.trim().to_owned(),
                auth,
                clock,
                max_body: options.max_body_bytes,
            },
            batch_size: c.batch_size,
            concurrency: c.concurrency,
            strategy: c.status_strategy,
            capabilities,
            list_memo: Mutex::new(VecDeque::new()),
        })
    }
}

impl HuaweiCphProvider {
    /// Validates `config` and builds a provider with the system clock and a fresh HTTP client.
    pub fn new(config: HuaweiCphConfig) -> Result<Self> {
        Self::builder(config).build()
    }

    /// A builder, to inject a clock or an HTTP client.
    pub fn builder(config: HuaweiCphConfig) -> HuaweiCphProviderBuilder {
        HuaweiCphProviderBuilder {
            config,
            clock: None,
            http: None,
        }
    }
}
