//! Authorization requests (`/authorize`, or PAR then `/authorize?request_uri=`): the
//! parameters checked in the guide's order, and the error each wrong one gets.
//!
//! Until the client and its redirect URI are known, an error is shown, never redirected
//! ([`Refusal::Page`]); after that it goes back to the client ([`Refusal::Redirect`]).

use std::collections::HashMap;

use mobileid_core::Msisdn;
use serde::{Deserialize, Serialize};

use super::client::{Entitlement, OidcClient};
use super::error::{MidCode, OidcError};
use super::vocabulary::{parse_scopes, Acr, Scope};

/// Parameters the guide says SHALL NOT be used (and `request`, which we do not support).
const FORBIDDEN: [&str; 7] = ["response_mode", "display", "prompt", "max_age", "id_token_hint", "claims", "request"];

/// A checked authorization request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub state: String,
    pub nonce: Option<String>,
    pub scopes: Vec<Scope>,
    pub acr: Acr,
    /// PKCE S256 challenge.
    pub code_challenge: String,
    /// The `ui_locales` value, if one was sent.
    pub ui_locale: Option<String>,
    pub login_hint: Option<LoginHint>,
    /// The client's own text for the phone, with `#CLIENT#` and `#CODE#`.
    pub dtbd: Option<String>,
}

/// The guide's `login_hint`: who may log in, and whether the user may type another number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginHint {
    pub manual_input: bool,
    pub hints: Vec<Hint>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hint {
    /// Normalised digits.
    pub msisdn: String,
    /// The Mobile ID serial number an AL4 login must match.
    pub serial: Option<String>,
}

/// Why a request is refused, and where the refusal goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Unknown client or redirect URI: an error page, no redirect.
    Page(OidcError),
    /// Back to the client's redirect URI with `error`, `error_description`, `state`, `iss`.
    Redirect { redirect_uri: String, state: Option<String>, error: OidcError },
}

/// Checks the parameters of a request for `client` (`via_par`: they came through PAR).
pub fn check(
    client: &OidcClient,
    params: &HashMap<String, String>,
    via_par: bool,
    trace: &str,
) -> Result<AuthRequest, Refusal> {
    let page = |code: MidCode, detail: &str| Refusal::Page(OidcError::new(code, trace, detail));
    let redirect_uri =
        params.get("redirect_uri").ok_or_else(|| page(MidCode::InvalidClientRequest, "redirect_uri is missing"))?;
    let redirect_uri = client
        .redirect_uri(redirect_uri)
        .ok_or_else(|| page(MidCode::InvalidClientRequest, "redirect_uri is not registered for this client"))?
        .to_string();
    let state = params.get("state").filter(|s| !s.is_empty()).cloned();
    let back = |code: MidCode, detail: String| Refusal::Redirect {
        redirect_uri: redirect_uri.clone(),
        state: state.clone(),
        error: OidcError::new(code, trace, detail),
    };

    if let Some(name) = FORBIDDEN.iter().find(|name| params.contains_key(**name)) {
        return Err(back(MidCode::ParameterNotAllowed, format!("the parameter {name} is not allowed")));
    }
    match params.get("response_type").map(String::as_str) {
        Some("code") => {}
        Some(other) => {
            return Err(back(
                MidCode::InvalidClientRequest,
                format!("response_type {other:?} is not supported: use code"),
            ))
        }
        None => return Err(back(MidCode::InvalidClientRequest, "response_type is missing".into())),
    }
    let scopes = check_scopes(client, params.get("scope").map(String::as_str).unwrap_or_default())
        .map_err(|(code, why)| back(code, why))?;
    let state = state.clone().ok_or_else(|| back(MidCode::InvalidClientRequest, "state is missing".into()))?;
    let nonce = params.get("nonce").filter(|n| !n.is_empty()).cloned();
    if nonce.is_none() && client.settings.require_nonce {
        return Err(back(MidCode::InvalidClientRequest, "nonce is missing".into()));
    }
    let code_challenge = check_pkce(params).map_err(|why| back(MidCode::InvalidClientRequest, why))?;
    let acr = check_acr(client, params.get("acr_values")).map_err(|(code, why)| back(code, why))?;
    let ui_locale = check_ui_locales(params.get("ui_locales")).map_err(|(code, why)| back(code, why))?;

    let login_hint = match params.get("login_hint") {
        None => None,
        Some(_) if !via_par || !client.has(Entitlement::LoginHint) => {
            return Err(back(MidCode::ParameterNotAllowed, "login_hint needs PAR and an entitled client".into()))
        }
        Some(value) => Some(parse_login_hint(value).map_err(|(code, why)| back(code, why))?),
    };
    let dtbd = match params.get("dtbd") {
        None => None,
        Some(_) if !via_par || !client.has(Entitlement::Dtbd) => {
            return Err(back(MidCode::ParameterNotAllowed, "dtbd needs PAR and an entitled client".into()))
        }
        Some(text) => Some(text.clone()),
    };
    if acr.checks_serial() {
        match &login_hint {
            None => return Err(back(MidCode::Al4WithoutHint, format!("{} needs a login_hint", acr.token()))),
            Some(hint) if hint.manual_input => {
                return Err(back(MidCode::Al4WithManualInput, "AL4 cannot be used with manual input".into()))
            }
            Some(_) => {}
        }
    }
    Ok(AuthRequest {
        client_id: client.client_id.clone(),
        redirect_uri,
        state,
        nonce,
        scopes,
        acr,
        code_challenge,
        ui_locale,
        login_hint,
        dtbd,
    })
}

