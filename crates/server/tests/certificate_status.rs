//! Certificate status end to end: the links in an activated phone's certificate lead to
//! our OCSP responder, CRL and CA certificate; blocking a device, a new phone and an
//! operator's revocation show at once; `openssl ocsp` and `openssl verify -crl_check`
//! agree with our answers.

mod support;

use std::path::Path;
use std::process::{Command, Output};

use base64::Engine as _;
use mobileid_crypto::pem_encode;
use support::*;

const MSISDN: &str = "+41791112233";

fn openssl(dir: &Path, args: &[&str]) -> Output {
    Command::new("openssl").current_dir(dir).args(args).output().expect("the openssl command is installed")
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn certificate_der(phone: &mobileid_phone::Phone) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(&phone.state().certificate).expect("base64")
}

/// `openssl ocsp` asks the server itself, over HTTPS, about `certs` (file names, or
/// `0x…` serial numbers); returns what it printed.
fn ask_ocsp(dir: &Path, url: &str, certs: &[&str]) -> String {
    let mut args = vec!["ocsp", "-issuer", "issuing.pem", "-url", url, "-CAfile", "chain.pem"];
    for cert in certs {
        args.push(if cert.starts_with("0x") { "-serial" } else { "-cert" });
        args.push(cert);
    }
    let out = openssl(dir, &args);
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("Response verify OK"), "{said}");
    said
}

async fn fetch(server: &TestServer, url: &str) -> (String, Vec<u8>) {
    let response = server.anonymous_client().get(url).send().await.expect("fetch");
    assert_eq!(response.status(), 200, "{url}");
    let kind = response.headers()["content-type"].to_str().expect("type").to_string();
    (kind, response.bytes().await.expect("body").to_vec())
}

