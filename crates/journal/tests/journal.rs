//! The journal on a real SQLite file: what is written when, how a crash between sending and
//! answering shows, two processes on one file, pruning.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cloudphone_core::progress::{self, EventKind};
use cloudphone_core::raw::{BatchEngine, EngineConfig};
use cloudphone_core::{
    BatchReport, Capabilities, CloudPhoneProvider, Error, ErrorKind, FakeProvider, Operation,
    PhoneId, PhoneState, ResetOptions, Result, WaitOptions,
};
use cloudphone_journal::{Answer, End, Journal, JournalOptions, Journaled};

fn ids(n: usize) -> Vec<PhoneId> {
    (0..n).map(|i| PhoneId::new(format!("fake-{i}"))).collect()
}

fn journaled(journal: &Journal, fake: &Arc<FakeProvider>) -> Journaled {
    let inner: Arc<dyn CloudPhoneProvider> = fake.clone();
    Journaled::new("lab", inner, journal.clone())
}

#[tokio::test(start_paused = true)]
async fn a_reset_is_recorded_sent_answered_and_ended_by_its_wait() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(dir.path().join("j.sqlite")).unwrap();
    let fake = Arc::new(
        FakeProvider::builder()
            .phones(5)
            .batch_size(2)
            .settle_polls(2)
            .build(),
    );
    let p = journaled(&journal, &fake);
    // The outer observer sees each answer only after the journal wrote it.
    let checked = Arc::new(Mutex::new(Vec::new()));
    let (j, seen) = (journal.clone(), checked.clone());
    let report = progress::observe(
        move |ev| {
            if let EventKind::Answered(outcomes) = &ev.kind {
                let entries = j.list(false).unwrap();
                for o in outcomes {
                    let e = entries.iter().find(|e| e.phone == o.phone).unwrap();
                    seen.lock()
                        .unwrap()
                        .push((e.answer, e.job.clone(), o.job.clone()));
                }
            }
        },
        p.reset(&ids(5), &ResetOptions::default()),
    )
    .await
    .unwrap();
    let seen = checked.lock().unwrap().clone();
    assert_eq!(seen.len(), 5);
    for (answer, stored, given) in &seen {
        assert_eq!(*answer, Answer::Accepted);
        assert_eq!(
            stored, given,
            "the job was written before it was handed out"
        );
    }
    let unfinished = journal.unfinished().unwrap();
    assert_eq!(unfinished.len(), 5);
    assert!(unfinished
        .iter()
        .all(|e| e.operation == Operation::Reset && e.job.is_some()));
    assert_eq!(
        journal
            .unsettled("lab", Operation::Reset, &ids(5))
            .unwrap()
            .len(),
        5
    );
    let opts = WaitOptions::default().poll_interval(Duration::from_secs(1));
    let waited = p.wait(&report, &opts).await.unwrap();
    assert!(waited.all_done(), "{waited:?}");
    assert!(journal.unfinished().unwrap().is_empty());
    assert!(journal
        .list(false)
        .unwrap()
        .iter()
        .all(|e| e.end == Some(End::Done)));
    assert!(journal
        .unsettled("lab", Operation::Reset, &ids(5))
        .unwrap()
        .is_empty());
    // Reads are not journaled.
    p.status(&ids(5)).await.unwrap();
    assert_eq!(journal.list(false).unwrap().len(), 5);
}

#[tokio::test(start_paused = true)]
async fn refused_and_lost_answers_are_told_apart() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(dir.path().join("j.sqlite")).unwrap();
    let fake = Arc::new(FakeProvider::builder().phones(3).batch_size(1).build());
    fake.fail_phone(
        &ids(3)[0],
        Error::new(ErrorKind::InvalidState, "phone is frozen"),
    );
    fake.fail_chunk_with(
        &ids(3)[1],
        Error::new(ErrorKind::Unavailable, "502 bad gateway"),
    );
    let p = journaled(&journal, &fake);
    let r = p.stop(&ids(3)).await.unwrap();
    assert!(r.outcomes[0].error().is_some());
    assert!(r.outcomes[1].is_unknown());
    let entries = journal.list(false).unwrap();
    let of = |i: usize| entries.iter().find(|e| e.phone == ids(3)[i]).unwrap();
    assert_eq!(of(0).answer, Answer::Refused);
    assert_eq!(of(0).end, Some(End::Failed));
    assert!(of(0).error.as_deref().unwrap().contains("frozen"));
    assert_eq!(of(1).answer, Answer::Unknown);
    assert_eq!(of(1).end, None, "an unknown change stays unfinished");
    assert!(of(1).outcome().is_unknown());
    assert_eq!(of(2).answer, Answer::Accepted);
}

