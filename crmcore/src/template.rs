//! The one template engine: minijinja, configured once for campaigns, documents and connectors.
//!
//! - HTML templates are auto-escaped; subject and text templates are not.
//! - Undefined variables are strict: printing, testing or iterating one fails, except through
//!   `is defined` and the `default` filter (`{{ first_name | default("there") }}`).
//! - Every render runs on a fuel budget ([`FUEL`]), so a runaway loop aborts with a typed error
//!   (a [`FieldError`] with code [`code::OUT_OF_FUEL`]) instead of holding a worker.
//! - [`TemplateSet::compile`] reports syntax errors and variables outside the declared list with
//!   line numbers, as field errors on `subject`, `html` and `text`, when the template is saved.
//! - Compile once, render many: a [`CompiledTemplate`] is cheap to share (`Send + Sync`).
//!   When a set has no text part, its text is derived from the HTML *template* at compile time
//!   ([`html_to_text`] with the template tags kept), so each send renders a small text template
//!   instead of converting 20 KB of HTML.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;

use minijinja::value::{Serde, Value, merge_maps};
use minijinja::{AutoEscape, Environment, ErrorKind, UndefinedBehavior};
use serde::{Deserialize, Serialize};

use crate::error::{CrmError, FieldError, Result};

/// Instructions one render may execute before it is aborted.
pub const FUEL: u64 = 200_000;
/// Deepest nesting (loops, calls) a template may reach.
const RECURSION_LIMIT: usize = 64;

/// Stable codes of the field errors this module reports.
pub mod code {
    /// The template does not parse.
    pub const SYNTAX: &str = "template_syntax";
    /// The template uses a variable outside the declared list.
    pub const UNKNOWN_VARIABLE: &str = "unknown_variable";
    /// A render used a variable the context does not hold (and that has no default).
    pub const UNDEFINED: &str = "undefined_variable";
    /// A render ran out of fuel: the template loops too long.
    pub const OUT_OF_FUEL: &str = "out_of_fuel";
    /// A render failed for another reason (a filter on a wrong type, …).
    pub const RENDER: &str = "render_failed";
}

/// Which part of a message a template renders; it names the field of errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Part {
    /// The subject line (not escaped; line breaks folded to spaces).
    Subject,
    /// The HTML body (auto-escaped).
    Html,
    /// The plain-text body (not escaped).
    Text,
}

impl Part {
    /// The field name used in errors: `subject`, `html` or `text`.
    pub fn field(self) -> &'static str {
        match self {
            Part::Subject => "subject",
            Part::Html => "html",
            Part::Text => "text",
        }
    }
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.field())
    }
}

/// A variable a template may use, with an optional default used when the context lacks it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Variable {
    /// Top-level name, e.g. `first_name` or `contact` (for `contact.company`).
    pub name: String,
    /// Value used when the render context has no such key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<serde_json::Value>,
}

impl Variable {
    /// A required variable (no default).
    pub fn new(name: impl Into<String>) -> Self {
        Self { name: name.into(), default: None }
    }

    /// A variable with a default value.
    pub fn with_default(name: impl Into<String>, default: impl Into<serde_json::Value>) -> Self {
        Self { name: name.into(), default: Some(default.into()) }
    }
}

/// The sources of one e-mail: subject, HTML and an optional text part.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TemplateSet {
    /// Subject template.
    pub subject: String,
    /// HTML body template.
    pub html: String,
    /// Text body template; derived from the HTML when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

impl TemplateSet {
    /// A set from its parts.
    pub fn new(subject: impl Into<String>, html: impl Into<String>, text: Option<String>) -> Self {
        Self { subject: subject.into(), html: html.into(), text }
    }

    /// Compiles the set, allowing only `variables` (and the engine's globals such as `range`).
    /// Every syntax error and unknown variable of every part is reported at once, each as a
    /// [`FieldError`] on `subject`, `html` or `text` whose message starts with `line N:`.
    pub fn compile(&self, variables: &[Variable]) -> Result<CompiledTemplate> {
        CompiledTemplate::compile(self, variables)
    }
}

/// One rendered e-mail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rendered {
    /// Subject line, on one line.
    pub subject: String,
    /// HTML body.
    pub html: String,
    /// Plain-text body.
    pub text: String,
}

/// How the text part is produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TextMode {
    /// A text template (given, or derived from the HTML template) is rendered.
    Template { derived: bool },
    /// The rendered HTML is converted; used when the HTML template cannot be converted safely
    /// (it emits markup from values through `safe`, `escape`, `raw`, …).
    FromHtml,
}

/// A compiled [`TemplateSet`]: render it once per recipient.
pub struct CompiledTemplate {
    env: Environment<'static>,
    text_mode: TextMode,
    defaults: Value,
    has_defaults: bool,
    variables: Vec<Variable>,
}

