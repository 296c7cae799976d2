//! In-process signing speed: PAdES B-B, ECDSA P-256, one seal image, on 1-, 100- and
//! 1000-page documents (issue target: ≤ 2 ms for one page, ≤ 10 ms for 1000 pages).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use lopdf::{Dictionary, Object, Stream, dictionary};
use qz_cli::signing::sign_pdf;
use qz_pdf::{Appearance, Image, Mark, Rect, SignatureOptions};
use qz_pki::{PrivateKey, SignerIdentity, load_certificates};
use qz_seal::SealImage;

fn document(pages: usize) -> Vec<u8> {
    let mut doc = lopdf::Document::with_version("1.7");
    let pages_id = doc.new_object_id();
    let font =
        doc.add_object(dictionary! {"Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica"});
    let kids: Vec<Object> = (0..pages)
        .map(|i| {
            let text = format!("BT /F1 12 Tf 72 720 Td (Page {}) Tj ET", i + 1);
            let content = doc.add_object(Stream::new(Dictionary::new(), text.into_bytes()));
            doc.add_object(dictionary! {
                "Type" => "Page", "Parent" => pages_id, "Contents" => content,
                "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
                "Resources" => dictionary! {"Font" => dictionary! {"F1" => font}},
            })
            .into()
        })
        .collect();
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {"Type" => "Pages", "Kids" => kids, "Count" => pages as i64}),
    );
    let catalog = doc.add_object(dictionary! {"Type" => "Catalog", "Pages" => pages_id});
    doc.trailer.set("Root", catalog);
    let mut out = Vec::new();
    doc.save_to(&mut out).unwrap();
    out
}

fn bench(c: &mut Criterion) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/");
    let key = PrivateKey::from_pem(&std::fs::read(format!("{dir}bench-ecdsa.key")).unwrap(), None).unwrap();
    let certs = load_certificates(&std::fs::read(format!("{dir}bench-ecdsa.pem")).unwrap()).unwrap();
    let identity = SignerIdentity::new(certs, Vec::new()).unwrap();
    let seal = SealImage::decode(&std::fs::read(format!("{dir}seal.png")).unwrap()).unwrap();
    // The image is compressed once, as a server keeps a seal's prepared image.
    let image = Arc::new(Image::from_rgba(seal.width(), seal.height(), seal.rgba()).unwrap());
    let mut group = c.benchmark_group("sign_pades_bb_p256_seal");
    for pages in [1usize, 100, 1000] {
        let input = document(pages);
        group.bench_function(format!("{pages}_pages"), |b| {
            b.iter(|| {
                sign_pdf(&input, &key, &identity, None, |_| {
                    Ok(SignatureOptions {
                        signing_time: "D:20261122100000+08'00'".into(),
                        marks: vec![Mark {
                            page: 1,
                            rect: Rect::new(380.0, 80.0, 120.0, 120.0)?,
                            appearance: Appearance::Image(image.clone()),
                        }],
                        ..Default::default()
                    })
                })
                .unwrap()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
