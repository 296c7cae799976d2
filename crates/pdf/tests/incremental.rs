//! Appending signature revisions to documents built here with lopdf, in each xref flavour,
//! and reading the result back.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use lopdf::{Dictionary, Object, Stream, dictionary};
use qz_pdf::{Appearance, Document, Image, Mark, PdfError, Rect, SignatureOptions};

/// A document with the given pages: (MediaBox, Rotate). MediaBox numbers are written as
/// given so the raw-preservation check can look for them.
fn build(pages: &[([f64; 4], i64)], modern: bool) -> Vec<u8> {
    let mut doc = lopdf::Document::with_version("1.7");
    let pages_id = doc.new_object_id();
    let mut kids = Vec::new();
    for (media, rotate) in pages {
        let content = doc.add_object(Stream::new(
            Dictionary::new(),
            b"BT /F1 12 Tf 72 720 Td (Hello) Tj ET".to_vec(),
        ));
        let mut page = dictionary! {
            "Type" => "Page",
            "Parent" => pages_id,
            "MediaBox" => media.iter().map(|v| Object::Real(*v as f32)).collect::<Vec<_>>(),
            "Contents" => content,
        };
        if *rotate != 0 {
            page.set("Rotate", *rotate);
        }
        kids.push(Object::Reference(doc.add_object(page)));
    }
    let count = kids.len() as i64;
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! { "Type" => "Pages", "Kids" => kids, "Count" => count }),
    );
    let catalog = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog);
    let mut out = Vec::new();
    if modern {
        doc.save_modern(&mut out).unwrap();
    } else {
        doc.save_to(&mut out).unwrap();
    }
    out
}

fn red_image() -> Arc<Image> {
    let mut rgba = Vec::new();
    for y in 0..8u32 {
        for _ in 0..8 {
            rgba.extend_from_slice(&[255, 0, 0, if y < 4 { 255 } else { 128 }]);
        }
    }
    Arc::new(Image::from_rgba(8, 8, &rgba).unwrap())
}

fn options(marks: Vec<Mark>) -> SignatureOptions {
    SignatureOptions {
        signing_time: "D:20261122100000+08'00'".into(),
        contents_capacity: 64,
        marks,
        ..Default::default()
    }
}

fn mark(page: usize, rect: [f64; 4]) -> Mark {
    Mark {
        page,
        rect: Rect::new(rect[0], rect[1], rect[2], rect[3]).unwrap(),
        appearance: Appearance::Image(red_image()),
    }
}

/// Signs with a fake CMS; returns the whole new file.
fn sign(input: &[u8], marks: Vec<Mark>) -> Result<Vec<u8>, PdfError> {
    let document = Document::open(input)?;
    let prepared = document.prepare_signature(&options(marks))?;
    let signed_len: usize = prepared.signed_parts(input).iter().map(|p| p.len()).sum();
    let br = prepared.byte_range();
    let tail = prepared.finish(&[0xAB; 40])?;
    let mut out = input.to_vec();
    out.extend_from_slice(&tail);
    assert_eq!(signed_len, out.len() - (br[2] - br[1]));
    Ok(out)
}

fn sig_dicts(doc: &lopdf::Document) -> Vec<Dictionary> {
    doc.objects
        .values()
        .filter_map(|o| o.as_dict().ok())
        .filter(|d| d.get(b"Type").and_then(Object::as_name).ok() == Some(b"Sig"))
        .cloned()
        .collect()
}

fn check_byte_range(file: &[u8], sig: &Dictionary) {
    let br: Vec<i64> = sig
        .get(b"ByteRange")
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o.as_i64().unwrap())
        .collect();
    assert_eq!(br[0], 0);
    assert_eq!(
        (br[2] + br[3]) as usize,
        file.len(),
        "signature must cover up to the end of its revision"
    );
    assert_eq!(file[br[1] as usize], b'<');
    assert_eq!(file[br[2] as usize - 1], b'>');
}

