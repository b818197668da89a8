//! The device API (`/device/v1/...`) that phones use: activation, the inbox (a long poll
//! and an SSE stream), and answers. Documented in docs/device-api.md.

use std::collections::HashSet;
use std::convert::Infallible;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use futures_util::stream::{self, Stream};
use futures_util::StreamExt;
use http_body_util::LengthLimitError;
use mobileid_core::device_api::{
    ActivationRequest, ActivationResponse, ApproveRequest, EncryptionKey, ErrorResponse, InboxResponse,
    PinUnlockRequest, PinUnlockResponse, PrepareResponse, ReceiptNotice, SignRequest, ACTIVATE_PATH, INBOX_PATH,
    PIN_UNLOCK_PATH, STREAM_PATH,
};
use mobileid_core::SignContent;
use mobileid_crypto::PinProof;
use mobileid_engine::devices::{DeviceError, Inbox, NewPhone};
use mobileid_engine::TransactionError;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::extract::{device_authorization, AuthenticatedDevice, SourceAddress};
use crate::limits::is_body_timeout;
use crate::metrics;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(ACTIVATE_PATH, post(activate))
        .route(INBOX_PATH, get(inbox))
        .route(STREAM_PATH, get(stream))
        .route("/device/v1/transactions/{id}/{action}", post(answer))
        .route(PIN_UNLOCK_PATH, post(pin_unlock))
        .route_layer(axum::middleware::map_response(metrics::tag_device))
}

/// Longest a long poll is held open; phones poll again right away.
const MAX_WAIT: Duration = Duration::from_secs(60);

/// A device-API refusal, as `{"error", "message"}` JSON with its HTTP status.
pub enum ApiError {
    Device(DeviceError),
    /// The source used up its failure budget ([`crate::throttle`]): 429 with Retry-After.
    TooManyFailures {
        retry_after: Duration,
    },
    /// The body did not arrive within the body deadline: 408.
    BodyTimedOut,
    /// The body is larger than the limit: 413.
    BodyTooLarge,
}

impl From<DeviceError> for ApiError {
    fn from(e: DeviceError) -> Self {
        ApiError::Device(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let device = match self {
            ApiError::Device(e) => e,
            ApiError::TooManyFailures { retry_after } => {
                let seconds = retry_after.as_secs().max(1);
                let message = format!("too many failed attempts from here; try again in {seconds} s");
                let mut response = refusal(StatusCode::TOO_MANY_REQUESTS, "too_many_requests", message);
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
                return response;
            }
            ApiError::BodyTimedOut => {
                return refusal(
                    StatusCode::REQUEST_TIMEOUT,
                    "timeout",
                    "the request body did not arrive in time".into(),
                )
            }
            ApiError::BodyTooLarge => {
                return refusal(StatusCode::PAYLOAD_TOO_LARGE, "too_large", "the request body is too large".into())
            }
        };
        let (status, error) = match &device {
            DeviceError::Invalid(_)
            | DeviceError::Request(TransactionError::BadSignature | TransactionError::Invalid(_)) => {
                (StatusCode::BAD_REQUEST, "bad_request")
            }
            DeviceError::NotAuthenticated(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            DeviceError::CodeRefused { .. } | DeviceError::KeyBlocked => (StatusCode::FORBIDDEN, "forbidden"),
            DeviceError::Request(TransactionError::NoSuchRequest) => (StatusCode::NOT_FOUND, "not_found"),
            DeviceError::Request(TransactionError::NoLongerOpen | TransactionError::Expired) => {
                (StatusCode::CONFLICT, "conflict")
            }
            DeviceError::Internal | DeviceError::Request(TransactionError::Internal) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
        };
        refusal(status, error, device.to_string())
    }
}

fn refusal(status: StatusCode, error: &str, message: String) -> Response {
    (status, Json(ErrorResponse { error: error.into(), message })).into_response()
}

fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError::Device(DeviceError::Invalid(message.into()))
}

/// The whole body, within the size limit and the body deadline.
pub async fn read_body(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        if is_body_timeout(&e) {
            ApiError::BodyTimedOut
        } else if std::error::Error::source(&e).is_some_and(|s| s.is::<LengthLimitError>()) {
            ApiError::BodyTooLarge
        } else {
            bad_request(format!("the request body could not be read: {e}"))
        }
    })
}