on_both_databases! {
    async fn ocsp_and_crl_follow_blocking_replacement_and_revocation(server) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path();
        let first = server.phone(MSISDN).await;
        std::fs::write(path.join("first.pem"), pem_encode("CERTIFICATE", &certificate_der(&first))).expect("write");

        // The certificate names where to check it: the browser port.
        let shown = text(&openssl(path, &["x509", "-in", "first.pem", "-noout", "-text"]));
        let ocsp_url = format!("{}/pki/ocsp", server.browser_base);
        assert!(shown.contains(&format!("OCSP - URI:{ocsp_url}")), "{shown}");
        let issuer_url = format!("{}/pki/issuing-ca.cer", server.browser_base);
        assert!(shown.contains(&format!("CA Issuers - URI:{issuer_url}")), "{shown}");
        let crl_url = format!("{}/pki/issuing-ca.crl", server.browser_base);
        assert!(shown.contains(&format!("URI:{crl_url}")), "{shown}");

        // The issuer's certificate is where the certificate says.
        let (kind, issuing) = fetch(server, &issuer_url).await;
        assert_eq!(kind, "application/pkix-cert");
        std::fs::write(path.join("issuing.pem"), pem_encode("CERTIFICATE", &issuing)).expect("write");
        let (_, root) = fetch(server, &format!("{}/pki/root-ca.cer", server.browser_base)).await;
        assert_eq!(pem_encode("CERTIFICATE", &root), server.ca_pem, "the published root is the data directory's");
        std::fs::write(path.join("chain.pem"), format!("{}{}", pem_encode("CERTIFICATE", &issuing), server.ca_pem))
            .expect("write");

        // Good, and unknown for a serial number we never issued.
        let said = ask_ocsp(path, &ocsp_url, &["first.pem", "0x5eed"]);
        assert!(said.contains("first.pem: good"), "{said}");
        assert!(said.contains("0x5eed: unknown"), "{said}");

        // The user reports the phone lost: the operator blocks it, and OCSP says revoked.
        let device = first.state().device_id.clone();
        let out = server.cli(&["device", "block", "--device", &device]);
        assert!(out.contains("blocked"), "{out}");
        let said = ask_ocsp(path, &ocsp_url, &["first.pem"]);
        assert!(said.contains("first.pem: revoked"), "{said}");
        let refused = server.cli_output(&["device", "block", "--device", &device]);
        assert!(!refused.status.success(), "a blocked device cannot be blocked again");

        // A new phone: a new certificate, good; the old one stays revoked.
        let second = server.phone(MSISDN).await;
        std::fs::write(path.join("second.pem"), pem_encode("CERTIFICATE", &certificate_der(&second))).expect("write");
        let said = ask_ocsp(path, &ocsp_url, &["first.pem", "second.pem"]);
        assert!(said.contains("first.pem: revoked"), "{said}");
        assert!(said.contains("second.pem: good"), "{said}");

        // The CRL lists the revoked certificate, and openssl checks against it.
        let (kind, crl) = fetch(server, &crl_url).await;
        assert_eq!(kind, "application/pkix-crl");
        std::fs::write(path.join("crl.pem"), pem_encode("X509 CRL", &crl)).expect("write");
        let check = |name: &str| openssl(path, &["verify", "-crl_check", "-CAfile", "chain.pem", "-CRLfile", "crl.pem", name]);
        let out = check("second.pem");
        assert!(out.status.success(), "{}", text(&out));
        let out = check("first.pem");
        assert!(!out.status.success() && text(&out).contains("certificate revoked"), "{}", text(&out));
        let (_, root_crl) = fetch(server, &format!("{}/pki/root-ca.crl", server.browser_base)).await;
        std::fs::write(path.join("root-crl.pem"), pem_encode("X509 CRL", &root_crl)).expect("write");
        let out = openssl(path, &["crl", "-in", "root-crl.pem", "-CAfile", "chain.pem", "-noout"]);
        assert!(text(&out).contains("verify OK"), "{}", text(&out));

        // A phone whose replacement superseded it: a third phone retires the second.
        let third = server.phone(MSISDN).await;
        std::fs::write(path.join("third.pem"), pem_encode("CERTIFICATE", &certificate_der(&third))).expect("write");
        let said = ask_ocsp(path, &ocsp_url, &["second.pem", "third.pem"]);
        assert!(said.contains("second.pem: revoked"), "{said}");
        assert!(said.contains("Reason: superseded"), "{said}");
        assert!(said.contains("third.pem: good"), "{said}");

        // The operator revokes the current certificate, with a reason.
        let serial = openssl(path, &["x509", "-in", "third.pem", "-noout", "-serial"]);
        let serial = text(&serial).trim().trim_start_matches("serial=").to_string();
        let out = server.cli(&["certificate", "revoke", "--serial", &serial, "--reason", "keyCompromise"]);
        assert!(out.contains("revoked"), "{out}");
        let said = ask_ocsp(path, &ocsp_url, &["third.pem"]);
        assert!(said.contains("third.pem: revoked") && said.contains("Reason: keyCompromise"), "{said}");
        let out = server.cli(&["certificate", "revoke", "--serial", &serial]);
        assert!(out.contains("revoked before"), "{out}");
        let out = server.cli_output(&["certificate", "revoke", "--serial", "5eed"]);
        assert!(!out.status.success(), "an unknown serial number is refused");
        let out = server.cli_output(&["certificate", "revoke", "--serial", &serial, "--reason", "whim"]);
        assert!(!out.status.success() && text(&out).contains("unknown reason"), "{}", text(&out));

        // The operator sees the history.
        let shown = server.cli(&["user", "show", "--msisdn", MSISDN]);
        assert_eq!(shown.lines().filter(|l| l.starts_with("certificate ")).count(), 3, "{shown}");
        assert!(shown.contains(&format!("certificate {} : revoked", serial.to_lowercase())), "{shown}");
        assert!(shown.contains("(keyCompromise)") && shown.contains("(superseded)"), "{shown}");

        // The GET form of RFC 6960 gives the same answer as POST.
        let out = openssl(path, &["ocsp", "-issuer", "issuing.pem", "-cert", "third.pem", "-no_nonce", "-reqout", "req.der"]);
        assert!(out.status.success(), "{}", text(&out));
        let request = std::fs::read(path.join("req.der")).expect("request");
        let encoded = base64::engine::general_purpose::STANDARD.encode(&request);
        let url = format!("{ocsp_url}/{}", encoded.replace('/', "%2F").replace('+', "%2B").replace('=', "%3D"));
        let (kind, answer) = fetch(server, &url).await;
        assert_eq!(kind, "application/ocsp-response");
        std::fs::write(path.join("resp.der"), answer).expect("write");
        let out = openssl(
            path,
            &["ocsp", "-issuer", "issuing.pem", "-cert", "third.pem", "-respin", "resp.der", "-CAfile", "chain.pem", "-no_nonce"],
        );
        assert!(text(&out).contains("third.pem: revoked"), "{}", text(&out));

        // Junk is a malformedRequest, and an oversized body never reaches the responder.
        let http = server.anonymous_client();
        let response = http.post(&ocsp_url).body("junk").send().await.expect("post");
        assert_eq!(response.status(), 200);
        assert_eq!(response.bytes().await.expect("body").as_ref(), [0x30, 0x03, 0x0a, 0x01, 0x01]);
        // Just over the 8 KiB limit: small enough that the whole body is in the socket
        // before the server answers and closes, so the client reads the 413.
        let response = http.post(&ocsp_url).body(vec![0u8; 8 * 1024 + 1]).send().await.expect("post");
        assert_eq!(response.status(), 413);
    }
}
