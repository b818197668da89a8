//! A verification in the browser: the terms, the hand-off to the phone, the captured
//! images (sealed under the master key), the MRZ read from the document or typed by the
//! user, and the checks the platform makes itself. Then the decision: the review desk, an
//! automatic one, or an external provider (see [`super::review`], [`super::providers`]).
//!
//! Each verification is bound to the browser that started it and, after the hand-off,
//! to the phone: both hold a secret in a cookie, of which only a keyed hash is stored. A
//! verification id without its secret is answered like an unknown one.

use chrono::NaiveDate;
use mobileid_core::mrz::{self, Mrz};
use mobileid_core::Msisdn;
use mobileid_store::{HandoffOutcome, ImageDigest, VerificationRecord};
use rand::RngCore;
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::providers::ProviderStart;
use crate::oidc::client::equal_in_constant_time;
use crate::{Engine, EngineError};

/// The kinds of image a verification keeps: an ID card's two sides, a passport's data
/// page, and the selfie.
pub const IMAGE_KINDS: [&str; 4] = ["front", "back", "page", "selfie"];

/// The states of a verification, as stored.
pub mod state {
    pub const TERMS: &str = "terms";
    pub const CAPTURE: &str = "capture";
    pub const PROVIDER: &str = "provider";
    pub const REVIEW: &str = "review";
    pub const VERIFIED: &str = "verified";
    pub const REJECTED: &str = "rejected";
}

#[derive(Debug, thiserror::Error)]
pub enum VerificationError {
    /// Unknown, or another browser's.
    #[error("there is no such identity verification")]
    NotFound,
    #[error("this step is not open (the verification is {0})")]
    WrongState(String),
    #[error("the terms have changed: please read them again")]
    TermsChanged,
    #[error("this link to the phone was used before")]
    HandoffUsed,
    #[error("this link to the phone has expired")]
    HandoffExpired,
    #[error("unknown image kind {0:?}")]
    Kind(String),
    #[error("the image is larger than {0} bytes")]
    TooLarge(usize),
    #[error("not a JPEG or PNG image")]
    NotAnImage,
    #[error("{0}")]
    Mrz(String),
    #[error("missing: {0}")]
    Incomplete(&'static str),
    /// A provider's event that was received before.
    #[error("this event was received before")]
    Replayed,
    #[error("the identity provider could not be reached: {0}")]
    Provider(String),
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl From<mobileid_store::StoreError> for VerificationError {
    fn from(e: mobileid_store::StoreError) -> Self {
        VerificationError::Engine(e.into())
    }
}

/// Which of the two bound browsers is asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder {
    /// The browser that started the verification.
    Browser,
    /// The phone it was handed to.
    Phone,
}

/// What starts a verification.
#[derive(Debug, Clone)]
pub struct StartVerification {
    pub msisdn: String,
    pub email: String,
    pub stated_name: String,
    pub language: String,
    pub return_to: String,
}

/// A started verification and the secret its browser keeps.
pub struct Started {
    pub verification: VerificationRecord,
    pub secret: String,
}

impl std::fmt::Debug for Started {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Started").field("verification", &self.verification).finish_non_exhaustive()
    }
}

/// Where the terms lead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterTerms {
    /// To the built-in capture.
    Capture,
    /// To the provider's pages, at this URL.
    Provider(String),
}

/// One of the platform's own checks, with the value it looked at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Check {
    pub check: String,
    pub ok: bool,
    pub value: String,
}

/// What a captured image gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageStored {
    /// Whether the MRZ was read from it, with every check digit right.
    pub mrz_read: bool,
}

impl Engine {
    /// Starts a verification for `msisdn`, bound to the calling browser.
    pub async fn start_verification(&self, start: StartVerification) -> Result<Started, VerificationError> {
        let msisdn = Msisdn::parse(&start.msisdn)
            .map_err(|f| EngineError::Invalid(format!("{}: {}", start.msisdn, f.detail)))?;
        let secret = new_secret();
        let now = self.now();
        let verification = VerificationRecord {
            verification_id: crate::devices::random_id("idv"),
            msisdn: msisdn.normalized().to_string(),
            email: start.email,
            stated_name: start.stated_name,
            language: start.language,
            return_to: start.return_to,
            state: state::TERMS.into(),
            browser_hash: self.holder_hash(&secret),
            phone_hash: None,
            terms_version: None,
            terms_accepted_at: None,
            document_type: None,
            mrz: None,
            mrz_source: None,
            checks: None,
            provider: None,
            provider_session: None,
            decided_by: None,
            reason: None,
            given_names: None,
            surname: None,
            created_at: now,
            updated_at: now,
            decided_at: None,
        };
        self.store().insert_verification(&verification).await?;
        Ok(Started { verification, secret })
    }

