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

use crate::device::ApiError;
use crate::listener::Caller;
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
/// signature covers. Refusals are the device API's 401 answers.
pub struct AuthenticatedDevice {
    pub device: DeviceRecord,
    pub body: Bytes,
}

impl FromRequest<AppState> for AuthenticatedDevice {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let method = request.method().as_str().to_string();
        let path_and_query = request.uri().path_and_query().map(|pq| pq.as_str()).unwrap_or("/").to_string();
        let headers = request.headers().clone();
        let body = Bytes::from_request(request, state).await.map_err(IntoResponse::into_response)?;
        let proof = device_authorization(&headers).map_err(IntoResponse::into_response)?;
        let device = state
            .engine
            .authenticate_device(&proof, &method, &path_and_query, &body)
            .await
            .map_err(|e| ApiError::from(e).into_response())?;
        Ok(AuthenticatedDevice { device, body })
    }
}

/// The `Authorization: MobileID-Device …` proof of a device request.
pub fn device_authorization(headers: &axum::http::HeaderMap) -> Result<DeviceAuthorization, ApiError> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(DeviceAuthorization::parse_header)
        .ok_or_else(|| {
            ApiError::from(DeviceError::NotAuthenticated("missing or malformed MobileID-Device authorization".into()))
        })
}
