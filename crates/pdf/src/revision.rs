//! One signature's incremental update: written with an empty `/Contents`, hashed, then
//! filled with the CMS.

use std::collections::BTreeSet;

use lopdf::{dictionary, Dictionary, Document, IncrementalDocument, Object, ObjectId, StringFormat};
use sha2::{Digest, Sha256};

use crate::stamp::{self, Stamp};
use crate::{load, malformed, PdfError};

/// What the new signature field says, besides the CMS it will hold.
#[derive(Debug, Clone)]
pub struct SignatureField<'a> {
    /// The signature dictionary's `/Name`.
    pub signer_name: &'a str,
    /// The claimed signing time, `/M` (PAdES puts it here, not in the CMS).
    pub signing_time: chrono::DateTime<chrono::Utc>,
    pub reason: Option<&'a str>,
    /// The visible stamp, or None for an invisible signature.
    pub stamp: Option<&'a Stamp>,
    /// Bytes reserved for the DER CMS.
    pub capacity: usize,
}

/// A document with one more revision whose signature is still to be filled in.
#[derive(Clone)]
pub struct Revision {
    bytes: Vec<u8>,
    /// The `/Contents` hex string, from its `<` to after its `>`: the one gap in the
    /// signed byte range.
    gap: (usize, usize),
}

impl std::fmt::Debug for Revision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Revision").field("len", &self.bytes.len()).field("byte_range", &self.byte_range()).finish()
    }
}

/// A ByteRange entry before the real offsets are known: as wide as any offset we write.
const PLACEHOLDER: i64 = 9_999_999_999;

/// Appends a signature field (on the stamp's page, or invisibly on page 1) to `pdf`.
pub fn prepare(pdf: &[u8], field: &SignatureField<'_>) -> Result<Revision, PdfError> {
    let document = load(pdf)?;
    let pages = document.get_pages();
    let page_number = field.stamp.map_or(1, |s| s.page);
    let page_id =
        *pages.get(&page_number).ok_or(PdfError::NoSuchPage { page: page_number, pages: pages.len() as u32 })?;
    let root_id = document.trailer.get(b"Root").and_then(Object::as_reference).map_err(malformed)?;
    let mut catalog = document.get_dictionary(root_id).map_err(malformed)?.clone();
    let mut page = document.get_dictionary(page_id).map_err(malformed)?.clone();
    let (form_id, mut form) = acro_form(&document, &catalog)?;
    let mut fields = array(&document, form.get(b"Fields").ok())?;
    let mut annotations = array(&document, page.get(b"Annots").ok())?;
    let taken = field_names(&document, &fields);
    let name = (1..).map(|n| format!("Signature{n}")).find(|n| !taken.contains(n)).unwrap_or_default();

    let mut update = IncrementalDocument::create_from(pdf.to_vec(), document);
    let new = &mut update.new_document;
    for key in [&b"DecodeParms"[..], b"Filter", b"Length", b"Index", b"W", b"XRefStm"] {
        new.trailer.remove(key);
    }

    let mut signature = dictionary! {
        "Type" => "Sig",
        "Filter" => "Adobe.PPKLite",
        "SubFilter" => "ETSI.CAdES.detached",
        "ByteRange" => vec![Object::Integer(0), PLACEHOLDER.into(), PLACEHOLDER.into(), PLACEHOLDER.into()],
        "Contents" => Object::String(vec![0; field.capacity], StringFormat::Hexadecimal),
        "M" => Object::string_literal(field.signing_time.format("D:%Y%m%d%H%M%SZ").to_string()),
        "Name" => lopdf::text_string(field.signer_name),
    };
    if let Some(reason) = field.reason {
        signature.set("Reason", lopdf::text_string(reason));
    }
    let signature_id = new.add_object(signature);

    let mut widget = dictionary! {
        "Type" => "Annot",
        "Subtype" => "Widget",
        "FT" => "Sig",
        "T" => Object::string_literal(name),
        "V" => signature_id,
        // Print and Locked.
        "F" => 132,
        "P" => page_id,
    };
    match field.stamp {
        Some(stamp) => {
            let font_id = new.add_object(stamp::font());
            let appearance_id = new.add_object(stamp.appearance(font_id));
            widget.set("Rect", stamp.rect());
            widget.set("AP", dictionary! { "N" => appearance_id });
        }
        None => widget.set("Rect", vec![Object::Integer(0); 4]),
    }
    let widget_id = new.add_object(widget);

    annotations.push(widget_id.into());
    page.set("Annots", annotations);
    new.set_object(page_id, page);
    fields.push(widget_id.into());
    form.set("Fields", fields);
    // SignaturesExist and AppendOnly.
    form.set("SigFlags", 3);
    match form_id {
        Some(id) => new.set_object(id, form),
        None => {
            catalog.set("AcroForm", form);
            new.set_object(root_id, catalog);
        }
    }

    let mut bytes = Vec::with_capacity(pdf.len() + 2 * field.capacity + 8192);
    update.save_to(&mut bytes).map_err(malformed)?;
    Revision::locate(bytes, pdf.len(), field.capacity)
}

