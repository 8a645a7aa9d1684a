//! The provider trait every backend implements, its options and its capabilities.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Debug;
use std::time::Duration;

use async_trait::async_trait;
use futures::stream::BoxStream;
use futures::StreamExt;

use crate::{
    BatchReport, Error, JobInfo, JobRef, Operation, PhoneId, PhonePage, PhoneState, PhoneSummary,
    RateBudget, Result,
};

/// Vendor-specific options passed through untouched (e.g. GeeLark `changeBrandModel`).
///
/// A backend rejects a key it does not know with an error naming it, before sending anything.
pub type Extras = serde_json::Map<String, serde_json::Value>;

/// Options of [`CloudPhoneProvider::start`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct StartOptions {
    /// Vendor-specific options.
    pub extras: Extras,
}

impl StartOptions {
    /// Adds a vendor-specific option.
    pub fn extra(mut self, key: impl Into<String>, value: impl Into<serde_json::Value>) -> Self {
        self.extras.insert(key.into(), value.into());
        self
    }
}

/// Options of [`CloudPhoneProvider::reset`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ResetOptions {
    /// Re-image with this image, where the vendor supports it.
    pub image: Option<String>,
    /// System properties applied to every phone.
    pub properties: BTreeMap<String, String>,
    /// System properties for single phones; merged over [`ResetOptions::properties`].
    pub phone_properties: HashMap<PhoneId, BTreeMap<String, String>>,
    /// Vendor-specific options.
    pub extras: Extras,
}

impl ResetOptions {
    /// Sets the image.
    pub fn image(mut self, image: impl Into<String>) -> Self {
        self.image = Some(image.into());
        self
    }

    /// Sets a property for every phone.
    pub fn property(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.properties.insert(key.into(), value.into());
        self
    }

    /// Sets a property for one phone.
    pub fn phone_property(
        mut self,
        phone: PhoneId,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        self.phone_properties
            .entry(phone)
            .or_default()
            .insert(key.into(), value.into());
        self
    }

    /// Adds a vendor-specific option.
    pub fn extra(mut self, key: impl Into<String>, value: impl Into<serde_json::Value>) -> Self {
        self.extras.insert(key.into(), value.into());
        self
    }

    /// These options for a subset of the phones: per-phone properties of other phones are left
    /// out (a fleet hands each provider only what concerns its own phones).
    pub fn for_phones(&self, phones: &[PhoneId]) -> ResetOptions {
        let mut scoped = self.clone();
        if !scoped.phone_properties.is_empty() {
            let wanted: std::collections::HashSet<&PhoneId> = phones.iter().collect();
            scoped.phone_properties.retain(|p, _| wanted.contains(p));
        }
        scoped
    }

    /// The properties that apply to `phone`: the shared ones with its own merged over them.
    pub fn properties_for(&self, phone: &PhoneId) -> BTreeMap<String, String> {
        let mut props = self.properties.clone();
        if let Some(own) = self.phone_properties.get(phone) {
            props.extend(own.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        props
    }
}

/// A request for one page of [`CloudPhoneProvider::list_page`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ListRequest {
    /// Phones per page; the backend's default (and cap) when `None`.
    pub page_size: Option<usize>,
    /// The cursor from the previous page's [`PhonePage::next`].
    pub cursor: Option<String>,
}

impl ListRequest {
    /// Sets the page size.
    pub fn page_size(mut self, n: usize) -> Self {
        self.page_size = Some(n);
        self
    }

    /// Continues after a previous page.
    pub fn cursor(mut self, cursor: Option<String>) -> Self {
        self.cursor = cursor;
        self
    }
}

/// Options of [`CloudPhoneProvider::wait`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct WaitOptions {
    /// The state to wait for; defaults to the operation's natural target (stop → stopped;
    /// start, restart, reset → running).
    pub target: Option<PhoneState>,
    /// Give up after this long; unfinished phones stay pending with their job references.
    pub timeout: Duration,
    /// Time between poll rounds.
    pub poll_interval: Duration,
}

impl Default for WaitOptions {
    fn default() -> Self {
        WaitOptions {
            target: None,
            timeout: Duration::from_secs(600),
            poll_interval: Duration::from_secs(5),
        }
    }
}

