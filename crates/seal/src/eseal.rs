//! GB/T 38540-2020 secure electronic seals (`SESeal`, v4) and stamps (`SES_Signature`), and a
//! liberal reader of GM/T 0031-2014 (v1) seals from other vendors.
//!
//! No Rust crate implements these structures, so the ASN.1 of research/guomi.md §1.2 is written
//! here with `der`. What is signed (verified against real samples there, §1.4): a v4 seal's
//! `signedValue` covers DER(SES_SealInfo); a v1 seal's covers DER(SEQUENCE{SealInfo, cert,
//! alg}); a stamp's `signature` covers DER(TBS_Sign). All SM2 with SM3 and the default ID.

use std::time::{Duration, SystemTime};

use der::asn1::{BitString, GeneralizedTime, Ia5String, ObjectIdentifier, OctetString, UtcTime};
use der::{Any, Decode, Encode, Sequence, Tag, Tagged};
use qz_pki::{DigestAlgorithm, DocumentSigner, PkiError};
use x509_cert::Certificate;

use crate::SealError;

/// SM2 with SM3, the only algorithm these structures use.
pub const SM2_WITH_SM3: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.156.10197.1.501");

/// `SES_Header`.
#[derive(Debug, Clone, Sequence)]
pub struct SesHeader {
    /// Always "ES".
    pub id: Ia5String,
    /// 4 for GB/T 38540-2020.
    pub version: u32,
    /// Vendor id.
    pub vid: Ia5String,
}

/// `SES_ESPropertyInfo` (v4). `cert_list` is kept raw: a SEQUENCE OF OCTET STRING for
/// `cert_list_type` 1, of digest objects for 2.
#[derive(Debug, Clone, Sequence)]
pub struct SesPropertyInfo {
    /// Seal type (1 unit, 2 personal, or vendor-defined).
    pub seal_type: u32,
    /// Seal name.
    pub name: String,
    /// 1 = certificates, 2 = certificate digests.
    pub cert_list_type: u32,
    /// The list.
    pub cert_list: Any,
    /// Made at.
    pub create_date: GeneralizedTime,
    /// Valid from.
    pub valid_start: GeneralizedTime,
    /// Valid until.
    pub valid_end: GeneralizedTime,
}

/// `SES_ESPictrueInfo` (sic).
#[derive(Debug, Clone, Sequence)]
pub struct SesPicture {
    /// "PNG", "JPG", …
    pub picture_type: Ia5String,
    /// The image.
    pub data: OctetString,
    /// Display width in mm.
    pub width: u32,
    /// Display height in mm.
    pub height: u32,
}

/// `SES_SealInfo` (v4).
#[derive(Debug, Clone, Sequence)]
pub struct SesSealInfo {
    /// Header.
    pub header: SesHeader,
    /// Unique seal id.
    pub es_id: Ia5String,
    /// Properties.
    pub property: SesPropertyInfo,
    /// Picture.
    pub picture: SesPicture,
    /// Extensions, kept raw.
    #[asn1(optional = "true")]
    pub ext_datas: Option<Any>,
}

/// `SESeal` (v4).
#[derive(Debug, Clone, Sequence)]
pub struct SeSeal {
    /// The seal information.
    pub e_seal_info: SesSealInfo,
    /// DER of the seal maker's certificate.
    pub cert: OctetString,
    /// Signature algorithm.
    pub sign_alg_id: ObjectIdentifier,
    /// Maker's signature over DER(e_seal_info).
    pub signed_value: BitString,
}

/// `TBS_Sign` (v4); the seal is kept as its exact bytes.
#[derive(Debug, Clone, Sequence)]
pub struct TbsSign {
    /// Same as the seal's version.
    pub version: u32,
    /// The seal, byte for byte.
    pub eseal: Any,
    /// Signing time.
    pub time_info: GeneralizedTime,
    /// SM3 of the protected data.
    pub data_hash: BitString,
    /// What is protected.
    pub property_info: Ia5String,
    /// Extensions.
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub ext_datas: Option<Any>,
}

