//! The device's side: activation, authentication of its API calls, its inbox, its
//! answers, and wrong PINs.
//!
//! A phone holds two keys: a device key that signs its API calls (so it can listen without
//! the PIN) and the user's signing key, encrypted under the PIN, whose certificate we issue
//! here. The signing key never leaves the phone: we send what is to be signed (the CMS
//! signed attributes), the phone checks it against what it shows, signs, and we verify
//! before assembling the CMS.

use std::collections::HashSet;
use std::time::Duration;

use mobileid_core::clip::Clipped;
use mobileid_core::{CertificateKind, DeviceState, FailureReason, Method, Requester, SignContent, Timestamp};
use mobileid_crypto::device_auth::{canonical_request, DeviceAuthorization};
use mobileid_crypto::{check_csr, verify_signature, PinGuard, PinProof, PinShare, SubjectKey};
use mobileid_store::{ChangeEvent, CodeOutcome, DeviceRecord, Failure, ReceiptRecord, TransactionRecord};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::metrics::Ending;
use crate::transactions::{signed_parts, TransactionError};
use crate::Engine;

/// What a device is refused, in the domain's words; the device API maps each to an HTTP
/// status.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DeviceError {
    /// The call is not proven to come from a known device (time, signature, replay).
    #[error("{0}")]
    NotAuthenticated(String),
    /// The call is malformed.
    #[error("{0}")]
    Invalid(String),
    /// The activation code cannot be used.
    #[error("{why}")]
    CodeRefused { why: String },
    #[error("this device's key is blocked")]
    KeyBlocked,
    /// What the transaction core refused about the request the device answers.
    #[error(transparent)]
    Request(#[from] TransactionError),
    #[error("internal error")]
    Internal,
}

fn internal(e: impl std::fmt::Display) -> DeviceError {
    tracing::error!("device API internal error: {e}");
    DeviceError::Internal
}

/// What a successful activation hands the phone.
#[derive(Debug, Clone)]
pub struct Activation {
    pub device_id: String,
    pub msisdn: String,
    pub serial_number: String,
    pub certificate: Vec<u8>,
    /// The signing certificate for the same key, where the operator asks for one.
    pub signing_certificate: Option<Vec<u8>>,
    /// The user's escrowed encryption keys, where the operator issues them.
    pub encryption_keys: Vec<crate::escrow::DeliveredKey>,
    /// Issuing CA, then root.
    pub chain: Vec<Vec<u8>>,
    /// The server's share of the key that seals the signing key, for the right PIN.
    pub pin_share: PinShare,
}

/// A request waiting for the device's answer.
#[derive(Debug, Clone)]
pub struct PendingRequest {
    pub transaction_id: String,
    pub content: SignContent,
    pub language: String,
    pub nonce: Vec<u8>,
    /// DER of the CMS signed attributes: the bytes the signing key signs. Empty for a
    /// document, whose attributes are prepared after the user approved.
    pub to_be_signed: Vec<u8>,
    /// For a document: its length and the certificate its signature will name.
    pub document: Option<(u64, Vec<u8>)>,
    pub expires_at: Timestamp,
    /// Number matching: the codes the user picks from (one is the code shown to them
    /// elsewhere); the approval must name the right one.
    pub choices: Option<Vec<String>>,
    /// Who asks, for the phone's history: the AP's or relying party's name.
    pub requester: String,
}

#[derive(Debug, Clone, Default)]
pub struct Inbox {
    pub requests: Vec<PendingRequest>,
    pub receipts: Vec<ReceiptRecord>,
}

/// What an unlock with a PIN proof gets: the share for the right PIN, nothing for a
/// wrong one, and how many wrong PINs are left before the key is blocked. A wrong PIN
/// that reaches the limit is [`DeviceError::KeyBlocked`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinUnlock {
    pub share: Option<PinShare>,
    pub attempts_left: i64,
}

