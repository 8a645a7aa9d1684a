//! Proof under faults: every operation of every vendor the simulator serves, in every auth mode
//! it writes a provider table for (operations selected by `capabilities()`), with seeded faults
//! injected at rates up to 30% — 5xx, throttling, cut connections, hangs past the client
//! timeout, malformed JSON, ids dropped from batch answers, issued tokens expiring mid-run — and
//! the contract's invariants checked after every call:
//!
//! * every requested id has exactly one outcome, in request order;
//! * no phone is stopped, started, restarted or reset twice by one call (the simulator's
//!   `applied_*` counters are the ground truth, counted even when a fault hid the answer), and an
//!   accepted (pending) phone really was acted on once — or, where the vendor's answer names no
//!   phone and it refuses one in that phone's task, its wait settles it (done or failed);
//! * waiting never acts on a phone, keeps every job reference, keeps failures failed, and reports
//!   done only in the target state;
//! * rejected credentials are tried once and stop the batch.
//!
//! Reproduce a failure from the seed in its message: `CLOUDPHONE_FAULT_SEED=<seed> cargo test
//! --test faults`. Totals: `CLOUDPHONE_FAULT_REPORT=1 cargo test --test faults -- --nocapture`
//! prints a table per mode and their sum; `cargo test --test faults -- --ignored --nocapture` runs the larger
//! soak and prints its totals.

mod common;

use std::fmt::Write as _;
use std::time::Duration;

use cloudphone::{
    BatchReport, CloudPhoneProvider, ErrorKind, Operation, PhoneId, ResetOptions, StartOptions,
    WaitOptions,
};
use cloudphone_sim::{Faults, Simulator, TableOptions, VendorHandle};
use common::proxy::{FaultCounts, Proxy};
use common::{build, fast_tuning, ids_lost, Mode};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// How long an injected hang lasts; the providers' request timeout is 1 s.
const HANG_MS: u64 = 1_500;
/// Answers slower than this were hangs (ordinary ones take milliseconds).
const HANG_THRESHOLD: Duration = Duration::from_millis(1_200);
/// The seeds of the normal run; `CLOUDPHONE_FAULT_SEED` replaces them with one.
const SEEDS: [u64; 3] = [0x0f_a017, 0x5eed_0002, 20_240_601];
/// The batch operations, in the order a run drives them.
const OPERATIONS: [Operation; 5] = [
    Operation::Status,
    Operation::Stop,
    Operation::Start,
    Operation::Restart,
    Operation::Reset,
];

fn seeds(default: &[u64]) -> Vec<u64> {
    match std::env::var("CLOUDPHONE_FAULT_SEED") {
        Ok(s) => vec![s
            .trim()
            .parse()
            .expect("CLOUDPHONE_FAULT_SEED is an unsigned integer")],
        Err(_) => default.to_vec(),
    }
}

