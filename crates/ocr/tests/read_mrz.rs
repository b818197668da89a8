//! `read_mrz` on the synthetic specimen documents in `tests/fixtures/` (made by
//! `tools/make_fixtures.py`) and on the fake-camera frame of the browser tests.

use std::io::Cursor;
use std::path::PathBuf;
use std::time::Instant;

use image::imageops::FilterType;
use mobileid_ocr::{read_mrz, OcrError};

const TD3: [&str; 2] = ["P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L898902C36UTO7408122F1204159ZE184226B<<<<<10"];
const TD1: [&str; 3] =
    ["I<UTOD231458907<<<<<<<<<<<<<<<", "7408122F1204159UTO<<<<<<<<<<<6", "ERIKSSON<<ANNA<MARIA<<<<<<<<<<"];

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Reads `bytes`, printing how long it took (`--nocapture` shows it).
fn timed_read(name: &str, bytes: &[u8]) -> Result<Vec<String>, OcrError> {
    let start = Instant::now();
    let result = read_mrz(bytes);
    println!("{name}: read_mrz took {:.0} ms", start.elapsed().as_secs_f64() * 1000.0);
    result
}

fn assert_reads(name: &str, bytes: &[u8], expected: &[&str]) {
    match timed_read(name, bytes) {
        Ok(lines) => assert_eq!(lines, expected, "{name}"),
        Err(e) => panic!("{name}: {e}"),
    }
}

#[test]
fn reads_the_scanned_passport_page() {
    assert_reads("td3-passport.png", &fixture("td3-passport.png"), &TD3);
}

#[test]
fn reads_the_scanned_card_back() {
    assert_reads("td1-back.png", &fixture("td1-back.png"), &TD1);
}

#[test]
fn reads_the_photographed_passport_page() {
    assert_reads("td3-passport-photo.jpg", &fixture("td3-passport-photo.jpg"), &TD3);
}

#[test]
fn reads_the_photographed_card_back() {
    assert_reads("td1-back-photo.jpg", &fixture("td1-back-photo.jpg"), &TD1);
}

#[test]
fn reads_a_page_photographed_upside_down() {
    let page = image::load_from_memory(&fixture("td3-passport-photo.jpg")).expect("the fixture decodes");
    assert_reads("td3-passport-photo.jpg turned around", &encode_jpeg(&page.rotate180()), &TD3);
}

#[test]
fn a_document_without_mrz_has_none() {
    assert!(matches!(timed_read("no-mrz.png", &fixture("no-mrz.png")), Err(OcrError::NoMrz)));
}

#[test]
fn the_fake_camera_selfie_has_no_mrz() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../http/tests/browser/fixtures/selfie.mjpeg");
    let selfie = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let decoded = image::load_from_memory(&selfie).expect("the frame decodes");
    assert_eq!((decoded.width(), decoded.height()), (640, 480));
    assert!(matches!(timed_read("selfie.mjpeg", &selfie), Err(OcrError::NoMrz)));
}

#[test]
fn other_bytes_are_not_an_image() {
    for bytes in [&b""[..], b"%PDF-1.7\n", b"\x89PNG\r\n\x1a\n truncated", &fixture("td3-passport.png")[..4000]] {
        assert!(matches!(read_mrz(bytes), Err(OcrError::NotAnImage(_))), "{:?}", &bytes[..bytes.len().min(12)]);
    }
}

/// A PNG that declares 100 000 × 100 000 pixels (10 gigapixels, 30 GB as RGB) and
/// holds none: refused from its header, before anything that size is allocated.
#[test]
fn a_huge_declared_image_is_refused_from_its_header() {
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend(100_000u32.to_be_bytes());
    ihdr.extend(100_000u32.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]); // 8-bit RGB, deflate, no filter, no interlace
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(13u32.to_be_bytes());
    png.extend(&ihdr);
    png.extend(crc32(&ihdr).to_be_bytes());
    match read_mrz(&png) {
        Err(OcrError::TooLarge { width: 100_000, height: 100_000 }) => {}
        other => panic!("{other:?}"),
    }
    // Just over the bound, as a real (tiny) JPEG whose frame header says 8000 × 5001.
    let mut jpeg = encode_jpeg(&image::DynamicImage::new_luma8(16, 16));
    let sof = jpeg.windows(2).position(|w| w == [0xFF, 0xC0]).expect("a baseline JPEG");
    jpeg[sof + 5..sof + 9].copy_from_slice(&[0x13, 0x89, 0x1F, 0x40]); // height 5001, width 8000
    assert!(matches!(read_mrz(&jpeg), Err(OcrError::TooLarge { width: 8000, height: 5001 })));
}

/// The fake camera's file for the browser tests: its first JPEG frame reads, and so it
/// does after Chromium scales it down to 640 × 480 (squeezing it sideways) or 640 × 360.
#[test]
fn reads_the_fake_camera_frame_also_downscaled() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../http/tests/browser/fixtures/td3-passport.mjpeg");
    let mjpeg = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let end = mjpeg.windows(2).position(|w| w == [0xFF, 0xD9]).expect("an end-of-image marker") + 2;
    let frame = &mjpeg[..end];
    assert_reads("td3-passport.mjpeg frame 1 (1280x720)", frame, &TD3);
    let decoded = image::load_from_memory(frame).expect("the frame decodes");
    assert_eq!((decoded.width(), decoded.height()), (1280, 720));
    for (w, h) in [(640, 480), (640, 360)] {
        let small = encode_jpeg(&decoded.resize_exact(w, h, FilterType::Triangle));
        assert_reads(&format!("td3-passport.mjpeg frame 1 at {w}x{h}"), &small, &TD3);
    }
}

/// A 12-megapixel phone photo is shrunk before the search: well under a second in a
/// release build (`cargo test --release`), whatever a debug build takes.
#[test]
fn a_twelve_megapixel_photo_reads_quickly() {
    let photo = image::load_from_memory(&fixture("td3-passport-photo.jpg")).expect("the fixture decodes");
    let big = encode_jpeg(&photo.resize_exact(4000, 3000, FilterType::Triangle));
    let start = Instant::now();
    assert_reads("td3-passport-photo.jpg at 4000x3000", &big, &TD3);
    if !cfg!(debug_assertions) {
        assert!(start.elapsed().as_secs_f64() < 1.0, "{:?}", start.elapsed());
    }
}

fn encode_jpeg(img: &image::DynamicImage) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    img.to_rgb8().write_to(&mut out, image::ImageFormat::Jpeg).expect("JPEG encoding");
    out.into_inner()
}

/// CRC-32 (ISO 3309, as PNG chunks use).
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}
