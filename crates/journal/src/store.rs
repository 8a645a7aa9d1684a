//! The SQLite file: opening it (WAL, busy timeout, schema), writing entries, reading them back,
//! pruning.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cloudphone_core::{Error, ErrorKind, JobRef, Operation, PhoneId, Result};
use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::entry::{parse_operation, Answer, End, Entry};

/// The schema version this build writes (SQLite's `user_version`).
const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS entries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    provider TEXT NOT NULL,
    vendor TEXT NOT NULL,
    phone TEXT NOT NULL,
    operation TEXT NOT NULL,
    sent_at INTEGER NOT NULL,
    answer TEXT,
    job_id TEXT,
    request_id TEXT,
    error TEXT,
    answered_at INTEGER,
    end_state TEXT,
    ended_at INTEGER,
    pid INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_by_phone ON entries (provider, phone, operation, id);
CREATE INDEX IF NOT EXISTS entries_unfinished ON entries (id) WHERE end_state IS NULL;
CREATE INDEX IF NOT EXISTS entries_ended ON entries (ended_at) WHERE end_state IS NOT NULL;
";

const COLUMNS: &str = "id, provider, vendor, phone, operation, sent_at, answer, job_id, \
                       request_id, error, answered_at, end_state, ended_at";

/// How a journal is opened.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct JournalOptions {
    /// How long a write waits for another process holding the file's write lock (default
    /// 10 s).
    pub busy_timeout: Duration,
    /// Finished entries older than this are pruned when the journal is opened (default 30
    /// days). Unfinished entries are never pruned.
    pub keep_finished: Duration,
}

impl Default for JournalOptions {
    fn default() -> Self {
        JournalOptions {
            busy_timeout: Duration::from_secs(10),
            keep_finished: Duration::from_secs(30 * 24 * 3600),
        }
    }
}

impl JournalOptions {
    /// Sets the busy timeout.
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// Sets how long finished entries are kept.
    pub fn keep_finished(mut self, age: Duration) -> Self {
        self.keep_finished = age;
        self
    }
}

/// Entries this process knows to be open, by provider and operation, then phone: what a later
/// wait in this process settles. Keyed in two levels so that a chunk or a wait round looks up
/// its provider once and each phone by reference.
type OpenMap = HashMap<(String, Operation), HashMap<PhoneId, Vec<i64>>>;

/// A journal of the state changes sent, in one SQLite file that several processes may share.
///
/// Cheap to clone (one connection per journal, shared by its clones). Every write is one
/// transaction, synchronous (the caller learns of an answer only after it is written). The file
/// is in WAL mode with `synchronous = NORMAL`: a committed write survives the process being
/// killed at any point; a power loss may lose the last writes.
#[derive(Clone)]
pub struct Journal {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    conn: Mutex<Connection>,
    open: Mutex<OpenMap>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

/// Now, in milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves SQLite consistent (the transaction rolls back).
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Journal {
    /// Opens (creating it and its directory if needed) the journal at `path` with the default
    /// options.
    pub fn open(path: impl AsRef<Path>) -> Result<Journal> {
        Journal::open_with(path, &JournalOptions::default())
    }

    /// Opens the journal at `path`: WAL mode, `options.busy_timeout`, the schema created if
    /// missing, and finished entries older than `options.keep_finished` pruned. A file written
    /// by a newer schema, or one that is not a journal, is a clear error naming the path.
    pub fn open_with(path: impl AsRef<Path>, options: &JournalOptions) -> Result<Journal> {
        let path = path.as_ref().to_path_buf();
        let fail = |what: &str, e: &dyn std::fmt::Display| {
            Error::new(
                ErrorKind::Config,
                format!("journal `{}`: {what}: {e}", path.display()),
            )
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| fail("cannot create its directory", &e))?;
        }
        let conn = Connection::open(&path).map_err(|e| fail("cannot open", &e))?;
        conn.busy_timeout(options.busy_timeout)
            .map_err(|e| fail("cannot set the busy timeout", &e))?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(|e| fail("not a usable SQLite file", &e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(fail("cannot switch to WAL mode", &mode));
        }
        conn.execute_batch("PRAGMA synchronous = NORMAL")
            .map_err(|e| fail("cannot set synchronous", &e))?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| fail("cannot read the schema version", &e))?;
        if version > SCHEMA_VERSION {
            return Err(fail(
                "written by a newer version of cloudphone",
                &format!("schema {version}, this build knows {SCHEMA_VERSION}"),
            ));
        }
        conn.execute_batch(&format!(
            "BEGIN IMMEDIATE; {SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
        ))
        .map_err(|e| fail("cannot create the schema", &e))?;
        let journal = Journal {
            inner: Arc::new(Inner {
                path,
                conn: Mutex::new(conn),
                open: Mutex::new(HashMap::new()),
            }),
        };
        journal.prune(options.keep_finished)?;
        Ok(journal)
    }

