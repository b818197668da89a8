//! The self-service portal's service: accounts (passwords hashed with argon2id, e-mail
//! addresses confirmed by a one-time link, failed logins counted and locked), browser
//! sessions, and a user's own Mobile ID: get one (an activation code for the web
//! authenticator), follow and cancel the enrolment, recovery codes (a new phone keeps the
//! serial number), block a lost phone, and the recent requests.
//!
//! Everything an account does to a Mobile ID goes through its own MSISDN: there is no
//! call that takes another user's device or number.

use std::sync::LazyLock;
use std::time::Duration;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::Engine as _;
use mobileid_core::{AccountState, DeviceState, Method, Msisdn, SerialNumber, SignContent, Timestamp, TxState};
use mobileid_store::{AccountRecord, SessionRecord, TokenOutcome};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::admin::{ActivationCode, UserView};
use crate::devices::random_id;
use crate::{Engine, EngineError};

/// What the operator sets for the portal.
#[derive(Debug, Clone)]
pub struct PortalConfig {
    /// Whether people may sign up by themselves.
    pub signup: bool,
    /// Whether a signed-up account waits for the operator (inactive) once its address is
    /// confirmed, instead of becoming active.
    pub signup_approval: bool,
    /// Failed logins in a row before the account is locked for `lock`.
    pub login_attempts: i64,
    pub lock: Duration,
    pub session_ttl: Duration,
    /// How long an e-mailed link is good.
    pub link_ttl: Duration,
    /// How many recovery codes a set has.
    pub recovery_codes: usize,
    /// How the activation reaches the user's phone.
    pub delivery: Delivery,
    /// Which outcomes of Get Mobile ID are e-mailed to the user.
    pub notify: Notify,
}

/// The seed's notification option: a successful creation (a phone activated on the
/// Mobile ID) and a failed one (the activation expired unused), or neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notify {
    SuccessAndFailure,
    Success,
    Nothing,
}

/// How Get Mobile ID hands the activation to the phone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// A QR code on the portal page (and the link, for the same phone).
    QrCode,
    /// The link, e-mailed to the account's address.
    Email,
}

impl Default for PortalConfig {
    fn default() -> Self {
        PortalConfig {
            signup: false,
            signup_approval: false,
            login_attempts: 5,
            lock: Duration::from_secs(15 * 60),
            session_ttl: Duration::from_secs(8 * 3600),
            link_ttl: Duration::from_secs(24 * 3600),
            recovery_codes: 8,
            delivery: Delivery::QrCode,
            notify: Notify::SuccessAndFailure,
        }
    }
}

/// Why the portal refused; the front end shows each in the user's language.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PortalError {
    #[error("not an e-mail address")]
    EmailInvalid,
    #[error("the password must have 10 to 256 characters")]
    PasswordInvalid,
    #[error("not a phone number: {0}")]
    PhoneInvalid(String),
    #[error("this phone number belongs to another account or Mobile ID")]
    PhoneTaken,
    #[error("signing up is not open")]
    SignupClosed,
    #[error("the link is not valid: {0:?}")]
    LinkRefused(TokenOutcome),
    #[error("the account is not active")]
    NotActive,
    #[error("the account has no phone number")]
    NoPhoneNumber,
    #[error("the Mobile ID is already active on a phone")]
    AlreadyActive,
    #[error("the Mobile ID has no active phone")]
    NoMobileId,
    #[error("that is not an unused recovery code of this Mobile ID")]
    WrongRecoveryCode,
    #[error("no such device")]
    NoSuchDevice,
    #[error("property {0:?}: a name of 1-32 letters, digits, '_' or '-', and a value of 1-64 characters")]
    PropertyInvalid(String),
    #[error("{0}")]
    Internal(String),
}

impl From<mobileid_store::StoreError> for PortalError {
    fn from(e: mobileid_store::StoreError) -> Self {
        PortalError::Internal(e.to_string())
    }
}

impl From<EngineError> for PortalError {
    fn from(e: EngineError) -> Self {
        PortalError::Internal(e.to_string())
    }
}

