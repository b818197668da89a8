//! Signature profiles and how a requested profile resolves to the method
//! (SIM or App) that serves the user (contract §6).

use crate::fault::{Fault, FaultCode};
use crate::transaction::StoredValueError;

/// A profile URI an AP may request in `SignatureProfile/mssURI`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignatureProfile {
    /// Deprecated default, mapped per AP to `AnyLoA4` or `StkLoA4`.
    AuthProfile1,
    AuthProfile1Ecc,
    AuthProfile1Rsa,
    /// SIM if active, otherwise the App.
    AnyLoA4,
    /// Force the SIM.
    StkLoA4,
    /// Force the App.
    DeviceLoA4,
    /// Like `AnyLoA4`; location reporting is an additional service.
    AnyGeofencingLoA4,
}

impl SignatureProfile {
    const ALL: [SignatureProfile; 7] = [
        SignatureProfile::AuthProfile1,
        SignatureProfile::AuthProfile1Ecc,
        SignatureProfile::AuthProfile1Rsa,
        SignatureProfile::AnyLoA4,
        SignatureProfile::StkLoA4,
        SignatureProfile::DeviceLoA4,
        SignatureProfile::AnyGeofencingLoA4,
    ];

    /// Surrounding whitespace is ignored because pretty-printed SOAP puts it
    /// around the text of `mss:mssURI`.
    pub fn parse_uri(uri: &str) -> Result<SignatureProfile, Fault> {
        let uri = uri.trim();
        SignatureProfile::ALL
            .into_iter()
            .find(|profile| profile.uri() == uri)
            .ok_or_else(|| {
                Fault::new(
                    FaultCode::UnsupportedProfile,
                    format!(
                        "{}: unknown profile URI '{uri}'; use one of http://mid.swisscom.ch/Any-LoA4, http://mid.swisscom.ch/STK-LoA4, http://mid.swisscom.ch/Device-LoA4, http://mid.swisscom.ch/MID/v1/AuthProfile1",
                        FaultCode::UnsupportedProfile.default_detail()
                    ),
                )
            })
    }

    pub fn uri(self) -> &'static str {
        match self {
            SignatureProfile::AuthProfile1 => "http://mid.swisscom.ch/MID/v1/AuthProfile1",
            SignatureProfile::AuthProfile1Ecc => "http://mid.swisscom.ch/MID/v1/AuthProfile1.ECC",
            SignatureProfile::AuthProfile1Rsa => "http://mid.swisscom.ch/MID/v1/AuthProfile1.RSA",
            SignatureProfile::AnyLoA4 => "http://mid.swisscom.ch/Any-LoA4",
            SignatureProfile::StkLoA4 => "http://mid.swisscom.ch/STK-LoA4",
            SignatureProfile::DeviceLoA4 => "http://mid.swisscom.ch/Device-LoA4",
            SignatureProfile::AnyGeofencingLoA4 => "http://mid.swisscom.ch/Any-Geofencing-LoA4",
        }
    }

    fn is_auth_profile1(self) -> bool {
        matches!(
            self,
            SignatureProfile::AuthProfile1 | SignatureProfile::AuthProfile1Ecc | SignatureProfile::AuthProfile1Rsa
        )
    }
}

/// A request without `SignatureProfile` is treated as the deprecated default.
impl Default for SignatureProfile {
    fn default() -> SignatureProfile {
        SignatureProfile::AuthProfile1
    }
}

/// The way a user signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    Sim,
    App,
}

impl Method {
    /// The profile reported back to the AP once the method is chosen.
    pub fn resolved_profile(self) -> SignatureProfile {
        match self {
            Method::Sim => SignatureProfile::StkLoA4,
            Method::App => SignatureProfile::DeviceLoA4,
        }
    }

    pub fn as_db(self) -> &'static str {
        match self {
            Method::Sim => "sim",
            Method::App => "app",
        }
    }

    pub fn from_db(s: &str) -> Result<Method, StoredValueError> {
        match s {
            "sim" => Ok(Method::Sim),
            "app" => Ok(Method::App),
            other => Err(StoredValueError::new("device method", other)),
        }
    }
}

/// Which of the user's methods are active right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UserMethods {
    pub sim_active: bool,
    pub app_active: bool,
}

