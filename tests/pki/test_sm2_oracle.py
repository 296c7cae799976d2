"""National profile outputs judged by outside SM2 implementations.

GmSSL (through PyPI gmssl-pyx) verifies our certificate signatures, the CMS signed attributes
of an SM2-signed PDF and the SM3 message digest; OpenSSL 3 verifies each certificate link with
`distid:1234567812345678`. OpenSSL 3.0 applies that ID only to the certificate being verified,
not to intermediates, so links are checked one at a time with -partial_chain.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

gmssl = pytest.importorskip("gmssl_pyx")
asn1_cms = pytest.importorskip("asn1crypto.cms")
asn1_x509 = pytest.importorskip("asn1crypto.x509")
asn1_pem = pytest.importorskip("asn1crypto.pem")

from .conftest import qz_bin  # noqa: E402

DISTID = "distid:1234567812345678"


def run(*args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=120, **kwargs)


def load_cert(path: Path):
    data = path.read_bytes()
    if asn1_pem.detect(data):
        data = asn1_pem.unarmor(data)[2]
    return asn1_x509.Certificate.load(data)


def public_key_64(cert) -> bytes:
    point = cert.public_key["public_key"].native
    assert point[0] == 4 and len(point) == 65, "SM2 keys are uncompressed points"
    return point[1:]


@pytest.fixture(scope="module")
def sm2_ca(tmp_path_factory):
    qz = qz_bin()
    if qz is None:
        pytest.skip("qz binary not built")
    root = tmp_path_factory.mktemp("sm2")
    ca = root / "ca"
    r = run(qz, "ca", "init", "--dir", ca, "--profile", "sm2")
    assert r.returncode == 0, r.stderr
    r = run(qz, "ca", "issue", "--dir", ca, "--kind", "person", "--name", "国密签名人", "--out", root / "user")
    assert r.returncode == 0, r.stderr
    return qz, root, ca


def test_certificates_verify_with_openssl_and_gmssl(sm2_ca):
    _, root, ca = sm2_ca
    text = run("openssl", "x509", "-in", root / "user.pem", "-noout", "-text").stdout
    assert "SM2-with-SM3" in text and "ASN1 OID: SM2" in text, text
    # Each link, with the default ID.
    for cert, issuer in [(root / "user.pem", ca / "ca.pem"), (ca / "ca.pem", ca / "root.pem")]:
        r = run("openssl", "verify", "-partial_chain", "-vfyopt", DISTID, "-CAfile", issuer, cert)
        assert r.returncode == 0 and ": OK" in r.stdout, (cert, r.stdout, r.stderr)
        # Without the ID OpenSSL 3.0 uses an empty one: the signature must then fail, which
        # proves we sign with the GM/T 0009 default ID.
        r = run("openssl", "verify", "-partial_chain", "-CAfile", issuer, cert)
        assert r.returncode != 0, (cert, r.stdout)
    # GmSSL: TBS signature with the issuer's key and the default ID.
    for cert_path, issuer_path in [(root / "user.pem", ca / "ca.pem"), (ca / "ca.pem", ca / "root.pem")]:
        cert, issuer = load_cert(cert_path), load_cert(issuer_path)
        tbs = cert["tbs_certificate"].dump()
        assert gmssl.sm2_verify(public_key_64(issuer), tbs, cert["signature_value"].native)
        assert not gmssl.sm2_verify(public_key_64(issuer), tbs + b"x", cert["signature_value"].native)


def extract_signature(pdf: bytes) -> tuple[bytes, list[int]]:
    m = re.search(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]", pdf)
    assert m, "no ByteRange"
    br = [int(x) for x in m.groups()]
    contents = bytes.fromhex(pdf[br[1] + 1:br[2] - 1].decode())
    return contents.rstrip(b"\0"), br


@pytest.mark.parametrize("gm_oids", [False, True])
def test_sm2_pdf_signature_verifies_with_gmssl(sm2_ca, tmp_path, gm_oids):
    qz, root, ca = sm2_ca
    source = Path(__file__).resolve().parents[1] / "fixtures"
    pdf_in = tmp_path / "in.pdf"
    pdf_in.write_bytes(minimal_pdf())
    out = tmp_path / "sm2.pdf"
    args = [qz, "sign", pdf_in, "-o", out, "--key", root / "user.key", "--cert", root / "user.pem",
            "--seal", source / "seal.png", "--page", "1", "--rect", "100,100,80,80"]
    if gm_oids:
        args.append("--gm-oids")
    r = run(*args)
    assert r.returncode == 0, r.stderr
    pdf = out.read_bytes()
    assert b"/SubFilter/adbe.pkcs7.detached" in pdf.replace(b" ", b"")
    der, br = extract_signature(pdf)
    info = asn1_cms.ContentInfo.load(der)
    expected_type = "1.2.156.10197.6.1.4.2.2" if gm_oids else "signed_data"
    assert info["content_type"].dotted == expected_type or info["content_type"].native == expected_type
    # asn1crypto does not know the GM OIDs: parse the SignedData from the explicit [0] content.
    # asn1crypto keeps only the SEQUENCE's contents for an unknown type: put the header back.
    if gm_oids:
        body = info["content"].contents
        length = len(body)
        header = bytes([length]) if length < 0x80 else bytes([0x80 | ((length.bit_length() + 7) // 8)]) + length.to_bytes((length.bit_length() + 7) // 8, "big")
        signed = asn1_cms.SignedData.load(b"\x30" + header + body)
    else:
        signed = info["content"]
    signer = signed["signer_infos"][0]
    assert signer["digest_algorithm"]["algorithm"].dotted == "1.2.156.10197.1.401"
    assert signer["signature_algorithm"]["algorithm"].dotted == "1.2.156.10197.1.501"
    attrs = signer["signed_attrs"]
    signed_bytes = pdf[:br[1]] + pdf[br[2]:br[2] + br[3]]
    digest = next(a["values"][0].native for a in attrs if a["type"].dotted == "1.2.840.113549.1.9.4")
    assert digest == gmssl.sm3_hash(signed_bytes), "messageDigest is SM3 of the byte ranges"
    # The signature is over the attributes encoded as SET OF (tag 0x31), with the default ID.
    to_be_signed = b"\x31" + attrs.dump()[1:]
    cert = load_cert(root / "user.pem")
    assert gmssl.sm2_verify(public_key_64(cert), to_be_signed, signer["signature"].native)
    # And qz verify agrees, then catches a tampered byte.
    r = run(qz, "verify", "--json", "--trust", ca / "root.pem", out)
    report = json.loads(r.stdout)
    assert report["verdict"] == "VALID", report
    tampered = bytearray(pdf)
    at = pdf.index(b"/MediaBox")
    tampered[at + 12] ^= 0x01
    bad = tmp_path / "tampered.pdf"
    bad.write_bytes(bytes(tampered))
    r = run(qz, "verify", "--json", "--trust", ca / "root.pem", bad)
    assert json.loads(r.stdout)["verdict"] == "BROKEN", r.stdout


def minimal_pdf() -> bytes:
    objects = [
        b"<</Type/Catalog/Pages 2 0 R>>",
        b"<</Type/Pages/Kids[3 0 R]/Count 1>>",
        b"<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>",
    ]
    out = b"%PDF-1.7\n"
    offsets = []
    for i, body in enumerate(objects):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % (i + 1) + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 4\n0000000000 65535 f\r\n" + b"".join(b"%010d 00000 n\r\n" % o for o in offsets)
    out += b"trailer\n<</Size 4/Root 1 0 R>>\nstartxref\n%d\n%%%%EOF\n" % xref
    return out
