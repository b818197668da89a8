//! The self-service portal end to end in headless Chromium with phone emulation
//! (`crates/http/tests/browser/portal.mjs`): a new user signs up, confirms the address
//! from the e-mail in the SMTP sink, logs in, gets a Mobile ID (the test reads the QR
//! code from the page's pixels, or the link comes by e-mail; each on both databases), activates
//! the web authenticator in a second browser context, answers an MSS signature request
//! (the CMS is checked with openssl), blocks the phone in the portal (`openssl ocsp` then
//! says revoked), and moves to a new phone with a recovery code, keeping the serial
//! number and receiving the escrowed encryption key again. Screenshots of every portal page in en, de, fr and it go to
//! `target/screenshots/portal-*.png`, and each is checked for its language, a heading,
//! labelled fields, no sideways scrolling and no CSP violation.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use mobileid_crypto::pem_encode;
use serde_json::Value;
use support::browser::{BrowserScript, BROWSER_DIR};
use support::smtp::SmtpSink;
use support::*;

const EMAIL: &str = "new.user@example.ch";
const MSISDN: &str = "+41791239876";

/// The link in the `nth` e-mail (from 1) with `subject`, once it has arrived.
async fn mailed_link(sink: &SmtpSink, subject: &str, prefix: &str, nth: usize) -> String {
    for _ in 0..200 {
        let found = sink.messages().into_iter().filter(|m| m.subject() == subject).nth(nth - 1);
        if let Some(mail) = found {
            let body = mail.text_body();
            return body
                .lines()
                .map(str::trim)
                .find(|l| l.starts_with(prefix))
                .unwrap_or_else(|| panic!("no link in {body}"))
                .to_string();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no e-mail {subject:?}: {:?}", sink.messages().iter().map(|m| m.subject()).collect::<Vec<_>>());
}

/// What `openssl ocsp` says about the user's newest authentication certificate.
async fn ocsp_status(server: &TestServer, dir: &Path) -> String {
    let shown = server.cli(&["user", "show", "--msisdn", MSISDN]);
    let serial = shown
        .lines()
        .filter(|l| l.contains("(authentication, "))
        .find_map(|l| l.strip_prefix("certificate ").and_then(|rest| rest.split(' ').next()))
        .unwrap_or_else(|| panic!("no certificate: {shown}"));
    let response = server.anonymous_client().get(format!("{}/pki/issuing-ca.cer", server.browser_base)).send().await;
    let issuing = response.expect("issuing CA").bytes().await.expect("body");
    std::fs::write(dir.join("issuing.pem"), pem_encode("CERTIFICATE", &issuing)).expect("write");
    std::fs::write(dir.join("chain.pem"), format!("{}{}", pem_encode("CERTIFICATE", &issuing), server.ca_pem))
        .expect("write");
    let serial = format!("0x{serial}");
    let url = format!("{}/pki/ocsp", server.browser_base);
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(["ocsp", "-issuer", "issuing.pem", "-serial", &serial, "-url", &url, "-CAfile", "chain.pem"])
        .output()
        .expect("openssl");
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(said.contains("Response verify OK"), "{said}");
    said
}

async fn the_portal_in_a_browser(backend: Backend, delivery: &str) {
    assert!(
        Path::new(BROWSER_DIR).join("node_modules/jsqr").is_dir() && Path::new("/usr/bin/chromium").exists(),
        "playwright-core, jsqr and Chromium are needed: run scripts/test (it installs them)"
    );
    let sink = SmtpSink::start().await;
    let port = sink.port().to_string();
    let server = TestServer::start_with(
        backend,
        &[
            ("MOBILEID_SMTP_HOST", "127.0.0.1"),
            ("MOBILEID_SMTP_PORT", &port),
            ("MOBILEID_SMTP_SECURITY", "plain"),
            ("MOBILEID_PORTAL_SIGNUP", "true"),
            ("MOBILEID_PORTAL_DELIVERY", delivery),
            ("MOBILEID_CERTIFICATE_KINDS", "authentication,signing,encryption"),
        ],
    )
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let phone = MSISDN.trim_start_matches("+41");
    let mut script = BrowserScript::start(
        "portal.mjs",
        &[
            ("APP", &server.browser_base),
            ("EMAIL", EMAIL),
            ("PASSWORD", "a long enough password"),
            ("PHONE", phone),
            ("PIN", PIN),
        ],
    );
    let app_link = format!("{}/app/#code=", server.browser_base);

    script.expect("signed-up");
    let confirm = mailed_link(&sink, "Confirm your e-mail address for Mobile ID", &server.browser_base, 1).await;
    script.tell(&format!("link {confirm}"));

    // The activation link: read from the QR code by the browser, or e-mailed.
    let activation = script.expect("activation-link ");
    let (how, link) = activation.split_once(' ').expect("how and link");
    assert_eq!(how, if delivery == "qr" { "qr" } else { "email" });
    if how == "email" {
        // The fifth: the browser cancelled one in each of the four languages first.
        let link = mailed_link(&sink, "Activate your Mobile ID", &app_link, 5).await;
        script.tell(&format!("link {link}"));
    } else {
        assert!(link.starts_with(&app_link), "{link}");
    }
    let active = script.expect("active ");
    let (serial, codes) = active.split_once(' ').expect("serial and codes");
    let codes: Vec<&str> = codes.split(',').collect();
    assert_eq!(codes.len(), 8, "{active}");
    let shown = server.cli(&["user", "show", "--msisdn", MSISDN]);
    assert!(
        shown.contains(&format!("serial number : {serial}")) && shown.contains("state         : ACTIVE"),
        "{shown}"
    );
    mailed_link(&sink, "A new phone was activated for your Mobile ID", &server.browser_base, 1).await;
    assert!(ocsp_status(&server, dir.path()).await.contains(": good"));

    // An AP asks; the web authenticator answers with the PIN; openssl checks the CMS.
    let text = "Demo: Login bei der Bank bestätigen?";
    let (status, body) = server.post("/rest/service", &signature_request(MSISDN, text, "asynch")).await;
    assert_eq!(status, 200, "{body}");
    let id = body["MSS_SignatureResp"]["MSSP_TransID"].as_str().expect("id").to_string();
    script.tell("request");
    script.expect("approved");
    let mut signature = None;
    for _ in 0..100 {
        let (_, body) = server.post("/rest/service", &status_request(&id)).await;
        if body["MSS_StatusResp"]["Status"]["StatusCode"]["Value"] == "500" {
            signature = body["MSS_StatusResp"]["MSS_Signature"]["Base64Signature"].as_str().map(str::to_string);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let signature = signature.expect("signed");
    assert_eq!(openssl_verify(&signature, &server.root_ca_path()), text.as_bytes());

    // Blocked in the portal: OCSP says revoked at once.
    script.tell("block");
    script.expect("blocked");
    let said = ocsp_status(&server, dir.path()).await;
    assert!(said.contains(": revoked"), "{said}");

    // A recovery code moves the Mobile ID to a new phone with the same serial number.
    script.tell("recover");
    script.tell(&format!("code {}", codes[0]));
    let activation = script.expect("activation-link ");
    if activation.starts_with("email") {
        let link = mailed_link(&sink, "Activate your Mobile ID", &app_link, 6).await;
        script.tell(&format!("link {link}"));
    }
    let recovered = script.expect("recovered ");
    assert_eq!(recovered, format!("{serial} 8"), "the same serial number, and a new set of codes");
    assert!(ocsp_status(&server, dir.path()).await.contains(": good"), "the new phone's certificate");

    script.tell("done");
    let summary: Value = serde_json::from_str(&script.expect("summary ")).expect("summary");
    assert_eq!(summary["violations"], serde_json::json!([]), "{summary}");
    let pages = summary["pages"].as_object().expect("pages");
    for (name, page) in pages.iter().filter(|(_, p)| p.is_object() && p.get("h1").is_some()) {
        let lang = name.rsplit('-').next().expect("language");
        assert_eq!(page["lang"], lang, "{name}");
        assert!(!page["h1"].as_str().unwrap_or("").is_empty(), "{name} has a heading");
        assert_eq!(page["unlabelled"], serde_json::json!([]), "{name}: every field has a label");
        assert_eq!(page["overflow"], serde_json::json!([]), "{name} fits a phone's width");
    }
    // The escrowed encryption key reached the web authenticator, and again the new phone.
    let escrow = &pages["escrow-app-activated"];
    assert_eq!(escrow.as_array().map(Vec::len), Some(1), "{escrow}");
    assert_eq!(&pages["escrow-app-recovered"], escrow);
    let text_of = |name: &str| pages[name]["text"].as_str().unwrap_or_default().to_string();
    for (name, words) in [
        ("login-en", "Log in"),
        ("login-de", "Anmelden"),
        ("login-fr", "Se connecter"),
        ("login-it", "Accedi"),
        ("dashboard-de", "Mobile ID erhalten"),
        ("signup-sent-de", "Wir haben einen Link an"),
        ("signup-sent-fr", "Nous avons envoyé un lien"),
        ("signup-sent-it", "Abbiamo inviato un link"),
        ("confirm-de", "E-Mail-Adresse bestätigen"),
        ("confirm-fr", "Confirmez votre adresse e-mail"),
        ("confirm-it", "Conferma il tuo indirizzo e-mail"),
        ("confirm-en", "Confirm your e-mail address"),
        ("get-fr", "Obtenir Mobile ID"),
        ("enrol-it", "Attiva il tuo telefono"),
        ("done-en", "valid until"),
        ("done-de", "gültig bis"),
        ("done-fr", "valable jusqu"),
        ("done-it", "valido fino al"),
        ("recover-de", "Auf ein neues Telefon wechseln"),
        ("recover-fr", "Code de récupération"),
        ("recover-it", "Codice di recupero"),
        ("recover-en", "Recovery code"),
        ("my-de", "Dieses Telefon sperren"),
        ("my-fr", "Demandes récentes"),
        ("blocked-en", "blocked"),
        ("recover-wrong-en", "not an unused recovery code"),
    ] {
        assert!(text_of(name).contains(words), "{name}: {}", text_of(name));
    }
    assert!(text_of("my-en").contains("Login bei der Bank"), "the request is listed: {}", text_of("my-en"));
    assert!(script.finished(), "the browser script failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_portal_in_a_browser_with_a_qr_code_sqlite() {
    the_portal_in_a_browser(Backend::Sqlite, "qr").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_portal_in_a_browser_with_an_email_postgres() {
    the_portal_in_a_browser(Backend::Postgres, "email").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_portal_in_a_browser_with_a_qr_code_postgres() {
    the_portal_in_a_browser(Backend::Postgres, "qr").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_portal_in_a_browser_with_an_email_sqlite() {
    the_portal_in_a_browser(Backend::Sqlite, "email").await;
}
