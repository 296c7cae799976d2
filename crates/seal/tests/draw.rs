//! Generated seal images: size at the asked resolution, transparent background, seal-red ink,
//! and a match with the committed reference renderings (reviewed by eye) within a tolerance,
//! so a change in layout shows up while small font-rasterizer differences do not.
//! `QZ_UPDATE_SEAL_REFERENCES=1 cargo test -p qz-seal --test draw` rewrites the references.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use qz_seal::draw::{DrawError, DrawKind, SealDrawing, render_png};

fn cases() -> Vec<(&'static str, SealDrawing)> {
    let seal = |kind, text: &str, label: Option<&str>, code: Option<&str>| SealDrawing {
        kind,
        text: text.into(),
        label: label.map(Into::into),
        code: code.map(Into::into),
        dpi: 150.0,
    };
    vec![
        (
            "official",
            seal(DrawKind::Official, "示例科技有限公司", None, None),
        ),
        (
            "contract",
            seal(DrawKind::Contract, "武汉示例大学", None, Some("4201060012345")),
        ),
        (
            "finance",
            seal(DrawKind::Finance, "石家庄示例信息技术股份有限公司", None, None),
        ),
        (
            "oval",
            seal(
                DrawKind::Oval,
                "示例科技有限公司",
                Some("合同专用章"),
                Some("91350100M000100Y43"),
            ),
        ),
        ("name2", seal(DrawKind::Name, "李四", None, None)),
        ("name3", seal(DrawKind::Name, "张三丰", None, None)),
        ("name4", seal(DrawKind::Name, "欧阳娜娜", None, None)),
        ("date", seal(DrawKind::Date, "2026年12月03日", None, None)),
    ]
}

fn decode(png: &[u8]) -> image::RgbaImage {
    image::load_from_memory(png).unwrap().to_rgba8()
}

#[test]
fn seals_match_their_references() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference");
    let update = std::env::var_os("QZ_UPDATE_SEAL_REFERENCES").is_some();
    for (name, drawing) in cases() {
        let png = match render_png(&drawing) {
            Ok(png) => png,
            Err(DrawError::NoFont) => panic!("no CJK font: run scripts/setup-test-env"),
            Err(err) => panic!("{name}: {err}"),
        };
        let image = decode(&png);
        // Size: millimetres at 150 dpi.
        let expected_width = match drawing.kind {
            DrawKind::Official => 248,
            DrawKind::Contract => 236,
            DrawKind::Finance => 224,
            DrawKind::Oval => 266,
            DrawKind::Name => 106,
            DrawKind::Date => image.width(),
        };
        assert_eq!(image.width(), expected_width, "{name}");
        // Transparent corners, red ink, nothing else.
        // (A name seal's square border reaches its corners.)
        if drawing.kind != DrawKind::Name {
            assert_eq!(image.get_pixel(0, 0)[3], 0, "{name}: corner not transparent");
        }
        let inked: Vec<_> = image.pixels().filter(|p| p[3] > 200).collect();
        assert!(inked.len() > 500, "{name}: almost no ink");
        assert!(
            inked.iter().all(|p| p[0] > 150 && p[1] < 90 && p[2] < 90),
            "{name}: ink that is not seal red"
        );
        let path = dir.join(format!("{name}.png"));
        if update || !path.exists() {
            std::fs::write(&path, &png).unwrap();
            continue;
        }
        let reference = decode(&std::fs::read(&path).unwrap());
        assert_eq!(reference.dimensions(), image.dimensions(), "{name}");
        let differing = image
            .pixels()
            .zip(reference.pixels())
            .filter(|(a, b)| a[3].abs_diff(b[3]) > 96)
            .count();
        let share = differing as f64 / f64::from(image.width() * image.height());
        assert!(
            share < 0.02,
            "{name}: {:.1} % of pixels differ from the reference",
            share * 100.0
        );
    }
}

#[test]
fn bad_texts_are_refused() {
    let seal = |kind, text: &str| SealDrawing {
        kind,
        text: text.into(),
        label: None,
        code: None,
        dpi: 150.0,
    };
    assert!(render_png(&seal(DrawKind::Name, "张")).is_err());
    assert!(render_png(&seal(DrawKind::Name, "一二三四五")).is_err());
    assert!(render_png(&seal(DrawKind::Official, "  ")).is_err());
    assert!(render_png(&seal(DrawKind::Official, &"字".repeat(25))).is_err());
    // Markup in the text is drawn as text, not interpreted.
    assert!(render_png(&seal(DrawKind::Official, "<g>&\"公司\"</g>")).is_ok());
}