    /// The verification `id` if `secret` is one of its browsers'.
    pub async fn open_verification(
        &self,
        id: &str,
        secret: &str,
    ) -> Result<(VerificationRecord, Holder), VerificationError> {
        if secret.is_empty() {
            return Err(VerificationError::NotFound);
        }
        let record = self.store().find_verification(id).await?.ok_or(VerificationError::NotFound)?;
        let hash = self.holder_hash(secret);
        if equal_in_constant_time(record.browser_hash.as_bytes(), hash.as_bytes()) {
            Ok((record, Holder::Browser))
        } else if record.phone_hash.as_deref().is_some_and(|h| equal_in_constant_time(h.as_bytes(), hash.as_bytes())) {
            Ok((record, Holder::Phone))
        } else {
            Err(VerificationError::NotFound)
        }
    }

    /// The user accepted the terms of `version` (the one they were shown).
    pub async fn accept_terms(&self, id: &str, secret: &str, version: &str) -> Result<AfterTerms, VerificationError> {
        let (mut record, _) = self.open_verification(id, secret).await?;
        expect_state(&record, state::TERMS)?;
        let config = &self.config().identity;
        if version != config.terms_version {
            return Err(VerificationError::TermsChanged);
        }
        let now = self.now();
        record.terms_version = Some(version.to_string());
        record.terms_accepted_at = Some(now);
        record.updated_at = now;
        let after = match self.identity_provider() {
            None => {
                record.state = state::CAPTURE.into();
                AfterTerms::Capture
            }
            Some(provider) => {
                let start = ProviderStart {
                    verification_id: record.verification_id.clone(),
                    stated_name: record.stated_name.clone(),
                    language: record.language.clone(),
                };
                let session = provider.start(start).await.map_err(VerificationError::Provider)?;
                record.state = state::PROVIDER.into();
                record.provider = Some(provider.name().to_string());
                record.provider_session = Some(session.session_id);
                AfterTerms::Provider(session.url)
            }
        };
        if !self.store().save_verification(&record, state::TERMS).await? {
            return Err(VerificationError::WrongState("changed meanwhile".into()));
        }
        Ok(after)
    }

    /// A new single-use link that continues the verification on a phone.
    pub async fn new_handoff(&self, id: &str, secret: &str) -> Result<String, VerificationError> {
        let (record, holder) = self.open_verification(id, secret).await?;
        expect_state(&record, state::CAPTURE)?;
        if holder != Holder::Browser {
            return Err(VerificationError::WrongState("on the phone already".into()));
        }
        let token = new_secret();
        let expires = self.now().plus(self.config().identity.handoff_ttl);
        self.store().insert_handoff(&self.handoff_hash(&token), id, expires).await?;
        Ok(token)
    }

    /// The phone takes a hand-off link: answers the verification and the phone's secret.
    pub async fn take_handoff(&self, token: &str) -> Result<(String, String), VerificationError> {
        let secret = new_secret();
        match self.store().take_handoff(&self.handoff_hash(token), &self.holder_hash(&secret), self.now()).await? {
            HandoffOutcome::Taken(id) => Ok((id, secret)),
            HandoffOutcome::Used => Err(VerificationError::HandoffUsed),
            HandoffOutcome::Expired => Err(VerificationError::HandoffExpired),
            HandoffOutcome::Unknown => Err(VerificationError::NotFound),
        }
    }