fn report_wanted() -> bool {
    std::env::var("CLOUDPHONE_FAULT_REPORT").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// The faults of one run, drawn from its seed: each request-level kind at up to 30%, hangs kept
/// rare so that the suite stays fast; issued tokens (where the vendor issues any) expire after
/// a few dozen calls.
fn faults_for(seed: u64, mode: Mode) -> Faults {
    let mut rng = SmallRng::seed_from_u64(seed ^ mode.salt());
    Faults {
        error_5xx: rng.random_range(0.05..=0.3),
        throttle: rng.random_range(0.05..=0.3),
        connection_reset: rng.random_range(0.0..=0.2),
        hang: rng.random_range(0.0..=0.04),
        hang_duration_ms: HANG_MS,
        malformed: rng.random_range(0.0..=0.2),
        drop_ids: rng.random_range(0.0..=0.2),
        expire_token_after_calls: Some(rng.random_range(40..=60)),
        ..Faults::default()
    }
}

/// What the runs did and saw.
#[derive(Clone, Debug, Default)]
struct Totals {
    runs: u64,
    operations: u64,
    outcomes: u64,
    failed_outcomes: u64,
    unknown_outcomes: u64,
    failed_but_applied: u64,
    ids_lost: u64,
    duplicate_actions: u64,
    duplicate_resets: u64,
    jobs_checked: u64,
    faults: FaultCounts,
}

impl Totals {
    fn add(&mut self, o: &Totals) {
        self.runs += o.runs;
        self.operations += o.operations;
        self.outcomes += o.outcomes;
        self.failed_outcomes += o.failed_outcomes;
        self.unknown_outcomes += o.unknown_outcomes;
        self.failed_but_applied += o.failed_but_applied;
        self.ids_lost += o.ids_lost;
        self.duplicate_actions += o.duplicate_actions;
        self.duplicate_resets += o.duplicate_resets;
        self.jobs_checked += o.jobs_checked;
        self.faults.add(&o.faults);
    }

    fn table(&self, title: &str) -> String {
        let f = &self.faults;
        let rows: [(&str, u64); 23] = [
            ("runs (seed x vendor auth mode)", self.runs),
            ("operations run (provider calls)", self.operations),
            ("outcomes checked", self.outcomes),
            ("  of which failed (per-phone)", self.failed_outcomes),
            (
                "  of which unknown (may have been applied)",
                self.unknown_outcomes,
            ),
            ("job references checked across waits", self.jobs_checked),
            ("vendor requests seen", f.requests),
            ("  answered without a fault", f.ok),
            ("faults injected, request-level", f.request_faults()),
            ("  5xx", f.error_5xx),
            ("  throttling (429 / vendor code)", f.throttle),
            ("  connection reset", f.connection_reset),
            ("  hang past the client timeout", f.hang),
            ("  malformed JSON", f.malformed),
            ("ids dropped from batch answers", f.dropped_ids),
            ("  in answers", f.answers_with_dropped_ids),
            ("issued token expired (401) mid-run", f.token_expired),
            ("logins (tokens issued)", f.iam_logins),
            ("credentials rejected", f.auth_rejected),
            ("IDS LOST (must be 0)", self.ids_lost),
            ("DUPLICATE RESETS (must be 0)", self.duplicate_resets),
            ("FAILED BUT APPLIED (must be 0)", self.failed_but_applied),
            (
                "DUPLICATE ACTIONS, any op (must be 0)",
                self.duplicate_actions,
            ),
        ];
        let mut s = format!("\n== {title} ==\n");
        for (k, v) in &rows {
            let _ = writeln!(s, "{k:<42} {v:>8}");
        }
        s
    }
}

/// One simulator with an observing proxy in front of the mode's vendor, and a provider through
/// it.
struct Bench {
    sim: Simulator,
    proxy: Proxy,
    provider: std::sync::Arc<dyn CloudPhoneProvider>,
    mode: Mode,
    seed: u64,
}

impl Bench {
    async fn new(mode: Mode, seed: u64, phones: usize, faults: Faults) -> Bench {
        Bench::with_time_scale(mode, seed, phones, faults, 0.01).await
    }

    async fn with_time_scale(
        mode: Mode,
        seed: u64,
        phones: usize,
        faults: Faults,
        time_scale: f64,
    ) -> Bench {
        let sim = Simulator::start(
            common::sim_config(phones)
                .await
                .with_seed(seed)
                .with_time_scale(time_scale)
                // Every throttling answer is then an injected one.
                .without_limits(),
        )
        .await
        .expect("simulator starts");
        common::set_all_running(&sim);
        let v = mode.handle(&sim);
        let proxy = Proxy::start(v.url(), mode.knowledge().wire, HANG_THRESHOLD).await;
        let table = mode.table(
            v,
            TableOptions::new().with_url(proxy.url()),
            &fast_tuning(mode, 1, 4, 4),
        );
        let (_, provider) = build(&table);
        v.set_faults(faults);
        Bench {
            sim,
            proxy,
            provider,
            mode,
            seed,
        }
    }

    fn ctx(&self, what: &str) -> String {
        format!(
            "seed {} ({}): {what} — reproduce with CLOUDPHONE_FAULT_SEED={}",
            self.seed,
            self.mode.name(),
            self.seed
        )
    }

    fn vendor(&self) -> &VendorHandle {
        self.mode.handle(&self.sim)
    }

    fn phone_ids(&self) -> Vec<PhoneId> {
        self.mode.phones(&self.sim)
    }

    fn unknown_phone(&self) -> PhoneId {
        common::unknown_phone(self.vendor())
    }

    fn supports(&self, op: Operation) -> bool {
        self.provider.capabilities().supports(op)
    }

    /// How many times the simulator carried out `op` for `id`.
    fn applied(&self, op: Operation, id: &PhoneId) -> u32 {
        if op == Operation::Status {
            return 0;
        }
        common::applied(self.vendor(), op, id)
    }

    fn applied_all(&self, op: Operation, ids: &[PhoneId]) -> Vec<u32> {
        ids.iter().map(|id| self.applied(op, id)).collect()
    }

    async fn call(&self, op: Operation, asked: &[PhoneId]) -> BatchReport {
        let r = call(self.provider.as_ref(), op, asked).await;
        r.unwrap_or_else(|e| panic!("{}", self.ctx(&format!("{op} returned Err: {e}"))))
    }

    /// Faults seen through the proxy, once every answer is in.
    async fn fault_counts(&self) -> FaultCounts {
        self.proxy.settle().await;
        self.proxy.counts()
    }
}

/// One batch operation.
async fn call(
    p: &dyn CloudPhoneProvider,
    op: Operation,
    asked: &[PhoneId],
) -> cloudphone::Result<BatchReport> {
    match op {
        Operation::Status => p.status(asked).await,
        Operation::Stop => p.stop(asked).await,
        Operation::Start => p.start(asked, &StartOptions::default()).await,
        Operation::Restart => p.restart(asked).await,
        Operation::Reset => p.reset(asked, &ResetOptions::default()).await,
        other => panic!("not a batch operation: {other}"),
    }
}

/// Runs `run` for every mode at once and returns what each returned, in mode order.
async fn each_mode<F, Fut, T>(modes: Vec<Mode>, run: F) -> Vec<(Mode, T)>
where
    F: Fn(Mode) -> Fut,
    Fut: std::future::Future<Output = T>,
{
    assert!(!modes.is_empty(), "the simulator serves no vendor");
    let results = futures::future::join_all(modes.iter().map(|m| run(*m))).await;
    modes.into_iter().zip(results).collect()
}

fn wait_options() -> WaitOptions {
    WaitOptions::default()
        .timeout(Duration::from_secs(15))
        .poll_interval(Duration::from_millis(20))
}

/// Checks what waiting may and may not do to a report.
fn check_wait(b: &Bench, before: &BatchReport, after: &BatchReport, t: &mut Totals) {
    let op = before.operation;
    let target = op.target_state().expect("state-changing operation");
    assert_eq!(
        after.outcomes.len(),
        before.outcomes.len(),
        "{}",
        b.ctx(&format!("wait after {op} changed the number of outcomes"))
    );
    for (x, y) in before.outcomes.iter().zip(&after.outcomes) {
        assert_eq!(
            x.phone,
            y.phone,
            "{}",
            b.ctx(&format!("wait after {op} reordered outcomes"))
        );
        if let Some(job) = &x.job {
            t.jobs_checked += 1;
            assert_eq!(
                y.job.as_ref(),
                Some(job),
                "{}",
                b.ctx(&format!("wait after {op} lost the job of {}", x.phone))
            );
        }
        if x.error().is_some() {
            assert!(
                y.error().is_some(),
                "{}",
                b.ctx(&format!(
                    "wait after {op} revived failed {}: {y:?}",
                    x.phone
                ))
            );
        }
        if y.is_done() {
            assert_eq!(
                y.phone_state(),
                Some(target),
                "{}",
                b.ctx(&format!(
                    "wait after {op}: {} done but not {target}",
                    x.phone
                ))
            );
        }
    }
}

/// status, then stop → wait → start → wait → restart → wait → reset → wait, all under faults.
async fn run_once(mode: Mode, seed: u64, phones: usize) -> Totals {
    let faults = faults_for(seed, mode);
    let b = Bench::new(mode, seed, phones, faults).await;
    let mut t = Totals {
        runs: 1,
        ..Totals::default()
    };
    let ids = b.phone_ids();
    let mut asked = ids.clone();
    asked.insert(1, b.unknown_phone());
    asked.push(ids[0].clone());
    let checked: Vec<PhoneId> = common::distinct(&asked);

    for op in OPERATIONS {
        if !b.supports(op) {
            continue;
        }
        if op != Operation::Status {
            // Every issued token (if the vendor issues any) dies between operations too,
            // besides after N calls.
            common::expire_tokens(b.vendor()).await;
        }
        let before = b.applied_all(op, &checked);
        let report = b.call(op, &asked).await;
        t.operations += 1;
        let lost = ids_lost(&asked, &report) as u64;
        t.ids_lost += lost;
        assert_eq!(
            lost,
            0,
            "{}",
            b.ctx(&format!("{op}: outcomes {:?}", report.outcomes))
        );
        t.outcomes += report.outcomes.len() as u64;
        t.failed_outcomes += report.summary().failed as u64;
        t.unknown_outcomes += report.summary().unknown as u64;
        let after = b.applied_all(op, &checked);
        let mut refused_in_task = Vec::new();
        for (k, ((o, x), y)) in report.outcomes.iter().zip(&before).zip(&after).enumerate() {
            let delta = y - x;
            if delta > 1 {
                t.duplicate_actions += 1;
                if op == Operation::Reset {
                    t.duplicate_resets += 1;
                }
            }
            assert!(
                delta <= 1,
                "{}",
                b.ctx(&format!("{op} applied {delta} times to {}", o.phone))
            );
            if op != Operation::Status && o.error().is_some() && delta > 0 {
                // "Failed" must mean "not applied": an applied change whose answer was lost
                // is unknown.
                t.failed_but_applied += 1;
                eprintln!(
                    "{}",
                    b.ctx(&format!(
                        "{op} reported failed but applied to {}: {o:?}",
                        o.phone
                    ))
                );
            }
            if o.is_pending() && delta == 0 && b.mode.knowledge().refuses_in_tasks {
                // Accepted by a request whose answer names no phone, and refused in the
                // phone's own task: the wait below must settle it.
                refused_in_task.push(k);
            } else if o.is_pending() {
                assert_eq!(
                    delta,
                    1,
                    "{}",
                    b.ctx(&format!(
                        "{} reported accepted for {op}, not carried out",
                        o.phone
                    ))
                );
            }
            if let Some(e) = o.error() {
                assert!(
                    !e.kind().is_auth(),
                    "{}",
                    b.ctx(&format!(
                        "{op}: credentials error leaked to {}: {e}",
                        o.phone
                    ))
                );
            }
        }
        if op == Operation::Status {
            continue;
        }
        let waited = b
            .provider
            .wait(&report, &wait_options())
            .await
            .unwrap_or_else(|e| panic!("{}", b.ctx(&format!("wait after {op}: Err {e}"))));
        t.operations += 1;
        check_wait(&b, &report, &waited, &mut t);
        for &k in &refused_in_task {
            let o = &waited.outcomes[k];
            assert!(
                o.is_done() || o.error().is_some_and(|_| !o.is_unknown()),
                "{}",
                b.ctx(&format!(
                    "{op}: {} was refused in its task, and the wait left it {o:?}",
                    o.phone
                ))
            );
        }
        let after_wait = b.applied_all(op, &checked);
        assert_eq!(
            after,
            after_wait,
            "{}",
            b.ctx(&format!("waiting after {op} acted on phones"))
        );
        if op == Operation::Reset {
            for (o, (x, y)) in waited.outcomes.iter().zip(before.iter().zip(&after_wait)) {
                if o.is_done() {
                    assert_eq!(
                        y - x,
                        1,
                        "{}",
                        b.ctx(&format!(
                            "{} reported reset but reset {} times",
                            o.phone,
                            y - x
                        ))
                    );
                }
            }
        }
    }
    assert_eq!(
        t.failed_but_applied,
        0,
        "{}",
        b.ctx("changes reported failed were applied (see above)")
    );
    t.faults = b.fault_counts().await;
    assert!(
        t.faults.request_faults() > 0,
        "{}",
        b.ctx("no fault was injected; the run proves nothing")
    );
    // A mode that logs in had its tokens expired under it: it must have logged in again.
    assert!(
        t.faults.iam_logins != 1,
        "{}",
        b.ctx("the issued token never had to be renewed")
    );
    b.sim.shutdown().await;
    t
}

async fn run_mode(mode: Mode, seeds: &[u64], phones: usize) -> Totals {
    let mut total = Totals::default();
    for &seed in seeds {
        total.add(&run_once(mode, seed, phones).await);
    }
    if report_wanted() {
        println!(
            "{}",
            total.table(&format!("{} seeds {seeds:?}", mode.name()))
        );
    }
    total
}

/// The normal run: every auth mode of every simulated vendor, all at once, each over the seeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_vendor_and_auth_mode_keeps_the_contract_under_faults() {
    let seeds = seeds(&SEEDS);
    let all = each_mode(common::all_modes().await, |mode| {
        let seeds = seeds.clone();
        async move { run_mode(mode, &seeds, 10).await }
    })
    .await;
    if report_wanted() {
        let mut grand = Totals::default();
        for (_, t) in &all {
            grand.add(t);
        }
        println!("{}", grand.table(&format!("all modes, seeds {seeds:?}")));
    }
}