#[test]
fn appends_and_reads_back_in_both_xref_flavours() {
    for modern in [false, true] {
        let input = build(&[([0.0, 0.0, 595.27559, 841.88976], 0)], modern);
        let signed = sign(&input, vec![mark(1, [100.0, 100.0, 50.0, 50.0])]).unwrap();
        assert!(signed.starts_with(&input), "the original must be an exact prefix");
        let doc = lopdf::Document::load_mem(&signed).unwrap();
        assert!(
            doc.xref_recovery.is_none(),
            "our xref section must be exact (modern={modern})"
        );
        let sigs = sig_dicts(&doc);
        assert_eq!(sigs.len(), 1);
        check_byte_range(&signed, &sigs[0]);
        let catalog = doc.catalog().unwrap();
        let form = doc
            .dereference(catalog.get(b"AcroForm").unwrap())
            .unwrap()
            .1
            .as_dict()
            .unwrap();
        assert_eq!(form.get(b"SigFlags").unwrap().as_i64().unwrap(), 3);
        let page = doc.get_dictionary(*doc.get_pages().get(&1).unwrap()).unwrap();
        assert_eq!(page.get(b"Annots").unwrap().as_array().unwrap().len(), 1);

        // A second signer on top keeps the first revision as a prefix and adds a second field.
        let twice = sign(&signed, vec![mark(1, [300.0, 100.0, 50.0, 50.0])]).unwrap();
        assert!(twice.starts_with(&signed));
        let doc = lopdf::Document::load_mem(&twice).unwrap();
        assert!(doc.xref_recovery.is_none());
        assert_eq!(sig_dicts(&doc).len(), 2);
        let page = doc.get_dictionary(*doc.get_pages().get(&1).unwrap()).unwrap();
        assert_eq!(page.get(b"Annots").unwrap().as_array().unwrap().len(), 2);
        let reopened = Document::open(&twice).unwrap();
        let names: Vec<_> = reopened
            .signature_fields()
            .iter()
            .map(|f| f.name.clone())
            .collect();
        assert_eq!(names, ["Signature1", "Signature2"]);
    }
}

#[test]
fn untouched_entries_keep_their_original_bytes() {
    let input = build(&[([0.0, 0.0, 595.27559, 841.88976], 0)], false);
    let text = String::from_utf8_lossy(&input);
    // lopdf writes f32; whatever it wrote must reappear verbatim in our page update.
    let media = text
        .split("/MediaBox")
        .nth(1)
        .and_then(|rest| rest.split(']').next())
        .unwrap()
        .to_owned();
    let signed = sign(&input, vec![mark(1, [10.0, 10.0, 20.0, 20.0])]).unwrap();
    let appended = String::from_utf8_lossy(&signed[input.len()..]);
    assert!(
        appended.contains(&format!("{media}]")),
        "MediaBox rewritten: {appended}"
    );
}

#[test]
fn rotated_and_offset_pages_map_the_rect() {
    let input = build(
        &[
            ([100.0, 200.0, 700.0, 1000.0], 0),
            ([0.0, 0.0, 600.0, 800.0], 90),
            ([0.0, 0.0, 600.0, 800.0], 180),
            ([0.0, 0.0, 600.0, 800.0], 270),
        ],
        false,
    );
    let marks = (1..=4).map(|p| mark(p, [10.0, 20.0, 30.0, 40.0])).collect();
    let signed = sign(&input, marks).unwrap();
    let doc = lopdf::Document::load_mem(&signed).unwrap();
    let pages = doc.get_pages();
    let rect_on = |page: u32| -> Vec<f32> {
        let page = doc.get_dictionary(pages[&page]).unwrap();
        let annots = page.get(b"Annots").unwrap().as_array().unwrap();
        let widget = doc.get_dictionary(annots[0].as_reference().unwrap()).unwrap();
        widget
            .get(b"Rect")
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o.as_float().unwrap())
            .collect()
    };
    assert_eq!(rect_on(1), [110.0, 220.0, 140.0, 260.0]);
    // 90° clockwise: displayed (x, y) is user (w - y, x).
    assert_eq!(rect_on(2), [540.0, 10.0, 580.0, 40.0]);
    assert_eq!(rect_on(3), [560.0, 740.0, 590.0, 780.0]);
    // 270°: displayed (x, y) is user (y, h - x).
    assert_eq!(rect_on(4), [20.0, 760.0, 60.0, 790.0]);
}

