//! Document signing on the browser port: the senders' REST API (`api.rs`, described by
//! `openapi/signing.yaml`, served at `/api/docs`), the signers' guest pages
//! (`guest.rs`), and the workers that send the envelopes' e-mails and webhooks
//! (`deliveries.rs`). The rules are the engine's (`signing::envelopes`).

pub mod api;
pub mod deliveries;
pub mod guest;
pub mod timestamp;

use axum::Router;

use crate::AppState;

/// Where a signer's link points: `<browser URL>/sign/<token>`.
pub const SIGN_PATH: &str = "/sign/";

pub fn router() -> Router<AppState> {
    Router::new().merge(api::router()).merge(guest::router())
}

/// A signer's link.
pub fn signer_link(state: &AppState, signer_id: &str) -> String {
    format!("{}{SIGN_PATH}{}", crate::portal::notify::public_url(state), state.engine.signer_link_token(signer_id))
}
