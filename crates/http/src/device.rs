//! The device API (`/device/v1/...`) that phones use: activation, the inbox (a long poll
//! and an SSE stream), and answers. Documented in docs/device-api.md.

use std::collections::HashSet;
use std::convert::Infallible;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use futures_util::stream::{self, Stream};
use futures_util::StreamExt;
use mobileid_core::device_api::{
    ActivationRequest, ActivationResponse, ApproveRequest, ErrorResponse, InboxResponse, PinUnlockRequest,
    PinUnlockResponse, ReceiptNotice, SignRequest, ACTIVATE_PATH, INBOX_PATH, PIN_UNLOCK_PATH, STREAM_PATH,
};
use mobileid_core::SignContent;
use mobileid_crypto::PinProof;
use mobileid_engine::devices::{DeviceError, Inbox, NewPhone};
use mobileid_engine::TransactionError;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::extract::{device_authorization, AuthenticatedDevice};
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

pub struct ApiError(DeviceError);

impl From<DeviceError> for ApiError {
    fn from(e: DeviceError) -> Self {
        ApiError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, error) = match &self.0 {
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
        (status, Json(ErrorResponse { error: error.into(), message: self.0.to_string() })).into_response()
    }
}

fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError(DeviceError::Invalid(message.into()))
}

fn decode_b64(field: &str, value: &str) -> Result<Vec<u8>, ApiError> {
    STANDARD.decode(value).map_err(|_| bad_request(format!("{field} is not valid base64")))
}

fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| bad_request(format!("invalid JSON body: {e}")))
}

async fn activate(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    let proof = device_authorization(&headers)?;
    let request: ActivationRequest = parse_body(&body)?;
    let csr = decode_b64("csr", &request.csr)?;
    let device_key = decode_b64("device_key", &request.device_key)?;
    let pin_proof = decode_pin_proof(&request.pin_proof)?;
    let phone = NewPhone { code: &request.code, csr_der: &csr, device_key_spki: &device_key, pin_proof: &pin_proof };
    let activation = state.engine.activate(&phone, &proof, ACTIVATE_PATH, &body).await?;
    Ok(Json(ActivationResponse {
        device_id: activation.device_id,
        msisdn: activation.msisdn,
        serial_number: activation.serial_number,
        certificate: STANDARD.encode(&activation.certificate),
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
) -> Result<StatusCode, ApiError> {
    match action.as_str() {
        "approve" => {
            let request: ApproveRequest = parse_body(&body)?;
            let signature = decode_b64("signature", &request.signature)?;
            state.engine.approve(&device, &transaction_id, &signature).await?;
        }
        "decline" => state.engine.decline(&device, &transaction_id).await?,
        // Not an answer a device can give: as unknown as a request it does not have.
        _ => return Err(ApiError(DeviceError::Request(TransactionError::NoSuchRequest))),
    }
    Ok(StatusCode::NO_CONTENT)
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
                SignRequest {
                    transaction_id: r.transaction_id,
                    kind: Some(r.content.kind()),
                    mime_type,
                    data,
                    document_name,
                    digest,
                    language: r.language,
                    nonce: STANDARD.encode(&r.nonce),
                    to_be_signed: STANDARD.encode(&r.to_be_signed),
                    expires_at: r.expires_at.as_millis(),
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
