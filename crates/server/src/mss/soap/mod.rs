//! MSS over SOAP 1.2, wire-compatible with the official WSDL and every client style
//! (generated stubs, hand-written envelopes, the AD FS plug-in). The operation comes from
//! the body, never from the path or SOAPAction; any content type is accepted and the
//! answer is always `application/soap+xml;charset=utf-8`. Results are HTTP 200, ETSI
//! faults HTTP 500 with a SOAP 1.2 Fault, as for REST.

mod namespaces;
mod xml_in;
mod xml_out;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use mobileid_core::Fault;

use super::body::read_request;
use super::{dispatch, identity, Outcome};
use crate::listener::Caller;
use crate::routes::AppState;

const SOAP_XML: &str = "application/soap+xml;charset=utf-8";

/// The official WSDL; its endpoint addresses are rewritten for this server when served.
const WSDL: &str = include_str!("../../../wsdl/mobileid.wsdl");
const WSDL_BASE: &str = "https://mobileid.swisscom.com/soap/services/";

/// Every path SOAP clients post to: the WSDL's ports, plus `MSS_ProfileQueryPort`, the
/// Java reference client's default for profile queries.
pub const PATHS: [&str; 5] = [
    "/soap/services/MSS_SignaturePort",
    "/soap/services/MSS_StatusQueryPort",
    "/soap/services/MSS_ReceiptPort",
    "/soap/services/MSS_ProfilePort",
    "/soap/services/MSS_ProfileQueryPort",
];

pub async fn service(State(state): State<AppState>, Extension(caller): Extension<Caller>, body: Body) -> Response {
    let body = match read_request(body, state.config.max_body_bytes).await {
        Ok(body) => body,
        Err(refusal) => {
            return refusal.finish(respond(StatusCode::INTERNAL_SERVER_ERROR, xml_out::fault(&refusal.fault)))
        }
    };
    match answer(&state, &caller, &body).await {
        Ok(xml) => respond(StatusCode::OK, xml),
        Err(fault) => respond(StatusCode::INTERNAL_SERVER_ERROR, xml_out::fault(&fault)),
    }
}

async fn answer(state: &AppState, caller: &Caller, body: &[u8]) -> Result<String, Fault> {
    let identity = identity(caller)?;
    let (request, style) = xml_in::parse(body)?;
    let uri = state.config.mssp_id_uri.as_str();
    Ok(match dispatch(&state.engine, &identity, request).await? {
        Outcome::Signature(outcome) => xml_out::signature(&outcome, &style, uri),
        Outcome::Status(outcome) => xml_out::status_response(&outcome, &style, uri),
        Outcome::Receipt(outcome) => xml_out::receipt(&outcome, &style, uri),
        Outcome::Profile(outcome) => xml_out::profile(&outcome, &style, uri),
    })
}

/// `GET <service path>?wsdl`: the WSDL, with addresses pointing at the host the client used.
pub async fn wsdl(State(state): State<AppState>, uri: Uri, headers: HeaderMap) -> Response {
    if !uri.query().is_some_and(|q| q.eq_ignore_ascii_case("wsdl")) {
        return (StatusCode::METHOD_NOT_ALLOWED, "POST a SOAP 1.2 envelope, or GET ?wsdl").into_response();
    }
    // HTTP/2 carries the host in the URI's authority, HTTP/1.1 in the Host header.
    let host = uri
        .authority()
        .map(|a| a.to_string())
        .or_else(|| headers.get(header::HOST).and_then(|h| h.to_str().ok()).map(str::to_string));
    let base = match host {
        Some(host) => format!("https://{host}"),
        None => state.config.public_url.clone(),
    };
    let wsdl = WSDL.replace(WSDL_BASE, &format!("{base}/soap/services/"));
    ([(header::CONTENT_TYPE, "text/xml;charset=utf-8")], wsdl).into_response()
}

fn respond(status: StatusCode, xml: String) -> Response {
    (status, [(header::CONTENT_TYPE, SOAP_XML)], xml).into_response()
}
