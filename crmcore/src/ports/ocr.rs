use std::fmt::Debug;

use async_trait::async_trait;

use crate::error::Result;

/// Recognises text in images.
#[async_trait]
pub trait Ocr: Send + Sync + Debug {
    /// The text in an image (`mime` e.g. `image/png`), for the given tesseract language (`eng`).
    /// MUST return `Validation` for images it cannot decode and `Unavailable` when the engine fails.
    async fn extract_text(&self, image: &[u8], mime: &str, language: &str) -> Result<String>;
}
