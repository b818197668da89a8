//! MSS over SOAP 1.2, wire-compatible with the official WSDL and every client style
//! (generated stubs, hand-written envelopes, the AD FS plug-in). The operation comes from
//! the body, never from the path or SOAPAction; any content type is accepted and the
//! answer is always `application/soap+xml;charset=utf-8`. Results are HTTP 200, ETSI
//! faults HTTP 500 with a SOAP 1.2 Fault, as for REST.

mod namespaces;
// Public so that the fuzz targets (fuzz/) can reach the parser without a server.
pub mod xml_in;
mod xml_out;

use super::{dispatch, observation, receive, Outcome};
use crate::extract::MssCaller;
use crate::metrics::Observation;
use crate::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;

const FRONT_END: &str = "mss_soap";

const SOAP_XML: &str = "application/soap+xml;charset=utf-8";

/// The official WSDL; its endpoint addresses are rewritten for this server when served.
const WSDL: &str = include_str!("../../../wsdl/mobileid.wsdl");
const WSDL_BASE: &str = "https://mobileid.swisscom.com/soap/services/";

/// Every path SOAP clients post to: the WSDL's ports, plus `MSS_ProfileQueryPort`, the
/// Java reference client's default for profile queries.
const PATHS: [&str; 5] = [
    "/soap/services/MSS_SignaturePort",
    "/soap/services/MSS_StatusQueryPort",
    "/soap/services/MSS_ReceiptPort",
    "/soap/services/MSS_ProfilePort",
    "/soap/services/MSS_ProfileQueryPort",
];

/// Each path with and without a trailing slash; `GET ?wsdl` serves the WSDL.
pub fn router() -> Router<AppState> {
    PATHS.iter().fold(Router::new(), |router, path| {
        let endpoint = post(service).get(wsdl);
        router.route(path, endpoint.clone()).route(&format!("{path}/"), endpoint)
    })
}

async fn service(State(state): State<AppState>, caller: MssCaller, body: Body) -> Response {
    let (identity, (request, style)) = match receive(&state, &caller, body, xml_in::parse).await {
        Ok(received) => received,
        Err(refusal) => {
            let response = respond(StatusCode::INTERNAL_SERVER_ERROR, xml_out::fault(&refusal.fault));
            return observation(FRONT_END, "unknown", Some(&refusal.fault)).attach(refusal.finish(response));
        }
    };
    let operation = request.operation();
    let uri = state.settings.mssp_id_uri.as_str();
    let answer = dispatch(&state, &identity, request).await.map(|outcome| match outcome {
        Outcome::Signature(outcome) => xml_out::signature(&outcome, &style, uri),
        Outcome::Status(outcome) => xml_out::status_response(&outcome, &style, uri),
        Outcome::Receipt(outcome) => xml_out::receipt(&outcome, &style, uri),
        Outcome::Profile(outcome) => xml_out::profile(&outcome, &style, uri),
    });
    let seen = observation(FRONT_END, operation, answer.as_ref().err());
    seen.attach(match answer {
        Ok(xml) => respond(StatusCode::OK, xml),
        Err(fault) => respond(StatusCode::INTERNAL_SERVER_ERROR, xml_out::fault(&fault)),
    })
}

/// `GET <service path>?wsdl`: the WSDL, with addresses pointing at the host the client used.
async fn wsdl(State(state): State<AppState>, uri: Uri, headers: HeaderMap) -> Response {
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
        None => state.settings.public_url.clone(),
    };
    let wsdl = WSDL.replace(WSDL_BASE, &format!("{base}/soap/services/"));
    let response = ([(header::CONTENT_TYPE, "text/xml;charset=utf-8")], wsdl).into_response();
    Observation::new(FRONT_END, "wsdl", "ok".to_string()).attach(response)
}

fn respond(status: StatusCode, xml: String) -> Response {
    (status, [(header::CONTENT_TYPE, SOAP_XML)], xml).into_response()
}
