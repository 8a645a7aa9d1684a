//! What decoded CPH answers say: batch outcomes (jobs, refusals, strays), phone details, list
//! pages, jobs — pure functions, shared by the provider and the fuzzing entry points.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use cloudphone_core::raw::ErrorContext;
use cloudphone_core::{
    Error, ErrorKind, JobInfo, JobRef, JobState, PhoneId, PhoneOutcome, PhonePage, PhoneSummary,
    Result,
};

use super::Fingerprint;
use crate::wire::{self, BatchAnswer, Job, Phone, PhoneList};
use crate::VENDOR;

pub(super) fn phone_outcome(id: PhoneId, phone: &Phone) -> PhoneOutcome {
    let mut o = PhoneOutcome::done(id).with_state(phone.state());
    // Kept verbatim, escape sequences and all: whoever prints it escapes it.
    if let Some(n) = phone.phone_name.as_deref().filter(|n| !n.is_empty()) {
        o = o.with_name(n);
    }
    o
}

/// The length of a list page and a hash of its phone ids, to recognise the same page again.
pub(super) fn fingerprint(page: &PhoneList) -> Fingerprint {
    let phones = page.phones.as_deref().unwrap_or_default();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for p in phones {
        p.phone_id.hash(&mut h);
    }
    (phones.len(), h.finish())
}

/// The outcomes of a decoded batch answer for `chunk`, or the request-level error it carries.
pub(crate) fn batch_answer(
    value: BatchAnswer,
    header_request_id: Option<String>,
    chunk: &[PhoneId],
) -> Result<Vec<PhoneOutcome>> {
    let request_id = value
        .request_id
        .clone()
        .filter(|r| !r.is_empty())
        .or(header_request_id);
    if let Some(code) = value.error_code.as_deref().filter(|c| !c.is_empty()) {
        if value.jobs.as_ref().is_none_or(Vec::is_empty) {
            // A request-level error wrapped in a 200: fail the chunk, not each phone as
            // "missing".
            let msg = value.error_msg.as_deref().unwrap_or(code);
            let e = wire::code_error(code, msg, None);
            return Err(e.or_request_id(request_id.as_deref()));
        }
    }
    Ok(batch_outcomes(value, request_id, chunk))
}

/// What one batch answer says about one phone, merged over every entry naming it.
#[derive(Default)]
struct Entries {
    error: Option<Error>,
    jobs: Vec<JobRef>,
}

/// The outcomes a batch answer gives: pending with a job, the per-phone failure, or — when
/// the vendor both refused the phone and reported a job for it — unknown with the job.
///
/// Every job reference is kept: a phone listed twice keeps its job whatever the order of the
/// entries; a job for a phone not in `chunk` is returned for the engine to report as a stray;
/// a job naming no phone (or a second job for one phone) comes back under an empty phone id,
/// which the engine reports as a stray too. An error entry naming no phone applies to the
/// phones of `chunk` the answer says nothing else about.
fn batch_outcomes(
    answer: BatchAnswer,
    request_id: Option<String>,
    chunk: &[PhoneId],
) -> Vec<PhoneOutcome> {
    let mut order: Vec<PhoneId> = Vec::new();
    let mut by_phone: HashMap<PhoneId, Entries> = HashMap::new();
    let mut unnamed_jobs: Vec<JobRef> = Vec::new();
    let mut unnamed_error: Option<Error> = None;
    // One request id for the chunk, shared by every phone's job reference.
    let request_id: Option<Arc<str>> = request_id.map(Arc::from);
    for entry in answer.jobs.unwrap_or_default() {
        let job = entry
            .job_id
            .filter(|j| !j.is_empty())
            .map(|j| JobRef::new(j, request_id.clone()));
        let error = entry.error_code.filter(|c| !c.is_empty()).map(|code| {
            let msg = entry
                .error_msg
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| code.clone());
            wire::code_error(&code, &msg, None).or_request_id(request_id.as_deref())
        });
        match entry.phone_id.filter(|p| !p.is_empty()) {
            None => match (job, error) {
                (Some(j), _) => unnamed_jobs.push(j),
                (None, Some(e)) => {
                    unnamed_error.get_or_insert(e);
                }
                (None, None) => {}
            },
            Some(p) => {
                let phone = PhoneId::new(p);
                let slot = by_phone.entry(phone.clone()).or_insert_with(|| {
                    order.push(phone);
                    Entries::default()
                });
                if let Some(e) = error {
                    slot.error.get_or_insert(e);
                }
                if let Some(j) = job {
                    if !slot.jobs.contains(&j) {
                        slot.jobs.push(j);
                    }
                }
            }
        }
    }
    let mut out = Vec::with_capacity(order.len() + unnamed_jobs.len());
    if let Some(e) = unnamed_error {
        for id in chunk {
            if !by_phone.contains_key(id) {
                out.push(PhoneOutcome::failed(id.clone(), e.clone()));
            }
        }
    }
    for phone in order {
        let Some(Entries { error, jobs }) = by_phone.remove(&phone) else {
            continue;
        };
        let mut jobs = jobs.into_iter();
        let outcome = match (error, jobs.next()) {
            (None, Some(j)) => PhoneOutcome::pending(phone.clone()).with_job(j),
            (Some(e), None) => PhoneOutcome::failed(phone.clone(), e),
            // Refused and accepted at once: it may have been applied.
            (Some(e), Some(j)) => PhoneOutcome::unknown(phone.clone(), e).with_job(j),
            // Neither a job nor an error: leave it to the completeness check.
            (None, None) => continue,
        };
        out.push(outcome);
        for extra in jobs {
            tracing::warn!(vendor = VENDOR, phone = %phone, job = %extra.job_id(), "the vendor reported a second job for one phone; it is kept as a stray job");
            out.push(PhoneOutcome::pending(PhoneId::new("")).with_job(extra));
        }
    }
    for j in unnamed_jobs {
        out.push(PhoneOutcome::pending(PhoneId::new("")).with_job(j));
    }
    out
}

