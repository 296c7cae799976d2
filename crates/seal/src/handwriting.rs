//! Cleaning handwritten signatures (手写签名): a phone's canvas capture, a photo of a signature
//! on paper or a scanned 采集表 becomes ink on a transparent background, trimmed to the strokes.
//!
//! Paper photos are lit unevenly, so the background is estimated locally: the page is cut into
//! blocks, each block's bright percentile is its paper colour, and the estimate is interpolated
//! between block centres. A pixel's darkness relative to its local paper decides how much ink it
//! is; Otsu's threshold over those darknesses separates strokes from paper grain, with a soft
//! ramp so stroke edges stay anti-aliased. Every stroke gets one ink colour, so a signature
//! written in blue ballpoint and one drawn on a phone look alike on the document.

use image::{ImageEncoder as _, RgbaImage};

use crate::{SealError, SealImage};

/// The colour strokes get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ink {
    /// Near black.
    Black,
    /// Dark blue, like a ballpoint pen.
    Blue,
}

impl Ink {
    fn rgb(self) -> [u8; 3] {
        match self {
            Ink::Black => [0x14, 0x14, 0x18],
            Ink::Blue => [0x12, 0x2a, 0x8c],
        }
    }
}

/// Errors of cleaning.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HandwritingError {
    /// Not an image, or too large.
    #[error(transparent)]
    Image(#[from] SealError),
    /// More pixels than a signature photo needs (and than we spend memory on).
    #[error("the picture has {0} megapixels; at most 16 are accepted (a phone photo is 12)")]
    TooLarge(u64),
    /// Nothing on the picture looks like ink.
    #[error("no handwriting found on the picture: write darker, or photograph it closer")]
    NoInk,
    /// Encoding the result failed.
    #[error("cannot encode the cleaned signature: {0}")]
    Encode(String),
}

/// The longest side of a cleaned signature, in pixels: enough for print at 40 mm.
pub const MAX_OUTPUT_SIDE: u32 = 1200;

const BLOCK: u32 = 32;

/// The most pixels a picture may have: cleaning keeps a few full-size buffers.
pub const MAX_PIXELS: u64 = 16_000_000;

/// Cleans a signature picture (PNG or JPEG); returns a PNG with transparency.
pub fn clean(bytes: &[u8], ink: Ink) -> Result<Vec<u8>, HandwritingError> {
    let (width, height) = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| SealError::Decode(e.to_string()))?
        .into_dimensions()
        .map_err(|e| SealError::Decode(e.to_string()))?;
    let pixels = u64::from(width) * u64::from(height);
    if pixels > MAX_PIXELS {
        return Err(HandwritingError::TooLarge(pixels / 1_000_000));
    }
    let image = SealImage::decode(bytes)?;
    let cleaned = clean_image(&image, ink)?;
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(
            cleaned.as_raw(),
            cleaned.width(),
            cleaned.height(),
            image::ExtendedColorType::Rgba8,
        )
        .map_err(|e| HandwritingError::Encode(e.to_string()))?;
    Ok(out)
}

/// Luminance of each pixel, with transparent pixels taken as white paper (a canvas capture
/// draws strokes on nothing).
fn luminance(image: &SealImage) -> Vec<f32> {
    image
        .rgba()
        .chunks_exact(4)
        .map(|p| {
            let a = f32::from(p[3]) / 255.0;
            let l = 0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2]);
            l * a + 255.0 * (1.0 - a)
        })
        .collect()
}

