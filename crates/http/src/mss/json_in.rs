//! JSON request bodies to engine inputs.
//!
//! Lenient where real clients differ (scalars as strings or numbers, `null` as absent,
//! unknown properties ignored, an `mssURI` wrapper or not), strict about shape: an object
//! where a string belongs is a 101 that names the field.

use mobileid_core::Fault;
use mobileid_engine::mss::messages::{
    DataInput, FrameInput, GeofencingInput, ProfileInput, ReceiptInput, ServiceInput, SignatureInput, StatusInput,
};
use serde_json::{Map, Value};

use super::Request;

pub fn parse(body: &[u8]) -> Result<Request, Fault> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| Fault::wrong_param(format!("The request is not valid JSON: {e}")))?;
    let root = value.as_object().ok_or_else(|| Fault::wrong_param("The request must be a JSON object"))?;
    let mut keys = root.iter().filter(|(_, v)| !v.is_null());
    let (name, message) = match (keys.next(), keys.next()) {
        (Some(entry), None) => entry,
        _ => {
            return Err(Fault::wrong_param(
                "The request must have exactly one root key: MSS_SignatureReq, MSS_StatusReq, MSS_ReceiptReq or MSS_ProfileReq",
            ))
        }
    };
    let message = Fields::of(message, name)?;
    match name.as_str() {
        "MSS_SignatureReq" => signature(&message).map(Request::Signature),
        "MSS_StatusReq" => {
            Ok(Request::Status(StatusInput { frame: frame(&message)?, mssp_trans_id: message.scalar("MSSP_TransID")? }))
        }
        "MSS_ReceiptReq" => receipt(&message).map(Request::Receipt),
        "MSS_ProfileReq" => profile(&message).map(Request::Profile),
        other => Err(Fault::wrong_param(format!("Unknown message {other:?}"))),
    }
}

/// The policy of the geofencing service: lower-case fields, numbers as strings (§7.2).
fn geofencing(policy: &Fields) -> Result<GeofencingInput, Fault> {
    Ok(GeofencingInput {
        country_whitelist: policy.strings("countrywhitelist")?,
        country_blacklist: policy.strings("countryblacklist")?,
        min_device_confidence: policy.scalar("mindeviceconfidence")?,
        min_location_confidence: policy.scalar("minlocationconfidence")?,
        max_timestamp_minutes: policy.scalar("maxtimestampminutes")?,
        max_accuracy_meters: policy.scalar("maxaccuracymeters")?,
    })
}

fn signature(message: &Fields) -> Result<SignatureInput, Fault> {
    let services = match message.get("AdditionalServices") {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                let service = Fields::of(item, "AdditionalServices[]")?;
                Ok(ServiceInput {
                    uri: service.uri("Description")?,
                    user_lang: service.object("UserLang")?.map(|l| l.scalar("Value")).transpose()?.flatten(),
                    redirect_uri: service.object("App2App")?.map(|a| a.scalar("RedirectUri")).transpose()?.flatten(),
                    geofencing: service.object("GeoFencingRequest")?.map(|g| geofencing(&g)).transpose()?,
                })
            })
            .collect::<Result<_, Fault>>()?,
        Some(_) => return Err(Fault::wrong_param("AdditionalServices must be an array")),
    };
    Ok(SignatureInput {
        frame: frame(message)?,
        messaging_mode: message.scalar("MessagingMode")?,
        timeout: message.scalar("TimeOut")?,
        msisdn: msisdn(message)?,
        data_to_be_signed: message.object("DataToBeSigned")?.map(|d| data(&d)).transpose()?,
        signature_profile: message.uri("SignatureProfile")?,
        services,
    })
}

fn receipt(message: &Fields) -> Result<ReceiptInput, Fault> {
    let extension = match message.object("Status")? {
        Some(status) => match status.object("StatusDetail")? {
            Some(detail) => detail.object("ReceiptRequestExtension")?,
            None => None,
        },
        None => None,
    };
    let wants_user_ack = match &extension {
        Some(ext) => ext.scalar("UserAck")?.is_some_and(|v| v.eq_ignore_ascii_case("true")),
        None => false,
    };
    Ok(ReceiptInput {
        frame: frame(message)?,
        mssp_trans_id: message.scalar("MSSP_TransID")?,
        msisdn: msisdn(message)?,
        message: message.object("Message")?.map(|d| data(&d)).transpose()?,
        wants_user_ack,
    })
}

fn profile(message: &Fields) -> Result<ProfileInput, Fault> {
    let flag = |name: &str| -> Result<bool, Fault> {
        Ok(message.scalar(name)?.is_some_and(|v| v.eq_ignore_ascii_case("true")))
    };
    Ok(ProfileInput {
        frame: frame(message)?,
        msisdn: msisdn(message)?,
        params: message.scalar("Params")?,
        legacy_certificates: flag("GetCertificates")?,
        legacy_auto_activation: flag("GetAutoActivation")?,
        legacy_recovery_code: flag("GetRecoveryCodeCreated")?,
    })
}

fn frame(message: &Fields) -> Result<FrameInput, Fault> {
    let info = message.object("AP_Info")?;
    let get = |name: &str| -> Result<Option<String>, Fault> {
        match &info {
            Some(info) => info.scalar(name),
            None => Ok(None),
        }
    };
    Ok(FrameInput {
        major_version: message.scalar("MajorVersion")?,
        minor_version: message.scalar("MinorVersion")?,
        ap_id: get("AP_ID")?,
        ap_pwd: get("AP_PWD")?,
        ap_trans_id: get("AP_TransID")?,
        instant: get("Instant")?,
    })
}

