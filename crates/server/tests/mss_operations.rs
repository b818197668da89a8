//! The four MSS operations over REST as real clients use them: the robot users, both path
//! styles, the wire details clients compare (echoes, versions, headers, key order), transaction
//! approval, cancel and expiry, receipts, profile queries and the additional services.

mod support;

use std::time::Duration;

use mobileid_phone::Phone;
use serde_json::{json, Value};
use support::*;

const USER: &str = "+41791234567";
const TXN_APPROVAL: &str = "application/vnd.mobileid.txn-approval";

fn status_value(body: &Value, message: &str) -> String {
    body[message]["Status"]["StatusCode"]["Value"].as_str().unwrap_or_else(|| panic!("no status: {body}")).to_string()
}

fn signature_of(resp: &Value) -> &str {
    resp["MSS_Signature"]["Base64Signature"].as_str().unwrap_or_else(|| panic!("no signature: {resp}"))
}

/// Checks a fault answer: HTTP 500, the code, its Reason, and the exact Detail.
fn assert_fault(status: u16, body: &Value, code: u16, reason: &str, detail: &str) {
    assert_eq!(status, 500, "expected fault {code}: {body}");
    assert_eq!(fault_code(body), code, "{body}");
    assert_eq!(body["Fault"]["Reason"], reason, "{body}");
    assert_eq!(fault_detail(body), detail, "{body}");
}

fn with_services(mut body: Value, services: Value) -> Value {
    body["MSS_SignatureReq"]["AdditionalServices"] = services;
    body
}

fn with_profile(mut body: Value, profile: &str) -> Value {
    body["MSS_SignatureReq"]["SignatureProfile"] = json!(profile);
    body
}

/// Sends an async signature request and returns its MSSP_TransID.
async fn start_async(server: &TestServer, body: &Value) -> String {
    let (status, answer) = server.post("/rest/service/sign", body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(status_value(&answer, "MSS_SignatureResp"), "100", "{answer}");
    answer["MSS_SignatureResp"]["MSSP_TransID"].as_str().expect("MSSP_TransID").to_string()
}

/// An async signature approved on the phone; returns its MSSP_TransID.
async fn signed_on_phone(server: &TestServer, phone: &mut Phone, msisdn: &str, text: &str) -> String {
    let id = start_async(server, &signature_request(msisdn, text, "asynch")).await;
    approve_next(phone).await;
    let (status, body) = server.post("/rest/service/status", &status_request(&id)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(status_value(&body, "MSS_StatusResp"), "500", "{body}");
    id
}

/// The keys of every JSON object in `raw`, in the order they are written there (a parsed
/// `Value` may reorder them).
fn keys_in_written_order(raw: &str) -> Vec<Vec<String>> {
    enum Frame {
        Object { index: usize, expect_key: bool },
        Array,
    }
    let mut objects: Vec<Vec<String>> = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        match c {
            '{' => {
                objects.push(Vec::new());
                stack.push(Frame::Object { index: objects.len() - 1, expect_key: true });
            }
            '[' => stack.push(Frame::Array),
            '}' | ']' => {
                stack.pop();
            }
            ',' => {
                if let Some(Frame::Object { expect_key, .. }) = stack.last_mut() {
                    *expect_key = true;
                }
            }
            '"' => {
                let mut text = String::new();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            text.push(c);
                            text.extend(chars.next());
                        }
                        '"' => break,
                        _ => text.push(c),
                    }
                }
                if let Some(Frame::Object { index, expect_key: expect_key @ true }) = stack.last_mut() {
                    objects[*index].push(text);
                    *expect_key = false;
                }
            }
            _ => {}
        }
    }
    objects
}

