"""Signing flows (签署流程) over HTTP, on SQLite and PostgreSQL: single-party signing of a
contract group with preset positions, an ordered two-person flow with its inboxes and CC, an
organization's slot signed by a seal operator holding a grant, parallel signers racing on one
document, declining and revoking, a retried sign request, outsiders and validation.

Every signed document is downloaded and judged from outside: pyHanko / pdfsig / qpdf
(tests/interop/check.py) with the platform root as the only trust anchor, and `qz verify
--json` (every signature intact, valid, trusted, with an RFC 3161 timestamp: PAdES B-T).

A phone gets one `sign` code a minute: every user here receives at most one."""
from __future__ import annotations

import hashlib
import io
import json
import secrets
import threading
import time
import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests

from conftest import Platform, User, assert_problem, expect, free_port, fresh_dir, png_bytes, run
from test_seals import (World, _load_interop_check, active, grant, judge_pdf, now, pki,
                        sign_code, upload_pdf)

__all__ = ["pki"]  # the fixture, imported for this module

CST = timezone(timedelta(hours=8))


# --------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def platform(backend, module_servers) -> Platform:
    """As in test_seals: a known port and QZ_BASE_URL, so the OCSP and CRL addresses in the
    certificates reach this server (pdfsig asks the OCSP responder)."""
    port = free_port()
    data = fresh_dir(module_servers.root, f"test_flows-{backend}")
    server = module_servers.start(backend=backend, label="test_flows", data=data,
                                  args=["--data", str(data), "--listen", f"127.0.0.1:{port}"],
                                  env={"QZ_BASE_URL": f"http://127.0.0.1:{port}"})
    assert server.base == f"http://127.0.0.1:{port}", server.base
    return Platform(server)


@pytest.fixture(scope="module")
def world(platform: Platform) -> World:
    """A verified company: its admin, a seal operator holding a grant of the official seal, a
    plain member without one, and a verified outsider."""
    org, owner = platform.company(name=f"千章流程测试有限公司{secrets.token_hex(3)}")
    oid = org["id"]
    operator = platform.add_member(oid, owner.api, role="seal_operator",
                                   user=platform.verified_user("王经办"))
    member = platform.add_member(oid, owner.api, user=platform.verified_user("赵无权"))
    outsider = platform.verified_user("钱路人")
    official = owner.api.ok("POST", f"/orgs/{oid}/seals", {"kind": "official"}, status=201)
    certs = owner.api.ok("GET", f"/orgs/{oid}/certificates")
    live = active(certs)
    assert len(live) == 1, certs
    w = World(org=org, owner=owner, operator=operator, member=member, outsider=outsider,
              official=official, org_cert=live[0])
    grant(w, official["id"], operator)
    return w


# --------------------------------------------------------------------------- helpers

def at(document: int, x: float = 100, y: float = 100, page: int = 1, width: float = 90) -> dict:
    """A stamp position on a document of the flow."""
    return {"document": document, "page": page, "x": x, "y": y, "width": width}


def title(label: str) -> str:
    return f"{label}-{secrets.token_hex(3)}"


def create_flow(user: User, body: dict) -> dict:
    flow = user.api.ok("POST", "/flows", body, status=201)
    assert flow["id"] and flow["status"] == "in_progress", flow
    return flow


def docs_of(*blobs: dict) -> list[dict]:
    return [{"blob_id": b["id"], "name": f"文件{i + 1}.pdf"} for i, b in enumerate(blobs)]


def default_seal(user: User) -> str:
    seals = [s for s in user.api.ok("GET", "/me/seals") if s["is_default"]]
    assert len(seals) == 1, seals
    return seals[0]["id"]


def box(user: User, name: str) -> list[str]:
    """Every flow id in one inbox view, following the cursor."""
    ids, cursor = [], None
    while True:
        params = {"box": name, "limit": 100}
        if cursor:
            params["cursor"] = cursor
        page = user.api.ok("GET", "/flows", params=params)
        for item in page["items"]:
            for key in ("id", "title", "initiator", "status", "created_at", "updated_at"):
                assert key in item, (key, item)
        ids += [item["id"] for item in page["items"]]
        cursor = page.get("next_cursor")
        if not cursor:
            return ids


def messages(user: User, template: str | None = None) -> list[dict]:
    items = user.api.ok("GET", "/me/messages", params={"limit": 100})["items"]
    return [m for m in items if template is None or m["template"] == template]


def told(user: User, template: str, flow_title: str, timeout: float = 5) -> list[dict]:
    """The in-app messages of `template` about `flow_title` (waits a little: notifications
    are queued after the answer)."""
    deadline = time.monotonic() + timeout
    while True:
        found = [m for m in messages(user, template) if flow_title in m["body"]]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def trail(user: User, flow_id: str) -> list[dict]:
    events = user.api.ok("GET", f"/flows/{flow_id}/trail")
    assert isinstance(events, list), events
    return events


def download(user: User, flow_id: str, idx: int) -> bytes:
    r = user.api.get(f"/flows/{flow_id}/documents/{idx}")
    expect(r, 200)
    assert r.headers["content-type"] == "application/pdf", r.headers
    return r.content


def sign(user: User, flow_id: str, seal_id: str, **extra) -> requests.Response:
    return user.api.post(f"/flows/{flow_id}/sign", {"seal_id": seal_id, **extra})


def slot_of(flow: dict, user_id: str | None = None, org_id: str | None = None) -> dict:
    found = [s for s in flow["signers"]
             if (user_id and s["user_id"] == user_id) or (org_id and s["org_id"] == org_id)]
    assert len(found) == 1, (user_id, org_id, flow["signers"])
    return found[0]


