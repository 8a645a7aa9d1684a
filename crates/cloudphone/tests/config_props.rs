//! Property tests of the configuration parser: arbitrary text, TOML-like token soup and good
//! documents mutated (characters spliced and cut; values swapped for other types, extreme
//! numbers, nested tables) parse to a `Config` or a `ConfigError` — never panic — and what
//! parses also builds or is refused without panicking. `${VAR}` substitution agrees with a
//! reference model, and phone references parse and print back.
//!
//! Cases per property: 256 by default, `PROPTEST_CASES` to change.
#![cfg(all(feature = "geelark", feature = "huawei-cph"))]

use std::str::FromStr;

use cloudphone::geelark::GeelarkConfig;
use cloudphone::{Config, ConfigError, PhoneRef};
use proptest::collection::vec;
use proptest::prelude::*;

/// The README's example with every auth mode, secrets as `${VAR}`s.
const GOOD: &str = r#"
[providers.gl]
type = "geelark"
base_url = "https://openapi.geelark.com"
app_id = "YOUR_APP_ID"
api_key = "${GEELARK_API_KEY}"

[providers.gl-token]
type = "geelark"
token = "${GEELARK_TOKEN}"
batch_size = 100
rate_limit_per_minute = 120

[providers.hw]
type = "huawei-cph"
region = "cn-east-3"
project_id = "0123456789abcdef0123456789abcdef"
access_key = "${HW_AK}"
secret_key = "${HW_SK}"

[providers.hw-token]
type = "huawei-cph"
region = "cn-east-3"
project_id = "0123456789abcdef0123456789abcdef"
token = "${HW_TOKEN}"

[providers.hw-iam]
type = "huawei-cph"
region = "cn-east-3"
project_id = "0123456789abcdef0123456789abcdef"
username = "${HW_USER}"
password = "${HW_PASSWORD}"
domain = "${HW_DOMAIN}"
token_refresh_margin_secs = 300
"#;

const NAMES: [&str; 5] = ["gl", "gl-token", "hw", "hw-token", "hw-iam"];

fn env(var: &str) -> Option<String> {
    match var {
        "GEELARK_API_KEY" | "GEELARK_TOKEN" | "HW_AK" | "HW_SK" | "HW_TOKEN" | "HW_USER"
        | "HW_PASSWORD" | "HW_DOMAIN" => Some(format!("v-{var}")),
        "A" => Some("1".into()),
        "EMPTY" => Some(String::new()),
        // Values are not expanded again: this stays literal.
        "B" => Some("${A}".into()),
        "D" => Some("$$".into()),
        _ => None,
    }
}

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(256);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Parses `doc` and builds every provider it names: each step returns, none panics.
fn parse_and_build(doc: &str) -> Result<(), TestCaseError> {
    match Config::from_toml_str_with_env(doc, &env) {
        Ok(config) => {
            for name in config.providers().keys() {
                if let Err(e) = config.build(name) {
                    prop_assert!(
                        matches!(&e, ConfigError::Invalid { provider, .. } if provider == name),
                        "{e:?}"
                    );
                }
            }
        }
        Err(e) => {
            let provider = match &e {
                ConfigError::MissingType { provider, .. }
                | ConfigError::UnknownType { provider, .. }
                | ConfigError::MissingEnv { provider, .. }
                | ConfigError::Invalid { provider, .. } => Some(provider),
                _ => None,
            };
            if let Some(p) = provider {
                // Names are checked before anything else is read, so an error about a
                // provider names a valid one.
                let valid = !p.is_empty()
                    && p.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
                prop_assert!(valid, "{e:?}");
            }
            prop_assert!(!e.to_string().is_empty());
        }
    }
    Ok(())
}

