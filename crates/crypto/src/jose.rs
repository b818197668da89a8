//! JOSE for the OpenID Connect provider: signing ID tokens as compact JWS (RFC 7515),
//! publishing the public keys as JWKs (RFC 7517, 7518, 8037), and verifying the JWTs
//! clients sign for `private_key_jwt` authentication.
//!
//! Three algorithms only: RS256 (RSA PKCS#1 v1.5 with SHA-256), ES256 (ECDSA P-256 with
//! SHA-256, signature as the fixed-size `r || s` JWS wants, not DER) and EdDSA (Ed25519).
//! Symmetric algorithms (HS256 and friends) and `none` are never accepted.
//!
//! All base64 here is base64url without padding; decoding refuses padding, the standard
//! alphabet's `+` and `/`, and non-canonical trailing bits.
//!
//! RSA signing takes about a millisecond, and RSA key generation far longer: callers on an
//! async runtime should run [`SigningKey::sign_jwt`] and [`SigningKey::generate`] on a
//! blocking thread (`spawn_blocking`), not on the runtime's workers.

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::digest;
use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair, RsaPublicKeyComponents};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{Map, Value};

use crate::CryptoError;

/// The JWS algorithms we sign and verify with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JwsAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256; keys of at least 2048 bits.
    Rs256,
    /// ECDSA on P-256 with SHA-256.
    Es256,
    /// Ed25519 (RFC 8037); the only EdDSA curve we support.
    EdDsa,
}

impl JwsAlgorithm {
    /// Every algorithm, e.g. for `id_token_signing_alg_values_supported`.
    pub const ALL: [JwsAlgorithm; 3] = [JwsAlgorithm::Rs256, JwsAlgorithm::Es256, JwsAlgorithm::EdDsa];

    /// The `alg` header value.
    pub fn name(self) -> &'static str {
        match self {
            JwsAlgorithm::Rs256 => "RS256",
            JwsAlgorithm::Es256 => "ES256",
            JwsAlgorithm::EdDsa => "EdDSA",
        }
    }

    /// Reads an `alg` value: exact and case-sensitive. `none`, symmetric and unknown
    /// algorithms give `None`.
    pub fn parse(name: &str) -> Option<JwsAlgorithm> {
        JwsAlgorithm::ALL.into_iter().find(|alg| alg.name() == name)
    }

    /// Whether a public JWK is of the type this algorithm uses (kty, and crv where there is one).
    fn matches_key_type(self, jwk: &Map<String, Value>) -> bool {
        let kty = jwk.get("kty").and_then(Value::as_str);
        let crv = jwk.get("crv").and_then(Value::as_str);
        match self {
            JwsAlgorithm::Rs256 => kty == Some("RSA"),
            JwsAlgorithm::Es256 => kty == Some("EC") && crv == Some("P-256"),
            JwsAlgorithm::EdDsa => kty == Some("OKP") && crv == Some("Ed25519"),
        }
    }
}

/// The bit length of the RSA keys we generate, and the least we accept from PKCS#8.
const RSA_MIN_MODULUS_BYTES: usize = 256;
/// The longest RSA key aws-lc verifies RS256 with (8192 bits).
const RSA_MAX_MODULUS_BYTES: usize = 1024;
/// Bytes of the SHA-256 thumbprint kept for the kid: 12 bytes are 16 base64url characters.
const KID_BYTES: usize = 12;

/// A private signing key with its key id. Debug shows kid and alg only, never key material.
///
/// Cloning is cheap: the parsed key pair is shared.
#[derive(Clone)]
pub struct SigningKey {
    alg: JwsAlgorithm,
    kid: String,
    pkcs8: Vec<u8>,
    public_jwk: Value,
    signer: Arc<Signer>,
}

enum Signer {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey").field("kid", &self.kid).field("alg", &self.alg.name()).finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A fresh key for `alg`: RSA 2048 (RS256), P-256 (ES256) or Ed25519 (EdDSA), generated
    /// with aws-lc-rs.
    ///
    /// The kid is the RFC 7638 thumbprint of the public JWK truncated to its first 12 bytes:
    /// base64url (no padding) of the first 12 bytes of SHA-256 over the thumbprint input,
    /// which is also the first 16 characters of [`jwk_thumbprint`] of [`Self::public_jwk`].
    /// It depends only on the public key, so it survives a PKCS#8 round trip.
    ///
    /// RSA generation can take tens of milliseconds or more: keep it off async workers.
    pub fn generate(alg: JwsAlgorithm) -> Result<SigningKey, CryptoError> {
        let pkcs8 = match alg {
            JwsAlgorithm::Rs256 => RsaKeyPair::generate(KeySize::Rsa2048)
                .and_then(|pair| AsDer::<Pkcs8V1Der>::as_der(&pair))
                .map_err(|_| CryptoError::KeyGeneration("RSA 2048 generation failed".into()))?
                .as_ref()
                .to_vec(),
            JwsAlgorithm::Es256 => {
                EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                    .map_err(|_| CryptoError::KeyGeneration("EC P-256 generation failed".into()))?
                    .as_ref()
                    .to_vec()
            }
            JwsAlgorithm::EdDsa => Ed25519KeyPair::generate()
                .and_then(|pair| pair.to_pkcs8v1())
                .map_err(|_| CryptoError::KeyGeneration("Ed25519 generation failed".into()))?
                .as_ref()
                .to_vec(),
        };
        SigningKey::from_pkcs8(alg, &pkcs8)
    }

