//! The platform key and what is derived from it: sealing ID numbers at rest (AES-256-GCM),
//! keyed digests of ID numbers (one identity per person without storing the number in clear)
//! and of one-time codes, session tokens and Argon2id password hashes.
//!
//! Sub-keys are HMAC-SHA256(platform key, purpose label), so one leaked sub-key does not
//! open the others.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use hmac::Mac;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

type HmacSha256 = hmac::Hmac<Sha256>;

/// Errors of the secrets module.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The key material is unusable.
    #[error("the platform key must be 64 hex digits (32 bytes)")]
    BadKey,
    /// A sealed value does not open (wrong key or tampered).
    #[error("a sealed value does not open with this platform key")]
    Open,
    /// The OS random generator failed.
    #[error("no randomness: {0}")]
    Random(String),
    /// Password hashing failed.
    #[error("password hashing: {0}")]
    Hash(String),
}

/// The platform key.
pub struct PlatformKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for PlatformKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PlatformKey(***)")
    }
}

impl PlatformKey {
    /// From 64 hex digits.
    pub fn from_hex(text: &str) -> Result<Self, SecretError> {
        let text = text.trim();
        if text.len() != 64 {
            return Err(SecretError::BadKey);
        }
        let mut key = Zeroizing::new([0u8; 32]);
        for (i, byte) in key.iter_mut().enumerate() {
            *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2).ok_or(SecretError::BadKey)?, 16)
                .map_err(|_| SecretError::BadKey)?;
        }
        Ok(PlatformKey(key))
    }

    /// A fresh random key, as hex (for first start).
    pub fn generate_hex() -> Result<String, SecretError> {
        Ok(hex(&random_bytes::<32>()?))
    }

    fn subkey(&self, label: &str) -> Zeroizing<[u8; 32]> {
        let mut mac = <HmacSha256 as hmac::KeyInit>::new_from_slice(self.0.as_slice())
            .unwrap_or_else(|_| unreachable_hmac());
        mac.update(label.as_bytes());
        let mut out = Zeroizing::new([0u8; 32]);
        out.copy_from_slice(&mac.finalize().into_bytes());
        out
    }

    fn mac_hex(&self, label: &str, parts: &[&str]) -> String {
        let key = self.subkey(label);
        let mut mac = <HmacSha256 as hmac::KeyInit>::new_from_slice(key.as_slice())
            .unwrap_or_else(|_| unreachable_hmac());
        for part in parts {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part.as_bytes());
        }
        hex(&mac.finalize().into_bytes())
    }

    /// Seals `plaintext`, bound to `context` (e.g. the user id) so a sealed value cannot be
    /// moved to another row.
    pub fn seal(&self, plaintext: &[u8], context: &str) -> Result<Vec<u8>, SecretError> {
        let key = self.subkey("qz seal v1");
        let cipher = Aes256Gcm::new_from_slice(key.as_slice()).map_err(|_| SecretError::BadKey)?;
        let nonce = random_bytes::<12>()?;
        let mut out = nonce.to_vec();
        out.extend(
            cipher
                .encrypt(
                    &Nonce::from(nonce),
                    Payload {
                        msg: plaintext,
                        aad: context.as_bytes(),
                    },
                )
                .map_err(|_| SecretError::Open)?,
        );
        Ok(out)
    }

    /// Opens what `seal` made with the same `context`.
    pub fn open(&self, sealed: &[u8], context: &str) -> Result<Zeroizing<Vec<u8>>, SecretError> {
        let key = self.subkey("qz seal v1");
        let cipher = Aes256Gcm::new_from_slice(key.as_slice()).map_err(|_| SecretError::BadKey)?;
        let (nonce, body) = sealed.split_at_checked(12).ok_or(SecretError::Open)?;
        let nonce: [u8; 12] = nonce.try_into().map_err(|_| SecretError::Open)?;
        cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: body,
                    aad: context.as_bytes(),
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| SecretError::Open)
    }

    /// A value that shows which key an installation uses without revealing it: every
    /// instance on one database must present the same.
    pub fn check_value(&self) -> String {
        self.mac_hex("qz key check v1", &[])
    }

    /// Keyed digest of an ID number (uniqueness without the number).
    pub fn id_digest(&self, id_number: &str) -> String {
        self.mac_hex("qz id digest v1", &[id_number])
    }

    /// A tag over web tickets (captchas, the verification page's page-image grants): only
    /// this installation can make one.
    pub fn ticket_tag(&self, kind: &str, fields: &[&str]) -> String {
        let mut parts = vec![kind];
        parts.extend_from_slice(fields);
        self.mac_hex("qz web ticket v1", &parts)
    }

    /// Keyed digest of a one-time code: six digits are too few to hash without a key.
    pub fn code_digest(&self, purpose: &str, recipient: &str, code: &str) -> String {
        self.mac_hex("qz code digest v1", &[purpose, recipient, code])
    }
}