/// `SES_Signature` (v4).
#[derive(Debug, Clone, Sequence)]
pub struct SesSignature {
    /// What was signed.
    pub to_sign: TbsSign,
    /// DER of the signer's certificate.
    pub cert: OctetString,
    /// Signature algorithm.
    pub signature_alg_id: ObjectIdentifier,
    /// Signature over DER(to_sign).
    pub signature: BitString,
    /// RFC 3161 token over the signature value.
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub time_stamp: Option<BitString>,
}

fn asn1(err: impl std::fmt::Display) -> SealError {
    SealError::Decode(format!("e-seal structure: {err}"))
}

fn pki(err: PkiError) -> SealError {
    SealError::Decode(err.to_string())
}

fn generalized(time: SystemTime) -> Result<GeneralizedTime, SealError> {
    let since = time.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    GeneralizedTime::from_unix_duration(Duration::from_secs(since.as_secs())).map_err(asn1)
}

/// What `qz seal make` needs.
#[derive(Debug, Clone)]
pub struct SealSpec {
    /// Unique id.
    pub es_id: String,
    /// Vendor id written in the header.
    pub vid: String,
    /// Type code.
    pub seal_type: u32,
    /// Name shown to people.
    pub name: String,
    /// DER certificates allowed to stamp with this seal.
    pub signer_certificates: Vec<Vec<u8>>,
    /// PNG bytes.
    pub png: Vec<u8>,
    /// Display size in mm.
    pub width_mm: u32,
    /// Display size in mm.
    pub height_mm: u32,
    /// Validity.
    pub valid_start: SystemTime,
    /// Validity.
    pub valid_end: SystemTime,
}

/// Builds and signs a v4 `SESeal`; returns its DER (the `.esl` file).
pub fn make_seal(
    spec: &SealSpec,
    maker: &dyn DocumentSigner,
    maker_certificate: &Certificate,
) -> Result<Vec<u8>, SealError> {
    if maker.digest_algorithm() != DigestAlgorithm::Sm3 {
        return Err(SealError::Decode(
            "the seal maker's key must be SM2 (GB/T 38540)".into(),
        ));
    }
    let certs: Vec<OctetString> = spec
        .signer_certificates
        .iter()
        .map(|c| OctetString::new(c.clone()))
        .collect::<Result<_, _>>()
        .map_err(asn1)?;
    let info = SesSealInfo {
        header: SesHeader {
            id: Ia5String::new("ES").map_err(asn1)?,
            version: 4,
            vid: Ia5String::new(&spec.vid).map_err(asn1)?,
        },
        es_id: Ia5String::new(&spec.es_id).map_err(asn1)?,
        property: SesPropertyInfo {
            seal_type: spec.seal_type,
            name: spec.name.clone(),
            cert_list_type: 1,
            cert_list: Any::encode_from(&certs).map_err(asn1)?,
            create_date: generalized(SystemTime::now())?,
            valid_start: generalized(spec.valid_start)?,
            valid_end: generalized(spec.valid_end)?,
        },
        picture: SesPicture {
            picture_type: Ia5String::new("PNG").map_err(asn1)?,
            data: OctetString::new(spec.png.clone()).map_err(asn1)?,
            width: spec.width_mm,
            height: spec.height_mm,
        },
        ext_datas: None,
    };
    let signature = maker.sign(&info.to_der().map_err(asn1)?).map_err(pki)?;
    let seal = SeSeal {
        e_seal_info: info,
        cert: OctetString::new(maker_certificate.to_der().map_err(asn1)?).map_err(asn1)?,
        sign_alg_id: SM2_WITH_SM3,
        signed_value: BitString::from_bytes(&signature).map_err(asn1)?,
    };
    seal.to_der().map_err(asn1)
}

/// A seal as read from any vendor: the parts a stamp and a verifier need.
#[derive(Debug, Clone)]
pub struct ParsedSeal {
    /// 1 (GM/T 0031-2014) or 4/5 (GB/T 38540).
    pub version: u32,
    /// Seal id.
    pub es_id: String,
    /// Seal name.
    pub name: String,
    /// Picture type and bytes, size in mm.
    pub picture: (String, Vec<u8>, u32, u32),
    /// Validity window (seconds since the epoch).
    pub valid: (Duration, Duration),
    /// Certificates allowed to stamp (DER), when the list holds certificates.
    pub signer_certificates: Vec<Vec<u8>>,
    /// Digests of allowed certificates, when the list holds digests.
    pub signer_certificate_digests: Vec<Vec<u8>>,
    /// Maker's certificate (DER).
    pub maker_certificate: Vec<u8>,
    /// The bytes the maker signed and the signature.
    pub signed: (Vec<u8>, Vec<u8>),
    /// The whole seal's DER.
    pub der: Vec<u8>,
}

