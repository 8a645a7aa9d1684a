//! eds-aic authentication: the `ACS3-HMAC-SHA256` signature recomputed from the request
//! ([`super::sign`]), the date window, nonce replay, and STS security tokens.

use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::Response;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};
use tokio::time::Instant;

use super::routes::api_error;
use super::sign::{
    canonical_request, parse_authorization, payload_hash, signature, string_to_sign,
};
use super::Alibaba;
use crate::engine::VendorSim;

/// The headers a V3 request must carry (and sign).
const REQUIRED: [&str; 6] = [
    "host",
    "x-acs-action",
    "x-acs-version",
    "x-acs-date",
    "x-acs-signature-nonce",
    "x-acs-content-sha256",
];

/// Authenticates one call; the refusal is the vendor's answer.
pub(crate) fn authenticate(
    sim: &VendorSim<Alibaba>,
    parts: &Parts,
    body: &[u8],
    params: &[(String, String)],
    request_id: &str,
) -> Result<(), Response> {
    let s = sim.settings();
    let refuse =
        |status: StatusCode, code: &str, msg: &str| Err(api_error(status, code, msg, request_id));
    let header = |n: &str| {
        parts
            .headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let Some(authz) = header("authorization") else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "IncompleteSignature",
            "The request signature does not conform to Aliyun standards: Authorization is missing.",
        );
    };
    let Some(auth) = parse_authorization(&authz) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "IncompleteSignature",
            "The request signature does not conform to Aliyun standards: the Authorization header is malformed.",
        );
    };
    let token = header("x-acs-security-token");
    let secret = if auth.credential == s.access_key {
        if token.is_some() {
            return refuse(
                StatusCode::BAD_REQUEST,
                "InvalidSecurityToken.MismatchWithAccessKey",
                "The security token does not belong to this AccessKey.",
            );
        }
        &s.secret_key
    } else if auth.credential == s.sts_access_key {
        match token {
            None => {
                return refuse(
                    StatusCode::BAD_REQUEST,
                    "MissingSecurityToken",
                    "SecurityToken is mandatory for this AccessKey (STS).",
                )
            }
            Some(t) if t != s.security_token => {
                return refuse(
                    StatusCode::BAD_REQUEST,
                    "InvalidSecurityToken.Malformed",
                    "Specified SecurityToken is malformed or invalid.",
                )
            }
            Some(_) => &s.sts_secret_key,
        }
    } else {
        return refuse(
            StatusCode::NOT_FOUND,
            "InvalidAccessKeyId.NotFound",
            "Specified access key is not found.",
        );
    };
    for name in REQUIRED {
        if parts.headers.get(name).is_none() {
            return refuse(
                StatusCode::BAD_REQUEST,
                "IncompleteSignature",
                &format!("The request signature does not conform to Aliyun standards: header {name} is missing."),
            );
        }
    }
    // `host` and every `x-acs-*` header sent must be signed.
    let unsigned = parts
        .headers
        .keys()
        .map(|k| k.as_str())
        .filter(|k| *k == "host" || k.starts_with("x-acs-"))
        .find(|k| !auth.signed_headers.iter().any(|s| s == k));
    if let Some(name) = unsigned {
        return refuse(
            StatusCode::BAD_REQUEST,
            "IncompleteSignature",
            &format!("The request signature does not conform to Aliyun standards: header {name} is not signed."),
        );
    }
    let date = header("x-acs-date").unwrap_or_default();
    let Ok(at) = PrimitiveDateTime::parse(
        &date,
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z"),
    ) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "InvalidTimeStamp.Format",
            "Specified time stamp or date value is not well formatted.",
        );
    };
    let skew = (OffsetDateTime::now_utc() - at.assume_utc()).abs();
    if skew > time::Duration::seconds(s.max_clock_skew_secs as i64) {
        return refuse(
            StatusCode::BAD_REQUEST,
            "InvalidTimeStamp.Expired",
            "Specified time stamp or date value is expired.",
        );
    }
    let hash = payload_hash(body);
    if header("x-acs-content-sha256").as_deref() != Some(hash.as_str()) {
        return refuse(
            StatusCode::BAD_REQUEST,
            "SignatureDoesNotMatch",
            "Specified signature does not match our calculation: x-acs-content-sha256 is not the hash of the body.",
        );
    }
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let Some(canonical) = canonical_request(
        parts.method.as_str(),
        parts.uri.path(),
        params,
        &headers,
        &auth.signed_headers,
        &hash,
    ) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "IncompleteSignature",
            "The request signature does not conform to Aliyun standards: a signed header is missing.",
        );
    };
    let sts = string_to_sign(&canonical);
    if signature(secret, &sts) != auth.signature {
        return refuse(
            StatusCode::BAD_REQUEST,
            "SignatureDoesNotMatch",
            &format!(
                "Specified signature does not match our calculation. server string to sign is:{sts}"
            ),
        );
    }
    // Only a correctly signed request uses its nonce up: nobody else can burn ours.
    let nonce = header("x-acs-signature-nonce").unwrap_or_default();
    if !sim.lock().model.use_nonce(&nonce, Instant::now()) {
        return refuse(
            StatusCode::BAD_REQUEST,
            "SignatureNonceUsed",
            "Specified signature nonce was used already.",
        );
    }
    Ok(())
}
