//! Opening a PDF for signing: structure checks, pages, form fields and certification.

use std::borrow::Cow;
use std::collections::HashSet;
use std::ops::Range;

use lopdf::{Dictionary, LoadOptions, Object, ObjectId, xref::XrefEntry, xref::XrefType};

use crate::error::PdfError;
use crate::geometry::{PageGeometry, Rect, Rotation};
use crate::raw;

/// Where a page sits in the file and how it is shown.
#[derive(Debug, Clone)]
pub struct Page {
    /// The page object.
    pub id: ObjectId,
    /// Visible box and rotation.
    pub geometry: PageGeometry,
}

/// A signature field already in the document.
#[derive(Debug, Clone)]
pub struct SignatureField {
    /// The fully qualified field name.
    pub name: String,
    /// The field object.
    pub id: ObjectId,
    /// Whether it holds a signature (`/V` present).
    pub signed: bool,
}

/// How a certification signature restricts later changes (ISO 32000-1 12.8.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocMdp {
    /// P=1: no changes at all.
    NoChanges,
    /// P=2: form filling and signing.
    FormFilling,
    /// P=3: P=2 plus annotations.
    Annotations,
}

/// A PDF opened for appending a signature revision. Holds the original bytes untouched.
#[derive(Debug)]
pub struct Document<'a> {
    pub(crate) bytes: &'a [u8],
    pub(crate) doc: lopdf::Document,
    pages: Vec<Page>,
    pub(crate) fields: Vec<SignatureField>,
    pub(crate) docmdp: Option<DocMdp>,
    /// The last `startxref` value: the `/Prev` of our update.
    pub(crate) prev_xref: usize,
    /// Whether the last section is a cross-reference stream (then ours must be one too).
    pub(crate) xref_stream: bool,
    /// First object number free for new objects.
    pub(crate) next_id: u32,
}

/// Loading keeps only the streams we need: object streams (to read compressed objects byte for
/// byte) and nothing else. Page contents and images can be hundreds of megabytes and we never
/// rewrite them.
fn keep_small(id: ObjectId, object: &mut Object) -> Option<(ObjectId, Object)> {
    if let Object::Stream(stream) = object
        && !stream.dict.has_type(b"ObjStm")
    {
        stream.content = Vec::new();
    }
    // lopdf uses the object in place on one path and the returned one on another.
    Some((id, object.clone()))
}

/// Finds the number after the last `startxref` near the end of the file.
fn last_startxref(bytes: &[u8]) -> Result<usize, PdfError> {
    let tail_start = bytes.len().saturating_sub(2048);
    let tail = &bytes[tail_start..];
    let pos = tail
        .windows(9)
        .rposition(|w| w == b"startxref")
        .ok_or(PdfError::Truncated)?;
    let start = raw::skip_ws(tail, pos + 9);
    let digits = tail[start..].iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&tail[start..start + digits])
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or(PdfError::Truncated)
}

impl<'a> Document<'a> {
    /// Parses `bytes` and checks that a signature can be appended to it.
    pub fn open(bytes: &'a [u8]) -> Result<Self, PdfError> {
        let head = &bytes[..bytes.len().min(1024)];
        if !head.windows(5).any(|w| w == b"%PDF-") {
            return Err(PdfError::NotPdf);
        }
        let prev_xref = last_startxref(bytes)?;
        if prev_xref >= bytes.len() {
            return Err(PdfError::Damaged(
                "startxref points past the end of the file".into(),
            ));
        }
        let options = LoadOptions {
            filter: Some(keep_small),
            ..LoadOptions::default()
        };
        // lopdf is not guaranteed to be panic-free on hostile input; a panic must become an
        // error, never a crash with a half-written output.
        let loaded = std::panic::catch_unwind(|| lopdf::Document::load_mem_with_options(bytes, options))
            .map_err(|_| PdfError::Parse("the parser failed on this file".into()))?;
        let doc = match loaded {
            Ok(doc) => doc,
            Err(lopdf::Error::Decryption(_)) => return Err(PdfError::Encrypted),
            Err(err) => return Err(PdfError::Parse(err.to_string())),
        };
        // lopdf decrypts empty-password files on load and drops /Encrypt from the trailer;
        // `encryption_state` remembers that it did.
        if doc.trailer.has(b"Encrypt") || doc.is_encrypted() || doc.encryption_state.is_some() {
            return Err(PdfError::Encrypted);
        }
        let mut document = Document {
            bytes,
            xref_stream: matches!(
                doc.reference_table.cross_reference_type,
                XrefType::CrossReferenceStream
            ),
            next_id: doc.reference_table.size.max(doc.max_id.saturating_add(1)).max(1),
            doc,
            pages: Vec::new(),
            fields: Vec::new(),
            docmdp: None,
            prev_xref,
        };
        document.fields = document.collect_signature_fields();
        let signed = document.fields.iter().any(|f| f.signed);
        let damage = document.damage();
        if let Some(problem) = damage {
            return Err(if signed {
                PdfError::DamagedSigned(problem)
            } else {
                PdfError::Damaged(problem)
            });
        }
        document.pages = document.collect_pages()?;
        document.docmdp = document.find_docmdp();
        Ok(document)
    }

