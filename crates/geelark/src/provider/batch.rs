//! The per-phone outcomes of a GeeLark batch answer (status, stop, start).

use std::collections::{HashMap, HashSet};

use cloudphone_core::raw::undecodable;
use cloudphone_core::{Operation, PhoneId, PhoneOutcome, Result};
use serde_json::Value;

use crate::codes::{self, vendor_error};
use crate::wire::{self, BatchData};
use crate::VENDOR;

/// The per-phone outcomes of a batch answer, for the phones of `chunk` only. Ids the answer
/// leaves out get no outcome here; the engine gives them one of their own. `request_id` is
/// attached to every per-phone error.
pub(crate) fn batch_outcomes(
    operation: Operation,
    path: &str,
    chunk: &[PhoneId],
    data: Option<Value>,
    ts: u64,
    request_id: Option<&str>,
) -> Result<Vec<PhoneOutcome>> {
    let data: BatchData = match data {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(v) => serde_json::from_value(v)
            .map_err(|e| undecodable(VENDOR, format_args!("`data` from `{path}`"), e))?,
    };
    let asked: HashSet<&str> = chunk.iter().map(PhoneId::as_str).collect();
    let mut out: HashMap<String, PhoneOutcome> = HashMap::new();
    let has_success_list = data.success_details.is_some();
    // Accepted entries first. Where the answer contradicts itself about a phone (the stop seed
    // lists one id as shut down and as not found), what the vendor accepted is kept: reporting
    // a phone it acted on as failed invites a second stop, start or reset.
    for s in data.success_details.unwrap_or_default() {
        if !asked.contains(s.id.as_str()) || out.contains_key(&s.id) {
            continue;
        }
        let id = PhoneId::new(s.id.clone());
        let state = s.status.as_deref().map(wire::observed);
        let reached = match operation.target_state() {
            None => true,
            Some(target) => state.as_ref().is_some_and(|st| st.state == target),
        };
        let mut o = if reached {
            PhoneOutcome::done(id)
        } else {
            PhoneOutcome::pending(id)
        };
        if let Some(st) = state {
            o = o.with_state(st);
        }
        if let Some(name) = s.serial_name {
            o = o.with_name(name);
        }
        if let Some(url) = s.url {
            o = o.with_live_view_url(url);
        }
        out.insert(s.id, o);
    }
    for f in data.fail_details.unwrap_or_default() {
        if !asked.contains(f.id.as_str()) {
            continue;
        }
        let id = PhoneId::new(f.id.clone());
        let outcome = if operation == Operation::Start && f.code == codes::ALREADY_STARTED {
            // The goal is reached; no state is invented for it.
            PhoneOutcome::done(id)
        } else {
            let mut e = vendor_error(f.code, &f.msg, path, ts);
            if let Some(r) = request_id {
                e = e.with_request_id(r);
            }
            PhoneOutcome::failed(id, e)
        };
        match out.get(&f.id) {
            // An accepted entry is never replaced; a failure only by an acceptance.
            Some(kept) if kept.error().is_none() || outcome.error().is_some() => {}
            _ => {
                out.insert(f.id, outcome);
            }
        }
    }
    // Stop documents only `failDetails`: the other phones were accepted, provided the counters
    // agree. A status answer without details says nothing about any phone.
    if !has_success_list && operation != Operation::Status {
        let accepted: Vec<&PhoneId> = chunk
            .iter()
            .filter(|id| !out.contains_key(id.as_str()))
            .collect();
        if data
            .success_amount
            .is_none_or(|n| n == accepted.len() as u64)
        {
            for id in accepted {
                out.insert(id.to_string(), PhoneOutcome::pending(id.clone()));
            }
        }
    }
    Ok(out.into_values().collect())
}
