//! The behaviour suite: one set of tests, written once against `dyn CloudPhoneProvider`, run
//! against every vendor the simulator serves in every auth mode it writes a provider table for
//! (`Simulator::vendors`), each provider built through configuration from that table and each
//! test selected by the provider's capabilities (as OpenDAL runs one suite against every
//! service). A vendor registered with the client library and the simulator is covered with no
//! edit here; the few facts the simulator cannot tell yet are in `common/vendors.rs`.

mod common;

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use cloudphone::{
    CloudPhoneProvider, CloudPhoneProviderExt, ErrorKind, Operation, PhoneId, PhoneState,
    ResetOptions, StartOptions, WaitOptions,
};
use cloudphone_sim::{Faults, Simulator, TableOptions, VendorHandle};
use common::Mode;
use futures::StreamExt;

/// One provider under test, on its own simulator.
struct Case {
    sim: Simulator,
    provider: Arc<dyn CloudPhoneProvider>,
    mode: Mode,
    /// `type/auth`, for messages.
    name: String,
}

impl Case {
    async fn new(mode: Mode) -> Case {
        let sim = Simulator::start(common::sim_config(8).await.with_time_scale(0.01))
            .await
            .expect("simulator starts");
        // The simulator seeds a realistic mix of states; the suite starts from a running fleet.
        common::set_all_running(&sim);
        let fast = "max_retries = 6\nretry_min_delay_ms = 5\nretry_max_delay_ms = 50";
        let table = mode.table(mode.handle(&sim), TableOptions::new(), fast);
        let (_, provider) = common::build(&table);
        Case {
            sim,
            provider,
            mode,
            name: mode.name(),
        }
    }

    fn vendor(&self) -> &VendorHandle {
        self.mode.handle(&self.sim)
    }

    fn phones(&self) -> Vec<PhoneId> {
        self.mode.phones(&self.sim)
    }

    /// An id of the vendor's shape that the simulator does not know.
    fn unknown_phone(&self) -> PhoneId {
        common::unknown_phone(self.vendor())
    }

    fn set_faults(&self, faults: Faults) {
        self.vendor().set_faults(faults);
    }

    fn supports(&self, op: Operation) -> bool {
        self.provider.capabilities().supports(op)
    }

    /// Calls received by every simulated vendor.
    fn calls_everywhere(&self) -> u64 {
        self.sim.vendors().iter().map(|v| v.calls().total()).sum()
    }
}

/// Runs `test` once for every auth mode of every simulated vendor, each on its own simulator,
/// all at once.
async fn each_case<F, Fut>(test: F)
where
    F: Fn(Case) -> Fut,
    Fut: Future<Output = ()>,
{
    let modes = common::all_modes().await;
    assert!(!modes.is_empty(), "the simulator serves no vendor");
    let cases = futures::future::join_all(modes.into_iter().map(Case::new)).await;
    futures::future::join_all(cases.into_iter().map(test)).await;
}

fn wait_opts() -> WaitOptions {
    WaitOptions::default()
        .timeout(Duration::from_secs(30))
        .poll_interval(Duration::from_millis(20))
}

fn assert_complete(mode: &str, asked: &[PhoneId], report: &cloudphone::BatchReport) {
    let distinct: Vec<&PhoneId> = {
        let mut seen = HashSet::new();
        asked.iter().filter(|p| seen.insert(*p)).collect()
    };
    let got: Vec<&PhoneId> = report.outcomes.iter().map(|o| &o.phone).collect();
    assert_eq!(
        got, distinct,
        "{mode}: one outcome per distinct phone, in order"
    );
}

async fn status_reads_every_phone(c: Case) {
    let phones = c.phones();
    let r = c.provider.status(&phones).await.unwrap();
    assert_complete(&c.name, &phones, &r);
    for o in &r.outcomes {
        assert!(o.is_done(), "{}: {o:?}", c.name);
        assert_eq!(o.phone_state(), Some(PhoneState::Running), "{}", c.name);
        assert!(!o.state.as_ref().unwrap().raw.is_empty());
    }
}

async fn stop_then_wait_reaches_stopped(c: Case) {
    let phones = c.phones();
    let r = c.provider.stop(&phones).await.unwrap();
    assert_complete(&c.name, &phones, &r);
    assert_eq!(r.summary().failed, 0, "{}: {r:?}", c.name);
    let w = c.provider.wait(&r, &wait_opts()).await.unwrap();
    assert!(w.all_done(), "{}: {w:?}", c.name);
    for o in &w.outcomes {
        assert_eq!(o.phone_state(), Some(PhoneState::Stopped), "{}", c.name);
    }
    if c.provider.capabilities().jobs {
        assert_eq!(w.jobs().count(), phones.len(), "{}: job refs kept", c.name);
    }
}

async fn start_after_stop_reaches_running(c: Case) {
    if !c.supports(Operation::Start) {
        return;
    }
    let phones = c.phones();
    let stopped = c.provider.stop(&phones).await.unwrap();
    c.provider.wait(&stopped, &wait_opts()).await.unwrap();
    let r = c
        .provider
        .start(&phones, &StartOptions::default())
        .await
        .unwrap();
    assert_eq!(r.summary().failed, 0, "{}: {r:?}", c.name);
    let w = c.provider.wait(&r, &wait_opts()).await.unwrap();
    assert!(w.all_done(), "{}: {w:?}", c.name);
    assert!(w
        .outcomes
        .iter()
        .all(|o| o.phone_state() == Some(PhoneState::Running)));
}

