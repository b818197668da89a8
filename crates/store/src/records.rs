//! Plain rows as the database holds them. Times are Unix milliseconds.

/// An application provider and its permissions. Lists are space-separated tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApRecord {
    pub ap_id: String,
    pub name: String,
    pub dtbd_prefix: String,
    /// Signature profile URIs this AP may request.
    pub allowed_profiles: String,
    /// The profile URI that `MID/v1/AuthProfile1` stands for at this AP.
    pub auth_profile1_maps_to: String,
    /// Additional services this AP subscribed to (geofencing, app2app, subscriberInfo, validate, robots).
    pub services: String,
    pub created_at: i64,
}

#[derive(Clone, PartialEq, Eq)]
pub struct AuthorityRecord {
    pub name: String,
    pub cert_der: Vec<u8>,
    pub sealed_key: Vec<u8>,
}

impl std::fmt::Debug for AuthorityRecord {
    // Sealed keys are ciphertext, but they stay out of logs all the same.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorityRecord").field("name", &self.name).finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// Normalised: digits only.
    pub msisdn: String,
    pub serial_number: String,
    /// REGISTERED, ACTIVE or INACTIVE.
    pub state: String,
    /// For a test number: the fault code it always answers.
    pub test_fault: Option<i64>,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeOutcome {
    Taken(String),
    Unknown,
    Expired,
    AlreadyUsed,
}

#[derive(Clone, PartialEq, Eq)]
pub struct DeviceRecord {
    pub device_id: String,
    pub msisdn: String,
    /// `app` (a phone) or `sim` (a key the server holds for a robot user).
    pub method: String,
    /// active, blocked or retired.
    pub state: String,
    pub cert_der: Vec<u8>,
    /// SubjectPublicKeyInfo of the key that authenticates the phone's API calls.
    pub auth_key: Option<Vec<u8>>,
    /// Sealed PKCS#8 signing key, only for robot users.
    pub server_key: Option<Vec<u8>>,
    pub pin_failures: i64,
    pub created_at: i64,
}

impl std::fmt::Debug for DeviceRecord {
    // A robot's sealed signing key stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceRecord")
            .field("device_id", &self.device_id)
            .field("msisdn", &self.msisdn)
            .field("method", &self.method)
            .field("state", &self.state)
            .field("pin_failures", &self.pin_failures)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionRecord {
    pub mssp_trans_id: String,
    pub ap_id: String,
    pub ap_trans_id: String,
    pub ap_instant: i64,
    pub msisdn: String,
    /// The MSISDN exactly as the AP wrote it, for echoing.
    pub msisdn_raw: String,
    pub device_id: Option<String>,
    pub method: String,
    /// The resolved signature profile URI.
    pub profile: String,
    pub mime_type: String,
    pub dtbd: String,
    pub language: String,
    /// The randomNonce of the CMS signed attributes (with the DTBD it fixes what is signed).
    pub nonce: Vec<u8>,
    /// Additional services asked for, as space-separated tokens.
    pub services: String,
    /// pending, signed or failed.
    pub state: String,
    pub fault_code: Option<i64>,
    pub fault_detail: Option<String>,
    /// The CMS SignedData (DER) once signed.
    pub signature: Option<Vec<u8>>,
    pub created_at: i64,
    pub expires_at: i64,
    pub completed_at: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsertOutcome {
    Inserted,
    Duplicate,
}

/// The final state written by `Store::complete_transaction`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    pub state: String,
    pub fault_code: Option<i64>,
    pub fault_detail: Option<String>,
    pub signature: Option<Vec<u8>>,
}

impl Completion {
    pub fn signed(signature: Vec<u8>) -> Completion {
        Completion { state: "signed".into(), fault_code: None, fault_detail: None, signature: Some(signature) }
    }

    pub fn failed(code: i64, detail: impl Into<String>) -> Completion {
        Completion {
            state: "failed".into(),
            fault_code: Some(code),
            fault_detail: Some(detail.into()),
            signature: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptRecord {
    pub mssp_trans_id: String,
    pub message: String,
}
