//! PEM, the text form certificates and keys travel in between people and tools.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::CryptoError;

/// `-----BEGIN <label>-----`, base64 in 64-character lines, `-----END <label>-----`.
pub fn pem_encode(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    // Base64 output is ASCII, so splitting it by bytes never cuts a character.
    for line in body.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Every PEM block in `pem`, in order, as (label, DER). Text outside blocks is ignored,
/// as OpenSSL does, so bundles with comments between certificates read fine.
pub fn pem_decode_all(pem: &str) -> Result<Vec<(String, Vec<u8>)>, CryptoError> {
    let mut blocks = Vec::new();
    let mut lines = pem.lines().map(str::trim);
    while let Some(line) = lines.next() {
        let Some(label) = line.strip_prefix("-----BEGIN ").and_then(|rest| rest.strip_suffix("-----")) else {
            continue;
        };
        let end = format!("-----END {label}-----");
        let mut body = String::new();
        let mut closed = false;
        for line in lines.by_ref() {
            if line == end {
                closed = true;
                break;
            }
            // Headers such as `Proc-Type:` belong to encrypted legacy keys we don't read.
            if line.contains(':') {
                return Err(CryptoError::MalformedPem(format!("unexpected header in the {label} block")));
            }
            body.push_str(line);
        }
        if !closed {
            return Err(CryptoError::MalformedPem(format!("{label} block is not closed")));
        }
        let der = STANDARD.decode(&body).map_err(|e| CryptoError::MalformedPem(format!("{label} block: {e}")))?;
        blocks.push((label.to_owned(), der));
    }
    Ok(blocks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_several_blocks() {
        let a: Vec<u8> = (0..=255).collect();
        let text = format!("comment\n{}\n{}", pem_encode("CERTIFICATE", &a), pem_encode("PRIVATE KEY", b"k"));
        assert!(text.lines().all(|l| l.len() <= 64 || l.starts_with("-----")));
        let blocks = pem_decode_all(&text).expect("decodes");
        assert_eq!(blocks, vec![("CERTIFICATE".to_owned(), a), ("PRIVATE KEY".to_owned(), b"k".to_vec())]);
    }

    #[test]
    fn broken_blocks_are_errors() {
        assert!(pem_decode_all("-----BEGIN X-----\nAAAA\n").is_err());
        assert!(pem_decode_all("-----BEGIN X-----\n!!!!\n-----END X-----\n").is_err());
        assert_eq!(pem_decode_all("nothing here").expect("ok"), vec![]);
    }
}
