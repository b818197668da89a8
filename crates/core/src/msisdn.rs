//! The user's phone number (contract §2.4).
//!
//! Clients compare the echoed MSISDN byte for byte and treat a mismatch as an
//! attack, so the raw string is kept next to the normalised one used for lookups.

use std::fmt;
use std::hash::{Hash, Hasher};

use crate::fault::Fault;

/// Swisscom's official health-check number: it must always answer 101 `Illegal msisdn`.
const HEALTH_CHECK_NUMBER: &str = "41000000000";

/// A phone number in international form.
#[derive(Debug, Clone)]
pub struct Msisdn {
    raw: String,
    normalized: String,
}

impl Msisdn {
    /// Accepts `+41791234567` or `41791234567`: one optional `+`, then
    /// `[1-9][0-9]{7,14}`. A leading `00` fails the first-digit rule on purpose:
    /// it is a dialling prefix, not part of the number.
    pub fn parse(raw: &str) -> Result<Msisdn, Fault> {
        let digits = raw.strip_prefix('+').unwrap_or(raw);
        let well_formed =
            (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0');
        if !well_formed || digits == HEALTH_CHECK_NUMBER {
            return Err(Fault::illegal_msisdn());
        }
        Ok(Msisdn { raw: raw.to_owned(), normalized: digits.to_owned() })
    }

    /// For numbers read back from our own database, which only ever stores
    /// normalised numbers that once passed `parse`.
    pub fn from_normalized(digits: impl Into<String>) -> Msisdn {
        let normalized = digits.into();
        Msisdn { raw: normalized.clone(), normalized }
    }

    /// Exactly as the client sent it, for echoing.
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// Digits only, no `+`: the form for lookups and storage.
    pub fn normalized(&self) -> &str {
        &self.normalized
    }
}

impl fmt::Display for Msisdn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "+{}", self.normalized)
    }
}

impl PartialEq for Msisdn {
    fn eq(&self, other: &Msisdn) -> bool {
        self.normalized == other.normalized
    }
}

impl Eq for Msisdn {}

impl Hash for Msisdn {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.normalized.hash(state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::FaultCode;

    fn assert_illegal(raw: &str) {
        let fault = Msisdn::parse(raw).expect_err(raw);
        assert_eq!(fault.code, FaultCode::WrongParam, "{raw}");
        assert_eq!(fault.detail, "Illegal msisdn", "{raw}");
    }

    #[test]
    fn keeps_raw_and_normalises() {
        let with_plus = Msisdn::parse("+41791234567").unwrap();
        assert_eq!(with_plus.raw(), "+41791234567");
        assert_eq!(with_plus.normalized(), "41791234567");
        let without = Msisdn::parse("41791234567").unwrap();
        assert_eq!(without.raw(), "41791234567");
        assert_eq!(with_plus, without);
        assert_eq!(with_plus.to_string(), "+41791234567");
    }

    #[test]
    fn length_bounds() {
        assert!(Msisdn::parse("12345678").is_ok());
        assert!(Msisdn::parse("123456789012345").is_ok());
        assert_illegal("1234567");
        assert_illegal("1234567890123456");
    }

    #[test]
    fn rejects_bad_input() {
        for raw in [
            "",
            "+",
            "++41791234567",
            "+4179abcdef",
            "0041791234567",
            "041791234567",
            "41 79 123 45 67",
            " 41791234567",
            "41791234567 ",
            "+41-791234567",
            "４１７９１２３４５６７",
        ] {
            assert_illegal(raw);
        }
    }

    #[test]
    fn rejects_health_check_number() {
        assert_illegal("+41000000000");
        assert_illegal("41000000000");
    }

    #[test]
    fn test_numbers_are_legal() {
        assert!(Msisdn::parse("+41000092401").is_ok());
        assert!(Msisdn::parse("41700092501").is_ok());
    }

    #[test]
    fn from_normalized_equals_parsed() {
        let stored = Msisdn::from_normalized("41791234567");
        assert_eq!(stored, Msisdn::parse("+41791234567").unwrap());
        assert_eq!(stored.raw(), "41791234567");
    }
}
