//! Accounts: log in with a password (failures counted per address here, and per account
//! by the engine, which locks it) or with Mobile ID through our OpenID provider, sign up when the operator allows it, confirm an address (and set the
//! password) from an e-mailed link, log out.

use askama::Template;
use axum::extract::{Form, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use mobileid_engine::portal::{Login, PortalError, Signup};
use mobileid_store::TokenOutcome;
use serde::Deserialize;

use super::{message, notify, refuse_foreign, see_other, session_cookie, PageLang, Session};
use crate::extract::SourceAddress;
use crate::pages::phone_number::{country_options, split_country, typed_number};
use crate::pages::Chrome;
use crate::throttle::Budget;
use crate::AppState;

/// Keeps state, nonce and PKCE verifier of a Mobile ID login for the way back.
const LOGIN_COOKIE: &str = "__Host-mid_portal_login";

#[derive(Template)]
#[template(path = "portal/login.html")]
struct LoginPage<'a> {
    chrome: &'a Chrome,
    email: String,
    problem: Option<String>,
    signup: bool,
}

#[derive(Template)]
#[template(path = "portal/signup.html")]
struct SignupPage<'a> {
    chrome: &'a Chrome,
    email: String,
    countries: Vec<(&'static str, &'static str, bool)>,
    number: String,
    problem: Option<String>,
}

#[derive(Template)]
#[template(path = "portal/confirm.html")]
struct ConfirmPage<'a> {
    chrome: &'a Chrome,
    email: String,
    token: String,
    needs_password: bool,
    problem: Option<String>,
}

fn login_form(state: &AppState, lang: &PageLang, email: &str, problem: Option<String>, status: StatusCode) -> Response {
    let chrome = lang.chrome();
    let page =
        LoginPage { chrome: &chrome, email: email.to_string(), problem, signup: state.engine.config().portal.signup };
    lang.render(&page, status)
}

pub async fn login_page(State(state): State<AppState>, lang: PageLang) -> Response {
    login_form(&state, &lang, "", None, StatusCode::OK)
}

#[derive(Deserialize)]
pub struct LoginForm {
    email: String,
    password: String,
}

