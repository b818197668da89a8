//! What the service needs to know about a document before anyone signs it.

use crate::{load, malformed, PdfError};

/// The facts of a document that decide where stamps can go.
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentInfo {
    /// Each page's width and height in points (its MediaBox), in page order.
    pub pages: Vec<(f32, f32)>,
    /// How many signature fields already hold a signature.
    pub signatures: usize,
}

/// Reads a document the way signing will: a PDF that fails here cannot be signed.
pub fn inspect(pdf: &[u8]) -> Result<DocumentInfo, PdfError> {
    let document = load(pdf)?;
    let mut pages = Vec::new();
    for id in document.page_iter() {
        pages.push(media_box(&document, id)?);
    }
    if pages.is_empty() {
        return Err(PdfError::Malformed("it has no pages".into()));
    }
    let signatures = crate::revision::signed_fields(&document).unwrap_or(0);
    Ok(DocumentInfo { pages, signatures })
}

/// The MediaBox of a page, inherited from the page tree where the page has none.
fn media_box(document: &lopdf::Document, page: lopdf::ObjectId) -> Result<(f32, f32), PdfError> {
    let mut node = document.get_dictionary(page).map_err(malformed)?;
    for _ in 0..32 {
        if let Ok(value) = node.get(b"MediaBox") {
            let (_, value) = document.dereference(value).map_err(malformed)?;
            let numbers: Vec<f32> =
                value.as_array().map_err(malformed)?.iter().filter_map(|n| n.as_float().ok()).collect();
            if let [x0, y0, x1, y1] = numbers[..] {
                return Ok(((x1 - x0).abs(), (y1 - y0).abs()));
            }
            return Err(PdfError::Malformed("a page's MediaBox is not four numbers".into()));
        }
        let parent = node.get(b"Parent").and_then(|p| p.as_reference()).map_err(malformed)?;
        node = document.get_dictionary(parent).map_err(malformed)?;
    }
    Err(PdfError::Malformed("the page tree is too deep".into()))
}
