//! Text extraction, one job per version: text and Markdown as they are, HTML without its markup,
//! PDFs through their text layer with pages that have none rendered and OCRed, images OCRed.
//! Status goes pending → done | failed (with the reason); transient failures (an OCR engine
//! that is down) are retried by the queue, and recorded as failed on the last attempt.

use crate::crm::Crm;
use crate::error::{CrmError, Result};
use crate::event::EventType;
use crate::event::OutboxEntry;
use crate::id::{DocumentId, TenantId};
use crate::jobs::Job;

use super::{TextOutcome, TextStatus};

/// Most text kept per version, in bytes (cut at a character boundary).
pub const MAX_TEXT_BYTES: usize = 1024 * 1024;
/// Types whose bytes are their text (decoded as UTF-8, invalid sequences replaced).
const PLAIN_TEXT: [&str; 3] = ["text/plain", "text/markdown", "text/csv"];
/// Bytes of a plain-text file read for its text: the text kept is the first [`MAX_TEXT_BYTES`],
/// lossy decoding never makes text shorter than the bytes it decodes, and the 4 bytes past them
/// complete a character cut there. Reading only these keeps the memory an extraction takes
/// independent of the file's size.
const PLAIN_TEXT_READ: usize = MAX_TEXT_BYTES + 4;
/// A PDF page with fewer letters or digits than this in its text layer is treated as scanned.
const MIN_PAGE_CHARS: usize = 16;

/// Queues the extraction of every version the `entries` created (documents uploaded, versions
/// added or restored). Called by the outbox dispatcher, so a version committed is a version
/// extracted, whatever happens to the process that committed it; the dedupe key makes a replay
/// harmless.
pub(crate) async fn enqueue_for(crm: &Crm, entries: &[OutboxEntry]) -> Result<()> {
    let now = crm.clock().now();
    for entry in entries {
        let event = &entry.event;
        let number = match event.event_type {
            EventType::DocumentCreated => Some(1),
            EventType::DocumentVersionAdded => event
                .data
                .get("version")
                .and_then(|v| v.get("number"))
                .and_then(serde_json::Value::as_u64)
                .and_then(|n| u32::try_from(n).ok()),
            _ => None,
        };
        if let Some(number) = number {
            let job =
                Job::ExtractText { tenant_id: event.tenant_id, document_id: DocumentId(event.subject.id), number };
            crm.store().jobs().enqueue(job.to_new_job(now)?, now).await?;
        }
    }
    Ok(())
}

