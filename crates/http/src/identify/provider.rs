//! Identity providers on the browser port: the endpoint of their signed webhooks, the
//! fake provider's page (for tests and demos), and the HTTP client that starts a session
//! at an external provider (the protocol: docs/identity-verification.md).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Json, Response};
use axum::Form;
use mobileid_engine::identity::providers::{
    sign_webhook, IdentityProvider, ProviderSession, ProviderStart, WebhookError, SIGNATURE_HEADER,
};
use serde::Deserialize;
use serde_json::json;

use super::{message, notify_decision, IDENTIFY_PATH};
use crate::pages::forms::{refuse_foreign, render_form_page, see_other};
use crate::pages::{accept_language, Chrome, Lang};
use crate::AppState;

/// A provider's webhook: 200 with the verification's new state, or the refusal.
pub async fn webhook(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let signature = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
    match state.engine.provider_webhook(&name, signature, &body).await {
        Ok(record) => {
            notify_decision(&state, &record);
            Json(json!({ "verification_id": record.verification_id, "state": record.state })).into_response()
        }
        Err(e) => {
            let status = match &e {
                WebhookError::UnknownProvider(_) | WebhookError::UnknownSession => StatusCode::NOT_FOUND,
                WebhookError::Forged | WebhookError::Stale => StatusCode::UNAUTHORIZED,
                WebhookError::Malformed(_) => StatusCode::BAD_REQUEST,
                WebhookError::Replayed | WebhookError::Decided => StatusCode::CONFLICT,
                WebhookError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            };
            tracing::warn!(provider = %mobileid_core::clip::Clipped(&name), "identity provider webhook refused: {e}");
            (status, Json(json!({ "error": e.to_string() }))).into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "identify/fake_provider.html")]
struct FakePage<'a> {
    chrome: &'a Chrome,
    action: String,
    given_names: String,
    surname: String,
}

fn fake_chrome(headers: &HeaderMap, path: &str) -> Chrome {
    Chrome::new(Lang::negotiate(None, accept_language(headers)), path)
}

/// The fake provider's page: a tester approves (with the names) or refuses.
pub async fn fake_page(State(state): State<AppState>, Path(session): Path<String>, headers: HeaderMap) -> Response {
    let path = format!("{IDENTIFY_PATH}fake-provider/{session}");
    let chrome = fake_chrome(&headers, &path);
    let record = match state.engine.fake_provider_session(&session).await {
        Ok(Some(record)) => record,
        Ok(None) => return fake_refused(&chrome, &WebhookError::UnknownSession),
        Err(e) => return crate::pages::forms::internal(&e),
    };
    let (given_names, surname) = mobileid_engine::identity::review::split_stated(&record.stated_name);
    let template = FakePage { chrome: &chrome, action: path, given_names, surname };
    render_form_page(&template, StatusCode::OK, chrome.lang)
}

#[derive(Deserialize)]
pub struct FakeForm {
    decision: String,
    #[serde(default)]
    given_names: String,
    #[serde(default)]
    surname: String,
    #[serde(default)]
    reason: String,
}

pub async fn fake_decides(
    State(state): State<AppState>,
    Path(session): Path<String>,
    headers: HeaderMap,
    Form(form): Form<FakeForm>,
) -> Response {
    if let Some(refused) = refuse_foreign(&state, &headers) {
        return refused;
    }
    let person = (form.decision == "approve").then_some((form.given_names.trim(), form.surname.trim()));
    match state.engine.fake_provider_decides(&session, person, form.reason.trim()).await {
        Ok(record) => {
            notify_decision(&state, &record);
            see_other(&format!("{IDENTIFY_PATH}{}", record.verification_id))
        }
        Err(e) => fake_refused(&fake_chrome(&headers, IDENTIFY_PATH), &e),
    }
}

fn fake_refused(chrome: &Chrome, error: &WebhookError) -> Response {
    message(chrome, StatusCode::BAD_REQUEST, chrome.t("identify.problem.title"), error.to_string(), "")
}

/// An external provider that speaks the documented protocol: a session is started with
/// a signed POST to its start URL, which answers `{"session_id", "url"}`.
pub struct HttpIdentityProvider {
    name: String,
    start_url: String,
    secret: String,
    /// Our browser port's public URL, for the callback and the way back.
    public_url: String,
    client: reqwest::Client,
}

impl HttpIdentityProvider {
    pub fn new(name: &str, start_url: &str, secret: &str, public_url: &str) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .use_rustls_tls()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(HttpIdentityProvider {
            name: name.to_string(),
            start_url: start_url.to_string(),
            secret: secret.to_string(),
            public_url: public_url.trim_end_matches('/').to_string(),
            client,
        })
    }
}

#[derive(Deserialize)]
struct StartAnswer {
    session_id: String,
    url: String,
}

impl IdentityProvider for HttpIdentityProvider {
    fn name(&self) -> &str {
        &self.name
    }

    fn start(
        &self,
        start: ProviderStart,
    ) -> Pin<Box<dyn Future<Output = Result<ProviderSession, String>> + Send + '_>> {
        Box::pin(async move {
            let body = json!({
                "verification_id": start.verification_id,
                "stated_name": start.stated_name,
                "language": start.language,
                "callback_url": format!("{}{IDENTIFY_PATH}providers/{}/webhook", self.public_url, self.name),
                "return_url": format!("{}{IDENTIFY_PATH}{}", self.public_url, start.verification_id),
            })
            .to_string();
            let now = chrono::Utc::now().timestamp();
            let response = self
                .client
                .post(&self.start_url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header(SIGNATURE_HEADER, sign_webhook(&self.secret, now, body.as_bytes()))
                .body(body)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            if !response.status().is_success() {
                return Err(format!("the provider answered {}", response.status()));
            }
            let answer: StartAnswer = response.json().await.map_err(|e| e.to_string())?;
            if !(answer.url.starts_with("https://") || answer.url.starts_with("http://"))
                || answer.session_id.is_empty()
            {
                return Err("the provider's answer has no session or no web address".into());
            }
            Ok(ProviderSession { session_id: answer.session_id, url: answer.url })
        })
    }
}
