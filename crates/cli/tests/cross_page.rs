//! A cross-page seal on a one-page document puts the whole seal at the right edge instead of
//! failing: outside checks stamp 骑缝章 on whatever documents they have.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

#[test]
fn one_page_cross_page_seal_signs() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures");
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.pdf");
    let body = "%PDF-1.7\n1 0 obj\n<</Type/Catalog/Pages 2 0 R>>\nendobj\n2 0 obj\n<</Type/Pages/Kids[3 0 R]/Count 1>>\nendobj\n3 0 obj\n<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>\nendobj\n";
    let offsets: Vec<usize> = ["1 0 obj", "2 0 obj", "3 0 obj"]
        .iter()
        .map(|n| body.find(n).unwrap())
        .collect();
    let mut pdf = body.as_bytes().to_vec();
    let xref = pdf.len();
    pdf.extend_from_slice(b"xref\n0 4\n0000000000 65535 f\r\n");
    for o in offsets {
        pdf.extend_from_slice(format!("{o:010} 00000 n\r\n").as_bytes());
    }
    pdf.extend_from_slice(format!("trailer\n<</Size 4/Root 1 0 R>>\nstartxref\n{xref}\n%%EOF\n").as_bytes());
    std::fs::write(&input, pdf).unwrap();
    let output = dir.path().join("out.pdf");
    let status = Command::new(env!("CARGO_BIN_EXE_qz"))
        .arg("sign")
        .arg(&input)
        .arg("-o")
        .arg(&output)
        .arg("--key")
        .arg(fixtures.join("bench-ecdsa.key"))
        .arg("--cert")
        .arg(fixtures.join("bench-ecdsa.pem"))
        .arg("--seal")
        .arg(fixtures.join("seal.png"))
        .args(["--cross-page", "all"])
        .status()
        .unwrap();
    assert!(status.success());
    let report = Command::new(env!("CARGO_BIN_EXE_qz"))
        .arg("verify")
        .arg("--json")
        .arg(&output)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&report.stdout);
    assert!(text.contains("\"verdict\": \"VALID\""), "{text}");
    // The whole 42 mm seal, flush with the right edge of the 595 pt page.
    assert!(text.contains("\"page\": 1"), "{text}");
    assert!(text.contains("475.94"), "{text}");
}