    /// Keeps a captured image, sealed; a document's is read for its MRZ first.
    pub async fn store_verification_image(
        &self,
        id: &str,
        secret: &str,
        kind: &str,
        bytes: Vec<u8>,
    ) -> Result<ImageStored, VerificationError> {
        let (mut record, _) = self.open_verification(id, secret).await?;
        expect_state(&record, state::CAPTURE)?;
        if !IMAGE_KINDS.contains(&kind) {
            return Err(VerificationError::Kind(kind.to_string()));
        }
        let limit = self.config().identity.max_image_bytes;
        if bytes.len() > limit {
            return Err(VerificationError::TooLarge(limit));
        }
        let content_type = image_type(&bytes).ok_or(VerificationError::NotAnImage)?;
        // Only a document's picture is read for its zone; a selfie is only decoded.
        let document = kind != "selfie";
        let (bytes, read) = self
            .compute(move || {
                let read = if document {
                    mobileid_ocr::read_mrz(&bytes)
                } else {
                    mobileid_ocr::check_image(&bytes).map(|()| Vec::new())
                };
                (bytes, read)
            })
            .await
            .map_err(|e| EngineError::Invalid(format!("reading an image: {e}")))?;
        let lines = match read {
            Err(mobileid_ocr::OcrError::NotAnImage(_)) | Err(mobileid_ocr::OcrError::TooLarge { .. }) => {
                return Err(VerificationError::NotAnImage)
            }
            Err(mobileid_ocr::OcrError::NoMrz) => None,
            Ok(lines) => Some(lines).filter(|_| document),
        };
        let now = self.now();
        let digest = ImageDigest {
            kind: kind.to_string(),
            content_type: content_type.to_string(),
            sha256: hex::encode(Sha256::digest(&bytes)),
            size: bytes.len() as i64,
        };
        let sealed = self.master_key().seal(&bytes, &image_context(id, kind));
        self.store().put_verification_image(id, &digest, &sealed, now).await?;
        let parsed = lines.and_then(|l| mrz::parse(&l.join("\n")).ok());
        let mrz_read = match parsed {
            Some(found) if found.check_digits_valid() => {
                record.mrz = Some(serde_json::to_string(&found).map_err(|e| EngineError::Invalid(e.to_string()))?);
                record.mrz_source = Some("image".into());
                record.updated_at = now;
                self.store().save_verification(&record, state::CAPTURE).await?;
                true
            }
            _ => false,
        };
        Ok(ImageStored { mrz_read })
    }

    /// The kinds of image captured so far.
    pub async fn captured_images(&self, id: &str, secret: &str) -> Result<Vec<String>, VerificationError> {
        self.open_verification(id, secret).await?;
        Ok(self.store().verification_image_digests(id).await?.into_iter().map(|d| d.kind).collect())
    }

    /// The MRZ as the user typed it (when the image could not be read).
    pub async fn enter_mrz(&self, id: &str, secret: &str, text: &str) -> Result<Mrz, VerificationError> {
        let (mut record, _) = self.open_verification(id, secret).await?;
        expect_state(&record, state::CAPTURE)?;
        let parsed = mrz::parse(text).map_err(|e| VerificationError::Mrz(e.to_string()))?;
        if let Some(wrong) = parsed.checks.iter().find(|c| !c.ok) {
            return Err(VerificationError::Mrz(format!(
                "the check digit of the {} does not match",
                wrong.field.replace('_', " ")
            )));
        }
        record.mrz = Some(serde_json::to_string(&parsed).map_err(|e| EngineError::Invalid(e.to_string()))?);
        record.mrz_source = Some("typed".into());
        record.updated_at = self.now();
        self.store().save_verification(&record, state::CAPTURE).await?;
        Ok(parsed)
    }

    /// Everything is captured: the checks are made, and the verification goes to the
    /// review desk or is decided at once, as the operator chose. Answers the new state.
    pub async fn submit_verification(&self, id: &str, secret: &str) -> Result<String, VerificationError> {
        let (mut record, _) = self.open_verification(id, secret).await?;
        expect_state(&record, state::CAPTURE)?;
        let kinds: Vec<String> =
            self.store().verification_image_digests(id).await?.into_iter().map(|d| d.kind).collect();
        let has = |kind: &str| kinds.iter().any(|k| k == kind);
        let document_type = if has("page") {
            "passport"
        } else if has("front") && has("back") {
            "id_card"
        } else {
            return Err(VerificationError::Incomplete("the ID document"));
        };
        if !has("selfie") {
            return Err(VerificationError::Incomplete("the selfie"));
        }
        let found: Mrz = match record.mrz.as_deref() {
            Some(text) => mrz::parse(&mrz_lines(text)?).map_err(|e| VerificationError::Mrz(e.to_string()))?,
            None => return Err(VerificationError::Incomplete("the machine-readable zone")),
        };
        let today = self.today();
        let checks = run_checks(&found, &record.stated_name, today, self.config().identity.minimum_age);
        let passed = checks.iter().all(|c| c.ok);
        record.document_type = Some(document_type.into());
        record.checks = Some(serde_json::to_string(&checks).map_err(|e| EngineError::Invalid(e.to_string()))?);
        record.updated_at = self.now();
        if self.config().identity.review.needs_human(passed) {
            record.state = state::REVIEW.into();
            if !self.store().save_verification(&record, state::CAPTURE).await? {
                return Err(VerificationError::WrongState("changed meanwhile".into()));
            }
            return Ok(record.state);
        }
        let outcome = if passed {
            let (given_names, surname) = super::review::names_from_mrz(&record.stated_name, &found);
            super::review::Outcome::Verified { given_names, surname }
        } else {
            let failed: Vec<&str> = checks.iter().filter(|c| !c.ok).map(|c| c.check.as_str()).collect();
            super::review::Outcome::Rejected { reason: format!("checks failed: {}", failed.join(", ")) }
        };
        let state = outcome.state();
        self.decide_verification(&record, &[state::CAPTURE], outcome, "automatic", None).await?;
        Ok(state.to_string())
    }

