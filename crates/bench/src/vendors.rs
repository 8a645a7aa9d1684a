//! The vendors to measure: every vendor the simulator serves ([`Simulator::vendors`]), and what
//! the bench knows of some of them — the client settings a run adds to the provider table the
//! simulator writes, which endpoints serve each operation, and the model of the ideal that
//! `capabilities()` cannot tell (how status and poll rounds are served, how long the simulated
//! transitions take).
//!
//! Batch sizes and rate budgets are *not* here: the ideal reads them from the built provider's
//! `capabilities()`. A vendor the simulator serves but this table does not know is measured all
//! the same, with its client defaults and a plain model (status and poll rounds by status
//! batches, no transition time, no per-endpoint targets); an entry in [`KNOWN`] sharpens that.

use std::time::Duration;

use cloudphone_sim::{SimConfig, Simulator, Timings};

use crate::Error;

/// One vendor the bench measures.
#[derive(Debug, Clone)]
pub(crate) struct Vendor {
    /// The name in `--vendors` and in the results.
    pub(crate) name: &'static str,
    /// The provider's `type` in configuration, and the simulator's name for the vendor.
    pub(crate) type_name: &'static str,
    /// Client settings of every run (TOML keys of the provider's table).
    pub(crate) tuning: &'static str,
    /// Client rate budgets with `--limits`: the vendor's published limits.
    pub(crate) limits_on: &'static str,
    /// Client rate budgets without `--limits`: none.
    pub(crate) limits_off: &'static str,
    /// The naive client: one phone per request.
    pub(crate) naive: &'static str,
    /// How a status of many phones is served.
    pub(crate) status_by: StatusBy,
    /// How one poll round of a wait is served.
    pub(crate) poll: Poll,
    /// The simulator's (unscaled) stop and reset transitions.
    pub(crate) transitions: fn(&Timings) -> Transitions,
    /// Call-counter keys (shortened) of each operation.
    pub(crate) endpoints: Endpoints,
}

/// How a status of many phones is served.
#[derive(Debug, Clone, Copy)]
pub(crate) enum StatusBy {
    /// Status calls of the provider's status batch size.
    Batch,
    /// List pages of the provider's list page size.
    Listing,
}

/// How one poll round of a wait is served.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Poll {
    /// Status calls of the provider's status batch size.
    Status,
    /// Job listings of this many jobs per page.
    JobPages(usize),
}

/// How long the simulator takes to stop and to reset a phone (before scaling).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Transitions {
    pub(crate) stop: Duration,
    pub(crate) reset: Duration,
}

/// Call-counter keys of each operation, as [`crate::sim::short_endpoint`] writes them; empty
/// where the bench does not know them (no per-endpoint target then).
#[derive(Debug, Clone)]
pub(crate) struct Endpoints {
    /// Status; every key counts towards it, the first names it.
    pub(crate) status: &'static [&'static str],
    pub(crate) stop: &'static [&'static str],
    pub(crate) reset: &'static [&'static str],
    /// A poll round.
    pub(crate) poll: &'static str,
    /// The state reads of a wait beyond its poll rounds (confirming each phone's state once),
    /// and, where the client reads states before a change, those reads too; empty where the
    /// poll rounds are state reads themselves.
    pub(crate) confirm: &'static [&'static str],
}

impl Endpoints {
    /// The endpoints of an operation as the results name it (`status`, `stop + wait`,
    /// `reset + wait`), and of its poll rounds (empty for status).
    pub(crate) fn of(&self, operation: &str) -> (&'static [&'static str], &'static str) {
        match operation {
            "status" => (self.status, ""),
            "stop + wait" => (self.stop, self.poll),
            _ => (self.reset, self.poll),
        }
    }
}

impl Vendor {
    /// What the bench knows of the simulator's vendor `type_name`, or a plain model.
    pub(crate) fn of(type_name: &'static str) -> Vendor {
        KNOWN
            .iter()
            .find(|v| v.type_name == type_name)
            .cloned()
            .unwrap_or(Vendor {
                name: type_name,
                type_name,
                tuning: "",
                limits_on: "",
                limits_off: "",
                naive: "",
                status_by: StatusBy::Batch,
                poll: Poll::Status,
                transitions: |_| Transitions {
                    stop: Duration::ZERO,
                    reset: Duration::ZERO,
                },
                endpoints: Endpoints {
                    status: &[],
                    stop: &[],
                    reset: &[],
                    poll: "",
                    confirm: &[],
                },
            })
    }

