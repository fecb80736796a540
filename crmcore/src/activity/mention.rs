//! `@handle` mentions in comment text.
//!
//! A mention is `@` followed by a valid [`Handle`] (case-insensitive), where the `@` does not
//! follow a letter, digit or one of `_ . - + / \ @` (so `bob@example.com` and `a/@b` are not
//! mentions), and the handle is not followed by `@` (e-mail-like). Trailing `.` and `-` are
//! punctuation (`@bob.` mentions `bob`). Nothing inside a code span (`` `…` ``), a fenced or
//! indented code block, or a URL (`scheme://…`, `www.…`, `mailto:…`) is a mention; `\@bob` is
//! an escaped at-sign. Whether the handle belongs to anyone is decided later: unknown handles
//! are simply ignored.

use crate::value::Handle;

/// The distinct handles mentioned in `text`, in order of first appearance.
pub fn parse(text: &str) -> Vec<Handle> {
    let mut found: Vec<Handle> = Vec::new();
    let mut in_fence: Option<(char, usize)> = None;
    let mut prev_blank = true;
    let mut in_indented = false;
    for line in text.lines() {
        let trimmed = line.trim_start_matches(' ');
        let indent = line.len() - trimmed.len();
        if let Some((fence_char, fence_len)) = in_fence {
            if indent <= 3
                && fence_run(trimmed, fence_char) >= fence_len
                && trimmed.trim_start_matches(fence_char).trim().is_empty()
            {
                in_fence = None;
            }
            prev_blank = false;
            continue;
        }
        if indent <= 3 {
            for c in ['`', '~'] {
                let run = fence_run(trimmed, c);
                if run >= 3 && !(c == '`' && trimmed[run..].contains('`')) {
                    in_fence = Some((c, run));
                }
            }
            if in_fence.is_some() {
                prev_blank = false;
                in_indented = false;
                continue;
            }
        }
        let blank = line.trim().is_empty();
        let indented = !blank && (indent >= 4 || line.starts_with('\t'));
        if indented && (prev_blank || in_indented) {
            in_indented = true;
            prev_blank = false;
            continue;
        }
        if !blank {
            in_indented = false;
        }
        prev_blank = blank;
        scan_line(line, &mut found);
    }
    found
}

/// Length of the run of `c` at the start of `s`.
fn fence_run(s: &str, c: char) -> usize {
    s.chars().take_while(|&x| x == c).count()
}

fn is_handle_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')
}

/// Characters that make a following `@` part of a word (e-mail, path, escaped) rather than a mention.
fn blocks_mention(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '.' | '-' | '+' | '/' | '\\' | '@' | '`')
}

/// Scans one line of ordinary text, skipping code spans and URLs.
fn scan_line(line: &str, found: &mut Vec<Handle>) {
    let chars: Vec<char> = line.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '`' {
            let run = chars[i..].iter().take_while(|&&x| x == '`').count();
            if let Some(end) = closing_backticks(&chars, i + run, run) {
                i = end;
                continue;
            }
            i += run;
            continue;
        }
        if let Some(end) = url_end(&chars, i) {
            i = end;
            continue;
        }
        if c == '@' && (i == 0 || !blocks_mention(chars[i - 1])) {
            let start = i + 1;
            let mut end = start;
            while end < chars.len() && is_handle_char(chars[end]) {
                end += 1;
            }
            let mut raw: String = chars[start..end].iter().collect();
            let followed_by_at = chars.get(end) == Some(&'@');
            while raw.ends_with(['.', '-']) {
                raw.pop();
            }
            if !followed_by_at
                && !raw.is_empty()
                && let Ok(handle) = Handle::parse(&raw)
                && !found.contains(&handle)
            {
                found.push(handle);
            }
            i = end.max(start);
            continue;
        }
        i += 1;
    }
}

/// The index after a run of exactly `run` backticks at or after `from`, if there is one.
fn closing_backticks(chars: &[char], from: usize, run: usize) -> Option<usize> {
    let mut j = from;
    while j < chars.len() {
        if chars[j] == '`' {
            let len = chars[j..].iter().take_while(|&&x| x == '`').count();
            if len == run {
                return Some(j + len);
            }
            j += len;
        } else {
            j += 1;
        }
    }
    None
}