/// A wait whose deadline comes before the operation finishes still returns every job
/// reference the operation was accepted with, while reads fail around it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_deadline_keeps_every_accepted_job_reference() {
    each_mode(common::all_modes().await, |mode| async move {
        for seed in seeds(&SEEDS) {
            wait_deadline_once(mode, seed).await;
        }
    })
    .await;
}

async fn wait_deadline_once(mode: Mode, seed: u64) {
    // Real-time transitions: a reset takes seconds, far beyond the wait's deadline.
    let b = Bench::with_time_scale(mode, seed, 12, Faults::default(), 1.0).await;
    let ids = b.phone_ids();
    let reset = b.call(Operation::Reset, &ids).await;
    assert_eq!(ids_lost(&ids, &reset), 0, "{}", b.ctx("reset"));
    assert_eq!(
        reset.summary().pending,
        ids.len(),
        "{}",
        b.ctx("fault-free reset")
    );
    if b.provider.capabilities().jobs {
        assert_eq!(reset.jobs().count(), ids.len(), "{}", b.ctx("job refs"));
    }
    // Held in their resetting state (setting a status cancels the transition), the phones
    // cannot finish: the wait's deadline always comes first.
    let v = b.vendor();
    for id in &ids {
        let resetting = v.status(id.as_str()).expect("a phone");
        v.set_status(id.as_str(), resetting);
    }
    let mut faults = faults_for(seed, mode);
    faults.hang = 0.0;
    faults.expire_token_after_calls = None;
    v.set_faults(faults);
    common::expire_tokens(v).await;
    let opts = WaitOptions::default()
        .timeout(Duration::from_millis(200))
        .poll_interval(Duration::from_millis(20));
    let waited = b
        .provider
        .wait(&reset, &opts)
        .await
        .unwrap_or_else(|e| panic!("{}", b.ctx(&format!("wait: {e}"))));
    let mut t = Totals::default();
    check_wait(&b, &reset, &waited, &mut t);
    for (x, y) in reset.outcomes.iter().zip(&waited.outcomes) {
        assert!(
            !y.is_done(),
            "{}",
            b.ctx(&format!("{} done before its reset could end", y.phone))
        );
        assert_eq!(y.job, x.job, "{}", b.ctx("job kept"));
    }
    assert_eq!(
        waited.jobs().count(),
        reset.jobs().count(),
        "{}",
        b.ctx("every job reference survives the deadline")
    );
    b.sim.shutdown().await;
}

