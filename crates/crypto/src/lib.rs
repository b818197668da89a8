//! Cryptography for the Mobile ID platform: our certificate authority, CMS SignedData as
//! Swisscom Mobile ID produces it, signing keys, and encryption of secrets at rest.
//!
//! Neighbours: the `engine` uses it to issue user certificates at enrolment, to build the
//! signed attributes a phone must sign, and to verify and assemble the signature; the
//! `phone` uses it to hold its key (sealed under the PIN), make its CSR, and check what
//! it is asked to sign; the `server` uses the CA for TLS and the verifier for the ETSI
//! validate service; the OpenID Connect provider uses `jose` to sign ID tokens and to
//! verify client assertions. The crate does no I/O and knows no domain types: serial numbers
//! and the like arrive as plain strings, already checked by `core`.

mod at_rest;
mod ca;
mod cert;
mod cms;
mod der;
pub mod device_auth;
mod error;
pub mod jose;
mod keys;
mod mac;
mod pades;
mod pem;
mod rfc2253;
mod status;
mod timestamp;

pub use at_rest::{MasterKey, PinGuard, PinKey, PinProof, PinShare};
pub use ca::{
    check_csr, self_signed_client_certificate, CaCertificate, CertificateAuthority, CertificateLinks, CertificateUse,
    SubjectAttribute,
};
pub use cert::{sha256_fingerprint_hex, verify_chain, CertificateInfo};
pub use cms::{
    assemble_signed_data, signed_attributes, signed_attributes_for_digest, verify_detached_signed_data,
    verify_signed_data, VerifiedSignature,
};
pub use error::CryptoError;
pub use keys::{verify_signature, KeyAlgorithm, PrivateKey, SubjectKey};
pub use mac::hmac_sha256;
pub use pades::{check_pdf_signed_attributes, pdf_signed_attributes, DocumentCommitment};
pub use pem::{pem_decode_all, pem_encode};
pub use status::{
    ocsp_request, revocation_list, CertificateStatus, OcspQuery, OcspRefusal, OcspResponder, Revocation,
    RevocationReason, MAX_OCSP_QUERIES,
};
pub use timestamp::{signature_value, timestamp_request, timestamp_token, with_signature_timestamp};
