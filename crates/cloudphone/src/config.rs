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

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use cloudphone_core::CloudPhoneProvider;

/// The vendor types this build knows, with the cargo feature each needs.
pub const PROVIDER_TYPES: &[(&str, &str)] = &[
    ("geelark", "geelark"),
    ("huawei-cph", "huawei-cph"),
    ("fake", "fake"),
];

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

/// The typed configuration of one provider.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ProviderConfig {
    /// `type = "geelark"`.
    #[cfg(feature = "geelark")]
    Geelark(cloudphone_geelark::GeelarkConfig),
    /// `type = "huawei-cph"`.
    #[cfg(feature = "huawei-cph")]
    HuaweiCph(cloudphone_huawei_cph::HuaweiCphConfig),
    /// `type = "fake"`: the in-memory provider.
    #[cfg(feature = "fake")]
    Fake(FakeConfig),
}

/// Configuration of the in-memory fake provider (`type = "fake"`).
#[cfg(feature = "fake")]
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
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

impl ProviderConfig {
    /// The `type` name of this configuration.
    pub fn kind(&self) -> &'static str {
        match *self {
            #[cfg(feature = "geelark")]
            ProviderConfig::Geelark(_) => "geelark",
            #[cfg(feature = "huawei-cph")]
            ProviderConfig::HuaweiCph(_) => "huawei-cph",
            #[cfg(feature = "fake")]
            ProviderConfig::Fake(_) => "fake",
        }
    }

    /// Parses one provider table (with `type`), reading `${VAR}`s through `env`.
    pub fn from_table(
        provider: &str,
        table: &toml::Table,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let known = PROVIDER_TYPES
            .iter()
            .map(|(t, _)| *t)
            .collect::<Vec<_>>()
            .join(", ");
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
        for (key, value) in table.iter_mut() {
            interpolate(provider, key, value, env)?;
        }
        // Unused only in a build with no provider type compiled in.
        #[allow(unused_variables)]
        let value = toml::Value::Table(table);
        #[allow(unused_variables)]
        let invalid = |e: toml::de::Error| ConfigError::Invalid {
            provider: provider.into(),
            message: describe_serde_error(&e),
        };
        match kind.as_str() {
            #[cfg(feature = "geelark")]
            "geelark" => Ok(ProviderConfig::Geelark(value.try_into().map_err(invalid)?)),
            #[cfg(feature = "huawei-cph")]
            "huawei-cph" => Ok(ProviderConfig::HuaweiCph(value.try_into().map_err(invalid)?)),
            #[cfg(feature = "fake")]
            "fake" => Ok(ProviderConfig::Fake(value.try_into().map_err(invalid)?)),
            other => match PROVIDER_TYPES.iter().find(|(t, _)| *t == other) {
                Some((_, feature)) => Err(ConfigError::Invalid {
                    provider: provider.into(),
                    message: format!(
                        "type `{other}` needs the `{feature}` cargo feature of the `cloudphone` crate"
                    ),
                }),
                None => Err(ConfigError::UnknownType {
                    provider: provider.into(),
                    kind: other.into(),
                    known,
                }),
            },
        }
    }

    /// Builds the provider this configuration describes.
    pub fn build(&self) -> cloudphone_core::Result<Arc<dyn CloudPhoneProvider>> {
        match self {
            #[cfg(feature = "geelark")]
            ProviderConfig::Geelark(c) => Ok(Arc::new(cloudphone_geelark::GeelarkProvider::new(
                c.clone(),
            )?)),
            #[cfg(feature = "huawei-cph")]
            ProviderConfig::HuaweiCph(c) => Ok(Arc::new(
                cloudphone_huawei_cph::HuaweiCphProvider::new(c.clone())?,
            )),
            #[cfg(feature = "fake")]
            ProviderConfig::Fake(c) => Ok(Arc::new(
                cloudphone_core::FakeProvider::builder()
                    .phones(c.phones)
                    .batch_size(c.batch_size)
                    .settle_polls(c.settle_polls)
                    .build(),
            )),
            #[allow(unreachable_patterns)]
            _ => unreachable!("no provider types compiled in"),
        }
    }
}

/// Turns a serde error into a sentence that names the key ("unknown key `foo`, expected one of
/// …", "missing key `project_id`").
fn describe_serde_error(e: &toml::de::Error) -> String {
    e.message()
        .trim()
        .replace("unknown field", "unknown key")
        .replace("missing field", "missing key")
}

