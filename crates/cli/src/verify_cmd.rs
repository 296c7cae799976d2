//! `qz verify`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::Args;

use qz_pki::load_certificates;
use qz_verify::{Report, SignatureStatus, VerifyOptions, verify};

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The signed PDF.
    file: PathBuf,
    /// Trust anchor certificates (PEM or DER; repeatable).
    #[arg(long)]
    trust: Vec<PathBuf>,
    /// Fetch revocation information the file does not embed (CRL and OCSP URLs in the certificates).
    #[arg(long)]
    online: bool,
    /// Print the report as JSON (schema qianzhang.verify/1, see README).
    #[arg(long)]
    json: bool,
}

fn text_report(report: &Report) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "verdict: {:?} ({} revision(s))",
        report.verdict, report.revisions
    );
    for problem in &report.problems {
        let _ = writeln!(out, "  ! {problem}");
    }
    for (i, s) in report.signatures.iter().enumerate() {
        let who = s.signer.as_ref().map_or_else(
            || "(unknown signer)".to_owned(),
            |s| s.common_name.clone().unwrap_or_else(|| s.subject.clone()),
        );
        let status = match s.status {
            SignatureStatus::Valid => "valid",
            SignatureStatus::AllowedChange => "valid, later changes allowed",
            SignatureStatus::Modified => "MODIFIED after signing",
            SignatureStatus::Broken => "BROKEN",
        };
        let _ = writeln!(out, "#{} {} by {who}: {status}", i + 1, s.field);
        let _ = writeln!(
            out,
            "    intact={} valid={} trusted={} coverage={:?} modification={:?} revocation={}",
            s.intact,
            s.valid,
            s.trusted.map_or("n/a".to_owned(), |t| t.to_string()),
            s.coverage,
            s.modification,
            s.revocation.status
        );
        if let Some(time) = &s.signing_time {
            let _ = writeln!(out, "    signing time (claimed): {time}");
        }
        if let Some(ts) = &s.timestamp {
            let _ = writeln!(
                out,
                "    timestamp: {} valid={}",
                ts.time.as_deref().unwrap_or("?"),
                ts.valid
            );
        }
        for mark in &s.marks {
            let _ = writeln!(out, "    mark on page {} at {:?}", mark.page, mark.rect);
        }
        for problem in &s.problems {
            let _ = writeln!(out, "    - {problem}");
        }
    }
    out
}

pub fn run(args: VerifyArgs) -> Result<ExitCode> {
    let mut anchors = Vec::new();
    for path in &args.trust {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read trust anchor {}", path.display()))?;
        anchors
            .extend(load_certificates(&bytes).with_context(|| format!("trust anchor {}", path.display()))?);
    }
    let bytes = std::fs::read(&args.file).with_context(|| format!("cannot read {}", args.file.display()))?;
    let options = VerifyOptions {
        trust_anchors: anchors,
        online: args.online.then(|| {
            std::sync::Arc::new(crate::ltv::OnlineRevocation)
                as std::sync::Arc<dyn qz_verify::RevocationSource>
        }),
        ..VerifyOptions::default()
    };
    let report = verify(&bytes, &options)?;
    let text = if args.json {
        serde_json::to_string_pretty(&report)? + "\n"
    } else {
        text_report(&report)
    };
    crate::print_out(&text);
    Ok(ExitCode::from(report.verdict.exit_code()))
}
