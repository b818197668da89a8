//! Certificate status: OCSP responses (RFC 6960) signed by a delegated responder, and
//! CRLs (RFC 5280 §5) signed by the CA itself.
//!
//! The ASN.1 structures are RustCrypto's (`x509-ocsp`, `x509-cert`); CRLs are written by
//! rcgen, like our certificates. Which certificate is good or revoked is the caller's
//! knowledge: this module reads requests, and writes and signs answers.

use chrono::{DateTime, Utc};
use der::asn1::{BitString, GeneralizedTime, ObjectIdentifier, OctetString};
use der::{Decode, Encode};
use rcgen::{CertificateRevocationListParams, Issuer, KeyIdMethod, RevokedCertParams, SerialNumber};
use x509_cert::ext::pkix::CrlReason;
use x509_cert::ext::Extension;
use x509_cert::spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;
use x509_ocsp::{
    BasicOcspResponse, CertId, CertStatus, OcspGeneralizedTime, OcspRequest, OcspResponse, OcspResponseStatus,
    ResponderId, ResponseData, RevokedInfo, SingleResponse, Version,
};

use crate::ca::CaCertificate;
use crate::CryptoError;

/// At most this many certificates in one OCSP request; more is a malformed request.
pub const MAX_OCSP_QUERIES: usize = 16;

/// How long an OCSP answer may be relied on (its nextUpdate). Revocations reach the
/// responder at once; a verifier that caches an answer sees them after at most this.
const OCSP_VALIDITY_SECONDS: i64 = 600;

const ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const ID_PKIX_OCSP_NONCE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.2");
const SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
const SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
const SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");

/// Why a certificate was revoked (RFC 5280 §5.3.1), the codes we use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevocationReason {
    KeyCompromise,
    AffiliationChanged,
    Superseded,
    CessationOfOperation,
}

impl RevocationReason {
    /// The RFC 5280 code, as stored.
    pub fn code(self) -> i64 {
        match self {
            RevocationReason::KeyCompromise => 1,
            RevocationReason::AffiliationChanged => 3,
            RevocationReason::Superseded => 4,
            RevocationReason::CessationOfOperation => 5,
        }
    }

    pub fn from_code(code: i64) -> Option<Self> {
        [Self::KeyCompromise, Self::AffiliationChanged, Self::Superseded, Self::CessationOfOperation]
            .into_iter()
            .find(|r| r.code() == code)
    }

    /// The RFC 5280 name: `keyCompromise`, `superseded`, …
    pub fn name(self) -> &'static str {
        match self {
            RevocationReason::KeyCompromise => "keyCompromise",
            RevocationReason::AffiliationChanged => "affiliationChanged",
            RevocationReason::Superseded => "superseded",
            RevocationReason::CessationOfOperation => "cessationOfOperation",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        [Self::KeyCompromise, Self::AffiliationChanged, Self::Superseded, Self::CessationOfOperation]
            .into_iter()
            .find(|r| r.name().eq_ignore_ascii_case(name))
    }

    fn rcgen(self) -> rcgen::RevocationReason {
        match self {
            RevocationReason::KeyCompromise => rcgen::RevocationReason::KeyCompromise,
            RevocationReason::AffiliationChanged => rcgen::RevocationReason::AffiliationChanged,
            RevocationReason::Superseded => rcgen::RevocationReason::Superseded,
            RevocationReason::CessationOfOperation => rcgen::RevocationReason::CessationOfOperation,
        }
    }

    fn crl_reason(self) -> CrlReason {
        match self {
            RevocationReason::KeyCompromise => CrlReason::KeyCompromise,
            RevocationReason::AffiliationChanged => CrlReason::AffiliationChanged,
            RevocationReason::Superseded => CrlReason::Superseded,
            RevocationReason::CessationOfOperation => CrlReason::CessationOfOperation,
        }
    }
}