/// The hash under which an activation code is stored: a database leak reveals no codes.
pub fn activation_code_hash(code: &str) -> String {
    let normalized: String =
        code.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_uppercase()).collect();
    Sha256::digest(normalized.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// What a phone offers at activation, decoded from its request.
#[derive(Debug, Clone, Copy)]
pub struct NewPhone<'a> {
    pub code: &'a str,
    /// PKCS#10 for the signing key.
    pub csr_der: &'a [u8],
    /// SubjectPublicKeyInfo of the key that will sign the phone's API calls.
    pub device_key_spki: &'a [u8],
    pub pin_proof: &'a PinProof,
}

impl Engine {
    /// Spends a one-time code: issues the certificate for the phone's CSR, registers the
    /// device key and the PIN guard. The request must be signed by that device key (proof
    /// of possession).
    pub async fn activate(
        &self,
        phone: &NewPhone<'_>,
        proof: &DeviceAuthorization,
        path: &str,
        body: &[u8],
    ) -> Result<Activation, DeviceError> {
        let NewPhone { code, csr_der, device_key_spki, pin_proof } = *phone;
        let device_key = SubjectKey::from_spki_der(device_key_spki)
            .map_err(|e| DeviceError::Invalid(format!("device_key is not a usable public key: {e}")))?;
        self.check_time(proof)?;
        let message = canonical_request("POST", path, proof.timestamp_ms, &proof.nonce, body);
        verify_signature(&device_key, &message, &proof.signature).map_err(|_| {
            tracing::warn!("refused activation: request not signed by the presented device key");
            DeviceError::NotAuthenticated("the request signature does not verify with device_key".into())
        })?;
        // Check the CSR before spending the code, so a broken phone can try again.
        check_csr(csr_der).map_err(|e| DeviceError::Invalid(format!("the CSR was refused: {e}")))?;

        let msisdn = match self.inner.store.take_activation_code(&activation_code_hash(code), self.now()).await {
            Ok(CodeOutcome::Taken(msisdn)) => msisdn,
            Ok(outcome) => {
                tracing::warn!(?outcome, "refused activation code");
                let why = match outcome {
                    CodeOutcome::Expired => "the activation code has expired",
                    CodeOutcome::AlreadyUsed => "the activation code was already used",
                    _ => "unknown activation code",
                };
                return Err(DeviceError::CodeRefused { why: why.into() });
            }
            Err(e) => return Err(internal(e)),
        };
        let user = self
            .inner
            .store
            .find_user(&msisdn)
            .await
            .map_err(internal)?
            .ok_or_else(|| DeviceError::CodeRefused { why: "the user of this code no longer exists".into() })?;
        let device_id = random_id("dev");
        let subject = self.subject_properties(&msisdn).await.map_err(internal)?;
        let (certificate, record) = self
            .issue_user_certificate(csr_der, &user.serial_number, &msisdn, &device_id, &subject)
            .map_err(internal)?;
        let signing = if self.config().signing_certificates {
            let kind = CertificateKind::Signing;
            Some(
                self.issue_certificate_of(csr_der, &user.serial_number, &msisdn, &device_id, &subject, kind)
                    .map_err(internal)?,
            )
        } else {
            None
        };
        let (guard, pin_share) = PinGuard::new(pin_proof);
        let sealed_guard = self.master_key().seal(guard.as_bytes(), &pin_guard_context(&device_id));
        let device = DeviceRecord {
            device_id,
            msisdn: msisdn.clone(),
            method: Method::App,
            state: DeviceState::Active,
            cert_der: certificate.clone(),
            auth_key: Some(device_key_spki.to_vec()),
            server_key: None,
            pin_guard: Some(sealed_guard),
            pin_failures: 0,
            created_at: self.now(),
        };
        let encryption_keys = if self.config().encryption_certificates {
            self.encryption_keys_for(&msisdn, &user.serial_number, &subject).await.map_err(internal)?
        } else {
            Vec::new()
        };
        let signing_parts = signing.as_ref().map(|(der, record)| (der.as_slice(), record));
        self.inner.store.activate_device_with(&device, &record, signing_parts).await.map_err(internal)?;
        tracing::info!(msisdn, device = %device.device_id, "device activated");
        Ok(Activation {
            device_id: device.device_id,
            msisdn,
            serial_number: user.serial_number,
            certificate,
            signing_certificate: signing.map(|(der, _)| der),
            encryption_keys,
            chain: self.inner.ca.chain(),
            pin_share,
        })
    }

