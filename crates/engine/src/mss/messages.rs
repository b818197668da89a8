//! What front ends hand to the engine and get back, independent of JSON or XML.
//!
//! Inputs keep the AP's fields as raw strings: the engine checks them in the order the
//! contract gives (§11.1), so a REST and a SOAP request with the same mistake get the same
//! fault. Outcomes carry everything a front end needs to encode its response.

use chrono::{DateTime, Utc};
use mobileid_core::{SignatureProfile, StatusCode};

/// The fields every MSS request carries.
#[derive(Debug, Clone, Default)]
pub struct FrameInput {
    pub major_version: Option<String>,
    pub minor_version: Option<String>,
    pub ap_id: Option<String>,
    pub ap_pwd: Option<String>,
    pub ap_trans_id: Option<String>,
    pub instant: Option<String>,
}

/// Typed data (`DataToBeSigned`, a receipt `Message`).
#[derive(Debug, Clone, Default)]
pub struct DataInput {
    pub mime_type: Option<String>,
    pub encoding: Option<String>,
    pub data: Option<String>,
}

/// One additional service as the AP asked for it.
#[derive(Debug, Clone, Default)]
pub struct ServiceInput {
    pub uri: Option<String>,
    pub user_lang: Option<String>,
    pub redirect_uri: Option<String>,
    /// The geofencing service's policy (JSON `GeoFencingRequest`, SOAP `GeoFencingReq`).
    pub geofencing: Option<GeofencingInput>,
}

/// A geofencing policy as the AP wrote it: strings, checked by the engine. A country list
/// may be one string, comma- or space-separated, or several.
#[derive(Debug, Clone, Default)]
pub struct GeofencingInput {
    pub country_whitelist: Vec<String>,
    pub country_blacklist: Vec<String>,
    pub min_device_confidence: Option<String>,
    pub min_location_confidence: Option<String>,
    pub max_timestamp_minutes: Option<String>,
    pub max_accuracy_meters: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct SignatureInput {
    pub frame: FrameInput,
    pub messaging_mode: Option<String>,
    pub timeout: Option<String>,
    pub msisdn: Option<String>,
    pub data_to_be_signed: Option<DataInput>,
    pub signature_profile: Option<String>,
    pub services: Vec<ServiceInput>,
}

#[derive(Debug, Clone, Default)]
pub struct StatusInput {
    pub frame: FrameInput,
    pub mssp_trans_id: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct ReceiptInput {
    pub frame: FrameInput,
    pub mssp_trans_id: Option<String>,
    pub msisdn: Option<String>,
    pub message: Option<DataInput>,
    /// The Swisscom receipt extension asked for the user's acknowledgement.
    pub wants_user_ack: bool,
}

#[derive(Debug, Clone, Default)]
pub struct ProfileInput {
    pub frame: FrameInput,
    pub msisdn: Option<String>,
    /// v2.0 `Params`: space-separated tokens.
    pub params: Option<String>,
    /// v1.1 `GetCertificates` and friends: treated as the v2.0 tokens they stand for.
    pub legacy_certificates: bool,
    pub legacy_auto_activation: bool,
    pub legacy_recovery_code: bool,
}

/// The request's own AP_Info, echoed in its response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Echo {
    pub ap_id: String,
    pub ap_pwd: Option<String>,
    pub ap_trans_id: String,
    pub instant: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceResponse {
    /// Where the phone was when it approved, as it reported, in the contract's notation
    /// (§7.2): accuracy in whole metres, confidences like `0.9`, the time in RFC 3339 with
    /// milliseconds.
    Geofencing {
        country: String,
        accuracy: String,
        device_confidence: String,
        location_confidence: String,
        timestamp: String,
    },
    /// In-band geofencing error: the signature still succeeds.
    GeofencingError {
        code: u16,
        message: String,
    },
    App2App {
        auth_uri: String,
    },
}

#[derive(Debug, Clone)]
pub struct SignatureOutcome {
    pub echo: Echo,
    pub mssp_trans_id: String,
    pub msisdn_raw: String,
    pub status: StatusCode,
    /// DER of the CMS SignedData when signed.
    pub signature: Option<Vec<u8>>,
    pub profile: SignatureProfile,
    pub service_responses: Vec<ServiceResponse>,
}

impl SignatureOutcome {
    /// The async acknowledgement: 100 REQUEST_OK, the AP polls for the rest.
    pub fn accepted(
        echo: Echo,
        mssp_trans_id: String,
        msisdn_raw: String,
        profile: SignatureProfile,
        service_responses: Vec<ServiceResponse>,
    ) -> SignatureOutcome {
        SignatureOutcome {
            echo,
            mssp_trans_id,
            msisdn_raw,
            status: StatusCode::RequestOk,
            signature: None,
            profile,
            service_responses,
        }
    }
}

#[derive(Debug, Clone)]
pub struct StatusOutcome {
    pub echo: Echo,
    pub msisdn_raw: String,
    pub status: StatusCode,
    pub signature: Option<Vec<u8>>,
    pub service_responses: Vec<ServiceResponse>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptReply {
    pub user_ack: bool,
    pub user_response: Option<String>,
    pub fault_message: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ReceiptOutcome {
    pub echo: Echo,
    pub reply: Option<ReceiptReply>,
}

#[derive(Debug, Clone)]
pub struct ProfileOutcome {
    pub echo: Echo,
    pub major_version: String,
    pub minor_version: String,
    pub profiles: Vec<SignatureProfile>,
    pub extension: Option<ProfileExtension>,
}

/// The v2.0 `ProfileQueryExtension` (or the v1.1 subset) of a profile response.
#[derive(Debug, Clone, Default)]
pub struct ProfileExtension {
    pub legacy: bool,
    pub auto_activation: Option<bool>,
    pub recovery_code_created: Option<bool>,
    /// `sscds`: one entry per signing device.
    pub sim: Option<SscdInfo>,
    pub apps: Vec<SscdInfo>,
    /// v1.1 `GetCertificates`: certificates straight under the extension.
    pub legacy_certificates: Vec<CertificateInfo>,
}

#[derive(Debug, Clone, Default)]
pub struct SscdInfo {
    pub state: Option<String>,
    /// SIM only: the card's network.
    pub card_details: Option<CardDetails>,
    pub pin_blocked: Option<bool>,
    pub certificates: Vec<CertificateInfo>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardDetails {
    pub mcc: String,
    pub mnc: String,
    pub network: String,
}

impl CardDetails {
    /// What the contract answers for a card whose network is not known (§5.4).
    pub fn unknown() -> CardDetails {
        CardDetails { mcc: "000".into(), mnc: "00".into(), network: "Unknown network".into() }
    }
}

#[derive(Debug, Clone)]
pub struct CertificateInfo {
    pub algorithm: String,
    pub state: String,
    /// DER, user certificate first, then the chain up to the root.
    pub chain: Vec<Vec<u8>>,
    /// RFC 2253, lower-cased, in the same order.
    pub subject_names: Vec<String>,
}
