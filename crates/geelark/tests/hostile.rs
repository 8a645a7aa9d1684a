//! A hostile GeeLark endpoint: redirects, echoed secrets, lost answers, slow bodies, answers
//! that contradict themselves, endless paging, credentials refused mid-batch, and control
//! characters in names. Exact answers come from mockito; misbehaving transports from small
//! HTTP servers on 127.0.0.1 written here, which count every request they read.

mod common;

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cloudphone_core::{
    BatchReport, CloudPhoneProvider, CloudPhoneProviderExt, Error, ErrorKind, ListRequest,
    Operation, PhoneState, ResetOptions, Result, StartOptions,
};
use cloudphone_geelark::{GeelarkConfig, GeelarkProvider};
use common::{envelope, ids, ok};
use futures::TryStreamExt;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

const APP_ID: &str = "hostile-app-id";
const API_KEY: &str = "hostile-api-key-CANARY-4f1e9a";
const TOKEN: &str = "hostile-token-CANARY-77b3c2";

// ---------------------------------------------------------------------------------------------
// A loopback HTTP/1.1 server that does what each test tells it to.

/// One request as the server read it.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    head: String,
    body: String,
}

impl Seen {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// What the server does with a request it has read.
enum Act {
    /// Writes these bytes (a whole response); the connection stays open for the next request.
    Raw(Vec<u8>),
    /// The same, after a pause.
    Later(Duration, Vec<u8>),
    /// Closes the connection without answering.
    Cut,
    /// Writes `head`, then the body one byte every `gap`, at most `bytes` bytes, then closes.
    Trickle {
        head: Vec<u8>,
        bytes: usize,
        gap: Duration,
    },
    /// Writes `head` and `body`, then closes: a body delimited by the end of the connection.
    UntilClose { head: Vec<u8>, body: Vec<u8> },
}

fn response(status: u16, extra_headers: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status} Whatever\r\nContent-Type: application/json\r\n{extra_headers}\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn json_200(body: &str) -> Act {
    Act::Raw(response(200, "", body))
}

type Handler = Arc<dyn Fn(usize, &Seen) -> Act + Send + Sync>;

struct Loopback {
    url: String,
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
    connections: Arc<AtomicUsize>,
    bytes: Arc<Mutex<Vec<u8>>>,
}

impl Loopback {
    /// Serves until the test's runtime ends; `handler` gets the request's number (from 0).
    async fn start(handler: impl Fn(usize, &Seen) -> Act + Send + Sync + 'static) -> Loopback {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = Loopback {
            url: format!("http://127.0.0.1:{port}"),
            port,
            seen: Arc::default(),
            connections: Arc::default(),
            bytes: Arc::default(),
        };
        let handler: Handler = Arc::new(handler);
        let (seen, connections, bytes) = (
            server.seen.clone(),
            server.connections.clone(),
            server.bytes.clone(),
        );
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                connections.fetch_add(1, Ordering::SeqCst);
                let (handler, seen, bytes) = (handler.clone(), seen.clone(), bytes.clone());
                tokio::spawn(serve(stream, handler, seen, bytes));
            }
        });
        server
    }

    fn requests(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// Reads one request (head and `Content-Length` body) from `buf` + `stream`; `None` at the end
/// of the connection or on anything unreasonable.
async fn read_request(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    raw: &Mutex<Vec<u8>>,
) -> Option<Seen> {
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > 1 << 20 {
            return None;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        raw.lock().unwrap().extend_from_slice(&chunk[..n]);
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())
                .flatten()
        })
        .unwrap_or(0);
    if length > 1 << 20 {
        return None;
    }
    while buf.len() < head_end + length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        raw.lock().unwrap().extend_from_slice(&chunk[..n]);
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = String::from_utf8_lossy(&buf[head_end..head_end + length]).into_owned();
    buf.drain(..head_end + length);
    let path = head.split(' ').nth(1).unwrap_or("").to_owned();
    Some(Seen { path, head, body })
}

