//! The operator CLI: registering an AP with its own rules, and enrolling users.

mod support;

use std::path::PathBuf;

use mobileid_crypto::{pem_encode, self_signed_client_certificate};
use serde_json::Value;
use sha2::{Digest, Sha256};
use support::*;

const BANK: &str = "mid://bank.example.ch";
const DEVICE_LOA4: &str = "http://mid.swisscom.ch/Device-LoA4";

/// Writes a fresh self-signed client certificate and its key; returns (cert, key, DER).
fn client_certificate(dir: &tempfile::TempDir) -> (PathBuf, PathBuf, Vec<u8>) {
    let (der, key) = self_signed_client_certificate("Bank AP").expect("certificate");
    let (cert_path, key_path) = (dir.path().join("bank.pem"), dir.path().join("bank.key"));
    std::fs::write(&cert_path, pem_encode("CERTIFICATE", &der)).unwrap();
    std::fs::write(&key_path, pem_encode("PRIVATE KEY", key.pkcs8_der())).unwrap();
    (cert_path, key_path, der)
}

/// A signature request from the bank AP.
fn bank_request(msisdn: &str, text: &str, profile: &str) -> Value {
    let mut body = signature_request(msisdn, text, "asynch");
    body["MSS_SignatureReq"]["AP_Info"]["AP_ID"] = BANK.into();
    body["MSS_SignatureReq"]["SignatureProfile"] = profile.into();
    body
}

/// Registers the bank AP with the CLI; returns its client (cert, key) paths, its
/// certificate's SHA-256 fingerprint, and what `ap add` printed.
fn add_bank_ap(server: &TestServer, dir: &tempfile::TempDir) -> (PathBuf, PathBuf, String, String) {
    let (cert, key, der) = client_certificate(dir);
    let fingerprint = hex::encode(Sha256::digest(&der));
    let cert_arg = cert.display().to_string();
    let out = server.cli(&[
        "ap",
        "add",
        "--ap-id",
        BANK,
        "--cert",
        &cert_arg,
        "--name",
        "Bank",
        "--dtbd-prefix",
        "Bank: ",
        "--profiles",
        DEVICE_LOA4,
        "--services",
        "app2app",
    ]);
    (cert, key, fingerprint, out)
}

on_both_databases! {
    /// An AP added with a prefix, one profile and app2app is listed with its fingerprint
    /// and held to its rules: Device-LoA4 only (Any-LoA4 gives 109), and its prefix (107).
    async fn ap_add_registers_an_ap_with_its_rules(server) {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key, fingerprint, out) = add_bank_ap(server, &dir);
        assert!(out.contains(&fingerprint), "{out}");

        let list = server.cli(&["ap", "list"]);
        let entry = list.split(&format!("{BANK}  (Bank)")).nth(1).unwrap_or_else(|| panic!("{BANK} not listed: {list}"));
        let entry: String = entry.lines().take_while(|l| l.is_empty() || l.starts_with(' ')).collect::<Vec<_>>().join("\n");
        assert!(entry.contains(&format!("certificate     : SHA-256 {fingerprint}")), "{entry}");
        assert!(entry.contains(r#"DTBD prefix     : "Bank: ""#), "{entry}");
        assert!(entry.contains(&format!("profiles        : {DEVICE_LOA4}")), "{entry}");
        assert!(entry.contains("services        : app2app"), "{entry}");

        let bank = server.client_with_identity(&cert, &key);
        let url = format!("{}/rest/service", server.base);
        let msisdn = "+41791400001";
        let mut phone = server.phone(msisdn).await;

        let (status, body) = post_json(&bank, &url, &bank_request(msisdn, "Bank: Pay 30 CHF?", DEVICE_LOA4)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["MSS_SignatureResp"]["Status"]["StatusCode"]["Value"], "100", "{body}");
        let id = body["MSS_SignatureResp"]["MSSP_TransID"].as_str().unwrap().to_string();
        approve_next(&mut phone).await;
        let mut query = status_request(&id);
        query["MSS_StatusReq"]["AP_Info"]["AP_ID"] = BANK.into();
        let (status, body) = post_json(&bank, &url, &query).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["MSS_StatusResp"]["Status"]["StatusCode"]["Value"], "500", "{body}");

        let any = "http://mid.swisscom.ch/Any-LoA4";
        let (status, body) = post_json(&bank, &url, &bank_request(msisdn, "Bank: Pay?", any)).await;
        assert_eq!((status, fault_code(&body)), (500, 109), "Any-LoA4 is not allowed: {body}");

        let (status, body) = post_json(&bank, &url, &bank_request(msisdn, "Pay 30 CHF?", DEVICE_LOA4)).await;
        assert_eq!((status, fault_code(&body)), (500, 107), "the prefix is required: {body}");
    }
}

