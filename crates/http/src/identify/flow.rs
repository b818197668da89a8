//! The pages of one verification: the overview with the terms, the capture (with the QR
//! code that hands it to the phone), the typed MRZ, the submission, the wait for the
//! decision, and the JSON state the waiting pages poll.

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Json, Response};
use axum::Form;
use mobileid_engine::identity::verification::{state, AfterTerms, Holder, VerificationError};
use mobileid_store::VerificationRecord;
use serde::Deserialize;
use serde_json::json;

use super::{chrome, error_page, message, notify_decision, secret, set_secret, IDENTIFY_PATH};
use crate::pages::forms::{internal, refuse_foreign, render_form_page, see_other};
use crate::pages::{accept_language, Chrome, Lang};
use crate::AppState;

#[derive(Template)]
#[template(path = "identify/start.html")]
struct StartPage<'a> {
    chrome: &'a Chrome,
    base: String,
    provider: String,
    retention_days: String,
    terms_version: String,
    terms: Vec<String>,
    problem: Option<String>,
    reference: String,
}

struct Shot {
    kind: &'static str,
    /// Which camera: the back one for documents, the front one for the selfie.
    facing: &'static str,
    /// Which document choice shows it ("" for always).
    document: &'static str,
    title: &'static str,
    hint: &'static str,
    done: bool,
}

#[derive(Template)]
#[template(path = "identify/capture.html")]
struct CapturePage<'a> {
    chrome: &'a Chrome,
    base: String,
    handoff_qr: Option<String>,
    handoff_link: String,
    passport: bool,
    shots: Vec<Shot>,
    mrz_read: bool,
    problem: Option<String>,
    reference: String,
}

#[derive(Template)]
#[template(path = "identify/handoff.html")]
struct HandoffPage<'a> {
    chrome: &'a Chrome,
    action: String,
}

#[derive(Template)]
#[template(path = "identify/waiting.html")]
struct WaitingPage<'a> {
    chrome: &'a Chrome,
    title: String,
    paragraphs: Vec<String>,
    poll: bool,
    link: Option<(String, String)>,
    base: String,
    reference: String,
}

fn base(id: &str) -> String {
    format!("{IDENTIFY_PATH}{id}")
}

/// The verification this browser may act on, or the page that says why not.
async fn open(
    state: &AppState,
    id: &str,
    headers: &HeaderMap,
    query: Option<&str>,
    path: &str,
) -> Result<(VerificationRecord, Holder, Chrome), Response> {
    match state.engine.open_verification(id, &secret(headers, id)).await {
        Ok((record, holder)) => {
            let chrome = chrome(query, &record.language, path);
            Ok((record, holder, chrome))
        }
        Err(e) => {
            let lang = Lang::negotiate(None, accept_language(headers));
            let chrome = Chrome::new(lang, path);
            Err(error_page(&chrome, &e, ""))
        }
    }
}

/// The verification's page for its state: the overview and terms, the capture, the
/// wait, or the outcome.
pub async fn overview(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let (record, holder, chrome) = match open(&state, &id, &headers, query.as_deref(), &base(&id)).await {
        Ok(opened) => opened,
        Err(response) => return response,
    };
    match record.state.as_str() {
        state::TERMS => start_page(&state, &chrome, &record, None, StatusCode::OK),
        state::CAPTURE => see_other(&format!("{}/capture", base(&id))),
        state::VERIFIED => {
            let link = (holder == Holder::Browser && !record.return_to.is_empty())
                .then(|| (record.return_to.clone(), chrome.t("identify.done.continue").to_string()));
            let text = if link.is_some() { "identify.done.text" } else { "identify.done.close" };
            waiting(&chrome, &record, "identify.done.title", vec![chrome.t(text).to_string()], false, link)
        }
        state::REJECTED => {
            let reason = record.reason.clone().unwrap_or_default();
            let text = chrome.tf("identify.rejected.text", &[("reason", &reason)]);
            message(&chrome, StatusCode::OK, chrome.t("identify.rejected.title"), text, &record.verification_id)
        }
        state::PROVIDER => {
            let text = chrome.t("identify.waiting.provider").to_string();
            waiting(&chrome, &record, "identify.waiting.title", vec![text], true, None)
        }
        _ => {
            let mut paragraphs = vec![chrome.t("identify.waiting.review").to_string()];
            if holder == Holder::Phone {
                paragraphs.push(chrome.t("identify.waiting.phone_done").to_string());
            }
            waiting(&chrome, &record, "identify.waiting.title", paragraphs, true, None)
        }
    }
}