def qz_verify(qz: Path, pki: Path, pdf: bytes, directory: Path) -> dict:
    """`qz verify --json --trust root.pem`; the report with its exit code as `_rc`."""
    path = directory / f"verify-{secrets.token_hex(4)}.pdf"
    path.write_bytes(pdf)
    r = run([qz, "verify", "--json", "--trust", pki / "root.pem", path], timeout=120)
    assert r.stdout.strip(), f"qz verify printed nothing (exit {r.returncode}):\n{r.stderr}"
    report = json.loads(r.stdout)
    assert report["schema"] == "qianzhang.verify/1", report
    report["_rc"] = r.returncode
    return report


def assert_verified(report: dict, signers: list[str]) -> None:
    """`qz verify`: exactly these signers (common names, in signing order), each signature
    intact, valid, trusted, timestamped (B-T) and not broken; the whole verdict passes."""
    sigs = report["signatures"]
    text = json.dumps(report, ensure_ascii=False, indent=1)[:6000]
    assert len(sigs) == len(signers), f"{len(sigs)} signatures, expected {len(signers)}:\n{text}"
    assert [s["signer"]["common_name"] for s in sigs] == signers, text
    for s in sigs:
        assert s["intact"] is True and s["valid"] is True and s["trusted"] is True, text
        assert s["kind"] == "approval", text
        assert s["timestamp"] is not None, f"signature without a timestamp (not B-T):\n{text}"
        assert s["timestamp"]["valid"] is True and s["timestamp"]["trusted"] is not False, text
        assert s["status"] in ("valid", "allowed_change"), text
        # After a signature only further signatures (form filling) or LTA data may follow.
        assert s["modification"] in ("none", "lta_updates", "form_filling"), text
    # The last signature covers the whole file and nothing follows it.
    assert sigs[-1]["coverage"] == "entire_file" and sigs[-1]["status"] == "valid", text
    assert report["_rc"] == 0, text
    if len(signers) == 1:
        assert report["verdict"] == "VALID", text
    else:
        # Later signatures are allowed changes to the earlier ones: README, "ALLOWED_CHANGE: as
        # VALID, but later revisions only add signatures" (VALID: nothing changed after it).
        assert report["verdict"] == "ALLOWED_CHANGE", text


def judge_many(pdf: bytes, directory: Path, pki: Path, signers: list[str]) -> None:
    """judge_pdf for a file with several signatures: pyHanko, pdfsig and qpdf accept every one
    (earlier ones see only allowed changes after them), signers in order."""
    check = _load_interop_check()
    path = directory / f"signed-{secrets.token_hex(4)}.pdf"
    path.write_bytes(pdf)
    res = check.check_pdf(path, trust=[pki / "root.pem"], certs=[pki / "ca.pem"],
                          expect_sigs=len(signers))
    assert len(res.pyhanko) == len(signers), res.explain()
    for info, name in zip(res.pyhanko, signers):
        assert info["error"] is None and info["intact"], f"signature not intact:\n{res.explain()}"
        assert name in info["signer"], f"pyHanko signer {info['signer']!r}, expected {name!r}"
    assert res.ok, res.explain() + "\n" + res.pdfsig_raw


def pyhanko_timestamps(pdf: bytes, pki: Path) -> list:
    """pyHanko's view of each signature's timestamp token (None when there is none)."""
    from pyhanko.keys import load_cert_from_pemder
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext
    root = load_cert_from_pemder(str(pki / "root.pem"))

    def vc():
        return ValidationContext(trust_roots=[root], allow_fetching=False,
                                 revocation_mode="soft-fail")

    out = []
    for emb in PdfFileReader(io.BytesIO(pdf)).embedded_signatures:
        status = validate_pdf_signature(emb, vc(), ts_validation_context=vc())
        out.append(status.timestamp_validity)
    return out


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def end_of_china_day(d: date) -> int:
    return int(datetime(d.year, d.month, d.day, tzinfo=CST).timestamp()) + 86400


def china_today() -> date:
    return datetime.now(CST).date()


# --------------------------------------------------------------------------- single party

