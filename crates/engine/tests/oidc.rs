//! The OpenID provider's lifetimes and key rotation, with a manual clock: codes, access
//! tokens and pushed requests expire, logins are limited to one push per user and
//! minute, and a rotated key is published before it signs. Logins use the robot test
//! user, which approves at once.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use mobileid_crypto::MasterKey;
use mobileid_engine::oidc::client::{AuthMethod, ClientSettings, Entitlement, OidcClient};
use mobileid_engine::oidc::error::{MidCode, OAuthError};
use mobileid_engine::oidc::login::{session_code, Progress};
use mobileid_engine::oidc::request;
use mobileid_engine::oidc::tokens::TokenResponse;
use mobileid_engine::oidc::vocabulary::{Acr, Scope};
use mobileid_engine::{Engine, EngineConfig, ManualClock};
use mobileid_store::Store;
use serde_json::{json, Value};

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const REDIRECT: &str = "https://rp.example/cb";
const ROBOT: &str = "+41700092501";

struct Provider {
    engine: Engine,
    clock: Arc<ManualClock>,
    client: OidcClient,
    _dir: tempfile::TempDir,
}

async fn provider() -> Provider {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("oidc.db").display());
    let store = Store::connect(&url).await.expect("store");
    let clock = Arc::new(ManualClock::starting_now());
    let engine = Engine::start_with_clock(store, MasterKey::generate(), EngineConfig::default(), clock.clone())
        .await
        .expect("engine");
    engine.enable_test_numbers().await.expect("test numbers");
    let settings = ClientSettings {
        name: "RP".into(),
        redirect_uris: vec![REDIRECT.into()],
        auth_method: AuthMethod::ClientSecretBasic,
        jwks: vec![],
        allowed_acrs: vec![Acr::Al3Any],
        default_acr: Acr::Al3Any,
        scopes: vec![Scope::Openid, Scope::Profile, Scope::Phone, Scope::OfflineAccess],
        entitlements: vec![Entitlement::LoginHint],
        userinfo_signed: false,
        id_token_alg: "RS256".into(),
        number_matching: true,
        require_nonce: true,
        post_logout_redirect_uris: vec![],
        ciba_notification_endpoint: None,
    };
    engine.register_oidc_client("rp", settings).await.expect("client");
    let client = engine.oidc_client("rp").await.expect("read").expect("client");
    Provider { engine, clock, client, _dir: dir }
}

