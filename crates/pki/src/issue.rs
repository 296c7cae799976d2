//! Making certificates and CRLs: names, the RFC 5280 extensions of our profiles, and the
//! signing of TBS structures with any [`DocumentSigner`].
//!
//! x509-cert's builders want a signer implementing RustCrypto's `Keypair` family for one key
//! type; our issuing keys are a runtime choice (P-256, RSA, later SM2 and tokens), so the TBS
//! structure is encoded here and signed through our own trait.

use std::time::{Duration, SystemTime};

use const_oid::ObjectIdentifier;
use der::asn1::{BitString, GeneralizedTime, Ia5String, OctetString, UtcTime};
use der::{Decode, Encode, Sequence};
use sha1::Digest as _;
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::Certificate;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::crl::dp::DistributionPoint;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::pkix::{
    AccessDescription, AuthorityInfoAccessSyntax, AuthorityKeyIdentifier, BasicConstraints,
    CrlDistributionPoints, ExtendedKeyUsage, KeyUsage, KeyUsages, SubjectKeyIdentifier,
};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::Time;

use crate::error::PkiError;
use crate::keys::DocumentSigner;

/// id-kp-timeStamping.
pub const KP_TIME_STAMPING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.8");
/// id-kp-OCSPSigning.
pub const KP_OCSP_SIGNING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.9");
/// id-pkix-ocsp-nocheck.
pub const OCSP_NOCHECK: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.5");
const AD_OCSP: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1");
const AD_CA_ISSUERS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.2");
/// commonName.
pub const AT_COMMON_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");
/// serialNumber (the attribute, not the certificate serial).
pub const AT_SERIAL_NUMBER: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.5");
/// countryName.
pub const AT_COUNTRY: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.6");
/// organizationName.
pub const AT_ORGANIZATION: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.10");
/// organizationIdentifier (X.520).
pub const AT_ORGANIZATION_IDENTIFIER: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.97");

fn encoding(err: impl std::fmt::Display) -> PkiError {
    PkiError::Certificate(err.to_string())
}

/// A distinguished name from (attribute, value) pairs, one RDN each, values as UTF8String
/// (PrintableString for the country, as RFC 5280 requires).
pub fn name(attributes: &[(ObjectIdentifier, &str)]) -> Result<Name, PkiError> {
    let mut rdns = Vec::new();
    for (oid, value) in attributes {
        let string_tag: u8 = if *oid == AT_COUNTRY { 0x13 } else { 0x0C };
        let oid_der = oid.to_der()?;
        let value_der = der_tlv(string_tag, value.as_bytes())?;
        let atv = der_tlv(0x30, &[oid_der, value_der].concat())?;
        rdns.push(der_tlv(0x31, &atv)?);
    }
    Name::from_der(&der_tlv(0x30, &rdns.concat())?).map_err(encoding)
}

/// A DER tag-length-value.
pub(crate) fn der_tlv(tag: u8, value: &[u8]) -> Result<Vec<u8>, PkiError> {
    let len = der::Length::try_from(value.len())?;
    let mut out = vec![tag];
    len.encode_to_vec(&mut out)?;
    out.extend_from_slice(value);
    Ok(out)
}

/// `Time` choosing UTCTime before 2050 and GeneralizedTime after, as RFC 5280 requires.
pub fn x509_time(at: SystemTime) -> Result<Time, PkiError> {
    let since = at.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    // Whole seconds: DER forbids fractions in these types.
    let since = Duration::from_secs(since.as_secs());
    let time = der::DateTime::from_unix_duration(since)?;
    if time.year() < 2050 {
        Ok(Time::UtcTime(UtcTime::from_date_time(time)?))
    } else {
        Ok(Time::GeneralTime(GeneralizedTime::from_date_time(time)))
    }
}

/// `TBSCertificate` as written (x509-cert keeps its own fields private).
#[derive(Debug, Clone, Sequence)]
struct TbsCertificate {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    version: u8,
    serial_number: SerialNumber,
    signature: AlgorithmIdentifierOwned,
    issuer: Name,
    validity: ValidityRaw,
    subject: Name,
    subject_public_key_info: SubjectPublicKeyInfoOwned,
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT", optional = "true")]
    extensions: Option<Vec<Extension>>,
}

#[derive(Debug, Clone, Sequence)]
struct ValidityRaw {
    not_before: Time,
    not_after: Time,
}

#[derive(Debug, Clone, Sequence)]
struct CertificateRaw {
    tbs: TbsCertificate,
    algorithm: AlgorithmIdentifierOwned,
    signature: BitString,
}

/// The key identifier of a public key: SHA-1 of the subjectPublicKey bits (RFC 5280 4.2.1.2 (1)).
pub fn key_identifier(spki: &SubjectPublicKeyInfoOwned) -> Vec<u8> {
    sha1::Sha1::digest(spki.subject_public_key.raw_bytes()).to_vec()
}

