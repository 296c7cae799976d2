"""Signing flows, part two, over HTTP on SQLite and PostgreSQL:

- an unregistered signer (未注册签署人) named by name, phone and ID number gets a single-use SMS
  link, opens it with an SMS code, sees only their own task and signs; a reminder replaces the
  link; the same phone named with another ID number is refused;
- a token (Ukey) certificate: `qz token enroll` certifies a key the server never sees, signing
  answers 202 with a pending signature, `qz token sign-pending` finishes it; a forged value is
  refused;
- the admin's flow settings: business types, file types, size and count limits, the default
  deadline; a Word file converted by LibreOffice and signed;
- the completion report (签署报告): a PDF signed by the platform, judged by pyHanko/qpdf, whose
  text names the parties, the intent methods and the hashes;
- abnormal tasks (异常任务): an SMS the platform could not send is listed with its reason.

Every signed document is judged from outside (pyHanko, pdfsig, qpdf; `qz verify --json`)."""
from __future__ import annotations

import io
import json
import os
import re
import secrets
import subprocess
import zipfile
from pathlib import Path

import pytest
import requests

from conftest import Api, Platform, User, expect, free_port, fresh_dir, id_number, new_phone, run
from test_flows import (assert_verified, at, create_flow, default_seal, docs_of, download,
                        judge_many, qz_verify, sha256, sign, title, trail)
from test_seals import judge_pdf, pki, sign_code, upload_pdf

__all__ = ["pki"]

MESSAGES_PER_HOUR = 6
LINK_RE = re.compile(r"/m/sign/([A-Za-z0-9_-]{20,})")


@pytest.fixture(scope="module")
def platform(backend, module_servers) -> Platform:
    port = free_port()
    data = fresh_dir(module_servers.root, f"test_flow_parties-{backend}")
    server = module_servers.start(backend=backend, label="test_flow_parties", data=data,
                                  args=["--data", str(data), "--listen", f"127.0.0.1:{port}"],
                                  # A low hourly message limit per recipient (no test here sends
                                  # one number more than five), so test_abnormal can exceed it.
                                  env={"QZ_BASE_URL": f"http://127.0.0.1:{port}",
                                       "QZ_MESSAGES_PER_HOUR": str(MESSAGES_PER_HOUR)})
    return Platform(server)


def sms(platform: Platform, phone: str, template: str) -> list[dict]:
    return [m for m in platform.outbox(phone) if m["template"] == template]


def link_token(platform: Platform, phone: str, seen: set[str] | None = None) -> str:
    """The newest signing link texted to `phone` (not among `seen`)."""
    msgs = sorted(sms(platform, phone, "guest_link"), key=lambda m: (m["created_at"], m["id"]))
    tokens = [LINK_RE.search(m["body"]).group(1) for m in msgs if LINK_RE.search(m["body"])]
    fresh = [t for t in tokens if not seen or t not in seen]
    assert fresh, msgs
    return fresh[-1]


def guest_api(platform: Platform) -> Api:
    return platform.api()


def open_link(platform: Platform, phone: str, token: str) -> Api:
    """Opens the link like the mobile page: the landing data, a code, the scoped session."""
    api = guest_api(platform)
    before = [m["id"] for m in platform.outbox(phone)]
    expect(requests.post(platform.server.url(f"/api/v1/guest/{token}/code"), timeout=30), 202)
    code = platform.latest_code(phone, after=before)
    r = requests.Session()
    out = r.post(platform.server.url(f"/api/v1/guest/{token}/session"), json={"code": code},
                 timeout=60)
    assert out.status_code == 201, out.text
    api.s.cookies.update(r.cookies)
    api.csrf = out.json()["csrf_token"]
    return api


# --------------------------------------------------------------------------- unregistered

