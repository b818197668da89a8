//! Connections of our own beside sqlx's pool, for the statements on every transaction's
//! path (the device lookups, the inbox, the status queries, completions) on PostgreSQL;
//! SQLite runs them in place (see `direct`). sqlx's pool
//! pings each connection it is given back, in a task it spawns: one more round trip to
//! SQLite's worker thread or to PostgreSQL for every statement, and two more context
//! switches. A slot is taken without a ping and given back without one; a connection
//! that failed (anything but an error of the statement itself) is dropped, and the slot
//! opens a new one when it is next taken.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use sqlx::{AnyConnection, Connection};
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::sql::{Row, Sql};
use crate::{Result, Store, StoreError};

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
    /// A slot, its connection open.
    pub(crate) async fn slot(&self) -> Result<Slot> {
        let mut slot = self.slots.take().await;
        if slot.is_none() {
            *slot = Some(AnyConnection::connect(&self.url).await?);
        }
        Ok(Slot(slot))
    }

    /// One row or none: on SQLite read in place (see `direct`), on PostgreSQL on a slot.
    pub(crate) async fn fetch_optional_on_slot(&self, sql: Sql<'_>) -> Result<Option<Row>> {
        Ok(self.fetch_all_on_slot(sql).await?.into_iter().next())
    }

    /// Every row: on SQLite read in place, on PostgreSQL on a slot.
    pub(crate) async fn fetch_all_on_slot(&self, sql: Sql<'_>) -> Result<Vec<Row>> {
        if let Some(direct) = &self.direct {
            return Ok(direct.read(&sql).await?.into_iter().map(Row::Direct).collect());
        }
        let mut slot = self.slot().await?;
        let result = sql.query().fetch_all(slot.connection()).await;
        Ok(slot.check(result)?.into_iter().map(Row::Any).collect())
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
