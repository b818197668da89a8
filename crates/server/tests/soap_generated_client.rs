//! MSS over SOAP with a client that an independent library generates at run time from the
//! WSDL our server publishes: Python's zeep (tests/soap/zeep_client.py), through mutual TLS.
//! What zeep sends is its own reading of the WSDL's rpc/literal binding: the wrapper
//! (`<MSS_Signature>`) and the part (`<MSS_SignatureReq>`) both unqualified, everything
//! inside in the ETSI namespace, `Content-Type: application/soap+xml; charset=utf-8;
//! action="None"`. The server must answer in that same style, which zeep then parses with
//! the WSDL's types.
//!
//! Needs `scripts/python-test-env` (a venv with the pinned zeep in target/python-test-env).

mod support;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use support::*;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

/// The profiles of a SIM-only EC user (contract §5.4; as in mss_operations.rs).
const EC_SIM_PROFILES: [&str; 4] = [
    "http://mid.swisscom.ch/Any-LoA4",
    "http://mid.swisscom.ch/MID/v1/AuthProfile1",
    "http://mid.swisscom.ch/MID/v1/AuthProfile1.ECC",
    STK,
];

fn python() -> PathBuf {
    let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/python-test-env/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/python-test-env (it installs the pinned zeep for the SOAP client tests)",
        python.display()
    );
    python
}

/// One run of zeep_client.py; its JSON lines arrive as they are printed.
struct Zeep {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
    scenario: String,
}

impl Zeep {
    fn start(server: &TestServer, args: &[&str]) -> Zeep {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/soap/zeep_client.py");
        let mut child = Command::new(python())
            .arg(script)
            .arg(&server.base)
            .arg(server.data_dir.path())
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start zeep_client.py");
        let lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        Zeep { child, lines, scenario: args.join(" ") }
    }

    /// The next event; panics with zeep's stderr if the script ended or took too long.
    async fn next(&mut self) -> Value {
        let line = tokio::time::timeout(Duration::from_secs(60), self.lines.next_line()).await;
        match line {
            Ok(Ok(Some(line))) => {
                let event: Value =
                    serde_json::from_str(&line).unwrap_or_else(|_| panic!("zeep {}: not JSON: {line}", self.scenario));
                assert_ne!(event["event"], "error", "zeep {} failed: {}", self.scenario, describe(&event));
                event
            }
            Ok(_) => {
                let _ = self.child.start_kill();
                let mut stderr = String::new();
                if let Some(mut err) = self.child.stderr.take() {
                    let _ = tokio::io::AsyncReadExt::read_to_string(&mut err, &mut stderr).await;
                }
                panic!("zeep {} ended without a result:\n{stderr}", self.scenario)
            }
            Err(_) => panic!("zeep {} printed nothing for 60 s", self.scenario),
        }
    }

    /// The `result` event (the last line).
    async fn result(mut self) -> Value {
        let event = self.next().await;
        assert_eq!(event["event"], "result", "zeep {}: {}", self.scenario, describe(&event));
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await;
        assert!(matches!(status, Ok(Ok(s)) if s.success()), "zeep {} exited with {status:?}", self.scenario);
        event
    }
}

/// An event, with what was on the wire, for assertion messages.
fn describe(event: &Value) -> String {
    format!(
        "{}\n  sent: {}\n  answer (HTTP {}): {}",
        event.get("error").and_then(Value::as_str).unwrap_or(""),
        event["sent_envelope"].as_str().unwrap_or("-"),
        event["http_status"],
        event["response_body"].as_str().unwrap_or("-"),
    )
}

async fn zeep(server: &TestServer, args: &[&str]) -> Value {
    Zeep::start(server, args).result().await
}

fn str_of<'a>(event: &'a Value, key: &str) -> &'a str {
    event[key].as_str().unwrap_or_else(|| panic!("no {key}: {event}"))
}

