//! [`TesseractOcr`]: the `Ocr` port over the tesseract library.
//!
//! Images are decoded here, not by tesseract: PNG, JPEG and TIFF through the `image` crate, with
//! the dimensions read from the header and checked against [`MAX_PIXELS`] before any pixel is
//! decoded, so a small file that claims a huge canvas (a decompression bomb) costs nothing.
//! Tesseract then gets plain 8-bit grey pixels. Recognition blocks for seconds, so it runs on the
//! blocking pool, at most one page per core at a time, with engines kept for reuse (loading a
//! language's model takes longer than a small image).
//!
//! Tesseract's OpenMP threads make a page about seven times slower on a busy machine, and OpenMP
//! reads `OMP_THREAD_LIMIT` once, when the library loads: [`TesseractOcr::new`] refuses to start
//! unless the process was started with `OMP_THREAD_LIMIT=1` (the workspace's
//! `.cargo/config.toml` sets it for `cargo run`, `cargo test` and `cargo bench`).

use std::collections::HashMap;
use std::fmt;
use std::io::Cursor;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use crmcore::error::Port;
use crmcore::ports::Ocr;
use crmcore::{CrmError, Result};
use image::{ImageFormat, ImageReader, Limits};
use tesseract::Tesseract;
use tokio::sync::Semaphore;

/// Most pixels in an image (50 megapixels; an A4 page at 600 dpi is 35).
pub const MAX_PIXELS: u64 = 50_000_000;
/// Longest side of an image, in pixels.
pub const MAX_SIDE: u32 = 32_768;
/// Largest image file, in bytes.
pub const MAX_BYTES: usize = 64 << 20;
/// The environment OpenMP must have been started with.
pub const OMP_REQUIREMENT: &str = "set OMP_THREAD_LIMIT=1 in the environment before starting the process (tesseract's \
     OpenMP threads make each page about 7x slower, and OpenMP reads the variable only when it loads, so setting it \
     from inside the process has no effect)";

/// The error field every rejected image names.
const FIELD: &str = "file";
/// The resolution tesseract assumes when an image does not say (a scan's usual).
const DEFAULT_DPI: i32 = 300;

/// Text recognition with tesseract, through a pool of engines per language.
#[derive(Clone)]
pub struct TesseractOcr {
    inner: Arc<Inner>,
}

struct Inner {
    default_language: String,
    /// One permit per page recognised at once.
    permits: Semaphore,
    concurrency: usize,
    /// Initialised engines not in use, by language.
    idle: Mutex<HashMap<String, Vec<Tesseract>>>,
}

impl fmt::Debug for TesseractOcr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TesseractOcr")
            .field("default_language", &self.inner.default_language)
            .field("concurrency", &self.inner.concurrency)
            .finish_non_exhaustive()
    }
}

impl TesseractOcr {
    /// An OCR engine whose pages default to `language` (e.g. `eng`, `eng+deu`), recognising one
    /// page per core at a time. Loads the language once, so a missing language pack fails here.
    ///
    /// Returns `Unavailable` unless `OMP_THREAD_LIMIT` is exactly `1` (see [`OMP_REQUIREMENT`])
    /// or when tesseract cannot load the language; `Validation` for a malformed language name.
    pub fn new(language: &str) -> Result<Self> {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self::with_concurrency(language, cores)
    }

    /// As [`TesseractOcr::new`], recognising at most `concurrency` pages at once.
    pub fn with_concurrency(language: &str, concurrency: usize) -> Result<Self> {
        check_omp_environment()?;
        let language = checked_language(language)?.to_owned();
        let engine = load(&language)?;
        let concurrency = concurrency.max(1);
        Ok(Self {
            inner: Arc::new(Inner {
                idle: Mutex::new(HashMap::from([(language.clone(), vec![engine])])),
                default_language: language,
                permits: Semaphore::new(concurrency),
                concurrency,
            }),
        })
    }
}

