#!/usr/bin/env python3
"""Generate the interop corpus: varied real-world PDFs for `qz sign`.

usage: make_corpus.py OUTDIR [--pki DIR] [--no-bench] [--only NAME[,NAME...]]

Writes OUTDIR/<name>.pdf and OUTDIR/manifest.json:
  {
    "files": [ {name, file, expect, refuse_reason_contains, pages, notes, bench,
                producer, existing_sigs, trust, pyhanko_strict, geometry?}, ... ],
    "skipped": [ {name, reason} ],      # a tool was missing (e.g. no soffice)
    "errors":  [ {name, error} ]        # a generator failed unexpectedly
  }
expect: "sign"                 qz must sign it (visible seals allowed)
        "sign-invisible-only"  qz may only add an invisible signature (DocMDP P=2)
        "refuse"               qz must refuse; stderr contains refuse_reason_contains
trust:  extra trust roots (paths relative to OUTDIR) for signatures already in the file
        (they come from the corpus' own throwaway PKI in OUTDIR/pki unless --pki is given).
geometry: per page {mediabox, cropbox, rotate} for the files used by placement tests.

Needs: reportlab + pyHanko (venv), qpdf, and optionally gs, mutool, soffice, node+pdf-lib.
Everything is deterministic except what signs (pyHanko signing time) and what
external tools stamp (gs/soffice/pdf-lib dates and IDs).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

CJK_FONTS = [
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),
    ("/usr/share/fonts/truetype/arphic/uming.ttc", 0),
]

CONTRACT_ZH = [
    "技术服务合同",
    "甲方：千章测试科技有限公司　　乙方：互通测试单位",
    "第一条　甲方委托乙方提供电子签章系统的互操作测试服务。",
    "第二条　合同金额为人民币壹万贰仟叁佰肆拾伍元整（¥12,345.00）。",
    "第三条　本合同自双方签字盖章之日起生效，一式两份，具有同等法律效力。",
    "甲方（盖章）：　　　　　　　　　乙方（盖章）：",
    "日期：二〇二六年十一月二十二日",
]


class ToolMissing(Exception):
    """A needed outside tool is not installed: the corpus file is skipped."""


def have(tool: str) -> bool:
    return shutil.which(tool) is not None


def run(args: list, timeout: float = 120, ok_codes=(0,), **kw) -> subprocess.CompletedProcess:
    if not have(str(args[0])):
        raise ToolMissing(f"{args[0]} not installed")
    p = subprocess.run([str(a) for a in args], capture_output=True, timeout=timeout, **kw)
    if p.returncode not in ok_codes:
        raise RuntimeError(f"{' '.join(map(str, args))} exited {p.returncode}: "
                           f"{p.stderr.decode(errors='replace').strip()[:500]}")
    return p


# --------------------------------------------------------------------------- reportlab

def _cjk_font_name() -> tuple[str, str]:
    """Register an embeddable CJK TrueType font; fall back to a non-embedded CID font."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    for path, idx in CJK_FONTS:
        if os.path.exists(path):
            if "ZH" not in pdfmetrics.getRegisteredFontNames():
                pdfmetrics.registerFont(TTFont("ZH", path, subfontIndex=idx))
            return "ZH", path
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    return "STSong-Light", "STSong-Light (not embedded)"


def _canvas(path: Path, size):
    from reportlab.pdfgen import canvas
    c = canvas.Canvas(str(path), pagesize=size, invariant=1, pageCompression=1)
    c.setAuthor("Qianzhang interop corpus")
    c.setTitle(path.stem)
    c.setCreator("make_corpus.py")
    return c


def _decorate(c, w, h, label: str, font="Helvetica", x0=0.0, y0=0.0):
    """Frame, label and corner marks so pages are visibly distinct."""
    c.setStrokeColorRGB(0.6, 0.6, 0.6)
    c.setLineWidth(1)
    c.rect(x0 + 20, y0 + 20, w - 40, h - 40)
    c.setFillColorRGB(0, 0, 0)
    c.setFont(font, 14)
    c.drawString(x0 + 40, y0 + h - 60, label)
    c.setFont("Helvetica", 8)
    c.drawString(x0 + 24, y0 + 24, f"bottom-left of MediaBox+({x0:g},{y0:g}) {w:g}x{h:g}")