/// Fragments that make random text look like a configuration.
const FRAGMENTS: &[&str] = &[
    "[providers.",
    "[providers]",
    "]",
    "[[",
    "\n",
    " = ",
    "=",
    "type",
    "\"geelark\"",
    "\"huawei-cph\"",
    "\"fake\"",
    "gl",
    "hw",
    "\"",
    "'",
    "\"\"\"",
    "${",
    "}",
    "$$",
    "$",
    "A",
    "NOPE",
    "token",
    "app_id",
    "api_key",
    "region",
    "project_id",
    "endpoint",
    "base_url",
    "batch_size",
    "concurrency",
    "timeout_secs",
    "token_refresh_margin_secs",
    "retry_min_delay_ms",
    "retry_max_delay_ms",
    "0",
    "-1",
    "9223372036854775807",
    "18446744073709551616",
    "1e400",
    "nan",
    "inf",
    "true",
    "[1, 2]",
    "{ a = 1 }",
    "1979-05-27T07:32:00Z",
    "#",
    ".",
    "\\u0000",
    "é",
    "\t",
];

/// A hostile TOML value of any type.
fn toml_value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        proptest::sample::select(
            &[
                "0",
                "-1",
                "1",
                "9223372036854775807",
                "-9223372036854775808",
                "4294967296",
                "65536",
                "1e308",
                "nan",
                "-inf",
                "0.5",
                "true",
                "false",
                "[]",
                "[\"a\", 1]",
                "{}",
                "{ a = { b = [1] } }",
                "1979-05-27T07:32:00Z",
                "07:32:00",
                "\"\"",
                "\" \"",
                "\"${A}\"",
                "\"${NOPE}\"",
                "\"${\"",
                "\"$${A}\"",
                "\"cn-east-3/../x\"",
                "\"http://127.0.0.1:1\"",
                "\"not a url\"",
                "\"https://[::1\"",
                "\"\\u0000\"",
                "\"é\"",
            ][..]
        )
        .prop_map(str::to_owned),
        ".{0,16}".prop_map(|s| toml::Value::String(s).to_string()),
        (1usize..40).prop_map(|d| format!("{}1{}", "[".repeat(d), "]".repeat(d))),
    ]
}

