//! The ways a client may be registered: each token-endpoint authentication method, ID
//! tokens signed with ES256 or EdDSA, and userinfo as a signed JWT. Logins use the robot
//! test user through PAR, so no browser or phone is needed.

mod support;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use mobileid_crypto::jose::{verify_jwt, JwsAlgorithm, SigningKey};
use reqwest::header::{LOCATION, SET_COOKIE};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use support::*;

const REDIRECT: &str = "https://rp.example/cb";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

/// How the test client proves itself.
enum Auth {
    Basic(String),
    Post(String),
    Jwt(SigningKey),
}

struct Client<'a> {
    server: &'a TestServer,
    id: String,
    auth: Auth,
    http: reqwest::Client,
}

impl<'a> Client<'a> {
    fn register(server: &'a TestServer, id: &str, extra: &[&str], key: Option<SigningKey>) -> Client<'a> {
        let mut args = vec![
            "oidc-client",
            "add",
            "--client-id",
            id,
            "--name",
            "RP",
            "--redirect-uri",
            REDIRECT,
            "--entitlements",
            "login_hint",
            "--scopes",
            "openid,phone,mid_profile,mid_esign_basic",
        ];
        args.extend_from_slice(extra);
        let jwks_file = key.as_ref().map(|key| {
            let path = server.data_dir.path().join(format!("{id}-jwks.json"));
            std::fs::write(&path, json!({"keys": [key.public_jwk()]}).to_string()).expect("jwks file");
            path
        });
        let jwks_path = jwks_file.as_ref().map(|p| p.to_str().unwrap().to_string());
        if let Some(path) = &jwks_path {
            args.extend_from_slice(&["--auth-method", "private_key_jwt", "--jwks", path]);
        }
        let output = server.cli(&args);
        let secret = output.split("(shown only now): ").nth(1).map(|s| s.trim().to_string());
        let auth = match (key, secret) {
            (Some(key), _) => Auth::Jwt(key),
            (None, Some(secret)) if extra.contains(&"client_secret_post") => Auth::Post(secret),
            (None, Some(secret)) => Auth::Basic(secret),
            (None, None) => panic!("no secret in {output}"),
        };
        let http = server.relying_party_client();
        Client { server, id: id.to_string(), auth, http }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.browser_base)
    }

    /// A back-channel POST with this client's authentication.
    async fn post(&self, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
        let mut form: Vec<(String, String)> = form.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let mut request = self.http.post(self.url(path));
        match &self.auth {
            Auth::Basic(secret) => request = request.basic_auth(&self.id, Some(secret)),
            Auth::Post(secret) => {
                form.push(("client_id".into(), self.id.clone()));
                form.push(("client_secret".into(), secret.clone()));
            }
            Auth::Jwt(key) => {
                let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
                let claims = json!({"iss": self.id, "sub": self.id, "aud": self.url(path), "exp": now + 60,
                    "iat": now, "jti": URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>())});
                form.push(("client_id".into(), self.id.clone()));
                form.push((
                    "client_assertion_type".into(),
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
                ));
                form.push(("client_assertion".into(), key.sign_jwt(&claims, None).expect("assertion")));
            }
        }
        let response = request.form(&form).send().await.expect("request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// PAR, the login of `msisdn` (a robot, or a phone that approves), and the code
    /// exchange: the token response.
    async fn login(&self, msisdn: &str, phone: Option<&mut mobileid_phone::Phone>) -> Value {
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(VERIFIER.as_bytes()));
        let hint = format!(r#"{{"hints":[{{"msisdn":"{msisdn}"}}]}}"#);
        let hint = hint.as_str();
        let (status, par) = self
            .post(
                "/oidc/par",
                &[
                    ("response_type", "code"),
                    ("redirect_uri", REDIRECT),
                    ("scope", "openid phone mid_profile mid_esign_basic"),
                    ("state", "s"),
                    ("nonce", "n"),
                    ("code_challenge", &challenge),
                    ("code_challenge_method", "S256"),
                    ("login_hint", hint),
                ],
            )
            .await;
        assert_eq!(status, 201, "{par}");
        let mut authorize = reqwest::Url::parse(&self.url("/oidc/authorize")).unwrap();
        authorize
            .query_pairs_mut()
            .append_pair("client_id", &self.id)
            .append_pair("request_uri", par["request_uri"].as_str().unwrap());
        let response = self.http.get(authorize).send().await.expect("authorize");
        let cookie = response.headers()[SET_COOKIE].to_str().unwrap().split(';').next().unwrap().to_string();
        let login = self.url(response.headers()[LOCATION].to_str().unwrap());
        let mut page = self.http.get(&login).header("Cookie", &cookie).send().await.unwrap().text().await.unwrap();
        if let Some(phone) = phone {
            // The phone got the login at once (one hinted number); the user picks the
            // session code the waiting page shows.
            let code = session_code_shown(&page);
            let request = next_request(phone).await;
            phone.approve_choosing(&request, PIN, Some(&code)).await.expect("approve");
            page = self.http.get(&login).header("Cookie", &cookie).send().await.unwrap().text().await.unwrap();
        }
        assert!(page.contains("claims"), "{page}");
        let location = confirm_consent(&self.http, &login, &cookie).await;
        let code = reqwest::Url::parse(&location)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned())
            .expect("code");
        let (status, tokens) = self
            .post(
                "/oidc/token",
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", REDIRECT),
                    ("code_verifier", VERIFIER),
                ],
            )
            .await;
        assert_eq!(status, 200, "{tokens}");
        tokens
    }

    async fn jwks(&self) -> Vec<Value> {
        let jwks: Value = self.http.get(self.url("/oidc/jwks")).send().await.unwrap().json().await.unwrap();
        jwks["keys"].as_array().unwrap().clone()
    }
}

