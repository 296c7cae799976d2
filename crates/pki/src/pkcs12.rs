//! Reading PKCS#12 (`.p12` / `.pfx`) bundles: the signer's key and certificates (RFC 7292).
//!
//! Written here because the RustCrypto `pkcs12` crate is a pre-release tied to another `cms`
//! pre-release than ours, and `p12-keystore` depends on it. We read what OpenSSL 3, Windows and
//! Java write by default: PBES2 (PBKDF2 + AES) for shrouded keys and encrypted certificate bags,
//! and the password MAC (HMAC-SHA-256 or HMAC-SHA-1 with the PKCS#12 key derivation). Legacy
//! PKCS#12 PBE ciphers (3DES, RC2) are refused with a hint instead.

use der::asn1::{ObjectIdentifier, OctetString};
use der::{Any, Decode, Encode, Sequence};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Digest;
use spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;

use crate::error::PkiError;
use crate::keys::PrivateKey;

const ID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
const ID_ENCRYPTED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.6");
const KEY_BAG: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.12.10.1.1");
const SHROUDED_KEY_BAG: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.12.10.1.2");
const CERT_BAG: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.12.10.1.3");
const X509_CERTIFICATE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.22.1");
const ID_SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
const ID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const PKCS12_PBE_PREFIX: &str = "1.2.840.113549.1.12.1.";

/// `PFX` (RFC 7292 4).
#[derive(Debug, Sequence)]
struct Pfx {
    version: u8,
    auth_safe: ContentInfo,
    #[asn1(optional = "true")]
    mac_data: Option<MacData>,
}

#[derive(Debug, Sequence)]
struct ContentInfo {
    content_type: ObjectIdentifier,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    content: Option<Any>,
}

/// `MacData` (RFC 7292 4).
#[derive(Debug, Sequence)]
struct MacData {
    mac: DigestInfo,
    mac_salt: OctetString,
    #[asn1(default = "default_iterations")]
    iterations: u32,
}

fn default_iterations() -> u32 {
    1
}

#[derive(Debug, Sequence)]
struct DigestInfo {
    algorithm: AlgorithmIdentifierOwned,
    digest: OctetString,
}

/// `EncryptedData` (RFC 5652 8).
#[derive(Debug, Sequence)]
struct EncryptedData {
    version: u8,
    encrypted_content_info: EncryptedContentInfo,
}

#[derive(Debug, Sequence)]
struct EncryptedContentInfo {
    content_type: ObjectIdentifier,
    content_encryption_algorithm: AlgorithmIdentifierOwned,
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    encrypted_content: Option<OctetString>,
}

/// `SafeBag` (RFC 7292 4.2); attributes are read and ignored.
#[derive(Debug, Sequence)]
struct SafeBag {
    bag_id: ObjectIdentifier,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    bag_value: Any,
    #[asn1(optional = "true")]
    bag_attributes: Option<Any>,
}

#[derive(Debug, Sequence)]
struct CertBag {
    cert_id: ObjectIdentifier,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    cert_value: OctetString,
}

fn error(what: impl std::fmt::Display) -> PkiError {
    PkiError::Pkcs12(what.to_string())
}

/// The PKCS#12 key derivation (RFC 7292 B.2) for hash `D` with block size `v`.
fn pkcs12_kdf<D: Digest>(
    password_bmp: &[u8],
    salt: &[u8],
    id: u8,
    iterations: u32,
    v: usize,
    n: usize,
) -> Vec<u8> {
    let fill = |data: &[u8]| -> Vec<u8> {
        if data.is_empty() {
            return Vec::new();
        }
        let len = v * data.len().div_ceil(v);
        data.iter().copied().cycle().take(len).collect()
    };
    let mut i_block = fill(salt);
    i_block.extend(fill(password_bmp));
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let mut hasher = D::new();
        hasher.update(vec![id; v]);
        hasher.update(&i_block);
        let mut a = hasher.finalize().to_vec();
        for _ in 1..iterations {
            a = D::digest(&a).to_vec();
        }
        out.extend_from_slice(&a);
        if out.len() >= n {
            break;
        }
        let b: Vec<u8> = a.iter().copied().cycle().take(v).collect();
        for chunk in i_block.chunks_mut(v) {
            // chunk = (chunk + b + 1) mod 2^(8v), big-endian.
            let mut carry = 1u16;
            for k in (0..chunk.len()).rev() {
                let sum = u16::from(chunk[k]) + u16::from(b[k]) + carry;
                chunk[k] = (sum & 0xFF) as u8;
                carry = sum >> 8;
            }
        }
    }
    out.truncate(n);
    out
}

