//! RFC 3161 timestamps: our authority's answer to a `TimeStampReq`, and the client side that
//! asks one (for PAdES B-T and document timestamps).
//!
//! The published `x509-tsp` crate belongs to the previous RustCrypto generation (der 0.7), so
//! the request and response structures are defined here with der 0.8.

use std::time::SystemTime;

use der::asn1::{BitString, GeneralizedTime, Int, ObjectIdentifier, OctetString};
use der::{Any, Decode, Encode, Sequence};
use spki::AlgorithmIdentifierOwned;

use crate::certs::SignerIdentity;
use crate::cms::{SignedDataRequest, build_signed_data};
use crate::error::PkiError;
use crate::keys::{DigestAlgorithm, DocumentSigner};
use crate::oid;
use crate::verify::{AccuracyAny, MessageImprint, TstInfo};

/// The policy our TSA states in its tokens (a private arc; deployments may set their own).
pub const DEFAULT_POLICY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.58123.1.1");

/// `TimeStampReq` (RFC 3161 2.4.1).
#[derive(Debug, Clone, Sequence)]
pub struct TimeStampReq {
    /// 1.
    pub version: u8,
    /// What to timestamp.
    pub message_imprint: MessageImprint,
    /// Requested policy.
    #[asn1(optional = "true")]
    pub req_policy: Option<ObjectIdentifier>,
    /// Nonce to echo.
    #[asn1(optional = "true")]
    pub nonce: Option<Int>,
    /// Whether the TSA certificate should be included.
    #[asn1(default = "Default::default")]
    pub cert_req: bool,
    /// Extensions (none are supported).
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    pub extensions: Option<Vec<x509_cert::ext::Extension>>,
}

/// `PKIStatusInfo`.
#[derive(Debug, Clone, Sequence)]
pub struct PkiStatusInfo {
    /// 0 granted, 2 rejection.
    pub status: u8,
    /// Free text.
    #[asn1(optional = "true")]
    pub status_string: Option<Vec<String>>,
    /// Failure bits.
    #[asn1(optional = "true")]
    pub fail_info: Option<BitString>,
}

/// `TimeStampResp`.
#[derive(Debug, Clone, Sequence)]
pub struct TimeStampResp {
    /// Status.
    pub status: PkiStatusInfo,
    /// The token, when granted.
    #[asn1(optional = "true")]
    pub time_stamp_token: Option<Any>,
}

/// Failure reasons of RFC 3161 (the bit numbers of PKIFailureInfo).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TsaFailure {
    /// Unrecognized or unsupported algorithm.
    BadAlgorithm = 0,
    /// Transaction not permitted or supported.
    BadRequest = 2,
    /// The data submitted has the wrong format.
    BadDataFormat = 5,
    /// The requested policy is not supported.
    UnacceptedPolicy = 15,
    /// An extension is not supported.
    UnacceptedExtension = 16,
    /// Internal error.
    SystemFailure = 25,
}

fn rejection(failure: TsaFailure, text: &'static str) -> Result<Vec<u8>, PkiError> {
    let bit = failure as usize;
    let mut bytes = vec![0u8; bit / 8 + 1];
    bytes[bit / 8] = 0x80 >> (bit % 8);
    let unused = u8::try_from(7 - bit % 8).unwrap_or(0);
    let response = TimeStampResp {
        status: PkiStatusInfo {
            status: 2,
            status_string: Some(vec![text.to_owned()]),
            fail_info: Some(BitString::new(unused, bytes)?),
        },
        time_stamp_token: None,
    };
    Ok(response.to_der()?)
}

/// A timestamp authority: its key and certificate.
#[derive(Debug)]
pub struct TimestampAuthority<'a> {
    /// Signing key.
    pub signer: &'a dyn DocumentSigner,
    /// TSA certificate (critical EKU timeStamping) and chain.
    pub identity: &'a SignerIdentity,
    /// Policy stated in tokens.
    pub policy: ObjectIdentifier,
}

