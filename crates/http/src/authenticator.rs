//! The web authenticator: the phone as an installable web app, on the browser port. The
//! page is rendered here in the user's language; `assets/authenticator.js` holds the
//! phone (keys made with WebCrypto, the device API, the PIN scheme), and the service
//! worker keeps the page for offline use. It speaks the same device API as the
//! command-line phone; the server cannot tell them apart.

use askama::Template;
use axum::extract::RawQuery;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use serde_json::json;

use crate::pages::{self, accept_language, query_locale, Chrome, Lang};
use crate::AppState;

pub const APP_PATH: &str = "/app/";
const MANIFEST_PATH: &str = "/app/manifest.webmanifest";
const WORKER_PATH: &str = "/app/sw.js";
const WORKER: &[u8] = include_bytes!("../assets/authenticator-sw.js");

/// The texts the script shows, passed to it as `data-t-<key>` attributes (catalog keys
/// `app.js.<key>`).
const SCRIPT_TEXTS: [&str; 15] = [
    "pinformat",
    "pinmismatch",
    "activating",
    "coderefused",
    "toomany",
    "offline",
    "document",
    "pickcode",
    "signing",
    "wrongpin",
    "outcomeapproved",
    "outcomedeclined",
    "outcomeexpired",
    "outcomeblocked",
    "outcomemismatch",
];

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/app", get(|| async { Redirect::permanent(APP_PATH) }))
        .route(APP_PATH, get(page))
        .route(MANIFEST_PATH, get(manifest))
        .route(WORKER_PATH, get(worker))
        .route_layer(axum::middleware::map_response(crate::metrics::tag_pages))
}

#[derive(Template)]
#[template(path = "authenticator/app.html")]
struct AppPage<'a> {
    chrome: &'a Chrome,
    manifest: String,
    worker: &'static str,
    scope: &'static str,
    messages: Vec<(&'static str, &'static str)>,
}

async fn page(headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let lang = Lang::negotiate(query_locale(query.as_deref()).as_deref(), accept_language(&headers));
    let chrome = Chrome::new(
        lang,
        &match &query {
            Some(q) => format!("{APP_PATH}?{q}"),
            None => APP_PATH.to_string(),
        },
    );
    let page = AppPage {
        manifest: format!("{MANIFEST_PATH}?ui_locales={}", lang.code()),
        worker: WORKER_PATH,
        scope: APP_PATH,
        messages: SCRIPT_TEXTS.iter().map(|key| (*key, chrome.t(&format!("app.js.{key}")))).collect(),
        chrome: &chrome,
    };
    pages::render(&page, StatusCode::OK, lang, &[])
}

/// The web app manifest, in the page's language: what the home screen shows.
async fn manifest(RawQuery(query): RawQuery) -> Response {
    let lang = Lang::negotiate(query_locale(query.as_deref()).as_deref(), None);
    let chrome = Chrome::new(lang, APP_PATH);
    let body = json!({
        "name": chrome.t("app.manifest.name"),
        "short_name": chrome.t("layout.product"),
        "description": chrome.t("app.manifest.description"),
        "lang": lang.code(),
        "start_url": format!("{APP_PATH}?ui_locales={}", lang.code()),
        "scope": APP_PATH,
        "display": "standalone",
        "orientation": "portrait",
        "background_color": "#eef2f8",
        "theme_color": "#0b5fff",
        "icons": [
            {"src": chrome.asset("icon-192.png"), "sizes": "192x192", "type": "image/png"},
            {"src": chrome.asset("icon-512.png"), "sizes": "512x512", "type": "image/png"},
            {"src": chrome.asset("logo.svg"), "sizes": "any", "type": "image/svg+xml"},
        ],
    });
    ([(header::CONTENT_TYPE, "application/manifest+json")], body.to_string()).into_response()
}

/// The service worker, from the app's own folder so that its scope is the app.
async fn worker() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        WORKER,
    )
        .into_response()
}