/// One extension from a DER-encodable value.
pub fn extension<T: Encode>(oid: ObjectIdentifier, critical: bool, value: &T) -> Result<Extension, PkiError> {
    Ok(Extension {
        extn_id: oid,
        critical,
        extn_value: OctetString::new(value.to_der()?)?,
    })
}

/// What a certificate is for; decides its extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificateKind {
    /// A root CA.
    Root,
    /// An issuing CA under the root.
    IssuingCa,
    /// A person's or organization's document-signing certificate.
    Signing,
    /// A timestamp authority.
    TimeStamping,
    /// A delegated OCSP responder.
    OcspResponder,
}

/// Where relying parties find revocation data and the issuer.
#[derive(Debug, Clone, Default)]
pub struct ServiceUrls {
    /// CRL distribution point for certificates of this issuer.
    pub crl: Option<String>,
    /// OCSP responder.
    pub ocsp: Option<String>,
    /// The issuer certificate (caIssuers).
    pub ca_issuers: Option<String>,
}

fn uri(url: &str) -> Result<GeneralName, PkiError> {
    Ok(GeneralName::UniformResourceIdentifier(
        Ia5String::new(url).map_err(encoding)?,
    ))
}

/// The extensions of our profiles (RFC 5280; TSA per RFC 3161 2.3; OCSP per RFC 6960 4.2.2.2).
pub fn profile_extensions(
    kind: CertificateKind,
    subject_spki: &SubjectPublicKeyInfoOwned,
    issuer_spki: &SubjectPublicKeyInfoOwned,
    urls: &ServiceUrls,
) -> Result<Vec<Extension>, PkiError> {
    use const_oid::db::rfc5280 as ids;
    let mut out = Vec::new();
    let is_ca = matches!(kind, CertificateKind::Root | CertificateKind::IssuingCa);
    out.push(extension(
        ids::ID_CE_BASIC_CONSTRAINTS,
        true,
        &BasicConstraints {
            ca: is_ca,
            path_len_constraint: match kind {
                CertificateKind::IssuingCa => Some(0),
                _ => None,
            },
        },
    )?);
    let usage = match kind {
        CertificateKind::Root | CertificateKind::IssuingCa => {
            KeyUsages::KeyCertSign | KeyUsages::CRLSign | KeyUsages::DigitalSignature
        }
        CertificateKind::Signing => KeyUsages::DigitalSignature | KeyUsages::NonRepudiation,
        CertificateKind::TimeStamping | CertificateKind::OcspResponder => {
            KeyUsages::DigitalSignature | KeyUsages::NonRepudiation
        }
    };
    out.push(extension(ids::ID_CE_KEY_USAGE, true, &KeyUsage(usage))?);
    match kind {
        CertificateKind::TimeStamping => {
            out.push(extension(
                ids::ID_CE_EXT_KEY_USAGE,
                true,
                &ExtendedKeyUsage(vec![KP_TIME_STAMPING]),
            )?);
        }
        CertificateKind::OcspResponder => {
            out.push(extension(
                ids::ID_CE_EXT_KEY_USAGE,
                false,
                &ExtendedKeyUsage(vec![KP_OCSP_SIGNING]),
            )?);
            out.push(extension(OCSP_NOCHECK, false, &der::asn1::Null)?);
        }
        _ => {}
    }
    out.push(extension(
        ids::ID_CE_SUBJECT_KEY_IDENTIFIER,
        false,
        &SubjectKeyIdentifier(OctetString::new(key_identifier(subject_spki))?),
    )?);
    if kind != CertificateKind::Root {
        out.push(extension(
            ids::ID_CE_AUTHORITY_KEY_IDENTIFIER,
            false,
            &AuthorityKeyIdentifier {
                key_identifier: Some(OctetString::new(key_identifier(issuer_spki))?),
                authority_cert_issuer: None,
                authority_cert_serial_number: None,
            },
        )?);
        if let Some(crl) = &urls.crl {
            out.push(extension(
                ids::ID_CE_CRL_DISTRIBUTION_POINTS,
                false,
                &CrlDistributionPoints(vec![DistributionPoint {
                    distribution_point: Some(DistributionPointName::FullName(vec![uri(crl)?])),
                    reasons: None,
                    crl_issuer: None,
                }]),
            )?);
        }
        let mut access = Vec::new();
        // The OCSP responder is not itself checked by OCSP (it carries ocsp-nocheck).
        if let Some(ocsp) = urls
            .ocsp
            .as_ref()
            .filter(|_| kind != CertificateKind::OcspResponder)
        {
            access.push(AccessDescription {
                access_method: AD_OCSP,
                access_location: uri(ocsp)?,
            });
        }
        if let Some(issuers) = &urls.ca_issuers {
            access.push(AccessDescription {
                access_method: AD_CA_ISSUERS,
                access_location: uri(issuers)?,
            });
        }
        if !access.is_empty() {
            out.push(extension(
                ids::ID_PE_AUTHORITY_INFO_ACCESS,
                false,
                &AuthorityInfoAccessSyntax(access),
            )?);
        }
    }
    Ok(out)
}