impl fmt::Debug for CompiledTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompiledTemplate")
            .field("text_mode", &self.text_mode)
            .field("variables", &self.variables)
            .finish_non_exhaustive()
    }
}

/// The environment every template runs in: auto-escaping by part, strict undefined, fuel.
fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|name| if name == "html" { AutoEscape::Html } else { AutoEscape::None });
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(FUEL));
    env.set_recursion_limit(RECURSION_LIMIT);
    env
}

impl CompiledTemplate {
    /// See [`TemplateSet::compile`].
    pub fn compile(set: &TemplateSet, variables: &[Variable]) -> Result<Self> {
        let mut env = environment();
        let mut allowed: HashSet<String> = env.globals().map(|(name, _)| name.to_owned()).collect();
        for variable in variables {
            let top = variable.name.split('.').next().unwrap_or_default();
            allowed.insert(top.to_owned());
        }
        let mut errors = Vec::new();
        add_part(&mut env, Part::Subject, &set.subject, &allowed, &mut errors);
        add_part(&mut env, Part::Html, &set.html, &allowed, &mut errors);
        let text_mode = match &set.text {
            Some(text) => {
                add_part(&mut env, Part::Text, text, &allowed, &mut errors);
                TextMode::Template { derived: false }
            }
            None => derive_text(&mut env, &set.html),
        };
        if !errors.is_empty() {
            return Err(CrmError::Validation(errors));
        }
        let defaults: BTreeMap<String, Value> = variables
            .iter()
            .filter_map(|v| v.default.as_ref().map(|d| (v.name.clone(), Value::from(Serde(d)))))
            .collect();
        let has_defaults = !defaults.is_empty();
        Ok(Self {
            env,
            text_mode,
            defaults: Value::from(Serde(&defaults)),
            has_defaults,
            variables: variables.to_vec(),
        })
    }

    /// The variables this template was compiled against.
    pub fn variables(&self) -> &[Variable] {
        &self.variables
    }

    /// Renders all parts for one context (a JSON object; declared defaults fill missing keys).
    /// A failure is a [`CrmError::Validation`] on the failing part with one of the [`code`]s.
    pub fn render(&self, context: &serde_json::Value) -> Result<Rendered> {
        let ctx = Value::from(Serde(context));
        let ctx = if self.has_defaults { merge_maps([self.defaults.clone(), ctx]) } else { ctx };
        let subject = fold_lines(&self.render_part(Part::Subject, &ctx)?);
        let html = self.render_part(Part::Html, &ctx)?;
        let text = match self.text_mode {
            TextMode::Template { derived: false } => self.render_part(Part::Text, &ctx)?,
            TextMode::Template { derived: true } => resolve_marks(&self.render_part(Part::Text, &ctx)?),
            TextMode::FromHtml => html_to_text(&html),
        };
        Ok(Rendered { subject, html, text })
    }

    fn render_part(&self, part: Part, ctx: &Value) -> Result<String> {
        let template = self.env.get_template(part.field()).map_err(|e| CrmError::Internal(e.to_string()))?;
        template.render(ctx).map_err(|e| render_error(part, &e))
    }
}

fn render_error(part: Part, error: &minijinja::Error) -> CrmError {
    let code = match error.kind() {
        ErrorKind::OutOfFuel => code::OUT_OF_FUEL,
        ErrorKind::UndefinedError => code::UNDEFINED,
        _ => code::RENDER,
    };
    let detail = error.detail().map(str::to_owned).unwrap_or_else(|| error.kind().to_string());
    let message = match error.line() {
        Some(line) => format!("line {line}: {detail}"),
        None => detail,
    };
    CrmError::Validation(vec![FieldError::new(part.field(), code, message)])
}

/// Adds one part's template to `env`, recording syntax errors and unknown variables.
fn add_part(
    env: &mut Environment<'static>,
    part: Part,
    source: &str,
    allowed: &HashSet<String>,
    errors: &mut Vec<FieldError>,
) {
    if let Err(e) = env.add_template_owned(part.field(), source.to_owned()) {
        let detail = e.detail().map(str::to_owned).unwrap_or_else(|| e.kind().to_string());
        let line = e.line().unwrap_or(1);
        errors.push(FieldError::new(part.field(), code::SYNTAX, format!("line {line}: {detail}")));
        return;
    }
    let Ok(template) = env.get_template(part.field()) else { return };
    let unknown: BTreeSet<String> =
        template.undeclared_variables(false).into_iter().filter(|name| !allowed.contains(name)).collect();
    for name in unknown {
        let line = variable_line(source, &name).unwrap_or(1);
        errors.push(FieldError::new(
            part.field(),
            code::UNKNOWN_VARIABLE,
            format!("line {line}: unknown variable `{name}`"),
        ));
    }
}

