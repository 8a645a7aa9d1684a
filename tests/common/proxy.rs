//! An observing HTTP proxy between a provider and the simulator.
//!
//! The simulator injects faults but does not count them, and a client's retries hide most of
//! them from its final report. This proxy forwards every request unchanged (the `Host` header
//! too, so AK/SK signatures still verify), relays the answer unchanged (a cut connection is cut
//! again), and classifies what the simulator answered: the count of injected faults by kind.
//! What is vendor-specific in the classification (envelope codes, where batch answers list
//! ids) comes from the vendor's [`Wire`] in `vendors.rs`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::header::{CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Router;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::vendors::Wire;

/// What the simulator answered, request by request, classified.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FaultCounts {
    /// Requests forwarded.
    pub requests: u64,
    /// Answers with no injected fault (including ordinary per-phone errors).
    pub ok: u64,
    /// 5xx answers (not hangs).
    pub error_5xx: u64,
    /// Throttling answers (HTTP 429 or a throttling envelope code); the simulator's own limits
    /// are off in the fault suite, so each one is injected.
    pub throttle: u64,
    /// Answers cut before a complete body.
    pub connection_reset: u64,
    /// Answers that took at least the hang threshold (the client gave up before).
    pub hang: u64,
    /// 2xx answers whose body is not JSON.
    pub malformed: u64,
    /// Ids asked for in a batch call that the answer left out.
    pub dropped_ids: u64,
    /// Batch answers that left out at least one id.
    pub answers_with_dropped_ids: u64,
    /// 401 "token expired".
    pub token_expired: u64,
    /// Credentials refused (401 otherwise, or a refusing envelope code).
    pub auth_rejected: u64,
    /// Logins (tokens being issued).
    pub iam_logins: u64,
}

impl FaultCounts {
    /// Adds `other` into `self`.
    pub fn add(&mut self, o: &FaultCounts) {
        self.requests += o.requests;
        self.ok += o.ok;
        self.error_5xx += o.error_5xx;
        self.throttle += o.throttle;
        self.connection_reset += o.connection_reset;
        self.hang += o.hang;
        self.malformed += o.malformed;
        self.dropped_ids += o.dropped_ids;
        self.answers_with_dropped_ids += o.answers_with_dropped_ids;
        self.token_expired += o.token_expired;
        self.auth_rejected += o.auth_rejected;
        self.iam_logins += o.iam_logins;
    }

    /// Request-level faults injected (dropped ids and token expiry counted apart).
    pub fn request_faults(&self) -> u64 {
        self.error_5xx + self.throttle + self.connection_reset + self.hang + self.malformed
    }
}

struct Shared {
    upstream: String,
    wire: Wire,
    hang_threshold: Duration,
    client: reqwest::Client,
    counts: Mutex<FaultCounts>,
    inflight: AtomicUsize,
}

/// A running proxy; dropping it stops the listener.
pub struct Proxy {
    addr: std::net::SocketAddr,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.server.abort();
    }
}

enum Relay {
    Answer(Response),
    Cut,
}

impl Proxy {
    /// Starts a proxy on loopback in front of `upstream` (a simulated vendor's URL), whose
    /// answers are in the `wire` format. Answers slower than `hang_threshold` count as hangs.
    pub async fn start(upstream: String, wire: Wire, hang_threshold: Duration) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy binds");
        let addr = listener.local_addr().expect("bound address");
        let shared = Arc::new(Shared {
            upstream,
            wire,
            hang_threshold,
            client: reqwest::Client::builder()
                .build()
                .expect("proxy HTTP client"),
            counts: Mutex::new(FaultCounts::default()),
            inflight: AtomicUsize::new(0),
        });
        let app = Router::new().fallback(forward).with_state(shared.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Proxy {
            addr,
            shared,
            server,
        }
    }

    /// The proxy's base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Waits (at most a few seconds) until every forwarded request was answered and
    /// classified — a hung answer arrives after the client gave up on it.
    pub async fn settle(&self) {
        let end = Instant::now() + Duration::from_secs(5);
        while self.shared.inflight.load(Ordering::SeqCst) > 0 && Instant::now() < end {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The counts so far.
    pub fn counts(&self) -> FaultCounts {
        self.shared.counts.lock().unwrap().clone()
    }
}

async fn forward(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 64 << 20)
        .await
        .unwrap_or_default();
    shared.inflight.fetch_add(1, Ordering::SeqCst);
    // Spawned, so that the answer is classified even after the client hung up on it.
    let task = tokio::spawn({
        let shared = shared.clone();
        async move {
            let relay = shared.exchange(parts, body).await;
            shared.inflight.fetch_sub(1, Ordering::SeqCst);
            relay
        }
    });
    match task.await {
        Ok(Relay::Answer(r)) => r,
        _ => cut_response(),
    }
}

/// A response whose body fails at once: hyper then aborts the connection.
fn cut_response() -> Response {
    let stream = futures::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "observing proxy: upstream cut the connection",
        ))
    });
    Response::builder()
        .status(StatusCode::OK)
        .body(Body::from_stream(stream))
        .expect("static response parts")
}

enum Kind {
    Ok,
    Error5xx,
    Throttle,
    Hang,
    Malformed,
    TokenExpired,
    AuthRejected,
}

