//! Bad MSS requests over REST: each gets the ETSI fault the contract defines (HTTP 500, a
//! JSON `Fault` with SubCode `_NNN`, the exact Reason and a Detail that says what is wrong),
//! and changes nothing: the user's phone shows nothing, and a valid request still works.

mod support;

use std::time::{Duration, Instant};

use mobileid_phone::Phone;
use serde_json::{json, Value};
use support::*;

/// The 108 Detail, verbatim from the contract.
const VERSIONS_DETAIL: &str =
    "The minor version and/or major version parameters are inappropriate for the receiver of the message.";

/// An ordinary App user of these tests.
const USER: &str = "+41791234567";

/// The Reason of each fault code (contract §10.2).
fn reason(code: u16) -> &'static str {
    match code {
        101 => "WRONG_PARAM",
        102 => "MISSING_PARAM",
        103 => "WRONG_DATA_LENGTH",
        104 => "UNAUTHORIZED_ACCESS",
        105 => "UNKNOWN_CLIENT",
        107 => "INAPPROPRIATE_DATA",
        108 => "INCOMPATIBLE_INTERFACE",
        109 => "UNSUPPORTED_PROFILE",
        208 => "EXPIRED_TRANSACTION",
        209 => "OTA_ERROR",
        401 => "USER_CANCEL",
        402 => "PIN_NR_BLOCKED",
        403 => "CARD_BLOCKED",
        404 => "NO_KEY_FOUND",
        406 => "PB_SIGNATURE_PROCESS",
        422 => "NO_CERT_FOUND",
        900 => "INTERNAL_ERROR",
        other => panic!("no fault code {other} in the contract"),
    }
}

/// The Detail texts the contract documents (or saw in production) for each code (§10.2).
fn documented_details(code: u16) -> &'static [&'static str] {
    match code {
        101 => &[
            "Illegal msisdn",
            "There is no such transaction.",
            "Receipt already sent for this transaction. Only one receipt allowed per transaction.",
            "Error among the arguments of the request",
        ],
        102 => &["An argument in the request is missing"],
        103 => &["The DataToBeSigned are too large. Limitations are due to the Mobile Signature technology implemented by the MSSP."],
        104 => &[
            "Wrong SSL credentials",
            "The AP is unknown, or the client authentication failed, or the AP asks for an additional service for which it has not subscribed.",
        ],
        105 => &["MSISDN is unknown", "Unknown or inactive user"],
        107 => &["DTBD matching failed"],
        108 => &["The minor version and/or major version parameters are inappropriate for the receiver of the message."],
        109 => &["The user does not support this Mobile Signature Profile"],
        208 => &[
            "Timed out waiting for an answer from user.",
            "Original request timed out.",
            "Transaction Expiry date has been reached or Time out has lapsed.",
        ],
        209 => &["The MSSP has not succeeded to contact the end-user's mobile equipment Bad connection...)"],
        401 => &["User cancelled the request", "User Cancelled the request"],
        402 => &["PIN of the mobile user is blocked"],
        403 => &["Mobile user account has state INACTIVE or no SIM assigned"],
        404 => &["Mobile user account needs to be activated", "Mobile user account has state REGISTERED"],
        406 => &["Signature request already in progress."],
        422 => &["Certificate is expired"],
        900 => &["Unknown Error"],
        other => panic!("no fault code {other} in the contract"),
    }
}

/// Checks a fault answer: HTTP 500, SubCode `_code` in the ETSI namespace, the contract's
/// Reason and Sender/Receiver split, and a Detail that contains `detail_part`.
fn assert_fault(status: u16, body: &Value, code: u16, detail_part: &str) -> String {
    assert_eq!(status, 500, "expected fault {code}, got HTTP {status}: {body}");
    assert_eq!(fault_code(body), code, "{body}");
    let fault = &body["Fault"];
    assert_eq!(fault["Reason"], reason(code), "{body}");
    assert_eq!(fault["Code"]["Value"], if code < 200 { "Sender" } else { "Receiver" }, "{body}");
    assert_eq!(fault["Code"]["ValueNs"], "http://www.w3.org/2003/05/soap-envelope", "{body}");
    assert_eq!(fault["Code"]["SubCode"]["ValueNs"], "http://uri.etsi.org/TS102204/v1.1.2#", "{body}");
    let detail = fault_detail(body);
    assert!(detail.contains(detail_part), "fault {code}: Detail {detail:?} should mention {detail_part:?}");
    detail
}

