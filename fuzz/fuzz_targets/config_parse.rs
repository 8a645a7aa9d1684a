//! The configuration parser, `${VAR}` substitution and phone references on arbitrary text.
//! The first byte chooses what the rest is; any panic is a bug.
#![no_main]

use std::str::FromStr;

use cloudphone::{Config, PhoneRef};
use libfuzzer_sys::fuzz_target;

fn env(var: &str) -> Option<String> {
    match var {
        "A" => Some("value".into()),
        "EMPTY" => Some(String::new()),
        "DOLLAR" => Some("${A}$$".into()),
        "NUM" => Some("12".into()),
        _ => None,
    }
}

/// Parses `doc` and, when it parses, validates and builds every provider it names.
fn parse_and_build(doc: &str) {
    if let Ok(config) = Config::from_toml_str_with_env(doc, &env) {
        for name in config.providers().keys() {
            let _ = config.build(name);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((which, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    match which % 4 {
        0 | 1 => parse_and_build(&text),
        2 => {
            // The text as a value and as a key of a geelark provider: exercises substitution
            // and the typed decoding of every key.
            let quoted = toml_quote(&text);
            parse_and_build(&format!(
                "[providers.g]\ntype = \"geelark\"\ntoken = {quoted}\napp_id = {quoted}\n"
            ));
            parse_and_build(&format!(
                "[providers.h]\ntype = \"huawei-cph\"\nregion = {quoted}\nproject_id = \"p\"\ntoken = \"t\"\nendpoint = {quoted}\n"
            ));
        }
        _ => {
            if let Ok(r) = PhoneRef::from_str(&text) {
                assert_eq!(PhoneRef::from_str(&r.to_string()).ok(), Some(r));
            }
        }
    }
});

/// A TOML basic string holding `s`.
fn toml_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
