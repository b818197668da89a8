//! CMS SignedData (RFC 5652) in the shape Swisscom Mobile ID produces (contract §9.2):
//! attached content, SHA-256, signed attributes contentType + randomNonce + messageDigest,
//! one SignerInfo identified by issuer and serial number.
//!
//! Signing is split in two because the private key is elsewhere: the server builds the
//! signed attributes, the phone (or a robot key on the server) signs their DER, and the
//! server assembles the container around that signature.

use sha2::{Digest, Sha256};

use crate::der::{self, oid, tag, DerError, Element, Reader};
use crate::keys::{verify_signature, KeyAlgorithm, SubjectKey};
use crate::{cert, CryptoError};

/// What a valid signature says: the signed content and who signed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedSignature {
    /// The attached content (the DTBS), byte for byte.
    pub content: Vec<u8>,
    pub signer_certificate_der: Vec<u8>,
    /// Every certificate the container carries, in its order (signer first in ours).
    pub certificates: Vec<Vec<u8>>,
}

impl From<DerError> for CryptoError {
    // The DER reader only ever reads CMS in this crate.
    fn from(e: DerError) -> Self {
        CryptoError::MalformedCms(e.0.to_owned())
    }
}

/// The DER `SET OF Attribute` that the signer signs: contentType id-data, randomNonce,
/// and messageDigest SHA-256(`content`), in DER order. No signingTime, as in production.
///
/// Deterministic: the phone rebuilds it from the text it shows and compares the bytes
/// with what the server asks it to sign.
pub fn signed_attributes(content: &[u8], nonce: &[u8; 8]) -> Vec<u8> {
    signed_attributes_for_digest(&Sha256::digest(content).into(), nonce)
}

/// The same attributes for content that is not at hand (a document, signed detached):
/// `digest` is its SHA-256.
pub fn signed_attributes_for_digest(digest: &[u8; 32], nonce: &[u8; 8]) -> Vec<u8> {
    der::set_of(vec![
        attribute(oid::CONTENT_TYPE, &der::oid(oid::DATA)),
        attribute(oid::RANDOM_NONCE, &der::octet_string(nonce)),
        attribute(oid::MESSAGE_DIGEST, &der::octet_string(digest)),
    ])
}

fn attribute(attribute_type: &[u8], value: &[u8]) -> Vec<u8> {
    der::sequence(&[&der::oid(attribute_type), &der::set_of(vec![value.to_vec()])])
}

/// Builds the DER `ContentInfo` around a signature over `signed_attrs_der`.
///
/// `chain` follows the signer certificate in the `certificates` field, in the given order
/// (issuing CA, root), as Swisscom's signatures do. That field is a SET OF, which strict
/// DER would sort; it is not signed, and clients that build a path from it want the
/// signer first, so the order is kept.
///
/// `content` is None for a detached signature (a document's digest): the
/// encapsulated content info then carries the content type only.
pub fn assemble_signed_data(
    content: Option<&[u8]>,
    signed_attrs_der: &[u8],
    signature: &[u8],
    signer_cert_der: &[u8],
    chain: &[Vec<u8>],
    algorithm: KeyAlgorithm,
) -> Result<Vec<u8>, CryptoError> {
    let attrs = Reader::new(signed_attrs_der).expect_last(tag::SET, "signed attributes must be one DER SET")?;
    let signer = cert::parse(signer_cert_der)?;
    let key_algorithm = SubjectKey::from_spki(signer.public_key())?.algorithm();
    if key_algorithm != algorithm {
        return Err(CryptoError::MalformedCms(format!(
            "the signer certificate holds an {} key, not {}",
            key_algorithm.name(),
            algorithm.name()
        )));
    }

    let sha256 = der::sequence(&[&der::oid(oid::SHA256), &der::null()]);
    let signature_algorithm = match algorithm {
        // RFC 5758 3.2: ECDSA algorithm identifiers have no parameters.
        KeyAlgorithm::EcP256 => der::sequence(&[&der::oid(oid::ECDSA_WITH_SHA256)]),
        // RFC 3370 3.2 / RFC 5754 3.2 allow rsaEncryption or sha256WithRSAEncryption here;
        // rsaEncryption (with NULL) is what OpenSSL, BouncyCastle and .NET write and what
        // every verifier accepts, including old ones that reject the combined OID.
        KeyAlgorithm::Rsa2048 => der::sequence(&[&der::oid(oid::RSA_ENCRYPTION), &der::null()]),
    };
    let issuer_and_serial = der::sequence(&[signer.issuer().as_raw(), &der::tlv(tag::INTEGER, signer.raw_serial())]);
    // signedAttrs is `[0] IMPLICIT SET OF`: the same bytes with the tag replaced.
    let mut implicit_attrs = attrs.raw.to_vec();
    implicit_attrs[0] = tag::CONTEXT_0;

    let signer_info = der::sequence(&[
        &der::small_integer(1),
        &issuer_and_serial,
        &sha256,
        &implicit_attrs,
        &signature_algorithm,
        &der::octet_string(signature),
    ]);
    let mut certificates: Vec<&[u8]> = vec![signer_cert_der];
    certificates.extend(chain.iter().map(Vec::as_slice));
    let encapsulated = match content {
        Some(content) => {
            der::sequence(&[&der::oid(oid::DATA), &der::constructed(tag::CONTEXT_0, &[&der::octet_string(content)])])
        }
        None => der::sequence(&[&der::oid(oid::DATA)]),
    };
    let signed_data = der::sequence(&[
        &der::small_integer(1),
        &der::set_of(vec![sha256]),
        &encapsulated,
        &der::constructed(tag::CONTEXT_0, &certificates),
        &der::set_of(vec![signer_info]),
    ]);
    Ok(der::sequence(&[&der::oid(oid::SIGNED_DATA), &der::constructed(tag::CONTEXT_0, &[&signed_data])]))
}

