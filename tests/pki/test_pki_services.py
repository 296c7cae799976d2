"""`qz ca` profiles and the `qz pki serve` services (OCSP, TSA, CRL) judged by openssl, curl-like
HTTP, asn1crypto, pdfsig and pyHanko; PAdES B-B..B-LTA signing against the live services.

See README.md in this folder for what each group checks.
"""
from __future__ import annotations

import base64
import datetime as dt
import json
import os
import re
import secrets
import shutil
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from asn1crypto import cms, core, crl as a_crl, ocsp, tsp
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from .conftest import CREDIT_CODE, PERSON_ID, Pki, Run, http, note, pyhanko_cli, run

UTC = dt.timezone.utc
RECENT = dt.timedelta(minutes=5)


def now() -> dt.datetime:
    return dt.datetime.now(UTC)


# =========================================================================== helpers

def openssl(*args, input: bytes | None = None) -> Run:
    return run(["openssl", *args], input=input)


def x509_text(pem: Path) -> str:
    r = openssl("x509", "-in", pem, "-noout", "-text")
    assert r.rc == 0, r.describe()
    return r.stdout


def extensions(text: str) -> dict[str, tuple[bool, str]]:
    """`openssl x509 -text` extensions → {name: (critical, value text)}."""
    exts: dict[str, tuple[bool, str]] = {}
    lines = text.splitlines()
    try:
        start = next(i for i, l in enumerate(lines) if l.strip() == "X509v3 extensions:")
    except StopIteration:
        return exts
    indent = None
    cur = None
    for l in lines[start + 1:]:
        if not l.strip():
            continue
        ind = len(l) - len(l.lstrip())
        if indent is None:
            indent = ind
        if ind < indent:
            break
        if ind == indent:
            head = l.strip()
            crit = head.endswith("critical")
            name = re.sub(r":\s*(critical)?\s*$", "", head)
            cur = name
            exts[cur] = (crit, "")
        elif cur is not None:
            c, v = exts[cur]
            exts[cur] = (c, (v + "\n" + l.strip()).strip())
    return exts


def load_cert(pem: Path) -> x509.Certificate:
    """First certificate of a PEM file."""
    return x509.load_pem_x509_certificate(pem.read_bytes())


def der_of(pem: Path) -> bytes:
    return load_cert(pem).public_bytes(Encoding.DER)


def one_line_error(stderr: str) -> str:
    lines = [l for l in stderr.splitlines() if l.strip()]
    assert len(lines) == 1, f"expected one error line, got {len(lines)}:\n{stderr}"
    assert lines[0].startswith("error: "), f"error line must start with 'error: ': {lines[0]!r}"
    return lines[0]


# --- OCSP

def ocsp_cli(pki: Pki, *args) -> Run:
    return openssl("ocsp", "-url", pki.server.url("/pki/ocsp"), "-CAfile", pki.root_pem, *args)


def ocsp_post(pki: Pki, body: bytes):
    return http(pki.server.url("/pki/ocsp"), body, "application/ocsp-request")


def ocsp_request(pki: Pki, cert: Path, name: str, *extra) -> bytes:
    out = pki.work / f"{name}.ocsp-req.der"
    r = openssl("ocsp", "-issuer", pki.ca_pem, "-cert", cert, "-reqout", out, *extra)
    assert r.rc == 0, r.describe()
    return out.read_bytes()


def ocsp_single(resp: ocsp.OCSPResponse):
    basic = resp["response_bytes"]["response"].parsed
    return basic, basic["tbs_response_data"]["responses"][0]


def nonce_of(exts) -> bytes | None:
    for e in exts or []:
        if e["extn_id"].native == "nonce":
            v = e["extn_value"].parsed
            return v.native if hasattr(v, "native") else bytes(v)
    return None


# --- TSA

def tsa_post(pki: Pki, body: bytes):
    return http(pki.server.url("/pki/tsa"), body, "application/timestamp-query")


def parse_tsr(body: bytes):
    """(PKIStatusInfo native, TSTInfo or None). asn1crypto 1.5's TimeStampResp does not mark
    timeStampToken OPTIONAL, so the SEQUENCE is taken apart by hand."""
    seq = core.Sequence.load(body)
    status = tsp.PKIStatusInfo.load(seq[0].dump()).native
    tst = None
    if len(seq) > 1:
        token = cms.ContentInfo.load(seq[1].dump())
        tst = token["content"]["encap_content_info"]["content"].parsed
    return status, tst


def ts_query(pki: Pki, name: str, alg: str = "sha256", *extra) -> Path:
    data = pki.work / f"{name}.data"
    data.write_bytes(f"timestamp me {name} {secrets.token_hex(8)}".encode())
    q = pki.work / f"{name}.tsq"
    r = openssl("ts", "-query", "-data", data, f"-{alg}", "-out", q, *extra)
    assert r.rc == 0, r.describe()
    return q


# --- CRL

