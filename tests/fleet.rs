//! The Fleet as the one orchestration path: options scoped to the phones they are for, the
//! `_and_wait` helpers, outcomes followed per chunk with the provider's name, one `?` from
//! configuration to result.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cloudphone::progress::{self, EventKind, Tally};
use cloudphone::{Config, Fleet, Operation, PhoneRef, ResetOptions, WaitOptions};
use cloudphone_sim::{SimConfig, Simulator};

async fn fleet() -> (Simulator, Fleet, Vec<PhoneRef>) {
    let sim = Simulator::start(SimConfig::default().with_phones(3, 3).with_time_scale(0.01))
        .await
        .unwrap();
    for id in sim.geelark_phone_ids() {
        sim.geelark().set_status(&id, 0);
    }
    for id in sim.huawei_phone_ids() {
        sim.huawei().set_status(&id, 2);
    }
    let config = Config::from_toml_str(&sim.client_config()).unwrap();
    let fleet = Fleet::from_config(&config).unwrap();
    let mut phones: Vec<PhoneRef> = sim
        .geelark_phone_ids()
        .into_iter()
        .map(|id| PhoneRef::new("gl", id))
        .collect();
    phones.extend(
        sim.huawei_phone_ids()
            .into_iter()
            .map(|id| PhoneRef::new("hw", id)),
    );
    (sim, fleet, phones)
}

fn quick() -> WaitOptions {
    WaitOptions::default()
        .timeout(Duration::from_secs(20))
        .poll_interval(Duration::from_millis(20))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_phone_options_reach_only_the_provider_of_their_phone() {
    let (sim, fleet, phones) = fleet().await;
    // Per-phone properties for one Huawei phone only: GeeLark takes no per-phone properties
    // at all, and must not fail because of another vendor's entry.
    let hw = phones.iter().find(|p| p.provider == "hw").unwrap().clone();
    let options = ResetOptions::default().phone_property(hw.phone.clone(), "sys.prop.a", "1");
    let report = fleet
        .reset_and_wait(&phones, &options, &quick())
        .await
        .unwrap();
    for o in &report.outcomes {
        assert!(
            o.outcome.is_done(),
            "{}/{}: {:?}",
            o.provider,
            o.outcome.phone,
            o.outcome.cause()
        );
    }
    for id in sim.geelark_phone_ids() {
        assert_eq!(sim.geelark().applied_resets(&id), 1);
    }
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_call_is_followed_chunk_by_chunk_with_provider_names() {
    let (sim, fleet, phones) = fleet().await;
    let seen = Arc::new(Mutex::new((Tally::default(), Vec::new())));
    let log = seen.clone();
    let report = progress::observe(
        move |ev| {
            let mut g = log.lock().unwrap();
            g.0.add(Operation::Stop, &ev);
            if let EventKind::Answered(o) = &ev.kind {
                g.1.push((ev.provider.clone().map(|p| p.to_string()), o.len()));
            }
        },
        fleet.stop(&phones),
    )
    .await
    .unwrap();
    let (tally, answered) = seen.lock().unwrap().clone();
    assert_eq!(
        tally.summary,
        report.summary(),
        "the stream adds up to the report"
    );
    assert!(tally.calls >= 2, "one call per vendor at least: {tally:?}");
    let names: std::collections::BTreeSet<_> =
        answered.iter().filter_map(|(p, _)| p.clone()).collect();
    assert_eq!(
        names,
        ["gl".to_owned(), "hw".to_owned()].into_iter().collect()
    );
    assert_eq!(answered.iter().map(|(_, n)| n).sum::<usize>(), phones.len());
    sim.shutdown().await;
}

#[tokio::test]
async fn one_question_mark_from_configuration_to_result() {
    async fn run() -> cloudphone::Result<usize> {
        let config = Config::from_toml_str("[providers.x]\ntype = \"nope\"\n")?;
        Ok(Fleet::from_config(&config)?.providers().len())
    }
    let e = run().await.unwrap_err();
    assert_eq!(e.kind(), cloudphone::ErrorKind::Config);
    assert!(e.message().contains("unknown type `nope`"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_hands_out_each_phone_as_it_settles() {
    let (sim, fleet, phones) = fleet().await;
    let stopping = fleet.stop(&phones).await.unwrap();
    let settled = Arc::new(Mutex::new(Vec::new()));
    let log = settled.clone();
    let waited = progress::observe(
        move |ev| {
            if let EventKind::Waited(o) = &ev.kind {
                let mut g = log.lock().unwrap();
                for x in o {
                    g.push((ev.provider.clone().unwrap().to_string(), x.phone.clone()));
                }
            }
        },
        fleet.wait(&stopping, &quick()),
    )
    .await
    .unwrap();
    let mut got = settled.lock().unwrap().clone();
    got.sort();
    let mut want: Vec<_> = waited
        .outcomes
        .iter()
        .filter(|o| {
            stopping
                .outcomes
                .iter()
                .any(|s| s.outcome.phone == o.outcome.phone && s.outcome.is_pending())
        })
        .map(|o| (o.provider.clone(), o.outcome.phone.clone()))
        .collect();
    want.sort();
    assert!(!want.is_empty());
    assert_eq!(
        got, want,
        "every watched phone is handed out once, when it settles"
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_cannot_be_waited_on_by_another_provider() {
    let (sim, fleet, phones) = fleet().await;
    let gl = fleet.get("gl").unwrap();
    let hw = fleet.get("hw").unwrap();
    let ids: Vec<_> = phones
        .iter()
        .filter(|p| p.provider == "gl")
        .map(|p| p.phone.clone())
        .collect();
    let report = gl.stop(&ids).await.unwrap();
    let e = hw.wait(&report, &quick()).await.unwrap_err();
    assert_eq!(e.kind(), cloudphone::ErrorKind::InvalidArgument, "{e}");
    sim.shutdown().await;
}
