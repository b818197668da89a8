//! The pages' static files, embedded in the binary and served from `/assets/`. Their URLs
//! carry a digest of the content (`?v=`), so browsers may keep them for a year and still
//! never run an old script against a new page.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use sha2::{Digest, Sha256};

use crate::AppState;

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const ASSETS: [Asset; 8] = [
    Asset {
        name: "mobileid.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../assets/mobileid.css"),
    },
    Asset {
        name: "mobileid.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../assets/mobileid.js"),
    },
    Asset { name: "logo.svg", content_type: "image/svg+xml", body: include_bytes!("../../assets/logo.svg") },
    Asset {
        name: "authenticator.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../assets/authenticator.js"),
    },
    // The identification pages' capture (camera or file) and their illustration.
    Asset {
        name: "identify.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../assets/identify.js"),
    },
    Asset {
        name: "identify-howto.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("../../assets/identify-howto.svg"),
    },
    // The web authenticator's home-screen icons (the logo, drawn once at these sizes).
    Asset { name: "icon-192.png", content_type: "image/png", body: include_bytes!("../../assets/icon-192.png") },
    Asset { name: "icon-512.png", content_type: "image/png", body: include_bytes!("../../assets/icon-512.png") },
];

/// `name?v=<digest>` for each asset, computed once.
static VERSIONED: LazyLock<Vec<(&'static str, String)>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|asset| {
            (asset.name, format!("/assets/{}?v={}", asset.name, &hex::encode(Sha256::digest(asset.body))[..12]))
        })
        .collect()
});

/// The URL of an embedded asset, with its digest.
pub fn url(name: &str) -> &'static str {
    VERSIONED.iter().find(|(n, _)| *n == name).map(|(_, url)| url.as_str()).unwrap_or("/assets/missing")
}

pub fn router() -> Router<AppState> {
    Router::new().route("/assets/{name}", get(serve))
}

async fn serve(Path(name): Path<String>) -> Response {
    let Some(asset) = ASSETS.iter().find(|a| a.name == name) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mut response = asset.body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}
