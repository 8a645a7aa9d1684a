//! Phones and options from the command line, files and stdin.
//!
//! The rules, for `--from` input and positional ids alike:
//!
//! - ids are separated by white space or commas; a line whose first non-blank character is `#`
//!   is a comment, and a `#` anywhere else is part of an id (a word *starting* with `#` is
//!   refused: it is almost always a trailing comment that would otherwise be sent as ids);
//! - an id is at most [`MAX_ID_BYTES`] bytes and holds no control character;
//! - a byte order mark, a zero-width character or a bidirectional control anywhere in the
//!   input is refused, with its line: such ids look right and match nothing;
//! - stdin is read only when asked for with `--from -`, never because no ids were given, so a
//!   command in cron or CI cannot hang waiting for input nobody sends;
//! - `--from` and `--properties` files (and stdin) are read up to [`MAX_INPUT_BYTES`].

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::time::Duration;

use cloudphone::{Extras, PhoneId, PhoneRef, ResetOptions};

use crate::args::PhoneArgs;
use crate::exit::UsageError;

/// The longest phone (or job) id accepted, in bytes — the batch engine's own limit, checked
/// here too so that the mistake is reported with its line before anything is sent.
pub const MAX_ID_BYTES: usize = 256;

/// The most read from one `--from` or `--properties` file, or from stdin (64 MiB: over a
/// million ids).
pub const MAX_INPUT_BYTES: u64 = 64 * 1024 * 1024;

/// The longest `--timeout` (or other duration) accepted: 30 days. Anything longer is a typo,
/// and would overflow deadlines.
pub const MAX_DURATION: Duration = Duration::from_secs(30 * 24 * 3600);

/// The shortest `--poll-interval` accepted: a shorter one only hammers the vendor (and zero
/// would poll in a busy loop).
pub const MIN_POLL_INTERVAL: Duration = Duration::from_millis(10);

/// Where a token came from, for error messages.
#[derive(Clone, Copy)]
enum Origin<'a> {
    Argument,
    Line { source: &'a str, line: usize },
}

impl Origin<'_> {
    fn at(&self, token: &str) -> String {
        match self {
            Origin::Argument => format!("argument `{}`", shorten(token)),
            Origin::Line { source, line } => format!("{source} line {line}"),
        }
    }
}

