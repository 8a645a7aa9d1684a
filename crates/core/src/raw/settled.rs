//! Changes where some phones are settled before anything is sent (already in the requested
//! state, refused by a state check): their outcomes and the vendor's answer for the rest, back
//! in request order.

use std::collections::HashMap;

use crate::{
    BatchReport, Error, ErrorKind, Operation, Origin, Outcome, PhoneId, PhoneOutcome, Result,
};

/// One report of `operation` over `phones` (distinct ids, in request order): the outcome of
/// each phone at a slot of `settled` (slots into `phones`, ascending; decided without a call),
/// and of every other phone from `sent` (the vendor's answer for them, sent in request order;
/// `None` when there were none to send).
///
/// A `sent` that failed as a whole fails its phones — unless nothing was settled as accepted,
/// in which case the error is the call's, as a batch call's would be. A phone in neither gets
/// an [`ErrorKind::MissingFromResponse`] failure.
///
/// Slots, not ids: a fleet-sized change needs no map of the phones set aside and no copy of
/// the order, and an answer in request order (every batch call gives one) is merged inside its
/// own vector.
pub fn merge_settled(
    operation: Operation,
    vendor: &'static str,
    phones: &[PhoneId],
    settled: Vec<(usize, PhoneOutcome)>,
    sent: Option<Result<BatchReport>>,
    origin: Origin,
) -> Result<BatchReport> {
    debug_assert!(settled.windows(2).all(|w| w[0].0 < w[1].0));
    let is_settled = {
        let mut mask = vec![false; phones.len()];
        for (slot, _) in &settled {
            if let Some(m) = mask.get_mut(*slot) {
                *m = true;
            }
        }
        mask
    };
    let sent = match sent {
        None => BatchReport::new(operation, Vec::new()),
        Some(Ok(r)) => r,
        Some(Err(e))
            if settled
                .iter()
                .any(|(_, o)| !matches!(o.outcome, Outcome::Failed(_))) =>
        {
            let outcomes = phones
                .iter()
                .zip(&is_settled)
                .filter(|(_, s)| !**s)
                .map(|(id, _)| PhoneOutcome::failed(id.clone(), e.clone()))
                .collect();
            BatchReport::new(operation, outcomes)
        }
        Some(Err(e)) => return Err(e),
    };
    let stray = sent.stray_jobs;
    let missing = |id: &PhoneId| {
        let e = Error::new(
            ErrorKind::MissingFromResponse,
            format!("no outcome was recorded for phone `{id}`"),
        )
        .with_vendor(vendor);
        PhoneOutcome::failed(id.clone(), e)
    };
    let unsent = || phones.iter().zip(&is_settled).filter(|(_, s)| !**s);
    let in_order = sent.outcomes.len() == unsent().count()
        && sent
            .outcomes
            .iter()
            .zip(unsent())
            .all(|(o, (id, _))| &o.phone == id);
    let outcomes: Vec<PhoneOutcome> = if in_order {
        // In the answer's own vector, from the back: sent outcome `j` is swapped into its
        // slot `k` (never before it: `j ≤ k`), settled ones drop into the gaps. Everything in
        // `j..=k` is still a placeholder, so a swap only moves one back.
        let mut out = sent.outcomes;
        let mut j = out.len();
        let blank = PhoneId::new("");
        out.reserve_exact(phones.len() - j);
        out.resize_with(phones.len(), || PhoneOutcome::pending(blank.clone()));
        let mut settled = settled;
        for k in (0..phones.len()).rev() {
            if is_settled[k] {
                let (slot, o) = settled.pop().expect("a settled outcome per settled slot");
                debug_assert_eq!(slot, k);
                out[k] = o;
            } else {
                j -= 1;
                out.swap(j, k);
            }
        }
        out
    } else {
        // An answer out of order (no batch call gives one): merged by id.
        let mut by_id: HashMap<PhoneId, PhoneOutcome> = sent
            .outcomes
            .into_iter()
            .map(|o| (o.phone.clone(), o))
            .collect();
        let mut settled = settled.into_iter().peekable();
        phones
            .iter()
            .enumerate()
            .map(|(k, id)| match settled.next_if(|(slot, _)| *slot == k) {
                Some((_, o)) => o,
                None => by_id.remove(id).unwrap_or_else(|| missing(id)),
            })
            .collect()
    };
    let mut report = BatchReport::new(operation, outcomes);
    report.stray_jobs = stray;
    report.origin = Some(origin);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[&str]) -> Vec<PhoneId> {
        v.iter().map(|s| PhoneId::from(*s)).collect()
    }

    /// A stop merged from `settled` and the vendor's `sent` answer.
    fn merge(
        phones: &[PhoneId],
        settled: Vec<(usize, PhoneOutcome)>,
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
            phones,
            settled,
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
        let phones = ids(&["a", "b", "c", "d"]);
        for sent_order in [["a", "c", "d"], ["d", "a", "c"]] {
            let settled = vec![(1, PhoneOutcome::done("b".into()))];
            let sent = sent_order
                .iter()
                .map(|s| PhoneOutcome::pending(PhoneId::from(*s)))
                .collect();
            let r = merge(&phones, settled, sent);
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
        let r = merge(&phones, Vec::new(), sent);
        let kinds: Vec<&str> = r.outcomes.iter().map(|o| o.outcome.as_str()).collect();
        assert_eq!(kinds, ["pending", "failed", "failed", "pending"]);
    }

    /// The answer's vector is reused (merged from the back): settled and sent phones each
    /// land in their request position, every sent outcome kept.
    #[test]
    fn an_in_order_answer_is_merged_in_place() {
        let phones = ids(&["a", "b", "c", "d", "e", "f"]);
        let settled = vec![
            (1, PhoneOutcome::done("b".into())),
            (3, PhoneOutcome::done("d".into())),
            (5, PhoneOutcome::done("f".into())),
        ];
        let sent: Vec<PhoneOutcome> = ids(&["a", "c", "e"])
            .into_iter()
            .map(PhoneOutcome::pending)
            .collect();
        let r = merge(&phones, settled, sent);
        assert_eq!(
            kinds(&r),
            [
                ("a", "pending"),
                ("b", "done"),
                ("c", "pending"),
                ("d", "done"),
                ("e", "pending"),
                ("f", "done")
            ]
        );
    }

    #[test]
    fn a_failed_send_fails_only_the_phones_sent() {
        let phones = ids(&["a", "b", "c"]);
        let origin = Origin {
            vendor: "v",
            instance: 1,
        };
        let e = Error::new(ErrorKind::Unavailable, "down");
        let settled = vec![(1, PhoneOutcome::done("b".into()))];
        let r = merge_settled(
            Operation::Stop,
            "v",
            &phones,
            settled,
            Some(Err(e.clone())),
            origin,
        )
        .unwrap();
        assert_eq!(kinds(&r), [("a", "failed"), ("b", "done"), ("c", "failed")]);
        // Nothing accepted: the error is the call's.
        let settled = vec![(1, PhoneOutcome::failed("b".into(), e.clone()))];
        let r = merge_settled(Operation::Stop, "v", &phones, settled, Some(Err(e)), origin);
        assert!(r.is_err());
    }
}