def crl_fields(der: bytes) -> dict:
    c = a_crl.CertificateList.load(der)
    tbs = c["tbs_cert_list"]
    number = None
    for e in tbs["crl_extensions"] or []:
        if e["extn_id"].native == "crl_number":
            number = e["extn_value"].parsed.native
    revoked = {}
    for rc in tbs["revoked_certificates"] or []:
        reason = None
        for e in rc["crl_entry_extensions"] or []:
            if e["extn_id"].native == "crl_reason":
                reason = e["extn_value"].parsed.native
        revoked[format(rc["user_certificate"].native, "x")] = reason
    return {"this_update": tbs["this_update"].native, "next_update": tbs["next_update"].native,
            "number": number, "revoked": revoked}


def norm_serial(s: str) -> str:
    return format(int(s, 16), "x")


# =========================================================================== a. CA profiles

@pytest.mark.parametrize("which", ["person", "org"])
def test_signing_cert_profile(pki, which):
    prefix = getattr(pki, which)
    text = x509_text(prefix.with_suffix(".pem"))
    exts = extensions(text)
    ku = exts.get("X509v3 Key Usage")
    assert ku, f"no keyUsage:\n{text}"
    assert ku[0], "keyUsage must be critical"
    assert "Digital Signature" in ku[1] and "Non Repudiation" in ku[1], ku
    assert "Certificate Sign" not in ku[1] and "CRL Sign" not in ku[1], ku
    bc = exts.get("X509v3 Basic Constraints")
    assert bc is None or "CA:FALSE" in bc[1], bc
    aia = exts.get("Authority Information Access")
    assert aia, f"no AIA:\n{text}"
    assert f"OCSP - URI:{pki.base_url}/pki/ocsp" in aia[1], aia
    assert f"CA Issuers - URI:{pki.base_url}/pki/cert/ca.crt" in aia[1], aia
    dp = exts.get("X509v3 CRL Distribution Points")
    assert dp and f"URI:{pki.base_url}/pki/crl/ca.crl" in dp[1], dp


@pytest.mark.parametrize("which", ["issued", "service"])
def test_tsa_cert_profile(pki, which):
    pem = pki.tsa.with_suffix(".pem") if which == "issued" else pki.ca / "services" / "tsa.pem"
    assert pem.is_file(), f"{pem} missing (the server should issue it on first start)"
    exts = extensions(x509_text(pem))
    eku = exts.get("X509v3 Extended Key Usage")
    assert eku, f"no EKU: {exts}"
    assert eku[0], "TSA EKU must be critical (RFC 3161 2.3)"
    assert eku[1].strip() == "Time Stamping", f"TSA EKU must be timeStamping only: {eku[1]!r}"
    ku = exts.get("X509v3 Key Usage")
    assert ku and "Digital Signature" in ku[1], ku


@pytest.mark.parametrize("which", ["service", "issued"])
def test_ocsp_responder_cert_profile(pki, which):
    if which == "service":
        pem = pki.ca / "services" / "ocsp.pem"
        assert pem.is_file(), f"{pem} missing (the server should issue it on first start)"
    else:
        prefix, _ = pki.issue("ocsp", "千章测试OCSP", pki.root_dir / "ocsp-issued")
        pem = prefix.with_suffix(".pem")
    exts = extensions(x509_text(pem))
    eku = exts.get("X509v3 Extended Key Usage")
    assert eku and "OCSP Signing" in eku[1], exts
    assert "OCSP No Check" in exts, f"id-pkix-ocsp-nocheck missing: {list(exts)}"


def test_person_subject_hashes_id_number(pki):
    cert = load_cert(pki.person.with_suffix(".pem"))
    sn = cert.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)
    assert len(sn) == 1, f"person subject needs one serialNumber: {cert.subject.rfc4514_string()}"
    value = sn[0].value
    assert value != PERSON_ID and PERSON_ID[:17] not in value, value
    assert re.fullmatch(r"[0-9a-fA-F]{16,}", value), f"serialNumber should be a hash, got {value!r}"
    der = der_of(pki.person.with_suffix(".pem"))
    for needle in (PERSON_ID, PERSON_ID.lower(), PERSON_ID[:17], PERSON_ID[6:14]):
        assert needle.encode() not in der, f"{needle!r} appears in the certificate DER"
    # Nor anywhere in the CA directory (the help says "stored only as a salted hash").
    for f in pki.ca.rglob("*"):
        if f.is_file():
            assert PERSON_ID[:17].encode() not in f.read_bytes(), f"ID number stored in {f}"
    # Same person, same hash is fine; but the hash must be salted (not a bare SHA-256 of the ID).
    import hashlib
    for h in (hashlib.sha256, hashlib.sha1, hashlib.md5):
        assert h(PERSON_ID.encode()).hexdigest()[: len(value)].lower() != value.lower(), \
            f"serialNumber is an unsalted {h().name} of the ID number"


def test_org_subject_credit_code(pki):
    cert = load_cert(pki.org.with_suffix(".pem"))
    oi = cert.subject.get_attributes_for_oid(x509.ObjectIdentifier("2.5.4.97"))
    assert len(oi) == 1, f"org subject needs one organizationIdentifier: {cert.subject.rfc4514_string()}"
    assert oi[0].value in (CREDIT_CODE, f"NTRCN-{CREDIT_CODE}"), oi[0].value
    if oi[0].value != CREDIT_CODE:
        note(f"organizationIdentifier is {oi[0].value!r} (ETSI semantics-identifier form)")


