//! `qz cosign`: the phone's half of two-party SM2 signing, over HTTP against `qz pki serve`
//! (a stand-in for the mobile app), or with `--code` against the platform (`qz serve`, `/api/v1/cosign`).

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use clap::{Args, Subcommand};
use der::Encode as _;
use serde::{Deserialize, Serialize};

use qz_pki::custody::cosign::{ClientShare, SignRequest, SignResponse};
use qz_pki::custody::remote::RemoteSigner;
use qz_pki::{SignerIdentity, load_certificates};

use crate::session::{Session, SessionArgs, hex, unhex};

#[derive(Debug, Subcommand)]
pub enum CosignCommand {
    /// Create a split SM2 key with the server and get a certificate for the joint key: writes
    /// PREFIX.share (the phone share, sealed with the certificate password), PREFIX.pem and
    /// PREFIX.json.
    Enroll(EnrollArgs),
    /// Sign a PDF with a split key (invisible signature; the password is the intent).
    Sign(SignArgs),
    /// Confirm the platform's pending flow signatures with the certificate password (the
    /// mini-program's 待确认 list): each document is signed through the protocol and handed back.
    Confirm(ConfirmArgs),
    /// Turn on auto-sign on the platform (W 5): the share is opened with the certificate
    /// password and handed to the server for the window, so it can sign without the phone.
    Autosign(AutosignArgs),
}

/// The phone's enrolled key and the password that opens it (the signing intent).
#[derive(Debug, Args)]
pub struct PhoneKey {
    /// The prefix given to `enroll --code`.
    #[arg(long)]
    key: PathBuf,
    /// Environment variable with the certificate password.
    #[arg(long)]
    password_env: String,
}

impl PhoneKey {
    fn enrolment(&self) -> Result<Enrolment> {
        Ok(serde_json::from_slice(&std::fs::read(with_extension(
            &self.key, "json",
        ))?)?)
    }

    /// Opening the share with the password is the signing intent.
    fn share(&self) -> Result<ClientShare> {
        ClientShare::open(
            &std::fs::read(with_extension(&self.key, "share"))?,
            &password(&self.password_env)?,
        )
        .context("wrong certificate password, or a damaged share")
    }
}

#[derive(Debug, Args)]
pub struct AutosignArgs {
    #[command(flatten)]
    phone: PhoneKey,
    #[command(flatten)]
    session: SessionArgs,
    /// Hours (default 24, at most 4320).
    #[arg(long)]
    hours: Option<i64>,
}

#[derive(Debug, Args)]
pub struct ConfirmArgs {
    #[command(flatten)]
    phone: PhoneKey,
    #[command(flatten)]
    session: SessionArgs,
    /// Only this pending signature (default: every one waiting).
    #[arg(long)]
    pending: Option<String>,
}

#[derive(Debug, Args)]
pub struct EnrollArgs {
    /// Server base URL, e.g. http://127.0.0.1:8080.
    #[arg(long)]
    server: String,
    /// Name in the certificate (`qz pki serve`; the platform takes the verified name).
    #[arg(long, required_unless_present = "code")]
    name: Option<String>,
    /// The platform's invitation code (下载证书邀请码) from `POST /api/v1/me/cosign/invitations`:
    /// enrol against the platform (`qz serve`) instead of `qz pki serve`.
    #[arg(long)]
    code: Option<String>,
    /// Environment variable with the certificate password (6–12 letters and digits).
    #[arg(long)]
    password_env: String,
    /// Output prefix.
    #[arg(long)]
    out: PathBuf,
}

#[derive(Debug, Args)]
pub struct SignArgs {
    /// The PDF to sign.
    input: PathBuf,
    /// Output.
    #[arg(short, long)]
    output: PathBuf,
    /// The prefix given to `enroll`.
    #[arg(long)]
    key: PathBuf,
    /// Environment variable with the certificate password.
    #[arg(long)]
    password_env: String,
    /// RFC 3161 TSA for a signature timestamp.
    #[arg(long)]
    tsa: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Enrolment {
    server: String,
    key_id: String,
    public_key: String,
    /// Where the co-signing routes are: `/pki/cosign` (`qz pki serve`) or `/api/v1/cosign`.
    #[serde(default = "legacy_routes")]
    routes: String,
}

fn legacy_routes() -> String {
    "/pki/cosign".into()
}

fn post_json<T: Serialize, R: for<'de> Deserialize<'de>>(url: &str, body: &T) -> Result<R> {
    let body = serde_json::to_vec(body)?;
    let response = crate::ltv::post(url, "application/json", &body)?;
    serde_json::from_slice(&response).with_context(|| format!("unexpected answer from {url}"))
}

fn with_extension(prefix: &Path, extension: &str) -> PathBuf {
    let mut name = prefix.as_os_str().to_owned();
    name.push(".");
    name.push(extension);
    PathBuf::from(name)
}

fn password(var: &str) -> Result<String> {
    std::env::var(var)
        .with_context(|| format!("environment variable {var} (the certificate password) is not set"))
}

/// One run of the protocol over HTTP; returns the DER signature over `message`.
fn cosign(
    routes: &str,
    key_id: &str,
    share: &ClientShare,
    public: &[u8],
    message: &[u8],
    csr_info: bool,
    session: Option<&Session>,
) -> Result<Vec<u8>> {
    #[derive(Serialize)]
    struct Body<'a> {
        key_id: &'a str,
        #[serde(flatten)]
        request: &'a SignRequest,
        /// The platform co-signs nothing but the certificate request while enrolling.
        #[serde(skip_serializing_if = "Option::is_none")]
        csr_info: Option<String>,
    }
    let (nonce, request) = share.start(public, message)?;
    let body = Body {
        key_id,
        request: &request,
        csr_info: csr_info.then(|| hex(message)),
    };
    let response: SignResponse = match session {
        Some(session) => {
            serde_json::from_str(&session.post(&format!("{routes}/sign"), &serde_json::to_value(&body)?)?)?
        }
        None => post_json(&format!("{routes}/sign"), &body)?,
    };
    Ok(share.finish(nonce, &request, &response, public)?)
}

