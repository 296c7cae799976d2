//! OCSP (RFC 6960): our responder's answer to an `OCSPRequest`, and the structures a client
//! needs to ask one and read the answer (for B-LT validation material).
//!
//! `x509-ocsp` targets the previous RustCrypto generation, so the ASN.1 is defined here.

use std::time::{Duration, SystemTime};

use der::asn1::{BitString, GeneralizedTime, ObjectIdentifier, OctetString};
use der::{Any, Decode, Encode, Enumerated, Sequence};
use sha1::Digest as _;
use spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;
use x509_cert::ext::Extension;
use x509_cert::serial_number::SerialNumber;

use crate::error::PkiError;
use crate::issue::der_tlv;
use crate::keys::{DigestAlgorithm, DocumentSigner};

/// id-pkix-ocsp-basic.
pub const ID_PKIX_OCSP_BASIC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.1");
/// id-pkix-ocsp-nonce.
pub const ID_PKIX_OCSP_NONCE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.2");

/// `CertID`.
#[derive(Debug, Clone, PartialEq, Eq, Sequence)]
pub struct CertId {
    /// Hash of the issuer name and key.
    pub hash_algorithm: AlgorithmIdentifierOwned,
    /// Hash of the issuer's DN.
    pub issuer_name_hash: OctetString,
    /// Hash of the issuer's public key bits.
    pub issuer_key_hash: OctetString,
    /// The certificate's serial.
    pub serial_number: SerialNumber,
}

#[derive(Debug, Clone, Sequence)]
struct Request {
    req_cert: CertId,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    single_request_extensions: Option<Vec<Extension>>,
}

#[derive(Debug, Clone, Sequence)]
struct TbsRequest {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    version: Option<u8>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    requestor_name: Option<Any>,
    request_list: Vec<Request>,
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", optional = "true")]
    request_extensions: Option<Vec<Extension>>,
}

#[derive(Debug, Clone, Sequence)]
struct OcspRequest {
    tbs_request: TbsRequest,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    optional_signature: Option<Any>,
}

/// `OCSPResponseStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enumerated)]
#[repr(u8)]
pub enum ResponseStatus {
    /// Response has valid confirmations.
    Successful = 0,
    /// Illegal confirmation request.
    MalformedRequest = 1,
    /// Internal error in issuer.
    InternalError = 2,
    /// Try again later.
    TryLater = 3,
    /// Must sign the request.
    SigRequired = 5,
    /// Request unauthorized.
    Unauthorized = 6,
}

#[derive(Debug, Clone, Sequence)]
struct ResponseBytes {
    response_type: ObjectIdentifier,
    response: OctetString,
}

#[derive(Debug, Clone, Sequence)]
struct OcspResponse {
    response_status: ResponseStatus,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    response_bytes: Option<ResponseBytes>,
}

#[derive(Debug, Clone, Sequence)]
struct SingleResponse {
    cert_id: CertId,
    /// CHOICE of IMPLICIT-tagged alternatives, written raw.
    cert_status: Any,
    this_update: GeneralizedTime,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    next_update: Option<GeneralizedTime>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    single_extensions: Option<Vec<Extension>>,
}

#[derive(Debug, Clone, Sequence)]
struct ResponseData {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    version: Option<u8>,
    /// CHOICE byName [1] / byKey [2], written raw.
    responder_id: Any,
    produced_at: GeneralizedTime,
    responses: Vec<SingleResponse>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    response_extensions: Option<Vec<Extension>>,
}

#[derive(Debug, Clone, Sequence)]
struct BasicOcspResponse {
    tbs_response_data: ResponseData,
    signature_algorithm: AlgorithmIdentifierOwned,
    signature: BitString,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    certs: Option<Vec<Certificate>>,
}

/// What the responder knows about a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertStatus {
    /// Issued and not revoked.
    Good,
    /// Revoked at a time for a reason code.
    Revoked(SystemTime, u8),
    /// Not issued by this CA, or unknown.
    Unknown,
}

fn generalized(time: SystemTime) -> Result<GeneralizedTime, PkiError> {
    let since = time.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    Ok(GeneralizedTime::from_unix_duration(Duration::from_secs(
        since.as_secs(),
    ))?)
}

fn failure(status: ResponseStatus) -> Result<Vec<u8>, PkiError> {
    Ok(OcspResponse {
        response_status: status,
        response_bytes: None,
    }
    .to_der()?)
}