const WRONG_SECRET: &str = "WRONG-SECRET-0000000000000000000000000000";

/// Resets every vendor's call counters.
fn reset_calls(sim: &Simulator) {
    for v in sim.vendors() {
        v.reset_calls();
    }
}

/// Wrong credentials: one request per provider call, no retry, and no further chunk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_credentials_are_sent_once_and_stop_the_batch() {
    let sim = Simulator::start(common::sim_config(8).await.with_time_scale(0.01))
        .await
        .expect("simulator starts");
    let mut problems = Vec::new();
    for mode in common::all_modes().await {
        let v = mode.handle(&sim);
        let table = mode.table(
            v,
            TableOptions::new().with_secret(WRONG_SECRET),
            &fast_tuning(mode, 5, 1, 2),
        );
        let (_, provider) = build(&table);
        let ids = mode.phones(&sim);
        for op in OPERATIONS {
            if !provider.capabilities().supports(op) {
                continue;
            }
            reset_calls(&sim);
            let e = match call(provider.as_ref(), op, &ids).await {
                Err(e) => e,
                Ok(r) => panic!(
                    "{} {op}: accepted with wrong credentials: {r:?}",
                    mode.name()
                ),
            };
            assert_eq!(
                e.kind(),
                ErrorKind::Unauthenticated,
                "{} {op}: {e}",
                mode.name()
            );
            let calls = v.calls();
            // A provider remembers a refusal: after the first one (the status call) nothing is
            // sent with those credentials again, whatever the operation.
            let expected = if op == Operation::Status { 1 } else { 0 };
            if calls.total() != expected {
                problems.push(format!(
                    "{} {op}: expected {expected}, got {:?}",
                    mode.name(),
                    calls.counts
                ));
            }
        }
    }
    assert!(problems.is_empty(), "more than one request: {problems:#?}");
    sim.shutdown().await;
}

