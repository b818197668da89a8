//! Bad input at the OpenID provider: every malformed or hostile request gets the error the
//! specifications define, with the guide's `mid_…` code, and never a token. Logins here
//! use the robot test user, which approves at once, so no browser or phone is needed.

mod support;

use std::collections::HashMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use serde_json::Value;
use sha2::{Digest, Sha256};
use support::*;

const REDIRECT: &str = "https://rp.example/cb";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

struct Rp<'a> {
    server: &'a TestServer,
    http: reqwest::Client,
    secret: String,
}

fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

impl<'a> Rp<'a> {
    fn register(server: &'a TestServer, extra: &[&str]) -> Rp<'a> {
        let mut args = vec![
            "oidc-client",
            "add",
            "--client-id",
            "rp",
            "--name",
            "RP",
            "--redirect-uri",
            REDIRECT,
            "--entitlements",
            "login_hint",
            "--scopes",
            "openid,phone,offline_access",
            "--acr",
            "mid_al3_any,mid_al4_any",
        ];
        args.extend_from_slice(extra);
        let output = server.cli(&args);
        let secret = output.split("(shown only now): ").nth(1).expect("secret").trim().to_string();
        let http = server.relying_party_client();
        Rp { server, http, secret }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.browser_base)
    }

    fn params(&self, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut params: Vec<(String, String)> = [
            ("response_type", "code"),
            ("client_id", "rp"),
            ("redirect_uri", REDIRECT),
            ("scope", "openid offline_access"),
            ("state", "st4te"),
            ("nonce", "n0nce"),
            ("code_challenge_method", "S256"),
            ("login_hint", r#"{"hints":[{"msisdn":"+41700092501"}]}"#),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        params.push(("code_challenge".into(), challenge(VERIFIER)));
        for (name, value) in extra {
            params.retain(|(k, _)| k != name);
            if !value.is_empty() {
                params.push((name.to_string(), value.to_string()));
            }
        }
        params
    }

    /// POSTs a form with Basic client authentication; status and JSON.
    async fn post(&self, path: &str, form: &[(String, String)], secret: Option<&str>) -> (u16, Value) {
        let mut request = self.http.post(self.url(path)).form(form);
        if let Some(secret) = secret {
            request = request.basic_auth("rp", Some(secret));
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn par(&self, extra: &[(&str, &str)]) -> (u16, Value) {
        self.post("/oidc/par", &self.params(extra), Some(&self.secret)).await
    }

    /// GET with the login's cookie; the status and the Location.
    async fn get(&self, url: &str, cookie: Option<&str>) -> (u16, Option<String>, String) {
        let mut request = self.http.get(url);
        if let Some(cookie) = cookie {
            request = request.header("Cookie", cookie);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let headers: HeaderMap = response.headers().clone();
        let location = headers.get(LOCATION).and_then(|v| v.to_str().ok()).map(str::to_string);
        (status, location, response.text().await.unwrap_or_default())
    }

    /// PAR, then the browser's steps with the robot user, up to the redirect back.
    async fn login(&self, extra: &[(&str, &str)]) -> String {
        let (status, body) = self.par(extra).await;
        assert_eq!(status, 201, "{body}");
        let request_uri = body["request_uri"].as_str().expect("request_uri").to_string();
        self.authorize_with(&request_uri).await
    }

    async fn authorize_with(&self, request_uri: &str) -> String {
        let url = format!("{}?client_id=rp&request_uri={}", self.url("/oidc/authorize"), urlencode(request_uri));
        let response = self.http.get(url).send().await.expect("authorize");
        assert_eq!(response.status(), 303, "{}", response.text().await.unwrap_or_default());
        let cookie = response
            .headers()
            .get(SET_COOKIE)
            .and_then(|v| v.to_str().ok())
            .expect("cookie")
            .split(';')
            .next()
            .unwrap()
            .to_string();
        let login = response.headers().get(LOCATION).and_then(|v| v.to_str().ok()).expect("location").to_string();
        let (status, location, body) = self.get(&self.url(&login), Some(&cookie)).await;
        assert_eq!(status, 303, "{body}");
        location.expect("back to the client")
    }

    async fn token(&self, form: &[(&str, &str)], secret: Option<&str>) -> (u16, Value) {
        let form: Vec<(String, String)> = form.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        self.post("/oidc/token", &form, secret).await
    }

    /// Userinfo with an access token: the status and the claims.
    async fn userinfo(&self, token: &str) -> (u16, Value) {
        let response = self.http.get(self.url("/oidc/userinfo")).bearer_auth(token).send().await.expect("userinfo");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn redeem(&self, code: &str) -> (u16, Value) {
        self.token(
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", VERIFIER),
            ],
            Some(&self.secret.clone()),
        )
        .await
    }
}

fn urlencode(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn query(location: &str) -> HashMap<String, String> {
    let query = location.split_once('?').map(|(_, q)| q).unwrap_or_default();
    query.split('&').filter_map(|pair| pair.split_once('=')).map(|(k, v)| (k.to_string(), percent_decode(v))).collect()
}

fn percent_decode(value: &str) -> String {
    let bytes = value.replace('+', " ").into_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() + 1 {
            if let Ok(b) = u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The guide's code in an error description, e.g. `mid_req_1110`.
fn mid_code(description: &str) -> String {
    description.splitn(4, '_').take(3).collect::<Vec<_>>().join("_")
}

on_both_databases! {
    /// The robot logs in; the code works once, and its replay revokes the tokens it gave.
    async fn a_code_works_once_and_its_replay_revokes_the_grant(server) {
        let rp = Rp::register(server, &[]);
        let back = rp.login(&[]).await;
        let answer = query(&back);
        assert_eq!(answer["state"], "st4te");
        assert_eq!(answer["iss"], server.browser_base);
        let (status, tokens) = rp.redeem(&answer["code"]).await;
        assert_eq!(status, 200, "{tokens}");
        let access = tokens["access_token"].as_str().unwrap().to_string();
        let userinfo = |token: String| {
            let (http, url) = (rp.http.clone(), rp.url("/oidc/userinfo"));
            async move { http.get(url).bearer_auth(token).send().await.expect("userinfo").status().as_u16() }
        };
        assert_eq!(userinfo(access.clone()).await, 200);
        let (status, body) = rp.redeem(&answer["code"]).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
        assert_eq!(userinfo(access).await, 401, "the replay revoked the access token");
        let (status, body) = rp.token(&[("grant_type", "refresh_token"), ("refresh_token", tokens["refresh_token"].as_str().unwrap())], Some(&rp.secret)).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "and the refresh token: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_endpoint_refuses_what_it_must() {
    let server = TestServer::start(Backend::Sqlite).await;
    let rp = Rp::register(&server, &[]);
    let code = query(&rp.login(&[]).await)["code"].clone();
    let base = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    let with = |name: &str, value: &str| -> Vec<(String, String)> {
        base.iter().map(|(k, v)| (k.to_string(), if *k == name { value.to_string() } else { v.to_string() })).collect()
    };
    // Wrong credentials and a wrong verifier get their errors and spend nothing...
    let (status, body) = rp.post("/oidc/token", &with("code", &code), Some("wrong")).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")), "{body}");
    let (status, body) = rp.post("/oidc/token", &with("code", &code), None).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")), "{body}");
    // ...a wrong verifier or redirect URI is checked after the code is spent (single use).
    let (status, body) = rp.post("/oidc/token", &with("code_verifier", &"x".repeat(43)), Some(&rp.secret)).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    assert!(body["description"].as_str().unwrap().starts_with("mid_req_1900_"), "{body}");
    assert_eq!(body["errorCode"], body["error"]);
    let (status, body) = rp.redeem(&code).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    let (status, body) = rp.token(&[("grant_type", "password")], Some(&rp.secret)).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("unsupported_grant_type")), "{body}");
    // A JSON body is not a token request.
    let response = rp
        .http
        .post(rp.url("/oidc/token"))
        .basic_auth("rp", Some(&rp.secret))
        .json(&serde_json::json!({"grant_type": "authorization_code"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    // An assertion with alg none is no client authentication.
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#),
        URL_SAFE_NO_PAD.encode(br#"{"iss":"rp","sub":"rp","aud":"x","exp":9999999999,"jti":"1"}"#)
    );
    let form = vec![
        ("grant_type".to_string(), "refresh_token".to_string()),
        ("refresh_token".to_string(), "x".to_string()),
        ("client_id".to_string(), "rp".to_string()),
        ("client_assertion_type".to_string(), "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_string()),
        ("client_assertion".to_string(), none),
    ];
    let (status, body) = rp.post("/oidc/token", &form, None).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_requests_get_the_guide_s_codes() {
    let server = TestServer::start(Backend::Sqlite).await;
    let rp = Rp::register(&server, &[]);
    // PAR answers errors as JSON, with the guide's code.
    // (parameters changed, the OAuth error, the guide's code)
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);
    let cases: &[Case] = &[
        (&[("state", "")], "invalid_request", "mid_req_1900"),
        (&[("nonce", "")], "invalid_request", "mid_req_1900"),
        (&[("code_challenge", "")], "invalid_request", "mid_req_1900"),
        (&[("code_challenge_method", "plain")], "invalid_request", "mid_req_1900"),
        (&[("prompt", "login")], "unauthorized_client", "mid_sec_2030"),
        (&[("claims", "{}")], "unauthorized_client", "mid_sec_2030"),
        (&[("id_token_hint", "x")], "unauthorized_client", "mid_sec_2030"),
        (&[("max_age", "0")], "unauthorized_client", "mid_sec_2030"),
        (&[("scope", "openid email")], "invalid_scope", "mid_req_1110"),
        (&[("scope", "openid mid_cms")], "unauthorized_client", "mid_sec_2010"),
        (&[("acr_values", "mid_al3_any mid_al4_any")], "invalid_request", "mid_req_1010"),
        (&[("acr_values", "mid_al5")], "invalid_request", "mid_req_1020"),
        (&[("acr_values", "mid_al2_any")], "unauthorized_client", "mid_sec_2020"),
        (&[("ui_locales", "de fr")], "invalid_request", "mid_req_1030"),
        (&[("ui_locales", "es")], "invalid_request", "mid_req_1040"),
        (&[("login_hint", "{")], "invalid_request", "mid_req_1100"),
        (&[("login_hint", r#"{"hints":[]}"#)], "invalid_request", "mid_req_1050"),
        (&[("login_hint", r#"{"hints":[{"msisdn":"0"}]}"#)], "invalid_request", "mid_req_1070"),
        (
            &[("login_hint", r#"{"hints":[{"msisdn":"+41791234567"},{"msisdn":"41791234567"}]}"#)],
            "invalid_request",
            "mid_req_1080",
        ),
        (&[("login_hint", r#"{"hints":[{"msisdn":"+41791234567","sn":"x"}]}"#)], "invalid_request", "mid_req_1090"),
        (&[("login_hint", ""), ("acr_values", "mid_al4_any")], "invalid_request", "mid_req_1120"),
        (
            &[
                ("login_hint", r#"{"enableManualInput":true,"hints":[{"msisdn":"+41791234567"}]}"#),
                ("acr_values", "mid_al4_any"),
            ],
            "invalid_request",
            "mid_req_1060",
        ),
        (&[("dtbd", "Hi #CODE#")], "unauthorized_client", "mid_sec_2030"),
    ];
    for (extra, error, code) in cases {
        let (status, body) = rp.par(extra).await;
        assert_eq!(status, 400, "{extra:?}: {body}");
        assert_eq!(body["error"], *error, "{extra:?}: {body}");
        assert_eq!(mid_code(body["error_description"].as_str().unwrap()), *code, "{extra:?}: {body}");
        assert_eq!(body["description"], body["error_description"]);
    }
    // Wrong client credentials at PAR.
    let (status, body) = rp.post("/oidc/par", &rp.params(&[]), Some("wrong")).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")), "{body}");

    // The front channel: an unregistered redirect URI gets a page, not a redirect.
    let plain: Vec<(String, String)> = rp.params(&[("login_hint", "")]);
    let mut url = reqwest::Url::parse(&rp.url("/oidc/authorize")).unwrap();
    url.query_pairs_mut().extend_pairs(
        plain
            .iter()
            .map(|(k, v)| (k.as_str(), if k == "redirect_uri" { "https://evil.example/cb" } else { v.as_str() })),
    );
    let (status, location, page) = rp.get(url.as_str(), None).await;
    assert_eq!((status, location), (400, None));
    assert!(page.contains("mid_req_1900_"), "{page}");
    // A login_hint without PAR is refused back to the client.
    let mut url = reqwest::Url::parse(&rp.url("/oidc/authorize")).unwrap();
    url.query_pairs_mut().extend_pairs(rp.params(&[]).iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let (status, location, _) = rp.get(url.as_str(), None).await;
    assert_eq!(status, 303);
    let answer = query(&location.expect("redirect"));
    assert_eq!(
        (answer["error"].as_str(), mid_code(&answer["error_description"]).as_str()),
        ("unauthorized_client", "mid_sec_2030")
    );
    assert_eq!(answer["state"], "st4te");
    // No parameters at all.
    let (status, _, page) = rp.get(&rp.url("/oidc/authorize"), None).await;
    assert_eq!(status, 400);
    assert!(page.contains("mid_req_1130_"), "{page}");

    // A request_uri works once, and only for its client.
    let (_, body) = rp.par(&[]).await;
    let request_uri = body["request_uri"].as_str().unwrap().to_string();
    let first = rp.authorize_with(&request_uri).await;
    assert!(query(&first).contains_key("code"));
    let again = format!("{}?client_id=rp&request_uri={}", rp.url("/oidc/authorize"), urlencode(&request_uri));
    let (status, location, page) = rp.get(&again, None).await;
    assert_eq!((status, location), (400, None));
    assert!(page.contains("mid_req_1900_"), "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_names_only_working_endpoints_and_the_jwks_has_the_signing_key() {
    let server = TestServer::start(Backend::Sqlite).await;
    let rp = Rp::register(&server, &[]);
    let discovery: Value =
        rp.http.get(rp.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    assert_eq!(discovery["issuer"], server.browser_base);
    assert_eq!(discovery["code_challenge_methods_supported"], serde_json::json!(["S256"]));
    for (name, value) in discovery.as_object().unwrap() {
        if let Some(url) = value.as_str().filter(|_| name.ends_with("_endpoint") || name == "jwks_uri") {
            let status = rp.http.get(url).send().await.unwrap().status().as_u16();
            assert_ne!(status, 404, "{name} {url} must exist");
        }
    }
    // A token's key is in the JWKS.
    let code = query(&rp.login(&[]).await)["code"].clone();
    let (_, tokens) = rp.redeem(&code).await;
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD.decode(tokens["id_token"].as_str().unwrap().split('.').next().unwrap()).unwrap(),
    )
    .unwrap();
    assert_eq!(header["alg"], "RS256");
    let jwks: Value = rp.http.get(rp.url("/oidc/jwks")).send().await.unwrap().json().await.unwrap();
    assert!(jwks["keys"].as_array().unwrap().iter().any(|k| k["kid"] == header["kid"]), "{jwks}");
}

/// Number matching against push bombing: the phone offers three codes; picking one that
/// is not the page's ends the login with access_denied, and no code reaches the client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_pick_on_the_phone_ends_the_login() {
    let server = TestServer::start(Backend::Sqlite).await;
    let rp = Rp::register(&server, &[]);
    let mut phone = server.phone("+41791700001").await;
    let mut url = reqwest::Url::parse(&rp.url("/oidc/authorize")).unwrap();
    url.query_pairs_mut().extend_pairs(rp.params(&[("login_hint", "")]).iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let response = rp.http.get(url).send().await.unwrap();
    assert_eq!(response.status(), 303);
    let cookie = response.headers()[SET_COOKIE].to_str().unwrap().split(';').next().unwrap().to_string();
    let login = rp.url(response.headers()[LOCATION].to_str().unwrap());
    let (status, _, page) = rp.get(&login, Some(&cookie)).await;
    assert_eq!(status, 200);
    assert!(page.contains("name=\"number\""), "{page}");
    let response = rp
        .http
        .post(format!("{login}/number"))
        .header("Cookie", &cookie)
        .form(&[("country", "41"), ("number", "079 170 00 01")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let (status, _, page) = rp.get(&login, Some(&cookie)).await;
    assert_eq!(status, 200);
    let code = session_code_shown(&page);

    let request = next_request(&phone).await;
    let choices = request.choices.clone().expect("choices");
    assert!(choices.contains(&code));
    let wrong = choices.iter().find(|c| **c != code).unwrap().clone();
    let refused = phone.approve_choosing(&request, PIN, Some(&wrong)).await;
    assert!(matches!(refused, Err(mobileid_phone::PhoneError::Server { status: 400, .. })), "{refused:?}");
    // A phone that sends no pick at all is refused by the phone library before it asks the server.
    assert!(phone.approve(&request, PIN).await.is_err());

    let (status, location, _) = rp.get(&login, Some(&cookie)).await;
    assert_eq!(status, 303);
    let answer = query(&location.expect("back to the client"));
    assert_eq!(answer["error"], "access_denied");
    assert_eq!(mid_code(&answer["error_description"]), "mid_auth_3010");
    assert!(answer["error_description"].contains(&code), "TRACE is the session code: {answer:?}");
    assert!(!answer.contains_key("code"));
}

/// Revocation (RFC 7009) and introspection (RFC 7662), for the client's own tokens only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_and_introspection() {
    let server = TestServer::start(Backend::Sqlite).await;
    let rp = Rp::register(&server, &[]);
    let code = query(&rp.login(&[]).await)["code"].clone();
    let (_, tokens) = rp.redeem(&code).await;
    let access = tokens["access_token"].as_str().unwrap().to_string();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_string();
    let form = |token: &str| vec![("token".to_string(), token.to_string())];

    let (status, answer) = rp.post("/oidc/introspect", &form(&access), Some(&rp.secret)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["active"], true);
    assert_eq!(answer["client_id"], "rp");
    assert_eq!(answer["token_type"], "Bearer");
    assert_eq!(answer["scope"], "openid offline_access");
    let (_, answer) = rp.post("/oidc/introspect", &form("not-a-token"), Some(&rp.secret)).await;
    assert_eq!(answer, serde_json::json!({"active": false}));
    let (status, answer) = rp.post("/oidc/introspect", &form(&access), Some("wrong")).await;
    assert_eq!((status, answer["error"].as_str()), (401, Some("invalid_client")));

    // Another client can neither see nor revoke these tokens.
    let other =
        server.cli(&["oidc-client", "add", "--client-id", "other", "--name", "Other", "--redirect-uri", REDIRECT]);
    let other_secret = other.split("(shown only now): ").nth(1).unwrap().trim().to_string();
    let as_other = |path: &'static str, token: String| {
        let (http, url, secret) = (rp.http.clone(), rp.url(path), other_secret.clone());
        async move {
            let response =
                http.post(url).basic_auth("other", Some(secret)).form(&[("token", token)]).send().await.unwrap();
            (response.status().as_u16(), response.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    assert_eq!(as_other("/oidc/introspect", access.clone()).await.1, serde_json::json!({"active": false}));
    assert_eq!(as_other("/oidc/revoke", refresh.clone()).await.0, 200);
    assert_eq!(rp.post("/oidc/introspect", &form(&refresh), Some(&rp.secret)).await.1["active"], true, "still alive");

    // Revoking the refresh token ends the grant: the access token goes with it.
    let (status, _) = rp.post("/oidc/revoke", &form(&refresh), Some(&rp.secret)).await;
    assert_eq!(status, 200);
    assert_eq!(rp.post("/oidc/introspect", &form(&access), Some(&rp.secret)).await.1["active"], false);
    let (status, _) = rp.post("/oidc/revoke", &form(&refresh), Some(&rp.secret)).await;
    assert_eq!(status, 200, "revoking twice is not an error");
}

/// End-session (RP-Initiated Logout): back to a registered post-logout URI with the
/// state, for an ID token of ours only; otherwise our page, or an error page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_session() {
    let server = TestServer::start(Backend::Sqlite).await;
    let rp = Rp::register(&server, &["--post-logout-redirect-uri", "https://rp.example/bye"]);
    let code = query(&rp.login(&[]).await)["code"].clone();
    let (_, tokens) = rp.redeem(&code).await;
    let hint = tokens["id_token"].as_str().unwrap();
    let logout = |params: &[(&str, &str)]| {
        let mut url = reqwest::Url::parse(&rp.url("/oidc/logout")).unwrap();
        url.query_pairs_mut().extend_pairs(params);
        url.to_string()
    };
    let (status, location, _) = rp
        .get(
            &logout(&[
                ("id_token_hint", hint),
                ("post_logout_redirect_uri", "https://rp.example/bye"),
                ("state", "a b"),
            ]),
            None,
        )
        .await;
    assert_eq!((status, location.as_deref()), (303, Some("https://rp.example/bye?state=a+b")));
    // Not registered, or a token we did not sign: an error page, no redirect.
    let (status, location, page) =
        rp.get(&logout(&[("id_token_hint", hint), ("post_logout_redirect_uri", "https://evil.example/")]), None).await;
    assert_eq!((status, location), (400, None));
    assert!(page.contains("mid_req_1900_"), "{page}");
    let forged = foreign_id_token();
    let (status, location, _) = rp
        .get(&logout(&[("id_token_hint", &forged), ("post_logout_redirect_uri", "https://rp.example/bye")]), None)
        .await;
    assert_eq!((status, location), (400, None));
    // Nothing to go back to: our page, in the asked language.
    let (status, _, page) = rp.get(&logout(&[("ui_locales", "fr")]), None).await;
    assert_eq!(status, 200);
    assert!(page.contains("Vous êtes déconnecté"), "{page}");
}

/// An ID token for the client, signed by a key of the test's, not the provider's.
fn foreign_id_token() -> String {
    let key = mobileid_crypto::jose::SigningKey::generate(mobileid_crypto::jose::JwsAlgorithm::Es256).unwrap();
    key.sign_jwt(&serde_json::json!({"iss": "x", "aud": "rp", "sub": "s"}), None).unwrap()
}

/// Stateless nodes: each step of a login may reach another node on the same PostgreSQL
/// (PAR on one, authorize on the other, and so on), as behind a load balancer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_step_of_a_login_may_reach_another_node() {
    let mut node_a = TestServer::start(Backend::Postgres).await;
    let node_b = node_a.second_node(&format!("oidc_b_{}", std::process::id())).await;
    let rp = Rp::register(&node_a, &[]);
    let on_b = |path: &str| format!("{}{path}", node_b.browser_base);

    let (status, body) = rp.par(&[]).await;
    assert_eq!(status, 201, "PAR on A: {body}");
    let request_uri = body["request_uri"].as_str().unwrap();
    let response = rp
        .http
        .get(format!("{}?client_id=rp&request_uri={}", on_b("/oidc/authorize"), urlencode(request_uri)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303, "authorize on B");
    let cookie = response.headers()[SET_COOKIE].to_str().unwrap().split(';').next().unwrap().to_string();
    let login = response.headers()[LOCATION].to_str().unwrap().to_string();
    let (status, location, page) = rp.get(&rp.url(&login), Some(&cookie)).await;
    assert_eq!(status, 303, "the login page on A: {page}");
    let code = query(&location.unwrap())["code"].clone();

    let form = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>();
    let tokens: Value = rp
        .http
        .post(on_b("/oidc/token"))
        .basic_auth("rp", Some(&rp.secret))
        .form(&form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ]))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = tokens["access_token"].as_str().unwrap_or_else(|| panic!("token on B: {tokens}"));
    assert_eq!(rp.userinfo(access).await.0, 200, "userinfo on A");
    let refreshed = rp
        .http
        .post(on_b("/oidc/token"))
        .basic_auth("rp", Some(&rp.secret))
        .form(&form(&[("grant_type", "refresh_token"), ("refresh_token", tokens["refresh_token"].as_str().unwrap())]))
        .send()
        .await
        .unwrap();
    assert_eq!(refreshed.status(), 200, "refresh on B");
}

/// CIBA in poll mode: the phone shows the login text and the binding message; the client
/// polls (pending, then slow down when too fast) and gets tokens once; a declined login
/// is access_denied; and the request's errors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ciba_polling() {
    let server = TestServer::start(Backend::Sqlite).await;
    let rp = &Rp::register(&server, &["--entitlements", "ciba"]);
    let start = |params: &[(&str, &str)]| {
        let form: Vec<(String, String)> = params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        async move { rp.post("/oidc/ciba", &form, Some(&rp.secret)).await }
    };
    let poll = |id: String| async move {
        rp.token(&[("grant_type", "urn:openid:params:grant-type:ciba"), ("auth_req_id", &id)], Some(&rp.secret)).await
    };

    // The robot approves at once: the first poll gets the tokens, a second finds nothing.
    let (status, started) = start(&[("scope", "openid phone"), ("login_hint", "tel:+41700092501")]).await;
    assert_eq!(status, 200, "{started}");
    assert_eq!(started["interval"], 2);
    let id = started["auth_req_id"].as_str().unwrap().to_string();
    let (status, tokens) = poll(id.clone()).await;
    assert_eq!(status, 200, "{tokens}");
    let (_, userinfo) = rp.userinfo(tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(userinfo["phone_number"], "+41700092501");
    assert_eq!(poll(id).await.1["error"], "expired_token");

    // A phone: pending until the user approves, with the binding message on the phone.
    let mut phone = server.phone("+41791900001").await;
    let hint = r#"{"hints":[{"msisdn":"+41791900001"}]}"#;
    let (_, started) =
        start(&[("scope", "openid"), ("login_hint", hint), ("binding_message", "Order 4711"), ("ui_locales", "de")])
            .await;
    let id = started["auth_req_id"].as_str().unwrap().to_string();
    assert_eq!(poll(id.clone()).await.1["error"], "authorization_pending");
    assert_eq!(poll(id.clone()).await.1["error"], "slow_down", "polled again at once");
    let request = next_request(&phone).await;
    assert!(request.data.starts_with("Möchten Sie sich bei RP anmelden? Session-ID ist "), "{}", request.data);
    assert!(request.data.ends_with(" Order 4711"), "{}", request.data);
    assert_eq!(request.choices, None, "no page, so no number matching");
    phone.approve(&request, PIN).await.expect("approve");
    tokio::time::sleep(std::time::Duration::from_secs(2)).await; // the client's interval
    let (status, tokens) = poll(id).await;
    assert_eq!(status, 200, "{tokens}");
    assert!(tokens["id_token"].is_string());

    // Declined on the phone (another user: one push per user and minute): access_denied.
    let other = server.phone("+41791900002").await;
    let (_, started) = start(&[("scope", "openid"), ("login_hint", "tel:+41791900002")]).await;
    let request = next_request(&other).await;
    other.decline(&request).await.expect("decline");
    let (status, body) = poll(started["auth_req_id"].as_str().unwrap().to_string()).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("access_denied")), "{body}");
    assert_eq!(mid_code(body["error_description"].as_str().unwrap()), "mid_auth_3010");

    // The request's own errors.
    let long = "x".repeat(65);
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            vec![("scope", "openid"), ("login_hint", "tel:+41700092502"), ("binding_message", long.as_str())],
            "invalid_binding_message",
        ),
        (vec![("scope", "openid"), ("login_hint", "tel:+41799999999")], "unknown_user_id"),
        (vec![("scope", "openid"), ("login_hint", "tel:12")], "invalid_request"),
        (vec![("scope", "openid"), ("login_hint_token", "x")], "unauthorized_client"),
        (vec![("scope", "email"), ("login_hint", "tel:+41700092502")], "invalid_scope"),
    ];
    for (params, error) in &cases {
        let (status, body) = start(params).await;
        assert_eq!((status, body["error"].as_str()), (400, Some(*error)), "{params:?}: {body}");
    }
}

/// CIBA ping mode: when the phone has answered, the provider POSTs `{"auth_req_id"}` to the
/// client's notification endpoint with the client's bearer token; then the client fetches
/// the tokens once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ciba_ping() {
    let server = TestServer::start(Backend::Sqlite).await;
    // The client's notification endpoint: one plain-HTTP request, answered 204.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://127.0.0.1:{}/ping", listener.local_addr().unwrap().port());
    let received = tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = Vec::new();
        let mut buffer = [0u8; 4096];
        while !String::from_utf8_lossy(&request).contains("auth_req_id") {
            let n = socket.read(&mut buffer).await.unwrap();
            assert!(n > 0, "the ping ended early");
            request.extend_from_slice(&buffer[..n]);
        }
        socket.write_all(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n").await.unwrap();
        String::from_utf8(request).unwrap()
    });
    let rp = &Rp::register(&server, &["--entitlements", "ciba", "--ciba-notification-endpoint", &endpoint]);
    let mut phone = server.phone("+41791900003").await;
    let start = |params: Vec<(String, String)>| async move { rp.post("/oidc/ciba", &params, Some(&rp.secret)).await };
    let form = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>();

    let (status, body) = start(form(&[("scope", "openid"), ("login_hint", "tel:+41791900003")])).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")), "ping mode needs the token: {body}");
    let (status, started) = start(form(&[
        ("scope", "openid"),
        ("login_hint", "tel:+41791900003"),
        ("client_notification_token", "tok-123"),
    ]))
    .await;
    assert_eq!(status, 200, "{started}");
    let id = started["auth_req_id"].as_str().unwrap().to_string();
    approve_next(&mut phone).await;
    let ping =
        tokio::time::timeout(std::time::Duration::from_secs(10), received).await.expect("the ping came").unwrap();
    assert!(ping.starts_with("POST /ping "), "{ping}");
    assert!(ping.to_ascii_lowercase().contains("authorization: bearer tok-123"), "{ping}");
    assert!(ping.contains(&format!("{{\"auth_req_id\":\"{id}\"}}")), "{ping}");
    let (status, tokens) =
        rp.token(&[("grant_type", "urn:openid:params:grant-type:ciba"), ("auth_req_id", &id)], Some(&rp.secret)).await;
    assert_eq!(status, 200, "{tokens}");
}

/// The guide's test numbers fail with their Mobile ID error, mapped to the table's codes:
/// 401 USER_CANCEL is a rejection (3010), 404 NO_KEY_FOUND no method (3080), the others
/// failures for other reasons (3900). No phone is asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_test_numbers_fail_with_their_codes() {
    let server = TestServer::start(Backend::Sqlite).await;
    let rp = &Rp::register(&server, &["--entitlements", "ciba"]);
    for (number, code) in [
        ("+41000092401", "mid_auth_3010"),
        ("+41000092402", "mid_auth_3900"),
        ("+41000092403", "mid_auth_3900"),
        ("+41000092404", "mid_auth_3080"),
        ("+41000092406", "mid_auth_3900"),
    ] {
        // Through PAR and the browser's authorize: back to the client with the error.
        let hint = format!(r#"{{"hints":[{{"msisdn":"{number}"}}]}}"#);
        let (status, body) = rp.par(&[("login_hint", &hint)]).await;
        assert_eq!(status, 201, "{body}");
        let url = format!(
            "{}?client_id=rp&request_uri={}",
            rp.url("/oidc/authorize"),
            urlencode(body["request_uri"].as_str().unwrap())
        );
        let (status, location, _) = rp.get(&url, None).await;
        assert_eq!(status, 303, "{number}");
        let answer = query(&location.expect("back to the client"));
        assert_eq!(
            (answer["error"].as_str(), mid_code(&answer["error_description"]).as_str()),
            ("access_denied", code),
            "{number}"
        );
        // Through CIBA: the same code at once.
        let form =
            vec![("scope".to_string(), "openid".to_string()), ("login_hint".to_string(), format!("tel:{number}"))];
        let (status, body) = rp.post("/oidc/ciba", &form, Some(&rp.secret)).await;
        assert_eq!(
            (status, mid_code(body["error_description"].as_str().unwrap_or_default()).as_str()),
            (400, code),
            "{number}: {body}"
        );
    }
}

/// Geofencing for the `_ch` classes: a phone that reports Switzerland with enough
/// confidence and accuracy logs in (amr has mid_geo, userinfo the mid_location claims);
/// one abroad, or one that reports nothing, gets mid_auth_3040.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ch_classes_check_where_the_phone_is() {
    use mobileid_core::device_api::DeviceLocation;
    let server = TestServer::start(Backend::Sqlite).await;
    let rp = &Rp::register(&server, &["--acr", "mid_al3_any_ch", "--scopes", "openid,mid_location,offline_access"]);
    let here = |country: &str, accuracy: f64| DeviceLocation {
        country: country.into(),
        accuracy,
        device_confidence: 0.9,
        location_confidence: 0.8,
    };
    let cases = [
        ("+41792000001", Some(here("CH", 20.0)), None),
        ("+41792000002", Some(here("DE", 20.0)), Some("mid_auth_3040")),
        ("+41792000003", Some(here("CH", 800.0)), Some("mid_auth_3040")),
        ("+41792000004", None, Some("mid_auth_3040")),
    ];
    for (number, location, refused) in cases {
        let mut phone = server.phone(number).await;
        phone.set_location(location);
        let extra =
            [("login_hint", ""), ("scope", "openid mid_location offline_access"), ("acr_values", "mid_al3_any_ch")];
        let mut url = reqwest::Url::parse(&rp.url("/oidc/authorize")).unwrap();
        url.query_pairs_mut().extend_pairs(rp.params(&extra).iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let response = rp.http.get(url).send().await.unwrap();
        let cookie = response.headers()[SET_COOKIE].to_str().unwrap().split(';').next().unwrap().to_string();
        let login = rp.url(response.headers()[LOCATION].to_str().unwrap());
        let national = number.trim_start_matches("+41").to_string();
        rp.http
            .post(format!("{login}/number"))
            .header("Cookie", &cookie)
            .form(&[("country", "41"), ("number", national.as_str())])
            .send()
            .await
            .unwrap();
        let (_, _, page) = rp.get(&login, Some(&cookie)).await;
        let code = session_code_shown(&page);
        let request = next_request(&phone).await;
        phone.approve_choosing(&request, PIN, Some(&code)).await.expect("approve");
        let (status, location, page) = rp.get(&login, Some(&cookie)).await;
        match refused {
            Some(expected) => {
                assert_eq!(status, 303, "{number}: {page}");
                let answer = query(&location.unwrap());
                assert_eq!(mid_code(&answer["error_description"]), expected, "{number}");
            }
            None => {
                assert_eq!(status, 200, "the consent page: {page}");
                let code = query(&confirm_consent(&rp.http, &login, &cookie).await)["code"].clone();
                let (status, tokens) = rp.redeem(&code).await;
                assert_eq!(status, 200, "{tokens}");
                let claims: Value = serde_json::from_slice(
                    &URL_SAFE_NO_PAD.decode(tokens["id_token"].as_str().unwrap().split('.').nth(1).unwrap()).unwrap(),
                )
                .unwrap();
                assert_eq!(claims["acr"], "mid_al3_any_ch");
                assert_eq!(claims["amr"], serde_json::json!(["mid_app", "mid_hwk", "mid_geo"]));
                let (_, userinfo) = rp.userinfo(tokens["access_token"].as_str().unwrap()).await;
                assert_eq!(userinfo["mid_geo_country"], "CH");
                assert_eq!(userinfo["mid_geo_accuracy"], 20.0);
                assert_eq!(userinfo["mid_geo_device_confidence"], 0.9);
                assert!(userinfo["mid_geo_timestamp"].is_string(), "{userinfo}");
            }
        }
    }
}
