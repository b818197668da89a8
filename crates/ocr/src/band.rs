//! Finding the MRZ among the rows of print: two or three parallel rows, one below the
//! other at the MRZ's line spacing, starting at the same place, each about as long as
//! a line of the layout their number implies (3 → TD1, 2 → TD2 or TD3).

use crate::format::Format;
use crate::frame::LineFrame;
use crate::glyphs::TYPICAL_HEIGHT_UNITS;
use crate::rows::{fit_line, median, Row};

/// Baseline to baseline, in glyph heights (nominally 4.23 mm for 2.5–2.8 mm glyphs).
const LINE_SPACING: (f32, f32) = (1.2, 2.6);
/// Lines of one MRZ are parallel: slopes differ by at most this (about 2°).
const MAX_SLOPE_DIFFERENCE: f32 = 0.035;
/// ... their pitches and glyph heights by at most these ratios.
const MAX_PITCH_RATIO: f32 = 1.12;
const MAX_HEIGHT_RATIO: f32 = 1.3;
/// ... and they start within this many pitches of each other.
const MAX_START_OFFSET: f32 = 2.5;
/// A row may span at most this many positions more than its line has (stray marks)...
const MAX_EXTRA: f32 = 2.0;
/// ... and this many fewer (glyphs lost to glare or blur at an end).
const MAX_MISSING: f32 = 8.0;
/// How many candidate bands are worth reading.
const MAX_CANDIDATES: usize = 3;
/// Cells per line used to fit the line's vertical scale and baseline.
const MAX_PROBES: usize = 12;

/// A candidate MRZ: its layout and where each line lies in the photo.
pub(crate) struct Band {
    pub(crate) format: Format,
    pub(crate) lines: Vec<LineFrame>,
    /// For each line, some cells that hold a blob, spread along it.
    pub(crate) probes: Vec<Vec<usize>>,
}

/// The likeliest MRZ bands among `rows` (found in a working copy `scale` times
/// smaller than the photo), best first.
pub(crate) fn find_bands(rows: &[Row], scale: f32) -> Vec<Band> {
    let mut order: Vec<&Row> = rows.iter().collect();
    order.sort_by(|a, b| middle_y(a).total_cmp(&middle_y(b)));
    let mut candidates: Vec<(f32, Vec<&Row>, Format)> = Vec::new();
    for (i, upper) in order.iter().enumerate() {
        for (j, lower) in order.iter().enumerate().skip(i + 1) {
            if !stacked(upper, lower) {
                continue;
            }
            let longest = upper.span().max(lower.span());
            let pair_format = if longest > 40.0 { Format::Td3 } else { Format::Td2 };
            candidates.push((0.0, vec![upper, lower], pair_format));
            for third in order.iter().skip(j + 1).filter(|third| stacked(lower, third)) {
                candidates.push((0.0, vec![upper, lower, third], Format::Td1));
            }
        }
    }
    candidates.retain_mut(|(score, lines, format)| {
        let n = format.length() as f32;
        let fits = lines.iter().all(|r| r.span() <= n + MAX_EXTRA && r.span() >= n - MAX_MISSING);
        *score = lines.iter().map(|r| r.blobs.len() as f32 - 2.0 * (r.span() - n).abs()).sum();
        fits
    });
    candidates.sort_by(|a, b| b.0.total_cmp(&a.0));
    candidates.into_iter().take(MAX_CANDIDATES).map(|(_, lines, format)| locate(&lines, format, scale)).collect()
}

fn middle_y(row: &Row) -> f32 {
    row.y_at((row.first_x() + row.last_x()) / 2.0)
}

/// Whether `lower` lies under `upper` as the next line of the same MRZ would.
fn stacked(upper: &Row, lower: &Row) -> bool {
    let ratio = |a: f32, b: f32| a.max(b) / a.min(b);
    let height = (upper.height + lower.height) / 2.0;
    let slope = (upper.slope + lower.slope) / 2.0;
    let norm = (1.0 + slope * slope).sqrt();
    let x = (upper.first_x() + upper.last_x()) / 2.0;
    let spacing = (lower.y_at(x) - upper.y_at(x)) / norm;
    let (a, b) = (upper.blobs[0].centre(), lower.blobs[0].centre());
    let start_offset = ((a.0 - b.0) + slope * (a.1 - b.1)) / (norm * norm) / upper.pitch;
    (upper.slope - lower.slope).abs() <= MAX_SLOPE_DIFFERENCE
        && ratio(upper.pitch, lower.pitch) <= MAX_PITCH_RATIO
        && ratio(upper.height, lower.height) <= MAX_HEIGHT_RATIO
        && spacing >= LINE_SPACING.0 * height
        && spacing <= LINE_SPACING.1 * height
        && start_offset.abs() <= MAX_START_OFFSET
}

