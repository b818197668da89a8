//! Our certificate authority: a root, an issuing CA below it for user certificates, and
//! the few other certificates a deployment needs (TLS server, AP client certificates).
//!
//! Certificates are built with rcgen. User certificates follow Swisscom's profile
//! (contract §9.3) so that existing clients find the serial number where they look for it.

use der::asn1::{Ia5String, ObjectIdentifier};
use der::Encode;
use rcgen::{
    BasicConstraints, CertificateParams, CrlDistributionPoint, CustomExtension, DistinguishedName, DnType, DnValue,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyUsagePurpose, SerialNumber,
};
use time::{Duration, OffsetDateTime};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{AccessDescription, AuthorityInfoAccessSyntax};
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::prelude::FromDer;

use crate::keys::{KeyAlgorithm, PrivateKey, SubjectKey};
use crate::CryptoError;

/// A CA certificate with its key.
#[derive(Debug, Clone)]
pub struct CaCertificate {
    pub cert_der: Vec<u8>,
    pub key: PrivateKey,
}

/// Where the status of a certificate can be checked, written into it: the issuer's
/// certificate and OCSP responder (Authority Information Access), and the issuer's CRL
/// (CRL Distribution Points).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateLinks {
    pub ca_issuers: String,
    /// None where no OCSP responder answers for the issuer (the root's certificates).
    pub ocsp: Option<String>,
    pub crl: String,
}

/// The two-level hierarchy: the root signs the issuing CA and TLS server certificates,
/// the issuing CA signs user certificates.
#[derive(Debug, Clone)]
pub struct CertificateAuthority {
    pub root: CaCertificate,
    pub issuing: CaCertificate,
}

const ROOT_YEARS: i64 = 20;
const ISSUING_YEARS: i64 = 10;
const TLS_SERVER_YEARS: i64 = 5;
const CLIENT_YEARS: i64 = 3;
/// 1.3.6.1.5.5.7.1.1 authorityInfoAccess
const AUTHORITY_INFO_ACCESS: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 1, 1];
const ACCESS_OCSP: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1");
const ACCESS_CA_ISSUERS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.2");
/// 1.3.6.1.5.5.7.48.1.5 id-pkix-ocsp-nocheck: a responder's own certificate is not checked.
const OCSP_NO_CHECK: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 48, 1, 5];
/// 2.5.4.5 serialNumber, which rcgen has no name for.
const SERIAL_NUMBER_ATTRIBUTE: &[u64] = &[2, 5, 4, 5];
/// 2.5.4.42 givenName and 2.5.4.4 surname: a verified person's name.
const GIVEN_NAME_ATTRIBUTE: &[u64] = &[2, 5, 4, 42];
const SURNAME_ATTRIBUTE: &[u64] = &[2, 5, 4, 4];

/// What a user certificate is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificateUse {
    /// Key usage digitalSignature, extended key usage clientAuth.
    Authentication,
    /// Key usage nonRepudiation (contentCommitment): signatures on documents.
    Signing,
    /// Key usage keyEncipherment, extended key usage emailProtection: an RSA key others
    /// encrypt to.
    Encryption,
}

/// A subject attribute a user property may fill (X.520), with its upper bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubjectAttribute {
    OrganizationalUnit,
    Organization,
    Title,
    Pseudonym,
}

impl SubjectAttribute {
    /// By its usual short name: `OU`, `O`, `title`, `pseudonym`.
    pub fn parse(name: &str) -> Option<SubjectAttribute> {
        match name {
            "OU" => Some(SubjectAttribute::OrganizationalUnit),
            "O" => Some(SubjectAttribute::Organization),
            "title" => Some(SubjectAttribute::Title),
            "pseudonym" => Some(SubjectAttribute::Pseudonym),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            SubjectAttribute::OrganizationalUnit => "OU",
            SubjectAttribute::Organization => "O",
            SubjectAttribute::Title => "title",
            SubjectAttribute::Pseudonym => "pseudonym",
        }
    }

