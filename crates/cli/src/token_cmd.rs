//! `qz token`: the local signing helper for a token (Ukey) certificate on the platform. The key
//! never leaves the token (or, in tests and for software keys, the PEM file): `enroll` sends a
//! certificate request the key signed, `sign-pending` signs what a flow's pending signature
//! asks for and hands the values back (prepare / sign digest / finish, #8).

use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use clap::{Args, Subcommand};
use der::Encode as _;
use serde::Deserialize;

use qz_pki::{DocumentSigner, PrivateKey};

use crate::session::{Session, SessionArgs, env, hex, unhex};

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Have the platform certify the token's key (replaces your active certificate).
    Enroll(EnrollArgs),
    /// Sign the pending flow signatures waiting for this token (待确认签署).
    SignPending(SignPendingArgs),
}

/// The key and the platform session.
#[derive(Debug, Args)]
pub struct Connection {
    /// Platform base URL, e.g. http://127.0.0.1:8080.
    #[arg(long)]
    server: String,
    #[command(flatten)]
    session: SessionArgs,
    /// A software key (PEM) standing in for the token.
    #[arg(long, conflicts_with = "pkcs11_module")]
    key: Option<PathBuf>,
    /// PKCS#11 library of the token.
    #[arg(long)]
    pkcs11_module: Option<PathBuf>,
    /// Token label (with --pkcs11-module).
    #[arg(long, requires = "pkcs11_module")]
    token: Option<String>,
    /// Key label on the token.
    #[arg(long, requires = "pkcs11_module")]
    key_label: Option<String>,
    /// Environment variable with the token PIN (the signing intent).
    #[arg(long, requires = "pkcs11_module")]
    pin_env: Option<String>,
}

#[derive(Debug, Args)]
pub struct EnrollArgs {
    #[command(flatten)]
    connection: Connection,
    /// The SMS code (purpose `sign`) that confirms the enrolment.
    #[arg(long)]
    code: String,
    /// Where to write the certificate (PEM).
    #[arg(long)]
    out: PathBuf,
}

#[derive(Debug, Args)]
pub struct SignPendingArgs {
    #[command(flatten)]
    connection: Connection,
    /// Only this pending signature (default: every one waiting for this key's certificate).
    #[arg(long)]
    pending: Option<String>,
}

impl Connection {
    fn signer(&self) -> Result<Box<dyn DocumentSigner>> {
        if let Some(module) = &self.pkcs11_module {
            let token = self
                .token
                .as_deref()
                .context("--pkcs11-module needs --token LABEL")?;
            let key_label = self
                .key_label
                .as_deref()
                .context("--pkcs11-module needs --key-label LABEL")?;
            let pin = env(self
                .pin_env
                .as_deref()
                .context("--pkcs11-module needs --pin-env VAR")?)?;
            return Ok(Box::new(qz_pki::custody::pkcs11::Pkcs11Signer::open(
                module, token, key_label, &pin,
            )?));
        }
        let path = self
            .key
            .as_ref()
            .context("give --key KEY.pem or --pkcs11-module")?;
        let pem = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        Ok(Box::new(PrivateKey::from_pem(&pem, None)?))
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.server.trim_end_matches('/'))
    }

    fn get(&self, path: &str) -> Result<String> {
        Session::from_env(&self.session)?.get(&self.url(path))
    }

    fn post(&self, path: &str, body: &serde_json::Value) -> Result<String> {
        Session::from_env(&self.session)?.post(&self.url(path), body)
    }
}

/// The SubjectPublicKeyInfo of a signer, from its algorithm and public key bits.
fn spki_of(signer: &dyn DocumentSigner) -> Result<spki::SubjectPublicKeyInfoOwned> {
    let oid = signer.signature_algorithm().oid;
    let algorithm = if oid == qz_pki::oid::SHA256_WITH_RSA {
        spki::AlgorithmIdentifierOwned {
            oid: qz_pki::oid::RSA_ENCRYPTION,
            parameters: Some(der::asn1::Null.into()),
        }
    } else {
        let curve = if oid == qz_pki::oid::SM2_WITH_SM3 {
            qz_pki::oid::SM2_CURVE
        } else {
            qz_pki::oid::SECP256R1
        };
        spki::AlgorithmIdentifierOwned {
            oid: qz_pki::oid::ID_EC_PUBLIC_KEY,
            parameters: Some(der::Any::encode_from(&curve)?),
        }
    };
    Ok(spki::SubjectPublicKeyInfoOwned {
        algorithm,
        subject_public_key: der::asn1::BitString::from_bytes(&signer.public_key_bits()?)?,
    })
}

#[derive(Debug, Deserialize)]
struct PendingDocument {
    idx: i64,
    to_be_signed: String,
}

#[derive(Debug, Deserialize)]
struct Pending {
    id: String,
    method: String,
    documents: Vec<PendingDocument>,
}

pub fn run(command: TokenCommand) -> Result<()> {
    match command {
        TokenCommand::Enroll(args) => {
            let signer = args.connection.signer()?;
            let info = x509_cert::request::CertReqInfo {
                version: x509_cert::request::Version::V1,
                // The platform writes the verified name into the certificate.
                subject: qz_pki::issue::name(&[(qz_pki::issue::AT_COMMON_NAME, "token enrolment")])?,
                public_key: spki_of(signer.as_ref())?,
                attributes: Default::default(),
            };
            let signature = signer.sign(&info.to_der()?)?;
            let csr = x509_cert::request::CertReq {
                info,
                algorithm: signer.signature_algorithm(),
                signature: der::asn1::BitString::from_bytes(&signature)?,
            };
            let answer = args.connection.post(
                "/me/certificates/token",
                &serde_json::json!({ "csr": hex(&csr.to_der()?), "code": args.code }),
            )?;
            let record: serde_json::Value = serde_json::from_str(&answer)?;
            let pem = record["pem"].as_str().context("no certificate in the answer")?;
            std::fs::write(&args.out, pem).with_context(|| format!("cannot write {}", args.out.display()))?;
            crate::print_out(&format!("{answer}\n"));
        }
        TokenCommand::SignPending(args) => {
            let signer = args.connection.signer()?;
            let pending: Vec<Pending> = match &args.pending {
                Some(id) => vec![serde_json::from_str(
                    &args.connection.get(&format!("/pending-signatures/{id}"))?,
                )?],
                None => serde_json::from_str(&args.connection.get("/me/pending-signatures")?)?,
            };
            let mut done = 0;
            for item in pending.iter().filter(|p| p.method == "token") {
                let mut signatures = Vec::new();
                for doc in &item.documents {
                    let value = signer.sign(&unhex(&doc.to_be_signed)?)?;
                    signatures.push(serde_json::json!({ "idx": doc.idx, "signature": hex(&value) }));
                }
                let flow = args.connection.post(
                    &format!("/pending-signatures/{}/finish", item.id),
                    &serde_json::json!({ "signatures": signatures }),
                )?;
                crate::print_out(&format!("{flow}\n"));
                done += 1;
            }
            if done == 0 {
                bail!("no pending token signature is waiting");
            }
        }
    }
    Ok(())
}