async fn restart_then_wait_reaches_running(c: Case) {
    if !c.supports(Operation::Restart) {
        return;
    }
    let phones = c.phones();
    let r = c.provider.restart(&phones).await.unwrap();
    assert_complete(&c.name, &phones, &r);
    let w = c.provider.wait(&r, &wait_opts()).await.unwrap();
    assert!(w.all_done(), "{}: {w:?}", c.name);
}

async fn reset_then_wait_reaches_running_once_per_phone(c: Case) {
    let phones = c.phones();
    let r = c
        .provider
        .reset(&phones, &ResetOptions::default())
        .await
        .unwrap();
    assert_complete(&c.name, &phones, &r);
    assert_eq!(r.summary().pending, phones.len(), "{}: {r:?}", c.name);
    let w = c.provider.wait(&r, &wait_opts()).await.unwrap();
    assert!(w.all_done(), "{}: {w:?}", c.name);
    for p in &phones {
        let applied = common::applied(c.vendor(), Operation::Reset, p);
        assert_eq!(applied, 1, "{}: {p} reset exactly once", c.name);
    }
}

async fn unknown_and_duplicate_ids_are_accounted_for(c: Case) {
    let mut phones = c.phones();
    phones.truncate(3);
    phones.insert(1, c.unknown_phone());
    phones.push(phones[0].clone());
    let status = c.provider.status(&phones).await.unwrap();
    let stop = c.provider.stop(&phones).await.unwrap();
    // The vendor's own code is kept where the vendor said it (a status may instead be read
    // from list pages, where an absent phone is our inference).
    let stop_err = stop.outcomes[1].error().expect("unknown phone fails");
    assert!(
        stop_err.vendor_code().is_some(),
        "{}: vendor code kept",
        c.name
    );
    for report in [status, stop] {
        assert_complete(&c.name, &phones, &report);
        let e = report.outcomes[1].error().expect("unknown phone fails");
        assert!(
            matches!(e.kind(), ErrorKind::NotFound | ErrorKind::InvalidArgument),
            "{}: {e}",
            c.name
        );
        assert_eq!(report.summary().failed, 1, "{}: {report:?}", c.name);
    }
}

async fn empty_input_touches_nothing(c: Case) {
    let before = c.calls_everywhere();
    let r = c.provider.stop(&[]).await.unwrap();
    assert!(r.outcomes.is_empty());
    let after = c.calls_everywhere();
    assert_eq!(before, after, "{}", c.name);
}

async fn busy_phone_fails_alone(c: Case) {
    // The ways the vendor's phones can refuse a stop (a remote connection, a running task, ...):
    // each busy phone fails alone, with its vendor code; the others stop.
    let busy = c.mode.knowledge().busy;
    if busy.is_empty() {
        return;
    }
    let phones = c.phones();
    for ((flags, _), phone) in busy.iter().zip(&phones) {
        let path = format!("phones/{phone}/flags");
        common::admin(c.vendor(), reqwest::Method::PUT, &path, Some(flags))
            .await
            .unwrap_or_else(|| panic!("{}: no flags route", c.name));
    }
    let r = c.provider.stop(&phones).await.unwrap();
    for (o, (_, code)) in r.outcomes.iter().zip(busy) {
        assert_eq!(
            o.error().map(|e| e.kind()),
            Some(ErrorKind::Busy),
            "{}",
            c.name
        );
        assert_eq!(o.error().unwrap().vendor_code(), Some(*code), "{}", c.name);
    }
    assert_eq!(r.summary().failed, busy.len(), "{}: {r:?}", c.name);
}

async fn throttling_is_recovered(c: Case) {
    c.set_faults(Faults {
        throttle: 0.3,
        ..Faults::default()
    });
    let phones = c.phones();
    let s = c.provider.status(&phones).await.unwrap();
    assert!(s.all_done(), "{}: {s:?}", c.name);
    let r = c.provider.stop(&phones).await.unwrap();
    assert_eq!(r.summary().failed, 0, "{}: {r:?}", c.name);
    let w = c.provider.wait(&r, &wait_opts()).await.unwrap();
    assert!(w.all_done(), "{}: {w:?}", c.name);
}

async fn listing_streams_every_phone(c: Case) {
    if !c.supports(Operation::List) {
        return;
    }
    let listed: Vec<_> = c.provider.list(Some(3)).collect().await;
    let ids: HashSet<String> = listed
        .into_iter()
        .map(|p| p.unwrap().id.to_string())
        .collect();
    let want: HashSet<String> = c.phones().iter().map(|p| p.to_string()).collect();
    assert_eq!(ids, want, "{}", c.name);
}

/// Every registered client vendor that talks to a server is simulated, so that every test
/// above runs against it.
#[tokio::test]
async fn every_registered_vendor_has_a_simulator_counterpart() {
    common::assert_every_registered_vendor_is_simulated().await;
}

macro_rules! suite {
    ($($test:ident),* $(,)?) => {
        /// Each test, once per auth mode of every simulated vendor.
        mod every_vendor_and_auth_mode {
            $(
                #[tokio::test]
                async fn $test() {
                    super::each_case(super::$test).await
                }
            )*
        }
    };
}

suite! {
    status_reads_every_phone,
    stop_then_wait_reaches_stopped,
    start_after_stop_reaches_running,
    restart_then_wait_reaches_running,
    reset_then_wait_reaches_running_once_per_phone,
    unknown_and_duplicate_ids_are_accounted_for,
    empty_input_touches_nothing,
    busy_phone_fails_alone,
    throttling_is_recovered,
    listing_streams_every_phone,
}
