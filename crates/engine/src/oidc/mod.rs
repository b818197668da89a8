//! The OpenID Provider service (OpenID Connect Core with PAR and PKCE, as the Mobile ID
//! integration guide and docs/ decisions describe): a login is a transaction of the core,
//! shown on the user's phone; the rest is the provider's own rules and its objects in the
//! store, so that any node answers any step.
//!
//! - [`client`]: registered relying parties; [`keys`]: the signing keys and their rotation;
//! - [`request`]: authorization requests and the guide's error for each wrong parameter;
//! - [`login`]: number, phone, outcome, consent; [`tokens`]: codes, grants, tokens,
//!   ID tokens and userinfo;
//! - [`error`]: OAuth errors with the guide's `mid_<cat>_<code>_<TRACE>` codes.

mod bearer;
pub mod ciba;
pub mod client;
pub mod error;
pub mod keys;
pub mod login;
pub mod request;
pub mod tokens;
pub mod vocabulary;

use std::collections::HashMap;
use std::time::Duration;

use mobileid_crypto::jose::{verify_jwt, JwsAlgorithm};
use mobileid_store::{Consumed, OidcObject};
use rand::RngCore;
use serde_json::{json, Value};

use self::client::{AuthMethod, OidcClient};
use self::error::{MidCode, OAuthError, OidcError};
use self::vocabulary::{Acr, Scope};
use crate::{Engine, EngineError};

pub(crate) const KIND_PAR: &str = "par";
pub(crate) const KIND_LOGIN: &str = "login";
pub(crate) const KIND_PUSH: &str = "push";
pub(crate) const KIND_CODE: &str = "code";
pub(crate) const KIND_GRANT: &str = "grant";
const KIND_ASSERTION: &str = "assertion";

/// The provider's settings; the server fills them from its configuration.
#[derive(Debug, Clone)]
pub struct OidcConfig {
    /// The issuer: the browser port's public URL.
    pub issuer: String,
    /// Allow `http://localhost` redirect URIs (demo mode; the guide forbids them).
    pub local_http_redirects: bool,
    pub code_ttl: Duration,
    pub access_ttl: Duration,
    pub id_token_ttl: Duration,
    pub refresh_ttl: Duration,
    pub par_ttl: Duration,
}

impl Default for OidcConfig {
    fn default() -> Self {
        OidcConfig {
            issuer: "https://localhost:8444".into(),
            local_http_redirects: false,
            code_ttl: Duration::from_secs(120),
            access_ttl: Duration::from_secs(3600),
            id_token_ttl: Duration::from_secs(3600),
            refresh_ttl: Duration::from_secs(30 * 24 * 3600),
            par_ttl: Duration::from_secs(60),
        }
    }
}

/// Paths of the endpoints under the issuer.
pub mod paths {
    pub const DISCOVERY: &str = "/.well-known/openid-configuration";
    pub const JWKS: &str = "/oidc/jwks";
    pub const AUTHORIZE: &str = "/oidc/authorize";
    pub const PAR: &str = "/oidc/par";
    pub const TOKEN: &str = "/oidc/token";
    pub const USERINFO: &str = "/oidc/userinfo";
    pub const REVOCATION: &str = "/oidc/revoke";
    pub const INTROSPECTION: &str = "/oidc/introspect";
    pub const END_SESSION: &str = "/oidc/logout";
    pub const CIBA: &str = "/oidc/ciba";
}

/// 32 random bytes, base64url: codes, tokens, login ids, cookies.
pub(crate) fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, bytes)
}

impl Engine {
    /// An id for a new stored object: its creation time (milliseconds, hex), then 32
    /// random bytes. As unguessable as a random token, and in time order, so that a busy
    /// node's inserts append to the key's index instead of each dirtying a page of it at
    /// random (every such page is written to the WAL at commit).
    pub(crate) fn object_id(&self) -> String {
        format!("{:012x}{}", self.now().as_millis().max(0), random_token())
    }

    /// Deletes the stored objects (logins, PAR requests, codes, CIBA requests, grants)
    /// that have expired. Every look-up already treats an expired object as none, so
    /// nothing visible changes; without this they stayed forever, and anyone who can
    /// open the login page could grow the database. In batches (`crate::purge`).
    /// Returns how many went.
    pub async fn purge_expired_oidc_objects(&self) -> Result<u64, EngineError> {
        let now = self.now();
        Ok(crate::purge::in_batches(|limit| self.store().purge_oidc_objects(now, limit)).await?)
    }
}