def gen_rl_a4_chinese(ctx):
    from reportlab.lib.pagesizes import A4
    out = ctx.path("rl-a4-chinese")
    font, fontpath = _cjk_font_name()
    c = _canvas(out, A4)
    w, h = A4
    _decorate(c, w, h, "reportlab A4, embedded CJK TrueType")
    y = h - 110
    for i, line in enumerate(CONTRACT_ZH):
        c.setFont(font, 20 if i == 0 else 12)
        if i == 0:
            c.drawCentredString(w / 2, y, line)
        else:
            c.drawString(60, y, line)
        y -= 34 if i == 0 else 24
    c.showPage()
    c.save()
    return ctx.entry("rl-a4-chinese", out, "sign", pages=1, producer="reportlab",
                     notes=f"A4, Chinese contract text, font {fontpath} (subset embedded)")


def gen_rl_mixed_sizes(ctx):
    from reportlab.lib.pagesizes import A3, A4, letter, landscape
    out = ctx.path("rl-mixed-sizes")
    font, _ = _cjk_font_name()
    c = _canvas(out, A4)
    for i, (name, size) in enumerate([("A4 portrait", A4), ("US Letter", letter),
                                      ("A3 landscape", landscape(A3))]):
        c.setPageSize(size)
        w, h = size
        _decorate(c, w, h, f"page {i + 1}: {name}")
        c.setFont(font, 12)
        c.drawString(60, h - 100, f"第{i + 1}页　{CONTRACT_ZH[2]}")
        c.showPage()
    c.save()
    return ctx.entry("rl-mixed-sizes", out, "sign", pages=3, producer="reportlab",
                     notes="3 pages: A4 portrait, Letter, A3 landscape")


def _draw_up_marker(c, x0, y0, w, h, text):
    """An arrow pointing to the page's unrotated top, and a label."""
    cx, cy = x0 + w / 2, y0 + h / 2
    c.setFillColorRGB(0.1, 0.1, 0.1)
    p = c.beginPath()
    p.moveTo(cx, cy + 120)
    p.lineTo(cx - 40, cy + 60)
    p.lineTo(cx + 40, cy + 60)
    p.close()
    c.drawPath(p, fill=1, stroke=0)
    c.rect(cx - 10, cy - 40, 20, 100, fill=1, stroke=0)
    c.setFont("Helvetica", 16)
    c.drawCentredString(cx, cy - 70, text)


def gen_rl_rotated(ctx):
    from reportlab.lib.pagesizes import A4
    out = ctx.path("rl-rotated")
    c = _canvas(out, A4)
    for rot in (0, 90, 180, 270):
        c.setPageRotation(rot)
        # reportlab swaps the MediaBox for 90/270 so that the page *displays* as A4 portrait
        w, h = A4 if rot in (0, 180) else (A4[1], A4[0])
        _decorate(c, w, h, f"/Rotate {rot}")
        _draw_up_marker(c, 0, 0, w, h, f"unrotated top, /Rotate {rot}")
        c.showPage()
    c.save()
    return ctx.entry("rl-rotated", out, "sign", pages=4, producer="reportlab", placement=True,
                     notes="/Rotate 0, 90, 180, 270; every page displays as A4 portrait (reportlab "
                           "stores 90/270 pages with a landscape MediaBox [0 0 842 595])")


def gen_rl_origin(ctx):
    """MediaBox not at the origin: [100 200 695 1042], the same + /Rotate 90, and a negative one."""
    from pyhanko.pdf_utils import generic
    out = ctx.path("rl-origin-offset")
    tmp = ctx.tmp / "origin-base.pdf"
    boxes = [(100, 200, 695, 1042, 0), (100, 200, 695, 1042, 90), (-300, -400, 295, 442, 0)]
    c = _canvas(tmp, (1000, 1100))
    for (x0, y0, x1, y1, rot) in boxes:
        # draw in absolute user space (negative coordinates are fine in a content stream)
        _decorate(c, x1 - x0, y1 - y0, f"MediaBox [{x0} {y0} {x1} {y1}] /Rotate {rot}", x0=x0, y0=y0)
        _draw_up_marker(c, x0, y0, x1 - x0, y1 - y0, "unrotated top")
        c.showPage()
    c.save()
    _rewrite_pages(tmp, out, [
        {"/MediaBox": generic.ArrayObject([generic.NumberObject(v) for v in b[:4]]),
         "/Rotate": generic.NumberObject(b[4])} for b in boxes])
    return ctx.entry("rl-origin-offset", out, "sign", pages=3, producer="reportlab+pyHanko",
                     placement=True,
                     notes="p1 MediaBox [100 200 695 1042]; p2 same with /Rotate 90; "
                           "p3 MediaBox [-300 -400 295 442]")