    /// Describes why the cross-reference data cannot be trusted, if it cannot.
    fn damage(&self) -> Option<String> {
        if let Some(recovery) = self.doc.xref_recovery {
            return Some(format!("cross-reference data had to be repaired ({recovery:?})"));
        }
        if self.doc.xref_start != self.prev_xref {
            return Some("startxref does not point at a cross-reference section".into());
        }
        // Every object the table locates must start where it says; a reader that repairs
        // silently would otherwise let us sign bytes other viewers read differently.
        for (&id, entry) in &self.doc.reference_table.entries {
            if let XrefEntry::Normal { offset, .. } = entry
                && raw::indirect_value(self.bytes, *offset as usize, id).is_err()
            {
                return Some(format!("object {id} is not at offset {offset}"));
            }
        }
        if self.doc.catalog().is_err() {
            return Some("the document catalog is missing".into());
        }
        None
    }

    /// The pages, in order.
    pub fn pages(&self) -> &[Page] {
        &self.pages
    }

    /// Signature fields present in the AcroForm.
    pub fn signature_fields(&self) -> &[SignatureField] {
        &self.fields
    }

    /// The DocMDP restriction of a certification signature, if the document is certified.
    pub fn docmdp(&self) -> Option<DocMdp> {
        self.docmdp
    }

    /// The page at a 1-based number.
    pub fn page(&self, number: usize) -> Result<&Page, PdfError> {
        number
            .checked_sub(1)
            .and_then(|i| self.pages.get(i))
            .ok_or(PdfError::PageOutOfRange {
                page: number,
                pages: self.pages.len(),
            })
    }

    pub(crate) fn resolve<'o>(&'o self, object: &'o Object) -> Option<&'o Object> {
        self.doc.dereference(object).ok().map(|(_, o)| o)
    }

    fn dict_of<'o>(&'o self, object: &'o Object) -> Option<&'o Dictionary> {
        self.resolve(object).and_then(|o| o.as_dict().ok())
    }

    fn number(&self, object: &Object) -> Option<f64> {
        self.resolve(object)
            .and_then(|o| o.as_float().ok())
            .map(f64::from)
    }

    fn rect_of(&self, object: &Object) -> Option<Rect> {
        let items = self.resolve(object)?.as_array().ok()?;
        if items.len() != 4 {
            return None;
        }
        let v: Vec<f64> = items.iter().filter_map(|o| self.number(o)).collect();
        let [x0, y0, x1, y1] = v.as_slice() else {
            return None;
        };
        let rect = Rect::from_corners(*x0, *y0, *x1, *y1);
        (rect.width > 0.0 && rect.height > 0.0).then_some(rect)
    }

    /// Looks a page attribute up the page tree (MediaBox, CropBox and Rotate are inheritable).
    fn inherited<'o>(&'o self, page: &'o Dictionary, key: &[u8]) -> Option<&'o Object> {
        let mut node = page;
        let mut seen = HashSet::new();
        loop {
            if let Ok(value) = node.get(key) {
                return Some(value);
            }
            let parent = node.get(b"Parent").ok()?.as_reference().ok()?;
            if !seen.insert(parent) {
                return None;
            }
            node = self.doc.get_dictionary(parent).ok()?;
        }
    }

