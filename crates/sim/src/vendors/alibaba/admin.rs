//! eds-aic's own admin routes (tasks) and the in-process control of tasks and counters.

use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::json;
use tokio::time::Instant;

use super::model::task_info;
use super::{Alibaba, AlibabaTaskInfo};
use crate::engine::{admin_error, admin_ok, query_get, AdminReq, VendorSim};

/// `/_sim/tasks/{id}` and `/_sim/tasks?invoke_id=`.
pub(crate) fn routes(
    sim: &VendorSim<Alibaba>,
    req: &AdminReq<'_>,
) -> Result<Option<Response>, Response> {
    let m = req.method;
    Ok(Some(match req.segs.as_slice() {
        ["tasks", id] if *m == Method::GET => match sim.task(id) {
            Some(t) => admin_ok(json!(t)),
            None => admin_error(StatusCode::NOT_FOUND, "unknown task"),
        },
        ["tasks"] if *m == Method::GET => {
            let rid = query_get(&req.query, "invoke_id").unwrap_or_default();
            admin_ok(json!({"tasks": sim.tasks_of_invoke(rid)}))
        }
        _ => return Ok(None),
    }))
}

impl VendorSim<Alibaba> {
    /// The AccessKey id of the static credentials.
    pub fn access_key(&self) -> String {
        self.settings().access_key.clone()
    }

    /// The AccessKey secret of the static credentials.
    pub fn secret_key(&self) -> String {
        self.settings().secret_key.clone()
    }

    /// The STS credentials accepted: (AccessKey id, secret, security token).
    pub fn sts_credentials(&self) -> (String, String, String) {
        let s = self.settings();
        (
            s.sts_access_key.clone(),
            s.sts_secret_key.clone(),
            s.security_token.clone(),
        )
    }

    /// Begun starts of a phone (0 if unknown).
    pub fn applied_starts(&self, id: &str) -> u32 {
        self.applied_or_zero(id).starts
    }

    /// Begun stops of a phone (0 if unknown).
    pub fn applied_stops(&self, id: &str) -> u32 {
        self.applied_or_zero(id).stops
    }

    /// Begun reboots of a phone (0 if unknown).
    pub fn applied_reboots(&self, id: &str) -> u32 {
        self.applied_or_zero(id).reboots
    }

    /// Begun resets of a phone (0 if unknown).
    pub fn applied_resets(&self, id: &str) -> u32 {
        self.applied_or_zero(id).resets
    }

    /// Begun re-images of a phone (0 if unknown).
    pub fn applied_reimages(&self, id: &str) -> u32 {
        self.applied_or_zero(id).reimages
    }

    /// A snapshot of one task.
    pub fn task(&self, task_id: &str) -> Option<AlibabaTaskInfo> {
        let now = Instant::now();
        let st = self.lock();
        let i = *st.model.task_index.get(task_id)?;
        Some(task_info(&st, &st.model.tasks[i], now))
    }

    /// The tasks one call created (its batch task first), by its `RequestId`.
    pub fn tasks_of_invoke(&self, request_id: &str) -> Vec<AlibabaTaskInfo> {
        let now = Instant::now();
        let st = self.lock();
        st.model
            .invoke_index
            .get(request_id)
            .map(|v| {
                v.iter()
                    .map(|&i| task_info(&st, &st.model.tasks[i], now))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Tasks created so far (batch and instance tasks).
    pub fn task_count(&self) -> usize {
        self.lock().model.tasks.len()
    }
}
