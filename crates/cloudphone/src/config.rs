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
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

#[cfg(feature = "fake")]
use cloudphone_core::registry::TypedVendor;
use cloudphone_core::registry::{Registry, VendorConfig};
use cloudphone_core::CloudPhoneProvider;

/// The vendors this build knows: one registration line per backend, behind its cargo feature
/// (a type left out names the feature that adds it). Add your own with
/// [`Registry::register`] and load with [`Config::from_toml_str_with`] /
/// [`Config::from_path_with`].
pub fn builtin_registry() -> Registry {
    let mut r = Registry::new();
    #[cfg(feature = "geelark")]
    r.register(Arc::new(cloudphone_geelark::vendor()));
    #[cfg(not(feature = "geelark"))]
    r.unavailable("geelark", "geelark");
    #[cfg(feature = "huawei-cph")]
    r.register(Arc::new(cloudphone_huawei_cph::vendor()));
    #[cfg(not(feature = "huawei-cph"))]
    r.unavailable("huawei-cph", "huawei-cph");
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
        ProviderConfig { kind, config }
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
        let config = vendor.parse(table).map_err(|e| ConfigError::Invalid {
            provider: provider.into(),
            // A type error quotes the value it got: the value as written, not as expanded.
            message: redactor.apply(&describe_serde_error(&e)),
        })?;
        let config = ProviderConfig::new(vendor.type_name(), config);
        warn_if_plain_http(provider, &config);
        Ok((config, redactor))
    }

    /// Builds the provider this configuration describes.
    pub fn build(&self) -> cloudphone_core::Result<Arc<dyn CloudPhoneProvider>> {
        self.config.build()
    }
}

/// Warns (through `tracing`) about every URL of `config` that is plain `http://` to a host
/// other than loopback: requests, and the credentials they carry, would cross the network
/// unencrypted. The URL itself is not logged (it may hold user info or come from a variable).
fn warn_if_plain_http(provider: &str, config: &ProviderConfig) {
    for (key, url) in config.config.urls() {
        if is_plain_http_off_loopback(&url) {
            tracing::warn!(
                "provider `{provider}`: `{key}` is plain http:// to a host that is not loopback; \
                 requests and credentials travel unencrypted — use https://"
            );
        }
    }
}

/// Whether `url` is `http://` (any case) to a host other than `localhost`, `127.0.0.0/8` or
/// `::1`. Deliberately simple and on the side of warning: anything it cannot read as one of
/// those hosts counts as off loopback (`\` ends the host, as in browsers, so that
/// `http://evil\@localhost` is not mistaken for loopback).
pub(crate) fn is_plain_http_off_loopback(url: &str) -> bool {
    let url = url.trim_matches(|c: char| c <= ' ');
    let Some(scheme) = url.get(..7) else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("http://") {
        return false;
    }
    let rest = &url[7..];
    let authority = rest.split(['/', '\\', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let host = match host_port.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((h, _)) => h,
            None => return true,
        },
        None => host_port.split(':').next().unwrap_or_default(),
    };
    !is_loopback_host(host)
}

fn is_loopback_host(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    if let Ok(v4) = host.parse::<std::net::Ipv4Addr>() {
        return v4.is_loopback();
    }
    match host.parse::<std::net::Ipv6Addr>() {
        Ok(v6) => v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
        Err(_) => false,
    }
}

/// Turns a serde error into a sentence that names the key ("key `batch_size`: invalid type …",
/// "unknown key `foo`, expected one of …", "missing key `project_id`").
fn describe_serde_error(e: &toml::de::Error) -> String {
    let message = e
        .message()
        .trim()
        .replace("unknown field", "unknown key")
        .replace("missing field", "missing key");
    // The path of the key at fault is only in the error's `Display` ("…\nin `a.b`").
    let shown = e.to_string();
    let key = shown.lines().rev().find_map(|l| {
        l.trim()
            .strip_prefix("in `")
            .and_then(|k| k.strip_suffix('`'))
    });
    match key {
        Some(k) if !k.is_empty() && !message.contains(&format!("`{k}`")) => {
            format!("key `{k}`: {message}")
        }
        _ => message,
    }
}

/// What `${VAR}` expansion put into a provider's values, and what to show instead: each
/// expanded value maps back to the value as written, each variable's value to `${NAME}`.
/// Applied to every message about that provider, so no error can quote a variable's value.
#[derive(Clone, Default)]
struct Redactor {
    /// (text that may appear in a message, what to show instead), longest first.
    pairs: Vec<(String, String)>,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redactor({} values)", self.pairs.len())
    }
}