/// Works out each line's frame: a common direction, the pitch and origin fitted to the
/// blob centres, the first cell chosen so the lines' cells hold the most blobs, and a
/// first guess of the baseline and vertical scale from the blobs' bottoms and heights.
fn locate(rows: &[&Row], format: Format, scale: f32) -> Band {
    let weight: f32 = rows.iter().map(|r| r.blobs.len() as f32).sum();
    let slope = rows.iter().map(|r| r.slope * r.blobs.len() as f32).sum::<f32>() / weight;
    let angle = slope.atan();
    let (cos, sin) = (angle.cos(), angle.sin());
    let numbered: Vec<Numbered> = rows.iter().map(|row| Numbered::new(row, (cos, sin))).collect();
    // Number the blobs of all lines from the leftmost start, in whole pitches.
    let mean_pitch = numbered.iter().map(|n| n.pitch).sum::<f32>() / numbered.len() as f32;
    let leftmost = numbered.iter().map(|n| n.start).fold(f32::INFINITY, f32::min);
    let offsets: Vec<i32> = numbered.iter().map(|n| ((n.start - leftmost) / mean_pitch).round() as i32).collect();
    let length = format.length() as i32;
    let all =
        numbered.iter().zip(&offsets).flat_map(|(n, &offset)| n.cells.iter().map(move |&(k, _)| offset + k as i32));
    let first = first_cell(all, length);
    let mut lines = Vec::new();
    let mut probes = Vec::new();
    for ((row, n), &offset) in rows.iter().zip(&numbered).zip(&offsets) {
        let cell0 = n.start + (first - offset) as f32 * n.pitch;
        let tall = median(row.blobs.iter().map(|b| b.height()).collect());
        let bottoms = row.blobs.iter().filter(|b| b.height() >= tall).map(|b| -b.centre().0 * sin + b.y1 as f32 * cos);
        let baseline = median(bottoms.collect());
        let origin = (cell0 * cos - baseline * sin, cell0 * sin + baseline * cos);
        lines.push(LineFrame {
            origin: (origin.0 * scale, origin.1 * scale),
            along: (cos, sin),
            pitch: n.pitch * scale,
            v_scale: row.height / TYPICAL_HEIGHT_UNITS * scale,
        });
        let mut cells: Vec<usize> = n
            .cells
            .iter()
            .map(|&(k, _)| offset + k as i32 - first)
            .filter(|&c| c >= 0 && c < length)
            .map(|c| c as usize)
            .collect();
        cells.dedup();
        let stride = cells.len().div_ceil(MAX_PROBES).max(1);
        probes.push(cells.into_iter().step_by(stride).collect());
    }
    Band { format, lines, probes }
}

/// A row's blobs by their position along the line, numbered by pitch from the first,
/// with the pitch and the first blob's position fitted to them by least squares.
struct Numbered {
    /// (number, position along the line) for each blob.
    cells: Vec<(f32, f32)>,
    pitch: f32,
    start: f32,
}

impl Numbered {
    fn new(row: &Row, (cos, sin): (f32, f32)) -> Numbered {
        let along: Vec<f32> = row.blobs.iter().map(|b| b.centre().0 * cos + b.centre().1 * sin).collect();
        // Numbered step by step: the median step (in whole pixels) can be off by a few
        // per cent, which over 44 glyphs would add up to a whole pitch.
        let rough_pitch = row.pitch / cos;
        let mut k = 0.0;
        let cells: Vec<(f32, f32)> = along
            .iter()
            .enumerate()
            .map(|(i, &u)| {
                if i > 0 {
                    k += ((u - along[i - 1]) / rough_pitch).round().max(1.0);
                }
                (k, u)
            })
            .collect();
        let (pitch, start) = fit_line(&cells);
        Numbered { cells, pitch, start }
    }
}

/// Where a line of `length` cells starts, given the numbers of the blobs found: the
/// window that holds the most of them, the one nearest to number 0 among equals.
fn first_cell(numbers: impl Iterator<Item = i32>, length: i32) -> i32 {
    let mut counts: Vec<usize> = Vec::new();
    for g in numbers {
        let g = g.max(0) as usize;
        if counts.len() <= g {
            counts.resize(g + 1, 0);
        }
        counts[g] += 1;
    }
    let held = |first: i32| -> usize {
        (first.max(0)..(first + length).min(counts.len() as i32)).map(|g| counts[g as usize]).sum()
    };
    let last = counts.len() as i32 - length;
    (last.min(0)..=last.max(0)).max_by_key(|&s| (held(s), std::cmp::Reverse(s.abs()))).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_starts_where_its_cells_hold_the_most_blobs() {
        // Two lines of 44, the first with a stray mark before it.
        assert_eq!(first_cell((0..45).chain(1..45), 44), 1);
        assert_eq!(first_cell(0..44, 44), 0);
        // Only 40 blobs found: the line is taken to start at the first.
        assert_eq!(first_cell(0..40, 44), 0);
    }
}
