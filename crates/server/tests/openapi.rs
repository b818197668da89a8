//! Our real REST answers, validated against Swisscom's OpenAPI description of the MSS REST
//! API (`spec/mobileid.yaml`): each answer against the response
//! schema of its path and HTTP status, with every `format` checked.
//!
//! The spec is OpenAPI 3.0, whose schemas are a dialect of JSON Schema draft 4 (`nullable`
//! and `example` are extra keywords a draft-4 validator ignores; our answers never hold
//! `null`). A validator is built for the whole spec document with a `$ref` to the JSON pointer
//! of the response schema, so the spec's own `#/components/...` references resolve.
//!
//! Where the spec contradicts the wire contract, the contract wins, and the deviation is
//! written down here and checked to be the only one:
//! - `X509SubjectName` items say `format: byte` (base64), but real profile answers carry the
//!   plain lower-cased RFC 2253 subject (contract §5.4, [OBS]). That one `format` is removed;
//!   the names are still validated as strings, and their form is checked by mss_operations.rs.
//! - The profile answer's schema only allows MajorVersion "2"/MinorVersion "0"; a legacy v1.1
//!   query is answered with "1"/"1" (contract §2.1, [OBS]). A v1.1 answer is checked to
//!   violate the spec in exactly those two places and nowhere else.

mod support;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use jsonschema::{Draft, Validator};
use serde_json::{json, Value};
use support::*;

const SPEC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../spec/mobileid.yaml");
const SUBJECT_NAMES: &str = "/components/schemas/MobileUserCertificate/properties/X509SubjectName/items";
const USER: &str = "+41791234567";

/// `format: byte` is base64 (OpenAPI 3.0, RFC 4648 with padding).
fn is_base64(text: &str) -> bool {
    !text.is_empty() && STANDARD.decode(text).is_ok()
}

/// The spec as a JSON document.
fn spec_as_published() -> Value {
    let text = std::fs::read_to_string(SPEC).unwrap_or_else(|e| panic!("{SPEC}: {e}"));
    let yaml: serde_yaml::Value = serde_yaml::from_str(&text).expect("the spec is YAML");
    serde_json::to_value(yaml).expect("the spec maps to JSON")
}

/// The spec with the one deviation the contract documents (see the module comment).
fn spec_per_contract() -> Value {
    let mut spec = spec_as_published();
    let names = spec.pointer_mut(SUBJECT_NAMES).expect("X509SubjectName items in the spec");
    assert_eq!(names["format"], "byte", "the spec changed; re-check the documented deviation");
    names.as_object_mut().unwrap().remove("format");
    spec
}

/// A validator for the response schema of POST `path` with HTTP `status`.
fn response_schema(spec: &Value, path: &str, status: u16) -> Validator {
    let pointer =
        format!("/paths/{}/post/responses/{status}/content/application~1json/schema", path.replace('/', "~1"));
    assert!(spec.pointer(&pointer).is_some(), "the spec has no schema at {pointer}");
    let mut root = spec.clone();
    root["$ref"] = json!(format!("#{pointer}"));
    jsonschema::options()
        .with_draft(Draft::Draft4)
        .should_validate_formats(true)
        // Every format the spec uses must be checked; an unknown one is an error, not a pass.
        .should_ignore_unknown_formats(false)
        .with_format("byte", is_base64)
        .build(&root)
        .unwrap_or_else(|e| panic!("schema at {pointer}: {e}"))
}

/// Where `body` breaks the schema: "<instance path>: <error>" per violation.
fn violations(spec: &Value, path: &str, status: u16, body: &Value) -> Vec<String> {
    let validator = response_schema(spec, path, status);
    let errors: Vec<String> = validator.iter_errors(body).map(|e| format!("{}: {e}", e.instance_path)).collect();
    errors
}

/// Checks an answer against the spec for its path and HTTP status.
fn assert_valid(spec: &Value, path: &str, status: u16, body: &Value) {
    let errors = violations(spec, path, status, body);
    assert!(errors.is_empty(), "POST {path} answered {status} against the spec: {errors:#?}\n{body}");
}