fn sequence_items(any: &Any) -> Result<Vec<Any>, SealError> {
    if any.tag() != Tag::Sequence {
        return Err(asn1("expected a SEQUENCE"));
    }
    let mut items = Vec::new();
    let mut reader = der::SliceReader::new(any.value()).map_err(asn1)?;
    while !der::Reader::is_finished(&reader) {
        items.push(Any::decode(&mut reader).map_err(asn1)?);
    }
    Ok(items)
}

fn time_of(any: &Any) -> Result<Duration, SealError> {
    match any.tag() {
        Tag::GeneralizedTime => Ok(any
            .decode_as::<GeneralizedTime>()
            .map_err(asn1)?
            .to_unix_duration()),
        Tag::UtcTime => Ok(any.decode_as::<UtcTime>().map_err(asn1)?.to_unix_duration()),
        other => Err(asn1(format!("unexpected time type {other}"))),
    }
}

fn string_of(any: &Any) -> String {
    String::from_utf8_lossy(any.value()).into_owned()
}

fn uint_of(any: &Any) -> u32 {
    any.value()
        .iter()
        .fold(0u32, |acc, b| acc.wrapping_shl(8) | u32::from(*b))
}

/// Reads a v4/v5 or v1 seal, checking only its structure.
pub fn parse_seal(der_bytes: &[u8]) -> Result<ParsedSeal, SealError> {
    let top = Any::from_der(der_bytes).map_err(asn1)?;
    let fields = sequence_items(&top)?;
    let info = fields.first().ok_or_else(|| asn1("empty SESeal"))?;
    let info_items = sequence_items(info)?;
    let [header, es_id, property, picture, ..] = info_items.as_slice() else {
        return Err(asn1("SES_SealInfo has too few fields"));
    };
    let header = sequence_items(header)?;
    if header.first().map(string_of).as_deref() != Some("ES") {
        return Err(asn1("the header id is not \"ES\""));
    }
    let version = header.get(1).map(uint_of).unwrap_or(0);
    let property = sequence_items(property)?;
    let picture = sequence_items(picture)?;
    let picture = match picture.as_slice() {
        [kind, data, width, height, ..] => (
            string_of(kind),
            data.value().to_vec(),
            uint_of(width),
            uint_of(height),
        ),
        _ => return Err(asn1("SES_ESPictrueInfo has too few fields")),
    };
    // v4: type, name, certListType, certList, createDate, validStart, validEnd.
    // v1: type, name, certList, createDate, validStart, validEnd.
    let (cert_list_type, cert_list, times) = match property.as_slice() {
        [_, _, list_type, list, _, start, end, ..] if list_type.tag() == Tag::Integer => {
            (uint_of(list_type), list.clone(), (start.clone(), end.clone()))
        }
        [_, _, list, _, start, end, ..] => (1, list.clone(), (start.clone(), end.clone())),
        _ => return Err(asn1("SES_ESPropertyInfo has too few fields")),
    };
    let name = property.get(1).map(string_of).unwrap_or_default();
    let mut signer_certificates = Vec::new();
    let mut signer_certificate_digests = Vec::new();
    for item in sequence_items(&cert_list)? {
        if cert_list_type == 2 {
            if let Some(value) = sequence_items(&item)?.get(1) {
                signer_certificate_digests.push(value.value().to_vec());
            }
        } else if item.tag() == Tag::OctetString {
            signer_certificates.push(item.value().to_vec());
        } else {
            // Some v1 producers put the certificates in directly.
            signer_certificates.push(item.to_der().map_err(asn1)?);
        }
    }
    let (maker_certificate, signed) = match fields.as_slice() {
        // v4 / v5: SESeal { info, cert, alg, signedValue [, timestamp] }; signed = DER(info).
        [info, cert, _alg, value, ..] => (
            cert.value().to_vec(),
            (info.to_der().map_err(asn1)?, bit_string_bytes(value)?),
        ),
        // v1: SESeal { info, signInfo { cert, alg, signData } }; signed = SEQ{info, cert, alg}.
        [info, sign_info] => {
            let sign = sequence_items(sign_info)?;
            let [cert, alg, value, ..] = sign.as_slice() else {
                return Err(asn1("SES_SignInfo has too few fields"));
            };
            let mut body = info.to_der().map_err(asn1)?;
            body.extend(cert.to_der().map_err(asn1)?);
            body.extend(alg.to_der().map_err(asn1)?);
            let signed = Any::new(Tag::Sequence, body)
                .map_err(asn1)?
                .to_der()
                .map_err(asn1)?;
            (cert.value().to_vec(), (signed, bit_string_bytes(value)?))
        }
        _ => return Err(asn1("SESeal has an unknown layout")),
    };
    Ok(ParsedSeal {
        version,
        es_id: string_of(es_id),
        name,
        picture,
        valid: (time_of(&times.0)?, time_of(&times.1)?),
        signer_certificates,
        signer_certificate_digests,
        maker_certificate,
        signed,
        der: der_bytes.to_vec(),
    })
}