    /// From the PKCS#8 DER that [`Self::pkcs8_der`] returned (for keys stored sealed at rest).
    /// The key must be of `alg`'s type; RSA keys must have 2048 to 8192 bits.
    pub fn from_pkcs8(alg: JwsAlgorithm, der: &[u8]) -> Result<SigningKey, CryptoError> {
        let (signer, public_jwk) = match alg {
            JwsAlgorithm::Rs256 => {
                let pair = RsaKeyPair::from_pkcs8(der)
                    .map_err(|e| CryptoError::MalformedKey(format!("not an RSA PKCS#8 private key ({e})")))?;
                let len = pair.public_modulus_len();
                if !(RSA_MIN_MODULUS_BYTES..=RSA_MAX_MODULUS_BYTES).contains(&len) {
                    return Err(CryptoError::UnsupportedKey(format!(
                        "RS256 needs an RSA key of 2048 to 8192 bits, this one has {}",
                        len * 8
                    )));
                }
                let public = pair.public_key();
                let mut jwk = Map::new();
                jwk.insert("kty".into(), "RSA".into());
                jwk.insert("n".into(), b64(public.modulus().big_endian_without_leading_zero()).into());
                jwk.insert("e".into(), b64(public.exponent().big_endian_without_leading_zero()).into());
                (Signer::Rsa(pair), jwk)
            }
            JwsAlgorithm::Es256 => {
                let pair = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, der)
                    .map_err(|e| CryptoError::MalformedKey(format!("not an EC P-256 PKCS#8 private key ({e})")))?;
                let point = pair.public_key().as_ref();
                if point.len() != 65 || point[0] != 0x04 {
                    return Err(CryptoError::MalformedKey("EC public key is not an uncompressed P-256 point".into()));
                }
                let mut jwk = Map::new();
                jwk.insert("kty".into(), "EC".into());
                jwk.insert("crv".into(), "P-256".into());
                jwk.insert("x".into(), b64(&point[1..33]).into());
                jwk.insert("y".into(), b64(&point[33..]).into());
                (Signer::Ec(pair), jwk)
            }
            JwsAlgorithm::EdDsa => {
                let pair = Ed25519KeyPair::from_pkcs8(der)
                    .map_err(|e| CryptoError::MalformedKey(format!("not an Ed25519 PKCS#8 private key ({e})")))?;
                let mut jwk = Map::new();
                jwk.insert("kty".into(), "OKP".into());
                jwk.insert("crv".into(), "Ed25519".into());
                jwk.insert("x".into(), b64(pair.public_key().as_ref()).into());
                (Signer::Ed(pair), jwk)
            }
        };
        let digest = digest::digest(&digest::SHA256, thumbprint_input(&public_jwk)?.as_bytes());
        let kid = b64(&digest.as_ref()[..KID_BYTES]);
        let mut public_jwk = public_jwk;
        public_jwk.insert("kid".into(), kid.clone().into());
        public_jwk.insert("alg".into(), alg.name().into());
        public_jwk.insert("use".into(), "sig".into());
        Ok(SigningKey {
            alg,
            kid,
            pkcs8: der.to_vec(),
            public_jwk: Value::Object(public_jwk),
            signer: Arc::new(signer),
        })
    }

    /// The private key as PKCS#8 DER (v1), to be sealed before it is stored.
    pub fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The key id, as published in the JWK and put in every JWS header.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn alg(&self) -> JwsAlgorithm {
        self.alg
    }

    /// The public key as a JWK: kty, kid, alg, use="sig", and n/e (RSA), crv/x/y (EC P-256),
    /// crv/x (OKP Ed25519), base64url without padding.
    pub fn public_jwk(&self) -> Value {
        self.public_jwk.clone()
    }

    /// A compact JWS: header `{"alg","kid","typ"?}`, payload = the claims' JSON.
    ///
    /// `claims` must be a JSON object (a JWT claims set), as [`verify_jwt`] insists.
    /// RS256 signing costs about a millisecond: run it off the async runtime.
    pub fn sign_jwt(&self, claims: &Value, typ: Option<&str>) -> Result<String, CryptoError> {
        if !claims.is_object() {
            return Err(CryptoError::MalformedJwt("the claims must be a JSON object".into()));
        }
        let mut header = Map::new();
        header.insert("alg".into(), self.alg.name().into());
        header.insert("kid".into(), self.kid.clone().into());
        if let Some(typ) = typ {
            header.insert("typ".into(), typ.into());
        }
        let header = serde_json::to_vec(&Value::Object(header)).map_err(|_| CryptoError::Signing)?;
        let payload = serde_json::to_vec(claims).map_err(|_| CryptoError::Signing)?;
        let signing_input = format!("{}.{}", b64(&header), b64(&payload));
        let signature = match self.signer.as_ref() {
            Signer::Rsa(pair) => {
                let mut signature = vec![0; pair.public_modulus_len()];
                pair.sign(&signature::RSA_PKCS1_SHA256, &SystemRandom::new(), signing_input.as_bytes(), &mut signature)
                    .map_err(|_| CryptoError::Signing)?;
                signature
            }
            Signer::Ec(pair) => pair
                .sign(&SystemRandom::new(), signing_input.as_bytes())
                .map_err(|_| CryptoError::Signing)?
                .as_ref()
                .to_vec(),
            Signer::Ed(pair) => pair.sign(signing_input.as_bytes()).as_ref().to_vec(),
        };
        Ok(format!("{signing_input}.{}", b64(&signature)))
    }
}

