//! Just enough DER to write and read CMS SignedData.
//!
//! CMS needs byte-exact control (the signed attributes are signed as one DER string, and
//! the SignerInfo re-tags them), which general ASN.1 libraries make awkward. Only
//! single-byte tags and definite lengths are handled; that is all CMS and X.509 use.

/// Universal tags and the context tags CMS uses.
pub(crate) mod tag {
    pub const INTEGER: u8 = 0x02;
    pub const BIT_STRING: u8 = 0x03;
    pub const OCTET_STRING: u8 = 0x04;
    pub const NULL: u8 = 0x05;
    pub const OID: u8 = 0x06;
    pub const SEQUENCE: u8 = 0x30;
    pub const SET: u8 = 0x31;
    pub const UTF8_STRING: u8 = 0x0C;
    /// `[4]` constructed: a GeneralName's directoryName.
    pub const CONTEXT_4: u8 = 0xA4;
    /// `[0] EXPLICIT` (constructed), e.g. ContentInfo.content, certificates.
    pub const CONTEXT_0: u8 = 0xA0;
}

/// Object identifiers as their encoded content bytes (dotted form beside each).
pub(crate) mod oid {
    /// 1.2.840.113549.1.7.1 id-data
    pub const DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01];
    /// 1.2.840.113549.1.7.2 id-signedData
    pub const SIGNED_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02];
    /// 1.2.840.113549.1.9.3 contentType
    pub const CONTENT_TYPE: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x03];
    /// 1.2.840.113549.1.9.4 messageDigest
    pub const MESSAGE_DIGEST: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x04];
    /// 1.2.840.113549.1.9.25.3 randomNonce
    pub const RANDOM_NONCE: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x19, 0x03];
    /// 2.16.840.1.101.3.4.2.1 sha256
    pub const SHA256: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];
    /// 1.2.840.10045.4.3.2 ecdsa-with-SHA256
    pub const ECDSA_WITH_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
    /// 1.2.840.113549.1.1.1 rsaEncryption
    pub const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
    /// 1.2.840.113549.1.1.11 sha256WithRSAEncryption
    pub const SHA256_WITH_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b];
    /// 1.2.840.113549.1.9.16.2.47 id-aa-signingCertificateV2 (RFC 5035)
    pub const SIGNING_CERTIFICATE_V2: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x10, 0x02, 0x2f];
    /// 1.2.840.113549.1.9.16.2.14 id-aa-signatureTimeStampToken (RFC 3161)
    pub const SIGNATURE_TIME_STAMP_TOKEN: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x10, 0x02, 0x0e];
    /// 1.2.840.113549.1.9.16.1.4 id-ct-TSTInfo
    pub const TST_INFO: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x10, 0x01, 0x04];
    /// 2.25.113982034376036651149324885401143823180: our document commitment attribute
    /// (docs/document-signing.md), a UUID-based OID (ITU-T X.667), which needs no registry.
    pub const DOCUMENT_COMMITMENT: &[u8] = &[
        0x69, 0x81, 0xab, 0xc0, 0x92, 0x8b, 0xa2, 0x9a, 0xd2, 0x84, 0xe5, 0xb9, 0x8b, 0xaa, 0x96, 0xa8, 0x8f, 0xdd,
        0x96, 0x4c,
    ];
    /// 1.2.840.10045.2.1 id-ecPublicKey
    pub const EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
    /// 1.2.840.10045.3.1.7 prime256v1 (NIST P-256)
    pub const P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
}

/// One tag-length-value with the given content.
pub(crate) fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    out.push(tag);
    push_length(&mut out, content.len());
    out.extend_from_slice(content);
    out
}

fn push_length(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
        return;
    }
    let bytes = len.to_be_bytes();
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len() - 1);
    let significant = &bytes[first..];
    out.push(0x80 | significant.len() as u8);
    out.extend_from_slice(significant);
}

/// A constructed value whose content is the concatenation of `parts`.
pub(crate) fn constructed(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    tlv(tag, &parts.concat())
}

pub(crate) fn sequence(parts: &[&[u8]]) -> Vec<u8> {
    constructed(tag::SEQUENCE, parts)
}

/// A DER `SET OF`: X.690 11.6 wants the element encodings in ascending order, compared
/// as octet strings with the shorter one padded with zero octets at its end.
pub(crate) fn set_of(mut elements: Vec<Vec<u8>>) -> Vec<u8> {
    elements.sort_by(|a, b| {
        let len = a.len().max(b.len());
        padded(a, len).cmp(padded(b, len))
    });
    tlv(tag::SET, &elements.concat())
}

fn padded(bytes: &[u8], len: usize) -> impl Iterator<Item = u8> + '_ {
    bytes.iter().copied().chain(std::iter::repeat(0)).take(len)
}

pub(crate) fn oid(encoded: &[u8]) -> Vec<u8> {
    tlv(tag::OID, encoded)
}

pub(crate) fn null() -> Vec<u8> {
    tlv(tag::NULL, &[])
}