def test_single_party_contract_group(platform: Platform, pki: Path, qz: Path, tmp_path: Path):
    me = platform.verified_user("韩单签")
    blobs = [upload_pdf(platform, me, "main contract"), upload_pdf(platform, me, "annex")]
    originals = [me.api.get(f"/blobs/{b['id']}").content for b in blobs]
    presets = [at(0, x=120, y=140), at(1, x=300, y=200, width=110)]
    name = title("单方合同组")
    t0 = now()
    flow = create_flow(me, {
        "title": name, "business_type": "合同",
        "documents": [{"blob_id": blobs[0]["id"], "name": "主合同.pdf"},
                      {"blob_id": blobs[1]["id"], "name": "附件一.pdf"}],
        "signers": [{"user_id": me.id, "positions": presets}],
    })
    fid = flow["id"]
    assert flow["title"] == name and flow["business_type"] == "合同", flow
    assert flow["initiator"] == me.id and flow["acting_for"] is None, flow
    assert flow["deadline"] is None and flow["reason"] is None and flow["ended_at"] is None, flow
    assert t0 - 5 <= flow["created_at"] <= now() + 5, flow
    assert flow["cc"] == [], flow
    docs = flow["documents"]
    assert [d["idx"] for d in docs] == [0, 1], docs
    assert [d["name"] for d in docs] == ["主合同.pdf", "附件一.pdf"], docs
    for d, b, original in zip(docs, blobs, originals):
        assert d["original_blob"] == b["id"] and d["version"] == 0, d
        assert d["current_sha256"] == sha256(original) and d["size"] == len(original), d
    [slot] = flow["signers"]
    assert slot["user_id"] == me.id and slot["org_id"] is None and slot["stage"] == 0, slot
    assert slot["status"] == "waiting" and slot["may_decline"] is True, slot
    assert slot["signed_by"] is None and slot["ended_at"] is None, slot
    assert slot["positions"] == presets, slot
    # Unsigned, the documents are the originals.
    assert [download(me, fid, i) for i in (0, 1)] == originals
    assert fid in box(me, "todo") and fid in box(me, "initiated")
    assert fid not in box(me, "completed")
    assert told(me, "flow_waiting", name), messages(me)

    # One-click signing: the presets, the default name seal, the SMS code.
    code = sign_code(platform, me)
    expect(sign(me, fid, default_seal(me)), 400)  # no code, no auto-sign
    wrong = "000000" if code != "000000" else "111111"
    expect(sign(me, fid, default_seal(me), code=wrong), 400, "wrong_code")
    assert me.api.ok("GET", f"/flows/{fid}")["documents"][0]["version"] == 0
    done = me.api.ok("POST", f"/flows/{fid}/sign", {"seal_id": default_seal(me), "code": code},
                     status=200)
    assert done["status"] == "completed" and done["ended_at"] is not None, done
    [slot] = done["signers"]
    assert slot["status"] == "signed" and slot["signed_by"] == me.id, slot
    assert slot["ended_at"] is not None, slot
    assert [d["version"] for d in done["documents"]] == [1, 1], done["documents"]
    assert me.api.ok("GET", f"/flows/{fid}") == done

    for d, original in zip(done["documents"], originals):
        pdf = download(me, fid, d["idx"])
        assert sha256(pdf) == d["current_sha256"] and len(pdf) == d["size"], d
        assert pdf.startswith(original) and len(pdf) > len(original), \
            f"document {d['idx']}: the signature is not an incremental update of the original"
        judge_pdf(pdf, tmp_path, pki, signer="韩单签")
        assert_verified(qz_verify(qz, pki, pdf, tmp_path), ["韩单签"])
        [ts] = pyhanko_timestamps(pdf, pki)
        assert ts is not None, f"pyHanko finds no signature timestamp in document {d['idx']}"
        assert ts.intact and ts.valid, ts

    assert fid in box(me, "completed") and fid not in box(me, "todo")
    assert told(me, "flow_ended", name), messages(me)
    events = trail(me, fid)
    actions = [e["action"] for e in events]
    assert actions[0] == "flow.created", actions
    assert actions.count("document.signed") == 2 and actions.count("signer.signed") == 1, actions
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1)), events
    for prev, e in zip(events, events[1:]):
        assert e["prev_hash"] == prev["hash"], (prev, e)
    assert all(e["object"] == f"flow:{fid}" for e in events), events


# --------------------------------------------------------------------------- ordered, CC

def test_ordered_two_signers_with_cc(platform: Platform, pki: Path, qz: Path, tmp_path: Path):
    a = platform.verified_user("甲先签")
    b = platform.verified_user("乙后签")
    cc = platform.register(name="丙抄送")
    blob = upload_pdf(platform, a, "ordered")
    name = title("顺序签署")
    flow = create_flow(a, {
        "title": name, "order": "ordered", "documents": docs_of(blob), "cc": [cc.id],
        "signers": [{"user_id": a.id, "positions": [at(0, x=80)]},
                    {"phone": b.phone, "positions": [at(0, x=320)]}],
    })
    fid = flow["id"]
    assert flow["cc"] == [cc.id], flow
    sa, sb = slot_of(flow, a.id), slot_of(flow, b.id)
    assert sa["stage"] < sb["stage"], flow["signers"]
    # Everyone on the flow sees it; the CC recipient too.
    for who in (a, b, cc):
        assert who.api.ok("GET", f"/flows/{fid}")["id"] == fid
    assert fid in box(a, "todo") and fid not in box(b, "todo")
    assert fid in box(cc, "cc")
    assert told(a, "flow_waiting", name)
    assert not told(b, "flow_waiting", name, timeout=0.5), "B told to sign before A signed"

    # B first: not their turn, by default slot or by naming it; A's slot is not theirs.
    b_seal = default_seal(b)
    expect(sign(b, fid, b_seal, code="123456"), 409, "state")
    expect(sign(b, fid, b_seal, code="123456", signer_id=sb["id"]), 409, "state")
    expect(sign(b, fid, b_seal, code="123456", signer_id=sa["id"]), 404)
    assert b.api.ok("GET", f"/flows/{fid}")["documents"][0]["version"] == 0

    # A signs.
    after_a = a.api.ok("POST", f"/flows/{fid}/sign",
                       {"seal_id": default_seal(a), "code": sign_code(platform, a)}, status=200)
    assert after_a["status"] == "in_progress", after_a
    assert slot_of(after_a, a.id)["status"] == "signed"
    assert slot_of(after_a, b.id)["status"] == "waiting"
    assert after_a["documents"][0]["version"] == 1, after_a["documents"]
    assert fid in box(b, "todo"), "B's todo box does not list the flow after A signed"
    assert fid not in box(a, "todo")
    assert fid in box(a, "waiting_others"), "A's waiting_others box does not list the flow"
    assert told(b, "flow_waiting", name), messages(b)

    # B signs: completed.
    done = b.api.ok("POST", f"/flows/{fid}/sign", {"seal_id": b_seal, "code": sign_code(platform, b)},
                    status=200)
    assert done["status"] == "completed" and done["ended_at"] is not None, done
    assert all(s["status"] == "signed" for s in done["signers"]), done["signers"]
    assert slot_of(done, b.id)["signed_by"] == b.id
    assert done["documents"][0]["version"] == 2, done["documents"]
    pdf = download(cc, fid, 0)
    assert sha256(pdf) == done["documents"][0]["current_sha256"]
    assert_verified(qz_verify(qz, pki, pdf, tmp_path), ["甲先签", "乙后签"])
    judge_many(pdf, tmp_path, pki, ["甲先签", "乙后签"])
    assert all(ts is not None and ts.intact and ts.valid for ts in pyhanko_timestamps(pdf, pki))

    for who in (a, b):
        assert fid in box(who, "completed"), f"{who.name}: completed box misses the flow"
        assert fid not in box(who, "todo") and fid not in box(who, "waiting_others")
    assert fid in box(cc, "cc")
    for who in (a, b, cc):
        assert told(who, "flow_ended", name), f"{who.name} got no flow_ended: {messages(who)}"
    actions = [e["action"] for e in trail(cc, fid)]
    assert actions.count("signer.signed") == 2 and actions.count("document.signed") == 2, actions