impl Revision {
    /// Finds the placeholders in the update (after `from`) and writes the byte range.
    fn locate(mut bytes: Vec<u8>, from: usize, capacity: usize) -> Result<Revision, PdfError> {
        let lost = || PdfError::Malformed("the signature placeholder was not written as expected".into());
        let mut hex = vec![b'0'; 2 * capacity + 2];
        hex[0] = b'<';
        hex[2 * capacity + 1] = b'>';
        let start = from + find(&bytes[from..], &hex).ok_or_else(lost)?;
        let gap = (start, start + hex.len());

        let marker = format!("{PLACEHOLDER} {PLACEHOLDER} {PLACEHOLDER}");
        let at = from + find(&bytes[from..], marker.as_bytes()).ok_or_else(lost)?;
        let open = at - bytes[..at].iter().rev().position(|&b| b == b'[').ok_or_else(lost)? - 1;
        let close = at + bytes[at..].iter().position(|&b| b == b']').ok_or_else(lost)?;
        let range = format!("0 {} {} {}", gap.0, gap.1, bytes.len() - gap.1);
        let width = close - open - 1;
        if range.len() > width {
            return Err(lost());
        }
        bytes[open + 1..close].copy_from_slice(format!("{range:<width$}").as_bytes());
        Ok(Revision { bytes, gap })
    }

    /// The `/ByteRange`: offset and length of the two signed stretches.
    pub fn byte_range(&self) -> [usize; 4] {
        [0, self.gap.0, self.gap.1, self.bytes.len() - self.gap.1]
    }

    /// SHA-256 of the signed bytes: the CMS messageDigest.
    pub fn digest(&self) -> [u8; 32] {
        let mut hash = Sha256::new();
        hash.update(&self.bytes[..self.gap.0]);
        hash.update(&self.bytes[self.gap.1..]);
        hash.finalize().into()
    }

    /// The signed document: the CMS written into the gap, zero-padded.
    pub fn embed(mut self, cms_der: &[u8]) -> Result<Vec<u8>, PdfError> {
        let capacity = (self.gap.1 - self.gap.0 - 2) / 2;
        if cms_der.len() > capacity {
            return Err(PdfError::SignatureTooLarge { needed: cms_der.len(), capacity });
        }
        let start = self.gap.0 + 1;
        self.bytes[start..start + 2 * cms_der.len()].copy_from_slice(hex::encode_upper(cms_der).as_bytes());
        Ok(self.bytes)
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The catalog's interactive form: its object id if it is an indirect object, and a copy
/// of its dictionary (empty when there is none).
fn acro_form(document: &Document, catalog: &Dictionary) -> Result<(Option<ObjectId>, Dictionary), PdfError> {
    match catalog.get(b"AcroForm") {
        Ok(Object::Reference(id)) => Ok((Some(*id), document.get_dictionary(*id).map_err(malformed)?.clone())),
        Ok(Object::Dictionary(form)) => Ok((None, form.clone())),
        _ => Ok((None, Dictionary::new())),
    }
}

/// An array, read through a reference if it is one; empty when absent.
fn array(document: &Document, value: Option<&Object>) -> Result<Vec<Object>, PdfError> {
    match value {
        None => Ok(Vec::new()),
        Some(value) => {
            let (_, value) = document.dereference(value).map_err(malformed)?;
            Ok(value.as_array().map_err(malformed)?.clone())
        }
    }
}

/// The partial names (`/T`) of the form's top-level fields.
fn field_names(document: &Document, fields: &[Object]) -> BTreeSet<String> {
    fields
        .iter()
        .filter_map(|f| document.dereference(f).ok()?.1.as_dict().ok()?.get(b"T").ok()?.as_str().ok())
        .map(|t| String::from_utf8_lossy(t).into_owned())
        .collect()
}

/// How many form fields are signature fields with a value.
pub(crate) fn signed_fields(document: &Document) -> Result<usize, PdfError> {
    let root_id = document.trailer.get(b"Root").and_then(Object::as_reference).map_err(malformed)?;
    let catalog = document.get_dictionary(root_id).map_err(malformed)?;
    let (_, form) = acro_form(document, catalog)?;
    let fields = array(document, form.get(b"Fields").ok())?;
    Ok(fields
        .iter()
        .filter_map(|f| document.dereference(f).ok()?.1.as_dict().ok())
        .filter(|f| f.get(b"FT").and_then(Object::as_name).is_ok_and(|n| n == b"Sig") && f.has(b"V"))
        .count())
}
