//! Several named providers driven as one fleet.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use cloudphone_core::{
    progress, BatchReport, CloudPhoneProvider, Error, ErrorKind, Operation, PhoneId, PhoneOutcome,
    ResetOptions, Result, StartOptions, StrayJob, Summary, WaitOptions,
};

use crate::config::{Config, ConfigError};

/// A phone in a fleet: the provider's name and the vendor's id, written `NAME/ID`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub struct PhoneRef {
    /// The provider's configured name.
    pub provider: String,
    /// The vendor's phone id.
    pub phone: PhoneId,
}

impl PhoneRef {
    /// A reference to `phone` on `provider`.
    pub fn new(provider: impl Into<String>, phone: impl Into<PhoneId>) -> Self {
        PhoneRef {
            provider: provider.into(),
            phone: phone.into(),
        }
    }
}

impl fmt::Display for PhoneRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.provider, self.phone)
    }
}

impl FromStr for PhoneRef {
    type Err = Error;

    /// Parses `NAME/ID`; the id is everything after the first `/`.
    fn from_str(s: &str) -> Result<Self> {
        match s.split_once('/') {
            Some((p, id)) if !p.is_empty() && !id.is_empty() => Ok(PhoneRef::new(p, id)),
            _ => Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("`{s}` is not a phone reference of the form PROVIDER/PHONE_ID"),
            )),
        }
    }
}

/// One phone's outcome, labelled with its provider.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FleetOutcome {
    /// The provider's configured name.
    pub provider: String,
    /// The outcome.
    pub outcome: PhoneOutcome,
}

/// The result of a fleet call: one outcome per distinct requested phone, in request order.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FleetReport {
    /// The operation.
    pub operation: Operation,
    /// One outcome per distinct requested phone, in request order.
    pub outcomes: Vec<FleetOutcome>,
    /// Jobs a vendor reported for no requested phone, with the provider's name.
    pub stray_jobs: Vec<(String, StrayJob)>,
}

impl FleetOutcome {
    /// `outcome`, on the provider named `provider`.
    pub fn new(provider: impl Into<String>, outcome: PhoneOutcome) -> Self {
        FleetOutcome {
            provider: provider.into(),
            outcome,
        }
    }
}

impl FleetReport {
    /// A report of `outcomes` already in request order.
    pub fn new(operation: Operation, outcomes: Vec<FleetOutcome>) -> Self {
        FleetReport {
            operation,
            outcomes,
            stray_jobs: Vec::new(),
        }
    }

    /// Counts of done, pending, failed and unknown outcomes.
    pub fn summary(&self) -> Summary {
        Summary::of(self.outcomes.iter().map(|o| &o.outcome))
    }
}

/// Named providers driven as one: calls are routed by `NAME/ID`, run on every provider
/// concurrently, and merged in request order.
#[derive(Debug, Clone, Default)]
pub struct Fleet {
    pub(crate) providers: BTreeMap<String, Arc<dyn CloudPhoneProvider>>,
    /// The journal every provider writes to, when one was set ([`Fleet::with_journal`]).
    pub(crate) journal: Option<crate::journal::Journal>,
}

impl Fleet {
    /// An empty fleet.
    pub fn new() -> Self {
        Fleet::default()
    }

    /// Builds every provider of `config`.
    pub fn from_config(config: &Config) -> std::result::Result<Self, ConfigError> {
        let mut fleet = Fleet::new();
        for name in config.providers().keys() {
            fleet.insert(name.clone(), config.build(name)?);
        }
        Ok(fleet)
    }

    /// Adds (or replaces) a provider under `name`.
    /// With a journal ([`Fleet::with_journal`]) the provider is journaled.
    pub fn insert(&mut self, name: impl Into<String>, provider: Arc<dyn CloudPhoneProvider>) {
        let name = name.into();
        let provider = crate::journal::journaled(&name, provider, self.journal.as_ref());
        self.providers.insert(name, provider);
    }

    /// Adds a provider, builder style.
    pub fn with(mut self, name: impl Into<String>, provider: Arc<dyn CloudPhoneProvider>) -> Self {
        self.insert(name, provider);
        self
    }

