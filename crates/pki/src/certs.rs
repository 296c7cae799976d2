//! The signer's certificate and chain: reading, and the checks made before signing.

use std::time::{Duration, SystemTime};

use der::{Decode, Encode};
use x509_cert::Certificate;

use crate::error::PkiError;
use crate::keys::DocumentSigner;

/// The certificate a signature names and the chain shipped with it.
#[derive(Debug, Clone)]
pub struct SignerIdentity {
    /// The signer's certificate.
    pub certificate: Certificate,
    /// Issuing CA certificates to embed (not the trust anchor necessarily).
    pub chain: Vec<Certificate>,
}

/// Reads every certificate in a PEM file (or one DER certificate).
pub fn load_certificates(input: &[u8]) -> Result<Vec<Certificate>, PkiError> {
    let is_pem = input.windows(11).any(|w| w == b"-----BEGIN ");
    let certs = if is_pem {
        Certificate::load_pem_chain(input).map_err(|e| PkiError::Certificate(e.to_string()))?
    } else {
        vec![Certificate::from_der(input).map_err(|e| PkiError::Certificate(e.to_string()))?]
    };
    if certs.is_empty() {
        return Err(PkiError::Certificate("no certificate found".into()));
    }
    Ok(certs)
}

fn format_time(duration: Duration) -> String {
    let date = der::DateTime::from_unix_duration(duration).map(|d| {
        format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
            d.year(),
            d.month(),
            d.day(),
            d.hour(),
            d.minutes(),
            d.seconds()
        )
    });
    date.unwrap_or_else(|_| format!("{}s after 1970", duration.as_secs()))
}

impl SignerIdentity {
    /// Builds the identity from the certificates given: the first of `certificate_file` is the
    /// signer, the rest of it and `chain` are embedded in that order, duplicates dropped.
    pub fn new(mut certificates: Vec<Certificate>, chain: Vec<Certificate>) -> Result<Self, PkiError> {
        if certificates.is_empty() {
            return Err(PkiError::Certificate("no signer certificate".into()));
        }
        let certificate = certificates.remove(0);
        let mut seen = vec![certificate.to_der()?];
        let mut all = Vec::new();
        for cert in certificates.into_iter().chain(chain) {
            let der = cert.to_der()?;
            if !seen.contains(&der) {
                seen.push(der);
                all.push(cert);
            }
        }
        Ok(SignerIdentity {
            certificate,
            chain: all,
        })
    }

    /// Checks that `signer` holds the certificate's key and that the certificate is valid at
    /// `at`; these are the mistakes that would otherwise produce a signature nobody accepts.
    pub fn check(&self, signer: &dyn DocumentSigner, at: SystemTime) -> Result<(), PkiError> {
        let spki = self.certificate.tbs_certificate().subject_public_key_info();
        if spki.subject_public_key.raw_bytes() != signer.public_key_bits()?.as_slice() {
            return Err(PkiError::KeyMismatch(format!(
                "certificate of {}",
                self.certificate.tbs_certificate().subject()
            )));
        }
        let validity = self.certificate.tbs_certificate().validity();
        let now = at.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
        let not_before = validity.not_before.to_unix_duration();
        let not_after = validity.not_after.to_unix_duration();
        if now > not_after {
            return Err(PkiError::CertificateNotValid(format!(
                "expired on {}",
                format_time(not_after)
            )));
        }
        if now < not_before {
            return Err(PkiError::CertificateNotValid(format!(
                "is not valid before {}",
                format_time(not_before)
            )));
        }
        Ok(())
    }

    /// The subject's common name, or the whole subject when it has none.
    pub fn subject_name(&self) -> String {
        let subject = self.certificate.tbs_certificate().subject();
        for atv in subject.iter() {
            if atv.oid == const_oid::db::rfc4519::CN {
                if let Ok(s) = atv.value.decode_as::<der::asn1::Utf8StringRef<'_>>() {
                    return s.to_string();
                }
                if let Ok(s) = atv.value.decode_as::<der::asn1::PrintableStringRef<'_>>() {
                    return s.to_string();
                }
            }
        }
        subject.to_string()
    }
}
