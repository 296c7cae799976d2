//! Checking signatures made by others: raw signature verification by algorithm, CMS SignedData
//! (PDF signatures, timestamp tokens) and certificate signatures.

use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier, SignerInfo};
use der::asn1::{ObjectIdentifier, OctetString, SetOfVec};
use der::{Any, Decode, Encode, Sequence};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::Certificate;
use x509_cert::attr::Attribute;

use crate::error::PkiError;
use crate::keys::DigestAlgorithm;
use crate::oid;

fn invalid(what: impl std::fmt::Display) -> PkiError {
    PkiError::Sign(what.to_string())
}

/// Names a signature algorithm for reports.
pub fn algorithm_name(algorithm: &ObjectIdentifier) -> String {
    let known = [
        (oid::RSA_ENCRYPTION, "rsaEncryption"),
        (oid::SHA1_WITH_RSA, "sha1WithRSAEncryption"),
        (oid::SHA256_WITH_RSA, "sha256WithRSAEncryption"),
        (oid::SHA384_WITH_RSA, "sha384WithRSAEncryption"),
        (oid::SHA512_WITH_RSA, "sha512WithRSAEncryption"),
        (oid::RSASSA_PSS, "RSASSA-PSS"),
        (oid::ECDSA_WITH_SHA256, "ecdsa-with-SHA256"),
        (oid::ECDSA_WITH_SHA384, "ecdsa-with-SHA384"),
        (oid::ECDSA_WITH_SHA512, "ecdsa-with-SHA512"),
        (oid::ID_EC_PUBLIC_KEY, "ecdsa"),
        (oid::SM2_WITH_SM3, "sm2-with-sm3"),
        (oid::SM2_1, "sm2-with-sm3"),
    ];
    known
        .iter()
        .find(|(o, _)| o == algorithm)
        .map_or_else(|| algorithm.to_string(), |(_, name)| (*name).to_owned())
}

