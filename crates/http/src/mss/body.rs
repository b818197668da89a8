//! Reading an AP's request body under a size limit and the body deadline
//! ([`crate::limits`]).
//!
//! A body we will not process (too large, or from a caller refused before its body was
//! read) is still read to its end and thrown away, within the size limit and the
//! deadline. Answering while the client is still uploading would make most clients see a
//! broken pipe instead of our fault. Memory stays bounded by the limit, and nothing that
//! is thrown away is parsed.

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue};
use axum::response::Response;
use futures_util::StreamExt;
use mobileid_core::Fault;

use crate::limits::is_body_timeout;

/// How much of an oversized body we read (and discard) so the client gets our answer.
const DRAIN_BYTES: usize = 128 * 1024 * 1024;

/// A request we will not process: the fault to answer, and whether the connection must
/// close because part of the body is still unread.
pub struct Refusal {
    pub fault: Fault,
    close: bool,
}

impl Refusal {
    /// A refusal of a request whose body was read completely.
    pub fn keep_alive(fault: Fault) -> Refusal {
        Refusal { fault, close: false }
    }

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
    let mut kept = Vec::new();
    match read(body, limit, DRAIN_BYTES.max(limit), |chunk| kept.extend_from_slice(chunk)).await {
        Ok(total) if total <= limit => Ok(Bytes::from(kept)),
        Ok(_) => Err(Refusal {
            fault: Fault::wrong_param(format!("The request body is larger than the limit of {limit} bytes")),
            close: false,
        }),
        Err(Unread::TooLarge) => Err(Refusal {
            fault: Fault::wrong_param(format!("The request body is larger than the limit of {limit} bytes")),
            close: true,
        }),
        Err(Unread::Failed(why)) => Err(Refusal {
            fault: Fault::wrong_param(format!("The request body could not be read: {why}")),
            close: true,
        }),
    }
}

/// `fault` for a request refused before its body was read. The body is read (at most
/// `limit` bytes) and dropped unparsed, so that the client gets the fault.
pub async fn refuse_unread(body: Body, limit: usize, fault: Fault) -> Refusal {
    let drained = read(body, 0, limit, |_| {}).await.is_ok();
    Refusal { fault, close: !drained }
}

enum Unread {
    /// Larger than we read at all.
    TooLarge,
    Failed(String),
}

/// Reads the whole body, handing `keep` what fits in `limit`; the total length. Stops
/// reading past `drain_limit`.
async fn read(body: Body, limit: usize, drain_limit: usize, mut keep: impl FnMut(&[u8])) -> Result<usize, Unread> {
    let mut stream = body.into_data_stream();
    let mut total = 0usize;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            Unread::Failed(if is_body_timeout(&e) { "it did not arrive in time".into() } else { e.to_string() })
        })?;
        total = total.saturating_add(chunk.len());
        if total <= limit {
            keep(&chunk);
        } else if total > drain_limit {
            return Err(Unread::TooLarge);
        }
    }
    Ok(total)
}