/// Verifies a compact JWS against public JWKs and returns its claims (a JSON object).
///
/// Refuses: malformed tokens, alg "none" or any alg not in `allowed`, a header alg that
/// does not match the JWK's kty/crv (or its "alg" if the JWK has one), a kid that no key
/// has (when the header has a kid; without a kid, try each key of a matching type),
/// crit headers, a payload that is not a JSON object, and a bad signature.
/// JWKs whose "use" is present and not "sig" are never used.
///
/// It checks no claims (exp, aud, iss): the caller does.
pub fn verify_jwt(token: &str, jwks: &[Value], allowed: &[JwsAlgorithm]) -> Result<Value, CryptoError> {
    let mut parts = token.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(CryptoError::MalformedJwt("a compact JWS has exactly three parts".into()));
    };

    let header: Value = serde_json::from_slice(&b64_decode(header_b64, "header")?)
        .map_err(|_| CryptoError::MalformedJwt("the header is not JSON".into()))?;
    let header =
        header.as_object().ok_or_else(|| CryptoError::MalformedJwt("the header is not a JSON object".into()))?;
    let alg_name = header
        .get("alg")
        .and_then(Value::as_str)
        .ok_or_else(|| CryptoError::MalformedJwt("the header has no alg string".into()))?;
    if alg_name == "none" {
        return Err(CryptoError::JwtRejected("unsigned tokens (alg none) are not accepted".into()));
    }
    let alg = JwsAlgorithm::parse(alg_name)
        .filter(|alg| allowed.contains(alg))
        .ok_or_else(|| CryptoError::JwtRejected(format!("algorithm {alg_name:?} is not allowed")))?;
    if header.contains_key("crit") {
        return Err(CryptoError::JwtRejected("critical header parameters (crit) are not supported".into()));
    }
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(kid)) => Some(kid.as_str()),
        Some(_) => return Err(CryptoError::MalformedJwt("the header kid is not a string".into())),
    };

    let payload = b64_decode(payload_b64, "payload")?;
    let claims: Value =
        serde_json::from_slice(&payload).map_err(|_| CryptoError::MalformedJwt("the payload is not JSON".into()))?;
    if !claims.is_object() {
        return Err(CryptoError::MalformedJwt("the payload is not a JSON object".into()));
    }
    let signature = b64_decode(signature_b64, "signature")?;
    if signature.is_empty() {
        return Err(CryptoError::MalformedJwt("the signature is empty".into()));
    }

    let signable: Vec<&Map<String, Value>> = jwks
        .iter()
        .filter_map(Value::as_object)
        .filter(|jwk| jwk.get("use").is_none_or(|usage| usage.as_str() == Some("sig")))
        .collect();
    let named: Vec<&Map<String, Value>> = match kid {
        Some(kid) => {
            let named: Vec<_> =
                signable.into_iter().filter(|jwk| jwk.get("kid").and_then(Value::as_str) == Some(kid)).collect();
            if named.is_empty() {
                return Err(CryptoError::JwtRejected(format!("no signing key has kid {kid:?}")));
            }
            named
        }
        None => signable,
    };
    let candidates: Vec<&Map<String, Value>> = named
        .into_iter()
        .filter(|jwk| alg.matches_key_type(jwk))
        .filter(|jwk| jwk.get("alg").is_none_or(|key_alg| key_alg.as_str() == Some(alg.name())))
        .collect();
    if candidates.is_empty() {
        return Err(CryptoError::JwtRejected(match kid {
            Some(kid) => format!("the key {kid:?} is not a key for {}", alg.name()),
            None => format!("no key for {}", alg.name()),
        }));
    }

    let signing_input = &token[..header_b64.len() + 1 + payload_b64.len()];
    let mut failure = CryptoError::BadSignature;
    for jwk in &candidates {
        match verify_with_jwk(alg, jwk, signing_input.as_bytes(), &signature) {
            Ok(()) => return Ok(claims),
            // A single named key that cannot be read says more than "bad signature".
            Err(e @ (CryptoError::MalformedJwk(_) | CryptoError::UnsupportedKey(_))) if candidates.len() == 1 => {
                failure = e
            }
            Err(_) => {}
        }
    }
    Err(failure)
}

/// Checks one signature with one public JWK whose type already matches `alg`.
fn verify_with_jwk(alg: JwsAlgorithm, jwk: &Map<String, Value>, message: &[u8], sig: &[u8]) -> Result<(), CryptoError> {
    match alg {
        JwsAlgorithm::Rs256 => {
            let n = jwk_bytes(jwk, "n")?;
            let e = jwk_bytes(jwk, "e")?;
            RsaPublicKeyComponents { n: n.as_slice(), e: e.as_slice() }
                .verify(&signature::RSA_PKCS1_2048_8192_SHA256, message, sig)
                .map_err(|_| CryptoError::BadSignature)
        }
        JwsAlgorithm::Es256 => {
            let x = jwk_bytes(jwk, "x")?;
            let y = jwk_bytes(jwk, "y")?;
            if x.len() != 32 || y.len() != 32 {
                return Err(CryptoError::MalformedJwk("P-256 coordinates must be 32 bytes each".into()));
            }
            let point = [&[0x04][..], &x, &y].concat();
            signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                .verify(message, sig)
                .map_err(|_| CryptoError::BadSignature)
        }
        JwsAlgorithm::EdDsa => {
            let x = jwk_bytes(jwk, "x")?;
            if x.len() != 32 {
                return Err(CryptoError::MalformedJwk("an Ed25519 public key is 32 bytes".into()));
            }
            signature::UnparsedPublicKey::new(&signature::ED25519, x)
                .verify(message, sig)
                .map_err(|_| CryptoError::BadSignature)
        }
    }
}