/// Replaces `${VAR}` in every string below `value`.
fn interpolate(
    provider: &str,
    key: &str,
    value: &mut toml::Value,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    match value {
        toml::Value::String(s) => {
            *s = substitute(s, env).map_err(|var| ConfigError::MissingEnv {
                provider: provider.into(),
                key: key.into(),
                var,
            })?;
        }
        toml::Value::Array(items) => {
            for v in items {
                interpolate(provider, key, v, env)?;
            }
        }
        toml::Value::Table(t) => {
            for (k, v) in t.iter_mut() {
                interpolate(provider, &format!("{key}.{k}"), v, env)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Substitutes `${VAR}`; `$$` is a literal `$`. Returns the missing variable's name on failure.
fn substitute(s: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(after) = tail.strip_prefix("$$") {
            out.push('$');
            rest = after;
        } else if let Some(body) = tail.strip_prefix("${") {
            let Some(end) = body.find('}') else {
                return Err(format!("{tail} (unterminated `${{`)"));
            };
            let var = &body[..end];
            match env(var) {
                Some(v) => out.push_str(&v),
                None => return Err(var.to_owned()),
            }
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// A parsed configuration document: named providers, in name order.
#[derive(Clone, Default)]
pub struct Config {
    providers: BTreeMap<String, ProviderConfig>,
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
        let mut root: toml::Table = doc
            .parse()
            .map_err(|e: toml::de::Error| ConfigError::Syntax(e.message().trim().to_owned()))?;
        let providers = match root.remove("providers") {
            None => toml::Table::new(),
            Some(toml::Value::Table(t)) => t,
            Some(_) => {
                return Err(ConfigError::Syntax(
                    "`providers` must be a table of named providers ([providers.NAME])".into(),
                ))
            }
        };
        if let Some(key) = root.keys().next() {
            return Err(ConfigError::Syntax(format!(
                "unknown top-level key `{key}` (expected only [providers.NAME] tables)"
            )));
        }
        let mut config = Config::new();
        for (name, value) in providers {
            check_name(&name)?;
            let toml::Value::Table(table) = value else {
                return Err(ConfigError::Syntax(format!(
                    "`providers.{name}` must be a table"
                )));
            };
            let parsed = ProviderConfig::from_table(&name, &table, env)?;
            config.providers.insert(name, parsed);
        }
        Ok(config)
    }

    /// Reads and parses a file. Warns (through `tracing`) when the file holds secrets in clear
    /// and other users may read it.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let doc = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        let config = Self::from_toml_str(&doc)?;
        warn_if_exposed(path, &doc);
        Ok(config)
    }

    /// Adds (or replaces) a provider.
    pub fn insert(&mut self, name: impl Into<String>, provider: ProviderConfig) {
        self.providers.insert(name.into(), provider);
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
        cfg.build().map_err(|e| ConfigError::Invalid {
            provider: name.into(),
            message: e.message().to_owned(),
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

const SECRET_KEYS: &[&str] = &[
    "api_key",
    "token",
    "secret_key",
    "security_token",
    "password",
];

/// Whether `doc` has a secret key whose value is written out rather than read from `${VAR}`.
fn holds_clear_secret(doc: &str) -> bool {
    let Ok(root) = doc.parse::<toml::Table>() else {
        return false;
    };
    let Some(toml::Value::Table(providers)) = root.get("providers") else {
        return false;
    };
    providers.values().any(|p| {
        p.as_table().is_some_and(|t| {
            SECRET_KEYS.iter().any(|k| {
                t.get(*k)
                    .and_then(|v| v.as_str())
                    .is_some_and(|v| !v.trim_start().starts_with("${"))
            })
        })
    })
}

#[cfg(unix)]
fn warn_if_exposed(path: &Path, doc: &str) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = std::fs::metadata(path) else {
        return;
    };
    if meta.permissions().mode() & 0o044 != 0 && holds_clear_secret(doc) {
        tracing::warn!(
            path = %path.display(),
            "configuration file holds secrets and is readable by other users; \
             run `chmod 600` on it or read the secrets from ${{VAR}}s"
        );
    }
}

#[cfg(not(unix))]
fn warn_if_exposed(_path: &Path, _doc: &str) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitution_reads_variables_and_escapes() {
        let env = |v: &str| (v == "A").then(|| "x".to_string());
        assert_eq!(substitute("a${A}b$$c$d", &env).unwrap(), "axb$c$d");
        assert_eq!(substitute("${B}", &env).unwrap_err(), "B");
    }

    #[test]
    fn clear_secrets_are_detected() {
        assert!(holds_clear_secret(
            "[providers.a]\ntype='fake'\napi_key='abc'"
        ));
        assert!(!holds_clear_secret(
            "[providers.a]\ntype='fake'\napi_key='${K}'"
        ));
    }
}
