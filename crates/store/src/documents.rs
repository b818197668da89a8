//! Documents to be signed (`documents`) and the signatures asked of users on them
//! (`document_signatures`, one per transaction of kind `document`).
//!
//! A PDF signature covers one exact revision, so the step from hashing a revision to
//! embedding its signature is serialised per document by a lease: a conditional UPDATE
//! that only a free (or expired) lease, or the holder itself, passes. The embedding
//! writes the new revision and completes the transaction in one database transaction,
//! and only while the lease and the revision are still the ones the signature was
//! computed over.

use mobileid_core::Timestamp;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::transactions::{Completion, RequestWrite};
use crate::{ts, Result, Store};

/// A document, without its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentRecord {
    pub document_id: String,
    pub name: String,
    pub original_sha256: Vec<u8>,
    pub original_size: u64,
    pub pages: u32,
    /// How many signatures the current content carries (embedded here).
    pub revision: i64,
    pub created_at: Timestamp,
}

impl DocumentRecord {
    fn from_row(r: &AnyRow) -> Result<DocumentRecord> {
        Ok(DocumentRecord {
            document_id: r.try_get(0)?,
            name: r.try_get(1)?,
            original_sha256: r.try_get(2)?,
            original_size: r.try_get::<i64, _>(3)?.max(0) as u64,
            pages: r.try_get::<i64, _>(4)?.clamp(0, i64::from(u32::MAX)) as u32,
            revision: r.try_get(5)?,
            created_at: ts(r.try_get(6)?),
        })
    }
}

/// One signature asked of a user on a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentSignatureRecord {
    pub transaction_id: String,
    pub document_id: String,
    pub signer_name: String,
    /// Where the stamp goes (JSON of the signing service), or None for no stamp.
    pub stamp: Option<String>,
    /// Once prepared: the revision it extends, the claimed signing time and what the
    /// phone must sign.
    pub prepared: Option<Prepared>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    pub base_revision: i64,
    pub signing_time: Timestamp,
    pub to_be_signed: Vec<u8>,
}

impl DocumentSignatureRecord {
    fn from_row(r: &AnyRow) -> Result<DocumentSignatureRecord> {
        let base_revision: Option<i64> = r.try_get(4)?;
        let signing_time: Option<i64> = r.try_get(5)?;
        let to_be_signed: Option<Vec<u8>> = r.try_get(6)?;
        let prepared = match (base_revision, signing_time, to_be_signed) {
            (Some(base_revision), Some(time), Some(to_be_signed)) => {
                Some(Prepared { base_revision, signing_time: ts(time), to_be_signed })
            }
            _ => None,
        };
        Ok(DocumentSignatureRecord {
            transaction_id: r.try_get(0)?,
            document_id: r.try_get(1)?,
            signer_name: r.try_get(2)?,
            stamp: r.try_get(3)?,
            prepared,
        })
    }
}

const DOCUMENT_COLUMNS: &str = "document_id, name, original_sha256, original_size, pages, revision, created_at";

impl RequestWrite {
    /// Inserts the document signature a new transaction asks for, in the same database
    /// transaction, so a phone never sees the request without it.
    pub async fn insert_document_signature(&mut self, s: &DocumentSignatureRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO document_signatures (transaction_id, document_id, signer_name, stamp) VALUES ($1, $2, $3, $4)",
        )
        .bind(&s.transaction_id)
        .bind(&s.document_id)
        .bind(&s.signer_name)
        .bind(s.stamp.as_deref())
        .execute(&mut *self.db)
        .await?;
        Ok(())
    }
}

