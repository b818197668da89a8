//! Verified identities of Mobile ID users (`identities`): what an operator (or, later, an
//! identity provider) decided about the person behind a phone number.

use mobileid_core::Timestamp;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::{ts, ts_opt, Result, Store};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityRecord {
    /// Normalised: digits only.
    pub msisdn: String,
    /// pending, verified or rejected.
    pub state: String,
    pub stated_name: String,
    pub given_names: Option<String>,
    pub surname: Option<String>,
    pub decided_by: Option<String>,
    pub reason: Option<String>,
    pub requested_at: Timestamp,
    pub decided_at: Option<Timestamp>,
}

const COLUMNS: &str = "msisdn, state, stated_name, given_names, surname, decided_by, reason, requested_at, decided_at";

impl IdentityRecord {
    fn from_row(r: &AnyRow) -> Result<IdentityRecord> {
        Ok(IdentityRecord {
            msisdn: r.try_get(0)?,
            state: r.try_get(1)?,
            stated_name: r.try_get(2)?,
            given_names: r.try_get(3)?,
            surname: r.try_get(4)?,
            decided_by: r.try_get(5)?,
            reason: r.try_get(6)?,
            requested_at: ts(r.try_get(7)?),
            decided_at: ts_opt(r.try_get(8)?),
        })
    }
}

impl Store {
    pub async fn find_identity(&self, msisdn: &str) -> Result<Option<IdentityRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM identities WHERE msisdn = $1");
        let row = sqlx::query(&sql).bind(msisdn).fetch_optional(&self.pool).await?;
        row.as_ref().map(IdentityRecord::from_row).transpose()
    }

    /// Asks for a decision about `msisdn`, unless one is pending or verified already (a
    /// rejected one is asked again). Returns whether a new request was written.
    pub async fn request_identity(&self, msisdn: &str, stated_name: &str, now: Timestamp) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO identities (msisdn, state, stated_name, requested_at) VALUES ($1, 'pending', $2, $3)
             ON CONFLICT (msisdn) DO UPDATE SET state = 'pending', stated_name = $2, requested_at = $3,
               given_names = NULL, surname = NULL, decided_by = NULL, reason = NULL, decided_at = NULL
             WHERE identities.state = 'rejected'",
        )
        .bind(msisdn)
        .bind(stated_name)
        .bind(now.as_millis())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records a decision: verified with the names, or rejected with a reason. An
    /// operator may also verify a number nobody asked about.
    pub async fn decide_identity(&self, record: &IdentityRecord) -> Result<()> {
        write_identity(&self.pool, record).await
    }

    /// The requests waiting for a decision, oldest first.
    pub async fn pending_identities(&self) -> Result<Vec<IdentityRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM identities WHERE state = 'pending' ORDER BY requested_at");
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter().map(IdentityRecord::from_row).collect()
    }

    /// Replaces a device's signing certificate (a new name), recording the new one.
    pub async fn replace_signing_certificate(
        &self,
        device_id: &str,
        cert_der: &[u8],
        certificate: &crate::CertificateRecord,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE signing_certificates SET cert_der = $1 WHERE device_id = $2")
            .bind(cert_der)
            .bind(device_id)
            .execute(&mut *tx)
            .await?;
        crate::certificates::insert_certificate(&mut tx, certificate).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Writes a decision about an identity (see [`Store::decide_identity`]), also inside a
/// larger transaction.
pub(crate) async fn write_identity<'e, E>(db: E, record: &IdentityRecord) -> Result<()>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query(&format!(
        "INSERT INTO identities ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (msisdn) DO UPDATE SET state = $2, given_names = $4, surname = $5, decided_by = $6,
           reason = $7, decided_at = $9"
    ))
    .bind(&record.msisdn)
    .bind(&record.state)
    .bind(&record.stated_name)
    .bind(record.given_names.as_deref())
    .bind(record.surname.as_deref())
    .bind(record.decided_by.as_deref())
    .bind(record.reason.as_deref())
    .bind(record.requested_at.as_millis())
    .bind(record.decided_at.map(|t| t.as_millis()))
    .execute(db)
    .await?;
    Ok(())
}
