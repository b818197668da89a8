//! The signers' pages (`/sign/<token>`), in the signer's language (or `ui_locales`):
//! the envelope with every page of every document drawn, Sign with the phone number,
//! the wait for the phone (or the QR code that installs the web authenticator first),
//! Decline with a reason. Every page and error shows the envelope's reference.
//!
//! The link is the signer's, but it never signs alone: the phone approves and signs.
//! Forms are refused when posted from another site.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use mobileid_core::{EnvelopeState, SignerState};
use mobileid_engine::signing::envelopes::{EnvelopeError, GuestView, SigningStep};
use serde::Deserialize;
use serde_json::json;

use crate::pages::forms::{internal, refuse_foreign, render_form_page, see_other};
use crate::pages::phone_number::{country_options, split_country, typed_number};
use crate::pages::{Chrome, Lang};
use crate::AppState;

/// Pages are drawn this wide for the browser.
const PAGE_WIDTH: u32 = 1200;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/sign/{token}", get(envelope_page))
        .route("/sign/{token}/start", post(start))
        .route("/sign/{token}/progress", get(progress))
        .route("/sign/{token}/state", get(step_json))
        .route("/sign/{token}/done", get(done))
        .route("/sign/{token}/decline", post(decline))
        .route("/sign/{token}/identify", post(identify))
        .route("/sign/{token}/documents/{index}", get(download))
        .route("/sign/{token}/documents/{index}/pages/{page}", get(page_image))
}

#[derive(Deserialize, Default)]
struct LangQuery {
    ui_locales: Option<String>,
}

/// The page's language: `ui_locales`, else the signer's.
fn chrome(query: &LangQuery, signer_language: &str, path: &str) -> Chrome {
    let lang = query
        .ui_locales
        .as_deref()
        .and_then(Lang::from_ui_locales)
        .or_else(|| Lang::from_ui_locales(signer_language))
        .unwrap_or(Lang::En);
    Chrome::new(lang, path)
}

struct DocumentItem {
    index: usize,
    name: String,
    pages: u32,
    download: String,
    /// Each page's image URL and its text alternative.
    page_images: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "signing/envelope.html")]
struct EnvelopePage<'a> {
    chrome: &'a Chrome,
    title: String,
    sender: String,
    message: String,
    documents: Vec<DocumentItem>,
    can_sign: bool,
    status: String,
    problem: Option<String>,
    countries: Vec<(&'static str, &'static str, bool)>,
    number: String,
    base: String,
    reference: String,
}

#[derive(Template)]
#[template(path = "signing/progress.html")]
struct ProgressPage<'a> {
    chrome: &'a Chrome,
    qr: Option<String>,
    app_link: String,
    code: String,
    waiting: String,
    /// Whether the signer may verify their identity now (in this browser).
    identify: bool,
    base: String,
    reference: String,
}

#[derive(Template)]
#[template(path = "signing/message.html")]
struct MessagePage<'a> {
    chrome: &'a Chrome,
    title: String,
    paragraphs: Vec<String>,
    problem: bool,
    link: Option<String>,
    reference: String,
}

fn base(token: &str) -> String {
    format!("{}{token}", super::SIGN_PATH)
}

fn page(chrome: &Chrome, template: &impl Template, status: StatusCode) -> Response {
    render_form_page(template, status, chrome.lang)
}

fn message(
    chrome: &Chrome,
    status: StatusCode,
    title: &str,
    paragraphs: Vec<String>,
    link: Option<String>,
    reference: &str,
) -> Response {
    let problem = status.is_client_error() || status.is_server_error();
    let template =
        MessagePage { chrome, title: title.to_string(), paragraphs, problem, link, reference: reference.to_string() };
    page(chrome, &template, status)
}

