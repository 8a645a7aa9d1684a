//! VENDOR KNOWLEDGE — the only vendor-specific facts of the root suites, in one table.
//!
//! The suites iterate over the simulator's vendors (`Simulator::vendors`) and their auth modes,
//! build every provider from the table the simulator writes for it, and select tests by
//! `capabilities()`. A few facts cannot be had from the simulator's generic vendor handle yet;
//! they live here, in [`KNOWN`], and nowhere else. Each field says what it stands in for, so
//! that it can go once the simulator (or core) offers it generically.
//!
//! A vendor without an entry gets [`Knowledge::generic`]: the status the simulator gives a
//! phone added without one as "running", conventional applied-counter names (else all its
//! counters together), no extra client keys, no busy flags, plain HTTP fault classification.

use cloudphone::Operation;
use cloudphone_sim::SimConfig;

/// What the suites know of one vendor beyond its simulator handle.
#[derive(Clone, Copy)]
pub struct Knowledge {
    /// The vendor's `type` (client configuration and simulator).
    pub vendor: &'static str,
    /// The simulator's raw status of a running phone: the suites start from a running fleet.
    /// `None`: the status the simulator gives a phone added without one. (Wanted from the
    /// handle: a "set this phone running" or "running status" accessor.)
    pub running: Option<i32>,
    /// The simulator's applied-counter key (`VendorControl::applied_json`) of each operation,
    /// where it is not the operation's plural (`stops`, `starts`, `restarts`, `resets`); a
    /// phone's counters without that key are summed. (Wanted from the handle: applied counts
    /// by operation name.)
    pub applied: &'static [(Operation, &'static str)],
    /// Client keys of fast runs beyond the shared `ClientOptions` ones: the batch sizes
    /// (`{batch}` is replaced) and client-side rate limits off (the simulator's are off too).
    /// (Wanted from core: generic keys for batch size and rate limits, or a "no rate limit"
    /// switch in `ClientOptions`.)
    pub tuning: &'static str,
    /// Client keys that make a status read go by the status batch size `capabilities()`
    /// reports, with no listing shortcut (the cancellation test counts its calls).
    pub status_by_batches: &'static str,
    /// Client keys of alternative code paths worth driving with hostile ids (one per auth
    /// mode, round robin; the first mode keeps the defaults).
    pub variants: &'static [&'static str],
    /// Ways to make a phone refuse a stop: the body of `PUT /_sim/phones/{id}/flags` and the
    /// vendor code the stop then fails with. (Wanted from the handle: a "make busy" accessor.)
    pub busy: &'static [(&'static str, &'static str)],
    /// Whether the vendor may accept a change and refuse a phone in that phone's own task (an
    /// answer that names no phone: Alibaba's start and stop). Such a phone is reported pending
    /// without being acted on, and its wait must settle it: done in the target state (already
    /// there) or failed.
    pub refuses_in_tasks: bool,
    /// Secrets the simulator leaves out by default, turned on so the secrets test sees each
    /// one travel. (Wanted from the simulator: every optional secret on by default.)
    pub optional_secrets: fn(SimConfig) -> SimConfig,
    /// The fault suite's salt of each auth mode from before the suites went generic, so that
    /// its seeds still draw the same faults for these modes (a new mode's salt is a hash of its
    /// name).
    pub fault_salts: &'static [(&'static str, u64)],
    /// How the vendor's answers say "throttled", "refused" and "expired", and where its batch
    /// answers list ids: the observing proxy's classification. (Wanted from the simulator:
    /// counts of the faults it injected, which would make the classification unnecessary.)
    pub wire: Wire,
}

/// How a vendor's wire format signals what the observing proxy counts. HTTP 5xx, 429 and 401,
/// cut connections, hangs and non-JSON 2xx bodies are classified for every vendor without it.
#[derive(Clone, Copy)]
pub struct Wire {
    /// JSON pointer to the code in an answer's body (empty: none), whatever its HTTP status.
    pub envelope_code: &'static str,
    /// Codes meaning "throttled" (a number's decimal form).
    pub throttle_codes: &'static [&'static str],
    /// Codes meaning "credentials refused".
    pub refused_codes: &'static [&'static str],
    /// Text of a 401 body meaning an expired token rather than refused credentials.
    pub expired_text: &'static str,
    /// Path of a login call (a token being issued).
    pub login_path: &'static str,
    /// Batch calls whose answers must account for every id asked about.
    pub batches: &'static [BatchCall],
}

/// Where one batch call lists the ids it asks about and the ids its answer accounts for.
#[derive(Clone, Copy)]
pub struct BatchCall {
    /// The request path ends with this.
    pub path_suffix: &'static str,
    /// JSON pointer to the request's array of ids, and the key of an id in each element
    /// (empty: the elements are the ids).
    pub asked: (&'static str, &'static str),
    /// The same for the answer; several arrays add up. An answer with none of them (an error
    /// envelope) is not counted.
    pub answered: &'static [(&'static str, &'static str)],
}

impl Knowledge {
    /// What the suites assume of a vendor not in [`KNOWN`].
    pub const fn generic(vendor: &'static str) -> Knowledge {
        Knowledge {
            vendor,
            running: None,
            applied: &[],
            tuning: "",
            status_by_batches: "",
            variants: &[],
            busy: &[],
            refuses_in_tasks: false,
            optional_secrets: |c| c,
            fault_salts: &[],
            wire: Wire {
                envelope_code: "",
                throttle_codes: &[],
                refused_codes: &[],
                expired_text: "",
                login_path: "",
                batches: &[],
            },
        }
    }

