//! PDF reading, incremental updates, stamping and signature fields for Qianzhang.
//!
//! The crate knows how to put marks and a signature placeholder into a new revision of a PDF
//! without touching a byte of the earlier ones; it knows nothing about keys, certificates or
//! CMS (that is `qz-pki`). Typical use:
//!
//! ```no_run
//! # fn main() -> Result<(), qz_pdf::PdfError> {
//! let original = std::fs::read("in.pdf").map_err(|e| qz_pdf::PdfError::Parse(e.to_string()))?;
//! let document = qz_pdf::Document::open(&original)?;
//! let options = qz_pdf::SignatureOptions {
//!     signing_time: "D:20261122100000+08'00'".into(),
//!     contents_capacity: 8192,
//!     ..Default::default()
//! };
//! let prepared = document.prepare_signature(&options)?;
//! // hash prepared.signed_parts(&original), build the CMS over the digest, then:
//! let cms: Vec<u8> = Vec::new();
//! let tail = prepared.finish(&cms)?;
//! # let _ = tail; Ok(()) }
//! ```

mod appearance;
mod document;
mod dss;
mod error;
mod font;
mod geometry;
pub mod raw;
mod render;
mod report;
mod sign;
mod writer;

pub use appearance::{Appearance, Image, Mark, TextStyle};
pub use document::{DocMdp, Document, Page, SignatureField, decode_text_string};
pub use dss::ValidationData;
pub use error::PdfError;
pub use font::Font;
pub use geometry::{PageGeometry, Rect, Rotation};
pub use render::{WIDTH_RANGE, render_page};
pub use report::{ReportLine, text_document};
pub use sign::{PreparedSignature, SignatureOptions, SubFilter};

/// Entry points for fuzz targets and their seed replay; not a stable API.
#[doc(hidden)]
pub mod fuzzing {
    /// Opens `data` and, if it opens, prepares and finishes an invisible signature.
    pub fn open_and_prepare(data: &[u8]) {
        let Ok(document) = crate::Document::open(data) else {
            return;
        };
        let options = crate::SignatureOptions {
            signing_time: "D:20260101000000Z".into(),
            contents_capacity: 16,
            ..Default::default()
        };
        if let Ok(prepared) = document.prepare_signature(&options) {
            let _ = prepared.finish(&[1, 2, 3]);
        }
    }

    /// Renders the first page of `data`, small, if it parses.
    pub fn render_first_page(data: &[u8]) {
        let _ = crate::render_page(data, 1, 120);
    }
}