/// An error as a page: what the signer can understand, with the reference if known.
fn error_page(chrome: &Chrome, error: &EnvelopeError, reference: &str, back: Option<String>) -> Response {
    let (status, key) = match error {
        EnvelopeError::Link | EnvelopeError::NotFound => (StatusCode::NOT_FOUND, "signing.problem.link"),
        EnvelopeError::State(_) => (StatusCode::CONFLICT, "signing.problem.state"),
        EnvelopeError::Signer(problem) => {
            return message(
                chrome,
                StatusCode::BAD_REQUEST,
                chrome.t("signing.problem.title"),
                vec![chrome.t(&format!("signing.problem.{}", problem.key())).to_string()],
                back,
                reference,
            )
        }
        EnvelopeError::Invalid(_) | EnvelopeError::Document { .. } => {
            (StatusCode::UNPROCESSABLE_ENTITY, "signing.problem.document")
        }
        EnvelopeError::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "signing.problem.internal"),
    };
    message(chrome, status, chrome.t("signing.problem.title"), vec![chrome.t(key).to_string()], back, reference)
}

/// Opens the link, or answers with the error page.
async fn open(state: &AppState, token: &str, query: &LangQuery, path: &str) -> Result<(GuestView, Chrome), Response> {
    match state.engine.open_signer_link(token).await {
        Ok(guest) => {
            let chrome = chrome(query, &guest.signer.language, path);
            Ok((guest, chrome))
        }
        Err(e) => Err(error_page(&chrome(query, "", path), &e, "", None)),
    }
}

async fn envelope_page(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Query(query): Query<LangQuery>,
) -> Response {
    let path = base(&token);
    let (guest, chrome) = match open(&state, &token, &query, &path).await {
        Ok(opened) => opened,
        Err(response) => return response,
    };
    show_envelope(&state, &token, &guest, &chrome, None, StatusCode::OK).await
}

async fn show_envelope(
    state: &AppState,
    token: &str,
    guest: &GuestView,
    chrome: &Chrome,
    problem: Option<String>,
    status: StatusCode,
) -> Response {
    let base = base(token);
    let sender = match state.engine.store().find_sender(&guest.envelope.sender_id).await {
        Ok(sender) => sender.map(|s| s.name).unwrap_or_default(),
        Err(e) => return internal(&e),
    };
    let documents = guest
        .documents
        .iter()
        .enumerate()
        .map(|(index, d)| DocumentItem {
            index,
            name: d.name.clone(),
            pages: d.pages,
            download: format!("{base}/documents/{index}"),
            page_images: (1..=d.pages)
                .map(|n| {
                    let alt = chrome.tf(
                        "signing.page_alt",
                        &[("page", &n.to_string()), ("pages", &d.pages.to_string()), ("name", &d.name)],
                    );
                    (format!("{base}/documents/{index}/pages/{n}"), alt)
                })
                .collect(),
        })
        .collect();
    let signer = &guest.signer;
    let can_sign = guest.their_turn && matches!(signer.state, SignerState::Invited | SignerState::Viewed);
    let key = match (guest.envelope.state, signer.state) {
        (_, SignerState::Signed) => "signing.status.signed",
        (_, SignerState::Declined) => "signing.status.declined",
        (EnvelopeState::Completed, _) => "signing.status.completed",
        (EnvelopeState::Declined, _) => "signing.status.closed",
        _ => "signing.status.not_yet",
    };
    let (country, number) = split_country(signer.msisdn.as_deref().unwrap_or("").trim_start_matches('+'));
    let template = EnvelopePage {
        chrome,
        title: guest.envelope.title.clone(),
        sender,
        message: guest.envelope.message.clone(),
        documents,
        can_sign,
        status: chrome.t(key).to_string(),
        problem,
        countries: country_options(country),
        number,
        base,
        reference: guest.envelope.envelope_id.clone(),
    };
    page(chrome, &template, status)
}

#[derive(Deserialize)]
struct StartForm {
    #[serde(default)]
    country: String,
    #[serde(default)]
    number: String,
}

async fn start(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Query(query): Query<LangQuery>,
    headers: HeaderMap,
    Form(form): Form<StartForm>,
) -> Response {
    let path = base(&token);
    let (guest, chrome) = match open(&state, &token, &query, &path).await {
        Ok(opened) => opened,
        Err(response) => return response,
    };
    if let Some(refused) = refuse_foreign(&state, &headers) {
        return refused;
    }
    let typed = typed_number(&form.country, &form.number);
    match state.engine.start_envelope_signing(&token, &typed).await {
        Ok(SigningStep::NeedsApp { activation_code, .. }) => {
            needs_app(&state, &token, &chrome, &guest.envelope.envelope_id, &activation_code)
        }
        Ok(_) => see_other(&format!("{path}/progress")),
        Err(EnvelopeError::Signer(problem)) => {
            let text = chrome.t(&format!("signing.problem.{}", problem.key())).to_string();
            show_envelope(&state, &token, &guest, &chrome, Some(text), StatusCode::BAD_REQUEST).await
        }
        Err(e) => error_page(&chrome, &e, &guest.envelope.envelope_id, Some(path)),
    }
}

