//! [`Page`]: a tiny builder of one self-contained HTML page (title, sections, paragraphs,
//! figures with one-line captions, tables); no scripts, no network, images referenced by
//! relative file names in the same folder.

use super::error::{FigureError, Result};
use super::image::write_file;
use std::path::Path;

const STYLE: &str = "body{font-family:sans-serif;max-width:1150px;margin:1em auto;padding:0 1em;\
color:#222;line-height:1.4}h1{font-size:1.6em}h2{margin-top:1.6em;border-bottom:1px solid #ccc}\
figure{margin:1em 0}figure img{image-rendering:pixelated;max-width:100%;border:1px solid #ddd}\
figcaption{font-size:.92em;color:#444;margin-top:.3em}table{border-collapse:collapse;margin:1em 0}\
td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}th{background:#f4f4f4}\
td:first-child,th:first-child{text-align:left}";

/// `text` with `& < > " '` escaped for HTML.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[derive(Clone, Debug, PartialEq)]
enum Block {
    Section(String),
    Paragraph(String),
    Figure {
        src: String,
        caption: String,
    },
    Table {
        header: Vec<String>,
        rows: Vec<Vec<String>>,
    },
}

/// One HTML page, built block by block.
///
/// ```
/// use nn::interpret::figure::Page;
/// let mut page = Page::new("What LeNet-5 learned");
/// page.section("Filters").paragraph("conv1's six kernels.");
/// page.figure("filters.png", "conv1's kernels: blue negative, red positive.").unwrap();
/// page.table(&["layer", "units"], vec![vec!["conv1".into(), "6".into()]]).unwrap();
/// assert!(page.figure("http://x/y.png", "remote").is_err());
/// let html = page.render();
/// assert!(html.contains("<img src=\"filters.png\""));
/// assert_eq!(page.images(), ["filters.png"]);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Page {
    title: String,
    blocks: Vec<Block>,
}

impl Page {
    /// An empty page with this title (also its first heading).
    pub fn new(title: &str) -> Self {
        Page {
            title: title.into(),
            blocks: Vec::new(),
        }
    }

    /// Starts a section under a heading.
    pub fn section(&mut self, heading: &str) -> &mut Self {
        self.blocks.push(Block::Section(heading.into()));
        self
    }

    /// A paragraph of plain text.
    pub fn paragraph(&mut self, text: &str) -> &mut Self {
        self.blocks.push(Block::Paragraph(text.into()));
        self
    }

    /// A figure: the image `src` (a file name relative to the page, in its folder or below;
    /// no URL, no absolute path, no `..`) with a one-line caption.
    pub fn figure(&mut self, src: &str, caption: &str) -> Result<&mut Self> {
        let bad = src.is_empty()
            || src.contains("://")
            || src.starts_with('/')
            || src.starts_with('\\')
            || src.split(['/', '\\']).any(|part| part == ".." || part.is_empty())
            || src.contains(':');
        if bad {
            return Err(FigureError::invalid(
                "Page::figure",
                format!("{src:?} is not a relative file name inside the page's folder"),
            ));
        }
        self.blocks.push(Block::Figure {
            src: src.into(),
            caption: caption.replace('\n', " "),
        });
        Ok(self)
    }

    /// A table: a header row and rows of the same length.
    pub fn table(&mut self, header: &[&str], rows: Vec<Vec<String>>) -> Result<&mut Self> {
        if let Some(r) = rows.iter().find(|r| r.len() != header.len()) {
            return Err(FigureError::shape(
                "Page::table",
                &[rows.len(), r.len()],
                format!("every row needs {} cells, like the header", header.len()),
            ));
        }
        self.blocks.push(Block::Table {
            header: header.iter().map(|h| h.to_string()).collect(),
            rows,
        });
        Ok(self)
    }

    /// The images the page refers to, in order.
    pub fn images(&self) -> Vec<&str> {
        self.blocks
            .iter()
            .filter_map(|b| match b {
                Block::Figure { src, .. } => Some(src.as_str()),
                _ => None,
            })
            .collect()
    }

    /// The page as HTML text.
    pub fn render(&self) -> String {
        let mut h = format!(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{t}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{t}</h1>\n",
            t = escape(&self.title)
        );
        for block in &self.blocks {
            match block {
                Block::Section(s) => h += &format!("<h2>{}</h2>\n", escape(s)),
                Block::Paragraph(p) => h += &format!("<p>{}</p>\n", escape(p)),
                Block::Figure { src, caption } => {
                    h += &format!(
                        "<figure>\n<img src=\"{}\" alt=\"{}\">\n<figcaption>{}</figcaption>\n</figure>\n",
                        escape(src),
                        escape(caption),
                        escape(caption)
                    )
                }
                Block::Table { header, rows } => {
                    h += "<table>\n<tr>";
                    for c in header {
                        h += &format!("<th>{}</th>", escape(c));
                    }
                    h += "</tr>\n";
                    for r in rows {
                        h += "<tr>";
                        for c in r {
                            h += &format!("<td>{}</td>", escape(c));
                        }
                        h += "</tr>\n";
                    }
                    h += "</table>\n";
                }
            }
        }
        h += "</body>\n</html>\n";
        h
    }

    /// Writes the page to `path` (atomically, through a temporary name).
    pub fn write(&self, path: &Path) -> Result<()> {
        write_file(path, self.render().as_bytes())
    }
}
