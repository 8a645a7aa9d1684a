//! An in-memory provider for tests, demos and engine benchmarks (feature `fake`).
//!
//! It goes through the real [`BatchEngine`], so chunking, retries and rate limits behave as in
//! a vendor backend, and lets a test script failures: a phone that fails, a phone the "vendor"
//! leaves out of its answer, a chunk that fails as a whole, the next N requests failing.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use async_trait::async_trait;

use crate::{
    BatchEngine, BatchReport, Capabilities, CloudPhoneProvider, EngineConfig, Error, ErrorKind,
    Idempotency, JobInfo, JobRef, JobState, ListRequest, ObservedState, Operation, PhoneId,
    PhoneOutcome, PhonePage, PhoneState, PhoneSummary, ResetOptions, Result, StartOptions,
};

const VENDOR: &str = "fake";

#[derive(Debug)]
struct FakePhone {
    state: PhoneState,
    /// Where the phone is heading and how many more status reads it takes to get there.
    settling: Option<(PhoneState, u32)>,
}

#[derive(Debug, Default)]
struct FakeState {
    phones: HashMap<PhoneId, FakePhone>,
    order: Vec<PhoneId>,
    requests: u64,
    fail_next: Vec<Error>,
    phone_failures: HashMap<PhoneId, Error>,
    omitted: HashSet<PhoneId>,
    chunk_failures: HashMap<PhoneId, Error>,
    applied: HashMap<(Operation, PhoneId), u32>,
    jobs: HashMap<String, PhoneId>,
    next_job: u64,
}

/// Builds a [`FakeProvider`].
#[derive(Debug, Clone)]
pub struct FakeBuilder {
    phones: Vec<PhoneId>,
    initial: PhoneState,
    batch_size: usize,
    settle_polls: u32,
    engine: EngineConfig,
}

impl FakeBuilder {
    /// Seeds phones `fake-0` … `fake-{n-1}`.
    pub fn phones(mut self, n: usize) -> Self {
        self.phones = (0..n).map(|i| PhoneId::new(format!("fake-{i}"))).collect();
        self
    }

    /// Seeds the given phones.
    pub fn phone_ids(mut self, ids: impl IntoIterator<Item = PhoneId>) -> Self {
        self.phones = ids.into_iter().collect();
        self
    }

    /// The state every seeded phone starts in (default running).
    pub fn initial_state(mut self, state: PhoneState) -> Self {
        self.initial = state;
        self
    }

    /// Phones per "vendor" call (default 100).
    pub fn batch_size(mut self, n: usize) -> Self {
        self.batch_size = n.max(1);
        self
    }

    /// Status reads a state change takes to settle (default 1; 0 settles at once).
    pub fn settle_polls(mut self, n: u32) -> Self {
        self.settle_polls = n;
        self
    }

    /// Engine settings (concurrency, retries, rate limits).
    pub fn engine(mut self, config: EngineConfig) -> Self {
        self.engine = config;
        self
    }

    /// The provider.
    pub fn build(self) -> FakeProvider {
        let mut state = FakeState::default();
        for id in &self.phones {
            state.phones.insert(
                id.clone(),
                FakePhone {
                    state: self.initial,
                    settling: None,
                },
            );
        }
        state.order = self.phones;
        let ops = [
            Operation::Status,
            Operation::Stop,
            Operation::Start,
            Operation::Restart,
            Operation::Reset,
            Operation::List,
            Operation::Wait,
            Operation::Jobs,
        ];
        let capabilities = Capabilities {
            operations: ops.into_iter().collect(),
            batch_sizes: ops.into_iter().map(|o| (o, self.batch_size)).collect(),
            rate_limits: self.engine.rate_limits.clone(),
            jobs: true,
        };
        FakeProvider {
            engine: BatchEngine::new(VENDOR, self.engine),
            capabilities,
            batch_size: self.batch_size,
            settle_polls: self.settle_polls,
            state: Mutex::new(state),
        }
    }
}

/// An in-memory cloud phone provider. See the module docs.
#[derive(Debug)]
pub struct FakeProvider {
    engine: BatchEngine,
    capabilities: Capabilities,
    batch_size: usize,
    settle_polls: u32,
    state: Mutex<FakeState>,
}

