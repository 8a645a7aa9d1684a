//! Jobs: list-jobs by request id (20 per call, 100 jobs per page, bounded follow-up pages),
//! show-job for the rest, every look-up under the credential rules.
//!
//! Pages are decoded into sightings of the jobs asked for (their slot, state and failure),
//! with borrowed strings: no vendor record outlives its page.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use cloudphone_core::raw::{undecodable, Idempotency};
use cloudphone_core::{Error, ErrorKind, JobInfo, JobRef, JobState, PhoneId, Result};
use futures::StreamExt;
use reqwest::Method;

use super::decode::{job_info, shown_job};
use super::{HuaweiCphProvider, JOBS_PAGE_SIZE, MAX_FOLLOW_UP_JOB_PAGES, REQUEST_IDS_PER_CALL};
use crate::wire::Job;
use crate::wire_rows::{Code, JobRows};
use crate::VENDOR;

/// The jobs a look-up wants: job id → the caller's slot for it.
pub(super) type Wanted = HashMap<Arc<str>, usize>;

/// A request id to list the jobs of.
#[derive(Debug, Clone, Copy)]
pub(super) struct Listed<'w> {
    pub rid: &'w str,
    /// Jobs the request created (finished ones too: list-jobs lists them all).
    pub jobs: usize,
    /// Jobs of it still wanted.
    pub wanted: usize,
}

/// One wanted job seen on a page.
#[derive(Debug)]
pub(super) struct Sighting {
    pub slot: usize,
    pub state: JobState,
    /// Why it failed, for a failed job.
    pub failure: Option<Error>,
    /// The raw status and the phone named, when asked for ([`HuaweiCphProvider::look_up`]).
    pub detail: Option<(String, Option<String>)>,
}

/// One decoded list-jobs page: its length, a fingerprint of its job ids, the wanted jobs on it.
struct Page {
    len: usize,
    fingerprint: u64,
    hits: Vec<Sighting>,
}

/// What a job search found (first sighting of each slot), and the error that cut it short,
/// if any (a refusal stops it at once).
pub(super) type JobSearch = (Vec<Sighting>, Option<Error>);

/// What a job search has seen so far.
struct Tally {
    /// Per slot: sighted.
    seen: Vec<bool>,
    /// Per chunk of request ids: wanted jobs sighted, and wanted.
    seen_in: Vec<usize>,
    wanted_in: Vec<usize>,
    /// Pages seen, per chunk.
    pages_seen: HashSet<(usize, u64)>,
}

impl Tally {
    /// Takes a page of chunk `c`: its first sightings go to `found`. Returns the page's
    /// length, whether it was new, and whether every wanted job of the chunk is now seen.
    fn absorb(&mut self, c: usize, page: Page, found: &mut Vec<Sighting>) -> (usize, bool, bool) {
        for s in page.hits {
            if !std::mem::replace(&mut self.seen[s.slot], true) {
                self.seen_in[c] += 1;
                found.push(s);
            }
        }
        let fresh = self.pages_seen.insert((c, page.fingerprint));
        (page.len, fresh, self.all_seen(c))
    }

    fn all_seen(&self, c: usize) -> bool {
        self.seen_in[c] >= self.wanted_in[c]
    }
}

fn decode_page(body: &[u8], wanted: &Wanted, detailed: bool) -> Result<Page> {
    let rows: JobRows<'_> =
        serde_json::from_slice(body).map_err(|e| undecodable(VENDOR, "answer", e))?;
    let rows = rows.jobs.unwrap_or_default();
    let mut h = DefaultHasher::new();
    let mut hits = Vec::new();
    for row in &rows {
        row.job_id.hash(&mut h);
        let Some(&slot) = row.job_id.as_deref().and_then(|id| wanted.get(id)) else {
            continue;
        };
        let state = row.state();
        hits.push(Sighting {
            slot,
            state,
            failure: (state == JobState::Failed).then(|| row.failure()),
            detail: detailed.then(|| {
                let phone = row.phone_id.as_deref().filter(|p| !p.is_empty());
                (
                    row.status.as_ref().map(Code::raw).unwrap_or_default(),
                    phone.map(str::to_owned),
                )
            }),
        });
    }
    Ok(Page {
        len: rows.len(),
        fingerprint: h.finish(),
        hits,
    })
}