def test_unregistered_signer_through_the_sms_link(platform: Platform, pki: Path, qz: Path,
                                                  tmp_path: Path):
    sender = platform.verified_user("林发起")
    phone, number = new_phone(), id_number()
    blob = upload_pdf(platform, sender, "guest contract")
    name = title("外部个人签署")
    flow = create_flow(sender, {
        "title": name, "order": "ordered", "documents": docs_of(blob),
        "signers": [{"user_id": sender.id, "positions": [at(0, x=80)]},
                    {"phone": phone, "name": "陈外部", "id_number": number,
                     "positions": [at(0, x=320)]}],
    })
    fid = flow["id"]
    guest_slot = next(s for s in flow["signers"] if s["user_id"] != sender.id)
    # Not their turn yet: no link.
    assert sms(platform, phone, "guest_link") == []
    sender.api.ok("POST", f"/flows/{fid}/sign",
                  {"seal_id": default_seal(sender), "code": sign_code(platform, sender)})
    token = link_token(platform, phone)
    [text] = [m["body"] for m in sms(platform, phone, "guest_link")]
    assert name in text and "林发起" in text, text

    landing = requests.get(platform.server.url(f"/api/v1/guest/{token}"), timeout=30)
    assert landing.status_code == 200, landing.text
    info = landing.json()
    assert info["title"] == name and info["name"] == "陈外部" and info["initiator"] == "林发起"
    assert info["phone"] == phone[:3] + "****" + phone[-4:], info
    expect(requests.get(platform.server.url("/api/v1/guest/nonsense"), timeout=30), 410, "link_used")

    # A wrong code does not open it (and does not spend the link).
    r = requests.post(platform.server.url(f"/api/v1/guest/{token}/session"),
                      json={"code": "000000"}, timeout=30)
    assert r.status_code == 400, r.text
    guest = open_link(platform, phone, token)
    # The link works once.
    again = requests.post(platform.server.url(f"/api/v1/guest/{token}/session"),
                          json={"code": "123456"}, timeout=30)
    assert again.status_code == 410 and again.json()["code"] == "link_used", again.text

    # The session reaches this task and nothing else.
    me = guest.ok("GET", "/me")
    assert me["user"]["phone"] == phone and me["user"]["guest"] is True, me
    assert me["identity"]["status"] == "verified", me
    assert guest.ok("GET", f"/flows/{fid}")["id"] == fid
    for path in ("/flows", "/orgs", "/me/certificates", "/me/grants"):
        expect(guest.get(path), 403, "scoped")
    other = create_flow(sender, {"title": title("别的"), "documents": docs_of(upload_pdf(platform, sender)),
                                 "signers": [{"user_id": sender.id}]})
    expect(guest.get(f"/flows/{other['id']}"), 403, "scoped")
    expect(guest.post("/flows", {"title": "x", "documents": [], "signers": []}), 403, "scoped")

    # Real-name checked on opening: a name seal and a hosted certificate exist now.
    seals = guest.ok("GET", "/me/seals")
    seal = next(s for s in seals if s["is_default"])
    before = [m["id"] for m in platform.outbox(phone)]
    expect(guest.post("/auth/codes", {"purpose": "sign"}), 202)
    code = platform.latest_code(phone, after=before)
    done = guest.ok("POST", f"/flows/{fid}/sign", {"seal_id": seal["id"], "code": code})
    assert done["status"] == "completed", done
    assert next(s for s in done["signers"] if s["id"] == guest_slot["id"])["status"] == "signed"
    pdf = download(sender, fid, 0)
    judge_many(pdf, tmp_path, pki, ["林发起", "陈外部"])
    assert_verified(qz_verify(qz, pki, pdf, tmp_path), ["林发起", "陈外部"])
    actions = [e["action"] for e in trail(sender, fid)]
    assert "guest.link_sent" in actions and "guest.link_opened" in actions, actions

    # Naming the same phone with another ID number reveals nothing to the initiator (no
    # oracle for other people's ID numbers): the flow is created; the phone's owner, whose
    # verified identity differs, could not sign it (identity_mismatch, checked below for a
    # registered person through the same rule).
    other_flow = create_flow(sender, {
        "title": title("冒名"), "documents": docs_of(upload_pdf(platform, sender)),
        "signers": [{"phone": phone, "name": "陈外部", "id_number": id_number()}]})
    assert other_flow["signers"][0]["user_id"] == me["user"]["id"], other_flow
    # Incomplete guest data is refused plainly.
    r = sender.api.post("/flows", {
        "title": title("缺证件"), "documents": docs_of(upload_pdf(platform, sender)),
        "signers": [{"phone": new_phone(), "name": "无证件"}]})
    expect(r, 400)
    # The guest account cannot log in to the portal with an SMS code...
    r = requests.post(platform.server.url("/api/v1/auth/codes"),
                      json={"purpose": "login", "to": phone}, timeout=30)
    assert r.status_code == 202, r.text
    r = requests.post(platform.server.url("/api/v1/auth/login"),
                      json={"phone": phone, "code": "123456"}, timeout=30)
    assert r.status_code in (400, 401, 403), r.text
    # ...but registering the number takes the account over, flows and identity included.
    owner = platform.register(name="陈外部", phone=phone)
    assert owner.id == me["user"]["id"], (owner.id, me)
    assert owner.api.ok("GET", "/me")["user"]["guest"] is False
    assert fid in [f["id"] for f in owner.api.ok("GET", "/flows", params={"box": "completed"})["items"]]


