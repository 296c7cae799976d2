//! Remote custody's three steps through the library: prepare, sign elsewhere, finish.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use qz_cli::signing::prepare_remote;
use qz_pdf::SignatureOptions;
use qz_pki::custody::remote::RemoteSigner;
use qz_pki::{DocumentSigner, PrivateKey, SignerIdentity, load_certificates};
use qz_verify::{Verdict, VerifyOptions, verify};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/");

fn input() -> Vec<u8> {
    let body = "%PDF-1.7\n1 0 obj\n<</Type/Catalog/Pages 2 0 R>>\nendobj\n2 0 obj\n<</Type/Pages/Kids[3 0 R]/Count 1>>\nendobj\n3 0 obj\n<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>\nendobj\n";
    let mut out = body.as_bytes().to_vec();
    let offsets: Vec<usize> = ["1 0 obj", "2 0 obj", "3 0 obj"]
        .iter()
        .map(|n| body.find(n).unwrap())
        .collect();
    let xref = out.len();
    out.extend_from_slice(b"xref\n0 4\n0000000000 65535 f\r\n");
    for o in offsets {
        out.extend_from_slice(format!("{o:010} 00000 n\r\n").as_bytes());
    }
    out.extend_from_slice(format!("trailer\n<</Size 4/Root 1 0 R>>\nstartxref\n{xref}\n%%EOF\n").as_bytes());
    out
}

#[test]
fn prepare_sign_elsewhere_finish() {
    let key = PrivateKey::from_pem(
        &std::fs::read(format!("{FIXTURES}bench-ecdsa.key")).unwrap(),
        None,
    )
    .unwrap();
    let certs = load_certificates(&std::fs::read(format!("{FIXTURES}bench-ecdsa.pem")).unwrap()).unwrap();
    let identity = SignerIdentity::new(certs.clone(), Vec::new()).unwrap();
    // The server side knows only the certificate.
    let remote = RemoteSigner {
        algorithm: key.signature_algorithm(),
        digest: key.digest_algorithm(),
        max_len: key.max_signature_len(),
        public_bits: key.public_key_bits().unwrap(),
    };
    assert!(remote.sign(b"x").is_err());
    let input = input();
    let options = |_: &qz_pdf::Document<'_>| {
        Ok(SignatureOptions {
            signing_time: "D:20261122100000+08'00'".into(),
            ..Default::default()
        })
    };
    let prepared = prepare_remote(&input, &remote, &identity, 0, options).unwrap();
    // "Elsewhere": the key holder signs the attributes.
    let signature = key.sign(&prepared.to_be_signed().unwrap()).unwrap();
    let tail = prepared.finish(&signature, None).unwrap();
    let signed = [input.as_slice(), &tail].concat();
    let report = verify(
        &signed,
        &VerifyOptions {
            trust_anchors: certs,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(report.verdict, Verdict::Valid);

    // A value that does not belong to the certificate is refused, nothing is produced.
    let again = prepare_remote(&input, &remote, &identity, 0, options).unwrap();
    let wrong = PrivateKey::generate(qz_pki::KeyAlgorithm::P256).unwrap();
    let bad = wrong.sign(&again.to_be_signed().unwrap()).unwrap();
    assert!(again.finish(&bad, None).is_err());
}
