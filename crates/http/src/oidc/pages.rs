//! The authorization endpoint and the login pages: number, waiting for the phone,
//! consent, and errors. Each login page is bound to the browser that began the login by
//! a cookie scoped to that login's path.

use askama::Template;
use axum::extract::{Form, Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use mobileid_engine::oidc::error::{MidCode, OidcError};
use mobileid_engine::oidc::login::{masked, session_code, Login, LoginStep, Progress, Stage};
use mobileid_engine::oidc::request::{self, AuthRequest, Refusal};
use mobileid_engine::Engine;
use serde::Deserialize;
use serde_json::json;

use super::single_parameters;
use crate::pages::phone_number::{country_options, split_country, typed_number};
use crate::pages::{self, accept_language, query_locale, render, Chrome, Lang};
use crate::AppState;

const COOKIE: &str = "mid_login";

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    chrome: &'a Chrome,
    message: String,
    code: Option<String>,
}

#[derive(Template)]
#[template(path = "oidc/phone.html")]
struct PhonePage<'a> {
    chrome: &'a Chrome,
    client_name: String,
    action: String,
    cancel: String,
    /// Code, name, and whether it is the one selected.
    countries: Vec<(&'static str, &'static str, bool)>,
    number: String,
    problem: Option<String>,
}

#[derive(Template)]
#[template(path = "oidc/waiting.html")]
struct WaitingPage<'a> {
    chrome: &'a Chrome,
    phone: String,
    code: String,
    spoken_code: String,
    status: String,
    action: String,
}

#[derive(Template)]
#[template(path = "oidc/logout.html")]
struct LogoutPage<'a> {
    chrome: &'a Chrome,
}

#[derive(Template)]
#[template(path = "oidc/consent.html")]
struct ConsentPage<'a> {
    chrome: &'a Chrome,
    client_name: String,
    claims: Vec<String>,
    action: String,
}

/// An error page: for a request that cannot go back to its client.
fn error_page(lang: Lang, path: &str, status: StatusCode, error: &OidcError) -> Response {
    tracing::info!(code = error.description(), detail = error.detail, "OpenID login refused");
    let chrome = Chrome::new(lang, path);
    let (category, number, _) = error.code.parts();
    let message = chrome.t(&format!("error.{category}")).to_string();
    let reference = format!("mid_{category}_{number}_{}", error.trace);
    render(&ErrorPage { chrome: &chrome, message, code: Some(reference) }, status, lang, &[])
}

/// The client's redirect with `params` added to its query.
fn client_redirect(redirect_uri: &str, params: &[(&str, &str)]) -> Response {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (name, value) in params {
        query.append_pair(name, value);
    }
    let query = query.finish();
    let separator = if redirect_uri.contains('?') { '&' } else { '?' };
    let location =
        if query.is_empty() { redirect_uri.to_string() } else { format!("{redirect_uri}{separator}{query}") };
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// An error back to the client (RFC 6749 §4.1.2.1, with `iss` of RFC 9207).
fn redirect_error(state: &AppState, redirect_uri: &str, client_state: Option<&str>, error: &OidcError) -> Response {
    tracing::info!(code = error.description(), detail = error.detail, "OpenID login ended with an error");
    let description = error.description();
    let issuer = state.engine.oidc_issuer().to_string();
    let mut params = vec![("error", error.error.as_str()), ("error_description", description.as_str())];
    if let Some(client_state) = client_state {
        params.push(("state", client_state));
    }
    params.push(("iss", issuer.as_str()));
    client_redirect(redirect_uri, &params)
}

fn end_with_error(state: &AppState, request: &AuthRequest, error: &OidcError) -> Response {
    redirect_error(state, &request.redirect_uri, Some(&request.state), error)
}

pub async fn authorize_get(State(state): State<AppState>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let pairs = form_urlencoded::parse(query.unwrap_or_default().as_bytes()).into_owned().collect();
    authorize(state, headers, pairs).await
}

pub async fn authorize_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    authorize(state, headers, pairs).await
}

