//! `qz serve`: the platform. The embedded default needs no configuration: a data directory
//! with the SQLite database, blobs, the platform key and the CA; the first admin's one-time
//! password printed once. Scale-out: `QZ_DATABASE_URL=postgres://…`, `QZ_BLOB_URL=s3://…`,
//! and every instance given the same platform key and CA directory.
//!
//! Settings come from, in order of precedence: command-line flags, `QZ_*` environment
//! variables, the config file (`--config`, or `qz.toml` in the data directory if present),
//! defaults. A bad value stops the start with a message saying what to fix.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, Result, bail};
use clap::Args;
use serde::Deserialize;

use qz_pki::KeyAlgorithm;
use qz_pki::ca::{CaProfile, CertificateAuthority};
use qz_server::config::{IdentitySettings, MailSettings, Secret, ServerConfig, SmsSettings};
use qz_server::secrets::{PlatformKey, hash_password};
use qz_store::blobs::BlobStore;
use qz_store::{Store, TrailContext};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Config file (TOML; keys as the flags with underscores, e.g. `database_url`).
    #[arg(long, env = "QZ_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory (database, blobs, platform key, CA).
    #[arg(long, env = "QZ_DATA_DIR")]
    data: Option<PathBuf>,
    /// Address to listen on (default 127.0.0.1:8080).
    #[arg(long, env = "QZ_LISTEN")]
    listen: Option<String>,
    /// Database: sqlite://PATH or postgres://… (default: SQLite in the data directory).
    #[arg(long, env = "QZ_DATABASE_URL")]
    database_url: Option<String>,
    /// Blob storage: a directory, or s3://BUCKET?endpoint=URL&region=R (default DATA/blobs).
    #[arg(long, env = "QZ_BLOB_URL")]
    blob_url: Option<String>,
    /// Public base URL (links, certificates' AIA and CRL DP; https turns on Secure cookies).
    #[arg(long, env = "QZ_BASE_URL")]
    base_url: Option<String>,
    /// The CA directory (default DATA/ca; share it between instances).
    #[arg(long, env = "QZ_CA_DIR")]
    ca_dir: Option<PathBuf>,
    /// Platform key, 64 hex digits (default: DATA/platform.key, created on first start).
    #[arg(long, env = "QZ_PLATFORM_KEY", hide_env_values = true)]
    platform_key: Option<String>,
    /// Session lifetime in seconds (default 43200).
    #[arg(long, env = "QZ_SESSION_TTL")]
    session_ttl: Option<i64>,
    /// Authentication requests per minute per client address (default 30).
    #[arg(long, env = "QZ_AUTH_RATE_PER_MINUTE")]
    auth_rate_per_minute: Option<u32>,
    /// SMS and e-mails per recipient per hour (default 20).
    #[arg(long, env = "QZ_MESSAGES_PER_HOUR")]
    messages_per_hour: Option<i64>,
    /// Largest upload in MiB (default 10).
    #[arg(long, env = "QZ_MAX_UPLOAD_MB")]
    max_upload_mb: Option<usize>,
    /// Trust X-Forwarded-For (only behind a proxy that sets it).
    #[arg(long, env = "QZ_TRUST_PROXY")]
    trust_proxy: Option<bool>,
    /// SMS provider endpoint (none: the development outbox).
    #[arg(long, env = "QZ_SMS_URL")]
    sms_url: Option<String>,
    /// SMS provider API key.
    #[arg(long, env = "QZ_SMS_KEY", hide_env_values = true)]
    sms_key: Option<String>,
    /// SMTP relay: smtp://host:port, smtp+starttls://…, smtps://… (none: development outbox).
    #[arg(long, env = "QZ_SMTP_URL")]
    smtp_url: Option<String>,
    /// Sender address.
    #[arg(long, env = "QZ_SMTP_FROM")]
    smtp_from: Option<String>,
    /// SMTP login.
    #[arg(long, env = "QZ_SMTP_USERNAME")]
    smtp_username: Option<String>,
    /// SMTP password.
    #[arg(long, env = "QZ_SMTP_PASSWORD", hide_env_values = true)]
    smtp_password: Option<String>,
    /// Identity provider endpoint (none: the development provider, which accepts any
    /// well-formed ID number).
    #[arg(long, env = "QZ_IDENTITY_URL")]
    identity_url: Option<String>,
    /// Identity provider API key.
    #[arg(long, env = "QZ_IDENTITY_KEY", hide_env_values = true)]
    identity_key: Option<String>,
    /// Persons' keys: hosted, cosign (split with the phone, SM2 only) or auto (default: cosign
    /// when the CA is SM2, hosted otherwise).
    #[arg(long, env = "QZ_PERSON_CUSTODY")]
    person_custody: Option<String>,
    /// Algorithms of the CA created on first start: intl (ECDSA P-256, default) or sm2 (the
    /// national profile).
    #[arg(long, env = "QZ_CA_PROFILE")]
    ca_profile: Option<String>,
    /// CJK font for the documents the platform writes (completion reports): PATH or PATH:INDEX
    /// (default: the first of wqy-zenhei, wqy-microhei, Noto CJK found).
    #[arg(long, env = "QZ_FONT")]
    font: Option<String>,
    /// Word to PDF converter (LibreOffice): the `soffice` program (default: soffice or
    /// libreoffice on PATH; "none" turns conversion off).
    #[arg(long, env = "QZ_OFFICE")]
    office: Option<String>,
}

