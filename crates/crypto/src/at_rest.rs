//! Secrets kept on disk or in the database: AES-256-GCM under a server master key, or
//! under a key derived from the user's PIN together with a share only the server releases
//! for the right PIN (the virtual phone's signing key; see docs/device-api.md, "PIN:
//! enforced by the server").
//!
//! Layouts, all integers big-endian, the leading version byte allowing a later change:
//! - master key: `version(1) | nonce(12) | ciphertext+tag`
//! - PIN:        `version(1) = 2 | salt(16) | nonce(12) | ciphertext+tag`
//!
//! Everything before the ciphertext is authenticated along with the caller's context, so
//! the header cannot be altered and a blob sealed for one purpose cannot stand in for
//! another.

use std::collections::HashMap;
use std::fmt;
use std::num::NonZeroU32;
use std::sync::{Arc, PoisonError, RwLock};

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::{hkdf, hmac, pbkdf2};
use rand::RngCore;

use crate::CryptoError;

const VERSION: u8 = 1;
const SALT_LEN: usize = 16;
const TAG_LEN: usize = 16;
// Checked at compile time, so the unwrap cannot fire at run time.
const PIN_ITERATIONS: NonZeroU32 = NonZeroU32::new(100_000).unwrap();

/// The server's key-encryption key, with the keys it derived for keyed hashes.
#[derive(Clone)]
pub struct MasterKey {
    bytes: [u8; 32],
    /// By purpose, each derived once: a derivation costs two HMAC key set-ups, and the
    /// token endpoint hashes for four purposes on every request.
    hash_keys: Arc<RwLock<HashMap<Vec<u8>, hmac::Key>>>,
}

/// Purposes whose keys are kept; the callers name theirs with constants, so this is a
/// bound that is never reached, not a cache size.
const HASH_KEYS_KEPT: usize = 64;

impl MasterKey {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        MasterKey::from_bytes(bytes)
    }

    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        MasterKey { bytes, hash_keys: Arc::default() }
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// Encrypts `plaintext`, binding it to `context` (e.g. `b"robot-key:41700092501"`).
    pub fn seal(&self, plaintext: &[u8], context: &[u8]) -> Vec<u8> {
        seal(&self.bytes, &[VERSION], plaintext, context)
    }

    /// A keyed hash of a random secret (a client secret, a token), to store and compare:
    /// HMAC-SHA256 under a key derived from the master key for `purpose`. Fast on purpose:
    /// such secrets are random, not passwords, so there is nothing to stretch.
    pub fn keyed_hash(&self, purpose: &[u8], secret: &[u8]) -> [u8; 32] {
        let hash = |key: &hmac::Key| {
            let mut out = [0u8; 32];
            out.copy_from_slice(hmac::sign(key, secret).as_ref());
            out
        };
        if let Some(key) = self.hash_keys.read().unwrap_or_else(PoisonError::into_inner).get(purpose) {
            return hash(key);
        }
        let key = hmac::Key::new(hmac::HMAC_SHA256, &hmac_sha256(&self.bytes, &[KEYED_HASH_LABEL, purpose]));
        let out = hash(&key);
        let mut keys = self.hash_keys.write().unwrap_or_else(PoisonError::into_inner);
        if keys.len() < HASH_KEYS_KEPT {
            keys.insert(purpose.to_vec(), key);
        }
        out
    }

    /// Decrypts what [`MasterKey::seal`] made with the same key and context.
    pub fn open(&self, sealed: &[u8], context: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let body = strip_version(sealed)?;
        open(&self.bytes, &sealed[..1], body, context).ok_or(CryptoError::SealedDataRejected)
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

/// The PIN-sealed layout's version: 2 since the key also needs the server's share (1 was
/// sealed under the PIN alone and could be searched offline).
const PIN_VERSION: u8 = 2;
const PIN_PROOF_LABEL: &[u8] = b"mobileid pin proof v1";
const KEYED_HASH_LABEL: &[u8] = b"mobileid keyed hash v1";
const PIN_CHECK_LABEL: &[u8] = b"mobileid pin check v1";
const SIGNING_KEY_INFO: &[u8] = b"mobileid signing key v1";

/// The phone's key stretched from the PIN and a salt. It is never stored and never sent:
/// the server sees only its [`PinKey::proof`], and the key that seals the signing key
/// needs the server's share as well, so a copy of the phone's state cannot test PINs.
pub struct PinKey {
    key: [u8; 32],
    salt: [u8; SALT_LEN],
}

impl PinKey {
    /// A new PIN with a fresh salt (activation).
    pub fn new(pin: &str) -> PinKey {
        let mut salt = [0u8; SALT_LEN];
        rand::rngs::OsRng.fill_bytes(&mut salt);
        PinKey { key: pbkdf2_pin(pin, &salt), salt }
    }

    /// The PIN as it applies to what [`PinKey::seal`] made (its salt is in the header).
    pub fn for_sealed(pin: &str, sealed: &[u8]) -> Result<PinKey, CryptoError> {
        let salt: [u8; SALT_LEN] = pin_header(sealed)?;
        Ok(PinKey { key: pbkdf2_pin(pin, &salt), salt })
    }

    /// What the phone sends the server for this PIN.
    pub fn proof(&self) -> PinProof {
        PinProof(hmac_sha256(&self.key, &[PIN_PROOF_LABEL]))
    }

    /// Seals `plaintext` under HKDF(PIN key ‖ server share):
    /// `version(1) | salt(16) | nonce(12) | ciphertext+tag`.
    pub fn seal(&self, share: &PinShare, plaintext: &[u8]) -> Vec<u8> {
        let mut header = [0u8; 1 + SALT_LEN];
        header[0] = PIN_VERSION;
        header[1..].copy_from_slice(&self.salt);
        seal(&self.kek(share), &header, plaintext, &[])
    }

    /// Opens what [`PinKey::seal`] made. It needs the share the server released for this
    /// PIN; without it, a right PIN fails exactly as a wrong one does.
    pub fn open(&self, share: &PinShare, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        pin_header(sealed)?;
        let (header, body) = sealed.split_at(1 + SALT_LEN);
        open(&self.kek(share), header, body, &[]).ok_or(CryptoError::SealedDataRejected)
    }

    fn kek(&self, share: &PinShare) -> [u8; 32] {
        let ikm = [&self.key[..], &share.0[..]].concat();
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, &[]).extract(&ikm);
        let mut kek = [0u8; 32];
        prk.expand(&[SIGNING_KEY_INFO], Len32)
            .and_then(|okm| okm.fill(&mut kek))
            // HKDF-SHA256 gives up to 8,160 bytes; 32 are always available.
            .expect("32 bytes are within HKDF-SHA256's output limit");
        kek
    }
}

