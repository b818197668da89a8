//! The states of a user, of a user's devices and of a portal account, with their one
//! database spelling.

use crate::transaction::db_enum;

db_enum! {
    /// A user's Mobile ID account.
    UserState, "user state" {
        /// Enrolled, no device activated yet.
        Registered => "REGISTERED",
        Active => "ACTIVE",
        /// Switched off by the operator.
        Inactive => "INACTIVE",
    }
}

db_enum! {
    /// A signing device (a phone, or a robot's server-held key).
    DeviceState, "device state" {
        Active => "active",
        /// Too many wrong PINs: the key signs no more.
        Blocked => "blocked",
        /// Replaced by a newer device of the same method.
        Retired => "retired",
    }
}

db_enum! {
    /// What a user certificate is for. Every phone has an authentication certificate;
    /// where the operator asks for them, the same phone key also gets a signing
    /// certificate (non-repudiation), which document signatures carry, and the user an
    /// encryption certificate for an escrowed key.
    CertificateKind, "certificate kind" {
        Authentication => "authentication",
        Signing => "signing",
        /// A server-made key, escrowed under the master key and delivered to each new
        /// phone of the user, so that what was encrypted to it stays readable.
        Encryption => "encryption",
    }
}

db_enum! {
    /// A self-service portal account. Only an active account may get a Mobile ID.
    AccountState, "account state" {
        /// Its e-mail address is not confirmed yet.
        Unverified => "unverified",
        Active => "active",
        /// Switched off by the operator, or waiting for the operator's approval.
        Inactive => "inactive",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn db_round_trips() {
        for s in UserState::ALL {
            assert_eq!(UserState::from_db(s.as_db()), Ok(*s));
        }
        for s in DeviceState::ALL {
            assert_eq!(DeviceState::from_db(s.as_db()), Ok(*s));
        }
        for k in CertificateKind::ALL {
            assert_eq!(CertificateKind::from_db(k.as_db()), Ok(*k));
        }
        for s in AccountState::ALL {
            assert_eq!(AccountState::from_db(s.as_db()), Ok(*s));
        }
        assert!(UserState::from_db("active").is_err());
    }
}
