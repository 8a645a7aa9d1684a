//! A durable journal of the state changes [cloudphone](https://docs.rs/cloudphone) sent, in
//! SQLite, so that a process killed mid-batch loses nothing: which phones were sent a change,
//! what the vendor answered (accepted with its job, refused, or lost), and how each ended.
//!
//! - [`Journal`]: one SQLite file (WAL mode, busy timeout) that several processes may share;
//!   finished entries older than [`JournalOptions::keep_finished`] are pruned.
//! - [`Journaled`]: a [`CloudPhoneProvider`](cloudphone_core::CloudPhoneProvider) around any
//!   other that keeps the journal: a phone's change is written as *sent* before its request
//!   goes out (so a crash in between shows as unknown, never as not sent), and what came back
//!   is written before the caller is handed it.
//! - [`Entry::outcome`]: an unfinished entry as the outcome to wait on after a restart —
//!   pending with its job, or *unknown* (waiting looks at the phone; it never sends again).
//!
//! ```
//! # async fn demo() -> cloudphone_core::Result<()> {
//! use std::sync::Arc;
//! use cloudphone_core::{CloudPhoneProvider, FakeProvider, PhoneId, ResetOptions};
//! use cloudphone_journal::{Journal, Journaled};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let journal = Journal::open(dir.path().join("journal.sqlite"))?;
//! let fake: Arc<dyn CloudPhoneProvider> = Arc::new(FakeProvider::builder().phones(2).build());
//! let provider = Journaled::new("lab", fake, journal.clone());
//! provider.reset(&[PhoneId::from("fake-0")], &ResetOptions::default()).await?;
//! // Accepted, not finished: a later process resumes it from here.
//! assert_eq!(journal.unfinished()?.len(), 1);
//! # Ok(())
//! # }
//! ```

mod entry;
mod store;
mod wrap;

pub use entry::{rfc3339, Answer, End, Entry};
pub use store::{Journal, JournalOptions};
pub use wrap::Journaled;
