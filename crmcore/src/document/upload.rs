//! Upload checks: the MIME type is sniffed from the bytes (never taken from the client), must be
//! on the allowlist, and must agree with the file's extension and the declared type; file names
//! are reduced to a safe base name.

use crate::error::{CrmError, Result};

/// Types documents may have, with the extensions that may carry them.
const ALLOWED: &[(&str, &[&str])] = &[
    ("application/pdf", &["pdf"]),
    ("image/png", &["png"]),
    ("image/jpeg", &["jpg", "jpeg"]),
    ("image/tiff", &["tif", "tiff"]),
    ("image/gif", &["gif"]),
    ("image/webp", &["webp"]),
    ("text/plain", &["txt", "text", "log"]),
    ("text/markdown", &["md", "markdown"]),
    ("text/csv", &["csv"]),
    ("text/html", &["html", "htm"]),
    ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", &["docx"]),
    ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", &["xlsx"]),
    ("application/vnd.openxmlformats-officedocument.presentationml.presentation", &["pptx"]),
    ("application/vnd.oasis.opendocument.text", &["odt"]),
];

/// Longest kept file name, in characters.
const MAX_FILENAME: usize = 200;

/// The allowed MIME type of `bytes`, checked against the file name's extension and the declared
/// type (`application/octet-stream` or none declares nothing). `Validation` on `file` otherwise.
pub fn sniff(bytes: &[u8], filename: &str, declared: Option<&str>) -> Result<&'static str> {
    let mut text = Utf8Check::default();
    let mime = classify(bytes, &mut text, filename, declared)?;
    if mime.starts_with("text/") && !text.is_complete() {
        return Err(unrecognised());
    }
    Ok(mime)
}

fn refuse(code: &str, why: impl Into<String>) -> CrmError {
    CrmError::invalid("file", code, why)
}

fn unrecognised() -> CrmError {
    refuse("unsupported_type", "the file's type is not recognised; upload PDF, images, text or office files")
}

/// The allowed type of a file starting with `head` (the whole file, or its first
/// [`HEAD_BYTES`]), checked against the extension and the declared type. Files without magic
/// bytes are text when `text` accepts the head: the caller goes on checking the rest.
fn classify(head: &[u8], text: &mut Utf8Check, filename: &str, declared: Option<&str>) -> Result<&'static str> {
    let extension = filename.rsplit_once('.').map(|(_, ext)| ext.to_ascii_lowercase()).unwrap_or_default();
    let sniffed = match infer::get(head) {
        Some(kind) => kind.mime_type(),
        None if text.push(head) => text_type(&extension),
        None => return Err(unrecognised()),
    };
    let Some((mime, extensions)) = ALLOWED.iter().find(|(m, _)| *m == sniffed) else {
        return Err(refuse("unsupported_type", format!("files of type {sniffed} are not accepted")));
    };
    if !extensions.contains(&extension.as_str()) {
        return Err(refuse("type_mismatch", format!("the content is {mime} but the name ends in `.{extension}`")));
    }
    let declared = declared.map(|d| d.split(';').next().unwrap_or_default().trim().to_ascii_lowercase());
    if let Some(declared) = declared.filter(|d| !d.is_empty() && d != "application/octet-stream") {
        let compatible = declared == *mime || (mime.starts_with("text/") && declared.starts_with("text/"));
        if !compatible {
            return Err(refuse("type_mismatch", format!("the content is {mime} but was declared {declared}")));
        }
    }
    Ok(mime)
}

/// Text files have no magic bytes: valid UTF-8 without NULs, typed by extension.
fn text_type(extension: &str) -> &'static str {
    match extension {
        "md" | "markdown" => "text/markdown",
        "csv" => "text/csv",
        "html" | "htm" => "text/html",
        _ => "text/plain",
    }
}

/// UTF-8 without NULs, checked piece by piece (a character may straddle two pieces).
#[derive(Debug, Default)]
struct Utf8Check {
    /// The start of a character the last piece ended inside.
    carry: Vec<u8>,
}

impl Utf8Check {
    /// Whether everything so far, `bytes` included, can still be text.
    fn push(&mut self, bytes: &[u8]) -> bool {
        if bytes.contains(&0) {
            return false;
        }
        let joined;
        let data = if self.carry.is_empty() {
            bytes
        } else {
            joined = [self.carry.as_slice(), bytes].concat();
            joined.as_slice()
        };
        match std::str::from_utf8(data) {
            Ok(_) => {
                self.carry.clear();
                true
            }
            Err(e) if e.error_len().is_none() => {
                self.carry = data[e.valid_up_to()..].to_vec();
                true
            }
            Err(_) => false,
        }
    }

    /// Whether the text ended on a whole character.
    fn is_complete(&self) -> bool {
        self.carry.is_empty()
    }
}

