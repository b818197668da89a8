//! MSS over SOAP with hand-written envelopes in every style real clients use (contract §3):
//! the response mirrors the request's wrapper and part namespaces byte for byte, because
//! clients such as the AD FS plug-in read answers with fixed XPaths; any content type and
//! SOAPAction is accepted; the operation comes from the body, not the path; faults are SOAP
//! 1.2 faults with the subcode written literally as `mss:_NNN`.

mod support;

use std::process::Command;
use std::time::Duration;

use roxmltree::{Document, Node};
use support::*;

const KIURU_WSDL_NS: &str = "http://uri.etsi.org/TS102204/etsi204-kiuru.wsdl";
const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";
const XML_DECLARATION: &str = r#"<?xml version="1.0" encoding="utf-8"?>"#;
const PATHS: [&str; 5] = [
    "/soap/services/MSS_SignaturePort",
    "/soap/services/MSS_StatusQueryPort",
    "/soap/services/MSS_ReceiptPort",
    "/soap/services/MSS_ProfilePort",
    "/soap/services/MSS_ProfileQueryPort",
];
/// The request content types of contract §1.3 (docs, curl, AD FS, JAX-WS).
const CONTENT_TYPES: [&str; 5] = [
    "text/xml",
    "text/xml;charset=UTF-8",
    "text/xml; charset=utf-8",
    r#"application/soap+xml; charset=utf-8;action="""#,
    r#"application/soap+xml;charset=UTF-8;action="urn:anything""#,
];

/// How a client writes the operation wrapper and the part (contract §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    /// Hand-written: `<MSS_Signature>` unqualified, `<mss:MSS_SignatureReq>`.
    A,
    /// Generated stubs: `<ns9:MSS_Signature xmlns:ns9="…kiuru.wsdl">`, `<MSS_SignatureReq>` unqualified.
    B,
    /// The wrapper in the SOAP envelope namespace, the part `mss:`-qualified.
    EnvelopeWrapper,
    /// No wrapper: `<mss:MSS_SignatureReq>` directly in the Body (answered in style A).
    NoWrapper,
}

const STYLES: [Style; 4] = [Style::A, Style::B, Style::EnvelopeWrapper, Style::NoWrapper];