/// POSTs `body` as the demo AP and checks the fault.
async fn expect_fault(server: &TestServer, body: &Value, code: u16, detail_part: &str) -> String {
    let (status, answer) = server.post("/rest/service", body).await;
    assert_fault(status, &answer, code, detail_part)
}

/// POSTs raw bytes as the demo AP and checks the fault (and that it is JSON with our Content-Type).
async fn expect_raw_fault(server: &TestServer, body: &str, code: u16, detail_part: &str) -> String {
    let url = format!("{}/rest/service", server.base);
    let headers = [("Content-Type", "application/json;charset=UTF-8")];
    let (status, content_type, text) = post_raw(&server.ap, &url, &headers, body.to_string()).await;
    assert_eq!(content_type, "application/json;charset=UTF-8");
    let answer: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
    assert_fault(status, &answer, code, detail_part)
}

/// The phone shows nothing: no request and no receipt reached it.
async fn assert_inbox_empty(phone: &Phone) {
    let inbox = phone.inbox(Duration::ZERO).await.expect("inbox");
    assert!(inbox.requests.is_empty(), "a refused request reached the phone: {:?}", inbox.requests);
    assert!(inbox.receipts.is_empty(), "a receipt reached the phone: {:?}", inbox.receipts);
}

/// A valid request still goes through end to end, and it is the only one the phone shows.
async fn assert_still_signs(server: &TestServer, phone: &mut Phone, msisdn: &str) {
    let text = "Demo: Still working?";
    let (status, body) = server.post("/rest/service/sign", &signature_request(msisdn, text, "asynch")).await;
    assert_eq!(status, 200, "{body}");
    let id = body["MSS_SignatureResp"]["MSSP_TransID"].as_str().expect("MSSP_TransID").to_string();
    let shown = approve_next(phone).await;
    assert_eq!(shown.data, text, "the phone showed another request first");
    let (status, body) = server.post("/rest/service/status", &status_request(&id)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["MSS_StatusResp"]["Status"]["StatusCode"]["Value"], "500", "{body}");
}

/// A valid signature request to `msisdn` with `field` of MSS_SignatureReq replaced.
fn signature_with(msisdn: &str, field: &str, value: Value) -> Value {
    let mut body = signature_request(msisdn, "Demo: Log in?", "synch");
    body["MSS_SignatureReq"][field] = value;
    body
}

fn signature_without(msisdn: &str, path: &[&str]) -> Value {
    let mut body = signature_request(msisdn, "Demo: Log in?", "synch");
    let (last, parents) = path.split_last().expect("path");
    let mut node = &mut body["MSS_SignatureReq"];
    for name in parents {
        node = &mut node[*name];
    }
    node.as_object_mut().expect("object").remove(*last).expect("field present");
    body
}

fn status_code(body: &Value, message: &str) -> String {
    body[message]["Status"]["StatusCode"]["Value"].as_str().unwrap_or_default().to_string()
}