impl Store {
    /// Keeps a new document; its content is the original.
    pub async fn insert_document(&self, d: &DocumentRecord, content: &[u8]) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        insert_document(&mut conn, d, content).await
    }

    pub async fn find_document(&self, document_id: &str) -> Result<Option<DocumentRecord>> {
        let sql = format!("SELECT {DOCUMENT_COLUMNS} FROM documents WHERE document_id = $1");
        let row = sqlx::query(&sql).bind(document_id).fetch_optional(&self.pool).await?;
        row.as_ref().map(DocumentRecord::from_row).transpose()
    }

    /// The current revision's number and bytes.
    pub async fn document_content(&self, document_id: &str) -> Result<Option<(i64, Vec<u8>)>> {
        let row = sqlx::query("SELECT revision, content FROM documents WHERE document_id = $1")
            .bind(document_id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).transpose()
    }

    pub async fn find_document_signature(&self, transaction_id: &str) -> Result<Option<DocumentSignatureRecord>> {
        let row = sqlx::query(
            "SELECT transaction_id, document_id, signer_name, stamp, base_revision, signing_time, to_be_signed
             FROM document_signatures WHERE transaction_id = $1",
        )
        .bind(transaction_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(DocumentSignatureRecord::from_row).transpose()
    }

    /// Takes (or renews) the document's lease for `transaction_id` until `until`, if it
    /// is free, expired or already this transaction's. Returns whether it holds it now.
    pub async fn take_document_lease(
        &self,
        document_id: &str,
        transaction_id: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE documents SET lease_transaction = $1, lease_until = $2
             WHERE document_id = $3 AND (lease_transaction IS NULL OR lease_until <= $4 OR lease_transaction = $1)",
        )
        .bind(transaction_id)
        .bind(until.as_millis())
        .bind(document_id)
        .bind(now.as_millis())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Gives the lease back (the transaction ended without a signature).
    pub async fn release_document_lease(&self, document_id: &str, transaction_id: &str) -> Result<()> {
        sqlx::query(
            "UPDATE documents SET lease_transaction = NULL, lease_until = 0
             WHERE document_id = $1 AND lease_transaction = $2",
        )
        .bind(document_id)
        .bind(transaction_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records what a pending transaction's phone must sign.
    pub async fn record_prepared_signature(&self, transaction_id: &str, prepared: &Prepared) -> Result<()> {
        sqlx::query(
            "UPDATE document_signatures SET base_revision = $1, signing_time = $2, to_be_signed = $3
             WHERE transaction_id = $4",
        )
        .bind(prepared.base_revision)
        .bind(prepared.signing_time.as_millis())
        .bind(&prepared.to_be_signed)
        .bind(transaction_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Writes the signed revision and completes the transaction, both or neither: only
    /// while the transaction is pending, holds the lease (unexpired at `now`) and the
    /// document is still at `base_revision`. Frees the lease. Returns whether it happened.
    pub async fn embed_document_signature(
        &self,
        document_id: &str,
        transaction_id: &str,
        base_revision: i64,
        signed: &[u8],
        completion: &Completion,
        now: Timestamp,
    ) -> Result<bool> {
        let mut db = self.pool.begin().await?;
        let moved = sqlx::query(
            "UPDATE documents SET content = $1, revision = revision + 1, lease_transaction = NULL, lease_until = 0
             WHERE document_id = $2 AND revision = $3 AND lease_transaction = $4 AND lease_until > $5",
        )
        .bind(signed)
        .bind(document_id)
        .bind(base_revision)
        .bind(transaction_id)
        .bind(now.as_millis())
        .execute(&mut *db)
        .await?;
        if moved.rows_affected() != 1 {
            return Ok(false);
        }
        let complete = crate::transactions::completion(transaction_id, completion, now);
        if complete.query().execute(&mut *db).await?.rows_affected() != 1 {
            return Ok(false);
        }
        db.commit().await?;
        Ok(true)
    }
}

pub(crate) async fn insert_document(conn: &mut sqlx::AnyConnection, d: &DocumentRecord, content: &[u8]) -> Result<()> {
    sqlx::query(
        "INSERT INTO documents (document_id, name, original_sha256, original_size, pages, content, revision,
           created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&d.document_id)
    .bind(&d.name)
    .bind(&d.original_sha256)
    .bind(d.original_size as i64)
    .bind(i64::from(d.pages))
    .bind(content)
    .bind(d.revision)
    .bind(d.created_at.as_millis())
    .execute(conn)
    .await?;
    Ok(())
}
