//! The protocol-neutral transaction core: a request to a user's device is prepared (what
//! exactly is signed is fixed here), stored, delivered to the device's inbox, answered
//! (approved with a verified signature, or declined), failed or expired; whoever waits is
//! woken. Services (MSS, later OIDC and document signing) wrap these steps with their own
//! rules and tables; nothing here knows who they are beyond the transaction's kind and
//! requester.

use std::sync::Arc;
use std::time::Duration;

use mobileid_core::{FailureReason, Method, Requester, SignContent, Timestamp, TxKind, TxState};
use mobileid_crypto::{
    assemble_signed_data, signed_attributes_for_digest, verify_signature, KeyAlgorithm, PrivateKey, SubjectKey,
};
use mobileid_store::{ChangeEvent, Completion, DeviceRecord, Failure, TransactionRecord};
use rand::RngCore;

use crate::metrics::Ending;
use crate::Engine;

/// What can go wrong with a transaction, in the domain's words. Each front end maps it to
/// its wire.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransactionError {
    #[error("no such request for this device")]
    NoSuchRequest,
    /// Already answered, failed or expired.
    #[error("the request is no longer open")]
    NoLongerOpen,
    #[error("the request has expired")]
    Expired,
    #[error("the signature does not verify with the user's certificate")]
    BadSignature,
    /// The request cannot be made as asked (e.g. rows for a device that shows only text).
    #[error("{0}")]
    Invalid(String),
    #[error("internal error")]
    Internal,
}

/// Logs the cause; the caller learns only that it was internal.
pub(crate) fn internal(e: impl std::fmt::Display) -> TransactionError {
    tracing::error!("transaction internal error: {e}");
    TransactionError::Internal
}

/// A request to put in front of a user's device.
#[derive(Debug, Clone)]
pub struct NewTransaction {
    pub kind: TxKind,
    pub requester: Requester,
    /// The device that is asked; its user is the transaction's user.
    pub device: DeviceRecord,
    pub content: SignContent,
    /// The language the device shows its prompts in.
    pub language: String,
    /// How long the user has to answer.
    pub lifetime: Duration,
    /// A code the user must pick on the device out of three before approving (number
    /// matching: the code the requester shows them elsewhere).
    pub number_match: Option<String>,
}

impl Engine {
    /// Creates a request and delivers it; a server-held key (a robot) signs at once.
    /// Services with tables of their own use the same steps with their own insert.
    pub async fn create(&self, new: NewTransaction) -> Result<TransactionRecord, TransactionError> {
        let record = self.prepare(new, mobileid_core::MsspTransId::generate().as_str()).await?;
        let mut write = self.inner.store.begin_request(&record).await.map_err(internal)?;
        write.insert(&record).await.map_err(internal)?;
        let replaced = write.commit(&record).await.map_err(internal)?;
        self.deliver(&record, replaced).await;
        Ok(record)
    }

    /// Fixes what is signed (a fresh nonce with the content) and, for a server-held key,
    /// signs it. The record is not stored yet.
    pub(crate) async fn prepare(&self, new: NewTransaction, id: &str) -> Result<TransactionRecord, TransactionError> {
        if new.content.needs_app() && new.device.method != Method::App {
            return Err(TransactionError::Invalid("only the App can show this request".into()));
        }
        let mut nonce = [0u8; 8];
        rand::thread_rng().fill_bytes(&mut nonce);
        let now = self.now();
        let mut record = TransactionRecord {
            id: id.to_string(),
            kind: new.kind,
            requester: new.requester,
            msisdn: new.device.msisdn.clone(),
            device_id: Some(new.device.device_id.clone()),
            method: new.device.method,
            content: new.content,
            language: new.language,
            nonce: nonce.to_vec(),
            state: TxState::Pending,
            failure: None,
            signature: None,
            created_at: now,
            expires_at: now.plus(new.lifetime),
            completed_at: None,
            number_match: new.number_match,
            location: None,
        };
        if let Some(sealed) = &new.device.server_key {
            // A robot answers at once with the key the server holds for it.
            let (content, to_be_signed) = signed_parts(&record)?;
            let cms = self.robot_signature(&new.device, sealed, content.as_deref(), &to_be_signed).await?;
            record.state = TxState::Signed;
            record.signature = Some(cms);
            record.completed_at = Some(now);
        }
        Ok(record)
    }

    /// After the insert: wakes the waiters of the requests it replaced (the store failed
    /// them in the insert's own database transaction) and the device's inbox, here; the
    /// write told the other nodes as it committed.
    pub(crate) async fn deliver(&self, record: &TransactionRecord, replaced: Vec<String>) {
        if record.state == TxState::Signed {
            let signed_at = record.completed_at.unwrap_or(record.created_at);
            self.inner.metrics.finished(Ending::RobotSigned, record.created_at, signed_at);
        }
        for id in replaced {
            self.record_finished(Ending::Failed(FailureReason::Replaced), &id).await;
            self.wake_local(&ChangeEvent::TransactionDone(id));
        }
        if let (TxState::Pending, Some(device_id)) = (record.state, &record.device_id) {
            self.wake_local(&ChangeEvent::DeviceInbox(device_id.clone()));
        }
    }

