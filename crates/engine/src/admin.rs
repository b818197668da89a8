//! What operators do: register APs, enrol users, look at them, and the first-start seed
//! (test numbers and robot users, which are plain data an operator can switch off).

use chrono::{DateTime, Utc};
use mobileid_core::testnumbers::{RobotKey, ROBOT_EC, ROBOT_RSA};
use mobileid_core::{DeviceState, FaultCode, Method, Msisdn, SerialNumber, SignatureProfile, Timestamp, UserState};
use mobileid_crypto::{sha256_fingerprint_hex, KeyAlgorithm, PrivateKey, RevocationReason};
use mobileid_store::{ApRecord, ChangeEvent, DeviceRecord, UserRecord};
use rand::Rng;

use crate::devices::{activation_code_hash, random_id};
use crate::mss::ap::Ap;
use crate::transactions::robot_key_context;
use crate::{Engine, EngineError};

/// The fault codes a `+41000092NNN` test number answers with (contract §12).
pub const TEST_FAULT_CODES: [u16; 17] =
    [101, 102, 103, 104, 105, 107, 108, 109, 208, 209, 401, 402, 403, 404, 406, 422, 900];

/// A new one-time activation code, shown once to the operator.
#[derive(Clone)]
pub struct ActivationCode {
    pub code: String,
    pub expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for ActivationCode {
    // Shown to the operator on purpose, never by a log line or a panic message.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActivationCode").field("expires_at", &self.expires_at).finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
pub struct UserView {
    pub msisdn: String,
    pub serial_number: String,
    pub state: UserState,
    pub test_fault: Option<i64>,
    pub devices: Vec<DeviceView>,
    /// Every certificate issued to the user, newest first.
    pub certificates: Vec<CertificateView>,
    pub pending_code_expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct CertificateView {
    /// Lower-case hex, as OCSP and CRLs name it.
    pub serial_hex: String,
    pub device_id: String,
    pub not_after: DateTime<Utc>,
    /// When and why it was revoked (no reason: unspecified).
    pub revoked: Option<(DateTime<Utc>, Option<RevocationReason>)>,
    pub kind: mobileid_core::CertificateKind,
}

#[derive(Debug, Clone)]
pub struct DeviceView {
    pub device_id: String,
    /// "App" or "SIM".
    pub method: &'static str,
    pub state: DeviceState,
    pub pin_failures: i64,
    pub certificate: Vec<u8>,
    pub activated_at: DateTime<Utc>,
}

impl Engine {
    /// Registers (or updates) an AP and adds its client certificate.
    pub async fn add_ap(&self, ap: &Ap, certificate_der: &[u8]) -> Result<String, EngineError> {
        mobileid_crypto::CertificateInfo::parse(certificate_der)?;
        let created_at = match self.store().find_ap(&ap.ap_id).await? {
            Some(existing) => existing.created_at,
            None => self.now(),
        };
        self.store().upsert_ap(&ap.to_record(created_at)).await?;
        let fingerprint = sha256_fingerprint_hex(certificate_der);
        self.store().add_ap_certificate(&ap.ap_id, &fingerprint, certificate_der).await?;
        self.announce(ChangeEvent::Ap(ap.ap_id.clone())).await;
        Ok(fingerprint)
    }

    /// Removes an AP: its certificates no longer authenticate (fault 104). False when
    /// there was none.
    pub async fn remove_ap(&self, ap_id: &str) -> Result<bool, EngineError> {
        let removed = self.store().delete_ap(ap_id).await?;
        self.announce(ChangeEvent::Ap(ap_id.to_string())).await;
        Ok(removed)
    }

    pub async fn list_aps(&self) -> Result<Vec<(ApRecord, Vec<String>)>, EngineError> {
        Ok(self.store().list_aps().await?)
    }

    /// Enrols a user (or re-issues a code for an existing one) and returns a one-time code.
    pub async fn add_user(&self, msisdn: &str) -> Result<ActivationCode, EngineError> {
        let msisdn = Msisdn::parse(msisdn).map_err(|f| EngineError::Invalid(format!("{msisdn}: {}", f.detail)))?;
        let existing = self.store().find_user(msisdn.normalized()).await?;
        if existing.as_ref().is_some_and(|u| u.test_fault.is_some()) {
            return Err(EngineError::Invalid(format!("{msisdn} is a test number")));
        }
        let (now, expires_at, expires) = self.code_lifetime()?;
        if existing.is_none() {
            self.store().insert_user(&registered_user(&msisdn, now)).await?;
        }
        let code = new_activation_code();
        self.store().insert_activation_code(&activation_code_hash(&code), msisdn.normalized(), expires_at, now).await?;
        Ok(ActivationCode { code, expires_at: expires })
    }

    /// Now, and when an activation code made now expires (also as a date).
    fn code_lifetime(&self) -> Result<(Timestamp, Timestamp, DateTime<Utc>), EngineError> {
        let now = self.now();
        let expires_at = now.plus(self.config().activation_code_ttl);
        let expires = expires_at
            .to_datetime()
            .ok_or_else(|| EngineError::Invalid("the activation code lifetime is out of range".into()))?;
        Ok((now, expires_at, expires))
    }

    /// Enrols many users at once (an operator's import), each with a one-time code, in
    /// the order given. Every number is checked first: one that is not a valid MSISDN,
    /// is a test number or appears twice refuses the whole import, and nothing is written.
    pub async fn add_users(&self, msisdns: &[String]) -> Result<Vec<(String, ActivationCode)>, EngineError> {
        let (now, expires_at, expires) = self.code_lifetime()?;
        let mut seen = std::collections::HashSet::new();
        let mut users = Vec::with_capacity(msisdns.len());
        let mut codes = Vec::with_capacity(msisdns.len());
        for (line, raw) in msisdns.iter().enumerate() {
            let invalid = |why: &str| EngineError::Invalid(format!("number {} ({raw}): {why}", line + 1));
            let msisdn = Msisdn::parse(raw).map_err(|f| invalid(&f.detail))?;
            if mobileid_core::testnumbers::classify(&msisdn).is_some() {
                return Err(invalid("a test number"));
            }
            if !seen.insert(msisdn.normalized().to_string()) {
                return Err(invalid("given twice"));
            }
            let code = new_activation_code();
            users.push((registered_user(&msisdn, now), activation_code_hash(&code)));
            codes.push((raw.clone(), ActivationCode { code, expires_at: expires }));
        }
        self.store().insert_users_with_codes(&users, expires_at, now).await?;
        Ok(codes)
    }

    pub async fn show_user(&self, msisdn: &str) -> Result<Option<UserView>, EngineError> {
        let msisdn = Msisdn::parse(msisdn).map_err(|f| EngineError::Invalid(format!("{msisdn}: {}", f.detail)))?;
        let Some(user) = self.store().find_user(msisdn.normalized()).await? else {
            return Ok(None);
        };
        let devices = self.store().devices_of_user(&user.msisdn).await?;
        let certificates = self.store().certificates_of_user(&user.msisdn).await?;
        let code = self.store().latest_activation_code_expiry(&user.msisdn).await?;
        let now = self.now();
        let pending_code_expires_at = code
            .filter(|(expires, used)| used.is_none() && *expires > now)
            .and_then(|(expires, _)| expires.to_datetime());
        Ok(Some(UserView {
            msisdn: user.msisdn,
            serial_number: user.serial_number,
            state: user.state,
            test_fault: user.test_fault,
            devices: devices
                .into_iter()
                .map(|d| DeviceView {
                    method: match d.method {
                        Method::Sim => "SIM",
                        Method::App => "App",
                    },
                    device_id: d.device_id,
                    state: d.state,
                    pin_failures: d.pin_failures,
                    certificate: d.cert_der,
                    activated_at: d.created_at.to_datetime().unwrap_or_default(),
                })
                .collect(),
            certificates: certificates
                .into_iter()
                .map(|c| CertificateView {
                    serial_hex: c.serial,
                    device_id: c.device_id,
                    kind: c.kind,
                    not_after: c.not_after.to_datetime().unwrap_or_default(),
                    revoked: c.revoked_at.map(|at| {
                        (
                            at.to_datetime().unwrap_or_default(),
                            c.revocation_reason.and_then(RevocationReason::from_code),
                        )
                    }),
                })
                .collect(),
            pending_code_expires_at,
        }))
    }

    /// Creates the test numbers: `+41000092NNN` fault users and the two robot users with
    /// keys the server holds. Existing ones are left as they are.
    pub async fn enable_test_numbers(&self) -> Result<(), EngineError> {
        for code in TEST_FAULT_CODES {
            debug_assert!(FaultCode::from_number(code).is_some());
            let user = UserRecord {
                msisdn: format!("41000092{code}"),
                serial_number: SerialNumber::generate().as_str().to_string(),
                state: UserState::Active,
                test_fault: Some(i64::from(code)),
                created_at: self.now(),
            };
            self.store().insert_user(&user).await?;
        }
        for (msisdn, key) in [(ROBOT_EC, RobotKey::Ec), (ROBOT_RSA, RobotKey::Rsa)] {
            self.create_robot(msisdn, key).await?;
        }
        Ok(())
    }

    /// Removes the test numbers; they then answer like any unknown number (105).
    pub async fn disable_test_numbers(&self) -> Result<u64, EngineError> {
        let mut numbers: Vec<String> = TEST_FAULT_CODES.iter().map(|c| format!("41000092{c}")).collect();
        numbers.push(ROBOT_EC.to_string());
        numbers.push(ROBOT_RSA.to_string());
        let refs: Vec<&str> = numbers.iter().map(String::as_str).collect();
        Ok(self.store().delete_test_users(&refs, self.now()).await?)
    }

    async fn create_robot(&self, msisdn: &str, key: RobotKey) -> Result<(), EngineError> {
        let user = UserRecord {
            msisdn: msisdn.to_string(),
            serial_number: SerialNumber::generate().as_str().to_string(),
            state: UserState::Active,
            test_fault: None,
            created_at: self.now(),
        };
        if !self.store().insert_user(&user).await? {
            return Ok(());
        }
        let algorithm = match key {
            RobotKey::Ec => KeyAlgorithm::EcP256,
            RobotKey::Rsa => KeyAlgorithm::Rsa2048,
        };
        let key = tokio::task::spawn_blocking(move || PrivateKey::generate(algorithm))
            .await
            .map_err(|e| EngineError::Invalid(format!("robot key generation: {e}")))??;
        let csr = key.csr_der("robot")?;
        let device_id = random_id("robot");
        let (certificate, record) = self.issue_user_certificate(&csr, &user.serial_number, msisdn, &device_id, &[])?;
        let sealed = self.master_key().seal(key.pkcs8_der(), &robot_key_context(&device_id));
        self.store()
            .activate_device(
                &DeviceRecord {
                    device_id,
                    msisdn: msisdn.to_string(),
                    method: Method::Sim,
                    state: DeviceState::Active,
                    cert_der: certificate,
                    auth_key: None,
                    server_key: Some(sealed),
                    pin_guard: None,
                    pin_failures: 0,
                    created_at: self.now(),
                },
                &record,
            )
            .await?;
        Ok(())
    }
}

/// Profiles an AP may use unless the operator says otherwise: all of the LoA4 family.
pub fn default_profiles() -> Vec<SignatureProfile> {
    vec![
        SignatureProfile::AuthProfile1,
        SignatureProfile::AnyLoA4,
        SignatureProfile::StkLoA4,
        SignatureProfile::DeviceLoA4,
    ]
}

/// 12 characters from an alphabet without look-alikes (no 0/O, 1/I/L), shown in groups of 4.
/// A user enrolled now, with a new serial number, until their phone is activated.
fn registered_user(msisdn: &Msisdn, now: Timestamp) -> UserRecord {
    UserRecord {
        msisdn: msisdn.normalized().to_string(),
        serial_number: SerialNumber::generate().as_str().to_string(),
        state: UserState::Registered,
        test_fault: None,
        created_at: now,
    }
}

fn new_activation_code() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
    let mut rng = rand::thread_rng();
    let chars: Vec<char> = (0..12).map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char).collect();
    chars.chunks(4).map(|c| c.iter().collect::<String>()).collect::<Vec<_>>().join("-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activation_codes_are_grouped_and_hash_the_same_however_typed() {
        let code = new_activation_code();
        assert_eq!(code.len(), 14);
        assert_eq!(code.matches('-').count(), 2);
        assert_eq!(activation_code_hash(&code), activation_code_hash(&code.replace('-', "").to_lowercase()));
    }
}