/// The refusal of an address with too many failures: 429 with `Retry-After`.
pub(super) fn throttled(budget: &Budget, source: &SourceAddress, lang: &PageLang) -> Option<Response> {
    let retry = budget.check(source.0.as_ref()?).err()?;
    let chrome = lang.chrome();
    let mut response = message(
        lang,
        StatusCode::TOO_MANY_REQUESTS,
        "portal.login.title",
        vec![chrome.t("portal.problem.too_many").to_string()],
        "/portal/login",
        "portal.back",
    );
    if let Ok(value) = retry.as_secs().max(1).to_string().parse() {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    Some(response)
}

pub(super) fn failed(budget: &Budget, source: &SourceAddress) {
    if let Some(source) = &source.0 {
        budget.failed(source);
    }
}

pub async fn log_in(
    State(state): State<AppState>,
    lang: PageLang,
    source: SourceAddress,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    if let Some(refused) = refuse_foreign(&state, &headers) {
        return refused;
    }
    let budget = &state.throttles.portal_login;
    if let Some(refused) = throttled(budget, &source, &lang) {
        return refused;
    }
    let chrome = lang.chrome();
    let problem = |key: &str| Some(chrome.t(key).to_string());
    match state.engine.log_in(&form.email, &form.password).await {
        Ok(Login::Session { token, .. }) => logged_in(&state, &token.0),
        Ok(Login::Refused) => {
            failed(budget, &source);
            login_form(&state, &lang, &form.email, problem("portal.problem.login"), StatusCode::UNAUTHORIZED)
        }
        Ok(Login::Locked { until }) => {
            failed(budget, &source);
            let text = chrome.tf("portal.problem.locked", &[("time", &super::shown_time(until))]);
            login_form(&state, &lang, &form.email, Some(text), StatusCode::UNAUTHORIZED)
        }
        Ok(Login::Unconfirmed) => {
            login_form(&state, &lang, &form.email, problem("portal.problem.unconfirmed"), StatusCode::UNAUTHORIZED)
        }
        Ok(Login::NoAccount) => super::internal(&"a password login without an account"),
        Err(e) => super::internal(&e),
    }
}

/// The answer to a login: the session cookie and the dashboard.
fn logged_in(state: &AppState, token: &str) -> Response {
    let mut response = see_other(super::PORTAL_PATH);
    let max_age = state.engine.config().portal.session_ttl.as_secs();
    if let Some(cookie) = session_cookie(token, i64::try_from(max_age).unwrap_or(i64::MAX)) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// Log in with Mobile ID: to our OpenID provider, with state, nonce and PKCE kept in a
/// cookie of this browser for the way back.
pub async fn mobile_id_login(State(state): State<AppState>, lang: PageLang) -> Response {
    let redirect = state.engine.mobile_id_login(lang.lang.code());
    let mut response = see_other(&redirect.url);
    let kept = format!("{}.{}.{}", redirect.state, redirect.nonce, redirect.verifier);
    let cookie = format!("{LOGIN_COOKIE}={kept}; Path=/; Max-Age=600; HttpOnly; Secure; SameSite=Lax");
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
}

/// The way back from the provider: the state must be this browser's, then the engine
/// redeems the code and finds the account of the Mobile ID.
pub async fn mobile_id_callback(
    State(state): State<AppState>,
    lang: PageLang,
    source: SourceAddress,
    headers: HeaderMap,
    Query(query): Query<CallbackQuery>,
) -> Response {
    let budget = &state.throttles.portal_login;
    if let Some(refused) = throttled(budget, &source, &lang) {
        return refused;
    }
    let chrome = lang.chrome();
    let problem = |key: &str| Some(chrome.t(key).to_string());
    let kept = super::cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    let mut parts = kept.splitn(3, '.');
    let (kept_state, nonce, verifier) = (parts.next(), parts.next(), parts.next());
    let mut response = match (query.code, query.state, kept_state, nonce, verifier) {
        (Some(code), Some(sent), Some(kept), Some(nonce), Some(verifier)) if sent == kept && !kept.is_empty() => {
            match state.engine.log_in_with_mobile_id(&code, verifier, nonce).await {
                Ok(Login::Session { token, .. }) => logged_in(&state, &token.0),
                Ok(Login::NoAccount) => {
                    login_form(&state, &lang, "", problem("portal.problem.no_account"), StatusCode::UNAUTHORIZED)
                }
                Ok(Login::Unconfirmed) => {
                    login_form(&state, &lang, "", problem("portal.problem.unconfirmed"), StatusCode::UNAUTHORIZED)
                }
                Ok(Login::Refused | Login::Locked { .. }) => {
                    failed(budget, &source);
                    login_form(&state, &lang, "", problem("portal.problem.mobile_id"), StatusCode::BAD_REQUEST)
                }
                Err(e) => super::internal(&e),
            }
        }
        _ => {
            // Cancelled at the provider, or not this browser's login.
            failed(budget, &source);
            login_form(&state, &lang, "", problem("portal.problem.mobile_id"), StatusCode::BAD_REQUEST)
        }
    };
    if let Ok(value) =
        HeaderValue::from_str(&format!("{LOGIN_COOKIE}=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Lax"))
    {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

fn signup_form(lang: &PageLang, email: &str, number: &str, problem: Option<String>, status: StatusCode) -> Response {
    let chrome = lang.chrome();
    let (country, number) = split_country(number.trim_start_matches('+'));
    let page =
        SignupPage { chrome: &chrome, email: email.to_string(), countries: country_options(country), number, problem };
    lang.render(&page, status)
}

fn signup_closed(lang: &PageLang) -> Response {
    let text = lang.chrome().t("portal.problem.signup_closed").to_string();
    message(lang, StatusCode::NOT_FOUND, "portal.signup.title", vec![text], "/portal/login", "portal.back")
}

pub async fn signup_page(State(state): State<AppState>, lang: PageLang) -> Response {
    if !state.engine.config().portal.signup {
        return signup_closed(&lang);
    }
    signup_form(&lang, "", "", None, StatusCode::OK)
}

#[derive(Deserialize)]
pub struct SignupForm {
    email: String,
    #[serde(default)]
    country: String,
    number: String,
    password: String,
}

pub async fn sign_up(
    State(state): State<AppState>,
    lang: PageLang,
    source: SourceAddress,
    headers: HeaderMap,
    Form(form): Form<SignupForm>,
) -> Response {
    if let Some(refused) = refuse_foreign(&state, &headers) {
        return refused;
    }
    // Every sign-up may send an e-mail: each one counts against the address's budget.
    let budget = &state.throttles.portal_signup;
    if let Some(refused) = throttled(budget, &source, &lang) {
        return refused;
    }
    failed(budget, &source);
    let msisdn = typed_number(&form.country, &form.number);
    let chrome = lang.chrome();
    let public = notify::public_url(&state);
    match state.engine.sign_up(&form.email, &form.password, &msisdn, lang.lang.code()).await {
        Ok(Signup::Created(new)) => {
            let link = format!("{public}/portal/confirm?token={}", new.token.0);
            notify::send(&state, &new.account.email, &new.account.language, "confirm", &[("link", &link)]);
        }
        Ok(Signup::Exists(account)) => {
            let link = format!("{public}/portal/login");
            notify::send(&state, &account.email, &account.language, "exists", &[("link", &link)]);
        }
        Err(e) => {
            let key = match e {
                PortalError::SignupClosed => return signup_closed(&lang),
                PortalError::EmailInvalid => "portal.problem.email",
                PortalError::PasswordInvalid => "portal.problem.password",
                PortalError::PhoneInvalid(_) => "oidc.phone.invalid",
                PortalError::PhoneTaken => "portal.problem.phone_taken",
                other => return super::internal(&other),
            };
            return signup_form(&lang, &form.email, &msisdn, Some(chrome.t(key).to_string()), StatusCode::BAD_REQUEST);
        }
    }
    let text = chrome.tf("portal.signup.sent", &[("email", form.email.trim())]);
    message(&lang, StatusCode::OK, "portal.signup.title", vec![text], "/portal/login", "portal.login.title")
}

#[derive(Deserialize)]
pub struct TokenQuery {
    #[serde(default)]
    token: String,
}

fn link_refused(lang: &PageLang, error: &PortalError) -> Response {
    let key = match error {
        PortalError::LinkRefused(TokenOutcome::Expired) => "portal.problem.link_expired",
        PortalError::LinkRefused(TokenOutcome::AlreadyUsed) => "portal.problem.link_used",
        _ => "portal.problem.link_unknown",
    };
    let text = lang.chrome().t(key).to_string();
    message(lang, StatusCode::BAD_REQUEST, "portal.confirm.title", vec![text], "/portal/login", "portal.login.title")
}

/// The page of an e-mailed link: a GET changes nothing (mail scanners open links), the
/// button on it does.
pub async fn confirm_page(State(state): State<AppState>, lang: PageLang, Query(query): Query<TokenQuery>) -> Response {
    match state.engine.check_confirmation(&query.token).await {
        Ok((account, needs_password)) => {
            let chrome = lang.chrome();
            let page = ConfirmPage {
                chrome: &chrome,
                email: account.email,
                token: query.token,
                needs_password,
                problem: None,
            };
            lang.render(&page, StatusCode::OK)
        }
        Err(e @ PortalError::LinkRefused(_)) => link_refused(&lang, &e),
        Err(e) => super::internal(&e),
    }
}

#[derive(Deserialize)]
pub struct ConfirmForm {
    token: String,
    #[serde(default)]
    password: Option<String>,
}

pub async fn confirm(
    State(state): State<AppState>,
    lang: PageLang,
    headers: HeaderMap,
    Form(form): Form<ConfirmForm>,
) -> Response {
    if let Some(refused) = refuse_foreign(&state, &headers) {
        return refused;
    }
    let password = form.password.as_deref().filter(|p| !p.is_empty());
    match state.engine.confirm_account(&form.token, password).await {
        Ok(account) => {
            let chrome = lang.chrome();
            let key = if account.state == mobileid_core::AccountState::Active {
                "portal.confirm.done"
            } else {
                "portal.confirm.approval"
            };
            message(
                &lang,
                StatusCode::OK,
                "portal.confirm.title",
                vec![chrome.t(key).to_string()],
                "/portal/login",
                "portal.login.title",
            )
        }
        Err(PortalError::PasswordInvalid) => {
            let Ok((account, needs_password)) = state.engine.check_confirmation(&form.token).await else {
                return link_refused(&lang, &PortalError::LinkRefused(TokenOutcome::Unknown));
            };
            let chrome = lang.chrome();
            let problem = Some(chrome.t("portal.problem.password").to_string());
            let page =
                ConfirmPage { chrome: &chrome, email: account.email, token: form.token, needs_password, problem };
            lang.render(&page, StatusCode::BAD_REQUEST)
        }
        Err(e @ PortalError::LinkRefused(_)) => link_refused(&lang, &e),
        Err(e) => super::internal(&e),
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    pub csrf: String,
}

pub async fn log_out(State(state): State<AppState>, session: Session, Form(form): Form<CsrfForm>) -> Response {
    if let Some(refused) = session.refuse_csrf(&form.csrf) {
        return refused;
    }
    if let Err(e) = state.engine.log_out(&session.token).await {
        return super::internal(&e);
    }
    let mut response = see_other("/portal/login");
    if let Some(cookie) = session_cookie("", 0) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response.into_response()
}