/// Checks a DER SignedData with attached content and one signer: the messageDigest
/// attribute matches the content, and the signature over the signed attributes verifies
/// with the key of the certificate the SignerInfo names.
///
/// Whether that certificate is trustworthy is a separate question: see
/// [`crate::verify_chain`].
pub fn verify_signed_data(cms_der: &[u8]) -> Result<VerifiedSignature, CryptoError> {
    let parsed = ParsedSignedData::read(cms_der)?;
    let content =
        parsed.content.ok_or_else(|| CryptoError::MalformedCms("detached signatures are not supported here".into()))?;
    let digest: [u8; 32] = Sha256::digest(content).into();
    verify_parsed(&parsed, &digest)
}

/// Checks a detached SignedData (no encapsulated content) over content whose SHA-256 is
/// `digest`, such as a document: otherwise as [`verify_signed_data`]. The returned
/// `content` is empty.
pub fn verify_detached_signed_data(cms_der: &[u8], digest: &[u8; 32]) -> Result<VerifiedSignature, CryptoError> {
    let parsed = ParsedSignedData::read(cms_der)?;
    if parsed.content.is_some() {
        return Err(CryptoError::MalformedCms("expected a detached signature".into()));
    }
    verify_parsed(&parsed, digest)
}

fn verify_parsed(parsed: &ParsedSignedData<'_>, digest: &[u8; 32]) -> Result<VerifiedSignature, CryptoError> {
    let signer_certificate = parsed
        .certificates
        .iter()
        .find(|der| {
            cert::parse(der)
                .is_ok_and(|c| c.issuer().as_raw() == parsed.signer_issuer && c.raw_serial() == parsed.signer_serial)
        })
        .ok_or_else(|| CryptoError::MalformedCms("the signer's certificate is not in the container".into()))?;
    let key = SubjectKey::from_certificate_der(signer_certificate)?;
    check_signature_algorithm(key.algorithm(), parsed.signature_algorithm)?;

    let attributes = SignedAttributes::read(parsed.signed_attrs)?;
    if attributes.content_type != oid::DATA {
        return Err(CryptoError::MalformedCms("the contentType attribute is not id-data".into()));
    }
    if attributes.message_digest != digest.as_slice() {
        return Err(CryptoError::ContentDigestMismatch);
    }

    // The signature covers the attributes with their universal SET tag, not the [0].
    let mut signed_bytes = parsed.signed_attrs.raw.to_vec();
    signed_bytes[0] = tag::SET;
    verify_signature(&key, &signed_bytes, parsed.signature)?;

    Ok(VerifiedSignature {
        content: parsed.content.unwrap_or_default().to_vec(),
        signer_certificate_der: signer_certificate.to_vec(),
        certificates: parsed.certificates.iter().map(|c| c.to_vec()).collect(),
    })
}

