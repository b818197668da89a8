//! CIBA (OpenID Client-Initiated Backchannel Authentication): a relying party starts a
//! login on the user's phone without a browser, then gets the tokens from the token
//! endpoint with the `auth_req_id`: by polling, or, for a client registered with a
//! notification endpoint (ping mode), once it was told that the login ended. The phone shows the client's login text and the
//! `binding_message`; a login on the back channel has no page, so no number matching.
//! Entitled clients only (`--entitlements ciba`).

use std::collections::HashMap;

use mobileid_core::Msisdn;
use mobileid_store::{Consumed, OidcObject};
use serde::{Deserialize, Serialize};

use super::client::{Entitlement, OidcClient};
use super::error::{MidCode, OAuthError, OidcError};
use super::login::{session_code, Progress, Stage};
use super::login_text;
use super::request::{check_acr, check_scopes, parse_login_hint, AuthRequest, Hint, LoginHint};
use super::tokens::TokenResponse;
use crate::Engine;

const KIND_CIBA: &str = "ciba";
/// Seconds a client waits between polls; polling faster gets `slow_down`.
pub const INTERVAL: u64 = 2;
const DEFAULT_EXPIRY: u64 = 120;
const MAX_EXPIRY: u64 = 600;
const BINDING_MESSAGE_LIMIT: usize = 64;

/// The answer to a backchannel authentication request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CibaStarted {
    pub auth_req_id: String,
    pub expires_in: u64,
    pub interval: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct CibaRequest {
    client_id: String,
    login_id: String,
    /// Ping mode: the bearer token the client gave for its notification endpoint.
    #[serde(default)]
    notification_token: Option<String>,
    /// Unix milliseconds of the last poll, for `slow_down`.
    polled_at: i64,
}

impl Engine {
    /// Checks the request, sends the login to the user's phone, and returns the
    /// `auth_req_id` to poll with.
    pub async fn oidc_ciba_start(
        &self,
        client: &OidcClient,
        params: &HashMap<String, String>,
    ) -> Result<CibaStarted, OidcError> {
        let trace = session_code();
        let refuse = |code: MidCode, why: &str| OidcError::new(code, &trace, why);
        if !client.has(Entitlement::Ciba) {
            return Err(refuse(MidCode::ParameterNotAllowed, "this client may not use CIBA")
                .with_error(OAuthError::UnauthorizedClient));
        }
        if let Some(name) =
            ["login_hint_token", "id_token_hint", "user_code", "request"].iter().find(|n| params.contains_key(**n))
        {
            return Err(refuse(MidCode::ParameterNotAllowed, &format!("{name} is not supported")));
        }
        let scopes = check_scopes(client, params.get("scope").map(String::as_str).unwrap_or_default())
            .map_err(|(code, why)| refuse(code, &why))?;
        let acr = check_acr(client, params.get("acr_values")).map_err(|(code, why)| refuse(code, &why))?;
        let hint = ciba_hint(params.get("login_hint").map(String::as_str)).map_err(|(code, why)| refuse(code, &why))?;
        if acr.checks_serial() && hint.serial.is_none() {
            return Err(refuse(MidCode::Al4WithoutHint, "AL4 needs the serial number in login_hint"));
        }
        let binding = match params.get("binding_message") {
            Some(message)
                if message.chars().count() > BINDING_MESSAGE_LIMIT || message.chars().any(char::is_control) =>
            {
                return Err(refuse(
                    MidCode::InvalidClientRequest,
                    "binding_message: at most 64 characters, no control characters",
                )
                .with_error(OAuthError::InvalidBindingMessage));
            }
            other => other.cloned(),
        };
        let notification_token =
            match (&client.settings.ciba_notification_endpoint, params.get("client_notification_token")) {
                (None, _) => None,
                (Some(_), Some(token)) if !token.is_empty() && token.len() <= 1024 => Some(token.clone()),
                (Some(_), _) => {
                    return Err(refuse(
                        MidCode::InvalidClientRequest,
                        "client_notification_token is required in ping mode (1-1024 characters)",
                    ))
                }
            };
        let expiry = match params.get("requested_expiry") {
            None => DEFAULT_EXPIRY,
            Some(value) => value
                .parse::<u64>()
                .ok()
                .filter(|s| (1..=MAX_EXPIRY).contains(s))
                .ok_or_else(|| refuse(MidCode::InvalidClientRequest, "requested_expiry: 1 to 600 seconds"))?,
        };
        let lang = params.get("ui_locales").filter(|l| ["en", "de", "fr", "it"].contains(&l.as_str())).cloned();
        let text = login_text(lang.as_deref().unwrap_or("en"));
        let request = AuthRequest {
            client_id: client.client_id.clone(),
            redirect_uri: String::new(),
            state: String::new(),
            nonce: None,
            scopes,
            acr,
            code_challenge: String::new(),
            ui_locale: lang,
            login_hint: Some(LoginHint { manual_input: false, hints: vec![hint] }),
            dtbd: Some(match binding {
                Some(message) => format!("{text} {message}"),
                None => text,
            }),
        };
        let (login, _) = self.begin_login(client, request, trace.clone(), false).await.map_err(|e| match e.code {
            MidCode::HintMsisdnInvalid => e.with_error(OAuthError::UnknownUserId),
            _ => e,
        })?;
        let auth_req_id = self.object_id();
        let now = self.now();
        let ciba =
            CibaRequest { client_id: client.client_id.clone(), login_id: login.id, notification_token, polled_at: 0 };
        let object = OidcObject {
            kind: KIND_CIBA.into(),
            id: auth_req_id.clone(),
            grant_id: None,
            data: serde_json::to_string(&ciba).map_err(|e| self.oidc_internal(&trace, e))?,
            created_at: now,
            expires_at: now.plus(std::time::Duration::from_secs(expiry)),
            used_at: None,
        };
        self.store().insert_oidc_object(&object).await.map_err(|e| self.oidc_internal(&trace, e))?;
        Ok(CibaStarted { auth_req_id, expires_in: expiry, interval: INTERVAL })
    }