impl Style {
    /// The prefix bound to the ETSI namespace for the content; B uses JAX-WS's names.
    fn mss(self) -> &'static str {
        if self == Style::B {
            "ns5"
        } else {
            "mss"
        }
    }

    /// A SOAP 1.2 envelope holding `content` (the part's children) in this style.
    fn envelope(self, operation: &str, part: &str, part_attrs: &str, content: &str) -> String {
        let m = self.mss();
        match self {
            Style::A => format!(
                r#"<soapenv:Envelope xmlns:soapenv="{ENV_NS}" xmlns:mss="{MSS_NS}"><soapenv:Body><{operation}><mss:{part} {part_attrs}>{content}</mss:{part}></{operation}></soapenv:Body></soapenv:Envelope>"#
            ),
            Style::B => format!(
                r#"<S:Envelope xmlns:S="{ENV_NS}"><S:Body><ns9:{operation} xmlns:ns9="{KIURU_WSDL_NS}" xmlns:{m}="{MSS_NS}"><{part} {part_attrs}>{content}</{part}></ns9:{operation}></S:Body></S:Envelope>"#
            ),
            Style::EnvelopeWrapper => format!(
                r#"<env:Envelope xmlns:env="{ENV_NS}"><env:Header/><env:Body><env:{operation}><mss:{part} xmlns:mss="{MSS_NS}" {part_attrs}>{content}</mss:{part}></env:{operation}></env:Body></env:Envelope>"#
            ),
            Style::NoWrapper => format!(
                r#"<soap:Envelope xmlns:soap="{ENV_NS}"><soap:Body><mss:{part} xmlns:mss="{MSS_NS}" {part_attrs}>{content}</mss:{part}></soap:Body></soap:Envelope>"#
            ),
        }
    }

    /// How the answer must begin, byte for byte, inside the Body.
    fn expected_response_start(self, operation: &str, part: &str) -> String {
        match self {
            Style::A | Style::NoWrapper => format!(r#"<{operation}Response xmlns=""><mss:{part} "#),
            Style::B => format!(r#"<{operation}Response xmlns="{KIURU_WSDL_NS}"><{part} xmlns="" "#),
            Style::EnvelopeWrapper => format!(r#"<soapenv:{operation}Response><mss:{part} "#),
        }
    }
}

/// One request as the AP wrote it, with what it expects echoed.
struct Sent {
    xml: String,
    ap_trans_id: String,
    ap_pwd: String,
    msisdn: Option<String>,
}

fn frame(m: &str, ap_pwd: &str) -> (String, String) {
    let trans_id = fresh_trans_id();
    let xml = format!(
        r#"<{m}:AP_Info AP_ID="{DEMO_AP}" AP_PWD="{ap_pwd}" AP_TransID="{trans_id}" Instant="{}"/><{m}:MSSP_Info><{m}:MSSP_ID><{m}:URI>http://mid.swisscom.ch/</{m}:URI></{m}:MSSP_ID></{m}:MSSP_Info>"#,
        now_instant()
    );
    (xml, trans_id)
}

fn signature(style: Style, msisdn: &str, text: &str, ap_pwd: &str) -> Sent {
    let m = style.mss();
    let (frame, ap_trans_id) = frame(m, ap_pwd);
    let content = format!(
        r#"{frame}<{m}:MobileUser><{m}:MSISDN>{msisdn}</{m}:MSISDN></{m}:MobileUser><{m}:DataToBeSigned MimeType="text/plain" Encoding="UTF-8">{text}</{m}:DataToBeSigned><{m}:SignatureProfile><{m}:mssURI>http://mid.swisscom.ch/Any-LoA4</{m}:mssURI></{m}:SignatureProfile>"#
    );
    let attrs = r#"MajorVersion="1" MinorVersion="1" MessagingMode="synch" TimeOut="80""#;
    Sent {
        xml: style.envelope("MSS_Signature", "MSS_SignatureReq", attrs, &content),
        ap_trans_id,
        ap_pwd: ap_pwd.into(),
        msisdn: Some(msisdn.into()),
    }
}

fn status(style: Style, mssp_trans_id: &str, ap_pwd: &str) -> Sent {
    let (content, ap_trans_id) = frame(style.mss(), ap_pwd);
    let attrs = format!(r#"MSSP_TransID="{mssp_trans_id}" MajorVersion="1" MinorVersion="1""#);
    Sent {
        xml: style.envelope("MSS_StatusQuery", "MSS_StatusReq", &attrs, &content),
        ap_trans_id,
        ap_pwd: ap_pwd.into(),
        msisdn: None,
    }
}

fn receipt(style: Style, mssp_trans_id: &str, msisdn: &str, ap_pwd: &str) -> Sent {
    let m = style.mss();
    let (frame, ap_trans_id) = frame(m, ap_pwd);
    let content = format!(
        r#"{frame}<{m}:MobileUser><{m}:MSISDN>{msisdn}</{m}:MSISDN></{m}:MobileUser><{m}:Message MimeType="text/plain" Encoding="UTF-8">Demo: OK</{m}:Message>"#
    );
    let attrs = format!(r#"MajorVersion="1" MinorVersion="1" MSSP_TransID="{mssp_trans_id}""#);
    Sent {
        xml: style.envelope("MSS_Receipt", "MSS_ReceiptReq", &attrs, &content),
        ap_trans_id,
        ap_pwd: ap_pwd.into(),
        msisdn: None,
    }
}

fn profile(style: Style, msisdn: &str, ap_pwd: &str) -> Sent {
    let m = style.mss();
    let (frame, ap_trans_id) = frame(m, ap_pwd);
    let content = format!(
        r#"{frame}<{m}:MobileUser><{m}:MSISDN>{msisdn}</{m}:MSISDN></{m}:MobileUser><{m}:Params>sscds state</{m}:Params>"#
    );
    Sent {
        xml: style.envelope("MSS_ProfileQuery", "MSS_ProfileReq", r#"MajorVersion="2" MinorVersion="0""#, &content),
        ap_trans_id,
        ap_pwd: ap_pwd.into(),
        msisdn: None,
    }
}

/// A SOAPAction that has nothing to do with the operation (the server must ignore it).
fn random_soap_action(i: usize) -> Option<String> {
    match i % 6 {
        0 => None,
        1 => Some("#MSS_Signature".into()),
        2 => Some(r#""""#.into()),
        3 => Some("#MSS_Profile".into()),
        4 => Some(format!("urn:x-{:016x}", rand::random::<u64>())),
        _ => Some(format!(r#""http://example.com/{:08x}""#, rand::random::<u32>())),
    }
}

/// An HTTP answer to a SOAP request.
struct Answer {
    status: u16,
    content_type: String,
    body: String,
}

async fn post_soap(
    client: &reqwest::Client,
    url: &str,
    content_type: &str,
    soap_action: Option<&str>,
    xml: &str,
) -> Answer {
    let mut headers = vec![("Content-Type", content_type)];
    if let Some(action) = soap_action {
        headers.push(("SOAPAction", action));
    }
    let (status, content_type, body) = post_raw(client, url, &headers, xml.to_string()).await;
    Answer { status, content_type, body }
}

/// Every SOAP answer: our Content-Type, the XML declaration, a SOAP 1.2 envelope.
fn assert_soap_answer(answer: &Answer) -> Document<'_> {
    assert_eq!(answer.content_type, SOAP_RESPONSE_TYPE, "{}", answer.body);
    assert!(answer.body.starts_with(XML_DECLARATION), "{}", answer.body);
    let doc = Document::parse(&answer.body).unwrap_or_else(|e| panic!("not XML ({e}): {}", answer.body));
    let root = doc.root_element();
    assert_eq!((ns(root), root.tag_name().name()), (Some(ENV_NS), "Envelope"), "{}", answer.body);
    doc
}

/// An element's namespace; roxmltree reports `xmlns=""` as `Some("")`, which is no namespace.
fn ns<'a>(node: Node<'a, '_>) -> Option<&'a str> {
    node.tag_name().namespace().filter(|ns| !ns.is_empty())
}

fn element_children<'a, 'i>(node: Node<'a, 'i>) -> impl Iterator<Item = Node<'a, 'i>> {
    node.children().filter(Node::is_element)
}

fn child<'a, 'i>(node: Node<'a, 'i>, namespace: Option<&str>, name: &str) -> Option<Node<'a, 'i>> {
    element_children(node).find(|n| ns(*n) == namespace && n.tag_name().name() == name)
}

/// A location path of child steps from the document root, as XPath 1.0 reads it with
/// namespace-aware parsing: each step is (namespace, local name); an unprefixed step
/// matches only elements in no namespace.
fn xpath_attribute(doc: &Document, steps: &[(Option<&str>, &str)], attribute: &str) -> Option<String> {
    let (first, rest) = steps.split_first()?;
    let root = doc.root_element();
    if (ns(root), root.tag_name().name()) != *first {
        return None;
    }
    let mut node = root;
    for (namespace, name) in rest {
        node = child(node, *namespace, name)?;
    }
    node.attribute(attribute).map(str::to_string)
}

fn text_content(node: Node) -> String {
    node.descendants().filter(Node::is_text).filter_map(|n| n.text()).collect()
}

/// Checks the answer to one operation: HTTP 200, the mirrored wrapper and part, children
/// in XSD order, every child `mss:`-qualified, the echoes; returns the part.
fn assert_response<'a, 'i>(
    doc: &'a Document<'i>,
    answer: &Answer,
    sent: &Sent,
    style: Style,
    operation: &str,
    part: &str,
    order: &[&str],
) -> Node<'a, 'i> {
    assert_eq!(answer.status, 200, "{style:?} {operation}: {}", answer.body);
    let start = style.expected_response_start(operation, part);
    let body_start = answer.body.find("<soapenv:Body>").map(|i| i + "<soapenv:Body>".len());
    assert_eq!(
        body_start.map(|i| answer.body[i..].starts_with(&start)),
        Some(true),
        "{style:?} {operation}: the Body should start with {start}: {}",
        answer.body
    );
    let body = child(doc.root_element(), Some(ENV_NS), "Body").expect("Body");
    let wrapper = element_children(body).next().expect("wrapper");
    let wrapper_ns = match style {
        Style::A | Style::NoWrapper => None,
        Style::B => Some(KIURU_WSDL_NS),
        Style::EnvelopeWrapper => Some(ENV_NS),
    };
    assert_eq!((ns(wrapper), wrapper.tag_name().name()), (wrapper_ns, &*format!("{operation}Response")));
    let resp = element_children(wrapper).next().expect("part");
    let part_ns = if style == Style::B { None } else { Some(MSS_NS) };
    assert_eq!((ns(resp), resp.tag_name().name()), (part_ns, part));
    assert_eq!(element_children(wrapper).count(), 1, "{}", answer.body);

    let children: Vec<Node> = element_children(resp).collect();
    let names: Vec<&str> = children.iter().map(|n| n.tag_name().name()).collect();
    assert_eq!(names, order, "{style:?} {operation}: order of the children: {}", answer.body);
    assert!(children.iter().all(|n| ns(*n) == Some(MSS_NS)), "{}", answer.body);

    let ap_info = children[0];
    assert_eq!(ap_info.attribute("AP_ID"), Some(DEMO_AP));
    assert_eq!(ap_info.attribute("AP_TransID"), Some(sent.ap_trans_id.as_str()), "AP_TransID echoed exactly");
    assert_eq!(ap_info.attribute("AP_PWD"), Some(sent.ap_pwd.as_str()), "AP_PWD echoed");
    if let Some(msisdn) = &sent.msisdn {
        let echoed = child(resp, Some(MSS_NS), "MobileUser").and_then(|u| child(u, Some(MSS_NS), "MSISDN"));
        assert_eq!(echoed.and_then(|m| m.text()), Some(msisdn.as_str()), "MSISDN echoed exactly");
    }
    resp
}

fn status_code(resp: Node) -> (String, String) {
    let status = child(resp, Some(MSS_NS), "Status").expect("Status");
    let names: Vec<&str> = element_children(status).map(|n| n.tag_name().name()).collect();
    assert_eq!(&names[..2], ["StatusCode", "StatusMessage"]);
    let code = child(status, Some(MSS_NS), "StatusCode").and_then(|c| c.attribute("Value")).unwrap_or_default();
    let message = child(status, Some(MSS_NS), "StatusMessage").and_then(|m| m.text()).unwrap_or_default();
    (code.to_string(), message.to_string())
}

fn base64_signature(resp: Node) -> String {
    child(resp, Some(MSS_NS), "MSS_Signature")
        .and_then(|s| child(s, Some(MSS_NS), "Base64Signature"))
        .and_then(|b| b.text())
        .expect("Base64Signature")
        .to_string()
}

/// A SOAP fault: HTTP 500, `soapenv:Sender`/`Receiver`, the subcode literally `mss:_NNN`
/// with `mss` bound to the ETSI namespace, the Reason in English, the Detail's text.
fn assert_soap_fault(answer: &Answer, code: u16, reason: &str, detail: &str) {
    assert_eq!(answer.status, 500, "expected fault {code}: {}", answer.body);
    let doc = assert_soap_answer(answer);
    let literal = format!("<soapenv:Value>mss:_{code}</soapenv:Value>");
    assert!(answer.body.contains(&literal), "expected {literal} in {}", answer.body);
    let body = child(doc.root_element(), Some(ENV_NS), "Body").expect("Body");
    let fault = child(body, Some(ENV_NS), "Fault").unwrap_or_else(|| panic!("no Fault: {}", answer.body));
    let code_node = child(fault, Some(ENV_NS), "Code").expect("Code");
    let value = child(code_node, Some(ENV_NS), "Value").expect("Code/Value");
    let expected_value = if code < 200 { "soapenv:Sender" } else { "soapenv:Receiver" };
    assert_eq!(value.text(), Some(expected_value));
    assert_eq!(value.lookup_namespace_uri(Some("soapenv")), Some(ENV_NS));
    let sub_value =
        child(code_node, Some(ENV_NS), "Subcode").and_then(|s| child(s, Some(ENV_NS), "Value")).expect("Subcode/Value");
    assert_eq!(sub_value.text(), Some(format!("mss:_{code}").as_str()));
    assert_eq!(sub_value.lookup_namespace_uri(Some("mss")), Some(MSS_NS), "mss must be bound to the ETSI namespace");
    let text = child(fault, Some(ENV_NS), "Reason").and_then(|r| child(r, Some(ENV_NS), "Text")).expect("Reason/Text");
    assert_eq!(text.text(), Some(reason), "{}", answer.body);
    assert_eq!(text.attribute((XML_NS, "lang")), Some("en"));
    let detail_node = child(fault, Some(ENV_NS), "Detail").unwrap_or_else(|| panic!("no Detail: {}", answer.body));
    assert_eq!(text_content(detail_node), detail, "{}", answer.body);
}

fn subject_of(pem: &str) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cert.pem");
    std::fs::write(&path, pem).expect("write");
    let out = Command::new("openssl").args(["x509", "-noout", "-subject", "-in"]).arg(&path).output().expect("openssl");
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

on_both_databases! {
    /// Every style, with every content type and random SOAPActions, at every SOAP path: a
    /// signature, a status query, a receipt and a profile query, each answered in the
    /// request's style, whichever port it was posted to (dispatch is on the body).
    async fn every_style_at_every_path(server) {
        let mut i = 0usize;
        let mut next_headers = || {
            i += 1;
            (CONTENT_TYPES[i % CONTENT_TYPES.len()], random_soap_action(i))
        };
        let pwds = ["", "not-needed", "disabled", "yourAP_PWD"];
        for style in STYLES {
            for (n, path) in PATHS.iter().enumerate() {
                let url = format!("{}{path}", server.base);
                let msisdn = if n % 2 == 0 { ROBOT_EC.to_string() } else { ROBOT_EC.trim_start_matches('+').to_string() };
                let pwd = pwds[n % pwds.len()];
                let text = format!("Demo: {style:?} at {path}?");

                let sent = signature(style, &msisdn, &text, pwd);
                let (content_type, action) = next_headers();
                let answer = post_soap(&server.ap, &url, content_type, action.as_deref(), &sent.xml).await;
                let doc = assert_soap_answer(&answer);
                let order = ["AP_Info", "MSSP_Info", "MobileUser", "MSS_Signature", "SignatureProfile", "Status"];
                let resp = assert_response(&doc, &answer, &sent, style, "MSS_Signature", "MSS_SignatureResp", &order);
                assert_eq!(status_code(resp), ("500".into(), "SIGNATURE".into()));
                let profile_uri = child(resp, Some(MSS_NS), "SignatureProfile").and_then(|p| child(p, Some(MSS_NS), "mssURI"));
                assert_eq!(profile_uri.and_then(|u| u.text()), Some(STK));
                assert_eq!(openssl_verify(&base64_signature(resp), &server.root_ca_path()), text.as_bytes());
                let id = resp.attribute("MSSP_TransID").expect("MSSP_TransID").to_string();
                if style == Style::A {
                    // The AD FS plug-in's signature XPath (contract §3.2).
                    let steps = [(Some(ENV_NS), "Envelope"), (Some(ENV_NS), "Body"), (None, "MSS_SignatureResponse"),
                        (Some(MSS_NS), "MSS_SignatureResp"), (Some(MSS_NS), "Status"), (Some(MSS_NS), "StatusCode")];
                    assert_eq!(xpath_attribute(&doc, &steps, "Value").as_deref(), Some("500"), "{}", answer.body);
                }

                let sent = status(style, &id, pwd);
                let (content_type, action) = next_headers();
                let answer = post_soap(&server.ap, &url, content_type, action.as_deref(), &sent.xml).await;
                let doc = assert_soap_answer(&answer);
                let order = ["AP_Info", "MSSP_Info", "MobileUser", "MSS_Signature", "Status"];
                let resp = assert_response(&doc, &answer, &sent, style, "MSS_StatusQuery", "MSS_StatusResp", &order);
                assert_eq!(status_code(resp), ("500".into(), "SIGNATURE".into()));
                assert_eq!(resp.attribute("MSSP_TransID"), None, "{}", answer.body);
                let echoed = child(resp, Some(MSS_NS), "MobileUser").and_then(|u| child(u, Some(MSS_NS), "MSISDN"));
                assert_eq!(echoed.and_then(|m| m.text()), Some(msisdn.as_str()), "the signature's MSISDN as sent");
                assert_eq!(openssl_verify(&base64_signature(resp), &server.root_ca_path()), text.as_bytes());
                if style == Style::B {
                    // The AD FS plug-in's status XPath (contract §3.2).
                    let steps = [(Some(ENV_NS), "Envelope"), (Some(ENV_NS), "Body"), (Some(KIURU_WSDL_NS), "MSS_StatusQueryResponse"),
                        (None, "MSS_StatusResp"), (Some(MSS_NS), "Status"), (Some(MSS_NS), "StatusCode")];
                    assert_eq!(xpath_attribute(&doc, &steps, "Value").as_deref(), Some("500"), "{}", answer.body);
                }

                let sent = receipt(style, &id, &msisdn, pwd);
                let (content_type, action) = next_headers();
                let answer = post_soap(&server.ap, &url, content_type, action.as_deref(), &sent.xml).await;
                let doc = assert_soap_answer(&answer);
                let resp = assert_response(&doc, &answer, &sent, style, "MSS_Receipt", "MSS_ReceiptResp", &["AP_Info", "MSSP_Info", "Status"]);
                assert_eq!(status_code(resp), ("100".into(), "REQUEST_OK".into()));

                let sent = profile(style, &msisdn, pwd);
                let (content_type, action) = next_headers();
                let answer = post_soap(&server.ap, &url, content_type, action.as_deref(), &sent.xml).await;
                let doc = assert_soap_answer(&answer);
                let order = ["AP_Info", "MSSP_Info", "SignatureProfile", "SignatureProfile", "SignatureProfile", "SignatureProfile", "Status"];
                let resp = assert_response(&doc, &answer, &sent, style, "MSS_ProfileQuery", "MSS_ProfileResp", &order);
                assert_eq!(status_code(resp), ("100".into(), "REQUEST_OK".into()));
                assert_eq!((resp.attribute("MajorVersion"), resp.attribute("MinorVersion")), (Some("2"), Some("0")));
            }
        }
    }
}

on_both_databases! {
    /// The worked examples of contract §15.3 (style A, with `soap:encodingStyle`, the
    /// xsi/xsd declarations and an empty Header) and §15.4 (JAX-WS style B status query).
    async fn contract_examples_are_accepted(server) {
        let trans_id = fresh_trans_id();
        let request = format!(
            r#"<soapenv:Envelope xmlns:soapenv="http://www.w3.org/2003/05/soap-envelope"
    xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" soap:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema"
    xmlns:mss="http://uri.etsi.org/TS102204/v1.1.2#" xmlns:fi="http://mss.ficom.fi/TS102204/v1.0.0#">
 <soapenv:Header/>
 <soapenv:Body>
  <MSS_Signature>
   <mss:MSS_SignatureReq MajorVersion="1" MinorVersion="1" MessagingMode="synch" TimeOut="80">
    <mss:AP_Info AP_ID="{DEMO_AP}" AP_PWD="" AP_TransID="{trans_id}" Instant="{instant}"/>
    <mss:MSSP_Info><mss:MSSP_ID><mss:URI>http://mid.swisscom.ch/</mss:URI></mss:MSSP_ID></mss:MSSP_Info>
    <mss:MobileUser><mss:MSISDN>41700092501</mss:MSISDN></mss:MobileUser>
    <mss:DataToBeSigned MimeType="text/plain" Encoding="UTF-8">Demo: Log in? (K7Q2)</mss:DataToBeSigned>
    <mss:SignatureProfile><mss:mssURI>http://mid.swisscom.ch/MID/v1/AuthProfile1</mss:mssURI></mss:SignatureProfile>
    <mss:AdditionalServices>
     <mss:Service><mss:Description><mss:mssURI>http://mss.ficom.fi/TS102204/v1.0.0#userLang</mss:mssURI></mss:Description><fi:UserLang>de</fi:UserLang></mss:Service>
    </mss:AdditionalServices>
   </mss:MSS_SignatureReq>
  </MSS_Signature>
 </soapenv:Body>
</soapenv:Envelope>"#,
            instant = chrono::Local::now().format("%Y-%m-%dT%H:%M:%S%:z"),
        );
        let url = format!("{}/soap/services/MSS_SignaturePort", server.base);
        let answer = post_soap(&server.ap, &url, "text/xml;charset=UTF-8", Some("#MSS_Signature"), &request).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        let doc = assert_soap_answer(&answer);
        assert!(answer.body.contains(r#"<soapenv:Body><MSS_SignatureResponse xmlns=""><mss:MSS_SignatureResp "#), "{}", answer.body);
        let sent = Sent { xml: request.clone(), ap_trans_id: trans_id, ap_pwd: String::new(), msisdn: Some("41700092501".into()) };
        let order = ["AP_Info", "MSSP_Info", "MobileUser", "MSS_Signature", "SignatureProfile", "Status"];
        let resp = assert_response(&doc, &answer, &sent, Style::A, "MSS_Signature", "MSS_SignatureResp", &order);
        assert_eq!(status_code(resp), ("500".into(), "SIGNATURE".into()));
        assert_eq!(openssl_verify(&base64_signature(resp), &server.root_ca_path()), b"Demo: Log in? (K7Q2)");
        let id = resp.attribute("MSSP_TransID").expect("MSSP_TransID").to_string();

        let trans_id = fresh_trans_id();
        let request = format!(
            r#"<S:Envelope xmlns:S="http://www.w3.org/2003/05/soap-envelope">
 <S:Body>
  <ns9:MSS_StatusQuery xmlns:ns9="http://uri.etsi.org/TS102204/etsi204-kiuru.wsdl" xmlns:ns5="http://uri.etsi.org/TS102204/v1.1.2#">
   <MSS_StatusReq MSSP_TransID="{id}" MajorVersion="1" MinorVersion="2">
    <ns5:AP_Info AP_ID="{DEMO_AP}" AP_PWD="" AP_TransID="{trans_id}" Instant="{}"/>
    <ns5:MSSP_Info><ns5:MSSP_ID><ns5:URI>http://mid.swisscom.ch/</ns5:URI></ns5:MSSP_ID></ns5:MSSP_Info>
    <ns5:MobileUser><ns5:MSISDN>41700092501</ns5:MSISDN></ns5:MobileUser>
   </MSS_StatusReq>
  </ns9:MSS_StatusQuery>
 </S:Body>
</S:Envelope>"#,
            now_instant()
        );
        let url = format!("{}/soap/services/MSS_StatusQueryPort", server.base);
        let answer = post_soap(&server.ap, &url, r#"application/soap+xml; charset=utf-8;action="""#, None, &request).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        let doc = assert_soap_answer(&answer);
        assert!(
            answer.body.contains(r#"<MSS_StatusQueryResponse xmlns="http://uri.etsi.org/TS102204/etsi204-kiuru.wsdl"><MSS_StatusResp xmlns="" "#),
            "{}", answer.body
        );
        let sent = Sent { xml: request.clone(), ap_trans_id: trans_id, ap_pwd: String::new(), msisdn: None };
        let order = ["AP_Info", "MSSP_Info", "MobileUser", "MSS_Signature", "Status"];
        let resp = assert_response(&doc, &answer, &sent, Style::B, "MSS_StatusQuery", "MSS_StatusResp", &order);
        assert_eq!(status_code(resp), ("500".into(), "SIGNATURE".into()));
        let steps = [(Some(ENV_NS), "Envelope"), (Some(ENV_NS), "Body"), (Some(KIURU_WSDL_NS), "MSS_StatusQueryResponse"),
            (None, "MSS_StatusResp"), (Some(MSS_NS), "Status"), (Some(MSS_NS), "StatusCode")];
        assert_eq!(xpath_attribute(&doc, &steps, "Value").as_deref(), Some("500"));
    }
}

on_both_databases! {
    /// Faults in SOAP form: the 105 test number and an unknown MSISDN in styles A and B, a
    /// SOAP 1.1 envelope (101), and the AP authentication rules of REST (104).
    async fn faults_in_soap_form(server) {
        let url = format!("{}/soap/services/MSS_SignaturePort", server.base);
        for style in [Style::A, Style::B] {
            for msisdn in ["+41000092105", "+41791000499"] {
                let sent = signature(style, msisdn, "Demo: fault?", "");
                let answer = post_soap(&server.ap, &url, "text/xml", Some("#MSS_Signature"), &sent.xml).await;
                assert_soap_fault(&answer, 105, "UNKNOWN_CLIENT", "MSISDN is unknown");
            }
        }

        let soap11 = signature(Style::A, ROBOT_EC, "Demo: SOAP 1.1?", "")
            .xml
            .replace("http://www.w3.org/2003/05/soap-envelope", "http://schemas.xmlsoap.org/soap/envelope/");
        let answer = post_soap(&server.ap, &url, "text/xml;charset=UTF-8", Some("#MSS_Signature"), &soap11).await;
        assert_soap_fault(&answer, 101, "WRONG_PARAM", "SOAP 1.1 envelopes are not supported: use SOAP 1.2");

        // No client certificate, another AP's certificate, an unknown AP_ID: 104, as in REST.
        let signed = signature(Style::A, ROBOT_EC, "Demo: who?", "");
        let anonymous = server.anonymous_client();
        let answer = post_soap(&anonymous, &url, "text/xml", None, &signed.xml).await;
        assert_soap_fault(&answer, 104, "UNAUTHORIZED_ACCESS", "Wrong SSL credentials");
        let other = server.other_ap("mid://other.example");
        let answer = post_soap(&other, &url, "text/xml", None, &signature(Style::B, ROBOT_EC, "Demo: who?", "").xml).await;
        assert_soap_fault(&answer, 104, "UNAUTHORIZED_ACCESS", "Wrong SSL credentials");
        let unknown_ap = signature(Style::A, ROBOT_EC, "Demo: who?", "").xml.replace(DEMO_AP, "mid://nobody.example");
        let answer = post_soap(&server.ap, &url, "text/xml", None, &unknown_ap).await;
        assert_soap_fault(&answer, 104, "UNAUTHORIZED_ACCESS", "Wrong SSL credentials");
        // The other AP may use SOAP for its own AP_ID (not the robots: a 105, still SOAP).
        let own = signature(Style::A, ROBOT_EC, "Demo: mine?", "").xml.replace(DEMO_AP, "mid://other.example");
        let answer = post_soap(&other, &url, "text/xml", None, &own).await;
        assert_eq!(answer.status, 500, "{}", answer.body);
        assert!(answer.body.contains("<soapenv:Value>mss:_105</soapenv:Value>"), "{}", answer.body);
    }
}

on_both_databases! {
    /// The same DTBD signed by the same phone through SOAP and through REST: both CMS verify
    /// with openssl, with the same content and the same signer certificate.
    async fn soap_and_rest_signatures_verify_identically(server) {
        let msisdn = "+41791000401";
        let mut phone = server.phone(msisdn).await;
        let text = "Demo: Same text on both wires? äöü €";

        let sent = signature(Style::A, msisdn, text, "");
        let (ap, url) = (server.ap.clone(), format!("{}/soap/services/MSS_SignaturePort", server.base));
        let pending = tokio::spawn(async move { post_soap(&ap, &url, "text/xml;charset=UTF-8", None, &sent.xml).await });
        let shown = approve_next(&mut phone).await;
        assert_eq!(shown.data, text);
        let answer = pending.await.unwrap();
        assert_eq!(answer.status, 200, "{}", answer.body);
        let doc = assert_soap_answer(&answer);
        let body = child(doc.root_element(), Some(ENV_NS), "Body").unwrap();
        let resp = element_children(element_children(body).next().unwrap()).next().unwrap();
        assert_eq!(status_code(resp), ("500".into(), "SIGNATURE".into()));
        let (soap_content, soap_signer) = openssl_verify_with_signer(&base64_signature(resp), &server.root_ca_path());

        let request = signature_request(msisdn, text, "synch");
        let (ap, url) = (server.ap.clone(), format!("{}/rest/service/sign", server.base));
        let pending = tokio::spawn(async move { post_json(&ap, &url, &request).await });
        approve_next(&mut phone).await;
        let (status, body) = pending.await.unwrap();
        assert_eq!(status, 200, "{body}");
        let b64 = body["MSS_SignatureResp"]["MSS_Signature"]["Base64Signature"].as_str().expect("Base64Signature");
        let (rest_content, rest_signer) = openssl_verify_with_signer(b64, &server.root_ca_path());

        assert_eq!(soap_content, text.as_bytes());
        assert_eq!(rest_content, soap_content);
        assert_eq!(rest_signer, soap_signer, "the same certificate signs both");
        let subject = subject_of(&soap_signer);
        assert!(subject.contains(&phone.state().serial_number), "{subject}");
        assert!(phone.inbox(Duration::ZERO).await.unwrap().requests.is_empty());
    }
}