impl Shared {
    async fn exchange(&self, parts: Parts, body: Bytes) -> Relay {
        let path_and_query = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| "/".into());
        let path = parts.uri.path().to_owned();
        let mut rb = self.client.request(
            parts.method.clone(),
            format!("{}{path_and_query}", self.upstream),
        );
        for (k, v) in &parts.headers {
            if k == CONTENT_LENGTH || k == CONNECTION || k == TRANSFER_ENCODING {
                continue;
            }
            rb = rb.header(k, v);
        }
        let start = Instant::now();
        let answer = match rb.body(body.clone()).send().await {
            Ok(r) => r,
            Err(_) => return self.cut(),
        };
        let status = answer.status();
        let headers = answer.headers().clone();
        let bytes = match answer.bytes().await {
            Ok(b) => b,
            Err(_) => return self.cut(),
        };
        let elapsed = start.elapsed();
        let (kind, dropped) = self.classify(&path, &body, status.as_u16(), &bytes, elapsed);
        {
            let mut c = self.counts.lock().unwrap();
            c.requests += 1;
            let login = self.wire.login_path;
            if !login.is_empty() && path.trim_end_matches('/') == login {
                c.iam_logins += 1;
            }
            match kind {
                Kind::Ok => c.ok += 1,
                Kind::Error5xx => c.error_5xx += 1,
                Kind::Throttle => c.throttle += 1,
                Kind::Hang => c.hang += 1,
                Kind::Malformed => c.malformed += 1,
                Kind::TokenExpired => c.token_expired += 1,
                Kind::AuthRejected => c.auth_rejected += 1,
            }
            c.dropped_ids += dropped;
            if dropped > 0 {
                c.answers_with_dropped_ids += 1;
            }
        }
        let mut resp = Response::builder().status(status);
        for (k, v) in &headers {
            if k == CONTENT_LENGTH || k == CONNECTION || k == TRANSFER_ENCODING {
                continue;
            }
            resp = resp.header(k, v);
        }
        Relay::Answer(resp.body(Body::from(bytes)).expect("relayed parts"))
    }

    fn cut(&self) -> Relay {
        let mut c = self.counts.lock().unwrap();
        c.requests += 1;
        c.connection_reset += 1;
        Relay::Cut
    }

    fn classify(
        &self,
        path: &str,
        request: &[u8],
        status: u16,
        body: &[u8],
        elapsed: Duration,
    ) -> (Kind, u64) {
        if elapsed >= self.hang_threshold {
            return (Kind::Hang, 0);
        }
        if status >= 500 {
            return (Kind::Error5xx, 0);
        }
        let text = String::from_utf8_lossy(body);
        if status == 429 {
            return (Kind::Throttle, 0);
        }
        if status == 401 {
            let expired = self.wire.expired_text;
            return if !expired.is_empty() && text.contains(expired) {
                (Kind::TokenExpired, 0)
            } else {
                (Kind::AuthRejected, 0)
            };
        }
        let json: Option<Value> = serde_json::from_slice(body).ok();
        let Some(json) = json else {
            return if (200..300).contains(&status) {
                (Kind::Malformed, 0)
            } else {
                (Kind::Ok, 0)
            };
        };
        if !self.wire.envelope_code.is_empty() {
            let code = match json.pointer(self.wire.envelope_code) {
                Some(Value::String(s)) => Some(s.clone()),
                Some(Value::Number(n)) => Some(n.to_string()),
                _ => None,
            };
            if let Some(code) = code {
                if self.wire.throttle_codes.contains(&code.as_str()) {
                    return (Kind::Throttle, 0);
                }
                if self.wire.refused_codes.contains(&code.as_str()) {
                    return (Kind::AuthRejected, 0);
                }
            }
        }
        let req: Value = serde_json::from_slice(request).unwrap_or(Value::Null);
        (Kind::Ok, dropped_ids(&self.wire, path, &req, &json))
    }
}

/// The ids of the array at `pointer` in `v`: its strings, or each element's `key`.
fn ids_at(v: &Value, (pointer, key): (&str, &str)) -> Option<Vec<String>> {
    let items = v.pointer(pointer)?.as_array()?;
    Some(
        items
            .iter()
            .filter_map(|x| {
                let x = if key.is_empty() { x } else { &x[key] };
                x.as_str().map(str::to_owned)
            })
            .collect(),
    )
}

/// Ids a batch request asked about that its (well-formed) answer left out.
fn dropped_ids(wire: &Wire, path: &str, req: &Value, answer: &Value) -> u64 {
    let Some(call) = wire.batches.iter().find(|b| path.ends_with(b.path_suffix)) else {
        return 0;
    };
    let mut answered = std::collections::HashSet::new();
    let mut any = false;
    for at in call.answered {
        if let Some(ids) = ids_at(answer, *at) {
            any = true;
            answered.extend(ids);
        }
    }
    if !any {
        return 0;
    }
    let asked: std::collections::HashSet<String> = ids_at(req, call.asked)
        .unwrap_or_default()
        .into_iter()
        .collect();
    asked.iter().filter(|a| !answered.contains(*a)).count() as u64
}