    /// The entry for `vendor`, or the generic one.
    pub fn of(vendor: &'static str) -> Knowledge {
        KNOWN
            .iter()
            .find(|k| k.vendor == vendor)
            .copied()
            .unwrap_or(Knowledge::generic(vendor))
    }

    /// The applied-counter key of `op`.
    pub fn applied_key(&self, op: Operation) -> &'static str {
        if let Some((_, key)) = self.applied.iter().find(|(o, _)| *o == op) {
            return key;
        }
        match op {
            Operation::Stop => "stops",
            Operation::Start => "starts",
            Operation::Restart => "restarts",
            Operation::Reset => "resets",
            other => panic!("{other} is not a state change"),
        }
    }
}

/// Every vendor the suites know more of than the simulator tells. KEEP VENDOR FACTS HERE ONLY.
static KNOWN: [Knowledge; 3] = [
    Knowledge {
        vendor: cloudphone::geelark::VENDOR,
        running: Some(cloudphone_sim::geelark::status::STARTED),
        // A reset is a newOne.
        applied: &[(Operation::Reset, "new_ones")],
        tuning: "batch_size = {batch}\nstatus_batch_size = {batch}\n\
                 rate_limit_per_minute = 0\nrate_limit_per_hour = 0",
        status_by_batches: "",
        variants: &[],
        // A remote connection (43006) or a running task (43005) blocks a stop.
        busy: &[
            (r#"{"remote_connected": true}"#, "43006"),
            (r#"{"executing_task": true}"#, "43005"),
        ],
        refuses_in_tasks: false,
        optional_secrets: |c| c,
        fault_salts: &[("key", 0), ("token", 1)],
        wire: Wire {
            envelope_code: "/code",
            throttle_codes: &["40007"],
            refused_codes: &["40003"],
            expired_text: "",
            login_path: "",
            batches: &[
                BatchCall {
                    path_suffix: "/phone/status",
                    asked: ("/ids", ""),
                    answered: &[("/data/successDetails", "id"), ("/data/failDetails", "id")],
                },
                BatchCall {
                    path_suffix: "/phone/stop",
                    asked: ("/ids", ""),
                    answered: &[("/data/successDetails", "id"), ("/data/failDetails", "id")],
                },
                BatchCall {
                    path_suffix: "/phone/start",
                    asked: ("/ids", ""),
                    answered: &[("/data/successDetails", "id"), ("/data/failDetails", "id")],
                },
            ],
        },
    },
    Knowledge {
        vendor: cloudphone::huawei_cph::VENDOR,
        running: Some(cloudphone_sim::huawei::status::RUNNING),
        // CPH has no start call: start is a batch-restart.
        applied: &[(Operation::Start, "restarts")],
        tuning: "batch_size = {batch}\nrate_limit_per_second = 0",
        status_by_batches: "status_strategy = \"detail\"",
        variants: &["status_strategy = \"detail\"", "status_strategy = \"list\""],
        busy: &[],
        refuses_in_tasks: false,
        optional_secrets: |mut c| {
            c.credentials.huawei_security_token =
                Some("SIM-SECURITY-TOKEN-leak-canary-0001".into());
            c
        },
        fault_salts: &[("token", 2), ("iam", 3), ("aksk", 4)],
        wire: Wire {
            envelope_code: "",
            throttle_codes: &[],
            refused_codes: &[],
            expired_text: "token expired",
            login_path: "/v3/auth/tokens",
            batches: &[
                BatchCall {
                    path_suffix: "/phones/batch-stop",
                    asked: ("/phone_ids", ""),
                    answered: &[("/jobs", "phone_id")],
                },
                BatchCall {
                    path_suffix: "/phones/batch-reset",
                    asked: ("/phones", "phone_id"),
                    answered: &[("/jobs", "phone_id")],
                },
                BatchCall {
                    path_suffix: "/phones/batch-restart",
                    asked: ("/phones", "phone_id"),
                    answered: &[("/jobs", "phone_id")],
                },
            ],
        },
    },
    Knowledge {
        // Keyed by its name: the root package's tests may be built without the client's
        // `alibaba` feature, and then no simulator counterpart is asked for either.
        vendor: "alibaba",
        // A phone added without a status runs.
        running: None,
        // A restart is a reboot.
        applied: &[(Operation::Restart, "reboots")],
        tuning: "batch_size = {batch}\nrate_limit_per_second = 0",
        status_by_batches: "",
        variants: &[],
        busy: &[],
        refuses_in_tasks: true,
        optional_secrets: |c| c,
        fault_salts: &[],
        wire: Wire {
            envelope_code: "/Code",
            throttle_codes: &["Throttling.User"],
            refused_codes: &[
                "InvalidAccessKeyId.NotFound",
                "SignatureDoesNotMatch",
                "IncompleteSignature",
                "InvalidSecurityToken.MismatchWithAccessKey",
                "InvalidSecurityToken.Malformed",
                "MissingSecurityToken",
            ],
            expired_text: "",
            login_path: "",
            // The ids asked about travel in the query (`AndroidInstanceIds.N`): not counted.
            batches: &[],
        },
    },
];