#[derive(Debug, Clone)]
enum Edit {
    /// Replace the value of line `n` (a `key = value` line) by a hostile one.
    Value(usize, String),
    /// Delete line `n`.
    DropLine(usize),
    /// Insert a fragment at character `n`.
    Insert(usize, &'static str),
    /// Cut the document at character `n`.
    Truncate(usize),
    /// Delete `len` characters at `n`.
    Delete(usize, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        4 => (any::<usize>(), toml_value()).prop_map(|(n, v)| Edit::Value(n, v)),
        1 => any::<usize>().prop_map(Edit::DropLine),
        2 => (any::<usize>(), proptest::sample::select(FRAGMENTS)).prop_map(|(n, f)| Edit::Insert(n, f)),
        1 => any::<usize>().prop_map(Edit::Truncate),
        1 => (any::<usize>(), 1usize..12).prop_map(|(n, l)| Edit::Delete(n, l)),
    ]
}

fn apply(doc: &str, e: &Edit) -> String {
    let mut chars: Vec<char> = doc.chars().collect();
    let at = |n: usize, len: usize| n % (len + 1);
    match e {
        Edit::Value(n, v) => {
            let lines: Vec<&str> = doc.lines().collect();
            let with_value: Vec<usize> = (0..lines.len())
                .filter(|&i| lines[i].contains(" = "))
                .collect();
            if with_value.is_empty() {
                return doc.to_owned();
            }
            let target = with_value[n % with_value.len()];
            lines
                .iter()
                .enumerate()
                .map(|(i, l)| match l.split_once(" = ") {
                    Some((k, _)) if i == target => format!("{k} = {v}"),
                    _ => (*l).to_owned(),
                })
                .collect::<Vec<_>>()
                .join("\n")
        }
        Edit::DropLine(n) => {
            let mut lines: Vec<&str> = doc.lines().collect();
            if !lines.is_empty() {
                let i = n % lines.len();
                lines.remove(i);
            }
            lines.join("\n")
        }
        Edit::Insert(n, f) => {
            let i = at(*n, chars.len());
            chars.splice(i..i, f.chars());
            chars.into_iter().collect()
        }
        Edit::Truncate(n) => {
            chars.truncate(at(*n, chars.len()));
            chars.into_iter().collect()
        }
        Edit::Delete(n, len) => {
            let i = at(*n, chars.len());
            let end = (i + len).min(chars.len());
            chars.drain(i..end);
            chars.into_iter().collect()
        }
    }
}

/// The specification of `${VAR}` substitution, written independently of the parser's: `$$`
/// is a `$`, `${NAME}` the variable's value (not expanded again), any other `$` itself;
/// `Err` for an unset variable or an unterminated `${`.
fn model(s: &str) -> Result<String, ()> {
    let c: Vec<char> = s.chars().collect();
    let (mut out, mut i) = (String::new(), 0);
    while i < c.len() {
        match (c[i], c.get(i + 1)) {
            ('$', Some('$')) => {
                out.push('$');
                i += 2;
            }
            ('$', Some('{')) => {
                let close = (i + 2..c.len()).find(|&j| c[j] == '}').ok_or(())?;
                let name: String = c[i + 2..close].iter().collect();
                out.push_str(&env(&name).ok_or(())?);
                i = close + 1;
            }
            (ch, _) => {
                out.push(ch);
                i += 1;
            }
        }
    }
    Ok(out)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_text_never_panics(doc in any::<String>()) {
        parse_and_build(&doc)?;
    }

    #[test]
    fn token_soup_never_panics(parts in vec(proptest::sample::select(FRAGMENTS), 0..60)) {
        parse_and_build(&parts.concat())?;
    }

    #[test]
    fn mutated_good_configs_never_panic(edits in vec(edit(), 1..5)) {
        let doc = edits.iter().fold(GOOD.to_owned(), |d, e| apply(&d, e));
        parse_and_build(&doc)?;
    }

    #[test]
    fn each_key_of_each_provider_takes_any_value(
        provider in proptest::sample::select(&["geelark", "huawei-cph"][..]),
        key in proptest::sample::select(&[
            "base_url", "app_id", "api_key", "token", "batch_size", "status_batch_size",
            "concurrency", "rate_limit_per_minute", "rate_limit_per_hour", "max_retries",
            "retry_min_delay_ms", "retry_max_delay_ms", "timeout_secs", "connect_timeout_secs",
            "region", "endpoint", "project_id", "access_key", "secret_key", "security_token",
            "username", "password", "domain", "iam_endpoint", "token_refresh_margin_secs",
            "rate_limit_per_second", "status_strategy", "max_body_bytes", "type", "nope",
        ][..]),
        value in toml_value(),
    ) {
        let base = match provider {
            "geelark" => "type = \"geelark\"\ntoken = \"t\"\n",
            _ => "type = \"huawei-cph\"\nregion = \"cn-east-3\"\nproject_id = \"p\"\n",
        };
        // A repeated key is a TOML error; the value then goes under another table name.
        parse_and_build(&format!("[providers.x]\n{base}{key} = {value}\n"))?;
        parse_and_build(&format!("[providers.x]\n{base}[providers.x.{key}]\nv = {value}\n"))?;
    }

    #[test]
    fn substitution_follows_the_model(
        parts in vec(proptest::sample::select(
            &["$", "{", "}", "A", "B", "D", "EMPTY", "NOPE", "x", "é", " ", "$$", "${"][..]
        ), 0..12),
    ) {
        let s = parts.concat();
        let doc = format!(
            "[providers.g]\ntype = \"geelark\"\ntoken = \"t\"\napp_id = {}\n",
            toml::Value::String(s.clone())
        );
        let parsed = Config::from_toml_str_with_env(&doc, &env);
        match (model(&s), parsed) {
            (Ok(want), Ok(cfg)) => match cfg.providers()["g"].get::<GeelarkConfig>() {
                Some(g) => prop_assert_eq!(g.app_id.as_deref(), Some(want.as_str())),
                None => prop_assert!(false, "{:?}", cfg.providers()["g"]),
            },
            (Err(()), Err(ConfigError::MissingEnv { provider, key, .. })) => {
                prop_assert_eq!((provider.as_str(), key.as_str()), ("g", "app_id"));
            }
            (want, got) => prop_assert!(false, "{s:?}: model {want:?}, parser {got:?}"),
        }
    }

    #[test]
    fn phone_references_parse_or_are_refused(s in any::<String>()) {
        match PhoneRef::from_str(&s) {
            Ok(r) => {
                prop_assert!(!r.provider.is_empty() && !r.provider.contains('/'));
                prop_assert!(!r.phone.as_str().is_empty());
                prop_assert_eq!(r.to_string(), s.clone());
                prop_assert_eq!(PhoneRef::from_str(&r.to_string()).ok(), Some(r));
            }
            Err(_) => prop_assert!(
                s.split_once('/').is_none_or(|(p, id)| p.is_empty() || id.is_empty())
            ),
        }
    }

    #[test]
    fn phone_references_keep_any_id(name in "[A-Za-z0-9._-]{1,12}", id in ".{1,40}") {
        let r = PhoneRef::from_str(&format!("{name}/{id}")).unwrap();
        prop_assert_eq!(r, PhoneRef::new(name, id.as_str()));
    }
}

#[test]
fn the_good_config_parses_and_builds() {
    let config = Config::from_toml_str_with_env(GOOD, &env).unwrap();
    assert_eq!(
        config
            .providers()
            .keys()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        {
            let mut n = NAMES.to_vec();
            n.sort_unstable();
            n
        }
    );
    for name in NAMES {
        config.build(name).unwrap();
    }
}

#[test]
fn substitution_edge_cases() {
    let app_id = |v: &str| {
        let doc = format!(
            "[providers.g]\ntype = \"geelark\"\ntoken = \"t\"\napp_id = {}\n",
            toml::Value::String(v.to_owned())
        );
        Config::from_toml_str_with_env(&doc, &env).map(|c| {
            let g = c.providers()["g"]
                .get::<GeelarkConfig>()
                .expect("a GeeLark config");
            g.app_id.clone().unwrap()
        })
    };
    assert_eq!(app_id("${A}${A}").unwrap(), "11");
    assert_eq!(app_id("$${A}").unwrap(), "${A}");
    assert_eq!(
        app_id("${B}").unwrap(),
        "${A}",
        "values are not expanded again"
    );
    assert_eq!(app_id("${D}").unwrap(), "$$");
    assert_eq!(app_id("${EMPTY}x").unwrap(), "x");
    assert_eq!(app_id("a$").unwrap(), "a$");
    assert_eq!(app_id("$A").unwrap(), "$A");
    assert_eq!(app_id("}{").unwrap(), "}{");
    for bad in ["${", "${A", "${}", "${NOPE}", "x${A}${", "${${A}}"] {
        let e = app_id(bad).unwrap_err();
        assert!(
            matches!(&e, ConfigError::MissingEnv { provider, key, .. } if provider == "g" && key == "app_id"),
            "{bad}: {e:?}"
        );
    }
}

/// A secret with a shape no message text has by chance.
fn secret() -> impl Strategy<Value = String> {
    "[A-Za-z0-9]{6,14}".prop_map(|s| format!("Zq{s}Xj"))
}

/// Every error from parsing and building `doc`, as displayed and as `Debug`.
fn all_errors(doc: &str, env: &dyn Fn(&str) -> Option<String>) -> String {
    match Config::from_toml_str_with_env(doc, env) {
        Err(e) => format!("{e}\n{e:?}"),
        Ok(config) => config
            .providers()
            .keys()
            .filter_map(|name| config.build(name).err())
            .map(|e| format!("{e}\n{e:?}\n"))
            .collect(),
    }
}

proptest! {
    #![proptest_config(config())]

    /// Whatever key a `${VAR}` feeds and whatever its value, no error quotes the value.
    #[test]
    fn no_error_quotes_a_variables_value(
        provider in proptest::sample::select(&["geelark", "huawei-cph", "fake"][..]),
        key in proptest::sample::select(&[
            "base_url", "app_id", "api_key", "token", "batch_size", "status_batch_size",
            "concurrency", "rate_limit_per_minute", "timeout_secs", "region", "endpoint",
            "project_id", "access_key", "secret_key", "username", "domain", "iam_endpoint",
            "status_strategy", "phones", "nope",
        ][..]),
        template in proptest::sample::select(&[
            "\"${S}\"", "\"x${S}y\"", "\"https://${S}/\"", "\"http://${S}:1\"", "[\"${S}\"]",
            "{ a = \"${S}\" }", "\"${S}${S}\"",
        ][..]),
        secret in secret(),
    ) {
        let base = match provider {
            "geelark" => "type = \"geelark\"\ntoken = \"t\"\n",
            "huawei-cph" => "type = \"huawei-cph\"\nregion = \"cn-east-3\"\nproject_id = \"p\"\ntoken = \"t\"\n",
            _ => "type = \"fake\"\n",
        };
        let env = |v: &str| (v == "S").then(|| secret.clone());
        let errors = all_errors(&format!("[providers.x]\n{base}{key} = {template}\n"), &env);
        prop_assert!(!errors.contains(&secret), "{errors}");
    }
}

#[test]
fn a_type_error_shows_the_variable_not_its_value() {
    let env = |v: &str| (v == "TOKEN").then(|| "secret".to_owned());
    for (provider, base) in [
        ("geelark", "token = \"t\"\n"),
        (
            "huawei-cph",
            "region = \"cn-east-3\"\nproject_id = \"p\"\ntoken = \"t\"\n",
        ),
    ] {
        let doc =
            format!("[providers.x]\ntype = \"{provider}\"\n{base}batch_size = \"${{TOKEN}}\"\n");
        let e = Config::from_toml_str_with_env(&doc, &env).unwrap_err();
        let msg = e.to_string();
        assert!(!msg.contains("secret"), "{msg}");
        assert!(!format!("{e:?}").contains("secret"), "{e:?}");
        assert!(
            msg.contains("`x`") && msg.contains("`batch_size`") && msg.contains("\"${TOKEN}\""),
            "{msg}"
        );
    }
    // Part of a value: the same.
    let doc = "[providers.x]\ntype = \"geelark\"\ntoken = \"t\"\nconcurrency = \"a-${TOKEN}-b\"\n";
    let msg = Config::from_toml_str_with_env(doc, &env)
        .unwrap_err()
        .to_string();
    assert!(!msg.contains("secret") && msg.contains("${TOKEN}"), "{msg}");
    // A value that is written out is quoted as it is: only expansions are taken back.
    let doc = "[providers.x]\ntype = \"geelark\"\ntoken = \"t\"\nconcurrency = \"plain\"\n";
    let msg = Config::from_toml_str_with_env(doc, &env)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("\"plain\""), "{msg}");
}

