//! Signed-PDF validation for Qianzhang: for each signature, integrity, validity, trust,
//! revocation, the marks it owns and what later revisions changed; and a verdict for the
//! document. Knows nothing of the platform: a third party can run it on any PDF.
//!
//! The checks that defeat the published attacks (Mladenov et al. 2019, Mainka et al. 2021):
//! the `/ByteRange` must start at 0 and its gap must be exactly this signature's `/Contents`
//! string where the cross-reference table places the signature dictionary (signature
//! wrapping); it must end at a revision boundary (partial coverage); no object may live inside
//! a gap; bytes after the last `%%EOF` make the document modified (incremental saving without a
//! cross-reference section); and every later change must be explained (see [`changes`]).

mod chain;
mod changes;
mod fields;
pub mod report;
mod structure;

use std::collections::HashMap;
use std::ops::Range;
use std::time::SystemTime;

use lopdf::{Dictionary, Document, LoadOptions, Object, ObjectId};
use x509_cert::Certificate;

use qz_pki::verify::{SignedMessage, algorithm_name, check_timestamp};

use crate::changes::Changes;
use crate::fields::{Pages, SignedField};
pub use crate::report::{
    Coverage, MarkReport, Modification, Report, Revocation, SignatureKind, SignatureReport, SignatureStatus,
    Signer, Timestamp, Verdict,
};

/// Why a file could not be verified at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// Not a PDF.
    #[error("not a PDF file (no %PDF- header)")]
    NotPdf,
}

/// Revocation data fetched on demand (`qz verify --online`). The library does no network I/O
/// itself; the caller plugs a fetcher in.
pub trait RevocationSource: std::fmt::Debug + Send + Sync {
    /// CRLs (DER) and OCSP responses (DER `OCSPResponse`) for `cert` issued by `issuer`.
    fn fetch(&self, cert: &Certificate, issuer: &Certificate) -> (Vec<Vec<u8>>, Vec<Vec<u8>>);
}

/// What to trust and when.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// Trust anchors; none means trust is not evaluated (reported as null).
    pub trust_anchors: Vec<Certificate>,
    /// The validation time when a signature has no valid timestamp.
    pub now: SystemTime,
    /// Where to fetch revocation data the file does not embed.
    pub online: Option<std::sync::Arc<dyn RevocationSource>>,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            trust_anchors: Vec::new(),
            now: SystemTime::now(),
            online: None,
        }
    }
}

fn load(bytes: &[u8]) -> Result<Document, String> {
    std::panic::catch_unwind(|| Document::load_mem_with_options(bytes, LoadOptions::default()))
        .map_err(|_| "the parser failed on this file".to_owned())?
        .map_err(|e| e.to_string())
}

fn name_of(dict: &Dictionary, key: &[u8]) -> Option<String> {
    dict.get(key)
        .and_then(Object::as_name)
        .ok()
        .map(|n| String::from_utf8_lossy(n).into_owned())
}

/// `D:YYYYMMDDHHmmSS+HH'mm'` to RFC 3339, as far as the string goes.
fn pdf_date(raw: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(raw);
    let s = text.strip_prefix("D:").unwrap_or(&text);
    let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
    if digits.len() < 4 {
        return None;
    }
    let part = |from: usize, len: usize, default: &str| -> String {
        digits
            .get(from..from + len)
            .map_or_else(|| default.to_owned(), str::to_owned)
    };
    let rest = &s[digits.len()..];
    let zone = match rest.chars().next() {
        Some(sign @ ('+' | '-')) => {
            let zone_digits: String = rest.chars().filter(char::is_ascii_digit).collect();
            format!(
                "{sign}{}:{}",
                zone_digits.get(0..2).unwrap_or("00"),
                zone_digits.get(2..4).unwrap_or("00")
            )
        }
        _ => "Z".to_owned(),
    };
    Some(format!(
        "{}-{}-{}T{}:{}:{}{zone}",
        part(0, 4, "0000"),
        part(4, 2, "01"),
        part(6, 2, "01"),
        part(8, 2, "00"),
        part(10, 2, "00"),
        part(12, 2, "00")
    ))
}

