//! ETSI TS 102 204 fault codes and status codes (contract §10).
//!
//! Every fault the platform can answer is one `FaultCode` value; the wire
//! encoders (REST and SOAP) read the number, reason and Sender/Receiver split
//! from here so that the two formats can never disagree.

use std::fmt;

/// A fault code as it travels in `SubCode` (`_101`, `mss:_101`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum FaultCode {
    WrongParam = 101,
    MissingParam = 102,
    WrongDataLength = 103,
    UnauthorizedAccess = 104,
    UnknownClient = 105,
    InappropriateData = 107,
    IncompatibleInterface = 108,
    UnsupportedProfile = 109,
    ExpiredTransaction = 208,
    OtaError = 209,
    UserCancel = 401,
    PinNrBlocked = 402,
    CardBlocked = 403,
    NoKeyFound = 404,
    PbSignatureProcess = 406,
    NoCertFound = 422,
    GeofencingPolicyViolation = 450,
    InternalError = 900,
}

impl FaultCode {
    /// Every code, in numeric order.
    pub const ALL: [FaultCode; 18] = [
        FaultCode::WrongParam,
        FaultCode::MissingParam,
        FaultCode::WrongDataLength,
        FaultCode::UnauthorizedAccess,
        FaultCode::UnknownClient,
        FaultCode::InappropriateData,
        FaultCode::IncompatibleInterface,
        FaultCode::UnsupportedProfile,
        FaultCode::ExpiredTransaction,
        FaultCode::OtaError,
        FaultCode::UserCancel,
        FaultCode::PinNrBlocked,
        FaultCode::CardBlocked,
        FaultCode::NoKeyFound,
        FaultCode::PbSignatureProcess,
        FaultCode::NoCertFound,
        FaultCode::GeofencingPolicyViolation,
        FaultCode::InternalError,
    ];

    pub fn number(self) -> u16 {
        self as u16
    }

    pub fn from_number(n: u16) -> Option<FaultCode> {
        FaultCode::ALL.into_iter().find(|code| code.number() == n)
    }

    /// The symbolic name sent as `Reason`; clients compare it literally.
    pub fn reason(self) -> &'static str {
        match self {
            FaultCode::WrongParam => "WRONG_PARAM",
            FaultCode::MissingParam => "MISSING_PARAM",
            FaultCode::WrongDataLength => "WRONG_DATA_LENGTH",
            FaultCode::UnauthorizedAccess => "UNAUTHORIZED_ACCESS",
            FaultCode::UnknownClient => "UNKNOWN_CLIENT",
            FaultCode::InappropriateData => "INAPPROPRIATE_DATA",
            FaultCode::IncompatibleInterface => "INCOMPATIBLE_INTERFACE",
            FaultCode::UnsupportedProfile => "UNSUPPORTED_PROFILE",
            FaultCode::ExpiredTransaction => "EXPIRED_TRANSACTION",
            FaultCode::OtaError => "OTA_ERROR",
            FaultCode::UserCancel => "USER_CANCEL",
            FaultCode::PinNrBlocked => "PIN_NR_BLOCKED",
            FaultCode::CardBlocked => "CARD_BLOCKED",
            FaultCode::NoKeyFound => "NO_KEY_FOUND",
            FaultCode::PbSignatureProcess => "PB_SIGNATURE_PROCESS",
            FaultCode::NoCertFound => "NO_CERT_FOUND",
            FaultCode::GeofencingPolicyViolation => "GEOFENCING_POLICY_VIOLATION",
            FaultCode::InternalError => "INTERNAL_ERROR",
        }
    }

    /// `true` for the 1xx request errors (`Sender`), `false` for `Receiver`.
    pub fn is_sender(self) -> bool {
        (100..200).contains(&self.number())
    }

    /// The detail text Swisscom documents (or was seen sending) for this code.
    /// Test numbers (§12) answer with exactly these texts.
    pub fn default_detail(self) -> &'static str {
        match self {
            FaultCode::WrongParam => "Error among the arguments of the request",
            FaultCode::MissingParam => "An argument in the request is missing",
            FaultCode::WrongDataLength => {
                "The DataToBeSigned are too large. Limitations are due to the Mobile Signature technology implemented by the MSSP."
            }
            FaultCode::UnauthorizedAccess => {
                "The AP is unknown, or the client authentication failed, or the AP asks for an additional service for which it has not subscribed."
            }
            FaultCode::UnknownClient => "MSISDN is unknown",
            FaultCode::InappropriateData => "DTBD matching failed",
            FaultCode::IncompatibleInterface => {
                "The minor version and/or major version parameters are inappropriate for the receiver of the message."
            }
            FaultCode::UnsupportedProfile => {
                "The user does not support this Mobile Signature Profile"
            }
            FaultCode::ExpiredTransaction => {
                "Transaction Expiry date has been reached or Time out has lapsed."
            }
            FaultCode::OtaError => {
                "The MSSP has not succeeded to contact the end-user's mobile equipment Bad connection...)"
            }
            FaultCode::UserCancel => "User cancelled the request",
            FaultCode::PinNrBlocked => "PIN of the mobile user is blocked",
            FaultCode::CardBlocked => "Mobile user account has state INACTIVE or no SIM assigned",
            FaultCode::NoKeyFound => "Mobile user account needs to be activated",
            FaultCode::PbSignatureProcess => "Signature request already in progress.",
            FaultCode::NoCertFound => "Certificate is expired",
            FaultCode::GeofencingPolicyViolation => "Geo policy for referenced AP ID was violated",
            FaultCode::InternalError => "Unknown Error",
        }
    }
}

