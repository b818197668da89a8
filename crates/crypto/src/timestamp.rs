//! RFC 3161 time-stamps for CMS signatures (PAdES B-T): the request for a signature
//! value, the check of the authority's answer, and the token added to the SignerInfo as
//! the unsigned attribute signatureTimeStampToken (RFC 3161 appendix A). The token's own
//! signature and the authority's certificate are for the verifier to judge (it trusts
//! the authority or not); here the answer must be granted and stamp exactly what was
//! asked, with the nonce asked.

use sha2::{Digest, Sha256};

use crate::der::{self, oid, tag, Element, Reader};
use crate::CryptoError;

/// A request for a time-stamp on `signature_value`, with its nonce.
pub fn timestamp_request(signature_value: &[u8]) -> (Vec<u8>, [u8; 8]) {
    let mut nonce: [u8; 8] = rand::random();
    // A positive INTEGER with no leading zero octet.
    nonce[0] = (nonce[0] & 0x7f) | 0x01;
    let imprint = message_imprint(signature_value);
    let request = der::sequence(&[
        &der::small_integer(1),
        &imprint,
        &der::tlv(tag::INTEGER, &nonce),
        // certReq: the token carries the authority's certificate.
        &der::tlv(0x01, &[0xff]),
    ]);
    (request, nonce)
}

fn message_imprint(signature_value: &[u8]) -> Vec<u8> {
    der::sequence(&[
        &der::sequence(&[&der::oid(oid::SHA256), &der::null()]),
        &der::octet_string(&Sha256::digest(signature_value)),
    ])
}

/// The token of a time-stamp response, once it is granted and stamps `signature_value`
/// with `nonce`.
pub fn timestamp_token(response: &[u8], signature_value: &[u8], nonce: &[u8; 8]) -> Result<Vec<u8>, CryptoError> {
    let bad = |why: &str| CryptoError::MalformedCms(format!("time-stamp response: {why}"));
    let mut fields = Reader::new(response).expect_last(tag::SEQUENCE, "TimeStampResp")?.children();
    let mut status = fields.expect(tag::SEQUENCE, "PKIStatusInfo")?.children();
    let granted = status.expect(tag::INTEGER, "PKIStatus")?.content;
    if !(granted == [0] || granted == [1]) {
        return Err(bad("the authority refused it"));
    }
    let token = fields.expect(tag::SEQUENCE, "timeStampToken")?;
    let info = tst_info(token)?;
    let mut info = Reader::new(&info).expect_last(tag::SEQUENCE, "TSTInfo")?.children();
    info.expect(tag::INTEGER, "TSTInfo.version")?;
    info.expect(tag::OID, "policy")?;
    if info.expect(tag::SEQUENCE, "messageImprint")?.raw != message_imprint(signature_value).as_slice() {
        return Err(bad("it stamps something else"));
    }
    info.expect(tag::INTEGER, "serialNumber")?;
    info.expect(0x18, "genTime")?;
    // accuracy and ordering are optional; the nonce must be ours.
    let mut found = None;
    while !info.is_empty() {
        let element = info.read()?;
        if element.tag == tag::INTEGER {
            found = Some(element.content);
            break;
        }
    }
    if found != Some(nonce.as_slice()) {
        return Err(bad("its nonce is not ours"));
    }
    Ok(token.raw.to_vec())
}

/// The TSTInfo inside a token: the SignedData's encapsulated content.
fn tst_info(token: Element<'_>) -> Result<Vec<u8>, CryptoError> {
    let mut fields = token.children();
    if fields.expect(tag::OID, "contentType")?.content != oid::SIGNED_DATA {
        return Err(CryptoError::MalformedCms("the time-stamp token is not a SignedData".into()));
    }
    let mut signed_data =
        fields.expect_last(tag::CONTEXT_0, "content")?.children().expect_last(tag::SEQUENCE, "SignedData")?.children();
    signed_data.expect(tag::INTEGER, "version")?;
    signed_data.expect(tag::SET, "digestAlgorithms")?;
    let mut encapsulated = signed_data.expect(tag::SEQUENCE, "encapContentInfo")?.children();
    if encapsulated.expect(tag::OID, "eContentType")?.content != oid::TST_INFO {
        return Err(CryptoError::MalformedCms("the time-stamp token holds no TSTInfo".into()));
    }
    let content =
        encapsulated.expect_last(tag::CONTEXT_0, "eContent")?.children().expect_last(tag::OCTET_STRING, "TSTInfo")?;
    Ok(content.content.to_vec())
}

