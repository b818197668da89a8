//! Key pairs the platform signs with, and the public keys it verifies against.
//!
//! Only the two kinds Mobile ID knows are supported: EC P-256 and RSA (2048 bits when we
//! generate; longer RSA keys are accepted when verifying, as CA certificates use them).

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair};
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;
use x509_parser::x509::SubjectPublicKeyInfo;

use crate::der::{self, oid};
use crate::CryptoError;

/// The key algorithms Mobile ID users hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyAlgorithm {
    EcP256,
    /// RSA with PKCS#1 v1.5 signatures; 2048-bit when generated here.
    Rsa2048,
}

impl KeyAlgorithm {
    /// The spelling the MSS profile query uses (`MobileUserCertificate.Algorithm`).
    pub fn name(self) -> &'static str {
        match self {
            KeyAlgorithm::EcP256 => "EC",
            KeyAlgorithm::Rsa2048 => "RSA",
        }
    }
}

const RSA_BITS: usize = 2048;

/// A private key as PKCS#8 DER, with the parsed form kept ready for signing.
///
/// Parsing (especially RSA, where aws-lc checks the key's consistency) costs far more than a
/// signature, and robot users sign on every request, so the parsed key pair is built once.
#[derive(Clone)]
pub struct PrivateKey {
    pkcs8: Vec<u8>,
    signer: Arc<Signer>,
}

enum Signer {
    Ec(EcdsaKeyPair),
    Rsa(RsaKeyPair),
}

impl PrivateKey {
    /// Makes a fresh key pair.
    pub fn generate(algorithm: KeyAlgorithm) -> Result<Self, CryptoError> {
        let pkcs8 = match algorithm {
            KeyAlgorithm::EcP256 => {
                EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, &SystemRandom::new())
                    .map_err(|_| CryptoError::KeyGeneration("EC P-256 generation failed".into()))?
                    .as_ref()
                    .to_vec()
            }
            KeyAlgorithm::Rsa2048 => RsaKeyPair::generate(KeySize::Rsa2048)
                .and_then(|pair| pair.as_der())
                .map_err(|_| CryptoError::KeyGeneration("RSA 2048 generation failed".into()))?
                .as_ref()
                .to_vec(),
        };
        Self::from_pkcs8_der(&pkcs8)
    }

    /// Reads a PKCS#8 key, telling EC P-256 from RSA by trying each.
    pub fn from_pkcs8_der(pkcs8: &[u8]) -> Result<Self, CryptoError> {
        let signer = if let Ok(pair) = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8) {
            Signer::Ec(pair)
        } else {
            let pair = RsaKeyPair::from_pkcs8(pkcs8)
                .map_err(|e| CryptoError::UnsupportedKey(format!("not an EC P-256 or RSA PKCS#8 private key ({e})")))?;
            if pair.public_modulus_len() * 8 < RSA_BITS {
                return Err(CryptoError::UnsupportedKey("RSA keys must have at least 2048 bits".into()));
            }
            Signer::Rsa(pair)
        };
        Ok(PrivateKey { pkcs8: pkcs8.to_vec(), signer: Arc::new(signer) })
    }

    pub fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }

    pub fn algorithm(&self) -> KeyAlgorithm {
        match *self.signer {
            Signer::Ec(_) => KeyAlgorithm::EcP256,
            Signer::Rsa(_) => KeyAlgorithm::Rsa2048,
        }
    }

    /// Signs `message` with SHA-256: ECDSA with a DER `(r, s)` signature, or RSASSA-PKCS1-v1_5.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let rng = SystemRandom::new();
        match &*self.signer {
            Signer::Ec(pair) => {
                pair.sign(&rng, message).map(|sig| sig.as_ref().to_vec()).map_err(|_| CryptoError::Signing)
            }
            Signer::Rsa(pair) => {
                let mut sig = vec![0; pair.public_modulus_len()];
                pair.sign(&signature::RSA_PKCS1_SHA256, &rng, message, &mut sig).map_err(|_| CryptoError::Signing)?;
                Ok(sig)
            }
        }
    }

    /// The public key as a DER SubjectPublicKeyInfo.
    pub fn public_key_spki_der(&self) -> Vec<u8> {
        match &*self.signer {
            Signer::Ec(pair) => der::sequence(&[
                &der::sequence(&[&der::oid(oid::EC_PUBLIC_KEY), &der::oid(oid::P256)]),
                &der::bit_string(pair.public_key().as_ref()),
            ]),
            Signer::Rsa(pair) => der::sequence(&[
                &der::sequence(&[&der::oid(oid::RSA_ENCRYPTION), &der::null()]),
                &der::bit_string(pair.public_key().as_ref()),
            ]),
        }
    }

    /// The public half, ready for [`verify_signature`].
    pub fn subject_key(&self) -> SubjectKey {
        match &*self.signer {
            Signer::Ec(pair) => {
                SubjectKey { algorithm: KeyAlgorithm::EcP256, public_key: pair.public_key().as_ref().to_vec() }
            }
            Signer::Rsa(pair) => {
                SubjectKey { algorithm: KeyAlgorithm::Rsa2048, public_key: pair.public_key().as_ref().to_vec() }
            }
        }
    }

    /// A PKCS#10 certificate signing request for this key with subject `CN=<common_name>`.
    ///
    /// Our CA ignores the requested subject; the name only helps people reading the CSR.
    pub fn csr_der(&self, common_name: &str) -> Result<Vec<u8>, CryptoError> {
        let key_pair = self.rcgen_key_pair()?;
        let mut params = rcgen::CertificateParams::default();
        let mut name = rcgen::DistinguishedName::new();
        name.push(rcgen::DnType::CommonName, common_name);
        params.distinguished_name = name;
        let csr = params
            .serialize_request(&key_pair)
            .map_err(|e| CryptoError::Issuance(format!("cannot build the CSR: {e}")))?;
        Ok(csr.der().to_vec())
    }

    /// The same key in rcgen's form, for building certificates and CSRs.
    pub(crate) fn rcgen_key_pair(&self) -> Result<rcgen::KeyPair, CryptoError> {
        rcgen::KeyPair::try_from(self.pkcs8.as_slice())
            .map_err(|e| CryptoError::UnsupportedKey(format!("rcgen rejects the key: {e}")))
    }
}

