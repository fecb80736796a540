//! [`PureRustPdfReader`]: the `PdfReader` port in pure Rust, on hayro. Text layers come from the
//! glyphs hayro's interpreter shows (their Unicode mapping, spaced and broken into lines by
//! position); pages are rendered by hayro's CPU rasteriser and encoded as PNG.
//!
//! PDFs come from users, so nothing reaches the parser before one pass over the raw bytes has
//! checked the envelope (header, end-of-file marker), refused encryption and counted what the
//! Flate streams inflate to. The pages, the declared image sizes and the rendered page size are
//! capped too ([`PdfLimits`]). Work runs on the blocking pool, one PDF per core at a time, and a
//! panic in the parser becomes a `Validation` error: a hostile file must cost one failed request,
//! never the process.

use std::io::Read as _;
use std::sync::Arc;

use async_trait::async_trait;
use crmcore::ports::PdfReader;
use crmcore::{CrmError, Result};
use hayro::hayro_interpret::font::{Glyph, GlyphRun};
use hayro::hayro_interpret::{
    BlendMode, ClipPath, Context, Device, DrawMode, DrawProps, Image, ImageDrawProps, InterpreterCache,
    InterpreterSettings, SoftMask, interpret_page,
};
use hayro::hayro_syntax::object::{Name, Object};
use hayro::hayro_syntax::{Filter, LoadPdfError, Pdf};
use hayro::kurbo::{Affine, BezPath, Point, Rect};
use image::ImageEncoder as _;
use tokio::sync::Semaphore;

/// The error field every rejection names.
const FIELD: &str = "file";
/// Glyph space units per em (hayro scales every font to this).
const UNITS_PER_EM: f64 = 1000.0;
/// A PDF writer puts `%PDF-` within the first 1 KiB and the last `%%EOF` within the last 1 KiB.
const MARKER_WINDOW: usize = 1024;

/// What [`PureRustPdfReader`] accepts. Inputs beyond a cap are refused with `Validation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PdfLimits {
    /// Largest PDF, in bytes.
    pub max_bytes: usize,
    /// Most pages.
    pub max_pages: usize,
    /// Most bytes that all Flate streams together may inflate to (decompression bombs).
    pub max_inflated_bytes: u64,
    /// Most pixels of one embedded image, by its declared or JPEG-header size.
    pub max_image_pixels: u64,
    /// Most pixels of one rendered page.
    pub max_render_pixels: u64,
    /// Highest resolution a page is rendered at.
    pub max_dpi: u32,
}

impl Default for PdfLimits {
    /// 64 MiB, 1,000 pages, 1 GiB inflated, 100 megapixels per image, 50 megapixels per rendered
    /// page (A4 at 600 dpi is 35), 1,200 dpi.
    fn default() -> Self {
        Self {
            max_bytes: 64 << 20,
            max_pages: 1000,
            max_inflated_bytes: 1 << 30,
            max_image_pixels: 100_000_000,
            max_render_pixels: 50_000_000,
            max_dpi: 1200,
        }
    }
}

/// Reads PDFs with hayro, within [`PdfLimits`], one PDF per core at a time (a rendered page
/// holds up to 200 MB of pixels).
#[derive(Debug, Clone)]
pub struct PureRustPdfReader {
    limits: PdfLimits,
    permits: Arc<Semaphore>,
}

impl Default for PureRustPdfReader {
    fn default() -> Self {
        Self::with_limits(PdfLimits::default())
    }
}

impl PureRustPdfReader {
    /// A reader with the default limits.
    pub fn new() -> Self {
        Self::default()
    }

    /// A reader with the given limits.
    pub fn with_limits(limits: PdfLimits) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self { limits, permits: Arc::new(Semaphore::new(cores)) }
    }

    /// The limits in force.
    pub fn limits(&self) -> &PdfLimits {
        &self.limits
    }

    /// Runs `work` on the blocking pool once a permit is free; a panic there means the input
    /// broke the parser.
    async fn blocking<T: Send + 'static>(&self, work: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
        let _permit = self.permits.acquire().await.map_err(|_| CrmError::Internal("PDF permits closed".into()))?;
        match tokio::task::spawn_blocking(work).await {
            Ok(result) => result,
            Err(e) if e.is_panic() => {
                tracing::warn!("the PDF parser panicked on an input");
                Err(unreadable())
            }
            Err(e) => Err(CrmError::Internal(format!("PDF task: {e}"))),
        }
    }
}