/// The signature value of a CMS SignedData with one signer (what a time-stamp covers).
pub fn signature_value(cms_der: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let (_, signer_info) = signer_info(cms_der)?;
    let mut fields = signer_info.children();
    let mut value = None;
    while !fields.is_empty() {
        let element = fields.read()?;
        if element.tag == tag::OCTET_STRING {
            value = Some(element.content.to_vec());
        }
    }
    value.ok_or_else(|| CryptoError::MalformedCms("the SignerInfo has no signature".into()))
}

/// `cms_der` with `token` added as the signer's signatureTimeStampToken.
pub fn with_signature_timestamp(cms_der: &[u8], token: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let (signed_data, signer_info) = signer_info(cms_der)?;
    let mut parts: Vec<&[u8]> = Vec::new();
    let mut fields = signer_info.children();
    while !fields.is_empty() {
        let element = fields.read()?;
        if element.tag == 0xA1 {
            return Err(CryptoError::MalformedCms("the signature has unsigned attributes already".into()));
        }
        parts.push(element.raw);
    }
    let attribute = der::sequence(&[&der::oid(oid::SIGNATURE_TIME_STAMP_TOKEN), &der::set_of(vec![token.to_vec()])]);
    let unsigned = der::constructed(0xA1, &[&attribute]);
    parts.push(&unsigned);
    let signer_infos = der::set_of(vec![der::sequence(&parts)]);

    let mut outer: Vec<&[u8]> = Vec::new();
    let mut fields = signed_data.children();
    while !fields.is_empty() {
        let element = fields.read()?;
        if fields.is_empty() {
            break; // the signerInfos, replaced
        }
        outer.push(element.raw);
    }
    outer.push(&signer_infos);
    let signed_data = der::sequence(&outer);
    Ok(der::sequence(&[&der::oid(oid::SIGNED_DATA), &der::constructed(tag::CONTEXT_0, &[&signed_data])]))
}

/// The SignedData and its one SignerInfo.
fn signer_info(cms_der: &[u8]) -> Result<(Element<'_>, Element<'_>), CryptoError> {
    let mut content_info = Reader::new(cms_der).expect_last(tag::SEQUENCE, "ContentInfo")?.children();
    if content_info.expect(tag::OID, "contentType")?.content != oid::SIGNED_DATA {
        return Err(CryptoError::MalformedCms("not a SignedData".into()));
    }
    let signed_data =
        content_info.expect_last(tag::CONTEXT_0, "content")?.children().expect_last(tag::SEQUENCE, "SignedData")?;
    let mut fields = signed_data.children();
    let mut last = None;
    while !fields.is_empty() {
        last = Some(fields.read()?);
    }
    let signer_infos =
        last.filter(|e| e.tag == tag::SET).ok_or_else(|| CryptoError::MalformedCms("no signerInfos".into()))?;
    let signer_info = signer_infos.children().expect_last(tag::SEQUENCE, "one SignerInfo")?;
    Ok((signed_data, signer_info))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_asks_for_the_hash_of_the_value_with_a_positive_nonce() {
        let (request, nonce) = timestamp_request(b"signature");
        assert!(nonce[0] & 0x80 == 0 && nonce[0] != 0);
        let imprint = message_imprint(b"signature");
        assert!(request.windows(imprint.len()).any(|w| w == imprint.as_slice()));
        assert!(timestamp_token(&[0x30, 0x03, 0x30, 0x01, 0x02], b"x", &nonce).is_err());
    }
}
