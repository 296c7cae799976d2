//! What a mark looks like: seal images and text, drawn as widget appearance streams.

use std::collections::HashMap;
use std::sync::Arc;

use lopdf::{Dictionary, Object, Stream};

use crate::error::PdfError;
use crate::font::{Font, compressed_stream, hex_string};
use crate::geometry::{Rect, Rotation};
use crate::writer::{Update, num};

/// A raster image ready to embed: RGB samples and an optional alpha channel, both compressed.
///
/// Compression happens once, so an image stamped on a thousand pages (or signed a thousand
/// times in one process) costs one deflate.
#[derive(Debug)]
pub struct Image {
    width: u32,
    height: u32,
    rgb: Vec<u8>,
    alpha: Option<Vec<u8>>,
}

impl Image {
    /// From straight (non-premultiplied) RGBA pixels, row by row from the top.
    pub fn from_rgba(width: u32, height: u32, rgba: &[u8]) -> Result<Self, PdfError> {
        let pixels = (width as usize)
            .checked_mul(height as usize)
            .filter(|&n| n > 0)
            .ok_or_else(|| PdfError::Image("the image has no pixels".into()))?;
        if rgba.len() != pixels * 4 {
            return Err(PdfError::Image(format!(
                "{width}x{height} RGBA needs {} bytes, got {}",
                pixels * 4,
                rgba.len()
            )));
        }
        let mut rgb = Vec::with_capacity(pixels * 3);
        let mut alpha = Vec::with_capacity(pixels);
        for px in rgba.chunks_exact(4) {
            rgb.extend_from_slice(&px[..3]);
            alpha.push(px[3]);
        }
        let opaque = alpha.iter().all(|&a| a == 255);
        Ok(Image {
            width,
            height,
            rgb: deflate(&rgb)?,
            alpha: if opaque { None } else { Some(deflate(&alpha)?) },
        })
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }
}

fn deflate(data: &[u8]) -> Result<Vec<u8>, PdfError> {
    use std::io::Write as _;
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder
        .write_all(data)
        .and_then(|()| encoder.finish())
        .map_err(|e| PdfError::Write(e.to_string()))
}

/// Text drawn in one line.
#[derive(Debug, Clone)]
pub struct TextStyle {
    /// The font, a subset of which is embedded.
    pub font: Arc<Font>,
    /// Font size in points.
    pub size: f64,
    /// Fill colour, RGB in 0..=1.
    pub color: [f64; 3],
}

/// What a mark shows.
#[derive(Debug, Clone)]
pub enum Appearance {
    /// A seal image scaled to the mark's rectangle.
    Image(Arc<Image>),
    /// One line of text, baseline placed so the text fills the rectangle's height.
    Text {
        /// The text.
        text: String,
        /// Font, size, colour.
        style: TextStyle,
    },
}

/// A visible mark a signature puts on a page: one widget annotation of its signature field.
#[derive(Debug, Clone)]
pub struct Mark {
    /// Page number, 1-based.
    pub page: usize,
    /// Position on the page as displayed (bottom-left origin, after /Rotate), in points.
    pub rect: Rect,
    /// What it shows.
    pub appearance: Appearance,
}

impl Mark {
    /// A text mark sized to the text, the bottom-left corner of its box at (`x`, `y`).
    pub fn text(page: usize, x: f64, y: f64, text: String, style: TextStyle) -> Result<Self, PdfError> {
        let width = style.font.text_width(&text, style.size)?;
        let height = (style.font.ascent() + style.font.descent()) * style.size;
        Ok(Mark {
            page,
            rect: Rect::new(x, y, width.max(0.01), height.max(0.01))?,
            appearance: Appearance::Text { text, style },
        })
    }
}

/// Writes appearance streams, sharing image and form objects between identical marks.
#[derive(Debug, Default)]
pub(crate) struct AppearanceWriter {
    images: HashMap<*const Image, u32>,
    forms: HashMap<(*const Image, u64, u64, i64), u32>,
}

