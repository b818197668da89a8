//! Data to be displayed and signed (DTBD, contract §8): what the user sees on
//! the phone and what ends up inside the CMS signature.
//!
//! Two kinds exist: classic text, signed byte for byte and limited by what a
//! SIM can show, and transaction approval, a title with key/value rows that
//! only the App can show and whose signed form is a normalised JSON text.

use serde::Deserialize;

use crate::fault::{Fault, FaultCode};

pub const TEXT_PLAIN: &str = "text/plain";
pub const TXN_APPROVAL: &str = "application/vnd.mobileid.txn-approval";

const INVALID_TXN_APPROVAL: &str = "INVALID_TXNAPPROVAL_PAYLOAD";

/// Text limits: a SIM shows 239 GSM septets or 119 UCS-2 units.
const MAX_GSM_SEPTETS: usize = 239;
const MAX_UCS2_UNITS: usize = 119;

/// Transaction approval limits, all in UTF-8 bytes.
const MAX_TITLE_BYTES: usize = 100;
const MAX_ROWS: usize = 20;
const MAX_KEY_BYTES: usize = 100;
const MAX_VALUE_BYTES: usize = 2000;
const MAX_ROWS_TOTAL_BYTES: usize = 2000;

/// GSM 03.38 default alphabet without ESC (0x1B), which only introduces the
/// extension table and is never a character of its own.
const GSM_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";

/// GSM 03.38 extension table: each costs ESC plus itself, two septets.
const GSM_EXTENSION: &str = "\u{0C}^{}\\[~]|€";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dtbd {
    Text(String),
    TxnApproval(TxnApproval),
}

/// A transaction-approval request: a title (`type`, shown but not signed) and
/// ordered rows (`dtbd`, shown and signed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnApproval {
    pub title: String,
    pub rows: Vec<(String, String)>,
}

/// The JSON an AP sends as transaction-approval `Data`. Unknown members are
/// ignored so that future App fields do not break old servers.
#[derive(Deserialize)]
struct TxnApprovalJson {
    #[serde(rename = "type")]
    title: String,
    dtbd: Vec<RowJson>,
}

#[derive(Deserialize)]
struct RowJson {
    key: String,
    value: String,
}

impl TxnApprovalJson {
    fn from_str(data: &str) -> Option<TxnApproval> {
        let parsed: TxnApprovalJson = serde_json::from_str(data).ok()?;
        Some(TxnApproval {
            title: parsed.title,
            rows: parsed.dtbd.into_iter().map(|row| (row.key, row.value)).collect(),
        })
    }
}

impl Dtbd {
    /// Reads `DataToBeSigned` from a signature request, applying every rule
    /// of §8 except the AP prefix (see [`Dtbd::check_prefix`]).
    pub fn parse(mime_type: Option<&str>, encoding: Option<&str>, data: &str) -> Result<Dtbd, Fault> {
        // Empty attributes are treated as absent: some JSON serialisers
        // write "" for a field the caller never set.
        if let Some(encoding) = encoding.filter(|e| !e.is_empty()) {
            if !encoding.eq_ignore_ascii_case("UTF-8") {
                return Err(Fault::wrong_param(format!(
                    "Unsupported DataToBeSigned Encoding '{encoding}': only UTF-8 is supported"
                )));
            }
        }
        match mime_type.filter(|m| !m.is_empty()) {
            None => Dtbd::parse_text(data),
            Some(m) if m.eq_ignore_ascii_case(TEXT_PLAIN) => Dtbd::parse_text(data),
            Some(m) if m.eq_ignore_ascii_case(TXN_APPROVAL) => Dtbd::parse_txn_approval(data),
            Some(other) => Err(Fault::wrong_param(format!(
                "Unsupported DataToBeSigned MimeType '{other}': use {TEXT_PLAIN} or {TXN_APPROVAL}"
            ))),
        }
    }

    /// Empty text is a missing argument (102) rather than a wrong one: the
    /// `Data` element is mandatory, and an empty one is how many clients
    /// render a value they forgot to fill in.
    fn parse_text(data: &str) -> Result<Dtbd, Fault> {
        if data.is_empty() {
            return Err(Fault::missing_param("DataToBeSigned is empty"));
        }
        check_displayable("DataToBeSigned", data)?;
        check_text_length(data)?;
        Ok(Dtbd::Text(data.to_owned()))
    }

