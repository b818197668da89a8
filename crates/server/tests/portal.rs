//! The self-service portal over HTTP, as a browser without JavaScript uses it, with real
//! e-mail through a local SMTP sink and a virtual phone: sign-up confirmed by e-mail,
//! login limits, CSRF and origin checks, an operator's account, Get Mobile ID by e-mail,
//! the activation followed and notified, recovery codes shown once, moving to a new phone
//! with the same serial number, cancelling, cross-user access, blocking, and the MSS
//! fault's portal URL. On SQLite and PostgreSQL. (The browser flow with the QR code and
//! the web authenticator is `portal_browser.rs`.)

mod support;

use std::collections::HashMap;
use std::time::Duration;

use mobileid_phone::Phone;
use support::smtp::{Received, SmtpSink};
use support::*;

const PASSWORD: &str = "correct horse battery";

/// A browser: keeps cookies, follows no redirect.
struct Browser {
    http: reqwest::Client,
    base: String,
    cookies: HashMap<String, String>,
    origin: Option<String>,
}

struct Page {
    status: u16,
    location: Option<String>,
    body: String,
}

impl Browser {
    fn new(server: &TestServer) -> Browser {
        Browser {
            http: server.relying_party_client(),
            base: server.browser_base.clone(),
            cookies: HashMap::new(),
            origin: Some(server.browser_base.clone()),
        }
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> Page {
        let cookie: Vec<String> = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let mut request = request.header("Cookie", cookie.join("; ")).header("Accept-Language", "en");
        if let Some(origin) = &self.origin {
            request = request.header("Origin", origin);
        }
        let response = request.send().await.expect("request");
        for value in response.headers().get_all("set-cookie") {
            let pair = value.to_str().expect("cookie").split(';').next().expect("pair");
            let (name, value) = pair.split_once('=').expect("name=value");
            if value.is_empty() {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_string(), value.to_string());
            }
        }
        let location = response.headers().get("location").map(|l| l.to_str().expect("location").to_string());
        Page { status: response.status().as_u16(), location, body: response.text().await.expect("body") }
    }

    async fn get(&mut self, path: &str) -> Page {
        let url = if path.starts_with("https://") { path.to_string() } else { format!("{}{path}", self.base) };
        let request = self.http.get(url);
        self.send(request).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let request = self.http.post(format!("{}{path}", self.base)).form(form);
        self.send(request).await
    }

    async fn log_in(&mut self, email: &str, password: &str) -> Page {
        self.post("/portal/login", &[("email", email), ("password", password)]).await
    }

    /// The CSRF token on a page of the session.
    async fn csrf(&mut self) -> String {
        let page = self.get("/portal/").await;
        assert_eq!(page.status, 200, "{}", page.body);
        field(&page.body, "csrf")
    }
}

/// The value of a hidden form field.
fn field(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).unwrap_or_else(|| panic!("no field {name} in {html}")) + marker.len();
    html[start..].split('"').next().expect("value").to_string()
}

/// The first line of a text that starts with `prefix`.
fn link_in(text: &str, prefix: &str) -> String {
    text.lines()
        .map(str::trim)
        .find(|line| line.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix} link in {text}"))
        .to_string()
}

async fn next_mail(sink: &SmtpSink, count: usize) -> Received {
    let mails = sink.wait_for(count, Duration::from_secs(20)).await;
    mails[count - 1].clone()
}

async fn portal_server(backend: Backend, sink: &SmtpSink, extra: &[(&str, &str)]) -> TestServer {
    let mut env = vec![("MOBILEID_PORTAL_LOGIN_ATTEMPTS", "3")];
    env.extend_from_slice(extra);
    TestServer::start_mailing(backend, sink, &env).await
}

