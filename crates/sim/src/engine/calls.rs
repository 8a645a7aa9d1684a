//! The call log every vendor keeps: counts and handler CPU time per endpoint key, and the most
//! recent requests.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;

use axum::http::{HeaderMap, Method};
use serde::{Deserialize, Serialize};

use super::util::Clock;

/// One request as the simulator received it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallRecord {
    /// Sequence number, counting from 1 since the simulator started (not reset by `reset_calls`).
    pub seq: u64,
    /// Milliseconds since the simulator started.
    pub at_ms: u64,
    /// Endpoint key, e.g. `"POST /open/v1/phone/status"` or
    /// `"GET /v1/{project_id}/cloud-phone/phones/{phone_id}"`.
    pub endpoint: String,
    /// HTTP method.
    pub method: String,
    /// Path as received (still percent-encoded).
    pub path: String,
    /// Raw query string, if any.
    pub query: Option<String>,
    /// Header names (lower-case) and values, secrets included: this is a local test tool.
    pub headers: Vec<(String, String)>,
    /// Body, lossily decoded as UTF-8.
    pub body: String,
}

/// What a vendor listener has received: counts per endpoint key and the most recent requests.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallStats {
    /// Calls per endpoint key since the last reset (every received call, including rejected ones).
    pub counts: BTreeMap<String, u64>,
    /// The most recent requests, oldest first (bounded by `SimConfig::call_log_capacity`).
    pub recent: Vec<CallRecord>,
    /// CPU time spent in the handlers of each endpoint key since the last reset, in
    /// nanoseconds (the polling threads' CPU clocks; see `GET /_sim/stats`).
    #[serde(default)]
    pub cpu_ns: BTreeMap<String, u64>,
}

impl CallStats {
    /// Calls received for one endpoint key (0 if none).
    pub fn count(&self, endpoint_key: &str) -> u64 {
        self.counts.get(endpoint_key).copied().unwrap_or(0)
    }

    /// Calls received in total.
    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }
}

/// One vendor's log of received requests.
pub struct CallLog {
    counts: HashMap<String, u64>,
    cpu: HashMap<String, Duration>,
    recent: VecDeque<CallRecord>,
    capacity: usize,
    seq: u64,
}

/// One received request, as [`CallLog::record`] takes it.
pub(crate) struct Received<'a> {
    pub(crate) endpoint: &'a str,
    pub(crate) method: &'a Method,
    pub(crate) path: &'a str,
    pub(crate) query: Option<&'a str>,
    pub(crate) headers: &'a HeaderMap,
    pub(crate) body: &'a [u8],
}

impl CallLog {
    pub(crate) fn new(capacity: usize) -> Self {
        CallLog {
            counts: HashMap::new(),
            cpu: HashMap::new(),
            recent: VecDeque::new(),
            capacity,
            seq: 0,
        }
    }

    pub(crate) fn record(&mut self, clock: &Clock, call: Received<'_>) {
        self.seq += 1;
        match self.counts.get_mut(call.endpoint) {
            Some(n) => *n += 1,
            None => {
                self.counts.insert(call.endpoint.to_string(), 1);
            }
        }
        if self.capacity == 0 {
            return;
        }
        if self.recent.len() >= self.capacity {
            self.recent.pop_front();
        }
        self.recent.push_back(CallRecord {
            seq: self.seq,
            at_ms: clock.start.elapsed().as_millis() as u64,
            endpoint: call.endpoint.to_string(),
            method: call.method.to_string(),
            path: call.path.to_string(),
            query: call.query.map(str::to_string),
            headers: call
                .headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            body: String::from_utf8_lossy(call.body).into_owned(),
        });
    }

    /// Adds the CPU time a handler of `endpoint` took.
    pub(crate) fn add_cpu(&mut self, endpoint: &str, spent: Duration) {
        match self.cpu.get_mut(endpoint) {
            Some(total) => *total += spent,
            None => {
                self.cpu.insert(endpoint.to_string(), spent);
            }
        }
    }

    /// Calls per endpoint key since the last reset.
    pub(crate) fn counts(&self) -> BTreeMap<String, u64> {
        self.counts.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }

    /// Handler CPU time per endpoint key since the last reset, in nanoseconds.
    pub(crate) fn cpu_ns(&self) -> BTreeMap<String, u64> {
        self.cpu
            .iter()
            .map(|(k, d)| (k.clone(), u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)))
            .collect()
    }

    pub(crate) fn stats(&self) -> CallStats {
        CallStats {
            counts: self.counts(),
            recent: self.recent.iter().cloned().collect(),
            cpu_ns: self.cpu_ns(),
        }
    }

    pub(crate) fn count(&self, key: &str) -> u64 {
        self.counts.get(key).copied().unwrap_or(0)
    }

    pub(crate) fn reset(&mut self) {
        self.counts.clear();
        self.cpu.clear();
        self.recent.clear();
    }
}
