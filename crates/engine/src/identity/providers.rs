//! External identity providers (fidentity, IDnow and the like) behind one interface: the
//! platform starts a session at the provider, sends the user there, and receives the
//! result by a signed webhook (the protocol is in docs/identity-verification.md).
//!
//! A webhook is signed with HMAC-SHA256 under the secret shared with the provider:
//! `Mobileid-Signature: t=<unix seconds>,v1=<hex of HMAC(secret, "<t>.<body>")>`. It is
//! refused when the signature is wrong, when `t` is more than five minutes from our clock,
//! and when its `event_id` was received before; a refused webhook changes nothing.
//!
//! The fake provider ([`FAKE`]) runs inside the platform for tests and demos: its page
//! lets a tester approve or refuse, and it delivers its result through the same signed
//! webhook path.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use mobileid_crypto::hmac_sha256;
use mobileid_store::{Decided, VerificationRecord};
use serde::Deserialize;
use serde_json::{json, Value};

use super::review::{Outcome, ProviderEvent};
use super::verification::{state, Check, VerificationError};
use crate::Engine;

/// The name of the built-in fake provider.
pub const FAKE: &str = "fake";
/// The header that carries a webhook's signature.
pub const SIGNATURE_HEADER: &str = "mobileid-signature";
/// How far a webhook's time may be from ours.
const WEBHOOK_WINDOW_SECONDS: i64 = 300;

/// The provider an operator configured.
#[derive(Clone)]
pub struct ProviderConfig {
    /// As it appears in webhook URLs and the evidence: `fake`, or the operator's name for
    /// an external one.
    pub name: String,
    /// Who the user is told verifies them (the legal information page).
    pub legal_name: String,
    /// Where sessions are started (None for the fake provider, which is built in).
    pub start_url: Option<String>,
    /// The HMAC secret shared with the provider.
    pub secret: String,
}

impl std::fmt::Debug for ProviderConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderConfig")
            .field("name", &self.name)
            .field("start_url", &self.start_url)
            .finish_non_exhaustive()
    }
}

/// What a provider is told when a session starts.
#[derive(Debug, Clone)]
pub struct ProviderStart {
    pub verification_id: String,
    pub stated_name: String,
    pub language: String,
}

/// A session at the provider: its id (the webhook names it) and where the user goes.
#[derive(Debug, Clone)]
pub struct ProviderSession {
    pub session_id: String,
    pub url: String,
}

/// An identity provider: starts a session for a verification.
pub trait IdentityProvider: Send + Sync {
    fn name(&self) -> &str;
    fn start(&self, start: ProviderStart)
        -> Pin<Box<dyn Future<Output = Result<ProviderSession, String>> + Send + '_>>;
}

/// The built-in fake provider: a session is a page of our own (`/identify/fake-provider/`).
pub struct FakeProvider;

impl IdentityProvider for FakeProvider {
    fn name(&self) -> &str {
        FAKE
    }

    fn start(&self, _: ProviderStart) -> Pin<Box<dyn Future<Output = Result<ProviderSession, String>> + Send + '_>> {
        Box::pin(async {
            let session_id = crate::devices::random_id("fake");
            Ok(ProviderSession { url: format!("{FAKE_PAGES}{session_id}"), session_id })
        })
    }
}

/// Where the fake provider's pages are.
pub const FAKE_PAGES: &str = "/identify/fake-provider/";

/// Why a webhook was refused.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("no identity provider {0:?} is configured")]
    UnknownProvider(String),
    #[error("the signature is missing or wrong")]
    Forged,
    #[error("the webhook's time is too far from ours")]
    Stale,
    #[error("the webhook's body is not valid: {0}")]
    Malformed(String),
    #[error("no verification has this session")]
    UnknownSession,
    #[error("this event was received before")]
    Replayed,
    #[error("the verification was decided before")]
    Decided,
    #[error(transparent)]
    Internal(#[from] crate::EngineError),
}

/// A provider's result, as its webhook sends it.
#[derive(Debug, Deserialize)]
struct WebhookBody {
    event_id: String,
    session_id: String,
    /// approved or rejected.
    outcome: String,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    person: Option<Person>,
}

#[derive(Debug, Deserialize)]
struct Person {
    given_names: String,
    surname: String,
}

/// The signature header of `body` at `time` (unix seconds) under `secret`.
pub fn sign_webhook(secret: &str, time: i64, body: &[u8]) -> String {
    let mut message = format!("{time}.").into_bytes();
    message.extend_from_slice(body);
    format!("t={time},v1={}", hex::encode(hmac_sha256(secret.as_bytes(), &message)))
}

impl Engine {
    /// Sets the identity provider (the front end that knows the network makes the
    /// external ones).
    pub fn set_identity_provider(&self, provider: Arc<dyn IdentityProvider>) {
        let _ = self.inner.identity_provider.set(provider);
    }

    pub(crate) fn identity_provider(&self) -> Option<&Arc<dyn IdentityProvider>> {
        self.inner.identity_provider.get()
    }