async fn authorize(state: AppState, headers: HeaderMap, pairs: Vec<(String, String)>) -> Response {
    let trace = session_code();
    let path = mobileid_engine::oidc::paths::AUTHORIZE;
    let ui_locales = pairs.iter().find(|(k, _)| k == "ui_locales").map(|(_, v)| v.as_str());
    let lang = Lang::negotiate(ui_locales, accept_language(&headers));
    let page = |code: MidCode, detail: &str| {
        error_page(lang, path, StatusCode::BAD_REQUEST, &OidcError::new(code, &trace, detail))
    };
    if pairs.is_empty() {
        return page(MidCode::MissingQuery, "no parameters");
    }
    let params = match single_parameters(pairs) {
        Ok(params) => params,
        Err(why) => return page(MidCode::InvalidClientRequest, &why),
    };
    let Some(client_id) = params.get("client_id").cloned() else {
        return page(MidCode::InvalidClientRequest, "client_id is missing");
    };
    let client = match state.engine.oidc_client(&client_id).await {
        Ok(Some(client)) => client,
        Ok(None) => return page(MidCode::InvalidClientRequest, "unknown client_id"),
        Err(e) => return page(MidCode::Internal, &e.to_string()),
    };
    let (params, via_par) = match params.get("request_uri") {
        None => (params, false),
        Some(request_uri) => {
            if params.keys().any(|k| !matches!(k.as_str(), "client_id" | "request_uri")) {
                return page(MidCode::InvalidClientRequest, "with request_uri, send only client_id");
            }
            match state.engine.oidc_pushed_request(&client_id, request_uri).await {
                Ok(pushed) => (pushed, true),
                Err(e) => return error_page(lang, path, StatusCode::BAD_REQUEST, &e),
            }
        }
    };
    let request = match request::check(&client, &params, via_par, &trace) {
        Ok(request) => request,
        Err(Refusal::Page(e)) => return error_page(lang, path, StatusCode::BAD_REQUEST, &e),
        Err(Refusal::Redirect { redirect_uri, state: client_state, error }) => {
            return redirect_error(&state, &redirect_uri, client_state.as_deref(), &error)
        }
    };
    let (redirect_uri, client_state) = (request.redirect_uri.clone(), request.state.clone());
    match state.engine.oidc_begin_login(&client, request, trace).await {
        Ok((login, cookie)) => {
            let mut response = StatusCode::SEE_OTHER.into_response();
            let headers = response.headers_mut();
            if let Ok(location) = HeaderValue::from_str(&format!("/oidc/login/{}", login.id)) {
                headers.insert(header::LOCATION, location);
            }
            let cookie = format!(
                "{COOKIE}={cookie}; Path=/oidc/login/{}; Max-Age=600; HttpOnly; Secure; SameSite=Lax",
                login.id
            );
            if let Ok(cookie) = HeaderValue::from_str(&cookie) {
                headers.insert(header::SET_COOKIE, cookie);
            }
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(e) => redirect_error(&state, &redirect_uri, Some(&client_state), &e),
    }
}

fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(COOKIE).and_then(|rest| rest.strip_prefix('=')).map(str::to_string))
}