/// The paper brightness around each pixel (bright percentile per block, interpolated).
fn background(lum: &[f32], width: u32, height: u32) -> Vec<f32> {
    let bx = width.div_ceil(BLOCK) as usize;
    let by = height.div_ceil(BLOCK) as usize;
    let (w, h) = (width as usize, height as usize);
    let mut paper = vec![255.0f32; bx * by];
    for j in 0..by {
        for i in 0..bx {
            let mut values: Vec<f32> = Vec::with_capacity((BLOCK * BLOCK) as usize);
            for y in (j * BLOCK as usize)..((j + 1) * BLOCK as usize).min(h) {
                let row = y * w;
                values.extend_from_slice(
                    &lum[row + i * BLOCK as usize..row + ((i + 1) * BLOCK as usize).min(w)],
                );
            }
            values.sort_by(f32::total_cmp);
            // The 90th percentile: a block mostly of ink still shows some paper.
            let index = (values.len() * 9 / 10).min(values.len().saturating_sub(1));
            paper[j * bx + i] = values.get(index).copied().unwrap_or(255.0).max(1.0);
        }
    }
    // A block full of ink has no paper: take the brightest neighbour's instead.
    let smoothed: Vec<f32> = (0..by)
        .flat_map(|j| (0..bx).map(move |i| (i, j)))
        .map(|(i, j)| {
            let mut best = paper[j * bx + i];
            for (di, dj) in [(-1i64, 0i64), (1, 0), (0, -1), (0, 1)] {
                let (ni, nj) = (i as i64 + di, j as i64 + dj);
                if ni >= 0 && nj >= 0 && (ni as usize) < bx && (nj as usize) < by {
                    best = best.max(paper[nj as usize * bx + ni as usize]);
                }
            }
            best
        })
        .collect();
    let at = |i: usize, j: usize| smoothed[j.min(by - 1) * bx + i.min(bx - 1)];
    let mut out = Vec::with_capacity(w * h);
    for y in 0..h {
        let fy = ((y as f32 + 0.5) / BLOCK as f32 - 0.5).max(0.0);
        let (j, ty) = (fy.floor() as usize, fy.fract());
        for x in 0..w {
            let fx = ((x as f32 + 0.5) / BLOCK as f32 - 0.5).max(0.0);
            let (i, tx) = (fx.floor() as usize, fx.fract());
            let top = at(i, j) * (1.0 - tx) + at(i + 1, j) * tx;
            let bottom = at(i, j + 1) * (1.0 - tx) + at(i + 1, j + 1) * tx;
            out.push(top * (1.0 - ty) + bottom * ty);
        }
    }
    out
}

/// Otsu's threshold over darkness values in [0, 1].
fn otsu(values: &[f32]) -> f32 {
    let mut histogram = [0u64; 256];
    for v in values {
        histogram[(v.clamp(0.0, 1.0) * 255.0) as usize] += 1;
    }
    let total = values.len() as f64;
    let sum: f64 = histogram
        .iter()
        .enumerate()
        .map(|(i, &c)| i as f64 * c as f64)
        .sum();
    let (mut weight_b, mut sum_b, mut best, mut best_t) = (0.0f64, 0.0f64, 0.0f64, 0usize);
    for (t, &count) in histogram.iter().enumerate() {
        weight_b += count as f64;
        if weight_b == 0.0 {
            continue;
        }
        let weight_f = total - weight_b;
        if weight_f == 0.0 {
            break;
        }
        sum_b += t as f64 * count as f64;
        let mean_b = sum_b / weight_b;
        let mean_f = (sum - sum_b) / weight_f;
        let between = weight_b * weight_f * (mean_b - mean_f).powi(2);
        if between > best {
            best = between;
            best_t = t;
        }
    }
    best_t as f32 / 255.0
}

