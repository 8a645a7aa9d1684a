//! Security properties, proven on the simulator and on loopback servers:
//!
//! * secrets never appear in `Debug`, `Display`, errors or TRACE-level logs, whatever the
//!   provider does (every operation, auth failures, IAM logins and renewals);
//! * hostile phone ids never reach another endpoint, and fail per phone;
//! * TLS certificates are verified (a self-signed one is refused);
//! * request and connect timeouts are on by default;
//! * dropping a batch future mid-way leaves no task behind and sends nothing more.

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cloudphone::{
    BatchReport, CloudPhoneProvider, Error, ErrorKind, ListRequest, Operation, PhoneId,
    ResetOptions, StartOptions, WaitOptions,
};
use cloudphone_sim::{Faults, SimConfig, SimCredentials, Simulator};
use common::{build, fast_tuning, provider_table, Mode, Target};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

// ---------------------------------------------------------------------------------------------
// Secrets

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

const WRONG_SECRET: &str = "WRONG-SECRET-leak-canary-0123456789";

fn credentials() -> SimCredentials {
    SimCredentials {
        huawei_security_token: Some("SIM-SECURITY-TOKEN-leak-canary-0001".into()),
        ..SimCredentials::default()
    }
}

/// Everything a user could print about a report.
fn describe_report(r: &BatchReport, seen: &mut String) {
    seen.push_str(&format!("{r:?}\n"));
    for o in &r.outcomes {
        if let Some(e) = o.error() {
            describe_error(e, seen);
        }
    }
}

fn describe_error(e: &Error, seen: &mut String) {
    seen.push_str(&format!("{e}\n{e:?}\n"));
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        seen.push_str(&format!("{s}\n{s:?}\n"));
        source = s.source();
    }
}

async fn drive_everything(p: &dyn CloudPhoneProvider, ids: &[PhoneId], seen: &mut String) {
    let wait = WaitOptions::default()
        .timeout(Duration::from_secs(10))
        .poll_interval(Duration::from_millis(20));
    let step = |r: cloudphone::Result<BatchReport>, seen: &mut String| match r {
        Ok(r) => {
            describe_report(&r, seen);
            Some(r)
        }
        Err(e) => {
            describe_error(&e, seen);
            None
        }
    };
    step(p.status(ids).await, seen);
    let reset = ResetOptions::default().property("persist.sys.test", "1");
    for op in [
        Operation::Stop,
        Operation::Start,
        Operation::Restart,
        Operation::Reset,
    ] {
        let r = match op {
            Operation::Stop => p.stop(ids).await,
            Operation::Start => p.start(ids, &StartOptions::default()).await,
            Operation::Restart => p.restart(ids).await,
            _ if p.vendor() == "geelark" => p.reset(ids, &ResetOptions::default()).await,
            _ => p.reset(ids, &reset).await,
        };
        if let Some(r) = step(r, seen) {
            step(p.wait(&r, &wait).await, seen);
            if p.capabilities().jobs {
                let jobs: Vec<_> = r.jobs().cloned().collect();
                match p.jobs(&jobs).await {
                    Ok(j) => seen.push_str(&format!("{j:?}\n")),
                    Err(e) => describe_error(&e, seen),
                }
            }
        }
    }
    match p.list_page(&ListRequest::default().page_size(3)).await {
        Ok(page) => seen.push_str(&format!("{page:?}\n")),
        Err(e) => describe_error(&e, seen),
    }
}

