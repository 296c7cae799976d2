//! Handwriting cleanup on untrusted pictures: the fuzz seeds (and any regressions found by
//! `cargo fuzz run clean_handwriting`) are replayed, and random pictures never panic and give
//! only ink-coloured pixels.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use qz_seal::handwriting::{HandwritingError, Ink, clean, clean_image};

#[test]
fn fuzz_seeds_and_regressions_replay() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut seen = 0;
    for dir in ["seeds/clean_handwriting", "regressions/clean_handwriting"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            let result = clean(&bytes, Ink::Black);
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            match name.as_str() {
                "blank.png" => assert!(matches!(result, Err(HandwritingError::NoInk)), "{name}"),
                n if n.starts_with("stroke") || n.starts_with("canvas") => {
                    let png = result.unwrap_or_else(|e| panic!("{name}: {e}"));
                    let image = image::load_from_memory(&png).unwrap();
                    assert!(image.color().has_alpha(), "{name}");
                }
                _ => {}
            }
            seen += 1;
        }
    }
    assert!(seen >= 4, "the seeds are missing ({seen} files)");
}

#[test]
fn refuses_pictures_too_large_to_clean() {
    // 20 megapixels of grey compress to little; the size is refused before the cleanup
    // allocates its buffers.
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(
            &vec![200u8; 5000 * 4000],
            5000,
            4000,
            image::ExtendedColorType::L8,
        )
        .unwrap();
    assert!(matches!(
        clean(&png, Ink::Black),
        Err(HandwritingError::TooLarge(20))
    ));
}

use image::ImageEncoder as _;

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// Any picture gives either no ink or ink-coloured pixels only, within the output limit.
    #[test]
    fn random_pictures(width in 1u32..80, height in 1u32..80, seed: u64) {
        let mut state = seed | 1;
        let mut rgba = Vec::with_capacity((width * height * 4) as usize);
        for _ in 0..width * height * 4 {
            // xorshift: cheap, reproducible noise.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            rgba.push((state >> 24) as u8);
        }
        let picture = qz_seal::SealImage::from_rgba(width, height, rgba).unwrap();
        match clean_image(&picture, Ink::Blue) {
            Ok(out) => {
                proptest::prop_assert!(out.width() <= width && out.height() <= height);
                proptest::prop_assert!(out.pixels().all(|p| p[0] == 0x12 && p[1] == 0x2a && p[2] == 0x8c));
            }
            Err(HandwritingError::NoInk) => {}
            Err(other) => proptest::prop_assert!(false, "unexpected error {other}"),
        }
    }
}