/// Chooses how the text part of a set without one is made: a template derived from the HTML
/// template when that is safe and compiles, else conversion of each rendered HTML body.
fn derive_text(env: &mut Environment<'static>, html: &str) -> TextMode {
    if has_unsafe_markup_tags(html) {
        return TextMode::FromHtml;
    }
    let source = convert(html, true);
    let html_vars = env.get_template("html").map(|t| t.undeclared_variables(false)).unwrap_or_default();
    if env.add_template_owned("text", source).is_err() {
        env.remove_template("text");
        return TextMode::FromHtml;
    }
    let same_vars = env.get_template("text").map(|t| t.undeclared_variables(false).is_subset(&html_vars));
    if !same_vars.unwrap_or(false) {
        env.remove_template("text");
        return TextMode::FromHtml;
    }
    TextMode::Template { derived: true }
}

/// Whether some template tag of `html` may emit markup or change escaping, which a text template
/// derived from the markup could not reproduce.
fn has_unsafe_markup_tags(html: &str) -> bool {
    const WORDS: [&str; 5] = ["safe", "escape", "raw", "|e", "| e"];
    jinja_tags(html).any(|(_, tag)| WORDS.iter().any(|w| tag.contains(w)))
}

/// The template tags (`{{ … }}`, `{% … %}`) of a source, with their byte offsets.
fn jinja_tags(source: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut rest = 0;
    std::iter::from_fn(move || {
        loop {
            let start = rest + source.get(rest..)?.find('{')?;
            let close = match source.as_bytes().get(start + 1) {
                Some(b'{') => "}}",
                Some(b'%') => "%}",
                _ => {
                    rest = start + 1;
                    continue;
                }
            };
            let end = source[start + 2..].find(close).map(|i| start + 2 + i + 2).unwrap_or(source.len());
            rest = end;
            return Some((start, &source[start..end]));
        }
    })
}

/// The 1-based line of the first template tag that mentions `name` as a whole word.
fn variable_line(source: &str, name: &str) -> Option<usize> {
    let is_ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    jinja_tags(source).find_map(|(offset, tag)| {
        let bytes = tag.as_bytes();
        let found = tag.match_indices(name).any(|(i, _)| {
            let before = i.checked_sub(1).map(|j| bytes[j]);
            let after = bytes.get(i + name.len()).copied();
            !before.is_some_and(|b| is_ident(b) || b == b'.') && !after.is_some_and(is_ident)
        });
        found.then(|| source[..offset].bytes().filter(|&b| b == b'\n').count() + 1)
    })
}

