//! Replays the PKI request fuzz seeds and checks the responders' answers to bad input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[test]
fn fuzz_seeds_and_garbage_get_answers() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut count = 0;
    for dir in ["seeds/pki_requests", "regressions/pki_requests"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for entry in entries.flatten() {
            let data = std::fs::read(entry.path()).unwrap();
            qz_pki::fuzzing::respond_to_requests(&data);
            for cut in [0, data.len() / 2, data.len().saturating_sub(1)] {
                qz_pki::fuzzing::respond_to_requests(&data[..cut]);
            }
            count += 1;
        }
    }
    assert!(count >= 3, "missing seeds under {}", root.display());
    for garbage in [&b""[..], b"\x30\x00", b"\x30\x80\x00\x00", b"not der at all"] {
        qz_pki::fuzzing::respond_to_requests(garbage);
    }
}
