//! Our CA lives in the database (keys sealed under the master key), so every node that
//! shares the database signs user certificates under the same root.

use mobileid_crypto::{CaCertificate, CertificateAuthority, MasterKey, PrivateKey};
use mobileid_store::{AuthorityRecord, Store};

use crate::EngineError;

const ROOT: &str = "root";
const ISSUING: &str = "issuing";

/// Returns the CA and whether this call created it (the first start).
pub(crate) async fn load_or_create(
    store: &Store,
    master_key: &MasterKey,
    organisation: &str,
) -> Result<(CertificateAuthority, bool), EngineError> {
    if let (Some(root), Some(issuing)) = (store.find_authority(ROOT).await?, store.find_authority(ISSUING).await?) {
        let ca = CertificateAuthority { root: unseal(&root, master_key)?, issuing: unseal(&issuing, master_key)? };
        return Ok((ca, false));
    }
    let fresh = CertificateAuthority::create(organisation)?;
    // Another node may have won the race; `insert_authority` hands back the stored pair.
    let root = store.insert_authority(&seal(ROOT, &fresh.root, master_key)).await?;
    let issuing = store.insert_authority(&seal(ISSUING, &fresh.issuing, master_key)).await?;
    let created = root.cert_der == fresh.root.cert_der;
    let ca = CertificateAuthority { root: unseal(&root, master_key)?, issuing: unseal(&issuing, master_key)? };
    Ok((ca, created))
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
