//! CMS SignedData for PDF signatures (PAdES baseline B-B, RFC 5652 + ETSI EN 319 122-1).
//!
//! The `cms` crate's builder always adds a signing-time attribute and cannot take an external
//! signer that needs the whole message (SM2), so the SignedData is assembled here from the
//! crate's ASN.1 types: detached content, signed attributes content-type, message-digest and
//! signing-certificate-v2, and no signing-time (PAdES puts the time in the PDF's `/M`).

use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use der::asn1::{OctetString, SetOfVec};
use der::{Any, Decode, Encode, Sequence};
use spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;
use x509_cert::attr::Attribute;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::serial_number::SerialNumber;

use crate::certs::SignerIdentity;
use crate::error::PkiError;
use crate::keys::{DigestAlgorithm, DocumentSigner, to_der};
use crate::oid;

/// `ESSCertIDv2` (RFC 5035). `hashAlgorithm` is omitted for SHA-256, its DEFAULT.
#[derive(Debug, Clone, Sequence)]
struct EssCertIdV2 {
    #[asn1(optional = "true")]
    hash_algorithm: Option<AlgorithmIdentifierOwned>,
    cert_hash: OctetString,
    issuer_serial: IssuerSerial,
}

/// `IssuerSerial` (RFC 5035).
#[derive(Debug, Clone, Sequence)]
struct IssuerSerial {
    issuer: Vec<GeneralName>,
    serial_number: SerialNumber,
}

/// `SigningCertificateV2` (RFC 5035), without policies.
#[derive(Debug, Clone, Sequence)]
struct SigningCertificateV2 {
    certs: Vec<EssCertIdV2>,
}

fn attribute(oid: const_oid::ObjectIdentifier, value: Any) -> Result<Attribute, PkiError> {
    Ok(Attribute {
        oid,
        values: SetOfVec::try_from(vec![value])?,
    })
}

fn signing_certificate_v2(cert: &Certificate, digest: DigestAlgorithm) -> Result<Any, PkiError> {
    let cert_hash = digest.digest(&[&to_der(cert)?]);
    let tbs = cert.tbs_certificate();
    let id = EssCertIdV2 {
        // SHA-256 is the DEFAULT and must then be absent from the DER.
        hash_algorithm: (digest != DigestAlgorithm::Sha256).then(|| digest.identifier()),
        cert_hash: OctetString::new(cert_hash)?,
        issuer_serial: IssuerSerial {
            issuer: vec![GeneralName::DirectoryName(tbs.issuer().clone())],
            serial_number: tbs.serial_number().clone(),
        },
    };
    Ok(Any::encode_from(&SigningCertificateV2 { certs: vec![id] })?)
}

/// The signed attributes: content-type, message-digest and signing-certificate-v2.
fn signed_attributes(
    identity: &SignerIdentity,
    digest: DigestAlgorithm,
    content_type: const_oid::ObjectIdentifier,
    content_digest: &[u8],
) -> Result<SetOfVec<Attribute>, PkiError> {
    let attributes = vec![
        attribute(oid::ID_CONTENT_TYPE, Any::encode_from(&content_type)?)?,
        attribute(
            oid::ID_MESSAGE_DIGEST,
            Any::encode_from(&OctetString::new(content_digest.to_vec())?)?,
        )?,
        attribute(
            oid::ID_SIGNING_CERTIFICATE_V2,
            signing_certificate_v2(&identity.certificate, digest)?,
        )?,
    ];
    Ok(SetOfVec::try_from(attributes)?)
}

/// What to sign and how to package it.
#[derive(Debug, Clone)]
pub struct SignedDataRequest<'a> {
    /// eContentType: id-data for PDF signatures, id-ct-TSTInfo for timestamp tokens.
    pub content_type: const_oid::ObjectIdentifier,
    /// The encapsulated content; `None` for a detached signature.
    pub content: Option<&'a [u8]>,
    /// Digest of the content (detached or not), with the signer's digest algorithm.
    pub content_digest: &'a [u8],
    /// Put the signer's certificate and chain into the SignedData.
    pub include_certificates: bool,
    /// Write the GM/T 0010 content-type OIDs (data, signedData) instead of the PKCS#7 ones.
    pub gm_oids: bool,
}

