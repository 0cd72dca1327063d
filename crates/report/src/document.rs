//! The report model (title, sections of paragraphs, tables and images) and its Markdown, HTML and JSON
//! renderings.

use std::fmt::Write as _;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::run_dir::write_atomic;
use crate::{Error, Result};

/// A table: a header row and rows of already-formatted cells.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Table {
    /// Optional caption shown above the table.
    pub caption: Option<String>,
    /// Column titles.
    pub header: Vec<String>,
    /// Rows of cells (a row shorter than the header is padded with empty cells).
    pub rows: Vec<Vec<String>>,
}

/// A PNG shown in the report, by path relative to the report file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Figure {
    /// Path of the image relative to the report (e.g. `accuracy-vs-alpha.png`).
    pub path: String,
    /// Caption.
    pub caption: String,
}

/// One block of a section.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Block {
    /// A paragraph of plain text (escaped on output).
    Paragraph {
        /// The text.
        text: String,
    },
    /// A table.
    Table(Table),
    /// An image with a caption.
    Figure(Figure),
}

/// A section: a heading and its blocks, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Section {
    /// Heading.
    pub heading: String,
    /// Content blocks.
    pub blocks: Vec<Block>,
}

impl Section {
    /// Appends a paragraph.
    pub fn paragraph(&mut self, text: impl Into<String>) -> &mut Self {
        self.blocks.push(Block::Paragraph { text: text.into() });
        self
    }

    /// Appends a table with the given header and rows.
    pub fn table(&mut self, header: &[&str], rows: Vec<Vec<String>>) -> &mut Self {
        self.blocks.push(Block::Table(Table {
            caption: None,
            header: header.iter().map(|s| s.to_string()).collect(),
            rows,
        }));
        self
    }

    /// Appends an image (path relative to the report) with a caption.
    pub fn figure(&mut self, path: impl Into<String>, caption: impl Into<String>) -> &mut Self {
        self.blocks.push(Block::Figure(Figure {
            path: path.into(),
            caption: caption.into(),
        }));
        self
    }
}

/// A human-readable report: a title and sections. Rendered with [`Report::to_markdown`] and
/// [`Report::to_html`]; serialisable as JSON.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// Title (the `<h1>` / `#` heading).
    pub title: String,
    /// Sections in order.
    pub sections: Vec<Section>,
}

/// Escapes `&`, `<`, `>`, `"` and `'` for HTML text and attribute values.
pub fn escape_html(s: &str) -> String {
    escape_with(s, |c, out| match c {
        '"' => out.push_str("&quot;"),
        '\'' => out.push_str("&#39;"),
        _ => out.push(c),
    })
}

/// `s` with `&`, `<`, `>` as HTML entities and every other character passed to `other`.
fn escape_with(s: &str, other: impl Fn(char, &mut String)) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            _ => other(c, &mut out),
        }
    }
    out
}

/// Escapes text for Markdown: HTML-significant `&`, `<`, `>` become entities (so text never turns into
/// raw HTML), and `\`, `*`, `_`, `` ` ``, `[`, `]` get a backslash.
fn escape_md(s: &str) -> String {
    escape_with(s, |c, out| {
        if matches!(c, '\\' | '*' | '_' | '`' | '[' | ']') {
            out.push('\\');
        }
        out.push(c);
    })
}

/// A Markdown table cell: escaped, `|` escaped, newlines as spaces.
fn md_cell(s: &str) -> String {
    escape_md(s).replace('|', "\\|").replace(['\n', '\r'], " ")
}

const CSS: &str = "body{font-family:system-ui,sans-serif;max-width:60em;margin:2em auto;padding:0 1em;\
color:#222;line-height:1.45}table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #bbb;\
padding:.25em .6em;text-align:left}th{background:#eee}figure{margin:1em 0}img{max-width:100%;\
image-rendering:pixelated}figcaption{color:#555;font-size:.9em}caption{text-align:left;font-weight:bold}";