fn header(jwt: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(jwt.split('.').next().unwrap()).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_authentication_method_and_signing_algorithm() {
    let server = TestServer::start(Backend::Sqlite).await;
    let cases = [
        (Client::register(&server, "basic", &[], None), "RS256"),
        (
            Client::register(
                &server,
                "post",
                &["--auth-method", "client_secret_post", "--id-token-alg", "ES256"],
                None,
            ),
            "ES256",
        ),
        (
            Client::register(
                &server,
                "jwt",
                &["--id-token-alg", "EdDSA"],
                Some(SigningKey::generate(JwsAlgorithm::Es256).unwrap()),
            ),
            "EdDSA",
        ),
    ];
    let mut phone = server.phone("+41791800001").await;
    let logins: [(&str, Option<&mut mobileid_phone::Phone>); 3] =
        [("+41700092501", None), ("+41700092502", None), ("+41791800001", Some(&mut phone))];
    for ((client, alg), (msisdn, phone)) in cases.iter().zip(logins) {
        let tokens = client.login(msisdn, phone).await;
        let id_token = tokens["id_token"].as_str().unwrap();
        assert_eq!(header(id_token)["alg"], *alg, "{}", client.id);
        let claims = verify_jwt(id_token, &client.jwks().await, &[JwsAlgorithm::parse(alg).unwrap()])
            .expect("verifies with the JWKS");
        assert_eq!(claims["aud"], client.id.as_str());
        // The same credentials work at introspection.
        let (status, answer) =
            client.post("/oidc/introspect", &[("token", tokens["access_token"].as_str().unwrap())]).await;
        assert_eq!((status, answer["active"].as_bool()), (200, Some(true)), "{answer}");
    }
    // A private_key_jwt assertion is single use (its jti), and one signed by another key fails.
    let Auth::Jwt(key) = &cases[2].0.auth else { unreachable!() };
    let now = chrono_seconds();
    let assertion = key
        .sign_jwt(&json!({"iss": "jwt", "sub": "jwt", "aud": cases[2].0.url("/oidc/introspect"), "exp": now + 60, "jti": "once"}), None)
        .unwrap();
    let form = |assertion: &str| {
        vec![
            ("token", "x".to_string()),
            ("client_id", "jwt".to_string()),
            ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_string()),
            ("client_assertion", assertion.to_string()),
        ]
    };
    let send = |assertion: String| {
        let (http, url) = (cases[2].0.http.clone(), cases[2].0.url("/oidc/introspect"));
        async move { http.post(url).form(&form(&assertion)).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(send(assertion.clone()).await, 200);
    assert_eq!(send(assertion).await, 401, "a replayed assertion");
    let stranger = SigningKey::generate(JwsAlgorithm::Es256).unwrap();
    let forged = stranger.sign_jwt(&json!({"iss": "jwt", "sub": "jwt", "aud": cases[2].0.url("/oidc/introspect"), "exp": now + 60, "jti": "other"}), None).unwrap();
    assert_eq!(send(forged).await, 401, "signed by a key the client did not register");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn userinfo_as_a_signed_jwt() {
    let server = TestServer::start(Backend::Sqlite).await;
    let client = Client::register(&server, "signed", &["--userinfo-signed"], None);
    let tokens = client.login("+41700092501", None).await;
    let response = client
        .http
        .post(client.url("/oidc/userinfo"))
        .form(&[("access_token", tokens["access_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/jwt");
    let jwt = response.text().await.unwrap();
    let claims = verify_jwt(&jwt, &client.jwks().await, &[JwsAlgorithm::Rs256]).expect("signed by the provider");
    assert_eq!(claims["iss"], server.browser_base.as_str());
    assert_eq!(claims["aud"], "signed");
    assert_eq!(claims["phone_number"], "+41700092501");
    let serial = claims["mid_profile_serial"].as_str().unwrap();
    assert!(serial.starts_with("MIDCHE"));
    // The robot has a SIM, and no recovery codes.
    assert_eq!(
        claims["mid_profile_sscds"],
        serde_json::json!({"Sim": {"State": "ACTIVE", "PinStatus": {"Blocked": false}}})
    );
    assert_eq!(claims["mid_profile_recovery_code_status"], false);
    // The evidence of the login's signature: the robot's SIM signed the login text.
    let esign = &claims["mid_esign_basic_content"];
    assert_eq!(esign["serial_number"], serial);
    assert_eq!(esign["phone_number"], "+41700092501");
    assert_eq!(esign["method"], "mid_sim");
    assert!(esign["signing_time"].as_str().unwrap().starts_with("20"), "{esign}");
    let cms = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, esign["cms"].as_str().unwrap())
        .expect("base64 CMS");
    assert_eq!(cms[0], 0x30, "a DER SEQUENCE");
}

fn chrono_seconds() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}