/// A file of `contents` in a fresh directory, removed on drop.
struct TempFile(std::path::PathBuf);

impl TempFile {
    fn dir(name: &str) -> TempFile {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "cloudphone-config-props-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempFile(dir.join(name))
    }

    fn with(name: &str, contents: &str) -> TempFile {
        let f = TempFile::dir(name);
        std::fs::write(&f.0, contents).unwrap();
        f
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(dir) = self.0.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

#[test]
fn a_syntax_error_names_the_file_line_and_key() {
    let f = TempFile::with(
        "cp.toml",
        "[providers.gl]\ntype = \"geelark\"\napi_key = \"s3cr3t\ntoken = \"t\"\n",
    );
    let e = Config::from_path(&f.0).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, ConfigError::Syntax(_)), "{e:?}");
    assert!(msg.contains(&f.0.display().to_string()), "{msg}");
    assert!(
        msg.contains("line 3") && msg.contains("key `api_key`"),
        "{msg}"
    );
    assert!(msg.contains("[providers.gl]"), "{msg}");
    assert!(!msg.contains("s3cr3t"), "{msg}");
    // The line number counts lines, wherever the error is.
    let f = TempFile::with(
        "cp.toml",
        "# a\n\n[providers.gl]\ntype = \"geelark\"\n\n\ntimeout_secs = = 3\n",
    );
    let msg = Config::from_path(&f.0).unwrap_err().to_string();
    assert!(
        msg.contains("line 7") && msg.contains("key `timeout_secs`"),
        "{msg}"
    );
}