fn waiting(
    chrome: &Chrome,
    record: &VerificationRecord,
    title: &str,
    paragraphs: Vec<String>,
    poll: bool,
    link: Option<(String, String)>,
) -> Response {
    let template = WaitingPage {
        chrome,
        title: chrome.t(title).to_string(),
        paragraphs,
        poll,
        link,
        base: base(&record.verification_id),
        reference: record.verification_id.clone(),
    };
    render_form_page(&template, StatusCode::OK, chrome.lang)
}

fn start_page(
    state: &AppState,
    chrome: &Chrome,
    record: &VerificationRecord,
    problem: Option<String>,
    status: StatusCode,
) -> Response {
    let config = state.engine.config();
    let provider = match &config.identity.provider {
        Some(provider) => provider.legal_name.clone(),
        None => config.organisation.clone(),
    };
    let template = StartPage {
        chrome,
        base: base(&record.verification_id),
        provider,
        retention_days: (config.identity.image_retention.as_secs() / 86_400).to_string(),
        terms_version: config.identity.terms_version.clone(),
        terms: terms(state, chrome),
        problem,
        reference: record.verification_id.clone(),
    };
    render_form_page(&template, status, chrome.lang)
}

/// The terms of use in the page's language: the operator's (`identity_terms_dir`, in
/// English where a language has none), else the built-in ones.
fn terms(state: &AppState, chrome: &Chrome) -> Vec<String> {
    let own = &state.settings.identity_terms;
    if let Some(paragraphs) = own.get(chrome.lang.code()).or_else(|| own.get("en")) {
        return paragraphs.clone();
    }
    ["identify.terms.p1", "identify.terms.p2", "identify.terms.p3", "identify.terms.p4"]
        .iter()
        .map(|key| chrome.t(key).to_string())
        .collect()
}

#[derive(Deserialize)]
pub struct TermsForm {
    #[serde(default)]
    version: String,
    #[serde(default)]
    accept_terms: Option<String>,
    #[serde(default)]
    accept_data: Option<String>,
}

pub async fn accept_terms(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    Form(form): Form<TermsForm>,
) -> Response {
    if let Some(refused) = refuse_foreign(&state, &headers) {
        return refused;
    }
    let (record, _, chrome) = match open(&state, &id, &headers, query.as_deref(), &base(&id)).await {
        Ok(opened) => opened,
        Err(response) => return response,
    };
    if form.accept_terms.is_none() || form.accept_data.is_none() {
        let problem = chrome.t("identify.problem.accept").to_string();
        return start_page(&state, &chrome, &record, Some(problem), StatusCode::BAD_REQUEST);
    }
    match state.engine.accept_terms(&id, &secret(&headers, &id), &form.version).await {
        Ok(AfterTerms::Capture) => see_other(&format!("{}/capture", base(&id))),
        Ok(AfterTerms::Provider(url)) => see_other(&url),
        Err(VerificationError::TermsChanged) => {
            let problem = chrome.t("identify.problem.terms_changed").to_string();
            start_page(&state, &chrome, &record, Some(problem), StatusCode::CONFLICT)
        }
        Err(e) => error_page(&chrome, &e, &id),
    }
}

pub async fn capture(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let path = format!("{}/capture", base(&id));
    let (record, holder, chrome) = match open(&state, &id, &headers, query.as_deref(), &path).await {
        Ok(opened) => opened,
        Err(response) => return response,
    };
    if record.state != state::CAPTURE {
        return see_other(&base(&id));
    }
    capture_page(&state, &headers, &record, holder, &chrome, None, StatusCode::OK).await
}