fn bit_string_bytes(any: &Any) -> Result<Vec<u8>, SealError> {
    let bits = any.decode_as::<BitString>().map_err(asn1)?;
    bits.as_bytes()
        .map(<[u8]>::to_vec)
        .ok_or_else(|| asn1("signature is not a whole number of bytes"))
}

/// The verdict on a seal's own signature and validity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealCheck {
    /// The maker's signature verifies.
    pub signature_valid: bool,
    /// `at` is inside the validity window.
    pub in_validity: bool,
    /// What went wrong.
    pub problems: Vec<String>,
}

impl ParsedSeal {
    /// Verifies the maker's signature and the validity window at `at`.
    pub fn check(&self, at: SystemTime) -> SealCheck {
        let mut problems = Vec::new();
        let signature_valid = match Certificate::from_der(&self.maker_certificate) {
            Ok(maker) => qz_pki::verify::verify_signature(
                maker.tbs_certificate().subject_public_key_info(),
                &spki::AlgorithmIdentifierOwned {
                    oid: SM2_WITH_SM3,
                    parameters: None,
                },
                DigestAlgorithm::Sm3,
                &self.signed.0,
                &self.signed.1,
            )
            .map_err(|e| problems.push(format!("the seal maker's signature does not verify: {e}")))
            .is_ok(),
            Err(e) => {
                problems.push(format!("cannot read the seal maker's certificate: {e}"));
                false
            }
        };
        let now = at.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
        let in_validity = self.valid.0 <= now && now <= self.valid.1;
        if !in_validity {
            problems.push("the time is outside the seal's validity".into());
        }
        SealCheck {
            signature_valid,
            in_validity,
            problems,
        }
    }

    /// Whether `certificate` (DER) may stamp with this seal.
    pub fn allows(&self, certificate: &[u8]) -> bool {
        self.signer_certificates.iter().any(|c| c == certificate)
            || self.signer_certificate_digests.iter().any(|d| {
                DigestAlgorithm::Sm3.digest(&[certificate]) == *d
                    || DigestAlgorithm::Sha256.digest(&[certificate]) == *d
            })
    }
}