/// When a URL starts at `i` (at a word start), the index just past it.
fn url_end(chars: &[char], i: usize) -> Option<usize> {
    if i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '.') {
        return None;
    }
    let rest: String = chars[i..].iter().take(12).collect::<String>().to_ascii_lowercase();
    let is_url = rest.starts_with("www.") || rest.starts_with("mailto:") || {
        let scheme_len =
            chars[i..].iter().take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')).count();
        scheme_len > 0
            && chars[i].is_ascii_alphabetic()
            && chars.get(i + scheme_len) == Some(&':')
            && chars.get(i + scheme_len + 1) == Some(&'/')
            && chars.get(i + scheme_len + 2) == Some(&'/')
    };
    if !is_url {
        return None;
    }
    let mut end = i;
    while end < chars.len() && !chars[end].is_whitespace() && !matches!(chars[end], '<' | '>' | '"') {
        end += 1;
    }
    Some(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (text, handles expected in order).
    const CASES: &[(&str, &[&str])] = &[
        // Plain mentions.
        ("@bob", &["bob"]),
        ("hi @bob", &["bob"]),
        ("hi @bob, how are you", &["bob"]),
        ("@bob @carol", &["bob", "carol"]),
        ("@carol then @bob", &["carol", "bob"]),
        ("@bob and @bob again", &["bob"]),
        ("@Bob", &["bob"]),
        ("@BOB and @bob", &["bob"]),
        ("(@bob)", &["bob"]),
        ("[@bob]", &["bob"]),
        ("\"@bob\"", &["bob"]),
        ("@bob!", &["bob"]),
        ("@bob?", &["bob"]),
        ("@bob.", &["bob"]),
        ("@bob-", &["bob"]),
        ("@bob's idea", &["bob"]),
        ("@bob: look", &["bob"]),
        ("thanks,@bob", &["bob"]),
        ("@ana.lee", &["ana.lee"]),
        ("@ana_lee", &["ana_lee"]),
        ("@ana-lee", &["ana-lee"]),
        ("@a1", &["a1"]),
        ("@42team", &["42team"]),
        ("line one\n@bob on line two", &["bob"]),
        ("**@bob**", &["bob"]),
        ("_@bob_", &[]),
        ("*@bob*", &["bob"]),
        ("> @bob quoted", &["bob"]),
        ("- @bob in a list", &["bob"]),
        ("# @bob in a heading", &["bob"]),
        ("@bob\n\n    code @carol\n\n@dave", &["bob", "dave"]),
        // Not mentions: invalid handles.
        ("@", &[]),
        ("@ alone", &[]),
        ("@b", &[]),
        ("@_bob", &[]),
        ("@.bob", &[]),
        ("@-bob", &[]),
        ("@thisisaverylonghandlethatexceedsthirtytwo", &[]),
        ("@@bob", &[]),
        // Not mentions: e-mail addresses.
        ("mail bob@example.com", &[]),
        ("mail bob.smith@example.com now", &[]),
        ("x+y@example.com", &[]),
        ("@bob@example.com", &[]),
        ("<bob@example.com>", &[]),
        // Not mentions: URLs.
        ("see https://example.com/@bob", &[]),
        ("see http://x.test/users/@carol?tab=1", &[]),
        ("see www.example.com/@bob", &[]),
        ("mailto:@bob", &[]),
        ("a/@bob", &[]),
        ("https://example.com/@bob and @carol", &["carol"]),
        ("<https://example.com/@bob>", &[]),
        // Not mentions: code spans.
        ("`@bob`", &[]),
        ("run `cc @bob` then @carol", &["carol"]),
        ("``@bob``", &[]),
        ("`` a ` @bob ``", &[]),
        ("`unclosed @bob", &["bob"]),
        // Not mentions: code blocks.
        ("```\n@bob\n```", &[]),
        ("```rust\nlet x = @bob;\n```\n@carol", &["carol"]),
        ("~~~\n@bob\n~~~", &[]),
        ("````\n```\n@bob\n````\n@carol", &["carol"]),
        ("    @bob indented code", &[]),
        ("\t@bob tab code", &[]),
        ("paragraph\n    @bob continuation", &["bob"]),
        ("```\nunclosed @bob", &[]),
        // Escapes.
        ("\\@bob", &[]),
        ("\\@bob but @carol", &["carol"]),
        // Unicode around.
        ("héllo @bob", &["bob"]),
        ("é@bob", &[]),
        ("日本 @bob", &["bob"]),
    ];

    #[test]
    fn table_of_mentions() {
        assert!(CASES.len() >= 50, "at least 50 cases");
        for (text, expected) in CASES {
            let got: Vec<String> = parse(text).into_iter().map(|h| h.as_str().to_owned()).collect();
            let expected: Vec<String> = expected.iter().map(|s| (*s).to_owned()).collect();
            assert_eq!(got, expected, "text: {text:?}");
        }
    }
}
