#!/usr/bin/env python3
"""A second throwaway PKI for tests/verify: RSA CAs with CRLs, a TSA, varied leaf algorithms.

usage: ltv_pki.py OUTDIR

Built with the openssl CLI on top of tests/interop/make_pki.py (same config template and
runner). Different from the interop PKI on purpose (different root, RSA CAs, P-384, PSS),
so that attack and clean files carry signatures from several unrelated PKIs.

Writes into OUTDIR:
  root.pem / root.key          root CA, RSA-2048, self-signed (CN=千章验证测试根CA RSA)
  ca.pem / ca.key              issuing CA, RSA-2048; CRL DP -> http://127.0.0.1:9/crl/root.crl
  alice.pem / alice.key        leaf 验证甲, RSA-2048 (PKCS#1 v1.5 signatures)
  bob.pem / bob.key            leaf 验证乙, ECDSA P-384 (use with SHA-384)
  carol.pem / carol.key        leaf 验证丙, RSA-3072 (use with RSASSA-PSS)
  dave.pem / dave.key          leaf 验证丁, RSA-2048, REVOKED in ca.crl
  tsa.pem / tsa.key            time-stamping unit, RSA-2048, EKU critical timeStamping
  root.crl / ca.crl            CRLs (PEM) from `openssl ca -gencrl`, and *.crl.der (DER)
  chain.pem                    ca + root
Every leaf (and the TSA) has keyUsage critical digitalSignature,nonRepudiation and a CRL
distribution point http://127.0.0.1:9/crl/ca.crl (never fetched: tests hand the CRLs to
pyHanko).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "interop"))

import make_pki  # noqa: E402  (CNF template, run(), asn1_time())

CRL_BASE = "http://127.0.0.1:9/crl"

EXTRA_CNF = """
default_crl_days = 3650

[v3_ca_crl]
basicConstraints       = critical, CA:TRUE, pathlen:0
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always
crlDistributionPoints  = URI:{crl}/root.crl

[v3_leaf_crl]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature, nonRepudiation
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always
crlDistributionPoints  = URI:{crl}/ca.crl

[v3_tsa]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature, nonRepudiation
extendedKeyUsage       = critical, timeStamping
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always
crlDistributionPoints  = URI:{crl}/ca.crl

