//! `wait`: pending phones with jobs followed through list-jobs, then their state confirmed
//! once; the others polled by status; a refusal ends the wait with every outcome kept.
//!
//! At fleet scale the wait holds the outcomes it returns (the report handed to it, updated in
//! place) and small indexes into them: job id → phone, and per request id the phones still
//! followed — sharing the job references' ids (reference counts), so the references stay in
//! their outcomes and an observer is handed them without a copy. A round lists the jobs of the
//! request ids that still have unfinished jobs only; a phone whose job succeeded has its state confirmed once, together with the others, when
//! no followed job is left running (or at the deadline): with list pages that is one listing
//! for the whole fleet rather than one per round.

use std::collections::HashMap;
use std::sync::Arc;

use cloudphone_core::raw::progress;
use cloudphone_core::raw::wait::{check_origin, deadline_after, needs_watch, observe};
use cloudphone_core::{
    BatchReport, Error, ErrorKind, JobState, Outcome, PhoneId, Result, WaitOptions,
};

use super::jobs::{Listed, Wanted};
use super::HuaweiCphProvider;
use crate::VENDOR;

/// How a phone is being watched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Track {
    /// Settled (or never watched).
    No,
    /// Its job is followed through list-jobs.
    Job,
    /// Its job succeeded: its state is to be confirmed once.
    Confirm,
    /// Polled by status every round.
    Status,
}

/// A request id whose jobs are followed.
struct Request {
    rid: Arc<str>,
    /// Jobs it created (stray ones too): how many list-jobs pages to ask for.
    jobs: usize,
    /// Phones whose job of it is still followed.
    watched: Vec<usize>,
}

