//! The provider's errors: the OAuth/OIDC `error` that the specifications define, and the
//! integration guide's code (section 2.10.1), written `mid_<cat>_<code>_<TRACE> - message`.
//! TRACE is the session code the phone also shows, or a fresh one where no login began.

use std::fmt;

/// The OAuth error codes we answer with (RFC 6749, OIDC Core, CIBA, RFC 9126).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthError {
    InvalidRequest,
    InvalidScope,
    UnauthorizedClient,
    AccessDenied,
    ServerError,
    InvalidClient,
    InvalidGrant,
    UnsupportedGrantType,
    InvalidToken,
    AuthorizationPending,
    SlowDown,
    ExpiredToken,
    InvalidRequestUri,
    InvalidBindingMessage,
    UnknownUserId,
}

impl OAuthError {
    pub fn as_str(self) -> &'static str {
        match self {
            OAuthError::InvalidRequest => "invalid_request",
            OAuthError::InvalidScope => "invalid_scope",
            OAuthError::UnauthorizedClient => "unauthorized_client",
            OAuthError::AccessDenied => "access_denied",
            OAuthError::ServerError => "server_error",
            OAuthError::InvalidClient => "invalid_client",
            OAuthError::InvalidGrant => "invalid_grant",
            OAuthError::UnsupportedGrantType => "unsupported_grant_type",
            OAuthError::InvalidToken => "invalid_token",
            OAuthError::AuthorizationPending => "authorization_pending",
            OAuthError::SlowDown => "slow_down",
            OAuthError::ExpiredToken => "expired_token",
            OAuthError::InvalidRequestUri => "invalid_request_uri",
            OAuthError::InvalidBindingMessage => "invalid_binding_message",
            OAuthError::UnknownUserId => "unknown_user_id",
        }
    }
}

/// The guide's codes (section 2.10.1), each with its category and message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MidCode {
    AcrNotSingle,
    AcrUnknown,
    UiLocalesNotSingle,
    UiLocalesUnknown,
    HintsEmpty,
    Al4WithManualInput,
    HintMsisdnInvalid,
    HintMsisdnDuplicated,
    HintSerialInvalid,
    LoginHintNotJson,
    ScopeInvalid,
    Al4WithoutHint,
    MissingQuery,
    InvalidClientRequest,
    ScopeNotAllowed,
    AcrNotAllowed,
    ParameterNotAllowed,
    Rejected,
    ConsentRejected,
    CmsInvalid,
    SerialMismatch,
    CountryMismatch,
    MsisdnNotOwned,
    ActivationFailed,
    SimRequired,
    NoMethod,
    OtpFailed,
    AuthFailed,
    Internal,
}