def test_a_named_registered_person_must_match(platform: Platform):
    """A registered person named by phone with a name and ID number signs only if their own
    verified identity is that one."""
    sender = platform.verified_user("邹发起")
    other = platform.verified_user("邹收件")
    flow = create_flow(sender, {
        "title": title("指定身份"), "documents": docs_of(upload_pdf(platform, sender)),
        "signers": [{"phone": other.phone, "name": "邹收件", "id_number": id_number(),
                     "positions": [at(0)]}]})
    assert flow["signers"][0]["user_id"] == other.id
    assert flow["signers"][0]["expected_name"] == "邹收件", flow["signers"]
    r = sign(other, flow["id"], default_seal(other), code="123456")
    expect(r, 403, "identity_mismatch")
    right = create_flow(sender, {
        "title": title("指定身份对"), "documents": docs_of(upload_pdf(platform, sender)),
        "signers": [{"phone": other.phone, "name": "邹收件", "id_number": other.id_number,
                     "positions": [at(0)]}]})
    done = other.api.ok("POST", f"/flows/{right['id']}/sign",
                        {"seal_id": default_seal(other), "code": sign_code(platform, other)})
    assert done["status"] == "completed", done


def test_reminder_replaces_the_guest_link(platform: Platform):
    sender = platform.verified_user("吴提醒")
    phone = new_phone()
    flow = create_flow(sender, {
        "title": title("提醒外部"), "documents": docs_of(upload_pdf(platform, sender)),
        "signers": [{"phone": phone, "name": "郭外部", "id_number": id_number()}]})
    first = link_token(platform, phone)
    out = sender.api.ok("POST", f"/flows/{flow['id']}/remind")
    assert len(out["reminded"]) == 1, out
    second = link_token(platform, phone, seen={first})
    gone = requests.get(platform.server.url(f"/api/v1/guest/{first}"), timeout=30)
    assert gone.status_code == 410, gone.text
    assert requests.get(platform.server.url(f"/api/v1/guest/{second}"), timeout=30).status_code == 200
    # Batch reminders (批量催签): an answer per flow; the signer just reminded is skipped (once an
    # hour), a flow the caller cannot see is an error of its own, not of the batch.
    batch = sender.api.ok("POST", "/flows/remind", {"ids": [flow["id"], "no-such-flow"]})
    assert batch[0] == {"id": flow["id"], "reminded": [], "skipped": [flow["signers"][0]["id"]]}, batch
    assert batch[1]["id"] == "no-such-flow" and batch[1]["error"] == "not_found", batch
    expect(sender.api.post("/flows/remind", {"ids": []}), 400)
    # The guest declines through the link: the flow is void.
    guest = open_link(platform, phone, second)
    declined = guest.ok("POST", f"/flows/{flow['id']}/decline", {"reason": "条款有误"})
    assert declined["status"] == "declined", declined


# --------------------------------------------------------------------------- token

def openssl_key(path: Path, curve: str = "prime256v1") -> None:
    r = subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
                        f"ec_paramgen_curve:{curve}", "-out", str(path)], capture_output=True)
    assert r.returncode == 0, r.stderr