impl AppearanceWriter {
    fn image_object(&mut self, image: &Arc<Image>, update: &mut Update) -> Result<u32, PdfError> {
        let key = Arc::as_ptr(image);
        if let Some(id) = self.images.get(&key) {
            return Ok(*id);
        }
        let mut dict = Dictionary::new();
        dict.set("Type", Object::Name(b"XObject".to_vec()));
        dict.set("Subtype", Object::Name(b"Image".to_vec()));
        dict.set("Width", Object::Integer(image.width.into()));
        dict.set("Height", Object::Integer(image.height.into()));
        dict.set("BitsPerComponent", Object::Integer(8));
        dict.set("Filter", Object::Name(b"FlateDecode".to_vec()));
        if let Some(alpha) = &image.alpha {
            let mut mask = dict.clone();
            mask.set("ColorSpace", Object::Name(b"DeviceGray".to_vec()));
            let mask_id = update.add(&Object::Stream(raw_stream(mask, alpha.clone())))?;
            dict.set("SMask", Object::Reference((mask_id, 0)));
        }
        dict.set("ColorSpace", Object::Name(b"DeviceRGB".to_vec()));
        let id = update.add(&Object::Stream(raw_stream(dict, image.rgb.clone())))?;
        self.images.insert(key, id);
        Ok(id)
    }

    /// The normal appearance (a form XObject) for `mark` on a page shown with `rotation`.
    pub(crate) fn form(
        &mut self,
        mark: &Mark,
        rotation: Rotation,
        update: &mut Update,
    ) -> Result<u32, PdfError> {
        let (w, h) = (mark.rect.width, mark.rect.height);
        let mut resources = Dictionary::new();
        let content = match &mark.appearance {
            Appearance::Image(image) => {
                let key = (Arc::as_ptr(image), w.to_bits(), h.to_bits(), rotation.degrees());
                if let Some(id) = self.forms.get(&key) {
                    return Ok(*id);
                }
                let image_id = self.image_object(image, update)?;
                let mut xobjects = Dictionary::new();
                xobjects.set("Im0", Object::Reference((image_id, 0)));
                resources.set("XObject", Object::Dictionary(xobjects));
                format!("q {} 0 0 {} 0 0 cm /Im0 Do Q", num(w), num(h)).into_bytes()
            }
            Appearance::Text { text, style } => {
                let (font_id, shown) = style.font.embed(text, update)?;
                let mut fonts = Dictionary::new();
                fonts.set("F0", Object::Reference((font_id, 0)));
                resources.set("Font", Object::Dictionary(fonts));
                let [r, g, b] = style.color;
                let mut content = format!(
                    "q BT /F0 {} Tf {} {} {} rg 0 {} Td ",
                    num(style.size),
                    num(r),
                    num(g),
                    num(b),
                    num(style.font.descent() * style.size)
                )
                .into_bytes();
                content.extend_from_slice(&crate::writer::serialize(&hex_string(shown))?);
                content.extend_from_slice(b" Tj ET Q");
                content
            }
        };
        let mut dict = Dictionary::new();
        dict.set("Type", Object::Name(b"XObject".to_vec()));
        dict.set("Subtype", Object::Name(b"Form".to_vec()));
        dict.set("BBox", Object::Array(vec![0.into(), 0.into(), real(w), real(h)]));
        if rotation != Rotation::None {
            dict.set(
                "Matrix",
                Object::Array(rotation.counter_matrix().iter().map(|v| real(*v)).collect()),
            );
        }
        dict.set("Resources", Object::Dictionary(resources));
        let id = update.add(&Object::Stream(compressed_stream(dict, &content)?))?;
        if let Appearance::Image(image) = &mark.appearance {
            self.forms.insert(
                (Arc::as_ptr(image), w.to_bits(), h.to_bits(), rotation.degrees()),
                id,
            );
        }
        Ok(id)
    }
}

fn raw_stream(dict: Dictionary, data: Vec<u8>) -> Stream {
    let mut stream = Stream::new(dict, data);
    stream.allows_compression = false;
    stream
}

/// A number object: integers stay integers, others rounded to 4 decimals.
pub(crate) fn real(value: f64) -> Object {
    let rounded = (value * 10_000.0).round() / 10_000.0;
    if rounded == rounded.trunc() && rounded.abs() < 1e9 {
        Object::Integer(rounded as i64)
    } else {
        Object::Real(rounded as f32)
    }
}