#[test]
fn an_oversized_configuration_file_is_refused_without_reading_it() {
    let f = TempFile::dir("big.toml");
    let file = std::fs::File::create(&f.0).unwrap();
    // Sparse: a file this large costs nothing on disk.
    file.set_len(cloudphone::config::MAX_CONFIG_BYTES + 1)
        .unwrap();
    let msg = Config::from_path(&f.0).unwrap_err().to_string();
    assert!(
        msg.contains(&f.0.display().to_string()) && msg.contains("4 MiB"),
        "{msg}"
    );
    // At the cap exactly it is read (and here is not TOML: NUL bytes).
    file.set_len(cloudphone::config::MAX_CONFIG_BYTES).unwrap();
    let e = Config::from_path(&f.0).unwrap_err();
    assert!(!e.to_string().contains("MiB"), "{e}");
}

#[test]
fn a_directory_is_refused() {
    let f = TempFile::dir("x");
    let dir = f.0.parent().unwrap();
    let e = Config::from_path(dir).unwrap_err();
    assert!(
        matches!(&e, ConfigError::Read { message, .. } if message.contains("not a regular file")),
        "{e}"
    );
}

#[cfg(unix)]
#[test]
fn a_fifo_is_refused_instead_of_blocking() {
    let f = TempFile::dir("fifo.toml");
    let made = std::process::Command::new("mkfifo").arg(&f.0).status();
    if !made.is_ok_and(|s| s.success()) {
        eprintln!("skipped: mkfifo is not available");
        return;
    }
    let path = f.0.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(Config::from_path(&path).map(|_| ()));
    });
    let got = rx
        .recv_timeout(std::time::Duration::from_secs(20))
        .expect("reading a FIFO as configuration blocked");
    let e = got.unwrap_err();
    assert!(
        matches!(&e, ConfigError::Read { message, .. } if message.contains("FIFO")),
        "{e}"
    );
}

