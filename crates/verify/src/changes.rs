//! What later revisions changed, compared with the revision a signature covers.
//!
//! The document as the signer saw it (the signed prefix) and the document as a reader sees it
//! now (the whole file) are both parsed; every object whose cross-reference entry differs is
//! compared by value. Changes are then explained by a whitelist, in the spirit of pyHanko's
//! difference analysis: a page may gain annotations (and nothing else), the AcroForm may gain
//! fields and `/SigFlags`, the catalog may gain `/DSS` and `/AcroForm`, an existing field may
//! be filled. New objects are explained only when reachable from such an allowed addition;
//! an object that existed before signing and changes afterwards is never explained by being
//! reachable, which is what defeats shadow attacks that swap a prepared object in through the
//! cross-reference table alone. Anything unexplained makes the signature "modified".

use std::collections::{BTreeSet, HashSet, VecDeque};

use lopdf::xref::XrefEntry;
use lopdf::{Dictionary, Document, Object, ObjectId};

use crate::report::Modification;

/// The classification of everything after one signature's revision.
#[derive(Debug, Clone)]
pub(crate) struct Changes {
    /// The most serious kind of change.
    pub level: Modification,
    /// Why, when the level is `Other` (and notable facts otherwise).
    pub reasons: Vec<String>,
}

fn entry_key(entry: &XrefEntry) -> Option<(u8, u64, u64)> {
    match entry {
        XrefEntry::Normal { offset, generation } => Some((1, u64::from(*offset), u64::from(*generation))),
        XrefEntry::Compressed { container, index } => Some((2, u64::from(*container), u64::from(*index))),
        XrefEntry::Free | XrefEntry::UnusableFree => None,
    }
}

/// Value equality that ignores where a stream happened to sit in the file.
pub(crate) fn same(a: &Object, b: &Object) -> bool {
    match (a, b) {
        (Object::Stream(x), Object::Stream(y)) => x.dict == y.dict && x.content == y.content,
        (Object::Array(x), Object::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q))
        }
        (Object::Dictionary(x), Object::Dictionary(y)) => same_dict(x, y, &[]),
        _ => a == b,
    }
}

fn same_dict(x: &Dictionary, y: &Dictionary, except: &[&[u8]]) -> bool {
    let keys: BTreeSet<&[u8]> = x
        .iter()
        .chain(y.iter())
        .map(|(k, _)| k.as_slice())
        .filter(|k| !except.contains(k))
        .collect();
    keys.into_iter().all(|k| match (x.get(k), y.get(k)) {
        (Ok(p), Ok(q)) => same(p, q),
        (Err(_), Err(_)) => true,
        _ => false,
    })
}

fn is_container(object: &Object) -> bool {
    object
        .as_stream()
        .is_ok_and(|s| s.dict.has_type(b"XRef") || s.dict.has_type(b"ObjStm"))
}

struct Analysis<'d> {
    old: &'d Document,
    new: &'d Document,
    changed: BTreeSet<ObjectId>,
    explained: HashSet<ObjectId>,
    roots: Vec<(Object, Modification)>,
    /// Widgets listed as /Kids of newly added signature fields (they may lack /Parent).
    new_signature_widgets: HashSet<ObjectId>,
    /// Field locks (FieldMDP) of the signatures present in the signed revision.
    locks: Vec<Lock>,
    /// /Info or XMP metadata changed.
    metadata_changed: bool,
    /// A signature, document timestamp or DSS was added: the metadata may change with it.
    signature_material: bool,
    level: Modification,
    reasons: Vec<String>,
}