/// The CertID of `cert` issued by `issuer`, with SHA-1 (what most clients send) or SHA-256.
pub fn cert_id(
    cert: &Certificate,
    issuer: &Certificate,
    digest: DigestAlgorithm,
) -> Result<CertId, PkiError> {
    let name = issuer.tbs_certificate().subject().to_der()?;
    let key = issuer
        .tbs_certificate()
        .subject_public_key_info()
        .subject_public_key
        .raw_bytes();
    Ok(CertId {
        hash_algorithm: AlgorithmIdentifierOwned {
            oid: digest.oid(),
            parameters: Some(der::asn1::Null.into()),
        },
        issuer_name_hash: OctetString::new(digest.digest(&[&name]))?,
        issuer_key_hash: OctetString::new(digest.digest(&[key]))?,
        serial_number: cert.tbs_certificate().serial_number().clone(),
    })
}

/// An OCSP responder: the CA it answers for and the (delegated) key that signs.
#[derive(Debug)]
pub struct Responder<'a> {
    /// The issuing CA whose certificates it answers for.
    pub issuer: &'a Certificate,
    /// The responder certificate (EKU OCSPSigning, issued by `issuer`).
    pub responder: &'a Certificate,
    /// Its key.
    pub key: &'a dyn DocumentSigner,
    /// How long answers are good for.
    pub validity: Duration,
}

impl Responder<'_> {
    /// Answers a DER `OCSPRequest`. `status` looks a serial up. Bad input gets
    /// `malformedRequest`, never an error.
    pub fn respond(
        &self,
        request: &[u8],
        now: SystemTime,
        status: impl Fn(&SerialNumber) -> CertStatus,
    ) -> Result<Vec<u8>, PkiError> {
        let Ok(request) = OcspRequest::from_der(request) else {
            return failure(ResponseStatus::MalformedRequest);
        };
        let list = &request.tbs_request.request_list;
        if list.is_empty() || list.len() > 64 {
            return failure(ResponseStatus::MalformedRequest);
        }
        let name = self.issuer.tbs_certificate().subject().to_der()?;
        let key = self
            .issuer
            .tbs_certificate()
            .subject_public_key_info()
            .subject_public_key
            .raw_bytes();
        let ours = |id: &CertId| {
            DigestAlgorithm::from_oid(id.hash_algorithm.oid).is_some_and(|digest| {
                id.issuer_name_hash.as_bytes() == digest.digest(&[&name]).as_slice()
                    && id.issuer_key_hash.as_bytes() == digest.digest(&[key]).as_slice()
            })
        };
        // RFC 6960 2.3: a responder not authorized for any of the issuers says so.
        if !list.iter().any(|item| ours(&item.req_cert)) {
            return failure(ResponseStatus::Unauthorized);
        }
        let mut responses = Vec::with_capacity(list.len());
        for item in list {
            let id = &item.req_cert;
            let answer = if ours(id) {
                status(&id.serial_number)
            } else {
                CertStatus::Unknown
            };
            let cert_status = match answer {
                CertStatus::Good => Any::from_der(&[0x80, 0x00])?,
                CertStatus::Unknown => Any::from_der(&[0x82, 0x00])?,
                CertStatus::Revoked(at, reason) => {
                    let time = generalized(at)?.to_der()?;
                    let reason = der_tlv(0xA0, &der_tlv(0x0A, &[reason])?)?;
                    Any::from_der(&der_tlv(0xA1, &[time, reason].concat())?)?
                }
            };
            responses.push(SingleResponse {
                cert_id: id.clone(),
                cert_status,
                this_update: generalized(now)?,
                next_update: Some(generalized(now + self.validity)?),
                single_extensions: None,
            });
        }
        // Echo the nonce (RFC 8954), nothing else.
        let nonce: Vec<Extension> = request
            .tbs_request
            .request_extensions
            .iter()
            .flatten()
            .filter(|e| e.extn_id == ID_PKIX_OCSP_NONCE)
            .cloned()
            .collect();
        let key_hash = sha1::Sha1::digest(
            self.responder
                .tbs_certificate()
                .subject_public_key_info()
                .subject_public_key
                .raw_bytes(),
        );
        let data = ResponseData {
            version: None,
            responder_id: Any::from_der(&der_tlv(0xA2, &OctetString::new(key_hash.to_vec())?.to_der()?)?)?,
            produced_at: generalized(now)?,
            responses,
            response_extensions: (!nonce.is_empty()).then_some(nonce),
        };
        let signature = self.key.sign(&data.to_der()?)?;
        let basic = BasicOcspResponse {
            tbs_response_data: data,
            signature_algorithm: self.key.signature_algorithm(),
            signature: BitString::from_bytes(&signature)?,
            certs: Some(vec![self.responder.clone()]),
        };
        Ok(OcspResponse {
            response_status: ResponseStatus::Successful,
            response_bytes: Some(ResponseBytes {
                response_type: ID_PKIX_OCSP_BASIC,
                response: OctetString::new(basic.to_der()?)?,
            }),
        }
        .to_der()?)
    }
}

