"""Signing helpers shared by make_attacks.py and make_pyhanko_levels.py: `qz sign` and pyHanko.

Signers are named "<pki>:<leaf>":
  interop:ecdsa  interop:rsa2048  interop:rsa4096  interop:expired   (tests/interop/make_pki.py)
  ltv:alice (RSA-2048)  ltv:bob (P-384, SHA-384)  ltv:carol (RSA-3072, PSS)  ltv:dave (revoked)
  self:mallory   a self-signed P-256 certificate (made on first use)
"""
from __future__ import annotations

import asyncio
import io
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent


def qz_bin() -> Path | None:
    env = os.environ.get("QZ_BIN")
    if env:
        return Path(env).resolve()
    for cand in (REPO / "target" / "release" / "qz", REPO / "target" / "debug" / "qz"):
        if cand.is_file() and os.access(cand, os.X_OK):
            return cand
    return None


class SignError(RuntimeError):
    pass


@dataclass
class Pkis:
    interop: Path      # make_pki.py output
    ltv: Path          # ltv_pki.py output

    def root(self, pki: str) -> Path:
        return {"interop": self.interop, "ltv": self.ltv, "self": self.selfsigned_dir()}[pki] / "root.pem"

    def selfsigned_dir(self) -> Path:
        d = self.interop / "selfsigned"
        if not (d / "root.pem").is_file():
            d.mkdir(parents=True, exist_ok=True)
            subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                            "-nodes", "-keyout", str(d / "mallory.key"), "-out", str(d / "mallory.pem"),
                            "-days", "3650", "-subj", "/C=CN/O=自签名/CN=自签名攻击者",
                            "-addext", "keyUsage=critical,digitalSignature,nonRepudiation"],
                           check=True, capture_output=True)
            (d / "root.pem").write_bytes((d / "mallory.pem").read_bytes())
        return d

    def files(self, signer: str) -> tuple[Path, Path, Path | None]:
        """(key, cert, chain CA or None)."""
        pki, leaf = signer.split(":")
        if pki == "self":
            d = self.selfsigned_dir()
            return d / f"{leaf}.key", d / f"{leaf}.pem", None
        d = {"interop": self.interop, "ltv": self.ltv}[pki]
        return d / f"{leaf}.key", d / f"{leaf}.pem", d / "ca.pem"


CN = {"interop:ecdsa": "张三", "interop:rsa2048": "李四", "interop:rsa4096": "王五", "interop:expired": "赵六",
      "ltv:alice": "验证甲", "ltv:bob": "验证乙", "ltv:carol": "验证丙", "ltv:dave": "验证丁",
      "self:mallory": "自签名攻击者"}


# --------------------------------------------------------------------------- qz

def qz_sign(qz: Path, pkis: Pkis, src: Path, out: Path, signer: str, *extra) -> Path:
    key, cert, chain = pkis.files(signer)
    args = [str(qz), "sign", str(src), "-o", str(out), "--key", str(key), "--cert", str(cert)]
    if chain:
        args += ["--chain", str(chain)]
    args += [str(a) for a in extra]
    p = subprocess.run(args, capture_output=True, timeout=120)
    if p.returncode != 0:
        raise SignError(f"qz sign failed ({p.returncode}): {p.stderr.decode(errors='replace').strip()}")
    return out


# --------------------------------------------------------------------------- pyHanko

def ph_signer(pkis: Pkis, signer: str):
    from pyhanko.sign import signers
    key, cert, chain = pkis.files(signer)
    return signers.SimpleSigner.load(str(key), str(cert), ca_chain_files=(str(chain),) if chain else (),
                                     prefer_pss=signer == "ltv:carol")


def md_for(signer: str) -> str:
    return "sha384" if signer == "ltv:bob" else "sha256"


def timestamper(pkis: Pkis, whole_seconds: bool = False):
    """pyHanko's in-process TSA with the LTV PKI's TSA key. Its genTime carries microseconds
    (e.g. 20261122082455.277801Z) unless whole_seconds; ESS signing-certificate is v1 (SHA-1)."""
    import datetime as dt
    from pyhanko.keys import load_cert_from_pemder, load_private_key_from_pemder
    from pyhanko.sign.timestamps import DummyTimeStamper
    fixed = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) if whole_seconds else None
    return DummyTimeStamper(tsa_cert=load_cert_from_pemder(str(pkis.ltv / "tsa.pem")),
                            tsa_key=load_private_key_from_pemder(str(pkis.ltv / "tsa.key"), None),
                            certs_to_embed=[load_cert_from_pemder(str(pkis.ltv / "ca.pem"))], fixed_dt=fixed)