    /// Checks a device-signed call: fresh time, a signature by the device key, and a nonce
    /// never seen before. Refusals are logged; they change nothing.
    pub async fn authenticate_device(
        &self,
        proof: &DeviceAuthorization,
        method: &str,
        path_and_query: &str,
        body: &[u8],
    ) -> Result<DeviceRecord, DeviceError> {
        self.check_time(proof)?;
        let device = self.inner.store.find_device(&proof.device_id).await.map_err(internal)?;
        let device = device.filter(|d| d.state != DeviceState::Retired).ok_or_else(|| {
            tracing::warn!(device = %Clipped(&proof.device_id), "refused device request: unknown or retired device");
            DeviceError::NotAuthenticated("unknown device".into())
        })?;
        let key = device
            .auth_key
            .as_deref()
            .ok_or_else(|| DeviceError::NotAuthenticated("this device has no API key".into()))?;
        let key = SubjectKey::from_spki_der(key).map_err(internal)?;
        let message = canonical_request(method, path_and_query, proof.timestamp_ms, &proof.nonce, body);
        if verify_signature(&key, &message, &proof.signature).is_err() {
            tracing::warn!(device = %device.device_id, "refused device request: signature does not verify");
            return Err(DeviceError::NotAuthenticated("the request signature does not verify".into()));
        }
        let seen_at = Timestamp::from_millis(proof.timestamp_ms);
        let fresh =
            self.inner.store.remember_nonce(&device.device_id, &proof.nonce, seen_at).await.map_err(internal)?;
        if !fresh {
            tracing::warn!(device = %device.device_id, "refused device request: replayed nonce");
            return Err(DeviceError::NotAuthenticated("replayed request".into()));
        }
        Ok(device)
    }

    /// The request time must be within the clock window of ours, compared without
    /// overflow: a `ts` of i64::MIN or i64::MAX is simply outside.
    fn check_time(&self, proof: &DeviceAuthorization) -> Result<(), DeviceError> {
        let sent = Timestamp::from_millis(proof.timestamp_ms);
        if !self.now().within(sent, self.inner.config.device_clock_window) {
            tracing::warn!(device = %Clipped(&proof.device_id), "refused device request: time outside the window");
            return Err(DeviceError::NotAuthenticated("the request time is outside the allowed window".into()));
        }
        Ok(())
    }

    /// Forgets device-request nonces that can no longer be replayed: a request older than
    /// the clock window is refused by its time anyway. In batches (`crate::purge`): a
    /// minute of a busy node's nonces is hundreds of thousands of rows. Returns how many
    /// went.
    pub async fn purge_old_nonces(&self) -> Result<u64, DeviceError> {
        let before = self.now().minus(2 * self.inner.config.device_clock_window);
        crate::purge::in_batches(|limit| self.inner.store.purge_nonces(before, limit)).await.map_err(internal)
    }

    /// The device's pending requests and new receipts; waits up to `wait` for one to arrive
    /// and answers the moment it does.
    pub async fn inbox(&self, device: &DeviceRecord, wait: Duration) -> Result<Inbox, DeviceError> {
        self.inbox_news(device, &HashSet::new(), wait).await
    }

    /// Like [`Engine::inbox`], but waits for something not in `seen` (requests the caller
    /// already has): a stream re-reads only when the inbox changed.
    pub async fn inbox_news(
        &self,
        device: &DeviceRecord,
        seen: &HashSet<String>,
        wait: Duration,
    ) -> Result<Inbox, DeviceError> {
        let deadline = tokio::time::Instant::now() + wait;
        let subscription = self.inner.inboxes.subscribe(&device.device_id);
        loop {
            let notified = subscription.notify().notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let inbox = self.read_inbox(device).await?;
            let news = !inbox.receipts.is_empty() || inbox.requests.iter().any(|r| !seen.contains(&r.transaction_id));
            if news || tokio::time::Instant::now() >= deadline {
                return Ok(inbox);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.read_inbox(device).await;
            }
        }
    }

