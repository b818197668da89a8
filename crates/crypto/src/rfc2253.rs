//! Distinguished names rendered as RFC 2253 strings: most specific RDN first, commas with
//! no spaces, `+` inside a multi-valued RDN.
//!
//! Written here rather than taken from x509-parser's `Display`, which keeps encoding
//! order and puts a space after each comma; Mobile ID clients compare the string, and
//! pull the serial number out of it with `SERIALNUMBER=(.{16})`.

use x509_parser::der_parser::asn1_rs::{Tag, ToDer};
use x509_parser::x509::{AttributeTypeAndValue, X509Name};

/// Keywords for the attribute types Mobile ID certificates carry. RFC 2253 itself names
/// only CN, L, ST, O, OU, C, STREET, DC and UID; the others follow what OpenSSL and
/// Swisscom's profile query print. Anything else is written as a dotted OID.
const KEYWORDS: &[(&str, &str)] = &[
    ("2.5.4.3", "CN"),
    ("2.5.4.4", "SN"),
    ("2.5.4.5", "serialNumber"),
    ("2.5.4.6", "C"),
    ("2.5.4.7", "L"),
    ("2.5.4.8", "ST"),
    ("2.5.4.9", "STREET"),
    ("2.5.4.10", "O"),
    ("2.5.4.11", "OU"),
    ("2.5.4.12", "title"),
    ("2.5.4.42", "GN"),
    ("2.5.4.65", "pseudonym"),
    ("2.5.4.97", "organizationIdentifier"),
    ("0.9.2342.19200300.100.1.1", "UID"),
    ("0.9.2342.19200300.100.1.25", "DC"),
    ("1.2.840.113549.1.9.1", "emailAddress"),
];

pub(crate) fn render(name: &X509Name<'_>) -> String {
    let rdns: Vec<String> =
        name.iter().map(|rdn| rdn.iter().map(render_attribute).collect::<Vec<_>>().join("+")).collect();
    rdns.into_iter().rev().collect::<Vec<_>>().join(",")
}

fn render_attribute(attribute: &AttributeTypeAndValue<'_>) -> String {
    let oid = attribute.attr_type().to_id_string();
    let keyword = KEYWORDS.iter().find(|(dotted, _)| *dotted == oid).map_or(oid.as_str(), |(_, keyword)| keyword);
    format!("{keyword}={}", render_value(attribute))
}

fn render_value(attribute: &AttributeTypeAndValue<'_>) -> String {
    if let Ok(text) = attribute.as_str() {
        return escape(text);
    }
    let value = attribute.attr_value();
    if value.tag() == Tag::BmpString {
        let units: Vec<u16> = value.data.chunks_exact(2).map(|pair| u16::from_be_bytes([pair[0], pair[1]])).collect();
        if let Ok(text) = String::from_utf16(&units) {
            return escape(&text);
        }
    }
    // RFC 2253 2.4: values that are not strings are written as '#' and the hex of their BER.
    match value.to_der_vec() {
        Ok(der) => format!("#{}", hex::encode(der)),
        Err(_) => format!("#{}", hex::encode(value.data)),
    }
}

/// RFC 2253 2.4 escaping.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let last = text.chars().count().saturating_sub(1);
    for (i, c) in text.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_specials() {
        assert_eq!(escape("a,b+c"), "a\\,b\\+c");
        assert_eq!(escape(" #x "), "\\ #x\\ ");
        assert_eq!(escape("#"), "\\#");
        assert_eq!(escape("Müller AG"), "Müller AG");
    }
}
