//! What one client can hold: the limits every connection and request is under, and the
//! request-body deadline that enforces one of them.
//!
//! - A connection with no request in flight is closed after [`Limits::idle`]: that bounds
//!   a client that never finishes its headers (HTTP/1.1 or HTTP/2), trickles bytes or
//!   pings, and an idle keep-alive connection alike.
//! - A request body must arrive completely within [`Limits::body`] of the request's start.
//! - Each listener serves at most [`Limits::max_connections`] connections at once, and all
//!   listeners together at most [`Limits::all_connections`]; at either cap a listener stops
//!   accepting, and new clients wait in the kernel's accept queue until a connection closes
//!   (back-pressure, not refusal).

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use hyper::body::{Frame, SizeHint};
use tokio::time::{Instant, Sleep};

/// The connection and request limits of every listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// A connection without a request in flight for this long is closed.
    pub idle: Duration,
    /// A request body must be complete this long after the request began.
    pub body: Duration,
    /// Connections one listener serves at once.
    pub max_connections: usize,
    /// Connections all listeners together serve at once: one budget (of file descriptors,
    /// say) that a busy listener may use more of while the others are quiet.
    pub all_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            idle: Duration::from_secs(10),
            body: Duration::from_secs(10),
            max_connections: 10_000,
            all_connections: 20_000,
        }
    }
}

/// A request body that fails with [`BodyTimedOut`] once its deadline has passed.
pub struct DeadlineBody {
    inner: Body,
    deadline: Pin<Box<Sleep>>,
}

impl DeadlineBody {
    /// `body`, bounded to end by `deadline`. A body that is already complete costs no timer.
    pub fn wrap(body: Body, deadline: Instant) -> Body {
        if body.is_end_stream() {
            return body;
        }
        Body::new(DeadlineBody { inner: body, deadline: Box::pin(tokio::time::sleep_until(deadline)) })
    }
}

impl HttpBody for DeadlineBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        match this.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(axum::Error::new(BodyTimedOut)))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The body did not arrive within [`Limits::body`].
#[derive(Debug, Clone, Copy)]
pub struct BodyTimedOut;

impl fmt::Display for BodyTimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the request body did not arrive in time")
    }
}

impl Error for BodyTimedOut {}

/// True when `error`, or any error it wraps, is a [`BodyTimedOut`].
pub fn is_body_timeout(error: &(dyn Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(e) = next {
        if e.is::<BodyTimedOut>() {
            return true;
        }
        next = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    #[tokio::test(start_paused = true)]
    async fn a_body_that_stalls_fails_at_its_deadline() {
        let (sender, stalled) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(1);
        let body = Body::from_stream(tokio_stream_from(stalled));
        sender.try_send(Ok(Bytes::from_static(b"part"))).unwrap();
        let started = Instant::now();
        let mut frames = DeadlineBody::wrap(body, started + Duration::from_secs(10)).into_data_stream();
        assert_eq!(frames.next().await.unwrap().unwrap(), Bytes::from_static(b"part"));
        let error = frames.next().await.unwrap().unwrap_err();
        assert!(is_body_timeout(&error), "{error}");
        assert_eq!(started.elapsed(), Duration::from_secs(10));
        drop(sender);
    }

    #[tokio::test(start_paused = true)]
    async fn a_complete_body_is_untouched() {
        let body = DeadlineBody::wrap(Body::from("done"), Instant::now());
        let bytes = axum::body::to_bytes(body, 100).await.unwrap();
        assert_eq!(bytes, Bytes::from_static(b"done"));
    }

    fn tokio_stream_from(
        mut rx: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>,
    ) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
        futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
    }
}