impl TimestampAuthority<'_> {
    /// Answers a DER `TimeStampReq` with a DER `TimeStampResp`: granted with a token, or a
    /// rejection naming the failure. Never fails on bad input.
    pub fn respond(&self, request: &[u8], now: SystemTime) -> Result<Vec<u8>, PkiError> {
        let Ok(request) = TimeStampReq::from_der(request) else {
            return rejection(TsaFailure::BadDataFormat, "malformed TimeStampReq");
        };
        if request.version != 1 {
            return rejection(TsaFailure::BadRequest, "unsupported version");
        }
        let Some(imprint_algorithm) = DigestAlgorithm::from_oid(request.message_imprint.hash_algorithm.oid)
        else {
            return rejection(TsaFailure::BadAlgorithm, "unsupported hash algorithm");
        };
        if imprint_algorithm == DigestAlgorithm::Sha1 {
            return rejection(TsaFailure::BadAlgorithm, "SHA-1 imprints are not accepted");
        }
        let expected_len = imprint_algorithm.digest(&[]).len();
        if request.message_imprint.hashed_message.as_bytes().len() != expected_len {
            return rejection(
                TsaFailure::BadDataFormat,
                "imprint length does not match its algorithm",
            );
        }
        if request.req_policy.is_some_and(|p| p != self.policy) {
            return rejection(TsaFailure::UnacceptedPolicy, "unsupported policy");
        }
        if request.extensions.as_ref().is_some_and(|e| !e.is_empty()) {
            return rejection(TsaFailure::UnacceptedExtension, "extensions are not supported");
        }
        let token = self.token(
            &MessageImprint {
                hash_algorithm: AlgorithmIdentifierOwned {
                    oid: request.message_imprint.hash_algorithm.oid,
                    parameters: None,
                },
                hashed_message: request.message_imprint.hashed_message.clone(),
            },
            request.nonce,
            request.cert_req,
            now,
        )?;
        let response = TimeStampResp {
            status: PkiStatusInfo {
                status: 0,
                status_string: None,
                fail_info: None,
            },
            time_stamp_token: Some(Any::from_der(&token)?),
        };
        Ok(response.to_der()?)
    }

    /// A DER TimeStampToken over `imprint`.
    pub fn token(
        &self,
        imprint: &MessageImprint,
        nonce: Option<Int>,
        include_certificates: bool,
        now: SystemTime,
    ) -> Result<Vec<u8>, PkiError> {
        let mut serial = [0u8; 16];
        getrandom::fill(&mut serial).map_err(|e| PkiError::Sign(e.to_string()))?;
        serial[0] = (serial[0] & 0x7F) | 0x01;
        let since = now.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
        let info = TstInfo {
            version: 1,
            policy: self.policy,
            message_imprint: imprint.clone(),
            serial_number: Int::new(&serial)?,
            gen_time: Any::encode_from(&GeneralizedTime::from_unix_duration(
                std::time::Duration::from_secs(since.as_secs()),
            )?)?,
            accuracy: Some(AccuracyAny {
                seconds: Some(Int::new(&[1])?),
                millis: None,
                micros: None,
            }),
            ordering: None,
            nonce,
            tsa: None,
            extensions: None,
        };
        let content = info.to_der()?;
        let digest = self.signer.digest_algorithm().digest(&[&content]);
        build_signed_data(
            self.signer,
            self.identity,
            &SignedDataRequest {
                content_type: oid::ID_CT_TST_INFO,
                content: Some(&content),
                content_digest: &digest,
                include_certificates,
                gm_oids: false,
            },
            None,
        )
    }
}

/// Our own TSA in the same process (the platform timestamps its signatures, PAdES B-T): a
/// token over the SHA-256 of the signature value, with the TSA certificate.
impl crate::cms::Timestamper for TimestampAuthority<'_> {
    fn timestamp(&self, signature: &[u8]) -> Result<Vec<u8>, PkiError> {
        let imprint = MessageImprint {
            hash_algorithm: DigestAlgorithm::Sha256.identifier(),
            hashed_message: OctetString::new(DigestAlgorithm::Sha256.digest(&[signature]))?,
        };
        self.token(&imprint, None, true, SystemTime::now())
    }
}

/// A DER `TimeStampReq` for `data` hashed with `digest`, asking for the TSA certificate.
pub fn request(digest: DigestAlgorithm, data: &[&[u8]], nonce: &[u8]) -> Result<Vec<u8>, PkiError> {
    let request = TimeStampReq {
        version: 1,
        message_imprint: MessageImprint {
            hash_algorithm: digest.identifier(),
            hashed_message: OctetString::new(digest.digest(data))?,
        },
        req_policy: None,
        nonce: Some(Int::new(nonce)?),
        cert_req: true,
        extensions: None,
    };
    Ok(request.to_der()?)
}

/// Takes the token out of a DER `TimeStampResp`, checking the status and the nonce.
pub fn token_from_response(response: &[u8], nonce: &[u8]) -> Result<Vec<u8>, PkiError> {
    let response = TimeStampResp::from_der(response)
        .map_err(|e| PkiError::Sign(format!("bad timestamp response: {e}")))?;
    if response.status.status > 1 {
        let text = response
            .status
            .status_string
            .iter()
            .flatten()
            .cloned()
            .collect::<Vec<_>>()
            .join("; ");
        return Err(PkiError::Sign(format!("the TSA refused: {text}")));
    }
    let token = response
        .time_stamp_token
        .ok_or_else(|| PkiError::Sign("the TSA granted no token".into()))?
        .to_der()?;
    let message = crate::verify::SignedMessage::parse(&token)?;
    let info = TstInfo::from_der(&message.encapsulated_content().unwrap_or_default())
        .map_err(|e| PkiError::Sign(format!("bad TSTInfo: {e}")))?;
    let expected = Int::new(nonce)?;
    if info.nonce.as_ref() != Some(&expected) {
        return Err(PkiError::Sign("the TSA answered with another nonce".into()));
    }
    Ok(token)
}