def token_env(user: User) -> dict:
    return {**os.environ, "QZ_SESSION": user.api.s.cookies.get("qz_session"),
            "QZ_CSRF": user.api.csrf}


def test_token_certificate_signs_through_the_helper(platform: Platform, pki: Path, qz: Path,
                                                    tmp_path: Path):
    person = platform.verified_user("冯介质")
    key = tmp_path / "token.key"
    openssl_key(key)
    conn = ["--server", platform.server.base, "--session-env", "QZ_SESSION", "--csrf-env",
            "QZ_CSRF", "--key", key]
    code = sign_code(platform, person)
    r = run([qz, "token", "enroll", *conn, "--code", code, "--out", tmp_path / "token.pem"],
            env=token_env(person))
    assert r.returncode == 0, r.stderr
    enrolled = json.loads(r.stdout)
    assert enrolled["custody"] == "token" and enrolled["status"] == "active", enrolled
    certs = person.api.ok("GET", "/me/certificates")["items"]
    assert sorted(c["custody"] for c in certs if c["status"] == "active") == ["token"], certs
    assert any(c["custody"] == "hosted" and c["status"] == "revoked" for c in certs), certs
    # The certificate names the verified person and holds the token's key.
    pub_cert = subprocess.run(["openssl", "x509", "-in", tmp_path / "token.pem", "-noout",
                               "-pubkey"], capture_output=True, text=True)
    pub_key = subprocess.run(["openssl", "pkey", "-in", key, "-pubout"], capture_output=True,
                             text=True)
    assert pub_cert.stdout == pub_key.stdout, (pub_cert.stderr, pub_key.stderr)

    blob = upload_pdf(platform, person, "token contract")
    flow = create_flow(person, {"title": title("介质签署"), "documents": docs_of(blob),
                                "signers": [{"user_id": person.id, "positions": [at(0)]}]})
    fid = flow["id"]
    r = sign(person, fid, default_seal(person))
    assert r.status_code == 202, r.text
    pending = r.json()
    assert pending["method"] == "token" and pending["status"] == "pending", pending
    [doc] = pending["documents"]
    assert doc["idx"] == 0 and doc["version"] == 0 and len(doc["digest"]) == 64, doc
    assert [p["id"] for p in person.api.ok("GET", "/me/pending-signatures")] == [pending["id"]]
    # Nobody else sees it.
    stranger = platform.verified_user("路人甲")
    expect(stranger.api.get(f"/pending-signatures/{pending['id']}"), 404)
    # A value the key did not make is refused, and nothing is appended.
    forged = person.api.post(f"/pending-signatures/{pending['id']}/finish",
                             {"signatures": [{"idx": 0, "signature": "3006020101020101"}]})
    expect(forged, 400)
    assert person.api.ok("GET", f"/flows/{fid}")["documents"][0]["version"] == 0

    r = run([qz, "token", "sign-pending", *conn, "--pending", pending["id"]], env=token_env(person))
    assert r.returncode == 0, r.stderr
    done = person.api.ok("GET", f"/flows/{fid}")
    assert done["status"] == "completed", done
    assert person.api.ok("GET", f"/pending-signatures/{pending['id']}")["status"] == "done"
    assert person.api.ok("GET", "/me/pending-signatures") == []
    pdf = download(person, fid, 0)
    judge_pdf(pdf, tmp_path, pki, signer="冯介质")
    report = qz_verify(qz, pki, pdf, tmp_path)
    assert_verified(report, ["冯介质"])
    assert report["signatures"][0]["signature_algorithm"].startswith("ecdsa"), report
    # Finishing twice does not sign twice.
    again = person.api.post(f"/pending-signatures/{pending['id']}/finish",
                            {"signatures": [{"idx": 0, "signature": "00"}]})
    expect(again, 410)
    # An SMS code cannot sign for a token certificate.
    blob = upload_pdf(platform, person, "second")
    flow2 = create_flow(person, {"title": title("介质短信"), "documents": docs_of(blob),
                                 "signers": [{"user_id": person.id, "positions": [at(0)]}]})
    # (The custody is checked before the code, so no second code this minute is needed.)
    r = sign(person, flow2["id"], default_seal(person), code="123456")
    expect(r, 409, "token_required")
    # Cancelled on the "phone": finishing it is refused.
    p2 = sign(person, flow2["id"], default_seal(person)).json()
    person.api.ok("POST", f"/pending-signatures/{p2['id']}/cancel", status=204)
    expect(person.api.post(f"/pending-signatures/{p2['id']}/finish", {"signatures": []}), 410)


