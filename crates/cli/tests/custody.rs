//! Key custody through the real `qz` binary: a key on a SoftHSM2 token (PKCS#11), certified by
//! our own CA, signs PDFs; a wrong PIN is refused. Skipped (with a message) where SoftHSM2 or
//! OpenSC's pkcs11-tool are not installed; `scripts/setup-test-env` installs both.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const MODULES: &[&str] = &[
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
];

fn qz() -> Command {
    Command::new(env!("CARGO_BIN_EXE_qz"))
}

fn run(command: &mut Command) -> Output {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(name)
}

/// A one-page PDF written by hand.
fn pdf(path: &Path) {
    let objects = [
        "<</Type/Catalog/Pages 2 0 R>>",
        "<</Type/Pages/Kids[3 0 R]/Count 1>>",
        "<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>",
    ];
    let mut out = b"%PDF-1.7\n".to_vec();
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{body}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(b"xref\n0 4\n0000000000 65535 f\r\n");
    for offset in offsets {
        out.extend_from_slice(format!("{offset:010} 00000 n\r\n").as_bytes());
    }
    out.extend_from_slice(format!("trailer\n<</Size 4/Root 1 0 R>>\nstartxref\n{xref}\n%%EOF\n").as_bytes());
    std::fs::write(path, out).unwrap();
}

#[test]
fn pkcs11_token_signs_and_a_wrong_pin_is_refused() {
    let Some(module) = MODULES.iter().map(Path::new).find(|m| m.exists()) else {
        eprintln!("skipped: SoftHSM2 is not installed (scripts/setup-test-env installs it)");
        return;
    };
    if Command::new("pkcs11-tool").arg("--version").output().is_err() {
        eprintln!("skipped: pkcs11-tool (opensc) is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    std::fs::create_dir_all(&tokens).unwrap();
    let conf = dir.path().join("softhsm2.conf");
    std::fs::write(&conf, format!("directories.tokendir = {}\n", tokens.display())).unwrap();
    let env = [("SOFTHSM2_CONF", conf.as_os_str())];
    run(Command::new("softhsm2-util").envs(env).args([
        "--init-token",
        "--free",
        "--label",
        "qz-test",
        "--pin",
        "1234",
        "--so-pin",
        "5678",
    ]));
    let tool = |args: &[&str]| {
        run(Command::new("pkcs11-tool")
            .envs(env)
            .arg("--module")
            .arg(module)
            .args(["--token-label", "qz-test"])
            .args(args));
    };
    let ca = dir.path().join("ca");
    run(qz().args(["ca", "init", "--dir"]).arg(&ca));
    let input = dir.path().join("in.pdf");
    pdf(&input);
    for (label, key_type, name) in [("ec", "EC:prime256v1", "王五"), ("rsa", "rsa:2048", "赵六")] {
        tool(&[
            "--login",
            "--pin",
            "1234",
            "--keypairgen",
            "--key-type",
            key_type,
            "--label",
            label,
        ]);
        let public_der = dir.path().join(format!("{label}.der"));
        tool(&[
            "--read-object",
            "--type",
            "pubkey",
            "--label",
            label,
            "-o",
            public_der.to_str().unwrap(),
        ]);
        let public_pem = dir.path().join(format!("{label}.pem"));
        run(Command::new("openssl")
            .args(["pkey", "-pubin", "-inform", "DER", "-in"])
            .arg(&public_der)
            .arg("-out")
            .arg(&public_pem));
        let prefix = dir.path().join(format!("{label}-cert"));
        run(qz()
            .args(["ca", "issue", "--kind", "person", "--name", name, "--dir"])
            .arg(&ca)
            .arg("--public-key")
            .arg(&public_pem)
            .arg("--out")
            .arg(&prefix));
        let output = dir.path().join(format!("{label}.pdf"));
        run(qz()
            .envs(env)
            .env("QZ_TEST_PIN", "1234")
            .arg("sign")
            .arg(&input)
            .arg("-o")
            .arg(&output)
            .arg("--pkcs11-module")
            .arg(module)
            .args([
                "--token",
                "qz-test",
                "--key-label",
                label,
                "--pin-env",
                "QZ_TEST_PIN",
                "--cert",
            ])
            .arg(prefix.with_extension("pem"))
            .arg("--seal")
            .arg(fixture("seal.png"))
            .args(["--page", "1", "--rect", "100,100,80,80"]));
        let verified = run(qz()
            .arg("verify")
            .arg(&output)
            .arg("--json")
            .arg("--trust")
            .arg(ca.join("root.pem")));
        let report = String::from_utf8_lossy(&verified.stdout);
        assert!(report.contains("\"verdict\": \"VALID\""), "{report}");
        assert!(report.contains(name), "{report}");
    }
    let refused = qz()
        .envs(env)
        .env("QZ_TEST_PIN", "0000")
        .arg("sign")
        .arg(&input)
        .arg("-o")
        .arg(dir.path().join("no.pdf"))
        .arg("--pkcs11-module")
        .arg(module)
        .args([
            "--token",
            "qz-test",
            "--key-label",
            "ec",
            "--pin-env",
            "QZ_TEST_PIN",
            "--cert",
        ])
        .arg(dir.path().join("ec-cert.pem"))
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("PIN"), "{stderr}");
    assert!(!dir.path().join("no.pdf").exists());
}
