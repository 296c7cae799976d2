//! SM2/SM3 against ECDSA P-256/SHA-256 in the same run, and a full two-party co-signing round
//! (both sides in process), as the national-profile issue asks.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use qz_pki::custody::cosign::{ClientShare, ServerShare};
use qz_pki::{DigestAlgorithm, DocumentSigner, KeyAlgorithm, PrivateKey};

fn signatures(c: &mut Criterion) {
    let message = [7u8; 256];
    let mut group = c.benchmark_group("signature");
    for (label, algorithm) in [("sm2", KeyAlgorithm::Sm2), ("p256", KeyAlgorithm::P256)] {
        let key = PrivateKey::generate(algorithm).unwrap();
        let spki = key.public_key_info().unwrap();
        let signature = key.sign(&message).unwrap();
        group.bench_function(format!("{label}_sign"), |b| {
            b.iter(|| key.sign(&message).unwrap())
        });
        group.bench_function(format!("{label}_verify"), |b| {
            b.iter(|| {
                qz_pki::verify::verify_signature(
                    &spki,
                    &key.signature_algorithm(),
                    key.digest_algorithm(),
                    &message,
                    &signature,
                )
                .unwrap()
            })
        });
    }
    group.finish();
}

fn digests(c: &mut Criterion) {
    let data = vec![0x5au8; 1 << 20];
    let mut group = c.benchmark_group("digest_1MiB");
    group.throughput(Throughput::Bytes(data.len() as u64));
    for (label, digest) in [("sm3", DigestAlgorithm::Sm3), ("sha256", DigestAlgorithm::Sha256)] {
        group.bench_function(label, |b| b.iter(|| digest.digest(&[&data])));
    }
    group.finish();
}

fn cosigning(c: &mut Criterion) {
    let (client, p1) = ClientShare::generate().unwrap();
    let (server, p2) = ServerShare::generate().unwrap();
    let public = client.joint_public_key(&p2).unwrap();
    assert_eq!(public, server.joint_public_key(&p1).unwrap());
    c.bench_function("cosign_round", |b| {
        b.iter(|| {
            let (nonce, request) = client.start(&public, b"document digest").unwrap();
            let response = server.respond(&request).unwrap();
            client.finish(nonce, &request, &response, &public).unwrap()
        })
    });
}

criterion_group!(benches, signatures, digests, cosigning);
criterion_main!(benches);