/// A subject on one line: every run of whitespace containing a line break becomes one space.
fn fold_lines(subject: &str) -> String {
    if !subject.contains(['\r', '\n']) {
        return subject.trim().to_owned();
    }
    subject.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Marks, in a text template derived from HTML, where a block element asks for a line break
/// ([`LINE_MARK`]) or a blank line ([`PARAGRAPH_MARK`]). Template tags may sit between two
/// marks, so the break actually written is only known once rendered: see [`resolve_marks`].
const LINE_MARK: char = '\u{1f}';
/// See [`LINE_MARK`].
const PARAGRAPH_MARK: char = '\u{1e}';

/// Turns the marks of a rendered derived text into line breaks: a run of marks and spaces
/// becomes as many line breaks as its strongest mark asks for (counting those already written),
/// none at the start or the end.
fn resolve_marks(text: &str) -> String {
    let is_mark = |b: u8| b == LINE_MARK as u8 || b == PARAGRAPH_MARK as u8;
    let mut out = String::with_capacity(text.len());
    let mut pending = 0usize;
    let mut rest = text;
    // Runs of plain text are copied whole; marks, and the spaces after them, byte by byte (all
    // ASCII, so every cut is on a character boundary).
    while let Some(&first) = rest.as_bytes().first() {
        if pending > 0 || is_mark(first) {
            let skipped = rest
                .bytes()
                .take_while(|&b| {
                    match b {
                        b if b == LINE_MARK as u8 => pending = pending.max(1),
                        b if b == PARAGRAPH_MARK as u8 => pending = pending.max(2),
                        b' ' | b'\t' if pending > 0 => {}
                        _ => return false,
                    }
                    true
                })
                .count();
            rest = &rest[skipped..];
            if rest.is_empty() {
                break;
            }
            if pending > 0 && !out.is_empty() {
                out.truncate(out.trim_end_matches([' ', '\t']).len());
                let have = out.bytes().rev().take_while(|&b| b == b'\n').count();
                for _ in have..pending {
                    out.push('\n');
                }
            }
            pending = 0;
        }
        let run = memchr::memchr2(LINE_MARK as u8, PARAGRAPH_MARK as u8, rest.as_bytes()).unwrap_or(rest.len());
        out.push_str(&rest[..run]);
        rest = &rest[run..];
    }
    out.truncate(out.trim_end().len());
    out
}

/// Converts HTML to readable plain text: block elements become line breaks, list items get
/// `- `, links read `text (url)`, entities are decoded, and scripts, styles and the head are
/// dropped. It never fails: malformed markup is read as leniently as a browser would.
pub fn html_to_text(html: &str) -> String {
    convert(html, false)
}

/// Elements whose content is never shown.
const HIDDEN: [&str; 6] = ["script", "style", "head", "title", "template", "noscript"];

/// How an element breaks the flow of text.
fn block_breaks(name: &str) -> usize {
    match name {
        "p" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6" | "ul" | "ol" | "table" | "blockquote" | "pre" | "hr" | "dl"
        | "figure" | "address" => 2,
        "div" | "li" | "tr" | "section" | "article" | "header" | "footer" | "nav" | "aside" | "main" | "form"
        | "center" | "dt" | "dd" | "figcaption" | "caption" | "tbody" | "thead" | "tfoot" | "body" | "html" => 1,
        _ => 0,
    }
}

struct TextWriter {
    out: String,
    breaks: usize,
    space: bool,
    pre: usize,
    /// Writes breaks as [`LINE_MARK`]/[`PARAGRAPH_MARK`] (when deriving a text template).
    marks: bool,
}

impl TextWriter {
    fn request_breaks(&mut self, n: usize) {
        self.breaks = self.breaks.max(n);
    }

    /// Writes the pending separator before visible content.
    fn flush(&mut self) {
        if self.out.is_empty() {
            self.breaks = 0;
            self.space = false;
            return;
        }
        if self.breaks > 0 && self.marks {
            self.out.push(if self.breaks > 1 { PARAGRAPH_MARK } else { LINE_MARK });
        } else if self.breaks > 0 {
            while self.out.ends_with(' ') {
                self.out.pop();
            }
            let have = self.out.bytes().rev().take_while(|&b| b == b'\n').count();
            for _ in have..self.breaks {
                self.out.push('\n');
            }
        } else if self.space && !self.out.ends_with([' ', '\n']) {
            self.out.push(' ');
        }
        self.breaks = 0;
        self.space = false;
    }

    fn push_str(&mut self, s: &str) {
        if !s.is_empty() {
            self.flush();
            self.out.push_str(s);
        }
    }

    /// Text content: whitespace collapses outside `<pre>`.
    fn text(&mut self, s: &str) {
        if self.pre > 0 {
            self.push_str(s);
            return;
        }
        let mut first = true;
        for word in s.split(|c: char| c.is_ascii_whitespace()) {
            if !first {
                self.space = true;
            }
            first = false;
            self.push_str(word);
        }
    }
}

/// One open `<a>`: where its text starts in the output, and its target.
struct OpenLink {
    start: usize,
    href: String,
}

/// The converter behind [`html_to_text`]; with `keep_tags`, template tags pass through verbatim
/// (so an HTML template becomes a text template).
fn convert(html: &str, keep_tags: bool) -> String {
    let bytes = html.as_bytes();
    let mut w =
        TextWriter { out: String::with_capacity(html.len() / 3), breaks: 0, space: false, pre: 0, marks: keep_tags };
    let mut links: Vec<OpenLink> = Vec::new();
    let mut i = 0;
    let mut run = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let special = b == b'<' || b == b'&' || (keep_tags && b == b'{');
        if !special {
            i += 1;
            continue;
        }
        w.text(&html[run..i]);
        match b {
            b'&' => {
                let (decoded, len) = decode_entity(&html[i..]);
                match decoded {
                    Some(Entity::Char(c)) => {
                        let mut buf = [0u8; 4];
                        if c == ' ' {
                            w.space = true;
                        } else {
                            w.push_str(c.encode_utf8(&mut buf));
                        }
                    }
                    Some(Entity::Nothing) => {}
                    None => w.push_str(&html[i..i + len]),
                }
                i += len;
            }
            b'{' => {
                let end = template_tag_end(html, i);
                match end {
                    Some(end) => {
                        let tag = &html[i..end];
                        if tag.starts_with("{#") {
                            // Comments render nothing; keep them out of the text template.
                        } else if tag.starts_with("{%") {
                            // Statements emit nothing themselves: the separator pending before
                            // them is written first, so a loop body does not repeat it.
                            w.flush();
                            w.out.push_str(tag);
                        } else {
                            w.push_str(tag);
                        }
                        i = end;
                    }
                    None => {
                        w.push_str("{");
                        i += 1;
                    }
                }
            }
            _ => {
                i = handle_markup(html, i, keep_tags, &mut w, &mut links);
            }
        }
        run = i;
    }
    w.text(&html[run..]);
    if !keep_tags {
        w.out.truncate(w.out.trim_end().len());
    }
    w.out
}