/// POSTs to the per-operation path and validates the answer against that path's schema.
async fn checked(server: &TestServer, spec: &Value, path: &str, expected_status: u16, body: &Value) -> Value {
    let (status, answer) = server.post(path, body).await;
    assert_eq!(status, expected_status, "POST {path}: {answer}");
    assert_valid(spec, path, status, &answer);
    answer
}

/// The validator is not vacuous: wrong types, values outside an enum, missing required
/// fields and bad base64 are caught.
#[test]
fn the_validator_catches_wrong_answers() {
    let spec = spec_per_contract();
    let good = json!({"MSS_SignatureResp": {
        "AP_Info": {"AP_ID": "mid://x", "AP_TransID": "ID-1", "Instant": "2025-05-01T08:00:00.000Z"},
        "MSSP_Info": {"Instant": "2025-05-01T08:00:14.207Z", "MSSP_ID": {"URI": "http://mid.swisscom.ch/"}},
        "MSSP_TransID": "HEhm77lu", "MSS_Signature": {"Base64Signature": "MIAGCSqGSIb3DQEHAqCA"},
        "MajorVersion": "1", "MinorVersion": "1", "MobileUser": {"MSISDN": "+41791234567"},
        "SignatureProfile": "http://mid.swisscom.ch/STK-LoA4",
        "Status": {"StatusCode": {"Value": "500"}, "StatusMessage": "SIGNATURE"}}});
    assert_valid(&spec, "/rest/service/sign", 200, &good);
    let broken: [(&str, Value); 6] = [
        ("/MSS_SignatureResp/Status/StatusCode/Value", json!(500)),
        ("/MSS_SignatureResp/MajorVersion", json!("2")),
        ("/MSS_SignatureResp/SignatureProfile", json!("http://mid.swisscom.ch/Nope")),
        ("/MSS_SignatureResp/MSS_Signature/Base64Signature", json!("not base64!")),
        ("/MSS_SignatureResp/AP_Info/Instant", json!("yesterday")),
        ("/MSS_SignatureResp/MSSP_Info", json!({"MSSP_ID": {"URI": "http://mid.swisscom.ch/"}})),
    ];
    for (pointer, value) in broken {
        let mut body = good.clone();
        *body.pointer_mut(pointer).unwrap() = value;
        let errors = violations(&spec, "/rest/service/sign", 200, &body);
        assert!(!errors.is_empty(), "{pointer} = {} passed", body.pointer(pointer).unwrap());
    }
}

/// The published spec calls subject names base64; real answers (and ours) are plain text.
#[test]
fn the_published_spec_rejects_plain_subject_names() {
    let body = json!({"MSS_ProfileResp": {"Status": {"StatusDetail": {"ProfileQueryExtension": {"Sscds": {"App": [{
        "MobileUserCertificate": [{"Algorithm": "EC", "State": "ACTIVE", "X509Certificate": ["MIIB"],
            "X509SubjectName": ["cn=midche0000000000:pn,serialnumber=midche0000000000"]}]}]}}}}}});
    let errors = violations(&spec_as_published(), "/rest/service/profile", 200, &body);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(errors[0].contains("X509SubjectName/0"), "{errors:#?}");
    assert_valid(&spec_per_contract(), "/rest/service/profile", 200, &body);
}

