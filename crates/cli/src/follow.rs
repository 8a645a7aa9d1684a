//! Following a fleet call chunk by chunk, so that an interrupt or the command's deadline can
//! still print every outcome known so far, and ndjson can show accepted work as soon as the
//! vendor answers.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use cloudphone::progress::{self, Event, EventKind};
use cloudphone::{Error, ErrorKind, FleetOutcome, FleetReport, Operation, PhoneOutcome, PhoneRef};
use tokio::sync::mpsc;

/// Why a command stopped before its work was finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    /// SIGINT (exit 130) or SIGTERM (exit 143).
    Signal(u8),
    /// The command's `--timeout` passed.
    Deadline,
}

/// SIGINT and SIGTERM, registered once for the whole command (before anything is sent), so a
/// signal between two phases is not lost.
pub(crate) struct Signals {
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
}

impl Signals {
    /// Installs the handlers. Without them (an unusual platform), Ctrl-C kills as before.
    pub(crate) fn install() -> Option<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Some(Signals {
                int: signal(SignalKind::interrupt()).ok()?,
                term: signal(SignalKind::terminate()).ok()?,
            })
        }
        #[cfg(not(unix))]
        None
    }

    /// The next signal: its exit code (128 + signal number).
    pub(crate) async fn next(&mut self) -> u8 {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.int.recv() => 130,
                _ = self.term.recv() => 143,
            }
        }
        #[cfg(not(unix))]
        std::future::pending().await
    }
}

/// Waits for a signal, or forever when none can be received.
pub(crate) async fn signal(signals: &mut Option<Signals>) -> u8 {
    match signals {
        Some(s) => s.next().await,
        None => std::future::pending().await,
    }
}

/// What is known about each requested phone while the call runs.
pub(crate) struct Follow {
    operation: Operation,
    requested: Vec<PhoneRef>,
    answered: HashMap<(Arc<str>, cloudphone::PhoneId), PhoneOutcome>,
    sent: HashSet<(Arc<str>, cloudphone::PhoneId)>,
}

impl Follow {
    /// Follows `operation` on the distinct phones of `requested`.
    pub(crate) fn new(operation: Operation, requested: &[PhoneRef]) -> Self {
        let mut seen = HashSet::new();
        let requested = requested
            .iter()
            .filter(|p| seen.insert(*p))
            .cloned()
            .collect();
        Follow {
            operation,
            requested,
            answered: HashMap::new(),
            sent: HashSet::new(),
        }
    }

    /// Takes one event; returns the outcomes it answered (for ndjson), labelled.
    pub(crate) fn apply(&mut self, ev: Event) -> Vec<FleetOutcome> {
        // A wait's status reads and the like are not this call's outcomes.
        if ev.operation != self.operation {
            return Vec::new();
        }
        let Some(provider) = ev.provider else {
            return Vec::new();
        };
        match ev.kind {
            EventKind::Sent(ids) => {
                self.sent
                    .extend(ids.into_iter().map(|id| (provider.clone(), id)));
                Vec::new()
            }
            EventKind::Answered(outcomes) => outcomes
                .into_iter()
                .map(|o| {
                    self.answered
                        .insert((provider.clone(), o.phone.clone()), o.clone());
                    FleetOutcome::new(provider.to_string(), o)
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Everything known when the call was cut short: answered phones as answered, phones whose
    /// request went out as *unknown* (it may have been applied), the rest as not sent.
    pub(crate) fn report(&self, why: Stop) -> FleetReport {
        let cause = match why {
            Stop::Signal(_) => "interrupted",
            Stop::Deadline => "the command's --timeout passed",
        };
        let changes = self.operation.target_state().is_some();
        let outcomes = self
            .requested
            .iter()
            .map(|r| {
                let key = (Arc::<str>::from(r.provider.as_str()), r.phone.clone());
                let outcome = match self.answered.get(&key) {
                    Some(o) => o.clone(),
                    None if self.sent.contains(&key) && changes => PhoneOutcome::unknown(
                        r.phone.clone(),
                        Error::new(
                            ErrorKind::Timeout,
                            format!("{cause} after the request was sent: it may have been applied"),
                        ),
                    ),
                    None => PhoneOutcome::failed(
                        r.phone.clone(),
                        Error::new(ErrorKind::Timeout, format!("not sent: {cause} first"))
                            .with_not_applied(true),
                    ),
                };
                FleetOutcome::new(r.provider.clone(), outcome)
            })
            .collect();
        FleetReport::new(self.operation, outcomes)
    }
}

/// A sink for [`progress::observe`] and the receiver the command reads events from.
pub(crate) fn channel() -> (
    impl Fn(Event) + Send + Sync + 'static,
    mpsc::UnboundedReceiver<Event>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    (
        move |ev| {
            let _ = tx.send(ev);
        },
        rx,
    )
}

/// Re-exported for the command's use.
pub(crate) use progress::observe;
