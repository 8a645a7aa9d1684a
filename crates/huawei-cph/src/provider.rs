//! [`HuaweiCphProvider`]: the [`CloudPhoneProvider`] for Huawei Cloud CPH.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cloudphone_core::wait::{align, needs_watch, observe};
use cloudphone_core::{
    async_trait, dedupe, BatchEngine, BatchReport, Capabilities, CloudPhoneProvider, EngineConfig,
    Error, ErrorKind, Extras, Idempotency, JobInfo, JobRef, JobState, ListRequest, Operation,
    Outcome, PhoneId, PhoneOutcome, PhonePage, PhoneSummary, RateBudget, RateScope, ResetOptions,
    Result, RetryPolicy, StartOptions, WaitOptions,
};
use futures::{StreamExt, TryStreamExt};
use reqwest::Method;

use crate::client::{Auth, Client, IamLogin};
use crate::clock::{Clock, SystemClock};
use crate::config::{config_err, Credentials, HuaweiCphConfig, StatusStrategy};
use crate::signer::Signer;
use crate::wire::{self, BatchAnswer, Job, JobList, Phone, PhoneList, PhoneProperty, PhonesBody};
use crate::VENDOR;

/// Phones per list page: the API's maximum.
pub const LIST_PAGE_SIZE: usize = 200;
/// Jobs per list-jobs page: the API's maximum.
pub const JOBS_PAGE_SIZE: usize = 100;
/// Request ids per list-jobs call: the API's maximum.
pub const REQUEST_IDS_PER_CALL: usize = 20;

