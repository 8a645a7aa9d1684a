//! The simulator's own signature verifiers: GeeLark's SHA-256 sign and Huawei's SDK-HMAC-SHA256.
//!
//! Written from the vendor documentation alone, independently of the client crates, so that a
//! client and the simulator agreeing means both match the documented algorithm.

use hmac::{Hmac, Mac};
use percent_encoding::{percent_decode_str, percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};

/// Everything but the unreserved characters `A–Z a–z 0–9 - _ . ~` is percent-encoded.
const HUAWEI_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// GeeLark key-verification sign: upper-case hex SHA-256 of `appId + traceId + ts + nonce + apiKey`.
pub fn geelark_sign(app_id: &str, trace_id: &str, ts: &str, nonce: &str, api_key: &str) -> String {
    let mut h = Sha256::new();
    for part in [app_id, trace_id, ts, nonce, api_key] {
        h.update(part.as_bytes());
    }
    hex::encode_upper(h.finalize())
}

fn encode(bytes: &[u8]) -> String {
    percent_encode(bytes, HUAWEI_ENCODE).to_string()
}

/// Huawei canonical URI: each segment decoded then re-encoded, joined by `/`, trailing `/` added.
pub fn canonical_uri(raw_path: &str) -> String {
    let mut out = raw_path
        .split('/')
        .map(|seg| encode(&percent_decode_str(seg).collect::<Vec<u8>>()))
        .collect::<Vec<_>>()
        .join("/");
    if !out.ends_with('/') {
        out.push('/');
    }
    out
}

/// Huawei canonical query: pairs decoded then re-encoded, sorted by key then value, `k=v` joined by `&`.
pub fn canonical_query(raw_query: Option<&str>) -> String {
    let Some(q) = raw_query else {
        return String::new();
    };
    let mut pairs: Vec<(String, String)> = q
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let k = encode(&percent_decode_str(k).collect::<Vec<u8>>());
            let v = encode(&percent_decode_str(v).collect::<Vec<u8>>());
            (k, v)
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Builds the canonical request. `headers` holds (name, value) pairs as received; `signed` the
/// lower-case names listed in SignedHeaders. Returns `None` if a signed header is absent.
pub fn canonical_request(
    method: &str,
    raw_path: &str,
    raw_query: Option<&str>,
    headers: &[(String, String)],
    signed: &[String],
    body: &[u8],
) -> Option<String> {
    let mut names: Vec<String> = signed.iter().map(|s| s.to_ascii_lowercase()).collect();
    names.sort();
    let mut canonical_headers = String::new();
    for name in &names {
        let values: Vec<&str> = headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
            .collect();
        if values.is_empty() {
            return None;
        }
        canonical_headers.push_str(name);
        canonical_headers.push(':');
        canonical_headers.push_str(&values.join(","));
        canonical_headers.push('\n');
    }
    Some(format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        method.to_ascii_uppercase(),
        canonical_uri(raw_path),
        canonical_query(raw_query),
        canonical_headers,
        names.join(";"),
        hex::encode(Sha256::digest(body)),
    ))
}

