//! Decisions about verifications: the operator's review desk (a queue, the images with
//! every view logged, approve or reject with a reason), and the one path every decision
//! takes, by an operator, a provider or the automatic policy: the verification's outcome,
//! the identity it gives, and its evidence record, written together.

use mobileid_core::mrz::{self, Mrz};
use mobileid_store::{Decided, ImageDigest, ImageView, VerificationRecord};
use serde_json::Value;

use super::evidence::evidence_body;
use super::verification::{mrz_lines, state, Check, VerificationError};
use crate::{Engine, EngineError};

/// What was decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Verified { given_names: String, surname: String },
    Rejected { reason: String },
}

impl Outcome {
    pub fn state(&self) -> &'static str {
        match self {
            Outcome::Verified { .. } => state::VERIFIED,
            Outcome::Rejected { .. } => state::REJECTED,
        }
    }
}

/// A provider's event that carried a decision: kept in the evidence, and its id guards
/// against a replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderEvent {
    pub provider: String,
    pub event_id: String,
    /// The provider's own result, as it sent it.
    pub result: Value,
}

/// A verification as the review desk shows it.
#[derive(Debug, Clone)]
pub struct ReviewView {
    pub verification: VerificationRecord,
    pub mrz: Option<Mrz>,
    pub checks: Vec<Check>,
    pub images: Vec<ImageDigest>,
    pub views: Vec<ImageView>,
    /// The names an approval would record (the reviewer may correct them).
    pub proposed: (String, String),
}

impl Engine {
    /// Whether a portal account may use the review desk.
    pub async fn is_reviewer(&self, account_id: &str) -> Result<bool, EngineError> {
        Ok(self.store().is_reviewer(account_id).await?)
    }

    /// Lets the account of `email` use the review desk.
    pub async fn grant_reviewer(&self, email: &str) -> Result<(), EngineError> {
        let account = self.account_id_of(email).await?;
        Ok(self.store().add_reviewer(&account, self.now()).await?)
    }

    /// Takes the review desk from the account of `email`; answers whether it had it.
    pub async fn revoke_reviewer(&self, email: &str) -> Result<bool, EngineError> {
        let account = self.account_id_of(email).await?;
        Ok(self.store().remove_reviewer(&account).await?)
    }

    async fn account_id_of(&self, email: &str) -> Result<String, EngineError> {
        let account = self.store().find_account_by_email(&email.trim().to_lowercase()).await?;
        Ok(account.ok_or_else(|| EngineError::Invalid(format!("there is no account {email}")))?.account_id)
    }

    /// The verifications waiting for an operator, oldest first.
    pub async fn verifications_to_review(&self) -> Result<Vec<VerificationRecord>, EngineError> {
        Ok(self.store().verifications_to_review().await?)
    }

    /// One verification, as the review desk shows it.
    pub async fn verification_for_review(&self, id: &str) -> Result<ReviewView, VerificationError> {
        let verification = self.store().find_verification(id).await?.ok_or(VerificationError::NotFound)?;
        let mrz = match verification.mrz.as_deref() {
            Some(stored) => mrz::parse(&mrz_lines(stored)?).ok(),
            None => None,
        };
        let checks: Vec<Check> =
            verification.checks.as_deref().and_then(|c| serde_json::from_str(c).ok()).unwrap_or_default();
        let proposed = match &mrz {
            Some(found) => names_from_mrz(&verification.stated_name, found),
            None => split_stated(&verification.stated_name),
        };
        Ok(ReviewView {
            images: self.store().verification_image_digests(id).await?,
            views: self.store().image_views(id).await?,
            verification,
            mrz,
            checks,
            proposed,
        })
    }

    /// An image of a verification, for a reviewer; the view is logged first.
    pub async fn view_verification_image(
        &self,
        id: &str,
        kind: &str,
        viewer: &str,
    ) -> Result<Option<(String, Vec<u8>)>, EngineError> {
        if self.store().verification_image(id, kind).await?.is_none() {
            return Ok(None);
        }
        self.store().log_image_view(id, kind, viewer, self.now()).await?;
        self.open_verification_image(id, kind).await
    }

    /// An operator approves a verification in the desk, with the names to record.
    pub async fn approve_verification(
        &self,
        id: &str,
        operator: &str,
        given_names: &str,
        surname: &str,
    ) -> Result<VerificationRecord, VerificationError> {
        for (what, part) in [("given names", given_names), ("surname", surname)] {
            if part.trim().is_empty() || part.chars().count() > 64 || part.chars().any(char::is_control) {
                return Err(VerificationError::Engine(EngineError::Invalid(format!(
                    "the {what} must have 1 to 64 characters"
                ))));
            }
        }
        let outcome = Outcome::Verified { given_names: given_names.trim().into(), surname: surname.trim().into() };
        self.decide_in_desk(id, operator, outcome).await
    }

