//! Where one MRZ line lies in the photo, and its cells sampled at template scale.
//!
//! Sampling undoes the tilt and the scale at once: a template pixel is mapped through
//! the font's design space (see `glyphs`) onto the line, horizontally by the measured
//! pitch and vertically by the line's own scale, so a photo squeezed in one direction
//! still lines up.

use crate::glyphs::{ADVANCE_UNITS, CELL_H, CELL_W, TOP_UNITS, UNITS_PER_PX};
use crate::gray::Gray;
use crate::matcher::Patch;

/// Most samples averaged per template pixel along each axis, when the photo is finer
/// than the templates.
const MAX_SUPERSAMPLING: usize = 4;

/// One MRZ line in photo coordinates.
#[derive(Clone, Debug)]
pub(crate) struct LineFrame {
    /// The centre of the first character's cell, on the baseline.
    pub(crate) origin: (f32, f32),
    /// The unit vector along the line, left to right.
    pub(crate) along: (f32, f32),
    /// The character pitch, in photo pixels.
    pub(crate) pitch: f32,
    /// Photo pixels per font unit across the line.
    pub(crate) v_scale: f32,
}

impl LineFrame {
    /// The unit vector across the line, pointing down the page.
    fn down(&self) -> (f32, f32) {
        (-self.along.1, self.along.0)
    }

    /// Moves the baseline down the page by `px` photo pixels (up if negative).
    pub(crate) fn lower(&mut self, px: f32) {
        let (dx, dy) = self.down();
        self.origin = (self.origin.0 + px * dx, self.origin.1 + px * dy);
    }

    /// Cell `cell` at template resolution, widened by `margin_x` and `margin_y`
    /// template pixels on each side so that the template can be moved within it.
    pub(crate) fn patch(&self, photo: &Gray, cell: usize, margin_x: usize, margin_y: usize) -> Patch {
        let h_scale = self.pitch / ADVANCE_UNITS;
        let steps = |px_per_unit: f32| ((UNITS_PER_PX * px_per_unit).ceil() as usize).clamp(1, MAX_SUPERSAMPLING);
        let (n_along, n_down) = (steps(h_scale), steps(self.v_scale));
        let down = self.down();
        let (width, height) = (CELL_W + 2 * margin_x, CELL_H + 2 * margin_y);
        let centre = cell as f32 * self.pitch;
        let mut ink = Vec::with_capacity(width * height);
        for py in 0..height {
            for px in 0..width {
                let mut total = 0.0;
                for j in 0..n_down {
                    let ty = py as f32 - margin_y as f32 + (j as f32 + 0.5) / n_down as f32;
                    let above = (TOP_UNITS - ty * UNITS_PER_PX) * self.v_scale;
                    for i in 0..n_along {
                        let tx = px as f32 - margin_x as f32 + (i as f32 + 0.5) / n_along as f32;
                        let a = centre + (tx - CELL_W as f32 / 2.0) * UNITS_PER_PX * h_scale;
                        let x = self.origin.0 + a * self.along.0 - above * down.0;
                        let y = self.origin.1 + a * self.along.1 - above * down.1;
                        total += photo.sample(x, y);
                    }
                }
                ink.push(255.0 - total / (n_along * n_down) as f32);
            }
        }
        Patch { margin_x, margin_y, ink }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_patch_follows_the_baseline_and_the_pitch() {
        // A photo with one dark pixel, (60, 40); the frame puts cell 1's centre at x = 61 on the baseline y = 41.
        let mut pixels = vec![255u8; 100 * 100];
        pixels[40 * 100 + 60] = 0;
        let photo = Gray::new(100, 100, pixels);
        let pitch = ADVANCE_UNITS / UNITS_PER_PX; // one photo pixel per template pixel
        let frame = LineFrame { origin: (61.0 - pitch, 41.0), along: (1.0, 0.0), pitch, v_scale: 1.0 / UNITS_PER_PX };
        let patch = frame.patch(&photo, 1, 0, 0);
        let (i, _) = patch.ink.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).expect("pixels");
        // Baseline row: TOP_UNITS / UNITS_PER_PX ≈ 22.3 template pixels below the top.
        assert_eq!((i % CELL_W, i / CELL_W), (CELL_W / 2 - 1, 21));
    }
}
