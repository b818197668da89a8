//! MSS over JSON ("REST"): `/rest/service` and `/rest/service/{sign,status,receipt,profile}`
//! all dispatch on the body's root key. Results are HTTP 200, ETSI faults HTTP 500 with a
//! `Fault` body: clients depend on exactly that split.

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::Value;

use super::json_in;
use super::{dispatch, json_out, observation, receive, Outcome};
use crate::extract::MssCaller;
use crate::AppState;

const FRONT_END: &str = "mss_rest";

const JSON: &str = "application/json;charset=UTF-8";

/// The MSS REST paths clients use: the legacy single endpoint and the per-operation ones,
/// each with and without a trailing slash. All dispatch on the body.
const PATHS: [&str; 10] = [
    "/rest/service",
    "/rest/service/",
    "/rest/service/sign",
    "/rest/service/sign/",
    "/rest/service/status",
    "/rest/service/status/",
    "/rest/service/receipt",
    "/rest/service/receipt/",
    "/rest/service/profile",
    "/rest/service/profile/",
];

pub fn router() -> Router<AppState> {
    PATHS.iter().fold(Router::new(), |router, path| router.route(path, post(service)))
}

async fn service(State(state): State<AppState>, caller: MssCaller, body: Body) -> Response {
    let (identity, request) = match receive(&state, &caller, body, json_in::parse).await {
        Ok(received) => received,
        Err(refusal) => {
            let response = respond(StatusCode::INTERNAL_SERVER_ERROR, &json_out::fault(&refusal.fault));
            return observation(FRONT_END, "unknown", Some(&refusal.fault)).attach(refusal.finish(response));
        }
    };
    let operation = request.operation();
    let uri = state.settings.mssp_id_uri.as_str();
    let answer = dispatch(&state, &identity, request).await.map(|outcome| match outcome {
        Outcome::Signature(outcome) => json_out::signature(&outcome, uri),
        Outcome::Status(outcome) => json_out::status_response(&outcome, uri),
        Outcome::Receipt(outcome) => json_out::receipt(&outcome, uri),
        Outcome::Profile(outcome) => json_out::profile(&outcome, uri),
    });
    let seen = observation(FRONT_END, operation, answer.as_ref().err());
    seen.attach(match answer {
        Ok(value) => respond(StatusCode::OK, &value),
        Err(fault) => respond(StatusCode::INTERNAL_SERVER_ERROR, &json_out::fault(&fault)),
    })
}

fn respond(status: StatusCode, value: &Value) -> Response {
    (status, [(header::CONTENT_TYPE, JSON)], value.to_string()).into_response()
}
