//! SQLite's checkpoint, in a background task, every second until the pool is closed. It
//! copies the WAL into the database file and makes the next commit start the WAL over
//! from its beginning. Without the restart, beside writers that never pause, the WAL
//! grows without end (1.3 GB in 40 s of the OpenID benchmark, 4.7 GB while 100,000
//! phones were activated), and with it the WAL index that every connection maps.

use std::time::Duration;

use sqlx::Executor;

use crate::{Result, Store};

const EVERY: Duration = Duration::from_secs(1);
/// After this many ticks without a read, the connections in place are closed, once.
const QUIET_TICKS: u32 = 10;
/// How long a checkpoint waits for readers, and for a writer outside the writer's turn.
const CHECKPOINT_WAIT: Duration = Duration::from_millis(20);

/// Starts the task for `store`, which must not hold the group commit's queue (the task
/// would keep it open).
pub(crate) fn start(store: Store) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut quiet = Quiet::default();
        while !store.pool.is_closed() {
            tick.tick().await;
            if let Err(e) = checkpoint(&store).await {
                if !store.pool.is_closed() {
                    tracing::warn!("WAL checkpoint: {e}");
                }
            }
            if let Some(direct) = &store.direct {
                if quiet.close_now(direct.reads()) {
                    direct.close();
                    if let Some(mut turn) = store.sqlite_writer().await {
                        *turn = None;
                    }
                }
            }
        }
    });
}

/// Whether the server has gone quiet: no read in place for [`QUIET_TICKS`] ticks. Then
/// the connections in place are closed, so that their page caches do not stay allocated
/// after a load (the outboxes' polls, every two seconds, open the writer's again).
#[derive(Default)]
struct Quiet {
    reads: u64,
    ticks: u32,
}

impl Quiet {
    /// True once per quiet spell, at its [`QUIET_TICKS`]th tick.
    fn close_now(&mut self, reads: u64) -> bool {
        if reads != self.reads {
            *self = Quiet { reads, ticks: 0 };
            return false;
        }
        self.ticks = self.ticks.saturating_add(1);
        self.ticks == QUIET_TICKS
    }
}

/// First PASSIVE, beside the writes: it copies the frames that no reader still needs and
/// syncs the database file, the bulk of the work, without waiting for anyone and without
/// holding up a write. Then RESTART, in the writer's turn (so the writes queue on their
/// lock meanwhile), which has only the frames written since to copy. Both run on a
/// connection of sqlx's pool, whose thread may sleep in the busy handler while the writes
/// in place may not. RESTART copies every frame, then waits until no reader is still on
/// the WAL. Readers that begin after the copy read the database file, so the wait is for
/// the reads in flight, microseconds; it gives up after [`CHECKPOINT_WAIT`] (a long write
/// through the pool, a long read), and the next second tries again.
async fn checkpoint(store: &Store) -> Result<()> {
    if store.pool.is_closed() || store.backend != crate::Backend::Sqlite {
        return Ok(());
    }
    let mut conn = store.pool.acquire().await?;
    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").await?;
    let Some(_turn) = store.sqlite_writer().await else { return Ok(()) };
    if store.pool.is_closed() {
        return Ok(());
    }
    // The connection's own `busy_timeout` (from `SQLITE_PRAGMAS`) is put back after.
    let kept: i64 = sqlx::query_scalar("PRAGMA busy_timeout").fetch_one(&mut *conn).await?;
    conn.execute(format!("PRAGMA busy_timeout={}", CHECKPOINT_WAIT.as_millis()).as_str()).await?;
    let done = conn.execute("PRAGMA wal_checkpoint(RESTART)").await;
    conn.execute(format!("PRAGMA busy_timeout={kept}").as_str()).await?;
    done?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_close_once_per_quiet_spell() {
        let mut quiet = Quiet::default();
        let closed: Vec<bool> = (0..25).map(|_| quiet.close_now(7)).collect();
        assert_eq!(closed.iter().filter(|c| **c).count(), 1, "once: {closed:?}");
        assert!(closed[usize::try_from(QUIET_TICKS).expect("small")], "at the tenth quiet tick: {closed:?}");
        assert!(!quiet.close_now(8), "a read starts a new spell");
        assert!((1..QUIET_TICKS).all(|_| !quiet.close_now(8)));
        assert!(quiet.close_now(8), "which ends in one close");
    }

    #[tokio::test]
    async fn a_checkpoint_puts_the_connections_busy_timeout_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("upkeep.db").display());
        let store = Store::connect(&url).await.expect("store");
        checkpoint(&store).await.expect("checkpoint");
        // The pool keeps one connection, which the checkpoint used.
        let mut conn = store.pool.acquire().await.expect("a connection");
        let timeout: i64 = sqlx::query_scalar("PRAGMA busy_timeout").fetch_one(&mut *conn).await.expect("read");
        assert_eq!(timeout, 10_000, "SQLITE_PRAGMAS' busy_timeout, not the checkpoint's");
    }
}
