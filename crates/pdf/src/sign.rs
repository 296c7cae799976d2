//! Appending one signature revision: a signature field with one widget per mark, the signature
//! dictionary with a `/Contents` placeholder, and the page and form updates that make them
//! reachable. The CMS itself is produced elsewhere (the `pki` crate) over the bytes this module
//! says are signed; [`PreparedSignature::finish`] then writes it into the placeholder.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use lopdf::{Dictionary, Object, ObjectId, StringFormat};

use crate::appearance::{AppearanceWriter, Mark, real};
use crate::document::{DocMdp, Document, encode_text_string};
use crate::error::PdfError;
use crate::raw;
use crate::writer::{Appended, Update, serialize};

/// The `/SubFilter` of the signature dictionary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SubFilter {
    /// `ETSI.CAdES.detached`: PAdES baseline signatures.
    #[default]
    CadesDetached,
    /// `adbe.pkcs7.detached`: plain PKCS#7, as many Chinese vendors write.
    Pkcs7Detached,
    /// `ETSI.RFC3161`: a document timestamp (PAdES B-LTA); the value is a TimeStampToken.
    DocumentTimestamp,
    /// `GBT38540.SES_Signature`: the value is a GB/T 38540 `SES_Signature` whose data hash is
    /// the SM3 of the byte ranges. There is no registered name (research/guomi.md §1.9), so
    /// this one is ours; generic validators ignore such signatures.
    GbtSesSignature,
}

impl SubFilter {
    fn name(self) -> &'static str {
        match self {
            SubFilter::CadesDetached => "ETSI.CAdES.detached",
            SubFilter::Pkcs7Detached => "adbe.pkcs7.detached",
            SubFilter::DocumentTimestamp => "ETSI.RFC3161",
            SubFilter::GbtSesSignature => "GBT38540.SES_Signature",
        }
    }
}

/// What to sign and how it should look.
#[derive(Debug, Clone, Default)]
pub struct SignatureOptions {
    /// Field name; a fresh `SignatureN` when absent. An existing empty signature field of that
    /// name is filled instead of creating one.
    pub field_name: Option<String>,
    /// CAdES or PKCS#7.
    pub sub_filter: SubFilter,
    /// The claimed signing time as a PDF date (`D:YYYYMMDDHHmmSS+08'00'`), written to `/M`.
    pub signing_time: String,
    /// `/Name`: the signer's name.
    pub name: Option<String>,
    /// `/Reason`.
    pub reason: Option<String>,
    /// `/Location`.
    pub location: Option<String>,
    /// `/ContactInfo`.
    pub contact_info: Option<String>,
    /// Bytes reserved for the DER CMS (written hex-encoded, so twice this in the file).
    pub contents_capacity: usize,
    /// Visible marks; none means an invisible signature.
    pub marks: Vec<Mark>,
    /// Ask the CMS layer for GM/T 0010 content-type OIDs (national profile); the PDF side does
    /// not change.
    pub gm_oids: bool,
    /// A DSS to add in the same revision, covered by this signature.
    pub dss: Option<crate::ValidationData>,
}

/// The document with its new revision appended, waiting for the CMS.
#[derive(Debug)]
pub struct PreparedSignature {
    base_len: usize,
    tail: Vec<u8>,
    /// Absolute offsets: `[0, a, b, c]` as in `/ByteRange`.
    byte_range: [usize; 4],
    /// The field the signature went into.
    field_name: String,
}

/// Width reserved for each ByteRange number: enough for files up to 10 GB.
const BYTE_RANGE_DIGITS: usize = 10;

pub(crate) fn text_string(text: &str) -> Object {
    let bytes = encode_text_string(text);
    if text.is_ascii() {
        Object::String(bytes, StringFormat::Literal)
    } else {
        Object::String(bytes, StringFormat::Hexadecimal)
    }
}

fn name(value: &str) -> Object {
    Object::Name(value.as_bytes().to_vec())
}

fn refs(ids: &[u32]) -> Vec<u8> {
    ids.iter()
        .fold(String::new(), |mut out, id| {
            let _ = write!(out, "{}{id} 0 R", if out.is_empty() { "" } else { " " });
            out
        })
        .into_bytes()
}

