//! Embedding a subset of a CJK font for text stamps (the date stamp, 日期章).
//!
//! The text is written as a Type0 font with Identity-H encoding, so CIDs are the glyph ids of
//! the subset produced by `subsetter`; a ToUnicode CMap keeps the text extractable. TrueType
//! outlines become CIDFontType2 (FontFile2), CFF outlines CIDFontType0 inside an OpenType
//! wrapper (FontFile3 /OpenType), which is what `subsetter` writes for them.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use lopdf::{Dictionary, Object, Stream, StringFormat};
use subsetter::GlyphRemapper;

use crate::error::PdfError;
use crate::writer::Update;

/// A font file loaded for stamping text.
#[derive(Debug)]
pub struct Font {
    data: Vec<u8>,
    index: u32,
    units_per_em: f64,
    ascender: f64,
    descender: f64,
    bbox: [f64; 4],
    cff: bool,
    postscript_name: String,
}

impl Font {
    /// Parses a TrueType/OpenType font or one face (`index`) of a collection.
    pub fn from_bytes(data: Vec<u8>, index: u32) -> Result<Self, PdfError> {
        let face = ttf_parser::Face::parse(&data, index).map_err(|e| PdfError::Font(e.to_string()))?;
        let units_per_em = f64::from(face.units_per_em());
        let bbox = face.global_bounding_box();
        let postscript_name = face
            .names()
            .into_iter()
            .find(|n| n.name_id == ttf_parser::name_id::POST_SCRIPT_NAME)
            .and_then(|n| n.to_string())
            .unwrap_or_else(|| "CJKFont".to_owned())
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect::<String>();
        let font = Font {
            units_per_em,
            ascender: f64::from(face.ascender()),
            descender: f64::from(face.descender()),
            bbox: [
                f64::from(bbox.x_min),
                f64::from(bbox.y_min),
                f64::from(bbox.x_max),
                f64::from(bbox.y_max),
            ],
            cff: face.tables().cff.is_some(),
            postscript_name,
            index,
            data: Vec::new(),
        };
        Ok(Font { data, ..font })
    }