fn decode_b64(field: &str, value: &str) -> Result<Vec<u8>, ApiError> {
    STANDARD.decode(value).map_err(|_| bad_request(format!("{field} is not valid base64")))
}

fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| bad_request(format!("invalid JSON body: {e}")))
}

/// Activation, under the failure budget for wrong codes of the caller's address.
async fn activate(
    State(state): State<AppState>,
    SourceAddress(source): SourceAddress,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let budget = &state.throttles.activation;
    if let Some(source) = &source {
        budget.check(source).map_err(|retry_after| ApiError::TooManyFailures { retry_after })?;
    }
    let body = read_body(body, state.settings.max_body_bytes).await?;
    let proof = device_authorization(&headers)?;
    let request: ActivationRequest = parse_body(&body)?;
    let csr = decode_b64("csr", &request.csr)?;
    let device_key = decode_b64("device_key", &request.device_key)?;
    let pin_proof = decode_pin_proof(&request.pin_proof)?;
    let phone = NewPhone { code: &request.code, csr_der: &csr, device_key_spki: &device_key, pin_proof: &pin_proof };
    let activation = match state.engine.activate(&phone, &proof, ACTIVATE_PATH, &body).await {
        Ok(activation) => activation,
        Err(e) => {
            if let (DeviceError::CodeRefused { .. }, Some(source)) = (&e, &source) {
                budget.failed(source);
            }
            return Err(e.into());
        }
    };
    crate::portal::notify::activated(&state, &activation).await;
    Ok(Json(ActivationResponse {
        device_id: activation.device_id,
        msisdn: activation.msisdn,
        serial_number: activation.serial_number,
        certificate: STANDARD.encode(&activation.certificate),
        signing_certificate: activation.signing_certificate.as_ref().map(|der| STANDARD.encode(der)),
        encryption_keys: activation
            .encryption_keys
            .iter()
            .map(|key| EncryptionKey {
                certificate: STANDARD.encode(&key.certificate),
                private_key: STANDARD.encode(&key.pkcs8),
            })
            .collect(),
        chain: activation.chain.iter().map(|c| STANDARD.encode(c)).collect(),
        pin_share: STANDARD.encode(activation.pin_share.0),
    })
    .into_response())
}

#[derive(Deserialize)]
struct InboxQuery {
    wait: Option<u64>,
}

/// The long poll. At shutdown it ends at once with what the inbox holds then.
async fn inbox(
    State(state): State<AppState>,
    Query(query): Query<InboxQuery>,
    AuthenticatedDevice { device, .. }: AuthenticatedDevice,
) -> Result<Json<InboxResponse>, ApiError> {
    let wait = Duration::from_secs(query.wait.unwrap_or(0)).min(MAX_WAIT);
    let waited = {
        let _connected = state.metrics.phone_connected();
        tokio::select! {
            inbox = state.engine.inbox(&device, wait) => Some(inbox?),
            _ = state.shutdown.begun() => None,
        }
    };
    let inbox = match waited {
        Some(inbox) => inbox,
        None => state.engine.inbox(&device, Duration::ZERO).await?,
    };
    Ok(Json(wire_inbox(inbox)))
}

/// Server-sent events: each new request or receipt once, as soon as it arrives. The
/// stream ends when the shutdown begins; the phone reconnects elsewhere or later.
async fn stream(
    State(state): State<AppState>,
    AuthenticatedDevice { device, .. }: AuthenticatedDevice,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let end = state.shutdown.begun_owned();
    // Counted as connected for as long as the stream lives.
    let connected = state.metrics.phone_connected();
    let start = (state, device, HashSet::<String>::new(), Vec::<Event>::new(), connected);
    let events = stream::unfold(start, |(state, device, mut sent, mut queue, connected)| async move {
        loop {
            if let Some(event) = queue.pop() {
                return Some((Ok(event), (state, device, sent, queue, connected)));
            }
            let inbox = match state.engine.inbox_news(&device, &sent, MAX_WAIT).await {
                Ok(inbox) => inbox,
                Err(_) => return None,
            };
            let wire = wire_inbox(inbox);
            // Forget answered requests so the set stays as small as the inbox.
            let open: HashSet<String> = wire.requests.iter().map(|r| r.transaction_id.clone()).collect();
            sent.retain(|id| open.contains(id));
            for request in wire.requests.into_iter().rev() {
                if sent.insert(request.transaction_id.clone()) {
                    queue.push(json_event("request", &request));
                }
            }
            for receipt in wire.receipts {
                queue.insert(0, json_event("receipt", &receipt));
            }
        }
    });
    Sse::new(events.take_until(end)).keep_alive(KeepAlive::default())
}

