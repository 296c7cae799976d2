"""Self-test of check.py (no qz needed): it must pass pyHanko's own signatures and
fail tampered or mistrusted ones."""
from __future__ import annotations

from pathlib import Path

import pytest

from check import check_pdf, parse_pdfsig


@pytest.fixture(scope="module")
def presigned(corpus_dir) -> Path:
    p = corpus_dir / "presigned-pyhanko.pdf"
    if not p.exists():
        pytest.skip("presigned-pyhanko.pdf not generated")
    return p


@pytest.fixture(scope="module")
def corpus_root(corpus_dir) -> Path:
    return corpus_dir / "pki" / "root.pem"


def test_pyhanko_signature_passes(presigned, corpus_root):
    res = check_pdf(presigned, [corpus_root], expect_sigs=1)
    assert res.ok, res.explain()
    assert res.pyhanko[0]["coverage"] == "ENTIRE_FILE"
    assert res.pdfsig and res.pdfsig[0]["validation"] == "Signature is Valid."


def test_second_pyhanko_signature_passes(presigned, corpus_root, pki, workdir):
    """Approval signature over a signed file: first becomes FORM_FILLING, both valid;
    signers from two different PKIs."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers
    from pyhanko.sign.fields import SigFieldSpec
    out = workdir / "selftest" / "two-sigs.pdf"
    out.parent.mkdir(parents=True, exist_ok=True)
    signer = signers.SimpleSigner.load(str(pki.f("rsa2048.key")), str(pki.f("rsa2048.pem")),
                                       ca_chain_files=(str(pki.ca),))
    with open(presigned, "rb") as f, open(out, "wb") as o:
        w = IncrementalPdfFileWriter(f)
        signers.PdfSigner(signers.PdfSignatureMetadata(field_name="Second"), signer,
                          new_field_spec=SigFieldSpec("Second", on_page=0, box=(300, 300, 400, 400))
                          ).sign_pdf(w, output=o)
    res = check_pdf(out, [corpus_root, pki.root], expect_sigs=2)
    assert res.ok, res.explain()
    assert res.pyhanko[0]["modification_level"] == "FORM_FILLING"
    # and the count check bites
    assert not check_pdf(out, [corpus_root, pki.root], expect_sigs=3, skip={"qpdf"}).ok


def test_flipped_byte_fails(presigned, corpus_root, workdir):
    data = bytearray(presigned.read_bytes())
    i = data.find(b"Qianzhang interop corpus")
    assert 0 < i
    data[i] = ord("q")
    out = workdir / "selftest" / "flipped.pdf"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(bytes(data))
    res = check_pdf(out, [corpus_root], expect_sigs=1)
    assert not res.ok
    assert res.pyhanko[0]["intact"] is False, res.explain()
    assert any("pdfsig" in p for p in res.problems), res.explain()


def test_content_changed_after_signing_fails(presigned, corpus_root, workdir):
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    out = workdir / "selftest" / "modified.pdf"
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(presigned, "rb") as f, open(out, "wb") as o:
        w = IncrementalPdfFileWriter(f)
        ref = w.add_object(generic.StreamObject(stream_data=b"1 0 0 rg 100 100 200 50 re f\n"))
        w.add_stream_to_page(0, ref)
        w.write(o)
    res = check_pdf(out, [corpus_root], expect_sigs=1)
    assert not res.ok
    text = "\n".join(res.problems)
    assert "not ENTIRE_FILE" in text, res.explain()
    assert "total document" in text, res.explain()


def test_untrusted_root_fails(presigned, pki):
    res = check_pdf(presigned, [pki.root], expect_sigs=1, skip={"qpdf"})
    assert not res.ok
    assert res.pyhanko[0]["trusted"] is False
    assert any("Certificate" in p for p in res.problems if p.startswith("pdfsig")), res.explain()


def test_unsigned_file_and_empty_field(corpus_dir, corpus_root):
    p = corpus_dir / "form-fields.pdf"
    if not p.exists():
        pytest.skip("form-fields.pdf not generated")
    res = check_pdf(p, [corpus_root], expect_sigs=0)
    assert res.ok, res.explain()
    assert [s["signed"] for s in res.pdfsig] == [False]
    assert not check_pdf(p, [corpus_root], expect_sigs=1, skip={"qpdf"}).ok


def test_parse_pdfsig():
    text = """Digital Signature Info of: x.pdf
Signature #1:
  - Signature Field Name: A
  - Signer Certificate Common Name: 张三
  - Signature Type: ETSI.CAdES.detached
  - Signed Ranges: [0 - 10], [20 - 30]
  - Not total document signed
  - Signature Validation: Signature is Valid.
  - Certificate Validation: Certificate is Trusted.
Signature #2:
  - Signature Field Name: B
  The signature form field is not signed.
"""
    s = parse_pdfsig(text)
    assert [x["field"] for x in s] == ["A", "B"]
    assert s[0]["total"] is False and s[0]["signer"] == "张三" and s[0]["signed"]
    assert s[1]["signed"] is False
