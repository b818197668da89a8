//! A crash and restart loses nothing: open transactions stay open and can be approved,
//! finished ones keep their answer, and the CA, demo AP and robots are the same ones.

mod support;

use mobileid_phone::{Phone, PhoneState};
use serde_json::Value;
use support::*;

/// The phone's state pointed at the server's current address (the port changes on restart).
fn phone_for(server: &TestServer, state: &PhoneState) -> Phone {
    Phone::from_state(PhoneState { server: server.base.clone(), ..state.clone() }).expect("phone")
}

async fn status_response(server: &TestServer, id: &str) -> Value {
    let (status, body) = server.post("/rest/service", &status_request(id)).await;
    assert_eq!(status, 200, "{body}");
    body["MSS_StatusResp"].clone()
}

fn user_field(server: &TestServer, msisdn: &str, name: &str) -> String {
    let out = server.cli(&["user", "show", "--msisdn", msisdn]);
    out.lines()
        .find_map(|l| l.strip_prefix(name).map(|v| v.trim_start().trim_start_matches(':').trim().to_string()))
        .unwrap_or_else(|| panic!("no {name} in {out}"))
}

on_both_databases! {
    /// An async request accepted before a crash is still outstanding after it, and the
    /// phone's approval then completes it with a CMS openssl verifies.
    async fn open_transaction_survives_a_crash(server) {
        let msisdn = "+41791300001";
        let phone = server.phone(msisdn).await;
        let text = "Demo: Approve after the restart?";
        let (status, body) = server.post("/rest/service", &signature_request(msisdn, text, "asynch")).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["MSS_SignatureResp"]["Status"]["StatusCode"]["Value"], "100");
        let id = body["MSS_SignatureResp"]["MSSP_TransID"].as_str().unwrap().to_string();

        server.restart().await;
        assert_eq!(status_response(server, &id).await["Status"]["StatusCode"]["Value"], "504");

        let mut phone = phone_for(server, phone.state());
        let request = approve_next(&mut phone).await;
        assert_eq!(request.transaction_id, id);
        let resp = status_response(server, &id).await;
        assert_eq!(resp["Status"]["StatusCode"]["Value"], "500", "{resp}");
        let content = openssl_verify(resp["MSS_Signature"]["Base64Signature"].as_str().unwrap(), &server.root_ca_path());
        assert_eq!(content, text.as_bytes());
    }
}

on_both_databases! {
    /// A finished signature still answers 500 with the same CMS after a restart.
    async fn finished_signature_survives_a_restart(server) {
        let msisdn = "+41791300002";
        let mut phone = server.phone(msisdn).await;
        let (status, body) = server.post("/rest/service", &signature_request(msisdn, "Demo: Pay 5 CHF?", "asynch")).await;
        assert_eq!(status, 200, "{body}");
        let id = body["MSS_SignatureResp"]["MSSP_TransID"].as_str().unwrap().to_string();
        approve_next(&mut phone).await;
        let before = status_response(server, &id).await;
        assert_eq!(before["Status"]["StatusCode"]["Value"], "500", "{before}");

        server.restart().await;
        let after = status_response(server, &id).await;
        assert_eq!(after["Status"]["StatusCode"]["Value"], "500", "{after}");
        assert_eq!(after["MSS_Signature"], before["MSS_Signature"]);
        openssl_verify(after["MSS_Signature"]["Base64Signature"].as_str().unwrap(), &server.root_ca_path());
    }
}

on_both_databases! {
    /// The CA, the demo AP and the robot users are reused after a restart, not made anew.
    async fn ca_demo_ap_and_robots_are_reused(server) {
        let ca_before = server.ca_pem.clone();
        let aps_before = server.cli(&["ap", "list"]);
        let robot_serial = user_field(server, "+41700092501", "serial number");
        let demo_cert = std::fs::read(server.demo_ap_cert_path()).unwrap();

        server.restart().await;
        assert_eq!(server.ca_pem, ca_before, "ca.pem changed");
        assert_eq!(std::fs::read(server.demo_ap_cert_path()).unwrap(), demo_cert, "demo AP certificate changed");
        assert_eq!(server.cli(&["ap", "list"]), aps_before);
        assert_eq!(user_field(server, "+41700092501", "serial number"), robot_serial);

        let text = "Demo: Robot after the restart?";
        let (status, body) = server.post("/rest/service", &signature_request("+41700092501", text, "synch")).await;
        assert_eq!(status, 200, "{body}");
        let resp = &body["MSS_SignatureResp"];
        assert_eq!(resp["Status"]["StatusCode"]["Value"], "500", "{body}");
        let content = openssl_verify(resp["MSS_Signature"]["Base64Signature"].as_str().unwrap(), &server.root_ca_path());
        assert_eq!(content, text.as_bytes());
    }
}

/// `openssl verify` on a certificate file, with the given CA options.
fn openssl_verify_certificate(ca_args: &[&std::path::Path], certificate: &std::path::Path) -> std::process::Output {
    let mut command = std::process::Command::new("openssl");
    command.arg("verify");
    for (flag, path) in ["-CAfile", "-untrusted"].iter().zip(ca_args) {
        command.arg(flag).arg(path);
    }
    command.arg(certificate).output().expect("openssl")
}

/// `ca-chain.pem` holds the issuing CA and the root, is written again at every start,
/// and lets a client check a user certificate's whole chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ca_chain_file_lets_clients_check_the_chain() {
    let mut server = TestServer::start(Backend::Sqlite).await;
    let chain_path = server.data_dir.path().join("ca-chain.pem");
    let chain = std::fs::read_to_string(&chain_path).expect("ca-chain.pem");
    assert_eq!(chain.matches("-----BEGIN CERTIFICATE-----").count(), 2, "{chain}");
    assert!(chain.ends_with(&server.ca_pem), "the root must come last: {chain}");

    let (status, body) = server.post("/rest/service", &signature_request(ROBOT_RSA, "Demo: Chain?", "synch")).await;
    assert_eq!(status, 200, "{body}");
    let b64 = body["MSS_SignatureResp"]["MSS_Signature"]["Base64Signature"].as_str().expect("signature");
    let (_, signer) = openssl_verify_with_signer(b64, &server.root_ca_path());
    let signer_path = server.data_dir.path().join("signer.pem");
    std::fs::write(&signer_path, signer).unwrap();

    let root = server.root_ca_path();
    let root_only = openssl_verify_certificate(&[&root], &signer_path);
    assert!(!root_only.status.success(), "the root alone cannot check a user certificate");
    for ca_args in [vec![chain_path.as_path()], vec![root.as_path(), chain_path.as_path()]] {
        let out = openssl_verify_certificate(&ca_args, &signer_path);
        assert!(out.status.success(), "{ca_args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }

    std::fs::remove_file(&chain_path).unwrap();
    server.restart().await;
    assert_eq!(std::fs::read_to_string(&chain_path).expect("ca-chain.pem again"), chain);
}