impl HuaweiCphProvider {
    /// The jobs asked for (see [`CloudPhoneProvider::jobs`]).
    pub(super) async fn look_up(&self, jobs: &[JobRef]) -> Result<Vec<JobInfo>> {
        let mut unique: Vec<&JobRef> = Vec::new();
        let mut ids = HashSet::new();
        for j in jobs {
            if ids.insert(j.job_id()) {
                unique.push(j);
            }
        }
        let mut wanted: Wanted = HashMap::new();
        // Request ids in the order they first appear (deterministic calls, oldest first).
        let mut listed: Vec<Listed<'_>> = Vec::new();
        let mut per_request: HashMap<&str, usize> = HashMap::new();
        for (slot, j) in unique.iter().enumerate() {
            if let Some(rid) = j.request_id.as_deref().filter(|r| !r.is_empty()) {
                wanted.insert(j.job_id.clone(), slot);
                let at = *per_request.entry(rid).or_insert_with(|| {
                    listed.push(Listed {
                        rid,
                        jobs: 0,
                        wanted: 0,
                    });
                    listed.len() - 1
                });
                listed[at].wanted += 1;
            }
        }
        drop(per_request);
        let (found, list_error) = if listed.is_empty() {
            (Vec::new(), None)
        } else {
            self.jobs_by_request(listed, &wanted, unique.len(), true)
                .await
        };
        let mut refusal = list_error.filter(|e| e.kind().is_auth());
        let mut listed_jobs: Vec<Option<Sighting>> = (0..unique.len()).map(|_| None).collect();
        for s in found {
            let slot = s.slot;
            listed_jobs[slot] = Some(s);
        }
        // Jobs without a request id, or not listed under it, are asked for one by one.
        let missing: Vec<String> = unique
            .iter()
            .zip(&listed_jobs)
            .filter(|(_, l)| l.is_none())
            .map(|(j, _)| j.job_id.to_string())
            .collect();
        let mut shown: HashMap<String, Result<Job>> = HashMap::new();
        if refusal.is_none() && !missing.is_empty() {
            let mut lookups = std::pin::pin!(self.fan_out(missing, |id: String| async move {
                let res = self.show_job(&id).await;
                (id, res)
            }));
            while let Some((id, res)) = lookups.next().await {
                if let Err(e) = &res {
                    if e.kind().is_auth() {
                        refusal = Some(e.clone());
                    }
                }
                shown.insert(id, res);
                if refusal.is_some() {
                    break;
                }
            }
        }
        let mut learned = false;
        let infos: Vec<JobInfo> = unique
            .into_iter()
            .zip(listed_jobs)
            .map(|(j, listed)| {
                let info = match (listed, shown.get(j.job_id())) {
                    (Some(s), _) => {
                        learned = true;
                        let (raw, phone) = s.detail.unwrap_or_default();
                        let info = JobInfo::new(j.clone(), phone.map(PhoneId::new), s.state, raw);
                        match s.failure {
                            Some(e) => info.with_error(e),
                            None => info,
                        }
                    }
                    (None, Some(Ok(job))) => {
                        learned = true;
                        job_info(j, job)
                    }
                    (None, Some(Err(e))) => {
                        JobInfo::new(j.clone(), None, JobState::Failed, String::new())
                            .with_error(e.clone())
                    }
                    (None, None) => {
                        // Never asked for, or abandoned in flight when the refusal arrived.
                        let e = match &refusal {
                            Some(r) => Error::new(
                                ErrorKind::Unauthenticated,
                                format!(
                                    "not looked up: the vendor refused the credentials ({})",
                                    r.message()
                                ),
                            )
                            .with_vendor(VENDOR)
                            .with_vendor_code(r.vendor_code().unwrap_or_default().to_owned()),
                            None => Error::new(ErrorKind::NotFound, "the job was not looked up")
                                .with_vendor(VENDOR),
                        };
                        JobInfo::new(j.clone(), None, JobState::Failed, String::new()).with_error(e)
                    }
                };
                self.scrub_info(info)
            })
            .collect();
        match refusal {
            Some(e) if !learned => Err(e),
            _ => Ok(infos),
        }
    }

