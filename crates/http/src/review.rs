//! The operator's review desk (`/review`), for portal accounts with the reviewer role
//! (`mobileid reviewer add`): the queue of verifications waiting for a human, one
//! verification with its images, the MRZ with every check digit, and the platform's
//! checks; approve (with the names to record) or reject with a reason. Every view of an
//! image is logged, and shown on the page. The user is told by e-mail.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use mobileid_engine::identity::verification::{state as vstate, Check, VerificationError};
use serde::Deserialize;

use crate::identify::notify_decision;
use crate::pages::forms::{internal, refuse_foreign, render_form_page, see_other};
use crate::pages::Chrome;
use crate::portal::{shown_time, PageLang, Session};
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/review", get(queue))
        .route("/review/{id}", get(one))
        .route("/review/{id}/images/{kind}", get(image))
        .route("/review/{id}/approve", post(approve))
        .route("/review/{id}/reject", post(reject))
        .route_layer(axum::middleware::map_response(crate::metrics::tag_pages))
}

struct QueueItem {
    id: String,
    name: String,
    since: String,
    checks: String,
}

#[derive(Template)]
#[template(path = "review/queue.html")]
struct QueuePage<'a> {
    chrome: &'a Chrome,
    items: Vec<QueueItem>,
}

#[derive(Template)]
#[template(path = "review/verification.html")]
struct VerificationPage<'a> {
    chrome: &'a Chrome,
    id: String,
    stated_name: String,
    phone: String,
    terms: String,
    state: String,
    images: Vec<(String, String)>,
    checks: Vec<Check>,
    mrz_lines: String,
    mrz_fields: Vec<(String, String)>,
    open: bool,
    csrf: String,
    given_names: String,
    surname: String,
    views: Vec<String>,
}

/// The reviewer's session, or the refusal (403) of an account without the role.
async fn reviewer(state: &AppState, session: &Session, chrome: &Chrome) -> Result<(), Response> {
    match state.engine.is_reviewer(&session.account.account_id).await {
        Ok(true) => Ok(()),
        Ok(false) => {
            let template = crate::identify::MessagePage {
                chrome,
                title: chrome.t("review.title").to_string(),
                text: chrome.t("review.not_reviewer").to_string(),
                reference: String::new(),
            };
            Err(render_form_page(&template, StatusCode::FORBIDDEN, chrome.lang))
        }
        Err(e) => Err(internal(&e)),
    }
}

async fn queue(State(state): State<AppState>, lang: PageLang, session: Session) -> Response {
    let chrome = lang.chrome();
    if let Err(refused) = reviewer(&state, &session, &chrome).await {
        return refused;
    }
    let waiting = match state.engine.verifications_to_review().await {
        Ok(waiting) => waiting,
        Err(e) => return internal(&e),
    };
    let items = waiting
        .into_iter()
        .map(|v| {
            let checks: Vec<Check> = v.checks.as_deref().and_then(|c| serde_json::from_str(c).ok()).unwrap_or_default();
            let failed = checks.iter().filter(|c| !c.ok).count();
            QueueItem {
                since: shown_time(v.updated_at),
                name: v.stated_name,
                checks: if failed == 0 {
                    chrome.t("review.all_passed").to_string()
                } else {
                    chrome.tf("review.some_failed", &[("count", &failed.to_string())])
                },
                id: v.verification_id,
            }
        })
        .collect();
    lang.render(&QueuePage { chrome: &chrome, items }, StatusCode::OK)
}