impl fmt::Debug for PinKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PinKey(..)")
    }
}

/// The salt of a PIN-sealed blob, refusing other layouts (an older phone's state).
fn pin_header(sealed: &[u8]) -> Result<[u8; SALT_LEN], CryptoError> {
    match sealed.split_first() {
        Some((&PIN_VERSION, body)) if body.len() >= SALT_LEN + NONCE_LEN + TAG_LEN => {
            let mut salt = [0u8; SALT_LEN];
            salt.copy_from_slice(&body[..SALT_LEN]);
            Ok(salt)
        }
        Some((&PIN_VERSION, _)) => Err(CryptoError::MalformedSealedData("too short".into())),
        Some((other, _)) => Err(CryptoError::MalformedSealedData(format!(
            "unknown version {other} (a phone activated before the server-held PIN share must activate again)"
        ))),
        None => Err(CryptoError::MalformedSealedData("empty".into())),
    }
}

/// `HMAC-SHA256(PIN key, "mobileid pin proof v1")`: proves the PIN to the server without
/// revealing it. Secret: with the salt it allows a PIN search, so it is never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct PinProof(pub [u8; 32]);

impl fmt::Debug for PinProof {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PinProof(..)")
    }
}

/// The server's half of the key that seals the signing key: `HMAC-SHA256(share key, proof)`.
#[derive(Clone, PartialEq, Eq)]
pub struct PinShare(pub [u8; 32]);

impl fmt::Debug for PinShare {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PinShare(..)")
    }
}

/// What the server keeps per device (sealed under the master key): a random share key and
/// a check value of the right proof, `share_key(32) | HMAC-SHA256(share_key, label ‖ proof)(32)`.
/// The check lets the server tell a wrong PIN itself, so it counts wrong PINs without
/// trusting the phone and releases the share for the right PIN only; it needs the share
/// key, so the database without the master key allows no PIN search either.
pub struct PinGuard([u8; 64]);