/// Verifies `signature` over `message` with the key in `spki`, for the algorithm named by
/// `algorithm`; `digest` is the hash to use when the algorithm identifier does not name one
/// (`rsaEncryption` and bare `id-ecPublicKey` in CMS SignerInfos).
pub fn verify_signature(
    spki: &SubjectPublicKeyInfoOwned,
    algorithm: &AlgorithmIdentifierOwned,
    digest: DigestAlgorithm,
    message: &[u8],
    signature: &[u8],
) -> Result<(), PkiError> {
    let alg = algorithm.oid;
    let key_der = spki.to_der()?;
    let rsa_digest = match alg {
        a if a == oid::RSA_ENCRYPTION => Some(digest),
        a if a == oid::SHA1_WITH_RSA => Some(DigestAlgorithm::Sha1),
        a if a == oid::SHA256_WITH_RSA => Some(DigestAlgorithm::Sha256),
        a if a == oid::SHA384_WITH_RSA => Some(DigestAlgorithm::Sha384),
        a if a == oid::SHA512_WITH_RSA => Some(DigestAlgorithm::Sha512),
        _ => None,
    };
    if let Some(rsa_digest) = rsa_digest {
        use rsa::pkcs8::DecodePublicKey as _;
        let key = rsa::RsaPublicKey::from_public_key_der(&key_der).map_err(invalid)?;
        let hashed = rsa_digest.digest(&[message]);
        let scheme = match rsa_digest {
            DigestAlgorithm::Sha1 => rsa::Pkcs1v15Sign::new::<sha1::Sha1>(),
            DigestAlgorithm::Sha256 => rsa::Pkcs1v15Sign::new::<sha2::Sha256>(),
            DigestAlgorithm::Sha384 => rsa::Pkcs1v15Sign::new::<sha2::Sha384>(),
            DigestAlgorithm::Sha512 => rsa::Pkcs1v15Sign::new::<sha2::Sha512>(),
            DigestAlgorithm::Sm3 => return Err(invalid("RSA with SM3 is not supported")),
        };
        return key.verify(scheme, &hashed, signature).map_err(invalid);
    }
    if alg == oid::RSASSA_PSS {
        use rsa::pkcs8::DecodePublicKey as _;
        let key = rsa::RsaPublicKey::from_public_key_der(&key_der).map_err(invalid)?;
        // RSASSA-PSS-params (RFC 4055): hash DEFAULT SHA-1, salt length DEFAULT 20.
        let params = algorithm
            .parameters
            .as_ref()
            .map(|p| p.decode_as::<PssParams>())
            .transpose()
            .map_err(|e| invalid(format!("bad RSASSA-PSS parameters: {e}")))?;
        let pss_digest = match params.as_ref().and_then(|p| p.hash_algorithm.as_ref()) {
            Some(hash) => {
                DigestAlgorithm::from_oid(hash.oid).ok_or_else(|| invalid("unsupported PSS hash"))?
            }
            None => DigestAlgorithm::Sha1,
        };
        let salt = params.as_ref().and_then(|p| p.salt_length).unwrap_or(20) as usize;
        let hashed = pss_digest.digest(&[message]);
        let result = match pss_digest {
            DigestAlgorithm::Sha256 => {
                key.verify(rsa::Pss::<sha2::Sha256>::new_with_salt(salt), &hashed, signature)
            }
            DigestAlgorithm::Sha384 => {
                key.verify(rsa::Pss::<sha2::Sha384>::new_with_salt(salt), &hashed, signature)
            }
            DigestAlgorithm::Sha512 => {
                key.verify(rsa::Pss::<sha2::Sha512>::new_with_salt(salt), &hashed, signature)
            }
            DigestAlgorithm::Sha1 => {
                key.verify(rsa::Pss::<sha1::Sha1>::new_with_salt(salt), &hashed, signature)
            }
            DigestAlgorithm::Sm3 => return Err(invalid("RSA-PSS with SM3 is not supported")),
        };
        let _ = digest;
        return result.map_err(invalid);
    }
    let spki_curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
    let sm2_key = spki_curve == Some(oid::SM2_CURVE) || spki.algorithm.oid == oid::SM2_CURVE;
    if alg == oid::SM2_WITH_SM3 || alg == oid::SM2_1 || (sm2_key && alg == oid::ID_EC_PUBLIC_KEY) {
        use sm2::dsa::signature::Verifier as _;
        let key = sm2::dsa::VerifyingKey::from_sec1_bytes(
            crate::keys::SM2_DEFAULT_ID,
            spki.subject_public_key.raw_bytes(),
        )
        .map_err(invalid)?;
        let sig = sm2::dsa::Signature::from_der(signature).map_err(invalid)?;
        return key.verify(message, &sig).map_err(invalid);
    }
    let ec_digest = match alg {
        a if a == oid::ECDSA_WITH_SHA256 => Some(DigestAlgorithm::Sha256),
        a if a == oid::ECDSA_WITH_SHA384 => Some(DigestAlgorithm::Sha384),
        a if a == oid::ECDSA_WITH_SHA512 => Some(DigestAlgorithm::Sha512),
        a if a == oid::ID_EC_PUBLIC_KEY => Some(digest),
        _ => None,
    };
    if let Some(ec_digest) = ec_digest {
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
        let hashed = ec_digest.digest(&[message]);
        return match curve {
            Some(c) if c == oid::SECP256R1 => {
                use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
                use p256::pkcs8::DecodePublicKey as _;
                let key = p256::ecdsa::VerifyingKey::from_public_key_der(&key_der).map_err(invalid)?;
                let sig = p256::ecdsa::Signature::from_der(signature).map_err(invalid)?;
                key.verify_prehash(&hashed, &sig).map_err(invalid)
            }
            Some(c) if c == oid::SECP384R1 => {
                use p384::ecdsa::signature::hazmat::PrehashVerifier as _;
                use p384::pkcs8::DecodePublicKey as _;
                let key = p384::ecdsa::VerifyingKey::from_public_key_der(&key_der).map_err(invalid)?;
                let sig = p384::ecdsa::Signature::from_der(signature).map_err(invalid)?;
                key.verify_prehash(&hashed, &sig).map_err(invalid)
            }
            other => Err(invalid(format!(
                "unsupported elliptic curve {}",
                other.map_or_else(|| "(none)".to_owned(), |c| c.to_string())
            ))),
        };
    }
    Err(invalid(format!(
        "unsupported signature algorithm {}",
        algorithm_name(&alg)
    )))
}