impl WaitOptions {
    /// Waits for `state` instead of the operation's natural target.
    pub fn target(mut self, state: PhoneState) -> Self {
        self.target = Some(state);
        self
    }

    /// Sets the deadline.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the poll interval.
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// The state to wait for after `operation`, or an error naming what is missing.
    pub fn resolve_target(&self, operation: Operation) -> Result<PhoneState> {
        if self.poll_interval.is_zero() {
            return Err(Error::new(
                crate::ErrorKind::InvalidArgument,
                "the poll interval must be greater than zero (a zero interval would call the vendor in a busy loop)",
            ));
        }
        self.target
            .or_else(|| operation.target_state())
            .ok_or_else(|| {
                Error::new(
                    crate::ErrorKind::InvalidArgument,
                    format!("waiting after `{operation}` needs an explicit target state"),
                )
            })
    }
}

/// What a provider can do: operations, batch sizes and the rate limits it keeps to.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Capabilities {
    /// Operations offered; the others answer [`crate::ErrorKind::Unsupported`].
    pub operations: BTreeSet<Operation>,
    /// Phones per vendor call, by operation (1 where the vendor takes one id per call).
    pub batch_sizes: BTreeMap<Operation, usize>,
    /// Client-side budgets every call of this provider shares.
    pub rate_limits: Vec<RateBudget>,
    /// Whether accepted operations carry vendor job references.
    pub jobs: bool,
}

impl Capabilities {
    /// Whether `op` is offered.
    pub fn supports(&self, op: Operation) -> bool {
        self.operations.contains(&op)
    }
}

/// One vendor account's cloud phones behind a vendor-neutral, batch-first interface.
///
/// Every batch method returns exactly one outcome per distinct requested id, in request order
/// (see [`BatchReport`]); per-phone failures are outcomes, not `Err`. A method returns `Err`
/// only when nothing was sent (bad input, unsupported operation) or the credentials were
/// rejected before any phone was accepted.
///
/// Implementations are `Send + Sync` and meant to be shared as `Arc<dyn CloudPhoneProvider>`.
#[async_trait]
pub trait CloudPhoneProvider: Debug + Send + Sync {
    /// The vendor's short name, as its configuration `type` (e.g. `"acme"`).
    fn vendor(&self) -> &'static str;

    /// What this provider offers.
    fn capabilities(&self) -> &Capabilities;

    /// Reads the state of each phone.
    async fn status(&self, phones: &[PhoneId]) -> Result<BatchReport>;

    /// Powers phones off. Usually pending until [`CloudPhoneProvider::wait`] sees them stopped.
    async fn stop(&self, phones: &[PhoneId]) -> Result<BatchReport>;

    /// Powers phones on.
    async fn start(&self, phones: &[PhoneId], options: &StartOptions) -> Result<BatchReport> {
        let _ = (phones, options);
        Err(Error::unsupported(self.vendor(), Operation::Start))
    }

    /// Reboots phones.
    async fn restart(&self, phones: &[PhoneId]) -> Result<BatchReport> {
        let _ = phones;
        Err(Error::unsupported(self.vendor(), Operation::Restart))
    }

    /// Resets phones to a fresh machine (wipes apps and data).
    async fn reset(&self, phones: &[PhoneId], options: &ResetOptions) -> Result<BatchReport>;

    /// Reads one page of the account's phones.
    async fn list_page(&self, request: &ListRequest) -> Result<PhonePage> {
        let _ = request;
        Err(Error::unsupported(self.vendor(), Operation::List))
    }

    /// Looks up vendor jobs.
    async fn jobs(&self, jobs: &[JobRef]) -> Result<Vec<JobInfo>> {
        let _ = jobs;
        Err(Error::unsupported(self.vendor(), Operation::Jobs))
    }

    /// The origin stamped on this provider's reports, if it stamps them (the batch engine's
    /// [`BatchEngine::origin`](crate::raw::BatchEngine::origin)); `wait` refuses another
    /// provider's report.
    fn origin(&self) -> Option<crate::Origin> {
        None
    }