fn check_signature_algorithm(key: KeyAlgorithm, algorithm: Element<'_>) -> Result<(), CryptoError> {
    let algorithm_oid = algorithm.children().expect(tag::OID, "signatureAlgorithm")?.content;
    let acceptable = match key {
        KeyAlgorithm::EcP256 => algorithm_oid == oid::ECDSA_WITH_SHA256,
        KeyAlgorithm::Rsa2048 => algorithm_oid == oid::RSA_ENCRYPTION || algorithm_oid == oid::SHA256_WITH_RSA,
    };
    if acceptable {
        Ok(())
    } else {
        Err(CryptoError::MalformedCms(format!("unsupported signature algorithm for an {} key", key.name())))
    }
}

/// The parts of a SignedData that verification needs, borrowed from the input.
struct ParsedSignedData<'a> {
    /// None when the signature is detached.
    content: Option<&'a [u8]>,
    certificates: Vec<&'a [u8]>,
    signer_issuer: &'a [u8],
    signer_serial: &'a [u8],
    signed_attrs: Element<'a>,
    signature_algorithm: Element<'a>,
    signature: &'a [u8],
}

impl<'a> ParsedSignedData<'a> {
    fn read(cms_der: &'a [u8]) -> Result<Self, CryptoError> {
        let content_info = Reader::new(cms_der).expect_last(tag::SEQUENCE, "ContentInfo")?;
        let mut fields = content_info.children();
        if fields.expect(tag::OID, "contentType")?.content != oid::SIGNED_DATA {
            return Err(CryptoError::MalformedCms("not a SignedData".into()));
        }
        let signed_data = fields
            .expect_last(tag::CONTEXT_0, "ContentInfo.content")?
            .children()
            .expect_last(tag::SEQUENCE, "SignedData")?;

        let mut fields = signed_data.children();
        fields.expect(tag::INTEGER, "SignedData.version")?;
        let digest_algorithms = fields.expect(tag::SET, "digestAlgorithms")?;
        check_digest_algorithms(digest_algorithms)?;

        let mut encapsulated = fields.expect(tag::SEQUENCE, "encapContentInfo")?.children();
        if encapsulated.expect(tag::OID, "eContentType")?.content != oid::DATA {
            return Err(CryptoError::MalformedCms("eContentType is not id-data".into()));
        }
        let content = if encapsulated.is_empty() {
            None
        } else {
            Some(
                encapsulated
                    .expect_last(tag::CONTEXT_0, "eContent")?
                    .children()
                    .expect_last(tag::OCTET_STRING, "eContent must be one OCTET STRING")?
                    .content,
            )
        };

        let mut certificates = Vec::new();
        if fields.peek_tag() == Some(tag::CONTEXT_0) {
            let mut list = fields.read()?.children();
            while !list.is_empty() {
                certificates.push(list.read()?.raw);
            }
        }
        // [1] crls: not used by Mobile ID; skipped if present.
        if fields.peek_tag() == Some(0xA1) {
            fields.read()?;
        }
        let mut signer_infos = fields.expect_last(tag::SET, "signerInfos")?.children();
        let signer_info = signer_infos.expect_last(tag::SEQUENCE, "exactly one SignerInfo")?;

        let mut fields = signer_info.children();
        if fields.expect(tag::INTEGER, "SignerInfo.version")?.content != [1] {
            return Err(CryptoError::MalformedCms(
                "only SignerInfo version 1 (issuerAndSerialNumber) is supported".into(),
            ));
        }
        let mut sid = fields.expect(tag::SEQUENCE, "issuerAndSerialNumber")?.children();
        let signer_issuer = sid.expect(tag::SEQUENCE, "issuer")?.raw;
        let signer_serial = sid.expect_last(tag::INTEGER, "serialNumber")?.content;
        let digest_algorithm = fields.expect(tag::SEQUENCE, "SignerInfo.digestAlgorithm")?;
        if digest_algorithm.children().expect(tag::OID, "digestAlgorithm")?.content != oid::SHA256 {
            return Err(CryptoError::MalformedCms("only SHA-256 is supported".into()));
        }
        let signed_attrs = fields.expect(tag::CONTEXT_0, "signedAttrs are required").map_err(CryptoError::from)?;
        let signature_algorithm = fields.expect(tag::SEQUENCE, "signatureAlgorithm")?;
        let signature = fields.expect(tag::OCTET_STRING, "signature")?.content;
        // Whatever follows is unsignedAttrs, which do not affect validity.

        Ok(ParsedSignedData {
            content,
            certificates,
            signer_issuer,
            signer_serial,
            signed_attrs,
            signature_algorithm,
            signature,
        })
    }
}

