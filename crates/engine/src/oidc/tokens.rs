//! Codes and tokens. A code is single use and short-lived; redeeming it makes a grant
//! (who, for which client, with which scopes and how they logged in) and tokens that
//! belong to it ([`super::bearer`]: they name the grant, and live only as long as it
//! does). A refresh moves the grant to its next generation, which spends the refresh
//! token it came with. A replayed code or an old refresh token revokes the whole grant
//! (RFC 9700 §4.14).

use mobileid_core::device_api::DeviceLocation;
use mobileid_core::{Method, Timestamp};
use mobileid_crypto::jose::JwsAlgorithm;
use mobileid_store::{Consumed, OidcObject, Rotation};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::bearer::Bearer;
use super::client::OidcClient;
use super::error::{MidCode, OAuthError, OidcError};
use super::login::{Authenticated, Login};
use super::vocabulary::{scope_string, Acr, Scope};
use super::{random_token, KIND_CODE, KIND_GRANT};
use crate::Engine;

const TOKEN_PURPOSE: &[u8] = b"oidc token";

/// What a code stands for, and later its grant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Issued {
    pub client_id: String,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub nonce: Option<String>,
    pub scopes: Vec<Scope>,
    pub acr: Acr,
    pub method: Method,
    pub auth_time: Timestamp,
    pub msisdn: String,
    pub serial: String,
    pub cms: String,
    #[serde(default)]
    pub location: Option<DeviceLocation>,
    pub trace: String,
}

/// The token endpoint's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
    pub scope: String,
    pub id_token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

/// A live token of a client, as [`Engine::token_of`] found it.
struct LiveToken {
    grant_id: String,
    issued: Issued,
    access: bool,
    expires_at: Timestamp,
}

/// The grant that tokens are issued from.
struct Grant<'a> {
    id: &'a str,
    /// As it was given: a refresh may narrow the scope of one answer, not of the grant.
    issued: &'a Issued,
    /// Its current generation: the one the new refresh token continues.
    generation: i64,
}

impl Engine {
    pub(crate) async fn oidc_issue_code(&self, login: &Login, user: &Authenticated) -> Result<String, OidcError> {
        let issued = Engine::issued_from(login, user);
        let code = random_token();
        let now = self.now();
        let object = OidcObject {
            kind: KIND_CODE.into(),
            id: self.token_hash(&code),
            grant_id: Some(self.object_id()),
            data: serde_json::to_string(&issued).map_err(|e| self.oidc_internal(&login.trace, e))?,
            created_at: now,
            expires_at: now.plus(self.config().oidc.code_ttl),
            used_at: None,
        };
        self.store().insert_oidc_object(&object).await.map_err(|e| self.oidc_internal(&login.trace, e))?;
        Ok(code)
    }

    /// `grant_type=authorization_code`: the code, its redirect URI and the PKCE verifier.
    pub async fn oidc_redeem_code(
        &self,
        client: &OidcClient,
        code: &str,
        redirect_uri: Option<&str>,
        verifier: Option<&str>,
    ) -> Result<TokenResponse, OidcError> {
        let (issued, grant_id) = self.take_code(client, code, redirect_uri, verifier).await?;
        self.grant_tokens(client, grant_id, &issued).await
    }

