//! Document signing over HTTP, as senders and signers use it, on SQLite and PostgreSQL:
//! a sender's envelope with two documents and two levels (two signers in parallel, then
//! one), invitations through a real SMTP sink, the signers' links, virtual phones that
//! approve together, webhooks signed with the sender's secret, the completion e-mail
//! with the signed PDFs, and every signed PDF checked by pyHanko, qpdf and pdfsig; a PDF
//! signed elsewhere before; PAdES B-T with a local time-stamp authority and B-LT
//! validated from the document alone. Then
//! what must be refused: a signer before their level, a link that names nobody,
//! another sender's envelope, bad documents, and a decline.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use mobileid_phone::Phone;
use serde_json::{json, Value};
use support::smtp::{Received, SmtpSink};
use support::webhooks::Hooks;
use support::*;

struct Sender {
    http: reqwest::Client,
    base: String,
    key: String,
    secret: Option<String>,
}

impl Sender {
    fn add(server: &TestServer, id: &str, webhook: Option<&str>) -> Sender {
        let mut args = vec!["sender", "add", "--id", id, "--name", "Acme HR"];
        if let Some(url) = webhook {
            args.extend(["--webhook-url", url]);
        }
        let out = server.cli(&args);
        let lines: Vec<&str> = out.lines().collect();
        Sender {
            http: server.relying_party_client(),
            base: server.browser_base.clone(),
            key: lines[1].trim().to_string(),
            secret: lines.get(3).map(|s| s.trim().to_string()),
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> (u16, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(&self.key);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    async fn download(&self, id: &str, index: usize) -> Vec<u8> {
        let url = format!("{}/api/v1/envelopes/{id}/documents/{index}", self.base);
        let response = self.http.get(url).bearer_auth(&self.key).send().await.expect("download");
        assert_eq!(response.status(), 200);
        response.bytes().await.expect("pdf").to_vec()
    }
}

/// The first document of envelope `id` once the envelope is complete.
async fn completed_document(sender: &Sender, id: &str) -> Vec<u8> {
    let mut state = Value::Null;
    for _ in 0..100 {
        state = sender.call(reqwest::Method::GET, &format!("/api/v1/envelopes/{id}"), None).await.1;
        if state["state"] == "completed" {
            return sender.download(id, 0).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the envelope did not complete: {state}");
}

fn pdf(title: &str, pages: u32) -> String {
    STANDARD.encode(mobileid_pdf::sample::document(title, pages, 1_500, pages > 1))
}

fn signer(name: &str, email: &str, msisdn: &str, language: &str) -> Value {
    json!({ "name": name, "email": email, "msisdn": msisdn, "language": language })
}

/// The signer's link from their invitation.
fn link(mail: &Received) -> String {
    mail.text_body().lines().map(str::trim).find(|l| l.contains("/sign/")).expect("a link").to_string()
}

async fn mails_to(sink: &SmtpSink, to: &str, subject_start: &str, count: usize) -> Vec<Received> {
    for _ in 0..200 {
        let found: Vec<Received> = sink
            .messages()
            .into_iter()
            .filter(|m| m.to.iter().any(|t| t == to) && m.subject().starts_with(subject_start))
            .collect();
        if found.len() >= count {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no {subject_start:?} mail to {to}");
}

/// Posts the signer's "Sign" form with their number.
async fn start_signing(
    http: &reqwest::Client,
    link: &str,
    origin: &str,
    number: &str,
) -> (u16, String, Option<String>) {
    let response = http
        .post(format!("{link}/start"))
        .header("Origin", origin)
        .form(&[("country", "41"), ("number", number)])
        .send()
        .await
        .expect("start");
    let status = response.status().as_u16();
    let location = response.headers().get("location").map(|l| l.to_str().unwrap().to_string());
    (status, response.text().await.unwrap(), location)
}

/// What the signer's waiting page learns when it asks.
async fn step(http: &reqwest::Client, link: &str) -> Value {
    http.get(format!("{link}/state")).send().await.expect("state").json().await.expect("json")
}

/// The phone approves the request it gets next; returns what it showed.
async fn approve_next_document(phone: &mut Phone) -> String {
    let request = next_request(phone).await;
    let shown = phone.check(&request).expect("honest request").text;
    phone.approve(&request, PIN).await.expect("approved");
    shown
}

fn validate_with_tools(pdf: &[u8], root_pem: &str, signatures: usize) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("signed.pdf");
    std::fs::write(&file, pdf).unwrap();
    let root = dir.path().join("root.pem");
    std::fs::write(&root, root_pem).unwrap();
    let pyhanko = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/python-test-env/bin/pyhanko");
    let out = Command::new(&pyhanko)
        .args(["sign", "validate", "--pretty-print", "--no-revocation-check", "--trust"])
        .arg(&root)
        .arg(&file)
        .output()
        .expect("pyhanko (run scripts/test)");
    let report = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{report}");
    assert_eq!(report.matches("The signature is judged VALID").count(), signatures, "{report}");
    // Each certificate carries the signer's verified name.
    for name in ["Anna Müller", "Luca Rossi", "Chris Meier"] {
        assert!(report.contains(&format!("Common Name: {name}")), "{name}: {report}");
    }
    let check = Command::new("qpdf").arg("--check").arg(&file).output().expect("qpdf");
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stdout));
    let listed = Command::new("pdfsig").arg(&file).output().expect("pdfsig");
    let listed = String::from_utf8_lossy(&listed.stdout).to_string();
    assert_eq!(listed.matches("Signature is Valid.").count(), signatures, "{listed}");
}

/// The root certificate of the server's CA (the last in ca-chain.pem, or ca.pem).
fn root_pem(server: &TestServer) -> String {
    std::fs::read_to_string(server.data_dir.path().join("ca.pem")).expect("ca.pem")
}

async fn two_levels_three_signers(backend: Backend) {
    let sink = SmtpSink::start().await;
    let (hooks, hook_url) = Hooks::start().await;
    let server = TestServer::start_mailing(backend, &sink, &[]).await;
    let sender = Sender::add(&server, "acme", Some(&hook_url));
    let mut anna = server.phone("+41791110001").await;
    let mut luca = server.phone("+41791110002").await;
    let mut chris = server.phone("+41791110003").await;
    // Anna's and Luca's identities are verified; Chris's is asked for when he signs.
    server.cli(&["identity", "verify", "--msisdn", "+41791110001", "--given-names", "Anna", "--surname", "Müller"]);
    server.cli(&["identity", "verify", "--msisdn", "+41791110002", "--given-names", "Luca", "--surname", "Rossi"]);

    let body = json!({
        "title": "Employment contract",
        "message": "Please sign both documents.",
        "send": true,
        "documents": [{ "name": "contract.pdf", "content": pdf("Contract", 3) }, { "name": "annex.pdf", "content": pdf("Annex", 1) }],
        "levels": [
            [signer("Anna Müller", "anna@example.ch", "+41791110001", "de"), signer("Luca Rossi", "luca@example.ch", "+41791110002", "it")],
            [signer("Chris Meier", "chris@example.ch", "+41791110003", "en")],
        ],
    });
    let (status, envelope) = sender.call(reqwest::Method::POST, "/api/v1/envelopes", Some(&body)).await;
    assert_eq!(status, 201, "{envelope}");
    let id = envelope["id"].as_str().unwrap().to_string();
    assert_eq!(envelope["state"], "sent");
    assert_eq!(envelope["level"], 1);

    // The first level is invited, in each signer's language; the second is not yet.
    let anna_link = link(&mails_to(&sink, "anna@example.ch", "Bitte unterschreiben", 1).await[0]);
    let luca_link = link(&mails_to(&sink, "luca@example.ch", "Da firmare", 1).await[0]);
    assert!(!sink.messages().iter().any(|m| m.to.contains(&"chris@example.ch".to_string())));
    let links = server.cli(&["envelope", "links", "--id", &id]);
    // The CLI knows the configured public URL; this server listens on a port of its own.
    let chris_token = links.lines().find(|l| l.contains("chris@")).and_then(|l| l.rsplit('/').next()).unwrap();
    let chris_link = format!("{}/sign/{chris_token}", server.browser_base);

    // A signer whose level has not started cannot sign, even with their link.
    let browser = server.relying_party_client();
    let origin = server.browser_base.clone();
    let (status, page, _) = start_signing(&browser, &chris_link, &origin, "791110003").await;
    assert_eq!(status, 409, "{page}");
    assert!(page.contains(&id), "the reference is on every page");
    // A link that names nobody, and a form from another site.
    let nobody = format!("{}/sign/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", server.browser_base);
    assert_eq!(browser.get(&nobody).send().await.unwrap().status(), 404);
    let (status, _, _) = start_signing(&browser, &anna_link, "https://evil.example", "791110001").await;
    assert_eq!(status, 403);

    // The signer sees every page, and a wrong number is refused.
    let page = browser.get(&anna_link).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Employment contract") && page.contains(&id));
    assert_eq!(page.matches("class=\"page\"").count(), 4, "three pages and one");
    let image = browser.get(format!("{anna_link}/documents/0/pages/3")).send().await.unwrap();
    assert_eq!(image.headers()["content-type"], "image/png");
    let (status, page, _) = start_signing(&browser, &anna_link, &origin, "791110002").await;
    assert_eq!(status, 400, "{page}");

    // Both signers of level 1 start and approve together, document after document.
    let (status, _, location) = start_signing(&browser, &anna_link, &origin, "791110001").await;
    assert_eq!((status, location), (303, Some(format!("/sign/{}/progress", anna_link.rsplit('/').next().unwrap()))));
    let (status, _, _) = start_signing(&browser, &luca_link, &origin, "791110002").await;
    assert_eq!(status, 303);
    for document in ["contract.pdf", "annex.pdf"] {
        let (shown_a, shown_l) = tokio::join!(approve_next_document(&mut anna), approve_next_document(&mut luca));
        assert!(shown_a.contains(document) && shown_l.contains(document), "{shown_a} / {shown_l}");
    }
    // Level 2 is invited when both have signed.
    let chris_mail = link(&mails_to(&sink, "chris@example.ch", "Please sign", 1).await[0]);
    assert_eq!(chris_mail, chris_link);
    let (status, _, _) = start_signing(&browser, &chris_link, &origin, "791110003").await;
    assert_eq!(status, 303);
    // Nobody has verified Chris: the operator is asked, and the page waits.
    let waiting = step(&browser, &chris_link).await;
    assert_eq!(waiting["done"], false, "{waiting}");
    assert!(waiting["message"].as_str().unwrap().contains("identity"), "{waiting}");
    assert!(server.cli(&["identity", "list"]).contains("+41791110003"));
    server.cli(&["identity", "verify", "--msisdn", "+41791110003", "--given-names", "Chris", "--surname", "Meier"]);
    let on_phone = step(&browser, &chris_link).await;
    assert!(on_phone["message"].as_str().unwrap().contains("contract.pdf"), "{on_phone}");
    approve_next_document(&mut chris).await;
    approve_next_document(&mut chris).await;

    // A link used again after signing signs nothing more.
    let (status, page, _) = start_signing(&browser, &anna_link, &origin, "791110001").await;
    assert_eq!(status, 409, "{page}");

    // Complete: every signer gets the signed PDFs; the sender's webhooks are signed.
    let done = mails_to(&sink, "chris@example.ch", "Signed:", 1).await;
    assert!(done[0].data.contains("filename=\"contract.pdf\"") && done[0].data.contains("filename=\"annex.pdf\""));
    mails_to(&sink, "anna@example.ch", "Unterschrieben:", 1).await;
    let (_, envelope) = sender.call(reqwest::Method::GET, &format!("/api/v1/envelopes/{id}"), None).await;
    assert_eq!(envelope["state"], "completed", "{envelope}");
    let trail: Vec<&str> =
        envelope["audit_trail"].as_array().unwrap().iter().map(|e| e["event"].as_str().unwrap()).collect();
    for event in ["created", "sent", "viewed", "signed", "completed"] {
        assert!(trail.contains(&event), "{trail:?}");
    }
    hooks.wait_for("completed", 1).await;
    hooks.wait_for("signed", 3).await;
    let secret = sender.secret.clone().expect("webhook secret");
    for (headers, body) in hooks.0.lock().unwrap().iter() {
        let signature = &headers["x-mobileid-signature"];
        let (t, v1) = signature.split_once(",v1=").unwrap();
        let t = t.trim_start_matches("t=");
        let expected = hex_hmac(secret.as_bytes(), format!("{t}.{body}").as_bytes());
        assert_eq!(v1, expected, "webhook signature");
    }

    // Both documents carry the three signatures, valid for independent validators.
    for index in 0..2 {
        let signed = sender.download(&id, index).await;
        validate_with_tools(&signed, &root_pem(&server), 3);
    }
    let (status, evidence) = sender.call(reqwest::Method::GET, &format!("/api/v1/envelopes/{id}/evidence"), None).await;
    assert_eq!(status, 200);
    assert_eq!(evidence["documents"][0]["signatures"], 3);

    // Another sender sees nothing of it.
    let other = Sender::add(&server, "other", None);
    let (status, problem) = other.call(reqwest::Method::GET, &format!("/api/v1/envelopes/{id}"), None).await;
    assert_eq!(status, 404, "{problem}");
    let (status, _) =
        other.call(reqwest::Method::POST, &format!("/api/v1/envelopes/{id}/void"), Some(&json!({}))).await;
    assert_eq!(status, 404);
}

/// The OpenAPI file served at /api/docs, parsed.
async fn anonymous_docs(server: &TestServer) -> serde_yaml::Value {
    let response = server.relying_party_client().get(format!("{}/api/docs", server.browser_base)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    serde_yaml::from_str(&response.text().await.unwrap()).expect("OpenAPI YAML")
}

fn hex_hmac(key: &[u8], message: &[u8]) -> String {
    use std::fmt::Write;
    mobileid_crypto::hmac_sha256(key, message).iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

async fn refusals_and_a_decline(backend: Backend) {
    let sink = SmtpSink::start().await;
    let server = TestServer::start_mailing(backend, &sink, &[]).await;
    let sender = Sender::add(&server, "acme", None);
    let one = |content: String| {
        json!({ "title": "Offer", "send": true, "documents": [{ "name": "offer.pdf", "content": content }],
                "levels": [[signer("Anna", "anna@example.ch", "+41791110001", "en")]] })
    };
    // The API is described where it says: every path of the OpenAPI file answers.
    let docs = anonymous_docs(&server).await;
    let paths: Vec<&str> = docs["paths"].as_mapping().unwrap().keys().filter_map(|k| k.as_str()).collect();
    for path in [
        "/api/v1/envelopes",
        "/api/v1/envelopes/{id}",
        "/api/v1/envelopes/{id}/send",
        "/api/v1/envelopes/{id}/void",
        "/api/v1/envelopes/{id}/documents/{index}",
        "/api/v1/envelopes/{id}/evidence",
    ] {
        assert!(paths.contains(&path), "{path} in {paths:?}");
    }

    // No key, a wrong key.
    let anonymous = server.relying_party_client();
    let response = anonymous
        .post(format!("{}/api/v1/envelopes", server.browser_base))
        .json(&one(pdf("x", 1)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    // A corrupted PDF, an encrypted one, one too large: clear errors, and nothing kept.
    let mut corrupted = mobileid_pdf::sample::document("Broken", 2, 500, false);
    corrupted.truncate(corrupted.len() / 3);
    let (status, problem) =
        sender.call(reqwest::Method::POST, "/api/v1/envelopes", Some(&one(STANDARD.encode(&corrupted)))).await;
    assert_eq!(status, 422, "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("offer.pdf"), "{problem}");
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain.pdf");
    std::fs::write(&plain, mobileid_pdf::sample::document("Secret", 1, 100, false)).unwrap();
    let encrypted = dir.path().join("encrypted.pdf");
    let made =
        Command::new("qpdf").args(["--encrypt", "u", "o", "256", "--"]).arg(&plain).arg(&encrypted).output().unwrap();
    assert!(made.status.success());
    let (status, problem) = sender
        .call(
            reqwest::Method::POST,
            "/api/v1/envelopes",
            Some(&one(STANDARD.encode(std::fs::read(&encrypted).unwrap()))),
        )
        .await;
    assert_eq!(status, 422, "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("encrypted"), "{problem}");
    let huge = vec![b'A'; 200 * 1024 * 1024];
    let response = sender
        .http
        .post(format!("{}/api/v1/envelopes", server.browser_base))
        .bearer_auth(&sender.key)
        .header("Content-Type", "application/json")
        .body(huge)
        .send()
        .await;
    if let Ok(response) = response {
        assert_eq!(response.status(), 413);
    }
    assert_eq!(server.sql("SELECT COUNT(*) FROM envelopes").trim(), "0", "nothing half-written");
    assert_eq!(server.sql("SELECT COUNT(*) FROM documents").trim(), "0", "no document without its envelope");

    // A sender may authenticate as its OpenID client instead, with that client's secret.
    let out = server.cli(&[
        "oidc-client",
        "add",
        "--client-id",
        "hr-rp",
        "--name",
        "HR",
        "--redirect-uri",
        "https://hr.example/cb",
    ]);
    let client_secret = out.rsplit(' ').next().unwrap().trim().to_string();
    server.cli(&["sender", "add", "--id", "hr", "--name", "HR", "--oidc-client", "hr-rp"]);
    let url = format!("{}/api/v1/envelopes", server.browser_base);
    let anonymous = server.relying_party_client();
    let as_client = anonymous
        .post(&url)
        .basic_auth("hr-rp", Some(&client_secret))
        .json(&one(pdf("Offer", 1)))
        .send()
        .await
        .unwrap();
    assert_eq!(as_client.status(), 201, "{}", as_client.text().await.unwrap());
    let wrong = anonymous
        .post(&url)
        .basic_auth("hr-rp", Some("not-the-secret"))
        .json(&one(pdf("Offer", 1)))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);

    // A decline ends the envelope; the sender sees the reason.
    let (status, envelope) = sender.call(reqwest::Method::POST, "/api/v1/envelopes", Some(&one(pdf("Offer", 1)))).await;
    assert_eq!(status, 201, "{envelope}");
    let id = envelope["id"].as_str().unwrap();
    let invitations = mails_to(&sink, "anna@example.ch", "Please sign", 2).await;
    let anna_link = link(invitations.iter().find(|m| m.text_body().contains(id)).expect("the invitation"));
    let browser = server.relying_party_client();
    let response = browser
        .post(format!("{anna_link}/decline"))
        .header("Origin", &server.browser_base)
        .form(&[("reason", "The salary is wrong.")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let (_, envelope) = sender.call(reqwest::Method::GET, &format!("/api/v1/envelopes/{id}"), None).await;
    assert_eq!(envelope["state"], "declined");
    assert_eq!(envelope["signers"][0]["decline_reason"], "The salary is wrong.");
    mails_to(&sink, "anna@example.ch", "Declined:", 1).await;
    // The link no longer signs; voiding a finished envelope is refused.
    let (status, _, _) = start_signing(&browser, &anna_link, &server.browser_base, "791110001").await;
    assert_eq!(status, 409);
    let (status, _) =
        sender.call(reqwest::Method::POST, &format!("/api/v1/envelopes/{id}/void"), Some(&json!({}))).await;
    assert_eq!(status, 409);
}

/// With a time-stamp authority configured, each signature carries its time-stamp
/// (PAdES B-T), which pyHanko checks against the authority it trusts.
async fn a_time_stamped_signature(backend: Backend) {
    let sink = SmtpSink::start().await;
    let tsa = support::tsa::Tsa::start().await;
    let server = TestServer::start_mailing(backend, &sink, &[("MOBILEID_SIGNING_TSA_URL", tsa.url.as_str())]).await;
    let sender = Sender::add(&server, "acme", None);
    let mut anna = server.phone("+41791110001").await;
    server.cli(&["identity", "verify", "--msisdn", "+41791110001", "--given-names", "Anna", "--surname", "Müller"]);
    let body = json!({ "title": "Offer", "send": true, "documents": [{ "name": "offer.pdf", "content": pdf("Offer", 2) }],
                       "levels": [[signer("Anna Müller", "anna@example.ch", "+41791110001", "en")]] });
    let (status, envelope) = sender.call(reqwest::Method::POST, "/api/v1/envelopes", Some(&body)).await;
    assert_eq!(status, 201, "{envelope}");
    let id = envelope["id"].as_str().unwrap().to_string();
    let link = link(&mails_to(&sink, "anna@example.ch", "Please sign", 1).await[0]);
    let browser = server.relying_party_client();
    let (status, _, _) = start_signing(&browser, &link, &server.browser_base, "791110001").await;
    assert_eq!(status, 303);
    approve_next_document(&mut anna).await;
    let signed = completed_document(&sender, &id).await;

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("signed.pdf");
    std::fs::write(&file, &signed).unwrap();
    let pyhanko = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/python-test-env/bin/pyhanko");
    let out = Command::new(&pyhanko)
        .args(["sign", "validate", "--pretty-print", "--no-revocation-check", "--trust"])
        .arg(server.root_ca_path())
        .arg("--trust")
        .arg(&tsa.certificate)
        .arg(&file)
        .output()
        .expect("pyhanko");
    let report = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{report}");
    assert!(report.contains("The signature is judged VALID"), "{report}");
    // B-LT: the document alone validates the signature, revocation checked strictly.
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/python-test-env/bin/python");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/validate_ltv.py");
    let out = Command::new(python)
        .arg(script)
        .arg(&file)
        .arg(server.root_ca_path())
        .arg(&tsa.certificate)
        .output()
        .expect("python");
    let ltv = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{ltv}");
    assert!(ltv.contains("dss certs=3 ocsps=1 crls=1"), "{ltv}");
    assert!(ltv.contains("bottom line: True"), "{ltv}");
    for said in [
        "TSA certificate subject: \"Common Name: Test Time-Stamp Authority\"",
        "The timestamp token is cryptographically sound.",
        "The TSA certificate is trusted.",
    ] {
        assert!(report.contains(said), "{said}: {report}");
    }
}

/// A PDF that already carries somebody else's signature (made by pyHanko under another
/// CA) is signed through the platform; both signatures stay valid.
async fn a_document_signed_elsewhere(backend: Backend) {
    use mobileid_crypto::{pem_encode, CertificateAuthority, CertificateUse, KeyAlgorithm, PrivateKey};
    let dir = tempfile::tempdir().unwrap();
    let other = CertificateAuthority::create("Elsewhere", None).unwrap();
    let key = PrivateKey::generate(KeyAlgorithm::EcP256).unwrap();
    let cert = other
        .issue_user_certificate_with(
            &key.csr_der("x").unwrap(),
            "MIDCHE0000000001",
            &[],
            CertificateUse::Signing,
            30,
            None,
        )
        .unwrap();
    for (name, pem) in [
        ("key.pem", pem_encode("PRIVATE KEY", key.pkcs8_der())),
        ("cert.pem", pem_encode("CERTIFICATE", &cert)),
        ("chain.pem", pem_encode("CERTIFICATE", &other.issuing.cert_der)),
        ("other-root.pem", pem_encode("CERTIFICATE", &other.root.cert_der)),
    ] {
        std::fs::write(dir.path().join(name), pem).unwrap();
    }
    std::fs::write(dir.path().join("in.pdf"), mobileid_pdf::sample::document("Lease", 2, 800, false)).unwrap();
    let pyhanko = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/python-test-env/bin/pyhanko");
    let made = Command::new(&pyhanko)
        .current_dir(dir.path())
        .args(["sign", "addsig", "--field", "1/56,700,256,760/Landlord", "pemder", "--no-pass"])
        .args(["--key", "key.pem", "--cert", "cert.pem", "--chain", "chain.pem", "in.pdf", "elsewhere.pdf"])
        .output()
        .expect("pyhanko");
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let elsewhere = std::fs::read(dir.path().join("elsewhere.pdf")).unwrap();

    let sink = SmtpSink::start().await;
    let server = TestServer::start_mailing(backend, &sink, &[]).await;
    let sender = Sender::add(&server, "acme", None);
    let mut anna = server.phone("+41791110001").await;
    server.cli(&["identity", "verify", "--msisdn", "+41791110001", "--given-names", "Anna", "--surname", "Müller"]);
    let body = json!({ "title": "Lease", "send": true,
                       "documents": [{ "name": "lease.pdf", "content": STANDARD.encode(&elsewhere) }],
                       "levels": [[signer("Anna Müller", "anna@example.ch", "+41791110001", "en")]] });
    let (status, envelope) = sender.call(reqwest::Method::POST, "/api/v1/envelopes", Some(&body)).await;
    assert_eq!(status, 201, "{envelope}");
    let id = envelope["id"].as_str().unwrap().to_string();
    let link = link(&mails_to(&sink, "anna@example.ch", "Please sign", 1).await[0]);
    let (status, _, _) = start_signing(&server.relying_party_client(), &link, &server.browser_base, "791110001").await;
    assert_eq!(status, 303);
    approve_next_document(&mut anna).await;
    let signed = completed_document(&sender, &id).await;
    assert!(signed.starts_with(&elsewhere), "the signature from elsewhere is left as it was");
    let file = dir.path().join("both.pdf");
    std::fs::write(&file, &signed).unwrap();
    let out = Command::new(&pyhanko)
        .args(["sign", "validate", "--pretty-print", "--no-revocation-check", "--trust"])
        .arg(server.root_ca_path())
        .arg("--trust")
        .arg(dir.path().join("other-root.pem"))
        .arg(&file)
        .output()
        .expect("pyhanko");
    let report = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{report}{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(report.matches("The signature is judged VALID").count(), 2, "{report}");
    assert!(Command::new("qpdf").arg("--check").arg(&file).output().unwrap().status.success());
    let listed = Command::new("pdfsig").arg(&file).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&listed.stdout).matches("Signature is Valid.").count(), 2);
}

#[tokio::test]
async fn a_document_signed_elsewhere_sqlite() {
    a_document_signed_elsewhere(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_document_signed_elsewhere_postgres() {
    a_document_signed_elsewhere(Backend::Postgres).await;
}

#[tokio::test]
async fn a_time_stamped_signature_sqlite() {
    a_time_stamped_signature(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_time_stamped_signature_postgres() {
    a_time_stamped_signature(Backend::Postgres).await;
}

#[tokio::test]
async fn two_levels_three_signers_sqlite() {
    two_levels_three_signers(Backend::Sqlite).await;
}

#[tokio::test]
async fn two_levels_three_signers_postgres() {
    two_levels_three_signers(Backend::Postgres).await;
}

#[tokio::test]
async fn refusals_and_a_decline_sqlite() {
    refusals_and_a_decline(Backend::Sqlite).await;
}

#[tokio::test]
async fn refusals_and_a_decline_postgres() {
    refusals_and_a_decline(Backend::Postgres).await;
}