    fn parse_txn_approval(data: &str) -> Result<Dtbd, Fault> {
        let approval = TxnApprovalJson::from_str(data)
            .filter(|approval| !approval.rows.is_empty())
            .ok_or_else(|| Fault::wrong_param(INVALID_TXN_APPROVAL))?;
        approval.check_limits()?;
        check_displayable("DataToBeSigned type", &approval.title)?;
        for (key, value) in &approval.rows {
            check_displayable("DataToBeSigned key", key)?;
            check_displayable("DataToBeSigned value", value)?;
        }
        Ok(Dtbd::TxnApproval(approval))
    }

    /// Rebuilds a DTBD from what [`Dtbd::to_wire`] produced, e.g. when read back
    /// from the database. Limits are not checked again; broken data is an
    /// internal error because only our own code wrote it.
    pub fn from_wire(mime_type: &str, data: &str) -> Result<Dtbd, Fault> {
        if mime_type == TEXT_PLAIN {
            Ok(Dtbd::Text(data.to_owned()))
        } else if mime_type == TXN_APPROVAL {
            TxnApprovalJson::from_str(data)
                .map(Dtbd::TxnApproval)
                .ok_or_else(|| Fault::internal("Stored transaction approval is not valid JSON"))
        } else {
            Err(Fault::internal(format!("Stored DTBD has unknown MimeType '{mime_type}'")))
        }
    }

    /// The MIME type and the data in the form an AP sends it.
    pub fn to_wire(&self) -> (String, String) {
        match self {
            Dtbd::Text(text) => (TEXT_PLAIN.to_owned(), text.clone()),
            Dtbd::TxnApproval(approval) => (
                TXN_APPROVAL.to_owned(),
                format!("{{\"type\":{},\"dtbd\":{}}}", json_string(&approval.title), rows_json(&approval.rows)),
            ),
        }
    }

    pub fn mime_type(&self) -> &'static str {
        match self {
            Dtbd::Text(_) => TEXT_PLAIN,
            Dtbd::TxnApproval(_) => TXN_APPROVAL,
        }
    }

    /// Only the App can show a transaction approval; a SIM cannot.
    pub fn needs_app(&self) -> bool {
        matches!(self, Dtbd::TxnApproval(_))
    }

    /// The exact bytes the user's key signs (the CMS encapsulated content).
    pub fn signed_bytes(&self) -> Vec<u8> {
        match self {
            Dtbd::Text(text) => text.as_bytes().to_vec(),
            Dtbd::TxnApproval(approval) => approval.signed_bytes(),
        }
    }

    /// The AP's DTBD prefix rule (§8.1): classic text must start with it,
    /// a transaction approval's first value must.
    pub fn check_prefix(&self, prefix: &str) -> Result<(), Fault> {
        let matches = prefix.is_empty()
            || match self {
                Dtbd::Text(text) => text.starts_with(prefix),
                Dtbd::TxnApproval(approval) => {
                    approval.rows.first().is_some_and(|(_, value)| value.starts_with(prefix))
                }
            };
        if matches {
            Ok(())
        } else {
            Err(Fault::of(FaultCode::InappropriateData))
        }
    }

    /// A plain-text rendering, for devices and logs that cannot show rows.
    pub fn display_text(&self) -> String {
        match self {
            Dtbd::Text(text) => text.clone(),
            Dtbd::TxnApproval(approval) => {
                let mut out = approval.title.clone();
                for (key, value) in &approval.rows {
                    out.push('\n');
                    out.push_str(key);
                    out.push_str(": ");
                    out.push_str(value);
                }
                out
            }
        }
    }
}

impl TxnApproval {
    /// The signed form: the rows as normalised JSON (the title is shown, not signed).
    pub fn signed_bytes(&self) -> Vec<u8> {
        format!("{{\"format_version\":1,\"content_string\":{}}}", json_string(&rows_json(&self.rows))).into_bytes()
    }

