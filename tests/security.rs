//! Security properties, proven on the simulator and on loopback servers:
//!
//! * secrets never appear in `Debug`, `Display`, errors or TRACE-level logs, whatever the
//!   provider does (every operation, auth failures, IAM logins and renewals);
//! * hostile phone ids never reach another endpoint, and fail per phone;
//! * TLS certificates are verified (a self-signed one is refused);
//! * request and connect timeouts are on by default;
//! * dropping a batch future mid-way leaves no task behind and sends nothing more.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cloudphone::registry::ConfigTable;
use cloudphone::{
    BatchReport, CloudPhoneProvider, Error, ErrorKind, ListRequest, Operation, PhoneId,
    ResetOptions, StartOptions, WaitOptions,
};
use cloudphone_sim::{CallRecord, Faults, Simulator, TableOptions, VendorHandle};
use common::{build, fast_tuning, Mode};
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

/// The secrets in a provider table: the values of the keys its vendor's registration names as
/// secret keys.
fn secrets_in(table: &str) -> Vec<String> {
    let table: ConfigTable = table.parse().expect("the simulator writes valid TOML");
    let kind = table["type"].as_str().expect("a type");
    let registry = cloudphone::builtin_registry();
    let vendor = registry.get(kind).expect("a registered vendor");
    vendor
        .secret_keys()
        .iter()
        .filter_map(|k| table.get(*k).and_then(|v| v.as_str()).map(str::to_owned))
        .collect()
}