pub(crate) fn check_scopes(client: &OidcClient, value: &str) -> Result<Vec<Scope>, (MidCode, String)> {
    let (scopes, unknown) = parse_scopes(value);
    if !unknown.is_empty() {
        return Err((MidCode::ScopeInvalid, format!("unknown scopes: {}", unknown.join(" "))));
    }
    if !scopes.contains(&Scope::Openid) {
        return Err((MidCode::ScopeInvalid, "the scope openid is missing".into()));
    }
    if let Some(scope) = scopes.iter().find(|s| !client.settings.scopes.contains(s)) {
        return Err((MidCode::ScopeNotAllowed, format!("the scope {} is not allowed for this client", scope.token())));
    }
    Ok(scopes)
}

/// PKCE with S256 only (RFC 7636; `plain` is refused).
fn check_pkce(params: &HashMap<String, String>) -> Result<String, String> {
    match params.get("code_challenge_method").map(String::as_str) {
        Some("S256") => {}
        Some(other) => return Err(format!("code_challenge_method {other:?} is not supported: use S256")),
        None => return Err("code_challenge_method is missing: PKCE with S256 is required".into()),
    }
    let challenge = params.get("code_challenge").ok_or("code_challenge is missing")?;
    let well_formed =
        challenge.len() == 43 && challenge.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !well_formed {
        return Err("code_challenge must be the base64url SHA-256 of the verifier (43 characters)".into());
    }
    Ok(challenge.clone())
}

pub(crate) fn check_acr(client: &OidcClient, value: Option<&String>) -> Result<Acr, (MidCode, String)> {
    let Some(value) = value.filter(|v| !v.trim().is_empty()) else {
        return Ok(client.settings.default_acr);
    };
    let mut values = value.split_whitespace();
    let (Some(first), None) = (values.next(), values.next()) else {
        return Err((MidCode::AcrNotSingle, "acr_values must be one value".into()));
    };
    let acr = Acr::parse(first).ok_or_else(|| (MidCode::AcrUnknown, format!("unknown acr_values {first:?}")))?;
    if !client.settings.allowed_acrs.contains(&acr) {
        return Err((MidCode::AcrNotAllowed, format!("{first} is not allowed for this client")));
    }
    Ok(acr)
}

fn check_ui_locales(value: Option<&String>) -> Result<Option<String>, (MidCode, String)> {
    let Some(value) = value.filter(|v| !v.trim().is_empty()) else { return Ok(None) };
    let mut values = value.split_whitespace();
    let (Some(first), None) = (values.next(), values.next()) else {
        return Err((MidCode::UiLocalesNotSingle, "ui_locales must be one value".into()));
    };
    if !["en", "de", "fr", "it"].contains(&first) {
        return Err((MidCode::UiLocalesUnknown, format!("ui_locales {first:?}: use en, de, fr or it")));
    }
    Ok(Some(first.to_string()))
}

