//! The signers' pages end to end in headless Chromium with phone emulation
//! (`crates/http/tests/browser/signing.mjs`), on SQLite and PostgreSQL, with a sender's
//! envelope of two levels and the three branches of the seed: Chris has Mobile ID and a
//! verified identity: he opens the link from the e-mail, sees every page (screenshots in
//! en, de, fr and it), signs, and a virtual phone approves; Anna has Mobile ID but nobody
//! has verified her identity: her page waits until the operator does, then her phone
//! approves; Bruno has no Mobile ID: he gets the QR code, activates the web
//! authenticator in a second browser context and signs there. The signed PDF carries
//! the three signatures, valid for pyHanko, qpdf and pdfsig. Screenshots go to
//! `target/screenshots/signing-*.png`; each page is checked for its language, a heading,
//! labelled fields, no sideways scrolling and no CSP violation.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Value};
use support::browser::{BrowserScript, BROWSER_DIR};
use support::smtp::SmtpSink;
use support::*;

/// The signer's link from the invitation to `to`, once it has arrived.
async fn invitation(sink: &SmtpSink, to: &str) -> String {
    for _ in 0..300 {
        let found = sink.messages().into_iter().find(|m| m.to.iter().any(|t| t == to));
        if let Some(mail) = found {
            let body = mail.text_body();
            return body.lines().map(str::trim).find(|l| l.contains("/sign/")).expect("a link").to_string();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no invitation to {to}");
}

async fn signers_in_a_browser(backend: Backend) {
    assert!(
        Path::new(BROWSER_DIR).join("node_modules/jsqr").is_dir() && Path::new("/usr/bin/chromium").exists(),
        "playwright-core, jsqr and Chromium are needed: run scripts/test (it installs them)"
    );
    let sink = SmtpSink::start().await;
    let server = TestServer::start_mailing(backend, &sink, &[]).await;
    let (hooks, hook_url) = support::webhooks::Hooks::start().await;
    let out = server.cli(&["sender", "add", "--id", "acme", "--name", "Acme HR", "--webhook-url", &hook_url]);
    let key = out.lines().nth(1).expect("API key").trim().to_string();
    let mut anna = server.phone("+41791110001").await;
    let mut chris = server.phone("+41791110003").await;
    server.cli(&["identity", "verify", "--msisdn", "+41791110003", "--given-names", "Chris", "--surname", "Meier"]);
    server.cli(&["identity", "verify", "--msisdn", "+41791110002", "--given-names", "Bruno", "--surname", "Keller"]);
    let pdf = mobileid_pdf::sample::document("Lease agreement", 3, 1_500, true);
    let body = json!({
        "title": "Lease agreement",
        "message": "Please sign the lease.",
        "send": true,
        "documents": [{ "name": "lease.pdf", "content": STANDARD.encode(&pdf) }],
        "levels": [
            [{ "name": "Chris Meier", "email": "chris@example.ch", "msisdn": "+41791110003" },
             { "name": "Anna Müller", "email": "anna@example.ch", "msisdn": "+41791110001" }],
            [{ "name": "Bruno Keller", "email": "bruno@example.ch", "msisdn": "+41791110002" }],
        ],
    });
    let http = server.relying_party_client();
    let response = http
        .post(format!("{}/api/v1/envelopes", server.browser_base))
        .bearer_auth(&key)
        .json(&body)
        .send()
        .await
        .expect("create");
    assert_eq!(response.status(), 201);
    let envelope: Value = response.json().await.expect("json");
    let id = envelope["id"].as_str().expect("id").to_string();

    let mut script = BrowserScript::start("signing.mjs", &[("APP", &server.browser_base), ("PIN", PIN)]);
    // Chris has Mobile ID and a verified identity: the page, then his phone approves.
    let chris_link = invitation(&sink, "chris@example.ch").await;
    script.tell(&format!("look {chris_link}"));
    script.expect("looked");
    script.tell(&format!("sign {chris_link} 791110003 progress"));
    script.expect("waiting");
    let request = next_request(&chris).await;
    assert!(chris.check(&request).expect("honest").text.contains("lease.pdf"));
    chris.approve(&request, PIN).await.expect("approved");
    script.expect("signed");

    // Anna has Mobile ID, no verified identity: her page waits for the operator.
    let anna_link = invitation(&sink, "anna@example.ch").await;
    script.tell(&format!("sign {anna_link} 791110001 identity"));
    script.expect("waiting");
    assert!(server.cli(&["identity", "list"]).contains("Anna Müller"));
    server.cli(&["identity", "verify", "--msisdn", "+41791110001", "--given-names", "Anna", "--surname", "Müller"]);
    let request = next_request(&anna).await;
    anna.approve(&request, PIN).await.expect("approved");
    script.expect("signed");

    // Bruno has none: the QR code, the web authenticator, and he signs there.
    let bruno_link = invitation(&sink, "bruno@example.ch").await;
    script.tell(&format!("enrol {bruno_link} 791110002"));
    script.expect("waiting");
    script.expect("signed");
    script.tell("done");
    let summary: Value = serde_json::from_str(&script.expect("summary ")).expect("summary");
    assert_eq!(summary["violations"], json!([]), "{summary}");
    let pages = summary["pages"].as_object().expect("pages");
    assert!(pages["shown"].as_str().unwrap_or_default().contains("lease.pdf"), "{summary}");
    for (name, page) in pages.iter().filter(|(_, p)| p.is_object() && p.get("h1").is_some()) {
        let lang = name.rsplit('-').next().expect("language");
        assert_eq!(page["lang"], lang, "{name}");
        assert!(!page["h1"].as_str().unwrap_or("").is_empty(), "{name} has a heading");
        assert_eq!(page["unlabelled"], json!([]), "{name}: every field has a label");
        assert_eq!(page["overflow"], json!([]), "{name} fits a phone's width");
        assert!(page["text"].as_str().unwrap_or("").contains(&id), "{name} shows the reference");
    }
    for lang in ["en", "de", "fr", "it"] {
        let images = pages[&format!("envelope-{lang}")]["images"].as_array().expect("images").clone();
        assert_eq!(images.len(), 3, "every page is shown");
        assert!(images.iter().all(|i| i["loaded"] == true), "{images:?}");
    }
    for (name, words) in [
        ("envelope-en", "Sign with Mobile ID"),
        ("envelope-de", "Mit Mobile ID unterschreiben"),
        ("envelope-fr", "Signer avec Mobile ID"),
        ("envelope-it", "Firmare con Mobile ID"),
        ("install-app-en", "no Mobile ID app yet"),
        ("done-en", "you have signed"),
        ("identity-en", "identity must be verified"),
    ] {
        assert!(pages[name]["text"].as_str().unwrap_or("").contains(words), "{name}: {words}");
    }

    // The envelope is complete; the PDF carries both signatures, valid for others.
    let mut signed = Vec::new();
    for _ in 0..100 {
        // A pooled connection the server closed as idle fails once: ask again.
        let Ok(response) =
            http.get(format!("{}/api/v1/envelopes/{id}", server.browser_base)).bearer_auth(&key).send().await
        else {
            continue;
        };
        let envelope: Value = response.json().await.expect("json");
        if envelope["state"] == "completed" {
            let url = format!("{}/api/v1/envelopes/{id}/documents/0", server.browser_base);
            signed = http.get(url).bearer_auth(&key).send().await.expect("pdf").bytes().await.expect("bytes").to_vec();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(signed.starts_with(&pdf), "the envelope completed, and its PDF extends the original");
    // The sender heard of every step.
    hooks.wait_for("completed", 1).await;
    let events = hooks.events();
    for (event, count) in [("sent", 1), ("viewed", 3), ("signed", 3)] {
        assert_eq!(events.iter().filter(|e| *e == event).count(), count, "{event}: {events:?}");
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("lease.pdf");
    std::fs::write(&file, &signed).expect("write");
    let pyhanko = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/python-test-env/bin/pyhanko");
    let report = Command::new(pyhanko)
        .args(["sign", "validate", "--pretty-print", "--no-revocation-check", "--trust"])
        .arg(server.root_ca_path())
        .arg(&file)
        .output()
        .expect("pyhanko");
    let text = String::from_utf8_lossy(&report.stdout).to_string();
    assert!(report.status.success(), "{text}{}", String::from_utf8_lossy(&report.stderr));
    assert_eq!(text.matches("The signature is judged VALID").count(), 3, "{text}");
    for name in ["Chris Meier", "Anna Müller", "Bruno Keller"] {
        assert!(text.contains(&format!("Common Name: {name}")), "the verified name {name}: {text}");
    }
    assert!(Command::new("qpdf").arg("--check").arg(&file).output().expect("qpdf").status.success());
    let listed = Command::new("pdfsig").arg(&file).output().expect("pdfsig");
    assert_eq!(String::from_utf8_lossy(&listed.stdout).matches("Signature is Valid.").count(), 3);
}

#[tokio::test]
async fn signers_in_a_browser_sqlite() {
    signers_in_a_browser(Backend::Sqlite).await;
}

#[tokio::test]
async fn signers_in_a_browser_postgres() {
    signers_in_a_browser(Backend::Postgres).await;
}