    /// A request of this device that can still be answered.
    pub(crate) async fn open_request(
        &self,
        device: &DeviceRecord,
        id: &str,
    ) -> Result<TransactionRecord, TransactionError> {
        let record = self.inner.store.find_transaction(id).await.map_err(internal)?;
        let record = record
            .filter(|r| r.device_id.as_deref() == Some(device.device_id.as_str()))
            .ok_or(TransactionError::NoSuchRequest)?;
        if record.state != TxState::Pending {
            return Err(TransactionError::NoLongerOpen);
        }
        if record.expires_at <= self.now() {
            return Err(TransactionError::Expired);
        }
        Ok(record)
    }

    /// The device's signature over the signed attributes must verify with its certificate;
    /// then the CMS is assembled and the transaction completes (the first answer wins).
    pub(crate) async fn complete_signed(
        &self,
        device: &DeviceRecord,
        record: &TransactionRecord,
        signature: &[u8],
    ) -> Result<(), TransactionError> {
        let document = matches!(record.content, SignContent::Document { .. });
        let (content, to_be_signed) =
            if document { (None, self.prepared_attributes(record).await?) } else { signed_parts(record)? };
        let key = SubjectKey::from_certificate_der(&device.cert_der).map_err(internal)?;
        if verify_signature(&key, &to_be_signed, signature).is_err() {
            tracing::warn!(device = %device.device_id, id = %record.id, "refused approval: signature does not verify");
            return Err(TransactionError::BadSignature);
        }
        // A document's signature carries the phone's signing certificate (the same key,
        // for non-repudiation) where it has one.
        let signing =
            if document { self.store().signing_certificate(&device.device_id).await.map_err(internal)? } else { None };
        let cms = assemble_signed_data(
            content.as_deref(),
            &to_be_signed,
            signature,
            signing.as_deref().unwrap_or(&device.cert_der),
            &self.inner.ca.chain(),
            key.algorithm(),
        )
        .map_err(internal)?;
        if document {
            return self.embed_document_signature(record, cms).await;
        }
        self.finish(record, &Completion::Signed(cms), Ending::Signed).await
    }

    /// Ends a pending transaction as failed; NoLongerOpen if it had already ended.
    pub async fn fail(&self, record: &TransactionRecord, failure: Failure) -> Result<(), TransactionError> {
        let ending = Ending::Failed(failure.reason);
        self.finish(record, &Completion::Failed(failure), ending).await
    }

    async fn finish(
        &self,
        record: &TransactionRecord,
        completion: &Completion,
        ending: Ending,
    ) -> Result<(), TransactionError> {
        let now = self.now();
        if !self.inner.store.complete_transaction(&record.id, completion, now).await.map_err(internal)? {
            return Err(TransactionError::NoLongerOpen);
        }
        self.inner.metrics.finished(ending, record.created_at, now);
        // The completion told the other nodes.
        self.wake_local(&ChangeEvent::TransactionDone(record.id.clone()));
        if let Completion::Failed(failure) = completion {
            self.document_signature_failed(record, failure).await;
        }
        Ok(())
    }

    /// Ends a pending transaction whose time is up (unless an answer came first), tells its
    /// waiters and its device, and returns it as it now stands.
    pub async fn expire(
        &self,
        record: &TransactionRecord,
        detail: Option<&str>,
    ) -> Result<TransactionRecord, TransactionError> {
        let expired = Completion::Failed(Failure::new(FailureReason::Expired, detail));
        let now = self.now();
        if self.inner.store.complete_transaction(&record.id, &expired, now).await.map_err(internal)? {
            self.inner.metrics.finished(Ending::Failed(FailureReason::Expired), record.created_at, now);
            self.wake_local(&ChangeEvent::TransactionDone(record.id.clone()));
            self.document_signature_failed(record, &Failure::new(FailureReason::Expired, detail)).await;
            if let Some(device) = &record.device_id {
                self.announce(ChangeEvent::DeviceInbox(device.clone())).await;
            }
        }
        // Re-read: the device may have answered just before the expiry was written.
        self.inner.store.find_transaction(&record.id).await.map_err(internal)?.ok_or(TransactionError::NoSuchRequest)
    }

    /// The transaction as stored; if it is pending past its expiry, expired first.
    pub async fn current(&self, id: &str, expiry_detail: Option<&str>) -> Result<TransactionRecord, TransactionError> {
        let record =
            self.inner.store.find_transaction(id).await.map_err(internal)?.ok_or(TransactionError::NoSuchRequest)?;
        if record.state == TxState::Pending && record.expires_at <= self.now() {
            return self.expire(&record, expiry_detail).await;
        }
        Ok(record)
    }