on_both_databases! {
    /// The robots +41700092501 (EC) and +41700092502 (RSA) always sign, sync and async, as
    /// SIM users (STK-LoA4), with a CMS that openssl verifies and whose content is the DTBD.
    async fn robots_sign_sync_and_async(server) {
        for (msisdn, algorithm) in [(ROBOT_EC, "EC"), (ROBOT_RSA, "RSA")] {
            let text = format!("Demo: Robot {algorithm}, sync?");
            let (status, body) = server.post("/rest/service/sign", &signature_request(msisdn, &text, "synch")).await;
            assert_eq!(status, 200, "{body}");
            let resp = &body["MSS_SignatureResp"];
            assert_eq!(resp["Status"]["StatusCode"]["Value"], "500");
            assert_eq!(resp["Status"]["StatusMessage"], "SIGNATURE");
            assert_eq!(resp["SignatureProfile"], STK);
            assert!(resp["MSSP_TransID"].as_str().is_some_and(|id| !id.is_empty()), "{resp}");
            assert_eq!(openssl_verify(signature_of(resp), &server.root_ca_path()), text.as_bytes());

            let text = format!("Demo: Robot {algorithm}, async?");
            let (status, body) = server.post("/rest/service/sign", &signature_request(msisdn, &text, "asynch")).await;
            assert_eq!(status, 200, "{body}");
            let ack = &body["MSS_SignatureResp"];
            assert_eq!(ack["Status"]["StatusCode"]["Value"], "100");
            assert_eq!(ack["Status"]["StatusMessage"], "REQUEST_OK");
            assert_eq!(ack["SignatureProfile"], STK);
            assert!(ack.get("MSS_Signature").is_none(), "{ack}");
            let id = ack["MSSP_TransID"].as_str().unwrap().to_string();
            let (status, body) = server.post("/rest/service/status", &status_request(&id)).await;
            assert_eq!(status, 200, "{body}");
            let resp = &body["MSS_StatusResp"];
            assert_eq!(resp["Status"]["StatusCode"]["Value"], "500");
            assert_eq!(resp["Status"]["StatusMessage"], "SIGNATURE");
            assert!(resp.get("SignatureProfile").is_none(), "{resp}");
            assert!(resp.get("MSSP_TransID").is_none(), "{resp}");
            assert_eq!(openssl_verify(signature_of(resp), &server.root_ca_path()), text.as_bytes());

            let (status, body) = server.post("/rest/service/profile", &profile_request(msisdn, Some("certs"))).await;
            assert_eq!(status, 200, "{body}");
            let sim = &body["MSS_ProfileResp"]["Status"]["StatusDetail"]["ProfileQueryExtension"]["Sscds"]["Sim"];
            assert_eq!(sim["MobileUserCertificate"][0]["Algorithm"], algorithm, "{body}");
        }
    }
}

on_both_databases! {
    /// Profile query v2.0 for a SIM user (the EC robot): the profiles seen for a SIM-only EC
    /// user in 2024, and the Sim's state, PIN status, certificate chain and card details.
    async fn profile_query_of_a_sim_user(server) {
        let params = "sscds state certs pinstatus rcstatus aastatus carddetails";
        let (status, body) = server.post("/rest/service/profile", &profile_request(ROBOT_EC, Some(params))).await;
        assert_eq!(status, 200, "{body}");
        let resp = &body["MSS_ProfileResp"];
        assert_eq!(resp["SignatureProfile"], json!([
            "http://mid.swisscom.ch/Any-LoA4", "http://mid.swisscom.ch/MID/v1/AuthProfile1",
            "http://mid.swisscom.ch/MID/v1/AuthProfile1.ECC", STK]));
        let ext = &resp["Status"]["StatusDetail"]["ProfileQueryExtension"];
        assert!(ext["MobileUser"]["AutoActivation"].is_boolean(), "{ext}");
        assert!(ext["MobileUser"]["RecoveryCodeCreated"].is_boolean(), "{ext}");
        assert!(ext["Sscds"].get("App").is_none(), "the robot has no App: {ext}");
        let sim = &ext["Sscds"]["Sim"];
        assert_eq!(sim["State"], "ACTIVE");
        assert_eq!(sim["PinStatus"]["Blocked"], json!(false));
        let cert = &sim["MobileUserCertificate"][0];
        assert_eq!(cert["Algorithm"], "EC");
        assert_eq!(cert["X509Certificate"].as_array().map(Vec::len), Some(3), "{cert}");
        let user_name = cert["X509SubjectName"][0].as_str().unwrap_or_default();
        let serial = user_name.strip_prefix("cn=").and_then(|n| n.split(':').next()).unwrap_or_default();
        assert!(serial.len() == 16 && serial.starts_with("midche"), "{user_name}");
        assert_eq!(user_name, format!("cn={serial}:pn,serialnumber={serial}"));
        // §5.4: `carddetails` adds Sim.CardDetails (Mcc "000", Mnc "00", Network
        // "Unknown network" when unknown).
        let card = &sim["CardDetails"];
        for field in ["Mcc", "Mnc", "Network"] {
            assert!(card[field].is_string(), "Sim.CardDetails.{field} missing: {sim}");
        }
    }
}

on_both_databases! {
    /// All four operations work on the single endpoint /rest/service and on
    /// /rest/service/{sign,status,receipt,profile}, with or without a trailing slash; GET is 405.
    async fn both_rest_path_styles(server) {
        let styles = [
            ["/rest/service", "/rest/service", "/rest/service", "/rest/service"],
            ["/rest/service/", "/rest/service/", "/rest/service/", "/rest/service/"],
            ["/rest/service/sign", "/rest/service/status", "/rest/service/receipt", "/rest/service/profile"],
            ["/rest/service/sign/", "/rest/service/status/", "/rest/service/receipt/", "/rest/service/profile/"],
        ];
        for [sign, status_path, receipt, profile] in styles {
            let (status, body) = server.post(sign, &signature_request(ROBOT_EC, "Demo: Paths?", "asynch")).await;
            assert_eq!(status, 200, "{sign}: {body}");
            let id = body["MSS_SignatureResp"]["MSSP_TransID"].as_str().unwrap().to_string();
            let (status, body) = server.post(status_path, &status_request(&id)).await;
            assert_eq!((status, status_value(&body, "MSS_StatusResp")), (200, "500".into()), "{status_path}: {body}");
            let (status, body) = server.post(receipt, &receipt_request(&id, ROBOT_EC, "Demo: OK", false)).await;
            assert_eq!((status, status_value(&body, "MSS_ReceiptResp")), (200, "100".into()), "{receipt}: {body}");
            let (status, body) = server.post(profile, &profile_request(ROBOT_EC, None)).await;
            assert_eq!((status, status_value(&body, "MSS_ProfileResp")), (200, "100".into()), "{profile}: {body}");
        }
        for path in styles.iter().flatten() {
            let response = server.ap.get(format!("{}{path}", server.base)).send().await.expect("GET");
            assert_eq!(response.status().as_u16(), 405, "GET {path}");
        }
    }
}

