#![allow(dead_code)]

use std::sync::{Arc, Mutex};

pub mod raw;

use cloudphone_huawei_cph::{Clock, HuaweiCphConfig, HuaweiCphProvider};
use time::OffsetDateTime;

pub const PROJECT: &str = "proj-1";
pub const TOKEN: &str = "tok-SECRET-123";
pub const BASE: &str = "/v1/proj-1/cloud-phone";

/// A clock tests move by hand.
#[derive(Debug, Clone)]
pub struct FixedClock(pub Arc<Mutex<OffsetDateTime>>);

impl FixedClock {
    pub fn at(t: OffsetDateTime) -> Self {
        FixedClock(Arc::new(Mutex::new(t)))
    }
    pub fn set(&self, t: OffsetDateTime) {
        *self.0.lock().unwrap() = t;
    }
}

impl Clock for FixedClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap()
    }
}

/// Fast, unthrottled settings against a mock endpoint; no credentials.
pub fn config(url: &str) -> HuaweiCphConfig {
    HuaweiCphConfig::new("cn-east-3", PROJECT)
        .with_endpoint(url)
        .with_rate_limit_per_second(0)
        .with_retries(3, 1, 5)
}

pub fn token_provider(url: &str) -> HuaweiCphProvider {
    HuaweiCphProvider::new(config(url).with_token(TOKEN.to_owned().into())).unwrap()
}

pub fn ids(v: &[&str]) -> Vec<cloudphone_core::PhoneId> {
    v.iter()
        .map(|s| cloudphone_core::PhoneId::from(*s))
        .collect()
}

/// The query parameters of a mockito request, decoded.
pub fn query(req: &mockito::Request) -> Vec<(String, String)> {
    let pq = req.path_and_query();
    let q = pq.split_once('?').map(|(_, q)| q).unwrap_or("");
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                percent_encoding::percent_decode_str(k)
                    .decode_utf8_lossy()
                    .into_owned(),
                percent_encoding::percent_decode_str(v)
                    .decode_utf8_lossy()
                    .into_owned(),
            )
        })
        .collect()
}

pub fn param(req: &mockito::Request, key: &str) -> Option<String> {
    query(req)
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}