    fn check_limits(&self) -> Result<(), Fault> {
        let too_large = |what: String| {
            Err(Fault::new(FaultCode::WrongDataLength, format!("Transaction approval too large: {what}")))
        };
        if self.title.len() > MAX_TITLE_BYTES {
            return too_large(format!("type has {} bytes, at most {MAX_TITLE_BYTES} allowed", self.title.len()));
        }
        if self.rows.len() > MAX_ROWS {
            return too_large(format!("{} key/value pairs, at most {MAX_ROWS} allowed", self.rows.len()));
        }
        for (n, (key, value)) in self.rows.iter().enumerate() {
            if key.len() > MAX_KEY_BYTES {
                return too_large(format!(
                    "key of pair {} has {} bytes, at most {MAX_KEY_BYTES} allowed",
                    n + 1,
                    key.len()
                ));
            }
            if value.len() > MAX_VALUE_BYTES {
                return too_large(format!(
                    "value of pair {} has {} bytes, at most {MAX_VALUE_BYTES} allowed",
                    n + 1,
                    value.len()
                ));
            }
        }
        let total: usize = self.rows.iter().map(|(k, v)| k.len() + v.len()).sum();
        if total > MAX_ROWS_TOTAL_BYTES {
            return too_large(format!(
                "keys and values have {total} bytes together, at most {MAX_ROWS_TOTAL_BYTES} allowed"
            ));
        }
        Ok(())
    }
}

/// The text length rule of §8.2, also applied to receipt messages: GSM text
/// is counted in septets (extension characters take two), anything else in
/// UTF-16 units, because that is what the SIM transports.
pub fn check_text_length(text: &str) -> Result<(), Fault> {
    let fits = match gsm_septets(text) {
        Some(septets) => septets <= MAX_GSM_SEPTETS,
        None => text.encode_utf16().count() <= MAX_UCS2_UNITS,
    };
    if fits {
        Ok(())
    } else {
        Err(Fault::of(FaultCode::WrongDataLength))
    }
}

/// Refuses characters that would make the phone show something other than what is
/// signed: control characters (line breaks and tabs excepted, texts are multi-line) and
/// the invisible bidirectional controls that reorder what follows them (U+202E and
/// friends). Refusing them (101) rather than rendering them keeps every display of the
/// text, on any phone, equal to the bytes signed.
pub fn check_displayable(field: &str, text: &str) -> Result<(), Fault> {
    match text.char_indices().find(|(_, c)| is_hidden_control(*c)) {
        None => Ok(()),
        Some((at, c)) => Err(Fault::wrong_param(format!(
            "{field} contains the invisible control character U+{:04X} at byte {at}; \
             only visible text, line breaks and tabs can be shown to the user",
            u32::from(c)
        ))),
    }
}

fn is_hidden_control(c: char) -> bool {
    let bidi = matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}');
    (c.is_control() && !matches!(c, '\n' | '\r' | '\t')) || bidi
}

/// The length of `text` in GSM 03.38 septets, or `None` if some character
/// is not in the GSM alphabet.
fn gsm_septets(text: &str) -> Option<usize> {
    text.chars().try_fold(0usize, |count, c| {
        if GSM_BASIC.contains(c) {
            Some(count + 1)
        } else if GSM_EXTENSION.contains(c) {
            Some(count + 2)
        } else {
            None
        }
    })
}

