//! Configuration of an [`crate::AlibabaProvider`].

use std::fmt;

use cloudphone_core::{ClientOptions, Error, ErrorKind, Result};
use reqwest::Url;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// The sites (account kinds) eds-aic serves, and their central endpoints. The endpoint is per
/// site, **not** per phone region: China-site accounts use `cn-shanghai` whatever region their
/// phones are in, international accounts `ap-southeast-1`.
pub const SITES: &[(&str, &str)] = &[
    ("cn-shanghai", "https://eds-aic.cn-shanghai.aliyuncs.com"),
    (
        "ap-southeast-1",
        "https://eds-aic.ap-southeast-1.aliyuncs.com",
    ),
];

/// The site used when none is configured.
pub const DEFAULT_SITE: &str = "cn-shanghai";

/// Settings of the Alibaba Cloud Cloud Phone (eds-aic) backend.
///
/// Deserializable from a TOML/JSON table with exactly these keys (unknown keys are errors):
///
/// ```
/// use cloudphone_alibaba::AlibabaConfig;
///
/// let config: AlibabaConfig = toml::from_str(r#"
///     site = "ap-southeast-1"
///     access_key = "LTAI-example"
///     secret_key = "s3cret"
///     region = "ap-southeast-1"
/// "#).unwrap();
/// assert_eq!(config.batch_size, 100);
/// assert_eq!(config.rate_limit_per_second, 10);
/// assert_eq!(config.concurrency, 4); // a shared key, at this backend's default
/// assert!(!format!("{config:?}").contains("s3cret"));
/// ```
// Unknown keys are refused by `client_options` (from `client_options_field!`).
#[derive(Clone, Deserialize)]
#[non_exhaustive]
pub struct AlibabaConfig {
    /// `cn-shanghai` (China site, default) or `ap-southeast-1` (international site); picks the
    /// endpoint and whether re-imaging is offered.
    #[serde(default = "defaults::site")]
    pub site: String,
    /// Overrides the site's endpoint (tests, the simulator, a proxy). `http(s)`, no query.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// AccessKey id (a RAM user's, or the `STS.…` id of temporary credentials).
    #[serde(default)]
    pub access_key: Option<String>,
    /// AccessKey secret.
    #[serde(default)]
    pub secret_key: Option<SecretString>,
    /// Security token of STS temporary credentials (sent as `x-acs-security-token`).
    #[serde(default)]
    pub security_token: Option<SecretString>,
    /// `BizRegionId` filter for listing (e.g. `cn-hangzhou`): only the phones of that region
    /// are listed. Status reads by id are not filtered.
    #[serde(default)]
    pub region: Option<String>,
    /// Phones per call, 1–100 (default 100): no maximum is documented for the power and reset
    /// calls; sibling eds-aic calls take 1 to 100 ids, so 100 is the cap.
    #[serde(default = "defaults::batch_size")]
    pub batch_size: usize,
    /// Client-side calls per second, per API action (default 10; 0 = off). Alibaba publishes
    /// no eds-aic quota (it throttles per account and API, `Throttling.User`); 10/s is a
    /// conservative guess, raise it to your account's quota.
    #[serde(default = "defaults::rate_limit_per_second")]
    pub rate_limit_per_second: u32,
    /// Stop and restart with `ForceStop=true`: a hard power-off that may lose unsaved data
    /// (default false). [`crate::AlibabaProvider::force_stop`] does it for one call.
    #[serde(default)]
    pub force_stop: bool,
    /// When the phones' states are read against the documented preconditions of a state
    /// change: [`CheckStates::OnRefusal`] (default), [`CheckStates::First`] or
    /// [`CheckStates::Never`]; `true` and `false` stand for `first` and `never`.
    #[serde(default)]
    pub check_states: CheckStates,
    /// Whether a reset with an image is sent as `UpdateInstanceImage(Reset=true)`: a
    /// cloud-phone-matrix feature of the China site. Default: true on `cn-shanghai`, false on
    /// `ap-southeast-1` (where such a reset is refused as unsupported without a call).
    #[serde(default)]
    pub reimage: Option<bool>,
    /// Timeouts, retries, `concurrency` and `max_body_bytes`: the keys every vendor shares
    /// ([`ClientOptions`], read from this same table). This backend's defaults: concurrency 4,
    /// four retries 1–30 s apart, 30 s timeout (10 s to connect), 8 MiB bodies.
    #[serde(flatten, deserialize_with = "client_options")]
    pub client: ClientOptions,
}

/// This backend's own keys, for the unknown-key error (the shared ones are added to it).
const KEYS: &[&str] = &[
    "site",
    "endpoint",
    "access_key",
    "secret_key",
    "security_token",
    "region",
    "batch_size",
    "rate_limit_per_second",
    "force_stop",
    "check_states",
    "reimage",
];

/// The shared settings at this backend's defaults.
pub(crate) const CLIENT_DEFAULTS: ClientOptions = ClientOptions::new()
    .with_concurrency(4)
    .with_retries(4, 1_000, 30_000);

