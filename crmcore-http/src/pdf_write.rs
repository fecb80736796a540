//! [`HtmlPdfWriter`]: the [`PdfWriter`] port in pure Rust, for documents rendered from templates.
//!
//! Three steps, each below in its own section:
//! 1. **Parse**: html5gum tokenizes the HTML (entities decoded, tag soup tolerated) and a small
//!    tree builder closes what browsers close implicitly (`<p>`, `<li>`, `<td>`, `<tr>`); `head`,
//!    `style`, `script` and the like are dropped.
//! 2. **Flow**: the tree becomes blocks: paragraphs of styled words (headings `h1`–`h6`, `p`,
//!    list items with bullets or numbers, `pre`, `blockquote`), rules (`hr`) and tables. A table
//!    with one column is a layout table and flows as ordinary blocks; others become a grid whose
//!    cells hold text (nested blocks turn into line breaks).
//! 3. **Lay out and write**: words are measured with the standard fonts' metrics and wrapped
//!    greedily on A4 pages with 20 mm margins; paragraphs, and table rows taller than what is left
//!    of a page, continue on the next page (a table's header row is repeated there); pdf-writer
//!    writes the pages.
//!
//! Text uses the PDF standard fonts (Helvetica and Courier, regular, bold, oblique) with
//! WinAnsiEncoding, so nothing is embedded, files stay small and every word is real, extractable
//! text. The price: only Windows-1252 characters (Latin-1 plus typographic quotes, dashes, `€`
//! and `•`) can be shown; any other character is written as `?`.

use std::fmt;

use async_trait::async_trait;
use crmcore::ports::PdfWriter;
use crmcore::{CrmError, Result};
use html5gum::{DefaultEmitter, Token, Tokenizer};
use pdf_writer::{Content, Finish as _, Name, Pdf, Rect, Ref, Str, TextStr};

// ---------------------------------------------------------------------------------------------
// The writer
// ---------------------------------------------------------------------------------------------

/// Lays HTML out on A4 pages with the PDF standard fonts (see the module docs).
#[derive(Clone)]
pub struct HtmlPdfWriter {
    max_pages: usize,
    max_html_bytes: usize,
}

impl fmt::Debug for HtmlPdfWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HtmlPdfWriter")
            .field("max_pages", &self.max_pages)
            .field("max_html_bytes", &self.max_html_bytes)
            .finish()
    }
}

impl Default for HtmlPdfWriter {
    fn default() -> Self {
        Self::new()
    }
}

/// Documents past this size are laid out on the blocking pool instead of the caller's task.
const INLINE_HTML_BYTES: usize = 64 * 1024;

impl HtmlPdfWriter {
    /// A writer that refuses documents over 4 MiB of HTML or 500 pages.
    pub fn new() -> Self {
        Self { max_pages: 500, max_html_bytes: 4 * 1024 * 1024 }
    }

    /// The same writer with another page limit (at least 1).
    pub fn with_max_pages(mut self, max_pages: usize) -> Self {
        self.max_pages = max_pages.max(1);
        self
    }

    /// The PDF of `html` with `title` in its metadata, computed on the calling thread.
    ///
    /// Returns `Validation` (field `html`) for HTML over the size limit, a table with more
    /// columns than fit across a page, or a layout over the page limit, and (field `title`) for
    /// a title over 1,000 characters.
    pub fn render(&self, html: &str, title: &str) -> Result<Vec<u8>> {
        if html.len() > self.max_html_bytes {
            return Err(CrmError::invalid(
                "html",
                "too_large",
                format!("documents of at most {} bytes of HTML can be laid out", self.max_html_bytes),
            ));
        }
        if title.chars().count() > 1_000 {
            return Err(CrmError::invalid("title", "too_long", "a PDF title has at most 1000 characters"));
        }
        let tree = parse(html);
        let blocks = Flow::blocks(&tree)?;
        let pages = Layout::pages(&blocks, self.max_pages)?;
        Ok(write(&pages, title))
    }
}

#[async_trait]
impl PdfWriter for HtmlPdfWriter {
    async fn html_to_pdf(&self, html: &str, title: &str) -> Result<Vec<u8>> {
        let runtime = tokio::runtime::Handle::try_current();
        let Some(runtime) = runtime.ok().filter(|_| html.len() > INLINE_HTML_BYTES) else {
            return self.render(html, title);
        };
        let (writer, html, title) = (self.clone(), html.to_owned(), title.to_owned());
        runtime
            .spawn_blocking(move || writer.render(&html, &title))
            .await
            .map_err(|e| CrmError::Internal(format!("the PDF layout task failed: {e}")))?
    }
}

// ---------------------------------------------------------------------------------------------
// Fonts: the standard 14 fonts' widths (Adobe's public AFM metrics) and WinAnsiEncoding
// ---------------------------------------------------------------------------------------------

/// Helvetica (and Helvetica-Oblique) advance widths, in 1/1000 em, for WinAnsiEncoding bytes
/// 0x20–0xFF (0 for the five bytes the encoding leaves undefined).
#[rustfmt::skip]
const HELVETICA: [u16; 224] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, // 0x20
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, // 0x30
    1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778, // 0x40
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556, // 0x50
    333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556, // 0x60
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584, 0, // 0x70
    556, 0, 222, 556, 333, 1000, 556, 556, 333, 1000, 667, 333, 1000, 0, 611, 0, // 0x80
    0, 222, 222, 333, 333, 350, 556, 1000, 333, 1000, 500, 333, 944, 0, 500, 667, // 0x90
    278, 333, 556, 556, 556, 556, 260, 556, 333, 737, 370, 556, 584, 333, 737, 333, // 0xA0
    400, 584, 333, 333, 333, 556, 537, 278, 333, 333, 365, 556, 834, 834, 834, 611, // 0xB0
    667, 667, 667, 667, 667, 667, 1000, 722, 667, 667, 667, 667, 278, 278, 278, 278, // 0xC0
    722, 722, 778, 778, 778, 778, 778, 584, 778, 722, 722, 722, 722, 667, 667, 611, // 0xD0
    556, 556, 556, 556, 556, 556, 889, 500, 556, 556, 556, 556, 278, 278, 278, 278, // 0xE0
    556, 556, 556, 556, 556, 556, 556, 584, 611, 556, 556, 556, 556, 500, 556, 500, // 0xF0
];