fn rfc3339(info: &qz_pki::verify::TstInfo) -> Option<String> {
    let t = der::DateTime::from_unix_duration(info.time()?).ok()?;
    Some(format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minutes(),
        t.seconds()
    ))
}

fn signer_of(cert: &Certificate) -> Signer {
    let tbs = cert.tbs_certificate();
    let attribute = |oid: const_oid::ObjectIdentifier| {
        tbs.subject().iter().find(|atv| atv.oid == oid).and_then(|atv| {
            atv.value
                .decode_as::<der::asn1::Utf8StringRef<'_>>()
                .map(|s| s.to_string())
                .or_else(|_| {
                    atv.value
                        .decode_as::<der::asn1::PrintableStringRef<'_>>()
                        .map(|s| s.to_string())
                })
                .ok()
        })
    };
    Signer {
        subject: tbs.subject().to_string(),
        common_name: attribute(const_oid::db::rfc4519::CN),
        organization: attribute(const_oid::db::rfc4519::O),
        issuer: tbs.issuer().to_string(),
        serial: tbs
            .serial_number()
            .as_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
    }
}

/// Embedded validation material of the whole document: DSS certificates and CRLs.
#[derive(Debug, Default)]
struct Dss {
    certificates: Vec<Certificate>,
    crls: Vec<Vec<u8>>,
    ocsp_responses: Vec<Vec<u8>>,
}

fn stream_contents(doc: &Document, list: Option<&Object>) -> Vec<Vec<u8>> {
    let Some(Object::Array(items)) = list.and_then(|l| doc.dereference(l).ok()).map(|(_, l)| l) else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| doc.dereference(item).ok())
        .filter_map(|(_, o)| o.as_stream().ok())
        .filter_map(|s| s.decompressed_content().ok().or_else(|| Some(s.content.clone())))
        .collect()
}

fn read_dss(doc: &Document) -> Dss {
    use der::Decode as _;
    let Some(dss) = doc
        .catalog()
        .ok()
        .and_then(|c| c.get(b"DSS").ok())
        .and_then(|d| doc.dereference(d).ok())
        .and_then(|(_, d)| d.as_dict().ok())
    else {
        return Dss::default();
    };
    Dss {
        certificates: stream_contents(doc, dss.get(b"Certs").ok())
            .iter()
            .filter_map(|c| Certificate::from_der(c).ok())
            .collect(),
        crls: stream_contents(doc, dss.get(b"CRLs").ok()),
        ocsp_responses: stream_contents(doc, dss.get(b"OCSPs").ok()),
    }
}

/// CRLs inside Adobe's revocation-info-archival signed attribute.
fn archived_crls(message: &SignedMessage) -> Vec<Vec<u8>> {
    use der::{Decode as _, Encode as _};
    #[derive(der::Sequence)]
    struct RevocationInfoArchival {
        #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
        crl: Option<Vec<der::Any>>,
        #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
        ocsp: Option<Vec<der::Any>>,
        #[asn1(context_specific = "2", tag_mode = "EXPLICIT", optional = "true")]
        other: Option<Vec<der::Any>>,
    }
    message
        .signed_attribute(qz_pki::oid::ADBE_REVOCATION_INFO_ARCHIVAL)
        .iter()
        .filter_map(|v| RevocationInfoArchival::from_der(v).ok())
        .flat_map(|r| r.crl.unwrap_or_default())
        .filter_map(|crl| crl.to_der().ok())
        .collect()
}