mod defaults {
    pub fn site() -> String {
        super::DEFAULT_SITE.to_owned()
    }
    pub fn batch_size() -> usize {
        100
    }
    pub fn rate_limit_per_second() -> u32 {
        10
    }
}

cloudphone_core::client_options_field!(AlibabaConfig, defaults = CLIENT_DEFAULTS, keys = KEYS);

impl Default for AlibabaConfig {
    fn default() -> Self {
        AlibabaConfig {
            site: defaults::site(),
            endpoint: None,
            access_key: None,
            secret_key: None,
            security_token: None,
            region: None,
            batch_size: defaults::batch_size(),
            rate_limit_per_second: defaults::rate_limit_per_second(),
            force_stop: false,
            check_states: CheckStates::default(),
            reimage: None,
            client: CLIENT_DEFAULTS,
        }
    }
}

impl fmt::Debug for AlibabaConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redact = |s: &Option<SecretString>| s.as_ref().map(|_| "<redacted>");
        f.debug_struct("AlibabaConfig")
            .field("site", &self.site)
            .field("endpoint", &self.endpoint)
            .field("access_key", &self.access_key)
            .field("secret_key", &redact(&self.secret_key))
            .field("security_token", &redact(&self.security_token))
            .field("region", &self.region)
            .field("batch_size", &self.batch_size)
            .field("rate_limit_per_second", &self.rate_limit_per_second)
            .field("force_stop", &self.force_stop)
            .field("check_states", &self.check_states)
            .field("reimage", &self.reimage)
            .field("client", &self.client)
            .finish()
    }
}

impl AlibabaConfig {
    /// A configuration for `site` with an AccessKey pair; everything else at its default.
    pub fn new(
        site: impl Into<String>,
        access_key: impl Into<String>,
        secret_key: impl Into<SecretString>,
    ) -> Self {
        AlibabaConfig {
            site: site.into(),
            access_key: Some(access_key.into()),
            secret_key: Some(secret_key.into()),
            ..AlibabaConfig::default()
        }
    }

    /// Overrides the endpoint (tests, simulators, proxies).
    pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }

    /// Adds the security token of STS temporary credentials.
    pub fn with_security_token(mut self, token: impl Into<SecretString>) -> Self {
        self.security_token = Some(token.into());
        self
    }

    /// Lists only the phones of this `BizRegionId`.
    pub fn with_region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// Sets the phones per call.
    pub fn with_batch_size(mut self, n: usize) -> Self {
        self.batch_size = n;
        self
    }

    /// Sets the client-side calls per second per action (0 = off).
    pub fn with_rate_limit_per_second(mut self, n: u32) -> Self {
        self.rate_limit_per_second = n;
        self
    }

    /// Stops and restarts with `ForceStop=true`.
    pub fn with_force_stop(mut self, force: bool) -> Self {
        self.force_stop = force;
        self
    }

    /// Sets when states are read against the preconditions (`true` = [`CheckStates::First`],
    /// `false` = [`CheckStates::Never`]).
    pub fn with_check_states(mut self, check: impl Into<CheckStates>) -> Self {
        self.check_states = check.into();
        self
    }

    /// Offers (or refuses) a reset with an image.
    pub fn with_reimage(mut self, reimage: bool) -> Self {
        self.reimage = Some(reimage);
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

    /// Sets the fan-out concurrency.
    pub fn with_concurrency(mut self, n: usize) -> Self {
        self.client = self.client.with_concurrency(n);
        self
    }

    /// Sets the request and connection timeouts in seconds.
    pub fn with_timeouts(mut self, timeout_secs: u64, connect_timeout_secs: u64) -> Self {
        self.client = self
            .client
            .with_timeouts(timeout_secs, connect_timeout_secs);
        self
    }

    /// Sets the largest answer body accepted, in bytes.
    pub fn with_max_body_bytes(mut self, n: usize) -> Self {
        self.client = self.client.with_max_body_bytes(n);
        self
    }

    /// The endpoint requests go to: `endpoint`, else the site's.
    pub fn endpoint_url(&self) -> Option<String> {
        self.endpoint.clone().or_else(|| {
            SITES
                .iter()
                .find(|(s, _)| *s == self.site.trim())
                .map(|(_, e)| (*e).to_owned())
        })
    }

    /// Whether a reset with an image is offered.
    pub fn reimage_enabled(&self) -> bool {
        self.reimage.unwrap_or(self.site.trim() == DEFAULT_SITE)
    }

    /// Checks every key; the error names the offending one.
    pub(crate) fn validate(&self) -> Result<Validated> {
        let site = self.site.trim();
        if !SITES.iter().any(|(s, _)| *s == site) {
            let known: Vec<&str> = SITES.iter().map(|(s, _)| *s).collect();
            return Err(config_err(format!(
                "`site` `{site}` is not an eds-aic site (one of: {}); for any other endpoint set `endpoint`",
                known.join(", ")
            )));
        }
        let endpoint = parse_endpoint(&self.endpoint_url().expect("a known site"))?;
        let printable = |s: &str| !s.is_empty() && s.bytes().all(|b| (0x21..0x7f).contains(&b));
        let access_key = self
            .access_key
            .as_deref()
            .map(str::trim)
            .ok_or_else(|| config_err("`access_key` is required"))?;
        if !printable(access_key) {
            return Err(config_err(
                "`access_key` must be non-empty printable ASCII without spaces",
            ));
        }
        let secret = self
            .secret_key
            .clone()
            .ok_or_else(|| config_err("`secret_key` is required"))?;
        if secret.expose_secret().is_empty() {
            return Err(config_err("`secret_key` must not be empty"));
        }
        if let Some(t) = &self.security_token {
            if !printable(t.expose_secret()) {
                return Err(config_err(
                    "`security_token` must be non-empty printable ASCII without spaces",
                ));
            }
        }
        if let Some(r) = &self.region {
            let r = r.trim();
            if r.is_empty() || !r.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                return Err(config_err(format!("`region` `{r}` is not a region id")));
            }
        }
        if !(1..=100).contains(&self.batch_size) {
            return Err(config_err("`batch_size` must be between 1 and 100"));
        }
        self.client.validate(crate::VENDOR)?;
        Ok(Validated {
            endpoint,
            access_key: access_key.to_owned(),
            secret,
        })
    }
}

