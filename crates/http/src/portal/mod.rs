//! The self-service portal on the browser port (`/portal/`): accounts ([`account`]:
//! log in, sign up, confirm an address, log out) and the user's own Mobile ID
//! ([`mobile_id`]: get one by QR code or e-mail, follow the activation, recovery codes,
//! block a lost phone, move to a new phone). Pages stand on the shared page foundation.
//!
//! A user with an active Mobile ID can also log in with it, through our own OpenID
//! provider (the portal is one of its clients: no second login system).
//!
//! A session is a `__Host-` cookie (HttpOnly, Secure, SameSite=Lax) naming a row in the
//! store; every form of a session carries its CSRF token, and every POST must come from
//! our own origin when the browser says where it comes from.

mod account;
mod identity;
mod mobile_id;

pub(crate) use mobile_id::qr_data_url;
pub mod notify;

use askama::Template;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, Utc};
use mobileid_core::Timestamp;
use mobileid_store::{AccountRecord, SessionRecord};

use crate::pages::forms::{internal, refuse_foreign, render_form_page, see_other};
use crate::pages::{accept_language, query_locale, Chrome, Lang};
use crate::AppState;

pub const PORTAL_PATH: &str = "/portal/";
const SESSION_COOKIE: &str = "__Host-mid_portal";
const LANGUAGE_COOKIE: &str = "mid_lang";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/portal", get(|| async { Redirect::permanent(PORTAL_PATH) }))
        .route(PORTAL_PATH, get(mobile_id::dashboard))
        .route("/portal/login", get(account::login_page).post(account::log_in))
        .route("/portal/login/mobile-id", get(account::mobile_id_login))
        .route(mobileid_engine::portal::PORTAL_CALLBACK, get(account::mobile_id_callback))
        .route("/portal/signup", get(account::signup_page).post(account::sign_up))
        .route("/portal/confirm", get(account::confirm_page).post(account::confirm))
        .route("/portal/logout", post(account::log_out))
        .route("/portal/get", get(mobile_id::get_page).post(mobile_id::start))
        .route("/portal/get/state", get(mobile_id::state))
        .route("/portal/get/cancel", post(mobile_id::cancel))
        .route("/portal/get/done", get(mobile_id::done))
        .route("/portal/recover", get(mobile_id::recover_page).post(mobile_id::recover))
        .route("/portal/mobile-id", get(mobile_id::my_mobile_id))
        .route("/portal/identity", get(identity::page).post(identity::start))
        .route("/portal/mobile-id/block", post(mobile_id::block))
        .route("/portal/mobile-id/codes", post(mobile_id::new_codes))
        .route_layer(axum::middleware::map_response(crate::metrics::tag_pages))
}

/// The language of a portal page: `ui_locales` in the query (remembered in a cookie for
/// the pages after), then that cookie, then `Accept-Language`.
#[derive(Debug, Clone)]
pub struct PageLang {
    pub lang: Lang,
    /// The page's path and query, for the language links.
    pub path: String,
    /// Set when the query chose a language, to remember it.
    chosen: Option<Lang>,
}

impl PageLang {
    pub fn chrome(&self) -> Chrome {
        Chrome::new(self.lang, &self.path)
    }

    /// A page rendered in this language (and the choice remembered), as a page with forms
    /// (`pages::forms::render_form_page`).
    pub fn render(&self, template: &impl Template, status: StatusCode) -> Response {
        let mut response = render_form_page(template, status, self.lang);
        self.remember(&mut response);
        response
    }

    fn remember(&self, response: &mut Response) {
        if let Some(lang) = self.chosen {
            let cookie =
                format!("{LANGUAGE_COOKIE}={}; Path=/portal/; Max-Age=31536000; Secure; SameSite=Lax", lang.code());
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response.headers_mut().append(header::SET_COOKIE, value);
            }
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for PageLang {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query();
        let chosen = query_locale(query).and_then(|code| Lang::from_ui_locales(&code));
        let remembered = cookie(&parts.headers, LANGUAGE_COOKIE).and_then(|code| Lang::from_ui_locales(&code));
        let lang = chosen.or(remembered).unwrap_or_else(|| Lang::negotiate(None, accept_language(&parts.headers)));
        let path = parts.uri.path_and_query().map(|p| p.as_str().to_string()).unwrap_or_else(|| PORTAL_PATH.into());
        Ok(PageLang { lang, path, chosen })
    }
}

/// A logged-in browser: its account and session. Without one, pages send the browser to
/// the login page (and JSON callers get 401).
pub struct Session {
    pub account: AccountRecord,
    pub session: SessionRecord,
    token: String,
}

impl Session {
    /// The refusal of a form that did not carry this session's CSRF token.
    pub(crate) fn refuse_csrf(&self, sent: &str) -> Option<Response> {
        if mobileid_engine::portal::csrf_matches(&self.session, sent) {
            return None;
        }
        tracing::warn!(account = %self.account.account_id, "portal form without its CSRF token");
        Some((StatusCode::FORBIDDEN, "This form has expired. Go back, reload the page and try again.").into_response())
    }

    /// The refusal of a session's form from another origin, or without the CSRF token.
    fn refuse_form(&self, state: &AppState, headers: &HeaderMap, csrf: &str) -> Option<Response> {
        refuse_foreign(state, headers).or_else(|| self.refuse_csrf(csrf))
    }
}

impl FromRequestParts<AppState> for Session {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let to_login = || Redirect::to("/portal/login").into_response();
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE) else { return Err(to_login()) };
        match state.engine.portal_session(&token).await {
            Ok(Some((account, session))) => Ok(Session { account, session, token }),
            Ok(None) => Err(to_login()),
            Err(e) => Err(internal(&e)),
        }
    }
}

pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(name).and_then(|rest| rest.strip_prefix('=')).map(str::to_string))
}

fn session_cookie(token: &str, max_age: i64) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={token}; Path=/; Max-Age={max_age}; HttpOnly; Secure; SameSite=Lax"
    ))
    .ok()
}

/// A time as the pages show it: UTC, to the minute.
pub(crate) fn shown_time(at: Timestamp) -> String {
    at.to_datetime().map(|t: DateTime<Utc>| t.format("%Y-%m-%d %H:%M UTC").to_string()).unwrap_or_default()
}

/// A page with a title, paragraphs and one link onwards.
#[derive(Template)]
#[template(path = "portal/message.html")]
struct MessagePage<'a> {
    chrome: &'a Chrome,
    title: String,
    paragraphs: Vec<String>,
    problem: bool,
    link: &'a str,
    link_text: String,
}

fn message(
    lang: &PageLang,
    status: StatusCode,
    title_key: &str,
    paragraphs: Vec<String>,
    link: &str,
    link_key: &str,
) -> Response {
    let chrome = lang.chrome();
    let page = MessagePage {
        chrome: &chrome,
        title: chrome.t(title_key).to_string(),
        paragraphs,
        problem: !status.is_success(),
        link,
        link_text: chrome.t(link_key).to_string(),
    };
    lang.render(&page, status)
}
