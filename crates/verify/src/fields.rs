//! Finding the signatures of a document and the pages their widgets sit on.

use std::collections::{HashMap, HashSet};

use lopdf::{Dictionary, Document, Object, ObjectId};
use qz_pdf::{PageGeometry, Rect, Rotation};

/// A signed signature field.
#[derive(Debug, Clone)]
pub(crate) struct SignedField {
    /// Fully qualified name.
    pub name: String,
    /// The field object (or the widget that carries the field entries).
    pub field: ObjectId,
    /// `/V` as written: a reference or a direct dictionary.
    pub value: Object,
    /// Widget annotations of the field.
    pub widgets: Vec<ObjectId>,
}

fn is_widget(dict: &Dictionary) -> bool {
    dict.get(b"Subtype").and_then(Object::as_name).ok() == Some(b"Widget")
}

/// Every signature field with a value, from the AcroForm tree and from page annotations
/// (some writers forget one or the other), in AcroForm order.
pub(crate) fn signed_fields(doc: &Document) -> Vec<SignedField> {
    let mut out: Vec<SignedField> = Vec::new();
    let mut seen = HashSet::new();
    let roots = doc
        .catalog()
        .ok()
        .and_then(|c| c.get(b"AcroForm").ok())
        .and_then(|f| doc.dereference(f).ok())
        .and_then(|(_, f)| f.as_dict().ok())
        .and_then(|f| f.get(b"Fields").ok())
        .and_then(|f| doc.dereference(f).ok())
        .and_then(|(_, f)| f.as_array().ok())
        .cloned()
        .unwrap_or_default();
    let mut stack: Vec<(Object, String, Option<Vec<u8>>)> = roots
        .into_iter()
        .rev()
        .map(|r| (r, String::new(), None))
        .collect();
    while let Some((object, prefix, inherited)) = stack.pop() {
        let Ok(id) = object.as_reference() else { continue };
        if !seen.insert(id) || seen.len() > 100_000 {
            continue;
        }
        let Ok(dict) = doc.get_dictionary(id) else {
            continue;
        };
        let partial = dict
            .get(b"T")
            .and_then(Object::as_str)
            .ok()
            .map(qz_pdf::decode_text_string);
        let name = match (&partial, prefix.is_empty()) {
            (Some(p), true) => p.clone(),
            (Some(p), false) => format!("{prefix}.{p}"),
            (None, _) => prefix.clone(),
        };
        let field_type = dict
            .get(b"FT")
            .and_then(Object::as_name)
            .ok()
            .map(<[u8]>::to_vec)
            .or(inherited);
        let kids: Vec<Object> = dict
            .get(b"Kids")
            .and_then(Object::as_array)
            .cloned()
            .unwrap_or_default();
        let field_kids: Vec<&Object> = kids
            .iter()
            .filter(|k| {
                k.as_reference()
                    .ok()
                    .and_then(|k| doc.get_dictionary(k).ok())
                    .is_some_and(|k| k.has(b"T") || !is_widget(k))
            })
            .collect();
        if !field_kids.is_empty() {
            for kid in field_kids.into_iter().rev() {
                stack.push((kid.clone(), name.clone(), field_type.clone()));
            }
            continue;
        }
        if field_type.as_deref() != Some(b"Sig") {
            continue;
        }
        let Ok(value) = dict.get(b"V") else { continue };
        let mut widgets: Vec<ObjectId> = kids.iter().filter_map(|k| k.as_reference().ok()).collect();
        if is_widget(dict) {
            widgets.insert(0, id);
        }
        out.push(SignedField {
            name,
            field: id,
            value: value.clone(),
            widgets,
        });
    }
    // Signature widgets reachable only from pages.
    for page in doc.get_pages().into_values() {
        let annots = doc
            .get_dictionary(page)
            .ok()
            .and_then(|p| p.get(b"Annots").ok())
            .and_then(|a| doc.dereference(a).ok())
            .and_then(|(_, a)| a.as_array().ok())
            .cloned()
            .unwrap_or_default();
        for annot in annots {
            let Ok(id) = annot.as_reference() else { continue };
            if seen.contains(&id) {
                continue;
            }
            let Ok(dict) = doc.get_dictionary(id) else {
                continue;
            };
            if dict.get(b"FT").and_then(Object::as_name).ok() != Some(b"Sig") {
                continue;
            }
            let Ok(value) = dict.get(b"V") else { continue };
            if out.iter().any(|f| &f.value == value) {
                continue;
            }
            seen.insert(id);
            out.push(SignedField {
                name: dict
                    .get(b"T")
                    .and_then(Object::as_str)
                    .map(qz_pdf::decode_text_string)
                    .unwrap_or_default(),
                field: id,
                value: value.clone(),
                widgets: vec![id],
            });
        }
    }
    out
}

