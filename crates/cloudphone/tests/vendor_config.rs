//! Vendor configurations through the facade: good documents build, bad ones name provider and
//! key, and no secret is ever shown.

use cloudphone::{Config, ConfigError};

const SECRETS: [&str; 5] = [
    "gl-api-key-SECRET",
    "gl-token-SECRET",
    "hw-sk-SECRET",
    "hw-password-SECRET",
    "hw-token-SECRET",
];

fn env(var: &str) -> Option<String> {
    Some(
        match var {
            "GEELARK_API_KEY" => SECRETS[0],
            "GEELARK_TOKEN" => SECRETS[1],
            "HW_SK" => SECRETS[2],
            "HW_PASSWORD" => SECRETS[3],
            "HW_TOKEN" => SECRETS[4],
            "HW_AK" => "hw-access-key",
            _ => return None,
        }
        .to_owned(),
    )
}

fn parse(doc: &str) -> Result<Config, ConfigError> {
    Config::from_toml_str_with_env(doc, &env)
}

fn assert_no_secret(what: &str, text: &str) {
    for s in SECRETS {
        assert!(!text.contains(s), "{what} shows a secret: {text}");
    }
}

#[cfg(feature = "geelark")]
mod geelark {
    use super::*;

    const GOOD: &str = r#"
        [providers.gl]
        type = "geelark"
        base_url = "https://openapi.geelark.cn"
        app_id = "APP"
        api_key = "${GEELARK_API_KEY}"

        [providers.gl2]
        type = "geelark"
        token = "${GEELARK_TOKEN}"
        rate_limit_per_minute = 60
        batch_size = 50
    "#;

    #[test]
    fn good_configs_build_and_hide_their_secrets() {
        let cfg = parse(GOOD).unwrap();
        assert_no_secret("Debug of Config", &format!("{cfg:?}"));
        for name in ["gl", "gl2"] {
            let p = cfg.build(name).unwrap();
            assert_eq!(p.vendor(), "geelark");
            assert_no_secret("Debug of provider", &format!("{p:?}"));
        }
        let caps = cfg.build("gl2").unwrap().capabilities().clone();
        assert_eq!(
            caps.batch_sizes.get(&cloudphone::Operation::Stop),
            Some(&50)
        );
    }

    #[test]
    fn missing_credentials_are_named() {
        let cfg = parse("[providers.gl]\ntype = \"geelark\"\n").unwrap();
        let e = cfg.build("gl").unwrap_err().to_string();
        assert!(
            e.contains("`gl`") && e.contains("api_key") && e.contains("token"),
            "{e}"
        );
        let cfg = parse("[providers.gl]\ntype = \"geelark\"\napi_key = \"${GEELARK_API_KEY}\"\n")
            .unwrap();
        let e = cfg.build("gl").unwrap_err().to_string();
        assert!(e.contains("`gl`") && e.contains("app_id"), "{e}");
        assert_no_secret("error", &e);
    }

    #[test]
    fn unknown_key_and_missing_variable_are_named() {
        let e = parse("[providers.gl]\ntype = \"geelark\"\napp_key = \"x\"\n").unwrap_err();
        assert!(
            e.to_string().contains("`gl`") && e.to_string().contains("`app_key`"),
            "{e}"
        );
        let e = parse("[providers.gl]\ntype = \"geelark\"\ntoken = \"${NOT_SET_ANYWHERE}\"\n")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "provider `gl`: key `token`: environment variable `NOT_SET_ANYWHERE` is not set"
        );
    }
}

#[cfg(feature = "huawei-cph")]
mod huawei {
    use super::*;

    const GOOD: &str = r#"
        [providers.aksk]
        type = "huawei-cph"
        region = "cn-east-3"
        project_id = "0123456789abcdef0123456789abcdef"
        access_key = "${HW_AK}"
        secret_key = "${HW_SK}"

        [providers.tok]
        type = "huawei-cph"
        region = "cn-east-3"
        project_id = "0123456789abcdef0123456789abcdef"
        endpoint = "https://cph.example.test"
        token = "${HW_TOKEN}"

        [providers.iam]
        type = "huawei-cph"
        region = "cn-east-3"
        project_id = "0123456789abcdef0123456789abcdef"
        iam_endpoint = "https://iam.example.test"
        username = "alice"
        password = "${HW_PASSWORD}"
        domain = "acme"
    "#;

    #[test]
    fn good_configs_build_and_hide_their_secrets() {
        let cfg = parse(GOOD).unwrap();
        assert_no_secret("Debug of Config", &format!("{cfg:?}"));
        for name in ["aksk", "tok", "iam"] {
            let p = cfg.build(name).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(p.vendor(), "huawei-cph");
            assert_no_secret("Debug of provider", &format!("{p:?}"));
        }
    }

    #[test]
    fn missing_keys_are_named() {
        let e =
            parse("[providers.hw]\ntype = \"huawei-cph\"\nregion = \"cn-east-3\"\ntoken = \"t\"\n")
                .map(|c| c.build("hw").map(|_| ()))
                .map_err(|e| e.to_string());
        let msg = match e {
            Err(m) => m,
            Ok(Err(e)) => e.to_string(),
            Ok(Ok(())) => panic!("a config without project_id was accepted"),
        };
        assert!(msg.contains("`hw`") && msg.contains("project_id"), "{msg}");

        let cfg = parse(
            "[providers.hw]\ntype = \"huawei-cph\"\nregion = \"r\"\nproject_id = \"p\"\naccess_key = \"${HW_AK}\"\n",
        )
        .unwrap();
        let e = cfg.build("hw").unwrap_err().to_string();
        assert!(e.contains("`hw`") && e.contains("secret_key"), "{e}");
    }
}