/// `RSASSA-PSS-params` (RFC 4055 3.1).
#[derive(Debug, Clone, Sequence)]
struct PssParams {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    hash_algorithm: Option<AlgorithmIdentifierOwned>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    mask_gen_algorithm: Option<AlgorithmIdentifierOwned>,
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", optional = "true")]
    salt_length: Option<u32>,
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT", optional = "true")]
    trailer_field: Option<u32>,
}

/// Whether `cert` was signed by `issuer`'s key.
pub fn verify_certificate_signature(cert: &Certificate, issuer: &Certificate) -> Result<(), PkiError> {
    let tbs = cert.tbs_certificate().to_der()?;
    let signature = cert
        .signature()
        .as_bytes()
        .ok_or_else(|| invalid("certificate signature is not a whole number of bytes"))?;
    verify_signature(
        issuer.tbs_certificate().subject_public_key_info(),
        cert.signature_algorithm(),
        DigestAlgorithm::Sha256,
        &tbs,
        signature,
    )
}

/// `TSTInfo` (RFC 3161 2.4.2), with the fields after `genTime` read but not interpreted.
#[derive(Debug, Clone, Sequence)]
pub struct TstInfo {
    /// Version, 1.
    pub version: u8,
    /// TSA policy.
    pub policy: ObjectIdentifier,
    /// What was timestamped.
    pub message_imprint: MessageImprint,
    /// Serial number.
    pub serial_number: der::asn1::Int,
    /// The time, kept raw: RFC 3161 allows fractional seconds, which DER's GeneralizedTime
    /// type of the `der` crate refuses (see [`TstInfo::time`]).
    pub gen_time: Any,
    /// Accuracy.
    #[asn1(optional = "true")]
    pub accuracy: Option<AccuracyAny>,
    /// Ordering.
    #[asn1(optional = "true")]
    pub ordering: Option<bool>,
    /// Nonce.
    #[asn1(optional = "true")]
    pub nonce: Option<der::asn1::Int>,
    /// TSA name.
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub tsa: Option<Any>,
    /// Extensions.
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    pub extensions: Option<Vec<x509_cert::ext::Extension>>,
}

impl TstInfo {
    /// `genTime` as time since the Unix epoch (fractions dropped).
    pub fn time(&self) -> Option<std::time::Duration> {
        if der::Tagged::tag(&self.gen_time) != der::Tag::GeneralizedTime {
            return None;
        }
        let text = std::str::from_utf8(self.gen_time.value()).ok()?;
        let digits = text.get(..14)?;
        if !digits.bytes().all(|b| b.is_ascii_digit()) || !text.ends_with('Z') {
            return None;
        }
        let number = |r: std::ops::Range<usize>| digits.get(r).and_then(|t| t.parse::<u16>().ok());
        let (year, month, day) = (number(0..4)?, number(4..6)?, number(6..8)?);
        let (hour, minute, second) = (number(8..10)?, number(10..12)?, number(12..14)?);
        let time = der::DateTime::new(
            year,
            u8::try_from(month).ok()?,
            u8::try_from(day).ok()?,
            u8::try_from(hour).ok()?,
            u8::try_from(minute).ok()?,
            u8::try_from(second).ok()?,
        )
        .ok()?;
        Some(time.unix_duration())
    }
}

/// `Accuracy`, kept opaque.
#[derive(Debug, Clone, Sequence)]
pub struct AccuracyAny {
    /// seconds, millis [0], micros [1], all optional: kept as raw elements.
    #[asn1(optional = "true")]
    pub seconds: Option<der::asn1::Int>,
    /// millis.
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    pub millis: Option<der::asn1::Int>,
    /// micros.
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    pub micros: Option<der::asn1::Int>,
}

/// `MessageImprint` (RFC 3161).
#[derive(Debug, Clone, Sequence)]
pub struct MessageImprint {
    /// Hash algorithm.
    pub hash_algorithm: AlgorithmIdentifierOwned,
    /// The hash.
    pub hashed_message: OctetString,
}

/// A parsed CMS SignedData with one signer, as in PDF signatures and timestamp tokens.
#[derive(Debug, Clone)]
pub struct SignedMessage {
    /// The SignedData.
    pub signed_data: SignedData,
    /// Its (first) signer.
    pub signer_info: SignerInfo,
    /// Every certificate it carries.
    pub certificates: Vec<Certificate>,
    /// The signer's certificate, when among them.
    pub signer_certificate: Option<Certificate>,
    /// The SignerInfo's digest algorithm, when known.
    pub digest_algorithm: Option<DigestAlgorithm>,
}