    /// Spends a code of `client`: what its login established, and the id of its grant.
    pub(crate) async fn take_code(
        &self,
        client: &OidcClient,
        code: &str,
        redirect_uri: Option<&str>,
        verifier: Option<&str>,
    ) -> Result<(Issued, String), OidcError> {
        let trace = super::login::session_code();
        let grant_error =
            |why: &str| OidcError::new(MidCode::InvalidClientRequest, &trace, why).with_error(OAuthError::InvalidGrant);
        let now = self.now();
        let object = match self.store().consume_oidc_object(KIND_CODE, &self.token_hash(code), now).await {
            Ok(Consumed::Fresh(object)) => object,
            Ok(Consumed::Replayed(object)) => {
                if let Some(grant) = &object.grant_id {
                    let revoked = self.store().revoke_oidc_grant(grant).await.unwrap_or(0);
                    tracing::warn!(grant, revoked, "a code was replayed: its grant is revoked");
                }
                return Err(grant_error("the code was already used"));
            }
            Ok(Consumed::Unknown) => return Err(grant_error("unknown or expired code")),
            Err(e) => return Err(self.oidc_internal(&trace, e)),
        };
        let issued: Issued = serde_json::from_str(&object.data).map_err(|e| self.oidc_internal(&trace, e))?;
        let trace = issued.trace.clone();
        let grant_error =
            |why: &str| OidcError::new(MidCode::InvalidClientRequest, &trace, why).with_error(OAuthError::InvalidGrant);
        if issued.client_id != client.client_id {
            return Err(grant_error("the code was issued to another client"));
        }
        if redirect_uri != Some(issued.redirect_uri.as_str()) {
            return Err(grant_error("redirect_uri differs from the authorization request's"));
        }
        let verifier = verifier.ok_or_else(|| grant_error("code_verifier is missing"))?;
        if !pkce_matches(verifier, &issued.code_challenge) {
            return Err(grant_error("code_verifier does not match the code_challenge"));
        }
        let grant_id = object.grant_id.clone().ok_or_else(|| self.oidc_internal(&trace, "a code without a grant"))?;
        Ok((issued, grant_id))
    }

    /// Stores the grant of a finished login and issues its first tokens.
    pub(crate) async fn grant_tokens(
        &self,
        client: &OidcClient,
        grant_id: String,
        issued: &Issued,
    ) -> Result<TokenResponse, OidcError> {
        let now = self.now();
        let object = OidcObject {
            kind: KIND_GRANT.into(),
            id: grant_id.clone(),
            grant_id: Some(grant_id.clone()),
            data: serde_json::to_string(issued).map_err(|e| self.oidc_internal(&issued.trace, e))?,
            created_at: now,
            expires_at: now.plus(self.config().oidc.refresh_ttl.max(self.config().oidc.access_ttl)),
            used_at: None,
        };
        self.store().insert_oidc_object(&object).await.map_err(|e| self.oidc_internal(&issued.trace, e))?;
        self.tokens_for(client, &Grant { id: &grant_id, issued, generation: 0 }, issued, true).await
    }

    /// `grant_type=refresh_token`, rotating: the grant moves on to its next generation,
    /// which spends the token; a second use of it revokes the grant.
    pub async fn oidc_refresh(
        &self,
        client: &OidcClient,
        refresh_token: &str,
        scope: Option<&str>,
    ) -> Result<TokenResponse, OidcError> {
        let trace = super::login::session_code();
        let grant_error =
            |why: &str| OidcError::new(MidCode::InvalidClientRequest, &trace, why).with_error(OAuthError::InvalidGrant);
        let unknown = || grant_error("unknown, expired or revoked refresh token");
        let Some(Bearer::Refresh { grant_id, generation }) = self.read_bearer(refresh_token) else {
            return Err(unknown());
        };
        let object = match self.store().rotate_oidc_grant(&grant_id, generation, self.now()).await {
            Ok(Rotation::Rotated(object)) => object,
            Ok(Rotation::Stale) => {
                self.store().revoke_oidc_grant(&grant_id).await.map_err(|e| self.oidc_internal(&trace, e))?;
                tracing::warn!(grant = grant_id, "a refresh token was used twice: its grant is revoked");
                return Err(grant_error("the refresh token was already used"));
            }
            Ok(Rotation::Unknown) => return Err(unknown()),
            Err(e) => return Err(self.oidc_internal(&trace, e)),
        };
        let issued: Issued = serde_json::from_str(&object.data).map_err(|e| self.oidc_internal(&trace, e))?;
        if issued.client_id != client.client_id {
            return Err(grant_error("the refresh token was issued to another client"));
        }
        let mut answer = issued.clone();
        if let Some(scope) = scope {
            let (asked, unknown) = super::vocabulary::parse_scopes(scope);
            if !unknown.is_empty() || asked.iter().any(|s| !issued.scopes.contains(s)) {
                return Err(OidcError::new(MidCode::ScopeInvalid, &issued.trace, "a refresh cannot widen the scope"));
            }
            answer.scopes = asked;
        }
        let grant = Grant { id: &grant_id, issued: &issued, generation: generation + 1 };
        self.tokens_for(client, &grant, &answer, false).await
    }

