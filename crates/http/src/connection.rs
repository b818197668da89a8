//! One client connection, HTTP/1.1 or HTTP/2: its requests get the caller attached and
//! their bodies a deadline, and the connection is closed once it has had no request in
//! flight for the idle limit (see [`crate::limits`]), or at shutdown when its requests
//! in flight have finished.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::Router;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use tokio::sync::watch;
use tokio::time::Instant;
use tower::ServiceExt;

use crate::limits::{DeadlineBody, Limits};
use crate::listener::{Caller, Peer};
use crate::shutdown::Shutdown;

/// How long a connection told to close (idle, or at shutdown) may take to say goodbye
/// (HTTP/2: GOAWAY) when it has nothing in flight.
const GOODBYE: Duration = Duration::from_secs(1);

pub(crate) async fn serve<I>(io: I, app: Router, caller: Caller, peer: Peer, limits: Limits, shutdown: Shutdown)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (in_flight, mut activity) = watch::channel(0usize);
    let in_flight = Arc::new(in_flight);
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(caller.clone());
        request.extensions_mut().insert(peer);
        let request = request.map(|body| DeadlineBody::wrap(Body::new(body), Instant::now() + limits.body));
        let app = app.clone();
        let guard = InFlight::enter(&in_flight);
        async move {
            let response = app.oneshot(request).await.unwrap_or_else(|e| match e {});
            // In flight until its body is sent: an event stream is a request in flight.
            Ok::<_, Infallible>(response.map(|body| Body::new(Guarded { inner: body, _guard: guard })))
        }
    });
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(100)
        .keep_alive_interval(Some(Duration::from_secs(30)))
        .keep_alive_timeout(Duration::from_secs(10));
    let connection = builder.serve_connection_with_upgrades(io, service);
    tokio::pin!(connection);
    let why = tokio::select! {
        ended = connection.as_mut() => return log_end(ended),
        _ = shutdown.begun() => Close::Shutdown,
        _ = idle_for(&mut activity, limits.idle) => Close::Idle,
    };
    // Finishes the requests in flight, then closes (HTTP/2: GOAWAY). At shutdown the
    // listener bounds the wait; an idle connection has nothing in flight to wait for.
    connection.as_mut().graceful_shutdown();
    let ended = match why {
        Close::Shutdown => connection.await,
        Close::Idle => match tokio::time::timeout(GOODBYE, connection).await {
            Ok(ended) => ended,
            Err(_) => return,
        },
    };
    log_end(ended)
}

enum Close {
    Shutdown,
    Idle,
}

fn log_end(ended: Result<(), Box<dyn std::error::Error + Send + Sync>>) {
    if let Err(e) = ended {
        tracing::debug!("connection ended: {e}");
    }
}

/// Resolves once no request has been in flight for `limit`.
async fn idle_for(activity: &mut watch::Receiver<usize>, limit: Duration) {
    loop {
        let busy = *activity.borrow_and_update() > 0;
        let changed = activity.changed();
        if busy {
            if changed.await.is_err() {
                return;
            }
        } else if let Err(_elapsed) = tokio::time::timeout(limit, changed).await {
            return;
        }
    }
}

/// Counts one request in flight for as long as it lives.
struct InFlight(Arc<watch::Sender<usize>>);

impl InFlight {
    fn enter(count: &Arc<watch::Sender<usize>>) -> InFlight {
        count.send_modify(|n| *n += 1);
        InFlight(count.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n -= 1);
    }
}

/// A response body that keeps its request counted in flight until it is dropped.
struct Guarded {
    inner: Body,
    _guard: InFlight,
}

impl HttpBody for Guarded {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn idle_counts_from_the_last_request_that_ended() {
        let (count, mut activity) = watch::channel(0usize);
        let count = Arc::new(count);
        let started = Instant::now();
        let request = InFlight::enter(&count);
        let idle = tokio::spawn(async move {
            idle_for(&mut activity, Duration::from_secs(10)).await;
            Instant::now()
        });
        tokio::time::sleep(Duration::from_secs(25)).await;
        drop(request);
        let idle_at = idle.await.unwrap();
        assert_eq!(idle_at - started, Duration::from_secs(35));
    }
}
