//! The foundation every browser page stands on (the OIDC login pages, the web
//! authenticator and the self-service portal; the signing pages later): askama templates under
//! `crates/http/templates/` that extend one layout, translations in en, de, fr and it
//! ([`catalog`]), the language choice ([`lang`]), embedded static files ([`assets`]), and
//! one way to answer with a page ([`respond`]) that sets a strict Content-Security-Policy:
//! nothing is loaded from elsewhere, no inline script or style runs.
//!
//! A front end renders a template whose struct holds a [`Chrome`] (the layout's part:
//! language, texts, the language switch) and passes the HTML to [`respond`].

pub mod assets;
pub mod catalog;
pub mod forms;
pub mod lang;
pub mod phone_number;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

pub use lang::Lang;

/// What the layout needs: the language, and the page's URL without its language, for the
/// links that switch language.
pub struct Chrome {
    pub lang: Lang,
    /// The page's path and query, to which `ui_locales=<code>` is appended for each language.
    switch_base: String,
}

impl Chrome {
    /// `path_and_query` is the page's own URL (its `ui_locales` parameter, if any, is
    /// replaced in the switch links).
    pub fn new(lang: Lang, path_and_query: &str) -> Chrome {
        let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
        let kept: Vec<&str> = query.split('&').filter(|p| !p.is_empty() && !p.starts_with("ui_locales=")).collect();
        let switch_base = if kept.is_empty() { format!("{path}?") } else { format!("{path}?{}&", kept.join("&")) };
        Chrome { lang, switch_base }
    }

    /// The text of a key in the page's language.
    pub fn t(&self, key: &str) -> &'static str {
        catalog::text(self.lang, key)
    }

    /// The text of a key with placeholders filled in.
    pub fn tf(&self, key: &str, values: &[(&str, &str)]) -> String {
        catalog::format(self.lang, key, values)
    }

    pub fn asset(&self, name: &str) -> &'static str {
        assets::url(name)
    }

    /// The other languages, with the link that shows this page in each.
    pub fn languages(&self) -> Vec<(Lang, String)> {
        Lang::ALL
            .into_iter()
            .filter(|lang| *lang != self.lang)
            .map(|lang| (lang, format!("{}ui_locales={}", self.switch_base, lang.code())))
            .collect()
    }
}

/// The Content-Security-Policy of every page. `form_targets` are origins a form on the
/// page may lead to (browsers apply `form-action` to the redirect after a POST too).
pub fn content_security_policy(form_targets: &[&str]) -> String {
    let mut form_action = String::from("'self'");
    for target in form_targets {
        form_action.push(' ');
        form_action.push_str(target);
    }
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; \
         manifest-src 'self'; worker-src 'self'; form-action {form_action}; frame-ancestors 'none'; base-uri 'none'"
    )
}

/// A rendered page, with the headers every page gets: the CSP, no caching (pages carry
/// per-session state), no sniffing, no referrer, no framing.
pub fn respond(status: StatusCode, lang: Lang, html: String, form_targets: &[&str]) -> Response {
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    if let Ok(csp) = HeaderValue::from_str(&content_security_policy(form_targets)) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::CONTENT_LANGUAGE, HeaderValue::from_static(lang.code()));
    response
}

/// Renders `template` and answers with it as [`respond`] does; a template that fails to
/// render is logged and answered with 500.
pub fn render(template: &impl askama::Template, status: StatusCode, lang: Lang, form_targets: &[&str]) -> Response {
    match template.render() {
        Ok(html) => respond(status, lang, html, form_targets),
        Err(e) => {
            tracing::error!("rendering a page: {e}");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// The request's `Accept-Language`, if readable.
pub fn accept_language(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok())
}

/// The `ui_locales` parameter of a query string.
pub fn query_locale(query: Option<&str>) -> Option<String> {
    let query = query?;
    form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "ui_locales").map(|(_, v)| v.into_owned())
}

/// The origin (`scheme://host[:port]`) of a URL, for `form-action`.
pub fn origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next()?;
    (!host.is_empty() && matches!(scheme, "http" | "https")).then(|| format!("{scheme}://{host}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_links_keep_the_query_and_replace_ui_locales() {
        let chrome = Chrome::new(Lang::De, "/oidc/login/abc?ui_locales=de&x=1");
        let links = chrome.languages();
        assert_eq!(links.len(), 3);
        assert!(links.contains(&(Lang::Fr, "/oidc/login/abc?x=1&ui_locales=fr".to_string())), "{links:?}");
        let plain = Chrome::new(Lang::En, "/p");
        assert!(plain.languages().contains(&(Lang::It, "/p?ui_locales=it".to_string())));
    }

    #[test]
    fn the_policy_allows_nothing_from_elsewhere() {
        let csp = content_security_policy(&["https://rp.example"]);
        assert!(csp.starts_with("default-src 'none';"));
        assert!(csp.contains("form-action 'self' https://rp.example;"));
        assert!(!csp.contains("unsafe"));
    }

    #[test]
    fn origins() {
        assert_eq!(origin("https://rp.example:8443/cb?x=1").as_deref(), Some("https://rp.example:8443"));
        assert_eq!(origin("javascript:alert(1)"), None);
    }
}