impl FakeProvider {
    /// A builder with 0 phones, batches of 100, one status read to settle, no retries delay.
    pub fn builder() -> FakeBuilder {
        FakeBuilder {
            phones: Vec::new(),
            initial: PhoneState::Running,
            batch_size: 100,
            settle_polls: 1,
            engine: EngineConfig::default().retry(crate::RetryPolicy::default().delays(
                std::time::Duration::from_millis(1),
                std::time::Duration::from_millis(5),
            )),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FakeState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Requests the "vendor" received (retries included).
    pub fn requests(&self) -> u64 {
        self.lock().requests
    }

    /// How many times `op` was applied to `phone`.
    pub fn applied(&self, op: Operation, phone: &PhoneId) -> u32 {
        self.lock()
            .applied
            .get(&(op, phone.clone()))
            .copied()
            .unwrap_or(0)
    }

    /// The phone's current state.
    pub fn state_of(&self, phone: &PhoneId) -> Option<PhoneState> {
        self.lock().phones.get(phone).map(|p| p.state)
    }

    /// Forces a phone's state (and cancels any change in progress).
    pub fn set_state(&self, phone: &PhoneId, state: PhoneState) {
        let mut st = self.lock();
        if let Some(p) = st.phones.get_mut(phone) {
            p.state = state;
            p.settling = None;
        }
    }

    /// Every later operation on `phone` fails with `error` (per-phone failure).
    pub fn fail_phone(&self, phone: &PhoneId, error: Error) {
        self.lock().phone_failures.insert(phone.clone(), error);
    }

    /// The "vendor" leaves `phone` out of its answers.
    pub fn omit_phone(&self, phone: &PhoneId) {
        self.lock().omitted.insert(phone.clone());
    }

    /// Every request whose chunk contains `phone` fails as a whole with `error`.
    pub fn fail_chunk_with(&self, phone: &PhoneId, error: Error) {
        self.lock().chunk_failures.insert(phone.clone(), error);
    }

    /// The next requests fail with these errors, in order, before the fake acts.
    pub fn fail_next_requests(&self, errors: impl IntoIterator<Item = Error>) {
        self.lock().fail_next.extend(errors);
    }

    fn observed(state: PhoneState) -> ObservedState {
        ObservedState::new(state, state.as_str())
    }

    /// One simulated vendor request over `chunk`; `act` changes one known phone and returns its
    /// outcome.
    fn request(
        &self,
        chunk: &[PhoneId],
        mut act: impl FnMut(&mut FakeState, &PhoneId) -> PhoneOutcome,
    ) -> Result<Vec<PhoneOutcome>> {
        let mut st = self.lock();
        st.requests += 1;
        if !st.fail_next.is_empty() {
            return Err(st.fail_next.remove(0));
        }
        if let Some(e) = chunk.iter().find_map(|id| st.chunk_failures.get(id)) {
            return Err(e.clone());
        }
        let mut out = Vec::with_capacity(chunk.len());
        for id in chunk {
            if st.omitted.contains(id) {
                continue;
            }
            if let Some(e) = st.phone_failures.get(id) {
                out.push(PhoneOutcome::failed(id.clone(), e.clone()));
                continue;
            }
            if !st.phones.contains_key(id) {
                let e = Error::new(ErrorKind::NotFound, format!("no phone `{id}`"))
                    .with_vendor(VENDOR)
                    .with_vendor_code("not_found");
                out.push(PhoneOutcome::failed(id.clone(), e));
                continue;
            }
            out.push(act(&mut st, id));
        }
        Ok(out)
    }

    async fn change(
        &self,
        op: Operation,
        phones: &[PhoneId],
        during: PhoneState,
        target: PhoneState,
        with_job: bool,
    ) -> Result<BatchReport> {
        let settle = self.settle_polls;
        self.engine
            .run_chunks(op, phones, self.batch_size, |chunk| {
                self.engine
                    .call(op.as_str(), Idempotency::StateChanging, move || {
                        let chunk = chunk.clone();
                        async move {
                            self.request(&chunk, |st, id| {
                                *st.applied.entry((op, id.clone())).or_default() += 1;
                                let job = with_job.then(|| {
                                    st.next_job += 1;
                                    let job = format!("fake-job-{}", st.next_job);
                                    st.jobs.insert(job.clone(), id.clone());
                                    JobRef::new(
                                        job,
                                        Some(format!("fake-req-{}", st.next_job).into()),
                                    )
                                });
                                let p = st.phones.get_mut(id).expect("known phone");
                                let mut o = if settle == 0 {
                                    p.state = target;
                                    p.settling = None;
                                    PhoneOutcome::done(id.clone())
                                } else {
                                    p.state = during;
                                    p.settling = Some((target, settle));
                                    PhoneOutcome::pending(id.clone())
                                };
                                o = o.with_state(Self::observed(p.state));
                                match job {
                                    Some(j) => o.with_job(j),
                                    None => o,
                                }
                            })
                        }
                    })
            })
            .await
    }
}

#[async_trait]
impl CloudPhoneProvider for FakeProvider {
    fn origin(&self) -> Option<crate::Origin> {
        Some(self.engine.origin())
    }

    fn vendor(&self) -> &'static str {
        VENDOR
    }

    fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    async fn status(&self, phones: &[PhoneId]) -> Result<BatchReport> {
        self.engine
            .run_chunks(Operation::Status, phones, self.batch_size, |chunk| {
                self.engine.call("status", Idempotency::ReadOnly, move || {
                    let chunk = chunk.clone();
                    async move {
                        self.request(&chunk, |st, id| {
                            let p = st.phones.get_mut(id).expect("known phone");
                            if let Some((target, left)) = p.settling {
                                if left <= 1 {
                                    p.state = target;
                                    p.settling = None;
                                } else {
                                    p.settling = Some((target, left - 1));
                                }
                            }
                            PhoneOutcome::done(id.clone()).with_state(Self::observed(p.state))
                        })
                    }
                })
            })
            .await
    }

    async fn stop(&self, phones: &[PhoneId]) -> Result<BatchReport> {
        self.change(
            Operation::Stop,
            phones,
            PhoneState::Stopping,
            PhoneState::Stopped,
            false,
        )
        .await
    }

    async fn start(&self, phones: &[PhoneId], options: &StartOptions) -> Result<BatchReport> {
        if let Some(k) = options.extras.keys().next() {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("unknown start option `{k}` for {VENDOR}"),
            ));
        }
        self.change(
            Operation::Start,
            phones,
            PhoneState::Starting,
            PhoneState::Running,
            false,
        )
        .await
    }

    async fn restart(&self, phones: &[PhoneId]) -> Result<BatchReport> {
        self.change(
            Operation::Restart,
            phones,
            PhoneState::Restarting,
            PhoneState::Running,
            true,
        )
        .await
    }

    async fn reset(&self, phones: &[PhoneId], options: &ResetOptions) -> Result<BatchReport> {
        if let Some(k) = options.extras.keys().next() {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("unknown reset option `{k}` for {VENDOR}"),
            ));
        }
        self.change(
            Operation::Reset,
            phones,
            PhoneState::Resetting,
            PhoneState::Running,
            true,
        )
        .await
    }

    async fn list_page(&self, request: &ListRequest) -> Result<PhonePage> {
        let offset: usize = match &request.cursor {
            None => 0,
            Some(c) => c.parse().map_err(|_| {
                Error::new(ErrorKind::InvalidArgument, format!("bad list cursor `{c}`"))
            })?,
        };
        let size = request.page_size.unwrap_or(self.batch_size).max(1);
        let st = self.lock();
        let phones = st
            .order
            .iter()
            .skip(offset)
            .take(size)
            .map(|id| {
                let p = &st.phones[id];
                PhoneSummary::new(id.clone(), Some(id.to_string()), Self::observed(p.state))
            })
            .collect();
        let next = (offset + size < st.order.len()).then(|| (offset + size).to_string());
        Ok(PhonePage::new(phones, next, Some(st.order.len() as u64)))
    }

    async fn jobs(&self, jobs: &[JobRef]) -> Result<Vec<JobInfo>> {
        let st = self.lock();
        Ok(jobs
            .iter()
            .map(|j| match st.jobs.get(j.job_id()) {
                Some(id) => {
                    let running = st.phones.get(id).is_some_and(|p| p.settling.is_some());
                    let (state, raw) = if running {
                        (JobState::Running, "running")
                    } else {
                        (JobState::Succeeded, "succeeded")
                    };
                    JobInfo::new(j.clone(), Some(id.clone()), state, raw.into())
                }
                None => JobInfo::new(j.clone(), None, JobState::Failed, "unknown".into())
                    .with_error(Error::new(ErrorKind::NotFound, "no such job")),
            })
            .collect())
    }

    async fn wait_owned(
        &self,
        report: BatchReport,
        options: &crate::WaitOptions,
    ) -> Result<BatchReport> {
        crate::wait::wait_by_status_owned(self, report, options).await
    }
}