/// A revoked certificate, as a CRL or an OCSP answer names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    /// The certificate's serial number in lower-case hex without leading zeros, as
    /// [`crate::CertificateInfo::serial_hex`] gives it.
    pub serial_hex: String,
    pub at: DateTime<Utc>,
    /// None for "unspecified", which RFC 5280 asks to leave out.
    pub reason: Option<RevocationReason>,
}

/// What the responder says of one certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertificateStatus {
    Good,
    Revoked {
        at: DateTime<Utc>,
        reason: Option<RevocationReason>,
    },
    /// Not a certificate of ours (an unknown serial number or another issuer).
    Unknown,
}

/// A request refused as a whole, answered with a status and no response data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OcspRefusal {
    Malformed,
    InternalError,
}

impl OcspRefusal {
    /// The DER OCSPResponse that carries only the status.
    pub fn to_der(self) -> Vec<u8> {
        let status = match self {
            OcspRefusal::Malformed => OcspResponseStatus::MalformedRequest,
            OcspRefusal::InternalError => OcspResponseStatus::InternalError,
        };
        // Two small integers in a sequence: this encoding cannot fail.
        OcspResponse { response_status: status, response_bytes: None }.to_der().unwrap_or_default()
    }
}

/// A decoded OCSP request: the certificates asked about, in order, and the nonce to echo.
#[derive(Debug, Clone)]
pub struct OcspQuery {
    cert_ids: Vec<CertId>,
    /// Per certificate: its serial number (hex, as [`Revocation::serial_hex`]) when the
    /// request names our issuer, None when it names another.
    pub serials: Vec<Option<String>>,
    nonce: Option<Extension>,
}

/// The delegated OCSP responder of one CA: a certificate of its own (extended key usage
/// OCSPSigning, issued by that CA), and what identifies the CA in requests.
pub struct OcspResponder {
    signer: CaCertificate,
    certificate: Certificate,
    /// SHA-1 of the responder's public key bits: its ResponderID.
    key_hash: Vec<u8>,
    not_after: DateTime<Utc>,
    issuer_name_der: Vec<u8>,
    issuer_key_bits: Vec<u8>,
}

impl std::fmt::Debug for OcspResponder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OcspResponder").field("not_after", &self.not_after).finish_non_exhaustive()
    }
}

impl OcspResponder {
    /// The responder `signer` answering for the certificates of `issuer_cert_der`.
    pub fn new(signer: CaCertificate, issuer_cert_der: &[u8]) -> Result<Self, CryptoError> {
        let (_, responder) = x509_parser::parse_x509_certificate(&signer.cert_der)
            .map_err(|e| CryptoError::MalformedCertificate(format!("OCSP responder: {e}")))?;
        let (_, issuer) = x509_parser::parse_x509_certificate(issuer_cert_der)
            .map_err(|e| CryptoError::MalformedCertificate(format!("OCSP issuer: {e}")))?;
        let certificate = Certificate::from_der(&signer.cert_der)
            .map_err(|e| CryptoError::MalformedCertificate(format!("OCSP responder: {e}")))?;
        let key_hash = digest(&SHA1, &responder.public_key().subject_public_key.data).unwrap_or_default();
        let not_after = DateTime::from_timestamp(responder.validity().not_after.timestamp(), 0)
            .ok_or_else(|| CryptoError::MalformedCertificate("OCSP responder: validity out of range".into()))?;
        Ok(OcspResponder {
            key_hash,
            not_after,
            issuer_name_der: issuer.subject().as_raw().to_vec(),
            issuer_key_bits: issuer.public_key().subject_public_key.data.to_vec(),
            certificate,
            signer,
        })
    }

    /// When the responder certificate expires.
    pub fn not_after(&self) -> DateTime<Utc> {
        self.not_after
    }