on_both_databases! {
    /// What clients compare on the wire: the Java client's bogus `Content-Encoding: UTF-8` is
    /// accepted; the answer is `application/json;charset=UTF-8`; AP_PWD is never echoed;
    /// AP_TransID and MSISDN are echoed exactly; Instant comes back as UTC with milliseconds;
    /// keys are written in byte-wise order.
    async fn wire_details_of_a_signature_response(server) {
        let trans_id = format!("AP.TEST.21920.3921_{}", fresh_trans_id());
        let sent = chrono::Utc::now().with_timezone(&chrono::FixedOffset::east_opt(2 * 3600).unwrap());
        let instant = sent.format("%Y-%m-%dT%H:%M:%S%:z").to_string();
        let mut request = signature_request(ROBOT_EC, "Demo: Wire details?", "synch");
        request["MSS_SignatureReq"]["AP_Info"] =
            json!({"AP_ID": DEMO_AP, "AP_PWD": "s3cret-AP-pwd", "AP_TransID": trans_id, "Instant": instant});
        request["MSS_SignatureReq"]["AdditionalServices"]
            .as_array_mut()
            .unwrap()
            .push(json!({"Description": "http://mid.swisscom.ch/as#geofencing"}));
        let headers = [("Content-Type", "application/json; charset=UTF-8"), ("Content-Encoding", "UTF-8")];
        let url = format!("{}/rest/service/sign", server.base);
        let (status, content_type, raw) = post_raw(&server.ap, &url, &headers, request.to_string()).await;
        assert_eq!(status, 200, "{raw}");
        assert_eq!(content_type, "application/json;charset=UTF-8");
        assert!(!raw.contains("s3cret-AP-pwd"), "AP_PWD echoed: {raw}");

        let body: Value = serde_json::from_str(&raw).unwrap();
        let resp = &body["MSS_SignatureResp"];
        assert!(resp["AP_Info"].get("AP_PWD").is_none(), "{resp}");
        assert_eq!(resp["AP_Info"]["AP_ID"], DEMO_AP);
        assert_eq!(resp["AP_Info"]["AP_TransID"], trans_id.as_str());
        let whole_seconds = sent.with_timezone(&chrono::Utc).format("%Y-%m-%dT%H:%M:%S.000Z").to_string();
        assert_eq!(resp["AP_Info"]["Instant"], whole_seconds.as_str());
        let server_time = resp["MSSP_Info"]["Instant"].as_str().unwrap();
        assert!(chrono::NaiveDateTime::parse_from_str(server_time, "%Y-%m-%dT%H:%M:%S%.3fZ").is_ok(), "{server_time}");
        assert_eq!(server_time.len(), "2015-01-01T11:00:00.000Z".len(), "{server_time}");
        assert_eq!(resp["MSSP_Info"]["MSSP_ID"]["URI"], "http://mid.swisscom.ch/");
        assert_eq!(resp["MobileUser"]["MSISDN"], ROBOT_EC);
        assert_eq!((resp["MajorVersion"].as_str(), resp["MinorVersion"].as_str()), (Some("1"), Some("1")));

        let objects = keys_in_written_order(&raw);
        for keys in &objects {
            let mut sorted = keys.clone();
            sorted.sort();
            assert_eq!(keys, &sorted, "keys not in byte-wise order in {raw}");
        }
        let top = ["AP_Info", "MSSP_Info", "MSSP_TransID", "MSS_Signature", "MajorVersion", "MinorVersion",
                   "MobileUser", "ServiceResponses", "SignatureProfile", "Status"];
        assert_eq!(objects[1], top, "{raw}");

        // Without the '+', the MSISDN comes back without it, in the ack and in the status answer.
        // MSSP_Info is optional in requests (§2.3).
        let mut no_plus = signature_request("41700092501", "Demo: No plus?", "asynch");
        no_plus["MSS_SignatureReq"].as_object_mut().unwrap().remove("MSSP_Info");
        let id = start_async(server, &no_plus).await;
        let (_, body) = server.post("/rest/service/status", &status_request(&id)).await;
        assert_eq!(body["MSS_StatusResp"]["MobileUser"]["MSISDN"], "41700092501", "{body}");
        let (_, body) = server.post("/rest/service/sign", &signature_request("41700092501", "Demo: Sync?", "synch")).await;
        assert_eq!(body["MSS_SignatureResp"]["MobileUser"]["MSISDN"], "41700092501", "{body}");
    }
}

