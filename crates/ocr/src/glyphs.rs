//! The OCR-B templates that glyphs are compared against.
//!
//! `tools/make_atlas.py` renders them from Matthew Skala's public-domain OCR-B into
//! `assets/ocrb-atlas.png`: one cell per glyph, each the same window of the font's
//! design space, so a glyph keeps its true size and place within the character pitch.
//! The constants below describe that window; the script repeats them.

use std::sync::OnceLock;

/// The MRZ alphabet, in the atlas's order.
pub(crate) const ALPHABET: &[u8; GLYPHS] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ<";
pub(crate) const GLYPHS: usize = 37;
/// The index of the filler `<`.
pub(crate) const FILLER: usize = 36;
/// A cell's size in template pixels.
pub(crate) const CELL_W: usize = 20;
pub(crate) const CELL_H: usize = 24;
/// Font units (1000 to the em) per template pixel.
pub(crate) const UNITS_PER_PX: f32 = 36.0;
/// The cell's top edge, in font units above the baseline.
pub(crate) const TOP_UNITS: f32 = 804.0;
/// The advance of every glyph, in font units: one character pitch.
pub(crate) const ADVANCE_UNITS: f32 = 723.0;
/// A typical glyph's height in font units (capitals are 701–723 high, digits 787,
/// `<` 632), for a first guess of the vertical scale from blob heights.
pub(crate) const TYPICAL_HEIGHT_UNITS: f32 = 740.0;

const ATLAS: &[u8] = include_bytes!("../assets/ocrb-atlas.png");

/// One template per glyph: the ink coverage of its cell, shifted to zero mean and
/// scaled to unit length, so that a dot product with a window is the numerator of
/// their normalised cross-correlation.
pub(crate) struct Templates {
    pub(crate) cells: Vec<[f32; CELL_W * CELL_H]>,
}

/// The templates, decoded from the atlas on first use.
pub(crate) fn templates() -> &'static Templates {
    static TEMPLATES: OnceLock<Templates> = OnceLock::new();
    TEMPLATES.get_or_init(|| {
        let atlas = image::load_from_memory_with_format(ATLAS, image::ImageFormat::Png)
            .expect("the built-in OCR-B atlas is a valid PNG")
            .into_luma8();
        assert_eq!((atlas.width() as usize, atlas.height() as usize), (CELL_W * GLYPHS, CELL_H), "atlas geometry");
        let cells = (0..GLYPHS)
            .map(|g| {
                let mut cell = [0f32; CELL_W * CELL_H];
                for (i, v) in cell.iter_mut().enumerate() {
                    let (x, y) = (g * CELL_W + i % CELL_W, i / CELL_W);
                    *v = 1.0 - f32::from(atlas.get_pixel(x as u32, y as u32).0[0]) / 255.0;
                }
                normalise(&mut cell);
                cell
            })
            .collect();
        Templates { cells }
    })
}

/// Shifts `values` to zero mean and scales them to unit length; returns the length
/// they had after the shift (0 for a flat window, which is left at zeros).
pub(crate) fn normalise(values: &mut [f32]) -> f32 {
    let mean = values.iter().sum::<f32>() / values.len() as f32;
    values.iter_mut().for_each(|v| *v -= mean);
    let norm = values.iter().map(|v| v * v).sum::<f32>().sqrt();
    if norm > f32::EPSILON {
        values.iter_mut().for_each(|v| *v /= norm);
    }
    norm
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_is_distinct_and_normalised() {
        let t = templates();
        assert_eq!(t.cells.len(), GLYPHS);
        for (a, cell) in t.cells.iter().enumerate() {
            let norm: f32 = cell.iter().map(|v| v * v).sum();
            assert!((norm - 1.0).abs() < 1e-3, "{}", ALPHABET[a] as char);
            for (b, other) in t.cells.iter().enumerate().skip(a + 1) {
                let similarity: f32 = cell.iter().zip(other).map(|(x, y)| x * y).sum();
                assert!(similarity < 0.95, "{} and {} look alike", ALPHABET[a] as char, ALPHABET[b] as char);
            }
        }
    }
}
