//! Reading certificates: the facts the profile query and the admin pages show, the
//! fingerprint APs are registered by, and a check of a user certificate's chain.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use x509_parser::certificate::X509Certificate;
use x509_parser::time::ASN1Time;

use crate::keys::SubjectKey;
use crate::{rfc2253, CryptoError, KeyAlgorithm};

/// What callers need to know about one certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateInfo {
    /// The subject as RFC 2253, e.g. `CN=MIDCHEO16P1O6E92:PN,serialNumber=MIDCHEO16P1O6E92`.
    pub subject_rfc2253: String,
    /// The same, entirely lower-cased, as Swisscom's profile query shows it (`X509SubjectName`).
    pub subject_rfc2253_lower: String,
    /// The subject's serialNumber attribute (the Mobile ID serial number of a user).
    pub subject_serial_number: Option<String>,
    /// The subject's common name.
    pub common_name: Option<String>,
    pub algorithm: KeyAlgorithm,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    /// The certificate's serial number in lower-case hex, without leading zeros.
    pub serial_hex: String,
}

/// 2.5.4.5 serialNumber
const SERIAL_NUMBER_ATTRIBUTE: &str = "2.5.4.5";

impl CertificateInfo {
    pub fn parse(cert_der: &[u8]) -> Result<Self, CryptoError> {
        let cert = parse(cert_der)?;
        let subject_rfc2253 = rfc2253::render(cert.subject());
        let subject_serial_number = cert
            .subject()
            .iter_attributes()
            .find(|a| a.attr_type().to_id_string() == SERIAL_NUMBER_ATTRIBUTE)
            .and_then(|a| a.as_str().ok())
            .map(str::to_owned);
        let common_name = cert.subject().iter_common_name().next().and_then(|a| a.as_str().ok()).map(str::to_owned);
        let algorithm = SubjectKey::from_spki(cert.public_key())?.algorithm();
        let validity = cert.validity();
        Ok(CertificateInfo {
            subject_rfc2253_lower: subject_rfc2253.to_lowercase(),
            subject_rfc2253,
            subject_serial_number,
            common_name,
            algorithm,
            not_before: to_chrono(validity.not_before)?,
            not_after: to_chrono(validity.not_after)?,
            serial_hex: cert.serial.to_str_radix(16),
        })
    }
}

/// SHA-256 of the DER, lower-case hex without separators.
pub fn sha256_fingerprint_hex(cert_der: &[u8]) -> String {
    hex::encode(Sha256::digest(cert_der))
}

/// Checks that `cert` was issued by `issuing`, `issuing` by `root`, `root` by itself, that
/// the two CA certificates are CAs, and that all three are valid now.
///
/// Revocation is not checked: Mobile ID certificates are never revoked individually.
pub fn verify_chain(cert_der: &[u8], issuing_der: &[u8], root_der: &[u8]) -> Result<(), CryptoError> {
    let cert = parse(cert_der)?;
    let issuing = parse(issuing_der)?;
    let root = parse(root_der)?;

    let links = [
        ("certificate", &cert, "issuing CA", &issuing),
        ("issuing CA", &issuing, "root CA", &root),
        ("root CA", &root, "root CA", &root),
    ];
    for (name, child, parent_name, parent) in links {
        if child.issuer().as_raw() != parent.subject().as_raw() {
            return Err(CryptoError::BadChain(format!("the {name}'s issuer is not the {parent_name}")));
        }
        child
            .verify_signature(Some(parent.public_key()))
            .map_err(|e| CryptoError::BadChain(format!("the {parent_name} did not sign the {name}: {e}")))?;
    }
    for (name, ca) in [("issuing CA", &issuing), ("root CA", &root)] {
        let is_ca = matches!(ca.basic_constraints(), Ok(Some(bc)) if bc.value.ca);
        if !is_ca {
            return Err(CryptoError::BadChain(format!("the {name} is not a CA")));
        }
    }
    for (name, c) in [("certificate", &cert), ("issuing CA", &issuing), ("root CA", &root)] {
        if !c.validity().is_valid() {
            return Err(CryptoError::BadChain(format!("the {name} is expired or not yet valid")));
        }
    }
    Ok(())
}

pub(crate) fn parse(cert_der: &[u8]) -> Result<X509Certificate<'_>, CryptoError> {
    let (rest, cert) =
        x509_parser::parse_x509_certificate(cert_der).map_err(|e| CryptoError::MalformedCertificate(e.to_string()))?;
    if !rest.is_empty() {
        return Err(CryptoError::MalformedCertificate("trailing bytes after the certificate".into()));
    }
    Ok(cert)
}

fn to_chrono(time: ASN1Time) -> Result<DateTime<Utc>, CryptoError> {
    DateTime::from_timestamp(time.timestamp(), 0)
        .ok_or_else(|| CryptoError::MalformedCertificate("validity date out of range".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_is_sha256_hex() {
        assert_eq!(sha256_fingerprint_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn garbage_is_not_a_certificate() {
        assert!(matches!(CertificateInfo::parse(b"junk"), Err(CryptoError::MalformedCertificate(_))));
        assert!(verify_chain(b"a", b"b", b"c").is_err());
    }
}