impl<'a> Document<'a> {
    /// Builds the signature revision described by `options`.
    pub fn prepare_signature(&self, options: &SignatureOptions) -> Result<PreparedSignature, PdfError> {
        for mark in &options.marks {
            let page = self.page(mark.page)?;
            if !page.geometry.contains(&mark.rect) {
                return Err(PdfError::RectOffPage {
                    page: mark.page,
                    x: mark.rect.x,
                    y: mark.rect.y,
                    w: mark.rect.width,
                    h: mark.rect.height,
                    page_w: page.geometry.display_width(),
                    page_h: page.geometry.display_height(),
                });
            }
        }
        let existing = match &options.field_name {
            Some(wanted) => match self.fields.iter().find(|f| &f.name == wanted) {
                Some(field) if field.signed => return Err(PdfError::FieldTaken(wanted.clone())),
                Some(field) => Some(field.clone()),
                None => None,
            },
            None => None,
        };
        // Document timestamps are LTV material, allowed whatever the certification says.
        let docmdp = self
            .docmdp
            .filter(|_| options.sub_filter != SubFilter::DocumentTimestamp);
        match docmdp {
            Some(DocMdp::NoChanges) => {
                return Err(PdfError::DocMdpForbids {
                    level: 1,
                    what: "forbids any further change, including new signatures",
                });
            }
            // ISO 32000 lets P=3 add annotations, but a new visible signature field is
            // still a change validators (pyHanko, Adobe) reject after a certification.
            Some(level @ (DocMdp::FormFilling | DocMdp::Annotations)) if !options.marks.is_empty() => {
                return Err(PdfError::DocMdpForbids {
                    level: if level == DocMdp::FormFilling { 2 } else { 3 },
                    what: "allows only invisible signatures or filling an existing signature field: \
                           drop the stamps",
                });
            }
            _ => {}
        }
        if existing.is_some() && !options.marks.is_empty() {
            return Err(PdfError::FieldTaken(format!(
                "{} (filling an existing field keeps its own widget; stamps cannot be added to it)",
                options.field_name.as_deref().unwrap_or_default()
            )));
        }

        let mut update = Update::new(self);
        let sig_id = update.allocate();
        let field_name = match (&existing, &options.field_name) {
            (Some(field), _) => field.name.clone(),
            (None, Some(wanted)) => wanted.clone(),
            (None, None) => self.fresh_field_name(),
        };

        // Widgets grouped by page object, to update each page's /Annots once.
        let mut new_annots: BTreeMap<usize, Vec<u32>> = BTreeMap::new();
        let field_id = match &existing {
            Some(field) => {
                let (buf, range) = self.raw_object(field.id)?;
                let body = raw::patch_dict(
                    &buf,
                    range.start,
                    &[(b"V", Some(format!("{sig_id} 0 R").into_bytes()))],
                )?;
                update.put_raw(field.id.0, field.id.1, body);
                None
            }
            None => {
                let field_id = update.allocate();
                let mut appearances = AppearanceWriter::default();
                let mut widget_ids = Vec::new();
                let merged = options.marks.len() <= 1;
                let marks: Vec<Option<&Mark>> = if options.marks.is_empty() {
                    vec![None]
                } else {
                    options.marks.iter().map(Some).collect()
                };
                for mark in marks {
                    let page_number = mark.map_or(1, |m| m.page);
                    let page = self.page(page_number)?;
                    let mut widget = Dictionary::new();
                    widget.set("Type", name("Annot"));
                    widget.set("Subtype", name("Widget"));
                    widget.set("P", Object::Reference(page.id));
                    match mark {
                        Some(mark) => {
                            let user = page.geometry.to_user(&mark.rect);
                            widget.set(
                                "Rect",
                                Object::Array(vec![
                                    real(user.x),
                                    real(user.y),
                                    real(user.right()),
                                    real(user.top()),
                                ]),
                            );
                            // Print + Locked: shows when printed, cannot be moved in a viewer.
                            widget.set("F", Object::Integer(132));
                            let form = appearances.form(mark, page.geometry.rotation, &mut update)?;
                            let mut ap = Dictionary::new();
                            ap.set("N", Object::Reference((form, 0)));
                            widget.set("AP", Object::Dictionary(ap));
                        }
                        None => {
                            widget.set(
                                "Rect",
                                Object::Array(vec![0.into(), 0.into(), 0.into(), 0.into()]),
                            );
                            // Hidden + Print + Locked.
                            widget.set("F", Object::Integer(134));
                        }
                    }
                    let widget_id = if merged {
                        widget.set("FT", name("Sig"));
                        widget.set("T", text_string(&field_name));
                        widget.set("V", Object::Reference((sig_id, 0)));
                        update.put(field_id, &Object::Dictionary(widget))?;
                        field_id
                    } else {
                        // No /Parent: poppler before 23.x takes a kid with /Parent for a child
                        // field and then reports every mark as an unsigned signature.
                        let _ = field_id;
                        update.add(&Object::Dictionary(widget))?
                    };
                    widget_ids.push(widget_id);
                    new_annots.entry(page_number).or_default().push(widget_id);
                }
                if !merged {
                    let mut field = Dictionary::new();
                    field.set("FT", name("Sig"));
                    field.set("T", text_string(&field_name));
                    field.set("V", Object::Reference((sig_id, 0)));
                    field.set(
                        "Kids",
                        Object::Array(widget_ids.iter().map(|id| Object::Reference((*id, 0))).collect()),
                    );
                    update.put(field_id, &Object::Dictionary(field))?;
                }
                Some(field_id)
            }
        };

        for (page_number, widgets) in &new_annots {
            let page = self.page(*page_number)?;
            self.add_annotations(page.id, widgets, &mut update)?;
        }
        // Validation material that must be covered by this very signature (an SES_Signature has
        // no room for the signer's chain) goes into a DSS in the same revision.
        let dss = match &options.dss {
            Some(data) => Some(self.dss_object(data, &mut update)?),
            None => None,
        };
        let catalog_extra: Vec<(&[u8], Option<Vec<u8>>)> = dss
            .map(|id| (b"DSS".as_slice(), Some(format!("{id} 0 R").into_bytes())))
            .into_iter()
            .collect();
        self.update_acroform(field_id, &catalog_extra, &mut update)?;

        let (sig_body, contents_at, byte_range_at) = signature_dictionary(options);
        update.put_raw(sig_id, 0, sig_body);
        let Appended { mut tail, positions } = update.finish(self)?;

        let base_len = self.bytes.len();
        let sig_start = positions
            .iter()
            .find(|(id, _)| *id == sig_id)
            .map(|(_, at)| *at - base_len)
            .ok_or_else(|| PdfError::Write("signature object lost".into()))?;
        // `N 0 obj\n` precedes the body.
        let header = format!("{sig_id} 0 obj\n").len();
        let contents_start = base_len + sig_start + header + contents_at;
        let contents_end = contents_start + 2 + 2 * options.contents_capacity;
        let total = base_len + tail.len();
        let byte_range = [0, contents_start, contents_end, total - contents_end];
        let patched = format!("[0 {} {} {}", byte_range[1], byte_range[2], byte_range[3]);
        let slot = sig_start + header + byte_range_at;
        let width = 3 + 3 * (BYTE_RANGE_DIGITS + 1);
        let target = tail
            .get_mut(slot..slot + width)
            .filter(|_| patched.len() < width)
            .ok_or_else(|| PdfError::Write("the file is too large for the ByteRange placeholder".into()))?;
        // Pad with spaces but keep the closing bracket of the placeholder.
        target[..width - 1].fill(b' ');
        target[..patched.len()].copy_from_slice(patched.as_bytes());
        Ok(PreparedSignature {
            base_len,
            tail,
            byte_range,
            field_name,
        })
    }