    /// Today, by the engine's clock.
    pub(crate) fn today(&self) -> NaiveDate {
        self.now().to_datetime().map(|t| t.date_naive()).unwrap_or_default()
    }

    pub(crate) fn holder_hash(&self, secret: &str) -> String {
        hex::encode(self.master_key().keyed_hash(b"identity verification holder", secret.as_bytes()))
    }

    fn handoff_hash(&self, token: &str) -> String {
        hex::encode(self.master_key().keyed_hash(b"identity verification hand-off", token.as_bytes()))
    }

    /// A sealed image, opened (for the review desk).
    pub(crate) async fn open_verification_image(
        &self,
        id: &str,
        kind: &str,
    ) -> Result<Option<(String, Vec<u8>)>, EngineError> {
        let Some((content_type, sealed)) = self.store().verification_image(id, kind).await? else {
            return Ok(None);
        };
        Ok(Some((content_type, self.master_key().open(&sealed, &image_context(id, kind))?)))
    }
}

/// The platform's own checks of a document's MRZ against what was stated.
pub fn run_checks(found: &Mrz, stated_name: &str, today: NaiveDate, minimum_age: u32) -> Vec<Check> {
    let digits_ok = found.checks.iter().filter(|c| c.ok).count();
    let expiry = found.expiry().map(|d| d.to_string()).unwrap_or_else(|| found.expiry_date.clone());
    let age = found.age_on(today);
    vec![
        Check {
            check: "check_digits".into(),
            ok: found.check_digits_valid(),
            value: format!("{digits_ok} of {} right", found.checks.len()),
        },
        Check { check: "not_expired".into(), ok: !found.expired_on(today), value: format!("valid until {expiry}") },
        Check {
            check: "minimum_age".into(),
            ok: age.is_some_and(|a| a >= minimum_age),
            value: match age {
                Some(age) => format!("{age} years (at least {minimum_age})"),
                None => format!("birth date {} unreadable", found.birth_date),
            },
        },
        Check {
            check: "name".into(),
            ok: mrz::names_match(stated_name, &found.surname, &found.given_names),
            value: format!("{} {} / stated {stated_name}", found.given_names, found.surname),
        },
    ]
}

/// The stored MRZ's lines (stored as the parsed zone, in JSON).
pub(crate) fn mrz_lines(stored: &str) -> Result<String, VerificationError> {
    let value: serde_json::Value =
        serde_json::from_str(stored).map_err(|e| VerificationError::Mrz(format!("stored MRZ: {e}")))?;
    let lines = value["lines"].as_array().ok_or(VerificationError::Mrz("stored MRZ has no lines".into()))?;
    Ok(lines.iter().filter_map(|l| l.as_str()).collect::<Vec<_>>().join("\n"))
}

/// The JSON of a verification's state, for the waiting pages.
pub fn status_json(record: &VerificationRecord) -> serde_json::Value {
    json!({ "state": record.state, "mrz": record.mrz.is_some() })
}

fn expect_state(record: &VerificationRecord, expected: &str) -> Result<(), VerificationError> {
    if record.state == expected {
        Ok(())
    } else {
        Err(VerificationError::WrongState(record.state.clone()))
    }
}

/// JPEG or PNG, by the first bytes.
fn image_type(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else {
        None
    }
}

fn image_context(id: &str, kind: &str) -> Vec<u8> {
    format!("identity image {id} {kind}").into_bytes()
}

fn new_secret() -> String {
    let mut bytes = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}