    /// Waits until the transaction is final, or its time is up (then it expires with
    /// `expiry_detail`). Woken by a notification, never by polling.
    pub async fn wait_for_outcome(
        &self,
        id: &str,
        expiry_detail: Option<&str>,
    ) -> Result<TransactionRecord, TransactionError> {
        let record = self.watch(id, None).await?;
        if record.state.is_final() {
            return Ok(record);
        }
        self.expire(&record, expiry_detail).await
    }

    /// A watch on the end of transaction `id`, begun before the caller reads it: an end
    /// between that read and the wait ([`TransactionWatch::wait`]) is not missed.
    pub(crate) fn watch_transaction(&self, id: &str) -> TransactionWatch<'_> {
        let subscription = self.inner.transactions.subscribe(id);
        TransactionWatch { engine: self, id: id.to_string(), wake: subscription.armed(), subscription }
    }

    /// Reads the transaction until it is final or its expiry (or `until`, if sooner) has
    /// come; between reads, waits for a notification of its end. Returns the last read.
    async fn watch(&self, id: &str, until: Option<Timestamp>) -> Result<TransactionRecord, TransactionError> {
        let watch = self.watch_transaction(id);
        let record = self.read_transaction(id).await?;
        watch.wait(record, until).await
    }

    async fn read_transaction(&self, id: &str) -> Result<TransactionRecord, TransactionError> {
        self.inner.store.find_transaction(id).await.map_err(internal)?.ok_or(TransactionError::NoSuchRequest)
    }

    async fn robot_signature(
        &self,
        device: &DeviceRecord,
        sealed: &[u8],
        content: Option<&[u8]>,
        to_be_signed: &[u8],
    ) -> Result<Vec<u8>, TransactionError> {
        let key = self.robot_key(device, sealed)?;
        let algorithm = key.algorithm();
        let signature = match algorithm {
            // An ECDSA signature takes tens of microseconds: less than handing it to
            // another thread and back would cost.
            KeyAlgorithm::EcP256 => key.sign(to_be_signed).map_err(internal)?,
            // RSA signing takes milliseconds: keep it off the async workers.
            KeyAlgorithm::Rsa2048 => {
                let message = to_be_signed.to_vec();
                self.compute(move || key.sign(&message)).await.map_err(internal)?.map_err(internal)?
            }
        };
        let chain = self.inner.ca.chain();
        assemble_signed_data(content, to_be_signed, &signature, &device.cert_der, &chain, algorithm).map_err(internal)
    }

    fn robot_key(&self, device: &DeviceRecord, sealed: &[u8]) -> Result<Arc<PrivateKey>, TransactionError> {
        if let Some(key) = self.inner.robot_keys.get(&device.device_id) {
            return Ok(key.clone());
        }
        let pkcs8 = self.master_key().open(sealed, &robot_key_context(&device.device_id)).map_err(internal)?;
        let key = Arc::new(PrivateKey::from_pkcs8_der(&pkcs8).map_err(internal)?);
        self.inner.robot_keys.insert(device.device_id.clone(), key.clone());
        Ok(key)
    }
}

/// See [`Engine::watch_transaction`].
pub(crate) struct TransactionWatch<'a> {
    engine: &'a Engine,
    id: String,
    wake: std::pin::Pin<Box<tokio::sync::futures::OwnedNotified>>,
    // Declared after `wake`: the entry it was armed on goes when the last subscriber does.
    subscription: crate::waiters::Subscription<'a>,
}

impl TransactionWatch<'_> {
    /// From `record`, as read after the watch began: waits until the transaction is
    /// final, its expiry (or `until`, if sooner) has come, reading it again after each
    /// notification of its end. Returns the last read.
    pub(crate) async fn wait(
        mut self,
        mut record: TransactionRecord,
        until: Option<Timestamp>,
    ) -> Result<TransactionRecord, TransactionError> {
        loop {
            let end = until.map_or(record.expires_at, |until| until.min(record.expires_at));
            let left = self.engine.now().until(end);
            if record.state.is_final()
                || left.is_zero()
                || tokio::time::timeout(left, self.wake.as_mut()).await.is_err()
            {
                return Ok(record);
            }
            self.wake = self.subscription.armed();
            record = self.engine.read_transaction(&self.id).await?;
        }
    }
}

/// The content encapsulated in the CMS (None for a document: detached) and the signed
/// attributes, derived again from what the store holds.
pub(crate) fn signed_parts(record: &TransactionRecord) -> Result<(Option<Vec<u8>>, Vec<u8>), TransactionError> {
    let nonce: [u8; 8] = record.nonce.as_slice().try_into().map_err(internal)?;
    let to_be_signed = signed_attributes_for_digest(&record.content.message_digest(), &nonce);
    Ok((record.content.attached(), to_be_signed))
}

pub(crate) fn robot_key_context(device_id: &str) -> Vec<u8> {
    format!("mobileid robot key {device_id}").into_bytes()
}