/// What checking a [`SignedMessage`] against content found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedMessageCheck {
    /// The message-digest attribute equals the digest of the content.
    pub digest_matches: bool,
    /// The signature over the signed attributes verifies with the signer certificate.
    pub signature_valid: bool,
    /// What went wrong, for the report.
    pub problems: Vec<String>,
}

fn attribute_values(attrs: Option<&SetOfVec<Attribute>>, oid: ObjectIdentifier) -> Vec<&Any> {
    attrs
        .into_iter()
        .flat_map(|a| a.iter())
        .filter(|a| a.oid == oid)
        .flat_map(|a| a.values.iter())
        .collect()
}

impl SignedMessage {
    /// Parses a DER `ContentInfo(SignedData)`. Trailing bytes (PDF `/Contents` padding) are
    /// ignored.
    pub fn parse(der_bytes: &[u8]) -> Result<Self, PkiError> {
        let mut reader = der::SliceReader::new(der_bytes).map_err(invalid)?;
        let info = <ContentInfo as der::Decode>::decode(&mut reader)
            .map_err(|e| invalid(format!("not a CMS ContentInfo: {e}")))?;
        if info.content_type != oid::ID_SIGNED_DATA && info.content_type != oid::GM_SIGNED_DATA {
            return Err(invalid(format!(
                "CMS content type {} is not signed-data",
                info.content_type
            )));
        }
        let signed_data: SignedData = info
            .content
            .decode_as()
            .map_err(|e| invalid(format!("malformed SignedData: {e}")))?;
        let signer_info = match signed_data.signer_infos.0.len() {
            1 => signed_data
                .signer_infos
                .0
                .get(0)
                .cloned()
                .ok_or_else(|| invalid("no SignerInfo"))?,
            n => {
                return Err(invalid(format!(
                    "{n} SignerInfos; a PDF signature has exactly one"
                )));
            }
        };
        let certificates: Vec<Certificate> = signed_data
            .certificates
            .iter()
            .flat_map(|set| set.0.iter())
            .filter_map(|choice| match choice {
                cms::cert::CertificateChoices::Certificate(c) => Some(c.clone()),
                cms::cert::CertificateChoices::Other(_) => None,
            })
            .collect();
        let signer_certificate = certificates
            .iter()
            .find(|cert| match &signer_info.sid {
                SignerIdentifier::IssuerAndSerialNumber(ias) => {
                    cert.tbs_certificate().issuer() == &ias.issuer
                        && cert.tbs_certificate().serial_number() == &ias.serial_number
                }
                SignerIdentifier::SubjectKeyIdentifier(ski) => cert
                    .tbs_certificate()
                    .get_extension::<x509_cert::ext::pkix::SubjectKeyIdentifier>()
                    .ok()
                    .flatten()
                    .is_some_and(|(_, found)| found.0 == ski.0),
            })
            .cloned();
        let digest_algorithm = DigestAlgorithm::from_oid(signer_info.digest_alg.oid);
        Ok(SignedMessage {
            signed_data,
            signer_info,
            certificates,
            signer_certificate,
            digest_algorithm,
        })
    }

    /// The raw signature value.
    pub fn signature_value(&self) -> &[u8] {
        self.signer_info.signature.as_bytes()
    }

    /// The encapsulated content, when present (timestamp tokens carry their TSTInfo there).
    pub fn encapsulated_content(&self) -> Option<Vec<u8>> {
        let any = self.signed_data.encap_content_info.econtent.as_ref()?;
        any.decode_as::<OctetString>().ok().map(|o| o.as_bytes().to_vec())
    }

    /// Values of an unsigned attribute.
    pub fn unsigned_attribute(&self, oid: ObjectIdentifier) -> Vec<Vec<u8>> {
        attribute_values(self.signer_info.unsigned_attrs.as_ref(), oid)
            .into_iter()
            .filter_map(|v| v.to_der().ok())
            .collect()
    }

    /// Values of a signed attribute.
    pub fn signed_attribute(&self, oid: ObjectIdentifier) -> Vec<Vec<u8>> {
        attribute_values(self.signer_info.signed_attrs.as_ref(), oid)
            .into_iter()
            .filter_map(|v| v.to_der().ok())
            .collect()
    }

