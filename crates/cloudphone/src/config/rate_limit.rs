//! Where the providers' rate budgets and lock-outs are kept: the `[rate_limit]` table, and a
//! provider's own `rate_limit_store` key.
//!
//! ```toml
//! [rate_limit]
//! store = "redis://127.0.0.1:6379/0"   # every provider (default: each in its own process)
//! prefix = "cloudphone"                # key prefix in Redis (default "cloudphone")
//!
//! [providers.gl]
//! type = "geelark"
//! rate_limit_store = "in-process"      # this one keeps its budget to itself
//! ```
//!
//! A provider's `rate_limit_store` wins over `[rate_limit] store`; `"in-process"` means this
//! process only. A store URL is checked when the document is read (a bad one is an error
//! naming it, never with its password); the connection opens when
//! [`Config::check_rate_limit_stores`](super::Config::check_rate_limit_stores) runs (the
//! `cloudphone` command does at start) or at the first call, which then fails closed if the
//! store cannot be reached. Redis needs the `redis` cargo feature.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use cloudphone_core::rate_store::SharedStore;
use cloudphone_core::registry::BuildContext;
use cloudphone_core::{CloudPhoneProvider, Error, ErrorKind};

use super::{Config, ConfigError, ProviderConfig};

/// The value of `rate_limit_store` that keeps a provider's budget in its own process.
pub const IN_PROCESS: &str = "in-process";

/// The provider-table key naming a provider's own store.
pub(super) const PROVIDER_KEY: &str = "rate_limit_store";

/// The `[rate_limit]` table of a configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RateLimitConfig {
    /// The store every provider without its own `rate_limit_store` uses: a `redis://` URL,
    /// or `"in-process"` (the default).
    pub store: Option<String>,
    /// The prefix of every key in the store (default `cloudphone`).
    pub prefix: Option<String>,
}

/// Parses the `[rate_limit]` table.
pub(super) fn parse(value: toml::Value) -> Result<RateLimitConfig, ConfigError> {
    let config: RateLimitConfig = super::syntax::section("rate_limit", value)?;
    if let Some(store) = &config.store {
        check_url(store)
            .map_err(|m| ConfigError::Syntax(format!("[rate_limit]: key `store`: {m}")))?;
    }
    if config.prefix.as_deref().is_some_and(str::is_empty) {
        return Err(ConfigError::Syntax(
            "[rate_limit]: key `prefix` must not be empty".into(),
        ));
    }
    Ok(config)
}

/// Takes `rate_limit_store` out of a provider table (the vendor never sees it).
pub(super) fn take_provider_store(
    provider: &str,
    table: &mut toml::Table,
) -> Result<Option<String>, ConfigError> {
    match table.remove(PROVIDER_KEY) {
        None => Ok(None),
        Some(toml::Value::String(url)) => {
            check_url(&url).map_err(|m| ConfigError::Invalid {
                provider: provider.into(),
                message: format!("key `{PROVIDER_KEY}`: {m}"),
            })?;
            Ok(Some(url))
        }
        Some(other) => Err(ConfigError::Invalid {
            provider: provider.into(),
            message: format!(
                "key `{PROVIDER_KEY}` must be a string, not {}",
                other.type_str()
            ),
        }),
    }
}

/// Checks that a store can be opened from `url` (no connection is made).
fn check_url(url: &str) -> Result<(), String> {
    if url == IN_PROCESS {
        return Ok(());
    }
    open(url, None).map(|_| ())
}

/// A store opened from configuration: the handle providers get, and what checks it.
#[derive(Clone)]
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
struct Opened {
    shared: SharedStore,
    #[cfg(feature = "redis")]
    redis: Arc<cloudphone_redis::RedisStore>,
}

#[cfg(feature = "redis")]
fn open(url: &str, prefix: Option<&str>) -> Result<Opened, String> {
    if !(url.starts_with("redis://")
        || url.starts_with("redis+unix://")
        || url.starts_with("unix://")
        || url.starts_with("rediss://"))
    {
        return Err(format!(
            "`{}` is not a store URL (`redis://host:port/db`, or \"{IN_PROCESS}\")",
            cloudphone_redis::redact_url(url)
        ));
    }
    let mut store = cloudphone_redis::RedisStore::open(url).map_err(|e| e.message().to_owned())?;
    if let Some(p) = prefix {
        store = store.with_prefix(p);
    }
    let redis = Arc::new(store);
    let dyn_store: Arc<dyn cloudphone_core::rate_store::RateLimitStore> = redis.clone();
    Ok(Opened {
        shared: SharedStore::from(dyn_store),
        redis,
    })
}

