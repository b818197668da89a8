//! Engine outcomes to JSON response bodies, shaped like the Kiuru REST server's:
//! scalars as strings, absent fields left out, keys in byte-wise order (written sorted
//! here, so the order holds whatever map type serde_json is built with).

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use mobileid_core::request::format_instant_json;
use mobileid_core::services::{APP2APP_URI, GEOFENCING_URI};
use mobileid_core::{Fault, StatusCode};
use mobileid_engine::mss::messages::{
    CertificateInfo, Echo, ProfileExtension, ProfileOutcome, ReceiptOutcome, ServiceResponse, SignatureOutcome,
    SscdInfo, StatusOutcome,
};
use serde_json::{json, Map, Value};

const ETSI_NS: &str = "http://uri.etsi.org/TS102204/v1.1.2#";
const SOAP_ENV_NS: &str = "http://www.w3.org/2003/05/soap-envelope";

pub fn fault(fault: &Fault) -> Value {
    json!({"Fault": {
        "Code": {
            "SubCode": {"Value": format!("_{}", fault.code.number()), "ValueNs": ETSI_NS},
            "Value": if fault.code.is_sender() { "Sender" } else { "Receiver" },
            "ValueNs": SOAP_ENV_NS,
        },
        "Detail": fault.detail,
        "Reason": fault.code.reason(),
    }})
}

pub fn signature(outcome: &SignatureOutcome, mssp_uri: &str) -> Value {
    let result = SignedResult {
        echo: &outcome.echo,
        mssp_trans_id: Some(&outcome.mssp_trans_id),
        signature: outcome.signature.as_deref(),
        msisdn_raw: &outcome.msisdn_raw,
        service_responses: &outcome.service_responses,
        // The resolved profile goes in the signature response only, never the status one.
        profile: Some(outcome.profile.uri()),
        status: outcome.status,
    };
    json!({"MSS_SignatureResp": result.to_json(mssp_uri)})
}

pub fn status_response(outcome: &StatusOutcome, mssp_uri: &str) -> Value {
    let result = SignedResult {
        echo: &outcome.echo,
        mssp_trans_id: None,
        signature: outcome.signature.as_deref(),
        msisdn_raw: &outcome.msisdn_raw,
        service_responses: &outcome.service_responses,
        profile: None,
        status: outcome.status,
    };
    json!({"MSS_StatusResp": result.to_json(mssp_uri)})
}

/// What signature and status responses share.
struct SignedResult<'a> {
    echo: &'a Echo,
    mssp_trans_id: Option<&'a str>,
    signature: Option<&'a [u8]>,
    msisdn_raw: &'a str,
    service_responses: &'a [ServiceResponse],
    profile: Option<&'a str>,
    status: StatusCode,
}

impl SignedResult<'_> {
    fn to_json(&self, mssp_uri: &str) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("AP_Info".into(), ap_info(self.echo));
        m.insert("MSSP_Info".into(), mssp_info(mssp_uri));
        if let Some(id) = self.mssp_trans_id {
            m.insert("MSSP_TransID".into(), json!(id));
        }
        if let Some(cms) = self.signature {
            m.insert("MSS_Signature".into(), json!({"Base64Signature": STANDARD.encode(cms)}));
        }
        m.insert("MajorVersion".into(), json!("1"));
        m.insert("MinorVersion".into(), json!("1"));
        m.insert("MobileUser".into(), json!({"MSISDN": self.msisdn_raw}));
        if !self.service_responses.is_empty() {
            m.insert("ServiceResponses".into(), service_responses(self.service_responses));
        }
        if let Some(profile) = self.profile {
            m.insert("SignatureProfile".into(), json!(profile));
        }
        m.insert("Status".into(), status(self.status, None));
        m
    }
}

pub fn receipt(outcome: &ReceiptOutcome, mssp_uri: &str) -> Value {
    let detail = outcome.reply.as_ref().map(|reply| {
        let mut ext = Map::new();
        ext.insert("ClientAck".into(), json!("false"));
        if let Some(message) = &reply.fault_message {
            ext.insert("FaultMessage".into(), json!(message));
        }
        ext.insert("NetworkAck".into(), json!("false"));
        ext.insert("ReceiptMessagingMode".into(), json!("synch"));
        ext.insert("UserAck".into(), json!(reply.user_ack.to_string()));
        if let Some(response) = &reply.user_response {
            ext.insert("UserResponse".into(), json!(response));
        }
        json!({"ReceiptResponseExtension": ext})
    });
    json!({"MSS_ReceiptResp": {
        "AP_Info": ap_info(&outcome.echo),
        "MSSP_Info": mssp_info(mssp_uri),
        "MajorVersion": "1",
        "MinorVersion": "1",
        "Status": status(StatusCode::RequestOk, detail),
    }})
}