    /// Decodes a DER OCSPRequest. Certificates of other issuers, or named with a hash we
    /// do not know, are kept (their answer is "unknown"); a request that cannot be read,
    /// asks about nothing, or asks about more than [`MAX_OCSP_QUERIES`] is refused.
    pub fn read_request(&self, der: &[u8]) -> Result<OcspQuery, OcspRefusal> {
        let request = OcspRequest::from_der(der).map_err(|_| OcspRefusal::Malformed)?;
        let list = request.tbs_request.request_list;
        if list.is_empty() || list.len() > MAX_OCSP_QUERIES {
            return Err(OcspRefusal::Malformed);
        }
        let nonce =
            request.tbs_request.request_extensions.into_iter().flatten().find(|e| e.extn_id == ID_PKIX_OCSP_NONCE);
        let cert_ids: Vec<CertId> = list.into_iter().map(|r| r.req_cert).collect();
        let serials = cert_ids
            .iter()
            .map(|id| self.names_our_issuer(id).then(|| serial_hex(id.serial_number.as_bytes())))
            .collect();
        Ok(OcspQuery { cert_ids, serials, nonce })
    }

    fn names_our_issuer(&self, id: &CertId) -> bool {
        let algorithm = &id.hash_algorithm.oid;
        digest(algorithm, &self.issuer_name_der).is_some_and(|h| h == id.issuer_name_hash.as_bytes())
            && digest(algorithm, &self.issuer_key_bits).is_some_and(|h| h == id.issuer_key_hash.as_bytes())
    }

    /// The signed answer: one status per certificate of `query`, in its order, valid from
    /// `now` (whole seconds, as GeneralizedTime allows) for ten minutes, with the request's
    /// nonce echoed and the responder certificate attached.
    pub fn respond(
        &self,
        query: &OcspQuery,
        statuses: &[CertificateStatus],
        now: DateTime<Utc>,
    ) -> Result<Vec<u8>, CryptoError> {
        if statuses.len() != query.cert_ids.len() {
            return Err(CryptoError::Issuance("one status per certificate asked about".into()));
        }
        let this_update = generalized_time(now)?;
        let next_update = generalized_time(now + chrono::Duration::seconds(OCSP_VALIDITY_SECONDS))?;
        let responses = query
            .cert_ids
            .iter()
            .zip(statuses)
            .map(|(id, status)| {
                Ok(SingleResponse {
                    cert_id: id.clone(),
                    cert_status: match status {
                        CertificateStatus::Good => CertStatus::good(),
                        CertificateStatus::Unknown => CertStatus::unknown(),
                        CertificateStatus::Revoked { at, reason } => CertStatus::revoked(RevokedInfo {
                            revocation_time: generalized_time(*at)?,
                            revocation_reason: reason.map(RevocationReason::crl_reason),
                        }),
                    },
                    this_update,
                    next_update: Some(next_update),
                    single_extensions: None,
                })
            })
            .collect::<Result<Vec<_>, CryptoError>>()?;
        let data = ResponseData {
            version: Version::V1,
            responder_id: ResponderId::ByKey(octets(&self.key_hash)?),
            produced_at: this_update,
            responses,
            response_extensions: query.nonce.clone().map(|nonce| vec![nonce]),
        };
        let signature = self.signer.key.sign(&data.to_der().map_err(encoding)?)?;
        let basic = BasicOcspResponse {
            tbs_response_data: data,
            signature_algorithm: AlgorithmIdentifierOwned { oid: ECDSA_WITH_SHA256, parameters: None },
            signature: BitString::from_bytes(&signature).map_err(encoding)?,
            certs: Some(vec![self.certificate.clone()]),
        };
        OcspResponse::successful(basic).and_then(|r| r.to_der()).map_err(encoding)
    }
}