/// The RFC 7638 thumbprint (base64url SHA-256) of a public JWK.
///
/// Supports kty RSA (members e, kty, n), EC (crv, kty, x, y) and OKP (crv, kty, x, per
/// RFC 8037); other members of the JWK are ignored. The values are hashed as given.
pub fn jwk_thumbprint(jwk: &Value) -> Result<String, CryptoError> {
    let jwk = jwk.as_object().ok_or_else(|| CryptoError::MalformedJwk("a JWK is a JSON object".into()))?;
    let digest = digest::digest(&digest::SHA256, thumbprint_input(jwk)?.as_bytes());
    Ok(b64(digest.as_ref()))
}

/// The RFC 7638 thumbprint input: the required members in lexicographic order, no spaces.
fn thumbprint_input(jwk: &Map<String, Value>) -> Result<String, CryptoError> {
    let kty = jwk.get("kty").and_then(Value::as_str).ok_or_else(|| CryptoError::MalformedJwk("no kty".into()))?;
    let members: &[&str] = match kty {
        "RSA" => &["e", "kty", "n"],
        "EC" => &["crv", "kty", "x", "y"],
        "OKP" => &["crv", "kty", "x"],
        other => return Err(CryptoError::UnsupportedKey(format!("JWK key type {other:?}"))),
    };
    let mut canonical = Map::new();
    for &name in members {
        let value = jwk
            .get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| CryptoError::MalformedJwk(format!("a {kty} JWK needs a string {name:?} member")))?;
        canonical.insert(name.into(), value.into());
    }
    // Written by hand rather than through the map so that member order never depends on
    // serde_json's preserve_order feature; serde_json escapes the strings as RFC 7638 asks.
    let body: Vec<String> = members.iter().map(|&name| format!("{}:{}", Value::from(name), canonical[name])).collect();
    Ok(format!("{{{}}}", body.join(",")))
}

