//! Operations: liveness, readiness and metrics, on every port.
//!
//! `/health/live` answers while the process serves. `/health/ready` answers 200 only when
//! the database answers a query and every migration is applied, and 503 with a short
//! reason otherwise (also once the shutdown has begun, so load balancers move on).
//! `/health` is the original check, kept for the clients that use it.

use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::{metrics, AppState};

/// A readiness probe must answer quickly, even while the database hangs.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/health/live", get(|| async { "ok" }))
        .route("/health/ready", get(ready))
        .route("/metrics", get(scrape))
        .route_layer(axum::middleware::map_response(metrics::tag_ops))
}

async fn ready(State(state): State<AppState>) -> Response {
    let store = state.engine.store();
    let checked = tokio::time::timeout(READY_TIMEOUT, async {
        store.ping().await?;
        store.migrations_applied().await
    })
    .await;
    let reason = match checked {
        _ if state.shutdown.is_begun() => "shutting down".to_string(),
        Ok(Ok(true)) => return Json(json!({"status": "ready"})).into_response(),
        Ok(Ok(false)) => "database migrations are not all applied".to_string(),
        Ok(Err(e)) => {
            tracing::warn!("readiness: {e}");
            "database unavailable".to_string()
        }
        Err(_) => "database did not answer in time".to_string(),
    };
    (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"status": "not ready", "reason": reason}))).into_response()
}

async fn scrape(State(state): State<AppState>) -> Response {
    let text = state.metrics.render(&state.engine).await;
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], text).into_response()
}