@pytest.mark.parametrize("kind,flag,value", [
    ("person", "--id-number", "110105194912310021"),    # wrong check digit
    ("person", "--id-number", "11010519491231002"),     # 17 characters
    ("person", "--id-number", "1101051949123100AX"),    # letters
    ("person", "--id-number", "110105194913310024"),    # month 13
    ("org", "--credit-code", "91350100M000100Y44"),     # wrong check character
    ("org", "--credit-code", "91350100M000100Y4"),      # 17 characters
    ("org", "--credit-code", "91350100M00010OY43"),     # letter O is not in the alphabet
])
def test_bad_identifier_refused(pki, kind, flag, value):
    out = pki.root_dir / f"bad-{kind}-{value}"
    r = pki.qz_run("ca", "issue", "--dir", pki.ca, "--kind", kind, "--name", "坏", flag, value,
                   "--out", out)
    assert r.rc != 0, f"accepted a bad identifier:\n{r.describe()}"
    line = one_line_error(r.stderr)
    assert value in line or "valid" in line.lower(), f"error does not say what is wrong: {line}"
    assert not out.with_suffix(".pem").exists() and not out.with_suffix(".key").exists(), \
        "files written despite the error"
    if "cannot read certificate" in line:
        note(f"bad {flag}: the error reads 'error: cannot read certificate: \"VALUE\" is not a valid ...'"
             " (the 'cannot read certificate' prefix is misleading)")


@pytest.mark.parametrize("which", ["person", "org", "tsa", "services/tsa", "services/ocsp"])
def test_chain_verifies(pki, which):
    pem = pki.ca / f"{which}.pem" if which.startswith("services/") else getattr(pki, which).with_suffix(".pem")
    r = openssl("verify", "-CAfile", pki.root_pem, "-untrusted", pki.ca_pem, pem)
    assert r.rc == 0 and r.stdout.strip().endswith(": OK"), r.describe()


# =========================================================================== b. OCSP via openssl

def test_ocsp_good_with_nonce(pki):
    cert = pki.person.with_suffix(".pem")
    r = ocsp_cli(pki, "-issuer", pki.ca_pem, "-cert", cert, "-nonce")
    out = r.stdout + r.stderr
    assert r.rc == 0, r.describe()
    assert "Response verify OK" in out, out
    assert f"{cert}: good" in out, out
    assert "WARNING: no nonce in response" not in out, out
    assert "nonce verify error" not in out.lower(), out


def test_ocsp_nonce_echoed_asn1(pki):
    req = ocsp_request(pki, pki.org.with_suffix(".pem"), "nonce", "-nonce")
    want = nonce_of(ocsp.OCSPRequest.load(req)["tbs_request"]["request_extensions"])
    assert want
    res = ocsp_post(pki, req)
    assert res.status == 200 and res.content_type.startswith("application/ocsp-response"), res
    resp = ocsp.OCSPResponse.load(res.body)
    assert resp["response_status"].native == "successful"
    basic, single = ocsp_single(resp)
    got = nonce_of(basic["tbs_response_data"]["response_extensions"])
    assert got == want, f"nonce not echoed: sent {want!r}, got {got!r}"
    assert single["cert_status"].name == "good"
    tu = single["this_update"].native
    assert abs(now() - tu) < RECENT, f"thisUpdate {tu} not recent"
    nu = single["next_update"].native
    assert nu is None or nu > tu
    assert abs(now() - basic["tbs_response_data"]["produced_at"].native) < RECENT


def test_ocsp_sha256_certid(pki):
    """CertID hashed with SHA-256 instead of SHA-1 (RFC 6960 allows it; many clients use it)."""
    cert = pki.person.with_suffix(".pem")
    r = ocsp_cli(pki, "-sha256", "-issuer", pki.ca_pem, "-cert", cert)
    assert r.rc == 0 and f"{cert}: good" in r.stdout, r.describe()


def test_ocsp_revoked_with_reason(pki):
    prefix, serial = pki.issue("person", "吊销测试甲", pki.root_dir / "revoke-ocsp")
    cert = prefix.with_suffix(".pem")
    r = ocsp_cli(pki, "-issuer", pki.ca_pem, "-cert", cert)
    assert r.rc == 0 and f"{cert}: good" in r.stdout, r.describe()
    t0 = now().replace(microsecond=0)
    pki.revoke(serial, "keyCompromise")
    r = ocsp_cli(pki, "-issuer", pki.ca_pem, "-cert", cert)
    out = r.stdout + r.stderr
    assert r.rc == 0 and "Response verify OK" in out, r.describe()
    assert f"{cert}: revoked" in out, out
    assert "Reason: keyCompromise" in out, out
    m = re.search(r"Revocation Time: (.+ GMT)", out)
    assert m, out
    rt = dt.datetime.strptime(m.group(1), "%b %d %H:%M:%S %Y GMT").replace(tzinfo=UTC)
    assert t0 - dt.timedelta(seconds=5) <= rt <= now() + dt.timedelta(seconds=5), rt


