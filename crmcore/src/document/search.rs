//! Full-text search over documents: one tokenizer, one query language, one matcher.
//!
//! Stores index the *normalized* form of a document's title, tags and latest text
//! ([`normalize`]: lowercase alphanumeric tokens joined by single spaces, at most
//! [`MAX_INDEXED_TOKENS`]), so SQLite's FTS5 (`unicode61`, no diacritic folding) and PostgreSQL's
//! `simple` text search configuration split them exactly as the domain does. A [`SearchQuery`]
//! holds only normalized tokens, so no user input reaches a store's query language unescaped
//! (it compiles to a `tsquery` here, to FTS5 `MATCH` syntax in the SQLite store, whose index
//! also holds word pairs); [`SearchQuery::matches`] is the reference the stores are held to.
//! Snippets are cut and highlighted here, from the stored original text, the same way for
//! every store.

use serde::{Deserialize, Serialize};

use super::{Document, DocumentFilter};
use crate::error::{CrmError, Result};

/// Most tokens indexed per document, title and tags included (PostgreSQL keeps positions up to
/// 16,383 only; past that, phrases could not be matched the same way everywhere).
pub const MAX_INDEXED_TOKENS: usize = 16_000;
/// Most title and tag tokens indexed.
const MAX_TITLE_TOKENS: usize = 200;
/// Longest token kept, in characters (longer runs are cut: PostgreSQL ignores words over 2 KiB).
const MAX_TOKEN_CHARS: usize = 64;
/// Most matches ranked per search: the newest this many matching documents the viewer sees.
/// Ranking every match of a word found in most documents would cost time in proportion to the
/// collection; within the window it stays bounded, and recent documents are what a CRM's users
/// look for first. Narrower queries (fewer matches) are ranked in full. A search's work grows
/// with the window: PostgreSQL reads each window row from the table, and reaches a window of a
/// word found in one document in ten by walking ten times as many rows; 2,000 (a hundred pages
/// of 20) keeps the broadest searches within 50 ms over 100,000 documents (see README).
pub const RANK_WINDOW: usize = 2_000;
/// Most clauses in one query.
const MAX_CLAUSES: usize = 16;
/// Longest query, in characters.
const MAX_QUERY_CHARS: usize = 500;

/// The lowercase alphanumeric runs of `text`, each cut to [`MAX_TOKEN_CHARS`].
pub fn tokens(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric()).filter(|t| !t.is_empty()).map(|t| {
        let lower: String = t.chars().flat_map(char::to_lowercase).filter(|c| c.is_alphanumeric()).collect();
        lower.chars().take(MAX_TOKEN_CHARS).collect::<String>()
    })
}

/// `text` as the stores index it: at most `max` tokens joined by single spaces.
pub fn normalize(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max * 8));
    for token in tokens(text).filter(|t| !t.is_empty()).take(max) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&token);
    }
    out
}

/// What a store indexes for one document: normalized title, tags and body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchText {
    /// The normalized title.
    pub title: String,
    /// The normalized tags.
    pub tags: String,
    /// The normalized latest text (empty until extracted).
    pub body: String,
}

impl SearchText {
    /// The index entry of `document` with extracted `body` text (none yet: empty).
    pub fn of(document: &Document, body: Option<&str>) -> Self {
        let title = normalize(&document.title, MAX_TITLE_TOKENS);
        let tag_text: Vec<&str> = document.tags.iter().map(|t| t.as_str()).collect();
        let tags = normalize(&tag_text.join(" "), MAX_TITLE_TOKENS);
        let used = count(&title) + count(&tags);
        let body = body.map(|b| normalize(b, MAX_INDEXED_TOKENS.saturating_sub(used))).unwrap_or_default();
        Self { title, tags, body }
    }

    /// The normalized body of `text` alone (what stores keep beside title and tags).
    pub fn body_of(text: &str) -> String {
        normalize(text, MAX_INDEXED_TOKENS - 2 * MAX_TITLE_TOKENS)
    }
}

fn count(normalized: &str) -> usize {
    if normalized.is_empty() { 0 } else { normalized.split(' ').count() }
}

/// One part of a query; a document must satisfy every clause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Clause {
    /// Consecutive tokens (one token: a plain word). `prefix`: the last token may be the start
    /// of a longer one (`word*`).
    Phrase {
        /// The tokens, in order.
        tokens: Vec<String>,
        /// Whether the last token is a prefix.
        prefix: bool,
    },
    /// Documents containing this phrase are excluded (`-word`, `-"some phrase"`).
    Not(Vec<String>),
}

