//! SOAP 1.2 request envelopes to engine inputs.
//!
//! Elements are found by namespace URI and local name, never by prefix. The operation
//! wrapper may be unqualified, in the envelope namespace or in the Kiuru WSDL namespace,
//! or missing; the part (`MSS_…Req`) may be unqualified or in the ETSI namespace. The
//! style is recorded so the response can mirror it (contract §3.2).
//!
//! Before the document is built, one linear pass over the tokens ([`check_shape`])
//! refuses DOCTYPEs (so no external entities and no entity expansion), too deep a
//! nesting, and too many attributes or namespace declarations, per element and in all:
//! building a tree costs more than linear time in those (every element's namespace scope
//! is copied, every attribute is checked against its siblings). The tree builder then
//! refuses too many nodes.

use mobileid_core::Fault;
use mobileid_engine::mss::messages::{
    DataInput, FrameInput, GeofencingInput, ProfileInput, ReceiptInput, ServiceInput, SignatureInput, StatusInput,
};
use quick_xml::events::Event;
use quick_xml::Reader;
use roxmltree::{Document, Node, NodeType, ParsingOptions};

use super::namespaces::{ENV_NS, SOAP11_ENV_NS};
use crate::mss::Request;

/// The most elements and text nodes a request may have; real requests have under 100.
const NODES_LIMIT: u32 = 5_000;
/// The deepest nesting a request may have; real requests nest about 8 deep.
const DEPTH_LIMIT: usize = 32;
/// Attributes (namespace declarations included) on one element; real requests have up to 6.
const ATTRIBUTES_PER_ELEMENT: usize = 32;
/// Attributes in the whole request; real requests have under 40.
const ATTRIBUTES_LIMIT: usize = 512;
/// Namespace declarations on one element; real envelopes declare up to 10 at the root.
const NAMESPACES_PER_ELEMENT: usize = 16;
/// Namespace declarations in the whole request; some clients repeat theirs on each element.
const NAMESPACES_LIMIT: usize = 128;

/// How the request was written, for the response to mirror.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Style {
    /// The wrapper's namespace (`None`: unqualified or absent).
    pub wrapper_ns: Option<String>,
    /// The part was in the ETSI namespace (`mss:MSS_SignatureReq`), not unqualified.
    pub part_qualified: bool,
}

pub fn parse(body: &[u8]) -> Result<(Request, Style), Fault> {
    let text = std::str::from_utf8(body).map_err(|_| Fault::wrong_param("The request is not UTF-8"))?;
    check_shape(body)?;
    let options = ParsingOptions { allow_dtd: false, nodes_limit: NODES_LIMIT, ..ParsingOptions::default() };
    let document = Document::parse_with_options(text, options).map_err(|e| match e {
        roxmltree::Error::DtdDetected => Fault::wrong_param("DOCTYPE declarations are not allowed"),
        roxmltree::Error::NodesLimitReached => Fault::wrong_param("The request has too many XML nodes"),
        other => malformed(other),
    })?;

    let envelope = document.root_element();
    match (envelope.tag_name().namespace(), envelope.tag_name().name()) {
        (Some(ENV_NS), "Envelope") => {}
        (Some(SOAP11_ENV_NS), "Envelope") => {
            return Err(Fault::wrong_param("SOAP 1.1 envelopes are not supported: use SOAP 1.2"))
        }
        _ => return Err(Fault::wrong_param("The request is not a SOAP 1.2 envelope")),
    }
    let body = element_children(envelope)
        .find(|n| n.tag_name().namespace() == Some(ENV_NS) && n.tag_name().name() == "Body")
        .ok_or_else(|| Fault::wrong_param("The SOAP envelope has no Body"))?;
    let first = element_children(body).next().ok_or_else(|| Fault::wrong_param("The SOAP Body is empty"))?;

    let (wrapper_ns, part) = if operation_of_part(first.tag_name().name()).is_some() {
        (None, first)
    } else {
        let part = element_children(first)
            .find(|n| operation_of_part(n.tag_name().name()).is_some())
            .ok_or_else(|| Fault::wrong_param(format!("Unknown SOAP operation {:?}", first.tag_name().name())))?;
        (first.tag_name().namespace().map(str::to_string), part)
    };
    let style = Style { wrapper_ns, part_qualified: part.tag_name().namespace().is_some() };
    let request = match part.tag_name().name() {
        "MSS_SignatureReq" => Request::Signature(signature(part)),
        "MSS_StatusReq" => {
            Request::Status(StatusInput { frame: frame(part), mssp_trans_id: attr(part, "MSSP_TransID") })
        }
        "MSS_ReceiptReq" => Request::Receipt(receipt(part)),
        _ => Request::Profile(profile(part)),
    };
    Ok((request, style))
}