/// Cleans decoded pixels.
pub fn clean_image(image: &SealImage, ink: Ink) -> Result<RgbaImage, HandwritingError> {
    let (width, height) = (image.width(), image.height());
    let lum = luminance(image);
    let paper = background(&lum, width, height);
    let darkness: Vec<f32> = lum
        .iter()
        .zip(&paper)
        .map(|(&l, &p)| ((p - l) / p).clamp(0.0, 1.0))
        .collect();
    // Paper grain and JPEG noise stay below 0.12 on any picture we have seen; strokes are far
    // above. Otsu picks the split between them, but never below that floor, so an empty page
    // does not turn its noise into ink.
    let threshold = otsu(&darkness).max(0.12);
    let (low, high) = (threshold * 0.6, (threshold * 1.4).min(0.95));
    let [r, g, b] = ink.rgb();
    let mut out = RgbaImage::new(width, height);
    let (mut x0, mut y0, mut x1, mut y1) = (u32::MAX, u32::MAX, 0u32, 0u32);
    for (index, (pixel, &d)) in out.pixels_mut().zip(&darkness).enumerate() {
        let alpha = ((d - low) / (high - low)).clamp(0.0, 1.0);
        let alpha = (alpha * 255.0).round() as u8;
        *pixel = image::Rgba([r, g, b, alpha]);
        if alpha >= 128 {
            let (x, y) = ((index as u32) % width, (index as u32) / width);
            x0 = x0.min(x);
            y0 = y0.min(y);
            x1 = x1.max(x);
            y1 = y1.max(y);
        }
    }
    if x0 > x1 {
        return Err(HandwritingError::NoInk);
    }
    // A margin of 3 % of the longer side keeps anti-aliased edges.
    let margin = (width.max(height) * 3 / 100).max(2);
    let (x0, y0) = (x0.saturating_sub(margin), y0.saturating_sub(margin));
    let (x1, y1) = ((x1 + margin).min(width - 1), (y1 + margin).min(height - 1));
    let cropped = image::imageops::crop_imm(&out, x0, y0, x1 - x0 + 1, y1 - y0 + 1).to_image();
    let longest = cropped.width().max(cropped.height());
    if longest <= MAX_OUTPUT_SIDE {
        return Ok(cropped);
    }
    let scale = MAX_OUTPUT_SIDE as f32 / longest as f32;
    let (w, h) = (
        ((cropped.width() as f32 * scale).round() as u32).max(1),
        ((cropped.height() as f32 * scale).round() as u32).max(1),
    );
    Ok(image::imageops::resize(
        &cropped,
        w,
        h,
        image::imageops::FilterType::Triangle,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A grey, unevenly lit "paper" with a dark diagonal stroke.
    fn photo(width: u32, height: u32) -> SealImage {
        let mut rgba = Vec::with_capacity((width * height * 4) as usize);
        for y in 0..height {
            for x in 0..width {
                let light = 150.0 + 90.0 * x as f32 / width as f32;
                let on_stroke = (y as i64 - (x as i64 / 2 + i64::from(height / 5))).abs() < 4
                    && (width / 5..width * 4 / 5).contains(&x);
                let l = if on_stroke { light * 0.35 } else { light };
                rgba.extend_from_slice(&[l as u8, l as u8, (l * 1.05).min(255.0) as u8, 255]);
            }
        }
        SealImage::from_rgba(width, height, rgba).unwrap()
    }

    #[test]
    fn strokes_stay_paper_goes() {
        let cleaned = clean_image(&photo(300, 200), Ink::Black).unwrap();
        // Trimmed to the stroke (x 60..240, y 70..160) plus a margin.
        assert!(
            cleaned.width() < 220 && cleaned.width() > 170,
            "{}",
            cleaned.width()
        );
        assert!(
            cleaned.height() < 125 && cleaned.height() > 95,
            "{}",
            cleaned.height()
        );
        let opaque = cleaned.pixels().filter(|p| p[3] == 255).count();
        let clear = cleaned.pixels().filter(|p| p[3] == 0).count();
        let total = (cleaned.width() * cleaned.height()) as usize;
        assert!(opaque > 180 * 5, "stroke pixels kept: {opaque}");
        assert!(clear > total * 3 / 4, "paper removed: {clear} of {total}");
        assert!(cleaned.pixels().all(|p| p[0] == 0x14 && p[1] == 0x14));
    }

    #[test]
    fn a_blank_page_has_no_ink() {
        let blank = SealImage::from_rgba(100, 80, [230u8, 228, 225, 255].repeat(8000)).unwrap();
        assert!(matches!(
            clean_image(&blank, Ink::Black),
            Err(HandwritingError::NoInk)
        ));
        let transparent = SealImage::from_rgba(100, 80, vec![0u8; 32_000]).unwrap();
        assert!(matches!(
            clean_image(&transparent, Ink::Black),
            Err(HandwritingError::NoInk)
        ));
    }

    #[test]
    fn canvas_captures_with_transparency() {
        // Black strokes on a transparent canvas, as a phone's <canvas> exports them.
        let mut rgba = vec![0u8; 200 * 100 * 4];
        for x in 20..180 {
            for y in 48..52 {
                let i = (y * 200 + x) * 4;
                rgba[i + 3] = 255;
            }
        }
        let image = SealImage::from_rgba(200, 100, rgba).unwrap();
        let cleaned = clean_image(&image, Ink::Blue).unwrap();
        assert!(cleaned.height() < 30);
        assert!(cleaned.pixels().any(|p| p[3] == 255 && p[2] == 0x8c));
    }

    #[test]
    fn large_pictures_are_scaled_down() {
        let cleaned = clean_image(&photo(3000, 2000), Ink::Black).unwrap();
        assert!(cleaned.width().max(cleaned.height()) <= MAX_OUTPUT_SIDE);
    }

    #[test]
    fn garbage_is_refused() {
        assert!(matches!(
            clean(b"not an image", Ink::Black),
            Err(HandwritingError::Image(_))
        ));
    }
}