    async fn read_inbox(&self, device: &DeviceRecord) -> Result<Inbox, DeviceError> {
        if device.state != DeviceState::Active {
            return Ok(Inbox::default());
        }
        let now = self.now();
        let stored = self.inner.store.device_inbox(&device.device_id, now).await.map_err(internal)?;
        let mut requests = Vec::with_capacity(stored.pending.len());
        for record in stored.pending {
            let requester = self.requester_name(&record.requester).await;
            let document = match record.content {
                SignContent::Document { .. } => Some(self.document_request_facts(&record).await?),
                _ => None,
            };
            requests.push(self.pending_request(record, requester, document)?);
        }
        let receipts = if stored.receipts_waiting {
            self.inner.store.take_receipts(&device.device_id, now).await.map_err(internal)?
        } else {
            Vec::new()
        };
        Ok(Inbox { requests, receipts })
    }

    /// The device approves: its signature over the signed attributes must verify with the
    /// user's certificate before the transaction completes with the assembled CMS.
    /// The user approved (with `choice`, the code they picked, where the request asks
    /// for number matching, and where the phone is, if it tells). A wrong pick ends the request as declined: whoever pushed it
    /// is not the one the user is dealing with.
    pub async fn approve(
        &self,
        device: &DeviceRecord,
        transaction_id: &str,
        signature: &[u8],
        choice: Option<&str>,
        location: Option<&mobileid_core::device_api::DeviceLocation>,
    ) -> Result<(), DeviceError> {
        let record = self.answerable(device, transaction_id).await?;
        if let Some(code) = &record.number_match {
            if choice != Some(code.as_str()) {
                let detail = "the code picked on the phone is not the one shown";
                self.fail(&record, Failure::new(FailureReason::Declined, Some(detail))).await?;
                return Err(DeviceError::Invalid(detail.into()));
            }
        }
        if let Some(location) = location {
            let json = serde_json::to_string(location).map_err(internal)?;
            self.inner.store.set_transaction_location(&record.id, &json).await.map_err(internal)?;
        }
        self.complete_signed(device, &record, signature).await?;
        if device.pin_failures > 0 {
            self.inner.store.reset_pin_failures(&device.device_id).await.map_err(internal)?;
        }
        Ok(())
    }

    /// The user pressed Cancel.
    /// The user approved a document request: what the phone must sign now, over the
    /// revision its signature will extend (see `signing`).
    pub async fn prepare_signature(&self, device: &DeviceRecord, transaction_id: &str) -> Result<Vec<u8>, DeviceError> {
        let record = self.answerable(device, transaction_id).await?;
        if !matches!(record.content, SignContent::Document { .. }) {
            return Err(DeviceError::Invalid("only a document's signature is prepared".into()));
        }
        Ok(self.prepare_document_signature(device, &record).await?)
    }

    pub async fn decline(&self, device: &DeviceRecord, transaction_id: &str) -> Result<(), DeviceError> {
        let record = self.answerable(device, transaction_id).await?;
        Ok(self.fail(&record, Failure::new(FailureReason::Declined, None)).await?)
    }

