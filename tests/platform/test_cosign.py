"""The national profile in the platform: a server whose CA is SM2 (`QZ_CA_PROFILE=sm2`) keeps
persons' keys split with their phones (协同签名). `qz cosign` stands in for the phone:

- a verified person gets a one-time invitation code (下载证书邀请码), the phone enrols with it
  and receives an SM2 certificate naming the verified person (not what the phone asked for);
- the code works once; downloading again with a new password supersedes the old certificate,
  whose key is then refused with 410 `redownload`, and OCSP reports it revoked;
- without auto-sign a co-sign certificate cannot stamp from the PC (409 `cosign_required`);
- auto-sign is turned on from the phone with the certificate password (the share is handed
  over for the window), after which the platform stamps the person's name seal with the split
  key, `qz verify --json` finds the SM2 signature intact and the ledger names the grant; after
  revocation the platform can no longer sign.
"""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import requests

from conftest import Platform, User, expect, free_port, fresh_dir, run
from test_seals import make_pdf, openssl, out_text, upload_pdf, wait_ocsp, write_cert

PASSWORD_1 = "abc12345"
PASSWORD_2 = "xyz98765"


@pytest.fixture(scope="module")
def platform(backend, module_servers) -> Platform:
    port = free_port()
    data = fresh_dir(module_servers.root, f"test_cosign-{backend}")
    server = module_servers.start(backend=backend, label="test_cosign", data=data,
                                  args=["--data", str(data), "--listen", f"127.0.0.1:{port}"],
                                  env={"QZ_CA_PROFILE": "sm2"})
    # No QZ_BASE_URL: the default comes from the bound address.
    assert server.base == f"http://127.0.0.1:{port}", server.base
    return Platform(server)


