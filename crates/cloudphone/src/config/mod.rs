//! Configuration in, providers out: a TOML document of named providers.
//!
//! ```toml
//! [providers.gl]
//! type = "geelark"
//! app_id = "…"
//! api_key = "${GEELARK_API_KEY}"
//!
//! [providers.hw]
//! type = "huawei-cph"
//! region = "cn-east-3"
//! project_id = "…"
//! token = "${HW_TOKEN}"
//! ```
//!
//! `${VAR}` reads the environment (`$$` is a literal `$`). Every mistake — a missing variable,
//! an unknown key or `type`, a missing required key — is a [`ConfigError`] naming the provider
//! and the key.
//!
//! Variables are expanded after the document is parsed, value by value, and each expansion is
//! remembered: an error about a value that came from a variable shows the value as written
//! (`"${TOKEN}"`), never what the variable held.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

#[cfg(feature = "fake")]
use cloudphone_core::registry::TypedVendor;
use cloudphone_core::registry::{Registry, VendorConfig};
use cloudphone_core::CloudPhoneProvider;

mod expand;
mod file;
mod journal;
mod rate_limit;
mod syntax;
#[cfg(test)]
mod tests;
mod url;

use expand::{interpolate, Redactor};
use file::{read_config_file, warn_if_exposed};
use syntax::{describe_serde_error, describe_syntax_error};
use url::warn_if_plain_http;

pub use journal::JournalConfig;
pub use rate_limit::{RateLimitConfig, IN_PROCESS};

/// The vendors this build knows: one registration line per backend, behind its cargo feature
/// (a type left out names the feature that adds it); each takes the rate-limit store of
/// `[rate_limit]` into its client options. Add your own with
/// [`Registry::register`] and load with [`Config::from_toml_str_with`] /
/// [`Config::from_path_with`].
pub fn builtin_registry() -> Registry {
    let mut r = Registry::new();
    #[cfg(feature = "geelark")]
    r.register(Arc::new(cloudphone_geelark::vendor().with_client_options()));
    #[cfg(not(feature = "geelark"))]
    r.unavailable("geelark", "geelark");
    #[cfg(feature = "huawei-cph")]
    r.register(Arc::new(
        cloudphone_huawei_cph::vendor().with_client_options(),
    ));
    #[cfg(not(feature = "huawei-cph"))]
    r.unavailable("huawei-cph", "huawei-cph");
    #[cfg(feature = "alibaba")]
    r.register(Arc::new(cloudphone_alibaba::vendor().with_client_options()));
    #[cfg(not(feature = "alibaba"))]
    r.unavailable("alibaba", "alibaba");
    #[cfg(feature = "fake")]
    r.register(Arc::new(fake_vendor()));
    #[cfg(not(feature = "fake"))]
    r.unavailable("fake", "fake");
    r
}

/// The largest configuration file [`Config::from_path`] reads, in bytes (4 MiB). Real files are a
/// few kilobytes; anything near this is a mistake (or a device) and is refused, not read.
pub const MAX_CONFIG_BYTES: u64 = 4 * 1024 * 1024;

/// A configuration mistake, naming the provider and key at fault. Never carries a secret value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read configuration file `{path}`: {message}")]
    Read {
        /// The path.
        path: String,
        /// Why.
        message: String,
    },
    /// The document is not valid TOML or not of the expected shape.
    #[error("invalid configuration: {0}")]
    Syntax(String),
    /// A provider table has no `type`.
    #[error("provider `{provider}`: missing key `type` (one of: {known})")]
    MissingType {
        /// The provider's name.
        provider: String,
        /// The known types.
        known: String,
    },
    /// A provider's `type` is not known to this build.
    #[error("provider `{provider}`: unknown type `{kind}` in key `type` (one of: {known})")]
    UnknownType {
        /// The provider's name.
        provider: String,
        /// The type given.
        kind: String,
        /// The known types.
        known: String,
    },
    /// A `${VAR}` names an environment variable that is not set.
    #[error("provider `{provider}`: key `{key}`: environment variable `{var}` is not set")]
    MissingEnv {
        /// The provider's name.
        provider: String,
        /// The key whose value referenced the variable.
        key: String,
        /// The variable.
        var: String,
    },
    /// A key is unknown, missing, or has a bad value.
    #[error("provider `{provider}`: {message}")]
    Invalid {
        /// The provider's name.
        provider: String,
        /// What is wrong, naming the key.
        message: String,
    },
    /// A name that is not a configured provider.
    #[error("unknown provider `{name}` (configured: {known})")]
    UnknownProvider {
        /// The name asked for.
        name: String,
        /// The configured names.
        known: String,
    },
}

