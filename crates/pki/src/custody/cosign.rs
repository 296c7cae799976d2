//! Two-party SM2 co-signing (协同签名): the key is split between the user's phone (`d1`) and the
//! server (`d2`); neither can sign alone. Multiplicative split as in Tongsuo's
//! `sm2_threshold.c` (research/guomi.md §3.1): the joint key is `P = [(d1·d2)⁻¹ − 1]G`.
//!
//! ```text
//! keygen   phone: P1 = [d1⁻¹]G ─────▶ server: P2 = [d2⁻¹]G; P = [d2⁻¹]P1 − G
//!          phone ◀──── P2;  P = [d1⁻¹]P2 − G
//! sign     phone: e = SM3(Z(P) ‖ M), w1 random, Q1 = [w1]G ─────▶
//!          server: w2 random, (x1,·) = [w2]G + [d2⁻¹]Q1, r = e + x1, s1 = d2(r + w2) ─────▶ phone
//!          phone: s = d1(s1 + w1) − r; checks (r, s) against P before releasing it
//! ```
//! Fresh OS-random nonces on both sides (a reused nonce leaks the other share); every received
//! point is decoded through `PublicKey`, which refuses points off the curve and the identity.
//! The phone share is stored sealed under a key derived from the certificate password
//! (Argon2id → AES-256-GCM), so entering the password is the signing intent.

use sm2::elliptic_curve::Generate as _;
use sm2::elliptic_curve::PrimeField as _;
use sm2::elliptic_curve::group::Group as _;
use sm2::elliptic_curve::ops::Reduce as _;
use sm2::elliptic_curve::point::AffineCoordinates as _;
use sm2::elliptic_curve::sec1::ToSec1Point as _;
use sm2::{FieldBytes, NonZeroScalar, ProjectivePoint, PublicKey, Scalar};
use zeroize::Zeroizing;

use crate::error::PkiError;
use crate::keys::{DigestAlgorithm, SM2_DEFAULT_ID};

fn protocol(what: impl std::fmt::Display) -> PkiError {
    PkiError::Sign(format!("co-signing: {what}"))
}

fn random_scalar() -> Result<NonZeroScalar, PkiError> {
    NonZeroScalar::try_generate_from_rng(&mut getrandom::SysRng).map_err(protocol)
}

/// Uncompressed SEC1 encoding of a point.
fn encode(point: &ProjectivePoint) -> Vec<u8> {
    point.to_affine().to_sec1_point(false).as_bytes().to_vec()
}

/// Decodes a received point, refusing anything off the curve or at infinity.
fn decode(bytes: &[u8]) -> Result<ProjectivePoint, PkiError> {
    PublicKey::from_sec1_bytes(bytes)
        .map(|key| key.to_projective())
        .map_err(|_| protocol("a received point is not a valid curve point"))
}

fn scalar_from(bytes: &[u8]) -> Result<Scalar, PkiError> {
    if bytes.len() != 32 {
        return Err(protocol("scalars are 32 bytes"));
    }
    #[allow(deprecated)] // from_slice: the length was checked just above.
    Ok(Scalar::reduce(FieldBytes::from_slice(bytes)))
}

fn invert(scalar: &Scalar) -> Result<Scalar, PkiError> {
    Option::<Scalar>::from(scalar.invert()).ok_or_else(|| protocol("a share is zero"))
}

/// Z = SM3(ENTL ‖ ID ‖ a ‖ b ‖ xG ‖ yG ‖ xA ‖ yA) for the default ID (GB/T 32918.2).
pub fn z_value(public_key: &[u8]) -> Result<Vec<u8>, PkiError> {
    const A: &str = "FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC";
    const B: &str = "28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93";
    const GX: &str = "32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7";
    const GY: &str = "BC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0";
    let unhex = |h: &str| -> Vec<u8> {
        (0..h.len())
            .step_by(2)
            .filter_map(|i| u8::from_str_radix(&h[i..i + 2], 16).ok())
            .collect()
    };
    if public_key.len() != 65 || public_key[0] != 4 {
        return Err(protocol("the public key must be an uncompressed point"));
    }
    let id = SM2_DEFAULT_ID.as_bytes();
    let entl = u16::try_from(id.len() * 8).map_err(protocol)?.to_be_bytes();
    Ok(DigestAlgorithm::Sm3.digest(&[
        &entl,
        id,
        &unhex(A),
        &unhex(B),
        &unhex(GX),
        &unhex(GY),
        &public_key[1..],
    ]))
}

