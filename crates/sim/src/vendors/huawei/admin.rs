//! Huawei's own admin routes (jobs, tokens) and the in-process control of jobs, tokens and
//! counters.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;
use tokio::time::Instant;

use super::model::job_info;
use super::{Huawei, HuaweiJobInfo};
use crate::engine::{admin_error, admin_ok, parse_admin_json, query_get, AdminReq, VendorSim};

#[derive(Deserialize)]
struct TtlReq {
    seconds: f64,
}

/// `/_sim/jobs...` and `/_sim/tokens...`.
pub(crate) fn routes(
    sim: &VendorSim<Huawei>,
    req: &AdminReq<'_>,
) -> Result<Option<Response>, Response> {
    let m = req.method;
    Ok(Some(match req.segs.as_slice() {
        ["jobs", id] if *m == Method::GET => match sim.job(id) {
            Some(j) => admin_ok(json!(j)),
            None => admin_error(StatusCode::NOT_FOUND, "unknown job"),
        },
        ["jobs"] if *m == Method::GET => {
            let rid = query_get(&req.query, "request_id").unwrap_or_default();
            admin_ok(json!({"jobs": sim.jobs_of_request(rid)}))
        }
        ["tokens"] if *m == Method::POST => admin_ok(json!({"token": sim.issue_token()})),
        ["tokens", "expire"] if *m == Method::POST => {
            sim.expire_tokens();
            admin_ok(json!({"ok": true}))
        }
        ["tokens", "ttl"] if *m == Method::GET => {
            admin_ok(json!({"seconds": sim.token_ttl().as_secs_f64()}))
        }
        ["tokens", "ttl"] if req.is_set() => {
            let set: TtlReq = parse_admin_json(req.body)?;
            if !(set.seconds.is_finite() && set.seconds >= 0.0) {
                return Err(admin_error(StatusCode::BAD_REQUEST, "seconds must be >= 0"));
            }
            sim.set_token_ttl(Duration::from_secs_f64(set.seconds));
            admin_ok(json!({"seconds": set.seconds}))
        }
        _ => return Ok(None),
    }))
}

impl VendorSim<Huawei> {
    /// The project id every CPH path must carry.
    pub fn project_id(&self) -> String {
        self.settings().project_id.clone()
    }

    /// Accepted resets for a phone (0 if unknown).
    pub fn applied_resets(&self, id: &str) -> u32 {
        self.applied_or_zero(id).resets
    }

    /// Accepted restarts for a phone (0 if unknown).
    pub fn applied_restarts(&self, id: &str) -> u32 {
        self.applied_or_zero(id).restarts
    }

    /// Accepted stops for a phone (0 if unknown).
    pub fn applied_stops(&self, id: &str) -> u32 {
        self.applied_or_zero(id).stops
    }

    /// A snapshot of one job.
    pub fn job(&self, job_id: &str) -> Option<HuaweiJobInfo> {
        let now = Instant::now();
        let st = self.lock();
        let i = *st.model.job_index.get(job_id)?;
        Some(job_info(&st, &st.model.jobs[i], now))
    }

    /// The jobs one request created, in creation order.
    pub fn jobs_of_request(&self, request_id: &str) -> Vec<HuaweiJobInfo> {
        let now = Instant::now();
        let st = self.lock();
        st.model
            .request_jobs
            .get(request_id)
            .map(|v| {
                v.iter()
                    .map(|&i| job_info(&st, &st.model.jobs[i], now))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Number of jobs created so far.
    pub fn job_count(&self) -> usize {
        self.lock().model.jobs.len()
    }

    /// Makes every IAM-issued token expired (the static token stays valid); the next call with
    /// one gets 401 APIGW.0301 "…token expired…".
    pub fn expire_tokens(&self) {
        for t in self.lock().model.tokens.values_mut() {
            t.forced_expired = true;
        }
    }

    /// Sets the lifetime of tokens issued from now on (real time, not scaled).
    pub fn set_token_ttl(&self, ttl: Duration) {
        self.lock().model.token_ttl = ttl;
    }

    /// The lifetime of newly issued tokens.
    pub fn token_ttl(&self) -> Duration {
        self.lock().model.token_ttl
    }

    /// Issues a project-scoped token in-process, as a successful IAM login would.
    pub fn issue_token(&self) -> String {
        let pid = self.project_id();
        let mut st = self.lock();
        let st = &mut *st;
        st.model.issue_token(&mut st.rng, pid).0
    }
}
