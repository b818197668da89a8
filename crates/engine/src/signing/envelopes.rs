//! Envelopes: documents sent by a sender to signers in ordered levels (the seed's
//! external-signer workflow, on our own platform).
//!
//! - Levels sign in order, the signers of a level in parallel; the server enforces it.
//! - A signer's link names them alone; it never suffices to sign: their phone signs.
//! - Every change is one guarded [`EnvelopeChange`] with what it tells (audit events,
//!   e-mails, webhooks), so two signers finishing a level together move it on once.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use mobileid_core::{EnvelopeEvent, EnvelopeState, Requester, SignerState, Timestamp, TxState};
use mobileid_store::{
    DocumentRecord, EnvelopeChange, EnvelopeRecord, EventRecord, MailRecord, SenderRecord, SignerMove, SignerRecord,
    WebhookRecord,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Placement, SignatureAsk, SigningError};
use crate::Engine;

/// How long a signer has for each document on the phone.
const PHONE_LIFETIME: Duration = Duration::from_secs(300);
/// The default and longest life of an envelope.
pub const DEFAULT_EXPIRY: Duration = Duration::from_secs(14 * 24 * 3600);
pub const MAX_EXPIRY: Duration = Duration::from_secs(90 * 24 * 3600);
/// What one envelope may hold.
pub const MAX_DOCUMENTS: usize = 10;
pub const MAX_SIGNERS: usize = 50;
const MAX_TEXT: usize = 1_000;

/// Why an envelope request cannot be done.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    #[error("{0}")]
    Invalid(String),
    #[error("document {name:?} cannot be signed: {reason}")]
    Document { name: String, reason: String },
    /// No such envelope, or not this sender's.
    #[error("no such envelope")]
    NotFound,
    /// Not possible in the envelope's state (sending a sent one, signing a voided one).
    #[error("{0}")]
    State(String),
    /// A link that names nobody, or whose envelope ended.
    #[error("this link is not valid (any more)")]
    Link,
    #[error("{}", .0.text())]
    Signer(SignerProblem),
    #[error("internal error")]
    Internal,
}

/// What is wrong with the phone number a signer entered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignerProblem {
    NotANumber,
    /// Not the number the sender gave for them.
    WrongNumber,
    /// No active Mobile ID app, and the sender gave no number to enrol.
    NoApp,
    /// The number has a Mobile ID that cannot sign documents (no app), so a link
    /// cannot enrol a new phone for it.
    NotAnApp,
    /// No Mobile ID can be made for the number here.
    Refused,
}

impl SignerProblem {
    /// Its name, for the pages' texts.
    pub fn key(self) -> &'static str {
        match self {
            SignerProblem::NotANumber => "not_a_number",
            SignerProblem::WrongNumber => "wrong_number",
            SignerProblem::NoApp => "no_app",
            SignerProblem::NotAnApp => "not_an_app",
            SignerProblem::Refused => "refused",
        }
    }

    fn text(self) -> &'static str {
        match self {
            SignerProblem::NotANumber => "this is not a phone number",
            SignerProblem::WrongNumber => "this is not the number the sender gave for you",
            SignerProblem::NoApp => {
                "this number has no Mobile ID app; ask the sender to add your number to the envelope"
            }
            SignerProblem::NotAnApp => {
                "this number's Mobile ID cannot sign documents; get the Mobile ID app in the self-service portal"
            }
            SignerProblem::Refused => "this number cannot get a Mobile ID here",
        }
    }
}

impl From<crate::transactions::TransactionError> for EnvelopeError {
    fn from(_: crate::transactions::TransactionError) -> Self {
        EnvelopeError::Internal
    }
}

fn store_error(e: impl std::fmt::Display) -> EnvelopeError {
    tracing::error!("envelope store error: {e}");
    EnvelopeError::Internal
}

/// Where a signer's stamp goes, as the sender chose (PDF points from the lower left).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StampSpot {
    pub page: u32,
    pub x: f32,
    pub y: f32,
    pub width: f32,
    pub height: f32,
}

#[derive(Debug, Clone)]
pub struct NewSigner {
    pub name: String,
    pub email: String,
    pub msisdn: Option<String>,
    pub language: String,
    /// None: the next free spot at the foot of the last page.
    pub stamp: Option<StampSpot>,
}

#[derive(Debug, Clone)]
pub struct NewEnvelope {
    pub title: String,
    pub message: String,
    /// Name and bytes of each PDF.
    pub documents: Vec<(String, Vec<u8>)>,
    /// The signers of each level, levels in signing order.
    pub levels: Vec<Vec<NewSigner>>,
    pub expires_in: Duration,
}

/// Everything the sender may see of an envelope.
#[derive(Debug, Clone)]
pub struct EnvelopeView {
    pub envelope: EnvelopeRecord,
    pub documents: Vec<DocumentRecord>,
    pub signers: Vec<SignerRecord>,
    pub events: Vec<EventRecord>,
    pub webhooks: Vec<WebhookRecord>,
}