    /// The wanted jobs (`wanted`: job id → slot, slots below `slots`) of the given request
    /// ids, in the order given, fetched with list-jobs: up to 20 request ids per call, 100 jobs per page. Every
    /// page the requests' job counts call for is fetched at once; pages past those are
    /// followed one by one, only while wanted jobs are still missing and each page is new,
    /// for at most [`MAX_FOLLOW_UP_JOB_PAGES`] pages. The first refusal stops everything.
    /// Each slot is reported once, at its first sighting; `detailed` adds the raw status and
    /// phone of each.
    pub(super) async fn jobs_by_request(
        &self,
        requests: Vec<Listed<'_>>,
        wanted: &Wanted,
        slots: usize,
        detailed: bool,
    ) -> JobSearch {
        // In the order given, not sorted: callers give the oldest request first, so a round
        // reaches the newest requests last, when their jobs have had the longest to finish
        // (sorted by id, the last chunk's jobs were often listed while still running and
        // needed a second round).
        let chunks: Vec<&[Listed<'_>]> = requests.chunks(REQUEST_IDS_PER_CALL).collect();
        let joined: Vec<String> = chunks
            .iter()
            .map(|c| c.iter().map(|l| l.rid).collect::<Vec<_>>().join(","))
            .collect();
        let expected_pages = |c: &[Listed<'_>]| {
            let jobs: usize = c.iter().map(|l| l.jobs.max(l.wanted)).sum();
            jobs.div_ceil(JOBS_PAGE_SIZE).max(1)
        };
        let wanted_in: Vec<usize> = chunks
            .iter()
            .map(|c| c.iter().map(|l| l.wanted).sum())
            .collect();
        let first_pass: Vec<(usize, usize)> = chunks
            .iter()
            .enumerate()
            .flat_map(|(c, l)| (0..expected_pages(l)).map(move |p| (c, p * JOBS_PAGE_SIZE)))
            .collect();
        let mut tally = Tally {
            seen: vec![false; slots],
            seen_in: vec![0; chunks.len()],
            wanted_in,
            pages_seen: HashSet::new(),
        };
        let mut found: Vec<Sighting> = Vec::new();
        let mut error: Option<Error> = None;
        // Per chunk: the end of the last full page, where more jobs may follow.
        let mut full_to: HashMap<usize, usize> = HashMap::new();
        let mut broken: HashSet<usize> = HashSet::new();
        {
            let joined = &joined;
            let mut pages = std::pin::pin!(self.fan_out(
                first_pass,
                |(c, offset): (usize, usize)| async move {
                    (
                        c,
                        offset,
                        self.jobs_page(&joined[c], offset, wanted, detailed).await,
                    )
                }
            ));
            while let Some((c, offset, page)) = pages.next().await {
                match page {
                    Ok(page) => {
                        let (n, _, _) = tally.absorb(c, page, &mut found);
                        if n >= JOBS_PAGE_SIZE {
                            let end = full_to.entry(c).or_default();
                            *end = (*end).max(offset + n);
                        }
                    }
                    Err(e) if e.kind().is_auth() => return (found, Some(e)),
                    Err(e) => {
                        broken.insert(c);
                        error.get_or_insert(e);
                    }
                }
            }
        }
        for (c, listed) in chunks.iter().enumerate() {
            let Some(&end) = full_to.get(&c) else {
                continue;
            };
            if broken.contains(&c)
                || end < expected_pages(listed) * JOBS_PAGE_SIZE
                || tally.all_seen(c)
            {
                continue;
            }
            let mut offset = end;
            for _ in 0..MAX_FOLLOW_UP_JOB_PAGES {
                let page = match self.jobs_page(&joined[c], offset, wanted, detailed).await {
                    Ok(page) => page,
                    Err(e) if e.kind().is_auth() => return (found, Some(e)),
                    Err(e) => {
                        error.get_or_insert(e);
                        break;
                    }
                };
                let (n, fresh, all_seen) = tally.absorb(c, page, &mut found);
                // A page seen before (the previous one again) means the vendor ignored the
                // offset.
                if n < JOBS_PAGE_SIZE || !fresh || all_seen {
                    break;
                }
                offset += n;
            }
        }
        (found, error)
    }

    /// One list-jobs page for up to 20 request ids (`rids`, comma-separated), decoded into
    /// the wanted jobs on it.
    async fn jobs_page(
        &self,
        rids: &str,
        offset: usize,
        wanted: &Wanted,
        detailed: bool,
    ) -> Result<Page> {
        let url = self.client.url(
            &["jobs"],
            &[
                ("limit", JOBS_PAGE_SIZE.to_string()),
                ("offset", offset.to_string()),
                ("request_ids", rids.to_owned()),
            ],
        )?;
        let decode = |body: &[u8]| decode_page(body, wanted, detailed);
        let page = self
            .client
            .send_with(
                "list-jobs",
                Idempotency::ReadOnly,
                Method::GET,
                &url,
                None,
                &decode,
            )
            .await?;
        Ok(page.value)
    }

    async fn show_job(&self, job_id: &str) -> Result<Job> {
        let url = self.client.url(&["jobs", job_id], &[])?;
        let job = self
            .client
            .send::<Job>("show-job", Idempotency::ReadOnly, Method::GET, &url, None)
            .await?
            .value;
        shown_job(job_id, job).map_err(|e| self.scrub(e))
    }
}