    /// The provider called `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn CloudPhoneProvider>> {
        self.providers.get(name)
    }

    /// The providers, by name.
    pub fn providers(&self) -> &BTreeMap<String, Arc<dyn CloudPhoneProvider>> {
        &self.providers
    }

    /// Reads the state of every phone.
    pub async fn status(&self, phones: &[PhoneRef]) -> Result<FleetReport> {
        self.run(Operation::Status, phones, |p, ids| {
            Box::pin(async move { p.status(&ids).await })
        })
        .await
    }

    /// Powers phones off.
    pub async fn stop(&self, phones: &[PhoneRef]) -> Result<FleetReport> {
        self.run(Operation::Stop, phones, |p, ids| {
            Box::pin(async move { p.stop(&ids).await })
        })
        .await
    }

    /// Powers phones on.
    pub async fn start(&self, phones: &[PhoneRef], options: &StartOptions) -> Result<FleetReport> {
        self.run(Operation::Start, phones, |p, ids| {
            Box::pin(async move { p.start(&ids, options).await })
        })
        .await
    }

    /// Reboots phones.
    pub async fn restart(&self, phones: &[PhoneRef]) -> Result<FleetReport> {
        self.run(Operation::Restart, phones, |p, ids| {
            Box::pin(async move { p.restart(&ids).await })
        })
        .await
    }

    /// Resets phones.
    pub async fn reset(&self, phones: &[PhoneRef], options: &ResetOptions) -> Result<FleetReport> {
        self.run(Operation::Reset, phones, |p, ids| {
            Box::pin(async move {
                // Each provider gets only the per-phone properties of its own phones: entries
                // for another provider's phones never fail this one's.
                let options = options.for_phones(&ids);
                p.reset(&ids, &options).await
            })
        })
        .await
    }

    /// Stops `phones` and waits for them.
    pub async fn stop_and_wait(
        &self,
        phones: &[PhoneRef],
        wait: &WaitOptions,
    ) -> Result<FleetReport> {
        self.wait(&self.stop(phones).await?, wait).await
    }

    /// Starts `phones` and waits until they run.
    pub async fn start_and_wait(
        &self,
        phones: &[PhoneRef],
        options: &StartOptions,
        wait: &WaitOptions,
    ) -> Result<FleetReport> {
        self.wait(&self.start(phones, options).await?, wait).await
    }

    /// Restarts `phones` and waits until they run again.
    pub async fn restart_and_wait(
        &self,
        phones: &[PhoneRef],
        wait: &WaitOptions,
    ) -> Result<FleetReport> {
        self.wait(&self.restart(phones).await?, wait).await
    }

    /// Resets `phones` and waits until they run again.
    pub async fn reset_and_wait(
        &self,
        phones: &[PhoneRef],
        options: &ResetOptions,
        wait: &WaitOptions,
    ) -> Result<FleetReport> {
        self.wait(&self.reset(phones, options).await?, wait).await
    }

    /// Waits for the pending phones of `report` on every provider at once.
    pub async fn wait(&self, report: &FleetReport, options: &WaitOptions) -> Result<FleetReport> {
        let mut groups: BTreeMap<&str, Vec<PhoneOutcome>> = BTreeMap::new();
        for o in &report.outcomes {
            self.provider(&o.provider)?;
            groups
                .entry(o.provider.as_str())
                .or_default()
                .push(o.outcome.clone());
        }
        let waits = groups.into_iter().map(|(name, outcomes)| {
            let provider = self.providers[name].clone();
            let sub = BatchReport::new(report.operation, outcomes);
            async move {
                let result = progress::tagged(name, provider.wait(&sub, options)).await;
                (name, sub, result)
            }
        });
        let mut merged: HashMap<(String, PhoneId), PhoneOutcome> = HashMap::new();
        for (name, sub, result) in futures::future::join_all(waits).await {
            let outcomes = match result {
                Ok(r) => r.outcomes,
                // Waiting failed as a whole (e.g. credentials rejected): keep what we knew,
                // job references included, and say why it is not finished. A later error
                // never turns accepted work into "failed".
                Err(e) => sub
                    .outcomes
                    .into_iter()
                    .map(|o| {
                        if o.is_pending() || o.is_unknown() {
                            o.with_wait_error(e.clone())
                        } else {
                            o
                        }
                    })
                    .collect(),
            };
            for o in outcomes {
                merged.insert((name.to_owned(), o.phone.clone()), o);
            }
        }
        let outcomes = report
            .outcomes
            .iter()
            .map(|o| FleetOutcome {
                provider: o.provider.clone(),
                outcome: merged
                    .remove(&(o.provider.clone(), o.outcome.phone.clone()))
                    .unwrap_or_else(|| o.outcome.clone()),
            })
            .collect();
        let mut waited = FleetReport::new(report.operation, outcomes);
        waited.stray_jobs = report.stray_jobs.clone();
        Ok(waited)
    }

    fn provider(&self, name: &str) -> Result<&Arc<dyn CloudPhoneProvider>> {
        self.providers.get(name).ok_or_else(|| {
            let known: Vec<_> = self.providers.keys().map(String::as_str).collect();
            Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "unknown provider `{name}` (configured: {})",
                    if known.is_empty() {
                        "none".into()
                    } else {
                        known.join(", ")
                    }
                ),
            )
        })
    }

    async fn run<'a, F>(
        &'a self,
        operation: Operation,
        phones: &[PhoneRef],
        call: F,
    ) -> Result<FleetReport>
    where
        F: Fn(
            Arc<dyn CloudPhoneProvider>,
            Vec<PhoneId>,
        ) -> futures::future::BoxFuture<'a, Result<BatchReport>>,
    {
        // Unknown providers are bad input: refuse before anything is sent.
        let mut seen = HashSet::new();
        let mut order = Vec::new();
        let mut groups: BTreeMap<&str, Vec<PhoneId>> = BTreeMap::new();
        for r in phones {
            self.provider(&r.provider)?;
            if seen.insert(r) {
                order.push(r);
                groups
                    .entry(r.provider.as_str())
                    .or_default()
                    .push(r.phone.clone());
            }
        }
        let calls = groups.into_iter().map(|(name, ids)| {
            // Tagged: an observer of the fleet call learns which provider each chunk is for.
            let fut = progress::tagged(name, call(self.providers[name].clone(), ids.clone()));
            async move { (name, ids, fut.await) }
        });
        let changes = operation.target_state().is_some();
        let mut merged: HashMap<(&str, PhoneId), PhoneOutcome> = HashMap::new();
        let mut stray_jobs = Vec::new();
        for (name, ids, result) in futures::future::join_all(calls).await {
            match result {
                Ok(report) => {
                    for o in report.outcomes {
                        merged.insert((name, o.phone.clone()), o);
                    }
                    stray_jobs.extend(report.stray_jobs.into_iter().map(|j| (name.to_owned(), j)));
                }
                // One provider failing as a whole (credentials, unsupported operation) fails
                // its phones and leaves the other providers' results intact; a change whose
                // answer was lost is unknown.
                Err(e) => {
                    for id in ids {
                        let o = if changes {
                            PhoneOutcome::of_change_error(id.clone(), e.clone())
                        } else {
                            PhoneOutcome::failed(id.clone(), e.clone())
                        };
                        merged.insert((name, id), o);
                    }
                }
            }
        }
        let outcomes = order
            .into_iter()
            .map(|r| FleetOutcome {
                provider: r.provider.clone(),
                outcome: merged
                    .remove(&(r.provider.as_str(), r.phone.clone()))
                    .unwrap_or_else(|| {
                        PhoneOutcome::failed(
                            r.phone.clone(),
                            Error::new(
                                ErrorKind::MissingFromResponse,
                                format!("provider `{}` returned no outcome", r.provider),
                            ),
                        )
                    }),
            })
            .collect();
        let mut report = FleetReport::new(operation, outcomes);
        report.stray_jobs = stray_jobs;
        Ok(report)
    }
}
