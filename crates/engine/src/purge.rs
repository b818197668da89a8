//! Deleting what has expired, in batches: a backlog goes in many short writes, each a few
//! milliseconds of SQLite's one write lock (which the requests' writes wait for), never in
//! one that holds it for seconds.

/// Rows deleted per statement.
pub const PURGE_BATCH: i64 = 500;

/// Calls `batch` with [`PURGE_BATCH`] until it deletes fewer rows than that, letting other
/// tasks run in between; how many went in all.
pub(crate) async fn in_batches<E, Batch>(mut batch: impl FnMut(i64) -> Batch) -> Result<u64, E>
where
    Batch: std::future::Future<Output = Result<u64, E>>,
{
    let mut purged = 0;
    loop {
        let deleted = batch(PURGE_BATCH).await?;
        purged += deleted;
        if deleted < PURGE_BATCH.unsigned_abs() {
            return Ok(purged);
        }
        tokio::task::yield_now().await;
    }
}