/// The purposes of e-mailed links.
const CONFIRM: &str = "confirm";
const CONFIRM_FOR_APPROVAL: &str = "confirm-approval";

/// A secret that leaves the server once, by e-mail or in a cookie.
#[derive(Clone)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// A new account, and the link token that confirms its address.
#[derive(Debug)]
pub struct NewAccount {
    pub account: AccountRecord,
    pub token: Secret,
}

/// What a sign-up did. `Exists` is answered like `Created` (the page must not tell who
/// has an account); the owner is told by e-mail instead.
#[derive(Debug)]
pub enum Signup {
    Created(NewAccount),
    Exists(AccountRecord),
}

#[derive(Debug)]
pub enum Login {
    Session {
        token: Secret,
        account: AccountRecord,
    },
    /// A wrong address or password: the same answer for both.
    Refused,
    Locked {
        until: Timestamp,
    },
    /// The right password, but the address is not confirmed yet.
    Unconfirmed,
    /// A Mobile ID that no account manages.
    NoAccount,
}

/// Where the Mobile ID's enrolment stands, as the portal follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enrolment {
    None,
    Waiting {
        expires_at: Timestamp,
    },
    Activated,
    /// Expired or cancelled.
    Ended,
}

/// An account's own Mobile ID, as My Mobile ID shows it.
#[derive(Debug, Clone)]
pub struct MyMobileId {
    pub user: UserView,
    pub recent: Vec<RecentRequest>,
    pub recovery_codes_left: i64,
}

#[derive(Debug, Clone)]
pub struct RecentRequest {
    pub at: Timestamp,
    pub requester: String,
    /// The text, or the document's name.
    pub what: String,
    pub state: TxState,
}

/// The portal's client of our own OpenID provider: a user with an active Mobile ID logs
/// in with it (no second login system). Its secret is made at registration and told to
/// nobody, so nobody can redeem its codes at the token endpoint; the portal redeems them
/// in the process.
pub const PORTAL_CLIENT_ID: &str = "mobileid-self-service";
/// Where the provider sends the browser back, under the issuer.
pub const PORTAL_CALLBACK: &str = "/portal/oidc/callback";

/// What the browser keeps between the redirect to the provider and the way back: the
/// state, the nonce and the PKCE verifier.
#[derive(Clone)]
pub struct LoginRedirect {
    pub url: String,
    pub state: String,
    pub nonce: String,
    pub verifier: String,
}

impl std::fmt::Debug for LoginRedirect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRedirect").field("url", &self.url).finish_non_exhaustive()
    }
}

/// An account as the operator creates it.
#[derive(Debug, Clone)]
pub struct AccountSpec<'a> {
    pub email: &'a str,
    pub msisdn: Option<&'a str>,
    pub language: &'a str,
    /// Name and value of each property.
    pub properties: &'a [(String, String)],
}

static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| hash_password("a password nobody has").unwrap_or_default());

impl Engine {
    /// Where users manage their Mobile ID: the configured URL, or this platform's own
    /// portal on the browser port.
    pub fn portal_url(&self) -> Option<String> {
        if let Some(url) = &self.config().portal_url {
            return Some(url.clone());
        }
        let issuer = self.oidc_issuer().trim_end_matches('/');
        (!issuer.is_empty()).then(|| format!("{issuer}/portal/"))
    }

    fn portal_config(&self) -> &PortalConfig {
        &self.config().portal
    }

    /// An operator creates an account: active once its owner has confirmed the address and
    /// set a password from the link.
    pub async fn create_account(&self, spec: &AccountSpec<'_>) -> Result<NewAccount, PortalError> {
        for (name, value) in spec.properties {
            let name_fine = (1..=32).contains(&name.len())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !name_fine || value.is_empty() || value.chars().count() > 64 || value.chars().any(char::is_control) {
                return Err(PortalError::PropertyInvalid(name.clone()));
            }
        }
        let properties: serde_json::Map<String, serde_json::Value> =
            spec.properties.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect();
        self.new_account(
            spec.email,
            None,
            spec.msisdn,
            spec.language,
            &serde_json::Value::Object(properties).to_string(),
            CONFIRM,
        )
        .await
    }