    /// Checks the proof of the PIN the user typed. The server, not the phone, tells a wrong
    /// PIN: it counts it (one UPDATE that also blocks at the limit) before it answers, so a
    /// phone that never reports wrong PINs is counted all the same. At the limit the key is
    /// blocked and the requests waiting for this device fail (PIN blocked). A right PIN
    /// clears the count and gets the share, unless the device was blocked meanwhile.
    pub async fn unlock_pin(&self, device: &DeviceRecord, pin_proof: &PinProof) -> Result<PinUnlock, DeviceError> {
        if device.state != DeviceState::Active {
            return Err(DeviceError::KeyBlocked);
        }
        let sealed = device
            .pin_guard
            .as_deref()
            .ok_or_else(|| DeviceError::Invalid("this device has no PIN; activate the phone again".into()))?;
        let guard = self
            .master_key()
            .open(sealed, &pin_guard_context(&device.device_id))
            .map_err(internal)
            .and_then(|bytes| PinGuard::from_bytes(&bytes).map_err(internal))?;
        let limit = self.inner.config.pin_attempts;
        match guard.share_for(pin_proof) {
            Some(share) => {
                if !self.inner.store.accept_pin(&device.device_id).await.map_err(internal)? {
                    return Err(DeviceError::KeyBlocked);
                }
                Ok(PinUnlock { share: Some(share), attempts_left: limit })
            }
            None => {
                let failures = self
                    .inner
                    .store
                    .record_pin_failure(&device.device_id, limit, self.now())
                    .await
                    .map_err(internal)?;
                if failures < limit {
                    return Ok(PinUnlock { share: None, attempts_left: limit - failures });
                }
                tracing::warn!(device = %device.device_id, "PIN blocked after {failures} wrong PINs");
                let failed = self
                    .inner
                    .store
                    .fail_pending_of_device(
                        &device.device_id,
                        &Failure::new(FailureReason::PinBlocked, None),
                        self.now(),
                    )
                    .await
                    .map_err(internal)?;
                for id in failed {
                    self.record_finished(Ending::Failed(FailureReason::PinBlocked), &id).await;
                    self.announce(ChangeEvent::TransactionDone(id)).await;
                }
                Err(DeviceError::KeyBlocked)
            }
        }
    }

    async fn answerable(&self, device: &DeviceRecord, transaction_id: &str) -> Result<TransactionRecord, DeviceError> {
        if device.state != DeviceState::Active {
            return Err(DeviceError::KeyBlocked);
        }
        Ok(self.open_request(device, transaction_id).await?)
    }
}

impl Engine {
    /// The name a requester is registered with, or its id if it has none (or is gone).
    pub(crate) async fn requester_name(&self, requester: &Requester) -> String {
        match requester {
            Requester::Ap(ap_id) => match self.registered_ap(ap_id, None).await {
                Ok(Some(ap)) if !ap.name.is_empty() => ap.name,
                _ => ap_id.clone(),
            },
            Requester::OidcClient(client_id) => match self.oidc_client(client_id).await {
                Ok(Some(client)) => client.settings.name.clone(),
                _ => client_id.clone(),
            },
            Requester::Sender(sender) => sender.clone(),
        }
    }

    fn pending_request(
        &self,
        record: TransactionRecord,
        requester: String,
        document: Option<(u64, Vec<u8>)>,
    ) -> Result<PendingRequest, DeviceError> {
        let to_be_signed = if document.is_some() { Vec::new() } else { signed_parts(&record)?.1 };
        let choices = record.number_match.as_deref().map(|code| self.number_choices(&record.id, code));
        Ok(PendingRequest {
            transaction_id: record.id,
            content: record.content,
            language: record.language,
            nonce: record.nonce,
            to_be_signed,
            document,
            expires_at: record.expires_at,
            choices,
            requester,
        })
    }

    /// The right code and two decoys of the same form, sorted, the same every time the
    /// inbox is read. The decoys are keyed, so nobody can tell them from the code without
    /// the master key.
    fn number_choices(&self, transaction_id: &str, code: &str) -> Vec<String> {
        const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
        let mut choices = vec![code.to_string()];
        let mut round = 0u8;
        while choices.len() < 3 {
            let bytes =
                self.master_key().keyed_hash(b"number match decoys", &[transaction_id.as_bytes(), &[round]].concat());
            let decoy: String = bytes
                .iter()
                .take(code.len().max(1))
                .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
                .collect();
            if !choices.contains(&decoy) {
                choices.push(decoy);
            }
            round = round.wrapping_add(1);
        }
        choices.sort();
        choices
    }
}

/// The master-key context of a device's PIN guard: a guard cannot stand in for another
/// device's.
fn pin_guard_context(device_id: &str) -> Vec<u8> {
    format!("pin-guard:{device_id}").into_bytes()
}

pub(crate) fn random_id(prefix: &str) -> String {
    let mut bytes = [0u8; 12];
    rand::thread_rng().fill_bytes(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{prefix}-{hex}")
}
