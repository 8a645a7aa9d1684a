//! [`HuaweiCphProvider`]: the [`CloudPhoneProvider`] for Huawei Cloud CPH.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::fmt;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cloudphone_core::wait::{align, deadline_after, needs_watch, observe};
use cloudphone_core::{
    async_trait, dedupe, BatchEngine, BatchReport, Capabilities, CloudPhoneProvider, Error,
    ErrorKind, Extras, Idempotency, JobInfo, JobRef, JobState, ListRequest, Operation, Outcome,
    PhoneId, PhoneOutcome, PhonePage, PhoneState, PhoneSummary, RateBudget, RateScope,
    ResetOptions, Result, StartOptions, WaitOptions,
};
use futures::{Stream, StreamExt};
use reqwest::Method;
use secrecy::ExposeSecret;

use crate::client::{Auth, Client, IamLogin};
use crate::clock::{Clock, SystemClock};
use crate::config::{Credentials, HuaweiCphConfig, StatusStrategy};
use crate::signer::Signer;
use crate::wire::{self, BatchAnswer, Job, JobList, Phone, PhoneList, PhoneProperty, PhonesBody};
use crate::VENDOR;

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
/// [`Outcome::Pending`] with their [`JobRef`] (job id and request id), and
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
    ///
    /// Build it from [`cloudphone_core::http::HttpOptions::client_builder`]: that one never follows a redirect (which
    /// would carry the credentials to another host and re-send a state change). The body cap
    /// (`max_body_bytes`) applies whatever the client.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// Validates the configuration and builds the provider.
    pub fn build(self) -> Result<HuaweiCphProvider> {
        let c = self.config;
        let v = c.validate()?;
        let options = c.client.http_options();
        let http = c.client.http_client(VENDOR, self.http)?;
        let clock = self.clock.unwrap_or_else(|| Arc::new(SystemClock));
        let budgets = if c.rate_limit_per_second > 0 {
            vec![RateBudget::per_second(c.rate_limit_per_second)]
        } else {
            Vec::new()
        };
        let engine = BatchEngine::new(
            VENDOR,
            c.client
                .engine_config()
                .rate_limits(budgets.clone(), RateScope::Endpoint),
        );
        // Every configured secret is scrubbed from whatever the vendor echoes back.
        let scrubber = engine.scrubber();
        let auth = match v.credentials {
            Credentials::Token(t) => {
                scrubber.add(t.expose_secret());
                Auth::Token(t)
            }
            Credentials::AkSk {
                access_key,
                secret_key,
                security_token,
            } => {
                scrubber.add(secret_key.expose_secret());
                let mut s = Signer::new(access_key, secret_key);
                if let Some(t) = security_token {
                    scrubber.add(t.expose_secret());
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
                scrubber.add(password.expose_secret());
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
                    accepted: AtomicU64::new(0),
                }))
            }
        };
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
                max_body: options.max_body_bytes,
                proven: AtomicBool::new(false),
            },
            batch_size: c.batch_size,
            concurrency: c.concurrency,
            strategy: c.status_strategy,
            capabilities,
            list_memo: Mutex::new(VecDeque::new()),
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

fn phone_outcome(id: PhoneId, phone: &Phone) -> PhoneOutcome {
    let mut o = PhoneOutcome::done(id).with_state(phone.state());
    // Kept verbatim, escape sequences and all: whoever prints it escapes it.
    if let Some(n) = phone.phone_name.as_deref().filter(|n| !n.is_empty()) {
        o = o.with_name(n);
    }
    o
}

/// The length of a list page and a hash of its phone ids, to recognise the same page again.
fn fingerprint(page: &PhoneList) -> Fingerprint {
    let phones = page.phones.as_deref().unwrap_or_default();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for p in phones {
        p.phone_id.hash(&mut h);
    }
    (phones.len(), h.finish())
}

fn not_sent(refusal: &Error) -> Error {
    Error::new(
        ErrorKind::Unauthenticated,
        format!(
            "not sent: the vendor refused the credentials earlier ({})",
            refusal.message()
        ),
    )
    .with_vendor(VENDOR)
    .with_vendor_code(refusal.vendor_code().unwrap_or_default().to_owned())
    .with_not_applied(true)
}

