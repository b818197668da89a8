//! The state of a transaction. A transaction starts pending and ends exactly
//! once, signed or failed; a final state never changes, so every node and
//! every repeated status poll sees the same answer.

use std::fmt;

use crate::fault::FaultCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TxState {
    Pending,
    Signed,
    Failed(FaultCode),
}

const PENDING: &str = "pending";
const SIGNED: &str = "signed";
const FAILED: &str = "failed";

impl TxState {
    /// The state's database form: a name, plus the fault code when failed.
    pub fn as_db(&self) -> (&'static str, Option<u16>) {
        match self {
            TxState::Pending => (PENDING, None),
            TxState::Signed => (SIGNED, None),
            TxState::Failed(code) => (FAILED, Some(code.number())),
        }
    }

    pub fn from_db(state: &str, fault_code: Option<u16>) -> Result<TxState, StoredStateError> {
        match (state, fault_code) {
            (PENDING, None) => Ok(TxState::Pending),
            (SIGNED, None) => Ok(TxState::Signed),
            (FAILED, Some(n)) => {
                FaultCode::from_number(n).map(TxState::Failed).ok_or(StoredStateError::UnknownFaultCode(n))
            }
            (state, fault_code) => Err(StoredStateError::Inconsistent { state: state.to_owned(), fault_code }),
        }
    }

    pub fn is_final(&self) -> bool {
        !matches!(self, TxState::Pending)
    }
}

impl fmt::Display for TxState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TxState::Pending => f.write_str(PENDING),
            TxState::Signed => f.write_str(SIGNED),
            TxState::Failed(code) => write!(f, "{FAILED} ({code})"),
        }
    }
}

/// A stored state that no version of our code writes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoredStateError {
    #[error("stored transaction state has unknown fault code {0}")]
    UnknownFaultCode(u16),
    #[error("stored transaction state {state:?} with fault code {fault_code:?} is not a valid state")]
    Inconsistent { state: String, fault_code: Option<u16> },
}

/// A state change the life cycle does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a transaction cannot go from {from} to {to}")]
pub struct IllegalTransition {
    pub from: TxState,
    pub to: TxState,
}

/// Only a pending transaction may end, and only once.
pub fn transition(from: &TxState, to: &TxState) -> Result<(), IllegalTransition> {
    match (from, to) {
        (TxState::Pending, TxState::Signed | TxState::Failed(_)) => Ok(()),
        _ => Err(IllegalTransition { from: *from, to: *to }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CANCELLED: TxState = TxState::Failed(FaultCode::UserCancel);

    #[test]
    fn db_round_trip() {
        for state in [TxState::Pending, TxState::Signed, CANCELLED] {
            let (name, code) = state.as_db();
            assert_eq!(TxState::from_db(name, code).unwrap(), state);
        }
        assert_eq!(CANCELLED.as_db(), ("failed", Some(401)));
        assert_eq!(TxState::Pending.as_db(), ("pending", None));
    }

    #[test]
    fn bad_db_values() {
        assert_eq!(TxState::from_db("failed", Some(999)), Err(StoredStateError::UnknownFaultCode(999)));
        for (state, code) in [("failed", None), ("signed", Some(401)), ("done", None), ("PENDING", None)] {
            assert!(
                matches!(TxState::from_db(state, code), Err(StoredStateError::Inconsistent { .. })),
                "{state} {code:?}"
            );
        }
    }

    #[test]
    fn finality() {
        assert!(!TxState::Pending.is_final());
        assert!(TxState::Signed.is_final());
        assert!(CANCELLED.is_final());
    }

    #[test]
    fn transitions() {
        assert!(transition(&TxState::Pending, &TxState::Signed).is_ok());
        assert!(transition(&TxState::Pending, &CANCELLED).is_ok());
        let all = [TxState::Pending, TxState::Signed, CANCELLED, TxState::Failed(FaultCode::ExpiredTransaction)];
        for from in all {
            for to in all {
                let allowed = from == TxState::Pending && to != TxState::Pending;
                assert_eq!(transition(&from, &to).is_ok(), allowed, "{from} -> {to}");
            }
        }
        let err = transition(&TxState::Signed, &CANCELLED).unwrap_err();
        assert_eq!(err.to_string(), "a transaction cannot go from signed to failed (401 USER_CANCEL)");
    }
}
