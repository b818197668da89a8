//! The MSS API's request decoders, SOAP and REST/JSON: the first code that parses a body
//! from a client whose certificate is registered for an AP.
//!
//! Besides "a fault, never a panic", both must decode into the one domain model: whatever
//! a SOAP envelope says, the same request written as JSON decodes to the same engine
//! input, and a JSON request means the same however it is laid out.

use mobileid_core::FaultCode;
use mobileid_engine::mss::messages::{DataInput, FrameInput};
use mobileid_http::mss::{json_in, soap::xml_in, Request};
use roxmltree::{Document, ParsingOptions};
use serde_json::{json, Map, Value};

/// `xml_in`'s documented limits: nodes of any kind (the document node too), nesting depth,
/// and attributes and namespace declarations per element and in all.
const NODES_LIMIT: usize = 5_000;
const DEPTH_LIMIT: usize = 32;
const ATTRIBUTES_PER_ELEMENT: usize = 32;
const ATTRIBUTES_LIMIT: usize = 512;
const NAMESPACES_PER_ELEMENT: usize = 16;
const NAMESPACES_LIMIT: usize = 128;

pub fn soap(data: &[u8]) {
    let request = match xml_in::parse(data) {
        Ok((request, _style)) => request,
        Err(fault) => {
            assert_eq!(fault.code, FaultCode::WrongParam, "{fault:?}");
            return;
        }
    };
    let text = std::str::from_utf8(data).expect("only UTF-8 is accepted");
    // Re-read without limits, to count what the limited parse let through.
    let options = ParsingOptions { nodes_limit: u32::MAX, ..ParsingOptions::default() };
    let document = Document::parse_with_options(text, options).expect("accepted XML is well-formed, without DOCTYPE");
    let nodes = document.descendants().count();
    assert!(nodes <= NODES_LIMIT, "{nodes} nodes accepted");
    // `ancestors` starts at the node itself; the document node is depth 0, as in xml_in.
    let depth = document.descendants().map(|n| n.ancestors().count() - 1).max().unwrap_or(0);
    assert!(depth <= DEPTH_LIMIT, "nesting {depth} deep accepted");
    let elements: Vec<_> = document.descendants().filter(|n| n.is_element()).collect();
    // roxmltree lists declarations apart from attributes; an element's own are those its
    // parent's scope lacks.
    let declared = |n: &roxmltree::Node| {
        let parent_scope: Vec<_> = n.parent_element().map(|p| p.namespaces().collect()).unwrap_or_default();
        n.namespaces().filter(|ns| !parent_scope.contains(ns)).count()
    };
    let per_element = elements.iter().map(|n| n.attributes().len() + declared(n)).max().unwrap_or(0);
    assert!(per_element <= ATTRIBUTES_PER_ELEMENT, "{per_element} attributes on one element accepted");
    let attributes: usize = elements.iter().map(|n| n.attributes().len() + declared(n)).sum();
    assert!(attributes <= ATTRIBUTES_LIMIT, "{attributes} attributes accepted");
    let declared_here = elements.iter().map(declared).max().unwrap_or(0);
    assert!(declared_here <= NAMESPACES_PER_ELEMENT, "{declared_here} namespace declarations on one element accepted");
    let namespaces: usize = elements.iter().map(declared).sum();
    assert!(namespaces <= NAMESPACES_LIMIT, "{namespaces} namespace declarations accepted");

    let as_json = serde_json::to_vec(&to_json(&request)).expect("JSON");
    let from_json = json_in::parse(&as_json).unwrap_or_else(|f| panic!("the JSON form was refused: {f:?}"));
    assert_eq!(describe(&from_json), describe(&request), "SOAP and JSON decode differently");
}

pub fn json(data: &[u8]) {
    let request = match json_in::parse(data) {
        Ok(request) => request,
        Err(fault) => {
            assert_eq!(fault.code, FaultCode::WrongParam, "{fault:?}");
            return;
        }
    };
    let value: Value = serde_json::from_slice(data).expect("accepted JSON parses");
    // Layout does not matter: compact and pretty forms decode alike, and our own rendering
    // of the decoded request decodes to the same input.
    let decode =
        |bytes: &[u8]| json_in::parse(bytes).unwrap_or_else(|f| panic!("{f:?} for {}", String::from_utf8_lossy(bytes)));
    let compact = describe(&decode(&serde_json::to_vec(&value).expect("JSON")));
    let pretty = describe(&decode(&serde_json::to_vec_pretty(&value).expect("JSON")));
    assert_eq!(compact, pretty);
    let rendered = describe(&decode(&serde_json::to_vec(&to_json(&request)).expect("JSON")));
    assert_eq!(rendered, describe(&request));
    // serde_json parses floats to within one unit in the last place by default, so a
    // float's text can change on the way through; strings and integers cannot.
    if !has_float(&value) {
        assert_eq!(compact, describe(&request));
    }
}

