//! `wait`: pending phones with a child task followed by `TaskIds`, start and stop requests by
//! `InvokeId`; a finished task's phone then confirmed by state, a failed one failed (a failed
//! start or stop judged by the state it reports first: a stop of a `STOPPED` phone is done); every
//! other phone (no task found, no job, an unknown outcome) polled by state; a refusal ends the
//! wait with every outcome kept.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use cloudphone_core::raw::progress;
use cloudphone_core::raw::wait::{align, deadline_after, needs_watch, observe};
use cloudphone_core::{
    BatchReport, CloudPhoneProvider, Error, JobState, ObservedState, Operation, Outcome, PhoneId,
    Result, WaitOptions,
};

use super::changes::{Change, Verdict};
use super::decode::is_invoke;
use super::AlibabaProvider;
use crate::wire::{phone_state, Task};
use crate::VENDOR;

/// What a wait keeps of a task: its state, the phone state it reports, why it failed.
struct Seen {
    state: JobState,
    instance_status: Option<String>,
    failure: Option<Error>,
}

impl From<Task> for Seen {
    fn from(t: Task) -> Seen {
        let state = t.state();
        Seen {
            state,
            failure: (state == JobState::Failed).then(|| t.failure()),
            instance_status: t.instance_status,
        }
    }
}

/// What a task (or its absence) means for its phone: watch on, look at the state, or failed.
fn follow(
    task: Option<&Seen>,
    error: &Option<Error>,
    o: &mut cloudphone_core::PhoneOutcome,
    operation: Operation,
) -> Next {
    let Some(task) = task else {
        return match error {
            // The look-up failed: try again next round.
            Some(e) => {
                o.wait_error = Some(e.clone());
                Next::Stay
            }
            // Not (or not yet) listed: the phone's state tells.
            None => Next::ToStatus,
        };
    };
    o.wait_error = None;
    match task.state {
        JobState::Running => Next::Stay,
        // An instance task that names its phone's state confirms it: no state read.
        JobState::Succeeded => match task.instance_status.as_deref() {
            Some(s) => Next::Seen(ObservedState::coded(
                phone_state(s),
                s,
                &crate::wire::INSTANCE_STATES,
            )),
            None => Next::ToStatus,
        },
        // A failed start or stop task is judged by the state it reports, as the state check
        // judges a phone before a change: a stop of a phone already `STOPPED` is done, one of a
        // phone `STOPPING` is watched by state. A failed restart or reset stays failed: its
        // effect, not a state, is what was asked, and another request's cannot stand for it.
        JobState::Failed => match task.instance_status.as_deref() {
            Some(s) if verdict(operation, s) == Some(Verdict::Done) => Next::Seen(
                ObservedState::coded(phone_state(s), s, &crate::wire::INSTANCE_STATES),
            ),
            Some(s) if verdict(operation, s) == Some(Verdict::Pending) => Next::ToStatus,
            _ => Next::Failed(task.failure.clone().unwrap_or_else(|| {
                Error::new(cloudphone_core::ErrorKind::Other, "the vendor task failed")
                    .with_vendor(VENDOR)
            })),
        },
        _ => Next::Stay,
    }
}

/// What the preconditions of a start or stop make of a phone in the raw state `raw` (`None`
/// for any other operation).
fn verdict(operation: Operation, raw: &str) -> Option<Verdict> {
    let change = match operation {
        Operation::Start => Change::Start,
        Operation::Stop => Change::Stop,
        _ => return None,
    };
    Some(change.verdict(raw))
}

/// Folds a finished task's report of its phone's state into the outcome, as a state read
/// would be: whether the phone is settled.
fn seen_in(
    o: &mut cloudphone_core::PhoneOutcome,
    state: ObservedState,
    target: cloudphone_core::PhoneState,
    operation: cloudphone_core::Operation,
) -> bool {
    let seen = cloudphone_core::PhoneOutcome::done(o.phone.clone()).with_state(state);
    observe(o, seen, target, operation)
}

enum Next {
    Stay,
    ToStatus,
    /// Finished, the phone seen in this state.
    Seen(ObservedState),
    Failed(Error),
}

/// Where a phone followed by its task goes after a look-up.
enum Route {
    /// Still followed by its task.
    Stay,
    /// Polled by state from now on.
    Status,
    /// Settled this round.
    Settled,
}

impl Route {
    /// Whether the phone stays followed by its task; if not, it is put where it goes next.
    fn keep(self, i: usize, by_status: &mut BTreeSet<usize>, settled: &mut Vec<usize>) -> bool {
        match self {
            Route::Stay => true,
            Route::Status => {
                by_status.insert(i);
                false
            }
            Route::Settled => {
                settled.push(i);
                false
            }
        }
    }
}

impl AlibabaProvider {
    /// What a look-up of phone `o`'s task means for it ([`follow`]), applied: a reported
    /// state folded in, a failure scrubbed and set.
    fn after_look_up(
        &self,
        task: Option<&Seen>,
        error: &Option<Error>,
        o: &mut cloudphone_core::PhoneOutcome,
        target: cloudphone_core::PhoneState,
        operation: cloudphone_core::Operation,
    ) -> Route {
        match follow(task, error, o, operation) {
            Next::Stay => Route::Stay,
            Next::ToStatus => Route::Status,
            Next::Seen(state) => {
                if seen_in(o, state, target, operation) {
                    Route::Settled
                } else {
                    Route::Status
                }
            }
            Next::Failed(e) => {
                o.outcome = Outcome::Failed(self.scrub(e));
                Route::Settled
            }
        }
    }

