//! Typed configuration of the GeeLark backend.

use std::fmt;

use cloudphone_core::{ClientOptions, Error, ErrorKind, Result};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// The international endpoint; `https://openapi.geelark.cn` serves mainland China.
pub const DEFAULT_BASE_URL: &str = "https://openapi.geelark.com";

/// Configuration of a [`crate::GeelarkProvider`].
///
/// Credentials are either key verification (`app_id` + `api_key`) or a bearer `token`. When
/// both are given, key verification is used and the token is ignored.
///
/// ```
/// use cloudphone_geelark::GeelarkConfig;
///
/// let config: GeelarkConfig = serde_json::from_value(serde_json::json!({
///     "app_id": "my-app", "api_key": "s3cret", "batch_size": 50,
/// })).unwrap();
/// assert_eq!(config.batch_size, 50);
/// assert_eq!(config.concurrency, 4); // a shared key, at GeeLark's default
/// assert!(!format!("{config:?}").contains("s3cret"));
/// ```
// Unknown keys are refused by `client_options` (from `client_options_field!`), which sees every
// key the struct does not take (`deny_unknown_fields` does not work with `flatten`).
#[derive(Clone, Deserialize)]
#[non_exhaustive]
pub struct GeelarkConfig {
    /// API root, default `https://openapi.geelark.com`; any `http(s)` URL is accepted.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// Team AppId, required with `api_key`.
    #[serde(default)]
    pub app_id: Option<String>,
    /// Team API key (key verification).
    #[serde(default)]
    pub api_key: Option<SecretString>,
    /// Bearer token from the GeeLark client's settings (token verification).
    #[serde(default)]
    pub token: Option<SecretString>,
    /// Phones per start/stop call, 1–200 (default 100).
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Phones per status call, 1–100 (default 100).
    #[serde(default = "default_status_batch_size")]
    pub status_batch_size: usize,
    /// Client-side calls per minute, per API (default 120; GeeLark allows 200; 0 = off).
    #[serde(default = "default_rate_per_minute")]
    pub rate_limit_per_minute: u32,
    /// Client-side calls per hour, per API (default 20000; GeeLark allows 24000; 0 = off).
    #[serde(default = "default_rate_per_hour")]
    pub rate_limit_per_hour: u32,
    /// Timeouts, retries, `concurrency` and `max_body_bytes`: the keys every vendor shares
    /// ([`ClientOptions`], read from this same table). GeeLark's defaults: concurrency 4, four
    /// retries 1–60 s apart, 30 s timeout (10 s to connect), 8 MiB bodies. The configuration
    /// dereferences to them, so `config.timeout_secs` reads the shared key.
    #[serde(flatten, deserialize_with = "client_options")]
    pub client: ClientOptions,
}

/// GeeLark's own keys, for the unknown-key error (the shared ones are added to it).
const KEYS: &[&str] = &[
    "base_url",
    "app_id",
    "api_key",
    "token",
    "batch_size",
    "status_batch_size",
    "rate_limit_per_minute",
    "rate_limit_per_hour",
];

/// The shared settings at GeeLark's defaults.
pub(crate) const CLIENT_DEFAULTS: ClientOptions = ClientOptions::new()
    .with_concurrency(4)
    .with_retries(4, 1_000, 60_000);

fn default_base_url() -> String {
    DEFAULT_BASE_URL.to_owned()
}
fn default_batch_size() -> usize {
    100
}
fn default_status_batch_size() -> usize {
    100
}
fn default_rate_per_minute() -> u32 {
    120
}
fn default_rate_per_hour() -> u32 {
    20_000
}

cloudphone_core::client_options_field!(GeelarkConfig, defaults = CLIENT_DEFAULTS, keys = KEYS);

impl GeelarkConfig {
    fn with_credentials(
        app_id: Option<String>,
        api_key: Option<SecretString>,
        token: Option<SecretString>,
    ) -> Self {
        GeelarkConfig {
            base_url: default_base_url(),
            app_id,
            api_key,
            token,
            batch_size: default_batch_size(),
            status_batch_size: default_status_batch_size(),
            rate_limit_per_minute: default_rate_per_minute(),
            rate_limit_per_hour: default_rate_per_hour(),
            client: CLIENT_DEFAULTS,
        }
    }

    /// Key verification with a team AppId and API key; everything else at its default.
    pub fn with_api_key(app_id: impl Into<String>, api_key: impl Into<SecretString>) -> Self {
        Self::with_credentials(Some(app_id.into()), Some(api_key.into()), None)
    }

    /// Token verification with a bearer token; everything else at its default.
    pub fn with_token(token: impl Into<SecretString>) -> Self {
        Self::with_credentials(None, None, Some(token.into()))
    }

