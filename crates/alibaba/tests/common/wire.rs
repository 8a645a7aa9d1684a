//! Recording mockito answers and a fixed clock and nonces, for exact wire assertions.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use cloudphone_alibaba::{AlibabaConfig, AlibabaProvider, Clock};
use time::macros::datetime;
use time::OffsetDateTime;

pub const DATE: &str = "2025-01-02T03:04:05Z";

#[derive(Debug)]
pub struct FixedClock;

impl Clock for FixedClock {
    fn now(&self) -> OffsetDateTime {
        datetime!(2025-01-02 03:04:05 UTC)
    }
}

/// One request as the mock server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path_and_query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn query(&self) -> &str {
        self.path_and_query.split_once('?').map_or("", |(_, q)| q)
    }

    pub fn action(&self) -> &str {
        self.header("x-acs-action").unwrap_or_default()
    }
}

pub type Log = Arc<Mutex<Vec<Seen>>>;

pub fn seen(req: &mockito::Request) -> Seen {
    Seen {
        method: req.method().to_string(),
        path_and_query: req.path_and_query().to_string(),
        headers: req
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_string()))
            .collect(),
        body: req.body().map(|b| b.to_vec()).unwrap_or_default(),
    }
}

/// A provider for `config` with the fixed clock and nonces `nonce-0001`, `nonce-0002`, …
pub fn fixed(config: AlibabaConfig) -> AlibabaProvider {
    let n = Arc::new(AtomicUsize::new(0));
    AlibabaProvider::builder(config)
        .clock(Arc::new(FixedClock))
        .nonces(move || format!("nonce-{:04}", n.fetch_add(1, Ordering::SeqCst) + 1))
        .build()
        .unwrap()
}

/// A mock of `POST /` for one action answering `status` with `body`, recording what it got.
pub async fn action(
    server: &mut mockito::Server,
    name: &str,
    status: usize,
    body: &str,
    log: &Log,
) -> mockito::Mock {
    action_where(server, name, mockito::Matcher::Any, status, body, log).await
}

/// [`action`] for the requests whose query matches `query` only.
pub async fn action_where(
    server: &mut mockito::Server,
    name: &str,
    query: mockito::Matcher,
    status: usize,
    body: &str,
    log: &Log,
) -> mockito::Mock {
    let (log, body) = (log.clone(), body.to_owned());
    server
        .mock("POST", mockito::Matcher::Regex("^/".into()))
        .match_header("x-acs-action", name)
        .match_query(query)
        .with_status(status)
        .with_header("content-type", "application/json")
        .with_body_from_request(move |req| {
            log.lock().unwrap().push(seen(req));
            body.clone().into_bytes()
        })
        .create_async()
        .await
}
