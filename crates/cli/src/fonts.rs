//! Finding a CJK font on this machine for text stamps.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use qz_pdf::Font;

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
    if let Some(font) = Font::system_cjk() {
        return Ok(font);
    }
    bail!(
        "no CJK font found for the date stamp: install fonts-wqy-zenhei or fonts-noto-cjk, or pass --font FILE"
    )
}

fn load(path: &Path, index: Option<u32>) -> Result<Font> {
    Ok(Font::load_file(path, index)?)
}
