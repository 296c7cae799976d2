#!/usr/bin/env python3
"""Build a throwaway outside test PKI with the openssl CLI (OpenSSL 3.0).

usage: make_pki.py OUTDIR [--prefix TEXT]

Writes into OUTDIR:
  root.pem / root.key        root CA, ECDSA P-256, self-signed
  ca.pem / ca.key            intermediate (issuing) CA, ECDSA P-256
  ecdsa.pem / ecdsa.key      leaf signer 张三, P-256, key as PKCS#8 PEM ("BEGIN PRIVATE KEY")
  ec-sec1.key                the same P-256 key as SEC1 PEM ("BEGIN EC PRIVATE KEY")
  ecdsa-enc.key              the same P-256 key, encrypted PKCS#8 (password "secret-key")
  rsa2048.pem / rsa2048.key  leaf signer 李四, RSA-2048, key as PKCS#1 PEM ("BEGIN RSA PRIVATE KEY")
  rsa4096.pem / rsa4096.key  leaf signer 王五, RSA-4096, key as PKCS#8 PEM
  expired.pem / expired.key  leaf signer 赵六, P-256, valid 2020-01-01 .. 2021-01-01 only
  ecdsa.p12                  ecdsa key + leaf + intermediate, OpenSSL 3 defaults
                             (PBES2/AES-256-CBC, PBKDF2, SHA-256 MAC), password "secret-p12"
  chain.pem                  intermediate + root (for tools that want a bundle)
  pki.json                   what is where (subjects, passwords, validity)

Leaf certificates hold only the leaf; keyUsage critical digitalSignature,nonRepudiation.
The CAs are valid from 2020-01-01 for 30 years, leaves from yesterday for 10 years,
so the expired signer lies inside the CAs' validity.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

P12_PASSWORD = "secret-p12"
KEY_PASSWORD = "secret-key"

CNF = """\
[ca]
default_ca = CA_default

[CA_default]
dir             = {dir}
database        = $dir/index.txt
new_certs_dir   = $dir/newcerts
serial          = $dir/serial
default_md      = sha256
policy          = policy_any
unique_subject  = no
copy_extensions = none
email_in_dn     = no
preserve        = yes
utf8            = yes
string_mask     = utf8only

[policy_any]
countryName            = optional
organizationName       = optional
organizationalUnitName = optional
commonName             = supplied

[req]
distinguished_name = req_dn
string_mask        = utf8only
utf8               = yes

[req_dn]

[v3_root]
basicConstraints       = critical, CA:TRUE
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always

[v3_ca]
basicConstraints       = critical, CA:TRUE, pathlen:0
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always

