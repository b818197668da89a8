//! The signed attributes of a PDF signature (PAdES baseline, ETSI EN 319 142-1 §5.1 and
//! ETSI EN 319 122-1 §5.2): contentType id-data, messageDigest of the revision's signed
//! byte range, the ESS signingCertificateV2 that binds the signer's certificate
//! (RFC 5035), randomNonce as in every Mobile ID signature, and our document commitment.
//! No signingTime: PAdES puts the claimed time in the signature dictionary.
//!
//! The messageDigest depends on every byte of the revision, which the signer's phone
//! never sees; what the signer saw is the document. The commitment attribute carries its
//! name, length and SHA-256, so the phone can check that it signs what it shows, and
//! anyone holding the signed PDF can check that the document signed is the file's first
//! `length` bytes.

use sha2::{Digest, Sha256};

use crate::der::{self, oid, tag, Reader};
use crate::{cert, CryptoError};

/// The document as the signer saw it: the revision a signature covers begins with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentCommitment {
    pub name: String,
    pub length: u64,
    pub sha256: [u8; 32],
}

/// The DER `SET OF Attribute` the signer signs for one PDF revision.
pub fn pdf_signed_attributes(
    revision_digest: &[u8; 32],
    nonce: &[u8; 8],
    signer_cert_der: &[u8],
    document: &DocumentCommitment,
) -> Result<Vec<u8>, CryptoError> {
    let signer = cert::parse(signer_cert_der)?;
    // ESSCertIDv2 with the default hash (SHA-256, so omitted) and the issuerSerial that
    // names the certificate the way the SignerInfo does.
    let issuer = der::sequence(&[&der::constructed(tag::CONTEXT_4, &[signer.issuer().as_raw()])]);
    let issuer_serial = der::sequence(&[&issuer, &der::tlv(tag::INTEGER, signer.raw_serial())]);
    let cert_id = der::sequence(&[&der::octet_string(&Sha256::digest(signer_cert_der)), &issuer_serial]);
    let signing_certificate = der::sequence(&[&der::sequence(&[&cert_id])]);
    let commitment = der::sequence(&[
        &der::utf8_string(&document.name),
        &der::unsigned_integer(document.length),
        &der::octet_string(&document.sha256),
    ]);
    Ok(der::set_of(vec![
        attribute(oid::CONTENT_TYPE, &der::oid(oid::DATA)),
        attribute(oid::MESSAGE_DIGEST, &der::octet_string(revision_digest)),
        attribute(oid::RANDOM_NONCE, &der::octet_string(nonce)),
        attribute(oid::SIGNING_CERTIFICATE_V2, &signing_certificate),
        attribute(oid::DOCUMENT_COMMITMENT, &commitment),
    ]))
}

/// The phone's check: `offered` must be exactly the attributes for `document`, `nonce`
/// and `signer_cert_der`, whatever revision digest they carry. Returns that digest.
pub fn check_pdf_signed_attributes(
    offered: &[u8],
    nonce: &[u8; 8],
    signer_cert_der: &[u8],
    document: &DocumentCommitment,
) -> Result<[u8; 32], CryptoError> {
    let mismatch = || CryptoError::MalformedCms("the attributes to sign are not those of the document shown".into());
    let revision_digest = message_digest(offered)?.ok_or_else(mismatch)?;
    if pdf_signed_attributes(&revision_digest, nonce, signer_cert_der, document)? == offered {
        Ok(revision_digest)
    } else {
        Err(mismatch())
    }
}

fn message_digest(attributes: &[u8]) -> Result<Option<[u8; 32]>, CryptoError> {
    let mut list = Reader::new(attributes).expect_last(tag::SET, "signed attributes")?.children();
    while !list.is_empty() {
        let mut attribute = list.expect(tag::SEQUENCE, "Attribute")?.children();
        if attribute.expect(tag::OID, "Attribute.attrType")?.content == oid::MESSAGE_DIGEST {
            let value =
                attribute.expect_last(tag::SET, "values")?.children().expect_last(tag::OCTET_STRING, "digest")?;
            return Ok(<[u8; 32]>::try_from(value.content).ok());
        }
    }
    Ok(None)
}

fn attribute(attribute_type: &[u8], value: &[u8]) -> Vec<u8> {
    der::sequence(&[&der::oid(attribute_type), &der::set_of(vec![value.to_vec()])])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{assemble_signed_data, verify_detached_signed_data, CertificateAuthority, KeyAlgorithm, PrivateKey};

    fn document() -> DocumentCommitment {
        DocumentCommitment { name: "Vertrag Zürich.pdf".into(), length: 123_456, sha256: [7; 32] }
    }

    #[test]
    fn the_phone_accepts_exactly_the_attributes_of_what_it_shows() {
        let ca = CertificateAuthority::create("Test", None).unwrap();
        let key = PrivateKey::generate(KeyAlgorithm::EcP256).unwrap();
        let cert = ca.issue_user_certificate(&key.csr_der("phone").unwrap(), "MIDCHE0123456789", 30, None).unwrap();
        let nonce = [3; 8];
        let attrs = pdf_signed_attributes(&[9; 32], &nonce, &cert, &document()).unwrap();
        assert_eq!(check_pdf_signed_attributes(&attrs, &nonce, &cert, &document()).unwrap(), [9; 32]);

        let other = DocumentCommitment { sha256: [8; 32], ..document() };
        assert!(check_pdf_signed_attributes(&attrs, &nonce, &cert, &other).is_err());
        assert!(check_pdf_signed_attributes(&attrs, &[4; 8], &cert, &document()).is_err());
        let mut extended = attrs.clone();
        extended.extend_from_slice(&[0x30, 0]);
        assert!(check_pdf_signed_attributes(&extended, &nonce, &cert, &document()).is_err());

        // A detached CMS over them verifies against the revision digest.
        let signature = key.sign(&attrs).unwrap();
        let cms = assemble_signed_data(None, &attrs, &signature, &cert, &ca.chain(), KeyAlgorithm::EcP256).unwrap();
        verify_detached_signed_data(&cms, &[9; 32]).unwrap();
    }

    #[test]
    fn integers_and_strings_encode_as_der() {
        assert_eq!(der::unsigned_integer(0), vec![2, 1, 0]);
        assert_eq!(der::unsigned_integer(0x80), vec![2, 2, 0, 0x80]);
        assert_eq!(der::unsigned_integer(123_456), vec![2, 3, 0x01, 0xe2, 0x40]);
        assert_eq!(der::utf8_string("ü"), vec![0x0c, 2, 0xc3, 0xbc]);
    }
}
