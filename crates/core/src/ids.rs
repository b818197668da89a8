//! Identifiers that cross the wire: the AP's and our transaction IDs, the AP's
//! ID, and the user's Mobile ID serial number (contract §2.2, §5.1, §9.3).

use std::fmt;

use rand::rngs::OsRng;
use rand::Rng;

use crate::fault::Fault;

const AP_TRANS_ID_MAX: usize = 256;
const MSSP_TRANS_ID_MAX: usize = 64;
const MSSP_TRANS_ID_LEN: usize = 12;
const AP_ID_MAX: usize = 255;

const LETTERS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const LETTERS_AND_DIGITS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const UPPER_AND_DIGITS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// The ASCII subset of `xs:NCName`. Non-ASCII letters are legal NCName
/// characters too, but no client sends them and refusing them keeps IDs
/// safe to put in logs, URLs and headers.
fn is_ascii_ncname(s: &str) -> bool {
    let mut bytes = s.bytes();
    match bytes.next() {
        Some(first) if first.is_ascii_alphabetic() || first == b'_' => {}
        _ => return false,
    }
    bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

/// Draws `len` characters from `alphabet` with the OS's CSPRNG, because
/// transaction IDs and serial numbers must not be guessable.
fn random_from(alphabet: &[u8], len: usize) -> String {
    (0..len).map(|_| char::from(alphabet[OsRng.gen_range(0..alphabet.len())])).collect()
}

/// The AP's own reference for one request (`AP_Info/@AP_TransID`), echoed verbatim.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ApTransId(String);

impl ApTransId {
    pub fn parse(raw: &str) -> Result<ApTransId, Fault> {
        if raw.is_empty() {
            return Err(Fault::wrong_param("AP_TransID is empty"));
        }
        if raw.len() > AP_TRANS_ID_MAX {
            return Err(Fault::wrong_param(format!("AP_TransID is longer than {AP_TRANS_ID_MAX} characters")));
        }
        if !is_ascii_ncname(raw) {
            return Err(Fault::wrong_param(
                "AP_TransID must be an NCName: a letter or '_' first, then letters, digits, '.', '-' or '_'",
            ));
        }
        Ok(ApTransId(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ApTransId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Our transaction ID (`MSSP_TransID`), opaque to clients.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MsspTransId(String);

impl MsspTransId {
    /// A fresh, unpredictable ID: a letter (NCName rule) then 11 letters or
    /// digits, about 65 bits of entropy.
    pub fn generate() -> MsspTransId {
        let mut id = random_from(LETTERS, 1);
        id.push_str(&random_from(LETTERS_AND_DIGITS, MSSP_TRANS_ID_LEN - 1));
        MsspTransId(id)
    }

    /// An ID from a status or receipt request. Anything we could never have
    /// issued is reported the way an unknown ID is, since that is what it is.
    pub fn parse(raw: &str) -> Result<MsspTransId, Fault> {
        if raw.is_empty() || raw.len() > MSSP_TRANS_ID_MAX || !is_ascii_ncname(raw) {
            return Err(Fault::no_such_transaction());
        }
        Ok(MsspTransId(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MsspTransId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a string is not a Mobile ID serial number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseSerialError {
    #[error("a serial number has 16 characters, not {0}")]
    WrongLength(usize),
    #[error("a serial number starts with {}", SerialNumber::PREFIX)]
    WrongPrefix,
    #[error("a serial number holds only A-Z and 0-9 after its prefix, found {0:?}")]
    BadCharacter(char),
}

/// The user's stable identity (`MIDCHE` + 10 of [A-Z0-9]). Clients extract it
/// with `SERIALNUMBER=(.{16})`, so the length is exact.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SerialNumber(String);

impl SerialNumber {
    pub const PREFIX: &'static str = "MIDCHE";
    pub const LEN: usize = 16;

    pub fn generate() -> SerialNumber {
        let mut serial = String::from(SerialNumber::PREFIX);
        serial.push_str(&random_from(UPPER_AND_DIGITS, SerialNumber::LEN - SerialNumber::PREFIX.len()));
        SerialNumber(serial)
    }

    pub fn parse(raw: &str) -> Result<SerialNumber, ParseSerialError> {
        let count = raw.chars().count();
        if count != SerialNumber::LEN {
            return Err(ParseSerialError::WrongLength(count));
        }
        let rest = raw.strip_prefix(SerialNumber::PREFIX).ok_or(ParseSerialError::WrongPrefix)?;
        if let Some(bad) = rest.chars().find(|c| !(c.is_ascii_uppercase() || c.is_ascii_digit())) {
            return Err(ParseSerialError::BadCharacter(bad));
        }
        Ok(SerialNumber(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SerialNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The AP's identifier (`AP_Info/@AP_ID`, an anyURI). Parsing is only a sanity
/// check: whether the AP exists and the client certificate fits is decided at
/// authentication, which answers 104.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ApId(String);

impl ApId {
    pub fn parse(raw: &str) -> Result<ApId, Fault> {
        if raw.is_empty() {
            return Err(Fault::wrong_param("AP_ID is empty"));
        }
        if raw.chars().count() > AP_ID_MAX {
            return Err(Fault::wrong_param(format!("AP_ID is longer than {AP_ID_MAX} characters")));
        }
        if raw.chars().any(char::is_whitespace) {
            return Err(Fault::wrong_param("AP_ID must not contain whitespace"));
        }
        Ok(ApId(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ApId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::FaultCode;
    use std::collections::HashSet;

    #[test]
    fn ap_trans_id_accepts_real_values() {
        for raw in [
            "REF0101120000",
            "ID-b19c7955-0036-49d8-8fde-768a96f6c0c2",
            "X87D1B5A0AF2597965446211FE437B36B",
            "AP.TEST.21920.3921",
            "POSTMAN.46009.542",
            "TEST.1423646241904",
            "_x",
            "a",
        ] {
            assert_eq!(ApTransId::parse(raw).unwrap().as_str(), raw);
        }
        assert!(ApTransId::parse(&"a".repeat(256)).is_ok());
    }

    #[test]
    fn ap_trans_id_rejects_non_ncnames() {
        for raw in ["1abc", "-abc", ".abc", "a:b", "a b", "a/b", "äbc", "ab\n"] {
            let fault = ApTransId::parse(raw).expect_err(raw);
            assert_eq!(fault.code, FaultCode::WrongParam);
            assert!(fault.detail.contains("NCName"), "{}", fault.detail);
        }
    }

    #[test]
    fn ap_trans_id_rejects_empty_and_too_long() {
        let empty = ApTransId::parse("").unwrap_err();
        assert_eq!(empty.code, FaultCode::WrongParam);
        assert_eq!(empty.detail, "AP_TransID is empty");
        let long = ApTransId::parse(&"a".repeat(257)).unwrap_err();
        assert_eq!(long.code, FaultCode::WrongParam);
        assert!(long.detail.contains("256"));
    }

    #[test]
    fn mssp_trans_id_generate_shape_and_uniqueness() {
        let mut seen = HashSet::new();
        for _ in 0..1000 {
            let id = MsspTransId::generate();
            let s = id.as_str();
            assert_eq!(s.len(), 12);
            assert!(s.as_bytes()[0].is_ascii_alphabetic());
            assert!(s.bytes().all(|b| b.is_ascii_alphanumeric()));
            assert_eq!(MsspTransId::parse(s).unwrap(), id);
            assert!(seen.insert(s.to_owned()));
        }
    }

    #[test]
    fn mssp_trans_id_parse_accepts_real_values() {
        for raw in ["h44okl", "hf5h3o", "HE826ht", "HEhm77lu", "HEhm82c1"] {
            assert!(MsspTransId::parse(raw).is_ok());
        }
    }

    #[test]
    fn mssp_trans_id_parse_rejects_as_unknown() {
        for raw in ["", "1abc", "a b", "a:b", &"a".repeat(65)] {
            let fault = MsspTransId::parse(raw).expect_err(raw);
            assert_eq!(fault, Fault::no_such_transaction());
        }
    }

    #[test]
    fn serial_generate_shape() {
        for _ in 0..100 {
            let serial = SerialNumber::generate();
            assert_eq!(serial.as_str().len(), 16);
            assert!(serial.as_str().starts_with("MIDCHE"));
            assert_eq!(SerialNumber::parse(serial.as_str()).unwrap(), serial);
        }
    }

    #[test]
    fn serial_parse() {
        for raw in ["MIDCHE97FQPL3SL3", "MIDCHEO16P1O6E92", "MIDCHEYUD1YE4QB1"] {
            assert_eq!(SerialNumber::parse(raw).unwrap().as_str(), raw);
        }
        assert_eq!(SerialNumber::parse("MIDCHE97FQPL3SL"), Err(ParseSerialError::WrongLength(15)));
        assert_eq!(SerialNumber::parse("MIDCHE97FQPL3SL3X"), Err(ParseSerialError::WrongLength(17)));
        assert_eq!(SerialNumber::parse("MIDDEU97FQPL3SL3"), Err(ParseSerialError::WrongPrefix));
        assert_eq!(SerialNumber::parse("midcheo16p1o6e92"), Err(ParseSerialError::WrongPrefix));
        assert_eq!(SerialNumber::parse("MIDCHE97fQPL3SL3"), Err(ParseSerialError::BadCharacter('f')));
        assert_eq!(SerialNumber::parse("MIDCHE97FQPL3SLÄ"), Err(ParseSerialError::BadCharacter('Ä')));
    }

    #[test]
    fn ap_id_parse() {
        assert_eq!(ApId::parse("mid://dev.swisscom.ch").unwrap().as_str(), "mid://dev.swisscom.ch");
        assert_eq!(ApId::parse("").unwrap_err().detail, "AP_ID is empty");
        let spaced = ApId::parse("mid://a b").unwrap_err();
        assert_eq!(spaced.code, FaultCode::WrongParam);
        assert_eq!(spaced.detail, "AP_ID must not contain whitespace");
        assert!(ApId::parse(&"a".repeat(255)).is_ok());
        let long = ApId::parse(&"a".repeat(256)).unwrap_err();
        assert_eq!(long.code, FaultCode::WrongParam);
        assert!(long.detail.contains("255"));
    }
}