impl MidCode {
    /// The category, number and message, as the guide's table writes them.
    pub fn parts(self) -> (&'static str, u16, &'static str) {
        use MidCode::*;
        match self {
            AcrNotSingle => ("req", 1010, "Invalid acr_values parameter, expected one single value"),
            AcrUnknown => ("req", 1020, "Invalid value received for acr_values"),
            UiLocalesNotSingle => ("req", 1030, "Invalid ui_locales parameter, expected one single value"),
            UiLocalesUnknown => ("req", 1040, "Invalid value received for ui_locales"),
            HintsEmpty => ("req", 1050, "Invalid login_hint, empty hints are not allowed"),
            Al4WithManualInput => {
                ("req", 1060, "Invalid login_hint, AL4 cannot be used with enabled manual MSISDN input")
            }
            HintMsisdnInvalid => ("req", 1070, "Invalid MSISDN value in login_hint"),
            HintMsisdnDuplicated => ("req", 1080, "Duplicated MSISDN value in login_hint"),
            HintSerialInvalid => ("req", 1090, "Invalid SN value in login_hint"),
            LoginHintNotJson => ("req", 1100, "Invalid login_hint JSON content"),
            ScopeInvalid => ("req", 1110, "Invalid scopes in request"),
            Al4WithoutHint => ("req", 1120, "AL4 requested but login_hint is empty"),
            MissingQuery => ("req", 1130, "Invalid request, missing query string"),
            InvalidClientRequest => ("req", 1900, "Invalid client request, check request parameters"),
            ScopeNotAllowed => ("sec", 2010, "Unauthorized scopes used in request"),
            AcrNotAllowed => ("sec", 2020, "Unauthorized acr_values used in request"),
            ParameterNotAllowed => ("sec", 2030, "Unauthorized parameters used in request"),
            Rejected => ("auth", 3010, "Authentication rejected by resource owner or authorization server"),
            ConsentRejected => ("auth", 3020, "Claims sharing rejected by resource owner or authorization server"),
            CmsInvalid => ("auth", 3025, "Signature CMS data validation failed"),
            SerialMismatch => ("auth", 3030, "Mobile ID serial number validation failed"),
            CountryMismatch => ("auth", 3040, "Country (geo-location) validation failed"),
            MsisdnNotOwned => ("auth", 3050, "MSISDN ownership verification failed"),
            ActivationFailed => ("auth", 3060, "Mobile ID account activation failed"),
            SimRequired => ("auth", 3070, "Mobile ID SIM card required for this authentication"),
            NoMethod => ("auth", 3080, "No authentication method available"),
            OtpFailed => ("auth", 3090, "Authentication via SMS OTP failed"),
            AuthFailed => ("auth", 3900, "Authentication failed for other reasons"),
            Internal => ("sys", 9900, "Internal server error"),
        }
    }

    /// The OAuth error of the code's row: `req` is invalid_request (1110 invalid_scope),
    /// `sec` unauthorized_client, `auth` access_denied, `sys` server_error.
    pub fn oauth(self) -> OAuthError {
        match (self, self.parts().0) {
            (MidCode::ScopeInvalid, _) => OAuthError::InvalidScope,
            (_, "req") => OAuthError::InvalidRequest,
            (_, "sec") => OAuthError::UnauthorizedClient,
            (_, "auth") => OAuthError::AccessDenied,
            _ => OAuthError::ServerError,
        }
    }
}

/// An error of the provider, as every front end needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcError {
    pub error: OAuthError,
    pub code: MidCode,
    /// The 8-character session code of the login, or a fresh one.
    pub trace: String,
    /// What exactly was wrong, for the log and the page; the description stays the guide's.
    pub detail: String,
}

impl OidcError {
    pub fn new(code: MidCode, trace: &str, detail: impl Into<String>) -> OidcError {
        OidcError { error: code.oauth(), code, trace: trace.to_string(), detail: detail.into() }
    }

    /// The same code with another OAuth error (the token endpoint's `invalid_grant`, …).
    pub fn with_error(mut self, error: OAuthError) -> OidcError {
        self.error = error;
        self
    }

    /// `mid_<cat>_<code>_<TRACE> - message`: the guide's `description`.
    pub fn description(&self) -> String {
        let (category, number, message) = self.code.parts();
        format!("mid_{category}_{number}_{} - {message}", self.trace)
    }
}

impl fmt::Display for OidcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.description(), self.error.as_str(), self.detail)
    }
}

impl std::error::Error for OidcError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guide_s_format() {
        let e = OidcError::new(MidCode::ScopeNotAllowed, "A9W1GLUM", "scope mid_cms");
        assert_eq!(e.description(), "mid_sec_2010_A9W1GLUM - Unauthorized scopes used in request");
        assert_eq!(e.error, OAuthError::UnauthorizedClient);
        assert_eq!(MidCode::ScopeInvalid.oauth(), OAuthError::InvalidScope);
        assert_eq!(MidCode::AcrUnknown.oauth(), OAuthError::InvalidRequest);
        assert_eq!(MidCode::Rejected.oauth(), OAuthError::AccessDenied);
        assert_eq!(MidCode::Internal.oauth(), OAuthError::ServerError);
    }
}