/// Picks the method for a request, per the guide's scenario table.
///
/// `auth_profile1_maps_to` is the AP's mapping of the AuthProfile1 family;
/// a mapping onto AuthProfile1 itself makes no sense and falls back to the
/// documented default, `StkLoA4`.
pub fn resolve(
    requested: SignatureProfile,
    auth_profile1_maps_to: SignatureProfile,
    methods: UserMethods,
) -> Result<Method, Fault> {
    if !methods.sim_active && !methods.app_active {
        return Err(Fault::new(FaultCode::UnknownClient, "Unknown or inactive user"));
    }
    let effective = if requested.is_auth_profile1() {
        if auth_profile1_maps_to.is_auth_profile1() {
            SignatureProfile::StkLoA4
        } else {
            auth_profile1_maps_to
        }
    } else {
        requested
    };
    let lacks = |method: &str| {
        let via = if effective == requested {
            String::new()
        } else {
            format!(" (mapped to {} for this AP)", effective.uri())
        };
        Fault::new(
            FaultCode::UnsupportedProfile,
            format!(
                "{}: {}{via} needs an active {method}",
                FaultCode::UnsupportedProfile.default_detail(),
                requested.uri()
            ),
        )
    };
    match effective {
        SignatureProfile::StkLoA4 if methods.sim_active => Ok(Method::Sim),
        SignatureProfile::StkLoA4 => Err(lacks("SIM")),
        SignatureProfile::DeviceLoA4 if methods.app_active => Ok(Method::App),
        SignatureProfile::DeviceLoA4 => Err(lacks("Mobile ID App")),
        _ if methods.sim_active => Ok(Method::Sim),
        _ => Ok(Method::App),
    }
}

/// The profiles a profile query reports for a user: those a signature
/// request could be served with now, sorted by URI as Swisscom lists them.
/// The geofencing profile and AuthProfile1.RSA are left out, as in every
/// observed answer.
pub fn available_profiles(methods: UserMethods, auth_profile1_maps_to: SignatureProfile) -> Vec<SignatureProfile> {
    let mut candidates = vec![
        SignatureProfile::AnyLoA4,
        SignatureProfile::StkLoA4,
        SignatureProfile::DeviceLoA4,
        SignatureProfile::AuthProfile1,
    ];
    // The .ECC variant appears for SIM users only (2024 capture).
    if methods.sim_active {
        candidates.push(SignatureProfile::AuthProfile1Ecc);
    }
    let mut available: Vec<SignatureProfile> =
        candidates.into_iter().filter(|profile| resolve(*profile, auth_profile1_maps_to, methods).is_ok()).collect();
    available.sort_by_key(|profile| profile.uri());
    available
}

#[cfg(test)]
mod tests {
    use super::*;
    use SignatureProfile::*;

    const NONE: UserMethods = UserMethods { sim_active: false, app_active: false };
    const SIM: UserMethods = UserMethods { sim_active: true, app_active: false };
    const APP: UserMethods = UserMethods { sim_active: false, app_active: true };
    const BOTH: UserMethods = UserMethods { sim_active: true, app_active: true };

    #[test]
    fn uris_round_trip() {
        for profile in SignatureProfile::ALL {
            assert_eq!(SignatureProfile::parse_uri(profile.uri()).unwrap(), profile);
        }
        assert_eq!(AuthProfile1.uri(), "http://mid.swisscom.ch/MID/v1/AuthProfile1");
        assert_eq!(StkLoA4.uri(), "http://mid.swisscom.ch/STK-LoA4");
        assert_eq!(SignatureProfile::parse_uri("\n  http://mid.swisscom.ch/Any-LoA4 \n").unwrap(), AnyLoA4);
    }

    #[test]
    fn unknown_uri_is_109() {
        for uri in ["", "http://mid.swisscom.ch/any-loa4", "http://mid.swisscom.ch/MID/v1/OtpProfileText", "urn:x"] {
            let fault = SignatureProfile::parse_uri(uri).expect_err(uri);
            assert_eq!(fault.code, FaultCode::UnsupportedProfile);
            assert!(fault.detail.starts_with("The user does not support this Mobile Signature Profile"));
            assert!(fault.detail.contains(&format!("'{uri}'")), "{}", fault.detail);
        }
    }

    #[test]
    fn absent_profile_means_auth_profile1() {
        assert_eq!(SignatureProfile::default(), AuthProfile1);
    }

    #[test]
    fn method_profiles_and_db_names() {
        assert_eq!(Method::Sim.resolved_profile(), StkLoA4);
        assert_eq!(Method::App.resolved_profile(), DeviceLoA4);
        for method in [Method::Sim, Method::App] {
            assert_eq!(Method::from_db(method.as_db()), Ok(method));
        }
        assert!(Method::from_db("SIM").is_err());
    }

