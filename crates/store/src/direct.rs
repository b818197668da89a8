//! SQLite in place: the statements on every transaction's path run on the calling thread,
//! through rusqlite, not on sqlx's thread for the connection. A statement on a cached
//! page takes microseconds; the hand-over to sqlx's thread and back cost more than that
//! (two thread wake-ups and their context switches per statement, the largest part of
//! the server's time under load), and it is gone.
//!
//! Readers: a few connections, each behind a lock that is held only while one statement
//! runs, never across an `.await`, so a reader waits at most for another statement.
//! The writer: one connection, in the writer's turn (`Store::sqlite_writer`), so writes
//! take SQLite's lock one after the other; the group commit writes its batches on it.
//!
//! Neither waits in SQLite's busy handler, which sleeps the thread: their busy timeout
//! is 0, and a statement that finds the database locked (by a write through sqlx's pool,
//! which does not take the writer's turn) is tried again after an asynchronous pause.
//! A statement that failed busy changed nothing: a write outside a transaction is
//! undone whole, and a transaction here starts with `BEGIN IMMEDIATE`, which takes the
//! lock first or fails before anything is written.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rusqlite::{Connection, ErrorCode, OpenFlags};
use sqlx::sqlite::SqliteConnectOptions;

use crate::sql::{DirectRow, Sql, Value};
use crate::{Result, StoreError, SQLITE_PRAGMAS};

/// How long a statement is tried again while the database is locked: the busy timeout
/// of every other connection (`SQLITE_PRAGMAS`).
const BUSY_WAIT: Duration = Duration::from_secs(10);
/// The pause between two tries.
const BUSY_PAUSE: Duration = Duration::from_millis(1);
/// Statements each connection keeps prepared: more than the hot path uses.
const CACHED_STATEMENTS: usize = 64;

pub(crate) struct Direct {
    path: PathBuf,
    readers: Vec<Mutex<Option<Connection>>>,
    next: AtomicUsize,
    /// Reads so far, for `upkeep` to tell a quiet server.
    reads: AtomicU64,
}

impl Direct {
    /// For the database of a `sqlite:` URL (which sqlx has opened and migrated).
    /// An in-memory database is refused: each connection in place would open its own.
    pub(crate) fn new(url: &str) -> Result<Direct> {
        if url.contains(":memory:") || url.contains("mode=memory") {
            return Err(StoreError::UnsupportedUrl(url.to_string()));
        }
        let options = SqliteConnectOptions::from_str(url)?;
        let readers = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(2, 8);
        Ok(Direct {
            path: options.get_filename().to_path_buf(),
            readers: (0..readers).map(|_| Mutex::new(None)).collect(),
            next: AtomicUsize::new(0),
            reads: AtomicU64::new(0),
        })
    }

    /// A connection with every connection's settings, and no busy handler.
    pub(crate) fn open(&self) -> Result<Connection> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&self.path, flags)?;
        for pragma in SQLITE_PRAGMAS.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let mut statement = conn.prepare(pragma)?;
            let mut rows = statement.raw_query();
            while rows.next()?.is_some() {}
        }
        conn.busy_timeout(Duration::ZERO)?;
        conn.set_prepared_statement_cache_capacity(CACHED_STATEMENTS);
        Ok(conn)
    }

    /// Runs a read on a reader connection.
    pub(crate) async fn read(&self, sql: &Sql<'_>) -> Result<Vec<DirectRow>> {
        retry_busy(|| self.with_reader(|conn| run(conn, sql).map(|(rows, _)| rows))).await
    }

    /// A free reader if there is one, else the next in turn once its statement is done.
    fn with_reader<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let count = self.readers.len();
        let mut slot = (0..count)
            .find_map(|offset| self.readers[(start + offset) % count].try_lock().ok())
            .unwrap_or_else(|| self.readers[start % count].lock().unwrap_or_else(|e| e.into_inner()));
        if slot.is_none() {
            *slot = Some(self.open()?);
        }
        let result = f(slot.as_ref().expect("opened above"));
        if matches!(&result, Err(StoreError::Sqlite(e)) if breaks_connection(e)) {
            *slot = None;
        }
        result
    }

    /// Reads so far.
    pub(crate) fn reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }

    /// Closes the readers (the store is closing, or the server is quiet: their page
    /// caches and prepared statements go back to the allocator; the next read opens one).
    pub(crate) fn close(&self) {
        for reader in &self.readers {
            reader.lock().unwrap_or_else(|e| e.into_inner()).take();
        }
    }
}

/// Runs one statement: its rows, and how many rows it changed (for an INSERT, UPDATE or
/// DELETE; otherwise a meaningless count). `$N` placeholders take the Nth value, as
/// sqlx binds them.
pub(crate) fn run(conn: &Connection, sql: &Sql<'_>) -> Result<(Vec<DirectRow>, u64)> {
    run_text(conn, &sql.text, &sql.params)
}

/// Runs `text` with `params`, as [`run`]: a statement of several that share one list.
pub(crate) fn run_text(conn: &Connection, text: &str, params: &[Value<'_>]) -> Result<(Vec<DirectRow>, u64)> {
    let mut statement = conn.prepare_cached(text)?;
    for index in 1..=statement.parameter_count() {
        let name = statement.parameter_name(index).unwrap_or_default();
        let number: usize = name
            .strip_prefix('$')
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| rusqlite::Error::InvalidParameterName(name.to_string()))?;
        let value = params.get(number - 1).ok_or(rusqlite::Error::InvalidParameterCount(number, params.len()))?;
        statement.raw_bind_parameter(index, value)?;
    }
    let columns = statement.column_count();
    let mut rows = statement.raw_query();
    let mut read = Vec::new();
    while let Some(row) = rows.next()? {
        let values = (0..columns).map(|i| row.get::<_, rusqlite::types::Value>(i)).collect::<rusqlite::Result<_>>()?;
        read.push(DirectRow(values));
    }
    drop(rows);
    Ok((read, conn.changes()))
}

/// Runs `attempt` until it does not find the database locked, pausing between tries,
/// for at most [`BUSY_WAIT`].
pub(crate) async fn retry_busy<T>(mut attempt: impl FnMut() -> Result<T>) -> Result<T> {
    let deadline = Instant::now() + BUSY_WAIT;
    loop {
        match attempt() {
            Err(StoreError::Sqlite(e)) if is_busy(&e) && Instant::now() < deadline => {
                tokio::time::sleep(BUSY_PAUSE).await;
            }
            result => return result,
        }
    }
}

fn is_busy(error: &rusqlite::Error) -> bool {
    matches!(error.sqlite_error_code(), Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked))
}

/// Whether an error leaves the connection in doubt (anything but the statement's own
/// failure), so that it is closed and opened again.
pub(crate) fn breaks_connection(error: &rusqlite::Error) -> bool {
    !matches!(
        error.sqlite_error_code(),
        Some(ErrorCode::ConstraintViolation | ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    ) && !matches!(
        error,
        rusqlite::Error::FromSqlConversionFailure(..)
            | rusqlite::Error::InvalidColumnIndex(_)
            | rusqlite::Error::InvalidColumnType(..)
            | rusqlite::Error::IntegralValueOutOfRange(..)
            | rusqlite::Error::InvalidParameterCount(..)
    )
}
