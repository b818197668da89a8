//! A login, from the authorization request to the code: the user's number (typed on the
//! page or from `login_hint`), a transaction on their phone that shows the login text
//! with the session code, the outcome, the consent, and the code for the client.
//!
//! The login lives in the store (kind `login`), so every step may reach any node. It is
//! bound to the browser that began it by a cookie, kept only as a keyed hash.

use mobileid_core::device_api::DeviceLocation;
use mobileid_core::{DeviceState, FailureReason, Method, Msisdn, Requester, SignContent, Timestamp, TxKind, TxState};
use mobileid_store::{OidcObject, UserRecord};
use rand::RngCore;
use serde::{Deserialize, Serialize};

use super::client::OidcClient;
use super::error::{MidCode, OidcError};
use super::request::AuthRequest;
use super::tokens::Issued;
use super::vocabulary::Scope;
use super::{random_token, KIND_LOGIN, KIND_PUSH};
use crate::transactions::NewTransaction;
use crate::Engine;

/// How long a user has to finish a login once it began.
const LOGIN_TTL_MS: i64 = 10 * 60 * 1000;
const COOKIE_PURPOSE: &[u8] = b"oidc login browser";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Login {
    pub id: String,
    /// The session code: on the page, on the phone, and in every error's TRACE.
    pub trace: String,
    browser: String,
    pub request: AuthRequest,
    /// The client's display name, for the pages.
    pub client_name: String,
    /// The client wants the user to pick the session code on the phone.
    pub number_matching: bool,
    pub stage: Stage,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "stage", rename_all = "snake_case")]
pub enum Stage {
    /// The page asks for the number.
    Phone,
    /// The phone has the request.
    Waiting { msisdn: String, transaction_id: String },
    /// The user approved on the phone; the page asks for consent.
    Consent { user: Authenticated },
    /// The code went to the client.
    Done,
}

/// Who logged in, and how.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Authenticated {
    pub msisdn: String,
    pub serial: String,
    pub method: Method,
    pub auth_time: Timestamp,
    /// The CMS of the login text (base64), for `mid_cms`.
    pub cms: String,
    /// Where the phone was, as it reported (for `mid_location` and the `_ch` classes).
    #[serde(default)]
    pub location: Option<DeviceLocation>,
}

/// Where a login stands, for the waiting page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    Waiting,
    /// Approved: the consent page is next.
    Approved,
    Failed(OidcError),
}

/// A login refused a step that the page itself can explain (a mistyped number).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginStep {
    /// Show the phone page again with this problem.
    Retry(String),
    /// The login is over: send the client this error.
    Ended(OidcError),
}

/// The 8-character session code, `[A-Z0-9]`.
pub fn session_code() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut bytes = [0u8; 8];
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char).collect()
}

/// `+41 79 *** ** 64` style: the page shows enough to recognise the number, not all of it.
pub fn masked(msisdn: &str) -> String {
    let digits: Vec<char> = msisdn.chars().collect();
    let keep_end = 3.min(digits.len());
    let keep_start = 4.min(digits.len() - keep_end);
    let hidden = digits.len() - keep_start - keep_end;
    format!(
        "+{}{}{}",
        digits[..keep_start].iter().collect::<String>(),
        "*".repeat(hidden),
        digits[digits.len() - keep_end..].iter().collect::<String>()
    )
}

impl Engine {
    /// Starts a login for a checked request; returns it and the browser cookie's value.
    /// A `login_hint` with one number and no manual input pushes to the phone at once.
    pub async fn oidc_begin_login(
        &self,
        client: &OidcClient,
        request: AuthRequest,
        trace: String,
    ) -> Result<(Login, String), OidcError> {
        self.begin_login(client, request, trace, client.settings.number_matching).await
    }