/// Helvetica-Bold (and Helvetica-BoldOblique) widths, laid out like [`HELVETICA`].
#[rustfmt::skip]
const HELVETICA_BOLD: [u16; 224] = [
    278, 333, 474, 556, 556, 889, 722, 238, 333, 333, 389, 584, 278, 333, 278, 278, // 0x20
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 333, 333, 584, 584, 584, 611, // 0x30
    975, 722, 722, 722, 722, 667, 611, 778, 722, 278, 556, 722, 611, 833, 722, 778, // 0x40
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 333, 278, 333, 584, 556, // 0x50
    333, 556, 611, 556, 611, 556, 333, 611, 611, 278, 278, 556, 278, 889, 611, 611, // 0x60
    611, 611, 389, 556, 333, 611, 556, 778, 556, 556, 500, 389, 280, 389, 584, 0, // 0x70
    556, 0, 278, 556, 500, 1000, 556, 556, 333, 1000, 667, 333, 1000, 0, 611, 0, // 0x80
    0, 278, 278, 500, 500, 350, 556, 1000, 333, 1000, 556, 333, 944, 0, 500, 667, // 0x90
    278, 333, 556, 556, 556, 556, 280, 556, 333, 737, 370, 556, 584, 333, 737, 333, // 0xA0
    400, 584, 333, 333, 333, 611, 556, 278, 333, 333, 365, 556, 834, 834, 834, 611, // 0xB0
    722, 722, 722, 722, 722, 722, 1000, 722, 667, 667, 667, 667, 278, 278, 278, 278, // 0xC0
    722, 722, 778, 778, 778, 778, 778, 584, 778, 722, 722, 722, 722, 667, 667, 611, // 0xD0
    556, 556, 556, 556, 556, 556, 889, 556, 556, 556, 556, 556, 278, 278, 278, 278, // 0xE0
    611, 611, 611, 611, 611, 611, 611, 584, 611, 611, 611, 611, 611, 556, 611, 556, // 0xF0
];

/// Every Courier glyph is 600/1000 em wide.
const COURIER_WIDTH: u16 = 600;

/// The eight fonts, indexed by [`Style::font`]; each page names them `/F0`…`/F7`.
const FONTS: [&[u8]; 8] = [
    b"Helvetica",
    b"Helvetica-Oblique",
    b"Helvetica-Bold",
    b"Helvetica-BoldOblique",
    b"Courier",
    b"Courier-Oblique",
    b"Courier-Bold",
    b"Courier-BoldOblique",
];
const FONT_NAMES: [&[u8]; 8] = [b"F0", b"F1", b"F2", b"F3", b"F4", b"F5", b"F6", b"F7"];

/// How a run of text is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Style {
    bold: bool,
    italic: bool,
    mono: bool,
}

impl Style {
    /// The index into [`FONTS`].
    fn font(self) -> usize {
        usize::from(self.mono) * 4 + usize::from(self.bold) * 2 + usize::from(self.italic)
    }

    /// The advance of the WinAnsiEncoding `byte` at `size` points.
    fn advance(self, byte: u8, size: f32) -> f32 {
        let units = if self.mono {
            COURIER_WIDTH
        } else {
            let table = if self.bold { &HELVETICA_BOLD } else { &HELVETICA };
            table.get(usize::from(byte).wrapping_sub(0x20)).copied().unwrap_or(0)
        };
        f32::from(units) * size / 1000.0
    }

    fn width(self, text: &[u8], size: f32) -> f32 {
        text.iter().map(|b| self.advance(*b, size)).sum()
    }
}

/// The WinAnsiEncoding byte for `c`; `None` for characters that print nothing (soft hyphens,
/// zero-width and control characters), `?` for those the encoding lacks.
fn win_ansi(c: char) -> Option<u8> {
    let byte = match c {
        ' '..='~' | '\u{a0}'..='\u{ac}' | '\u{ae}'..='\u{ff}' => return u8::try_from(u32::from(c)).ok(),
        '\u{ad}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2064}' | '\u{feff}' => {
            return None;
        }
        c if c.is_control() => return None,
        '€' => 0x80,
        '‚' => 0x82,
        'ƒ' => 0x83,
        '„' => 0x84,
        '…' => 0x85,
        '†' => 0x86,
        '‡' => 0x87,
        'ˆ' => 0x88,
        '‰' => 0x89,
        'Š' => 0x8a,
        '‹' => 0x8b,
        'Œ' => 0x8c,
        'Ž' => 0x8e,
        '‘' => 0x91,
        '’' => 0x92,
        '“' => 0x93,
        '”' => 0x94,
        '•' => 0x95,
        '–' => 0x96,
        '—' => 0x97,
        '˜' => 0x98,
        '™' => 0x99,
        'š' => 0x9a,
        '›' => 0x9b,
        'œ' => 0x9c,
        'ž' => 0x9e,
        'Ÿ' => 0x9f,
        '\u{2010}' | '\u{2011}' | '\u{2212}' => b'-',
        '\u{2002}'..='\u{200a}' | '\u{202f}' => b' ',
        _ => b'?',
    };
    Some(byte)
}

const BULLET: u8 = 0x95;
const NBSP: u8 = 0xa0;

// ---------------------------------------------------------------------------------------------
// 1. Parse: tokens into a tree
// ---------------------------------------------------------------------------------------------

/// Elements nested deeper than this are dropped as elements (their text stays), which bounds
/// the recursion of the later steps.
const MAX_DEPTH: usize = 96;

#[derive(Debug, Default)]
struct Element {
    name: String,
    attributes: Vec<(String, String)>,
    children: Vec<Node>,
}

#[derive(Debug)]
enum Node {
    Element(Element),
    Text(String),
}

impl Element {
    fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// `text-align` from the `align` attribute or the inline style.
    fn align(&self) -> Option<Align> {
        let style = self.attribute("style").unwrap_or_default().to_ascii_lowercase().replace(' ', "");
        let declared = style.split(';').find_map(|d| d.strip_prefix("text-align:"));
        match declared.or(self.attribute("align")).map(str::to_ascii_lowercase).as_deref() {
            Some("center") => Some(Align::Center),
            Some("right" | "end") => Some(Align::Right),
            Some("left" | "start" | "justify") => Some(Align::Left),
            _ => None,
        }
    }
}

/// Elements without content or end tag.
fn is_void(name: &str) -> bool {
    matches!(
        name,
        "area"
            | "base"
            | "br"
            | "col"
            | "embed"
            | "hr"
            | "img"
            | "input"
            | "link"
            | "meta"
            | "param"
            | "source"
            | "track"
            | "wbr"
    )
}

/// Elements whose content is never shown.
fn is_hidden(name: &str) -> bool {
    matches!(
        name,
        "head"
            | "title"
            | "script"
            | "style"
            | "template"
            | "noscript"
            | "svg"
            | "math"
            | "iframe"
            | "object"
            | "select"
            | "textarea"
    )
}

/// Elements that keep an open `<p>` from containing them.
fn closes_paragraph(name: &str) -> bool {
    matches!(
        name,
        "p" | "div"
            | "h1"
            | "h2"
            | "h3"
            | "h4"
            | "h5"
            | "h6"
            | "ul"
            | "ol"
            | "dl"
            | "table"
            | "pre"
            | "blockquote"
            | "hr"
            | "section"
            | "article"
            | "header"
            | "footer"
            | "main"
            | "nav"
            | "aside"
            | "address"
            | "figure"
            | "form"
            | "fieldset"
    )
}

fn is_heading(name: &str) -> bool {
    matches!(name, "h1" | "h2" | "h3" | "h4" | "h5" | "h6")
}