    fn fresh_field_name(&self) -> String {
        let taken: Vec<&str> = self.fields.iter().map(|f| f.name.as_str()).collect();
        (1..)
            .map(|n| format!("Signature{n}"))
            .find(|candidate| !taken.contains(&candidate.as_str()))
            .unwrap_or_else(|| "Signature".to_owned())
    }

    /// Adds widget references to a page's `/Annots`, keeping every other byte of the page.
    fn add_annotations(&self, page: ObjectId, widgets: &[u32], update: &mut Update) -> Result<(), PdfError> {
        let items = refs(widgets);
        let (buf, range) = self.raw_object(page)?;
        match raw::dict_get(&buf, range.start, b"Annots")? {
            Some(value) if buf[value.start] == b'[' => {
                let annots = raw::append_to_array(&buf, value, &items)?;
                let body = raw::patch_dict(&buf, range.start, &[(b"Annots", Some(annots))])?;
                update.put_raw(page.0, page.1, body);
            }
            Some(_) => {
                // An indirect array: rewrite that object only.
                let page_dict = self.doc.get_dictionary(page)?;
                let annots_id = page_dict.get(b"Annots")?.as_reference()?;
                let (abuf, arange) = self.raw_object(annots_id)?;
                let annots = raw::append_to_array(&abuf, arange, &items)?;
                update.put_raw(annots_id.0, annots_id.1, annots);
            }
            None => {
                let mut annots = b"[".to_vec();
                annots.extend_from_slice(&items);
                annots.push(b']');
                let body = raw::patch_dict(&buf, range.start, &[(b"Annots", Some(annots))])?;
                update.put_raw(page.0, page.1, body);
            }
        }
        Ok(())
    }