    /// Ping mode: waits until the login ended (or its request expired) and returns the
    /// bearer token to notify the client with; None in poll mode or when nothing is left.
    pub async fn oidc_ciba_ended(&self, auth_req_id: &str) -> Option<String> {
        let object = self.store().find_oidc_object(KIND_CIBA, auth_req_id, self.now()).await.ok()??;
        let ciba: CibaRequest = serde_json::from_str(&object.data).ok()?;
        let token = ciba.notification_token?;
        let login = self.login_by_id(&ciba.login_id).await?;
        if let Stage::Waiting { transaction_id, .. } = &login.stage {
            let _ = self.wait_for_outcome(transaction_id, None).await;
        }
        Some(token)
    }

    /// `grant_type=urn:openid:params:grant-type:ciba`: pending, slow down, denied,
    /// expired, or the tokens (once).
    pub async fn oidc_ciba_poll(&self, client: &OidcClient, auth_req_id: &str) -> Result<TokenResponse, OidcError> {
        let trace = session_code();
        let answer =
            |error: OAuthError, why: &str| OidcError::new(MidCode::InvalidClientRequest, &trace, why).with_error(error);
        let now = self.now();
        let object = self
            .store()
            .find_oidc_object(KIND_CIBA, auth_req_id, now)
            .await
            .map_err(|e| self.oidc_internal(&trace, e))?
            .filter(|o| o.used_at.is_none())
            .ok_or_else(|| answer(OAuthError::ExpiredToken, "unknown, used or expired auth_req_id"))?;
        let mut ciba: CibaRequest = serde_json::from_str(&object.data).map_err(|e| self.oidc_internal(&trace, e))?;
        if ciba.client_id != client.client_id {
            return Err(answer(OAuthError::InvalidGrant, "the auth_req_id belongs to another client"));
        }
        let too_soon =
            now.as_millis() < ciba.polled_at.saturating_add(i64::try_from(INTERVAL * 1000).unwrap_or(i64::MAX));
        ciba.polled_at = now.as_millis();
        let data = serde_json::to_string(&ciba).map_err(|e| self.oidc_internal(&trace, e))?;
        self.store()
            .update_oidc_object(KIND_CIBA, auth_req_id, &data, now)
            .await
            .map_err(|e| self.oidc_internal(&trace, e))?;
        if too_soon {
            return Err(answer(OAuthError::SlowDown, "poll at most every interval seconds"));
        }
        let mut login = self
            .login_by_id(&ciba.login_id)
            .await
            .ok_or_else(|| answer(OAuthError::ExpiredToken, "the login expired"))?;
        match self.oidc_progress(&mut login).await {
            Progress::Waiting => Err(answer(OAuthError::AuthorizationPending, "the user has not answered yet")),
            Progress::Failed(e) => {
                let _ = self.store().consume_oidc_object(KIND_CIBA, auth_req_id, now).await;
                Err(e.with_error(OAuthError::AccessDenied))
            }
            Progress::Approved => {
                match self
                    .store()
                    .consume_oidc_object(KIND_CIBA, auth_req_id, now)
                    .await
                    .map_err(|e| self.oidc_internal(&trace, e))?
                {
                    Consumed::Fresh(_) => {}
                    _ => return Err(answer(OAuthError::InvalidGrant, "the auth_req_id was already used")),
                }
                let Stage::Consent { user } = login.stage.clone() else {
                    return Err(self.oidc_internal(&trace, "an approved login without its user"));
                };
                let issued = Engine::issued_from(&login, &user);
                self.grant_tokens(client, self.object_id(), &issued).await
            }
        }
    }
}

/// `tel:+41…`, or the guide's JSON with exactly one number (and no manual input).
fn ciba_hint(value: Option<&str>) -> Result<Hint, (MidCode, String)> {
    let value = value.ok_or((MidCode::InvalidClientRequest, "login_hint is missing".to_string()))?;
    if let Some(number) = value.strip_prefix("tel:") {
        let msisdn = Msisdn::parse(number)
            .map_err(|_| (MidCode::HintMsisdnInvalid, format!("{number:?} is not a mobile number")))?;
        return Ok(Hint { msisdn: msisdn.normalized().to_string(), serial: None });
    }
    let hint = parse_login_hint(value)?;
    match <[Hint; 1]>::try_from(hint.hints) {
        Ok([hint]) => Ok(hint),
        Err(_) => Err((MidCode::InvalidClientRequest, "a backchannel login names exactly one number".into())),
    }
}
