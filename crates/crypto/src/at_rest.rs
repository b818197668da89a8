//! Secrets kept on disk or in the database: AES-256-GCM under a server master key, or
//! under a key derived from the user's PIN (the virtual phone's key file).
//!
//! Layouts, all integers big-endian, the leading version byte allowing a later change:
//! - master key: `version(1) | nonce(12) | ciphertext+tag`
//! - PIN:        `version(1) | salt(16) | nonce(12) | ciphertext+tag`
//!
//! Everything before the ciphertext is authenticated along with the caller's context, so
//! the header cannot be altered and a blob sealed for one purpose cannot stand in for
//! another.

use std::fmt;
use std::num::NonZeroU32;

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::pbkdf2;
use rand::RngCore;

use crate::CryptoError;

const VERSION: u8 = 1;
const SALT_LEN: usize = 16;
const TAG_LEN: usize = 16;
// Checked at compile time, so the unwrap cannot fire at run time.
const PIN_ITERATIONS: NonZeroU32 = NonZeroU32::new(100_000).unwrap();

/// The server's key-encryption key.
#[derive(Clone)]
pub struct MasterKey([u8; 32]);

impl MasterKey {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        MasterKey(bytes)
    }

    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        MasterKey(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Encrypts `plaintext`, binding it to `context` (e.g. `b"robot-key:41700092501"`).
    pub fn seal(&self, plaintext: &[u8], context: &[u8]) -> Vec<u8> {
        seal(&self.0, &[VERSION], plaintext, context)
    }

    /// Decrypts what [`MasterKey::seal`] made with the same key and context.
    pub fn open(&self, sealed: &[u8], context: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let body = strip_version(sealed)?;
        open(&self.0, &sealed[..1], body, context).ok_or(CryptoError::SealedDataRejected)
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

/// Encrypts `plaintext` under a key stretched from `pin`.
pub fn seal_with_pin(pin: &str, plaintext: &[u8]) -> Vec<u8> {
    let mut header = [0u8; 1 + SALT_LEN];
    header[0] = VERSION;
    rand::rngs::OsRng.fill_bytes(&mut header[1..]);
    let key = pin_key(pin, &header[1..]);
    seal(&key, &header, plaintext, &[])
}

/// Decrypts what [`seal_with_pin`] made. Any authentication failure is reported as
/// [`CryptoError::WrongPin`]: GCM cannot tell a wrong PIN from altered bytes, and the
/// wrong PIN is by far the likelier cause.
pub fn open_with_pin(pin: &str, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let body = strip_version(sealed)?;
    if body.len() < SALT_LEN {
        return Err(CryptoError::MalformedSealedData("too short".into()));
    }
    let (salt, body) = body.split_at(SALT_LEN);
    let key = pin_key(pin, salt);
    open(&key, &sealed[..1 + SALT_LEN], body, &[]).ok_or(CryptoError::WrongPin)
}

fn pin_key(pin: &str, salt: &[u8]) -> [u8; 32] {
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
    fn pin_round_trip_and_wrong_pin() {
        let sealed = seal_with_pin("123456", b"pkcs8 bytes");
        assert_eq!(open_with_pin("123456", &sealed).expect("opens"), b"pkcs8 bytes");
        assert!(matches!(open_with_pin("654321", &sealed), Err(CryptoError::WrongPin)));
        assert!(matches!(open_with_pin("123456", &sealed[..10]), Err(CryptoError::MalformedSealedData(_))));
    }
}