    /// A provider's webhook: checked, then the verification it names goes on (to the
    /// review desk or decided, as the operator's policy says).
    pub async fn provider_webhook(
        &self,
        provider: &str,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<VerificationRecord, WebhookError> {
        let config = self.config().identity.provider.as_ref().filter(|p| p.name == provider);
        let config = config.ok_or_else(|| WebhookError::UnknownProvider(provider.to_string()))?;
        self.check_webhook_signature(&config.secret, signature, body)?;
        let parsed: WebhookBody = serde_json::from_slice(body).map_err(|e| WebhookError::Malformed(e.to_string()))?;
        if parsed.event_id.is_empty() || parsed.event_id.len() > 128 {
            return Err(WebhookError::Malformed("event_id must have 1 to 128 characters".into()));
        }
        let record = self
            .store()
            .find_verification_by_provider_session(provider, &parsed.session_id)
            .await
            .map_err(crate::EngineError::from)?
            .ok_or(WebhookError::UnknownSession)?;
        let result: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let event = ProviderEvent { provider: provider.to_string(), event_id: parsed.event_id.clone(), result };
        let outcome = match (parsed.outcome.as_str(), parsed.person) {
            ("approved", Some(person)) => {
                Outcome::Verified { given_names: person.given_names, surname: person.surname }
            }
            ("approved", None) => return Err(WebhookError::Malformed("an approval names the person".into())),
            ("rejected", _) => Outcome::Rejected { reason: parsed.reason.unwrap_or_else(|| "refused".into()) },
            (other, _) => return Err(WebhookError::Malformed(format!("unknown outcome {other:?}"))),
        };
        let approved = matches!(outcome, Outcome::Verified { .. });
        if self.config().identity.review.needs_human(approved) {
            return self.provider_result_to_desk(record, event, &outcome).await;
        }
        let by = format!("provider:{provider}");
        let decided = self.decide_verification(&record, &[state::PROVIDER], outcome, &by, Some(event));
        decided.await.map_err(|e| match e {
            VerificationError::Replayed => WebhookError::Replayed,
            VerificationError::WrongState(_) => WebhookError::Decided,
            VerificationError::Engine(e) => WebhookError::Internal(e),
            other => WebhookError::Internal(crate::EngineError::Invalid(other.to_string())),
        })
    }

    /// A provider's result that an operator is to confirm: kept as the verification's
    /// check, and the verification goes to the review desk.
    async fn provider_result_to_desk(
        &self,
        mut record: VerificationRecord,
        event: ProviderEvent,
        outcome: &Outcome,
    ) -> Result<VerificationRecord, WebhookError> {
        let value = match outcome {
            Outcome::Verified { given_names, surname } => format!("approved: {given_names} {surname}"),
            Outcome::Rejected { reason } => format!("rejected: {reason}"),
        };
        let check =
            Check { check: format!("provider:{}", event.provider), ok: outcome.state() == state::VERIFIED, value };
        record.checks = Some(json!([check]).to_string());
        if let Outcome::Verified { given_names, surname } = outcome {
            record.given_names = Some(given_names.clone());
            record.surname = Some(surname.clone());
        }
        record.state = state::REVIEW.into();
        record.updated_at = self.now();
        let saved = self
            .store()
            .save_verification_with_event(&record, state::PROVIDER, &event.provider, &event.event_id, self.now())
            .await
            .map_err(crate::EngineError::from)?;
        match saved {
            Decided::Written => Ok(record),
            Decided::Replayed => Err(WebhookError::Replayed),
            Decided::NotOpen => Err(WebhookError::Decided),
        }
    }

    fn check_webhook_signature(&self, secret: &str, header: Option<&str>, body: &[u8]) -> Result<(), WebhookError> {
        let header = header.ok_or(WebhookError::Forged)?;
        let mut time = None;
        let mut mac = None;
        for part in header.split(',') {
            match part.trim().split_once('=') {
                Some(("t", t)) => time = t.parse::<i64>().ok(),
                Some(("v1", v)) => mac = Some(v.to_string()),
                _ => {}
            }
        }
        let (Some(time), Some(mac)) = (time, mac) else { return Err(WebhookError::Forged) };
        let expected = sign_webhook(secret, time, body);
        let expected_mac = expected.rsplit_once("v1=").map(|(_, m)| m).unwrap_or_default();
        if !crate::oidc::client::equal_in_constant_time(mac.as_bytes(), expected_mac.as_bytes()) {
            return Err(WebhookError::Forged);
        }
        let now = self.now().as_millis() / 1000;
        if (now - time).abs() > WEBHOOK_WINDOW_SECONDS {
            return Err(WebhookError::Stale);
        }
        Ok(())
    }

    /// The verification a fake provider's session is for.
    pub async fn fake_provider_session(&self, session: &str) -> Result<Option<VerificationRecord>, crate::EngineError> {
        Ok(self.store().find_verification_by_provider_session(FAKE, session).await?)
    }

    /// The fake provider's tester decided: its webhook, signed, through the same path as
    /// an external provider's.
    pub async fn fake_provider_decides(
        &self,
        session: &str,
        person: Option<(&str, &str)>,
        reason: &str,
    ) -> Result<VerificationRecord, WebhookError> {
        let config = self.config().identity.provider.as_ref().filter(|p| p.name == FAKE);
        let config = config.ok_or_else(|| WebhookError::UnknownProvider(FAKE.into()))?;
        let body = match person {
            Some((given_names, surname)) => json!({
                "event_id": crate::devices::random_id("evt"),
                "session_id": session,
                "outcome": "approved",
                "person": { "given_names": given_names, "surname": surname },
            }),
            None => json!({
                "event_id": crate::devices::random_id("evt"),
                "session_id": session,
                "outcome": "rejected",
                "reason": reason,
            }),
        };
        let body = body.to_string().into_bytes();
        let signature = sign_webhook(&config.secret, self.now().as_millis() / 1000, &body);
        self.provider_webhook(FAKE, Some(&signature), &body).await
    }
}
