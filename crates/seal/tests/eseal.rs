//! GB/T 38540 seals and stamps: make, parse, stamp, check; a GM/T 0031-2014 (v1) seal built
//! from its ASN.1 here is read and verified too; tampering is caught.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, SystemTime};

use der::asn1::{BitString, Ia5String, OctetString, UtcTime};
use der::{Any, Encode, Tag};
use qz_pki::{DigestAlgorithm, DocumentSigner, KeyAlgorithm, PrivateKey};
use qz_seal::eseal::{SM2_WITH_SM3, SealSpec, check_stamp, make_seal, parse_seal, stamp};
use x509_cert::Certificate;

fn certificate(key: &PrivateKey, name: &str) -> Certificate {
    let subject = qz_pki::issue::name(&[(qz_pki::issue::AT_COMMON_NAME, name)]).unwrap();
    let now = SystemTime::now();
    qz_pki::issue::sign_certificate(
        &qz_pki::issue::CertificateTemplate {
            serial: vec![7],
            subject: subject.clone(),
            subject_public_key_info: key.public_key_info().unwrap(),
            not_before: now - Duration::from_secs(60),
            not_after: now + Duration::from_secs(86_400),
            extensions: Vec::new(),
        },
        &subject,
        key,
    )
    .unwrap()
}

fn png() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/seal.png"
    ))
    .unwrap()
}

#[test]
fn v4_seal_and_stamp_round_trip() {
    let maker_key = PrivateKey::generate(KeyAlgorithm::Sm2).unwrap();
    let maker = certificate(&maker_key, "制章单位");
    let signer_key = PrivateKey::generate(KeyAlgorithm::Sm2).unwrap();
    let signer = certificate(&signer_key, "签章人");
    let now = SystemTime::now();
    let der = make_seal(
        &SealSpec {
            es_id: "QZ-TEST-1".into(),
            vid: "Qianzhang".into(),
            seal_type: 1,
            name: "测试公司合同专用章".into(),
            signer_certificates: vec![signer.to_der().unwrap()],
            png: png(),
            width_mm: 40,
            height_mm: 40,
            valid_start: now - Duration::from_secs(60),
            valid_end: now + Duration::from_secs(3600),
        },
        &maker_key,
        &maker,
    )
    .unwrap();
    let seal = parse_seal(&der).unwrap();
    assert_eq!(
        (seal.version, seal.name.as_str(), seal.picture.2),
        (4, "测试公司合同专用章", 40)
    );
    let check = seal.check(now);
    assert!(check.signature_valid && check.in_validity, "{check:?}");
    assert!(!seal.check(now + Duration::from_secs(7200)).in_validity);

    let digest = DigestAlgorithm::Sm3.digest(&[b"protected bytes"]);
    let value = stamp(&seal, &digest, "PDF:/ByteRange", &signer_key, &signer, now, None).unwrap();
    let result = check_stamp(&value, &digest).unwrap();
    assert!(result.intact && result.valid, "{:?}", result.problems);
    let other = DigestAlgorithm::Sm3.digest(&[b"other bytes"]);
    assert!(!check_stamp(&value, &other).unwrap().intact);

    // A certificate outside the seal's list may not stamp.
    assert!(stamp(&seal, &digest, "x", &maker_key, &maker, now, None).is_err());

    // Flipping a byte of the stamp's signature breaks it.
    let mut tampered = value.clone();
    let last = tampered.len() - 5;
    tampered[last] ^= 1;
    if let Ok(result) = check_stamp(&tampered, &digest) {
        assert!(!result.valid);
    }
    let _ = maker_key.digest_algorithm();
}

/// GM/T 0031-2014: SESeal { SealInfo, SignInfo { cert, alg, signData } }, UTCTime, no
/// certListType; the maker signs DER(SEQUENCE { SealInfo, cert, alg }).
#[test]
fn v1_seal_is_read_and_verified() {
    let maker_key = PrivateKey::generate(KeyAlgorithm::Sm2).unwrap();
    let maker = certificate(&maker_key, "旧制章单位");
    let seq = |parts: Vec<Vec<u8>>| Any::new(Tag::Sequence, parts.concat()).unwrap().to_der().unwrap();
    let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap();
    let utc = |d: Duration| {
        UtcTime::from_unix_duration(Duration::from_secs(d.as_secs()))
            .unwrap()
            .to_der()
            .unwrap()
    };
    let header = seq(vec![
        Ia5String::new("ES").unwrap().to_der().unwrap(),
        1u32.to_der().unwrap(),
        Ia5String::new("OLDVENDOR").unwrap().to_der().unwrap(),
    ]);
    let property = seq(vec![
        2u32.to_der().unwrap(),
        String::from("张三").to_der().unwrap(),
        seq(vec![
            OctetString::new(maker.to_der().unwrap())
                .unwrap()
                .to_der()
                .unwrap(),
        ]),
        utc(now),
        utc(now - Duration::from_secs(60)),
        utc(now + Duration::from_secs(3600)),
    ]);
    let picture = seq(vec![
        Ia5String::new("PNG").unwrap().to_der().unwrap(),
        OctetString::new(png()).unwrap().to_der().unwrap(),
        20u32.to_der().unwrap(),
        10u32.to_der().unwrap(),
    ]);
    let info = seq(vec![
        header,
        Ia5String::new("V1-ID").unwrap().to_der().unwrap(),
        property,
        picture,
    ]);
    let cert = OctetString::new(maker.to_der().unwrap())
        .unwrap()
        .to_der()
        .unwrap();
    let alg = SM2_WITH_SM3.to_der().unwrap();
    let signed = seq(vec![info.clone(), cert.clone(), alg.clone()]);
    let signature = maker_key.sign(&signed).unwrap();
    let sign_info = seq(vec![
        cert,
        alg,
        BitString::from_bytes(&signature).unwrap().to_der().unwrap(),
    ]);
    let seal = parse_seal(&seq(vec![info, sign_info])).unwrap();
    assert_eq!(
        (seal.version, seal.es_id.as_str(), seal.name.as_str()),
        (1, "V1-ID", "张三")
    );
    assert_eq!((seal.picture.2, seal.picture.3), (20, 10));
    let check = seal.check(SystemTime::now());
    assert!(check.signature_valid && check.in_validity, "{check:?}");
    assert!(seal.allows(&maker.to_der().unwrap()));
}

#[test]
fn garbage_is_an_error() {
    assert!(parse_seal(b"").is_err());
    assert!(parse_seal(&[0x30, 0x00]).is_err());
    assert!(check_stamp(b"\x30\x03\x02\x01\x04", &[0; 32]).is_err());
}
