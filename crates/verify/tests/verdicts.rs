//! Verdicts on documents signed in-process and then tampered with at the byte level.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::SystemTime;

use lopdf::{Dictionary, Object, Stream, dictionary};
use qz_pdf::{Document, SignatureOptions};
use qz_pki::{DocumentSigner, PrivateKey, SignerIdentity, load_certificates};
use qz_verify::{Modification, Verdict, VerifyOptions, verify};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/");

fn signer() -> (PrivateKey, SignerIdentity) {
    let key = PrivateKey::from_pem(
        &std::fs::read(format!("{FIXTURES}bench-ecdsa.key")).unwrap(),
        None,
    )
    .unwrap();
    let certs = load_certificates(&std::fs::read(format!("{FIXTURES}bench-ecdsa.pem")).unwrap()).unwrap();
    (key, SignerIdentity::new(certs, Vec::new()).unwrap())
}

fn options() -> VerifyOptions {
    let anchors = load_certificates(&std::fs::read(format!("{FIXTURES}bench-ecdsa.pem")).unwrap()).unwrap();
    VerifyOptions {
        trust_anchors: anchors,
        now: SystemTime::now(),
        online: None,
    }
}

fn unsigned() -> Vec<u8> {
    let mut doc = lopdf::Document::with_version("1.7");
    let pages_id = doc.new_object_id();
    let content = doc.add_object(Stream::new(
        Dictionary::new(),
        b"BT /F1 12 Tf 72 720 Td (Pay 100) Tj ET".to_vec(),
    ));
    // Prepared before signing and unused: the shadow attack swaps it in later.
    doc.add_object(Stream::new(
        Dictionary::new(),
        b"BT /F1 12 Tf 72 720 Td (Pay 999) Tj ET".to_vec(),
    ));
    let page = doc.add_object(dictionary! {
        "Type" => "Page", "Parent" => pages_id, "Contents" => content,
        "MediaBox" => vec![0.into(), 0.into(), 600.into(), 800.into()],
    });
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {"Type" => "Pages", "Kids" => vec![page.into()], "Count" => 1}),
    );
    let catalog = doc.add_object(dictionary! {"Type" => "Catalog", "Pages" => pages_id});
    doc.trailer.set("Root", catalog);
    let mut out = Vec::new();
    doc.save_to(&mut out).unwrap();
    out
}

fn sign(input: &[u8]) -> Vec<u8> {
    let (key, identity) = signer();
    let document = Document::open(input).unwrap();
    let prepared = document
        .prepare_signature(&SignatureOptions {
            signing_time: "D:20261122100000+08'00'".into(),
            contents_capacity: qz_pki::cms::estimated_len(&key, &identity).unwrap(),
            ..Default::default()
        })
        .unwrap();
    let digest = key.digest_algorithm().digest(&prepared.signed_parts(input));
    let cms = qz_pki::cms::signed_data(&key, &identity, &digest).unwrap();
    let mut out = input.to_vec();
    out.extend_from_slice(&prepared.finish(&cms).unwrap());
    out
}

fn verdict(bytes: &[u8]) -> Verdict {
    verify(bytes, &options()).unwrap().verdict
}