    /// The journal's file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    fn error(&self, what: &str, e: rusqlite::Error) -> Error {
        Error::new(
            ErrorKind::Other,
            format!("journal `{}`: {what}: {e}", self.inner.path.display()),
        )
    }

    /// Deletes finished entries that ended more than `age` ago; returns how many. Unfinished
    /// entries are kept whatever their age.
    pub fn prune(&self, age: Duration) -> Result<usize> {
        let age_ms = i64::try_from(age.as_millis()).unwrap_or(i64::MAX);
        let cutoff = now_ms().saturating_sub(age_ms);
        lock(&self.inner.conn)
            .execute(
                "DELETE FROM entries WHERE end_state IS NOT NULL AND ended_at < ?1",
                params![cutoff],
            )
            .map_err(|e| self.error("cannot prune", e))
    }

    /// Records `phones` as sent for `operation` on `provider` — call it before the request
    /// goes out — in one transaction; returns the new entries' ids, in the order of `phones`.
    pub fn record_sent(
        &self,
        provider: &str,
        vendor: &str,
        operation: Operation,
        phones: &[PhoneId],
    ) -> Result<Vec<i64>> {
        let now = now_ms();
        let pid = i64::from(std::process::id());
        let mut conn = lock(&self.inner.conn);
        let ids = (|| {
            let tx = conn.transaction()?;
            let mut ids = Vec::with_capacity(phones.len());
            {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO entries (provider, vendor, phone, operation, sent_at, pid) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?;
                for p in phones {
                    insert.execute(params![
                        provider,
                        vendor,
                        p.as_str(),
                        operation.as_str(),
                        now,
                        pid
                    ])?;
                    ids.push(tx.last_insert_rowid());
                }
            }
            tx.commit()?;
            Ok(ids)
        })()
        .map_err(|e| self.error("cannot record what was sent", e))?;
        drop(conn);
        let mut open = lock(&self.inner.open);
        let open = open.entry((provider.to_owned(), operation)).or_default();
        for (p, id) in phones.iter().zip(&ids) {
            open.entry(p.clone()).or_default().push(*id);
        }
        Ok(ids)
    }

    /// Writes what came back for entries, in one transaction: each `(id, update)`.
    pub(crate) fn write(&self, updates: &[(i64, Update)]) -> Result<()> {
        if updates.is_empty() {
            return Ok(());
        }
        let now = now_ms();
        let mut conn = lock(&self.inner.conn);
        (|| {
            let tx = conn.transaction()?;
            {
                let mut answered = tx.prepare_cached(
                    "UPDATE entries SET answer = ?2, answered_at = ?3, \
                     job_id = COALESCE(?4, job_id), request_id = COALESCE(?5, request_id), \
                     error = COALESCE(?6, error) WHERE id = ?1 AND end_state IS NULL",
                )?;
                let mut ended = tx.prepare_cached(
                    "UPDATE entries SET end_state = ?2, ended_at = ?3, \
                     job_id = COALESCE(?4, job_id), request_id = COALESCE(?5, request_id), \
                     error = COALESCE(?6, error) WHERE id = ?1 AND end_state IS NULL",
                )?;
                for (id, u) in updates {
                    let job = u.job.as_ref().map(|j| j.job_id());
                    let request = u.job.as_ref().and_then(|j| j.request_id.as_deref());
                    if let Some(answer) = u.answer.and_then(Answer::column) {
                        answered.execute(params![id, answer, now, job, request, u.error])?;
                    }
                    if let Some(end) = u.end {
                        ended.execute(params![id, end.as_str(), now, job, request, u.error])?;
                    }
                }
            }
            tx.commit()
        })()
        .map_err(|e| self.error("cannot record an answer", e))
    }

    /// The ids of the entries this process knows to be open for each of `phones` (one lock).
    pub(crate) fn open_ids<'a>(
        &self,
        provider: &str,
        operation: Operation,
        phones: impl IntoIterator<Item = &'a PhoneId>,
    ) -> Vec<Vec<i64>> {
        let open = lock(&self.inner.open);
        let open = open.get(&(provider.to_owned(), operation));
        phones
            .into_iter()
            .map(|p| open.and_then(|o| o.get(p)).cloned().unwrap_or_default())
            .collect()
    }

    /// Forgets entries that ended: each phone with the ids of its entries (one lock).
    pub(crate) fn close<'a>(
        &self,
        provider: &str,
        operation: Operation,
        ended: impl IntoIterator<Item = (&'a PhoneId, &'a [i64])>,
    ) {
        let mut open = lock(&self.inner.open);
        let key = (provider.to_owned(), operation);
        let Some(phones) = open.get_mut(&key) else {
            return;
        };
        for (phone, ids) in ended {
            if let Some(v) = phones.get_mut(phone) {
                v.retain(|id| !ids.contains(id));
                if v.is_empty() {
                    phones.remove(phone);
                }
            }
        }
        if phones.is_empty() {
            open.remove(&key);
        }
    }

    /// Takes over unfinished `entries` (e.g. from [`Journal::unfinished`]) so that waits in this
    /// process through a [journaled provider](crate::Journaled) record how they end.
    pub fn adopt(&self, entries: &[Entry]) {
        let mut open = lock(&self.inner.open);
        for e in entries.iter().filter(|e| e.is_unfinished()) {
            let ids = open
                .entry((e.provider.clone(), e.operation))
                .or_default()
                .entry(e.phone.clone())
                .or_default();
            if !ids.contains(&e.id) {
                ids.push(e.id);
            }
        }
    }

    /// Every entry, oldest first; only unfinished ones when `unfinished` is set.
    pub fn list(&self, unfinished: bool) -> Result<Vec<Entry>> {
        let sql = if unfinished {
            format!("SELECT {COLUMNS} FROM entries WHERE end_state IS NULL ORDER BY id")
        } else {
            format!("SELECT {COLUMNS} FROM entries ORDER BY id")
        };
        let conn = lock(&self.inner.conn);
        let mut stmt = conn
            .prepare(&sql)
            .map_err(|e| self.error("cannot read", e))?;
        let rows = stmt
            .query_map([], entry_of)
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<Option<Entry>>>>())
            .map_err(|e| self.error("cannot read", e))?;
        Ok(rows.into_iter().flatten().collect())
    }

    /// Every unfinished entry, oldest first.
    pub fn unfinished(&self) -> Result<Vec<Entry>> {
        self.list(true)
    }

    /// The one entry with this id, if it is still there.
    pub fn get(&self, id: i64) -> Result<Option<Entry>> {
        let conn = lock(&self.inner.conn);
        conn.query_row(
            &format!("SELECT {COLUMNS} FROM entries WHERE id = ?1"),
            params![id],
            entry_of,
        )
        .optional()
        .map(Option::flatten)
        .map_err(|e| self.error("cannot read", e))
    }

    /// Of `phones` on `provider`, those whose latest `operation` entry is unsettled
    /// ([`Entry::is_unsettled`]: unfinished, or ended unknown), with that entry. Before
    /// resetting a phone again, these are the ones a careful caller refuses.
    pub fn unsettled(
        &self,
        provider: &str,
        operation: Operation,
        phones: &[PhoneId],
    ) -> Result<Vec<Entry>> {
        let wanted: HashSet<&str> = phones.iter().map(PhoneId::as_str).collect();
        let conn = lock(&self.inner.conn);
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM entries e WHERE provider = ?1 AND operation = ?2 \
                 AND (end_state IS NULL OR end_state = 'unknown') \
                 AND NOT EXISTS (SELECT 1 FROM entries l WHERE l.provider = e.provider \
                   AND l.phone = e.phone AND l.operation = e.operation AND l.id > e.id) \
                 ORDER BY id"
            ))
            .map_err(|e| self.error("cannot read", e))?;
        let rows = stmt
            .query_map(params![provider, operation.as_str()], entry_of)
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<Option<Entry>>>>())
            .map_err(|e| self.error("cannot read", e))?;
        Ok(rows
            .into_iter()
            .flatten()
            .filter(|e| wanted.contains(e.phone.as_str()))
            .collect())
    }
}

