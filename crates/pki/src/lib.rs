//! Keys, certificates and CMS signature assembly for Qianzhang.
//!
//! Signing goes through the [`DocumentSigner`] trait so that a key held in memory, on a PKCS#11
//! token or split between a phone and the server can all produce the same CMS.

pub mod ca;
mod certs;
pub mod cms;
pub mod custody;
mod error;
pub mod issue;
mod keys;
pub mod ocsp;
pub mod oid;
mod pkcs12;
pub mod tsa;
pub mod verify;

pub use certs::{SignerIdentity, load_certificates};
pub use error::PkiError;
pub use keys::{DigestAlgorithm, DocumentSigner, KeyAlgorithm, PrivateKey};
pub use pkcs12::load_pkcs12;
