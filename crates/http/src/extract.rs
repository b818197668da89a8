//! Extractors shared by the front ends: who is calling, established once per request
//! instead of in every handler.

use std::convert::Infallible;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use mobileid_core::Fault;
use mobileid_crypto::device_auth::DeviceAuthorization;
use mobileid_engine::{ClientIdentity, DeviceError};
use mobileid_store::DeviceRecord;

use crate::device::{read_body, ApiError};
use crate::listener::{Caller, Peer};
use crate::throttle::Source;
use crate::AppState;

/// The AP's transport identity: its TLS client certificate, or the sandbox's trust in AP_ID.
///
/// Extracting never fails: a missing certificate is the MSS fault 106, which the front
/// end answers in its own wire format, and only after it has read the body (so a client
/// still uploading gets the fault, not a broken pipe).
pub struct MssCaller(Option<Caller>);

impl MssCaller {
    pub fn identity(&self) -> Result<ClientIdentity, Fault> {
        match &self.0 {
            Some(Caller::Tls(Some(fingerprint))) => Ok(ClientIdentity::Certificate(fingerprint.clone())),
            Some(Caller::Sandbox) => Ok(ClientIdentity::Sandbox),
            Some(Caller::Tls(None)) | None => {
                tracing::info!("refused MSS request without a TLS client certificate");
                Err(Fault::wrong_ssl_credentials())
            }
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for MssCaller {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(MssCaller(parts.extensions.get::<Caller>().cloned()))
    }
}

/// A device-API request signed by an active phone: the device, and the body its
/// signature covers. Refusals are the device API's 401 answers; an address that has had
/// too many of them gets 429 until its window ends.
pub struct AuthenticatedDevice {
    pub device: DeviceRecord,
    pub body: Bytes,
}

impl FromRequest<AppState> for AuthenticatedDevice {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let address = request.extensions().get::<Peer>().map(|peer| Source::address(peer.0.ip()));
        let budget = &state.throttles.device_auth;
        if let Some(source) = &address {
            budget.check(source).map_err(|retry_after| ApiError::TooManyFailures { retry_after }.into_response())?;
        }
        let (parts, body) = request.into_parts();
        let body = read_body(body, state.settings.max_body_bytes).await.map_err(IntoResponse::into_response)?;
        let path_and_query = parts.uri.path_and_query().map(|pq| pq.as_str()).unwrap_or("/");
        let authenticated = match device_authorization(&parts.headers) {
            Ok(proof) => state.engine.authenticate_device(&proof, parts.method.as_str(), path_and_query, &body).await,
            Err(refused) => Err(refused),
        };
        match authenticated {
            Ok(device) => Ok(AuthenticatedDevice { device, body }),
            Err(e) => {
                if let (DeviceError::NotAuthenticated(_), Some(source)) = (&e, &address) {
                    budget.failed(source);
                }
                Err(ApiError::from(e).into_response())
            }
        }
    }
}

/// The caller's address as a failure-budget source; `None` where no connection told it.
pub struct SourceAddress(pub Option<Source>);

impl<S: Send + Sync> FromRequestParts<S> for SourceAddress {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(SourceAddress(parts.extensions.get::<Peer>().map(|peer| Source::address(peer.0.ip()))))
    }
}

/// The `Authorization: MobileID-Device …` proof of a device request.
pub fn device_authorization(headers: &axum::http::HeaderMap) -> Result<DeviceAuthorization, DeviceError> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(DeviceAuthorization::parse_header)
        .ok_or_else(|| DeviceError::NotAuthenticated("missing or malformed MobileID-Device authorization".into()))
}