/// The config file: the same settings as the flags.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data: Option<PathBuf>,
    listen: Option<String>,
    database_url: Option<String>,
    blob_url: Option<String>,
    base_url: Option<String>,
    ca_dir: Option<PathBuf>,
    platform_key: Option<String>,
    session_ttl: Option<i64>,
    auth_rate_per_minute: Option<u32>,
    messages_per_hour: Option<i64>,
    max_upload_mb: Option<usize>,
    trust_proxy: Option<bool>,
    sms_url: Option<String>,
    sms_key: Option<String>,
    smtp_url: Option<String>,
    smtp_from: Option<String>,
    smtp_username: Option<String>,
    smtp_password: Option<String>,
    identity_url: Option<String>,
    identity_key: Option<String>,
    person_custody: Option<String>,
    ca_profile: Option<String>,
    font: Option<String>,
    office: Option<String>,
}

const KNOWN_VARIABLES: &[&str] = &[
    "QZ_CONFIG",
    "QZ_FONT",
    "QZ_OFFICE",
    "QZ_DATA_DIR",
    "QZ_LISTEN",
    "QZ_DATABASE_URL",
    "QZ_BLOB_URL",
    "QZ_BASE_URL",
    "QZ_CA_DIR",
    "QZ_PLATFORM_KEY",
    "QZ_SESSION_TTL",
    "QZ_AUTH_RATE_PER_MINUTE",
    "QZ_MESSAGES_PER_HOUR",
    "QZ_MAX_UPLOAD_MB",
    "QZ_TRUST_PROXY",
    "QZ_SMS_URL",
    "QZ_SMS_KEY",
    "QZ_SMTP_URL",
    "QZ_SMTP_FROM",
    "QZ_SMTP_USERNAME",
    "QZ_SMTP_PASSWORD",
    "QZ_IDENTITY_URL",
    "QZ_IDENTITY_KEY",
    "QZ_PERSON_CUSTODY",
    "QZ_CA_PROFILE",
    // The web front end: assets from disk (development), a fixed captcha (browser tests).
    "QZ_WEB_DIR",
    "QZ_INSECURE_FIXED_CAPTCHA",
    // Read by other commands and by the tests.
    "QZ_BIN",
    "QZ_TEST_POSTGRES",
    "QZ_SKIP_LINT",
];

/// Settings after merging, checked.
struct Settings {
    data: PathBuf,
    address: SocketAddr,
    database_url: String,
    blob_url: String,
    base_url: String,
    ca_dir: PathBuf,
    platform_key: Option<String>,
    ca_profile: CaProfile,
    server: ServerConfig,
}