on_both_databases! {
    /// MinorVersion 1 and 2 are both accepted for signature and status; answers say 1/1.
    async fn minor_versions_one_and_two(server) {
        for minor in ["1", "2"] {
            let mut sign = signature_request(ROBOT_EC, "Demo: Versions?", "asynch");
            sign["MSS_SignatureReq"]["MinorVersion"] = json!(minor);
            let (status, body) = server.post("/rest/service/sign", &sign).await;
            assert_eq!(status, 200, "1/{minor}: {body}");
            let resp = &body["MSS_SignatureResp"];
            assert_eq!((resp["MajorVersion"].as_str(), resp["MinorVersion"].as_str()), (Some("1"), Some("1")));
            let id = resp["MSSP_TransID"].as_str().unwrap();
            let mut status_body = status_request(id);
            status_body["MSS_StatusReq"]["MinorVersion"] = json!(minor);
            let (status, body) = server.post("/rest/service/status", &status_body).await;
            assert_eq!(status, 200, "1/{minor}: {body}");
            let resp = &body["MSS_StatusResp"];
            assert_eq!((resp["MajorVersion"].as_str(), resp["MinorVersion"].as_str()), (Some("1"), Some("1")));
        }
    }
}

on_both_databases! {
    /// Transaction approval: the phone shows title and rows, and the CMS holds the normalised
    /// JSON of the rows, not the request text.
    async fn transaction_approval(server) {
        let mut phone = server.phone(USER).await;
        let mut request = with_profile(signature_request(USER, "", "synch"), DEVICE);
        request["MSS_SignatureReq"]["DataToBeSigned"] = json!({
            "Data": r#"{"type":"Login","dtbd":[{"key":"Company","value":"Demo: Test"}]}"#,
            "Encoding": "UTF-8", "MimeType": TXN_APPROVAL});
        let ap = server.ap.clone();
        let url = format!("{}/rest/service/sign", server.base);
        let pending = tokio::spawn(async move { post_json(&ap, &url, &request).await });
        let shown = next_request(&phone).await;
        assert_eq!(shown.mime_type, TXN_APPROVAL);
        assert_eq!(phone.check(&shown).unwrap().text, "Login\nCompany: Demo: Test");
        phone.approve(&shown, PIN).await.unwrap();
        let (status, body) = pending.await.unwrap();
        assert_eq!(status, 200, "{body}");
        let resp = &body["MSS_SignatureResp"];
        assert_eq!(resp["SignatureProfile"], DEVICE);
        let content = openssl_verify(signature_of(resp), &server.root_ca_path());
        assert_eq!(
            String::from_utf8(content).unwrap(),
            r#"{"format_version":1,"content_string":"[{\"key\":\"Company\",\"value\":\"Demo: Test\"}]"}"#
        );
    }
}

on_both_databases! {
    /// The user presses Cancel: 401 USER_CANCEL, at once in sync mode and on the status query
    /// in async mode.
    async fn user_cancel(server) {
        let phone = server.phone(USER).await;
        let request = signature_request(USER, "Demo: Cancel me?", "synch");
        let ap = server.ap.clone();
        let url = format!("{}/rest/service/sign", server.base);
        let pending = tokio::spawn(async move { post_json(&ap, &url, &request).await });
        phone.decline(&next_request(&phone).await).await.unwrap();
        let (status, body) = pending.await.unwrap();
        assert_fault(status, &body, 401, "USER_CANCEL", "User cancelled the request");
        assert_eq!(body["Fault"]["Code"]["Value"], "Receiver");

        let id = start_async(server, &signature_request(USER, "Demo: Cancel me too?", "asynch")).await;
        phone.decline(&next_request(&phone).await).await.unwrap();
        for _ in 0..2 {
            let (status, body) = server.post("/rest/service/status", &status_request(&id)).await;
            assert_fault(status, &body, 401, "USER_CANCEL", "User cancelled the request");
        }
    }
}