    /// A login, with or without number matching (a back-channel login has no page that
    /// could show the code).
    pub(crate) async fn begin_login(
        &self,
        client: &OidcClient,
        request: AuthRequest,
        trace: String,
        number_matching: bool,
    ) -> Result<(Login, String), OidcError> {
        let cookie = random_token();
        let single_hint = request
            .login_hint
            .as_ref()
            .filter(|hint| !hint.manual_input && hint.hints.len() == 1)
            .map(|hint| hint.hints[0].msisdn.clone());
        let mut login = Login {
            id: self.object_id(),
            trace,
            browser: self.browser_hash(&cookie),
            request,
            client_name: client.settings.name.clone(),
            number_matching,
            stage: Stage::Phone,
        };
        let now = self.now();
        let object = OidcObject {
            kind: KIND_LOGIN.into(),
            id: login.id.clone(),
            grant_id: None,
            data: to_json(&login)?,
            created_at: now,
            expires_at: Timestamp::from_millis(now.as_millis().saturating_add(LOGIN_TTL_MS)),
            used_at: None,
        };
        self.store().insert_oidc_object(&object).await.map_err(|e| self.oidc_internal(&login.trace, e))?;
        if let Some(msisdn) = single_hint {
            match self.oidc_push(&mut login, &msisdn).await {
                Ok(()) => {}
                Err(LoginStep::Ended(e)) => return Err(e),
                Err(LoginStep::Retry(why)) => {
                    return Err(OidcError::new(MidCode::HintMsisdnInvalid, &login.trace, why))
                }
            }
        }
        Ok((login, cookie))
    }

    /// The login with this id, for the back channel (no browser to check).
    pub(crate) async fn login_by_id(&self, id: &str) -> Option<Login> {
        let object = self.store().find_oidc_object(KIND_LOGIN, id, self.now()).await.ok()??;
        serde_json::from_str(&object.data).ok()
    }

    /// The login with this id, if `cookie` is the browser's that began it.
    pub async fn oidc_login(&self, id: &str, cookie: Option<&str>) -> Option<Login> {
        let object = self.store().find_oidc_object(KIND_LOGIN, id, self.now()).await.ok()??;
        let login: Login = serde_json::from_str(&object.data).ok()?;
        let cookie = cookie?;
        (self.browser_hash(cookie) == login.browser).then_some(login)
    }

    /// The number typed on the page: push the login to that user's phone.
    pub async fn oidc_submit_number(&self, login: &mut Login, number: &str) -> Result<(), LoginStep> {
        if login.stage != Stage::Phone {
            return Err(LoginStep::Retry("this login is past the number".into()));
        }
        let msisdn = Msisdn::parse(number).map_err(|_| LoginStep::Retry("not a valid mobile number".into()))?;
        if let Some(hint) = &login.request.login_hint {
            let listed = hint.hints.iter().any(|h| h.msisdn == msisdn.normalized());
            if !listed && !hint.manual_input {
                return Err(LoginStep::Ended(OidcError::new(
                    MidCode::MsisdnNotOwned,
                    &login.trace,
                    "the number is not among the hints",
                )));
            }
        }
        self.oidc_push(login, msisdn.normalized()).await
    }

    /// Sends the login text to the user's phone (a robot answers at once). With number
    /// matching (the client's default), the phone makes the user pick the session code
    /// that the browser shows out of three, so a push the user did not start cannot be
    /// approved by reflex.
    async fn oidc_push(&self, login: &mut Login, msisdn: &str) -> Result<(), LoginStep> {
        let trace = login.trace.clone();
        let ended = |code: MidCode, why: &str| LoginStep::Ended(OidcError::new(code, &trace, why));
        let user = self.store().find_user(msisdn).await.map_err(|e| LoginStep::Ended(self.oidc_internal(&trace, e)))?;
        let Some(user) = user else {
            return Err(LoginStep::Retry("there is no Mobile ID for this number".into()));
        };
        if let Some(code) = user.test_fault {
            return Err(ended(test_fault_code(code), &format!("test number with fault {code}")));
        }
        let device = self.login_device(login, &user).await?;
        let number_matching = login.number_matching && device.method == Method::App;
        let now = self.now();
        // At most one login push per user and minute: a bombing RP gets an error, not a push.
        let minute = now.as_millis().div_euclid(60_000);
        let push = OidcObject {
            kind: KIND_PUSH.into(),
            id: format!("{msisdn}:{minute}"),
            grant_id: None,
            data: "{}".into(),
            created_at: now,
            expires_at: Timestamp::from_millis((minute + 1) * 60_000),
            used_at: None,
        };
        if !self.store().insert_oidc_object(&push).await.map_err(|e| LoginStep::Ended(self.oidc_internal(&trace, e)))? {
            return Err(ended(MidCode::AuthFailed, "a login was already sent to this phone in this minute"));
        }
        let lang = login.request.ui_locale.clone().unwrap_or_else(|| "en".into());
        let template = login.request.dtbd.clone().unwrap_or_else(|| super::login_text(&lang));
        let text = template.replace("#CLIENT#", &login.client_name).replace("#CODE#", &login.trace);
        let new = NewTransaction {
            kind: TxKind::OidcLogin,
            requester: Requester::OidcClient(login.request.client_id.clone()),
            device,
            content: SignContent::Text(text),
            language: lang,
            lifetime: std::time::Duration::from_secs(120),
            number_match: number_matching.then(|| login.trace.clone()),
        };
        let record = self.create(new).await.map_err(|e| LoginStep::Ended(self.oidc_internal(&trace, e)))?;
        login.stage = Stage::Waiting { msisdn: msisdn.to_string(), transaction_id: record.id };
        self.save_login(login).await.map_err(LoginStep::Ended)
    }

