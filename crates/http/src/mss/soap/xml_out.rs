//! Engine outcomes to SOAP 1.2 envelopes, mirroring the request's style (contract §3.2):
//! the response wrapper sits in the namespace the request's wrapper had, and the part is
//! ETSI-qualified or unqualified as the request's part was. Everything inside the part is
//! `mss`-qualified, and children follow the XSD sequence order, which JAXB clients check.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use mobileid_core::request::format_instant_with_offset;
use mobileid_core::services::{APP2APP_URI, GEOFENCING_URI};
use mobileid_core::{Fault, StatusCode};
use mobileid_engine::mss::messages::{
    CertificateInfo, Echo, ProfileExtension, ProfileOutcome, ReceiptOutcome, ServiceResponse, SignatureOutcome,
    SscdInfo, StatusOutcome,
};

use super::namespaces::{ASC_NS, DS_NS, ENV_NS, FI_NS, KIURU_MSSP_NS, MCS_NS, MSS_NS, SCO_NS};
use super::xml_in::Style;

pub fn signature(outcome: &SignatureOutcome, style: &Style, mssp_uri: &str) -> String {
    let mut inner = common(&outcome.echo, mssp_uri);
    inner.push_str(&mobile_user(&outcome.msisdn_raw));
    if let Some(cms) = &outcome.signature {
        inner.push_str(&signature_element(cms));
    }
    inner.push_str(&format!(
        "<mss:SignatureProfile><mss:mssURI>{}</mss:mssURI></mss:SignatureProfile>",
        outcome.profile.uri()
    ));
    inner.push_str(&status(outcome.status, &service_responses(&outcome.service_responses)));
    let attrs = format!(r#" MajorVersion="1" MinorVersion="1" MSSP_TransID="{}""#, escape(&outcome.mssp_trans_id));
    envelope(&wrap(style, "MSS_Signature", "MSS_SignatureResp", &attrs, &inner))
}

pub fn status_response(outcome: &StatusOutcome, style: &Style, mssp_uri: &str) -> String {
    let mut inner = common(&outcome.echo, mssp_uri);
    inner.push_str(&mobile_user(&outcome.msisdn_raw));
    if let Some(cms) = &outcome.signature {
        inner.push_str(&signature_element(cms));
    }
    inner.push_str(&status(outcome.status, &service_responses(&outcome.service_responses)));
    envelope(&wrap(style, "MSS_StatusQuery", "MSS_StatusResp", r#" MajorVersion="1" MinorVersion="1""#, &inner))
}

pub fn receipt(outcome: &ReceiptOutcome, style: &Style, mssp_uri: &str) -> String {
    let mut inner = common(&outcome.echo, mssp_uri);
    let detail = outcome
        .reply
        .as_ref()
        .map(|reply| {
            let mut attrs = format!(r#" ReceiptMessagingMode="synch" UserAck="{}""#, reply.user_ack);
            if let Some(response) = &reply.user_response {
                attrs.push_str(&format!(r#" UserResponse="{}""#, escape(response)));
            }
            if let Some(message) = &reply.fault_message {
                attrs.push_str(&format!(r#" FaultMessage="{}""#, escape(message)));
            }
            format!(r#"<sco:ReceiptResponseExtension xmlns:sco="{SCO_NS}"{attrs}/>"#)
        })
        .unwrap_or_default();
    inner.push_str(&status(StatusCode::RequestOk, &detail));
    envelope(&wrap(style, "MSS_Receipt", "MSS_ReceiptResp", r#" MajorVersion="1" MinorVersion="1""#, &inner))
}

pub fn profile(outcome: &ProfileOutcome, style: &Style, mssp_uri: &str) -> String {
    let mut inner = common(&outcome.echo, mssp_uri);
    for p in &outcome.profiles {
        inner.push_str(&format!("<mss:SignatureProfile><mss:mssURI>{}</mss:mssURI></mss:SignatureProfile>", p.uri()));
    }
    let detail = outcome.extension.as_ref().map(profile_extension).unwrap_or_default();
    inner.push_str(&status(StatusCode::RequestOk, &detail));
    let attrs = format!(
        r#" MajorVersion="{}" MinorVersion="{}""#,
        escape(&outcome.major_version),
        escape(&outcome.minor_version)
    );
    envelope(&wrap(style, "MSS_ProfileQuery", "MSS_ProfileResp", &attrs, &inner))
}

/// A SOAP 1.2 fault: the subcode written literally as `mss:_NNN` (the AD FS client reads
/// it with a regular expression), the symbolic reason, and always a Detail.
pub fn fault(fault: &Fault) -> String {
    let value = if fault.code.is_sender() { "Sender" } else { "Receiver" };
    let portal = fault
        .portal_url
        .as_ref()
        .map(|url| {
            format!(
                r#"<sco:UserAssistance xmlns:sco="{SCO_NS}"><PortalUrl xmlns="{SCO_NS}">{}</PortalUrl></sco:UserAssistance>"#,
                escape(url)
            )
        })
        .unwrap_or_default();
    envelope(&format!(
        concat!(
            "<soapenv:Fault><soapenv:Code><soapenv:Value>soapenv:{value}</soapenv:Value>",
            r#"<soapenv:Subcode xmlns:mss="{mss}"><soapenv:Value>mss:_{code}</soapenv:Value></soapenv:Subcode></soapenv:Code>"#,
            r#"<soapenv:Reason><soapenv:Text xml:lang="en">{reason}</soapenv:Text></soapenv:Reason>"#,
            r#"<soapenv:Detail><ns1:detail xmlns:ns1="{kiuru}">{detail}</ns1:detail>{portal}</soapenv:Detail></soapenv:Fault>"#,
        ),
        value = value,
        mss = MSS_NS,
        code = fault.code.number(),
        reason = fault.code.reason(),
        kiuru = KIURU_MSSP_NS,
        detail = escape(&fault.detail),
        portal = portal,
    ))
}

fn envelope(body: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>{nl}<soapenv:Envelope xmlns:soapenv="{ENV_NS}"><soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>"#,
        nl = "\n"
    )
}

/// The response wrapper and part, in the request's namespace style.
fn wrap(style: &Style, operation: &str, part: &str, part_attrs: &str, inner: &str) -> String {
    let (open, close) = match style.wrapper_ns.as_deref() {
        Some(ENV_NS) => (format!("<soapenv:{operation}Response>"), format!("</soapenv:{operation}Response>")),
        Some(ns) => (format!(r#"<{operation}Response xmlns="{}">"#, escape(ns)), format!("</{operation}Response>")),
        None => (format!(r#"<{operation}Response xmlns="">"#), format!("</{operation}Response>")),
    };
    let declarations = format!(r#"xmlns:mss="{MSS_NS}" xmlns:fi="{FI_NS}""#);
    let part_xml = if style.part_qualified {
        format!("<mss:{part} {declarations}{part_attrs}>{inner}</mss:{part}>")
    } else {
        format!(r#"<{part} xmlns="" {declarations}{part_attrs}>{inner}</{part}>"#)
    };
    format!("{open}{part_xml}{close}")
}

/// AP_Info and MSSP_Info, which every response starts with. SOAP echoes AP_PWD (JSON does
/// not) and writes instants in the server's zone with its offset.
fn common(echo: &Echo, mssp_uri: &str) -> String {
    let offset = *chrono::Local::now().offset();
    let pwd = echo.ap_pwd.as_ref().map(|p| format!(r#" AP_PWD="{}""#, escape(p))).unwrap_or_default();
    format!(
        r#"<mss:AP_Info AP_ID="{}"{pwd} AP_TransID="{}" Instant="{}"/><mss:MSSP_Info Instant="{}"><mss:MSSP_ID><mss:URI>{}</mss:URI></mss:MSSP_ID></mss:MSSP_Info>"#,
        escape(&echo.ap_id),
        escape(&echo.ap_trans_id),
        format_instant_with_offset(echo.instant, offset),
        format_instant_with_offset(chrono::Utc::now(), offset),
        escape(mssp_uri),
    )
}

fn mobile_user(msisdn_raw: &str) -> String {
    format!("<mss:MobileUser><mss:MSISDN>{}</mss:MSISDN></mss:MobileUser>", escape(msisdn_raw))
}

fn signature_element(cms: &[u8]) -> String {
    format!(
        "<mss:MSS_Signature><mss:Base64Signature>{}</mss:Base64Signature></mss:MSS_Signature>",
        STANDARD.encode(cms)
    )
}

fn status(code: StatusCode, detail: &str) -> String {
    let detail =
        if detail.is_empty() { String::new() } else { format!("<mss:StatusDetail>{detail}</mss:StatusDetail>") };
    format!(
        r#"<mss:Status><mss:StatusCode Value="{}"/><mss:StatusMessage>{}</mss:StatusMessage>{detail}</mss:Status>"#,
        code.number(),
        code.message()
    )
}

/// In SOAP, service responses sit in `Status/StatusDetail/fi:ServiceResponses`.
fn service_responses(responses: &[ServiceResponse]) -> String {
    if responses.is_empty() {
        return String::new();
    }
    let items: String = responses
        .iter()
        .map(|r| {
            let (uri, payload) = match r {
                ServiceResponse::Geofencing { country, accuracy, device_confidence, location_confidence, timestamp } => (
                    GEOFENCING_URI,
                    format!(
                        r#"<asc:GeoFencing xmlns:asc="{ASC_NS}" country="{}" accuracy="{}" timestamp="{}" deviceconfidence="{}" locationconfidence="{}"/>"#,
                        escape(country),
                        escape(accuracy),
                        escape(timestamp),
                        escape(device_confidence),
                        escape(location_confidence)
                    ),
                ),
                ServiceResponse::GeofencingError { code, message } => (
                    GEOFENCING_URI,
                    format!(
                        r#"<asc:GeoFencing xmlns:asc="{ASC_NS}" errorcode="{code}" errormessage="{}"/>"#,
                        escape(message)
                    ),
                ),
                ServiceResponse::App2App { auth_uri } => (
                    APP2APP_URI,
                    format!(r#"<fi:App2App><asc:AuthUri xmlns:asc="{ASC_NS}">{}</asc:AuthUri></fi:App2App>"#, escape(auth_uri)),
                ),
            };
            format!("<fi:ServiceResponse><fi:Description><mss:mssURI>{uri}</mss:mssURI></fi:Description>{payload}</fi:ServiceResponse>")
        })
        .collect();
    format!("<fi:ServiceResponses>{items}</fi:ServiceResponses>")
}

fn profile_extension(ext: &ProfileExtension) -> String {
    let mut x = format!(r#"<mcs:ProfileQueryExtension xmlns:mcs="{MCS_NS}" xmlns:ds="{DS_NS}">"#);
    if ext.legacy {
        // v1.1: the old elements, straight under the extension, in XSD order.
        for cert in &ext.legacy_certificates {
            x.push_str(&certificate(cert));
        }
        if let Some(v) = ext.auto_activation {
            x.push_str(&format!("<mcs:AutoActivation>{v}</mcs:AutoActivation>"));
        }
        if let Some(v) = ext.recovery_code_created {
            x.push_str(&format!("<mcs:RecoveryCodeCreated>{v}</mcs:RecoveryCodeCreated>"));
        }
    } else {
        if ext.auto_activation.is_some() || ext.recovery_code_created.is_some() {
            x.push_str("<mcs:MobileUser");
            if let Some(v) = ext.auto_activation {
                x.push_str(&format!(r#" AutoActivation="{v}""#));
            }
            if let Some(v) = ext.recovery_code_created {
                x.push_str(&format!(r#" RecoveryCodeCreated="{v}""#));
            }
            x.push_str("/>");
        }
        if ext.sim.is_some() || !ext.apps.is_empty() {
            x.push_str("<mcs:Sscds>");
            if let Some(sim) = &ext.sim {
                x.push_str(&sscd("Sim", sim));
            }
            for app in &ext.apps {
                x.push_str(&sscd("App", app));
            }
            x.push_str("</mcs:Sscds>");
        }
    }
    x.push_str("</mcs:ProfileQueryExtension>");
    x
}

fn sscd(name: &str, info: &SscdInfo) -> String {
    let mut x = format!("<mcs:{name}>");
    if let Some(state) = &info.state {
        x.push_str(&format!("<mcs:State>{}</mcs:State>", escape(state)));
    }
    if let Some(blocked) = info.pin_blocked {
        x.push_str(&format!(r#"<mcs:PinStatus blocked="{blocked}"/>"#));
    }
    for cert in &info.certificates {
        x.push_str(&certificate(cert));
    }
    if let Some(card) = &info.card_details {
        x.push_str(&format!(
            "<mcs:CardDetails><mcs:MCC>{}</mcs:MCC><mcs:MNC>{}</mcs:MNC><mcs:Network>{}</mcs:Network></mcs:CardDetails>",
            escape(&card.mcc),
            escape(&card.mnc),
            escape(&card.network)
        ));
    }
    x.push_str(&format!("</mcs:{name}>"));
    x
}

/// Certificates and subject names interleaved, as `ds:X509DataType` allows.
fn certificate(info: &CertificateInfo) -> String {
    let mut x = format!(
        r#"<mcs:MobileUserCertificate State="{}" Algorithm="{}">"#,
        escape(&info.state),
        escape(&info.algorithm)
    );
    for (der, name) in info.chain.iter().zip(&info.subject_names) {
        x.push_str(&format!(
            "<ds:X509Certificate>{}</ds:X509Certificate><ds:X509SubjectName>{}</ds:X509SubjectName>",
            STANDARD.encode(der),
            escape(name)
        ));
    }
    x.push_str("</mcs:MobileUserCertificate>");
    x
}

/// Escapes text and attribute values (quotes included, so one function serves both).
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Keep line breaks in attribute values when read back.
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use mobileid_core::FaultCode;

    #[test]
    fn fault_subcode_is_literally_mss_nnn() {
        let xml = fault(&Fault::new(FaultCode::WrongParam, "Illegal msisdn"));
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"utf-8\"?>"));
        assert!(xml.contains("<soapenv:Value>mss:_101</soapenv:Value>"));
        assert!(xml.contains(r#"<soapenv:Subcode xmlns:mss="http://uri.etsi.org/TS102204/v1.1.2#">"#));
        assert!(xml.contains(r#"<soapenv:Text xml:lang="en">WRONG_PARAM</soapenv:Text>"#));
        assert!(xml.contains(">Illegal msisdn</ns1:detail>"));
        roxmltree::Document::parse(&xml).unwrap();
    }

    #[test]
    fn wrapper_and_part_mirror_the_request() {
        let b = Style { wrapper_ns: Some(super::super::namespaces::KIURU_WSDL_NS.into()), part_qualified: false };
        let xml = wrap(&b, "MSS_StatusQuery", "MSS_StatusResp", "", "");
        assert!(xml.starts_with(r#"<MSS_StatusQueryResponse xmlns="http://uri.etsi.org/TS102204/etsi204-kiuru.wsdl"><MSS_StatusResp xmlns="" "#));
        let a = Style { wrapper_ns: None, part_qualified: true };
        let xml = wrap(&a, "MSS_Signature", "MSS_SignatureResp", "", "");
        assert!(xml.starts_with(r#"<MSS_SignatureResponse xmlns=""><mss:MSS_SignatureResp xmlns:mss="#));
        let env = Style { wrapper_ns: Some(ENV_NS.into()), part_qualified: true };
        assert!(wrap(&env, "MSS_Receipt", "MSS_ReceiptResp", "", "").starts_with("<soapenv:MSS_ReceiptResponse>"));
    }

    #[test]
    fn geofencing_is_an_asc_element_with_lower_case_attributes() {
        let xml = service_responses(&[ServiceResponse::Geofencing {
            country: "CH".into(),
            accuracy: "16".into(),
            device_confidence: "1.0".into(),
            location_confidence: "0.75".into(),
            timestamp: "2026-11-27T17:00:00.000+00:00".into(),
        }]);
        assert_eq!(
            xml,
            format!(
                "<fi:ServiceResponses><fi:ServiceResponse><fi:Description><mss:mssURI>{GEOFENCING_URI}</mss:mssURI></fi:Description>\
                 <asc:GeoFencing xmlns:asc=\"{ASC_NS}\" country=\"CH\" accuracy=\"16\" timestamp=\"2026-11-27T17:00:00.000+00:00\" \
                 deviceconfidence=\"1.0\" locationconfidence=\"0.75\"/></fi:ServiceResponse></fi:ServiceResponses>"
            )
        );
    }

    #[test]
    fn escaping_round_trips_through_a_parser() {
        let text = "a&b<c>\"d' \n e";
        let xml = format!(r#"<x y="{}">{}</x>"#, escape(text), escape(text));
        let doc = roxmltree::Document::parse(&xml).unwrap();
        assert_eq!(doc.root_element().attribute("y"), Some(text));
        assert_eq!(doc.root_element().text(), Some(text));
    }
}