    /// Somebody signs up with an address, a password and their phone number.
    pub async fn sign_up(
        &self,
        email: &str,
        password: &str,
        msisdn: &str,
        language: &str,
    ) -> Result<Signup, PortalError> {
        if !self.portal_config().signup {
            return Err(PortalError::SignupClosed);
        }
        let email = normalise_email(email)?;
        check_password(password)?;
        if let Some(existing) = self.store().find_account_by_email(&email).await? {
            return Ok(Signup::Exists(existing));
        }
        let hash = self.hash(password).await?;
        let purpose = if self.portal_config().signup_approval { CONFIRM_FOR_APPROVAL } else { CONFIRM };
        Ok(Signup::Created(self.new_account(&email, Some(hash), Some(msisdn), language, "{}", purpose).await?))
    }

    async fn new_account(
        &self,
        email: &str,
        password_hash: Option<String>,
        msisdn: Option<&str>,
        language: &str,
        properties: &str,
        purpose: &str,
    ) -> Result<NewAccount, PortalError> {
        let email = normalise_email(email)?;
        let msisdn = msisdn.map(|m| self.free_number(m)).transpose()?;
        if let Some(msisdn) = &msisdn {
            // A number that already has a Mobile ID is the operator's to link (an operator's
            // account comes without a password), not anyone's to claim by signing up.
            let signing_up = password_hash.is_some();
            if (signing_up && self.store().find_user(msisdn).await?.is_some())
                || self.store().find_account_by_msisdn(msisdn).await?.is_some()
            {
                return Err(PortalError::PhoneTaken);
            }
        }
        let account = AccountRecord {
            account_id: random_id("acc"),
            email,
            password_hash,
            msisdn,
            state: AccountState::Unverified,
            language: language.to_string(),
            properties: properties.to_string(),
            failed_logins: 0,
            locked_until: Timestamp::from_millis(0),
            created_at: self.now(),
        };
        if !self.store().insert_account(&account).await? {
            return Err(PortalError::PhoneTaken);
        }
        let token = self.new_link(&account.account_id, purpose).await?;
        tracing::info!(account = %account.account_id, "account created");
        Ok(NewAccount { account, token })
    }

    fn free_number(&self, msisdn: &str) -> Result<String, PortalError> {
        let parsed = Msisdn::parse(msisdn).map_err(|f| PortalError::PhoneInvalid(f.detail))?;
        if mobileid_core::testnumbers::classify(&parsed).is_some() {
            return Err(PortalError::PhoneTaken);
        }
        Ok(parsed.normalized().to_string())
    }

    async fn new_link(&self, account_id: &str, purpose: &str) -> Result<Secret, PortalError> {
        let token = random_secret();
        let expires = self.now().plus(self.portal_config().link_ttl);
        self.store().insert_account_token(&sha256_hex(&token), account_id, purpose, expires).await?;
        Ok(Secret(token))
    }

    /// A new confirmation link for an operator to hand out again.
    pub async fn new_confirmation_link(&self, email: &str) -> Result<(AccountRecord, Secret), PortalError> {
        let account = self.account_by_email(email).await?;
        let token = self.new_link(&account.account_id, CONFIRM).await?;
        Ok((account, token))
    }

    async fn account_by_email(&self, email: &str) -> Result<AccountRecord, PortalError> {
        self.store().find_account_by_email(&normalise_email(email)?).await?.ok_or(PortalError::EmailInvalid)
    }

    /// The account a confirmation link is for, without spending it; and whether it still
    /// needs a password.
    pub async fn check_confirmation(&self, token: &str) -> Result<(AccountRecord, bool), PortalError> {
        let hash = sha256_hex(token);
        let now = self.now();
        let mut outcome = self.store().check_account_token(&hash, CONFIRM, now).await?;
        if outcome == TokenOutcome::Unknown {
            outcome = self.store().check_account_token(&hash, CONFIRM_FOR_APPROVAL, now).await?;
        }
        let TokenOutcome::Taken(account_id) = outcome else { return Err(PortalError::LinkRefused(outcome)) };
        let account =
            self.store().find_account(&account_id).await?.ok_or(PortalError::LinkRefused(TokenOutcome::Unknown))?;
        let needs_password = account.password_hash.is_none();
        Ok((account, needs_password))
    }