impl Clause {
    /// This clause alone as `to_tsquery('simple', …)` input (see [`SearchQuery::to_tsquery`]).
    pub fn to_tsquery(&self) -> String {
        let phrase = |tokens: &[String], prefix: bool| {
            let parts: Vec<String> = tokens
                .iter()
                .enumerate()
                .map(|(i, t)| if prefix && i + 1 == tokens.len() { format!("'{t}':*") } else { format!("'{t}'") })
                .collect();
            format!("({})", parts.join(" <-> "))
        };
        match self {
            Clause::Phrase { tokens, prefix } => phrase(tokens, *prefix),
            Clause::Not(tokens) => format!("!{}", phrase(tokens, false)),
        }
    }
}

/// A parsed search: words and `"phrases"` that must all occur (in title, tags or text), `word*`
/// prefixes, and `-word` exclusions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    clauses: Vec<Clause>,
}

impl SearchQuery {
    /// Parses `raw`. `Validation` on `q` when it holds no word to look for, or is too long.
    pub fn parse(raw: &str) -> Result<Self> {
        let invalid = |code: &str, msg: &str| CrmError::invalid("q", code, msg.to_owned());
        if raw.chars().count() > MAX_QUERY_CHARS {
            return Err(invalid("too_long", "queries are at most 500 characters"));
        }
        let mut clauses = Vec::new();
        let mut rest = raw.trim_start();
        while !rest.is_empty() {
            let negated = rest.starts_with('-');
            if negated {
                rest = &rest[1..];
            }
            let (part, quoted, after) = if let Some(inner) = rest.strip_prefix('"') {
                match inner.find('"') {
                    Some(end) => (&inner[..end], true, &inner[end + 1..]),
                    None => (inner, true, ""),
                }
            } else {
                let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
                (&rest[..end], false, &rest[end..])
            };
            rest = after.trim_start();
            let words: Vec<String> = tokens(part).collect();
            if words.is_empty() {
                continue;
            }
            if negated {
                clauses.push(Clause::Not(words));
            } else if quoted {
                clauses.push(Clause::Phrase { tokens: words, prefix: false });
            } else {
                // An unquoted `foo-bar` is the phrase "foo bar", as the text indexes it.
                let prefix = part.ends_with('*');
                clauses.push(Clause::Phrase { tokens: words, prefix });
            }
        }
        if clauses.len() > MAX_CLAUSES {
            return Err(invalid("too_many_terms", "queries have at most 16 words or phrases"));
        }
        if !clauses.iter().any(|c| matches!(c, Clause::Phrase { .. })) {
            return Err(invalid("empty", "give at least one word to look for"));
        }
        Ok(Self { clauses })
    }

    /// The clauses.
    pub fn clauses(&self) -> &[Clause] {
        &self.clauses
    }

    /// The tokens to highlight (every positive clause's tokens).
    pub fn highlight_tokens(&self) -> Vec<(&str, bool)> {
        let mut out = Vec::new();
        for clause in &self.clauses {
            if let Clause::Phrase { tokens, prefix } = clause {
                for (i, t) in tokens.iter().enumerate() {
                    out.push((t.as_str(), *prefix && i + 1 == tokens.len()));
                }
            }
        }
        out
    }

    /// The query as PostgreSQL `to_tsquery('simple', …)` input: `<->` phrases, `:*` prefixes,
    /// `&` and `!`. (The stored vector separates title, tags and text with a `|` lexeme no
    /// query holds, so a phrase never spans two fields.)
    pub fn to_tsquery(&self) -> String {
        self.clauses.iter().map(Clause::to_tsquery).collect::<Vec<_>>().join(" & ")
    }

    /// Whether an indexed document matches: every phrase occurs in one of its fields, no
    /// excluded phrase occurs in any (the reference the stores are held to).
    pub fn matches(&self, text: &SearchText) -> bool {
        let fields = [split(&text.title), split(&text.tags), split(&text.body)];
        self.clauses.iter().all(|clause| match clause {
            Clause::Phrase { tokens, prefix } => fields.iter().any(|f| contains_phrase(f, tokens, *prefix)),
            Clause::Not(tokens) => !fields.iter().any(|f| contains_phrase(f, tokens, false)),
        })
    }

    /// A relevance score for in-memory ranking: matches in the title weigh 10, in tags 5, in the
    /// text 1, damped by the text's length (higher is better).
    pub fn score(&self, text: &SearchText) -> f64 {
        let fields = [(split(&text.title), 10.0), (split(&text.tags), 5.0), (split(&text.body), 1.0)];
        let mut score = 0.0;
        for clause in &self.clauses {
            if let Clause::Phrase { tokens, prefix } = clause {
                for (field, weight) in &fields {
                    let hits = count_phrase(field, tokens, *prefix) as f64;
                    if hits > 0.0 {
                        score += weight * hits / (hits + 1.2 * (0.25 + 0.75 * field.len() as f64 / 200.0));
                    }
                }
            }
        }
        score
    }
}