def gen_rl_cropbox(ctx):
    from pyhanko.pdf_utils import generic
    from reportlab.lib.pagesizes import A4
    out = ctx.path("rl-cropbox")
    tmp = ctx.tmp / "cropbox-base.pdf"
    c = _canvas(tmp, A4)
    w, h = A4
    crop = (50, 60, 545, 780)
    for rot in (0, 90):
        _decorate(c, w, h, f"MediaBox A4, CropBox {list(crop)}, /Rotate {rot}")
        c.setStrokeColorRGB(0, 0.6, 0)
        c.rect(crop[0], crop[1], crop[2] - crop[0], crop[3] - crop[1])
        _draw_up_marker(c, 0, 0, w, h, "unrotated top")
        c.showPage()
    c.save()
    _rewrite_pages(tmp, out, [
        {"/CropBox": generic.ArrayObject([generic.NumberObject(v) for v in crop]),
         "/Rotate": generic.NumberObject(rot)} for rot in (0, 90)])
    return ctx.entry("rl-cropbox", out, "sign", pages=2, producer="reportlab+pyHanko", placement=True,
                     notes="A4 MediaBox with CropBox [50 60 545 780] (inset); p2 also /Rotate 90. "
                           "Displayed page = CropBox.")


def _rewrite_pages(src: Path, dst: Path, updates: list[dict]):
    """Copy src into a fresh (non-incremental) file, updating page dictionaries."""
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.pdf_utils.writer import copy_into_new_writer
    with open(src, "rb") as f:
        r = PdfFileReader(f)
        w = copy_into_new_writer(r)
    kids = w.root["/Pages"]["/Kids"]
    for ref, upd in zip(kids, updates):
        page = ref.get_object()
        for k, v in upd.items():
            page[k] = v
    with open(dst, "wb") as f:
        w.write(f)


def gen_bench(ctx, n: int):
    from reportlab.lib.pagesizes import A4
    name = f"bench-{n}-pages"
    out = ctx.path(name)
    c = _canvas(out, A4)
    w, h = A4
    text = "The quick brown fox jumps over the lazy dog. " * 2
    for i in range(n):
        c.setFont("Helvetica", 9)
        y = h - 60
        for j in range(40):
            c.drawString(50, y, f"{i + 1:04d}.{j:02d} {text}")
            y -= 17
        c.drawCentredString(w / 2, 30, f"- {i + 1} / {n} -")
        c.showPage()
    c.save()
    return ctx.entry(name, out, "sign", pages=n, producer="reportlab", bench=True,
                     notes=f"{n} A4 pages of small text, for benchmarks")


# --------------------------------------------------------------------------- other producers

HTML_ZH = """<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>采购合同</title>
<style>body{{font-family:'Noto Serif CJK SC','WenQuanYi Zen Hei',serif;font-size:12pt}}
table{{border-collapse:collapse}} td,th{{border:1px solid #000;padding:4px}}</style></head>
<body><h1 style="text-align:center">采购合同</h1>
{paras}
<table><tr><th>序号</th><th>品名</th><th>数量</th><th>金额（元）</th></tr>
<tr><td>1</td><td>电子签章服务</td><td>1</td><td>12,345.00</td></tr>
<tr><td>2</td><td>技术支持（一年）</td><td>1</td><td>6,789.00</td></tr></table>
<p style="page-break-before:always">附件：签署页</p>
<p>甲方（盖章）：</p><p>乙方（盖章）：</p></body></html>
"""


