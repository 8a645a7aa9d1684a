//! [`HuaweiCphProvider`]: the [`CloudPhoneProvider`] for Huawei Cloud CPH.
//!
//! - `builder`: configuration to provider (authentication, engine, HTTP client);
//! - `decode`: what decoded answers say (batch outcomes, details, pages, jobs);
//! - `status`: the status strategies (detail calls, list pages, whichever is cheaper);
//! - `changes`: the batch state changes, and `start` that reads states first;
//! - `list`: list paging;
//! - `jobs`: list-jobs and show-job look-ups;
//! - `wait`: following jobs, then states.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::sync::Mutex;

use cloudphone_core::raw::{fan_out, BatchEngine, ExtraOptions};
use cloudphone_core::{
    async_trait, BatchReport, Capabilities, CloudPhoneProvider, Error, ErrorKind, JobInfo, JobRef,
    ListRequest, Operation, PhoneId, PhonePage, ResetOptions, Result, StartOptions, WaitOptions,
};
use futures::Stream;

use crate::client::Client;
use crate::config::StatusStrategy;
use crate::wire;
use crate::VENDOR;

mod builder;
mod changes;
mod decode;
mod jobs;
mod list;
mod status;
mod wait;

pub use builder::HuaweiCphProviderBuilder;
pub(crate) use decode::{
    absorb_jobs, batch_answer, detail_outcome, job_info, list_page_of, shown_job,
};

/// Phones per list page: the API's maximum.
pub const LIST_PAGE_SIZE: usize = 200;
/// Jobs per list-jobs page: the API's maximum.
pub const JOBS_PAGE_SIZE: usize = 100;
/// Request ids per list-jobs call: the API's maximum.
pub const REQUEST_IDS_PER_CALL: usize = 20;

/// The most list pages one status call reads (a million phones); phones not seen by then are
/// read one by one. A hostile or broken `count` cannot cost more.
const MAX_LISTING_PAGES: usize = 5_000;
/// List-jobs pages read past those the known job totals call for, per 20 request ids. The API
/// gives no count, so a vendor listing ever more jobs is cut off here.
const MAX_FOLLOW_UP_JOB_PAGES: usize = 5;
/// List pages remembered by [`CloudPhoneProvider::list_page`] to recognise a repeated page.
const LIST_MEMO: usize = 64;

/// Huawei Cloud CPH behind the vendor-neutral [`CloudPhoneProvider`] interface.
///
/// Reset, stop, start and restart are asynchronous on CPH: accepted phones come back
/// [`Outcome::Pending`](cloudphone_core::Outcome::Pending) with their [`JobRef`] (job id and request id), and
/// [`CloudPhoneProvider::wait`] follows them through the list-jobs API (up to 20 request ids per
/// call), then confirms the phone state.
pub struct HuaweiCphProvider {
    client: Client,
    batch_size: usize,
    concurrency: usize,
    strategy: StatusStrategy,
    capabilities: Capabilities,
    /// Pages `list_page` handed out, by the offset their cursor points to.
    list_memo: Mutex<VecDeque<ListMemo>>,
}

/// What a list page looked like: its length and a hash of its phone ids.
type Fingerprint = (usize, u64);

/// A list page handed out with a cursor: the page behind `next`, and the lowest total the
/// vendor reported on the way there.
#[derive(Debug, Clone, Copy)]
struct ListMemo {
    next: u64,
    fingerprint: Fingerprint,
    total: Option<u64>,
}

impl fmt::Debug for HuaweiCphProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HuaweiCphProvider")
            .field("client", &self.client)
            .field("batch_size", &self.batch_size)
            .field("status_strategy", &self.strategy)
            .finish()
    }
}

impl HuaweiCphProvider {
    fn engine(&self) -> &BatchEngine {
        &self.client.engine
    }

    fn scrub(&self, e: Error) -> Error {
        self.engine().scrubber().scrub_error(e)
    }

    fn scrub_info(&self, mut info: JobInfo) -> JobInfo {
        info.error = info.error.map(|e| self.scrub(e));
        info
    }