/// With several chunks in flight, the first refusal must still be the only one sent: a vendor
/// may lock an access key after a few failures, an identity service a user after repeated wrong
/// passwords.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_chunks_send_rejected_credentials_once() {
    let sim = Simulator::start(
        common::sim_config(8)
            .await
            .with_time_scale(0.01)
            // Slow answers leave the concurrent chunks time to start.
            .with_latency(Duration::from_millis(30)),
    )
    .await
    .expect("simulator starts");
    let mut problems = Vec::new();
    for mode in common::all_modes().await {
        let v = mode.handle(&sim);
        let table = mode.table(
            v,
            TableOptions::new().with_secret(WRONG_SECRET),
            &fast_tuning(mode, 5, 4, 2),
        );
        let (_, provider) = build(&table);
        let ids = mode.phones(&sim);
        reset_calls(&sim);
        let e = provider
            .reset(&ids, &ResetOptions::default())
            .await
            .expect_err("wrong credentials");
        assert_eq!(e.kind(), ErrorKind::Unauthenticated, "{}: {e}", mode.name());
        let calls = v.calls();
        if calls.total() != 1 {
            problems.push(format!("{} reset: {:?}", mode.name(), calls.counts));
        }
    }
    assert!(problems.is_empty(), "more than one request: {problems:#?}");
    sim.shutdown().await;
}