def gen_libreoffice(ctx):
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if not soffice:
        raise ToolMissing("soffice (LibreOffice) not installed")
    out = ctx.path("lo-writer-chinese")
    src = ctx.tmp / "lo-writer-chinese.html"
    src.write_text(HTML_ZH.format(paras="\n".join(f"<p>{p}</p>" for p in CONTRACT_ZH[1:] * 3)),
                   encoding="utf-8")
    profile = Path(tempfile.mkdtemp(prefix="lo-profile-", dir=ctx.tmp))
    outdir = ctx.tmp / "lo-out"
    outdir.mkdir(exist_ok=True)
    try:
        run([soffice, f"-env:UserInstallation=file://{profile}", "--headless", "--norestore",
             "--convert-to", "pdf:writer_web_pdf_Export", "--outdir", outdir, src], timeout=180)
    except (RuntimeError, subprocess.TimeoutExpired) as e:  # LibreOffice is flaky on bare CI boxes
        raise ToolMissing(f"soffice failed: {e}") from None
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    produced = outdir / "lo-writer-chinese.pdf"
    if not produced.exists():
        raise ToolMissing("soffice produced no PDF")
    shutil.move(produced, out)
    pages = _npages(out)
    return ctx.entry("lo-writer-chinese", out, "sign", pages=pages, producer="LibreOffice",
                     notes="LibreOffice Writer/Web HTML -> PDF, Chinese text + table, fonts from fontconfig")


def gen_ghostscript(ctx):
    src = ctx.need("rl-a4-chinese")
    out = ctx.path("gs-redistill")
    run(["gs", "-q", "-dNOPAUSE", "-dBATCH", "-dSAFER", "-sDEVICE=pdfwrite",
         "-dCompatibilityLevel=1.7", "-o", out, src])
    return ctx.entry("gs-redistill", out, "sign", pages=1, producer="Ghostscript pdfwrite",
                     notes="rl-a4-chinese re-distilled by Ghostscript pdfwrite")


def gen_pdflib(ctx):
    js = HERE / "node" / "make_pdflib.js"
    if not have("node") or not (HERE / "node" / "node_modules" / "pdf-lib").is_dir():
        raise ToolMissing("node or pdf-lib (tests/interop/node/node_modules) not installed")
    out = ctx.path("pdflib")
    run(["node", js, out])
    return ctx.entry("pdflib", out, "sign", pages=2, producer="pdf-lib 1.17.1",
                     notes="pdf-lib: object streams + xref stream, Helvetica")


def gen_mutool(ctx):
    src = ctx.need("rl-mixed-sizes")
    out = ctx.path("mutool-clean-gggg")
    run(["mutool", "clean", "-gggg", src, out])
    return ctx.entry("mutool-clean-gggg", out, "sign", pages=3, producer="mutool clean -gggg",
                     notes="garbage-collected, renumbered, duplicates merged by MuPDF")


# --------------------------------------------------------------------------- qpdf variants

def gen_qpdf_variants(ctx):
    src = ctx.need("rl-mixed-sizes")
    variants = [
        ("qpdf-objstm", ["--object-streams=generate"], "object streams + cross-reference stream"),
        ("qpdf-linearized", ["--linearize"], "linearized (fast web view), two xref sections"),
        ("qpdf-qdf", ["--qdf", "--object-streams=disable"], "QDF mode: uncompressed, annotated"),
        ("qpdf-pdf20", ["--force-version=2.0"], "header %PDF-2.0"),
    ]
    entries = []
    for name, opts, notes in variants:
        out = ctx.path(name)
        run(["qpdf", "--deterministic-id", *opts, src, out])
        entries.append(ctx.entry(name, out, "sign", pages=3, producer="qpdf",
                                 notes=f"rl-mixed-sizes via qpdf {' '.join(opts)}: {notes}"))
    out = ctx.path("qpdf-encrypted")
    run(["qpdf", "--encrypt", "", "owner-pw", "256", "--", src, out])
    entries.append(ctx.entry("qpdf-encrypted", out, "refuse", refuse="encrypt", pages=3, producer="qpdf",
                             notes="AES-256 (R6), empty user password, owner password 'owner-pw'"))
    out = ctx.path("qpdf-encrypted-userpw")
    run(["qpdf", "--encrypt", "user-pw", "owner-pw", "256", "--", src, out])
    entries.append(ctx.entry("qpdf-encrypted-userpw", out, "refuse", refuse="encrypt", pages=3,
                             producer="qpdf", notes="AES-256, user password 'user-pw'"))
    return entries


