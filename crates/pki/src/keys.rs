//! Private keys read from files, and the signer abstraction every key custody backend
//! implements (a hosted key here; PKCS#11 tokens and two-party SM2 later).

use der::{Decode, Encode, pem::PemLabel};
use pkcs8::{EncryptedPrivateKeyInfoRef, PrivateKeyInfoRef};
use sha2::{Digest, Sha256};
use spki::AlgorithmIdentifierOwned;

use crate::error::PkiError;
use crate::oid;

/// A digest algorithm used in signatures we make or read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DigestAlgorithm {
    /// SHA-1: only ever read (old signatures, OCSP key hashes), never used to sign.
    Sha1,
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
    /// SM3 (national profile).
    Sm3,
}

impl DigestAlgorithm {
    /// Its AlgorithmIdentifier (parameters absent, as RFC 5754 prefers).
    pub fn identifier(self) -> AlgorithmIdentifierOwned {
        AlgorithmIdentifierOwned {
            oid: self.oid(),
            parameters: None,
        }
    }

    /// Its object identifier.
    pub fn oid(self) -> const_oid::ObjectIdentifier {
        match self {
            DigestAlgorithm::Sha1 => oid::ID_SHA1,
            DigestAlgorithm::Sha256 => oid::ID_SHA256,
            DigestAlgorithm::Sha384 => oid::ID_SHA384,
            DigestAlgorithm::Sha512 => oid::ID_SHA512,
            DigestAlgorithm::Sm3 => oid::ID_SM3,
        }
    }

    /// The algorithm an identifier names, if we know it.
    pub fn from_oid(oid: const_oid::ObjectIdentifier) -> Option<Self> {
        [Self::Sha1, Self::Sha256, Self::Sha384, Self::Sha512, Self::Sm3]
            .into_iter()
            .find(|d| d.oid() == oid)
    }

    /// Lower-case name for reports.
    pub fn name(self) -> &'static str {
        match self {
            DigestAlgorithm::Sha1 => "sha1",
            DigestAlgorithm::Sha256 => "sha256",
            DigestAlgorithm::Sha384 => "sha384",
            DigestAlgorithm::Sha512 => "sha512",
            DigestAlgorithm::Sm3 => "sm3",
        }
    }

    /// Hashes the parts in order.
    pub fn digest(self, parts: &[&[u8]]) -> Vec<u8> {
        fn run<D: Digest>(parts: &[&[u8]]) -> Vec<u8> {
            let mut hasher = D::new();
            for part in parts {
                hasher.update(part);
            }
            hasher.finalize().to_vec()
        }
        match self {
            DigestAlgorithm::Sha1 => run::<sha1::Sha1>(parts),
            DigestAlgorithm::Sha256 => run::<Sha256>(parts),
            DigestAlgorithm::Sha384 => run::<sha2::Sha384>(parts),
            DigestAlgorithm::Sha512 => run::<sha2::Sha512>(parts),
            DigestAlgorithm::Sm3 => run::<sm3::Sm3>(parts),
        }
    }
}

/// Something that can produce a CMS signature value: the key stays wherever its custody keeps it.
///
/// `sign` receives the whole message (the DER of the signed attributes), not a digest: SM2
/// hashes a prefix derived from the public key and the signer ID together with the message, so
/// a digest-only interface would not fit it.
pub trait DocumentSigner: std::fmt::Debug + Send + Sync {
    /// The digest used for the document and the signed attributes.
    fn digest_algorithm(&self) -> DigestAlgorithm;
    /// The `signatureAlgorithm` of the SignerInfo.
    fn signature_algorithm(&self) -> AlgorithmIdentifierOwned;
    /// Signs `message`; returns the encoded signature value.
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, PkiError>;
    /// Upper bound of the signature value's length, to reserve space before signing.
    fn max_signature_len(&self) -> usize;
    /// The subjectPublicKey bits, to check the key against a certificate.
    fn public_key_bits(&self) -> Result<Vec<u8>, PkiError>;
}

