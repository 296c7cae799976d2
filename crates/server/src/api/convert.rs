//! Word to PDF (#8 item 1): LibreOffice headless (`soffice --convert-to pdf`) in a fresh
//! profile and directory per conversion, one at a time, with a time limit. Without LibreOffice
//! the platform says so plainly instead of failing later.

use std::time::Duration;

use axum::http::StatusCode;

use crate::api::{ApiError, ApiResult};
use crate::app::AppState;

/// Content type of a DOCX upload.
pub const DOCX: &str = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";
/// Content type of a Word 97–2003 upload.
pub const DOC: &str = "application/msword";
/// Largest PDF a conversion may produce.
const MAX_OUTPUT: u64 = 100 * 1024 * 1024;
/// Longest a conversion may take.
const TIMEOUT: Duration = Duration::from_secs(120);

/// Whether `content_type` is a Word document.
pub fn is_word(content_type: &str) -> bool {
    content_type == DOCX || content_type == DOC
}

/// Converts a Word document to PDF.
pub async fn word_to_pdf(state: &AppState, bytes: &[u8], content_type: &str) -> ApiResult<Vec<u8>> {
    let Some(office) = state.config.office.clone() else {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "conversion_unavailable",
            "Word files need LibreOffice on the server (install libreoffice-writer-nogui, or set QZ_OFFICE); upload a PDF instead",
        ));
    };
    // One conversion at a time; a queue that does not move within a minute is refused rather
    // than left to hold requests open.
    let _turn = tokio::time::timeout(Duration::from_secs(60), state.office_jobs.acquire())
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "other Word files are being converted; try again in a minute",
            )
        })?
        .map_err(ApiError::internal)?;
    let bytes = bytes.to_vec();
    let doc = content_type == DOC;
    tokio::task::spawn_blocking(move || convert(&office, &bytes, doc))
        .await
        .map_err(ApiError::internal)?
}

/// Runs LibreOffice on the blocking pool (std's process API: the async runtime is built
/// without its process driver).
fn convert(office: &std::path::Path, bytes: &[u8], doc: bool) -> ApiResult<Vec<u8>> {
    let dir = tempfile::tempdir().map_err(ApiError::internal)?;
    let input = dir
        .path()
        .join(if doc { "document.doc" } else { "document.docx" });
    std::fs::write(&input, bytes).map_err(ApiError::internal)?;
    let profile = format!("file://{}", dir.path().join("profile").display());
    let mut command = std::process::Command::new(office);
    // Its own process group: `soffice` starts `soffice.bin`, and a timeout must stop both.
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let mut child = command
        .arg(format!("-env:UserInstallation={profile}"))
        .args(["--headless", "--norestore", "--convert-to", "pdf", "--outdir"])
        .arg(dir.path())
        .arg(&input)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|err| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "conversion_failed",
                format!("LibreOffice ({}) could not be started: {err}", office.display()),
            )
        })?;
    let started = std::time::Instant::now();
    let status = loop {
        match child.try_wait().map_err(ApiError::internal)? {
            Some(status) => break status,
            None if started.elapsed() > TIMEOUT => {
                let group = format!("-{}", child.id());
                let _ = std::process::Command::new("kill")
                    .args(["-KILL", "--", &group])
                    .status();
                let _ = child.kill();
                let _ = child.wait();
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "conversion_failed",
                    "converting the Word file took longer than two minutes",
                ));
            }
            None => std::thread::sleep(Duration::from_millis(100)),
        }
    };
    let output = dir.path().join("document.pdf");
    if std::fs::metadata(&output).is_ok_and(|m| m.len() > MAX_OUTPUT) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "conversion_failed",
            "the converted PDF is larger than 100 MiB",
        ));
    }
    match std::fs::read(&output) {
        Ok(pdf) if status.success() && pdf.starts_with(b"%PDF-") => Ok(pdf),
        _ => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "conversion_failed",
            "the Word file could not be converted to PDF (is it damaged or password-protected?)",
        )),
    }
}