def gen_damaged_xref(ctx):
    """Classic xref table whose in-use offsets are all off by +3 bytes."""
    src = ctx.need("rl-mixed-sizes")
    out = ctx.path("damaged-xref")
    data = bytearray(src.read_bytes())
    pos = data.rfind(b"\nxref")
    if pos < 0:
        raise RuntimeError("base file has no classic xref table")
    table_end = data.find(b"trailer", pos)

    def bump(m):
        return b"%010d %s n" % (int(m.group(1)) + 3, m.group(2))

    table = re.sub(rb"(\d{10}) (\d{5}) n", bump, bytes(data[pos:table_end]))
    if table == bytes(data[pos:table_end]):
        raise RuntimeError("no xref entries rewritten")
    data[pos:table_end] = table
    out.write_bytes(bytes(data))
    return ctx.entry("damaged-xref", out, "refuse", refuse="damaged", pages=3, producer="reportlab, corrupted",
                     notes="every in-use xref offset +3 (qpdf and poppler recover by reconstruction; "
                           "a signer must not append an update to it)")


def gen_hybrid(ctx):
    """Hand-written hybrid-reference file: classic table + /XRefStm for an object-stream object."""
    out = ctx.path("hybrid-xref")
    content = (b"BT /F1 24 Tf 72 720 Td (Hybrid-reference file) Tj ET\n"
               b"BT /F1 12 Tf 72 690 Td (Font object lives in an object stream, found via /XRefStm.) Tj ET\n"
               b"0.5 w 40 40 515 762 re S\n")
    font = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
    objstm_head = b"7 0 "
    objstm_data = objstm_head + font
    objs = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        3: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
           b"/Resources << /Font << /F1 7 0 R >> >> >>",
        4: b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        5: b"<< /Producer (make_corpus.py hand-written hybrid) /Title (hybrid-xref) >>",
        6: b"<< /Type /ObjStm /N 1 /First %d /Length %d >>\nstream\n" % (len(objstm_head), len(objstm_data))
           + objstm_data + b"\nendstream",
    }
    buf = bytearray(b"%PDF-1.5\n%\xe2\xe3\xcf\xd3\n")
    offsets = {}
    for num in sorted(objs):
        offsets[num] = len(buf)
        buf += b"%d 0 obj\n" % num + objs[num] + b"\nendobj\n"
    # xref stream (object 8): W [1 4 2], section [7 1]: type 2, in objstm 6, index 0
    xs_data = bytes([2]) + (6).to_bytes(4, "big") + (0).to_bytes(2, "big")
    offsets[8] = len(buf)
    buf += (b"8 0 obj\n<< /Type /XRef /Size 9 /W [1 4 2] /Index [7 1] /Length %d >>\nstream\n"
            % len(xs_data)) + xs_data + b"\nendstream\nendobj\n"
    xref_pos = len(buf)
    buf += b"xref\n0 9\n0000000000 65535 f \n"
    for num in range(1, 9):
        if num == 7:
            # compressed object: free in the classic table, generation 65535 as in the hybrid
            # files Word writes (with "00001 f" pyHanko treats object 7 0 as freed and never
            # consults /XRefStm; qpdf and poppler do)
            buf += b"0000000000 65535 f \n"
        else:
            buf += b"%010d 00000 n \n" % offsets[num]
    buf += (b"trailer\n<< /Size 9 /Root 1 0 R /Info 5 0 R /XRefStm %d >>\nstartxref\n%d\n%%%%EOF\n"
            % (offsets[8], xref_pos))
    out.write_bytes(bytes(buf))
    return ctx.entry("hybrid-xref", out, "sign", pages=1, producer="hand-written",
                     notes="hybrid-reference file (PDF 1.5 §7.5.8.4): font object 7 only in an object "
                           "stream listed by the /XRefStm xref stream")


# --------------------------------------------------------------------------- pyHanko-made

def _signer(ctx, which="ecdsa"):
    from pyhanko.sign import signers
    pki = ctx.pki
    return signers.SimpleSigner.load(str(pki / f"{which}.key"), str(pki / f"{which}.pem"),
                                     ca_chain_files=(str(pki / "ca.pem"),))