    /// Spends a confirmation link: the address is confirmed, and the password set if the
    /// account has none (or `password` is given).
    pub async fn confirm_account(&self, token: &str, password: Option<&str>) -> Result<AccountRecord, PortalError> {
        let (account, needs_password) = self.check_confirmation(token).await?;
        let hash = match password {
            Some(password) => {
                check_password(password)?;
                Some(self.hash(password).await?)
            }
            None if needs_password => return Err(PortalError::PasswordInvalid),
            None => None,
        };
        let token_hash = sha256_hex(token);
        let now = self.now();
        let mut taken = self.store().take_account_token(&token_hash, CONFIRM, now).await?;
        let mut state = AccountState::Active;
        if taken == TokenOutcome::Unknown {
            taken = self.store().take_account_token(&token_hash, CONFIRM_FOR_APPROVAL, now).await?;
            state = AccountState::Inactive;
        }
        if taken != TokenOutcome::Taken(account.account_id.clone()) {
            return Err(PortalError::LinkRefused(taken));
        }
        if let Some(hash) = hash {
            self.store().set_account_password(&account.account_id, &hash).await?;
            self.store().delete_sessions_of(&account.account_id).await?;
        }
        if account.state == AccountState::Unverified {
            self.store().set_account_state(&account.account_id, state).await?;
        }
        tracing::info!(account = %account.account_id, "account confirmed");
        Ok(self.store().find_account(&account.account_id).await?.unwrap_or(account))
    }

    /// Checks an address and password. Unknown addresses cost the same argon2 work as known
    /// ones, so timing tells nobody which exist.
    pub async fn log_in(&self, email: &str, password: &str) -> Result<Login, PortalError> {
        let Ok(email) = normalise_email(email) else { return Ok(Login::Refused) };
        if password.len() > 256 {
            return Ok(Login::Refused);
        }
        let account = self.store().find_account_by_email(&email).await?;
        let now = self.now();
        if let Some(account) = &account {
            if account.locked_until > now {
                return Ok(Login::Locked { until: account.locked_until });
            }
        }
        let hash = account.as_ref().and_then(|a| a.password_hash.clone()).unwrap_or_else(|| DUMMY_HASH.clone());
        let password = password.to_string();
        let right = self
            .compute(move || verify_password(&password, &hash))
            .await
            .map_err(|e| PortalError::Internal(e.to_string()))?;
        let Some(account) = account.filter(|a| a.password_hash.is_some()) else { return Ok(Login::Refused) };
        if !right {
            let config = self.portal_config();
            let until = self
                .store()
                .record_login_failure(&account.account_id, config.login_attempts, now.plus(config.lock))
                .await?;
            tracing::warn!(account = %account.account_id, "wrong password");
            return Ok(if until > now { Login::Locked { until } } else { Login::Refused });
        }
        if account.state == AccountState::Unverified {
            return Ok(Login::Unconfirmed);
        }
        if account.failed_logins != 0 {
            self.store().reset_login_failures(&account.account_id).await?;
        }
        self.new_session(account).await
    }