/// zeep's wire style: wrapper and part unqualified; the server mirrors it exactly.
fn assert_zeep_style_mirrored(event: &Value, operation: &str, part: &str) {
    let sent = str_of(event, "sent_envelope");
    assert!(
        sent.contains(&format!("<soap-env:Body><{operation}><{part}Req ")),
        "zeep no longer sends unqualified wrapper and part: {sent}"
    );
    let content_type = event["sent_headers"]["Content-Type"].as_str().unwrap_or_default();
    assert!(content_type.starts_with("application/soap+xml"), "zeep sent Content-Type {content_type}");
    assert_eq!(event["response_content_type"], SOAP_RESPONSE_TYPE, "{event}");
    let body = str_of(event, "response_body");
    assert!(body.starts_with(r#"<?xml version="1.0" encoding="utf-8"?>"#), "{body}");
    let mirrored = format!(r#"<{operation}Response xmlns=""><{part}Resp xmlns="" "#);
    assert!(body.contains(&mirrored), "expected {mirrored} in {body}");
}

/// What every AP compares: AP_TransID exactly, AP_PWD echoed (SOAP only), versions 1/1.
fn assert_echoes(event: &Value) {
    assert_eq!(event["ap_trans_id_echoed"], event["ap_trans_id_sent"], "{event}");
    assert_eq!(event["ap_pwd_echoed"], "not-needed", "{event}");
    assert_eq!((event["major_version"].as_i64(), event["minor_version"].as_i64()), (Some(1), Some(1)), "{event}");
}

on_both_databases! {
    /// The generated client: the WSDL's addresses point at this server; sync and async
    /// signatures with both robots, each CMS verified by openssl.
    async fn robot_signatures_sync_and_async(server) {
        for (msisdn, algorithm) in [(ROBOT_EC, "EC"), (ROBOT_RSA, "RSA")] {
            let text = format!("Demo: zeep, {algorithm} robot, sync?");
            let r = zeep(server, &["sync", msisdn, &text]).await;
            eprintln!("zeep sent {}:\n{}", r["sent_headers"], str_of(&r, "sent_envelope"));
            let addresses: Vec<&str> = r["wsdl_addresses"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
            let expected: Vec<String> = ["MSS_ProfilePort", "MSS_ReceiptPort", "MSS_SignaturePort", "MSS_StatusQueryPort"]
                .iter()
                .map(|port| format!("{}/soap/services/{port}", server.base))
                .collect();
            assert_eq!(addresses, expected);
            assert_zeep_style_mirrored(&r, "MSS_Signature", "MSS_Signature");
            assert_echoes(&r);
            assert_eq!((r["code"].as_i64(), r["message"].as_str()), (Some(500), Some("SIGNATURE")), "{r}");
            assert_eq!(r["msisdn"], msisdn);
            assert_eq!(r["signature_profile"], STK);
            assert!(!str_of(&r, "mssp_trans_id").is_empty());
            assert_eq!(openssl_verify(str_of(&r, "base64_signature"), &server.root_ca_path()), text.as_bytes());

            let text = format!("Demo: zeep, {algorithm} robot, async?");
            let mut run = Zeep::start(server, &["async", msisdn, &text]);
            let ack = run.next().await;
            assert_eq!(ack["event"], "ack");
            assert_zeep_style_mirrored(&ack, "MSS_Signature", "MSS_Signature");
            assert_eq!((ack["code"].as_i64(), ack["message"].as_str()), (Some(100), Some("REQUEST_OK")), "{ack}");
            assert_eq!(ack["signature_profile"], STK);
            assert_eq!(ack["base64_signature"], Value::Null);
            let r = run.result().await;
            assert_zeep_style_mirrored(&r, "MSS_StatusQuery", "MSS_Status");
            assert_echoes(&r);
            assert_eq!(r["polls"], json!([500]), "the robot answers at once: {r}");
            assert_eq!((r["code"].as_i64(), r["message"].as_str()), (Some(500), Some("SIGNATURE")), "{r}");
            assert_eq!(r["msisdn"], msisdn);
            assert_eq!(openssl_verify(str_of(&r, "base64_signature"), &server.root_ca_path()), text.as_bytes());
        }
    }
}

on_both_databases! {
    /// An async signature that a virtual phone approves while zeep polls (504, then 500),
    /// then a receipt that reaches the phone.
    async fn async_signature_approved_while_zeep_polls_then_receipt(server) {
        let msisdn = "41791000301";
        let mut phone = server.phone(msisdn).await;
        let text = "Demo: zeep polls, the phone approves? ç €";
        let mut run = Zeep::start(server, &["async", msisdn, text]);
        let ack = run.next().await;
        assert_eq!((ack["event"].as_str(), ack["code"].as_i64()), (Some("ack"), Some(100)), "{ack}");
        assert_eq!(ack["signature_profile"], DEVICE);
        let id = str_of(&ack, "mssp_trans_id").to_string();

        let outstanding = run.next().await;
        assert_eq!(outstanding["event"], "outstanding", "{outstanding}");
        assert_eq!(outstanding["code"], 504);
        assert_eq!(outstanding["message"], "OUTSTANDING_TRANSACTION");
        assert_zeep_style_mirrored(&outstanding, "MSS_StatusQuery", "MSS_Status");

        let shown = approve_next(&mut phone).await;
        assert_eq!((shown.transaction_id.as_str(), shown.data.as_str()), (id.as_str(), text));
        let r = run.result().await;
        let polls = r["polls"].as_array().unwrap();
        assert_eq!((polls.first(), polls.last()), (Some(&json!(504)), Some(&json!(500))), "{r}");
        assert_eq!((r["code"].as_i64(), r["message"].as_str()), (Some(500), Some("SIGNATURE")), "{r}");
        assert_eq!(r["msisdn"], msisdn, "the MSISDN is echoed as sent (no +)");
        assert_echoes(&r);
        assert_eq!(openssl_verify(str_of(&r, "base64_signature"), &server.root_ca_path()), text.as_bytes());

        let r = zeep(server, &["receipt", &id, msisdn, "Demo: Login OK", "noack"]).await;
        assert_zeep_style_mirrored(&r, "MSS_Receipt", "MSS_Receipt");
        assert_echoes(&r);
        assert_eq!((r["code"].as_i64(), r["message"].as_str()), (Some(100), Some("REQUEST_OK")), "{r}");
        assert_eq!(r["receipt_extension"], Value::Null);
        let inbox = phone.inbox(Duration::from_secs(5)).await.unwrap();
        assert_eq!(inbox.receipts.len(), 1, "{inbox:?}");
        assert_eq!((inbox.receipts[0].transaction_id.as_str(), inbox.receipts[0].message.as_str()), (id.as_str(), "Demo: Login OK"));
    }
}

on_both_databases! {
    /// A receipt asking for the user's answer (UserAck): the robot's answer must be
    /// readable by the generated client from Status/StatusDetail.
    async fn receipt_with_user_ack_is_readable(server) {
        let mut run = Zeep::start(server, &["async", ROBOT_EC, "Demo: zeep receipt?"]);
        let id = str_of(&run.next().await, "mssp_trans_id").to_string();
        run.result().await;
        let r = zeep(server, &["receipt", &id, ROBOT_EC, "Demo: OK", "ack"]).await;
        assert_zeep_style_mirrored(&r, "MSS_Receipt", "MSS_Receipt");
        assert_eq!((r["code"].as_i64(), r["message"].as_str()), (Some(100), Some("REQUEST_OK")), "{r}");
        assert_eq!(
            r["receipt_extension"],
            json!({"ReceiptMessagingMode": "synch", "UserAck": true, "UserResponse": r#"{"status":"OK"}"#}),
            "{r}"
        );
    }
}

on_both_databases! {
    /// A v2.0 profile query without Params, to the WSDL's MSS_ProfilePort and to the Java
    /// client's MSS_ProfileQueryPort: zeep parses the SignatureProfile list.
    async fn profile_query_lists_the_signature_profiles(server) {
        for port in ["/soap/services/MSS_ProfilePort", "/soap/services/MSS_ProfileQueryPort"] {
            let r = zeep(server, &["profile", ROBOT_EC, "-", port]).await;
            assert_zeep_style_mirrored(&r, "MSS_ProfileQuery", "MSS_Profile");
            assert_eq!(r["ap_trans_id_echoed"], r["ap_trans_id_sent"]);
            assert_eq!((r["major_version"].as_i64(), r["minor_version"].as_i64()), (Some(2), Some(0)), "{r}");
            assert_eq!((r["code"].as_i64(), r["message"].as_str()), (Some(100), Some("REQUEST_OK")), "{r}");
            assert_eq!(r["signature_profiles"], json!(EC_SIM_PROFILES), "{port}: {r}");
        }
    }
}

on_both_databases! {
    /// A v2.0 profile query with Params: zeep parses the profiles and the
    /// ProfileQueryExtension in Status/StatusDetail (Sim state, PIN status, certificates).
    async fn profile_query_with_params_is_readable(server) {
        let r = zeep(server, &["profile", ROBOT_EC, "sscds state certs pinstatus", "/soap/services/MSS_ProfilePort"]).await;
        assert_zeep_style_mirrored(&r, "MSS_ProfileQuery", "MSS_Profile");
        assert_eq!((r["code"].as_i64(), r["message"].as_str()), (Some(100), Some("REQUEST_OK")), "{r}");
        assert_eq!(r["signature_profiles"], json!(EC_SIM_PROFILES), "{r}");
        let sim = &r["sim"];
        assert_eq!(sim["state"], "ACTIVE", "{r}");
        assert_eq!(sim["pin_blocked"], false, "{r}");
        assert_eq!(sim["certificates"][0]["algorithm"], "EC", "{r}");
        // The user certificate, the issuing CA and the root, each with its subject name.
        assert_eq!(sim["certificates"][0]["certificates"], 3, "{r}");
        assert_eq!(sim["certificates"][0]["subject_names"], 3, "{r}");
    }
}

on_both_databases! {
    /// Faults reach the generated client as zeep Faults whose subcode is the QName
    /// {ETSI}_NNN and whose Detail holds the detail text.
    async fn faults_are_soap_faults_for_zeep(server) {
        let cases = [
            ("+41000092401", "_401", "USER_CANCEL", "soapenv:Receiver", "User cancelled the request"),
            ("+41000092105", "_105", "UNKNOWN_CLIENT", "soapenv:Sender", "MSISDN is unknown"),
            ("+41791000399", "_105", "UNKNOWN_CLIENT", "soapenv:Sender", "MSISDN is unknown"),
        ];
        for (msisdn, subcode, reason, code, detail) in cases {
            let r = zeep(server, &["fault", msisdn, "Demo: fault?"]).await;
            assert_eq!(r["http_status"], 500, "{r}");
            assert_eq!(r["response_content_type"], SOAP_RESPONSE_TYPE, "{r}");
            assert_eq!(r["subcodes"], json!([{"namespace": MSS_NS, "localname": subcode}]), "{msisdn}: {r}");
            assert_eq!(r["message"], reason, "{r}");
            assert_eq!(r["code"], code, "{r}");
            assert_eq!(r["detail_text"], detail, "{r}");
            assert_eq!(r["detail_children"], json!(["{http://kiuru.methics.fi/mssp}detail"]), "{r}");
        }
    }
}

/// The WSDL we serve is the official one with the endpoint addresses pointing at us and
/// only the documented corrections (every added line marked `mobileid:` or part of a
/// marked block), so clients generated from it read what the wire really carries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn served_wsdl_is_the_official_one_with_marked_corrections() {
    let server = TestServer::start(Backend::Sqlite).await;
    let served = server
        .anonymous_client()
        .get(format!("{}/soap/services/MSS_ProfileQueryPort?wsdl", server.base))
        .send()
        .await
        .expect("wsdl")
        .text()
        .await
        .expect("wsdl text");
    let official = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../spec/mobileid-official.wsdl"))
        .expect("the official WSDL in spec/");
    let served =
        served.replace(&format!("{}/soap/services/", server.base), "https://mobileid.swisscom.com/soap/services/");
    let official_lines: Vec<&str> = official.lines().collect();
    let served_lines: Vec<&str> = served.lines().collect();
    let removed: Vec<&&str> = official_lines.iter().filter(|l| !served_lines.contains(l)).collect();
    let added: Vec<&&str> = served_lines.iter().filter(|l| !official_lines.contains(l)).collect();
    // Six local declarations became references to global elements.
    assert_eq!(removed.len(), 6, "removed: {removed:#?}");
    assert!(removed.iter().all(|l| l.trim_start().starts_with("<xs:element name=")), "{removed:#?}");
    for line in &added {
        let line = line.trim();
        let marked = line.starts_with("<!-- mobileid:")
            || line.starts_with("<xs:element ref=")
            || (line.starts_with("<xs:element name=") && line.ends_with("/>"));
        assert!(marked, "unmarked addition: {line}");
    }
    let markers = served.matches("<!-- mobileid:").count();
    assert_eq!(markers, 6, "every correction is marked");
}