#[tokio::test] // current-thread: the thread-local subscriber sees every task
async fn secrets_never_reach_debug_display_errors_or_logs() {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(capture.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let sim = Simulator::start(
        SimConfig::default()
            .with_phones(4, 4)
            .with_time_scale(0.01)
            .with_credentials(credentials())
            .without_limits(),
    )
    .await
    .expect("simulator starts");
    for id in sim.geelark_phone_ids() {
        sim.geelark().set_status(&id, 0);
    }
    for id in sim.huawei_phone_ids() {
        sim.huawei().set_status(&id, 2);
    }
    // Throttling and broken answers make the retry and error paths log too.
    let faults = Faults {
        throttle: 0.2,
        malformed: 0.05,
        error_5xx: 0.05,
        ..Faults::default()
    };
    sim.geelark().set_faults(faults.clone());
    sim.huawei().set_faults(faults);
    let target = Target {
        geelark_url: sim.geelark_url(),
        huawei_url: sim.huawei_url(),
    };
    let creds = sim.credentials().clone();
    let mut seen = String::new();

    for mode in Mode::ALL {
        let ids: Vec<PhoneId> = if mode.is_geelark() {
            sim.geelark_phone_ids()
        } else {
            sim.huawei_phone_ids()
        }
        .into_iter()
        .map(PhoneId::new)
        .collect();
        let tuning = fast_tuning(mode, 5, 2, 2);
        let (config, provider) = build(&provider_table(mode, &target, &creds, &tuning, None));
        seen.push_str(&format!("{config:?}\n{provider:?}\n"));
        for (name, pc) in config.providers() {
            seen.push_str(&format!("{name}: {pc:?}\n"));
        }
        drive_everything(provider.as_ref(), &ids, &mut seen).await;
        if mode == Mode::HuaweiIam {
            // A renewal after the gateway refuses an expired token.
            sim.huawei().expire_tokens();
            drive_everything(provider.as_ref(), &ids[..1], &mut seen).await;
        }
        let (config, wrong) = build(&provider_table(
            mode,
            &target,
            &creds,
            &tuning,
            Some(WRONG_SECRET),
        ));
        seen.push_str(&format!("{config:?}\n{wrong:?}\n"));
        drive_everything(wrong.as_ref(), &ids, &mut seen).await;
    }
    // A configuration error names the key, not the value.
    if let Err(e) = cloudphone::Config::from_toml_str(&format!(
        "[providers.x]\ntype = \"geelark\"\napi_key = \"{WRONG_SECRET}\"\nbogus = 1\n"
    )) {
        seen.push_str(&format!("{e}\n{e:?}\n"));
    }

    let mut secrets: Vec<String> = vec![
        creds.geelark_api_key.clone(),
        creds.geelark_token.clone(),
        creds.huawei_secret_key.clone(),
        creds.huawei_security_token.clone().unwrap(),
        creds.huawei_password.clone(),
        creds.huawei_token.clone(),
        WRONG_SECRET.to_owned(),
    ];
    let issued: HashSet<String> = sim
        .huawei()
        .calls()
        .recent
        .iter()
        .flat_map(|c| c.headers.iter())
        .filter(|(k, v)| k == "x-auth-token" && *v != creds.huawei_token && v != WRONG_SECRET)
        .map(|(_, v)| v.clone())
        .collect();
    assert!(
        issued.len() >= 2,
        "IAM issued and renewed tokens were used: {}",
        issued.len()
    );
    secrets.extend(issued);

    let logs = capture.text();
    assert!(
        logs.contains("DEBUG") && logs.contains("retrying"),
        "the subscriber captured the providers' logs:\n{logs}"
    );
    for s in &secrets {
        assert!(!s.is_empty());
        if let Some(at) = logs.find(s.as_str()) {
            let from = at.saturating_sub(300);
            panic!(
                "secret `{s}` in the logs: …{}…",
                &logs[from..(at + s.len() + 100).min(logs.len())]
            );
        }
        if let Some(at) = seen.find(s.as_str()) {
            let from = at.saturating_sub(300);
            panic!(
                "secret `{s}` in Debug/Display: …{}…",
                &seen[from..(at + s.len() + 100).min(seen.len())]
            );
        }
    }
    sim.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Hostile ids

const HOSTILE: [&str; 20] = [
    "../jobs",
    "a/b",
    "x?y",
    "%2e%2e",
    "%2E%2E/jobs",
    "a b",
    "",
    ".",
    "..",
    " lead",
    "trail ",
    "jobs",
    "batch-reset",
    "x#y",
    "../../v3/auth/tokens",
    "..%2f..%2fjobs",
    "phones/../jobs",
    "nul\0byte",
    "ä/ö",
    "?offset=0&limit=200",
];

fn hostile_ids() -> Vec<PhoneId> {
    HOSTILE.iter().map(|s| PhoneId::new(*s)).collect()
}

/// Drives status, stop and reset with hostile ids; each id must fail on its own.
async fn drive_hostile(p: &dyn CloudPhoneProvider, what: &str) {
    let ids = hostile_ids();
    for op in [Operation::Status, Operation::Stop, Operation::Reset] {
        let r = match op {
            Operation::Status => p.status(&ids).await,
            Operation::Stop => p.stop(&ids).await,
            _ => p.reset(&ids, &ResetOptions::default()).await,
        }
        .unwrap_or_else(|e| panic!("{what} {op}: the batch failed as a whole: {e}"));
        assert_eq!(common::ids_lost(&ids, &r), 0, "{what} {op}: {r:?}");
        for o in &r.outcomes {
            assert!(o.error().is_some(), "{what} {op} {:?}: {o:?}", o.phone);
        }
        // One at a time too: single ids take the per-phone endpoints.
        for id in &ids {
            let one = std::slice::from_ref(id);
            let r = match op {
                Operation::Status => p.status(one).await,
                Operation::Stop => p.stop(one).await,
                _ => p.reset(one, &ResetOptions::default()).await,
            };
            if let Ok(r) = r {
                assert!(r.outcomes[0].error().is_some(), "{what} {op} {id:?}: {r:?}");
            }
        }
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let hex = (b[i] == b'%')
            .then(|| s.get(i + 1..i + 3))
            .flatten()
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match hex {
            Some(v) => {
                out.push(v);
                i += 3;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_phone_ids_never_reach_another_endpoint() {
    let sim = Simulator::start(
        SimConfig::default()
            .with_phones(2, 2)
            .with_time_scale(0.01)
            .without_limits(),
    )
    .await
    .expect("simulator starts");
    let target = Target {
        geelark_url: sim.geelark_url(),
        huawei_url: sim.huawei_url(),
    };
    let creds = sim.credentials().clone();
    for (mode, extra) in [
        (Mode::GeelarkKey, ""),
        (Mode::GeelarkToken, ""),
        (Mode::HuaweiAkSk, ""),
        (Mode::HuaweiToken, "status_strategy = \"detail\""),
        (Mode::HuaweiIam, "status_strategy = \"list\""),
    ] {
        let tuning = format!("{}\n{extra}", fast_tuning(mode, 5, 2, 4));
        let (_, p) = build(&provider_table(mode, &target, &creds, &tuning, None));
        drive_hostile(p.as_ref(), mode.name()).await;
    }

    let gl_allowed = [
        "/open/v1/phone/status",
        "/open/v1/phone/stop",
        "/open/v2/phone/newOne",
    ];
    let gl = sim.geelark().calls();
    assert!(gl.total() > 0);
    assert!(
        gl.recent.len() as u64 == gl.total(),
        "call log holds every call"
    );
    for c in &gl.recent {
        assert!(
            c.method == "POST" && gl_allowed.contains(&c.path.as_str()) && c.query.is_none(),
            "GeeLark request escaped its endpoint: {} {} {:?}",
            c.method,
            c.path,
            c.query
        );
    }
    let pid = &creds.huawei_project_id;
    let base = format!("/v1/{pid}/cloud-phone/phones");
    let hw = sim.huawei().calls();
    assert!(
        hw.recent.len() as u64 == hw.total(),
        "call log holds every call"
    );
    let mut detail_reads = 0;
    for c in &hw.recent {
        let ok = match (c.method.as_str(), c.path.as_str()) {
            ("POST", "/v3/auth/tokens") => true,
            ("POST", p) => p == format!("{base}/batch-stop") || p == format!("{base}/batch-reset"),
            ("GET", p) if p == base => c.query.as_deref().is_some_and(|q| {
                q.split('&')
                    .all(|kv| kv.starts_with("offset=") || kv.starts_with("limit="))
            }),
            ("GET", p) => match p.strip_prefix(&format!("{base}/")) {
                Some(seg) if !seg.contains('/') && c.query.is_none() => {
                    detail_reads += 1;
                    HOSTILE.contains(&percent_decode(seg).as_str())
                        && c.endpoint == "GET /v1/{project_id}/cloud-phone/phones/{phone_id}"
                }
                _ => false,
            },
            _ => false,
        };
        assert!(
            ok,
            "Huawei request escaped its endpoint: {} {} {:?} ({})",
            c.method, c.path, c.query, c.endpoint
        );
    }
    assert!(detail_reads > 0, "the per-phone GET was exercised");
    sim.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// TLS

/// A throwaway self-signed certificate for 127.0.0.1 / localhost, made for this test only.
const SELF_SIGNED_CERT: &str = "-----BEGIN CERTIFICATE-----
MIIBmzCCAUGgAwIBAgIUfxmNGvQi+FYmtjG/YmCqpPlwSBowCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTEyMzE1MDc0M1oYDzIxMjYxMDMw
MTUwNzQzWjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAAR/B1EJ2xzw0zR3G44uka4oZsCZ08knaKGIwSue8/qD9VkhX/1ckjEk
w50rCwl9mEG61s0lkCsSVO5v6n2nhRI9o28wbTAdBgNVHQ4EFgQUXx80WRIr26C+
M61uMqq9mh07iUcwHwYDVR0jBBgwFoAUXx80WRIr26C+M61uMqq9mh07iUcwDwYD
VR0TAQH/BAUwAwEB/zAaBgNVHREEEzARhwR/AAABgglsb2NhbGhvc3QwCgYIKoZI
zj0EAwIDSAAwRQIgefa93ISTJv7WxRI19tFsfWemf6gL4ZXKHRaC0zUEm7cCIQDY
8YR4JX+PM0sYVBzA82wINkWc26zeiJnvaL1CGUY8Xg==
-----END CERTIFICATE-----
";

/// Its key: test-only, protects nothing.
const SELF_SIGNED_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg45m/15H1wC3n0ujY
x0YJJYNoaWv3G04afKwgUsR7wVGhRANCAAR/B1EJ2xzw0zR3G44uka4oZsCZ08kn
aKGIwSue8/qD9VkhX/1ckjEkw50rCwl9mEG61s0lkCsSVO5v6n2nhRI9
-----END PRIVATE KEY-----
";

#[derive(Default)]
struct Handshakes {
    succeeded: u32,
    failed: Vec<String>,
}

async fn self_signed_tls_server() -> (String, Arc<Mutex<Handshakes>>) {
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(SELF_SIGNED_CERT.as_bytes())
            .collect::<Result<_, _>>()
            .expect("certificate parses");
    let key = PrivateKeyDer::from_pem_slice(SELF_SIGNED_KEY.as_bytes()).expect("key parses");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocol versions")
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let url = format!("https://{}", listener.local_addr().unwrap());
    let log = Arc::new(Mutex::new(Handshakes::default()));
    let seen = log.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let seen = seen.clone();
            tokio::spawn(async move {
                match acceptor.accept(tcp).await {
                    Ok(_) => seen.lock().unwrap().succeeded += 1,
                    Err(e) => seen.lock().unwrap().failed.push(e.to_string()),
                }
            });
        }
    });
    (url, log)
}

fn chain(e: &Error) -> String {
    let mut s = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(x) = source {
        s.push_str(" <- ");
        s.push_str(&x.to_string());
        source = x.source();
    }
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_self_signed_certificate_is_refused() {
    let (url, handshakes) = self_signed_tls_server().await;
    let target = Target {
        geelark_url: url.clone(),
        huawei_url: url,
    };
    let creds = SimCredentials::default();
    for mode in [Mode::GeelarkToken, Mode::HuaweiToken, Mode::HuaweiAkSk] {
        // Retries stay on: an untrusted certificate must not be retried.
        let tuning = fast_tuning(mode, 5, 1, 1);
        let (_, p) = build(&provider_table(mode, &target, &creds, &tuning, None));
        let id = PhoneId::new(if mode.is_geelark() {
            "528715748189668352"
        } else {
            "a7f3a1c5258347d6b6f1def79e11f2bc"
        });
        let r = p
            .stop(std::slice::from_ref(&id))
            .await
            .expect("a network failure is the phone's outcome");
        let e = r.outcomes[0]
            .error()
            .unwrap_or_else(|| panic!("{}: accepted over untrusted TLS", mode.name()));
        let text = chain(e).to_ascii_lowercase();
        assert!(
            text.contains("certificate") || text.contains("unknownissuer"),
            "{}: not a certificate error: {text}",
            mode.name()
        );
        assert!(!e.is_temporary(), "{}: {e}", mode.name());
    }
    // The server records a handshake a moment after the client gave up on it.
    for _ in 0..100 {
        if handshakes.lock().unwrap().failed.len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let h = handshakes.lock().unwrap();
    assert_eq!(
        h.succeeded, 0,
        "no handshake with the untrusted server completed"
    );
    assert_eq!(
        h.failed.len(),
        3,
        "one refused handshake per provider, never retried: {:?}",
        h.failed
    );
}

// ---------------------------------------------------------------------------------------------
// Timeouts

#[test]
fn request_and_connect_timeouts_are_on_by_default() {
    let config = cloudphone::Config::from_toml_str(
        "[providers.gl]\ntype = \"geelark\"\ntoken = \"t\"\n\
         [providers.hw]\ntype = \"huawei-cph\"\nregion = \"cn-east-3\"\n\
         project_id = \"0123456789abcdef0123456789abcdef\"\ntoken = \"t\"\n",
    )
    .unwrap();
    let mut checked = 0;
    for (name, pc) in config.providers() {
        let (timeout, connect) = if let Some(c) = pc.get::<cloudphone::geelark::GeelarkConfig>() {
            (c.timeout_secs, c.connect_timeout_secs)
        } else if let Some(c) = pc.get::<cloudphone::huawei_cph::HuaweiCphConfig>() {
            (c.timeout_secs, c.connect_timeout_secs)
        } else {
            continue;
        };
        assert_eq!((timeout, connect), (30, 10), "{name}");
        checked += 1;
    }
    assert_eq!(checked, 2);
}

/// With default settings, a server that accepts and never answers ends in a timeout instead of
/// a hang (on a paused clock, so the default 30 s cost nothing).
#[tokio::test(start_paused = true)]
async fn a_silent_server_times_out_with_default_settings() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut tcp, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let _ = tcp.read(&mut buf).await;
            held.push(tcp);
        }
    });
    let target = Target {
        geelark_url: url.clone(),
        huawei_url: url,
    };
    for mode in [Mode::GeelarkToken, Mode::HuaweiToken] {
        // Only the credentials and the URL: every other setting at its default.
        let (_, p) = build(&provider_table(
            mode,
            &target,
            &SimCredentials::default(),
            "",
            None,
        ));
        let id = PhoneId::new("a7f3a1c5258347d6b6f1def79e11f2bc");
        let r = tokio::time::timeout(
            Duration::from_secs(24 * 3600),
            p.status(std::slice::from_ref(&id)),
        )
        .await
        .unwrap_or_else(|_| panic!("{}: still waiting after a day", mode.name()))
        .expect("a timeout is the phone's outcome");
        let e = r.outcomes[0].error().expect("no answer, no state");
        let text = chain(e).to_ascii_lowercase();
        assert!(
            e.kind() == ErrorKind::Timeout
                || text.contains("timed out")
                || text.contains("timeout"),
            "{}: {text}",
            mode.name()
        );
    }
}

/// The configured request timeout applies to a hanging vendor (1 s against a 1.5 s hang).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_vendor_hits_the_request_timeout() {
    let sim = Simulator::start(SimConfig::default().with_phones(1, 1))
        .await
        .unwrap();
    let hang = Faults {
        hang: 1.0,
        hang_duration_ms: 1_500,
        ..Faults::default()
    };
    sim.geelark().set_faults(hang.clone());
    sim.huawei().set_faults(hang);
    let target = Target {
        geelark_url: sim.geelark_url(),
        huawei_url: sim.huawei_url(),
    };
    let run = |mode: Mode, id: String| {
        let tuning = fast_tuning(mode, 1, 1, 1).replace("max_retries = 6", "max_retries = 0");
        let (_, p) = build(&provider_table(
            mode,
            &target,
            sim.credentials(),
            &tuning,
            None,
        ));
        async move {
            let r = p.status(&[PhoneId::new(id)]).await.unwrap();
            let e = r.outcomes[0].error().expect("timed out").clone();
            assert_eq!(e.kind(), ErrorKind::Timeout, "{}: {e}", mode.name());
        }
    };
    tokio::join!(
        run(Mode::GeelarkKey, sim.geelark_phone_ids()[0].clone()),
        run(Mode::HuaweiAkSk, sim.huawei_phone_ids()[0].clone()),
    );
    sim.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Cancellation

async fn alive_tasks_return_to(baseline: usize) -> usize {
    let metrics = tokio::runtime::Handle::current().metrics();
    for _ in 0..250 {
        if metrics.num_alive_tasks() <= baseline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    metrics.num_alive_tasks()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_batch_mid_way_stops_every_request_and_task() {
    let sim = Simulator::start(
        SimConfig::default()
            .with_phones(0, 1_000)
            .with_time_scale(0.01)
            .with_latency(Duration::from_millis(20))
            .without_limits(),
    )
    .await
    .expect("simulator starts");
    // The simulator's listeners spawn helpers on their first poll: let them settle first.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let baseline = tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks();
    let target = Target {
        geelark_url: sim.geelark_url(),
        huawei_url: sim.huawei_url(),
    };
    let ids: Vec<PhoneId> = sim
        .huawei_phone_ids()
        .into_iter()
        .map(PhoneId::new)
        .collect();
    let tuning = format!(
        "{}\nstatus_strategy = \"detail\"",
        fast_tuning(Mode::HuaweiToken, 5, 8, 10)
    );
    let (_, p) = build(&provider_table(
        Mode::HuaweiToken,
        &target,
        sim.credentials(),
        &tuning,
        None,
    ));
    for op in [Operation::Reset, Operation::Status] {
        sim.huawei().reset_calls();
        let batch = async {
            match op {
                Operation::Reset => p.reset(&ids, &ResetOptions::default()).await,
                _ => p.status(&ids).await,
            }
        };
        let cut = tokio::time::timeout(Duration::from_millis(150), batch).await;
        assert!(
            cut.is_err(),
            "{op}: the batch finished before it was dropped"
        );
        // Requests already on the wire land; nothing new may follow.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let at_drop = sim.huawei().calls().total();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let later = sim.huawei().calls().total();
        assert_eq!(at_drop, later, "{op}: requests after the batch was dropped");
        let full = if op == Operation::Reset { 100 } else { 1_000 };
        assert!(
            at_drop > 0 && at_drop < full,
            "{op}: dropped mid-way ({at_drop} of {full} calls)"
        );
    }
    // The metric sees the provider's pooled connections, so it would see a leaked task too.
    let with_pool = tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks();
    assert!(with_pool > baseline, "{with_pool} alive, {baseline} before");
    drop(p);
    let alive = alive_tasks_return_to(baseline).await;
    assert!(
        alive <= baseline,
        "tasks left running: {alive} alive, {baseline} before the provider existed"
    );
    sim.shutdown().await;
}
