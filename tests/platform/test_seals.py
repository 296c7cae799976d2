"""Seals, certificates, grants and auto-sign over HTTP, on SQLite and PostgreSQL: the default
name seal and hosted certificate a verified person gets, handwriting (upload, phone capture
link, admin upload, cleaning), seal life cycle, organization seals and who may manage them,
certificates (openssl parses and chains them; revocation shows in OCSP and the CRL; re-issue
with an SMS code; leaving an organization revokes), grants and grant requests (用印申请),
stamping PDFs (pyHanko / pdfsig / qpdf judge the result) with every refusal, usage statistics,
auto-sign, and the trail.

A phone gets one code a minute per purpose: every test that needs a `sign` code uses a user
that gets no other sign code in this module (the shared `world.member` gets exactly one)."""
from __future__ import annotations

import hashlib
import importlib.util
import io
import re
import secrets
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from conftest import (HERE, Platform, User, assert_problem, expect, free_port, fresh_dir,
                      png_bytes)

Image = pytest.importorskip("PIL.Image")
ImageDraw = pytest.importorskip("PIL.ImageDraw")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------------- helpers

def now() -> int:
    return int(time.time())


def sign_code(platform: Platform, user: User) -> str:
    """A `sign` code, sent to the user's own phone (one a minute per user)."""
    return platform.send_code("sign", user.phone, api=user.api)


def handwriting_picture(fmt: str = "PNG", size=(600, 300), ink=(25, 25, 30),
                        paper=(248, 246, 240)) -> bytes:
    """A signature-like scribble on off-white paper."""
    im = Image.new("RGB", size, paper)
    d = ImageDraw.Draw(im)
    w, h = size
    pts = [(int(w * x), int(h * y)) for x, y in
           [(0.18, 0.66), (0.30, 0.30), (0.43, 0.70), (0.56, 0.27), (0.70, 0.63), (0.82, 0.40)]]
    d.line(pts, fill=ink, width=9)
    d.ellipse([int(w * 0.38), int(h * 0.45), int(w * 0.50), int(h * 0.60)], outline=ink, width=6)
    buf = io.BytesIO()
    im.save(buf, fmt)
    return buf.getvalue()


def blank_picture(size=(400, 200)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (255, 255, 255)).save(buf, "PNG")
    return buf.getvalue()


def seal_picture() -> bytes:
    """A red ring on transparency, like a scanned seal."""
    im = Image.new("RGBA", (240, 240), (0, 0, 0, 0))
    d = ImageDraw.Draw(im)
    d.ellipse([10, 10, 230, 230], outline=(200, 20, 20, 255), width=12)
    d.regular_polygon((120, 120, 40), 5, fill=(200, 20, 20, 255))
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def decode_png(data: bytes):
    assert data[:8] == PNG_SIGNATURE, data[:16]
    im = Image.open(io.BytesIO(data))
    im.load()
    return im


def assert_clean_rgba(data: bytes):
    """A PNG with an alpha channel, some pixels fully transparent and some (nearly) opaque."""
    im = decode_png(data)
    assert im.mode == "RGBA", im.mode
    lo, hi = im.getchannel("A").getextrema()
    assert lo == 0, f"no transparent pixel (alpha {lo}..{hi})"
    assert hi >= 200, f"nothing opaque (alpha {lo}..{hi})"
    return im


def opaque_pixels(im, min_alpha: int = 200) -> list[tuple]:
    pixels = im.get_flattened_data() if hasattr(im, "get_flattened_data") else im.getdata()
    return [p for p in pixels if p[3] >= min_alpha]


def make_pdf(label: str = "contract") -> bytes:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4)
    c.setTitle(f"qz e2e {label}")
    c.drawString(72, 760, f"Qianzhang end-to-end test document: {label} {secrets.token_hex(6)}")
    c.drawString(72, 740, "Party A / Party B signatures below.")
    c.showPage()
    c.save()
    return buf.getvalue()


def upload_pdf(platform: Platform, user: User, label: str = "contract") -> dict:
    info = platform.upload(user.api, make_pdf(label))
    assert info["content_type"] == "application/pdf", info
    return info


def stamp_body(document: str, seal_id: str, **extra) -> dict:
    body = {"document": document, "seal_id": seal_id, "page": 1, "x": 100, "y": 100,
            "width": 100}
    body.update(extra)
    return body


def openssl(*args, input: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["openssl", *map(str, args)], capture_output=True, input=input,
                          timeout=60)


def out_text(r: subprocess.CompletedProcess) -> str:
    return (r.stdout + r.stderr).decode("utf-8", errors="replace")


def serial_int(text: str) -> int:
    return int(text.replace(":", ""), 16)


def write_cert(directory: Path, name: str, pem: str) -> Path:
    path = directory / f"{name}.pem"
    path.write_text(pem)
    r = openssl("x509", "-in", path, "-noout")
    assert r.returncode == 0, f"openssl cannot parse the certificate PEM:\n{out_text(r)}\n{pem}"
    return path


def cert_subject(path: Path) -> str:
    r = openssl("x509", "-in", path, "-noout", "-subject", "-nameopt", "RFC2253,-esc_msb")
    assert r.returncode == 0, out_text(r)
    return r.stdout.decode("utf-8")


def cert_serial(path: Path) -> int:
    r = openssl("x509", "-in", path, "-noout", "-serial")
    assert r.returncode == 0, out_text(r)
    return serial_int(r.stdout.decode().strip().split("=", 1)[1])


def ocsp_status(platform: Platform, pki: Path, cert: Path) -> tuple[str, str]:
    """(good|revoked|unknown, the whole answer) from the platform's OCSP responder."""
    r = openssl("ocsp", "-issuer", pki / "ca.pem", "-cert", cert,
                "-url", platform.server.url("/pki/ocsp"), "-resp_text", "-noverify")
    text = out_text(r)
    assert r.returncode == 0, f"openssl ocsp failed:\n{text}"
    m = re.search(rf"^{re.escape(str(cert))}: (\w+)", text, re.M)
    assert m, f"no status line for {cert} in:\n{text}"
    return m.group(1), text


def wait_ocsp(platform: Platform, pki: Path, cert: Path, want: str, timeout: float = 20):
    deadline = time.monotonic() + timeout
    while True:
        status, text = ocsp_status(platform, pki, cert)
        if status == want or time.monotonic() > deadline:
            return status, text
        time.sleep(1)


def crl_serials(platform: Platform, directory: Path) -> set[int]:
    r = requests.get(platform.server.url("/pki/crl/ca.crl"), timeout=30)
    assert r.status_code == 200, r.status_code
    path = directory / f"ca-{secrets.token_hex(4)}.crl"
    path.write_bytes(r.content)
    out = openssl("crl", "-inform", "DER", "-in", path, "-noout", "-text")
    assert out.returncode == 0, out_text(out)
    return {serial_int(s) for s in re.findall(r"Serial Number: ([0-9A-Fa-f:]+)", out.stdout.decode())}


def trail_actions(api, path: str = "/me/trail", **params) -> list[str]:
    return [e["action"] for e in api.ok("GET", path, params={"limit": 100, **params})["items"]]


def my_certs(user: User) -> dict:
    out = user.api.ok("GET", "/me/certificates")
    assert out["custody"] == "hosted", out
    return out


def active(certs: list[dict]) -> list[dict]:
    return [c for c in certs if c["status"] == "active"]


