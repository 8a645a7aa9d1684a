//! Configuration: the keys, their defaults and checks, the site endpoints, the registry entry.

use cloudphone_alibaba::{vendor, AlibabaConfig, AlibabaProvider, CheckStates, SITES};
use cloudphone_core::registry::Vendor;
use cloudphone_core::{CloudPhoneProvider, ErrorKind, Operation, RateBudget};

fn parse(doc: &str) -> Result<AlibabaConfig, toml::de::Error> {
    toml::from_str(doc)
}

#[test]
fn the_documented_table_parses_with_defaults() {
    let c = parse(
        r#"
        site = "cn-shanghai"
        access_key = "LTAI-x"
        secret_key = "sk-secret-value"
        security_token = "sts-token-value"
        region = "cn-hangzhou"
        "#,
    )
    .unwrap();
    assert_eq!((c.batch_size, c.rate_limit_per_second), (100, 10));
    assert_eq!(c.check_states, CheckStates::OnRefusal);
    assert!(!c.force_stop && c.reimage_enabled());
    assert_eq!(
        c.endpoint_url().as_deref(),
        Some("https://eds-aic.cn-shanghai.aliyuncs.com")
    );
    assert_eq!((c.concurrency, c.max_retries, c.timeout_secs), (4, 4, 30));
    let shown = format!("{c:?}");
    assert!(
        !shown.contains("sk-secret-value") && !shown.contains("sts-token-value"),
        "{shown}"
    );
    let p = AlibabaProvider::new(c).unwrap();
    let caps = p.capabilities();
    assert_eq!(caps.rate_limits, vec![RateBudget::per_second(10)]);
    assert_eq!(caps.batch_sizes[&Operation::Reset], 100);
}

#[test]
fn check_states_takes_its_three_names_and_the_old_booleans() {
    let with = |v: &str| {
        parse(&format!(
            "access_key = 'a'\nsecret_key = 's'\ncheck_states = {v}"
        ))
    };
    for (v, want) in [
        ("'on-refusal'", CheckStates::OnRefusal),
        ("'first'", CheckStates::First),
        ("' never '", CheckStates::Never),
        ("true", CheckStates::First),
        ("false", CheckStates::Never),
    ] {
        assert_eq!(with(v).unwrap().check_states, want, "{v}");
    }
    for v in ["'always'", "1"] {
        let e = with(v).unwrap_err().to_string();
        assert!(
            e.contains("check_states") && e.contains("\"on-refusal\", \"first\", \"never\""),
            "{v}: {e}"
        );
    }
    let c = AlibabaConfig::default().with_check_states(CheckStates::Never);
    assert_eq!(c.with_check_states(true).check_states, CheckStates::First);
}

#[test]
fn the_international_site_has_its_endpoint_and_no_reimage() {
    let c = AlibabaConfig::new("ap-southeast-1", "LTAI-x", "sk".to_owned());
    assert_eq!(
        c.endpoint_url().as_deref(),
        Some("https://eds-aic.ap-southeast-1.aliyuncs.com")
    );
    assert!(!c.reimage_enabled());
    assert!(c.clone().with_reimage(true).reimage_enabled());
    assert_eq!(SITES.len(), 2);
    let c = c.with_endpoint("http://127.0.0.1:1");
    assert_eq!(c.endpoint_url().as_deref(), Some("http://127.0.0.1:1"));
}

#[test]
fn unknown_keys_and_bad_values_are_named() {
    let e = parse("access_key = 'a'\nsecret_key = 's'\nbatchsize = 5")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("unknown field `batchsize`") && e.contains("`batch_size`"),
        "{e}"
    );
    let cases = [
        ("site = 'cn-hangzhou'", "`site`"),
        ("endpoint = 'ftp://x'", "`endpoint`"),
        ("endpoint = 'https://u:p@x'", "`endpoint`"),
        ("endpoint = 'https://x/?a=1'", "`endpoint`"),
        ("batch_size = 0", "`batch_size`"),
        ("batch_size = 101", "`batch_size`"),
        ("region = 'cn hangzhou'", "`region`"),
        ("security_token = 'a b'", "`security_token`"),
        ("concurrency = 65", "`concurrency`"),
    ];
    for (line, key) in cases {
        let c = parse(&format!("access_key = 'a'\nsecret_key = 's'\n{line}")).unwrap();
        let e = AlibabaProvider::new(c).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config, "{line}");
        assert!(e.message().contains(key), "{line}: {e}");
    }
    for doc in [
        "secret_key = 's'",
        "access_key = 'a'",
        "access_key = 'a'\nsecret_key = ''",
    ] {
        let e = AlibabaProvider::new(parse(doc).unwrap()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config, "{doc}");
    }
}

#[test]
fn the_registry_entry_parses_builds_and_names_its_secrets() {
    let v = vendor();
    assert_eq!(v.type_name(), "alibaba");
    assert_eq!(v.secret_keys(), ["secret_key", "security_token"]);
    let table: toml::Table = toml::from_str(
        "access_key = 'a'\nsecret_key = 's3cret-value'\nendpoint = 'http://10.0.0.1:9'",
    )
    .unwrap();
    let c = v.parse(table).unwrap();
    assert_eq!(c.urls(), vec![("endpoint", "http://10.0.0.1:9".to_owned())]);
    assert!(!format!("{c:?}").contains("s3cret-value"));
    let p = c.build().unwrap();
    assert_eq!(p.vendor(), "alibaba");
    let typed = c.as_any().downcast_ref::<AlibabaConfig>().unwrap();
    assert_eq!(typed.site, "cn-shanghai");
    let bad: toml::Table = toml::from_str("access_key = 'a'\nsecret = 's'").unwrap();
    assert!(v.parse(bad).unwrap_err().to_string().contains("`secret`"));
}