    /// An operator rejects a verification in the desk, with a reason.
    pub async fn reject_verification(
        &self,
        id: &str,
        operator: &str,
        reason: &str,
    ) -> Result<VerificationRecord, VerificationError> {
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > 500 {
            return Err(VerificationError::Engine(EngineError::Invalid("a reason of 1 to 500 characters".into())));
        }
        self.decide_in_desk(id, operator, Outcome::Rejected { reason: reason.into() }).await
    }

    async fn decide_in_desk(
        &self,
        id: &str,
        operator: &str,
        outcome: Outcome,
    ) -> Result<VerificationRecord, VerificationError> {
        let record = self.store().find_verification(id).await?.ok_or(VerificationError::NotFound)?;
        let by = format!("operator:{operator}");
        self.decide_verification(&record, &[state::REVIEW], outcome, &by, None).await
    }

    /// Writes a decision: the verification's outcome, the identity (the verified name, or
    /// the rejection) and the evidence record, in one transaction, if the verification is
    /// still in one of the states `from`. Answers the decided verification.
    pub(crate) async fn decide_verification(
        &self,
        record: &VerificationRecord,
        from: &[&str],
        outcome: Outcome,
        decided_by: &str,
        event: Option<ProviderEvent>,
    ) -> Result<VerificationRecord, VerificationError> {
        let now = self.now();
        let mut decided = record.clone();
        decided.state = outcome.state().into();
        decided.decided_by = Some(decided_by.to_string());
        decided.decided_at = Some(now);
        decided.updated_at = now;
        match &outcome {
            Outcome::Verified { given_names, surname } => {
                decided.given_names = Some(given_names.clone());
                decided.surname = Some(surname.clone());
                decided.reason = None;
            }
            Outcome::Rejected { reason } => decided.reason = Some(reason.clone()),
        }
        let identity = mobileid_store::IdentityRecord {
            msisdn: record.msisdn.clone(),
            state: if decided.state == state::VERIFIED { "verified".into() } else { "rejected".into() },
            stated_name: record.stated_name.clone(),
            given_names: decided.given_names.clone().filter(|_| decided.state == state::VERIFIED),
            surname: decided.surname.clone().filter(|_| decided.state == state::VERIFIED),
            decided_by: Some(decided_by.to_string()),
            reason: decided.reason.clone(),
            requested_at: record.created_at,
            decided_at: Some(now),
        };
        let images = self.store().verification_image_digests(&record.verification_id).await?;
        let body = evidence_body(&decided, &images, event.as_ref());
        let written = self
            .store()
            .decide_verification(
                mobileid_store::Decision {
                    verification: &decided,
                    from,
                    identity: &identity,
                    evidence: &body,
                    provider_event: event.as_ref().map(|e| (e.provider.as_str(), e.event_id.as_str())),
                },
                now,
            )
            .await?;
        match written {
            Decided::Written => Ok(decided),
            Decided::NotOpen => Err(VerificationError::WrongState("decided before".into())),
            Decided::Replayed => Err(VerificationError::Replayed),
        }
    }
}

/// The names a verified identity records: the MRZ's, each word spelt as the user stated
/// it where it is the same word (the MRZ has no diacritics: "MUELLER" is "Müller").
pub fn names_from_mrz(stated: &str, found: &Mrz) -> (String, String) {
    let spell = |field: &str| -> String {
        field
            .split_whitespace()
            .map(|word| {
                stated
                    .split(|c: char| c.is_whitespace() || c == ',')
                    .find(|s| !s.is_empty() && mrz::names_match(s, word, ""))
                    .map(str::to_string)
                    .unwrap_or_else(|| title_case(word))
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    (spell(&found.given_names), spell(&found.surname))
}

/// A stated name split as given names and surname (the last word), for a reviewer (or
/// the fake provider's tester) to correct where there is no MRZ.
pub fn split_stated(stated: &str) -> (String, String) {
    let words: Vec<&str> = stated.split_whitespace().collect();
    match words.split_last() {
        Some((last, rest)) if !rest.is_empty() => (rest.join(" "), last.to_string()),
        _ => (String::new(), stated.trim().to_string()),
    }
}

fn title_case(word: &str) -> String {
    let lower = word.to_lowercase();
    let mut chars = lower.chars();
    chars.next().map(|first| first.to_uppercase().chain(chars).collect()).unwrap_or_default()
}