    /// Waits until every pending phone of `report` reaches the target state, fails, or the
    /// deadline passes. Returns one outcome per phone of `report`; on a deadline unfinished
    /// phones stay pending and keep their job references. A report another provider made is
    /// refused ([`crate::wait::check_origin`]).
    ///
    /// The default polls [`CloudPhoneProvider::status`]; vendors with jobs override it.
    async fn wait(&self, report: &BatchReport, options: &WaitOptions) -> Result<BatchReport> {
        crate::wait::wait_by_status(self, report, options).await
    }

    /// [`CloudPhoneProvider::wait`], handed the report instead of lent it: a wait that
    /// implements it updates the report's outcomes in place rather than working on a copy
    /// (at 100,000 phones the copy is tens of MB). The `*_and_wait` helpers call it.
    ///
    /// The default lends the report to [`CloudPhoneProvider::wait`]; a provider relying on
    /// the default `wait` should implement this with
    /// [`wait_by_status_owned`](crate::wait::wait_by_status_owned), and wrappers should
    /// forward it.
    async fn wait_owned(&self, report: BatchReport, options: &WaitOptions) -> Result<BatchReport> {
        self.wait(&report, options).await
    }
}

/// Helpers on top of [`CloudPhoneProvider`].
pub trait CloudPhoneProviderExt: CloudPhoneProvider {
    /// Stops `phones` and waits for them (the wait error, if any, is kept per phone).
    fn stop_and_wait<'a>(
        &'a self,
        phones: &'a [PhoneId],
        wait: &'a WaitOptions,
    ) -> futures::future::BoxFuture<'a, Result<BatchReport>>
    where
        Self: Sync,
    {
        Box::pin(async move { self.wait_owned(self.stop(phones).await?, wait).await })
    }

    /// Starts `phones` and waits until they run.
    fn start_and_wait<'a>(
        &'a self,
        phones: &'a [PhoneId],
        options: &'a StartOptions,
        wait: &'a WaitOptions,
    ) -> futures::future::BoxFuture<'a, Result<BatchReport>>
    where
        Self: Sync,
    {
        Box::pin(async move {
            self.wait_owned(self.start(phones, options).await?, wait)
                .await
        })
    }

    /// Restarts `phones` and waits until they run again.
    fn restart_and_wait<'a>(
        &'a self,
        phones: &'a [PhoneId],
        wait: &'a WaitOptions,
    ) -> futures::future::BoxFuture<'a, Result<BatchReport>>
    where
        Self: Sync,
    {
        Box::pin(async move { self.wait_owned(self.restart(phones).await?, wait).await })
    }

    /// Resets `phones` and waits until they run again.
    fn reset_and_wait<'a>(
        &'a self,
        phones: &'a [PhoneId],
        options: &'a ResetOptions,
        wait: &'a WaitOptions,
    ) -> futures::future::BoxFuture<'a, Result<BatchReport>>
    where
        Self: Sync,
    {
        Box::pin(async move {
            self.wait_owned(self.reset(phones, options).await?, wait)
                .await
        })
    }

    /// Every phone of the account, page after page, as a stream.
    fn list(&self, page_size: Option<usize>) -> BoxStream<'_, Result<PhoneSummary>> {
        struct State {
            cursor: Option<String>,
            done: bool,
        }
        let pages = futures::stream::unfold(
            State {
                cursor: None,
                done: false,
            },
            move |mut st| async move {
                if st.done {
                    return None;
                }
                let req = ListRequest {
                    page_size,
                    cursor: st.cursor.take(),
                };
                match self.list_page(&req).await {
                    Ok(page) => {
                        st.done = page.next.is_none();
                        st.cursor = page.next;
                        let items: Vec<Result<PhoneSummary>> =
                            page.phones.into_iter().map(Ok).collect();
                        Some((futures::stream::iter(items), st))
                    }
                    Err(e) => {
                        st.done = true;
                        Some((futures::stream::iter(vec![Err(e)]), st))
                    }
                }
            },
        );
        pages.flatten().boxed()
    }
}

impl<T: CloudPhoneProvider + ?Sized> CloudPhoneProviderExt for T {}
