//! Rows of monospaced print: chains of glyph-sized blobs, side by side at a steady
//! pitch. An MRZ line is such a row with no gaps, since every position holds a glyph
//! (a filler is the glyph `<`, not a space).

use crate::components::Blob;

/// Blobs lower than this (working pixels) are specks, not glyphs.
const MIN_GLYPH_HEIGHT: f32 = 7.0;
/// Blobs higher than this are pictures or frames, not glyphs.
const MAX_GLYPH_HEIGHT: f32 = 160.0;
/// A glyph's right neighbour is centred within this band, in the glyph's heights.
/// OCR-B's pitch is about one glyph height; an image squeezed sideways makes it less.
const NEIGHBOUR_DX: (f32, f32) = (0.3, 1.8);
/// ... with its centre at most this far above or below, in glyph heights.
const NEIGHBOUR_DY: f32 = 0.35;
/// ... and a height in this ratio to the glyph's (`<` is a little shorter than a letter).
const NEIGHBOUR_HEIGHT_RATIO: f32 = 1.7;
/// Pieces of one row, split by a missing or unreadable glyph, are joined across at
/// most this many pitches.
const MAX_JOIN_GAP: f32 = 8.0;
/// The fewest glyphs a row must have to be kept.
const MIN_ROW_GLYPHS: usize = 12;
/// The share of steps between neighbours that must be within 20 % of the pitch.
const MIN_REGULAR_SHARE: f32 = 0.75;

/// A row of blobs, left to right, fitted by a straight line through their centres.
#[derive(Debug)]
pub(crate) struct Row {
    pub(crate) blobs: Vec<Blob>,
    /// The fitted centre line: `y = intercept + slope · x`.
    pub(crate) slope: f32,
    pub(crate) intercept: f32,
    /// The median step between neighbours' centres, along x.
    pub(crate) pitch: f32,
    /// The median blob height.
    pub(crate) height: f32,
}

impl Row {
    fn new(blobs: Vec<Blob>) -> Row {
        let centres: Vec<(f32, f32)> = blobs.iter().map(Blob::centre).collect();
        let (slope, intercept) = fit_line(&centres);
        let pitch = median(centres.windows(2).map(|w| w[1].0 - w[0].0).collect());
        let height = median(blobs.iter().map(Blob::height).collect());
        Row { blobs, slope, intercept, pitch, height }
    }

    /// How many glyph positions the row spans, from its first to its last blob.
    pub(crate) fn span(&self) -> f32 {
        (self.last_x() - self.first_x()) / self.pitch + 1.0
    }

    /// The centre line's height at `x`.
    pub(crate) fn y_at(&self, x: f32) -> f32 {
        self.intercept + self.slope * x
    }

    pub(crate) fn first_x(&self) -> f32 {
        self.blobs[0].centre().0
    }

    pub(crate) fn last_x(&self) -> f32 {
        self.blobs[self.blobs.len() - 1].centre().0
    }

    /// Whether the steps between neighbours keep to the pitch, as monospaced print does.
    fn is_regular(&self) -> bool {
        let steps: Vec<f32> = self.blobs.windows(2).map(|w| w[1].centre().0 - w[0].centre().0).collect();
        let regular = steps.iter().filter(|&&s| s >= 0.8 * self.pitch && s <= 1.25 * self.pitch).count();
        regular as f32 >= MIN_REGULAR_SHARE * steps.len() as f32
    }
}

/// The rows of monospaced print among the blobs.
pub(crate) fn find_rows(blobs: &[Blob]) -> Vec<Row> {
    let mut glyphs: Vec<Blob> = blobs.iter().copied().filter(looks_like_a_glyph).collect();
    glyphs.sort_by(|a, b| a.centre().0.total_cmp(&b.centre().0));
    let pieces = chain(&glyphs).into_iter().filter(|c| c.len() >= 3).map(Row::new).collect();
    join_pieces(pieces).into_iter().filter(|r| r.blobs.len() >= MIN_ROW_GLYPHS && r.is_regular()).collect()
}

fn looks_like_a_glyph(b: &Blob) -> bool {
    let (w, h) = (b.width(), b.height());
    (MIN_GLYPH_HEIGHT..=MAX_GLYPH_HEIGHT).contains(&h) && w <= 1.3 * h + 2.0 && b.area as f32 >= 0.08 * w * h
}