/// The request part names and their operations.
fn operation_of_part(name: &str) -> Option<&'static str> {
    match name {
        "MSS_SignatureReq" => Some("MSS_Signature"),
        "MSS_StatusReq" => Some("MSS_StatusQuery"),
        "MSS_ReceiptReq" => Some("MSS_Receipt"),
        "MSS_ProfileReq" => Some("MSS_ProfileQuery"),
        _ => None,
    }
}

/// The linear pre-pass: nesting, attributes and namespace declarations within their
/// limits, and no DOCTYPE.
fn check_shape(body: &[u8]) -> Result<(), Fault> {
    let mut reader = Reader::from_reader(body);
    let (mut depth, mut attributes, mut namespaces) = (0usize, 0usize, 0usize);
    loop {
        let element = match reader.read_event() {
            Ok(Event::Start(element)) => {
                depth += 1;
                if depth > DEPTH_LIMIT {
                    return Err(Fault::wrong_param("The request nests XML elements too deeply"));
                }
                element
            }
            Ok(Event::Empty(element)) => element,
            Ok(Event::End(_)) => {
                depth = depth.saturating_sub(1);
                continue;
            }
            Ok(Event::DocType(_)) => return Err(Fault::wrong_param("DOCTYPE declarations are not allowed")),
            Ok(Event::Eof) => return Ok(()),
            Err(e) => return Err(malformed(e)),
            Ok(_) => continue,
        };
        let (mut here, mut declared_here) = (0usize, 0usize);
        for attribute in element.attributes().with_checks(false) {
            let attribute = attribute.map_err(malformed)?;
            let key = attribute.key.as_ref();
            if key == "xmlns" || key.starts_with("xmlns:") {
                declared_here += 1;
            }
            here += 1;
        }
        attributes += here;
        namespaces += declared_here;
        if here > ATTRIBUTES_PER_ELEMENT || attributes > ATTRIBUTES_LIMIT {
            return Err(Fault::wrong_param("The request has too many XML attributes"));
        }
        if declared_here > NAMESPACES_PER_ELEMENT || namespaces > NAMESPACES_LIMIT {
            return Err(Fault::wrong_param("The request declares too many XML namespaces"));
        }
    }
}

fn malformed(e: impl std::fmt::Display) -> Fault {
    Fault::wrong_param(format!("The request is not well-formed XML: {e}"))
}

fn signature(part: Node) -> SignatureInput {
    let services = child(part, "AdditionalServices")
        .map(|list| {
            element_children(list)
                .filter(|n| n.tag_name().name() == "Service")
                .map(|service| ServiceInput {
                    uri: child(service, "Description").and_then(|d| child_text(d, "mssURI")).map(trimmed),
                    user_lang: child_text(service, "UserLang").map(trimmed),
                    redirect_uri: child(service, "App2App").and_then(|a| child_text(a, "RedirectUri")).map(trimmed),
                    geofencing: child(service, "GeoFencingReq").map(|g| GeofencingInput {
                        country_whitelist: attr(g, "countrywhitelist").into_iter().collect(),
                        country_blacklist: attr(g, "countryblacklist").into_iter().collect(),
                        min_device_confidence: attr(g, "mindeviceconfidence"),
                        min_location_confidence: attr(g, "minlocationconfidence"),
                        max_timestamp_minutes: attr(g, "maxtimestampminutes"),
                        max_accuracy_meters: attr(g, "maxaccuracymeters"),
                    }),
                })
                .collect()
        })
        .unwrap_or_default();
    SignatureInput {
        frame: frame(part),
        messaging_mode: attr(part, "MessagingMode"),
        timeout: attr(part, "TimeOut"),
        msisdn: msisdn(part),
        data_to_be_signed: child(part, "DataToBeSigned").map(data),
        signature_profile: child(part, "SignatureProfile").and_then(|p| child_text(p, "mssURI")).map(trimmed),
        services,
    }
}

