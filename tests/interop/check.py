#!/usr/bin/env python3
"""Judge a signed PDF with outside tools: pyHanko, poppler's pdfsig, qpdf.

usage: check.py SIGNED.pdf --trust ROOT.pem [--trust ROOT2.pem] [--cert EXTRA.pem]...
                [--expect-sigs N] [--allow-qpdf-warnings] [--skip pdfsig,qpdf] [--json]

(a) pyHanko: every signature intact, valid and trusted (trust roots = --trust only,
    no network: allow_fetching=False, revocation soft-fail); the last signature covers
    the ENTIRE_FILE with modification level NONE; every earlier one has modification
    level NONE, LTA_UPDATES or FORM_FILLING (never ANNOTATIONS/OTHER) and docmdp_ok.
    The file is read strictly first and non-strictly if that fails (noted in the result).
(b) pdfsig with a fresh NSS db holding the --trust roots (trusted CA) plus the --cert
    files and every certificate embedded in the signatures (untrusted, only to dodge
    the NSS "same signer twice" quirk): every signed field "Signature is Valid." and
    "Certificate is Trusted.", the last one "Total document signed".
    Empty (unsigned) signature fields are listed but ignored.
(c) qpdf --check exit code: 0 clean, 3 warnings (a failure unless --allow-qpdf-warnings),
    2 errors.
--expect-sigs N: the number of *signed* signature fields must be N (pyHanko and pdfsig).

Exit status 0 when every check passes, 1 otherwise (2 for usage errors).
As a library: `check_pdf(path, trust=[...], expect_sigs=N) -> CheckResult`.
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

OK_EARLIER_LEVELS = {"NONE", "LTA_UPDATES", "FORM_FILLING"}


@dataclass
class CheckResult:
    path: str
    ok: bool = True
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    pyhanko: list[dict] = field(default_factory=list)
    pyhanko_strict: bool | None = None
    pdfsig: list[dict] = field(default_factory=list)
    pdfsig_raw: str = ""
    qpdf_rc: int | None = None
    qpdf_output: str = ""
    skipped: list[str] = field(default_factory=list)

    def fail(self, msg: str) -> None:
        self.ok = False
        self.problems.append(msg)

    def explain(self) -> str:
        lines = [f"{self.path}: {'OK' if self.ok else 'FAILED'}"
                 + ("" if self.pyhanko_strict is not False else " (pyHanko read it non-strictly)")]
        lines += [f"  problem: {p}" for p in self.problems]
        lines += [f"  note: {n}" for n in self.notes]
        lines += [f"  skipped: {s}" for s in self.skipped]
        for s in self.pyhanko:
            lines.append("  pyHanko #{index} {field!r} ({subfilter}, {signer}): intact={intact} valid={valid} "
                         "trusted={trusted} coverage={coverage} modification={modification_level} "
                         "docmdp_ok={docmdp_ok}".format(**s))
        for s in self.pdfsig:
            lines.append(f"  pdfsig #{s['index']} {s.get('field')!r}: {s.get('validation') or 'not signed'}; "
                         f"{s.get('certificate')}; {'total' if s.get('total') else 'not total'}")
        if self.qpdf_rc is not None:
            lines.append(f"  qpdf --check: exit {self.qpdf_rc}")
        if not self.ok and self.qpdf_rc not in (None, 0):
            lines += ["    " + line for line in self.qpdf_output.strip().splitlines()[-8:]]
        return "\n".join(lines)

    def to_json(self) -> dict:
        return json.loads(json.dumps({k: getattr(self, k) for k in self.__dataclass_fields__},
                                     default=str, ensure_ascii=False))


# --------------------------------------------------------------------------- pyHanko

def _enum_name(v) -> str | None:
    return None if v is None else getattr(v, "name", str(v))


def _signer_name(emb) -> str:
    try:
        return emb.signer_cert.subject.human_friendly
    except Exception:  # noqa: BLE001
        return "?"


class _ReadError(Exception):
    pass


def _pyhanko_pass(path: Path, roots, strict: bool) -> list[dict]:
    """Validate every signature with one reader mode. Raises _ReadError if the file
    cannot be read; a validation that raises is recorded in the signature's 'error'."""
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp
    from pyhanko_certvalidator import ValidationContext

    with open(path, "rb") as f:
        try:
            r = PdfFileReader(f, strict=strict)
            if r.encrypted:
                r.decrypt("")
            sigs = sorted(r.embedded_signatures, key=lambda e: e.signed_revision)
        except Exception as e:  # noqa: BLE001
            raise _ReadError(f"{type(e).__name__}: {e}") from e
        infos = []
        for i, emb in enumerate(sigs, 1):
            vc = ValidationContext(trust_roots=roots, allow_fetching=False, revocation_mode="soft-fail")
            info = {"index": i, "field": str(emb.field_name), "signer": _signer_name(emb),
                    "subfilter": str(emb.sig_object.get("/SubFilter")),
                    "signed_revision": emb.signed_revision, "error": None}
            try:
                if emb.sig_object.get("/Type") == "/DocTimeStamp":
                    st = validate_pdf_timestamp(emb, validation_context=vc)
                else:
                    st = validate_pdf_signature(emb, vc)
            except Exception as e:  # noqa: BLE001
                info.update(intact=False, valid=False, trusted=False, coverage=None,
                            modification_level=None, docmdp_ok=None, error=f"{type(e).__name__}: {e}")
                infos.append(info)
                continue
            info.update(intact=bool(st.intact), valid=bool(st.valid), trusted=bool(st.trusted),
                        coverage=_enum_name(st.coverage),
                        modification_level=_enum_name(getattr(st, "modification_level", None)),
                        docmdp_ok=getattr(st, "docmdp_ok", None),
                        bottom_line=bool(getattr(st, "bottom_line", False)),
                        md_algorithm=str(getattr(st, "md_algorithm", None)))
            infos.append(info)
        return infos