/// Appends a classic incremental update redefining `objects` (number, body).
fn append_update(file: &[u8], objects: &[(u32, &str)]) -> Vec<u8> {
    let doc = lopdf::Document::load_mem(file).unwrap();
    let prev = doc.xref_start;
    let root = doc.trailer.get(b"Root").unwrap().as_reference().unwrap();
    let size = doc
        .reference_table
        .size
        .max(objects.iter().map(|(n, _)| n + 1).max().unwrap_or(0));
    let mut out = file.to_vec();
    let mut offsets = Vec::new();
    for (number, body) in objects {
        offsets.push((*number, out.len()));
        out.extend_from_slice(format!("{number} 0 obj\n{body}\nendobj\n").as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(b"xref\n");
    for (number, offset) in offsets {
        out.extend_from_slice(format!("{number} 1\n{offset:010} 00000 n\r\n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<</Size {size}/Root {} 0 R/Prev {prev}>>\nstartxref\n{xref}\n%%EOF\n",
            root.0
        )
        .as_bytes(),
    );
    out
}

fn page_and_content(file: &[u8]) -> (u32, u32, u32) {
    let doc = lopdf::Document::load_mem(file).unwrap();
    let page = *doc.get_pages().get(&1).unwrap();
    let content = doc
        .get_dictionary(page)
        .unwrap()
        .get(b"Contents")
        .unwrap()
        .as_reference()
        .unwrap();
    (page.0, content.0, content.0 + 1)
}

#[test]
fn clean_and_countersigned_documents() {
    let once = sign(&unsigned());
    assert_eq!(verdict(&once), Verdict::Valid);
    let twice = sign(&once);
    let report = verify(&twice, &options()).unwrap();
    assert_eq!(report.verdict, Verdict::AllowedChange);
    assert_eq!(report.signatures[0].modification, Modification::FormFilling);
    assert_eq!(verdict(&unsigned()), Verdict::NoSignature);
}

#[test]
fn without_anchors_trust_is_not_evaluated() {
    let once = sign(&unsigned());
    let report = verify(
        &once,
        &VerifyOptions {
            trust_anchors: Vec::new(),
            now: SystemTime::now(),
            online: None,
        },
    )
    .unwrap();
    assert_eq!(report.signatures[0].trusted, None);
    assert_eq!(report.verdict, Verdict::Valid);
}

#[test]
fn tampering_inside_the_signed_range_breaks_it() {
    let once = sign(&unsigned());
    let mut tampered = once.clone();
    let at = String::from_utf8_lossy(&once).find("Pay 100").unwrap();
    tampered[at + 4] = b'9';
    assert_eq!(verdict(&tampered), Verdict::Broken);
}

#[test]
fn incremental_saving_attacks_are_modified() {
    let once = sign(&unsigned());
    let (page, content, prepared) = page_and_content(&once);
    // New content stream for the page.
    let doc = lopdf::Document::load_mem(&once).unwrap();
    let next = doc.reference_table.size;
    let page_body = format!("<</Type/Page/Parent 1 0 R/Contents {next} 0 R/MediaBox[0 0 600 800]>>");
    let attacked = append_update(
        &once,
        &[
            (next, "<</Length 10>>stream\n0 0 m S Q\nendstream"),
            (page, &page_body),
        ],
    );
    assert_eq!(verdict(&attacked), Verdict::Modified);
    // Only the xref entry changes: the content object now points at the prepared one's bytes.
    let prepared_offset = match doc.reference_table.get(prepared) {
        Some(lopdf::xref::XrefEntry::Normal { offset, .. }) => *offset as usize,
        _ => panic!("prepared object not found"),
    };
    let mut swapped = once.clone();
    let xref = swapped.len();
    swapped.extend_from_slice(format!("xref\n{content} 1\n{prepared_offset:010} 00000 n\r\n").as_bytes());
    let prev = doc.xref_start;
    swapped.extend_from_slice(
        format!(
            "trailer\n<</Size {next}/Root {} 0 R/Prev {prev}>>\nstartxref\n{xref}\n%%EOF\n",
            doc.trailer.get(b"Root").unwrap().as_reference().unwrap().0
        )
        .as_bytes(),
    );
    // The swapped-in object has another number in its header: either damaged or modified.
    let report = verify(&swapped, &options()).unwrap();
    assert!(
        matches!(report.verdict, Verdict::Modified | Verdict::Broken),
        "{report:#?}"
    );
    // Objects appended with no cross-reference section at all.
    let mut no_xref = once.clone();
    no_xref.extend_from_slice(
        format!("{content} 0 obj\n<</Length 5>>stream\nHACK!\nendstream\nendobj\n").as_bytes(),
    );
    assert_eq!(verdict(&no_xref), Verdict::Modified);
    // A new annotation after an approval signature: seen as annotations, and modified, since
    // only a P=3 certification permits them.
    let annot = format!("<</Type/Annot/Subtype/Text/Rect[10 10 30 30]/Contents(note)/P {page} 0 R>>");
    let existing: String = doc
        .get_dictionary((page, 0))
        .unwrap()
        .get(b"Annots")
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|a| format!("{} 0 R ", a.as_reference().unwrap().0))
        .collect();
    let with_annot = append_update(
        &once,
        &[
            (next, &annot),
            (
                page,
                &format!(
                    "<</Type/Page/Parent 1 0 R/Contents {content} 0 R/MediaBox[0 0 600 800]/Annots[{existing}{next} 0 R]>>"
                ),
            ),
        ],
    );
    let report = verify(&with_annot, &options()).unwrap();
    assert_eq!(
        report.signatures[0].modification,
        Modification::Annotations,
        "{:?}",
        report.signatures[0].problems
    );
    assert_eq!(report.verdict, Verdict::Modified);
}

/// Rewrites the ByteRange numbers (same width) and returns the file.
fn with_byte_range(file: &[u8], values: [i64; 4]) -> Vec<u8> {
    let needle = b"/ByteRange [";
    let start = file.windows(needle.len()).rposition(|w| w == needle).unwrap() + needle.len() - 1;
    let end = start + file[start..].iter().position(|&b| b == b']').unwrap() + 1;
    let mut replacement = format!("[{} {} {} {}", values[0], values[1], values[2], values[3]);
    while replacement.len() < end - start - 1 {
        replacement.push(' ');
    }
    replacement.push(']');
    let mut out = file.to_vec();
    out.splice(start..end, replacement.bytes());
    out
}

#[test]
fn byte_range_and_contents_attacks_are_broken() {
    let once = sign(&unsigned());
    let report = verify(&once, &options()).unwrap();
    let [_, a, b, d] = report.signatures[0].byte_range.unwrap().map(|v| v as i64);
    for values in [
        [0, a, b, d - 10],
        [0, a - 2, b, d],
        [0, a, b + 2, d - 2],
        [1, a, b, d],
        [0, b, a, d],
        [0, a, a, d],
        [0, -5, b, d],
    ] {
        let attacked = with_byte_range(&once, values);
        assert!(
            matches!(verdict(&attacked), Verdict::Broken | Verdict::Modified),
            "ByteRange {values:?} not caught"
        );
    }
    // Zeroed /Contents.
    let mut zeroed = once.clone();
    for byte in &mut zeroed[(a + 1) as usize..(b - 1) as usize] {
        *byte = b'0';
    }
    assert_eq!(verdict(&zeroed), Verdict::Broken);
    // A CMS from another document.
    let other = sign(&sign(&unsigned()));
    let other_report = verify(&other, &options()).unwrap();
    let [_, oa, ob, _] = other_report.signatures[1].byte_range.unwrap().map(|v| v as usize);
    let foreign = &other[oa + 1..ob - 1];
    let mut swapped = once.clone();
    let room = (b - a - 2) as usize;
    let n = foreign.len().min(room);
    swapped[(a + 1) as usize..(a + 1) as usize + n].copy_from_slice(&foreign[..n]);
    assert_eq!(verdict(&swapped), Verdict::Broken);
}

#[test]
fn garbage_never_panics() {
    let once = sign(&unsigned());
    for cut in [10, once.len() / 3, once.len() / 2, once.len() - 10] {
        let _ = verify(&once[..cut], &options());
    }
    let _ = verify(b"%PDF-1.7\n%%EOF", &options());
    assert!(verify(b"nothing", &options()).is_err());
}
