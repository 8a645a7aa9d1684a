//! Huawei Cloud API Gateway request signing (`SDK-HMAC-SHA256`, "AK/SK authentication").
//!
//! The steps follow Huawei's `devg-apisign` guide and the official SDKs:
//!
//! 1. `X-Sdk-Date` is UTC now as `YYYYMMDDTHHMMSSZ` (see [`format_sdk_date`]).
//! 2. The canonical request is `METHOD\nURI\nQUERY\nHEADERS\nSIGNED\nhex(sha256(body))`, where
//!    the URI has every segment encoded with [`encode_component`] and **a trailing `/`**, and
//!    the query is encoded the same way and sorted (see [`canonical_request`]).
//! 3. The string to sign is `SDK-HMAC-SHA256\n{date}\n{hex(sha256(canonical))}`.
//! 4. The signature is `hex(hmac_sha256(SK, string_to_sign))`, sent as
//!    `Authorization: SDK-HMAC-SHA256 Access={AK}, SignedHeaders={names}, Signature={sig}`.
//!
//! The same encoder builds the paths and queries this crate sends, so what is signed is exactly
//! what goes on the wire.
//!
//! ```
//! use cloudphone_huawei_cph::signer;
//! use reqwest::Url;
//!
//! // Test vector B of the Go SDK.
//! let url = Url::parse("https://example.huaweicloud.com/path?limit=1").unwrap();
//! let auth = signer::sign(
//!     "AccessKey",
//!     "SecretKey",
//!     "GET",
//!     &url,
//!     &[("X-Sdk-Date", "20060102T150405Z")],
//!     b"",
//! );
//! assert_eq!(
//!     auth,
//!     "SDK-HMAC-SHA256 Access=AccessKey, SignedHeaders=x-sdk-date, \
//!      Signature=5a2ce64c865e0e6046321c6f3d5a77ba8413eeaf355c3166c03d58d02ac79624"
//! );
//! ```

use std::fmt;

use hmac::{Hmac, Mac};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::Url;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// The algorithm name that starts the string to sign and the `Authorization` header.
pub const ALGORITHM: &str = "SDK-HMAC-SHA256";

/// The header carrying the signing time.
pub const SDK_DATE_HEADER: &str = "X-Sdk-Date";

/// Everything but the RFC 3986 unreserved characters `A–Z a–z 0–9 - _ . ~` is encoded.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Percent-encodes one path segment or query key/value: unreserved characters are kept, every
/// other byte of the UTF-8 text becomes `%XX` with upper-case hex.
pub fn encode_component(s: &str) -> String {
    utf8_percent_encode(s, COMPONENT).to_string()
}