    fn code(result: Result<Method, Fault>) -> u16 {
        result.unwrap_err().code.number()
    }

    #[test]
    fn scenario_table_with_auth_profile1_mapped_to_any() {
        let r = |p, m| resolve(p, AnyLoA4, m);
        for p in [AuthProfile1, AnyLoA4, StkLoA4, DeviceLoA4] {
            assert_eq!(code(r(p, NONE)), 105);
        }
        assert_eq!(r(AuthProfile1, SIM).unwrap(), Method::Sim);
        assert_eq!(r(AnyLoA4, SIM).unwrap(), Method::Sim);
        assert_eq!(r(StkLoA4, SIM).unwrap(), Method::Sim);
        assert_eq!(code(r(DeviceLoA4, SIM)), 109);

        assert_eq!(r(AuthProfile1, APP).unwrap(), Method::App);
        assert_eq!(r(AnyLoA4, APP).unwrap(), Method::App);
        assert_eq!(code(r(StkLoA4, APP)), 109);
        assert_eq!(r(DeviceLoA4, APP).unwrap(), Method::App);

        assert_eq!(r(AuthProfile1, BOTH).unwrap(), Method::Sim);
        assert_eq!(r(AnyLoA4, BOTH).unwrap(), Method::Sim);
        assert_eq!(r(StkLoA4, BOTH).unwrap(), Method::Sim);
        assert_eq!(r(DeviceLoA4, BOTH).unwrap(), Method::App);
    }

    #[test]
    fn no_method_detail() {
        let fault = resolve(AnyLoA4, AnyLoA4, NONE).unwrap_err();
        assert_eq!(fault.code, FaultCode::UnknownClient);
        assert_eq!(fault.detail, "Unknown or inactive user");
    }

    #[test]
    fn geofencing_prefers_sim() {
        assert_eq!(resolve(AnyGeofencingLoA4, StkLoA4, BOTH).unwrap(), Method::Sim);
        assert_eq!(resolve(AnyGeofencingLoA4, StkLoA4, APP).unwrap(), Method::App);
    }

    #[test]
    fn auth_profile1_mapped_to_stk() {
        for p in [AuthProfile1, AuthProfile1Ecc, AuthProfile1Rsa] {
            assert_eq!(resolve(p, StkLoA4, SIM).unwrap(), Method::Sim);
            assert_eq!(resolve(p, StkLoA4, BOTH).unwrap(), Method::Sim);
            let fault = resolve(p, StkLoA4, APP).unwrap_err();
            assert_eq!(fault.code, FaultCode::UnsupportedProfile);
            assert!(fault.detail.contains("mapped to http://mid.swisscom.ch/STK-LoA4"), "{}", fault.detail);
            assert!(fault.detail.contains("SIM"));
        }
    }

    #[test]
    fn nonsense_mapping_falls_back_to_stk() {
        assert_eq!(code(resolve(AuthProfile1, AuthProfile1Ecc, APP)), 109);
        assert_eq!(resolve(AuthProfile1, AuthProfile1, SIM).unwrap(), Method::Sim);
    }

    #[test]
    fn forced_method_details_name_what_is_missing() {
        let stk = resolve(StkLoA4, AnyLoA4, APP).unwrap_err();
        assert!(stk.detail.starts_with("The user does not support this Mobile Signature Profile"));
        assert!(stk.detail.contains("STK-LoA4 needs an active SIM"), "{}", stk.detail);
        let device = resolve(DeviceLoA4, AnyLoA4, SIM).unwrap_err();
        assert!(device.detail.contains("Device-LoA4 needs an active Mobile ID App"), "{}", device.detail);
    }

    #[test]
    fn profile_lists() {
        assert_eq!(available_profiles(SIM, StkLoA4), vec![AnyLoA4, AuthProfile1, AuthProfile1Ecc, StkLoA4]);
        assert_eq!(available_profiles(APP, AnyLoA4), vec![AnyLoA4, DeviceLoA4, AuthProfile1]);
        assert_eq!(available_profiles(APP, StkLoA4), vec![AnyLoA4, DeviceLoA4]);
        assert_eq!(
            available_profiles(BOTH, AnyLoA4),
            vec![AnyLoA4, DeviceLoA4, AuthProfile1, AuthProfile1Ecc, StkLoA4]
        );
        assert!(available_profiles(NONE, AnyLoA4).is_empty());
    }
}