# --------------------------------------------------------------------------- settings, Word

def docx_bytes(text: str) -> bytes:
    """A minimal Word document (the three parts Word needs)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml",
                   '<?xml version="1.0" encoding="UTF-8"?>'
                   '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                   '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
                   '<Default Extension="xml" ContentType="application/xml"/>'
                   '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>'
                   '</Types>')
        z.writestr("_rels/.rels",
                   '<?xml version="1.0" encoding="UTF-8"?>'
                   '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                   '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/>'
                   '</Relationships>')
        z.writestr("word/document.xml",
                   '<?xml version="1.0" encoding="UTF-8"?>'
                   '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
                   f'<w:body><w:p><w:r><w:t>{text}</w:t></w:r></w:p></w:body></w:document>')
    return buf.getvalue()


def test_flow_settings_and_word_documents(platform: Platform, pki: Path, qz: Path,
                                          tmp_path: Path):
    admin = platform.admin
    person = platform.verified_user("钟设置")
    defaults = person.api.ok("GET", "/settings/flows")
    assert defaults["business_types"] == [] and defaults["max_documents"] == 20, defaults
    expect(person.api.put("/admin/settings/flows", defaults), 403)
    bad = dict(defaults, file_types=["exe"])
    expect(admin.put("/admin/settings/flows", bad), 400)
    settings = {"business_types": ["采购合同", "劳动合同"], "file_types": ["pdf", "docx"],
                "max_file_mb": 5, "max_documents": 2, "default_deadline_days": 7}
    try:
        assert admin.ok("PUT", "/admin/settings/flows", settings) == settings
        assert person.api.ok("GET", "/settings/flows") == settings
        blobs = [upload_pdf(platform, person, f"doc{i}") for i in range(3)]
        body = {"title": title("设置"), "documents": docs_of(blobs[0]),
                "signers": [{"user_id": person.id, "positions": [at(0)]}]}
        expect(person.api.post("/flows", dict(body, business_type="其他")), 400)
        expect(person.api.post("/flows", dict(body, documents=docs_of(*blobs))), 400)
        flow = create_flow(person, dict(body, business_type="采购合同"))
        # No deadline given: the default of 7 days.
        assert flow["deadline"] is not None
        assert 7 * 86400 - 60 < flow["deadline"] - flow["created_at"] <= 7 * 86400 + 60, flow

        word = platform.upload(person.api, docx_bytes("采购合同正文 Purchase agreement"))
        assert word["content_type"].endswith("wordprocessingml.document"), word
        converted = create_flow(person, {
            "title": title("Word合同"), "business_type": "劳动合同",
            "documents": [{"blob_id": word["id"], "name": "合同.docx"}],
            "signers": [{"user_id": person.id, "positions": [at(0, x=100, y=100)]}]})
        pdf = download(person, converted["id"], 0)
        assert pdf.startswith(b"%PDF-"), pdf[:20]
        text = subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True).stdout
        assert "Purchase agreement" in text.decode(), text
        done = person.api.ok("POST", f"/flows/{converted['id']}/sign",
                             {"seal_id": default_seal(person), "code": sign_code(platform, person)})
        assert done["status"] == "completed", done
        signed = download(person, converted["id"], 0)
        judge_pdf(signed, tmp_path, pki, signer="钟设置")

        # A file type the settings leave out.
        off = dict(settings, file_types=["pdf"])
        admin.ok("PUT", "/admin/settings/flows", off)
        r = person.api.post("/flows", {"title": title("禁Word"), "business_type": "采购合同",
                                       "documents": [{"blob_id": word["id"]}],
                                       "signers": [{"user_id": person.id}]})
        expect(r, 400)
    finally:
        admin.ok("PUT", "/admin/settings/flows", defaults)
    assert [e["action"] for e in admin.ok("GET", "/admin/trail", params={"object": "setting:settings:flows"})["items"]
            ].count("setting.changed") >= 3


# --------------------------------------------------------------------------- report

def test_completion_report(platform: Platform, pki: Path, qz: Path, tmp_path: Path):
    a = platform.verified_user("蒋报告")
    b = platform.verified_user("沈对方")
    blob = upload_pdf(platform, a, "report")
    name = title("报告合同")
    flow = create_flow(a, {"title": name, "business_type": "采购", "documents": docs_of(blob),
                           "signers": [{"user_id": a.id, "positions": [at(0, x=80)]},
                                       {"user_id": b.id, "positions": [at(0, x=300)]}]})
    fid = flow["id"]
    expect(a.api.get(f"/flows/{fid}/report"), 409, "state")
    for user in (a, b):
        user.api.ok("POST", f"/flows/{fid}/sign",
                    {"seal_id": default_seal(user), "code": sign_code(platform, user)})
    r = a.api.get(f"/flows/{fid}/report")
    expect(r, 200)
    assert r.headers["content-type"] == "application/pdf"
    report = r.content
    path = tmp_path / "report.pdf"
    path.write_bytes(report)
    check = subprocess.run(["qpdf", "--check", path], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    # Signed by the platform, timestamped, trusted under the platform root.
    verified = qz_verify(qz, pki, report, tmp_path)
    [sig] = verified["signatures"]
    assert sig["intact"] and sig["valid"] and sig["trusted"], verified
    assert sig["timestamp"] is not None, verified
    assert "Qianzhang" in sig["signer"]["common_name"], sig["signer"]
    text = subprocess.run(["pdftotext", path, "-"], capture_output=True, text=True).stdout
    flat = re.sub(r"\s+", "", text)
    final = a.api.ok("GET", f"/flows/{fid}")["documents"][0]
    for needle in (name, "蒋报告", "沈对方", "短信验证码", "实名认证", fid,
                   sha256(download(a, fid, 0)), final["current_sha256"], "document.signed"):
        assert re.sub(r"\s+", "", needle) in flat, (needle, text[:3000])
    # Only who may see the flow gets the report.
    stranger = platform.verified_user("无关人")
    expect(stranger.api.get(f"/flows/{fid}/report"), 404)


# --------------------------------------------------------------------------- abnormal

def test_abnormal_tasks_list_failed_messages(platform: Platform):
    sender = platform.verified_user("秦异常")
    phone, number = new_phone(), id_number()
    # Each flow texts the guest a link; this server sends a number at most MESSAGES_PER_HOUR
    # messages an hour, so the next one cannot go out. The flow stands; the failure is listed.
    flows = []
    for i in range(MESSAGES_PER_HOUR + 1):
        flows.append(create_flow(sender, {
            "title": title(f"异常{i}"), "documents": docs_of(upload_pdf(platform, sender)),
            "signers": [{"phone": phone, "name": "贺外部", "id_number": number}]}))
    failures = sender.api.ok("GET", "/flows/abnormal")
    assert failures, failures
    assert len(failures) == 1, failures
    last = failures[0]
    assert last["flow_id"] == flows[-1]["id"] and last["kind"] == "notification", failures
    assert phone in last["reason"], last
    assert last["signer_id"] == flows[-1]["signers"][0]["id"], last
    # Others do not see them; the platform admin sees all.
    other = platform.verified_user("旁观者")
    assert other.api.ok("GET", "/flows/abnormal") == []
    expect(other.api.get("/flows/abnormal", params={"scope": "all"}), 403)
    assert any(f["id"] == last["id"] for f in
               platform.admin.ok("GET", "/flows/abnormal", params={"scope": "all"}))


# --------------------------------------------------------------------------- cross-page

def pages_pdf(pages: int) -> bytes:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4)
    for n in range(pages):
        c.drawString(72, 760, f"page {n + 1} {secrets.token_hex(4)}")
        c.showPage()
    c.save()
    return buf.getvalue()


def reds(image) -> int:
    """Seal-red pixels of an RGB image."""
    px = image.load()
    w, h = image.size
    return sum(1 for x in range(w) for y in range(h)
               if px[x, y][0] > 150 and px[x, y][1] < 110 and px[x, y][2] < 110)


def test_cross_page_and_multi_page_seals(platform: Platform, pki: Path, qz: Path,
                                         tmp_path: Path):
    """骑缝章 over pages 1–4 and a seal on several pages, in one signature per document: the
    marks land where asked (qz verify reports each mark's page), the strips sit at the right
    edge and add up to the seal's width."""
    person = platform.verified_user("杜骑缝")
    blob = platform.upload(person.api, pages_pdf(4))
    flow = create_flow(person, {"title": title("骑缝"), "documents": docs_of(blob),
                                "signers": [{"user_id": person.id}]})
    placements = [
        {"document": 0, "page": 1, "x": 0, "y": 300, "width": 120, "cross_page": {"to": 4}},
        {"document": 0, "page": 2, "x": 100, "y": 100, "width": 80},
        {"document": 0, "page": 4, "x": 100, "y": 100, "width": 80},
    ]
    bad = [dict(placements[0], cross_page={"to": 9})]
    expect(sign(person, flow["id"], default_seal(person), placements=bad, code="000000"), 400)
    done = person.api.ok("POST", f"/flows/{flow['id']}/sign",
                         {"seal_id": default_seal(person), "placements": placements,
                          "code": sign_code(platform, person)})
    assert done["status"] == "completed", done
    pdf = download(person, flow["id"], 0)
    judge_pdf(pdf, tmp_path, pki, signer="杜骑缝")
    report = qz_verify(qz, pki, pdf, tmp_path)
    assert_verified(report, ["杜骑缝"])
    marks = report["signatures"][0]["marks"]
    assert sorted(m["page"] for m in marks) == [1, 2, 2, 3, 4, 4], marks
    edge = [m for m in marks if abs(m["rect"][0] + m["rect"][2] - 595.28) < 0.5]
    assert sorted(m["page"] for m in edge) == [1, 2, 3, 4], marks
    assert abs(sum(m["rect"][2] for m in edge) - 120) < 0.5, edge
    assert all(abs(m["rect"][1] - 300) < 0.5 for m in edge), edge

    # Page images from the server: sizes as displayed, and the cross-page strip visible at the
    # right edge of page 3 (a page with no other seal).
    sizes = person.api.ok("GET", f"/flows/{flow['id']}/documents/0/pages")
    assert [s["page"] for s in sizes] == [1, 2, 3, 4], sizes
    assert all(abs(s["width"] - 595.28) < 0.5 and abs(s["height"] - 841.89) < 0.5 for s in sizes)
    r = person.api.get(f"/flows/{flow['id']}/documents/0/pages/3", params={"width": 600})
    expect(r, 200)
    assert r.headers["content-type"] == "image/png"
    from PIL import Image
    im = Image.open(io.BytesIO(r.content)).convert("RGB")
    assert im.size[0] == 600, im.size
    scale = 600 / 595.28
    strip = [m for m in edge if m["page"] == 3][0]["rect"]
    box_px = (int(strip[0] * scale), int((841.89 - strip[1] - strip[3]) * scale),
              599, int((841.89 - strip[1]) * scale))
    red = reds(im.crop(box_px))
    assert red > 20, (box_px, red)
    left = im.crop((0, box_px[1], 300, box_px[3]))
    assert reds(left) == 0
    expect(person.api.get(f"/flows/{flow['id']}/documents/0/pages/9"), 400)
    # The same renderer from the command line.
    signed = tmp_path / "cross.pdf"
    signed.write_bytes(pdf)
    out = run([qz, "render", signed, "--page", "3", "--width", "600", "-o", tmp_path / "p3.png"])
    assert out.returncode == 0, out.stderr
    assert Image.open(tmp_path / "p3.png").size == im.size
    missing = run([qz, "render", signed, "--page", "9", "-o", tmp_path / "p9.png"])
    assert missing.returncode != 0 and "4 pages" in missing.stderr, missing.stderr
    stranger = platform.verified_user("看客")
    expect(stranger.api.get(f"/flows/{flow['id']}/documents/0/pages/1"), 404)