/// Builds the tree: a stack of open elements, closed explicitly or as browsers close them.
struct TreeBuilder {
    open: Vec<Element>,
    /// Names of the hidden elements we are inside, innermost last.
    hidden: Vec<String>,
}

impl TreeBuilder {
    fn current(&mut self) -> &mut Element {
        if self.open.is_empty() {
            self.open.push(Element::default());
        }
        let last = self.open.len() - 1;
        &mut self.open[last]
    }

    /// Closes the innermost open elements through the one at `index` (never the root).
    fn close_through(&mut self, index: usize) {
        while self.open.len() > index.max(1) {
            if let Some(done) = self.open.pop() {
                self.current().children.push(Node::Element(done));
            }
        }
    }

    /// The index of the innermost open `name` with none of `boundaries` inside it.
    fn open_in_scope(&self, names: &[&str], boundaries: &[&str]) -> Option<usize> {
        for (index, element) in self.open.iter().enumerate().skip(1).rev() {
            if names.contains(&element.name.as_str()) {
                return Some(index);
            }
            if boundaries.contains(&element.name.as_str()) {
                return None;
            }
        }
        None
    }

    fn start(&mut self, name: String, attributes: Vec<(String, String)>, self_closing: bool) {
        if !self.hidden.is_empty() || is_hidden(&name) {
            if name == "body" {
                self.hidden.clear();
            } else if !self_closing && !is_void(&name) {
                self.hidden.push(name);
            }
            return;
        }
        if matches!(name.as_str(), "html" | "body") {
            return;
        }
        // Implied end tags.
        const CELL_SCOPE: &[&str] = &["table", "td", "th"];
        if closes_paragraph(&name)
            && let Some(p) = self.open_in_scope(&["p"], &["td", "th", "li", "table", "blockquote", "div"])
        {
            self.close_through(p);
        }
        let implied: Option<(&[&str], &[&str])> = match name.as_str() {
            "li" => Some((&["li"], &["ul", "ol", "table", "td", "th"])),
            "dt" | "dd" => Some((&["dt", "dd"], &["dl", "table", "td", "th"])),
            "td" | "th" => Some((&["td", "th"], &["tr", "table"])),
            "tr" => Some((&["tr"], &["table"])),
            "thead" | "tbody" | "tfoot" => Some((&["thead", "tbody", "tfoot"], &["table"])),
            h if is_heading(h) => Some((&["h1", "h2", "h3", "h4", "h5", "h6"], CELL_SCOPE)),
            _ => None,
        };
        if let Some((names, boundaries)) = implied
            && let Some(index) = self.open_in_scope(names, boundaries)
        {
            self.close_through(index);
        }
        let element = Element { name, attributes, children: Vec::new() };
        if is_void(&element.name) || self_closing {
            self.current().children.push(Node::Element(element));
        } else if self.open.len() < MAX_DEPTH {
            self.open.push(element);
        }
    }

    fn end(&mut self, name: &str) {
        if !self.hidden.is_empty() {
            if let Some(index) = self.hidden.iter().rposition(|h| h == name) {
                self.hidden.truncate(index);
            }
            return;
        }
        if name == "br" {
            self.current().children.push(Node::Element(Element { name: "br".into(), ..Element::default() }));
            return;
        }
        if let Some(index) = self.open.iter().skip(1).rposition(|e| e.name == name) {
            self.close_through(index + 1);
        }
    }

    fn text(&mut self, text: &str) {
        if !self.hidden.is_empty() || text.is_empty() {
            return;
        }
        let current = self.current();
        if let Some(Node::Text(previous)) = current.children.last_mut() {
            previous.push_str(text);
        } else {
            current.children.push(Node::Text(text.to_owned()));
        }
    }
}

/// The document as a tree under a nameless root element.
fn parse(html: &str) -> Element {
    let mut emitter = DefaultEmitter::default();
    // Script, style and title content is raw text, not markup.
    emitter.naively_switch_states(true);
    let mut builder = TreeBuilder { open: vec![Element::default()], hidden: Vec::new() };
    for token in Tokenizer::new_with_emitter(html, emitter).flatten() {
        match token {
            Token::StartTag(tag) => {
                let attributes = tag
                    .attributes
                    .iter()
                    .map(|(k, v)| {
                        (String::from_utf8_lossy(k).into_owned(), String::from_utf8_lossy(&v.value).into_owned())
                    })
                    .collect();
                builder.start(String::from_utf8_lossy(&tag.name).into_owned(), attributes, tag.self_closing);
            }
            Token::EndTag(tag) => builder.end(&String::from_utf8_lossy(&tag.name)),
            Token::String(text) => builder.text(&String::from_utf8_lossy(&text)),
            _ => {}
        }
    }
    builder.close_through(1);
    builder.open.pop().unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// 2. Flow: the tree into blocks
// ---------------------------------------------------------------------------------------------

const BODY_SIZE: f32 = 10.5;
const LINE_HEIGHT: f32 = 1.35;
const LIST_INDENT: f32 = 18.0;
/// Indentation stops growing past this many levels.
const MAX_INDENT_LEVELS: usize = 8;
/// Tables with more columns cannot be laid out legibly across an A4 page.
const MAX_COLUMNS: usize = 24;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Align {
    #[default]
    Left,
    Center,
    Right,
}

/// A piece of inline content.
#[derive(Debug, Clone, PartialEq)]
enum Item {
    /// Text without break opportunities (WinAnsiEncoding bytes).
    Text(Style, Vec<u8>),
    /// A break opportunity that shows as a space.
    Space(Style),
    /// A forced line break.
    Break,
}

/// Spacing (points) around a kind of paragraph.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Spacing {
    before: f32,
    after: f32,
}

#[derive(Debug, Clone, PartialEq)]
struct Paragraph {
    items: Vec<Item>,
    size: f32,
    indent: f32,
    align: Align,
    spacing: Spacing,
    /// Set before the first line, in the indentation (a bullet or a number).
    marker: Option<Vec<u8>>,
    /// Headings stay with the line after them.
    keep_with_next: bool,
}

#[derive(Debug, Clone, PartialEq)]
struct Cell {
    items: Vec<Item>,
    span: usize,
    align: Align,
    header: bool,
}

#[derive(Debug, Clone, PartialEq)]
struct Table {
    rows: Vec<Vec<Cell>>,
    indent: f32,
    columns: usize,
    full_width: bool,
    /// The first row repeats on every page the table continues on.
    header_row: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum Block {
    Paragraph(Paragraph),
    Rule { indent: f32 },
    Table(Table),
}

/// What the ancestors of a node say about its layout.
#[derive(Debug, Clone, Copy)]
struct Context {
    style: Style,
    size: f32,
    level: usize,
    align: Align,
    spacing: Spacing,
    pre: bool,
    keep_with_next: bool,
}

impl Context {
    fn indent(self) -> f32 {
        self.level.min(MAX_INDENT_LEVELS) as f32 * LIST_INDENT
    }
}

const PARAGRAPH: Spacing = Spacing { before: 0.0, after: 6.0 };
const LOOSE: Spacing = Spacing { before: 0.0, after: 3.0 };
const LIST_ITEM: Spacing = Spacing { before: 0.0, after: 2.0 };

struct Flow {
    blocks: Vec<Block>,
    open: Option<Paragraph>,
    /// A list marker for the next paragraph.
    marker: Option<Vec<u8>>,
    /// Whether the last item written was white space (or nothing), so more collapses.
    after_space: bool,
}

impl Flow {
    /// The blocks of `root`.
    fn blocks(root: &Element) -> Result<Vec<Block>> {
        let mut flow = Self { blocks: Vec::new(), open: None, marker: None, after_space: true };
        let context = Context {
            style: Style::default(),
            size: BODY_SIZE,
            level: 0,
            align: Align::Left,
            spacing: LOOSE,
            pre: false,
            keep_with_next: false,
        };
        flow.children(root, context)?;
        flow.flush();
        Ok(flow.blocks)
    }