/// e = SM3(Z(P) ‖ M): what the server signs, without seeing M.
pub fn message_digest(public_key: &[u8], message: &[u8]) -> Result<Vec<u8>, PkiError> {
    Ok(DigestAlgorithm::Sm3.digest(&[&z_value(public_key)?, message]))
}

/// The phone's share.
pub struct ClientShare {
    d1: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for ClientShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientShare(…)")
    }
}

/// The server's share.
pub struct ServerShare {
    d2: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for ServerShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerShare(…)")
    }
}

fn share_bytes(scalar: &NonZeroScalar) -> Zeroizing<[u8; 32]> {
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(&scalar.to_repr());
    out
}

/// Joint public key from one's own share and the other side's partial key: `[d⁻¹]Pother − G`.
fn joint(own: &Scalar, other_partial: &[u8]) -> Result<Vec<u8>, PkiError> {
    let point = decode(other_partial)? * invert(own)? - ProjectivePoint::GENERATOR;
    if bool::from(point.is_identity()) {
        return Err(protocol("the joint key is the identity"));
    }
    Ok(encode(&point))
}

impl ClientShare {
    /// A fresh share and its partial public key P1 = [d1⁻¹]G to send to the server.
    pub fn generate() -> Result<(Self, Vec<u8>), PkiError> {
        let d1 = random_scalar()?;
        let partial = encode(&(ProjectivePoint::GENERATOR * invert(&d1)?));
        Ok((ClientShare { d1: share_bytes(&d1) }, partial))
    }

    fn scalar(&self) -> Result<Scalar, PkiError> {
        scalar_from(self.d1.as_ref())
    }

    /// The joint public key from the server's partial key P2.
    pub fn joint_public_key(&self, server_partial: &[u8]) -> Result<Vec<u8>, PkiError> {
        joint(&self.scalar()?, server_partial)
    }

    /// Step one of signing: the nonce point Q1 and e for `message` under `public_key`.
    pub fn start(&self, public_key: &[u8], message: &[u8]) -> Result<(ClientNonce, SignRequest), PkiError> {
        let w1 = random_scalar()?;
        let q1 = encode(&(ProjectivePoint::GENERATOR * *w1));
        let e = message_digest(public_key, message)?;
        Ok((ClientNonce { w1: share_bytes(&w1) }, SignRequest { q1, e }))
    }

    /// Step three: the signature (DER) from the server's answer, verified against the joint
    /// key before it is released.
    pub fn finish(
        &self,
        nonce: ClientNonce,
        request: &SignRequest,
        response: &SignResponse,
        public_key: &[u8],
    ) -> Result<Vec<u8>, PkiError> {
        let r = scalar_from(&response.r)?;
        let s1 = scalar_from(&response.s1)?;
        let w1 = scalar_from(nonce.w1.as_ref())?;
        let s = self.scalar()? * (s1 + w1) - r;
        let signature = sm2::dsa::Signature::from_scalars(r.to_repr(), s.to_repr())
            .map_err(|_| protocol("the server's answer gives an invalid signature"))?;
        let key = sm2::dsa::VerifyingKey::from_sec1_bytes(SM2_DEFAULT_ID, public_key).map_err(protocol)?;
        use sm2::dsa::signature::hazmat::PrehashVerifier as _;
        key.verify_prehash(&request.e, &signature)
            .map_err(|_| protocol("the joint signature does not verify; refusing to release it"))?;
        Ok(signature.to_der().to_bytes().to_vec())
    }