pub(crate) fn octet_string(bytes: &[u8]) -> Vec<u8> {
    tlv(tag::OCTET_STRING, bytes)
}

/// A BIT STRING holding whole bytes (no unused bits), as keys and signatures are.
pub(crate) fn bit_string(bytes: &[u8]) -> Vec<u8> {
    let mut content = Vec::with_capacity(bytes.len() + 1);
    content.push(0);
    content.extend_from_slice(bytes);
    tlv(tag::BIT_STRING, &content)
}

/// A small non-negative INTEGER (versions).
pub(crate) fn small_integer(value: u8) -> Vec<u8> {
    if value < 0x80 {
        tlv(tag::INTEGER, &[value])
    } else {
        tlv(tag::INTEGER, &[0, value])
    }
}

/// A non-negative INTEGER: big-endian, without leading zero octets, with one zero octet
/// where the first bit would otherwise make it negative.
pub(crate) fn unsigned_integer(value: u64) -> Vec<u8> {
    let bytes = value.to_be_bytes();
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len() - 1);
    let mut content = Vec::with_capacity(9);
    if bytes[first] & 0x80 != 0 {
        content.push(0);
    }
    content.extend_from_slice(&bytes[first..]);
    tlv(tag::INTEGER, &content)
}

/// A UTF8String.
pub(crate) fn utf8_string(text: &str) -> Vec<u8> {
    tlv(tag::UTF8_STRING, text.as_bytes())
}

/// What a reader found wrong, as a short phrase for the error message.
#[derive(Debug)]
pub(crate) struct DerError(pub &'static str);

/// One element as read: its tag, its content, and its whole encoding.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Element<'a> {
    pub tag: u8,
    pub content: &'a [u8],
    pub raw: &'a [u8],
}

impl<'a> Element<'a> {
    /// A reader over this element's content, for constructed values.
    pub(crate) fn children(&self) -> Reader<'a> {
        Reader::new(self.content)
    }
}

/// Reads consecutive elements from a byte string.
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(input: &'a [u8]) -> Self {
        Reader { rest: input }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    pub(crate) fn peek_tag(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    pub(crate) fn read(&mut self) -> Result<Element<'a>, DerError> {
        let input = self.rest;
        let (&tag, after_tag) = input.split_first().ok_or(DerError("unexpected end of data"))?;
        if tag & 0x1f == 0x1f {
            return Err(DerError("multi-byte tags are not supported"));
        }
        let (&first, after_first) = after_tag.split_first().ok_or(DerError("unexpected end of data"))?;
        let (len, after_len) = if first < 0x80 {
            (first as usize, after_first)
        } else if first == 0x80 {
            return Err(DerError("indefinite lengths (BER) are not supported"));
        } else {
            let count = (first & 0x7f) as usize;
            if count > std::mem::size_of::<usize>() || count > after_first.len() {
                return Err(DerError("length field out of range"));
            }
            let (len_bytes, after) = after_first.split_at(count);
            let len = len_bytes.iter().fold(0usize, |acc, &b| (acc << 8) | b as usize);
            (len, after)
        };
        if len > after_len.len() {
            return Err(DerError("element longer than its container"));
        }
        let (content, rest) = after_len.split_at(len);
        let header_len = input.len() - after_len.len();
        self.rest = rest;
        Ok(Element { tag, content, raw: &input[..header_len + len] })
    }

    /// Reads the next element and insists on its tag.
    pub(crate) fn expect(&mut self, tag: u8, what: &'static str) -> Result<Element<'a>, DerError> {
        let element = self.read().map_err(|_| DerError(what))?;
        if element.tag != tag {
            return Err(DerError(what));
        }
        Ok(element)
    }

    /// Reads an element that must be the only content left.
    pub(crate) fn expect_last(&mut self, tag: u8, what: &'static str) -> Result<Element<'a>, DerError> {
        let element = self.expect(tag, what)?;
        if !self.is_empty() {
            return Err(DerError("trailing data"));
        }
        Ok(element)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lengths_round_trip() {
        for len in [0usize, 1, 127, 128, 255, 256, 70_000] {
            let content = vec![7u8; len];
            let encoded = tlv(tag::OCTET_STRING, &content);
            let element = Reader::new(&encoded).read().expect("reads back");
            assert_eq!(element.content, &content[..]);
            assert_eq!(element.raw, &encoded[..]);
        }
    }

    #[test]
    fn set_of_sorts_by_encoding() {
        let set = set_of(vec![vec![0x04, 0x01, 0x02], vec![0x04, 0x01, 0x01], vec![0x02, 0x01, 0x05]]);
        assert_eq!(set, vec![0x31, 9, 0x02, 1, 5, 0x04, 1, 1, 0x04, 1, 2]);
    }

    #[test]
    fn truncated_input_is_an_error() {
        assert!(Reader::new(&[0x30, 0x05, 0x01]).read().is_err());
        assert!(Reader::new(&[0x30, 0x80, 0x00, 0x00]).read().is_err());
        assert!(Reader::new(&[0x30]).read().is_err());
    }
}
