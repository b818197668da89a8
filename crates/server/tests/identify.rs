//! Identity verification over HTTP, against the real server on SQLite: the signing page
//! starts it, the verification is bound to its browser's cookie, pictures that are not
//! pictures or are 100 MB are refused, the fake provider's signed webhooks are accepted
//! once while forged and replayed ones are refused and change nothing, and an external
//! provider (a server of the documented protocol on the loopback) gets a signed start.

mod support;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use reqwest::header::{COOKIE, LOCATION, ORIGIN, SET_COOKIE};
use reqwest::redirect::Policy;
use serde_json::{json, Value};
use support::*;

const SECRET: &str = "the fake provider's secret";

/// A browser without a cookie jar: the cookie is carried by hand.
struct Browser {
    http: reqwest::Client,
    base: String,
    cookie: String,
}

impl Browser {
    fn new(server: &TestServer) -> Browser {
        let http = reqwest::Client::builder()
            .danger_accept_invalid_certs(true)
            .redirect(Policy::none())
            .build()
            .expect("client");
        Browser { http, base: server.browser_base.clone(), cookie: String::new() }
    }

    async fn post_form(&mut self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .header(ORIGIN, &self.base)
            .header(COOKIE, &self.cookie)
            .form(form)
            .send()
            .await
            .expect("post");
        if let Some(cookie) = response.headers().get(SET_COOKIE) {
            self.cookie = cookie.to_str().expect("cookie").split(';').next().expect("pair").to_string();
        }
        response
    }

    async fn upload(&self, path: &str, content_type: &str, body: Vec<u8>) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .header(ORIGIN, &self.base)
            .header(COOKIE, &self.cookie)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body)
            .send()
            .await
            .expect("upload");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Announces a JPEG of `length` bytes and sends none of it: the answer's status, which
    /// must come before the body. (A client that wrote the body could find the connection
    /// reset under it instead: the server closes it with the refused bytes unread.)
    async fn announce_upload(&self, path: &str, length: usize) -> u16 {
        let nothing = futures_util::stream::pending::<Result<Vec<u8>, std::io::Error>>();
        let body = reqwest::Body::wrap_stream(nothing);
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .header(ORIGIN, &self.base)
            .header(COOKIE, &self.cookie)
            .header(reqwest::header::CONTENT_TYPE, "image/jpeg")
            .header(reqwest::header::CONTENT_LENGTH, length)
            .body(body)
            .send();
        let response = tokio::time::timeout(std::time::Duration::from_secs(10), response).await;
        response.expect("an answer before the body was sent").expect("upload").status().as_u16()
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let response =
            self.http.get(format!("{}{path}", self.base)).header(COOKIE, &self.cookie).send().await.expect("get");
        (response.status().as_u16(), response.text().await.unwrap_or_default())
    }
}

/// An envelope for a signer with Mobile ID and no identity; the browser that opened their
/// link has started a verification. Answers the browser and the verification's path.
async fn verification_started(server: &TestServer) -> (Browser, String) {
    let out = server.cli(&["sender", "add", "--id", "acme", "--name", "Acme HR"]);
    let key = out.lines().nth(1).expect("API key").trim().to_string();
    let _anna = server.phone("+41791110005").await;
    let pdf = mobileid_pdf::sample::document("Contract", 1, 300, false);
    let body = json!({
        "title": "Contract",
        "send": true,
        "documents": [{ "name": "contract.pdf", "content": STANDARD.encode(&pdf) }],
        "levels": [[{ "name": "Anna Maria Eriksson", "email": "anna@example.ch", "msisdn": "+41791110005" }]],
    });
    let http = server.relying_party_client();
    let response = http.post(format!("{}/api/v1/envelopes", server.browser_base)).bearer_auth(&key).json(&body);
    let envelope: Value = response.send().await.expect("create").json().await.expect("json");
    let id = envelope["id"].as_str().expect("id");
    let links = server.cli(&["envelope", "links", "--id", id]);
    let link = links.split_whitespace().find(|w| w.contains("/sign/")).expect("link");
    let token = link.rsplit('/').next().expect("token").to_string();
    let mut browser = Browser::new(server);
    let started =
        browser.post_form(&format!("/sign/{token}/start"), &[("country", "41"), ("number", "791110005")]).await;
    assert_eq!(started.status(), 303);
    let identify = browser.post_form(&format!("/sign/{token}/identify"), &[]).await;
    assert_eq!(identify.status(), 303);
    let path = identify.headers()[LOCATION].to_str().expect("location").to_string();
    assert!(path.starts_with("/identify/idv-"), "{path}");
    assert!(browser.cookie.starts_with("__Host-mid_idv_"), "{}", browser.cookie);
    (browser, path)
}