#[async_trait]
impl PdfReader for PureRustPdfReader {
    async fn text_pages(&self, pdf: &[u8]) -> Result<Vec<String>> {
        let limits = self.limits;
        let bytes = within_size(pdf, &limits)?.to_vec();
        self.blocking(move || {
            let pdf = open(bytes, &limits)?;
            Ok(text_layers(&pdf))
        })
        .await
    }

    async fn render_page(&self, pdf: &[u8], index: usize, dpi: u32) -> Result<Vec<u8>> {
        let limits = self.limits;
        if dpi == 0 || dpi > limits.max_dpi {
            return Err(CrmError::invalid("dpi", "out_of_range", format!("dpi must be 1 to {}", limits.max_dpi)));
        }
        let bytes = within_size(pdf, &limits)?.to_vec();
        self.blocking(move || {
            let pdf = open(bytes, &limits)?;
            render(&pdf, index, dpi, &limits)
        })
        .await
    }
}

fn unreadable() -> CrmError {
    CrmError::invalid(FIELD, "unreadable", "the file is not a readable PDF")
}

fn within_size<'a>(pdf: &'a [u8], limits: &PdfLimits) -> Result<&'a [u8]> {
    if pdf.len() > limits.max_bytes {
        return Err(CrmError::invalid(FIELD, "too_large", format!("PDFs are limited to {} bytes", limits.max_bytes)));
    }
    Ok(pdf)
}

/// Checks the raw bytes, then parses them and checks the page count and image sizes.
fn open(bytes: Vec<u8>, limits: &PdfLimits) -> Result<Pdf> {
    check_raw(&bytes, limits)?;
    let pdf = Pdf::new(bytes).map_err(|e| match e {
        LoadPdfError::Decryption(_) => encrypted(),
        LoadPdfError::Invalid => unreadable(),
    })?;
    let pages = pdf.pages().len();
    if pages > limits.max_pages {
        return Err(CrmError::invalid(
            FIELD,
            "too_many_pages",
            format!("the PDF has {pages} pages; at most {} are read", limits.max_pages),
        ));
    }
    check_images(&pdf, limits)?;
    Ok(pdf)
}

fn encrypted() -> CrmError {
    CrmError::invalid(FIELD, "encrypted", "encrypted PDFs are not supported")
}

/// One pass over the raw bytes, before any parser: the header, the end-of-file marker (a
/// truncated file has none), no encryption dictionary, and the inflated size of every stream
/// stored with Flate, counted without keeping the output.
fn check_raw(bytes: &[u8], limits: &PdfLimits) -> Result<()> {
    if memchr::memmem::find(&bytes[..bytes.len().min(MARKER_WINDOW)], b"%PDF-").is_none() {
        return Err(CrmError::invalid(FIELD, "not_pdf", "the file is not a PDF"));
    }
    if memchr::memmem::find(&bytes[bytes.len().saturating_sub(MARKER_WINDOW)..], b"%%EOF").is_none() {
        return Err(CrmError::invalid(FIELD, "truncated", "the PDF is truncated: it has no end-of-file marker"));
    }
    let stream_finder = memchr::memmem::Finder::new(b"stream");
    let end_finder = memchr::memmem::Finder::new(b"endstream");
    let mut inflated = 0u64;
    let mut pos = 0;
    while pos < bytes.len() {
        let Some(body) = next_stream_body(bytes, pos, &stream_finder) else {
            reject_encryption(&bytes[pos..])?;
            break;
        };
        reject_encryption(&bytes[pos..body])?;
        let end = end_finder.find(&bytes[body..]).map_or(bytes.len(), |e| body + e);
        inflated += inflated_len(&bytes[body..end], limits.max_inflated_bytes - inflated + 1);
        if inflated > limits.max_inflated_bytes {
            return Err(CrmError::invalid(
                FIELD,
                "too_large",
                format!("the PDF's streams inflate to more than {} bytes", limits.max_inflated_bytes),
            ));
        }
        pos = end + b"endstream".len();
    }
    Ok(())
}

/// Where the data of the next `stream` keyword at or after `from` starts (after its end of line).
fn next_stream_body(bytes: &[u8], from: usize, finder: &memchr::memmem::Finder<'_>) -> Option<usize> {
    let mut at = from;
    loop {
        let found = at + finder.find(&bytes[at..])?;
        let after = found + b"stream".len();
        let is_keyword = !bytes[..found].ends_with(b"end");
        match bytes.get(after..after + 2) {
            Some([b'\r', b'\n']) if is_keyword => return Some(after + 2),
            Some([b'\n', _]) if is_keyword => return Some(after + 1),
            None if is_keyword && bytes.get(after) == Some(&b'\n') => return Some(after + 1),
            _ => at = after,
        }
    }
}

