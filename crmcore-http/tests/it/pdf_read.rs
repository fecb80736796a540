//! `PureRustPdfReader` on PDFs written by `pdf_fixtures`: text layers, rendering, and hostile
//! input.

use crmcore::CrmError;
use crmcore::ports::PdfReader;
use crmcore_http::pdf_read::{PdfLimits, PureRustPdfReader};

use crate::pdf_fixtures::{Layout, prose, scanned_pdf, text_pdf};

fn is_validation(result: &Result<impl std::fmt::Debug, CrmError>, field: &str, code: &str) -> bool {
    matches!(result, Err(CrmError::Validation(f)) if f[0].field == field && f[0].code == code)
}

#[tokio::test]
async fn text_layers_come_back_page_by_page_in_every_layout() {
    let reader = PureRustPdfReader::new();
    let pages = vec![prose(1, 30, 80), prose(2, 12, 60), Vec::new()];
    for layout in [Layout::Strings, Layout::Kerned, Layout::PlacedWords] {
        let pdf = text_pdf(&pages, 11.0, layout);
        let text = reader.text_pages(&pdf).await.expect("text layers");
        let expected: Vec<String> = pages.iter().map(|lines| lines.join("\n")).collect();
        assert_eq!(text, expected, "{layout:?}");
    }
}

#[tokio::test]
async fn a_page_rendered_at_300_dpi_is_an_a4_png() {
    let reader = PureRustPdfReader::new();
    let pdf = text_pdf(&[prose(3, 5, 70)], 12.0, Layout::Strings);
    let png = reader.render_page(&pdf, 0, 300).await.expect("rendered");
    let page = image::load_from_memory_with_format(&png, image::ImageFormat::Png).expect("a PNG");
    assert_eq!((page.width(), page.height()), (2480, 3507));
    let grey = page.to_luma8();
    let dark = grey.pixels().filter(|p| p.0[0] < 128).count();
    // Ink, but mostly paper.
    assert!(dark > 5_000 && dark < grey.len() / 20, "{dark} dark pixels");
}

#[tokio::test]
async fn a_scanned_page_has_an_empty_text_layer() {
    let reader = PureRustPdfReader::new();
    let mut jpeg = Vec::new();
    let scan =
        image::GrayImage::from_fn(200, 283, |x, y| image::Luma([if (x / 10 + y / 10) % 2 == 0 { 40 } else { 230 }]));
    image::DynamicImage::ImageLuma8(scan)
        .write_to(&mut std::io::Cursor::new(&mut jpeg), image::ImageFormat::Jpeg)
        .expect("jpeg");
    let pdf = scanned_pdf(&jpeg, 200, 283);
    assert_eq!(reader.text_pages(&pdf).await.expect("text layers"), vec![String::new()]);
    let png = reader.render_page(&pdf, 0, 72).await.expect("rendered");
    let page = image::load_from_memory(&png).expect("a PNG").to_luma8();
    let dark = page.pixels().filter(|p| p.0[0] < 128).count();
    assert!(dark > page.len() / 3, "the image is drawn: {dark} dark pixels of {}", page.len());
}

#[tokio::test]
async fn truncated_pdfs_are_refused_without_panicking() {
    let reader = PureRustPdfReader::new();
    let pdf = text_pdf(&[prose(4, 10, 70), prose(5, 10, 70)], 11.0, Layout::Strings);
    for cut in [pdf.len() / 2, pdf.len() - 10, 100, 9] {
        let truncated = &pdf[..cut];
        assert!(is_validation(&reader.text_pages(truncated).await, "file", "truncated"), "cut at {cut}");
        assert!(is_validation(&reader.render_page(truncated, 0, 72).await, "file", "truncated"), "cut at {cut}");
    }
}

#[tokio::test]
async fn garbage_encrypted_and_empty_inputs_are_validation_errors() {
    let reader = PureRustPdfReader::new();
    assert!(is_validation(&reader.text_pages(b"").await, "file", "not_pdf"));
    assert!(is_validation(&reader.text_pages(b"PK\x03\x04 a zip file %%EOF").await, "file", "not_pdf"));
    assert!(is_validation(&reader.text_pages(b"%PDF-1.7\nnothing here\n%%EOF\n").await, "file", "unreadable"));
    let pdf = text_pdf(&[prose(6, 3, 70)], 11.0, Layout::Strings);
    let text = String::from_utf8_lossy(&pdf).into_owned();
    let encrypted = text.replace("/Root 1 0 R >>", "/Root 1 0 R /Encrypt << /Filter /Standard /V 2 /R 3 >> >>");
    assert!(is_validation(&reader.text_pages(encrypted.as_bytes()).await, "file", "encrypted"));
}

#[tokio::test]
async fn corrupted_bytes_never_panic() {
    let reader = PureRustPdfReader::new();
    let pdf = text_pdf(&[prose(7, 8, 70), prose(8, 8, 70)], 11.0, Layout::Kerned);
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    for round in 0..300 {
        let mut bytes = pdf.clone();
        for _ in 0..1 + round % 8 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let at = (state % bytes.len() as u64) as usize;
            bytes[at] = (state >> 40) as u8;
        }
        match reader.text_pages(&bytes).await {
            Ok(_) | Err(CrmError::Validation(_)) => {}
            Err(other) => panic!("round {round}: {other:?}"),
        }
        if round % 30 == 0 {
            match reader.render_page(&bytes, 0, 36).await {
                Ok(_) | Err(CrmError::Validation(_)) => {}
                Err(other) => panic!("round {round}: {other:?}"),
            }
        }
    }
}

#[tokio::test]
async fn caps_on_pages_size_pixels_dpi_and_index_hold() {
    let pdf = text_pdf(&[prose(9, 2, 50), prose(10, 2, 50), prose(11, 2, 50)], 11.0, Layout::Strings);
    let tight = PureRustPdfReader::with_limits(PdfLimits { max_pages: 2, ..PdfLimits::default() });
    assert!(is_validation(&tight.text_pages(&pdf).await, "file", "too_many_pages"));
    let small = PureRustPdfReader::with_limits(PdfLimits { max_bytes: pdf.len() - 1, ..PdfLimits::default() });
    assert!(is_validation(&small.text_pages(&pdf).await, "file", "too_large"));
    let reader = PureRustPdfReader::new();
    assert!(is_validation(&reader.render_page(&pdf, 0, 0).await, "dpi", "out_of_range"));
    assert!(is_validation(&reader.render_page(&pdf, 0, 5000).await, "dpi", "out_of_range"));
    assert!(is_validation(&reader.render_page(&pdf, 3, 72).await, "page", "out_of_range"));
    let few_pixels = PureRustPdfReader::with_limits(PdfLimits { max_render_pixels: 1_000_000, ..PdfLimits::default() });
    assert!(is_validation(&few_pixels.render_page(&pdf, 0, 300).await, "file", "too_large"));
    assert!(few_pixels.render_page(&pdf, 0, 72).await.is_ok());
    let jpeg = [0xff, 0xd8, 0xff, 0xc0, 0, 11, 8, 0xff, 0xff, 0xff, 0xff, 1, 0, 0, 0, 0xff, 0xd9];
    let bomb = scanned_pdf(&jpeg, 100, 100);
    assert!(is_validation(&reader.text_pages(&bomb).await, "file", "too_large"), "the JPEG header's size counts");
}
