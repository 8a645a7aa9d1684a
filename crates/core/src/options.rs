//! [`ClientOptions`]: the client settings every vendor shares — timeouts, retries, concurrency
//! and the answer body cap — with their configuration keys, parsed and validated here once.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};

use crate::http::{HttpOptions, DEFAULT_MAX_BODY_BYTES};
use crate::rate_store::SharedStore;
use crate::{EngineConfig, Error, ErrorKind, Result, RetryPolicy};

/// The most vendor calls one provider has in flight at once, for every vendor (Huawei's own
/// limit; no vendor gains from more).
pub const MAX_CONCURRENCY: usize = 64;
/// The smallest `max_body_bytes` accepted (the HTTP client's own floor).
pub const MIN_BODY_BYTES: usize = 1024;
/// The largest `max_body_bytes` accepted: no vendor answer comes near it.
pub const MAX_BODY_BYTES: usize = 1 << 30;

/// The transport and retry settings of a provider, the same keys for every vendor:
///
/// | key | meaning | accepted |
/// | --- | --- | --- |
/// | `timeout_secs` | the whole exchange, body included | at least 1 |
/// | `connect_timeout_secs` | establishing the connection | at least 1 |
/// | `max_retries` | retries of a retryable failure after the first attempt | any |
/// | `retry_min_delay_ms` | the first backoff delay | at most `retry_max_delay_ms` |
/// | `retry_max_delay_ms` | the largest backoff delay (also caps a vendor's `Retry-After`) | any |
/// | `concurrency` | vendor calls in flight at once for one batch | 1 to [`MAX_CONCURRENCY`] |
/// | `max_body_bytes` | the largest answer body read | [`MIN_BODY_BYTES`] to [`MAX_BODY_BYTES`] |
/// | `ca_file` | a PEM file of extra root certificates to trust (e.g. a local simulator's CA), added to the built-in roots | a readable PEM file with at least one certificate |
///
/// Certificate verification is never turned off: `ca_file` only adds roots.
///
/// **Redirects are never followed**, and there is no key to change that: a 3xx would carry the
/// credentials (signed headers, a token, a password body) to another host and re-send a state
/// change, so the client is always built with `redirect::Policy::none()`
/// ([`HttpOptions::client_builder`]) and a 3xx answer is an error naming its status and host.
///
/// A vendor configuration embeds one (its defaults are the vendor's: see
/// [`ClientOptions::deserialize_flat`]), validates it with [`ClientOptions::validate`] and
/// builds its client, retry policy and engine settings from it.
///
/// ```
/// use cloudphone_core::ClientOptions;
///
/// let options = ClientOptions::new().with_concurrency(4).with_retries(2, 100, 1_000);
/// options.validate("my-vendor").unwrap();
/// assert_eq!(options.engine_config().concurrency, 4);
/// assert!(options.with_concurrency(65).validate("my-vendor").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientOptions {
    /// Whole-request timeout in seconds (default 30).
    pub timeout_secs: u64,
    /// Connection timeout in seconds (default 10).
    pub connect_timeout_secs: u64,
    /// Retries of a retryable failure after the first attempt (default 4).
    pub max_retries: usize,
    /// First backoff delay in milliseconds (the vendor's default).
    pub retry_min_delay_ms: u64,
    /// Largest backoff delay in milliseconds (the vendor's default).
    pub retry_max_delay_ms: u64,
    /// Vendor calls in flight at once for one batch, 1–64 (the vendor's default).
    pub concurrency: usize,
    /// The largest answer body accepted, in bytes, 1 KiB – 1 GiB (default 8 MiB). A larger
    /// answer is an error; for a state change it leaves the outcome unknown.
    pub max_body_bytes: usize,
    /// A PEM file of extra root certificates the HTTP client trusts, on top of the built-in
    /// ones (default none). Read when the client is built; ignored when a ready-made client is
    /// given.
    pub ca_file: Option<PathBuf>,
    /// Where the rate budgets and lock-outs are kept (default: in this process only). Not a
    /// configuration key of the vendor table: the `cloudphone` facade sets it from
    /// `[rate_limit] store` (or a provider's `rate_limit_store`); code building a provider
    /// directly sets it with [`ClientOptions::with_rate_limit_store`].
    pub rate_limit_store: Option<SharedStore>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions::new()
    }
}