    /// `f` over `items`, `concurrency` at a time; while the credentials are unproven the
    /// first item goes alone, so that a wrong key is sent once rather than `concurrency` times
    /// (Huawei locks an AK/SK after five failures). A consumer that stops at a refusal starts
    /// nothing after it: the rest are created only as the stream is polled.
    fn fan_out<'a, I, T, F, Fut>(&'a self, items: Vec<I>, f: F) -> impl Stream<Item = T> + 'a
    where
        I: 'a,
        T: 'a,
        F: Fn(I) -> Fut + Clone + 'a,
        Fut: Future<Output = T> + 'a,
    {
        fan_out(self.client.proven(), self.concurrency, items, f)
    }
}

#[async_trait]
impl CloudPhoneProvider for HuaweiCphProvider {
    fn vendor(&self) -> &'static str {
        VENDOR
    }

    fn origin(&self) -> Option<cloudphone_core::Origin> {
        Some(self.engine().origin())
    }

    fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    async fn status(&self, phones: &[PhoneId]) -> Result<BatchReport> {
        self.status_by_strategy(phones).await
    }

    async fn stop(&self, phones: &[PhoneId]) -> Result<BatchReport> {
        self.batch(Operation::Stop, "batch-stop", phones, |chunk| {
            serde_json::to_vec(&wire::StopBody {
                phone_ids: chunk.iter().map(PhoneId::as_str).collect(),
            })
            .expect("plain structs serialize")
        })
        .await
    }

    /// CPH has no start call: `batch-restart` powers a stopped phone on — and reboots a
    /// running one. So the phones' states are read first: phones already running are done
    /// without a call, and only the others are sent to `batch-restart`. A phone whose state
    /// cannot be read is not started (its outcome says why; nothing was sent for it).
    async fn start(&self, phones: &[PhoneId], options: &StartOptions) -> Result<BatchReport> {
        self.start_phones(phones, options).await
    }

    async fn restart(&self, phones: &[PhoneId]) -> Result<BatchReport> {
        self.batch(Operation::Restart, "batch-restart", phones, |chunk| {
            Self::phones_body(None, chunk, None)
        })
        .await
    }

    async fn reset(&self, phones: &[PhoneId], options: &ResetOptions) -> Result<BatchReport> {
        ExtraOptions::none(VENDOR, Operation::Reset, &options.extras)?;
        if options
            .image
            .as_deref()
            .is_some_and(|i| i.trim().is_empty())
        {
            return Err(
                Error::new(ErrorKind::InvalidArgument, "the reset image id is empty")
                    .with_vendor(VENDOR),
            );
        }
        let image = options.image.as_deref();
        self.batch(Operation::Reset, "batch-reset", phones, |chunk| {
            Self::phones_body(image, chunk, Some(options))
        })
        .await
    }

    /// One page of the project's phones; the cursor is the record offset of the next page.
    ///
    /// The listing ends at the lowest total the vendor reported on the way (a total that grows
    /// page after page cannot keep it going), and a page identical to the one before it (a
    /// vendor ignoring the offset) is an error rather than a loop.
    async fn list_page(&self, request: &ListRequest) -> Result<PhonePage> {
        self.list(request).await
    }

    /// Looks jobs up: those with a request id through list-jobs, the others (and any the
    /// listing did not show) one by one with show-job. Until the credentials are proven one
    /// request goes alone; the first refusal stops everything (nothing is sent after it), and
    /// the jobs not looked up carry it as their error. `Err` only when nothing was learned.
    async fn jobs(&self, jobs: &[JobRef]) -> Result<Vec<JobInfo>> {
        self.look_up(jobs).await
    }

    /// Follows pending phones with jobs through list-jobs, then confirms their state; phones
    /// without a job (or with an unknown outcome) are polled by status. Every outcome is kept:
    /// a failure to look is attached as [`PhoneOutcome::wait_error`](cloudphone_core::PhoneOutcome::wait_error), and a refusal of the
    /// credentials ends the wait at once (nothing more is sent), the report still `Ok`.
    async fn wait(&self, report: &BatchReport, options: &WaitOptions) -> Result<BatchReport> {
        cloudphone_core::raw::wait::check_origin(self, report)?;
        self.wait_for(report.clone(), options).await
    }

    /// The same wait, updating the handed report's outcomes in place instead of a copy.
    async fn wait_owned(&self, report: BatchReport, options: &WaitOptions) -> Result<BatchReport> {
        self.wait_for(report, options).await
    }
}
