//! The OpenID provider end to end, driven by a certified relying-party library
//! (openid-client, in `crates/http/tests/browser/oidc-login.mjs`): discovery, PAR, the
//! login pages in headless Chromium, approval on the virtual phone, code exchange with ID
//! token validation, userinfo and refresh (a second use of the old refresh token is
//! refused), on SQLite and on PostgreSQL.

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;
use support::browser::{screenshots, BROWSER_DIR};
use support::*;

const REDIRECT: &str = "https://demo-shop.example/callback";

/// Registers the relying party with the operator CLI; returns its secret.
fn register_client(server: &TestServer) -> String {
    let output = server.cli(&[
        "oidc-client",
        "add",
        "--client-id",
        "demo-shop",
        "--name",
        "Demo Shop",
        "--redirect-uri",
        REDIRECT,
        "--scopes",
        "openid,profile,phone,offline_access",
    ]);
    output
        .split("(shown only now): ")
        .nth(1)
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| panic!("no secret in {output}"))
}

/// Runs the relying party and its browser; `on_waiting_page` is called once the browser
/// shows the waiting page. What the relying party got.
fn relying_party(
    server: &TestServer,
    secret: &str,
    number: &str,
    ui_locales: &str,
    on_waiting_page: impl FnOnce(String),
) -> Value {
    assert!(
        Path::new(BROWSER_DIR).join("node_modules/openid-client").is_dir() && Path::new("/usr/bin/chromium").exists(),
        "openid-client and Chromium are needed: run scripts/test (it installs both)"
    );
    let mut child = Command::new("node")
        .arg(Path::new(BROWSER_DIR).join("oidc-login.mjs"))
        .current_dir(BROWSER_DIR)
        .env("ISSUER", &server.browser_base)
        .env("CLIENT_ID", "demo-shop")
        .env("CLIENT_SECRET", secret)
        .env("REDIRECT_URI", REDIRECT)
        .env("NUMBER", number)
        .env("UI_LOCALES", ui_locales)
        .env("SCREENSHOTS", screenshots())
        .env("NODE_EXTRA_CA_CERTS", server.root_ca_path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines().map_while(Result::ok);
    let mut on_waiting_page = Some(on_waiting_page);
    let mut last = String::new();
    for line in lines.by_ref() {
        if let Some(code) = line.strip_prefix("waiting page shown ") {
            if let Some(approve) = on_waiting_page.take() {
                approve(code.to_string());
            }
        } else {
            last = line;
        }
    }
    let output = child.wait_with_output().expect("node");
    assert!(output.status.success(), "the relying party failed:\n{last}\n{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_str(&last).unwrap_or_else(|e| panic!("{e}: {last}"))
}

on_both_databases! {
    async fn a_relying_party_logs_a_user_in_with_the_phone(server) {
        let secret = register_client(server);
        let msisdn = "+41791600001";
        let mut phone = server.phone(msisdn).await;
        // The user looks at the waiting page, then approves on the phone, picking the
        // session code the page shows out of the three the phone offers.
        let (shown, waiting_page) = tokio::sync::oneshot::channel::<String>();
        let approval = tokio::spawn(async move {
            let code = waiting_page.await.expect("the browser showed the waiting page");
            let request = next_request(&phone).await;
            let choices = request.choices.clone().expect("number matching is on by default");
            assert_eq!(choices.len(), 3, "{choices:?}");
            assert!(choices.contains(&code), "{choices:?} lacks {code}");
            phone.approve_choosing(&request, PIN, Some(&code)).await.expect("approve");
            request
        });
        let server_ref: &TestServer = server;
        let result = tokio::task::block_in_place(|| {
            relying_party(server_ref, &secret, "791600001", "de", move |code| {
                let _ = shown.send(code);
            })
        });
        let request = approval.await.expect("the phone's task");

        // The phone showed the guide's German login text with the client and the session code.
        let code = result["pages"]["sessionCode"].as_str().expect("session code").trim().to_string();
        assert_eq!(code.len(), 8, "{code}");
        assert_eq!(request.data, format!("Möchten Sie sich bei Demo Shop anmelden? Session-ID ist {code}"));
        // The pages were German, and no Content-Security-Policy violation was reported.
        for page in ["phone", "waiting", "consent"] {
            assert_eq!(result["pages"][page]["lang"], "de", "{page}");
        }
        assert!(result["pages"]["phone"]["text"].as_str().unwrap().contains("Mit Mobile ID anmelden"));
        assert!(result["pages"]["waiting"]["text"].as_str().unwrap().contains("+4179****001"));
        assert!(result["pages"]["consent"]["text"].as_str().unwrap().contains("Ihre bestätigte Telefonnummer +41791600001"));
        assert_eq!(result["pages"]["cspViolations"], serde_json::json!([]));
        // The authorization response carried the issuer (RFC 9207).
        assert!(result["redirected"].as_str().unwrap().contains("iss="), "{}", result["redirected"]);

        // The ID token, as openid-client validated it.
        let claims = &result["claims"];
        assert_eq!(claims["iss"], server.browser_base.as_str());
        assert_eq!(claims["aud"], "demo-shop");
        assert_eq!(claims["acr"], "mid_al3_any");
        assert_eq!(claims["amr"], serde_json::json!(["mid_app", "mid_hwk"]));
        let sub = claims["sub"].as_str().expect("sub");
        assert_eq!(sub.len(), 64);
        // Userinfo: the phone scope's claims, and the name is the number when phone is asked too.
        assert_eq!(result["userinfo"]["sub"], sub);
        assert_eq!(result["userinfo"]["phone_number"], msisdn);
        assert_eq!(result["userinfo"]["phone_number_verified"], true);
        assert_eq!(result["userinfo"]["name"], msisdn);
        // Refresh rotates; the old refresh token is then refused.
        assert_eq!(result["refreshed"]["sub"], sub);
        assert_eq!(result["refreshed"]["rotated"], true);
        assert_eq!(result["reuse"], "invalid_grant");
    }
}

/// The pages in every language: each shows its own texts (the screenshots are in
/// target/screenshots/oidc-<page>-<language>.png).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pages_speak_english_french_and_italian_too() {
    let server = TestServer::start(Backend::Sqlite).await;
    let secret = register_client(&server);
    let expected = [
        (
            "en",
            ["Sign in with Mobile ID", "Confirm on your phone", "Access to user information", "Something went wrong"],
        ),
        (
            "fr",
            [
                "Se connecter avec Mobile ID",
                "Confirmez sur votre téléphone",
                "Accès aux informations de l'utilisateur",
                "Une erreur s'est produite",
            ],
        ),
        (
            "it",
            [
                "Accedi con Mobile ID",
                "Confermi sul telefono",
                "Accesso alle informazioni dell'utente",
                "Si è verificato un errore",
            ],
        ),
    ];
    for (n, (lang, titles)) in expected.into_iter().enumerate() {
        let msisdn = format!("+4179160010{n}");
        let mut phone = server.phone(&msisdn).await;
        let (shown, waiting_page) = tokio::sync::oneshot::channel::<String>();
        let approval = tokio::spawn(async move {
            let code = waiting_page.await.expect("the waiting page");
            let request = next_request(&phone).await;
            phone.approve_choosing(&request, PIN, Some(&code)).await.expect("approve");
            request
        });
        let number = msisdn.trim_start_matches("+41").to_string();
        let result = tokio::task::block_in_place(|| {
            relying_party(&server, &secret, &number, lang, move |code| {
                let _ = shown.send(code);
            })
        });
        let request = approval.await.expect("the phone");
        assert_eq!(request.language, lang);
        assert_eq!(
            request.data.replace(result["pages"]["sessionCode"].as_str().unwrap().trim(), "#CODE#"),
            mobileid_engine::oidc::login_text(lang).replace("#CLIENT#", "Demo Shop")
        );
        for (page, title) in ["phone", "waiting", "consent", "error"].into_iter().zip(titles) {
            assert_eq!(result["pages"][page]["lang"], lang, "{lang} {page}");
            let text = result["pages"][page]["text"].as_str().unwrap_or_default();
            assert!(text.contains(title), "{lang} {page}: {text}");
        }
        assert_eq!(result["pages"]["cspViolations"], serde_json::json!([]), "{lang}");
    }
}