/// The guide's default login text for the phone, with `#CLIENT#` and `#CODE#`.
pub fn login_text(lang: &str) -> String {
    match lang {
        "de" => "Möchten Sie sich bei #CLIENT# anmelden? Session-ID ist #CODE#",
        "fr" => "Voulez-vous vous connecter à #CLIENT# ? Session-ID est #CODE#",
        "it" => "Vuoi accedere a #CLIENT#? Session-ID è #CODE#",
        _ => "Do you want to login to #CLIENT#? Session-ID is #CODE#",
    }
    .to_string()
}

/// How a client presented itself at a back-channel endpoint.
#[derive(Clone)]
pub enum ClientCredentials {
    /// `Authorization: Basic` (client_secret_basic).
    Basic { client_id: String, secret: String },
    /// `client_id` and `client_secret` in the form (client_secret_post).
    Post { client_id: String, secret: String },
    /// `client_assertion` (private_key_jwt), with the form's `client_id` if it sent one.
    Assertion { client_id: Option<String>, assertion: String },
    /// Nothing we accept.
    None,
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientCredentials(..)")
    }
}

impl Engine {
    /// The issuer: the configured one, or the one the server learnt when it bound its port.
    pub fn oidc_issuer(&self) -> &str {
        self.inner.oidc_issuer.get().map(String::as_str).unwrap_or(&self.config().oidc.issuer)
    }

    /// Sets the issuer once, for a server whose browser port was chosen at bind time.
    pub fn set_oidc_issuer(&self, issuer: String) {
        let _ = self.inner.oidc_issuer.set(issuer);
    }

    /// The client behind the credentials, if they are right and of its registered method.
    pub async fn oidc_authenticate_client(
        &self,
        credentials: &ClientCredentials,
        endpoint: &str,
    ) -> Result<OidcClient, OidcError> {
        let trace = login::session_code();
        let refused = |why: &str| {
            OidcError::new(MidCode::InvalidClientRequest, &trace, why).with_error(OAuthError::InvalidClient)
        };
        let (client_id, method) = match credentials {
            ClientCredentials::Basic { client_id, .. } => (client_id.clone(), AuthMethod::ClientSecretBasic),
            ClientCredentials::Post { client_id, .. } => (client_id.clone(), AuthMethod::ClientSecretPost),
            ClientCredentials::Assertion { client_id, assertion } => {
                let claimed = client_id
                    .clone()
                    .or_else(|| unverified_issuer(assertion))
                    .ok_or_else(|| refused("client_assertion names no client"))?;
                (claimed, AuthMethod::PrivateKeyJwt)
            }
            ClientCredentials::None => return Err(refused("client authentication is required")),
        };
        let client = self
            .oidc_client(&client_id)
            .await
            .map_err(|e| self.oidc_internal(&trace, e))?
            .ok_or_else(|| refused("unknown client"))?;
        if client.settings.auth_method != method {
            return Err(refused(&format!("this client authenticates with {}", client.settings.auth_method.token())));
        }
        let good = match credentials {
            ClientCredentials::Basic { secret, .. } | ClientCredentials::Post { secret, .. } => {
                self.secret_matches(&client, secret)
            }
            ClientCredentials::Assertion { assertion, .. } => {
                self.assertion_matches(&client, assertion, endpoint).await
            }
            ClientCredentials::None => false,
        };
        if good {
            Ok(client)
        } else {
            Err(refused("wrong client credentials"))
        }
    }

    /// RFC 7523: signed by one of the client's keys, `iss` = `sub` = client_id, `aud` the
    /// issuer or the endpoint, unexpired, and its `jti` never seen before.
    async fn assertion_matches(&self, client: &OidcClient, assertion: &str, endpoint: &str) -> bool {
        let Ok(claims) = verify_jwt(assertion, &client.settings.jwks, &JwsAlgorithm::ALL) else { return false };
        let issuer = self.oidc_issuer();
        let audience_ok = |aud: &Value| aud.as_str().is_some_and(|a| a == issuer || a == endpoint);
        let aud_ok = match &claims["aud"] {
            Value::Array(items) => items.iter().any(audience_ok),
            other => audience_ok(other),
        };
        let now = self.now().as_millis() / 1000;
        let exp = claims["exp"].as_i64().unwrap_or(0);
        let names_client = claims["iss"] == json!(client.client_id) && claims["sub"] == json!(client.client_id);
        let Some(jti) = claims["jti"].as_str() else { return false };
        if !(aud_ok && names_client && exp > now && exp <= now + 3600) {
            return false;
        }
        let seen = OidcObject {
            kind: KIND_ASSERTION.into(),
            id: format!("{}:{jti}", client.client_id),
            grant_id: None,
            data: "{}".into(),
            created_at: self.now(),
            expires_at: mobileid_core::Timestamp::from_millis((exp + 60) * 1000),
            used_at: None,
        };
        self.store().insert_oidc_object(&seen).await.unwrap_or(false)
    }

