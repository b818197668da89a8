//! The visible part of a signature: a framed box of text lines drawn in Helvetica, one
//! of the standard 14 fonts every PDF reader has, so nothing is embedded.

use lopdf::{dictionary, Object, Stream};

/// Where the stamp goes and what it says. Coordinates are PDF points from the page's
/// lower left corner (unrotated page space).
#[derive(Debug, Clone, PartialEq)]
pub struct Stamp {
    /// 1-based page number.
    pub page: u32,
    pub x: f32,
    pub y: f32,
    pub width: f32,
    pub height: f32,
    /// The text, one entry per line, from the top.
    pub lines: Vec<String>,
}

const MARGIN: f32 = 4.0;
const MAX_FONT_SIZE: f32 = 10.0;
/// Helvetica's widest common glyphs are about 0.72 em, its average about 0.55 em; a
/// line is fitted to an average a little above that, so ordinary names never overflow.
const AVERAGE_GLYPH_WIDTH: f32 = 0.6;
const LEADING: f32 = 1.25;

impl Stamp {
    pub(crate) fn rect(&self) -> Vec<Object> {
        [self.x, self.y, self.x + self.width, self.y + self.height].into_iter().map(Object::Real).collect()
    }

    /// The appearance stream (a form XObject) for a font resource named `/Helv`.
    pub(crate) fn appearance(&self, font: lopdf::ObjectId) -> Stream {
        let (w, h) = (self.width.max(1.0), self.height.max(1.0));
        let lines: Vec<Vec<u8>> = self.lines.iter().map(|line| win_ansi(line)).collect();
        let longest = lines.iter().map(Vec::len).max().unwrap_or(1).max(1) as f32;
        let by_height = (h - 2.0 * MARGIN) / (lines.len().max(1) as f32 * LEADING);
        let by_width = (w - 2.0 * MARGIN) / (longest * AVERAGE_GLYPH_WIDTH);
        let size = by_height.min(by_width).clamp(1.0, MAX_FONT_SIZE);

        let mut content = Vec::new();
        content.extend_from_slice(format!("q 0.95 0.97 1 rg 0 0 {w:.2} {h:.2} re f Q\n").as_bytes());
        content.extend_from_slice(
            format!("q 0.16 0.29 0.55 RG 1 w 0.5 0.5 {:.2} {:.2} re S Q\n", w - 1.0, h - 1.0).as_bytes(),
        );
        content.extend_from_slice(
            format!(
                "BT 0.1 0.1 0.1 rg /Helv {size:.2} Tf {:.2} TL {MARGIN:.2} {:.2} Td\n",
                size * LEADING,
                h - MARGIN - size
            )
            .as_bytes(),
        );
        for (i, line) in lines.iter().enumerate() {
            if i > 0 {
                content.extend_from_slice(b"T* ");
            }
            content.push(b'(');
            content.extend_from_slice(&escape(line));
            content.extend_from_slice(b") Tj\n");
        }
        content.extend_from_slice(b"ET\n");

        let dict = dictionary! {
            "Type" => "XObject",
            "Subtype" => "Form",
            "BBox" => vec![Object::Real(0.0), Object::Real(0.0), Object::Real(w), Object::Real(h)],
            "Resources" => dictionary! { "Font" => dictionary! { "Helv" => font } },
        };
        Stream::new(dict, content)
    }
}

/// The stamp's font: Helvetica in WinAnsiEncoding, which covers the Latin-1 letters of
/// German, French and Italian names.
pub(crate) fn font() -> lopdf::Dictionary {
    dictionary! {
        "Type" => "Font",
        "Subtype" => "Type1",
        "BaseFont" => "Helvetica",
        "Encoding" => "WinAnsiEncoding",
    }
}

/// `text` in WinAnsiEncoding: Latin-1 maps to itself, a few common signs to their
/// Windows-1252 codes, anything else becomes `?`.
fn win_ansi(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| match c {
            ' '..='~' | '\u{a0}'..='\u{ff}' => c as u8,
            '€' => 0x80,
            '‚' => 0x82,
            '„' => 0x84,
            '…' => 0x85,
            '‘' => 0x91,
            '’' => 0x92,
            '“' => 0x93,
            '”' => 0x94,
            '–' => 0x96,
            '—' => 0x97,
            _ => b'?',
        })
        .collect()
}

/// Escapes a literal string's delimiters (ISO 32000-1 §7.3.4.2).
fn escape(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 4);
    for &b in bytes {
        if matches!(b, b'(' | b')' | b'\\') {
            out.push(b'\\');
        }
        out.push(b);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_win_ansi_with_delimiters_escaped() {
        assert_eq!(win_ansi("Zoë Müller – 5 €"), b"Zo\xeb M\xfcller \x96 5 \x80".to_vec());
        assert_eq!(win_ansi("李"), b"?".to_vec());
        assert_eq!(escape(b"a(b)c\\"), b"a\\(b\\)c\\\\".to_vec());
    }

    #[test]
    fn the_appearance_draws_every_line_inside_its_box() {
        let stamp = Stamp {
            page: 1,
            x: 10.0,
            y: 20.0,
            width: 200.0,
            height: 50.0,
            lines: vec!["Signed by Anna (Test)".into(), "2026-11-27 10:00 UTC".into(), "Ref ABC".into()],
        };
        let stream = stamp.appearance((9, 0));
        let content = String::from_utf8_lossy(&stream.content).into_owned();
        assert!(content.contains("(Signed by Anna \\(Test\\)) Tj"), "{content}");
        assert_eq!(content.matches(" Tj").count(), 3);
        assert_eq!(stamp.rect(), vec![Object::Real(10.0), Object::Real(20.0), Object::Real(210.0), Object::Real(70.0)]);
    }
}