impl fmt::Debug for PrivateKey {
    // Never print key material, not even in logs of a failed test.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey").field("algorithm", &self.algorithm()).finish_non_exhaustive()
    }
}

/// A public key in the form aws-lc-rs verifies with: the uncompressed point for EC, the
/// PKCS#1 `RSAPublicKey` DER for RSA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectKey {
    algorithm: KeyAlgorithm,
    public_key: Vec<u8>,
}

impl SubjectKey {
    /// The key a certificate certifies.
    pub fn from_certificate_der(cert_der: &[u8]) -> Result<Self, CryptoError> {
        let (_, cert) = x509_parser::parse_x509_certificate(cert_der)
            .map_err(|e| CryptoError::MalformedCertificate(e.to_string()))?;
        Self::from_spki(cert.public_key())
    }

    /// A key given as DER SubjectPublicKeyInfo.
    pub fn from_spki_der(spki_der: &[u8]) -> Result<Self, CryptoError> {
        let (rest, spki) =
            SubjectPublicKeyInfo::from_der(spki_der).map_err(|e| CryptoError::MalformedKey(e.to_string()))?;
        if !rest.is_empty() {
            return Err(CryptoError::MalformedKey("trailing bytes after the SubjectPublicKeyInfo".into()));
        }
        Self::from_spki(&spki)
    }

