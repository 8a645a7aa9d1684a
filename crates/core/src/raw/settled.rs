//! Changes where some phones are settled before anything is sent (already in the requested
//! state, refused by a state check): their outcomes and the vendor's answer for the rest, back
//! in request order.

use std::collections::HashMap;

use crate::{
    BatchReport, Error, ErrorKind, Operation, Origin, Outcome, PhoneId, PhoneOutcome, Result,
};

/// One report of `operation` over `order`: each phone's outcome from `settled` (decided
/// without a call) or from `sent` (the vendor's answer for the others; `None` when there were
/// none to send). A `sent` that failed as a whole fails its phones — unless nothing was
/// settled as accepted, in which case the error is the call's, as a batch call's would be.
pub fn merge_settled(
    operation: Operation,
    vendor: &'static str,
    order: Vec<PhoneId>,
    mut settled: HashMap<PhoneId, PhoneOutcome>,
    to_send: &[PhoneId],
    sent: Option<Result<BatchReport>>,
    origin: Origin,
) -> Result<BatchReport> {
    let sent = match sent {
        None => BatchReport::new(operation, Vec::new()),
        Some(Ok(r)) => r,
        Some(Err(e))
            if settled
                .values()
                .any(|o| !matches!(o.outcome, Outcome::Failed(_))) =>
        {
            BatchReport::new(
                operation,
                to_send
                    .iter()
                    .map(|id| PhoneOutcome::failed(id.clone(), e.clone()))
                    .collect(),
            )
        }
        Some(Err(e)) => return Err(e),
    };
    let stray = sent.stray_jobs;
    let mut sent: HashMap<PhoneId, PhoneOutcome> = sent
        .outcomes
        .into_iter()
        .map(|o| (o.phone.clone(), o))
        .collect();
    let outcomes = order
        .into_iter()
        .map(|id| {
            settled
                .remove(&id)
                .or_else(|| sent.remove(&id))
                .unwrap_or_else(|| {
                    let e = Error::new(
                        ErrorKind::MissingFromResponse,
                        format!("no outcome was recorded for phone `{id}`"),
                    )
                    .with_vendor(vendor);
                    PhoneOutcome::failed(id, e)
                })
        })
        .collect();
    let mut report = BatchReport::new(operation, outcomes);
    report.stray_jobs = stray;
    report.origin = Some(origin);
    Ok(report)
}
