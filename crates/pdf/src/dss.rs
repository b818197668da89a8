//! The Document Security Store (ETSI EN 319 142-1 §5.4, PAdES B-LT): certificates, OCSP
//! responses and CRLs that validate the signatures, kept in the document in one more
//! incremental update after a signature, so a validator needs no network years later.

use lopdf::{dictionary, Dictionary, IncrementalDocument, Object, Stream};

use crate::{load, malformed, PdfError};

/// What validates the signatures: DER certificates, OCSP responses and CRLs.
#[derive(Debug, Clone, Default)]
pub struct ValidationData {
    pub certificates: Vec<Vec<u8>>,
    pub ocsp_responses: Vec<Vec<u8>>,
    pub crls: Vec<Vec<u8>>,
}

/// `pdf` with `data` added to its DSS (made if there is none), as an incremental update.
pub fn append_dss(pdf: &[u8], data: &ValidationData) -> Result<Vec<u8>, PdfError> {
    let document = load(pdf)?;
    let root_id = document.trailer.get(b"Root").and_then(Object::as_reference).map_err(malformed)?;
    let mut catalog = document.get_dictionary(root_id).map_err(malformed)?.clone();
    let mut dss = match catalog.get(b"DSS") {
        Ok(Object::Reference(id)) => document.get_dictionary(*id).map_err(malformed)?.clone(),
        Ok(Object::Dictionary(dss)) => dss.clone(),
        _ => dictionary! { "Type" => "DSS" },
    };
    let existing = |dss: &Dictionary, key: &[u8]| -> Result<Vec<Object>, PdfError> {
        match dss.get(key) {
            Ok(value) => Ok(document.dereference(value).map_err(malformed)?.1.as_array().map_err(malformed)?.clone()),
            Err(_) => Ok(Vec::new()),
        }
    };
    let mut certs = existing(&dss, b"Certs")?;
    let mut ocsps = existing(&dss, b"OCSPs")?;
    let mut crls = existing(&dss, b"CRLs")?;

    let mut update = IncrementalDocument::create_from(pdf.to_vec(), document);
    let new = &mut update.new_document;
    for key in [&b"DecodeParms"[..], b"Filter", b"Length", b"Index", b"W", b"XRefStm"] {
        new.trailer.remove(key);
    }
    for (list, items) in [(&mut certs, &data.certificates), (&mut ocsps, &data.ocsp_responses), (&mut crls, &data.crls)]
    {
        for item in items {
            list.push(new.add_object(Stream::new(Dictionary::new(), item.clone())).into());
        }
    }
    dss.set("Certs", certs);
    dss.set("OCSPs", ocsps);
    dss.set("CRLs", crls);
    let dss_id = new.add_object(dss);
    catalog.set("DSS", dss_id);
    new.set_object(root_id, catalog);
    let mut bytes = Vec::with_capacity(pdf.len() + 16 * 1024);
    update.save_to(&mut bytes).map_err(malformed)?;
    Ok(bytes)
}