    /// An access token, a refresh token if the grant has offline access, and an ID token
    /// for `answer` (the grant's claims, or fewer). Nothing is stored: the tokens name
    /// the grant.
    async fn tokens_for(
        &self,
        client: &OidcClient,
        grant: &Grant<'_>,
        answer: &Issued,
        first: bool,
    ) -> Result<TokenResponse, OidcError> {
        let config = &self.config().oidc;
        let expires = self.now().plus(config.access_ttl).as_millis().div_euclid(1000);
        let access_token = self.mint(&Bearer::Access { grant_id: grant.id.to_string(), expires });
        let refresh_token = grant
            .issued
            .scopes
            .contains(&Scope::OfflineAccess)
            .then(|| self.mint(&Bearer::Refresh { grant_id: grant.id.to_string(), generation: grant.generation }));
        let id_token =
            self.id_token(client, answer, first.then_some(answer.nonce.as_deref()).flatten(), &access_token).await?;
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: config.access_ttl.as_secs(),
            scope: scope_string(&answer.scopes),
            id_token,
            refresh_token,
        })
    }

    async fn grant(&self, grant_id: &str) -> Result<Option<(Issued, Timestamp)>, OidcError> {
        let Some(object) = self
            .store()
            .find_oidc_object(KIND_GRANT, grant_id, self.now())
            .await
            .map_err(|e| self.oidc_internal("GRANT", e))?
        else {
            return Ok(None);
        };
        let issued = serde_json::from_str(&object.data).map_err(|e| self.oidc_internal("GRANT", e))?;
        Ok(Some((issued, object.created_at)))
    }

    async fn id_token(
        &self,
        client: &OidcClient,
        issued: &Issued,
        nonce: Option<&str>,
        access_token: &str,
    ) -> Result<String, OidcError> {
        let now = self.now();
        let config = &self.config().oidc;
        let mut claims = json!({
            "iss": self.oidc_issuer(),
            "sub": self.subject(&issued.serial),
            "aud": client.client_id,
            "azp": client.client_id,
            "iat": now.as_millis() / 1000,
            "exp": now.plus(config.id_token_ttl).as_millis() / 1000,
            "auth_time": issued.auth_time.as_millis() / 1000,
            "acr": issued.acr.token(),
            "amr": amr(issued),
            "at_hash": half_hash(access_token),
        });
        if let Some(nonce) = nonce {
            claims["nonce"] = json!(nonce);
        }
        self.sign_for(client, &claims, None).await
    }

    /// The claims of the access token's grant, by its scopes: `sub` and the scope claims.
    pub async fn oidc_userinfo(&self, access_token: &str) -> Result<(OidcClient, Value), OidcError> {
        let trace = super::login::session_code();
        let invalid =
            |why: &str| OidcError::new(MidCode::InvalidClientRequest, &trace, why).with_error(OAuthError::InvalidToken);
        let grant_id = match self.read_bearer(access_token) {
            Some(Bearer::Access { grant_id, expires }) if self.now().as_millis() < expires.saturating_mul(1000) => {
                grant_id
            }
            _ => return Err(invalid("unknown or expired access token")),
        };
        let (issued, _) = self.grant(&grant_id).await?.ok_or_else(|| invalid("the grant was revoked"))?;
        let client = self
            .oidc_client(&issued.client_id)
            .await
            .map_err(|e| self.oidc_internal(&trace, e))?
            .ok_or_else(|| invalid("the client is gone"))?;
        let mut claims = Map::new();
        let sub = self.subject(&issued.serial);
        claims.insert("sub".into(), json!(sub));
        let phone = format!("+{}", issued.msisdn);
        for scope in &issued.scopes {
            match scope {
                Scope::Profile => {
                    let name = if issued.scopes.contains(&Scope::Phone) {
                        phone.clone()
                    } else {
                        format!("User{}", &sub[sub.len() - 6..])
                    };
                    claims.insert("name".into(), json!(name));
                    // The name as a verified identity records it, only where one does.
                    let verified =
                        self.verified_name(&issued.msisdn).await.map_err(|e| self.oidc_internal(&trace, e))?;
                    if let Some(verified) = verified {
                        claims.insert("given_name".into(), json!(verified.given_names));
                        claims.insert("family_name".into(), json!(verified.surname));
                    }
                }
                Scope::Phone => {
                    claims.insert("phone_number".into(), json!(phone));
                    claims.insert("phone_number_verified".into(), json!(true));
                }
                Scope::MidProfile => {
                    claims.insert("mid_profile_serial".into(), json!(issued.serial));
                    let internal = |e: mobileid_store::StoreError| self.oidc_internal(&trace, e);
                    let (codes, _) = self.store().recovery_codes_left(&issued.msisdn).await.map_err(internal)?;
                    claims.insert("mid_profile_recovery_code_status".into(), json!(codes > 0));
                    let devices = self.store().devices_of_user(&issued.msisdn).await.map_err(internal)?;
                    claims.insert("mid_profile_sscds".into(), sscds(&devices));
                }
                Scope::MidCms => {
                    claims.insert("mid_cms_content".into(), json!(issued.cms));
                }
                Scope::MidLocation => {
                    if let Some(location) = &issued.location {
                        claims.insert("mid_geo_country".into(), json!(location.country));
                        claims.insert("mid_geo_accuracy".into(), json!(location.accuracy));
                        claims.insert("mid_geo_device_confidence".into(), json!(location.device_confidence));
                        claims.insert("mid_geo_location_confidence".into(), json!(location.location_confidence));
                        claims.insert("mid_geo_timestamp".into(), json!(rfc3339(issued.auth_time)));
                    }
                }
                Scope::MidEsignBasic => {
                    // The guide names the claim, not its members: ours is the evidence of
                    // the signature the user made to log in (ARCHITECTURE.md, decisions).
                    let content = json!({
                        "serial_number": issued.serial,
                        "phone_number": phone,
                        "method": amr(&issued)[0],
                        "signing_time": rfc3339(issued.auth_time),
                        "cms": issued.cms,
                    });
                    claims.insert("mid_esign_basic_content".into(), content);
                }
                Scope::Openid | Scope::OfflineAccess => {}
            }
        }
        let mut claims = Value::Object(claims);
        if client.settings.userinfo_signed {
            claims["iss"] = json!(self.oidc_issuer());
            claims["aud"] = json!(client.client_id);
        }
        Ok((client, claims))
    }

    /// The grant behind an unexpired access or refresh token of `client` (its id and what
    /// it stands for), and the token's kind and expiry; None for anything else (unknown,
    /// expired, revoked, another client's, or, unless `used` is allowed, used up).
    async fn token_of(&self, client: &OidcClient, token: &str, used: bool) -> Result<Option<LiveToken>, OidcError> {
        let Some(bearer) = self.read_bearer(token) else { return Ok(None) };
        let now = self.now();
        let found =
            self.store().find_oidc_grant(bearer.grant_id(), now).await.map_err(|e| self.oidc_internal("TOKEN", e))?;
        let Some((grant, current)) = found else { return Ok(None) };
        let (access, expires_at) = match bearer {
            Bearer::Access { expires, .. } => (true, Timestamp::from_millis(expires.saturating_mul(1000))),
            Bearer::Refresh { generation, .. } if used || generation == current => (false, grant.expires_at),
            Bearer::Refresh { .. } => return Ok(None),
        };
        if expires_at <= now {
            return Ok(None);
        }
        let issued: Issued = serde_json::from_str(&grant.data).map_err(|e| self.oidc_internal("TOKEN", e))?;
        Ok((issued.client_id == client.client_id).then_some(LiveToken {
            grant_id: grant.id,
            issued,
            access,
            expires_at,
        }))
    }

    /// RFC 7009: revokes the grant of the client's access or refresh token (so both kinds
    /// go together). Unknown tokens and other clients' tokens change nothing, and the
    /// answer is the same, so a client learns nothing about tokens not its own.
    pub async fn oidc_revoke(&self, client: &OidcClient, token: &str) -> Result<(), OidcError> {
        // A rotated-away refresh token still names its grant: revoking it ends the grant.
        if let Some(live) = self.token_of(client, token, true).await? {
            self.store().revoke_oidc_grant(&live.grant_id).await.map_err(|e| self.oidc_internal("REVOKE", e))?;
            tracing::info!(client = client.client_id, "a grant was revoked by its client");
        }
        Ok(())
    }

    /// RFC 7662: what a live token of this client stands for; `{"active": false}` for
    /// anything else.
    pub async fn oidc_introspect(&self, client: &OidcClient, token: &str) -> Result<Value, OidcError> {
        let Some(LiveToken { issued, access, expires_at, .. }) = self.token_of(client, token, false).await? else {
            return Ok(json!({"active": false}));
        };
        Ok(json!({
            "active": true,
            "client_id": issued.client_id,
            "sub": self.subject(&issued.serial),
            "scope": scope_string(&issued.scopes),
            "exp": expires_at.as_millis() / 1000,
            "iss": self.oidc_issuer(),
            "token_type": if access { "Bearer" } else { "refresh_token" },
            "acr": issued.acr.token(),
        }))
    }

    /// A JWT signed with the client's algorithm (RSA off the async workers).
    pub async fn sign_for(
        &self,
        client: &OidcClient,
        claims: &Value,
        typ: Option<&'static str>,
    ) -> Result<String, OidcError> {
        let alg = JwsAlgorithm::parse(&client.settings.id_token_alg).unwrap_or(JwsAlgorithm::Rs256);
        let key = self.oidc_signing_key(alg).await.map_err(|e| self.oidc_internal("SIGNING", e))?;
        let claims = claims.clone();
        self.compute(move || key.sign_jwt(&claims, typ))
            .await
            .map_err(|e| self.oidc_internal("SIGNING", e))?
            .map_err(|e| self.oidc_internal("SIGNING", e))
    }

    /// `sub`: derived from the serial number, which a user keeps across re-enrolments, so
    /// it is never reassigned; keyed, so it reveals nothing.
    fn subject(&self, serial: &str) -> String {
        hex::encode(self.master_key().keyed_hash(b"oidc subject", serial.as_bytes()))
    }

    fn token_hash(&self, token: &str) -> String {
        hex::encode(self.master_key().keyed_hash(TOKEN_PURPOSE, token.as_bytes()))
    }
}

