//! Our CA lives in the database (keys sealed under the master key), so every node that
//! shares the database signs user certificates under the same root.

use chrono::{DateTime, Utc};
use mobileid_crypto::{CaCertificate, CertificateAuthority, CertificateLinks, MasterKey, OcspResponder, PrivateKey};
use mobileid_store::{AuthorityRecord, Store};

use crate::EngineError;

pub(crate) const ROOT: &str = "root";
pub(crate) const ISSUING: &str = "issuing";
const OCSP_RESPONDER: &str = "ocsp";
/// A responder certificate lives this long…
const RESPONDER_DAYS: u32 = 90;
/// …and is replaced when less than this is left.
const RESPONDER_RENEWAL_DAYS: i64 = 30;

/// Returns the CA and whether this call created it (the first start). A new issuing CA's
/// certificate carries `root_links`.
pub(crate) async fn load_or_create(
    store: &Store,
    master_key: &MasterKey,
    organisation: &str,
    root_links: &CertificateLinks,
) -> Result<(CertificateAuthority, bool), EngineError> {
    if let (Some(root), Some(issuing)) = (store.find_authority(ROOT).await?, store.find_authority(ISSUING).await?) {
        let ca = CertificateAuthority { root: unseal(&root, master_key)?, issuing: unseal(&issuing, master_key)? };
        return Ok((ca, false));
    }
    let fresh = CertificateAuthority::create(organisation, Some(root_links))?;
    // Another node may have won the race; `insert_authority` hands back the stored pair.
    let root = store.insert_authority(&seal(ROOT, &fresh.root, master_key)).await?;
    let issuing = store.insert_authority(&seal(ISSUING, &fresh.issuing, master_key)).await?;
    let created = root.cert_der == fresh.root.cert_der;
    let ca = CertificateAuthority { root: unseal(&root, master_key)?, issuing: unseal(&issuing, master_key)? };
    Ok((ca, created))
}

/// The issuing CA's OCSP responder as stored, or a new one when none is stored or the
/// stored one has less than a month left. Nodes renewing together keep one of theirs.
pub(crate) async fn ocsp_responder(
    store: &Store,
    master_key: &MasterKey,
    ca: &CertificateAuthority,
    organisation: &str,
    now: DateTime<Utc>,
) -> Result<OcspResponder, EngineError> {
    let fresh_enough = |r: &OcspResponder| r.not_after() - now > chrono::Duration::days(RESPONDER_RENEWAL_DAYS);
    let stored = store.find_authority(OCSP_RESPONDER).await?;
    if let Some(record) = &stored {
        let responder = OcspResponder::new(unseal(record, master_key)?, &ca.issuing.cert_der)?;
        if fresh_enough(&responder) {
            return Ok(responder);
        }
    }
    let fresh = seal(OCSP_RESPONDER, &ca.issue_ocsp_responder(organisation, RESPONDER_DAYS)?, master_key);
    let kept = store.replace_authority(&fresh, stored.as_ref().map(|r| r.cert_der.as_slice())).await?;
    Ok(OcspResponder::new(unseal(&kept, master_key)?, &ca.issuing.cert_der)?)
}

fn context(name: &str) -> Vec<u8> {
    format!("mobileid authority {name}").into_bytes()
}

fn seal(name: &str, ca: &CaCertificate, master_key: &MasterKey) -> AuthorityRecord {
    AuthorityRecord {
        name: name.to_string(),
        cert_der: ca.cert_der.clone(),
        sealed_key: master_key.seal(ca.key.pkcs8_der(), &context(name)),
    }
}

fn unseal(record: &AuthorityRecord, master_key: &MasterKey) -> Result<CaCertificate, EngineError> {
    let pkcs8 = master_key.open(&record.sealed_key, &context(&record.name)).map_err(|_| {
        EngineError::Invalid(format!(
            "the {} CA key cannot be opened with this master key (was the data directory's master.key \
             or MOBILEID_MASTER_KEY changed?)",
            record.name
        ))
    })?;
    Ok(CaCertificate { cert_der: record.cert_der.clone(), key: PrivateKey::from_pkcs8_der(&pkcs8)? })
}
