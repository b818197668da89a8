//! Receipts (`receipts`): at most one short message per signed transaction, handed to the
//! phone once.

use crate::sql::{Columns, Sql};
use crate::{Result, Store};
use mobileid_core::Timestamp;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptRecord {
    pub mssp_trans_id: String,
    pub message: String,
}

impl Store {
    /// Records the one receipt a transaction may have; false if it already has one.
    pub async fn insert_receipt(
        &self,
        mssp_trans_id: &str,
        device_id: Option<&str>,
        message: &str,
        now: Timestamp,
    ) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO receipts (mssp_trans_id, device_id, message, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (mssp_trans_id) DO NOTHING",
        )
        .bind(mssp_trans_id)
        .bind(device_id)
        .bind(message)
        .bind(now.as_millis())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Hands out the receipts not yet delivered to this device, marking them delivered.
    /// Mostly there is none: an inbox call asks only when [`Store::device_inbox`] says some
    /// wait, so that an inbox without receipts writes nothing (an UPDATE that changes no
    /// row still takes SQLite's write lock).
    pub async fn take_receipts(&self, device_id: &str, now: Timestamp) -> Result<Vec<ReceiptRecord>> {
        // The UPDATE decides who takes them when two inbox calls race.
        let query = Sql::new(
            "UPDATE receipts SET delivered_at = $1 WHERE device_id = $2 AND delivered_at IS NULL
             RETURNING mssp_trans_id, message",
        )
        .bind(now.as_millis())
        .bind(device_id);
        let rows = self.fetch_write(query).await?;
        rows.iter().map(|r| Ok(ReceiptRecord { mssp_trans_id: r.col(0)?, message: r.col(1)? })).collect()
    }
}
