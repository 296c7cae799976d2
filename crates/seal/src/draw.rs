//! Generated seal images (GB/T 38540 §5 appearance; the conventions of Chinese official
//! seals): the round official seal with the organization's name on the upper arc, a
//! five-pointed star, an optional label (合同专用章, 财务专用章, …) and an optional code on the
//! lower arc; the oval seal; the square personal name seal; the date stamp.
//!
//! Drawn as SVG and rendered with resvg, so the text is shaped with a real CJK font from the
//! system (Noto Serif CJK SC preferred, then Noto Sans CJK SC, WenQuanYi). Every glyph of an
//! arc is placed and rotated on its own, which keeps Chinese characters evenly spaced and
//! upright relative to the rim, as seal carvers lay them out. Output is PNG with a transparent
//! background at print resolution.

use std::fmt::Write as _;
use std::sync::{Arc, OnceLock};

use resvg::tiny_skia::{Pixmap, Transform};
use resvg::usvg;

/// Errors of seal drawing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DrawError {
    /// No CJK font is installed.
    #[error(
        "no Chinese font found: install fonts-noto-cjk (Debian) or another font covering 中文 (scripts/setup-test-env does)"
    )]
    NoFont,
    /// The text does not fit the kind of seal.
    #[error("{0}")]
    Text(String),
    /// Rendering failed.
    #[error("rendering the seal failed: {0}")]
    Render(String),
}

/// What to draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DrawKind {
    /// 公章: 42 mm round, name on the arc, star, no label.
    Official,
    /// 合同专用章: 40 mm round, label 合同专用章.
    Contract,
    /// 财务专用章: 38 mm round, label 财务专用章.
    Finance,
    /// 椭圆章: 45 × 30 mm oval.
    Oval,
    /// 人名章: 18 mm square, 2–4 characters.
    Name,
    /// 日期章: the date in one line.
    Date,
}

/// A seal to draw.
#[derive(Debug, Clone)]
pub struct SealDrawing {
    /// The kind.
    pub kind: DrawKind,
    /// Organization name, person's name, or the date text.
    pub text: String,
    /// Label in the middle (defaults per kind).
    pub label: Option<String>,
    /// Code along the lower arc (e.g. the seal's registration number).
    pub code: Option<String>,
    /// Resolution in dots per inch (300 by default).
    pub dpi: f32,
}

/// Seal red (Pantone 485-ish, as printed seal ink).
const RED: &str = "#d7261e";
const FAMILIES: &str = "'Noto Serif CJK SC', 'Noto Sans CJK SC', 'WenQuanYi Zen Hei', 'Droid Sans Fallback'";