/// The string to sign for a canonical request.
pub fn string_to_sign(sdk_date: &str, canonical: &str) -> String {
    format!(
        "SDK-HMAC-SHA256\n{sdk_date}\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    )
}

/// Lower-case hex HMAC-SHA256 of the string to sign, keyed with the secret key.
pub fn huawei_signature(secret_key: &str, sdk_date: &str, canonical: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret_key.as_bytes()).expect("HMAC takes any key length");
    mac.update(string_to_sign(sdk_date, canonical).as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// A parsed `Authorization: SDK-HMAC-SHA256 Access=…, SignedHeaders=…, Signature=…` header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AkSkAuthorization {
    /// The access key.
    pub access: String,
    /// Lower-case signed header names, in the order listed.
    pub signed_headers: Vec<String>,
    /// The signature as sent.
    pub signature: String,
}

/// Parses an SDK-HMAC-SHA256 Authorization header; `None` if it is not one or is incomplete.
pub fn parse_authorization(value: &str) -> Option<AkSkAuthorization> {
    let rest = value.trim().strip_prefix("SDK-HMAC-SHA256")?;
    let (mut access, mut signed, mut sig) = (None, None, None);
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        match k.trim() {
            "Access" => access = Some(v.trim().to_string()),
            "SignedHeaders" => {
                signed = Some(
                    v.trim()
                        .split(';')
                        .filter(|s| !s.is_empty())
                        .map(|s| s.to_ascii_lowercase())
                        .collect::<Vec<_>>(),
                )
            }
            "Signature" => sig = Some(v.trim().to_string()),
            _ => {}
        }
    }
    Some(AkSkAuthorization {
        access: access?,
        signed_headers: signed?,
        signature: sig?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn names(s: &str) -> Vec<String> {
        s.split(';').map(str::to_string).collect()
    }

    #[test]
    fn geelark_documented_vector() {
        assert_eq!(
            geelark_sign(
                "eH6gQR4oHr3FsZpI36La01IW",
                "db6094ab-3797-4186-84d5-b0b58eebad56",
                "1716972892166",
                "db6094",
                "YjmFIUuq0oJgSDJ42fxLEb6R1qjjqf"
            ),
            "6280C080AF7C3CCE168F15C913E3444A00A618CB0E16038EED9811D6E3366BDD"
        );
    }

    #[test]
    fn huawei_vector_a_docs() {
        let headers = h(&[
            ("Content-Type", "application/json"),
            ("Host", "service.region.example.com"),
            ("X-Sdk-Date", "20191115T033655Z"),
        ]);
        let canonical = canonical_request(
            "GET",
            "/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs",
            Some("limit=2&marker=13551d6b-755d-4757-b956-536f674975c0"),
            &headers,
            &names("content-type;host;x-sdk-date"),
            b"",
        )
        .unwrap();
        assert_eq!(
            canonical,
            "GET\n/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs/\n\
             limit=2&marker=13551d6b-755d-4757-b956-536f674975c0\n\
             content-type:application/json\nhost:service.region.example.com\n\
             x-sdk-date:20191115T033655Z\n\ncontent-type;host;x-sdk-date\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            hex::encode(Sha256::digest(canonical.as_bytes())),
            "b25362e603ee30f4f25e7858e8a7160fd36e803bb2dfe206278659d71a9bcd7a"
        );
        assert_eq!(
            huawei_signature(
                "MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc",
                "20191115T033655Z",
                &canonical
            ),
            "7be6668032f70418fcc22abc52071e57aff61b84a1d2381bb430d6870f4f6ebe"
        );
    }

    #[test]
    fn huawei_vector_b_go_sdk_get() {
        let headers = h(&[("x-sdk-date", "20060102T150405Z")]);
        let canonical = canonical_request(
            "GET",
            "/path",
            Some("limit=1"),
            &headers,
            &names("x-sdk-date"),
            b"",
        )
        .unwrap();
        assert!(canonical.starts_with("GET\n/path/\nlimit=1\nx-sdk-date:20060102T150405Z\n\n"));
        assert_eq!(
            huawei_signature("SecretKey", "20060102T150405Z", &canonical),
            "5a2ce64c865e0e6046321c6f3d5a77ba8413eeaf355c3166c03d58d02ac79624"
        );
    }

    #[test]
    fn huawei_vector_c_go_sdk_post() {
        let headers = h(&[("X-Sdk-Date", "20060102T150405Z")]);
        let canonical = canonical_request(
            "POST",
            "/path",
            Some("key=value"),
            &headers,
            &names("x-sdk-date"),
            b"{\"Name\":\"test\",\"Id\":1}\n",
        )
        .unwrap();
        assert_eq!(
            huawei_signature("SecretKey", "20060102T150405Z", &canonical),
            "cecc2af119b18ab70b4d094c0750f3b42c02f254903179a0fc2cc72fc9db4f59"
        );
    }

    #[test]
    fn canonical_pieces() {
        assert_eq!(canonical_uri("/a%2fb/c d/"), "/a%2Fb/c%20d/");
        assert_eq!(canonical_uri(""), "/");
        assert_eq!(
            canonical_query(Some("b=2&a=x%20y&a=1&c")),
            "a=1&a=x%20y&b=2&c="
        );
        assert_eq!(canonical_query(None), "");
        assert!(canonical_request("GET", "/", None, &[], &names("host"), b"").is_none());
    }

    #[test]
    fn parses_authorization_header() {
        let a = parse_authorization(
            "SDK-HMAC-SHA256 Access=AK, SignedHeaders=host;x-sdk-date, Signature=abc",
        )
        .unwrap();
        assert_eq!(a.access, "AK");
        assert_eq!(a.signed_headers, vec!["host", "x-sdk-date"]);
        assert_eq!(a.signature, "abc");
        assert!(parse_authorization("Bearer x").is_none());
        assert!(parse_authorization("SDK-HMAC-SHA256 Access=AK").is_none());
    }
}