/// A DER `OCSPRequest` for one certificate, with a nonce.
pub fn request(cert: &Certificate, issuer: &Certificate, nonce: &[u8]) -> Result<Vec<u8>, PkiError> {
    let nonce_ext = Extension {
        extn_id: ID_PKIX_OCSP_NONCE,
        critical: false,
        extn_value: OctetString::new(OctetString::new(nonce.to_vec())?.to_der()?)?,
    };
    Ok(OcspRequest {
        tbs_request: TbsRequest {
            version: None,
            requestor_name: None,
            request_list: vec![Request {
                req_cert: cert_id(cert, issuer, DigestAlgorithm::Sha1)?,
                single_request_extensions: None,
            }],
            request_extensions: Some(vec![nonce_ext]),
        },
        optional_signature: None,
    }
    .to_der()?)
}

/// What a signed OCSP response says about `cert`, after checking the response signature
/// against `issuer` or a responder certificate `issuer` delegated to (EKU OCSPSigning).
pub fn response_status(
    response: &[u8],
    cert: &Certificate,
    issuer: &Certificate,
) -> Result<CertStatus, PkiError> {
    let bad = |what: &str| PkiError::Sign(format!("OCSP response: {what}"));
    let response = OcspResponse::from_der(response).map_err(|e| bad(&e.to_string()))?;
    if response.response_status != ResponseStatus::Successful {
        return Err(bad(&format!("status {:?}", response.response_status)));
    }
    let bytes = response.response_bytes.ok_or_else(|| bad("no response bytes"))?;
    if bytes.response_type != ID_PKIX_OCSP_BASIC {
        return Err(bad("not a basic response"));
    }
    let basic = BasicOcspResponse::from_der(bytes.response.as_bytes()).map_err(|e| bad(&e.to_string()))?;
    let tbs = basic.tbs_response_data.to_der()?;
    let signature = basic.signature.as_bytes().ok_or_else(|| bad("odd signature"))?;
    let mut signers = vec![issuer.clone()];
    for candidate in basic.certs.iter().flatten() {
        let delegated = crate::verify::verify_certificate_signature(candidate, issuer).is_ok()
            && candidate
                .tbs_certificate()
                .get_extension::<x509_cert::ext::pkix::ExtendedKeyUsage>()
                .ok()
                .flatten()
                .is_some_and(|(_, eku)| eku.0.contains(&crate::issue::KP_OCSP_SIGNING));
        if delegated {
            signers.push(candidate.clone());
        }
    }
    let verified = signers.iter().any(|signer| {
        crate::verify::verify_signature(
            signer.tbs_certificate().subject_public_key_info(),
            &basic.signature_algorithm,
            DigestAlgorithm::Sha256,
            &tbs,
            signature,
        )
        .is_ok()
    });
    if !verified {
        return Err(bad("signature does not verify"));
    }
    for single in &basic.tbs_response_data.responses {
        let Some(digest) = DigestAlgorithm::from_oid(single.cert_id.hash_algorithm.oid) else {
            continue;
        };
        let mut expected = cert_id(cert, issuer, digest)?;
        expected.hash_algorithm = single.cert_id.hash_algorithm.clone();
        if single.cert_id != expected {
            continue;
        }
        let raw = single.cert_status.to_der()?;
        return Ok(match raw.first() {
            Some(0x80) => CertStatus::Good,
            Some(0xA1) => CertStatus::Revoked(SystemTime::UNIX_EPOCH, 0),
            _ => CertStatus::Unknown,
        });
    }
    Ok(CertStatus::Unknown)
}

/// The certificates a basic OCSP response carries (the delegated responder's).
pub fn embedded_certificates(response: &[u8]) -> Result<Vec<Certificate>, PkiError> {
    let bad = |what: String| PkiError::Sign(format!("OCSP response: {what}"));
    let response = OcspResponse::from_der(response).map_err(|e| bad(e.to_string()))?;
    let bytes = response
        .response_bytes
        .ok_or_else(|| bad("no response bytes".into()))?;
    let basic = BasicOcspResponse::from_der(bytes.response.as_bytes()).map_err(|e| bad(e.to_string()))?;
    Ok(basic.certs.unwrap_or_default())
}
