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

impl RemoteSigner {
    /// Describes the key of `certificate`: RSA (PKCS#1 v1.5 with SHA-256), ECDSA P-256 with
    /// SHA-256, or SM2 with SM3, the algorithms our own keys use.
    pub fn for_certificate(certificate: &x509_cert::Certificate) -> Result<Self, PkiError> {
        Self::for_public_key(certificate.tbs_certificate().subject_public_key_info())
    }

    /// Describes the key `spki` (from a certificate or a certificate request).
    pub fn for_public_key(spki: &spki::SubjectPublicKeyInfoOwned) -> Result<Self, PkiError> {
        let public_bits = spki.subject_public_key.raw_bytes().to_vec();
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.decode_as::<const_oid::ObjectIdentifier>().ok());
        let (oid, parameters, digest, max_len) = if spki.algorithm.oid == crate::oid::RSA_ENCRYPTION {
            use rsa::pkcs1::DecodeRsaPublicKey as _;
            use rsa::traits::PublicKeyParts as _;
            let key = rsa::RsaPublicKey::from_pkcs1_der(&public_bits)
                .map_err(|e| PkiError::Key(format!("the certificate's RSA key: {e}")))?;
            let bytes = key.size();
            (
                crate::oid::SHA256_WITH_RSA,
                Some(der::asn1::Null.into()),
                DigestAlgorithm::Sha256,
                bytes,
            )
        } else if spki.algorithm.oid == crate::oid::ID_EC_PUBLIC_KEY && curve == Some(crate::oid::SECP256R1) {
            (crate::oid::ECDSA_WITH_SHA256, None, DigestAlgorithm::Sha256, 72)
        } else if spki.algorithm.oid == crate::oid::ID_EC_PUBLIC_KEY && curve == Some(crate::oid::SM2_CURVE) {
            (crate::oid::SM2_WITH_SM3, None, DigestAlgorithm::Sm3, 72)
        } else {
            return Err(PkiError::Key(format!(
                "unsupported key algorithm {} for remote signing",
                spki.algorithm.oid
            )));
        };
        Ok(RemoteSigner {
            algorithm: spki::AlgorithmIdentifierOwned { oid, parameters },
            digest,
            max_len,
            public_bits,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{KeyAlgorithm, PrivateKey};

    #[test]
    fn a_key_described_from_its_public_half_matches_the_key() {
        for algorithm in [KeyAlgorithm::P256, KeyAlgorithm::Sm2, KeyAlgorithm::Rsa3072] {
            let key = PrivateKey::generate(algorithm).unwrap();
            let remote = RemoteSigner::for_public_key(&key.public_key_info().unwrap()).unwrap();
            assert_eq!(remote.algorithm, key.signature_algorithm(), "{algorithm:?}");
            assert_eq!(remote.digest, key.digest_algorithm(), "{algorithm:?}");
            assert_eq!(remote.max_len, key.max_signature_len(), "{algorithm:?}");
            assert_eq!(
                remote.public_bits,
                key.public_key_bits().unwrap(),
                "{algorithm:?}"
            );
            assert!(remote.sign(b"m").is_err());
        }
    }

    #[test]
    fn unknown_key_types_are_refused() {
        let mut spki = PrivateKey::generate(KeyAlgorithm::P256)
            .unwrap()
            .public_key_info()
            .unwrap();
        spki.algorithm.parameters = Some(der::Any::encode_from(&crate::oid::SECP384R1).unwrap());
        assert!(RemoteSigner::for_public_key(&spki).is_err());
    }
}