/// Something that timestamps a signature value (RFC 3161 client or our own TSA): returns the
/// DER TimeStampToken over `signature`.
pub trait Timestamper {
    /// The token.
    fn timestamp(&self, signature: &[u8]) -> Result<Vec<u8>, PkiError>;
    /// Upper bound of a token's size, to reserve space.
    fn max_token_len(&self) -> usize {
        8192
    }
}

/// A SignedData waiting for its signature value: the three-step form used when the key is
/// elsewhere (a Ukey helper, the phone in two-party signing).
#[derive(Debug, Clone)]
pub struct PreparedCms {
    identity: SignerIdentity,
    digest: DigestAlgorithm,
    signature_algorithm: AlgorithmIdentifierOwned,
    attrs: SetOfVec<Attribute>,
    content_type: const_oid::ObjectIdentifier,
    content: Option<Vec<u8>>,
    include_certificates: bool,
    gm_oids: bool,
}

/// Step one: the signed attributes; sign [`PreparedCms::to_be_signed`] elsewhere.
pub fn prepare(
    signer: &dyn DocumentSigner,
    identity: &SignerIdentity,
    request: &SignedDataRequest<'_>,
) -> Result<PreparedCms, PkiError> {
    let digest = signer.digest_algorithm();
    let content_type = if request.gm_oids && request.content_type == oid::ID_DATA {
        oid::GM_DATA
    } else {
        request.content_type
    };
    Ok(PreparedCms {
        attrs: signed_attributes(identity, digest, content_type, request.content_digest)?,
        identity: identity.clone(),
        digest,
        signature_algorithm: signer.signature_algorithm(),
        content_type,
        content: request.content.map(<[u8]>::to_vec),
        include_certificates: request.include_certificates,
        gm_oids: request.gm_oids,
    })
}

impl PreparedCms {
    /// The bytes the signature covers: the signed attributes encoded as SET OF (RFC 5652
    /// 5.4), not with their [0] tag.
    pub fn to_be_signed(&self) -> Result<Vec<u8>, PkiError> {
        to_der(&self.attrs)
    }

    /// Their digest, for signers that take a hash (most tokens).
    pub fn to_be_signed_digest(&self) -> Result<Vec<u8>, PkiError> {
        Ok(self.digest.digest(&[&self.to_be_signed()?]))
    }

    /// Step three: the CMS with `signature`, which is checked against the certificate first
    /// so a wrong or forged value never ends up in a document.
    pub fn assemble(
        &self,
        signature: &[u8],
        timestamper: Option<&dyn Timestamper>,
    ) -> Result<Vec<u8>, PkiError> {
        crate::verify::verify_signature(
            self.identity
                .certificate
                .tbs_certificate()
                .subject_public_key_info(),
            &self.signature_algorithm,
            self.digest,
            &self.to_be_signed()?,
            signature,
        )
        .map_err(|e| PkiError::Sign(format!("the remote signature does not verify: {e}")))?;
        assemble(self, signature.to_vec(), timestamper)
    }
}

/// Builds a DER `ContentInfo(SignedData)` with one signer; with a timestamper, the signature
/// value is timestamped and the token added as unsigned attribute (PAdES B-T).
pub fn build_signed_data(
    signer: &dyn DocumentSigner,
    identity: &SignerIdentity,
    request: &SignedDataRequest<'_>,
    timestamper: Option<&dyn Timestamper>,
) -> Result<Vec<u8>, PkiError> {
    let prepared = prepare(signer, identity, request)?;
    let signature = signer.sign(&prepared.to_be_signed()?)?;
    assemble(&prepared, signature, timestamper)
}