/// A time as the guide writes them: RFC 3339 with milliseconds and the offset.
fn rfc3339(at: Timestamp) -> Option<String> {
    at.to_datetime().map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, false))
}

/// The methods as the guide names them: SIM or App with the hardware key, plus the
/// geolocation for the `_ch` classes.
fn amr(issued: &Issued) -> Vec<&'static str> {
    let mut amr = match issued.method {
        Method::Sim => vec!["mid_sim", "mid_hwk"],
        Method::App => vec!["mid_app", "mid_hwk"],
    };
    if issued.acr.checks_country() {
        amr.push("mid_geo");
    }
    amr
}

/// RFC 7636 S256: base64url(SHA-256(verifier)) == challenge; the verifier 43-128 characters.
/// `mid_profile_sscds`: the user's signing devices, named as the MSS profile query's
/// `Sscds` names them (`App`, a list; `Sim`), each with its state and whether its PIN is
/// blocked.
fn sscds(devices: &[mobileid_store::DeviceRecord]) -> Value {
    let describe = |device: &mobileid_store::DeviceRecord| json!({ "State": "ACTIVE", "PinStatus": { "Blocked": device.state == mobileid_core::DeviceState::Blocked } });
    let mut sscds = Map::new();
    let apps: Vec<Value> = devices.iter().filter(|d| d.method == Method::App).map(describe).collect();
    if !apps.is_empty() {
        sscds.insert("App".into(), Value::Array(apps));
    }
    if let Some(sim) = devices.iter().find(|d| d.method == Method::Sim) {
        sscds.insert("Sim".into(), describe(sim));
    }
    Value::Object(sscds)
}

pub fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    well_formed
        && base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, Sha256::digest(verifier))
            == challenge
}

/// `at_hash`: the left half of the SHA-256 of the access token, base64url.
fn half_hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, &digest[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_of_rfc_7636_appendix_b() {
        assert!(pkce_matches(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(!pkce_matches(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXl",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(!pkce_matches("short", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"));
    }
}
