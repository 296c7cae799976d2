#!/usr/bin/env python3
"""Files signed by pyHanko at PAdES B-B, B-T, B-LT and B-LTA, with pyHanko's own validation
recorded as the reference for `qz verify`.

usage: make_pyhanko_levels.py OUTDIR [--pki DIR]

--pki DIR   a tests/interop/make_pki.py PKI (made in OUTDIR/pki if absent); the LTV PKI
            (tests/verify/ltv_pki.py: RSA CAs with CRL distribution points, a TSA with a
            critical timeStamping EKU, CRLs from `openssl ca -gencrl`) lives in DIR/ltv.

Timestamps come from pyHanko's DummyTimeStamper with the LTV PKI's TSA key (in process, no
network): genTime with microseconds, except bt-p384 and blt-p384 (whole seconds). B-LT/B-LTA validation info is collected offline: the CRLs are handed to pyHanko's
ValidationContext (allow_fetching=False, hard-fail), which embeds them in the DSS.

Writes OUTDIR/<name>.pdf, OUTDIR/trust/*.pem and OUTDIR/manifest.json:
  {"files": [{name, file, level, description, trust: [paths relative to OUTDIR],
              expected: [verdict], revisions,
              reference: [per signature, pyHanko's judgement: field, kind, docmdp, signer_cn,
                          signed_revision, intact, valid, trusted, coverage, modification_level,
                          docmdp_ok, bottom_line, md_algorithm,
                          timestamp {time, intact, valid, trusted} | null,
                          dss_revocation good|revoked|unknown|none],
              expect: [per signature, the same in qz verify's vocabulary]}],
   "skipped": [...], "errors": [...]}
Validation settings for the reference: trust = the listed roots only, allow_fetching=False,
revocation soft-fail (what `qz verify --trust ROOT.pem` sees). dss_revocation repeats the
check with only the DSS's CRLs/OCSPs and hard-fail.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "interop"))

import make_corpus  # noqa: E402
import make_pki  # noqa: E402
import pyhanko_ref  # noqa: E402
import signing  # noqa: E402
from ltv_pki import ensure_ltv_pki  # noqa: E402
from make_attacks import COVERAGE, MODIFICATION  # noqa: E402


def _expect(s: dict) -> dict:
    e = {"field": s["field"], "kind": s["kind"], "signer_cn": s.get("signer_cn"),
         "revision": s["signed_revision"], "intact": s["intact"], "valid": s["valid"], "trusted": s["trusted"],
         "coverage": COVERAGE.get(s["coverage"], s["coverage"]),
         "modification": MODIFICATION.get(s["modification_level"], s["modification_level"]),
         "status": pyhanko_ref.sig_status(s)}
    ts = s.get("timestamp")
    e["timestamp_valid"] = None if ts is None else bool(ts["intact"] and ts["valid"] and ts["trusted"])
    e["timestamp_time"] = None if ts is None else ts["time"]
    # only where the certificate names a CRL distribution point and the DSS answers it
    e["revocation"] = {"good": "good", "revoked": "revoked"}.get(s.get("dss_revocation")) \
        if s.get("signer_has_crldp") else None
    return e


def make_levels(outdir: Path, pki: Path | None = None, log=print) -> dict:
    outdir = Path(outdir).resolve()
    outdir.mkdir(parents=True, exist_ok=True)
    if pki is None:
        pki = outdir / "pki"
    pki = Path(pki).resolve()
    if not (pki / "pki.json").is_file():
        make_pki.make_pki(pki)
    pk = signing.Pkis(pki, ensure_ltv_pki(pki))
    work = outdir / "work"
    work.mkdir(exist_ok=True)
    (outdir / "trust").mkdir(exist_ok=True)
    trustfiles = {}
    for name in ("interop", "ltv"):
        shutil.copyfile(pk.root(name), outdir / "trust" / f"{name}-root.pem")
        trustfiles[name] = f"trust/{name}-root.pem"
    cm = make_corpus.make_corpus(work / "corpus", pki=pki, bench=False, only={"form-fields"}, log=lambda s: None)
    docs = {e["name"]: work / "corpus" / e["file"] for e in cm["files"]}
    a4, mixed, form = docs["rl-a4-chinese"], docs["rl-mixed-sizes"], docs["form-fields"]

    def sign(src, out, signer, field, **kw):
        return signing.ph_sign(pk, src, work / out, signer, field, **kw)

    def chain(src, *steps):
        """steps: (signer, field, kwargs) applied one after another; returns the last file."""
        cur = src
        for i, (signer, field, kw) in enumerate(steps):
            cur = sign(cur, f"{Path(str(src)).stem}-{field}-{i}.pdf", signer, field, **kw)
        return cur

    # name, level, description, trust, builder
    plan = [
        ("bb-rsa", "B-B", "RSA-2048 PKCS#1 v1.5, SHA-256, invisible", ["ltv"],
         lambda: sign(a4, "bb-rsa.pdf", "ltv:alice", "Alice")),
        ("bb-p384-visible", "B-B", "ECDSA P-384 / SHA-384, visible signature widget on page 2", ["ltv"],
         lambda: sign(mixed, "bb-p384.pdf", "ltv:bob", "Bob", visible_box=(60, 60, 260, 120), on_page=1)),
        ("bb-pss", "B-B", "RSA-3072 RSASSA-PSS", ["ltv"], lambda: sign(a4, "bb-pss.pdf", "ltv:carol", "Carol")),
        ("bb-ecdsa-interop", "B-B", "ECDSA P-256 (interop PKI, intermediate in the CMS)", ["interop"],
         lambda: sign(a4, "bb-ec.pdf", "interop:ecdsa", "Zhang")),
        ("bb-rsa4096-interop", "B-B", "RSA-4096 (interop PKI)", ["interop"],
         lambda: sign(a4, "bb-rsa4096.pdf", "interop:rsa4096", "Wang")),
        ("bt-rsa", "B-T", "RSA-2048 + signature timestamp (DummyTimeStamper, LTV PKI TSA)", ["ltv"],
         lambda: sign(a4, "bt-rsa.pdf", "ltv:alice", "Alice", level="B-T")),
        ("bt-p384", "B-T", "P-384 + signature timestamp (genTime in whole seconds)", ["ltv"],
         lambda: sign(mixed, "bt-p384.pdf", "ltv:bob", "Bob", level="B-T", ts_whole_seconds=True)),
        ("bt-ecdsa-interop", "B-T", "interop P-256 signer, TSA from the other PKI (two trust roots)",
         ["interop", "ltv"], lambda: sign(a4, "bt-ec.pdf", "interop:ecdsa", "Zhang", level="B-T")),
        ("blt-rsa", "B-LT", "RSA-2048 + timestamp + DSS (certs, CRLs) in a later revision", ["ltv"],
         lambda: sign(a4, "blt-rsa.pdf", "ltv:alice", "Alice", level="B-LT")),
        ("blt-p384", "B-LT", "P-384 + timestamp (whole seconds) + DSS", ["ltv"],
         lambda: sign(a4, "blt-p384.pdf", "ltv:bob", "Bob", level="B-LT", ts_whole_seconds=True)),
        ("blt-pss", "B-LT", "RSA-PSS + timestamp + DSS", ["ltv"],
         lambda: sign(mixed, "blt-pss.pdf", "ltv:carol", "Carol", level="B-LT")),
        ("blta-rsa", "B-LTA", "RSA-2048 B-LTA: signature, DSS, document timestamp", ["ltv"],
         lambda: sign(a4, "blta-rsa.pdf", "ltv:alice", "Alice", level="B-LTA")),
        ("blta-p384-renewed", "B-LTA", "P-384 B-LTA, then a second document timestamp (archive renewal)",
         ["ltv"], lambda: signing.ph_doc_timestamp(pk, sign(mixed, "blta-p384.pdf", "ltv:bob", "Bob", level="B-LTA"),
                                                   work / "blta-p384-renewed.pdf", field="ArchiveTS2")),
        ("multi-three-signers", "mixed", "three signers on one file: RSA B-T, P-384 B-B visible, PSS B-LT",
         ["ltv"], lambda: chain(mixed, ("ltv:alice", "Alice", {"level": "B-T"}),
                                ("ltv:bob", "Bob", {"visible_box": (300, 60, 500, 120)}),
                                ("ltv:carol", "Carol", {"level": "B-LT"}))),
        ("multi-two-pkis", "mixed", "interop P-256 B-B, then LTV RSA B-LTA", ["interop", "ltv"],
         lambda: chain(a4, ("interop:ecdsa", "Zhang", {}), ("ltv:alice", "Alice", {"level": "B-LTA"}))),
        ("certified-p1-bt", "B-T", "certification signature DocMDP P=1, B-T", ["ltv"],
         lambda: sign(a4, "cert-p1.pdf", "ltv:alice", "Certification", certify=1, level="B-T")),
        ("certified-p2-then-approval", "mixed", "certification P=2 (B-LT), then an invisible approval (B-T)",
         ["ltv"], lambda: chain(mixed, ("ltv:alice", "Certification", {"certify": 2, "level": "B-LT"}),
                                ("ltv:bob", "Bob", {"level": "B-T"}))),
        ("certified-p3-then-approval", "mixed", "certification P=3, then an invisible approval", ["ltv"],
         lambda: chain(a4, ("ltv:carol", "Certification", {"certify": 3}), ("ltv:alice", "Alice", {}))),
        ("certified-p2-blta", "B-LTA", "certification P=2 at B-LTA", ["ltv"],
         lambda: sign(a4, "cert-p2-lta.pdf", "ltv:alice", "Certification", certify=2, level="B-LTA")),
        ("certified-form-then-fill-sign", "mixed", "a form certified P=2, then an approval signature "
         "filling the existing empty signature field EmptySig", ["ltv"],
         lambda: chain(form, ("ltv:alice", "Certification", {"certify": 2}), ("ltv:bob", "EmptySig", {}))),
    ]
    files, skipped, errors = [], [], []
    for name, level, desc, trust, build in plan:
        t = time.monotonic()
        try:
            src = Path(build())
        except Exception as e:  # noqa: BLE001
            errors.append({"name": name, "error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()})
            log(f"  ERROR {name}: {type(e).__name__}: {e}")
            continue
        out = outdir / f"{name}.pdf"
        shutil.copyfile(src, out)
        j = pyhanko_ref.judge(out, [pk.root(t) for t in trust], dss_revocation=True)
        files.append({"name": name, "file": out.name, "level": level, "description": desc,
                      "trust": [trustfiles[t] for t in trust], "expected": [j["verdict"]],
                      "revisions": j["revisions"], "pyhanko_strict": j["strict"], "read_error": j["read_error"],
                      "reference": j["signatures"], "expect": [_expect(s) for s in j["signatures"]]})
        log(f"  ok {name}: {j['verdict']} ({time.monotonic() - t:.2f}s)")
    m = {"files": files, "skipped": skipped, "errors": errors, "pki": str(pki)}
    (outdir / "manifest.json").write_text(json.dumps(m, ensure_ascii=False, indent=1, default=str) + "\n")
    return m


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("outdir", type=Path)
    ap.add_argument("--pki", type=Path)
    a = ap.parse_args()
    t0 = time.monotonic()
    m = make_levels(a.outdir, a.pki, log=lambda s: print(s, file=sys.stderr))
    print(f"{len(m['files'])} files, {len(m['errors'])} errors in {time.monotonic() - t0:.1f}s "
          f"-> {a.outdir / 'manifest.json'}", file=sys.stderr)
    for e in m["errors"]:
        print(e["traceback"], file=sys.stderr)
    return 1 if m["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
