//! The decoders of eds-aic answers, for property tests and fuzzing.
//!
//! Each function runs exactly the code the provider runs on one attempt's answer — HTTP status,
//! `x-acs-retry-after`, error bodies of every shape (JSON, XML, neither), the JSON body and what
//! is made of it — without the transport, signing, rate limiting or retries. Whatever the
//! bytes, they return `Ok` or `Err`, never panic. Not a stable API.

use cloudphone_core::{Error, JobInfo, JobRef, PhoneId, PhoneOutcome, PhonePage, Result};

use crate::provider::{change_outcomes, job_infos, list_page_of, status_outcomes, Change};
use crate::wire;

/// One answer as the provider receives it.
#[derive(Debug, Clone, Copy)]
pub struct Answer<'a> {
    /// The HTTP status code.
    pub http_status: u16,
    /// The `x-acs-retry-after` header, if any.
    pub retry_after: Option<&'a str>,
    /// The `x-acs-request-id` header, if any.
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

fn checked(answer: &Answer<'_>) -> Result<()> {
    if (200..300).contains(&answer.http_status) {
        return Ok(());
    }
    Err(decode_error(answer))
}

/// The error a non-2xx answer stands for.
pub fn decode_error(answer: &Answer<'_>) -> Error {
    wire::http_error(
        answer.http_status,
        answer.body,
        answer.retry_after.and_then(wire::parse_acs_retry_after),
        answer.request_id,
    )
}

/// The status outcomes of `chunk` from one `DescribeAndroidInstances` answer; the paging counts
/// as ended when the answer has no `NextToken`.
pub fn decode_status(chunk: &[PhoneId], answer: &Answer<'_>) -> Result<Vec<PhoneOutcome>> {
    checked(answer)?;
    let page = wire::instance_page(answer.body)?;
    let complete = page.next.is_none();
    Ok(status_outcomes(chunk, &page.instances, complete))
}

/// The list page of one `DescribeAndroidInstances` answer asked with `cursor`.
pub fn decode_list(cursor: Option<&str>, answer: &Answer<'_>) -> Result<PhonePage> {
    checked(answer)?;
    Ok(list_page_of(wire::instance_page(answer.body)?, cursor))
}

/// The outcomes of `chunk` from the answer of a state change: `action` is one of
/// [`crate::START`], [`crate::STOP`], [`crate::REBOOT`], [`crate::RESET`],
/// [`crate::UPDATE_IMAGE`].
pub fn decode_change(
    action: &str,
    chunk: &[PhoneId],
    answer: &Answer<'_>,
) -> Result<Vec<PhoneOutcome>> {
    let change = [
        Change::Start,
        Change::Stop,
        Change::Reboot,
        Change::Reset,
        Change::Reimage,
    ]
    .into_iter()
    .find(|c| c.action() == action)
    .ok_or_else(|| {
        Error::new(
            cloudphone_core::ErrorKind::InvalidArgument,
            format!("`{action}` is not a state change"),
        )
    })?;
    checked(answer)?;
    let decoded = wire::change_answer(change.action(), answer.body)?;
    Ok(change_outcomes(decoded, answer.request_id, chunk))
}

/// The infos of `job` from one `DescribeTasks` answer (its tasks matching the job: by task id,
/// or for a request id by `InvokeId`).
pub fn decode_tasks(job: &JobRef, answer: &Answer<'_>) -> Result<Vec<JobInfo>> {
    checked(answer)?;
    let page = wire::task_page(answer.body)?;
    let invoke = job.request_id.as_deref() == Some(job.job_id());
    let tasks: Vec<&wire::Task> = page
        .tasks
        .iter()
        .filter(|t| {
            if invoke {
                t.invoke_id.as_deref().is_none_or(|i| i == job.job_id())
                    && t.level.is_none_or(|l| l == 2)
                    && t.instance_id.is_some()
            } else {
                t.task_id.as_deref() == Some(job.job_id())
            }
        })
        .collect();
    Ok(job_infos(job, &tasks))
}
