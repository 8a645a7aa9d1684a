//! A hostile or broken vendor, on real loopback servers: redirects, echoed secrets, lost
//! answers, contradictory and stray jobs, listings that skip phones, repeat pages or lie about
//! their totals, credentials refused in the middle of things, and names full of escape codes.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cloudphone_core::{
    BatchReport, CloudPhoneProvider, CloudPhoneProviderExt, ErrorKind, JobRef, JobState,
    ListRequest, Operation, PhoneId, PhoneOutcome, PhoneState, ResetOptions, StartOptions,
    WaitOptions,
};
use cloudphone_huawei_cph::{HuaweiCphConfig, HuaweiCphProvider, StatusStrategy};
use common::raw::{iam_ok, json, serve, Reply, Req, Server};
use common::*;
use futures::StreamExt;

const SK: &str = "SK-hostile-secret-key-0123456789";
const STS: &str = "STS-hostile-security-token-0123456789";
const PASSWORD: &str = "PW-hostile-password-0123456789";
const IAM_TOKEN: &str = "IAM-ISSUED-hostile-token-0123456789";

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Token,
    AkSk,
    Iam,
}

impl Mode {
    const ALL: [Mode; 3] = [Mode::Token, Mode::AkSk, Mode::Iam];

    /// The secrets a provider of this mode knows (and must never show).
    fn secrets(self) -> Vec<&'static str> {
        match self {
            Mode::Token => vec![TOKEN],
            Mode::AkSk => vec![SK, STS],
            Mode::Iam => vec![PASSWORD, IAM_TOKEN],
        }
    }
}

fn cfg(mode: Mode, server: &Server) -> HuaweiCphConfig {
    let c = config(&server.url());
    match mode {
        Mode::Token => c.with_token(TOKEN.to_owned().into()),
        Mode::AkSk => c
            .with_access_key("AK-hostile", SK.to_owned().into())
            .with_security_token(STS.to_owned().into()),
        Mode::Iam => c.with_iam_endpoint(server.url()).with_password(
            "alice",
            PASSWORD.to_owned().into(),
            "acct",
        ),
    }
}

fn provider(mode: Mode, server: &Server) -> HuaweiCphProvider {
    HuaweiCphProvider::new(cfg(mode, server)).unwrap()
}

fn is_login(r: &Req) -> bool {
    r.is("POST", "/v3/auth/tokens")
}

fn is_cph(r: &Req) -> bool {
    r.path().starts_with(BASE)
}

fn fast_wait() -> WaitOptions {
    WaitOptions::default()
        .poll_interval(Duration::from_millis(5))
        .timeout(Duration::from_secs(10))
}

const EXPIRED: &str = r#"{"error_code":"APIGW.0307","error_msg":"The token must be updated."}"#;
const BAD_AKSK: &str = r#"{"error_code":"APIGW.0301","error_msg":"Incorrect IAM authentication information: verify aksk signature fail"}"#;

// ---------------------------------------------------------------------------------------------
// 1. Redirects are never followed

