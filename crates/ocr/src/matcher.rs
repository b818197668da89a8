//! Normalised cross-correlation of a sampled cell with every template.

use std::ops::RangeInclusive;

use crate::glyphs::{normalise, templates, CELL_H, CELL_W, GLYPHS};

/// A cell sampled at template resolution (ink: higher is darker), with margins so
/// that a template-sized window can be taken at several shifts.
pub(crate) struct Patch {
    pub(crate) margin_x: usize,
    pub(crate) margin_y: usize,
    pub(crate) ink: Vec<f32>,
}

impl Patch {
    fn width(&self) -> usize {
        CELL_W + 2 * self.margin_x
    }
}

/// For each glyph, its best correlation with the patch over every horizontal shift
/// within the margin and the vertical shifts `dys` (each within the margin). Scores
/// are in `-1..=1`; a blank window scores 0.
pub(crate) fn glyph_scores(patch: &Patch, dys: RangeInclusive<i32>) -> [f32; GLYPHS] {
    let templates = templates();
    let mut best = [-1f32; GLYPHS];
    let mut window = [0f32; CELL_W * CELL_H];
    let mx = patch.margin_x as i32;
    let width = patch.width();
    for dy in dys {
        let top = (patch.margin_y as i32 + dy) as usize;
        for dx in -mx..=mx {
            let left = (mx + dx) as usize;
            for (row, out) in window.chunks_exact_mut(CELL_W).enumerate() {
                let start = (top + row) * width + left;
                out.copy_from_slice(&patch.ink[start..start + CELL_W]);
            }
            if normalise(&mut window) <= f32::EPSILON {
                best.iter_mut().for_each(|b| *b = b.max(0.0));
                continue;
            }
            for (b, template) in best.iter_mut().zip(&templates.cells) {
                *b = b.max(dot(template, &window));
            }
        }
    }
    best
}

/// The dot product, summed in eight lanes so that the compiler can vectorise it.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    for (x, y) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        for i in 0..8 {
            lanes[i] += x[i] * y[i];
        }
    }
    lanes.iter().sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::glyphs::ALPHABET;

    #[test]
    fn a_shifted_template_finds_itself() {
        let t = templates();
        let k = ALPHABET.iter().position(|&c| c == b'K').expect("K");
        // The K template drawn one pixel right and one down inside a 2-pixel margin.
        let (mx, my) = (2, 2);
        let width = CELL_W + 2 * mx;
        let mut ink = vec![0f32; width * (CELL_H + 2 * my)];
        for (i, v) in t.cells[k].iter().enumerate() {
            ink[(i / CELL_W + my + 1) * width + i % CELL_W + mx + 1] = *v;
        }
        let scores = glyph_scores(&Patch { margin_x: mx, margin_y: my, ink }, -1..=1);
        let best = (0..GLYPHS).max_by(|&a, &b| scores[a].total_cmp(&scores[b])).expect("glyphs");
        assert_eq!(ALPHABET[best], b'K');
        assert!(scores[k] > 0.99);
    }
}