/// A JSON string literal with serde_json's minimal escaping (quotes,
/// backslash, control characters; non-ASCII stays as it is).
fn json_string(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// The rows as a compact JSON array. Written by hand because the member
/// order (`key` before `value`) and the absence of whitespace are part of
/// what gets signed, and verifiers compare the text.
fn rows_json(rows: &[(String, String)]) -> String {
    let mut out = String::from("[");
    for (n, (key, value)) in rows.iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        out.push_str("{\"key\":");
        out.push_str(&json_string(key));
        out.push_str(",\"value\":");
        out.push_str(&json_string(value));
        out.push('}');
    }
    out.push(']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(data: &str) -> Result<Dtbd, Fault> {
        Dtbd::parse(Some(TEXT_PLAIN), Some("UTF-8"), data)
    }

    fn txn(data: &str) -> Result<Dtbd, Fault> {
        Dtbd::parse(Some(TXN_APPROVAL), Some("UTF-8"), data)
    }

    fn approval(title: &str, rows: &[(&str, &str)]) -> Dtbd {
        Dtbd::TxnApproval(TxnApproval {
            title: title.to_owned(),
            rows: rows.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        })
    }

    fn assert_too_long(result: Result<Dtbd, Fault>) {
        let fault = result.expect_err("should be too long");
        assert_eq!(fault.code, FaultCode::WrongDataLength);
        assert_eq!(fault.detail, FaultCode::WrongDataLength.default_detail());
    }

    #[test]
    fn gsm_tables_are_complete() {
        assert_eq!(GSM_BASIC.chars().count(), 127);
        assert_eq!(GSM_EXTENSION.chars().count(), 10);
        for c in "@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ!\"#¤%&'()*+,-./:;<=>?¡ÄÖÑÜ§¿äöñüà \n\r".chars()
        {
            assert!(GSM_BASIC.contains(c), "{c:?}");
        }
        assert!(!GSM_BASIC.contains('\u{1B}'));
        assert!(!GSM_BASIC.contains('ç'));
    }

    #[test]
    fn text_is_parsed_with_or_without_attributes() {
        let expected = Dtbd::Text("Bank ACME: Login?".into());
        assert_eq!(Dtbd::parse(None, None, "Bank ACME: Login?").unwrap(), expected);
        assert_eq!(text("Bank ACME: Login?").unwrap(), expected);
        assert_eq!(Dtbd::parse(Some("TEXT/PLAIN"), Some("utf-8"), "Bank ACME: Login?").unwrap(), expected);
        assert_eq!(Dtbd::parse(Some(""), Some(""), "Bank ACME: Login?").unwrap(), expected);
    }

    #[test]
    fn text_keeps_whitespace() {
        assert_eq!(text("\n  Hi\n").unwrap(), Dtbd::Text("\n  Hi\n".into()));
    }

    #[test]
    fn empty_text_is_missing() {
        let fault = text("").unwrap_err();
        assert_eq!(fault.code, FaultCode::MissingParam);
        assert_eq!(fault.detail, "DataToBeSigned is empty");
    }

    #[test]
    fn other_encodings_and_mime_types_are_wrong() {
        let fault = Dtbd::parse(Some(TEXT_PLAIN), Some("base64"), "SGk=").unwrap_err();
        assert_eq!(fault.code, FaultCode::WrongParam);
        assert!(fault.detail.contains("base64"), "{}", fault.detail);
        let fault = Dtbd::parse(Some(TXN_APPROVAL), Some("hex"), "00").unwrap_err();
        assert_eq!(fault.code, FaultCode::WrongParam);
        let fault = Dtbd::parse(Some("application/octet-stream"), None, "x").unwrap_err();
        assert_eq!(fault.code, FaultCode::WrongParam);
        assert!(fault.detail.contains("application/octet-stream"), "{}", fault.detail);
    }

    #[test]
    fn gsm_text_limit_is_239_septets() {
        assert!(text(&"a".repeat(239)).is_ok());
        assert_too_long(text(&"a".repeat(240)));
        assert!(text(&"é".repeat(239)).is_ok());
        assert!(text(&"Δ".repeat(239)).is_ok());
    }

    #[test]
    fn gsm_extension_characters_count_twice() {
        assert!(text(&format!("{}a", "€".repeat(119))).is_ok());
        assert_too_long(text(&"€".repeat(120)));
        assert_too_long(text(&format!("{}{}", "[".repeat(100), "a".repeat(40))));
        // Form feed is an extension character too; counted here, refused in a DTBD.
        assert!(check_text_length(&format!("{}{}", "\u{0C}".repeat(100), "a".repeat(39))).is_ok());
    }

    #[test]
    fn hidden_control_characters_are_refused_with_101() {
        for bad in ["Pay\u{0}100", "Pay \u{202E}001 CHF", "a\u{1B}b", "a\u{7F}", "a\u{85}", "x\u{2066}y", "\u{200F}"] {
            let fault = text(bad).unwrap_err();
            assert_eq!(fault.code, FaultCode::WrongParam, "{bad:?}");
            assert!(fault.detail.contains("invisible control character U+"), "{}", fault.detail);
        }
        assert!(text("Line one\nLine two\r\n\tindented").is_ok());
        let approval = r#"{"type":"Pay","dtbd":[{"key":"To\u202e","value":"x"}]}"#;
        let fault = Dtbd::parse(Some(TXN_APPROVAL), None, approval).unwrap_err();
        assert_eq!(fault.code, FaultCode::WrongParam);
        assert!(fault.detail.contains("U+202E"), "{}", fault.detail);
    }

    #[test]
    fn non_gsm_text_limit_is_119_utf16_units() {
        assert!(text(&"ç".repeat(119)).is_ok());
        assert_too_long(text(&"ç".repeat(120)));
        // One ç drags otherwise GSM text down to the lower limit.
        assert_too_long(text(&format!("ç{}", "a".repeat(119))));
        // Emoji outside the BMP take two UTF-16 units.
        assert!(text(&format!("{}a", "😀".repeat(59))).is_ok());
        assert_too_long(text(&"😀".repeat(60)));
    }

    #[test]
    fn check_text_length_is_public_for_receipts() {
        assert!(check_text_length("Login OK").is_ok());
        assert_eq!(check_text_length(&"x".repeat(300)).unwrap_err().code, FaultCode::WrongDataLength);
    }

    #[test]
    fn signed_bytes_of_documented_example() {
        let dtbd = txn(r#"{"type":"Login","dtbd":[{"key":"Company","value":"Test"}]}"#).unwrap();
        assert_eq!(
            String::from_utf8(dtbd.signed_bytes()).unwrap(),
            r#"{"format_version":1,"content_string":"[{\"key\":\"Company\",\"value\":\"Test\"}]"}"#
        );
    }

    #[test]
    fn signed_bytes_normalise_order_whitespace_and_escaping() {
        let dtbd = txn(
            "{ \"dtbd\" : [ {\"value\":\"Zürich \\\"HQ\\\"\", \"key\":\"Ort\"},\n {\"key\":\"Betrag\",\"value\":\"CHF 10\"} ],\n \"type\":\"Zahlung\" }",
        )
        .unwrap();
        let signed = String::from_utf8(dtbd.signed_bytes()).unwrap();
        assert_eq!(
            signed,
            r#"{"format_version":1,"content_string":"[{\"key\":\"Ort\",\"value\":\"Zürich \\\"HQ\\\"\"},{\"key\":\"Betrag\",\"value\":\"CHF 10\"}]"}"#
        );
        // A verifier can decode it back to the same rows.
        let outer: serde_json::Value = serde_json::from_str(&signed).unwrap();
        let inner: serde_json::Value = serde_json::from_str(outer["content_string"].as_str().unwrap()).unwrap();
        assert_eq!(inner[0]["value"], "Zürich \"HQ\"");
        assert_eq!(inner[1]["key"], "Betrag");
    }

    #[test]
    fn signed_bytes_of_text_are_its_utf8() {
        assert_eq!(text("Grüezi").unwrap().signed_bytes(), "Grüezi".as_bytes());
    }

    #[test]
    fn invalid_txn_approval_payloads() {
        for data in [
            "",
            "not json",
            "[]",
            r#"{"type":"Login"}"#,
            r#"{"dtbd":[{"key":"a","value":"b"}]}"#,
            r#"{"type":"Login","dtbd":[]}"#,
            r#"{"type":"Login","dtbd":[{"key":"a"}]}"#,
            r#"{"type":"Login","dtbd":[{"key":"a","value":1}]}"#,
            r#"{"type":"Login","dtbd":{"key":"a","value":"b"}}"#,
        ] {
            let fault = txn(data).expect_err(data);
            assert_eq!(fault.code, FaultCode::WrongParam, "{data}");
            assert_eq!(fault.detail, "INVALID_TXNAPPROVAL_PAYLOAD", "{data}");
        }
    }

    #[test]
    fn unknown_txn_approval_members_are_ignored() {
        let dtbd = txn(r#"{"type":"T","extra":true,"dtbd":[{"key":"k","value":"v","x":1}]}"#).unwrap();
        assert_eq!(dtbd, approval("T", &[("k", "v")]));
    }

    fn payload(title: &str, rows: &[(String, String)]) -> String {
        Dtbd::TxnApproval(TxnApproval { title: title.to_owned(), rows: rows.to_vec() }).to_wire().1
    }

    fn assert_txn_too_large(data: &str, needle: &str) {
        let fault = txn(data).expect_err(needle);
        assert_eq!(fault.code, FaultCode::WrongDataLength);
        assert!(fault.detail.contains(needle), "{}", fault.detail);
    }

    #[test]
    fn txn_approval_limits() {
        let row = |k: usize, v: usize| ("k".repeat(k), "v".repeat(v));
        assert!(txn(&payload(&"t".repeat(100), &[row(100, 1900)])).is_ok());
        assert!(txn(&payload("t", &vec![row(1, 1); 20])).is_ok());

        assert_txn_too_large(&payload(&"t".repeat(101), &[row(1, 1)]), "type");
        // Bytes, not characters: 51 × ü is 102 bytes.
        assert_txn_too_large(&payload(&"ü".repeat(51), &[row(1, 1)]), "type");
        assert_txn_too_large(&payload("t", &vec![row(1, 1); 21]), "21 key/value pairs");
        assert_txn_too_large(&payload("t", &[row(1, 1), row(101, 1)]), "key of pair 2");
        assert_txn_too_large(&payload("t", &[row(1, 2001)]), "value of pair 1");
        assert_txn_too_large(&payload("t", &[row(100, 1000), row(100, 801)]), "2001 bytes together");
    }

    #[test]
    fn prefix_rule() {
        let dtbd = text("Bank ACME: Login?").unwrap();
        assert!(dtbd.check_prefix("").is_ok());
        assert!(dtbd.check_prefix("Bank ACME: ").is_ok());
        let fault = dtbd.check_prefix("ACME").unwrap_err();
        assert_eq!(fault.code, FaultCode::InappropriateData);
        assert_eq!(fault.detail, "DTBD matching failed");

        let rows = approval("Login", &[("Company", "Bank ACME: yes"), ("User", "Bank ACME")]);
        assert!(rows.check_prefix("Bank ACME").is_ok());
        assert!(rows.check_prefix("").is_ok());
        assert_eq!(rows.check_prefix("Login").unwrap_err().code, FaultCode::InappropriateData);
        let no_rows = approval("Login", &[]);
        assert!(no_rows.check_prefix("").is_ok());
        assert!(no_rows.check_prefix("x").is_err());
    }

    #[test]
    fn mime_type_display_text_and_needs_app() {
        let plain = text("Hello").unwrap();
        assert_eq!(plain.mime_type(), TEXT_PLAIN);
        assert_eq!(plain.display_text(), "Hello");
        assert!(!plain.needs_app());
        let rows = approval("Payment", &[("Amount", "CHF 10"), ("To", "ACME")]);
        assert_eq!(rows.mime_type(), TXN_APPROVAL);
        assert_eq!(rows.display_text(), "Payment\nAmount: CHF 10\nTo: ACME");
        assert!(rows.needs_app());
    }

    #[test]
    fn wire_round_trip() {
        for dtbd in [Dtbd::Text("Bank: \"quoted\" ü\n".into()), approval("Lögin \"x\"", &[("a\\b", "c\td"), ("€", "")])]
        {
            let (mime, data) = dtbd.to_wire();
            assert_eq!(Dtbd::from_wire(&mime, &data).unwrap(), dtbd);
            assert_eq!(Dtbd::parse(Some(&mime), None, &data).unwrap(), dtbd);
        }
        // Control characters survive the JSON escaping, but an AP may not send them.
        let hidden = approval("Login", &[("a", "c\u{1}d")]);
        let (mime, data) = hidden.to_wire();
        assert_eq!(Dtbd::from_wire(&mime, &data).unwrap(), hidden);
        assert_eq!(Dtbd::parse(Some(&mime), None, &data).unwrap_err().code, FaultCode::WrongParam);
        assert_eq!(
            approval("Login", &[("Company", "Test")]).to_wire().1,
            r#"{"type":"Login","dtbd":[{"key":"Company","value":"Test"}]}"#
        );
    }

    #[test]
    fn from_wire_never_panics_on_garbage() {
        assert_eq!(Dtbd::from_wire(TXN_APPROVAL, "{").unwrap_err().code, FaultCode::InternalError);
        assert_eq!(Dtbd::from_wire("image/png", "x").unwrap_err().code, FaultCode::InternalError);
        // No limits apply on the way back from storage.
        assert!(Dtbd::from_wire(TEXT_PLAIN, &"ç".repeat(500)).is_ok());
    }
}