    fn face(&self) -> Result<ttf_parser::Face<'_>, PdfError> {
        ttf_parser::Face::parse(&self.data, self.index).map_err(|e| PdfError::Font(e.to_string()))
    }

    /// Glyph ids and advances (in font units) for `text`; fails on a character the font lacks.
    fn shape(&self, text: &str) -> Result<Vec<(char, u16, f64)>, PdfError> {
        let face = self.face()?;
        text.chars()
            .map(|c| {
                let glyph = face.glyph_index(c).ok_or(PdfError::MissingGlyph(c))?;
                let advance = f64::from(face.glyph_hor_advance(glyph).unwrap_or(0));
                Ok((c, glyph.0, advance))
            })
            .collect()
    }

    /// Whether the font has a glyph for `c`.
    pub fn has_glyph(&self, c: char) -> bool {
        self.face().is_ok_and(|face| face.glyph_index(c).is_some())
    }

    /// Width of `text` at `size` points.
    pub fn text_width(&self, text: &str, size: f64) -> Result<f64, PdfError> {
        let total: f64 = self.shape(text)?.iter().map(|(_, _, a)| a).sum();
        Ok(total * size / self.units_per_em)
    }

    /// Height above the baseline, as a fraction of the font size.
    pub fn ascent(&self) -> f64 {
        self.ascender / self.units_per_em
    }

    /// Depth below the baseline (positive), as a fraction of the font size.
    pub fn descent(&self) -> f64 {
        -self.descender / self.units_per_em
    }

    fn scale(&self, units: f64) -> f64 {
        (units * 1000.0 / self.units_per_em).round()
    }

    /// Embeds the glyphs of `text` and returns the Type0 font object number and the hex string
    /// (CIDs) to show with `Tj`.
    pub(crate) fn embed(&self, text: &str, update: &mut Update) -> Result<(u32, Vec<u8>), PdfError> {
        let (id, mut shown) = self.embed_many(&[text], update)?;
        Ok((id, shown.pop().unwrap_or_default()))
    }

    /// Embeds one subset covering every text of `texts`; the CIDs of each, in order.
    pub(crate) fn embed_many(
        &self,
        texts: &[&str],
        update: &mut impl ObjectSink,
    ) -> Result<(u32, Vec<Vec<u8>>), PdfError> {
        let mut remapper = GlyphRemapper::new();
        let mut by_cid: BTreeMap<u16, (char, f64)> = BTreeMap::new();
        let mut all_shown = Vec::with_capacity(texts.len());
        for text in texts {
            let shaped = self.shape(text)?;
            let mut shown = Vec::with_capacity(shaped.len() * 2);
            for (c, glyph, advance) in &shaped {
                let cid = remapper.remap(*glyph);
                by_cid.insert(cid, (*c, *advance));
                shown.extend_from_slice(&cid.to_be_bytes());
            }
            all_shown.push(shown);
        }
        let shown = all_shown;
        let subset = subsetter::subset(&self.data, self.index, &remapper)
            .map_err(|e| PdfError::Font(format!("cannot subset font: {e:?}")))?;

        // A subset tag derived from the glyphs, as ISO 32000-1 9.6.4 asks for subset fonts.
        let tag: String = {
            let mut hash: u32 = 2_166_136_261;
            for cid in by_cid.keys() {
                hash = (hash ^ u32::from(*cid)).wrapping_mul(16_777_619);
            }
            (0..6)
                .map(|i| char::from(b'A' + ((hash >> (i * 5)) % 26) as u8))
                .collect()
        };
        let base_font = format!("{tag}+{}", self.postscript_name);

        let mut file_dict = Dictionary::new();
        if self.cff {
            file_dict.set("Subtype", Object::Name(b"OpenType".to_vec()));
        } else {
            file_dict.set("Length1", Object::Integer(subset.len() as i64));
        }
        let file_id = update.add_object(Object::Stream(compressed_stream(file_dict, &subset)?))?;

        let mut descriptor = Dictionary::new();
        descriptor.set("Type", Object::Name(b"FontDescriptor".to_vec()));
        descriptor.set("FontName", Object::Name(base_font.clone().into_bytes()));
        descriptor.set("Flags", Object::Integer(4));
        descriptor.set(
            "FontBBox",
            Object::Array(
                self.bbox
                    .iter()
                    .map(|v| Object::Integer(self.scale(*v) as i64))
                    .collect(),
            ),
        );
        descriptor.set("ItalicAngle", Object::Integer(0));
        descriptor.set("Ascent", Object::Integer(self.scale(self.ascender) as i64));
        descriptor.set("Descent", Object::Integer(self.scale(self.descender) as i64));
        descriptor.set("CapHeight", Object::Integer(self.scale(self.ascender) as i64));
        descriptor.set("StemV", Object::Integer(80));
        descriptor.set(
            if self.cff { "FontFile3" } else { "FontFile2" },
            Object::Reference((file_id, 0)),
        );
        let descriptor_id = update.add_object(Object::Dictionary(descriptor))?;

        let mut widths = Vec::new();
        for (cid, (_, advance)) in &by_cid {
            widths.push(Object::Integer(i64::from(*cid)));
            widths.push(Object::Array(vec![Object::Integer(self.scale(*advance) as i64)]));
        }
        let mut cid_font = Dictionary::new();
        cid_font.set("Type", Object::Name(b"Font".to_vec()));
        cid_font.set(
            "Subtype",
            Object::Name(if self.cff {
                b"CIDFontType0".to_vec()
            } else {
                b"CIDFontType2".to_vec()
            }),
        );
        cid_font.set("BaseFont", Object::Name(base_font.clone().into_bytes()));
        let mut system_info = Dictionary::new();
        system_info.set("Registry", Object::string_literal("Adobe"));
        system_info.set("Ordering", Object::string_literal("Identity"));
        system_info.set("Supplement", Object::Integer(0));
        cid_font.set("CIDSystemInfo", Object::Dictionary(system_info));
        cid_font.set("FontDescriptor", Object::Reference((descriptor_id, 0)));
        cid_font.set("DW", Object::Integer(1000));
        cid_font.set("W", Object::Array(widths));
        if !self.cff {
            cid_font.set("CIDToGIDMap", Object::Name(b"Identity".to_vec()));
        }
        let cid_font_id = update.add_object(Object::Dictionary(cid_font))?;

        let to_unicode_id = update.add_object(Object::Stream(compressed_stream(
            Dictionary::new(),
            to_unicode_cmap(&by_cid).as_bytes(),
        )?))?;

        let mut type0 = Dictionary::new();
        type0.set("Type", Object::Name(b"Font".to_vec()));
        type0.set("Subtype", Object::Name(b"Type0".to_vec()));
        type0.set("BaseFont", Object::Name(base_font.into_bytes()));
        type0.set("Encoding", Object::Name(b"Identity-H".to_vec()));
        type0.set(
            "DescendantFonts",
            Object::Array(vec![Object::Reference((cid_font_id, 0))]),
        );
        type0.set("ToUnicode", Object::Reference((to_unicode_id, 0)));
        let font_id = update.add_object(Object::Dictionary(type0))?;
        Ok((font_id, shown))
    }
}

