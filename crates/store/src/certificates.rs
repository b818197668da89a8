//! The user certificates our CA issued (`certificates`), and their revocation: what OCSP
//! answers and the CRL lists. A certificate is revoked in the same database transaction
//! that takes its device out of use, so OCSP never calls good a certificate whose
//! device is blocked or replaced.

use mobileid_core::{CertificateKind, DeviceState, Timestamp};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use crate::{ts, ts_opt, Result, Store};

/// RFC 5280 reason codes the store writes itself.
pub(crate) const REASON_SUPERSEDED: i64 = 4;
pub(crate) const REASON_CESSATION_OF_OPERATION: i64 = 5;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateRecord {
    /// Lower-case hex without leading zeros.
    pub serial: String,
    /// The CA that issued it (`issuing`).
    pub authority: String,
    pub msisdn: String,
    pub device_id: String,
    pub not_after: Timestamp,
    pub issued_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
    /// RFC 5280 reason code; None for unspecified.
    pub revocation_reason: Option<i64>,
    pub kind: CertificateKind,
}

const COLUMNS: &str = "serial, authority, msisdn, device_id, not_after, issued_at, revoked_at, revocation_reason, kind";

impl CertificateRecord {
    fn from_row(r: &AnyRow) -> Result<CertificateRecord> {
        Ok(CertificateRecord {
            serial: r.try_get(0)?,
            authority: r.try_get(1)?,
            msisdn: r.try_get(2)?,
            device_id: r.try_get(3)?,
            not_after: ts(r.try_get(4)?),
            issued_at: ts(r.try_get(5)?),
            revoked_at: ts_opt(r.try_get(6)?),
            revocation_reason: r.try_get(7)?,
            kind: CertificateKind::from_db(&r.try_get::<String, _>(8)?)?,
        })
    }
}

/// What an operator's revocation found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revoked {
    Now,
    Already,
    Unknown,
}

/// An escrowed encryption key of a user: its certificate and its PKCS#8, sealed.
#[derive(Clone, PartialEq, Eq)]
pub struct EscrowedKey {
    /// Lower-case hex, as in `certificates`.
    pub serial: String,
    pub msisdn: String,
    pub cert_der: Vec<u8>,
    pub sealed_key: Vec<u8>,
    pub created_at: Timestamp,
}