    /// The user's device for this login's ACR: an active SIM first (the robots), then the
    /// App, as the guide's method priority says.
    async fn login_device(&self, login: &Login, user: &UserRecord) -> Result<mobileid_store::DeviceRecord, LoginStep> {
        let trace = &login.trace;
        let devices = self
            .store()
            .devices_of_user(&user.msisdn)
            .await
            .map_err(|e| LoginStep::Ended(self.oidc_internal(trace, e)))?;
        let acr = login.request.acr;
        let active = |method: Method| devices.iter().find(|d| d.method == method && d.state == DeviceState::Active);
        let device = [Method::Sim, Method::App]
            .into_iter()
            .filter(|m| if *m == Method::Sim { acr.allows_sim() } else { acr.allows_app() })
            .find_map(active);
        match device {
            Some(device) => Ok(device.clone()),
            None if devices.iter().any(|d| d.state == DeviceState::Blocked) => {
                Err(LoginStep::Ended(OidcError::new(MidCode::AuthFailed, trace, "the user's key is blocked")))
            }
            None if !acr.allows_app() => {
                Err(LoginStep::Ended(OidcError::new(MidCode::SimRequired, trace, "no SIM method")))
            }
            None => Err(LoginStep::Ended(OidcError::new(MidCode::NoMethod, trace, "the user has no active Mobile ID"))),
        }
    }

    /// Where the login stands; an approval moves it to the consent.
    pub async fn oidc_progress(&self, login: &mut Login) -> Progress {
        let (msisdn, transaction_id) = match &login.stage {
            Stage::Phone => return Progress::Waiting,
            Stage::Consent { .. } | Stage::Done => return Progress::Approved,
            Stage::Waiting { msisdn, transaction_id } => (msisdn.clone(), transaction_id.clone()),
        };
        let record = match self.current(&transaction_id, None).await {
            Ok(record) => record,
            Err(e) => return Progress::Failed(self.oidc_internal(&login.trace, e)),
        };
        match record.state {
            TxState::Pending => Progress::Waiting,
            TxState::Failed => {
                let code = match record.failure.map(|f| f.reason) {
                    Some(FailureReason::Declined) => MidCode::Rejected,
                    _ => MidCode::AuthFailed,
                };
                Progress::Failed(OidcError::new(code, &login.trace, "the phone did not approve"))
            }
            TxState::Signed => match self.authenticated(login, &msisdn, &record).await {
                Ok(user) => {
                    login.stage = Stage::Consent { user };
                    match self.save_login(login).await {
                        Ok(()) => Progress::Approved,
                        Err(e) => Progress::Failed(e),
                    }
                }
                Err(e) => Progress::Failed(e),
            },
        }
    }

    async fn authenticated(
        &self,
        login: &Login,
        msisdn: &str,
        record: &mobileid_store::TransactionRecord,
    ) -> Result<Authenticated, OidcError> {
        let user = self
            .store()
            .find_user(msisdn)
            .await
            .map_err(|e| self.oidc_internal(&login.trace, e))?
            .ok_or_else(|| OidcError::new(MidCode::AuthFailed, &login.trace, "the user is gone"))?;
        if login.request.acr.checks_serial() {
            let expected = login
                .request
                .login_hint
                .as_ref()
                .and_then(|hint| hint.hints.iter().find(|h| h.msisdn == msisdn))
                .and_then(|h| h.serial.as_deref());
            if expected != Some(user.serial_number.as_str()) {
                return Err(OidcError::new(MidCode::SerialMismatch, &login.trace, "the serial number does not match"));
            }
        }
        let location: Option<DeviceLocation> =
            record.location.as_deref().and_then(|json| serde_json::from_str(json).ok());
        if login.request.acr.checks_country() && !in_switzerland(location.as_ref()) {
            return Err(OidcError::new(
                MidCode::CountryMismatch,
                &login.trace,
                "the phone is not reliably in Switzerland",
            ));
        }
        let cms = record.signature.as_deref().unwrap_or_default();
        Ok(Authenticated {
            msisdn: msisdn.to_string(),
            serial: user.serial_number,
            method: record.method,
            auth_time: record.completed_at.unwrap_or(record.created_at),
            cms: base64::Engine::encode(&base64::engine::general_purpose::STANDARD, cms),
            location,
        })
    }

