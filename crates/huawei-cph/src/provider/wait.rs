//! `wait`: pending phones with jobs followed through list-jobs, then their state confirmed;
//! the others polled by status; a refusal ends the wait with every outcome kept.

use std::collections::{BTreeSet, HashMap, HashSet};

use cloudphone_core::raw::progress;
use cloudphone_core::raw::wait::{align, check_origin, deadline_after, needs_watch, observe};
use cloudphone_core::{
    BatchReport, CloudPhoneProvider, Error, JobState, Outcome, PhoneId, Result, WaitOptions,
};

use super::HuaweiCphProvider;
use crate::VENDOR;

impl HuaweiCphProvider {
    /// The wait (see [`CloudPhoneProvider::wait`]).
    pub(super) async fn wait_for(
        &self,
        report: &BatchReport,
        options: &WaitOptions,
    ) -> Result<BatchReport> {
        check_origin(self, report)?;
        let target = options.resolve_target(report.operation)?;
        let deadline = deadline_after(options.timeout);
        let mut outcomes = report.outcomes.clone();
        // Phones whose job is followed through list-jobs; the others are polled by status.
        let mut by_job: BTreeSet<usize> = BTreeSet::new();
        let mut by_status: BTreeSet<usize> = BTreeSet::new();
        for (i, o) in outcomes.iter().enumerate() {
            if !needs_watch(o, target) {
                continue;
            }
            let has_request = o
                .job
                .as_ref()
                .is_some_and(|j| j.request_id.as_ref().is_some_and(|r| !r.is_empty()));
            if o.is_pending() && has_request {
                by_job.insert(i);
            } else {
                by_status.insert(i);
            }
        }
        // How many jobs each request created (stray ones too): how many list-jobs pages to
        // ask for at once.
        let mut totals: HashMap<String, usize> = HashMap::new();
        let all_jobs = outcomes
            .iter()
            .filter_map(|o| o.job.as_ref())
            .chain(report.stray_jobs.iter().map(|s| &s.job));
        for j in all_jobs {
            if let Some(r) = &j.request_id {
                *totals.entry(r.clone()).or_default() += 1;
            }
        }
        let mut rounds = 0u32;
        // Phones settled in the current round, reported to an observing caller.
        let mut settled: Vec<usize> = Vec::new();
        let mut refused: Option<Error> = None;
        while !by_job.is_empty() || !by_status.is_empty() {
            rounds += 1;
            if !by_job.is_empty() {
                let mut groups: HashMap<String, HashSet<String>> = HashMap::new();
                for &i in &by_job {
                    let j = outcomes[i].job.as_ref().expect("watched by job");
                    groups
                        .entry(j.request_id.clone().unwrap_or_default())
                        .or_default()
                        .insert(j.job_id.clone());
                }
                let (found, error) = self.jobs_by_request(&groups, &totals).await;
                let watched: Vec<usize> = by_job.iter().copied().collect();
                for i in watched {
                    let job_id = &outcomes[i].job.as_ref().expect("watched").job_id;
                    let Some((_, job)) = found.get(job_id) else {
                        if let Some(e) = &error {
                            outcomes[i].wait_error = Some(e.clone());
                        }
                        continue;
                    };
                    outcomes[i].wait_error = None;
                    match job.state() {
                        JobState::Running => {}
                        JobState::Succeeded => {
                            by_job.remove(&i);
                            by_status.insert(i);
                        }
                        _ => {
                            by_job.remove(&i);
                            outcomes[i].outcome = Outcome::Failed(self.scrub(job.failure()));
                            settled.push(i);
                        }
                    }
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
            if refused.is_none() && !by_status.is_empty() {
                let ids: Vec<PhoneId> = by_status
                    .iter()
                    .map(|&i| outcomes[i].phone.clone())
                    .collect();
                match self.status(&ids).await {
                    Ok(seen) => {
                        let mut seen = align(&ids, seen.outcomes).into_iter();
                        // `by_status` iterates in the order `ids` was built from.
                        by_status.retain(|&i| {
                            let done = match seen.next().flatten() {
                                Some(s) => observe(&mut outcomes[i], s, target, report.operation),
                                None => false,
                            };
                            if done {
                                settled.push(i);
                            }
                            !done
                        });
                    }
                    Err(e) => {
                        // The read failed as a whole: the outcomes stand, with the reason.
                        for &i in &by_status {
                            outcomes[i].wait_error = Some(e.clone());
                        }
                        if e.kind().is_auth() {
                            refused = Some(e);
                        } else if !e.is_temporary() {
                            // Asking again would fail the same way.
                            by_status.clear();
                        }
                    }
                }
            }
            if progress::is_observed() {
                progress::waited(
                    VENDOR,
                    report.operation,
                    settled.drain(..).map(|i| &outcomes[i]),
                );
            }
            settled.clear();
            // A refusal seen anywhere (a status read of one phone included) ends the wait.
            if let Some(e) = refused.clone().or_else(|| self.engine().refusal()) {
                for &i in by_job.iter().chain(by_status.iter()) {
                    outcomes[i].wait_error = Some(e.clone());
                }
                refused = Some(e);
                break;
            }
            let now = tokio::time::Instant::now();
            if (by_job.is_empty() && by_status.is_empty()) || now >= deadline {
                break;
            }
            tokio::time::sleep(options.poll_interval.min(deadline - now)).await;
        }
        tracing::debug!(
            vendor = VENDOR,
            rounds,
            unfinished = by_job.len() + by_status.len(),
            refused = refused.is_some(),
            "wait finished"
        );
        let mut done = BatchReport::new(report.operation, outcomes);
        done.stray_jobs = report.stray_jobs.clone();
        done.origin = report.origin;
        Ok(done)
    }
}