/// A provider whose batch engine sends each chunk and never hears back: the process is
/// "killed" by dropping the call.
#[derive(Debug)]
struct Hangs(Capabilities, BatchEngine);

impl Hangs {
    fn new() -> Self {
        Hangs(
            Capabilities::default(),
            BatchEngine::new("hangs", EngineConfig::default()),
        )
    }
}

#[cloudphone_core::async_trait]
impl CloudPhoneProvider for Hangs {
    fn vendor(&self) -> &'static str {
        "hangs"
    }
    fn capabilities(&self) -> &Capabilities {
        &self.0
    }
    async fn status(&self, phones: &[PhoneId]) -> Result<BatchReport> {
        Ok(BatchReport::pending(Operation::Status, phones.to_vec()))
    }
    async fn stop(&self, phones: &[PhoneId]) -> Result<BatchReport> {
        self.reset(phones, &ResetOptions::default()).await
    }
    async fn reset(&self, phones: &[PhoneId], _: &ResetOptions) -> Result<BatchReport> {
        self.1
            .run_chunks(Operation::Reset, phones, 10, |_| std::future::pending())
            .await
    }
}

#[tokio::test]
async fn a_crash_between_sent_and_answered_reads_back_as_unknown() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.sqlite");
    let journal = Journal::open(&path).unwrap();
    let p = Journaled::new("lab", Arc::new(Hangs::new()), journal);
    let (phones, options) = (ids(2), ResetOptions::default());
    let call = p.reset(&phones, &options);
    assert!(tokio::time::timeout(Duration::from_millis(50), call)
        .await
        .is_err());
    drop(p);
    // Another connection (as a later process would) finds the change sent, unanswered.
    let later = Journal::open(&path).unwrap();
    let open = later.unfinished().unwrap();
    assert_eq!(open.len(), 2);
    for e in &open {
        assert_eq!(e.answer, Answer::NoAnswer);
        assert_eq!(e.vendor, "hangs");
        let o = e.outcome();
        assert!(o.is_unknown(), "{o:?}");
        assert!(o
            .cause()
            .unwrap()
            .message()
            .contains("may have been applied"));
    }
    assert_eq!(
        later
            .unsettled("lab", Operation::Reset, &ids(3))
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test(start_paused = true)]
async fn adopted_entries_are_ended_by_a_wait_in_another_journal_handle() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.sqlite");
    let fake = Arc::new(FakeProvider::builder().phones(3).settle_polls(1).build());
    {
        let first = Journal::open(&path).unwrap();
        journaled(&first, &fake).stop(&ids(3)).await.unwrap();
    }
    let second = Journal::open(&path).unwrap();
    let open = second.unfinished().unwrap();
    assert_eq!(open.len(), 3);
    second.adopt(&open);
    let report = BatchReport::new(Operation::Stop, open.iter().map(|e| e.outcome()).collect());
    let waited = journaled(&second, &fake)
        .wait(
            &report,
            &WaitOptions::default().poll_interval(Duration::from_secs(1)),
        )
        .await
        .unwrap();
    assert!(waited.all_done());
    assert!(second.unfinished().unwrap().is_empty());
    for id in ids(3) {
        assert_eq!(fake.applied(Operation::Stop, &id), 1, "never sent again");
        assert_eq!(fake.state_of(&id), Some(PhoneState::Stopped));
    }
}

