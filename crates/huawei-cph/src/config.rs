//! Configuration of a [`crate::HuaweiCphProvider`].

use std::fmt;

use cloudphone_core::{ClientOptions, Error, ErrorKind, Result};
use reqwest::Url;
use secrecy::SecretString;
use serde::Deserialize;

/// How [`cloudphone_core::CloudPhoneProvider::status`] reads many phones, since CPH has no
/// batch status call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum StatusStrategy {
    /// Whichever needs fewer API calls: list pages (200 phones each) or one detail call per
    /// phone, decided after reading the first list page.
    #[default]
    Auto,
    /// One `GET …/phones/{phone_id}` per phone.
    Detail,
    /// List every page and filter client-side.
    List,
}

/// Settings of the Huawei Cloud CPH backend.
///
/// Deserializable from a TOML/JSON table with exactly these keys (unknown keys are errors).
/// Credentials: exactly one of `token`; `access_key` + `secret_key` (+ `security_token`);
/// `username` + `password` + `domain`.
///
/// ```
/// use cloudphone_huawei_cph::HuaweiCphConfig;
/// let config = HuaweiCphConfig::new("cn-east-3", "0123456789abcdef")
///     .with_access_key("AK", "SK".to_owned().into());
/// assert_eq!(config.batch_size, 100);
/// assert_eq!(config.concurrency, 8); // a shared key, at Huawei's default
/// ```
// Unknown keys are refused by `client_options` (from `client_options_field!`), which sees every
// key the struct does not take (`deny_unknown_fields` does not work with `flatten`).
#[derive(Clone, Deserialize)]
#[non_exhaustive]
pub struct HuaweiCphConfig {
    /// Region, e.g. `cn-east-3`; required unless `endpoint` (and for password login
    /// `iam_endpoint`) is given.
    #[serde(default)]
    pub region: Option<String>,
    /// Project id, part of every request path.
    #[serde(default)]
    pub project_id: String,
    /// CPH endpoint; default `https://cph.{region}.myhuaweicloud.com`.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// IAM endpoint for password login; default `https://iam.{region}.myhuaweicloud.com`.
    #[serde(default)]
    pub iam_endpoint: Option<String>,
    /// A ready IAM token, sent as `X-Auth-Token`.
    #[serde(default)]
    pub token: Option<SecretString>,
    /// Access key id for AK/SK signing.
    #[serde(default)]
    pub access_key: Option<String>,
    /// Secret access key for AK/SK signing.
    #[serde(default)]
    pub secret_key: Option<SecretString>,
    /// Security token of temporary AK/SK credentials.
    #[serde(default)]
    pub security_token: Option<SecretString>,
    /// IAM user name for password login.
    #[serde(default)]
    pub username: Option<String>,
    /// IAM user password.
    #[serde(default)]
    pub password: Option<SecretString>,
    /// Account (domain) name of the IAM user.
    #[serde(default)]
    pub domain: Option<String>,
    /// Phones per batch call (1–500, default 100).
    #[serde(default = "defaults::batch_size")]
    pub batch_size: usize,
    /// Calls per second per API (default 100, 0 = off). Huawei throttles at 200/s per API.
    #[serde(default = "defaults::rate_limit_per_second")]
    pub rate_limit_per_second: u32,
    /// How status reads many phones (default `auto`).
    #[serde(default)]
    pub status_strategy: StatusStrategy,
    /// Refresh an IAM token this many seconds before it expires (default 600).
    #[serde(default = "defaults::token_refresh_margin_secs")]
    pub token_refresh_margin_secs: u64,
    /// Timeouts, retries, `concurrency` and `max_body_bytes`: the keys every vendor shares
    /// ([`ClientOptions`], read from this same table). Huawei's defaults: concurrency 8, four
    /// retries 2–30 s apart (Huawei advises 2–5 s), 30 s timeout (10 s to connect), 8 MiB
    /// bodies. The configuration dereferences to them, so `config.timeout_secs` reads the
    /// shared key.
    #[serde(flatten, deserialize_with = "client_options")]
    pub client: ClientOptions,
}

/// Huawei's own keys, for the unknown-key error (the shared ones are added to it).
const KEYS: &[&str] = &[
    "region",
    "project_id",
    "endpoint",
    "iam_endpoint",
    "token",
    "access_key",
    "secret_key",
    "security_token",
    "username",
    "password",
    "domain",
    "batch_size",
    "rate_limit_per_second",
    "status_strategy",
    "token_refresh_margin_secs",
];