/// What a signer's link shows.
#[derive(Debug, Clone)]
pub struct GuestView {
    pub envelope: EnvelopeRecord,
    pub signer: SignerRecord,
    pub documents: Vec<DocumentRecord>,
    /// Whether the signer's level is signing now.
    pub their_turn: bool,
}

/// Where a signer's signing stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SigningStep {
    /// The phone shows document `index` (0-based) of `count`.
    OnThePhone { index: usize, count: usize, document: String },
    /// The number has no active Mobile ID app: enrol it with this code, then go on.
    NeedsApp { msisdn: String, activation_code: String },
    /// The page waits for the phone enrolled with the code to be active.
    WaitingForApp,
    /// Nobody has verified who holds the number yet: the signer waits for the decision.
    NeedsIdentity,
    /// The identity was rejected, with the reason.
    IdentityRejected(String),
    /// A signature failed (declined or timed out on the phone): the signer may start again.
    Failed(String),
    /// Every document is signed by this signer.
    Signed,
}

impl Engine {
    /// Registers a sender; returns its API key, and the webhook secret if it has a
    /// webhook URL. Both are shown once: the store keeps a keyed hash and a sealed copy.
    pub async fn add_sender(
        &self,
        sender_id: &str,
        name: &str,
        webhook_url: Option<&str>,
        oidc_client_id: Option<&str>,
    ) -> Result<(SenderRecord, String, Option<String>), EnvelopeError> {
        if let Some(client_id) = oidc_client_id {
            if self.oidc_client(client_id).await.map_err(store_error)?.is_none() {
                return Err(EnvelopeError::Invalid(format!("there is no OpenID client {client_id}")));
            }
        }
        if sender_id.is_empty() || !sender_id.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
            return Err(EnvelopeError::Invalid("a sender id is letters, digits, '-', '_' and '.'".into()));
        }
        if let Some(url) = webhook_url {
            let parsed = url::Url::parse(url).map_err(|e| EnvelopeError::Invalid(format!("webhook URL: {e}")))?;
            if !matches!(parsed.scheme(), "https" | "http") {
                return Err(EnvelopeError::Invalid("the webhook URL must be http(s)".into()));
            }
        }
        let api_key = format!("mid_sk_{}", URL_SAFE_NO_PAD.encode(rand::random::<[u8; 24]>()));
        let secret = webhook_url.map(|_| format!("whsec_{}", URL_SAFE_NO_PAD.encode(rand::random::<[u8; 24]>())));
        let record = SenderRecord {
            sender_id: sender_id.to_string(),
            name: name.to_string(),
            api_key_hash: self.api_key_hash(&api_key),
            webhook_url: webhook_url.map(str::to_string),
            webhook_secret: secret.as_ref().map(|s| self.master_key().seal(s.as_bytes(), &webhook_context(sender_id))),
            oidc_client_id: oidc_client_id.map(str::to_string),
            created_at: self.now(),
        };
        self.store().insert_sender(&record).await.map_err(store_error)?;
        Ok((record, api_key, secret))
    }

    /// The sender an API key belongs to.
    pub async fn sender_by_api_key(&self, api_key: &str) -> Result<Option<SenderRecord>, EnvelopeError> {
        self.store().find_sender_by_key(&self.api_key_hash(api_key)).await.map_err(store_error)
    }

    /// The sender a registered OpenID client is, once the client authenticated with its
    /// secret (client_secret_basic or _post), or its signed assertion.
    pub async fn sender_by_oidc_client(
        &self,
        credentials: &crate::oidc::ClientCredentials,
    ) -> Result<Option<SenderRecord>, EnvelopeError> {
        let Ok(client) = self.oidc_authenticate_client(credentials, "/api/v1/envelopes").await else {
            return Ok(None);
        };
        self.store().find_sender_by_oidc_client(&client.client_id).await.map_err(store_error)
    }

    /// The webhook secret of a sender, opened.
    pub fn webhook_secret(&self, sender: &SenderRecord) -> Option<Vec<u8>> {
        let sealed = sender.webhook_secret.as_deref()?;
        self.master_key().open(sealed, &webhook_context(&sender.sender_id)).ok()
    }

    fn api_key_hash(&self, api_key: &str) -> String {
        hex::encode(self.master_key().keyed_hash(b"sender api key", api_key.as_bytes()))
    }

    /// The token in a signer's link: keyed on the signer, so the e-mails can be written
    /// again at any time, and nobody without the master key can make one.
    pub fn signer_link_token(&self, signer_id: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.master_key().keyed_hash(b"envelope signer link", signer_id.as_bytes()))
    }

    /// Checks and keeps a new envelope, a draft until it is sent.
    pub async fn create_envelope(
        &self,
        sender: &SenderRecord,
        new: NewEnvelope,
    ) -> Result<EnvelopeView, EnvelopeError> {
        check_text("title", &new.title, true)?;
        check_text("message", &new.message, false)?;
        if new.documents.is_empty() || new.documents.len() > MAX_DOCUMENTS {
            return Err(EnvelopeError::Invalid(format!("an envelope holds 1 to {MAX_DOCUMENTS} documents")));
        }
        let count: usize = new.levels.iter().map(Vec::len).sum();
        if count == 0 || count > MAX_SIGNERS || new.levels.iter().any(Vec::is_empty) {
            return Err(EnvelopeError::Invalid(format!(
                "an envelope has 1 to {MAX_SIGNERS} signers, and every level at least one"
            )));
        }
        if new.expires_in.is_zero() || new.expires_in > MAX_EXPIRY {
            return Err(EnvelopeError::Invalid("an envelope expires within 90 days".into()));
        }
        let mut documents = Vec::new();
        for (name, content) in new.documents {
            check_text("document name", &name, true)?;
            let document = self.checked_document(&name, content).await.map_err(|e| match e {
                SigningError::Document(reason) => {
                    EnvelopeError::Document { name: name.clone(), reason: reason.to_string() }
                }
                _ => EnvelopeError::Internal,
            })?;
            documents.push(document);
        }
        let pages = documents.iter().map(|(d, _)| d.pages).min().unwrap_or(1);
        let now = self.now();
        let envelope_id = format!("ENV-{}", reference_code());
        let mut signers = Vec::new();
        for (level, members) in new.levels.iter().enumerate() {
            for (position, signer) in members.iter().enumerate() {
                check_text("signer name", &signer.name, true)?;
                if !plausible_email(&signer.email) {
                    return Err(EnvelopeError::Invalid(format!("{:?} is not an e-mail address", signer.email)));
                }
                if let Some(msisdn) = &signer.msisdn {
                    mobileid_core::Msisdn::parse(msisdn)
                        .map_err(|_| EnvelopeError::Invalid(format!("{msisdn:?} is not a phone number")))?;
                }
                let stamp = match &signer.stamp {
                    Some(spot) if spot.page == 0 || spot.page > pages => {
                        return Err(EnvelopeError::Invalid(format!(
                            "the stamp of {} is on page {}, but a document has {pages} page(s)",
                            signer.name, spot.page
                        )))
                    }
                    Some(spot) => spot.clone(),
                    None => default_spot(signers.len(), pages),
                };
                let signer_id = format!("sg_{}", hex::encode(rand::random::<[u8; 12]>()));
                let token = self.signer_link_token(&signer_id);
                signers.push(SignerRecord {
                    link_hash: hex::encode(Sha256::digest(token.as_bytes())),
                    signer_id,
                    envelope_id: envelope_id.clone(),
                    level: level as i64 + 1,
                    position: position as i64,
                    name: signer.name.clone(),
                    email: signer.email.trim().to_string(),
                    msisdn: signer.msisdn.clone(),
                    language: signer.language.clone(),
                    stamp: serde_json::to_string(&stamp).map_err(store_error)?,
                    state: SignerState::Waiting,
                    decline_reason: None,
                    transaction_id: None,
                    signing_msisdn: None,
                    signed_at: None,
                });
            }
        }
        let envelope = EnvelopeRecord {
            envelope_id: envelope_id.clone(),
            sender_id: sender.sender_id.clone(),
            title: new.title,
            message: new.message,
            state: EnvelopeState::Draft,
            level: 0,
            expires_at: now.plus(new.expires_in),
            created_at: now,
            updated_at: now,
        };
        let mut change = EnvelopeChange::new(&envelope_id, now);
        change.events.push(event(&envelope_id, now, EnvelopeEvent::Created, None, None));
        self.store().insert_envelope(&envelope, &documents, &signers, &change).await.map_err(store_error)?;
        self.envelope_view(&envelope_id).await
    }

    /// The sender's envelope, with its documents, signers, audit trail and webhooks.
    pub async fn envelope_for_sender(&self, sender: &SenderRecord, id: &str) -> Result<EnvelopeView, EnvelopeError> {
        let view = self.envelope_view(id).await?;
        // Another sender's envelope is as unknown as a missing one.
        if view.envelope.sender_id != sender.sender_id {
            return Err(EnvelopeError::NotFound);
        }
        Ok(view)
    }

    async fn envelope_view(&self, id: &str) -> Result<EnvelopeView, EnvelopeError> {
        self.expire_if_due(id).await?;
        let envelope = self.store().find_envelope(id).await.map_err(store_error)?.ok_or(EnvelopeError::NotFound)?;
        Ok(EnvelopeView {
            documents: self.documents_of(id).await?,
            signers: self.store().envelope_signers(id).await.map_err(store_error)?,
            events: self.store().envelope_events(id).await.map_err(store_error)?,
            webhooks: self.store().envelope_webhooks(id).await.map_err(store_error)?,
            envelope,
        })
    }

    /// The envelope's documents, in order.
    async fn documents_of(&self, id: &str) -> Result<Vec<DocumentRecord>, EnvelopeError> {
        let mut documents = Vec::new();
        for document_id in self.store().envelope_documents(id).await.map_err(store_error)? {
            let document = self.store().find_document(&document_id).await.map_err(store_error)?;
            documents.push(document.ok_or(EnvelopeError::Internal)?);
        }
        Ok(documents)
    }

    /// Sends a draft: the first level is invited.
    pub async fn send_envelope(&self, sender: &SenderRecord, id: &str) -> Result<EnvelopeView, EnvelopeError> {
        let view = self.envelope_for_sender(sender, id).await?;
        if view.envelope.state != EnvelopeState::Draft {
            return Err(EnvelopeError::State(format!("the envelope is {}, not a draft", view.envelope.state)));
        }
        let now = self.now();
        let mut change = EnvelopeChange::new(id, now);
        change.expect = Some((EnvelopeState::Draft, 0));
        change.state = Some(EnvelopeState::Sent);
        change.events.push(event(id, now, EnvelopeEvent::Sent, None, None));
        self.tell_sender(sender, &view.envelope, &mut change, EnvelopeEvent::Sent, None);
        self.invite_level(&view, 1, &mut change);
        if !self.store().apply_envelope_change(&change).await.map_err(store_error)? {
            return Err(EnvelopeError::State("the envelope changed meanwhile".into()));
        }
        self.envelope_for_sender(sender, id).await
    }

    /// Withdraws an envelope that is not finished; its signers are told.
    pub async fn void_envelope(
        &self,
        sender: &SenderRecord,
        id: &str,
        reason: &str,
    ) -> Result<EnvelopeView, EnvelopeError> {
        check_text("reason", reason, false)?;
        let view = self.envelope_for_sender(sender, id).await?;
        if view.envelope.state.is_final() {
            return Err(EnvelopeError::State(format!("the envelope is already {}", view.envelope.state)));
        }
        let now = self.now();
        let mut change = EnvelopeChange::new(id, now);
        change.expect = Some((view.envelope.state, view.envelope.level));
        change.state = Some(EnvelopeState::Voided);
        let detail = (!reason.is_empty()).then(|| reason.to_string());
        change.events.push(event(id, now, EnvelopeEvent::Voided, None, detail));
        self.tell_sender(sender, &view.envelope, &mut change, EnvelopeEvent::Voided, None);
        for signer in view.signers.iter().filter(|s| matches!(s.state, SignerState::Invited | SignerState::Viewed)) {
            change.mails.push(mail(&view.envelope, Some(signer), &signer.email, "voided", now));
        }
        if !self.store().apply_envelope_change(&change).await.map_err(store_error)? {
            return Err(EnvelopeError::State("the envelope changed meanwhile".into()));
        }
        self.envelope_for_sender(sender, id).await
    }

    /// A document of an envelope as it is now (signed as far as it got).
    pub async fn envelope_document(
        &self,
        envelope_id: &str,
        index: usize,
    ) -> Result<(DocumentRecord, Vec<u8>), EnvelopeError> {
        let ids = self.store().envelope_documents(envelope_id).await.map_err(store_error)?;
        let document_id = ids.get(index).ok_or(EnvelopeError::NotFound)?;
        let document = self.store().find_document(document_id).await.map_err(store_error)?;
        let (_, content) = self.document_content(document_id).await.map_err(|_| EnvelopeError::NotFound)?;
        Ok((document.ok_or(EnvelopeError::NotFound)?, content))
    }

    /// The signer a link names, while their envelope is out; the first visit is recorded.
    pub async fn open_signer_link(&self, token: &str) -> Result<GuestView, EnvelopeError> {
        // Pages poll this: it reads the envelope, this signer and the documents, not the
        // audit trail and deliveries the sender's view holds.
        let signer = self.signer_of_link(token).await?;
        self.expire_if_due(&signer.envelope_id).await?;
        let envelope = self.store().find_envelope(&signer.envelope_id).await.map_err(store_error)?;
        let envelope = envelope.ok_or(EnvelopeError::Link)?;
        if matches!(envelope.state, EnvelopeState::Voided | EnvelopeState::Expired | EnvelopeState::Draft) {
            return Err(EnvelopeError::Link);
        }
        let documents = self.documents_of(&envelope.envelope_id).await?;
        let their_turn = envelope.state == EnvelopeState::Sent && signer.level == envelope.level;
        if their_turn && signer.state == SignerState::Invited {
            let now = self.now();
            let mut change = EnvelopeChange::new(&signer.envelope_id, now);
            change.signers.push(SignerMove {
                signer_id: signer.signer_id.clone(),
                from: vec![SignerState::Invited],
                to: SignerState::Viewed,
                decline_reason: None,
                signed_at: None,
            });
            change.events.push(event(&signer.envelope_id, now, EnvelopeEvent::Viewed, Some(&signer), None));
            if let Some(sender) = self.store().find_sender(&envelope.sender_id).await.map_err(store_error)? {
                self.tell_sender(&sender, &envelope, &mut change, EnvelopeEvent::Viewed, Some(&signer));
            }
            // A second visit racing this one has already recorded it: fine either way.
            self.store().apply_envelope_change(&change).await.map_err(store_error)?;
        }
        Ok(GuestView { envelope, signer, documents, their_turn })
    }

    async fn signer_of_link(&self, token: &str) -> Result<SignerRecord, EnvelopeError> {
        if token.len() > 64 {
            return Err(EnvelopeError::Link);
        }
        let hash = hex::encode(Sha256::digest(token.as_bytes()));
        self.store().find_signer_by_link(&hash).await.map_err(store_error)?.ok_or(EnvelopeError::Link)
    }

    /// The signer asks to sign with the phone of `msisdn`: checked against the number the
    /// sender gave, then the phone is asked for the first document they have not signed.
    pub async fn start_envelope_signing(&self, token: &str, msisdn: &str) -> Result<SigningStep, EnvelopeError> {
        let guest = self.open_signer_link(token).await?;
        self.check_turn(&guest)?;
        let entered =
            mobileid_core::Msisdn::parse(msisdn).map_err(|_| EnvelopeError::Signer(SignerProblem::NotANumber))?;
        if let Some(expected) = &guest.signer.msisdn {
            let expected = mobileid_core::Msisdn::parse(expected).map_err(|_| EnvelopeError::Internal)?;
            if expected.normalized() != entered.normalized() {
                return Err(EnvelopeError::Signer(SignerProblem::WrongNumber));
            }
        }
        self.store().set_signer_msisdn(&guest.signer.signer_id, entered.normalized()).await.map_err(store_error)?;
        self.continue_signing(&guest, entered.normalized(), true).await
    }

    /// The signer's next step with the number they entered (normalised): enrol the app
    /// (`enrol` issues the activation code; the waiting page only looks), wait for the
    /// identity, or ask the phone for the next document.
    async fn continue_signing(
        &self,
        guest: &GuestView,
        msisdn: &str,
        enrol: bool,
    ) -> Result<SigningStep, EnvelopeError> {
        let user = self.store().find_user_and_devices(msisdn).await.map_err(store_error)?;
        let active_app = user.as_ref().is_some_and(|(_, devices)| {
            devices
                .iter()
                .any(|d| d.method == mobileid_core::Method::App && d.state == mobileid_core::DeviceState::Active)
        });
        if !active_app {
            if !enrol {
                return Ok(SigningStep::WaitingForApp);
            }
            // A link alone must not enrol a phone for somebody's number: only the number
            // the sender vouched for, and only where nobody has a phone yet.
            if guest.signer.msisdn.is_none() {
                return Err(EnvelopeError::Signer(SignerProblem::NoApp));
            }
            if user.as_ref().is_some_and(|(_, devices)| !devices.is_empty()) {
                return Err(EnvelopeError::Signer(SignerProblem::NotAnApp));
            }
            let activation_code = self.enrolment_code_for(msisdn).await?;
            return Ok(SigningStep::NeedsApp { msisdn: msisdn.to_string(), activation_code });
        }
        // The certificate carries the signer's verified name: without one, the identity
        // is asked for first (an operator decides, `mobileid identity`).
        match self.store().find_identity(msisdn).await.map_err(store_error)? {
            Some(identity) if identity.state == "verified" => {}
            Some(identity) if identity.state == "rejected" => {
                return Ok(SigningStep::IdentityRejected(identity.reason.unwrap_or_default()));
            }
            Some(_) => return Ok(SigningStep::NeedsIdentity),
            None => {
                let now = self.now();
                self.store().request_identity(msisdn, &guest.signer.name, now).await.map_err(store_error)?;
                return Ok(SigningStep::NeedsIdentity);
            }
        }
        self.ask_next_document(guest, msisdn).await
    }

    /// Where the signer's signing stands now.
    pub async fn envelope_signing_step(&self, token: &str) -> Result<SigningStep, EnvelopeError> {
        let guest = self.open_signer_link(token).await?;
        if guest.signer.state == SignerState::Signed {
            return Ok(SigningStep::Signed);
        }
        self.check_turn(&guest)?;
        let Some(transaction_id) = &guest.signer.transaction_id else {
            // Waiting for the app or the identity: go on once they are there.
            let Some(msisdn) = guest.signer.signing_msisdn.clone() else {
                return Err(EnvelopeError::State("signing has not started".into()));
            };
            return self.continue_signing(&guest, &msisdn, false).await;
        };
        // Expired first if its time is up, as every reader of a transaction does.
        let record = self.current(transaction_id, None).await?;
        match record.state {
            TxState::Pending => {
                let position = self.document_position(&guest, transaction_id).await?;
                Ok(SigningStep::OnThePhone {
                    index: position,
                    count: guest.documents.len(),
                    document: guest.documents[position].name.clone(),
                })
            }
            TxState::Failed => {
                let why = record.failure.and_then(|f| f.detail).unwrap_or_else(|| "the phone did not sign".into());
                Ok(SigningStep::Failed(why))
            }
            // Signed: the next document is asked for as the signature is embedded.
            TxState::Signed => Ok(SigningStep::Signed),
        }
    }

    /// The signer declines: the envelope ends, the sender and the other signers are told.
    pub async fn decline_envelope(&self, token: &str, reason: &str) -> Result<(), EnvelopeError> {
        check_text("reason", reason, true)?;
        let guest = self.open_signer_link(token).await?;
        self.check_turn(&guest)?;
        let envelope = &guest.envelope;
        let now = self.now();
        let mut change = EnvelopeChange::new(&envelope.envelope_id, now);
        change.expect = Some((EnvelopeState::Sent, envelope.level));
        change.state = Some(EnvelopeState::Declined);
        change.signers.push(SignerMove {
            signer_id: guest.signer.signer_id.clone(),
            from: vec![SignerState::Invited, SignerState::Viewed],
            to: SignerState::Declined,
            decline_reason: Some(reason.to_string()),
            signed_at: None,
        });
        change.events.push(event(
            &envelope.envelope_id,
            now,
            EnvelopeEvent::Declined,
            Some(&guest.signer),
            Some(reason.to_string()),
        ));
        if let Some(sender) = self.store().find_sender(&envelope.sender_id).await.map_err(store_error)? {
            self.tell_sender(&sender, envelope, &mut change, EnvelopeEvent::Declined, Some(&guest.signer));
        }
        let signers = self.store().envelope_signers(&envelope.envelope_id).await.map_err(store_error)?;
        for other in signers.iter().filter(|s| s.state != SignerState::Waiting) {
            change.mails.push(mail(envelope, Some(other), &other.email, "declined", now));
        }
        if !self.store().apply_envelope_change(&change).await.map_err(store_error)? {
            return Err(EnvelopeError::State("the envelope changed meanwhile".into()));
        }
        Ok(())
    }

    fn check_turn(&self, guest: &GuestView) -> Result<(), EnvelopeError> {
        match guest.envelope.state {
            EnvelopeState::Sent => {}
            state => return Err(EnvelopeError::State(format!("the envelope is {state}"))),
        }
        if !guest.their_turn {
            return Err(EnvelopeError::State("it is not your turn to sign yet".into()));
        }
        match guest.signer.state {
            SignerState::Invited | SignerState::Viewed => Ok(()),
            state => Err(EnvelopeError::State(format!("you have {state}"))),
        }
    }

    async fn document_position(&self, guest: &GuestView, transaction_id: &str) -> Result<usize, EnvelopeError> {
        let signature = self.store().find_document_signature(transaction_id).await.map_err(store_error)?;
        let document_id = signature.ok_or(EnvelopeError::Internal)?.document_id;
        guest.documents.iter().position(|d| d.document_id == document_id).ok_or(EnvelopeError::Internal)
    }

    /// Asks the phone for the first document the signer has not signed yet.
    async fn ask_next_document(&self, guest: &GuestView, msisdn: &str) -> Result<SigningStep, EnvelopeError> {
        let next = match &guest.signer.transaction_id {
            Some(id) => {
                let record = self.current(id, None).await.ok();
                let position = self.document_position(guest, id).await?;
                match record.map(|r| r.state) {
                    Some(TxState::Signed) => position + 1,
                    Some(TxState::Pending) => {
                        return Ok(SigningStep::OnThePhone {
                            index: position,
                            count: guest.documents.len(),
                            document: guest.documents[position].name.clone(),
                        })
                    }
                    _ => position,
                }
            }
            None => 0,
        };
        let Some(document) = guest.documents.get(next) else {
            return Ok(SigningStep::Signed);
        };
        let spot: StampSpot = serde_json::from_str(&guest.signer.stamp).map_err(store_error)?;
        let verified = self.verified_name(msisdn).await.map_err(store_error)?;
        let ask = SignatureAsk {
            document_id: document.document_id.clone(),
            msisdn: format!("+{msisdn}"),
            signer_name: verified.map_or_else(|| guest.signer.name.clone(), |name| name.full()),
            placement: Some(Placement {
                page: spot.page.min(document.pages),
                x: spot.x,
                y: spot.y,
                width: spot.width,
                height: spot.height,
                reference: guest.envelope.envelope_id.clone(),
            }),
            language: guest.signer.language.clone(),
            requester: Requester::Sender(guest.envelope.sender_id.clone()),
            lifetime: PHONE_LIFETIME,
        };
        let record = self.ask_document_signature(ask).await.map_err(|e| match e {
            SigningError::Signer(_) => EnvelopeError::Signer(SignerProblem::NoApp),
            SigningError::Placement(m) => EnvelopeError::Invalid(m),
            SigningError::Document(e) => EnvelopeError::Document { name: document.name.clone(), reason: e.to_string() },
            _ => EnvelopeError::Internal,
        })?;
        self.store().set_signer_transaction(&guest.signer.signer_id, &record.id).await.map_err(store_error)?;
        Ok(SigningStep::OnThePhone { index: next, count: guest.documents.len(), document: document.name.clone() })
    }

    /// A document signature of an envelope failed (declined on the phone, expired): the
    /// audit trail and the sender are told; the signer may start again.
    pub(crate) async fn envelope_signature_failed(&self, transaction_id: &str, why: &str) -> Result<(), EnvelopeError> {
        let Some(signer) = self.store().find_signer_by_transaction(transaction_id).await.map_err(store_error)? else {
            return Ok(());
        };
        let envelope = self.store().find_envelope(&signer.envelope_id).await.map_err(store_error)?;
        let envelope = envelope.ok_or(EnvelopeError::Internal)?;
        let now = self.now();
        let mut change = EnvelopeChange::new(&envelope.envelope_id, now);
        change.events.push(event(
            &envelope.envelope_id,
            now,
            EnvelopeEvent::Failed,
            Some(&signer),
            Some(why.to_string()),
        ));
        if let Some(sender) = self.store().find_sender(&envelope.sender_id).await.map_err(store_error)? {
            self.tell_sender(&sender, &envelope, &mut change, EnvelopeEvent::Failed, Some(&signer));
        }
        self.store().apply_envelope_change(&change).await.map_err(store_error)?;
        Ok(())
    }

    /// After a document signature was embedded: the signer's next document, or the
    /// signer is done, and with them maybe their level or the envelope.
    pub(crate) async fn envelope_signature_embedded(&self, transaction_id: &str) -> Result<(), EnvelopeError> {
        let Some(signer) = self.store().find_signer_by_transaction(transaction_id).await.map_err(store_error)? else {
            return Ok(());
        };
        let guest = self.open_signer_link(&self.signer_link_token(&signer.signer_id)).await?;
        let record = self.store().find_transaction(transaction_id).await.map_err(store_error)?;
        let msisdn = record.ok_or(EnvelopeError::Internal)?.msisdn;
        if let SigningStep::OnThePhone { .. } = self.ask_next_document(&guest, &msisdn).await? {
            return Ok(());
        }
        let now = self.now();
        let envelope = &guest.envelope;
        let mut change = EnvelopeChange::new(&envelope.envelope_id, now);
        change.signers.push(SignerMove {
            signer_id: signer.signer_id.clone(),
            from: vec![SignerState::Invited, SignerState::Viewed],
            to: SignerState::Signed,
            decline_reason: None,
            signed_at: Some(now),
        });
        change.events.push(event(&envelope.envelope_id, now, EnvelopeEvent::Signed, Some(&signer), None));
        let sender = self.store().find_sender(&envelope.sender_id).await.map_err(store_error)?;
        if let Some(sender) = &sender {
            self.tell_sender(sender, envelope, &mut change, EnvelopeEvent::Signed, Some(&signer));
        }
        self.store().apply_envelope_change(&change).await.map_err(store_error)?;
        self.advance_envelope(&envelope.envelope_id).await
    }

    /// When every signer of the current level signed: the next level is invited, or
    /// the envelope is complete. Guarded, so of signers finishing together it happens once.
    async fn advance_envelope(&self, envelope_id: &str) -> Result<(), EnvelopeError> {
        let view = self.envelope_view(envelope_id).await?;
        let envelope = &view.envelope;
        if envelope.state != EnvelopeState::Sent {
            return Ok(());
        }
        let level = envelope.level;
        let done = view.signers.iter().filter(|s| s.level == level).all(|s| s.state == SignerState::Signed);
        if !done {
            return Ok(());
        }
        let now = self.now();
        let mut change = EnvelopeChange::new(envelope_id, now);
        change.expect = Some((EnvelopeState::Sent, level));
        let sender = self.store().find_sender(&envelope.sender_id).await.map_err(store_error)?;
        if view.signers.iter().any(|s| s.level > level) {
            self.invite_level(&view, level + 1, &mut change);
        } else {
            change.state = Some(EnvelopeState::Completed);
            change.events.push(event(envelope_id, now, EnvelopeEvent::Completed, None, None));
            if let Some(sender) = &sender {
                self.tell_sender(sender, envelope, &mut change, EnvelopeEvent::Completed, None);
            }
            for signer in &view.signers {
                change.mails.push(mail(envelope, Some(signer), &signer.email, "completed", now));
            }
        }
        self.store().apply_envelope_change(&change).await.map_err(store_error)?;
        Ok(())
    }

    /// Moves the envelope to `level` and invites its signers (e-mail now, a reminder a
    /// day before the envelope expires).
    fn invite_level(&self, view: &EnvelopeView, level: i64, change: &mut EnvelopeChange) {
        let envelope = &view.envelope;
        let now = change.now;
        change.level = Some(level);
        let remind_at = Timestamp::from_millis(envelope.expires_at.as_millis() - 24 * 3600 * 1000);
        for signer in view.signers.iter().filter(|s| s.level == level) {
            change.signers.push(SignerMove {
                signer_id: signer.signer_id.clone(),
                from: vec![SignerState::Waiting],
                to: SignerState::Invited,
                decline_reason: None,
                signed_at: None,
            });
            change.mails.push(mail(envelope, Some(signer), &signer.email, "invitation", now));
            if remind_at > now {
                change.mails.push(mail(envelope, Some(signer), &signer.email, "reminder", remind_at));
            }
        }
    }

    /// An envelope whose time ran out is expired, with its events, on first sight.
    async fn expire_if_due(&self, id: &str) -> Result<(), EnvelopeError> {
        let Some(envelope) = self.store().find_envelope(id).await.map_err(store_error)? else {
            return Ok(());
        };
        let now = self.now();
        if envelope.state.is_final() || envelope.expires_at > now {
            return Ok(());
        }
        let mut change = EnvelopeChange::new(id, now);
        change.expect = Some((envelope.state, envelope.level));
        change.state = Some(EnvelopeState::Expired);
        change.events.push(event(id, now, EnvelopeEvent::Expired, None, None));
        if let Some(sender) = self.store().find_sender(&envelope.sender_id).await.map_err(store_error)? {
            self.tell_sender(&sender, &envelope, &mut change, EnvelopeEvent::Expired, None);
        }
        self.store().apply_envelope_change(&change).await.map_err(store_error)?;
        Ok(())
    }

    /// An activation code for the signer's number, so that the page can show the QR
    /// code that installs the web authenticator (a new user where there is none).
    async fn enrolment_code_for(&self, msisdn: &str) -> Result<String, EnvelopeError> {
        self.add_user(&format!("+{msisdn}")).await.map(|added| added.code).map_err(|e| {
            tracing::warn!("no activation code for a signer: {e}");
            EnvelopeError::Signer(SignerProblem::Refused)
        })
    }

    /// Queues the webhook for `what` if the sender has a webhook URL.
    fn tell_sender(
        &self,
        sender: &SenderRecord,
        envelope: &EnvelopeRecord,
        change: &mut EnvelopeChange,
        what: EnvelopeEvent,
        signer: Option<&SignerRecord>,
    ) {
        if sender.webhook_url.is_none() {
            return;
        }
        let payload = serde_json::json!({
            "event": what.as_db(),
            "envelope_id": envelope.envelope_id,
            "at": change.now.as_millis(),
            "signer": signer.map(|s| serde_json::json!({ "id": s.signer_id, "name": s.name, "email": s.email })),
        });
        change.webhooks.push(WebhookRecord {
            delivery_id: format!("wh_{}", hex::encode(rand::random::<[u8; 12]>())),
            sender_id: sender.sender_id.clone(),
            envelope_id: envelope.envelope_id.clone(),
            event: what,
            payload: payload.to_string(),
            state: "pending".into(),
            attempts: 0,
            next_attempt_at: change.now,
            last_status: None,
            last_error: None,
            created_at: change.now,
        });
    }
}

