//! MSS over JSON ("REST"): `/rest/service` and `/rest/service/{sign,status,receipt,profile}`
//! all dispatch on the body's root key. Results are HTTP 200, ETSI faults HTTP 500 with a
//! `Fault` body: clients depend on exactly that split.

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use mobileid_core::Fault;
use serde_json::Value;

use super::body::read_request;
use super::json_in;
use super::{dispatch, identity, json_out, Outcome};
use crate::listener::Caller;
use crate::routes::AppState;

const JSON: &str = "application/json;charset=UTF-8";

pub async fn service(State(state): State<AppState>, Extension(caller): Extension<Caller>, body: Body) -> Response {
    let body = match read_request(body, state.config.max_body_bytes).await {
        Ok(body) => body,
        Err(refusal) => {
            return refusal.finish(respond(StatusCode::INTERNAL_SERVER_ERROR, &json_out::fault(&refusal.fault)))
        }
    };
    match answer(&state, &caller, &body).await {
        Ok(value) => respond(StatusCode::OK, &value),
        Err(fault) => respond(StatusCode::INTERNAL_SERVER_ERROR, &json_out::fault(&fault)),
    }
}

async fn answer(state: &AppState, caller: &Caller, body: &[u8]) -> Result<Value, Fault> {
    let identity = identity(caller)?;
    let request = json_in::parse(body)?;
    let uri = state.config.mssp_id_uri.as_str();
    Ok(match dispatch(&state.engine, &identity, request).await? {
        Outcome::Signature(outcome) => json_out::signature(&outcome, uri),
        Outcome::Status(outcome) => json_out::status_response(&outcome, uri),
        Outcome::Receipt(outcome) => json_out::receipt(&outcome, uri),
        Outcome::Profile(outcome) => json_out::profile(&outcome, uri),
    })
}

fn respond(status: StatusCode, value: &Value) -> Response {
    (status, [(header::CONTENT_TYPE, JSON)], value.to_string()).into_response()
}
