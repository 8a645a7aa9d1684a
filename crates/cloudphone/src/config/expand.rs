//! `${VAR}` expansion, and taking what it put into values back out of error messages.

use std::fmt;

use super::ConfigError;

/// What `${VAR}` expansion put into a provider's values, and what to show instead: each
/// expanded value maps back to the value as written, each variable's value to `${NAME}`.
/// Applied to every message about that provider, so no error can quote a variable's value.
#[derive(Clone, Default)]
pub(super) struct Redactor {
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
    pub(super) fn record(&mut self, raw: &str, expanded: &str, vars: &[(String, String)]) {
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
    pub(super) fn apply(&self, message: &str) -> String {
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
pub(super) fn interpolate(
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
pub(super) struct Expanded {
    pub(super) text: String,
    pub(super) vars: Vec<(String, String)>,
}

/// Substitutes `${VAR}`; `$$` is a literal `$`. Returns the missing variable's name on failure.
pub(super) fn substitute(
    s: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Expanded, String> {
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