impl std::fmt::Debug for EscrowedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EscrowedKey")
            .field("serial", &self.serial)
            .field("msisdn", &self.msisdn)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Records a signing certificate made for a device after its activation, with its
    /// record; false (nothing written) if the device has one already.
    pub async fn insert_signing_certificate(
        &self,
        device_id: &str,
        cert_der: &[u8],
        certificate: &CertificateRecord,
    ) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO signing_certificates (device_id, cert_der) VALUES ($1, $2) ON CONFLICT (device_id) DO NOTHING",
        )
        .bind(device_id)
        .bind(cert_der)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() != 1 {
            return Ok(false);
        }
        insert_certificate(&mut tx, certificate).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Keeps an escrowed key and records its certificate, in one transaction.
    pub async fn insert_escrowed_key(&self, key: &EscrowedKey, certificate: &CertificateRecord) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO escrowed_keys (serial, msisdn, cert_der, sealed_key, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&key.serial)
        .bind(&key.msisdn)
        .bind(&key.cert_der)
        .bind(&key.sealed_key)
        .bind(key.created_at.as_millis())
        .execute(&mut *tx)
        .await?;
        insert_certificate(&mut tx, certificate).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The user's escrowed keys, oldest first.
    pub async fn escrowed_keys(&self, msisdn: &str) -> Result<Vec<EscrowedKey>> {
        let rows = sqlx::query(
            "SELECT serial, msisdn, cert_der, sealed_key, created_at FROM escrowed_keys WHERE msisdn = $1 ORDER BY created_at",
        )
        .bind(msisdn)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(EscrowedKey {
                    serial: r.try_get(0)?,
                    msisdn: r.try_get(1)?,
                    cert_der: r.try_get(2)?,
                    sealed_key: r.try_get(3)?,
                    created_at: ts(r.try_get(4)?),
                })
            })
            .collect()
    }

    /// The signing certificate of a phone, if it has one.
    pub async fn signing_certificate(&self, device_id: &str) -> Result<Option<Vec<u8>>> {
        let row = sqlx::query("SELECT cert_der FROM signing_certificates WHERE device_id = $1")
            .bind(device_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    /// Records an issued certificate (again: a second insert of one serial changes nothing).
    pub async fn insert_certificate(&self, certificate: &CertificateRecord) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        insert_certificate(&mut tx, certificate).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The certificates of `authority` among `serials` that we issued, in no order.
    pub async fn find_certificates(&self, authority: &str, serials: &[String]) -> Result<Vec<CertificateRecord>> {
        if serials.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders: Vec<String> = (0..serials.len()).map(|i| format!("${}", i + 2)).collect();
        let sql = format!(
            "SELECT {COLUMNS} FROM certificates WHERE authority = $1 AND serial IN ({})",
            placeholders.join(", ")
        );
        let mut query = sqlx::query(&sql).bind(authority);
        for serial in serials {
            query = query.bind(serial);
        }
        query.fetch_all(&self.pool).await?.iter().map(CertificateRecord::from_row).collect()
    }

    /// Every revoked certificate of `authority`, oldest revocation first: the CRL.
    pub async fn revoked_certificates(&self, authority: &str) -> Result<Vec<CertificateRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM certificates WHERE authority = $1 AND revoked_at IS NOT NULL
             ORDER BY revoked_at, serial"
        ))
        .bind(authority)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(CertificateRecord::from_row).collect()
    }

    /// A user's certificates, newest first.
    pub async fn certificates_of_user(&self, msisdn: &str) -> Result<Vec<CertificateRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM certificates WHERE msisdn = $1 ORDER BY issued_at DESC, serial"
        ))
        .bind(msisdn)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(CertificateRecord::from_row).collect()
    }

    /// Revokes one certificate at an operator's request. Its device stays as it is.
    pub async fn revoke_certificate(&self, serial: &str, reason: Option<i64>, at: Timestamp) -> Result<Revoked> {
        let done = sqlx::query(
            "UPDATE certificates SET revoked_at = $1, revocation_reason = $2 WHERE serial = $3 AND revoked_at IS NULL",
        )
        .bind(at.as_millis())
        .bind(reason)
        .bind(serial)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 1 {
            return Ok(Revoked::Now);
        }
        let known = sqlx::query("SELECT 1 FROM certificates WHERE serial = $1")
            .bind(serial)
            .fetch_optional(&self.pool)
            .await?
            .is_some();
        Ok(if known { Revoked::Already } else { Revoked::Unknown })
    }

    /// Blocks a device that is in use, and revokes its certificates, in one database
    /// transaction. False when the device is unknown, or already blocked or retired.
    pub async fn block_device(&self, device_id: &str, reason: Option<i64>, at: Timestamp) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query("UPDATE devices SET state = $1 WHERE device_id = $2 AND state = $3")
            .bind(DeviceState::Blocked.as_db())
            .bind(device_id)
            .bind(DeviceState::Active.as_db())
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        revoke_for_device(&mut tx, device_id, reason, at).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The devices whose certificate has no record yet: those activated before
    /// certificates were recorded.
    /// Each as (device id, MSISDN, state, certificate).
    pub async fn devices_without_certificate_record(&self) -> Result<Vec<(String, String, DeviceState, Vec<u8>)>> {
        let rows = sqlx::query(
            "SELECT device_id, msisdn, state, cert_der FROM devices d
             WHERE NOT EXISTS (SELECT 1 FROM certificates c WHERE c.device_id = d.device_id)",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let state = DeviceState::from_db(&r.try_get::<String, _>(2)?)?;
                Ok((r.try_get(0)?, r.try_get(1)?, state, r.try_get(3)?))
            })
            .collect()
    }
}

pub(crate) async fn insert_certificate(tx: &mut Transaction<'_, Any>, c: &CertificateRecord) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO certificates ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (serial) DO NOTHING"
    ))
    .bind(&c.serial)
    .bind(&c.authority)
    .bind(&c.msisdn)
    .bind(&c.device_id)
    .bind(c.not_after.as_millis())
    .bind(c.issued_at.as_millis())
    .bind(c.revoked_at.map(Timestamp::as_millis))
    .bind(c.revocation_reason)
    .bind(c.kind.as_db())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Revokes the certificates of one device that are not revoked yet.
pub(crate) async fn revoke_for_device(
    tx: &mut Transaction<'_, Any>,
    device_id: &str,
    reason: Option<i64>,
    at: Timestamp,
) -> Result<()> {
    sqlx::query(
        "UPDATE certificates SET revoked_at = $1, revocation_reason = $2 WHERE device_id = $3 AND revoked_at IS NULL",
    )
    .bind(at.as_millis())
    .bind(reason)
    .bind(device_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