/// The CRL of `ca`: every revocation in `revoked`, numbered `number` (which must grow
/// from one CRL to the next), issued at `now` and due again an hour later.
pub fn revocation_list(
    ca: &CaCertificate,
    revoked: &[Revocation],
    number: u64,
    now: DateTime<Utc>,
) -> Result<Vec<u8>, CryptoError> {
    let revoked_certs = revoked
        .iter()
        .map(|r| {
            Ok(RevokedCertParams {
                serial_number: SerialNumber::from_slice(&serial_bytes(&r.serial_hex)?),
                revocation_time: offset_time(r.at)?,
                reason_code: r.reason.map(RevocationReason::rcgen),
                invalidity_date: None,
            })
        })
        .collect::<Result<Vec<_>, CryptoError>>()?;
    let params = CertificateRevocationListParams {
        this_update: offset_time(now)?,
        next_update: offset_time(now + chrono::Duration::hours(1))?,
        crl_number: SerialNumber::from_slice(&number.to_be_bytes()),
        issuing_distribution_point: None,
        revoked_certs,
        key_identifier_method: KeyIdMethod::Sha256,
    };
    let issuer = Issuer::from_ca_cert_der(&ca.cert_der.as_slice().into(), ca.key.rcgen_key_pair()?)
        .map_err(|e| CryptoError::MalformedCertificate(format!("CA certificate: {e}")))?;
    let crl = params.signed_by(&issuer).map_err(|e| CryptoError::Issuance(format!("CRL: {e}")))?;
    Ok(crl.der().to_vec())
}

/// Lower-case hex of an unsigned big-endian integer, without leading zeros ("0" for zero).
fn serial_hex(bytes: &[u8]) -> String {
    let digits = hex::encode(bytes);
    match digits.trim_start_matches('0') {
        "" => "0".to_string(),
        rest => rest.to_string(),
    }
}

/// The DER INTEGER content for a serial number in hex: a leading zero byte where the top
/// bit would make it negative.
fn serial_bytes(serial_hex: &str) -> Result<Vec<u8>, CryptoError> {
    let padded = if serial_hex.len() % 2 == 1 { format!("0{serial_hex}") } else { serial_hex.to_string() };
    let mut bytes =
        hex::decode(padded).map_err(|_| CryptoError::Issuance(format!("serial number {serial_hex:?} is not hex")))?;
    if bytes.first().is_some_and(|b| b & 0x80 != 0) {
        bytes.insert(0, 0);
    }
    Ok(bytes)
}

/// A DER OCSP request about `cert_der`, issued by `issuer_der` (CertID with SHA-1, which
/// every responder reads), without a nonce: for revocation information kept with a
/// signature (PAdES B-LT), asked of our own responder.
pub fn ocsp_request(cert_der: &[u8], issuer_der: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let cert = crate::cert::parse(cert_der)?;
    let issuer = crate::cert::parse(issuer_der)?;
    let hash = |data: &[u8]| digest(&SHA1, data).unwrap_or_default();
    let algorithm = crate::der::sequence(&[&crate::der::oid(&[0x2b, 0x0e, 0x03, 0x02, 0x1a]), &crate::der::null()]);
    let cert_id = crate::der::sequence(&[
        &algorithm,
        &crate::der::octet_string(&hash(issuer.subject().as_raw())),
        &crate::der::octet_string(&hash(&issuer.public_key().subject_public_key.data)),
        &crate::der::tlv(0x02, cert.raw_serial()),
    ]);
    let request = crate::der::sequence(&[&cert_id]);
    let tbs = crate::der::sequence(&[&crate::der::sequence(&[&request])]);
    Ok(crate::der::sequence(&[&tbs]))
}

fn digest(algorithm: &ObjectIdentifier, data: &[u8]) -> Option<Vec<u8>> {
    use aws_lc_rs::digest;
    let algorithm = match *algorithm {
        SHA1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
        SHA256 => &digest::SHA256,
        SHA384 => &digest::SHA384,
        SHA512 => &digest::SHA512,
        _ => return None,
    };
    Some(digest::digest(algorithm, data).as_ref().to_vec())
}

fn generalized_time(at: DateTime<Utc>) -> Result<OcspGeneralizedTime, CryptoError> {
    let seconds = u64::try_from(at.timestamp()).map_err(|_| CryptoError::Issuance("time before 1970".into()))?;
    let time = der::DateTime::from_unix_duration(std::time::Duration::from_secs(seconds)).map_err(encoding)?;
    Ok(OcspGeneralizedTime(GeneralizedTime::from_date_time(time)))
}

fn offset_time(at: DateTime<Utc>) -> Result<time::OffsetDateTime, CryptoError> {
    time::OffsetDateTime::from_unix_timestamp(at.timestamp())
        .map_err(|e| CryptoError::Issuance(format!("time out of range: {e}")))
}

