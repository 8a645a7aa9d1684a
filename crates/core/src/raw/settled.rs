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
    let missing = |id: PhoneId| {
        let e = Error::new(
            ErrorKind::MissingFromResponse,
            format!("no outcome was recorded for phone `{id}`"),
        )
        .with_vendor(vendor);
        PhoneOutcome::failed(id, e)
    };
    // The vendor's answer is in `to_send` order (one outcome per id, as every batch call
    // gives): merged by walking both, without a map of the sent outcomes. A `to_send` out
    // of `order`'s order (no caller sends one) is merged by id, as an answer out of order.
    let in_order = sent.outcomes.len() == to_send.len()
        && sent
            .outcomes
            .iter()
            .zip(to_send)
            .all(|(o, id)| &o.phone == id);
    let outcomes: Vec<PhoneOutcome> = if in_order && fits_in_place(&order, &settled, &sent.outcomes)
    {
        // In the answer's own vector, from the back: no second fleet-sized vector.
        let mut out = sent.outcomes;
        let mut j = out.len();
        out.reserve_exact(order.len() - j);
        out.extend(
            order[j..]
                .iter()
                .map(|id| PhoneOutcome::pending(id.clone())),
        );
        for (k, id) in order.into_iter().enumerate().rev() {
            let o = match settled.remove(&id) {
                Some(o) => o,
                None if j > 0 && out[j - 1].phone == id => {
                    j -= 1;
                    std::mem::replace(&mut out[j], PhoneOutcome::pending(id))
                }
                None => missing(id),
            };
            out[k] = o;
        }
        out
    } else {
        let mut sent: HashMap<PhoneId, PhoneOutcome> = sent
            .outcomes
            .into_iter()
            .map(|o| (o.phone.clone(), o))
            .collect();
        order
            .into_iter()
            .map(|id| {
                settled
                    .remove(&id)
                    .or_else(|| sent.remove(&id))
                    .unwrap_or_else(|| missing(id))
            })
            .collect()
    };
    let mut report = BatchReport::new(operation, outcomes);
    report.stray_jobs = stray;
    report.origin = Some(origin);
    Ok(report)
}

/// Whether the backward walk of [`merge_settled`] can place every sent outcome inside the
/// answer's vector: each one is placed (none dropped), and never before one not yet placed is
/// overwritten. Checked without moving anything, so that the walk cannot go wrong half-way.
fn fits_in_place(
    order: &[PhoneId],
    settled: &HashMap<PhoneId, PhoneOutcome>,
    sent: &[PhoneOutcome],
) -> bool {
    if order.len() < sent.len() {
        return false;
    }
    let mut j = sent.len();
    for (k, id) in order.iter().enumerate().rev() {
        if !settled.contains_key(id) && j > 0 && &sent[j - 1].phone == id {
            j -= 1;
        }
        if j > k {
            return false;
        }
    }
    j == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[&str]) -> Vec<PhoneId> {
        v.iter().map(|s| PhoneId::from(*s)).collect()
    }

    /// A stop merged from `settled` and the vendor's `sent` answer.
    fn merge(
        order: Vec<PhoneId>,
        settled: HashMap<PhoneId, PhoneOutcome>,
        to_send: &[PhoneId],
        sent: Vec<PhoneOutcome>,
    ) -> BatchReport {
        let origin = Origin {
            vendor: "v",
            instance: 1,
        };
        let sent = BatchReport::new(Operation::Stop, sent);
        merge_settled(
            Operation::Stop,
            "v",
            order,
            settled,
            to_send,
            Some(Ok(sent)),
            origin,
        )
        .unwrap()
    }

    /// (phone, outcome kind) of each outcome.
    fn kinds(r: &BatchReport) -> Vec<(&str, &str)> {
        r.outcomes
            .iter()
            .map(|o| (o.phone.as_str(), o.outcome.as_str()))
            .collect()
    }

    #[test]
    fn settled_and_sent_outcomes_come_back_in_request_order() {
        let order = ids(&["a", "b", "c", "d"]);
        let to_send = ids(&["a", "c", "d"]);
        for sent_order in [["a", "c", "d"], ["d", "a", "c"]] {
            let settled: HashMap<PhoneId, PhoneOutcome> =
                [(PhoneId::from("b"), PhoneOutcome::done("b".into()))].into();
            let sent = sent_order
                .iter()
                .map(|s| PhoneOutcome::pending(PhoneId::from(*s)))
                .collect();
            let r = merge(order.clone(), settled, &to_send, sent);
            assert_eq!(
                kinds(&r),
                [
                    ("a", "pending"),
                    ("b", "done"),
                    ("c", "pending"),
                    ("d", "pending")
                ],
                "{sent_order:?}"
            );
        }
        // An answer missing a phone: that phone alone has no recorded outcome.
        let sent = vec![
            PhoneOutcome::pending("a".into()),
            PhoneOutcome::pending("d".into()),
        ];
        let r = merge(order, HashMap::new(), &ids(&["a", "b", "c", "d"]), sent);
        let kinds: Vec<&str> = r.outcomes.iter().map(|o| o.outcome.as_str()).collect();
        assert_eq!(kinds, ["pending", "failed", "failed", "pending"]);
    }

    /// The answer's vector is reused (merged from the back): settled phones, sent ones and a
    /// phone in neither each land in their request position, every sent outcome kept.
    #[test]
    fn an_in_order_answer_is_merged_in_place() {
        let order = ids(&["a", "b", "c", "d", "e", "f"]);
        let to_send = ids(&["a", "c", "e"]);
        let settled: HashMap<PhoneId, PhoneOutcome> = [
            (PhoneId::from("b"), PhoneOutcome::done("b".into())),
            (PhoneId::from("f"), PhoneOutcome::done("f".into())),
        ]
        .into();
        let sent = to_send.iter().cloned().map(PhoneOutcome::pending).collect();
        let r = merge(order.clone(), settled, &to_send, sent);
        assert_eq!(
            kinds(&r),
            [
                ("a", "pending"),
                ("b", "done"),
                ("c", "pending"),
                ("d", "failed"),
                ("e", "pending"),
                ("f", "done")
            ]
        );
        assert!(!fits_in_place(
            &order[..2],
            &HashMap::new(),
            &r.outcomes[..3]
        ));
    }
}
