//! MSS_Signature: checks, delivery to the phone (or a robot's immediate answer), and for
//! sync requests the wait for the outcome.

use std::time::Duration;

use mobileid_core::device_api::DeviceLocation;
use mobileid_core::profile::{resolve, Method, UserMethods};
use mobileid_core::request::{parse_timeout, MessagingMode, Operation};
use mobileid_core::services::{
    Language, APP2APP_URI, GEOFENCING_URI, SUBSCRIBER_INFO_URI, USER_LANG_URI, VALIDATE_URI,
};
use mobileid_core::testnumbers::fires_late;
use mobileid_core::{
    DeviceState, Dtbd, FailureReason, Fault, FaultCode, Msisdn, MsspTransId, Requester, SignContent, SignatureProfile,
    StatusCode, TxKind, TxState, UserState,
};
use mobileid_store::{DeviceRecord, Failure, InsertOutcome, MssRecord, TransactionRecord, UserRecord};
use sha2::{Digest, Sha256};

use super::ap::{Ap, ClientIdentity, Permission};
use super::geofencing::{self, Policy};
use super::messages::{Echo, ServiceInput, ServiceResponse, SignatureInput, SignatureOutcome};
use super::{failure_fault, internal, Mss};
use crate::transactions::NewTransaction;

/// The additional services of one request, checked against the AP's subscriptions.
#[derive(Debug, Default)]
pub(crate) struct RequestedServices {
    pub language: Option<Language>,
    pub geofencing: bool,
    /// A policy the server enforces on the phone's location (fault 450).
    pub geofencing_policy: Option<Policy>,
    pub app2app: Option<String>,
    pub validate: bool,
    /// Service URIs we do not offer (Kiuru's #noSpam and the like).
    pub unoffered: Vec<String>,
}

impl RequestedServices {
    /// Step 4 of §11.1: the services' syntax. Permissions are checked later (step 6).
    fn parse(inputs: &[ServiceInput]) -> Result<RequestedServices, Fault> {
        let mut requested = RequestedServices::default();
        for service in inputs {
            let uri = service
                .uri
                .as_deref()
                .ok_or_else(|| Fault::missing_param("AdditionalServices: a Service without Description"))?;
            match uri {
                USER_LANG_URI => {
                    // Unknown values fall back to the default rather than failing the login.
                    requested.language = service.user_lang.as_deref().and_then(Language::parse_lenient);
                }
                GEOFENCING_URI => {
                    requested.geofencing = true;
                    if let Some(policy) = &service.geofencing {
                        requested.geofencing_policy = Some(Policy::parse(policy)?);
                    }
                }
                APP2APP_URI => {
                    let redirect = service
                        .redirect_uri
                        .clone()
                        .ok_or_else(|| Fault::missing_param("App2App needs a RedirectUri"))?;
                    requested.app2app = Some(redirect);
                }
                // Deprecated, still sent by old clients: ignored quietly so they keep working.
                SUBSCRIBER_INFO_URI => {}
                VALIDATE_URI => requested.validate = true,
                other => requested.unoffered.push(other.to_string()),
            }
        }
        Ok(requested)
    }

    /// Step 6: 104 for a service this AP has not subscribed to, or that we do not offer.
    fn check_permissions(&self, ap: &Ap) -> Result<(), Fault> {
        if let Some(uri) = self.unoffered.first() {
            return Err(not_subscribed(uri));
        }
        if self.app2app.is_some() && !ap.has(Permission::App2App) {
            return Err(not_subscribed(APP2APP_URI));
        }
        Ok(())
    }

    /// Tokens kept with the transaction, so a later status query answers the same way.
    fn tokens(&self) -> String {
        let mut tokens = Vec::new();
        if self.geofencing {
            tokens.push("geofencing".to_string());
        }
        if let Some(policy) = &self.geofencing_policy {
            tokens.push(policy.token());
        }
        if self.validate {
            tokens.push("validate".to_string());
        }
        tokens.join(" ")
    }
}

fn not_subscribed(uri: &str) -> Fault {
    Fault::new(
        FaultCode::UnauthorizedAccess,
        format!("The AP asks for an additional service for which it has not subscribed: {uri}"),
    )
}