/// The page that installs the web authenticator for the signer's number first: a QR
/// code with the activation link; it goes on by itself once the phone is active.
fn needs_app(state: &AppState, token: &str, chrome: &Chrome, reference: &str, code: &str) -> Response {
    let app_link =
        format!("{}{}#code={code}", crate::portal::notify::public_url(state), crate::authenticator::APP_PATH);
    let qr = match crate::portal::qr_data_url(&app_link) {
        Ok(qr) => qr,
        Err(e) => return internal(&e),
    };
    let template = ProgressPage {
        chrome,
        qr: Some(qr),
        app_link,
        code: code.to_string(),
        waiting: chrome.t("signing.app_waiting").to_string(),
        identify: false,
        base: base(token),
        reference: reference.to_string(),
    };
    page(chrome, &template, StatusCode::OK)
}

async fn progress(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Query(query): Query<LangQuery>,
) -> Response {
    let path = format!("{}/progress", base(&token));
    let (guest, chrome) = match open(&state, &token, &query, &path).await {
        Ok(opened) => opened,
        Err(response) => return response,
    };
    let (waiting, identify) = match state.engine.envelope_signing_step(&token).await {
        Ok(step) => {
            (step_text(&chrome, &step), matches!(step, SigningStep::NeedsIdentity | SigningStep::IdentityRejected(_)))
        }
        Err(e) => return error_page(&chrome, &e, &guest.envelope.envelope_id, Some(base(&token))),
    };
    let template = ProgressPage {
        chrome: &chrome,
        qr: None,
        app_link: String::new(),
        code: String::new(),
        waiting,
        identify,
        base: base(&token),
        reference: guest.envelope.envelope_id.clone(),
    };
    page(&chrome, &template, StatusCode::OK)
}

fn step_text(chrome: &Chrome, step: &SigningStep) -> String {
    match step {
        SigningStep::OnThePhone { index, count, document } => chrome.tf(
            "signing.on_phone",
            &[("n", &(index + 1).to_string()), ("count", &count.to_string()), ("document", document)],
        ),
        SigningStep::NeedsApp { .. } | SigningStep::WaitingForApp => chrome.t("signing.app_waiting").to_string(),
        SigningStep::NeedsIdentity => chrome.t("signing.identity_waiting").to_string(),
        SigningStep::IdentityRejected(_) => chrome.t("signing.identity_rejected").to_string(),
        SigningStep::Failed(_) => chrome.t("signing.failed").to_string(),
        SigningStep::Signed => chrome.t("signing.status.signed").to_string(),
    }
}