    /// Checks the signature against content whose digest (with [`Self::digest_algorithm`]) is
    /// `content_digest`.
    pub fn check(&self, content_digest: &[u8]) -> SignedMessageCheck {
        let mut problems = Vec::new();
        let Some(digest) = self.digest_algorithm else {
            problems.push(format!(
                "unknown digest algorithm {}",
                self.signer_info.digest_alg.oid
            ));
            return SignedMessageCheck {
                digest_matches: false,
                signature_valid: false,
                problems,
            };
        };
        let attrs = self.signer_info.signed_attrs.as_ref();
        let (digest_matches, message) = match attrs {
            Some(attrs) => {
                let digests = attribute_values(Some(attrs), oid::ID_MESSAGE_DIGEST);
                let matches = match digests.as_slice() {
                    [one] => one
                        .decode_as::<OctetString>()
                        .is_ok_and(|d| d.as_bytes() == content_digest),
                    _ => {
                        problems.push("signed attributes must hold exactly one message-digest".into());
                        false
                    }
                };
                let content_types = attribute_values(Some(attrs), oid::ID_CONTENT_TYPE);
                let expected_type = self.signed_data.encap_content_info.econtent_type;
                if !matches!(content_types.as_slice(), [t] if t.decode_as::<ObjectIdentifier>().ok() == Some(expected_type))
                {
                    problems.push("content-type attribute missing or wrong".into());
                }
                if !matches {
                    problems.push("the signed digest does not match the signed bytes".into());
                }
                (matches, attrs.to_der().ok())
            }
            None => {
                problems.push("no signed attributes".into());
                (false, None)
            }
        };
        let signature_valid = match (&self.signer_certificate, message) {
            (Some(cert), Some(message)) => {
                match verify_signature(
                    cert.tbs_certificate().subject_public_key_info(),
                    &self.signer_info.signature_algorithm,
                    digest,
                    &message,
                    self.signature_value(),
                ) {
                    Ok(()) => true,
                    Err(err) => {
                        problems.push(format!("signature does not verify: {err}"));
                        false
                    }
                }
            }
            (None, _) => {
                problems.push("the signer's certificate is not in the signature".into());
                false
            }
            (_, None) => false,
        };
        SignedMessageCheck {
            digest_matches,
            signature_valid,
            problems,
        }
    }
}

/// A verified RFC 3161 timestamp token.
#[derive(Debug, Clone)]
pub struct TimestampCheck {
    /// The token.
    pub token: SignedMessage,
    /// Its TSTInfo.
    pub info: Option<TstInfo>,
    /// The token's own signature and digest are valid and its imprint matches.
    pub valid: bool,
    /// What went wrong.
    pub problems: Vec<String>,
}

/// Checks a timestamp token over `data` (the signature value for a signature timestamp, the
/// signed byte ranges for a document timestamp, given as parts).
pub fn check_timestamp(token_der: &[u8], data: &[&[u8]]) -> Result<TimestampCheck, PkiError> {
    let token = SignedMessage::parse(token_der)?;
    let mut problems = Vec::new();
    if token.signed_data.encap_content_info.econtent_type != oid::ID_CT_TST_INFO {
        problems.push("timestamp token does not hold a TSTInfo".into());
    }
    let content = token.encapsulated_content().unwrap_or_default();
    let info = TstInfo::from_der(&content).ok();
    let content_digest = token.digest_algorithm.map(|d| d.digest(&[&content]));
    let own = token.check(content_digest.as_deref().unwrap_or_default());
    problems.extend(own.problems.iter().cloned());
    let imprint_ok = match &info {
        Some(info) => match DigestAlgorithm::from_oid(info.message_imprint.hash_algorithm.oid) {
            Some(alg) => alg.digest(data) == info.message_imprint.hashed_message.as_bytes(),
            None => {
                problems.push("timestamp imprint uses an unknown hash".into());
                false
            }
        },
        None => {
            problems.push("cannot read the TSTInfo".into());
            false
        }
    };
    if info.is_some() && !imprint_ok {
        problems.push("the timestamp is over other data".into());
    }
    Ok(TimestampCheck {
        valid: own.digest_matches && own.signature_valid && imprint_ok,
        token,
        info,
        problems,
    })
}