/// Fonts tried in order by [`Font::system_cjk`]: TrueType outlines first (they embed as
/// CIDFontType2, which every viewer renders), then the Noto CJK collections.
pub const CJK_FONT_CANDIDATES: &[&str] = &[
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
];

/// Characters a font must have to be of use for Chinese text.
const NEEDED: &str = "0123456789年月日签署";

impl Font {
    /// Loads a font file, face `index` of a collection or, without one, its simplified Chinese
    /// face (in the Noto CJK collections it is not the first); refuses a font that lacks common
    /// Chinese characters.
    pub fn load_file(path: &std::path::Path, index: Option<u32>) -> Result<Self, PdfError> {
        let data = std::fs::read(path).map_err(|e| PdfError::Font(format!("{}: {e}", path.display())))?;
        let faces = ttf_parser::fonts_in_collection(&data).unwrap_or(1);
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
        font.text_width(NEEDED, 10.0)?;
        Ok(font)
    }

    /// The first usable CJK font of [`CJK_FONT_CANDIDATES`] on this machine.
    pub fn system_cjk() -> Option<Self> {
        CJK_FONT_CANDIDATES
            .iter()
            .map(std::path::Path::new)
            .filter(|p| p.exists())
            .find_map(|p| Font::load_file(p, None).ok())
    }
}

/// Where new objects go: an incremental update, or a document written from scratch.
pub(crate) trait ObjectSink {
    /// Adds `object` under a fresh number.
    fn add_object(&mut self, object: Object) -> Result<u32, PdfError>;
}

impl ObjectSink for Update {
    fn add_object(&mut self, object: Object) -> Result<u32, PdfError> {
        self.add(&object)
    }
}

impl ObjectSink for lopdf::Document {
    fn add_object(&mut self, object: Object) -> Result<u32, PdfError> {
        Ok(lopdf::Document::add_object(self, object).0)
    }
}

/// Flate-compresses `data` into a stream with `dict`.
pub(crate) fn compressed_stream(mut dict: Dictionary, data: &[u8]) -> Result<Stream, PdfError> {
    use std::io::Write as _;
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder
        .write_all(data)
        .and_then(|()| encoder.finish())
        .map(|compressed| {
            dict.set("Filter", Object::Name(b"FlateDecode".to_vec()));
            let mut stream = Stream::new(dict, compressed);
            stream.allows_compression = false;
            stream
        })
        .map_err(|e| PdfError::Write(e.to_string()))
}

fn to_unicode_cmap(by_cid: &BTreeMap<u16, (char, f64)>) -> String {
    let mut cmap = String::from(
        "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n\
         /CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n\
         /CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n\
         1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n",
    );
    let entries: Vec<_> = by_cid.iter().collect();
    for chunk in entries.chunks(100) {
        let _ = writeln!(cmap, "{} beginbfchar", chunk.len());
        for (cid, (c, _)) in chunk {
            let mut utf16 = [0u16; 2];
            let units: String = c
                .encode_utf16(&mut utf16)
                .iter()
                .map(|u| format!("{u:04X}"))
                .collect();
            let _ = writeln!(cmap, "<{cid:04X}> <{units}>");
        }
        cmap.push_str("endbfchar\n");
    }
    cmap.push_str("endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n");
    cmap
}

/// Hex string object for `Tj`.
pub(crate) fn hex_string(bytes: Vec<u8>) -> Object {
    Object::String(bytes, StringFormat::Hexadecimal)
}