[crl_ext]
authorityKeyIdentifier = keyid:always
"""

LEAVES = {
    # name: (key algorithm, CN, extensions section)
    "alice": ("rsa:2048", "验证甲", "v3_leaf_crl"),
    "bob": ("ec:P-384", "验证乙", "v3_leaf_crl"),
    "carol": ("rsa:3072", "验证丙", "v3_leaf_crl"),
    "dave": ("rsa:2048", "验证丁", "v3_leaf_crl"),
    "tsa": ("rsa:2048", "千章验证时间戳", "v3_tsa"),
}
REVOKED = ("dave",)


def _ca_dir(base: Path, name: str, serial: str) -> Path:
    d = base / name
    if d.exists():
        shutil.rmtree(d)
    (d / "newcerts").mkdir(parents=True)
    (d / "index.txt").write_text("")
    (d / "serial").write_text(serial + "\n")
    (d / "crlnumber").write_text("01\n")
    (d / "openssl.cnf").write_text(make_pki.CNF.format(dir=str(d)).replace(
        "[policy_any]", EXTRA_CNF.format(crl=CRL_BASE) + "\n[policy_any]", 1))
    return d


def make_ltv_pki(outdir: Path) -> dict:
    outdir = Path(outdir).resolve()
    outdir.mkdir(parents=True, exist_ok=True)
    work = outdir / ".ca"
    rootdb = _ca_dir(work, "root", "2000")
    cadb = _ca_dir(work, "issuing", "3000")
    o = lambda n: str(outdir / n)  # noqa: E731
    run = make_pki.run

    def genkey(path: str, alg: str, cwd: Path) -> None:
        kind, param = alg.split(":")
        if kind == "ec":
            run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", f"ec_paramgen_curve:{param}",
                 "-pkeyopt", "ec_param_enc:named_curve", "-out", path], cwd)
        else:
            run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", f"rsa_keygen_bits:{param}",
                 "-out", path], cwd)

    def issue(db: Path, key: str, subj: str, out: str, ext: str, start: str, end: str,
              issuer_cert: str | None, issuer_key: str) -> None:
        csr = str(db / (Path(out).stem + ".csr"))
        run(["openssl", "req", "-new", "-utf8", "-key", key, "-subj", subj, "-out", csr], db)
        args = ["openssl", "ca", "-batch", "-utf8", "-notext", "-config", str(db / "openssl.cnf"),
                "-in", csr, "-out", out, "-extensions", ext, "-startdate", start, "-enddate", end,
                "-keyfile", issuer_key]
        args += ["-selfsign"] if issuer_cert is None else ["-cert", issuer_cert]
        run(args, db)

    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    ca_start, ca_end = "20200101000000Z", make_pki.asn1_time(dt.datetime(2050, 1, 1))
    leaf_start = make_pki.asn1_time(now - dt.timedelta(days=2))
    leaf_end = make_pki.asn1_time(now + dt.timedelta(days=3650))

    genkey(o("root.key"), "rsa:2048", rootdb)
    issue(rootdb, o("root.key"), "/C=CN/O=千章验证测试/CN=千章验证测试根CA RSA", o("root.pem"), "v3_root",
          ca_start, ca_end, None, o("root.key"))
    genkey(o("ca.key"), "rsa:2048", rootdb)
    issue(rootdb, o("ca.key"), "/C=CN/O=千章验证测试/CN=千章验证测试签发CA RSA", o("ca.pem"), "v3_ca_crl",
          ca_start, ca_end, o("root.pem"), o("root.key"))
    info: dict = {"root": "root.pem", "intermediate": "ca.pem", "leaves": {}, "crls": {}}
    for name, (alg, cn, ext) in LEAVES.items():
        genkey(o(f"{name}.key"), alg, cadb)
        subj = f"/C=CN/O=验证测试单位/OU=攻击测试/CN={cn}"
        issue(cadb, o(f"{name}.key"), subj, o(f"{name}.pem"), ext, leaf_start, leaf_end,
              o("ca.pem"), o("ca.key"))
        info["leaves"][name] = {"cert": f"{name}.pem", "key": f"{name}.key", "subject": subj,
                                "cn": cn, "alg": alg, "revoked": name in REVOKED}
    for name in REVOKED:
        run(["openssl", "ca", "-config", str(cadb / "openssl.cnf"), "-revoke", o(f"{name}.pem"),
             "-keyfile", o("ca.key"), "-cert", o("ca.pem"), "-crl_reason", "keyCompromise"], cadb)
    for db, crl, cert, key in ((rootdb, "root.crl", "root.pem", "root.key"),
                               (cadb, "ca.crl", "ca.pem", "ca.key")):
        run(["openssl", "ca", "-batch", "-config", str(db / "openssl.cnf"), "-gencrl",
             "-crlexts", "crl_ext", "-keyfile", o(key), "-cert", o(cert), "-out", o(crl)], db)
        run(["openssl", "crl", "-in", o(crl), "-outform", "DER", "-out", o(crl + ".der")], db)
        info["crls"][crl] = {"issuer": cert, "url": f"{CRL_BASE}/{crl}"}
    (outdir / "chain.pem").write_text((outdir / "ca.pem").read_text() + (outdir / "root.pem").read_text())
    run(["openssl", "verify", "-crl_check_all", "-CAfile", o("root.pem"), "-untrusted", o("ca.pem"),
         "-CRLfile", o("root.crl"), "-CRLfile", o("ca.crl"), o("alice.pem"), o("bob.pem"),
         o("carol.pem"), o("tsa.pem")], cadb)
    (outdir / "pki.json").write_text(json.dumps(info, ensure_ascii=False, indent=2) + "\n")
    return info


def ensure_ltv_pki(pki_dir: Path) -> Path:
    """The LTV PKI lives in PKI_DIR/ltv (built on first use), next to the interop PKI."""
    d = Path(pki_dir) / "ltv"
    if not (d / "pki.json").is_file():
        make_ltv_pki(d)
    return d


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("outdir", type=Path)
    a = ap.parse_args()
    try:
        make_ltv_pki(a.outdir)
    except make_pki.PkiError as e:
        print(f"ltv_pki: {e}", file=sys.stderr)
        return 1
    print(f"LTV PKI written to {a.outdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
