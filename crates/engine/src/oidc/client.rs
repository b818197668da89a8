//! Relying parties registered with the provider (`mobileid oidc-client add`): where they
//! may be sent back to, how they authenticate, and what they may ask for.

use mobileid_store::{ChangeEvent, OidcClientRecord};
use rand::RngCore;
use serde::{Deserialize, Serialize};

use super::vocabulary::{Acr, Scope};
use crate::{Engine, EngineError};

/// How a client proves itself at the token endpoint (and PAR, revocation, introspection).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
    PrivateKeyJwt,
}

impl AuthMethod {
    pub const ALL: [AuthMethod; 3] =
        [AuthMethod::ClientSecretBasic, AuthMethod::ClientSecretPost, AuthMethod::PrivateKeyJwt];

    pub fn token(self) -> &'static str {
        match self {
            AuthMethod::ClientSecretBasic => "client_secret_basic",
            AuthMethod::ClientSecretPost => "client_secret_post",
            AuthMethod::PrivateKeyJwt => "private_key_jwt",
        }
    }

    pub fn parse(token: &str) -> Option<AuthMethod> {
        AuthMethod::ALL.into_iter().find(|m| m.token() == token)
    }
}

/// What a client may do beyond a plain login.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Entitlement {
    /// Send `login_hint` (through PAR).
    LoginHint,
    /// Send its own `dtbd` text for the phone (through PAR).
    Dtbd,
    /// Start logins on the back channel (CIBA).
    Ciba,
}

impl Entitlement {
    pub fn parse(token: &str) -> Option<Entitlement> {
        match token {
            "login_hint" => Some(Entitlement::LoginHint),
            "dtbd" => Some(Entitlement::Dtbd),
            "ciba" => Some(Entitlement::Ciba),
            _ => None,
        }
    }
}

/// A client's settings, stored as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientSettings {
    /// Shown on the pages and on the phone (`#CLIENT#`).
    pub name: String,
    /// Matched exactly.
    pub redirect_uris: Vec<String>,
    pub auth_method: AuthMethod,
    /// Public keys for `private_key_jwt` (JWKs).
    #[serde(default)]
    pub jwks: Vec<serde_json::Value>,
    pub allowed_acrs: Vec<Acr>,
    pub default_acr: Acr,
    pub scopes: Vec<Scope>,
    #[serde(default)]
    pub entitlements: Vec<Entitlement>,
    /// Userinfo as a signed JWT instead of JSON.
    #[serde(default)]
    pub userinfo_signed: bool,
    /// RS256, ES256 or EdDSA.
    pub id_token_alg: String,
    /// The phone makes the user pick the session code shown in the browser.
    pub number_matching: bool,
    /// `nonce` is required (the guide's MUST); a client may be registered without.
    pub require_nonce: bool,
    /// Where end-session may send the browser back to, matched exactly.
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// CIBA ping mode: where we tell the client that a backchannel login ended.
    #[serde(default)]
    pub ciba_notification_endpoint: Option<String>,
}

/// A registered client.
#[derive(Debug, Clone)]
pub struct OidcClient {
    pub client_id: String,
    pub settings: ClientSettings,
    secret_hash: Option<String>,
}

impl OidcClient {
    pub fn has(&self, entitlement: Entitlement) -> bool {
        self.settings.entitlements.contains(&entitlement)
    }

    #[cfg(test)]
    pub(crate) fn for_tests(client_id: &str, settings: ClientSettings) -> OidcClient {
        OidcClient { client_id: client_id.into(), settings, secret_hash: None }
    }

    /// The redirect URI exactly as registered, or None.
    pub fn redirect_uri(&self, uri: &str) -> Option<&str> {
        self.settings.redirect_uris.iter().find(|r| *r == uri).map(String::as_str)
    }
}

/// A secret shown once, at registration.
pub struct ClientSecret(pub String);

impl std::fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientSecret(..)")
    }
}

const SECRET_PURPOSE: &[u8] = b"oidc client secret";

/// Registered clients as last read (see [`crate::recent`]).
pub(crate) type ClientCache = crate::recent::Recent<String, OidcClient>;