/// Page numbers (1-based) and geometry, for reporting where marks are.
pub(crate) struct Pages {
    numbers: HashMap<ObjectId, usize>,
    annots: HashMap<ObjectId, usize>,
    geometry: Vec<PageGeometry>,
}

fn inherited<'d>(doc: &'d Document, page: &'d Dictionary, key: &[u8]) -> Option<&'d Object> {
    let mut node = page;
    for _ in 0..64 {
        if let Ok(value) = node.get(key) {
            return doc.dereference(value).ok().map(|(_, v)| v);
        }
        let parent = node.get(b"Parent").ok()?.as_reference().ok()?;
        node = doc.get_dictionary(parent).ok()?;
    }
    None
}

fn rect_of(object: Option<&Object>) -> Option<Rect> {
    let items = object?.as_array().ok()?;
    let v: Vec<f64> = items
        .iter()
        .filter_map(|o| o.as_float().ok())
        .map(f64::from)
        .collect();
    match v.as_slice() {
        [x0, y0, x1, y1] => Some(Rect::from_corners(*x0, *y0, *x1, *y1)),
        _ => None,
    }
}

impl Pages {
    pub(crate) fn new(doc: &Document) -> Self {
        let mut numbers = HashMap::new();
        let mut annots = HashMap::new();
        let mut geometry = Vec::new();
        for (index, id) in doc.get_pages().into_values().enumerate() {
            numbers.insert(id, index + 1);
            let Ok(page) = doc.get_dictionary(id) else {
                geometry.push(PageGeometry {
                    visible: Rect::from_corners(0.0, 0.0, 612.0, 792.0),
                    rotation: Rotation::None,
                });
                continue;
            };
            let media = rect_of(inherited(doc, page, b"MediaBox"))
                .unwrap_or(Rect::from_corners(0.0, 0.0, 612.0, 792.0));
            let visible = rect_of(inherited(doc, page, b"CropBox"))
                .map(|c| c.intersect(&media))
                .filter(|r| r.width > 0.0 && r.height > 0.0)
                .unwrap_or(media);
            let rotation = inherited(doc, page, b"Rotate")
                .and_then(|r| r.as_i64().ok())
                .map(Rotation::from_degrees)
                .unwrap_or_default();
            geometry.push(PageGeometry { visible, rotation });
            if let Some(Object::Array(list)) = page
                .get(b"Annots")
                .ok()
                .and_then(|a| doc.dereference(a).ok())
                .map(|(_, a)| a)
            {
                for annot in list {
                    if let Ok(annot) = annot.as_reference() {
                        annots.insert(annot, index + 1);
                    }
                }
            }
        }
        Pages {
            numbers,
            annots,
            geometry,
        }
    }

    /// Where a widget is: page number and its rectangle on the displayed page; `None` for
    /// invisible widgets.
    pub(crate) fn mark(&self, doc: &Document, widget: ObjectId) -> Option<(usize, Rect)> {
        let dict = doc.get_dictionary(widget).ok()?;
        let rect = rect_of(
            dict.get(b"Rect")
                .ok()
                .and_then(|r| doc.dereference(r).ok())
                .map(|(_, r)| r),
        )?;
        if rect.width <= 0.0 || rect.height <= 0.0 {
            return None;
        }
        let page = self.annots.get(&widget).copied().or_else(|| {
            dict.get(b"P")
                .and_then(Object::as_reference)
                .ok()
                .and_then(|p| self.numbers.get(&p).copied())
        })?;
        let geometry = self.geometry.get(page - 1)?;
        Some((page, geometry.to_display(&rect)))
    }
}
