//! Our certificate authorities (`authorities`), keys sealed under the master key.

use sqlx::Row;

use crate::{Result, Store};

#[derive(Clone, PartialEq, Eq)]
pub struct AuthorityRecord {
    pub name: String,
    pub cert_der: Vec<u8>,
    pub sealed_key: Vec<u8>,
}

impl std::fmt::Debug for AuthorityRecord {
    // Sealed keys are ciphertext, but they stay out of logs all the same.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorityRecord").field("name", &self.name).finish_non_exhaustive()
    }
}

impl Store {
    pub async fn find_authority(&self, name: &str) -> Result<Option<AuthorityRecord>> {
        let row = sqlx::query("SELECT name, cert_der, sealed_key FROM authorities WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| AuthorityRecord { name: r.get(0), cert_der: r.get(1), sealed_key: r.get(2) }))
    }

    /// Stores the authority unless one with this name exists; returns the one that is kept,
    /// so nodes starting together on one PostgreSQL all end up with the same CA.
    pub async fn insert_authority(&self, authority: &AuthorityRecord) -> Result<AuthorityRecord> {
        sqlx::query(
            "INSERT INTO authorities (name, cert_der, sealed_key) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(&authority.name)
        .bind(&authority.cert_der)
        .bind(&authority.sealed_key)
        .execute(&self.pool)
        .await?;
        Ok(self.find_authority(&authority.name).await?.unwrap_or_else(|| authority.clone()))
    }

    /// Replaces the authority `record.name` if it still holds `previous` (None: if there is
    /// none yet); returns the one that is kept, which is another node's when it was quicker.
    pub async fn replace_authority(
        &self,
        record: &AuthorityRecord,
        previous: Option<&[u8]>,
    ) -> Result<AuthorityRecord> {
        let Some(previous) = previous else { return self.insert_authority(record).await };
        sqlx::query("UPDATE authorities SET cert_der = $1, sealed_key = $2 WHERE name = $3 AND cert_der = $4")
            .bind(&record.cert_der)
            .bind(&record.sealed_key)
            .bind(&record.name)
            .bind(previous)
            .execute(&self.pool)
            .await?;
        Ok(self.find_authority(&record.name).await?.unwrap_or_else(|| record.clone()))
    }
}