def test_ocsp_unknown_serial_same_issuer(pki):
    r = ocsp_cli(pki, "-issuer", pki.ca_pem, "-serial", "0x" + secrets.token_hex(12))
    out = r.stdout + r.stderr
    assert r.rc == 0 and "Response verify OK" in out, r.describe()
    assert re.search(r": unknown\b", out), out


def test_ocsp_cert_from_other_ca(pki):
    """A certificate of another CA: `unknown` (or an `unauthorized` error response)."""
    other = pki.root_dir / "other-ca"
    r = pki.qz_run("ca", "init", "--dir", other, "--base-url", "http://127.0.0.1:9")
    assert r.rc == 0, r.describe()
    r = pki.qz_run("ca", "issue", "--dir", other, "--kind", "person", "--name", "外人",
                   "--out", pki.root_dir / "other-leaf")
    assert r.rc == 0, r.describe()
    req = pki.work / "other.ocsp-req.der"
    r = openssl("ocsp", "-issuer", other / "ca.pem", "-cert", pki.root_dir / "other-leaf.pem",
                "-reqout", req)
    assert r.rc == 0, r.describe()
    res = ocsp_post(pki, req.read_bytes())
    assert res.status == 200, res
    resp = ocsp.OCSPResponse.load(res.body)
    st = resp["response_status"].native
    if st == "successful":
        _, single = ocsp_single(resp)
        assert single["cert_status"].name == "unknown", single["cert_status"].name
        note("OCSP for another CA's certificate: successful/unknown, signed by our responder "
             "(openssl rejects it as 'root ca not trusted': not authorized for that issuer)")
    else:
        assert st == "unauthorized", st
        note("OCSP for another CA's certificate: unauthorized")


@pytest.mark.parametrize("form", ["urlencoded", "raw"])
def test_ocsp_get(pki, form):
    """GET /pki/ocsp/{base64} (RFC 6960 A.1). The request is re-made (random nonce) until its
    base64 holds both '/' and '+', so that decoding them is exercised. `urlencoded` sends them
    as %2F / %2B, as RFC 5019 asks of clients; `raw` sends them as they are, as some clients do
    (the responders of OpenSSL, cfssl/boulder and EJBCA accept that)."""
    for i in range(200):
        req = ocsp_request(pki, pki.person.with_suffix(".pem"), f"get-{form}", "-nonce")
        b64 = base64.b64encode(req).decode()
        if "/" in b64 and "+" in b64:
            break
    else:
        pytest.skip("could not make a request whose base64 has both '/' and '+'")
    path = urllib.parse.quote(b64, safe="") if form == "urlencoded" else b64
    res = http(pki.server.url("/pki/ocsp/" + path))
    assert res.status == 200, (res.status, res.body[:200], "/pki/ocsp/" + path)
    assert res.content_type.startswith("application/ocsp-response"), res.content_type
    respf = pki.work / f"get-{form}.ocsp-resp.der"
    respf.write_bytes(res.body)
    r = openssl("ocsp", "-respin", respf, "-reqin", pki.work / f"get-{form}.ocsp-req.der",
                "-issuer", pki.ca_pem, "-CAfile", pki.root_pem, "-resp_text")
    out = r.stdout + r.stderr
    assert "Response verify OK" in out and "Cert Status: good" in out, r.describe()
    assert "WARNING: no nonce in response" not in out, out


# =========================================================================== c. malformed input

@pytest.mark.parametrize("body", [b"garbage\n", b"", b"\x30\x03\x02\x01", b"\x30\x80" + b"\x00" * 64],
                         ids=["text", "empty", "truncated-der", "indefinite"])
def test_ocsp_malformed_post(pki, body):
    res = ocsp_post(pki, body)
    assert res.status == 200, (res.status, res.body[:200])
    assert ocsp.OCSPResponse.load(res.body)["response_status"].native == "malformed_request"
    assert pki.server.running() and pki.server.answers()


def test_ocsp_malformed_get(pki):
    for path in ["notbase64@@", urllib.parse.quote(base64.b64encode(b"garbage").decode(), safe="")]:
        res = http(pki.server.url("/pki/ocsp/" + path))
        assert res.status < 500, (path, res.status, res.body[:200])
        if res.status == 200:
            assert ocsp.OCSPResponse.load(res.body)["response_status"].native == "malformed_request"
    assert pki.server.answers()


@pytest.mark.parametrize("service", ["ocsp", "tsa"])
def test_oversized_body(pki, service):
    """8 MiB POST: refused (413 or similar 4xx, or the connection closed), never a 5xx or a crash."""
    big = pki.work / "big.bin"
    if not big.exists():
        big.write_bytes(os.urandom(8 * 1024 * 1024))
    ctype = {"ocsp": "application/ocsp-request", "tsa": "application/timestamp-query"}[service]
    if shutil.which("curl"):
        # curl reads the early 413 even though the upload is cut short; urllib only sees EPIPE.
        r = run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", f"Content-Type: {ctype}",
                 "--data-binary", f"@{big}", pki.server.url(f"/pki/{service}")])
        status = int(r.stdout.strip() or 0) or f"connection closed (curl exit {r.rc})"
    else:
        try:
            status = http(pki.server.url(f"/pki/{service}"), big.read_bytes(), ctype).status
        except OSError as e:
            status = f"connection closed ({type(e).__name__})"
    assert status != 200 and not (isinstance(status, int) and status >= 500), status
    if status != 413:
        note(f"oversized {service} body: {status}")
    assert pki.server.running(), "the server died"
    r = ocsp_cli(pki, "-issuer", pki.ca_pem, "-cert", pki.person.with_suffix(".pem"))
    assert r.rc == 0 and ": good" in r.stdout, r.describe()


