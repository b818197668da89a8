//! Accept loops: HTTPS (with the caller's client certificate attached to each request)
//! and the optional plain-HTTP sandbox listener, all stopping on [`Shutdown`].
//!
//! Every connection is tracked: at shutdown the loops stop accepting, each connection is
//! told to finish its requests in flight and close, and [`serve`] returns when they are
//! all closed or at the shutdown's final instant, whichever is first.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use crate::shutdown::Shutdown;

/// Who is on the other end of the connection, as far as transport tells.
#[derive(Debug, Clone)]
pub enum Caller {
    /// HTTPS; the SHA-256 fingerprint (hex) of the client certificate, if one was sent.
    Tls(Option<String>),
    /// The plain-HTTP sandbox listener.
    Sandbox,
}

/// One bound listener and what it serves.
pub enum Listener {
    Tls { listener: TcpListener, tls: Arc<rustls::ServerConfig>, app: Router },
    Plain { listener: TcpListener, app: Router },
}

/// Serves every listener until `shutdown` begins, then drains their connections within
/// the shutdown's bound.
pub async fn serve(listeners: Vec<Listener>, shutdown: Shutdown) {
    let connections = TaskTracker::new();
    let loops: Vec<_> = listeners
        .into_iter()
        .map(|listener| {
            let (connections, shutdown) = (connections.clone(), shutdown.clone());
            tokio::spawn(async move {
                match listener {
                    Listener::Tls { listener, tls, app } => {
                        serve_tls(listener, tls, app, &connections, &shutdown).await
                    }
                    Listener::Plain { listener, app } => serve_plain(listener, app, &connections, &shutdown).await,
                }
            })
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

async fn serve_tls(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: Router,
    connections: &TaskTracker,
    shutdown: &Shutdown,
) {
    let acceptor = TlsAcceptor::from(tls);
    loop {
        let tcp = tokio::select! {
            _ = shutdown.begun() => return,
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let (acceptor, app, shutdown) = (acceptor.clone(), app.clone(), shutdown.clone());
        connections.spawn(async move {
            let stream = match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
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
            serve_connection(TokioIo::new(stream), app, Caller::Tls(fingerprint), shutdown).await;
        });
    }
}

async fn serve_plain(listener: TcpListener, app: Router, connections: &TaskTracker, shutdown: &Shutdown) {
    loop {
        let tcp = tokio::select! {
            _ = shutdown.begun() => return,
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(_) => continue,
            },
        };
        let _ = tcp.set_nodelay(true);
        connections.spawn(serve_connection(TokioIo::new(tcp), app.clone(), Caller::Sandbox, shutdown.clone()));
    }
}

async fn serve_connection<I>(io: I, app: Router, caller: Caller, shutdown: Shutdown)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(caller.clone());
        let app = app.clone();
        async move {
            Ok::<_, Infallible>(app.oneshot(request.map(axum::body::Body::new)).await.unwrap_or_else(|e| match e {}))
        }
    });
    let builder = Builder::new(TokioExecutor::new());
    let connection = builder.serve_connection_with_upgrades(io, service);
    tokio::pin!(connection);
    let ended = tokio::select! {
        ended = connection.as_mut() => ended,
        _ = shutdown.begun() => {
            // Finishes the requests in flight, then closes (HTTP/2: GOAWAY).
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(e) = ended {
        tracing::debug!("connection ended: {e}");
    }
}
