//! The decoders of CPH and IAM answers, for property tests and fuzzing.
//!
//! Each function runs exactly the code the provider runs on one attempt's answer — HTTP status,
//! `Retry-After`, error bodies of every shape, the JSON body and what is made of it — without
//! the transport, signing, rate limiting or retries. Whatever the bytes, they return `Ok` or
//! `Err`, never panic. Not a stable API: signatures follow the provider's internals.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use cloudphone_core::{Error, JobInfo, JobRef, PhoneId, PhoneOutcome, PhonePage, Result};
use secrecy::SecretString;
use time::OffsetDateTime;

use crate::client::{check_status, decode, iam_answer};
use crate::provider::{
    absorb_jobs, batch_answer, detail_outcome, job_info, list_page_of, shown_job,
};
use crate::wire::{self, BatchAnswer, Job, JobList, Phone, PhoneList};

/// One answer as the provider receives it.
#[derive(Debug, Clone, Copy)]
pub struct Answer<'a> {
    /// The HTTP status code.
    pub http_status: u16,
    /// The `Retry-After` header, if any.
    pub retry_after: Option<&'a str>,
    /// The `X-Request-Id` header, if any.
    pub request_id: Option<&'a str>,
    /// The body.
    pub body: &'a [u8],
}

impl<'a> Answer<'a> {
    /// An HTTP 200 answer with `body` and no headers.
    pub fn ok(body: &'a [u8]) -> Self {
        Answer {
            http_status: 200,
            retry_after: None,
            request_id: None,
            body,
        }
    }
}

/// `Retry-After` as the provider reads it: delay-seconds or an HTTP-date
/// ([`cloudphone_core::raw::http::parse_retry_after`]); anything else is ignored.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    cloudphone_core::raw::http::parse_retry_after(value)
}

/// The error a non-2xx answer stands for, from a body of any shape
/// (`{"error_code","error_msg"}`, `{"error":{"code","message"}}`, or not JSON at all).
pub fn decode_error(http_status: u16, retry_after: Option<&str>, body: &[u8]) -> Error {
    wire::http_error(
        http_status,
        body,
        retry_after.and_then(parse_retry_after),
        None,
    )
}

/// Whether an error says the token expired (the provider then logs in again once).
pub fn is_token_expired(e: &Error) -> bool {
    wire::is_token_expired(e)
}

fn body<T: serde::de::DeserializeOwned>(answer: &Answer<'_>) -> Result<T> {
    let retry_after = answer.retry_after.and_then(parse_retry_after);
    check_status(
        answer.http_status,
        answer.body,
        retry_after,
        answer.request_id,
    )?;
    decode(answer.body)
}

/// The answer of `batch-reset`, `batch-stop` or `batch-restart`: pending phones with their
/// job, per-phone failures, or the request-level error. Jobs naming no phone come back under
/// an empty phone id (the engine reports them as stray jobs).
pub fn decode_batch(answer: &Answer<'_>) -> Result<Vec<PhoneOutcome>> {
    decode_batch_for(&[], answer)
}

/// [`decode_batch`] for a request about `chunk`: an error entry naming no phone applies to the
/// phones of `chunk` the answer says nothing else about.
pub fn decode_batch_for(chunk: &[PhoneId], answer: &Answer<'_>) -> Result<Vec<PhoneOutcome>> {
    let value: BatchAnswer = body(answer)?;
    batch_answer(value, answer.request_id.map(str::to_owned), chunk)
}

/// The answer of the phone-detail call about `id`.
pub fn decode_detail(id: &PhoneId, answer: &Answer<'_>) -> Result<PhoneOutcome> {
    let phone: Phone = body(answer)?;
    detail_outcome(id.clone(), &phone)
}

/// The answer of list-phones fetched at `offset` with `limit`.
pub fn decode_list(offset: u64, limit: usize, answer: &Answer<'_>) -> Result<PhonePage> {
    let page: PhoneList = body(answer)?;
    Ok(list_page_of(page, offset, limit))
}

/// The answer of show-job about `job` (an answer about another job is an error).
pub fn decode_job(job: &JobRef, answer: &Answer<'_>) -> Result<JobInfo> {
    let value: Job = body(answer)?;
    let value = shown_job(&job.job_id, value)?;
    Ok(job_info(job, &value))
}

/// One page of list-jobs asked for `groups` (request id → wanted job ids): the jobs it
/// names, each under the request id the provider files it under, in job id order.
pub fn decode_jobs_page(
    groups: &HashMap<String, HashSet<String>>,
    answer: &Answer<'_>,
) -> Result<Vec<JobInfo>> {
    let page: JobList = body(answer)?;
    let mut rids: Vec<String> = groups.keys().cloned().collect();
    rids.sort();
    let mut found = HashMap::new();
    absorb_jobs(page.jobs.unwrap_or_default(), groups, &rids, &mut found);
    let mut infos: Vec<JobInfo> = found
        .into_iter()
        .map(|(id, (rid, job))| job_info(&JobRef::new(id, Some(rid.into())), &job))
        .collect();
    infos.sort_by(|a, b| a.job.job_id.cmp(&b.job.job_id));
    Ok(infos)
}

/// The answer of an IAM password login: the `X-Subject-Token` and when it expires (an hour
/// from `now` when the body does not say).
pub fn decode_iam(
    answer: &Answer<'_>,
    subject_token: Option<&str>,
    now: OffsetDateTime,
) -> Result<(SecretString, OffsetDateTime)> {
    let retry_after = answer.retry_after.and_then(parse_retry_after);
    iam_answer(
        answer.http_status,
        retry_after,
        answer.request_id,
        subject_token,
        answer.body,
        || now,
    )
}