def test_staged_order(platform: Platform):
    """order=staged: by stage number, not by the order listed; one stage at a time."""
    initiator = platform.verified_user("许分阶")
    late = platform.verified_user("何二阶")
    early = platform.verified_user("吕一阶")
    name = title("分阶段签署")
    flow = create_flow(initiator, {
        "title": name, "order": "staged", "documents": docs_of(upload_pdf(platform, initiator, "staged")),
        "signers": [{"user_id": late.id, "stage": 2, "positions": [at(0, x=300)]},
                    {"user_id": early.id, "stage": 1, "positions": [at(0)]}],
    })
    fid = flow["id"]
    assert slot_of(flow, late.id)["stage"] == 2 and slot_of(flow, early.id)["stage"] == 1, flow
    assert fid in box(early, "todo") and fid not in box(late, "todo")
    assert fid in box(initiator, "waiting_others") and fid in box(initiator, "initiated")
    expect(sign(late, fid, default_seal(late), code="123456"), 409, "state")
    expect(late.api.post(f"/flows/{fid}/decline", {"reason": "还没轮到"}), 409, "state")
    out = early.api.ok("POST", f"/flows/{fid}/sign",
                       {"seal_id": default_seal(early), "code": sign_code(platform, early)},
                       status=200)
    assert out["status"] == "in_progress", out
    assert fid in box(late, "todo") and fid not in box(early, "todo")
    assert fid in box(early, "waiting_others")
    assert told(late, "flow_waiting", name), messages(late)
    # The second stage may decline (allowed by default): the flow is void.
    out = late.api.ok("POST", f"/flows/{fid}/decline", {"reason": "条款不同意"}, status=200)
    assert out["status"] == "declined" and out["documents"][0]["version"] == 1, out
    for who in (initiator, early, late):
        assert fid in box(who, "void"), who.name
        assert fid not in box(who, "waiting_others"), who.name


# --------------------------------------------------------------------------- organization slot

def test_org_slot_signed_by_granted_operator(platform: Platform, world: World, pki: Path, qz: Path,
                                             tmp_path: Path):
    oid, org_name = world.org["id"], world.org["name"]
    initiator = platform.verified_user("孙发起")
    blob = upload_pdf(platform, initiator, "org slot")
    name = title("企业签署")
    flow = create_flow(initiator, {
        "title": name, "business_type": "合同", "documents": docs_of(blob),
        "signers": [{"org_id": oid, "positions": [at(0, x=350, y=120, width=120)]}],
    })
    fid = flow["id"]
    slot = slot_of(flow, org_id=oid)
    assert slot["user_id"] is None and slot["status"] == "waiting", slot
    # Members of the signing company see it in their todo box; the admin is told.
    for who in (world.operator, world.member, world.owner):
        assert who.api.ok("GET", f"/flows/{fid}")["id"] == fid
        assert fid in box(who, "todo"), f"{who.name}: todo box misses the org's flow"
    assert told(world.owner, "flow_waiting", name), messages(world.owner)
    expect(world.outsider.api.get(f"/flows/{fid}"), 404)

    official = world.official["id"]
    # A member without a grant may not use the seal (before any code is looked at).
    r = sign(world.member, fid, official, code="123456")
    expect(r, 403)
    assert_problem(r)
    # The operator's own seal does not fit an organization's slot.
    expect(sign(world.operator, fid, default_seal(world.operator), code="123456"), 400)
    # Outsiders see nothing, the company's seal included.
    expect(sign(world.outsider, fid, official, code="123456"), 404)
    assert world.owner.api.ok("GET", f"/flows/{fid}")["documents"][0]["version"] == 0

    code = sign_code(platform, world.operator)
    done = world.operator.api.ok("POST", f"/flows/{fid}/sign", {"seal_id": official, "code": code},
                                 status=200)
    assert done["status"] == "completed", done
    slot = slot_of(done, org_id=oid)
    assert slot["status"] == "signed" and slot["signed_by"] == world.operator.id, slot
    pdf = download(world.member, fid, 0)
    judge_pdf(pdf, tmp_path, pki, signer=org_name)
    report = qz_verify(qz, pki, pdf, tmp_path)
    assert_verified(report, [org_name])
    assert report["signatures"][0]["signer"]["serial"].lower().lstrip("0") == \
        world.org_cert["serial"].lower().lstrip("0"), (report["signatures"][0], world.org_cert)
    # The seal's ledger records the use under the operator's grant.
    uses = world.owner.api.ok("GET", f"/seals/{official}/uses", params={"limit": 100})["items"]
    assert any(u["user_id"] == world.operator.id and u["grant_id"] for u in uses), uses
    assert fid in box(initiator, "completed") and fid in box(world.operator, "completed")
    assert told(initiator, "flow_ended", name) and told(world.operator, "flow_ended", name)