/// Refuses `/Encrypt` as a name (not a prefix of a longer one) outside stream data.
fn reject_encryption(dictionaries: &[u8]) -> Result<()> {
    for at in memchr::memmem::find_iter(dictionaries, b"/Encrypt") {
        let next = dictionaries.get(at + b"/Encrypt".len()).copied();
        if next.is_none_or(|c| !c.is_ascii_alphanumeric()) {
            return Err(encrypted());
        }
    }
    Ok(())
}

/// How many bytes `data` inflates to, reading at most `limit`; 0 when it is not zlib data.
fn inflated_len(data: &[u8], limit: u64) -> u64 {
    let is_zlib =
        matches!(data, [cmf, flg, ..] if cmf & 0x0f == 8 && (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0);
    if !is_zlib {
        return 0;
    }
    let mut decoder = flate2::read::ZlibDecoder::new(data).take(limit);
    let mut buffer = [0u8; 16 * 1024];
    let mut total = 0u64;
    // A corrupt stream counts for what inflated before the fault; hayro fails on the rest.
    while let Ok(n @ 1..) = decoder.read(&mut buffer) {
        total += n as u64;
    }
    total
}

/// Refuses image objects larger than the cap, by their dictionary and, for JPEG, by the size in
/// the JPEG header (the one the decoder allocates for).
fn check_images(pdf: &Pdf, limits: &PdfLimits) -> Result<()> {
    for object in pdf.objects() {
        let Object::Stream(stream) = object else { continue };
        let dict = stream.dict();
        if dict.get::<Name<'_>>(b"Subtype").is_none_or(|s| s.as_ref() != b"Image") {
            continue;
        }
        let side = |key: &[u8]| dict.get::<i64>(key).and_then(|v| u64::try_from(v).ok());
        let mut sizes = vec![side(b"Width").zip(side(b"Height"))];
        if stream.filters().as_slice() == [Filter::DctDecode] {
            sizes.push(jpeg_size(&stream.raw_data()));
        }
        if let Some((w, h)) = sizes.into_iter().flatten().find(|(w, h)| w.saturating_mul(*h) > limits.max_image_pixels)
        {
            return Err(CrmError::invalid(
                FIELD,
                "too_large",
                format!("the PDF holds a {w}x{h} image; images are limited to {} pixels", limits.max_image_pixels),
            ));
        }
    }
    Ok(())
}

/// Width and height from a JPEG's start-of-frame marker.
fn jpeg_size(jpeg: &[u8]) -> Option<(u64, u64)> {
    let mut at = 2;
    while at + 9 <= jpeg.len() {
        if jpeg[at] != 0xff {
            return None;
        }
        let marker = jpeg[at + 1];
        let length = usize::from(u16::from_be_bytes([jpeg[at + 2], jpeg[at + 3]]));
        // SOF0 to SOF15, less DHT (C4), JPG (C8) and DAC (CC).
        if (0xc0..=0xcf).contains(&marker) && !matches!(marker, 0xc4 | 0xc8 | 0xcc) {
            let height = u16::from_be_bytes([jpeg[at + 5], jpeg[at + 6]]);
            let width = u16::from_be_bytes([jpeg[at + 7], jpeg[at + 8]]);
            return Some((u64::from(width), u64::from(height)));
        }
        at += 2 + length;
    }
    None
}

/// The text layer of every page; one interpreter cache serves them all (fonts parse once).
fn text_layers(pdf: &Pdf) -> Vec<String> {
    let cache = InterpreterCache::new();
    let unit = Rect::new(0.0, 0.0, 1.0, 1.0);
    pdf.pages()
        .iter()
        .map(|page| {
            let mut context = Context::new(Affine::IDENTITY, unit, &cache, pdf.xref(), InterpreterSettings::default());
            let mut text = TextLayer::default();
            interpret_page(page, &mut context, &mut text);
            text.finish()
        })
        .collect()
}

/// Collects shown glyphs in content order, with a space where glyphs leave a word gap and a line
/// break where the baseline moves: simple writers emit text in reading order, and content order
/// keeps columns whole where sorting by position would interleave them.
#[derive(Default)]
struct TextLayer {
    text: String,
    pen: Option<Pen>,
}

/// Where the last glyph ended, on which baseline, at which size (page units).
struct Pen {
    end: Point,
    direction: (f64, f64),
    size: f64,
}