    /// Registers the new field in the AcroForm and sets `/SigFlags 3` (signatures exist,
    /// append only), creating the AcroForm when there is none.
    fn update_acroform(
        &self,
        new_field: Option<u32>,
        catalog_extra: &[(&[u8], Option<Vec<u8>>)],
        update: &mut Update,
    ) -> Result<(), PdfError> {
        let root = self.doc.trailer.get(b"Root")?.as_reference()?;
        let catalog = self.doc.get_dictionary(root)?;
        let field_ref = new_field.map(|id| refs(&[id]));
        let sig_flags_ok = self
            .acroform()
            .and_then(|form| form.get(b"SigFlags").ok())
            .and_then(|o| self.resolve(o))
            .and_then(|o| o.as_i64().ok())
            == Some(3);

        // Patches an AcroForm dictionary written at `start` in `buf`.
        let patch_form = |buf: &[u8], start: usize, update: &mut Update| -> Result<Vec<u8>, PdfError> {
            let mut replace: Vec<(&[u8], Option<Vec<u8>>)> = Vec::new();
            if let Some(field_ref) = &field_ref {
                match raw::dict_get(buf, start, b"Fields")? {
                    Some(value) if buf[value.start] == b'[' => {
                        replace.push((b"Fields", Some(raw::append_to_array(buf, value, field_ref)?)));
                    }
                    Some(_) => {
                        let form = self
                            .acroform()
                            .ok_or_else(|| PdfError::Malformed("AcroForm".into()))?;
                        let fields_id = form.get(b"Fields")?.as_reference()?;
                        let (fbuf, frange) = self.raw_object(fields_id)?;
                        let fields = raw::append_to_array(&fbuf, frange, field_ref)?;
                        update.put_raw(fields_id.0, fields_id.1, fields);
                    }
                    None => {
                        let mut fields = b"[".to_vec();
                        fields.extend_from_slice(field_ref);
                        fields.push(b']');
                        replace.push((b"Fields", Some(fields)));
                    }
                }
            }
            if !sig_flags_ok {
                replace.push((b"SigFlags", Some(b"3".to_vec())));
            }
            raw::patch_dict(buf, start, &replace)
        };

        match catalog.get(b"AcroForm") {
            Ok(Object::Reference(form_id)) => {
                let (buf, range) = self.raw_object(*form_id)?;
                let needs_rewrite = !sig_flags_ok
                    || (field_ref.is_some()
                        && !matches!(raw::dict_get(&buf, range.start, b"Fields")?, Some(v) if buf[v.start] != b'['));
                let body = patch_form(&buf, range.start, update)?;
                if needs_rewrite {
                    update.put_raw(form_id.0, form_id.1, body);
                }
                if !catalog_extra.is_empty() {
                    let (buf, range) = self.raw_object(root)?;
                    let body = raw::patch_dict(&buf, range.start, catalog_extra)?;
                    update.put_raw(root.0, root.1, body);
                }
            }
            Ok(_) => {
                let (buf, range) = self.raw_object(root)?;
                let form = raw::dict_get(&buf, range.start, b"AcroForm")?
                    .ok_or_else(|| PdfError::Malformed("AcroForm".into()))?;
                let form_body = patch_form(&buf, form.start, update)?;
                let mut replace: Vec<(&[u8], Option<Vec<u8>>)> = vec![(b"AcroForm", Some(form_body))];
                replace.extend(catalog_extra.iter().cloned());
                let body = raw::patch_dict(&buf, range.start, &replace)?;
                update.put_raw(root.0, root.1, body);
            }
            Err(_) => {
                let mut form = Dictionary::new();
                form.set(
                    "Fields",
                    Object::Array(new_field.iter().map(|id| Object::Reference((*id, 0))).collect()),
                );
                form.set("SigFlags", Object::Integer(3));
                let form_id = update.add(&Object::Dictionary(form))?;
                let (buf, range) = self.raw_object(root)?;
                let mut replace: Vec<(&[u8], Option<Vec<u8>>)> = vec![(b"AcroForm", Some(refs(&[form_id])))];
                replace.extend(catalog_extra.iter().cloned());
                let body = raw::patch_dict(&buf, range.start, &replace)?;
                update.put_raw(root.0, root.1, body);
            }
        }
        Ok(())
    }
}