    /// Registers (or renews) the portal's client of our OpenID provider; called once the
    /// browser port's address is known.
    pub async fn register_portal_client(&self) -> Result<(), EngineError> {
        use crate::oidc::client::{AuthMethod, ClientSettings};
        use crate::oidc::vocabulary::{Acr, Scope};
        let settings = ClientSettings {
            name: "Mobile ID self-service".into(),
            redirect_uris: vec![format!("{}{PORTAL_CALLBACK}", self.oidc_issuer().trim_end_matches('/'))],
            auth_method: AuthMethod::ClientSecretBasic,
            jwks: Vec::new(),
            allowed_acrs: vec![Acr::Al3Any],
            default_acr: Acr::Al3Any,
            scopes: vec![Scope::Openid],
            entitlements: Vec::new(),
            userinfo_signed: false,
            id_token_alg: "ES256".into(),
            number_matching: true,
            require_nonce: true,
            post_logout_redirect_uris: Vec::new(),
            ciba_notification_endpoint: None,
        };
        let current = self.oidc_client(PORTAL_CLIENT_ID).await?;
        if current.is_none_or(|c| c.settings != settings) {
            self.register_oidc_client(PORTAL_CLIENT_ID, settings).await?;
        }
        Ok(())
    }

    /// Where to send the browser to log in with Mobile ID, and what it must bring back.
    pub fn mobile_id_login(&self, language: &str) -> LoginRedirect {
        let (state, nonce, verifier) = (random_secret(), random_secret(), random_secret());
        let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        let issuer = self.oidc_issuer().trim_end_matches('/');
        let redirect_uri = format!("{issuer}{PORTAL_CALLBACK}");
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("client_id", PORTAL_CLIENT_ID),
                ("response_type", "code"),
                ("scope", "openid"),
                ("redirect_uri", redirect_uri.as_str()),
                ("state", state.as_str()),
                ("nonce", nonce.as_str()),
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", "S256"),
                ("ui_locales", language),
            ])
            .finish();
        LoginRedirect { url: format!("{issuer}{}?{query}", crate::oidc::paths::AUTHORIZE), state, nonce, verifier }
    }

    /// The way back from the provider: the code is redeemed here (PKCE, nonce), and the
    /// account of the Mobile ID that approved the login gets a session.
    pub async fn log_in_with_mobile_id(&self, code: &str, verifier: &str, nonce: &str) -> Result<Login, PortalError> {
        let client =
            self.oidc_client(PORTAL_CLIENT_ID).await?.ok_or(PortalError::Internal("no portal client".into()))?;
        let redirect_uri = format!("{}{PORTAL_CALLBACK}", self.oidc_issuer().trim_end_matches('/'));
        let issued = match self.take_code(&client, code, Some(&redirect_uri), Some(verifier)).await {
            Ok((issued, _)) => issued,
            Err(e) => {
                tracing::warn!(detail = e.detail, "a Mobile ID login of the portal was refused");
                return Ok(Login::Refused);
            }
        };
        if issued.nonce.as_deref() != Some(nonce) {
            tracing::warn!("a Mobile ID login of the portal came back with another nonce");
            return Ok(Login::Refused);
        }
        let Some(account) = self.store().find_account_by_msisdn(&issued.msisdn).await? else {
            return Ok(Login::NoAccount);
        };
        if account.state == AccountState::Unverified {
            return Ok(Login::Unconfirmed);
        }
        self.new_session(account).await
    }

    async fn new_session(&self, account: AccountRecord) -> Result<Login, PortalError> {
        let now = self.now();
        let token = random_secret();
        let session = SessionRecord {
            account_id: account.account_id.clone(),
            csrf_token: random_secret(),
            expires_at: now.plus(self.portal_config().session_ttl),
        };
        self.store().insert_session(&sha256_hex(&token), &session, now).await?;
        tracing::info!(account = %account.account_id, "logged in");
        Ok(Login::Session { token: Secret(token), account })
    }

    /// The account and session of a session cookie, if it is current.
    pub async fn portal_session(&self, token: &str) -> Result<Option<(AccountRecord, SessionRecord)>, PortalError> {
        let Some(session) = self.store().find_session(&sha256_hex(token), self.now()).await? else { return Ok(None) };
        let account = self.store().find_account(&session.account_id).await?;
        Ok(account.map(|a| (a, session)))
    }

    pub async fn log_out(&self, token: &str) -> Result<(), PortalError> {
        Ok(self.store().delete_session(&sha256_hex(token)).await?)
    }

    /// The operator switches an account on or off; switching off ends its sessions.
    pub async fn set_account_state(&self, email: &str, state: AccountState) -> Result<AccountRecord, PortalError> {
        let account = self.account_by_email(email).await?;
        self.store().set_account_state(&account.account_id, state).await?;
        if state != AccountState::Active {
            self.store().delete_sessions_of(&account.account_id).await?;
        }
        Ok(AccountRecord { state, ..account })
    }

    /// The subject attributes of a user's next certificate: the configured properties of
    /// their account that it has.
    pub(crate) async fn subject_properties(
        &self,
        msisdn: &str,
    ) -> Result<Vec<(mobileid_crypto::SubjectAttribute, String)>, PortalError> {
        let wanted = &self.config().subject_properties;
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let Some(account) = self.store().find_account_by_msisdn(msisdn).await? else { return Ok(Vec::new()) };
        let properties: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&account.properties).unwrap_or_default();
        Ok(wanted
            .iter()
            .filter_map(|(name, attribute)| Some((*attribute, properties.get(name)?.as_str()?.to_string())))
            .collect())
    }

    /// The account that manages the Mobile ID of `msisdn` (normalised), if any.
    pub async fn account_of_user(&self, msisdn: &str) -> Result<Option<AccountRecord>, PortalError> {
        Ok(self.store().find_account_by_msisdn(msisdn).await?)
    }

    pub async fn list_accounts(&self) -> Result<Vec<AccountRecord>, PortalError> {
        Ok(self.store().list_accounts().await?)
    }

    /// Starts getting a Mobile ID: an activation code for the account's number. With a
    /// recovery code the Mobile ID keeps its serial number; without one, a number whose
    /// Mobile ID had phones before gets a new serial number. A Mobile ID that is active on
    /// a phone must be moved with a recovery code, or its phone blocked first.
    pub async fn start_enrolment(
        &self,
        account: &AccountRecord,
        recovery_code: Option<&str>,
    ) -> Result<ActivationCode, PortalError> {
        if account.state != AccountState::Active {
            return Err(PortalError::NotActive);
        }
        let msisdn = account.msisdn.as_deref().ok_or(PortalError::NoPhoneNumber)?;
        let existing = self.store().find_user_and_devices(msisdn).await?;
        let had_phones = self.store().certificates_of_user(msisdn).await?.len();
        match recovery_code {
            Some(code) => {
                if existing.is_none()
                    || !self.store().take_recovery_code(msisdn, &self.recovery_hash(code), self.now()).await?
                {
                    tracing::warn!(account = %account.account_id, "wrong recovery code");
                    return Err(PortalError::WrongRecoveryCode);
                }
                tracing::info!(account = %account.account_id, "recovery code spent");
            }
            None => {
                if let Some((user, devices)) = &existing {
                    if devices.iter().any(|d| d.method == Method::App && d.state == DeviceState::Active) {
                        return Err(PortalError::AlreadyActive);
                    }
                    if had_phones > 0 {
                        self.store().set_user_serial(&user.msisdn, SerialNumber::generate().as_str()).await?;
                        self.store().replace_recovery_codes(msisdn, &[], self.now()).await?;
                    }
                }
            }
        }
        self.store().cancel_activation_codes(msisdn, self.now()).await?;
        Ok(self.add_user(msisdn).await?)
    }

    /// Where the account's enrolment stands.
    pub async fn enrolment(&self, account: &AccountRecord) -> Result<Enrolment, PortalError> {
        let Some(msisdn) = &account.msisdn else { return Ok(Enrolment::None) };
        let Some((expires_at, used)) = self.store().latest_activation_code_expiry(msisdn).await? else {
            return Ok(Enrolment::None);
        };
        Ok(match used {
            // The code is spent when the activation begins; the phone counts from when its
            // device is stored (certificates, and escrowed keys, come in between).
            Some(used) if self.has_active_phone_since(msisdn, used).await? => Enrolment::Activated,
            Some(_) => Enrolment::Waiting { expires_at },
            None if expires_at > self.now() => Enrolment::Waiting { expires_at },
            None => Enrolment::Ended,
        })
    }

    /// The accounts whose activation expired unused since the last look (a day at most),
    /// each claimed once across nodes: to be told that no Mobile ID was created.
    pub async fn expired_enrolments(&self) -> Result<Vec<AccountRecord>, PortalError> {
        let now = self.now();
        let since = now.minus(Duration::from_secs(24 * 3600));
        let mut accounts = Vec::new();
        for msisdn in self.store().take_expired_codes(since, now).await? {
            if let Some(account) = self.store().find_account_by_msisdn(&msisdn).await? {
                accounts.push(account);
            }
        }
        Ok(accounts)
    }

    /// Removes expired portal sessions and e-mailed links, in batches (`crate::purge`).
    pub async fn purge_portal(&self) -> Result<u64, PortalError> {
        let now = self.now();
        Ok(crate::purge::in_batches(|limit| self.store().purge_portal(now, limit)).await?)
    }

    async fn has_active_phone(&self, msisdn: &str) -> Result<bool, PortalError> {
        self.has_active_phone_since(msisdn, Timestamp::from_millis(0)).await
    }

    /// Whether the user has an active phone stored at or after `since`.
    async fn has_active_phone_since(&self, msisdn: &str, since: Timestamp) -> Result<bool, PortalError> {
        let found = self.store().find_user_and_devices(msisdn).await?;
        Ok(found.is_some_and(|(_, devices)| {
            devices.iter().any(|d| d.method == Method::App && d.state == DeviceState::Active && d.created_at >= since)
        }))
    }

    /// Cancels a waiting enrolment: its code no longer activates anything.
    pub async fn cancel_enrolment(&self, account: &AccountRecord) -> Result<(), PortalError> {
        if let Some(msisdn) = &account.msisdn {
            self.store().cancel_activation_codes(msisdn, self.now()).await?;
        }
        Ok(())
    }

    /// The account's Mobile ID; None if it has none.
    pub async fn my_mobile_id(&self, account: &AccountRecord) -> Result<Option<MyMobileId>, PortalError> {
        let Some(msisdn) = &account.msisdn else { return Ok(None) };
        let Some(user) = self.show_user(msisdn).await? else { return Ok(None) };
        let mut recent = Vec::new();
        for t in self.store().recent_transactions(msisdn, 10).await? {
            recent.push(RecentRequest {
                at: t.created_at,
                requester: self.requester_name(&t.requester).await,
                what: match t.content {
                    SignContent::Text(text) => text,
                    SignContent::TxnApproval(approval) => approval.title,
                    SignContent::Document { name, .. } => name,
                },
                state: t.state,
            });
        }
        let (recovery_codes_left, _) = self.store().recovery_codes_left(msisdn).await?;
        Ok(Some(MyMobileId { user, recent, recovery_codes_left }))
    }

    /// A new set of recovery codes for the account's active Mobile ID, shown once; the
    /// unused codes of the set before stop working.
    pub async fn new_recovery_codes(&self, account: &AccountRecord) -> Result<Vec<String>, PortalError> {
        let msisdn = account.msisdn.as_deref().ok_or(PortalError::NoPhoneNumber)?;
        if !self.has_active_phone(msisdn).await? {
            return Err(PortalError::NoMobileId);
        }
        let codes: Vec<String> = (0..self.portal_config().recovery_codes).map(|_| new_recovery_code()).collect();
        let hashes: Vec<String> = codes.iter().map(|c| self.recovery_hash(c)).collect();
        self.store().replace_recovery_codes(msisdn, &hashes, self.now()).await?;
        tracing::info!(account = %account.account_id, "new recovery codes");
        Ok(codes)
    }

    /// The first set of recovery codes after a phone was activated, made when the portal
    /// first asks; None once a set was made for the current phone.
    pub async fn recovery_codes_after_activation(
        &self,
        account: &AccountRecord,
    ) -> Result<Option<Vec<String>>, PortalError> {
        let msisdn = account.msisdn.as_deref().ok_or(PortalError::NoPhoneNumber)?;
        let Some((_, devices)) = self.store().find_user_and_devices(msisdn).await? else { return Ok(None) };
        let Some(phone) = devices.iter().find(|d| d.method == Method::App && d.state == DeviceState::Active) else {
            return Ok(None);
        };
        let (_, newest) = self.store().recovery_codes_left(msisdn).await?;
        if newest.is_some_and(|made| made >= phone.created_at) {
            return Ok(None);
        }
        self.new_recovery_codes(account).await.map(Some)
    }

    /// Blocks one of the account's own phones (lost or stolen): its certificates are
    /// revoked at once. Another user's device is `NoSuchDevice`, as is an unknown one.
    pub async fn block_own_device(&self, account: &AccountRecord, device_id: &str) -> Result<(), PortalError> {
        let msisdn = account.msisdn.as_deref().ok_or(PortalError::NoSuchDevice)?;
        let device = self.store().find_device(device_id).await?;
        if !device.is_some_and(|d| d.msisdn == msisdn && d.method == Method::App) {
            tracing::warn!(account = %account.account_id, "refused to block a device that is not the account's");
            return Err(PortalError::NoSuchDevice);
        }
        self.block_device(device_id).await?;
        Ok(())
    }

    async fn hash(&self, password: &str) -> Result<String, PortalError> {
        let password = password.to_string();
        self.compute(move || hash_password(&password))
            .await
            .map_err(|e| PortalError::Internal(e.to_string()))?
            .map_err(PortalError::Internal)
    }

    fn recovery_hash(&self, code: &str) -> String {
        let normalised: String =
            code.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_uppercase()).collect();
        hex::encode(self.master_key().keyed_hash(b"recovery code", normalised.as_bytes()))
    }
}