impl Analysis<'_> {
    fn bump(&mut self, level: Modification, reason: impl Into<String>) {
        if level == Modification::Other {
            self.reasons.push(reason.into());
        }
        self.level = self.level.max(level);
    }

    fn is_new(&self, id: ObjectId) -> bool {
        !self.old.objects.contains_key(&id)
    }

    fn resolve<'a>(doc: &'a Document, object: &'a Object) -> Option<&'a Object> {
        doc.dereference(object).ok().map(|(_, o)| o)
    }

    fn resolve_dict<'a>(doc: &'a Document, object: Option<&'a Object>) -> Option<&'a Dictionary> {
        object
            .and_then(|o| Self::resolve(doc, o))
            .and_then(|o| o.as_dict().ok())
    }

    /// Marks an indirect object as explained when `object` is a reference to it.
    fn explain_ref(&mut self, object: Option<&Object>) {
        if let Some(Object::Reference(id)) = object {
            self.explained.insert(*id);
        }
    }

    fn references(object: Option<&Object>, doc: &Document) -> Vec<Object> {
        match object.and_then(|o| Self::resolve(doc, o)) {
            Some(Object::Array(items)) => items.clone(),
            _ => Vec::new(),
        }
    }

    fn catalog_and_form(&mut self) {
        let (Ok(old_root), Ok(new_root)) = (self.old.trailer.get(b"Root"), self.new.trailer.get(b"Root"))
        else {
            self.bump(Modification::Other, "the catalog is missing");
            return;
        };
        if old_root != new_root {
            self.bump(Modification::Other, "the trailer points to another catalog");
            return;
        }
        // Writers (pyHanko among them) refresh /Info and the XMP metadata when they sign;
        // metadata is not page content, so like pyHanko we allow it.
        let info = self.new.trailer.get(b"Info").ok().cloned();
        if (!same_opt(self.old.trailer.get(b"Info").ok(), info.as_ref()) || self.info_changed())
            && let Some(Object::Reference(id)) = &info
        {
            // Allowed only alongside a signature or LTV update (checked at the end): an edit of
            // the metadata on its own is a modification.
            self.explained.insert(*id);
            self.metadata_changed = true;
        }
        let (Ok(old_cat), Ok(new_cat)) = (self.old.catalog(), self.new.catalog()) else {
            self.bump(Modification::Other, "the catalog cannot be read");
            return;
        };
        self.explain_ref(Some(new_root));
        let allowed: &[&[u8]] = &[b"AcroForm", b"DSS", b"Extensions", b"Metadata", b"Version"];
        if !same_dict(old_cat, new_cat, allowed) {
            let keys: BTreeSet<String> = old_cat
                .iter()
                .chain(new_cat.iter())
                .map(|(k, _)| k.as_slice())
                .filter(|k| !allowed.contains(k))
                .filter(|k| !same_opt(old_cat.get(k).ok(), new_cat.get(k).ok()))
                .map(|k| String::from_utf8_lossy(k).into_owned())
                .collect();
            self.bump(
                Modification::Other,
                format!(
                    "the document catalog changed ({})",
                    keys.into_iter().collect::<Vec<_>>().join(", ")
                ),
            );
        }
        if let Ok(Object::Reference(id)) = new_cat.get(b"Metadata")
            && self.changed.contains(id)
        {
            let is_xmp = self
                .new
                .get_object(*id)
                .and_then(Object::as_stream)
                .is_ok_and(|s| s.dict.has_type(b"Metadata"));
            if is_xmp {
                self.explained.insert(*id);
                self.metadata_changed = true;
            }
        }
        let old_dss = old_cat.get(b"DSS").ok();
        let new_dss = new_cat.get(b"DSS").ok();
        let dss_changed = !same_opt(old_dss, new_dss)
            || new_dss.is_some_and(|d| matches!(d, Object::Reference(id) if self.changed.contains(id)));
        if dss_changed && let Some(dss) = new_dss {
            // A changed DSS object itself is explained through the catalog's reference.
            self.explain_ref(Some(dss));
            // The DSS object itself may be an updated old one: traverse its content.
            let content = Self::resolve(self.new, dss)
                .cloned()
                .unwrap_or_else(|| dss.clone());
            self.roots.push((content, Modification::LtaUpdates));
            self.signature_material = true;
            self.level = self.level.max(Modification::LtaUpdates);
        }
        if let Ok(ext) = new_cat.get(b"Extensions") {
            self.roots.push((ext.clone(), Modification::LtaUpdates));
        }

        let old_form = Self::resolve_dict(self.old, old_cat.get(b"AcroForm").ok());
        let new_form = Self::resolve_dict(self.new, new_cat.get(b"AcroForm").ok());
        self.explain_ref(new_cat.get(b"AcroForm").ok());
        let Some(new_form) = new_form else {
            if old_form.is_some() {
                self.bump(Modification::Other, "the interactive form was removed");
            }
            return;
        };
        let empty = Dictionary::new();
        let old_form = old_form.unwrap_or(&empty);
        if !same_dict(
            old_form,
            new_form,
            &[b"Fields", b"SigFlags", b"DR", b"NeedAppearances", b"DA"],
        ) {
            self.bump(Modification::Other, "the interactive form dictionary changed");
        }
        if let Ok(dr) = new_form.get(b"DR") {
            self.roots.push((dr.clone(), Modification::FormFilling));
        }
        self.explain_ref(new_form.get(b"Fields").ok());
        let old_fields = Self::references(old_form.get(b"Fields").ok(), self.old);
        let new_fields = Self::references(new_form.get(b"Fields").ok(), self.new);
        if old_fields.iter().any(|f| !new_fields.contains(f)) {
            self.bump(Modification::Other, "a form field was removed");
        }
        for field in new_fields.iter().filter(|f| !old_fields.contains(f)) {
            let Object::Reference(id) = field else {
                self.bump(Modification::Other, "a direct form field was added");
                continue;
            };
            if !self.is_new(*id) {
                self.bump(
                    Modification::Other,
                    format!("object {} from before signing became a form field", id.0),
                );
                continue;
            }
            match self.new_signature_field_level(*id) {
                Some(level) => {
                    if let Ok(kids) = self
                        .new
                        .get_dictionary(*id)
                        .and_then(|f| f.get(b"Kids"))
                        .and_then(Object::as_array)
                    {
                        self.new_signature_widgets
                            .extend(kids.iter().filter_map(|k| k.as_reference().ok()));
                    }
                    self.roots.push((field.clone(), level));
                }
                None => self.bump(
                    Modification::Other,
                    format!("a new non-signature form field ({})", id.0),
                ),
            }
        }
    }

    fn info_changed(&self) -> bool {
        match self.new.trailer.get(b"Info") {
            Ok(Object::Reference(id)) => self.changed.contains(id),
            _ => false,
        }
    }

    /// The level of a newly added signature field: LTA updates for a document timestamp,
    /// form filling otherwise; `None` when it is not a signature field.
    fn new_signature_field_level(&self, id: ObjectId) -> Option<Modification> {
        let field = self.new.get_dictionary(id).ok()?;
        if field.get(b"FT").and_then(Object::as_name).ok() != Some(b"Sig") {
            return None;
        }
        let is_timestamp = Self::resolve_dict(self.new, field.get(b"V").ok())
            .is_some_and(|v| v.get(b"Type").and_then(Object::as_name).ok() == Some(b"DocTimeStamp"));
        Some(if is_timestamp {
            Modification::LtaUpdates
        } else {
            Modification::FormFilling
        })
    }

    fn pages(&mut self) {
        let old_pages: Vec<ObjectId> = self.old.get_pages().into_values().collect();
        let new_pages: Vec<ObjectId> = self.new.get_pages().into_values().collect();
        if old_pages != new_pages {
            self.bump(Modification::Other, "pages were added, removed or reordered");
            return;
        }
        for (number, id) in new_pages.iter().enumerate() {
            let (Ok(old_page), Ok(new_page)) = (self.old.get_dictionary(*id), self.new.get_dictionary(*id))
            else {
                continue;
            };
            let old_annots = Self::references(old_page.get(b"Annots").ok(), self.old);
            let new_annots = Self::references(new_page.get(b"Annots").ok(), self.new);
            let page_changed = self.changed.contains(id);
            if page_changed {
                self.explained.insert(*id);
                if !same_dict(old_page, new_page, &[b"Annots"]) {
                    self.bump(Modification::Other, format!("page {} changed", number + 1));
                }
            }
            if let Ok(Object::Reference(annots_id)) = new_page.get(b"Annots") {
                if self.changed.contains(annots_id) && !self.is_new(*annots_id) {
                    let same_array =
                        matches!(old_page.get(b"Annots"), Ok(Object::Reference(a)) if a == annots_id);
                    if !same_array && !page_changed {
                        self.bump(
                            Modification::Other,
                            format!("page {} annotations swapped", number + 1),
                        );
                    }
                }
                self.explained.insert(*annots_id);
            }
            if old_annots.iter().any(|a| !new_annots.contains(a)) {
                self.bump(
                    Modification::Other,
                    format!("an annotation was removed from page {}", number + 1),
                );
            }
            for annot in new_annots.iter().filter(|a| !old_annots.contains(a)) {
                self.classify_new_annotation(annot, number + 1);
            }
        }
    }

    fn classify_new_annotation(&mut self, annot: &Object, page: usize) {
        let Object::Reference(id) = annot else {
            self.bump(Modification::Annotations, "");
            return;
        };
        if !self.is_new(*id) {
            self.bump(
                Modification::Other,
                format!("object {} from before signing was added to page {page}", id.0),
            );
            return;
        }
        let Ok(dict) = self.new.get_dictionary(*id) else {
            self.bump(
                Modification::Other,
                format!("annotation {} on page {page} is not a dictionary", id.0),
            );
            return;
        };
        let is_widget = dict.get(b"Subtype").and_then(Object::as_name).ok() == Some(b"Widget");
        if is_widget {
            // A widget of a signature field: its own /FT, or its parent's.
            let field_type = dict.get(b"FT").and_then(Object::as_name).ok().or_else(|| {
                Self::resolve_dict(self.new, dict.get(b"Parent").ok())
                    .and_then(|p| p.get(b"FT").and_then(Object::as_name).ok())
            });
            if field_type == Some(b"Sig") || self.new_signature_widgets.contains(id) {
                self.signature_material = true;
                self.roots.push((annot.clone(), Modification::FormFilling));
            } else {
                self.bump(Modification::Other, format!("a new form widget on page {page}"));
            }
        } else {
            self.roots.push((annot.clone(), Modification::Annotations));
        }
    }

    /// Existing fields may be filled: a value, an appearance, a signature into an empty
    /// signature field. Nothing else of them may change.
    fn filled_fields(&mut self) {
        let changed: Vec<ObjectId> = self
            .changed
            .iter()
            .copied()
            .filter(|id| !self.explained.contains(id) && !self.is_new(*id))
            .collect();
        for id in changed {
            let (Ok(old), Ok(new)) = (self.old.get_dictionary(id), self.new.get_dictionary(id)) else {
                continue;
            };
            let is_field = old.has(b"FT")
                || old.has(b"T")
                || old.get(b"Subtype").and_then(Object::as_name).ok() == Some(b"Widget");
            if !is_field {
                continue;
            }
            let field_type = old.get(b"FT").and_then(Object::as_name).ok().or_else(|| {
                Self::resolve_dict(self.old, old.get(b"Parent").ok())
                    .and_then(|p| p.get(b"FT").and_then(Object::as_name).ok())
            });
            if !same_dict(old, new, &[b"V", b"AP", b"AS"]) {
                self.bump(
                    Modification::Other,
                    format!("form field {} changed beyond its value", id.0),
                );
            }
            let name = field_name(self.old, id);
            if field_type != Some(b"Sig") && self.locks.iter().any(|lock| lock.covers(&name)) {
                self.bump(
                    Modification::Other,
                    format!("form field {name:?} is locked by a signature"),
                );
            }
            if field_type == Some(b"Sig")
                && old.has(b"V")
                && !same_opt(old.get(b"V").ok(), new.get(b"V").ok())
            {
                self.bump(
                    Modification::Other,
                    format!("signature field {} was overwritten", id.0),
                );
            }
            self.explained.insert(id);
            for key in [b"V".as_slice(), b"AP"] {
                if let Ok(value) = new.get(key) {
                    let level = if field_type == Some(b"Sig") {
                        self.signature_material = true;
                        self.new_signature_value_level(value)
                    } else {
                        Modification::FormFilling
                    };
                    self.roots.push((value.clone(), level));
                }
            }
            self.level = self.level.max(Modification::FormFilling);
        }
    }

    fn new_signature_value_level(&self, value: &Object) -> Modification {
        let is_timestamp = Self::resolve_dict(self.new, Some(value))
            .is_some_and(|v| v.get(b"Type").and_then(Object::as_name).ok() == Some(b"DocTimeStamp"));
        if is_timestamp {
            Modification::LtaUpdates
        } else {
            Modification::FormFilling
        }
    }

    /// New objects reachable from allowed additions are explained at the addition's level.
    fn traverse_roots(&mut self) {
        let mut queue: VecDeque<(Object, Modification)> = self.roots.drain(..).collect();
        let mut seen = HashSet::new();
        while let Some((object, level)) = queue.pop_front() {
            match &object {
                Object::Reference(id) => {
                    if !self.changed.contains(id) || !self.is_new(*id) || !seen.insert(*id) {
                        continue;
                    }
                    self.explained.insert(*id);
                    self.level = self.level.max(level);
                    if let Ok(target) = self.new.get_object(*id) {
                        queue.push_back((target.clone(), level));
                    }
                }
                Object::Array(items) => queue.extend(items.iter().map(|i| (i.clone(), level))),
                Object::Dictionary(dict) => queue.extend(dict.iter().map(|(_, v)| (v.clone(), level))),
                Object::Stream(stream) => queue.extend(stream.dict.iter().map(|(_, v)| (v.clone(), level))),
                _ => {}
            }
        }
    }
}

