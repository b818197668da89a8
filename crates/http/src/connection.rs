//! One client connection, HTTP/1.1 or HTTP/2: its requests get the caller attached and
//! their bodies a deadline, and the connection is closed once it has had no request in
//! flight for the idle limit (see [`crate::limits`]), or at shutdown when its requests
//! in flight have finished.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::Router;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto::Builder;
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
    let activity = Arc::new(Activity::new());
    let in_flight = activity.clone();
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
        _ = idle_for(&activity, limits.idle) => Close::Idle,
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

/// The requests in flight on one connection and when the last one ended. Requests count
/// themselves in and out without waking anyone (a notification per request cost the
/// connection's task a wake-up and a new timer each); [`idle_for`] looks when its timer
/// fires.
struct Activity {
    opened: Instant,
    in_flight: AtomicUsize,
    /// When the last request ended, in nanoseconds after `opened`.
    last_end: AtomicU64,
}

impl Activity {
    fn new() -> Activity {
        Activity { opened: Instant::now(), in_flight: AtomicUsize::new(0), last_end: AtomicU64::new(0) }
    }

    /// Since when nothing has been in flight; none while a request is.
    fn quiet_since(&self) -> Option<Instant> {
        // Acquire: a request that ended wrote `last_end` before it counted itself out.
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        Some(self.opened + Duration::from_nanos(self.last_end.load(Ordering::Relaxed)))
    }
}

/// Resolves once no request has been in flight for `limit`. It looks `limit` after the
/// last request it knows of ended, and `limit` later again while one is in flight, so
/// a connection that was busy when it looked closes up to `limit` late, never early.
async fn idle_for(activity: &Activity, limit: Duration) {
    let mut look_at = activity.opened + limit;
    loop {
        tokio::time::sleep_until(look_at).await;
        let now = Instant::now();
        look_at = match activity.quiet_since() {
            None => now + limit,
            Some(since) if since + limit <= now => return,
            Some(since) => since + limit,
        };
    }
}

/// Counts one request in flight for as long as it lives.
struct InFlight(Arc<Activity>);

impl InFlight {
    fn enter(activity: &Arc<Activity>) -> InFlight {
        activity.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(activity.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let activity = &self.0;
        let ended = u64::try_from(activity.opened.elapsed().as_nanos()).unwrap_or(u64::MAX);
        activity.last_end.fetch_max(ended, Ordering::Relaxed);
        activity.in_flight.fetch_sub(1, Ordering::Release);
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
        let activity = Arc::new(Activity::new());
        let started = Instant::now();
        let (long, short) = (InFlight::enter(&activity), InFlight::enter(&activity));
        let watching = activity.clone();
        let idle = tokio::spawn(async move {
            idle_for(&watching, Duration::from_secs(10)).await;
            Instant::now()
        });
        tokio::time::sleep(Duration::from_secs(25)).await;
        drop(long);
        tokio::time::sleep(Duration::from_secs(3)).await;
        // The last request to end counts, not the first.
        drop(short);
        let idle_at = idle.await.unwrap();
        assert_eq!(idle_at - started, Duration::from_secs(38));
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_without_requests_is_idle_after_the_limit() {
        let activity = Activity::new();
        let started = Instant::now();
        idle_for(&activity, Duration::from_secs(10)).await;
        assert_eq!(Instant::now() - started, Duration::from_secs(10));
    }
}
