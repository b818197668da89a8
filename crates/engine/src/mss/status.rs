//! MSS_StatusQuery: 504 while the phone has not answered, then the final answer, the same
//! for every repeated poll. Polls of a pending transaction sooner than a second after the
//! previous pending answer (a poll's, or the async request's) are held
//! (`engine/src/polls.rs`).

use mobileid_core::request::Operation;
use mobileid_core::{Fault, StatusCode, TxState};
use mobileid_store::{MssRecord, TransactionRecord};

use super::ap::{Ap, ClientIdentity};
use super::messages::{StatusInput, StatusOutcome};
use super::{internal, Mss};

impl Mss<'_> {
    pub async fn status(&self, identity: &ClientIdentity, input: StatusInput) -> Result<StatusOutcome, Fault> {
        let (ap, echo) = self.check_frame(Operation::Status, identity, &input.frame).await?;
        let id = input.mssp_trans_id.as_deref().ok_or_else(|| Fault::missing_param("MSSP_TransID is missing"))?;
        // A poll to hold starts watching before it reads, so that it need not read again
        // before it waits: an end in between still wakes it.
        let held = self.engine.polls().held_until(id, self.engine.now());
        let watch = held.map(|_| self.engine.watch_transaction(id));
        let (mut record, mss) = self.owned_transaction(&ap, id).await?;
        if let (Some(until), Some(watch), TxState::Pending) = (held, watch, record.state) {
            // Until the end, its expiry or that second, whichever is first.
            record = watch.wait(record, Some(until)).await?;
        }
        if record.state == TxState::Pending && record.expires_at <= self.engine.now() {
            record = self.engine.expire(&record, Some(&Fault::expired_async().detail)).await?;
        }
        if record.state == TxState::Pending {
            self.engine.polls().answered(id, self.engine.now());
            return Ok(StatusOutcome {
                echo,
                msisdn_raw: mss.msisdn_raw,
                status: StatusCode::OutstandingTransaction,
                signature: None,
                service_responses: Vec::new(),
            });
        }
        let answer = self.final_answer(&record, &mss, &ap)?;
        Ok(StatusOutcome {
            echo,
            msisdn_raw: mss.msisdn_raw,
            status: answer.status,
            signature: answer.signature,
            service_responses: answer.service_responses,
        })
    }

    /// The transaction, if it exists and belongs to this AP; otherwise the same 101 as for
    /// an unknown ID, so an AP cannot probe for other APs' transactions.
    pub(crate) async fn owned_transaction(&self, ap: &Ap, id: &str) -> Result<(TransactionRecord, MssRecord), Fault> {
        match self.engine.store().find_mss_transaction(id).await.map_err(internal)? {
            Some((record, mss)) if mss.ap_id == ap.ap_id => Ok((record, mss)),
            Some(_) => {
                tracing::info!(ap_id = %ap.ap_id, id, "refused: status or receipt for another AP's transaction");
                Err(Fault::no_such_transaction())
            }
            None => Err(Fault::no_such_transaction()),
        }
    }
}