on_both_databases! {
    /// Bodies that are not one well-formed MSS message, or have a wrong type where an object
    /// or string belongs, get 101 naming the problem.
    async fn malformed_json_and_wrong_types_are_wrong_param(server) {
        let mut phone = server.phone(USER).await;
        expect_raw_fault(server, r#"{"MSS_SignatureReq": {"#, 101, "not valid JSON").await;
        expect_raw_fault(server, "[]", 101, "JSON object").await;
        expect_raw_fault(server, r#"{"MSS_StatusReq":{},"MSS_ReceiptReq":{}}"#, 101, "exactly one root key").await;
        expect_raw_fault(server, r#"{"MSS_FooReq":{}}"#, 101, "MSS_FooReq").await;
        expect_fault(server, &signature_with(USER, "MobileUser", json!(USER)), 101, "MobileUser").await;
        expect_fault(server, &signature_with(USER, "MobileUser", json!({"MSISDN": [USER]})), 101, "MSISDN").await;
        let services = json!({"Description": "http://mss.ficom.fi/TS102204/v1.0.0#userLang", "UserLang": {"Value": "en"}});
        expect_fault(server, &signature_with(USER, "AdditionalServices", services), 101, "AdditionalServices").await;
        assert_inbox_empty(&phone).await;
        assert_still_signs(server, &mut phone, USER).await;
    }
}

on_both_databases! {
    /// Each mandatory field of a signature request, when missing, is a 102 that names it.
    async fn missing_fields_are_missing_param(server) {
        let mut phone = server.phone(USER).await;
        let cases: [(&[&str], &str); 5] = [
            (&["AP_Info", "AP_TransID"], "AP_TransID"),
            (&["AP_Info", "Instant"], "Instant"),
            (&["MessagingMode"], "MessagingMode"),
            (&["MobileUser", "MSISDN"], "MSISDN"),
            (&["DataToBeSigned"], "DataToBeSigned"),
        ];
        for (path, name) in cases {
            expect_fault(server, &signature_without(USER, path), 102, name).await;
        }
        expect_fault(server, &signature_without(USER, &["MobileUser"]), 102, "MSISDN").await;
        assert_inbox_empty(&phone).await;
        assert_still_signs(server, &mut phone, USER).await;
    }
}

on_both_databases! {
    /// Versions: signature and status take 1/1 and 1/2 only; a profile query takes 2/0 and 1/1
    /// but not 1/2; anything else is 108.
    async fn wrong_versions_are_incompatible_interface(server) {
        let mut phone = server.phone(USER).await;
        let text = VERSIONS_DETAIL;
        for (major, minor) in [("3", "0"), ("2", "0"), ("1", "0"), ("1", "3")] {
            let mut body = signature_request(USER, "Demo: Log in?", "synch");
            body["MSS_SignatureReq"]["MajorVersion"] = json!(major);
            body["MSS_SignatureReq"]["MinorVersion"] = json!(minor);
            assert_eq!(expect_fault(server, &body, 108, "").await, text, "{major}/{minor}");
        }
        let mut status = status_request("Hunknown1234");
        status["MSS_StatusReq"]["MajorVersion"] = json!("3");
        status["MSS_StatusReq"]["MinorVersion"] = json!("0");
        expect_fault(server, &status, 108, text).await;

        for (major, minor) in [("2", "0"), ("1", "1")] {
            let mut body = profile_request(USER, None);
            body["MSS_ProfileReq"]["MajorVersion"] = json!(major);
            body["MSS_ProfileReq"]["MinorVersion"] = json!(minor);
            let (status, answer) = server.post("/rest/service/profile", &body).await;
            assert_eq!(status, 200, "profile {major}/{minor}: {answer}");
            assert_eq!(answer["MSS_ProfileResp"]["MajorVersion"], major);
            assert_eq!(answer["MSS_ProfileResp"]["MinorVersion"], minor);
        }
        for (major, minor) in [("1", "2"), ("3", "0")] {
            let mut body = profile_request(USER, None);
            body["MSS_ProfileReq"]["MajorVersion"] = json!(major);
            body["MSS_ProfileReq"]["MinorVersion"] = json!(minor);
            expect_fault(server, &body, 108, text).await;
        }
        assert_inbox_empty(&phone).await;
        assert_still_signs(server, &mut phone, USER).await;
    }
}

on_both_databases! {
    /// Ill-formed MSISDNs, and the official health check, are 101 "Illegal msisdn"; a valid
    /// but unknown MSISDN is 105.
    async fn msisdn_formats(server) {
        for msisdn in ["+4179abcdef", "0041791234567"] {
            let detail = expect_fault(server, &signature_request(msisdn, "Demo: Log in?", "synch"), 101, "").await;
            assert_eq!(detail, "Illegal msisdn", "{msisdn}");
            let detail = expect_fault(server, &profile_request(msisdn, None), 101, "").await;
            assert_eq!(detail, "Illegal msisdn", "{msisdn}");
        }
        // Swisscom's health check: exactly this request must answer 101 "Illegal msisdn".
        let health_check = signature_request("+41000000000", "Heartbeat", "synch");
        assert_eq!(expect_fault(server, &health_check, 101, "").await, "Illegal msisdn");

        let unknown = signature_request("+41799999999", "Demo: Log in?", "synch");
        assert_eq!(expect_fault(server, &unknown, 105, "").await, "MSISDN is unknown");
        expect_fault(server, &profile_request("41799999999", None), 105, "MSISDN is unknown").await;
    }
}

on_both_databases! {
    /// A DTBD that would make the phone show something else than what is signed: NUL and
    /// other control characters, bidirectional overrides. 101 with a clear message, and the
    /// phone shows nothing. Line breaks and tabs stay allowed.
    async fn dtbd_with_hidden_controls_is_wrong_param(server) {
        let mut phone = server.phone(USER).await;
        for text in ["Demo: Pay\u{0}100 CHF", "Demo: Pay \u{202E}001 FHC", "Demo: \u{1B}[2J", "Demo: a\u{2067}b"] {
            let detail = expect_fault(server, &signature_request(USER, text, "synch"), 101, "invisible control").await;
            assert!(detail.contains("U+"), "{detail}");
        }
        assert_inbox_empty(&phone).await;
        let multi_line = "Demo: Pay 100 CHF\n\tto ACME";
        let (status, body) = server.post("/rest/service/sign", &signature_request(ROBOT_EC, multi_line, "synch")).await;
        assert_eq!(status, 200, "{body}");
        assert_still_signs(server, &mut phone, USER).await;
    }
}

on_both_databases! {
    /// The DTBD length rule: 239 GSM characters, or 119 when one character is outside the
    /// GSM alphabet (103 beyond); the AP prefix "Demo: " is required (107).
    async fn dtbd_length_and_prefix(server) {
        let mut phone = server.phone(USER).await;
        let too_long_gsm = format!("Demo: {}", "a".repeat(234));
        let too_long_ucs2 = format!("Demo: ç{}", "a".repeat(113));
        assert_eq!(too_long_gsm.chars().count(), 240);
        assert_eq!(too_long_ucs2.chars().count(), 120);
        for text in [&too_long_gsm, &too_long_ucs2] {
            expect_fault(server, &signature_request(USER, text, "synch"), 103, "too large").await;
        }
        let detail = expect_fault(server, &signature_request(USER, "Log in without the prefix?", "synch"), 107, "").await;
        assert_eq!(detail, "DTBD matching failed");
        assert_inbox_empty(&phone).await;

        let longest_gsm = format!("Demo: {}", "a".repeat(233));
        let longest_ucs2 = format!("Demo: ç{}", "a".repeat(112));
        assert_eq!(longest_gsm.chars().count(), 239);
        assert_eq!(longest_ucs2.chars().count(), 119);
        for text in [&longest_gsm, &longest_ucs2] {
            let (status, body) = server.post("/rest/service/sign", &signature_request(ROBOT_EC, text, "synch")).await;
            assert_eq!(status, 200, "{body}");
            let cms = body["MSS_SignatureResp"]["MSS_Signature"]["Base64Signature"].as_str().expect("signature");
            assert_eq!(openssl_verify(cms, &server.root_ca_path()), text.as_bytes());
        }
        assert_still_signs(server, &mut phone, USER).await;
    }
}

on_both_databases! {
    /// AP_TransID must be an NCName, Instant near our clock, and (AP_ID, AP_TransID, Instant)
    /// unique; a repeat is refused without touching the first transaction.
    async fn ap_info_rules(server) {
        let mut phone = server.phone(USER).await;
        for bad in ["1abc", "a b"] {
            let mut body = signature_request(USER, "Demo: Log in?", "synch");
            body["MSS_SignatureReq"]["AP_Info"]["AP_TransID"] = json!(bad);
            expect_fault(server, &body, 101, "NCName").await;
        }
        for skew in [chrono::Duration::hours(1), chrono::Duration::hours(-1)] {
            let mut body = signature_request(USER, "Demo: Log in?", "synch");
            let instant = (chrono::Utc::now() + skew).format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
            body["MSS_SignatureReq"]["AP_Info"]["Instant"] = json!(instant);
            expect_fault(server, &body, 101, "Instant").await;
        }
        assert_inbox_empty(&phone).await;

        let first = signature_request(USER, "Demo: First?", "asynch");
        let (status, body) = server.post("/rest/service/sign", &first).await;
        assert_eq!(status, 200, "{body}");
        let id = body["MSS_SignatureResp"]["MSSP_TransID"].as_str().unwrap().to_string();
        let mut repeat = signature_request(USER, "Demo: Repeat?", "asynch");
        repeat["MSS_SignatureReq"]["AP_Info"] = first["MSS_SignatureReq"]["AP_Info"].clone();
        expect_fault(server, &repeat, 101, "AP_TransID").await;

        // The first transaction is still the only one, still pending (not replaced by the repeat).
        let inbox = phone.inbox(Duration::ZERO).await.unwrap();
        assert_eq!(inbox.requests.len(), 1, "{:?}", inbox.requests);
        assert_eq!(inbox.requests[0].data, "Demo: First?");
        let (_, status) = server.post("/rest/service/status", &status_request(&id)).await;
        assert_eq!(status_code(&status, "MSS_StatusResp"), "504", "{status}");
        let shown = approve_next(&mut phone).await;
        assert_eq!(shown.transaction_id, id);
        assert_still_signs(server, &mut phone, USER).await;
    }
}

on_both_databases! {
    /// The AP is the pair (TLS client certificate, AP_ID): an unknown AP_ID, a certificate of
    /// another AP, or no certificate at all is 104 "Wrong SSL credentials".
    async fn ap_authentication(server) {
        let mut phone = server.phone(USER).await;
        let request = || signature_request(USER, "Demo: Log in?", "asynch");
        let detail = expect_fault(server, &with_ap_id(request(), "mid://nobody"), 104, "").await;
        assert_eq!(detail, "Wrong SSL credentials");

        let other = server.other_ap("mid://other");
        let url = format!("{}/rest/service", server.base);
        // The other AP's certificate does not belong to the demo AP_ID, and vice versa.
        let (status, body) = post_json(&other, &url, &request()).await;
        assert_eq!(assert_fault(status, &body, 104, ""), "Wrong SSL credentials");
        let (status, body) = post_json(&server.ap, &url, &with_ap_id(request(), "mid://other")).await;
        assert_eq!(assert_fault(status, &body, 104, ""), "Wrong SSL credentials");
        // HTTPS without a client certificate.
        let (status, body) = post_json(&server.anonymous_client(), &url, &request()).await;
        assert_eq!(assert_fault(status, &body, 104, ""), "Wrong SSL credentials");
        let (status, body) = post_json(&server.anonymous_client(), &url, &profile_request(USER, None)).await;
        assert_eq!(assert_fault(status, &body, 104, ""), "Wrong SSL credentials");
        assert_inbox_empty(&phone).await;

        // The other AP's certificate works for its own AP_ID.
        let (status, body) = post_json(&other, &url, &with_ap_id(profile_request(USER, None), "mid://other")).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(status_code(&body, "MSS_ProfileResp"), "100");
        let (status, body) = post_json(&other, &url, &with_ap_id(request(), "mid://other")).await;
        assert_eq!(status, 200, "{body}");
        let id = body["MSS_SignatureResp"]["MSSP_TransID"].as_str().unwrap().to_string();
        approve_next(&mut phone).await;
        let (status, body) = post_json(&other, &url, &with_ap_id(status_request(&id), "mid://other")).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(status_code(&body, "MSS_StatusResp"), "500");
        // The robots need a per-AP permission that mid://other was not given (§12).
        let robot = with_ap_id(signature_request(ROBOT_EC, "Robot?", "synch"), "mid://other");
        let (status, body) = post_json(&other, &url, &robot).await;
        assert_fault(status, &body, 105, "");

        // One certificate may serve several AP_IDs (§1.6).
        let demo_cert = server.demo_ap_cert_path();
        server.cli(&["ap", "add", "--ap-id", "mid://shared", "--cert", demo_cert.to_str().unwrap()]);
        let (status, body) = server.post("/rest/service", &with_ap_id(profile_request(USER, None), "mid://shared")).await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = server.post("/rest/service", &profile_request(USER, None)).await;
        assert_eq!(status, 200, "{body}");
        assert_still_signs(server, &mut phone, USER).await;
    }
}

on_both_databases! {
    /// 109 for an unknown profile URI, for STK-LoA4 forced on an App-only user, and for a
    /// transaction approval that would go to a SIM (the EC robot).
    async fn unsupported_profiles(server) {
        let mut phone = server.phone(USER).await;
        let unknown = signature_with(USER, "SignatureProfile", json!("http://mid.swisscom.ch/Nope-LoA9"));
        let detail = expect_fault(server, &unknown, 109, "http://mid.swisscom.ch/Nope-LoA9").await;
        assert!(detail.starts_with("The user does not support this Mobile Signature Profile"), "{detail}");

        let stk = signature_with(USER, "SignatureProfile", json!("http://mid.swisscom.ch/STK-LoA4"));
        let detail = expect_fault(server, &stk, 109, "STK-LoA4").await;
        assert!(detail.starts_with("The user does not support this Mobile Signature Profile"), "{detail}");
        assert_inbox_empty(&phone).await;

        let approval = json!({"Data": r#"{"type":"Login","dtbd":[{"key":"Company","value":"Demo: Test"}]}"#,
                              "Encoding": "UTF-8", "MimeType": "application/vnd.mobileid.txn-approval"});
        let to_robot = signature_with(ROBOT_EC, "DataToBeSigned", approval);
        let detail = expect_fault(server, &to_robot, 109, "").await;
        assert!(detail.starts_with("The user does not support this Mobile Signature Profile"), "{detail}");
        // Device-LoA4 forced on a SIM-only user (§6 scenario table).
        let device = signature_with(ROBOT_EC, "SignatureProfile", json!("http://mid.swisscom.ch/Device-LoA4"));
        expect_fault(server, &device, 109, "Device-LoA4").await;
        assert_still_signs(server, &mut phone, USER).await;
    }
}

on_both_databases! {
    /// Transaction-approval payloads: not the documented JSON is 101 INVALID_TXNAPPROVAL_PAYLOAD,
    /// too many rows is 103, and the AP prefix must start the first value (107).
    async fn invalid_transaction_approvals(server) {
        let mut phone = server.phone(USER).await;
        let approval = |data: String| {
            let mut body = signature_with(USER, "DataToBeSigned",
                json!({"Data": data, "Encoding": "UTF-8", "MimeType": "application/vnd.mobileid.txn-approval"}));
            body["MSS_SignatureReq"]["SignatureProfile"] = json!("http://mid.swisscom.ch/Device-LoA4");
            body
        };
        for data in ["not json", r#"{"type":"Login","dtbd":[]}"#, r#"{"type":"Login","dtbd":[{"key":"Company"}]}"#] {
            let detail = expect_fault(server, &approval(data.to_string()), 101, "").await;
            assert_eq!(detail, "INVALID_TXNAPPROVAL_PAYLOAD", "{data}");
        }
        let rows: Vec<Value> = (0..21).map(|n| json!({"key": format!("Row {n}"), "value": "Demo: x"})).collect();
        let data = json!({"type": "Login", "dtbd": rows}).to_string();
        expect_fault(server, &approval(data), 103, "").await;
        let data = r#"{"type":"Login","dtbd":[{"key":"Company","value":"Test"},{"key":"Note","value":"Demo: x"}]}"#;
        expect_fault(server, &approval(data.to_string()), 107, "DTBD matching failed").await;
        assert_inbox_empty(&phone).await;
        assert_still_signs(server, &mut phone, USER).await;
    }
}

on_both_databases! {
    /// An additional service the AP has not subscribed to is 104; App2App in sync mode is 101.
    async fn additional_service_rules(server) {
        let mut phone = server.phone(USER).await;
        let no_spam = "http://mss.ficom.fi/TS102204/v1.0.0#noSpam";
        let body = signature_with(USER, "AdditionalServices", json!([{"Description": no_spam}]));
        expect_fault(server, &body, 104, no_spam).await;

        let app2app = json!([{"Description": "http://mid.swisscom.ch/as#app2app", "App2App": {"RedirectUri": "myapp://done"}}]);
        let mut body = signature_with(USER, "AdditionalServices", app2app);
        body["MSS_SignatureReq"]["SignatureProfile"] = json!("http://mid.swisscom.ch/Device-LoA4");
        expect_fault(server, &body, 101, "App2App").await;
        assert_inbox_empty(&phone).await;
        assert_still_signs(server, &mut phone, USER).await;
    }
}

on_both_databases! {
    /// A status query for an unknown MSSP_TransID, or for another AP's transaction, is 101
    /// "There is no such transaction." (the same text, so nothing can be probed).
    async fn status_of_unknown_or_foreign_transaction(server) {
        let mut phone = server.phone(USER).await;
        let detail = expect_fault(server, &status_request("Hunknown1234"), 101, "").await;
        assert_eq!(detail, "There is no such transaction.");

        let (status, body) = server.post("/rest/service/sign", &signature_request(USER, "Demo: Mine?", "asynch")).await;
        assert_eq!(status, 200, "{body}");
        let id = body["MSS_SignatureResp"]["MSSP_TransID"].as_str().unwrap().to_string();
        let other = server.other_ap("mid://other");
        let url = format!("{}/rest/service/status", server.base);
        let (status, body) = post_json(&other, &url, &with_ap_id(status_request(&id), "mid://other")).await;
        assert_eq!(assert_fault(status, &body, 101, ""), "There is no such transaction.");

        // The transaction is untouched: still pending for its own AP, and it completes.
        let (_, body) = server.post("/rest/service/status", &status_request(&id)).await;
        assert_eq!(status_code(&body, "MSS_StatusResp"), "504", "{body}");
        approve_next(&mut phone).await;
        let (_, body) = server.post("/rest/service/status", &status_request(&id)).await;
        assert_eq!(status_code(&body, "MSS_StatusResp"), "500", "{body}");
        let (status, body) = post_json(&other, &url, &with_ap_id(status_request(&id), "mid://other")).await;
        assert_eq!(assert_fault(status, &body, 101, ""), "There is no such transaction.");
    }
}

on_both_databases! {
    /// MessagingMode asynchServerServer (call-back) and a TimeOut that is not 1..300 seconds are 101.
    async fn messaging_mode_and_timeout(server) {
        let mut phone = server.phone(USER).await;
        let body = signature_with(USER, "MessagingMode", json!("asynchServerServer"));
        expect_fault(server, &body, 101, "asynchServerServer").await;
        for timeout in ["0", "abc"] {
            expect_fault(server, &signature_with(USER, "TimeOut", json!(timeout)), 101, "TimeOut").await;
        }
        assert_inbox_empty(&phone).await;
        assert_still_signs(server, &mut phone, USER).await;
    }
}

/// A signature request of about 1 MB.
fn oversized_request() -> Value {
    let mut body = signature_request(USER, "Demo: Log in?", "synch");
    body["MSS_SignatureReq"]["DataToBeSigned"]["Data"] = json!(format!("Demo: {}", "a".repeat(1024 * 1024)));
    body
}

/// POSTs the 1 MB request; the answer, or the transport error that kept the client from it.
async fn post_oversized(server: &TestServer, client: &reqwest::Client) -> Result<(u16, Value), reqwest::Error> {
    let response = client
        .post(format!("{}/rest/service", server.base))
        .header("Content-Type", "application/json;charset=UTF-8")
        .body(oversized_request().to_string())
        .send()
        .await?;
    let status = response.status().as_u16();
    assert_eq!(response.headers()["content-type"], "application/json;charset=UTF-8");
    let text = response.text().await?;
    Ok((status, serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"))))
}

on_both_databases! {
    /// A 1 MB body is refused at once (never processed), and the server stays healthy.
    async fn oversized_body_is_refused_quickly(server) {
        let mut phone = server.phone(USER).await;
        // A client of its own, so that the checks below use fresh connections.
        let client = server.client_with_identity(&server.demo_ap_cert_path(), &server.demo_ap_key_path());
        let started = Instant::now();
        let (status, answer) = post_oversized(server, &client).await.expect("the 101 fault, not a transport error");
        assert_fault(status, &answer, 101, "limit");
        assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
        let health = server.ap.get(format!("{}/health", server.base)).send().await.expect("health");
        assert_eq!(health.status().as_u16(), 200);
        assert_inbox_empty(&phone).await;
        assert_still_signs(server, &mut phone, USER).await;
    }
}

/// The AP gets HTTP 500 with Fault 101 for a 1 MB body, and its next request on the same
/// client (the same pooled connection) works: the server reads the whole body before it
/// answers, so the client is not cut off mid-upload.
mod oversized_body_answers_101 {
    use super::*;

    async fn run(server: &TestServer) {
        let started = Instant::now();
        let (status, answer) = post_oversized(server, &server.ap).await.expect("the 101 fault, not a transport error");
        assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
        assert_fault(status, &answer, 101, "limit");
        let (status, body) = server.post("/rest/service", &signature_request(ROBOT_EC, "Demo: Next?", "synch")).await;
        assert_eq!(status, 200, "{body}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        run(&TestServer::start(Backend::Sqlite).await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        run(&TestServer::start(Backend::Postgres).await).await;
    }
}

/// Every test number of the contract (§12).
const TEST_CODES: [u16; 17] = [101, 102, 103, 104, 105, 107, 108, 109, 208, 209, 401, 402, 403, 404, 406, 422, 900];

/// Test-number faults that depend on the user and so come on the status query in async mode.
const LATE_CODES: [u16; 5] = [208, 209, 401, 402, 406];

on_both_databases! {
    /// +41000092NNN answers fault NNN with its Reason and a documented Detail: in sync mode at
    /// once; in async mode the user-dependent codes come on the status query, the rest at once.
    async fn test_numbers_answer_their_fault(server) {
        for code in TEST_CODES {
            let msisdn = format!("+41000092{code}");
            let detail = expect_fault(server, &signature_request(&msisdn, "Demo: Test?", "synch"), code, "").await;
            assert!(documented_details(code).contains(&detail.as_str()), "{code}: undocumented Detail {detail:?}");

            let (status, body) = server.post("/rest/service/sign", &signature_request(&msisdn, "Demo: Test?", "asynch")).await;
            if LATE_CODES.contains(&code) {
                assert_eq!(status, 200, "{code}: {body}");
                let ack = &body["MSS_SignatureResp"];
                assert_eq!(ack["Status"]["StatusCode"]["Value"], "100", "{code}: {body}");
                assert_eq!(ack["Status"]["StatusMessage"], "REQUEST_OK");
                assert_eq!(ack["MobileUser"]["MSISDN"], msisdn.as_str());
                let id = ack["MSSP_TransID"].as_str().expect("MSSP_TransID").to_string();
                for _ in 0..2 {
                    let (status, body) = server.post("/rest/service/status", &status_request(&id)).await;
                    let detail = assert_fault(status, &body, code, "");
                    assert!(documented_details(code).contains(&detail.as_str()), "{code}: undocumented Detail {detail:?}");
                }
            } else {
                assert_fault(status, &body, code, "");
            }
        }
        // Test numbers work for profile queries too (the docs' example is +41000092401).
        expect_fault(server, &profile_request("+41000092401", None), 401, "").await;
        for code in TEST_CODES {
            expect_fault(server, &profile_request(&format!("41000092{code}"), None), code, "").await;
        }
    }
}

on_both_databases! {
    /// `mobileid testnumbers disable` removes the test numbers and robots: they answer 105.
    async fn disabled_test_numbers_are_unknown(server) {
        // Some history first: a robot transaction must not stop the removal.
        let (status, body) = server.post("/rest/service/sign", &signature_request(ROBOT_EC, "Demo: Before?", "synch")).await;
        assert_eq!(status, 200, "{body}");
        server.cli(&["testnumbers", "disable"]);
        for msisdn in ["+41000092401", ROBOT_EC, ROBOT_RSA] {
            let detail = expect_fault(server, &signature_request(msisdn, "Demo: Test?", "synch"), 105, "").await;
            assert_eq!(detail, "MSISDN is unknown", "{msisdn}");
            expect_fault(server, &profile_request(msisdn, None), 105, "MSISDN is unknown").await;
        }
    }
}
