//! `qz serve`: the platform. The embedded default needs no configuration: a data directory
//! with the SQLite database and blobs, the CA created on first start, the first admin's
//! one-time password printed once.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, Result, bail};
use clap::Args;

use qz_pki::KeyAlgorithm;
use qz_pki::ca::{CaProfile, CertificateAuthority};
use qz_store::{Store, TrailContext};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Data directory (database, blobs, CA).
    #[arg(long, env = "QZ_DATA_DIR", default_value = "./data")]
    data: PathBuf,
    /// Address to listen on.
    #[arg(long, env = "QZ_LISTEN", default_value = "127.0.0.1:8080")]
    listen: String,
    /// Database: sqlite://PATH or postgres://… (default: SQLite in the data directory).
    #[arg(long, env = "QZ_DATABASE_URL")]
    database_url: Option<String>,
    /// Public base URL (goes into certificates' AIA and CRL DP; default http://LISTEN).
    #[arg(long, env = "QZ_BASE_URL")]
    base_url: Option<String>,
}

/// Argon2id with a random salt, as a PHC string.
fn hash_password(password: &str) -> Result<String> {
    use argon2::password_hash::PasswordHasher as _;
    Ok(argon2::Argon2::default()
        .hash_password(password.as_bytes())
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .to_string())
}

pub fn run(args: ServeArgs) -> Result<()> {
    let address: SocketAddr = args.listen.parse().with_context(|| {
        format!(
            "QZ_LISTEN / --listen {:?} must be HOST:PORT, e.g. 127.0.0.1:8080",
            args.listen
        )
    })?;
    std::fs::create_dir_all(args.data.join("blobs"))
        .with_context(|| format!("cannot create the data directory {}", args.data.display()))?;
    let database_url = match &args.database_url {
        Some(url) if url.starts_with("sqlite:") || url.starts_with("postgres") => url.clone(),
        Some(url) => bail!("QZ_DATABASE_URL {url:?} must start with sqlite: or postgres://"),
        None => format!("sqlite://{}?mode=rwc", args.data.join("qz.db").display()),
    };
    let base_url = args
        .base_url
        .clone()
        .unwrap_or_else(|| format!("http://{address}"));
    let ca_dir = args.data.join("ca");
    if !ca_dir.join("root.pem").exists() {
        CertificateAuthority::init(
            &ca_dir,
            CaProfile::Intl,
            KeyAlgorithm::P256,
            Some(base_url),
            "Qianzhang",
        )
        .context("creating the CA on first start")?;
        eprintln!("qz: created the CA in {}", ca_dir.display());
    }
    let pki = Arc::new(qz_server::pki::PkiServices::open(&ca_dir)?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let store = Store::connect(&database_url)
            .await
            .context("opening the database")?;
        if store.user_count().await? == 0 {
            // Printed once, never stored in clear or logged elsewhere.
            let mut random = [0u8; 12];
            getrandom::fill(&mut random).map_err(|e| anyhow::anyhow!("{e}"))?;
            let password: String = random.iter().map(|b| format!("{b:02x}")).collect();
            store
                .create_user(
                    "admin",
                    "管理员",
                    &hash_password(&password)?,
                    &TrailContext::default(),
                )
                .await?;
            eprintln!("qz: first start — admin login \"admin\", one-time password: {password}");
        }
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .with_context(|| format!("cannot listen on {address}"))?;
        eprintln!(
            "qz: serving on http://{} ({:?} database)",
            listener.local_addr()?,
            store.backend()
        );
        let state = Arc::new(qz_server::app::AppState::new(store));
        qz_server::app::serve(listener, qz_server::app::router(state, pki)).await?;
        eprintln!("qz: stopped");
        anyhow::Ok(())
    })
}