/// The credentials a vendor issued at run time (login tokens): every value of a request header
/// that, in some request, carried one of the `configured` secrets. A header value's last word
/// counts (`Bearer <token>`).
fn issued_credentials(calls: &[CallRecord], configured: &HashSet<String>) -> HashSet<String> {
    let word = |v: &str| v.rsplit(' ').next().unwrap_or(v).to_owned();
    let carriers: HashSet<&str> = calls
        .iter()
        .flat_map(|c| c.headers.iter())
        .filter(|(_, v)| configured.contains(&word(v)))
        .map(|(k, _)| k.as_str())
        .collect();
    calls
        .iter()
        .flat_map(|c| c.headers.iter())
        .filter(|(k, _)| carriers.contains(k.as_str()))
        .map(|(_, v)| word(v))
        .filter(|v| !configured.contains(v))
        .collect()
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

/// Whether every phone of a report failed as `Unsupported` (an option the vendor cannot honour).
fn refused_as_unsupported(r: &BatchReport) -> bool {
    !r.outcomes.is_empty()
        && r.outcomes.iter().all(|o| {
            o.error()
                .is_some_and(|e| e.kind() == ErrorKind::Unsupported)
        })
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
        if !p.capabilities().supports(op) {
            continue;
        }
        let r = match op {
            Operation::Stop => p.stop(ids).await,
            Operation::Start => p.start(ids, &StartOptions::default()).await,
            Operation::Restart => p.restart(ids).await,
            // Properties where the vendor takes them, else none.
            _ => match p.reset(ids, &reset).await {
                Err(e) if e.kind() == ErrorKind::Unsupported => {
                    p.reset(ids, &ResetOptions::default()).await
                }
                Ok(r) if refused_as_unsupported(&r) => p.reset(ids, &ResetOptions::default()).await,
                r => r,
            },
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
    if p.capabilities().supports(Operation::List) {
        match p.list_page(&ListRequest::default().page_size(3)).await {
            Ok(page) => seen.push_str(&format!("{page:?}\n")),
            Err(e) => describe_error(&e, seen),
        }
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

    let mut config = common::sim_config(4)
        .await
        .with_time_scale(0.01)
        .without_limits();
    // Every request's headers stay in the call log (the issued credentials are read there).
    config.call_log_capacity = 1 << 20;
    for v in common::sim_vendors().await {
        config = (common::Knowledge::of(v.vendor).optional_secrets)(config);
    }
    let sim = Simulator::start(config).await.expect("simulator starts");
    common::set_all_running(&sim);
    // Throttling and broken answers make the retry and error paths log too.
    let faults = Faults {
        throttle: 0.2,
        malformed: 0.05,
        error_5xx: 0.05,
        ..Faults::default()
    };
    for v in sim.vendors() {
        v.set_faults(faults.clone());
    }
    let mut seen = String::new();
    let mut configured: HashSet<String> = HashSet::from([WRONG_SECRET.to_owned()]);
    // Vendors that issue tokens, which the runs then expire.
    let mut issuers: BTreeSet<&str> = BTreeSet::new();

    for mode in common::all_modes().await {
        let v = mode.handle(&sim);
        let ids = mode.phones(&sim);
        let tuning = fast_tuning(mode, 5, 2, 2);
        let table = mode.table(v, TableOptions::new(), &tuning);
        let secrets = secrets_in(&table);
        assert!(!secrets.is_empty(), "{}: no secret to watch", mode.name());
        configured.extend(secrets);
        let (config, provider) = build(&table);
        seen.push_str(&format!("{config:?}\n{provider:?}\n"));
        for (name, pc) in config.providers() {
            seen.push_str(&format!("{name}: {pc:?}\n"));
        }
        drive_everything(provider.as_ref(), &ids, &mut seen).await;
        if common::expire_tokens(v).await {
            // A renewal after the vendor refuses an expired token.
            issuers.insert(mode.vendor);
            drive_everything(provider.as_ref(), &ids[..1], &mut seen).await;
        }
        let wrong = mode.table(v, TableOptions::new().with_secret(WRONG_SECRET), &tuning);
        let (config, wrong) = build(&wrong);
        seen.push_str(&format!("{config:?}\n{wrong:?}\n"));
        drive_everything(wrong.as_ref(), &ids, &mut seen).await;
    }
    // A configuration error names the key, not the value.
    for v in sim.vendors() {
        let table = v
            .provider_table(&TableOptions::new().with_secret(WRONG_SECRET))
            .expect("a default table");
        match cloudphone::Config::from_toml_str(&format!("[providers.x]\n{table}bogus = 1\n")) {
            Err(e) => seen.push_str(&format!("{e}\n{e:?}\n")),
            Ok(_) => panic!("{}: an unknown key is an error", v.type_name()),
        }
    }

    let mut secrets: Vec<String> = configured.iter().cloned().collect();
    let mut issued_by: BTreeMap<&str, usize> = BTreeMap::new();
    for v in sim.vendors() {
        let calls = v.calls();
        assert!(
            calls.recent.len() as u64 == calls.total(),
            "{}: the call log holds every call",
            v.type_name()
        );
        let issued = issued_credentials(&calls.recent, &configured);
        issued_by.insert(v.type_name(), issued.len());
        secrets.extend(issued);
    }
    for vendor in &issuers {
        assert!(
            issued_by[vendor] >= 2,
            "{vendor}: issued and renewed tokens were used: {}",
            issued_by[vendor]
        );
    }
    assert!(
        !issuers.is_empty(),
        "some vendor issues tokens: the renewal path was driven"
    );

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

const HOSTILE_OPERATIONS: [Operation; 3] = [Operation::Status, Operation::Stop, Operation::Reset];

/// One operation on `ids`.
async fn drive_op(
    p: &dyn CloudPhoneProvider,
    op: Operation,
    ids: &[PhoneId],
) -> cloudphone::Result<BatchReport> {
    match op {
        Operation::Status => p.status(ids).await,
        Operation::Stop => p.stop(ids).await,
        _ => p.reset(ids, &ResetOptions::default()).await,
    }
}

/// Drives status, stop and reset with real ids, together and one at a time: the requests a
/// provider sends, for the hostile ones to be compared with.
async fn drive_benign(p: &dyn CloudPhoneProvider, ids: &[PhoneId]) {
    for op in HOSTILE_OPERATIONS {
        if !p.capabilities().supports(op) {
            continue;
        }
        let _ = drive_op(p, op, ids).await;
        for id in ids {
            let _ = drive_op(p, op, std::slice::from_ref(id)).await;
        }
    }
}

/// Drives status, stop and reset with hostile ids; each id must fail on its own.
async fn drive_hostile(p: &dyn CloudPhoneProvider, what: &str) {
    let ids = hostile_ids();
    for op in HOSTILE_OPERATIONS {
        if !p.capabilities().supports(op) {
            continue;
        }
        let r = drive_op(p, op, &ids)
            .await
            .unwrap_or_else(|e| panic!("{what} {op}: the batch failed as a whole: {e}"));
        assert_eq!(common::ids_lost(&ids, &r), 0, "{what} {op}: {r:?}");
        for o in &r.outcomes {
            assert!(o.error().is_some(), "{what} {op} {:?}: {o:?}", o.phone);
        }
        // One at a time too: single ids take the per-phone endpoints.
        for id in &ids {
            let r = drive_op(p, op, std::slice::from_ref(id)).await;
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

/// The path template of an endpoint key: its second word (`"GET /v1/{project_id}/phones/{id}"`
/// → `/v1/{project_id}/phones/{id}`; `"POST / SomeAction"` → `/`).
fn template(endpoint: &str) -> &str {
    endpoint.split(' ').nth(1).unwrap_or(endpoint)
}

fn query_keys(query: Option<&str>) -> BTreeSet<String> {
    query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .map(|kv| kv.split('=').next().unwrap_or_default().to_owned())
        .collect()
}

/// What the requests of the real ids looked like, per endpoint key: the query keys, whether a
/// query was ever sent, and the values each placeholder segment (`{...}`) of the key's
/// template took.
#[derive(Default)]
struct Shape {
    query_keys: BTreeSet<String>,
    queried: bool,
    placeholders: BTreeMap<usize, BTreeSet<String>>,
}

fn shapes(calls: &[CallRecord]) -> BTreeMap<String, Shape> {
    let mut out: BTreeMap<String, Shape> = BTreeMap::new();
    for c in calls {
        let shape = out.entry(c.endpoint.clone()).or_default();
        shape.queried |= c.query.is_some();
        shape.query_keys.extend(query_keys(c.query.as_deref()));
        let segs: Vec<&str> = c.path.split('/').collect();
        for (i, t) in template(&c.endpoint).split('/').enumerate() {
            if t.starts_with('{') {
                let value = segs.get(i).map(|s| percent_decode(s)).unwrap_or_default();
                shape.placeholders.entry(i).or_default().insert(value);
            }
        }
    }
    out
}

/// Why a request made with hostile ids went somewhere the real ids never sent one (`None`: it
/// did not); counts the hostile ids it carried in its path.
fn escaped(
    c: &CallRecord,
    benign: &BTreeMap<String, Shape>,
    in_path: &mut usize,
) -> Option<String> {
    let Some(shape) = benign.get(&c.endpoint) else {
        return Some("an endpoint the real ids never reached".into());
    };
    if c.query.is_some() && !shape.queried {
        return Some("a query where the real ids sent none".into());
    }
    let extra: Vec<String> = query_keys(c.query.as_deref())
        .difference(&shape.query_keys)
        .cloned()
        .collect();
    if !extra.is_empty() {
        return Some(format!("query keys {extra:?}"));
    }
    let segs: Vec<&str> = c.path.split('/').collect();
    let tmpl: Vec<&str> = template(&c.endpoint).split('/').collect();
    if segs.len() != tmpl.len() {
        return Some(format!("path segments unlike {}", template(&c.endpoint)));
    }
    for (i, (seg, t)) in segs.iter().zip(&tmpl).enumerate() {
        if !t.starts_with('{') {
            if seg != t {
                return Some(format!("segment {seg:?} where {t:?} belongs"));
            }
            continue;
        }
        let value = percent_decode(seg);
        if HOSTILE.contains(&value.as_str()) {
            *in_path += 1;
        } else if !shape
            .placeholders
            .get(&i)
            .is_some_and(|v| v.contains(&value))
        {
            return Some(format!(
                "{t} = {value:?}, neither a real value nor a hostile id"
            ));
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_phone_ids_never_reach_another_endpoint() {
    let sim = Simulator::start(
        common::sim_config(HOSTILE.len())
            .await
            .with_time_scale(0.01)
            .without_limits(),
    )
    .await
    .expect("simulator starts");
    // Every auth mode, each vendor's alternative code paths spread over its modes.
    let mut providers = Vec::new();
    let modes = common::all_modes().await;
    for (i, mode) in modes.iter().enumerate() {
        let nth = modes[..i]
            .iter()
            .filter(|m| m.vendor == mode.vendor)
            .count();
        let variants = mode.knowledge().variants;
        let extra = match nth {
            0 => "",
            _ if variants.is_empty() => "",
            n => variants[(n - 1) % variants.len()],
        };
        let tuning = format!("{}\n{extra}", fast_tuning(*mode, 5, 2, 4));
        let (_, p) = build(&mode.table(mode.handle(&sim), TableOptions::new(), &tuning));
        providers.push((*mode, p));
    }
    // First the real ids, for the requests a provider sends; then the hostile ones.
    for (mode, p) in &providers {
        drive_benign(p.as_ref(), &mode.phones(&sim)).await;
    }
    let complete = |v: &VendorHandle| {
        let calls = v.calls();
        assert!(
            calls.recent.len() as u64 == calls.total(),
            "{}: the call log holds every call",
            v.type_name()
        );
        calls.recent
    };
    let benign: Vec<BTreeMap<String, Shape>> =
        sim.vendors().iter().map(|v| shapes(&complete(v))).collect();
    for v in sim.vendors() {
        v.reset_calls();
    }
    for (mode, p) in &providers {
        drive_hostile(p.as_ref(), &mode.name()).await;
    }

    for (v, benign) in sim.vendors().iter().zip(&benign) {
        let hostile = complete(v);
        assert!(
            !hostile.is_empty(),
            "{}: hostile ids were sent",
            v.type_name()
        );
        let mut in_path = 0;
        for c in &hostile {
            if let Some(why) = escaped(c, benign, &mut in_path) {
                panic!(
                    "{} request escaped its endpoint ({why}): {} {} {:?} ({})",
                    v.type_name(),
                    c.method,
                    c.path,
                    c.query,
                    c.endpoint
                );
            }
        }
        // Where real ids travel in the path (a per-phone endpoint), hostile ones did too.
        let ids: HashSet<String> = v.phone_ids().into_iter().collect();
        let ids_in_path = benign
            .values()
            .flat_map(|s| s.placeholders.values().flatten())
            .any(|value| ids.contains(value));
        if ids_in_path {
            assert!(
                in_path > 0,
                "{}: the per-phone endpoint was exercised",
                v.type_name()
            );
        }
    }
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

/// Every auth mode's provider table pointed at `url` with only `lines` added, and a phone id of
/// the vendor's shape: written by a simulator run on a thread of its own (so that a test on a
/// paused clock can use them), which is gone when this returns.
fn tables_pointing_at(url: &str, lines: &'static str) -> Vec<(Mode, String, PhoneId)> {
    let url = url.to_owned();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        rt.block_on(async move {
            let sim = Simulator::start(common::sim_config(1).await)
                .await
                .expect("simulator starts");
            let mut out = Vec::new();
            for mode in common::all_modes().await {
                let v = mode.handle(&sim);
                let table = mode.table(v, TableOptions::new().with_url(url.clone()), lines);
                out.push((mode, table, mode.phones(&sim).remove(0)));
            }
            sim.shutdown().await;
            out
        })
    })
    .join()
    .expect("the simulator thread ends")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_self_signed_certificate_is_refused() {
    let (url, handshakes) = self_signed_tls_server().await;
    // Retries stay on: an untrusted certificate must not be retried.
    let tuning = "max_retries = 6\nretry_min_delay_ms = 5\nretry_max_delay_ms = 40";
    let cases = tables_pointing_at(&url, tuning);
    for (mode, table, id) in &cases {
        let (_, p) = build(table);
        let r = p
            .stop(std::slice::from_ref(id))
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
        if handshakes.lock().unwrap().failed.len() >= cases.len() {
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
        cases.len(),
        "one refused handshake per provider, never retried: {:?}",
        h.failed
    );
}

// ---------------------------------------------------------------------------------------------
// Timeouts

/// Every vendor shares core's `ClientOptions`, whose timeouts are on unless configured off; the
/// parsed configuration shows them (its `Debug` is the one generic view of them).
#[test]
fn request_and_connect_timeouts_are_on_by_default() {
    let cases = tables_pointing_at("https://127.0.0.1:9", "");
    assert!(!cases.is_empty());
    for (mode, table, _) in &cases {
        let config = cloudphone::Config::from_toml_str(&format!("[providers.p]\n{table}"))
            .unwrap_or_else(|e| panic!("{}: {e}", mode.name()));
        let shown = format!("{:?}", config.providers()["p"]);
        assert!(
            shown.contains("ClientOptions { timeout_secs: 30, connect_timeout_secs: 10,"),
            "{}: {shown}",
            mode.name()
        );
    }
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
    // Only the credentials and the URL: every other setting at its default.
    for (mode, table, id) in tables_pointing_at(&url, "") {
        let (_, p) = build(&table);
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
    let sim = Simulator::start(common::sim_config(1).await).await.unwrap();
    let hang = Faults {
        hang: 1.0,
        hang_duration_ms: 1_500,
        ..Faults::default()
    };
    for v in sim.vendors() {
        v.set_faults(hang.clone());
    }
    let run = |mode: Mode| {
        let tuning = fast_tuning(mode, 1, 1, 1).replace("max_retries = 6", "max_retries = 0");
        let (_, p) = build(&mode.table(mode.handle(&sim), TableOptions::new(), &tuning));
        let id = mode.phones(&sim).remove(0);
        async move {
            let r = p.status(&[id]).await.unwrap();
            let e = r.outcomes[0].error().expect("timed out").clone();
            assert_eq!(e.kind(), ErrorKind::Timeout, "{}: {e}", mode.name());
        }
    };
    // Each vendor in its default auth mode, all at once.
    futures::future::join_all(common::default_modes().await.into_iter().map(run)).await;
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

/// Each vendor in its default auth mode, on a fleet of a thousand phones: a batch dropped
/// mid-way sends nothing more and leaves no task behind (each operation that takes at least
/// a hundred calls).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_batch_mid_way_stops_every_request_and_task() {
    let sim = Simulator::start(
        common::sim_config(1_000)
            .await
            .with_time_scale(0.01)
            .with_latency(Duration::from_millis(20))
            .without_limits(),
    )
    .await
    .expect("simulator starts");
    // The simulator's listeners spawn helpers on their first poll: let them settle first.
    tokio::time::sleep(Duration::from_millis(200)).await;
    for mode in common::default_modes().await {
        drop_mid_way(&sim, mode).await;
    }
    sim.shutdown().await;
}

async fn drop_mid_way(sim: &Simulator, mode: Mode) {
    let name = mode.name();
    let baseline = tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks();
    let v = mode.handle(sim);
    let ids = mode.phones(sim);
    // Status by its batch size (no listing shortcut), so that its calls can be counted.
    let tuning = format!(
        "{}\n{}",
        fast_tuning(mode, 5, 8, 10),
        mode.knowledge().status_by_batches
    );
    let (_, p) = build(&mode.table(v, TableOptions::new(), &tuning));
    let mut dropped = 0;
    for op in [Operation::Reset, Operation::Status] {
        if !p.capabilities().supports(op) {
            continue;
        }
        let batch_size = p.capabilities().batch_sizes.get(&op).copied().unwrap_or(1);
        let full = ids.len().div_ceil(batch_size.max(1)) as u64;
        if full < 100 {
            // A batch of a few calls ends before it can be cut (20 ms each, 8 at a time).
            continue;
        }
        v.reset_calls();
        let batch = async {
            match op {
                Operation::Reset => p.reset(&ids, &ResetOptions::default()).await,
                _ => p.status(&ids).await,
            }
        };
        let cut = tokio::time::timeout(Duration::from_millis(150), batch).await;
        assert!(
            cut.is_err(),
            "{name} {op}: the batch finished before it was dropped"
        );
        // Requests already on the wire land; nothing new may follow.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let at_drop = v.calls().total();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let later = v.calls().total();
        assert_eq!(
            at_drop, later,
            "{name} {op}: requests after the batch was dropped"
        );
        assert!(
            at_drop > 0 && at_drop < full,
            "{name} {op}: dropped mid-way ({at_drop} of {full} calls)"
        );
        dropped += 1;
    }
    assert!(
        dropped > 0,
        "{name}: no operation takes calls enough to be cut"
    );
    // The metric sees the provider's pooled connections, so it would see a leaked task too.
    let with_pool = tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks();
    assert!(
        with_pool > baseline,
        "{name}: {with_pool} alive, {baseline} before"
    );
    drop(p);
    let alive = alive_tasks_return_to(baseline).await;
    assert!(
        alive <= baseline,
        "{name}: tasks left running: {alive} alive, {baseline} before the provider existed"
    );
}
