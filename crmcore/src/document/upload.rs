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
    let refuse = |code: &str, why: String| CrmError::invalid("file", code, why);
    let extension = filename.rsplit_once('.').map(|(_, ext)| ext.to_ascii_lowercase()).unwrap_or_default();
    let sniffed = match infer::get(bytes) {
        Some(kind) => kind.mime_type(),
        None => text_type(bytes, &extension).ok_or_else(|| {
            refuse(
                "unsupported_type",
                "the file's type is not recognised; upload PDF, images, text or office files".into(),
            )
        })?,
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
fn text_type(bytes: &[u8], extension: &str) -> Option<&'static str> {
    let text = std::str::from_utf8(bytes).ok()?;
    if text.contains('\0') {
        return None;
    }
    Some(match extension {
        "md" | "markdown" => "text/markdown",
        "csv" => "text/csv",
        "html" | "htm" => "text/html",
        _ => "text/plain",
    })
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
    fn file_names_lose_paths_and_odd_characters() {
        assert_eq!(sanitize_filename("../../etc/passwd"), "passwd");
        assert_eq!(sanitize_filename("C:\\Users\\ada\\Q3 report (final).pdf"), "Q3 report (final).pdf");
        assert_eq!(sanitize_filename("..hidden"), "hidden");
        assert_eq!(sanitize_filename("a\"b;c\r\n.pdf"), "a_b_c.pdf");
        assert_eq!(sanitize_filename("   "), "file");
        assert_eq!(sanitize_filename(&"x".repeat(300)).len(), 200);
    }
}