async fn sign_up_and_log_in(backend: Backend) {
    let sink = SmtpSink::start().await;
    let server = portal_server(backend, &sink, &[("MOBILEID_PORTAL_SIGNUP", "true")]).await;
    let mut browser = Browser::new(&server);

    // Without a session, the portal is the login page, which offers signing up.
    let page = browser.get("/portal/").await;
    assert_eq!((page.status, page.location.as_deref()), (303, Some("/portal/login")));
    let page = browser.get("/portal/login").await;
    assert!(page.body.contains("href=\"/portal/signup\""), "{}", page.body);

    // Bad input is refused with a message, and nothing is created.
    let page = browser
        .post(
            "/portal/signup",
            &[("email", "anna"), ("country", "41"), ("number", "791234567"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("valid e-mail address"), "{}", page.body);
    let page = browser
        .post(
            "/portal/signup",
            &[("email", "anna@example.ch"), ("country", "41"), ("number", "79"), ("password", "short")],
        )
        .await;
    assert_eq!(page.status, 400);
    // A number that has a Mobile ID already (here a robot test user) is not anyone's to claim.
    let page = browser
        .post(
            "/portal/signup",
            &[("email", "mallory@example.ch"), ("country", "41"), ("number", "700092501"), ("password", PASSWORD)],
        )
        .await;
    assert!(page.status == 400, "{}", page.body);

    let page = browser
        .post(
            "/portal/signup",
            &[("email", "Anna@Example.ch"), ("country", "41"), ("number", "079 123 45 67"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("We sent a link to Anna@Example.ch"), "{}", page.body);
    let mail = next_mail(&sink, 1).await;
    assert_eq!(mail.to, vec!["anna@example.ch".to_string()]);
    assert_eq!(mail.subject(), "Confirm your e-mail address for Mobile ID");
    let link = link_in(&mail.text_body(), &format!("{}/portal/confirm?token=", server.browser_base));
    let token = link.split("token=").nth(1).expect("token").to_string();

    // Not confirmed yet: the right password does not log in.
    let page = browser.log_in("anna@example.ch", PASSWORD).await;
    assert_eq!(page.status, 401);
    assert!(page.body.contains("confirm your e-mail address first"), "{}", page.body);

    // Opening the link changes nothing; its button confirms, once.
    let page = browser.get(&link).await;
    assert_eq!(page.status, 200);
    assert_eq!(field(&page.body, "token"), token);
    assert!(!page.body.contains("type=\"password\""), "a signed-up account has its password");
    let page = browser.post("/portal/confirm", &[("token", &token)]).await;
    assert!(page.status == 200 && page.body.contains("Your address is confirmed"), "{}", page.body);
    let page = browser.post("/portal/confirm", &[("token", &token)]).await;
    assert!(page.status == 400 && page.body.contains("already used"), "{}", page.body);
    let page = browser.get("/portal/confirm?token=not-a-token").await;
    assert!(page.status == 400 && page.body.contains("not valid"), "{}", page.body);

    // Signing up again with the address tells the owner by e-mail, and the page nobody.
    let page = browser
        .post(
            "/portal/signup",
            &[("email", "anna@example.ch"), ("country", "41"), ("number", "791234568"), ("password", PASSWORD)],
        )
        .await;
    assert!(page.status == 200 && page.body.contains("We sent a link"), "{}", page.body);
    let mail = next_mail(&sink, 2).await;
    assert_eq!(mail.subject(), "Your Mobile ID account");

    // Logged in: the dashboard offers Get Mobile ID.
    let page = browser.log_in("anna@example.ch", PASSWORD).await;
    assert_eq!((page.status, page.location.as_deref()), (303, Some("/portal/")), "{}", page.body);
    assert!(browser.cookies.contains_key("__Host-mid_portal"));
    let page = browser.get("/portal/").await;
    assert!(page.body.contains("anna@example.ch") && page.body.contains("+41791234567"), "{}", page.body);
    assert!(page.body.contains("href=\"/portal/get\""), "{}", page.body);

    // Forms of the session need its CSRF token, and our origin.
    let csrf = browser.csrf().await;
    assert_eq!(browser.post("/portal/get", &[("csrf", "forged")]).await.status, 403);
    browser.origin = Some("https://evil.example".into());
    assert_eq!(browser.post("/portal/get", &[("csrf", &csrf)]).await.status, 403);
    browser.origin = None;
    assert_eq!(browser.post("/portal/get", &[("csrf", &csrf)]).await.status, 200, "no Origin header: a form of ours");
    assert_eq!(browser.post("/portal/get/cancel", &[("csrf", &csrf)]).await.status, 303);

    // Logging out ends the session on the server too.
    let session = browser.cookies["__Host-mid_portal"].clone();
    let page = browser.post("/portal/logout", &[("csrf", &csrf)]).await;
    assert_eq!(page.status, 303);
    browser.cookies.insert("__Host-mid_portal".into(), session);
    assert_eq!(browser.get("/portal/").await.location.as_deref(), Some("/portal/login"));

    // Brute force: the account locks after 3 wrong passwords, even for the right one then;
    // the address is refused with 429 after 20 failures.
    for attempt in 1..=3 {
        let page = browser.log_in("anna@example.ch", "wrong password!").await;
        assert_eq!(page.status, 401);
        assert_eq!(page.body.contains("locked until"), attempt == 3, "{}", page.body);
    }
    let page = browser.log_in("anna@example.ch", PASSWORD).await;
    assert!(page.status == 401 && page.body.contains("locked until"), "{}", page.body);
    let mut statuses = Vec::new();
    for _ in 0..20 {
        statuses.push(browser.log_in("nobody@example.ch", "wrong password!").await.status);
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_sign_up_by_email_and_logins_are_limited_sqlite() {
    sign_up_and_log_in(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_sign_up_by_email_and_logins_are_limited_postgres() {
    sign_up_and_log_in(Backend::Postgres).await;
}

/// The operator creates an account; its owner sets the password from the e-mailed link.
async fn operator_account(server: &TestServer, sink: &SmtpSink, mails: usize, email: &str, msisdn: &str) -> Browser {
    let out = operator(
        server,
        sink,
        &["account", "add", "--email", email, "--msisdn", msisdn, "--language", "de", "--property", "employee_id=E-7"],
    );
    assert!(out.contains("/portal/confirm?token="), "{out}");
    let mail = next_mail(sink, mails).await;
    assert_eq!(mail.subject(), "Bestätigen Sie Ihre E-Mail-Adresse für Mobile ID");
    let link = link_in(&mail.text_body(), &format!("{}/portal/confirm?token=", server.browser_base));
    let mut browser = Browser::new(server);
    let page = browser.get(&link).await;
    assert!(page.body.contains("type=\"password\""), "{}", page.body);
    let token = field(&page.body, "token");
    let page = browser.post("/portal/confirm", &[("token", &token), ("password", "short")]).await;
    assert_eq!(page.status, 400, "a short password is refused and the link stays good");
    let page = browser.post("/portal/confirm", &[("token", &token), ("password", PASSWORD)]).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(browser.log_in(email, PASSWORD).await.status, 303);
    browser
}

/// The activation link in the e-mail Get Mobile ID sent, and its code.
async fn enrolment_mail(sink: &SmtpSink, count: usize, server: &TestServer) -> String {
    let mail = next_mail(sink, count).await;
    assert_eq!(mail.subject(), "Aktivieren Sie Ihre Mobile ID");
    let link = link_in(&mail.text_body(), &format!("{}/app/#code=", server.browser_base));
    link.split("#code=").nth(1).expect("code").to_string()
}

async fn get_mobile_id_by_email(backend: Backend) {
    let sink = SmtpSink::start().await;
    let server = portal_server(
        backend,
        &sink,
        &[
            ("MOBILEID_PORTAL_DELIVERY", "email"),
            ("MOBILEID_CERTIFICATE_SUBJECT_PROPERTIES", "employee_id:OU"),
            ("MOBILEID_CERTIFICATE_KINDS", "authentication,signing,encryption"),
        ],
    )
    .await;
    let mut ben = operator_account(&server, &sink, 1, "ben@example.ch", "+41795550001").await;
    let listed = server.cli(&["account", "list"]);
    assert!(listed.contains("ben@example.ch") && listed.contains("employee_id"), "{listed}");
    // A property that no certificate subject could hold is refused, and nothing is created.
    let refused = server.cli_output(&["account", "add", "--email", "eve@example.ch", "--property", "note=x\ny"]);
    assert!(!refused.status.success() && String::from_utf8_lossy(&refused.stderr).contains("property"), "{refused:?}");
    assert!(!server.cli(&["account", "list"]).contains("eve@example.ch"));

    // Before any Mobile ID, an MSS request for the number is unknown (105); once a code is
    // open (REGISTERED), it is 404 with the portal's address.
    let csrf = ben.csrf().await;
    let page = ben.get("/portal/get").await;
    assert!(page.body.contains("E-Mail mit einem Link") || page.body.contains("e-mail with a link"), "{}", page.body);
    let page = ben.post("/portal/get", &[("csrf", &csrf)]).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("data-poll=\"/portal/get/state\"") && !page.body.contains("class=\"qr\""),
        "{}",
        page.body
    );
    let code = enrolment_mail(&sink, 2, &server).await;
    let state: serde_json::Value = serde_json::from_str(&ben.get("/portal/get/state").await.body).expect("json");
    assert_eq!(state["done"], false);
    let (_, fault) = server.post("/rest/service", &signature_request("+41795550001", "Demo: Hallo", "synch")).await;
    assert_eq!(fault_code(&fault), 404, "{fault}");

    // The phone activates: the page learns it, and the owner gets an e-mail.
    let mut phone = Phone::activate(&server.base, Some(&server.ca_pem), &code, PIN).await.expect("activate");
    let state: serde_json::Value = serde_json::from_str(&ben.get("/portal/get/state").await.body).expect("json");
    assert_eq!((state["done"].as_bool(), state["next"].as_str()), (Some(true), Some("/portal/get/done")));
    let mail = next_mail(&sink, 3).await;
    assert_eq!(mail.subject(), "Ein neues Telefon wurde für Ihre Mobile ID aktiviert");
    assert!(mail.text_body().contains(&phone.state().serial_number), "{}", mail.text_body());

    // The operator's property is in the certificate's subject.
    let certificate =
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &phone.state().certificate).expect("base64");
    let subject = mobileid_crypto::CertificateInfo::parse(&certificate).expect("certificate").subject_rfc2253;
    assert!(subject.contains("OU=E-7"), "{subject}");

    // Active, the certificate valid, and the recovery codes shown once.
    let page = ben.get("/portal/get/done").await;
    assert!(page.body.contains(&phone.state().serial_number) && page.body.contains("valid until"), "{}", page.body);
    // The kinds the operator asked for: authentication, signing and encryption.
    for kind in ["Authentication ·", "Signing ·", "Encryption ·"] {
        assert!(page.body.contains(kind), "{kind}: {}", page.body);
    }
    // The escrowed encryption key reached the phone, sealed; it opens with the PIN and
    // belongs to its certificate.
    assert_eq!(phone.state().encryption_keys.len(), 1);
    let escrowed = phone.open_encryption_keys(PIN).await.expect("opened");
    let (certificate, key) = &escrowed[0];
    let proof = key.sign(b"escrow").expect("sign");
    let public = mobileid_crypto::SubjectKey::from_certificate_der(certificate).expect("key");
    mobileid_crypto::verify_signature(&public, b"escrow", &proof).expect("the key of its certificate");
    let codes = list_items(&page.body, "recovery-codes");
    assert_eq!(codes.len(), 8, "{}", page.body);
    let again = ben.get("/portal/get/done").await;
    assert!(!again.body.contains("recovery-codes"), "shown once: {}", again.body);

    // A request signed on the phone shows in My Mobile ID.
    let id = async_request(&server, "+41795550001", "Demo: Zahlung bestätigen?").await;
    approve_next(&mut phone).await;
    wait_signed(&server, &id).await;
    let page = ben.get("/portal/mobile-id").await;
    assert!(page.body.contains("Zahlung bestätigen?") && page.body.contains("approved"), "{}", page.body);
    let device = field(&page.body, "device");

    // Another account can neither block Ben's phone nor see it.
    let mut carl = operator_account(&server, &sink, 4, "carl@example.ch", "+41795550002").await;
    let carl_csrf = carl.csrf().await;
    let page = carl.post("/portal/mobile-id/block", &[("csrf", &carl_csrf), ("device", &device)]).await;
    assert_eq!(page.status, 404, "{}", page.body);
    assert!(!carl.get("/portal/mobile-id").await.body.contains(&device));
    // Nor with Ben's CSRF token in Carl's session.
    assert_eq!(carl.post("/portal/mobile-id/block", &[("csrf", &csrf), ("device", &device)]).await.status, 403);

    // Get Mobile ID again while the phone is active: refused; a wrong recovery code too.
    let page = ben.post("/portal/get", &[("csrf", &csrf)]).await;
    assert!(page.status == 409 && page.body.contains("already active on a phone"), "{}", page.body);
    let page = ben.post("/portal/recover", &[("csrf", &csrf), ("code", "AAAAA-BBBBB")]).await;
    assert_eq!(page.status, 400, "{}", page.body);

    // With a recovery code: a new phone keeps the serial number, the old one is retired.
    let page = ben.post("/portal/recover", &[("csrf", &csrf), ("code", &codes[0].to_lowercase())]).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let code = enrolment_mail(&sink, 5, &server).await;
    let second = Phone::activate(&server.base, Some(&server.ca_pem), &code, PIN).await.expect("activate");
    assert_eq!(second.state().serial_number, phone.state().serial_number);
    // The escrowed encryption key is delivered again to the new phone.
    let certificate_of =
        |p: &Phone| p.state().encryption_keys.iter().map(|k| k.certificate.clone()).collect::<Vec<_>>();
    assert_eq!(certificate_of(&second), certificate_of(&phone));
    let page = ben.get("/portal/get/done").await;
    assert_eq!(list_items(&page.body, "recovery-codes").len(), 8, "a new set for the new phone");
    let page = ben.post("/portal/recover", &[("csrf", &csrf), ("code", &codes[1])]).await;
    assert_eq!(page.status, 400, "the new set replaced the old one");

    // Reused and unknown activation codes open nothing.
    for refused in [code.as_str(), "ABCD-EFGH-JKLM"] {
        assert!(Phone::activate(&server.base, Some(&server.ca_pem), refused, PIN).await.is_err());
    }

    // Blocking the phone from the portal revokes its certificate at once.
    let page = ben.get("/portal/mobile-id").await;
    let device = field(&page.body, "device");
    let page = ben.post("/portal/mobile-id/block", &[("csrf", &csrf), ("device", &device)]).await;
    assert_eq!(page.location.as_deref(), Some("/portal/mobile-id?notice=blocked"));
    let page = ben.get("/portal/mobile-id?notice=blocked").await;
    assert!(page.body.contains("gesperrt") || page.body.contains("blocked"), "{}", page.body);
    let shown = server.cli(&["user", "show", "--msisdn", "+41795550001"]);
    // Every certificate of a phone is revoked; the escrowed encryption key's stays valid.
    let valid: Vec<&str> = shown.lines().filter(|l| l.contains("valid until")).collect();
    assert!(valid.len() == 1 && valid[0].contains("(encryption, device escrow)"), "{shown}");

    // Without a recovery code, a new Mobile ID has a new serial number; Cancel ends its code.
    let page = ben.post("/portal/get", &[("csrf", &csrf)]).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let code = enrolment_mail(&sink, 7, &server).await;
    assert_eq!(
        ben.post("/portal/get/cancel", &[("csrf", &csrf)]).await.location.as_deref(),
        Some("/portal/?notice=cancelled")
    );
    let state: serde_json::Value = serde_json::from_str(&ben.get("/portal/get/state").await.body).expect("json");
    assert_eq!(state["next"], "/portal/?notice=ended");
    let refused = Phone::activate(&server.base, Some(&server.ca_pem), &code, PIN).await.err().expect("cancelled");
    assert!(refused.to_string().contains("expired"), "{refused}");
    let page = ben.post("/portal/get", &[("csrf", &csrf)]).await;
    assert_eq!(page.status, 200);
    let code = enrolment_mail(&sink, 8, &server).await;
    let mut third = Phone::activate(&server.base, Some(&server.ca_pem), &code, PIN).await.expect("activate");
    assert_ne!(third.state().serial_number, phone.state().serial_number);
    assert_eq!(certificate_of(&third), certificate_of(&phone), "the encryption key outlives the serial number");

    // The operator may link an account to a Mobile ID enrolled before the portal; the
    // account then sees it, with its serial number.
    let earlier = server.phone("+41795550009").await;
    let mut fay = operator_account(&server, &sink, 10, "fay@example.ch", "+41795550009").await;
    let page = fay.get("/portal/mobile-id").await;
    assert!(page.body.contains(&earlier.state().serial_number), "{}", page.body);

    // Logging in with Mobile ID, through our own OpenID provider: the phone approves, and
    // the portal's session is Ben's.
    let mut browser = Browser::new(&server);
    let start = browser.get("/portal/login").await;
    assert!(start.body.contains("href=\"/portal/login/mobile-id\""), "{}", start.body);
    let page = browser.get("/portal/login/mobile-id").await;
    let authorize = page.location.expect("to the provider");
    assert!(authorize.starts_with(&format!("{}/oidc/authorize?client_id=mobileid-self-service", server.browser_base)));
    let login = browser.get(&authorize).await.location.expect("to the login page");
    let login = format!("{}{login}", server.browser_base);
    assert_eq!(browser.get(&login).await.status, 200);
    let login_path = login.trim_start_matches(server.browser_base.as_str()).to_string();
    let page = browser.post(&format!("{login_path}/number"), &[("country", "41"), ("number", "795550001")]).await;
    let waiting = match page.location {
        Some(next) => browser.get(&format!("{}{next}", server.browser_base)).await,
        None => page,
    };
    let code = session_code_shown(&waiting.body);
    let request = next_request(&third).await;
    third.approve_choosing(&request, PIN, Some(&code)).await.expect("approve");
    let back = browser.get(&login).await.location.expect("back to the portal");
    assert!(back.starts_with(&format!("{}/portal/oidc/callback?", server.browser_base)), "{back}");
    let kept = browser.cookies["__Host-mid_portal_login"].clone();
    let page = browser.get(&back).await;
    assert_eq!((page.status, page.location.as_deref()), (303, Some("/portal/")), "{}", page.body);
    assert!(!browser.cookies.contains_key("__Host-mid_portal_login"), "the login's cookie is spent");
    assert!(browser.get("/portal/").await.body.contains("ben@example.ch"));

    // The way back is good once, and only in the browser that started the login.
    let mut other = Browser::new(&server);
    assert_eq!(other.get(&back).await.status, 400, "another browser has no state");
    browser.cookies.insert("__Host-mid_portal_login".into(), kept);
    let page = browser.get(&back).await;
    assert_eq!(page.status, 400, "a code is spent once: {}", page.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_mobile_id_by_email_recover_and_block_sqlite() {
    get_mobile_id_by_email(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_mobile_id_by_email_recover_and_block_postgres() {
    get_mobile_id_by_email(Backend::Postgres).await;
}

/// The operator's CLI, configured with the server's SMTP settings.
fn operator(server: &TestServer, sink: &SmtpSink, args: &[&str]) -> String {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_mobileid"))
        .args(args)
        .env("MOBILEID_DATA_DIR", server.data_dir.path())
        .env("MOBILEID_DATABASE_URL", &server.database_url)
        .env("MOBILEID_BROWSER_PUBLIC_URL", &server.browser_base)
        .env("MOBILEID_SMTP_HOST", "127.0.0.1")
        .env("MOBILEID_SMTP_PORT", sink.port().to_string())
        .env("MOBILEID_SMTP_SECURITY", "plain")
        .env("MOBILEID_LOG", "warn")
        .output()
        .expect("run mobileid");
    succeeded("mobileid", args, output)
}

async fn failed_enrolment_is_reported_once(backend: Backend) {
    let sink = SmtpSink::start().await;
    let server = portal_server(backend, &sink, &[("MOBILEID_ACTIVATION_CODE_TTL_SECONDS", "2")]).await;
    let mut dora = operator_account(&server, &sink, 1, "dora@example.ch", "+41795550003").await;
    let csrf = dora.csrf().await;
    // A cancelled activation is no failure to report; one that runs out is, once.
    assert_eq!(dora.post("/portal/get", &[("csrf", &csrf)]).await.status, 200);
    assert_eq!(dora.post("/portal/get/cancel", &[("csrf", &csrf)]).await.status, 303);
    assert_eq!(dora.post("/portal/get", &[("csrf", &csrf)]).await.status, 200);
    // The server's clock cannot be set from here: wait for the 2 s activation to run out.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    for _ in 0..2 {
        let state: serde_json::Value = serde_json::from_str(&dora.get("/portal/get/state").await.body).expect("json");
        assert_eq!(state["next"], "/portal/?notice=ended");
    }
    let mail = next_mail(&sink, 2).await;
    assert_eq!(mail.subject(), "Ihre Mobile ID wurde nicht aktiviert");
    assert!(mail.text_body().contains(&format!("{}/portal/", server.browser_base)), "{}", mail.text_body());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sink.messages().len(), 2, "reported once, and not the cancelled one");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_enrolment_is_reported_once_sqlite() {
    failed_enrolment_is_reported_once(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_enrolment_is_reported_once_postgres() {
    failed_enrolment_is_reported_once(Backend::Postgres).await;
}

fn list_items(html: &str, id: &str) -> Vec<String> {
    let Some(start) = html.find(&format!("id=\"{id}\"")) else { return Vec::new() };
    let list = &html[start..html[start..].find("</ul>").map_or(html.len(), |end| start + end)];
    list.split("<li>").skip(1).map(|item| item.split('<').next().unwrap_or("").trim().to_string()).collect()
}

async fn async_request(server: &TestServer, msisdn: &str, text: &str) -> String {
    let (status, body) = server.post("/rest/service", &signature_request(msisdn, text, "asynch")).await;
    assert_eq!(status, 200, "{body}");
    body["MSS_SignatureResp"]["MSSP_TransID"].as_str().expect("MSSP_TransID").to_string()
}

async fn wait_signed(server: &TestServer, id: &str) {
    for _ in 0..100 {
        let (_, body) = server.post("/rest/service", &status_request(id)).await;
        if body["MSS_StatusResp"]["Status"]["StatusCode"]["Value"] == "500" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{id} was not signed");
}

/// The portal's door to identity verification: an account without a verified identity
/// states its name and starts one; a verified one shows its name; a reviewer gets the
/// desk's link.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_portal_starts_an_identity_verification() {
    let sink = SmtpSink::start().await;
    let server = portal_server(Backend::Sqlite, &sink, &[]).await;
    let mut browser = operator_account(&server, &sink, 1, "lea@example.ch", "+41791110007").await;
    let dashboard = browser.get("/portal/").await;
    assert!(dashboard.body.contains("Not verified") && dashboard.body.contains("href=\"/portal/identity\""));
    assert!(!dashboard.body.contains("href=\"/review\""), "not a reviewer");
    let csrf = browser.csrf().await;
    let refused = browser.post("/portal/identity", &[("csrf", &csrf), ("name", "  ")]).await;
    assert_eq!(refused.status, 400);
    let forged = browser.post("/portal/identity", &[("csrf", "wrong"), ("name", "Lea Keller")]).await;
    assert_ne!(forged.status, 303, "a form without the session's token is refused");
    let started = browser.post("/portal/identity", &[("csrf", &csrf), ("name", "Lea  Keller")]).await;
    assert_eq!(started.status, 303);
    let verification = started.location.expect("location");
    assert!(verification.starts_with("/identify/idv-"), "{verification}");
    let page = browser.get(&verification).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("accept_terms"), "the terms come first");
    assert_eq!(server.sql("SELECT stated_name || ' ' || return_to FROM verifications"), "Lea Keller /portal/");

    server.cli(&["reviewer", "add", "--email", "lea@example.ch"]);
    server.cli(&["identity", "verify", "--msisdn", "+41791110007", "--given-names", "Lea", "--surname", "Keller"]);
    let dashboard = browser.get("/portal/").await;
    assert!(dashboard.body.contains("Lea Keller") && !dashboard.body.contains("href=\"/portal/identity\""));
    assert!(dashboard.body.contains("href=\"/review\""), "a reviewer finds the desk");
    assert_eq!(browser.get("/portal/identity").await.location.as_deref(), Some("/portal/"));
}
