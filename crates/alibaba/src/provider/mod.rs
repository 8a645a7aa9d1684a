//! [`AlibabaProvider`]: the [`CloudPhoneProvider`] for Alibaba Cloud Cloud Phone (eds-aic).
//!
//! - `builder`: configuration to provider (signer, engine, HTTP client);
//! - `decode`: what decoded answers say (status outcomes, change outcomes, pages, jobs);
//! - `status`: `DescribeAndroidInstances` by ids, following `NextToken`;
//! - `changes`: start, stop, restart, reset and re-image, with the state check before sending;
//! - `list`: list paging;
//! - `tasks`: `DescribeTasks` by task ids and by invoke id, and `jobs`;
//! - `wait`: following tasks, then states.

use std::fmt;
use std::future::Future;

use cloudphone_core::raw::{fan_out, BatchEngine};
use cloudphone_core::{
    async_trait, BatchReport, Capabilities, CloudPhoneProvider, Error, JobInfo, JobRef,
    ListRequest, Operation, Origin, PhoneId, PhonePage, ResetOptions, Result, StartOptions,
    WaitOptions,
};
use futures::Stream;

use crate::client::Client;
use crate::VENDOR;

mod builder;
mod changes;
mod decode;
mod list;
mod status;
mod tasks;
mod wait;

pub use builder::AlibabaProviderBuilder;
pub(crate) use changes::Change;
pub(crate) use decode::{change_outcomes, job_infos, list_page_of, status_outcomes};

/// Ids per `DescribeAndroidInstances` and per `DescribeTasks` call, and their page size: the
/// documented maximum of `MaxResults`.
pub const PAGE_SIZE: usize = 100;

/// `DescribeAndroidInstances`.
pub const DESCRIBE_INSTANCES: &str = "DescribeAndroidInstances";
/// `StartAndroidInstance` (singular).
pub const START: &str = "StartAndroidInstance";
/// `StopAndroidInstance` (singular).
pub const STOP: &str = "StopAndroidInstance";
/// `RebootAndroidInstancesInGroup`.
pub const REBOOT: &str = "RebootAndroidInstancesInGroup";
/// `ResetAndroidInstancesInGroup`.
pub const RESET: &str = "ResetAndroidInstancesInGroup";
/// `UpdateInstanceImage` (a reset with an image).
pub const UPDATE_IMAGE: &str = "UpdateInstanceImage";
/// `DescribeTasks`.
pub const DESCRIBE_TASKS: &str = "DescribeTasks";

/// Pages one `NextToken` chain may take past the pages its ids call for: a vendor handing out
/// token after token (or ignoring the id filter) is cut off here.
const EXTRA_PAGES: usize = 3;

/// Alibaba Cloud Cloud Phone behind the vendor-neutral [`CloudPhoneProvider`] interface.
///
/// Stop, start, restart and reset are asynchronous: accepted phones come back
/// [`Outcome::Pending`](cloudphone_core::Outcome::Pending) with a [`JobRef`] — the child
/// `TaskId` of a restart or reset (the request id alongside), or for start and stop, which
/// answer only a `RequestId`, that request id as the job (the `InvokeId` of their tasks).
/// [`CloudPhoneProvider::wait`] follows them with `DescribeTasks`, then confirms the states.
pub struct AlibabaProvider {
    client: Client,
    batch_size: usize,
    concurrency: usize,
    force_stop: bool,
    check_states: crate::CheckStates,
    reimage: bool,
    region: Option<String>,
    capabilities: Capabilities,
}

impl fmt::Debug for AlibabaProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlibabaProvider")
            .field("client", &self.client)
            .field("batch_size", &self.batch_size)
            .field("force_stop", &self.force_stop)
            .field("check_states", &self.check_states)
            .field("reimage", &self.reimage)
            .field("region", &self.region)
            .finish()
    }
}

impl AlibabaProvider {
    fn engine(&self) -> &BatchEngine {
        &self.client.engine
    }

    fn scrub(&self, e: Error) -> Error {
        self.engine().scrubber().scrub_error(e)
    }

