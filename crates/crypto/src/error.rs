use thiserror::Error;

/// Everything that can go wrong in this crate.
///
/// Variants name the caller's problem rather than the library that noticed it, so that
/// the front ends can map them to protocol faults without looking at strings.
#[derive(Debug, Error)]
pub enum CryptoError {
    #[error("unsupported key: {0}")]
    UnsupportedKey(String),
    #[error("malformed key: {0}")]
    MalformedKey(String),
    #[error("key generation failed: {0}")]
    KeyGeneration(String),
    #[error("signing failed")]
    Signing,
    #[error("signature does not verify")]
    BadSignature,
    #[error("malformed certificate: {0}")]
    MalformedCertificate(String),
    #[error("certificate signing request rejected: {0}")]
    BadCsr(String),
    #[error("certificate issuance failed: {0}")]
    Issuance(String),
    #[error("certificate chain rejected: {0}")]
    BadChain(String),
    #[error("malformed CMS signature: {0}")]
    MalformedCms(String),
    #[error("the signed content does not match the messageDigest attribute")]
    ContentDigestMismatch,
    #[error("malformed PEM: {0}")]
    MalformedPem(String),
    #[error("sealed data is malformed: {0}")]
    MalformedSealedData(String),
    /// Wrong master key, wrong context, or altered bytes: AES-GCM cannot tell these apart.
    #[error("sealed data cannot be opened with this key and context")]
    SealedDataRejected,
    /// A JWS/JWT that cannot be read: wrong shape, bad base64url, header or payload not JSON.
    #[error("malformed JWT: {0}")]
    MalformedJwt(String),
    /// A well-formed JWS/JWT refused by policy: `alg` none or not allowed, an `alg` that does
    /// not fit the key, an unknown `kid`, or `crit` headers. A bad signature is [`CryptoError::BadSignature`].
    #[error("JWT rejected: {0}")]
    JwtRejected(String),
    #[error("malformed JWK: {0}")]
    MalformedJwk(String),
}