/// Builds a v4 `SES_Signature` over `data_hash` (SM3 of the protected bytes) with `seal`.
pub fn stamp(
    seal: &ParsedSeal,
    data_hash: &[u8],
    property_info: &str,
    signer: &dyn DocumentSigner,
    signer_certificate: &Certificate,
    at: SystemTime,
    timestamp: Option<&dyn qz_pki::cms::Timestamper>,
) -> Result<Vec<u8>, SealError> {
    let cert_der = signer_certificate.to_der().map_err(asn1)?;
    if !seal.allows(&cert_der) {
        return Err(SealError::Decode(
            "the signer's certificate is not in the seal's certificate list (re-make the seal after renewing)".into(),
        ));
    }
    let tbs = TbsSign {
        version: if seal.version >= 4 { seal.version } else { 4 },
        eseal: Any::from_der(&seal.der).map_err(asn1)?,
        time_info: generalized(at)?,
        data_hash: BitString::from_bytes(data_hash).map_err(asn1)?,
        property_info: Ia5String::new(property_info).map_err(asn1)?,
        ext_datas: None,
    };
    let signature = signer.sign(&tbs.to_der().map_err(asn1)?).map_err(pki)?;
    let time_stamp = match timestamp {
        Some(timestamper) => {
            Some(BitString::from_bytes(&timestamper.timestamp(&signature).map_err(pki)?).map_err(asn1)?)
        }
        None => None,
    };
    SesSignature {
        to_sign: tbs,
        cert: OctetString::new(cert_der).map_err(asn1)?,
        signature_alg_id: SM2_WITH_SM3,
        signature: BitString::from_bytes(&signature).map_err(asn1)?,
        time_stamp,
    }
    .to_der()
    .map_err(asn1)
}

/// What a stamp says and whether it holds.
#[derive(Debug, Clone)]
pub struct StampCheck {
    /// The seal inside.
    pub seal: ParsedSeal,
    /// The signer's certificate.
    pub signer_certificate: Vec<u8>,
    /// Signing time (`timeInfo`).
    pub time: Duration,
    /// `dataHash` equals the expected digest.
    pub intact: bool,
    /// The stamp signature verifies and the seal holds at the signing time.
    pub valid: bool,
    /// The RFC 3161 token over the signature value, if any.
    pub timestamp_token: Option<Vec<u8>>,
    /// The signature value (what the token covers).
    pub signature: Vec<u8>,
    /// What went wrong.
    pub problems: Vec<String>,
}

/// Verifies a v4 `SES_Signature` against the SM3 digest of the protected data.
pub fn check_stamp(der_bytes: &[u8], expected_hash: &[u8]) -> Result<StampCheck, SealError> {
    let mut reader = der::SliceReader::new(der_bytes).map_err(asn1)?;
    let stamp = SesSignature::decode(&mut reader).map_err(asn1)?;
    let seal = parse_seal(&stamp.to_sign.eseal.to_der().map_err(asn1)?)?;
    let mut problems = Vec::new();
    let data_hash = stamp.to_sign.data_hash.as_bytes().unwrap_or_default().to_vec();
    let intact = data_hash == expected_hash;
    if !intact {
        problems.push("the stamp's data hash does not match the signed bytes".into());
    }
    let signature = stamp.signature.as_bytes().unwrap_or_default().to_vec();
    let signer_certificate = stamp.cert.as_bytes().to_vec();
    let signature_valid = match Certificate::from_der(&signer_certificate) {
        Ok(cert) => qz_pki::verify::verify_signature(
            cert.tbs_certificate().subject_public_key_info(),
            &spki::AlgorithmIdentifierOwned {
                oid: stamp.signature_alg_id,
                parameters: None,
            },
            DigestAlgorithm::Sm3,
            &stamp.to_sign.to_der().map_err(asn1)?,
            &signature,
        )
        .map_err(|e| problems.push(format!("the stamp signature does not verify: {e}")))
        .is_ok(),
        Err(e) => {
            problems.push(format!("cannot read the signer's certificate: {e}"));
            false
        }
    };
    let time = stamp.to_sign.time_info.to_unix_duration();
    let seal_check = seal.check(SystemTime::UNIX_EPOCH + time);
    problems.extend(seal_check.problems.iter().cloned());
    let allowed = seal.allows(&signer_certificate);
    if !allowed {
        problems.push("the signer's certificate is not in the seal's certificate list".into());
    }
    Ok(StampCheck {
        valid: signature_valid && seal_check.signature_valid && seal_check.in_validity && allowed,
        intact,
        time,
        timestamp_token: stamp
            .time_stamp
            .as_ref()
            .and_then(|b| b.as_bytes())
            .map(<[u8]>::to_vec),
        signature,
        signer_certificate,
        seal,
        problems,
    })
}