/// A private key held in memory (read from a PEM/DER file or a PKCS#12 bundle).
#[derive(Debug, Clone)]
pub enum PrivateKey {
    /// RSA, 2048 to 4096 bits, signing with PKCS#1 v1.5 and SHA-256.
    Rsa(Box<rsa::RsaPrivateKey>),
    /// ECDSA on P-256 with SHA-256.
    P256(p256::ecdsa::SigningKey),
    /// SM2 with SM3 and the default user ID `1234567812345678` (GM/T 0009).
    Sm2(Box<sm2::dsa::SigningKey>),
}

/// The SM2 user ID every Chinese verifier assumes (GM/T 0009); OpenSSL 3.0 defaults to an
/// empty one, so cross-checks must pass `distid:1234567812345678`.
pub const SM2_DEFAULT_ID: &str = "1234567812345678";

fn key_error(err: impl std::fmt::Display) -> PkiError {
    PkiError::Key(err.to_string())
}

impl PrivateKey {
    /// Reads a PEM file: PKCS#8 (`PRIVATE KEY`), encrypted PKCS#8 (`ENCRYPTED PRIVATE KEY`,
    /// needs `password`), SEC1 (`EC PRIVATE KEY`) or PKCS#1 (`RSA PRIVATE KEY`). DER PKCS#8 is
    /// accepted too.
    pub fn from_pem(input: &[u8], password: Option<&[u8]>) -> Result<Self, PkiError> {
        let text = std::str::from_utf8(input).ok();
        let Some(text) = text.filter(|t| t.contains("-----BEGIN")) else {
            return Self::from_pkcs8_der(input);
        };
        let (label, der) = der::pem::decode_vec(text.trim().as_bytes()).map_err(key_error)?;
        match label {
            l if l == PrivateKeyInfoRef::PEM_LABEL => Self::from_pkcs8_der(&der),
            l if l == EncryptedPrivateKeyInfoRef::PEM_LABEL => {
                let password = password.ok_or(PkiError::KeyNeedsPassword)?;
                let encrypted = EncryptedPrivateKeyInfoRef::from_der(&der).map_err(key_error)?;
                let plain = encrypted
                    .decrypt(password)
                    .map_err(|_| PkiError::WrongPassword("the private key"))?;
                Self::from_pkcs8_der(plain.as_bytes())
            }
            "EC PRIVATE KEY" => {
                let key = sec1::EcPrivateKey::from_der(&der).map_err(key_error)?;
                match key.parameters.as_ref().and_then(|p| p.named_curve()) {
                    Some(curve) if curve == oid::SECP256R1 => {}
                    Some(curve) if curve == oid::SM2_CURVE => {
                        let secret = sm2::SecretKey::from_slice(key.private_key).map_err(key_error)?;
                        return Self::sm2_from_secret(&secret);
                    }
                    None => {}
                    Some(curve) => return Err(unsupported_curve(curve)),
                }
                let secret = p256::SecretKey::from_slice(key.private_key).map_err(key_error)?;
                Ok(PrivateKey::P256(secret.into()))
            }
            "RSA PRIVATE KEY" => {
                use pkcs1::DecodeRsaPrivateKey as _;
                let key = rsa::RsaPrivateKey::from_pkcs1_der(&der).map_err(key_error)?;
                Self::rsa(key)
            }
            other => Err(PkiError::Key(format!(
                "PEM block \"{other}\" is not a private key"
            ))),
        }
    }

    /// Reads an unencrypted PKCS#8 `PrivateKeyInfo`.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, PkiError> {
        let info = PrivateKeyInfoRef::from_der(der).map_err(key_error)?;
        let algorithm = info.algorithm.oid;
        if algorithm == oid::RSA_ENCRYPTION {
            use pkcs8::DecodePrivateKey as _;
            let key = rsa::RsaPrivateKey::from_pkcs8_der(der).map_err(key_error)?;
            Self::rsa(key)
        } else if algorithm == oid::ID_EC_PUBLIC_KEY {
            let curve = info
                .algorithm
                .parameters
                .and_then(|p| p.decode_as::<const_oid::ObjectIdentifier>().ok());
            match curve {
                Some(curve) if curve == oid::SECP256R1 => {
                    use pkcs8::DecodePrivateKey as _;
                    let key = p256::SecretKey::from_pkcs8_der(der).map_err(key_error)?;
                    Ok(PrivateKey::P256(key.into()))
                }
                Some(curve) if curve == oid::SM2_CURVE => {
                    use pkcs8::DecodePrivateKey as _;
                    let key = sm2::SecretKey::from_pkcs8_der(der).map_err(key_error)?;
                    Self::sm2_from_secret(&key)
                }
                Some(curve) => Err(unsupported_curve(curve)),
                None => Err(PkiError::UnsupportedKey("EC key without a named curve".into())),
            }
        } else {
            Err(PkiError::UnsupportedKey(format!("key algorithm {algorithm}")))
        }
    }

    fn rsa(key: rsa::RsaPrivateKey) -> Result<Self, PkiError> {
        use rsa::traits::PublicKeyParts as _;
        let bits = key.size() * 8;
        if !(2048..=4096).contains(&bits) {
            return Err(PkiError::RsaKeySize(bits));
        }
        Ok(PrivateKey::Rsa(Box::new(key)))
    }
}

