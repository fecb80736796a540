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

const OCR_PAGES: usize = 6;
const TEXT_PAGES: usize = 200;
const TEXT_RUNS: usize = 15;

#[tokio::main]
async fn main() {
    let reader = PureRustPdfReader::new();
    let prose: Vec<Vec<String>> = (0..TEXT_PAGES as u64).map(|seed| lines(seed, 50, 85)).collect();
    let pdf = text_pdf(&prose);

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
    let ocr_pdf = text_pdf(&prose[..OCR_PAGES]);
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

/// Levenshtein distance over characters, whitespace runs counted as one space, over the
/// expected length.
fn character_error_rate(expected: &str, actual: &str) -> f64 {
    let normal = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ").chars().collect::<Vec<_>>();
    let (expected, actual) = (normal(expected), normal(actual));
    let mut previous: Vec<usize> = (0..=actual.len()).collect();
    for (i, e) in expected.iter().enumerate() {
        let mut current = vec![i + 1];
        for (j, a) in actual.iter().enumerate() {
            current.push((previous[j] + usize::from(e != a)).min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[actual.len()] as f64 / expected.len().max(1) as f64
}

/// Deterministic business prose: `count` lines of at most `width` characters.
fn lines(seed: u64, count: usize, width: usize) -> Vec<String> {
    const WORDS: &[&str] = &[
        "the",
        "customer",
        "invoice",
        "agreed",
        "delivery",
        "contract",
        "renewal",
        "account",
        "manager",
        "quarterly",
        "meeting",
        "proposal",
        "discount",
        "payment",
        "terms",
        "shipping",
        "order",
        "number",
        "pipeline",
        "forecast",
        "revenue",
        "signed",
        "pending",
        "approval",
        "review",
        "support",
        "ticket",
        "priority",
        "follow",
        "up",
        "with",
        "and",
        "for",
        "on",
        "by",
        "of",
        "to",
        "in",
        "a",
        "is",
        "was",
        "will",
        "be",
        "next",
        "week",
        "Monday",
        "Tuesday",
        "Friday",
        "March",
        "October",
        "Acme",
        "Globex",
        "Initech",
        "Umbrella",
        "Berlin",
        "Paris",
        "London",
        "2024",
        "2025",
        "117",
        "4,250.00",
        "EUR",
        "USD",
        "12%",
        "invoice:",
        "total",
        "balance",
        "due.",
        "draft,",
        "final",
        "copy",
        "attached",
        "please",
        "confirm",
        "receipt",
        "thank",
        "you",
        "regards",
        "team",
        "sales",
        "service",
        "level",
        "report",
        "monthly",
        "budget",
        "estimate",
        "warehouse",
        "Hamburg",
        "logistics",
    ];
    let mut state = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
    let mut next = || {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        WORDS[(state >> 33) as usize % WORDS.len()]
    };
    (0..count)
        .map(|_| {
            let mut line = String::from(next());
            loop {
                let word = next();
                if line.len() + 1 + word.len() > width {
                    break line;
                }
                line.push(' ');
                line.push_str(word);
            }
        })
        .collect()
}

/// A PDF of A4 pages, each page's lines in 11 pt Helvetica (not embedded, one content stream).
fn text_pdf(pages: &[Vec<String>]) -> Vec<u8> {
    let mut objects: Vec<String> = vec![
        "<< /Type /Catalog /Pages 2 0 R >>".into(),
        format!(
            "<< /Type /Pages /Kids [{}] /Count {} >>",
            (0..pages.len()).map(|i| format!("{} 0 R", 4 + 2 * i)).collect::<Vec<_>>().join(" "),
            pages.len()
        ),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>".into(),
    ];
    for (i, lines) in pages.iter().enumerate() {
        objects.push(format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595.28 841.89] /Resources << /Font << /F1 3 0 R >> >> \
             /Contents {} 0 R >>",
            5 + 2 * i
        ));
        let mut content = String::from("BT /F1 11 Tf 14.3 TL 56.7 769.89 Td\n");
        for line in lines {
            let escaped = line.replace('\\', "\\\\").replace('(', "\\(").replace(')', "\\)");
            content.push_str(&format!("({escaped}) Tj T*\n"));
        }
        content.push_str("ET");
        objects.push(format!("<< /Length {} >>\nstream\n{content}\nendstream", content.len()));
    }
    let mut out = String::from("%PDF-1.4\n");
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.push_str(&format!("{} 0 obj\n{body}\nendobj\n", i + 1));
    }
    let xref = out.len();
    out.push_str(&format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1));
    for offset in offsets {
        out.push_str(&format!("{offset:010} 00000 n \n"));
    }
    out.push_str(&format!("trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n", objects.len() + 1));
    out.into_bytes()
}