# --------------------------------------------------------------------------- parallel race

def test_parallel_signers_race(platform: Platform, pki: Path, qz: Path, tmp_path: Path):
    initiator = platform.verified_user("周并发")
    names = ["吴并一", "郑并二", "冯并三"]
    signers = [platform.verified_user(n) for n in names]
    blobs = [upload_pdf(platform, initiator, "race a"), upload_pdf(platform, initiator, "race b")]
    flow = create_flow(initiator, {
        "title": title("并行签署"), "documents": docs_of(*blobs),
        "signers": [{"user_id": s.id, "positions": [at(0, x=60 + 150 * i), at(1, x=60 + 150 * i)]}
                    for i, s in enumerate(signers)],
    })
    fid = flow["id"]
    assert {s["stage"] for s in flow["signers"]} == {0}, flow["signers"]
    for s in signers:
        assert fid in box(s, "todo")
    bodies = [{"seal_id": default_seal(s), "code": sign_code(platform, s)} for s in signers]
    barrier = threading.Barrier(len(signers))
    results: list = [None] * len(signers)

    def go(i: int):
        barrier.wait()
        try:
            results[i] = signers[i].api.post(f"/flows/{fid}/sign", bodies[i], timeout=120)
        except Exception as e:  # noqa: BLE001
            results[i] = e

    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(signers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    for r in results:
        assert isinstance(r, requests.Response), r
        expect(r, 200)
    flow = initiator.api.ok("GET", f"/flows/{fid}")
    assert flow["status"] == "completed", flow
    assert all(s["status"] == "signed" for s in flow["signers"]), flow["signers"]
    assert [d["version"] for d in flow["documents"]] == [3, 3], flow["documents"]
    for d in flow["documents"]:
        pdf = download(initiator, fid, d["idx"])
        assert sha256(pdf) == d["current_sha256"], d
        report = qz_verify(qz, pki, pdf, tmp_path)
        got = [s["signer"]["common_name"] for s in report["signatures"]]
        assert sorted(got) == sorted(names), got
        assert_verified(report, got)
        judge_many(pdf, tmp_path, pki, got)
    actions = [e["action"] for e in trail(initiator, fid)]
    assert actions.count("document.signed") == 6 and actions.count("signer.signed") == 3, actions


# --------------------------------------------------------------------------- decline, revoke

def test_decline_and_revoke(platform: Platform, world: World):
    initiator = platform.verified_user("陈发起")
    decliner = platform.verified_user("褚拒签")
    bound = platform.verified_user("卫不可拒")
    name = title("拒签流程")
    flow = create_flow(initiator, {
        "title": name, "documents": docs_of(upload_pdf(platform, initiator, "decline")),
        "signers": [{"user_id": decliner.id, "positions": [at(0)]},
                    {"user_id": bound.id, "may_decline": False, "positions": [at(0, x=300)]}],
    })
    fid = flow["id"]
    assert slot_of(flow, bound.id)["may_decline"] is False
    # May not decline; no reason; outsiders see nothing.
    expect(bound.api.post(f"/flows/{fid}/decline", {"reason": "不想签"}), 403)
    for reason in ("", "   "):
        r = decliner.api.post(f"/flows/{fid}/decline", {"reason": reason})
        expect(r, 400)
        assert_problem(r)
    expect(world.outsider.api.post(f"/flows/{fid}/decline", {"reason": "路过"}), 404)
    assert decliner.api.ok("GET", f"/flows/{fid}")["status"] == "in_progress"

    out = decliner.api.ok("POST", f"/flows/{fid}/decline", {"reason": "金额有误"}, status=200)
    assert out["status"] == "declined" and out["reason"] == "金额有误", out
    assert out["ended_at"] is not None, out
    d_slot = slot_of(out, decliner.id)
    assert d_slot["status"] == "declined" and d_slot["reason"] == "金额有误", d_slot
    assert slot_of(out, bound.id)["status"] == "waiting", out["signers"]
    # Over: nobody signs, declines or revokes any more.
    expect(sign(bound, fid, default_seal(bound), code="123456"), 409, "state")
    expect(decliner.api.post(f"/flows/{fid}/decline", {"reason": "再拒一次"}), 409)
    expect(initiator.api.post(f"/flows/{fid}/revoke", {"reason": "撤销已拒签的"}), 409, "state")
    assert initiator.api.ok("GET", f"/flows/{fid}")["status"] == "declined"
    for who in (initiator, decliner, bound):
        assert fid in box(who, "void"), f"{who.name}: void box misses the declined flow"
        assert fid not in box(who, "todo") and fid not in box(who, "completed")
    ended = told(initiator, "flow_ended", name)
    assert ended and "金额有误" in ended[0]["body"], messages(initiator)
    assert told(bound, "flow_ended", name), messages(bound)
    assert "flow.declined" in [e["action"] for e in trail(bound, fid)]

    # Revoking: the initiator alone, with a reason, once.
    name2 = title("撤销流程")
    flow2 = create_flow(initiator, {
        "title": name2, "documents": docs_of(upload_pdf(platform, initiator, "revoke")),
        "signers": [{"user_id": decliner.id, "positions": [at(0)]}],
    })
    fid2 = flow2["id"]
    expect(decliner.api.post(f"/flows/{fid2}/revoke", {"reason": "我想撤"}), 403)
    expect(world.outsider.api.post(f"/flows/{fid2}/revoke", {"reason": "我想撤"}), 404)
    expect(initiator.api.post(f"/flows/{fid2}/revoke", {"reason": " "}), 400)
    assert initiator.api.ok("GET", f"/flows/{fid2}")["status"] == "in_progress"
    out = initiator.api.ok("POST", f"/flows/{fid2}/revoke", {"reason": "条款需重拟"}, status=200)
    assert out["status"] == "revoked" and out["reason"] == "条款需重拟", out
    assert out["ended_at"] is not None, out
    assert decliner.api.ok("GET", f"/flows/{fid2}")["reason"] == "条款需重拟"
    expect(initiator.api.post(f"/flows/{fid2}/revoke", {"reason": "再撤一次"}), 409, "state")
    expect(sign(decliner, fid2, default_seal(decliner), code="123456"), 409, "state")
    expect(decliner.api.post(f"/flows/{fid2}/decline", {"reason": "晚了"}), 409)
    assert fid2 in box(initiator, "void") and fid2 in box(decliner, "void")
    assert fid2 not in box(decliner, "todo")
    ended = told(decliner, "flow_ended", name2)
    assert ended and "条款需重拟" in ended[0]["body"], messages(decliner)
    events = trail(initiator, fid2)
    revoked = [e for e in events if e["action"] == "flow.revoked"]
    assert len(revoked) == 1 and revoked[0]["actor"] == initiator.id, events
    assert "条款需重拟" in revoked[0]["details"], revoked


# --------------------------------------------------------------------------- retries

def test_retried_sign_does_not_sign_twice(platform: Platform, qz: Path, pki: Path, tmp_path: Path):
    initiator = platform.verified_user("蒋重试")
    other = platform.verified_user("沈自动")
    flow = create_flow(initiator, {
        "title": title("重复提交"), "documents": docs_of(upload_pdf(platform, initiator, "retry")),
        "signers": [{"user_id": initiator.id, "positions": [at(0)]},
                    {"user_id": other.id, "positions": [at(0, x=300)]}],
    })
    fid = flow["id"]
    mine = slot_of(flow, initiator.id)
    body = {"seal_id": default_seal(initiator), "code": sign_code(platform, initiator)}
    first = initiator.api.ok("POST", f"/flows/{fid}/sign", body, status=200)
    assert first["status"] == "in_progress" and first["documents"][0]["version"] == 1, first
    # The same request again (a client retry), then naming the slot: 409, nothing appended.
    expect(initiator.api.post(f"/flows/{fid}/sign", body), 409)
    expect(initiator.api.post(f"/flows/{fid}/sign", dict(body, signer_id=mine["id"])), 409,
           "state")
    flow = initiator.api.ok("GET", f"/flows/{fid}")
    assert flow["documents"][0]["version"] == 1, flow["documents"]
    assert flow["documents"][0]["current_sha256"] == first["documents"][0]["current_sha256"]
    pdf = download(initiator, fid, 0)
    assert_verified(qz_verify(qz, pki, pdf, tmp_path), ["蒋重试"])

    # A double submit at the same moment, under auto-sign (no code to spend): one signature.
    other.api.ok("POST", "/me/autosign", {"code": sign_code(platform, other)}, status=201)
    auto = {"seal_id": default_seal(other), "autosign": True}
    barrier = threading.Barrier(2)
    results: list = [None, None]

    def go(i: int):
        barrier.wait()
        try:
            results[i] = other.api.post(f"/flows/{fid}/sign", auto, timeout=120)
        except Exception as e:  # noqa: BLE001
            results[i] = e

    threads = [threading.Thread(target=go, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    assert all(isinstance(r, requests.Response) for r in results), results
    statuses = sorted(r.status_code for r in results)
    detail = "\n".join(f"{r.status_code} {r.text[:500]}" for r in results)
    assert statuses == [200, 409], f"double submit answered {statuses}:\n{detail}"
    flow = other.api.ok("GET", f"/flows/{fid}")
    assert flow["status"] == "completed", flow
    assert flow["documents"][0]["version"] == 2, flow["documents"]
    pdf = download(other, fid, 0)
    assert_verified(qz_verify(qz, pki, pdf, tmp_path), ["蒋重试", "沈自动"])
    actions = [e["action"] for e in trail(initiator, fid)]
    assert actions.count("document.signed") == 2 and actions.count("signer.signed") == 2, actions
    assert len(other.api.ok("GET", "/me/autosign/uses")["items"]) == 1


# --------------------------------------------------------------------------- outsiders, validation

def test_outsiders_get_404(platform: Platform, world: World):
    initiator = platform.verified_user("杨发起")
    signer = platform.verified_user("朱签署")
    flow = create_flow(initiator, {
        "title": title("保密流程"), "documents": docs_of(upload_pdf(platform, initiator, "secret")),
        "signers": [{"user_id": signer.id, "positions": [at(0)]}],
    })
    fid = flow["id"]
    api = world.outsider.api
    seal = default_seal(world.outsider)
    probes = [
        api.get(f"/flows/{fid}"),
        api.get(f"/flows/{fid}/documents/0"),
        api.get(f"/flows/{fid}/trail"),
        api.post(f"/flows/{fid}/sign", {"seal_id": seal, "code": "123456"}),
        api.post(f"/flows/{fid}/sign", {"seal_id": seal, "code": "123456",
                                        "signer_id": flow["signers"][0]["id"]}),
        api.post(f"/flows/{fid}/decline", {"reason": "路过"}),
        api.post(f"/flows/{fid}/revoke", {"reason": "路过"}),
    ]
    for r in probes:
        expect(r, 404)
        assert_problem(r)
    for view in ("todo", "waiting_others", "completed", "void", "cc", "initiated"):
        assert fid not in box(world.outsider, view), view
    # An unknown flow answers like a hidden one; a document index past the end is unknown.
    r1, r2 = api.get(f"/flows/{fid}"), api.get(f"/flows/{uuid.uuid4()}")
    assert r1.status_code == r2.status_code == 404
    assert r1.json()["detail"] == r2.json()["detail"]
    expect(initiator.api.get(f"/flows/{fid}/documents/1"), 404)
    # The parties do see it.
    for who in (initiator, signer):
        assert who.api.ok("GET", f"/flows/{fid}")["id"] == fid
        assert [e["action"] for e in trail(who, fid)][0] == "flow.created"
    expect(api.get("/flows", params={"box": "nonsense"}), 400)


def test_create_validation(platform: Platform, world: World):
    v = platform.verified_user("秦校验")
    w = platform.verified_user("尤签字")
    pdf = upload_pdf(platform, v, "validation")
    pdf2 = upload_pdf(platform, v, "validation 2")
    base = {"title": title("校验"), "documents": docs_of(pdf),
            "signers": [{"user_id": w.id, "positions": [at(0)]}]}
    today = china_today()
    bad = [
        dict(base, deadline=(today - timedelta(days=1)).isoformat()),    # past
        dict(base, deadline="2020-01-01"),
        dict(base, deadline=f"{today.year + 1}-02-30"),                   # no such day
        dict(base, deadline="tomorrow"),
        dict(base, signers=[{"user_id": w.id}, {"user_id": w.id}]),      # the same person twice
        dict(base, signers=[{"user_id": w.id}, {"phone": w.phone}]),
        dict(base, signers=[{"org_id": world.org["id"]}, {"org_id": world.org["id"]}]),
        dict(base, signers=[]),
        dict(base, signers=[{"user_id": w.id, "phone": w.phone}]),       # two ways at once
        dict(base, signers=[{}]),
        dict(base, signers=[{"user_id": w.id, "positions": [at(1)]}]),   # no document 1
        dict(base, signers=[{"user_id": w.id, "positions": [at(0, page=2)]}]),  # one page only
        dict(base, documents=[]),
        dict(base, documents=[{"blob_id": pdf["id"]}] * 21),
        dict(base, order="random"),
        dict(base, title=""),
        dict(base, title="   "),
        dict(base, documents=[{"blob_id": platform.upload(v.api, png_bytes())["id"]}]),  # not PDF
    ]
    for body in bad:
        r = v.api.post("/flows", body)
        expect(r, 400)
        assert_problem(r)
    # Someone else's PDF, or no such blob: hidden.
    foreign = upload_pdf(platform, world.outsider, "foreign")
    for blob_id in (foreign["id"], str(uuid.uuid4())):
        r = v.api.post("/flows", dict(base, documents=[{"blob_id": blob_id}]))
        expect(r, 404)
        assert_problem(r)
    # Unverified initiators may not start a flow.
    raw = platform.register(name="未实名发起")
    r = raw.api.post("/flows", dict(base, documents=docs_of(upload_pdf(platform, raw, "raw"))))
    expect(r, 403)
    assert_problem(r)
    assert box(v, "initiated") == [], "a refused flow was created"

    # A deadline today or later: 24:00 China time of that day.
    tomorrow = today + timedelta(days=1)
    ok = create_flow(v, dict(base, deadline=tomorrow.isoformat()))
    assert ok["deadline"] == end_of_china_day(tomorrow), (ok["deadline"], end_of_china_day(tomorrow))
    ok_today = create_flow(v, dict(base, deadline=today.isoformat()))
    assert ok_today["deadline"] == end_of_china_day(today), ok_today

    # Every document needs a placement when signing (checked before the code).
    flow = create_flow(v, {"title": title("缺少位置"), "documents": docs_of(pdf, pdf2),
                           "signers": [{"user_id": w.id, "positions": [at(0)]}]})
    fid = flow["id"]
    seal = default_seal(w)
    for extra in ({}, {"placements": [at(0)]}, {"placements": [at(1)]}, {"placements": []}):
        r = sign(w, fid, seal, code="123456", **extra)
        expect(r, 400)
        problem = assert_problem(r)
        assert problem["code"] != "wrong_code", problem
        assert "document" in problem["detail"], problem
    # A placement on a document that does not exist or a page past its end.
    for placements in ([at(0), at(1), at(2)], [at(0), at(1, page=5)]):
        r = sign(w, fid, seal, code="123456", placements=placements)
        expect(r, 400)
        assert assert_problem(r)["code"] != "wrong_code", r.text
    flow = w.api.ok("GET", f"/flows/{fid}")
    assert flow["status"] == "in_progress" and [d["version"] for d in flow["documents"]] == [0, 0]
    assert slot_of(flow, w.id)["status"] == "waiting"


def test_remind_and_batch_revoke(platform: Platform, world: World):
    initiator = platform.verified_user("蒋催签")
    first = platform.verified_user("沈先签")
    second = platform.verified_user("韩后签")
    body = lambda label: {  # noqa: E731
        "title": title(label), "order": "ordered",
        "documents": docs_of(upload_pdf(platform, initiator, label)),
        "signers": [{"user_id": first.id, "positions": [at(0)]},
                    {"user_id": second.id, "positions": [at(0, x=300)]}],
    }
    flow = create_flow(initiator, body("催签"))
    fid = flow["id"]
    # Only the one whose turn it is gets the SMS, once an hour.
    out = initiator.api.ok("POST", f"/flows/{fid}/remind", status=200)
    assert out == {"reminded": [slot_of(flow, first.id)["id"]], "skipped": []}, out
    sms = [m for m in platform.outbox(first.phone) if m.get("template") == "flow_waiting"]
    assert len(sms) == 1 and flow["title"] in sms[0]["body"], sms
    assert not [m for m in platform.outbox(second.phone) if m.get("template") == "flow_waiting"]
    again = initiator.api.ok("POST", f"/flows/{fid}/remind", status=200)
    assert again == {"reminded": [], "skipped": [slot_of(flow, first.id)["id"]]}, again
    expect(first.api.post(f"/flows/{fid}/remind"), 403)
    expect(world.outsider.api.post(f"/flows/{fid}/remind"), 404)
    assert "flow.reminded" in [e["action"] for e in trail(initiator, fid)]

    # Batch revoke: the caller's running flows go, others are answered per id.
    other = create_flow(initiator, body("批量撤销"))
    foreign = create_flow(first, {**body("别人的"), "documents": docs_of(upload_pdf(platform, first, "x")),
                                  "signers": [{"user_id": second.id, "positions": [at(0)]}]})
    results = initiator.api.ok("POST", "/flows/revoke",
                               {"ids": [fid, other["id"], foreign["id"]], "reason": "项目取消"},
                               status=200)
    assert [r.get("status") for r in results[:2]] == ["revoked", "revoked"], results
    assert results[2]["error"] == "not_found", results
    assert first.api.ok("GET", f"/flows/{foreign['id']}")["status"] == "in_progress"
    expect(initiator.api.post(f"/flows/{fid}/remind"), 409)
    expect(initiator.api.post("/flows/revoke", {"ids": [], "reason": "x"}), 400)


def test_verify_service_and_document_revocation(platform: Platform, world: World):
    """Anyone verifies a signed file at POST /verify (no login); a completed document revoked
    by its initiator (文件吊销) is reported, also for a copy with an update appended."""
    initiator = platform.verified_user("杨验证")
    flow = create_flow(initiator, {
        "title": title("验证"), "documents": docs_of(upload_pdf(platform, initiator, "verify")),
        "signers": [{"user_id": initiator.id, "positions": [at(0)]}],
    })
    done = initiator.api.ok("POST", f"/flows/{flow['id']}/sign",
                            {"seal_id": default_seal(initiator), "code": sign_code(platform, initiator)},
                            status=200)
    assert done["status"] == "completed", done
    pdf = download(initiator, flow["id"], 0)
    anonymous = requests.Session()
    url = platform.server.url("/api/v1/verify")
    r = anonymous.post(url, data=pdf, timeout=60)
    assert r.status_code == 200, r.text
    out = r.json()
    report = out["report"]
    assert report["verdict"] == "VALID", report
    sig = report["signatures"][0]
    assert sig["trusted"] is True and sig["timestamp"] is not None, sig
    assert sig["revocation"]["status"] == "good", sig["revocation"]
    assert out["document_revocation"] is None
    assert anonymous.post(url, data=b"not a pdf", timeout=30).status_code == 400

    # Only the initiator (or a platform admin) revokes, only completed documents, once.
    expect(world.outsider.api.post(f"/flows/{flow['id']}/documents/0/revoke", {"reason": "x"}), 404)
    entry = initiator.api.ok("POST", f"/flows/{flow['id']}/documents/0/revoke",
                             {"reason": "合同已解除"}, status=201)
    assert entry["sha256"] == hashlib.sha256(pdf).hexdigest(), entry
    expect(initiator.api.post(f"/flows/{flow['id']}/documents/0/revoke", {"reason": "again"}), 409)
    out = anonymous.post(url, data=pdf, timeout=60).json()
    assert out["document_revocation"]["reason"] == "合同已解除", out
    # A copy with something appended after the revoked revision is still found.
    appended = pdf + b"\n% appended\n%%EOF\n"
    out = anonymous.post(url, data=appended, timeout=60).json()
    assert out["document_revocation"] and out["document_revocation"]["sha256"] == entry["sha256"], out
    assert "document.revoked" in [e["action"] for e in trail(initiator, flow["id"])]


def test_zip_downloads(platform: Platform, world: World):
    import zipfile
    initiator = platform.verified_user("朱下载")
    flows = [create_flow(initiator, {
        "title": title(f"下载{i}"),
        "documents": docs_of(upload_pdf(platform, initiator, f"zip{i}a"), upload_pdf(platform, initiator, f"zip{i}b")),
        "signers": [{"user_id": world.member.id}],
    }) for i in range(2)]
    r = initiator.api.get(f"/flows/{flows[0]['id']}/documents.zip")
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip", r.text
    with zipfile.ZipFile(io.BytesIO(r.content)) as z:
        names = z.namelist()
        assert names == ["01-文件1.pdf", "02-文件2.pdf"], names
        assert z.read(names[0]) == download(initiator, flows[0]["id"], 0)
    r = initiator.api.request("POST", "/flows/download", json_body={"ids": [f["id"] for f in flows]})
    assert r.status_code == 200, r.text
    with zipfile.ZipFile(io.BytesIO(r.content)) as z:
        names = z.namelist()
        assert len(names) == 4 and len({n.split("/")[0] for n in names}) == 2, names
    # Someone else's flow in the batch: nothing is sent.
    expect(world.outsider.api.post("/flows/download", {"ids": [flows[0]["id"]]}), 404)
    expect(world.outsider.api.get(f"/flows/{flows[0]['id']}/documents.zip"), 404)
    expect(initiator.api.post("/flows/download", {"ids": []}), 400)
