//! PDFs written by hand for the PDF and OCR tests and the OCR bench: A4 pages of known text
//! (as strings, word by word, or kerned), a page that is only a scanned image, deterministic
//! business prose, and the character error rate of a reading. Included by the bench with
//! `#[path]`, so it uses nothing from the test crate.

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

/// Levenshtein distance over characters, whitespace runs counted as one space.
#[cfg_attr(not(feature = "ocr"), allow(dead_code))]
pub(crate) fn character_error_rate(expected: &str, actual: &str) -> f64 {
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
