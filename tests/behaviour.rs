//! The behaviour suite: one set of tests, written once against `dyn CloudPhoneProvider`, run
//! against every provider type and auth mode on the simulator, each test selected by the
//! provider's capabilities (as OpenDAL runs one suite against every service).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use cloudphone::{
    CloudPhoneProvider, CloudPhoneProviderExt, Config, ErrorKind, Operation, PhoneId, PhoneState,
    ResetOptions, StartOptions, WaitOptions,
};
use cloudphone_sim::{Faults, SimConfig, Simulator};
use futures::StreamExt;

/// One provider under test, on its own simulator.
struct Case {
    sim: Simulator,
    provider: Arc<dyn CloudPhoneProvider>,
    mode: &'static str,
}

impl Case {
    async fn new(mode: &'static str) -> Case {
        let sim = Simulator::start(SimConfig::default().with_phones(8, 8).with_time_scale(0.01))
            .await
            .expect("simulator starts");
        // The simulator seeds a realistic mix of states; the suite starts from a running fleet.
        for id in sim.geelark_phone_ids() {
            sim.geelark().set_status(&id, 0);
        }
        for id in sim.huawei_phone_ids() {
            sim.huawei().set_status(&id, 2);
        }
        let c = sim.credentials().clone();
        let fast = "max_retries = 6\nretry_min_delay_ms = 5\nretry_max_delay_ms = 50";
        let hw = format!(
            "type = \"huawei-cph\"\nregion = \"{}\"\nproject_id = \"{}\"\nendpoint = \"{}\"\niam_endpoint = \"{}\"\n{fast}",
            c.huawei_region,
            c.huawei_project_id,
            sim.huawei_url(),
            sim.iam_url()
        );
        let table = match mode {
            "geelark-key" => format!(
                "type = \"geelark\"\nbase_url = \"{}\"\napp_id = \"{}\"\napi_key = \"{}\"\n{fast}",
                sim.geelark_url(),
                c.geelark_app_id,
                c.geelark_api_key
            ),
            "geelark-token" => format!(
                "type = \"geelark\"\nbase_url = \"{}\"\ntoken = \"{}\"\n{fast}",
                sim.geelark_url(),
                c.geelark_token
            ),
            "huawei-token" => format!("{hw}\ntoken = \"{}\"", c.huawei_token),
            "huawei-iam" => format!(
                "{hw}\nusername = \"{}\"\npassword = \"{}\"\ndomain = \"{}\"",
                c.huawei_username, c.huawei_password, c.huawei_domain
            ),
            "huawei-aksk" => format!(
                "{hw}\naccess_key = \"{}\"\nsecret_key = \"{}\"",
                c.huawei_access_key, c.huawei_secret_key
            ),
            other => panic!("unknown mode {other}"),
        };
        let config = Config::from_toml_str(&format!("[providers.p]\n{table}\n"))
            .unwrap_or_else(|e| panic!("{mode}: {e}"));
        let provider = config.build("p").unwrap_or_else(|e| panic!("{mode}: {e}"));
        Case {
            sim,
            provider,
            mode,
        }
    }

    fn is_geelark(&self) -> bool {
        self.mode.starts_with("geelark")
    }

    fn phones(&self) -> Vec<PhoneId> {
        let ids = if self.is_geelark() {
            self.sim.geelark_phone_ids()
        } else {
            self.sim.huawei_phone_ids()
        };
        ids.into_iter().map(PhoneId::new).collect()
    }

    /// An id of the vendor's shape that the simulator does not know.
    fn unknown_phone(&self) -> PhoneId {
        if self.is_geelark() {
            PhoneId::new("999999999999999999")
        } else {
            PhoneId::new("ffffffffffffffffffffffffffffffff")
        }
    }

    fn set_faults(&self, faults: Faults) {
        if self.is_geelark() {
            self.sim.geelark().set_faults(faults);
        } else {
            self.sim.huawei().set_faults(faults);
        }
    }

    fn supports(&self, op: Operation) -> bool {
        self.provider.capabilities().supports(op)
    }
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
    assert_complete(c.mode, &phones, &r);
    for o in &r.outcomes {
        assert!(o.is_done(), "{}: {o:?}", c.mode);
        assert_eq!(o.phone_state(), Some(PhoneState::Running), "{}", c.mode);
        assert!(!o.state.as_ref().unwrap().raw.is_empty());
    }
}