def _load_interop_check():
    """tests/interop/check.py (pyHanko, pdfsig, qpdf), loaded once under its own name."""
    name = "qz_interop_check"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, HERE.parent / "interop" / "check.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def judge_pdf(pdf: bytes, directory: Path, pki: Path, signer: str) -> None:
    """pyHanko (intact, valid, trusted to the platform root, whole file), pdfsig (valid,
    trusted, total document) and qpdf --check; the signer's common name is `signer`."""
    check = _load_interop_check()
    path = directory / f"signed-{secrets.token_hex(4)}.pdf"
    path.write_bytes(pdf)
    res = check.check_pdf(path, trust=[pki / "root.pem"], certs=[pki / "ca.pem"], expect_sigs=1)
    # The cryptographic integrity and the signer first, with their own messages.
    assert res.pyhanko, res.explain()
    info = res.pyhanko[0]
    assert info["error"] is None and info["intact"], f"signature not intact:\n{res.explain()}"
    assert signer in info["signer"], f"pyHanko signer {info['signer']!r}, expected {signer!r}"
    if res.pdfsig:
        assert res.pdfsig[0]["signer"] == signer, res.pdfsig_raw
        assert res.pdfsig[0]["validation"] == "Signature is Valid.", res.pdfsig_raw
    assert res.ok, res.explain() + "\n" + res.pdfsig_raw


# --------------------------------------------------------------------------- shared set-up

@dataclass
class World:
    org: dict
    owner: User         # the company's admin (verified)
    operator: User      # seal_operator (verified)
    member: User        # plain member (verified); gets exactly one sign code
    outsider: User      # verified, no membership
    official: dict      # the company's official seal, made by the owner
    org_cert: dict      # the company's active certificate


@pytest.fixture(scope="module")
def platform(backend, module_servers) -> Platform:
    """conftest's `platform`, but listening on a known port with QZ_BASE_URL set to it, as an
    operator would configure it: the CA writes its OCSP and CRL addresses (from the base URL)
    into every certificate, and pdfsig asks that OCSP responder — with the default base URL
    of `--listen 127.0.0.1:0` (`http://127.0.0.1:0`) nobody can reach it."""
    port = free_port()
    data = fresh_dir(module_servers.root, f"test_seals-{backend}")
    server = module_servers.start(backend=backend, label="test_seals", data=data,
                                  args=["--data", str(data), "--listen", f"127.0.0.1:{port}"],
                                  env={"QZ_BASE_URL": f"http://127.0.0.1:{port}"})
    assert server.base == f"http://127.0.0.1:{port}", server.base
    return Platform(server)


@pytest.fixture(scope="module")
def pki(platform: Platform, tmp_path_factory) -> Path:
    """root.pem and ca.pem of the platform CA."""
    d = tmp_path_factory.mktemp("pki")
    for name in ("root", "ca"):
        r = requests.get(platform.server.url(f"/pki/cert/{name}.crt"), timeout=30)
        assert r.status_code == 200, (name, r.status_code)
        (d / f"{name}.der").write_bytes(r.content)
        out = openssl("x509", "-inform", "DER", "-in", d / f"{name}.der", "-out", d / f"{name}.pem")
        assert out.returncode == 0, out_text(out)
    return d


@pytest.fixture(scope="module")
def world(platform: Platform) -> World:
    org, owner = platform.company(name=f"千章印章测试有限公司{secrets.token_hex(3)}")
    oid = org["id"]
    operator = platform.add_member(oid, owner.api, role="seal_operator",
                                   user=platform.verified_user("王操作"))
    member = platform.add_member(oid, owner.api, user=platform.verified_user("赵成员"))
    outsider = platform.verified_user("钱外人")
    official = owner.api.ok("POST", f"/orgs/{oid}/seals", {"kind": "official"}, status=201)
    certs = member.api.ok("GET", f"/orgs/{oid}/certificates")
    live = active(certs)
    assert len(live) == 1, certs
    return World(org=org, owner=owner, operator=operator, member=member, outsider=outsider,
                 official=official, org_cert=live[0])


def new_member(platform: Platform, world: World, name: str) -> User:
    return platform.add_member(world.org["id"], world.owner.api, user=platform.verified_user(name))


def grant(world: World, seal_id: str, grantee: User, seconds: int = 3600, by: User | None = None,
          **extra) -> dict:
    body = {"seal_id": seal_id, "grantee": grantee.id, "not_after": now() + seconds, **extra}
    return (by or world.owner).api.ok("POST", f"/orgs/{world.org['id']}/grants", body, status=201)


def org_seal(world: World, kind: str, by: User | None = None, **extra) -> dict:
    return (by or world.owner).api.ok("POST", f"/orgs/{world.org['id']}/seals",
                                      {"kind": kind, **extra}, status=201)


# --------------------------------------------------------------------------- persons

def test_verified_person_gets_name_seal_and_certificate(platform: Platform, pki: Path, tmp_path: Path):
    # Not verified: nothing.
    plain = platform.register(name="未实名")
    assert plain.api.ok("GET", "/me/seals") == []
    assert my_certs(plain)["items"] == []
    expect(plain.api.post("/me/cosign/invitations"), 403)

    user = platform.verified_user("孙印章")
    seals = user.api.ok("GET", "/me/seals")
    assert len(seals) == 1, seals
    seal = seals[0]
    assert seal["kind"] == "name" and seal["is_default"] is True and seal["status"] == "enabled", seal
    assert seal["owner_user"] == user.id and seal["owner_org"] is None, seal
    assert "孙印章" in seal["name"], seal
    for key in ("id", "blob_id", "created_at", "updated_at"):
        assert seal[key], (key, seal)
    # Listing again does not make a second one.
    assert [s["id"] for s in user.api.ok("GET", "/me/seals")] == [seal["id"]]
    assert user.api.ok("GET", f"/seals/{seal['id']}") == seal
    r = user.api.get(f"/seals/{seal['id']}/image")
    expect(r, 200)
    assert r.headers["content-type"] == "image/png"
    im = assert_clean_rgba(r.content)
    red = [p for p in opaque_pixels(im) if p[0] > 150 and p[1] < 110 and p[2] < 110]
    assert red, "the name seal has no red ink"

    # One active hosted P-256 certificate for the real name, chaining to the platform root.
    certs = my_certs(user)
    assert len(certs["items"]) == 1, certs
    cert = certs["items"][0]
    assert cert["status"] == "active" and cert["custody"] == "hosted", cert
    assert cert["algorithm"] == "p256", cert
    assert cert["revoked_at"] is None and cert["revoke_reason"] is None, cert
    assert cert["not_after"] > now() + 300 * 86400, cert
    assert "孙印章" in cert["subject"], cert
    path = write_cert(tmp_path, "person", cert["pem"])
    assert cert_serial(path) == int(cert["serial"], 16)
    subject = cert_subject(path)
    assert "CN=孙印章" in subject, subject
    assert user.id_number not in subject and user.id_number not in cert["subject"], \
        "the ID number is in the certificate subject"
    r = openssl("verify", "-CAfile", pki / "root.pem", "-untrusted", pki / "ca.pem", path)
    assert r.returncode == 0 and b": OK" in r.stdout, out_text(r)
    # Its OCSP address is this platform's responder (QZ_BASE_URL), which says good.
    r = openssl("x509", "-in", path, "-noout", "-ocsp_uri")
    assert r.stdout.decode().strip() == platform.server.url("/pki/ocsp"), out_text(r)
    status, text = ocsp_status(platform, pki, path)
    assert status == "good", text
    # The trail of the person.
    assert "certificate.issued" in trail_actions(user.api)
    # Hosted custody: there is nothing to download on a phone.
    expect(user.api.post("/me/cosign/invitations"), 409, "state")
    # Others see neither the seal nor the certificate.
    other = platform.register()
    expect(other.api.get(f"/seals/{seal['id']}"), 404)
    expect(other.api.get(f"/seals/{seal['id']}/image"), 404)
    expect(other.api.post(f"/certificates/{cert['id']}/revoke", {"reason": "keyCompromise"}), 404)