def check_pyhanko(path: Path, trust: list[Path], res: CheckResult, expect_sigs: int | None) -> None:
    from pyhanko.keys import load_cert_from_pemder
    roots = [load_cert_from_pemder(str(t)) for t in trust]
    infos = None
    why_not_strict = None
    try:
        infos = _pyhanko_pass(path, roots, strict=True)
        raised = [i["error"] for i in infos if i["error"]]
        if raised:
            why_not_strict = f"a validation raised: {raised[0]}"
    except _ReadError as e:
        why_not_strict = f"strict reading failed: {e}"
    if why_not_strict:
        try:
            infos = _pyhanko_pass(path, roots, strict=False)
            res.pyhanko_strict = False
            res.notes.append(f"pyHanko: results from strict=False ({why_not_strict})")
        except _ReadError as e:
            res.fail(f"pyHanko cannot read the file ({why_not_strict}; non-strict: {e})")
            return
    else:
        res.pyhanko_strict = True
    res.pyhanko = infos
    if expect_sigs is not None and len(infos) != expect_sigs:
        res.fail(f"pyHanko: expected {expect_sigs} signature(s), found {len(infos)}")
    for info in infos:
        last = info["index"] == len(infos)
        tag = f"pyHanko #{info['index']} {info['field']!r} ({info['signer']})"
        if info["error"]:
            res.fail(f"{tag}: validation raised {info['error']}")
            continue
        for k in ("intact", "valid", "trusted"):
            if not info[k]:
                res.fail(f"{tag}: not {k}")
        if last:
            if info["coverage"] != "ENTIRE_FILE":
                res.fail(f"{tag}: last signature covers {info['coverage']}, not ENTIRE_FILE")
            if info["modification_level"] not in (None, "NONE"):
                res.fail(f"{tag}: last signature has modification level {info['modification_level']}")
        elif info["modification_level"] not in OK_EARLIER_LEVELS:
            res.fail(f"{tag}: later revisions classed as {info['modification_level']} "
                     f"(allowed: {', '.join(sorted(OK_EARLIER_LEVELS))})")
        if info["docmdp_ok"] is False:
            res.fail(f"{tag}: DocMDP violated (docmdp_ok=False)")