    /// The wait (see [`CloudPhoneProvider::wait`]).
    pub(super) async fn wait_for(
        &self,
        mut report: BatchReport,
        options: &WaitOptions,
    ) -> Result<BatchReport> {
        cloudphone_core::raw::wait::check_origin(self, &report)?;
        let target = options.resolve_target(report.operation)?;
        let deadline = deadline_after(options.timeout);
        // Updated in place: the report was handed over.
        let mut outcomes = std::mem::take(&mut report.outcomes);
        let mut by_task: BTreeSet<usize> = BTreeSet::new();
        let mut by_invoke: BTreeSet<usize> = BTreeSet::new();
        let mut by_status: BTreeSet<usize> = BTreeSet::new();
        for (i, o) in outcomes.iter().enumerate() {
            if !needs_watch(o, target) {
                continue;
            }
            match &o.job {
                Some(j) if o.is_pending() && is_invoke(j) => by_invoke.insert(i),
                Some(_) if o.is_pending() => by_task.insert(i),
                _ => by_status.insert(i),
            };
        }
        let mut rounds = 0u32;
        let mut refused: Option<Error> = None;
        while !(by_task.is_empty() && by_invoke.is_empty() && by_status.is_empty()) {
            rounds += 1;
            // Phones this round settles, for an observing caller.
            let mut settled: Vec<usize> = Vec::new();
            if !by_task.is_empty() {
                // Shared ids: each is a reference count, not a copy.
                let wanted: Vec<(Arc<str>, usize)> = by_task
                    .iter()
                    .map(|&i| {
                        let job = outcomes[i].job.as_ref().expect("watched by task");
                        (job.job_id.clone(), i)
                    })
                    .collect();
                // Phones that leave the task round (to status reads, or settled).
                let mut moved: Vec<(usize, bool)> = Vec::new();
                let op = report.operation;
                let error = self
                    .watch_tasks(wanted, &mut |i, task| {
                        let (task, error) = match task {
                            Ok(t) => (t.map(Seen::from), None),
                            Err(e) => (None, Some(e)),
                        };
                        match self.after_look_up(
                            task.as_ref(),
                            &error,
                            &mut outcomes[i],
                            target,
                            op,
                        ) {
                            Route::Stay => {}
                            Route::Status => moved.push((i, false)),
                            Route::Settled => moved.push((i, true)),
                        }
                    })
                    .await;
                for (i, done) in moved {
                    by_task.remove(&i);
                    if done {
                        settled.push(i);
                    } else {
                        by_status.insert(i);
                    }
                }
                if let Some(e) = &error {
                    for &i in &by_task {
                        outcomes[i].wait_error = Some(e.clone());
                    }
                }
                refused = error;
            }
            if refused.is_none() && !by_invoke.is_empty() {
                // Each request id once, oldest first, with its phone count.
                let mut phones: Vec<(Arc<str>, usize)> = Vec::new();
                let mut at: HashMap<&str, usize> = HashMap::new();
                for &i in &by_invoke {
                    let rid = &outcomes[i].job.as_ref().expect("watched by invoke").job_id;
                    match at.get(&**rid) {
                        Some(&k) => phones[k].1 += 1,
                        None => {
                            at.insert(rid, phones.len());
                            phones.push((rid.clone(), 1));
                        }
                    }
                }
                drop(at);
                let (found, error) = self.tasks_by_invoke(&phones, Seen::from).await;
                by_invoke.retain(|&i| {
                    let task = found
                        .get(outcomes[i].job.as_ref().expect("watched").job_id())
                        .and_then(|m| m.get(outcomes[i].phone.as_str()));
                    self.after_look_up(task, &error, &mut outcomes[i], target, report.operation)
                        .keep(i, &mut by_status, &mut settled)
                });
                refused = error.filter(|e| e.kind().is_auth());
            }
            if refused.is_none() && !by_status.is_empty() {
                let ids: Vec<PhoneId> = by_status
                    .iter()
                    .map(|&i| outcomes[i].phone.clone())
                    .collect();
                match self.status(&ids).await {
                    Ok(seen) => {
                        let mut seen = align(&ids, seen.outcomes).into_iter();
                        by_status.retain(|&i| match seen.next().flatten() {
                            Some(s) => {
                                let done = observe(&mut outcomes[i], s, target, report.operation);
                                if done {
                                    settled.push(i);
                                }
                                !done
                            }
                            None => true,
                        });
                    }
                    Err(e) => {
                        for &i in &by_status {
                            outcomes[i].wait_error = Some(e.clone());
                        }
                        if e.kind().is_auth() {
                            refused = Some(e);
                        } else if !e.is_temporary() {
                            by_status.clear();
                        }
                    }
                }
            }
            // Once per round, even when none settled.
            progress::waited_in(VENDOR, report.operation, &mut outcomes, &settled);
            if let Some(e) = refused.clone().or_else(|| self.engine().refusal()) {
                for &i in by_task.iter().chain(&by_invoke).chain(&by_status) {
                    outcomes[i].wait_error = Some(e.clone());
                }
                refused = Some(e);
                break;
            }
            let now = tokio::time::Instant::now();
            let idle = by_task.is_empty() && by_invoke.is_empty() && by_status.is_empty();
            if idle || now >= deadline {
                break;
            }
            tokio::time::sleep(options.poll_interval.min(deadline - now)).await;
        }
        tracing::debug!(
            vendor = VENDOR,
            rounds,
            unfinished = by_task.len() + by_invoke.len() + by_status.len(),
            refused = refused.is_some(),
            "wait finished"
        );
        let mut done = BatchReport::new(report.operation, outcomes);
        done.stray_jobs = report.stray_jobs;
        done.origin = report.origin;
        Ok(done)
    }
}
