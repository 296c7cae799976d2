//! Text documents written from scratch: the completion report of a signing flow (签署报告).
//! A4 pages of lines wrapped to the text width, in one embedded subset of a CJK font. lopdf
//! builds and saves the file; the font embedding is ours ([`crate::Font`]), so what the report
//! shows is extractable text (ToUnicode) and the file can then be signed like any other.

use lopdf::{Dictionary, Object};

use crate::error::PdfError;
use crate::font::{Font, compressed_stream, hex_string};
use crate::writer::num;

/// One paragraph of the report.
#[derive(Debug, Clone)]
pub struct ReportLine {
    /// The text (wrapped to the page width).
    pub text: String,
    /// Font size in points.
    pub size: f64,
    /// Extra space above, in points (headings, sections).
    pub space_before: f64,
}

impl ReportLine {
    /// A line of body text.
    pub fn body(text: impl Into<String>) -> Self {
        ReportLine {
            text: text.into(),
            size: 10.0,
            space_before: 0.0,
        }
    }

    /// A section heading.
    pub fn heading(text: impl Into<String>) -> Self {
        ReportLine {
            text: text.into(),
            size: 13.0,
            space_before: 10.0,
        }
    }
}

const PAGE_WIDTH: f64 = 595.28;
const PAGE_HEIGHT: f64 = 841.89;
const MARGIN: f64 = 56.0;

/// A piece of text placed on a page.
struct Placed {
    page: usize,
    x: f64,
    y: f64,
    size: f64,
    text: String,
}

/// Splits `text` into pieces no wider than `width` at `size` (at any character: Chinese has no
/// spaces to break at; a run of Latin letters may break inside a word).
fn wrap(font: &Font, text: &str, size: f64, width: f64) -> Result<Vec<String>, PdfError> {
    let mut lines = Vec::new();
    let mut current = String::new();
    let mut current_width = 0.0;
    for c in text.chars() {
        // A character the font lacks (an emoji in a title) is shown as '?' rather than making
        // the whole report impossible.
        let c = if c.is_control() {
            ' '
        } else if font.has_glyph(c) {
            c
        } else {
            '?'
        };
        let w = font.text_width(c.encode_utf8(&mut [0; 4]), size)?;
        if current_width + w > width && !current.is_empty() {
            lines.push(std::mem::take(&mut current));
            current_width = 0.0;
        }
        current.push(c);
        current_width += w;
    }
    lines.push(current);
    Ok(lines)
}

/// Writes `lines` as a PDF with `title` in its document information.
pub fn text_document(title: &str, lines: &[ReportLine], font: &Font) -> Result<Vec<u8>, PdfError> {
    let mut placed = Vec::new();
    let mut page = 0;
    let mut y = PAGE_HEIGHT - MARGIN;
    for line in lines {
        let leading = line.size * 1.5;
        y -= line.space_before;
        for piece in wrap(font, &line.text, line.size, PAGE_WIDTH - 2.0 * MARGIN)? {
            if y - leading < MARGIN {
                page += 1;
                y = PAGE_HEIGHT - MARGIN;
            }
            y -= leading;
            if !piece.trim().is_empty() {
                placed.push(Placed {
                    page,
                    x: MARGIN,
                    y,
                    size: line.size,
                    text: piece,
                });
            }
        }
    }
    let pages = page + 1;
    for number in 0..pages {
        let footer = format!("{} / {pages}", number + 1);
        let width = font.text_width(&footer, 9.0)?;
        placed.push(Placed {
            page: number,
            x: (PAGE_WIDTH - width) / 2.0,
            y: MARGIN / 2.0,
            size: 9.0,
            text: footer,
        });
    }

    let mut doc = lopdf::Document::with_version("1.7");
    let texts: Vec<&str> = placed.iter().map(|p| p.text.as_str()).collect();
    let (font_id, shown) = font.embed_many(&texts, &mut doc)?;
    let pages_id = doc.new_object_id();
    let mut resources = Dictionary::new();
    let mut fonts = Dictionary::new();
    fonts.set("F1", Object::Reference((font_id, 0)));
    resources.set("Font", Object::Dictionary(fonts));
    let resources_id = doc.add_object(Object::Dictionary(resources));
    let mut kids = Vec::with_capacity(pages);
    for number in 0..pages {
        let mut content = Vec::new();
        for (piece, cids) in placed.iter().zip(&shown).filter(|(p, _)| p.page == number) {
            content.extend_from_slice(
                format!(
                    "BT /F1 {} Tf {} {} Td ",
                    num(piece.size),
                    num(piece.x),
                    num(piece.y)
                )
                .as_bytes(),
            );
            content.extend_from_slice(&crate::writer::serialize(&hex_string(cids.clone()))?);
            content.extend_from_slice(b" Tj ET\n");
        }
        let content_id = doc.add_object(Object::Stream(compressed_stream(Dictionary::new(), &content)?));
        let mut page = Dictionary::new();
        page.set("Type", Object::Name(b"Page".to_vec()));
        page.set("Parent", Object::Reference(pages_id));
        page.set(
            "MediaBox",
            Object::Array(vec![
                Object::Integer(0),
                Object::Integer(0),
                Object::Real(PAGE_WIDTH as f32),
                Object::Real(PAGE_HEIGHT as f32),
            ]),
        );
        page.set("Resources", Object::Reference(resources_id));
        page.set("Contents", Object::Reference(content_id));
        kids.push(Object::Reference(doc.add_object(Object::Dictionary(page))));
    }
    let mut pages_dict = Dictionary::new();
    pages_dict.set("Type", Object::Name(b"Pages".to_vec()));
    pages_dict.set("Count", Object::Integer(kids.len() as i64));
    pages_dict.set("Kids", Object::Array(kids));
    doc.objects.insert(pages_id, Object::Dictionary(pages_dict));
    let mut catalog = Dictionary::new();
    catalog.set("Type", Object::Name(b"Catalog".to_vec()));
    catalog.set("Pages", Object::Reference(pages_id));
    let catalog_id = doc.add_object(Object::Dictionary(catalog));
    doc.trailer.set("Root", Object::Reference(catalog_id));
    let mut info = Dictionary::new();
    info.set("Title", crate::sign::text_string(title));
    info.set("Producer", Object::string_literal("Qianzhang"));
    let info_id = doc.add_object(Object::Dictionary(info));
    doc.trailer.set("Info", Object::Reference(info_id));
    let mut out = Vec::new();
    doc.save_to(&mut out)
        .map_err(|e| PdfError::Write(e.to_string()))?;
    Ok(out)
}