impl From<ConfigError> for cloudphone_core::Error {
    /// A configuration mistake as the library's error (kind `config`), so that one `?` goes
    /// from configuration to result.
    fn from(e: ConfigError) -> Self {
        cloudphone_core::Error::new(cloudphone_core::ErrorKind::Config, e.to_string())
    }
}

/// The typed configuration of one provider: its `type` and what that vendor parsed.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    kind: &'static str,
    config: Arc<dyn VendorConfig>,
    /// The provider's own `rate_limit_store`, if its table has one.
    rate_limit_store: Option<String>,
}

/// Configuration of the in-memory fake provider (`type = "fake"`).
#[cfg(feature = "fake")]
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct FakeConfig {
    /// Phones seeded as `fake-0` … (default 10).
    #[serde(default = "FakeConfig::default_phones")]
    pub phones: usize,
    /// Phones per simulated call (default 100).
    #[serde(default = "FakeConfig::default_batch_size")]
    pub batch_size: usize,
    /// Status reads a state change takes to settle (default 1).
    #[serde(default = "FakeConfig::default_settle_polls")]
    pub settle_polls: u32,
}

#[cfg(feature = "fake")]
impl FakeConfig {
    fn default_phones() -> usize {
        10
    }
    fn default_batch_size() -> usize {
        100
    }
    fn default_settle_polls() -> u32 {
        1
    }
}

/// The in-memory provider for the registry (`type = "fake"`).
#[cfg(feature = "fake")]
fn fake_vendor() -> TypedVendor<FakeConfig> {
    TypedVendor::new("fake", &[], |c: &FakeConfig| {
        Ok(Arc::new(
            cloudphone_core::FakeProvider::builder()
                .phones(c.phones)
                .batch_size(c.batch_size)
                .settle_polls(c.settle_polls)
                .build(),
        ))
    })
}

impl ProviderConfig {
    /// A configuration of `kind` parsed by its vendor.
    pub fn new(kind: &'static str, config: Arc<dyn VendorConfig>) -> Self {
        ProviderConfig {
            kind,
            config,
            rate_limit_store: None,
        }
    }

