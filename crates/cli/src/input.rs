//! Phones and options from the command line, files and stdin.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Read};
use std::path::Path;
use std::time::Duration;

use cloudphone::{Extras, PhoneId, PhoneRef, ResetOptions};

use crate::{PhoneArgs, UsageError};

/// Collects phone references from arguments, `--from FILE`, and stdin (when neither gave any
/// and stdin is not a terminal). With `--provider NAME` every token is a bare id on NAME.
pub fn phones(args: &PhoneArgs) -> Result<Vec<PhoneRef>, UsageError> {
    let mut tokens: Vec<String> = args.phones.clone();
    if let Some(path) = &args.from {
        let text = if path == Path::new("-") {
            read_stdin()?
        } else {
            std::fs::read_to_string(path).map_err(|e| {
                UsageError(format!("cannot read phones from `{}`: {e}", path.display()))
            })?
        };
        tokens.extend(words(&text));
    }
    if tokens.is_empty() && !std::io::stdin().is_terminal() {
        tokens.extend(words(&read_stdin()?));
    }
    if tokens.is_empty() {
        return Err(UsageError(
            "no phones given: pass NAME/ID arguments, bare ids with --provider NAME, \
             --from FILE, or ids on stdin"
                .into(),
        ));
    }
    tokens
        .into_iter()
        .map(|t| match &args.provider {
            Some(p) => Ok(PhoneRef::new(p.clone(), t)),
            None => t.parse::<PhoneRef>().map_err(|_| {
                UsageError(format!(
                    "`{t}` is not NAME/ID; give the provider as a prefix or with --provider NAME"
                ))
            }),
        })
        .collect()
}

fn read_stdin() -> Result<String, UsageError> {
    let mut s = String::new();
    std::io::stdin()
        .read_to_string(&mut s)
        .map_err(|e| UsageError(format!("cannot read phones from stdin: {e}")))?;
    Ok(s)
}

/// Tokens separated by white space or commas; `#` starts a comment.
fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .flat_map(|l| l.split(|c: char| c.is_whitespace() || c == ','))
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
}

/// Parses `KEY=VALUE`.
pub fn key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
        _ => Err(format!("`{s}` is not KEY=VALUE")),
    }
}

/// Parses `90`, `90s`, `500ms`, `5m` or `1h`.
pub fn duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a duration like 30s, 500ms, 5m"))?;
    let secs = match unit {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("`{s}`: unknown unit `{unit}` (ms, s, m, h)")),
    };
    Ok(Duration::from_secs_f64(secs))
}

/// Vendor extras: a value that parses as JSON (`true`, `300`) is sent as such, else as a string.
pub fn extras(pairs: &[(String, String)]) -> Extras {
    pairs
        .iter()
        .map(|(k, v)| {
            let value = serde_json::from_str(v).unwrap_or_else(|_| v.clone().into());
            (k.clone(), value)
        })
        .collect()
}

/// Reset options from `--image`, `--property`, `--properties FILE` and `--extra`.
///
/// The properties file is a JSON object: string values apply to every phone; an object value
/// under a `NAME/ID` (or bare id) key holds that phone's own properties.
pub fn reset_options(
    image: Option<String>,
    properties: &[(String, String)],
    file: Option<&Path>,
    extra: &[(String, String)],
    default_provider: Option<&str>,
) -> Result<ResetOptions, UsageError> {
    let mut opts = ResetOptions::default();
    opts.image = image;
    opts.extras = extras(extra);
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|e| {
            UsageError(format!(
                "cannot read properties from `{}`: {e}",
                path.display()
            ))
        })?;
        let doc: BTreeMap<String, serde_json::Value> = serde_json::from_str(&text)
            .map_err(|e| UsageError(format!("`{}` is not a JSON object: {e}", path.display())))?;
        for (key, value) in doc {
            match value {
                serde_json::Value::String(v) => {
                    opts.properties.insert(key, v);
                }
                serde_json::Value::Object(map) => {
                    let phone = match (key.parse::<PhoneRef>(), default_provider) {
                        (Ok(r), _) => r.phone,
                        (Err(_), _) => PhoneId::new(key.clone()),
                    };
                    for (k, v) in map {
                        let v = match v {
                            serde_json::Value::String(s) => s,
                            other => other.to_string(),
                        };
                        opts = opts.phone_property(phone.clone(), k, v);
                    }
                }
                other => {
                    return Err(UsageError(format!(
                        "`{}`: property `{key}` must be a string or an object, not {other}",
                        path.display()
                    )))
                }
            }
        }
    }
    for (k, v) in properties {
        opts.properties.insert(k.clone(), v.clone());
    }
    Ok(opts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(duration("2m").unwrap(), Duration::from_secs(120));
        assert!(duration("5 parsecs").is_err());
    }

    #[test]
    fn words_skip_comments_and_commas() {
        let got: Vec<_> = words("a/1, a/2\n# note\n b/3 # tail\n").collect();
        assert_eq!(got, ["a/1", "a/2", "b/3"]);
    }
}
