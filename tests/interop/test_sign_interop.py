"""Interop tests: `qz sign` output judged by pyHanko, pdfsig, qpdf and pdftoppm.

Run: QZ_BIN=target/release/qz .venv/bin/python -m pytest tests/interop -q
See README.md in this directory.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from check import check_pdf
from conftest import BENCH, corpus_entries, corpus_manifest, out_root, run_qz, signer_args, write_json

SEAL_RECT = "72,72,120,120"


# --------------------------------------------------------------------------- helpers

def assert_prefix(inp: Path, out: Path) -> None:
    a, b = inp.read_bytes(), out.read_bytes()
    assert len(b) > len(a), f"{out.name}: output ({len(b)} B) not longer than input ({len(a)} B)"
    if not b.startswith(a):
        i = next((k for k in range(len(a)) if a[k] != b[k]), len(a))
        pytest.fail(f"{out.name}: input is not a byte prefix of the output (first difference at byte {i})")


def assert_signed_ok(run, inp: Path, out: Path, trust: list[Path], expect_sigs: int,
                     allow_qpdf_warnings=False) -> None:
    assert run.rc == 0, f"qz sign failed\n{run.describe()}"
    assert out.is_file(), f"qz exited 0 but wrote no {out}\n{run.describe()}"
    assert_prefix(inp, out)
    # pdfsig's NSS db gets the roots as trusted CAs, plus the intermediate and the leaves
    # (check.py also adds every certificate embedded in the signatures)
    pki_dir = out_root() / "pki"
    certs = [pki_dir / n for n in ("ca.pem", "ecdsa.pem", "rsa2048.pem", "rsa4096.pem")
             if (pki_dir / n).exists()]
    res = check_pdf(out, trust, expect_sigs=expect_sigs, certs=certs, allow_qpdf_warnings=allow_qpdf_warnings)
    write_json(out.with_suffix(".check.json"), res.to_json())
    assert res.ok, res.explain()


def assert_refused(run, out: Path, reason: str | None = None) -> None:
    err = run.stderr.strip()
    assert run.rc != 0, f"qz sign should have failed\n{run.describe()}"
    assert not out.exists(), f"qz failed but left {out} behind\n{run.describe()}"
    assert err, f"no error message on stderr\n{run.describe()}"
    assert "\n" not in err, f"stderr is not one line\n{run.describe()}"
    assert err.startswith("error: "), f"stderr does not start with 'error: '\n{run.describe()}"
    assert "panicked" not in err.lower() and "RUST_BACKTRACE" not in err, f"qz panicked\n{run.describe()}"
    if reason:
        assert reason.lower() in err.lower(), f"error message lacks {reason!r}\n{run.describe()}"


def trust_for(entry: dict, corpus_dir: Path, pki) -> list[Path]:
    return [pki.root] + [corpus_dir / t for t in entry.get("trust", [])]


def fresh(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    return path


def ids(entries):
    return [e["name"] for e in entries]


# --------------------------------------------------------------------------- corpus sanity

def test_corpus_generated(corpus):
    errs = corpus.get("errors", [])
    assert not errs, "corpus generation errors:\n" + "\n".join(f"{e['name']}: {e['error']}" for e in errs)
    skipped = [s for s in corpus.get("skipped", []) if s["reason"] != "--no-bench"]
    if skipped:
        pytest.skip("corpus files not generated: " + "; ".join(f"{s['name']}: {s['reason']}" for s in skipped))


# --------------------------------------------------------------------------- a. sign twice

SIGN = corpus_entries("sign")


@pytest.mark.parametrize("entry", SIGN, ids=ids(SIGN))
def test_sign_twice(entry, qz, pki, images, corpus_dir, workdir):
    """ECDSA + seal on page 1, then RSA-2048 + cross-page seal + date stamp; judge both."""
    inp = corpus_dir / entry["file"]
    trust = trust_for(entry, corpus_dir, pki)
    n0 = entry.get("existing_sigs", 0)
    warn_ok = entry.get("qpdf_check") == 3
    d = workdir / "sign"
    out1 = fresh(d / f"{entry['name']}.1.pdf")
    r1 = run_qz(qz, ["sign", inp, "-o", out1, *signer_args(pki, "ecdsa"),
                     "--seal", images["seal"], "--page", "1", "--rect", SEAL_RECT,
                     "--reason", "互通测试 first signature", "--location", "北京"])
    assert_signed_ok(r1, inp, out1, trust, n0 + 1, warn_ok)

    out2 = fresh(d / f"{entry['name']}.2.pdf")
    if entry["pages"] >= 2:
        # a seal cut into 1000 strips is meaningless (qz refuses): limit the range on bench files
        rng = "all" if entry["pages"] <= 100 else "1-50"
        stamp = ["--seal", images["seal"], "--cross-page", rng]
    else:  # a cross-page seal needs two pages; use a second plain seal instead
        stamp = ["--seal", images["seal"], "--page", "1", "--rect", "300,72,100,100"]
    r2 = run_qz(qz, ["sign", out1, "-o", out2, *signer_args(pki, "rsa2048"), *stamp,
                     "--date-stamp", "page=1,x=300,y=40,size=12"])
    assert_signed_ok(r2, out1, out2, trust, n0 + 2, warn_ok)


INVIS = corpus_entries("sign-invisible-only")


@pytest.mark.parametrize("entry", INVIS, ids=ids(INVIS))
def test_sign_invisible_twice(entry, qz, pki, corpus_dir, workdir):
    """DocMDP P=2 documents: two invisible approval signatures keep the certification intact."""
    inp = corpus_dir / entry["file"]
    trust = trust_for(entry, corpus_dir, pki)
    n0 = entry.get("existing_sigs", 0)
    d = workdir / "invisible"
    out1 = fresh(d / f"{entry['name']}.1.pdf")
    r1 = run_qz(qz, ["sign", inp, "-o", out1, *signer_args(pki, "ecdsa")])
    assert_signed_ok(r1, inp, out1, trust, n0 + 1)
    out2 = fresh(d / f"{entry['name']}.2.pdf")
    r2 = run_qz(qz, ["sign", out1, "-o", out2, *signer_args(pki, "rsa2048")])
    assert_signed_ok(r2, out1, out2, trust, n0 + 2)


@pytest.mark.parametrize("entry", INVIS, ids=ids(INVIS))
def test_visible_on_certified(entry, qz, pki, images, corpus_dir, workdir):
    """A visible seal on a certified (P=2/P=3) document: qz either refuses cleanly or produces
    a file that pyHanko does not flag (pyHanko 0.38 flags a *new* visible signature field
    added after a certification signature)."""
    inp = corpus_dir / entry["file"]
    out = fresh(workdir / "invisible" / f"{entry['name']}.visible.pdf")
    r = run_qz(qz, ["sign", inp, "-o", out, *signer_args(pki, "ecdsa"),
                    "--seal", images["seal"], "--page", "1", "--rect", SEAL_RECT])
    if r.rc != 0:
        assert_refused(r, out)
    else:
        assert_signed_ok(r, inp, out, trust_for(entry, corpus_dir, pki), entry.get("existing_sigs", 0) + 1)


# --------------------------------------------------------------------------- b. refusals

REFUSE = corpus_entries("refuse")


@pytest.mark.parametrize("entry", REFUSE, ids=ids(REFUSE))
def test_refuse(entry, qz, pki, corpus_dir, workdir):
    inp = corpus_dir / entry["file"]
    out = fresh(workdir / "refuse" / f"{entry['name']}.pdf")
    r = run_qz(qz, ["sign", inp, "-o", out, *signer_args(pki, "ecdsa")])
    assert_refused(r, out, entry["refuse_reason_contains"])


# --------------------------------------------------------------------------- c. placement

PLACE = [e for e in corpus_entries("sign") if e.get("placement")]
PLACE_PAGES = [(e, i + 1) for e in PLACE for i in range(e["pages"])]
ORIENT_SIZE = 120  # points


def displayed_size(g: dict) -> tuple[float, float]:
    x0, y0, x1, y1 = g["cropbox"]
    w, h = abs(x1 - x0), abs(y1 - y0)
    return (h, w) if g["rotate"] in (90, 270) else (w, h)


def orient_rect(g: dict) -> tuple[int, int, int, int]:
    """An asymmetric spot in the upper-left quarter of the displayed page."""
    w, h = displayed_size(g)
    return int(w * 0.12), int(h - 100 - ORIENT_SIZE), ORIENT_SIZE, ORIENT_SIZE


_placed: dict[str, tuple] = {}


def placed_file(entry, qz, pki, images, corpus_dir, workdir):
    """Sign once per file with orient.png stamped on every page (--stamp, repeated);
    render with pdftoppm at 72 dpi (1 px = 1 pt, CropBox = displayed page)."""
    if entry["name"] in _placed:
        return _placed[entry["name"]]
    if not shutil.which("pdftoppm"):
        pytest.skip("pdftoppm (poppler-utils) not installed")
    inp = corpus_dir / entry["file"]
    d = workdir / "placement"
    out = fresh(d / f"{entry['name']}.pdf")
    stamps = []
    for i, g in enumerate(entry["geometry"], 1):
        x, y, w, h = orient_rect(g)
        stamps += ["--stamp", f"seal={images['orient']},page={i},rect={x};{y};{w};{h}"]
    r = run_qz(qz, ["sign", inp, "-o", out, *signer_args(pki, "ecdsa"), *stamps])
    res = None
    if r.rc == 0 and out.is_file():
        prefix = d / entry["name"]
        p = subprocess.run(["pdftoppm", "-r", "72", "-png", "-cropbox", str(out), str(prefix)],
                           capture_output=True)
        assert p.returncode == 0, p.stderr.decode(errors="replace")
        pngs = sorted(d.glob(f"{entry['name']}-*.png"), key=lambda q: int(q.stem.rsplit("-", 1)[1]))
        res = pngs
    _placed[entry["name"]] = (r, inp, out, res)
    return _placed[entry["name"]]


def classify(img):
    """Boolean masks of pure-ish red and blue pixels (numpy-free, via Pillow bands)."""
    from PIL import ImageChops
    r, g, b = img.convert("RGB").split()
    hi = lambda band: band.point(lambda v: 255 if v > 190 else 0)  # noqa: E731
    lo = lambda band: band.point(lambda v: 255 if v < 70 else 0)  # noqa: E731
    red = ImageChops.multiply(ImageChops.multiply(hi(r), lo(g)), lo(b))
    blue = ImageChops.multiply(ImageChops.multiply(lo(r), lo(g)), hi(b))
    return red, blue


def pixel_stats(mask, box=None):
    """(count, mean x, mean y, first solid row, last solid row) of the set pixels of an L mask,
    optionally inside box=(left, top, right, bottom); coordinates in the full image."""
    from PIL import Image
    m = mask.crop(box) if box else mask
    ox, oy = (box[0], box[1]) if box else (0, 0)
    n = m.histogram()[255]
    if not n:
        return 0, None, None, None, None
    w, h = m.size
    rows = list(m.resize((1, h), Image.BOX).tobytes())  # per-row mean, 0..255
    cols = list(m.resize((w, 1), Image.BOX).tobytes())
    sy, sx = sum(rows), sum(cols)
    if not sy or not sx:  # too sparse for the averages: fall back to the bounding box
        l, t, r, b = m.getbbox()
        return n, ox + (l + r) / 2, oy + (t + b) / 2, oy + t, oy + b - 1
    mean_y = oy + sum(i * v for i, v in enumerate(rows)) / sy
    mean_x = ox + sum(i * v for i, v in enumerate(cols)) / sx
    solid = [i for i, v in enumerate(rows) if v > 25] or [i for i, v in enumerate(rows) if v]
    return n, mean_x, mean_y, oy + solid[0], oy + solid[-1]


@pytest.mark.parametrize("entry,page", PLACE_PAGES,
                         ids=[f"{e['name']}-p{p}-rot{e['geometry'][p - 1]['rotate']}" for e, p in PLACE_PAGES])
def test_placement(entry, page, qz, pki, images, corpus_dir, workdir):
    from PIL import Image
    r, inp, out, pngs = placed_file(entry, qz, pki, images, corpus_dir, workdir)
    assert r.rc == 0, f"qz sign with --stamp failed\n{r.describe()}"
    assert out.is_file(), f"qz exited 0 but wrote no {out}\n{r.describe()}"
    assert_prefix(inp, out)
    g = entry["geometry"][page - 1]
    W, H = displayed_size(g)
    img = Image.open(pngs[page - 1])
    assert abs(img.width - W) <= 1.5 and abs(img.height - H) <= 1.5, \
        f"rendered page {img.size} != displayed size {(W, H)}: the page geometry changed?"
    x, y, w, h = orient_rect(g)
    # image rows grow downwards: row = displayed_height - y
    box = (x, int(H - y - h), x + w, int(H - y))
    red, blue = classify(img)
    n_red, rx, ry, rtop, rbot = pixel_stats(red, box)
    n_blue, bx, by, btop, bbot = pixel_stats(blue, box)
    n_red_all = pixel_stats(red)[0]
    where = (f"page {page} (/Rotate {g['rotate']}, CropBox {g['cropbox']}), requested rect "
             f"x={x} y={y} w={w} h={h} -> image box {box}; {pngs[page - 1]}")
    area = w * h
    assert n_red >= 0.2 * area, f"too few red pixels inside the rect ({n_red}/{area}); {where}; " \
                                f"red pixels on the whole page: {n_red_all}"
    assert n_blue >= 0.2 * area, f"too few blue pixels inside the rect ({n_blue}/{area}); {where}"
    # allow anti-aliasing spill of a few pixels around the rect
    spill = n_red_all - pixel_stats(red, (box[0] - 3, box[1] - 3, box[2] + 3, box[3] + 3))[0]
    assert spill <= 0.02 * area, f"{spill} red pixels outside the requested rect; {where}"
    assert abs(rx - bx) < w / 4, f"image turned by 90°: red half centred at column {rx:.0f}, " \
                                 f"blue half at column {bx:.0f} (side by side, not stacked); {where}"
    assert ry < by, f"image upside down: red centre row {ry:.0f} is below blue centre row {by:.0f}; {where}"
    assert rbot <= btop + 3, f"red and blue halves interleave: red rows {rtop}-{rbot}, " \
                             f"blue rows {btop}-{bbot}; {where}"


def test_placement_output_validates(qz, pki, images, corpus_dir, workdir):
    """The files signed for the placement tests are also valid signatures."""
    if not PLACE:
        pytest.skip("no placement corpus files")
    for entry in PLACE:
        r, inp, out, _ = placed_file(entry, qz, pki, images, corpus_dir, workdir)
        assert_signed_ok(r, inp, out, trust_for(entry, corpus_dir, pki), entry.get("existing_sigs", 0) + 1)


# --------------------------------------------------------------------------- d. bad input

def _base(corpus_dir) -> Path:
    p = corpus_dir / "rl-a4-chinese.pdf"
    if not p.exists():
        pytest.skip("base corpus file rl-a4-chinese.pdf missing")
    return p


BAD_CASES = ["not-a-pdf", "truncated-pdf", "missing-input", "page-out-of-range", "rect-off-page",
             "undecodable-image", "missing-image", "wrong-p12-password", "p12-password-env-unset",
             "key-cert-mismatch", "expired-certificate", "wrong-key-password", "cross-page-out-of-range"]


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_input(case, qz, pki, images, corpus_dir, workdir):
    d = workdir / "bad"
    d.mkdir(parents=True, exist_ok=True)
    base = _base(corpus_dir)
    inp = base
    env = {}
    signer = signer_args(pki, "ecdsa")
    extra: list = []
    if case == "not-a-pdf":
        inp = d / "not-a-pdf.pdf"
        inp.write_text("这不是PDF文件。 This is not a PDF.\n" * 50, encoding="utf-8")
    elif case == "truncated-pdf":
        inp = d / "truncated.pdf"
        data = base.read_bytes()
        inp.write_bytes(data[: len(data) // 2])
    elif case == "missing-input":
        inp = d / "does-not-exist.pdf"
    elif case == "page-out-of-range":
        extra = ["--seal", images["seal"], "--page", "99", "--rect", SEAL_RECT]
    elif case == "rect-off-page":
        extra = ["--seal", images["seal"], "--page", "1", "--rect", "5000,5000,100,100"]
    elif case == "undecodable-image":
        extra = ["--seal", images["garbage"], "--page", "1", "--rect", SEAL_RECT]
    elif case == "missing-image":
        extra = ["--seal", d / "no-such-seal.png", "--page", "1", "--rect", SEAL_RECT]
    elif case == "wrong-p12-password":
        signer = ["--p12", pki.f("ecdsa.p12"), "--password-env", "QZ_TEST_P12_PW"]
        env = {"QZ_TEST_P12_PW": "not-the-password"}
    elif case == "p12-password-env-unset":
        signer = ["--p12", pki.f("ecdsa.p12"), "--password-env", "QZ_TEST_UNSET_VARIABLE"]
        os.environ.pop("QZ_TEST_UNSET_VARIABLE", None)
    elif case == "key-cert-mismatch":
        signer = ["--key", pki.f("rsa2048.key"), "--cert", pki.f("ecdsa.pem"), "--chain", pki.ca]
    elif case == "expired-certificate":
        signer = signer_args(pki, "expired")
    elif case == "wrong-key-password":
        signer = ["--key", pki.f("ecdsa-enc.key"), "--cert", pki.f("ecdsa.pem"), "--chain", pki.ca,
                  "--key-password-env", "QZ_TEST_KEY_PW"]
        env = {"QZ_TEST_KEY_PW": "wrong"}
    elif case == "cross-page-out-of-range":
        extra = ["--seal", images["seal"], "--cross-page", "2-9"]
    out = fresh(d / f"{case}.out.pdf")
    r = run_qz(qz, ["sign", inp, "-o", out, *signer, *extra], env=env)
    assert_refused(r, out)


def test_existing_output_untouched_on_error(qz, pki, images, corpus_dir, workdir):
    """A failed run must not clobber an existing file at -o either."""
    d = workdir / "bad"
    d.mkdir(parents=True, exist_ok=True)
    out = d / "preexisting.pdf"
    out.write_bytes(b"keep me")
    r = run_qz(qz, ["sign", _base(corpus_dir), "-o", out, *signer_args(pki, "expired")])
    assert r.rc != 0, r.describe()
    assert out.read_bytes() == b"keep me", "qz overwrote the existing -o file although it failed"


# --------------------------------------------------------------------------- e. key formats, p12, options

def test_p12_signing(qz, pki, images, corpus_dir, workdir):
    inp = _base(corpus_dir)
    out = fresh(workdir / "p12" / "p12-visible.pdf")
    r = run_qz(qz, ["sign", inp, "-o", out, "--p12", pki.f("ecdsa.p12"), "--password-env", "QZ_TEST_P12_PW",
                    "--seal", images["seal"], "--page", "1", "--rect", SEAL_RECT],
               env={"QZ_TEST_P12_PW": "secret-p12"})
    assert_signed_ok(r, inp, out, [pki.root], 1)


KEY_FORMATS = {
    "ecdsa-pkcs8": ["--key", "ecdsa.key", "--cert", "ecdsa.pem"],
    "ecdsa-sec1": ["--key", "ec-sec1.key", "--cert", "ecdsa.pem"],
    "ecdsa-encrypted-pkcs8": ["--key", "ecdsa-enc.key", "--cert", "ecdsa.pem", "--key-password-env", "QZ_TEST_KEY_PW"],
    "rsa2048-pkcs1": ["--key", "rsa2048.key", "--cert", "rsa2048.pem"],
    "rsa4096-pkcs8": ["--key", "rsa4096.key", "--cert", "rsa4096.pem"],
}


@pytest.mark.parametrize("fmt", list(KEY_FORMATS))
def test_key_formats(fmt, qz, pki, corpus_dir, workdir):
    inp = _base(corpus_dir)
    args = [pki.f(a) if a.endswith((".key", ".pem")) else a for a in KEY_FORMATS[fmt]]
    out = fresh(workdir / "keys" / f"{fmt}.pdf")
    r = run_qz(qz, ["sign", inp, "-o", out, *args, "--chain", pki.ca], env={"QZ_TEST_KEY_PW": "secret-key"})
    assert_signed_ok(r, inp, out, [pki.root], 1)


@pytest.mark.parametrize("subfilter", ["ETSI.CAdES.detached", "adbe.pkcs7.detached"])
def test_subfilter(subfilter, qz, pki, corpus_dir, workdir):
    from pyhanko.pdf_utils.reader import PdfFileReader
    inp = _base(corpus_dir)
    out = fresh(workdir / "options" / f"subfilter-{subfilter}.pdf")
    r = run_qz(qz, ["sign", inp, "-o", out, *signer_args(pki, "ecdsa"), "--subfilter", subfilter,
                    "--field", "签名1", "--reason", "同意", "--location", "上海"])
    assert_signed_ok(r, inp, out, [pki.root], 1)
    with open(out, "rb") as f:
        sig = PdfFileReader(f).embedded_signatures[0]
        assert sig.sig_object["/SubFilter"] == "/" + subfilter
        assert sig.field_name == "签名1"
        assert str(sig.sig_object.get("/Reason")) == "同意"
        assert str(sig.sig_object.get("/Location")) == "上海"


def test_fill_existing_empty_field(qz, pki, corpus_dir, workdir):
    """--field names an existing empty signature field: qz fills it rather than adding one."""
    from pyhanko.pdf_utils.reader import PdfFileReader
    entry = next((e for e in corpus_manifest()["files"] if e.get("empty_sig_field")), None)
    if entry is None:
        pytest.skip("no corpus file with an empty signature field")
    inp = corpus_dir / entry["file"]
    out = fresh(workdir / "options" / "fill-empty-field.pdf")
    r = run_qz(qz, ["sign", inp, "-o", out, *signer_args(pki, "ecdsa"), "--field", entry["empty_sig_field"]])
    assert_signed_ok(r, inp, out, [pki.root], 1)
    with open(out, "rb") as f:
        rd = PdfFileReader(f)
        names = [s.field_name for s in rd.embedded_signatures]
        assert names == [entry["empty_sig_field"]], names
        fields = rd.root["/AcroForm"]["/Fields"]
        sig_fields = [x.get_object() for x in fields if x.get_object().get("/FT") == "/Sig"]
        assert len(sig_fields) == 1, f"expected the one existing signature field, found {len(sig_fields)}"


def test_seal_on_all_pages(qz, pki, images, corpus_dir, workdir):
    inp = corpus_dir / "rl-mixed-sizes.pdf"
    if not inp.exists():
        pytest.skip("rl-mixed-sizes.pdf missing")
    out = fresh(workdir / "options" / "pages-all.pdf")
    r = run_qz(qz, ["sign", inp, "-o", out, *signer_args(pki, "ecdsa"),
                    "--seal", images["seal"], "--pages", "all", "--rect", "400,60,110,110",
                    "--date-stamp", "page=3,x=400,y=40"])
    assert_signed_ok(r, inp, out, [pki.root], 1)


def test_cross_page_every_other(qz, pki, images, corpus_dir, workdir):
    inp = corpus_dir / "rl-rotated.pdf"
    if not inp.exists():
        pytest.skip("rl-rotated.pdf missing")
    out = fresh(workdir / "options" / "cross-page-every-other.pdf")
    r = run_qz(qz, ["sign", inp, "-o", out, *signer_args(pki, "rsa2048"),
                    "--seal", images["seal"], "--cross-page", "1-4", "--every-other",
                    "--cross-page-size", "100", "--cross-page-y", "300"])
    assert_signed_ok(r, inp, out, [pki.root], 1)


# --------------------------------------------------------------------------- bench (opt-in)

@pytest.mark.skipif(not BENCH, reason="set QZ_INTEROP_BENCH=1 to sign the bench files")
def test_bench_files_listed():
    assert corpus_entries("sign") and any(e["bench"] for e in corpus_entries("sign"))


def test_report_location():
    """Where outputs are kept (always passes; shows up with -rA)."""
    print(f"interop outputs in {out_root()}")
