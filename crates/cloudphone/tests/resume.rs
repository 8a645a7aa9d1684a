//! A journaled fleet across a "restart": a second fleet on the same journal file finishes what
//! the first left, by waiting — never by sending again.

use std::sync::Arc;
use std::time::Duration;

use cloudphone::journal::{End, Journal};
use cloudphone::{
    Config, Error, ErrorKind, FakeProvider, Fleet, Operation, PhoneId, PhoneRef, PhoneState,
    ResetOptions, WaitOptions,
};

fn refs(n: usize) -> Vec<PhoneRef> {
    (0..n)
        .map(|i| PhoneRef::new("lab", format!("fake-{i}")))
        .collect()
}

fn fleet(journal: &Journal, fake: &Arc<FakeProvider>) -> Fleet {
    Fleet::new()
        .with_journal(journal.clone())
        .with("lab", fake.clone())
}

fn opts() -> WaitOptions {
    WaitOptions::default()
        .timeout(Duration::from_secs(60))
        .poll_interval(Duration::from_secs(1))
}

#[tokio::test(start_paused = true)]
async fn resume_waits_for_accepted_resets_of_an_earlier_fleet_without_resending() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.sqlite");
    let fake = Arc::new(
        FakeProvider::builder()
            .phones(6)
            .batch_size(2)
            .settle_polls(3)
            .build(),
    );
    {
        let first = Journal::open(&path).unwrap();
        let r = fleet(&first, &fake)
            .reset(&refs(6), &ResetOptions::default())
            .await
            .unwrap();
        assert_eq!(r.summary().pending, 6);
        // The process "stops" here: nothing waited.
    }
    let journal = Journal::open(&path).unwrap();
    let later = fleet(&journal, &fake);
    let unsettled = later.unsettled(Operation::Reset, &refs(6)).unwrap();
    assert_eq!(unsettled.len(), 6);
    let resumed = later.resume(&opts()).await.unwrap();
    assert_eq!(resumed.reports.len(), 1);
    assert_eq!(resumed.reports[0].operation, Operation::Reset);
    assert_eq!(resumed.summary().succeeded, 6, "{resumed:?}");
    for o in &resumed.reports[0].outcomes {
        assert!(o.outcome.job.is_some(), "the job is kept: {o:?}");
        assert_eq!(fake.applied(Operation::Reset, &o.outcome.phone), 1);
    }
    assert!(journal.unfinished().unwrap().is_empty());
    assert!(later
        .unsettled(Operation::Reset, &refs(6))
        .unwrap()
        .is_empty());
    // Nothing left: a second resume finds nothing.
    assert!(later.resume(&opts()).await.unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn an_unknown_stop_is_resolved_by_looking() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(dir.path().join("journal.sqlite")).unwrap();
    let fake = Arc::new(FakeProvider::builder().phones(3).settle_polls(1).build());
    // Applied, then the answer is lost.
    fake.fail_next_requests([Error::new(ErrorKind::Timeout, "timed out after sending")]);
    let f = fleet(&journal, &fake);
    let r = f.stop(&refs(3)).await.unwrap();
    assert_eq!(r.summary().unknown, 3);
    let requests = fake.requests();
    let resumed = f.resume(&opts()).await.unwrap();
    let s = resumed.summary();
    assert_eq!(s.total, 3);
    assert_eq!(s.failed, 0);
    for o in &resumed.reports[0].outcomes {
        let stopped = fake.state_of(&o.outcome.phone) == Some(PhoneState::Stopped);
        assert_eq!(o.outcome.is_done(), stopped, "{o:?}");
        assert!(fake.applied(Operation::Stop, &o.outcome.phone) <= 1);
    }
    // Only status reads since: no stop was sent again.
    let stops_after: u32 = (0..3)
        .map(|i| fake.applied(Operation::Stop, &PhoneId::new(format!("fake-{i}"))))
        .sum();
    assert!(stops_after <= 3);
    assert!(fake.requests() > requests, "resume looked at the phones");
    // Seen stopped: done. Still running at the deadline: still unknown, left for later.
    for e in journal.list(false).unwrap() {
        let stopped = fake.state_of(&e.phone) == Some(PhoneState::Stopped);
        assert_eq!(e.end == Some(End::Done), stopped, "{e:?}");
        assert_eq!(e.end.is_none(), !stopped, "{e:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn entries_of_providers_not_configured_are_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(dir.path().join("journal.sqlite")).unwrap();
    let fake = Arc::new(FakeProvider::builder().phones(2).settle_polls(50).build());
    fleet(&journal, &fake)
        .reset(&refs(2), &ResetOptions::default())
        .await
        .unwrap();
    let other = Fleet::new()
        .with_journal(journal.clone())
        .with("elsewhere", fake.clone());
    let resumed = other.resume(&opts()).await.unwrap();
    assert!(resumed.reports.is_empty());
    assert_eq!(resumed.skipped.len(), 2);
    assert_eq!(journal.unfinished().unwrap().len(), 2);
    // Without a journal there is nothing to resume from.
    let e = Fleet::new().resume(&opts()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
}

#[test]
fn the_journal_table_is_parsed_and_checked() {
    let c = Config::from_toml_str(
        "[journal]\npath = \"/tmp/x/journal.sqlite\"\nkeep_finished_days = 7\n",
    )
    .unwrap();
    let j = c.journal().unwrap();
    assert_eq!(
        j.path.as_deref(),
        Some(std::path::Path::new("/tmp/x/journal.sqlite"))
    );
    assert_eq!(j.options().keep_finished, Duration::from_secs(7 * 86_400));
    assert!(Config::from_toml_str("").unwrap().journal().is_none());
    let e = Config::from_toml_str("[journal]\npaht = \"x\"\n").unwrap_err();
    assert!(e.to_string().contains("paht"), "{e}");
    let e = Config::from_toml_str("journal = 3\n").unwrap_err();
    assert!(e.to_string().contains("[journal]"), "{e}");
}