async fn capture_page(
    state: &AppState,
    headers: &HeaderMap,
    record: &VerificationRecord,
    holder: Holder,
    chrome: &Chrome,
    problem: Option<String>,
    status: StatusCode,
) -> Response {
    let id = &record.verification_id;
    let (handoff_qr, handoff_link) = if holder == Holder::Browser {
        let token = match state.engine.new_handoff(id, &secret(headers, id)).await {
            Ok(token) => token,
            Err(e) => return error_page(chrome, &e, id),
        };
        let link = format!("{}{IDENTIFY_PATH}handoff/{token}", crate::portal::notify::public_url(state));
        match crate::portal::qr_data_url(&link) {
            Ok(qr) => (Some(qr), link),
            Err(e) => return internal(&e),
        }
    } else {
        (None, String::new())
    };
    let captured = match state.engine.captured_images(id, &secret(headers, id)).await {
        Ok(kinds) => kinds,
        Err(e) => return error_page(chrome, &e, id),
    };
    let done = |kind: &str| captured.iter().any(|k| k == kind);
    let shot = |kind, facing, document, title: &str, hint: &str| Shot {
        kind,
        facing,
        document,
        title: chrome.t(title),
        hint: chrome.t(hint),
        done: done(kind),
    };
    let template = CapturePage {
        chrome,
        base: base(id),
        handoff_qr,
        handoff_link,
        passport: done("page"),
        shots: vec![
            shot("front", "environment", "id_card", "identify.capture.front", "identify.capture.front_hint"),
            shot("back", "environment", "id_card", "identify.capture.back", "identify.capture.back_hint"),
            shot("page", "environment", "passport", "identify.capture.page", "identify.capture.page_hint"),
            shot("selfie", "user", "", "identify.capture.selfie", "identify.capture.selfie_hint"),
        ],
        mrz_read: record.mrz.is_some(),
        problem,
        reference: id.clone(),
    };
    render_form_page(&template, status, chrome.lang)
}

/// An image, as the request's body (JPEG or PNG). Answers `{"mrz_read": bool}`, or
/// `{"error": text}` with the status that says why not.
/// A picture: a body announced larger than the limit is refused (413) before any of it is
/// read, and one that turns out larger while it is read is refused there.
pub async fn upload(
    State(state): State<AppState>,
    Path((id, kind)): Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    if let Some(refused) = refuse_foreign(&state, &headers) {
        return refused;
    }
    let lang = Lang::negotiate(None, accept_language(&headers));
    let refusal = |e: VerificationError| {
        let (status, key) = super::problem(&e);
        let text = crate::pages::catalog::text(lang, key);
        (status, Json(json!({ "error": text }))).into_response()
    };
    let limit = state.engine.config().identity.max_image_bytes;
    let announced = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if announced.is_some_and(|length| length > limit as u64) {
        return refusal(VerificationError::TooLarge(limit));
    }
    let Ok(body) = axum::body::to_bytes(body, limit).await else {
        return refusal(VerificationError::TooLarge(limit));
    };
    match state.engine.store_verification_image(&id, &secret(&headers, &id), &kind, body.to_vec()).await {
        Ok(stored) => no_store(Json(json!({ "mrz_read": stored.mrz_read })).into_response()),
        Err(e) => refusal(e),
    }
}

#[derive(Deserialize)]
pub struct MrzForm {
    #[serde(default)]
    mrz: String,
}

pub async fn typed_mrz(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    Form(form): Form<MrzForm>,
) -> Response {
    if let Some(refused) = refuse_foreign(&state, &headers) {
        return refused;
    }
    let path = format!("{}/capture", base(&id));
    let (record, holder, chrome) = match open(&state, &id, &headers, query.as_deref(), &path).await {
        Ok(opened) => opened,
        Err(response) => return response,
    };
    match state.engine.enter_mrz(&id, &secret(&headers, &id), &form.mrz).await {
        Ok(_) => see_other(&path),
        Err(VerificationError::Mrz(detail)) => {
            let problem = format!("{} ({detail})", chrome.t("identify.problem.mrz"));
            capture_page(&state, &headers, &record, holder, &chrome, Some(problem), StatusCode::UNPROCESSABLE_ENTITY)
                .await
        }
        Err(e) => error_page(&chrome, &e, &id),
    }
}