fn octets(bytes: &[u8]) -> Result<OctetString, CryptoError> {
    OctetString::new(bytes).map_err(encoding)
}

fn encoding(e: der::Error) -> CryptoError {
    CryptoError::Issuance(format!("DER encoding: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ca::CertificateAuthority;
    use crate::{CertificateInfo, KeyAlgorithm, PrivateKey};

    #[test]
    fn serial_numbers_round_trip_through_hex() {
        for hex in ["1", "7f", "80", "4a5b6c7d8e9f00112233445566778899", "ff00"] {
            let bytes = serial_bytes(hex).expect("hex");
            assert_eq!(serial_hex(&bytes), hex);
            assert_eq!(bytes[0] & 0x80, 0, "{hex} encodes as a positive integer");
        }
        assert_eq!(serial_hex(&[0, 0]), "0");
        assert!(serial_bytes("xyz").is_err());
    }

    #[test]
    fn reasons_keep_their_codes_and_names() {
        for reason in [
            RevocationReason::KeyCompromise,
            RevocationReason::AffiliationChanged,
            RevocationReason::Superseded,
            RevocationReason::CessationOfOperation,
        ] {
            assert_eq!(RevocationReason::from_code(reason.code()), Some(reason));
            assert_eq!(RevocationReason::from_name(&reason.name().to_uppercase()), Some(reason));
            assert_eq!(reason.rcgen() as i64, reason.code());
            assert_eq!(reason.crl_reason() as i64, reason.code());
        }
        assert_eq!(RevocationReason::from_code(0), None);
        assert_eq!(RevocationReason::from_name("whim"), None);
    }

    #[test]
    fn refusals_and_junk() {
        let ca = CertificateAuthority::create("Test", None).expect("ca");
        let responder =
            OcspResponder::new(ca.issue_ocsp_responder("Test", 30).expect("responder"), &ca.issuing.cert_der)
                .expect("responder");
        assert_eq!(responder.read_request(b"junk").unwrap_err(), OcspRefusal::Malformed);
        // OCSPResponse ::= SEQUENCE { ENUMERATED 1 }
        assert_eq!(OcspRefusal::Malformed.to_der(), [0x30, 0x03, 0x0a, 0x01, 0x01]);
        assert_eq!(OcspRefusal::InternalError.to_der(), [0x30, 0x03, 0x0a, 0x01, 0x02]);
        let days = (responder.not_after() - Utc::now()).num_days();
        assert!((29..=30).contains(&days), "{days}");
    }

    #[test]
    fn a_crl_lists_what_was_revoked() {
        let ca = CertificateAuthority::create("Test", None).expect("ca");
        let key = PrivateKey::generate(KeyAlgorithm::EcP256).expect("key");
        let cert =
            ca.issue_user_certificate(&key.csr_der("x").expect("csr"), "MIDCHE0000000001", 10, None).expect("issued");
        let serial_hex = CertificateInfo::parse(&cert).expect("info").serial_hex;
        let at = DateTime::from_timestamp(1_790_000_000, 0).expect("time");
        let revoked = [Revocation { serial_hex: serial_hex.clone(), at, reason: Some(RevocationReason::Superseded) }];
        let der = revocation_list(&ca.issuing, &revoked, 7, Utc::now()).expect("crl");
        let (_, crl) = x509_parser::parse_x509_crl(&der).expect("parses");
        let (_, issuing) = x509_parser::parse_x509_certificate(&ca.issuing.cert_der).expect("issuing");
        crl.verify_signature(issuing.public_key()).expect("signed by the issuing CA");
        assert_eq!(crl.crl_number().map(|n| n.to_string()), Some("7".into()));
        let entries: Vec<_> = crl.iter_revoked_certificates().collect();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].raw_serial_as_string().replace(':', "").trim_start_matches('0'), serial_hex);
        assert_eq!(entries[0].revocation_date.timestamp(), at.timestamp());
    }
}