/// A JWK member holding base64url bytes.
fn jwk_bytes(jwk: &Map<String, Value>, name: &str) -> Result<Vec<u8>, CryptoError> {
    let value = jwk
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| CryptoError::MalformedJwk(format!("missing or non-string {name:?}")))?;
    URL_SAFE_NO_PAD.decode(value).map_err(|_| CryptoError::MalformedJwk(format!("{name:?} is not unpadded base64url")))
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Strict base64url: no padding, URL-safe alphabet only, canonical trailing bits.
fn b64_decode(part: &str, what: &str) -> Result<Vec<u8>, CryptoError> {
    URL_SAFE_NO_PAD.decode(part).map_err(|_| CryptoError::MalformedJwt(format!("the {what} is not unpadded base64url")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::BTreeSet;
    use std::sync::OnceLock;

    /// RSA generation is slow: one key per algorithm, shared by the tests.
    fn key(alg: JwsAlgorithm) -> &'static SigningKey {
        static KEYS: OnceLock<Vec<SigningKey>> = OnceLock::new();
        let keys = KEYS.get_or_init(|| JwsAlgorithm::ALL.iter().map(|&a| SigningKey::generate(a).unwrap()).collect());
        keys.iter().find(|k| k.alg() == alg).unwrap()
    }

    fn claims() -> Value {
        json!({"iss": "https://op.example", "sub": "alice", "aud": "client-1", "exp": 4_000_000_000u64, "iat": 1_700_000_000u64})
    }

    fn part(token: &str, i: usize) -> &str {
        token.split('.').nth(i).unwrap()
    }

    /// A token with the given header and payload, signed (properly) by `key` over them.
    fn sign_raw(key: &SigningKey, header: &Value, payload: &[u8]) -> String {
        let input = format!("{}.{}", b64(&serde_json::to_vec(header).unwrap()), b64(payload));
        let signature = match key.signer.as_ref() {
            Signer::Rsa(pair) => {
                let mut s = vec![0; pair.public_modulus_len()];
                pair.sign(&signature::RSA_PKCS1_SHA256, &SystemRandom::new(), input.as_bytes(), &mut s).unwrap();
                s
            }
            Signer::Ec(pair) => pair.sign(&SystemRandom::new(), input.as_bytes()).unwrap().as_ref().to_vec(),
            Signer::Ed(pair) => pair.sign(input.as_bytes()).as_ref().to_vec(),
        };
        format!("{input}.{}", b64(&signature))
    }

    fn all_public_jwks() -> Vec<Value> {
        JwsAlgorithm::ALL.iter().map(|&a| key(a).public_jwk()).collect()
    }

    #[test]
    fn algorithm_names_round_trip() {
        for alg in JwsAlgorithm::ALL {
            assert_eq!(JwsAlgorithm::parse(alg.name()), Some(alg));
        }
        assert_eq!(JwsAlgorithm::Rs256.name(), "RS256");
        assert_eq!(JwsAlgorithm::Es256.name(), "ES256");
        assert_eq!(JwsAlgorithm::EdDsa.name(), "EdDSA");
        for bad in ["none", "None", "rs256", "EDDSA", "HS256", "ES384", ""] {
            assert_eq!(JwsAlgorithm::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn sign_verify_round_trip_each_algorithm() {
        let jwks = all_public_jwks();
        for alg in JwsAlgorithm::ALL {
            let key = key(alg);
            let token = key.sign_jwt(&claims(), Some("JWT")).unwrap();
            let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part(&token, 0)).unwrap()).unwrap();
            assert_eq!(header, json!({"alg": alg.name(), "kid": key.kid(), "typ": "JWT"}));
            assert_eq!(verify_jwt(&token, &jwks, &JwsAlgorithm::ALL).unwrap(), claims());
            // Only this algorithm allowed, only this key offered.
            assert_eq!(verify_jwt(&token, &[key.public_jwk()], &[alg]).unwrap(), claims());

            // Without typ, the header has alg and kid only.
            let token = key.sign_jwt(&claims(), None).unwrap();
            let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part(&token, 0)).unwrap()).unwrap();
            assert_eq!(header, json!({"alg": alg.name(), "kid": key.kid()}));
            assert_eq!(verify_jwt(&token, &jwks, &[alg]).unwrap(), claims());

            // Without a kid in the header, each key of the right type is tried.
            let token = sign_raw(key, &json!({"alg": alg.name()}), &serde_json::to_vec(&claims()).unwrap());
            assert_eq!(verify_jwt(&token, &jwks, &[alg]).unwrap(), claims());
            // ... and a key of the right type that did not sign it does not verify it.
            let other = SigningKey::generate(alg).unwrap();
            assert!(matches!(verify_jwt(&token, &[other.public_jwk()], &[alg]), Err(CryptoError::BadSignature)));
        }
    }

    #[test]
    fn claims_must_be_an_object_to_sign() {
        let key = key(JwsAlgorithm::EdDsa);
        assert!(matches!(key.sign_jwt(&json!([1, 2]), None), Err(CryptoError::MalformedJwt(_))));
        assert!(matches!(key.sign_jwt(&json!("x"), None), Err(CryptoError::MalformedJwt(_))));
    }

    #[test]
    fn pkcs8_round_trip_keeps_kid_and_jwk() {
        for alg in JwsAlgorithm::ALL {
            let key = key(alg);
            let again = SigningKey::from_pkcs8(alg, key.pkcs8_der()).unwrap();
            assert_eq!(again.kid(), key.kid());
            assert_eq!(again.alg(), alg);
            assert_eq!(again.public_jwk(), key.public_jwk());
            assert_eq!(again.pkcs8_der(), key.pkcs8_der());
            // The reloaded key signs tokens the original's JWK verifies.
            let token = again.sign_jwt(&claims(), None).unwrap();
            assert_eq!(verify_jwt(&token, &[key.public_jwk()], &[alg]).unwrap(), claims());
            // A key of another type is refused.
            for other in JwsAlgorithm::ALL.into_iter().filter(|&o| o != alg) {
                assert!(SigningKey::from_pkcs8(other, key.pkcs8_der()).is_err(), "{alg:?} as {other:?}");
            }
        }
        assert!(SigningKey::from_pkcs8(JwsAlgorithm::Es256, b"not der").is_err());
    }

    #[test]
    fn public_jwk_has_exactly_the_right_members() {
        let expected = [
            (JwsAlgorithm::Rs256, vec!["alg", "e", "kid", "kty", "n", "use"], "RSA"),
            (JwsAlgorithm::Es256, vec!["alg", "crv", "kid", "kty", "use", "x", "y"], "EC"),
            (JwsAlgorithm::EdDsa, vec!["alg", "crv", "kid", "kty", "use", "x"], "OKP"),
        ];
        for (alg, members, kty) in expected {
            let key = key(alg);
            let jwk = key.public_jwk();
            let names: BTreeSet<&str> = jwk.as_object().unwrap().keys().map(String::as_str).collect();
            assert_eq!(names, members.into_iter().collect::<BTreeSet<_>>(), "{alg:?}");
            assert_eq!(jwk["kty"], kty);
            assert_eq!(jwk["alg"], alg.name());
            assert_eq!(jwk["use"], "sig");
            assert_eq!(jwk["kid"], key.kid());
            for (_, value) in jwk.as_object().unwrap() {
                let s = value.as_str().unwrap();
                assert!(!s.contains('=') && !s.contains('+') && !s.contains('/'), "{s}");
            }
            let decoded = |name: &str| URL_SAFE_NO_PAD.decode(jwk[name].as_str().unwrap()).unwrap();
            match alg {
                JwsAlgorithm::Rs256 => {
                    assert_eq!(decoded("n").len(), 256);
                    assert_ne!(decoded("n")[0], 0);
                    assert_eq!(jwk["e"], "AQAB");
                }
                JwsAlgorithm::Es256 => {
                    assert_eq!(jwk["crv"], "P-256");
                    assert_eq!(decoded("x").len(), 32);
                    assert_eq!(decoded("y").len(), 32);
                }
                JwsAlgorithm::EdDsa => {
                    assert_eq!(jwk["crv"], "Ed25519");
                    assert_eq!(decoded("x").len(), 32);
                }
            }
            // The kid is the thumbprint truncated to 12 bytes (16 characters).
            assert_eq!(key.kid().len(), 16);
            assert_eq!(key.kid(), &jwk_thumbprint(&jwk).unwrap()[..16]);
        }
    }

    #[test]
    fn debug_shows_no_key_material() {
        let key = key(JwsAlgorithm::Es256);
        let shown = format!("{key:?}");
        assert!(shown.contains(key.kid()) && shown.contains("ES256"), "{shown}");
        assert!(!shown.contains("pkcs8") && !shown.contains("signer"), "{shown}");
        assert!(!shown.contains(key.public_jwk()["x"].as_str().unwrap()), "{shown}");
    }

    #[test]
    fn refuses_tampered_payload_and_signature() {
        let jwks = all_public_jwks();
        for alg in JwsAlgorithm::ALL {
            let token = key(alg).sign_jwt(&claims(), None).unwrap();
            let mut forged = claims();
            forged["sub"] = "mallory".into();
            let tampered =
                format!("{}.{}.{}", part(&token, 0), b64(&serde_json::to_vec(&forged).unwrap()), part(&token, 2));
            assert!(matches!(verify_jwt(&tampered, &jwks, &[alg]), Err(CryptoError::BadSignature)), "{alg:?}");

            let mut signature = URL_SAFE_NO_PAD.decode(part(&token, 2)).unwrap();
            signature[5] ^= 0x01;
            let tampered = format!("{}.{}.{}", part(&token, 0), part(&token, 1), b64(&signature));
            assert!(matches!(verify_jwt(&tampered, &jwks, &[alg]), Err(CryptoError::BadSignature)), "{alg:?}");

            let truncated = format!("{}.{}.{}", part(&token, 0), part(&token, 1), b64(&signature[..10]));
            assert!(verify_jwt(&truncated, &jwks, &[alg]).is_err(), "{alg:?}");
        }
    }

    #[test]
    fn refuses_alg_none() {
        let jwks = all_public_jwks();
        let payload = b64(&serde_json::to_vec(&claims()).unwrap());
        // {"alg":"none"}
        assert_eq!(URL_SAFE_NO_PAD.decode("eyJhbGciOiJub25lIn0").unwrap(), br#"{"alg":"none"}"#);
        for token in [format!("eyJhbGciOiJub25lIn0.{payload}."), format!("eyJhbGciOiJub25lIn0.{payload}.c2ln")] {
            assert!(matches!(verify_jwt(&token, &jwks, &JwsAlgorithm::ALL), Err(CryptoError::JwtRejected(_))));
        }
        let kid = key(JwsAlgorithm::Rs256).kid();
        let header = b64(format!(r#"{{"alg":"none","kid":"{kid}"}}"#).as_bytes());
        let token = format!("{header}.{payload}.");
        assert!(matches!(verify_jwt(&token, &jwks, &JwsAlgorithm::ALL), Err(CryptoError::JwtRejected(_))));
    }

    #[test]
    fn refuses_algorithms_not_allowed() {
        let jwks = all_public_jwks();
        let token = key(JwsAlgorithm::Rs256).sign_jwt(&claims(), None).unwrap();
        assert!(matches!(
            verify_jwt(&token, &jwks, &[JwsAlgorithm::Es256, JwsAlgorithm::EdDsa]),
            Err(CryptoError::JwtRejected(_))
        ));
        assert!(matches!(verify_jwt(&token, &jwks, &[]), Err(CryptoError::JwtRejected(_))));
    }

    #[test]
    fn refuses_alg_that_does_not_match_the_key() {
        let rsa = key(JwsAlgorithm::Rs256);
        let ec = key(JwsAlgorithm::Es256);
        let payload = serde_json::to_vec(&claims()).unwrap();

        // HS256 with the RSA public key as the "secret": the classic confusion attack.
        let n = rsa.public_jwk()["n"].as_str().unwrap().to_owned();
        let input =
            format!("{}.{}", b64(format!(r#"{{"alg":"HS256","kid":"{}"}}"#, rsa.kid()).as_bytes()), b64(&payload));
        let mac = aws_lc_rs::hmac::sign(
            &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, n.as_bytes()),
            input.as_bytes(),
        );
        let token = format!("{input}.{}", b64(mac.as_ref()));
        assert!(matches!(verify_jwt(&token, &all_public_jwks(), &JwsAlgorithm::ALL), Err(CryptoError::JwtRejected(_))));

        // An RS256 header naming the EC key.
        let token = sign_raw(rsa, &json!({"alg": "RS256", "kid": ec.kid()}), &payload);
        assert!(matches!(verify_jwt(&token, &all_public_jwks(), &JwsAlgorithm::ALL), Err(CryptoError::JwtRejected(_))));
        // An RS256 token without kid and only an EC key to try.
        let token = sign_raw(rsa, &json!({"alg": "RS256"}), &payload);
        assert!(matches!(verify_jwt(&token, &[ec.public_jwk()], &JwsAlgorithm::ALL), Err(CryptoError::JwtRejected(_))));

        // The key type alone decides when the JWK has no alg: an EC key never verifies RS256,
        // and neither an EC key nor an OKP key relabelled as P-256 verifies EdDSA.
        let mut ec_no_alg = ec.public_jwk();
        ec_no_alg.as_object_mut().unwrap().remove("alg");
        let token = sign_raw(rsa, &json!({"alg": "RS256", "kid": ec.kid()}), &payload);
        assert!(matches!(
            verify_jwt(&token, &[ec_no_alg.clone()], &JwsAlgorithm::ALL),
            Err(CryptoError::JwtRejected(_))
        ));
        let ed = key(JwsAlgorithm::EdDsa);
        let token = sign_raw(ed, &json!({"alg": "EdDSA"}), &payload);
        let mut ed_as_ec = ed.public_jwk();
        ed_as_ec.as_object_mut().unwrap().remove("alg");
        ed_as_ec["crv"] = "P-256".into();
        assert!(matches!(
            verify_jwt(&token, &[ec_no_alg, ed_as_ec], &JwsAlgorithm::ALL),
            Err(CryptoError::JwtRejected(_))
        ));

        // A JWK whose own alg differs from the header's is not used, even of the right kty.
        let mut jwk = rsa.public_jwk();
        jwk["alg"] = "PS256".into();
        let token = rsa.sign_jwt(&claims(), None).unwrap();
        assert!(matches!(verify_jwt(&token, &[jwk], &JwsAlgorithm::ALL), Err(CryptoError::JwtRejected(_))));
        // A JWK without alg is fine when its type matches.
        let mut jwk = rsa.public_jwk();
        jwk.as_object_mut().unwrap().remove("alg");
        assert_eq!(verify_jwt(&token, &[jwk], &JwsAlgorithm::ALL).unwrap(), claims());
        // An encryption key is never used to verify.
        let mut jwk = rsa.public_jwk();
        jwk["use"] = "enc".into();
        assert!(verify_jwt(&token, &[jwk], &JwsAlgorithm::ALL).is_err());
    }

    #[test]
    fn refuses_unknown_kid() {
        let key = key(JwsAlgorithm::Es256);
        let payload = serde_json::to_vec(&claims()).unwrap();
        let token = sign_raw(key, &json!({"alg": "ES256", "kid": "someone-else"}), &payload);
        // The only EC key is the one that signed, but the kid names no key.
        assert!(matches!(verify_jwt(&token, &all_public_jwks(), &JwsAlgorithm::ALL), Err(CryptoError::JwtRejected(_))));
        let token = sign_raw(key, &json!({"alg": "ES256", "kid": 7}), &payload);
        assert!(verify_jwt(&token, &all_public_jwks(), &JwsAlgorithm::ALL).is_err());
    }

    #[test]
    fn refuses_garbage() {
        let jwks = all_public_jwks();
        let good = key(JwsAlgorithm::EdDsa).sign_jwt(&claims(), None).unwrap();
        let (h, p, s) = (part(&good, 0), part(&good, 1), part(&good, 2));
        let padded_sig = base64::engine::general_purpose::URL_SAFE.encode(URL_SAFE_NO_PAD.decode(s).unwrap());
        assert!(padded_sig.ends_with('='));
        let standard_header =
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(br#"{"alg":"EdDSA","kid":"??>>??"}"#);
        assert!(standard_header.contains('/') || standard_header.contains('+'));
        let garbage = [
            String::new(),
            ".".into(),
            "..".into(),
            "abc".into(),
            format!("{h}.{p}"),
            format!("{h}.{p}.{s}.{s}"),
            format!("{h}.{p}.{padded_sig}"),
            format!("{standard_header}.{p}.{s}"),
            format!("{h}.{p}.{s}!"),
            format!("{}.{p}.{s}", b64(b"not json")),
            format!("{}.{p}.{s}", b64(b"[\"EdDSA\"]")),
            format!("{}.{p}.{s}", b64(b"{\"kid\":\"x\"}")),
            format!("{}.{p}.{s}", b64(b"{\"alg\":5}")),
            format!("{h}.{}.{s}", b64(b"not json")),
            format!("{h}.{p}."),
            format!(" {good}"),
        ];
        for token in &garbage {
            assert!(verify_jwt(token, &jwks, &JwsAlgorithm::ALL).is_err(), "{token:?}");
        }
        assert!(verify_jwt(&good, &jwks, &JwsAlgorithm::ALL).is_ok());
        // Garbage keys neither verify nor panic.
        let junk = [
            json!("key"),
            json!({}),
            json!({"kty": "OKP", "crv": "Ed25519", "x": "!!"}),
            json!({"kty": "OKP", "crv": "Ed25519", "x": "AAAA"}),
        ];
        assert!(verify_jwt(&good, &junk, &JwsAlgorithm::ALL).is_err());
    }

    #[test]
    fn refuses_payload_that_is_not_an_object() {
        let key = key(JwsAlgorithm::Es256);
        for payload in [&b"[1,2,3]"[..], b"\"a string\"", b"42", b"null"] {
            let token = sign_raw(key, &json!({"alg": "ES256", "kid": key.kid()}), payload);
            assert!(
                matches!(
                    verify_jwt(&token, &[key.public_jwk()], &JwsAlgorithm::ALL),
                    Err(CryptoError::MalformedJwt(_))
                ),
                "{payload:?}"
            );
        }
        // The same construction with an object payload verifies, so the refusal is the payload's.
        let token = sign_raw(key, &json!({"alg": "ES256", "kid": key.kid()}), b"{\"a\":1}");
        assert_eq!(verify_jwt(&token, &[key.public_jwk()], &JwsAlgorithm::ALL).unwrap(), json!({"a": 1}));
    }

    #[test]
    fn refuses_crit_header() {
        let key = key(JwsAlgorithm::Rs256);
        let payload = serde_json::to_vec(&claims()).unwrap();
        for crit in [json!(["exp"]), json!(["b64"]), json!([])] {
            let token = sign_raw(
                key,
                &json!({"alg": "RS256", "kid": key.kid(), "crit": crit, "exp": 1, "b64": true}),
                &payload,
            );
            assert!(matches!(
                verify_jwt(&token, &[key.public_jwk()], &JwsAlgorithm::ALL),
                Err(CryptoError::JwtRejected(_))
            ));
        }
    }

    #[test]
    fn thumbprint_matches_rfc7638_example() {
        // RFC 7638 section 3.1.
        let jwk = json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        });
        assert_eq!(jwk_thumbprint(&jwk).unwrap(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
        // Optional members do not change it; required ones do.
        let mut bare = jwk.clone();
        bare.as_object_mut().unwrap().retain(|k, _| k == "kty" || k == "n" || k == "e");
        assert_eq!(jwk_thumbprint(&bare).unwrap(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
        let mut other = jwk.clone();
        other["e"] = "AQAC".into();
        assert_ne!(jwk_thumbprint(&other).unwrap(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
        // Missing members and unknown key types are errors.
        assert!(jwk_thumbprint(&json!({"kty": "RSA", "n": "AQAB"})).is_err());
        assert!(jwk_thumbprint(&json!({"kty": "oct", "k": "AQAB"})).is_err());
        assert!(jwk_thumbprint(&json!("RSA")).is_err());
    }

    /// The thumbprint input for EC and OKP keys has the members RFC 7638 and 8037 name.
    #[test]
    fn thumbprint_input_for_ec_and_okp() {
        let ec = json!({"kty": "EC", "crv": "P-256", "x": "XX", "y": "YY", "kid": "k"});
        assert_eq!(
            thumbprint_input(ec.as_object().unwrap()).unwrap(),
            r#"{"crv":"P-256","kty":"EC","x":"XX","y":"YY"}"#
        );
        // RFC 8037 appendix A.3: the Ed25519 example key's thumbprint.
        let okp = json!({"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"});
        assert_eq!(jwk_thumbprint(&okp).unwrap(), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
    }

    // ---- Cross-checks against an independent implementation (jsonwebtoken, dev-only) ----

    fn jwt_alg(alg: JwsAlgorithm) -> jsonwebtoken::Algorithm {
        match alg {
            JwsAlgorithm::Rs256 => jsonwebtoken::Algorithm::RS256,
            JwsAlgorithm::Es256 => jsonwebtoken::Algorithm::ES256,
            JwsAlgorithm::EdDsa => jsonwebtoken::Algorithm::EdDSA,
        }
    }

    fn lenient_validation(alg: JwsAlgorithm) -> jsonwebtoken::Validation {
        let mut validation = jsonwebtoken::Validation::new(jwt_alg(alg));
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation
    }

    /// jsonwebtoken's RSA signer wants PKCS#1 RSAPrivateKey: take it out of our PKCS#8.
    fn pkcs1_from_pkcs8(pkcs8: &[u8]) -> Vec<u8> {
        let mut outer = crate::der::Reader::new(pkcs8);
        let info = outer.expect_last(0x30, "PrivateKeyInfo").unwrap();
        let mut fields = info.children();
        fields.expect(0x02, "version").unwrap();
        fields.expect(0x30, "algorithm").unwrap();
        fields.expect(0x04, "privateKey").unwrap().content.to_vec()
    }

    #[test]
    fn jsonwebtoken_verifies_our_tokens_with_our_jwks() {
        for alg in JwsAlgorithm::ALL {
            let key = key(alg);
            let token = key.sign_jwt(&claims(), Some("JWT")).unwrap();
            let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(key.public_jwk()).unwrap();
            let decoding = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
            let data = jsonwebtoken::decode::<Value>(&token, &decoding, &lenient_validation(alg)).unwrap();
            assert_eq!(data.claims, claims(), "{alg:?}");
            assert_eq!(data.header.kid.as_deref(), Some(key.kid()));
            // And it refuses a tampered one, so the check above is a real check.
            let mut forged = claims();
            forged["sub"] = "mallory".into();
            let tampered =
                format!("{}.{}.{}", part(&token, 0), b64(&serde_json::to_vec(&forged).unwrap()), part(&token, 2));
            assert!(jsonwebtoken::decode::<Value>(&tampered, &decoding, &lenient_validation(alg)).is_err());
        }
    }

    #[test]
    fn we_verify_tokens_jsonwebtoken_signed_with_our_keys() {
        for alg in JwsAlgorithm::ALL {
            let key = key(alg);
            let encoding = match alg {
                JwsAlgorithm::Rs256 => jsonwebtoken::EncodingKey::from_rsa_der(&pkcs1_from_pkcs8(key.pkcs8_der())),
                JwsAlgorithm::Es256 => jsonwebtoken::EncodingKey::from_ec_der(key.pkcs8_der()),
                JwsAlgorithm::EdDsa => jsonwebtoken::EncodingKey::from_ed_der(key.pkcs8_der()),
            };
            let mut header = jsonwebtoken::Header::new(jwt_alg(alg));
            header.kid = Some(key.kid().to_owned());
            let token = jsonwebtoken::encode(&header, &claims(), &encoding).unwrap();
            assert_eq!(verify_jwt(&token, &all_public_jwks(), &[alg]).unwrap(), claims(), "{alg:?}");
            // Signed by the same private key, but a different key is published: refused.
            let other = SigningKey::generate(alg).unwrap();
            let mut wrong = other.public_jwk();
            wrong["kid"] = key.kid().into();
            assert!(matches!(verify_jwt(&token, &[wrong], &[alg]), Err(CryptoError::BadSignature)), "{alg:?}");
        }
    }
}