    fn flush(&mut self) {
        if let Some(mut paragraph) = self.open.take() {
            while matches!(paragraph.items.last(), Some(Item::Space(_))) {
                paragraph.items.pop();
            }
            if !paragraph.items.is_empty() {
                self.blocks.push(Block::Paragraph(paragraph));
            }
        }
        self.after_space = true;
    }

    /// The paragraph inline content goes to, opened with `context` when none is.
    fn paragraph(&mut self, context: Context) -> &mut Paragraph {
        let marker = &mut self.marker;
        self.open.get_or_insert_with(|| Paragraph {
            items: Vec::new(),
            size: context.size,
            indent: context.indent(),
            align: context.align,
            spacing: context.spacing,
            marker: marker.take(),
            keep_with_next: context.keep_with_next,
        })
    }

    fn children(&mut self, element: &Element, context: Context) -> Result<()> {
        for child in &element.children {
            match child {
                Node::Text(text) => self.text(text, context),
                Node::Element(child) => self.element(child, context)?,
            }
        }
        Ok(())
    }

    fn text(&mut self, text: &str, context: Context) {
        if context.pre {
            // A newline right after `<pre>` is not content.
            let text = if self.open.is_none() { text.strip_prefix('\n').unwrap_or(text) } else { text };
            let mut line = Vec::new();
            for c in text.chars() {
                match c {
                    '\n' => {
                        let paragraph = self.paragraph(context);
                        if !line.is_empty() {
                            paragraph.items.push(Item::Text(context.style, std::mem::take(&mut line)));
                        }
                        paragraph.items.push(Item::Break);
                    }
                    '\t' => line.extend_from_slice(b"    "),
                    c => line.extend(win_ansi(c)),
                }
            }
            if !line.is_empty() {
                self.paragraph(context).items.push(Item::Text(context.style, line));
            }
            return;
        }
        let mut word = Vec::new();
        for c in text.chars() {
            if matches!(c, ' ' | '\t' | '\n' | '\r' | '\u{c}') {
                if !word.is_empty() {
                    self.paragraph(context).items.push(Item::Text(context.style, std::mem::take(&mut word)));
                }
                if !self.after_space {
                    self.paragraph(context).items.push(Item::Space(context.style));
                    self.after_space = true;
                }
            } else if let Some(byte) = win_ansi(c) {
                word.push(byte);
                self.after_space = false;
            }
        }
        if !word.is_empty() {
            self.paragraph(context).items.push(Item::Text(context.style, word));
        }
    }

    fn block(&mut self, element: &Element, context: Context) -> Result<()> {
        self.flush();
        let context = Context { align: element.align().unwrap_or(context.align), ..context };
        self.children(element, context)?;
        self.flush();
        Ok(())
    }

    fn element(&mut self, element: &Element, context: Context) -> Result<()> {
        let inline = |style: Style| Context { style, ..context };
        match element.name.as_str() {
            "b" | "strong" => self.children(element, inline(Style { bold: true, ..context.style })),
            "i" | "em" | "cite" | "var" | "dfn" => {
                self.children(element, inline(Style { italic: true, ..context.style }))
            }
            "code" | "kbd" | "samp" | "tt" => self.children(element, inline(Style { mono: true, ..context.style })),
            "br" => {
                self.paragraph(context).items.push(Item::Break);
                self.after_space = true;
                Ok(())
            }
            "img" => {
                if let Some(alt) = element.attribute("alt").filter(|a| !a.trim().is_empty()) {
                    self.text(alt, context);
                }
                Ok(())
            }
            "hr" => {
                self.flush();
                self.blocks.push(Block::Rule { indent: context.indent() });
                Ok(())
            }
            heading if is_heading(heading) => {
                let (size, spacing) = match heading {
                    "h1" => (20.0, Spacing { before: 14.0, after: 8.0 }),
                    "h2" => (16.0, Spacing { before: 12.0, after: 6.0 }),
                    "h3" => (13.0, Spacing { before: 10.0, after: 4.0 }),
                    _ => (BODY_SIZE + 0.5, Spacing { before: 8.0, after: 3.0 }),
                };
                let style = Style { bold: true, ..context.style };
                self.block(element, Context { style, size, spacing, keep_with_next: true, ..context })
            }
            "p" | "dt" | "caption" | "figcaption" => {
                self.block(element, Context { spacing: PARAGRAPH, keep_with_next: false, ..context })
            }
            "pre" => self.block(
                element,
                Context { style: Style { mono: true, ..context.style }, pre: true, spacing: PARAGRAPH, ..context },
            ),
            "blockquote" | "dd" => self.block(element, Context { level: context.level + 1, ..context }),
            "ul" | "ol" | "menu" => {
                let list = Context { level: context.level + 1, spacing: LIST_ITEM, ..context };
                self.flush();
                let mut number: i64 = element.attribute("start").and_then(|s| s.trim().parse().ok()).unwrap_or(1);
                for child in &element.children {
                    match child {
                        Node::Element(item) if item.name == "li" => {
                            self.flush();
                            self.marker = Some(match element.name.as_str() {
                                "ol" => format!("{number}.").into_bytes(),
                                _ => vec![BULLET],
                            });
                            number = number.saturating_add(1);
                            self.block(item, list)?;
                            self.marker = None;
                        }
                        Node::Element(other) => self.element(other, list)?,
                        Node::Text(text) => self.text(text, list),
                    }
                }
                self.flush();
                Ok(())
            }
            "table" => self.table(element, context),
            "html" | "body" | "div" | "section" | "article" | "header" | "footer" | "main" | "nav" | "aside"
            | "address" | "figure" | "form" | "fieldset" | "li" | "dl" | "center" | "tr" | "td" | "th" | "thead"
            | "tbody" | "tfoot" => {
                let context =
                    if element.name == "center" { Context { align: Align::Center, ..context } } else { context };
                self.block(element, Context { spacing: LOOSE, keep_with_next: false, ..context })
            }
            _ => self.children(element, context),
        }
    }

