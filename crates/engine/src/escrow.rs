//! Escrowed encryption keys, the self-service seed's "recovery of encryption
//! certificates": where the operator issues encryption certificates, the server makes the
//! user's RSA key, keeps it sealed under the master key, and delivers every one of the
//! user's escrowed keys to each phone they activate, so that what was encrypted to an
//! older key stays readable on a new phone. A new key is made when the user has no valid
//! encryption certificate. Unlike the phone's own keys, these are made here on purpose:
//! escrow is what the operator asked for.

use mobileid_core::CertificateKind;
use mobileid_crypto::{KeyAlgorithm, PrivateKey, SubjectAttribute};
use mobileid_store::EscrowedKey;

use crate::{Engine, EngineError};

/// What an encryption certificate's record names as its device: it belongs to the user,
/// not to a phone, so a new or blocked phone leaves it valid.
const ESCROW_DEVICE: &str = "escrow";

/// An escrowed key as a phone receives it.
#[derive(Clone)]
pub struct DeliveredKey {
    pub certificate: Vec<u8>,
    pub pkcs8: Vec<u8>,
}

impl std::fmt::Debug for DeliveredKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeliveredKey").finish_non_exhaustive()
    }
}

impl Engine {
    /// The user's escrowed encryption keys, opened for a phone being activated; a new one
    /// first if none has a certificate that is still valid.
    pub(crate) async fn encryption_keys_for(
        &self,
        msisdn: &str,
        serial_number: &str,
        subject: &[(SubjectAttribute, String)],
    ) -> Result<Vec<DeliveredKey>, EngineError> {
        let now = self.now();
        let valid = self
            .store()
            .certificates_of_user(msisdn)
            .await?
            .iter()
            .any(|c| c.kind == CertificateKind::Encryption && c.revoked_at.is_none() && c.not_after > now);
        if !valid {
            self.new_escrowed_key(msisdn, serial_number, subject).await?;
        }
        let mut keys = Vec::new();
        for key in self.store().escrowed_keys(msisdn).await? {
            let pkcs8 = self.master_key().open(&key.sealed_key, &context(&key.serial))?;
            keys.push(DeliveredKey { certificate: key.cert_der, pkcs8 });
        }
        Ok(keys)
    }

    async fn new_escrowed_key(
        &self,
        msisdn: &str,
        serial_number: &str,
        subject: &[(SubjectAttribute, String)],
    ) -> Result<(), EngineError> {
        // RSA key generation takes tens of milliseconds: off the async workers.
        let key = self
            .compute(|| PrivateKey::generate(KeyAlgorithm::Rsa2048))
            .await
            .map_err(|e| EngineError::Invalid(format!("key generation: {e}")))??;
        let csr = key.csr_der("escrow")?;
        let kind = CertificateKind::Encryption;
        let (der, record) = self.issue_certificate_of(&csr, serial_number, msisdn, ESCROW_DEVICE, subject, kind)?;
        let escrowed = EscrowedKey {
            serial: record.serial.clone(),
            msisdn: msisdn.to_string(),
            cert_der: der,
            sealed_key: self.master_key().seal(key.pkcs8_der(), &context(&record.serial)),
            created_at: self.now(),
        };
        self.store().insert_escrowed_key(&escrowed, &record).await?;
        tracing::info!(msisdn, serial = %record.serial, "encryption key made and escrowed");
        Ok(())
    }
}

fn context(serial: &str) -> Vec<u8> {
    format!("escrowed encryption key {serial}").into_bytes()
}