/// `{"enableManualInput": bool, "hints": [{"msisdn": "+41…", "sn": "MIDCHE…"}]}`.
pub fn parse_login_hint(value: &str) -> Result<LoginHint, (MidCode, String)> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Wire {
        #[serde(default)]
        enable_manual_input: bool,
        #[serde(default)]
        hints: Vec<WireHint>,
    }
    #[derive(Deserialize)]
    struct WireHint {
        msisdn: String,
        sn: Option<String>,
    }
    let wire: Wire =
        serde_json::from_str(value).map_err(|e| (MidCode::LoginHintNotJson, format!("login_hint: {e}")))?;
    if wire.hints.is_empty() {
        return Err((MidCode::HintsEmpty, "login_hint has no hints".into()));
    }
    let mut hints: Vec<Hint> = Vec::new();
    for hint in wire.hints {
        let msisdn = Msisdn::parse(&hint.msisdn)
            .map_err(|_| (MidCode::HintMsisdnInvalid, format!("login_hint MSISDN {:?} is not valid", hint.msisdn)))?;
        if hints.iter().any(|h| h.msisdn == msisdn.normalized()) {
            return Err((MidCode::HintMsisdnDuplicated, format!("login_hint names {msisdn} twice")));
        }
        let serial = match hint.sn {
            Some(sn) if !is_serial_number(&sn) => {
                return Err((
                    MidCode::HintSerialInvalid,
                    format!("login_hint SN {sn:?} is not a Mobile ID serial number"),
                ))
            }
            sn => sn,
        };
        hints.push(Hint { msisdn: msisdn.normalized().to_string(), serial });
    }
    Ok(LoginHint { manual_input: wire.enable_manual_input, hints })
}

