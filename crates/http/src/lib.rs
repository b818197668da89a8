//! The HTTP front ends of the platform, each a thin layer over the engine: decode the
//! wire format, call [`Engine`], encode the outcome.
//!
//! Each front end is a module with one `router()`: [`mss::rest`] and [`mss::soap`] (the
//! MSS API for APs), [`device`] (the phones' API) and [`ops`] (health and metrics). They
//! share one [`AppState`] and the extractors in [`extract`]. [`router`] assembles the
//! front ends each listener serves ([`Port`]), under the layers every request passes:
//! a request id, a tracing span and the request metrics. [`listener`] runs the accept
//! loops and the graceful shutdown; `server` (the binary) binds the ports and starts it.
//!
//! A new front end (OIDC, portal, signing, admin) is a module with its own `router()`
//! returning `Router<AppState>`, merged in [`router`] for the ports that serve it.

pub mod authenticator;
mod connection;
pub mod device;
pub mod extract;
pub mod identify;
pub mod limits;
pub mod listener;
pub mod mail;
pub mod metrics;
pub mod mss;
pub mod oidc;
pub mod ops;
pub mod pages;
pub mod pki;
pub mod portal;
pub mod review;
pub mod shutdown;
pub mod signing;
pub mod throttle;
pub mod tls;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::HeaderName;
use axum::Router;
use mobileid_core::clip::Clipped;
use mobileid_engine::Engine;
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::metrics::Metrics;
use crate::shutdown::Shutdown;
use crate::throttle::Throttles;

/// What the front ends need besides the engine; the binary fills it from its config.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `MSSP_Info/MSSP_ID/URI` in every MSS response.
    pub mssp_id_uri: String,
    /// The MSS port's base URL, for the WSDL when a client sent no host.
    pub public_url: String,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// E-mail: SMTP, or the log when none is configured.
    pub mailer: mail::Mailer,
    /// The operator's own terms of use for identity verification, by language code
    /// (paragraphs); empty for the built-in ones.
    pub identity_terms: std::collections::HashMap<String, Vec<String>>,
}

/// Shared by every handler of every front end. One `Arc`: the extractors and layers clone
/// it for every request, and cloning the fields one by one (the shutdown's cancellation
/// token takes a lock) was 3.6% of the server's CPU under a load of JWKS requests.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// What [`AppState`] holds.
pub struct Shared {
    pub engine: Engine,
    pub settings: Settings,
    pub shutdown: Shutdown,
    pub metrics: Metrics,
    pub throttles: Throttles,
    /// Wakes this node's e-mail and webhook workers (`signing::deliveries`).
    pub deliveries: tokio::sync::Notify,
}

impl AppState {
    pub fn new(engine: Engine, settings: Settings, shutdown: Shutdown) -> AppState {
        let metrics = Metrics::new(&engine);
        AppState(Arc::new(Shared {
            engine,
            settings,
            shutdown,
            metrics,
            throttles: Throttles::default(),
            deliveries: tokio::sync::Notify::default(),
        }))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The listeners, by what they serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Port {
    /// HTTPS asking for client certificates: the MSS API, the device API, operations.
    Mss,
    /// HTTPS that never asks for a client certificate, so browsers show no picker: the
    /// device API and operations (and the pages to come), never the MSS API.
    Browser,
    /// Plain HTTP for a sandbox: like [`Port::Mss`], with APs known by AP_ID alone.
    Sandbox,
}

/// The request id every response carries, and every log line of the request.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The front ends one port serves, under the layers every request passes.
pub fn router(state: AppState, port: Port) -> Router {
    let mut app = Router::new().merge(device::router()).merge(ops::router()).merge(pki::router());
    if port == Port::Browser {
        app = app
            .merge(oidc::router())
            .merge(pages::assets::router())
            .merge(authenticator::router())
            .merge(portal::router())
            .merge(signing::router())
            .merge(identify::router())
            .merge(review::router());
    } else {
        app = app.merge(mss::rest::router()).merge(mss::soap::router());
    }
    let layers = ServiceBuilder::new()
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(
            // One span per request; bodies are never logged. MSS faults are HTTP 500 by
            // contract, so a 5xx is not a failure worth an error line here.
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request| {
                    let id = request.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
                    tracing::info_span!("request", id, method = %request.method(), path = %Clipped(request.uri().path()))
                })
                .on_failure(()),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(axum::middleware::from_fn_with_state(state.clone(), metrics::observe));
    app.layer(DefaultBodyLimit::max(state.settings.max_body_bytes)).layer(layers).with_state(state)
}
