//! The life of a vendor request, the same for every vendor: body cap, admin dispatch, call log,
//! latency, then the vendor's `serve`, which runs its actions through [`VendorSim::guarded`]
//! (rate limit, then the planned fault).

use std::time::Duration;

use axum::body::{to_bytes, Bytes};
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::Response;
use rand::Rng;
use tokio::sync::watch;

use super::calls::Received;
use super::cpu::Timed;
use super::faults::{plan_faults, FaultKind};
use super::state::{VendorSim, VendorState};
use super::util::{connection_reset_response, raw_response, sleep_or_shutdown};
use super::{admin, SimVendor};

/// The largest request body read; a larger one is answered 413.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// A vendor request, recorded and delayed, as [`SimVendor::serve`] gets it.
pub struct Req<'a> {
    pub(crate) parts: &'a Parts,
    pub(crate) body: &'a Bytes,
    /// The endpoint key [`SimVendor::route`] gave it.
    pub(crate) endpoint: &'a str,
    /// Fires when the simulator shuts down (hangs end early).
    pub(crate) shutdown: watch::Receiver<bool>,
}

/// The answers a vendor gives for the request-level faults.
pub trait FaultAnswers: Sync {
    /// An injected throttling answer.
    fn throttled(&self) -> Response;
    /// An injected server error; `variant` (0–2) picks one of its shapes.
    fn server_error(&self, variant: u8) -> Response;
    /// The late answer of a hang whose action was not carried out.
    fn timed_out(&self) -> Response;
    /// A 200 whose body is not valid JSON.
    fn malformed(&self) -> Response;
}

/// The axum handler of every vendor listener. A vendor call's handler is timed with the CPU
/// clock of the threads that poll it, and the time added to its endpoint's total
/// ([`super::cpu`]); admin calls are neither counted nor timed.
pub(crate) async fn handle<V: SimVendor>(
    State(sim): State<VendorSim<V>>,
    req: Request,
) -> Response {
    let ((resp, endpoint), spent) = Timed::new(answer(&sim, req)).await;
    if let Some(endpoint) = endpoint {
        sim.lock().calls.add_cpu(&endpoint, spent);
    }
    resp
}

/// Answers one request; the endpoint key of a vendor call (`None` for an admin call or a body
/// over the cap).
async fn answer<V: SimVendor>(sim: &VendorSim<V>, req: Request) -> (Response, Option<String>) {
    let (parts, body) = req.into_parts();
    let body = match to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            let resp = raw_response(StatusCode::PAYLOAD_TOO_LARGE, "text/plain", String::new());
            return (resp, None);
        }
    };
    let path = parts.uri.path();
    if path == "/_sim" || path.starts_with("/_sim/") {
        return (admin::serve(sim, &parts, &body), None);
    }
    let (endpoint, route) = V::route(&parts);
    let (latency, call) = {
        let mut st = sim.lock();
        st.calls.record(
            sim.clock(),
            Received {
                endpoint: &endpoint,
                method: &parts.method,
                path,
                query: parts.uri.query(),
                headers: &parts.headers,
                body: &body,
            },
        );
        let call = V::on_call(&mut st);
        let latency = sim.latency() + Duration::from_millis(st.faults.latency_ms);
        (latency, call)
    };
    let mut shutdown = sim.shutdown_signal();
    sleep_or_shutdown(latency, &mut shutdown).await;
    let req = Req {
        parts: &parts,
        body: &body,
        endpoint: &endpoint,
        shutdown,
    };
    let resp = V::serve(sim, req, route, call).await;
    (resp, Some(endpoint))
}

impl<V: SimVendor> VendorSim<V> {
    /// Runs an authenticated request's action: `limit` may refuse it (rate limits, under the
    /// state lock); otherwise the seeded RNG plans at most one fault, and `exec` runs (or not)
    /// as the plan says, its answer replaced by the fault's.
    pub(crate) async fn guarded(
        &self,
        req: &mut Req<'_>,
        answers: &impl FaultAnswers,
        limit: impl FnOnce(&mut VendorState<V>) -> Option<Response> + Send,
        exec: impl FnOnce() -> Response + Send,
    ) -> Response {
        let (plan, variant) = {
            let mut st = self.lock();
            if let Some(refusal) = limit(&mut st) {
                st.meter.record(req.endpoint, true);
                return refusal;
            }
            st.meter.record(req.endpoint, false);
            let faults = st.faults.clone();
            let plan = plan_faults(&mut st.rng, &faults, req.endpoint);
            let variant: u8 = if plan.kind.is_some() {
                st.rng.random_range(0..3)
            } else {
                0
            };
            (plan, variant)
        };
        let Some(kind) = plan.kind else {
            return exec();
        };
        match kind {
            FaultKind::Throttle => answers.throttled(),
            FaultKind::Hang => {
                let answer = plan.applied.then(exec);
                sleep_or_shutdown(plan.hang, &mut req.shutdown).await;
                answer.unwrap_or_else(|| answers.timed_out())
            }
            _ => {
                if plan.applied {
                    let _ = exec();
                }
                match kind {
                    FaultKind::Error5xx => answers.server_error(variant),
                    FaultKind::ConnectionReset => connection_reset_response(),
                    _ => answers.malformed(),
                }
            }
        }
    }
}