def ltv_context(pkis: Pkis, *, trust=("ltv", "interop")):
    """A ValidationContext that knows the LTV PKI's CRLs (nothing is fetched)."""
    from asn1crypto import crl as asn1_crl
    from pyhanko.keys import load_cert_from_pemder
    from pyhanko_certvalidator import ValidationContext
    crls = [asn1_crl.CertificateList.load((pkis.ltv / f).read_bytes()) for f in ("root.crl.der", "ca.crl.der")]
    return ValidationContext(trust_roots=[load_cert_from_pemder(str(pkis.root(t))) for t in trust],
                             crls=crls, allow_fetching=False, revocation_mode="hard-fail")


def ph_sign(pkis: Pkis, src: Path | bytes, out: Path, signer: str, field: str, *,
            certify: int | None = None, visible_box=None, lock_fields=None, level: str = "B-B",
            reason: str | None = None, on_page: int = 0, ts_whole_seconds: bool = False) -> Path:
    """Sign with pyHanko (PAdES). level: B-B, B-T, B-LT, B-LTA."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers
    from pyhanko.sign.fields import (FieldMDPAction, FieldMDPSpec, MDPPerm, SigFieldSpec,
                                     SigSeedSubFilter, append_signature_field)
    data = src if isinstance(src, bytes) else Path(src).read_bytes()
    w = IncrementalPdfFileWriter(io.BytesIO(data))
    if visible_box is not None or lock_fields:
        spec = SigFieldSpec(field, on_page=on_page, box=visible_box,
                            field_mdp_spec=FieldMDPSpec(FieldMDPAction.INCLUDE, fields=list(lock_fields))
                            if lock_fields else None)
        append_signature_field(w, spec)
    kw = {}
    if certify:
        kw.update(certify=True, docmdp_permissions=MDPPerm(certify))
    if level in ("B-LT", "B-LTA"):
        kw.update(embed_validation_info=True, validation_context=ltv_context(pkis))
    if level == "B-LTA":
        kw.update(use_pades_lta=True)
    meta = signers.PdfSignatureMetadata(field_name=field, subfilter=SigSeedSubFilter.PADES,
                                        md_algorithm=md_for(signer), reason=reason, **kw)
    ts = timestamper(pkis, ts_whole_seconds) if level != "B-B" else None
    buf = io.BytesIO()
    signers.sign_pdf(w, meta, signer=ph_signer(pkis, signer), timestamper=ts, output=buf)
    Path(out).write_bytes(buf.getvalue())
    return Path(out)


def ph_doc_timestamp(pkis: Pkis, src: Path, out: Path, field: str = "DocTS", *, dss: bool = True) -> Path:
    """Append a document timestamp (and, with dss, the validation info of earlier signatures)."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers
    w = IncrementalPdfFileWriter(io.BytesIO(Path(src).read_bytes()))
    buf = io.BytesIO()
    signers.PdfTimeStamper(timestamper(pkis), field_name=field).timestamp_pdf(
        w, "sha256", validation_context=ltv_context(pkis) if dss else None, output=buf)
    Path(out).write_bytes(buf.getvalue())
    return Path(out)


def ph_add_dss(pkis: Pkis, src: Path, out: Path, *, crls_for_revoked: bool = False) -> Path:
    """Append a DSS (certificates + CRLs) for the last signature, in its own revision."""
    from asn1crypto import crl as asn1_crl
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation.dss import DocumentSecurityStore
    data = Path(src).read_bytes()
    r = PdfFileReader(io.BytesIO(data))
    emb = r.embedded_signatures[-1]
    crls = [asn1_crl.CertificateList.load((pkis.ltv / f).read_bytes()) for f in ("root.crl.der", "ca.crl.der")]
    certs = [c.chosen if hasattr(c, "chosen") else c for c in emb.signed_data["certificates"]]
    w = IncrementalPdfFileWriter(io.BytesIO(data))
    DocumentSecurityStore.supply_dss_in_writer(w, emb.pkcs7_content, certs=certs, crls=crls)
    buf = io.BytesIO()
    w.write(buf)
    Path(out).write_bytes(buf.getvalue())
    return Path(out)


def raw_cms(pkis: Pkis, signer: str, digest: bytes) -> bytes:
    """A detached PAdES-style CMS over a precomputed SHA-256/384 document digest (DER)."""
    s = ph_signer(pkis, signer)
    ci = asyncio.run(s.async_sign(digest, md_for(signer), use_pades=True))
    return ci.dump()