def test_handwriting_upload_cleans_and_replaces(platform: Platform):
    user = platform.verified_user("周手写")
    picture = handwriting_picture()
    r = user.api.request("POST", "/me/seals/handwriting", data=picture,
                         headers={"Content-Type": "image/png"})
    expect(r, 201)
    first = r.json()
    assert first["kind"] == "handwriting" and first["status"] == "enabled", first
    assert first["owner_user"] == user.id and first["is_default"] is False, first
    im = assert_clean_rgba(user.api.get(f"/seals/{first['id']}/image").content)
    # Trimmed to the strokes, and the ink is near black.
    assert im.width < 600 and im.height < 300, im.size
    assert im.width > 200 and im.height > 60, im.size
    ink = opaque_pixels(im)
    assert ink and all(max(p[:3]) < 90 for p in ink[:500]), ink[:5]

    # A second one (blue ink, from a JPEG) replaces the first.
    r = user.api.request("POST", "/me/seals/handwriting", data=handwriting_picture("JPEG"),
                         params={"ink": "blue"}, headers={"Content-Type": "image/jpeg"})
    expect(r, 201)
    second = r.json()
    assert second["id"] != first["id"] and second["kind"] == "handwriting", second
    im = assert_clean_rgba(user.api.get(f"/seals/{second['id']}/image").content)
    ink = opaque_pixels(im)
    assert ink and sum(p[2] > p[0] + 40 for p in ink) > len(ink) * 0.9, ink[:5]
    listed = user.api.ok("GET", "/me/seals")
    assert sorted(s["kind"] for s in listed) == ["handwriting", "name"], listed
    assert second["id"] in {s["id"] for s in listed} and first["id"] not in {s["id"] for s in listed}
    expect(user.api.get(f"/seals/{first['id']}"), 404)

    # Refusals: blank paper, no body, not a picture, unknown ink. Nothing replaced.
    for body, params in [(blank_picture(), None), (b"", None), (b"not a picture at all", None),
                         (picture, {"ink": "red"})]:
        r = user.api.request("POST", "/me/seals/handwriting", data=body, params=params,
                             headers={"Content-Type": "application/octet-stream"})
        expect(r, 400)
        assert_problem(r)
    assert {s["id"] for s in user.api.ok("GET", "/me/seals") if s["kind"] == "handwriting"} \
        == {second["id"]}
    # Not logged in / no CSRF token.
    expect(platform.api().request("POST", "/me/seals/handwriting", data=picture), 401)
    expect(user.api.request("POST", "/me/seals/handwriting", data=picture, csrf=False), 403, "csrf")


def test_handwriting_capture_link(platform: Platform):
    user = platform.verified_user("吴扫码")
    link = user.api.ok("POST", "/me/handwriting-links", status=201)
    token = link["token"]
    assert token and token in link["url"], link
    assert link["qr_svg"].lstrip().startswith("<?xml") and "<svg" in link["qr_svg"], link
    assert now() + 300 < link["expires_at"] <= now() + 3600, link
    phone = requests.Session()  # the phone: no login, no cookies
    url = platform.server.url(f"/api/v1/handwriting-links/{token}")
    r = phone.get(url, timeout=30)
    expect(r, 200)
    assert r.json() == {"valid": True, "name": user.name}, r.json()
    # A blank picture is refused and does not use the link up.
    r = phone.post(url, data=blank_picture(), headers={"Content-Type": "image/png"}, timeout=30)
    expect(r, 400)
    assert_problem(r)
    r = phone.post(url, data=handwriting_picture(), headers={"Content-Type": "image/png"},
                   timeout=30)
    expect(r, 201)
    seal = r.json()
    assert seal["kind"] == "handwriting" and seal["owner_user"] == user.id, seal
    assert seal["status"] == "enabled", seal
    # Once only.
    r = phone.post(url, data=handwriting_picture(), headers={"Content-Type": "image/png"},
                   timeout=30)
    expect(r, 404)
    assert_problem(r)
    expect(phone.get(url, timeout=30), 404)
    expect(phone.get(platform.server.url(f"/api/v1/handwriting-links/{secrets.token_urlsafe(24)}"),
                     timeout=30), 404)
    assert seal["id"] in {s["id"] for s in user.api.ok("GET", "/me/seals")}
    assert_clean_rgba(user.api.get(f"/seals/{seal['id']}/image").content)
    assert "handwriting.link_created" in trail_actions(user.api)
    # A link needs a session.
    expect(platform.api().post("/me/handwriting-links"), 401)


def test_admin_uploads_handwriting(platform: Platform):
    user = platform.verified_user("郑纸样")
    picture = handwriting_picture()
    r = user.api.request("POST", f"/admin/users/{user.id}/handwriting", data=picture)
    expect(r, 403)
    assert_problem(r)
    r = platform.admin.request("POST", f"/admin/users/{user.id}/handwriting", data=picture,
                               headers={"Content-Type": "image/png"})
    expect(r, 201)
    seal = r.json()
    assert seal["owner_user"] == user.id and seal["kind"] == "handwriting", seal
    assert seal["id"] in {s["id"] for s in user.api.ok("GET", "/me/seals")}
    expect(platform.admin.request("POST", f"/admin/users/{uuid.uuid4()}/handwriting",
                                  data=picture), 404)
    expect(platform.admin.request("POST", f"/admin/users/{user.id}/handwriting",
                                  data=blank_picture()), 400)


def test_personal_seal_life_cycle(platform: Platform):
    user = platform.verified_user("冯周期")
    seal = user.api.ok("POST", "/me/seals/handwriting", data=handwriting_picture(), status=201)
    sid = seal["id"]
    other = platform.verified_user("陈旁人")
    for r in (other.api.get(f"/seals/{sid}"), other.api.get(f"/seals/{sid}/image"),
              other.api.post(f"/seals/{sid}/disable"), other.api.delete(f"/seals/{sid}"),
              other.api.get(f"/seals/{sid}/stats"), other.api.get(f"/seals/{sid}/uses")):
        expect(r, 404)
        assert_problem(r)
    # The platform admin may look, not change.
    assert platform.admin.ok("GET", f"/seals/{sid}")["id"] == sid
    expect(platform.admin.post(f"/seals/{sid}/disable"), (403, 404))

    off = user.api.ok("POST", f"/seals/{sid}/disable", status=200)
    assert off["status"] == "disabled" and off["id"] == sid, off
    assert off["updated_at"] >= seal["updated_at"]
    expect(user.api.post(f"/seals/{sid}/disable"), 409, "state")
    assert user.api.ok("GET", f"/seals/{sid}")["status"] == "disabled"
    on = user.api.ok("POST", f"/seals/{sid}/enable", status=200)
    assert on["status"] == "enabled", on
    expect(user.api.post(f"/seals/{sid}/enable"), 409, "state")
    expect(user.api.delete(f"/seals/{sid}"), 204)
    expect(user.api.get(f"/seals/{sid}"), 404)
    expect(user.api.get(f"/seals/{sid}/image"), 404)
    expect(user.api.post(f"/seals/{sid}/enable"), 404)
    expect(user.api.delete(f"/seals/{sid}"), 404)
    assert sid not in {s["id"] for s in user.api.ok("GET", "/me/seals")}
    expect(user.api.get(f"/seals/{uuid.uuid4()}"), 404)
    actions = trail_actions(platform.admin, "/admin/trail", object=f"seal:{sid}")
    for action in ("seal.created", "seal.disabled", "seal.enabled", "seal.deleted"):
        assert action in actions, actions