impl fmt::Display for FaultCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.number(), self.reason())
    }
}

/// A fault as answered to the AP: code, readable detail, and for user-state
/// faults (404, 105) an optional portal link telling the AP where to send the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {detail}")]
pub struct Fault {
    pub code: FaultCode,
    pub detail: String,
    pub portal_url: Option<String>,
}

impl Fault {
    pub fn new(code: FaultCode, detail: impl Into<String>) -> Fault {
        Fault { code, detail: detail.into(), portal_url: None }
    }

    /// The fault with its documented default detail.
    pub fn of(code: FaultCode) -> Fault {
        Fault::new(code, code.default_detail())
    }

    pub fn with_portal_url(mut self, url: impl Into<String>) -> Fault {
        self.portal_url = Some(url.into());
        self
    }

    pub fn wrong_param(detail: impl Into<String>) -> Fault {
        Fault::new(FaultCode::WrongParam, detail)
    }

    pub fn missing_param(detail: impl Into<String>) -> Fault {
        Fault::new(FaultCode::MissingParam, detail)
    }

    /// Unknown MSSP_TransID, seen verbatim in production.
    pub fn no_such_transaction() -> Fault {
        Fault::wrong_param("There is no such transaction.")
    }

    pub fn wrong_ssl_credentials() -> Fault {
        Fault::new(FaultCode::UnauthorizedAccess, "Wrong SSL credentials")
    }

    /// Bad MSISDN; the health check (§12) expects exactly this text.
    pub fn illegal_msisdn() -> Fault {
        Fault::wrong_param("Illegal msisdn")
    }

    /// A synchronous signature ran out of time.
    pub fn expired_sync() -> Fault {
        Fault::new(FaultCode::ExpiredTransaction, "Timed out waiting for an answer from user.")
    }

    /// A status query found the asynchronous signature expired.
    pub fn expired_async() -> Fault {
        Fault::new(FaultCode::ExpiredTransaction, "Original request timed out.")
    }

    pub fn internal(detail: impl Into<String>) -> Fault {
        Fault::new(FaultCode::InternalError, detail)
    }
}

/// A status code: an answer that is not a fault (HTTP 200, inside `Status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum StatusCode {
    RequestOk = 100,
    Signature = 500,
    RevokedCertificate = 501,
    ValidSignature = 502,
    InvalidSignature = 503,
    OutstandingTransaction = 504,
}

impl StatusCode {
    pub fn number(self) -> u16 {
        self as u16
    }

    pub fn from_number(n: u16) -> Option<StatusCode> {
        [
            StatusCode::RequestOk,
            StatusCode::Signature,
            StatusCode::RevokedCertificate,
            StatusCode::ValidSignature,
            StatusCode::InvalidSignature,
            StatusCode::OutstandingTransaction,
        ]
        .into_iter()
        .find(|s| s.number() == n)
    }