fn receipt(part: Node) -> ReceiptInput {
    let wants_user_ack = child(part, "Status")
        .and_then(|s| child(s, "StatusDetail"))
        .and_then(|d| child(d, "ReceiptRequestExtension"))
        .and_then(|ext| attr(ext, "UserAck"))
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    ReceiptInput {
        frame: frame(part),
        mssp_trans_id: attr(part, "MSSP_TransID"),
        msisdn: msisdn(part),
        message: child(part, "Message").map(data),
        wants_user_ack,
    }
}

fn profile(part: Node) -> ProfileInput {
    let flag = |name: &str| child_text(part, name).is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    ProfileInput {
        frame: frame(part),
        msisdn: msisdn(part),
        params: child_text(part, "Params").map(trimmed),
        legacy_certificates: flag("GetCertificates"),
        legacy_auto_activation: flag("GetAutoActivation"),
        legacy_recovery_code: flag("GetRecoveryCodeCreated"),
    }
}

fn frame(part: Node) -> FrameInput {
    let info = child(part, "AP_Info");
    let info_attr = |name: &str| info.and_then(|i| attr(i, name));
    FrameInput {
        major_version: attr(part, "MajorVersion"),
        minor_version: attr(part, "MinorVersion"),
        ap_id: info_attr("AP_ID"),
        ap_pwd: info_attr("AP_PWD"),
        ap_trans_id: info_attr("AP_TransID"),
        instant: info_attr("Instant"),
    }
}

fn msisdn(part: Node) -> Option<String> {
    child(part, "MobileUser").and_then(|u| child_text(u, "MSISDN")).map(trimmed)
}

/// Typed data keeps its text exactly: leading and trailing white space is signed too.
fn data(node: Node) -> DataInput {
    DataInput { mime_type: attr(node, "MimeType"), encoding: attr(node, "Encoding"), data: Some(text_of(node)) }
}

fn element_children<'a, 'input>(node: Node<'a, 'input>) -> impl Iterator<Item = Node<'a, 'input>> {
    node.children().filter(Node::is_element)
}

fn child<'a, 'input>(node: Node<'a, 'input>, name: &str) -> Option<Node<'a, 'input>> {
    element_children(node).find(|n| n.tag_name().name() == name)
}

fn child_text(node: Node, name: &str) -> Option<String> {
    child(node, name).map(text_of)
}

/// All text directly inside an element (text and CDATA, entities resolved).
fn text_of(node: Node) -> String {
    node.children().filter(|n| n.node_type() == NodeType::Text).filter_map(|n| n.text()).collect()
}

fn attr(node: Node, name: &str) -> Option<String> {
    node.attributes().find(|a| a.name() == name && a.namespace().is_none()).map(|a| a.value().to_string())
}

