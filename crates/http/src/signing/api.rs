//! The senders' REST API (`/api/v1/envelopes`), JSON in and out, errors as
//! `application/problem+json` (RFC 9457) with the envelope's reference where there is
//! one. A sender authenticates with `Authorization: Bearer <API key>`; another sender's
//! envelope is as unknown as a missing one.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use mobileid_engine::oidc::ClientCredentials;
use mobileid_engine::signing::envelopes::{
    EnvelopeError, EnvelopeView, NewEnvelope, NewSigner, StampSpot, DEFAULT_EXPIRY, MAX_DOCUMENTS,
};
use mobileid_store::SenderRecord;
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::AppState;

/// The largest request: the documents travel base64-encoded inside the JSON.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024 * 1024;
/// The largest document.
pub const MAX_DOCUMENT_BYTES: usize = 25 * 1024 * 1024;

const OPENAPI: &str = include_str!("../../openapi/signing.yaml");

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/docs", get(docs))
        .route("/api/v1/envelopes", post(create))
        .route("/api/v1/envelopes/{id}", get(show))
        .route("/api/v1/envelopes/{id}/send", post(send))
        .route("/api/v1/envelopes/{id}/void", post(void))
        .route("/api/v1/envelopes/{id}/documents/{index}", get(document))
        .route("/api/v1/envelopes/{id}/evidence", get(evidence))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_REQUEST_BYTES))
}

async fn docs() -> Response {
    ([(header::CONTENT_TYPE, "application/yaml; charset=utf-8")], OPENAPI).into_response()
}

/// An error as problem+json.
pub struct Problem {
    status: StatusCode,
    title: &'static str,
    detail: String,
    reference: Option<String>,
}

impl Problem {
    fn new(status: StatusCode, title: &'static str, detail: impl Into<String>) -> Problem {
        Problem { status, title, detail: detail.into(), reference: None }
    }

    fn about(mut self, reference: &str) -> Problem {
        self.reference = Some(reference.to_string());
        self
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut body = json!({ "type": "about:blank", "title": self.title, "status": self.status.as_u16(), "detail": self.detail });
        if let Some(reference) = self.reference {
            body["reference"] = Value::String(reference);
        }
        (self.status, [(header::CONTENT_TYPE, "application/problem+json")], body.to_string()).into_response()
    }
}

impl From<EnvelopeError> for Problem {
    fn from(e: EnvelopeError) -> Problem {
        let detail = e.to_string();
        match e {
            EnvelopeError::Invalid(_) | EnvelopeError::Document { .. } => {
                Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "Invalid envelope", detail)
            }
            EnvelopeError::NotFound => Problem::new(StatusCode::NOT_FOUND, "Not found", detail),
            EnvelopeError::State(_) => Problem::new(StatusCode::CONFLICT, "Not in this state", detail),
            EnvelopeError::Link | EnvelopeError::Signer(_) => {
                Problem::new(StatusCode::BAD_REQUEST, "Bad request", detail)
            }
            EnvelopeError::Internal => Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal error", detail),
        }
    }
}

