//! `qz ca …`: our own certification authority in a directory.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use der::EncodePem as _;

use qz_pki::KeyAlgorithm;
use qz_pki::ca::{CaProfile, CertificateAuthority, Subject};
use qz_pki::issue::CertificateKind;

#[derive(Debug, Subcommand)]
pub enum CaCommand {
    /// Create a root and an issuing CA in DIR (DIR/root.pem is the trust anchor).
    Init(InitArgs),
    /// Issue a certificate and key: PREFIX.pem (certificate + issuing CA) and PREFIX.key.
    Issue(IssueArgs),
    /// Revoke a certificate and publish a new CRL.
    Revoke(RevokeArgs),
    /// Publish fresh CRLs (DIR/crl/root.crl, DIR/crl/ca.crl).
    Crl(DirArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ProfileArg {
    Intl,
    Sm2,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum AlgorithmArg {
    P256,
    Rsa3072,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum KindArg {
    Person,
    Org,
    Tsa,
    Ocsp,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// CA directory (created).
    #[arg(long)]
    dir: PathBuf,
    /// Algorithm family.
    #[arg(long, value_enum, default_value = "intl")]
    profile: ProfileArg,
    /// Key type (intl profile).
    #[arg(long, value_enum, default_value = "p256")]
    algorithm: AlgorithmArg,
    /// Where the PKI services will be reachable, e.g. http://127.0.0.1:8080 (goes into AIA and CRL DP).
    #[arg(long)]
    base_url: Option<String>,
    /// Organization name in the CA certificates.
    #[arg(long, default_value = "Qianzhang")]
    name: String,
}

#[derive(Debug, Args)]
pub struct IssueArgs {
    /// CA directory.
    #[arg(long)]
    dir: PathBuf,
    /// What the certificate is for.
    #[arg(long, value_enum)]
    kind: KindArg,
    /// Person or organization name.
    #[arg(long)]
    name: String,
    /// Resident ID number (persons; stored only as a salted hash).
    #[arg(long, conflicts_with = "credit_code")]
    id_number: Option<String>,
    /// Unified social credit code (organizations).
    #[arg(long)]
    credit_code: Option<String>,
    /// Output prefix: PREFIX.pem and PREFIX.key.
    #[arg(long)]
    out: PathBuf,
    /// Environment variable with a password to encrypt PREFIX.key.
    #[arg(long)]
    key_password_env: Option<String>,
    /// Validity in days.
    #[arg(long, default_value_t = 365)]
    days: u64,
    /// Certify this public key (PEM SubjectPublicKeyInfo, e.g. from a token) instead of
    /// generating a key; no PREFIX.key is written.
    #[arg(long, conflicts_with = "key_password_env")]
    public_key: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// CA directory.
    #[arg(long)]
    dir: PathBuf,
    /// Certificate serial, hex.
    #[arg(long)]
    serial: String,
    /// keyCompromise, superseded, cessationOfOperation, affiliationChanged, …
    #[arg(long, default_value = "unspecified")]
    reason: String,
}

#[derive(Debug, Args)]
pub struct DirArgs {
    /// CA directory.
    #[arg(long)]
    dir: PathBuf,
}

fn with_extension(prefix: &Path, extension: &str) -> PathBuf {
    let mut name = prefix.as_os_str().to_owned();
    name.push(".");
    name.push(extension);
    PathBuf::from(name)
}

/// Writes a file only its owner can read (0600), fsynced. `replace: false` refuses to overwrite
/// an existing file, so two processes creating the same secret cannot both win.
pub(crate) fn write_secret(path: &Path, data: &[u8], replace: bool) -> Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if replace {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(data)?;
    file.sync_all()?;
    Ok(())
}

pub fn run(command: CaCommand) -> Result<()> {
    match command {
        CaCommand::Init(args) => {
            let ca = CertificateAuthority::init(
                &args.dir,
                match args.profile {
                    ProfileArg::Intl => CaProfile::Intl,
                    ProfileArg::Sm2 => CaProfile::Sm2,
                },
                match args.algorithm {
                    AlgorithmArg::P256 => KeyAlgorithm::P256,
                    AlgorithmArg::Rsa3072 => KeyAlgorithm::Rsa3072,
                },
                args.base_url.map(|u| u.trim_end_matches('/').to_owned()),
                &args.name,
            )?;
            println!(
                "created CA in {}; trust anchor {}",
                ca.dir().display(),
                ca.dir().join("root.pem").display()
            );
        }
        CaCommand::Issue(args) => {
            let mut ca = CertificateAuthority::open(&args.dir)?;
            let (kind, subject) = match args.kind {
                KindArg::Person => (
                    CertificateKind::Signing,
                    Subject::Person {
                        name: args.name.clone(),
                        id_number: args.id_number.clone(),
                    },
                ),
                KindArg::Org => (
                    CertificateKind::Signing,
                    Subject::Organization {
                        name: args.name.clone(),
                        credit_code: args.credit_code.clone(),
                    },
                ),
                KindArg::Tsa => (
                    CertificateKind::TimeStamping,
                    Subject::Service {
                        name: args.name.clone(),
                    },
                ),
                KindArg::Ocsp => (
                    CertificateKind::OcspResponder,
                    Subject::Service {
                        name: args.name.clone(),
                    },
                ),
            };
            if args.id_number.is_some() && args.kind != KindArg::Person {
                bail!("--id-number is for --kind person");
            }
            if args.credit_code.is_some() && args.kind != KindArg::Org {
                bail!("--credit-code is for --kind org");
            }
            let password =
                match &args.key_password_env {
                    Some(var) => Some(std::env::var(var).with_context(|| {
                        format!("environment variable {var} (the key password) is not set")
                    })?),
                    None => None,
                };
            let validity = Duration::from_secs(args.days.max(1) * 86_400);
            let (cert, key) = match &args.public_key {
                Some(path) => {
                    use der::DecodePem as _;
                    let pem =
                        std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
                    let spki = spki::SubjectPublicKeyInfoOwned::from_pem(&pem)
                        .with_context(|| format!("{} is not a PEM public key", path.display()))?;
                    (ca.issue_for_key(kind, &subject, spki, validity)?, None)
                }
                None => {
                    let (cert, key) = ca.issue(kind, &subject, validity)?;
                    (cert, Some(key))
                }
            };
            let mut chain = cert.to_pem(der::pem::LineEnding::LF)?;
            chain.push_str(&ca.issuing.to_pem(der::pem::LineEnding::LF)?);
            let cert_path = with_extension(&args.out, "pem");
            let key_path = with_extension(&args.out, "key");
            if let Some(key) = key {
                write_secret(
                    &key_path,
                    key.to_pkcs8_pem(password.as_deref().map(str::as_bytes))?
                        .as_bytes(),
                    true,
                )?;
            }
            std::fs::write(&cert_path, chain)
                .with_context(|| format!("cannot write {}", cert_path.display()))?;
            let serial: String = cert
                .tbs_certificate()
                .serial_number()
                .as_bytes()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            println!(
                "{} serial={serial} subject={}",
                cert_path.display(),
                cert.tbs_certificate().subject()
            );
        }
        CaCommand::Revoke(args) => {
            let mut ca = CertificateAuthority::open(&args.dir)?;
            ca.revoke(&args.serial, &args.reason)?;
            println!(
                "revoked {}; CRL {}",
                args.serial,
                args.dir.join("crl/ca.crl").display()
            );
        }
        CaCommand::Crl(args) => {
            let mut ca = CertificateAuthority::open(&args.dir)?;
            for path in ca.refresh_crls()? {
                println!("{}", path.display());
            }
        }
    }
    Ok(())
}
