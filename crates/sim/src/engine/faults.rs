//! Fault planning: which request-level fault hits a call, and whether its action is carried out.

use std::time::Duration;

use rand::rngs::SmallRng;
use rand::Rng;

use crate::config::Faults;

/// The request-level fault chosen for one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FaultKind {
    Throttle,
    Error5xx,
    ConnectionReset,
    Hang,
    Malformed,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct FaultPlan {
    pub(crate) kind: Option<FaultKind>,
    /// Whether the action is carried out (always true without a fault, never for throttling).
    pub(crate) applied: bool,
    pub(crate) hang: Duration,
}

impl FaultPlan {
    pub(crate) fn none() -> Self {
        FaultPlan {
            kind: None,
            applied: true,
            hang: Duration::ZERO,
        }
    }
}

fn roll(rng: &mut SmallRng, p: f64) -> bool {
    p > 0.0 && rng.random::<f64>() < p
}

pub(crate) fn plan_faults(rng: &mut SmallRng, faults: &Faults, endpoint: &str) -> FaultPlan {
    if !faults.targets(endpoint) {
        return FaultPlan::none();
    }
    let kind = if roll(rng, faults.throttle) {
        Some(FaultKind::Throttle)
    } else if roll(rng, faults.error_5xx) {
        Some(FaultKind::Error5xx)
    } else if roll(rng, faults.connection_reset) {
        Some(FaultKind::ConnectionReset)
    } else if roll(rng, faults.hang) {
        Some(FaultKind::Hang)
    } else if roll(rng, faults.malformed) {
        Some(FaultKind::Malformed)
    } else {
        None
    };
    let applied = match kind {
        None => true,
        Some(FaultKind::Throttle) => false,
        Some(_) => rng.random::<f64>() < faults.applied_ratio,
    };
    FaultPlan {
        kind,
        applied,
        hang: Duration::from_millis(faults.hang_duration_ms),
    }
}

/// True with probability `p` if the faults target this endpoint.
pub(crate) fn roll_targeted(rng: &mut SmallRng, faults: &Faults, endpoint: &str, p: f64) -> bool {
    p > 0.0 && faults.targets(endpoint) && roll(rng, p)
}
