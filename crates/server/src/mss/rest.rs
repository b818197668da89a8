//! MSS over JSON ("REST"): `/rest/service` and `/rest/service/{sign,status,receipt,profile}`
//! all dispatch on the body's root key. Results are HTTP 200, ETSI faults HTTP 500 with a
//! `Fault` body: clients depend on exactly that split.

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use mobileid_core::Fault;
use serde_json::Value;

use super::body::{read_limited, BodyError};
use super::json_in::{self, Request};
use super::{identity, json_out};
use crate::listener::Caller;
use crate::routes::AppState;

const JSON: &str = "application/json;charset=UTF-8";

pub async fn service(State(state): State<AppState>, Extension(caller): Extension<Caller>, body: Body) -> Response {
    let limit = state.config.max_body_bytes;
    let body = match read_limited(body, limit).await {
        Ok(body) => body,
        Err(BodyError::TooLarge { drained }) => {
            let fault = Fault::wrong_param(format!("The request body is larger than the limit of {limit} bytes"));
            let mut response = respond(StatusCode::INTERNAL_SERVER_ERROR, &json_out::fault(&fault));
            if !drained {
                // Part of the body is still unread: this connection cannot carry another request.
                response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            return response;
        }
        Err(BodyError::Unreadable(why)) => {
            let fault = Fault::wrong_param(format!("The request body could not be read: {why}"));
            return respond(StatusCode::INTERNAL_SERVER_ERROR, &json_out::fault(&fault));
        }
    };
    match answer(&state, &caller, &body).await {
        Ok(value) => respond(StatusCode::OK, &value),
        Err(fault) => respond(StatusCode::INTERNAL_SERVER_ERROR, &json_out::fault(&fault)),
    }
}

async fn answer(state: &AppState, caller: &Caller, body: &[u8]) -> Result<Value, Fault> {
    let identity = identity(caller)?;
    let engine = &state.engine;
    let uri = state.config.mssp_id_uri.as_str();
    Ok(match json_in::parse(body)? {
        Request::Signature(input) => json_out::signature(&engine.sign(&identity, input).await?, uri),
        Request::Status(input) => json_out::status_response(&engine.status(&identity, input).await?, uri),
        Request::Receipt(input) => json_out::receipt(&engine.receipt(&identity, input).await?, uri),
        Request::Profile(input) => json_out::profile(&engine.profile(&identity, input).await?, uri),
    })
}

fn respond(status: StatusCode, value: &Value) -> Response {
    (status, [(header::CONTENT_TYPE, JSON)], value.to_string()).into_response()
}
