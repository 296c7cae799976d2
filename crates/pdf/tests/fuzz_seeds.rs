//! Replays the fuzz seeds and any crash inputs saved under `fuzz/` as ordinary tests, so CI
//! covers them without a nightly toolchain.

#[test]
fn fuzz_seeds_do_not_panic() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut count = 0;
    for dir in ["seeds/open_pdf", "regressions/open_pdf"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for entry in entries.flatten() {
            let data = std::fs::read(entry.path()).unwrap_or_default();
            qz_pdf::fuzzing::open_and_prepare(&data);
            count += 1;
        }
    }
    assert!(count > 0, "no fuzz seeds found under {}", root.display());
}

#[test]
fn render_seeds_do_not_panic() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut count = 0;
    for dir in ["seeds/render_page", "regressions/render_page"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for entry in entries.flatten() {
            let data = std::fs::read(entry.path()).unwrap_or_default();
            qz_pdf::fuzzing::render_first_page(&data);
            count += 1;
        }
    }
    assert!(count > 0, "no render seeds found under {}", root.display());
}
