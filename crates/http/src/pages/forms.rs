//! What pages with forms share (the portal, the signers' pages): the referrer policy that
//! lets a form's `Origin` be checked, the refusal of a form posted from another site, the
//! redirect after a POST, and the plain answer to an internal error.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use super::{render, Lang};
use crate::AppState;

/// A page rendered as [`render`] does, with the referrer policy `same-origin` instead of
/// `no-referrer`: with that, browsers send `Origin: null` on the page's forms, and the
/// origin check needs the real one.
pub fn render_form_page(template: &impl askama::Template, status: StatusCode, lang: Lang) -> Response {
    let mut response = render(template, status, lang, &[]);
    response.headers_mut().insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    response
}

/// The refusal of a POST whose `Origin` is another site's (browsers send it with every
/// POST).
pub fn refuse_foreign(state: &AppState, headers: &HeaderMap) -> Option<Response> {
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok())?;
    if Some(origin) == super::origin(state.engine.oidc_issuer()).as_deref() {
        return None;
    }
    tracing::warn!(origin = %mobileid_core::clip::Clipped(origin), "form POST from another origin");
    Some((StatusCode::FORBIDDEN, "This form was sent from another site.").into_response())
}

/// A redirect after a POST (303), never cached.
pub fn see_other(location: &str) -> Response {
    let mut response = Redirect::to(location).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A plain 500, with the cause in the log only.
pub fn internal(error: &dyn std::fmt::Display) -> Response {
    tracing::error!("page: {error}");
    (StatusCode::INTERNAL_SERVER_ERROR, "An internal error occurred. Please try again later.").into_response()
}