/// The sender, from `Authorization: Bearer <API key>`, or `Basic` with the credentials
/// of the OpenID client the sender is registered as.
async fn sender(state: &AppState, headers: &HeaderMap) -> Result<SenderRecord, Problem> {
    let unauthorized = || {
        Problem::new(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "send your API key as a bearer token, or your OpenID client's credentials (Basic)",
        )
    };
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).filter(|v| v.len() <= 2048);
    let authorization = authorization.ok_or_else(unauthorized)?;
    let found = if let Some(key) = authorization.strip_prefix("Bearer ") {
        state.engine.sender_by_api_key(key.trim()).await?
    } else if let Some(encoded) = authorization.strip_prefix("Basic ") {
        let decoded = STANDARD.decode(encoded.trim()).ok().and_then(|d| String::from_utf8(d).ok());
        let (id, secret) = decoded.as_deref().and_then(|d| d.split_once(':')).ok_or_else(unauthorized)?;
        // RFC 6749 §2.3.1: both parts form-urlencoded.
        let decode =
            |part: &str| form_urlencoded::parse(format!("x={part}").as_bytes()).next().map(|(_, v)| v.into_owned());
        let credentials = ClientCredentials::Basic {
            client_id: decode(id).unwrap_or_default(),
            secret: decode(secret).unwrap_or_default(),
        };
        state.engine.sender_by_oidc_client(&credentials).await?
    } else {
        None
    };
    found.ok_or_else(unauthorized)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateRequest {
    title: String,
    #[serde(default)]
    message: String,
    documents: Vec<DocumentInput>,
    levels: Vec<Vec<SignerInput>>,
    expires_in_days: Option<u32>,
    /// Send at once (else a draft, sent with `/send`).
    #[serde(default)]
    send: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DocumentInput {
    name: String,
    /// The PDF, base64.
    content: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignerInput {
    name: String,
    email: String,
    msisdn: Option<String>,
    language: Option<String>,
    stamp: Option<StampSpot>,
}

async fn create(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Result<Response, Problem> {
    let sender = sender(&state, &headers).await?;
    let request: CreateRequest = serde_json::from_slice(&body).map_err(|e| {
        Problem::new(StatusCode::BAD_REQUEST, "Malformed request", format!("the JSON is not an envelope: {e}"))
    })?;
    if request.documents.len() > MAX_DOCUMENTS {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid envelope",
            format!("at most {MAX_DOCUMENTS} documents"),
        ));
    }
    let mut documents = Vec::new();
    for d in request.documents {
        let content = STANDARD.decode(d.content.trim()).map_err(|_| {
            Problem::new(
                StatusCode::BAD_REQUEST,
                "Malformed request",
                format!("the content of {:?} is not base64", d.name),
            )
        })?;
        if content.len() > MAX_DOCUMENT_BYTES {
            return Err(Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Document too large",
                format!(
                    "{:?} has {} bytes; a document may have at most {} MiB",
                    d.name,
                    content.len(),
                    MAX_DOCUMENT_BYTES >> 20
                ),
            ));
        }
        documents.push((d.name, content));
    }
    let levels = request
        .levels
        .into_iter()
        .map(|level| {
            level
                .into_iter()
                .map(|s| NewSigner {
                    name: s.name,
                    email: s.email,
                    msisdn: s.msisdn,
                    language: language(s.language.as_deref()),
                    stamp: s.stamp,
                })
                .collect()
        })
        .collect();
    let expires_in = request
        .expires_in_days
        .map_or(DEFAULT_EXPIRY, |days| std::time::Duration::from_secs(u64::from(days) * 24 * 3600));
    let new = NewEnvelope { title: request.title, message: request.message, documents, levels, expires_in };
    let mut view = state.engine.create_envelope(&sender, new).await?;
    if request.send {
        view = state.engine.send_envelope(&sender, &view.envelope.envelope_id).await?;
    }
    crate::signing::deliveries::wake(&state);
    Ok((StatusCode::CREATED, Json(envelope_json(&view))).into_response())
}

/// One of our four languages, English otherwise.
fn language(asked: Option<&str>) -> String {
    match asked.map(|l| l.trim().to_ascii_lowercase()) {
        Some(l) if ["de", "fr", "it", "en"].contains(&l.as_str()) => l,
        _ => "en".to_string(),
    }
}

