//! Proof under faults: every operation of every vendor, on the simulator, with seeded faults
//! injected at rates up to 30% — 5xx, throttling, cut connections, hangs past the client
//! timeout, malformed JSON, ids dropped from batch answers, IAM tokens expiring mid-run — and
//! the contract's invariants checked after every call:
//!
//! * every requested id has exactly one outcome, in request order;
//! * no phone is stopped, started, restarted or reset twice by one call (the simulator's
//!   `applied_*` counters are the ground truth, counted even when a fault hid the answer), and an
//!   accepted (pending) phone really was acted on once;
//! * waiting never acts on a phone, keeps every job reference, keeps failures failed, and reports
//!   done only in the target state;
//! * rejected credentials are tried once and stop the batch.
//!
//! Reproduce a failure from the seed in its message: `CLOUDPHONE_FAULT_SEED=<seed> cargo test
//! --test faults`. Totals: `CLOUDPHONE_FAULT_REPORT=1 cargo test --test faults -- --nocapture`
//! prints a table per test; `cargo test --test faults -- --ignored --nocapture` runs the larger
//! soak and prints its totals.

mod common;

use std::fmt::Write as _;
use std::time::Duration;

use cloudphone::{
    BatchReport, CloudPhoneProvider, ErrorKind, Operation, PhoneId, ResetOptions, StartOptions,
    WaitOptions,
};
use cloudphone_sim::{Faults, SimConfig, Simulator};
use common::proxy::{FaultCounts, Proxy, Vendor};
use common::{build, fast_tuning, ids_lost, provider_table, Mode, Target};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// How long an injected hang lasts; the providers' request timeout is 1 s.
const HANG_MS: u64 = 1_500;
/// Answers slower than this were hangs (ordinary ones take milliseconds).
const HANG_THRESHOLD: Duration = Duration::from_millis(1_200);
/// The seeds of the normal run; `CLOUDPHONE_FAULT_SEED` replaces them with one.
const SEEDS: [u64; 3] = [0x0f_a017, 0x5eed_0002, 20_240_601];

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
/// rare so that the suite stays fast.
fn faults_for(seed: u64, mode: Mode) -> Faults {
    let mut rng = SmallRng::seed_from_u64(seed ^ (mode as u64).wrapping_mul(0x9e37_79b9));
    Faults {
        error_5xx: rng.random_range(0.05..=0.3),
        throttle: rng.random_range(0.05..=0.3),
        connection_reset: rng.random_range(0.0..=0.2),
        hang: rng.random_range(0.0..=0.04),
        hang_duration_ms: HANG_MS,
        malformed: rng.random_range(0.0..=0.2),
        drop_ids: rng.random_range(0.0..=0.2),
        expire_token_after_calls: (mode == Mode::HuaweiIam).then(|| rng.random_range(40..=60)),
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
            ("runs (seed x mode)", self.runs),
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
            ("  throttling (40007 / 429)", f.throttle),
            ("  connection reset", f.connection_reset),
            ("  hang past the client timeout", f.hang),
            ("  malformed JSON", f.malformed),
            ("ids dropped from batch answers", f.dropped_ids),
            ("  in answers", f.answers_with_dropped_ids),
            ("IAM token expired (401) mid-run", f.token_expired),
            ("IAM logins", f.iam_logins),
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

/// One simulator with an observing proxy in front of each vendor, and a provider through it.
struct Bench {
    sim: Simulator,
    proxies: Vec<Proxy>,
    provider: std::sync::Arc<dyn CloudPhoneProvider>,
    mode: Mode,
    seed: u64,
}

impl Bench {
    async fn new(mode: Mode, seed: u64, phones: usize, faults: Faults) -> Bench {
        let sim = Simulator::start(
            SimConfig::default()
                .with_seed(seed)
                .with_phones(phones, phones)
                .with_time_scale(0.01)
                // Every throttling answer is then an injected one.
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
        let gl = Proxy::start(sim.geelark_url(), Vendor::Geelark, HANG_THRESHOLD).await;
        let hw = Proxy::start(sim.huawei_url(), Vendor::Huawei, HANG_THRESHOLD).await;
        let target = Target {
            geelark_url: gl.url(),
            huawei_url: hw.url(),
        };
        let table = provider_table(
            mode,
            &target,
            sim.credentials(),
            &fast_tuning(mode, 1, 4, 4),
            None,
        );
        let (_, provider) = build(&table);
        if mode.is_geelark() {
            sim.geelark().set_faults(faults);
        } else {
            sim.huawei().set_faults(faults);
        }
        Bench {
            sim,
            proxies: vec![gl, hw],
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

    fn phone_ids(&self) -> Vec<PhoneId> {
        let ids = if self.mode.is_geelark() {
            self.sim.geelark_phone_ids()
        } else {
            self.sim.huawei_phone_ids()
        };
        ids.into_iter().map(PhoneId::new).collect()
    }

    fn unknown_phone(&self) -> PhoneId {
        if self.mode.is_geelark() {
            PhoneId::new("599999999999999999")
        } else {
            PhoneId::new("ffffffffffffffffffffffffffffffff")
        }
    }

    /// How many times the simulator carried out `op` for `id`.
    fn applied(&self, op: Operation, id: &PhoneId) -> u32 {
        if self.mode.is_geelark() {
            let a = self.sim.geelark().applied(id.as_str()).unwrap_or_default();
            match op {
                Operation::Stop => a.stops,
                Operation::Start => a.starts,
                Operation::Restart => a.restarts,
                Operation::Reset => a.new_ones,
                _ => 0,
            }
        } else {
            let a = self.sim.huawei().applied(id.as_str()).unwrap_or_default();
            match op {
                Operation::Stop => a.stops,
                // CPH has no start call: start is a batch-restart.
                Operation::Start | Operation::Restart => a.restarts,
                Operation::Reset => a.resets,
                _ => 0,
            }
        }
    }

    fn applied_all(&self, op: Operation, ids: &[PhoneId]) -> Vec<u32> {
        ids.iter().map(|id| self.applied(op, id)).collect()
    }

    async fn call(&self, op: Operation, asked: &[PhoneId]) -> BatchReport {
        let p = &self.provider;
        let r = match op {
            Operation::Status => p.status(asked).await,
            Operation::Stop => p.stop(asked).await,
            Operation::Start => p.start(asked, &StartOptions::default()).await,
            Operation::Restart => p.restart(asked).await,
            Operation::Reset => p.reset(asked, &ResetOptions::default()).await,
            other => panic!("not a batch operation: {other}"),
        };
        r.unwrap_or_else(|e| panic!("{}", self.ctx(&format!("{op} returned Err: {e}"))))
    }

    /// Faults seen through both proxies, once every answer is in.
    async fn fault_counts(&self) -> FaultCounts {
        let mut total = FaultCounts::default();
        for p in &self.proxies {
            p.settle().await;
            total.add(&p.counts());
        }
        total
    }
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

    for op in [
        Operation::Status,
        Operation::Stop,
        Operation::Start,
        Operation::Restart,
        Operation::Reset,
    ] {
        if mode == Mode::HuaweiIam && op != Operation::Status {
            // Every issued token dies between operations too, besides after N calls.
            b.sim.huawei().expire_tokens();
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
        for ((o, x), y) in report.outcomes.iter().zip(&before).zip(&after) {
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
            if o.is_pending() {
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
    if mode == Mode::HuaweiIam {
        assert!(
            t.faults.iam_logins > 1,
            "{}",
            b.ctx("the IAM token never had to be renewed")
        );
    }
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn geelark_key_auth_keeps_the_contract_under_faults() {
    run_mode(Mode::GeelarkKey, &seeds(&SEEDS), 10).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huawei_aksk_keeps_the_contract_under_faults() {
    run_mode(Mode::HuaweiAkSk, &seeds(&SEEDS), 10).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huawei_iam_keeps_the_contract_under_faults_and_token_expiry() {
    run_mode(Mode::HuaweiIam, &seeds(&SEEDS), 10).await;
}

/// A wait whose deadline comes before the operation finishes still returns every job
/// reference the operation was accepted with, while reads fail around it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_deadline_keeps_every_accepted_job_reference() {
    for seed in seeds(&SEEDS) {
        for mode in [Mode::HuaweiAkSk, Mode::HuaweiIam, Mode::GeelarkKey] {
            let b = Bench::new(mode, seed, 12, Faults::default()).await;
            let ids = b.phone_ids();
            let reset = b.call(Operation::Reset, &ids).await;
            assert_eq!(ids_lost(&ids, &reset), 0, "{}", b.ctx("reset"));
            assert_eq!(
                reset.summary().pending,
                ids.len(),
                "{}",
                b.ctx("fault-free reset")
            );
            if !mode.is_geelark() {
                assert_eq!(reset.jobs().count(), ids.len(), "{}", b.ctx("job refs"));
            }
            // Held in their resetting state (setting a status cancels the transition), the
            // phones cannot finish: the wait's deadline always comes first.
            let mut faults = faults_for(seed, mode);
            faults.hang = 0.0;
            faults.expire_token_after_calls = None;
            if mode.is_geelark() {
                b.sim.geelark().set_faults(faults);
            } else {
                b.sim.huawei().set_faults(faults);
                b.sim.huawei().expire_tokens();
            }
            for id in &ids {
                if mode.is_geelark() {
                    b.sim.geelark().set_status(id.as_str(), 1);
                } else {
                    b.sim.huawei().set_status(id.as_str(), 3);
                }
            }
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
    }
}

/// Wrong credentials: one request per provider call, no retry, and no further chunk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_credentials_are_sent_once_and_stop_the_batch() {
    let sim = Simulator::start(SimConfig::default().with_phones(8, 8).with_time_scale(0.01))
        .await
        .expect("simulator starts");
    let target = Target {
        geelark_url: sim.geelark_url(),
        huawei_url: sim.huawei_url(),
    };
    let mut problems = Vec::new();
    for mode in Mode::ALL {
        let table = provider_table(
            mode,
            &target,
            sim.credentials(),
            &fast_tuning(mode, 5, 1, 2),
            Some("WRONG-SECRET-0000000000000000000000000000"),
        );
        let (_, provider) = build(&table);
        let ids: Vec<PhoneId> = if mode.is_geelark() {
            sim.geelark_phone_ids()
        } else {
            sim.huawei_phone_ids()
        }
        .into_iter()
        .map(PhoneId::new)
        .collect();
        for op in [
            Operation::Status,
            Operation::Stop,
            Operation::Start,
            Operation::Restart,
            Operation::Reset,
        ] {
            sim.geelark().reset_calls();
            sim.huawei().reset_calls();
            let r = match op {
                Operation::Status => provider.status(&ids).await,
                Operation::Stop => provider.stop(&ids).await,
                Operation::Start => provider.start(&ids, &StartOptions::default()).await,
                Operation::Restart => provider.restart(&ids).await,
                _ => provider.reset(&ids, &ResetOptions::default()).await,
            };
            let e = match r {
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
            let calls = if mode.is_geelark() {
                sim.geelark().calls()
            } else {
                sim.huawei().calls()
            };
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

/// With several chunks in flight, the first refusal must still be the only one sent: Huawei
/// locks an AK/SK after five failures and IAM may lock a user after repeated wrong passwords.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_chunks_send_rejected_credentials_once() {
    let sim = Simulator::start(
        SimConfig::default()
            .with_phones(8, 8)
            .with_time_scale(0.01)
            // Slow answers leave the concurrent chunks time to start.
            .with_latency(Duration::from_millis(30)),
    )
    .await
    .expect("simulator starts");
    let target = Target {
        geelark_url: sim.geelark_url(),
        huawei_url: sim.huawei_url(),
    };
    let mut problems = Vec::new();
    for mode in [Mode::HuaweiAkSk, Mode::HuaweiIam, Mode::GeelarkKey] {
        let table = provider_table(
            mode,
            &target,
            sim.credentials(),
            &fast_tuning(mode, 5, 4, 2),
            Some("WRONG-SECRET-0000000000000000000000000000"),
        );
        let (_, provider) = build(&table);
        let ids: Vec<PhoneId> = if mode.is_geelark() {
            sim.geelark_phone_ids()
        } else {
            sim.huawei_phone_ids()
        }
        .into_iter()
        .map(PhoneId::new)
        .collect();
        sim.geelark().reset_calls();
        sim.huawei().reset_calls();
        let e = provider
            .reset(&ids, &ResetOptions::default())
            .await
            .expect_err("wrong credentials");
        assert_eq!(e.kind(), ErrorKind::Unauthenticated, "{}: {e}", mode.name());
        let calls = if mode.is_geelark() {
            sim.geelark().calls()
        } else {
            sim.huawei().calls()
        };
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
        println!("{}", t.table(mode.name()));
        grand.add(t);
    }
    println!("{}", grand.table(title));
    assert_eq!(grand.ids_lost, 0);
    assert_eq!(grand.duplicate_resets, 0);
    assert_eq!(grand.failed_but_applied, 0);
    assert_eq!(grand.duplicate_actions, 0);
}

/// The normal run's seeds for every vendor and auth mode, with a totals table.
/// `cargo test --test faults fault_totals -- --ignored --nocapture`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "prints the totals table; run with --ignored --nocapture"]
async fn fault_totals() {
    let seeds = seeds(&SEEDS);
    let mut all = Vec::new();
    for mode in Mode::ALL {
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
    for mode in Mode::ALL {
        all.push((mode, run_mode(mode, &seeds, 40).await));
    }
    print_totals(&format!("soak, {} seeds x 40 phones", seeds.len()), &all);
}
