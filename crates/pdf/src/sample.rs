//! Documents made up for tests and benchmarks: A4 pages of numbered text lines, as large
//! as asked, written with a classic cross-reference table or with object and
//! cross-reference streams (the two layouts a signature must extend).

use lopdf::content::{Content, Operation};
use lopdf::{dictionary, Document, Object, SaveOptions, Stream};

/// `pages` A4 pages, each with about `bytes_per_page` of uncompressed drawing.
pub fn document(title: &str, pages: u32, bytes_per_page: usize, xref_streams: bool) -> Vec<u8> {
    let mut doc = Document::with_version("1.7");
    let pages_id = doc.new_object_id();
    let font = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica", "Encoding" => "WinAnsiEncoding",
    });
    let resources = doc.add_object(dictionary! { "Font" => dictionary! { "F1" => font } });
    let mut kids = Vec::new();
    for number in 1..=pages {
        let mut operations = vec![
            Operation::new("BT", vec![]),
            Operation::new("Tf", vec!["F1".into(), 18.into()]),
            Operation::new("Td", vec![56.into(), 780.into()]),
            Operation::new("Tj", vec![Object::string_literal(format!("{title}, page {number} of {pages}"))]),
            Operation::new("Tf", vec!["F1".into(), 9.into()]),
            Operation::new("TL", vec![11.into()]),
        ];
        let mut written = 0;
        let mut line = 0;
        while written < bytes_per_page {
            line += 1;
            let text = format!("Clause {number}.{line}: the parties agree to what this line says.");
            written += text.len() + 8;
            operations.push(Operation::new("'", vec![Object::string_literal(text)]));
            if line % 60 == 0 {
                operations.push(Operation::new("Td", vec![0.into(), 660.into()]));
            }
        }
        operations.push(Operation::new("ET", vec![]));
        let content = Content { operations }.encode().unwrap_or_default();
        let content_id = doc.add_object(Stream::new(dictionary! {}, content));
        kids.push(Object::Reference(doc.add_object(dictionary! {
            "Type" => "Page",
            "Parent" => pages_id,
            "Contents" => content_id,
            "Resources" => resources,
            "MediaBox" => vec![0.into(), 0.into(), Object::Real(595.28), Object::Real(841.89)],
        })));
    }
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! { "Type" => "Pages", "Kids" => kids, "Count" => pages as i64 }),
    );
    let catalog = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog);
    let mut out = Vec::new();
    let options = SaveOptions::builder().use_object_streams(xref_streams).use_xref_streams(xref_streams).build();
    doc.save_with_options(&mut out, options).unwrap_or_default();
    out
}