impl Redactor {
    /// Remembers that `raw` was expanded to `expanded` using `vars` (name, value).
    fn record(&mut self, raw: &str, expanded: &str, vars: &[(String, String)]) {
        if vars.iter().all(|(_, v)| v.is_empty()) {
            return;
        }
        // Messages quote values plainly or in Rust/serde `Debug` form (`string "…"`).
        let inner_debug = |s: &str| {
            let d = format!("{s:?}");
            d[1..d.len() - 1].to_owned()
        };
        let mut add = |from: String, to: String| {
            if !from.is_empty() && from != to {
                self.pairs.push((from, to));
            }
        };
        add(expanded.to_owned(), raw.to_owned());
        add(inner_debug(expanded), inner_debug(raw));
        for (name, value) in vars {
            add(value.clone(), format!("${{{name}}}"));
            add(inner_debug(value), format!("${{{name}}}"));
        }
        self.pairs
            .sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        self.pairs.dedup_by(|a, b| a.0 == b.0);
    }

    /// `message` with every expanded text replaced, in one pass (a replacement is never
    /// itself searched again), longest match first.
    fn apply(&self, message: &str) -> String {
        if self.pairs.is_empty() {
            return message.to_owned();
        }
        let mut out = String::with_capacity(message.len());
        let mut rest = message;
        'scan: while let Some(c) = rest.chars().next() {
            for (from, to) in &self.pairs {
                if let Some(after) = rest.strip_prefix(from.as_str()) {
                    out.push_str(to);
                    rest = after;
                    continue 'scan;
                }
            }
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
        out
    }
}