    /// ub-organizational-unit-name, ub-organization-name, ub-title (64) and
    /// ub-pseudonym (128) of X.520.
    fn upper_bound(self) -> usize {
        if self == SubjectAttribute::Pseudonym {
            128
        } else {
            64
        }
    }

    fn dn_type(self) -> DnType {
        match self {
            SubjectAttribute::OrganizationalUnit => DnType::OrganizationalUnitName,
            SubjectAttribute::Organization => DnType::OrganizationName,
            SubjectAttribute::Title => DnType::CustomDnType(vec![2, 5, 4, 12]),
            SubjectAttribute::Pseudonym => DnType::CustomDnType(vec![2, 5, 4, 65]),
        }
    }
}

impl CertificateAuthority {
    /// Creates a new root and issuing CA for `organisation`, both EC P-256 (cheap to sign
    /// with, and every Mobile ID client already handles EC). `root_links` go into the
    /// issuing CA's certificate: where the root's certificate and CRL are published.
    pub fn create(organisation: &str, root_links: Option<&CertificateLinks>) -> Result<Self, CryptoError> {
        let root_key = PrivateKey::generate(KeyAlgorithm::EcP256)?;
        let root_rcgen_key = root_key.rcgen_key_pair()?;
        let mut root_params = ca_params(organisation, &format!("{organisation} Root CA"), ROOT_YEARS)?;
        root_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let root_cert = root_params.self_signed(&root_rcgen_key).map_err(issuance)?;

        let issuing_key = PrivateKey::generate(KeyAlgorithm::EcP256)?;
        let issuing_rcgen_key = issuing_key.rcgen_key_pair()?;
        let mut issuing_params = ca_params(organisation, &format!("{organisation} Issuing CA"), ISSUING_YEARS)?;
        // The issuing CA signs end entities only, never another CA.
        issuing_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        issuing_params.use_authority_key_identifier_extension = true;
        add_links(&mut issuing_params, root_links)?;
        let issuing_cert = issuing_params
            .signed_by(&issuing_rcgen_key, &Issuer::from_params(&root_params, &root_rcgen_key))
            .map_err(issuance)?;

        Ok(CertificateAuthority {
            root: CaCertificate { cert_der: root_cert.der().to_vec(), key: root_key },
            issuing: CaCertificate { cert_der: issuing_cert.der().to_vec(), key: issuing_key },
        })
    }

    /// The CA certificates that go after a user certificate: issuing CA, then root.
    pub fn chain(&self) -> Vec<Vec<u8>> {
        vec![self.issuing.cert_der.clone(), self.root.cert_der.clone()]
    }

    /// Issues a user certificate for the key in `csr_der`, with `links` to check its status.
    ///
    /// The CSR proves possession of the key; everything else in it is ignored. The subject
    /// is ours to choose: `serialNumber=<serial>` (PrintableString) then
    /// `CN=<serial>:PN` (UTF8String), the order and string types Swisscom uses, so that
    /// RFC 2253 renders `CN=<serial>:PN,SERIALNUMBER=<serial>`.
    pub fn issue_user_certificate(
        &self,
        csr_der: &[u8],
        serial_number: &str,
        validity_days: u32,
        links: Option<&CertificateLinks>,
    ) -> Result<Vec<u8>, CryptoError> {
        self.issue_user_certificate_with(
            csr_der,
            serial_number,
            &[],
            CertificateUse::Authentication,
            validity_days,
            links,
        )
    }

    /// As [`CertificateAuthority::issue_user_certificate`], for `usage`, with more
    /// attributes in the subject after the serial number and common name (user
    /// properties, as configured).
    pub fn issue_user_certificate_with(
        &self,
        csr_der: &[u8],
        serial_number: &str,
        extra: &[(SubjectAttribute, String)],
        usage: CertificateUse,
        validity_days: u32,
        links: Option<&CertificateLinks>,
    ) -> Result<Vec<u8>, CryptoError> {
        let public_key = verified_csr_key(csr_der)?;
        self.issue_for_key(&public_key, serial_number, None, extra, usage, validity_days, links)
    }

