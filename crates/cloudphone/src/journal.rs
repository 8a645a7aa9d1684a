//! The journal of sent state changes (from [`cloudphone_journal`]) on a [`Fleet`]: every
//! provider journaled, and [`Fleet::resume`] to finish what a stopped process left unfinished.
//!
//! ```
//! # #[cfg(feature = "fake")]
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use cloudphone::journal::Journal;
//! use cloudphone::{Config, Fleet, PhoneRef, ResetOptions, WaitOptions};
//!
//! let config = Config::from_toml_str("[providers.lab]\ntype = \"fake\"\n")?;
//! let dir = tempfile::tempdir()?;
//! let journal = Journal::open(dir.path().join("journal.sqlite"))?;
//! let fleet = Fleet::from_config(&config)?.with_journal(journal.clone());
//! let phones: Vec<PhoneRef> = vec!["lab/fake-0".parse()?];
//! fleet.reset(&phones, &ResetOptions::default()).await?;
//! // The process may stop here; a later one (with the same journal) finishes the work:
//! let resumed = fleet.resume(&WaitOptions::default()).await?;
//! assert_eq!(resumed.summary().succeeded, 1);
//! assert!(journal.unfinished()?.is_empty());
//! # Ok(())
//! # }
//! ```

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use cloudphone_core::{
    CloudPhoneProvider, Error, ErrorKind, Operation, PhoneId, Result, Summary, WaitOptions,
};
pub use cloudphone_journal::{rfc3339, Answer, End, Entry, Journal, JournalOptions, Journaled};

use crate::fleet::{Fleet, FleetOutcome, FleetReport, PhoneRef};

/// `provider` journaled in `journal` under `name`, or as it is without a journal.
pub(crate) fn journaled(
    name: &str,
    provider: Arc<dyn CloudPhoneProvider>,
    journal: Option<&Journal>,
) -> Arc<dyn CloudPhoneProvider> {
    match journal {
        Some(j) => Arc::new(Journaled::new(name, provider, j.clone())),
        None => provider,
    }
}

/// What [`Fleet::resume`] found and how it ended.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Resumed {
    /// One report per operation (stop, start, restart, reset) with unfinished entries: every
    /// such phone's outcome after waiting — done, failed, still pending at the deadline, or
    /// unknown when looking could not tell whether the change was applied.
    pub reports: Vec<FleetReport>,
    /// Unfinished entries of providers this fleet does not have: left as they are.
    pub skipped: Vec<Entry>,
}

impl Resumed {
    /// Counts over every report.
    pub fn summary(&self) -> Summary {
        Summary::of(
            self.reports
                .iter()
                .flat_map(|r| r.outcomes.iter().map(|o| &o.outcome)),
        )
    }

    /// Whether there was nothing to resume.
    pub fn is_empty(&self) -> bool {
        self.reports.is_empty() && self.skipped.is_empty()
    }
}

impl Fleet {
    /// Journals every provider (those added later too) in `journal`: each state change is
    /// written as sent before its request goes out, what came back before the caller is
    /// handed it, and how it ended when a wait settles it. Set it once.
    pub fn with_journal(mut self, journal: Journal) -> Fleet {
        self.providers = std::mem::take(&mut self.providers)
            .into_iter()
            .map(|(name, p)| {
                let p = journaled(&name, p, Some(&journal));
                (name, p)
            })
            .collect();
        self.journal = Some(journal);
        self
    }

    /// The journal, if one was set.
    pub fn journal(&self) -> Option<&Journal> {
        self.journal.as_ref()
    }

    /// Of `phones`, those whose latest `operation` in the journal is unsettled — unfinished,
    /// or ended unknown — with that entry (empty without a journal). Changing them again may
    /// repeat a change that already happened (a reset wipes the phone twice).
    pub fn unsettled(&self, operation: Operation, phones: &[PhoneRef]) -> Result<Vec<Entry>> {
        let Some(journal) = &self.journal else {
            return Ok(Vec::new());
        };
        let mut groups: BTreeMap<&str, Vec<PhoneId>> = BTreeMap::new();
        for p in phones {
            groups
                .entry(p.provider.as_str())
                .or_default()
                .push(p.phone.clone());
        }
        let mut found = Vec::new();
        for (provider, ids) in groups {
            found.extend(journal.unsettled(provider, operation, &ids)?);
        }
        Ok(found)
    }

    /// Finishes what the journal says is unfinished (written by this process or an earlier
    /// one that stopped): every unfinished entry of this fleet's providers is waited for with
    /// its provider's own `wait` — accepted changes through their jobs, changes whose answer
    /// was lost or never written by *looking* at the phone. Nothing is ever sent again.
    ///
    /// Each entry ends in the journal as the wait settles it; one still pending at
    /// `options.timeout` stays unfinished for a later resume. A phone with several unfinished
    /// entries of one operation is waited for once. Run it when no other process is still
    /// working on these phones (it would wait alongside, not interfere, but its report would
    /// be of work still in flight).
    pub async fn resume(&self, options: &WaitOptions) -> Result<Resumed> {
        let journal = self.journal.as_ref().ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidArgument,
                "this fleet has no journal to resume from (Fleet::with_journal)",
            )
        })?;
        let (mine, skipped): (Vec<Entry>, Vec<Entry>) = journal
            .unfinished()?
            .into_iter()
            .partition(|e| self.providers.contains_key(&e.provider));
        journal.adopt(&mine);
        // The latest entry of each phone and operation stands for the phone.
        let mut seen = HashSet::new();
        let mut by_op: BTreeMap<Operation, Vec<FleetOutcome>> = BTreeMap::new();
        for e in mine.iter().rev() {
            if seen.insert((e.operation, e.provider.as_str(), e.phone.clone())) {
                by_op
                    .entry(e.operation)
                    .or_default()
                    .push(FleetOutcome::new(e.provider.clone(), e.outcome()));
            }
        }
        let waits = by_op.into_iter().map(|(operation, mut outcomes)| {
            outcomes.reverse();
            async move {
                self.wait(&FleetReport::new(operation, outcomes), options)
                    .await
            }
        });
        let reports = futures::future::join_all(waits)
            .await
            .into_iter()
            .collect::<Result<Vec<_>>>()?;
        Ok(Resumed { reports, skipped })
    }
}
