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


def der_sequence_items(data: bytes) -> list:
    from asn1crypto import core
    seq = core.Sequence.load(data)
    return [seq[i] for i in range(len(seq))]


def test_eseal_make_and_stamp_verify_with_gmssl(sm2_ca, tmp_path):
    qz, root, ca = sm2_ca
    fixtures = Path(__file__).resolve().parents[1] / "fixtures"
    r = run(qz, "ca", "issue", "--dir", ca, "--kind", "org", "--name", "制章单位", "--out", root / "maker")
    assert r.returncode == 0, r.stderr
    esl = tmp_path / "seal.esl"
    r = run(qz, "seal", "make", "--maker-key", root / "maker.key", "--maker-cert", root / "maker.pem",
            "--signer-cert", root / "user.pem", "--name", "测试合同专用章", "--image", fixtures / "seal.png", "-o", esl)
    assert r.returncode == 0, r.stderr
    seal = esl.read_bytes()
    info, maker_cert, alg, signed_value = der_sequence_items(seal)
    assert alg.dump()[2:] == bytes.fromhex("2a811ccf55018375")  # 1.2.156.10197.1.501
    maker = asn1_x509.Certificate.load(maker_cert.native)
    # GB/T 38540: the maker signs DER(SES_SealInfo), SM2 with the default ID.
    bits = signed_value.contents[1:]
    assert gmssl.sm2_verify(public_key_64(maker), info.dump(), bits)
    header = der_sequence_items(info.dump())[0]
    assert [h.native for h in der_sequence_items(header.dump())][:2] == ["ES", 4]

    pdf_in = tmp_path / "in.pdf"
    pdf_in.write_bytes(minimal_pdf())
    out = tmp_path / "stamped.pdf"
    r = run(qz, "sign", pdf_in, "-o", out, "--key", root / "user.key", "--cert", root / "user.pem",
            "--eseal", esl, "--page", "1", "--rect", "100,100,113,113")
    assert r.returncode == 0, r.stderr
    pdf = out.read_bytes()
    assert b"/GBT38540.SES_Signature" in pdf
    der, br = extract_signature(pdf)
    to_sign, signer_cert, _alg, signature = der_sequence_items(der)[:4]
    tbs_items = der_sequence_items(to_sign.dump())
    assert tbs_items[1].dump() == seal, "TBS_Sign carries the seal byte for byte"
    data_hash = tbs_items[3].contents[1:]
    assert data_hash == gmssl.sm3_hash(pdf[:br[1]] + pdf[br[2]:br[2] + br[3]])
    signer = asn1_x509.Certificate.load(signer_cert.native)
    assert gmssl.sm2_verify(public_key_64(signer), to_sign.dump(), signature.contents[1:])
    report = json.loads(run(qz, "verify", "--json", "--trust", ca / "root.pem", out).stdout)
    assert report["verdict"] == "VALID", report
    assert report["signatures"][0]["marks"] == [{"page": 1, "rect": [100.0, 100.0, 113.0, 113.0]}]
    # A certificate outside the seal's list may not stamp with it.
    r = run(qz, "sign", pdf_in, "-o", tmp_path / "no.pdf", "--key", root / "maker.key", "--cert", root / "maker.pem",
            "--eseal", esl)
    assert r.returncode != 0 and "certificate list" in r.stderr, r.stderr
    assert not (tmp_path / "no.pdf").exists()


def test_cosigning_over_http(sm2_ca, tmp_path):
    import socket
    import time as _time
    qz, root, ca = sm2_ca
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([str(qz), "pki", "serve", "--dir", str(ca), "--listen", f"127.0.0.1:{port}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            _time.sleep(0.05)
        url = f"http://127.0.0.1:{port}"
        env = {**__import__("os").environ, "CPW": "abc12345"}
        r = run(qz, "cosign", "enroll", "--server", url, "--name", "协同签名人", "--password-env", "CPW",
                "--out", tmp_path / "phone", env=env)
        assert r.returncode == 0, r.stderr
        # The certificate is for the joint key and chains to our SM2 CA.
        r2 = run("openssl", "verify", "-partial_chain", "-vfyopt", DISTID, "-CAfile", ca / "ca.pem", tmp_path / "phone.pem")
        assert r2.returncode == 0, r2.stderr
        pdf_in = tmp_path / "in.pdf"
        pdf_in.write_bytes(minimal_pdf())
        out = tmp_path / "cosigned.pdf"
        r = run(qz, "cosign", "sign", pdf_in, "-o", out, "--key", tmp_path / "phone", "--password-env", "CPW",
                "--tsa", f"{url}/pki/tsa", env=env)
        assert r.returncode == 0, r.stderr
        report = json.loads(run(qz, "verify", "--json", "--trust", ca / "root.pem", out).stdout)
        assert report["verdict"] == "VALID", report
        assert report["signatures"][0]["timestamp"]["valid"] is True
        # GmSSL accepts the jointly made signature over the signed attributes.
        der, _ = extract_signature(out.read_bytes())
        signer = asn1_cms.ContentInfo.load(der)["content"]["signer_infos"][0]
        cert = load_cert(tmp_path / "phone.pem")
        assert gmssl.sm2_verify(public_key_64(cert), b"\x31" + signer["signed_attrs"].dump()[1:], signer["signature"].native)
        # The server logged what it co-signed; a wrong password signs nothing.
        logs = list((ca / "cosign").glob("*.log"))
        assert logs and len(logs[0].read_text().splitlines()) >= 2
        env["CPW"] = "wrong123"
        r = run(qz, "cosign", "sign", pdf_in, "-o", tmp_path / "no.pdf", "--key", tmp_path / "phone",
                "--password-env", "CPW", env=env)
        assert r.returncode != 0 and "password" in r.stderr, r.stderr
    finally:
        server.terminate()
        server.wait(timeout=10)
