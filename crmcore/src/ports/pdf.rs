use std::fmt::Debug;

use async_trait::async_trait;

use crate::error::Result;

/// Reads PDFs: the text layer of each page, and page images for scanned pages (to OCR).
///
/// # Contract
/// Both methods MUST return `Validation` (field `file`) for bytes that are not a readable PDF
/// (truncated, encrypted, malformed) or that exceed the adapter's page, pixel or decompression
/// caps, and MUST NOT panic on any input.
#[async_trait]
pub trait PdfReader: Send + Sync + Debug {
    /// The text layer of every page, in page order (an empty string for a page without text).
    async fn text_pages(&self, pdf: &[u8]) -> Result<Vec<String>>;
    /// Page `index` (0-based) rendered to a PNG at `dpi` dots per inch.
    async fn render_page(&self, pdf: &[u8], index: usize, dpi: u32) -> Result<Vec<u8>>;
}

/// Writes PDFs: lays out an HTML document (as rendered from a template) on A4 pages.
///
/// # Contract
/// Supports at least headings, paragraphs, line breaks, bold and italic text, lists and simple
/// tables; text stays extractable (a [`PdfReader`] reads the words back). Returns `Validation`
/// for input it cannot lay out.
#[async_trait]
pub trait PdfWriter: Send + Sync + Debug {
    /// A PDF of `html`, with `title` in its metadata.
    async fn html_to_pdf(&self, html: &str, title: &str) -> Result<Vec<u8>>;
}