#[tokio::test]
async fn pictures_and_bindings() {
    let server = TestServer::start(Backend::Sqlite).await;
    let (mut browser, path) = verification_started(&server).await;
    let terms = browser.post_form(&format!("{path}/terms"), &[("version", "1"), ("accept_terms", "yes")]).await;
    assert_eq!(terms.status(), 400, "both boxes are needed");
    let terms = browser
        .post_form(&format!("{path}/terms"), &[("version", "1"), ("accept_terms", "yes"), ("accept_data", "yes")])
        .await;
    assert_eq!(terms.headers()[LOCATION], format!("{path}/capture").as_str());
    let (status, page) = browser.get(&format!("{path}/capture")).await;
    assert_eq!(status, 200);
    assert!(page.contains("/identify/handoff/"), "the desktop gets a hand-off link");

    // Not a picture: 415 with a message; 100 MB: 413, refused before it is read.
    let (status, answer) =
        browser.upload(&format!("{path}/images/page"), "application/pdf", b"%PDF-1.7".to_vec()).await;
    assert_eq!(status, 415, "{answer}");
    assert!(answer["error"].as_str().unwrap_or_default().contains("not a picture"), "{answer}");
    assert_eq!(browser.announce_upload(&format!("{path}/images/page"), 100 * 1024 * 1024).await, 413);
    assert_eq!(server.sql("SELECT COUNT(*) FROM verification_images"), "0", "nothing was kept");

    // Another browser reaches nothing of it.
    let stranger = Browser::new(&server);
    assert_eq!(stranger.get(&path).await.0, 404);
    assert_eq!(stranger.get(&format!("{path}/capture")).await.0, 404);
    let png = include_bytes!("../../ocr/tests/fixtures/td3-passport.png").to_vec();
    assert_eq!(stranger.upload(&format!("{path}/images/page"), "image/png", png.clone()).await.0, 404);
    // Its own browser stores the picture and reads the zone.
    let (status, answer) = browser.upload(&format!("{path}/images/page"), "image/png", png).await;
    assert_eq!((status, answer), (200, json!({ "mrz_read": true })));
    // A hand-off link that expired is refused as such, and one used twice too.
    let (_, page) = browser.get(&format!("{path}/capture")).await;
    let token = page.split("/identify/handoff/").nth(1).expect("link").split('"').next().expect("token").to_string();
    let mut phone = Browser::new(&server);
    assert_eq!(phone.post_form(&format!("/identify/handoff/{token}"), &[]).await.status(), 303);
    assert_eq!(phone.get(&format!("{path}/capture")).await.0, 200, "the phone continues");
    let mut late = Browser::new(&server);
    assert_eq!(late.post_form(&format!("/identify/handoff/{token}"), &[]).await.status(), 410);
    let (_, page) = browser.get(&format!("{path}/capture")).await;
    let token = page.split("/identify/handoff/").nth(1).expect("link").split('"').next().expect("token").to_string();
    server.sql("UPDATE verification_handoffs SET expires_at = 0 WHERE used_at IS NULL");
    let expired = late.post_form(&format!("/identify/handoff/{token}"), &[]).await;
    assert_eq!(expired.status(), 410);
    assert!(expired.text().await.expect("page").contains("expired"));
}