/// Runs one version's extraction and records the outcome. A version gone meanwhile (purged) or
/// already extracted is no error. Transient failures are returned for the queue to retry, except
/// on the `last_attempt`, which records them as the reason it failed.
pub(crate) async fn extract_text(
    crm: &Crm,
    tenant: TenantId,
    id: DocumentId,
    number: u32,
    last_attempt: bool,
) -> Result<()> {
    let repo = crm.store().documents();
    let version = match repo.get_version(tenant, id, number).await {
        Ok(v) => v,
        Err(CrmError::NotFound { .. }) => return Ok(()),
        Err(e) => return Err(e),
    };
    if version.text_status != TextStatus::Pending {
        return Ok(());
    }
    let blobs = crm.blobs()?;
    // Other types are parsed whole (markup, PDF, images): they are read whole.
    let read = if PLAIN_TEXT.contains(&version.mime.as_str()) {
        blobs.read_at(&version.content_key, 0, PLAIN_TEXT_READ).await
    } else {
        blobs.get(&version.content_key).await
    };
    let bytes = match read {
        Ok(bytes) => bytes,
        Err(CrmError::NotFound { .. }) => return Ok(()),
        Err(e) => return Err(e),
    };
    let outcome = match text_of(crm, &version.mime, &bytes).await {
        Ok(text) => TextOutcome::Done(cap(text)),
        Err(error) if error.is_transient() && !last_attempt => return Err(error),
        Err(error) => TextOutcome::Failed(reason(&error)),
    };
    match repo.set_text(tenant, id, number, &outcome).await {
        Ok(()) | Err(CrmError::NotFound { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

fn reason(error: &CrmError) -> String {
    match error {
        CrmError::Validation(fields) => fields.iter().map(|f| f.message.clone()).collect::<Vec<_>>().join("; "),
        other => other.to_string(),
    }
}

fn cap(mut text: String) -> String {
    if text.len() > MAX_TEXT_BYTES {
        let mut end = MAX_TEXT_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

/// The text of a plain-text file from its first bytes (at least [`PLAIN_TEXT_READ`] of them
/// when there are more), at most [`MAX_TEXT_BYTES`]: only the part kept is decoded.
fn plain_text(bytes: &[u8]) -> String {
    cap(String::from_utf8_lossy(&bytes[..bytes.len().min(PLAIN_TEXT_READ)]).into_owned())
}

/// The text of a file of type `mime`.
async fn text_of(crm: &Crm, mime: &str, bytes: &[u8]) -> Result<String> {
    let config = crm.document_config();
    match mime {
        plain if PLAIN_TEXT.contains(&plain) => Ok(plain_text(bytes)),
        "text/html" => Ok(crate::template::html_to_text(&String::from_utf8_lossy(bytes))),
        "application/pdf" => {
            let reader = crm.pdf_reader().map_err(|_| unsupported("reading PDFs needs a PDF reader"))?;
            let pages = reader.text_pages(bytes).await?;
            let mut out = Vec::with_capacity(pages.len());
            let mut ocred = 0;
            for (index, page) in pages.into_iter().enumerate() {
                let letters = page.chars().filter(|c| c.is_alphanumeric()).count();
                if letters >= MIN_PAGE_CHARS || ocred >= config.max_ocr_pages {
                    out.push(page);
                    continue;
                }
                let Ok(ocr) = crm.ocr() else {
                    out.push(page);
                    continue;
                };
                let image = reader.render_page(bytes, index, config.ocr_dpi).await?;
                out.push(ocr.extract_text(&image, "image/png", &config.ocr_language).await?);
                ocred += 1;
            }
            let text = out.join("\n\u{c}\n");
            if text.chars().all(|c| !c.is_alphanumeric()) && crm.ocr().is_err() {
                return Err(unsupported("this PDF has no text layer and OCR is not configured"));
            }
            Ok(text)
        }
        "image/png" | "image/jpeg" | "image/tiff" | "image/gif" | "image/webp" => {
            let ocr = crm.ocr().map_err(|_| unsupported("images need OCR, which is not configured"))?;
            ocr.extract_text(bytes, mime, &config.ocr_language).await
        }
        other => Err(unsupported(&format!("no text extraction for {other} files"))),
    }
}

fn unsupported(why: &str) -> CrmError {
    CrmError::invalid("file", "no_text", why.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_read_without_markup_scripts_or_comments() {
        // Extraction uses the template module's converter: what search relies on holds.
        let html = "<html><head><style>p{color:red}</style><script>alert('x<y')</script></head>\
                    <body><h1>Quarterly&nbsp;report</h1><!-- hidden --><p>Revenue &amp; costs &#8364;5 &#x41;</p>\
                    <p>A <b>bold</b> claim</p></body></html>";
        let text = crate::template::html_to_text(html);
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines, ["Quarterly report", "Revenue & costs €5 A", "A bold claim"], "{text:?}");
        assert_eq!(crate::template::html_to_text("a &bogus; b & c <unclosed"), "a &bogus; b & c");
    }

    #[test]
    fn plain_text_reads_only_the_bytes_it_keeps() {
        // The text from the first PLAIN_TEXT_READ bytes is the text from all of them, whatever
        // straddles the cut: multi-byte characters, invalid bytes, or both.
        let whole = |bytes: &[u8]| cap(String::from_utf8_lossy(bytes).into_owned());
        for shift in 0..12 {
            for lead in [&b""[..], b"\xe2\x82"] {
                for tail in ["\u{1F600}", "€uro", "\u{ff}\u{fe}ab", "ok"] {
                    let mut bytes = vec![b'a'; MAX_TEXT_BYTES - 6 + shift];
                    bytes.extend_from_slice(lead);
                    bytes.extend_from_slice(tail.as_bytes());
                    bytes.extend_from_slice(&[0xff, 0xc3, b'z']);
                    bytes.extend(std::iter::repeat_n(b'b', 64));
                    let text = plain_text(&bytes);
                    assert_eq!(text, whole(&bytes), "shift {shift}, lead {lead:?}, tail {tail:?}");
                    let read = plain_text(&bytes[..PLAIN_TEXT_READ]);
                    assert_eq!(read, text, "shift {shift}, lead {lead:?}, tail {tail:?}");
                }
            }
        }
        assert_eq!(plain_text(b"a,b\n1,2\n"), "a,b\n1,2\n");
    }

    #[test]
    fn long_text_is_cut_at_a_character_boundary() {
        let text = "é".repeat(MAX_TEXT_BYTES);
        let cut = cap(text);
        assert!(cut.len() <= MAX_TEXT_BYTES && cut.len() > MAX_TEXT_BYTES - 4);
    }
}