fn has_float(value: &Value) -> bool {
    match value {
        Value::Number(n) => n.is_f64(),
        Value::Array(items) => items.iter().any(has_float),
        Value::Object(map) => map.values().any(has_float),
        _ => false,
    }
}

/// The request as a REST client would write it, field for field.
fn to_json(request: &Request) -> Value {
    let (name, message) = match request {
        Request::Signature(input) => {
            let mut m = frame(&input.frame);
            put(&mut m, "MessagingMode", &input.messaging_mode);
            put(&mut m, "TimeOut", &input.timeout);
            put_msisdn(&mut m, &input.msisdn);
            if let Some(dtbd) = &input.data_to_be_signed {
                m.insert("DataToBeSigned".into(), data(dtbd));
            }
            put(&mut m, "SignatureProfile", &input.signature_profile);
            let services: Vec<Value> = input
                .services
                .iter()
                .map(|service| {
                    let mut s = Map::new();
                    put(&mut s, "Description", &service.uri);
                    if let Some(lang) = &service.user_lang {
                        s.insert("UserLang".into(), json!({ "Value": lang }));
                    }
                    if let Some(uri) = &service.redirect_uri {
                        s.insert("App2App".into(), json!({ "RedirectUri": uri }));
                    }
                    Value::Object(s)
                })
                .collect();
            if !services.is_empty() {
                m.insert("AdditionalServices".into(), Value::Array(services));
            }
            ("MSS_SignatureReq", m)
        }
        Request::Status(input) => {
            let mut m = frame(&input.frame);
            put(&mut m, "MSSP_TransID", &input.mssp_trans_id);
            ("MSS_StatusReq", m)
        }
        Request::Receipt(input) => {
            let mut m = frame(&input.frame);
            put(&mut m, "MSSP_TransID", &input.mssp_trans_id);
            put_msisdn(&mut m, &input.msisdn);
            if let Some(message) = &input.message {
                m.insert("Message".into(), data(message));
            }
            if input.wants_user_ack {
                m.insert(
                    "Status".into(),
                    json!({ "StatusDetail": { "ReceiptRequestExtension": { "UserAck": "true" } } }),
                );
            }
            ("MSS_ReceiptReq", m)
        }
        Request::Profile(input) => {
            let mut m = frame(&input.frame);
            put_msisdn(&mut m, &input.msisdn);
            put(&mut m, "Params", &input.params);
            for (name, set) in [
                ("GetCertificates", input.legacy_certificates),
                ("GetAutoActivation", input.legacy_auto_activation),
                ("GetRecoveryCodeCreated", input.legacy_recovery_code),
            ] {
                m.insert(name.into(), Value::Bool(set));
            }
            ("MSS_ProfileReq", m)
        }
    };
    json!({ name: message })
}

fn frame(frame: &FrameInput) -> Map<String, Value> {
    let mut m = Map::new();
    put(&mut m, "MajorVersion", &frame.major_version);
    put(&mut m, "MinorVersion", &frame.minor_version);
    let mut info = Map::new();
    put(&mut info, "AP_ID", &frame.ap_id);
    put(&mut info, "AP_PWD", &frame.ap_pwd);
    put(&mut info, "AP_TransID", &frame.ap_trans_id);
    put(&mut info, "Instant", &frame.instant);
    if !info.is_empty() {
        m.insert("AP_Info".into(), Value::Object(info));
    }
    m
}

fn data(data: &DataInput) -> Value {
    let mut m = Map::new();
    put(&mut m, "MimeType", &data.mime_type);
    put(&mut m, "Encoding", &data.encoding);
    put(&mut m, "Data", &data.data);
    Value::Object(m)
}

fn put_msisdn(m: &mut Map<String, Value>, msisdn: &Option<String>) {
    if let Some(msisdn) = msisdn {
        m.insert("MobileUser".into(), json!({ "MSISDN": msisdn }));
    }
}

fn put(m: &mut Map<String, Value>, name: &str, value: &Option<String>) {
    if let Some(value) = value {
        m.insert(name.into(), Value::String(value.clone()));
    }
}

/// The decoded request in full, for comparing two decodings (the inputs have no `PartialEq`).
fn describe(request: &Request) -> String {
    match request {
        Request::Signature(input) => format!("signature {input:?}"),
        Request::Status(input) => format!("status {input:?}"),
        Request::Receipt(input) => format!("receipt {input:?}"),
        Request::Profile(input) => format!("profile {input:?}"),
    }
}