impl PinGuard {
    /// A guard for the phone's right proof, and the share that proof releases.
    pub fn new(proof: &PinProof) -> (PinGuard, PinShare) {
        let mut bytes = [0u8; 64];
        rand::rngs::OsRng.fill_bytes(&mut bytes[..32]);
        let (share_key, check) = bytes.split_at_mut(32);
        check.copy_from_slice(&hmac_sha256(share_key, &[PIN_CHECK_LABEL, &proof.0]));
        let share = PinShare(hmac_sha256(share_key, &[&proof.0]));
        (PinGuard(bytes), share)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<PinGuard, CryptoError> {
        let bytes: [u8; 64] =
            bytes.try_into().map_err(|_| CryptoError::MalformedSealedData("a PIN guard is 64 bytes".into()))?;
        Ok(PinGuard(bytes))
    }

    pub fn as_bytes(&self) -> &[u8; 64] {
        &self.0
    }

    /// The share for `proof` if it is the right one (compared in constant time), else None.
    pub fn share_for(&self, proof: &PinProof) -> Option<PinShare> {
        let (share_key, check) = self.0.split_at(32);
        let key = hmac::Key::new(hmac::HMAC_SHA256, share_key);
        hmac::verify(&key, &[PIN_CHECK_LABEL, &proof.0].concat(), check).ok()?;
        Some(PinShare(hmac_sha256(share_key, &[&proof.0])))
    }
}

impl fmt::Debug for PinGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PinGuard(..)")
    }
}

/// HKDF output length for a 32-byte key.
struct Len32;

impl hkdf::KeyType for Len32 {
    fn len(&self) -> usize {
        32
    }
}

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut context = hmac::Context::with_key(&hmac::Key::new(hmac::HMAC_SHA256, key));
    for part in parts {
        context.update(part);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(context.sign().as_ref());
    out
}

fn pbkdf2_pin(pin: &str, salt: &[u8]) -> [u8; 32] {
    let mut key = [0u8; 32];
    pbkdf2::derive(pbkdf2::PBKDF2_HMAC_SHA256, PIN_ITERATIONS, salt, pin.as_bytes(), &mut key);
    key
}

/// Returns what follows the version byte, refusing versions this code does not know.
fn strip_version(sealed: &[u8]) -> Result<&[u8], CryptoError> {
    match sealed.split_first() {
        Some((&VERSION, body)) => Ok(body),
        Some((other, _)) => Err(CryptoError::MalformedSealedData(format!("unknown version {other}"))),
        None => Err(CryptoError::MalformedSealedData("empty".into())),
    }
}

fn aead_key(key: &[u8; 32]) -> LessSafeKey {
    // AES-256 takes exactly 32 bytes, which the array type guarantees.
    let unbound = UnboundKey::new(&AES_256_GCM, key).expect("a 32-byte key suits AES-256");
    LessSafeKey::new(unbound)
}

/// Authenticated data: the header, then the caller's context.
fn aad_bytes(header: &[u8], context: &[u8]) -> Vec<u8> {
    [header, context].concat()
}

fn seal(key: &[u8; 32], header: &[u8], plaintext: &[u8], context: &[u8]) -> Vec<u8> {
    // Random 96-bit nonces are safe for far more messages than one key will ever seal.
    let mut nonce = [0u8; NONCE_LEN];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let mut in_out = plaintext.to_vec();
    aead_key(key)
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad_bytes(header, context)),
            &mut in_out,
        )
        // aws-lc-rs refuses only inputs beyond GCM's limit of about 64 GiB; keys and PINs
        // never come near it.
        .expect("plaintext within the AES-GCM size limit");
    let mut out = Vec::with_capacity(header.len() + NONCE_LEN + in_out.len());
    out.extend_from_slice(header);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&in_out);
    out
}