/// The password as a BMPString with its terminating zero, as the PKCS#12 KDF takes it.
fn bmp_password(password: &[u8]) -> Result<Vec<u8>, PkiError> {
    let text = std::str::from_utf8(password).map_err(|_| error("the password is not valid UTF-8"))?;
    let mut out: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
    out.extend_from_slice(&[0, 0]);
    Ok(out)
}

fn verify_mac(mac: &MacData, auth_safe: &[u8], password: &[u8]) -> Result<(), PkiError> {
    let bmp = bmp_password(password)?;
    let salt = mac.mac_salt.as_bytes();
    let expected = mac.mac.digest.as_bytes();
    if mac.iterations > 10_000_000 {
        return Err(error("absurd MAC iteration count"));
    }
    let ok = match mac.mac.algorithm.oid {
        oid if oid == ID_SHA256 => {
            let key = pkcs12_kdf::<sha2::Sha256>(&bmp, salt, 3, mac.iterations, 64, 32);
            let mut hmac = Hmac::<sha2::Sha256>::new_from_slice(&key).map_err(error)?;
            hmac.update(auth_safe);
            hmac.verify_slice(expected).is_ok()
        }
        oid if oid == ID_SHA1 => {
            let key = pkcs12_kdf::<sha1::Sha1>(&bmp, salt, 3, mac.iterations, 64, 20);
            let mut hmac = Hmac::<sha1::Sha1>::new_from_slice(&key).map_err(error)?;
            hmac.update(auth_safe);
            hmac.verify_slice(expected).is_ok()
        }
        other => return Err(error(format!("unsupported MAC digest {other}"))),
    };
    if ok {
        Ok(())
    } else {
        Err(PkiError::WrongPassword("the PKCS#12 file"))
    }
}

fn decrypt(algorithm: &AlgorithmIdentifierOwned, data: &[u8], password: &[u8]) -> Result<Vec<u8>, PkiError> {
    if algorithm.oid.to_string().starts_with(PKCS12_PBE_PREFIX) {
        return Err(error(
            "it uses legacy PKCS#12 encryption (3DES/RC2); re-export it with PBES2, e.g. \
             `openssl pkcs12 -export` of OpenSSL 3 or `-keypbe AES-256-CBC -certpbe AES-256-CBC`",
        ));
    }
    let der = algorithm.to_der()?;
    let scheme = pkcs5::EncryptionScheme::try_from(der.as_slice()).map_err(error)?;
    scheme
        .decrypt(password, data)
        .map_err(|_| PkiError::WrongPassword("the PKCS#12 file"))
}