/// The end (exclusive) of a template tag starting at `i` (`{{`, `{%` or `{#`), if it is one.
fn template_tag_end(html: &str, i: usize) -> Option<usize> {
    let close = match html.as_bytes().get(i + 1)? {
        b'{' => "}}",
        b'%' => "%}",
        b'#' => "#}",
        _ => return None,
    };
    html[i + 2..].find(close).map(|j| i + 2 + j + 2)
}

/// Reads markup starting at `<` (position `i`) and returns where text resumes.
fn handle_markup(html: &str, i: usize, keep_tags: bool, w: &mut TextWriter, links: &mut Vec<OpenLink>) -> usize {
    let rest = &html[i..];
    if let Some(comment) = rest.strip_prefix("<!--") {
        return comment.find("-->").map(|j| i + 4 + j + 3).unwrap_or(html.len());
    }
    let bytes = rest.as_bytes();
    let closing = bytes.get(1) == Some(&b'/');
    let name_start = if closing { 2 } else { 1 };
    match bytes.get(name_start) {
        Some(b) if b.is_ascii_alphabetic() => {}
        Some(b'!' | b'?') if !closing => {
            return rest.find('>').map(|j| i + j + 1).unwrap_or(html.len());
        }
        _ => {
            // A lone `<` is text.
            w.push_str("<");
            return i + 1;
        }
    }
    let name_len = bytes[name_start..].iter().take_while(|b| b.is_ascii_alphanumeric()).count();
    let name = rest[name_start..name_start + name_len].to_ascii_lowercase();
    let (attrs, tag_len) = scan_tag(&rest[name_start + name_len..], keep_tags);
    let after = i + name_start + name_len + tag_len;

    if !closing && HIDDEN.contains(&name.as_str()) {
        return skip_hidden(html, after, &name);
    }
    if closing {
        match name.as_str() {
            "a" => close_link(w, links),
            "pre" => w.pre = w.pre.saturating_sub(1),
            _ => {}
        }
        w.request_breaks(block_breaks(&name));
        return after;
    }
    match name.as_str() {
        "br" => {
            w.flush();
            w.out.push('\n');
        }
        "li" => {
            w.request_breaks(1);
            w.push_str("- ");
        }
        "td" | "th" => w.space = true,
        "a" => {
            let href = attribute(attrs, "href").map(|h| decode_entities(h.trim(), keep_tags)).unwrap_or_default();
            w.flush();
            links.push(OpenLink { start: w.out.len(), href });
        }
        "img" => {
            if let Some(alt) = attribute(attrs, "alt").map(str::trim).filter(|a| !a.is_empty()) {
                w.push_str(&decode_entities(alt, keep_tags));
            }
        }
        "pre" => {
            w.request_breaks(2);
            w.pre += 1;
        }
        _ => w.request_breaks(block_breaks(&name)),
    }
    after
}

/// Ends an `<a>`: appends ` (url)` unless the link has no useful target or shows it already.
fn close_link(w: &mut TextWriter, links: &mut Vec<OpenLink>) {
    let Some(link) = links.pop() else { return };
    let href = link.href;
    if href.is_empty() || href.starts_with('#') || href.starts_with("javascript:") {
        return;
    }
    let shown = w.out.get(link.start..).unwrap_or_default().trim();
    let bare = href.strip_prefix("mailto:").unwrap_or(&href);
    if shown == href || shown == bare {
        return;
    }
    if shown.is_empty() {
        w.push_str(bare);
    } else {
        w.out.push_str(" (");
        w.out.push_str(bare);
        w.out.push(')');
    }
}

/// Skips the content of a hidden element whose start tag ends at `from`, through its end tag.
fn skip_hidden(html: &str, from: usize, name: &str) -> usize {
    let bytes = html.as_bytes();
    let mut j = from;
    while let Some(k) = html[j..].find("</") {
        let start = j + k + 2;
        let end = start + name.len();
        if end <= html.len() && bytes[start..end].eq_ignore_ascii_case(name.as_bytes()) {
            return html[end..].find('>').map(|m| end + m + 1).unwrap_or(html.len());
        }
        j = start;
    }
    html.len()
}

/// The attribute text of a tag (after its name) and the length through the closing `>`, honouring
/// quotes and, with `keep_tags`, template tags.
fn scan_tag(rest: &str, keep_tags: bool) -> (&str, usize) {
    let bytes = rest.as_bytes();
    let mut quote: Option<u8> = None;
    let mut k = 0;
    while k < bytes.len() {
        let b = bytes[k];
        if keep_tags
            && b == b'{'
            && let Some(end) = template_tag_end(rest, k)
        {
            k = end;
            continue;
        }
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'"' || b == b'\'' => quote = Some(b),
            None if b == b'>' => return (&rest[..k], k + 1),
            None => {}
        }
        k += 1;
    }
    (rest, rest.len())
}