mod plain_http {
    use std::sync::{Arc, Mutex};

    use cloudphone::Config;
    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Level, Metadata, Subscriber};

    /// Collects the messages of WARN events.
    #[derive(Clone, Default)]
    struct Warnings(Arc<Mutex<Vec<String>>>);

    struct Message<'a>(&'a mut String);

    impl Visit for Message<'_> {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            if field.name() == "message" {
                self.0.push_str(&format!("{value:?}"));
            }
        }
    }

    impl Subscriber for Warnings {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &Attributes<'_>) -> Id {
            Id::from_u64(1)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, event: &Event<'_>) {
            if *event.metadata().level() == Level::WARN {
                let mut m = String::new();
                event.record(&mut Message(&mut m));
                self.0.lock().unwrap().push(m);
            }
        }
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }

    fn warnings(doc: &str) -> Vec<String> {
        let w = Warnings::default();
        tracing::subscriber::with_default(w.clone(), || {
            Config::from_toml_str_with_env(doc, &|_| Some("h".into())).unwrap();
        });
        let got = w.0.lock().unwrap().clone();
        got
    }

    const GL: &str = "[providers.gl]\ntype = \"geelark\"\ntoken = \"t\"\n";
    const HW: &str =
        "[providers.hw]\ntype = \"huawei-cph\"\nregion = \"cn-east-3\"\nproject_id = \"p\"\ntoken = \"t\"\n";

    #[test]
    fn plain_http_off_loopback_draws_a_warning_naming_the_provider() {
        let w = warnings(&format!("{GL}base_url = \"http://10.1.2.3:8081\"\n"));
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("`gl`") && w[0].contains("base_url"), "{w:?}");
        // The URL itself is not logged.
        assert!(!w[0].contains("10.1.2.3"), "{w:?}");

        let w = warnings(&format!(
            "{HW}endpoint = \"http://cph.example\"\niam_endpoint = \"http://${{H}}.example/v3\"\n"
        ));
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w.iter().all(|m| m.contains("`hw`")), "{w:?}");
        assert!(w.iter().any(|m| m.contains("iam_endpoint")), "{w:?}");
    }

    #[test]
    fn https_and_loopback_draw_none() {
        for url in [
            "https://openapi.geelark.com",
            "http://127.0.0.1:8081",
            "http://localhost:1",
            "http://[::1]:2",
        ] {
            let w = warnings(&format!("{GL}base_url = \"{url}\"\n"));
            assert!(w.is_empty(), "{url}: {w:?}");
            let w = warnings(&format!("{HW}endpoint = \"{url}\"\n"));
            assert!(w.is_empty(), "{url}: {w:?}");
        }
        // Huawei's defaults, built from the region, are https.
        assert!(warnings(HW).is_empty());
    }
}
