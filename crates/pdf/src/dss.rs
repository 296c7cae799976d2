//! The Document Security Store (ETSI EN 319 142-1 5.4.2, ISO 32000-2 12.8.4.3): certificates,
//! CRLs and OCSP responses a validator needs later, appended as one incremental update.

use lopdf::{Dictionary, Object};

use crate::document::Document;
use crate::error::PdfError;
use crate::font::compressed_stream;
use crate::raw;
use crate::writer::{Appended, Update};

/// Validation material to store.
#[derive(Debug, Clone, Default)]
pub struct ValidationData {
    /// DER certificates.
    pub certificates: Vec<Vec<u8>>,
    /// DER CRLs.
    pub crls: Vec<Vec<u8>>,
    /// DER OCSP responses (`OCSPResponse`).
    pub ocsp_responses: Vec<Vec<u8>>,
}

impl Document<'_> {
    /// Appends a revision whose catalog has a `/DSS` holding what was there before plus
    /// `data` (duplicates dropped). Returns the bytes to append.
    pub fn append_dss(&self, data: &ValidationData) -> Result<Vec<u8>, PdfError> {
        let mut update = Update::new(self);
        let root = self.doc.trailer.get(b"Root")?.as_reference()?;
        let dss_id = self.dss_object(data, &mut update)?;
        let (buf, range) = self.raw_object(root)?;
        let body = raw::patch_dict(
            &buf,
            range.start,
            &[(b"DSS", Some(format!("{dss_id} 0 R").into_bytes()))],
        )?;
        update.put_raw(root.0, root.1, body);
        let Appended { tail, .. } = update.finish(self)?;
        Ok(tail)
    }

    /// Writes a DSS dictionary (the existing one's entries plus `data`) into `update`; returns
    /// its object number. The caller points the catalog at it.
    pub(crate) fn dss_object(&self, data: &ValidationData, update: &mut Update) -> Result<u32, PdfError> {
        let root = self.doc.trailer.get(b"Root")?.as_reference()?;
        let catalog = self.doc.get_dictionary(root)?;
        let existing = catalog
            .get(b"DSS")
            .ok()
            .and_then(|d| self.resolve(d))
            .and_then(|d| d.as_dict().ok());
        let mut dss = Dictionary::new();
        dss.set("Type", Object::Name(b"DSS".to_vec()));
        for (key, items) in [
            ("Certs", &data.certificates),
            ("CRLs", &data.crls),
            ("OCSPs", &data.ocsp_responses),
        ] {
            let mut refs: Vec<Object> = Vec::new();
            let mut seen: Vec<Vec<u8>> = Vec::new();
            if let Some(Object::Array(old)) = existing
                .and_then(|d| d.get(key.as_bytes()).ok())
                .and_then(|a| self.resolve(a))
            {
                for item in old {
                    if let Some(stream) = self.resolve(item).and_then(|s| s.as_stream().ok()) {
                        seen.push(stream.decompressed_content().unwrap_or_default());
                    }
                    refs.push(item.clone());
                }
            }
            for item in items {
                // Existing streams were loaded without their content; compare what we can.
                if seen.contains(item) {
                    continue;
                }
                seen.push(item.clone());
                let id = update.add(&Object::Stream(compressed_stream(Dictionary::new(), item)?))?;
                refs.push(Object::Reference((id, 0)));
            }
            if !refs.is_empty() {
                dss.set(key, Object::Array(refs));
            }
        }
        update.add(&Object::Dictionary(dss))
    }
}
