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

/// Request id → its job ids, as [`mock_batch_reset`] answered them.
pub type Requests = Arc<Mutex<std::collections::HashMap<String, Vec<String>>>>;

/// A batch-reset mock expecting `calls` requests: each is answered with request id
/// `req-<its first phone>` and a job `job-<phone>` per phone, recorded in `requests`.
pub async fn mock_batch_reset(
    s: &mut mockito::Server,
    requests: &Requests,
    calls: usize,
) -> mockito::Mock {
    let reqs = requests.clone();
    s.mock("POST", format!("{BASE}/phones/batch-reset").as_str())
        .with_body_from_request(move |req| {
            let body: serde_json::Value = serde_json::from_slice(req.body().unwrap()).unwrap();
            let ids: Vec<String> = body["phones"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["phone_id"].as_str().unwrap().to_owned())
                .collect();
            let rid = format!("req-{}", ids[0]);
            let jobs: Vec<serde_json::Value> = ids
                .iter()
                .map(|p| serde_json::json!({"phone_id": p, "job_id": format!("job-{p}")}))
                .collect();
            reqs.lock().unwrap().insert(
                rid.clone(),
                ids.iter().map(|p| format!("job-{p}")).collect(),
            );
            serde_json::to_vec(&serde_json::json!({"request_id": rid, "jobs": jobs})).unwrap()
        })
        .expect(calls)
        .create_async()
        .await
}

/// What a list-jobs request asked of the jobs [`mock_batch_reset`] recorded.
pub struct JobsPage {
    /// The request ids it named.
    pub rids: Vec<String>,
    pub offset: usize,
    pub limit: usize,
    /// Its page: (request id, job id), sorted, `offset` and `limit` applied.
    pub jobs: Vec<(String, String)>,
}

/// The page a list-jobs request `req` asks for, out of `requests`.
pub fn jobs_page(req: &mockito::Request, requests: &Requests) -> JobsPage {
    let rids: Vec<String> = param(req, "request_ids")
        .unwrap()
        .split(',')
        .map(str::to_owned)
        .collect();
    let offset: usize = param(req, "offset").unwrap().parse().unwrap();
    let limit: usize = param(req, "limit").unwrap().parse().unwrap();
    let reqs = requests.lock().unwrap();
    let mut all: Vec<(String, String)> = rids
        .iter()
        .flat_map(|r| reqs[r].iter().map(move |j| (r.clone(), j.clone())))
        .collect();
    all.sort();
    let jobs = all.into_iter().skip(offset).take(limit).collect();
    JobsPage {
        rids,
        offset,
        limit,
        jobs,
    }
}