pub fn profile(outcome: &ProfileOutcome, mssp_uri: &str) -> Value {
    let detail = outcome.extension.as_ref().map(|ext| json!({"ProfileQueryExtension": profile_extension(ext)}));
    let profiles: Vec<&str> = outcome.profiles.iter().map(|p| p.uri()).collect();
    json!({"MSS_ProfileResp": {
        "AP_Info": ap_info(&outcome.echo),
        "MSSP_Info": mssp_info(mssp_uri),
        "MajorVersion": outcome.major_version,
        "MinorVersion": outcome.minor_version,
        "SignatureProfile": profiles,
        "Status": status(StatusCode::RequestOk, detail),
    }})
}

fn profile_extension(ext: &ProfileExtension) -> Value {
    let mut m = Map::new();
    if ext.legacy {
        if let Some(v) = ext.auto_activation {
            m.insert("AutoActivation".into(), json!(v));
        }
        if !ext.legacy_certificates.is_empty() {
            m.insert("MobileUserCertificate".into(), ext.legacy_certificates.iter().map(certificate).collect());
        }
        if let Some(v) = ext.recovery_code_created {
            m.insert("RecoveryCodeCreated".into(), json!(v));
        }
        return Value::Object(m);
    }
    if ext.auto_activation.is_some() || ext.recovery_code_created.is_some() {
        let mut user = Map::new();
        if let Some(v) = ext.auto_activation {
            user.insert("AutoActivation".into(), json!(v));
        }
        if let Some(v) = ext.recovery_code_created {
            user.insert("RecoveryCodeCreated".into(), json!(v));
        }
        m.insert("MobileUser".into(), Value::Object(user));
    }
    if ext.sim.is_some() || !ext.apps.is_empty() {
        let mut sscds = Map::new();
        if !ext.apps.is_empty() {
            sscds.insert("App".into(), ext.apps.iter().map(sscd).collect());
        }
        if let Some(sim) = &ext.sim {
            sscds.insert("Sim".into(), sscd(sim));
        }
        m.insert("Sscds".into(), Value::Object(sscds));
    }
    Value::Object(m)
}

fn sscd(info: &SscdInfo) -> Value {
    let mut m = Map::new();
    if let Some(card) = &info.card_details {
        m.insert("CardDetails".into(), json!({"Mcc": card.mcc, "Mnc": card.mnc, "Network": card.network}));
    }
    if !info.certificates.is_empty() {
        m.insert("MobileUserCertificate".into(), info.certificates.iter().map(certificate).collect());
    }
    if let Some(blocked) = info.pin_blocked {
        m.insert("PinStatus".into(), json!({"Blocked": blocked}));
    }
    if let Some(state) = &info.state {
        m.insert("State".into(), json!(state));
    }
    Value::Object(m)
}

fn certificate(info: &CertificateInfo) -> Value {
    let certs: Vec<String> = info.chain.iter().map(|der| STANDARD.encode(der)).collect();
    json!({
        "Algorithm": info.algorithm,
        "State": info.state,
        "X509Certificate": certs,
        "X509SubjectName": info.subject_names,
    })
}

fn ap_info(echo: &Echo) -> Value {
    // AP_PWD is never echoed in JSON (it is in SOAP).
    json!({"AP_ID": echo.ap_id, "AP_TransID": echo.ap_trans_id, "Instant": format_instant_json(echo.instant)})
}

fn mssp_info(uri: &str) -> Value {
    json!({"Instant": format_instant_json(chrono::Utc::now()), "MSSP_ID": {"URI": uri}})
}

fn status(code: StatusCode, detail: Option<Value>) -> Value {
    let mut m = Map::new();
    m.insert("StatusCode".into(), json!({"Value": code.number().to_string()}));
    if let Some(detail) = detail {
        m.insert("StatusDetail".into(), detail);
    }
    m.insert("StatusMessage".into(), json!(code.message()));
    Value::Object(m)
}

fn service_responses(responses: &[ServiceResponse]) -> Value {
    responses
        .iter()
        .map(|r| match r {
            ServiceResponse::Geofencing { country, accuracy, device_confidence, location_confidence, timestamp } => {
                json!({
                    "Description": GEOFENCING_URI,
                    "Geofencing": {
                        "Country": country,
                        "Accuracy": accuracy,
                        "DeviceConfidence": device_confidence,
                        "LocationConfidence": location_confidence,
                        "Timestamp": timestamp,
                    },
                })
            }
            ServiceResponse::GeofencingError { code, message } => json!({
                "Description": GEOFENCING_URI,
                "Geofencing": {"ErrorCode": code.to_string(), "ErrorMessage": message},
            }),
            ServiceResponse::App2App { auth_uri } => json!({
                "App2App": {"AuthUri": auth_uri},
                "Description": APP2APP_URI,
            }),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use mobileid_core::FaultCode;

    #[test]
    fn fault_body_matches_the_contract() {
        let body = fault(&Fault::new(FaultCode::UnknownClient, "MSISDN is unknown"));
        assert_eq!(
            body.to_string(),
            r#"{"Fault":{"Code":{"SubCode":{"Value":"_105","ValueNs":"http://uri.etsi.org/TS102204/v1.1.2#"},"Value":"Sender","ValueNs":"http://www.w3.org/2003/05/soap-envelope"},"Detail":"MSISDN is unknown","Reason":"UNKNOWN_CLIENT"}}"#
        );
    }
}
