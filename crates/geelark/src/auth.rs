//! Request authentication: key verification (`sign`) and bearer tokens.

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};

use crate::config::Credentials;

/// Upper-case hex SHA-256 of `appId + traceId + ts + nonce + apiKey`, GeeLark's `sign` header.
///
/// ```
/// let sign = cloudphone_geelark::sign(
///     "eH6gQR4oHr3FsZpI36La01IW",
///     "db6094ab-3797-4186-84d5-b0b58eebad56",
///     1716972892166,
///     "db6094",
///     "YjmFIUuq0oJgSDJ42fxLEb6R1qjjqf",
/// );
/// assert_eq!(sign, "6280C080AF7C3CCE168F15C913E3444A00A618CB0E16038EED9811D6E3366BDD");
/// ```
pub fn sign(app_id: &str, trace_id: &str, ts_ms: u64, nonce: &str, api_key: &str) -> String {
    let mut h = Sha256::new();
    h.update(app_id.as_bytes());
    h.update(trace_id.as_bytes());
    h.update(ts_ms.to_string().as_bytes());
    h.update(nonce.as_bytes());
    h.update(api_key.as_bytes());
    hex::encode_upper(h.finalize())
}

/// A fresh trace id as the official CLI sends it: a UUIDv4 as 32 upper-case hex characters.
pub fn new_trace_id() -> String {
    // From the thread-local CSPRNG (seeded once from the system), not a system call per id as
    // `Uuid::new_v4` makes: one of these is made for every request.
    let mut buf = uuid::Uuid::encode_buffer();
    uuid::Builder::from_random_bytes(rand::random())
        .into_uuid()
        .simple()
        .encode_upper(&mut buf)
        .to_owned()
}

/// The current Unix time in milliseconds.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn value(s: &str) -> HeaderValue {
    // Header values come from the config and our own generators; a control character can only
    // come from a bad `app_id` or trace-id source, and an empty value makes the vendor answer
    // 40003/40002, which reports the problem better than a panic would.
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The authentication headers of one attempt.
pub(crate) fn headers(credentials: &Credentials, trace_id: &str, ts_ms: u64) -> HeaderMap {
    // Not pre-sized: the default first allocation (six entries) holds the five key headers and
    // stays within glibc's thread cache; room for eight takes a 1,248-byte block per request.
    let mut h = HeaderMap::new();
    h.insert(HeaderName::from_static("traceid"), value(trace_id));
    match credentials {
        Credentials::Key { app_id, api_key } => {
            // The first six characters, borrowed.
            let nonce = trace_id
                .char_indices()
                .nth(6)
                .map_or(trace_id, |(end, _)| &trace_id[..end]);
            let sign = sign(app_id, trace_id, ts_ms, nonce, api_key.expose_secret());
            h.insert(HeaderName::from_static("appid"), value(app_id));
            h.insert(HeaderName::from_static("ts"), value(&ts_ms.to_string()));
            h.insert(HeaderName::from_static("nonce"), value(nonce));
            h.insert(HeaderName::from_static("sign"), value(&sign));
        }
        Credentials::Token(token) => {
            let mut v = value(&format!("Bearer {}", token.expose_secret()));
            // Keeps the token out of reqwest/hyper debug output.
            v.set_sensitive(true);
            h.insert(AUTHORIZATION, v);
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_ids_are_fresh_upper_hex() {
        let a = new_trace_id();
        let b = new_trace_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_digit() || ('A'..='F').contains(&c)));
        // A version-4, RFC 4122 variant UUID, as the official CLI's are.
        for id in [&a, &b] {
            let u = uuid::Uuid::parse_str(id).unwrap();
            assert_eq!(u.get_version_num(), 4, "{id}");
            assert_eq!(u.get_variant(), uuid::Variant::RFC4122, "{id}");
        }
    }

    #[test]
    fn nonce_is_the_first_six_characters() {
        let creds = Credentials::Key {
            app_id: "app".into(),
            api_key: "key".into(),
        };
        let h = headers(&creds, "ABCDEF0123", 42);
        assert_eq!(h["nonce"], "ABCDEF");
        assert_eq!(h["ts"], "42");
        assert_eq!(h["sign"], sign("app", "ABCDEF0123", 42, "ABCDEF", "key"));
        assert!(!h.contains_key(AUTHORIZATION));
    }
}