/// A phone `start` left alone because its state could not be read first.
fn not_started(e: &Error) -> Error {
    if e.kind() == ErrorKind::NotFound || e.kind().is_auth() {
        return e.clone().with_not_applied(true);
    }
    let mut n = Error::new(
        e.kind(),
        format!(
            "not started: its state could not be read first ({})",
            e.message()
        ),
    )
    .with_vendor(VENDOR)
    .with_temporary(e.is_temporary())
    .with_not_applied(true);
    if let Some(c) = e.vendor_code() {
        n = n.with_vendor_code(c.to_owned());
    }
    if let Some(r) = e.request_id() {
        n = n.with_request_id(r.to_owned());
    }
    n
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
            return Err(match &request_id {
                Some(r) => e.with_request_id(r.clone()),
                None => e,
            });
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
            let e = wire::code_error(&code, &msg, None);
            match &request_id {
                Some(r) => e.with_request_id(r.clone()),
                None => e,
            }
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
            tracing::warn!(vendor = VENDOR, phone = %phone, job = %extra.job_id, "the vendor reported a second job for one phone; it is kept as a stray job");
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
    PhonePage {
        next: (more && end > offset).then(|| end.to_string()),
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

/// Jobs found by list-jobs, and the error that cut the search short, if any (a refusal stops
/// it at once).
type JobSearch = (HashMap<String, (String, Job)>, Option<Error>);

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
        let mut items = items.into_iter();
        let probe = if self.client.proven() {
            None
        } else {
            items.next()
        };
        let g = f.clone();
        futures::stream::iter(probe).then(g).chain(
            futures::stream::iter(items)
                .map(f)
                .buffer_unordered(self.concurrency),
        )
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
                batch_answer(answer.value, answer.request_id, &chunk)
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
        detail_outcome(id, &answer.value).map_err(|e| self.scrub(e))
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
    ///
    /// Paging stops at a short page, at the total the first page reported (a later page may
    /// lower it, never raise it), at a page seen before (a vendor ignoring the offset), and
    /// after [`MAX_LISTING_PAGES`]. A phone the listing did not show is read with its detail
    /// call before it is called not found: offset pages can skip a phone while the project
    /// changes.
    async fn status_from_listing(
        &self,
        chunk: Vec<PhoneId>,
        details_if_cheaper: bool,
    ) -> Result<Vec<PhoneOutcome>> {
        // Outcomes are made as pages arrive: a 100,000-phone account must not be held as
        // full phone records.
        let mut seen: HashMap<PhoneId, PhoneOutcome> = HashMap::new();
        let mut pages_seen: HashSet<Fingerprint> = HashSet::new();
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
        let guess = chunk
            .len()
            .div_ceil(LIST_PAGE_SIZE)
            .clamp(1, MAX_LISTING_PAGES);
        let mut head: Vec<Option<PhoneList>> = (0..guess).map(|_| None).collect();
        {
            let mut pages =
                std::pin::pin!(self.fan_out((0..guess).collect(), |i: usize| async move {
                    (
                        i,
                        self.list_raw((i * LIST_PAGE_SIZE) as u64, LIST_PAGE_SIZE)
                            .await,
                    )
                }));
            while let Some((i, page)) = pages.next().await {
                head[i] = Some(page?);
            }
        }
        let count = head.first().and_then(|p| p.as_ref()?.count);
        // Records covered by the leading full pages; a short (or repeated) page is the end of
        // the data.
        let mut covered = 0u64;
        let mut end_seen = false;
        for page in head.into_iter().flatten() {
            let fp = fingerprint(&page);
            if !end_seen {
                if fp.0 > 0 && !pages_seen.insert(fp) {
                    end_seen = true;
                } else {
                    covered += fp.0 as u64;
                    end_seen = fp.0 < LIST_PAGE_SIZE;
                }
            }
            keep(&mut seen, page.phones);
        }
        let remaining = chunk.iter().filter(|id| !seen.contains_key(*id)).count();
        let complete = end_seen || count.is_some_and(|c| c <= covered);
        if remaining > 0 && !complete {
            let pages_left = count.map(|c| {
                usize::try_from(c.saturating_sub(covered).div_ceil(LIST_PAGE_SIZE as u64))
                    .unwrap_or(usize::MAX)
            });
            let use_details = details_if_cheaper && pages_left.is_none_or(|p| p >= remaining);
            if !use_details {
                let budget = pages_left
                    .unwrap_or(usize::MAX)
                    .min(MAX_LISTING_PAGES - guess.min(MAX_LISTING_PAGES));
                // With a known total, the pages are fetched concurrently; without one, one by
                // one (the end is only known from a short page).
                let concurrency = if count.is_some() { self.concurrency } else { 1 };
                // The first offset known to lie past the end of the data.
                let end = AtomicU64::new(count.unwrap_or(u64::MAX));
                let offsets = (0..budget)
                    .map(|i| {
                        covered.saturating_add((i as u64).saturating_mul(LIST_PAGE_SIZE as u64))
                    })
                    .take_while(|o| *o < end.load(Ordering::SeqCst));
                let mut pages = futures::stream::iter(offsets)
                    .map(|o| async move { (o, self.list_raw(o, LIST_PAGE_SIZE).await) })
                    .buffer_unordered(concurrency);
                while let Some((offset, page)) = pages.next().await {
                    let page = page?;
                    let fp = fingerprint(&page);
                    if let Some(total) = page.count {
                        end.fetch_min(total, Ordering::SeqCst);
                    }
                    if fp.0 > 0 && !pages_seen.insert(fp) {
                        // The same page again: the vendor ignores the offset.
                        end.fetch_min(offset, Ordering::SeqCst);
                        continue;
                    }
                    if fp.0 < LIST_PAGE_SIZE {
                        end.fetch_min(offset.saturating_add(fp.0 as u64), Ordering::SeqCst);
                    }
                    keep(&mut seen, page.phones);
                    if seen.len() == wanted.len() {
                        break;
                    }
                }
            }
        }
        // Whatever the listing did not show is read on its own.
        let unseen: Vec<PhoneId> = chunk
            .iter()
            .filter(|id| !seen.contains_key(*id))
            .cloned()
            .collect();
        let mut refusal: Option<Error> = None;
        if !unseen.is_empty() {
            let mut details = std::pin::pin!(self.fan_out(unseen, |id: PhoneId| async move {
                (id.clone(), self.detail(id).await)
            }));
            while let Some((id, res)) = details.next().await {
                let outcome = match res {
                    Ok(o) => o,
                    Err(e) => {
                        if e.kind().is_auth() {
                            refusal = Some(e.clone());
                        }
                        PhoneOutcome::failed(id.clone(), e)
                    }
                };
                seen.insert(id, outcome);
                if refusal.is_some() {
                    break;
                }
            }
        }
        Ok(chunk
            .iter()
            .map(|id| {
                seen.remove(id).unwrap_or_else(|| {
                    let e = refusal.as_ref().map(not_sent).unwrap_or_else(|| {
                        Error::new(
                            ErrorKind::MissingFromResponse,
                            format!("phone `{id}` was neither listed nor read"),
                        )
                        .with_vendor(VENDOR)
                    });
                    PhoneOutcome::failed(id.clone(), e)
                })
            })
            .collect())
    }

    /// Jobs of the given request ids, fetched with list-jobs: up to 20 request ids per call,
    /// 100 jobs per page. Every page that `totals` (the jobs each request created) calls for is
    /// fetched at once; pages past those are followed one by one, only while wanted jobs are
    /// still missing, each page brings new jobs, and for at most
    /// [`MAX_FOLLOW_UP_JOB_PAGES`] pages. The first refusal stops everything.
    async fn jobs_by_request(
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

    fn remember_page(&self, memo: ListMemo) {
        let mut m = self.list_memo.lock().unwrap_or_else(|p| p.into_inner());
        m.retain(|x| x.next != memo.next);
        if m.len() >= LIST_MEMO {
            m.pop_front();
        }
        m.push_back(memo);
    }

    fn page_before(&self, offset: u64) -> Option<ListMemo> {
        let m = self.list_memo.lock().unwrap_or_else(|p| p.into_inner());
        m.iter().rev().find(|x| x.next == offset).copied()
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

    /// CPH has no start call: `batch-restart` powers a stopped phone on — and reboots a
    /// running one. So the phones' states are read first: phones already running are done
    /// without a call, and only the others are sent to `batch-restart`. A phone whose state
    /// cannot be read is not started (its outcome says why; nothing was sent for it).
    async fn start(&self, phones: &[PhoneId], options: &StartOptions) -> Result<BatchReport> {
        reject_extras(Operation::Start, &options.extras)?;
        let before = self.status(phones).await?;
        let mut to_start: Vec<PhoneId> = Vec::new();
        let mut settled: HashMap<PhoneId, PhoneOutcome> = HashMap::new();
        let order: Vec<PhoneId> = before.outcomes.iter().map(|o| o.phone.clone()).collect();
        for o in before.outcomes {
            match &o.outcome {
                Outcome::Done if o.phone_state() == Some(PhoneState::Running) => {
                    settled.insert(o.phone.clone(), o);
                }
                Outcome::Failed(e) | Outcome::Unknown(e) => {
                    let failed = PhoneOutcome::failed(o.phone.clone(), not_started(e));
                    settled.insert(o.phone.clone(), failed);
                }
                _ => to_start.push(o.phone.clone()),
            }
        }
        let started = if to_start.is_empty() {
            BatchReport::new(Operation::Start, Vec::new())
        } else {
            let sent = self
                .batch(Operation::Start, "batch-restart", &to_start, |chunk| {
                    Self::phones_body(None, chunk, None)
                })
                .await;
            match sent {
                Ok(r) => r,
                // Refused before any phone was accepted: still a report when some phones
                // were already running.
                Err(e) if settled.values().any(PhoneOutcome::is_done) => BatchReport::new(
                    Operation::Start,
                    to_start
                        .iter()
                        .map(|id| PhoneOutcome::failed(id.clone(), e.clone()))
                        .collect(),
                ),
                Err(e) => return Err(e),
            }
        };
        let stray = started.stray_jobs;
        let mut sent: HashMap<PhoneId, PhoneOutcome> = started
            .outcomes
            .into_iter()
            .map(|o| (o.phone.clone(), o))
            .collect();
        let outcomes = order
            .into_iter()
            .map(|id| {
                settled
                    .remove(&id)
                    .or_else(|| sent.remove(&id))
                    .unwrap_or_else(|| {
                        let e = Error::new(
                            ErrorKind::MissingFromResponse,
                            format!("no outcome was recorded for phone `{id}`"),
                        )
                        .with_vendor(VENDOR);
                        PhoneOutcome::failed(id, e)
                    })
            })
            .collect();
        let mut report = BatchReport::new(Operation::Start, outcomes);
        report.stray_jobs = stray;
        Ok(report)
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

    /// One page of the project's phones; the cursor is the record offset of the next page.
    ///
    /// The listing ends at the lowest total the vendor reported on the way (a total that grows
    /// page after page cannot keep it going), and a page identical to the one before it (a
    /// vendor ignoring the offset) is an error rather than a loop.
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
        let fp = fingerprint(&page);
        let before = (offset > 0).then(|| self.page_before(offset)).flatten();
        if let Some(b) = before {
            if fp.0 > 0 && b.fingerprint == fp {
                return Err(Error::new(
                    ErrorKind::InvalidResponse,
                    format!(
                        "the vendor answered offset {offset} with the same page as the offset before it; it ignores the offset, so the listing stops here"
                    ),
                )
                .with_vendor(VENDOR));
            }
        }
        let total = match (before.and_then(|b| b.total), page.count) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let mut out = list_page_of(page, offset, limit);
        if let (Some(next), Some(total)) = (out.next.as_deref(), total) {
            if next.parse::<u64>().is_ok_and(|n| n >= total) {
                out.next = None;
            }
        }
        if let Some(next) = out.next.as_deref().and_then(|n| n.parse::<u64>().ok()) {
            self.remember_page(ListMemo {
                next,
                fingerprint: fp,
                total,
            });
        }
        Ok(out)
    }

    /// Looks jobs up: those with a request id through list-jobs, the others (and any the
    /// listing did not show) one by one with show-job. Until the credentials are proven one
    /// request goes alone; the first refusal stops everything (nothing is sent after it), and
    /// the jobs not looked up carry it as their error. `Err` only when nothing was learned.
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

    /// Follows pending phones with jobs through list-jobs, then confirms their state; phones
    /// without a job (or with an unknown outcome) are polled by status. Every outcome is kept:
    /// a failure to look is attached as [`PhoneOutcome::wait_error`], and a refusal of the
    /// credentials ends the wait at once (nothing more is sent), the report still `Ok`.
    async fn wait(&self, report: &BatchReport, options: &WaitOptions) -> Result<BatchReport> {
        let target = options.resolve_target(report.operation)?;
        let deadline = deadline_after(options.timeout);
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
        // How many jobs each request created (stray ones too): how many list-jobs pages to
        // ask for at once.
        let mut totals: HashMap<String, usize> = HashMap::new();
        let all_jobs = outcomes
            .iter()
            .filter_map(|o| o.job.as_ref())
            .chain(report.stray_jobs.iter().map(|s| &s.job));
        for j in all_jobs {
            if let Some(r) = &j.request_id {
                *totals.entry(r.clone()).or_default() += 1;
            }
        }
        let mut rounds = 0u32;
        let mut refused: Option<Error> = None;
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
                let (found, error) = self.jobs_by_request(&groups, &totals).await;
                let watched: Vec<usize> = by_job.iter().copied().collect();
                for i in watched {
                    let job_id = &outcomes[i].job.as_ref().expect("watched").job_id;
                    let Some((_, job)) = found.get(job_id) else {
                        if let Some(e) = &error {
                            outcomes[i].wait_error = Some(e.clone());
                        }
                        continue;
                    };
                    outcomes[i].wait_error = None;
                    match job.state() {
                        JobState::Running => {}
                        JobState::Succeeded => {
                            by_job.remove(&i);
                            by_status.insert(i);
                        }
                        _ => {
                            by_job.remove(&i);
                            outcomes[i].outcome = Outcome::Failed(self.scrub(job.failure()));
                        }
                    }
                }
                match error {
                    Some(e) if e.kind().is_auth() => refused = Some(e),
                    Some(e) => {
                        let e = self.scrub(e);
                        tracing::warn!(vendor = VENDOR, error = %e, "listing jobs failed; retrying next round");
                    }
                    None => {}
                }
            }
            if refused.is_none() && !by_status.is_empty() {
                let ids: Vec<PhoneId> = by_status
                    .iter()
                    .map(|&i| outcomes[i].phone.clone())
                    .collect();
                match self.status(&ids).await {
                    Ok(seen) => {
                        let mut seen = align(&ids, seen.outcomes).into_iter();
                        // `by_status` iterates in the order `ids` was built from.
                        by_status.retain(|&i| match seen.next().flatten() {
                            Some(s) => !observe(&mut outcomes[i], s, target, report.operation),
                            None => true,
                        });
                    }
                    Err(e) => {
                        // The read failed as a whole: the outcomes stand, with the reason.
                        for &i in &by_status {
                            outcomes[i].wait_error = Some(e.clone());
                        }
                        if e.kind().is_auth() {
                            refused = Some(e);
                        } else if !e.is_temporary() {
                            // Asking again would fail the same way.
                            by_status.clear();
                        }
                    }
                }
            }
            // A refusal seen anywhere (a status read of one phone included) ends the wait.
            if let Some(e) = refused.clone().or_else(|| self.engine().refusal()) {
                for &i in by_job.iter().chain(by_status.iter()) {
                    outcomes[i].wait_error = Some(e.clone());
                }
                refused = Some(e);
                break;
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
            refused = refused.is_some(),
            "wait finished"
        );
        let mut done = BatchReport::new(report.operation, outcomes);
        done.stray_jobs = report.stray_jobs.clone();
        Ok(done)
    }
}
