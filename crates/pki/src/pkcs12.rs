//! PKCS#12 reading (todo).
use crate::{PkiError, PrivateKey};
use x509_cert::Certificate;
/// Reads a PKCS#12 file.
pub fn load_pkcs12(_data: &[u8], _password: &[u8]) -> Result<(PrivateKey, Vec<Certificate>), PkiError> {
    Err(PkiError::Pkcs12("not implemented".into()))
}
