//! Remote custody: the signature value is produced outside this process (a local helper that
//! talks to a USB key, or the phone half of two-party SM2 signing). Signing becomes three
//! steps: [`crate::cms::prepare`] gives the bytes to sign (and their digest), the remote party
//! signs, [`crate::cms::PreparedCms::assemble`] builds the CMS. This module holds the
//! public facts the preparation needs, without any key.

use crate::error::PkiError;
use crate::keys::{DigestAlgorithm, DocumentSigner};

/// A signer known only by its certificate: it can describe itself but cannot sign.
#[derive(Debug, Clone)]
pub struct RemoteSigner {
    /// Signature algorithm of the remote key.
    pub algorithm: spki::AlgorithmIdentifierOwned,
    /// Digest it uses.
    pub digest: DigestAlgorithm,
    /// Upper bound of its signature length.
    pub max_len: usize,
    /// Its public key bits (from the certificate).
    pub public_bits: Vec<u8>,
}

impl DocumentSigner for RemoteSigner {
    fn digest_algorithm(&self) -> DigestAlgorithm {
        self.digest
    }

    fn signature_algorithm(&self) -> spki::AlgorithmIdentifierOwned {
        self.algorithm.clone()
    }

    fn sign(&self, _message: &[u8]) -> Result<Vec<u8>, PkiError> {
        Err(PkiError::Sign(
            "this key signs remotely: use the prepare / sign digest / finish steps".into(),
        ))
    }

    fn max_signature_len(&self) -> usize {
        self.max_len
    }

    fn public_key_bits(&self) -> Result<Vec<u8>, PkiError> {
        Ok(self.public_bits.clone())
    }
}