fn merge(args: ServeArgs) -> Result<Settings> {
    for (name, _) in std::env::vars() {
        if name.starts_with("QZ_") && !KNOWN_VARIABLES.contains(&name.as_str()) {
            eprintln!("qz: warning: unknown environment variable {name} (ignored)");
        }
    }
    let default_data = args.data.clone().unwrap_or_else(|| PathBuf::from("./data"));
    let config_path = args
        .config
        .clone()
        .or_else(|| Some(default_data.join("qz.toml")).filter(|p| p.exists()));
    let file: FileConfig = match &config_path {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the config file {}", path.display()))?;
            toml::from_str(&text)
                .with_context(|| format!("the config file {} is not valid", path.display()))?
        }
        None => FileConfig::default(),
    };
    let data = args.data.or(file.data).unwrap_or_else(|| PathBuf::from("./data"));
    let listen = args
        .listen
        .or(file.listen)
        .unwrap_or_else(|| "127.0.0.1:8080".into());
    let address: SocketAddr = listen.parse().with_context(|| {
        format!("listen {listen:?} must be HOST:PORT, e.g. 127.0.0.1:8080 (QZ_LISTEN / --listen)")
    })?;
    let database_url = match args.database_url.or(file.database_url) {
        Some(url) if url.starts_with("sqlite:") || url.starts_with("postgres") => url,
        Some(url) => bail!("database_url {url:?} must start with sqlite: or postgres:// (QZ_DATABASE_URL)"),
        None => format!("sqlite://{}?mode=rwc", data.join("qz.db").display()),
    };
    let blob_url = args
        .blob_url
        .or(file.blob_url)
        .unwrap_or_else(|| data.join("blobs").display().to_string());
    // Without a configured URL, the address actually bound decides it (see `run`).
    let base_url = args.base_url.or(file.base_url).unwrap_or_default();
    if !(base_url.is_empty() || base_url.starts_with("http://") || base_url.starts_with("https://")) {
        bail!("base_url {base_url:?} must start with http:// or https:// (QZ_BASE_URL)");
    }
    let defaults = ServerConfig::default();
    let session_ttl = args
        .session_ttl
        .or(file.session_ttl)
        .unwrap_or(defaults.session_ttl);
    if !(300..=30 * 86_400).contains(&session_ttl) {
        bail!("session_ttl {session_ttl} must be between 300 and 2592000 seconds (QZ_SESSION_TTL)");
    }
    let max_upload_mb = args.max_upload_mb.or(file.max_upload_mb).unwrap_or(10);
    if !(1..=1024).contains(&max_upload_mb) {
        bail!("max_upload_mb {max_upload_mb} must be between 1 and 1024 (QZ_MAX_UPLOAD_MB)");
    }
    let sms = match (args.sms_url.or(file.sms_url), args.sms_key.or(file.sms_key)) {
        (None, _) => SmsSettings::Development,
        (Some(url), Some(key)) if url.starts_with("http") => SmsSettings::Http {
            url,
            key: Secret(key),
        },
        (Some(_), _) => bail!("sms_url must be an http(s) URL and needs sms_key (QZ_SMS_URL, QZ_SMS_KEY)"),
    };
    let mail = match args.smtp_url.or(file.smtp_url) {
        None => MailSettings::Development,
        Some(url) => {
            if !(url.starts_with("smtp://")
                || url.starts_with("smtps://")
                || url.starts_with("smtp+starttls://"))
            {
                bail!("smtp_url {url:?} must start with smtp://, smtp+starttls:// or smtps:// (QZ_SMTP_URL)");
            }
            let from = args
                .smtp_from
                .or(file.smtp_from)
                .context("smtp_url needs smtp_from, the sender address (QZ_SMTP_FROM)")?;
            MailSettings::Smtp {
                url,
                from,
                username: args.smtp_username.or(file.smtp_username),
                password: Secret(args.smtp_password.or(file.smtp_password).unwrap_or_default()),
            }
        }
    };
    let identity = match (
        args.identity_url.or(file.identity_url),
        args.identity_key.or(file.identity_key),
    ) {
        (None, _) => IdentitySettings::Development,
        (Some(url), Some(key)) if url.starts_with("http") && key.len() >= 16 => IdentitySettings::Http {
            url,
            key: Secret(key),
        },
        (Some(_), _) => bail!(
            "identity_url must be an http(s) URL and needs identity_key of at least 16 characters (QZ_IDENTITY_URL, QZ_IDENTITY_KEY)"
        ),
    };
    let person_custody = match args.person_custody.or(file.person_custody).as_deref() {
        None | Some("auto") => None,
        Some("hosted") => Some(qz_store::Custody::Hosted),
        Some("cosign") => Some(qz_store::Custody::Cosign),
        Some(other) => bail!("person_custody {other:?} must be hosted, cosign or auto (QZ_PERSON_CUSTODY)"),
    };
    let ca_profile = match args.ca_profile.or(file.ca_profile).as_deref() {
        None | Some("intl") => CaProfile::Intl,
        Some("sm2") => CaProfile::Sm2,
        Some(other) => bail!("ca_profile {other:?} must be intl or sm2 (QZ_CA_PROFILE)"),
    };
    let font = match args.font.or(file.font) {
        Some(spec) => {
            let (path, index) = match spec.rsplit_once(':') {
                Some((path, index)) if !index.is_empty() && index.chars().all(|c| c.is_ascii_digit()) => {
                    (PathBuf::from(path), Some(index.parse::<u32>()?))
                }
                _ => (PathBuf::from(&spec), None),
            };
            qz_pdf::Font::load_file(&path, index).with_context(|| format!("font {spec} (QZ_FONT)"))?;
            Some((path, index))
        }
        None => None,
    };
    let office = match args.office.or(file.office).as_deref() {
        Some("none") => None,
        Some(program) => Some(PathBuf::from(program)),
        None => ["soffice", "libreoffice"].iter().find_map(|name| which(name)),
    };
    let server = ServerConfig {
        font,
        office,
        person_custody,
        base_url: base_url.clone(),
        session_ttl,
        auth_rate_per_minute: args
            .auth_rate_per_minute
            .or(file.auth_rate_per_minute)
            .unwrap_or(defaults.auth_rate_per_minute)
            .max(1),
        max_upload: max_upload_mb * 1024 * 1024,
        sms,
        mail,
        identity,
        messages_per_hour: args
            .messages_per_hour
            .or(file.messages_per_hour)
            .unwrap_or(defaults.messages_per_hour)
            .max(1),
        trust_proxy: args.trust_proxy.or(file.trust_proxy).unwrap_or(false),
    };
    Ok(Settings {
        ca_dir: args.ca_dir.or(file.ca_dir).unwrap_or_else(|| data.join("ca")),
        platform_key: args.platform_key.or(file.platform_key),
        ca_profile,
        data,
        address,
        database_url,
        blob_url,
        base_url,
        server,
    })
}