def test_wrong_method_and_paths(pki):
    for path in ["/pki/crl/none.crl", "/pki/cert/none.crt", "/pki/../ca/ca.key", "/pki/cert/../../ca.key",
                 "/ca.key", "/pki/cert/%2e%2e%2fca.key"]:
        res = http(pki.server.url(path))
        assert res.status in (400, 404), (path, res.status)
        assert b"PRIVATE KEY" not in res.body
    assert pki.server.answers()


# =========================================================================== d. TSA

@pytest.mark.parametrize("alg", ["sha256", "sha384", "sha512"])
def test_tsa_openssl_verify(pki, alg):
    q = ts_query(pki, f"ts-{alg}", alg, "-cert")
    res = tsa_post(pki, q.read_bytes())
    assert res.status == 200 and res.content_type.startswith("application/timestamp-reply"), res
    tsr = pki.work / f"ts-{alg}.tsr"
    tsr.write_bytes(res.body)
    r = openssl("ts", "-verify", "-queryfile", q, "-in", tsr, "-CAfile", pki.root_pem, "-untrusted", pki.ca_pem)
    assert r.rc == 0 and "Verification: OK" in r.stdout, r.describe()
    status, tst = parse_tsr(res.body)
    assert status["status"] == "granted", status
    assert tst["message_imprint"]["hash_algorithm"]["algorithm"].native == alg


def test_tsa_without_cert_req(pki):
    """certReq absent: no certificate in the token; verifies with the TSA cert from /pki/cert/tsa.crt."""
    q = ts_query(pki, "ts-nocert")
    res = tsa_post(pki, q.read_bytes())
    assert res.status == 200
    tsr = pki.work / "ts-nocert.tsr"
    tsr.write_bytes(res.body)
    crt = http(pki.server.url("/pki/cert/tsa.crt"))
    assert crt.status == 200
    tsa_pem = pki.work / "tsa-from-server.pem"
    r = openssl("x509", "-inform", "DER", "-out", tsa_pem, input=crt.body)
    assert r.rc == 0, r.describe()
    untrusted = pki.work / "tsa-untrusted.pem"
    untrusted.write_bytes(tsa_pem.read_bytes() + pki.ca_pem.read_bytes())
    r = openssl("ts", "-verify", "-queryfile", q, "-in", tsr, "-CAfile", pki.root_pem, "-untrusted", untrusted)
    assert r.rc == 0 and "Verification: OK" in r.stdout, r.describe()


def test_tsa_nonce_and_time(pki):
    q = ts_query(pki, "ts-nonce")
    req = tsp.TimeStampReq.load(q.read_bytes())
    sent = req["nonce"].native
    assert sent is not None
    res = tsa_post(pki, q.read_bytes())
    status, tst = parse_tsr(res.body)
    assert status["status"] == "granted", status
    assert tst["nonce"].native == sent, (tst["nonce"].native, sent)
    assert tst["message_imprint"]["hashed_message"].native == req["message_imprint"]["hashed_message"].native
    gt = tst["gen_time"].native
    assert abs(now() - gt) < dt.timedelta(seconds=30), gt
    assert tst["policy"].native, "no policy"


def test_tsa_garbage(pki):
    res = tsa_post(pki, b"this is not a TimeStampReq")
    assert res.status == 200, (res.status, res.body[:200])
    status, tst = parse_tsr(res.body)
    assert status["status"] == "rejection", status
    assert "bad_data_format" in (status["fail_info"] or set()), status
    assert tst is None


def test_tsa_sha1_rejected(pki):
    q = ts_query(pki, "ts-sha1", "sha1")
    res = tsa_post(pki, q.read_bytes())
    assert res.status == 200, res.status
    status, tst = parse_tsr(res.body)
    assert status["status"] == "rejection", status
    fi = status["fail_info"] or set()
    assert fi & {"bad_alg", "bad_data_format"}, status
    if "bad_alg" not in fi:
        note(f"TSA sha1 imprint: failInfo {sorted(fi)}, text {status['status_string']} (badAlg would be clearer)")


def test_tsa_imprint_length_mismatch(pki):
    req = tsp.TimeStampReq({"version": "v1",
                            "message_imprint": {"hash_algorithm": {"algorithm": "sha256"},
                                                "hashed_message": b"\x01" * 20},
                            "nonce": 12345, "cert_req": True})
    res = tsa_post(pki, req.dump())
    status, _ = parse_tsr(res.body)
    assert status["status"] == "rejection" and "bad_data_format" in (status["fail_info"] or set()), status


