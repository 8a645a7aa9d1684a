//! Error messages that name the file, line, column, key and table — never a value; and the
//! decoding of a top-level table into its typed section.

use super::ConfigError;

/// Decodes the top-level table `[name]` into `T`: an error names the table (and serde's key),
/// never a value.
pub(super) fn section<T: serde::de::DeserializeOwned>(
    name: &str,
    value: toml::Value,
) -> Result<T, ConfigError> {
    let toml::Value::Table(table) = value else {
        return Err(ConfigError::Syntax(format!(
            "`{name}` must be a table ([{name}])"
        )));
    };
    toml::Value::Table(table)
        .try_into()
        .map_err(|e: toml::de::Error| ConfigError::Syntax(format!("[{name}]: {}", e.message())))
}

/// Turns a serde error into a sentence that names the key ("key `batch_size`: invalid type …",
/// "unknown key `foo`, expected one of …", "missing key `project_id`").
pub(super) fn describe_serde_error(e: &toml::de::Error) -> String {
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

/// A TOML syntax error as "line L, column C, key `K` in [TABLE]: what", naming the key and the
/// table where they can be read off the document. Never quotes the line itself: it may hold a
/// secret written in clear.
pub(super) fn describe_syntax_error(doc: &str, e: &toml::de::Error) -> String {
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
pub(super) fn line_key(line: &str) -> Option<&str> {
    let (key, _) = line.split_once('=')?;
    let key = key.trim();
    let ok = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.\"' ".contains(c));
    ok.then_some(key)
}

/// The name of a `[table]` or `[[array]]` header line.
pub(super) fn table_header(line: &str) -> Option<&str> {
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