#[cfg(not(feature = "redis"))]
fn open(_url: &str, _prefix: Option<&str>) -> Result<Opened, String> {
    Err(
        "a shared rate-limit store needs the `redis` cargo feature of the `cloudphone` crate"
            .into(),
    )
}

/// The stores of one configuration, opened once per URL: every provider naming a URL shares
/// one connection to it.
#[derive(Default)]
pub(super) struct Stores {
    opened: Mutex<BTreeMap<String, Opened>>,
}

impl Stores {
    /// The store at `url`, opened at the first ask (`None` for [`IN_PROCESS`]).
    fn opened(&self, url: &str, prefix: Option<&str>) -> Result<Option<Opened>, String> {
        if url == IN_PROCESS {
            return Ok(None);
        }
        let mut opened = self.opened.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(o) = opened.get(url) {
            return Ok(Some(o.clone()));
        }
        let o = open(url, prefix)?;
        opened.insert(url.to_owned(), o.clone());
        Ok(Some(o))
    }

    /// The store at `url` (`None` for [`IN_PROCESS`]).
    pub(super) fn get(
        &self,
        url: &str,
        prefix: Option<&str>,
    ) -> Result<Option<SharedStore>, String> {
        Ok(self.opened(url, prefix)?.map(|o| o.shared))
    }

    /// Connects to every store in `urls` and checks that it answers.
    pub(super) async fn check(
        &self,
        urls: impl IntoIterator<Item = String>,
        prefix: Option<&str>,
    ) -> cloudphone_core::Result<()> {
        for url in urls {
            let opened = self.opened(&url, prefix).map_err(config_error)?;
            #[cfg(feature = "redis")]
            if let Some(o) = opened {
                o.redis.ping().await?;
            }
            #[cfg(not(feature = "redis"))]
            let _ = opened;
        }
        Ok(())
    }
}

impl std::fmt::Debug for Stores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let opened = self.opened.lock().unwrap_or_else(|p| p.into_inner());
        f.debug_list()
            .entries(opened.values().map(|o| o.shared.store().describe()))
            .finish()
    }
}

/// Shared by the clones of one configuration.
pub(super) type SharedStores = Arc<Stores>;

fn config_error(message: String) -> Error {
    Error::new(ErrorKind::Config, message)
}

impl ProviderConfig {
    /// The provider's own `rate_limit_store`, if its table has one.
    pub fn rate_limit_store(&self) -> Option<&str> {
        self.rate_limit_store.as_deref()
    }

    /// Builds with `store` keeping the budgets (`None`: in this process).
    fn build_in(
        &self,
        store: Option<SharedStore>,
    ) -> cloudphone_core::Result<Arc<dyn CloudPhoneProvider>> {
        match store {
            None => self.config.build(),
            Some(store) => self
                .config
                .build_with(&BuildContext::new().with_rate_limit_store(Some(store))),
        }
    }

    /// Builds with the provider's own store, opened for it alone.
    pub(super) fn build_own(&self) -> cloudphone_core::Result<Arc<dyn CloudPhoneProvider>> {
        let store = match &self.rate_limit_store {
            None => None,
            Some(url) => Stores::default().get(url, None).map_err(config_error)?,
        };
        self.build_in(store)
    }
}

impl Config {
    /// The `[rate_limit]` table, if the document has one.
    pub fn rate_limit(&self) -> Option<&RateLimitConfig> {
        self.rate_limit.as_ref()
    }

    /// The store URL `provider` uses: its own `rate_limit_store`, else `[rate_limit] store`.
    fn store_url<'a>(&'a self, provider: &'a ProviderConfig) -> Option<&'a str> {
        provider
            .rate_limit_store
            .as_deref()
            .or(self.rate_limit.as_ref().and_then(|r| r.store.as_deref()))
    }

    fn prefix(&self) -> Option<&str> {
        self.rate_limit.as_ref().and_then(|r| r.prefix.as_deref())
    }

    /// Builds `provider` with the store it is configured with, shared with every other
    /// provider of this configuration naming the same URL.
    pub(super) fn build_with_store(
        &self,
        provider: &ProviderConfig,
    ) -> cloudphone_core::Result<Arc<dyn CloudPhoneProvider>> {
        let store = match self.store_url(provider) {
            None => None,
            Some(url) => self.stores.get(url, self.prefix()).map_err(config_error)?,
        };
        provider.build_in(store)
    }