/// Key types we generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAlgorithm {
    /// ECDSA P-256.
    P256,
    /// RSA 3072.
    Rsa3072,
    /// SM2 (national profile).
    Sm2,
}

impl PrivateKey {
    /// A fresh key from the operating system's random source.
    pub fn generate(algorithm: KeyAlgorithm) -> Result<Self, PkiError> {
        let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
        match algorithm {
            KeyAlgorithm::P256 => {
                use p256::elliptic_curve::Generate as _;
                let key = p256::ecdsa::SigningKey::try_generate_from_rng(&mut getrandom::SysRng)
                    .map_err(key_error)?;
                Ok(PrivateKey::P256(key))
            }
            KeyAlgorithm::Rsa3072 => {
                let key = rsa::RsaPrivateKey::new(&mut rng, 3072).map_err(key_error)?;
                Ok(PrivateKey::Rsa(Box::new(key)))
            }
            KeyAlgorithm::Sm2 => {
                use sm2::elliptic_curve::Generate as _;
                let secret =
                    sm2::SecretKey::try_generate_from_rng(&mut getrandom::SysRng).map_err(key_error)?;
                Self::sm2_from_secret(&secret)
            }
        }
    }

    /// Unencrypted PKCS#8 DER (callers zeroize it; see `custody::hosted`).
    pub fn to_pkcs8_der(&self) -> Result<Vec<u8>, PkiError> {
        use pkcs8::EncodePrivateKey as _;
        let document = match self {
            PrivateKey::Rsa(key) => key.to_pkcs8_der(),
            PrivateKey::P256(key) => key.to_pkcs8_der(),
            PrivateKey::Sm2(key) => sm2::SecretKey::from(key.as_nonzero_scalar()).to_pkcs8_der(),
        }
        .map_err(key_error)?;
        Ok(document.as_bytes().to_vec())
    }

    /// PKCS#8 PEM; encrypted (PBES2: PBKDF2-SHA256 + AES-256-CBC) when `password` is given.
    pub fn to_pkcs8_pem(&self, password: Option<&[u8]>) -> Result<String, PkiError> {
        let document = pkcs8::SecretDocument::try_from(self.to_pkcs8_der()?.as_slice()).map_err(key_error)?;
        let line_ending = pkcs8::LineEnding::LF;
        match password {
            None => document
                .to_pem(PrivateKeyInfoRef::PEM_LABEL, line_ending)
                .map(|pem| pem.to_string())
                .map_err(key_error),
            Some(password) => {
                let info = PrivateKeyInfoRef::from_der(document.as_bytes()).map_err(key_error)?;
                // Default PBES2 parameters: scrypt-free PBKDF2-SHA256 + AES-256-CBC, which OpenSSL
                // and every PKCS#8 reader understand.
                let encrypted = info
                    .encrypt_with_rng(&mut getrandom::SysRng, password)
                    .map_err(key_error)?;
                encrypted
                    .to_pem(EncryptedPrivateKeyInfoRef::PEM_LABEL, line_ending)
                    .map(|pem| pem.to_string())
                    .map_err(key_error)
            }
        }
    }