#[test]
fn pruning_drops_old_finished_entries_and_keeps_unfinished_ones() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.sqlite");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    let fake = Arc::new(FakeProvider::builder().phones(4).build());
    let journal = Journal::open(&path).unwrap();
    let p = journaled(&journal, &fake);
    rt.block_on(async {
        let r = p.stop(&ids(2)).await.unwrap();
        p.wait(&r, &WaitOptions::default()).await.unwrap();
        p.stop(&ids(4)[2..]).await.unwrap();
    });
    assert_eq!(journal.list(false).unwrap().len(), 4);
    // Finished a moment ago: kept by a day's age, dropped by zero.
    assert_eq!(journal.prune(Duration::from_secs(86_400)).unwrap(), 0);
    std::thread::sleep(Duration::from_millis(5));
    assert_eq!(journal.prune(Duration::ZERO).unwrap(), 2);
    let left = journal.list(false).unwrap();
    assert_eq!(left.len(), 2);
    assert!(left.iter().all(|e| e.is_unfinished()));
    // Opening prunes too; unfinished entries survive any age.
    let reopened = Journal::open_with(
        &path,
        &JournalOptions::default().keep_finished(Duration::ZERO),
    )
    .unwrap();
    assert_eq!(reopened.list(false).unwrap().len(), 2);
}

#[test]
fn a_file_that_is_not_a_journal_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("not.sqlite");
    std::fs::write(&path, "this is not a database, just text ".repeat(100)).unwrap();
    let e = Journal::open(&path).unwrap_err();
    assert!(e.message().contains("not.sqlite"), "{e}");
}

const CHILD: &str = "CLOUDPHONE_JOURNAL_TEST_CHILD";

/// Writes 300 sent entries in 30 transactions into the file named by [`CHILD`]; run as the
/// second process of [`two_processes_share_one_file`], a no-op otherwise.
#[test]
fn child_writer() {
    let Ok(path) = std::env::var(CHILD) else {
        return;
    };
    let journal = Journal::open(path).unwrap();
    for chunk in 0..30 {
        let phones: Vec<PhoneId> = (0..10)
            .map(|i| PhoneId::new(format!("child-{chunk}-{i}")))
            .collect();
        journal
            .record_sent("child", "fake", Operation::Reset, &phones)
            .unwrap();
    }
}

#[test]
fn two_processes_share_one_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.sqlite");
    let journal = Journal::open(&path).unwrap();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_writer", "--test-threads", "1"])
        .env(CHILD, &path)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    for chunk in 0..30 {
        let phones: Vec<PhoneId> = (0..10)
            .map(|i| PhoneId::new(format!("parent-{chunk}-{i}")))
            .collect();
        journal
            .record_sent("parent", "fake", Operation::Reset, &phones)
            .unwrap();
    }
    assert!(child.wait().unwrap().success(), "the child's writes failed");
    let all = journal.list(false).unwrap();
    assert_eq!(all.len(), 600);
    let mut seen = std::collections::HashSet::new();
    assert!(all.iter().all(|e| seen.insert(e.id)), "ids are unique");
    assert_eq!(all.iter().filter(|e| e.provider == "child").count(), 300);
    // And both see one another's entries as unsettled resets.
    let child_phones: Vec<PhoneId> = all
        .iter()
        .filter(|e| e.provider == "child")
        .map(|e| e.phone.clone())
        .collect();
    assert_eq!(
        journal
            .unsettled("child", Operation::Reset, &child_phones)
            .unwrap()
            .len(),
        300
    );
}

#[tokio::test(start_paused = true)]
async fn the_latest_entry_of_a_phone_decides_whether_it_is_unsettled() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.sqlite");
    let fake = Arc::new(FakeProvider::builder().phones(1).settle_polls(1).build());
    let phone = ids(1);
    // An earlier process reset the phone and stopped before waiting.
    {
        let first = Journal::open(&path).unwrap();
        journaled(&first, &fake)
            .reset(&phone, &ResetOptions::default())
            .await
            .unwrap();
        assert_eq!(
            first
                .unsettled("lab", Operation::Reset, &phone)
                .unwrap()
                .len(),
            1
        );
    }
    // A later one reset it again (forced) and saw it finish: the phone is settled, the earlier
    // entry stays unfinished for resume to look at.
    let second = Journal::open(&path).unwrap();
    let p = journaled(&second, &fake);
    let r = p.reset(&phone, &ResetOptions::default()).await.unwrap();
    p.wait(
        &r,
        &WaitOptions::default().poll_interval(Duration::from_secs(1)),
    )
    .await
    .unwrap();
    assert!(second
        .unsettled("lab", Operation::Reset, &phone)
        .unwrap()
        .is_empty());
    let open = second.unfinished().unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].id, 1);
    // Another provider name or operation is another matter.
    assert!(second
        .unsettled("other", Operation::Reset, &phone)
        .unwrap()
        .is_empty());
    assert!(second
        .unsettled("lab", Operation::Stop, &phone)
        .unwrap()
        .is_empty());
}