    /// A new certificate for the key of `issued_der`, a certificate this CA issued: the
    /// key's possession was proven when that one was issued (a signing certificate for
    /// the key a phone already uses, for instance). With a verified `name` (given names,
    /// surname) the subject's common name is the person's name, with givenName and
    /// surname, instead of `<serial>:PN`.
    #[allow(clippy::too_many_arguments)]
    pub fn reissue_user_certificate(
        &self,
        issued_der: &[u8],
        serial_number: &str,
        name: Option<(&str, &str)>,
        extra: &[(SubjectAttribute, String)],
        usage: CertificateUse,
        validity_days: u32,
        links: Option<&CertificateLinks>,
    ) -> Result<Vec<u8>, CryptoError> {
        crate::verify_chain(issued_der, &self.issuing.cert_der, &self.root.cert_der)?;
        let issued = crate::cert::parse(issued_der)?;
        let public_key = rcgen::SubjectPublicKeyInfo::from_der(issued.public_key().raw)
            .map_err(|e| CryptoError::MalformedCertificate(format!("unusable public key: {e}")))?;
        self.issue_for_key(&public_key, serial_number, name, extra, usage, validity_days, links)
    }

    #[allow(clippy::too_many_arguments)]
    fn issue_for_key(
        &self,
        public_key: &rcgen::SubjectPublicKeyInfo,
        serial_number: &str,
        name: Option<(&str, &str)>,
        extra: &[(SubjectAttribute, String)],
        usage: CertificateUse,
        validity_days: u32,
        links: Option<&CertificateLinks>,
    ) -> Result<Vec<u8>, CryptoError> {
        let serial_value = rcgen::string::PrintableString::try_from(serial_number)
            .map_err(|_| CryptoError::Issuance(format!("serial number {serial_number:?} is not a PrintableString")))?;
        let mut subject = DistinguishedName::new();
        subject.push(DnType::CustomDnType(SERIAL_NUMBER_ATTRIBUTE.to_vec()), DnValue::PrintableString(serial_value));
        match name {
            Some((given, surname)) => {
                for part in [given, surname] {
                    if part.trim().is_empty() || part.chars().count() > 64 {
                        return Err(CryptoError::Issuance("a name part must have 1 to 64 characters".into()));
                    }
                }
                subject.push(DnType::CommonName, DnValue::Utf8String(format!("{given} {surname}")));
                subject.push(DnType::CustomDnType(GIVEN_NAME_ATTRIBUTE.to_vec()), DnValue::Utf8String(given.into()));
                subject.push(DnType::CustomDnType(SURNAME_ATTRIBUTE.to_vec()), DnValue::Utf8String(surname.into()));
            }
            None => subject.push(DnType::CommonName, DnValue::Utf8String(format!("{serial_number}:PN"))),
        }
        for (attribute, value) in extra {
            if value.is_empty() || value.chars().count() > attribute.upper_bound() {
                return Err(CryptoError::Issuance(format!(
                    "{} must have 1 to {} characters",
                    attribute.name(),
                    attribute.upper_bound()
                )));
            }
            subject.push(attribute.dn_type(), DnValue::Utf8String(value.clone()));
        }

        let mut params = CertificateParams::default();
        params.distinguished_name = subject;
        params.serial_number = Some(random_serial());
        (params.not_before, params.not_after) = validity(Duration::days(validity_days.into()));
        // ExplicitNoCa makes rcgen write the subject key identifier (and CA:FALSE).
        params.is_ca = IsCa::ExplicitNoCa;
        match usage {
            CertificateUse::Authentication => {
                params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
                params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
            }
            // Non-repudiation alone, as signature certificates have it (ETSI EN 319 412-2).
            CertificateUse::Signing => params.key_usages = vec![KeyUsagePurpose::ContentCommitment],
            CertificateUse::Encryption => {
                params.key_usages = vec![KeyUsagePurpose::KeyEncipherment];
                params.extended_key_usages = vec![ExtendedKeyUsagePurpose::EmailProtection];
            }
        }
        params.use_authority_key_identifier_extension = true;
        add_links(&mut params, links)?;

        sign_with(&self.issuing, params, public_key)
    }