def test_tsa_concurrent_unique_serials(pki):
    def one(i):
        req = tsp.TimeStampReq({"version": "v1",
                                "message_imprint": {"hash_algorithm": {"algorithm": "sha256"},
                                                    "hashed_message": secrets.token_bytes(32)},
                                "nonce": i + 1, "cert_req": False})
        res = tsa_post(pki, req.dump())
        status, tst = parse_tsr(res.body)
        assert status["status"] == "granted", status
        assert tst["nonce"].native == i + 1
        return tst["serial_number"].native

    with ThreadPoolExecutor(max_workers=8) as ex:
        serials = list(ex.map(one, range(48)))
    assert len(set(serials)) == len(serials), "duplicate TSA serial numbers"


# =========================================================================== e. CRLs and certificates

@pytest.mark.parametrize("which", ["ca", "root"])
def test_crl_fetch_and_verify(pki, which):
    res = http(pki.server.url(f"/pki/crl/{which}.crl"))
    assert res.status == 200, res.status
    assert res.content_type.startswith("application/pkix-crl"), res.content_type
    f = pki.work / f"fetched-{which}.crl"
    f.write_bytes(res.body)
    cafile = pki.root_pem
    if which == "ca":
        cafile = pki.work / "chain.pem"
        cafile.write_bytes(pki.ca_pem.read_bytes() + pki.root_pem.read_bytes())
    r = openssl("crl", "-inform", "DER", "-in", f, "-CAfile", cafile, "-noout")
    assert r.rc == 0 and "verify OK" in (r.stdout + r.stderr), r.describe()
    fields = crl_fields(res.body)
    assert abs(now() - fields["this_update"]) < RECENT, fields["this_update"]
    assert fields["next_update"] and fields["next_update"] > fields["this_update"]
    assert fields["number"] is not None, "no CRL number"


def test_crl_lists_revoked(pki):
    prefix, serial = pki.issue("org", "吊销测试单位", pki.root_dir / "revoke-crl", "--credit-code", CREDIT_CODE)
    before = crl_fields(http(pki.server.url("/pki/crl/ca.crl")).body)
    assert norm_serial(serial) not in before["revoked"]
    pki.revoke(serial, "superseded")
    after = crl_fields(http(pki.server.url("/pki/crl/ca.crl")).body)
    assert norm_serial(serial) in after["revoked"], (serial, after["revoked"])
    assert after["revoked"][norm_serial(serial)] == "superseded", after["revoked"]
    r = openssl("crl", "-inform", "DER", "-noout", "-text", input=http(pki.server.url("/pki/crl/ca.crl")).body)
    assert serial.upper().lstrip("0") in r.stdout.upper(), r.stdout


def test_crl_number_increases_after_revoke(pki):
    """Fetch, revoke, fetch within the same second: the second CRL has more entries, so its CRL
    number must be higher (RFC 5280 5.2.3: monotonically increasing)."""
    _, serial = pki.issue("person", "吊销测试乙", pki.root_dir / "revoke-number")
    # start just after a second boundary, so that all three steps likely share one second
    time.sleep(1 - (time.time() % 1) + 0.01)
    a = crl_fields(http(pki.server.url("/pki/crl/ca.crl")).body)
    pki.revoke(serial, "cessationOfOperation")
    b = crl_fields(http(pki.server.url("/pki/crl/ca.crl")).body)
    assert norm_serial(serial) in b["revoked"]
    assert b["number"] > a["number"], (
        f"CRL number did not increase although the content changed: {a['number']} -> {b['number']} "
        f"(thisUpdate {a['this_update']} -> {b['this_update']})")


def test_cert_endpoints(pki):
    for name, pem in [("root", pki.root_pem), ("ca", pki.ca_pem), ("tsa", pki.ca / "services" / "tsa.pem")]:
        res = http(pki.server.url(f"/pki/cert/{name}.crt"))
        assert res.status == 200, (name, res.status)
        assert res.content_type.startswith("application/pkix-cert"), res.content_type
        assert res.body == der_of(pem), f"/pki/cert/{name}.crt differs from {pem}"


# =========================================================================== f. PAdES levels

LEVELS = ["b-b", "b-t", "b-lt", "b-lta"]


@pytest.fixture(scope="session")
def signed(pki, small_pdf) -> dict:
    """Every level signed by the person cert while the services run, plus ltv-refresh of b-t."""
    pki.server.start()
    out: dict = {}
    for lvl in LEVELS:
        dst = pki.root_dir / f"signed-{lvl}.pdf"
        args = ["sign", small_pdf, "-o", dst, "--key", pki.person.with_suffix(".key"),
                "--cert", pki.person.with_suffix(".pem"), "--level", lvl]
        if lvl != "b-b":
            args += ["--tsa", pki.server.url("/pki/tsa")]
        out[lvl] = (pki.qz_run(*args), dst)
    src = out["b-t"][1]
    dst = pki.root_dir / "refreshed-b-t.pdf"
    if src.exists():
        out["ltv-refresh"] = (pki.qz_run("ltv-refresh", src, "-o", dst, "--tsa", pki.server.url("/pki/tsa")), dst)
    return out