# --------------------------------------------------------------------------- organizations

def test_org_seals_created_by_managers(platform: Platform, world: World):
    oid, name = world.org["id"], world.org["name"]
    official = world.official
    assert official["kind"] == "official" and official["owner_org"] == oid, official
    assert official["owner_user"] is None and official["status"] == "enabled", official
    assert official["name"] == f"{name}公章", official
    im = assert_clean_rgba(world.member.api.get(f"/seals/{official['id']}/image").content)
    assert im.width > 200 and abs(im.width - im.height) <= 2, im.size
    assert im.getpixel((0, 0))[3] == 0 and im.getpixel((im.width - 1, im.height - 1))[3] == 0
    red = [p for p in opaque_pixels(im) if p[0] > 150 and p[1] < 110 and p[2] < 110]
    assert len(red) > 1000, "the official seal is not red"

    contract = org_seal(world, "contract", by=world.operator, code="1101050012345")
    assert contract["kind"] == "contract" and contract["name"] == f"{name}合同专用章", contract
    finance = org_seal(world, "finance")
    assert finance["name"] == f"{name}财务专用章", finance
    oval = org_seal(world, "oval", name="椭圆测试章", label="测试")
    assert oval["kind"] == "oval" and oval["name"] == "椭圆测试章", oval
    im = assert_clean_rgba(world.owner.api.get(f"/seals/{oval['id']}/image").content)
    assert im.width > im.height, f"an oval seal is wider than high: {im.size}"

    # Uploaded: a PNG the caller uploaded, kept as is.
    picture = seal_picture()
    blob = platform.upload(world.operator.api, picture)
    uploaded = org_seal(world, "uploaded", by=world.operator, blob_id=blob["id"], name="扫描章")
    assert uploaded["kind"] == "uploaded" and uploaded["name"] == "扫描章", uploaded
    r = world.member.api.get(f"/seals/{uploaded['id']}/image")
    expect(r, 200)
    assert decode_png(r.content).size == (240, 240)
    api = world.owner.api
    theirs = platform.upload(world.member.api, seal_picture())
    pdf = upload_pdf(platform, world.owner)
    for body in [{"kind": "uploaded"},
                 {"kind": "uploaded", "blob_id": theirs["id"]},
                 {"kind": "uploaded", "blob_id": pdf["id"]},
                 {"kind": "uploaded", "blob_id": str(uuid.uuid4())},
                 {"kind": "name"},
                 {"kind": "handwriting"},
                 {"kind": "bogus"},
                 {"kind": "official", "name": ""},
                 {"kind": "official", "name": "章" * 61}]:
        r = api.post(f"/orgs/{oid}/seals", body)
        expect(r, 400)
        assert_problem(r)
    # A plain member may not; outsiders and unknown organizations are hidden.
    expect(world.member.api.post(f"/orgs/{oid}/seals", {"kind": "official"}), 403, "forbidden")
    expect(world.outsider.api.post(f"/orgs/{oid}/seals", {"kind": "official"}), 404)
    expect(api.post(f"/orgs/{uuid.uuid4()}/seals", {"kind": "official"}), 404)
    # The platform admin is not the company's seal manager.
    expect(platform.admin.post(f"/orgs/{oid}/seals", {"kind": "official"}), (403, 404))
    # Members list the seals; outsiders do not.
    ids = {s["id"] for s in world.member.api.ok("GET", f"/orgs/{oid}/seals")}
    assert {official["id"], contract["id"], finance["id"], oval["id"], uploaded["id"]} <= ids
    expect(world.outsider.api.get(f"/orgs/{oid}/seals"), 404)
    actions = trail_actions(world.owner.api, f"/orgs/{oid}/trail")
    assert "seal.created" in actions, actions


def test_org_seal_management(platform: Platform, world: World):
    oid = world.org["id"]
    seal = org_seal(world, "contract", name="管理测试章")
    sid = seal["id"]
    g = grant(world, sid, world.member)
    expect(world.member.api.post(f"/seals/{sid}/disable"), 403, "forbidden")
    expect(world.member.api.delete(f"/seals/{sid}"), 403)
    expect(world.outsider.api.post(f"/seals/{sid}/disable"), 404)
    off = world.operator.api.ok("POST", f"/seals/{sid}/disable", status=200)
    assert off["status"] == "disabled"
    expect(world.operator.api.post(f"/seals/{sid}/disable"), 409, "state")
    # Members still see a disabled seal, marked as such.
    listed = {s["id"]: s for s in world.member.api.ok("GET", f"/orgs/{oid}/seals")}
    assert listed[sid]["status"] == "disabled"
    assert world.owner.api.ok("POST", f"/seals/{sid}/enable", status=200)["status"] == "enabled"
    # Deleting ends its grants and hides it.
    expect(world.owner.api.delete(f"/seals/{sid}"), 204)
    for who in (world.owner, world.member):
        expect(who.api.get(f"/seals/{sid}"), 404)
    expect(world.owner.api.post(f"/seals/{sid}/enable"), 404)
    assert sid not in {s["id"] for s in world.member.api.ok("GET", f"/orgs/{oid}/seals")}
    mine = {x["id"]: x for x in world.member.api.ok("GET", "/me/grants")}
    assert mine[g["id"]]["revoked_at"] is not None, mine[g["id"]]
    # A deleted seal cannot be granted or asked for.
    body = {"seal_id": sid, "grantee": world.member.id, "not_after": now() + 3600}
    expect(world.owner.api.post(f"/orgs/{oid}/grants", body), 404)
    expect(world.member.api.post(f"/orgs/{oid}/grant-requests",
                                 {"seal_id": sid, "not_after": now() + 3600}), 404)


def test_org_certificate(platform: Platform, world: World, pki: Path, tmp_path: Path):
    oid = world.org["id"]
    cert = world.org_cert
    assert cert["owner_org"] == oid and cert["owner_user"] is None, cert
    assert cert["custody"] == "hosted" and cert["status"] == "active", cert
    assert world.org["name"] in cert["subject"], cert
    path = write_cert(tmp_path, "org", cert["pem"])
    subject = cert_subject(path)
    assert f"CN={world.org['name']}" in subject, subject
    assert world.org["credit_code"] in subject, subject
    r = openssl("verify", "-CAfile", pki / "root.pem", "-untrusted", pki / "ca.pem", path)
    assert r.returncode == 0, out_text(r)
    # Every member sees the same one certificate; outsiders nothing.
    for who in (world.owner, world.operator):
        certs = who.api.ok("GET", f"/orgs/{oid}/certificates")
        assert [c["id"] for c in active(certs)] == [cert["id"]], certs
    expect(world.outsider.api.get(f"/orgs/{oid}/certificates"), 404)
    # Only the company's admin (or a platform admin) may revoke it.
    for who in (world.member, world.operator):
        expect(who.api.post(f"/certificates/{cert['id']}/revoke", {"reason": "keyCompromise"}),
               (403, 404))
    expect(world.outsider.api.post(f"/certificates/{cert['id']}/revoke", {}), 404)
    certs = world.owner.api.ok("GET", f"/orgs/{oid}/certificates")
    assert [c["id"] for c in active(certs)] == [cert["id"]]