    /// Whether `--vendors` means this vendor: its name or its type.
    pub(crate) fn is(&self, name: &str) -> bool {
        self.name == name || self.type_name == name
    }
}

/// Every vendor the simulator serves, in its order (asked of a throwaway simulator).
pub(crate) async fn all() -> Result<Vec<Vendor>, Error> {
    let sim = Simulator::start(SimConfig::default())
        .await
        .map_err(|e| format!("cannot start the simulator: {e}"))?;
    let types: Vec<&'static str> = sim.vendors().iter().map(|v| v.type_name()).collect();
    sim.shutdown().await;
    Ok(types.into_iter().map(Vendor::of).collect())
}

/// The vendor named `name` in the results, if the bench knows it.
pub(crate) fn known(name: &str) -> Option<&'static Vendor> {
    KNOWN.iter().find(|v| v.name == name)
}

/// What the bench knows of each vendor.
static KNOWN: [Vendor; 3] = [
    Vendor {
        name: "geelark",
        type_name: cloudphone::geelark::VENDOR,
        // The vendor's maxima: 200 ids per stop, 100 per status.
        tuning: "batch_size = 200\nstatus_batch_size = 100\n",
        limits_on: "rate_limit_per_minute = 200\nrate_limit_per_hour = 24000\n",
        limits_off: "rate_limit_per_minute = 0\nrate_limit_per_hour = 0\n",
        naive: "batch_size = 1\nstatus_batch_size = 1\n",
        status_by: StatusBy::Batch,
        poll: Poll::Status,
        transitions: |t| Transitions {
            stop: t.geelark_stop,
            reset: t.geelark_new_one,
        },
        endpoints: Endpoints {
            status: &["status"],
            stop: &["stop"],
            reset: &["newOne"],
            poll: "status",
            confirm: &[],
        },
    },
    Vendor {
        name: "huawei",
        type_name: cloudphone::huawei_cph::VENDOR,
        // No batch maximum is documented; one list-jobs page holds 100.
        tuning: "batch_size = 100\nstatus_strategy = \"auto\"\n",
        limits_on: "rate_limit_per_second = 200\n",
        limits_off: "rate_limit_per_second = 0\n",
        naive: "batch_size = 1\nstatus_strategy = \"detail\"\n",
        status_by: StatusBy::Listing,
        poll: Poll::JobPages(cloudphone::huawei_cph::JOBS_PAGE_SIZE),
        transitions: |t| Transitions {
            stop: t.huawei_stop,
            reset: t.huawei_reset,
        },
        endpoints: Endpoints {
            status: &["GET phones", "GET phones/{id}"],
            stop: &["phones/batch-stop"],
            reset: &["phones/batch-reset"],
            poll: "GET jobs",
            confirm: &["GET phones", "GET phones/{id}"],
        },
    },
    Vendor {
        name: "alibaba",
        type_name: cloudphone::alibaba::VENDOR,
        // The maximum ids per call. `check_states` stays at its default (`on-refusal`), as a
        // user gets it: states are read only for a chunk the vendor refuses, and such reads are
        // counted with the wait's state reads (`confirm`), against the minimum of one read per
        // phone.
        tuning: "batch_size = 100\n",
        // Alibaba publishes no eds-aic quota: the simulator's 100 per second per action.
        limits_on: "rate_limit_per_second = 100\n",
        limits_off: "rate_limit_per_second = 0\n",
        naive: "batch_size = 1\n",
        status_by: StatusBy::Batch,
        // DescribeTasks by a request's InvokeId (Level 2) or by TaskIds, 100 per page.
        poll: Poll::JobPages(100),
        transitions: |_| Transitions {
            stop: cloudphone_sim::alibaba::durations::STOP,
            reset: cloudphone_sim::alibaba::durations::RESET,
        },
        endpoints: Endpoints {
            status: &["DescribeAndroidInstances"],
            stop: &["StopAndroidInstance"],
            reset: &["ResetAndroidInstancesInGroup"],
            poll: "DescribeTasks",
            confirm: &["DescribeAndroidInstances"],
        },
    },
];
