//! The OpenID provider's front end, on the browser port: discovery and JWKS, the
//! authorization endpoint and the login pages ([`pages`]), and the back channel that
//! relying parties call with their credentials ([`backchannel`]: PAR, token, userinfo,
//! revocation, introspection).
//! Errors carry both the standard pair (`error`, `error_description`) and the guide's
//! (`errorCode`, `description`), with the same values.

mod backchannel;
mod pages;

use std::collections::HashMap;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use mobileid_engine::oidc::error::OidcError;
use mobileid_engine::oidc::paths;
use serde_json::json;

use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(paths::DISCOVERY, get(discovery))
        .route(paths::JWKS, get(jwks))
        .route(paths::AUTHORIZE, get(pages::authorize_get).post(pages::authorize_post))
        .route("/oidc/login/{id}", get(pages::login))
        .route("/oidc/login/{id}/number", post(pages::number))
        .route("/oidc/login/{id}/status", get(pages::status))
        .route("/oidc/login/{id}/consent", post(pages::consent))
        .route("/oidc/login/{id}/cancel", get(pages::cancel))
        .route(paths::PAR, post(backchannel::par))
        .route(paths::TOKEN, post(backchannel::token))
        .route(paths::USERINFO, get(backchannel::userinfo_get).post(backchannel::userinfo_post))
        .route(paths::REVOCATION, post(backchannel::revoke))
        .route(paths::INTROSPECTION, post(backchannel::introspect))
        .route(paths::END_SESSION, get(pages::end_session_get).post(pages::end_session_post))
        .route(paths::CIBA, post(backchannel::ciba))
}

async fn discovery(axum::extract::State(state): axum::extract::State<AppState>) -> Response {
    json_document(state.engine.oidc_discovery(), "public, max-age=300")
}

async fn jwks(axum::extract::State(state): axum::extract::State<AppState>) -> Response {
    match state.engine.oidc_jwks().await {
        Ok(jwks) => json_document(jwks, "public, max-age=60"),
        Err(e) => {
            tracing::error!("JWKS: {e}");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// A JSON document that was serialised once, with how long it may be cached.
fn json_document(document: axum::body::Bytes, cache_control: &'static str) -> Response {
    let headers = [
        (header::CONTENT_TYPE, HeaderValue::from_static("application/json")),
        (header::CACHE_CONTROL, HeaderValue::from_static(cache_control)),
    ];
    (headers, document).into_response()
}

/// An error as JSON, with both the standard and the guide's names, never cached.
fn error_json(status: StatusCode, error: &OidcError) -> Response {
    tracing::info!(code = error.description(), detail = error.detail, "OpenID request refused");
    let body = json!({
        "error": error.error.as_str(),
        "error_description": error.description(),
        "errorCode": error.error.as_str(),
        "description": error.description(),
    });
    let mut response = (status, Json(body)).into_response();
    no_store(&mut response);
    response
}

fn no_store(response: &mut Response) {
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response.headers_mut().insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

/// Form or query parameters, each at most once (RFC 6749 §3.1: repeated parameters are
/// an error), empty values treated as absent.
fn single_parameters(pairs: Vec<(String, String)>) -> Result<HashMap<String, String>, String> {
    let mut params = HashMap::new();
    for (name, value) in pairs {
        if params.contains_key(&name) {
            return Err(format!("the parameter {name} is repeated"));
        }
        if !value.is_empty() {
            params.insert(name, value);
        }
    }
    Ok(params)
}
