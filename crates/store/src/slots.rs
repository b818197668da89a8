//! Connections of our own beside sqlx's pool, for the statements on every transaction's
//! path (the device lookups, the inbox, the status queries, completions). sqlx's pool
//! pings each connection it is given back, in a task it spawns: one more round trip to
//! SQLite's worker thread or to PostgreSQL for every statement, and two more context
//! switches. A slot is taken without a ping and given back without one; a connection
//! that failed (anything but an error of the statement itself) is dropped, and the slot
//! opens a new one when it is next taken.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Connection};
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::{AnyQuery, Backend, Result, Store, StoreError, SQLITE_PRAGMAS};

pub(crate) struct Slots {
    slots: Vec<Arc<Mutex<Option<AnyConnection>>>>,
    next: AtomicUsize,
}

impl Slots {
    pub(crate) fn new(count: usize) -> Slots {
        Slots { slots: (0..count).map(|_| Arc::default()).collect(), next: AtomicUsize::new(0) }
    }

    /// A free slot if there is one, else the next in turn, when it is free.
    async fn take(&self) -> OwnedMutexGuard<Option<AnyConnection>> {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let count = self.slots.len();
        for offset in 0..count {
            if let Ok(slot) = self.slots[(start + offset) % count].clone().try_lock_owned() {
                return slot;
            }
        }
        self.slots[start % count].clone().lock_owned().await
    }
}

/// Whether an error leaves the connection unusable (a lost connection, a protocol error),
/// rather than being the statement's own (a constraint, a row that does not decode).
fn breaks_connection(error: &sqlx::Error) -> bool {
    !matches!(
        error,
        sqlx::Error::Database(_)
            | sqlx::Error::RowNotFound
            | sqlx::Error::ColumnDecode { .. }
            | sqlx::Error::ColumnNotFound(_)
            | sqlx::Error::ColumnIndexOutOfBounds { .. }
            | sqlx::Error::Decode(_)
            | sqlx::Error::TypeNotFound { .. }
    )
}

impl Store {
    /// Opens the connection of a slot or of the SQLite writer, with SQLite's settings.
    pub(crate) async fn open_connection(&self) -> Result<AnyConnection> {
        let mut conn = AnyConnection::connect(&self.url).await?;
        if self.backend == Backend::Sqlite {
            sqlx::Executor::execute(&mut conn, SQLITE_PRAGMAS).await?;
        }
        Ok(conn)
    }

    /// A slot, its connection open.
    pub(crate) async fn slot(&self) -> Result<Slot> {
        let mut slot = self.slots.take().await;
        if slot.is_none() {
            *slot = Some(self.open_connection().await?);
        }
        Ok(Slot(slot))
    }

    /// One row or none, read on a slot.
    pub(crate) async fn fetch_optional_on_slot(&self, query: AnyQuery<'_>) -> Result<Option<AnyRow>> {
        let mut slot = self.slot().await?;
        let result = query.fetch_optional(slot.connection()).await;
        slot.check(result)
    }

    /// Every row, read on a slot.
    pub(crate) async fn fetch_all_on_slot(&self, query: AnyQuery<'_>) -> Result<Vec<AnyRow>> {
        let mut slot = self.slot().await?;
        let result = query.fetch_all(slot.connection()).await;
        slot.check(result)
    }
}

pub(crate) struct Slot(OwnedMutexGuard<Option<AnyConnection>>);

impl Slot {
    pub(crate) fn connection(&mut self) -> &mut AnyConnection {
        self.0.as_mut().expect("a slot is taken with its connection open")
    }

    /// The statement's result; the connection is dropped if the error broke it.
    pub(crate) fn check<T>(&mut self, result: Result<T, impl Into<StoreError>>) -> Result<T> {
        let result = result.map_err(Into::into);
        if matches!(&result, Err(StoreError::Database(e)) if breaks_connection(e)) {
            *self.0 = None;
        }
        result
    }
}