/// Whether a form carried its session's CSRF token (compared in constant time).
pub fn csrf_matches(session: &SessionRecord, sent: &str) -> bool {
    crate::oidc::client::equal_in_constant_time(session.csrf_token.as_bytes(), sent.as_bytes())
}

fn normalise_email(email: &str) -> Result<String, PortalError> {
    let email = email.trim().to_lowercase();
    let (local, domain) = email.split_once('@').ok_or(PortalError::EmailInvalid)?;
    let fine = !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && email.len() <= 254
        && email.chars().all(|c| c.is_alphanumeric() || "@.!#$%&'*+/=?^_`{|}~-".contains(c));
    if fine {
        Ok(email)
    } else {
        Err(PortalError::EmailInvalid)
    }
}

fn check_password(password: &str) -> Result<(), PortalError> {
    let length = password.chars().count();
    if (10..=256).contains(&length) {
        Ok(())
    } else {
        Err(PortalError::PasswordInvalid)
    }
}

fn hash_password(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default().hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).map_err(|e| e.to_string())
}

fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
}

fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Ten characters that cannot be confused with each other, in two groups: 50 bits.
fn new_recovery_code() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
    let mut bytes = [0u8; 10];
    rand::thread_rng().fill_bytes(&mut bytes);
    let chars: String = bytes.iter().map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char).collect();
    format!("{}-{}", &chars[..5], &chars[5..])
}

fn sha256_hex(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_lower_cased_and_checked() {
        assert_eq!(normalise_email(" Anna.Muster@Example.CH ").as_deref(), Ok("anna.muster@example.ch"));
        for bad in ["anna", "@example.ch", "anna@localhost", "anna@x@y.ch", "an na@example.ch", "anna@.ch", "<a>@b.ch"]
        {
            assert_eq!(normalise_email(bad), Err(PortalError::EmailInvalid), "{bad}");
        }
    }

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let hash = hash_password("correct horse battery").expect("hash");
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("correct horse batterY", &hash));
        assert!(!verify_password("x", "not a hash"));
        assert_eq!(check_password("short"), Err(PortalError::PasswordInvalid));
    }

    #[test]
    fn recovery_codes_have_two_groups_of_five() {
        let code = new_recovery_code();
        assert_eq!(code.len(), 11);
        assert_eq!(&code[5..6], "-");
        assert_ne!(code, new_recovery_code());
    }
}