/// For the waiting page's script: `{"done", "next", "message"}`. Where the signer waits
/// for their new phone, the signing starts as soon as it is active.
async fn step_json(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Query(query): Query<LangQuery>,
) -> Response {
    let path = base(&token);
    let (_, chrome) = match open(&state, &token, &query, &path).await {
        Ok(opened) => opened,
        Err(_) => return Json(json!({ "done": true, "next": path })).into_response(),
    };
    let answer = match state.engine.envelope_signing_step(&token).await {
        Ok(SigningStep::Signed) => json!({ "done": true, "next": format!("{path}/done") }),
        Ok(SigningStep::Failed(_)) => json!({ "done": true, "next": format!("{path}?failed=1") }),
        Ok(step) => json!({ "done": false, "message": step_text(&chrome, &step) }),
        Err(_) => json!({ "done": true, "next": path }),
    };
    let mut response = Json(answer).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn done(State(state): State<AppState>, Path(token): Path<String>, Query(query): Query<LangQuery>) -> Response {
    let path = format!("{}/done", base(&token));
    let (guest, chrome) = match open(&state, &token, &query, &path).await {
        Ok(opened) => opened,
        Err(response) => return response,
    };
    let signed = guest.signer.state == SignerState::Signed;
    let (title, text) = if signed {
        ("signing.done_title", "signing.done_text")
    } else {
        ("signing.progress_title", "signing.status.not_yet")
    };
    message(
        &chrome,
        StatusCode::OK,
        chrome.t(title),
        vec![chrome.t(text).to_string()],
        Some(base(&token)),
        &guest.envelope.envelope_id,
    )
}

/// The signer verifies their identity now, in this browser: a verification for the
/// number they entered and the name the sender gave, which comes back to the waiting page.
async fn identify(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Query(query): Query<LangQuery>,
    headers: HeaderMap,
) -> Response {
    let path = base(&token);
    let (guest, chrome) = match open(&state, &token, &query, &path).await {
        Ok(opened) => opened,
        Err(response) => return response,
    };
    if let Some(refused) = refuse_foreign(&state, &headers) {
        return refused;
    }
    let step = state.engine.envelope_signing_step(&token).await;
    let (Ok(SigningStep::NeedsIdentity | SigningStep::IdentityRejected(_)), Some(msisdn)) =
        (step, guest.signer.signing_msisdn.clone())
    else {
        return see_other(&format!("{path}/progress"));
    };
    let start = mobileid_engine::identity::verification::StartVerification {
        msisdn,
        email: guest.signer.email.clone(),
        stated_name: guest.signer.name.clone(),
        language: chrome.lang.code().to_string(),
        return_to: format!("{path}/progress"),
    };
    crate::identify::start(&state, start).await
}

#[derive(Deserialize)]
struct DeclineForm {
    #[serde(default)]
    reason: String,
}

async fn decline(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Query(query): Query<LangQuery>,
    headers: HeaderMap,
    Form(form): Form<DeclineForm>,
) -> Response {
    let path = base(&token);
    let (guest, chrome) = match open(&state, &token, &query, &path).await {
        Ok(opened) => opened,
        Err(response) => return response,
    };
    if let Some(refused) = refuse_foreign(&state, &headers) {
        return refused;
    }
    let reference = guest.envelope.envelope_id.clone();
    if form.reason.trim().is_empty() {
        let text = chrome.t("signing.problem.reason").to_string();
        return show_envelope(&state, &token, &guest, &chrome, Some(text), StatusCode::BAD_REQUEST).await;
    }
    match state.engine.decline_envelope(&token, form.reason.trim()).await {
        Ok(()) => {
            super::deliveries::wake(&state);
            message(
                &chrome,
                StatusCode::OK,
                chrome.t("signing.declined_title"),
                vec![chrome.t("signing.declined_text").to_string()],
                None,
                &reference,
            )
        }
        Err(e) => error_page(&chrome, &e, &reference, Some(path)),
    }
}

async fn download(
    State(state): State<AppState>,
    Path((token, index)): Path<(String, usize)>,
    Query(query): Query<LangQuery>,
) -> Response {
    let path = base(&token);
    let (guest, chrome) = match open(&state, &token, &query, &path).await {
        Ok(opened) => opened,
        Err(response) => return response,
    };
    match state.engine.envelope_document(&guest.envelope.envelope_id, index).await {
        Ok((document, content)) => super::api::pdf_response(&document.name, content),
        Err(e) => error_page(&chrome, &e, &guest.envelope.envelope_id, Some(path)),
    }
}

async fn page_image(
    State(state): State<AppState>,
    Path((token, index, page_number)): Path<(String, usize, u32)>,
) -> Response {
    let Ok(guest) = state.engine.open_signer_link(&token).await else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let Ok((_, content)) = state.engine.envelope_document(&guest.envelope.envelope_id, index).await else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let Some(page_index) = (page_number as usize).checked_sub(1) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let drawn = state.engine.compute_work(move || mobileid_pdf::page_png(content, page_index, PAGE_WIDTH)).await;
    match drawn {
        Ok(Ok(png)) => ([(header::CONTENT_TYPE, "image/png"), (header::CACHE_CONTROL, "private, max-age=300")], png)
            .into_response(),
        Ok(Err(_)) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => internal(&e),
    }
}