/// Collects phone references from arguments and `--from FILE` (`--from -` for stdin). With
/// `--provider NAME` every token is a bare id on NAME.
pub fn phones(args: &PhoneArgs) -> Result<Vec<PhoneRef>, UsageError> {
    let (text, source) = match &args.from {
        None => (String::new(), String::new()),
        Some(path) if path == Path::new("-") => (read_stdin()?, "stdin".to_owned()),
        Some(path) => (read_file(path, "phones")?, format!("`{}`", path.display())),
    };
    let mut tokens: Vec<(&str, Origin<'_>)> = Vec::new();
    for arg in &args.phones {
        check_text(arg, Origin::Argument)?;
        tokens.push((arg, Origin::Argument));
    }
    for (line, word) in words(&text, &source)? {
        let source = source.as_str();
        tokens.push((word, Origin::Line { source, line }));
    }
    if tokens.is_empty() {
        return Err(UsageError(
            "no phones given: pass NAME/ID arguments, bare ids with --provider NAME, \
             or --from FILE (--from - reads stdin)"
                .into(),
        ));
    }
    tokens
        .into_iter()
        .map(|(t, origin)| {
            let r = match &args.provider {
                Some(p) => PhoneRef::new(p.clone(), t),
                None => t.parse::<PhoneRef>().map_err(|_| {
                    let subject = match origin {
                        Origin::Argument => origin.at(t),
                        Origin::Line { .. } => format!("{}: `{}`", origin.at(t), shorten(t)),
                    };
                    UsageError(format!(
                        "{subject} is not NAME/ID; give the provider as a prefix or with \
                         --provider NAME"
                    ))
                })?,
            };
            check_id(r.phone.as_str(), origin)?;
            Ok(r)
        })
        .collect()
}

/// Refuses an id that is too long or holds a control character.
fn check_id(id: &str, origin: Origin<'_>) -> Result<(), UsageError> {
    if id.len() > MAX_ID_BYTES {
        return Err(UsageError(format!(
            "{}: id is {} bytes, longer than the {MAX_ID_BYTES} allowed",
            origin.at(id),
            id.len()
        )));
    }
    if let Some(c) = id.chars().find(|c| c.is_control()) {
        return Err(UsageError(format!(
            "{}: id contains a control character ({})",
            origin.at(id),
            crate::output::escape(&c.to_string())
        )));
    }
    Ok(())
}

/// Refuses text holding a character that is invisible or reorders text.
fn check_text(text: &str, origin: Origin<'_>) -> Result<(), UsageError> {
    match text.chars().find_map(hidden) {
        Some(what) => Err(UsageError(format!(
            "{}: contains {what}; remove it (it is invisible, and no id contains one)",
            origin.at(text)
        ))),
        None => Ok(()),
    }
}

/// What `c` is, if it is a byte order mark, a zero-width character or a bidirectional control.
fn hidden(c: char) -> Option<String> {
    let what = match c {
        '\u{feff}' => "a byte order mark",
        '\u{200b}' | '\u{200c}' | '\u{200d}' | '\u{2060}' => "a zero-width character",
        '\u{061c}'
        | '\u{200e}'
        | '\u{200f}'
        | '\u{202a}'..='\u{202e}'
        | '\u{2066}'..='\u{2069}' => "a bidirectional control",
        _ => return None,
    };
    Some(format!("{what} (U+{:04X})", c as u32))
}

/// The first 40 characters of `s`, escaped for the terminal.
fn shorten(s: &str) -> String {
    let mut short: String = s.chars().take(40).collect();
    if short.len() < s.len() {
        short.push('…');
    }
    crate::output::escape(&short).into_owned()
}

fn read_stdin() -> Result<String, UsageError> {
    read_capped(std::io::stdin().lock(), "stdin")
}

/// Reads a file of at most [`MAX_INPUT_BYTES`]; `what` says what it holds, for errors.
fn read_file(path: &Path, what: &str) -> Result<String, UsageError> {
    let name = format!("`{}`", path.display());
    let file = std::fs::File::open(path)
        .map_err(|e| UsageError(format!("cannot read {what} from {name}: {e}")))?;
    // A regular file says its size: refuse a huge one without reading it.
    if file
        .metadata()
        .is_ok_and(|m| m.is_file() && m.len() > MAX_INPUT_BYTES)
    {
        return Err(too_large(&name));
    }
    read_capped(file, &name)
}

fn too_large(name: &str) -> UsageError {
    UsageError(format!(
        "{name} is larger than the {} MiB cap on input",
        MAX_INPUT_BYTES / (1024 * 1024)
    ))
}

/// Reads at most [`MAX_INPUT_BYTES`] of UTF-8 from `reader` (`name` for errors).
fn read_capped(reader: impl Read, name: &str) -> Result<String, UsageError> {
    let mut bytes = Vec::new();
    reader
        .take(MAX_INPUT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| UsageError(format!("cannot read {name}: {e}")))?;
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        return Err(too_large(name));
    }
    String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = 1 + valid.iter().filter(|&&b| b == b'\n').count();
        UsageError(format!("{name} line {line}: not UTF-8"))
    })
}

/// The words of `text` with their line numbers: separated by white space or commas, skipping
/// comment lines (first non-blank character `#`). `source` names the input for errors.
fn words<'t>(text: &'t str, source: &str) -> Result<Vec<(usize, &'t str)>, UsageError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let origin = Origin::Line {
            source,
            line: i + 1,
        };
        check_text(line, origin)?;
        if line.trim_start().starts_with('#') {
            continue;
        }
        for word in line
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|w| !w.is_empty())
        {
            if word.starts_with('#') {
                return Err(UsageError(format!(
                    "{}: `{}` looks like a comment after ids; a comment must be a line of its \
                     own (`#` as its first non-blank character)",
                    origin.at(word),
                    shorten(word)
                )));
            }
            out.push((i + 1, word));
        }
    }
    Ok(out)
}

/// Parses `KEY=VALUE`.
pub fn key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
        _ => Err(format!("`{s}` is not KEY=VALUE")),
    }
}

