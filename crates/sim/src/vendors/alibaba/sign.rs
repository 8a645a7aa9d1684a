//! The simulator's own `ACS3-HMAC-SHA256` verifier, written from Alibaba's V3 signature
//! documentation alone (independently of the client crates): a server's view, recomputing the
//! signature from the request as received.
//!
//! The query is decoded as a form (`+` is a space: the Python SDK sends it so) and re-encoded
//! as RFC 3986, sorted by key; the signed headers are read from the request; the payload hash is
//! recomputed from the body.

use hmac::{Hmac, Mac};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};

/// The algorithm of the `Authorization` header.
pub const ALGORITHM: &str = "ACS3-HMAC-SHA256";

const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// RFC 3986 encoding: `A–Z a–z 0–9 - _ . ~` kept, every other UTF-8 byte `%XX`.
pub fn percent_encode(s: &str) -> String {
    utf8_percent_encode(s, UNRESERVED).to_string()
}

fn form_decode(s: &str) -> String {
    percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

/// The decoded parameters of a raw query string, in their order.
pub fn decode_query(raw_query: Option<&str>) -> Vec<(String, String)> {
    raw_query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (form_decode(k), form_decode(v))
        })
        .collect()
}

/// The canonical query of decoded parameters: sorted by key (then value), `key=value` encoded,
/// joined by `&`.
pub fn canonical_query(params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    sorted
        .iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The parts of an `ACS3-HMAC-SHA256 Credential=…,SignedHeaders=…,Signature=…` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// The AccessKey id.
    pub credential: String,
    /// The signed header names, lower-case, as listed.
    pub signed_headers: Vec<String>,
    /// The hex signature.
    pub signature: String,
}

/// Parses an `Authorization` header; `None` unless it has the three parts.
pub fn parse_authorization(value: &str) -> Option<Authorization> {
    let rest = value.trim().strip_prefix(ALGORITHM)?.strip_prefix(' ')?;
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        match k {
            "Credential" => credential = Some(v.to_string()),
            "SignedHeaders" => signed = Some(v.to_string()),
            "Signature" => signature = Some(v.to_string()),
            _ => return None,
        }
    }
    let signed_headers: Vec<String> = signed?
        .split(';')
        .filter(|s| !s.is_empty())
        .map(str::to_ascii_lowercase)
        .collect();
    Some(Authorization {
        credential: credential.filter(|c| !c.is_empty())?,
        signed_headers,
        signature: signature.filter(|s| !s.is_empty())?,
    })
}

/// The canonical request of a received request. `headers` holds (name, value) pairs as
/// received; `signed` the names the `Authorization` lists. `None` if a signed header is absent.
pub fn canonical_request(
    method: &str,
    path: &str,
    params: &[(String, String)],
    headers: &[(String, String)],
    signed: &[String],
    payload_hash: &str,
) -> Option<String> {
    let mut names: Vec<String> = signed.iter().map(|s| s.to_ascii_lowercase()).collect();
    names.sort();
    names.dedup();
    let mut canonical_headers = String::new();
    for name in &names {
        let mut values: Vec<&str> = headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
            .collect();
        if values.is_empty() {
            return None;
        }
        values.sort_unstable();
        canonical_headers.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    Some(format!(
        "{}\n{}\n{}\n{canonical_headers}\n{}\n{payload_hash}",
        method.to_ascii_uppercase(),
        if path.is_empty() { "/" } else { path },
        canonical_query(params),
        names.join(";"),
    ))
}

/// `ACS3-HMAC-SHA256\n{hex(sha256(canonical))}`.
pub fn string_to_sign(canonical: &str) -> String {
    format!(
        "{ALGORITHM}\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    )
}

/// The lower-hex signature of a string to sign.
pub fn signature(secret: &str, string_to_sign: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(string_to_sign.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The lower-hex SHA-256 of a body.
pub fn payload_hash(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Alibaba's own V3 example (ECS RunInstances), as a server sees it.
    #[test]
    fn the_documented_example_verifies() {
        let params = decode_query(Some(
            "ImageId=win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd&RegionId=cn-shanghai",
        ));
        let h = |k: &str, v: &str| (k.to_string(), v.to_string());
        let headers = vec![
            h("host", "ecs.cn-shanghai.aliyuncs.com"),
            h("x-acs-action", "RunInstances"),
            h("x-acs-version", "2014-05-26"),
            h("x-acs-date", "2023-10-26T09:01:01Z"),
            h("x-acs-signature-nonce", "d410180a5abf7fe235dd9b74aca91fc0"),
            h("x-acs-content-sha256", &payload_hash(b"")),
        ];
        let auth = parse_authorization("ACS3-HMAC-SHA256 Credential=YourAccessKeyId,SignedHeaders=host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature=e521358f7776c97df52e6b2891a8bc73026794a071b50c3323388c4e0df64804").unwrap();
        assert_eq!(auth.credential, "YourAccessKeyId");
        let canonical = canonical_request(
            "POST",
            "/",
            &params,
            &headers,
            &auth.signed_headers,
            &payload_hash(b""),
        )
        .unwrap();
        let sig = signature("YourAccessKeySecret", &string_to_sign(&canonical));
        assert_eq!(sig, auth.signature);
    }

    #[test]
    fn form_encoded_and_rfc3986_queries_canonicalize_alike() {
        let plus = decode_query(Some("N=a+b%2A&Ids.2=y&Ids.10=z"));
        let pct = decode_query(Some("Ids.10=z&N=a%20b*&Ids.2=y"));
        assert_eq!(canonical_query(&plus), "Ids.10=z&Ids.2=y&N=a%20b%2A");
        assert_eq!(canonical_query(&plus), canonical_query(&pct));
    }

    #[test]
    fn malformed_authorizations_are_refused() {
        for bad in [
            "",
            "ACS3-HMAC-SHA256",
            "ACS3-HMAC-SHA256 Credential=a",
            "ACS3-HMAC-SHA256 Credential=a,SignedHeaders=host",
            "HMAC-SHA1 Credential=a,SignedHeaders=host,Signature=b",
            "ACS3-HMAC-SHA256 Credential=,SignedHeaders=host,Signature=b",
            "ACS3-HMAC-SHA256 Credential=a,SignedHeaders=host,Signature=b,Extra=c",
        ] {
            assert!(parse_authorization(bad).is_none(), "{bad}");
        }
    }
}