impl ClientOptions {
    /// The configuration keys, in the order they are documented.
    pub const KEYS: &'static [&'static str] = &[
        "timeout_secs",
        "connect_timeout_secs",
        "max_retries",
        "retry_min_delay_ms",
        "retry_max_delay_ms",
        "concurrency",
        "max_body_bytes",
        "ca_file",
    ];

    /// The generic defaults: 30 s timeout, 10 s to connect, 4 retries 1–30 s apart, 8 calls in
    /// flight, 8 MiB bodies. Vendors adjust them with the `with_*` methods.
    pub const fn new() -> Self {
        ClientOptions {
            timeout_secs: 30,
            connect_timeout_secs: 10,
            max_retries: 4,
            retry_min_delay_ms: 1_000,
            retry_max_delay_ms: 30_000,
            concurrency: 8,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            ca_file: None,
            rate_limit_store: None,
        }
    }

    /// Sets the request and connection timeouts in seconds.
    pub const fn with_timeouts(mut self, timeout_secs: u64, connect_timeout_secs: u64) -> Self {
        self.timeout_secs = timeout_secs;
        self.connect_timeout_secs = connect_timeout_secs;
        self
    }

    /// Sets the retry count and the backoff delays in milliseconds.
    pub const fn with_retries(
        mut self,
        max_retries: usize,
        min_delay_ms: u64,
        max_delay_ms: u64,
    ) -> Self {
        self.max_retries = max_retries;
        self.retry_min_delay_ms = min_delay_ms;
        self.retry_max_delay_ms = max_delay_ms;
        self
    }

    /// Sets the fan-out concurrency.
    pub const fn with_concurrency(mut self, n: usize) -> Self {
        self.concurrency = n;
        self
    }

    /// Sets the largest answer body accepted, in bytes.
    pub const fn with_max_body_bytes(mut self, n: usize) -> Self {
        self.max_body_bytes = n;
        self
    }

    /// Sets the extra root certificates' PEM file ([`ClientOptions::ca_file`]).
    pub fn with_ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_file = Some(path.into());
        self
    }

    /// Keeps the rate budgets and lock-outs in `store` (e.g. one shared by several processes).
    pub fn with_rate_limit_store(mut self, store: SharedStore) -> Self {
        self.rate_limit_store = Some(store);
        self
    }

    /// Checks every key; the error ([`ErrorKind::Config`], labelled with `vendor`) names the
    /// offending one.
    pub fn validate(&self, vendor: &'static str) -> Result<()> {
        let fail =
            |message: String| Err(Error::new(ErrorKind::Config, message).with_vendor(vendor));
        if !(1..=MAX_CONCURRENCY).contains(&self.concurrency) {
            return fail(format!(
                "`concurrency` must be between 1 and {MAX_CONCURRENCY}"
            ));
        }
        if self.retry_min_delay_ms > self.retry_max_delay_ms {
            return fail("`retry_min_delay_ms` must not exceed `retry_max_delay_ms`".into());
        }
        if self.timeout_secs == 0 {
            return fail("`timeout_secs` must be at least 1".into());
        }
        if self.connect_timeout_secs == 0 {
            return fail("`connect_timeout_secs` must be at least 1".into());
        }
        if !(MIN_BODY_BYTES..=MAX_BODY_BYTES).contains(&self.max_body_bytes) {
            return fail(format!(
                "`max_body_bytes` must be between {MIN_BODY_BYTES} and {MAX_BODY_BYTES}"
            ));
        }
        Ok(())
    }

    /// The transport settings of the shared HTTP client (which never follows redirects).
    pub fn http_options(&self) -> HttpOptions {
        HttpOptions::default()
            .timeout(Duration::from_secs(self.timeout_secs))
            .connect_timeout(Duration::from_secs(self.connect_timeout_secs))
            .max_body_bytes(self.max_body_bytes)
    }

    /// `given`, or the shared HTTP client built from these options; a failure to build it is
    /// a configuration error labelled with `vendor`.
    pub fn http_client(
        &self,
        vendor: &'static str,
        given: Option<reqwest::Client>,
    ) -> Result<reqwest::Client> {
        match given {
            Some(client) => Ok(client),
            None => match &self.ca_file {
                None => self
                    .http_options()
                    .client()
                    .map_err(|e| e.with_vendor(vendor)),
                Some(path) => {
                    let fail = |message: String| {
                        Error::new(ErrorKind::Config, message).with_vendor(vendor)
                    };
                    let pem = std::fs::read(path).map_err(|e| {
                        fail(format!("`ca_file` {}: cannot read: {e}", path.display()))
                    })?;
                    let roots = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                        fail(format!(
                            "`ca_file` {}: not a PEM certificate: {e}",
                            path.display()
                        ))
                    })?;
                    if roots.is_empty() {
                        return Err(fail(format!(
                            "`ca_file` {}: no certificate in it",
                            path.display()
                        )));
                    }
                    roots
                        .into_iter()
                        .fold(self.http_options().client_builder(), |b, cert| {
                            b.add_root_certificate(cert)
                        })
                        .build()
                        .map_err(|e| fail(format!("cannot build the HTTP client: {e}")))
                }
            },
        }
    }

    /// The retry policy: `max_retries` with exponential backoff from `retry_min_delay_ms` to
    /// `retry_max_delay_ms`, with jitter.
    pub fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy::default().max_retries(self.max_retries).delays(
            Duration::from_millis(self.retry_min_delay_ms),
            Duration::from_millis(self.retry_max_delay_ms),
        )
    }

    /// The engine settings these options stand for: concurrency, retries and the rate-limit
    /// store (the vendor adds its rate budgets and its account).
    pub fn engine_config(&self) -> EngineConfig {
        EngineConfig::default()
            .concurrency(self.concurrency)
            .retry(self.retry_policy())
            .rate_limit_store(self.rate_limit_store.clone())
    }

    /// Reads the shared keys of a vendor table whose own keys were already taken: the
    /// deserializer of a `#[serde(flatten, deserialize_with = "…")]` field, so that a vendor
    /// configuration keeps one flat table and unknown keys stay errors. Missing keys take
    /// `defaults`; any key that is neither shared nor in `vendor_keys` is an "unknown field"
    /// error naming it (and listing every known key). A bad value names its key.
    ///
    /// ```
    /// use cloudphone_core::ClientOptions;
    /// use serde::{Deserialize, Deserializer};
    ///
    /// #[derive(Deserialize)]
    /// struct MyConfig {
    ///     #[serde(default)]
    ///     token: String,
    ///     #[serde(flatten, deserialize_with = "client")]
    ///     client: ClientOptions,
    /// }
    ///
    /// fn client<'de, D: Deserializer<'de>>(d: D) -> Result<ClientOptions, D::Error> {
    ///     ClientOptions::deserialize_flat(d, ClientOptions::new().with_concurrency(2), &["token"])
    /// }
    ///
    /// let c: MyConfig = toml::from_str("token = 't'\ntimeout_secs = 5").unwrap();
    /// assert_eq!((c.client.timeout_secs, c.client.concurrency), (5, 2));
    /// let e = toml::from_str::<MyConfig>("tokn = 't'").err().unwrap();
    /// assert!(e.to_string().contains("unknown field `tokn`"), "{e}");
    /// ```
    pub fn deserialize_flat<'de, D: Deserializer<'de>>(
        deserializer: D,
        defaults: ClientOptions,
        vendor_keys: &'static [&'static str],
    ) -> Result<Self, D::Error> {
        deserializer.deserialize_map(OptionsVisitor {
            defaults,
            vendor_keys,
            name_keys: true,
        })
    }
}

