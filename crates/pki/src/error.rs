use thiserror::Error;

/// Errors of key and certificate handling and CMS assembly.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PkiError {
    /// The key file is not a private key we can read.
    #[error("cannot read the private key: {0}")]
    Key(String),
    /// The key is encrypted and no password was given.
    #[error("the private key is encrypted: give its password")]
    KeyNeedsPassword,
    /// The password does not open the key or the PKCS#12 file.
    #[error("wrong password for {0}")]
    WrongPassword(&'static str),
    /// An algorithm or curve we do not sign with.
    #[error("unsupported key: {0}")]
    UnsupportedKey(String),
    /// RSA keys must be 2048 to 4096 bits.
    #[error("RSA key of {0} bits is not supported (use 2048 to 4096)")]
    RsaKeySize(usize),
    /// A certificate file we cannot read.
    #[error("cannot read certificate: {0}")]
    Certificate(String),
    /// The key does not belong to the certificate.
    #[error("the private key does not match the certificate ({0})")]
    KeyMismatch(String),
    /// Signing time outside the certificate's validity.
    #[error("the signer certificate {0}")]
    CertificateNotValid(String),
    /// A PKCS#12 file we cannot read.
    #[error("cannot read the PKCS#12 file: {0}")]
    Pkcs12(String),
    /// The signing operation failed.
    #[error("signing failed: {0}")]
    Sign(String),
    /// Input that fails a format check (ID number, credit code, …).
    #[error("{0}")]
    Invalid(String),
    /// DER encoding failed.
    #[error("encoding error: {0}")]
    Encoding(#[from] der::Error),
}