#[tokio::test]
async fn the_fake_providers_webhooks() {
    let server = TestServer::start_with(
        Backend::Sqlite,
        &[
            ("MOBILEID_IDENTITY_PROVIDER", "fake"),
            ("MOBILEID_IDENTITY_PROVIDER_SECRET", SECRET),
            ("MOBILEID_IDENTITY_REVIEW", "none"),
        ],
    )
    .await;
    let (mut browser, path) = verification_started(&server).await;
    let terms = browser
        .post_form(&format!("{path}/terms"), &[("version", "1"), ("accept_terms", "yes"), ("accept_data", "yes")])
        .await;
    let provider_page = terms.headers()[LOCATION].to_str().expect("location").to_string();
    assert!(provider_page.starts_with("/identify/fake-provider/"), "{provider_page}");
    let (status, page) = browser.get(&provider_page).await;
    assert_eq!(status, 200);
    assert!(page.contains("Eriksson"), "the tester sees the stated name");
    let session = provider_page.rsplit('/').next().expect("session");

    let webhook = format!("{}/identify/providers/fake/webhook", server.browser_base);
    let body = json!({"event_id": "evt-1", "session_id": session, "outcome": "approved",
        "person": {"given_names": "Anna Maria", "surname": "Eriksson"}})
    .to_string();
    let now = chrono::Utc::now().timestamp();
    let send = |signature: String, body: String| {
        let http = browser.http.clone();
        let webhook = webhook.clone();
        async move {
            let response =
                http.post(webhook).header("Mobileid-Signature", signature).body(body).send().await.expect("webhook");
            response.status().as_u16()
        }
    };
    let sign = mobileid_engine::identity::providers::sign_webhook;
    assert_eq!(send(sign("a guess", now, body.as_bytes()), body.clone()).await, 401, "forged");
    assert_eq!(send(sign(SECRET, now - 3600, body.as_bytes()), body.clone()).await, 401, "stale");
    assert_eq!(server.sql("SELECT state FROM verifications"), "provider", "nothing changed");
    assert_eq!(server.sql("SELECT COUNT(*) FROM identities WHERE state = 'verified'"), "0");
    let signature = sign(SECRET, now, body.as_bytes());
    assert_eq!(send(signature.clone(), body.clone()).await, 200);
    assert_eq!(server.sql("SELECT state FROM verifications"), "verified");
    assert_eq!(send(signature, body).await, 409, "replayed");
    assert_eq!(server.sql("SELECT COUNT(*) FROM evidence_records"), "1", "nothing more was recorded");
    let unknown = format!("{}/identify/providers/other/webhook", server.browser_base);
    let response = browser.http.post(unknown).body("{}").send().await.expect("webhook");
    assert_eq!(response.status(), 404);
    // The browser's page says so; the tester's page of a decided session refuses.
    let (_, page) = browser.get(&path).await;
    assert!(page.contains("Your identity is confirmed"), "{page}");
    let refused = browser.post_form(&provider_page, &[("decision", "reject"), ("reason", "late")]).await;
    assert_eq!(refused.status(), 400);
    assert_eq!(server.sql("SELECT state FROM verifications"), "verified");
}