def gen_form_fields(ctx):
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign.fields import SigFieldSpec, append_signature_field
    from reportlab.lib.pagesizes import A4
    font, _ = _cjk_font_name()
    tmp = ctx.tmp / "form-base.pdf"
    c = _canvas(tmp, A4)
    w, h = A4
    _decorate(c, w, h, "AcroForm: text field + empty signature field")
    c.setFont(font, 12)
    c.drawString(60, 700, "姓名：")
    c.acroForm.textfield(name="name", tooltip="name", x=110, y=690, width=200, height=22,
                         value="Zhang San", forceBorder=True)
    c.drawString(60, 650, "同意：")
    c.acroForm.checkbox(name="agree", x=110, y=645, size=16, checked=True)
    c.drawString(60, 160, "签名：")
    c.showPage()
    c.save()
    out = ctx.path("form-fields")
    with open(tmp, "rb") as f:
        wr = IncrementalPdfFileWriter(f)
        append_signature_field(wr, SigFieldSpec("EmptySig", on_page=0, box=(100, 100, 200, 150)))
        with open(out, "wb") as o:
            wr.write(o)
    return ctx.entry("form-fields", out, "sign", pages=1, producer="reportlab + pyHanko (incremental)",
                     empty_sig_field="EmptySig",
                     notes="AcroForm text field 'name' + checkbox 'agree'; empty signature field "
                           "'EmptySig' at [100 100 200 150] on page 1 added by an incremental update")


def gen_incremental(ctx):
    """Append one classic incremental update by hand: a new /Info dictionary.

    (pyHanko's IncrementalPdfFileWriter would do, but it writes a trailer /Size one too
    big when nothing new is allocated, which makes `qpdf --check` warn.)
    """
    from pyhanko.pdf_utils.reader import PdfFileReader
    src = ctx.need("rl-a4-chinese")
    out = ctx.path("incremental-info")
    data = src.read_bytes()
    with open(src, "rb") as f:
        r = PdfFileReader(f)
        size = int(r.trailer_view["/Size"])
        root = r.trailer_view.raw_get("/Root")
        ids = r.trailer_view["/ID"]
        id_hex = " ".join("<%s>" % bytes(x.original_bytes).hex() for x in ids)
    prev = int(re.findall(rb"startxref\s+(\d+)", data)[-1])
    subject = "已增量更新 (incremental update)".encode("utf-16-be")
    info = (b"<< /Title (rl-a4-chinese, updated) /Producer (make_corpus.py hand-written update) "
            b"/Subject <feff" + subject.hex().encode() + b"> /Keywords (qianzhang, interop) "
            b"/ModDate (D:20240102030405Z) >>")
    buf = bytearray(data)
    if not buf.endswith(b"\n"):
        buf += b"\n"
    off = len(buf)
    buf += b"%d 0 obj\n" % size + info + b"\nendobj\n"
    xref = len(buf)
    buf += b"xref\n0 1\n0000000000 65535 f \n%d 1\n%010d 00000 n \n" % (size, off)
    buf += (b"trailer\n<< /Size %d /Root %d %d R /Info %d 0 R /Prev %d /ID [%s] >>\nstartxref\n%d\n%%%%EOF\n"
            % (size + 1, root.idnum, root.generation, size, prev, id_hex.encode(), xref))
    out.write_bytes(bytes(buf))
    return ctx.entry("incremental-info", out, "sign", pages=1, producer="reportlab + hand-written update",
                     notes="rl-a4-chinese plus one classic incremental update with a new /Info object")


def _pyhanko_sign(ctx, src: Path, out: Path, meta, signer="ecdsa", new_field=None):
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers
    from pyhanko.sign.fields import append_signature_field
    with open(src, "rb") as f:
        wr = IncrementalPdfFileWriter(f)
        if new_field is not None:
            append_signature_field(wr, new_field)
        with open(out, "wb") as o:
            signers.sign_pdf(wr, meta, signer=_signer(ctx, signer), output=o)


def gen_presigned(ctx):
    from pyhanko.sign import signers
    from pyhanko.sign.fields import SigSeedSubFilter
    src = ctx.need("rl-mixed-sizes")
    out = ctx.path("presigned-pyhanko")
    meta = signers.PdfSignatureMetadata(field_name="PyHankoSig", subfilter=SigSeedSubFilter.PADES,
                                        reason="pre-existing approval signature", location="测试")
    _pyhanko_sign(ctx, src, out, meta)
    return ctx.entry("presigned-pyhanko", out, "sign", pages=3, producer="pyHanko", existing_sigs=1,
                     trust=[ctx.pki_rel("root.pem")],
                     notes="one invisible PAdES approval signature by pyHanko (corpus PKI, ECDSA)")