/// Reads the private key and the certificates of a PKCS#12 file. The certificate matching the
/// key comes first, the others follow as the chain.
pub fn load_pkcs12(data: &[u8], password: &[u8]) -> Result<(PrivateKey, Vec<Certificate>), PkiError> {
    let pfx = Pfx::from_der(data).map_err(error)?;
    if pfx.version != 3 {
        return Err(error(format!("version {} (expected 3)", pfx.version)));
    }
    if pfx.auth_safe.content_type != ID_DATA {
        return Err(error("public-key integrity mode is not supported"));
    }
    let auth_safe = pfx
        .auth_safe
        .content
        .ok_or_else(|| error("empty authSafe"))?
        .decode_as::<OctetString>()
        .map_err(error)?;
    match &pfx.mac_data {
        Some(mac) => verify_mac(mac, auth_safe.as_bytes(), password)?,
        None => return Err(error("no integrity MAC; refusing an unauthenticated file")),
    }
    let contents = Vec::<ContentInfo>::from_der(auth_safe.as_bytes()).map_err(error)?;
    let mut keys = Vec::new();
    let mut certs = Vec::new();
    for content in contents {
        let bytes = match content.content_type {
            oid if oid == ID_DATA => content
                .content
                .ok_or_else(|| error("empty content"))?
                .decode_as::<OctetString>()
                .map_err(error)?
                .into_bytes()
                .to_vec(),
            oid if oid == ID_ENCRYPTED_DATA => {
                let encrypted = content
                    .content
                    .ok_or_else(|| error("empty content"))?
                    .decode_as::<EncryptedData>()
                    .map_err(error)?
                    .encrypted_content_info;
                let ciphertext = encrypted
                    .encrypted_content
                    .ok_or_else(|| error("encrypted content missing"))?;
                decrypt(
                    &encrypted.content_encryption_algorithm,
                    ciphertext.as_bytes(),
                    password,
                )?
            }
            other => return Err(error(format!("unsupported content type {other}"))),
        };
        for bag in Vec::<SafeBag>::from_der(&bytes).map_err(error)? {
            let value = bag.bag_value.to_der()?;
            match bag.bag_id {
                id if id == KEY_BAG => keys.push(PrivateKey::from_pkcs8_der(&value)?),
                id if id == SHROUDED_KEY_BAG => {
                    let info = pkcs8::EncryptedPrivateKeyInfoRef::from_der(&value).map_err(error)?;
                    let algorithm = AlgorithmIdentifierOwned::from_der(&info.encryption_algorithm.to_der()?)?;
                    let plain = decrypt(&algorithm, info.encrypted_data.as_bytes(), password)?;
                    keys.push(PrivateKey::from_pkcs8_der(&plain)?);
                }
                id if id == CERT_BAG => {
                    let bag = CertBag::from_der(&value).map_err(error)?;
                    if bag.cert_id == X509_CERTIFICATE {
                        certs.push(Certificate::from_der(bag.cert_value.as_bytes()).map_err(error)?);
                    }
                }
                _ => {}
            }
        }
    }
    let key = match keys.len() {
        1 => keys.remove(0),
        0 => return Err(error("no private key in the file")),
        n => return Err(error(format!("{n} private keys in the file; expected one"))),
    };
    let bits = crate::keys::DocumentSigner::public_key_bits(&key)?;
    let position = certs
        .iter()
        .position(|c| {
            c.tbs_certificate()
                .subject_public_key_info()
                .subject_public_key
                .raw_bytes()
                == bits
        })
        .ok_or_else(|| error("no certificate matches the private key"))?;
    let signer = certs.remove(position);
    certs.insert(0, signer);
    Ok((key, certs))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7292 B.2 with SHA-1, checked against OpenSSL's PKCS12_key_gen_uni for
    /// password "smeg", salt 0A58CF64530D823F, id 1, 1 iteration (OpenSSL test vector).
    #[test]
    fn kdf_matches_openssl_vector() {
        let bmp = bmp_password(b"smeg").unwrap();
        let salt = [0x0A, 0x58, 0xCF, 0x64, 0x53, 0x0D, 0x82, 0x3F];
        let key = pkcs12_kdf::<sha1::Sha1>(&bmp, &salt, 1, 1, 64, 24);
        let expected = [
            0x8A, 0xAA, 0xE6, 0x29, 0x7B, 0x6C, 0xB0, 0x46, 0x42, 0xAB, 0x5B, 0x07, 0x78, 0x51, 0x28, 0x4E,
            0xB7, 0x12, 0x8F, 0x1A, 0x2A, 0x7F, 0xBC, 0xA3,
        ];
        assert_eq!(key, expected);
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(load_pkcs12(b"not a p12", b"x").is_err());
        assert!(load_pkcs12(&[0x30, 0x03, 0x02, 0x01, 0x03], b"x").is_err());
    }
}
