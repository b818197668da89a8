//! The device API's paths and JSON bodies, shared by the server and the phones so the two
//! sides cannot drift apart. Binary values travel as standard base64 strings.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::content::ContentKind;

pub const ACTIVATE_PATH: &str = "/device/v1/activate";
pub const INBOX_PATH: &str = "/device/v1/inbox";
pub const STREAM_PATH: &str = "/device/v1/stream";
pub const PIN_UNLOCK_PATH: &str = "/device/v1/pin/unlock";

pub fn approve_path(transaction_id: &str) -> String {
    format!("/device/v1/transactions/{transaction_id}/approve")
}

pub fn decline_path(transaction_id: &str) -> String {
    format!("/device/v1/transactions/{transaction_id}/decline")
}

/// Where a phone asks what to sign for a document the user approved.
pub fn prepare_path(transaction_id: &str) -> String {
    format!("/device/v1/transactions/{transaction_id}/prepare")
}

/// Activation: the one-time code, a PKCS#10 CSR for the PIN-protected signing key, the
/// device key (SubjectPublicKeyInfo) that will sign the phone's API calls, and the proof of
/// the new PIN (32 bytes) the server will check at every unlock.
#[derive(Clone, Serialize, Deserialize)]
pub struct ActivationRequest {
    pub code: String,
    pub csr: String,
    pub device_key: String,
    pub pin_proof: String,
}

#[derive(Clone, Serialize, Deserialize)]
pub struct ActivationResponse {
    pub device_id: String,
    pub msisdn: String,
    pub serial_number: String,
    /// The user certificate (DER).
    pub certificate: String,
    /// A signing certificate for the same key (DER), where the operator issues them;
    /// document signatures carry it. Phones may keep it to show; they sign the same way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_certificate: Option<String>,
    /// The user's escrowed encryption keys, where the operator issues encryption
    /// certificates: every one the user has, so that a new phone reads what older keys
    /// were used for. The phone keeps them sealed like its signing key.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub encryption_keys: Vec<EncryptionKey>,
    /// Issuing CA, then root (DER).
    pub chain: Vec<String>,
    /// The server's share of the key that seals the signing key (32 bytes).
    pub pin_share: String,
}

/// `POST /device/v1/pin/unlock`: the proof of the PIN the user typed.
#[derive(Clone, Serialize, Deserialize)]
pub struct PinUnlockRequest {
    pub pin_proof: String,
}

/// The share when the proof is right; none when it is wrong (the server counted it).
#[derive(Clone, Serialize, Deserialize)]
pub struct PinUnlockResponse {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share: Option<String>,
    pub attempts_left: i64,
}

// PIN proofs and shares are secrets (a proof with the phone's salt allows a PIN search, a
// share opens the signing key with the PIN): Debug shows everything else.
impl std::fmt::Debug for ActivationRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActivationRequest")
            .field("code", &"..")
            .field("csr", &self.csr)
            .field("device_key", &self.device_key)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for ActivationResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActivationResponse")
            .field("device_id", &self.device_id)
            .field("msisdn", &self.msisdn)
            .field("serial_number", &self.serial_number)
            .finish_non_exhaustive()
    }
}

/// An escrowed encryption key as the activation delivers it.
#[derive(Clone, Serialize, Deserialize)]
pub struct EncryptionKey {
    /// The encryption certificate (DER, base64).
    pub certificate: String,
    /// Its private key, PKCS#8 (DER, base64).
    pub private_key: String,
}

impl std::fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EncryptionKey(..)")
    }
}

impl std::fmt::Debug for PinUnlockRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PinUnlockRequest(..)")
    }
}

impl std::fmt::Debug for PinUnlockResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PinUnlockResponse")
            .field("share", &self.share.as_ref().map(|_| ".."))
            .field("attempts_left", &self.attempts_left)
            .finish()
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct InboxResponse {
    pub requests: Vec<SignRequest>,
    pub receipts: Vec<ReceiptNotice>,
}

/// A request for the user's approval. The phone shows what `kind` says (the text or
/// rows in `data`, as `mime_type` says; or a document's name and SHA-256), recomputes the
/// CMS signed attributes from it and `nonce`, checks they equal `to_be_signed`, and only
/// then signs `to_be_signed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignRequest {
    pub transaction_id: String,
    /// Missing from servers before it existed, which only sent texts and approvals (the
    /// phone then goes by `mime_type`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<ContentKind>,
    pub mime_type: String,
    /// The text, the approval's JSON, or the document's name.
    pub data: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_name: Option<String>,
    /// SHA-256 of the document (base64), for `kind` = `document`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// The document's length in bytes, for `kind` = `document`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_length: Option<u64>,
    /// For `kind` = `document`: the certificate (base64 DER) the signature will name, for
    /// the phone's own signing key. The phone fetches what to sign with
    /// `POST /device/v1/transactions/{id}/prepare` once the user has approved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_certificate: Option<String>,
    pub language: String,
    pub nonce: String,
    /// Empty for a document, whose attributes are prepared after the approval.
    pub to_be_signed: String,
    /// Unix milliseconds.
    pub expires_at: i64,
    /// Number matching: the user must pick, out of these, the code shown to them
    /// elsewhere (the login page's session code), and the approval names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choices: Option<Vec<String>>,
    /// Who asks: the name of the AP or relying party (absent from servers before it
    /// existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requester: Option<String>,
}

/// The answer to `POST /device/v1/transactions/{id}/prepare`: the signed attributes of a
/// document signature (base64 DER), over the revision the signature will extend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrepareResponse {
    pub to_be_signed: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptNotice {
    pub transaction_id: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApproveRequest {
    /// The signing key's signature over `to_be_signed`.
    pub signature: String,
    /// The code the user picked, for a request with `choices`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choice: Option<String>,
    /// Where the phone is, if it can tell (for geofencing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<DeviceLocation>,
}

/// Where a phone is, as it reports it: the country (ISO 3166-1 alpha-2), the accuracy in
/// metres, and its confidence in the device's integrity and in the location (0 to 1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceLocation {
    pub country: String,
    pub accuracy: f64,
    pub device_confidence: f64,
    pub location_confidence: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorResponse {
    pub error: String,
    pub message: String,
}

// The kind travels as its stored name (`text`, `txn_approval`, `document`).
impl Serialize for ContentKind {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_db())
    }
}

impl<'de> Deserialize<'de> for ContentKind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<ContentKind, D::Error> {
        let text = String::deserialize(deserializer)?;
        ContentKind::from_db(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_sign_requests_still_parse_and_kinds_travel_by_name() {
        let old = r#"{"transaction_id":"H1","mime_type":"text/plain","data":"Hi","language":"en","nonce":"AA==",
            "to_be_signed":"AA==","expires_at":1}"#;
        let parsed: SignRequest = serde_json::from_str(old).unwrap();
        assert_eq!(parsed.kind, None);
        let doc = SignRequest { kind: Some(ContentKind::Document), ..parsed };
        let json = serde_json::to_string(&doc).unwrap();
        assert!(json.contains(r#""kind":"document""#), "{json}");
        assert_eq!(serde_json::from_str::<SignRequest>(&json).unwrap(), doc);
    }
}
