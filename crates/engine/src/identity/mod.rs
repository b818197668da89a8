//! Verified identities: who is behind a phone number. A verified name goes into the
//! signing certificate of the user's documents, and lets the OpenID provider vouch for
//! the user's name.
//!
//! An identity is verified in the browser ([`verification`]: terms, the ID document and a
//! selfie, the MRZ checks), decided by an operator in the review desk ([`review`]) or by
//! an external provider ([`providers`]), with a hash-chained evidence record of each
//! decision ([`evidence`]). An operator may also decide by hand with the CLI.

pub mod evidence;
pub mod providers;
pub mod review;
pub mod verification;

use std::time::Duration;

use mobileid_core::Msisdn;
use mobileid_store::IdentityRecord;

use crate::{Engine, EngineError};

/// What the operator sets for identity verification.
#[derive(Debug, Clone)]
pub struct IdentityConfig {
    /// The version of the terms of use that the user accepts (recorded with each
    /// verification); the texts themselves are the front end's.
    pub terms_version: String,
    /// The youngest age a verified user may have.
    pub minimum_age: u32,
    /// How long the captured images are kept.
    pub image_retention: Duration,
    /// Which decisions need a human.
    pub review: ReviewPolicy,
    /// How long a hand-off link to the phone is good.
    pub handoff_ttl: Duration,
    /// The largest image accepted.
    pub max_image_bytes: usize,
    /// The external provider that verifies instead of the built-in capture, if any.
    pub provider: Option<providers::ProviderConfig>,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        IdentityConfig {
            terms_version: "1".into(),
            minimum_age: 18,
            image_retention: Duration::from_secs(30 * 24 * 3600),
            review: ReviewPolicy::All,
            handoff_ttl: Duration::from_secs(10 * 60),
            max_image_bytes: 10 * 1024 * 1024,
            provider: None,
        }
    }
}

/// Which decisions an operator makes in the review desk; the others are made at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewPolicy {
    /// Every verification waits for an operator.
    All,
    /// Only those where a check failed or the provider refused; the others are approved.
    Failed,
    /// None: passing verifications are approved, failing ones rejected.
    None,
}

impl ReviewPolicy {
    pub fn from_name(name: &str) -> Option<ReviewPolicy> {
        match name {
            "all" => Some(ReviewPolicy::All),
            "failed" => Some(ReviewPolicy::Failed),
            "none" => Some(ReviewPolicy::None),
            _ => None,
        }
    }

    /// Whether a verification whose checks passed (or not) goes to the desk.
    pub(crate) fn needs_human(self, passed: bool) -> bool {
        match self {
            ReviewPolicy::All => true,
            ReviewPolicy::Failed => !passed,
            ReviewPolicy::None => false,
        }
    }
}

/// Who verified an identity when an operator did it with the CLI.
pub const OPERATOR: &str = "operator";

/// A verified person's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedName {
    pub given_names: String,
    pub surname: String,
}

impl VerifiedName {
    pub fn full(&self) -> String {
        format!("{} {}", self.given_names, self.surname)
    }
}

impl Engine {
    /// The verified name of the user of `msisdn` (normalised digits), if any.
    pub async fn verified_name(&self, msisdn: &str) -> Result<Option<VerifiedName>, EngineError> {
        Ok(self.store().find_identity(msisdn).await?.and_then(|i| match (i.state.as_str(), i.given_names, i.surname) {
            ("verified", Some(given_names), Some(surname)) => Some(VerifiedName { given_names, surname }),
            _ => None,
        }))
    }

    /// The requests waiting for an operator's decision.
    pub async fn pending_identities(&self) -> Result<Vec<IdentityRecord>, EngineError> {
        Ok(self.store().pending_identities().await?)
    }

    /// An operator verified who holds `msisdn` (asked or not).
    pub async fn verify_identity(&self, msisdn: &str, given_names: &str, surname: &str) -> Result<(), EngineError> {
        let msisdn = parse(msisdn)?;
        for (what, part) in [("given names", given_names), ("surname", surname)] {
            if part.trim().is_empty() || part.chars().count() > 64 || part.chars().any(char::is_control) {
                return Err(EngineError::Invalid(format!("the {what} must have 1 to 64 characters")));
            }
        }
        let now = self.now();
        let existing = self.store().find_identity(msisdn.normalized()).await?;
        let record = IdentityRecord {
            msisdn: msisdn.normalized().to_string(),
            state: "verified".into(),
            stated_name: existing.as_ref().map(|e| e.stated_name.clone()).unwrap_or_default(),
            given_names: Some(given_names.trim().to_string()),
            surname: Some(surname.trim().to_string()),
            decided_by: Some(OPERATOR.into()),
            reason: None,
            requested_at: existing.map_or(now, |e| e.requested_at),
            decided_at: Some(now),
        };
        Ok(self.store().decide_identity(&record).await?)
    }

    /// An operator rejected the identity asked for `msisdn`.
    pub async fn reject_identity(&self, msisdn: &str, reason: &str) -> Result<(), EngineError> {
        let msisdn = parse(msisdn)?;
        let existing = self.store().find_identity(msisdn.normalized()).await?;
        let existing = existing.ok_or_else(|| EngineError::Invalid(format!("nobody asked about {msisdn}")))?;
        let record = IdentityRecord {
            state: "rejected".into(),
            given_names: None,
            surname: None,
            decided_by: Some(OPERATOR.into()),
            reason: Some(reason.to_string()),
            decided_at: Some(self.now()),
            ..existing
        };
        Ok(self.store().decide_identity(&record).await?)
    }
}

fn parse(msisdn: &str) -> Result<Msisdn, EngineError> {
    Msisdn::parse(msisdn).map_err(|f| EngineError::Invalid(format!("{msisdn}: {}", f.detail)))
}
