#!/usr/bin/env python3
"""A stand-in for `qz sign`, built on pyHanko, to self-test the interop harness.

NOT the product. It exists so the harness (check.py, test_sign_interop.py) can be run
end to end before/without the Rust binary:  QZ_BIN=tests/interop/fake-qz pytest tests/interop

It accepts the same flags as `qz sign` and behaves like it on errors (one line
"error: ..." on stderr, non-zero exit, no output file). Known, deliberate gaps, which
the tests are expected to catch:
  * pyHanko draws stamps in unrotated page space; this stand-in maps the displayed-page
    rect to user space and counter-rotates the image itself (FAKE_QZ_NO_COUNTER_ROTATE=1
    turns that off, to see test_placement catch unrotated seals);
  * --cross-page and --date-stamp are accepted and ignored;
  * --stamp/--pages draw into the page content (same revision as the signature), only the
    --seal/--page stamp is the signature widget's appearance.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import sys
import tempfile
from pathlib import Path


class QzError(Exception):
    pass


def parse_rect(s: str, sep: str) -> tuple[float, float, float, float]:
    parts = s.split(sep)
    if len(parts) != 4:
        raise QzError(f"bad rect {s!r}: expected X{sep}Y{sep}W{sep}H")
    try:
        x, y, w, h = (float(p) for p in parts)
    except ValueError:
        raise QzError(f"bad rect {s!r}: not numbers") from None
    if w <= 0 or h <= 0:
        raise QzError(f"bad rect {s!r}: width and height must be positive")
    return x, y, w, h


def parse_pages(s: str, n: int) -> list[int]:
    if s == "all":
        return list(range(1, n + 1))
    out = []
    for part in s.split(","):
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part.strip())
        if not m:
            raise QzError(f"bad page list {s!r}")
        a, b = int(m.group(1)), int(m.group(2) or m.group(1))
        out += list(range(a, b + 1))
    for p in out:
        if not 1 <= p <= n:
            raise QzError(f"page {p} out of range (document has {n} pages)")
    return out


def page_geometry(reader, n: int) -> dict:
    node, _ = reader.find_page_for_modification(n - 1) if hasattr(reader, "find_page_for_modification") \
        else (None, None)
    page = node.get_object() if node is not None else None
    inh = {}
    cur = page
    while cur is not None:
        for k in ("/MediaBox", "/CropBox", "/Rotate"):
            if k not in inh and k in cur:
                inh[k] = cur[k]
        cur = cur.get("/Parent")
        cur = cur.get_object() if cur is not None else None
    mb = [float(v) for v in inh["/MediaBox"]]
    cb = [float(v) for v in inh.get("/CropBox", mb)]
    return {"cropbox": cb, "rotate": int(inh.get("/Rotate", 0)) % 360}


def displayed_to_user(geom: dict, rect) -> tuple[float, float, float, float]:
    """Rect in displayed-page coordinates (bottom-left origin of the page as shown)
    -> (x1, y1, x2, y2) in default user space."""
    cx0, cy0, cx1, cy1 = geom["cropbox"]
    cw, ch = cx1 - cx0, cy1 - cy0
    x, y, w, h = rect
    r = geom["rotate"]
    dw, dh = (ch, cw) if r in (90, 270) else (cw, ch)
    if x < 0 or y < 0 or x + w > dw + 0.01 or y + h > dh + 0.01:
        raise QzError(f"rect {x:g},{y:g},{w:g},{h:g} is not inside the page ({dw:g}x{dh:g} pt)")
    if r == 0:
        u0, u1, v0, v1 = x, x + w, y, y + h
    elif r == 90:
        u0, u1, v0, v1 = cw - y - h, cw - y, x, x + w
    elif r == 180:
        u0, u1, v0, v1 = cw - x - w, cw - x, ch - y - h, ch - y
    else:  # 270
        u0, u1, v0, v1 = y, y + h, ch - x - w, ch - x
    return cx0 + u0, cy0 + v0, cx0 + u1, cy0 + v1


def load_image(path: str):
    from PIL import Image
    try:
        im = Image.open(path)
        im.load()
        return im.convert("RGBA")
    except FileNotFoundError:
        raise QzError(f"cannot read image {path}: no such file") from None
    except Exception as e:  # noqa: BLE001
        raise QzError(f"cannot decode image {path}: {e}") from None


def load_signer(a):
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12
    from pyhanko.sign import signers

    if a.p12:
        if not a.password_env or a.password_env not in os.environ:
            raise QzError(f"password environment variable {a.password_env!r} is not set")
        pw = os.environ[a.password_env].encode()
        try:
            data = Path(a.p12).read_bytes()
            key, cert, _ = pkcs12.load_key_and_certificates(data, pw)
        except FileNotFoundError:
            raise QzError(f"cannot read {a.p12}") from None
        except Exception:  # noqa: BLE001
            raise QzError("cannot open the PKCS#12 file: wrong password or damaged file") from None
        signer = signers.SimpleSigner.load_pkcs12(a.p12, passphrase=pw)
    else:
        if not (a.key and a.cert):
            raise QzError("need --key and --cert, or --p12")
        pw = None
        if a.key_password_env:
            if a.key_password_env not in os.environ:
                raise QzError(f"password environment variable {a.key_password_env!r} is not set")
            pw = os.environ[a.key_password_env].encode()
        try:
            key = serialization.load_pem_private_key(Path(a.key).read_bytes(), pw)
        except FileNotFoundError:
            raise QzError(f"cannot read {a.key}") from None
        except Exception as e:  # noqa: BLE001
            raise QzError(f"cannot load private key {a.key}: {e}".replace("\n", " ")) from None
        try:
            cert = x509.load_pem_x509_certificate(Path(a.cert).read_bytes())
        except Exception as e:  # noqa: BLE001
            raise QzError(f"cannot load certificate {a.cert}: {e}") from None
        signer = signers.SimpleSigner.load(a.key, a.cert, ca_chain_files=tuple(a.chain or ()),
                                           key_passphrase=pw)
    if signer is None:
        raise QzError("cannot load the signing key")
    pub = lambda k: k.public_bytes(serialization.Encoding.DER,  # noqa: E731
                                   serialization.PublicFormat.SubjectPublicKeyInfo)
    if pub(key.public_key()) != pub(cert.public_key()):
        raise QzError("the private key does not match the certificate")
    now = dt.datetime.now(dt.timezone.utc)
    if cert.not_valid_after_utc < now:
        raise QzError(f"certificate expired on {cert.not_valid_after_utc:%Y-%m-%d}")
    if cert.not_valid_before_utc > now:
        raise QzError("certificate is not yet valid")
    return signer


def sign(a) -> None:
    from pyhanko.pdf_utils.images import PdfImage
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.pdf_utils.layout import BoxConstraints
    from pyhanko.sign import fields, signers
    from pyhanko.stamp import TextStamp, TextStampStyle

    src = Path(a.input)
    try:
        data = src.read_bytes()
    except OSError as e:
        raise QzError(f"cannot read {src}: {e.strerror}") from None
    if not data.lstrip()[:5] == b"%PDF-":
        raise QzError(f"{src} is not a PDF file")
    signer = load_signer(a)

    import io
    try:
        w = IncrementalPdfFileWriter(io.BytesIO(data), strict=False)
        reader = w.prev
        if reader.encrypted:
            raise QzError("input PDF is encrypted; decrypt it first")
        npages = int(reader.root["/Pages"]["/Count"])
    except QzError:
        raise
    except Exception as e:  # noqa: BLE001
        raise QzError(f"damaged PDF (cannot read xref/objects): {type(e).__name__}: {e}".replace("\n", " ")) \
            from None

    docmdp = None
    perms = reader.root.get("/Perms")
    perms = perms.get_object() if perms is not None else None
    if perms is not None and "/DocMDP" in perms:
        sig = perms["/DocMDP"]
        for ref in sig.get("/Reference", []):
            ref = ref.get_object()
            if ref.get("/TransformMethod") == "/DocMDP":
                docmdp = int(ref.get("/TransformParams", {}).get("/P", 2))
    if docmdp == 1:
        raise QzError("document is certified with DocMDP P=1: no further signatures allowed")

    stamps = []  # (image, page, rect)
    if a.seal and (a.page or a.pages):
        if not a.rect:
            raise QzError("--seal needs --rect")
        rect = parse_rect(a.rect, ",")
        pages = [int(a.page)] if a.page else parse_pages(a.pages, npages)
        for p in pages:
            stamps.append((a.seal, p, rect))
    for s in a.stamp or []:
        kv = dict(part.split("=", 1) for part in s.split(",") if "=" in part)
        if "seal" not in kv or "rect" not in kv or not ("page" in kv or "pages" in kv):
            raise QzError(f"bad --stamp {s!r}")
        rect = parse_rect(kv["rect"], ";")
        pages = [int(kv["page"])] if "page" in kv else parse_pages(kv["pages"], npages)
        for p in pages:
            stamps.append((kv["seal"], p, rect))
    if a.cross_page:
        if not a.seal:
            raise QzError("--cross-page needs --seal")
        load_image(a.seal)
        rng = a.cross_page
        if rng != "all":
            m = re.fullmatch(r"(\d+)-(\d+)", rng)
            if not m or not 1 <= int(m.group(1)) < int(m.group(2)) <= npages:
                raise QzError(f"cross-page range {rng!r} out of range (document has {npages} pages)")
    for _, p, _ in stamps:
        if not 1 <= p <= npages:
            raise QzError(f"page {p} out of range (document has {npages} pages)")
    if stamps and docmdp in (2, 3):
        raise QzError(f"document is certified (DocMDP P={docmdp}): only an invisible signature is allowed")

    images = {}
    placed = []
    naive = os.environ.get("FAKE_QZ_NO_COUNTER_ROTATE") == "1"
    for img, p, rect in stamps:
        geom = page_geometry(reader, p)
        # Counter-rotate the picture so it looks upright on the displayed page:
        # /Rotate R turns the page R degrees clockwise, PIL's rotate(R) turns counter-clockwise.
        rot = 0 if naive else geom["rotate"]
        key = (img, rot)
        if key not in images:
            images[key] = load_image(img).rotate(rot, expand=True) if rot else load_image(img)
        placed.append((key, p, displayed_to_user(geom, rect)))

    existing = {e.field_name for e in reader.embedded_signatures}
    all_fields = set()
    af = reader.root.get("/AcroForm")
    if af is not None:
        for f in af.get_object().get("/Fields", []):
            t = f.get_object().get("/T")
            if t is not None:
                all_fields.add(str(t))
    field = a.field
    if field is None:
        k = 1
        while f"Signature{k}" in all_fields:
            k += 1
        field = f"Signature{k}"
    elif field in existing:
        raise QzError(f"signature field {field!r} is already signed")

    # Extra stamps (all but the widget one) go into the page content of this revision.
    widget = placed[0] if placed else None
    for img, p, (x1, y1, x2, y2) in placed[1:]:
        style = TextStampStyle(stamp_text="", border_width=0, background_opacity=1,
                               background=PdfImage(images[img], writer=w))
        TextStamp(w, style, box=BoxConstraints(width=x2 - x1, height=y2 - y1)).apply(p - 1, x1, y1)

    subfilter = {"ETSI.CAdES.detached": fields.SigSeedSubFilter.PADES,
                 "adbe.pkcs7.detached": fields.SigSeedSubFilter.ADOBE_PKCS7_DETACHED}.get(a.subfilter)
    if subfilter is None:
        raise QzError(f"unknown subfilter {a.subfilter!r}")
    meta = signers.PdfSignatureMetadata(field_name=field, subfilter=subfilter, reason=a.reason,
                                        location=a.location)
    spec = None
    style = None
    if field not in all_fields:
        if widget:
            img, p, (x1, y1, x2, y2) = widget
            spec = fields.SigFieldSpec(field, on_page=p - 1, box=(x1, y1, x2, y2))
            style = TextStampStyle(stamp_text="", border_width=0, background_opacity=1,
                                   background=PdfImage(images[img]))
        else:
            spec = fields.SigFieldSpec(field)
    out = Path(a.output)
    fd, tmp = tempfile.mkstemp(prefix=".qz-", dir=out.parent if out.parent.exists() else None)
    try:
        with os.fdopen(fd, "wb") as f:
            signers.PdfSigner(meta, signer, stamp_style=style, new_field_spec=spec).sign_pdf(w, output=f)
        os.replace(tmp, out)
    except Exception:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] != "sign":
        print("error: fake-qz supports only `sign`", file=sys.stderr)
        return 2
    ap = argparse.ArgumentParser(prog="fake-qz sign", add_help=False)
    ap.add_argument("input")
    ap.add_argument("-o", dest="output", required=True)
    ap.add_argument("--key")
    ap.add_argument("--cert")
    ap.add_argument("--chain", action="append")
    ap.add_argument("--key-password-env")
    ap.add_argument("--p12")
    ap.add_argument("--password-env")
    ap.add_argument("--seal")
    ap.add_argument("--page")
    ap.add_argument("--pages")
    ap.add_argument("--rect")
    ap.add_argument("--stamp", action="append")
    ap.add_argument("--cross-page")
    ap.add_argument("--every-other", action="store_true")
    ap.add_argument("--cross-page-size")
    ap.add_argument("--cross-page-y")
    ap.add_argument("--date-stamp")
    ap.add_argument("--subfilter", default="ETSI.CAdES.detached")
    ap.add_argument("--field")
    ap.add_argument("--reason")
    ap.add_argument("--location")

    def _err(msg):
        raise QzError(msg)

    ap.error = _err  # type: ignore[assignment]
    import logging
    logging.disable(logging.CRITICAL)
    try:
        a = ap.parse_args(argv[1:])
        sign(a)
    except QzError as e:
        print(f"error: {e}".replace("\n", " "), file=sys.stderr)
        return 1
    except Exception as e:  # noqa: BLE001
        print(f"error: {type(e).__name__}: {e}".replace("\n", " "), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