# --------------------------------------------------------------------------- pdfsig

def _pem_certs(text: str) -> list[str]:
    return re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", text, re.S)


def _embedded_certs(path: Path) -> list[bytes]:
    """DER of every certificate carried in the file's signatures (best effort)."""
    out = []
    try:
        from pyhanko.pdf_utils.reader import PdfFileReader
        with open(path, "rb") as f:
            try:
                r = PdfFileReader(f, strict=True)
                sigs = list(r.embedded_signatures)
            except Exception:  # noqa: BLE001
                f.seek(0)
                r = PdfFileReader(f, strict=False)
                sigs = list(r.embedded_signatures)
            for emb in sigs:
                for c in emb.signed_data["certificates"]:
                    out.append(c.chosen.dump())
    except Exception:  # noqa: BLE001
        pass
    return out


def parse_pdfsig(text: str) -> list[dict]:
    sigs: list[dict] = []
    cur = None
    for line in text.splitlines():
        m = re.match(r"Signature #(\d+):", line.strip())
        if m:
            cur = {"index": int(m.group(1)), "signed": True, "field": None, "validation": None,
                   "certificate": None, "total": None, "type": None, "signer": None}
            sigs.append(cur)
            continue
        if cur is None:
            continue
        s = line.strip().lstrip("- ").strip()
        if s.startswith("Signature Field Name:"):
            cur["field"] = s.split(":", 1)[1].strip()
        elif s.startswith("Signer Certificate Common Name:"):
            cur["signer"] = s.split(":", 1)[1].strip()
        elif s.startswith("Signature Type:"):
            cur["type"] = s.split(":", 1)[1].strip()
        elif s.startswith("Signature Validation:"):
            cur["validation"] = s.split(":", 1)[1].strip()
        elif s.startswith("Certificate Validation:"):
            cur["certificate"] = s.split(":", 1)[1].strip()
        elif s == "Total document signed":
            cur["total"] = True
        elif s == "Not total document signed":
            cur["total"] = False
        elif "form field is not signed" in s:
            cur["signed"] = False
    return sigs


def check_pdfsig(path: Path, trust: list[Path], certs: list[Path], res: CheckResult,
                 expect_sigs: int | None) -> None:
    if not (shutil.which("pdfsig") and shutil.which("certutil")):
        res.skipped.append("pdfsig: pdfsig or certutil (libnss3-tools) not installed")
        return
    with tempfile.TemporaryDirectory(prefix="qz-nss-") as d:
        db = f"sql:{d}"

        def certutil(*args, stdin=None):
            p = subprocess.run(["certutil", *args], input=stdin, capture_output=True)
            if p.returncode != 0:
                raise RuntimeError(f"certutil {' '.join(args)}: {p.stderr.decode(errors='replace').strip()}")

        try:
            certutil("-N", "-d", db, "--empty-password")
            seen = set()
            n = 0
            for t in trust:
                for pem in _pem_certs(Path(t).read_text()):
                    n += 1
                    seen.add(pem)
                    certutil("-A", "-d", db, "-n", f"root{n}", "-t", "CT,C,C", "-a", stdin=pem.encode())
            extra = [pem for c in certs for pem in _pem_certs(Path(c).read_text())]
            for pem in extra:
                if pem not in seen:
                    n += 1
                    seen.add(pem)
                    certutil("-A", "-d", db, "-n", f"cert{n}", "-t", ",,", "-a", stdin=pem.encode())
            for der in _embedded_certs(path):
                if der not in seen:
                    n += 1
                    seen.add(der)
                    certutil("-A", "-d", db, "-n", f"emb{n}", "-t", ",,", stdin=der)
        except RuntimeError as e:
            res.fail(f"pdfsig: could not build the NSS db: {e}")
            return
        p = subprocess.run(["pdfsig", "-nssdir", db, str(path)], capture_output=True, timeout=120)
    out = p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace")
    res.pdfsig_raw = out
    sigs = parse_pdfsig(out)
    res.pdfsig = sigs
    signed = [s for s in sigs if s["signed"]]
    unsigned = [s for s in sigs if not s["signed"]]
    if unsigned:
        res.notes.append("pdfsig lists empty signature field(s): "
                         + ", ".join(repr(s["field"]) for s in unsigned))
    if p.returncode != 0 and not sigs:
        res.fail(f"pdfsig exited {p.returncode}: {out.strip()[:300]}")
        return
    if expect_sigs is not None and len(signed) != expect_sigs:
        res.fail(f"pdfsig: expected {expect_sigs} signed field(s), found {len(signed)}")
    for s in signed:
        tag = f"pdfsig #{s['index']} {s['field']!r}"
        if s["validation"] != "Signature is Valid.":
            res.fail(f"{tag}: {s['validation']}")
        if s["certificate"] != "Certificate is Trusted.":
            res.fail(f"{tag}: {s['certificate']}")
    if signed:
        # pdfsig lists fields in AcroForm order; the one signed last covers the whole file
        if not any(s["total"] for s in signed):
            res.fail("pdfsig: no signature covers the total document")