    /// Connects to every rate-limit store the providers use and checks that it answers, so
    /// that an unreachable one is an error now (naming it, without its password) rather than
    /// the failure of every phone of the first call. The `cloudphone` command runs it at start.
    pub async fn check_rate_limit_stores(&self) -> cloudphone_core::Result<()> {
        let urls: std::collections::BTreeSet<String> = self
            .providers
            .values()
            .filter_map(|p| self.store_url(p).map(str::to_owned))
            .collect();
        self.stores.check(urls, self.prefix()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_and_the_provider_key_are_checked() {
        let t = |doc: &str| parse(toml::Value::Table(doc.parse().unwrap()));
        assert_eq!(t("").unwrap(), RateLimitConfig::default());
        assert_eq!(
            t("store = \"in-process\"").unwrap().store.as_deref(),
            Some(IN_PROCESS)
        );
        let e = t("stor = \"x\"").unwrap_err().to_string();
        assert!(e.contains("stor"), "{e}");
        let e = t("prefix = \"\"").unwrap_err().to_string();
        assert!(e.contains("prefix"), "{e}");
        let e = t("store = \"http://u:pw@h\"").unwrap_err().to_string();
        assert!(e.contains("store") && !e.contains("pw@"), "{e}");

        let mut table: toml::Table = "rate_limit_store = 3\nx = 1".parse().unwrap();
        let e = take_provider_store("p", &mut table)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("provider `p`") && e.contains(PROVIDER_KEY),
            "{e}"
        );
        let mut table: toml::Table = "rate_limit_store = \"in-process\"".parse().unwrap();
        assert_eq!(
            take_provider_store("p", &mut table).unwrap().as_deref(),
            Some(IN_PROCESS)
        );
        assert!(table.is_empty(), "the vendor never sees the key");
    }

    #[cfg(feature = "redis")]
    #[test]
    fn one_store_per_url() {
        let stores = Stores::default();
        let a = stores.get("redis://127.0.0.1:1/0", None).unwrap().unwrap();
        let b = stores.get("redis://127.0.0.1:1/0", None).unwrap().unwrap();
        let c = stores.get("redis://127.0.0.1:1/1", None).unwrap().unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(stores.get(IN_PROCESS, None).unwrap().is_none());
    }

    #[cfg(all(feature = "redis", feature = "fake"))]
    #[test]
    fn a_vendor_that_cannot_share_its_budget_is_refused_not_ignored() {
        let doc = |own: &str| {
            format!(
                "[rate_limit]\nstore = \"redis://127.0.0.1:1/0\"\n\n[providers.f]\ntype = \"fake\"\n{own}"
            )
        };
        let c = Config::from_toml_str(&doc("")).unwrap();
        let e = c.build("f").unwrap_err().to_string();
        assert!(
            e.contains("provider `f`") && e.contains("rate-limit store"),
            "{e}"
        );
        let c = Config::from_toml_str(&doc("rate_limit_store = \"in-process\"\n")).unwrap();
        assert!(c.build("f").is_ok());
    }

    #[cfg(all(feature = "redis", feature = "geelark"))]
    #[test]
    fn providers_take_the_global_store_or_their_own() {
        let c = Config::from_toml_str(
            "[rate_limit]\nstore = \"redis://127.0.0.1:1/0\"\nprefix = \"env-a\"\n\n\
             [providers.a]\ntype = \"geelark\"\ntoken = \"t\"\n\n\
             [providers.b]\ntype = \"geelark\"\ntoken = \"t\"\nrate_limit_store = \"redis://127.0.0.1:2/0\"\n",
        )
        .unwrap();
        assert_eq!(c.rate_limit().unwrap().prefix.as_deref(), Some("env-a"));
        let (a, b) = (&c.providers()["a"], &c.providers()["b"]);
        assert_eq!(c.store_url(a), Some("redis://127.0.0.1:1/0"));
        assert_eq!(c.store_url(b), Some("redis://127.0.0.1:2/0"));
        assert_eq!(b.rate_limit_store(), Some("redis://127.0.0.1:2/0"));
        // Building connects to nothing yet.
        c.build("a").unwrap();
        c.build("b").unwrap();
    }

    #[cfg(not(feature = "redis"))]
    #[test]
    fn without_the_feature_a_store_names_it() {
        let e = parse(toml::Value::Table(
            "store = \"redis://127.0.0.1/0\"".parse().unwrap(),
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("`redis` cargo feature"), "{e}");
    }
}
