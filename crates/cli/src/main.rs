//! `qz`: the Qianzhang command line.

mod admin_cmd;
mod ca_cmd;
mod cosign_cmd;
mod ltv;
mod pki_cmd;
mod seal_cmd;
mod serve_cmd;
mod session;
mod sign_cmd;
mod token_cmd;
mod verify_cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Qianzhang (签章): electronic seals and PDF signatures.
#[derive(Debug, Parser)]
#[command(name = "qz", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the platform (embedded default: SQLite and files in ./data).
    Serve(Box<serve_cmd::ServeArgs>),
    /// Stamp seals on a PDF and sign it (one incremental update, one PAdES signature).
    Sign(Box<sign_cmd::SignArgs>),
    /// Verify every signature of a PDF: integrity, trust, revocation, later changes.
    Verify(verify_cmd::VerifyArgs),
    /// Our own certification authority: init, issue, revoke, crl.
    #[command(subcommand)]
    Ca(ca_cmd::CaCommand),
    /// The CA's network services (CRL, OCSP, TSA).
    #[command(subcommand)]
    Pki(pki_cmd::PkiCommand),
    /// Add fresh validation data (DSS) and a document timestamp to a signed PDF (PAdES B-LTA).
    LtvRefresh {
        /// The signed PDF.
        input: std::path::PathBuf,
        /// Where to write the result.
        #[arg(short, long)]
        output: std::path::PathBuf,
        /// RFC 3161 timestamp authority URL.
        #[arg(long)]
        tsa: String,
    },
    /// GB/T 38540 electronic seals.
    #[command(subcommand)]
    Seal(seal_cmd::SealCommand),
    /// Two-party SM2 signing: the phone's half (enroll, sign).
    #[command(subcommand)]
    Cosign(cosign_cmd::CosignCommand),
    /// The local helper for a token (Ukey) certificate on the platform: enroll, sign-pending.
    #[command(subcommand)]
    Token(token_cmd::TokenCommand),
    /// Operator commands on the platform's database (verify-trail).
    #[command(subcommand)]
    Admin(admin_cmd::AdminCommand),
    /// Time signing in this process (for comparisons; see also `cargo bench`).
    Bench(sign_cmd::BenchArgs),
    /// Render one page of a PDF to PNG (the platform's page images, 页面预览).
    Render {
        /// The PDF.
        input: std::path::PathBuf,
        /// Page, from 1.
        #[arg(long, default_value_t = 1)]
        page: usize,
        /// Width in pixels (100–2400).
        #[arg(long, default_value_t = 900)]
        width: u32,
        /// Where to write the PNG.
        #[arg(short, long)]
        output: std::path::PathBuf,
    },
}

/// Writes to stdout; a closed pipe (`qz verify … | head`) is not an error worth a panic.
pub(crate) fn print_out(text: &str) {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush());
}

fn render(input: &std::path::Path, page: usize, width: u32, output: &std::path::Path) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let pdf = std::fs::read(input).with_context(|| format!("cannot read {}", input.display()))?;
    let png = qz_pdf::render_page(&pdf, page, width)?;
    std::fs::write(output, png).with_context(|| format!("cannot write {}", output.display()))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A file `qz verify` cannot read at all is as unusable as a broken signature: exit 2.
    let error_code = if matches!(cli.command, Command::Verify(_)) {
        2
    } else {
        1
    };
    let result = match cli.command {
        Command::Serve(args) => serve_cmd::run(*args).map(|()| ExitCode::SUCCESS),
        Command::Admin(command) => admin_cmd::run(command),
        Command::Sign(args) => sign_cmd::run(*args).map(|()| ExitCode::SUCCESS),
        Command::Verify(args) => verify_cmd::run(args),
        Command::Ca(command) => ca_cmd::run(command).map(|()| ExitCode::SUCCESS),
        Command::Pki(command) => pki_cmd::run(command).map(|()| ExitCode::SUCCESS),
        Command::LtvRefresh { input, output, tsa } => {
            sign_cmd::ltv_refresh(&input, &output, &tsa).map(|()| ExitCode::SUCCESS)
        }
        Command::Seal(command) => seal_cmd::run(command).map(|()| ExitCode::SUCCESS),
        Command::Cosign(command) => cosign_cmd::run(command).map(|()| ExitCode::SUCCESS),
        Command::Token(command) => token_cmd::run(command).map(|()| ExitCode::SUCCESS),
        Command::Bench(args) => sign_cmd::bench(args).map(|()| ExitCode::SUCCESS),
        Command::Render {
            input,
            page,
            width,
            output,
        } => render(&input, page, width, &output).map(|()| ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            // One line: the chain of causes joined, most specific last.
            let message = err
                .chain()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(": ")
                .replace('\n', " ");
            eprintln!("error: {message}");
            ExitCode::from(error_code)
        }
    }
}