# --------------------------------------------------------------------------- qpdf

def check_qpdf(path: Path, res: CheckResult, allow_warnings: bool) -> None:
    if not shutil.which("qpdf"):
        res.skipped.append("qpdf: not installed")
        return
    p = subprocess.run(["qpdf", "--check", str(path)], capture_output=True, timeout=120)
    res.qpdf_rc = p.returncode
    res.qpdf_output = (p.stdout + p.stderr).decode(errors="replace")
    if p.returncode == 0:
        return
    if p.returncode == 3:
        warn = [line for line in res.qpdf_output.splitlines() if "WARNING" in line]
        msg = "qpdf --check: warnings: " + "; ".join(warn[:3])
        if allow_warnings:
            res.notes.append(msg)
        else:
            res.fail(msg)
    else:
        res.fail(f"qpdf --check: exit {p.returncode}: " + res.qpdf_output.strip().splitlines()[-1][:300]
                 if res.qpdf_output.strip() else f"qpdf --check: exit {p.returncode}")


# --------------------------------------------------------------------------- API / CLI

def check_pdf(path, trust, expect_sigs: int | None = None, certs=(), allow_qpdf_warnings=False,
              skip=()) -> CheckResult:
    path = Path(path)
    trust = [Path(t) for t in trust]
    res = CheckResult(str(path))
    if not path.is_file():
        res.fail("file does not exist")
        return res
    if "pyhanko" not in skip:
        check_pyhanko(path, trust, res, expect_sigs)
    if "pdfsig" not in skip:
        check_pdfsig(path, trust, [Path(c) for c in certs], res, expect_sigs)
    if "qpdf" not in skip:
        check_qpdf(path, res, allow_qpdf_warnings)
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("pdf", type=Path)
    ap.add_argument("--trust", type=Path, action="append", required=True, help="trust root (PEM), repeatable")
    ap.add_argument("--cert", type=Path, action="append", default=[],
                    help="extra certificate(s) for the NSS db (intermediates, leaves), repeatable")
    ap.add_argument("--expect-sigs", type=int)
    ap.add_argument("--allow-qpdf-warnings", action="store_true")
    ap.add_argument("--skip", default="", help="comma-separated: pyhanko,pdfsig,qpdf")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    import logging
    logging.basicConfig(level=logging.CRITICAL)  # pyHanko logs failed path building with tracebacks
    res = check_pdf(a.pdf, a.trust, a.expect_sigs, a.cert, a.allow_qpdf_warnings,
                    {s.strip().lower() for s in a.skip.split(",") if s.strip()})
    if a.json:
        print(json.dumps(res.to_json(), ensure_ascii=False, indent=2, default=str))
    else:
        print(res.explain())
    return 0 if res.ok else 1


if __name__ == "__main__":
    sys.exit(main())