/// The raw value of attribute `name` in a tag's attribute text.
fn attribute<'a>(attrs: &'a str, name: &str) -> Option<&'a str> {
    let bytes = attrs.as_bytes();
    let mut k = 0;
    while k < bytes.len() {
        while k < bytes.len() && (bytes[k].is_ascii_whitespace() || bytes[k] == b'/') {
            k += 1;
        }
        let key_start = k;
        while k < bytes.len() && !bytes[k].is_ascii_whitespace() && !matches!(bytes[k], b'=' | b'>' | b'/') {
            if bytes[k] == b'"' || bytes[k] == b'\'' {
                break;
            }
            k += 1;
        }
        let key = &attrs[key_start..k];
        while k < bytes.len() && bytes[k].is_ascii_whitespace() {
            k += 1;
        }
        let mut value = "";
        if bytes.get(k) == Some(&b'=') {
            k += 1;
            while k < bytes.len() && bytes[k].is_ascii_whitespace() {
                k += 1;
            }
            match bytes.get(k) {
                Some(&q @ (b'"' | b'\'')) => {
                    let end = attrs[k + 1..].find(q as char).map(|e| k + 1 + e).unwrap_or(attrs.len());
                    value = &attrs[k + 1..end];
                    k = end + 1;
                }
                _ => {
                    let start = k;
                    while k < bytes.len() && !bytes[k].is_ascii_whitespace() {
                        k += 1;
                    }
                    value = &attrs[start..k];
                }
            }
        }
        if key.eq_ignore_ascii_case(name) {
            return Some(value);
        }
        if k == key_start {
            k += 1;
        }
    }
    None
}

enum Entity {
    Char(char),
    Nothing,
}

/// Decodes the entity at the start of `s` (which starts with `&`): the entity and bytes consumed,
/// or `None` and 1 when it is not one.
fn decode_entity(s: &str) -> (Option<Entity>, usize) {
    let body_end = s.as_bytes().iter().skip(1).take(32).position(|&b| b == b';');
    let Some(end) = body_end.map(|p| p + 1) else { return (None, 1) };
    let body = &s[1..end];
    let c = if let Some(num) = body.strip_prefix('#') {
        let code = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok(),
            None => num.parse::<u32>().ok(),
        };
        match code.and_then(char::from_u32) {
            Some('\u{a0}') => Some(Entity::Char(' ')),
            Some('\u{ad}' | '\u{200b}' | '\u{200c}' | '\u{200d}' | '\u{feff}' | '\u{34f}') => Some(Entity::Nothing),
            Some(c) => Some(Entity::Char(c)),
            None => None,
        }
    } else {
        named_entity(body)
    };
    match c {
        Some(e) => (Some(e), end + 1),
        None => (None, 1),
    }
}

fn named_entity(name: &str) -> Option<Entity> {
    let c = match name {
        "amp" | "AMP" => '&',
        "lt" | "LT" => '<',
        "gt" | "GT" => '>',
        "quot" | "QUOT" => '"',
        "apos" => '\'',
        "nbsp" | "ensp" | "emsp" | "thinsp" => ' ',
        "shy" | "zwnj" | "zwj" => return Some(Entity::Nothing),
        "copy" => '©',
        "reg" => '®',
        "trade" => '™',
        "hellip" => '…',
        "mdash" => '—',
        "ndash" => '–',
        "lsquo" => '‘',
        "rsquo" => '’',
        "sbquo" => '‚',
        "ldquo" => '“',
        "rdquo" => '”',
        "bdquo" => '„',
        "laquo" => '«',
        "raquo" => '»',
        "bull" => '•',
        "middot" => '·',
        "euro" => '€',
        "pound" => '£',
        "yen" => '¥',
        "cent" => '¢',
        "sect" => '§',
        "deg" => '°',
        "times" => '×',
        "divide" => '÷',
        "plusmn" => '±',
        "rarr" => '→',
        "larr" => '←',
        "check" => '✓',
        "agrave" => 'à',
        "aacute" => 'á',
        "acirc" => 'â',
        "auml" => 'ä',
        "ccedil" => 'ç',
        "egrave" => 'è',
        "eacute" => 'é',
        "ecirc" => 'ê',
        "euml" => 'ë',
        "iacute" => 'í',
        "iuml" => 'ï',
        "ntilde" => 'ñ',
        "oacute" => 'ó',
        "ocirc" => 'ô',
        "ouml" => 'ö',
        "uacute" => 'ú',
        "ugrave" => 'ù',
        "uuml" => 'ü',
        "szlig" => 'ß',
        "Eacute" => 'É',
        "Auml" => 'Ä',
        "Ouml" => 'Ö',
        "Uuml" => 'Ü',
        _ => return None,
    };
    Some(Entity::Char(c))
}

