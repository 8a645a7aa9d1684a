//! Outcomes handed out as each chunk is answered, not when the whole batch is.
//!
//! A caller that wants to follow a batch (a progress bar, ndjson output, a journal, an
//! interrupt handler that must print what was accepted so far) runs the call inside
//! [`observe`]; the batch engine then reports each chunk as it is sent and as it is answered.
//! Nothing is collected when nobody observes.
//!
//! ```
//! # #[cfg(feature = "fake")]
//! # async fn demo() -> cloudphone_core::Result<()> {
//! use std::sync::{Arc, Mutex};
//! use cloudphone_core::progress::{self, EventKind};
//! use cloudphone_core::{CloudPhoneProvider, FakeProvider, PhoneId};
//!
//! let fake = FakeProvider::builder().phones(3).build();
//! let seen = Arc::new(Mutex::new(0));
//! let counter = seen.clone();
//! let phones: Vec<PhoneId> = vec!["fake-0".into(), "fake-1".into()];
//! progress::observe(
//!     move |ev| {
//!         if let EventKind::Answered(outcomes) = &ev.kind {
//!             *counter.lock().unwrap() += outcomes.len();
//!         }
//!     },
//!     fake.stop(&phones),
//! )
//! .await?;
//! assert_eq!(*seen.lock().unwrap(), 2);
//! # Ok(())
//! # }
//! ```

use std::future::Future;
use std::sync::Arc;

use crate::{Error, Operation, PhoneId, PhoneOutcome};

/// What happened to a chunk.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum EventKind {
    /// These phones' request is about to go out (from here on a state change may be applied).
    Sent(Vec<PhoneId>),
    /// The vendor answered (or the chunk failed): these phones' outcomes.
    Answered(Vec<PhoneOutcome>),
    /// A poll round of a wait ended; it settled these phones (reached the target, failed, or
    /// can be told no more) — their final outcomes — possibly none. One event per round.
    Waited(Settled),
}

/// One progress event.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Event {
    /// The fleet's name for the provider, when the call went through one that tags it.
    pub provider: Option<Arc<str>>,
    /// The provider's vendor.
    pub vendor: &'static str,
    /// The batch operation.
    pub operation: Operation,
    /// What happened.
    pub kind: EventKind,
}

/// A sink answers whether the event may go on: only a tap ([`tap`]) can refuse, and only a
/// refusal of [`EventKind::Sent`] has an effect (the chunk is not sent).
type Sink = Arc<dyn Fn(Event) -> Result<(), Error> + Send + Sync>;

tokio::task_local! {
    static SINK: Sink;
}

/// Runs `fut`, handing every progress event of the batch calls it makes to `sink`.
pub async fn observe<F: Future>(sink: impl Fn(Event) + Send + Sync + 'static, fut: F) -> F::Output {
    let sink: Sink = Arc::new(move |ev| {
        sink(ev);
        Ok(())
    });
    SINK.scope(sink, fut).await
}

/// Runs `fut` so that its events carry `provider` as their provider name (for fleets), still
/// handed to the sink of the enclosing [`observe`], if any.
pub async fn tagged<F: Future>(provider: &str, fut: F) -> F::Output {
    match SINK.try_with(Sink::clone) {
        Ok(outer) => {
            let name: Arc<str> = Arc::from(provider);
            let sink: Sink = Arc::new(move |mut ev: Event| {
                ev.provider.get_or_insert_with(|| name.clone());
                outer(ev)
            });
            SINK.scope(sink, fut).await
        }
        Err(_) => fut.await,
    }
}

/// Runs `fut` so that `tap` sees each of its progress events first — synchronously, in the
/// task that emits it — before the event goes on to the enclosing [`observe`], if any.
///
/// For wrappers that must act on an event before anyone else learns of it: a journal writes
/// a chunk as sent before its request goes out, and its answer before the caller is handed
/// it. Unlike [`observe`], an outer observer keeps receiving every event.
///
/// A tap that returns an error for an [`EventKind::Sent`] event stops that chunk: its request
/// is not sent and its phones fail with the error, marked not applied (a journal that cannot
/// record a change as sent lets nothing go out unrecorded). Errors for other events are
/// ignored: what they report has already happened.
pub async fn tap<F: Future>(
    tap: impl Fn(&Event) -> Result<(), Error> + Send + Sync + 'static,
    fut: F,
) -> F::Output {
    let outer = SINK.try_with(Sink::clone).ok();
    let sink: Sink = Arc::new(move |ev: Event| {
        tap(&ev)?;
        match &outer {
            Some(outer) => outer(ev),
            None => Ok(()),
        }
    });
    SINK.scope(sink, fut).await
}

/// Whether the current task is observed.
pub fn is_observed() -> bool {
    SINK.try_with(|_| ()).is_ok()
}

/// Reports the end of a wait round and the phones it settled (for wait implementations; call
/// it once per round, even when none settled). Copies the settled outcomes; a wait that holds
/// its outcomes in a `Vec` lends them instead with [`waited_in`].
pub fn waited<'a>(
    vendor: &'static str,
    operation: Operation,
    settled: impl Iterator<Item = &'a PhoneOutcome>,
) {
    emit(|| Event {
        provider: None,
        vendor,
        operation,
        kind: EventKind::Waited(Settled::from(settled.cloned().collect::<Vec<_>>())),
    })
}