fn spki_for(public: &[u8]) -> Result<spki::SubjectPublicKeyInfoOwned> {
    Ok(spki::SubjectPublicKeyInfoOwned {
        algorithm: spki::AlgorithmIdentifierOwned {
            oid: qz_pki::oid::ID_EC_PUBLIC_KEY,
            parameters: Some(der::Any::encode_from(&qz_pki::oid::SM2_CURVE)?),
        },
        subject_public_key: der::asn1::BitString::from_bytes(public)?,
    })
}

pub fn run(command: CosignCommand) -> Result<()> {
    match command {
        CosignCommand::Enroll(args) => {
            let password = password(&args.password_env)?;
            qz_pki::custody::cosign::check_password(&password)?;
            let server = args.server.trim_end_matches('/').to_owned();
            let routes = if args.code.is_some() {
                "/api/v1/cosign".to_owned()
            } else {
                legacy_routes()
            };
            let base = format!("{server}{routes}");
            let (share, partial) = ClientShare::generate()?;
            #[derive(Deserialize)]
            struct Enrolled {
                key_id: String,
                server_partial: String,
                public_key: String,
            }
            #[derive(Serialize)]
            struct Start {
                client_partial: String,
                #[serde(skip_serializing_if = "Option::is_none")]
                code: Option<String>,
            }
            let enrolled: Enrolled = post_json(
                &format!("{base}/{}", if args.code.is_some() { "enrol" } else { "enroll" }),
                &Start {
                    client_partial: hex(&partial),
                    code: args.code.clone(),
                },
            )?;
            let public = share.joint_public_key(&unhex(&enrolled.server_partial)?)?;
            if hex(&public) != enrolled.public_key {
                bail!("the server computed another joint key; refusing the enrolment");
            }
            // The certificate request is signed through the protocol itself (Z over P).
            let info = x509_cert::request::CertReqInfo {
                version: x509_cert::request::Version::V1,
                subject: qz_pki::issue::name(&[(
                    qz_pki::issue::AT_COMMON_NAME,
                    args.name.as_deref().unwrap_or("co-sign enrolment"),
                )])?,
                public_key: spki_for(&public)?,
                attributes: Default::default(),
            };
            let signature = cosign(
                &base,
                &enrolled.key_id,
                &share,
                &public,
                &info.to_der()?,
                true,
                None,
            )?;
            let csr = x509_cert::request::CertReq {
                info,
                algorithm: spki::AlgorithmIdentifierOwned {
                    oid: qz_pki::oid::SM2_WITH_SM3,
                    parameters: None,
                },
                signature: der::asn1::BitString::from_bytes(&signature)?,
            };
            #[derive(Serialize)]
            struct Certify {
                key_id: String,
                csr: String,
            }
            let pem = crate::ltv::post(
                &format!("{base}/certify"),
                "application/json",
                &serde_json::to_vec(&Certify {
                    key_id: enrolled.key_id.clone(),
                    csr: hex(&csr.to_der()?),
                })?,
            )?;
            let certs = load_certificates(&pem).context("the certificate from the server")?;
            if certs.first().map(|c| {
                c.tbs_certificate()
                    .subject_public_key_info()
                    .subject_public_key
                    .raw_bytes()
            }) != Some(public.as_slice())
            {
                bail!("the server certified another key");
            }
            std::fs::write(with_extension(&args.out, "share"), share.seal(&password)?)?;
            std::fs::write(with_extension(&args.out, "pem"), &pem)?;
            std::fs::write(
                with_extension(&args.out, "json"),
                serde_json::to_vec_pretty(&Enrolment {
                    server,
                    key_id: enrolled.key_id,
                    public_key: hex(&public),
                    routes,
                })?,
            )?;
            crate::print_out(&format!(
                "enrolled; certificate {}\n",
                with_extension(&args.out, "pem").display()
            ));
        }
        CosignCommand::Autosign(args) => {
            let enrolment = args.phone.enrolment()?;
            if enrolment.routes == legacy_routes() {
                bail!("auto-sign is a platform feature: enrol with `qz cosign enroll --code`");
            }
            let share = args.phone.share()?;
            let body = serde_json::json!({
                "hours": args.hours,
                "key_id": enrolment.key_id,
                "client_share": hex(&share.to_bytes()),
            });
            let session = Session::from_env(&args.session)?;
            let text = session.post(&format!("{}/api/v1/me/autosign", enrolment.server), &body)?;
            crate::print_out(&format!("{text}\n"));
        }
        CosignCommand::Confirm(args) => {
            #[derive(Deserialize)]
            struct Document {
                idx: i64,
                to_be_signed: String,
            }
            #[derive(Deserialize)]
            struct Pending {
                id: String,
                method: String,
                documents: Vec<Document>,
            }
            let enrolment = args.phone.enrolment()?;
            let share = args.phone.share()?;
            let public = unhex(&enrolment.public_key)?;
            let session = Session::from_env(&args.session)?;
            let api = format!("{}/api/v1", enrolment.server);
            let pending: Vec<Pending> = match &args.pending {
                Some(id) => vec![serde_json::from_str(
                    &session.get(&format!("{api}/pending-signatures/{id}"))?,
                )?],
                None => serde_json::from_str(&session.get(&format!("{api}/me/pending-signatures"))?)?,
            };
            let mut confirmed = 0;
            for item in pending.iter().filter(|p| p.method == "cosign") {
                let mut signatures = Vec::new();
                for doc in &item.documents {
                    let signature = cosign(
                        &format!("{}{}", enrolment.server, enrolment.routes),
                        &enrolment.key_id,
                        &share,
                        &public,
                        &unhex(&doc.to_be_signed)?,
                        false,
                        Some(&session),
                    )?;
                    signatures.push(serde_json::json!({ "idx": doc.idx, "signature": hex(&signature) }));
                }
                let flow = session.post(
                    &format!("{api}/pending-signatures/{}/finish", item.id),
                    &serde_json::json!({ "signatures": signatures }),
                )?;
                crate::print_out(&format!("{flow}\n"));
                confirmed += 1;
            }
            if confirmed == 0 {
                bail!("no signature is waiting for this phone");
            }
        }
        CosignCommand::Sign(args) => {
            let enrolment: Enrolment =
                serde_json::from_slice(&std::fs::read(with_extension(&args.key, "json"))?)?;
            let share = ClientShare::open(
                &std::fs::read(with_extension(&args.key, "share"))?,
                &password(&args.password_env)?,
            )?;
            let public = unhex(&enrolment.public_key)?;
            let certs = load_certificates(&std::fs::read(with_extension(&args.key, "pem"))?)?;
            let identity = SignerIdentity::new(certs, Vec::new())?;
            let remote = RemoteSigner {
                algorithm: spki::AlgorithmIdentifierOwned {
                    oid: qz_pki::oid::SM2_WITH_SM3,
                    parameters: None,
                },
                digest: qz_pki::DigestAlgorithm::Sm3,
                max_len: 72,
                public_bits: public.clone(),
            };
            let input = std::fs::read(&args.input)
                .with_context(|| format!("cannot read {}", args.input.display()))?;
            let timestamper = args.tsa.as_ref().map(|url| crate::ltv::HttpTimestamper {
                url: url.clone(),
                digest: qz_pki::DigestAlgorithm::Sm3,
            });
            let now = time::OffsetDateTime::now_utc().to_offset(time::UtcOffset::from_hms(8, 0, 0)?);
            let prepared = qz_cli::signing::prepare_remote(&input, &remote, &identity, 8192, |_| {
                Ok(qz_pdf::SignatureOptions {
                    sub_filter: qz_pdf::SubFilter::Pkcs7Detached,
                    signing_time: crate::sign_cmd::pdf_date(now),
                    name: Some(identity.subject_name()),
                    ..Default::default()
                })
            })?;
            let signature = cosign(
                &format!("{}{}", enrolment.server, enrolment.routes),
                &enrolment.key_id,
                &share,
                &public,
                &prepared.to_be_signed()?,
                false,
                None,
            )?;
            let tail = prepared.finish(
                &signature,
                timestamper.as_ref().map(|t| t as &dyn qz_pki::cms::Timestamper),
            )?;
            std::fs::write(&args.output, [input.as_slice(), &tail].concat())
                .with_context(|| format!("cannot write {}", args.output.display()))?;
        }
    }
    Ok(())
}