/// HMAC accepts keys of any length; this cannot happen.
fn unreachable_hmac() -> HmacSha256 {
    unreachable!("HMAC-SHA256 takes keys of any length")
}

/// `N` random bytes from the OS.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], SecretError> {
    let mut out = [0u8; N];
    getrandom::fill(&mut out).map_err(|e| SecretError::Random(e.to_string()))?;
    Ok(out)
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Lower- or upper-case hex to bytes, for input of at most `max_bytes` bytes; `None` if it is
/// not hex or too long.
pub fn unhex(text: &str, max_bytes: usize) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || text.len() > 2 * max_bytes {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
        })
        .collect()
}

/// SHA-256 as hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// A session token (cookie value) and its database id (SHA-256 of it).
pub fn new_token() -> Result<(String, String), SecretError> {
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>()?);
    let id = sha256_hex(token.as_bytes());
    Ok((token, id))
}

/// A six-digit code, uniform (rejection sampling avoids modulo bias).
pub fn new_code() -> Result<String, SecretError> {
    loop {
        let value = u32::from_be_bytes(random_bytes::<4>()?);
        // 4_294_000_000 is the largest multiple of 1_000_000 below 2^32.
        if value < 4_294_000_000 {
            return Ok(format!("{:06}", value % 1_000_000));
        }
    }
}

/// Argon2id with a random salt, as a PHC string.
pub fn hash_password(password: &str) -> Result<String, SecretError> {
    use argon2::password_hash::PasswordHasher as _;
    argon2::Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| SecretError::Hash(e.to_string()))
}

/// Checks a password against a PHC string; a malformed hash never matches.
pub fn check_password_hash(password: &str, phc: &str) -> bool {
    use argon2::password_hash::PasswordVerifier as _;
    argon2::password_hash::phc::PasswordHash::new(phc).is_ok_and(|hash| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok()
    })
}

/// Compares without an early exit.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> PlatformKey {
        PlatformKey::from_hex(&"11".repeat(32)).unwrap()
    }

    #[test]
    fn seal_round_trip_and_binding() {
        let k = key();
        let sealed = k.seal(b"11010519491231002X", "user:a").unwrap();
        assert_eq!(&*k.open(&sealed, "user:a").unwrap(), b"11010519491231002X");
        assert!(k.open(&sealed, "user:b").is_err());
        let mut tampered = sealed.clone();
        tampered[15] ^= 1;
        assert!(k.open(&tampered, "user:a").is_err());
        assert!(k.open(&sealed[..5], "user:a").is_err());
        let other = PlatformKey::from_hex(&"22".repeat(32)).unwrap();
        assert!(other.open(&sealed, "user:a").is_err());
    }

    #[test]
    fn digests_are_keyed_and_separated() {
        let k = key();
        assert_eq!(k.id_digest("x"), k.id_digest("x"));
        assert_ne!(k.id_digest("x"), k.code_digest("x", "", ""));
        assert_ne!(
            k.code_digest("login", "13800000000", "123456"),
            k.code_digest("register", "13800000000", "123456")
        );
        let other = PlatformKey::from_hex(&"22".repeat(32)).unwrap();
        assert_ne!(k.id_digest("x"), other.id_digest("x"));
    }

    #[test]
    fn codes_and_tokens() {
        for _ in 0..100 {
            let code = new_code().unwrap();
            assert_eq!(code.len(), 6);
            assert!(code.bytes().all(|b| b.is_ascii_digit()));
        }
        let (token, id) = new_token().unwrap();
        assert_eq!(id, sha256_hex(token.as_bytes()));
        assert!(PlatformKey::from_hex("zz").is_err());
        assert!(format!("{:?}", key()).contains("***"));
    }

    #[test]
    fn passwords() {
        let hash = hash_password("abc12345").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(check_password_hash("abc12345", &hash));
        assert!(!check_password_hash("abc12346", &hash));
        assert!(!check_password_hash("abc12345", "garbage"));
    }
}