fn trimmed(s: String) -> String {
    s.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mss::soap::namespaces::KIURU_WSDL_NS;

    const STYLE_A: &str = r#"<soapenv:Envelope xmlns:soapenv="http://www.w3.org/2003/05/soap-envelope"
        xmlns:mss="http://uri.etsi.org/TS102204/v1.1.2#" xmlns:fi="http://mss.ficom.fi/TS102204/v1.0.0#"
        xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" soap:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/">
      <soapenv:Header/>
      <soapenv:Body><MSS_Signature>
        <mss:MSS_SignatureReq MajorVersion="1" MinorVersion="1" MessagingMode="synch" TimeOut="80">
          <mss:AP_Info AP_ID="mid://x" AP_PWD="" AP_TransID="X1" Instant="2025-05-01T10:00:00+02:00"/>
          <mss:MobileUser><mss:MSISDN>41791234567</mss:MSISDN></mss:MobileUser>
          <mss:DataToBeSigned MimeType="text/plain" Encoding="UTF-8"> A &amp; B <![CDATA[<c>]]></mss:DataToBeSigned>
          <mss:SignatureProfile><mss:mssURI> http://mid.swisscom.ch/STK-LoA4 </mss:mssURI></mss:SignatureProfile>
          <mss:AdditionalServices><mss:Service><mss:Description><mss:mssURI>http://mss.ficom.fi/TS102204/v1.0.0#userLang</mss:mssURI></mss:Description><fi:UserLang>de</fi:UserLang></mss:Service></mss:AdditionalServices>
        </mss:MSS_SignatureReq></MSS_Signature></soapenv:Body></soapenv:Envelope>"#;

    #[test]
    fn reads_a_style_a_signature() {
        let (request, style) = parse(STYLE_A.as_bytes()).unwrap();
        assert_eq!(style, Style { wrapper_ns: None, part_qualified: true });
        let Request::Signature(input) = request else { panic!("not a signature") };
        assert_eq!(input.frame.ap_pwd.as_deref(), Some(""));
        assert_eq!(input.msisdn.as_deref(), Some("41791234567"));
        assert_eq!(input.data_to_be_signed.unwrap().data.as_deref(), Some(" A & B <c>"));
        assert_eq!(input.signature_profile.as_deref(), Some("http://mid.swisscom.ch/STK-LoA4"));
        assert_eq!(input.services[0].user_lang.as_deref(), Some("de"));
    }

    #[test]
    fn reads_a_geofencing_policy_from_its_attributes() {
        let service = r#"<mss:Service><mss:Description><mss:mssURI>http://mid.swisscom.ch/as#geofencing</mss:mssURI></mss:Description><mss:GeoFencingReq countrywhitelist="CH DE" mindeviceconfidence="0.7" maxaccuracymeters="1000"/></mss:Service>"#;
        let xml = STYLE_A.replace(
            r#"<mss:Service><mss:Description><mss:mssURI>http://mss.ficom.fi/TS102204/v1.0.0#userLang</mss:mssURI></mss:Description><fi:UserLang>de</fi:UserLang></mss:Service>"#,
            service,
        );
        let (Request::Signature(input), _) = parse(xml.as_bytes()).unwrap() else { panic!("not a signature") };
        let policy = input.services[0].geofencing.clone().expect("a policy");
        assert_eq!(policy.country_whitelist, ["CH DE"]);
        assert!(policy.country_blacklist.is_empty());
        assert_eq!(policy.min_device_confidence.as_deref(), Some("0.7"));
        assert_eq!(policy.max_accuracy_meters.as_deref(), Some("1000"));
        assert_eq!(policy.max_timestamp_minutes, None);
    }

    #[test]
    fn reads_a_style_b_status_query_by_namespace_not_prefix() {
        let xml = r#"<X:Envelope xmlns:X="http://www.w3.org/2003/05/soap-envelope"><X:Body>
            <q:MSS_StatusQuery xmlns:q="http://uri.etsi.org/TS102204/etsi204-kiuru.wsdl" xmlns:e="http://uri.etsi.org/TS102204/v1.1.2#">
            <MSS_StatusReq MSSP_TransID="HE1" MajorVersion="1" MinorVersion="2"><e:AP_Info AP_ID="a" AP_TransID="b" Instant="c"/>
            </MSS_StatusReq></q:MSS_StatusQuery></X:Body></X:Envelope>"#;
        let (request, style) = parse(xml.as_bytes()).unwrap();
        assert_eq!(style, Style { wrapper_ns: Some(KIURU_WSDL_NS.to_string()), part_qualified: false });
        let Request::Status(input) = request else { panic!("not a status query") };
        assert_eq!(input.mssp_trans_id.as_deref(), Some("HE1"));
        assert_eq!(input.frame.ap_id.as_deref(), Some("a"));
    }

    #[test]
    fn hostile_and_foreign_input_is_refused() {
        let refused = |xml: &str| parse(xml.as_bytes()).err().map(|f| (f.code.number(), f.detail));
        let doctype = r#"<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>"#;
        assert!(refused(doctype).unwrap().1.contains("DOCTYPE"));
        let deep = format!("{}{}", "<a>".repeat(100), "</a>".repeat(100));
        assert!(refused(&deep).unwrap().1.contains("deeply"));
        let wide = format!("<a>{}</a>", "<b/>".repeat(6000));
        assert!(refused(&wide).unwrap().1.contains("too many"));
        let soap11 = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body/></s:Envelope>"#;
        assert!(refused(soap11).unwrap().1.contains("SOAP 1.1"));
        assert_eq!(refused("<a>").unwrap().0, 101);
        assert_eq!(refused("\u{0}\u{ff}").unwrap().0, 101);
    }
}
