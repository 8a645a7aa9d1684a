//! GeeLark authentication: a bearer token, or key verification (`appId`, `traceId`, `ts`,
//! `nonce`, `sign`).

use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::HeaderMap;

use super::model::Settings;
use super::routes::{header_str, ApiError};
use crate::sign::geelark_sign;

const BAD_SIGN: ApiError = (40003, "Signature verification failed");

/// Checks a request's credentials; the envelope code and message if they are refused.
pub(crate) fn check(settings: &Settings, headers: &HeaderMap) -> Result<(), ApiError> {
    let trace = header_str(headers, "traceid").unwrap_or_default();
    if trace.is_empty() {
        return Err((40002, "traceId is empty"));
    }
    if let Some(auth) = header_str(headers, "authorization") {
        let token = auth
            .strip_prefix("Bearer ")
            .or_else(|| auth.strip_prefix("bearer "))
            .unwrap_or("")
            .trim();
        return if token == settings.token {
            Ok(())
        } else {
            Err((40003, "Invalid token"))
        };
    }
    let get = |n: &str| header_str(headers, n).filter(|s| !s.is_empty());
    let (Some(app_id), Some(ts), Some(nonce), Some(sign)) =
        (get("appid"), get("ts"), get("nonce"), get("sign"))
    else {
        return Err(BAD_SIGN);
    };
    if app_id != settings.app_id {
        return Err(BAD_SIGN);
    }
    if !trace.starts_with(&nonce) || nonce.chars().count() != 6 {
        return Err(BAD_SIGN);
    }
    let Ok(ts_ms) = ts.parse::<u64>() else {
        return Err(BAD_SIGN);
    };
    if let Some(skew) = settings.max_skew {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as u64;
        if now_ms.abs_diff(ts_ms) > skew.as_millis() as u64 {
            return Err(BAD_SIGN);
        }
    }
    let expected = geelark_sign(&app_id, &trace, &ts, &nonce, &settings.api_key);
    if sign == expected {
        Ok(())
    } else {
        Err(BAD_SIGN)
    }
}
