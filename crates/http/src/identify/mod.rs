//! Identity verification on the browser port (`/identify/`): the pages of a verification
//! ([`flow`]: the explanation, legal information and terms, the hand-off to the phone by
//! QR code, the capture of the document and the selfie, the MRZ typed by hand when the
//! image cannot be read, the wait for the decision), and the providers ([`provider`]:
//! their signed webhooks, the fake provider's page, the HTTP client of an external one).
//! The rules are the engine's (`identity`).
//!
//! A verification is bound to the browsers that hold its secret: the one that started it
//! and the phone it was handed to, each with a `__Host-` cookie (HttpOnly, Secure,
//! SameSite=Strict). Without the secret, a verification is answered like an unknown one.

pub mod flow;
pub mod provider;

use askama::Template;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use mobileid_engine::identity::verification::StartVerification;
use mobileid_engine::identity::verification::{state, VerificationError};
use mobileid_store::VerificationRecord;

use crate::pages::forms::{internal, render_form_page, see_other};
use crate::pages::{Chrome, Lang};
use crate::AppState;

pub const IDENTIFY_PATH: &str = "/identify/";
const COOKIE_PREFIX: &str = "__Host-mid_idv_";
/// How long a browser keeps its verification's secret.
const COOKIE_MAX_AGE: i64 = 7 * 24 * 3600;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/identify/{id}", get(flow::overview))
        .route("/identify/{id}/terms", post(flow::accept_terms))
        .route("/identify/{id}/capture", get(flow::capture))
        .route("/identify/{id}/images/{kind}", post(flow::upload))
        .route("/identify/{id}/mrz", post(flow::typed_mrz))
        .route("/identify/{id}/submit", post(flow::submit))
        .route("/identify/{id}/state", get(flow::state_json))
        .route("/identify/handoff/{token}", get(flow::handoff_page).post(flow::take_handoff))
        .route("/identify/providers/{name}/webhook", post(provider::webhook))
        .route("/identify/fake-provider/{session}", get(provider::fake_page).post(provider::fake_decides))
        .route_layer(axum::middleware::map_response(crate::metrics::tag_pages))
}

/// Starts a verification for a front end (the signing pages, the portal): the response
/// sends the browser to it, with its secret in a cookie.
pub async fn start(state: &AppState, start: StartVerification) -> Response {
    match state.engine.start_verification(start).await {
        Ok(started) => {
            let id = &started.verification.verification_id;
            let mut response = see_other(&format!("{IDENTIFY_PATH}{id}"));
            set_secret(&mut response, id, &started.secret);
            response
        }
        Err(e) => internal(&e),
    }
}

/// The secret of verification `id` that this browser holds ("" if none).
fn secret(headers: &HeaderMap, id: &str) -> String {
    crate::portal::cookie(headers, &cookie_name(id)).unwrap_or_default()
}

fn set_secret(response: &mut Response, id: &str, secret: &str) {
    let cookie =
        format!("{}={secret}; Path=/; Max-Age={COOKIE_MAX_AGE}; HttpOnly; Secure; SameSite=Strict", cookie_name(id));
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// One cookie per verification; its name holds only the id's safe characters.
fn cookie_name(id: &str) -> String {
    let safe: String = id.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    format!("{COOKIE_PREFIX}{safe}")
}

/// A page's language: `ui_locales`, else the verification's.
fn chrome(query: Option<&str>, record_language: &str, path: &str) -> Chrome {
    let lang = crate::pages::query_locale(query)
        .as_deref()
        .and_then(Lang::from_ui_locales)
        .or_else(|| Lang::from_ui_locales(record_language))
        .unwrap_or(Lang::En);
    let path = match query {
        Some(q) if !q.is_empty() => format!("{path}?{q}"),
        _ => path.to_string(),
    };
    Chrome::new(lang, &path)
}

#[derive(Template)]
#[template(path = "identify/message.html")]
pub(crate) struct MessagePage<'a> {
    pub chrome: &'a Chrome,
    pub title: String,
    pub text: String,
    pub reference: String,
}

/// An error as a page the user can understand, with the reference.
fn error_page(chrome: &Chrome, error: &VerificationError, reference: &str) -> Response {
    let (status, key) = problem(error);
    message(chrome, status, chrome.t("identify.problem.title"), chrome.t(key).to_string(), reference)
}

/// The status and the text (catalog key) of an error.
fn problem(error: &VerificationError) -> (StatusCode, &'static str) {
    match error {
        VerificationError::NotFound => (StatusCode::NOT_FOUND, "identify.problem.not_found"),
        VerificationError::WrongState(_) => (StatusCode::CONFLICT, "identify.problem.state"),
        VerificationError::TermsChanged => (StatusCode::CONFLICT, "identify.problem.terms_changed"),
        VerificationError::HandoffUsed => (StatusCode::GONE, "identify.problem.handoff_used"),
        VerificationError::HandoffExpired => (StatusCode::GONE, "identify.problem.handoff_expired"),
        VerificationError::Kind(_) | VerificationError::NotAnImage => {
            (StatusCode::UNSUPPORTED_MEDIA_TYPE, "identify.problem.not_an_image")
        }
        VerificationError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "identify.problem.too_large"),
        VerificationError::Mrz(_) => (StatusCode::UNPROCESSABLE_ENTITY, "identify.problem.mrz"),
        VerificationError::Incomplete(_) => (StatusCode::UNPROCESSABLE_ENTITY, "identify.problem.incomplete"),
        VerificationError::Provider(_) => (StatusCode::BAD_GATEWAY, "identify.problem.provider"),
        VerificationError::Replayed | VerificationError::Engine(_) => {
            tracing::error!("identity verification: {error}");
            (StatusCode::INTERNAL_SERVER_ERROR, "identify.problem.internal")
        }
    }
}

fn message(chrome: &Chrome, status: StatusCode, title: &str, text: String, reference: &str) -> Response {
    let template = MessagePage { chrome, title: title.to_string(), text, reference: reference.to_string() };
    render_form_page(&template, status, chrome.lang)
}

/// Tells the user by e-mail how a verification was decided.
pub fn notify_decision(state: &AppState, record: &VerificationRecord) {
    if record.email.is_empty() {
        return;
    }
    let kind = match record.state.as_str() {
        state::VERIFIED => "identity_verified",
        state::REJECTED => "identity_rejected",
        _ => return,
    };
    let reason = record.reason.clone().unwrap_or_default();
    let reference = record.verification_id.clone();
    let values = [("reference", reference.as_str()), ("reason", reason.as_str())];
    crate::portal::notify::send(state, &record.email, &record.language, kind, &values);
}