/// Huawei Cloud CPH behind the vendor-neutral [`CloudPhoneProvider`] interface.
///
/// Reset, stop, start and restart are asynchronous on CPH: accepted phones come back
/// [`Outcome::Pending`] with their [`JobRef`] (job id and request id), and
/// [`CloudPhoneProvider::wait`] follows them through the list-jobs API (up to 20 request ids per
/// call), then confirms the phone state.
pub struct HuaweiCphProvider {
    client: Client,
    batch_size: usize,
    concurrency: usize,
    strategy: StatusStrategy,
    capabilities: Capabilities,
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

/// Builds a [`HuaweiCphProvider`] with an injected clock or HTTP client.
#[derive(Debug)]
pub struct HuaweiCphProviderBuilder {
    config: HuaweiCphConfig,
    clock: Option<Arc<dyn Clock>>,
    http: Option<reqwest::Client>,
}

impl HuaweiCphProviderBuilder {
    /// Uses `clock` for `X-Sdk-Date` and IAM token expiry.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Uses `client` for HTTP (its own timeouts then apply instead of the configured ones).
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// Validates the configuration and builds the provider.
    pub fn build(self) -> Result<HuaweiCphProvider> {
        let c = self.config;
        let v = c.validate()?;
        let http = match self.http {
            Some(h) => h,
            None => reqwest::Client::builder()
                .timeout(Duration::from_secs(c.timeout_secs))
                .connect_timeout(Duration::from_secs(c.connect_timeout_secs))
                .build()
                .map_err(|e| config_err(format!("cannot build the HTTP client: {e}")))?,
        };
        let clock = self.clock.unwrap_or_else(|| Arc::new(SystemClock));
        let auth = match v.credentials {
            Credentials::Token(t) => Auth::Token(t),
            Credentials::AkSk {
                access_key,
                secret_key,
                security_token,
            } => {
                let mut s = Signer::new(access_key, secret_key);
                if let Some(t) = security_token {
                    s = s.with_security_token(t);
                }
                Auth::AkSk(s)
            }
            Credentials::Password {
                username,
                password,
                domain,
                iam_endpoint,
            } => {
                let mut url = iam_endpoint;
                let path = format!("{}/v3/auth/tokens", url.path().trim_end_matches('/'));
                url.set_path(&path);
                Auth::Iam(Box::new(IamLogin {
                    username,
                    password,
                    domain,
                    url,
                    margin: Duration::from_secs(c.token_refresh_margin_secs),
                    cache: tokio::sync::Mutex::new(None),
                    rejected: std::sync::OnceLock::new(),
                }))
            }
        };
        let budgets = if c.rate_limit_per_second > 0 {
            vec![RateBudget::per_second(c.rate_limit_per_second)]
        } else {
            Vec::new()
        };
        let retry = RetryPolicy::default()
            .max_retries(c.max_retries)
            .delays(v.retry_min, v.retry_max);
        let engine = BatchEngine::new(
            VENDOR,
            EngineConfig::default()
                .concurrency(c.concurrency)
                .retry(retry)
                .rate_limits(budgets.clone(), RateScope::Endpoint),
        );
        let mut capabilities = Capabilities::default();
        capabilities.operations = [
            Operation::Status,
            Operation::Stop,
            Operation::Start,
            Operation::Restart,
            Operation::Reset,
            Operation::List,
            Operation::Wait,
            Operation::Jobs,
        ]
        .into_iter()
        .collect();
        for op in [
            Operation::Stop,
            Operation::Start,
            Operation::Restart,
            Operation::Reset,
        ] {
            capabilities.batch_sizes.insert(op, c.batch_size);
        }
        capabilities.batch_sizes.insert(Operation::Status, 1);
        capabilities
            .batch_sizes
            .insert(Operation::List, LIST_PAGE_SIZE);
        capabilities.rate_limits = budgets;
        capabilities.jobs = true;
        Ok(HuaweiCphProvider {
            client: Client {
                http,
                engine,
                endpoint: v.endpoint,
                project_id: c.project_id.trim().to_owned(),
                auth,
                clock,
            },
            batch_size: c.batch_size,
            concurrency: c.concurrency,
            strategy: c.status_strategy,
            capabilities,
        })
    }
}

fn reject_extras(op: Operation, extras: &Extras) -> Result<()> {
    if extras.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = extras.keys().map(|k| format!("`{k}`")).collect();
    Err(Error::new(
        ErrorKind::InvalidArgument,
        format!(
            "unknown {op} option(s) for {VENDOR}: {} (none are supported)",
            names.join(", ")
        ),
    )
    .with_vendor(VENDOR))
}

fn not_listed(id: &PhoneId) -> PhoneOutcome {
    PhoneOutcome::failed(
        id.clone(),
        Error::new(
            ErrorKind::NotFound,
            format!("phone `{id}` is not in the project's phone list"),
        )
        .with_vendor(VENDOR),
    )
}

fn phone_outcome(id: PhoneId, phone: &Phone) -> PhoneOutcome {
    let mut o = PhoneOutcome::done(id).with_state(phone.state());
    if let Some(n) = phone.phone_name.as_deref().filter(|n| !n.is_empty()) {
        o = o.with_name(n);
    }
    o
}

/// The outcomes of a decoded batch answer, or the request-level error it carries.
pub(crate) fn batch_answer(
    value: BatchAnswer,
    header_request_id: Option<String>,
) -> Result<Vec<PhoneOutcome>> {
    if let Some(code) = value.error_code.as_deref().filter(|c| !c.is_empty()) {
        if value.jobs.as_ref().is_none_or(Vec::is_empty) {
            // A request-level error wrapped in a 200: fail the chunk, not each phone as
            // "missing".
            let msg = value.error_msg.as_deref().unwrap_or(code);
            return Err(wire::code_error(code, msg, None));
        }
    }
    Ok(batch_outcomes(value, header_request_id))
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
    PhonePage {
        next: more.then(|| end.to_string()),
        total: page.count,
        phones,
    }
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

/// The outcomes a batch answer gives: pending with a job, or the per-phone failure.
fn batch_outcomes(answer: BatchAnswer, header_request_id: Option<String>) -> Vec<PhoneOutcome> {
    let request_id = answer.request_id.or(header_request_id);
    let mut out = Vec::new();
    for job in answer.jobs.unwrap_or_default() {
        let Some(phone) = job.phone_id.filter(|p| !p.is_empty()) else {
            continue;
        };
        let phone = PhoneId::new(phone);
        let job_ref = job
            .job_id
            .filter(|j| !j.is_empty())
            .map(|j| JobRef::new(j, request_id.clone()));
        let outcome = match (job.error_code.filter(|c| !c.is_empty()), job_ref) {
            (Some(code), job_ref) => {
                let msg = job.error_msg.unwrap_or_else(|| code.clone());
                let mut o = PhoneOutcome::failed(phone, wire::code_error(&code, &msg, None));
                if let Some(j) = job_ref {
                    o = o.with_job(j);
                }
                o
            }
            (None, Some(j)) => PhoneOutcome::pending(phone).with_job(j),
            // Neither a job nor an error: leave it to the completeness check.
            (None, None) => continue,
        };
        out.push(outcome);
    }
    out
}

impl HuaweiCphProvider {
    /// Validates `config` and builds a provider with the system clock and a fresh HTTP client.
    pub fn new(config: HuaweiCphConfig) -> Result<Self> {
        Self::builder(config).build()
    }

    /// A builder, to inject a clock or an HTTP client.
    pub fn builder(config: HuaweiCphConfig) -> HuaweiCphProviderBuilder {
        HuaweiCphProviderBuilder {
            config,
            clock: None,
            http: None,
        }
    }

    fn engine(&self) -> &BatchEngine {
        &self.client.engine
    }

    /// Sends a batch operation in chunks; `body` builds one chunk's request body.
    async fn batch<F>(
        &self,
        operation: Operation,
        action: &'static str,
        phones: &[PhoneId],
        body: F,
    ) -> Result<BatchReport>
    where
        F: Fn(&[PhoneId]) -> Vec<u8>,
    {
        let url = self.client.url(&["phones", action], &[])?;
        let (url, body) = (&url, &body);
        self.engine()
            .run_chunks(operation, phones, self.batch_size, |chunk| async move {
                let bytes = body(&chunk);
                let answer = self
                    .client
                    .send::<BatchAnswer>(
                        action,
                        Idempotency::StateChanging,
                        Method::POST,
                        url,
                        Some(bytes),
                    )
                    .await?;
                batch_answer(answer.value, answer.request_id)
            })
            .await
    }

    fn phones_body(
        image: Option<&str>,
        chunk: &[PhoneId],
        options: Option<&ResetOptions>,
    ) -> Vec<u8> {
        let phones = chunk
            .iter()
            .map(|p| {
                let props = options.map(|o| o.properties_for(p)).unwrap_or_default();
                PhoneProperty {
                    phone_id: p.as_str(),
                    property: (!props.is_empty())
                        .then(|| serde_json::to_string(&props).expect("string maps serialize")),
                }
            })
            .collect();
        serde_json::to_vec(&PhonesBody {
            image_id: image,
            phones,
        })
        .expect("plain structs serialize")
    }

    async fn detail(&self, id: PhoneId) -> Result<PhoneOutcome> {
        let url = self.client.url(&["phones", id.as_str()], &[])?;
        let answer = self
            .client
            .send::<Phone>(
                "phone-detail",
                Idempotency::ReadOnly,
                Method::GET,
                &url,
                None,
            )
            .await?;
        detail_outcome(id, &answer.value)
    }

    async fn list_raw(&self, offset: u64, limit: usize) -> Result<PhoneList> {
        let url = self.client.url(
            &["phones"],
            &[("offset", offset.to_string()), ("limit", limit.to_string())],
        )?;
        Ok(self
            .client
            .send::<PhoneList>(
                "list-phones",
                Idempotency::ReadOnly,
                Method::GET,
                &url,
                None,
            )
            .await?
            .value)
    }

    /// Status of `chunk` from list pages (all of them when `details_if_cheaper` is false),
    /// or from the first page plus detail calls when those are fewer.
    async fn status_from_listing(
        &self,
        chunk: Vec<PhoneId>,
        details_if_cheaper: bool,
    ) -> Result<Vec<PhoneOutcome>> {
        // Outcomes are made as pages arrive: a 100,000-phone account must not be held as
        // full phone records.
        let mut seen: HashMap<PhoneId, PhoneOutcome> = HashMap::new();
        let wanted: HashMap<&str, &PhoneId> = chunk.iter().map(|id| (id.as_str(), id)).collect();
        let keep = |seen: &mut HashMap<PhoneId, PhoneOutcome>, phones: Option<Vec<Phone>>| {
            for p in phones.unwrap_or_default() {
                let Some(&id) = p.phone_id.as_deref().and_then(|i| wanted.get(i)) else {
                    continue;
                };
                seen.entry(id.clone())
                    .or_insert_with(|| phone_outcome(id.clone(), &p));
            }
        };
        // Listing these ids takes at least this many pages: ask for them together rather than
        // waiting for the first page's `count`.
        let guess = chunk.len().div_ceil(LIST_PAGE_SIZE).max(1);
        let head: Vec<PhoneList> = futures::stream::iter(0..guess)
            .map(|i| self.list_raw((i * LIST_PAGE_SIZE) as u64, LIST_PAGE_SIZE))
            .buffered(self.concurrency)
            .try_collect()
            .await?;
        let count = head.first().and_then(|p| p.count);
        // Records covered by the leading full pages; a short page is the end of the data.
        let mut first_len = 0usize;
        let mut short = false;
        for page in head {
            let n = page.phones.as_ref().map_or(0, Vec::len);
            if !short {
                first_len += n;
                short = n < LIST_PAGE_SIZE;
            }
            keep(&mut seen, page.phones);
        }
        let remaining: Vec<PhoneId> = chunk
            .iter()
            .filter(|id| !seen.contains_key(*id))
            .cloned()
            .collect();
        let complete = short || count.is_some_and(|c| c <= first_len as u64);
        let mut outcomes: Vec<PhoneOutcome> = Vec::with_capacity(chunk.len());
        if !remaining.is_empty() && !complete {
            let pages_left = count.map(|c| {
                (c.saturating_sub(first_len as u64)).div_ceil(LIST_PAGE_SIZE as u64) as usize
            });
            let use_details = details_if_cheaper && pages_left.is_none_or(|p| p >= remaining.len());
            if use_details {
                let report = self
                    .engine()
                    .run_each(Operation::Status, &remaining, |id| self.detail(id))
                    .await?;
                outcomes.extend(report.outcomes);
            } else {
                match pages_left {
                    Some(n) => {
                        // The count is known: fetch the remaining pages concurrently, but stop
                        // once every wanted phone was seen or a short page marks the real end
                        // (a wrong or hostile `count` must not cost millions of calls).
                        let end = AtomicU64::new(u64::MAX);
                        let offsets = (0..n)
                            .map(|i| (first_len as u64).saturating_add((i * LIST_PAGE_SIZE) as u64))
                            .take_while(|o| *o < end.load(Ordering::SeqCst));
                        let mut pages = futures::stream::iter(offsets)
                            .map(|o| async move { (o, self.list_raw(o, LIST_PAGE_SIZE).await) })
                            .buffer_unordered(self.concurrency);
                        while let Some((offset, page)) = pages.next().await {
                            let page = page?;
                            if page.phones.as_ref().map_or(0, Vec::len) < LIST_PAGE_SIZE {
                                end.fetch_min(offset, Ordering::SeqCst);
                            }
                            keep(&mut seen, page.phones);
                            if seen.len() == wanted.len() {
                                break;
                            }
                        }
                    }
                    None => {
                        let mut offset = first_len as u64;
                        loop {
                            let page = self.list_raw(offset, LIST_PAGE_SIZE).await?;
                            let n = page.phones.as_ref().map_or(0, Vec::len);
                            keep(&mut seen, page.phones);
                            if n < LIST_PAGE_SIZE || seen.len() == wanted.len() {
                                break;
                            }
                            offset += n as u64;
                        }
                    }
                }
            }
        }
        let answered: HashSet<PhoneId> = outcomes.iter().map(|o| o.phone.clone()).collect();
        for id in &chunk {
            if answered.contains(id) {
                continue;
            }
            outcomes.push(seen.remove(id).unwrap_or_else(|| not_listed(id)));
        }
        Ok(outcomes)
    }

    /// Jobs of the given request ids, fetched with list-jobs: up to 20 request ids per call,
    /// 100 jobs per page. Every page that `totals` (the jobs each request created) calls for is
    /// fetched at once; pages past those are followed one by one, and only while wanted jobs
    /// are still missing.
    async fn jobs_by_request(
        &self,
        groups: &HashMap<String, HashSet<String>>,
        totals: &HashMap<String, usize>,
    ) -> Result<HashMap<String, (String, Job)>> {
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
        let mut pages = futures::stream::iter(first_pass)
            .map(|(c, offset)| async move { (c, offset, self.jobs_page(&chunks[c], offset).await) })
            .buffer_unordered(self.concurrency);
        let mut found: HashMap<String, (String, Job)> = HashMap::new();
        // Per chunk: the end of the last full page, where more jobs may follow.
        let mut full_to: HashMap<usize, usize> = HashMap::new();
        while let Some((c, offset, page)) = pages.next().await {
            let (n, _) = absorb_jobs(page?, groups, &chunks[c], &mut found);
            if n >= JOBS_PAGE_SIZE {
                let end = full_to.entry(c).or_default();
                *end = (*end).max(offset + n);
            }
        }
        drop(pages);
        for (c, rids) in chunks.iter().enumerate() {
            let all_seen = |found: &HashMap<String, (String, Job)>| {
                rids.iter()
                    .flat_map(|r| groups[r].iter())
                    .all(|w| found.contains_key(w))
            };
            let Some(&end) = full_to.get(&c) else {
                continue;
            };
            if end < expected_pages(rids) * JOBS_PAGE_SIZE || all_seen(&found) {
                continue;
            }
            let mut offset = end;
            loop {
                let (n, new) = absorb_jobs(
                    self.jobs_page(rids, offset).await?,
                    groups,
                    rids,
                    &mut found,
                );
                // A page that brings nothing new means the vendor ignored the offset.
                if n < JOBS_PAGE_SIZE || new == 0 || all_seen(&found) {
                    break;
                }
                offset += n;
            }
        }
        Ok(found)
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
        Ok(self
            .client
            .send::<Job>("show-job", Idempotency::ReadOnly, Method::GET, &url, None)
            .await?
            .value)
    }
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

#[async_trait]
impl CloudPhoneProvider for HuaweiCphProvider {
    fn vendor(&self) -> &'static str {
        VENDOR
    }

    fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    async fn status(&self, phones: &[PhoneId]) -> Result<BatchReport> {
        let valid = dedupe(phones.iter().cloned())
            .into_iter()
            .filter(|p| p.invalid_reason().is_none())
            .count();
        let strategy = match self.strategy {
            StatusStrategy::Auto if valid <= 1 => StatusStrategy::Detail,
            s => s,
        };
        match strategy {
            StatusStrategy::Detail => {
                self.engine()
                    .run_each(Operation::Status, phones, |id| self.detail(id))
                    .await
            }
            s => {
                let details_if_cheaper = s == StatusStrategy::Auto;
                self.engine()
                    .run_chunks(Operation::Status, phones, usize::MAX, |chunk| {
                        self.status_from_listing(chunk, details_if_cheaper)
                    })
                    .await
            }
        }
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

    /// CPH has no start call: `batch-restart` powers a stopped phone on.
    async fn start(&self, phones: &[PhoneId], options: &StartOptions) -> Result<BatchReport> {
        reject_extras(Operation::Start, &options.extras)?;
        self.batch(Operation::Start, "batch-restart", phones, |chunk| {
            Self::phones_body(None, chunk, None)
        })
        .await
    }

    async fn restart(&self, phones: &[PhoneId]) -> Result<BatchReport> {
        self.batch(Operation::Restart, "batch-restart", phones, |chunk| {
            Self::phones_body(None, chunk, None)
        })
        .await
    }

    async fn reset(&self, phones: &[PhoneId], options: &ResetOptions) -> Result<BatchReport> {
        reject_extras(Operation::Reset, &options.extras)?;
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

    async fn list_page(&self, request: &ListRequest) -> Result<PhonePage> {
        let limit = request
            .page_size
            .unwrap_or(LIST_PAGE_SIZE)
            .clamp(1, LIST_PAGE_SIZE);
        let offset = match request.cursor.as_deref() {
            None => 0,
            Some(c) => c.parse::<u64>().map_err(|_| {
                Error::new(
                    ErrorKind::InvalidArgument,
                    format!("`{c}` is not a {VENDOR} list cursor (a record offset)"),
                )
                .with_vendor(VENDOR)
            })?,
        };
        let page = self.list_raw(offset, limit).await?;
        Ok(list_page_of(page, offset, limit))
    }

    async fn jobs(&self, jobs: &[JobRef]) -> Result<Vec<JobInfo>> {
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
        let found = if groups.is_empty() {
            HashMap::new()
        } else {
            self.jobs_by_request(&groups, &HashMap::new()).await?
        };
        // Jobs without a request id, or not listed under it, are asked for one by one.
        let missing: Vec<String> = unique
            .iter()
            .filter(|j| !found.contains_key(&j.job_id))
            .map(|j| j.job_id.clone())
            .collect();
        let mut shown: HashMap<String, Result<Job>> = HashMap::new();
        let mut lookups = futures::stream::iter(missing)
            .map(|id| async move {
                let res = self.show_job(&id).await;
                (id, res)
            })
            .buffer_unordered(self.concurrency);
        while let Some((id, res)) = lookups.next().await {
            if let Err(e) = &res {
                if e.kind().is_auth() {
                    return Err(e.clone());
                }
            }
            shown.insert(id, res);
        }
        Ok(unique
            .into_iter()
            .map(|j| match found.get(&j.job_id) {
                Some((_, job)) => job_info(j, job),
                None => match &shown[&j.job_id] {
                    Ok(job) => job_info(j, job),
                    Err(e) => JobInfo::new(j.clone(), None, JobState::Failed, String::new())
                        .with_error(e.clone()),
                },
            })
            .collect())
    }

    async fn wait(&self, report: &BatchReport, options: &WaitOptions) -> Result<BatchReport> {
        let target = options.resolve_target(report.operation)?;
        let deadline = tokio::time::Instant::now() + options.timeout;
        let mut outcomes = report.outcomes.clone();
        // Phones whose job is followed through list-jobs; the others are polled by status.
        let mut by_job: BTreeSet<usize> = BTreeSet::new();
        let mut by_status: BTreeSet<usize> = BTreeSet::new();
        for (i, o) in outcomes.iter().enumerate() {
            if !needs_watch(o, target) {
                continue;
            }
            let has_request = o
                .job
                .as_ref()
                .is_some_and(|j| j.request_id.as_ref().is_some_and(|r| !r.is_empty()));
            if o.is_pending() && has_request {
                by_job.insert(i);
            } else {
                by_status.insert(i);
            }
        }
        // How many jobs each request created: how many list-jobs pages to ask for at once.
        let mut totals: HashMap<String, usize> = HashMap::new();
        for j in outcomes.iter().filter_map(|o| o.job.as_ref()) {
            if let Some(r) = &j.request_id {
                *totals.entry(r.clone()).or_default() += 1;
            }
        }
        let mut rounds = 0u32;
        while !by_job.is_empty() || !by_status.is_empty() {
            rounds += 1;
            if !by_job.is_empty() {
                let mut groups: HashMap<String, HashSet<String>> = HashMap::new();
                for &i in &by_job {
                    let j = outcomes[i].job.as_ref().expect("watched by job");
                    groups
                        .entry(j.request_id.clone().unwrap_or_default())
                        .or_default()
                        .insert(j.job_id.clone());
                }
                match self.jobs_by_request(&groups, &totals).await {
                    Ok(found) => {
                        let watched: Vec<usize> = by_job.iter().copied().collect();
                        for i in watched {
                            let job_id = &outcomes[i].job.as_ref().expect("watched").job_id;
                            let Some((_, job)) = found.get(job_id) else {
                                continue;
                            };
                            match job.state() {
                                JobState::Running => {}
                                JobState::Succeeded => {
                                    by_job.remove(&i);
                                    by_status.insert(i);
                                }
                                _ => {
                                    by_job.remove(&i);
                                    outcomes[i].outcome = Outcome::Failed(job.failure());
                                }
                            }
                        }
                    }
                    Err(e) if e.kind().is_auth() => return Err(e),
                    Err(e) => {
                        tracing::warn!(vendor = VENDOR, error = %e, "listing jobs failed; retrying next round");
                    }
                }
            }
            if !by_status.is_empty() {
                let ids: Vec<PhoneId> = by_status
                    .iter()
                    .map(|&i| outcomes[i].phone.clone())
                    .collect();
                let seen = self.status(&ids).await?;
                let mut seen = align(&ids, seen.outcomes).into_iter();
                // `by_status` iterates in the order `ids` was built from.
                by_status.retain(|&i| match seen.next().flatten() {
                    Some(s) => !observe(&mut outcomes[i], s, target, report.operation),
                    None => true,
                });
            }
            let now = tokio::time::Instant::now();
            if (by_job.is_empty() && by_status.is_empty()) || now >= deadline {
                break;
            }
            tokio::time::sleep(options.poll_interval.min(deadline - now)).await;
        }
        tracing::debug!(
            vendor = VENDOR,
            rounds,
            unfinished = by_job.len() + by_status.len(),
            "wait finished"
        );
        Ok(BatchReport::new(report.operation, outcomes))
    }
}
