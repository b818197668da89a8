//! Which pixels are ink: darker than their neighbourhood by Sauvola's local threshold,
//! which follows uneven light across a photo.

use crate::gray::Gray;

/// Sauvola's sensitivity: how far below the local mean, relative to the local
/// contrast, a pixel must be to count as ink.
const SENSITIVITY: f64 = 0.2;
/// Sauvola's dynamic range of the standard deviation (for 8-bit grey levels).
const RANGE: f64 = 128.0;
/// Ink is at least this many grey levels darker than its neighbourhood's mean: flat
/// areas with sensor noise stay blank.
const MIN_CONTRAST: f64 = 12.0;

/// A binary raster: `true` where there is ink.
pub(crate) struct Mask {
    pub(crate) width: usize,
    pub(crate) height: usize,
    pub(crate) ink: Vec<bool>,
}

/// The ink of `img`, judged against the mean and deviation of the square window of
/// side `2·radius + 1` around each pixel (clipped at the edges).
pub(crate) fn ink_mask(img: &Gray, radius: usize) -> Mask {
    let (w, h) = (img.width, img.height);
    let stride = w + 1;
    // Summed-area tables of the grey levels and their squares, one row and column of zeros first.
    let mut sum = vec![0u64; stride * (h + 1)];
    let mut squares = vec![0u64; stride * (h + 1)];
    for y in 0..h {
        let (mut row_sum, mut row_squares) = (0u64, 0u64);
        for x in 0..w {
            let v = u64::from(img.pixels[y * w + x]);
            row_sum += v;
            row_squares += v * v;
            sum[(y + 1) * stride + x + 1] = sum[y * stride + x + 1] + row_sum;
            squares[(y + 1) * stride + x + 1] = squares[y * stride + x + 1] + row_squares;
        }
    }
    let window = |table: &[u64], x0: usize, y0: usize, x1: usize, y1: usize| {
        table[y1 * stride + x1] + table[y0 * stride + x0] - table[y0 * stride + x1] - table[y1 * stride + x0]
    };
    let mut ink = vec![false; w * h];
    for y in 0..h {
        let (y0, y1) = (y.saturating_sub(radius), (y + radius + 1).min(h));
        for x in 0..w {
            let (x0, x1) = (x.saturating_sub(radius), (x + radius + 1).min(w));
            let n = ((x1 - x0) * (y1 - y0)) as f64;
            let mean = window(&sum, x0, y0, x1, y1) as f64 / n;
            let variance = (window(&squares, x0, y0, x1, y1) as f64 / n - mean * mean).max(0.0);
            let threshold = mean * (1.0 + SENSITIVITY * (variance.sqrt() / RANGE - 1.0));
            let v = f64::from(img.pixels[y * w + x]);
            ink[y * w + x] = v < threshold && mean - v > MIN_CONTRAST;
        }
    }
    Mask { width: w, height: h, ink }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dark_strokes_are_ink_and_flat_paper_is_not() {
        let (w, h) = (40, 20);
        let mut pixels = vec![200u8; w * h];
        for y in 5..15 {
            pixels[y * w + 20] = 30;
            pixels[y * w + 21] = 30;
        }
        pixels[2 * w + 3] = 195; // paper noise
        let mask = ink_mask(&Gray::new(w, h, pixels), 6);
        assert!(mask.ink[10 * w + 20] && mask.ink[10 * w + 21]);
        assert_eq!(mask.ink.iter().filter(|&&i| i).count(), 20);
    }
}