def test_revoke_and_reissue_person_certificate(platform: Platform, pki: Path, tmp_path: Path):
    user = platform.verified_user("何吊销")
    old = active(my_certs(user)["items"])[0]
    old_path = write_cert(tmp_path, "old", old["pem"])
    expect(user.api.post(f"/certificates/{old['id']}/revoke", {"reason": "becauseISaidSo"}), 400)
    expect(user.api.post(f"/certificates/{uuid.uuid4()}/revoke", {"reason": "keyCompromise"}), 404)
    revoked = user.api.ok("POST", f"/certificates/{old['id']}/revoke", {"reason": "keyCompromise"},
                          status=200)
    assert revoked["id"] == old["id"] and revoked["status"] == "revoked", revoked
    assert revoked["revoke_reason"] == 1 and revoked["revoked_at"] >= old["created_at"], revoked
    expect(user.api.post(f"/certificates/{old['id']}/revoke", {"reason": "keyCompromise"}), 409,
           "state")
    # OCSP and the CRL know at once.
    status, text = ocsp_status(platform, pki, old_path)
    assert status == "revoked", text
    assert re.search(r"Reason: keyCompromise", text), text
    assert int(old["serial"], 16) in crl_serials(platform, tmp_path)
    assert "certificate.revoked" in trail_actions(user.api)

    # Re-issue needs the SMS code.
    expect(user.api.post("/me/certificates/reissue", {}), (400, 422))
    code = sign_code(platform, user)
    wrong = "000000" if code != "000000" else "111111"
    expect(user.api.post("/me/certificates/reissue", {"code": wrong}), 400, "wrong_code")
    new = user.api.ok("POST", "/me/certificates/reissue", {"code": code}, status=201)
    assert new["status"] == "active" and new["custody"] == "hosted", new
    assert new["serial"] != old["serial"] and new["id"] != old["id"], (old, new)
    new_path = write_cert(tmp_path, "new", new["pem"])
    assert "CN=何吊销" in cert_subject(new_path)
    status, text = ocsp_status(platform, pki, new_path)
    assert status == "good", text
    # The code is used up.
    expect(user.api.post("/me/certificates/reissue", {"code": code}), 400)
    items = my_certs(user)["items"]
    by_id = {c["id"]: c for c in items}
    assert [c["id"] for c in active(items)] == [new["id"]], items
    assert by_id[old["id"]]["status"] == "revoked" and by_id[old["id"]]["revoke_reason"] == 1
    assert trail_actions(user.api).count("certificate.issued") >= 2
    # Unverified people cannot re-issue.
    expect(platform.register().api.post("/me/certificates/reissue", {"code": "123456"}), 403)


def test_leaving_revokes_certificate_and_grants(platform: Platform, world: World, pki: Path,
                                                tmp_path: Path):
    oid = world.org["id"]
    leaver = new_member(platform, world, "林离职")
    cert = active(my_certs(leaver)["items"])[0]
    path = write_cert(tmp_path, "leaver", cert["pem"])
    g = grant(world, world.official["id"], leaver)
    assert g["revoked_at"] is None
    expect(world.owner.api.delete(f"/orgs/{oid}/members/{leaver.id}"), 204)
    # The grant ended.
    grants = {x["id"]: x for x in leaver.api.ok("GET", "/me/grants")}
    assert grants[g["id"]]["revoked_at"] is not None, grants[g["id"]]
    org_grants = {x["id"]: x for x in world.owner.api.ok("GET", f"/orgs/{oid}/grants")}
    assert org_grants[g["id"]]["revoked_at"] is not None
    # The certificate is revoked as affiliationChanged.
    by_id = {c["id"]: c for c in my_certs(leaver)["items"]}
    assert by_id[cert["id"]]["status"] == "revoked", by_id[cert["id"]]
    assert by_id[cert["id"]]["revoke_reason"] == 3, by_id[cert["id"]]
    # The OCSP responder learns it (other servers' changes within seconds).
    status, text = wait_ocsp(platform, pki, path, "revoked")
    assert status == "revoked", f"OCSP still says {status} for a certificate revoked on leaving:\n{text}"
    assert int(cert["serial"], 16) in crl_serials(platform, tmp_path)
    # No longer a member: the seal is hidden.
    doc = upload_pdf(platform, leaver)
    expect(leaver.api.post("/stamp", stamp_body(doc["id"], world.official["id"])), 404)


# --------------------------------------------------------------------------- grants

def test_grants(platform: Platform, world: World):
    oid, sid = world.org["id"], world.official["id"]
    holder = new_member(platform, world, "钟授权")
    before = now()
    g = grant(world, sid, holder, seconds=7200, by=world.operator, scope=["合同", "报价"])
    assert g["seal_id"] == sid and g["org_id"] == oid and g["grantee"] == holder.id, g
    assert g["granted_by"] == world.operator.id and g["request_id"] is None, g
    assert g["revoked_at"] is None and g["scope"] == ["合同", "报价"], g
    assert before - 5 <= g["not_before"] <= now() + 5, g
    assert g["not_after"] - g["not_before"] >= 7190, g
    api = world.owner.api
    base = {"seal_id": sid, "grantee": holder.id, "not_after": now() + 3600}
    # Refusals: not a member, the past, a window of more than five years, bad scope, a seal of
    # another organization, no grantee.
    for body in [dict(base, grantee=world.outsider.id),
                 dict(base, grantee=str(uuid.uuid4())),
                 dict(base, not_after=now() - 10),
                 dict(base, not_before=now() + 7200),
                 dict(base, not_after=now() + 6 * 366 * 86400),
                 dict(base, scope=[""]),
                 {"seal_id": sid, "not_after": now() + 3600}]:
        r = api.post(f"/orgs/{oid}/grants", body)
        expect(r, 400)
        assert_problem(r)
    other_org, other_admin = platform.company(name=f"别家公司{secrets.token_hex(3)}")
    other_seal = other_admin.api.ok("POST", f"/orgs/{other_org['id']}/seals", {"kind": "official"},
                                    status=201)
    expect(api.post(f"/orgs/{oid}/grants", dict(base, seal_id=other_seal["id"])), 404)
    expect(world.member.api.post(f"/orgs/{oid}/grants", base), 403, "forbidden")
    expect(world.outsider.api.post(f"/orgs/{oid}/grants", base), 404)
    # Lists: managers see the organization's grants, the holder their own.
    assert g["id"] in {x["id"] for x in world.owner.api.ok("GET", f"/orgs/{oid}/grants")}
    assert g["id"] in {x["id"] for x in world.operator.api.ok("GET", f"/orgs/{oid}/grants",
                                                              params={"seal_id": sid})}
    expect(world.member.api.get(f"/orgs/{oid}/grants"), 403)
    expect(world.outsider.api.get(f"/orgs/{oid}/grants"), 404)
    mine = holder.api.ok("GET", "/me/grants")
    assert [x["id"] for x in mine] == [g["id"]], mine
    assert g["id"] not in {x["id"] for x in world.member.api.ok("GET", "/me/grants")}
    # The holder is told.
    texts = [m["body"] for m in holder.api.ok("GET", "/me/messages", params={"limit": 100})["items"]]
    assert any(world.official["name"] in t for t in texts), texts
    # Revoke: managers only, once.
    expect(holder.api.post(f"/grants/{g['id']}/revoke"), 403)
    expect(world.outsider.api.post(f"/grants/{g['id']}/revoke"), 404)
    expect(world.owner.api.post(f"/grants/{uuid.uuid4()}/revoke"), 404)
    out = world.owner.api.ok("POST", f"/grants/{g['id']}/revoke", status=200)
    assert out["id"] == g["id"] and out["revoked_at"] is not None, out
    expect(world.operator.api.post(f"/grants/{g['id']}/revoke"), 409, "state")
    assert holder.api.ok("GET", "/me/grants")[0]["revoked_at"] is not None
    actions = trail_actions(world.owner.api, f"/orgs/{oid}/trail")
    assert "grant.created" in actions and "grant.revoked" in actions, actions


