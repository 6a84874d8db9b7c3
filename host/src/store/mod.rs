//! The store: one SQLite file in WAL mode, owned by this module.
//!
//! Invariants:
//! - One writer. Every change goes through [`Store::write`], which hands a
//!   closure to the writer thread. The writer drains whatever jobs are
//!   waiting, runs each inside its own `SAVEPOINT` within one transaction, and
//!   commits once (group commit). A job's caller hears back only after that
//!   commit is on disk (`synchronous = FULL`), so a response is durable, and a
//!   job that fails rolls back its own savepoint without touching the others.
//! - Many readers: [`Store::read`] borrows a read-only connection from a pool;
//!   WAL lets readers run beside the writer and see only committed data.
//! - Every query on tenant data filters on the caller's tenant id. A row of
//!   another tenant is indistinguishable from a row that does not exist.
//! - Money is `i64` minor units; the events table is append-only (triggers).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rusqlite::{Connection, OpenFlags};
use tokio::sync::oneshot;

pub mod actions;
pub mod aging;
pub mod arrangements;
pub mod cases;
pub mod debtors;
pub mod evaluations;
pub mod idempotency;
mod ids;
pub mod invoices;
pub mod kpis;
pub mod limits;
pub mod messaging;
mod migrations;
pub mod outbox;
pub mod payments;
pub mod plugins;
pub mod policies;
pub mod secrets;
pub mod segments;
pub mod sessions;
pub mod subscriptions;
pub mod templates;
pub mod tenants;
pub mod timeline;

/// A problem with one field of a request, named by its JSON path
/// (`invoices[3].currency`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// JSON path of the field at fault.
    pub field: String,
    /// What is wrong with it, for a person.
    pub detail: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, detail: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            detail: detail.into(),
        }
    }
}

/// What can go wrong in the store, named for what the caller does about it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Nothing with this id in the caller's tenant.
    #[error("{what} {id:?} not found")]
    NotFound { what: &'static str, id: String },
    /// The request is well formed but cannot be applied as it stands.
    #[error("invalid request: {}", .0.iter().map(|e| format!("{}: {}", e.field, e.detail)).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldError>),
    /// The request contradicts what is already stored (same external id with
    /// different content, an idempotency key reused for another request).
    #[error("conflict on {field}: {detail}")]
    Conflict { field: String, detail: String },
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error(
        "the database at {path} was written by a newer dun (schema {found}, this build knows {known})"
    )]
    SchemaTooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error("the store is shut down")]
    Closed,
    /// What a decision was based on changed before it could be recorded;
    /// decide again.
    #[error("the debtor changed while the decision was being made")]
    Stale,
    #[error("internal error: {0}")]
    Internal(String),
}

impl StoreError {
    pub fn invalid(field: impl Into<String>, detail: impl Into<String>) -> Self {
        StoreError::Invalid(vec![FieldError::new(field, detail)])
    }