/// The login of this browser, and the language of its pages.
async fn this_login(
    state: &AppState,
    id: &str,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<(Login, Lang), Response> {
    let cookie = cookie(headers);
    let login = state.engine.oidc_login(id, cookie.as_deref()).await;
    let chosen = query_locale(query);
    let from_login = login.as_ref().and_then(|l| l.request.ui_locale.clone());
    let lang = Lang::negotiate(chosen.as_deref().or(from_login.as_deref()), accept_language(headers));
    match login {
        Some(login) => Ok((login, lang)),
        None => {
            let error =
                OidcError::new(MidCode::InvalidClientRequest, &session_code(), "unknown, expired or foreign login");
            Err(error_page(lang, &format!("/oidc/login/{id}"), StatusCode::BAD_REQUEST, &error))
        }
    }
}

fn targets(login: &Login) -> Vec<String> {
    pages::origin(&login.request.redirect_uri).into_iter().collect()
}

fn page_path(id: &str, query: Option<&str>) -> String {
    match query {
        Some(q) if !q.is_empty() => format!("/oidc/login/{id}?{q}"),
        _ => format!("/oidc/login/{id}"),
    }
}

pub async fn login(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let (mut login, lang) = match this_login(&state, &id, &headers, query.as_deref()).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let path = page_path(&id, query.as_deref());
    match login.stage.clone() {
        Stage::Phone => phone_page(&login, lang, &path, "", None, StatusCode::OK),
        Stage::Waiting { msisdn, .. } => match state.engine.oidc_progress(&mut login).await {
            Progress::Waiting => waiting_page(&login, lang, &path, &msisdn),
            Progress::Approved => after_approval(&state, &mut login, lang, &path).await,
            Progress::Failed(e) => end_with_error(&state, &login.request, &e),
        },
        Stage::Consent { .. } => after_approval(&state, &mut login, lang, &path).await,
        Stage::Done => {
            let error = OidcError::new(MidCode::InvalidClientRequest, &login.trace, "this login is finished");
            error_page(lang, &path, StatusCode::BAD_REQUEST, &error)
        }
    }
}

fn phone_page(
    login: &Login,
    lang: Lang,
    path: &str,
    number: &str,
    problem: Option<String>,
    status: StatusCode,
) -> Response {
    let chrome = Chrome::new(lang, path);
    let (country, number) = split_country(number);
    let page = PhonePage {
        chrome: &chrome,
        client_name: login.client_name.clone(),
        action: format!("/oidc/login/{}/number", login.id),
        cancel: format!("/oidc/login/{}/cancel", login.id),
        countries: country_options(country),
        number,
        problem,
    };
    let targets = targets(login);
    render(&page, status, lang, &targets.iter().map(String::as_str).collect::<Vec<_>>())
}

fn waiting_page(login: &Login, lang: Lang, path: &str, msisdn: &str) -> Response {
    let chrome = Chrome::new(lang, path);
    let page = WaitingPage {
        chrome: &chrome,
        phone: masked(msisdn),
        code: login.trace.clone(),
        spoken_code: login.trace.chars().map(String::from).collect::<Vec<_>>().join(" "),
        status: format!("/oidc/login/{}/status", login.id),
        action: format!("/oidc/login/{}", login.id),
    };
    let targets = targets(login);
    render(&page, StatusCode::OK, lang, &targets.iter().map(String::as_str).collect::<Vec<_>>())
}

/// After the phone approved: the consent page, or straight back to the client with the
/// code when nothing but the sign-in is asked.
async fn after_approval(state: &AppState, login: &mut Login, lang: Lang, path: &str) -> Response {
    if Engine::needs_consent(&login.request) {
        let chrome = Chrome::new(lang, path);
        let claims = claims_listed(&chrome, login);
        let page = ConsentPage {
            chrome: &chrome,
            client_name: login.client_name.clone(),
            claims,
            action: format!("/oidc/login/{}/consent", login.id),
        };
        let targets = targets(login);
        return render(&page, StatusCode::OK, lang, &targets.iter().map(String::as_str).collect::<Vec<_>>());
    }
    finish(state, login, true).await
}

fn claims_listed(chrome: &Chrome, login: &Login) -> Vec<String> {
    use mobileid_engine::oidc::vocabulary::Scope;
    let phone = match &login.stage {
        Stage::Consent { user } => format!("+{}", user.msisdn),
        _ => String::new(),
    };
    login
        .request
        .scopes
        .iter()
        .filter_map(|scope| match scope {
            Scope::Phone => Some(chrome.tf("oidc.claim.phone", &[("phone", phone.as_str())])),
            Scope::Profile => Some(chrome.t("oidc.claim.name").to_string()),
            Scope::MidLocation => Some(chrome.t("oidc.claim.location").to_string()),
            Scope::MidProfile => Some(chrome.t("oidc.claim.serial").to_string()),
            Scope::MidCms => Some(chrome.t("oidc.claim.cms").to_string()),
            Scope::Openid | Scope::OfflineAccess | Scope::MidEsignBasic => None,
        })
        .collect()
}

async fn finish(state: &AppState, login: &mut Login, confirmed: bool) -> Response {
    match state.engine.oidc_consent(login, confirmed).await {
        Ok(code) => {
            let issuer = state.engine.oidc_issuer().to_string();
            client_redirect(
                &login.request.redirect_uri,
                &[("code", &code), ("state", &login.request.state), ("iss", &issuer)],
            )
        }
        Err(e) => end_with_error(state, &login.request, &e),
    }
}

#[derive(Deserialize)]
pub struct NumberForm {
    #[serde(default)]
    country: String,
    #[serde(default)]
    number: String,
}

pub async fn number(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    Form(form): Form<NumberForm>,
) -> Response {
    let (mut login, lang) = match this_login(&state, &id, &headers, query.as_deref()).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let path = page_path(&id, query.as_deref());
    let typed = typed_number(&form.country, &form.number);
    let chrome = Chrome::new(lang, &path);
    match state.engine.oidc_submit_number(&mut login, &typed).await {
        Ok(()) => {
            let mut response = StatusCode::SEE_OTHER.into_response();
            if let Ok(location) = HeaderValue::from_str(&format!("/oidc/login/{id}")) {
                response.headers_mut().insert(header::LOCATION, location);
            }
            response
        }
        Err(LoginStep::Retry(_)) => phone_page(
            &login,
            lang,
            &path,
            &typed,
            Some(chrome.t("oidc.phone.invalid").to_string()),
            StatusCode::BAD_REQUEST,
        ),
        Err(LoginStep::Ended(e)) => end_with_error(&state, &login.request, &e),
    }
}

/// What the waiting page's script asks every two seconds.
pub async fn status(State(state): State<AppState>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let (mut login, lang) = match this_login(&state, &id, &headers, None).await {
        Ok(found) => found,
        Err(_) => {
            return (StatusCode::NOT_FOUND, Json(json!({"done": true, "next": format!("/oidc/login/{id}")})))
                .into_response()
        }
    };
    let chrome = Chrome::new(lang, "/");
    let body = match state.engine.oidc_progress(&mut login).await {
        Progress::Waiting => json!({"done": false, "message": chrome.t("oidc.waiting.waiting")}),
        Progress::Approved => {
            json!({"done": true, "next": format!("/oidc/login/{id}"), "message": chrome.t("oidc.waiting.approved")})
        }
        Progress::Failed(_) => json!({"done": true, "next": format!("/oidc/login/{id}")}),
    };
    let mut response = Json(body).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[derive(Deserialize)]
pub struct ConsentForm {
    #[serde(default)]
    decision: String,
}

pub async fn consent(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<ConsentForm>,
) -> Response {
    let (mut login, _) = match this_login(&state, &id, &headers, None).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    finish(&state, &mut login, form.decision == "confirm").await
}

/// The number page's Back: the user does not want to log in.
pub async fn cancel(State(state): State<AppState>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let (login, _) = match this_login(&state, &id, &headers, None).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    end_with_error(&state, &login.request, &OidcError::new(MidCode::Rejected, &login.trace, "the user went back"))
}

pub async fn end_session_get(State(state): State<AppState>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let pairs = form_urlencoded::parse(query.unwrap_or_default().as_bytes()).into_owned().collect();
    end_session(state, headers, pairs).await
}

pub async fn end_session_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    end_session(state, headers, pairs).await
}

/// RP-Initiated Logout: back to the client's registered post-logout URI, or our page.
async fn end_session(state: AppState, headers: HeaderMap, pairs: Vec<(String, String)>) -> Response {
    let path = mobileid_engine::oidc::paths::END_SESSION;
    let ui_locales = pairs.iter().find(|(k, _)| k == "ui_locales").map(|(_, v)| v.clone());
    let lang = Lang::negotiate(ui_locales.as_deref(), accept_language(&headers));
    let params = match single_parameters(pairs) {
        Ok(params) => params,
        Err(why) => {
            return error_page(
                lang,
                path,
                StatusCode::BAD_REQUEST,
                &OidcError::new(MidCode::InvalidClientRequest, &session_code(), why),
            )
        }
    };
    match state.engine.oidc_end_session(&params).await {
        Ok(mobileid_engine::oidc::EndSession::Redirect { uri, state }) => {
            let state: Vec<(&str, &str)> = state.iter().map(|s| ("state", s.as_str())).collect();
            client_redirect(&uri, &state)
        }
        Ok(mobileid_engine::oidc::EndSession::Page) => {
            let chrome = Chrome::new(lang, path);
            render(&LogoutPage { chrome: &chrome }, StatusCode::OK, lang, &[])
        }
        Err(e) => error_page(lang, path, StatusCode::BAD_REQUEST, &e),
    }
}
