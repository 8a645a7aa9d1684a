//! What decoded answers say — status outcomes, change outcomes (jobs and strays), list pages,
//! job infos: pure functions, shared by the provider and the fuzzing entry points.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use cloudphone_core::{
    Error, ErrorKind, JobInfo, JobRef, JobState, PhoneId, PhoneOutcome, PhonePage, PhoneSummary,
};

use crate::wire::{ChangeAnswer, Instance, InstancePage, Task};
use crate::VENDOR;

/// The outcome of one listed instance.
pub(crate) fn instance_outcome(id: PhoneId, inst: &Instance) -> PhoneOutcome {
    let mut o = PhoneOutcome::done(id).with_state(inst.state());
    // Kept verbatim, escape sequences and all: whoever prints it escapes it.
    if let Some(n) = inst.name.as_deref() {
        o = o.with_name(n);
    }
    o
}

/// The status outcomes of `chunk` from the instances its pages listed (the first listing of
/// each id wins; instances not asked for are ignored). With `complete` (the paging ended: no
/// `NextToken`), an id not listed does not exist; otherwise (the paging was cut short) it is
/// left out, for the engine to report as missing from the answer.
pub(crate) fn status_outcomes<'a>(
    chunk: &[PhoneId],
    instances: impl IntoIterator<Item = &'a Instance>,
    complete: bool,
) -> Vec<PhoneOutcome> {
    let wanted: HashMap<&str, &PhoneId> = chunk.iter().map(|id| (id.as_str(), id)).collect();
    let mut found: HashMap<&PhoneId, PhoneOutcome> = HashMap::new();
    for inst in instances {
        let Some(&id) = inst.id.as_deref().and_then(|i| wanted.get(i)) else {
            continue;
        };
        found
            .entry(id)
            .or_insert_with(|| instance_outcome(id.clone(), inst));
    }
    chunk
        .iter()
        .filter_map(|id| match found.remove(id) {
            Some(o) => Some(o),
            None if complete => Some(not_found(id)),
            None => None,
        })
        .collect()
}

/// A phone the vendor does not list.
pub(crate) fn not_found(id: &PhoneId) -> PhoneOutcome {
    let e = Error::new(
        ErrorKind::NotFound,
        format!("no cloud phone `{id}` (DescribeAndroidInstances does not list it)"),
    )
    .with_vendor(VENDOR)
    .with_vendor_code("NotListed");
    PhoneOutcome::failed(id.clone(), e)
}

/// The outcomes an accepted state change gives `chunk`: every phone pending, with its child
/// task (`TaskId`, the request id beside it) where the answer has one, else the request id as
/// its job (start and stop answer nothing else; `DescribeTasks` takes it as `InvokeId`).
///
/// Every task is kept: a child task for a phone not in `chunk` is returned for the engine to
/// report as a stray; a second task for one phone, or one naming no phone, comes back under an
/// empty phone id, which the engine reports as a stray too.
pub(crate) fn change_outcomes(
    answer: ChangeAnswer,
    header_request_id: Option<&str>,
    chunk: &[PhoneId],
) -> Vec<PhoneOutcome> {
    // One request id for the chunk, shared by every phone's job reference.
    let request_id: Option<Arc<str>> = answer
        .request_id
        .or_else(|| header_request_id.map(str::to_owned))
        .filter(|r| !r.is_empty())
        .map(Arc::from);
    let in_chunk: HashSet<&str> = chunk.iter().map(PhoneId::as_str).collect();
    let mut tasks: HashMap<String, String> = HashMap::new();
    let mut strays = Vec::new();
    for (instance, task) in answer.children {
        let Some(task) = task else { continue };
        let job = JobRef::new(task.clone(), request_id.clone());
        match instance {
            Some(i) if in_chunk.contains(i.as_str()) && !tasks.contains_key(&i) => {
                tasks.insert(i, task);
            }
            Some(i) if !in_chunk.contains(i.as_str()) => {
                strays.push(PhoneOutcome::pending(PhoneId::new(i)).with_job(job));
            }
            Some(i) => {
                tracing::warn!(vendor = VENDOR, phone = %i, task = %task, "the vendor reported a second task for one phone; it is kept as a stray job");
                strays.push(PhoneOutcome::pending(PhoneId::new("")).with_job(job));
            }
            None => strays.push(PhoneOutcome::pending(PhoneId::new("")).with_job(job)),
        }
    }
    let mut out: Vec<PhoneOutcome> = chunk
        .iter()
        .map(|id| {
            let job = match tasks.remove(id.as_str()) {
                Some(t) => Some(JobRef::new(t, request_id.clone())),
                // Start and stop: the request id is the job (its tasks' `InvokeId`).
                None => request_id.clone().map(|r| JobRef::new(r.clone(), Some(r))),
            };
            let o = PhoneOutcome::pending(id.clone());
            match job {
                Some(j) => o.with_job(j),
                None => o,
            }
        })
        .collect();
    out.extend(strays);
    out
}

/// Whether a job reference names a request (start and stop: `InvokeId`) rather than a task.
pub(crate) fn is_invoke(job: &JobRef) -> bool {
    job.request_id.as_deref() == Some(job.job_id())
}

/// The page a decoded list answer gives; `cursor` is the token it was asked with. A
/// `NextToken` equal to it (a vendor handing the same page out again) ends the listing.
pub(crate) fn list_page_of(page: InstancePage, cursor: Option<&str>) -> PhonePage {
    let phones: Vec<PhoneSummary> = page
        .instances
        .into_iter()
        .filter_map(|inst| {
            let id = inst.id.clone()?;
            let mut s = PhoneSummary::new(PhoneId::new(id), inst.name.clone(), inst.state());
            s.extra = inst.extra;
            Some(s)
        })
        .collect();
    let next = page
        .next
        .filter(|n| Some(n.as_str()) != cursor && !phones.is_empty());
    let mut out = PhonePage::default();
    out.phones = phones;
    out.next = next;
    out.total = page.total;
    out
}

/// What a job is, from its task.
pub(crate) fn job_info(job: &JobRef, task: &Task) -> JobInfo {
    let state = task.state();
    let phone = task.instance_id.clone().map(PhoneId::new);
    let info = JobInfo::new(job.clone(), phone, state, task.status.clone());
    if state == JobState::Failed {
        info.with_error(task.failure())
    } else {
        info
    }
}

/// The infos of an invoke job from the instance tasks found for it (one per phone), or a
/// not-found info when there are none.
pub(crate) fn job_infos(job: &JobRef, tasks: &[&Task]) -> Vec<JobInfo> {
    if tasks.is_empty() {
        let e = Error::new(
            ErrorKind::NotFound,
            if is_invoke(job) {
                "no instance task of this request was found (DescribeTasks by InvokeId, Level 2)"
            } else {
                "no such task (DescribeTasks by TaskIds)"
            },
        )
        .with_vendor(VENDOR);
        return vec![
            JobInfo::new(job.clone(), None, JobState::Failed, String::new()).with_error(e),
        ];
    }
    tasks.iter().map(|t| job_info(job, t)).collect()
}
