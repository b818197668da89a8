//! The HTTP surface: which path goes to which front end.

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use mobileid_core::device_api::{ACTIVATE_PATH, INBOX_PATH, PIN_UNLOCK_PATH, STREAM_PATH};
use mobileid_engine::Engine;

use crate::config::Config;
use crate::{device_api, mss};

#[derive(Clone)]
pub struct AppState {
    pub engine: Engine,
    pub config: Arc<Config>,
}

/// The MSS REST paths clients use: the legacy single endpoint and the per-operation ones,
/// each with and without a trailing slash. All dispatch on the body.
const REST_PATHS: [&str; 10] = [
    "/rest/service",
    "/rest/service/",
    "/rest/service/sign",
    "/rest/service/sign/",
    "/rest/service/status",
    "/rest/service/status/",
    "/rest/service/receipt",
    "/rest/service/receipt/",
    "/rest/service/profile",
    "/rest/service/profile/",
];

pub fn router(state: AppState) -> Router {
    let mut router = Router::new();
    for path in REST_PATHS {
        router = router.route(path, post(mss::rest::service));
    }
    for path in mss::soap::PATHS {
        let endpoint = post(mss::soap::service).get(mss::soap::wsdl);
        router = router.route(path, endpoint.clone()).route(&format!("{path}/"), endpoint);
    }
    router
        .route(ACTIVATE_PATH, post(device_api::activate))
        .route(INBOX_PATH, get(device_api::inbox))
        .route(STREAM_PATH, get(device_api::stream))
        .route("/device/v1/transactions/{id}/{action}", post(device_api::answer))
        .route(PIN_UNLOCK_PATH, post(device_api::pin_unlock))
        .route("/health", get(|| async { "ok" }))
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
        .with_state(state)
}
