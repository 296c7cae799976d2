//! Page images (页面预览) for the signing and verification pages: one page rendered to PNG by
//! `hayro`, a pure-Rust rasterizer (no unsafe code, no system library), so previews need
//! nothing installed beside the binary. Text in fonts a PDF does not embed falls back to the
//! standard fonts hayro carries and, for Chinese CID fonts, to the system CJK font.

use std::sync::Arc;

use hayro::hayro_interpret::InterpreterSettings;
use hayro::hayro_interpret::font::FontQuery;
use hayro::hayro_syntax::Pdf;
use hayro::vello_cpu::color::palette::css::WHITE;
use hayro::{PixmapSettings, RenderCache, RenderSettings};

use crate::error::PdfError;
use crate::font::CJK_FONT_CANDIDATES;

/// Narrowest and widest page image, in pixels.
pub const WIDTH_RANGE: std::ops::RangeInclusive<u32> = 100..=2400;

fn cjk_font() -> Option<(hayro::hayro_interpret::font::FontData, u32)> {
    static FONT: std::sync::OnceLock<Option<Arc<Vec<u8>>>> = std::sync::OnceLock::new();
    let data = FONT
        .get_or_init(|| {
            CJK_FONT_CANDIDATES
                .iter()
                .find_map(|path| std::fs::read(path).ok())
                .map(Arc::new)
        })
        .clone()?;
    Some((data, 0))
}

fn settings() -> InterpreterSettings {
    InterpreterSettings {
        font_resolver: Arc::new(|query| match query {
            FontQuery::Standard(font) => Some(font.get_font_data()),
            FontQuery::Fallback(wanted) => {
                if wanted.character_collection.is_some()
                    && let Some(found) = cjk_font()
                {
                    return Some(found);
                }
                Some(wanted.pick_standard_font().get_font_data())
            }
        }),
        ..InterpreterSettings::default()
    }
}

/// Renders page `page` (from 1) of `pdf` as a PNG `width` pixels wide (clamped to
/// [`WIDTH_RANGE`]), on white.
pub fn render_page(pdf: &[u8], page: usize, width: u32) -> Result<Vec<u8>, PdfError> {
    let document = Pdf::new(pdf.to_vec()).map_err(|e| PdfError::Parse(format!("cannot render: {e:?}")))?;
    let pages = document.pages();
    let count = pages.len();
    let target = page.checked_sub(1).and_then(|i| pages.get(i)).ok_or_else(|| {
        PdfError::Parse(format!(
            "page {page} does not exist; the document has {count} pages"
        ))
    })?;
    let (points_wide, points_high) = target.render_dimensions();
    if !(points_wide > 1.0 && points_high > 1.0) {
        return Err(PdfError::Parse(format!("page {page} has no area")));
    }
    let width = width.clamp(*WIDTH_RANGE.start(), *WIDTH_RANGE.end());
    // Keep the longer side within what a u16 pixmap holds, whatever the page's proportions.
    // (+0.5: the pixmap size is truncated to whole pixels.)
    let scale = ((width as f32 + 0.5) / points_wide).min(8000.0 / points_high);
    let pixmap = hayro::render(
        target,
        &RenderCache::new(),
        &settings(),
        &RenderSettings::default(),
        &PixmapSettings {
            x_scale: scale,
            y_scale: scale,
            bg_color: WHITE,
        },
    );
    pixmap
        .into_png()
        .map_err(|e| PdfError::Write(format!("PNG: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_and_missing_pages_are_errors() {
        assert!(render_page(b"not a pdf", 1, 400).is_err());
    }
}