/// The platform key: configured, or the data directory's (created 0600 on first start).
fn platform_key(settings: &Settings) -> Result<PlatformKey> {
    if let Some(hex) = &settings.platform_key {
        return PlatformKey::from_hex(hex).context("QZ_PLATFORM_KEY / platform_key");
    }
    let path = settings.data.join("platform.key");
    if !path.exists() {
        let hex = PlatformKey::generate_hex()?;
        crate::ca_cmd::write_secret(&path, hex.as_bytes(), false)?;
        eprintln!("qz: created the platform key {}", path.display());
    }
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read the platform key {}", path.display()))?;
    PlatformKey::from_hex(&text).with_context(|| format!("the platform key {}", path.display()))
}

/// The public URL when none is configured: the bound address, with 127.0.0.1 for an
/// unspecified one (it goes into certificates as their OCSP and CRL address, so port 0 or
/// 0.0.0.0 would make them unreachable).
fn default_base_url(bound: SocketAddr) -> String {
    let host = match bound.ip() {
        ip if ip.is_unspecified() => "127.0.0.1".to_owned(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    format!("http://{host}:{}", bound.port())
}

pub fn run(args: ServeArgs) -> Result<()> {
    let mut settings = merge(args)?;
    std::fs::create_dir_all(&settings.data)
        .with_context(|| format!("cannot create the data directory {}", settings.data.display()))?;
    // Bound before anything else, so the default public URL carries the real port.
    let std_listener = std::net::TcpListener::bind(settings.address)
        .with_context(|| format!("cannot listen on {} (QZ_LISTEN)", settings.address))?;
    std_listener.set_nonblocking(true)?;
    if settings.base_url.is_empty() {
        settings.base_url = default_base_url(std_listener.local_addr()?);
        if settings.address.ip().is_unspecified() {
            eprintln!(
                "qz: warning: listening on all interfaces without QZ_BASE_URL; links and certificates name {}",
                settings.base_url
            );
        }
    }
    settings.server.base_url = settings.base_url.clone();
    if !settings.ca_dir.join("root.pem").exists() {
        CertificateAuthority::init(
            &settings.ca_dir,
            settings.ca_profile,
            KeyAlgorithm::P256,
            Some(settings.base_url.clone()),
            "Qianzhang",
        )
        .context("creating the CA on first start")?;
        eprintln!("qz: created the CA in {}", settings.ca_dir.display());
    }
    let pki = Arc::new(qz_server::pki::PkiServices::open(&settings.ca_dir)?);
    let key = platform_key(&settings)?;
    let blobs = BlobStore::from_url(&settings.blob_url)
        .with_context(|| format!("blob storage {:?} (QZ_BLOB_URL)", settings.blob_url))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let store = Store::connect(&settings.database_url)
            .await
            .context("opening the database (QZ_DATABASE_URL)")?;
        let check = key.check_value();
        if store.setting_or_insert("platform_key_check", &check).await? != check {
            bail!(
                "this instance's platform key differs from the one the database was set up with: \
                 give every instance the same key (QZ_PLATFORM_KEY or DATA/platform.key)"
            );
        }
        blobs
            .ping()
            .await
            .with_context(|| format!("blob storage {} does not answer (QZ_BLOB_URL)", blobs.describe()))?;
        let mut random = [0u8; 12];
        getrandom::fill(&mut random).map_err(|e| anyhow::anyhow!("{e}"))?;
        let password: String = random.iter().map(|b| format!("{b:02x}")).collect();
        if store
            .create_first_admin(&hash_password(&password)?, &TrailContext::default())
            .await?
        {
            // Printed once, never stored in clear or logged elsewhere.
            eprintln!("qz: first start — admin login \"admin\", one-time password: {password}");
        }
        let listener = tokio::net::TcpListener::from_std(std_listener)
            .with_context(|| format!("cannot listen on {} (QZ_LISTEN)", settings.address))?;
        eprintln!(
            "qz: serving on http://{} ({:?} database, blobs in {}{}{})",
            listener.local_addr()?,
            store.backend(),
            blobs.describe(),
            if settings.server.sms == SmsSettings::Development {
                "; SMS to the development outbox"
            } else {
                ""
            },
            if settings.server.identity == IdentitySettings::Development {
                "; DEVELOPMENT identity provider: any well-formed ID number passes"
            } else {
                ""
            },
        );
        let sender = Arc::new(qz_server::notify::Sender::new(store.clone(), &settings.server));
        let worker = qz_server::notify::spawn(sender);
        let state = Arc::new(qz_server::app::AppState::new(
            store,
            blobs,
            key,
            settings.server,
            pki,
        ));
        if state.pki.key_algorithm() != KeyAlgorithm::Sm2
            && state.config.person_custody == Some(qz_store::Custody::Cosign)
        {
            bail!("person_custody = cosign needs an SM2 CA (co-signing is SM2 only): ca_profile = sm2 on first start");
        }
        // Other instances' certificate changes reach this one's OCSP responder and CRL here, and
        // flows past their deadline expire (each instance may run it: the update is conditional).
        let syncer = {
            let state = state.clone();
            tokio::spawn(async move {
                for round in 0u64.. {
                    if round % 60 == 0 {
                        qz_server::credentials::full_sync(&state).await;
                    }
                    if round % 12 == 0 {
                        qz_server::api::flows::expire_due(&state).await;
                    }
                    qz_server::credentials::sync_revocations(&state).await;
                    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                }
            })
        };
        qz_server::app::serve(listener, qz_server::app::router(state)).await?;
        syncer.abort();
        worker.abort();
        eprintln!("qz: stopped");
        anyhow::Ok(())
    })
}

/// A program on PATH.
fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}