    pub fn not_found(what: &'static str, id: impl Into<String>) -> Self {
        StoreError::NotFound {
            what,
            id: id.into(),
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Figures about the writer, for `/metrics` and the ingest benchmark.
#[derive(Debug, Default)]
pub struct WriterStats {
    pub transactions: std::sync::atomic::AtomicU64,
    pub jobs: std::sync::atomic::AtomicU64,
    pub failed_jobs: std::sync::atomic::AtomicU64,
    pub commit_micros: std::sync::atomic::AtomicU64,
}

type Reply = Box<dyn FnOnce(Result<()>) + Send>;

/// One caller's closure and where its result goes.
trait Job: Send {
    /// Runs the closure; says whether it succeeded and returns what to tell
    /// the caller once the transaction's fate is known.
    fn run(self: Box<Self>, conn: &Connection) -> (bool, Reply);
    /// The transaction could not even start: tell the caller why.
    fn refuse(self: Box<Self>, error: StoreError);
}

struct WriteJob<F, T> {
    f: F,
    tx: oneshot::Sender<Result<T>>,
}

impl<F, T> Job for WriteJob<F, T>
where
    F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    T: Send + 'static,
{
    fn run(self: Box<Self>, conn: &Connection) -> (bool, Reply) {
        let WriteJob { f, tx } = *self;
        let result = catch_unwind(AssertUnwindSafe(|| f(conn))).unwrap_or_else(|panic| {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(StoreError::Internal(format!(
                "write job panicked: {message}"
            )))
        });
        let ok = result.is_ok();
        let reply: Reply = Box::new(move |committed| {
            let _ = tx.send(committed.and(result));
        });
        (ok, reply)
    }

    fn refuse(self: Box<Self>, error: StoreError) {
        let _ = self.tx.send(Err(error));
    }
}

/// Handle to the store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    jobs: Mutex<Option<mpsc::Sender<Box<dyn Job>>>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    readers: Mutex<Vec<Connection>>,
    stats: Arc<WriterStats>,
    /// The checkpoint thread runs while this lives.
    _alive: Arc<()>,
}

/// Most jobs one transaction takes. Bounds the latency one slow batch adds.
const MAX_BATCH: usize = 1024;

impl Store {
    /// Opens (creating if needed) the database at `path` and runs any
    /// pending migrations.
    pub fn open(path: &Path) -> Result<Store> {
        let mut conn = open_connection(path, false)?;
        migrations::run(&mut conn, path)?;
        // The writer never checkpoints (that would stall commits); a
        // background thread copies the WAL back into the database instead.
        conn.execute_batch("PRAGMA wal_autocheckpoint = 0;")?;
        let alive = Arc::new(());
        spawn_checkpointer(path, Arc::downgrade(&alive))?;
        let stats = Arc::new(WriterStats::default());
        let (tx, rx) = mpsc::channel::<Box<dyn Job>>();
        let writer_stats = stats.clone();
        let writer = std::thread::Builder::new()
            .name("dun-store-writer".into())
            .spawn(move || writer_loop(conn, rx, &writer_stats))
            .map_err(|e| StoreError::Internal(format!("cannot start the writer thread: {e}")))?;
        Ok(Store {
            inner: Arc::new(Inner {
                path: path.to_owned(),
                jobs: Mutex::new(Some(tx)),
                writer: Mutex::new(Some(writer)),
                readers: Mutex::new(Vec::new()),
                stats,
                _alive: alive,
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    pub fn stats(&self) -> &WriterStats {
        &self.inner.stats
    }

    /// Runs `f` on the writer inside its own savepoint and returns its result
    /// once the transaction holding it has committed. An `Err` from `f`
    /// undoes everything `f` did and nothing else.
    pub async fn write<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        self.submit(f, tx)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// [`Store::write`] for callers outside an async runtime (the CLI).
    pub fn write_blocking<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        self.submit(f, tx)?;
        rx.blocking_recv().map_err(|_| StoreError::Closed)?
    }

    fn submit<T, F>(&self, f: F, tx: oneshot::Sender<Result<T>>) -> Result<()>
    where
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let job: Box<dyn Job> = Box::new(WriteJob { f, tx });
        let jobs = self.inner.jobs.lock().map_err(|_| StoreError::Closed)?;
        jobs.as_ref()
            .ok_or(StoreError::Closed)?
            .send(job)
            .map_err(|_| StoreError::Closed)
    }

    /// Runs `f` on a read-only connection on tokio's blocking pool.
    pub async fn read<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.read_blocking(f))
            .await
            .map_err(|e| StoreError::Internal(format!("read task failed: {e}")))?
    }

    /// [`Store::read`] on the calling thread.
    pub fn read_blocking<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&Connection) -> Result<T>,
    {
        let pooled = self.inner.readers.lock().ok().and_then(|mut r| r.pop());
        let conn = match pooled {
            Some(conn) => conn,
            None => open_connection(&self.inner.path, true)?,
        };
        // A read sees one snapshot: wrap it in a transaction.
        conn.execute_batch("BEGIN")?;
        let result = f(&conn);
        let ended = conn.execute_batch("COMMIT");
        if ended.is_ok()
            && let Ok(mut readers) = self.inner.readers.lock()
            && readers.len() < 16
        {
            readers.push(conn);
        }
        result
    }

    /// Stops accepting writes, lets the writer finish what it has, and waits.
    pub fn close(&self) {
        if let Ok(mut jobs) = self.inner.jobs.lock() {
            jobs.take();
        }
        if let Some(handle) = self.inner.writer.lock().ok().and_then(|mut w| w.take()) {
            let _ = handle.join();
        }
    }
}

fn open_connection(path: &Path, read_only: bool) -> Result<Connection> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.set_prepared_statement_cache_capacity(128);
    // synchronous = FULL: a commit is on disk before anyone hears of it.
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON;
         PRAGMA temp_store = MEMORY;
         PRAGMA cache_size = -65536;",
    )?;
    Ok(conn)
}