@pytest.fixture(scope="module")
def pki(platform: Platform, tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("pki-sm2")
    for name in ("root", "ca"):
        r = requests.get(platform.server.url(f"/pki/cert/{name}.crt"), timeout=30)
        assert r.status_code == 200
        (d / f"{name}.der").write_bytes(r.content)
        out = openssl("x509", "-inform", "DER", "-in", d / f"{name}.der", "-out", d / f"{name}.pem")
        assert out.returncode == 0, out_text(out)
    return d


def enrol(qz: Path, platform: Platform, code: str, prefix: Path, password: str,
          check: bool = True) -> subprocess.CompletedProcess:
    r = run([qz, "cosign", "enroll", "--server", platform.server.base, "--code", code,
             "--password-env", "QZ_CERT_PASSWORD", "--out", prefix],
            env={**os.environ, "QZ_CERT_PASSWORD": password})
    if check:
        assert r.returncode == 0, r.stderr
    return r


def invite(user: User) -> str:
    out = user.api.ok("POST", "/me/cosign/invitations", status=201)
    assert len(out["code"]) == 12 and out["code"] in out["url"], out
    assert "<svg" in out["qr_svg"], out
    return out["code"]


def certs_of(user: User) -> dict:
    return user.api.ok("GET", "/me/certificates")


def test_cosign_enrolment_redownload_and_autosign(qz: Path, platform: Platform, pki: Path,
                                                   tmp_path: Path):
    person = platform.verified_user("孙协同")
    listed = certs_of(person)
    # Nothing is issued by itself under co-sign custody: the phone must download it.
    assert listed["custody"] == "cosign" and listed["items"] == [], listed
    assert any(s["kind"] == "name" and s["is_default"] for s in person.api.ok("GET", "/me/seals"))

    # An unverified person gets no invitation.
    stranger = platform.register(name="未认证")
    expect(stranger.api.post("/me/cosign/invitations"), 403)

    code = invite(person)
    phone = tmp_path / "phone"
    enrol(qz, platform, code, phone, PASSWORD_1)
    first = json.loads((tmp_path / "phone.json").read_text())
    pem = (tmp_path / "phone.pem").read_text()
    cert = write_cert(tmp_path, "first", pem)
    text = out_text(openssl("x509", "-in", cert, "-noout", "-text"))
    # The subject is the verified person, whatever the phone's request said.
    assert "孙协同" in out_text(openssl("x509", "-in", cert, "-noout", "-subject",
                                     "-nameopt", "utf8")), text
    assert "SM2" in text or "sm2" in text, text
    # OpenSSL 3.0 applies the SM2 ID only to the certificate being verified, so the issuing
    # CA is checked as a partial chain (tests/pki/test_sm2_oracle.py checks the root link).
    verified = openssl("verify", "-partial_chain", "-vfyopt", "distid:1234567812345678",
                       "-CAfile", pki / "ca.pem", cert)
    assert verified.returncode == 0, out_text(verified)
    listed = certs_of(person)
    assert [c["custody"] for c in listed["items"]] == ["cosign"], listed
    assert listed["items"][0]["status"] == "active"
    status = requests.get(platform.server.url(f"/api/v1/cosign/keys/{first['key_id']}"), timeout=30)
    assert status.json() == {"status": "active", "redownload": False}

    # The code was spent.
    again = enrol(qz, platform, code, tmp_path / "replay", PASSWORD_1, check=False)
    assert again.returncode != 0 and "404" in again.stderr, again.stderr

    # Without auto-sign, the PC cannot stamp with a split key.
    pdf = upload_pdf(platform, person)
    name_seal = next(s for s in person.api.ok("GET", "/me/seals") if s["is_default"])
    sign_code = platform.send_code("sign", person.phone, api=person.api)
    r = person.api.post("/stamp", {"document": pdf["id"], "seal_id": name_seal["id"], "page": 1,
                                   "x": 100, "y": 100, "code": sign_code})
    expect(r, 409, "cosign_required")

    # Download again with a new password: the first certificate is superseded.
    enrol(qz, platform, invite(person), tmp_path / "phone2", PASSWORD_2)
    second = json.loads((tmp_path / "phone2.json").read_text())
    items = certs_of(person)["items"]
    second_serial = next(c for c in items if c["status"] == "active")["serial"]
    assert sorted(c["status"] for c in items) == ["active", "revoked"], items
    assert next(c for c in items if c["status"] == "revoked")["revoke_reason"] == 4
    gone = requests.get(platform.server.url(f"/api/v1/cosign/keys/{first['key_id']}"), timeout=30)
    assert gone.json() == {"status": "retired", "redownload": True}
    # The old phone is told to download again when it tries to sign.
    r = requests.post(platform.server.url("/api/v1/cosign/sign"),
                      json={"key_id": first["key_id"], "q1": "04" + "11" * 64, "e": "22" * 32},
                      timeout=30)
    assert r.status_code == 410 and r.json()["code"] == "redownload", r.text
    status, ocsp_text = wait_ocsp(platform, pki, cert, "revoked")
    assert status == "revoked", ocsp_text

    # Auto-sign from the phone: the wrong password does not open the share.
    env = {**os.environ, "QZ_SESSION": person.api.s.cookies.get("qz_session"),
           "QZ_CSRF": person.api.csrf}
    base = [qz, "cosign", "autosign", "--key", tmp_path / "phone2", "--password-env",
            "QZ_CERT_PASSWORD", "--session-env", "QZ_SESSION", "--csrf-env", "QZ_CSRF"]
    wrong = run(base, env={**env, "QZ_CERT_PASSWORD": PASSWORD_1})
    assert wrong.returncode != 0 and "password" in wrong.stderr, wrong.stderr
    # The superseded key cannot be used for it either.
    stale = run([qz, "cosign", "autosign", "--key", tmp_path / "phone", "--password-env",
                 "QZ_CERT_PASSWORD", "--session-env", "QZ_SESSION", "--csrf-env", "QZ_CSRF"],
                env={**env, "QZ_CERT_PASSWORD": PASSWORD_1})
    assert stale.returncode != 0 and "410" in stale.stderr, stale.stderr
    on = run(base + ["--hours", "2"], env={**env, "QZ_CERT_PASSWORD": PASSWORD_2})
    assert on.returncode == 0, on.stderr
    grant = json.loads(on.stdout)
    assert grant["evidence"] == "cosign_password"
    assert grant["not_after"] - grant["not_before"] == 7200

    # Another person's share is refused (a share that does not complete the key).
    r = person.api.post("/me/autosign", {"key_id": second["key_id"], "client_share": "01" * 32})
    expect(r, 400)

    stamped = person.api.ok("POST", "/stamp", {"document": pdf["id"], "seal_id": name_seal["id"],
                                               "page": 1, "x": 100, "y": 100, "autosign": True},
                            status=201)
    assert stamped["autosign_id"] == grant["id"]
    signed = person.api.get(f"/blobs/{stamped['blob_id']}")
    assert signed.status_code == 200
    path = tmp_path / "signed.pdf"
    path.write_bytes(signed.content)
    verified = run([qz, "verify", "--json", "--trust", pki / "root.pem", path])
    report = json.loads(verified.stdout)
    assert report["verdict"] == "VALID", report
    signature = report["signatures"][-1]
    assert signature["intact"] and signature["valid"] and signature["trusted"], signature
    assert signature["signature_algorithm"] == "sm2-with-sm3", signature
    assert signature["signer"]["common_name"] == "孙协同", signature
    assert signature["signer"]["serial"].lstrip("0") == second_serial.lstrip("0"), signature
    assert [m["page"] for m in signature["marks"]] == [1], signature
    uses = person.api.ok("GET", "/me/autosign/uses")["items"]
    assert [u["grant_id"] for u in uses] == [grant["id"]]

    person.api.ok("POST", f"/me/autosign/{grant['id']}/revoke")
    r = person.api.post("/stamp", {"document": pdf["id"], "seal_id": name_seal["id"], "page": 1,
                                   "x": 100, "y": 100, "autosign": True})
    expect(r, 403)
    assert "autosign.enabled" in [e["action"] for e in
                                  person.api.ok("GET", "/me/trail")["items"]]


def test_hosted_only_routes_refuse_cosign(platform: Platform):
    person = platform.verified_user("周协同")
    code = platform.send_code("sign", person.phone, api=person.api)
    r = person.api.post("/me/certificates/reissue", {"code": code})
    expect(r, 409, "state")
    # Auto-sign under co-sign custody needs the phone's share, not an SMS code.
    r = person.api.post("/me/autosign", {"code": "123456"})
    expect(r, 400)


# The SM2 generator: a valid curve point, enough to start an enrolment without a phone.
SM2_G = ("04" "32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7"
         "BC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0")


def test_enrolling_key_signs_only_its_request(platform: Platform):
    """A stolen invitation code must not give a signing oracle: until certified, the server
    co-signs only the key's own certificate request."""
    person = platform.verified_user("郑邀请")
    code = invite(person)
    enrol_url = platform.server.url("/api/v1/cosign/enrol")
    r = requests.post(enrol_url, json={"code": code, "client_partial": SM2_G}, timeout=30)
    assert r.status_code == 201, r.text
    key_id = r.json()["key_id"]
    # The code is spent, also for a racing second phone.
    again = requests.post(enrol_url, json={"code": code, "client_partial": SM2_G}, timeout=30)
    assert again.status_code == 404, again.text
    sign_url = platform.server.url("/api/v1/cosign/sign")
    arbitrary = {"key_id": key_id, "q1": SM2_G, "e": "22" * 32}
    r = requests.post(sign_url, json=arbitrary, timeout=30)
    assert r.status_code == 400, r.text
    r = requests.post(sign_url, json={**arbitrary, "csr_info": "3000"}, timeout=30)
    assert r.status_code == 400, r.text
    status = requests.get(platform.server.url(f"/api/v1/cosign/keys/{key_id}"), timeout=30)
    assert status.json()["status"] == "enrolling"


def test_flow_confirmed_on_the_phone(qz: Path, platform: Platform, pki: Path, tmp_path: Path):
    """Without auto-sign, signing a flow with a co-sign certificate waits for the phone: the
    request answers 202 with a pending signature, the phone (`qz cosign confirm`, the password
    as intent) runs the protocol per document and hands the values back; the flow completes
    and the SM2 signature verifies. The completion report names the method."""
    person = platform.verified_user("许手机")
    enrol(qz, platform, invite(person), tmp_path / "phone", PASSWORD_1)
    blob = upload_pdf(platform, person)
    seal = next(s for s in person.api.ok("GET", "/me/seals") if s["is_default"])
    flow = person.api.ok("POST", "/flows", {
        "title": "协同签署流程", "documents": [{"blob_id": blob["id"], "name": "合同.pdf"}],
        "signers": [{"user_id": person.id,
                     "positions": [{"document": 0, "page": 1, "x": 100, "y": 100, "width": 90}]}],
    }, status=201)
    fid = flow["id"]
    r = person.api.post(f"/flows/{fid}/sign", {"seal_id": seal["id"]})
    assert r.status_code == 202, r.text
    pending = r.json()
    assert pending["method"] == "cosign" and pending["status"] == "pending", pending
    listed = person.api.ok("GET", "/me/pending-signatures")
    assert [p["id"] for p in listed] == [pending["id"]], listed

    env = {**os.environ, "QZ_SESSION": person.api.s.cookies.get("qz_session"),
           "QZ_CSRF": person.api.csrf}
    base = [qz, "cosign", "confirm", "--key", tmp_path / "phone", "--password-env",
            "QZ_CERT_PASSWORD", "--session-env", "QZ_SESSION", "--csrf-env", "QZ_CSRF"]
    wrong = run(base, env={**env, "QZ_CERT_PASSWORD": PASSWORD_2})
    assert wrong.returncode != 0 and "password" in wrong.stderr, wrong.stderr
    assert person.api.ok("GET", f"/flows/{fid}")["status"] == "in_progress"
    ok = run(base, env={**env, "QZ_CERT_PASSWORD": PASSWORD_1})
    assert ok.returncode == 0, ok.stderr
    done = person.api.ok("GET", f"/flows/{fid}")
    assert done["status"] == "completed", done
    assert person.api.ok("GET", "/me/pending-signatures") == []

    pdf = person.api.get(f"/flows/{fid}/documents/0").content
    path = tmp_path / "flow.pdf"
    path.write_bytes(pdf)
    report = json.loads(run([qz, "verify", "--json", "--trust", pki / "root.pem", path]).stdout)
    assert report["verdict"] == "VALID", report
    [signature] = report["signatures"]
    assert signature["signature_algorithm"] == "sm2-with-sm3", signature
    assert signature["signer"]["common_name"] == "许手机", signature
    assert signature["timestamp"] is not None, signature
    actions = [e["action"] for e in person.api.ok("GET", f"/flows/{fid}/trail")]
    assert "signature.pending" in actions and "signature.done" in actions, actions

    summary = person.api.get(f"/flows/{fid}/report")
    assert summary.status_code == 200, summary.text
    (tmp_path / "report.pdf").write_bytes(summary.content)
    text = subprocess.run(["pdftotext", tmp_path / "report.pdf", "-"], capture_output=True,
                          text=True).stdout
    assert "协同签名" in text.replace(" ", ""), text[:2000]
