//! Huawei authentication: IAM password login (`POST /v3/auth/tokens`), `X-Auth-Token` (static
//! or IAM-issued) and AK/SK `SDK-HMAC-SHA256` signatures with the lock-out.

use axum::body::Bytes;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};
use tokio::time::Instant;

use super::model::{fmt_micros, Settings};
use super::routes::{cps_error, unauthorized};
use super::Huawei;
use crate::engine::{json_response, VendorSim};
use crate::sign::{canonical_request, huawei_signature, parse_authorization, AkSkAuthorization};

pub(crate) fn iam_error(status: StatusCode, message: &str, title: &str) -> Response {
    json_response(
        status,
        &json!({"error": {"code": status.as_u16(), "message": message, "title": title}}),
    )
}

fn bad_request(message: &str) -> Response {
    iam_error(StatusCode::BAD_REQUEST, message, "Bad Request")
}

/// `POST /v3/auth/tokens`: a password login scoped to a project.
pub(crate) fn iam_login(sim: &VendorSim<Huawei>, body: &Bytes) -> Response {
    let s = sim.settings();
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return bad_request("The request you have made requires authentication.");
    };
    let identity = &v["auth"]["identity"];
    let has_password = identity["methods"]
        .as_array()
        .is_some_and(|m| m.iter().any(|x| x == "password"));
    let user = &identity["password"]["user"];
    let (Some(name), Some(password)) = (user["name"].as_str(), user["password"].as_str()) else {
        return bad_request("Invalid input for field 'identity': the password user is missing.");
    };
    if !has_password {
        return bad_request(
            "Invalid input for field 'identity': 'password' is not a supported method.",
        );
    }
    let domain = user["domain"]["name"].as_str().unwrap_or_default();
    if name != s.username || password != s.password || domain != s.domain {
        return iam_error(
            StatusCode::UNAUTHORIZED,
            "The username or password is wrong.",
            "Unauthorized",
        );
    }
    let project = &v["auth"]["scope"]["project"];
    let (pid, pname) = match (project["id"].as_str(), project["name"].as_str()) {
        (Some(id), _) if id == s.project_id => (id.to_string(), s.region.clone()),
        (_, Some(n)) if n == s.region => (s.project_id.clone(), n.to_string()),
        // Another project of the same account: the token works, just not for our project.
        (Some(id), _) => (id.to_string(), "other-project".to_string()),
        (_, Some(n)) => (
            hex::encode(&Sha256::digest(n.as_bytes())[..16]),
            n.to_string(),
        ),
        _ => return bad_request("Invalid input for field 'scope': a project scope is required."),
    };
    let (token, expires) = {
        let mut st = sim.lock();
        let st = &mut *st;
        st.model.issue_token(&mut st.rng, pid.clone())
    };
    let now = OffsetDateTime::now_utc();
    let domain_obj = json!({"id": "0f1e2d3c4b5a69788796a5b4c3d2e1f0", "name": s.domain});
    let body = json!({"token": {
        "expires_at": fmt_micros(expires),
        "issued_at": fmt_micros(now),
        "methods": ["password"],
        "catalog": [],
        "roles": [{"id": "0", "name": "op_service"}],
        "project": {"id": pid, "name": pname, "domain": domain_obj},
        "user": {"id": "a1b2c3d4e5f60718293a4b5c6d7e8f90", "name": s.username, "domain": domain_obj},
    }});
    let mut resp = json_response(StatusCode::CREATED, &body);
    if let Ok(v) = HeaderValue::from_str(&token) {
        resp.headers_mut().insert("x-subject-token", v);
    }
    resp
}

/// Authenticates a CPH call; returns the project the credentials belong to.
pub(crate) fn authenticate(
    sim: &VendorSim<Huawei>,
    parts: &Parts,
    body: &Bytes,
) -> Result<String, Response> {
    let s = sim.settings();
    let now = Instant::now();
    let header = |n: &str| {
        parts
            .headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    if let Some(token) = header("x-auth-token") {
        if token == s.token {
            return Ok(s.project_id.clone());
        }
        let mut st = sim.lock();
        let limit = st.faults.expire_token_after_calls;
        let Some(t) = st.model.tokens.get_mut(&token) else {
            return Err(unauthorized("decrypt token fail"));
        };
        if t.forced_expired || now >= t.expires_at || limit.is_some_and(|n| t.calls >= n) {
            t.forced_expired = true;
            return Err(unauthorized("token expired, please acquire a new token"));
        }
        t.calls += 1;
        return Ok(t.project_id.clone());
    }
    let Some(authz) = header("authorization") else {
        return Err(unauthorized("x-auth-token not found"));
    };
    let Some(auth) = parse_authorization(&authz) else {
        return Err(unauthorized("Authorization header format is invalid"));
    };
    let mut st = sim.lock();
    if let Some(until) = st.model.aksk_locked_until {
        if now < until {
            return Err(unauthorized(
                "the access key is locked after too many authentication failures, try again later",
            ));
        }
        st.model.aksk_locked_until = None;
        st.model.aksk_failures = 0;
    }
    match verify_aksk(s, parts, body, &auth) {
        Ok(()) => {
            st.model.aksk_failures = 0;
            Ok(s.project_id.clone())
        }
        Err((resp, counts)) => {
            if counts {
                st.model.aksk_failures += 1;
                if let Some(max) = st.limits.aksk_lockout_failures {
                    if st.model.aksk_failures >= max {
                        st.model.aksk_locked_until =
                            Some(now + sim.clock().scaled(st.limits.aksk_lockout));
                    }
                }
            }
            Err(resp)
        }
    }
}

/// Checks an AK/SK signature; the flag says whether a failure counts towards lock-out.
fn verify_aksk(
    s: &Settings,
    parts: &Parts,
    body: &Bytes,
    auth: &AkSkAuthorization,
) -> Result<(), (Response, bool)> {
    if auth.access != s.access_key {
        return Err((unauthorized("access key not found"), true));
    }
    if !auth.signed_headers.iter().any(|h| h == "x-sdk-date") {
        return Err((unauthorized("x-sdk-date is not signed"), true));
    }
    let Some(date) = parts
        .headers
        .get("x-sdk-date")
        .and_then(|v| v.to_str().ok())
    else {
        return Err((unauthorized("x-sdk-date not found"), true));
    };
    let Ok(parsed) = PrimitiveDateTime::parse(
        date,
        format_description!("[year][month][day]T[hour][minute][second]Z"),
    ) else {
        return Err((unauthorized("x-sdk-date format is invalid"), true));
    };
    let skew = (OffsetDateTime::now_utc() - parsed.assume_utc()).abs();
    if skew > time::Duration::minutes(15) {
        return Err((
            cps_error(
                StatusCode::UNAUTHORIZED,
                "APIGW.0303",
                "Incorrect app authentication information: the X-Sdk-Date differs from the server time by more than 15 minutes",
                None,
            ),
            false,
        ));
    }
    if let Some(expected) = &s.security_token {
        let sent = parts
            .headers
            .get("x-security-token")
            .and_then(|v| v.to_str().ok());
        if sent != Some(expected.as_str()) {
            return Err((unauthorized("security token is missing or invalid"), true));
        }
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
        parts.uri.query(),
        &headers,
        &auth.signed_headers,
        body,
    ) else {
        return Err((unauthorized("a signed header is missing"), true));
    };
    let expected = huawei_signature(&s.secret_key, date, &canonical);
    if expected == auth.signature {
        Ok(())
    } else {
        Err((unauthorized("verify aksk signature fail"), true))
    }
}
