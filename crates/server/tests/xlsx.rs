//! The XLSX tree import: the fuzz seeds parse (or are refused with a row number), and cut or
//! flipped versions of them are refused without a panic.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use qz_server::xlsx::read_tree;

fn seeds() -> Vec<(String, Vec<u8>)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut out = Vec::new();
    for dir in ["seeds/xlsx_import", "regressions/xlsx_import"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for entry in entries.flatten() {
            out.push((
                entry.file_name().to_string_lossy().into_owned(),
                std::fs::read(entry.path()).unwrap(),
            ));
        }
    }
    out
}

#[test]
fn seeds_parse_as_expected() {
    let seeds = seeds();
    assert!(seeds.len() >= 2);
    for (name, data) in &seeds {
        match name.as_str() {
            "tree.xlsx" => assert_eq!(
                read_tree(data).unwrap(),
                [
                    ("U".into(), "示例大学".into(), None),
                    ("C1".into(), "计算机学院".into(), Some("U".into())),
                    ("1001".into(), "软件系".into(), Some("C1".into())),
                ]
            ),
            "duplicate.xlsx" => {
                let err = read_tree(data).unwrap_err();
                assert!(err.contains("row 3") && err.contains("twice"), "{err}");
            }
            _ => {
                let _ = read_tree(data);
            }
        }
    }
}

#[test]
fn damaged_workbooks_are_refused() {
    for (_, data) in seeds() {
        for cut in [0, 10, data.len() / 2, data.len() - 1] {
            assert!(read_tree(&data[..cut]).is_err());
        }
        for position in (0..data.len()).step_by(97) {
            let mut flipped = data.clone();
            flipped[position] ^= 0x55;
            let _ = read_tree(&flipped);
        }
    }
    assert!(read_tree(b"PK\x03\x04 not really a zip").is_err());
}