/// A table of the shared keys only, with the generic defaults ([`ClientOptions::new`]).
impl<'de> Deserialize<'de> for ClientOptions {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(OptionsVisitor {
            defaults: ClientOptions::new(),
            vendor_keys: &[],
            // A table of its own: the deserializer names the key of a bad value itself.
            name_keys: false,
        })
    }
}

struct OptionsVisitor {
    defaults: ClientOptions,
    vendor_keys: &'static [&'static str],
    /// Whether errors in values name their key (a flattened table loses the key path).
    name_keys: bool,
}

impl OptionsVisitor {
    fn value<'de, A: MapAccess<'de>, T: Deserialize<'de>>(
        &self,
        map: &mut A,
        key: &str,
    ) -> Result<T, A::Error> {
        map.next_value().map_err(|e| {
            if self.name_keys {
                // Trimmed: a TOML error's text ends in a line break.
                de::Error::custom(format_args!("key `{key}`: {}", e.to_string().trim_end()))
            } else {
                e
            }
        })
    }

    fn unknown<E: de::Error>(&self, key: &str) -> E {
        let known: Vec<String> = self
            .vendor_keys
            .iter()
            .chain(ClientOptions::KEYS)
            .map(|k| format!("`{k}`"))
            .collect();
        E::custom(format_args!(
            "unknown field `{key}`, expected one of {}",
            known.join(", ")
        ))
    }
}

