//! Reading an AP's request body under a size limit.
//!
//! An oversized body is still read to its end, and thrown away, within a size and time
//! bound. Answering while the client is still uploading would make most clients see a
//! broken pipe instead of our fault. Memory stays bounded by the limit.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue};
use axum::response::Response;
use futures_util::StreamExt;
use mobileid_core::Fault;

/// How much of an oversized body we read (and discard) so the client gets our answer.
const DRAIN_BYTES: usize = 128 * 1024 * 1024;
const DRAIN_TIME: Duration = Duration::from_secs(30);

/// A body we will not process: the fault to answer, and whether the connection must close
/// because part of the body is still unread.
pub struct Refusal {
    pub fault: Fault,
    close: bool,
}

impl Refusal {
    /// Adds `Connection: close` where the connection cannot carry another request.
    pub fn finish(&self, mut response: Response) -> Response {
        if self.close {
            response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

/// The body, or the 101 fault for one that is too large or cannot be read.
pub async fn read_request(body: Body, limit: usize) -> Result<Bytes, Refusal> {
    read_limited(body, limit).await.map_err(|e| match e {
        BodyError::TooLarge { drained } => Refusal {
            fault: Fault::wrong_param(format!("The request body is larger than the limit of {limit} bytes")),
            close: !drained,
        },
        BodyError::Unreadable(why) => {
            Refusal { fault: Fault::wrong_param(format!("The request body could not be read: {why}")), close: true }
        }
    })
}

enum BodyError {
    /// Larger than the limit; `drained` tells whether the connection can stay open.
    TooLarge {
        drained: bool,
    },
    Unreadable(String),
}

async fn read_limited(body: Body, limit: usize) -> Result<Bytes, BodyError> {
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