/// Formats a time as `X-Sdk-Date` wants it: `YYYYMMDDTHHMMSSZ` in UTC.
pub fn format_sdk_date(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

fn hex_sha256(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn decode(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// The canonical URI of a URL path: each segment decoded and re-encoded with
/// [`encode_component`], joined by `/`, with a trailing `/` appended.
pub fn canonical_uri(path: &str) -> String {
    let mut out = path
        .split('/')
        .map(|seg| encode_component(&decode(seg)))
        .collect::<Vec<_>>()
        .join("/");
    if !out.ends_with('/') {
        out.push('/');
    }
    out
}

/// The canonical query of a raw query string: keys and values decoded, re-encoded with
/// [`encode_component`], sorted by key then value, `k=v` joined by `&` (`k=` for a bare key).
pub fn canonical_query(query: Option<&str>) -> String {
    let mut pairs: Vec<(String, String)> = query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (encode_component(&decode(k)), encode_component(&decode(v)))
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Builds the canonical request and the signed-header list for `headers` (exactly the headers
/// to sign, one of them `X-Sdk-Date`). Returns `(canonical_request, signed_headers)`.
pub fn canonical_request(
    method: &str,
    url: &Url,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (String, String) {
    let mut hs: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    hs.sort();
    let canonical_headers: String = hs.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let signed = hs
        .iter()
        .map(|(k, _)| k.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let canonical = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        method.to_ascii_uppercase(),
        canonical_uri(url.path()),
        canonical_query(url.query()),
        canonical_headers,
        signed,
        hex_sha256(body)
    );
    (canonical, signed)
}

/// The string to sign for a canonical request made at `sdk_date`.
pub fn string_to_sign(sdk_date: &str, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{sdk_date}\n{}",
        hex_sha256(canonical_request.as_bytes())
    )
}

/// Lower-case hex HMAC-SHA256 of `string_to_sign` keyed with the secret key.
pub fn signature(secret_key: &str, string_to_sign: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret_key.as_bytes()).expect("HMAC takes any key length");
    mac.update(string_to_sign.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Signs a request and returns the `Authorization` header value.
///
/// `headers` are exactly the headers to sign and must include `X-Sdk-Date` (its value is the
/// signing time); they must also be sent, with the same values.
pub fn sign(
    access_key: &str,
    secret_key: &str,
    method: &str,
    url: &Url,
    headers: &[(&str, &str)],
    body: &[u8],
) -> String {
    let date = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(SDK_DATE_HEADER))
        .map(|(_, v)| v.trim())
        .unwrap_or_default();
    let (canonical, signed) = canonical_request(method, url, headers, body);
    let sig = signature(secret_key, &string_to_sign(date, &canonical));
    format!("{ALGORITHM} Access={access_key}, SignedHeaders={signed}, Signature={sig}")
}

/// An access key pair (and optional temporary security token) that signs requests.
#[derive(Clone)]
pub struct Signer {
    access_key: String,
    secret_key: SecretString,
    security_token: Option<SecretString>,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("access_key", &"<redacted>")
            .field("secret_key", &"<redacted>")
            .field(
                "security_token",
                &self.security_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl Signer {
    /// A signer for a permanent access key pair.
    pub fn new(access_key: impl Into<String>, secret_key: SecretString) -> Self {
        Signer {
            access_key: access_key.into(),
            secret_key,
            security_token: None,
        }
    }

    /// Adds the security token of temporary credentials (sent and signed as
    /// `X-Security-Token`).
    pub fn with_security_token(mut self, token: SecretString) -> Self {
        self.security_token = Some(token);
        self
    }

    /// The headers to send for a request made at `now`: `Host`, `X-Sdk-Date`, the
    /// `X-Security-Token` of temporary credentials, the given `extra` headers (all signed) and
    /// finally `Authorization`.
    ///
    /// `Host` is the URL's host with its port when the port is not the scheme's default, as
    /// HTTP clients send it.
    pub fn signed_headers(
        &self,
        method: &str,
        url: &Url,
        now: OffsetDateTime,
        extra: &[(&str, &str)],
        body: &[u8],
    ) -> Vec<(String, String)> {
        let host = host_header(url);
        let date = format_sdk_date(now);
        let mut signed: Vec<(&str, &str)> = vec![("Host", &host), (SDK_DATE_HEADER, &date)];
        if let Some(t) = &self.security_token {
            signed.push(("X-Security-Token", t.expose_secret()));
        }
        signed.extend_from_slice(extra);
        let auth = sign(
            &self.access_key,
            self.secret_key.expose_secret(),
            method,
            url,
            &signed,
            body,
        );
        let mut out: Vec<(String, String)> = signed
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        out.push(("Authorization".to_owned(), auth));
        out
    }
}

/// The `Host` header an HTTP client sends for `url`.
pub fn host_header(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_keep_only_unreserved_characters() {
        assert_eq!(encode_component("aZ09-_.~"), "aZ09-_.~");
        assert_eq!(encode_component("../jobs"), "..%2Fjobs");
        assert_eq!(encode_component("a b?c#d,é"), "a%20b%3Fc%23d%2C%C3%A9");
    }

    #[test]
    fn canonical_uri_appends_a_slash_and_reencodes() {
        assert_eq!(canonical_uri("/v1/p/vpcs"), "/v1/p/vpcs/");
        assert_eq!(canonical_uri("/"), "/");
        assert_eq!(canonical_uri(""), "/");
        assert_eq!(canonical_uri("/a%2fb/c%20d"), "/a%2Fb/c%20d/");
    }

    #[test]
    fn canonical_query_sorts_and_encodes() {
        assert_eq!(canonical_query(None), "");
        assert_eq!(canonical_query(Some("b=2&a=1&a=0&c")), "a=0&a=1&b=2&c=");
        assert_eq!(canonical_query(Some("ids=a%2cb")), "ids=a%2Cb");
    }

    #[test]
    fn sdk_date_is_compact_utc() {
        let t = time::macros::datetime!(2019-11-15 11:36:55 +8);
        assert_eq!(format_sdk_date(t), "20191115T033655Z");
    }
}