on_both_databases! {
    /// A second App request to the same user cancels the first (401 on its status); the
    /// second goes on and completes.
    async fn newer_app_request_replaces_the_running_one(server) {
        let mut phone = server.phone(USER).await;
        let first = start_async(server, &signature_request(USER, "Demo: First?", "asynch")).await;
        assert_eq!(next_request(&phone).await.transaction_id, first);
        let second = start_async(server, &signature_request(USER, "Demo: Second?", "asynch")).await;
        let (status, body) = server.post("/rest/service/status", &status_request(&first)).await;
        assert_fault(status, &body, 401, "USER_CANCEL", "User cancelled the request");

        let inbox = phone.inbox(Duration::ZERO).await.unwrap();
        let ids: Vec<&str> = inbox.requests.iter().map(|r| r.transaction_id.as_str()).collect();
        assert_eq!(ids, [second.as_str()]);
        let shown = approve_next(&mut phone).await;
        assert_eq!(shown.data, "Demo: Second?");
        let (status, body) = server.post("/rest/service/status", &status_request(&second)).await;
        assert_eq!(status, 200, "{body}");
        let content = openssl_verify(signature_of(&body["MSS_StatusResp"]), &server.root_ca_path());
        assert_eq!(content, b"Demo: Second?");
        let (status, body) = server.post("/rest/service/status", &status_request(&first)).await;
        assert_fault(status, &body, 401, "USER_CANCEL", "User cancelled the request");
    }
}

on_both_databases! {
    /// Sync, TimeOut 2 s, nobody answers: 208 "Timed out waiting for an answer from user.",
    /// after about 2 s, and the phone no longer shows the request.
    async fn sync_request_expires(server) {
        let phone = server.phone(USER).await;
        let mut request = signature_request(USER, "Demo: Nobody answers?", "synch");
        request["MSS_SignatureReq"]["TimeOut"] = json!("2");
        let started = std::time::Instant::now();
        let (status, body) = server.post("/rest/service/sign", &request).await;
        let took = started.elapsed();
        assert_fault(status, &body, 208, "EXPIRED_TRANSACTION", "Timed out waiting for an answer from user.");
        assert!(took >= Duration::from_millis(1900) && took < Duration::from_secs(6), "took {took:?}");
        let inbox = phone.inbox(Duration::ZERO).await.unwrap();
        assert!(inbox.requests.is_empty(), "{:?}", inbox.requests);
    }
}

on_both_databases! {
    /// One receipt after a successful signature: 100 REQUEST_OK and the phone shows the text;
    /// a second one is 101 with the production text.
    async fn receipt_after_signature(server) {
        let mut phone = server.phone(USER).await;
        let id = signed_on_phone(server, &mut phone, USER, "Demo: Log in?").await;
        let (status, body) = server.post("/rest/service/receipt", &receipt_request(&id, USER, "Demo: Login OK", false)).await;
        assert_eq!(status, 200, "{body}");
        let resp = &body["MSS_ReceiptResp"];
        assert_eq!(resp["Status"]["StatusCode"]["Value"], "100");
        assert_eq!(resp["Status"]["StatusMessage"], "REQUEST_OK");
        assert!(resp["Status"].get("StatusDetail").is_none(), "{resp}");
        assert_eq!((resp["MajorVersion"].as_str(), resp["MinorVersion"].as_str()), (Some("1"), Some("1")));

        let inbox = phone.inbox(Duration::from_secs(5)).await.unwrap();
        assert_eq!(inbox.receipts.len(), 1, "{inbox:?}");
        assert_eq!(inbox.receipts[0].transaction_id, id);
        assert_eq!(inbox.receipts[0].message, "Demo: Login OK");

        let (status, body) = server.post("/rest/service/receipt", &receipt_request(&id, USER, "Demo: Again", false)).await;
        assert_fault(status, &body, 101, "WRONG_PARAM",
            "Receipt already sent for this transaction. Only one receipt allowed per transaction.");
        assert!(phone.inbox(Duration::ZERO).await.unwrap().receipts.is_empty());
    }
}