impl TextLayer {
    fn push_glyph(&mut self, unicode: &str, transform: Affine, advance: f64) {
        let [a, b, c, d, _, _] = transform.as_coeffs();
        let size = c.hypot(d) * UNITS_PER_EM;
        let length = a.hypot(b);
        if !(size.is_finite() && size > 0.0 && length.is_finite() && length > 0.0) {
            return;
        }
        let origin = transform * Point::ZERO;
        if let Some(pen) = &self.pen {
            let (dx, dy) = (origin.x - pen.end.x, origin.y - pen.end.y);
            let along = dx * pen.direction.0 + dy * pen.direction.1;
            let across = dy * pen.direction.0 - dx * pen.direction.1;
            let em = pen.size.max(size);
            if across.abs() > 0.5 * em {
                self.break_line();
            } else if along > 0.15 * em || along < -em {
                self.space();
            }
        }
        if unicode.chars().all(char::is_whitespace) {
            self.space();
        } else {
            self.text.extend(unicode.chars().filter(|c| !c.is_control()));
        }
        self.pen = Some(Pen { end: transform * Point::new(advance, 0.0), direction: (a / length, b / length), size });
    }

    fn space(&mut self) {
        if !self.text.is_empty() && !self.text.ends_with([' ', '\n']) {
            self.text.push(' ');
        }
    }

    fn break_line(&mut self) {
        let kept = self.text.trim_end_matches(' ').len();
        self.text.truncate(kept);
        if !self.text.is_empty() && !self.text.ends_with('\n') {
            self.text.push('\n');
        }
    }

    fn finish(mut self) -> String {
        self.break_line();
        self.text.truncate(self.text.trim_end().len());
        self.text
    }
}

impl<'a> Device<'a> for TextLayer {
    fn draw_glyph_run(&mut self, run: &GlyphRun<'_, 'a>, props: DrawProps<'a>, _: &DrawMode) {
        for glyph in run.glyphs() {
            let Some(unicode) = glyph.as_unicode() else { continue };
            let advance = match &**glyph {
                Glyph::Outline(outline) => outline.advance_width(),
                Glyph::Type3(type3) => type3.advance_width(),
            };
            let mut buffer = [0u8; 4];
            let unicode = match &unicode {
                hayro::hayro_interpret::hayro_cmap::BfString::Char(c) => &*c.encode_utf8(&mut buffer),
                hayro::hayro_interpret::hayro_cmap::BfString::String(s) => s.as_str(),
            };
            // Without a width, half an em keeps the next glyph's gap test sensible.
            let advance = advance.map_or(UNITS_PER_EM / 2.0, f64::from);
            self.push_glyph(unicode, props.transform * glyph.transform(), advance);
        }
    }

