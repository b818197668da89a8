//! Connected components of ink (8-connected): each printed glyph of the MRZ is one.
//!
//! Rows are scanned into runs of ink; runs that touch a run of the row above (also
//! diagonally) join its component, through a union–find over the runs.

use crate::binarize::Mask;

/// One component's bounding box (`x1`, `y1` exclusive) and its number of ink pixels.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Blob {
    pub(crate) x0: u32,
    pub(crate) y0: u32,
    pub(crate) x1: u32,
    pub(crate) y1: u32,
    pub(crate) area: u32,
}

impl Blob {
    pub(crate) fn width(&self) -> f32 {
        (self.x1 - self.x0) as f32
    }

    pub(crate) fn height(&self) -> f32 {
        (self.y1 - self.y0) as f32
    }

    /// The centre of the bounding box.
    pub(crate) fn centre(&self) -> (f32, f32) {
        ((self.x0 + self.x1) as f32 / 2.0, (self.y0 + self.y1) as f32 / 2.0)
    }
}

/// A horizontal run of ink `[x0, x1)` on row `y`.
struct Run {
    y: u32,
    x0: u32,
    x1: u32,
}

/// The components of the mask's ink.
pub(crate) fn find_blobs(mask: &Mask) -> Vec<Blob> {
    let mut runs: Vec<Run> = Vec::new();
    let mut parent: Vec<usize> = Vec::new();
    let mut previous = 0..0;
    for y in 0..mask.height {
        let start = runs.len();
        let line = &mask.ink[y * mask.width..(y + 1) * mask.width];
        let mut x = 0;
        while x < line.len() {
            if !line[x] {
                x += 1;
                continue;
            }
            let x0 = x;
            while x < line.len() && line[x] {
                x += 1;
            }
            parent.push(runs.len());
            runs.push(Run { y: y as u32, x0: x0 as u32, x1: x as u32 });
        }
        // Join each new run to the runs above that it touches: they overlap, or meet at a corner.
        let mut first = previous.start;
        for i in start..runs.len() {
            while first < previous.end && runs[first].x1 < runs[i].x0 {
                first += 1;
            }
            let mut j = first;
            while j < previous.end && runs[j].x0 <= runs[i].x1 {
                union(&mut parent, i, j);
                j += 1;
            }
        }
        previous = start..runs.len();
    }
    let mut slot = vec![usize::MAX; runs.len()];
    let mut blobs: Vec<Blob> = Vec::new();
    for (i, run) in runs.iter().enumerate() {
        let root = find(&mut parent, i);
        if slot[root] == usize::MAX {
            slot[root] = blobs.len();
            blobs.push(Blob { x0: run.x0, y0: run.y, x1: run.x1, y1: run.y + 1, area: 0 });
        }
        let blob = &mut blobs[slot[root]];
        blob.x0 = blob.x0.min(run.x0);
        blob.x1 = blob.x1.max(run.x1);
        blob.y0 = blob.y0.min(run.y);
        blob.y1 = blob.y1.max(run.y + 1);
        blob.area += run.x1 - run.x0;
    }
    blobs
}

fn find(parent: &mut [usize], mut i: usize) -> usize {
    while parent[i] != i {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    i
}

fn union(parent: &mut [usize], a: usize, b: usize) {
    let (ra, rb) = (find(parent, a), find(parent, b));
    if ra != rb {
        parent[ra.max(rb)] = ra.min(rb);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask(rows: &[&str]) -> Mask {
        let ink = rows.iter().flat_map(|r| r.chars().map(|c| c == '#')).collect();
        Mask { width: rows[0].len(), height: rows.len(), ink }
    }

    #[test]
    fn diagonal_touches_join_and_gaps_separate() {
        let blobs = find_blobs(&mask(&[
            "#...##", //
            ".#..#.", //
            "..#...", //
            "......", //
            "##.#.#", //
        ]));
        let mut boxes: Vec<_> = blobs.iter().map(|b| (b.x0, b.y0, b.x1, b.y1, b.area)).collect();
        boxes.sort();
        assert_eq!(boxes, vec![(0, 0, 3, 3, 3), (0, 4, 2, 5, 2), (3, 4, 4, 5, 1), (4, 0, 6, 2, 3), (5, 4, 6, 5, 1)]);
    }

    #[test]
    fn a_u_shape_is_one_component() {
        let blobs = find_blobs(&mask(&["#.#", "#.#", "###"]));
        assert_eq!(blobs.len(), 1);
        assert_eq!(blobs[0].area, 7);
    }
}
