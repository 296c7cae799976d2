//! Finding a CJK font on this machine for text stamps.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use qz_pdf::Font;

/// Fonts tried in order when none is given: TrueType outlines first (they embed as
/// CIDFontType2, which every viewer renders), then the Noto CJK collections.
const CANDIDATES: &[&str] = &[
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
];

/// Characters a font must have to write a Chinese date.
const NEEDED: &str = "0123456789年月日";

/// Loads `spec` (`PATH` or `PATH:INDEX`), or the first usable system CJK font.
pub fn load_cjk_font(spec: Option<&str>) -> Result<Font> {
    if let Some(spec) = spec {
        let (path, index) = match spec.rsplit_once(':') {
            Some((path, index)) if index.chars().all(|c| c.is_ascii_digit()) && !index.is_empty() => {
                (PathBuf::from(path), Some(index.parse::<u32>()?))
            }
            _ => (PathBuf::from(spec), None),
        };
        return load(&path, index).with_context(|| format!("font {}", path.display()));
    }
    for candidate in CANDIDATES {
        let path = Path::new(candidate);
        if path.exists()
            && let Ok(font) = load(path, None)
        {
            return Ok(font);
        }
    }
    bail!(
        "no CJK font found for the date stamp: install fonts-wqy-zenhei or fonts-noto-cjk, or pass --font FILE"
    )
}

fn load(path: &Path, index: Option<u32>) -> Result<Font> {
    let data = std::fs::read(path)?;
    let faces = ttf_parser::fonts_in_collection(&data).unwrap_or(1);
    // In the Noto CJK collections the simplified Chinese face is not the first one.
    let index = index.unwrap_or_else(|| {
        (0..faces)
            .find(|&i| {
                ttf_parser::Face::parse(&data, i).is_ok_and(|face| {
                    face.names().into_iter().any(|n| {
                        n.name_id == ttf_parser::name_id::FAMILY
                            && n.to_string().is_some_and(|s| s.ends_with(" SC"))
                    })
                })
            })
            .unwrap_or(0)
    });
    let font = Font::from_bytes(data, index)?;
    font.text_width(NEEDED, 10.0)
        .context("the font lacks the characters of a Chinese date")?;
    Ok(font)
}