async fn show(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Result<Response, Problem> {
    let sender = sender(&state, &headers).await?;
    let view = state.engine.envelope_for_sender(&sender, &id).await.map_err(|e| Problem::from(e).about(&id))?;
    Ok(Json(envelope_json(&view)).into_response())
}

async fn send(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Result<Response, Problem> {
    let sender = sender(&state, &headers).await?;
    let view = state.engine.send_envelope(&sender, &id).await.map_err(|e| Problem::from(e).about(&id))?;
    crate::signing::deliveries::wake(&state);
    Ok(Json(envelope_json(&view)).into_response())
}

#[derive(Deserialize, Default)]
struct VoidRequest {
    #[serde(default)]
    reason: String,
}

async fn void(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, Problem> {
    let sender = sender(&state, &headers).await?;
    let request: VoidRequest = if body.is_empty() {
        VoidRequest::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| Problem::new(StatusCode::BAD_REQUEST, "Malformed request", e.to_string()))?
    };
    let view =
        state.engine.void_envelope(&sender, &id, &request.reason).await.map_err(|e| Problem::from(e).about(&id))?;
    crate::signing::deliveries::wake(&state);
    Ok(Json(envelope_json(&view)).into_response())
}

async fn document(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((id, index)): Path<(String, usize)>,
) -> Result<Response, Problem> {
    let sender = sender(&state, &headers).await?;
    state.engine.envelope_for_sender(&sender, &id).await.map_err(|e| Problem::from(e).about(&id))?;
    let (record, content) =
        state.engine.envelope_document(&id, index).await.map_err(|e| Problem::from(e).about(&id))?;
    Ok(pdf_response(&record.name, content))
}

/// A PDF as a download.
pub fn pdf_response(name: &str, content: Vec<u8>) -> Response {
    let ascii: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || ".-_ ".contains(c) { c } else { '_' }).collect();
    (
        [
            (header::CONTENT_TYPE, "application/pdf".to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{ascii}\"")),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        content,
    )
        .into_response()
}

/// The evidence report: the envelope's facts, each document's digests before and
/// after, the signers and the audit trail.
async fn evidence(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let sender = sender(&state, &headers).await?;
    let view = state.engine.envelope_for_sender(&sender, &id).await.map_err(|e| Problem::from(e).about(&id))?;
    let mut documents = Vec::new();
    for (index, d) in view.documents.iter().enumerate() {
        let (_, content) = state.engine.envelope_document(&id, index).await.map_err(|e| Problem::from(e).about(&id))?;
        documents.push(json!({
            "index": index,
            "name": d.name,
            "original_sha256": hex::encode(&d.original_sha256),
            "original_size": d.original_size,
            "signed_sha256": hex::encode(Sha256::digest(&content)),
            "signed_size": content.len(),
            "signatures": mobileid_pdf::inspect(&content).map(|i| i.signatures).unwrap_or(0),
        }));
    }
    let mut report = envelope_json(&view);
    report["documents"] = Value::Array(documents);
    report["generated_at"] = Value::String(time(state.engine.now()));
    Ok(Json(report).into_response())
}

fn time(t: mobileid_core::Timestamp) -> String {
    t.to_datetime().map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)).unwrap_or_default()
}

fn envelope_json(view: &EnvelopeView) -> Value {
    let e = &view.envelope;
    json!({
        "id": e.envelope_id,
        "title": e.title,
        "message": e.message,
        "state": e.state.as_db(),
        "level": e.level,
        "created_at": time(e.created_at),
        "expires_at": time(e.expires_at),
        "documents": view.documents.iter().enumerate().map(|(index, d)| json!({
            "index": index,
            "name": d.name,
            "pages": d.pages,
            "size": d.original_size,
            "sha256": hex::encode(&d.original_sha256),
        })).collect::<Vec<_>>(),
        "signers": view.signers.iter().map(|s| json!({
            "id": s.signer_id,
            "level": s.level,
            "name": s.name,
            "email": s.email,
            "state": s.state.as_db(),
            "signed_at": s.signed_at.map(time),
            "decline_reason": s.decline_reason,
        })).collect::<Vec<_>>(),
        "audit_trail": view.events.iter().map(|ev| json!({
            "at": time(ev.at),
            "event": ev.event.as_db(),
            "signer_id": ev.signer_id,
            "detail": ev.detail,
        })).collect::<Vec<_>>(),
        "webhooks": view.webhooks.iter().map(|w| json!({
            "id": w.delivery_id,
            "event": w.event.as_db(),
            "state": w.state,
            "attempts": w.attempts,
            "last_status": w.last_status,
            "last_error": w.last_error,
        })).collect::<Vec<_>>(),
    })
}
