//! Hosted custody: the platform keeps the private key, encrypted at rest with AES-256-GCM under
//! a key-encryption key (KEK) from configuration. The plaintext key exists only while a
//! signature is made and is zeroized afterwards.
//!
//! Sealed format (version 1): `"QZK1" || nonce (12) || ciphertext+tag` of the PKCS#8 DER, with
//! the associated data `"qianzhang hosted key v1" || key id` so a sealed key cannot be moved
//! to another record unnoticed.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use zeroize::Zeroizing;

use crate::error::PkiError;
use crate::keys::{DigestAlgorithm, DocumentSigner, PrivateKey};

const MAGIC: &[u8; 4] = b"QZK1";
const AAD_PREFIX: &[u8] = b"qianzhang hosted key v1";

/// A key-encryption key: 32 bytes, never printed.
pub struct Kek(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Kek(…)")
    }
}

impl Kek {
    /// From 32 raw bytes.
    pub fn new(bytes: [u8; 32]) -> Self {
        Kek(Zeroizing::new(bytes))
    }

    /// From 64 hex characters (how configuration carries it).
    pub fn from_hex(text: &str) -> Result<Self, PkiError> {
        let text = text.trim();
        if text.len() != 64 {
            return Err(PkiError::Key(
                "the key-encryption key must be 64 hex characters (32 bytes)".into(),
            ));
        }
        let mut out = Zeroizing::new([0u8; 32]);
        for (i, chunk) in text.as_bytes().chunks(2).enumerate() {
            let pair = std::str::from_utf8(chunk).map_err(|_| PkiError::Key("KEK is not hex".into()))?;
            out[i] = u8::from_str_radix(pair, 16).map_err(|_| PkiError::Key("KEK is not hex".into()))?;
        }
        Ok(Kek(out))
    }

    fn cipher(&self) -> Result<Aes256Gcm, PkiError> {
        Aes256Gcm::new_from_slice(self.0.as_ref()).map_err(|e| PkiError::Key(e.to_string()))
    }
}

fn aad(key_id: &str) -> Vec<u8> {
    [AAD_PREFIX, key_id.as_bytes()].concat()
}

/// Encrypts `key` for storage under `kek`, bound to `key_id`.
pub fn seal(key: &PrivateKey, kek: &Kek, key_id: &str) -> Result<Vec<u8>, PkiError> {
    let pkcs8 = Zeroizing::new(key.to_pkcs8_der()?);
    let mut nonce = [0u8; 12];
    getrandom::fill(&mut nonce).map_err(|e| PkiError::Key(e.to_string()))?;
    let ciphertext = kek
        .cipher()?
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: pkcs8.as_slice(),
                aad: &aad(key_id),
            },
        )
        .map_err(|_| PkiError::Key("encryption failed".into()))?;
    Ok([MAGIC.as_slice(), &nonce, &ciphertext].concat())
}

/// Decrypts a sealed key; fails on a wrong KEK, a wrong key id or any tampering.
pub fn open(sealed: &[u8], kek: &Kek, key_id: &str) -> Result<PrivateKey, PkiError> {
    let rest = sealed
        .strip_prefix(MAGIC.as_slice())
        .filter(|rest| rest.len() > 12 + 16)
        .ok_or_else(|| PkiError::Key("not a sealed hosted key".into()))?;
    let (nonce, ciphertext) = rest.split_at(12);
    let nonce: [u8; 12] = nonce.try_into().map_err(|_| PkiError::Key("bad nonce".into()))?;
    let plain = Zeroizing::new(
        kek.cipher()?
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &aad(key_id),
                },
            )
            .map_err(|_| {
                PkiError::WrongPassword("the hosted key (wrong key-encryption key or tampered record)")
            })?,
    );
    PrivateKey::from_pkcs8_der(&plain)
}

/// A signer that opens the sealed key for each signature and drops it right after.
#[derive(Debug)]
pub struct HostedSigner {
    sealed: Vec<u8>,
    kek: Kek,
    key_id: String,
    /// Cached public facts, so the key is decrypted only to sign.
    algorithm: spki::AlgorithmIdentifierOwned,
    digest: DigestAlgorithm,
    max_len: usize,
    public_bits: Vec<u8>,
}

impl HostedSigner {
    /// Checks the record opens and remembers the public facts.
    pub fn new(sealed: Vec<u8>, kek: Kek, key_id: &str) -> Result<Self, PkiError> {
        let key = open(&sealed, &kek, key_id)?;
        Ok(HostedSigner {
            algorithm: key.signature_algorithm(),
            digest: key.digest_algorithm(),
            max_len: key.max_signature_len(),
            public_bits: key.public_key_bits()?,
            sealed,
            kek,
            key_id: key_id.to_owned(),
        })
    }
}

impl DocumentSigner for HostedSigner {
    fn digest_algorithm(&self) -> DigestAlgorithm {
        self.digest
    }

    fn signature_algorithm(&self) -> spki::AlgorithmIdentifierOwned {
        self.algorithm.clone()
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, PkiError> {
        // The decrypted key lives only in this scope; PrivateKey's RustCrypto types zeroize
        // their secret scalars on drop.
        let key = open(&self.sealed, &self.kek, &self.key_id)?;
        key.sign(message)
    }

    fn max_signature_len(&self) -> usize {
        self.max_len
    }

    fn public_key_bits(&self) -> Result<Vec<u8>, PkiError> {
        Ok(self.public_bits.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KeyAlgorithm;

    #[test]
    fn seal_open_round_trip_and_tamper_detection() {
        let key = PrivateKey::generate(KeyAlgorithm::P256).unwrap();
        let kek = Kek::new([7u8; 32]);
        let sealed = seal(&key, &kek, "user-1").unwrap();
        let opened = open(&sealed, &kek, "user-1").unwrap();
        assert_eq!(opened.public_key_bits().unwrap(), key.public_key_bits().unwrap());
        assert!(open(&sealed, &Kek::new([8u8; 32]), "user-1").is_err());
        assert!(open(&sealed, &kek, "user-2").is_err());
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(open(&tampered, &kek, "user-1").is_err());
        assert!(!format!("{kek:?}").contains('7'));
    }

    #[test]
    fn hosted_signer_signs_like_the_key() {
        let key = PrivateKey::generate(KeyAlgorithm::P256).unwrap();
        let kek = Kek::from_hex(&"ab".repeat(32)).unwrap();
        let signer = HostedSigner::new(seal(&key, &kek, "k").unwrap(), kek, "k").unwrap();
        let spki = key.public_key_info().unwrap();
        let signature = signer.sign(b"message").unwrap();
        crate::verify::verify_signature(
            &spki,
            &signer.signature_algorithm(),
            DigestAlgorithm::Sha256,
            b"message",
            &signature,
        )
        .unwrap();
    }
}