fn check_digest_algorithms(set: Element<'_>) -> Result<(), CryptoError> {
    let mut algorithms = set.children();
    while !algorithms.is_empty() {
        let algorithm = algorithms.expect(tag::SEQUENCE, "digestAlgorithms entry")?;
        if algorithm.children().expect(tag::OID, "digestAlgorithm")?.content != oid::SHA256 {
            return Err(CryptoError::MalformedCms("only SHA-256 is supported".into()));
        }
    }
    Ok(())
}

/// The two signed attributes verification relies on.
struct SignedAttributes<'a> {
    content_type: &'a [u8],
    message_digest: &'a [u8],
}

impl<'a> SignedAttributes<'a> {
    fn read(attrs: Element<'a>) -> Result<Self, CryptoError> {
        let mut content_type = None;
        let mut message_digest = None;
        let mut list = attrs.children();
        while !list.is_empty() {
            let mut attribute = list.expect(tag::SEQUENCE, "Attribute")?.children();
            let attribute_type = attribute.expect(tag::OID, "Attribute.attrType")?.content;
            let mut values = attribute.expect_last(tag::SET, "Attribute.attrValues")?.children();
            if attribute_type == oid::CONTENT_TYPE {
                content_type = Some(values.expect_last(tag::OID, "one contentType value")?.content);
            } else if attribute_type == oid::MESSAGE_DIGEST {
                message_digest = Some(values.expect_last(tag::OCTET_STRING, "one messageDigest value")?.content);
            }
        }
        // RFC 5652 5.3: both are required whenever signed attributes are present.
        match (content_type, message_digest) {
            (Some(content_type), Some(message_digest)) => Ok(SignedAttributes { content_type, message_digest }),
            _ => Err(CryptoError::MalformedCms("signed attributes lack contentType or messageDigest".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CertificateAuthority, PrivateKey};

    const TEXT: &str = "Bank: Zahlung über CHF 1'250.– an Zürcher Kantonalbank bestätigen? 🏦";

    struct Signer {
        ca: CertificateAuthority,
        key: PrivateKey,
        cert: Vec<u8>,
    }

    fn signer(algorithm: KeyAlgorithm) -> Signer {
        let ca = CertificateAuthority::create("Test", None).expect("ca");
        let key = PrivateKey::generate(algorithm).expect("key");
        let csr = key.csr_der("phone").expect("csr");
        let cert = ca.issue_user_certificate(&csr, "MIDCHE0123456789", 30, None).expect("cert");
        Signer { ca, key, cert }
    }

    fn sign(s: &Signer, content: &[u8]) -> Vec<u8> {
        let attrs = signed_attributes(content, &[1, 2, 3, 4, 5, 6, 7, 8]);
        let signature = s.key.sign(&attrs).expect("sign");
        assemble_signed_data(Some(content), &attrs, &signature, &s.cert, &s.ca.chain(), s.key.algorithm())
            .expect("assemble")
    }

    #[test]
    fn signed_attributes_are_deterministic_and_sorted() {
        let nonce = [9u8; 8];
        let a = signed_attributes(TEXT.as_bytes(), &nonce);
        assert_eq!(a, signed_attributes(TEXT.as_bytes(), &nonce));
        assert_ne!(a, signed_attributes(TEXT.as_bytes(), &[8u8; 8]));
        assert_eq!(a[0], tag::SET);
        let mut list = Reader::new(&a).expect_last(tag::SET, "set").expect("set").children();
        let mut types = Vec::new();
        while !list.is_empty() {
            let element = list.read().expect("attribute");
            types.push(element.children().read().expect("oid").content.to_vec());
        }
        // Sorted by encoding: contentType (shortest), randomNonce, messageDigest.
        assert_eq!(types, vec![oid::CONTENT_TYPE.to_vec(), oid::RANDOM_NONCE.to_vec(), oid::MESSAGE_DIGEST.to_vec()]);
    }

    #[test]
    fn own_output_verifies() {
        for algorithm in [KeyAlgorithm::EcP256, KeyAlgorithm::Rsa2048] {
            let s = signer(algorithm);
            let cms = sign(&s, TEXT.as_bytes());
            let verified = verify_signed_data(&cms).expect("verifies");
            assert_eq!(verified.content, TEXT.as_bytes());
            assert_eq!(verified.signer_certificate_der, s.cert);
            assert_eq!(verified.certificates.len(), 3);
            assert_eq!(verified.certificates[1..], s.ca.chain()[..]);
        }
    }

    #[test]
    fn tampered_content_is_rejected() {
        let s = signer(KeyAlgorithm::EcP256);
        let cms = sign(&s, b"approve 100 CHF");
        let at = cms.windows(3).position(|w| w == b"100").expect("content inside");
        let mut tampered = cms.clone();
        tampered[at] = b'9';
        assert!(matches!(verify_signed_data(&tampered), Err(CryptoError::ContentDigestMismatch)));
    }

    #[test]
    fn signature_by_another_key_is_rejected() {
        let s = signer(KeyAlgorithm::EcP256);
        let attrs = signed_attributes(b"x", &[0; 8]);
        let intruder = PrivateKey::generate(KeyAlgorithm::EcP256).expect("key");
        let signature = intruder.sign(&attrs).expect("sign");
        let cms = assemble_signed_data(Some(b"x"), &attrs, &signature, &s.cert, &s.ca.chain(), KeyAlgorithm::EcP256)
            .expect("assembles");
        assert!(matches!(verify_signed_data(&cms), Err(CryptoError::BadSignature)));
    }

    #[test]
    fn assembly_checks_its_inputs() {
        let s = signer(KeyAlgorithm::EcP256);
        let attrs = signed_attributes(b"x", &[0; 8]);
        let signature = s.key.sign(&attrs).expect("sign");
        let chain = s.ca.chain();
        assert!(assemble_signed_data(Some(b"x"), &attrs, &signature, &s.cert, &chain, KeyAlgorithm::Rsa2048).is_err());
        assert!(
            assemble_signed_data(Some(b"x"), &attrs[1..], &signature, &s.cert, &chain, KeyAlgorithm::EcP256).is_err()
        );
        assert!(
            assemble_signed_data(Some(b"x"), &attrs, &signature, b"not a cert", &chain, KeyAlgorithm::EcP256).is_err()
        );
    }

    #[test]
    fn detached_signature_over_a_digest_verifies_only_with_that_digest() {
        let s = signer(KeyAlgorithm::EcP256);
        let digest: [u8; 32] = Sha256::digest(b"%PDF-1.7 a document").into();
        let attrs = signed_attributes_for_digest(&digest, &[8; 8]);
        let signature = s.key.sign(&attrs).expect("sign");
        let cms = assemble_signed_data(None, &attrs, &signature, &s.cert, &s.ca.chain(), s.key.algorithm())
            .expect("assemble");
        let verified = verify_detached_signed_data(&cms, &digest).expect("verifies");
        assert_eq!(verified.signer_certificate_der, s.cert);
        assert!(verified.content.is_empty());
        assert!(matches!(verify_detached_signed_data(&cms, &[0; 32]), Err(CryptoError::ContentDigestMismatch)));
        assert!(verify_signed_data(&cms).is_err(), "no content to check against");
        assert!(verify_detached_signed_data(&sign(&s, b"attached"), &digest).is_err());
    }

    #[test]
    fn garbage_is_rejected_without_panicking() {
        let s = signer(KeyAlgorithm::EcP256);
        let cms = sign(&s, b"hello");
        for cut in [0, 1, 10, cms.len() / 2, cms.len() - 1] {
            assert!(verify_signed_data(&cms[..cut]).is_err());
        }
        // Some bytes are not covered by the signature (parameters, certificate fields that
        // only the chain check looks at); altering them may pass, but never with other
        // content or another signing key.
        for i in 0..cms.len() {
            let mut flipped = cms.clone();
            flipped[i] ^= 0x55;
            if let Ok(verified) = verify_signed_data(&flipped) {
                assert_eq!(verified.content, b"hello", "flip at {i}");
                let key = SubjectKey::from_certificate_der(&verified.signer_certificate_der);
                assert_eq!(key.ok(), Some(s.key.subject_key()), "flip at {i}");
            }
        }
    }
}
