//! The fleet: routing by `NAME/ID`, concurrent providers, merged results.
#![cfg(feature = "fake")]

use std::sync::Arc;

use cloudphone::{
    CloudPhoneProvider, Error, ErrorKind, FakeProvider, Fleet, Operation, PhoneId, PhoneRef,
    PhoneState, WaitOptions,
};

fn refs(v: &[&str]) -> Vec<PhoneRef> {
    v.iter().map(|s| s.parse().unwrap()).collect()
}

fn fleet() -> (Fleet, Arc<FakeProvider>, Arc<FakeProvider>) {
    let a = Arc::new(FakeProvider::builder().phones(5).batch_size(2).build());
    let b = Arc::new(FakeProvider::builder().phones(5).build());
    let fleet = Fleet::new()
        .with("a", a.clone() as Arc<dyn CloudPhoneProvider>)
        .with("b", b.clone() as Arc<dyn CloudPhoneProvider>);
    (fleet, a, b)
}

#[test]
fn phone_refs_parse_and_print() {
    let r: PhoneRef = "hw/abc/def".parse().unwrap();
    assert_eq!(r.provider, "hw");
    assert_eq!(r.phone, PhoneId::from("abc/def"));
    assert_eq!(r.to_string(), "hw/abc/def");
    for bad in ["nophone", "/x", "x/"] {
        let e = bad.parse::<PhoneRef>().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        assert!(e.message().contains(bad), "{e}");
    }
}

#[tokio::test]
async fn outcomes_are_routed_labelled_and_kept_in_request_order() {
    let (fleet, a, b) = fleet();
    let phones = refs(&["b/fake-1", "a/fake-0", "b/fake-9", "a/fake-3", "a/fake-0"]);
    let report = fleet.stop(&phones).await.unwrap();
    let got: Vec<String> = report
        .outcomes
        .iter()
        .map(|o| format!("{}/{}", o.provider, o.outcome.phone))
        .collect();
    assert_eq!(got, ["b/fake-1", "a/fake-0", "b/fake-9", "a/fake-3"]);
    assert!(report.outcomes[0].outcome.is_pending());
    assert_eq!(
        report.outcomes[2].outcome.error().unwrap().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(a.applied(Operation::Stop, &"fake-0".into()), 1);
    assert_eq!(b.applied(Operation::Stop, &"fake-1".into()), 1);
    assert_eq!(a.applied(Operation::Stop, &"fake-1".into()), 0);

    let done = fleet.wait(&report, &WaitOptions::default()).await.unwrap();
    let s = done.summary();
    assert_eq!((s.succeeded, s.failed, s.pending), (3, 1, 0));
    assert_eq!(a.state_of(&"fake-3".into()), Some(PhoneState::Stopped));
}

#[tokio::test]
async fn an_unknown_provider_is_refused_before_anything_is_sent() {
    let (fleet, a, _) = fleet();
    let e = fleet.stop(&refs(&["a/fake-0", "zz/1"])).await.unwrap_err();
    assert!(e.message().contains("unknown provider `zz`"), "{e}");
    assert_eq!(a.requests(), 0);
}

#[tokio::test]
async fn one_provider_failing_as_a_whole_leaves_the_others_intact() {
    let (fleet, a, _) = fleet();
    a.fail_next_requests([Error::new(ErrorKind::Unauthenticated, "bad token")]);
    let report = fleet
        .status(&refs(&["a/fake-0", "b/fake-0", "a/fake-1"]))
        .await
        .unwrap();
    assert_eq!(
        report.outcomes[0].outcome.error().unwrap().kind(),
        ErrorKind::Unauthenticated
    );
    assert!(report.outcomes[1].outcome.is_done());
    assert_eq!(report.outcomes[1].provider, "b");
    assert!(report.outcomes[2].outcome.error().is_some());
}
