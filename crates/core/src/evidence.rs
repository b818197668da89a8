//! The hash chain of evidence records: each record's hash covers the previous record's
//! hash and its own body, so that changing, removing or reordering a past record breaks
//! every hash after it.

use sha2::{Digest, Sha256};

/// SHA-256 (lower-case hex) of `prev_hash` (hex) followed by `body`.
pub fn chain_hash(prev_hash: &str, body: &str) -> String {
    let digest = Sha256::new().chain_update(prev_hash.as_bytes()).chain_update(body.as_bytes()).finalize();
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_covers_both_parts() {
        let first = chain_hash("00", "{\"a\":1}");
        assert_eq!(first.len(), 64);
        assert_ne!(first, chain_hash("01", "{\"a\":1}"));
        assert_ne!(first, chain_hash("00", "{\"a\":2}"));
        assert_eq!(first, chain_hash("00", "{\"a\":1}"));
    }
}
