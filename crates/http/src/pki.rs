//! Certificate status for verifiers, on every port: the OCSP responder (RFC 6960, POST
//! and the GET form of its appendix A), each CA's CRL and each CA's certificate, at the
//! URLs our certificates name (`engine::certificate_status`).

use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use base64::Engine as _;
use mobileid_engine::certificate_status::{
    Authority, ISSUING_CERTIFICATE_PATH, ISSUING_CRL_PATH, OCSP_PATH, ROOT_CERTIFICATE_PATH, ROOT_CRL_PATH,
};

use crate::{metrics, AppState};

/// An OCSP request for our sixteen certificates at most fits in this easily.
const MAX_OCSP_REQUEST_BYTES: usize = 8 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(OCSP_PATH, axum::routing::post(ocsp_post))
        .route(&format!("{OCSP_PATH}/{{*request}}"), get(ocsp_get))
        .route(ROOT_CRL_PATH, get(|state| crl(state, Authority::Root)))
        .route(ISSUING_CRL_PATH, get(|state| crl(state, Authority::Issuing)))
        .route(ROOT_CERTIFICATE_PATH, get(|state| certificate(state, Authority::Root)))
        .route(ISSUING_CERTIFICATE_PATH, get(|state| certificate(state, Authority::Issuing)))
        .layer(DefaultBodyLimit::max(MAX_OCSP_REQUEST_BYTES))
        .route_layer(axum::middleware::map_response(metrics::tag_pki))
}

async fn ocsp_post(State(state): State<AppState>, body: axum::body::Bytes) -> Response {
    ocsp_response(state.engine.ocsp(&body).await)
}

/// `GET /pki/ocsp/{url-encoded base64 of the DER request}`.
async fn ocsp_get(State(state): State<AppState>, Path(request): Path<String>) -> Response {
    let Ok(der) = base64::engine::general_purpose::STANDARD.decode(request.trim_start_matches('/')) else {
        return ocsp_response(mobileid_crypto::OcspRefusal::Malformed.to_der());
    };
    ocsp_response(state.engine.ocsp(&der).await)
}

/// Answers are made fresh for every request, so that a revocation shows at once.
fn ocsp_response(der: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "application/ocsp-response"), (header::CACHE_CONTROL, "no-cache")], der).into_response()
}

async fn crl(State(state): State<AppState>, authority: Authority) -> Response {
    match state.engine.revocation_list(authority).await {
        Ok(der) => {
            ([(header::CONTENT_TYPE, "application/pkix-crl"), (header::CACHE_CONTROL, "no-cache")], der).into_response()
        }
        Err(e) => {
            tracing::error!("CRL: {e}");
            (StatusCode::SERVICE_UNAVAILABLE, "the CRL cannot be made now").into_response()
        }
    }
}

async fn certificate(State(state): State<AppState>, authority: Authority) -> Response {
    let der = state.engine.ca_certificate(authority).to_vec();
    ([(header::CONTENT_TYPE, "application/pkix-cert")], der).into_response()
}
