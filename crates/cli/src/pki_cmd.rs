//! `qz pki serve`: the CA's network services.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, Result};
use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum PkiCommand {
    /// Serve CRLs, CA certificates, OCSP and RFC 3161 timestamps for the CA in DIR.
    Serve(ServeArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// CA directory (from `qz ca init`).
    #[arg(long)]
    dir: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
}

pub fn run(command: PkiCommand) -> Result<()> {
    match command {
        PkiCommand::Serve(args) => {
            let services = Arc::new(qz_server::pki::PkiServices::open(&args.dir)?);
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")?;
            runtime.block_on(async {
                let listener = tokio::net::TcpListener::bind(&args.listen)
                    .await
                    .with_context(|| format!("cannot listen on {}", args.listen))?;
                eprintln!(
                    "qz pki: serving {} on http://{} (/pki/crl/ca.crl, /pki/ocsp, /pki/tsa)",
                    args.dir.display(),
                    listener.local_addr()?
                );
                qz_server::pki::serve(listener, services).await?;
                anyhow::Ok(())
            })
        }
    }
}