/// A field lock: `/Lock` on a signature field or a FieldMDP transform (ISO 32000-1 12.7.4.5).
#[derive(Debug, Clone)]
struct Lock {
    action: Vec<u8>,
    fields: Vec<String>,
}

impl Lock {
    fn covers(&self, name: &str) -> bool {
        let listed = self
            .fields
            .iter()
            .any(|f| f == name || name.starts_with(&format!("{f}.")));
        match self.action.as_slice() {
            b"All" => true,
            b"Include" => listed,
            b"Exclude" => !listed,
            _ => false,
        }
    }
}

fn lock_of(doc: &Document, dict: &Dictionary) -> Option<Lock> {
    let action = dict.get(b"Action").and_then(Object::as_name).ok()?.to_vec();
    let fields = dict
        .get(b"Fields")
        .ok()
        .and_then(|f| doc.dereference(f).ok())
        .and_then(|(_, f)| f.as_array().ok())
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i.as_str().ok())
                .map(|t| String::from_utf8_lossy(t).into_owned())
                .collect()
        })
        .unwrap_or_default();
    Some(Lock { action, fields })
}

/// Locks of signed signature fields in `doc`.
fn locks(doc: &Document) -> Vec<Lock> {
    let mut out = Vec::new();
    for object in doc.objects.values() {
        let Ok(dict) = object.as_dict() else { continue };
        if dict.get(b"FT").and_then(Object::as_name).ok() != Some(b"Sig") || !dict.has(b"V") {
            continue;
        }
        if let Some(lock) = dict
            .get(b"Lock")
            .ok()
            .and_then(|l| doc.dereference(l).ok())
            .and_then(|(_, l)| l.as_dict().ok())
            .and_then(|l| lock_of(doc, l))
        {
            out.push(lock);
        }
        let references = dict
            .get(b"V")
            .ok()
            .and_then(|v| doc.dereference(v).ok())
            .and_then(|(_, v)| v.as_dict().ok())
            .and_then(|v| v.get(b"Reference").ok())
            .and_then(|r| r.as_array().ok());
        for reference in references.into_iter().flatten() {
            let Some(reference) = doc
                .dereference(reference)
                .ok()
                .and_then(|(_, r)| r.as_dict().ok())
            else {
                continue;
            };
            if reference.get(b"TransformMethod").and_then(Object::as_name).ok() == Some(b"FieldMDP")
                && let Some(lock) = reference
                    .get(b"TransformParams")
                    .ok()
                    .and_then(|p| doc.dereference(p).ok())
                    .and_then(|(_, p)| p.as_dict().ok())
                    .and_then(|p| lock_of(doc, p))
            {
                out.push(lock);
            }
        }
    }
    out
}