/// Decodes every entity in an attribute value (template tags left alone with `keep_tags`).
fn decode_entities(s: &str, keep_tags: bool) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while let Some(k) = s[i..].find(['&', '{']) {
        let at = i + k;
        out.push_str(&s[i..at]);
        if s.as_bytes()[at] == b'{' {
            let end = if keep_tags { template_tag_end(s, at).unwrap_or(at + 1) } else { at + 1 };
            out.push_str(&s[at..end]);
            i = end;
            continue;
        }
        let (entity, len) = decode_entity(&s[at..]);
        match entity {
            Some(Entity::Char(c)) => out.push(c),
            Some(Entity::Nothing) => {}
            None => out.push_str(&s[at..at + len]),
        }
        i = at + len;
    }
    out.push_str(&s[i..]);
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn vars(names: &[&str]) -> Vec<Variable> {
        names.iter().map(|n| Variable::new(*n)).collect()
    }

    fn field_errors(err: CrmError) -> Vec<FieldError> {
        match err {
            CrmError::Validation(errors) => errors,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn renders_all_parts_with_html_escaping_only_in_html() {
        let set = TemplateSet::new("Hi {{ name }}", "<p>Hello {{ name }}</p>", Some("Hello {{ name }}".into()));
        let t = set.compile(&vars(&["name"])).unwrap();
        let r = t.render(&json!({ "name": "Tom & <Jerry>" })).unwrap();
        assert_eq!(r.subject, "Hi Tom & <Jerry>");
        assert_eq!(r.html, "<p>Hello Tom &amp; &lt;Jerry&gt;</p>");
        assert_eq!(r.text, "Hello Tom & <Jerry>");
    }

    #[test]
    fn syntax_errors_are_field_errors_with_line_numbers() {
        let set = TemplateSet::new("Hi {{ name", "<p>\n\n{% if name %}open</p>", None);
        let errors = field_errors(set.compile(&vars(&["name"])).unwrap_err());
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert_eq!(errors[0].field, "subject");
        assert_eq!(errors[0].code, code::SYNTAX);
        assert!(errors[0].message.starts_with("line 1:"), "{}", errors[0].message);
        assert_eq!(errors[1].field, "html");
        assert!(errors[1].message.starts_with("line 3:"), "{}", errors[1].message);
    }

    #[test]
    fn unknown_variables_are_reported_with_their_line() {
        let set = TemplateSet::new(
            "{{ first_name }}",
            "<p>ok {{ first_name }}</p>\n<p>{{ frist_name }}</p>\n{% for i in range(3) %}{{ i }}{% endfor %}",
            Some("{{ first_name }}\n\n{{ company.name }}".into()),
        );
        let errors = field_errors(set.compile(&vars(&["first_name"])).unwrap_err());
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert_eq!(errors[0], FieldError::new("html", code::UNKNOWN_VARIABLE, "line 2: unknown variable `frist_name`"));
        assert_eq!(errors[1], FieldError::new("text", code::UNKNOWN_VARIABLE, "line 3: unknown variable `company`"));
        // Declaring the top-level name (or a dotted path under it) allows it.
        set.compile(&vars(&["first_name", "frist_name", "company.name"])).unwrap();
    }

    #[test]
    fn defaults_from_the_filter_and_from_declarations() {
        let set = TemplateSet::new(
            "Hello {{ first_name | default(\"there\") }}",
            "<p>{{ greeting }}, {{ first_name | default(\"there\") }}</p>",
            None,
        );
        let t = set.compile(&[Variable::new("first_name"), Variable::with_default("greeting", "Hi")]).unwrap();
        let r = t.render(&json!({})).unwrap();
        assert_eq!(r.subject, "Hello there");
        assert_eq!(r.html, "<p>Hi, there</p>");
        let r = t.render(&json!({ "first_name": "Ada", "greeting": "Welcome" })).unwrap();
        assert_eq!(r.subject, "Hello Ada");
        assert_eq!(r.html, "<p>Welcome, Ada</p>");
        assert_eq!(r.text, "Welcome, Ada");
    }

    #[test]
    fn undefined_variables_fail_the_render() {
        let t = TemplateSet::new("s", "<p>{{ name }}</p>", None).compile(&vars(&["name"])).unwrap();
        let errors = field_errors(t.render(&json!({})).unwrap_err());
        assert_eq!(errors[0].field, "html");
        assert_eq!(errors[0].code, code::UNDEFINED);
    }

    #[test]
    fn runaway_templates_run_out_of_fuel() {
        let html = "{% for a in range(1000) %}{% for b in range(1000) %}x{% endfor %}{% endfor %}";
        let t = TemplateSet::new("s", html, Some("t".into())).compile(&[]).unwrap();
        let errors = field_errors(t.render(&json!({})).unwrap_err());
        assert_eq!(errors[0].field, "html");
        assert_eq!(errors[0].code, code::OUT_OF_FUEL);
    }

    #[test]
    fn subjects_stay_on_one_line() {
        let t = TemplateSet::new("Hi {{ name }}", "x", None).compile(&vars(&["name"])).unwrap();
        let r = t.render(&json!({ "name": "Ada\r\nBcc: victim@example.com" })).unwrap();
        assert_eq!(r.subject, "Hi Ada Bcc: victim@example.com");
    }

    #[test]
    fn derived_text_matches_converted_html() {
        let html = "<html><head><title>T</title><style>p{color:red}</style></head><body>\
            <h1>Hello {{ first_name | default(\"there\") }}!</h1>\
            <p>Your plan: <b>{{ plan }}</b> &amp; more.</p>\
            <ul>{% for item in items %}<li>{{ item }}</li>{% endfor %}</ul>\
            <p><a href=\"{{ url }}?a=1&amp;b=2\">Read more</a></p>\
            {# a comment #}<script>var x = '{{ plan }}';</script></body></html>";
        let t = TemplateSet::new("s", html, None).compile(&vars(&["first_name", "plan", "items", "url"])).unwrap();
        assert_eq!(t.text_mode, TextMode::Template { derived: true });
        let ctx = json!({ "plan": "Pro <gold>", "items": ["one", "two"], "url": "https://x.test/r" });
        let r = t.render(&ctx).unwrap();
        assert_eq!(r.text, html_to_text(&r.html));
        assert_eq!(
            r.text,
            "Hello there!\n\nYour plan: Pro <gold> & more.\n\n- one\n- two\n\nRead more (https://x.test/r?a=1&b=2)"
        );
    }

    #[test]
    fn markup_from_values_falls_back_to_converting_each_render() {
        let t = TemplateSet::new("s", "<div>{{ body | safe }}</div>", None).compile(&vars(&["body"])).unwrap();
        assert_eq!(t.text_mode, TextMode::FromHtml);
        let r = t.render(&json!({ "body": "<p>One</p><p>Two</p>" })).unwrap();
        assert_eq!(r.text, "One\n\nTwo");
    }

    #[test]
    fn html_to_text_handles_real_markup() {
        let html = "<!DOCTYPE html><html><head><meta charset=utf-8><title>News</title>\
            <style>.a { color: red }</style><script>alert('x')</script></head>\
            <body><!-- hidden --><table><tr><td>Left</td><td>Right</td></tr></table>\
            <p>Caf&eacute;? &euro;5 &#8212; &#x2713; &nbsp;spaced</p>\
            <p>Line<br>break</p><a href=\"https://a.test\">https://a.test</a>
            <a href='mailto:x@y.test'>write</a> <a href=#top>top</a>
            <img src=x.png alt=\"Logo &amp; co\"><img src=pixel.gif alt=\"\">\
            <pre>  keep\n  this</pre>a < b</body></html>";
        assert_eq!(
            html_to_text(html),
            "Left Right\n\nCafé? €5 — ✓ spaced\n\nLine\nbreak\n\nhttps://a.test write (x@y.test) top Logo & co\n\n  keep\n  this\n\na < b"
        );
    }

    #[test]
    fn html_to_text_survives_malformed_markup() {
        for html in ["<", "<a href=\"x", "&", "&#xZZ;", "<script>never closed", "</a></p>", "<p<p>>", "é<é>&é;"] {
            let _ = html_to_text(html);
        }
        assert_eq!(html_to_text("<b>unclosed <i>tags"), "unclosed tags");
    }

    /// The plain reading of [`resolve_marks`], one character at a time.
    fn resolve_marks_by_char(text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut pending = 0usize;
        for c in text.chars() {
            match c {
                LINE_MARK => pending = pending.max(1),
                PARAGRAPH_MARK => pending = pending.max(2),
                ' ' | '\t' if pending > 0 => {}
                c => {
                    if pending > 0 && !out.is_empty() {
                        while out.ends_with([' ', '\t']) {
                            out.pop();
                        }
                        let have = out.bytes().rev().take_while(|&b| b == b'\n').count();
                        for _ in have..pending {
                            out.push('\n');
                        }
                    }
                    pending = 0;
                    out.push(c);
                }
            }
        }
        out.truncate(out.trim_end().len());
        out
    }

    proptest::proptest! {
        #[test]
        fn marks_resolve_as_read_one_character_at_a_time(s in "[a\u{1e}\u{1f} \t\né]{0,40}") {
            proptest::prop_assert_eq!(resolve_marks(&s), resolve_marks_by_char(&s));
        }

        #[test]
        fn html_to_text_never_panics(s in "\\PC*") {
            let _ = html_to_text(&s);
            let _ = convert(&s, true);
        }

        #[test]
        fn compile_never_panics(s in "[{}%#a-z <>/\"=|()\n]{0,60}") {
            let _ = TemplateSet::new(s.clone(), s.clone(), None).compile(&vars(&["a"]));
        }
    }
}