def gen_certified(ctx):
    from pyhanko.sign import signers
    from pyhanko.sign.fields import MDPPerm, SigSeedSubFilter
    src = ctx.need("rl-mixed-sizes")
    entries = []
    for perm, name, expect, refuse, notes in [
        (MDPPerm.NO_CHANGES, "certified-p1", "refuse", "docmdp",
         "certified by pyHanko with DocMDP P=1 (no changes): any new signature breaks it"),
        (MDPPerm.FILL_FORMS, "certified-p2", "sign-invisible-only", None,
         "certified by pyHanko with DocMDP P=2 (form filling + signing): pyHanko accepts a new "
         "invisible signature field but flags a new visible one"),
        (MDPPerm.ANNOTATE, "certified-p3", "sign-invisible-only", None,
         "certified by pyHanko with DocMDP P=3 (annotations allowed); pyHanko 0.38 still classes a "
         "new visible signature widget after a certification signature as OTHER (docmdp_ok=False), "
         "so only an invisible signature passes the reference validator"),
    ]:
        out = ctx.path(name)
        meta = signers.PdfSignatureMetadata(field_name="Certification", certify=True,
                                            docmdp_permissions=perm, subfilter=SigSeedSubFilter.PADES,
                                            reason=f"certification P={perm.value}")
        _pyhanko_sign(ctx, src, out, meta)
        entries.append(ctx.entry(name, out, expect, refuse=refuse, pages=3, producer="pyHanko",
                                 existing_sigs=1, trust=[ctx.pki_rel("root.pem")], docmdp=perm.value,
                                 notes=notes))
    return entries


# --------------------------------------------------------------------------- driver

def _npages(path: Path, password: str | None = None) -> int | None:
    if not have("qpdf"):
        return None
    args = ["qpdf", "--show-npages", str(path)]
    if password is not None:
        args.insert(1, f"--password={password}")
    p = subprocess.run(args, capture_output=True)
    try:
        return int(p.stdout.strip())
    except ValueError:
        return None


def _qpdf_check(path: Path) -> int | None:
    """qpdf --check exit code of the input (0 clean, 2 errors, 3 warnings)."""
    if not have("qpdf"):
        return None
    return subprocess.run(["qpdf", "--check", str(path)], capture_output=True).returncode


def _pyhanko_strict(path: Path) -> bool | None:
    """Whether pyHanko's strict reader loads the file and walks its pages."""
    from pyhanko.pdf_utils.reader import PdfFileReader
    try:
        with open(path, "rb") as f:
            r = PdfFileReader(f, strict=True)
            if r.encrypted:
                r.decrypt("")
            r.root["/Pages"]["/Count"]
            _ = r.embedded_signatures
        return True
    except Exception:
        return False


def page_geometry(path: Path) -> list[dict]:
    """Per page {mediabox, cropbox, rotate} with inheritance resolved (pyHanko, non-strict)."""
    from pyhanko.pdf_utils.reader import PdfFileReader
    res = []
    with open(path, "rb") as f:
        r = PdfFileReader(f, strict=False)

        def walk(node, inherited):
            node = node.get_object()
            inh = dict(inherited)
            for k in ("/MediaBox", "/CropBox", "/Rotate"):
                if k in node:
                    inh[k] = node[k]
            if node.get("/Type") == "/Pages" or "/Kids" in node:
                for kid in node["/Kids"]:
                    walk(kid, inh)
            else:
                mb = [float(v) for v in inh["/MediaBox"]]
                cb = [float(v) for v in inh["/CropBox"]] if "/CropBox" in inh else mb
                res.append({"mediabox": mb, "cropbox": cb, "rotate": int(inh.get("/Rotate", 0)) % 360})

        walk(r.root["/Pages"], {})
    return res


class Ctx:
    def __init__(self, outdir: Path, tmp: Path, pki: Path):
        self.outdir, self.tmp, self.pki = outdir, tmp, pki
        self.made: dict[str, Path] = {}

    def path(self, name: str) -> Path:
        return self.outdir / f"{name}.pdf"

    def pki_rel(self, f: str) -> str:
        p = self.pki / f
        try:
            return str(p.relative_to(self.outdir))
        except ValueError:
            return str(p)

    def need(self, name: str) -> Path:
        if name not in self.made:
            raise ToolMissing(f"base file {name} was not generated")
        return self.made[name]

    def entry(self, name, path: Path, expect, *, pages, notes, producer, refuse=None, bench=False,
              existing_sigs=0, trust=(), placement=False, **extra) -> dict:
        self.made[name] = path
        e = {"name": name, "file": path.name, "expect": expect,
             "refuse_reason_contains": refuse, "pages": pages, "notes": notes,
             "producer": producer, "bench": bench, "existing_sigs": existing_sigs,
             "trust": list(trust), "placement": placement}
        e.update(extra)
        return e


