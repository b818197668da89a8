//! A transaction's life, the same for every front end: it starts pending and ends exactly
//! once, signed or failed (with a reason). A final state never changes, so every node and
//! every repeated poll sees the same answer.
//!
//! Also here: what kind of request a transaction is and who asked for it. Each enum maps
//! to its database text in one place (`as_db`/`from_db`); nothing else spells those texts.

/// A stored value that no version of our code writes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("stored {what} {value:?} is not valid")]
pub struct StoredValueError {
    pub what: &'static str,
    pub value: String,
}

impl StoredValueError {
    pub fn new(what: &'static str, value: impl Into<String>) -> StoredValueError {
        StoredValueError { what, value: value.into() }
    }
}

/// Declares an enum of plain variants with its one database spelling each.
macro_rules! db_enum {
    ($(#[$meta:meta])* $name:ident, $what:literal { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_db(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            pub fn from_db(text: &str) -> Result<$name, $crate::transaction::StoredValueError> {
                match text {
                    $($text => Ok($name::$variant),)+
                    other => Err($crate::transaction::StoredValueError::new($what, other)),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_db())
            }
        }
    };
}
pub(crate) use db_enum;

db_enum! {
    /// Where a transaction is in its life.
    TxState, "transaction state" {
        Pending => "pending",
        Signed => "signed",
        Failed => "failed",
    }
}

impl TxState {
    pub fn is_final(self) -> bool {
        self != TxState::Pending
    }
}

db_enum! {
    /// Why a transaction failed, in the domain's words; each front end maps it to its wire
    /// (MSS: 401, 208, 402, or the test number's own code).
    FailureReason, "failure reason" {
        /// The user pressed Cancel.
        Declined => "declined",
        /// Nobody answered in time.
        Expired => "expired",
        /// A newer request to the same user took its place.
        Replaced => "replaced",
        /// The device's key was blocked by wrong PINs while the request waited.
        PinBlocked => "pin_blocked",
        /// A test user that always fails; the front end keeps which failure it plays.
        Simulated => "simulated",
    }
}

db_enum! {
    /// What a transaction is for; each kind has a service that owns its extra rules.
    TxKind, "transaction kind" {
        /// An MSS_Signature from an application provider (ETSI TS 102 204).
        Mss => "mss",
        /// A login at the OpenID provider.
        OidcLogin => "oidc_login",
        /// A signature on a PDF document (PAdES).
        Document => "document",
    }
}

/// Who asked for a transaction. Stored as one text column, `ap:<AP_ID>`, `oidc:<client_id>`
/// or `sender:<sender>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Requester {
    /// An MSS application provider, by AP_ID.
    Ap(String),
    /// A relying party of the OpenID provider, by client_id.
    OidcClient(String),
    /// Whoever sent a document to be signed, by the name the signing service knows them by.
    Sender(String),
}

impl Requester {
    pub fn to_db(&self) -> String {
        match self {
            Requester::Ap(ap_id) => format!("ap:{ap_id}"),
            Requester::OidcClient(client_id) => format!("oidc:{client_id}"),
            Requester::Sender(sender) => format!("sender:{sender}"),
        }
    }

    pub fn from_db(text: &str) -> Result<Requester, StoredValueError> {
        match text.split_once(':') {
            Some(("ap", ap_id)) if !ap_id.is_empty() => Ok(Requester::Ap(ap_id.to_string())),
            Some(("oidc", client_id)) if !client_id.is_empty() => Ok(Requester::OidcClient(client_id.to_string())),
            Some(("sender", sender)) if !sender.is_empty() => Ok(Requester::Sender(sender.to_string())),
            _ => Err(StoredValueError::new("requester", text)),
        }
    }
}

/// A state change the life cycle does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a transaction cannot go from {from} to {to}")]
pub struct IllegalTransition {
    pub from: TxState,
    pub to: TxState,
}

/// Only a pending transaction may end, and only once.
pub fn transition(from: TxState, to: TxState) -> Result<(), IllegalTransition> {
    match (from, to) {
        (TxState::Pending, TxState::Signed | TxState::Failed) => Ok(()),
        _ => Err(IllegalTransition { from, to }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn db_round_trips() {
        for state in TxState::ALL {
            assert_eq!(TxState::from_db(state.as_db()), Ok(*state));
        }
        for reason in FailureReason::ALL {
            assert_eq!(FailureReason::from_db(reason.as_db()), Ok(*reason));
        }
        assert_eq!(TxKind::from_db("mss"), Ok(TxKind::Mss));
        let ap = Requester::Ap("mid://dev.example".into());
        assert_eq!(ap.to_db(), "ap:mid://dev.example");
        assert_eq!(Requester::from_db(&ap.to_db()), Ok(ap));
    }

    #[test]
    fn bad_db_values() {
        for text in ["done", "PENDING", ""] {
            assert_eq!(TxState::from_db(text), Err(StoredValueError::new("transaction state", text)));
        }
        for text in ["ap:", "ap", "client:x"] {
            assert!(Requester::from_db(text).is_err(), "{text}");
        }
    }

    #[test]
    fn transitions() {
        for from in TxState::ALL {
            for to in TxState::ALL {
                let allowed = *from == TxState::Pending && *to != TxState::Pending;
                assert_eq!(transition(*from, *to).is_ok(), allowed, "{from} -> {to}");
            }
        }
        assert!(TxState::Signed.is_final() && TxState::Failed.is_final() && !TxState::Pending.is_final());
        assert_eq!(
            transition(TxState::Signed, TxState::Failed).unwrap_err().to_string(),
            "a transaction cannot go from signed to failed"
        );
    }
}