/// The fully qualified name of a field (its /T and its parents').
fn field_name(doc: &Document, id: ObjectId) -> String {
    let mut parts = Vec::new();
    let mut current = Some(id);
    let mut seen = HashSet::new();
    while let Some(node) = current {
        if !seen.insert(node) {
            break;
        }
        let Ok(dict) = doc.get_dictionary(node) else { break };
        if let Ok(t) = dict.get(b"T").and_then(Object::as_str) {
            parts.push(String::from_utf8_lossy(t).into_owned());
        }
        current = dict.get(b"Parent").and_then(Object::as_reference).ok();
    }
    parts.reverse();
    parts.join(".")
}

/// Every object reachable from the trailer of `doc`.
fn reachable_objects(doc: &Document) -> HashSet<ObjectId> {
    let mut seen = HashSet::new();
    let mut queue: VecDeque<&Object> = doc.trailer.iter().map(|(_, v)| v).collect();
    while let Some(object) = queue.pop_front() {
        match object {
            Object::Reference(id) => {
                if seen.insert(*id)
                    && let Some(target) = doc.objects.get(id)
                {
                    queue.push_back(target);
                }
            }
            Object::Array(items) => queue.extend(items.iter()),
            Object::Dictionary(dict) => queue.extend(dict.iter().map(|(_, v)| v)),
            Object::Stream(stream) => queue.extend(stream.dict.iter().map(|(_, v)| v)),
            _ => {}
        }
    }
    seen
}