/// Where the signature dictionary's `/Contents` string really is in the file.
fn contents_location(bytes: &[u8], doc: &Document, field: &SignedField) -> Option<Range<usize>> {
    use lopdf::xref::XrefEntry;
    use qz_pdf::raw;
    let locate = |id: ObjectId| -> Option<Range<usize>> {
        match doc.reference_table.get(id.0) {
            Some(XrefEntry::Normal { offset, .. }) => raw::indirect_value(bytes, *offset as usize, id.0).ok(),
            _ => None,
        }
    };
    let dict_start = match &field.value {
        Object::Reference(id) => locate(*id)?.start,
        Object::Dictionary(_) => {
            let field_range = locate(field.field)?;
            raw::dict_get(bytes, field_range.start, b"V").ok()??.start
        }
        _ => return None,
    };
    raw::dict_get(bytes, dict_start, b"Contents").ok()?
}

struct Context<'a> {
    bytes: &'a [u8],
    doc: &'a Document,
    ends: Vec<usize>,
    options: &'a VerifyOptions,
    dss: Dss,
    pages: Pages,
    gaps: Vec<Range<usize>>,
    revisions: HashMap<usize, Result<Changes, String>>,
    docmdp: Option<(Object, i64)>,
    /// A cross-reference entry that does not point at its object.
    xref_problem: Option<String>,
}

