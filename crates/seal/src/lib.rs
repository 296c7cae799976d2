//! Seal images for Qianzhang: loading seal pictures and cutting them for cross-page seals (骑缝章).
//!
//! [`draw`] generates seal images from text (round official, contract and finance seals, oval
//! seals, square name seals, date stamps); [`handwriting`] cleans signature pictures; [`eseal`]
//! holds the GB/T 38540 e-seal structures.

pub mod draw;
pub mod eseal;
pub mod handwriting;

use thiserror::Error;

/// Errors of seal image handling.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SealError {
    /// The bytes are not an image we can decode.
    #[error("cannot decode the seal image: {0}")]
    Decode(String),
    /// The image is empty or absurdly large.
    #[error("the seal image is {width}x{height} pixels; it must be between 1x1 and {max}x{max}")]
    Size {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
        /// The largest accepted side.
        max: u32,
    },
    /// A cross-page seal needs at least one strip per page, and a pixel per strip.
    #[error("cannot cut a {width}-pixel-wide seal into {strips} strips")]
    TooManyStrips {
        /// Image width.
        width: u32,
        /// Strips asked for.
        strips: usize,
    },
}

/// The largest side we accept: a 42 mm seal at 1200 dpi is about 2000 pixels.
pub const MAX_SIDE: u32 = 8192;

/// A seal picture as straight RGBA pixels, rows from the top.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealImage {
    width: u32,
    height: u32,
    rgba: Vec<u8>,
}

impl SealImage {
    /// Decodes PNG or JPEG bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, SealError> {
        let reader = image::ImageReader::new(std::io::Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| SealError::Decode(e.to_string()))?;
        let (width, height) = reader
            .into_dimensions()
            .map_err(|e| SealError::Decode(e.to_string()))?;
        check_size(width, height)?;
        let decoded = image::load_from_memory(bytes).map_err(|e| SealError::Decode(e.to_string()))?;
        let rgba = decoded.to_rgba8();
        Ok(SealImage {
            width: rgba.width(),
            height: rgba.height(),
            rgba: rgba.into_raw(),
        })
    }

    /// From raw RGBA pixels.
    pub fn from_rgba(width: u32, height: u32, rgba: Vec<u8>) -> Result<Self, SealError> {
        check_size(width, height)?;
        if rgba.len() != width as usize * height as usize * 4 {
            return Err(SealError::Decode("pixel buffer does not match the size".into()));
        }
        Ok(SealImage { width, height, rgba })
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// The RGBA pixels.
    pub fn rgba(&self) -> &[u8] {
        &self.rgba
    }

    /// Height over width.
    pub fn aspect(&self) -> f64 {
        f64::from(self.height) / f64::from(self.width)
    }

    /// Cuts the image into `strips` vertical strips, left to right, for a cross-page seal: strip
    /// `i` goes to the `i`-th page of the range, at its right edge, so that fanning the pages
    /// shows the whole seal. Each strip's share of the width is returned with it (the fractions
    /// add up to 1), so strips can be drawn at exactly their share of the seal's width.
    pub fn vertical_strips(&self, strips: usize) -> Result<Vec<(SealImage, f64)>, SealError> {
        if strips == 0 || strips > self.width as usize {
            return Err(SealError::TooManyStrips {
                width: self.width,
                strips,
            });
        }
        let width = self.width as usize;
        let row_bytes = width * 4;
        (0..strips)
            .map(|i| {
                let x0 = i * width / strips;
                let x1 = (i + 1) * width / strips;
                let mut rgba = Vec::with_capacity((x1 - x0) * 4 * self.height as usize);
                for row in self.rgba.chunks_exact(row_bytes) {
                    rgba.extend_from_slice(&row[x0 * 4..x1 * 4]);
                }
                let strip = SealImage {
                    width: (x1 - x0) as u32,
                    height: self.height,
                    rgba,
                };
                Ok((strip, (x1 - x0) as f64 / width as f64))
            })
            .collect()
    }
}

fn check_size(width: u32, height: u32) -> Result<(), SealError> {
    if width == 0 || height == 0 || width > MAX_SIDE || height > MAX_SIDE {
        return Err(SealError::Size {
            width,
            height,
            max: MAX_SIDE,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(width: u32, height: u32) -> SealImage {
        let mut rgba = Vec::new();
        for _ in 0..height {
            for x in 0..width {
                rgba.extend_from_slice(&[(x % 256) as u8, 0, 0, 255]);
            }
        }
        SealImage::from_rgba(width, height, rgba).unwrap()
    }

    #[test]
    fn strips_reassemble_the_image() {
        let image = gradient(10, 3);
        let strips = image.vertical_strips(3).unwrap();
        assert_eq!(strips.len(), 3);
        let total: f64 = strips.iter().map(|(_, share)| share).sum();
        assert!((total - 1.0).abs() < 1e-12);
        for row in 0..3 {
            let mut joined = Vec::new();
            for (strip, _) in &strips {
                let w = strip.width() as usize * 4;
                joined.extend_from_slice(&strip.rgba()[row * w..(row + 1) * w]);
            }
            assert_eq!(joined, image.rgba()[row * 40..(row + 1) * 40]);
        }
    }

    #[test]
    fn refuses_more_strips_than_pixels() {
        assert!(gradient(4, 4).vertical_strips(5).is_err());
        assert!(gradient(4, 4).vertical_strips(0).is_err());
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(SealImage::decode(b"not an image").is_err());
        assert!(SealImage::decode(&[0x89, b'P', b'N', b'G', 0, 0]).is_err());
    }

    proptest::proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let _ = SealImage::decode(&bytes);
        }

        #[test]
        fn strip_widths_sum(width in 1u32..200, strips in 1usize..50) {
            let image = gradient(width, 2);
            match image.vertical_strips(strips) {
                Ok(parts) => {
                    let sum: u32 = parts.iter().map(|(s, _)| s.width()).sum();
                    proptest::prop_assert_eq!(sum, width);
                }
                Err(_) => proptest::prop_assert!(strips > width as usize),
            }
        }
    }
}