fn same_opt(a: Option<&Object>, b: Option<&Object>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => same(a, b),
        (None, None) => true,
        _ => false,
    }
}

/// Compares the signed revision `old` with the whole document `new`.
pub(crate) fn analyse(old: &Document, new: &Document) -> Changes {
    let mut changed = BTreeSet::new();
    let mut reasons = Vec::new();
    let mut level = Modification::None;
    // Object streams redefined after signing change every object they hold, even when those
    // objects' own entries (container, index) stay the same.
    let changed_containers: HashSet<u32> = new
        .reference_table
        .entries
        .iter()
        .filter(|(n, e)| entry_key(e) != old.reference_table.entries.get(n).and_then(entry_key))
        .map(|(n, _)| *n)
        .collect();
    for (&number, entry) in &new.reference_table.entries {
        let old_entry = old.reference_table.entries.get(&number);
        let now = entry_key(entry);
        let before = old_entry.and_then(entry_key);
        let container_changed = matches!(entry, XrefEntry::Compressed { container, .. } if changed_containers.contains(container));
        if now == before && !container_changed {
            continue;
        }
        match (before, now) {
            (Some(_), None) => {
                level = Modification::Other;
                reasons.push(format!("object {number} was deleted"));
            }
            (_, Some(_)) => {
                let generation = match entry {
                    XrefEntry::Normal { generation, .. } => *generation,
                    _ => 0,
                };
                let id = (number, generation);
                let new_object = new.objects.get(&id);
                let old_object = old.objects.get(&id);
                let differs = match (old_object, new_object) {
                    (Some(a), Some(b)) => !same(a, b),
                    (None, Some(b)) => !is_container(b),
                    // In use but unreadable now: whatever a viewer makes of it, it is not what
                    // was signed.
                    (Some(_), None) => {
                        level = Modification::Other;
                        reasons.push(format!("object {number} can no longer be read"));
                        false
                    }
                    (None, None) => false,
                };
                if differs {
                    changed.insert(id);
                }
            }
            (None, None) => {}
        }
    }
    let mut analysis = Analysis {
        old,
        new,
        changed,
        explained: HashSet::new(),
        roots: Vec::new(),
        new_signature_widgets: HashSet::new(),
        locks: locks(old),
        metadata_changed: false,
        signature_material: false,
        level,
        reasons,
    };
    let same_root = matches!(
        (old.trailer.get(b"Root"), new.trailer.get(b"Root")),
        (Ok(a), Ok(b)) if a == b
    );
    if !same_root {
        // A catalog swapped in through the trailer alone changes no object at all.
        analysis.bump(Modification::Other, "the trailer points to another catalog");
    }
    if analysis.changed.is_empty() {
        return Changes {
            level: analysis.level,
            reasons: analysis.reasons,
        };
    }
    analysis.catalog_and_form();
    analysis.pages();
    analysis.filled_fields();
    analysis.traverse_roots();
    if analysis.metadata_changed {
        if analysis.signature_material {
            analysis.level = analysis.level.max(Modification::LtaUpdates);
        } else {
            analysis.bump(
                Modification::Other,
                "the document metadata changed without a signature",
            );
        }
    }
    // A new object nothing refers to cannot be shown or used (writers leave such orphans);
    // only objects reachable from the trailer count.
    let reachable = reachable_objects(new);
    let unexplained: Vec<ObjectId> = analysis
        .changed
        .iter()
        .copied()
        .filter(|id| !analysis.explained.contains(id))
        .filter(|id| !analysis.is_new(*id) || reachable.contains(id))
        .collect();
    for id in unexplained {
        let what = new
            .objects
            .get(&id)
            .and_then(|o| match o {
                Object::Dictionary(d) => d.get(b"Type").and_then(Object::as_name).ok().map(<[u8]>::to_vec),
                Object::Stream(_) => Some(b"stream".to_vec()),
                _ => None,
            })
            .map(|t| String::from_utf8_lossy(&t).into_owned())
            .unwrap_or_else(|| "object".to_owned());
        let verb = if analysis.is_new(id) { "added" } else { "changed" };
        analysis.bump(
            Modification::Other,
            format!("{what} {} {verb} after signing", id.0),
        );
    }
    Changes {
        level: analysis.level,
        reasons: analysis.reasons.into_iter().filter(|r| !r.is_empty()).collect(),
    }
}