impl Mss<'_> {
    pub async fn sign(&self, identity: &ClientIdentity, input: SignatureInput) -> Result<SignatureOutcome, Fault> {
        let (ap, echo) = self.check_frame(Operation::Signature, identity, &input.frame).await?;

        let mode = input.messaging_mode.as_deref().ok_or_else(|| Fault::missing_param("MessagingMode is missing"))?;
        let msisdn = input.msisdn.as_deref().ok_or_else(|| Fault::missing_param("MobileUser/MSISDN is missing"))?;
        let data = input.data_to_be_signed.clone().unwrap_or_default();
        let text = data.data.as_deref().ok_or_else(|| Fault::missing_param("DataToBeSigned is missing"))?;

        let mode = MessagingMode::parse(mode)?;
        let timeout = parse_timeout(input.timeout.as_deref())?;
        let msisdn = Msisdn::parse(msisdn)?;
        let services = RequestedServices::parse(&input.services)?;
        if services.app2app.is_some() && mode == MessagingMode::Synch {
            return Err(Fault::wrong_param("App2App is only supported with MessagingMode asynch"));
        }

        let found = self.engine.store().find_user_and_devices(msisdn.normalized()).await.map_err(internal)?;
        let requested = match input.signature_profile.as_deref() {
            None | Some("") => SignatureProfile::AuthProfile1,
            Some(uri) => SignatureProfile::parse_uri(uri)?,
        };
        let request = Prepared { ap, echo, msisdn, mode, timeout, services, requested };
        if let Some(code) = found.as_ref().and_then(|(u, _)| u.test_fault) {
            return self.answer_test_fault(request, code, text).await;
        }

        request.ap.check_profile(request.requested)?;
        request.services.check_permissions(&request.ap)?;
        let dtbd = Dtbd::parse(data.mime_type.as_deref(), data.encoding.as_deref(), text)?;
        dtbd.check_prefix(&request.ap.dtbd_prefix)?;

        let (user, devices) = found.ok_or_else(|| Fault::of(FaultCode::UnknownClient))?;
        let (method, device) = self.choose_device(&request, &user, &devices, &dtbd)?;
        self.start_transaction(request, user, method, device, dtbd).await
    }

    /// Steps 8 and 9 of §11.1: the user's state, then the profile against their methods.
    fn choose_device(
        &self,
        request: &Prepared,
        user: &UserRecord,
        devices: &[DeviceRecord],
        dtbd: &Dtbd,
    ) -> Result<(Method, DeviceRecord), Fault> {
        self.check_user_state(user)?;
        // Before anything else about the devices: an AP without the permission must not
        // learn which methods a robot has.
        if devices.iter().any(|d| d.server_key.is_some()) && !request.ap.has(Permission::Robots) {
            return Err(Fault::new(FaultCode::UnknownClient, "This AP may not use the robot test users"));
        }
        let active = |method: Method| devices.iter().find(|d| d.method == method && d.state == DeviceState::Active);
        let methods =
            UserMethods { sim_active: active(Method::Sim).is_some(), app_active: active(Method::App).is_some() };
        if !methods.sim_active && !methods.app_active {
            return Err(if devices.iter().any(|d| d.state == DeviceState::Blocked) {
                Fault::of(FaultCode::PinNrBlocked)
            } else {
                self.user_fault(FaultCode::NoKeyFound, "Mobile user account needs to be activated", user)
            });
        }
        let method = resolve(request.requested, request.ap.auth_profile1_maps_to, methods)?;
        if dtbd.needs_app() && method == Method::Sim {
            return Err(Fault::new(
                FaultCode::UnsupportedProfile,
                "The user does not support this Mobile Signature Profile: transaction approval needs the App (Device-LoA4)",
            ));
        }
        let device = active(method).cloned().ok_or_else(|| Fault::internal("resolved method has no device"))?;
        Ok((method, device))
    }

    pub(crate) fn check_user_state(&self, user: &UserRecord) -> Result<(), Fault> {
        match user.state {
            UserState::Active => Ok(()),
            UserState::Registered => {
                Err(self.user_fault(FaultCode::NoKeyFound, "Mobile user account has state REGISTERED", user))
            }
            UserState::Inactive => {
                Err(Fault::new(FaultCode::CardBlocked, "Mobile user account has state INACTIVE or no SIM assigned"))
            }
        }
    }

    pub(crate) fn user_fault(&self, code: FaultCode, detail: &str, user: &UserRecord) -> Fault {
        let mut fault = Fault::new(code, detail);
        fault.portal_url = self.engine.portal_url().map(|url| format!("{url}?msisdn={}", user.msisdn));
        fault
    }

    async fn start_transaction(
        &self,
        request: Prepared,
        user: UserRecord,
        method: Method,
        device: DeviceRecord,
        dtbd: Dtbd,
    ) -> Result<SignatureOutcome, Fault> {
        let id = MsspTransId::generate().as_str().to_string();
        let new = NewTransaction {
            kind: TxKind::Mss,
            requester: Requester::Ap(request.ap.ap_id.clone()),
            device,
            content: SignContent::from(dtbd),
            language: request.services.language.unwrap_or(Language::En).code().to_string(),
            lifetime: request.timeout,
            number_match: None,
        };
        let record = self.engine.prepare(new, &id).await?;
        let profile = method.resolved_profile();
        let mss = self.mss_record(&request, &id, profile);
        let replaced = self.insert_new(&record, &mss).await?;
        self.engine.deliver(&record, replaced).await;
        let service_responses = match (&request.services.app2app, request.mode) {
            (Some(redirect), MessagingMode::Asynch) => vec![app2app_response(redirect, &id, &user)],
            _ => Vec::new(),
        };
        match request.mode {
            MessagingMode::Asynch => {
                if record.state == TxState::Pending {
                    // The answer says "pending" as a status poll's 504 does: a poll sooner
                    // than a second after it is held too (`polls.rs`).
                    self.engine.polls().answered(&id, self.engine.now());
                }
                Ok(SignatureOutcome::accepted(request.echo, id, mss.msisdn_raw, profile, service_responses))
            }
            MessagingMode::Synch => {
                let done = if record.state.is_final() {
                    // A robot signed at once: nothing to wait for, and no need to read it back.
                    record
                } else {
                    let expired = Fault::expired_sync();
                    self.engine.wait_for_outcome(&id, Some(&expired.detail)).await?
                };
                let answer = self.final_answer(&done, &mss, &request.ap)?;
                Ok(SignatureOutcome {
                    echo: request.echo,
                    mssp_trans_id: id,
                    msisdn_raw: mss.msisdn_raw,
                    status: answer.status,
                    signature: answer.signature,
                    profile,
                    service_responses: answer.service_responses,
                })
            }
        }
    }

    fn mss_record(&self, request: &Prepared, id: &str, profile: SignatureProfile) -> MssRecord {
        MssRecord {
            transaction_id: id.to_string(),
            ap_id: request.ap.ap_id.clone(),
            ap_trans_id: request.echo.ap_trans_id.clone(),
            ap_instant: mobileid_core::Timestamp::from_datetime(request.echo.instant),
            msisdn_raw: request.msisdn.raw().to_string(),
            profile: profile.uri().to_string(),
            services: request.services.tokens(),
            fault_code: None,
        }
    }

    /// Stores a new transaction with its MSS request, failing the requests it replaces in
    /// the same database transaction; returns their IDs. 101 if (AP_ID, AP_TransID,
    /// Instant) was used before.
    async fn insert_new(&self, record: &TransactionRecord, mss: &MssRecord) -> Result<Vec<String>, Fault> {
        match self.engine.store().insert_mss_request(record, mss).await.map_err(internal)? {
            (InsertOutcome::Inserted, replaced) => Ok(replaced),
            (InsertOutcome::Duplicate, _) => {
                Err(Fault::wrong_param("The combination of AP_ID, AP_TransID and Instant was used before"))
            }
        }
    }

    /// The answer for a final transaction: the signature, or its fault.
    pub(crate) fn final_answer(
        &self,
        record: &TransactionRecord,
        mss: &MssRecord,
        ap: &Ap,
    ) -> Result<FinalAnswer, Fault> {
        if record.state != TxState::Signed {
            return Err(failure_fault(record, mss));
        }
        let cms = record.signature.clone().ok_or_else(|| Fault::internal("signed transaction without signature"))?;
        let tokens: Vec<&str> = mss.services.split_whitespace().collect();
        let status = if tokens.contains(&"validate") {
            match mobileid_crypto::verify_signed_data(&cms) {
                Ok(_) => StatusCode::ValidSignature,
                Err(_) => StatusCode::InvalidSignature,
            }
        } else {
            StatusCode::Signature
        };
        let mut responses = Vec::new();
        if tokens.contains(&"geofencing") {
            // What the phone reported with its approval, checked against the request's
            // policy if it had one.
            let reported = record.location.as_deref().and_then(|l| serde_json::from_str::<DeviceLocation>(l).ok());
            let taken = record.completed_at.unwrap_or(record.created_at);
            let policy = Policy::from_tokens(&tokens);
            let permitted = ap.has(Permission::Geofencing);
            responses.push(geofencing::answer(
                permitted,
                policy.as_ref(),
                reported.as_ref(),
                taken,
                self.engine.now(),
            )?);
        }
        Ok(FinalAnswer { status, signature: Some(cms), service_responses: responses })
    }

    /// Test numbers answer with their fault: at once, or for the late codes in async mode
    /// on the status query, like a real user's outcome would arrive.
    async fn answer_test_fault(&self, request: Prepared, code: i64, text: &str) -> Result<SignatureOutcome, Fault> {
        let code = u16::try_from(code).ok().and_then(FaultCode::from_number).unwrap_or(FaultCode::InternalError);
        if request.mode == MessagingMode::Synch || !fires_late(code) {
            return Err(Fault::of(code));
        }
        let now = self.engine.now();
        let id = MsspTransId::generate().as_str().to_string();
        let profile = SignatureProfile::StkLoA4;
        let record = TransactionRecord {
            id: id.clone(),
            kind: TxKind::Mss,
            requester: Requester::Ap(request.ap.ap_id.clone()),
            msisdn: request.msisdn.normalized().to_string(),
            device_id: None,
            method: Method::Sim,
            content: SignContent::Text(text.to_string()),
            language: request.services.language.unwrap_or(Language::En).code().to_string(),
            nonce: Vec::new(),
            state: TxState::Failed,
            failure: Some(Failure::new(FailureReason::Simulated, Some(code.default_detail()))),
            signature: None,
            created_at: now,
            expires_at: now.plus(request.timeout),
            completed_at: Some(now),
            number_match: None,
            location: None,
        };
        let mss = MssRecord { fault_code: Some(code.number()), ..self.mss_record(&request, &id, profile) };
        self.insert_new(&record, &mss).await?;
        Ok(SignatureOutcome::accepted(request.echo, id, mss.msisdn_raw, profile, Vec::new()))
    }
}