def test_grant_requests(platform: Platform, world: World):
    oid = world.org["id"]
    seal = org_seal(world, "finance", name="申请测试章")
    sid = seal["id"]
    applicant = world.member
    body = {"seal_id": sid, "not_after": now() + 86400, "scope": ["报销"], "note": "月底报销用印"}
    req = applicant.api.ok("POST", f"/orgs/{oid}/grant-requests", body, status=201)
    assert req["status"] == "pending" and req["applicant"] == applicant.id, req
    assert req["seal_id"] == sid and req["org_id"] == oid and req["note"] == "月底报销用印", req
    assert req["grant_id"] is None and req["scope"] == ["报销"], req
    expect(applicant.api.post(f"/orgs/{oid}/grant-requests", body), 409)
    expect(world.outsider.api.post(f"/orgs/{oid}/grant-requests", body), 404)
    expect(applicant.api.post(f"/orgs/{oid}/grant-requests",
                              dict(body, seal_id=world.official["id"], not_after=now() - 1)), 400)
    # The admin is told; both sides list it; strangers do not see it.
    texts = [m["body"] for m in world.owner.api.ok("GET", "/me/messages",
                                                  params={"limit": 100})["items"]]
    assert any(applicant.name in t for t in texts), texts
    assert req["id"] in {r["id"] for r in applicant.api.ok("GET", "/grant-requests")}
    assert req["id"] in {r["id"] for r in world.owner.api.ok("GET", "/grant-requests",
                                                             params={"status": "pending"})}
    assert req["id"] not in {r["id"] for r in world.outsider.api.ok("GET", "/grant-requests")}
    # Deciding: not the applicant (a plain member), not outsiders; a rejection needs a reason.
    expect(applicant.api.post(f"/grant-requests/{req['id']}/approve"), 403)
    expect(world.outsider.api.post(f"/grant-requests/{req['id']}/approve"), 404)
    expect(world.owner.api.post(f"/grant-requests/{req['id']}/withdraw"), 403)
    expect(world.owner.api.post(f"/grant-requests/{req['id']}/reject", {}), 400)
    expect(world.owner.api.post(f"/grant-requests/{req['id']}/reject", {"reason": "  "}), 400)
    approved = world.operator.api.ok("POST", f"/grant-requests/{req['id']}/approve", status=200)
    assert approved["status"] == "approved" and approved["grant_id"], approved
    assert approved["decided_by"] == world.operator.id, approved
    expect(world.owner.api.post(f"/grant-requests/{req['id']}/approve"), 409, "state")
    expect(world.owner.api.post(f"/grant-requests/{req['id']}/reject", {"reason": "晚了"}), 409,
           "state")
    expect(applicant.api.post(f"/grant-requests/{req['id']}/withdraw"), 409, "state")
    grants = {g["id"]: g for g in applicant.api.ok("GET", "/me/grants")}
    g = grants[approved["grant_id"]]
    assert g["request_id"] == req["id"] and g["seal_id"] == sid and g["scope"] == ["报销"], g
    assert g["not_after"] == body["not_after"] and g["revoked_at"] is None, g
    # A second request: rejected with a reason, which the applicant reads.
    again = applicant.api.ok("POST", f"/orgs/{oid}/grant-requests",
                             dict(body, note="再申请一次"), status=201)
    rejected = world.owner.api.ok("POST", f"/grant-requests/{again['id']}/reject",
                                  {"reason": "用途不明"}, status=200)
    assert rejected["status"] == "rejected" and rejected["reason"] == "用途不明", rejected
    assert rejected["grant_id"] is None
    texts = [m["body"] for m in applicant.api.ok("GET", "/me/messages",
                                                params={"limit": 100})["items"]]
    assert any("用途不明" in t for t in texts), texts
    # A third: withdrawn by the applicant.
    third = applicant.api.ok("POST", f"/orgs/{oid}/grant-requests", body, status=201)
    out = applicant.api.ok("POST", f"/grant-requests/{third['id']}/withdraw", status=200)
    assert out["status"] == "withdrawn", out
    expect(world.owner.api.post(f"/grant-requests/{third['id']}/approve"), 409, "state")
    mine = {r["id"]: r["status"] for r in applicant.api.ok("GET", "/grant-requests")}
    assert mine[req["id"]] == "approved" and mine[again["id"]] == "rejected" \
        and mine[third["id"]] == "withdrawn", mine
    only = applicant.api.ok("GET", "/grant-requests", params={"status": "rejected"})
    assert {r["status"] for r in only} == {"rejected"}, only
    expect(applicant.api.get("/grant-requests", params={"status": "nonsense"}), 400)
    expect(world.owner.api.post(f"/grant-requests/{uuid.uuid4()}/approve"), 404)


# --------------------------------------------------------------------------- stamping

def test_stamp_org_seal(platform: Platform, world: World, pki: Path, tmp_path: Path):
    holder = world.member  # its one sign code of the module
    sid = world.official["id"]
    g = grant(world, sid, holder)
    doc = upload_pdf(platform, holder, "org stamp")
    original = holder.api.get(f"/blobs/{doc['id']}").content
    expect(holder.api.post("/stamp", stamp_body(doc["id"], sid)), 400)
    code = sign_code(platform, holder)
    wrong = "000000" if code != "000000" else "111111"
    expect(holder.api.post("/stamp", stamp_body(doc["id"], sid, code=wrong)), 400, "wrong_code")
    # Somebody else's document: hidden, whatever the grant.
    theirs = upload_pdf(platform, world.owner)
    expect(holder.api.post("/stamp", stamp_body(theirs["id"], sid, code=code)), 404)
    out = holder.api.ok("POST", "/stamp", stamp_body(doc["id"], sid, code=code, purpose="合同"),
                        status=201)
    assert out["grant_id"] == g["id"] and out["autosign_id"] is None, out
    assert out["certificate_serial"] == world.org_cert["serial"], (out, world.org_cert)
    assert out["use_id"] and out["blob_id"] != doc["id"], out
    # The code works once.
    expect(holder.api.post("/stamp", stamp_body(doc["id"], sid, code=code)), 400)
    r = holder.api.get(f"/blobs/{out['blob_id']}")
    expect(r, 200)
    signed = r.content
    assert r.headers["content-type"] == "application/pdf"
    assert hashlib.sha256(signed).hexdigest() == out["sha256"]
    assert signed.startswith(original) and len(signed) > len(original), \
        "the stamp is not an incremental update of the uploaded file"
    judge_pdf(signed, tmp_path, pki, signer=world.org["name"])
    # Others cannot download the result.
    expect(world.outsider.api.get(f"/blobs/{out['blob_id']}"), 404)
    # The ledger.
    uses = world.owner.api.ok("GET", f"/seals/{sid}/uses", params={"limit": 100})["items"]
    mine = [u for u in uses if u["id"] == out["use_id"]]
    assert len(mine) == 1, uses
    u = mine[0]
    assert u["user_id"] == holder.id and u["grant_id"] == g["id"] and u["purpose"] == "合同", u
    assert u["seal_id"] == sid and u["autosign_id"] is None, u
    assert u["document"] in (out["blob_id"], f"sha256:{out['sha256']}"), u
    actions = trail_actions(platform.admin, "/admin/trail", object=f"seal:{sid}")
    assert "seal.stamped" in actions and "grant.created" in actions, actions