fn webhook_context(sender_id: &str) -> Vec<u8> {
    format!("mobileid webhook secret {sender_id}").into_bytes()
}

fn event(
    envelope_id: &str,
    at: Timestamp,
    what: EnvelopeEvent,
    signer: Option<&SignerRecord>,
    detail: Option<String>,
) -> EventRecord {
    EventRecord {
        envelope_id: envelope_id.to_string(),
        at,
        event: what,
        signer_id: signer.map(|s| s.signer_id.clone()),
        detail,
    }
}

fn mail(
    envelope: &EnvelopeRecord,
    signer: Option<&SignerRecord>,
    to: &str,
    kind: &str,
    due_at: Timestamp,
) -> MailRecord {
    MailRecord {
        mail_id: format!("ml_{}", hex::encode(rand::random::<[u8; 12]>())),
        envelope_id: envelope.envelope_id.clone(),
        signer_id: signer.map(|s| s.signer_id.clone()),
        recipient: to.to_string(),
        kind: kind.to_string(),
        attempts: 0,
        due_at,
        created_at: due_at,
    }
}

/// An envelope's reference: 8 characters without look-alikes, in two groups.
fn reference_code() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let bytes: [u8; 8] = rand::random();
    let code: String = bytes.iter().map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char).collect();
    format!("{}-{}", &code[..4], &code[4..])
}

