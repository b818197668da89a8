//! Greyscale rasters: the decoded photo and its downscaled working copy.
//!
//! Coordinates are continuous: pixel `(i, j)` covers `[i, i + 1) × [j, j + 1)` and its
//! centre is `(i + 0.5, j + 0.5)`. A raster shrunk by a factor `f` maps its point
//! `(x, y)` to `(x·f, y·f)` in the original.

/// An 8-bit greyscale raster, row by row.
pub(crate) struct Gray {
    pub(crate) width: usize,
    pub(crate) height: usize,
    pub(crate) pixels: Vec<u8>,
}

impl Gray {
    /// Wraps `pixels`, which must hold `width × height` values.
    pub(crate) fn new(width: usize, height: usize, pixels: Vec<u8>) -> Self {
        assert_eq!(pixels.len(), width * height, "a {width}x{height} raster");
        Gray { width, height, pixels }
    }

    /// The raster shrunk by an integer factor: each pixel is the mean of a
    /// `factor × factor` block (the blocks at the right and bottom edges may be partial).
    pub(crate) fn shrink(&self, factor: usize) -> Gray {
        if factor <= 1 {
            return Gray::new(self.width, self.height, self.pixels.clone());
        }
        let width = self.width.div_ceil(factor);
        let height = self.height.div_ceil(factor);
        let mut sums = vec![0u32; width];
        let mut pixels = Vec::with_capacity(width * height);
        for block_row in 0..height {
            sums.iter_mut().for_each(|s| *s = 0);
            let rows = block_row * factor..((block_row + 1) * factor).min(self.height);
            let block_height = rows.len();
            for y in rows {
                let line = &self.pixels[y * self.width..(y + 1) * self.width];
                for (x, &v) in line.iter().enumerate() {
                    sums[x / factor] += u32::from(v);
                }
            }
            for (bx, &sum) in sums.iter().enumerate() {
                let block_width = (self.width - bx * factor).min(factor);
                let count = (block_width * block_height) as u32;
                pixels.push(((sum + count / 2) / count) as u8);
            }
        }
        Gray::new(width, height, pixels)
    }

    /// Turns the raster upside down (a half turn).
    pub(crate) fn turn_around(&mut self) {
        self.pixels.reverse();
    }

    /// The grey level at the continuous point `(x, y)`, interpolated bilinearly between
    /// pixel centres; points outside take the nearest edge's value.
    pub(crate) fn sample(&self, x: f32, y: f32) -> f32 {
        let fx = (x - 0.5).clamp(0.0, (self.width - 1) as f32);
        let fy = (y - 0.5).clamp(0.0, (self.height - 1) as f32);
        let (x0, y0) = (fx as usize, fy as usize);
        let (x1, y1) = ((x0 + 1).min(self.width - 1), (y0 + 1).min(self.height - 1));
        let (tx, ty) = (fx - x0 as f32, fy - y0 as f32);
        let at = |x: usize, y: usize| f32::from(self.pixels[y * self.width + x]);
        let top = at(x0, y0) * (1.0 - tx) + at(x1, y0) * tx;
        let bottom = at(x0, y1) * (1.0 - tx) + at(x1, y1) * tx;
        top * (1.0 - ty) + bottom * ty
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shrink_averages_blocks_including_partial_ones() {
        let img = Gray::new(3, 2, vec![0, 100, 200, 100, 200, 50]);
        let small = img.shrink(2);
        assert_eq!((small.width, small.height), (2, 1));
        assert_eq!(small.pixels, vec![100, 125]);
    }

    #[test]
    fn turning_around_reverses_rows_and_columns() {
        let mut img = Gray::new(3, 2, vec![1, 2, 3, 4, 5, 6]);
        img.turn_around();
        assert_eq!(img.pixels, vec![6, 5, 4, 3, 2, 1]);
    }

    #[test]
    fn sample_interpolates_between_pixel_centres() {
        let img = Gray::new(2, 1, vec![0, 100]);
        assert_eq!(img.sample(0.5, 0.5), 0.0);
        assert_eq!(img.sample(1.0, 0.5), 50.0);
        assert_eq!(img.sample(9.0, -3.0), 100.0);
    }
}
