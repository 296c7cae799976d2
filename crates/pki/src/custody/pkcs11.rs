//! Token custody: the key never leaves a PKCS#11 token (an HSM, or SoftHSM2 in tests). Driven
//! through `cryptoki`; signatures are made by the token, with `CKM_ECDSA` over our SHA-256
//! digest (the raw r‖s converted to DER) or `CKM_SHA256_RSA_PKCS` over the message.

use std::path::Path;
use std::sync::Mutex;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use der::Decode as _;

use crate::error::PkiError;
use crate::keys::{DigestAlgorithm, DocumentSigner};
use crate::oid;

fn token_error(err: impl std::fmt::Display) -> PkiError {
    PkiError::Key(format!("PKCS#11: {err}"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokenKey {
    P256,
    Rsa { modulus_len: usize },
}

/// A private key on a PKCS#11 token, opened and logged in.
pub struct Pkcs11Signer {
    // Kept so the library stays initialized while the session lives.
    _context: Pkcs11,
    session: Mutex<Session>,
    key: ObjectHandle,
    kind: TokenKey,
    public_bits: Vec<u8>,
}

impl std::fmt::Debug for Pkcs11Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Signer")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl Pkcs11Signer {
    /// Loads `module`, finds the token labelled `token_label`, logs in with `pin` and finds the
    /// private key labelled `key_label` with its public half.
    pub fn open(module: &Path, token_label: &str, key_label: &str, pin: &str) -> Result<Self, PkiError> {
        let context = Pkcs11::new(module).map_err(token_error)?;
        match context.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
            Ok(())
            | Err(cryptoki::error::Error::Pkcs11(cryptoki::error::RvError::CryptokiAlreadyInitialized, _)) => {
            }
            Err(err) => return Err(token_error(err)),
        }
        let slot = context
            .get_slots_with_token()
            .map_err(token_error)?
            .into_iter()
            .find(|slot| {
                context
                    .get_token_info(*slot)
                    .is_ok_and(|info| info.label().trim_end() == token_label)
            })
            .ok_or_else(|| PkiError::Key(format!("no PKCS#11 token labelled {token_label:?}")))?;
        let session = context.open_ro_session(slot).map_err(token_error)?;
        session
            .login(UserType::User, Some(&AuthPin::new(pin.into())))
            .map_err(|_| PkiError::WrongPassword("the token (PIN)"))?;
        let find = |class: ObjectClass| -> Result<ObjectHandle, PkiError> {
            session
                .find_objects(&[
                    Attribute::Class(class),
                    Attribute::Label(key_label.as_bytes().to_vec()),
                ])
                .map_err(token_error)?
                .into_iter()
                .next()
                .ok_or_else(|| {
                    PkiError::Key(format!("no key labelled {key_label:?} on token {token_label:?}"))
                })
        };
        let key = find(ObjectClass::PRIVATE_KEY)?;
        let public = find(ObjectClass::PUBLIC_KEY)?;
        let key_type = session
            .get_attributes(key, &[AttributeType::KeyType])
            .map_err(token_error)?
            .into_iter()
            .find_map(|a| match a {
                Attribute::KeyType(t) => Some(t),
                _ => None,
            })
            .ok_or_else(|| PkiError::Key("the token key has no type".into()))?;
        let (kind, public_bits) = if key_type == KeyType::EC {
            let attributes = session
                .get_attributes(public, &[AttributeType::EcPoint, AttributeType::EcParams])
                .map_err(token_error)?;
            let mut point = None;
            let mut params = None;
            for attribute in attributes {
                match attribute {
                    Attribute::EcPoint(p) => point = Some(p),
                    Attribute::EcParams(p) => params = Some(p),
                    _ => {}
                }
            }
            let curve = params
                .and_then(|p| const_oid::ObjectIdentifier::from_der(&p).ok())
                .ok_or_else(|| PkiError::Key("the token EC key has no named curve".into()))?;
            if curve != oid::SECP256R1 {
                return Err(PkiError::UnsupportedKey(format!(
                    "token curve {curve} (only P-256)"
                )));
            }
            // CKA_EC_POINT is a DER OCTET STRING around the uncompressed point.
            let point = point.ok_or_else(|| PkiError::Key("the token EC key has no point".into()))?;
            let raw = der::asn1::OctetString::from_der(&point)
                .map(|o| o.as_bytes().to_vec())
                .unwrap_or(point);
            (TokenKey::P256, raw)
        } else if key_type == KeyType::RSA {
            let attributes = session
                .get_attributes(public, &[AttributeType::Modulus, AttributeType::PublicExponent])
                .map_err(token_error)?;
            let mut modulus = None;
            let mut exponent = None;
            for attribute in attributes {
                match attribute {
                    Attribute::Modulus(m) => modulus = Some(m),
                    Attribute::PublicExponent(e) => exponent = Some(e),
                    _ => {}
                }
            }
            let (Some(modulus), Some(exponent)) = (modulus, exponent) else {
                return Err(PkiError::Key("the token RSA key lacks its public half".into()));
            };
            let key = rsa::RsaPublicKey::new(
                rsa::BoxedUint::from_be_slice_vartime(&modulus),
                rsa::BoxedUint::from_be_slice_vartime(&exponent),
            )
            .map_err(token_error)?;
            use pkcs1::EncodeRsaPublicKey as _;
            let der = key.to_pkcs1_der().map_err(token_error)?;
            (
                TokenKey::Rsa {
                    modulus_len: modulus.len(),
                },
                der.as_bytes().to_vec(),
            )
        } else {
            return Err(PkiError::UnsupportedKey(format!("token key type {key_type}")));
        };
        Ok(Pkcs11Signer {
            _context: context,
            session: Mutex::new(session),
            key,
            kind,
            public_bits,
        })
    }
}

impl DocumentSigner for Pkcs11Signer {
    fn digest_algorithm(&self) -> DigestAlgorithm {
        DigestAlgorithm::Sha256
    }

    fn signature_algorithm(&self) -> spki::AlgorithmIdentifierOwned {
        match self.kind {
            TokenKey::P256 => spki::AlgorithmIdentifierOwned {
                oid: oid::ECDSA_WITH_SHA256,
                parameters: None,
            },
            TokenKey::Rsa { .. } => spki::AlgorithmIdentifierOwned {
                oid: oid::SHA256_WITH_RSA,
                parameters: Some(der::asn1::Null.into()),
            },
        }
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, PkiError> {
        let session = self
            .session
            .lock()
            .map_err(|_| PkiError::Sign("token session poisoned".into()))?;
        match self.kind {
            TokenKey::P256 => {
                let digest = DigestAlgorithm::Sha256.digest(&[message]);
                let raw = session
                    .sign(&Mechanism::Ecdsa, self.key, &digest)
                    .map_err(token_error)?;
                let signature = p256::ecdsa::Signature::from_slice(&raw).map_err(token_error)?;
                Ok(signature.to_der().to_bytes().to_vec())
            }
            TokenKey::Rsa { .. } => session
                .sign(&Mechanism::Sha256RsaPkcs, self.key, message)
                .map_err(token_error),
        }
    }

    fn max_signature_len(&self) -> usize {
        match self.kind {
            TokenKey::P256 => 72,
            TokenKey::Rsa { modulus_len } => modulus_len,
        }
    }

    fn public_key_bits(&self) -> Result<Vec<u8>, PkiError> {
        Ok(self.public_bits.clone())
    }
}
