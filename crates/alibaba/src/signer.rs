//! Alibaba Cloud V3 request signing (`ACS3-HMAC-SHA256`), step by step as the official SDK's
//! `Utils.get_authorization` does it:
//!
//! 1. `x-acs-date` is UTC now as `YYYY-MM-DDTHH:MM:SSZ` ([`format_date`]), `x-acs-signature-nonce`
//!    a fresh random string ([`new_nonce`]); both change on every attempt.
//! 2. `x-acs-content-sha256` is the lower-hex SHA-256 of the body (empty for RPC calls:
//!    [`EMPTY_BODY_SHA256`]).
//! 3. The canonical request is `METHOD\nURI\nQUERY\nHEADERS\nSIGNED\nPAYLOAD_HASH`
//!    ([`canonical_request`]): the query sorted by raw key (`.1 < .10 < .2`), keys and values
//!    encoded as RFC 3986 ([`encode`]: `%20` for a space, `*` → `%2A`, `~` kept); each signed
//!    header as `name:trimmed value\n`, sorted by name.
//! 4. The string to sign is `ACS3-HMAC-SHA256\n{hex(sha256(canonical request))}`.
//! 5. The signature is `hex(hmac_sha256(AccessKeySecret, string to sign))`, sent as
//!    `Authorization: ACS3-HMAC-SHA256 Credential={AK},SignedHeaders={names},Signature={sig}`
//!    (commas, no spaces, no scope).
//!
//! The client sends the canonical query string as the URL's query, so what is signed is what
//! goes on the wire, and signs exactly `host` and the `x-acs-*` headers it sends ([`Signer`]).
//!
//! ```
//! use cloudphone_alibaba::signer;
//!
//! // Vector V0 of the reference: Alibaba's own V3 example (ECS RunInstances).
//! let params = [
//!     ("ImageId", "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd"),
//!     ("RegionId", "cn-shanghai"),
//! ];
//! let headers = [
//!     ("host", "ecs.cn-shanghai.aliyuncs.com"),
//!     ("x-acs-action", "RunInstances"),
//!     ("x-acs-version", "2014-05-26"),
//!     ("x-acs-date", "2023-10-26T09:01:01Z"),
//!     ("x-acs-signature-nonce", "d410180a5abf7fe235dd9b74aca91fc0"),
//!     ("x-acs-content-sha256", signer::EMPTY_BODY_SHA256),
//! ];
//! let auth = signer::authorization("YourAccessKeyId", "YourAccessKeySecret", "POST", "/", &params, &headers, b"");
//! assert_eq!(
//!     auth,
//!     "ACS3-HMAC-SHA256 Credential=YourAccessKeyId,SignedHeaders=host;x-acs-action;\
//!      x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,\
//!      Signature=e521358f7776c97df52e6b2891a8bc73026794a071b50c3323388c4e0df64804"
//! );
//! ```

use std::fmt;

use hmac::{Hmac, Mac};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::Url;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// The algorithm name that starts the string to sign and the `Authorization` header.
pub const ALGORITHM: &str = "ACS3-HMAC-SHA256";

/// The API version of eds-aic, sent as `x-acs-version`.
pub const VERSION: &str = "2023-09-30";

/// `hex(sha256(""))`: the `x-acs-content-sha256` of an RPC call (everything is in the query).
pub const EMPTY_BODY_SHA256: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Everything but the RFC 3986 unreserved characters `A–Z a–z 0–9 - _ . ~` is encoded.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Percent-encodes a query key or value as the signature wants it (Python's
/// `quote(v, safe='~')`): unreserved characters kept, every other UTF-8 byte `%XX` with
/// upper-case hex — a space is `%20` (never `+`), `*` is `%2A`, `/` is `%2F`.
pub fn encode(s: &str) -> String {
    utf8_percent_encode(s, UNRESERVED).to_string()
}

/// The canonical query string of decoded parameters: each `key=value` encoded with
/// [`encode`], sorted by the raw key (plain code-point order, so `Ids.1 < Ids.10 < Ids.2`;
/// equal keys by value), joined by `&`. No parameters give the empty string.
pub fn canonical_query<K: AsRef<str>, V: AsRef<str>>(params: &[(K, V)]) -> String {
    let mut pairs: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_ref(), v.as_ref()))
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The canonical headers and the signed-header list of `headers` (exactly the headers to
/// sign): names lower-cased and sorted, values trimmed, the values of a repeated name sorted
/// and joined by `,`. Returns `(canonical_headers, signed_headers)`.
pub fn canonical_headers(headers: &[(&str, &str)]) -> (String, String) {
    let mut hs: Vec<(String, &str)> = headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.trim()))
        .collect();
    hs.sort();
    let mut canonical = String::new();
    let mut names: Vec<&str> = Vec::new();
    let mut i = 0;
    while i < hs.len() {
        let name = hs[i].0.as_str();
        let mut values = Vec::new();
        while i < hs.len() && hs[i].0 == name {
            values.push(hs[i].1);
            i += 1;
        }
        canonical.push_str(name);
        canonical.push(':');
        canonical.push_str(&values.join(","));
        canonical.push('\n');
        names.push(name);
    }
    (canonical, names.join(";"))
}