    fn collect_pages(&self) -> Result<Vec<Page>, PdfError> {
        let ids: Vec<ObjectId> = self.doc.get_pages().into_values().collect();
        if ids.is_empty() {
            return Err(PdfError::Malformed("the document has no pages".into()));
        }
        ids.into_iter()
            .map(|id| {
                let dict = self
                    .doc
                    .get_dictionary(id)
                    .map_err(|_| PdfError::Malformed(format!("page object {} {} is missing", id.0, id.1)))?;
                let media = self
                    .inherited(dict, b"MediaBox")
                    .and_then(|o| self.rect_of(o))
                    // A missing MediaBox is an error in the file; US Letter is what readers assume.
                    .unwrap_or(Rect::from_corners(0.0, 0.0, 612.0, 792.0));
                let visible = self
                    .inherited(dict, b"CropBox")
                    .and_then(|o| self.rect_of(o))
                    .map(|crop| crop.intersect(&media))
                    .filter(|r| r.width > 0.0 && r.height > 0.0)
                    .unwrap_or(media);
                let rotation = self
                    .inherited(dict, b"Rotate")
                    .and_then(|o| self.resolve(o))
                    .and_then(|o| o.as_i64().ok())
                    .map(Rotation::from_degrees)
                    .unwrap_or_default();
                Ok(Page {
                    id,
                    geometry: PageGeometry { visible, rotation },
                })
            })
            .collect()
    }

    /// The AcroForm dictionary, if any.
    pub(crate) fn acroform(&self) -> Option<&Dictionary> {
        let catalog = self.doc.catalog().ok()?;
        self.dict_of(catalog.get(b"AcroForm").ok()?)
    }

    fn collect_signature_fields(&self) -> Vec<SignatureField> {
        let mut out = Vec::new();
        let Some(fields) = self
            .acroform()
            .and_then(|form| form.get(b"Fields").ok())
            .and_then(|o| self.resolve(o))
            .and_then(|o| o.as_array().ok())
        else {
            return out;
        };
        let mut seen = HashSet::new();
        let mut stack: Vec<(Object, String, Option<Vec<u8>>)> = fields
            .iter()
            .rev()
            .map(|f| (f.clone(), String::new(), None))
            .collect();
        while let Some((object, prefix, inherited_ft)) = stack.pop() {
            let Ok(id) = object.as_reference() else { continue };
            if !seen.insert(id) || seen.len() > 100_000 {
                continue;
            }
            let Ok(dict) = self.doc.get_dictionary(id) else {
                continue;
            };
            let partial = dict
                .get(b"T")
                .ok()
                .and_then(|t| t.as_str().ok())
                .map(decode_text_string);
            let name = match (&partial, prefix.is_empty()) {
                (Some(p), true) => p.clone(),
                (Some(p), false) => format!("{prefix}.{p}"),
                (None, _) => prefix.clone(),
            };
            let field_type = dict
                .get(b"FT")
                .ok()
                .and_then(|o| o.as_name().ok())
                .map(<[u8]>::to_vec)
                .or(inherited_ft);
            if let Ok(kids) = dict.get(b"Kids").and_then(Object::as_array) {
                let has_field_kids = kids.iter().any(|kid| {
                    kid.as_reference()
                        .ok()
                        .and_then(|k| self.doc.get_dictionary(k).ok())
                        .is_some_and(|k| k.has(b"T"))
                });
                if has_field_kids {
                    for kid in kids.iter().rev() {
                        stack.push((kid.clone(), name.clone(), field_type.clone()));
                    }
                    continue;
                }
            }
            if field_type.as_deref() == Some(b"Sig") && partial.is_some() {
                out.push(SignatureField {
                    name,
                    id,
                    signed: dict.has(b"V"),
                });
            }
        }
        out
    }

    fn find_docmdp(&self) -> Option<DocMdp> {
        let catalog = self.doc.catalog().ok()?;
        let perms = self.dict_of(catalog.get(b"Perms").ok()?)?;
        let sig = self.dict_of(perms.get(b"DocMDP").ok()?)?;
        let mut level = 2;
        if let Some(refs) = sig
            .get(b"Reference")
            .ok()
            .and_then(|o| self.resolve(o))
            .and_then(|o| o.as_array().ok())
        {
            for reference in refs {
                let Some(entry) = self.dict_of(reference) else {
                    continue;
                };
                let is_docmdp =
                    entry.get(b"TransformMethod").ok().and_then(|o| o.as_name().ok()) == Some(b"DocMDP");
                if !is_docmdp {
                    continue;
                }
                if let Some(p) = entry
                    .get(b"TransformParams")
                    .ok()
                    .and_then(|o| self.dict_of(o))
                    .and_then(|params| params.get(b"P").ok())
                    .and_then(|o| o.as_i64().ok())
                {
                    level = p;
                }
            }
        }
        Some(match level {
            1 => DocMdp::NoChanges,
            3 => DocMdp::Annotations,
            _ => DocMdp::FormFilling,
        })
    }