fn msisdn(message: &Fields) -> Result<Option<String>, Fault> {
    match message.object("MobileUser")? {
        Some(user) => user.scalar("MSISDN"),
        None => Ok(None),
    }
}

fn data(fields: &Fields) -> Result<DataInput, Fault> {
    Ok(DataInput {
        mime_type: fields.scalar("MimeType")?,
        encoding: fields.scalar("Encoding")?,
        data: fields.scalar("Data")?,
    })
}

/// A JSON object with its path, for messages that say where the problem is.
struct Fields<'a> {
    map: &'a Map<String, Value>,
    path: String,
}

impl<'a> Fields<'a> {
    fn of(value: &'a Value, path: &str) -> Result<Fields<'a>, Fault> {
        match value {
            Value::Object(map) => Ok(Fields { map, path: path.to_string() }),
            _ => Err(Fault::wrong_param(format!("{path} must be a JSON object"))),
        }
    }

    fn get(&self, name: &str) -> Option<&'a Value> {
        self.map.get(name).filter(|v| !v.is_null())
    }

    fn object(&self, name: &str) -> Result<Option<Fields<'a>>, Fault> {
        self.get(name).map(|v| Fields::of(v, &format!("{}.{name}", self.path))).transpose()
    }

    /// A string, number or boolean as text; clients write scalars either way.
    fn scalar(&self, name: &str) -> Result<Option<String>, Fault> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(Value::Bool(b)) => Ok(Some(b.to_string())),
            Some(_) => Err(Fault::wrong_param(format!("{}.{name} must be a string", self.path))),
        }
    }

    /// A list of strings; one string counts as a list of one.
    fn strings(&self, name: &str) -> Result<Vec<String>, Fault> {
        let wrong = || Fault::wrong_param(format!("{}.{name} must be a list of strings", self.path));
        match self.get(name) {
            None => Ok(Vec::new()),
            Some(Value::String(s)) => Ok(vec![s.clone()]),
            Some(Value::Array(items)) => items
                .iter()
                .filter(|v| !v.is_null())
                .map(|v| v.as_str().map(str::to_string).ok_or_else(wrong))
                .collect(),
            Some(_) => Err(wrong()),
        }
    }

    /// An `mssURIType`: a plain string, or the XML-shaped `{"mssURI": "..."}`.
    fn uri(&self, name: &str) -> Result<Option<String>, Fault> {
        match self.get(name) {
            Some(Value::Object(_)) => self.object(name)?.map(|o| o.scalar("mssURI")).transpose().map(Option::flatten),
            _ => self.scalar(name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_java_client_signature_request() {
        let body = br#"{"MSS_SignatureReq":{"AP_Info":{"AP_ID":"mid://x","AP_PWD":"","AP_TransID":"ID-1","Instant":"2025-05-01T10:00:00.000+02:00"},
          "AdditionalServices":[{"Description":"http://mss.ficom.fi/TS102204/v1.0.0#userLang","UserLang":{"Value":"en"}},
                                {"Description":"http://mid.swisscom.ch/as#app2app","App2App":{"RedirectUri":"x://y"}}],
          "DataToBeSigned":{"Data":"Hello","Encoding":"UTF-8","MimeType":"text/plain"},
          "MSSP_Info":{"MSSP_ID":{"URI":"http://mid.swisscom.ch/"}},"MajorVersion":1,"MessagingMode":"synch","MinorVersion":"2",
          "MobileUser":{"MSISDN":"+41791234567"},"SignatureProfile":"http://mid.swisscom.ch/Any-LoA4","TimeOut":null,"Extra":{}}}"#;
        let Request::Signature(input) = parse(body).unwrap() else { panic!("not a signature") };
        assert_eq!(input.frame.major_version.as_deref(), Some("1"));
        assert_eq!(input.frame.ap_trans_id.as_deref(), Some("ID-1"));
        assert_eq!(input.timeout, None);
        assert_eq!(input.msisdn.as_deref(), Some("+41791234567"));
        assert_eq!(input.services.len(), 2);
        assert_eq!(input.services[0].user_lang.as_deref(), Some("en"));
        assert_eq!(input.services[1].redirect_uri.as_deref(), Some("x://y"));
    }

    #[test]
    fn shape_errors_name_the_field() {
        let err = |body: &str| match parse(body.as_bytes()) {
            Err(f) => f,
            Ok(_) => panic!("accepted {body}"),
        };
        assert_eq!(err("{").code.number(), 101);
        assert_eq!(err("[]").code.number(), 101);
        assert_eq!(err(r#"{"Nope":{}}"#).code.number(), 101);
        assert_eq!(err(r#"{"MSS_StatusReq":{},"MSS_ReceiptReq":{}}"#).code.number(), 101);
        assert!(err(r#"{"MSS_SignatureReq":{"MobileUser":"41791234567"}}"#).detail.contains("MobileUser"));
        assert!(err(r#"{"MSS_SignatureReq":{"MobileUser":{"MSISDN":[1]}}}"#).detail.contains("MSISDN"));
    }
}