on_both_databases! {
    /// Signature answers: sync (robot, with geofencing and #validate), async
    /// acknowledgements (with and without App2App), and faults.
    async fn signature_answers_match_the_spec(server) {
        let spec = spec_per_contract();
        let _phone = server.phone(USER).await;
        let path = "/rest/service/sign";
        let services = json!([
            {"Description": "http://mss.ficom.fi/TS102204/v1.0.0#userLang", "UserLang": {"Value": "en"}},
            {"Description": "http://mid.swisscom.ch/as#geofencing"}]);
        for msisdn in [ROBOT_EC, ROBOT_RSA] {
            let mut request = signature_request(msisdn, "Demo: Spec?", "synch");
            request["MSS_SignatureReq"]["AdditionalServices"] = services.clone();
            let answer = checked(server, &spec, path, 200, &request).await;
            assert!(answer["MSS_SignatureResp"]["ServiceResponses"].is_array(), "{answer}");
        }
        let mut request = signature_request(ROBOT_EC, "Demo: Validate?", "synch");
        request["MSS_SignatureReq"]["AdditionalServices"] = json!([{"Description": "http://uri.etsi.org/TS102204/v1.1.2#validate"}]);
        let answer = checked(server, &spec, path, 200, &request).await;
        assert_eq!(answer["MSS_SignatureResp"]["Status"]["StatusCode"]["Value"], "502");

        checked(server, &spec, path, 200, &signature_request(USER, "Demo: Async?", "asynch")).await;
        let mut request = signature_request(USER, "Demo: App2App?", "asynch");
        request["MSS_SignatureReq"]["SignatureProfile"] = json!("http://mid.swisscom.ch/Device-LoA4");
        request["MSS_SignatureReq"]["AdditionalServices"] =
            json!([{"Description": "http://mid.swisscom.ch/as#app2app", "App2App": {"RedirectUri": "myapp://done"}}]);
        let answer = checked(server, &spec, path, 200, &request).await;
        assert!(answer["MSS_SignatureResp"]["ServiceResponses"][0]["App2App"].is_object(), "{answer}");

        for msisdn in ["+41799999999", "+4179abcdef", "+41000092401"] {
            checked(server, &spec, path, 500, &signature_request(msisdn, "Demo: Fault?", "synch")).await;
        }
    }
}

on_both_databases! {
    /// Status answers: 504 pending, 500 and 502 done, and faults.
    async fn status_answers_match_the_spec(server) {
        let spec = spec_per_contract();
        let _phone = server.phone(USER).await;
        let path = "/rest/service/status";
        let (_, ack) = server.post("/rest/service/sign", &signature_request(USER, "Demo: Pending?", "asynch")).await;
        let pending = ack["MSS_SignatureResp"]["MSSP_TransID"].as_str().unwrap().to_string();
        let answer = checked(server, &spec, path, 200, &status_request(&pending)).await;
        assert_eq!(answer["MSS_StatusResp"]["Status"]["StatusCode"]["Value"], "504");

        let mut request = signature_request(ROBOT_EC, "Demo: Done?", "asynch");
        request["MSS_SignatureReq"]["AdditionalServices"] = json!([
            {"Description": "http://mid.swisscom.ch/as#geofencing"},
            {"Description": "http://uri.etsi.org/TS102204/v1.1.2#validate"}]);
        let (_, ack) = server.post("/rest/service/sign", &request).await;
        let done = ack["MSS_SignatureResp"]["MSSP_TransID"].as_str().unwrap().to_string();
        let answer = checked(server, &spec, path, 200, &status_request(&done)).await;
        assert_eq!(answer["MSS_StatusResp"]["Status"]["StatusCode"]["Value"], "502");
        let (_, ack) = server.post("/rest/service/sign", &signature_request(ROBOT_RSA, "Demo: Done?", "asynch")).await;
        let done = ack["MSS_SignatureResp"]["MSSP_TransID"].as_str().unwrap().to_string();
        let answer = checked(server, &spec, path, 200, &status_request(&done)).await;
        assert_eq!(answer["MSS_StatusResp"]["Status"]["StatusCode"]["Value"], "500");

        // A phone that reported where it was: the geofencing answer with its data.
        let mut phone = server.phone("+41797770001").await;
        phone.set_location(Some(mobileid_core::device_api::DeviceLocation {
            country: "CH".into(),
            accuracy: 16.0,
            device_confidence: 1.0,
            location_confidence: 0.8,
        }));
        let mut request = signature_request("+41797770001", "Demo: Where?", "asynch");
        request["MSS_SignatureReq"]["AdditionalServices"] = json!([{"Description": "http://mid.swisscom.ch/as#geofencing"}]);
        let (_, ack) = server.post("/rest/service/sign", &request).await;
        let located = ack["MSS_SignatureResp"]["MSSP_TransID"].as_str().unwrap().to_string();
        approve_next(&mut phone).await;
        let answer = checked(server, &spec, path, 200, &status_request(&located)).await;
        assert_eq!(answer["MSS_StatusResp"]["ServiceResponses"][0]["Geofencing"]["Country"], "CH", "{answer}");

        let (_, ack) = server.post("/rest/service/sign", &signature_request("+41000092401", "Demo: Late?", "asynch")).await;
        let late = ack["MSS_SignatureResp"]["MSSP_TransID"].as_str().unwrap().to_string();
        checked(server, &spec, path, 500, &status_request(&late)).await;
        checked(server, &spec, path, 500, &status_request("Hunknown1234")).await;
    }
}