    /// Raw bytes, for handing the share to the server while auto-sign is on (W 5: enabling
    /// auto-sign with the certificate password lets the platform sign without the phone; the
    /// server keeps it sealed and drops it when the window ends).
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(self.d1.to_vec())
    }

    /// From raw bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, PkiError> {
        if bytes.len() != 32 {
            return Err(protocol("bad client share"));
        }
        let mut d1 = Zeroizing::new([0u8; 32]);
        d1.copy_from_slice(bytes);
        scalar_from(d1.as_ref()).and_then(|d| invert(&d))?;
        Ok(ClientShare { d1 })
    }

    /// Seals the share under the certificate password (6–12 letters and digits).
    pub fn seal(&self, password: &str) -> Result<Vec<u8>, PkiError> {
        check_password(password)?;
        seal_bytes(self.d1.as_ref(), password)
    }

    /// Opens a sealed share; a wrong password is an error.
    pub fn open(sealed: &[u8], password: &str) -> Result<Self, PkiError> {
        let plain = open_bytes(sealed, password)?;
        let mut d1 = Zeroizing::new([0u8; 32]);
        if plain.len() != 32 {
            return Err(protocol("bad share"));
        }
        d1.copy_from_slice(&plain);
        Ok(ClientShare { d1 })
    }
}

/// The phone's nonce for one signing run; used once.
pub struct ClientNonce {
    w1: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for ClientNonce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientNonce(…)")
    }
}

/// Phone → server.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SignRequest {
    /// Q1 = [w1]G, uncompressed SEC1.
    #[serde(with = "hex_bytes")]
    pub q1: Vec<u8>,
    /// e = SM3(Z(P) ‖ M).
    #[serde(with = "hex_bytes")]
    pub e: Vec<u8>,
}

/// Server → phone.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SignResponse {
    /// r.
    #[serde(with = "hex_bytes")]
    pub r: Vec<u8>,
    /// s1 = d2(r + w2).
    #[serde(with = "hex_bytes")]
    pub s1: Vec<u8>,
}

mod hex_bytes {
    pub fn serialize<S: serde::Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&bytes.iter().map(|b| format!("{b:02x}")).collect::<String>())
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        let text: String = serde::Deserialize::deserialize(deserializer)?;
        if !text.len().is_multiple_of(2) || text.len() > 1024 {
            return Err(serde::de::Error::custom("bad hex"));
        }
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).map_err(serde::de::Error::custom))
            .collect()
    }
}

impl ServerShare {
    /// A fresh share and the partial key P2 = [d2⁻¹]G for the phone.
    pub fn generate() -> Result<(Self, Vec<u8>), PkiError> {
        let d2 = random_scalar()?;
        let partial = encode(&(ProjectivePoint::GENERATOR * invert(&d2)?));
        Ok((ServerShare { d2: share_bytes(&d2) }, partial))
    }

    fn scalar(&self) -> Result<Scalar, PkiError> {
        scalar_from(self.d2.as_ref())
    }

    /// The partial key P2 = [d2⁻¹]G this share gave the phone.
    pub fn partial(&self) -> Result<Vec<u8>, PkiError> {
        Ok(encode(&(ProjectivePoint::GENERATOR * invert(&self.scalar()?)?)))
    }

    /// The joint public key from the phone's partial key P1.
    pub fn joint_public_key(&self, client_partial: &[u8]) -> Result<Vec<u8>, PkiError> {
        joint(&self.scalar()?, client_partial)
    }

    /// Step two: the server's half. The caller logs `request.e` (what it co-signed).
    pub fn respond(&self, request: &SignRequest) -> Result<SignResponse, PkiError> {
        let q1 = decode(&request.q1)?;
        let e = scalar_from(&request.e)?;
        let d2 = self.scalar()?;
        loop {
            let w2 = random_scalar()?;
            let point = (ProjectivePoint::GENERATOR * *w2 + q1 * invert(&d2)?).to_affine();
            #[allow(deprecated)] // from_slice on a 32-byte coordinate.
            let x1 = Scalar::reduce(&point.x());
            let r = e + x1;
            if bool::from(r.is_zero()) {
                continue;
            }
            let s1 = d2 * (r + *w2);
            if bool::from(s1.is_zero()) {
                continue;
            }
            return Ok(SignResponse {
                r: r.to_repr().to_vec(),
                s1: s1.to_repr().to_vec(),
            });
        }
    }

    /// Raw bytes for storage (the caller seals them, e.g. with hosted custody's KEK).
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(self.d2.to_vec())
    }

    /// From stored bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, PkiError> {
        if bytes.len() != 32 {
            return Err(protocol("bad server share"));
        }
        let mut d2 = Zeroizing::new([0u8; 32]);
        d2.copy_from_slice(bytes);
        Ok(ServerShare { d2 })
    }
}