    /// The original bytes of object `id`'s value, for byte-preserving rewrites (see [`raw`]).
    pub(crate) fn raw_object(&self, id: ObjectId) -> Result<(Cow<'a, [u8]>, Range<usize>), PdfError> {
        match self.doc.reference_table.get(id.0) {
            Some(XrefEntry::Normal { offset, .. }) => {
                let range = raw::indirect_value(self.bytes, *offset as usize, id.0)?;
                Ok((Cow::Borrowed(self.bytes), range))
            }
            Some(XrefEntry::Compressed { container, index }) => {
                let stream = self
                    .doc
                    .get_object((*container, 0))
                    .and_then(Object::as_stream)
                    .map_err(|_| PdfError::Malformed(format!("object stream {container} is missing")))?;
                let data = stream
                    .decompressed_content()
                    .map_err(|e| PdfError::Malformed(format!("object stream {container}: {e}")))?;
                let first = stream
                    .dict
                    .get(b"First")
                    .and_then(Object::as_i64)
                    .ok()
                    .and_then(|v| usize::try_from(v).ok())
                    .ok_or_else(|| PdfError::Malformed(format!("object stream {container} has no /First")))?;
                let header = data.get(..first).unwrap_or_default();
                let numbers: Vec<usize> = header
                    .split(|b| raw_is_ws(*b))
                    .filter(|t| !t.is_empty())
                    .filter_map(|t| std::str::from_utf8(t).ok()?.parse().ok())
                    .collect();
                let i = usize::from(*index);
                let (number, offset) = match (numbers.get(2 * i), numbers.get(2 * i + 1)) {
                    (Some(n), Some(o)) => (*n, *o),
                    _ => {
                        return Err(PdfError::Malformed(format!(
                            "object {} not found in object stream {container}",
                            id.0
                        )));
                    }
                };
                if number != id.0 as usize {
                    return Err(PdfError::Malformed(format!(
                        "object stream {container} lists object {number} where {} was expected",
                        id.0
                    )));
                }
                let start = raw::skip_ws(&data, first + offset);
                let end = raw::value_end(&data, start)?;
                Ok((Cow::Owned(data), start..end))
            }
            _ => Err(PdfError::Malformed(format!("object {} is not in the file", id.0))),
        }
    }
}

fn raw_is_ws(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\r' | b'\n' | b'\x0c' | b'\0')
}

/// Decodes a PDF text string (UTF-16BE with BOM, UTF-8 with BOM, or PDFDocEncoding ≈ Latin-1).
pub fn decode_text_string(bytes: &[u8]) -> String {
    if let Some(rest) = bytes.strip_prefix(&[0xFE, 0xFF]) {
        let units: Vec<u16> = rest
            .chunks_exact(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
            .collect();
        return String::from_utf16_lossy(&units);
    }
    if let Some(rest) = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        return String::from_utf8_lossy(rest).into_owned();
    }
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// Encodes a text string for PDF: ASCII as is, anything else as UTF-16BE with a BOM.
pub(crate) fn encode_text_string(text: &str) -> Vec<u8> {
    if text.is_ascii() {
        return text.as_bytes().to_vec();
    }
    let mut out = vec![0xFE, 0xFF];
    for unit in text.encode_utf16() {
        out.extend_from_slice(&unit.to_be_bytes());
    }
    out
}

impl Document<'_> {
    /// The raw `/Contents` of every signed signature field (CMS or timestamp tokens), for
    /// collecting the certificates a DSS must hold.
    pub fn signature_values(&self) -> Vec<Vec<u8>> {
        self.fields
            .iter()
            .filter(|f| f.signed)
            .filter_map(|f| self.doc.get_dictionary(f.id).ok())
            .filter_map(|field| field.get(b"V").ok())
            .filter_map(|v| self.resolve(v))
            .filter_map(|v| v.as_dict().ok())
            .filter_map(|sig| sig.get(b"Contents").ok())
            .filter_map(|c| c.as_str().ok())
            .map(<[u8]>::to_vec)
            .collect()
    }
}