/// The lower-hex SHA-256 of `data`.
pub fn hex_sha256(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Builds the canonical request of a call to `path` (`/` for RPC; an empty path is `/`) with
/// the decoded query `params`, the headers to sign and the body. Returns
/// `(canonical_request, signed_headers)`.
pub fn canonical_request<K: AsRef<str>, V: AsRef<str>>(
    method: &str,
    path: &str,
    params: &[(K, V)],
    headers: &[(&str, &str)],
    body: &[u8],
) -> (String, String) {
    let (canonical_headers, signed) = canonical_headers(headers);
    let uri = if path.is_empty() { "/" } else { path };
    let canonical = format!(
        "{}\n{uri}\n{}\n{canonical_headers}\n{signed}\n{}",
        method.to_ascii_uppercase(),
        canonical_query(params),
        hex_sha256(body)
    );
    (canonical, signed)
}

/// `ACS3-HMAC-SHA256\n{hex(sha256(canonical_request))}`.
pub fn string_to_sign(canonical_request: &str) -> String {
    format!("{ALGORITHM}\n{}", hex_sha256(canonical_request.as_bytes()))
}

/// Lower-hex HMAC-SHA256 of `string_to_sign`, keyed with the AccessKey secret (no `&`).
pub fn signature(secret: &str, string_to_sign: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(string_to_sign.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Signs a request and returns the `Authorization` header value. `headers` are exactly the
/// headers to sign (and to send, with the same values).
pub fn authorization<K: AsRef<str>, V: AsRef<str>>(
    access_key: &str,
    secret: &str,
    method: &str,
    path: &str,
    params: &[(K, V)],
    headers: &[(&str, &str)],
    body: &[u8],
) -> String {
    let (canonical, signed) = canonical_request(method, path, params, headers, body);
    let sig = signature(secret, &string_to_sign(&canonical));
    format!("{ALGORITHM} Credential={access_key},SignedHeaders={signed},Signature={sig}")
}

/// `x-acs-date`: UTC, second precision, `Z` (`2025-01-02T03:04:05Z`).
pub fn format_date(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// A fresh `x-acs-signature-nonce`: 32 random lower-hex characters.
pub fn new_nonce() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// The `host` header an HTTP client sends for `url`: the host, with the port when the URL
/// names one that is not the scheme's default.
pub fn host_header(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_owned(),
    }
}

/// An AccessKey pair (and the security token of STS credentials) that signs eds-aic calls.
#[derive(Clone)]
pub struct Signer {
    access_key: String,
    secret: SecretString,
    security_token: Option<SecretString>,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("access_key", &self.access_key)
            .field("secret", &"<redacted>")
            .field(
                "security_token",
                &self.security_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl Signer {
    /// A signer for an AccessKey pair.
    pub fn new(access_key: impl Into<String>, secret: SecretString) -> Self {
        Signer {
            access_key: access_key.into(),
            secret,
            security_token: None,
        }
    }

    /// Adds the security token of STS temporary credentials: sent and signed as
    /// `x-acs-security-token`, with `x-acs-accesskey-id`.
    pub fn with_security_token(mut self, token: SecretString) -> Self {
        self.security_token = Some(token);
        self
    }

    /// The headers of a `POST` of `action` to `url` (whose path is the canonical URI) with the
    /// decoded query `params` and an empty body, signed at `date` with `nonce`: `host`, the
    /// `x-acs-*` headers (all signed) and `Authorization`, in that order.
    pub fn headers<K: AsRef<str>, V: AsRef<str>>(
        &self,
        action: &str,
        url: &Url,
        params: &[(K, V)],
        date: &str,
        nonce: &str,
    ) -> Vec<(&'static str, String)> {
        let host = host_header(url);
        let mut signed: Vec<(&'static str, String)> = vec![
            ("host", host),
            ("x-acs-action", action.to_owned()),
            ("x-acs-version", VERSION.to_owned()),
            ("x-acs-date", date.to_owned()),
            ("x-acs-signature-nonce", nonce.to_owned()),
            ("x-acs-content-sha256", EMPTY_BODY_SHA256.to_owned()),
        ];
        if let Some(t) = &self.security_token {
            signed.push(("x-acs-accesskey-id", self.access_key.clone()));
            signed.push(("x-acs-security-token", t.expose_secret().to_owned()));
        }
        let refs: Vec<(&str, &str)> = signed.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let auth = authorization(
            &self.access_key,
            self.secret.expose_secret(),
            "POST",
            url.path(),
            params,
            &refs,
            b"",
        );
        signed.push(("authorization", auth));
        signed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_is_rfc3986() {
        assert_eq!(encode("aZ09-_.~"), "aZ09-_.~");
        assert_eq!(encode("a b*c/d+e=f&g"), "a%20b%2Ac%2Fd%2Be%3Df%26g");
        assert_eq!(encode("云"), "%E4%BA%91");
    }

    #[test]
    fn the_query_sorts_by_raw_key() {
        let q = canonical_query(&[("Ids.2", "b"), ("Ids.10", "j"), ("Ids.1", "a"), ("A", "")]);
        assert_eq!(q, "A=&Ids.1=a&Ids.10=j&Ids.2=b");
        assert_eq!(canonical_query::<&str, &str>(&[]), "");
    }

    #[test]
    fn repeated_headers_join_sorted_values() {
        let (c, s) = canonical_headers(&[("X-B", " 2 "), ("host", "h"), ("x-b", "1")]);
        assert_eq!(c, "host:h\nx-b:1,2\n");
        assert_eq!(s, "host;x-b");
    }

    #[test]
    fn dates_are_second_precision_utc() {
        let t = time::macros::datetime!(2025-01-02 11:04:05.678 +8);
        assert_eq!(format_date(t), "2025-01-02T03:04:05Z");
        let n = new_nonce();
        assert_eq!(n.len(), 32);
        assert_ne!(n, new_nonce());
    }
}
