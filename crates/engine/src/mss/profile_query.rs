//! MSS_ProfileQuery: the user's state and abilities, from the store only (never the phone).

use mobileid_core::profile::{available_profiles, UserMethods};
use mobileid_core::request::Operation;
use mobileid_core::{DeviceState, Fault, FaultCode, Method, Msisdn};
use mobileid_crypto::CertificateInfo as ParsedCertificate;
use mobileid_store::DeviceRecord;

use super::ap::{ClientIdentity, Permission};
use super::messages::{CardDetails, CertificateInfo, ProfileExtension, ProfileInput, ProfileOutcome, SscdInfo};
use super::{internal, Mss};

/// Which parts of the extension the AP asked for.
struct Wanted {
    sscds: bool,
    state: bool,
    certs: bool,
    pin_status: bool,
    recovery_code: bool,
    auto_activation: bool,
    card_details: bool,
}

impl Wanted {
    fn from_input(input: &ProfileInput) -> Option<Wanted> {
        let tokens: Vec<String> =
            input.params.as_deref().unwrap_or("").split_whitespace().map(|t| t.to_ascii_lowercase()).collect();
        let has = |t: &str| tokens.iter().any(|x| x == t);
        let wanted = Wanted {
            sscds: has("sscds"),
            state: has("state"),
            certs: has("certs") || input.legacy_certificates,
            pin_status: has("pinstatus"),
            recovery_code: has("rcstatus") || input.legacy_recovery_code,
            auto_activation: has("aastatus") || input.legacy_auto_activation,
            card_details: has("carddetails"),
        };
        let any = wanted.sscds
            || wanted.state
            || wanted.certs
            || wanted.pin_status
            || wanted.recovery_code
            || wanted.auto_activation
            || wanted.card_details;
        any.then_some(wanted)
    }
}

impl Mss<'_> {
    pub async fn profile(&self, identity: &ClientIdentity, input: ProfileInput) -> Result<ProfileOutcome, Fault> {
        let (ap, echo) = self.check_frame(Operation::Profile, identity, &input.frame).await?;
        let major = input.frame.major_version.clone().unwrap_or_default();
        let minor = input.frame.minor_version.clone().unwrap_or_default();
        let msisdn = input.msisdn.as_deref().ok_or_else(|| Fault::missing_param("MobileUser/MSISDN is missing"))?;
        let msisdn = Msisdn::parse(msisdn)?;
        let user = self.engine.store().find_user(msisdn.normalized()).await.map_err(internal)?;
        let user = user.ok_or_else(|| Fault::of(FaultCode::UnknownClient))?;
        if let Some(code) = user.test_fault {
            let code = u16::try_from(code).ok().and_then(FaultCode::from_number).unwrap_or(FaultCode::InternalError);
            return Err(Fault::of(code));
        }
        self.check_user_state(&user)?;
        let devices = self.engine.store().devices_of_user(&user.msisdn).await.map_err(internal)?;
        if devices.is_empty() {
            return Err(self.user_fault(FaultCode::NoKeyFound, "Mobile user account needs to be activated", &user));
        }
        if devices.iter().any(|d| d.server_key.is_some()) && !ap.has(Permission::Robots) {
            return Err(Fault::new(FaultCode::UnknownClient, "This AP may not use the robot test users"));
        }
        let active = |method: Method| devices.iter().any(|d| d.method == method && d.state == DeviceState::Active);
        let methods = UserMethods { sim_active: active(Method::Sim), app_active: active(Method::App) };
        let profiles = available_profiles(methods, ap.auth_profile1_maps_to);
        let legacy = major == "1";
        let extension = match Wanted::from_input(&input) {
            Some(wanted) => Some(self.extension(&wanted, &devices, legacy)?),
            None => None,
        };
        Ok(ProfileOutcome { echo, major_version: major, minor_version: minor, profiles, extension })
    }

    fn extension(&self, wanted: &Wanted, devices: &[DeviceRecord], legacy: bool) -> Result<ProfileExtension, Fault> {
        let mut extension = ProfileExtension {
            legacy,
            // Neither auto-activation (a SIM feature) nor recovery codes exist yet.
            auto_activation: wanted.auto_activation.then_some(false),
            recovery_code_created: wanted.recovery_code.then_some(false),
            ..ProfileExtension::default()
        };
        if legacy {
            if wanted.certs {
                for device in devices {
                    extension.legacy_certificates.push(self.certificate_info(device)?);
                }
            }
            return Ok(extension);
        }
        if !(wanted.sscds || wanted.state || wanted.certs || wanted.pin_status || wanted.card_details) {
            return Ok(extension);
        }
        for device in devices {
            let sscd = SscdInfo {
                state: wanted.state.then(|| "ACTIVE".to_string()),
                pin_blocked: wanted.pin_status.then_some(device.state == DeviceState::Blocked),
                certificates: if wanted.certs { vec![self.certificate_info(device)?] } else { Vec::new() },
                // Our SIM users are robots on no real network.
                card_details: (wanted.card_details && device.method == Method::Sim).then(CardDetails::unknown),
            };
            match device.method {
                Method::Sim => extension.sim = Some(sscd),
                Method::App => extension.apps.push(sscd),
            }
        }
        Ok(extension)
    }

    fn certificate_info(&self, device: &DeviceRecord) -> Result<CertificateInfo, Fault> {
        let mut chain = vec![device.cert_der.clone()];
        chain.extend(self.engine.inner.ca.chain());
        let parsed: Vec<ParsedCertificate> =
            chain.iter().map(|der| ParsedCertificate::parse(der)).collect::<Result<_, _>>().map_err(internal)?;
        let now = self.engine.now().to_datetime().ok_or_else(|| internal("the clock is out of range"))?;
        let expired = parsed[0].not_after < now;
        Ok(CertificateInfo {
            algorithm: parsed[0].algorithm.name().to_string(),
            state: if expired || device.state == DeviceState::Blocked { "INACTIVE" } else { "ACTIVE" }.to_string(),
            subject_names: parsed.iter().map(|p| p.subject_rfc2253_lower.clone()).collect(),
            chain,
        })
    }
}
