//! From scores to characters: the best glyph each position's class allows, then the
//! check digits' say where the scores leave room for doubt.

use crate::format::{Class, Format};
use crate::glyphs::{ALPHABET, FILLER, GLYPHS};

/// A failing check digit is mended by changing one character only if that costs at
/// most this much score (a near tie between two glyphs); otherwise the reading stands
/// as seen, and the caller's own check-digit validation rejects it.
const MAX_REPAIR_COST: f32 = 0.08;

/// The MRZ lines that the scores spell, and how many of their check digits pass.
pub(crate) struct Decision {
    pub(crate) lines: Vec<String>,
    pub(crate) checks_passed: usize,
}

/// What the scores spell in `format`.
pub(crate) fn decide(format: Format, scores: &[Vec<[f32; GLYPHS]>]) -> Decision {
    let mut lines: Vec<Vec<u8>> = scores
        .iter()
        .enumerate()
        .map(|(line, cells)| {
            cells.iter().enumerate().map(|(pos, s)| ALPHABET[best_allowed(s, format.class(line, pos)).0]).collect()
        })
        .collect();
    let checks = format.checks();
    for (i, check) in checks.iter().enumerate() {
        if check.holds(&lines) {
            continue;
        }
        // Positions that another, passing check vouches for stay as they are.
        let passing: Vec<bool> = checks.iter().map(|c| c.holds(&lines)).collect();
        let vouched = |line: usize, pos: usize| {
            checks.iter().zip(&passing).enumerate().any(|(j, (other, &ok))| j != i && ok && other.covers(line, pos))
        };
        let mut best: Option<(f32, usize, usize, u8)> = None;
        for (line, cells) in scores.iter().enumerate() {
            for (pos, s) in cells.iter().enumerate() {
                if !check.covers(line, pos) || vouched(line, pos) {
                    continue;
                }
                let current = lines[line][pos];
                let current_score = s[glyph_index(current)];
                for g in allowed(format.class(line, pos)).filter(|&g| ALPHABET[g] != current) {
                    let cost = current_score - s[g];
                    if cost > MAX_REPAIR_COST || best.is_some_and(|b| b.0 <= cost) {
                        continue;
                    }
                    lines[line][pos] = ALPHABET[g];
                    if check.holds(&lines) {
                        best = Some((cost, line, pos, ALPHABET[g]));
                    }
                    lines[line][pos] = current;
                }
            }
        }
        if let Some((_, line, pos, c)) = best {
            lines[line][pos] = c;
        }
    }
    let checks_passed = checks.iter().filter(|c| c.holds(&lines)).count();
    Decision { lines: lines.into_iter().map(|l| l.into_iter().map(char::from).collect()).collect(), checks_passed }
}

/// The glyphs a class allows (the filler always).
fn allowed(class: Class) -> impl Iterator<Item = usize> {
    let range = match class {
        Class::Digit => 0..10,
        Class::Letter => 10..36,
        Class::Any => 0..36,
    };
    range.chain(std::iter::once(FILLER))
}

/// The best-scoring glyph the class allows, and its score.
fn best_allowed(scores: &[f32; GLYPHS], class: Class) -> (usize, f32) {
    allowed(class).map(|g| (g, scores[g])).fold((FILLER, f32::NEG_INFINITY), |a, b| if b.1 > a.1 { b } else { a })
}

fn glyph_index(c: u8) -> usize {
    ALPHABET.iter().position(|&a| a == c).unwrap_or(FILLER)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Scores that read `lines` clearly (0.9 for the glyph, 0.2 for the rest).
    fn clear(lines: &[&str]) -> Vec<Vec<[f32; GLYPHS]>> {
        lines
            .iter()
            .map(|l| {
                l.bytes()
                    .map(|c| {
                        let mut s = [0.2; GLYPHS];
                        s[glyph_index(c)] = 0.9;
                        s
                    })
                    .collect()
            })
            .collect()
    }

    const TD3: [&str; 2] =
        ["P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L898902C36UTO7408122F1204159ZE184226B<<<<<10"];

    #[test]
    fn classes_settle_look_alikes() {
        let mut scores = clear(&TD3);
        // The O of UTO in line 2 (a letter position) looks a little more like a 0,
        // and the 0 of 740812 (a digit position) a little more like an O.
        scores[1][12][0] = 0.95;
        scores[1][15][glyph_index(b'O')] = 0.95;
        assert_eq!(decide(Format::Td3, &scores).lines, TD3);
    }

    #[test]
    fn a_near_tie_is_settled_by_the_check_digit() {
        let mut scores = clear(&TD3);
        // The 8 of the document number reads as B by a hair (the position allows both).
        scores[1][1][glyph_index(b'B')] = 0.92;
        assert_eq!(decide(Format::Td3, &scores).lines, TD3);
    }

    #[test]
    fn a_clear_misreading_is_left_for_the_caller_to_reject() {
        let mut scores = clear(&TD3);
        scores[1][1][glyph_index(b'B')] = 0.99;
        scores[1][1][glyph_index(b'8')] = 0.5;
        let decision = decide(Format::Td3, &scores);
        assert_eq!(decision.lines[1], "LB98902C36UTO7408122F1204159ZE184226B<<<<<10");
        assert_eq!(decision.checks_passed, 3);
    }
}