    /// Accepts EC P-256 and RSA of at least 2048 bits, and nothing else.
    pub(crate) fn from_spki(spki: &SubjectPublicKeyInfo<'_>) -> Result<Self, CryptoError> {
        let parsed = spki.parsed().map_err(|e| CryptoError::MalformedKey(e.to_string()))?;
        let algorithm = match parsed {
            PublicKey::EC(_) => {
                let curve = spki.algorithm.parameters.as_ref().and_then(|p| p.as_oid().ok());
                if curve.as_ref().map(|c| c.as_bytes()) != Some(oid::P256) {
                    return Err(CryptoError::UnsupportedKey("EC keys must be on curve P-256".into()));
                }
                KeyAlgorithm::EcP256
            }
            PublicKey::RSA(rsa) => {
                if rsa.key_size() < RSA_BITS {
                    return Err(CryptoError::UnsupportedKey(format!(
                        "RSA keys must have at least {RSA_BITS} bits, this one has {}",
                        rsa.key_size()
                    )));
                }
                KeyAlgorithm::Rsa2048
            }
            _ => return Err(CryptoError::UnsupportedKey("only EC P-256 and RSA keys are supported".into())),
        };
        Ok(SubjectKey { algorithm, public_key: spki.subject_public_key.data.to_vec() })
    }

    pub fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }
}

/// Checks a SHA-256 signature made by [`PrivateKey::sign`] (or any equivalent signer).
pub fn verify_signature(key: &SubjectKey, message: &[u8], signature: &[u8]) -> Result<(), CryptoError> {
    let algorithm: &dyn signature::VerificationAlgorithm = match key.algorithm {
        KeyAlgorithm::EcP256 => &signature::ECDSA_P256_SHA256_ASN1,
        KeyAlgorithm::Rsa2048 => &signature::RSA_PKCS1_2048_8192_SHA256,
    };
    signature::UnparsedPublicKey::new(algorithm, &key.public_key)
        .verify(message, signature)
        .map_err(|_| CryptoError::BadSignature)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(algorithm: KeyAlgorithm) {
        let key = PrivateKey::generate(algorithm).expect("generate");
        assert_eq!(key.algorithm(), algorithm);

        let reloaded = PrivateKey::from_pkcs8_der(key.pkcs8_der()).expect("reload");
        assert_eq!(reloaded.algorithm(), algorithm);
        assert_eq!(reloaded.public_key_spki_der(), key.public_key_spki_der());

        let subject = SubjectKey::from_spki_der(&key.public_key_spki_der()).expect("spki");
        assert_eq!(subject, key.subject_key());
        let sig = reloaded.sign(b"hello").expect("sign");
        verify_signature(&subject, b"hello", &sig).expect("verifies");
        assert!(matches!(verify_signature(&subject, b"hellO", &sig), Err(CryptoError::BadSignature)));

        let other = PrivateKey::generate(algorithm).expect("generate");
        let foreign = other.sign(b"hello").expect("sign");
        assert!(verify_signature(&subject, b"hello", &foreign).is_err());
    }

    #[test]
    fn ec_keys_sign_and_verify() {
        round_trip(KeyAlgorithm::EcP256);
    }

    #[test]
    fn rsa_keys_sign_and_verify() {
        round_trip(KeyAlgorithm::Rsa2048);
    }

    #[test]
    fn names_follow_the_profile_query() {
        assert_eq!(KeyAlgorithm::EcP256.name(), "EC");
        assert_eq!(KeyAlgorithm::Rsa2048.name(), "RSA");
    }

    #[test]
    fn garbage_is_not_a_key() {
        assert!(PrivateKey::from_pkcs8_der(b"not a key").is_err());
        assert!(SubjectKey::from_spki_der(b"not a key").is_err());
    }

    #[test]
    fn csr_carries_the_key() {
        use x509_parser::certification_request::X509CertificationRequest;
        let key = PrivateKey::generate(KeyAlgorithm::EcP256).expect("generate");
        let csr_der = key.csr_der("phone").expect("csr");
        let (_, csr) = X509CertificationRequest::from_der(&csr_der).expect("parses");
        csr.verify_signature().expect("self-signed");
        assert_eq!(csr.certification_request_info.subject_pki.raw, &key.public_key_spki_der()[..]);
    }
}