#[test]
fn several_marks_are_widgets_of_one_field() {
    let input = build(
        &[([0.0, 0.0, 600.0, 800.0], 0), ([0.0, 0.0, 600.0, 800.0], 0)],
        true,
    );
    let image = red_image();
    let marks = (1..=2)
        .map(|page| Mark {
            page,
            rect: Rect::new(10.0, 10.0, 20.0, 20.0).unwrap(),
            appearance: Appearance::Image(image.clone()),
        })
        .collect();
    let signed = sign(&input, marks).unwrap();
    let doc = lopdf::Document::load_mem(&signed).unwrap();
    let field = doc
        .objects
        .values()
        .filter_map(|o| o.as_dict().ok())
        .find(|d| d.get(b"FT").and_then(Object::as_name).ok() == Some(b"Sig"))
        .unwrap();
    assert_eq!(field.get(b"Kids").unwrap().as_array().unwrap().len(), 2);
    assert!(field.has(b"V"));
    // The two widgets share one image and one appearance stream.
    let images = doc
        .objects
        .values()
        .filter_map(|o| o.as_stream().ok())
        .filter(|s| s.dict.get(b"Subtype").and_then(Object::as_name).ok() == Some(b"Image"))
        .count();
    assert_eq!(images, 2, "one RGB image and its soft mask");
}

#[test]
fn refuses_what_it_cannot_sign() {
    let good = build(&[([0.0, 0.0, 600.0, 800.0], 0)], false);
    assert!(matches!(Document::open(b"hello"), Err(PdfError::NotPdf)));
    assert!(matches!(
        Document::open(&good[..good.len() / 2]),
        Err(PdfError::Truncated)
    ));
    assert!(matches!(
        sign(&good, vec![mark(2, [1.0, 1.0, 2.0, 2.0])]),
        Err(PdfError::PageOutOfRange { page: 2, pages: 1 })
    ));
    assert!(matches!(
        sign(&good, vec![mark(1, [590.0, 1.0, 20.0, 2.0])]),
        Err(PdfError::RectOffPage { .. })
    ));

    // Shift every object by inserting bytes after the header: the xref offsets are now wrong.
    let mut damaged = good.clone();
    let at = damaged.iter().position(|&b| b == b'\n').unwrap() + 1;
    damaged.splice(at..at, b"% padding that moves every object\n".iter().copied());
    assert!(matches!(Document::open(&damaged), Err(PdfError::Damaged(_))));

    let mut encrypted = good.clone();
    let text = String::from_utf8_lossy(&encrypted).into_owned();
    // The last trailer dictionary: after `trailer` in a classic file, the XRef stream's otherwise.
    let anchor = text
        .rfind("trailer")
        .or_else(|| text.rfind("/Type/XRef"))
        .unwrap();
    let dict = text[..anchor + 8]
        .rfind("<<")
        .filter(|&p| p > anchor.saturating_sub(200))
        .map_or_else(|| text[anchor..].find("<<").unwrap() + anchor + 2, |p| p + 2);
    encrypted.splice(
        dict..dict,
        b"/Encrypt << /Filter /Standard /V 2 /R 3 /O <00> /U <00> /P -4 >> "
            .iter()
            .copied(),
    );
    assert!(Document::open(&encrypted).is_err());
}

#[test]
fn contents_overflow_is_an_error_not_a_corrupt_file() {
    let input = build(&[([0.0, 0.0, 600.0, 800.0], 0)], false);
    let document = Document::open(&input).unwrap();
    let prepared = document.prepare_signature(&options(Vec::new())).unwrap();
    assert!(matches!(
        prepared.finish(&[0u8; 65]),
        Err(PdfError::ContentsTooLarge {
            needed: 65,
            reserved: 64
        })
    ));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// Whatever bytes come in, opening never panics.
    #[test]
    fn open_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048)) {
        let mut input = b"%PDF-1.7\n".to_vec();
        input.extend_from_slice(&bytes);
        input.extend_from_slice(b"\nstartxref\n9\n%%EOF\n");
        let _ = Document::open(&input);
    }

    /// Mutating a real file anywhere never panics and never yields a corrupt signature.
    #[test]
    fn mutated_files_fail_cleanly(pos in 0usize..600, byte in proptest::prelude::any::<u8>()) {
        let mut input = build(&[([0.0, 0.0, 600.0, 800.0], 0)], false);
        let pos = pos % input.len();
        input[pos] = byte;
        if let Ok(signed) = sign(&input, vec![mark(1, [10.0, 10.0, 20.0, 20.0])]) {
            proptest::prop_assert!(signed.starts_with(&input));
        }
    }
}
