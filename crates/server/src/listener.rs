//! Accept loops: HTTPS (with the caller's client certificate attached to each request)
//! and the optional plain-HTTP sandbox listener.

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
use tower::ServiceExt;

/// Who is on the other end of the connection, as far as transport tells.
#[derive(Debug, Clone)]
pub enum Caller {
    /// HTTPS; the SHA-256 fingerprint (hex) of the client certificate, if one was sent.
    Tls(Option<String>),
    /// The plain-HTTP sandbox listener.
    Sandbox,
}

pub async fn serve_tls(listener: TcpListener, tls: Arc<rustls::ServerConfig>, app: Router) {
    let acceptor = TlsAcceptor::from(tls);
    loop {
        let (tcp, _) = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let app = app.clone();
        tokio::spawn(async move {
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
            serve_connection(TokioIo::new(stream), app, Caller::Tls(fingerprint)).await;
        });
    }
}

pub async fn serve_plain(listener: TcpListener, app: Router) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else { continue };
        let _ = tcp.set_nodelay(true);
        let app = app.clone();
        tokio::spawn(serve_connection(TokioIo::new(tcp), app, Caller::Sandbox));
    }
}

async fn serve_connection<I>(io: I, app: Router, caller: Caller)
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
    if let Err(e) = Builder::new(TokioExecutor::new()).serve_connection_with_upgrades(io, service).await {
        tracing::debug!("connection ended: {e}");
    }
}