/// Certificate passwords: 6 to 12 letters and digits (the seeds' rule).
pub fn check_password(password: &str) -> Result<(), PkiError> {
    let ok =
        (6..=12).contains(&password.chars().count()) && password.chars().all(|c| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(PkiError::Invalid(
            "the certificate password must be 6 to 12 letters and digits".into(),
        ))
    }
}

const SEAL_MAGIC: &[u8; 4] = b"QZC1";

fn derive(password: &str, salt: &[u8]) -> Result<Zeroizing<[u8; 32]>, PkiError> {
    let mut key = Zeroizing::new([0u8; 32]);
    argon2::Argon2::default()
        .hash_password_into(password.as_bytes(), salt, key.as_mut())
        .map_err(protocol)?;
    Ok(key)
}

fn seal_bytes(plain: &[u8], password: &str) -> Result<Vec<u8>, PkiError> {
    use aes_gcm::aead::{Aead, KeyInit};
    let mut salt = [0u8; 16];
    let mut nonce = [0u8; 12];
    getrandom::fill(&mut salt).map_err(protocol)?;
    getrandom::fill(&mut nonce).map_err(protocol)?;
    let key = derive(password, &salt)?;
    let cipher = aes_gcm::Aes256Gcm::new_from_slice(key.as_ref()).map_err(protocol)?;
    let ciphertext = cipher
        .encrypt(&aes_gcm::Nonce::from(nonce), plain)
        .map_err(|_| protocol("encryption failed"))?;
    Ok([SEAL_MAGIC.as_slice(), &salt, &nonce, &ciphertext].concat())
}

fn open_bytes(sealed: &[u8], password: &str) -> Result<Zeroizing<Vec<u8>>, PkiError> {
    use aes_gcm::aead::{Aead, KeyInit};
    let rest = sealed
        .strip_prefix(SEAL_MAGIC.as_slice())
        .filter(|r| r.len() > 16 + 12 + 16)
        .ok_or_else(|| protocol("not a sealed share"))?;
    let (salt, rest) = rest.split_at(16);
    let (nonce, ciphertext) = rest.split_at(12);
    let nonce: [u8; 12] = nonce.try_into().map_err(protocol)?;
    let key = derive(password, salt)?;
    let cipher = aes_gcm::Aes256Gcm::new_from_slice(key.as_ref()).map_err(protocol)?;
    cipher
        .decrypt(&aes_gcm::Nonce::from(nonce), ciphertext)
        .map(Zeroizing::new)
        .map_err(|_| PkiError::WrongPassword("the certificate (co-signing share)"))
}

/// Both shares in one process: how the platform signs for a person whose phone handed over its
/// share for an auto-sign window. The protocol runs as between phone and server, so the
/// result is verified against the joint key before it is released, like on the phone.
pub struct JointSigner {
    client: ClientShare,
    server: ServerShare,
    public_key: Vec<u8>,
}

impl std::fmt::Debug for JointSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JointSigner").finish_non_exhaustive()
    }
}

impl JointSigner {
    /// Both shares; refused unless they make `public_key`.
    pub fn new(client: ClientShare, server: ServerShare, public_key: &[u8]) -> Result<Self, PkiError> {
        if client.joint_public_key(&server.partial()?)? != public_key {
            return Err(protocol("the shares do not belong to this key"));
        }
        Ok(JointSigner {
            client,
            server,
            public_key: public_key.to_vec(),
        })
    }
}

impl crate::keys::DocumentSigner for JointSigner {
    fn digest_algorithm(&self) -> DigestAlgorithm {
        DigestAlgorithm::Sm3
    }

