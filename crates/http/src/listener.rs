//! Accept loops: HTTPS (with the caller's client certificate attached to each request)
//! and the optional plain-HTTP sandbox listener, all stopping on [`Shutdown`].
//!
//! Each listener holds at most [`Limits::max_connections`] connections, and all of them
//! together at most [`Limits::all_connections`]: at either cap a listener stops accepting
//! until a connection closes, so new clients wait in the kernel's queue. When
//! accepting fails (out of file descriptors, say), the loop backs off, up to a second,
//! and logs one line per [`LOG_EVERY`] with the count of failures in between.
//!
//! Every connection is tracked: at shutdown the loops stop accepting, each connection is
//! told to finish its requests in flight and close, and [`serve`] returns when they are
//! all closed or at the shutdown's final instant, whichever is first.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::TokioIo;
use sha2::{Digest, Sha256};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tokio_util::task::TaskTracker;

use crate::connection;
use crate::limits::Limits;
use crate::shutdown::Shutdown;

/// How long a TLS handshake may take.
const HANDSHAKE: Duration = Duration::from_secs(10);
/// At most one "accept failed" line per this long.
const LOG_EVERY: Duration = Duration::from_secs(10);
const FIRST_BACKOFF: Duration = Duration::from_millis(10);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// Who is on the other end of the connection, as far as transport tells.
#[derive(Debug, Clone)]
pub enum Caller {
    /// HTTPS; the SHA-256 fingerprint (hex) of the client certificate, if one was sent.
    Tls(Option<String>),
    /// The plain-HTTP sandbox listener.
    Sandbox,
}

/// The address a request's connection came from, in every request's extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer(pub SocketAddr);

/// One bound listener and what it serves.
pub enum Listener {
    Tls { listener: TcpListener, tls: Arc<rustls::ServerConfig>, app: Router },
    Plain { listener: TcpListener, app: Router },
}

/// Serves every listener until `shutdown` begins, then drains their connections within
/// the shutdown's bound.
pub async fn serve(listeners: Vec<Listener>, limits: Limits, shutdown: Shutdown) {
    let connections = TaskTracker::new();
    let everyone = Arc::new(Semaphore::new(limits.all_connections));
    let loops: Vec<_> = listeners
        .into_iter()
        .map(|listener| {
            let (connections, shutdown) = (connections.clone(), shutdown.clone());
            let slots = Slots { own: Arc::new(Semaphore::new(limits.max_connections)), shared: everyone.clone() };
            tokio::spawn(async move { accept_loop(listener, limits, slots, &connections, &shutdown).await })
        })
        .collect();
    shutdown.begun().await;
    for accept_loop in loops {
        let _ = accept_loop.await;
    }
    connections.close();
    if tokio::time::timeout_at(shutdown.final_instant(), connections.wait()).await.is_err() {
        tracing::warn!("closing {} connections still open after the shutdown grace", connections.len());
    }
}

/// Room for one more connection: the listener's own cap and the budget all listeners share.
struct Slots {
    own: Arc<Semaphore>,
    shared: Arc<Semaphore>,
}

/// A connection's place under both caps, given back when it closes.
struct Slot {
    _own: OwnedSemaphorePermit,
    _shared: OwnedSemaphorePermit,
}

impl Slots {
    async fn take(&self) -> Slot {
        const NEVER_CLOSED: &str = "the connection semaphores are never closed";
        let own = self.own.clone().acquire_owned().await.expect(NEVER_CLOSED);
        let shared = self.shared.clone().acquire_owned().await.expect(NEVER_CLOSED);
        Slot { _own: own, _shared: shared }
    }
}

async fn accept_loop(listener: Listener, limits: Limits, slots: Slots, connections: &TaskTracker, shutdown: &Shutdown) {
    let (tcp_listener, tls, app) = match listener {
        Listener::Tls { listener, tls, app } => (listener, Some(TlsAcceptor::from(tls)), app),
        Listener::Plain { listener, app } => (listener, None, app),
    };
    let mut failures = AcceptFailures::default();
    loop {
        let accepted = tokio::select! {
            _ = shutdown.begun() => return,
            accepted = accept(&tcp_listener, &slots, &mut failures) => accepted,
        };
        let (tcp, peer, slot) = accepted;
        let _ = tcp.set_nodelay(true);
        let (tls, app, shutdown) = (tls.clone(), app.clone(), shutdown.clone());
        connections.spawn(async move {
            serve_tcp(tcp, Peer(peer), tls, app, limits, shutdown).await;
            drop(slot);
        });
    }
}

/// The next connection, once there is room for it.
async fn accept(listener: &TcpListener, slots: &Slots, failures: &mut AcceptFailures) -> (TcpStream, SocketAddr, Slot) {
    let slot = slots.take().await;
    loop {
        match listener.accept().await {
            Ok((tcp, peer)) => {
                failures.succeeded();
                return (tcp, peer, slot);
            }
            Err(e) => tokio::time::sleep(failures.failed(&e)).await,
        }
    }
}

async fn serve_tcp(
    tcp: TcpStream,
    peer: Peer,
    tls: Option<TlsAcceptor>,
    app: Router,
    limits: Limits,
    shutdown: Shutdown,
) {
    let Some(acceptor) = tls else {
        return connection::serve(TokioIo::new(tcp), app, Caller::Sandbox, peer, limits, shutdown).await;
    };
    let stream = match tokio::time::timeout(HANDSHAKE, acceptor.accept(tcp)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => {
            tracing::debug!("TLS handshake failed: {e}");
            return;
        }
        Err(_) => return,
    };
    let fingerprint = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .map(|cert| hex::encode(Sha256::digest(cert.as_ref())));
    connection::serve(TokioIo::new(stream), app, Caller::Tls(fingerprint), peer, limits, shutdown).await;
}

/// Consecutive accept failures: the back-off, and a log that cannot flood.
#[derive(Default)]
struct AcceptFailures {
    consecutive: u32,
    unlogged: u64,
    logged_at: Option<Instant>,
}

impl AcceptFailures {
    fn succeeded(&mut self) {
        self.consecutive = 0;
    }

    /// Logs (at most once per [`LOG_EVERY`]) and says how long to wait before trying again.
    fn failed(&mut self, error: &std::io::Error) -> Duration {
        self.consecutive = self.consecutive.saturating_add(1);
        self.unlogged += 1;
        let now = Instant::now();
        if self.logged_at.is_none_or(|at| now.duration_since(at) >= LOG_EVERY) {
            let also = self.unlogged - 1;
            tracing::warn!("accept failed: {error} ({also} more failures since the last report)");
            self.logged_at = Some(now);
            self.unlogged = 0;
        }
        FIRST_BACKOFF.saturating_mul(2u32.saturating_pow(self.consecutive - 1)).min(MAX_BACKOFF)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn failures_back_off_to_a_second() {
        let mut failures = AcceptFailures::default();
        let error = std::io::Error::other("Too many open files");
        let waits: Vec<_> = (0..10).map(|_| failures.failed(&error)).collect();
        assert_eq!(waits[0], Duration::from_millis(10));
        assert_eq!(waits[1], Duration::from_millis(20));
        assert_eq!(waits[9], MAX_BACKOFF);
        failures.succeeded();
        assert_eq!(failures.failed(&error), FIRST_BACKOFF);
    }
}
