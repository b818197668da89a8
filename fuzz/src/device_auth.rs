//! The device API's `Authorization: MobileID-Device …` header, read before the device's
//! signature is checked, so from anyone.

use mobileid_crypto::device_auth::{canonical_request, DeviceAuthorization, SCHEME};
use sha2::{Digest, Sha256};

pub fn device_auth(data: &[u8]) {
    let header = String::from_utf8_lossy(data);
    if let Some(auth) = DeviceAuthorization::parse_header(&header) {
        assert!(header.starts_with(&format!("{SCHEME} ")), "{header:?}");
        assert!((16..=64).contains(&auth.nonce.len()) && auth.nonce.bytes().all(|b| b.is_ascii_hexdigit()));
        // What the server parsed, a phone writing the same values would send: the two
        // must agree, or a phone and the server could disagree about what was signed.
        assert_eq!(DeviceAuthorization::parse_header(&auth.to_header()).as_ref(), Some(&auth), "{header:?}");
        let _ = canonical_request("POST", "/device/v1/inbox", auth.timestamp_ms, &auth.nonce, data);
    }
    written_header_round_trips(data, &header);
}

/// Builds the header a phone would write from fuzzed values, and checks that the server
/// reads back exactly those values whenever the ID can be written in the header at all.
fn written_header_round_trips(data: &[u8], text: &str) {
    let device_id = text.lines().next().unwrap_or("");
    // The header separates parameters by ',' and ignores whitespace around them; device
    // IDs are UUIDs, so such IDs never occur.
    if device_id.contains(',') || device_id.trim() != device_id {
        return;
    }
    let mut timestamp = [0u8; 8];
    let n = data.len().min(8);
    timestamp[..n].copy_from_slice(&data[..n]);
    let digest = Sha256::digest(data);
    let auth = DeviceAuthorization {
        device_id: device_id.to_owned(),
        timestamp_ms: i64::from_le_bytes(timestamp),
        // 16 to 64 hex digits, of a length that depends on the input.
        nonce: hex::encode(&digest[..8 + data.len() % 25]),
        signature: data.to_vec(),
    };
    assert_eq!(DeviceAuthorization::parse_header(&auth.to_header()), Some(auth));
}