    fn signature_algorithm(&self) -> spki::AlgorithmIdentifierOwned {
        spki::AlgorithmIdentifierOwned {
            oid: crate::oid::SM2_WITH_SM3,
            parameters: None,
        }
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, PkiError> {
        let (nonce, request) = self.client.start(&self.public_key, message)?;
        let response = self.server.respond(&request)?;
        self.client.finish(nonce, &request, &response, &self.public_key)
    }

    fn max_signature_len(&self) -> usize {
        72
    }

    fn public_key_bits(&self) -> Result<Vec<u8>, PkiError> {
        Ok(self.public_key.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> (ClientShare, ServerShare, Vec<u8>) {
        let (client, p1) = ClientShare::generate().unwrap();
        let (server, p2) = ServerShare::generate().unwrap();
        let joint_client = client.joint_public_key(&p2).unwrap();
        let joint_server = server.joint_public_key(&p1).unwrap();
        assert_eq!(joint_client, joint_server);
        (client, server, joint_client)
    }

    #[test]
    fn joint_signature_verifies_as_plain_sm2() {
        let (client, server, public) = keys();
        for message in [&b"hello"[..], b"", &[0u8; 1000]] {
            let (nonce, request) = client.start(&public, message).unwrap();
            let response = server.respond(&request).unwrap();
            let der = client.finish(nonce, &request, &response, &public).unwrap();
            // Any SM2 verifier with the default ID accepts it over the plain message.
            let key = sm2::dsa::VerifyingKey::from_sec1_bytes(SM2_DEFAULT_ID, &public).unwrap();
            let signature = sm2::dsa::Signature::from_der(&der).unwrap();
            use sm2::dsa::signature::Verifier as _;
            key.verify(message, &signature).unwrap();
        }
    }

    #[test]
    fn joint_signer_from_exported_shares() {
        use crate::keys::DocumentSigner as _;
        let (client, server, public) = keys();
        assert!(server.joint_public_key(&[]).is_err());
        let client = ClientShare::from_bytes(&client.to_bytes()).unwrap();
        let signer = JointSigner::new(
            client,
            ServerShare::from_bytes(&server.to_bytes()).unwrap(),
            &public,
        )
        .unwrap();
        let der = signer.sign(b"auto-signed").unwrap();
        let key = sm2::dsa::VerifyingKey::from_sec1_bytes(SM2_DEFAULT_ID, &public).unwrap();
        use sm2::dsa::signature::Verifier as _;
        key.verify(b"auto-signed", &sm2::dsa::Signature::from_der(&der).unwrap())
            .unwrap();
        // Another phone's share does not make this key.
        let (other, _) = ClientShare::generate().unwrap();
        assert!(JointSigner::new(other, server, &public).is_err());
        assert!(ClientShare::from_bytes(&[0u8; 32]).is_err());
        assert!(ClientShare::from_bytes(&[1u8; 31]).is_err());
    }

    #[test]
    fn tampering_and_bad_points_are_refused() {
        let (client, server, public) = keys();
        let (nonce, request) = client.start(&public, b"doc").unwrap();
        let mut response = server.respond(&request).unwrap();
        response.s1[5] ^= 1;
        assert!(client.finish(nonce, &request, &response, &public).is_err());
        let mut bad = request.clone();
        bad.q1 = vec![4; 65];
        assert!(server.respond(&bad).is_err());
        bad.q1 = vec![0];
        assert!(server.respond(&bad).is_err());
        assert!(client.joint_public_key(&[4; 65]).is_err());
    }

    #[test]
    fn sealed_share_needs_the_password() {
        let (client, _) = ClientShare::generate().unwrap();
        assert!(client.seal("short").is_err());
        assert!(client.seal("has space 1").is_err());
        let sealed = client.seal("abc123").unwrap();
        assert!(ClientShare::open(&sealed, "abc124").is_err());
        let opened = ClientShare::open(&sealed, "abc123").unwrap();
        assert_eq!(opened.d1.as_ref(), client.d1.as_ref());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        #[test]
        fn random_runs_verify(message in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
            let (client, server, public) = keys();
            let (nonce, request) = client.start(&public, &message).unwrap();
            let response = server.respond(&request).unwrap();
            let der = client.finish(nonce, &request, &response, &public).unwrap();
            let key = sm2::dsa::VerifyingKey::from_sec1_bytes(SM2_DEFAULT_ID, &public).unwrap();
            use sm2::dsa::signature::Verifier as _;
            proptest::prop_assert!(key.verify(&message, &sm2::dsa::Signature::from_der(&der).unwrap()).is_ok());
        }
    }
}