/// Replaces `${VAR}` in every string below `value`, recording each expansion in `redactor`.
fn interpolate(
    provider: &str,
    key: &str,
    value: &mut toml::Value,
    env: &dyn Fn(&str) -> Option<String>,
    redactor: &mut Redactor,
) -> Result<(), ConfigError> {
    match value {
        toml::Value::String(s) => {
            let expanded = substitute(s, env).map_err(|var| ConfigError::MissingEnv {
                provider: provider.into(),
                key: key.into(),
                var,
            })?;
            redactor.record(s, &expanded.text, &expanded.vars);
            *s = expanded.text;
        }
        toml::Value::Array(items) => {
            for v in items {
                interpolate(provider, key, v, env, redactor)?;
            }
        }
        toml::Value::Table(t) => {
            for (k, v) in t.iter_mut() {
                interpolate(provider, &format!("{key}.{k}"), v, env, redactor)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// A string after `${VAR}` substitution, with the variables it read (name, value).
#[derive(Debug, PartialEq, Eq)]
struct Expanded {
    text: String,
    vars: Vec<(String, String)>,
}

/// Substitutes `${VAR}`; `$$` is a literal `$`. Returns the missing variable's name on failure.
fn substitute(s: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Expanded, String> {
    let mut out = String::with_capacity(s.len());
    let mut vars = Vec::new();
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
                Some(v) => {
                    out.push_str(&v);
                    vars.push((var.to_owned(), v));
                }
                None => return Err(var.to_owned()),
            }
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    Ok(Expanded { text: out, vars })
}

/// A parsed configuration document: named providers, in name order.
#[derive(Clone, Default)]
pub struct Config {
    providers: BTreeMap<String, ProviderConfig>,
    /// Per provider, what `${VAR}` expansion put into its values (for [`Config::build`]'s
    /// errors).
    redactors: BTreeMap<String, Redactor>,
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
        if let Some(key) = root.keys().next() {
            return Err(syntax(format!(
                "unknown top-level key `{key}` (expected only [providers.NAME] tables)"
            )));
        }
        let mut config = Config::new();
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

/// Reads a configuration file: a regular file of at most [`MAX_CONFIG_BYTES`], in UTF-8.
fn read_config_file(path: &Path) -> Result<String, ConfigError> {
    let read_error = |message: String| ConfigError::Read {
        path: path.display().to_string(),
        message,
    };
    let check = |meta: &std::fs::Metadata| {
        if !meta.is_file() {
            return Err(read_error(format!(
                "not a regular file ({}); the configuration must be a regular file",
                file_kind(meta)
            )));
        }
        if meta.len() > MAX_CONFIG_BYTES {
            return Err(too_large(path));
        }
        Ok(())
    };
    // Checked before opening: opening a FIFO blocks until something writes to it.
    check(&std::fs::metadata(path).map_err(|e| read_error(e.to_string()))?)?;
    let file = std::fs::File::open(path).map_err(|e| read_error(e.to_string()))?;
    check(&file.metadata().map_err(|e| read_error(e.to_string()))?)?;
    let mut bytes = Vec::new();
    // The file may grow after the check: never read more than the cap (and one byte to tell).
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| read_error(e.to_string()))?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(too_large(path));
    }
    String::from_utf8(bytes).map_err(|e| {
        let line = 1 + e.as_bytes()[..e.utf8_error().valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        read_error(format!("not UTF-8 (line {line})"))
    })
}

fn too_large(path: &Path) -> ConfigError {
    ConfigError::Read {
        path: path.display().to_string(),
        message: format!(
            "larger than the {} MiB cap on configuration files",
            MAX_CONFIG_BYTES / (1024 * 1024)
        ),
    }
}

fn file_kind(meta: &std::fs::Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = meta.file_type();
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_char_device() || t.is_block_device() {
            return "a device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if meta.is_dir() {
        "a directory"
    } else {
        "not a file"
    }
}

/// A TOML syntax error as "line L, column C, key `K` in [TABLE]: what", naming the key and the
/// table where they can be read off the document. Never quotes the line itself: it may hold a
/// secret written in clear.
fn describe_syntax_error(doc: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim();
    let Some(span) = e.span() else {
        return message.to_owned();
    };
    let at = span.start.min(doc.len());
    let before = doc.get(..at).unwrap_or(doc);
    let line_no = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    let line = doc[line_start..].lines().next().unwrap_or_default();
    let preceding = &doc[..line_start];
    // Inside an unclosed multi-line string a `x = y` line is text, not a key.
    let in_multiline =
        preceding.matches("\"\"\"").count() % 2 == 1 || preceding.matches("'''").count() % 2 == 1;
    let key = (!in_multiline).then(|| line_key(line)).flatten();
    let table = (!in_multiline)
        .then(|| {
            preceding
                .lines()
                .chain(std::iter::once(line))
                .filter_map(table_header)
                .next_back()
        })
        .flatten();
    let mut place = format!("line {line_no}, column {column}");
    if let Some(k) = key {
        place.push_str(&format!(", key `{k}`"));
    }
    if let Some(t) = table {
        place.push_str(&format!(" in [{t}]"));
    }
    format!("{place}: {message}")
}

/// The key of a `key = value` line, if the text before `=` reads as a key.
fn line_key(line: &str) -> Option<&str> {
    let (key, _) = line.split_once('=')?;
    let key = key.trim();
    let ok = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.\"' ".contains(c));
    ok.then_some(key)
}

/// The name of a `[table]` or `[[array]]` header line.
fn table_header(line: &str) -> Option<&str> {
    let l = line.trim();
    let l = l.split('#').next().unwrap_or_default().trim_end();
    let inner = l.strip_prefix("[[").or_else(|| l.strip_prefix('['))?;
    let inner = inner
        .strip_suffix("]]")
        .or_else(|| inner.strip_suffix(']'))
        .unwrap_or(inner)
        .trim();
    let ok = !inner.is_empty()
        && inner
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.\"' ".contains(c));
    ok.then_some(inner)
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

/// Whether `doc` has a secret key whose value is written out rather than read from `${VAR}`.
fn holds_clear_secret(doc: &str, registry: &Registry) -> bool {
    let Ok(root) = doc.parse::<toml::Table>() else {
        return false;
    };
    let Some(toml::Value::Table(providers)) = root.get("providers") else {
        return false;
    };
    providers.values().any(|p| {
        p.as_table().is_some_and(|t| {
            // The keys its vendor calls secret (or every vendor's, for an unknown type).
            let keys: Vec<&str> = match t
                .get("type")
                .and_then(|v| v.as_str())
                .and_then(|k| registry.get(k))
            {
                Some(v) => v.secret_keys().to_vec(),
                None => registry.secret_keys().collect(),
            };
            keys.iter().any(|k| {
                t.get(*k)
                    .and_then(|v| v.as_str())
                    .is_some_and(|v| !v.trim_start().starts_with("${"))
            })
        })
    })
}

#[cfg(unix)]
fn warn_if_exposed(path: &Path, doc: &str, registry: &Registry) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = std::fs::metadata(path) else {
        return;
    };
    if meta.permissions().mode() & 0o044 != 0 && holds_clear_secret(doc, registry) {
        tracing::warn!(
            path = %path.display(),
            "configuration file holds secrets and is readable by other users; \
             run `chmod 600` on it or read the secrets from ${{VAR}}s"
        );
    }
}

#[cfg(not(unix))]
fn warn_if_exposed(_path: &Path, _doc: &str, _registry: &Registry) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitution_reads_variables_and_escapes() {
        let env = |v: &str| (v == "A").then(|| "x".to_string());
        let got = substitute("a${A}b$$c$d", &env).unwrap();
        assert_eq!(got.text, "axb$c$d");
        assert_eq!(got.vars, [("A".to_owned(), "x".to_owned())]);
        assert_eq!(substitute("${B}", &env).unwrap_err(), "B");
        assert!(substitute("$$", &env).unwrap().vars.is_empty());
    }

    #[test]
    fn the_redactor_puts_back_what_was_written() {
        let mut r = Redactor::default();
        let vars = [("TOKEN".to_owned(), "se\"cret".to_owned())];
        r.record("pre-${TOKEN}", "pre-se\"cret", &vars);
        // The whole value, plain and as serde quotes it.
        assert_eq!(r.apply("got pre-se\"cret!"), "got pre-${TOKEN}!");
        assert_eq!(
            r.apply(r#"invalid type: string "pre-se\"cret", expected usize"#),
            r#"invalid type: string "pre-${TOKEN}", expected usize"#
        );
        // The variable's value alone, wherever it turns up.
        assert_eq!(r.apply("host se\"cret."), "host ${TOKEN}.");
        // A replacement is not searched again, and text without a value is left alone.
        let mut r = Redactor::default();
        r.record("${A}", "T", &[("A".to_owned(), "T".to_owned())]);
        assert_eq!(r.apply("TOTAL"), "${A}O${A}AL");
        assert_eq!(r.apply("none here"), "none here");
        // Nothing came from a variable: nothing to redact.
        let mut r = Redactor::default();
        r.record("$$x", "$x", &[]);
        assert_eq!(r.apply("$x"), "$x");
    }

    #[test]
    fn plain_http_off_loopback_is_recognised() {
        for warn in [
            "http://example.com",
            "HTTP://Example.com:8080/x",
            "http://10.0.0.1:9",
            "http://127.0.0.1.example.com/",
            "http://127.0.0.1@evil.example/",
            "http://evil.example\\@localhost/",
            "http://[::2]:80/",
            "http://[::1",
            "http://localhost.evil.example",
            " http://example.com ",
            "http://",
        ] {
            assert!(is_plain_http_off_loopback(warn), "{warn}");
        }
        for fine in [
            "https://example.com",
            "http://127.0.0.1:8081",
            "http://127.9.8.7/",
            "http://localhost:1/x",
            "http://LOCALHOST",
            "http://[::1]:8082/v1",
            "http://[::ffff:127.0.0.1]/",
            "http://user:pw@localhost:3/",
            "http://localhost?x=@evil.example",
            "not a url",
            "",
        ] {
            assert!(!is_plain_http_off_loopback(fine), "{fine}");
        }
    }

    #[test]
    fn syntax_errors_name_line_column_key_and_table() {
        let describe = |doc: &str| {
            let e = doc.parse::<toml::Table>().unwrap_err();
            describe_syntax_error(doc, &e)
        };
        let msg = describe("[providers.gl]\ntype = \"geelark\"\nbatch_size = \n");
        assert!(
            msg.starts_with("line 3, column 14, key `batch_size` in [providers.gl]: "),
            "{msg}"
        );
        let msg = describe("[providers.gl]\napi_key = \"s3cret\n");
        assert!(msg.starts_with("line 2, "), "{msg}");
        assert!(msg.contains("key `api_key`"), "{msg}");
        assert!(!msg.contains("s3cret"), "the line is never quoted: {msg}");
        // Inside an unclosed multi-line string, `k = v` is text, not a key.
        let msg = describe("[p]\na = \"\"\"\nsecret_word = x\n");
        assert!(!msg.contains("secret_word"), "{msg}");
    }

    #[test]
    fn clear_secrets_are_detected() {
        // Which keys are secret is the vendor's to say (an unknown type: any vendor's).
        #[derive(Debug, serde::Deserialize)]
        struct Nothing {}
        let r = Registry::new().with(Arc::new(cloudphone_core::registry::TypedVendor::new(
            "v",
            &["api_key"],
            |_: &Nothing| unreachable!("never built"),
        )));
        assert!(holds_clear_secret(
            "[providers.a]\ntype='v'\napi_key='abc'",
            &r
        ));
        assert!(holds_clear_secret(
            "[providers.a]\ntype='nope'\napi_key='abc'",
            &r
        ));
        assert!(!holds_clear_secret(
            "[providers.a]\ntype='v'\napi_key='${K}'",
            &r
        ));
        assert!(!holds_clear_secret(
            "[providers.a]\ntype='v'\nbatch_size='abc'",
            &r
        ));
    }
}
