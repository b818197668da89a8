//! From PNG or JPEG bytes to a greyscale raster, within a size bound.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader};

use crate::gray::Gray;
use crate::OcrError;

/// The largest image read, in pixels: 40 megapixels. It is checked against the
/// dimensions in the file's header, before anything the size of the image is allocated.
pub const MAX_PIXELS: u64 = 40_000_000;

/// Decodes `bytes` (PNG or JPEG) to greyscale, upright as its EXIF orientation says.
pub(crate) fn decode(bytes: &[u8]) -> Result<Gray, OcrError> {
    let not_an_image = |e: image::ImageError| OcrError::NotAnImage(e.to_string());
    let reader =
        ImageReader::new(Cursor::new(bytes)).with_guessed_format().map_err(|e| OcrError::NotAnImage(e.to_string()))?;
    match reader.format() {
        Some(ImageFormat::Png | ImageFormat::Jpeg) => {}
        Some(other) => return Err(OcrError::NotAnImage(format!("{other:?} is not read; send PNG or JPEG"))),
        None => return Err(OcrError::NotAnImage("neither PNG nor JPEG".into())),
    }
    // The PNG decoder reads on to the first image data before it tells the size: a file
    // that is all header would fail as truncated, so its header is read here first.
    if let Some((width, height)) = png_size(bytes) {
        check_size(width, height)?;
    }
    let mut decoder = reader.into_decoder().map_err(not_an_image)?;
    let (width, height) = decoder.dimensions();
    check_size(width, height)?;
    if width == 0 || height == 0 {
        return Err(OcrError::NotAnImage(format!("it is {width}x{height} pixels")));
    }
    let orientation = decoder.orientation().map_err(not_an_image)?;
    let mut picture = DynamicImage::from_decoder(decoder).map_err(not_an_image)?;
    picture.apply_orientation(orientation);
    let luma = picture.into_luma8();
    let (width, height) = (luma.width() as usize, luma.height() as usize);
    Ok(Gray::new(width, height, luma.into_raw()))
}

fn check_size(width: u32, height: u32) -> Result<(), OcrError> {
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(OcrError::TooLarge { width, height });
    }
    Ok(())
}

/// The size a PNG's header (its first chunk, IHDR) declares.
fn png_size(bytes: &[u8]) -> Option<(u32, u32)> {
    let header = bytes.get(..24)?;
    if &header[..8] != b"\x89PNG\r\n\x1a\n" || &header[12..16] != b"IHDR" {
        return None;
    }
    let word = |at: usize| u32::from_be_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]]);
    Some((word(16), word(20)))
}
