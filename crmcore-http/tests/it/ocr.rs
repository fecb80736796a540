//! `TesseractOcr` on real page images: A4 pages of known text written as PDFs, rendered at
//! 300 dpi by `PureRustPdfReader`, recognised by the real tesseract and scored by character
//! error rate. The process runs with `OMP_THREAD_LIMIT=1` (set by `.cargo/config.toml`).

use std::io::Cursor;

use crmcore::CrmError;
use crmcore::ports::{Ocr, PdfReader};
use crmcore_http::ocr_tesseract::TesseractOcr;
use crmcore_http::pdf_read::PureRustPdfReader;
use image::ImageFormat;

use crate::pdf_fixtures::{Layout, character_error_rate, prose, scanned_pdf, text_pdf};

/// The most character errors tolerated, as a share of the expected characters.
const MAX_CER: f64 = 0.01;

/// An engine per test: dropped before the process exits, as tesseract wants.
fn ocr() -> TesseractOcr {
    TesseractOcr::new("eng").expect("tesseract with eng (see the README's OCR section)")
}

/// A full A4 page of prose in 11 pt Helvetica, rendered at 300 dpi: its lines and its PNG.
async fn page(seed: u64, lines: usize) -> (Vec<String>, Vec<u8>) {
    let text = prose(seed, lines, 85);
    let pdf = text_pdf(std::slice::from_ref(&text), 11.0, Layout::Strings);
    let png = PureRustPdfReader::new().render_page(&pdf, 0, 300).await.expect("rendered page");
    (text, png)
}

fn reencode(png: &[u8], format: ImageFormat) -> Vec<u8> {
    let page = image::load_from_memory_with_format(png, ImageFormat::Png).expect("png").to_luma8();
    let mut out = Vec::new();
    image::DynamicImage::ImageLuma8(page).write_to(&mut Cursor::new(&mut out), format).expect("encode");
    out
}

async fn assert_reads(ocr: &TesseractOcr, image: &[u8], mime: &str, expected: &[String]) {
    let text = ocr.extract_text(image, mime, "eng").await.expect("recognised");
    let cer = character_error_rate(&expected.join("\n"), &text);
    eprintln!("{mime}: character error rate {:.3} % over {} characters", cer * 100.0, expected.join("\n").len());
    assert!(cer <= MAX_CER, "{mime}: character error rate {:.2} % over 1 %:\n{text}", cer * 100.0);
}

#[tokio::test]
async fn a_full_a4_page_at_300_dpi_is_read_from_png_within_one_percent() {
    let (text, png) = page(21, 50).await;
    assert!(text.iter().map(String::len).sum::<usize>() > 3500, "a full page of text");
    assert_reads(&ocr(), &png, "image/png", &text).await;
}

#[tokio::test]
async fn jpeg_and_tiff_pages_are_read_too() {
    let (text, png) = page(22, 20).await;
    let ocr = ocr();
    assert_reads(&ocr, &reencode(&png, ImageFormat::Jpeg), "image/jpeg", &text).await;
    assert_reads(&ocr, &reencode(&png, ImageFormat::Tiff), "image/tiff", &text).await;
}

#[tokio::test]
async fn a_scanned_pdf_has_no_text_layer_but_its_rendered_page_is_read() {
    let (text, png) = page(23, 20).await;
    let scan = image::load_from_memory(&png).expect("png").to_luma8();
    let (width, height) = scan.dimensions();
    let pdf = scanned_pdf(&reencode(&png, ImageFormat::Jpeg), width, height);
    let reader = PureRustPdfReader::new();
    assert_eq!(reader.text_pages(&pdf).await.expect("text layers"), vec![String::new()]);
    let rendered = reader.render_page(&pdf, 0, 300).await.expect("rendered");
    assert_reads(&ocr(), &rendered, "image/png", &text).await;
}

#[tokio::test]
async fn undecodable_images_are_validation_errors() {
    let ocr = ocr();
    for (bytes, mime) in [
        (&b"definitely not an image"[..], "image/png"),
        (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR truncated", "image/png"),
        (b"\xff\xd8\xff\xe0 broken jpeg", "image/jpeg"),
        (b"GIF89a\x01\0\x01\0", "image/gif"),
    ] {
        let result = ocr.extract_text(bytes, mime, "eng").await;
        assert!(matches!(&result, Err(CrmError::Validation(f)) if f[0].field == "file"), "{mime}: {result:?}");
    }
}

#[tokio::test]
async fn bad_language_names_are_refused_and_missing_packs_are_unavailable() {
    let (_, png) = page(24, 1).await;
    let ocr = ocr();
    let bad = ocr.extract_text(&png, "image/png", "../eng").await;
    assert!(matches!(&bad, Err(CrmError::Validation(f)) if f[0].field == "language"), "{bad:?}");
    let missing = ocr.extract_text(&png, "image/png", "zzz").await;
    assert!(matches!(&missing, Err(CrmError::Unavailable { .. })), "{missing:?}");
}

#[test]
fn the_error_rate_counts_edits() {
    assert_eq!(character_error_rate("abcd", "abcd"), 0.0);
    assert_eq!(character_error_rate("abcd", "abxd"), 0.25);
    assert_eq!(character_error_rate("a  b\nc", "a b c"), 0.0);
}

#[test]
fn the_server_refuses_to_start_ocr_without_omp_thread_limit() {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_crmcore-server"))
        .args(["serve", "--database-url", "memory:", "--bind", "127.0.0.1:0"])
        .env("CRM_JWT_SECRET", "ocr-test-signing-key-0123456789abcdef")
        .env_remove("OMP_THREAD_LIMIT")
        .env_remove("CRM_OCR")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run crmcore-server");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("the server started without OMP_THREAD_LIMIT");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr).expect("read stderr");
    assert!(!status.success());
    assert!(stderr.contains("set OMP_THREAD_LIMIT=1 in the environment before starting the process"), "{stderr}");
}

#[tokio::test]
async fn tiny_and_blank_images_have_no_text() {
    let ocr = ocr();
    for (width, height) in [(1, 1), (3, 3), (10, 10), (600, 400)] {
        let blank = image::GrayImage::from_pixel(width, height, image::Luma([255]));
        let mut png = Vec::new();
        image::DynamicImage::ImageLuma8(blank).write_to(&mut Cursor::new(&mut png), ImageFormat::Png).expect("png");
        let text = ocr.extract_text(&png, "image/png", "eng").await;
        assert!(matches!(&text, Ok(t) if t.is_empty()), "{width}x{height}: {text:?}");
    }
}
