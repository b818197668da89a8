//! Document signing: PDF documents kept in the store, and PAdES signatures on them asked
//! of users as transactions of kind `document`.
//!
//! A signature covers one exact revision of the file, so two signers of the same
//! document cannot compute theirs at the same time. Only the cryptographic step is
//! serialised, never the user's decision: the phone shows the document (name and
//! SHA-256) and the user approves with the PIN; only then does the phone ask for what to
//! sign (`prepare`). That takes the document's lease, writes the revision with this
//! signer's field and returns the signed attributes over its digest; the phone signs at
//! once, and the approval embeds the signature, stores the new revision and frees the
//! lease, in one database transaction. A second signer who approved meanwhile waits
//! only for that round trip, then extends the new revision.

pub mod envelopes;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use mobileid_core::{DeviceState, Method, Requester, SignContent, Timestamp, TxKind};
use mobileid_crypto::{pdf_signed_attributes, verify_detached_signed_data, CertificateInfo, DocumentCommitment};
use mobileid_pdf::{PdfError, SignatureField, Stamp, ValidationData};
use mobileid_store::{
    ChangeEvent, Completion, DeviceRecord, DocumentRecord, DocumentSignatureRecord, Failure, Prepared,
    TransactionRecord,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::certificate_status::Authority;
use crate::identity::VerifiedName;
use crate::transactions::{internal, NewTransaction, TransactionError};
use crate::Engine;

/// How long a prepared signature may take to come back before another signer may go.
const LEASE: Duration = Duration::from_secs(30);
/// How long a signer's prepare waits for the signer before them.
const LEASE_WAIT: Duration = Duration::from_secs(35);
/// Room for the CMS: three certificates and the attributes take about 2 KB; an RFC 3161
/// timestamp adds up to 6 KB.
const CMS_CAPACITY: usize = 16 * 1024;

/// An RFC 3161 time-stamp authority: sends a DER TimeStampReq, answers the DER
/// TimeStampResp. The front end that knows the network provides it (`Engine::
/// set_timestamper`); with one, every document signature is PAdES B-T.
pub trait Timestamper: Send + Sync {
    fn stamp(&self, request: Vec<u8>) -> Pin<Box<dyn Future<Output = Result<Vec<u8>, String>> + Send + '_>>;
}

/// Why a document or a signature on it cannot be had.
#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    #[error("{0}")]
    Document(#[from] PdfError),
    #[error("no such document")]
    NoSuchDocument,
    #[error("{0}")]
    Signer(String),
    #[error("{0}")]
    Placement(String),
    #[error(transparent)]
    Transaction(#[from] TransactionError),
}

/// Where a signature's stamp goes, in PDF points from the page's lower left corner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Placement {
    pub page: u32,
    pub x: f32,
    pub y: f32,
    pub width: f32,
    pub height: f32,
    /// Printed on the stamp for support (the envelope's reference).
    pub reference: String,
}

/// A signature to ask of the user of `msisdn` on a document.
#[derive(Debug, Clone)]
pub struct SignatureAsk {
    pub document_id: String,
    /// As the user or sender wrote it (international form).
    pub msisdn: String,
    /// The name the stamp and the signature dictionary show.
    pub signer_name: String,
    pub placement: Option<Placement>,
    pub language: String,
    pub requester: Requester,
    pub lifetime: Duration,
}

impl Engine {
    /// Stamps every document signature from now on with this authority's time-stamp.
    pub fn set_timestamper(&self, timestamper: Arc<dyn Timestamper>) {
        let _ = self.inner.timestamper.set(timestamper);
    }

    /// The signature time-stamped by the configured authority, if there is one.
    async fn time_stamped(&self, cms: Vec<u8>) -> Result<Vec<u8>, TransactionError> {
        let Some(timestamper) = self.inner.timestamper.get() else { return Ok(cms) };
        let value = mobileid_crypto::signature_value(&cms).map_err(internal)?;
        let (request, nonce) = mobileid_crypto::timestamp_request(&value);
        let refused = |why: String| {
            tracing::warn!("the time-stamp authority: {why}");
            TransactionError::Invalid("the time-stamp authority did not answer as it should; approve again".into())
        };
        let response = timestamper.stamp(request).await.map_err(refused)?;
        let token = mobileid_crypto::timestamp_token(&response, &value, &nonce).map_err(|e| refused(e.to_string()))?;
        mobileid_crypto::with_signature_timestamp(&cms, &token).map_err(internal)
    }

    /// Keeps a PDF to be signed, once it reads as one that can be.
    pub async fn add_document(&self, name: &str, content: Vec<u8>) -> Result<DocumentRecord, SigningError> {
        let (record, content) = self.checked_document(name, content).await?;
        self.store().insert_document(&record, &content).await.map_err(internal)?;
        Ok(record)
    }

    /// A PDF read as signing will read it (on the compute pool), and its record.
    pub(crate) async fn checked_document(
        &self,
        name: &str,
        content: Vec<u8>,
    ) -> Result<(DocumentRecord, Vec<u8>), SigningError> {
        let (content, checked) = self
            .compute(move || {
                let checked = mobileid_pdf::inspect(&content);
                (content, checked)
            })
            .await
            .map_err(internal)?;
        let pages = checked?.pages.len() as u32;
        let record = DocumentRecord {
            document_id: format!("doc_{}", hex::encode(rand::random::<[u8; 12]>())),
            name: name.to_string(),
            original_sha256: Sha256::digest(&content).to_vec(),
            original_size: content.len() as u64,
            pages,
            revision: 0,
            created_at: self.now(),
        };
        Ok((record, content))
    }

    /// The current revision of a document: how many signatures it carries, and its bytes.
    pub async fn document_content(&self, document_id: &str) -> Result<(i64, Vec<u8>), SigningError> {
        self.store().document_content(document_id).await.map_err(internal)?.ok_or(SigningError::NoSuchDocument)
    }

    /// Puts a signature request for the document in front of the user's phone (an App:
    /// only an App shows a document).
    pub async fn ask_document_signature(&self, ask: SignatureAsk) -> Result<TransactionRecord, SigningError> {
        let document = self.store().find_document(&ask.document_id).await.map_err(internal)?;
        let document = document.ok_or(SigningError::NoSuchDocument)?;
        if let Some(placement) = &ask.placement {
            if placement.page == 0 || placement.page > document.pages {
                return Err(SigningError::Placement(format!(
                    "the stamp is to go on page {}, but the document has {} page(s)",
                    placement.page, document.pages
                )));
            }
        }
        let msisdn = mobileid_core::Msisdn::parse(&ask.msisdn)
            .map_err(|_| SigningError::Signer(format!("{:?} is not a phone number", ask.msisdn)))?;
        let devices = match self.store().find_user_and_devices(msisdn.normalized()).await.map_err(internal)? {
            Some((_, devices)) => devices,
            None => return Err(SigningError::Signer("there is no Mobile ID for this number".into())),
        };
        let device = devices
            .into_iter()
            .find(|d| d.method == Method::App && d.state == DeviceState::Active)
            .ok_or_else(|| SigningError::Signer("the number has no active Mobile ID app".into()))?;
        let sha256 = <[u8; 32]>::try_from(document.original_sha256.as_slice()).map_err(internal)?;
        let new = NewTransaction {
            kind: TxKind::Document,
            requester: ask.requester,
            device,
            content: SignContent::Document { name: document.name.clone(), sha256 },
            language: ask.language,
            lifetime: ask.lifetime,
            number_match: None,
        };
        let record = self.prepare(new, mobileid_core::MsspTransId::generate().as_str()).await?;
        let stamp = ask.placement.as_ref().map(serde_json::to_string).transpose().map_err(internal)?;
        let signature = DocumentSignatureRecord {
            transaction_id: record.id.clone(),
            document_id: document.document_id,
            signer_name: ask.signer_name,
            stamp,
            prepared: None,
        };
        let mut write = self.store().begin_request(&record).await.map_err(internal)?;
        write.insert(&record).await.map_err(internal)?;
        write.insert_document_signature(&signature).await.map_err(internal)?;
        let replaced = write.commit(&record).await.map_err(internal)?;
        self.deliver(&record, replaced).await;
        Ok(record)
    }

    /// What the phone shows and needs for a document request besides its content: the
    /// document's length and the certificate the signature will name.
    pub(crate) async fn document_request_facts(
        &self,
        record: &TransactionRecord,
    ) -> Result<(u64, Vec<u8>), TransactionError> {
        let signature = self.document_signature(&record.id).await?;
        let document = self.store().find_document(&signature.document_id).await.map_err(internal)?;
        let document = document.ok_or_else(|| internal(format!("document of {} is gone", record.id)))?;
        let device_id = record.device_id.as_deref().unwrap_or_default();
        Ok((document.original_size, self.signing_certificate_of(device_id).await?))
    }

    /// A document signature ended without one: its envelope, if any, records it.
    pub(crate) async fn document_signature_failed(&self, record: &TransactionRecord, failure: &Failure) {
        if record.kind != TxKind::Document {
            return;
        }
        let why = failure.detail.clone().unwrap_or_else(|| failure.reason.as_db().to_string());
        if let Err(e) = self.envelope_signature_failed(&record.id, &why).await {
            tracing::error!(id = %record.id, "recording a failed document signature: {e}");
        }
    }

    /// After the user approved: takes the document's lease (waiting for a signer before
    /// this one), writes the revision with this signer's field and returns the signed
    /// attributes over its digest.
    pub(crate) async fn prepare_document_signature(
        &self,
        device: &DeviceRecord,
        record: &TransactionRecord,
    ) -> Result<Vec<u8>, TransactionError> {
        let signature = self.document_signature(&record.id).await?;
        let document_id = signature.document_id.clone();
        self.take_lease(&document_id, &record.id).await?;
        let (revision, content) = self
            .store()
            .document_content(&document_id)
            .await
            .map_err(internal)?
            .ok_or_else(|| internal("the document is gone"))?;
        let document = self.store().find_document(&document_id).await.map_err(internal)?;
        let document = document.ok_or_else(|| internal("the document is gone"))?;
        let signing_time = Timestamp::from_millis(self.now().as_millis() / 1000 * 1000);
        let to_sign = signature.clone();
        let revision_digest = self
            .compute(move || revision_of(&content, &to_sign, signing_time).map(|r| r.digest()))
            .await
            .map_err(internal)?
            .map_err(|e| TransactionError::Invalid(format!("the document cannot be signed: {e}")))?;
        let certificate = self.signing_certificate_of(&device.device_id).await?;
        let nonce: [u8; 8] = record.nonce.as_slice().try_into().map_err(internal)?;
        let commitment = DocumentCommitment {
            name: document.name,
            length: document.original_size,
            sha256: document.original_sha256.as_slice().try_into().map_err(internal)?,
        };
        let to_be_signed =
            pdf_signed_attributes(&revision_digest, &nonce, &certificate, &commitment).map_err(internal)?;
        let prepared = Prepared { base_revision: revision, signing_time, to_be_signed: to_be_signed.clone() };
        self.store().record_prepared_signature(&record.id, &prepared).await.map_err(internal)?;
        Ok(to_be_signed)
    }

    /// The signed attributes prepared for a document request, or Invalid if the phone
    /// answers without having asked for them.
    pub(crate) async fn prepared_attributes(&self, record: &TransactionRecord) -> Result<Vec<u8>, TransactionError> {
        let signature = self.document_signature(&record.id).await?;
        signature
            .prepared
            .map(|p| p.to_be_signed)
            .ok_or_else(|| TransactionError::Invalid("prepare the document signature first".into()))
    }

    /// Embeds the verified CMS into the revision it was computed over, stores that and
    /// completes the transaction (one database transaction), and frees the lease.
    pub(crate) async fn embed_document_signature(
        &self,
        record: &TransactionRecord,
        cms: Vec<u8>,
    ) -> Result<(), TransactionError> {
        let signature = self.document_signature(&record.id).await?;
        let prepared = signature.prepared.clone().ok_or_else(|| internal("embedding an unprepared signature"))?;
        let (revision, content) = self
            .store()
            .document_content(&signature.document_id)
            .await
            .map_err(internal)?
            .ok_or_else(|| internal("the document is gone"))?;
        if revision != prepared.base_revision {
            // Only after the lease expired can another signature have gone first.
            return Err(TransactionError::Invalid("the document changed; approve again".into()));
        }
        let cms = self.time_stamped(cms).await?;
        let to_sign = signature.clone();
        let embedding = cms.clone();
        let validation = self.validation_data(record).await?;
        let signed = self
            .compute(move || -> Result<Vec<u8>, String> {
                let revision = revision_of(&content, &to_sign, prepared.signing_time).map_err(|e| e.to_string())?;
                // The revision is written again as it was prepared: the signature must
                // cover exactly its bytes.
                verify_detached_signed_data(&embedding, &revision.digest()).map_err(|e| e.to_string())?;
                let signed = revision.embed(&embedding).map_err(|e| e.to_string())?;
                mobileid_pdf::append_dss(&signed, &validation).map_err(|e| e.to_string())
            })
            .await
            .map_err(internal)?
            .map_err(internal)?;
        let now = self.now();
        let embedded = self
            .store()
            .embed_document_signature(
                &signature.document_id,
                &record.id,
                prepared.base_revision,
                &signed,
                &Completion::Signed(cms),
                now,
            )
            .await
            .map_err(internal)?;
        if !embedded {
            return Err(TransactionError::NoLongerOpen);
        }
        self.inner.metrics.finished(crate::metrics::Ending::Signed, record.created_at, now);
        self.announce(ChangeEvent::DocumentFree(signature.document_id)).await;
        self.announce(ChangeEvent::TransactionDone(record.id.clone())).await;
        // The envelope goes on (the signer's next document, the next level); the
        // signature stands whatever happens there.
        if let Err(e) = self.envelope_signature_embedded(&record.id).await {
            tracing::error!(id = %record.id, "the envelope did not go on after a signature: {e}");
        }
        Ok(())
    }

    /// What validates a signature without the network (PAdES B-LT): the signer's
    /// certificate and our CAs, our responder's answer about the signer's certificate, and
    /// the root's CRL, which covers the issuing CA.
    async fn validation_data(&self, record: &TransactionRecord) -> Result<ValidationData, TransactionError> {
        let device_id = record.device_id.as_deref().unwrap_or_default();
        let signer = self.signing_certificate_of(device_id).await?;
        let issuing = self.ca_certificate(Authority::Issuing).to_vec();
        let root = self.ca_certificate(Authority::Root).to_vec();
        let request = mobileid_crypto::ocsp_request(&signer, &issuing).map_err(internal)?;
        let ocsp = self.ocsp(&request).await;
        let crl = self.revocation_list(Authority::Root).await.map_err(internal)?;
        Ok(ValidationData { certificates: vec![signer, issuing, root], ocsp_responses: vec![ocsp], crls: vec![crl] })
    }

    async fn document_signature(&self, transaction_id: &str) -> Result<DocumentSignatureRecord, TransactionError> {
        self.store()
            .find_document_signature(transaction_id)
            .await
            .map_err(internal)?
            .ok_or_else(|| internal(format!("document transaction {transaction_id} has no signature row")))
    }

    /// The certificate a document signature names: the phone's signing certificate (key
    /// usage nonRepudiation, which validators want of a document signature), in the
    /// user's verified name where there is one. A phone without one, or whose one names
    /// somebody else, gets a new one for the key it already signs with.
    async fn signing_certificate_of(&self, device_id: &str) -> Result<Vec<u8>, TransactionError> {
        let device = self.store().find_device(device_id).await.map_err(internal)?;
        let device = device.ok_or_else(|| internal(format!("device {device_id} is gone")))?;
        let verified = self.verified_name(&device.msisdn).await.map_err(internal)?;
        let wanted = verified.as_ref().map(VerifiedName::full);
        let existing = self.store().signing_certificate(device_id).await.map_err(internal)?;
        if let Some(certificate) = &existing {
            let named = CertificateInfo::parse(certificate).map_err(internal)?.common_name;
            if wanted.is_none() || named == wanted {
                return Ok(certificate.clone());
            }
        }
        let user = self.store().find_user(&device.msisdn).await.map_err(internal)?;
        let user = user.ok_or_else(|| internal(format!("the user of {device_id} is gone")))?;
        let subject = self.subject_properties(&device.msisdn).await.map_err(internal)?;
        let name = verified.as_ref().map(|n| (n.given_names.as_str(), n.surname.as_str()));
        let (der, record) = self
            .reissue_signing_certificate_of(
                &device.cert_der,
                &user.serial_number,
                name,
                &device.msisdn,
                device_id,
                &subject,
            )
            .map_err(internal)?;
        if existing.is_some() {
            self.store().replace_signing_certificate(device_id, &der, &record).await.map_err(internal)?;
        } else if !self.store().insert_signing_certificate(device_id, &der, &record).await.map_err(internal)? {
            // Another request made one at the same moment: that one stands.
            let kept = self.store().signing_certificate(device_id).await.map_err(internal)?;
            return kept.ok_or_else(|| internal("the signing certificate vanished"));
        }
        Ok(der)
    }

    /// Waits until the document's lease is this transaction's; a notification wakes the
    /// waiters when a signature frees it, an expired one is taken over.
    async fn take_lease(&self, document_id: &str, transaction_id: &str) -> Result<(), TransactionError> {
        let deadline = tokio::time::Instant::now() + LEASE_WAIT;
        let subscription = self.inner.documents.subscribe(document_id);
        loop {
            let notified = subscription.notify().notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let now = self.now();
            let until = now.plus(LEASE);
            if self.store().take_document_lease(document_id, transaction_id, now, until).await.map_err(internal)? {
                return Ok(());
            }
            // A lease nobody gives back frees itself when it expires: look again then.
            let expiry = tokio::time::Instant::now() + LEASE;
            if tokio::time::timeout_at(deadline.min(expiry), notified).await.is_err()
                && tokio::time::Instant::now() >= deadline
            {
                return Err(TransactionError::Invalid(
                    "another signature on this document is taking long; try again".into(),
                ));
            }
        }
    }
}

/// The revision a signature extends: `content` with this signer's field, as of
/// `signing_time`. The same inputs give the same bytes.
fn revision_of(
    content: &[u8],
    signature: &DocumentSignatureRecord,
    signing_time: Timestamp,
) -> Result<mobileid_pdf::Revision, PdfError> {
    let time = chrono::DateTime::from_timestamp_millis(signing_time.as_millis()).unwrap_or_default();
    let placement: Option<Placement> = signature.stamp.as_deref().and_then(|s| serde_json::from_str(s).ok());
    let stamp = placement.map(|p| Stamp {
        page: p.page,
        x: p.x,
        y: p.y,
        width: p.width,
        height: p.height,
        lines: vec![
            format!("Signed by {}", signature.signer_name),
            time.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
            format!("Ref {}", p.reference),
        ],
    });
    let field = SignatureField {
        signer_name: &signature.signer_name,
        signing_time: time,
        reason: Some("Signed with Mobile ID"),
        stamp: stamp.as_ref(),
        capacity: CMS_CAPACITY,
    };
    mobileid_pdf::prepare(content, &field)
}