impl Engine {
    /// Registers (or replaces) a client. Secret methods get a new random secret, returned
    /// once and stored only as a keyed hash.
    pub async fn register_oidc_client(
        &self,
        client_id: &str,
        settings: ClientSettings,
    ) -> Result<Option<ClientSecret>, EngineError> {
        check_settings(client_id, &settings, self.config().oidc.local_http_redirects)?;
        let secret = (settings.auth_method != AuthMethod::PrivateKeyJwt).then(|| {
            let mut bytes = [0u8; 32];
            rand::thread_rng().fill_bytes(&mut bytes);
            ClientSecret(base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, bytes))
        });
        let record = OidcClientRecord {
            client_id: client_id.to_string(),
            settings: serde_json::to_string(&settings).map_err(|e| EngineError::Invalid(e.to_string()))?,
            secret_hash: secret.as_ref().map(|s| self.secret_hash(&s.0)),
            created_at: self.now(),
        };
        self.store().upsert_oidc_client(&record).await?;
        self.announce(ChangeEvent::OidcClient(client_id.to_string())).await;
        Ok(secret)
    }

    /// The client's registration, as read at most [`crate::recent::RELOAD_EVERY`] ago.
    pub async fn oidc_client(&self, client_id: &str) -> Result<Option<OidcClient>, EngineError> {
        let now = self.now();
        let cache = &self.inner.oidc_clients;
        if let Some(client) = cache.get(&client_id.to_string(), now) {
            return Ok(Some(client));
        }
        let client = self.store().find_oidc_client(client_id).await?.map(parse_record).transpose()?;
        cache.put(client_id.to_string(), client.as_ref(), now);
        Ok(client)
    }

    pub async fn oidc_clients(&self) -> Result<Vec<OidcClient>, EngineError> {
        self.store().list_oidc_clients().await?.into_iter().map(parse_record).collect()
    }

    pub async fn remove_oidc_client(&self, client_id: &str) -> Result<bool, EngineError> {
        let removed = self.store().delete_oidc_client(client_id).await?;
        self.announce(ChangeEvent::OidcClient(client_id.to_string())).await;
        Ok(removed)
    }

    /// True when `secret` is the client's (compared in constant time).
    pub(crate) fn secret_matches(&self, client: &OidcClient, secret: &str) -> bool {
        let Some(stored) = &client.secret_hash else { return false };
        let given = self.secret_hash(secret);
        equal_in_constant_time(stored.as_bytes(), given.as_bytes())
    }

    fn secret_hash(&self, secret: &str) -> String {
        hex::encode(self.master_key().keyed_hash(SECRET_PURPOSE, secret.as_bytes()))
    }
}

pub(crate) fn equal_in_constant_time(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn parse_record(record: OidcClientRecord) -> Result<OidcClient, EngineError> {
    let settings: ClientSettings = serde_json::from_str(&record.settings)
        .map_err(|e| EngineError::Invalid(format!("client {} has unreadable settings: {e}", record.client_id)))?;
    Ok(OidcClient { client_id: record.client_id, settings, secret_hash: record.secret_hash })
}

fn check_settings(client_id: &str, settings: &ClientSettings, local_http: bool) -> Result<(), EngineError> {
    let invalid = |why: String| Err(EngineError::Invalid(why));
    if client_id.is_empty() || client_id.len() > 128 || !client_id.chars().all(|c| c.is_ascii_graphic()) {
        return invalid(format!("client_id {client_id:?} must be 1-128 printable ASCII characters"));
    }
    if settings.redirect_uris.is_empty() {
        return invalid("a client needs at least one redirect URI".into());
    }
    for uri in settings
        .redirect_uris
        .iter()
        .chain(&settings.post_logout_redirect_uris)
        .chain(&settings.ciba_notification_endpoint)
    {
        if !redirect_uri_allowed(uri, local_http) {
            return invalid(format!(
                "redirect URI {uri:?}: it must be an https URL without a fragment{}",
                if local_http { " (or http on localhost)" } else { "" }
            ));
        }
    }
    if !settings.allowed_acrs.contains(&settings.default_acr) {
        return invalid(format!("the default ACR {} is not among the allowed ones", settings.default_acr.token()));
    }
    if !settings.scopes.contains(&Scope::Openid) {
        return invalid("a client's scopes must include openid".into());
    }
    if mobileid_crypto::jose::JwsAlgorithm::parse(&settings.id_token_alg).is_none() {
        return invalid(format!("id_token_alg {:?}: use RS256, ES256 or EdDSA", settings.id_token_alg));
    }
    if settings.auth_method == AuthMethod::PrivateKeyJwt && settings.jwks.is_empty() {
        return invalid("private_key_jwt needs the client's public keys".into());
    }
    Ok(())
}

/// An absolute https URL without a fragment; http only to this machine, and only where
/// the operator allows it (demo mode), because the guide forbids it in production.
fn redirect_uri_allowed(uri: &str, local_http: bool) -> bool {
    if uri.contains('#') || uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let Some((scheme, rest)) = uri.split_once("://") else { return false };
    let host = rest.split(['/', '?']).next().unwrap_or_default();
    let hostname =
        host.rsplit_once(':').map_or(host, |(h, port)| if port.chars().all(|c| c.is_ascii_digit()) { h } else { host });
    match scheme {
        "https" => !hostname.is_empty(),
        "http" => local_http && matches!(hostname, "localhost" | "127.0.0.1" | "[::1]"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris() {
        assert!(redirect_uri_allowed("https://rp.example/cb", false));
        assert!(redirect_uri_allowed("https://rp.example:8443/cb?x=1", false));
        assert!(!redirect_uri_allowed("https://rp.example/cb#frag", false));
        assert!(!redirect_uri_allowed("http://rp.example/cb", true));
        assert!(!redirect_uri_allowed("http://127.0.0.1:9000/cb", false));
        assert!(redirect_uri_allowed("http://127.0.0.1:9000/cb", true));
        assert!(redirect_uri_allowed("http://localhost/cb", true));
        assert!(!redirect_uri_allowed("javascript:alert(1)", true));
        assert!(!redirect_uri_allowed("https:///cb", false));
    }
}
