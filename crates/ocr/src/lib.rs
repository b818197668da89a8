//! Reads the machine-readable zone (MRZ) of an identity document from a photo or scan.
//!
//! ICAO Doc 9303 prints the MRZ in OCR-B, 10 characters to the inch, in lines of 30
//! (TD1 cards, three lines), 36 (TD2, two lines) or 44 (TD3 passports, two lines), from
//! the alphabet A–Z, 0–9 and the filler `<`. [`read_mrz`] finds those lines and spells
//! them:
//!
//! 1. **Decode** PNG or JPEG to greyscale ([`MAX_PIXELS`] at most, checked against the
//!    header before decoding) and shrink a working copy to at most 1600 pixels a side.
//! 2. **Binarise** the working copy with a local (Sauvola) threshold, so uneven light
//!    does not matter, and label the **connected components** of ink.
//! 3. **Rows**: chain glyph-sized components left to right at a steady pitch. An MRZ
//!    line has no gaps (a filler is printed), so it is a long, perfectly regular row.
//! 4. **Band**: two or three parallel rows at the MRZ's line spacing, starting together,
//!    as long as the layout their number implies. Their common slope gives the tilt;
//!    a least-squares fit of the blob centres gives each line's pitch and first cell.
//! 5. **Read**: each cell is sampled from the full-resolution photo at template scale,
//!    following the tilt, and compared by normalised cross-correlation with templates of
//!    the 37 OCR-B glyphs rendered from a real OCR-B font (see the crate's README). Each
//!    line's baseline and vertical scale are first fitted to the font on a few cells.
//! 6. **Decide**: each position takes the best glyph that its field allows (digits in
//!    dates and check digits, letters in names and codes); a failing check digit is
//!    mended only where two glyphs were nearly tied. Otherwise the best reading is
//!    returned as seen: the caller validates the check digits.
//!
//! Of several candidate bands the one with the most passing check digits wins, then
//! the closest match to the font. Unless a band reads well, the photo is also read
//! turned upside down. All of it is deterministic, single-threaded and pure Rust.

mod band;
mod binarize;
mod components;
mod decide;
mod decode;
mod format;
mod frame;
mod glyphs;
mod gray;
mod matcher;
mod read;
mod rows;

pub use decode::MAX_PIXELS;

/// The longest side of the working copy in which the MRZ is looked for. A 12 MP photo
/// is shrunk threefold, which leaves an MRZ that spans half its width with glyphs
/// about 15 pixels high; the glyphs themselves are read at full resolution.
const WORK_SIDE: usize = 1600;
/// A band whose cells match their best templates worse than this on average is not
/// an MRZ (normalised cross-correlation, 1 for a perfect match; print read well
/// scores above 0.85)...
const MIN_CONFIDENCE: f32 = 0.6;
/// ... nor is one with a cell that matches no glyph even this well: every position of
/// an MRZ holds a glyph, so a blank cell means the layout or the place is wrong.
const MIN_CELL_SCORE: f32 = 0.3;
/// A reading this good is taken without reading the other candidates.
const GOOD_ENOUGH: f32 = 0.85;

/// Why no MRZ could be read.
#[derive(Debug, thiserror::Error)]
pub enum OcrError {
    /// The bytes are not a PNG or JPEG image that decodes.
    #[error("not a readable PNG or JPEG image: {0}")]
    NotAnImage(String),
    /// The image has more than [`MAX_PIXELS`] pixels.
    #[error("the image is {width}x{height} pixels, more than the {} million read", MAX_PIXELS / 1_000_000)]
    TooLarge { width: u32, height: u32 },
    /// No band of print in the image looks like an MRZ.
    #[error("no machine-readable zone was found in the image")]
    NoMrz,
}

/// The MRZ lines found in an image (PNG or JPEG bytes): 2 lines of 44 or 36, or 3 of
/// 30, each only A–Z 0–9 '<'.
///
/// The reading is the best the image gives, even when a check digit fails: checking
/// them is the caller's business. The document may be upright or upside down, tilted
/// by a few degrees; its MRZ glyphs should be at least about 10 pixels high.
pub fn read_mrz(image: &[u8]) -> Result<Vec<String>, OcrError> {
    let mut photo = decode::decode(image)?;
    let mut best = read_upright(&photo);
    if best.as_ref().is_none_or(|b| b.confidence < GOOD_ENOUGH) {
        photo.turn_around();
        if let Some(turned) = read_upright(&photo) {
            if best.as_ref().is_none_or(|b| turned.is_better_than(b)) {
                best = Some(turned);
            }
        }
    }
    best.map(|b| b.lines).ok_or(OcrError::NoMrz)
}

/// Whether the bytes are a PNG or JPEG image that decodes within the limits, without
/// looking for an MRZ (for pictures that have none, such as a selfie).
pub fn check_image(image: &[u8]) -> Result<(), OcrError> {
    decode::decode(image).map(|_| ())
}

/// A plausible reading of one candidate band.
struct Candidate {
    lines: Vec<String>,
    checks_passed: usize,
    confidence: f32,
}

impl Candidate {
    /// Passing check digits settle it (a misplaced band reads as noise, which seldom
    /// passes one); between equals, the closer match to the font.
    fn is_better_than(&self, other: &Candidate) -> bool {
        (self.checks_passed, self.confidence) > (other.checks_passed, other.confidence)
    }
}

/// The best reading of the photo as it lies, if any band reads plausibly.
fn read_upright(photo: &gray::Gray) -> Option<Candidate> {
    let factor = photo.width.max(photo.height).div_ceil(WORK_SIDE).max(1);
    let work = photo.shrink(factor);
    let radius = (work.width.max(work.height) / 64).max(8);
    let blobs = components::find_blobs(&binarize::ink_mask(&work, radius));
    let rows = rows::find_rows(&blobs);
    let mut best: Option<Candidate> = None;
    for band in band::find_bands(&rows, factor as f32) {
        let reading = read::read_band(photo, &band);
        if reading.confidence < MIN_CONFIDENCE || reading.worst_cell < MIN_CELL_SCORE {
            continue;
        }
        let decision = decide::decide(band.format, &reading.scores);
        let candidate =
            Candidate { lines: decision.lines, checks_passed: decision.checks_passed, confidence: reading.confidence };
        if best.as_ref().is_none_or(|b| candidate.is_better_than(b)) {
            best = Some(candidate);
        }
        if reading.confidence >= GOOD_ENOUGH {
            break;
        }
    }
    best
}
