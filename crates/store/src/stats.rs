//! What operations ask of the database: is it there, is its schema current, how busy is
//! the pool, how many transactions wait for a phone; and closing it at shutdown.

use std::collections::BTreeMap;

use mobileid_core::{Timestamp, TxState};
use sqlx::migrate::Migrate;
use sqlx::Row;

use crate::{Result, Store};

/// Connections of the pool: open ones, and of those the idle ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    pub size: u32,
    pub idle: usize,
}

impl Store {
    /// A round trip to the database.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// True when every migration this binary embeds is applied, with the same checksum,
    /// and nothing unknown is (a newer binary migrated the database).
    pub async fn migrations_applied(&self) -> Result<bool> {
        let mut conn = self.pool.acquire().await?;
        let applied: BTreeMap<i64, Vec<u8>> =
            conn.list_applied_migrations().await?.into_iter().map(|m| (m.version, m.checksum.into_owned())).collect();
        let embedded: BTreeMap<i64, Vec<u8>> = self
            .migrator()
            .iter()
            .filter(|m| m.migration_type.is_up_migration())
            .map(|m| (m.version, m.checksum.to_vec()))
            .collect();
        Ok(applied == embedded)
    }

    pub fn pool_stats(&self) -> PoolStats {
        PoolStats { size: self.pool.size(), idle: self.pool.num_idle() }
    }

    /// Transactions still waiting for the phone (and not yet past their expiry at `now`).
    pub async fn count_pending_transactions(&self, now: Timestamp) -> Result<i64> {
        let row = sqlx::query("SELECT COUNT(*) FROM transactions WHERE state = $1 AND expires_at > $2")
            .bind(TxState::Pending.as_db())
            .bind(now.as_millis())
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get(0)?)
    }

    /// Closes every connection once it is returned; later queries fail. SQLite checkpoints
    /// its WAL as the last connection closes.
    pub async fn close(&self) {
        self.sqlite_writer.lock().await.take();
        if let Some(direct) = &self.direct {
            direct.close();
        }
        self.pool.close().await;
    }
}