impl Context<'_> {
    fn changes_after(&mut self, end: usize) -> &Result<Changes, String> {
        let bytes = self.bytes;
        let doc = self.doc;
        let len = bytes.len();
        self.revisions.entry(end).or_insert_with(|| {
            // Nothing after the signature: no second parse needed.
            if end == len {
                return Ok(Changes {
                    level: Modification::None,
                    reasons: Vec::new(),
                });
            }
            let prefix = bytes.get(..end).ok_or("byte range past the end")?;
            let old = load(prefix).map_err(|e| format!("the signed revision cannot be read: {e}"))?;
            if old.xref_recovery.is_some() {
                return Err("the signed revision's cross-reference data is damaged".into());
            }
            Ok(changes::analyse(&old, doc))
        })
    }

    fn check(&mut self, field: &SignedField) -> SignatureReport {
        let mut problems: Vec<String> = Vec::new();
        let mut structural = false;
        let dict = match &field.value {
            Object::Reference(id) => self.doc.get_dictionary(*id).ok().cloned(),
            Object::Dictionary(d) => Some(d.clone()),
            _ => None,
        };
        let mut report = SignatureReport {
            field: field.name.clone(),
            kind: SignatureKind::Approval,
            sub_filter: None,
            revision: None,
            signer: None,
            signing_time: None,
            timestamp: None,
            digest_algorithm: None,
            signature_algorithm: None,
            byte_range: None,
            coverage: Coverage::None,
            intact: false,
            valid: false,
            trusted: None,
            chain: Vec::new(),
            revocation: Revocation {
                status: "not_checked",
                source: "none",
            },
            marks: Vec::new(),
            modification: Modification::None,
            docmdp: None,
            status: SignatureStatus::Broken,
            problems: Vec::new(),
        };
        let Some(dict) = dict else {
            report
                .problems
                .push("the signature value is not a dictionary".into());
            return report;
        };
        for widget in &field.widgets {
            if let Some((page, rect)) = self.pages.mark(self.doc, *widget) {
                report.marks.push(MarkReport {
                    page,
                    rect: [rect.x, rect.y, rect.width, rect.height].map(|v| (v * 100.0).round() / 100.0),
                });
            }
        }
        let is_timestamp = dict.get(b"Type").and_then(Object::as_name).ok() == Some(b"DocTimeStamp");
        if is_timestamp {
            report.kind = SignatureKind::DocumentTimestamp;
        }
        if let Some((reference, level)) = &self.docmdp
            && (reference == &field.value)
        {
            report.kind = SignatureKind::Certification;
            report.docmdp = Some(*level);
        }
        report.signing_time = dict.get(b"M").and_then(Object::as_str).ok().and_then(pdf_date);
        let filter = name_of(&dict, b"Filter");
        let sub_filter = name_of(&dict, b"SubFilter");
        report.sub_filter = sub_filter.clone();
        if !matches!(filter.as_deref(), Some("Adobe.PPKLite" | "Adobe.PPKMS")) {
            structural = true;
            problems.push(format!(
                "unsupported /Filter {}",
                filter.as_deref().unwrap_or("(missing)")
            ));
        }
        let sub_ok = match sub_filter.as_deref() {
            Some("adbe.pkcs7.detached" | "ETSI.CAdES.detached" | "GBT38540.SES_Signature") => !is_timestamp,
            Some("ETSI.RFC3161") => is_timestamp,
            _ => false,
        };
        if !sub_ok {
            structural = true;
            problems.push(format!(
                "unsupported /SubFilter {}",
                sub_filter.as_deref().unwrap_or("(missing)")
            ));
        }

        // The byte range: four non-negative integers, from 0, gap = this /Contents string.
        let byte_range: Option<[usize; 4]> = dict
            .get(b"ByteRange")
            .ok()
            .and_then(|o| self.doc.dereference(o).ok())
            .and_then(|(_, o)| o.as_array().ok())
            .and_then(|items| {
                let v: Vec<usize> = items
                    .iter()
                    .map(|i| i.as_i64().ok().and_then(|n| usize::try_from(n).ok()))
                    .collect::<Option<_>>()?;
                <[usize; 4]>::try_from(v).ok()
            });
        let Some(br) = byte_range else {
            problems.push("missing or malformed /ByteRange".into());
            report.problems = problems;
            return report;
        };
        report.byte_range = Some(br.map(|v| v as u64));
        let len = self.bytes.len();
        let well_formed = br[0] == 0
            && br[1] > 0
            && br[2] > br[1]
            && br[2].checked_add(br[3]).is_some_and(|end| end <= len);
        if !well_formed {
            problems.push("the /ByteRange does not describe the file".into());
            report.problems = problems;
            return report;
        }
        let end = br[2] + br[3];
        let gap = br[1]..br[2];
        match contents_location(self.bytes, self.doc, field) {
            Some(location) if location == gap => {}
            _ => {
                structural = true;
                problems.push("the /ByteRange gap is not this signature's /Contents".into());
            }
        }
        let gap_bytes = &self.bytes[gap.clone()];
        let hex_ok = gap_bytes.len() >= 2
            && gap_bytes.first() == Some(&b'<')
            && gap_bytes.last() == Some(&b'>')
            && gap_bytes[1..gap_bytes.len() - 1]
                .iter()
                .all(|b| b.is_ascii_hexdigit() || b.is_ascii_whitespace());
        if !hex_ok {
            structural = true;
            problems.push("the signature gap holds something other than a hex string".into());
        }
        report.coverage = if end == len {
            Coverage::EntireFile
        } else if structure::revision_at(&self.ends, self.bytes, end).is_some() {
            Coverage::EntireRevision
        } else {
            structural = true;
            problems.push("the signature stops inside a revision".into());
            Coverage::Partial
        };
        report.revision = structure::revision_at(&self.ends, self.bytes, end);

        let contents = dict
            .get(b"Contents")
            .and_then(Object::as_str)
            .map(<[u8]>::to_vec)
            .unwrap_or_default();
        if contents.iter().all(|&b| b == 0) {
            problems.push("the signature value is empty".into());
            report.problems = problems;
            return report;
        }
        let parts: [&[u8]; 2] = [&self.bytes[..br[1]], &self.bytes[br[2]..end]];
        let mut validation_time = self.options.now;
        let mut pool: Vec<Certificate> = self.dss.certificates.clone();
        let mut crls = self.dss.crls.clone();
        let mut crl_source = "dss";
        let signer_cert;
        if sub_filter.as_deref() == Some("GBT38540.SES_Signature") {
            let data_hash = qz_pki::DigestAlgorithm::Sm3.digest(&parts);
            match qz_seal::eseal::check_stamp(&contents, &data_hash) {
                Ok(stamp) => {
                    report.intact = stamp.intact;
                    report.valid = stamp.valid;
                    report.digest_algorithm = Some("sm3".into());
                    report.signature_algorithm = Some("sm2-with-sm3 (GB/T 38540 SES_Signature)".into());
                    problems.extend(stamp.problems.iter().cloned());
                    if let Some(token) = &stamp.timestamp_token {
                        match check_timestamp(token, &[&stamp.signature]) {
                            Ok(ts) => {
                                if ts.valid
                                    && let Some(time) =
                                        ts.info.as_ref().and_then(qz_pki::verify::TstInfo::time)
                                {
                                    validation_time = SystemTime::UNIX_EPOCH + time;
                                }
                                report.timestamp = Some(Timestamp {
                                    time: ts.info.as_ref().and_then(rfc3339),
                                    valid: ts.valid,
                                    trusted: None,
                                });
                                pool.extend(ts.token.certificates);
                            }
                            Err(err) => problems.push(format!("unreadable stamp timestamp: {err}")),
                        }
                    }
                    use der::Decode as _;
                    if let Ok(maker) = Certificate::from_der(&stamp.seal.maker_certificate) {
                        // The seal maker's certificate must chain to a trust anchor too.
                        if !self.options.trust_anchors.is_empty() {
                            let path = chain::build_path(
                                &maker,
                                &pool,
                                &self.options.trust_anchors,
                                validation_time,
                            );
                            if !path.trusted {
                                problems.push("the seal maker's certificate is not trusted".into());
                                report.valid = false;
                            }
                        }
                        pool.push(maker);
                    }
                    signer_cert = Certificate::from_der(&stamp.signer_certificate).ok();
                }
                Err(err) => {
                    problems.push(format!("cannot read the SES_Signature: {err}"));
                    report.problems = problems;
                    return report;
                }
            }
        } else if is_timestamp {
            match check_timestamp(&contents, &parts) {
                Ok(ts) => {
                    report.intact = ts
                        .info
                        .as_ref()
                        .is_some_and(|_| !ts.problems.iter().any(|p| p.contains("other data")));
                    report.valid = ts.valid;
                    report.digest_algorithm = ts.token.digest_algorithm.map(|d| d.name().to_owned());
                    report.signature_algorithm =
                        Some(algorithm_name(&ts.token.signer_info.signature_algorithm.oid));
                    report.timestamp = Some(Timestamp {
                        time: ts.info.as_ref().and_then(rfc3339),
                        valid: ts.valid,
                        trusted: None,
                    });
                    problems.extend(ts.problems.clone());
                    pool.extend(ts.token.certificates.clone());
                    signer_cert = ts.token.signer_certificate.clone();
                }
                Err(err) => {
                    problems.push(format!("cannot read the timestamp token: {err}"));
                    report.problems = problems;
                    return report;
                }
            }
        } else {
            match SignedMessage::parse(&contents) {
                Ok(message) => {
                    let digest = message.digest_algorithm;
                    report.digest_algorithm = digest.map(|d| d.name().to_owned());
                    report.signature_algorithm =
                        Some(algorithm_name(&message.signer_info.signature_algorithm.oid));
                    let content_digest = digest.map(|d| d.digest(&parts)).unwrap_or_default();
                    let check = message.check(&content_digest);
                    report.intact = check.digest_matches;
                    report.valid = check.signature_valid;
                    problems.extend(check.problems);
                    pool.extend(message.certificates.clone());
                    let archived = archived_crls(&message);
                    if !archived.is_empty() && crls.is_empty() {
                        crl_source = "cms";
                    }
                    crls.extend(archived);
                    for token in message.unsigned_attribute(qz_pki::oid::ID_SIGNATURE_TIME_STAMP_TOKEN) {
                        match check_timestamp(&token, &[message.signature_value()]) {
                            Ok(ts) => {
                                let trusted = ts.token.signer_certificate.as_ref().and_then(|tsa| {
                                    (!self.options.trust_anchors.is_empty()).then(|| {
                                        let mut tsa_pool = pool.clone();
                                        tsa_pool.extend(ts.token.certificates.clone());
                                        let path = chain::build_path(
                                            tsa,
                                            &tsa_pool,
                                            &self.options.trust_anchors,
                                            self.options.now,
                                        );
                                        path.trusted
                                    })
                                });
                                if ts.valid
                                    && let Some(time) =
                                        ts.info.as_ref().and_then(qz_pki::verify::TstInfo::time)
                                {
                                    validation_time = SystemTime::UNIX_EPOCH + time;
                                }
                                if !ts.valid {
                                    problems.extend(
                                        ts.problems.iter().map(|p| format!("signature timestamp: {p}")),
                                    );
                                }
                                if trusted == Some(false) {
                                    problems.push("the signature timestamp's TSA is not trusted".into());
                                }
                                report.timestamp = Some(Timestamp {
                                    time: ts.info.as_ref().and_then(rfc3339),
                                    valid: ts.valid,
                                    trusted,
                                });
                            }
                            Err(err) => {
                                problems.push(format!("unreadable signature timestamp: {err}"));
                                report.timestamp = Some(Timestamp {
                                    time: None,
                                    valid: false,
                                    trusted: None,
                                });
                            }
                        }
                    }
                    signer_cert = message.signer_certificate.clone();
                }
                Err(err) => {
                    problems.push(format!("cannot read the CMS signature: {err}"));
                    report.problems = problems;
                    return report;
                }
            }
        }

        if let Some(cert) = &signer_cert {
            report.signer = Some(signer_of(cert));
            let path = chain::build_path(cert, &pool, &self.options.trust_anchors, validation_time);
            report.chain = path
                .certificates
                .iter()
                .map(|c| c.tbs_certificate().subject().to_string())
                .collect();
            if !self.options.trust_anchors.is_empty() {
                report.trusted = Some(path.trusted && path.problems.is_empty());
                if !path.trusted || !path.problems.is_empty() {
                    problems.extend(path.problems.clone());
                    problems.push("the signer is not trusted".into());
                }
            }
            if let Some(issuer) = path.certificates.get(1) {
                match chain::crl_status(cert, issuer, &crls, validation_time) {
                    chain::CrlStatus::Good => {
                        report.revocation = Revocation {
                            status: "good",
                            source: crl_source,
                        }
                    }
                    chain::CrlStatus::Revoked => {
                        report.revocation = Revocation {
                            status: "revoked",
                            source: crl_source,
                        };
                        problems.push("the signer certificate is revoked".into());
                    }
                    chain::CrlStatus::Unknown => {
                        let answers: Vec<qz_pki::ocsp::CertStatus> = self
                            .dss
                            .ocsp_responses
                            .iter()
                            .filter_map(|r| qz_pki::ocsp::response_status(r, cert, issuer).ok())
                            .collect();
                        if let Some(revoked) = answers
                            .iter()
                            .find(|a| matches!(a, qz_pki::ocsp::CertStatus::Revoked(..)))
                        {
                            let _ = revoked;
                            report.revocation = Revocation {
                                status: "revoked",
                                source: "dss",
                            };
                            problems.push("the signer certificate is revoked (OCSP)".into());
                        } else if answers.contains(&qz_pki::ocsp::CertStatus::Good) {
                            report.revocation = Revocation {
                                status: "good",
                                source: "dss",
                            };
                        } else if !crls.is_empty() || !self.dss.ocsp_responses.is_empty() {
                            report.revocation = Revocation {
                                status: "unknown",
                                source: "dss",
                            };
                        }
                    }
                }
            }
        }

        // Nothing embedded answered: ask the network when allowed.
        if matches!(report.revocation.status, "not_checked" | "unknown")
            && let (Some(source), Some(cert)) = (&self.options.online, &signer_cert)
        {
            let path = chain::build_path(cert, &pool, &self.options.trust_anchors, validation_time);
            if let Some(issuer) = path.certificates.get(1) {
                let (fetched_crls, responses) = source.fetch(cert, issuer);
                let ocsp: Vec<qz_pki::ocsp::CertStatus> = responses
                    .iter()
                    .filter_map(|r| qz_pki::ocsp::response_status(r, cert, issuer).ok())
                    .collect();
                let crl = chain::crl_status(cert, issuer, &fetched_crls, validation_time);
                let revoked = crl == chain::CrlStatus::Revoked
                    || ocsp
                        .iter()
                        .any(|s| matches!(s, qz_pki::ocsp::CertStatus::Revoked(..)));
                let good = crl == chain::CrlStatus::Good || ocsp.contains(&qz_pki::ocsp::CertStatus::Good);
                if revoked {
                    report.revocation = Revocation {
                        status: "revoked",
                        source: "online",
                    };
                    problems.push("the signer certificate is revoked (fetched online)".into());
                } else if good {
                    report.revocation = Revocation {
                        status: "good",
                        source: "online",
                    };
                } else {
                    report.revocation = Revocation {
                        status: "unknown",
                        source: "online",
                    };
                }
            }
        }

        // A document timestamp's TSA is its signer: the same trust answer.
        if is_timestamp && let Some(timestamp) = report.timestamp.as_mut() {
            timestamp.trusted = report.trusted;
        }

        // Objects hidden inside any signature's gap are never legitimate.
        let hidden = self.doc.reference_table.entries.values().any(|e| match e {
            lopdf::xref::XrefEntry::Normal { offset, .. } => {
                self.gaps.iter().any(|g| g.contains(&(*offset as usize)))
            }
            _ => false,
        });
        if hidden {
            structural = true;
            problems.push("an object is stored inside a signature's /Contents".into());
        }

        let changes = self.changes_after(end).clone();
        match changes {
            Ok(changes) => {
                report.modification = changes.level;
                problems.extend(changes.reasons);
            }
            Err(err) => {
                structural = true;
                problems.push(err);
            }
        }
        if structure::trailing_garbage(self.bytes, &self.ends) {
            report.modification = Modification::Other;
            problems
                .push("data was appended after the last revision without a cross-reference section".into());
        }
        if let Some(problem) = &self.xref_problem {
            report.modification = Modification::Other;
            problems.push(problem.clone());
        }
        if self.doc.xref_recovery.is_some() {
            report.modification = Modification::Other;
            problems.push("the cross-reference data of a later revision is damaged".into());
        }

        let revoked = report.revocation.status == "revoked";
        let timestamp_bad = report
            .timestamp
            .as_ref()
            .is_some_and(|t| !t.valid || t.trusted == Some(false));
        let untrusted = report.trusted == Some(false);
        let certified_level = self.docmdp.as_ref().map(|(_, p)| *p);
        report.status =
            if structural || !report.intact || !report.valid || untrusted || revoked || timestamp_bad {
                SignatureStatus::Broken
            } else {
                match (report.modification, certified_level) {
                    (Modification::None, _) => SignatureStatus::Valid,
                    (Modification::LtaUpdates, _) => SignatureStatus::AllowedChange,
                    (Modification::FormFilling, Some(1)) => {
                        problems.push("the certification forbids any change (DocMDP P=1)".into());
                        SignatureStatus::Modified
                    }
                    (Modification::FormFilling, _) => SignatureStatus::AllowedChange,
                    // Only a certification with P=3 permits annotations (pyHanko agrees).
                    (Modification::Annotations, Some(3)) => SignatureStatus::AllowedChange,
                    (Modification::Annotations, _) => {
                        problems.push(
                            "annotations were added after signing and no certification permits them".into(),
                        );
                        SignatureStatus::Modified
                    }
                    (Modification::Other, _) => SignatureStatus::Modified,
                }
            };
        report.problems = problems;
        report
    }
}

