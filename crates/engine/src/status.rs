//! MSS_StatusQuery: 504 while the phone has not answered, then the final answer, the same
//! for every repeated poll.

use mobileid_core::request::Operation;
use mobileid_core::{Fault, StatusCode};
use mobileid_store::{ChangeEvent, Completion, TransactionRecord};

use crate::ap::{Ap, ClientIdentity};
use crate::frame::internal;
use crate::messages::{StatusInput, StatusOutcome};
use crate::metrics::Ending;
use crate::{now_ms, Engine};

impl Engine {
    pub async fn status(&self, identity: &ClientIdentity, input: StatusInput) -> Result<StatusOutcome, Fault> {
        let (ap, echo) = self.check_frame(Operation::Status, identity, &input.frame).await?;
        let id = input.mssp_trans_id.as_deref().ok_or_else(|| Fault::missing_param("MSSP_TransID is missing"))?;
        let mut record = self.owned_transaction(&ap, id).await?;
        if record.state == "pending" && record.expires_at <= now_ms() {
            record = self.expire(record).await?;
        }
        if record.state == "pending" {
            return Ok(StatusOutcome {
                echo,
                msisdn_raw: record.msisdn_raw,
                status: StatusCode::OutstandingTransaction,
                signature: None,
                service_responses: Vec::new(),
            });
        }
        let answer = self.final_answer(&record, &ap)?;
        Ok(StatusOutcome {
            echo,
            msisdn_raw: record.msisdn_raw,
            status: answer.status,
            signature: answer.signature,
            service_responses: answer.service_responses,
        })
    }

    /// The transaction, if it exists and belongs to this AP; otherwise the same 101 as for
    /// an unknown ID, so an AP cannot probe for other APs' transactions.
    pub(crate) async fn owned_transaction(&self, ap: &Ap, id: &str) -> Result<TransactionRecord, Fault> {
        let record = self.inner.store.find_transaction(id).await.map_err(internal)?;
        match record {
            Some(record) if record.ap_id == ap.ap_id => Ok(record),
            Some(_) => {
                tracing::info!(ap_id = %ap.ap_id, id, "refused: status or receipt for another AP's transaction");
                Err(Fault::no_such_transaction())
            }
            None => Err(Fault::no_such_transaction()),
        }
    }

    async fn expire(&self, record: TransactionRecord) -> Result<TransactionRecord, Fault> {
        self.mark_expired(&record, Fault::expired_async()).await?;
        // Re-read: the phone may have answered just before the expiry was written.
        self.inner
            .store
            .find_transaction(&record.mssp_trans_id)
            .await
            .map_err(internal)?
            .ok_or_else(|| Fault::internal("transaction vanished"))
    }

    /// Ends a pending transaction whose time is up with 208 (unless an answer came first)
    /// and tells its waiters and its phone.
    pub(crate) async fn mark_expired(&self, record: &TransactionRecord, fault: Fault) -> Result<(), Fault> {
        let id = &record.mssp_trans_id;
        let expired = Completion::failed(i64::from(fault.code.number()), fault.detail);
        if self.inner.store.complete_transaction(id, &expired, now_ms()).await.map_err(internal)? {
            self.inner.metrics.finished(Ending::Expired, record.created_at, now_ms());
            self.announce(ChangeEvent::TransactionDone(id.clone())).await;
            if let Some(device) = &record.device_id {
                self.announce(ChangeEvent::DeviceInbox(device.clone())).await;
            }
        }
        Ok(())
    }
}