def test_stamp_refusals(platform: Platform, world: World):
    """Every refusal comes before the SMS code is asked for: none of these sends one."""
    oid = world.org["id"]
    m = new_member(platform, world, "严拒绝")
    doc = upload_pdf(platform, m)["id"]

    def stamp(seal_id, **extra):
        return m.api.post("/stamp", stamp_body(doc, seal_id, **extra))

    official = world.official["id"]
    # No grant; the admin too needs one.
    expect(stamp(official), 403, "forbidden")
    owner_doc = upload_pdf(platform, world.owner)["id"]
    expect(world.owner.api.post("/stamp", stamp_body(owner_doc, official)), 403, "forbidden")
    # Not yet valid.
    grant(world, official, m, seconds=7200, not_before=now() + 3600)
    expect(stamp(official), 403, "forbidden")
    # Revoked.
    finance = org_seal(world, "finance", name="拒绝测试财务章")["id"]
    g = grant(world, finance, m)
    world.owner.api.ok("POST", f"/grants/{g['id']}/revoke", status=200)
    expect(stamp(finance), 403, "forbidden")
    # Expired: a grant of three seconds, then wait.
    contract = org_seal(world, "contract", name="拒绝测试合同章")["id"]
    short = grant(world, contract, m, seconds=3)
    # Scoped: only for its business types; a purpose inside passes to the code check.
    oval = org_seal(world, "oval", name="拒绝测试椭圆章")["id"]
    grant(world, oval, m, scope=["合同"])
    expect(stamp(oval), 403, "forbidden")
    expect(stamp(oval, purpose="财务"), 403, "forbidden")
    expect(stamp(oval, purpose="合同"), 400)  # allowed, but no code
    # Disabled: 409, even with a grant.
    world.operator.api.ok("POST", f"/seals/{oval}/disable", status=200)
    expect(stamp(oval, purpose="合同", code="123456"), 409, "state")
    world.operator.api.ok("POST", f"/seals/{oval}/enable", status=200)
    expect(stamp(oval, purpose="合同"), 400)
    # Deleted: hidden.
    expect(world.owner.api.delete(f"/seals/{oval}"), 204)
    expect(stamp(oval, purpose="合同"), 404)
    while now() <= short["not_after"]:
        time.sleep(0.5)
    expect(stamp(contract), 403, "forbidden")
    # Personal seals: their owner's alone; outsiders do not see company seals.
    other_seal = world.outsider.api.ok("GET", "/me/seals")[0]["id"]
    expect(stamp(other_seal), 404)
    outsider_doc = upload_pdf(platform, world.outsider)["id"]
    expect(world.outsider.api.post("/stamp", stamp_body(outsider_doc, official)), 404)
    expect(stamp(str(uuid.uuid4())), 404)
    # Not a PDF of the caller's.
    png = platform.upload(m.api, png_bytes())
    expect(m.api.post("/stamp", stamp_body(png["id"], official)), 404)
    # Unverified members cannot stamp even with a grant.
    raw = platform.add_member(oid, world.owner.api)
    grant(world, official, raw)
    raw_doc = upload_pdf(platform, raw)["id"]
    expect(raw.api.post("/stamp", stamp_body(raw_doc, official)), 403)
    # Nothing was recorded for this member.
    for sid in (official, finance, contract):
        uses = world.owner.api.ok("GET", f"/seals/{sid}/uses", params={"limit": 100})["items"]
        assert all(u["user_id"] not in (m.id, raw.id) for u in uses), uses
    assert not any(m.api.ok("GET", "/me/autosign/uses")["items"])


def test_stamp_personal_seal(platform: Platform, pki: Path, tmp_path: Path):
    user = platform.verified_user("许个人")
    seal = [s for s in user.api.ok("GET", "/me/seals") if s["is_default"]][0]
    cert = active(my_certs(user)["items"])[0]
    doc = upload_pdf(platform, user, "personal")
    code = sign_code(platform, user)
    out = user.api.ok("POST", "/stamp", stamp_body(doc["id"], seal["id"], code=code), status=201)
    assert out["grant_id"] is None and out["autosign_id"] is None, out
    assert out["certificate_serial"] == cert["serial"], (out, cert)
    signed = user.api.get(f"/blobs/{out['blob_id']}").content
    assert hashlib.sha256(signed).hexdigest() == out["sha256"]
    judge_pdf(signed, tmp_path, pki, signer="许个人")
    stats = user.api.ok("GET", f"/seals/{seal['id']}/stats")
    assert stats["seal_id"] == seal["id"] and stats["total"] == 1, stats
    assert stats["by_user"] == [[user.id, 1]], stats
    assert len(stats["by_day"]) == 1 and stats["by_day"][0][1] == 1, stats
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", stats["by_day"][0][0]), stats
    # A disabled personal seal: 409 (before the code is looked at).
    user.api.ok("POST", f"/seals/{seal['id']}/disable", status=200)
    expect(user.api.post("/stamp", stamp_body(doc["id"], seal["id"], code="123456")), 409, "state")
    user.api.ok("POST", f"/seals/{seal['id']}/enable", status=200)
    # The platform admin may look at the seal but never stamp with it.
    admin_doc = platform.upload(platform.admin, make_pdf("admin"))
    expect(platform.admin.post("/stamp", stamp_body(admin_doc["id"], seal["id"], code="123456")),
           404)


def test_autosign(platform: Platform, world: World, pki: Path, tmp_path: Path):
    a = new_member(platform, world, "秦自动")
    official = world.official["id"]
    name_seal = [s for s in a.api.ok("GET", "/me/seals") if s["is_default"]][0]["id"]
    doc = upload_pdf(platform, a, "autosign")["id"]
    # Not enabled yet.
    expect(a.api.post("/stamp", stamp_body(doc, name_seal, autosign=True)), 403, "forbidden")
    assert a.api.ok("GET", "/me/autosign") == []
    # Refusals before the code: a window out of range, no code; unverified people.
    expect(a.api.post("/me/autosign", {"hours": 4321, "code": "123456"}), 400)
    expect(a.api.post("/me/autosign", {"hours": 0, "code": "123456"}), 400)
    expect(a.api.post("/me/autosign", {}), 400)
    expect(platform.register().api.post("/me/autosign", {"code": "123456"}), 403)
    code = sign_code(platform, a)
    grant_ = a.api.ok("POST", "/me/autosign", {"code": code}, status=201)
    assert grant_["user_id"] == a.id and grant_["revoked_at"] is None, grant_
    assert grant_["not_after"] - grant_["not_before"] == 86400, grant_
    assert abs(grant_["not_before"] - now()) <= 5, grant_
    assert grant_["evidence"], grant_
    expect(a.api.post("/me/autosign", {"code": code}), 400)  # the code is used up
    assert [x["id"] for x in a.api.ok("GET", "/me/autosign")] == [grant_["id"]]

    # Stamping with auto-sign: no code; personal seal and, with a grant, the company's.
    one = a.api.ok("POST", "/stamp", stamp_body(doc, name_seal, autosign=True), status=201)
    assert one["autosign_id"] == grant_["id"] and one["grant_id"] is None, one
    expect(a.api.post("/stamp", stamp_body(doc, official, autosign=True)), 403, "forbidden")
    g = grant(world, official, a)
    two = a.api.ok("POST", "/stamp", stamp_body(doc, official, autosign=True, purpose="自动"),
                   status=201)
    assert two["autosign_id"] == grant_["id"] and two["grant_id"] == g["id"], two
    assert two["certificate_serial"] == world.org_cert["serial"]
    judge_pdf(a.api.get(f"/blobs/{two['blob_id']}").content, tmp_path, pki, signer=world.org["name"])
    uses = a.api.ok("GET", "/me/autosign/uses", params={"limit": 100})["items"]
    assert len(uses) == 2, uses
    assert {u["grant_id"] for u in uses} == {grant_["id"]}, uses
    assert {u["seal_id"] for u in uses} == {name_seal, official}, uses
    ledger = world.owner.api.ok("GET", f"/seals/{official}/uses", params={"limit": 100})["items"]
    entry = [u for u in ledger if u["id"] == two["use_id"]]
    assert entry and entry[0]["autosign_id"] == grant_["id"] and entry[0]["grant_id"] == g["id"]
    # Others cannot revoke it; its owner can, once; then auto-sign stamping stops.
    expect(world.member.api.post(f"/me/autosign/{grant_['id']}/revoke"), 404)
    out = a.api.ok("POST", f"/me/autosign/{grant_['id']}/revoke", status=200)
    assert out["id"] == grant_["id"] and out["revoked_at"] is not None, out
    expect(a.api.post(f"/me/autosign/{grant_['id']}/revoke"), 409, "state")
    expect(a.api.post("/stamp", stamp_body(doc, name_seal, autosign=True)), 403, "forbidden")
    expect(a.api.post("/stamp", stamp_body(doc, official, autosign=True)), 403, "forbidden")
    assert len(a.api.ok("GET", "/me/autosign/uses")["items"]) == 2
    actions = trail_actions(a.api)
    for action in ("certificate.issued", "autosign.enabled", "autosign.revoked"):
        assert action in actions, actions
    assert "autosign.used" in trail_actions(platform.admin, "/admin/trail",
                                            object=f"autosign:{grant_['id']}")