    /// PAR (RFC 9126): checks the request as `/authorize` would, keeps it for `par_ttl`,
    /// and returns the single-use `request_uri`.
    pub async fn oidc_push_request(
        &self,
        client: &OidcClient,
        params: HashMap<String, String>,
    ) -> Result<(String, u64), OidcError> {
        let trace = login::session_code();
        if params.contains_key("request_uri") {
            return Err(OidcError::new(MidCode::InvalidClientRequest, &trace, "request_uri cannot be pushed"));
        }
        if let Err(refusal) = request::check(client, &params, true, &trace) {
            return Err(match refusal {
                request::Refusal::Page(e) | request::Refusal::Redirect { error: e, .. } => e,
            });
        }
        let id = self.object_id();
        let now = self.now();
        let object = OidcObject {
            kind: KIND_PAR.into(),
            id: id.clone(),
            grant_id: None,
            data: serde_json::to_string(&(client.client_id.clone(), params))
                .map_err(|e| self.oidc_internal(&trace, e))?,
            created_at: now,
            expires_at: now.plus(self.config().oidc.par_ttl),
            used_at: None,
        };
        self.store().insert_oidc_object(&object).await.map_err(|e| self.oidc_internal(&trace, e))?;
        Ok((format!("urn:ietf:params:oauth:request_uri:{id}"), self.config().oidc.par_ttl.as_secs()))
    }

    /// The parameters pushed for `client_id` under `request_uri`, once.
    pub async fn oidc_pushed_request(
        &self,
        client_id: &str,
        request_uri: &str,
    ) -> Result<HashMap<String, String>, OidcError> {
        let trace = login::session_code();
        let invalid = |why: &str| {
            OidcError::new(MidCode::InvalidClientRequest, &trace, why).with_error(OAuthError::InvalidRequestUri)
        };
        let id = request_uri
            .strip_prefix("urn:ietf:params:oauth:request_uri:")
            .ok_or_else(|| invalid("not a request_uri of ours"))?;
        let object = match self.store().consume_oidc_object(KIND_PAR, id, self.now()).await {
            Ok(Consumed::Fresh(object)) => object,
            Ok(Consumed::Replayed(_)) => return Err(invalid("the request_uri was already used")),
            Ok(Consumed::Unknown) => return Err(invalid("unknown or expired request_uri")),
            Err(e) => return Err(self.oidc_internal(&trace, e)),
        };
        let (owner, params): (String, HashMap<String, String>) =
            serde_json::from_str(&object.data).map_err(|e| self.oidc_internal(&trace, e))?;
        if owner != client_id {
            return Err(invalid("the request_uri belongs to another client"));
        }
        Ok(params)
    }

    /// The discovery document as JSON text, made once per issuer.
    pub fn oidc_discovery(&self) -> bytes::Bytes {
        let issuer = self.oidc_issuer();
        let mut made = self.inner.oidc_discovery.lock().unwrap_or_else(|e| e.into_inner());
        match &*made {
            Some((made_for, document)) if made_for == issuer => document.clone(),
            _ => {
                let document = bytes::Bytes::from(self.discovery_document(issuer).to_string());
                *made = Some((issuer.to_string(), document.clone()));
                document
            }
        }
    }