#[tokio::test]
async fn a_cph_redirect_is_an_error_and_nothing_reaches_its_target() {
    for mode in Mode::ALL {
        let target = serve(|_, _| async { json(200, r#"{"jobs":[]}"#) }).await;
        let location = format!("{}/steal?x=1", target.url());
        let origin = serve(move |req, _| {
            let location = location.clone();
            async move {
                if is_login(&req) {
                    return iam_ok(IAM_TOKEN);
                }
                Reply::With(307, vec![("Location".into(), location)], Vec::new())
            }
        })
        .await;
        let p = provider(mode, &origin);
        let r = p
            .reset(&ids(&["a", "b"]), &ResetOptions::default())
            .await
            .unwrap();
        for o in &r.outcomes {
            // The endpoint pointed elsewhere: it did not act, so failed (not unknown).
            let e = o.error().unwrap_or_else(|| panic!("{mode:?}: {o:?}"));
            let shown = e.to_string();
            assert!(
                shown.contains("307") && shown.contains(&target.host()),
                "{mode:?}: {shown}"
            );
            assert!(!shown.contains("steal"), "{shown}");
            assert!(e.is_not_applied());
        }
        let s = p.status(&ids(&["a"])).await.unwrap();
        assert!(s.outcomes[0].error().unwrap().to_string().contains("307"));
        // The POST went out once (never re-sent to the Location), and nothing reached it.
        assert_eq!(
            origin.count(|r| r.is("POST", "/phones/batch-reset")),
            1,
            "{mode:?}"
        );
        assert!(
            target.requests().is_empty(),
            "{mode:?}: {:?}",
            target.requests()
        );
    }
}

#[tokio::test]
async fn an_iam_redirect_is_an_error_and_the_password_goes_nowhere_else() {
    let target = serve(|_, _| async { iam_ok("STOLEN-token-0123456789") }).await;
    let location = format!("{}/v3/auth/tokens", target.url());
    let origin = serve(move |_, _| {
        let location = location.clone();
        async move { Reply::With(302, vec![("Location".into(), location)], Vec::new()) }
    })
    .await;
    let p = provider(Mode::Iam, &origin);
    let r = p
        .reset(&ids(&["a", "b"]), &ResetOptions::default())
        .await
        .unwrap();
    for o in &r.outcomes {
        let e = o.error().unwrap_or_else(|| panic!("{o:?}"));
        assert!(
            e.to_string().contains("302") && e.to_string().contains(&target.host()),
            "{e}"
        );
        // Nothing reached CPH: even a reset could be sent again safely.
        assert!(e.is_not_applied());
    }
    assert_eq!(origin.count(is_login), 1);
    assert_eq!(origin.count(is_cph), 0);
    assert!(target.requests().is_empty(), "{:?}", target.requests());
}

// ---------------------------------------------------------------------------------------------
// 2. Secrets the vendor echoes back are redacted everywhere

/// Everything written by the tracing subscriber.
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

/// A vendor that puts `echo` into every message it sends.
async fn echoing_server(echo: String) -> Server {
    serve(move |req, _| {
        let echo = echo.clone();
        async move {
            let e = serde_json::to_string(&echo).unwrap();
            if is_login(&req) {
                return iam_ok(IAM_TOKEN);
            }
            let p = req.path();
            match req.method.as_str() {
                "POST" if p.ends_with("/batch-reset") => json(
                    200,
                    format!(
                        r#"{{"request_id":"r","jobs":[{{"phone_id":"a","error_code":"CPS.0022","error_msg":{e}}},{{"phone_id":"b","job_id":"jb"}}]}}"#
                    ),
                ),
                "POST" if p.ends_with("/batch-stop") => {
                    json(200, format!(r#"{{"error_code":"CPS.0001","error_msg":{e}}}"#))
                }
                "POST" => json(500, format!(r#"{{"error_code":"CPS.9999","error_msg":{e}}}"#)),
                _ if p.ends_with("/phones/a") => {
                    json(400, format!(r#"{{"error_code":"CPS.0004","error_msg":{e}}}"#))
                }
                _ if p.ends_with("/phones/b") => {
                    json(503, format!(r#"{{"error_code":"CPS.0003","error_msg":{e}}}"#))
                }
                _ if p.ends_with("/jobs") => json(
                    200,
                    format!(
                        r#"{{"jobs":[{{"job_id":"jb","phone_id":"b","request_id":"r","status":-1,"error_code":"CPS.0022","error_msg":{e}}}]}}"#
                    ),
                ),
                _ => json(503, format!(r#"{{"error_msg":{e}}}"#)),
            }
        }
    })
    .await
}

/// Appends how an outcome shows: its errors' Display and Debug, and its own Debug.
fn show(shown: &mut String, o: &PhoneOutcome) {
    if let Some(e) = o.cause() {
        shown.push_str(&format!("{e}\n{e:?}\n"));
    }
    if let Some(e) = &o.wait_error {
        shown.push_str(&format!("{e}\n{e:?}\n"));
    }
    shown.push_str(&format!("{o:?}\n"));
}

#[tokio::test] // current-thread: the thread-local subscriber sees every task
async fn echoed_secrets_are_redacted_in_outcomes_errors_and_logs() {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(capture.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    for mode in Mode::ALL {
        let secrets = mode.secrets();
        let echo = format!("you sent {}", secrets.join(" and "));
        let server = echoing_server(echo).await;
        let p = provider(mode, &server);
        let mut shown = String::new();

        // Per-phone entry of a batch answer, then the job's failure while waiting.
        let reset = p
            .reset(&ids(&["a", "b"]), &ResetOptions::default())
            .await
            .unwrap();
        reset.outcomes.iter().for_each(|o| show(&mut shown, o));
        let waited = p.wait(&reset, &fast_wait()).await.unwrap();
        waited.outcomes.iter().for_each(|o| show(&mut shown, o));
        assert!(
            waited.outcomes[1].error().is_some(),
            "{mode:?}: {:?}",
            waited.outcomes[1]
        );
        // Request-level error in a 200; a 500 after a restart (unknown); detail errors, one of
        // them retried (logged at each retry).
        p.stop(&ids(&["a"]))
            .await
            .unwrap()
            .outcomes
            .iter()
            .for_each(|o| show(&mut shown, o));
        let restarted = p.restart(&ids(&["a"])).await.unwrap();
        assert!(restarted.outcomes[0].is_unknown(), "{mode:?}");
        restarted.outcomes.iter().for_each(|o| show(&mut shown, o));
        // One phone: its detail (refused, then retried); two: the listing (retried).
        for phones in [ids(&["a"]), ids(&["b"]), ids(&["a", "b"])] {
            match p.status(&phones).await {
                Ok(r) => r.outcomes.iter().for_each(|o| show(&mut shown, o)),
                Err(e) => shown.push_str(&format!("{e}\n{e:?}\n")),
            }
        }
        match p.jobs(&[JobRef::new("jx", None)]).await {
            Ok(infos) => {
                for i in &infos {
                    shown.push_str(&format!("{i:?}\n"));
                }
            }
            Err(e) => shown.push_str(&format!("{e}\n{e:?}\n")),
        }
        for s in &secrets {
            assert!(!shown.contains(s), "{mode:?}: {s} shown:\n{shown}");
        }
        assert!(shown.contains("[redacted]"), "{mode:?}: {shown}");
        // The secrets did reach the server as the vendor's echo proves: the test is real.
        assert!(server.total() > 0);
    }
    let logs = capture.text();
    assert!(
        logs.contains("[redacted]"),
        "the errors were logged: {logs}"
    );
    for s in [SK, STS, TOKEN, PASSWORD, IAM_TOKEN] {
        assert!(!logs.contains(s), "{s} logged:\n{logs}");
    }
}

// ---------------------------------------------------------------------------------------------
// 3. A lost answer after a state change is unknown, never failed, never repeated

#[derive(Debug, Clone, Copy)]
enum Loss {
    ServerError,
    CutAfterRead,
    Garbage,
    TooLargeDeclared,
    TooLargeStreamed,
}

fn loss_reply(loss: Loss) -> Reply {
    match loss {
        Loss::ServerError => json(500, r#"{"error_code":"CPS.0003","error_msg":"internal"}"#),
        Loss::CutAfterRead => Reply::Cut,
        Loss::Garbage => json(200, "<html>this is not json"),
        Loss::TooLargeDeclared => json(
            200,
            format!(r#"{{"request_id":"r","pad":"{}"}}"#, "x".repeat(8000)),
        ),
        Loss::TooLargeStreamed => {
            let mut bytes =
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
                    .to_vec();
            bytes.extend_from_slice(br#"{"request_id":"r","pad":""#);
            bytes.extend(std::iter::repeat_n(b'x', 8000));
            bytes.extend_from_slice(br#""}"#);
            Reply::Raw(bytes)
        }
    }
}

#[tokio::test]
async fn a_lost_answer_to_a_state_change_is_unknown_and_sent_once() {
    for loss in [
        Loss::ServerError,
        Loss::CutAfterRead,
        Loss::Garbage,
        Loss::TooLargeDeclared,
        Loss::TooLargeStreamed,
    ] {
        for op in [
            Operation::Stop,
            Operation::Start,
            Operation::Restart,
            Operation::Reset,
        ] {
            let server = serve(move |req, _| async move {
                if req.method == "GET" {
                    // Start reads the state first: stopped.
                    return json(200, r#"{"phone_id":"a","status":8}"#);
                }
                loss_reply(loss)
            })
            .await;
            let p = HuaweiCphProvider::new(
                cfg(Mode::Token, &server)
                    .with_retries(3, 1, 5)
                    .with_max_body_bytes(1024),
            )
            .unwrap();
            let phones = ids(&["a"]);
            let r = match op {
                Operation::Stop => p.stop(&phones).await,
                Operation::Start => p.start(&phones, &StartOptions::default()).await,
                Operation::Restart => p.restart(&phones).await,
                _ => p.reset(&phones, &ResetOptions::default()).await,
            }
            .unwrap();
            let o = &r.outcomes[0];
            assert!(o.is_unknown(), "{loss:?} {op}: {o:?}");
            let e = o.cause().unwrap();
            assert!(e.may_have_applied(), "{loss:?} {op}: {e:?}");
            assert_eq!(e.vendor(), Some("huawei-cph"));
            assert_eq!(
                server.count(|r| r.method == "POST"),
                1,
                "{loss:?} {op}: never repeated"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 4. Every job reference is kept

#[tokio::test]
async fn every_job_in_a_batch_answer_is_kept() {
    let server = serve(|_, _| async {
        json(
            200,
            r#"{"request_id":"r","jobs":[
                {"phone_id":"a","error_code":"CPS.0022","error_msg":"phone not available"},
                {"phone_id":"a","job_id":"ja"},
                {"phone_id":"zzz","job_id":"jz"},
                {"job_id":"j-nobody"},
                {"phone_id":"b","job_id":"jb"}]}"#,
        )
    })
    .await;
    let p = provider(Mode::Token, &server);
    let r = p
        .reset(&ids(&["a", "b"]), &ResetOptions::default())
        .await
        .unwrap();
    // `a` was refused and accepted in one answer: its job is kept, and it may have been reset.
    let a = &r.outcomes[0];
    assert!(a.is_unknown(), "{a:?}");
    assert_eq!(a.job.as_ref().unwrap().job_id(), "ja");
    assert_eq!(a.job.as_ref().unwrap().request_id.as_deref(), Some("r"));
    assert!(r.outcomes[1].is_pending());
    let strays: Vec<(Option<&str>, &str)> = r
        .stray_jobs
        .iter()
        .map(|s| (s.phone.as_ref().map(PhoneId::as_str), s.job.job_id()))
        .collect();
    assert_eq!(strays, [(Some("zzz"), "jz"), (None, "j-nobody")]);
    // Waiting keeps them too.
    let w = p
        .wait(
            &r,
            &WaitOptions::default()
                .timeout(Duration::from_millis(1))
                .poll_interval(Duration::from_millis(1)),
        )
        .await
        .unwrap();
    assert_eq!(w.stray_jobs, r.stray_jobs);
    assert_eq!(w.outcomes[0].job, a.job);
}

#[tokio::test]
async fn a_show_job_answer_about_another_job_is_not_taken_for_it() {
    let server = serve(|req, _| async move {
        match req.path().rsplit('/').next().unwrap() {
            "j1" => json(200, r#"{"job_id":"j2","phone_id":"a","status":2}"#),
            "j3" => json(200, r#"{"job_id":"j3","phone_id":"c","status":2}"#),
            _ => json(404, r#"{"error_code":"CPS.0005","error_msg":"no job"}"#),
        }
    })
    .await;
    let p = provider(Mode::Token, &server);
    let infos = p
        .jobs(&[JobRef::new("j1", None), JobRef::new("j3", None)])
        .await
        .unwrap();
    let e = infos[0].error.as_ref().expect("a mismatch is an error");
    assert_eq!(e.kind(), ErrorKind::InvalidResponse);
    assert!(
        e.message().contains("`j1`") && e.message().contains("`j2`"),
        "{e}"
    );
    assert_ne!(infos[0].state, JobState::Succeeded);
    assert_eq!(infos[1].state, JobState::Succeeded);
    assert!(infos[1].error.is_none());
}

// ---------------------------------------------------------------------------------------------
// 5. A phone a listing leaves out is read on its own before it is called not found

#[tokio::test]
async fn a_phone_missing_from_the_listing_is_confirmed_with_its_detail() {
    for strategy in [StatusStrategy::List, StatusStrategy::Auto] {
        let server = serve(|req, _| async move {
            match req.path().rsplit('/').next().unwrap() {
                "phones" => json(
                    200,
                    r#"{"count":2,"phones":[{"phone_id":"p1","status":2},{"phone_id":"p2","status":2}]}"#,
                ),
                "x" => json(200, r#"{"phone_id":"x","phone_name":"moved","status":8}"#),
                _ => json(
                    404,
                    r#"{"error_code":"CPS.0005","error_msg":"Phone does not exist."}"#,
                ),
            }
        })
        .await;
        let p = HuaweiCphProvider::new(cfg(Mode::Token, &server).with_status_strategy(strategy))
            .unwrap();
        let r = p.status(&ids(&["p1", "x", "y"])).await.unwrap();
        assert_eq!(r.outcomes[0].phone_state(), Some(PhoneState::Running));
        // The listing skipped `x` (the project changed between pages): its detail found it.
        assert!(r.outcomes[1].is_done(), "{strategy:?}: {:?}", r.outcomes[1]);
        assert_eq!(r.outcomes[1].phone_state(), Some(PhoneState::Stopped));
        assert_eq!(r.outcomes[1].name.as_deref(), Some("moved"));
        let e = r.outcomes[2].error().unwrap();
        assert_eq!(
            (e.kind(), e.vendor_code()),
            (ErrorKind::NotFound, Some("CPS.0005"))
        );
        assert_eq!(server.count(|r| r.path().ends_with("/phones")), 1);
        assert_eq!(server.count(|r| r.path().ends_with("/phones/x")), 1);
        assert_eq!(server.count(|r| r.path().ends_with("/phones/y")), 1);
        assert_eq!(server.count(|r| r.path().ends_with("/phones/p1")), 0);
    }
}

// ---------------------------------------------------------------------------------------------
// 6. Start never reboots a running phone

/// The ids a batch-restart body names.
fn restarted_ids(req: &Req) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
    v["phones"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["phone_id"].as_str().unwrap().to_owned())
        .collect()
}

async fn start_server(listing: &'static str) -> (Server, Arc<Mutex<Vec<String>>>) {
    let sent: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = sent.clone();
    let server = serve(move |req, _| {
        let log = log.clone();
        async move {
            if req.is("POST", "/phones/batch-restart") {
                let ids = restarted_ids(&req);
                log.lock().unwrap().extend(ids.clone());
                let jobs: Vec<String> = ids
                    .iter()
                    .map(|i| format!(r#"{{"phone_id":"{i}","job_id":"job-{i}"}}"#))
                    .collect();
                return json(
                    200,
                    format!(r#"{{"request_id":"r","jobs":[{}]}}"#, jobs.join(",")),
                );
            }
            if req.path().ends_with("/phones") {
                return json(200, listing);
            }
            json(
                404,
                r#"{"error_code":"APIGW.0101","error_msg":"no such API"}"#,
            )
        }
    })
    .await;
    (server, sent)
}

#[tokio::test]
async fn start_sends_only_the_phones_that_are_not_running() {
    let (server, sent) = start_server(
        r#"{"count":3,"phones":[{"phone_id":"a","phone_name":"up","status":2},{"phone_id":"b","status":8},{"phone_id":"c","status":-6}]}"#,
    )
    .await;
    let p = provider(Mode::Token, &server);
    let r = p
        .start(&ids(&["a", "b", "c", "a"]), &StartOptions::default())
        .await
        .unwrap();
    assert_eq!(*sent.lock().unwrap(), ["b", "c"]);
    assert_eq!(server.count(|r| r.method == "POST"), 1);
    let a = &r.outcomes[0];
    assert!(a.is_done() && a.job.is_none(), "{a:?}");
    assert_eq!(a.phone_state(), Some(PhoneState::Running));
    assert_eq!(a.name.as_deref(), Some("up"));
    assert!(r.outcomes[1].is_pending() && r.outcomes[2].is_pending());
    assert_eq!(r.outcomes.len(), 3);
    assert_eq!(r.outcomes[2].job.as_ref().unwrap().job_id(), "job-c");

    // All running: no batch-restart at all.
    let (server, sent) = start_server(
        r#"{"count":2,"phones":[{"phone_id":"a","status":2},{"phone_id":"b","status":2}]}"#,
    )
    .await;
    let p = provider(Mode::Token, &server);
    let r = p
        .start(&ids(&["a", "b"]), &StartOptions::default())
        .await
        .unwrap();
    assert!(r.all_done());
    assert!(sent.lock().unwrap().is_empty());
    assert_eq!(server.count(|r| r.method == "POST"), 0);
}

// ---------------------------------------------------------------------------------------------
// 7. Every pagination loop is bounded

fn phones_page(ids: impl Iterator<Item = String>, count: Option<u64>) -> String {
    let phones: Vec<String> = ids
        .map(|i| format!(r#"{{"phone_id":"{i}","status":2}}"#))
        .collect();
    match count {
        Some(c) => format!(r#"{{"count":{c},"phones":[{}]}}"#, phones.join(",")),
        None => format!(r#"{{"phones":[{}]}}"#, phones.join(",")),
    }
}

fn offset_limit(req: &Req) -> (u64, u64) {
    (
        req.query("offset").unwrap().parse().unwrap(),
        req.query("limit").unwrap().parse().unwrap(),
    )
}

#[tokio::test]
async fn listing_stops_at_a_repeated_page() {
    // The vendor ignores the offset: the same full page, with a huge total, forever.
    let server = serve(|req, _| async move {
        let (_, limit) = offset_limit(&req);
        json(
            200,
            phones_page((0..limit).map(|i| format!("p{i}")), Some(1_000_000_000_000)),
        )
    })
    .await;
    let p = provider(Mode::Token, &server);
    let got: Vec<_> = p.list(Some(2)).collect().await;
    assert_eq!(got.len(), 3, "{got:?}");
    assert!(got[0].is_ok() && got[1].is_ok());
    let e = got[2].as_ref().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidResponse);
    assert_eq!(server.total(), 2);
}

#[tokio::test]
async fn listing_ends_at_the_first_total_even_when_later_pages_claim_more() {
    // Every page claims three pages more than it has reached.
    let server = serve(|req, _| async move {
        let (offset, limit) = offset_limit(&req);
        json(
            200,
            phones_page(
                (offset..offset + limit).map(|i| format!("p{i}")),
                Some(offset + 3 * limit),
            ),
        )
    })
    .await;
    let p = provider(Mode::Token, &server);
    let got: Vec<_> = p.list(Some(2)).collect().await;
    assert_eq!(got.len(), 6);
    assert!(got.iter().all(Result::is_ok));
    assert_eq!(server.total(), 3);
    let last = p
        .list_page(&ListRequest::default().page_size(2).cursor(Some("4".into())))
        .await
        .unwrap();
    assert_eq!(last.next, None);
}

/// A listing server that counts list and detail calls; details say "not found".
async fn counting_listing(page: impl Fn(u64) -> String + Send + Sync + 'static) -> Server {
    let page = Arc::new(page);
    serve(move |req, _| {
        let page = page.clone();
        async move {
            if req.path().ends_with("/phones") {
                let (offset, _) = offset_limit(&req);
                return json(200, page(offset));
            }
            json(404, r#"{"error_code":"CPS.0005","error_msg":"no phone"}"#)
        }
    })
    .await
}

fn list_calls(s: &Server) -> usize {
    s.count(|r| r.path().ends_with("/phones"))
}

fn detail_calls(s: &Server) -> usize {
    s.count(|r| r.path().contains("/phones/"))
}

fn list_provider(server: &Server) -> HuaweiCphProvider {
    HuaweiCphProvider::new(
        cfg(Mode::Token, server)
            .with_status_strategy(StatusStrategy::List)
            .with_retries(0, 1, 1),
    )
    .unwrap()
}

#[tokio::test]
async fn listing_status_stops_at_a_repeated_page_with_or_without_a_total() {
    for count in [Some(1_000_000_000_000), None] {
        let server =
            counting_listing(move |_| phones_page((0..200).map(|i| format!("q{i}")), count)).await;
        let p = list_provider(&server);
        let r = p.status(&ids(&["x1", "x2", "x3"])).await.unwrap();
        for o in &r.outcomes {
            assert_eq!(o.error().unwrap().kind(), ErrorKind::NotFound, "{o:?}");
        }
        // The head page, then at most one round of concurrent pages (8) before the repeat is
        // seen — with a total; without one, pages go one by one.
        let max = if count.is_some() { 1 + 8 } else { 2 };
        assert!(
            (2..=max).contains(&list_calls(&server)),
            "{count:?}: {} list calls",
            list_calls(&server)
        );
        assert_eq!(detail_calls(&server), 3);
    }
}

#[tokio::test]
async fn listing_status_keeps_to_the_first_pages_total() {
    // The first page says 400 phones; every later page claims a trillion and is full.
    let server = counting_listing(|offset| {
        let count = if offset == 0 { 400 } else { 1_000_000_000_000 };
        phones_page((offset..offset + 200).map(|i| format!("q{i}")), Some(count))
    })
    .await;
    let p = list_provider(&server);
    let r = p.status(&ids(&["x1", "q5", "q300"])).await.unwrap();
    assert_eq!(list_calls(&server), 2);
    assert!(r.outcomes[1].is_done() && r.outcomes[2].is_done());
    assert_eq!(r.outcomes[0].error().unwrap().kind(), ErrorKind::NotFound);
    assert_eq!(detail_calls(&server), 1);
}

/// A list-jobs server answering every page with 100 jobs from `page(offset)`; show-job answers
/// the job asked for, succeeded.
async fn counting_jobs(page: impl Fn(u64) -> Vec<String> + Send + Sync + 'static) -> Server {
    let page = Arc::new(page);
    serve(move |req, _| {
        let page = page.clone();
        async move {
            if req.path().ends_with("/jobs") {
                let offset: u64 = req.query("offset").unwrap().parse().unwrap();
                let jobs: Vec<String> = page(offset)
                    .into_iter()
                    .map(|j| format!(r#"{{"job_id":"{j}","request_id":"r","status":1}}"#))
                    .collect();
                return json(200, format!(r#"{{"jobs":[{}]}}"#, jobs.join(",")));
            }
            let id = req.path().rsplit('/').next().unwrap().to_owned();
            json(200, format!(r#"{{"job_id":"{id}","status":2}}"#))
        }
    })
    .await
}

#[tokio::test]
async fn list_jobs_follow_up_pages_are_bounded() {
    // The same full page for every offset: the follow-up brings nothing new and stops.
    let same = counting_jobs(|_| (0..100).map(|i| format!("junk{i}")).collect()).await;
    // A fresh full page of other jobs for every offset: cut off after a few follow-ups.
    let fresh =
        counting_jobs(|offset| (0..100).map(|i| format!("junk{}", offset + i)).collect()).await;
    for (server, max_list) in [(&same, 2), (&fresh, 1 + 5)] {
        let p = provider(Mode::Token, server);
        let infos = p
            .jobs(&[JobRef::new("wanted", Some("r".into()))])
            .await
            .unwrap();
        assert_eq!(infos[0].state, JobState::Succeeded, "{infos:?}");
        assert_eq!(
            server.count(|r| r.path().ends_with("/jobs")),
            max_list,
            "list-jobs calls"
        );
        assert_eq!(server.count(|r| r.path().ends_with("/jobs/wanted")), 1);
    }
}

// ---------------------------------------------------------------------------------------------
// 8. Credentials refused after the first call

/// Waits (at most two seconds) until `server` has received `n` requests.
async fn until_received(server: &Server, n: usize) {
    for _ in 0..400 {
        if server.total() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn a_refusal_mid_batch_stops_every_later_request() {
    // Set up once the server exists: the refusing request waits for the other three in flight.
    let me: Arc<Mutex<Option<Server>>> = Arc::default();
    let handle = me.clone();
    let server = serve(move |req, n| {
        let handle = handle.clone();
        async move {
            if req.method != "POST" {
                return json(200, "{}");
            }
            match n {
                0 => {
                    let id = restarted_ids(&req).remove(0);
                    json(
                        200,
                        format!(
                            r#"{{"request_id":"r0","jobs":[{{"phone_id":"{id}","job_id":"j0"}}]}}"#
                        ),
                    )
                }
                1 => {
                    let s = handle.lock().unwrap().clone().unwrap();
                    until_received(&s, 5).await;
                    json(401, BAD_AKSK)
                }
                _ => Reply::Hold,
            }
        }
    })
    .await;
    *me.lock().unwrap() = Some(server.clone());
    let mut c = cfg(Mode::AkSk, &server).with_batch_size(1);
    c.concurrency = 4;
    let p = HuaweiCphProvider::new(c).unwrap();
    let phones: Vec<PhoneId> = (0..8).map(|i| PhoneId::new(format!("p{i}"))).collect();
    let r = p.reset(&phones, &ResetOptions::default()).await.unwrap();
    let s = r.summary();
    // One accepted alone (proving the key), then four at once: one refused, three in flight.
    assert_eq!(s.pending, 1, "{r:?}");
    assert_eq!(
        s.unknown, 3,
        "in flight when refused: may have been applied"
    );
    assert_eq!(s.failed, 4, "the refused one and three never sent");
    assert_eq!(r.outcomes[0].job.as_ref().unwrap().job_id(), "j0");
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(server.total(), 5, "nothing sent after the refusal");
    // Later calls send nothing at all.
    let e = p.status(&phones).await.unwrap_err();
    assert!(
        e.kind().is_auth() && e.message().contains("not sent"),
        "{e}"
    );
    assert!(p
        .jobs(&[JobRef::new("j0", Some("r0".into()))])
        .await
        .is_err());
    let w = p.wait(&r, &fast_wait()).await.unwrap();
    assert_eq!(w.summary().pending, 1);
    assert!(w.outcomes[0].wait_error.as_ref().unwrap().kind().is_auth());
    assert_eq!(server.total(), 5);
}

#[tokio::test]
async fn a_refusal_mid_wait_keeps_accepted_outcomes_and_stops() {
    let server = serve(|req, _| async move {
        if req.method == "POST" {
            return json(
                200,
                r#"{"request_id":"r","jobs":[{"phone_id":"a","job_id":"ja"},{"phone_id":"b","job_id":"jb"}]}"#,
            );
        }
        json(401, BAD_AKSK)
    })
    .await;
    let list_jobs = |s: &Server| s.count(|r| r.path().ends_with("/jobs"));
    let p = provider(Mode::AkSk, &server);
    let r = p
        .reset(&ids(&["a", "b"]), &ResetOptions::default())
        .await
        .unwrap();
    assert_eq!(r.summary().pending, 2);
    let w = p.wait(&r, &fast_wait()).await.unwrap();
    for (before, after) in r.outcomes.iter().zip(&w.outcomes) {
        assert!(after.is_pending(), "{after:?}");
        assert_eq!(before.job, after.job, "job kept");
        let e = after.wait_error.as_ref().expect("the refusal is attached");
        assert_eq!(e.vendor_code(), Some("APIGW.0301"));
    }
    tokio::time::sleep(Duration::from_millis(30)).await;
    assert_eq!(
        list_jobs(&server),
        1,
        "one refused list-jobs call, then nothing"
    );
    assert_eq!(server.total(), 2);
}

#[tokio::test]
async fn a_refusal_mid_wait_by_status_keeps_the_outcome_and_stops() {
    let server = serve(|_, n| async move {
        if n == 0 {
            json(200, r#"{"phone_id":"a","status":7}"#)
        } else {
            json(401, BAD_AKSK)
        }
    })
    .await;
    let p = provider(Mode::AkSk, &server);
    let report = BatchReport::pending(Operation::Stop, ids(&["a"]));
    let w = p.wait(&report, &fast_wait()).await.unwrap();
    let o = &w.outcomes[0];
    assert!(o.is_pending(), "{o:?}");
    assert_eq!(o.phone_state(), Some(PhoneState::Stopping));
    assert!(o.wait_error.as_ref().unwrap().kind().is_auth());
    tokio::time::sleep(Duration::from_millis(30)).await;
    assert_eq!(server.total(), 2);
}

#[tokio::test]
async fn jobs_probe_with_one_request_and_stop_at_the_first_refusal() {
    // Unproven credentials, refused: one request, not eight.
    let server = serve(|_, _| async { json(401, BAD_AKSK) }).await;
    let mut c = cfg(Mode::AkSk, &server);
    c.concurrency = 8;
    let p = HuaweiCphProvider::new(c).unwrap();
    let refs: Vec<JobRef> = (0..6).map(|i| JobRef::new(format!("j{i}"), None)).collect();
    let e = p.jobs(&refs).await.unwrap_err();
    assert!(e.kind().is_auth(), "{e}");
    assert_eq!(server.total(), 1);
    assert!(p.jobs(&refs).await.is_err());
    assert_eq!(server.total(), 1, "nothing sent after a refusal");

    // Proven by the first lookup, then refused while three more are in flight.
    let me: Arc<Mutex<Option<Server>>> = Arc::default();
    let handle = me.clone();
    let server = serve(move |req, n| {
        let handle = handle.clone();
        async move {
            let id = req.path().rsplit('/').next().unwrap().to_owned();
            match n {
                0 => json(200, format!(r#"{{"job_id":"{id}","status":2}}"#)),
                1 => {
                    let s = handle.lock().unwrap().clone().unwrap();
                    until_received(&s, 5).await;
                    json(401, BAD_AKSK)
                }
                _ => Reply::Hold,
            }
        }
    })
    .await;
    *me.lock().unwrap() = Some(server.clone());
    let mut c = cfg(Mode::AkSk, &server);
    c.concurrency = 4;
    let p = HuaweiCphProvider::new(c).unwrap();
    let refs: Vec<JobRef> = (0..8).map(|i| JobRef::new(format!("j{i}"), None)).collect();
    let infos = p.jobs(&refs).await.unwrap();
    assert_eq!(infos.len(), 8);
    assert_eq!(infos[0].state, JobState::Succeeded);
    for i in &infos[1..] {
        assert!(i.error.as_ref().unwrap().kind().is_auth(), "{i:?}");
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(server.total(), 5, "no lookup started after the refusal");
}

/// An IAM + CPH server: logins hand out `tok-N-…`; `cph(token, n)` answers CPH requests.
async fn iam_server(
    cph: impl Fn(&str) -> Reply + Send + Sync + 'static,
) -> (Server, Arc<AtomicUsize>) {
    let logins = Arc::new(AtomicUsize::new(0));
    let counter = logins.clone();
    let cph = Arc::new(cph);
    let server = serve(move |req, _| {
        let (counter, cph) = (counter.clone(), cph.clone());
        async move {
            if is_login(&req) {
                let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
                return iam_ok(&format!("tok-{n}-issued-by-iam"));
            }
            cph(req.header("x-auth-token").unwrap_or_default())
        }
    })
    .await;
    (server, logins)
}

#[tokio::test]
async fn a_token_rejected_right_after_a_fresh_login_does_not_log_in_again() {
    // Every token is rejected as expired.
    let (server, logins) = iam_server(|_| json(401, EXPIRED)).await;
    let mut c = cfg(Mode::Iam, &server).with_status_strategy(StatusStrategy::Detail);
    c.concurrency = 4;
    let p = HuaweiCphProvider::new(c).unwrap();
    let phones: Vec<PhoneId> = (0..8).map(|i| PhoneId::new(format!("p{i}"))).collect();
    let e = p.status(&phones).await.unwrap_err();
    assert!(e.message().contains("freshly issued"), "{e}");
    assert_eq!(logins.load(Ordering::SeqCst), 2, "one login, one refresh");
    assert_eq!(server.count(is_cph), 2);
    // Remembered: no more logins, no more requests.
    assert!(p.status(&phones).await.is_err());
    assert!(p.reset(&phones, &ResetOptions::default()).await.is_err());
    assert_eq!(logins.load(Ordering::SeqCst), 2);
    assert_eq!(server.count(is_cph), 2);
}

#[tokio::test]
async fn a_refreshed_token_rejected_before_it_ever_served_is_not_refreshed_again() {
    // tok-1 serves once, then is expired; tok-2 is refused as expired on its very first use:
    // the gateway never took it, so a third login would not help (a clock or region problem).
    // (A token that met any other answer — a 503 included — was taken, and is renewed when it
    // expires: see the next test and the fault suite.)
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = seen.clone();
    let (server, logins) = iam_server(move |token| {
        let mut seen = log.lock().unwrap();
        let uses = seen.iter().filter(|t| *t == token).count();
        seen.push(token.to_owned());
        match (token, uses) {
            ("tok-1-issued-by-iam", 0) => json(200, r#"{"phone_id":"a","status":2}"#),
            _ => json(401, EXPIRED),
        }
    })
    .await;
    let p = HuaweiCphProvider::new(
        cfg(Mode::Iam, &server)
            .with_status_strategy(StatusStrategy::Detail)
            .with_retries(0, 1, 1),
    )
    .unwrap();
    assert!(p.status(&ids(&["a"])).await.unwrap().all_done());
    let e = p.status(&ids(&["a"])).await.unwrap_err();
    assert!(e.message().contains("freshly issued"), "{e}");
    assert_eq!(logins.load(Ordering::SeqCst), 2, "no third login");
    assert_eq!(
        *seen.lock().unwrap(),
        [
            "tok-1-issued-by-iam",
            "tok-1-issued-by-iam",
            "tok-2-issued-by-iam",
        ]
    );
}

#[tokio::test]
async fn a_refreshed_token_that_met_a_503_was_taken_and_is_renewed() {
    // tok-2 first meets a 503 (answered after the gateway took it), then expires: that is an
    // ordinary expiry, renewed once more; tok-3 serves.
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = seen.clone();
    let (server, logins) = iam_server(move |token| {
        let mut seen = log.lock().unwrap();
        let uses = seen.iter().filter(|t| *t == token).count();
        seen.push(token.to_owned());
        match (token, uses) {
            ("tok-1-issued-by-iam", 0) | ("tok-3-issued-by-iam", _) => {
                json(200, r#"{"phone_id":"a","status":2}"#)
            }
            ("tok-2-issued-by-iam", 0) => json(503, "busy"),
            _ => json(401, EXPIRED),
        }
    })
    .await;
    let p = HuaweiCphProvider::new(
        cfg(Mode::Iam, &server)
            .with_status_strategy(StatusStrategy::Detail)
            .with_retries(0, 1, 1),
    )
    .unwrap();
    assert!(p.status(&ids(&["a"])).await.unwrap().all_done());
    let r = p.status(&ids(&["a"])).await.unwrap();
    assert_eq!(
        r.outcomes[0].error().unwrap().kind(),
        ErrorKind::Unavailable
    );
    assert!(p.status(&ids(&["a"])).await.unwrap().all_done());
    assert_eq!(logins.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_token_that_served_before_expiring_is_renewed_each_time() {
    // Each token serves one request, then is expired.
    let used: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = used.clone();
    let (server, logins) = iam_server(move |token| {
        let mut used = log.lock().unwrap();
        if used.iter().any(|t| t == token) {
            return json(401, EXPIRED);
        }
        used.push(token.to_owned());
        json(200, r#"{"phone_id":"a","status":2}"#)
    })
    .await;
    let p = HuaweiCphProvider::new(
        cfg(Mode::Iam, &server).with_status_strategy(StatusStrategy::Detail),
    )
    .unwrap();
    for _ in 0..3 {
        assert!(p.status(&ids(&["a"])).await.unwrap().all_done());
    }
    assert_eq!(logins.load(Ordering::SeqCst), 3);
    assert_eq!(
        *used.lock().unwrap(),
        [
            "tok-1-issued-by-iam",
            "tok-2-issued-by-iam",
            "tok-3-issued-by-iam"
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// 9. Names with escape sequences are kept verbatim

const EVIL_NAME: &str = "\u{1b}[2J\u{1b}[31mred\u{7}\r\nforged row\u{202e}txt\u{0}";

#[tokio::test]
async fn names_and_messages_with_escape_sequences_are_kept_verbatim() {
    let name = serde_json::to_string(EVIL_NAME).unwrap();
    let server = serve(move |req, _| {
        let name = name.clone();
        async move {
            let p = req.path().to_owned();
            if p.ends_with("/phones") {
                return json(
                    200,
                    format!(
                        r#"{{"count":2,"phones":[{{"phone_id":"a","phone_name":{name},"status":2}},{{"phone_id":"b\u001b[1m","status":8}}]}}"#
                    ),
                );
            }
            if p.ends_with("/phones/a") {
                return json(200, format!(r#"{{"phone_id":"a","phone_name":{name},"status":2}}"#));
            }
            if req.method == "POST" {
                return json(
                    200,
                    format!(
                        r#"{{"jobs":[{{"phone_id":"a","error_code":"CPS.0022","error_msg":{name}}},{{"phone_id":{name},"job_id":{name}}}]}}"#
                    ),
                );
            }
            json(404, format!(r#"{{"error_code":"CPS.0005","error_msg":{name}}}"#))
        }
    })
    .await;
    let p = provider(Mode::Token, &server);
    let r = p.status(&ids(&["a"])).await.unwrap();
    assert_eq!(r.outcomes[0].name.as_deref(), Some(EVIL_NAME));
    let r = p.status(&ids(&["a", "b", "c"])).await.unwrap();
    assert_eq!(r.outcomes[0].name.as_deref(), Some(EVIL_NAME));
    assert_eq!(r.outcomes[2].error().unwrap().message(), EVIL_NAME);
    let page = p.list_page(&ListRequest::default()).await.unwrap();
    assert_eq!(page.phones[0].name.as_deref(), Some(EVIL_NAME));
    assert_eq!(page.phones[1].id.as_str(), "b\u{1b}[1m");
    let r = p.stop(&ids(&["a"])).await.unwrap();
    assert_eq!(r.outcomes[0].error().unwrap().message(), EVIL_NAME);
    assert_eq!(r.stray_jobs.len(), 1);
    assert_eq!(r.stray_jobs[0].job.job_id(), EVIL_NAME);
    assert_eq!(
        r.stray_jobs[0].phone.as_ref().map(PhoneId::as_str),
        Some(EVIL_NAME)
    );
    // Display and Debug do not panic on any of it.
    let _ = format!("{r:?} {}", r.outcomes[0].error().unwrap());
}