@pytest.fixture(scope="session")
def nssdb(pki) -> Path | None:
    if not shutil.which("certutil"):
        return None
    d = pki.root_dir / "nssdb"
    d.mkdir(exist_ok=True)
    for cmd in (["certutil", "-N", "-d", f"sql:{d}", "--empty-password"],
                ["certutil", "-A", "-d", f"sql:{d}", "-n", "qz-root", "-t", "CT,C,C", "-i", pki.root_pem]):
        r = run(cmd)
        assert r.rc == 0, r.describe()
    ca_only = pki.work / "ca-only.pem"
    ca_only.write_bytes(der_to_pem(der_of(pki.ca_pem)))
    r = run(["certutil", "-A", "-d", f"sql:{d}", "-n", "qz-ca", "-t", ",,", "-i", ca_only])
    assert r.rc == 0, r.describe()
    return d


def der_to_pem(der: bytes) -> bytes:
    b64 = base64.encodebytes(der).decode().replace("\n", "")
    lines = [b64[i:i + 64] for i in range(0, len(b64), 64)]
    return ("-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n").encode()


def pdfsig_blocks(out: str) -> dict[str, str]:
    blocks: dict[str, str] = {}
    cur = None
    for l in out.splitlines():
        m = re.match(r"Signature #(\d+):", l)
        if m:
            cur = m.group(1)
            blocks[cur] = ""
        elif cur:
            blocks[cur] += l + "\n"
    return blocks


def qz_verify(pki: Pki, pdf: Path) -> dict:
    r = pki.qz_run("verify", "--json", "--trust", pki.root_pem, pdf)
    try:
        rep = json.loads(r.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"qz verify did not print JSON:\n{r.describe()}")
    rep["_exit"] = r.rc
    (pdf.with_suffix(".verify.json")).write_text(json.dumps(rep, ensure_ascii=False, indent=2))
    return rep


def dss_counts(pdf: Path) -> dict:
    from pyhanko.pdf_utils.reader import PdfFileReader
    with open(pdf, "rb") as fh:
        r = PdfFileReader(fh)
        dss = r.root.get("/DSS")
        if dss is None:
            return {}
        dss = dss.get_object()
        return {k: len(dss[k].get_object()) for k in ("/Certs", "/CRLs", "/OCSPs", "/VRI") if k in dss}


@pytest.mark.parametrize("lvl", LEVELS)
def test_pades_level(pki, signed, small_pdf, nssdb, lvl):
    r, pdf = signed[lvl]
    assert r.rc == 0, r.describe()
    data = pdf.read_bytes()
    assert data.startswith(small_pdf.read_bytes()), "input is not a prefix of the output"

    rep = qz_verify(pki, pdf)
    want = "VALID" if lvl in ("b-b", "b-t") else "ALLOWED_CHANGE"
    assert rep["verdict"] == want, json.dumps(rep, ensure_ascii=False, indent=1)
    assert rep["_exit"] == 0
    approvals = [s for s in rep["signatures"] if s["kind"] == "approval"]
    assert len(approvals) == 1
    sig = approvals[0]
    assert sig["intact"] and sig["valid"] and sig["trusted"], sig
    assert sig["signer"]["serial"].lower().lstrip("0") == pki.serials["person"].lstrip("0")
    if lvl == "b-b":
        assert not sig.get("timestamp"), sig.get("timestamp")
    else:
        assert sig.get("timestamp") and sig["timestamp"]["valid"] is True, sig.get("timestamp")
    if lvl in ("b-lt", "b-lta"):
        assert sig["revocation"]["status"] == "good" and sig["revocation"]["source"] == "dss", sig["revocation"]
        counts = dss_counts(pdf)
        assert counts.get("/Certs") and counts.get("/CRLs") and counts.get("/OCSPs"), \
            f"DSS should hold certificates, CRLs and OCSP responses: {counts}"
    if lvl == "b-lta":
        ts = [s for s in rep["signatures"] if s["kind"] == "document_timestamp"]
        assert len(ts) == 1 and ts[0]["valid"] and ts[0]["trusted"], ts
        assert ts[0]["coverage"] == "entire_file"

    if need_pdfsig_ok():
        args = ["pdfsig"] + (["-nssdir", f"sql:{nssdb}"] if nssdb else []) + [pdf]
        p = run(args)
        blocks = pdfsig_blocks(p.stdout)
        first = blocks.get("1", "")
        assert "Signature Validation: Signature is Valid." in first, p.describe()
        if nssdb:
            assert "Certificate is Trusted." in first, p.describe()


def need_pdfsig_ok() -> bool:
    if not shutil.which("pdfsig"):
        note("pdfsig not installed: PAdES tests ran without the pdfsig check")
        return False
    return True


def test_ltv_refresh_online(pki, signed):
    assert "ltv-refresh" in signed, "b-t signing failed, nothing to refresh"
    r, pdf = signed["ltv-refresh"]
    assert r.rc == 0, r.describe()
    assert pdf.read_bytes().startswith(signed["b-t"][1].read_bytes())
    rep = qz_verify(pki, pdf)
    assert rep["verdict"] == "ALLOWED_CHANGE", json.dumps(rep, ensure_ascii=False, indent=1)
    kinds = [s["kind"] for s in rep["signatures"]]
    assert kinds.count("document_timestamp") == 1, kinds