    /// The discovery document: only what works.
    fn discovery_document(&self, issuer: &str) -> Value {
        let at = |path: &str| format!("{issuer}{path}");
        let auth_methods: Vec<&str> = AuthMethod::ALL.iter().map(|m| m.token()).collect();
        let algs: Vec<&str> = JwsAlgorithm::ALL.iter().map(|a| a.name()).collect();
        json!({
            "issuer": issuer,
            "authorization_endpoint": at(paths::AUTHORIZE),
            "pushed_authorization_request_endpoint": at(paths::PAR),
            "token_endpoint": at(paths::TOKEN),
            "userinfo_endpoint": at(paths::USERINFO),
            "jwks_uri": at(paths::JWKS),
            "revocation_endpoint": at(paths::REVOCATION),
            "revocation_endpoint_auth_methods_supported": auth_methods,
            "introspection_endpoint": at(paths::INTROSPECTION),
            "end_session_endpoint": at(paths::END_SESSION),
            "introspection_endpoint_auth_methods_supported": auth_methods,
            "scopes_supported": Scope::ALL.iter().map(|s| s.token()).collect::<Vec<_>>(),
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "azp", "at_hash",
                "name", "given_name", "family_name", "phone_number", "phone_number_verified", "mid_profile_serial", "mid_profile_recovery_code_status",
                "mid_cms_content", "mid_geo_country", "mid_geo_accuracy", "mid_geo_device_confidence",
                "mid_geo_location_confidence", "mid_geo_timestamp"],
            "acr_values_supported": Acr::ALL.iter().map(|a| a.token()).collect::<Vec<_>>(),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token", "urn:openid:params:grant-type:ciba"],
            "backchannel_authentication_endpoint": at(paths::CIBA),
            "backchannel_token_delivery_modes_supported": ["poll", "ping"],
            "backchannel_user_code_parameter_supported": false,
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": algs,
            "userinfo_signing_alg_values_supported": algs,
            "token_endpoint_auth_methods_supported": auth_methods,
            "token_endpoint_auth_signing_alg_values_supported": algs,
            "pushed_authorization_request_endpoint_auth_methods_supported": auth_methods,
            "code_challenge_methods_supported": ["S256"],
            "ui_locales_supported": ["en", "de", "fr", "it"],
            "claims_parameter_supported": false,
            "request_parameter_supported": false,
            "request_uri_parameter_supported": true,
            "require_pushed_authorization_requests": false,
            "authorization_response_iss_parameter_supported": true,
        })
    }
}

/// Where an end-session request sends the browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndSession {
    /// Back to the client's registered post-logout URI, with the request's `state`.
    Redirect { uri: String, state: Option<String> },
    /// Our page that says the user is signed out.
    Page,
}

impl Engine {
    /// RP-Initiated Logout. The provider keeps no browser session (every login asks the
    /// phone), so there is nothing to end here: the request is checked (an `id_token_hint`
    /// must be one of ours, for the client named, expired or not) and the browser goes
    /// back only to a post-logout URI that client registered.
    pub async fn oidc_end_session(&self, params: &HashMap<String, String>) -> Result<EndSession, OidcError> {
        let trace = login::session_code();
        let invalid = |why: &str| OidcError::new(MidCode::InvalidClientRequest, &trace, why);
        let mut client_id = params.get("client_id").cloned();
        if let Some(hint) = params.get("id_token_hint") {
            let keys = self.oidc_public_keys().await.map_err(|e| self.oidc_internal(&trace, e))?;
            let claims = verify_jwt(hint, &keys, &JwsAlgorithm::ALL)
                .map_err(|_| invalid("id_token_hint is not an ID token of ours"))?;
            if claims["iss"] != json!(self.oidc_issuer()) {
                return Err(invalid("id_token_hint was issued by another provider"));
            }
            let audience = claims["aud"].as_str().map(str::to_string);
            if client_id.is_some() && client_id != audience {
                return Err(invalid("client_id is not the ID token's audience"));
            }
            client_id = audience;
        }
        let Some(uri) = params.get("post_logout_redirect_uri") else { return Ok(EndSession::Page) };
        let client_id =
            client_id.ok_or_else(|| invalid("post_logout_redirect_uri needs id_token_hint or client_id"))?;
        let client = self
            .oidc_client(&client_id)
            .await
            .map_err(|e| self.oidc_internal(&trace, e))?
            .ok_or_else(|| invalid("unknown client"))?;
        if !client.settings.post_logout_redirect_uris.contains(uri) {
            return Err(invalid("post_logout_redirect_uri is not registered for this client"));
        }
        Ok(EndSession::Redirect { uri: uri.clone(), state: params.get("state").cloned() })
    }
}

/// The `iss` of a JWT, unverified: only to find which client's keys to verify it with.
fn unverified_issuer(jwt: &str) -> Option<String> {
    let payload = jwt.split('.').nth(1)?;
    let bytes = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload).ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    claims["iss"].as_str().map(str::to_string)
}