    /// The user's answer on the consent page: a code for the client, or its refusal.
    pub async fn oidc_consent(&self, login: &mut Login, confirmed: bool) -> Result<String, OidcError> {
        let Stage::Consent { user } = login.stage.clone() else {
            return Err(OidcError::new(MidCode::InvalidClientRequest, &login.trace, "nothing to consent to yet"));
        };
        if !confirmed {
            login.stage = Stage::Done;
            self.save_login(login).await?;
            return Err(OidcError::new(MidCode::ConsentRejected, &login.trace, "the user declined to share"));
        }
        let code = self.oidc_issue_code(login, &user).await?;
        login.stage = Stage::Done;
        self.save_login(login).await?;
        Ok(code)
    }

    /// True when the login asks only for what needs no consent (a bare sign-in).
    pub fn needs_consent(request: &AuthRequest) -> bool {
        request.scopes.iter().any(|s| !matches!(s, Scope::Openid | Scope::OfflineAccess))
    }

    async fn save_login(&self, login: &Login) -> Result<(), OidcError> {
        let data = to_json(login)?;
        let saved = self
            .store()
            .update_oidc_object(KIND_LOGIN, &login.id, &data, self.now())
            .await
            .map_err(|e| self.oidc_internal(&login.trace, e))?;
        if saved {
            Ok(())
        } else {
            Err(OidcError::new(MidCode::AuthFailed, &login.trace, "the login expired"))
        }
    }

    fn browser_hash(&self, cookie: &str) -> String {
        hex::encode(self.master_key().keyed_hash(COOKIE_PURPOSE, cookie.as_bytes()))
    }

    pub(crate) fn oidc_internal(&self, trace: &str, e: impl std::fmt::Display) -> OidcError {
        tracing::error!(trace, "OpenID provider internal error: {e}");
        OidcError::new(MidCode::Internal, trace, "internal error")
    }

    pub(crate) fn issued_from(login: &Login, user: &Authenticated) -> Issued {
        Issued {
            client_id: login.request.client_id.clone(),
            redirect_uri: login.request.redirect_uri.clone(),
            code_challenge: login.request.code_challenge.clone(),
            nonce: login.request.nonce.clone(),
            scopes: login.request.scopes.clone(),
            acr: login.request.acr,
            method: user.method,
            auth_time: user.auth_time,
            msisdn: user.msisdn.clone(),
            serial: user.serial.clone(),
            cms: user.cms.clone(),
            location: user.location.clone(),
            trace: login.trace.clone(),
        }
    }
}

/// The `_ch` check (guide, footnote 6): in Switzerland, with device and location
/// confidence of at least 0.7 and an accuracy better than 500 m.
fn in_switzerland(location: Option<&DeviceLocation>) -> bool {
    location.is_some_and(|l| {
        l.country == "CH" && l.device_confidence >= 0.7 && l.location_confidence >= 0.7 && l.accuracy < 500.0
    })
}

/// The guide's test numbers fail with their Mobile ID error; mapped to the table's codes.
fn test_fault_code(code: i64) -> MidCode {
    match code {
        401 => MidCode::Rejected,
        404 => MidCode::NoMethod,
        _ => MidCode::AuthFailed,
    }
}

fn to_json<T: Serialize>(value: &T) -> Result<String, OidcError> {
    serde_json::to_string(value).map_err(|e| OidcError::new(MidCode::Internal, "INTERNAL", e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_codes_and_masks() {
        let code = session_code();
        assert_eq!(code.len(), 8);
        assert!(code.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()), "{code}");
        assert_eq!(masked("41797895164"), "+4179****164");
    }
}
