//! GeeLark's own admin routes (refusal flags, the live-view page) and the in-process control of
//! its flags and counters.

use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::{Geelark, GeelarkFlags};
use crate::engine::{admin_ok, parse_admin_json, raw_response, unknown_phone, AdminReq, VendorSim};

#[derive(Deserialize)]
struct FlagsReq {
    remote_connected: Option<bool>,
    executing_task: Option<bool>,
}

/// `PUT /_sim/phones/{id}/flags` and `GET /_sim/live/{id}`.
pub(crate) fn routes(
    sim: &VendorSim<Geelark>,
    req: &AdminReq<'_>,
) -> Result<Option<Response>, Response> {
    Ok(Some(match req.segs.as_slice() {
        ["phones", id, "flags"] if req.is_set() => {
            let set: FlagsReq = parse_admin_json(req.body)?;
            let Some(mut flags) = sim.flags(id) else {
                return Err(unknown_phone());
            };
            if let Some(v) = set.remote_connected {
                flags.remote_connected = v;
            }
            if let Some(v) = set.executing_task {
                flags.executing_task = v;
            }
            sim.set_flags(id, flags);
            admin_ok(json!(sim.phone(id)))
        }
        ["live", id] => match sim.phone(id) {
            Some(info) => raw_response(
                StatusCode::OK,
                "text/html",
                format!(
                    "<html><body>cloudphone-sim live view of {} (status {})</body></html>",
                    info.serial_name, info.status
                ),
            ),
            None => unknown_phone(),
        },
        _ => return Ok(None),
    }))
}

impl VendorSim<Geelark> {
    /// Changes a phone's flags; false if unknown.
    fn change_flags(&self, id: &str, change: impl FnOnce(&mut GeelarkFlags)) -> bool {
        match self.lock().fleet.get_mut(id) {
            Some(p) => {
                change(&mut p.data.flags);
                true
            }
            None => false,
        }
    }

    /// A phone's refusal flags.
    pub fn flags(&self, id: &str) -> Option<GeelarkFlags> {
        self.lock().fleet.get(id).map(|p| p.data.flags)
    }

    /// Sets a phone's refusal flags; false if unknown.
    pub fn set_flags(&self, id: &str, flags: GeelarkFlags) -> bool {
        self.change_flags(id, |f| *f = flags)
    }

    /// Sets only the `remote_connected` flag; false if unknown.
    pub fn set_remote_connected(&self, id: &str, on: bool) -> bool {
        self.change_flags(id, |f| f.remote_connected = on)
    }

    /// Sets only the `executing_task` flag; false if unknown.
    pub fn set_executing_task(&self, id: &str, on: bool) -> bool {
        self.change_flags(id, |f| f.executing_task = on)
    }

    /// Accepted one-click-new-machine (reset) requests for a phone (0 if unknown).
    pub fn applied_resets(&self, id: &str) -> u32 {
        self.applied_or_zero(id).new_ones
    }

    /// Accepted start requests for a phone (0 if unknown).
    pub fn applied_starts(&self, id: &str) -> u32 {
        self.applied_or_zero(id).starts
    }

    /// Accepted stop requests for a phone (0 if unknown).
    pub fn applied_stops(&self, id: &str) -> u32 {
        self.applied_or_zero(id).stops
    }

    /// Accepted restart requests for a phone (0 if unknown).
    pub fn applied_restarts(&self, id: &str) -> u32 {
        self.applied_or_zero(id).restarts
    }
}