/// Parses `90`, `90s`, `1.5s`, `500ms`, `5m` or `1h`, up to [`MAX_DURATION`].
pub fn duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let not_a_duration = || format!("`{s}` is not a duration like 30s, 500ms, 5m");
    if !num.chars().any(|c| c.is_ascii_digit()) {
        return Err(not_a_duration());
    }
    let n: f64 = num.parse().map_err(|_| not_a_duration())?;
    let secs = match unit {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("`{s}`: unknown unit `{unit}` (ms, s, m, h)")),
    };
    // Checked before converting: a huge number would overflow a `Duration` (or a deadline).
    if !secs.is_finite() || secs > MAX_DURATION.as_secs_f64() {
        return Err(format!(
            "`{s}` is too long: at most {} days",
            MAX_DURATION.as_secs() / (24 * 3600)
        ));
    }
    Duration::try_from_secs_f64(secs).map_err(|_| not_a_duration())
}

/// Parses a `--poll-interval`: a [`duration`] of at least [`MIN_POLL_INTERVAL`].
pub fn poll_interval(s: &str) -> Result<Duration, String> {
    let d = duration(s)?;
    if d < MIN_POLL_INTERVAL {
        return Err(format!(
            "`{s}` is too short: polling needs at least {}ms between rounds",
            MIN_POLL_INTERVAL.as_millis()
        ));
    }
    Ok(d)
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
        let text = read_file(path, "properties")?;
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

    fn args(phones: &[&str], provider: Option<&str>) -> PhoneArgs {
        PhoneArgs {
            phones: phones.iter().map(|s| s.to_string()).collect(),
            provider: provider.map(str::to_owned),
            from: None,
        }
    }

    fn err(r: Result<impl std::fmt::Debug, UsageError>) -> String {
        match r {
            Err(crate::exit::Failure::Usage(m)) => m,
            other => panic!("expected a usage error, got {other:?}"),
        }
    }

    fn words_of(text: &str) -> Result<Vec<&str>, String> {
        words(text, "in")
            .map(|w| w.into_iter().map(|(_, w)| w).collect())
            .map_err(|e| err(Err::<(), _>(e)))
    }

    #[test]
    fn durations() {
        assert_eq!(duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(duration("0").unwrap(), Duration::ZERO);
        assert_eq!(duration("720h").unwrap(), MAX_DURATION);
        assert!(duration("5 parsecs").is_err());
    }

    #[test]
    fn absurd_durations_are_refused_not_panicked_on() {
        let huge = format!("1{}", "0".repeat(400));
        for s in [
            "10000000000000000000s",
            "18446744073709551616",
            "99999999999999999999999h",
            huge.as_str(),
            "721h",
            "43201m",
        ] {
            let e = duration(s).unwrap_err();
            assert!(e.contains("at most 30 days"), "{s}: {e}");
        }
        for s in ["", ".", "..", "ms", "1.2.3s", "-1s", "nan", "inf", "1e3s"] {
            assert!(duration(s).is_err(), "{s}");
        }
    }

    #[test]
    fn poll_intervals_have_a_floor() {
        for s in ["0", "0s", "0ms", "9ms", "0.001s"] {
            let e = poll_interval(s).unwrap_err();
            assert!(e.contains("at least 10ms"), "{s}: {e}");
        }
        assert_eq!(poll_interval("10ms").unwrap(), MIN_POLL_INTERVAL);
        assert_eq!(poll_interval("5s").unwrap(), Duration::from_secs(5));
        assert!(poll_interval("31d").is_err());
    }

    #[test]
    fn words_skip_comment_lines_and_split_on_commas() {
        let got = words_of("a/1, a/2\n# note\n   # indented note\n b/3\tb/4\r\n").unwrap();
        assert_eq!(got, ["a/1", "a/2", "b/3", "b/4"]);
    }

    #[test]
    fn a_hash_inside_an_id_is_part_of_it() {
        assert_eq!(words_of("gl/ab#cd x#\n").unwrap(), ["gl/ab#cd", "x#"]);
        // A trailing comment is refused, not sent as ids.
        let e = words_of("gl/1\ngl/2 # the second\n").unwrap_err();
        assert!(e.starts_with("in line 2: "), "{e}");
    }

    #[test]
    fn invisible_characters_are_refused_with_their_line() {
        for (text, line, what) in [
            ("\u{feff}gl/1\n", 1, "byte order mark"),
            ("gl/1\ngl/2\u{200b}\n", 2, "zero-width"),
            ("gl/1\n\ngl/\u{200c}2\n", 3, "zero-width"),
            ("gl/\u{200d}1\n", 1, "zero-width"),
            ("gl/1\u{2060}\n", 1, "zero-width"),
            (
                "gl/1\ngl/2\ngl/3\n# \u{feff} in a comment\n",
                4,
                "byte order mark",
            ),
            ("gl/1\ngl/\u{202e}2\n", 2, "bidirectional"),
            ("gl/\u{2066}1\n", 1, "bidirectional"),
        ] {
            let e = words_of(text).unwrap_err();
            assert!(
                e.starts_with(&format!("in line {line}: ")) && e.contains(what),
                "{text:?}: {e}"
            );
        }
    }

    #[test]
    fn long_ids_and_control_characters_are_refused() {
        let at_limit = format!("gl/{}", "x".repeat(MAX_ID_BYTES));
        assert_eq!(phones(&args(&[&at_limit], None)).unwrap().len(), 1);
        let long = format!("gl/{}", "x".repeat(MAX_ID_BYTES + 1));
        let e = err(phones(&args(&[&long], None)));
        assert!(e.contains("257 bytes") && e.contains("256"), "{e}");
        assert!(e.len() < 200, "the id is not echoed in full: {e}");
        // Bytes, not characters.
        let wide = "é".repeat(MAX_ID_BYTES / 2 + 1);
        let e = err(phones(&args(&[&wide], Some("gl"))));
        assert!(e.contains("longer than the 256"), "{e}");
        let e = err(phones(&args(&["gl/a\u{1b}[2Jb"], None)));
        assert!(e.contains("control character (\\x1b)"), "{e}");
        assert!(!e.contains('\u{1b}'), "{e:?}");
        let e = err(phones(&args(&["gl/a\u{feff}"], None)));
        assert!(e.contains("byte order mark"), "{e}");
    }

    #[test]
    fn from_files_are_checked_line_by_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("phones.txt");
        let long = "9".repeat(MAX_ID_BYTES + 1);
        std::fs::write(&path, format!("# lab\ngl/1\n\ngl/{long}\n")).unwrap();
        let mut a = args(&[], None);
        a.from = Some(path.clone());
        let e = err(phones(&a));
        assert!(
            e.starts_with(&format!("`{}` line 4: ", path.display())),
            "{e}"
        );
        std::fs::write(&path, "# only comments\n\n").unwrap();
        assert!(err(phones(&a)).contains("no phones given"));
        std::fs::write(&path, b"gl/1\ngl/\xff\n").unwrap();
        assert!(err(phones(&a)).contains("line 2: not UTF-8"));
        std::fs::write(&path, "gl/1 gl/2#x\n").unwrap();
        let got = phones(&a).unwrap();
        assert_eq!(got[1].phone.as_str(), "2#x");
    }

    #[test]
    fn an_oversized_from_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("phones.txt");
        let f = std::fs::File::create(&path).unwrap();
        f.set_len(MAX_INPUT_BYTES + 1).unwrap();
        let mut a = args(&[], None);
        a.from = Some(path.clone());
        let e = err(phones(&a));
        assert!(
            e.contains(&path.display().to_string()) && e.contains("64 MiB"),
            "{e}"
        );
        // A stream (no size to look at) stops at the cap too.
        let e = err(read_capped(
            std::io::repeat(b'a').take(MAX_INPUT_BYTES + 10),
            "stdin",
        ));
        assert!(e.contains("stdin") && e.contains("64 MiB"), "{e}");
    }

    #[test]
    fn no_phones_is_a_usage_error_without_reading_stdin() {
        let e = err(phones(&args(&[], None)));
        assert!(
            e.contains("no phones given") && e.contains("--from -"),
            "{e}"
        );
    }
}
