//! Envelopes of the document-signing service: documents sent to signers in ordered
//! levels. Levels sign one after the other; the signers of one level in parallel.

use crate::transaction::db_enum;

db_enum! {
    /// Where an envelope is.
    EnvelopeState, "envelope state" {
        /// Made, not sent: nobody has been told.
        Draft => "draft",
        /// Out for signing, at some level.
        Sent => "sent",
        /// Every signer signed.
        Completed => "completed",
        /// A signer declined: nobody signs any more.
        Declined => "declined",
        /// The sender withdrew it.
        Voided => "voided",
        /// Its time ran out before everyone signed.
        Expired => "expired",
    }
}

impl EnvelopeState {
    pub fn is_final(self) -> bool {
        !matches!(self, EnvelopeState::Draft | EnvelopeState::Sent)
    }
}

db_enum! {
    /// Where one signer is.
    SignerState, "signer state" {
        /// Their level has not started.
        Waiting => "waiting",
        /// Their level started: they were sent their link.
        Invited => "invited",
        /// They opened their link.
        Viewed => "viewed",
        Signed => "signed",
        Declined => "declined",
    }
}

db_enum! {
    /// What the sender is told about (webhooks) and the audit trail records.
    EnvelopeEvent, "envelope event" {
        Created => "created",
        Sent => "sent",
        Viewed => "viewed",
        Signed => "signed",
        Declined => "declined",
        Completed => "completed",
        Voided => "voided",
        Expired => "expired",
        /// A signature could not be made (the document could not be signed, the phone
        /// failed): the signer may try again.
        Failed => "failed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_and_know_when_they_are_final() {
        for state in EnvelopeState::ALL {
            assert_eq!(EnvelopeState::from_db(state.as_db()), Ok(*state));
        }
        for state in SignerState::ALL {
            assert_eq!(SignerState::from_db(state.as_db()), Ok(*state));
        }
        assert!(!EnvelopeState::Sent.is_final() && EnvelopeState::Voided.is_final());
        assert!(EnvelopeEvent::from_db("sealed").is_err());
    }
}
