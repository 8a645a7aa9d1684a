//! Configuration: good documents, and every bad case with a message naming provider and key.
#![cfg(feature = "fake")]

use cloudphone::{Config, ConfigError, Fleet};

fn env(var: &str) -> Option<String> {
    match var {
        "PHONES" => Some("not-a-number".into()),
        "SECRET" => Some("s3cr3t-value".into()),
        _ => None,
    }
}

fn parse(doc: &str) -> Result<Config, ConfigError> {
    Config::from_toml_str_with_env(doc, &env)
}

#[tokio::test]
async fn a_fake_provider_is_built_from_toml() {
    let cfg = parse("[providers.lab]\ntype = \"fake\"\nphones = 4\n").unwrap();
    assert_eq!(cfg.providers()["lab"].kind(), "fake");
    let fleet = Fleet::from_config(&cfg).unwrap();
    let p = fleet.get("lab").unwrap();
    let report = p.status(&["fake-3".into(), "fake-4".into()]).await.unwrap();
    assert_eq!(report.summary().succeeded, 1);
    assert_eq!(report.summary().failed, 1);
}

#[test]
fn missing_type_names_the_provider_and_key() {
    let e = parse("[providers.lab]\nphones = 4\n").unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, ConfigError::MissingType { .. }));
    assert!(msg.contains("`lab`") && msg.contains("`type`"), "{msg}");
}

#[test]
fn unknown_type_names_it_and_the_known_ones() {
    let e = parse("[providers.x]\ntype = \"nokia\"\n").unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("`x`") && msg.contains("`nokia`"), "{msg}");
    assert!(
        msg.contains("geelark") && msg.contains("huawei-cph"),
        "{msg}"
    );
}

#[test]
fn unknown_key_is_named() {
    let e = parse("[providers.lab]\ntype = \"fake\"\nphonez = 4\n").unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("`lab`") && msg.contains("unknown key `phonez`"),
        "{msg}"
    );
}

#[test]
fn missing_environment_variable_is_named_with_provider_and_key() {
    let e = parse("[providers.lab]\ntype = \"fake\"\nnote = \"${NOPE}\"\n").unwrap_err();
    assert_eq!(
        e,
        ConfigError::MissingEnv {
            provider: "lab".into(),
            key: "note".into(),
            var: "NOPE".into()
        }
    );
    assert_eq!(
        e.to_string(),
        "provider `lab`: key `note`: environment variable `NOPE` is not set"
    );
}

#[test]
fn substituted_values_are_type_checked() {
    // `${PHONES}` becomes a string, and `phones` wants a number.
    let e = parse("[providers.lab]\ntype = \"fake\"\nphones = \"${PHONES}\"\n").unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("`lab`"), "{msg}");
    assert!(!msg.contains("s3cr3t"), "{msg}");
}

#[test]
fn bad_documents_are_rejected_clearly() {
    let e = parse("providers = 3").unwrap_err();
    assert!(e.to_string().contains("[providers.NAME]"), "{e}");
    let e = parse("[other]\nx=1").unwrap_err();
    assert!(
        e.to_string().contains("unknown top-level key `other`"),
        "{e}"
    );
    let e = parse("[providers.\"a/b\"]\ntype=\"fake\"").unwrap_err();
    assert!(e.to_string().contains("`a/b`"), "{e}");
    let e = parse("[providers.lab\ntype=").unwrap_err();
    assert!(matches!(e, ConfigError::Syntax(_)), "{e}");
}

#[test]
fn an_unknown_provider_name_is_named() {
    let cfg = parse("[providers.lab]\ntype = \"fake\"\n").unwrap();
    let e = cfg.build("lib").unwrap_err();
    assert_eq!(e.to_string(), "unknown provider `lib` (configured: lab)");
}