    fn table(&mut self, element: &Element, context: Context) -> Result<()> {
        self.flush();
        let mut parts = TableParts::default();
        parts.collect(element, false);
        // What browsers move out of a table (content outside its cells) goes before it.
        for node in parts.outside {
            match node {
                Node::Text(text) => self.text(text, context),
                Node::Element(other) => self.element(other, context)?,
            }
        }
        self.flush();
        for caption in parts.captions {
            self.block(caption, Context { align: Align::Center, spacing: LIST_ITEM, ..context })?;
        }
        let rows = parts.rows;
        let span = |cell: &Element| -> usize {
            cell.attribute("colspan").and_then(|s| s.trim().parse().ok()).unwrap_or(1).clamp(1, MAX_COLUMNS + 1)
        };
        let columns = rows.iter().map(|(row, _)| cells_of(row).iter().map(|c| span(c)).sum::<usize>()).max();
        let columns = columns.unwrap_or(0);
        if columns > MAX_COLUMNS {
            return Err(CrmError::invalid(
                "html",
                "too_wide",
                format!("a table has {columns} columns; at most {MAX_COLUMNS} fit across a page"),
            ));
        }
        if columns <= 1 {
            // A layout table: its cells flow like any other blocks.
            for (row, header) in rows {
                for cell in cells_of(row) {
                    let style = Style { bold: context.style.bold || header || cell.name == "th", ..context.style };
                    self.block(cell, Context { style, ..context })?;
                }
            }
            return Ok(());
        }
        let mut grid = Vec::with_capacity(rows.len());
        for (row, header) in &rows {
            let mut cells = Vec::new();
            for cell in cells_of(row) {
                let header = *header || cell.name == "th";
                let style = Style { bold: header, ..Style::default() };
                let inner = Context {
                    style,
                    size: BODY_SIZE,
                    level: 0,
                    align: Align::Left,
                    spacing: LOOSE,
                    pre: false,
                    keep_with_next: false,
                };
                let items = cell_items(cell, inner)?;
                cells.push(Cell { items, span: span(cell), align: cell.align().unwrap_or(Align::Left), header });
            }
            grid.push(cells);
        }
        let header_row = grid.first().is_some_and(|cells| !cells.is_empty() && cells.iter().all(|c| c.header));
        let width = element.attribute("width").unwrap_or_default().trim().to_owned();
        let style = element.attribute("style").unwrap_or_default().to_ascii_lowercase().replace(' ', "");
        let full_width = width == "100%" || style.split(';').any(|d| d == "width:100%");
        self.blocks.push(Block::Table(Table { rows: grid, indent: context.indent(), columns, full_width, header_row }));
        Ok(())
    }
}

/// A table's rows (through `thead`, `tbody`, `tfoot`; nested tables stay inside their cells),
/// with whether each is a header row, its captions, and what stands outside any row.
#[derive(Default)]
struct TableParts<'a> {
    rows: Vec<(&'a Element, bool)>,
    captions: Vec<&'a Element>,
    outside: Vec<&'a Node>,
}

impl<'a> TableParts<'a> {
    fn collect(&mut self, element: &'a Element, header: bool) {
        for child in &element.children {
            match child {
                Node::Element(e) if e.name == "tr" => self.rows.push((e, header)),
                Node::Element(e) if e.name == "thead" => self.collect(e, true),
                Node::Element(e) if e.name == "tbody" || e.name == "tfoot" => self.collect(e, false),
                Node::Element(e) if e.name == "caption" => self.captions.push(e),
                Node::Element(e) if e.name == "colgroup" || e.name == "col" => {}
                Node::Text(text) if text.trim().is_empty() => {}
                other => self.outside.push(other),
            }
        }
    }
}

/// The `td` and `th` cells of a row.
fn cells_of(row: &Element) -> Vec<&Element> {
    row.children
        .iter()
        .filter_map(|c| match c {
            Node::Element(e) if e.name == "td" || e.name == "th" => Some(e),
            _ => None,
        })
        .collect()
}

/// The content of a grid cell as one run of inline items: its blocks become line breaks.
fn cell_items(cell: &Element, context: Context) -> Result<Vec<Item>> {
    let mut flow = Flow { blocks: Vec::new(), open: None, marker: None, after_space: true };
    flow.children(cell, context)?;
    flow.flush();
    let mut items = Vec::new();
    flatten(flow.blocks, &mut items);
    Ok(items)
}

fn flatten(blocks: Vec<Block>, items: &mut Vec<Item>) {
    for block in blocks {
        if !items.is_empty() {
            items.push(Item::Break);
        }
        match block {
            Block::Paragraph(paragraph) => {
                if let Some(marker) = paragraph.marker {
                    items.push(Item::Text(Style::default(), marker));
                    items.push(Item::Space(Style::default()));
                }
                items.extend(paragraph.items);
            }
            Block::Rule { .. } => {}
            Block::Table(table) => {
                for (index, row) in table.rows.into_iter().enumerate() {
                    if index > 0 {
                        items.push(Item::Break);
                    }
                    for (column, cell) in row.into_iter().enumerate() {
                        if column > 0 {
                            items.push(Item::Space(Style::default()));
                        }
                        items.extend(cell.items);
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 3. Lay out: blocks into positioned text and lines on pages
// ---------------------------------------------------------------------------------------------

const PAGE_WIDTH: f32 = 595.28;
const PAGE_HEIGHT: f32 = 841.89;
const MARGIN: f32 = 56.69;
const CONTENT_WIDTH: f32 = PAGE_WIDTH - 2.0 * MARGIN;
const CONTENT_HEIGHT: f32 = PAGE_HEIGHT - 2.0 * MARGIN;
const CELL_PADDING: f32 = 4.0;
/// Distance from the top of a line box to the baseline, as a share of the font size.
const ASCENT: f32 = 0.95;

/// A run of text in one style at a position on its line.
#[derive(Debug, Clone, PartialEq)]
struct Run {
    x: f32,
    style: Style,
    text: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Default)]
struct Line {
    runs: Vec<Run>,
    width: f32,
}

impl Line {
    fn push(&mut self, style: Style, text: &[u8], size: f32) {
        let width = style.width(text, size);
        match self.runs.last_mut() {
            Some(run) if run.style == style => run.text.extend_from_slice(text),
            _ => self.runs.push(Run { x: self.width, style, text: text.to_vec() }),
        }
        self.width += width;
    }
}

/// Rounding slack when text is measured against the width it was measured to fit.
const FIT_TOLERANCE: f32 = 0.01;

/// Text without a break opportunity, possibly in several styles (`<b>Total</b>:`).
type Word = Vec<(Style, Vec<u8>)>;

/// Wraps `items` into lines at most `width` wide; words wider than a line are cut.
fn break_lines(items: &[Item], width: f32, size: f32) -> Vec<Line> {
    let mut lines = Vec::new();
    let mut line = Line::default();
    let mut space: Option<Style> = None;
    let mut word: Word = Vec::new();
    let place = |word: &mut Word, line: &mut Line, lines: &mut Vec<Line>, space: &mut Option<Style>| {
        if word.is_empty() {
            return;
        }
        let word_width: f32 = word.iter().map(|(s, t)| s.width(t, size)).sum();
        let space_width = match *space {
            Some(style) if !line.runs.is_empty() => style.advance(b' ', size),
            _ => 0.0,
        };
        if !line.runs.is_empty() && line.width + space_width + word_width > width + FIT_TOLERANCE {
            lines.push(std::mem::take(line));
        } else if let Some(style) = space.filter(|_| !line.runs.is_empty()) {
            line.push(style, b" ", size);
        }
        *space = None;
        for (style, text) in word.drain(..) {
            for &byte in &text {
                let advance = style.advance(byte, size);
                if !line.runs.is_empty() && line.width + advance > width + FIT_TOLERANCE {
                    lines.push(std::mem::take(line));
                }
                line.push(style, &[byte], size);
            }
        }
    };
    for item in items {
        match item {
            Item::Text(style, text) => word.push((*style, text.clone())),
            Item::Space(style) => {
                place(&mut word, &mut line, &mut lines, &mut space);
                space = Some(*style);
            }
            Item::Break => {
                place(&mut word, &mut line, &mut lines, &mut space);
                lines.push(std::mem::take(&mut line));
                space = None;
            }
        }
    }
    place(&mut word, &mut line, &mut lines, &mut space);
    if !line.runs.is_empty() {
        lines.push(line);
    }
    // Non-breaking spaces only kept words together; they print as spaces.
    for run in lines.iter_mut().flat_map(|l| l.runs.iter_mut()) {
        for byte in &mut run.text {
            if *byte == NBSP {
                *byte = b' ';
            }
        }
    }
    lines
}

/// Something drawn on a page; coordinates in points from the bottom left.
#[derive(Debug, Clone, PartialEq)]
enum Mark {
    /// One line of text: runs at `x + run.x`, on the baseline `y`.
    Text { x: f32, y: f32, size: f32, runs: Vec<Run> },
    /// A straight line.
    Stroke { from: (f32, f32), to: (f32, f32) },
    /// A light grey rectangle (header cells).
    Shade { x: f32, y: f32, width: f32, height: f32 },
}

struct Layout {
    pages: Vec<Vec<Mark>>,
    /// How far down the current page content reaches, from the top margin.
    top: f32,
    /// The space owed below the last block, merged with the next block's space above.
    pending_space: f32,
    max_pages: usize,
}

impl Layout {
    fn pages(blocks: &[Block], max_pages: usize) -> Result<Vec<Vec<Mark>>> {
        let mut layout = Self { pages: vec![Vec::new()], top: 0.0, pending_space: 0.0, max_pages };
        for (index, block) in blocks.iter().enumerate() {
            match block {
                Block::Paragraph(paragraph) => {
                    let next_line = match blocks.get(index + 1) {
                        Some(Block::Paragraph(next)) => next.size * LINE_HEIGHT,
                        _ => BODY_SIZE * LINE_HEIGHT,
                    };
                    layout.paragraph(paragraph, next_line)?;
                }
                Block::Rule { indent } => layout.rule(*indent)?,
                Block::Table(table) => layout.table(table)?,
            }
        }
        Ok(layout.pages)
    }

    fn new_page(&mut self) -> Result<()> {
        if self.pages.len() >= self.max_pages {
            return Err(CrmError::invalid(
                "html",
                "too_long",
                format!("the document needs more than {} pages", self.max_pages),
            ));
        }
        self.pages.push(Vec::new());
        self.top = 0.0;
        self.pending_space = 0.0;
        Ok(())
    }

    fn mark(&mut self, mark: Mark) {
        if let Some(page) = self.pages.last_mut() {
            page.push(mark);
        }
    }

    /// Opens the space before a block (none at the top of a page).
    fn space_before(&mut self, before: f32) {
        if self.top > 0.0 {
            self.top += self.pending_space.max(before);
        }
        self.pending_space = 0.0;
    }

    /// Makes room for `height` more: a new page when this one is not empty and lacks it.
    fn room_for(&mut self, height: f32) -> Result<()> {
        if self.top > 0.0 && self.top + height > CONTENT_HEIGHT {
            self.new_page()?;
        }
        Ok(())
    }

    fn paragraph(&mut self, paragraph: &Paragraph, next_line: f32) -> Result<()> {
        let width = (CONTENT_WIDTH - paragraph.indent).max(LIST_INDENT);
        let lines = break_lines(&paragraph.items, width, paragraph.size);
        let line_height = paragraph.size * LINE_HEIGHT;
        self.space_before(paragraph.spacing.before);
        if paragraph.keep_with_next {
            // A heading is not left alone at the bottom of a page.
            self.room_for(line_height * lines.len() as f32 + paragraph.spacing.after + next_line)?;
        }
        let left = MARGIN + paragraph.indent;
        for (index, line) in lines.into_iter().enumerate() {
            self.room_for(line_height)?;
            let baseline = PAGE_HEIGHT - MARGIN - self.top - paragraph.size * ASCENT;
            if index == 0
                && let Some(marker) = &paragraph.marker
            {
                let style = Style::default();
                let x = left - style.width(marker, paragraph.size) - 5.0;
                let runs = vec![Run { x: 0.0, style, text: marker.clone() }];
                self.mark(Mark::Text { x: x.max(MARGIN / 2.0), y: baseline, size: paragraph.size, runs });
            }
            let x = match paragraph.align {
                Align::Left => left,
                Align::Center => left + (width - line.width).max(0.0) / 2.0,
                Align::Right => left + (width - line.width).max(0.0),
            };
            if !line.runs.is_empty() {
                self.mark(Mark::Text { x, y: baseline, size: paragraph.size, runs: line.runs });
            }
            self.top += line_height;
        }
        self.pending_space = paragraph.spacing.after;
        Ok(())
    }

    fn rule(&mut self, indent: f32) -> Result<()> {
        self.space_before(6.0);
        self.room_for(1.0)?;
        let y = PAGE_HEIGHT - MARGIN - self.top;
        self.mark(Mark::Stroke { from: (MARGIN + indent, y), to: (PAGE_WIDTH - MARGIN, y) });
        self.top += 1.0;
        self.pending_space = 6.0;
        Ok(())
    }

    fn table(&mut self, table: &Table) -> Result<()> {
        let available = (CONTENT_WIDTH - table.indent).max(LIST_INDENT * table.columns as f32);
        let widths = column_widths(table, available);
        let line_height = BODY_SIZE * LINE_HEIGHT;
        // Each row: its cells' x, width and lines.
        let rows: Vec<Vec<PlacedCell>> = table
            .rows
            .iter()
            .map(|cells| {
                let mut column = 0;
                let mut x = MARGIN + table.indent;
                cells
                    .iter()
                    .map(|cell| {
                        let end = (column + cell.span).min(widths.len());
                        let width: f32 = widths.get(column..end).map(|w| w.iter().sum()).unwrap_or(0.0);
                        column = end;
                        let lines = break_lines(&cell.items, (width - 2.0 * CELL_PADDING).max(1.0), BODY_SIZE);
                        let placed = PlacedCell { x, width, align: cell.align, header: cell.header, lines };
                        x += width;
                        placed
                    })
                    .collect()
            })
            .collect();
        let left = MARGIN + table.indent;
        let right = left + widths.iter().sum::<f32>();
        self.space_before(6.0);
        let header = table.header_row.then(|| rows.first()).flatten();
        let header_height = header.map_or(0.0, |cells| row_height(cells, line_height));
        let repeat_header = header.filter(|_| header_height < CONTENT_HEIGHT / 3.0);
        for (index, cells) in rows.iter().enumerate() {
            let count = cells.iter().map(|c| c.lines.len()).max().unwrap_or(0).max(1);
            let height = row_height(cells, line_height);
            let mut from = 0;
            while from < count {
                let fit = ((CONTENT_HEIGHT - self.top - 2.0 * CELL_PADDING) / line_height).floor().max(0.0) as usize;
                let whole_fits_a_page = height <= CONTENT_HEIGHT - header_height;
                if self.top > 0.0 && (fit == 0 || (from == 0 && fit < count && whole_fits_a_page)) {
                    self.new_page()?;
                    if let Some(header) = repeat_header.filter(|_| index > 0) {
                        self.row_segment(header, 0, usize::MAX, (left, right), line_height);
                    }
                    continue;
                }
                let to = count.min(from + fit.max(1));
                self.row_segment(cells, from, to, (left, right), line_height);
                from = to;
            }
        }
        self.pending_space = 8.0;
        Ok(())
    }

    /// Lines `from..to` of a row's cells, with the grid around them.
    fn row_segment(
        &mut self,
        cells: &[PlacedCell],
        from: usize,
        to: usize,
        (left, right): (f32, f32),
        line_height: f32,
    ) {
        let shown = cells.iter().map(|c| c.lines.len().min(to).saturating_sub(from)).max().unwrap_or(0).max(1);
        let height = shown as f32 * line_height + 2.0 * CELL_PADDING;
        let top = PAGE_HEIGHT - MARGIN - self.top;
        let bottom = top - height;
        for PlacedCell { x, width, align, header, lines } in cells {
            if *header {
                self.mark(Mark::Shade { x: *x, y: bottom, width: *width, height });
            }
            for (offset, line) in lines.iter().skip(from).take(to.saturating_sub(from)).enumerate() {
                let inner = width - 2.0 * CELL_PADDING;
                let shift = match align {
                    Align::Left => 0.0,
                    Align::Center => (inner - line.width).max(0.0) / 2.0,
                    Align::Right => (inner - line.width).max(0.0),
                };
                let y = top - CELL_PADDING - offset as f32 * line_height - BODY_SIZE * ASCENT;
                let runs = line.runs.clone();
                self.mark(Mark::Text { x: x + CELL_PADDING + shift, y, size: BODY_SIZE, runs });
            }
        }
        self.mark(Mark::Stroke { from: (left, top), to: (right, top) });
        self.mark(Mark::Stroke { from: (left, bottom), to: (right, bottom) });
        self.mark(Mark::Stroke { from: (left, top), to: (left, bottom) });
        for PlacedCell { x, width, .. } in cells {
            self.mark(Mark::Stroke { from: (x + width, top), to: (x + width, bottom) });
        }
        self.top += height;
    }
}

/// A grid cell at its place in a row: left edge, width, and its wrapped lines.
struct PlacedCell {
    x: f32,
    width: f32,
    align: Align,
    header: bool,
    lines: Vec<Line>,
}

fn row_height(cells: &[PlacedCell], line_height: f32) -> f32 {
    let lines = cells.iter().map(|c| c.lines.len()).max().unwrap_or(0).max(1);
    lines as f32 * line_height + 2.0 * CELL_PADDING
}

/// Column widths within `available`: each column's natural width when they all fit, otherwise
/// at least its longest word's, the rest shared in proportion to what each would like more.
fn column_widths(table: &Table, available: f32) -> Vec<f32> {
    let columns = table.columns.max(1);
    let mut least = vec![0.0f32; columns];
    let mut natural = vec![0.0f32; columns];
    for cells in &table.rows {
        let mut column = 0;
        for cell in cells {
            if cell.span == 1 && column < columns {
                let lines = break_lines(&cell.items, f32::INFINITY, BODY_SIZE);
                let longest_line = lines.iter().map(|l| l.width).fold(0.0, f32::max);
                let longest_word = cell
                    .items
                    .iter()
                    .filter_map(|item| match item {
                        Item::Text(style, text) => Some(style.width(text, BODY_SIZE)),
                        _ => None,
                    })
                    .fold(0.0, f32::max);
                natural[column] = natural[column].max(longest_line + 2.0 * CELL_PADDING);
                least[column] = least[column].max(longest_word.min(available / 3.0) + 2.0 * CELL_PADDING);
            }
            column += cell.span;
        }
    }
    for (least, natural) in least.iter_mut().zip(natural.iter_mut()) {
        *least = least.max(2.0 * CELL_PADDING + BODY_SIZE);
        *natural = natural.max(*least);
    }
    let natural_sum: f32 = natural.iter().sum();
    let least_sum: f32 = least.iter().sum();
    if natural_sum <= available {
        if table.full_width && natural_sum > 0.0 {
            return natural.iter().map(|w| w * available / natural_sum).collect();
        }
        return natural;
    }
    if least_sum <= available {
        let extra = available - least_sum;
        let wanted = natural_sum - least_sum;
        return least.iter().zip(&natural).map(|(l, n)| l + (n - l) * extra / wanted.max(f32::EPSILON)).collect();
    }
    least.iter().map(|l| l * available / least_sum).collect()
}

// ---------------------------------------------------------------------------------------------
// 4. Write: pages into a PDF
// ---------------------------------------------------------------------------------------------

fn write(pages: &[Vec<Mark>], title: &str) -> Vec<u8> {
    let catalog = Ref::new(1);
    let tree = Ref::new(2);
    let info = Ref::new(3);
    let first_font = 4;
    let first_page = first_font + FONTS.len() as i32;
    let page_ids: Vec<Ref> = (0..pages.len()).map(|i| Ref::new(first_page + 2 * i as i32)).collect();

    let mut pdf = Pdf::new();
    let mut root = pdf.catalog(catalog);
    root.pages(tree);
    root.viewer_preferences().display_doc_title(true);
    root.finish();
    pdf.pages(tree).kids(page_ids.iter().copied()).count(page_ids.len() as i32);
    pdf.document_info(info).title(TextStr(title)).producer(TextStr("crmcore"));
    for (index, font) in FONTS.iter().enumerate() {
        pdf.type1_font(Ref::new(first_font + index as i32))
            .base_font(Name(font))
            .encoding_predefined(Name(b"WinAnsiEncoding"));
    }
    for (marks, page_id) in pages.iter().zip(&page_ids) {
        let content_id = Ref::new(page_id.get() + 1);
        let mut page = pdf.page(*page_id);
        page.parent(tree).media_box(Rect::new(0.0, 0.0, PAGE_WIDTH, PAGE_HEIGHT)).contents(content_id);
        let mut resources = page.resources();
        let mut fonts = resources.fonts();
        for (index, name) in FONT_NAMES.iter().enumerate() {
            fonts.pair(Name(name), Ref::new(first_font + index as i32));
        }
        fonts.finish();
        resources.finish();
        page.finish();
        pdf.stream(content_id, &content(marks));
    }
    pdf.finish()
}

fn content(marks: &[Mark]) -> Vec<u8> {
    let mut content = Content::new();
    content.set_line_width(0.5).set_stroke_gray(0.55).set_fill_gray(0.92);
    for mark in marks {
        if let Mark::Shade { x, y, width, height } = mark {
            content.rect(*x, *y, *width, *height).fill_nonzero();
        }
    }
    content.set_fill_gray(0.0);
    for mark in marks {
        match mark {
            Mark::Text { x, y, size, runs } => {
                content.begin_text();
                for run in runs {
                    content.set_font(Name(FONT_NAMES[run.style.font()]), *size);
                    content.set_text_matrix([1.0, 0.0, 0.0, 1.0, x + run.x, *y]);
                    content.show(Str(&run.text));
                }
                content.end_text();
            }
            Mark::Stroke { from, to } => {
                content.move_to(from.0, from.1).line_to(to.0, to.1).stroke();
            }
            Mark::Shade { .. } => {}
        }
    }
    content.finish().into_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(blocks: &[Block]) -> String {
        let mut out = String::new();
        let mut items = Vec::new();
        flatten(blocks.to_vec(), &mut items);
        for item in items {
            match item {
                Item::Text(_, text) => out.extend(text.iter().map(|&b| char::from(b))),
                Item::Space(_) => out.push(' '),
                Item::Break => out.push('|'),
            }
        }
        out
    }

    #[test]
    fn the_tree_closes_what_browsers_close() {
        let tree = parse("<p>one<p>two<ul><li>a<li>b</ul><table><tr><td>x<td>y<tr><td>z</table>");
        let blocks = Flow::blocks(&tree).unwrap();
        assert_eq!(words(&blocks), "one|two|\u{95} a|\u{95} b|x y|z");
        let Some(Block::Table(table)) = blocks.last() else { panic!("{blocks:?}") };
        assert_eq!((table.rows.len(), table.columns), (2, 2));
    }

    #[test]
    fn hidden_content_and_whitespace_are_dropped() {
        let html = "<html><head><title>T</title><style>p{x:1}</style></head><body>\n  <p>  a \n <b>b</b>c  </p>\
                    <script>if (a < b) {}</script><p>&amp;&nbsp;&lt;&#x20AC;\u{4e2d}</p></body></html>";
        let blocks = Flow::blocks(&parse(html)).unwrap();
        assert_eq!(words(&blocks), "a bc|&\u{a0}<\u{80}?");
    }

    #[test]
    fn one_column_tables_flow_as_blocks() {
        let html = "<table width=\"100%\"><tr><td><h1>Offer</h1><p>Body</p></td></tr></table>";
        let blocks = Flow::blocks(&parse(html)).unwrap();
        assert!(matches!(&blocks[0], Block::Paragraph(p) if p.size == 20.0), "{blocks:?}");
        assert_eq!(blocks.len(), 2);
    }

    #[test]
    fn lines_wrap_within_the_width_and_long_words_are_cut() {
        let style = Style::default();
        let items: Vec<Item> = "lorem ipsum dolor sit amet"
            .split(' ')
            .flat_map(|w| [Item::Text(style, w.as_bytes().to_vec()), Item::Space(style)])
            .collect();
        let lines = break_lines(&items, 60.0, 10.0);
        assert!(lines.len() > 1 && lines.iter().all(|l| l.width <= 60.0), "{lines:?}");
        let long = [Item::Text(style, vec![b'w'; 200])];
        let lines = break_lines(&long, 100.0, 10.0);
        assert!(lines.len() > 5 && lines.iter().all(|l| l.width <= 100.0));
    }

    #[test]
    fn helvetica_widths_match_the_metrics() {
        assert_eq!(Style::default().width(b"Hello", 1000.0), 722.0 + 556.0 + 222.0 + 222.0 + 556.0);
        assert_eq!(Style { bold: true, ..Style::default() }.advance(b'@', 1000.0), 975.0);
        assert_eq!(Style { mono: true, ..Style::default() }.width(b"ab", 10.0), 12.0);
        assert_eq!(win_ansi('é'), Some(0xe9));
        assert_eq!(win_ansi('\u{ad}'), None);
    }

    #[test]
    fn refused_input_is_a_validation_error() {
        let writer = HtmlPdfWriter::new().with_max_pages(2);
        let long = "<p>word</p>".repeat(500);
        assert!(matches!(writer.render(&long, "t"), Err(CrmError::Validation(_))));
        let wide = format!("<table><tr>{}</tr></table>", "<td>x</td>".repeat(30));
        assert!(matches!(writer.render(&wide, "t"), Err(CrmError::Validation(_))));
        assert!(matches!(writer.render("<p>x</p>", &"t".repeat(1001)), Err(CrmError::Validation(_))));
    }

    #[test]
    fn random_tag_soup_never_panics() {
        const PIECES: [&str; 24] = [
            "<p>",
            "</p>",
            "<table>",
            "</table>",
            "<tr>",
            "<td colspan=3>",
            "<th>",
            "</td>",
            "<ul>",
            "<ol start=9>",
            "<li>",
            "</li>",
            "<h1>",
            "</h2>",
            "<b>",
            "</i>",
            "<br>",
            "<hr>",
            "<pre>\n x\ty",
            "</pre>",
            "word ",
            "averyveryveryveryveryveryveryveryveryverylongword",
            " &amp; \u{1F600} ",
            "<style>x</head>",
        ];
        let writer = HtmlPdfWriter::new().with_max_pages(20);
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..300 {
            let mut html = String::new();
            for _ in 0..60 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                html.push_str(PIECES[(seed % PIECES.len() as u64) as usize]);
            }
            match writer.render(&html, "soup") {
                Ok(pdf) => assert!(pdf.starts_with(b"%PDF-")),
                Err(CrmError::Validation(_)) => {}
                Err(other) => panic!("{html}: {other}"),
            }
        }
    }

    #[test]
    fn odd_input_never_panics() {
        let writer = HtmlPdfWriter::new().with_max_pages(50);
        let deep = "<div><ul><li><table><tr><td>".repeat(200);
        let cases = [
            "",
            "<",
            "</p></p></td></tr></table>",
            "<table><td colspan=999>x</td><td>y</td></table>",
            "<pre>\ta\n\n\tb</pre><hr><ol start=-5><li>x</ol><br><br>",
            deep.as_str(),
            "<p>\u{0}\u{1f600}\u{202e}</p><img alt=\"logo\"><b><i><code>x</i></b>",
        ];
        for html in cases {
            let pdf = writer.render(html, "t").unwrap_or_else(|e| panic!("{html}: {e}"));
            assert!(pdf.starts_with(b"%PDF-"));
        }
    }
}
