//! `qz admin …`: operator commands that work on the database directly.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::Subcommand;

use qz_store::{Store, StoreError};

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Check every hash chain of the audit trail; exit 1 and name the first broken event.
    VerifyTrail {
        /// Data directory (its SQLite database is used unless --database-url is given).
        #[arg(long, env = "QZ_DATA_DIR", default_value = "./data")]
        data: PathBuf,
        /// Database URL (sqlite://… or postgres://…).
        #[arg(long, env = "QZ_DATABASE_URL")]
        database_url: Option<String>,
    },
}

pub fn run(command: AdminCommand) -> Result<ExitCode> {
    match command {
        AdminCommand::VerifyTrail { data, database_url } => {
            let url = database_url.unwrap_or_else(|| {
                // mode=rw: checking must not create an empty database by mistake.
                format!("sqlite://{}?mode=rw", data.join("qz.db").display())
            });
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let store = Store::connect(&url)
                    .await
                    .with_context(|| format!("opening the database {url}"))?;
                match store.verify_trail().await {
                    Ok(events) => {
                        crate::print_out(&format!("trail ok: {events} events, every chain intact\n"));
                        Ok(ExitCode::SUCCESS)
                    }
                    Err(err @ StoreError::BrokenTrail { .. }) => {
                        crate::print_out(&format!("trail BROKEN: {err}\n"));
                        Ok(ExitCode::from(1))
                    }
                    Err(err) => Err(err.into()),
                }
            })
        }
    }
}