fn print_totals(title: &str, all: &[(Mode, Totals)]) {
    let mut grand = Totals::default();
    for (mode, t) in all {
        println!("{}", t.table(&mode.name()));
        grand.add(t);
    }
    println!("{}", grand.table(title));
    assert_eq!(grand.ids_lost, 0);
    assert_eq!(grand.duplicate_resets, 0);
    assert_eq!(grand.failed_but_applied, 0);
    assert_eq!(grand.duplicate_actions, 0);
}

/// The normal run's seeds for every vendor and auth mode, one after the other, with a totals
/// table. `cargo test --test faults fault_totals -- --ignored --nocapture`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "prints the totals table; run with --ignored --nocapture"]
async fn fault_totals() {
    let seeds = seeds(&SEEDS);
    let mut all = Vec::new();
    for mode in common::all_modes().await {
        all.push((mode, run_mode(mode, &seeds, 10).await));
    }
    print_totals(&format!("all modes, seeds {seeds:?}"), &all);
}

/// More seeds and phones. `cargo test --test faults fault_soak -- --ignored --nocapture`
/// (`CLOUDPHONE_FAULT_SOAK_SEEDS=n` sets the number of seeds, default 20).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "soak: minutes; run with --ignored --nocapture"]
async fn fault_soak() {
    let n: u64 = std::env::var("CLOUDPHONE_FAULT_SOAK_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let seeds: Vec<u64> = seeds(&(1..=n).map(|i| 1_000 + i).collect::<Vec<_>>());
    let mut all = Vec::new();
    for mode in common::all_modes().await {
        all.push((mode, run_mode(mode, &seeds, 40).await));
    }
    print_totals(&format!("soak, {} seeds x 40 phones", seeds.len()), &all);
}
