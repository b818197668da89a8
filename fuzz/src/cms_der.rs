//! The DER a client hands in: CMS SignedData (the ETSI validate service, and phones'
//! answers), the CSR and key of a device at activation, certificates an operator or AP
//! registers, and PEM bundles around them. Every reader gets every input: one corpus
//! then serves them all, and a CMS mutation that happens to form a certificate is tested
//! as one.

use mobileid_crypto::{
    check_csr, pem_decode_all, pem_encode, verify_detached_signed_data, verify_signed_data, CertificateInfo, SubjectKey,
};
use sha2::{Digest, Sha256};

/// The document that the detached signatures in the corpus sign: verification needs its
/// digest from elsewhere, as the signing service has it.
pub const DETACHED_DOCUMENT: &[u8] = b"mobileid fuzz corpus: a document signed detached\n";

pub fn cms_der(data: &[u8]) {
    attached_cms(data);
    detached_cms(data);
    csr(data);
    certificate(data);
    public_key(data);
    pem(data);
}

fn attached_cms(data: &[u8]) {
    let Ok(verified) = verify_signed_data(data) else { return };
    // The content is what the container carries, and the key that verified it is the
    // signer certificate's, which the container carries too.
    assert!(contains(data, &verified.content), "the content comes from the container");
    assert!(verified.certificates.contains(&verified.signer_certificate_der));
    assert!(SubjectKey::from_certificate_der(&verified.signer_certificate_der).is_ok());
    // An attached signature is not mistaken for a detached one, nor the other way round.
    let digest: [u8; 32] = Sha256::digest(&verified.content).into();
    assert!(verify_detached_signed_data(data, &digest).is_err());
    assert_eq!(verify_signed_data(data).ok(), Some(verified), "verification is deterministic");
}

fn detached_cms(data: &[u8]) {
    let digest: [u8; 32] = Sha256::digest(DETACHED_DOCUMENT).into();
    let Ok(verified) = verify_detached_signed_data(data, &digest) else { return };
    assert!(verified.content.is_empty());
    assert!(verified.certificates.contains(&verified.signer_certificate_der));
    assert!(verify_signed_data(data).is_err(), "a detached signature has no content to verify");
    // The digest is bound: any other document fails.
    let mut other = digest;
    other[0] ^= 1;
    assert!(verify_detached_signed_data(data, &other).is_err());
}

fn csr(data: &[u8]) {
    if check_csr(data).is_err() {
        return;
    }
    // DER has one encoding: the request is exactly these bytes, no more and no fewer.
    let mut longer = data.to_vec();
    longer.push(0);
    assert!(check_csr(&longer).is_err(), "trailing bytes after a CSR are refused");
    assert!(check_csr(&data[..data.len() - 1]).is_err(), "a truncated CSR is refused");
}

fn certificate(data: &[u8]) {
    let Ok(info) = CertificateInfo::parse(data) else { return };
    assert_eq!(info.subject_rfc2253_lower, info.subject_rfc2253.to_lowercase());
    let serial_is_lower_hex = info.serial_hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    assert!(serial_is_lower_hex && !info.serial_hex.is_empty(), "{:?}", info.serial_hex);
    assert!(info.serial_hex == "0" || !info.serial_hex.starts_with('0'), "{:?}", info.serial_hex);
    let key = SubjectKey::from_certificate_der(data).expect("a parsed certificate's key was accepted");
    assert_eq!(key.algorithm(), info.algorithm);
    let mut longer = data.to_vec();
    longer.push(0);
    assert!(CertificateInfo::parse(&longer).is_err(), "trailing bytes after a certificate are refused");
}

fn public_key(data: &[u8]) {
    if SubjectKey::from_spki_der(data).is_err() {
        return;
    }
    let mut longer = data.to_vec();
    longer.push(0);
    assert!(SubjectKey::from_spki_der(&longer).is_err(), "trailing bytes after a key are refused");
}

fn pem(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(blocks) = pem_decode_all(text) else { return };
    // What we write reads back to the same blocks, whatever the original's line layout.
    let rewritten: String = blocks.iter().map(|(label, der)| pem_encode(label, der)).collect();
    assert_eq!(pem_decode_all(&rewritten).ok().as_ref(), Some(&blocks), "{rewritten:?}");
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|window| window == needle)
}