/// Bytes at the start of a file that its type is sniffed from and an image's size is read from.
pub const HEAD_BYTES: usize = 1024 * 1024;
/// PDFs up to this size are parsed whole as they upload (a truncated, encrypted or malformed one
/// is refused); a larger one gets the envelope checks (its header and its end-of-file marker) and
/// is parsed by text extraction, so an upload holds at most this much in memory.
pub const PDF_PARSE_BYTES: u64 = 16 * 1024 * 1024;
/// The end of a PDF that must hold its `%%EOF` marker.
const PDF_TAIL: usize = 1024;

/// What an [`Inspector`] found.
#[derive(Debug)]
pub(crate) struct Inspected {
    /// The sniffed type.
    pub(crate) mime: &'static str,
    /// The whole PDF, when it is one of at most [`PDF_PARSE_BYTES`]: for the reader to parse.
    pub(crate) pdf: Option<Vec<u8>>,
}

/// The upload checks, run on a file as its bytes stream past: at most [`HEAD_BYTES`] (and a PDF
/// of up to [`PDF_PARSE_BYTES`]) are kept, and a wrong type is refused once the head is read.
#[derive(Debug)]
pub(crate) struct Inspector {
    filename: String,
    declared: Option<String>,
    head: Vec<u8>,
    mime: Option<&'static str>,
    text: Utf8Check,
    size: u64,
    /// The last bytes of a PDF (its end-of-file marker must be among them).
    tail: Vec<u8>,
    /// The PDF so far, while it is small enough to parse.
    pdf: Option<Vec<u8>>,
}

impl Inspector {
    /// Checks for a file named `filename` (sanitised) declared as `declared`.
    pub(crate) fn new(filename: &str, declared: Option<&str>) -> Self {
        Self {
            filename: filename.to_owned(),
            declared: declared.map(str::to_owned),
            head: Vec::new(),
            mime: None,
            text: Utf8Check::default(),
            size: 0,
            tail: Vec::new(),
            pdf: None,
        }
    }

    /// Bytes seen so far.
    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    /// Checks the next piece of the file.
    pub(crate) fn push(&mut self, mut bytes: &[u8]) -> Result<()> {
        self.size += bytes.len() as u64;
        if self.mime.is_none() {
            let take = (HEAD_BYTES - self.head.len()).min(bytes.len());
            self.head.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.head.len() < HEAD_BYTES {
                return Ok(());
            }
            self.decide()?;
        }
        self.after_head(bytes)
    }

    /// Types the file from its head and checks what the head tells.
    fn decide(&mut self) -> Result<()> {
        let mime = classify(&self.head, &mut self.text, &self.filename, self.declared.as_deref())?;
        check_image(&self.head, mime)?;
        if mime == "application/pdf" {
            keep_tail(&mut self.tail, &self.head);
            self.pdf = Some(self.head.clone());
        }
        self.mime = Some(mime);
        Ok(())
    }

