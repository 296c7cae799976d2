//! `qz`: the Qianzhang command line.

mod sign_cmd;
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
    /// Stamp seals on a PDF and sign it (one incremental update, one PAdES signature).
    Sign(Box<sign_cmd::SignArgs>),
    /// Verify every signature of a PDF: integrity, trust, revocation, later changes.
    Verify(verify_cmd::VerifyArgs),
    /// Time signing in this process (for comparisons; see also `cargo bench`).
    Bench(sign_cmd::BenchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Sign(args) => sign_cmd::run(*args).map(|()| ExitCode::SUCCESS),
        Command::Verify(args) => verify_cmd::run(args),
        Command::Bench(args) => sign_cmd::bench(args).map(|()| ExitCode::SUCCESS),
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
            // 2 like a BROKEN verdict: the file could not be verified (verify) or signed (sign: 1).
            ExitCode::FAILURE
        }
    }
}