    /// The `type` name of this configuration.
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// The vendor's typed configuration, e.g. `get::<cloudphone_geelark::GeelarkConfig>()`.
    pub fn get<C: 'static>(&self) -> Option<&C> {
        self.config.as_any().downcast_ref()
    }

    /// Parses one provider table (with `type`) with the built-in vendors, reading `${VAR}`s
    /// through `env`.
    pub fn from_table(
        provider: &str,
        table: &toml::Table,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        Self::from_table_tracked(&builtin_registry(), provider, table, env).map(|(c, _)| c)
    }

    /// [`from_table`](Self::from_table) with `registry`'s vendors, also returning what
    /// `${VAR}` expansion put into the values, so that later errors about this provider can
    /// take it back out.
    fn from_table_tracked(
        registry: &Registry,
        provider: &str,
        table: &toml::Table,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(Self, Redactor), ConfigError> {
        let known = registry.type_list();
        let mut table = table.clone();
        let kind = match table.remove("type") {
            None => {
                return Err(ConfigError::MissingType {
                    provider: provider.into(),
                    known,
                })
            }
            Some(toml::Value::String(s)) => s,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    provider: provider.into(),
                    message: format!("key `type` must be a string, not {}", other.type_str()),
                })
            }
        };
        let Some(vendor) = registry.get(&kind) else {
            return Err(match registry.feature_for(&kind) {
                Some(feature) => ConfigError::Invalid {
                    provider: provider.into(),
                    message: format!(
                        "type `{kind}` needs the `{feature}` cargo feature of the `cloudphone` crate"
                    ),
                },
                None => ConfigError::UnknownType {
                    provider: provider.into(),
                    kind,
                    known,
                },
            });
        };
        let mut redactor = Redactor::default();
        for (key, value) in table.iter_mut() {
            interpolate(provider, key, value, env, &mut redactor)?;
        }
        let own_store = rate_limit::take_provider_store(provider, &mut table)?;
        let config = vendor.parse(table).map_err(|e| ConfigError::Invalid {
            provider: provider.into(),
            // A type error quotes the value it got: the value as written, not as expanded.
            message: redactor.apply(&describe_serde_error(&e)),
        })?;
        let mut config = ProviderConfig::new(vendor.type_name(), config);
        config.rate_limit_store = own_store;
        warn_if_plain_http(provider, &config);
        Ok((config, redactor))
    }

    /// Builds the provider this configuration describes (with its own `rate_limit_store`, if
    /// it has one).
    pub fn build(&self) -> cloudphone_core::Result<Arc<dyn CloudPhoneProvider>> {
        self.build_own()
    }
}

/// A parsed configuration document: named providers, in name order.
#[derive(Clone, Default)]
pub struct Config {
    providers: BTreeMap<String, ProviderConfig>,
    /// Per provider, what `${VAR}` expansion put into its values (for [`Config::build`]'s
    /// errors).
    redactors: BTreeMap<String, Redactor>,
    /// The `[journal]` table, if there is one.
    journal: Option<JournalConfig>,
    /// The `[rate_limit]` table, if there is one.
    rate_limit: Option<RateLimitConfig>,
    /// The rate-limit stores opened for these providers, one per URL.
    stores: rate_limit::SharedStores,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Each typed config hides its own secrets.
        f.debug_map().entries(self.providers.iter()).finish()
    }
}

impl Config {
    /// An empty configuration.
    pub fn new() -> Self {
        Config::default()
    }

    /// Parses a TOML document, reading `${VAR}`s from the process environment.
    pub fn from_toml_str(doc: &str) -> Result<Self, ConfigError> {
        Self::from_toml_str_with_env(doc, &|v| std::env::var(v).ok())
    }

    /// Parses a TOML document, reading `${VAR}`s through `env` (for tests and embedding).
    pub fn from_toml_str_with_env(
        doc: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        Self::parse(&builtin_registry(), doc, env, None)
    }

    /// Parses a TOML document with `registry`'s vendors (e.g. [`builtin_registry`] plus your
    /// own), reading `${VAR}`s through `env`.
    pub fn from_toml_str_with(
        registry: &Registry,
        doc: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        Self::parse(registry, doc, env, None)
    }

