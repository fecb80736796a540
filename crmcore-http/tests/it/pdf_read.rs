//! `PureRustPdfReader` on PDFs written here: text layers, rendering, and hostile input. Also the
//! fixtures the OCR tests use (A4 pages of known text, a page that is only a scanned image).

use crmcore::CrmError;
use crmcore::ports::PdfReader;
use crmcore_http::pdf_read::{PdfLimits, PureRustPdfReader};

/// A4 in points.
pub(crate) const A4: (f64, f64) = (595.28, 841.89);

/// A minimal PDF writer: numbered objects, a cross-reference table, a trailer.
struct Writer {
    out: Vec<u8>,
    offsets: Vec<usize>,
}

impl Writer {
    fn new() -> Self {
        Self { out: b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec(), offsets: Vec::new() }
    }

    /// Writes object `id` (ids are given in order from 1).
    fn object(&mut self, id: usize, body: &[u8]) {
        assert_eq!(id, self.offsets.len() + 1, "objects are written in id order");
        self.offsets.push(self.out.len());
        self.out.extend_from_slice(format!("{id} 0 obj\n").as_bytes());
        self.out.extend_from_slice(body);
        self.out.extend_from_slice(b"\nendobj\n");
    }

    fn stream(&mut self, id: usize, dict: &str, data: &[u8]) {
        let mut body = format!("<< {dict} /Length {} >>\nstream\n", data.len()).into_bytes();
        body.extend_from_slice(data);
        body.extend_from_slice(b"\nendstream");
        self.object(id, &body);
    }

    fn finish(mut self) -> Vec<u8> {
        let xref = self.out.len();
        let mut table = format!("xref\n0 {}\n0000000000 65535 f \n", self.offsets.len() + 1);
        for offset in &self.offsets {
            table.push_str(&format!("{offset:010} 00000 n \n"));
        }
        table.push_str(&format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            self.offsets.len() + 1
        ));
        self.out.extend_from_slice(table.as_bytes());
        self.out
    }
}

/// How a text line is written: as one string, or word by word with positions and no spaces
/// (as some generators do), or with kerning adjustments in a `TJ` array.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layout {
    Strings,
    PlacedWords,
    Kerned,
}

fn escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('(', "\\(").replace(')', "\\)")
}

/// A PDF of A4 pages, each page's lines in Helvetica at `size` points from the top margin.
pub(crate) fn text_pdf(pages: &[Vec<String>], size: f64, layout: Layout) -> Vec<u8> {
    let mut w = Writer::new();
    let kids: Vec<String> = (0..pages.len()).map(|i| format!("{} 0 R", 4 + 2 * i)).collect();
    w.object(1, b"<< /Type /Catalog /Pages 2 0 R >>");
    w.object(2, format!("<< /Type /Pages /Kids [{}] /Count {} >>", kids.join(" "), pages.len()).as_bytes());
    w.object(3, b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>");
    let leading = size * 1.3;
    for (i, lines) in pages.iter().enumerate() {
        let (page, content) = (4 + 2 * i, 5 + 2 * i);
        w.object(
            page,
            format!(
                "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {} {}] /Resources << /Font << /F1 3 0 R >> >> /Contents {content} 0 R >>",
                A4.0, A4.1
            )
            .as_bytes(),
        );
        let ops = match layout {
            Layout::PlacedWords => placed_words(lines, size, leading),
            Layout::Strings | Layout::Kerned => flowing(lines, size, leading, layout),
        };
        w.stream(content, "", ops.as_bytes());
    }
    w.finish()
}

/// Content that shows each line with `Tj` (or a kerned `TJ`) and moves down with `T*`.
fn flowing(lines: &[String], size: f64, leading: f64, layout: Layout) -> String {
    let mut ops = format!("BT /F1 {size} Tf {leading:.2} TL 56.7 {:.2} Td\n", A4.1 - 72.0);
    for line in lines {
        if layout == Layout::Kerned {
            // Words as separate strings, the gap a negative adjustment of a space's width.
            let words: Vec<String> = line.split(' ').map(|w| format!("({})", escape(w))).collect();
            ops.push_str(&format!("[{}] TJ T*\n", words.join(" -278 ")));
        } else {
            ops.push_str(&format!("({}) Tj T*\n", escape(line)));
        }
    }
    ops.push_str("ET\n");
    ops
}

/// Content that places every word with its own `Tm`, line by line, without space glyphs.
fn placed_words(lines: &[String], size: f64, leading: f64) -> String {
    let mut ops = String::new();
    for (n, line) in lines.iter().enumerate() {
        let y = A4.1 - 72.0 - n as f64 * leading;
        let mut x = 56.7;
        for word in line.split(' ') {
            ops.push_str(&format!("BT /F1 {size} Tf 1 0 0 1 {x:.2} {y:.2} Tm ({}) Tj ET\n", escape(word)));
            x += (word.len() as f64 + 1.0) * size * 0.62;
        }
    }
    ops
}

/// A one-page A4 PDF whose page is only a greyscale JPEG (a scan), `width`×`height` pixels.
pub(crate) fn scanned_pdf(jpeg: &[u8], width: u32, height: u32) -> Vec<u8> {
    let mut w = Writer::new();
    w.object(1, b"<< /Type /Catalog /Pages 2 0 R >>");
    w.object(2, b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>");
    w.object(
        3,
        format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {} {}] /Resources << /XObject << /Im1 4 0 R >> >> /Contents 5 0 R >>",
            A4.0, A4.1
        )
        .as_bytes(),
    );
    w.stream(
        4,
        &format!(
            "/Type /XObject /Subtype /Image /Width {width} /Height {height} /ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /DCTDecode"
        ),
        jpeg,
    );
    w.stream(5, "", format!("q {} 0 0 {} 0 0 cm /Im1 Do Q", A4.0, A4.1).as_bytes());
    w.finish()
}

/// Deterministic business prose: `lines` lines of at most `width` characters.
pub(crate) fn prose(seed: u64, lines: usize, width: usize) -> Vec<String> {
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
    (0..lines)
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
