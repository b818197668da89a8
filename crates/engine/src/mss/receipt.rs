//! MSS_Receipt: one short message to the user after a successful signature.

use mobileid_core::request::Operation;
use mobileid_core::{Dtbd, Fault, Msisdn, TxState};
use mobileid_store::ChangeEvent;

use super::ap::ClientIdentity;
use super::messages::{ReceiptInput, ReceiptOutcome, ReceiptReply};
use super::{internal, Mss};

/// The historical SIM-encrypted receipt format, no longer offered (contract §5.3).
const ENCRYPTED_RECEIPT_MIME: &str = "application/alauda-rsamessage";

impl Mss<'_> {
    pub async fn receipt(&self, identity: &ClientIdentity, input: ReceiptInput) -> Result<ReceiptOutcome, Fault> {
        let (ap, echo) = self.check_frame(Operation::Receipt, identity, &input.frame).await?;
        let id = input.mssp_trans_id.as_deref().ok_or_else(|| Fault::missing_param("MSSP_TransID is missing"))?;
        let msisdn = input.msisdn.as_deref().ok_or_else(|| Fault::missing_param("MobileUser/MSISDN is missing"))?;
        let message = input.message.clone().unwrap_or_default();
        let text = message.data.as_deref().ok_or_else(|| Fault::missing_param("Message is missing"))?;
        let msisdn = Msisdn::parse(msisdn)?;
        if message.mime_type.as_deref() == Some(ENCRYPTED_RECEIPT_MIME) {
            return Err(Fault::wrong_param("Encrypted receipts are not supported"));
        }
        // Receipts follow the DTBD length rules (103); no AP prefix is required (§5.3).
        let text = match Dtbd::parse(message.mime_type.as_deref(), message.encoding.as_deref(), text)? {
            Dtbd::Text(text) => text,
            Dtbd::TxnApproval(_) => return Err(Fault::wrong_param("A receipt Message must be text/plain")),
        };

        let (record, _) = self.owned_transaction(&ap, id).await?;
        if record.msisdn != msisdn.normalized() {
            return Err(Fault::wrong_param("MobileUser does not match the transaction"));
        }
        if record.state != TxState::Signed {
            return Err(Fault::wrong_param("A receipt needs a successfully signed transaction"));
        }
        let device = match &record.device_id {
            Some(id) => self.engine.store().find_device(id).await.map_err(internal)?,
            None => None,
        };
        let fresh = self
            .engine
            .store()
            .insert_receipt(id, record.device_id.as_deref(), &text, self.engine.now())
            .await
            .map_err(internal)?;
        if !fresh {
            return Err(Fault::wrong_param(
                "Receipt already sent for this transaction. Only one receipt allowed per transaction.",
            ));
        }
        let robot = device.as_ref().is_some_and(|d| d.server_key.is_some());
        if let (Some(device), false) = (&device, robot) {
            self.engine.announce(ChangeEvent::DeviceInbox(device.device_id.clone())).await;
        }
        // The user's acknowledgement exists on SIM only; a robot "presses OK" at once, and
        // an App user is shown the text without an answer (the UserAck=false form).
        let reply = input.wants_user_ack.then(|| {
            if robot {
                ReceiptReply { user_ack: true, user_response: Some(r#"{"status":"OK"}"#.into()), fault_message: None }
            } else {
                ReceiptReply { user_ack: false, user_response: None, fault_message: None }
            }
        });
        Ok(ReceiptOutcome { echo, reply })
    }
}