/// The shared settings at Huawei's defaults.
pub(crate) const CLIENT_DEFAULTS: ClientOptions = ClientOptions::new()
    .with_concurrency(8)
    .with_retries(4, 2_000, 30_000);

mod defaults {
    pub fn batch_size() -> usize {
        100
    }
    pub fn rate_limit_per_second() -> u32 {
        100
    }
    pub fn token_refresh_margin_secs() -> u64 {
        600
    }
}

cloudphone_core::client_options_field!(HuaweiCphConfig, defaults = CLIENT_DEFAULTS, keys = KEYS);

impl Default for HuaweiCphConfig {
    fn default() -> Self {
        HuaweiCphConfig {
            region: None,
            project_id: String::new(),
            endpoint: None,
            iam_endpoint: None,
            token: None,
            access_key: None,
            secret_key: None,
            security_token: None,
            username: None,
            password: None,
            domain: None,
            batch_size: defaults::batch_size(),
            rate_limit_per_second: defaults::rate_limit_per_second(),
            status_strategy: StatusStrategy::default(),
            token_refresh_margin_secs: defaults::token_refresh_margin_secs(),
            client: CLIENT_DEFAULTS,
        }
    }
}

fn redacted<T>(v: &Option<T>) -> Option<&'static str> {
    v.as_ref().map(|_| "<redacted>")
}

impl fmt::Debug for HuaweiCphConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HuaweiCphConfig")
            .field("region", &self.region)
            .field("project_id", &self.project_id)
            .field("endpoint", &self.endpoint)
            .field("iam_endpoint", &self.iam_endpoint)
            .field("token", &redacted(&self.token))
            .field("access_key", &redacted(&self.access_key))
            .field("secret_key", &redacted(&self.secret_key))
            .field("security_token", &redacted(&self.security_token))
            .field("username", &self.username)
            .field("password", &redacted(&self.password))
            .field("domain", &self.domain)
            .field("batch_size", &self.batch_size)
            .field("rate_limit_per_second", &self.rate_limit_per_second)
            .field("status_strategy", &self.status_strategy)
            .field("token_refresh_margin_secs", &self.token_refresh_margin_secs)
            .field("client", &self.client)
            .finish()
    }
}

impl HuaweiCphConfig {
    /// A configuration for `project_id` in `region`, with default limits and no credentials yet.
    pub fn new(region: impl Into<String>, project_id: impl Into<String>) -> Self {
        HuaweiCphConfig {
            region: Some(region.into()),
            project_id: project_id.into(),
            ..HuaweiCphConfig::default()
        }
    }