    /// Parses `doc`; `path` (when it came from a file) prefixes syntax errors.
    fn parse(
        registry: &Registry,
        doc: &str,
        env: &dyn Fn(&str) -> Option<String>,
        path: Option<&Path>,
    ) -> Result<Self, ConfigError> {
        let syntax = |message: String| match path {
            Some(p) => ConfigError::Syntax(format!("`{}`: {message}", p.display())),
            None => ConfigError::Syntax(message),
        };
        let mut root: toml::Table = doc
            .parse()
            .map_err(|e: toml::de::Error| syntax(describe_syntax_error(doc, &e)))?;
        let providers = match root.remove("providers") {
            None => toml::Table::new(),
            Some(toml::Value::Table(t)) => t,
            Some(_) => {
                return Err(syntax(
                    "`providers` must be a table of named providers ([providers.NAME])".into(),
                ))
            }
        };
        let journal = root.remove("journal").map(journal::parse).transpose()?;
        let rate_limit = root
            .remove("rate_limit")
            .map(rate_limit::parse)
            .transpose()?;
        if let Some(key) = root.keys().next() {
            return Err(syntax(format!(
                "unknown top-level key `{key}` (expected [providers.NAME] tables, [journal] and [rate_limit])"
            )));
        }
        let mut config = Config::new();
        config.journal = journal;
        config.rate_limit = rate_limit;
        for (name, value) in providers {
            check_name(&name).map_err(|e| match e {
                ConfigError::Syntax(m) => syntax(m),
                other => other,
            })?;
            let toml::Value::Table(table) = value else {
                return Err(syntax(format!("`providers.{name}` must be a table")));
            };
            let (parsed, redactor) =
                ProviderConfig::from_table_tracked(registry, &name, &table, env)?;
            config.providers.insert(name.clone(), parsed);
            config.redactors.insert(name, redactor);
        }
        Ok(config)
    }

    /// Reads and parses a file. Warns (through `tracing`) when the file holds secrets in clear
    /// and other users may read it.
    ///
    /// Only a regular file of at most [`MAX_CONFIG_BYTES`] is read. Anything else — a FIFO, a
    /// device, a directory, `/dev/stdin` — is refused rather than read, so that a mistaken
    /// path cannot block the command forever (opening a FIFO waits for a writer) or make it
    /// read without end. The file type is checked before opening and again on the opened
    /// handle; a file swapped for a FIFO between the two checks could still block the open,
    /// but whoever can swap it can already change the configuration.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        Self::from_path_with(&builtin_registry(), path)
    }

    /// [`from_path`](Self::from_path) with `registry`'s vendors.
    pub fn from_path_with(
        registry: &Registry,
        path: impl AsRef<Path>,
    ) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let doc = read_config_file(path)?;
        let config = Self::parse(registry, &doc, &|v| std::env::var(v).ok(), Some(path))?;
        warn_if_exposed(path, &doc, registry);
        Ok(config)
    }

    /// Adds (or replaces) a provider.
    pub fn insert(&mut self, name: impl Into<String>, provider: ProviderConfig) {
        let name = name.into();
        self.redactors.remove(&name);
        self.providers.insert(name, provider);
    }

    /// The `[journal]` table, if the document has one.
    pub fn journal(&self) -> Option<&JournalConfig> {
        self.journal.as_ref()
    }

    /// The configured providers, by name.
    pub fn providers(&self) -> &BTreeMap<String, ProviderConfig> {
        &self.providers
    }

    /// Builds one named provider.
    pub fn build(&self, name: &str) -> Result<Arc<dyn CloudPhoneProvider>, ConfigError> {
        let cfg = self
            .providers
            .get(name)
            .ok_or_else(|| ConfigError::UnknownProvider {
                name: name.into(),
                known: self.names(),
            })?;
        self.build_with_store(cfg)
            .map_err(|e| ConfigError::Invalid {
                provider: name.into(),
                message: match self.redactors.get(name) {
                    Some(r) => r.apply(e.message()),
                    None => e.message().to_owned(),
                },
            })
    }

    fn names(&self) -> String {
        let names: Vec<_> = self.providers.keys().map(String::as_str).collect();
        if names.is_empty() {
            "none".into()
        } else {
            names.join(", ")
        }
    }
}

/// Provider names appear in phone references (`NAME/ID`), so they must not contain `/`.
fn check_name(name: &str) -> Result<(), ConfigError> {
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
    if ok {
        Ok(())
    } else {
        Err(ConfigError::Syntax(format!(
            "provider name `{name}` must be letters, digits, `-`, `_` or `.`"
        )))
    }
}