/// The signature dictionary with placeholders; returns its bytes and where `/Contents <` and
/// the ByteRange array start within them.
fn signature_dictionary(options: &SignatureOptions) -> (Vec<u8>, usize, usize) {
    let mut dict = Dictionary::new();
    let timestamp = options.sub_filter == SubFilter::DocumentTimestamp;
    dict.set("Type", name(if timestamp { "DocTimeStamp" } else { "Sig" }));
    dict.set("Filter", name("Adobe.PPKLite"));
    dict.set("SubFilter", name(options.sub_filter.name()));
    // A document timestamp's time is in its token (ETSI EN 319 142-1 5.4).
    if !timestamp {
        dict.set("M", Object::string_literal(options.signing_time.as_bytes()));
    }
    for (key, value) in [
        ("Name", &options.name),
        ("Reason", &options.reason),
        ("Location", &options.location),
        ("ContactInfo", &options.contact_info),
    ] {
        if let Some(value) = value {
            dict.set(key, text_string(value));
        }
    }
    let mut body = serialize(&Object::Dictionary(dict)).unwrap_or_else(|_| b"<<>>".to_vec());
    // Drop the closing `>>` and append the two fixed-width placeholders.
    body.truncate(body.len().saturating_sub(2));
    body.extend_from_slice(b"/ByteRange ");
    let byte_range_at = body.len();
    body.push(b'[');
    let placeholder = format!("0 {:0w$} {:0w$} {:0w$}]", 0, 0, 0, w = BYTE_RANGE_DIGITS);
    body.extend_from_slice(placeholder.as_bytes());
    body.extend_from_slice(b"/Contents ");
    let contents_at = body.len();
    body.push(b'<');
    body.resize(body.len() + 2 * options.contents_capacity, b'0');
    body.extend_from_slice(b">>>");
    (body, contents_at, byte_range_at)
}

impl PreparedSignature {
    /// The `/ByteRange` values.
    pub fn byte_range(&self) -> [usize; 4] {
        self.byte_range
    }

    /// The name of the signature field.
    pub fn field_name(&self) -> &str {
        &self.field_name
    }

    /// The bytes covered by the signature, in order: feed them to the digest.
    pub fn signed_parts<'s>(&'s self, original: &'s [u8]) -> [&'s [u8]; 3] {
        let a = self.byte_range[1] - self.base_len;
        let b = self.byte_range[2] - self.base_len;
        [original, &self.tail[..a], &self.tail[b..]]
    }

    /// The appended revision with `cms` written into `/Contents`; append it to the original.
    pub fn finish(mut self, cms: &[u8]) -> Result<Vec<u8>, PdfError> {
        let start = self.byte_range[1] - self.base_len + 1;
        let end = self.byte_range[2] - self.base_len - 1;
        let reserved = (end - start) / 2;
        if cms.len() > reserved {
            return Err(PdfError::ContentsTooLarge {
                needed: cms.len(),
                reserved,
            });
        }
        const HEX: &[u8; 16] = b"0123456789ABCDEF";
        for (i, byte) in cms.iter().enumerate() {
            self.tail[start + 2 * i] = HEX[usize::from(byte >> 4)];
            self.tail[start + 2 * i + 1] = HEX[usize::from(byte & 0x0F)];
        }
        Ok(self.tail)
    }
}
