//! Jobs: list-jobs by request id (20 per call, 100 jobs per page, bounded follow-up pages),
//! show-job for the rest, every look-up under the credential rules.

use std::collections::{HashMap, HashSet};

use cloudphone_core::raw::Idempotency;
use cloudphone_core::{Error, ErrorKind, JobInfo, JobRef, JobState, Result};
use futures::StreamExt;
use reqwest::Method;

use super::decode::{absorb_jobs, job_info, shown_job};
use super::{HuaweiCphProvider, JOBS_PAGE_SIZE, MAX_FOLLOW_UP_JOB_PAGES, REQUEST_IDS_PER_CALL};
use crate::wire::{Job, JobList};
use crate::VENDOR;

/// Jobs found by list-jobs, and the error that cut the search short, if any (a refusal stops
/// it at once).
type JobSearch = (HashMap<String, (String, Job)>, Option<Error>);

impl HuaweiCphProvider {
    /// The jobs asked for (see [`CloudPhoneProvider::jobs`]).
    pub(super) async fn look_up(&self, jobs: &[JobRef]) -> Result<Vec<JobInfo>> {
        let mut unique: Vec<&JobRef> = Vec::new();
        let mut ids = HashSet::new();
        for j in jobs {
            if ids.insert(j.job_id.as_str()) {
                unique.push(j);
            }
        }
        let mut groups: HashMap<String, HashSet<String>> = HashMap::new();
        for j in &unique {
            if let Some(r) = j.request_id.as_ref().filter(|r| !r.is_empty()) {
                groups
                    .entry(r.clone())
                    .or_default()
                    .insert(j.job_id.clone());
            }
        }
        let (found, list_error) = if groups.is_empty() {
            (HashMap::new(), None)
        } else {
            self.jobs_by_request(&groups, &HashMap::new()).await
        };
        let mut refusal = list_error.filter(|e| e.kind().is_auth());
        // Jobs without a request id, or not listed under it, are asked for one by one.
        let missing: Vec<String> = unique
            .iter()
            .filter(|j| !found.contains_key(&j.job_id))
            .map(|j| j.job_id.clone())
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
            .map(|j| {
                let info = match (found.get(&j.job_id), shown.get(&j.job_id)) {
                    (Some((_, job)), _) | (None, Some(Ok(job))) => {
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

    /// Jobs of the given request ids, fetched with list-jobs: up to 20 request ids per call,
    /// 100 jobs per page. Every page that `totals` (the jobs each request created) calls for is
    /// fetched at once; pages past those are followed one by one, only while wanted jobs are
    /// still missing, each page brings new jobs, and for at most
    /// [`MAX_FOLLOW_UP_JOB_PAGES`] pages. The first refusal stops everything.
    pub(super) async fn jobs_by_request(
        &self,
        groups: &HashMap<String, HashSet<String>>,
        totals: &HashMap<String, usize>,
    ) -> JobSearch {
        let mut rids: Vec<String> = groups.keys().cloned().collect();
        rids.sort();
        let chunks: Vec<Vec<String>> = rids
            .chunks(REQUEST_IDS_PER_CALL)
            .map(<[String]>::to_vec)
            .collect();
        let expected_pages = |rids: &[String]| {
            let jobs: usize = rids
                .iter()
                .map(|r| totals.get(r).copied().unwrap_or(0).max(groups[r].len()))
                .sum();
            jobs.div_ceil(JOBS_PAGE_SIZE).max(1)
        };
        let first_pass: Vec<(usize, usize)> = chunks
            .iter()
            .enumerate()
            .flat_map(|(c, rids)| (0..expected_pages(rids)).map(move |p| (c, p * JOBS_PAGE_SIZE)))
            .collect();
        let chunks = &chunks;
        let mut found: HashMap<String, (String, Job)> = HashMap::new();
        let mut error: Option<Error> = None;
        // Per chunk: the end of the last full page, where more jobs may follow.
        let mut full_to: HashMap<usize, usize> = HashMap::new();
        let mut broken: HashSet<usize> = HashSet::new();
        {
            let mut pages = std::pin::pin!(self.fan_out(
                first_pass,
                |(c, offset): (usize, usize)| async move {
                    (c, offset, self.jobs_page(&chunks[c], offset).await)
                }
            ));
            while let Some((c, offset, page)) = pages.next().await {
                match page {
                    Ok(jobs) => {
                        let (n, _) = absorb_jobs(jobs, groups, &chunks[c], &mut found);
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
        for (c, rids) in chunks.iter().enumerate() {
            let all_seen = |found: &HashMap<String, (String, Job)>| {
                rids.iter()
                    .flat_map(|r| groups[r].iter())
                    .all(|w| found.contains_key(w))
            };
            let Some(&end) = full_to.get(&c) else {
                continue;
            };
            if broken.contains(&c)
                || end < expected_pages(rids) * JOBS_PAGE_SIZE
                || all_seen(&found)
            {
                continue;
            }
            let mut offset = end;
            for _ in 0..MAX_FOLLOW_UP_JOB_PAGES {
                let page = match self.jobs_page(rids, offset).await {
                    Ok(page) => page,
                    Err(e) if e.kind().is_auth() => return (found, Some(e)),
                    Err(e) => {
                        error.get_or_insert(e);
                        break;
                    }
                };
                let (n, new) = absorb_jobs(page, groups, rids, &mut found);
                // A page that brings nothing new (the previous one again) means the vendor
                // ignored the offset.
                if n < JOBS_PAGE_SIZE || new == 0 || all_seen(&found) {
                    break;
                }
                offset += n;
            }
        }
        (found, error)
    }

    /// One list-jobs page for up to 20 request ids.
    async fn jobs_page(&self, rids: &[String], offset: usize) -> Result<Vec<Job>> {
        let joined = rids
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(",");
        let url = self.client.url(
            &["jobs"],
            &[
                ("limit", JOBS_PAGE_SIZE.to_string()),
                ("offset", offset.to_string()),
                ("request_ids", joined),
            ],
        )?;
        let page = self
            .client
            .send::<JobList>("list-jobs", Idempotency::ReadOnly, Method::GET, &url, None)
            .await?;
        Ok(page.value.jobs.unwrap_or_default())
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
