//! SM2/SM3 against the standard's vectors (research/guomi.md §2.5) and through our own CA.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use der::{Decode, Encode};
use qz_pki::ca::{CaProfile, CertificateAuthority, Subject};
use qz_pki::issue::CertificateKind;
use qz_pki::verify::{verify_certificate_signature, verify_signature};
use qz_pki::{DigestAlgorithm, DocumentSigner, KeyAlgorithm, PrivateKey};

fn unhex(text: &str) -> Vec<u8> {
    let text: String = text.split_whitespace().collect();
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn sm3_vectors() {
    assert_eq!(
        DigestAlgorithm::Sm3.digest(&[b"abc"]),
        unhex("66c7f0f4 62eeedd9 d1f2d46b dc10e4e2 4167c487 5cf2f7a2 297da02b 8f4ba8e0")
    );
    assert_eq!(
        DigestAlgorithm::Sm3.digest(&[&b"abcd".repeat(16)]),
        unhex("debe9ff9 2275b8a1 38604889 c18e5a4d 6fdb70e5 387e5765 293dcba3 9c0c5732")
    );
}

/// GB/T 32918.5 / GM/T 0003.5 signature on the recommended curve with the default user ID.
#[test]
fn sm2_standard_signature_verifies() {
    let point = [
        vec![0x04],
        unhex("09F9DF31 1E5421A1 50DD7D16 1E4BC5C6 72179FAD 1833FC07 6BB08FF3 56F35020"),
        unhex("CCEA490C E26775A5 2DC6EA71 8CC1AA60 0AED05FB F35E084A 6632F607 2DA9AD13"),
    ]
    .concat();
    let spki = spki::SubjectPublicKeyInfoOwned {
        algorithm: spki::AlgorithmIdentifierOwned {
            oid: qz_pki::oid::ID_EC_PUBLIC_KEY,
            parameters: Some(der::Any::encode_from(&qz_pki::oid::SM2_CURVE).unwrap()),
        },
        subject_public_key: der::asn1::BitString::from_bytes(&point).unwrap(),
    };
    let r = unhex("F5A03B06 48D2C463 0EEAC513 E1BB81A1 5944DA38 27D5B741 43AC7EAC EEE720B3");
    let s = unhex("B1B6AA29 DF212FD8 763182BC 0D421CA1 BB9038FD 1F7F42D4 840B69C4 85BBC1AA");
    // DER SEQUENCE { INTEGER r, INTEGER s }, both with a leading zero (high bit set).
    let mut seq = vec![0x02, 0x21, 0x00];
    seq.extend(&r);
    seq.extend([0x02, 0x21, 0x00]);
    seq.extend(&s);
    let der = [vec![0x30, seq.len() as u8], seq].concat();
    let algorithm = spki::AlgorithmIdentifierOwned {
        oid: qz_pki::oid::SM2_WITH_SM3,
        parameters: None,
    };
    verify_signature(&spki, &algorithm, DigestAlgorithm::Sm3, b"message digest", &der).unwrap();
    assert!(verify_signature(&spki, &algorithm, DigestAlgorithm::Sm3, b"message digesT", &der).is_err());
}

#[test]
fn sm2_keys_round_trip_and_sign() {
    let key = PrivateKey::generate(KeyAlgorithm::Sm2).unwrap();
    assert_eq!(key.digest_algorithm(), DigestAlgorithm::Sm3);
    let pem = key.to_pkcs8_pem(None).unwrap();
    let again = PrivateKey::from_pem(pem.as_bytes(), None).unwrap();
    assert_eq!(again.public_key_bits().unwrap(), key.public_key_bits().unwrap());
    let signature = again.sign(b"hello").unwrap();
    // DER, not raw r||s (65-byte BIT STRINGs are the classic SM2 interop bug).
    assert_eq!(signature[0], 0x30);
    verify_signature(
        &key.public_key_info().unwrap(),
        &key.signature_algorithm(),
        DigestAlgorithm::Sm3,
        b"hello",
        &signature,
    )
    .unwrap();
}

#[test]
fn sm2_ca_issues_verifiable_chain() {
    let dir = tempfile::tempdir().unwrap();
    let mut ca =
        CertificateAuthority::init(dir.path(), CaProfile::Sm2, KeyAlgorithm::P256, None, "测试").unwrap();
    assert_eq!(ca.config.algorithm, "sm2");
    let (cert, key) = ca
        .issue(
            CertificateKind::Signing,
            &Subject::Person {
                name: "国密".into(),
                id_number: None,
            },
            Duration::from_secs(86_400),
        )
        .unwrap();
    assert_eq!(key.digest_algorithm(), DigestAlgorithm::Sm3);
    verify_certificate_signature(&cert, &ca.issuing).unwrap();
    verify_certificate_signature(&ca.issuing, &ca.root).unwrap();
    let reread = x509_cert::Certificate::from_der(&cert.to_der().unwrap()).unwrap();
    assert_eq!(reread.signature_algorithm().oid, qz_pki::oid::SM2_WITH_SM3);
}
