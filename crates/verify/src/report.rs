//! The verification report: what `qz verify --json` prints (schema `qianzhang.verify/1`,
//! documented in the README). Field names are part of the interface; add, never rename.

use serde::Serialize;

/// The schema identifier written at the top of every report.
pub const SCHEMA: &str = "qianzhang.verify/1";

/// The verdict for a whole document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Verdict {
    /// Every signature is intact, valid (and trusted when anchors were given), nothing changed.
    Valid,
    /// As valid, but later revisions made changes PDF allows (signatures, form fills, DSS,
    /// timestamps, permitted annotations).
    AllowedChange,
    /// Something a signature covers was changed, or content was added that is not allowed.
    Modified,
    /// A signature does not verify or its structure is invalid.
    Broken,
    /// No signature at all.
    NoSignature,
}

impl Verdict {
    /// The process exit code documented in the README.
    pub fn exit_code(self) -> u8 {
        match self {
            Verdict::Valid | Verdict::AllowedChange => 0,
            Verdict::Modified => 1,
            Verdict::Broken => 2,
            Verdict::NoSignature => 3,
        }
    }
}

/// What a signature is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SignatureKind {
    /// An ordinary (approval) signature.
    Approval,
    /// The certification signature named by `/Perms /DocMDP`.
    Certification,
    /// A document timestamp (`/SubFilter /ETSI.RFC3161`).
    DocumentTimestamp,
}

/// How much of the file a signature covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Coverage {
    /// Everything up to the end of the file.
    EntireFile,
    /// Everything up to the end of one revision; later revisions follow.
    EntireRevision,
    /// It starts at the beginning but stops inside a revision.
    Partial,
    /// The byte range is missing or unusable.
    None,
}

/// The kind of change later revisions made, from the signature's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Modification {
    /// No later revision.
    None,
    /// Only DSS and document timestamps (long-term validation material).
    LtaUpdates,
    /// Signatures and form filling.
    FormFilling,
    /// Annotations as well.
    Annotations,
    /// Anything else: the document was modified.
    Other,
}

/// The outcome for one signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SignatureStatus {
    /// Intact, valid, trusted (if asked), nothing changed after it.
    Valid,
    /// Valid; later changes are allowed ones.
    AllowedChange,
    /// Valid, but the document was modified afterwards beyond what is allowed.
    Modified,
    /// Does not verify, or its structure is invalid.
    Broken,
}

/// The certificate that made a signature.
#[derive(Debug, Clone, Serialize)]
pub struct Signer {
    /// Full subject DN.
    pub subject: String,
    /// Common name.
    pub common_name: Option<String>,
    /// Organization.
    pub organization: Option<String>,
    /// Issuer DN.
    pub issuer: String,
    /// Serial number, hex.
    pub serial: String,
}

/// A signature timestamp or the time of a document timestamp.
#[derive(Debug, Clone, Serialize)]
pub struct Timestamp {
    /// The TSA's time, RFC 3339.
    pub time: Option<String>,
    /// The token verifies and is over the right data.
    pub valid: bool,
    /// The TSA certificate chains to a trust anchor (null without anchors).
    pub trusted: Option<bool>,
}

/// Revocation status of the signer certificate.
#[derive(Debug, Clone, Serialize)]
pub struct Revocation {
    /// good, revoked, unknown or not_checked.
    pub status: &'static str,
    /// Where the answer came from: dss, cms, online or none.
    pub source: &'static str,
}

/// A visible mark (widget) of a signature.
#[derive(Debug, Clone, Serialize)]
pub struct MarkReport {
    /// Page, 1-based.
    pub page: usize,
    /// x, y, width, height in points, on the page as displayed.
    pub rect: [f64; 4],
}

/// Everything found about one signature.
#[derive(Debug, Clone, Serialize)]
pub struct SignatureReport {
    /// Field name.
    pub field: String,
    /// Approval, certification or document timestamp.
    pub kind: SignatureKind,
    /// `/SubFilter`.
    pub sub_filter: Option<String>,
    /// 1-based revision the signature's byte range ends with.
    pub revision: Option<usize>,
    /// The signer.
    pub signer: Option<Signer>,
    /// `/M`, as claimed by the signer.
    pub signing_time: Option<String>,
    /// The signature timestamp (or, for a document timestamp, its own time).
    pub timestamp: Option<Timestamp>,
    /// Digest algorithm name.
    pub digest_algorithm: Option<String>,
    /// Signature algorithm name.
    pub signature_algorithm: Option<String>,
    /// `/ByteRange`.
    pub byte_range: Option<[u64; 4]>,
    /// How much of the file it covers.
    pub coverage: Coverage,
    /// The signed digest matches the bytes.
    pub intact: bool,
    /// The signature value verifies with the signer's key.
    pub valid: bool,
    /// The chain reaches a trust anchor (null when no anchors were given).
    pub trusted: Option<bool>,
    /// The certification path, signer first.
    pub chain: Vec<String>,
    /// Revocation.
    pub revocation: Revocation,
    /// The marks this signature put on pages.
    pub marks: Vec<MarkReport>,
    /// What later revisions changed.
    pub modification: Modification,
    /// DocMDP permission level, for a certification signature.
    pub docmdp: Option<i64>,
    /// The outcome.
    pub status: SignatureStatus,
    /// Everything that went wrong, readable.
    pub problems: Vec<String>,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// [`SCHEMA`].
    pub schema: &'static str,
    /// The verdict.
    pub verdict: Verdict,
    /// Number of revisions (sections ending in `%%EOF`).
    pub revisions: usize,
    /// One entry per signature, in file order.
    pub signatures: Vec<SignatureReport>,
    /// Problems of the document as a whole (e.g. data after the last revision).
    pub problems: Vec<String>,
}
