//! Identity verification end to end in headless Chromium (`crates/http/tests/browser/
//! identify.mjs`), on SQLite and PostgreSQL: a signer with Mobile ID but no verified
//! identity starts from the signing page on a desktop, accepts the terms and hands the
//! verification to a phone (a second browser context) by QR code. The phone takes the
//! passport page with the camera (Chromium's fake capture plays a specimen passport) and
//! the selfie from a file; the platform reads the MRZ from the picture. The desktop
//! follows by itself. The spent hand-off link and another browser are refused. An
//! operator with the reviewer role approves in the review desk (a third context); the
//! user gets an e-mail, the desktop goes back to the signing page, and the virtual phone
//! signs the document in the verified name. Screenshots: `target/screenshots/identify-*`.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Value};
use support::browser::{BrowserScript, BROWSER_DIR};
use support::smtp::SmtpSink;
use support::*;

const PASSWORD: &str = "review-desk-password-1";

/// The first JPEG of a Motion-JPEG file (the fake camera's), as a file of its own.
fn first_frame(mjpeg: &Path, dir: &Path) -> PathBuf {
    let bytes = std::fs::read(mjpeg).expect("mjpeg");
    let end = bytes.windows(2).position(|w| w == [0xFF, 0xD9]).expect("a JPEG's end") + 2;
    let path = dir.join("selfie.jpg");
    std::fs::write(&path, &bytes[..end]).expect("write");
    path
}

async fn mail_to(sink: &SmtpSink, to: &str, subject: &str) -> String {
    for _ in 0..300 {
        let found = sink.messages().into_iter().find(|m| m.to.iter().any(|t| t == to) && m.subject() == subject);
        if let Some(mail) = found {
            return mail.text_body();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no e-mail {subject:?} to {to}");
}

async fn identified_in_a_browser(backend: Backend) {
    let sink = SmtpSink::start().await;
    let server = TestServer::start_mailing(backend, &sink, &[]).await;
    let out = server.cli(&["sender", "add", "--id", "acme", "--name", "Acme HR"]);
    let key = out.lines().nth(1).expect("API key").trim().to_string();
    let anna = server.phone("+41791110005").await;
    let pdf = mobileid_pdf::sample::document("Employment contract", 1, 600, false);
    let body = json!({
        "title": "Employment contract",
        "send": true,
        "documents": [{ "name": "contract.pdf", "content": STANDARD.encode(&pdf) }],
        "levels": [[{ "name": "Anna Maria Eriksson", "email": "anna@example.ch", "msisdn": "+41791110005" }]],
    });
    let http = server.relying_party_client();
    let response =
        http.post(format!("{}/api/v1/envelopes", server.browser_base)).bearer_auth(&key).json(&body).send().await;
    assert_eq!(response.expect("create").status(), 201);
    let invitation = mail_to(&sink, "anna@example.ch", "Please sign: Employment contract").await;
    let link = invitation.lines().map(str::trim).find(|l| l.contains("/sign/")).expect("a link").to_string();
    // The operator's account, with the reviewer role.
    let added = server.cli(&["account", "add", "--email", "rita@example.ch"]);
    let confirm = added.split_whitespace().find(|w| w.contains("/portal/confirm?token=")).expect("link").to_string();
    server.cli(&["reviewer", "add", "--email", "rita@example.ch"]);

    // Chromium opens the fake camera's file only by a path without "..".
    let fixtures = Path::new(BROWSER_DIR).join("fixtures").canonicalize().expect("fixtures");
    let dir = tempfile::tempdir().expect("tempdir");
    let selfie = first_frame(&fixtures.join("selfie.mjpeg"), dir.path());
    let camera = fixtures.join("td3-valid.mjpeg");
    let mut script = BrowserScript::start(
        "identify.mjs",
        &[
            ("APP", &server.browser_base),
            ("CAMERA", camera.to_str().expect("path")),
            ("SELFIE", selfie.to_str().expect("path")),
        ],
    );
    script.tell(&format!("start {link} 791110005"));
    script.expect("terms");
    script.expect("handoff");
    let captured: Value = serde_json::from_str(&script.expect("captured ")).expect("json");
    assert!(captured["page"].as_str().unwrap_or_default().contains("was read"), "{captured}");
    script.expect("submitted");
    script.expect("desktop-waiting");
    let handoff = script.expect("link ");
    assert_eq!(server.sql("SELECT state FROM verifications"), "review");
    assert_eq!(server.sql("SELECT mrz_source FROM verifications"), "image");

    script.tell(&format!("takeagain {handoff}"));
    assert_eq!(script.expect("reused "), "410");
    assert_eq!(script.expect("foreign "), "404");

    script.tell(&format!("review {confirm} rita@example.ch {PASSWORD}"));
    script.expect("approved");
    let mail = mail_to(&sink, "anna@example.ch", "Your identity is confirmed").await;
    assert!(mail.contains("idv-"), "{mail}");
    assert_eq!(server.sql("SELECT given_names || ' ' || surname FROM identities"), "Anna Maria Eriksson");
    // Each picture the reviewer saw was logged.
    assert_eq!(server.sql("SELECT COUNT(*) FROM verification_image_views"), "2");
    script.expect("returned");
    let mut anna = anna;
    let request = next_request(&anna).await;
    assert!(anna.check(&request).expect("honest").text.contains("contract.pdf"));
    anna.approve(&request, PIN).await.expect("approved");
    script.expect("signed");
    script.tell("done");

    let summary: Value = serde_json::from_str(&script.expect("summary ")).expect("summary");
    assert_eq!(summary["violations"], json!([]), "{summary}");
    let pages = summary["pages"].as_object().expect("pages");
    assert_eq!(pages["terms_required"], true, "the terms' boxes are required");
    assert_eq!(pages["review_images"], 2, "{summary}");
    for (name, page) in pages.iter().filter(|(_, p)| p.is_object() && p.get("h1").is_some()) {
        assert!(!page["h1"].as_str().unwrap_or("").is_empty(), "{name} has a heading");
        assert_eq!(page["unlabelled"], json!([]), "{name}: every field has a label");
        assert_eq!(page["overflow"], json!([]), "{name} fits its screen");
    }
    for (name, lang, words) in [
        ("start-en", "en", "Verify your identity"),
        ("start-de", "de", "Identität"),
        ("start-fr", "fr", "identité"),
        ("start-it", "it", "identità"),
        ("review-queue-de", "de", "Prüfstelle"),
    ] {
        assert_eq!(pages[name]["lang"], lang, "{name}");
        assert!(pages[name]["text"].as_str().unwrap_or("").contains(words), "{name}: {words}");
    }
    assert!(pages["refused-404"]["text"].as_str().unwrap_or("").contains("another browser"), "{summary}");

    // One decision, one evidence record; the chain holds and exports signed.
    assert!(server.cli(&["identity", "check-evidence"]).contains("1 records"));
    assert_eq!(server.cli(&["identity", "export-evidence"]).trim().split('.').count(), 3);
}

#[tokio::test]
async fn identified_in_a_browser_sqlite() {
    identified_in_a_browser(Backend::Sqlite).await;
}

#[tokio::test]
async fn identified_in_a_browser_postgres() {
    identified_in_a_browser(Backend::Postgres).await;
}