def adesverify(pki: Pki, pdf: Path) -> tuple[int, str, str]:
    """pyHanko CLI `pyhanko sign adesverify --trust ROOT --trust-replace FILE`; its default
    output is one line per signature: FIELD:CERT-SHA256:STATUS-SUMMARY."""
    r = run([pyhanko_cli(), "sign", "adesverify", "--trust", pki.root_pem, "--trust-replace", pdf],
            cwd=pki.work, timeout=120)
    (pdf.with_suffix(".adesverify.txt")).write_text(r.stdout + "\n--- stderr ---\n" + r.stderr)
    line = next((l for l in r.stdout.splitlines() if l.startswith("Signature1:")), "")
    return r.rc, line, r.describe()


@pytest.mark.parametrize("which", ["b-lt", "b-lta", "ltv-refresh"])
def test_adesverify_offline(pki, signed, offline, which):
    pytest.importorskip("pyhanko")
    assert which in signed, "signing failed"
    r, pdf = signed[which]
    assert r.rc == 0, r.describe()
    rc, line, desc = adesverify(pki, pdf)
    assert rc == 0, desc
    summary = line.split(":", 2)[2] if line.count(":") >= 2 else ""
    assert summary.startswith("INTACT:TRUSTED"), desc
    assert "TIMESTAMP_TOKEN<INTACT:TRUSTED>" in summary, desc
    note(f"adesverify offline {which}: {summary}")


# =========================================================================== g. revoked signer

def test_revoked_signer(pki, small_pdf):
    pki.server.start()
    prefix, serial = pki.issue("person", "吊销签署人", pki.root_dir / "revoked-signer")
    key, cert = prefix.with_suffix(".key"), prefix.with_suffix(".pem")
    tsa = pki.server.url("/pki/tsa")
    before = pki.root_dir / "revoked-signer-before.pdf"
    r = pki.qz_run("sign", small_pdf, "-o", before, "--key", key, "--cert", cert, "--level", "b-lt", "--tsa", tsa)
    assert r.rc == 0, r.describe()

    pki.revoke(serial, "keyCompromise")
    fresh = crl_fields(http(pki.server.url("/pki/crl/ca.crl")).body)
    assert norm_serial(serial) in fresh["revoked"]

    # Signed (and its DSS gathered) before the revocation: the embedded data still says good.
    rep = qz_verify(pki, before)
    assert rep["verdict"] == "ALLOWED_CHANGE", json.dumps(rep, ensure_ascii=False, indent=1)

    after = pki.root_dir / "revoked-signer-after.pdf"
    r = pki.qz_run("sign", small_pdf, "-o", after, "--key", key, "--cert", cert, "--level", "b-lt", "--tsa", tsa)
    if r.rc != 0:
        line = one_line_error(r.stderr)
        assert "revoked" in line.lower(), line
        assert not after.exists(), "output written despite the refusal"
        note(f"revoked signer, b-lt: qz sign refuses: {line}")
        return
    rep = qz_verify(pki, after)
    sig = next(s for s in rep["signatures"] if s["kind"] == "approval")
    assert sig["revocation"]["status"] == "revoked", sig["revocation"]
    assert rep["verdict"] == "BROKEN", rep["verdict"]
    note("revoked signer, b-lt: qz sign signs; qz verify says revoked/BROKEN")


# =========================================================================== last: shutdown

def test_sigterm_shutdown_and_clean_log(pki):
    """Runs last (file order): SIGTERM stops the server promptly; no panic in its log."""
    pki.server.start()
    rc = pki.server.stop()
    assert pki.server.last_stop_seconds is not None and pki.server.last_stop_seconds < 5, \
        pki.server.last_stop_seconds
    assert rc in (0, -15, 143), f"exit code {rc} after SIGTERM"
    if rc != 0:
        note(f"qz pki serve exit code after SIGTERM: {rc}")
    log = pki.server.log_text()
    assert "panicked" not in log and "RUST_BACKTRACE" not in log, log[-3000:]


def test_verify_online_fetches_revocation(pki, small_pdf):
    """`qz verify --online` asks the certificate's OCSP/CRL URLs: good, then revoked."""
    pki.server.start()  # an earlier test may have stopped it (SIGTERM check)
    prefix, serial = pki.issue("person", "在线验证甲", pki.root_dir / "online")
    signed = pki.root_dir / "online-signed.pdf"
    r = pki.qz_run("sign", small_pdf, "-o", signed, "--key", prefix.with_suffix(".key"),
                   "--cert", prefix.with_suffix(".pem"))
    assert r.rc == 0, r.describe()

    def report():
        r = pki.qz_run("verify", "--online", "--json", "--trust", pki.root_pem, signed)
        return json.loads(r.stdout)

    first = report()
    assert first["signatures"][0]["revocation"] == {"status": "good", "source": "online"}, first
    assert first["verdict"] == "VALID", first
    pki.revoke(serial, "keyCompromise")
    second = report()
    assert second["signatures"][0]["revocation"] == {"status": "revoked", "source": "online"}, second
    assert second["verdict"] == "BROKEN", second