on_both_databases! {
    /// An AP without the robots permission gets 105 for the robot users, in a profile
    /// query and in a signature request with a profile it may use.
    async fn ap_without_robots_permission_cannot_reach_the_robots(server) {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key, _, _) = add_bank_ap(server, &dir);
        let bank = server.client_with_identity(&cert, &key);
        let url = format!("{}/rest/service", server.base);

        let mut query = profile_request("+41700092501", None);
        query["MSS_ProfileReq"]["AP_Info"]["AP_ID"] = BANK.into();
        let (status, body) = post_json(&bank, &url, &query).await;
        assert_eq!((status, fault_code(&body)), (500, 105), "profile query: {body}");

        let (status, body) = post_json(&bank, &url, &bank_request("+41700092501", "Bank: Robot?", DEVICE_LOA4)).await;
        assert_eq!((status, fault_code(&body)), (500, 105), "signature request: {body}");
    }
}

on_both_databases! {
    /// `user add` refuses a malformed MSISDN with a clear message, and enrols nobody.
    async fn user_add_refuses_a_bad_msisdn(server) {
        let output = server.cli_output(&["user", "add", "--msisdn", "12ab"]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "accepted a bad MSISDN: {}", String::from_utf8_lossy(&output.stdout));
        assert!(stderr.contains("12ab") && stderr.contains("Illegal msisdn"), "unclear message: {stderr}");
        assert!(!String::from_utf8_lossy(&output.stdout).contains("Activation code"));
    }
}

on_both_databases! {
    /// `user show` for an unknown user fails and says so.
    async fn user_show_refuses_an_unknown_user(server) {
        let output = server.cli_output(&["user", "show", "--msisdn", "+41791499999"]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "succeeded: {}", String::from_utf8_lossy(&output.stdout));
        assert!(stderr.contains("no user with MSISDN +41791499999"), "{stderr}");
    }
}

on_both_databases! {
    /// `user import` enrols every number of a file at once and prints each one's code; a
    /// bad line (malformed, a test number, a number twice) refuses the whole import, with
    /// the line named, and nobody is enrolled.
    async fn user_import_enrols_a_list_or_nobody(server) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("numbers.txt");
        for (list, line, why) in [
            ("+41791500001\n12ab\n", "number 2 (12ab)", "Illegal msisdn"),
            ("+41791500001\n+41000092401\n", "number 2 (+41000092401)", "a test number"),
            ("+41791500001\n41791500001\n", "number 2 (41791500001)", "given twice"),
        ] {
            std::fs::write(&file, list).unwrap();
            let output = server.cli_output(&["user", "import", "--file", file.to_str().unwrap()]);
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(!output.status.success(), "accepted {list:?}");
            assert!(stderr.contains(line) && stderr.contains(why), "unclear message for {list:?}: {stderr}");
        }
        assert_eq!(server.sql("SELECT COUNT(*) FROM users WHERE msisdn LIKE '417915%'").trim(), "0", "nobody enrolled");

        std::fs::write(&file, "+41791500001\n\n 41791500002 \n").unwrap();
        let out = server.cli(&["user", "import", "--file", file.to_str().unwrap()]);
        let codes: Vec<(&str, &str)> = out.lines().map(|line| line.split_once(' ').unwrap()).collect();
        assert_eq!(codes.iter().map(|(msisdn, _)| *msisdn).collect::<Vec<_>>(), ["+41791500001", "41791500002"]);
        for (_, code) in &codes {
            let phone = mobileid_phone::Phone::activate(&server.base, Some(&server.ca_pem), code, PIN).await;
            assert!(phone.expect("activate").state().msisdn.starts_with("417915000"));
        }
        // Each code is spent; the users are active.
        assert_eq!(server.sql("SELECT COUNT(*) FROM users WHERE msisdn LIKE '417915%' AND state = 'ACTIVE'").trim(), "2");
    }
}