GENERATORS = [
    ("rl-a4-chinese", gen_rl_a4_chinese),
    ("rl-mixed-sizes", gen_rl_mixed_sizes),
    ("rl-rotated", gen_rl_rotated),
    ("rl-origin-offset", gen_rl_origin),
    ("rl-cropbox", gen_rl_cropbox),
    ("lo-writer-chinese", gen_libreoffice),
    ("gs-redistill", gen_ghostscript),
    ("pdflib", gen_pdflib),
    ("mutool-clean-gggg", gen_mutool),
    ("qpdf-*", gen_qpdf_variants),
    ("damaged-xref", gen_damaged_xref),
    ("hybrid-xref", gen_hybrid),
    ("form-fields", gen_form_fields),
    ("incremental-info", gen_incremental),
    ("presigned-pyhanko", gen_presigned),
    ("certified-*", gen_certified),
    ("bench-100-pages", lambda ctx: gen_bench(ctx, 100)),
    ("bench-1000-pages", lambda ctx: gen_bench(ctx, 1000)),
]


def make_corpus(outdir: Path, pki: Path | None = None, bench: bool = True,
                only: set[str] | None = None, log=print) -> dict:
    outdir = Path(outdir).resolve()
    outdir.mkdir(parents=True, exist_ok=True)
    if pki is None:
        from make_pki import make_pki
        pki = outdir / "pki"
        make_pki(pki, prefix="语料")
    pki = Path(pki).resolve()
    manifest = {"files": [], "skipped": [], "errors": [], "pki": str(pki)}
    with tempfile.TemporaryDirectory(prefix="qz-corpus-") as tmp:
        ctx = Ctx(outdir, Path(tmp), pki)
        for label, gen in GENERATORS:
            if not bench and label.startswith("bench-"):
                manifest["skipped"].append({"name": label, "reason": "--no-bench"})
                continue
            if only and label not in only and not any(o.startswith(label.rstrip("*")) for o in only) \
                    and not label.startswith(("rl-a4", "rl-mixed")):
                continue
            t0 = time.monotonic()
            try:
                res = gen(ctx)
            except ToolMissing as e:
                manifest["skipped"].append({"name": label, "reason": str(e)})
                log(f"  skip  {label}: {e}")
                continue
            except Exception as e:  # noqa: BLE001
                manifest["errors"].append({"name": label, "error": f"{type(e).__name__}: {e}",
                                           "traceback": traceback.format_exc()})
                log(f"  ERROR {label}: {type(e).__name__}: {e}")
                continue
            for e in res if isinstance(res, list) else [res]:
                p = outdir / e["file"]
                e["size"] = p.stat().st_size
                if e["expect"] != "refuse" or e["refuse_reason_contains"] == "docmdp":
                    e["pyhanko_strict"] = _pyhanko_strict(p)
                else:
                    e["pyhanko_strict"] = None
                if e["placement"]:
                    e["geometry"] = page_geometry(p)
                e["qpdf_check"] = _qpdf_check(p)
                manifest["files"].append(e)
            log(f"  ok    {label} ({time.monotonic() - t0:.1f}s)")
    (outdir / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n",
                                          encoding="utf-8")
    return manifest


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("outdir", type=Path)
    ap.add_argument("--pki", type=Path, help="use this PKI (make_pki.py output) for pre-signed files")
    ap.add_argument("--no-bench", action="store_true", help="skip the 100/1000-page files")
    ap.add_argument("--only", help="comma-separated generator labels (the two base files always run)")
    a = ap.parse_args()
    t0 = time.monotonic()
    m = make_corpus(a.outdir, a.pki, bench=not a.no_bench,
                    only=set(a.only.split(",")) if a.only else None,
                    log=lambda s: print(s, file=sys.stderr))
    print(f"{len(m['files'])} files, {len(m['skipped'])} skipped, {len(m['errors'])} errors "
          f"in {time.monotonic() - t0:.1f}s -> {a.outdir / 'manifest.json'}", file=sys.stderr)
    for e in m["errors"]:
        print(e["traceback"], file=sys.stderr)
    return 1 if m["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