    /// Checks bytes past the head.
    fn after_head(&mut self, bytes: &[u8]) -> Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        match self.mime {
            Some(mime) if mime.starts_with("text/") && !self.text.push(bytes) => return Err(unrecognised()),
            Some("application/pdf") => {
                keep_tail(&mut self.tail, bytes);
                if self.size > PDF_PARSE_BYTES {
                    self.pdf = None;
                } else if let Some(pdf) = &mut self.pdf {
                    pdf.extend_from_slice(bytes);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The verdict once the whole file went past.
    pub(crate) fn finish(mut self) -> Result<Inspected> {
        if self.size == 0 {
            return Err(refuse("empty", "the file is empty"));
        }
        if self.mime.is_none() {
            self.decide()?;
        }
        let mime = self.mime.unwrap_or("application/octet-stream");
        if mime.starts_with("text/") && !self.text.is_complete() {
            return Err(unrecognised());
        }
        if mime == "application/pdf" && !has_eof_marker(&self.tail) {
            return Err(refuse("truncated", "the PDF is truncated: it has no end-of-file marker"));
        }
        Ok(Inspected { mime, pdf: self.pdf })
    }
}

/// Keeps the last [`PDF_TAIL`] bytes of what went past.
fn keep_tail(tail: &mut Vec<u8>, bytes: &[u8]) {
    tail.extend_from_slice(&bytes[bytes.len().saturating_sub(PDF_TAIL)..]);
    let excess = tail.len().saturating_sub(PDF_TAIL);
    tail.drain(..excess);
}

fn has_eof_marker(tail: &[u8]) -> bool {
    tail.windows(5).any(|w| w == b"%%EOF")
}

/// Most pixels an uploaded image may declare (a decompression bomb declares billions).
pub const MAX_IMAGE_PIXELS: u64 = 50_000_000;
/// Widest or tallest an uploaded image may be.
pub const MAX_IMAGE_SIDE: u32 = 32_768;

/// Refuses images whose header declares more than [`MAX_IMAGE_PIXELS`] or a side over
/// [`MAX_IMAGE_SIDE`] (PNG, GIF and JPEG headers are read; nothing is decoded), and headers
/// too short to hold their dimensions.
pub fn check_image(bytes: &[u8], mime: &str) -> Result<()> {
    let le16 = |at: usize| bytes.get(at..at + 2).map(|b| u32::from(u16::from_le_bytes([b[0], b[1]])));
    let be32 = |at: usize| bytes.get(at..at + 4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    let dimensions = match mime {
        "image/png" => be32(16).zip(be32(20)),
        "image/gif" => le16(6).zip(le16(8)),
        "image/jpeg" => jpeg_dimensions(bytes),
        _ => return Ok(()),
    };
    let refuse = |why: String| Err(CrmError::invalid("file", "image_too_large", why));
    match dimensions {
        None => Err(CrmError::invalid("file", "corrupt", "the image is truncated: its size cannot be read")),
        Some((w, h)) if w == 0 || h == 0 => Err(CrmError::invalid("file", "corrupt", "the image has no pixels")),
        Some((w, h)) if w > MAX_IMAGE_SIDE || h > MAX_IMAGE_SIDE => {
            refuse(format!("images are at most {MAX_IMAGE_SIDE} pixels wide and tall; this one is {w}×{h}"))
        }
        Some((w, h)) if u64::from(w) * u64::from(h) > MAX_IMAGE_PIXELS => {
            refuse(format!("images are at most {MAX_IMAGE_PIXELS} pixels; this one is {w}×{h}"))
        }
        Some(_) => Ok(()),
    }
}

/// Width and height from a JPEG's first start-of-frame marker.
fn jpeg_dimensions(bytes: &[u8]) -> Option<(u32, u32)> {
    let mut at = 2;
    while at + 9 < bytes.len() {
        if bytes[at] != 0xff {
            return None;
        }
        let marker = bytes[at + 1];
        if marker == 0xff {
            at += 1;
            continue;
        }
        let len = usize::from(u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]));
        let is_frame = (0xc0..=0xcf).contains(&marker) && !matches!(marker, 0xc4 | 0xc8 | 0xcc);
        if is_frame {
            let height = u32::from(u16::from_be_bytes([bytes[at + 5], bytes[at + 6]]));
            let width = u32::from(u16::from_be_bytes([bytes[at + 7], bytes[at + 8]]));
            return Some((width, height));
        }
        if len < 2 {
            return None;
        }
        at += 2 + len;
    }
    None
}

/// A safe file name: the base name only (no directories), printable characters from a small set,
/// no leading dots, at most 200 characters; `file` when nothing is left.
pub fn sanitize_filename(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = base
        .chars()
        .filter(|c| !c.is_control())
        .map(|c| if c.is_alphanumeric() || matches!(c, '.' | '-' | '_' | ' ' | '(' | ')') { c } else { '_' })
        .collect();
    let trimmed = cleaned.trim().trim_start_matches('.').trim();
    let limited: String = trimmed.chars().take(MAX_FILENAME).collect();
    if limited.is_empty() { "file".to_owned() } else { limited }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = &[0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, b'I', b'H', b'D', b'R'];
    const PDF: &[u8] = b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n";
    const ELF: &[u8] = &[0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0x3e, 0];

    #[test]
    fn types_come_from_the_bytes_and_must_agree() {
        assert_eq!(sniff(PNG, "scan.png", Some("image/png")).unwrap(), "image/png");
        assert_eq!(sniff(PDF, "Contract.PDF", None).unwrap(), "application/pdf");
        assert_eq!(sniff(b"# Notes\nhello", "notes.md", Some("text/plain")).unwrap(), "text/markdown");
        assert_eq!(sniff(b"a,b\n1,2\n", "data.csv", Some("application/octet-stream")).unwrap(), "text/csv");
        let code = |r: Result<&str>| match r {
            Err(CrmError::Validation(e)) => e[0].code.clone(),
            other => format!("{other:?}"),
        };
        assert_eq!(code(sniff(ELF, "invoice.pdf", Some("application/pdf"))), "unsupported_type", "renamed executable");
        assert_eq!(code(sniff(PNG, "scan.pdf", None)), "type_mismatch");
        assert_eq!(code(sniff(PDF, "contract.pdf", Some("image/png"))), "type_mismatch");
        assert_eq!(code(sniff(&[0, 1, 2, 3, 0xff], "blob.bin", None)), "unsupported_type");
        assert_eq!(code(sniff(b"MZ\x90\x00\x03\x00\x00\x00", "setup.txt", None)), "unsupported_type");
    }

    #[test]
    fn streamed_checks_agree_with_whole_ones() {
        let inspect = |pieces: &[&[u8]], name: &str| -> Result<&'static str> {
            let mut inspector = Inspector::new(name, None);
            for piece in pieces {
                inspector.push(piece)?;
            }
            inspector.finish().map(|i| i.mime)
        };
        // A character split between two pieces is still text; a file ending inside one is not.
        let text = "Angebot für Müller – 5 €".as_bytes();
        for at in 0..text.len() {
            assert_eq!(inspect(&[&text[..at], &text[at..]], "offer.txt").unwrap(), "text/plain", "split at {at}");
        }
        assert!(inspect(&[&text[..text.len() - 1]], "offer.txt").is_err(), "ends inside a character");
        // A long text file with a NUL or invalid byte after its head is refused.
        let long = "word ".repeat(HEAD_BYTES / 5 + 10).into_bytes();
        assert_eq!(inspect(&[&long, b"more"], "notes.txt").unwrap(), "text/plain");
        assert!(inspect(&[&long, b"a\0b"], "notes.txt").is_err());
        assert!(inspect(&[&long, &[0xff, 0xfe]], "notes.txt").is_err());
        // A PDF without its end-of-file marker is truncated, however large.
        let mut pdf = PDF.to_vec();
        pdf.extend(std::iter::repeat_n(b' ', 3 * 1024 * 1024));
        let code = |r: Result<&str>| match r {
            Err(CrmError::Validation(e)) => e[0].code.clone(),
            other => format!("{other:?}"),
        };
        assert_eq!(code(inspect(&[&pdf], "a.pdf")), "truncated");
        pdf.extend_from_slice(b"\nstartxref\n9\n%%EOF\n");
        assert_eq!(inspect(&[&pdf[..10], &pdf[10..]], "a.pdf").unwrap(), "application/pdf");
        assert_eq!(code(inspect(&[], "a.pdf")), "empty");
        // Small PDFs are kept whole for the parser; large ones are not.
        let mut inspector = Inspector::new("a.pdf", None);
        inspector.push(&pdf).unwrap();
        assert_eq!(inspector.finish().unwrap().pdf.as_deref(), Some(pdf.as_slice()));
        let mut inspector = Inspector::new("a.pdf", None);
        for _ in 0..(PDF_PARSE_BYTES as usize / pdf.len() + 1) {
            inspector.push(&pdf).unwrap();
        }
        assert!(inspector.finish().unwrap().pdf.is_none());
    }

    #[test]
    fn image_headers_declaring_bombs_are_refused() {
        let png = |w: u32, h: u32| {
            let mut b = PNG.to_vec();
            b.extend_from_slice(&w.to_be_bytes());
            b.extend_from_slice(&h.to_be_bytes());
            b
        };
        assert!(check_image(&png(2480, 3508), "image/png").is_ok());
        let code = |r: Result<()>| match r {
            Err(CrmError::Validation(e)) => e[0].code.clone(),
            other => format!("{other:?}"),
        };
        assert_eq!(code(check_image(&png(30_000, 30_000), "image/png")), "image_too_large");
        assert_eq!(code(check_image(&png(100_000, 10), "image/png")), "image_too_large");
        assert_eq!(code(check_image(PNG, "image/png")), "corrupt", "truncated header");
        assert_eq!(code(check_image(&png(0, 10), "image/png")), "corrupt");
        let gif = [b"GIF89a".as_slice(), &60_000u16.to_le_bytes(), &60_000u16.to_le_bytes()].concat();
        assert_eq!(code(check_image(&gif, "image/gif")), "image_too_large");
        // SOI, an APP0 segment, then SOF0 with 65500×65500.
        let jpeg = [
            &[0xff, 0xd8, 0xff, 0xe0, 0x00, 0x04, 0x00, 0x00][..],
            &[0xff, 0xc0, 0x00, 0x11, 0x08, 0xff, 0xdc, 0xff, 0xdc, 0x01, 0, 0, 0, 0, 0, 0][..],
        ]
        .concat();
        assert_eq!(code(check_image(&jpeg, "image/jpeg")), "image_too_large");
        assert_eq!(jpeg_dimensions(&jpeg), Some((65500, 65500)));
    }

    #[test]
    fn file_names_lose_paths_and_odd_characters() {
        assert_eq!(sanitize_filename("../../etc/passwd"), "passwd");
        assert_eq!(sanitize_filename("C:\\Users\\ada\\Q3 report (final).pdf"), "Q3 report (final).pdf");
        assert_eq!(sanitize_filename("..hidden"), "hidden");
        assert_eq!(sanitize_filename("a\"b;c\r\n.pdf"), "a_b_c.pdf");
        assert_eq!(sanitize_filename("   "), "file");
        assert_eq!(sanitize_filename(&"x".repeat(300)).len(), 200);
    }
}
