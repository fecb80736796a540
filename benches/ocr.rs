//! OCR and PDF text: A4 pages of known prose (50 lines of 11 pt Helvetica, about 4,100
//! characters) written as a PDF, then
//! - the text layer of a 200-page PDF through `PureRustPdfReader` (target: ≤ 5 ms per page),
//! - each page rendered at 300 dpi (2480×3507) to PNG,
//! - each page image recognised by `TesseractOcr`, one page at a time (one core), with its
//!   character error rate against the prose (targets: ≤ 3 s per page, ≤ 1 % errors), then two
//!   pages at a time on the two cores.
//!
//! `cargo bench --features ocr --bench ocr` (needs tesseract; `.cargo/config.toml` sets
//! `OMP_THREAD_LIMIT=1`). `CRM_BENCH_PDF=path/to/file.pdf` times that file's text layer too.

use std::time::{Duration, Instant};

use crmcore::ports::{Ocr, PdfReader};
use crmcore_http::ocr_tesseract::TesseractOcr;
use crmcore_http::pdf_read::PureRustPdfReader;
use futures::StreamExt;

#[allow(dead_code, unreachable_pub)]
#[path = "../crmcore-http/tests/it/pdf_fixtures.rs"]
mod pdf_fixtures;

use pdf_fixtures::{Layout, character_error_rate, prose};

const OCR_PAGES: usize = 6;
const TEXT_PAGES: usize = 200;
const TEXT_RUNS: usize = 15;

#[tokio::main]
async fn main() {
    let reader = PureRustPdfReader::new();
    let prose: Vec<Vec<String>> = (0..TEXT_PAGES as u64).map(|seed| prose(seed, 50, 85)).collect();
    let pdf = pdf_fixtures::text_pdf(&prose, 11.0, Layout::Strings);

    // Text layers: the median of several runs over the whole document.
    let mut runs = Vec::new();
    for _ in 0..TEXT_RUNS {
        let started = Instant::now();
        let pages = reader.text_pages(&pdf).await.expect("text layers");
        runs.push(started.elapsed());
        assert_eq!(pages.len(), TEXT_PAGES);
        assert_eq!(pages[7], prose[7].join("\n"), "the text layer is the prose");
    }
    let text_layer = median(&mut runs);
    println!(
        "pdf text layer: {TEXT_PAGES} A4 pages ({} KB PDF) in {:.1} ms (median of {TEXT_RUNS}) = {:.3} ms per page",
        pdf.len() / 1024,
        text_layer.as_secs_f64() * 1e3,
        text_layer.as_secs_f64() * 1e3 / TEXT_PAGES as f64,
    );
    if let Ok(path) = std::env::var("CRM_BENCH_PDF") {
        let bytes = std::fs::read(&path).expect("CRM_BENCH_PDF is readable");
        let started = Instant::now();
        let pages = reader.text_pages(&bytes).await.expect("text layers");
        let elapsed = started.elapsed();
        let chars: usize = pages.iter().map(|p| p.chars().count()).sum();
        println!(
            "pdf text layer of {path}: {} pages, {chars} characters in {:.1} ms = {:.3} ms per page",
            pages.len(),
            elapsed.as_secs_f64() * 1e3,
            elapsed.as_secs_f64() * 1e3 / pages.len().max(1) as f64
        );
    }

    // Page images at 300 dpi.
    let ocr_pdf = pdf_fixtures::text_pdf(&prose[..OCR_PAGES], 11.0, Layout::Strings);
    let mut images = Vec::new();
    let mut renders = Vec::new();
    for page in 0..OCR_PAGES {
        let started = Instant::now();
        images.push(reader.render_page(&ocr_pdf, page, 300).await.expect("rendered"));
        renders.push(started.elapsed());
    }
    let render = median(&mut renders);
    println!(
        "pdf render: A4 at 300 dpi to PNG in {:.0} ms per page (median of {OCR_PAGES}, {} KB PNG)",
        render.as_secs_f64() * 1e3,
        images[0].len() / 1024
    );

    // OCR, one page at a time: seconds per page per core.
    let ocr = TesseractOcr::new("eng").expect("tesseract (see the README's OCR section)");
    ocr.extract_text(&images[0], "image/png", "eng").await.expect("warm-up page");
    let mut times = Vec::new();
    let mut worst_cer = 0.0f64;
    let (mut errors, mut characters) = (0.0, 0usize);
    for (page, image) in images.iter().enumerate() {
        let started = Instant::now();
        let text = ocr.extract_text(image, "image/png", "eng").await.expect("recognised");
        times.push(started.elapsed());
        let expected = prose[page].join("\n");
        let cer = character_error_rate(&expected, &text);
        worst_cer = worst_cer.max(cer);
        errors += cer * expected.len() as f64;
        characters += expected.len();
    }
    let per_page = median(&mut times);
    println!(
        "ocr: A4 at 300 dpi, one page at a time: {:.2} s per page (median of {OCR_PAGES}; {:.2}–{:.2} s), \
         character error rate {:.3} % over {characters} characters (worst page {:.3} %)",
        per_page.as_secs_f64(),
        times[0].as_secs_f64(),
        times[times.len() - 1].as_secs_f64(),
        errors / characters as f64 * 100.0,
        worst_cer * 100.0,
    );

    // Two pages at a time, one per core.
    let started = Instant::now();
    let recognised = futures::stream::iter(&images)
        .map(|image| ocr.extract_text(image, "image/png", "eng"))
        .buffer_unordered(2)
        .filter(|r| std::future::ready(r.is_ok()))
        .count()
        .await;
    let elapsed = started.elapsed();
    assert_eq!(recognised, OCR_PAGES);
    println!(
        "ocr: two pages at a time: {OCR_PAGES} pages in {:.2} s = {:.2} s per page",
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() / OCR_PAGES as f64
    );
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}