on_both_databases! {
    /// Receipt answers: plain, with the UserAck extension (robot and App user), and faults.
    async fn receipt_answers_match_the_spec(server) {
        let spec = spec_per_contract();
        let mut phone = server.phone(USER).await;
        let path = "/rest/service/receipt";
        for (msisdn, user_ack) in [(ROBOT_EC, false), (ROBOT_EC, true), (ROBOT_RSA, true)] {
            let (_, ack) = server.post("/rest/service/sign", &signature_request(msisdn, "Demo: Receipt?", "asynch")).await;
            let id = ack["MSS_SignatureResp"]["MSSP_TransID"].as_str().unwrap().to_string();
            let answer = checked(server, &spec, path, 200, &receipt_request(&id, msisdn, "Demo: OK", user_ack)).await;
            assert_eq!(answer["MSS_ReceiptResp"]["Status"]["StatusDetail"].is_object(), user_ack, "{answer}");
            checked(server, &spec, path, 500, &receipt_request(&id, msisdn, "Demo: Twice", false)).await;
        }
        let (_, ack) = server.post("/rest/service/sign", &signature_request(USER, "Demo: Receipt?", "asynch")).await;
        let id = ack["MSS_SignatureResp"]["MSSP_TransID"].as_str().unwrap().to_string();
        approve_next(&mut phone).await;
        let answer = checked(server, &spec, path, 200, &receipt_request(&id, USER, "Demo: OK", true)).await;
        assert_eq!(answer["MSS_ReceiptResp"]["Status"]["StatusDetail"]["ReceiptResponseExtension"]["UserAck"], "false");
        checked(server, &spec, path, 500, &receipt_request("Hunknown1234", USER, "Demo: OK", false)).await;
    }
}

on_both_databases! {
    /// Profile answers v2.0 with every Params token (App user, EC and RSA robots), without
    /// Params, and faults; a legacy v1.1 answer differs from the spec only in its versions.
    async fn profile_answers_match_the_spec(server) {
        let spec = spec_per_contract();
        let _phone = server.phone(USER).await;
        let path = "/rest/service/profile";
        let params = "sscds state certs pinstatus rcstatus aastatus carddetails";
        for msisdn in [USER, ROBOT_EC, ROBOT_RSA] {
            let answer = checked(server, &spec, path, 200, &profile_request(msisdn, Some(params))).await;
            let sscds = &answer["MSS_ProfileResp"]["Status"]["StatusDetail"]["ProfileQueryExtension"]["Sscds"];
            assert!(sscds.is_object(), "{answer}");
            checked(server, &spec, path, 200, &profile_request(msisdn, None)).await;
        }
        for msisdn in ["+41799999999", "+4179abcdef", "+41000092401"] {
            checked(server, &spec, path, 500, &profile_request(msisdn, None)).await;
        }
        server.activation_code("+41791111111");
        checked(server, &spec, path, 500, &profile_request("+41791111111", None)).await;

        let mut legacy = profile_request(USER, None);
        legacy["MSS_ProfileReq"]["MajorVersion"] = json!("1");
        legacy["MSS_ProfileReq"]["MinorVersion"] = json!("1");
        let (status, mut answer) = server.post(path, &legacy).await;
        assert_eq!(status, 200, "{answer}");
        let mut errors = violations(&spec, path, 200, &answer);
        errors.sort();
        assert_eq!(errors.len(), 2, "{errors:#?}");
        assert!(errors[0].starts_with("/MSS_ProfileResp/MajorVersion: "), "{errors:#?}");
        assert!(errors[1].starts_with("/MSS_ProfileResp/MinorVersion: "), "{errors:#?}");
        answer["MSS_ProfileResp"]["MajorVersion"] = json!("2");
        answer["MSS_ProfileResp"]["MinorVersion"] = json!("0");
        assert_valid(&spec, path, 200, &answer);
    }
}