/// When a state change reads the phones' states against the documented preconditions (a stop
/// only from `RUNNING`, a reset not while a phone is in transition, …).
///
/// Whether the vendor refuses a phone in a state the preconditions exclude by failing the
/// whole request or by failing that phone's instance task is unconfirmed; every mode handles
/// both (a request-level 4xx fails its chunk, a failed instance task its phone).
///
/// ```
/// use cloudphone_alibaba::{AlibabaConfig, CheckStates};
///
/// let c: AlibabaConfig = toml::from_str(r#"
///     access_key = "LTAI-example"
///     secret_key = "s3cret"
///     check_states = "first"
/// "#).unwrap();
/// assert_eq!(c.check_states, CheckStates::First);
/// assert_eq!(AlibabaConfig::default().check_states, CheckStates::OnRefusal);
/// assert_eq!(CheckStates::from(false), CheckStates::Never);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum CheckStates {
    /// Send every phone; read a chunk's states only when the vendor refuses the whole chunk for
    /// a state or an unknown id, then send once more the phones the states allow (the others
    /// are settled as [`CheckStates::First`] settles them). A phone the vendor fails on its own
    /// is judged from the state its instance task reports: a stop of a `STOPPED` phone is done.
    /// No read when nothing is refused: the fewest calls. `"on-refusal"`.
    #[default]
    OnRefusal,
    /// Read every phone's state first (one `DescribeAndroidInstances` per 100 phones) and send
    /// only the phones the preconditions allow: a stop of a `STOPPED` phone is done, a restart
    /// of a `STOPPED` one fails, without a call. `"first"` or `true`.
    First,
    /// Never read: every phone is sent and the vendor judges alone. `"never"` or `false`.
    Never,
}

impl CheckStates {
    /// The configuration spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckStates::OnRefusal => "on-refusal",
            CheckStates::First => "first",
            CheckStates::Never => "never",
        }
    }
}

impl From<bool> for CheckStates {
    fn from(check: bool) -> Self {
        if check {
            CheckStates::First
        } else {
            CheckStates::Never
        }
    }
}

impl<'de> Deserialize<'de> for CheckStates {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = CheckStates;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("\"on-refusal\", \"first\", \"never\", true or false")
            }
            fn visit_bool<E: serde::de::Error>(
                self,
                v: bool,
            ) -> std::result::Result<Self::Value, E> {
                Ok(v.into())
            }
            fn visit_str<E: serde::de::Error>(
                self,
                v: &str,
            ) -> std::result::Result<Self::Value, E> {
                [
                    CheckStates::OnRefusal,
                    CheckStates::First,
                    CheckStates::Never,
                ]
                .into_iter()
                .find(|c| c.as_str() == v.trim())
                .ok_or_else(|| E::invalid_value(serde::de::Unexpected::Str(v), &self))
            }
        }
        d.deserialize_any(V)
    }
}

pub(crate) struct Validated {
    pub endpoint: Url,
    pub access_key: String,
    pub secret: SecretString,
}

pub(crate) fn config_err(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::Config, msg).with_vendor(crate::VENDOR)
}

fn parse_endpoint(s: &str) -> Result<Url> {
    let url = Url::parse(s.trim())
        .map_err(|e| config_err(format!("`endpoint` is not a valid URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(config_err("`endpoint` must be an http(s) URL with a host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(config_err("`endpoint` must not have a query or fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(config_err("`endpoint` must not carry user information"));
    }
    Ok(url)
}