fn split(normalized: &str) -> Vec<&str> {
    if normalized.is_empty() { Vec::new() } else { normalized.split(' ').collect() }
}

fn phrase_at(field: &[&str], at: usize, tokens: &[String], prefix: bool) -> bool {
    tokens.iter().enumerate().all(|(i, t)| {
        field
            .get(at + i)
            .is_some_and(|w| if prefix && i + 1 == tokens.len() { w.starts_with(t.as_str()) } else { w == t })
    })
}

fn contains_phrase(field: &[&str], tokens: &[String], prefix: bool) -> bool {
    (0..field.len()).any(|at| phrase_at(field, at, tokens, prefix))
}

fn count_phrase(field: &[&str], tokens: &[String], prefix: bool) -> usize {
    (0..field.len()).filter(|&at| phrase_at(field, at, tokens, prefix)).count()
}

/// A search request: the query, the list filters (trash excluded), and offset paging.
#[derive(Debug, Clone)]
pub struct SearchRequest {
    /// What to look for.
    pub query: SearchQuery,
    /// Category, tag, owner, link and date filters (`trashed` is ignored: the trash is never
    /// searched).
    pub filter: DocumentFilter,
    /// Hits to skip (the hits are the best of the [`RANK_WINDOW`] newest matches, so pages end
    /// there).
    pub offset: u32,
    /// Hits to return (1–100).
    pub limit: u32,
}

/// What a store returns per hit, best first.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredHit {
    /// The document.
    pub document: Document,
    /// The store's relevance (only its order matters).
    pub rank: f64,
    /// The latest version's extracted text, when there is some.
    pub text: Option<String>,
}

/// One search result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SearchHit {
    /// The document.
    pub document: Document,
    /// The title, HTML-escaped, with matched words in `<mark>`.
    pub title_html: String,
    /// Up to ~30 words of text around the best match, HTML-escaped, matched words in `<mark>`
    /// (empty when the text holds no match).
    pub snippet_html: String,
}

/// A page of search results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SearchResults {
    /// The hits, best first.
    pub hits: Vec<SearchHit>,
    /// The offset of the next page, when there may be one.
    pub next_offset: Option<u32>,
}

/// Words of context around a snippet's best match.
const SNIPPET_WORDS: usize = 30;

fn is_hit(word: &str, wanted: &[(&str, bool)]) -> bool {
    let lower: String = word.chars().flat_map(char::to_lowercase).filter(|c| c.is_alphanumeric()).collect();
    !lower.is_empty() && wanted.iter().any(|(t, prefix)| if *prefix { lower.starts_with(t) } else { lower == *t })
}

/// `text` HTML-escaped with the words matching the query's tokens wrapped in `<mark>`.
pub fn highlight(text: &str, query: &SearchQuery) -> String {
    let wanted = query.highlight_tokens();
    mark_words(&words_of(text), &wanted)
}

/// The best window of `text`: the one with the most matched words, highlighted; empty when none.
pub fn snippet(text: &str, query: &SearchQuery) -> String {
    let wanted = query.highlight_tokens();
    let words = words_of(text);
    let hits: Vec<usize> = (0..words.len())
        .filter(|&i| words[i].1.split(|c: char| !c.is_alphanumeric()).any(|run| is_hit(run, &wanted)))
        .collect();
    let Some(&first) = hits.first() else { return String::new() };
    // Slide a window over the hit positions; keep the one covering most hits.
    let (mut best_start, mut best_count) = (first, 0);
    for (i, &start) in hits.iter().enumerate() {
        let covered = hits[i..].iter().take_while(|&&h| h < start + SNIPPET_WORDS).count();
        if covered > best_count {
            (best_start, best_count) = (start, covered);
        }
    }
    let start = best_start.saturating_sub(5);
    let end = (start + SNIPPET_WORDS).min(words.len());
    let mut out = String::new();
    if start > 0 {
        out.push('…');
    }
    out.push_str(&mark_words(&words[start..end], &wanted));
    if end < words.len() {
        out.push('…');
    }
    out
}

/// Whitespace-separated words with the whitespace before each.
fn words_of(text: &str) -> Vec<(&str, &str)> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let ws_end = rest.find(|c: char| !c.is_whitespace()).unwrap_or(rest.len());
        let (ws, after) = rest.split_at(ws_end);
        if after.is_empty() {
            break;
        }
        let word_end = after.find(char::is_whitespace).unwrap_or(after.len());
        let (word, next) = after.split_at(word_end);
        out.push((ws, word));
        rest = next;
    }
    out
}