/// What to put into a certificate.
#[derive(Debug, Clone)]
pub struct CertificateTemplate {
    /// Serial number (positive, at most 20 bytes).
    pub serial: Vec<u8>,
    /// Subject.
    pub subject: Name,
    /// Subject key.
    pub subject_public_key_info: SubjectPublicKeyInfoOwned,
    /// Start of validity.
    pub not_before: SystemTime,
    /// End of validity.
    pub not_after: SystemTime,
    /// Extensions.
    pub extensions: Vec<Extension>,
}

/// Signs `template` as `issuer` with `issuer_key`.
pub fn sign_certificate(
    template: &CertificateTemplate,
    issuer: &Name,
    issuer_key: &dyn DocumentSigner,
) -> Result<Certificate, PkiError> {
    let algorithm = issuer_key.signature_algorithm();
    let tbs = TbsCertificate {
        version: 2,
        serial_number: SerialNumber::new(&template.serial).map_err(encoding)?,
        signature: algorithm.clone(),
        issuer: issuer.clone(),
        validity: ValidityRaw {
            not_before: x509_time(template.not_before)?,
            not_after: x509_time(template.not_after)?,
        },
        subject: template.subject.clone(),
        subject_public_key_info: template.subject_public_key_info.clone(),
        extensions: (!template.extensions.is_empty()).then(|| template.extensions.clone()),
    };
    let signature = issuer_key.sign(&tbs.to_der()?)?;
    let raw = CertificateRaw {
        tbs,
        algorithm,
        signature: BitString::from_bytes(&signature)?,
    };
    Certificate::from_der(&raw.to_der()?).map_err(encoding)
}

/// One revoked certificate for a CRL.
#[derive(Debug, Clone)]
pub struct RevokedEntry {
    /// Certificate serial.
    pub serial: Vec<u8>,
    /// When it was revoked.
    pub revoked_at: SystemTime,
    /// CRLReason code (RFC 5280 5.3.1).
    pub reason: u8,
}

/// Builds a DER CRL (v2, with CRL number and authority key identifier).
pub fn sign_crl(
    issuer: &Certificate,
    issuer_key: &dyn DocumentSigner,
    revoked: &[RevokedEntry],
    this_update: SystemTime,
    next_update: SystemTime,
    crl_number: u64,
) -> Result<Vec<u8>, PkiError> {
    use const_oid::db::rfc5280 as ids;
    use x509_cert::crl::{CertificateList, RevokedCert, TbsCertList};
    let entries = revoked
        .iter()
        .map(|entry| -> Result<RevokedCert, PkiError> {
            let reason = der::asn1::Any::new(der::Tag::Enumerated, vec![entry.reason])?;
            Ok(RevokedCert {
                serial_number: SerialNumber::new(&entry.serial).map_err(encoding)?,
                revocation_date: x509_time(entry.revoked_at)?,
                crl_entry_extensions: Some(vec![Extension {
                    extn_id: ids::ID_CE_CRL_REASONS,
                    critical: false,
                    extn_value: OctetString::new(reason.to_der()?)?,
                }]),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let number = der::asn1::Uint::new(&crl_number.to_be_bytes())?;
    let tbs = TbsCertList {
        version: x509_cert::Version::V2,
        signature: issuer_key.signature_algorithm(),
        issuer: issuer.tbs_certificate().subject().clone(),
        this_update: x509_time(this_update)?,
        next_update: Some(x509_time(next_update)?),
        revoked_certificates: (!entries.is_empty()).then_some(entries),
        crl_extensions: Some(vec![
            extension(ids::ID_CE_CRL_NUMBER, false, &number)?,
            extension(
                ids::ID_CE_AUTHORITY_KEY_IDENTIFIER,
                false,
                &AuthorityKeyIdentifier {
                    key_identifier: Some(OctetString::new(key_identifier(
                        issuer.tbs_certificate().subject_public_key_info(),
                    ))?),
                    authority_cert_issuer: None,
                    authority_cert_serial_number: None,
                },
            )?,
        ]),
    };
    let signature = issuer_key.sign(&tbs.to_der()?)?;
    let crl = CertificateList {
        tbs_cert_list: tbs,
        signature_algorithm: issuer_key.signature_algorithm(),
        signature: BitString::from_bytes(&signature)?,
    };
    Ok(crl.to_der()?)
}