async fn one(State(state): State<AppState>, Path(id): Path<String>, lang: PageLang, session: Session) -> Response {
    let chrome = lang.chrome();
    if let Err(refused) = reviewer(&state, &session, &chrome).await {
        return refused;
    }
    let view = match state.engine.verification_for_review(&id).await {
        Ok(view) => view,
        Err(VerificationError::NotFound) => return StatusCode::NOT_FOUND.into_response(),
        Err(e) => return internal(&e),
    };
    let record = &view.verification;
    let images = view
        .images
        .iter()
        .map(|i| (format!("/review/{id}/images/{}", i.kind), chrome.t(&format!("review.image.{}", i.kind)).to_string()))
        .collect();
    let (mrz_lines, mrz_fields) = match &view.mrz {
        Some(m) => {
            let mut fields: Vec<(String, String)> = [
                ("document_code", m.document_code.clone()),
                ("issuing_state", m.issuing_state.clone()),
                ("surname", m.surname.clone()),
                ("given_names", m.given_names.clone()),
                ("document_number", m.document_number.clone()),
                ("nationality", m.nationality.clone()),
                ("birth_date", m.birth_date.clone()),
                ("sex", m.sex.to_string()),
                ("expiry_date", m.expiry_date.clone()),
            ]
            .into_iter()
            .map(|(name, value)| (chrome.t(&format!("review.field.{name}")).to_string(), value))
            .collect();
            for check in &m.checks {
                let verdict = if check.ok { "✓" } else { "✗" };
                let found = format!("{} → {} ({verdict}, {})", check.data, check.expected, check.found);
                let field = chrome.t(&format!("review.field.{}", check.field));
                fields.push((chrome.tf("review.field.check_digit", &[("field", field)]), found));
            }
            (m.lines.join("\n"), fields)
        }
        None => (String::new(), Vec::new()),
    };
    let terms = match (&record.terms_version, record.terms_accepted_at) {
        (Some(version), Some(at)) => format!("{version}, {}", shown_time(at)),
        _ => "-".into(),
    };
    let template = VerificationPage {
        chrome: &chrome,
        stated_name: record.stated_name.clone(),
        phone: format!("+{}", record.msisdn),
        terms,
        state: record.state.clone(),
        images,
        checks: view.checks.iter().map(|c| Check { check: check_name(&chrome, &c.check), ..c.clone() }).collect(),
        mrz_lines,
        mrz_fields,
        open: record.state == vstate::REVIEW,
        csrf: session.session.csrf_token.clone(),
        given_names: view.proposed.0.clone(),
        surname: view.proposed.1.clone(),
        views: view.views.iter().map(|v| format!("{} {} {}", shown_time(v.viewed_at), v.viewer, v.kind)).collect(),
        id,
    };
    lang.render(&template, StatusCode::OK)
}

/// A check's name in the page's language (a provider's result keeps its own).
fn check_name(chrome: &Chrome, check: &str) -> String {
    match check {
        "check_digits" | "not_expired" | "minimum_age" | "name" => {
            chrome.t(&format!("review.check_name.{check}")).into()
        }
        other => other.to_string(),
    }
}

/// An image, for a reviewer only; the view is logged before it is sent.
async fn image(
    State(state): State<AppState>,
    Path((id, kind)): Path<(String, String)>,
    lang: PageLang,
    session: Session,
) -> Response {
    if let Err(refused) = reviewer(&state, &session, &lang.chrome()).await {
        return refused;
    }
    match state.engine.view_verification_image(&id, &kind, &session.account.email).await {
        Ok(Some((content_type, bytes))) => {
            let mut response = bytes.into_response();
            let headers = response.headers_mut();
            if let Ok(value) = HeaderValue::from_str(&content_type) {
                headers.insert(header::CONTENT_TYPE, value);
            }
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
            headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'"));
            response
        }
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => internal(&e),
    }
}

#[derive(Deserialize)]
struct ApproveForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    given_names: String,
    #[serde(default)]
    surname: String,
}

#[derive(Deserialize)]
struct RejectForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

async fn approve(
    State(state): State<AppState>,
    Path(id): Path<String>,
    lang: PageLang,
    session: Session,
    headers: axum::http::HeaderMap,
    Form(form): Form<ApproveForm>,
) -> Response {
    if let Some(refused) = refuse_foreign(&state, &headers).or_else(|| session.refuse_csrf(&form.csrf)) {
        return refused;
    }
    if let Err(refused) = reviewer(&state, &session, &lang.chrome()).await {
        return refused;
    }
    let decided = state.engine.approve_verification(&id, &session.account.email, &form.given_names, &form.surname);
    after_decision(&state, &lang, &id, decided.await)
}

async fn reject(
    State(state): State<AppState>,
    Path(id): Path<String>,
    lang: PageLang,
    session: Session,
    headers: axum::http::HeaderMap,
    Form(form): Form<RejectForm>,
) -> Response {
    if let Some(refused) = refuse_foreign(&state, &headers).or_else(|| session.refuse_csrf(&form.csrf)) {
        return refused;
    }
    if let Err(refused) = reviewer(&state, &session, &lang.chrome()).await {
        return refused;
    }
    let decided = state.engine.reject_verification(&id, &session.account.email, &form.reason);
    after_decision(&state, &lang, &id, decided.await)
}

fn after_decision(
    state: &AppState,
    lang: &PageLang,
    id: &str,
    decided: Result<mobileid_store::VerificationRecord, VerificationError>,
) -> Response {
    match decided {
        Ok(record) => {
            notify_decision(state, &record);
            see_other("/review")
        }
        Err(e) => {
            let chrome = lang.chrome();
            let template = crate::identify::MessagePage {
                chrome: &chrome,
                title: chrome.t("review.title").to_string(),
                text: e.to_string(),
                reference: id.to_string(),
            };
            lang.render(&template, StatusCode::BAD_REQUEST)
        }
    }
}