fn mark_words(words: &[(&str, &str)], wanted: &[(&str, bool)]) -> String {
    let mut out = String::new();
    for (i, (_, word)) in words.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        // Mark each alphanumeric run of the word that matches, escape the rest.
        let mut run = String::new();
        let flush = |run: &mut String, out: &mut String| {
            if run.is_empty() {
                return;
            }
            if is_hit(run, wanted) {
                out.push_str("<mark>");
                out.push_str(&escape(run));
                out.push_str("</mark>");
            } else {
                out.push_str(&escape(run));
            }
            run.clear();
        };
        for c in word.chars() {
            if c.is_alphanumeric() {
                run.push(c);
            } else {
                flush(&mut run, &mut out);
                out.push_str(&escape(c.encode_utf8(&mut [0; 4])));
            }
        }
        flush(&mut run, &mut out);
    }
    out
}

pub(crate) use crate::activity::markdown::escape;

#[cfg(test)]
mod tests {
    use super::*;

    fn text(title: &str, body: &str) -> SearchText {
        SearchText { title: normalize(title, 100), tags: String::new(), body: SearchText::body_of(body) }
    }

    #[test]
    fn tokens_are_lowercase_alphanumeric_runs() {
        let t: Vec<String> = tokens("Hello, WORLD! e-mail: a.b@c.de Ünïcode 42x").collect();
        assert_eq!(t, ["hello", "world", "e", "mail", "a", "b", "c", "de", "ünïcode", "42x"]);
        assert_eq!(normalize("  Foo   bar\nBAZ ", 2), "foo bar");
    }

    #[test]
    fn queries_parse_into_words_phrases_prefixes_and_exclusions() {
        let q = SearchQuery::parse(r#"Invoice "net 30" acme* -draft"#).unwrap();
        assert_eq!(q.to_tsquery(), "('invoice') & ('net' <-> '30') & ('acme':*) & !('draft')");
        assert_eq!(SearchQuery::parse("foo-bar").unwrap().to_tsquery(), "('foo' <-> 'bar')");
    }

    #[test]
    fn queries_without_words_are_refused() {
        for raw in ["", "   ", "-only", "!!! ???", "\"\""] {
            let err = SearchQuery::parse(raw).unwrap_err();
            assert!(matches!(err, CrmError::Validation(_)), "{raw}: {err:?}");
        }
        assert!(SearchQuery::parse(&"a ".repeat(17)).is_err());
        assert!(SearchQuery::parse(&"x".repeat(501)).is_err());
    }

    #[test]
    fn hostile_input_cannot_escape_the_tsquery() {
        let q = SearchQuery::parse(r#"a" OR 1=1 -- ' ; DROP "b NEAR(c)"#).unwrap();
        let ts = q.to_tsquery();
        assert!(!ts.contains(';') && !ts.contains("--"), "{ts}");
    }

    #[test]
    fn matching_needs_every_phrase_in_some_field_and_no_excluded_one() {
        let doc = text("Acme master agreement", "Payment is due net 30 days after the invoice date.");
        let yes = ["acme", "net 30", "\"net 30\" agreement", "invoi*", "acme -draft", "AGREEMENT payment"];
        for q in yes {
            assert!(SearchQuery::parse(q).unwrap().matches(&doc), "{q}");
        }
        let no = ["\"30 net\"", "acme draft", "acme -invoice", "invoices", "master-payment"];
        for q in no {
            assert!(!SearchQuery::parse(q).unwrap().matches(&doc), "{q}");
        }
    }

    #[test]
    fn title_matches_outrank_text_matches() {
        let q = SearchQuery::parse("renewal").unwrap();
        let in_title = text("Renewal terms", "Nothing here.");
        let in_body = text("Terms", "The renewal happens yearly, as every other clause says at length.");
        assert!(q.score(&in_title) > q.score(&in_body));
    }

    #[test]
    fn snippets_escape_and_mark_the_best_window() {
        let q = SearchQuery::parse("invoice").unwrap();
        let body = format!("{} <b>Invoice</b> & more {}", "lorem ".repeat(40), "ipsum ".repeat(40));
        let s = snippet(&body, &q);
        assert!(s.starts_with('…') && s.ends_with('…'), "{s}");
        assert!(s.contains("&lt;b&gt;<mark>Invoice</mark>&lt;/b&gt; &amp; more"), "{s}");
        assert_eq!(snippet("no match here", &q), "");
        assert_eq!(highlight("Big <Invoice>", &q), "Big &lt;<mark>Invoice</mark>&gt;");
    }
}