impl HuaweiCphProvider {
    /// The wait (see [`CloudPhoneProvider::wait`](cloudphone_core::CloudPhoneProvider::wait)).
    pub(super) async fn wait_for(
        &self,
        mut report: BatchReport,
        options: &WaitOptions,
    ) -> Result<BatchReport> {
        check_origin(self, &report)?;
        let target = options.resolve_target(report.operation)?;
        let deadline = deadline_after(options.timeout);
        // Updated in place: the report was handed over. The indexes below share the job and
        // request ids (reference counts), so the job references stay in their outcomes.
        let mut outcomes = std::mem::take(&mut report.outcomes);
        let stray_jobs = std::mem::take(&mut report.stray_jobs);
        let mut track = vec![Track::No; outcomes.len()];
        // Followed jobs: job id → phone; request id → its phones.
        let mut job_of: Wanted = HashMap::new();
        let mut by_rid: HashMap<Arc<str>, usize> = HashMap::new();
        let mut requests: Vec<Request> = Vec::new();
        // Phones settled in the current round, reported to an observing caller.
        let mut settled: Vec<usize> = Vec::new();
        for (i, o) in outcomes.iter_mut().enumerate() {
            if !needs_watch(o, target) {
                continue;
            }
            if let Some(why) = o.phone.invalid_reason() {
                // Never sent anywhere: as the status read of it would fail.
                o.wait_error = Some(
                    Error::new(ErrorKind::InvalidArgument, why.to_owned()).with_vendor(VENDOR),
                );
                settled.push(i);
                continue;
            }
            let rid = o
                .job
                .as_ref()
                .and_then(|j| j.request_id.as_ref())
                .filter(|r| !r.is_empty());
            match (o.is_pending(), rid, &o.job) {
                (true, Some(rid), Some(job)) => {
                    let r = *by_rid.entry(rid.clone()).or_insert_with(|| {
                        requests.push(Request {
                            rid: rid.clone(),
                            jobs: 0,
                            watched: Vec::new(),
                        });
                        requests.len() - 1
                    });
                    requests[r].watched.push(i);
                    job_of.insert(job.job_id.clone(), i);
                    track[i] = Track::Job;
                }
                _ => track[i] = Track::Status,
            }
        }
        let all_jobs = outcomes
            .iter()
            .filter_map(|o| o.job.as_ref())
            .chain(stray_jobs.iter().map(|s| &s.job));
        for j in all_jobs {
            if let Some(&r) = j.request_id.as_deref().and_then(|r| by_rid.get(r)) {
                requests[r].jobs += 1;
            }
        }
        drop(by_rid);
        let watching = |track: &[Track]| track.iter().any(|t| *t != Track::No);
        let mut rounds = 0u32;
        let mut refused: Option<Error> = None;
        // Set when the deadline passed with states still to confirm: one more read, no
        // job listing.
        let mut confirm_only = false;
        while watching(&track) || !settled.is_empty() {
            rounds += 1;
            requests.retain(|r| !r.watched.is_empty());
            if !requests.is_empty() && !confirm_only {
                let listed: Vec<Listed<'_>> = requests
                    .iter()
                    .map(|r| Listed {
                        rid: &r.rid,
                        jobs: r.jobs,
                        wanted: r.watched.len(),
                    })
                    .collect();
                let (found, error) = self
                    .jobs_by_request(listed, &job_of, outcomes.len(), false)
                    .await;
                let mut sighted = vec![false; outcomes.len()];
                for s in found {
                    let i = s.slot;
                    sighted[i] = true;
                    outcomes[i].wait_error = None;
                    match s.state {
                        JobState::Running => {}
                        JobState::Succeeded => track[i] = Track::Confirm,
                        _ => {
                            track[i] = Track::No;
                            let e = s.failure.unwrap_or_else(|| {
                                Error::new(ErrorKind::Other, "the vendor job failed")
                                    .with_vendor(VENDOR)
                            });
                            outcomes[i].outcome = Outcome::Failed(self.scrub(e));
                            settled.push(i);
                        }
                    }
                }
                for r in &mut requests {
                    r.watched.retain(|&i| {
                        if !sighted[i] {
                            if let Some(e) = &error {
                                outcomes[i].wait_error = Some(e.clone());
                            }
                        }
                        let followed = track[i] == Track::Job;
                        if !followed {
                            if let Some(job) = &outcomes[i].job {
                                job_of.remove(job.job_id());
                            }
                        }
                        followed
                    });
                }
                match error {
                    Some(e) if e.kind().is_auth() => refused = Some(e),
                    Some(e) => {
                        let e = self.scrub(e);
                        tracing::warn!(vendor = VENDOR, error = %e, "listing jobs failed; retrying next round");
                    }
                    None => {}
                }
            }
            // Confirmed once, all together: when no followed job is left running, or in the
            // last round.
            let jobs_left = requests.iter().any(|r| !r.watched.is_empty());
            if !jobs_left && job_of.capacity() > 0 {
                // No job is followed any more: free the index (MBs at fleet scale) before the
                // state confirmation, the wait's largest read.
                job_of = HashMap::new();
            }
            let last_round = confirm_only || tokio::time::Instant::now() >= deadline;
            let confirm = !jobs_left || last_round;
            let read: Vec<usize> = (0..outcomes.len())
                .filter(|&i| track[i] == Track::Status || (confirm && track[i] == Track::Confirm))
                .collect();
            if refused.is_none() && !read.is_empty() {
                let ids: Vec<PhoneId> = read.iter().map(|&i| outcomes[i].phone.clone()).collect();
                let op = report.operation;
                let res = self
                    .read_states(&ids, &mut |slot, seen| {
                        let i = read[slot];
                        if observe(&mut outcomes[i], seen, target, op) {
                            track[i] = Track::No;
                            settled.push(i);
                        } else {
                            track[i] = Track::Status;
                        }
                    })
                    .await;
                if let Err(e) = res {
                    // The read failed as a whole: the outcomes stand, with the reason.
                    for &i in &read {
                        outcomes[i].wait_error = Some(e.clone());
                    }
                    if e.kind().is_auth() {
                        refused = Some(e);
                    } else if !e.is_temporary() {
                        // Asking again would fail the same way.
                        for &i in &read {
                            track[i] = Track::No;
                        }
                    }
                }
            }
            if progress::is_observed() {
                progress::waited_in(VENDOR, report.operation, &mut outcomes, &settled);
            }
            settled.clear();
            // A refusal seen anywhere (a status read of one phone included) ends the wait.
            if let Some(e) = refused.clone().or_else(|| self.engine().refusal()) {
                for (i, t) in track.iter().enumerate() {
                    if *t != Track::No {
                        outcomes[i].wait_error = Some(e.clone());
                    }
                }
                refused = Some(e);
                break;
            }
            let now = tokio::time::Instant::now();
            let unconfirmed = track.contains(&Track::Confirm);
            if !watching(&track) || (now >= deadline && (confirm || !unconfirmed)) {
                break;
            }
            if now >= deadline {
                confirm_only = true;
                continue;
            }
            tokio::time::sleep(options.poll_interval.min(deadline - now)).await;
        }
        tracing::debug!(
            vendor = VENDOR,
            rounds,
            unfinished = track.iter().filter(|t| **t != Track::No).count(),
            refused = refused.is_some(),
            "wait finished"
        );
        drop((job_of, requests));
        let mut done = BatchReport::new(report.operation, outcomes);
        done.stray_jobs = stray_jobs;
        done.origin = report.origin;
        Ok(done)
    }
}