[v3_leaf]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature, nonRepudiation
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always
"""


class PkiError(RuntimeError):
    pass


def run(args: list[str], cwd: Path) -> None:
    env = dict(os.environ, OPENSSL_CONF=str(cwd / "openssl.cnf"))
    p = subprocess.run(args, cwd=cwd, env=env, capture_output=True)
    if p.returncode != 0:
        raise PkiError(f"{' '.join(args)} failed ({p.returncode}): "
                       f"{p.stderr.decode(errors='replace').strip()}")


def asn1_time(t: dt.datetime) -> str:
    return t.strftime("%Y%m%d%H%M%SZ")


def make_pki(outdir: Path, prefix: str = "") -> dict:
    outdir = Path(outdir).resolve()
    outdir.mkdir(parents=True, exist_ok=True)
    work = outdir / ".ca"
    if work.exists():
        shutil.rmtree(work)
    (work / "newcerts").mkdir(parents=True)
    (work / "index.txt").write_text("")
    (work / "serial").write_text("1000\n")
    (work / "openssl.cnf").write_text(CNF.format(dir=str(work)))
    # Also reachable from outdir: the tests use these names.
    o = lambda name: str(outdir / name)  # noqa: E731

    def genkey(path: str, alg: str) -> None:
        if alg == "ec":
            run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                 "-pkeyopt", "ec_param_enc:named_curve", "-out", path], work)
        else:
            run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", f"rsa_keygen_bits:{alg}",
                 "-out", path], work)

    def csr(key: str, subj: str, out: str) -> None:
        run(["openssl", "req", "-new", "-utf8", "-key", key, "-subj", subj, "-out", out], work)

    def sign(csr_path: str, out: str, ext: str, start: str, end: str,
             issuer_cert: str | None, issuer_key: str) -> None:
        args = ["openssl", "ca", "-batch", "-utf8", "-notext", "-config", str(work / "openssl.cnf"),
                "-in", csr_path, "-out", out, "-extensions", ext,
                "-startdate", start, "-enddate", end, "-keyfile", issuer_key]
        if issuer_cert is None:
            args += ["-selfsign"]
        else:
            args += ["-cert", issuer_cert]
        run(args, work)

    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    ca_start, ca_end = "20200101000000Z", asn1_time(dt.datetime(2050, 1, 1))
    leaf_start = asn1_time(now - dt.timedelta(days=1))
    leaf_end = asn1_time(now + dt.timedelta(days=3650))

    # Root
    genkey(o("root.key"), "ec")
    csr(o("root.key"), f"/C=CN/O=千章测试/CN={prefix}千章互通测试根CA", str(work / "root.csr"))
    sign(str(work / "root.csr"), o("root.pem"), "v3_root", ca_start, ca_end, None, o("root.key"))
    # Intermediate
    genkey(o("ca.key"), "ec")
    csr(o("ca.key"), f"/C=CN/O=千章测试/CN={prefix}千章互通测试签发CA", str(work / "ca.csr"))
    sign(str(work / "ca.csr"), o("ca.pem"), "v3_ca", ca_start, ca_end, o("root.pem"), o("root.key"))

    leaves = {
        "ecdsa": ("ec", "张三", leaf_start, leaf_end),
        "rsa2048": ("2048", "李四", leaf_start, leaf_end),
        "rsa4096": ("4096", "王五", leaf_start, leaf_end),
        "expired": ("ec", "赵六", "20200101000000Z", "20210101000000Z"),
    }
    info: dict = {"root": "root.pem", "intermediate": "ca.pem", "leaves": {}}
    for name, (alg, cn, start, end) in leaves.items():
        key = o(f"{name}.key")
        genkey(key, alg)
        subj = f"/C=CN/O=测试单位/OU=互通测试/CN={prefix}{cn}"
        csr(key, subj, str(work / f"{name}.csr"))
        sign(str(work / f"{name}.csr"), o(f"{name}.pem"), "v3_leaf", start, end, o("ca.pem"), o("ca.key"))
        info["leaves"][name] = {"cert": f"{name}.pem", "key": f"{name}.key", "subject": subj,
                                "not_before": start, "not_after": end}

    # Key format variants.
    tmp = str(work / "rsa2048.pkcs8")
    shutil.move(o("rsa2048.key"), tmp)
    run(["openssl", "pkey", "-in", tmp, "-traditional", "-out", o("rsa2048.key")], work)
    run(["openssl", "ec", "-in", o("ecdsa.key"), "-out", o("ec-sec1.key")], work)
    run(["openssl", "pkcs8", "-topk8", "-in", o("ecdsa.key"), "-v2", "aes-256-cbc",
         "-passout", f"pass:{KEY_PASSWORD}", "-out", o("ecdsa-enc.key")], work)
    run(["openssl", "pkcs12", "-export", "-inkey", o("ecdsa.key"), "-in", o("ecdsa.pem"),
         "-certfile", o("ca.pem"), "-name", f"{prefix}张三", "-passout", f"pass:{P12_PASSWORD}",
         "-out", o("ecdsa.p12")], work)
    (outdir / "chain.pem").write_text((outdir / "ca.pem").read_text() + (outdir / "root.pem").read_text())

    # Sanity checks on the formats promised above.
    expect_head = {"ecdsa.key": "-----BEGIN PRIVATE KEY-----", "ec-sec1.key": "-----BEGIN EC PRIVATE KEY-----",
                   "rsa2048.key": "-----BEGIN RSA PRIVATE KEY-----", "rsa4096.key": "-----BEGIN PRIVATE KEY-----",
                   "ecdsa-enc.key": "-----BEGIN ENCRYPTED PRIVATE KEY-----"}
    for f, head in expect_head.items():
        if not (outdir / f).read_text().startswith(head):
            raise PkiError(f"{f}: expected {head}")
    for f in ["ecdsa.pem", "rsa2048.pem", "rsa4096.pem", "expired.pem", "ca.pem", "root.pem"]:
        if (outdir / f).read_text().count("BEGIN CERTIFICATE") != 1:
            raise PkiError(f"{f}: expected exactly one certificate")
    run(["openssl", "verify", "-CAfile", o("root.pem"), "-untrusted", o("ca.pem"),
         o("ecdsa.pem"), o("rsa2048.pem"), o("rsa4096.pem")], work)

    info.update({"p12": "ecdsa.p12", "p12_password": P12_PASSWORD,
                 "encrypted_key": "ecdsa-enc.key", "key_password": KEY_PASSWORD,
                 "sec1_key": "ec-sec1.key", "chain": "chain.pem"})
    (outdir / "pki.json").write_text(json.dumps(info, ensure_ascii=False, indent=2) + "\n")
    return info


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("outdir", type=Path)
    ap.add_argument("--prefix", default="", help="text prepended to every CN (to tell PKIs apart)")
    a = ap.parse_args()
    try:
        make_pki(a.outdir, a.prefix)
    except PkiError as e:
        print(f"make_pki: {e}", file=sys.stderr)
        return 1
    print(f"PKI written to {a.outdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