on_both_databases! {
    /// A receipt with the UserAck extension (and the Java client's "Language":"LANGUAGE"):
    /// the EC robot acknowledges ({"status":"OK"}); an App user is shown the text, UserAck false.
    async fn receipt_with_user_ack(server) {
        let id = start_async(server, &signature_request(ROBOT_EC, "Demo: Robot?", "asynch")).await;
        let (status, body) = server.post("/rest/service/receipt", &receipt_request(&id, ROBOT_EC, "Demo: OK", true)).await;
        assert_eq!(status, 200, "{body}");
        let status_part = &body["MSS_ReceiptResp"]["Status"];
        assert_eq!(status_part["StatusCode"]["Value"], "100");
        let ext = &status_part["StatusDetail"]["ReceiptResponseExtension"];
        assert_eq!(ext["UserAck"], "true", "{body}");
        assert_eq!(ext["UserResponse"], r#"{"status":"OK"}"#, "{body}");
        assert_eq!(ext["ReceiptMessagingMode"], "synch");
        assert_eq!(ext["ClientAck"], "false");
        assert_eq!(ext["NetworkAck"], "false");

        let mut phone = server.phone(USER).await;
        let id = signed_on_phone(server, &mut phone, USER, "Demo: Log in?").await;
        // No AP prefix is required on receipts (§5.3).
        let (status, body) = server.post("/rest/service/receipt", &receipt_request(&id, USER, "Welcome back", true)).await;
        assert_eq!(status, 200, "{body}");
        let ext = &body["MSS_ReceiptResp"]["Status"]["StatusDetail"]["ReceiptResponseExtension"];
        assert_eq!(ext["UserAck"], "false", "{body}");
        assert!(ext.get("UserResponse").is_none(), "{body}");
        let inbox = phone.inbox(Duration::from_secs(5)).await.unwrap();
        assert_eq!(inbox.receipts.iter().map(|r| r.message.as_str()).collect::<Vec<_>>(), ["Welcome back"]);
    }
}

on_both_databases! {
    /// Receipts only for this AP's successful transactions: after a cancel, and for another
    /// AP's transaction, 101; nothing reaches the phone.
    async fn receipt_refusals(server) {
        let mut phone = server.phone(USER).await;
        let failed = start_async(server, &signature_request(USER, "Demo: Cancel?", "asynch")).await;
        phone.decline(&next_request(&phone).await).await.unwrap();
        let (status, body) = server.post("/rest/service/receipt", &receipt_request(&failed, USER, "Demo: OK", false)).await;
        assert_eq!(status, 500, "{body}");
        assert_eq!(fault_code(&body), 101, "{body}");
        assert_eq!(body["Fault"]["Reason"], "WRONG_PARAM");

        let id = signed_on_phone(server, &mut phone, USER, "Demo: Log in?").await;
        let other = server.other_ap("mid://other");
        let url = format!("{}/rest/service/receipt", server.base);
        let foreign = with_ap_id(receipt_request(&id, USER, "Demo: Not yours", false), "mid://other");
        let (status, body) = post_json(&other, &url, &foreign).await;
        assert_fault(status, &body, 101, "WRONG_PARAM", "There is no such transaction.");
        let (status, body) = server.post("/rest/service/receipt", &receipt_request("Hunknown1234", USER, "Demo: OK", false)).await;
        assert_fault(status, &body, 101, "WRONG_PARAM", "There is no such transaction.");
        assert!(phone.inbox(Duration::ZERO).await.unwrap().receipts.is_empty());

        // The owner can still send its one receipt.
        let (status, body) = server.post("/rest/service/receipt", &receipt_request(&id, USER, "Demo: OK", false)).await;
        assert_eq!(status, 200, "{body}");
    }
}

on_both_databases! {
    /// Profile query v2.0 with every Params token for an App user: the profiles an App user
    /// can be served with, and the App's state, PIN status and certificate chain.
    async fn profile_query_of_an_app_user(server) {
        let phone = server.phone(USER).await;
        let params = "sscds state certs pinstatus rcstatus aastatus";
        let (status, body) = server.post("/rest/service/profile", &profile_request(USER, Some(params))).await;
        assert_eq!(status, 200, "{body}");
        let resp = &body["MSS_ProfileResp"];
        assert_eq!((resp["MajorVersion"].as_str(), resp["MinorVersion"].as_str()), (Some("2"), Some("0")));
        assert_eq!(resp["SignatureProfile"], json!([
            "http://mid.swisscom.ch/Any-LoA4", DEVICE, "http://mid.swisscom.ch/MID/v1/AuthProfile1"]));
        assert_eq!(resp["Status"]["StatusCode"]["Value"], "100");
        assert_eq!(resp["Status"]["StatusMessage"], "REQUEST_OK");
        let ext = &resp["Status"]["StatusDetail"]["ProfileQueryExtension"];
        assert!(ext["MobileUser"]["AutoActivation"].is_boolean(), "{ext}");
        assert!(ext["MobileUser"]["RecoveryCodeCreated"].is_boolean(), "{ext}");
        assert!(ext["Sscds"].get("Sim").is_none(), "an App-only user has no Sim: {ext}");
        let app = &ext["Sscds"]["App"][0];
        assert_eq!(app["State"], "ACTIVE");
        assert_eq!(app["PinStatus"]["Blocked"], json!(false));
        let cert = &app["MobileUserCertificate"][0];
        assert_eq!(cert["Algorithm"], "EC");
        assert_eq!(cert["State"], "ACTIVE");
        let certs = cert["X509Certificate"].as_array().unwrap();
        assert_eq!(certs.len(), 3, "{cert}");
        assert_eq!(certs[0], phone.state().certificate.as_str());
        assert_eq!(certs[1..], phone.state().chain.iter().map(|c| json!(c)).collect::<Vec<_>>()[..]);
        let serial = phone.state().serial_number.to_lowercase();
        assert_eq!(cert["X509SubjectName"].as_array().unwrap().len(), 3, "{cert}");
        assert_eq!(cert["X509SubjectName"][0], format!("cn={serial}:pn,serialnumber={serial}"));

        let mut legacy = profile_request(USER, None);
        legacy["MSS_ProfileReq"]["MajorVersion"] = json!("1");
        legacy["MSS_ProfileReq"]["MinorVersion"] = json!("1");
        let (status, body) = server.post("/rest/service/profile", &legacy).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["MSS_ProfileResp"]["MajorVersion"], "1");
        assert_eq!(body["MSS_ProfileResp"]["MinorVersion"], "1");
        assert!(body["MSS_ProfileResp"]["Status"].get("StatusDetail").is_none(), "{body}");
    }
}

