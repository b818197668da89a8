//! Application providers (`aps`) and the client certificates they authenticate with
//! (`ap_certificates`; one certificate may serve several AP_IDs).

use mobileid_core::Timestamp;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::sql::Sql;
use crate::{ts, Result, Store};

/// An application provider and its permissions. Lists are space-separated tokens, parsed
/// by the engine (they are the AP's settings, not states).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApRecord {
    pub ap_id: String,
    pub name: String,
    pub dtbd_prefix: String,
    /// Signature profile URIs this AP may request.
    pub allowed_profiles: String,
    /// The profile URI that `MID/v1/AuthProfile1` stands for at this AP.
    pub auth_profile1_maps_to: String,
    /// Additional services this AP subscribed to (geofencing, app2app, subscriberInfo, validate, robots).
    pub services: String,
    pub created_at: Timestamp,
}

const AP_COLUMNS: &str =
    "a.ap_id, a.name, a.dtbd_prefix, a.allowed_profiles, a.auth_profile1_maps_to, a.services, a.created_at";

impl ApRecord {
    fn from_row(r: &AnyRow) -> Result<ApRecord> {
        Ok(ApRecord {
            ap_id: r.try_get(0)?,
            name: r.try_get(1)?,
            dtbd_prefix: r.try_get(2)?,
            allowed_profiles: r.try_get(3)?,
            auth_profile1_maps_to: r.try_get(4)?,
            services: r.try_get(5)?,
            created_at: ts(r.try_get(6)?),
        })
    }
}

impl Store {
    /// Creates the AP or replaces its settings.
    pub async fn upsert_ap(&self, ap: &ApRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO aps (ap_id, name, dtbd_prefix, allowed_profiles, auth_profile1_maps_to, services, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (ap_id) DO UPDATE SET name = excluded.name, dtbd_prefix = excluded.dtbd_prefix,
               allowed_profiles = excluded.allowed_profiles, auth_profile1_maps_to = excluded.auth_profile1_maps_to,
               services = excluded.services",
        )
        .bind(&ap.ap_id)
        .bind(&ap.name)
        .bind(&ap.dtbd_prefix)
        .bind(&ap.allowed_profiles)
        .bind(&ap.auth_profile1_maps_to)
        .bind(&ap.services)
        .bind(ap.created_at.as_millis())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn add_ap_certificate(&self, ap_id: &str, fingerprint: &str, cert_der: &[u8]) -> Result<()> {
        sqlx::query(
            "INSERT INTO ap_certificates (fingerprint, ap_id, cert_der) VALUES ($1, $2, $3)
             ON CONFLICT (fingerprint, ap_id) DO NOTHING",
        )
        .bind(fingerprint)
        .bind(ap_id)
        .bind(cert_der)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// True when the certificate with this fingerprint is registered for some AP.
    pub async fn certificate_registered(&self, fingerprint: &str) -> Result<bool> {
        let query = Sql::new("SELECT 1 FROM ap_certificates WHERE fingerprint = $1 LIMIT 1").bind(fingerprint);
        Ok(self.fetch_optional_on_slot(query).await?.is_some())
    }

    /// The AP with this AP_ID, if the certificate with this fingerprint is registered for it.
    pub async fn find_ap_for_certificate(&self, ap_id: &str, fingerprint: &str) -> Result<Option<ApRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {AP_COLUMNS} FROM aps a JOIN ap_certificates c ON c.ap_id = a.ap_id
             WHERE a.ap_id = $1 AND c.fingerprint = $2"
        ))
        .bind(ap_id)
        .bind(fingerprint)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| ApRecord::from_row(&r)).transpose()
    }

    /// Removes an AP and its certificates; false when there was none.
    pub async fn delete_ap(&self, ap_id: &str) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM ap_certificates WHERE ap_id = $1").bind(ap_id).execute(&mut *tx).await?;
        let done = sqlx::query("DELETE FROM aps WHERE ap_id = $1").bind(ap_id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn find_ap(&self, ap_id: &str) -> Result<Option<ApRecord>> {
        let row = sqlx::query(&format!("SELECT {AP_COLUMNS} FROM aps a WHERE a.ap_id = $1"))
            .bind(ap_id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| ApRecord::from_row(&r)).transpose()
    }

    /// Every AP with the fingerprints of its certificates, in AP_ID order.
    pub async fn list_aps(&self) -> Result<Vec<(ApRecord, Vec<String>)>> {
        let aps =
            sqlx::query(&format!("SELECT {AP_COLUMNS} FROM aps a ORDER BY a.ap_id")).fetch_all(&self.pool).await?;
        let certs = sqlx::query("SELECT ap_id, fingerprint FROM ap_certificates ORDER BY fingerprint")
            .fetch_all(&self.pool)
            .await?;
        aps.iter()
            .map(|row| {
                let ap = ApRecord::from_row(row)?;
                let prints =
                    certs.iter().filter(|c| c.get::<String, _>(0) == ap.ap_id).map(|c| c.get::<String, _>(1)).collect();
                Ok((ap, prints))
            })
            .collect()
    }
}