/// `Ok` when the process was started with `OMP_THREAD_LIMIT=1`.
fn check_omp_environment() -> Result<()> {
    match std::env::var("OMP_THREAD_LIMIT") {
        Ok(value) if value == "1" => Ok(()),
        Ok(value) => Err(unavailable(format!("OMP_THREAD_LIMIT is {value:?}: {OMP_REQUIREMENT}"))),
        Err(_) => Err(unavailable(format!("OMP_THREAD_LIMIT is not set: {OMP_REQUIREMENT}"))),
    }
}

fn unavailable(message: impl Into<String>) -> CrmError {
    CrmError::Unavailable { port: Port::Ocr, message: message.into() }
}

/// Tesseract language codes joined by `+` (`eng`, `chi_sim`, `eng+deu`): the name becomes a file
/// name under tesseract's data directory, so nothing else passes.
fn checked_language(language: &str) -> Result<&str> {
    let valid = language.len() <= 64
        && language
            .split('+')
            .all(|code| !code.is_empty() && code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
    if valid {
        Ok(language)
    } else {
        Err(CrmError::invalid("language", "invalid", "expected tesseract language codes such as eng or eng+deu"))
    }
}

/// A tesseract engine with `language` loaded from the system's data directory.
fn load(language: &str) -> Result<Tesseract> {
    Tesseract::new(None, Some(language)).map_err(|e| {
        unavailable(format!(
            "tesseract cannot load language {language:?} (is its tesseract-ocr-* package installed?): {e}"
        ))
    })
}

#[async_trait]
impl Ocr for TesseractOcr {
    async fn extract_text(&self, image: &[u8], mime: &str, language: &str) -> Result<String> {
        if image.len() > MAX_BYTES {
            return Err(CrmError::invalid(FIELD, "too_large", format!("images are limited to {MAX_BYTES} bytes")));
        }
        let language = match language.trim() {
            "" => self.inner.default_language.clone(),
            given => checked_language(given)?.to_owned(),
        };
        let _permit = self.inner.permits.acquire().await.map_err(|_| unavailable("the OCR engine pool is closed"))?;
        let (bytes, mime, inner) = (image.to_vec(), mime.to_owned(), Arc::clone(&self.inner));
        match tokio::task::spawn_blocking(move || inner.recognise(&bytes, &mime, &language)).await {
            Ok(result) => result,
            Err(e) => Err(unavailable(format!("the OCR task failed: {e}"))),
        }
    }
}

impl Inner {
    /// Decodes, then runs an idle engine (or a new one) over the pixels and returns it to the pool.
    fn recognise(&self, image: &[u8], mime: &str, language: &str) -> Result<String> {
        // A decoder that panics on a hostile file has met an image it cannot decode.
        let grey = std::panic::catch_unwind(|| decode_grey(image, mime))
            .unwrap_or_else(|_| Err(CrmError::invalid(FIELD, "unreadable", "the image could not be decoded")))?;
        let (width, height) = grey.dimensions();
        let engine = match self.idle.lock().unwrap_or_else(|p| p.into_inner()).get_mut(language).and_then(Vec::pop) {
            Some(engine) => engine,
            None => load(language)?,
        };
        let side =
            |n: u32| i32::try_from(n).map_err(|_| CrmError::invalid(FIELD, "too_large", "the image is too large"));
        let mut engine = engine
            .set_frame(grey.as_raw(), side(width)?, side(height)?, 1, side(width)?)
            .map_err(|e| unavailable(format!("tesseract refused the image: {e}")))?
            .set_source_resolution(DEFAULT_DPI)
            .recognize()
            .map_err(|e| unavailable(format!("tesseract failed: {e}")))?;
        let text = engine.get_text().map_err(|e| unavailable(format!("tesseract failed: {e}")))?;
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let pool = idle.entry(language.to_owned()).or_default();
        if pool.len() < self.concurrency {
            pool.push(engine);
        }
        Ok(text.trim_end().to_owned())
    }
}

/// The image as 8-bit grey, transparent areas on white. PNG, JPEG and TIFF are recognised by
/// their signature; `mime` decides only when the bytes have none.
fn decode_grey(image: &[u8], mime: &str) -> Result<image::GrayImage> {
    let unreadable =
        |e: image::ImageError| CrmError::invalid(FIELD, "unreadable", format!("the image cannot be decoded: {e}"));
    let reader = |format: ImageFormat| {
        let mut reader = ImageReader::new(Cursor::new(image));
        reader.set_format(format);
        reader
    };
    let sniffed = ImageReader::new(Cursor::new(image)).with_guessed_format().ok().and_then(|r| r.format());
    let format = match sniffed.or_else(|| ImageFormat::from_mime_type(mime)) {
        Some(format @ (ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::Tiff)) => format,
        _ => return Err(CrmError::invalid(FIELD, "unsupported_format", "expected a PNG, JPEG or TIFF image")),
    };
    let (width, height) = reader(format).into_dimensions().map_err(unreadable)?;
    if width > MAX_SIDE || height > MAX_SIDE || u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(CrmError::invalid(
            FIELD,
            "too_large",
            format!("the image is {width}x{height} pixels; images are limited to {MAX_PIXELS} pixels"),
        ));
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(width);
    limits.max_image_height = Some(height);
    let mut decoder = reader(format);
    decoder.limits(limits);
    let image = decoder.decode().map_err(unreadable)?;
    if !image.color().has_alpha() {
        return Ok(image.into_luma8());
    }
    let grey = image.into_luma_alpha8();
    let (width, height) = grey.dimensions();
    // Over white: l·a + 255·(1 − a), in 8-bit fixed point.
    let over_white = |[l, a]: [u8; 2]| ((u32::from(l) * u32::from(a) + 255 * (255 - u32::from(a)) + 127) / 255) as u8;
    let values = grey.pixels().map(|p| over_white(p.0)).collect();
    image::GrayImage::from_raw(width, height, values).ok_or_else(|| CrmError::Internal("grey image size".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_names_are_codes_joined_by_plus() {
        assert!(checked_language("eng").is_ok());
        assert!(checked_language("chi_sim+eng").is_ok());
        for bad in ["", "eng+", "../eng", "eng deu", "e\0ng"] {
            assert!(checked_language(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn images_that_claim_a_huge_canvas_are_refused_before_decoding() {
        // A PNG of 100,000 x 100,000 pixels: signature, header and a few bytes of image data.
        let chunk = |kind: &[u8], data: &[u8]| {
            let mut chunk = (data.len() as u32).to_be_bytes().to_vec();
            chunk.extend_from_slice(kind);
            chunk.extend_from_slice(data);
            chunk.extend_from_slice(&crc32(&chunk[4..]).to_be_bytes());
            chunk
        };
        let mut header = [100_000u32.to_be_bytes(), 100_000u32.to_be_bytes()].concat();
        header.extend_from_slice(&[8, 0, 0, 0, 0]);
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        png.extend(chunk(b"IHDR", &header));
        png.extend(chunk(b"IDAT", &[0x78, 0x9c, 0x03, 0x00]));
        png.extend(chunk(b"IEND", &[]));
        let refused = decode_grey(&png, "image/png");
        assert!(matches!(&refused, Err(CrmError::Validation(f)) if f[0].code == "too_large"), "{refused:?}");
    }

    /// The CRC-32 PNG chunks end with.
    fn crc32(bytes: &[u8]) -> u32 {
        !bytes.iter().fold(!0u32, |crc, &b| {
            (0..8).fold(crc ^ u32::from(b), |c, _| if c & 1 == 1 { (c >> 1) ^ 0xedb8_8320 } else { c >> 1 })
        })
    }

    #[test]
    fn garbage_and_other_formats_are_validation_errors() {
        for (bytes, mime) in [(&b"not an image"[..], "image/png"), (b"GIF89a....", "image/gif"), (b"", "")] {
            assert!(matches!(decode_grey(bytes, mime), Err(CrmError::Validation(_))), "{mime}");
        }
    }

    #[test]
    fn transparency_is_flattened_onto_white() {
        let image = image::RgbaImage::from_raw(2, 1, vec![0, 0, 0, 0, 0, 0, 0, 255]).unwrap();
        let mut png = Vec::new();
        image::DynamicImage::ImageRgba8(image).write_to(&mut Cursor::new(&mut png), ImageFormat::Png).unwrap();
        let grey = decode_grey(&png, "image/png").unwrap();
        assert_eq!(grey.as_raw(), &[255, 0]);
    }
}