/// `MIDCHE` and 10 upper-case letters or digits (16 characters).
fn is_serial_number(value: &str) -> bool {
    value.len() == 16
        && value.starts_with("MIDCHE")
        && value.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oidc::client::{AuthMethod, ClientSettings};

    fn client(entitlements: Vec<Entitlement>) -> OidcClient {
        OidcClient::for_tests(
            "rp",
            ClientSettings {
                name: "RP".into(),
                redirect_uris: vec!["https://rp.example/cb".into()],
                auth_method: AuthMethod::ClientSecretBasic,
                jwks: vec![],
                allowed_acrs: vec![Acr::Al3Any, Acr::Al4Any],
                default_acr: Acr::Al3Any,
                scopes: vec![Scope::Openid, Scope::Phone, Scope::Profile],
                entitlements,
                userinfo_signed: false,
                id_token_alg: "RS256".into(),
                number_matching: true,
                require_nonce: true,
                post_logout_redirect_uris: vec![],
                ciba_notification_endpoint: None,
            },
        )
    }

    fn params(extra: &[(&str, &str)]) -> HashMap<String, String> {
        let mut p: HashMap<String, String> = [
            ("response_type", "code"),
            ("client_id", "rp"),
            ("redirect_uri", "https://rp.example/cb"),
            ("scope", "openid phone"),
            ("state", "s1"),
            ("nonce", "n1"),
            ("code_challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"),
            ("code_challenge_method", "S256"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (k, v) in extra {
            if v.is_empty() {
                p.remove(*k);
            } else {
                p.insert(k.to_string(), v.to_string());
            }
        }
        p
    }

    fn code_of(result: Result<AuthRequest, Refusal>) -> (bool, MidCode) {
        match result {
            Err(Refusal::Page(e)) => (false, e.code),
            Err(Refusal::Redirect { error, .. }) => (true, error.code),
            Ok(_) => panic!("accepted"),
        }
    }

    #[test]
    fn a_good_request() {
        let request = check(&client(vec![]), &params(&[]), false, "TRACE001").expect("accepted");
        assert_eq!(request.acr, Acr::Al3Any);
        assert_eq!(request.scopes, [Scope::Openid, Scope::Phone]);
    }

    #[test]
    fn each_refusal_gets_its_code() {
        let c = client(vec![]);
        // (extra parameters, whether the refusal goes back to the client, its code)
        type Case<'a> = (&'a [(&'a str, &'a str)], bool, MidCode);
        let cases: &[Case] = &[
            (&[("redirect_uri", "https://evil.example/cb")], false, MidCode::InvalidClientRequest),
            (&[("prompt", "login")], true, MidCode::ParameterNotAllowed),
            (&[("claims", "{}")], true, MidCode::ParameterNotAllowed),
            (&[("id_token_hint", "x")], true, MidCode::ParameterNotAllowed),
            (&[("response_type", "token")], true, MidCode::InvalidClientRequest),
            (&[("scope", "openid email")], true, MidCode::ScopeInvalid),
            (&[("scope", "phone")], true, MidCode::ScopeInvalid),
            (&[("scope", "openid mid_cms")], true, MidCode::ScopeNotAllowed),
            (&[("state", "")], true, MidCode::InvalidClientRequest),
            (&[("nonce", "")], true, MidCode::InvalidClientRequest),
            (&[("code_challenge_method", "plain")], true, MidCode::InvalidClientRequest),
            (&[("code_challenge", "")], true, MidCode::InvalidClientRequest),
            (&[("acr_values", "mid_al3_any mid_al4_any")], true, MidCode::AcrNotSingle),
            (&[("acr_values", "mid_al9")], true, MidCode::AcrUnknown),
            (&[("acr_values", "mid_al2_any")], true, MidCode::AcrNotAllowed),
            (&[("ui_locales", "de fr")], true, MidCode::UiLocalesNotSingle),
            (&[("ui_locales", "es")], true, MidCode::UiLocalesUnknown),
            (&[("login_hint", "{}")], true, MidCode::ParameterNotAllowed),
            (&[("dtbd", "x")], true, MidCode::ParameterNotAllowed),
        ];
        for (extra, redirected, code) in cases {
            assert_eq!(code_of(check(&c, &params(extra), false, "T")), (*redirected, *code), "{extra:?}");
        }
    }

    #[test]
    fn login_hints_through_par_for_entitled_clients() {
        let c = client(vec![Entitlement::LoginHint]);
        let hint = r#"{"enableManualInput":false,"hints":[{"msisdn":"+41791234567","sn":"MIDCHEABCDEFGH12"}]}"#;
        let request =
            check(&c, &params(&[("login_hint", hint), ("acr_values", "mid_al4_any")]), true, "T").expect("ok");
        assert_eq!(request.login_hint.unwrap().hints[0].serial.as_deref(), Some("MIDCHEABCDEFGH12"));
        assert_eq!(code_of(check(&c, &params(&[("login_hint", hint)]), false, "T")).1, MidCode::ParameterNotAllowed);
        assert_eq!(code_of(check(&c, &params(&[("acr_values", "mid_al4_any")]), true, "T")).1, MidCode::Al4WithoutHint);
        let manual = r#"{"enableManualInput":true,"hints":[{"msisdn":"+41791234567"}]}"#;
        let al4 = [("login_hint", manual), ("acr_values", "mid_al4_any")];
        assert_eq!(code_of(check(&c, &params(&al4), true, "T")).1, MidCode::Al4WithManualInput);
        let bad: &[(&str, MidCode)] = &[
            ("not json", MidCode::LoginHintNotJson),
            (r#"{"hints":[]}"#, MidCode::HintsEmpty),
            (r#"{"hints":[{"msisdn":"12"}]}"#, MidCode::HintMsisdnInvalid),
            (r#"{"hints":[{"msisdn":"+41791234567"},{"msisdn":"41791234567"}]}"#, MidCode::HintMsisdnDuplicated),
            (r#"{"hints":[{"msisdn":"+41791234567","sn":"+574123"}]}"#, MidCode::HintSerialInvalid),
        ];
        for (hint, code) in bad {
            assert_eq!(parse_login_hint(hint).unwrap_err().0, *code, "{hint}");
        }
    }
}
