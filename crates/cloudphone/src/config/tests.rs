//! Unit tests of the configuration internals.

use super::expand::*;
use super::file::*;
use super::syntax::*;
use super::url::*;
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
