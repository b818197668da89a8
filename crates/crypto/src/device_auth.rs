//! How a phone signs its calls to the device API.
//!
//! Every call after activation carries
//! `Authorization: MobileID-Device id=<device>,ts=<unix ms>,nonce=<hex>,sig=<base64>`, where
//! `sig` is the device key's signature over [`canonical_request`]. The time bounds a replay
//! to the server's clock window, and the nonce, remembered by the server for that window,
//! refuses it within. A bearer secret would let anyone who saw one request act as the phone.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use sha2::{Digest, Sha256};

pub const SCHEME: &str = "MobileID-Device";

/// The bytes a device signs: method, path with query, time, nonce and the body's hash.
pub fn canonical_request(method: &str, path_and_query: &str, timestamp_ms: i64, nonce: &str, body: &[u8]) -> Vec<u8> {
    let body_hash = Sha256::digest(body);
    let hex: String = body_hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}\n{}\n{}\n{}\n{}", method.to_ascii_uppercase(), path_and_query, timestamp_ms, nonce, hex).into_bytes()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceAuthorization {
    pub device_id: String,
    pub timestamp_ms: i64,
    pub nonce: String,
    pub signature: Vec<u8>,
}

impl DeviceAuthorization {
    pub fn to_header(&self) -> String {
        format!(
            "{SCHEME} id={},ts={},nonce={},sig={}",
            self.device_id,
            self.timestamp_ms,
            self.nonce,
            STANDARD.encode(&self.signature)
        )
    }

    /// None for anything that is not a well-formed header of our scheme.
    pub fn parse_header(value: &str) -> Option<DeviceAuthorization> {
        let params = value.strip_prefix(SCHEME)?.strip_prefix(' ')?;
        let (mut id, mut ts, mut nonce, mut sig) = (None, None, None, None);
        for part in params.split(',') {
            let (key, val) = part.trim().split_once('=')?;
            match key {
                "id" => id = Some(val.to_string()),
                "ts" => ts = Some(val.parse().ok()?),
                "nonce" => nonce = Some(val.to_string()),
                // base64 may itself end in '=': split_once keeps those in `val`.
                "sig" => sig = Some(STANDARD.decode(val).ok()?),
                _ => return None,
            }
        }
        let nonce = nonce?;
        let well_formed_nonce = (16..=64).contains(&nonce.len()) && nonce.bytes().all(|b| b.is_ascii_hexdigit());
        if !well_formed_nonce {
            return None;
        }
        Some(DeviceAuthorization { device_id: id?, timestamp_ms: ts?, nonce, signature: sig? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips() {
        let auth = DeviceAuthorization {
            device_id: "dev-1".into(),
            timestamp_ms: 1_700_000_000_123,
            nonce: "00112233445566778899aabbccddeeff".into(),
            signature: vec![1, 2, 3, 250, 251],
        };
        assert_eq!(DeviceAuthorization::parse_header(&auth.to_header()), Some(auth));
    }

    #[test]
    fn malformed_headers_are_refused() {
        for bad in [
            "Bearer abc",
            "MobileID-Device id=a,ts=1,nonce=zz,sig=AAAA",
            "MobileID-Device id=a,ts=x,nonce=00112233445566778899,sig=AAAA",
            "MobileID-Device id=a,ts=1,nonce=00112233445566778899",
            "MobileID-Device id=a,ts=1,nonce=00112233445566778899,sig=!!",
        ] {
            assert_eq!(DeviceAuthorization::parse_header(bad), None, "{bad}");
        }
    }

    #[test]
    fn canonical_request_binds_every_part() {
        let base = canonical_request("post", "/device/v1/inbox", 1, "ab", b"{}");
        assert_ne!(base, canonical_request("GET", "/device/v1/inbox", 1, "ab", b"{}"));
        assert_ne!(base, canonical_request("POST", "/device/v1/inbox?x", 1, "ab", b"{}"));
        assert_ne!(base, canonical_request("POST", "/device/v1/inbox", 2, "ab", b"{}"));
        assert_ne!(base, canonical_request("POST", "/device/v1/inbox", 1, "ac", b"{}"));
        assert_ne!(base, canonical_request("POST", "/device/v1/inbox", 1, "ab", b"{ }"));
    }
}