    /// A delegated OCSP responder for the issuing CA, valid for `validity_days`: extended
    /// key usage OCSPSigning and id-pkix-ocsp-nocheck (RFC 6960 §4.2.2.2), so verifiers
    /// trust its answers for the CA's certificates without asking about the responder.
    pub fn issue_ocsp_responder(&self, organisation: &str, validity_days: u32) -> Result<CaCertificate, CryptoError> {
        let mut params = CertificateParams::default();
        params.distinguished_name = common_name_only(&format!("{organisation} OCSP Responder"));
        params.serial_number = Some(random_serial());
        (params.not_before, params.not_after) = validity(Duration::days(validity_days.into()));
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::OcspSigning];
        params.use_authority_key_identifier_extension = true;
        params.custom_extensions.push(CustomExtension::from_oid_content(OCSP_NO_CHECK, vec![0x05, 0x00]));

        let key = PrivateKey::generate(KeyAlgorithm::EcP256)?;
        let cert_der = sign_with(&self.issuing, params, &key.rcgen_key_pair()?)?;
        Ok(CaCertificate { cert_der, key })
    }

    /// A TLS server certificate for `hostnames` (names become DNS SANs, addresses IP
    /// SANs), signed by the root so that clients trusting the root trust the server;
    /// `root_links` say where the root's certificate and CRL are.
    pub fn issue_tls_server_certificate(
        &self,
        hostnames: &[&str],
        root_links: Option<&CertificateLinks>,
    ) -> Result<(Vec<u8>, PrivateKey), CryptoError> {
        let first = hostnames.first().ok_or_else(|| CryptoError::Issuance("no hostname given".into()))?;
        let names: Vec<String> = hostnames.iter().map(|h| (*h).to_owned()).collect();
        let mut params =
            CertificateParams::new(names).map_err(|e| CryptoError::Issuance(format!("bad hostname: {e}")))?;
        params.distinguished_name = common_name_only(first);
        params.serial_number = Some(random_serial());
        (params.not_before, params.not_after) = validity(years(TLS_SERVER_YEARS));
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        add_links(&mut params, root_links)?;

        let key = PrivateKey::generate(KeyAlgorithm::EcP256)?;
        let public_key = key.rcgen_key_pair()?;
        let cert_der = sign_with(&self.root, params, &public_key)?;
        Ok((cert_der, key))
    }
}

/// A self-signed client certificate (EKU clientAuth), the kind an AP registers to call
/// the MSS API with mutual TLS. Used by tests and the demo AP.
pub fn self_signed_client_certificate(common_name: &str) -> Result<(Vec<u8>, PrivateKey), CryptoError> {
    let key = PrivateKey::generate(KeyAlgorithm::EcP256)?;
    let mut params = CertificateParams::default();
    params.distinguished_name = common_name_only(common_name);
    params.serial_number = Some(random_serial());
    (params.not_before, params.not_after) = validity(years(CLIENT_YEARS));
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let cert = params.self_signed(&key.rcgen_key_pair()?).map_err(issuance)?;
    Ok((cert.der().to_vec(), key))
}

/// Parses the CSR, checks its self-signature and that its key is one we certify, and
/// returns the key in the form rcgen writes into certificates.
/// Checks a CSR (its self-signature and key type) without issuing anything, so a caller
/// can refuse a bad one before spending anything on it.
pub fn check_csr(csr_der: &[u8]) -> Result<(), CryptoError> {
    verified_csr_key(csr_der).map(drop)
}