async fn stop_then_wait_reaches_stopped(c: Case) {
    let phones = c.phones();
    let r = c.provider.stop(&phones).await.unwrap();
    assert_complete(c.mode, &phones, &r);
    assert_eq!(r.summary().failed, 0, "{}: {r:?}", c.mode);
    let w = c.provider.wait(&r, &wait_opts()).await.unwrap();
    assert!(w.all_done(), "{}: {w:?}", c.mode);
    for o in &w.outcomes {
        assert_eq!(o.phone_state(), Some(PhoneState::Stopped), "{}", c.mode);
    }
    if c.provider.capabilities().jobs {
        assert_eq!(w.jobs().count(), phones.len(), "{}: job refs kept", c.mode);
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
    assert_eq!(r.summary().failed, 0, "{}: {r:?}", c.mode);
    let w = c.provider.wait(&r, &wait_opts()).await.unwrap();
    assert!(w.all_done(), "{}: {w:?}", c.mode);
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
    assert_complete(c.mode, &phones, &r);
    let w = c.provider.wait(&r, &wait_opts()).await.unwrap();
    assert!(w.all_done(), "{}: {w:?}", c.mode);
}

async fn reset_then_wait_reaches_running_once_per_phone(c: Case) {
    let phones = c.phones();
    let r = c
        .provider
        .reset(&phones, &ResetOptions::default())
        .await
        .unwrap();
    assert_complete(c.mode, &phones, &r);
    assert_eq!(r.summary().pending, phones.len(), "{}: {r:?}", c.mode);
    let w = c.provider.wait(&r, &wait_opts()).await.unwrap();
    assert!(w.all_done(), "{}: {w:?}", c.mode);
    for p in &phones {
        let applied = if c.is_geelark() {
            c.sim.geelark().applied_resets(p.as_str())
        } else {
            c.sim.huawei().applied_resets(p.as_str())
        };
        assert_eq!(applied, 1, "{}: {p} reset exactly once", c.mode);
    }
}

async fn unknown_and_duplicate_ids_are_accounted_for(c: Case) {
    let mut phones = c.phones();
    phones.truncate(3);
    phones.insert(1, c.unknown_phone());
    phones.push(phones[0].clone());
    let status = c.provider.status(&phones).await.unwrap();
    let stop = c.provider.stop(&phones).await.unwrap();
    // The vendor's own code is kept where the vendor said it (Huawei status may instead be
    // read from list pages, where an absent phone is our inference).
    let stop_err = stop.outcomes[1].error().expect("unknown phone fails");
    assert!(
        stop_err.vendor_code().is_some(),
        "{}: vendor code kept",
        c.mode
    );
    for report in [status, stop] {
        assert_complete(c.mode, &phones, &report);
        let e = report.outcomes[1].error().expect("unknown phone fails");
        assert!(
            matches!(e.kind(), ErrorKind::NotFound | ErrorKind::InvalidArgument),
            "{}: {e}",
            c.mode
        );
        assert_eq!(report.summary().failed, 1, "{}: {report:?}", c.mode);
    }
}

async fn empty_input_touches_nothing(c: Case) {
    let before = c.sim.geelark().calls().total() + c.sim.huawei().calls().total();
    let r = c.provider.stop(&[]).await.unwrap();
    assert!(r.outcomes.is_empty());
    let after = c.sim.geelark().calls().total() + c.sim.huawei().calls().total();
    assert_eq!(before, after, "{}", c.mode);
}

async fn busy_phone_fails_alone(c: Case) {
    if !c.is_geelark() {
        return; // Only GeeLark has remote connections and tasks that block a stop.
    }
    let phones = c.phones();
    c.sim
        .geelark()
        .set_remote_connected(phones[0].as_str(), true);
    c.sim.geelark().set_executing_task(phones[1].as_str(), true);
    let r = c.provider.stop(&phones).await.unwrap();
    for o in &r.outcomes[..2] {
        assert_eq!(
            o.error().map(|e| e.kind()),
            Some(ErrorKind::Busy),
            "{}",
            c.mode
        );
    }
    assert_eq!(r.outcomes[0].error().unwrap().vendor_code(), Some("43006"));
    assert_eq!(r.outcomes[1].error().unwrap().vendor_code(), Some("43005"));
    assert_eq!(r.summary().failed, 2, "{}: {r:?}", c.mode);
}

async fn throttling_is_recovered(c: Case) {
    c.set_faults(Faults {
        throttle: 0.3,
        ..Faults::default()
    });
    let phones = c.phones();
    let s = c.provider.status(&phones).await.unwrap();
    assert!(s.all_done(), "{}: {s:?}", c.mode);
    let r = c.provider.stop(&phones).await.unwrap();
    assert_eq!(r.summary().failed, 0, "{}: {r:?}", c.mode);
    let w = c.provider.wait(&r, &wait_opts()).await.unwrap();
    assert!(w.all_done(), "{}: {w:?}", c.mode);
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
    assert_eq!(ids, want, "{}", c.mode);
}

macro_rules! suite {
    ($($mode:ident => $name:literal),* $(,)?) => {$(
        mod $mode {
            use super::*;
            #[tokio::test]
            async fn status_reads_every_phone() {
                super::status_reads_every_phone(Case::new($name).await).await
            }
            #[tokio::test]
            async fn stop_then_wait_reaches_stopped() {
                super::stop_then_wait_reaches_stopped(Case::new($name).await).await
            }
            #[tokio::test]
            async fn start_after_stop_reaches_running() {
                super::start_after_stop_reaches_running(Case::new($name).await).await
            }
            #[tokio::test]
            async fn restart_then_wait_reaches_running() {
                super::restart_then_wait_reaches_running(Case::new($name).await).await
            }
            #[tokio::test]
            async fn reset_then_wait_reaches_running_once_per_phone() {
                super::reset_then_wait_reaches_running_once_per_phone(Case::new($name).await).await
            }
            #[tokio::test]
            async fn unknown_and_duplicate_ids_are_accounted_for() {
                super::unknown_and_duplicate_ids_are_accounted_for(Case::new($name).await).await
            }
            #[tokio::test]
            async fn empty_input_touches_nothing() {
                super::empty_input_touches_nothing(Case::new($name).await).await
            }
            #[tokio::test]
            async fn busy_phone_fails_alone() {
                super::busy_phone_fails_alone(Case::new($name).await).await
            }
            #[tokio::test]
            async fn throttling_is_recovered() {
                super::throttling_is_recovered(Case::new($name).await).await
            }
            #[tokio::test]
            async fn listing_streams_every_phone() {
                super::listing_streams_every_phone(Case::new($name).await).await
            }
        }
    )*};
}

suite! {
    geelark_key => "geelark-key",
    geelark_token => "geelark-token",
    huawei_token => "huawei-token",
    huawei_iam => "huawei-iam",
    huawei_aksk => "huawei-aksk",
}