/// A provider of our own protocol on the loopback: checks the start's signature, keeps
/// its body and answers a session.
async fn external_provider() -> (std::sync::Arc<std::sync::Mutex<Vec<Value>>>, String) {
    let kept: std::sync::Arc<std::sync::Mutex<Vec<Value>>> = Default::default();
    let store = kept.clone();
    let app = axum::Router::new().route(
        "/start",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let store = store.clone();
            async move {
                let header = headers.get("mobileid-signature").and_then(|v| v.to_str().ok()).unwrap_or_default();
                let time: i64 =
                    header.split(',').find_map(|p| p.strip_prefix("t=")).and_then(|t| t.parse().ok()).unwrap_or(0);
                let expected = mobileid_engine::identity::providers::sign_webhook(SECRET, time, body.as_bytes());
                if header != expected {
                    return (axum::http::StatusCode::UNAUTHORIZED, "bad signature".to_string());
                }
                store.lock().unwrap().push(serde_json::from_str(&body).unwrap_or(Value::Null));
                (
                    axum::http::StatusCode::CREATED,
                    json!({"session_id": "ext-1", "url": "https://idp.example/s/ext-1"}).to_string(),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/start", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    (kept, url)
}

#[tokio::test]
async fn an_external_provider() {
    let (starts, start_url) = external_provider().await;
    // The operator's own terms of use, in English only.
    let terms = tempfile::tempdir().expect("tempdir");
    std::fs::write(terms.path().join("terms.en.txt"), "Acme's terms, version 7.\n\nSecond paragraph.").expect("terms");
    let server = TestServer::start_with(
        Backend::Sqlite,
        &[
            ("MOBILEID_IDENTITY_TERMS_DIR", terms.path().to_str().expect("path")),
            ("MOBILEID_IDENTITY_TERMS_VERSION", "7"),
            ("MOBILEID_IDENTITY_PROVIDER", "acme-idv"),
            ("MOBILEID_IDENTITY_PROVIDER_START_URL", &start_url),
            ("MOBILEID_IDENTITY_PROVIDER_SECRET", SECRET),
            ("MOBILEID_IDENTITY_PROVIDER_LEGAL_NAME", "Acme Identity AG"),
        ],
    )
    .await;
    let (mut browser, path) = verification_started(&server).await;
    let (_, overview) = browser.get(&path).await;
    assert!(overview.contains("Acme Identity AG"), "the legal information names the provider");
    assert!(
        overview.contains("Acme&#x27;s terms, version 7.") || overview.contains("Acme&#39;s terms, version 7."),
        "{overview}"
    );
    let (_, german) = browser.get(&format!("{path}?ui_locales=de")).await;
    assert!(german.contains("Second paragraph."), "a language without its own terms shows the English ones");
    // Accepting an older version than the one shown is refused.
    let old = browser
        .post_form(&format!("{path}/terms"), &[("version", "1"), ("accept_terms", "yes"), ("accept_data", "yes")])
        .await;
    assert_eq!(old.status(), 409);
    let terms = browser
        .post_form(&format!("{path}/terms"), &[("version", "7"), ("accept_terms", "yes"), ("accept_data", "yes")])
        .await;
    assert_eq!(terms.headers()[LOCATION], "https://idp.example/s/ext-1", "the browser goes to the provider");
    let start = starts.lock().unwrap()[0].clone();
    assert_eq!(start["stated_name"], "Anna Maria Eriksson");
    assert_eq!(start["verification_id"].as_str(), path.strip_prefix("/identify/"));
    assert!(start["callback_url"].as_str().unwrap_or_default().ends_with("/identify/providers/acme-idv/webhook"));
    // Its approval waits for an operator (every decision is a human's by default).
    let body = json!({"event_id": "e-1", "session_id": "ext-1", "outcome": "approved",
        "person": {"given_names": "Anna Maria", "surname": "Eriksson"}})
    .to_string();
    let signature =
        mobileid_engine::identity::providers::sign_webhook(SECRET, chrono::Utc::now().timestamp(), body.as_bytes());
    let webhook = format!("{}/identify/providers/acme-idv/webhook", server.browser_base);
    let response =
        browser.http.post(webhook).header("Mobileid-Signature", signature).body(body).send().await.expect("webhook");
    assert_eq!(response.status(), 200);
    assert_eq!(server.sql("SELECT state FROM verifications"), "review");
}
