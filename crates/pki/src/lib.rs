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

/// Entry points for fuzz targets and their seed replay; not a stable API.
#[doc(hidden)]
pub mod fuzzing {
    use std::sync::OnceLock;

    struct Fixture {
        key: crate::PrivateKey,
        identity: crate::SignerIdentity,
    }

    fn fixture() -> Option<&'static Fixture> {
        static FIXTURE: OnceLock<Option<Fixture>> = OnceLock::new();
        FIXTURE
            .get_or_init(|| {
                let key = crate::PrivateKey::generate(crate::KeyAlgorithm::P256).ok()?;
                let spki = key.public_key_info().ok()?;
                let name = crate::issue::name(&[(crate::issue::AT_COMMON_NAME, "fuzz")]).ok()?;
                let now = std::time::SystemTime::now();
                let cert = crate::issue::sign_certificate(
                    &crate::issue::CertificateTemplate {
                        serial: vec![1],
                        subject: name.clone(),
                        subject_public_key_info: spki,
                        not_before: now,
                        not_after: now + std::time::Duration::from_secs(86_400),
                        extensions: Vec::new(),
                    },
                    &name,
                    &key,
                )
                .ok()?;
                let identity = crate::SignerIdentity::new(vec![cert], Vec::new()).ok()?;
                Some(Fixture { key, identity })
            })
            .as_ref()
    }

    /// Feeds `data` to the OCSP responder and to the TSA.
    pub fn respond_to_requests(data: &[u8]) {
        let Some(fixture) = fixture() else { return };
        let now = std::time::SystemTime::now();
        let responder = crate::ocsp::Responder {
            issuer: &fixture.identity.certificate,
            responder: &fixture.identity.certificate,
            key: &fixture.key,
            validity: std::time::Duration::from_secs(60),
        };
        let _ = responder.respond(data, now, |_| crate::ocsp::CertStatus::Good);
        let tsa = crate::tsa::TimestampAuthority {
            signer: &fixture.key,
            identity: &fixture.identity,
            policy: crate::tsa::DEFAULT_POLICY,
        };
        let _ = tsa.respond(data, now);
    }
}