    /// Overrides the CPH endpoint (tests, simulators, private endpoints).
    pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }

    /// Overrides the IAM endpoint used for password login.
    pub fn with_iam_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.iam_endpoint = Some(endpoint.into());
        self
    }

    /// Authenticates with a ready IAM token.
    pub fn with_token(mut self, token: SecretString) -> Self {
        self.token = Some(token);
        self
    }

    /// Authenticates by signing with an access key pair.
    pub fn with_access_key(mut self, access_key: impl Into<String>, secret: SecretString) -> Self {
        self.access_key = Some(access_key.into());
        self.secret_key = Some(secret);
        self
    }

    /// Adds the security token of temporary access keys.
    pub fn with_security_token(mut self, token: SecretString) -> Self {
        self.security_token = Some(token);
        self
    }

    /// Authenticates by IAM password login, scoped to `project_id`.
    pub fn with_password(
        mut self,
        username: impl Into<String>,
        password: SecretString,
        domain: impl Into<String>,
    ) -> Self {
        self.username = Some(username.into());
        self.password = Some(password);
        self.domain = Some(domain.into());
        self
    }

    /// Sets the phones per batch call.
    pub fn with_batch_size(mut self, n: usize) -> Self {
        self.batch_size = n;
        self
    }

    /// Sets the client-side rate limit (0 = off).
    pub fn with_rate_limit_per_second(mut self, n: u32) -> Self {
        self.rate_limit_per_second = n;
        self
    }

    /// Sets the retry count and backoff delays.
    pub fn with_retries(
        mut self,
        max_retries: usize,
        min_delay_ms: u64,
        max_delay_ms: u64,
    ) -> Self {
        self.client = self
            .client
            .with_retries(max_retries, min_delay_ms, max_delay_ms);
        self
    }

    /// Sets the largest answer body accepted, in bytes.
    pub fn with_max_body_bytes(mut self, n: usize) -> Self {
        self.client = self.client.with_max_body_bytes(n);
        self
    }

    /// Sets the status strategy.
    pub fn with_status_strategy(mut self, strategy: StatusStrategy) -> Self {
        self.status_strategy = strategy;
        self
    }

    pub(crate) fn validate(&self) -> Result<Validated> {
        let region = self
            .region
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty());
        if self.project_id.trim().is_empty() {
            return Err(config_err("`project_id` is required"));
        }
        let endpoint = match (&self.endpoint, region) {
            (Some(e), _) => parse_endpoint("endpoint", e)?,
            (None, Some(r)) => {
                check_region(r)?;
                parse_endpoint("region", &format!("https://cph.{r}.myhuaweicloud.com"))?
            }
            (None, None) => return Err(config_err("`region` or `endpoint` is required")),
        };
        let credentials = self.credentials(region)?;
        if !(1..=500).contains(&self.batch_size) {
            return Err(config_err("`batch_size` must be between 1 and 500"));
        }
        self.client.validate(crate::VENDOR)?;
        Ok(Validated {
            endpoint,
            credentials,
        })
    }

    fn credentials(&self, region: Option<&str>) -> Result<Credentials> {
        let token = self.token.is_some();
        let aksk = self.access_key.is_some() || self.secret_key.is_some();
        let password = self.username.is_some() || self.password.is_some() || self.domain.is_some();
        let mut given = Vec::new();
        if token {
            given.push("`token`");
        }
        if aksk {
            given.push("`access_key`/`secret_key`");
        }
        if password {
            given.push("`username`/`password`/`domain`");
        }
        if given.len() > 1 {
            return Err(config_err(format!(
                "conflicting credentials: {} are given; use exactly one way to authenticate",
                given.join(" and ")
            )));
        }
        if self.security_token.is_some() && !aksk {
            return Err(config_err(
                "`security_token` needs `access_key` and `secret_key`",
            ));
        }
        if let Some(t) = &self.token {
            return Ok(Credentials::Token(t.clone()));
        }
        if aksk {
            let ak = self
                .access_key
                .as_deref()
                .filter(|a| !a.trim().is_empty())
                .ok_or_else(|| config_err("`access_key` is required with `secret_key`"))?;
            let sk = self
                .secret_key
                .clone()
                .ok_or_else(|| config_err("`secret_key` is required with `access_key`"))?;
            return Ok(Credentials::AkSk {
                access_key: ak.to_owned(),
                secret_key: sk,
                security_token: self.security_token.clone(),
            });
        }
        if password {
            let missing: Vec<&str> = [
                ("`username`", self.username.is_none()),
                ("`password`", self.password.is_none()),
                ("`domain`", self.domain.is_none()),
            ]
            .into_iter()
            .filter_map(|(k, m)| m.then_some(k))
            .collect();
            if !missing.is_empty() {
                return Err(config_err(format!(
                    "password login needs {} as well",
                    missing.join(" and ")
                )));
            }
            let iam = match (&self.iam_endpoint, region) {
                (Some(e), _) => parse_endpoint("iam_endpoint", e)?,
                (None, Some(r)) => {
                    parse_endpoint("region", &format!("https://iam.{r}.myhuaweicloud.com"))?
                }
                (None, None) => {
                    return Err(config_err(
                        "`iam_endpoint` or `region` is required for password login",
                    ))
                }
            };
            return Ok(Credentials::Password {
                username: self.username.clone().unwrap_or_default(),
                password: self.password.clone().expect("checked above"),
                domain: self.domain.clone().unwrap_or_default(),
                iam_endpoint: iam,
            });
        }
        Err(config_err(
            "credentials are required: `token`, or `access_key` + `secret_key`, \
             or `username` + `password` + `domain`",
        ))
    }
}

pub(crate) struct Validated {
    pub endpoint: Url,
    pub credentials: Credentials,
}

pub(crate) enum Credentials {
    Token(SecretString),
    AkSk {
        access_key: String,
        secret_key: SecretString,
        security_token: Option<SecretString>,
    },
    Password {
        username: String,
        password: SecretString,
        domain: String,
        iam_endpoint: Url,
    },
}

pub(crate) fn config_err(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::Config, msg).with_vendor(crate::VENDOR)
}

fn check_region(r: &str) -> Result<()> {
    if r.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        Ok(())
    } else {
        Err(config_err(format!("`region` `{r}` is not a region name")))
    }
}

fn parse_endpoint(key: &str, s: &str) -> Result<Url> {
    let url =
        Url::parse(s.trim()).map_err(|e| config_err(format!("`{key}` is not a valid URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(config_err(format!(
            "`{key}` must be an http(s) URL with a host"
        )));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(config_err(format!(
            "`{key}` must not have a query or fragment"
        )));
    }
    Ok(url)
}