on_both_databases! {
    /// Profile query faults: an unknown MSISDN is 105; a user enrolled but never activated is 404.
    async fn profile_query_of_unknown_and_inactive_users(server) {
        let (status, body) = server.post("/rest/service/profile", &profile_request("+41799999999", None)).await;
        assert_fault(status, &body, 105, "UNKNOWN_CLIENT", "MSISDN is unknown");
        server.activation_code("+41791111111");
        let (status, body) = server.post("/rest/service/profile", &profile_request("+41791111111", None)).await;
        assert_eq!(status, 500, "{body}");
        assert_eq!(fault_code(&body), 404, "{body}");
        assert_eq!(body["Fault"]["Reason"], "NO_KEY_FOUND");
        assert_eq!(body["Fault"]["Code"]["Value"], "Receiver");
    }
}

on_both_databases! {
    /// #validate makes a good signature 502 VALID_SIGNATURE (sync and on the status query);
    /// geofencing that cannot be served still gives 500 SIGNATURE with an in-band ErrorCode.
    async fn validate_and_geofencing_services(server) {
        let validate = json!([{"Description": "http://uri.etsi.org/TS102204/v1.1.2#validate"}]);
        let request = with_services(signature_request(ROBOT_EC, "Demo: Validate?", "synch"), validate.clone());
        let (status, body) = server.post("/rest/service/sign", &request).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["MSS_SignatureResp"]["Status"]["StatusCode"]["Value"], "502");
        assert_eq!(body["MSS_SignatureResp"]["Status"]["StatusMessage"], "VALID_SIGNATURE");
        let id = start_async(server, &with_services(signature_request(ROBOT_EC, "Demo: Validate?", "asynch"), validate)).await;
        let (_, body) = server.post("/rest/service/status", &status_request(&id)).await;
        assert_eq!(body["MSS_StatusResp"]["Status"]["StatusCode"]["Value"], "502", "{body}");
        assert_eq!(body["MSS_StatusResp"]["Status"]["StatusMessage"], "VALID_SIGNATURE");

        let geofencing = json!([{"Description": "http://mid.swisscom.ch/as#geofencing"}]);
        let request = with_services(signature_request(ROBOT_EC, "Demo: Where?", "synch"), geofencing);
        let (status, body) = server.post("/rest/service/sign", &request).await;
        assert_eq!(status, 200, "{body}");
        let resp = &body["MSS_SignatureResp"];
        assert_eq!(resp["Status"]["StatusCode"]["Value"], "500");
        assert_eq!(resp["ServiceResponses"][0]["Description"], "http://mid.swisscom.ch/as#geofencing");
        assert!(resp["ServiceResponses"][0]["Geofencing"]["ErrorCode"].is_string(), "{resp}");
        openssl_verify(signature_of(resp), &server.root_ca_path());
    }
}

on_both_databases! {
    /// Geofencing answers with what the phone reported when it approved: country, accuracy
    /// in whole metres, confidences, and when (contract §7.2), on the final status.
    async fn geofencing_returns_the_reported_location(server) {
        let mut phone = server.phone(USER).await;
        phone.set_location(Some(mobileid_core::device_api::DeviceLocation {
            country: "CH".into(),
            accuracy: 16.4,
            device_confidence: 1.0,
            location_confidence: 0.75,
        }));
        let geofencing = json!([{"Description": "http://mid.swisscom.ch/as#geofencing"}]);
        let id = start_async(server, &with_services(signature_request(USER, "Demo: Where are you?", "asynch"), geofencing)).await;
        approve_next(&mut phone).await;
        let (status, body) = server.post("/rest/service/status", &status_request(&id)).await;
        assert_eq!(status, 200, "{body}");
        let resp = &body["MSS_StatusResp"];
        assert_eq!(resp["Status"]["StatusCode"]["Value"], "500", "{body}");
        let service = &resp["ServiceResponses"][0];
        assert_eq!(service["Description"], "http://mid.swisscom.ch/as#geofencing");
        let fence = &service["Geofencing"];
        assert_eq!((fence["Country"].as_str(), fence["Accuracy"].as_str()), (Some("CH"), Some("16")), "{fence}");
        assert_eq!(fence["DeviceConfidence"], "1.0");
        assert_eq!(fence["LocationConfidence"], "0.75");
        let at = chrono::DateTime::parse_from_rfc3339(fence["Timestamp"].as_str().unwrap()).expect("RFC 3339");
        assert!((chrono::Utc::now() - at.to_utc()).num_seconds().abs() < 60, "{fence}");
        assert!(fence.get("ErrorCode").is_none(), "{fence}");

        // A policy in the request is enforced: kept, the answer is the same; broken, 450.
        let with_policy = |policy: Value| {
            let service = json!([{"Description": "http://mid.swisscom.ch/as#geofencing", "GeoFencingRequest": policy}]);
            with_services(signature_request(USER, "Demo: Where are you?", "asynch"), service)
        };
        let kept = json!({"countrywhitelist": ["CH", "DE"], "countryblacklist": null, "mindeviceconfidence": "0.7",
                          "minlocationconfidence": "0.7", "maxtimestampminutes": "600", "maxaccuracymeters": "1000"});
        let id = start_async(server, &with_policy(kept)).await;
        approve_next(&mut phone).await;
        let (_, body) = server.post("/rest/service/status", &status_request(&id)).await;
        assert_eq!(body["MSS_StatusResp"]["ServiceResponses"][0]["Geofencing"]["Country"], "CH", "{body}");
        for broken in [json!({"countryblacklist": "CH"}), json!({"minlocationconfidence": "0.8"}), json!({"maxaccuracymeters": "10"})] {
            let id = start_async(server, &with_policy(broken.clone())).await;
            approve_next(&mut phone).await;
            let (status, body) = server.post("/rest/service/status", &status_request(&id)).await;
            assert_eq!((status, fault_code(&body)), (500, 450), "{broken}: {body}");
        }
        // A malformed policy is refused before anything reaches the phone.
        let (status, body) = server.post("/rest/service/sign", &with_policy(json!({"mindeviceconfidence": "high"}))).await;
        assert_eq!((status, fault_code(&body)), (500, 101), "{body}");
        assert!(body.to_string().contains("mindeviceconfidence"), "{body}");
    }
}

