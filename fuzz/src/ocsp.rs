//! OCSP requests, which anyone may send to the responder.

use std::sync::OnceLock;

use der::Decode;
use mobileid_crypto::{CertificateAuthority, CertificateStatus, OcspResponder, MAX_OCSP_QUERIES};
use x509_ocsp::{BasicOcspResponse, OcspResponse, OcspResponseStatus};

fn responder() -> &'static OcspResponder {
    static RESPONDER: OnceLock<OcspResponder> = OnceLock::new();
    RESPONDER.get_or_init(|| {
        let ca = CertificateAuthority::create("Fuzz", None).expect("CA");
        OcspResponder::new(ca.issue_ocsp_responder("Fuzz", 30).expect("responder"), &ca.issuing.cert_der)
            .expect("responder")
    })
}

pub fn ocsp_request(data: &[u8]) {
    let responder = responder();
    let Ok(query) = responder.read_request(data) else { return };
    assert!((1..=MAX_OCSP_QUERIES).contains(&query.serials.len()));
    for serial in query.serials.iter().flatten() {
        assert!(serial == "0" || !serial.starts_with('0'), "{serial}");
        assert!(serial.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)), "{serial}");
    }
    // Whatever was accepted can be answered, and the answer reads back: successful, one
    // response per certificate asked about.
    let statuses = vec![CertificateStatus::Unknown; query.serials.len()];
    let answer = responder.respond(&query, &statuses, chrono::Utc::now()).expect("an accepted request is answered");
    let response = OcspResponse::from_der(&answer).expect("our answer decodes");
    assert_eq!(response.response_status, OcspResponseStatus::Successful);
    let bytes = response.response_bytes.expect("response bytes");
    let basic = BasicOcspResponse::from_der(bytes.response.as_bytes()).expect("basic response decodes");
    assert_eq!(basic.tbs_response_data.responses.len(), query.serials.len());
}
