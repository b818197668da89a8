//! Reading a candidate band: fit each line's baseline and vertical scale to the font,
//! then score every cell against every template.

use crate::band::Band;
use crate::frame::LineFrame;
use crate::glyphs::{GLYPHS, UNITS_PER_PX};
use crate::gray::Gray;
use crate::matcher::{glyph_scores, Patch};

/// How far (template pixels) the baseline is searched up and down from the blobs' guess.
const BASELINE_SEARCH: i32 = 4;
/// Vertical scales tried around the guess from the blobs' heights.
const SCALE_STEPS: [f32; 7] = [0.88, 0.92, 0.96, 1.0, 1.04, 1.08, 1.12];
/// How far (template pixels) each cell's glyph may sit off the fitted grid.
const CELL_SLACK_X: usize = 2;
const CELL_SLACK_Y: usize = 1;

/// Every cell's score for every glyph, line by line.
pub(crate) struct Reading {
    pub(crate) scores: Vec<Vec<[f32; GLYPHS]>>,
    /// The mean of the cells' best scores.
    pub(crate) confidence: f32,
    /// The lowest of the cells' best scores.
    pub(crate) worst_cell: f32,
}

pub(crate) fn read_band(photo: &Gray, band: &Band) -> Reading {
    let length = band.format.length();
    let scores: Vec<Vec<[f32; GLYPHS]>> = band
        .lines
        .iter()
        .zip(&band.probes)
        .map(|(line, probes)| {
            let frame = fit_vertical(photo, line.clone(), probes);
            (0..length)
                .map(|cell| {
                    let patch = frame.patch(photo, cell, CELL_SLACK_X, CELL_SLACK_Y);
                    glyph_scores(&patch, -(CELL_SLACK_Y as i32)..=CELL_SLACK_Y as i32)
                })
                .collect()
        })
        .collect();
    let best: Vec<f32> = scores.iter().flatten().map(|s| s.iter().copied().fold(-1.0, f32::max)).collect();
    let confidence = best.iter().sum::<f32>() / best.len() as f32;
    let worst_cell = best.iter().copied().fold(1.0, f32::min);
    Reading { scores, confidence, worst_cell }
}

/// Moves the baseline, then scales the line vertically, to where the probe cells
/// match their best templates best.
fn fit_vertical(photo: &Gray, mut frame: LineFrame, probes: &[usize]) -> LineFrame {
    let patches: Vec<Patch> = probes.iter().map(|&c| frame.patch(photo, c, 1, BASELINE_SEARCH as usize)).collect();
    let shift = (-BASELINE_SEARCH..=BASELINE_SEARCH)
        .map(|dy| (dy, fit(&patches, dy..=dy)))
        .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.abs().cmp(&a.0.abs())))
        .map_or(0, |(dy, _)| dy);
    frame.lower(shift as f32 * UNITS_PER_PX * frame.v_scale);
    let guess = frame.v_scale;
    let best = SCALE_STEPS
        .iter()
        .map(|&factor| {
            frame.v_scale = guess * factor;
            let patches: Vec<Patch> = probes.iter().map(|&c| frame.patch(photo, c, 1, 1)).collect();
            (factor, fit(&patches, -1..=1))
        })
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map_or(1.0, |(factor, _)| factor);
    frame.v_scale = guess * best;
    frame
}

/// The summed best score of the patches at the vertical shifts `dys`.
fn fit(patches: &[Patch], dys: std::ops::RangeInclusive<i32>) -> f32 {
    patches.iter().map(|p| glyph_scores(p, dys.clone()).iter().copied().fold(-1.0, f32::max)).sum()
}