    /// The public key as SubjectPublicKeyInfo.
    pub fn public_key_info(&self) -> Result<spki::SubjectPublicKeyInfoOwned, PkiError> {
        use spki::EncodePublicKey as _;
        let der = match self {
            PrivateKey::Rsa(key) => key.to_public_key().to_public_key_der(),
            PrivateKey::P256(key) => key.verifying_key().to_public_key_der(),
            PrivateKey::Sm2(key) => key.verifying_key().to_public_key_der(),
        }
        .map_err(key_error)?;
        spki::SubjectPublicKeyInfoOwned::from_der(der.as_bytes()).map_err(key_error)
    }
}

impl PrivateKey {
    fn sm2_from_secret(secret: &sm2::SecretKey) -> Result<Self, PkiError> {
        let key = sm2::dsa::SigningKey::new(SM2_DEFAULT_ID, secret).map_err(key_error)?;
        Ok(PrivateKey::Sm2(Box::new(key)))
    }
}

fn unsupported_curve(curve: const_oid::ObjectIdentifier) -> PkiError {
    PkiError::UnsupportedKey(format!("elliptic curve {curve} (P-256 and SM2 are supported)"))
}

impl DocumentSigner for PrivateKey {
    fn digest_algorithm(&self) -> DigestAlgorithm {
        match self {
            PrivateKey::Sm2(_) => DigestAlgorithm::Sm3,
            _ => DigestAlgorithm::Sha256,
        }
    }

    fn signature_algorithm(&self) -> AlgorithmIdentifierOwned {
        match self {
            PrivateKey::Sm2(_) => AlgorithmIdentifierOwned {
                oid: oid::SM2_WITH_SM3,
                parameters: None,
            },
            PrivateKey::Rsa(_) => AlgorithmIdentifierOwned {
                oid: oid::SHA256_WITH_RSA,
                parameters: Some(der::asn1::Null.into()),
            },
            PrivateKey::P256(_) => AlgorithmIdentifierOwned {
                oid: oid::ECDSA_WITH_SHA256,
                parameters: None,
            },
        }
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, PkiError> {
        use signature::{SignatureEncoding as _, Signer as _};
        match self {
            PrivateKey::Rsa(key) => {
                let signing_key = rsa::pkcs1v15::SigningKey::<Sha256>::new(key.as_ref().clone());
                let signature = signing_key
                    .try_sign(message)
                    .map_err(|e| PkiError::Sign(e.to_string()))?;
                Ok(signature.to_vec())
            }
            PrivateKey::P256(key) => {
                let signature: p256::ecdsa::Signature =
                    key.try_sign(message).map_err(|e| PkiError::Sign(e.to_string()))?;
                Ok(signature.to_der().to_bytes().to_vec())
            }
            // X.509 and CMS carry SM2 signatures as DER SEQUENCE { r, s }, not raw r||s.
            PrivateKey::Sm2(key) => {
                let signature: sm2::dsa::Signature =
                    key.try_sign(message).map_err(|e| PkiError::Sign(e.to_string()))?;
                Ok(signature.to_der().to_bytes().to_vec())
            }
        }
    }

    fn max_signature_len(&self) -> usize {
        match self {
            PrivateKey::Rsa(key) => {
                use rsa::traits::PublicKeyParts as _;
                key.size()
            }
            // DER SEQUENCE of two INTEGERs of at most 33 bytes each.
            PrivateKey::P256(_) | PrivateKey::Sm2(_) => 72,
        }
    }

    fn public_key_bits(&self) -> Result<Vec<u8>, PkiError> {
        use spki::EncodePublicKey as _;
        let spki_der = match self {
            PrivateKey::Rsa(key) => key.to_public_key().to_public_key_der(),
            PrivateKey::P256(key) => key.verifying_key().to_public_key_der(),
            PrivateKey::Sm2(key) => key.verifying_key().to_public_key_der(),
        }
        .map_err(key_error)?;
        let info = spki::SubjectPublicKeyInfoRef::from_der(spki_der.as_bytes()).map_err(key_error)?;
        Ok(info.subject_public_key.raw_bytes().to_vec())
    }
}

/// Encodes a value to DER, mapping the error.
pub(crate) fn to_der<T: Encode>(value: &T) -> Result<Vec<u8>, PkiError> {
    Ok(value.to_der()?)
}
