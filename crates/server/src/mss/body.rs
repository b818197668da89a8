//! Reading an AP's request body under a size limit.
//!
//! An oversized body is still read to its end, and thrown away, within a size and time
//! bound. Answering while the client is still uploading would make most clients see a
//! broken pipe instead of our fault. Memory stays bounded by the limit.

use std::time::Duration;

use axum::body::{Body, Bytes};
use futures_util::StreamExt;

/// How much of an oversized body we read (and discard) so the client gets our answer.
const DRAIN_BYTES: usize = 128 * 1024 * 1024;
const DRAIN_TIME: Duration = Duration::from_secs(30);

pub enum BodyError {
    /// Larger than the limit; `drained` tells whether the connection can stay open.
    TooLarge {
        drained: bool,
    },
    Unreadable(String),
}

pub async fn read_limited(body: Body, limit: usize) -> Result<Bytes, BodyError> {
    let mut stream = body.into_data_stream();
    let mut kept = Vec::new();
    let mut total = 0usize;
    let deadline = tokio::time::Instant::now() + DRAIN_TIME;
    loop {
        let next = match tokio::time::timeout_at(deadline, stream.next()).await {
            Ok(next) => next,
            Err(_) if total > limit => return Err(BodyError::TooLarge { drained: false }),
            Err(_) => return Err(BodyError::Unreadable("the body did not arrive in time".into())),
        };
        let Some(chunk) = next else { break };
        let chunk = chunk.map_err(|e| BodyError::Unreadable(e.to_string()))?;
        total = total.saturating_add(chunk.len());
        if total <= limit {
            kept.extend_from_slice(&chunk);
        } else if total > DRAIN_BYTES {
            return Err(BodyError::TooLarge { drained: false });
        }
    }
    if total > limit {
        return Err(BodyError::TooLarge { drained: true });
    }
    Ok(Bytes::from(kept))
}
