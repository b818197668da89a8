//! What operations ask of the database: is it there, is its schema current, how busy is
//! the pool, how many transactions wait for a phone; and closing it at shutdown.

use sqlx::Row;

use crate::{Backend, Result, Store, POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS};

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

    /// True when every migration this build knows has been applied successfully.
    pub async fn migrations_applied(&self) -> Result<bool> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        let rows = sqlx::query("SELECT version FROM _sqlx_migrations WHERE success").fetch_all(&self.pool).await?;
        let applied: Vec<i64> = rows.iter().map(|row| row.try_get(0)).collect::<std::result::Result<_, _>>()?;
        Ok(migrator.iter().all(|m| applied.contains(&m.version)))
    }

    pub fn pool_stats(&self) -> PoolStats {
        PoolStats { size: self.pool.size(), idle: self.pool.num_idle() }
    }

    /// Transactions still waiting for the phone (and not yet past their expiry at `now`).
    pub async fn count_pending_transactions(&self, now: i64) -> Result<i64> {
        let row = sqlx::query("SELECT COUNT(*) FROM transactions WHERE state = 'pending' AND expires_at > $1")
            .bind(now)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get(0)?)
    }

    /// Closes every connection once it is returned; later queries fail. SQLite checkpoints
    /// its WAL as the last connection closes.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}
