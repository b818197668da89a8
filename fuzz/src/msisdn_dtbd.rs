//! `Msisdn::parse` and `Dtbd::parse` (text and transaction approval), the two parsers every
//! signature request's MSISDN and DataToBeSigned pass through, whichever wire it came on.

use mobileid_core::dtbd::{check_displayable, check_text_length, TEXT_PLAIN, TXN_APPROVAL};
use mobileid_core::{Dtbd, FaultCode, Msisdn};

/// MIME types as APs send them: absent, empty (treated as absent), both known ones in
/// any case, and an unknown one.
const MIME_TYPES: [Option<&str>; 6] =
    [None, Some(""), Some(TEXT_PLAIN), Some("Text/Plain"), Some(TXN_APPROVAL), Some("application/octet-stream")];
const ENCODINGS: [Option<&str>; 3] = [None, Some("UTF-8"), Some("base64")];

/// §8 limits the parser must enforce on what it accepts (UTF-8 bytes).
const MAX_TITLE_BYTES: usize = 100;
const MAX_ROWS: usize = 20;
const MAX_KEY_BYTES: usize = 100;
const MAX_VALUE_BYTES: usize = 2000;
const MAX_ROWS_TOTAL_BYTES: usize = 2000;

pub fn msisdn_dtbd(data: &[u8]) {
    // The wire decoders hand over `&str`; lossy decoding lets byte-level mutations still
    // reach the parsers instead of being thrown away.
    let text = String::from_utf8_lossy(data);
    msisdn(&text);
    for mime_type in MIME_TYPES {
        for encoding in ENCODINGS {
            dtbd(mime_type, encoding, &text);
        }
    }
    // Storage reads never fail on text and never panic on anything.
    assert_eq!(Dtbd::from_wire(TEXT_PLAIN, &text).ok(), Some(Dtbd::Text(text.to_string())));
    if let Ok(stored) = Dtbd::from_wire(TXN_APPROVAL, &text) {
        assert_eq!(stored.mime_type(), TXN_APPROVAL);
    }
}

fn msisdn(raw: &str) {
    match Msisdn::parse(raw) {
        Ok(msisdn) => {
            let digits = msisdn.normalized();
            assert_eq!(msisdn.raw(), raw, "the raw form is echoed byte for byte");
            assert!((8..=15).contains(&digits.len()), "{digits:?}: 8 to 15 digits");
            assert!(digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0'), "{digits:?}");
            assert!(raw == digits || raw.strip_prefix('+') == Some(digits), "{raw:?} normalises to {digits:?}");
            // The normalised and displayed forms parse back to the same number.
            for again in [digits.to_owned(), msisdn.to_string()] {
                let reparsed = Msisdn::parse(&again).expect("a normalised MSISDN parses again");
                assert_eq!(reparsed.normalized(), digits);
                assert_eq!(reparsed, msisdn);
            }
            assert_eq!(Msisdn::from_normalized(digits), msisdn);
        }
        Err(fault) => {
            assert_eq!(fault.code, FaultCode::WrongParam, "{raw:?}");
            assert_eq!(fault.detail, "Illegal msisdn", "{raw:?}");
        }
    }
}

fn dtbd(mime_type: Option<&str>, encoding: Option<&str>, data: &str) {
    let parsed = Dtbd::parse(mime_type, encoding, data);
    if encoding == Some("base64") || mime_type == Some("application/octet-stream") {
        assert_eq!(parsed.map_err(|f| f.code), Err(FaultCode::WrongParam), "{mime_type:?} {encoding:?}");
        return;
    }
    let dtbd = match parsed {
        Ok(dtbd) => dtbd,
        Err(fault) => {
            let expected = [FaultCode::WrongParam, FaultCode::MissingParam, FaultCode::WrongDataLength];
            assert!(expected.contains(&fault.code), "unexpected fault {fault:?} for {data:?}");
            return;
        }
    };
    let approval_expected = mime_type.is_some_and(|m| m.eq_ignore_ascii_case(TXN_APPROVAL));
    assert_eq!(dtbd.needs_app(), approval_expected);

    // What is stored comes back unchanged, and is accepted again from an AP.
    let (wire_mime, wire_data) = dtbd.to_wire();
    assert_eq!(wire_mime, dtbd.mime_type());
    assert_eq!(Dtbd::from_wire(&wire_mime, &wire_data).as_ref().ok(), Some(&dtbd), "wire form {wire_data:?}");
    assert_eq!(Dtbd::parse(Some(&wire_mime), None, &wire_data).as_ref().ok(), Some(&dtbd));

    // What the phone shows hides nothing, and what is signed is what was shown.
    check_displayable("display", &dtbd.display_text()).expect("accepted DTBD shows only visible text");
    match &dtbd {
        Dtbd::Text(text) => {
            assert_eq!(text, data, "text is kept byte for byte");
            assert!(!text.is_empty());
            check_text_length(text).expect("accepted text fits a SIM");
            assert_eq!(dtbd.signed_bytes(), data.as_bytes());
        }
        Dtbd::TxnApproval(approval) => {
            assert!(!approval.rows.is_empty() && approval.rows.len() <= MAX_ROWS);
            assert!(approval.title.len() <= MAX_TITLE_BYTES);
            let mut total = 0;
            for (key, value) in &approval.rows {
                assert!(key.len() <= MAX_KEY_BYTES && value.len() <= MAX_VALUE_BYTES);
                total += key.len() + value.len();
            }
            assert!(total <= MAX_ROWS_TOTAL_BYTES);
            assert_signed_rows(&dtbd.signed_bytes(), &approval.rows);
        }
    }
    let _ = dtbd.check_prefix(data.get(..data.len().min(3)).unwrap_or(""));
}

/// A verifier decodes the signed bytes back to exactly the rows the phone showed.
fn assert_signed_rows(signed: &[u8], rows: &[(String, String)]) {
    let outer: serde_json::Value = serde_json::from_slice(signed).expect("signed bytes are JSON");
    assert_eq!(outer["format_version"], 1);
    let content = outer["content_string"].as_str().expect("content_string is a string");
    let inner: Vec<serde_json::Value> = serde_json::from_str(content).expect("content_string holds a JSON array");
    let decoded: Vec<(String, String)> = inner
        .iter()
        .map(|row| {
            let field = |name: &str| row[name].as_str().expect("rows hold strings").to_owned();
            (field("key"), field("value"))
        })
        .collect();
    assert_eq!(decoded, rows);
}
