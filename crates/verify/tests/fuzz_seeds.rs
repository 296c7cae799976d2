//! Replays the verifier's fuzz seeds (and saved crash inputs) as ordinary tests.

#[test]
fn fuzz_seeds_do_not_panic() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut count = 0;
    for dir in ["seeds/verify_pdf", "regressions/verify_pdf", "seeds/open_pdf"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for entry in entries.flatten() {
            let data = std::fs::read(entry.path()).unwrap_or_default();
            let _ = qz_verify::verify(&data, &qz_verify::VerifyOptions::default());
            count += 1;
        }
    }
    assert!(count > 0, "no fuzz seeds found under {}", root.display());
}