fn json_event<T: serde::Serialize>(name: &str, value: &T) -> Event {
    Event::default().event(name).data(serde_json::to_string(value).unwrap_or_default())
}

/// `POST /device/v1/transactions/{id}/{approve|decline}`: the phone's answer.
async fn answer(
    State(state): State<AppState>,
    Path((transaction_id, action)): Path<(String, String)>,
    AuthenticatedDevice { device, body }: AuthenticatedDevice,
) -> Result<Response, ApiError> {
    match action.as_str() {
        "prepare" => {
            let to_be_signed = state.engine.prepare_signature(&device, &transaction_id).await?;
            return Ok(Json(PrepareResponse { to_be_signed: STANDARD.encode(to_be_signed) }).into_response());
        }
        "approve" => {
            let request: ApproveRequest = parse_body(&body)?;
            let signature = decode_b64("signature", &request.signature)?;
            state
                .engine
                .approve(&device, &transaction_id, &signature, request.choice.as_deref(), request.location.as_ref())
                .await?;
        }
        "decline" => state.engine.decline(&device, &transaction_id).await?,
        // Not an answer a device can give: as unknown as a request it does not have.
        _ => return Err(ApiError::Device(DeviceError::Request(TransactionError::NoSuchRequest))),
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---- PIN unlock (docs/device-api.md, "PIN: enforced by the server") ----

fn decode_pin_proof(value: &str) -> Result<PinProof, ApiError> {
    let bytes = decode_b64("pin_proof", value)?;
    let bytes: [u8; 32] = bytes.try_into().map_err(|_| bad_request("pin_proof must be 32 bytes"))?;
    Ok(PinProof(bytes))
}

/// `POST /device/v1/pin/unlock`: the share for the right PIN; a wrong one is counted
/// before the answer, and the one that reaches the limit blocks the key (403).
async fn pin_unlock(
    State(state): State<AppState>,
    AuthenticatedDevice { device, body }: AuthenticatedDevice,
) -> Result<Json<PinUnlockResponse>, ApiError> {
    let request: PinUnlockRequest = parse_body(&body)?;
    let pin_proof = decode_pin_proof(&request.pin_proof)?;
    let unlock = state.engine.unlock_pin(&device, &pin_proof).await?;
    Ok(Json(PinUnlockResponse {
        share: unlock.share.map(|share| STANDARD.encode(share.0)),
        attempts_left: unlock.attempts_left,
    }))
}

fn wire_inbox(inbox: Inbox) -> InboxResponse {
    InboxResponse {
        requests: inbox
            .requests
            .into_iter()
            .map(|r| {
                let (mime_type, data) = r.content.to_device();
                let (document_name, digest) = match &r.content {
                    SignContent::Document { name, sha256 } => (Some(name.clone()), Some(STANDARD.encode(sha256))),
                    _ => (None, None),
                };
                let (document_length, signing_certificate) = match &r.document {
                    Some((length, certificate)) => (Some(*length), Some(STANDARD.encode(certificate))),
                    None => (None, None),
                };
                SignRequest {
                    transaction_id: r.transaction_id,
                    kind: Some(r.content.kind()),
                    mime_type,
                    data,
                    document_name,
                    digest,
                    document_length,
                    signing_certificate,
                    language: r.language,
                    nonce: STANDARD.encode(&r.nonce),
                    to_be_signed: STANDARD.encode(&r.to_be_signed),
                    expires_at: r.expires_at.as_millis(),
                    choices: r.choices,
                    requester: Some(r.requester),
                }
            })
            .collect(),
        receipts: inbox
            .receipts
            .into_iter()
            .map(|r| ReceiptNotice { transaction_id: r.mssp_trans_id, message: r.message })
            .collect(),
    }
}