    /// The `StatusMessage`. 504 is spelt as on the wire, not as in the PDF guide.
    pub fn message(self) -> &'static str {
        match self {
            StatusCode::RequestOk => "REQUEST_OK",
            StatusCode::Signature => "SIGNATURE",
            StatusCode::RevokedCertificate => "REVOKED_CERTIFICATE",
            StatusCode::ValidSignature => "VALID_SIGNATURE",
            StatusCode::InvalidSignature => "INVALID_SIGNATURE",
            StatusCode::OutstandingTransaction => "OUTSTANDING_TRANSACTION",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_round_trip_for_every_code() {
        for code in FaultCode::ALL {
            assert_eq!(FaultCode::from_number(code.number()), Some(code));
        }
        assert_eq!(FaultCode::from_number(100), None);
        assert_eq!(FaultCode::from_number(0), None);
        assert_eq!(FaultCode::from_number(106), None);
    }

    #[test]
    fn all_is_sorted_and_unique() {
        let numbers: Vec<u16> = FaultCode::ALL.iter().map(|c| c.number()).collect();
        let mut sorted = numbers.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(numbers, sorted);
    }

    #[test]
    fn reasons_match_contract() {
        assert_eq!(FaultCode::WrongParam.reason(), "WRONG_PARAM");
        assert_eq!(FaultCode::UnknownClient.reason(), "UNKNOWN_CLIENT");
        assert_eq!(FaultCode::PbSignatureProcess.reason(), "PB_SIGNATURE_PROCESS");
        assert_eq!(FaultCode::GeofencingPolicyViolation.reason(), "GEOFENCING_POLICY_VIOLATION");
        assert_eq!(FaultCode::InternalError.reason(), "INTERNAL_ERROR");
    }

    #[test]
    fn sender_is_exactly_the_1xx_codes() {
        for code in FaultCode::ALL {
            assert_eq!(code.is_sender(), code.number() < 200, "{code}");
        }
        assert!(FaultCode::UnauthorizedAccess.is_sender());
        assert!(!FaultCode::ExpiredTransaction.is_sender());
        assert!(!FaultCode::UserCancel.is_sender());
    }

    #[test]
    fn default_details_match_contract() {
        assert_eq!(FaultCode::WrongParam.default_detail(), "Error among the arguments of the request");
        assert_eq!(
            FaultCode::UnauthorizedAccess.default_detail(),
            "The AP is unknown, or the client authentication failed, or the AP asks for an additional service for which it has not subscribed."
        );
        assert_eq!(FaultCode::UnknownClient.default_detail(), "MSISDN is unknown");
        assert_eq!(
            FaultCode::ExpiredTransaction.default_detail(),
            "Transaction Expiry date has been reached or Time out has lapsed."
        );
        assert_eq!(FaultCode::UserCancel.default_detail(), "User cancelled the request");
        assert_eq!(FaultCode::PinNrBlocked.default_detail(), "PIN of the mobile user is blocked");
        assert_eq!(FaultCode::InternalError.default_detail(), "Unknown Error");
        for code in FaultCode::ALL {
            assert!(!code.default_detail().is_empty());
        }
    }

    #[test]
    fn shortcuts_carry_the_seen_texts() {
        let cases = [
            (Fault::no_such_transaction(), 101, "There is no such transaction."),
            (Fault::wrong_ssl_credentials(), 104, "Wrong SSL credentials"),
            (Fault::illegal_msisdn(), 101, "Illegal msisdn"),
            (Fault::expired_sync(), 208, "Timed out waiting for an answer from user."),
            (Fault::expired_async(), 208, "Original request timed out."),
            (Fault::wrong_param("x"), 101, "x"),
            (Fault::missing_param("y"), 102, "y"),
            (Fault::internal("z"), 900, "z"),
        ];
        for (fault, number, detail) in cases {
            assert_eq!(fault.code.number(), number);
            assert_eq!(fault.detail, detail);
            assert_eq!(fault.portal_url, None);
        }
    }

    #[test]
    fn of_uses_default_detail_and_portal_url_is_kept() {
        let fault = Fault::of(FaultCode::NoKeyFound).with_portal_url("http://mobileid.ch?msisdn=1");
        assert_eq!(fault.detail, "Mobile user account needs to be activated");
        assert_eq!(fault.portal_url.as_deref(), Some("http://mobileid.ch?msisdn=1"));
    }

    #[test]
    fn fault_displays_code_reason_and_detail() {
        assert_eq!(Fault::illegal_msisdn().to_string(), "101 WRONG_PARAM: Illegal msisdn");
        let as_error: &dyn std::error::Error = &Fault::of(FaultCode::InternalError);
        assert_eq!(as_error.to_string(), "900 INTERNAL_ERROR: Unknown Error");
    }

    #[test]
    fn status_codes_numbers_and_messages() {
        let cases = [
            (StatusCode::RequestOk, 100, "REQUEST_OK"),
            (StatusCode::Signature, 500, "SIGNATURE"),
            (StatusCode::RevokedCertificate, 501, "REVOKED_CERTIFICATE"),
            (StatusCode::ValidSignature, 502, "VALID_SIGNATURE"),
            (StatusCode::InvalidSignature, 503, "INVALID_SIGNATURE"),
            (StatusCode::OutstandingTransaction, 504, "OUTSTANDING_TRANSACTION"),
        ];
        for (status, number, message) in cases {
            assert_eq!(status.number(), number);
            assert_eq!(status.message(), message);
            assert_eq!(StatusCode::from_number(number), Some(status));
        }
        assert_eq!(StatusCode::from_number(101), None);
    }
}