    /// Sets the API root (e.g. `https://openapi.geelark.cn`).
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into();
        self
    }

    /// Sets the start/stop chunk size.
    pub fn batch_size(mut self, n: usize) -> Self {
        self.batch_size = n;
        self
    }

    /// Sets the status chunk size.
    pub fn status_batch_size(mut self, n: usize) -> Self {
        self.status_batch_size = n;
        self
    }

    /// Sets the fan-out concurrency.
    pub fn concurrency(mut self, n: usize) -> Self {
        self.client = self.client.with_concurrency(n);
        self
    }

    /// Sets the per-API budgets (0 turns one off).
    pub fn rate_limits(mut self, per_minute: u32, per_hour: u32) -> Self {
        self.rate_limit_per_minute = per_minute;
        self.rate_limit_per_hour = per_hour;
        self
    }

    /// Sets the retry count and backoff delays.
    pub fn retries(mut self, max_retries: usize, min_delay_ms: u64, max_delay_ms: u64) -> Self {
        self.client = self
            .client
            .with_retries(max_retries, min_delay_ms, max_delay_ms);
        self
    }

    /// Sets the request and connection timeouts in seconds.
    pub fn timeouts(mut self, timeout_secs: u64, connect_timeout_secs: u64) -> Self {
        self.client = self
            .client
            .with_timeouts(timeout_secs, connect_timeout_secs);
        self
    }

    /// Sets the largest answer body accepted, in bytes.
    pub fn max_body_bytes(mut self, n: usize) -> Self {
        self.client = self.client.with_max_body_bytes(n);
        self
    }

    /// Checks every key; the error names the offending one.
    pub fn validate(&self) -> Result<()> {
        let url = reqwest::Url::parse(&self.base_url)
            .map_err(|e| config_error(format!("`base_url` is not a valid URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(config_error("`base_url` must be an http or https URL"));
        }
        self.credentials()?;
        if !(1..=200).contains(&self.batch_size) {
            return Err(config_error("`batch_size` must be between 1 and 200"));
        }
        if !(1..=100).contains(&self.status_batch_size) {
            return Err(config_error(
                "`status_batch_size` must be between 1 and 100",
            ));
        }
        self.client.validate(crate::VENDOR)?;
        Ok(())
    }

    /// The credentials in force: key verification wins over a token.
    pub(crate) fn credentials(&self) -> Result<Credentials> {
        let non_empty = |s: &Option<SecretString>, key: &str| -> Result<Option<SecretString>> {
            match s {
                Some(v) if v.expose_secret().is_empty() => {
                    Err(config_error(format!("`{key}` must not be empty")))
                }
                other => Ok(other.clone()),
            }
        };
        let api_key = non_empty(&self.api_key, "api_key")?;
        let token = non_empty(&self.token, "token")?;
        // Both travel in HTTP headers, which take printable ASCII only.
        let printable = |s: &str| s.bytes().all(|b| (0x20..0x7f).contains(&b));
        if self.app_id.as_deref().is_some_and(|a| !printable(a)) {
            return Err(config_error("`app_id` must be printable ASCII"));
        }
        if token
            .as_ref()
            .is_some_and(|t| !printable(t.expose_secret()))
        {
            return Err(config_error("`token` must be printable ASCII"));
        }
        match (api_key, &self.app_id, token) {
            (Some(key), Some(app_id), _) if !app_id.is_empty() => Ok(Credentials::Key {
                app_id: app_id.clone(),
                api_key: key,
            }),
            (Some(_), _, _) => Err(config_error("`app_id` is required with `api_key`")),
            (None, _, Some(token)) => Ok(Credentials::Token(token)),
            (None, _, None) => Err(config_error(
                "`api_key` (with `app_id`) or `token` is required",
            )),
        }
    }
}

fn config_error(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::Config, message).with_vendor(crate::VENDOR)
}

/// The authentication scheme a provider signs with.
#[derive(Clone)]
pub(crate) enum Credentials {
    Key {
        app_id: String,
        api_key: SecretString,
    },
    Token(SecretString),
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Key { app_id, .. } => f
                .debug_struct("Key")
                .field("app_id", app_id)
                .field("api_key", &"[redacted]")
                .finish(),
            Credentials::Token(_) => f.debug_tuple("Token").field(&"[redacted]").finish(),
        }
    }
}

impl fmt::Debug for GeelarkConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redact = |s: &Option<SecretString>| s.as_ref().map(|_| "[redacted]");
        f.debug_struct("GeelarkConfig")
            .field("base_url", &self.base_url)
            .field("app_id", &self.app_id)
            .field("api_key", &redact(&self.api_key))
            .field("token", &redact(&self.token))
            .field("batch_size", &self.batch_size)
            .field("status_batch_size", &self.status_batch_size)
            .field("rate_limit_per_minute", &self.rate_limit_per_minute)
            .field("rate_limit_per_hour", &self.rate_limit_per_hour)
            .field("client", &self.client)
            .finish()
    }
}
