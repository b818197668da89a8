//! Pages as pictures, so a signer sees every page in the browser without a PDF viewer:
//! rendered here by hayro, a PDF rasteriser in Rust, to PNG.

use std::sync::Arc;

use hayro::hayro_interpret::InterpreterSettings;
use hayro::hayro_syntax::Pdf;
use hayro::vello_cpu::color::palette::css::WHITE;
use hayro::{render, PixmapSettings, RenderCache, RenderSettings};

use crate::PdfError;

/// The widest page rendered, in pixels: a bound on the work one request can cause.
const MAX_WIDTH: f32 = 2000.0;

/// Page `index` (0-based) of `pdf` as a PNG, `width` pixels wide (at most 2000).
pub fn page_png(pdf: Vec<u8>, index: usize, width: u32) -> Result<Vec<u8>, PdfError> {
    let document = Pdf::new(Arc::new(pdf)).map_err(|e| PdfError::Malformed(format!("{e:?}")))?;
    let pages = document.pages();
    let count = pages.len() as u32;
    let page = pages.get(index).ok_or(PdfError::NoSuchPage { page: index as u32 + 1, pages: count })?;
    let (page_width, _) = page.render_dimensions();
    let scale = (width as f32).min(MAX_WIDTH) / page_width.max(1.0);
    let settings = PixmapSettings { x_scale: scale, y_scale: scale, bg_color: WHITE };
    let pixmap =
        render(page, &RenderCache::new(), &InterpreterSettings::default(), &RenderSettings::default(), &settings);
    pixmap.into_png().map_err(|e| PdfError::Malformed(format!("the page could not be drawn: {e}")))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_page_becomes_a_png_of_the_width_asked() {
        let pdf = crate::sample::document("Render", 2, 200, false);
        let png = super::page_png(pdf.clone(), 1, 600).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
        assert!((599..=601).contains(&width), "{width}");
        assert!(matches!(super::page_png(pdf, 2, 600), Err(crate::PdfError::NoSuchPage { page: 3, pages: 2 })));
    }
}
