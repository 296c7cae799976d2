//! Key custody backends. All of them implement [`crate::DocumentSigner`], so CMS assembly,
//! certificate issuance and PDF signing do not care where a key lives:
//! - [`crate::PrivateKey`]: a key in memory (read from a file; tests, CLI use);
//! - [`hosted`]: the platform holds the key encrypted at rest (AES-256-GCM under a KEK);
//! - [`pkcs11`]: the key stays on a PKCS#11 token;
//! - [`remote`]: the signature is made elsewhere (a Ukey helper on the user's PC, the two-party
//!   SM2 protocol): prepare, sign the digest outside, finish;
//! - [`cosign`]: the two-party SM2 protocol itself (phone and server halves).

pub mod cosign;
pub mod hosted;
pub mod pkcs11;
pub mod remote;