def test_seal_stats_and_uses(platform: Platform, world: World):
    seal = org_seal(world, "oval", name="统计测试章")
    sid = seal["id"]
    stamper = new_member(platform, world, "尤统计")
    grant(world, sid, stamper)
    stamper.api.ok("POST", "/me/autosign", {"hours": 1, "code": sign_code(platform, stamper)},
                   status=201)
    doc = upload_pdf(platform, stamper, "stats")["id"]
    outs = [stamper.api.ok("POST", "/stamp", stamp_body(doc, sid, autosign=True, purpose=p),
                           status=201) for p in ("合同", "合同", "报价")]
    assert len({o["use_id"] for o in outs}) == 3
    stats = world.operator.api.ok("GET", f"/seals/{sid}/stats")
    assert stats["seal_id"] == sid and stats["total"] == 3, stats
    assert stats["by_user"] == [[stamper.id, 3]], stats
    uses = world.owner.api.ok("GET", f"/seals/{sid}/uses", params={"limit": 100})["items"]
    assert sorted(u["id"] for u in uses) == sorted(o["use_id"] for o in outs), uses
    assert sorted(u["purpose"] for u in uses) == ["合同", "合同", "报价"], uses
    assert all(u["user_id"] == stamper.id and u["seal_id"] == sid for u in uses), uses
    # Per day in China time, from the ledger's own timestamps.
    from datetime import datetime, timedelta, timezone
    cst = timezone(timedelta(hours=8))
    days: dict[str, int] = {}
    for u in uses:
        day = datetime.fromtimestamp(u["at"], cst).strftime("%Y-%m-%d")
        days[day] = days.get(day, 0) + 1
    assert stats["by_day"] == sorted([[d, n] for d, n in days.items()]), (stats, days)
    # Paging the ledger.
    page = world.owner.api.ok("GET", f"/seals/{sid}/uses", params={"limit": 2})
    assert len(page["items"]) == 2 and page.get("next_cursor"), page
    rest = world.owner.api.ok("GET", f"/seals/{sid}/uses",
                              params={"limit": 2, "cursor": page["next_cursor"]})
    assert len(rest["items"]) == 1 and not rest.get("next_cursor"), rest
    # A period: empty in the future; from >= to refused.
    t = now()
    empty = world.owner.api.ok("GET", f"/seals/{sid}/stats",
                               params={"from": t + 1000, "to": t + 2000})
    assert empty["total"] == 0 and empty["by_user"] == [] and empty["by_day"] == [], empty
    expect(world.owner.api.get(f"/seals/{sid}/stats", params={"from": t, "to": t}), 400)
    # Who may look: managers (and the platform admin); members 403, outsiders 404.
    for who in (world.member, stamper):
        expect(who.api.get(f"/seals/{sid}/stats"), 403)
        expect(who.api.get(f"/seals/{sid}/uses"), 403)
    expect(world.outsider.api.get(f"/seals/{sid}/stats"), 404)
    assert platform.admin.ok("GET", f"/seals/{sid}/stats")["total"] == 3
    # The seal's trail records each stamp and the grant.
    events = platform.admin.ok("GET", "/admin/trail", params={"object": f"seal:{sid}",
                                                              "limit": 100})["items"]
    assert sum(e["action"] == "seal.stamped" for e in events) == 3, events
    assert "grant.created" in {e["action"] for e in events}, events


def test_outsiders_get_404(platform: Platform, world: World):
    oid, sid = world.org["id"], world.official["id"]
    api = world.outsider.api
    doc = upload_pdf(platform, world.outsider)["id"]
    probes = [
        api.get(f"/orgs/{oid}/seals"),
        api.post(f"/orgs/{oid}/seals", {"kind": "contract"}),
        api.get(f"/seals/{sid}"),
        api.get(f"/seals/{sid}/image"),
        api.get(f"/seals/{sid}/stats"),
        api.get(f"/seals/{sid}/uses"),
        api.post(f"/seals/{sid}/disable"),
        api.post(f"/seals/{sid}/enable"),
        api.delete(f"/seals/{sid}"),
        api.get(f"/orgs/{oid}/certificates"),
        api.post(f"/certificates/{world.org_cert['id']}/revoke", {"reason": "keyCompromise"}),
        api.get(f"/orgs/{oid}/grants"),
        api.post(f"/orgs/{oid}/grants", {"seal_id": sid, "grantee": world.outsider.id,
                                         "not_after": now() + 3600}),
        api.post(f"/orgs/{oid}/grant-requests", {"seal_id": sid, "not_after": now() + 3600}),
        api.post("/stamp", stamp_body(doc, sid, code="123456")),
    ]
    for r in probes:
        expect(r, 404)
        assert_problem(r)
    # Nothing changed.
    assert world.owner.api.ok("GET", f"/seals/{sid}")["status"] == "enabled"
    assert [c["id"] for c in active(world.owner.api.ok("GET", f"/orgs/{oid}/certificates"))] \
        == [world.org_cert["id"]]
    # An unknown id answers the same as a hidden one.
    r1, r2 = api.get(f"/seals/{sid}"), api.get(f"/seals/{uuid.uuid4()}")
    assert r1.status_code == r2.status_code == 404
    assert r1.json()["detail"] == r2.json()["detail"]


def test_trail_still_verifies(platform: Platform, world: World):
    """Last: after everything above the hash chain is intact."""
    out = platform.admin.ok("POST", "/admin/trail/verify", status=200)
    assert out["ok"] is True and out["events"] > 0, out
    actions = trail_actions(world.owner.api, f"/orgs/{world.org['id']}/trail")
    assert "certificate.issued" in actions, actions


def test_org_seal_bears_only_its_own_name(platform: Platform, world: World):
    oid = world.org["id"]
    r = world.owner.api.post(f"/orgs/{oid}/seals", {"kind": "official", "text": "别的有限公司"})
    expect(r, 400)
    same = world.owner.api.ok("POST", f"/orgs/{oid}/seals",
                              {"kind": "contract", "text": world.org["name"], "code": "3301000001"},
                              status=201)
    assert same["name"] == world.org["name"] + "合同专用章", same
