//! PDF signatures for the document-signing service (ETSI EN 319 142-1, PAdES).
//!
//! A signature is one incremental update (ISO 32000-1 §7.5.6) appended to the document:
//! a signature field whose widget shows the signer's stamp, a signature dictionary with
//! SubFilter `ETSI.CAdES.detached`, and room for the CMS. [`prepare`] writes that update
//! with the room still empty and says which bytes the signature covers ([`Revision`]);
//! the caller has the CMS made over their digest (on the signer's phone) and
//! [`Revision::embed`] fills it in. Nothing before the update changes, so every earlier
//! signature stays valid.
//!
//! lopdf reads the document and serialises the new objects and the cross-reference
//! section; the placeholder is then patched in place, at fixed width. After a signature,
//! [`append_dss`] adds what validates it (certificates, OCSP responses, CRLs) in one
//! more update, for PAdES B-LT.
//!
//! This crate knows no CMS and no keys: `crypto` makes the container, the engine's
//! signing service decides who signs where.

mod dss;
mod inspect;
mod render;
mod revision;
pub mod sample;
mod stamp;

pub use dss::{append_dss, ValidationData};
pub use inspect::{inspect, DocumentInfo};
pub use render::page_png;
pub use revision::{prepare, Revision, SignatureField};
pub use stamp::Stamp;

/// Why a document cannot be signed.
#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    #[error("the file is not a readable PDF: {0}")]
    Malformed(String),
    #[error("the PDF is encrypted; only unencrypted PDFs can be signed")]
    Encrypted,
    #[error("the PDF has {pages} page(s), so there is no page {page}")]
    NoSuchPage { page: u32, pages: u32 },
    #[error("the signature ({needed} bytes) does not fit the {capacity} bytes reserved for it")]
    SignatureTooLarge { needed: usize, capacity: usize },
}

fn malformed(e: impl std::fmt::Display) -> PdfError {
    PdfError::Malformed(e.to_string())
}

/// How much a stream may inflate while the document is read (object and
/// cross-reference streams are decoded eagerly): a bound against decompression bombs.
const MAX_DECOMPRESSED: usize = 64 * 1024 * 1024;

/// Reads a document we are about to sign: readable as written (a cross-reference table
/// that had to be rebuilt would make the update point at the wrong objects), and not
/// encrypted.
fn load(pdf: &[u8]) -> Result<lopdf::Document, PdfError> {
    if !pdf.starts_with(b"%PDF-") && !pdf.get(..1024).unwrap_or(pdf).windows(5).any(|w| w == b"%PDF-") {
        return Err(PdfError::Malformed("it does not start with a PDF header".into()));
    }
    let options = lopdf::LoadOptions { max_decompressed_size: Some(MAX_DECOMPRESSED), ..Default::default() };
    let document = lopdf::Document::load_mem_with_options(pdf, options).map_err(|e| match e {
        lopdf::Error::Decryption(_) | lopdf::Error::InvalidPassword => PdfError::Encrypted,
        other => malformed(other),
    })?;
    if document.trailer.has(b"Encrypt") || document.encryption_state.is_some() {
        return Err(PdfError::Encrypted);
    }
    if document.xref_recovery.is_some() {
        return Err(PdfError::Malformed("its cross-reference table is damaged".into()));
    }
    Ok(document)
}