/// Links each glyph to its nearest right neighbour (a neighbour keeps only its nearest
/// claimant) and returns the chains of links, left to right.
fn chain(glyphs: &[Blob]) -> Vec<Vec<Blob>> {
    let n = glyphs.len();
    let mut right = vec![usize::MAX; n];
    let mut left = vec![usize::MAX; n];
    let mut left_dx = vec![f32::INFINITY; n];
    for (a, glyph) in glyphs.iter().enumerate() {
        let ((ax, ay), ah) = (glyph.centre(), glyph.height());
        let mut best: Option<(usize, f32)> = None;
        for (b, other) in glyphs.iter().enumerate().skip(a + 1) {
            let ((bx, by), bh) = (other.centre(), other.height());
            let dx = bx - ax;
            if dx > NEIGHBOUR_DX.1 * ah {
                break;
            }
            let ratio = bh.max(ah) / bh.min(ah);
            if dx < NEIGHBOUR_DX.0 * ah || (by - ay).abs() > NEIGHBOUR_DY * ah.max(bh) || ratio > NEIGHBOUR_HEIGHT_RATIO
            {
                continue;
            }
            if best.is_none_or(|(_, d)| dx < d) {
                best = Some((b, dx));
            }
        }
        if let Some((b, dx)) = best {
            if dx < left_dx[b] {
                if left[b] != usize::MAX {
                    right[left[b]] = usize::MAX;
                }
                left[b] = a;
                left_dx[b] = dx;
                right[a] = b;
            }
        }
    }
    let mut chains = Vec::new();
    for start in (0..n).filter(|&i| left[i] == usize::MAX) {
        let mut members = vec![glyphs[start]];
        let mut at = start;
        while right[at] != usize::MAX {
            at = right[at];
            members.push(glyphs[at]);
        }
        chains.push(members);
    }
    chains
}

/// Joins pieces of one row that a missing glyph split: the next piece continues the
/// line, at the same pitch, a whole number of pitches further on.
fn join_pieces(mut rows: Vec<Row>) -> Vec<Row> {
    rows.sort_by(|a, b| a.first_x().total_cmp(&b.first_x()));
    let mut joined = true;
    while joined {
        joined = false;
        'search: for a in 0..rows.len() {
            for b in 0..rows.len() {
                if a != b && continues(&rows[a], &rows[b]) {
                    let tail = rows.remove(b);
                    let a = if b < a { a - 1 } else { a };
                    let mut blobs = std::mem::take(&mut rows[a].blobs);
                    blobs.extend(tail.blobs);
                    rows[a] = Row::new(blobs);
                    joined = true;
                    break 'search;
                }
            }
        }
    }
    rows
}

fn continues(head: &Row, tail: &Row) -> bool {
    let gap = tail.first_x() - head.last_x();
    let pitch = head.pitch.max(tail.pitch);
    let steps = gap / pitch;
    let first = tail.blobs[0].centre();
    gap > 0.0
        && steps <= MAX_JOIN_GAP
        && (steps - steps.round()).abs() <= 0.3
        && head.pitch.max(tail.pitch) / head.pitch.min(tail.pitch) <= 1.12
        && (head.y_at(first.0) - first.1).abs() <= NEIGHBOUR_DY * head.height.max(tail.height)
}

/// Least-squares line `y = intercept + slope · x` through the points.
pub(crate) fn fit_line(points: &[(f32, f32)]) -> (f32, f32) {
    let n = points.len() as f64;
    let mx = points.iter().map(|p| f64::from(p.0)).sum::<f64>() / n;
    let my = points.iter().map(|p| f64::from(p.1)).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (f64::from(p.0) - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (f64::from(p.0) - mx) * (f64::from(p.1) - my)).sum();
    let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    ((slope) as f32, (my - slope * mx) as f32)
}

/// The median (the upper one of an even count); 0 for none.
pub(crate) fn median(mut values: Vec<f32>) -> f32 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f32::total_cmp);
    values[values.len() / 2]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glyph(x: u32, y: u32, h: u32) -> Blob {
        Blob { x0: x, y0: y, x1: x + h * 2 / 3, y1: y + h, area: h * h / 3 }
    }

    #[test]
    fn a_tilted_row_with_a_gap_is_one_row() {
        // 30 glyphs 20 px high, 20 px apart, rising 1 px every 5; glyph 12 is missing.
        let blobs: Vec<Blob> = (0..30u32).filter(|&i| i != 12).map(|i| glyph(10 + 20 * i, 200 - 4 * i, 20)).collect();
        let rows = find_rows(&blobs);
        assert_eq!(rows.len(), 1);
        let row = &rows[0];
        assert_eq!(row.blobs.len(), 29);
        assert!((row.pitch - 20.0).abs() < 0.01 && (row.span() - 30.0).abs() < 0.01);
        assert!((row.slope + 0.2).abs() < 0.01);
    }

    #[test]
    fn irregular_text_is_not_a_row() {
        // Proportional print: steps of 10 to 40 px.
        let mut x = 0;
        let blobs: Vec<Blob> = (0..30u32)
            .map(|i| {
                x += 10 + (i * 7) % 31;
                glyph(x, 100, 20)
            })
            .collect();
        assert!(find_rows(&blobs).is_empty());
    }
}