/// A journal that cannot record a chunk as sent (another process holds the file's write lock
/// past the busy timeout) stops it: nothing goes out that a crash could leave unaccounted for,
/// and the phones fail as not applied. Once the lock is gone, the next call goes through.
#[tokio::test]
async fn a_chunk_the_journal_cannot_record_is_not_sent() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.sqlite");
    let options = JournalOptions::default().busy_timeout(Duration::from_millis(50));
    let journal = Journal::open_with(&path, &options).unwrap();
    let fake = Arc::new(FakeProvider::builder().phones(4).batch_size(2).build());
    let p = journaled(&journal, &fake);

    let holder = rusqlite::Connection::open(&path).unwrap();
    holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let r = p.reset(&ids(4), &ResetOptions::default()).await.unwrap();
    assert_eq!(r.outcomes.len(), 4);
    for (o, id) in r.outcomes.iter().zip(ids(4)) {
        let e = o
            .error()
            .unwrap_or_else(|| panic!("{o:?} should have failed"));
        assert!(!e.may_have_applied(), "{e:?}");
        assert!(e.to_string().contains("journal"), "{e}");
        assert_eq!(fake.applied(Operation::Reset, &id), 0, "{id} was reset");
    }
    assert_eq!(fake.requests(), 0, "no request went out");
    holder.execute_batch("ROLLBACK").unwrap();

    let r = p.reset(&ids(4), &ResetOptions::default()).await.unwrap();
    assert!(r.outcomes.iter().all(|o| o.error().is_none()), "{r:?}");
    assert_eq!(journal.list(false).unwrap().len(), 4);
}

/// A provider whose batch engine sends each chunk, hears nothing back, and fails the whole call
/// with `.2` after a moment.
#[derive(Debug)]
struct FailsAfterSending(Capabilities, BatchEngine, ErrorKind);

#[cloudphone_core::async_trait]
impl CloudPhoneProvider for FailsAfterSending {
    fn vendor(&self) -> &'static str {
        "fails"
    }
    fn capabilities(&self) -> &Capabilities {
        &self.0
    }
    async fn status(&self, phones: &[PhoneId]) -> Result<BatchReport> {
        Ok(BatchReport::pending(Operation::Status, phones.to_vec()))
    }
    async fn stop(&self, phones: &[PhoneId]) -> Result<BatchReport> {
        let sent = self
            .1
            .run_chunks(Operation::Stop, phones, 10, |_| std::future::pending());
        match tokio::time::timeout(Duration::from_millis(20), sent).await {
            Ok(report) => report,
            Err(_) => Err(Error::new(self.2, "the call failed as a whole")),
        }
    }
    async fn reset(&self, phones: &[PhoneId], _: &ResetOptions) -> Result<BatchReport> {
        self.stop(phones).await
    }
}

/// A call that fails as a whole after its chunk went out: unknown (unfinished, for resume) when
/// the change may have been applied, refused and failed when it cannot have been.
#[tokio::test]
async fn a_call_failing_as_a_whole_after_sending_is_unknown_or_refused_by_its_error() {
    for (kind, answer, end) in [
        (ErrorKind::Unavailable, Answer::Unknown, None),
        (
            ErrorKind::Unauthenticated,
            Answer::Refused,
            Some(End::Failed),
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(dir.path().join("j.sqlite")).unwrap();
        let p = Journaled::new(
            "lab",
            Arc::new(FailsAfterSending(
                Capabilities::default(),
                BatchEngine::new("fails", EngineConfig::default()),
                kind,
            )),
            journal.clone(),
        );
        let e = p.stop(&ids(3)).await.unwrap_err();
        assert_eq!(e.kind(), kind);
        let entries = journal.list(false).unwrap();
        assert_eq!(entries.len(), 3, "{kind:?}");
        for entry in &entries {
            assert_eq!(entry.answer, answer, "{kind:?}: {entry:?}");
            assert_eq!(entry.end, end, "{kind:?}: {entry:?}");
            assert!(
                entry
                    .error
                    .as_deref()
                    .unwrap()
                    .contains("failed as a whole"),
                "{entry:?}"
            );
        }
    }
}