/// The outcome of a decoded phone-detail answer about `id`.
pub(crate) fn detail_outcome(id: PhoneId, phone: &Phone) -> Result<PhoneOutcome> {
    if let Some(got) = phone.phone_id.as_deref() {
        if !got.is_empty() && got != id.as_str() {
            return Err(Error::new(
                ErrorKind::InvalidResponse,
                format!("asked for phone `{id}`, the vendor answered about `{got}`"),
            )
            .with_vendor(VENDOR));
        }
    }
    Ok(phone_outcome(id, phone))
}

/// The job of a decoded show-job answer about `job_id`: an answer about another job is an
/// invalid response, never taken for the one asked about.
pub(crate) fn shown_job(job_id: &str, job: Job) -> Result<Job> {
    match job.job_id.as_deref() {
        Some(got) if !got.is_empty() && got != job_id => Err(Error::new(
            ErrorKind::InvalidResponse,
            format!("asked for job `{job_id}`, the vendor answered about `{got}`"),
        )
        .with_vendor(VENDOR)),
        _ => Ok(job),
    }
}

/// The page a decoded list answer fetched at `offset` with `limit` gives.
pub(crate) fn list_page_of(page: PhoneList, offset: u64, limit: usize) -> PhonePage {
    let phones: Vec<PhoneSummary> = page
        .phones
        .unwrap_or_default()
        .into_iter()
        .filter_map(|p| {
            let id = p.phone_id.clone().filter(|i| !i.is_empty())?;
            let mut s = PhoneSummary::new(PhoneId::new(id), p.phone_name.clone(), p.state());
            s.extra = p.extras();
            Some(s)
        })
        .collect();
    // Saturating: a cursor near `u64::MAX` must not overflow.
    let end = offset.saturating_add(phones.len() as u64);
    let more = match page.count {
        Some(total) => end < total && !phones.is_empty(),
        None => phones.len() == limit,
    };
    PhonePage::new(
        phones,
        (more && end > offset).then(|| end.to_string()),
        page.count,
    )
}

/// Adds the jobs of one list-jobs page to `found` (job id → request id and job), keeping the
/// first sighting of each. `groups` maps the asked request ids to their wanted job ids and
/// `rids` lists the request ids of this call. Returns the jobs on the page and how many were
/// new.
pub(crate) fn absorb_jobs(
    jobs: Vec<Job>,
    groups: &HashMap<String, HashSet<String>>,
    rids: &[String],
    found: &mut HashMap<String, (String, Job)>,
) -> (usize, usize) {
    let n = jobs.len();
    let mut new = 0;
    for job in jobs {
        let Some(id) = job.job_id.clone() else {
            continue;
        };
        let rid = job
            .request_id
            .clone()
            .filter(|r| groups.contains_key(r))
            .or_else(|| {
                rids.iter()
                    .find(|r| groups.get(*r).is_some_and(|g| g.contains(&id)))
                    .cloned()
            })
            .unwrap_or_default();
        if let std::collections::hash_map::Entry::Vacant(slot) = found.entry(id) {
            new += 1;
            slot.insert((rid, job));
        }
    }
    (n, new)
}

pub(crate) fn job_info(job_ref: &JobRef, job: &Job) -> JobInfo {
    let state = job.state();
    let phone = job
        .phone_id
        .clone()
        .filter(|p| !p.is_empty())
        .map(PhoneId::new);
    let info = JobInfo::new(job_ref.clone(), phone, state, job.raw_status());
    if state == JobState::Failed {
        info.with_error(job.failure())
    } else {
        info
    }
}