/// `body` is `nonce | ciphertext+tag`; `None` when authentication fails or it is too short.
fn open(key: &[u8; 32], header: &[u8], body: &[u8], context: &[u8]) -> Option<Vec<u8>> {
    if body.len() < NONCE_LEN + TAG_LEN {
        return None;
    }
    let (nonce, ciphertext) = body.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
    let mut in_out = ciphertext.to_vec();
    let plaintext = aead_key(key).open_in_place(nonce, Aad::from(aad_bytes(header, context)), &mut in_out).ok()?;
    Some(plaintext.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_hashes_are_stable_per_purpose_and_key() {
        let key = MasterKey::from_bytes([7; 32]);
        // The stored hashes of client secrets and tokens depend on these exact bytes: the
        // HMAC under the HMAC of label and purpose. The first call derives the key, the
        // second uses the kept one; a copy of the key made before either shares them.
        let copy = key.clone();
        let expected = hmac_sha256(&hmac_sha256(&[7; 32], &[KEYED_HASH_LABEL, b"token"]), &[b"abc"]);
        assert_eq!(key.keyed_hash(b"token", b"abc"), expected);
        assert_eq!(key.keyed_hash(b"token", b"abc"), expected);
        assert_eq!(copy.keyed_hash(b"token", b"abc"), expected);
        assert_ne!(key.keyed_hash(b"client secret", b"abc"), expected);
        assert_ne!(MasterKey::from_bytes([8; 32]).keyed_hash(b"token", b"abc"), expected);
    }

    #[test]
    fn master_key_round_trip() {
        let key = MasterKey::generate();
        let sealed = key.seal(b"secret", b"robot:1");
        assert_eq!(sealed[0], VERSION);
        assert_eq!(key.open(&sealed, b"robot:1").expect("opens"), b"secret");
        let again = MasterKey::from_bytes(*key.as_bytes());
        assert_eq!(again.open(&sealed, b"robot:1").expect("opens"), b"secret");
    }

    #[test]
    fn nonces_differ() {
        let key = MasterKey::generate();
        assert_ne!(key.seal(b"x", b""), key.seal(b"x", b""));
    }

    #[test]
    fn another_context_is_rejected() {
        let key = MasterKey::generate();
        let sealed = key.seal(b"secret", b"robot:1");
        assert!(matches!(key.open(&sealed, b"robot:2"), Err(CryptoError::SealedDataRejected)));
    }

    #[test]
    fn another_key_or_tampering_is_rejected() {
        let key = MasterKey::generate();
        let mut sealed = key.seal(b"secret", b"c");
        assert!(MasterKey::generate().open(&sealed, b"c").is_err());
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert!(key.open(&sealed, b"c").is_err());
        assert!(key.open(&[], b"c").is_err());
        assert!(key.open(&[VERSION, 1, 2], b"c").is_err());
        assert!(matches!(key.open(&[9; 40], b"c"), Err(CryptoError::MalformedSealedData(_))));
    }

    #[test]
    fn pin_round_trip_needs_the_right_pin_and_the_share() {
        let pin = PinKey::new("123456");
        let (guard, share) = PinGuard::new(&pin.proof());
        let sealed = pin.seal(&share, b"pkcs8 bytes");
        assert_eq!(sealed[0], PIN_VERSION);

        let again = PinKey::for_sealed("123456", &sealed).expect("header");
        assert_eq!(again.proof(), pin.proof());
        let released = guard.share_for(&again.proof()).expect("the right proof releases the share");
        assert_eq!(again.open(&released, &sealed).expect("opens"), b"pkcs8 bytes");

        let wrong = PinKey::for_sealed("654321", &sealed).expect("header");
        assert!(guard.share_for(&wrong.proof()).is_none(), "a wrong proof releases nothing");
        assert!(PinGuard::new(&pin.proof()).0.share_for(&pin.proof()).expect("share") != released);
        assert!(matches!(PinKey::for_sealed("123456", &sealed[..10]), Err(CryptoError::MalformedSealedData(_))));
        let guard_again = PinGuard::from_bytes(guard.as_bytes()).expect("64 bytes");
        assert_eq!(guard_again.share_for(&pin.proof()), Some(released));
    }

    /// Offline, with the sealed key alone, the right PIN fails exactly as every wrong one
    /// does: without the server's share nothing tells them apart.
    #[test]
    fn without_the_share_no_pin_opens_the_key() {
        let pin = PinKey::new("123456");
        let (_, share) = PinGuard::new(&pin.proof());
        let sealed = pin.seal(&share, b"pkcs8 bytes");
        for guess in ["123456", "000000", "654321"] {
            let key = PinKey::for_sealed(guess, &sealed).expect("header");
            for fake in [PinShare([0; 32]), PinShare(key.proof().0)] {
                assert!(matches!(key.open(&fake, &sealed), Err(CryptoError::SealedDataRejected)), "{guess}");
            }
        }
    }

    #[test]
    fn secrets_stay_out_of_debug() {
        let pin = PinKey::new("123456");
        let (guard, share) = PinGuard::new(&pin.proof());
        let shown = format!("{pin:?} {:?} {guard:?} {share:?}", pin.proof());
        assert_eq!(shown, "PinKey(..) PinProof(..) PinGuard(..) PinShare(..)");
    }

    #[test]
    fn an_old_pin_only_blob_is_refused_with_a_clear_error() {
        let old = [vec![1u8], vec![0; SALT_LEN + NONCE_LEN + TAG_LEN + 8]].concat();
        assert!(
            matches!(PinKey::for_sealed("123456", &old), Err(CryptoError::MalformedSealedData(m)) if m.contains("activate again"))
        );
    }
}
