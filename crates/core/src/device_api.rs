//! The device API's paths and JSON bodies, shared by the server and the phones so the two
//! sides cannot drift apart. Binary values travel as standard base64 strings.

use serde::{Deserialize, Serialize};

pub const ACTIVATE_PATH: &str = "/device/v1/activate";
pub const INBOX_PATH: &str = "/device/v1/inbox";
pub const STREAM_PATH: &str = "/device/v1/stream";
pub const PIN_FAILURE_PATH: &str = "/device/v1/pin-failures";

pub fn approve_path(transaction_id: &str) -> String {
    format!("/device/v1/transactions/{transaction_id}/approve")
}

pub fn decline_path(transaction_id: &str) -> String {
    format!("/device/v1/transactions/{transaction_id}/decline")
}

/// Activation: the one-time code, a PKCS#10 CSR for the PIN-protected signing key, and the
/// device key (SubjectPublicKeyInfo) that will sign the phone's API calls.
#[derive(Clone, Serialize, Deserialize)]
pub struct ActivationRequest {
    pub code: String,
    pub csr: String,
    pub device_key: String,
}

impl std::fmt::Debug for ActivationRequest {
    // The one-time code is a credential until it is spent.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActivationRequest").field("device_key", &self.device_key).finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ActivationResponse {
    pub device_id: String,
    pub msisdn: String,
    pub serial_number: String,
    /// The user certificate (DER).
    pub certificate: String,
    /// Issuing CA, then root (DER).
    pub chain: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct InboxResponse {
    pub requests: Vec<SignRequest>,
    pub receipts: Vec<ReceiptNotice>,
}

/// A request for the user's approval. The phone shows `data` (as `mime_type` says),
/// recomputes the CMS signed attributes from it and `nonce`, checks they equal
/// `to_be_signed`, and only then signs `to_be_signed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignRequest {
    pub transaction_id: String,
    pub mime_type: String,
    pub data: String,
    pub language: String,
    pub nonce: String,
    pub to_be_signed: String,
    /// Unix milliseconds.
    pub expires_at: i64,
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
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PinFailureResponse {
    pub failures: i64,
    pub blocked: bool,
    pub attempts_left: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorResponse {
    pub error: String,
    pub message: String,
}
