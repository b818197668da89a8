//! The web authenticator on a phone, end to end: headless Chromium emulating a phone
//! (`crates/http/tests/browser/authenticator.mjs`) activates the app with an operator's
//! code, answers an MSS signature request with the PIN (the CMS is checked with
//! openssl), keeps working offline, shows that a copy of its storage opens nothing, and
//! is blocked by wrong PINs that the server counts; the blocked phone's certificate is
//! then revoked. Screenshots of every page in en, de, fr and it go to
//! `target/screenshots/app-*.png`.

mod support;

use serde_json::Value;
use support::browser::BrowserScript;
use support::*;

const MSISDN: &str = "+41794445566";
const PIN: &str = "482916";

async fn signature_requested(server: &TestServer, text: &str) -> String {
    let (status, body) = server.post("/rest/service", &signature_request(MSISDN, text, "asynch")).await;
    assert_eq!(status, 200, "{body}");
    body["MSS_SignatureResp"]["MSSP_TransID"].as_str().expect("MSSP_TransID").to_string()
}

on_both_databases! {
    async fn the_web_authenticator_answers_requests_offline_safe_and_blocks(server) {
        let code = server.activation_code(MSISDN);
        let mut script = BrowserScript::start("authenticator.mjs", &[("APP", &server.browser_base), ("CODE", &code), ("PIN", PIN)]);

        // Activated in the browser: the serial number and certificate the server issued.
        let activated = script.expect("activated ");
        let (serial, certificate) = activated.split_once(' ').expect("serial and certificate");
        let shown = server.cli(&["user", "show", "--msisdn", MSISDN]);
        assert!(shown.contains(&format!("serial number : {serial}")), "{shown}");
        assert!(shown.contains("state         : ACTIVE"), "{shown}");
        let info = mobileid_crypto::CertificateInfo::parse(
            &base64::Engine::decode(&base64::engine::general_purpose::STANDARD, certificate).expect("base64"),
        )
        .expect("certificate");
        assert_eq!(info.subject_serial_number.as_deref(), Some(serial));

        // An AP asks; the phone shows exactly the text, a wrong PIN is counted, the right
        // one signs.
        let text = "Demo: Zahlung von CHF 12.50 an Bäckerei Müller bestätigen?";
        let id = signature_requested(server, text).await;
        script.tell("request");
        let shown: Value = serde_json::from_str(&script.expect("shown ")).expect("json");
        assert_eq!(shown["text"], text);
        assert_eq!(shown["focused"], "request-heading", "the request takes the focus, for screen readers");
        let wrong = script.expect("wrong-pin ");
        assert!(wrong.contains('4'), "four attempts left: {wrong}");
        script.expect("approved");
        let (status, body) = server.post("/rest/service/status", &status_request(&id)).await;
        assert_eq!(status, 200, "{body}");
        let response = &body["MSS_StatusResp"];
        assert_eq!(response["Status"]["StatusCode"]["Value"], "500", "{body}");
        let (content, signer) = openssl_verify_with_signer(
            response["MSS_Signature"]["Base64Signature"].as_str().expect("signature"),
            &server.root_ca_path(),
        );
        assert_eq!(content, text.as_bytes());
        let signer = mobileid_crypto::pem_decode_all(&signer).expect("signer PEM");
        let signer = mobileid_crypto::CertificateInfo::parse(&signer[0].1).expect("signer");
        assert_eq!(signer.serial_hex, info.serial_hex, "signed with the certificate issued to the browser");
        script.expect("offline-ok");
        script.expect("copy-useless");

        // Wrong PINs until the server blocks the key: the request fails with 402 and the
        // certificate is revoked.
        let id = signature_requested(server, "Demo: Login bei der Bank?").await;
        script.tell("block");
        for left in (1..=4).rev() {
            let wrong = script.expect("wrong-pin ");
            assert!(wrong.contains(&left.to_string()), "{left} attempts left: {wrong}");
        }
        script.expect("blocked");
        let (_, body) = server.post("/rest/service/status", &status_request(&id)).await;
        assert_eq!(fault_code(&body), 402, "{body}");
        let shown = server.cli(&["user", "show", "--msisdn", MSISDN]);
        assert!(shown.contains(&format!("certificate {} : revoked", info.serial_hex)), "{shown}");
        let (status, body) = server.post("/rest/service", &signature_request(MSISDN, "Demo: again?", "asynch")).await;
        assert_eq!((status, fault_code(&body)), (500, 402), "{body}");

        script.tell("done");
        let summary: Value = serde_json::from_str(&script.expect("summary ")).expect("json");
        assert!(script.finished(), "the browser script failed");
        assert_eq!(summary["violations"], serde_json::json!([]), "no CSP violation, no script error");
        let pages = &summary["pages"];
        assert_eq!(pages["controlled"], true, "the service worker controls the app");
        assert_eq!(pages["manifest"]["display"], "standalone");
        assert_eq!(pages["manifest"]["worker"], "ready");
        assert_eq!(pages["manifest"]["scope"], "/app/");
        assert!(pages["manifest"]["icons"].as_array().is_some_and(|icons| icons.len() == 3));
        assert!(pages["mismatch"].as_str().is_some_and(|m| m.contains("differ")), "{pages}");
        assert!(pages["history"].as_str().is_some_and(|h| h.contains("Confirmed") && h.contains("Demo: Zahlung")), "{pages}");
        for (name, lang, words) in [
            ("activate-en", "en", "Activate Mobile ID"),
            ("activate-de", "de", "Mobile ID aktivieren"),
            ("activate-fr", "fr", "Activer Mobile ID"),
            ("activate-it", "it", "Attivare Mobile ID"),
            ("home-en", "en", "Your Mobile ID"),
            ("home-de", "de", "Ihre Mobile ID"),
            ("home-fr", "fr", "Votre Mobile ID"),
            ("home-it", "it", "Il tuo Mobile ID"),
            ("request-en", "en", "Please confirm"),
            ("request-de", "de", "Bitte bestätigen"),
            ("request-fr", "fr", "Veuillez confirmer"),
            ("request-it", "it", "Conferma, per favore"),
            ("blocked-de", "de", "Mobile ID gesperrt"),
            ("blocked-fr", "fr", "Mobile ID bloqué"),
            ("blocked-it", "it", "Mobile ID bloccato"),
            ("offline-en", "en", "You are offline"),
            ("blocked-en", "en", "Mobile ID blocked"),
        ] {
            let page = &pages[name];
            assert_eq!(page["lang"], lang, "{name}");
            let visible = page["text"].as_str().unwrap_or_default();
            assert!(visible.contains(words), "{name} shows {words:?}: {visible}");
        }
    }
}