fn docmdp(doc: &Document) -> Option<(Object, i64)> {
    let catalog = doc.catalog().ok()?;
    let perms = catalog
        .get(b"Perms")
        .ok()
        .and_then(|p| doc.dereference(p).ok())?
        .1
        .as_dict()
        .ok()?;
    let reference = perms.get(b"DocMDP").ok()?.clone();
    let sig = doc.dereference(&reference).ok()?.1.as_dict().ok()?;
    let mut level = 2;
    if let Ok(Object::Array(refs)) = sig.get(b"Reference") {
        for entry in refs {
            let Some(entry) = doc.dereference(entry).ok().and_then(|(_, e)| e.as_dict().ok()) else {
                continue;
            };
            if entry.get(b"TransformMethod").and_then(Object::as_name).ok() == Some(b"DocMDP")
                && let Some(p) = entry
                    .get(b"TransformParams")
                    .ok()
                    .and_then(|t| doc.dereference(t).ok())
                    .and_then(|(_, t)| t.as_dict().ok())
                    .and_then(|t| t.get(b"P").and_then(Object::as_i64).ok())
            {
                level = p;
            }
        }
    }
    Some((reference, level))
}

/// Verifies every signature of the PDF in `bytes`.
pub fn verify(bytes: &[u8], options: &VerifyOptions) -> Result<Report, VerifyError> {
    let head = &bytes[..bytes.len().min(1024)];
    if !head.windows(5).any(|w| w == b"%PDF-") {
        return Err(VerifyError::NotPdf);
    }
    let ends = structure::revision_ends(bytes);
    let mut report = Report {
        schema: report::SCHEMA,
        verdict: Verdict::NoSignature,
        revisions: ends.len(),
        signatures: Vec::new(),
        problems: Vec::new(),
    };
    let doc = match load(bytes) {
        Ok(doc) => doc,
        Err(err) => {
            report.problems.push(format!("cannot read the PDF: {err}"));
            report.verdict = if contains(bytes, b"/ByteRange") {
                Verdict::Broken
            } else {
                Verdict::NoSignature
            };
            return Ok(report);
        }
    };
    if structure::trailing_garbage(bytes, &ends) {
        report
            .problems
            .push("data was appended after the last %%EOF without a cross-reference section".into());
    }
    let fields = fields::signed_fields(&doc);
    let mut context = Context {
        bytes,
        doc: &doc,
        ends,
        options,
        dss: read_dss(&doc),
        pages: Pages::new(&doc),
        gaps: Vec::new(),
        revisions: HashMap::new(),
        docmdp: docmdp(&doc),
        xref_problem: misplaced_object(bytes, &doc),
    };
    context.gaps = fields
        .iter()
        .filter_map(|f| match &f.value {
            Object::Reference(id) => doc.get_dictionary(*id).ok(),
            Object::Dictionary(d) => Some(d),
            _ => None,
        })
        .filter_map(|d| d.get(b"ByteRange").and_then(Object::as_array).ok())
        .filter_map(|br| {
            let a = usize::try_from(br.get(1)?.as_i64().ok()?).ok()?;
            let b = usize::try_from(br.get(2)?.as_i64().ok()?).ok()?;
            // The string's delimiters themselves are not "inside".
            (b > a + 1).then(|| a + 1..b - 1)
        })
        .collect();
    for field in &fields {
        let signature = context.check(field);
        report.signatures.push(signature);
    }
    report.verdict = report.signatures.iter().map(|s| s.status).max().map_or(
        Verdict::NoSignature,
        |status| match status {
            SignatureStatus::Valid => Verdict::Valid,
            SignatureStatus::AllowedChange => Verdict::AllowedChange,
            SignatureStatus::Modified => Verdict::Modified,
            SignatureStatus::Broken => Verdict::Broken,
        },
    );
    Ok(report)
}

/// The first cross-reference entry that does not point at the object it names. Readers
/// disagree about such files (some rebuild the table), so what they show is not what was signed.
fn misplaced_object(bytes: &[u8], doc: &Document) -> Option<String> {
    doc.reference_table
        .entries
        .iter()
        .find_map(|(&number, entry)| match entry {
            lopdf::xref::XrefEntry::Normal { offset, .. } => {
                qz_pdf::raw::indirect_value(bytes, *offset as usize, number)
                    .is_err()
                    .then(|| format!("the cross-reference entry of object {number} points at another object"))
            }
            _ => None,
        })
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
