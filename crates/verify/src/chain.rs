//! Certification paths to the trust anchors, and revocation from embedded CRLs.
//!
//! A deliberately small RFC 5280 subset for document signatures: issuer by name and
//! signature, validity at the validation time, CA basic constraints on issuers. Path length
//! and policy constraints are not evaluated.

use std::time::{Duration, SystemTime};

use der::{Decode, Encode};
use x509_cert::Certificate;
use x509_cert::crl::CertificateList;
use x509_cert::ext::pkix::BasicConstraints;

use qz_pki::verify::verify_certificate_signature;

/// Longest path we follow; real document-signing chains have three or four certificates.
const MAX_PATH: usize = 8;

/// A path from the signer towards an anchor.
#[derive(Debug, Clone)]
pub(crate) struct Path {
    /// Signer first.
    pub certificates: Vec<Certificate>,
    /// It ends at a trust anchor.
    pub trusted: bool,
    /// What stopped it or what is wrong along it.
    pub problems: Vec<String>,
}

fn same_cert(a: &Certificate, b: &Certificate) -> bool {
    a.to_der().ok() == b.to_der().ok()
}

fn unix(time: SystemTime) -> Duration {
    time.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default()
}

fn is_ca(cert: &Certificate) -> bool {
    match cert.tbs_certificate().get_extension::<BasicConstraints>() {
        Ok(Some((_, bc))) => bc.ca,
        // Version 1 roots carry no extensions; accept them only as anchors (checked by caller).
        _ => false,
    }
}

/// Builds a path from `signer` through `pool` to one of `anchors`, checking validity at `at`.
pub(crate) fn build_path(
    signer: &Certificate,
    pool: &[Certificate],
    anchors: &[Certificate],
    at: SystemTime,
) -> Path {
    let mut certificates = vec![signer.clone()];
    let mut problems = Vec::new();
    let mut trusted = false;
    let now = unix(at);
    while let Some(current) = certificates.last().cloned() {
        let validity = current.tbs_certificate().validity();
        if now < validity.not_before.to_unix_duration() || now > validity.not_after.to_unix_duration() {
            problems.push(format!(
                "certificate {} is not valid at the validation time",
                current.tbs_certificate().subject()
            ));
        }
        if anchors.iter().any(|a| same_cert(a, &current)) {
            trusted = true;
            break;
        }
        if certificates.len() >= MAX_PATH {
            problems.push("certification path too long".into());
            break;
        }
        let issuer_name = current.tbs_certificate().issuer();
        let candidates = anchors
            .iter()
            .map(|c| (c, true))
            .chain(pool.iter().map(|c| (c, false)));
        let mut next = None;
        for (candidate, is_anchor) in candidates {
            if candidate.tbs_certificate().subject() != issuer_name || same_cert(candidate, &current) {
                continue;
            }
            if certificates.iter().any(|c| same_cert(c, candidate)) {
                continue;
            }
            if verify_certificate_signature(&current, candidate).is_ok() {
                next = Some((candidate.clone(), is_anchor));
                break;
            }
        }
        match next {
            Some((issuer, is_anchor)) => {
                if !is_anchor && !is_ca(&issuer) {
                    problems.push(format!(
                        "issuer {} is not a CA",
                        issuer.tbs_certificate().subject()
                    ));
                }
                certificates.push(issuer);
            }
            None => {
                if current.tbs_certificate().subject() == issuer_name {
                    problems.push("self-signed certificate that is not a trust anchor".into());
                } else {
                    problems.push(format!(
                        "no issuer found for {}",
                        current.tbs_certificate().subject()
                    ));
                }
                break;
            }
        }
    }
    Path {
        certificates,
        trusted,
        problems,
    }
}

/// What the embedded CRLs say about a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CrlStatus {
    /// A CRL from its issuer, signed by it, does not list it.
    Good,
    /// Listed (revoked before `at`).
    Revoked,
    /// No usable CRL.
    Unknown,
}

/// Looks `cert` up in the DER CRLs, accepting only CRLs `issuer` signed.
pub(crate) fn crl_status(
    cert: &Certificate,
    issuer: &Certificate,
    crls: &[Vec<u8>],
    at: SystemTime,
) -> CrlStatus {
    let mut status = CrlStatus::Unknown;
    for der_crl in crls {
        let Ok(crl) = CertificateList::from_der(der_crl) else {
            continue;
        };
        if &crl.tbs_cert_list.issuer != cert.tbs_certificate().issuer() {
            continue;
        }
        let Ok(tbs) = crl.tbs_cert_list.to_der() else {
            continue;
        };
        let Some(signature) = crl.signature.as_bytes() else {
            continue;
        };
        let verified = qz_pki::verify::verify_signature(
            issuer.tbs_certificate().subject_public_key_info(),
            &crl.signature_algorithm,
            qz_pki::DigestAlgorithm::Sha256,
            &tbs,
            signature,
        );
        if verified.is_err() {
            continue;
        }
        let revoked = crl
            .tbs_cert_list
            .revoked_certificates
            .iter()
            .flatten()
            .any(|entry| {
                &entry.serial_number == cert.tbs_certificate().serial_number()
                    && entry.revocation_date.to_unix_duration() <= unix(at)
            });
        if revoked {
            return CrlStatus::Revoked;
        }
        status = CrlStatus::Good;
    }
    status
}
