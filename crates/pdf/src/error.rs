use thiserror::Error;

/// Everything that can go wrong while reading a PDF or appending a signature revision to it.
///
/// Each message is written for the person who passed the file in: it names the problem and,
/// where there is one, what to do about it.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PdfError {
    /// The bytes do not start like a PDF file.
    #[error("not a PDF file (no %PDF- header)")]
    NotPdf,
    /// No `startxref` / `%%EOF` at the end: the file was cut short or is not a PDF.
    #[error("the PDF is truncated or incomplete (no startxref at its end)")]
    Truncated,
    /// The cross-reference data does not match the file: the reader had to repair it.
    #[error(
        "the PDF is damaged ({0}); repair it first (e.g. `qpdf in.pdf repaired.pdf`) and sign the repaired file"
    )]
    Damaged(String),
    /// The file holds signatures and is damaged, so it cannot be repaired without breaking them.
    #[error(
        "the PDF is damaged ({0}) and already signed; it cannot be repaired without invalidating its signatures"
    )]
    DamagedSigned(String),
    /// Encrypted documents are refused (see README: signing them needs the encryption key for every new object).
    #[error(
        "the PDF is encrypted; decrypt it first (e.g. `qpdf --decrypt in.pdf plain.pdf`) and sign the decrypted file"
    )]
    Encrypted,
    /// The parser could not read the file.
    #[error("cannot read the PDF: {0}")]
    Parse(String),
    /// A required object is missing or has the wrong type.
    #[error("malformed PDF: {0}")]
    Malformed(String),
    /// A page number outside `1..=pages`.
    #[error("page {page} is out of range: the document has {pages} page(s)")]
    PageOutOfRange {
        /// The requested page, 1-based.
        page: usize,
        /// Number of pages in the document.
        pages: usize,
    },
    /// A stamp rectangle that does not lie on the page.
    #[error("rectangle [{x} {y} {w} {h}] is off page {page} (visible page size {page_w} x {page_h} pt)")]
    RectOffPage {
        /// Page, 1-based.
        page: usize,
        /// Requested rectangle.
        x: f64,
        /// Requested rectangle.
        y: f64,
        /// Requested rectangle.
        w: f64,
        /// Requested rectangle.
        h: f64,
        /// Displayed page width.
        page_w: f64,
        /// Displayed page height.
        page_h: f64,
    },
    /// A rectangle with a non-positive or non-finite size.
    #[error("invalid rectangle: {0}")]
    InvalidRect(String),
    /// The document is certified with DocMDP and forbids this change.
    #[error("the document is certified (DocMDP P={level}) and {what}")]
    DocMdpForbids {
        /// The DocMDP permission level (1, 2 or 3).
        level: i64,
        /// What is forbidden.
        what: &'static str,
    },
    /// The requested field name exists but cannot take a signature.
    #[error("field {0:?} exists and is not an empty signature field")]
    FieldTaken(String),
    /// The signature value does not fit into the space reserved for it.
    #[error("signature is {needed} bytes but only {reserved} were reserved")]
    ContentsTooLarge {
        /// Bytes the CMS needs.
        needed: usize,
        /// Bytes reserved in `/Contents`.
        reserved: usize,
    },
    /// A font could not be used for a text stamp.
    #[error("font error: {0}")]
    Font(String),
    /// A character has no glyph in the chosen font.
    #[error("the font has no glyph for {0:?}")]
    MissingGlyph(char),
    /// An image with no pixels or inconsistent buffer size.
    #[error("invalid image: {0}")]
    Image(String),
    /// Writing failed (only memory buffers are written here, so this is unexpected).
    #[error("cannot serialize object: {0}")]
    Write(String),
}

impl From<lopdf::Error> for PdfError {
    fn from(value: lopdf::Error) -> Self {
        PdfError::Parse(value.to_string())
    }
}