async fn serve(
    mut stream: TcpStream,
    handler: Handler,
    seen: Arc<Mutex<Vec<Seen>>>,
    raw: Arc<Mutex<Vec<u8>>>,
) {
    let mut buf = Vec::new();
    while let Some(request) = read_request(&mut stream, &mut buf, &raw).await {
        let n = {
            let mut all = seen.lock().unwrap();
            all.push(request.clone());
            all.len() - 1
        };
        match handler(n, &request) {
            Act::Raw(bytes) => {
                if stream.write_all(&bytes).await.is_err() {
                    return;
                }
            }
            Act::Later(pause, bytes) => {
                tokio::time::sleep(pause).await;
                if stream.write_all(&bytes).await.is_err() {
                    return;
                }
            }
            Act::Cut => return,
            Act::Trickle { head, bytes, gap } => {
                if stream.write_all(&head).await.is_err() {
                    return;
                }
                for _ in 0..bytes {
                    tokio::time::sleep(gap).await;
                    if stream.write_all(b" ").await.is_err() {
                        return;
                    }
                }
                return;
            }
            Act::UntilClose { head, body } => {
                let _ = stream.write_all(&head).await;
                let _ = stream.write_all(&body).await;
                let _ = stream.shutdown().await;
                return;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Providers and helpers.

/// Key verification against `url`, no client-side rate limit, two quick retries.
fn key_config(url: &str) -> GeelarkConfig {
    GeelarkConfig::with_api_key(APP_ID, API_KEY)
        .base_url(url)
        .rate_limits(0, 0)
        .retries(2, 1, 2)
}

fn token_config(url: &str) -> GeelarkConfig {
    GeelarkConfig::with_token(TOKEN)
        .base_url(url)
        .rate_limits(0, 0)
        .retries(2, 1, 2)
}

fn provider(config: GeelarkConfig) -> GeelarkProvider {
    GeelarkProvider::new(config).unwrap()
}

/// The state-changing operations.
const CHANGES: [Operation; 4] = [
    Operation::Stop,
    Operation::Start,
    Operation::Restart,
    Operation::Reset,
];

async fn run(p: &GeelarkProvider, op: Operation, phones: &[&str]) -> Result<BatchReport> {
    let phones = ids(phones);
    match op {
        Operation::Status => p.status(&phones).await,
        Operation::Stop => p.stop(&phones).await,
        Operation::Start => p.start(&phones, &StartOptions::default()).await,
        Operation::Restart => p.restart(&phones).await,
        Operation::Reset => p.reset(&phones, &ResetOptions::default()).await,
        other => panic!("{other} is not a batch operation"),
    }
}

/// An answer accepting phone `id` for `op`.
fn accepted(op: Operation, id: &str) -> String {
    match op {
        Operation::Restart | Operation::Reset => ok(Value::Null),
        Operation::Status => ok(json!({"successDetails": [{"id": id, "status": 2}]})),
        _ => ok(json!({"successDetails": [{"id": id, "status": 1}], "failDetails": []})),
    }
}

fn shown(e: &Error) -> String {
    format!("{e} | {e:?}")
}

/// Everything written by a tracing subscriber.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Capture {
        self.clone()
    }
}

impl Capture {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// Runs `fut` with every tracing event, down to TRACE, written into the returned capture.
/// (Current-thread tests: the thread-local subscriber sees every task of the test.)
async fn logged<T>(fut: impl Future<Output = T>) -> (T, String) {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(capture.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let out = fut.await;
    (out, capture.text())
}

// ---------------------------------------------------------------------------------------------
// 1. Redirects are never followed.

#[tokio::test]
async fn a_redirect_is_an_error_naming_it_and_nothing_reaches_its_target() {
    for code in [301u16, 302, 307, 308] {
        // The redirect target records whatever reaches it.
        let target = Loopback::start(|_, _| json_200(&ok(Value::Null))).await;
        let location = format!("http://127.0.0.1:{}/steal?appId=x#frag", target.port);
        let to = location.clone();
        let endpoint = Loopback::start(move |_, _| {
            Act::Raw(response(code, &format!("Location: {to}\r\n"), ""))
        })
        .await;

        for config in [key_config(&endpoint.url), token_config(&endpoint.url)] {
            let p = provider(config);
            let before = endpoint.requests();
            let report = p.stop(&ids(&["1", "2"])).await.unwrap();
            assert_eq!(
                endpoint.requests() - before,
                1,
                "{code}: the stop is sent once"
            );
            for o in &report.outcomes {
                // The endpoint pointed elsewhere: it did not act, so the stop failed (not unknown).
                let e = o.error().unwrap_or_else(|| panic!("{code}: {o:?}"));
                assert_eq!(e.kind(), ErrorKind::InvalidResponse);
                assert!(e.is_not_applied() && !e.is_temporary(), "{code}: {e:?}");
                let s = e.to_string();
                assert!(s.contains(&code.to_string()), "{s}");
                assert!(s.contains(&format!("127.0.0.1:{}", target.port)), "{s}");
                assert!(
                    !s.contains("steal"),
                    "the Location's path is not repeated: {s}"
                );
                assert_eq!(e.endpoint(), Some("/open/v1/phone/stop"));
            }
            let before = endpoint.requests();
            let report = p.status(&ids(&["1"])).await.unwrap();
            assert!(report.outcomes[0].error().is_some());
            assert_eq!(
                endpoint.requests() - before,
                1,
                "{code}: a redirect is not retried"
            );
            for r in [
                p.restart(&ids(&["1"])).await,
                p.reset(&ids(&["2"]), &ResetOptions::default()).await,
            ] {
                let r = r.unwrap();
                assert_eq!(
                    r.outcomes[0].error().unwrap().kind(),
                    ErrorKind::InvalidResponse
                );
            }
            let e = p.list_page(&ListRequest::default()).await.unwrap_err();
            assert!(e.to_string().contains(&code.to_string()), "{e}");
            let e = p.check_auth().await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidResponse);
        }
        // Nothing left for the target: no connection, not a byte (no appId, sign, ts or token).
        assert_eq!(target.connections.load(Ordering::SeqCst), 0, "{code}");
        assert!(target.bytes.lock().unwrap().is_empty());
        assert_eq!(target.requests(), 0);
        // Every request the endpoint saw was a first attempt, each one signed once.
        for s in endpoint.seen() {
            assert!(s.head.starts_with("POST "), "{}", s.head);
        }
        assert_eq!(endpoint.requests(), 2 * 6, "{code}");
    }
}

// ---------------------------------------------------------------------------------------------
// 2. Secrets a vendor echoes are redacted everywhere: outcomes, errors, logs.

#[tokio::test] // current-thread: the thread-local subscriber sees every task
async fn echoed_secrets_are_redacted_in_outcomes_errors_and_logs() {
    let mut server = mockito::Server::new_async().await;
    let echo = format!("key {API_KEY} token {TOKEN}");
    let mocks = [
        // Request-level messages.
        server
            .mock("POST", "/open/v1/phone/status")
            .with_body(envelope(
                40004,
                &format!("bad request: {echo}"),
                Value::Null,
            ))
            .create_async()
            .await,
        // Throttling, so that the retry path logs the message too.
        server
            .mock("POST", "/open/v1/phone/start")
            .with_body(envelope(40007, &format!("slow down, {echo}"), Value::Null))
            .expect(3)
            .create_async()
            .await,
        // Per-phone failure messages, next to an accepted phone.
        server
            .mock("POST", "/open/v1/phone/stop")
            .with_body(ok(json!({
                "successDetails": [{"id": "ok", "status": 1}],
                "failDetails": [
                    {"id": "1", "code": 43006, "msg": format!("remote session of {API_KEY}")},
                    {"id": 2, "code": 49999, "msg": format!("who is {TOKEN}?")},
                ],
            })))
            .create_async()
            .await,
        server
            .mock("POST", "/open/v2/phone/newOne")
            .with_body(envelope(43011, &format!("busy: {echo}"), Value::Null))
            .create_async()
            .await,
        // The credential refusal, logged by the engine when it arrives.
        server
            .mock("POST", "/open/v1/phone/restart")
            .with_body(envelope(40003, &format!("invalid: {echo}"), Value::Null))
            .create_async()
            .await,
    ];

    let (all, logs) = logged(async {
        // Both secrets configured: key verification is used, the token is scrubbed all the same.
        let mut config = GeelarkConfig::with_api_key(APP_ID, API_KEY)
            .base_url(server.url())
            .rate_limits(0, 0)
            .retries(2, 1, 2);
        config.token = Some(TOKEN.into());
        let p = provider(config);
        let mut all = String::new();
        let mut errors: Vec<Error> = Vec::new();

        let r = p.status(&ids(&["1"])).await.unwrap();
        errors.push(r.outcomes[0].error().expect("status refused").clone());
        let r = p
            .start(&ids(&["1"]), &StartOptions::default())
            .await
            .unwrap();
        let e = r.outcomes[0].error().expect("throttled start").clone();
        assert_eq!(e.attempts(), 3, "{e:?}");
        errors.push(e);
        let r = p.stop(&ids(&["ok", "1", "2"])).await.unwrap();
        assert!(r.outcomes[0].is_pending());
        errors.extend(r.outcomes[1..].iter().map(|o| o.error().unwrap().clone()));
        let r = p
            .reset(&ids(&["1"]), &ResetOptions::default())
            .await
            .unwrap();
        errors.push(r.outcomes[0].error().unwrap().clone());
        errors.push(p.restart(&ids(&["1"])).await.unwrap_err());
        // After the refusal: not sent, but the refusal's message is quoted.
        errors.push(p.list_page(&ListRequest::default()).await.unwrap_err());
        errors.push(p.stop(&ids(&["1"])).await.unwrap_err());
        for e in &errors {
            let s = shown(e);
            assert!(s.contains("[redacted]"), "{s}");
            all.push_str(&s);
            all.push('\n');
        }
        all.push_str(&format!("{r:?}"));

        // A token-only provider whose token is echoed by the check.
        let mut server2 = mockito::Server::new_async().await;
        server2
            .mock("POST", "/open/v1/auth/status")
            .with_body(envelope(
                40003,
                &format!("token {TOKEN} invalid"),
                Value::Null,
            ))
            .expect(1)
            .create_async()
            .await;
        let p2 = provider(token_config(&server2.url()));
        let e = p2.check_auth().await.unwrap_err();
        assert!(shown(&e).contains("[redacted]"), "{e:?}");
        all.push_str(&shown(&e));
        let e = p2.check_auth().await.unwrap_err();
        all.push_str(&shown(&e));
        all
    })
    .await;
    for m in &mocks {
        m.assert_async().await;
    }
    for secret in [API_KEY, TOKEN] {
        assert!(!all.contains(secret), "outcomes and errors: {all}");
        assert!(!logs.contains(secret), "logs: {logs}");
    }
    // The log did see the vendor's words (scrubbed), so the assertion above is not vacuous.
    assert!(logs.contains("credentials refused"), "{logs}");
    assert!(
        logs.contains("retrying") && logs.contains("[redacted]"),
        "{logs}"
    );
}

// ---------------------------------------------------------------------------------------------
// 3. Lost answers: unknown for state changes (never re-sent), failures retried for status.

/// The ways an answer is lost after the request was read.
#[derive(Debug, Clone, Copy)]
enum Lost {
    ServerError,
    Cut,
    Undecodable,
    Oversized,
    OversizedUntilClose,
}

impl Lost {
    const ALL: [Lost; 5] = [
        Lost::ServerError,
        Lost::Cut,
        Lost::Undecodable,
        Lost::Oversized,
        Lost::OversizedUntilClose,
    ];

    fn act(self) -> Act {
        // A valid, accepting envelope, too long to be read: only the cap can refuse it.
        let big = format!(r#"{{"code":0,"msg":"{}","data":null}}"#, "x".repeat(4096));
        match self {
            Lost::ServerError => Act::Raw(response(500, "", "internal error")),
            Lost::Cut => Act::Cut,
            Lost::Undecodable => json_200("<html>upstream exploded</html>"),
            Lost::Oversized => json_200(&big),
            Lost::OversizedUntilClose => Act::UntilClose {
                head: b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
                    .to_vec(),
                body: big.into_bytes(),
            },
        }
    }

    fn kind(self) -> ErrorKind {
        match self {
            Lost::ServerError | Lost::Cut => ErrorKind::Unavailable,
            _ => ErrorKind::InvalidResponse,
        }
    }

    /// Whether a read is retried after it: a too large answer would be as large again.
    fn retried_for_reads(self) -> bool {
        !matches!(self, Lost::Oversized | Lost::OversizedUntilClose)
    }
}

#[tokio::test]
async fn a_lost_answer_leaves_a_state_change_unknown_and_is_never_resent() {
    for lost in Lost::ALL {
        for op in CHANGES {
            let server = Loopback::start(move |_, _| lost.act()).await;
            let p = provider(key_config(&server.url).max_body_bytes(1024));
            let report = run(&p, op, &["1"]).await.unwrap();
            let o = &report.outcomes[0];
            assert!(o.is_unknown(), "{lost:?} {op}: {o:?}");
            let e = o.cause().unwrap();
            assert_eq!(e.kind(), lost.kind(), "{lost:?} {op}: {e:?}");
            assert!(e.may_have_applied(), "{lost:?} {op}");
            assert_eq!(server.requests(), 1, "{lost:?} {op}: sent exactly once");
        }
    }
}

#[tokio::test]
async fn a_lost_answer_to_status_is_a_failure_retried_as_before() {
    for lost in Lost::ALL {
        let server = Loopback::start(move |_, _| lost.act()).await;
        let p = provider(key_config(&server.url).max_body_bytes(1024));
        let report = p.status(&ids(&["1"])).await.unwrap();
        let e = report.outcomes[0]
            .error()
            .unwrap_or_else(|| panic!("{lost:?}: {report:?}"));
        assert_eq!(e.kind(), lost.kind(), "{lost:?}: {e:?}");
        let expected = if lost.retried_for_reads() { 3 } else { 1 };
        assert_eq!(server.requests(), expected, "{lost:?}");
        if expected > 1 {
            assert_eq!(e.attempts(), 3, "{lost:?}: {e}");
        }
    }
}

#[tokio::test]
async fn a_lost_answer_becomes_accepted_when_the_vendor_answers_the_retry_of_a_read() {
    // The first status answer is cut, the second is whole: a read recovers.
    let server = Loopback::start(|n, s| match n {
        0 => Act::Cut,
        _ => json_200(&accepted(
            Operation::Status,
            s.json()["ids"][0].as_str().unwrap(),
        )),
    })
    .await;
    let p = provider(key_config(&server.url));
    let report = p.status(&ids(&["7"])).await.unwrap();
    assert!(report.all_done(), "{report:?}");
    assert_eq!(server.requests(), 2);
}

// ---------------------------------------------------------------------------------------------
// 4. A body trickling in slower than the timeout ends the call at the timeout.

#[tokio::test]
async fn a_trickling_body_ends_at_the_timeout() {
    let trickle = || Act::Trickle {
        head: b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n"
            .to_vec(),
        // 40 s of body at 100 ms a byte; the client gives up after 1 s.
        bytes: 400,
        gap: Duration::from_millis(100),
    };
    let server = Loopback::start(move |_, _| trickle()).await;
    let p = provider(key_config(&server.url).timeouts(1, 1));

    let started = Instant::now();
    let report = p.stop(&ids(&["1"])).await.unwrap();
    let took = started.elapsed();
    assert!(took < Duration::from_millis(2_500), "stop took {took:?}");
    let o = &report.outcomes[0];
    assert!(o.is_unknown(), "sent, answer lost: {o:?}");
    assert_eq!(o.cause().unwrap().kind(), ErrorKind::Timeout);
    assert_eq!(server.requests(), 1);

    let p = provider(key_config(&server.url).timeouts(1, 1).retries(1, 1, 2));
    let started = Instant::now();
    let report = p.status(&ids(&["1"])).await.unwrap();
    let took = started.elapsed();
    assert!(took < Duration::from_millis(4_500), "status took {took:?}");
    let e = report.outcomes[0].error().unwrap();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e:?}");
    assert_eq!(server.requests(), 1 + 2, "the read is retried once");

    let started = Instant::now();
    let e = p.list_page(&ListRequest::default()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout);
    assert!(started.elapsed() < Duration::from_millis(4_500));
}

// ---------------------------------------------------------------------------------------------
// 5. An answer that lists a phone twice, or phones not asked for.

#[tokio::test]
async fn a_phone_listed_twice_keeps_what_the_vendor_accepted() {
    let mut server = mockito::Server::new_async().await;
    server
        .mock("POST", "/open/v1/phone/stop")
        .with_body(ok(json!({
            "failDetails": [
                {"id": "1", "code": 42001, "msg": "not found"},
                {"id": "2", "code": 43006, "msg": "remote"},
                {"id": "3", "code": 43006, "msg": "remote"},
                {"id": "3", "code": 42001, "msg": "not found"},
                {"id": "not-asked", "code": 42001, "msg": "who?"},
            ],
            "successDetails": [
                {"id": "1", "serialName": "one", "status": 1},
                {"id": 2, "status": 2},
                {"id": "2", "status": 0},
                {"id": "also-not-asked", "status": 2},
            ],
        })))
        .expect(1)
        .create_async()
        .await;
    server
        .mock("POST", "/open/v1/phone/start")
        .with_body(ok(json!({
            "failDetails": [
                {"id": "a", "code": 42001, "msg": "not found"},
                {"id": "a", "code": 43009, "msg": "already started"},
            ],
            "successDetails": [],
        })))
        .expect(1)
        .create_async()
        .await;
    let p = provider(key_config(&server.url()));
    let report = p.stop(&ids(&["1", "2", "3"])).await.unwrap();
    assert_eq!(report.outcomes.len(), 3, "{report:?}");
    assert!(report.stray_jobs.is_empty());
    // Listed as failed and as accepted: accepted, with what the accepted entry said.
    let one = &report.outcomes[0];
    assert!(one.is_pending(), "{one:?}");
    assert_eq!(one.name.as_deref(), Some("one"));
    // Accepted twice: the first entry (already stopped) stands.
    assert!(report.outcomes[1].is_done(), "{:?}", report.outcomes[1]);
    assert_eq!(report.outcomes[1].phone_state(), Some(PhoneState::Stopped));
    // Failed twice: the first failure stands.
    let e = report.outcomes[2].error().unwrap();
    assert_eq!(e.vendor_code(), Some("43006"));
    let listed: Vec<&str> = report.outcomes.iter().map(|o| o.phone.as_str()).collect();
    assert_eq!(listed, ["1", "2", "3"]);

    // A start refused and "already started" for the same phone: the goal is reached.
    let report = p
        .start(&ids(&["a"]), &StartOptions::default())
        .await
        .unwrap();
    assert!(report.outcomes[0].is_done(), "{report:?}");
}

// ---------------------------------------------------------------------------------------------
// 6. Paging ends, whatever `total` claims.

/// A list server: `items(page)` gives the ids of a page, `total` is what it claims.
async fn list_server(
    total: Option<u64>,
    items: impl Fn(u64) -> Vec<String> + Send + Sync + 'static,
) -> Loopback {
    Loopback::start(move |_, s| {
        assert_eq!(s.path, "/open/v1/phone/list");
        let page = s.json()["page"].as_u64().unwrap();
        let items: Vec<Value> = items(page)
            .into_iter()
            .map(|id| json!({"id": id, "serialName": id, "status": 0}))
            .collect();
        let mut data = json!({"page": page, "pageSize": 100, "items": items});
        if let Some(t) = total {
            data["total"] = json!(t);
        }
        json_200(&ok(data))
    })
    .await
}

fn full_page(prefix: &str) -> Vec<String> {
    (0..100).map(|i| format!("{prefix}{i}")).collect()
}

#[tokio::test]
async fn a_vendor_repeating_its_page_forever_costs_two_calls() {
    for total in [Some(1_000_000_000_000), None] {
        let server = list_server(total, |_| full_page("p")).await;
        let p = provider(key_config(&server.url));
        let all: Vec<_> = p.list(Some(100)).try_collect().await.unwrap();
        assert_eq!(
            all.len(),
            100,
            "{total:?}: the repeated page is not listed twice"
        );
        assert_eq!(server.requests(), 2, "{total:?}");
    }
    // The same phones in another order are the same page.
    let server = list_server(Some(1_000_000), |page| {
        let mut ids = full_page("p");
        if page % 2 == 0 {
            ids.reverse();
        }
        ids
    })
    .await;
    let p = provider(key_config(&server.url));
    let all: Vec<_> = p.list(Some(100)).try_collect().await.unwrap();
    assert_eq!((all.len(), server.requests()), (100, 2));
}

#[tokio::test]
async fn no_page_is_read_beyond_what_the_vendors_total_allows() {
    // Full pages of new phones forever, but `total` says 150: two pages.
    let server = list_server(Some(150), |page| full_page(&format!("p{page}-"))).await;
    let p = provider(key_config(&server.url));
    let all: Vec<_> = p.list(Some(100)).try_collect().await.unwrap();
    assert_eq!(server.requests(), 2);
    assert_eq!(all.len(), 200);
    // An empty page ends a listing whatever `total` claims.
    let server = list_server(Some(1_000_000_000_000), |page| {
        if page < 3 {
            full_page(&format!("p{page}-"))
        } else {
            Vec::new()
        }
    })
    .await;
    let p = provider(key_config(&server.url));
    let all: Vec<_> = p.list(Some(100)).try_collect().await.unwrap();
    assert_eq!((all.len(), server.requests()), (200, 3));
}

#[tokio::test]
async fn an_endless_total_with_ever_new_phones_is_cut_off_at_a_million_phones() {
    // The cursor past the cap is refused without a call; the last page within it is read.
    let server = list_server(Some(1_000_000_000_000), |page| {
        full_page(&format!("p{page}-"))
    })
    .await;
    let p = provider(key_config(&server.url));
    let e = p
        .list_page(
            &ListRequest::default()
                .page_size(100)
                .cursor(Some("10001".into())),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidResponse);
    assert!(e.message().contains("endless"), "{e}");
    assert_eq!(server.requests(), 0, "nothing sent past the cap");
    let last = p
        .list_page(
            &ListRequest::default()
                .page_size(100)
                .cursor(Some("10000".into())),
        )
        .await
        .unwrap();
    assert_eq!(server.requests(), 1);
    let next = last.next.unwrap();
    assert!(next.starts_with("10001."), "{next}");
    let e = p
        .list_page(&ListRequest::default().page_size(100).cursor(Some(next)))
        .await
        .unwrap_err();
    assert!(e.message().contains("endless"), "{e}");
    assert_eq!(server.requests(), 1);
    // Smaller pages reach the same cap in phones, not in pages.
    p.list_page(
        &ListRequest::default()
            .page_size(10)
            .cursor(Some("100000".into())),
    )
    .await
    .unwrap();
    assert!(p
        .list_page(
            &ListRequest::default()
                .page_size(10)
                .cursor(Some("100001".into()))
        )
        .await
        .is_err());
    assert_eq!(server.requests(), 2);
}

#[tokio::test]
async fn the_whole_endless_listing_costs_a_bounded_number_of_calls() {
    let server = list_server(Some(1_000_000_000_000), |page| {
        full_page(&format!("p{page}-"))
    })
    .await;
    // The default cap (a million phones) is 10,000 calls; a smaller one shows the whole path.
    let p = GeelarkProvider::builder(key_config(&server.url))
        .max_listed(1_050)
        .build()
        .unwrap();
    let mut stream = p.list(Some(100));
    let mut phones = 0usize;
    let mut error = None;
    while let Some(item) = stream.try_next().await.transpose() {
        match item {
            Ok(_) => phones += 1,
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    // 1,050 phones allow 11 pages of 100: the twelfth is refused unsent.
    assert_eq!(server.requests(), 11);
    assert_eq!(phones, 1_100);
    let e = error.expect("the listing ends with an error, not silently");
    assert!(e.message().contains("endless"), "{e}");
}

// ---------------------------------------------------------------------------------------------
// 7. Credentials refused mid-batch: nothing more is sent, now or later.

#[tokio::test]
async fn a_refusal_mid_batch_stops_every_later_request() {
    // Resets one phone per call, four at a time. `p1` is refused a moment after the four
    // arrive; the others would be accepted much later.
    let server = Loopback::start(|_, s| {
        let body = s.json();
        if s.path == "/open/v1/phone/status" {
            return json_200(&accepted(
                Operation::Status,
                body["ids"][0].as_str().unwrap(),
            ));
        }
        match body["id"].as_str() {
            Some("p1") => Act::Later(
                Duration::from_millis(300),
                response(
                    200,
                    "",
                    &envelope(40003, "signature verification failed", Value::Null),
                ),
            ),
            _ => Act::Later(
                Duration::from_millis(3_000),
                response(200, "", &ok(Value::Null)),
            ),
        }
    })
    .await;
    let p = provider(key_config(&server.url).concurrency(4));
    // Proves the credentials, so that the reset fans out at once.
    assert!(p.status(&ids(&["p0"])).await.unwrap().all_done());
    let phones: Vec<String> = (0..10).map(|i| format!("p{i}")).collect();
    let phones: Vec<&str> = phones.iter().map(String::as_str).collect();
    let started = Instant::now();
    let report = run(&p, Operation::Reset, &phones).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(2_500),
        "in-flight requests are abandoned"
    );
    let resets: Vec<String> = server.seen()[1..]
        .iter()
        .map(|s| s.json()["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(resets.len(), 4, "only the four in flight: {resets:?}");
    let s = report.summary();
    assert_eq!((s.unknown, s.failed), (3, 7), "{report:?}");
    for o in &report.outcomes {
        if resets.contains(&o.phone.to_string()) && o.phone.as_str() != "p1" {
            assert!(o.is_unknown(), "in flight, may have been applied: {o:?}");
        } else {
            assert!(o.error().unwrap().kind().is_auth(), "{o:?}");
        }
    }
    let refused = report.outcomes[1].error().unwrap();
    assert_eq!(refused.vendor_code(), Some("40003"));

    // Later calls on the provider send nothing and fail with the refusal.
    let before = server.requests();
    for op in [Operation::Stop, Operation::Status, Operation::Restart] {
        let e = run(&p, op, &["p0", "p1"]).await.unwrap_err();
        assert!(e.kind().is_auth(), "{op}: {e}");
        assert!(e.message().starts_with("not sent"), "{op}: {e}");
        assert_eq!(e.vendor_code(), Some("40003"));
    }
    assert!(p
        .list_page(&ListRequest::default())
        .await
        .unwrap_err()
        .kind()
        .is_auth());
    assert!(p.check_auth().await.unwrap_err().kind().is_auth());
    assert_eq!(server.requests(), before, "nothing sent after the refusal");
}

#[tokio::test]
async fn a_refusal_of_a_later_chunk_keeps_the_accepted_chunk_and_sends_no_more() {
    // Stops in chunks of two, one at a time: the first chunk is accepted, the second gets a
    // bare HTTP 401 (no envelope).
    let server = Loopback::start(|n, s| match n {
        0 => {
            let ids = s.json()["ids"].clone();
            let details: Vec<Value> = ids
                .as_array()
                .unwrap()
                .iter()
                .map(|id| json!({"id": id, "status": 1}))
                .collect();
            json_200(&ok(json!({"successDetails": details})))
        }
        _ => Act::Raw(response(401, "", "")),
    })
    .await;
    let p = provider(key_config(&server.url).batch_size(2).concurrency(1));
    let phones: Vec<String> = (0..10).map(|i| format!("p{i}")).collect();
    let phones: Vec<&str> = phones.iter().map(String::as_str).collect();
    let report = run(&p, Operation::Stop, &phones).await.unwrap();
    assert_eq!(server.requests(), 2);
    let s = report.summary();
    assert_eq!((s.pending, s.failed, s.unknown), (2, 8, 0), "{report:?}");
    assert!(report.outcomes[2].error().unwrap().kind().is_auth());
    // A second stop and a status send nothing.
    assert!(run(&p, Operation::Stop, &["p0"])
        .await
        .unwrap_err()
        .kind()
        .is_auth());
    assert!(run(&p, Operation::Status, &["p0"])
        .await
        .unwrap_err()
        .kind()
        .is_auth());
    assert_eq!(server.requests(), 2);
}

#[tokio::test]
async fn a_refused_check_auth_or_listing_is_remembered_too() {
    for code in [40003, 40013] {
        let server = Loopback::start(move |_, _| {
            json_200(&envelope(code, "no such user or bad token", Value::Null))
        })
        .await;
        let p = provider(token_config(&server.url));
        let e = p.check_auth().await.unwrap_err();
        assert_eq!(e.vendor_code(), Some(code.to_string().as_str()));
        assert_eq!(server.requests(), 1, "a refusal is not retried");
        assert!(p
            .list_page(&ListRequest::default())
            .await
            .unwrap_err()
            .kind()
            .is_auth());
        assert!(run(&p, Operation::Reset, &["1", "2"])
            .await
            .unwrap_err()
            .kind()
            .is_auth());
        assert_eq!(
            server.requests(),
            1,
            "{code}: nothing sent after the refusal"
        );
    }
    // A refused listing, then a stop.
    let server = Loopback::start(|_, _| Act::Raw(response(401, "", ""))).await;
    let p = provider(key_config(&server.url));
    assert!(p
        .list_page(&ListRequest::default())
        .await
        .unwrap_err()
        .kind()
        .is_auth());
    assert!(run(&p, Operation::Stop, &["1"])
        .await
        .unwrap_err()
        .kind()
        .is_auth());
    assert_eq!(server.requests(), 1);
}

// ---------------------------------------------------------------------------------------------
// 8. Names with control characters are kept verbatim (the CLI escapes them on print).

#[tokio::test]
async fn names_with_escape_sequences_decode_verbatim() {
    let name = "evil\u{1b}[2J\u{1b}]0;title\u{7}\r\nline two\u{0}nul\u{9b}31m";
    let mut server = mockito::Server::new_async().await;
    server
        .mock("POST", "/open/v1/phone/status")
        .with_body(ok(
            json!({"successDetails": [{"id": "1", "serialName": name, "status": 0}]}),
        ))
        .create_async()
        .await;
    server
        .mock("POST", "/open/v1/phone/list")
        .with_body(ok(json!({"total": 1, "items": [
            {"id": "1", "serialName": name, "status": 0, "remark": name},
        ]})))
        .create_async()
        .await;
    server
        .mock("POST", "/open/v1/phone/stop")
        .with_body(ok(
            json!({"failDetails": [{"id": "1", "code": 43006, "msg": name}]}),
        ))
        .create_async()
        .await;
    let p = provider(key_config(&server.url()));
    let report = p.status(&ids(&["1"])).await.unwrap();
    assert_eq!(report.outcomes[0].name.as_deref(), Some(name));
    let page = p.list_page(&ListRequest::default()).await.unwrap();
    assert_eq!(page.phones[0].name.as_deref(), Some(name));
    assert_eq!(page.phones[0].extra["remark"], name);
    let report = p.stop(&ids(&["1"])).await.unwrap();
    assert_eq!(report.outcomes[0].error().unwrap().message(), name);
    // Displaying them does not panic either.
    let _ = format!(
        "{report:?} {page:?} {}",
        report.outcomes[0].error().unwrap()
    );
}