/// Reports the end of a wait round and the phones it settled — `outcomes[i]` for each `i` of
/// `settled` — without copying them: the wait's outcomes are lent to the event and taken back
/// once the sink is done with it. Only an observer that keeps the event (sends it on, stores
/// it) costs the wait one copy of `outcomes`. Does nothing when nobody observes.
pub fn waited_in(
    vendor: &'static str,
    operation: Operation,
    outcomes: &mut Vec<PhoneOutcome>,
    settled: &[usize],
) {
    if !is_observed() {
        return;
    }
    debug_assert!(settled.iter().all(|&i| i < outcomes.len()));
    let all = Arc::new(std::mem::take(outcomes));
    emit(|| Event {
        provider: None,
        vendor,
        operation,
        kind: EventKind::Waited(Settled {
            all: all.clone(),
            picked: Some(settled.into()),
        }),
    });
    *outcomes = Arc::try_unwrap(all).unwrap_or_else(|kept| (*kept).clone());
}

/// The phones a wait round settled ([`EventKind::Waited`]): their final outcomes, read in
/// place from the wait's own (shared, not copied), in the order the wait settled them.
#[derive(Clone)]
pub struct Settled {
    /// The outcomes the settled ones are read from.
    all: Arc<Vec<PhoneOutcome>>,
    /// Positions in `all` of the settled ones; `None`: all of them.
    picked: Option<Arc<[usize]>>,
}

impl Settled {
    /// How many phones settled.
    pub fn len(&self) -> usize {
        self.picked.as_ref().map_or(self.all.len(), |p| p.len())
    }

    /// Whether none settled.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The settled outcomes.
    pub fn iter(&self) -> SettledIter<'_> {
        SettledIter {
            settled: self,
            at: 0,
        }
    }

    fn nth_outcome(&self, n: usize) -> Option<&PhoneOutcome> {
        match &self.picked {
            Some(p) => p.get(n).and_then(|&i| self.all.get(i)),
            None => self.all.get(n),
        }
    }
}

impl From<Vec<PhoneOutcome>> for Settled {
    fn from(outcomes: Vec<PhoneOutcome>) -> Self {
        Settled {
            all: Arc::new(outcomes),
            picked: None,
        }
    }
}

impl std::fmt::Debug for Settled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// The outcomes of [`Settled`], borrowed.
#[derive(Debug, Clone)]
pub struct SettledIter<'a> {
    settled: &'a Settled,
    at: usize,
}

impl<'a> Iterator for SettledIter<'a> {
    type Item = &'a PhoneOutcome;

    fn next(&mut self) -> Option<Self::Item> {
        let o = self.settled.nth_outcome(self.at)?;
        self.at += 1;
        Some(o)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.settled.len().saturating_sub(self.at);
        (left, Some(left))
    }
}

impl ExactSizeIterator for SettledIter<'_> {}

impl<'a> IntoIterator for &'a Settled {
    type Item = &'a PhoneOutcome;
    type IntoIter = SettledIter<'a>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl IntoIterator for Settled {
    type Item = PhoneOutcome;
    type IntoIter = std::vec::IntoIter<PhoneOutcome>;

    /// The settled outcomes, owned: moved out when nothing else shares them, else copied.
    fn into_iter(self) -> Self::IntoIter {
        match (self.picked, Arc::try_unwrap(self.all)) {
            (None, Ok(all)) => all.into_iter(),
            (None, Err(all)) => (*all).clone().into_iter(),
            (Some(p), Ok(mut all)) => p
                .iter()
                .map(|&i| {
                    let phone = all[i].phone.clone();
                    std::mem::replace(&mut all[i], PhoneOutcome::pending(phone))
                })
                .collect::<Vec<_>>()
                .into_iter(),
            (Some(p), Err(all)) => p
                .iter()
                .map(|&i| all[i].clone())
                .collect::<Vec<_>>()
                .into_iter(),
        }
    }
}

/// Hands an event to the current sink; `make` runs only when there is one.
pub fn emit(make: impl FnOnce() -> Event) {
    let _ = SINK.try_with(|sink| sink(make()));
}

/// Hands an [`EventKind::Sent`] event to the current sink and returns a tap's refusal, if
/// one refused: the request must then not be sent (see [`tap`]).
pub fn announce(make: impl FnOnce() -> Event) -> Result<(), Error> {
    SINK.try_with(|sink| sink(make())).unwrap_or(Ok(()))
}

/// Running counts of a followed call: outcomes by kind as chunks are answered, and requests
/// sent. Feed it every event ([`Tally::add`]); a progress bar or a log line reads it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Tally {
    /// Outcomes answered so far, by kind.
    pub summary: crate::Summary,
    /// Chunks (vendor requests, retries not counted) sent so far.
    pub calls: u64,
}

impl Tally {
    /// Counts one event of `operation` (events of other operations — a wait's status reads —
    /// count as calls only).
    pub fn add(&mut self, operation: Operation, event: &Event) {
        match &event.kind {
            EventKind::Sent(_) => self.calls += 1,
            EventKind::Answered(outcomes) if event.operation == operation => {
                for o in outcomes {
                    self.summary.add(o);
                }
            }
            EventKind::Answered(_) | EventKind::Waited(_) => {}
        }
    }
}
