//! The device API's paths and JSON bodies, shared by the server and the phones so the two
//! sides cannot drift apart. Binary values travel as standard base64 strings.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::content::ContentKind;

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