fn verified_csr_key(csr_der: &[u8]) -> Result<rcgen::SubjectPublicKeyInfo, CryptoError> {
    let (rest, csr) = X509CertificationRequest::from_der(csr_der)
        .map_err(|e| CryptoError::BadCsr(format!("not a PKCS#10 request: {e}")))?;
    if !rest.is_empty() {
        return Err(CryptoError::BadCsr("trailing bytes after the request".into()));
    }
    csr.verify_signature()
        .map_err(|_| CryptoError::BadCsr("the request's signature does not verify with its own key".into()))?;
    let spki = &csr.certification_request_info.subject_pki;
    SubjectKey::from_spki(spki).map_err(|e| CryptoError::BadCsr(e.to_string()))?;
    rcgen::SubjectPublicKeyInfo::from_der(spki.raw)
        .map_err(|e| CryptoError::BadCsr(format!("unusable public key: {e}")))
}

/// Signs `params` for `public_key` with the CA `ca`.
///
/// The issuer is read from the stored DER, so the issuer name and key identifier in the
/// new certificate are exactly those of the certificate on disk.
fn sign_with(
    ca: &CaCertificate,
    params: CertificateParams,
    public_key: &impl rcgen::PublicKeyData,
) -> Result<Vec<u8>, CryptoError> {
    let issuer = Issuer::from_ca_cert_der(&ca.cert_der.as_slice().into(), ca.key.rcgen_key_pair()?)
        .map_err(|e| CryptoError::MalformedCertificate(format!("CA certificate: {e}")))?;
    let cert = params.signed_by(public_key, &issuer).map_err(issuance)?;
    Ok(cert.der().to_vec())
}

/// Writes `links` as the CRL distribution point and the Authority Information Access.
fn add_links(params: &mut CertificateParams, links: Option<&CertificateLinks>) -> Result<(), CryptoError> {
    let Some(links) = links else { return Ok(()) };
    params.crl_distribution_points = vec![CrlDistributionPoint { uris: vec![links.crl.clone()] }];
    let uri = |url: &str| {
        Ia5String::new(url)
            .map(GeneralName::UniformResourceIdentifier)
            .map_err(|_| CryptoError::Issuance(format!("{url:?} is not an ASCII URL")))
    };
    let mut access = Vec::new();
    if let Some(ocsp) = &links.ocsp {
        access.push(AccessDescription { access_method: ACCESS_OCSP, access_location: uri(ocsp)? });
    }
    access.push(AccessDescription { access_method: ACCESS_CA_ISSUERS, access_location: uri(&links.ca_issuers)? });
    let content = AuthorityInfoAccessSyntax(access)
        .to_der()
        .map_err(|e| CryptoError::Issuance(format!("authority information access: {e}")))?;
    params.custom_extensions.push(CustomExtension::from_oid_content(AUTHORITY_INFO_ACCESS, content));
    Ok(())
}

/// Subject `C=CH, O=<organisation>, CN=<common name>`, CA key usages, validity from now.
fn ca_params(organisation: &str, common_name: &str, years_valid: i64) -> Result<CertificateParams, CryptoError> {
    let country = rcgen::string::PrintableString::try_from("CH").map_err(|e| CryptoError::Issuance(e.to_string()))?;
    let mut subject = DistinguishedName::new();
    subject.push(DnType::CountryName, DnValue::PrintableString(country));
    subject.push(DnType::OrganizationName, organisation);
    subject.push(DnType::CommonName, common_name);

    let mut params = CertificateParams::default();
    params.distinguished_name = subject;
    params.serial_number = Some(random_serial());
    (params.not_before, params.not_after) = validity(years(years_valid));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    Ok(params)
}

fn common_name_only(common_name: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common_name);
    name
}

/// 16 random bytes, positive (top bit clear) and with a non-zero first byte so the
/// encoding always has the same length. RFC 5280 asks for unpredictable serials.
fn random_serial() -> SerialNumber {
    let mut bytes: [u8; 16] = rand::random();
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    SerialNumber::from_slice(&bytes)
}

/// From a minute ago (tolerating clocks slightly behind ours) to `length` from now.
fn validity(length: Duration) -> (OffsetDateTime, OffsetDateTime) {
    let now = OffsetDateTime::now_utc();
    (now - Duration::minutes(1), now + length)
}