    fn draw_path(&mut self, _: &BezPath, _: DrawProps<'a>, _: &DrawMode) {}
    fn push_clip_path(&mut self, _: &ClipPath) {}
    fn push_transparency_group(&mut self, _: f32, _: Option<SoftMask<'a>>, _: BlendMode) {}
    fn draw_image(&mut self, _: Image<'a, '_>, _: ImageDrawProps<'a>) {}
    fn pop_clip(&mut self) {}
    fn pop_transparency_group(&mut self) {}
}

/// Page `index` at `dpi` on white, as a PNG: greyscale when every pixel is grey (scans, black
/// text), RGB otherwise.
fn render(pdf: &Pdf, index: usize, dpi: u32, limits: &PdfLimits) -> Result<Vec<u8>> {
    let pages = pdf.pages();
    let page = pages.get(index).ok_or_else(|| {
        CrmError::invalid("page", "out_of_range", format!("the PDF has {} pages (counted from 0)", pages.len()))
    })?;
    let scale = dpi as f32 / 72.0;
    let (width_pt, height_pt) = page.render_dimensions();
    let (width, height) = (f64::from(width_pt * scale).floor(), f64::from(height_pt * scale).floor());
    let fits = |side: f64| side.is_finite() && (1.0..=f64::from(u16::MAX)).contains(&side);
    if !(fits(width) && fits(height)) || width * height > limits.max_render_pixels as f64 {
        return Err(CrmError::invalid(
            FIELD,
            "too_large",
            format!(
                "page {index} at {dpi} dpi would be {width}x{height} pixels; pages are limited to {} pixels",
                limits.max_render_pixels
            ),
        ));
    }
    let pixmap = hayro::render(
        page,
        &hayro::RenderCache::new(),
        &InterpreterSettings::default(),
        &hayro::RenderSettings::default(),
        &hayro::PixmapSettings {
            x_scale: scale,
            y_scale: scale,
            bg_color: hayro::vello_cpu::color::palette::css::WHITE,
        },
    );
    let (width, height) = (u32::from(pixmap.width()), u32::from(pixmap.height()));
    // The background is opaque, so premultiplied RGBA is plain RGBA.
    let rgba = pixmap.data_as_u8_slice();
    let grey = rgba.chunks_exact(4).all(|p| p[0] == p[1] && p[1] == p[2]);
    let (pixels, colour): (Vec<u8>, _) = if grey {
        (rgba.chunks_exact(4).map(|p| p[0]).collect(), image::ExtendedColorType::L8)
    } else {
        (rgba.chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]).collect(), image::ExtendedColorType::Rgb8)
    };
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new_with_quality(
        &mut png,
        image::codecs::png::CompressionType::Fast,
        image::codecs::png::FilterType::Adaptive,
    )
    .write_image(&pixels, width, height, colour)
    .map_err(|e| CrmError::Internal(format!("PNG encoding: {e}")))?;
    Ok(png)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pdf(body: &str) -> Vec<u8> {
        format!("%PDF-1.4\n{body}\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n").into_bytes()
    }

    #[test]
    fn the_envelope_needs_a_header_and_an_end_marker() {
        let limits = PdfLimits::default();
        assert!(check_raw(&pdf("1 0 obj << >> endobj"), &limits).is_ok());
        let truncated = &pdf("1 0 obj << >> endobj")[..20];
        assert!(matches!(check_raw(truncated, &limits), Err(CrmError::Validation(f)) if f[0].code == "truncated"));
        assert!(matches!(check_raw(b"hello %%EOF", &limits), Err(CrmError::Validation(f)) if f[0].code == "not_pdf"));
    }

    #[test]
    fn encryption_is_refused_outside_streams_only() {
        let limits = PdfLimits::default();
        let encrypted = pdf("trailer << /Encrypt 5 0 R >>");
        assert!(matches!(check_raw(&encrypted, &limits), Err(CrmError::Validation(f)) if f[0].code == "encrypted"));
        let in_stream = pdf("1 0 obj << /Length 9 >>\nstream\n/Encrypt \nendstream\nendobj");
        assert!(check_raw(&in_stream, &limits).is_ok());
        assert!(check_raw(&pdf("<< /EncryptedPayload 1 0 R >>"), &limits).is_ok());
    }

    #[test]
    fn flate_streams_are_counted_against_the_cap() {
        use std::io::Write as _;
        let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(&vec![0u8; 1 << 20]).unwrap();
        let zeros = encoder.finish().unwrap();
        let mut bytes = b"%PDF-1.4\n1 0 obj << /Filter /FlateDecode >>\nstream\r\n".to_vec();
        bytes.extend_from_slice(&zeros);
        bytes.extend_from_slice(b"\nendstream\nendobj\n%%EOF\n");
        let roomy = PdfLimits::default();
        assert!(check_raw(&bytes, &roomy).is_ok());
        let tight = PdfLimits { max_inflated_bytes: (1 << 20) - 1, ..roomy };
        assert!(matches!(check_raw(&bytes, &tight), Err(CrmError::Validation(f)) if f[0].code == "too_large"));
    }

    #[test]
    fn jpeg_sizes_come_from_the_frame_header() {
        // SOI, an APP0 of 4 bytes, SOF0 with height 0x0102 and width 0x0304.
        let jpeg = [0xff, 0xd8, 0xff, 0xe0, 0, 4, 0, 0, 0xff, 0xc0, 0, 11, 8, 1, 2, 3, 4, 1, 0, 0, 0];
        assert_eq!(jpeg_size(&jpeg), Some((0x0304, 0x0102)));
        assert_eq!(jpeg_size(&[0xff, 0xd8, 0x00]), None);
    }

    #[test]
    fn glyphs_are_spaced_and_broken_into_lines_by_position() {
        let mut layer = TextLayer::default();
        let at = |x: f64, y: f64| Affine::new([0.012, 0.0, 0.0, 0.012, x, y]);
        layer.push_glyph("H", at(10.0, 700.0), 600.0);
        layer.push_glyph("i", at(17.2, 700.0), 250.0);
        layer.push_glyph("y", at(25.0, 700.0), 500.0);
        layer.push_glyph("o", at(10.0, 680.0), 500.0);
        assert_eq!(layer.finish(), "Hi y\no");
    }
}
