//! One signing action: open the PDF, append the marks and a placeholder, hash, build the CMS,
//! fill it in. Shared by `qz sign`, `qz bench` and the benchmarks.

use qz_pdf::{Document, PdfError, SignatureOptions};
use qz_pki::cms::{SignedDataRequest, Timestamper};
use qz_pki::{DocumentSigner, PkiError, SignerIdentity};

/// Why a signing action failed.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// The PDF side.
    #[error(transparent)]
    Pdf(#[from] PdfError),
    /// The key, certificate or CMS side.
    #[error(transparent)]
    Pki(#[from] PkiError),
    /// The marks asked for do not fit this document.
    #[error("{0}")]
    Request(String),
}

/// Appends one signature revision to `input`; returns the bytes to append to it. `options`
/// sees the opened document, so marks can be placed from its page geometry.
pub fn sign_pdf(
    input: &[u8],
    signer: &dyn DocumentSigner,
    identity: &SignerIdentity,
    timestamper: Option<&dyn Timestamper>,
    options: impl FnOnce(&Document<'_>) -> Result<SignatureOptions, SignError>,
) -> Result<Vec<u8>, SignError> {
    let reserve = timestamper.map_or(0, |t| t.max_token_len());
    let (prepared, digest, gm_oids) = prepare_document(input, signer, identity, reserve, options)?;
    let cms = qz_pki::cms::build_signed_data(signer, identity, &data_request(&digest, gm_oids), timestamper)?;
    Ok(prepared.finish(&cms)?)
}

/// Opens `input`, reserves room for the CMS (plus `reserve` bytes, e.g. a timestamp token),
/// appends the signature revision and digests the signed byte ranges.
fn prepare_document(
    input: &[u8],
    signer: &dyn DocumentSigner,
    identity: &SignerIdentity,
    reserve: usize,
    options: impl FnOnce(&Document<'_>) -> Result<SignatureOptions, SignError>,
) -> Result<(qz_pdf::PreparedSignature, Vec<u8>, bool), SignError> {
    let document = Document::open(input)?;
    let mut options = options(&document)?;
    options.contents_capacity = qz_pki::cms::estimated_len(signer, identity)? + reserve;
    let prepared = document.prepare_signature(&options)?;
    let digest = signer.digest_algorithm().digest(&prepared.signed_parts(input));
    Ok((prepared, digest, options.gm_oids))
}

/// A detached CMS over the document digest (PDF signatures).
fn data_request(digest: &[u8], gm_oids: bool) -> SignedDataRequest<'_> {
    SignedDataRequest {
        content_type: qz_pki::oid::ID_DATA,
        content: None,
        content_digest: digest,
        include_certificates: true,
        gm_oids,
    }
}

/// Appends a document timestamp (PAdES B-LTA): an invisible `/ETSI.RFC3161` signature whose
/// value is a token over the byte ranges. `token` is asked for the SHA-256-hashed parts.
pub fn timestamp_pdf(
    input: &[u8],
    token: impl FnOnce(&[&[u8]]) -> Result<Vec<u8>, PkiError>,
    max_token_len: usize,
) -> Result<Vec<u8>, SignError> {
    let document = Document::open(input)?;
    let options = SignatureOptions {
        sub_filter: qz_pdf::SubFilter::DocumentTimestamp,
        contents_capacity: max_token_len,
        ..Default::default()
    };
    let prepared = document.prepare_signature(&options)?;
    let token = token(&prepared.signed_parts(input))?;
    Ok(prepared.finish(&token)?)
}

/// A PDF signature waiting for a signature value made elsewhere (remote custody).
#[derive(Debug)]
pub struct RemoteSignature {
    pdf: qz_pdf::PreparedSignature,
    cms: qz_pki::cms::PreparedCms,
}

impl RemoteSignature {
    /// What the remote key must sign (DER of the signed attributes).
    pub fn to_be_signed(&self) -> Result<Vec<u8>, SignError> {
        Ok(self.cms.to_be_signed()?)
    }

    /// Its digest, for signers that take a hash.
    pub fn to_be_signed_digest(&self) -> Result<Vec<u8>, SignError> {
        Ok(self.cms.to_be_signed_digest()?)
    }

    /// Step three: the bytes to append, once the signature value is back. A value that does
    /// not verify against the certificate is refused.
    pub fn finish(
        self,
        signature: &[u8],
        timestamper: Option<&dyn Timestamper>,
    ) -> Result<Vec<u8>, SignError> {
        let cms = self.cms.assemble(signature, timestamper)?;
        Ok(self.pdf.finish(&cms)?)
    }
}

/// Step one of remote signing: the revision with its placeholder and the CMS attributes.
/// `signer` describes the remote key (e.g. [`qz_pki::custody::remote::RemoteSigner`]).
pub fn prepare_remote(
    input: &[u8],
    signer: &dyn DocumentSigner,
    identity: &SignerIdentity,
    reserve_for_timestamp: usize,
    options: impl FnOnce(&Document<'_>) -> Result<SignatureOptions, SignError>,
) -> Result<RemoteSignature, SignError> {
    let (pdf, digest, gm_oids) = prepare_document(input, signer, identity, reserve_for_timestamp, options)?;
    let cms = qz_pki::cms::prepare(signer, identity, &data_request(&digest, gm_oids))?;
    Ok(RemoteSignature { pdf, cms })
}