on_both_databases! {
    /// App2App (async, Device-LoA4): the acknowledgement carries the AuthUri with the
    /// URL-encoded RedirectUri.
    async fn app2app_auth_uri(server) {
        let _phone = server.phone(USER).await;
        let app2app = json!([{"Description": "http://mid.swisscom.ch/as#app2app", "App2App": {"RedirectUri": "acmebank://mid-done"}}]);
        let request = with_profile(with_services(signature_request(USER, "Demo: App2App?", "asynch"), app2app), DEVICE);
        let (status, body) = server.post("/rest/service/sign", &request).await;
        assert_eq!(status, 200, "{body}");
        let ack = &body["MSS_SignatureResp"];
        assert_eq!(ack["Status"]["StatusCode"]["Value"], "100");
        assert_eq!(ack["SignatureProfile"], DEVICE);
        assert_eq!(ack["ServiceResponses"][0]["Description"], "http://mid.swisscom.ch/as#app2app");
        let auth_uri = ack["ServiceResponses"][0]["App2App"]["AuthUri"].as_str().unwrap_or_else(|| panic!("{ack}"));
        assert!(auth_uri.starts_with("mobileid://auth?mobile_auth_redirect_uri=acmebank%3A%2F%2Fmid-done"), "{auth_uri}");
        // Contract §7.3: `&session_token=<token>&user_id=<uuid>`.
        let query = auth_uri.split_once('?').map(|(_, q)| q).unwrap_or_default();
        let param = |name: &str| {
            query.split('&').find_map(|kv| kv.strip_prefix(&format!("{name}="))).unwrap_or_else(|| panic!("{auth_uri}"))
        };
        assert_eq!(param("session_token"), ack["MSSP_TransID"].as_str().unwrap());
        let user_id = param("user_id");
        let groups: Vec<usize> = user_id.split('-').map(str::len).collect();
        assert_eq!(groups, vec![8, 4, 4, 4, 12], "{user_id}");
        assert!(user_id.chars().all(|c| c == '-' || c.is_ascii_hexdigit()), "{user_id}");
        assert!(!user_id.to_uppercase().contains("MIDCHE"), "the serial number is not exposed: {user_id}");
    }
}

on_both_databases! {
    /// UserLang is read case-insensitively: "DE" and "fr" reach the phone as "de" and "fr".
    async fn user_language_reaches_the_phone(server) {
        let phone = server.phone(USER).await;
        for (sent, shown) in [("DE", "de"), ("fr", "fr")] {
            let services = json!([{"Description": "http://mss.ficom.fi/TS102204/v1.0.0#userLang", "UserLang": {"Value": sent}}]);
            let id = start_async(server, &with_services(signature_request(USER, "Demo: Sprache?", "asynch"), services)).await;
            let request = next_request(&phone).await;
            assert_eq!(request.transaction_id, id);
            assert_eq!(request.language, shown);
            phone.decline(&request).await.unwrap();
        }
    }
}

/// The key scanner sees keys in written order, skips strings that are values, and handles escapes.
#[test]
fn keys_in_written_order_reads_raw_json() {
    let raw = r#"{"b":"x,\"y:","a":{"c":[{"e":1,"d":"}"}],"f":[]}}"#;
    assert_eq!(keys_in_written_order(raw), [vec!["b", "a"], vec!["c", "f"], vec!["e", "d"]]);
}