impl<'de> Visitor<'de> for OptionsVisitor {
    type Value = ClientOptions;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a table of client settings")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ClientOptions, A::Error> {
        let mut o = self.defaults.clone();
        let mut seen: Vec<&'static str> = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            let Some(&known) = ClientOptions::KEYS.iter().find(|k| **k == key) else {
                return Err(self.unknown(&key));
            };
            if seen.contains(&known) {
                return Err(de::Error::duplicate_field(known));
            }
            seen.push(known);
            match known {
                "timeout_secs" => o.timeout_secs = self.value(&mut map, known)?,
                "connect_timeout_secs" => o.connect_timeout_secs = self.value(&mut map, known)?,
                "max_retries" => o.max_retries = self.value(&mut map, known)?,
                "retry_min_delay_ms" => o.retry_min_delay_ms = self.value(&mut map, known)?,
                "retry_max_delay_ms" => o.retry_max_delay_ms = self.value(&mut map, known)?,
                "concurrency" => o.concurrency = self.value(&mut map, known)?,
                "ca_file" => o.ca_file = Some(self.value(&mut map, known)?),
                _ => o.max_body_bytes = self.value(&mut map, known)?,
            }
        }
        Ok(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    struct Vendor {
        #[serde(default)]
        token: Option<String>,
        #[serde(default)]
        batch_size: Option<usize>,
        #[serde(flatten, deserialize_with = "client")]
        client: ClientOptions,
    }

    const DEFAULTS: ClientOptions = ClientOptions::new()
        .with_concurrency(4)
        .with_retries(3, 2_000, 20_000);

    fn client<'de, D: Deserializer<'de>>(d: D) -> Result<ClientOptions, D::Error> {
        ClientOptions::deserialize_flat(d, DEFAULTS, &["token", "batch_size"])
    }

    fn toml(doc: &str) -> Result<Vendor, toml::de::Error> {
        toml::Value::Table(doc.parse().unwrap()).try_into()
    }

    #[test]
    fn a_flat_table_takes_vendor_and_shared_keys_with_vendor_defaults() {
        let v =
            toml("token = 't'\nbatch_size = 5\ntimeout_secs = 7\nmax_body_bytes = 2048").unwrap();
        assert_eq!((v.token.as_deref(), v.batch_size), (Some("t"), Some(5)));
        assert_eq!(
            v.client,
            DEFAULTS.with_timeouts(7, 10).with_max_body_bytes(2048)
        );
        let v: Vendor = serde_json::from_value(serde_json::json!({"concurrency": 9})).unwrap();
        assert_eq!(v.client, DEFAULTS.with_concurrency(9));
        assert_eq!(toml("").unwrap().client, DEFAULTS);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let e = toml("token = 't'\nbatchsize = 5").unwrap_err().to_string();
        assert!(
            e.contains("unknown field `batchsize`")
                && e.contains("`batch_size`")
                && e.contains("`max_body_bytes`"),
            "{e}"
        );
        let e = toml("concurrency = 'plain'").unwrap_err();
        assert_eq!(
            e.message(),
            "key `concurrency`: invalid type: string \"plain\", expected usize"
        );
        let e = serde_json::from_value::<Vendor>(serde_json::json!({"max_body_bytes": -1}))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("invalid value") && e.contains("`max_body_bytes`"),
            "{e}"
        );
        let e = serde_json::from_str::<Vendor>(r#"{"timeout_secs": 1, "timeout_secs": 2}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("duplicate field `timeout_secs`"), "{e}");
        // A table of the shared keys alone.
        let o: ClientOptions = toml::from_str("max_retries = 0").unwrap();
        assert_eq!(o, ClientOptions::new().with_retries(0, 1_000, 30_000));
        let e = toml::from_str::<ClientOptions>("token = 't'")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `token`"), "{e}");
    }

    #[test]
    fn validation_names_the_key_and_caps_concurrency_for_every_vendor() {
        const OK: ClientOptions = ClientOptions::new();
        OK.validate("v").unwrap();
        OK.with_concurrency(MAX_CONCURRENCY).validate("v").unwrap();
        OK.with_max_body_bytes(MIN_BODY_BYTES)
            .validate("v")
            .unwrap();
        OK.with_max_body_bytes(MAX_BODY_BYTES)
            .validate("v")
            .unwrap();
        OK.with_retries(usize::MAX, u64::MAX, u64::MAX)
            .with_timeouts(u64::MAX, u64::MAX)
            .validate("v")
            .unwrap();
        let cases = [
            (OK.with_concurrency(0), "`concurrency`"),
            (OK.with_concurrency(MAX_CONCURRENCY + 1), "`concurrency`"),
            (OK.with_retries(1, 10, 5), "`retry_min_delay_ms`"),
            (OK.with_timeouts(0, 1), "`timeout_secs`"),
            (OK.with_timeouts(1, 0), "`connect_timeout_secs`"),
            (
                OK.with_max_body_bytes(MIN_BODY_BYTES - 1),
                "`max_body_bytes`",
            ),
            (
                OK.with_max_body_bytes(MAX_BODY_BYTES + 1),
                "`max_body_bytes`",
            ),
        ];
        for (options, key) in cases {
            let e = options.validate("v").unwrap_err();
            assert_eq!((e.kind(), e.vendor()), (ErrorKind::Config, Some("v")));
            assert!(e.message().contains(key), "{key}: {e}");
        }
    }

    #[test]
    fn the_builders_carry_every_setting() {
        let o = ClientOptions::new()
            .with_timeouts(5, 2)
            .with_retries(3, 100, 900)
            .with_concurrency(6)
            .with_max_body_bytes(4096);
        let http = o.http_options();
        assert_eq!(
            (http.timeout, http.connect_timeout, http.max_body_bytes),
            (Duration::from_secs(5), Duration::from_secs(2), 4096)
        );
        let retry = o.retry_policy();
        assert_eq!(
            (retry.max_retries, retry.min_delay, retry.max_delay),
            (3, Duration::from_millis(100), Duration::from_millis(900))
        );
        let engine = o.engine_config();
        assert_eq!((engine.concurrency, engine.retry), (6, retry));
        o.http_client("v", None).unwrap();
    }

    #[test]
    fn ca_file_is_a_key_read_when_the_client_is_built() {
        let v = toml("ca_file = '/tmp/sim-ca.pem'").unwrap();
        assert_eq!(
            v.client.ca_file.as_deref(),
            Some(std::path::Path::new("/tmp/sim-ca.pem"))
        );
        // A missing file and a file without a certificate are configuration errors naming the
        // key; no file: the built-in roots only.
        let dir = std::env::temp_dir().join(format!("cloudphone-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        for path in [dir.join("missing.pem"), empty] {
            let e = ClientOptions::new()
                .with_ca_file(&path)
                .http_client("v", None)
                .unwrap_err();
            assert_eq!((e.kind(), e.vendor()), (ErrorKind::Config, Some("v")));
            assert!(e.message().contains("`ca_file`"), "{e}");
        }
        ClientOptions::new().http_client("v", None).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