/// What to write for one entry: its answer, its end, or both.
#[derive(Debug, Clone, Default)]
pub(crate) struct Update {
    pub(crate) answer: Option<Answer>,
    pub(crate) end: Option<End>,
    pub(crate) job: Option<JobRef>,
    pub(crate) error: Option<String>,
}

/// A row as an entry; `None` for a row of an operation this build does not know.
fn entry_of(r: &Row<'_>) -> rusqlite::Result<Option<Entry>> {
    let operation: String = r.get(4)?;
    let Some(operation) = parse_operation(&operation) else {
        return Ok(None);
    };
    let phone: String = r.get(3)?;
    let job_id: Option<String> = r.get(7)?;
    let request_id: Option<String> = r.get(8)?;
    let answer: Option<String> = r.get(6)?;
    let end: Option<String> = r.get(11)?;
    Ok(Some(Entry {
        id: r.get(0)?,
        provider: r.get(1)?,
        vendor: r.get(2)?,
        phone: PhoneId::new(phone),
        operation,
        sent_at_ms: r.get(5)?,
        answer: Answer::parse(answer.as_deref()),
        job: job_id.map(|j| JobRef::new(j, request_id.map(Into::into))),
        error: r.get(9)?,
        answered_at_ms: r.get(10)?,
        end: End::parse(end.as_deref()),
        ended_at_ms: r.get(12)?,
    }))
}
