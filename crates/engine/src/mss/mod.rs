//! The MSS service (ETSI TS 102 204, Swisscom's wire): the four operations, the checks
//! every request goes through first, and the one mapping from the core's domain outcomes
//! (failure reasons, transaction errors) to ETSI faults. It owns the `mss_requests` side
//! of a transaction: AP_ID, AP_TransID, Instant, the MSISDN as the AP wrote it, the
//! profile and the services.
//!
//! Front ends decode SOAP or JSON into [`messages`] inputs and call `engine.mss()`.

pub mod ap;
mod frame;
pub(crate) mod gate;
mod geofencing;
pub mod messages;
mod profile_query;
mod receipt;
mod signature;
mod status;

use mobileid_core::{FailureReason, Fault, FaultCode, TxState};
use mobileid_store::{MssRecord, TransactionRecord};

use crate::transactions::TransactionError;
use crate::Engine;

/// The MSS operations on one engine: `engine.mss().sign(..)`, `.status(..)`, `.receipt(..)`,
/// `.profile(..)`.
pub struct Mss<'a> {
    engine: &'a Engine,
}

impl<'a> Mss<'a> {
    pub(crate) fn new(engine: &'a Engine) -> Mss<'a> {
        Mss { engine }
    }
}

/// A store or crypto failure becomes 900: the AP learns nothing about our database.
pub(crate) fn internal(e: impl std::fmt::Display) -> Fault {
    tracing::error!("internal error: {e}");
    Fault::internal("Unknown Error")
}

impl From<TransactionError> for Fault {
    fn from(e: TransactionError) -> Fault {
        match e {
            TransactionError::NoSuchRequest => Fault::no_such_transaction(),
            other => internal(other),
        }
    }
}

/// The fault a failed transaction answers with, every time it is asked.
pub(crate) fn failure_fault(record: &TransactionRecord, mss: &MssRecord) -> Fault {
    let Some(failure) = record.failure.as_ref().filter(|_| record.state == TxState::Failed) else {
        return Fault::internal(FaultCode::InternalError.default_detail());
    };
    let code = match failure.reason {
        // A newer request taking the phone looks to the AP like the user cancelling (§11.2).
        FailureReason::Declined | FailureReason::Replaced => FaultCode::UserCancel,
        FailureReason::Expired => FaultCode::ExpiredTransaction,
        FailureReason::PinBlocked => FaultCode::PinNrBlocked,
        FailureReason::Simulated => mss.fault_code.and_then(FaultCode::from_number).unwrap_or(FaultCode::InternalError),
    };
    let detail = failure.detail.clone().unwrap_or_else(|| code.default_detail().to_string());
    Fault::new(code, detail)
}

#[cfg(test)]
mod tests {
    use mobileid_core::{Method, Requester, SignContent, Timestamp, TxKind};
    use mobileid_store::Failure;

    use super::*;

    fn failed(reason: FailureReason, detail: Option<&str>) -> TransactionRecord {
        TransactionRecord {
            id: "H1".into(),
            kind: TxKind::Mss,
            requester: Requester::Ap("mid://ap".into()),
            msisdn: "41790000001".into(),
            device_id: None,
            method: Method::App,
            content: SignContent::Text("x".into()),
            language: "en".into(),
            nonce: vec![0; 8],
            state: TxState::Failed,
            failure: Some(Failure::new(reason, detail)),
            signature: None,
            created_at: Timestamp::from_millis(0),
            expires_at: Timestamp::from_millis(1),
            completed_at: Some(Timestamp::from_millis(1)),
            number_match: None,
            location: None,
        }
    }

    #[test]
    fn each_failure_reason_has_its_fault() {
        let mss = MssRecord {
            transaction_id: "H1".into(),
            ap_id: "mid://ap".into(),
            ap_trans_id: "T1".into(),
            ap_instant: Timestamp::from_millis(0),
            msisdn_raw: "+41790000001".into(),
            profile: String::new(),
            services: String::new(),
            fault_code: Some(406),
        };
        let fault = |reason, detail| failure_fault(&failed(reason, detail), &mss);
        assert_eq!(fault(FailureReason::Declined, None), Fault::of(FaultCode::UserCancel));
        assert_eq!(fault(FailureReason::Replaced, None), Fault::of(FaultCode::UserCancel));
        assert_eq!(fault(FailureReason::PinBlocked, None), Fault::of(FaultCode::PinNrBlocked));
        assert_eq!(fault(FailureReason::Expired, Some("Original request timed out.")), Fault::expired_async());
        assert_eq!(fault(FailureReason::Simulated, None).code.number(), 406);
    }
}