pub async fn submit(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = refuse_foreign(&state, &headers) {
        return refused;
    }
    let (record, holder, chrome) = match open(&state, &id, &headers, query.as_deref(), &base(&id)).await {
        Ok(opened) => opened,
        Err(response) => return response,
    };
    match state.engine.submit_verification(&id, &secret(&headers, &id)).await {
        Ok(new_state) => {
            if new_state == state::VERIFIED || new_state == state::REJECTED {
                if let Ok((decided, _)) = state.engine.open_verification(&id, &secret(&headers, &id)).await {
                    notify_decision(&state, &decided);
                }
            }
            see_other(&base(&id))
        }
        Err(VerificationError::Incomplete(what)) => {
            let key = match what {
                "the selfie" => "identify.problem.missing_selfie",
                "the ID document" => "identify.problem.missing_document",
                _ => "identify.problem.missing_mrz",
            };
            let problem = Some(chrome.t(key).to_string());
            capture_page(&state, &headers, &record, holder, &chrome, problem, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(e) => error_page(&chrome, &e, &id),
    }
}

/// For the waiting pages' script: `{"done", "next", "message"}`: done when the
/// verification is decided (or, for the capture page, once it has left the capture).
pub async fn state_json(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let here = base(&id);
    let Ok((record, holder, chrome)) = open(&state, &id, &headers, query.as_deref(), &here).await else {
        return no_store(Json(json!({ "done": true, "next": here })).into_response());
    };
    // The capture page (`?from=capture`) goes on as soon as the phone has sent everything.
    let from_capture = query.as_deref().is_some_and(|q| q.split('&').any(|p| p == "from=capture"));
    let answer = match record.state.as_str() {
        state::CAPTURE => json!({ "done": false, "message": chrome.t("identify.capture.handoff_waiting") }),
        _ if from_capture => json!({ "done": true, "next": here }),
        state::PROVIDER => json!({ "done": false, "message": chrome.t("identify.waiting.provider") }),
        state::REVIEW => json!({ "done": false, "message": chrome.t("identify.waiting.status") }),
        state::VERIFIED if holder == Holder::Browser && !record.return_to.is_empty() => {
            json!({ "done": true, "next": record.return_to })
        }
        _ => json!({ "done": true, "next": here }),
    };
    no_store(Json(answer).into_response())
}

/// The page a hand-off link opens on the phone: a button takes the link (a GET changes
/// nothing, so a link preview cannot use it up).
pub async fn handoff_page(Path(token): Path<String>, RawQuery(query): RawQuery, headers: HeaderMap) -> Response {
    let path = format!("{IDENTIFY_PATH}handoff/{token}");
    let lang = crate::pages::query_locale(query.as_deref())
        .as_deref()
        .and_then(Lang::from_ui_locales)
        .unwrap_or_else(|| Lang::negotiate(None, accept_language(&headers)));
    let chrome = Chrome::new(lang, &path);
    render_form_page(&HandoffPage { chrome: &chrome, action: path.clone() }, StatusCode::OK, lang)
}

pub async fn take_handoff(State(state): State<AppState>, Path(token): Path<String>, headers: HeaderMap) -> Response {
    if let Some(refused) = refuse_foreign(&state, &headers) {
        return refused;
    }
    match state.engine.take_handoff(&token).await {
        Ok((id, phone_secret)) => {
            let mut response = see_other(&format!("{}/capture", base(&id)));
            set_secret(&mut response, &id, &phone_secret);
            response
        }
        Err(e) => {
            let chrome = Chrome::new(Lang::negotiate(None, accept_language(&headers)), IDENTIFY_PATH);
            error_page(&chrome, &e, "")
        }
    }
}

fn no_store(mut response: Response) -> Response {
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
