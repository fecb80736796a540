//! A small, safe Markdown renderer for comments.
//!
//! Comment text is stored raw and rendered here. Every character of the input is HTML-escaped
//! before any markup is produced, so raw HTML in a comment shows as text and cannot inject
//! anything. Supported: paragraphs and line breaks, fenced code blocks, `` `code` `` spans,
//! `**strong**`, `*emphasis*`, and `[text](url)` links whose URL is `http:`, `https:` or
//! `mailto:` (other links render as their text).

/// Renders `text` to escaped HTML.
pub fn to_html(text: &str) -> String {
    let mut out = String::new();
    let mut paragraph: Vec<&str> = Vec::new();
    let mut fence: Option<(String, Vec<&str>)> = None;
    for line in text.lines() {
        if let Some((marker, body)) = fence.as_mut() {
            if line.trim_start().starts_with(marker.as_str()) {
                out.push_str("<pre><code>");
                out.push_str(&escape(&body.join("\n")));
                out.push_str("</code></pre>\n");
                fence = None;
            } else {
                body.push(line);
            }
            continue;
        }
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            flush_paragraph(&mut out, &mut paragraph);
            fence = Some((trimmed[..3].to_owned(), Vec::new()));
        } else if trimmed.is_empty() {
            flush_paragraph(&mut out, &mut paragraph);
        } else {
            paragraph.push(line.trim_end());
        }
    }
    if let Some((_, body)) = fence {
        out.push_str("<pre><code>");
        out.push_str(&escape(&body.join("\n")));
        out.push_str("</code></pre>\n");
    }
    flush_paragraph(&mut out, &mut paragraph);
    out.truncate(out.trim_end().len());
    out
}

fn flush_paragraph(out: &mut String, lines: &mut Vec<&str>) {
    if lines.is_empty() {
        return;
    }
    out.push_str("<p>");
    let rendered: Vec<String> = lines.iter().map(|l| inline(l)).collect();
    out.push_str(&rendered.join("<br>\n"));
    out.push_str("</p>\n");
    lines.clear();
}

/// HTML-escapes text (also quotes, so the result is safe inside attributes).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Inline markup of one line: code spans first (their content is literal), then the rest.
fn inline(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(start) = rest.find('`') {
        let after = &rest[start + 1..];
        match after.find('`') {
            Some(end) => {
                out.push_str(&emphasis(&rest[..start]));
                out.push_str("<code>");
                out.push_str(&escape(&after[..end]));
                out.push_str("</code>");
                rest = &after[end + 1..];
            }
            None => break,
        }
    }
    out.push_str(&emphasis(rest));
    out
}

/// Links, `**strong**` and `*emphasis*` over text without code spans.
fn emphasis(text: &str) -> String {
    let linked = links(text);
    let strong = pairs(&linked, "**", "strong");
    pairs(&strong, "*", "em")
}

/// Replaces `[text](url)` with a link when the URL is safe; the input is raw, the output escaped.
fn links(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        let Some(close_rel) = rest[open..].find("](") else { break };
        let close = open + close_rel;
        let Some(end_rel) = rest[close + 2..].find(')') else { break };
        let end = close + 2 + end_rel;
        let label = &rest[open + 1..close];
        let url = rest[close + 2..end].trim();
        out.push_str(&escape(&rest[..open]));
        let lower = url.to_ascii_lowercase();
        if lower.starts_with("https://") || lower.starts_with("http://") || lower.starts_with("mailto:") {
            out.push_str(&format!("<a href=\"{}\" rel=\"nofollow noopener\">{}</a>", escape(url), escape(label)));
        } else {
            out.push_str(&escape(label));
        }
        rest = &rest[end + 1..];
    }
    out.push_str(&escape(rest));
    out
}

/// Wraps text between pairs of `marker` in `<tag>`; works on escaped text (markers are `*`,
/// which escaping leaves alone, and never appear inside generated tags).
fn pairs(text: &str, marker: &str, tag: &str) -> String {
    let parts: Vec<&str> = text.split(marker).collect();
    if parts.len() < 3 {
        return text.to_owned();
    }
    let mut out = String::new();
    let closed = (parts.len() - 1) / 2 * 2;
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            if i <= closed {
                out.push_str(if i % 2 == 1 { "<" } else { "</" });
                out.push_str(tag);
                out.push('>');
            } else {
                out.push_str(marker);
            }
        }
        out.push_str(part);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_html_is_escaped() {
        assert_eq!(to_html("<script>alert(1)</script>"), "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>");
        assert_eq!(to_html("a & \"b\""), "<p>a &amp; &quot;b&quot;</p>");
    }

    #[test]
    fn renders_the_supported_subset() {
        assert_eq!(to_html("**hi** *there*"), "<p><strong>hi</strong> <em>there</em></p>");
        assert_eq!(to_html("use `<b>`"), "<p>use <code>&lt;b&gt;</code></p>");
        assert_eq!(to_html("one\ntwo\n\nthree"), "<p>one<br>\ntwo</p>\n<p>three</p>");
        assert_eq!(to_html("```\n<x>\n```"), "<pre><code>&lt;x&gt;</code></pre>");
        assert_eq!(
            to_html("[docs](https://example.com/?a=1&b=\"2\")"),
            "<p><a href=\"https://example.com/?a=1&amp;b=&quot;2&quot;\" rel=\"nofollow noopener\">docs</a></p>"
        );
        assert_eq!(to_html("[x](javascript:alert(1))"), "<p>x)</p>");
        assert_eq!(to_html("2 * 3"), "<p>2 * 3</p>");
        assert_eq!(to_html(""), "");
    }
}