fn params(msisdn: &str) -> HashMap<String, String> {
    let hint = format!(r#"{{"hints":[{{"msisdn":"{msisdn}"}}]}}"#);
    [
        ("response_type", "code"),
        ("client_id", "rp"),
        ("redirect_uri", REDIRECT),
        ("scope", "openid phone offline_access"),
        ("state", "s"),
        ("nonce", "n"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
        ("login_hint", hint.as_str()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

impl Provider {
    /// A login of the robot up to its code, or the error that ended it.
    async fn code(&self) -> Result<String, MidCode> {
        let trace = session_code();
        let request = request::check(&self.client, &params(ROBOT), true, &trace).expect("a good request");
        let (mut login, _cookie) =
            self.engine.oidc_begin_login(&self.client, request, trace).await.map_err(|e| e.code)?;
        assert_eq!(self.engine.oidc_progress(&mut login).await, Progress::Approved);
        self.engine.oidc_consent(&mut login, true).await.map_err(|e| e.code)
    }

    async fn tokens(&self) -> TokenResponse {
        let code = self.code().await.expect("code");
        self.engine.oidc_redeem_code(&self.client, &code, Some(REDIRECT), Some(VERIFIER)).await.expect("tokens")
    }

    fn next_minute(&self) {
        self.clock.advance(Duration::from_secs(60));
    }
}

fn kid(jwt: &str) -> String {
    let header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(jwt.split('.').next().unwrap()).unwrap()).unwrap();
    header["kid"].as_str().unwrap().to_string()
}

async fn published(engine: &Engine) -> Vec<String> {
    let jwks: Value = serde_json::from_slice(&engine.oidc_jwks().await.expect("jwks")).expect("JSON");
    jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn the_name_claims_come_only_from_a_verified_identity() {
    let p = provider().await;
    let userinfo = |scope: &'static str| {
        let p = &p;
        async move {
            let mut asked = params(ROBOT);
            asked.insert("scope".into(), scope.into());
            let trace = session_code();
            let request = request::check(&p.client, &asked, true, &trace).expect("a good request");
            let (mut login, _) = p.engine.oidc_begin_login(&p.client, request, trace).await.expect("login");
            assert_eq!(p.engine.oidc_progress(&mut login).await, Progress::Approved);
            let code = p.engine.oidc_consent(&mut login, true).await.expect("code");
            let tokens =
                p.engine.oidc_redeem_code(&p.client, &code, Some(REDIRECT), Some(VERIFIER)).await.expect("tokens");
            p.engine.oidc_userinfo(&tokens.access_token).await.expect("userinfo").1
        }
    };
    let unverified = userinfo("openid profile").await;
    assert!(unverified.get("name").is_some() && unverified.get("given_name").is_none(), "{unverified}");
    p.engine.verify_identity(ROBOT, "Anna Maria", "Eriksson").await.expect("verified");
    p.next_minute();
    let verified = userinfo("openid profile").await;
    assert_eq!((&verified["given_name"], &verified["family_name"]), (&json!("Anna Maria"), &json!("Eriksson")));
    p.next_minute();
    assert!(userinfo("openid phone").await.get("given_name").is_none(), "only with the profile scope");
}

#[tokio::test]
async fn codes_and_access_tokens_expire() {
    let p = provider().await;
    let code = p.code().await.expect("code");
    p.clock.advance(Duration::from_secs(121));
    let late = p.engine.oidc_redeem_code(&p.client, &code, Some(REDIRECT), Some(VERIFIER)).await.unwrap_err();
    assert_eq!(late.error, OAuthError::InvalidGrant);

    p.next_minute();
    let tokens = p.tokens().await;
    assert!(p.engine.oidc_userinfo(&tokens.access_token).await.is_ok());
    p.clock.advance(Duration::from_secs(3600));
    let expired = p.engine.oidc_userinfo(&tokens.access_token).await.unwrap_err();
    assert_eq!(expired.error, OAuthError::InvalidToken);
    // The refresh token outlives it, and gives a new access token.
    let refreshed =
        p.engine.oidc_refresh(&p.client, tokens.refresh_token.as_deref().unwrap(), None).await.expect("refresh");
    assert!(p.engine.oidc_userinfo(&refreshed.access_token).await.is_ok());
}

#[tokio::test]
async fn a_pushed_request_is_good_for_sixty_seconds() {
    let p = provider().await;
    let (uri, expires_in) = p.engine.oidc_push_request(&p.client, params(ROBOT)).await.expect("PAR");
    assert_eq!(expires_in, 60);
    p.clock.advance(Duration::from_secs(60));
    let error = p.engine.oidc_pushed_request("rp", &uri).await.unwrap_err();
    assert_eq!(error.error, OAuthError::InvalidRequestUri);
    let (uri, _) = p.engine.oidc_push_request(&p.client, params(ROBOT)).await.expect("PAR");
    assert_eq!(
        p.engine.oidc_pushed_request("other", &uri).await.unwrap_err().error,
        OAuthError::InvalidRequestUri,
        "bound to its client"
    );
}

#[tokio::test]
async fn expired_objects_are_purged_in_batches_and_live_ones_stay() {
    let p = provider().await;
    let tokens = p.tokens().await;
    // More pushed requests than one batch deletes, to expire; then one that lives on.
    for _ in 0..=mobileid_engine::PURGE_BATCH {
        p.engine.oidc_push_request(&p.client, params(ROBOT)).await.expect("PAR");
    }
    // Past every short lifetime: the login's ten minutes, its code's two, the push
    // guard's minute and the requests' sixty seconds; not the grant's.
    p.clock.advance(Duration::from_secs(601));
    let (live, _) = p.engine.oidc_push_request(&p.client, params(ROBOT)).await.expect("PAR");
    let purged = p.engine.purge_expired_oidc_objects().await.expect("purge");
    let batch = mobileid_engine::PURGE_BATCH.unsigned_abs();
    assert_eq!(purged, batch + 1 + 3, "the pushed requests, the login, its push guard and its code");
    assert_eq!(p.engine.purge_expired_oidc_objects().await.expect("purge"), 0);
    assert!(p.engine.oidc_pushed_request("rp", &live).await.is_ok(), "the live request stays");
    let refreshed = p
        .engine
        .oidc_refresh(&p.client, tokens.refresh_token.as_deref().unwrap(), None)
        .await
        .expect("the grant stays");
    assert!(p.engine.oidc_userinfo(&refreshed.access_token).await.is_ok());
}

#[tokio::test]
async fn one_login_push_per_user_and_minute() {
    let p = provider().await;
    p.code().await.expect("the first push");
    assert_eq!(p.code().await.unwrap_err(), MidCode::AuthFailed, "a second push in the same minute");
    p.next_minute();
    p.code().await.expect("a push in the next minute");
}

#[tokio::test]
async fn a_rotated_key_is_published_an_hour_before_it_signs_and_the_old_one_stays_until_its_tokens_expire() {
    let p = provider().await;
    let first = kid(&p.tokens().await.id_token);
    assert_eq!(published(&p.engine).await, std::slice::from_ref(&first));

    let added = p.engine.rotate_oidc_keys().await.expect("rotate");
    assert_eq!(added.len(), 1);
    let second = added[0].clone();
    let mut both = published(&p.engine).await;
    both.sort();
    let mut expected = vec![first.clone(), second.clone()];
    expected.sort();
    assert_eq!(both, expected, "published at once");
    p.next_minute();
    assert_eq!(kid(&p.tokens().await.id_token), first, "the old key signs for an hour");

    p.clock.advance(Duration::from_secs(3600));
    assert_eq!(kid(&p.tokens().await.id_token), second, "then the new one");
    assert_eq!(published(&p.engine).await.len(), 2, "the old one stays while its tokens live");
    p.clock.advance(Duration::from_secs(3600));
    assert_eq!(published(&p.engine).await, [second], "and then goes");
}
