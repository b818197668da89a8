//! The portal's door to identity verification: an account whose Mobile ID has no
//! verified identity states its name as in its document and starts a verification
//! (`/identify/`), which comes back to the dashboard. A verified name then goes into the
//! signing certificates and the OpenID provider's name claims.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Form;
use mobileid_core::AccountState;
use mobileid_engine::identity::verification::StartVerification;
use serde::Deserialize;

use super::{PageLang, Session, PORTAL_PATH};
use crate::pages::forms::{refuse_foreign, see_other};
use crate::pages::Chrome;
use crate::AppState;

#[derive(Template)]
#[template(path = "portal/identity.html")]
struct IdentityPage<'a> {
    chrome: &'a Chrome,
    csrf: String,
    name: String,
    problem: Option<String>,
}

/// Whether the account may start a verification: active, with a number, not verified.
async fn may_verify(state: &AppState, session: &Session) -> Option<String> {
    let msisdn = session.account.msisdn.clone().filter(|_| session.account.state == AccountState::Active)?;
    match state.engine.verified_name(&msisdn).await {
        Ok(None) => Some(msisdn),
        _ => None,
    }
}

pub async fn page(State(state): State<AppState>, lang: PageLang, session: Session) -> Response {
    if may_verify(&state, &session).await.is_none() {
        return see_other(PORTAL_PATH);
    }
    let chrome = lang.chrome();
    let template =
        IdentityPage { chrome: &chrome, csrf: session.session.csrf_token.clone(), name: String::new(), problem: None };
    lang.render(&template, StatusCode::OK)
}

#[derive(Deserialize)]
pub struct IdentityForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
}

pub async fn start(
    State(state): State<AppState>,
    lang: PageLang,
    session: Session,
    headers: HeaderMap,
    Form(form): Form<IdentityForm>,
) -> Response {
    if let Some(refused) = refuse_foreign(&state, &headers).or_else(|| session.refuse_csrf(&form.csrf)) {
        return refused;
    }
    let Some(msisdn) = may_verify(&state, &session).await else { return see_other(PORTAL_PATH) };
    let name = form.name.split_whitespace().collect::<Vec<_>>().join(" ");
    if name.is_empty() || name.chars().count() > 128 || name.chars().any(char::is_control) {
        let chrome = lang.chrome();
        let problem = Some(chrome.t("portal.identity.invalid").to_string());
        let template = IdentityPage { chrome: &chrome, csrf: session.session.csrf_token.clone(), name, problem };
        return lang.render(&template, StatusCode::BAD_REQUEST);
    }
    let start = StartVerification {
        msisdn,
        email: session.account.email.clone(),
        stated_name: name,
        language: lang.lang.code().to_string(),
        return_to: PORTAL_PATH.to_string(),
    };
    crate::identify::start(&state, start).await
}