/// The n-th default stamp: rows at the foot of the last page, two columns.
fn default_spot(n: usize, last_page: u32) -> StampSpot {
    let (column, row) = (n % 2, n / 2);
    StampSpot {
        page: last_page,
        x: 40.0 + 270.0 * column as f32,
        y: 36.0 + 62.0 * row as f32,
        width: 250.0,
        height: 54.0,
    }
}

fn check_text(what: &str, text: &str, required: bool) -> Result<(), EnvelopeError> {
    if required && text.trim().is_empty() {
        return Err(EnvelopeError::Invalid(format!("the {what} is missing")));
    }
    if text.chars().count() > MAX_TEXT || text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(EnvelopeError::Invalid(format!("the {what} is too long or holds control characters")));
    }
    Ok(())
}

fn plausible_email(email: &str) -> bool {
    let email = email.trim();
    match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty() && domain.contains('.') && email.len() <= 254 && !email.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_and_default_spots() {
        let code = reference_code();
        assert_eq!(code.len(), 9);
        assert!(!code.contains('0') && !code.contains('O'));
        assert_eq!(default_spot(0, 3).page, 3);
        assert!(default_spot(2, 1).y > default_spot(0, 1).y);
        assert!(plausible_email("a.b@example.ch") && !plausible_email("a b@x.ch") && !plausible_email("ab"));
        assert!(check_text("title", "  ", true).is_err() && check_text("title", "Offer\u{7}", true).is_err());
    }
}