    /// `f` over `items`, `concurrency` at a time; while the credentials are unproven the first
    /// item goes alone.
    fn fan_out<'a, I, T, F, Fut>(&'a self, items: Vec<I>, f: F) -> impl Stream<Item = T> + 'a
    where
        I: 'a,
        T: 'a,
        F: Fn(I) -> Fut + Clone + 'a,
        Fut: Future<Output = T> + 'a,
    {
        fan_out(self.client.proven(), self.concurrency, items, f)
    }

    /// Stops `phones` with `ForceStop=true` (a hard power-off, which may lose unsaved data),
    /// whatever `force_stop` is configured to.
    pub async fn force_stop(&self, phones: &[PhoneId]) -> Result<BatchReport> {
        self.change(Change::Stop, phones, None, true).await
    }

    /// Restarts `phones` with `ForceStop=true`, whatever `force_stop` is configured to.
    pub async fn force_restart(&self, phones: &[PhoneId]) -> Result<BatchReport> {
        self.change(Change::Reboot, phones, None, true).await
    }
}

#[async_trait]
impl CloudPhoneProvider for AlibabaProvider {
    fn vendor(&self) -> &'static str {
        VENDOR
    }

    fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    fn origin(&self) -> Option<Origin> {
        Some(self.engine().origin())
    }

    /// `DescribeAndroidInstances` per 100 ids (`MaxResults=100`), following `NextToken`; an id
    /// the vendor does not list is not found.
    async fn status(&self, phones: &[PhoneId]) -> Result<BatchReport> {
        self.status_of(phones).await
    }

    /// `StopAndroidInstance` per `batch_size` phones (`ForceStop` as configured). Phones already
    /// `STOPPED` are done (see `check_states`).
    async fn stop(&self, phones: &[PhoneId]) -> Result<BatchReport> {
        self.change(Change::Stop, phones, None, self.force_stop)
            .await
    }

    /// `StartAndroidInstance` per `batch_size` phones; phones already `RUNNING` are done
    /// without a call. No options are taken.
    async fn start(&self, phones: &[PhoneId], options: &StartOptions) -> Result<BatchReport> {
        cloudphone_core::raw::ExtraOptions::none(VENDOR, Operation::Start, &options.extras)?;
        self.change(Change::Start, phones, None, false).await
    }

    /// `RebootAndroidInstancesInGroup` per `batch_size` phones (`ForceStop` as configured).
    async fn restart(&self, phones: &[PhoneId]) -> Result<BatchReport> {
        self.change(Change::Reboot, phones, None, self.force_stop)
            .await
    }

    /// `ResetAndroidInstancesInGroup` (the phone's own image); with an image,
    /// `UpdateInstanceImage(InstanceIdList, ImageId, Reset=true)` where `reimage` allows it,
    /// otherwise [`ErrorKind::Unsupported`](cloudphone_core::ErrorKind::Unsupported) naming
    /// the option. System properties and extras are refused before anything is sent.
    async fn reset(&self, phones: &[PhoneId], options: &ResetOptions) -> Result<BatchReport> {
        self.reset_phones(phones, options).await
    }

    /// One page of `DescribeAndroidInstances` (at most 100 phones; `BizRegionId` = `region` when
    /// configured); the cursor is the vendor's `NextToken`.
    async fn list_page(&self, request: &ListRequest) -> Result<PhonePage> {
        self.list(request).await
    }

    /// `DescribeTasks`: child task ids by `TaskIds` (100 per call), start and stop requests by
    /// `InvokeId` (their instance tasks, `Level=2`, one info per phone). `MaxResults=100`,
    /// following `NextToken`.
    async fn jobs(&self, jobs: &[JobRef]) -> Result<Vec<JobInfo>> {
        self.look_up(jobs).await
    }

    /// Follows pending phones' tasks through `DescribeTasks`, then confirms their state with
    /// `DescribeAndroidInstances`; phones whose task cannot be found, phones without a job and
    /// unknown outcomes are polled by state. A failed task fails its phone with the task's
    /// `ErrorCode`. Every outcome is kept; a refusal of the credentials ends the wait at once.
    async fn wait(&self, report: &BatchReport, options: &WaitOptions) -> Result<BatchReport> {
        cloudphone_core::raw::wait::check_origin(self, report)?;
        self.wait_for(report.clone(), options).await
    }

    /// The same wait, updating the handed report's outcomes in place instead of a copy.
    async fn wait_owned(&self, report: BatchReport, options: &WaitOptions) -> Result<BatchReport> {
        self.wait_for(report, options).await
    }
}