/// A final transaction as the AP sees it.
pub(crate) struct FinalAnswer {
    pub status: StatusCode,
    pub signature: Option<Vec<u8>>,
    pub service_responses: Vec<ServiceResponse>,
}

/// A request past the syntax checks.
struct Prepared {
    ap: Ap,
    echo: Echo,
    msisdn: Msisdn,
    mode: MessagingMode,
    timeout: Duration,
    services: RequestedServices,
    requested: SignatureProfile,
}

fn app2app_response(redirect: &str, mssp_trans_id: &str, user: &UserRecord) -> ServiceResponse {
    let encoded: String = url_encode(redirect);
    ServiceResponse::App2App {
        auth_uri: format!(
            "mobileid://auth?mobile_auth_redirect_uri={encoded}&session_token={mssp_trans_id}&user_id={}",
            user_uuid(&user.serial_number)
        ),
    }
}

/// The App2App `user_id`: a UUID (RFC 9562 version 8, name-based) derived from the serial
/// number, so it is stable for a user without exposing the serial itself.
fn user_uuid(serial_number: &str) -> String {
    let digest = Sha256::digest(format!("mobileid user {serial_number}").as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

/// Percent-encoding of everything but RFC 3986 unreserved characters.
fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn user_uuid_is_a_stable_version_8_uuid() {
        let id = super::user_uuid("MIDCHEO16P1O6E92");
        assert_eq!(id, super::user_uuid("MIDCHEO16P1O6E92"));
        assert_ne!(id, super::user_uuid("MIDCHE97FQPL3SL3"));
        let parts: Vec<&str> = id.split('-').collect();
        assert_eq!(parts.iter().map(|p| p.len()).collect::<Vec<_>>(), vec![8, 4, 4, 4, 12]);
        assert!(parts[2].starts_with('8'));
        assert!(matches!(parts[3].chars().next(), Some('8' | '9' | 'a' | 'b')));
    }

    #[test]
    fn url_encoding_matches_the_contract_example() {
        assert_eq!(super::url_encode("acmebank://mid-done"), "acmebank%3A%2F%2Fmid-done");
    }
}