fn assemble(
    prepared: &PreparedCms,
    signature: Vec<u8>,
    timestamper: Option<&dyn Timestamper>,
) -> Result<Vec<u8>, PkiError> {
    let identity = &prepared.identity;
    let digest = prepared.digest;
    let attrs = prepared.attrs.clone();
    let request = SignedDataRequest {
        content_type: prepared.content_type,
        content: prepared.content.as_deref(),
        content_digest: &[],
        include_certificates: prepared.include_certificates,
        gm_oids: prepared.gm_oids,
    };
    let unsigned_attrs = match timestamper {
        Some(timestamper) => {
            let token = timestamper.timestamp(&signature)?;
            Some(SetOfVec::try_from(vec![attribute(
                oid::ID_SIGNATURE_TIME_STAMP_TOKEN,
                Any::from_der(&token)?,
            )?])?)
        }
        None => None,
    };
    let tbs = identity.certificate.tbs_certificate();
    let signer_info = SignerInfo {
        version: CmsVersion::V1,
        sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: tbs.issuer().clone(),
            serial_number: tbs.serial_number().clone(),
        }),
        digest_alg: digest.identifier(),
        signed_attrs: Some(attrs),
        signature_algorithm: prepared.signature_algorithm.clone(),
        signature: OctetString::new(signature)?,
        unsigned_attrs,
    };
    let certificates = if request.include_certificates {
        let set = std::iter::once(&identity.certificate)
            .chain(identity.chain.iter())
            .map(|c| CertificateChoices::Certificate(c.clone()))
            .collect::<Vec<_>>();
        Some(CertificateSet::try_from(set)?)
    } else {
        None
    };
    let econtent = match request.content {
        Some(content) => Some(Any::encode_from(&OctetString::new(content.to_vec())?)?),
        None => None,
    };
    let signed = SignedData {
        // RFC 5652 5.1: version 3 when the content type is not id-data.
        version: if request.content_type == oid::ID_DATA || request.content_type == oid::GM_DATA {
            CmsVersion::V1
        } else {
            CmsVersion::V3
        },
        digest_algorithms: SetOfVec::try_from(vec![digest.identifier()])?,
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: request.content_type,
            econtent,
        },
        certificates,
        crls: None,
        signer_infos: SignerInfos::try_from(vec![signer_info])?,
    };
    let info = ContentInfo {
        content_type: if request.gm_oids {
            oid::GM_SIGNED_DATA
        } else {
            oid::ID_SIGNED_DATA
        },
        content: Any::encode_from(&signed)?,
    };
    Ok(info.to_der()?)
}

/// A detached PDF signature (PAdES B-B) over a document digest computed with
/// `signer.digest_algorithm()`.
pub fn signed_data(
    signer: &dyn DocumentSigner,
    identity: &SignerIdentity,
    document_digest: &[u8],
) -> Result<Vec<u8>, PkiError> {
    build_signed_data(
        signer,
        identity,
        &SignedDataRequest {
            content_type: oid::ID_DATA,
            content: None,
            content_digest: document_digest,
            include_certificates: true,
            gm_oids: false,
        },
        None,
    )
}

/// Bytes to reserve in the PDF for the CMS this signer and identity will produce.
pub fn estimated_len(signer: &dyn DocumentSigner, identity: &SignerIdentity) -> Result<usize, PkiError> {
    let certs: usize = std::iter::once(&identity.certificate)
        .chain(identity.chain.iter())
        .map(|c| {
            c.encoded_len()
                .map(|l| usize::try_from(u32::from(l)).unwrap_or(usize::MAX))
        })
        .sum::<Result<usize, _>>()?;
    // SignerInfo with its attributes and issuer name is well under 1 KiB plus the issuer DN;
    // the margin also absorbs DER length-of-length growth.
    let issuer = identity.certificate.tbs_certificate().issuer().to_der()?.len();
    Ok(certs + 2 * issuer + signer.max_signature_len() + 1024)
}