/// Checkpoints the WAL every 200 ms with PASSIVE (never blocks the writer
/// or readers), and truncates it when it has grown past 64 MiB and no one
/// is in the way. Ends when the database can no longer be opened.
fn spawn_checkpointer(path: &Path, alive: std::sync::Weak<()>) -> Result<()> {
    let conn = open_connection(path, false)?;
    let wal = PathBuf::from(format!("{}-wal", path.display()));
    std::thread::Builder::new()
        .name("dun-store-checkpoint".into())
        .spawn(move || {
            loop {
                std::thread::sleep(std::time::Duration::from_millis(200));
                if alive.upgrade().is_none() {
                    break;
                }
                let big = std::fs::metadata(&wal)
                    .map(|m| m.len() > 64 << 20)
                    .unwrap_or(false);
                let mode = if big { "TRUNCATE" } else { "PASSIVE" };
                if let Err(e) = conn.execute_batch(&format!("PRAGMA wal_checkpoint({mode});")) {
                    tracing::warn!("checkpoint failed: {e}");
                }
            }
        })
        .map_err(|e| StoreError::Internal(format!("cannot start the checkpoint thread: {e}")))?;
    Ok(())
}

fn writer_loop(conn: Connection, jobs: mpsc::Receiver<Box<dyn Job>>, stats: &WriterStats) {
    use std::sync::atomic::Ordering::Relaxed;
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            let message = format!("cannot begin a transaction: {e}");
            stats.failed_jobs.fetch_add(batch.len() as u64, Relaxed);
            for job in batch {
                job.refuse(StoreError::Internal(message.clone()));
            }
            continue;
        }
        let mut replies = Vec::with_capacity(batch.len());
        if batch.len() == 1 {
            // Alone in its transaction, a job needs no savepoint (whose
            // sub-journal costs a bulk ingest dearly): on failure the whole
            // transaction is rolled back, which undoes exactly that job.
            let job = batch.pop().expect("one job");
            let (ok, reply) = job.run(&conn);
            replies.push(reply);
            if !ok {
                stats.failed_jobs.fetch_add(1, Relaxed);
                if let Err(e) = conn.execute_batch("ROLLBACK") {
                    tracing::error!("rollback failed: {e}");
                }
                for reply in replies {
                    reply(Ok(()));
                }
                continue;
            }
        }
        for job in batch {
            if let Err(e) = conn.execute_batch("SAVEPOINT job") {
                job.refuse(StoreError::from(e));
                continue;
            }
            let (ok, reply) = job.run(&conn);
            replies.push(reply);
            let undo = if ok {
                conn.execute_batch("RELEASE job")
            } else {
                stats.failed_jobs.fetch_add(1, Relaxed);
                conn.execute_batch("ROLLBACK TO job; RELEASE job")
            };
            if let Err(e) = undo {
                tracing::error!("savepoint handling failed: {e}");
            }
        }
        let started = Instant::now();
        let committed = conn.execute_batch("COMMIT").map_err(StoreError::from);
        if committed.is_err() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        stats
            .commit_micros
            .fetch_add(started.elapsed().as_micros() as u64, Relaxed);
        stats.transactions.fetch_add(1, Relaxed);
        stats.jobs.fetch_add(replies.len() as u64, Relaxed);
        let failure = committed.as_ref().err().map(|e| e.to_string());
        for reply in replies {
            reply(match &failure {
                None => Ok(()),
                Some(message) => Err(StoreError::Internal(format!("commit failed: {message}"))),
            });
        }
    }
}

/// An instant as rusqlite writes it (`2026-05-20 09:00:00.123456789+00:00`),
/// for hot paths that format once and bind many times.
pub(crate) fn sql_timestamp(at: chrono::DateTime<chrono::Utc>) -> String {
    use rusqlite::types::{ToSqlOutput, ValueRef};
    match rusqlite::ToSql::to_sql(&at) {
        Ok(ToSqlOutput::Owned(rusqlite::types::Value::Text(text))) => text,
        Ok(ToSqlOutput::Borrowed(ValueRef::Text(text))) => {
            String::from_utf8_lossy(text).into_owned()
        }
        _ => at.format("%F %T%.f%:z").to_string(),
    }
}

/// A date as rusqlite writes it (`2026-05-20`), without chrono's formatter.
pub(crate) fn sql_date(date: chrono::NaiveDate) -> String {
    use chrono::Datelike;
    format!("{:04}-{:02}-{:02}", date.year(), date.month(), date.day())
}

/// Helpers every store module uses to move JSON columns in and out.
pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Internal(e.to_string()))
}

pub(crate) fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> rusqlite::Result<T> {
    serde_json::from_str(text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

#[cfg(test)]
mod tests;