fn fonts() -> Result<Arc<usvg::fontdb::Database>, DrawError> {
    static FONTS: OnceLock<Arc<usvg::fontdb::Database>> = OnceLock::new();
    let db = FONTS.get_or_init(|| {
        let mut db = usvg::fontdb::Database::new();
        db.load_system_fonts();
        Arc::new(db)
    });
    let has_cjk = db.faces().any(|face| {
        face.families.iter().any(|(name, _)| {
            [
                "Noto Serif CJK SC",
                "Noto Sans CJK SC",
                "WenQuanYi Zen Hei",
                "Droid Sans Fallback",
            ]
            .contains(&name.as_str())
        })
    });
    if has_cjk {
        Ok(db.clone())
    } else {
        Err(DrawError::NoFont)
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// One glyph at (x, y), rotated by `degrees`, centred on its position.
// A glyph's placement is these numbers; a struct would only rename them at every call.
#[allow(clippy::too_many_arguments)]
fn glyph(svg: &mut String, ch: char, x: f32, y: f32, degrees: f32, size: f32, sx: f32, weight: u32) {
    let _ = write!(
        svg,
        r#"<text x="0" y="0" font-size="{size:.3}" font-weight="{weight}" text-anchor="middle" dominant-baseline="central" transform="translate({x:.3} {y:.3}) rotate({degrees:.3}) scale({sx:.3} 1)">{}</text>"#,
        escape(&ch.to_string())
    );
}

fn star(svg: &mut String, cx: f32, cy: f32, outer: f32) {
    let inner = outer * 0.382;
    let mut points = String::new();
    for i in 0..10 {
        let radius = if i % 2 == 0 { outer } else { inner };
        let angle = std::f32::consts::PI / 5.0 * i as f32;
        let _ = write!(
            points,
            "{:.3},{:.3} ",
            cx + radius * angle.sin(),
            cy - radius * angle.cos()
        );
    }
    let _ = write!(svg, r#"<polygon points="{points}" fill="{RED}"/>"#);
}

/// Characters spread over the upper arc of a circle of `radius`, reading left to right.
fn upper_arc(svg: &mut String, text: &[char], radius: f32, span_degrees: f32, size: f32, sx: f32) {
    let n = text.len();
    let step = if n > 1 { span_degrees / (n - 1) as f32 } else { 0.0 };
    for (i, ch) in text.iter().enumerate() {
        let degrees = -span_degrees / 2.0 + step * i as f32;
        let t = degrees.to_radians();
        glyph(
            svg,
            *ch,
            radius * t.sin(),
            -radius * t.cos(),
            degrees,
            size,
            sx,
            700,
        );
    }
}

/// Characters along the lower arc, reading left to right, tops towards the centre.
fn lower_arc(svg: &mut String, text: &[char], radius: f32, span_degrees: f32, size: f32) {
    let n = text.len();
    let step = if n > 1 { span_degrees / (n - 1) as f32 } else { 0.0 };
    for (i, ch) in text.iter().enumerate() {
        let degrees = -span_degrees / 2.0 + step * i as f32;
        let t = degrees.to_radians();
        glyph(
            svg,
            *ch,
            radius * t.sin(),
            radius * t.cos(),
            -degrees,
            size,
            1.0,
            400,
        );
    }
}

/// The SVG of a seal, in millimetres, centred at the origin; returns (svg, width mm, height mm).
pub fn svg(drawing: &SealDrawing) -> Result<(String, f32, f32), DrawError> {
    let text: Vec<char> = drawing
        .text
        .trim()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    if text.is_empty() {
        return Err(DrawError::Text("the seal needs a text".into()));
    }
    let mut body = String::new();
    let (width, height) = match drawing.kind {
        DrawKind::Official | DrawKind::Contract | DrawKind::Finance => {
            let (diameter, default_label) = match drawing.kind {
                DrawKind::Official => (42.0_f32, None),
                DrawKind::Contract => (40.0, Some("合同专用章")),
                _ => (38.0, Some("财务专用章")),
            };
            if text.len() > 24 {
                return Err(DrawError::Text(
                    "at most 24 characters fit on a round seal's arc".into(),
                ));
            }
            let r = diameter / 2.0;
            let ring = diameter * 0.03;
            let _ = write!(
                body,
                r#"<circle cx="0" cy="0" r="{:.3}" fill="none" stroke="{RED}" stroke-width="{ring:.3}"/>"#,
                r - ring / 2.0
            );
            let label = drawing.label.as_deref().or(default_label);
            let has_label = label.is_some_and(|l| !l.trim().is_empty());
            // The arc spans more for longer names, as carvers do; a label below the star
            // leaves less room at the bottom.
            let widest = if has_label { 230.0 } else { 250.0 };
            let span = (140.0 + 8.0 * text.len() as f32).clamp(150.0, widest);
            // Glyphs are condensed to 78 % width; each gets its share of the arc.
            let per_glyph = r * 0.78 * span.to_radians() / text.len() as f32;
            let size = (diameter * 0.15).min(per_glyph / 0.78 * 0.9);
            upper_arc(&mut body, &text, r - ring * 1.2 - size * 0.55, span, size, 0.78);
            star(&mut body, 0.0, 0.0, diameter * 0.16);
            if let Some(label) = label.filter(|l| !l.trim().is_empty()) {
                let chars: Vec<char> = label.trim().chars().collect();
                let size = (diameter * 0.11).min(diameter * 0.62 / chars.len() as f32);
                // Above the code when there is one.
                let has_code = drawing.code.as_deref().is_some_and(|c| !c.trim().is_empty());
                let y = diameter * if has_code { 0.21 } else { 0.27 };
                let start = -(chars.len() as f32 - 1.0) * size / 2.0;
                for (i, ch) in chars.iter().enumerate() {
                    glyph(&mut body, *ch, start + size * i as f32, y, 0.0, size, 1.0, 700);
                }
            }
            if let Some(code) = drawing.code.as_deref().filter(|c| !c.trim().is_empty()) {
                let chars: Vec<char> = code.trim().chars().collect();
                let size = diameter * 0.055;
                let span = (chars.len() as f32 * 6.0).min(110.0);
                lower_arc(&mut body, &chars, r - ring - size * 0.9, span, size);
            }
            (diameter, diameter)
        }
        DrawKind::Oval => {
            let (w, h) = (45.0_f32, 30.0_f32);
            let ring = 1.0;
            let _ = write!(
                body,
                r#"<ellipse cx="0" cy="0" rx="{:.3}" ry="{:.3}" fill="none" stroke="{RED}" stroke-width="{ring}"/>"#,
                w / 2.0 - ring / 2.0,
                h / 2.0 - ring / 2.0
            );
            if text.len() > 20 {
                return Err(DrawError::Text(
                    "at most 20 characters fit on an oval seal".into(),
                ));
            }
            let n = text.len();
            let span = (110.0 + 8.0 * n as f32).min(220.0);
            // Characters sit at equal distances along the rim, not at equal angles: the rim is
            // flatter at the top than at the sides, and equal angles crowd the sides.
            let rim = |size: f32| (w / 2.0 - ring - size * 0.7, h / 2.0 - ring - size * 0.7);
            let arc = |a: f32, b: f32| -> Vec<(f32, f32)> {
                let steps = 720;
                let mut table = Vec::with_capacity(steps + 1);
                let (mut length, mut last) = (0.0_f32, None::<(f32, f32)>);
                for k in 0..=steps {
                    let t = (-span / 2.0 + span * k as f32 / steps as f32).to_radians();
                    let point = (a * t.sin(), -b * t.cos());
                    if let Some((px, py)) = last {
                        length += ((point.0 - px).powi(2) + (point.1 - py).powi(2)).sqrt();
                    }
                    last = Some(point);
                    table.push((t, length));
                }
                table
            };
            // The size follows the room per character on the rim (with a little gap), at most 5 mm.
            let (a0, b0) = rim(5.0);
            let room = arc(a0, b0).last().map_or(0.0, |&(_, l)| l) / n as f32;
            let size = 5.0_f32.min(room * 0.92);
            let (a, b) = rim(size);
            let table = arc(a, b);
            let total = table.last().map_or(0.0, |&(_, l)| l);
            for (i, ch) in text.iter().enumerate() {
                let target = if n > 1 {
                    total * (i as f32 + 0.5) / n as f32
                } else {
                    total / 2.0
                };
                let t = table.iter().find(|&&(_, l)| l >= target).map_or(0.0, |&(t, _)| t);
                let (x, y) = (a * t.sin(), -b * t.cos());
                // Rotate with the ellipse's normal, so glyphs stand on the rim.
                let normal = (x / (a * a)).atan2(-y / (b * b)).to_degrees();
                glyph(&mut body, *ch, x, y, normal, size, 0.8, 700);
            }
            if let Some(label) = drawing.label.as_deref().filter(|l| !l.trim().is_empty()) {
                let chars: Vec<char> = label.trim().chars().collect();
                let size = 4.0_f32.min(28.0 / chars.len() as f32);
                let start = -(chars.len() as f32 - 1.0) * size / 2.0;
                for (i, ch) in chars.iter().enumerate() {
                    glyph(&mut body, *ch, start + size * i as f32, 2.5, 0.0, size, 1.0, 700);
                }
            }
            if let Some(code) = drawing.code.as_deref().filter(|c| !c.trim().is_empty()) {
                let chars: Vec<char> = code.trim().chars().collect();
                let size = 2.2;
                let start = -(chars.len() as f32 - 1.0) * size * 0.6 / 2.0;
                for (i, ch) in chars.iter().enumerate() {
                    glyph(
                        &mut body,
                        *ch,
                        start + size * 0.6 * i as f32,
                        h / 2.0 - 4.0,
                        0.0,
                        size,
                        1.0,
                        400,
                    );
                }
            }
            (w, h)
        }
        DrawKind::Name => {
            let side = 18.0_f32;
            let border = 1.1;
            let _ = write!(
                body,
                r#"<rect x="{:.3}" y="{:.3}" width="{:.3}" height="{:.3}" fill="none" stroke="{RED}" stroke-width="{border}"/>"#,
                -side / 2.0 + border / 2.0,
                -side / 2.0 + border / 2.0,
                side - border,
                side - border
            );
            // Read top to bottom, right column first; three characters take 印 as the fourth.
            let mut chars = text.clone();
            match chars.len() {
                2 => {}
                3 => chars.push('印'),
                4 => {}
                _ => {
                    return Err(DrawError::Text("a name seal takes 2 to 4 characters".into()));
                }
            }
            let inner = side - 2.0 * border - 1.4;
            if chars.len() == 2 {
                // Two columns of one tall character each.
                let size = inner / 2.0;
                for (i, ch) in chars.iter().enumerate() {
                    let x = if i == 0 { size / 2.0 } else { -size / 2.0 };
                    let _ = write!(
                        body,
                        r#"<text x="0" y="0" font-size="{size:.3}" font-weight="700" text-anchor="middle" dominant-baseline="central" transform="translate({x:.3} 0) scale(0.95 1.9)">{}</text>"#,
                        escape(&ch.to_string())
                    );
                }
            } else {
                let size = inner / 2.0;
                for (i, ch) in chars.iter().enumerate() {
                    let column = i / 2;
                    let row = i % 2;
                    let x = if column == 0 { size / 2.0 } else { -size / 2.0 };
                    let y = if row == 0 { -size / 2.0 } else { size / 2.0 };
                    glyph(&mut body, *ch, x, y, 0.0, size * 0.98, 1.0, 700);
                }
            }
            (side, side)
        }
        DrawKind::Date => {
            let size = 4.0_f32;
            let width = size * 0.95 * text.len() as f32 + 2.0;
            let start = -(text.len() as f32 - 1.0) * size * 0.95 / 2.0;
            for (i, ch) in text.iter().enumerate() {
                glyph(
                    &mut body,
                    *ch,
                    start + size * 0.95 * i as f32,
                    0.0,
                    0.0,
                    size,
                    1.0,
                    700,
                );
            }
            (width, size + 2.0)
        }
    };
    let svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}mm" height="{height}mm" viewBox="{:.3} {:.3} {width:.3} {height:.3}"><g fill="{RED}" font-family="{FAMILIES}">{body}</g></svg>"#,
        -width / 2.0,
        -height / 2.0
    );
    Ok((svg, width, height))
}

/// Renders any SVG of ours (with text in the system fonts) to a PNG of `width` × `height`
/// pixels; the web pages' captcha uses it.
pub fn rasterize_svg(svg: &str, width: u32, height: u32) -> Result<Vec<u8>, DrawError> {
    let options = usvg::Options {
        fontdb: fonts()?,
        ..usvg::Options::default()
    };
    let tree = usvg::Tree::from_str(svg, &options).map_err(|e| DrawError::Render(e.to_string()))?;
    let mut pixmap = Pixmap::new(width.max(1), height.max(1))
        .ok_or_else(|| DrawError::Render("the picture is too large to render".into()))?;
    let size = tree.size();
    let transform = Transform::from_scale(width as f32 / size.width(), height as f32 / size.height());
    resvg::render(&tree, transform, &mut pixmap.as_mut());
    pixmap.encode_png().map_err(|e| DrawError::Render(e.to_string()))
}

/// Renders a seal to PNG bytes (transparent background, `dpi` resolution).
pub fn render_png(drawing: &SealDrawing) -> Result<Vec<u8>, DrawError> {
    let (svg, width_mm, height_mm) = svg(drawing)?;
    let mut options = usvg::Options {
        fontdb: fonts()?,
        ..usvg::Options::default()
    };
    options.font_family = "Noto Serif CJK SC".into();
    let tree = usvg::Tree::from_str(&svg, &options).map_err(|e| DrawError::Render(e.to_string()))?;
    let dpi = if drawing.dpi > 0.0 { drawing.dpi } else { 300.0 };
    let px = |mm: f32| (mm / 25.4 * dpi).round().max(1.0);
    let (w, h) = (px(width_mm), px(height_mm));
    let mut pixmap = Pixmap::new(w as u32, h as u32)
        .ok_or_else(|| DrawError::Render("the seal is too large to render".into()))?;
    let size = tree.size();
    let transform = Transform::from_scale(w / size.width(), h / size.height());
    resvg::render(&tree, transform, &mut pixmap.as_mut());
    pixmap.encode_png().map_err(|e| DrawError::Render(e.to_string()))
}