fn years(n: i64) -> Duration {
    Duration::days(365 * n)
}

fn issuance(e: rcgen::Error) -> CryptoError {
    CryptoError::Issuance(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{verify_chain, CertificateInfo};
    use x509_parser::extensions::ParsedExtension;

    const SERIAL: &str = "MIDCHEO16P1O6E92";

    fn issue(ca: &CertificateAuthority, algorithm: KeyAlgorithm) -> Vec<u8> {
        let key = PrivateKey::generate(algorithm).expect("key");
        let csr = key.csr_der("ignored subject").expect("csr");
        ca.issue_user_certificate(&csr, SERIAL, 1095, None).expect("issued")
    }

    #[test]
    fn user_certificate_follows_the_swisscom_profile() {
        let ca = CertificateAuthority::create("Mobile ID Test", None).expect("ca");
        for algorithm in [KeyAlgorithm::EcP256, KeyAlgorithm::Rsa2048] {
            let der = issue(&ca, algorithm);
            let info = CertificateInfo::parse(&der).expect("parses");
            assert_eq!(info.subject_rfc2253, format!("CN={SERIAL}:PN,serialNumber={SERIAL}"));
            assert_eq!(info.subject_rfc2253_lower, "cn=midcheo16p1o6e92:pn,serialnumber=midcheo16p1o6e92");
            assert_eq!(info.subject_serial_number.as_deref(), Some(SERIAL));
            assert_eq!(info.algorithm, algorithm);
            let days = (info.not_after - info.not_before).num_days();
            assert!((1094..=1096).contains(&days), "{days} days");

            let (_, cert) = x509_parser::parse_x509_certificate(&der).expect("parses");
            // serialNumber PrintableString first, then CN UTF8String.
            let attributes: Vec<_> = cert.subject().iter_attributes().collect();
            assert_eq!(attributes[0].attr_type().to_id_string(), "2.5.4.5");
            assert_eq!(attributes[0].attr_value().tag().0, 19);
            assert_eq!(attributes[1].attr_type().to_id_string(), "2.5.4.3");
            assert_eq!(attributes[1].attr_value().tag().0, 12);

            let key_usage = cert.key_usage().expect("ok").expect("present");
            assert!(key_usage.critical);
            assert!(key_usage.value.digital_signature());
            assert_eq!(key_usage.value.flags, 1);
            let eku = cert.extended_key_usage().expect("ok").expect("present");
            assert!(eku.value.client_auth && !eku.value.server_auth);
            let has =
                |wanted: fn(&ParsedExtension) -> bool| cert.extensions().iter().any(|e| wanted(e.parsed_extension()));
            assert!(has(|e| matches!(e, ParsedExtension::AuthorityKeyIdentifier(_))));
            assert!(has(|e| matches!(e, ParsedExtension::SubjectKeyIdentifier(_))));
            assert!(cert.serial.bits() > 64);

            verify_chain(&der, &ca.issuing.cert_der, &ca.root.cert_der).expect("chain");
        }
    }

    #[test]
    fn user_properties_go_into_the_subject_within_their_bounds() {
        let ca = CertificateAuthority::create("Test", None).expect("ca");
        let csr = PrivateKey::generate(KeyAlgorithm::EcP256).expect("key").csr_der("phone").expect("csr");
        let extra =
            [(SubjectAttribute::OrganizationalUnit, "E-1234".to_string()), (SubjectAttribute::Title, "Ärztin".into())];
        let der = ca
            .issue_user_certificate_with(&csr, SERIAL, &extra, CertificateUse::Authentication, 10, None)
            .expect("issued");
        let subject = CertificateInfo::parse(&der).expect("info").subject_rfc2253;
        assert!(subject.contains("OU=E-1234") && subject.contains("Ärztin"), "{subject}");
        assert_eq!(CertificateInfo::parse(&der).expect("info").subject_serial_number.as_deref(), Some(SERIAL));
        let long = [(SubjectAttribute::OrganizationalUnit, "x".repeat(65))];
        assert!(ca.issue_user_certificate_with(&csr, SERIAL, &long, CertificateUse::Authentication, 10, None).is_err());
        assert_eq!(SubjectAttribute::parse("pseudonym"), Some(SubjectAttribute::Pseudonym));
        assert_eq!(SubjectAttribute::parse("CN"), None, "the common name stays ours");
    }

    #[test]
    fn a_signing_certificate_is_for_non_repudiation_only() {
        let ca = CertificateAuthority::create("Test", None).expect("ca");
        let csr = PrivateKey::generate(KeyAlgorithm::EcP256).expect("key").csr_der("phone").expect("csr");
        let der = ca.issue_user_certificate_with(&csr, SERIAL, &[], CertificateUse::Signing, 10, None).expect("issued");
        let (_, cert) = x509_parser::parse_x509_certificate(&der).expect("parse");
        let key_usage = cert.key_usage().expect("ok").expect("present");
        assert!(key_usage.value.non_repudiation() && !key_usage.value.digital_signature());
        assert!(cert.extended_key_usage().expect("ok").is_none(), "no client authentication");
        verify_chain(&der, &ca.issuing.cert_der, &ca.root.cert_der).expect("chain");
    }

    #[test]
    fn aki_matches_the_issuing_ski() {
        let ca = CertificateAuthority::create("Test", None).expect("ca");
        let der = issue(&ca, KeyAlgorithm::EcP256);
        let (_, user) = x509_parser::parse_x509_certificate(&der).expect("user");
        let (_, issuing) = x509_parser::parse_x509_certificate(&ca.issuing.cert_der).expect("issuing");
        let aki = user.extensions().iter().find_map(|e| match e.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(a) => a.key_identifier.as_ref().map(|k| k.0.to_vec()),
            _ => None,
        });
        let ski = issuing.extensions().iter().find_map(|e| match e.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0.to_vec()),
            _ => None,
        });
        assert!(aki.is_some());
        assert_eq!(aki, ski);
        assert_eq!(user.issuer().as_raw(), issuing.subject().as_raw());
    }

    #[test]
    fn ca_certificates_are_cas_without_eku() {
        let ca = CertificateAuthority::create("Acme", None).expect("ca");
        let root = CertificateInfo::parse(&ca.root.cert_der).expect("root");
        assert_eq!(root.subject_rfc2253, "CN=Acme Root CA,O=Acme,C=CH");
        let issuing = CertificateInfo::parse(&ca.issuing.cert_der).expect("issuing");
        assert_eq!(issuing.subject_rfc2253_lower, "cn=acme issuing ca,o=acme,c=ch");
        for (der, path_len) in [(&ca.root.cert_der, None), (&ca.issuing.cert_der, Some(0))] {
            let (_, cert) = x509_parser::parse_x509_certificate(der).expect("parses");
            let bc = cert.basic_constraints().expect("ok").expect("present");
            assert!(bc.critical && bc.value.ca);
            assert_eq!(bc.value.path_len_constraint, path_len);
            let ku = cert.key_usage().expect("ok").expect("present");
            assert!(ku.critical && ku.value.key_cert_sign() && ku.value.crl_sign());
            assert!(cert.extended_key_usage().expect("ok").is_none());
        }
        assert_eq!(ca.chain(), vec![ca.issuing.cert_der.clone(), ca.root.cert_der.clone()]);
    }

    #[test]
    fn ca_survives_a_round_trip_through_storage() {
        let ca = CertificateAuthority::create("Test", None).expect("ca");
        let stored = CertificateAuthority {
            root: CaCertificate {
                cert_der: ca.root.cert_der.clone(),
                key: PrivateKey::from_pkcs8_der(ca.root.key.pkcs8_der()).expect("key"),
            },
            issuing: CaCertificate {
                cert_der: ca.issuing.cert_der.clone(),
                key: PrivateKey::from_pkcs8_der(ca.issuing.key.pkcs8_der()).expect("key"),
            },
        };
        let der = issue(&stored, KeyAlgorithm::EcP256);
        verify_chain(&der, &ca.issuing.cert_der, &ca.root.cert_der).expect("chain");
    }

    #[test]
    fn bad_csrs_are_rejected() {
        let ca = CertificateAuthority::create("Test", None).expect("ca");
        let key = PrivateKey::generate(KeyAlgorithm::EcP256).expect("key");
        let mut csr = key.csr_der("x").expect("csr");
        // The last byte belongs to the signature.
        let last = csr.len() - 1;
        csr[last] ^= 1;
        match ca.issue_user_certificate(&csr, SERIAL, 10, None) {
            Err(CryptoError::BadCsr(message)) => {
                assert!(message.contains("signature"), "{message}")
            }
            other => panic!("expected BadCsr, got {other:?}"),
        }
        assert!(matches!(ca.issue_user_certificate(b"junk", SERIAL, 10, None), Err(CryptoError::BadCsr(_))));
    }

    #[test]
    fn serial_must_be_printable() {
        let ca = CertificateAuthority::create("Test", None).expect("ca");
        let key = PrivateKey::generate(KeyAlgorithm::EcP256).expect("key");
        let csr = key.csr_der("x").expect("csr");
        assert!(ca.issue_user_certificate(&csr, "MIDCHE_ü", 10, None).is_err());
    }

    #[test]
    fn chain_check_rejects_a_foreign_ca() {
        let ca = CertificateAuthority::create("Test", None).expect("ca");
        let other = CertificateAuthority::create("Test", None).expect("ca");
        let der = issue(&ca, KeyAlgorithm::EcP256);
        // Same names, different keys: only the signature check can tell.
        assert!(matches!(
            verify_chain(&der, &other.issuing.cert_der, &other.root.cert_der),
            Err(CryptoError::BadChain(_))
        ));
        assert!(verify_chain(&der, &ca.issuing.cert_der, &other.root.cert_der).is_err());
    }

    #[test]
    fn tls_server_certificate_has_dns_and_ip_names() {
        let ca = CertificateAuthority::create("Test", None).expect("ca");
        let (der, key) = ca.issue_tls_server_certificate(&["localhost", "127.0.0.1"], None).expect("issued");
        let (_, cert) = x509_parser::parse_x509_certificate(&der).expect("parses");
        let san = cert.subject_alternative_name().expect("ok").expect("present");
        let names: Vec<String> = san.value.general_names.iter().map(|n| format!("{n:?}")).collect();
        assert!(names.iter().any(|n| n.contains("DNSName(\"localhost\")")), "{names:?}");
        assert!(names.iter().any(|n| n.contains("IPAddress([127, 0, 0, 1])")), "{names:?}");
        assert!(cert.extended_key_usage().expect("ok").expect("present").value.server_auth);
        assert_eq!(
            cert.issuer().as_raw(),
            x509_parser::parse_x509_certificate(&ca.root.cert_der).expect("root").1.subject().as_raw()
        );
        assert_eq!(SubjectKey::from_certificate_der(&der).expect("key"), key.subject_key());
        assert!(ca.issue_tls_server_certificate(&[], None).is_err());
    }

    #[test]
    fn self_signed_client_certificate_is_for_client_auth() {
        let (der, key) = self_signed_client_certificate("Demo AP").expect("issued");
        let (_, cert) = x509_parser::parse_x509_certificate(&der).expect("parses");
        assert!(cert.extended_key_usage().expect("ok").expect("present").value.client_auth);
        cert.verify_signature(None).expect("self-signed");
        assert_eq!(SubjectKey::from_certificate_der(&der).expect("key"), key.subject_key());
        let info = CertificateInfo::parse(&der).expect("info");
        assert_eq!(info.subject_rfc2253, "CN=Demo AP");
        assert!((info.not_after - info.not_before).num_days() >= 3 * 365);
    }
}