impl Report {
    /// An empty report with a title.
    pub fn new(title: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            sections: Vec::new(),
        }
    }

    /// Appends a section and returns it for filling.
    pub fn section(&mut self, heading: impl Into<String>) -> &mut Section {
        self.sections.push(Section {
            heading: heading.into(),
            blocks: Vec::new(),
        });
        let last = self.sections.len() - 1;
        &mut self.sections[last]
    }

    /// Markdown (CommonMark + pipe tables); all text escaped, so `<` never opens raw HTML.
    pub fn to_markdown(&self) -> String {
        let mut s = format!("# {}\n", escape_md(&self.title));
        for sec in &self.sections {
            let _ = write!(s, "\n## {}\n", escape_md(&sec.heading));
            for b in &sec.blocks {
                s.push('\n');
                match b {
                    Block::Paragraph { text } => {
                        let _ = writeln!(s, "{}", escape_md(text));
                    }
                    Block::Table(t) => {
                        if let Some(c) = &t.caption {
                            let _ = writeln!(s, "**{}**\n", escape_md(c));
                        }
                        let width = t
                            .header
                            .len()
                            .max(t.rows.iter().map(Vec::len).max().unwrap_or(0));
                        let cell = |row: &[String], i: usize| {
                            md_cell(row.get(i).map_or("", String::as_str))
                        };
                        let line = |row: &[String]| {
                            let cells: Vec<String> = (0..width).map(|i| cell(row, i)).collect();
                            format!("| {} |\n", cells.join(" | "))
                        };
                        s.push_str(&line(&t.header));
                        let _ = writeln!(s, "|{}", "---|".repeat(width));
                        for r in &t.rows {
                            s.push_str(&line(r));
                        }
                    }
                    Block::Figure(f) => {
                        let path = f.path.replace(' ', "%20").replace(['(', ')'], "");
                        let _ = writeln!(
                            s,
                            "![{}]({})\n\n*{}*",
                            md_cell(&f.caption),
                            path,
                            escape_md(&f.caption)
                        );
                    }
                }
            }
        }
        s
    }

    /// A self-contained HTML5 page (inline CSS, no scripts, no external resources other than the figures'
    /// relative PNG paths); every text and attribute is escaped.
    pub fn to_html(&self) -> String {
        let title = escape_html(&self.title);
        let mut s = format!(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{title}</title>\n\
             <style>{CSS}</style>\n</head>\n<body>\n<h1>{title}</h1>\n"
        );
        for sec in &self.sections {
            let _ = writeln!(s, "<section>\n<h2>{}</h2>", escape_html(&sec.heading));
            for b in &sec.blocks {
                match b {
                    Block::Paragraph { text } => {
                        let _ = writeln!(s, "<p>{}</p>", escape_html(text));
                    }
                    Block::Table(t) => {
                        s.push_str("<table>\n");
                        if let Some(c) = &t.caption {
                            let _ = writeln!(s, "<caption>{}</caption>", escape_html(c));
                        }
                        s.push_str("<thead><tr>");
                        for h in &t.header {
                            let _ = write!(s, "<th>{}</th>", escape_html(h));
                        }
                        s.push_str("</tr></thead>\n<tbody>\n");
                        for r in &t.rows {
                            s.push_str("<tr>");
                            for i in 0..t.header.len().max(r.len()) {
                                let _ = write!(
                                    s,
                                    "<td>{}</td>",
                                    escape_html(r.get(i).map_or("", String::as_str))
                                );
                            }
                            s.push_str("</tr>\n");
                        }
                        s.push_str("</tbody>\n</table>\n");
                    }
                    Block::Figure(f) => {
                        let _ = writeln!(
                            s,
                            "<figure><img src=\"{}\" alt=\"{}\"><figcaption>{}</figcaption></figure>",
                            escape_html(&f.path),
                            escape_html(&f.caption),
                            escape_html(&f.caption)
                        );
                    }
                }
            }
            s.push_str("</section>\n");
        }
        s.push_str("</body>\n</html>\n");
        s
    }

    /// Writes `report.md`, `report.html` and `report.json` into `dir`, each atomically.
    ///
    /// # Errors
    /// As [`write_atomic`] and [`write_json`].
    pub fn write_all(&self, dir: &Path) -> Result<()> {
        write_atomic(&dir.join("report.md"), self.to_markdown().as_bytes())?;
        write_atomic(&dir.join("report.html"), self.to_html().as_bytes())?;
        write_json(&dir.join("report.json"), self)
    }
}

/// Writes `value` as pretty-printed JSON to `path`, atomically.
///
/// # Errors
/// [`Error::Invalid`] when the value cannot be serialised (e.g. a map with non-string keys);
/// [`Error::Io`] as in [`write_atomic`].
pub fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|e| Error::Invalid {
        what: format!("JSON for {}", path.display()),
        expected: "a serialisable value".into(),
        got: e.to_string(),
    })?;
    bytes.push(b'\n');
    write_atomic(path, &bytes)
}

/// Reads JSON written by [`write_json`].
///
/// # Errors
/// [`Error::Io`] when the file cannot be read; [`Error::Invalid`] when it does not parse as `T`.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_slice(&bytes).map_err(|e| Error::Invalid {
        what: path.display().to_string(),
        expected: format!("JSON of {}", std::any::type_name::<T>()),
        got: e.to_string(),
    })
}
