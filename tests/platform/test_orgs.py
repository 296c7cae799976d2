"""Organizations over HTTP, on SQLite and PostgreSQL: outside-company verification (reject,
resubmit, approve, withdraw), joining, roles, admin transfer and application, acting-for, the
internal tree and its XLSX import, and what outsiders and plain members may not do."""
from __future__ import annotations

import uuid

import pytest

from conftest import (Platform, assert_problem, credit_code, expect, png_bytes, xlsx_bytes)


def messages(api) -> list[dict]:
    return api.ok("GET", "/me/messages", params={"limit": 100})["items"]


def members(api, org_id: str) -> dict[str, str]:
    out, cursor = {}, None
    while True:
        params = {"limit": 100}
        if cursor:
            params["cursor"] = cursor
        page = api.ok("GET", f"/orgs/{org_id}/members", params=params)
        out.update({m["user_id"]: m["role"] for m in page["items"]})
        cursor = page.get("next_cursor")
        if not cursor:
            return out


def role_in(api, org_id: str) -> str | None:
    for o in api.me()["orgs"]:
        if o["org_id"] == org_id:
            return o["role"]
    return None


def test_outside_company_verification(platform: Platform):
    admin = platform.admin
    applicant = platform.register(name="临时名")
    # Real-name verification comes first.
    blob = platform.upload(applicant.api, png_bytes())
    body = {"name": "福州测试科技有限公司", "credit_code": credit_code(), "legal_rep": "王五",
            "licence_blob": blob["id"]}
    expect(applicant.api.post("/org-verifications", body), 403)
    platform.verify_identity(applicant, "陈七")
    # Bad data: credit code check character, licence not an image of the applicant's.
    bad = dict(body, credit_code=body["credit_code"][:-1] + ("0" if body["credit_code"][-1] != "0" else "1"))
    expect(applicant.api.post("/org-verifications", bad), 400)
    expect(applicant.api.post("/org-verifications", dict(body, legal_rep="X")), 400)
    someone_else = platform.register()
    their_blob = platform.upload(someone_else.api, png_bytes())
    expect(applicant.api.post("/org-verifications", dict(body, licence_blob=their_blob["id"])), 400)
    pdf_blob = platform.upload(applicant.api, b"%PDF-1.4\n%%EOF\n")
    expect(applicant.api.post("/org-verifications", dict(body, licence_blob=pdf_blob["id"])), 400)

    req = applicant.api.ok("POST", "/org-verifications", body, status=201)
    assert req["status"] == "pending" and req["kind"] == "org_verification", req
    assert req["applicant"] == applicant.id and req["org_id"]
    org_id = req["org_id"]
    # Not verified yet: lookup finds nothing; the applicant is not a member.
    expect(applicant.api.get("/orgs/lookup", params={"credit_code": body["credit_code"]}), 404)
    assert role_in(applicant.api, org_id) is None

    pending = admin.ok("GET", "/requests", params={"view": "decide", "kind": "org_verification",
                                                    "status": "pending", "limit": 100})
    assert req["id"] in [r["id"] for r in pending["items"]]
    # The platform admin reviews the licence.
    r = admin.get(f"/blobs/{blob['id']}")
    expect(r, 200)
    # The applicant cannot decide; a reason is needed.
    expect(applicant.api.post(f"/requests/{req['id']}/approve"), 403)
    expect(admin.post(f"/requests/{req['id']}/reject", {"reason": ""}), 400)
    rejected = admin.ok("POST", f"/requests/{req['id']}/reject", {"reason": "营业执照不清晰"},
                        status=200)
    assert rejected["status"] == "rejected" and rejected["reason"] == "营业执照不清晰", rejected
    assert rejected["decided_by"] == admin.user["id"]
    texts = [m["body"] for m in messages(applicant.api)]
    assert any("被驳回" in t and "营业执照不清晰" in t for t in texts), texts
    # Rejected twice / approved after rejection: a state error.
    expect(admin.post(f"/requests/{req['id']}/approve"), 409)
    # Someone else cannot resubmit.
    expect(someone_else.api.post(f"/requests/{req['id']}/resubmit", body), (403, 404))

    blob2 = platform.upload(applicant.api, png_bytes())
    fixed = dict(body, name="福州测试科技股份有限公司", licence_blob=blob2["id"])
    again = applicant.api.ok("POST", f"/requests/{req['id']}/resubmit", fixed, status=200)
    assert again["status"] == "pending" and again["id"] == req["id"], again
    assert again["details"]["name"] == fixed["name"], again
    approved = admin.ok("POST", f"/requests/{req['id']}/approve", status=200)
    assert approved["status"] == "approved", approved
    texts = [m["body"] for m in messages(applicant.api)]
    assert any("已通过" in t for t in texts), texts

    me = applicant.api.me()
    orgs = {o["org_id"]: o for o in me["orgs"]}
    assert orgs[org_id]["role"] == "admin" and orgs[org_id]["kind"] == "external", me
    assert orgs[org_id]["name"] == fixed["name"]
    org = applicant.api.ok("GET", f"/orgs/{org_id}")
    assert org["verified"] is True and org["credit_code"] == body["credit_code"]
    assert org["legal_rep"] == "王五" and org["name"] == fixed["name"], org
    found = someone_else.api.ok("GET", "/orgs/lookup", params={"credit_code": body["credit_code"]})
    assert found == {"id": org_id, "name": fixed["name"]}, found
    # A second company with the same credit code: 409.
    other = platform.verified_user("周八")
    other_blob = platform.upload(other.api, png_bytes())
    expect(other.api.post("/org-verifications", dict(body, licence_blob=other_blob["id"])), 409)
    # The trail of the organization (its admin) and of the request (platform admin).
    trail = applicant.api.ok("GET", f"/orgs/{org_id}/trail", params={"limit": 100})
    assert trail["items"], trail
    req_trail = admin.ok("GET", "/admin/trail", params={"object": f"request:{req['id']}",
                                                         "limit": 100})
    actions = [e["action"] for e in req_trail["items"]]
    assert "request.created" in actions and "request.approved" in actions, actions


def test_same_credit_code_twice(platform: Platform):
    """Two people submit the same company before either is approved: the second approval must
    be refused cleanly (409), not fail with a 500, and one verified organization remains."""
    code = credit_code()
    first = platform.submit_company(platform.verified_user("甲一"), name="重复公司甲", code=code)
    second = platform.submit_company(platform.verified_user("乙二"), name="重复公司乙", code=code)
    platform.admin.ok("POST", f"/requests/{first['id']}/approve", status=200)
    r = platform.admin.post(f"/requests/{second['id']}/approve")
    expect(r, 409)
    assert_problem(r)
    assert platform.admin.ok("GET", f"/requests/{second['id']}")["status"] == "pending"
    found = platform.admin.ok("GET", "/orgs/lookup", params={"credit_code": code})
    assert found["id"] == first["org_id"]


def test_withdraw_and_resubmit(platform: Platform):
    applicant = platform.verified_user("吴九")
    req = platform.submit_company(applicant)
    expect(platform.register().api.post(f"/requests/{req['id']}/withdraw"), 404)
    expect(platform.admin.post(f"/requests/{req['id']}/withdraw"), 403)
    out = applicant.api.ok("POST", f"/requests/{req['id']}/withdraw", status=200)
    assert out["status"] == "withdrawn", out
    expect(platform.admin.post(f"/requests/{req['id']}/approve"), 409)
    expect(applicant.api.post(f"/requests/{req['id']}/withdraw"), 409)
    mine = applicant.api.ok("GET", "/requests", params={"view": "mine"})
    assert [r["status"] for r in mine["items"] if r["id"] == req["id"]] == ["withdrawn"]
    again = applicant.api.ok("POST", f"/requests/{req['id']}/resubmit", req["_body"], status=200)
    assert again["status"] == "pending"
    approved = platform.admin.ok("POST", f"/requests/{req['id']}/approve", status=200)
    assert approved["status"] == "approved"
    assert role_in(applicant.api, req["org_id"]) == "admin"


def test_join_requests(platform: Platform):
    org, owner = platform.company()
    code = org["credit_code"]
    joiner = platform.verified_user("郑十")
    refused = platform.verified_user("钱一")
    unverified = platform.register()
    found = joiner.api.ok("GET", "/orgs/lookup", params={"credit_code": code})
    assert found["id"] == org["id"]
    expect(unverified.api.post(f"/orgs/{org['id']}/join-requests", {"message": "hi"}), 403)
    j = joiner.api.ok("POST", f"/orgs/{org['id']}/join-requests", {"message": "我是新同事"},
                      status=201)
    assert j["kind"] == "join" and j["status"] == "pending"
    expect(joiner.api.post(f"/orgs/{org['id']}/join-requests", {"message": "again"}), 409)
    k = refused.api.ok("POST", f"/orgs/{org['id']}/join-requests", {"message": ""}, status=201)
    # The admin is told and sees both.
    assert any("郑十" in m["body"] for m in messages(owner.api))
    waiting = owner.api.ok("GET", "/requests", params={"view": "decide", "org_id": org["id"],
                                                         "status": "pending"})
    assert {j["id"], k["id"]} <= {r["id"] for r in waiting["items"]}
    # The applicant cannot approve themself; the platform admin does not decide joins by default.
    expect(joiner.api.post(f"/requests/{j['id']}/approve"), 403)
    expect(platform.admin.get("/requests", params={"view": "decide", "kind": "join"}), 400)
    owner.api.ok("POST", f"/requests/{j['id']}/approve", status=200)
    owner.api.ok("POST", f"/requests/{k['id']}/reject", {"reason": "不是本公司员工"}, status=200)
    assert role_in(joiner.api, org["id"]) == "member"
    assert role_in(refused.api, org["id"]) is None
    assert any("不是本公司员工" in m["body"] for m in messages(refused.api))
    assert any("已通过" in m["body"] for m in messages(joiner.api))
    # A member asking again: 409.
    expect(joiner.api.post(f"/orgs/{org['id']}/join-requests", {}), 409)
    # Unknown or unverified organizations: 404.
    expect(joiner.api.post(f"/orgs/{uuid.uuid4()}/join-requests", {}), 404)
    pending_org = platform.submit_company(platform.verified_user("孙二"))
    expect(joiner.api.post(f"/orgs/{pending_org['org_id']}/join-requests", {}), 404)
    # Messages can be marked read.
    msg = messages(joiner.api)[0]
    expect(joiner.api.post(f"/me/messages/{msg['id']}/read"), 204)


def test_roles_and_members(platform: Platform):
    org, owner = platform.company()
    oid = org["id"]
    operator = platform.add_member(oid, owner.api, role="seal_operator")
    plain = platform.add_member(oid, owner.api)
    leaver = platform.add_member(oid, owner.api)
    roles = members(owner.api, oid)
    assert roles == {owner.id: "admin", operator.id: "seal_operator", plain.id: "member",
                     leaver.id: "member"}, roles
    # Adding twice, unknown phones, the admin role by adding: refused.
    expect(owner.api.post(f"/orgs/{oid}/members", {"phone": plain.phone}), 409)
    expect(owner.api.post(f"/orgs/{oid}/members", {"phone": "13000000001"}), 404)
    expect(owner.api.post(f"/orgs/{oid}/members", {"phone": platform.register().phone,
                                                   "role": "admin"}), 400)
    # Role changes.
    expect(owner.api.put(f"/orgs/{oid}/members/{plain.id}", {"role": "seal_operator"}), 204)
    expect(owner.api.put(f"/orgs/{oid}/members/{plain.id}", {"role": "member"}), 204)
    expect(owner.api.put(f"/orgs/{oid}/members/{plain.id}", {"role": "admin"}), (400, 409))
    expect(owner.api.put(f"/orgs/{oid}/members/{owner.id}", {"role": "member"}), 409)
    expect(owner.api.put(f"/orgs/{oid}/members/{plain.id}", {"role": "boss"}), 400)
    # The admin cannot be removed; a member can leave.
    expect(owner.api.delete(f"/orgs/{oid}/members/{owner.id}"), 409)
    expect(leaver.api.delete(f"/orgs/{oid}/members/{leaver.id}"), 204)
    assert role_in(leaver.api, oid) is None
    expect(leaver.api.get(f"/orgs/{oid}"), 404)
    # Plain members and seal operators: 403 on management, but they see the organization.
    for who in (plain, operator):
        expect(who.api.get(f"/orgs/{oid}"), 200)
        expect(who.api.get(f"/orgs/{oid}/members"), 200)
        expect(who.api.post(f"/orgs/{oid}/members", {"phone": platform.register().phone}), 403)
        expect(who.api.put(f"/orgs/{oid}/members/{owner.id}", {"role": "member"}), 403)
        other = plain if who is operator else operator
        expect(who.api.delete(f"/orgs/{oid}/members/{other.id}"), 403)
        expect(who.api.post(f"/orgs/{oid}/transfer-admin", {"user_id": who.id}), 403)
        expect(who.api.get(f"/orgs/{oid}/trail"), 403)
        expect(who.api.get("/requests", params={"view": "decide", "org_id": oid}), 403)
        r = who.api.post("/org-verifications", {"org_id": oid, "name": "改名公司",
                                                "credit_code": org["credit_code"],
                                                "legal_rep": "王五", "licence_blob": "x"})
        expect(r, (400, 403))
    # The owner removes someone.
    expect(owner.api.delete(f"/orgs/{oid}/members/{operator.id}"), 204)
    assert operator.id not in members(owner.api, oid)
    # The trail records the changes.
    actions = [e["action"] for e in owner.api.ok("GET", f"/orgs/{oid}/trail",
                                                  params={"limit": 100})["items"]]
    assert len(actions) >= 5, actions


def test_transfer_admin(platform: Platform):
    org, owner = platform.company()
    oid = org["id"]
    heir = platform.add_member(oid, owner.api)
    outsider = platform.register()
    expect(owner.api.post(f"/orgs/{oid}/transfer-admin", {"user_id": outsider.id}), (400, 404))
    expect(owner.api.post(f"/orgs/{oid}/transfer-admin", {"user_id": heir.id}), 204)
    assert members(heir.api, oid) == {owner.id: "member", heir.id: "admin"}
    assert role_in(owner.api, oid) == "member"
    expect(owner.api.post(f"/orgs/{oid}/members", {"phone": outsider.phone}), 403)
    expect(heir.api.post(f"/orgs/{oid}/members", {"phone": outsider.phone}), 201)
    # The old admin may now leave.
    expect(owner.api.delete(f"/orgs/{oid}/members/{owner.id}"), 204)


def test_admin_application(platform: Platform):
    org, owner = platform.company()
    oid = org["id"]
    applicant = platform.add_member(oid, owner.api, user=platform.verified_user("冯三"))
    unverified = platform.add_member(oid, owner.api)
    expect(owner.api.post(f"/orgs/{oid}/admin-requests", {"reason": "我已是管理员"}), 409)
    expect(unverified.api.post(f"/orgs/{oid}/admin-requests", {"reason": "原管理员离职"}), 403)
    expect(platform.register().api.post(f"/orgs/{oid}/admin-requests", {"reason": "原管理员离职"}), 404)
    req = applicant.api.ok("POST", f"/orgs/{oid}/admin-requests", {"reason": "原管理员已离职"},
                           status=201)
    assert req["kind"] == "admin" and req["status"] == "pending"
    # The org admin does not decide it; the platform admin does.
    expect(owner.api.post(f"/requests/{req['id']}/approve"), (403, 404))
    waiting = platform.admin.ok("GET", "/requests", params={"view": "decide", "kind": "admin",
                                                             "status": "pending", "limit": 100})
    assert req["id"] in [r["id"] for r in waiting["items"]]
    out = platform.admin.ok("POST", f"/requests/{req['id']}/approve", status=200)
    assert out["status"] == "approved"
    roles = members(applicant.api, oid)
    assert roles[applicant.id] == "admin", roles
    assert list(roles.values()).count("admin") == 1, roles
    assert roles[owner.id] == "member", roles
    assert any("已通过" in m["body"] for m in messages(applicant.api))


def test_acting_for(platform: Platform):
    org, owner = platform.company()
    other_org, _ = platform.company()
    member = platform.add_member(org["id"], owner.api)
    expect(member.api.put("/me/acting-for", {"org_id": org["id"]}), 204)
    assert member.api.me()["acting_for"] == org["id"]
    # Not a member: hidden.
    expect(member.api.put("/me/acting-for", {"org_id": other_org["id"]}), 404)
    expect(member.api.put("/me/acting-for", {"org_id": str(uuid.uuid4())}), 404)
    assert member.api.me()["acting_for"] == org["id"]
    # The trail records who acted for whom.
    expect(member.api.put("/me/locale", {"locale": "en"}), 204)
    expect(member.api.put("/me/acting-for", {"org_id": None}), 204)
    assert member.api.me()["acting_for"] is None
    # Platform admins do not act for outside companies they are not members of.
    expect(platform.admin.put("/me/acting-for", {"org_id": org["id"]}), 403)
    # Acting-for belongs to the session.
    expect(member.api.put("/me/acting-for", {"org_id": org["id"]}), 204)
    second = platform.api()
    second.login(member.phone, member.password)
    assert second.me()["acting_for"] is None


def test_internal_tree_and_import(platform: Platform):
    admin = platform.admin
    tag = uuid.uuid4().hex[:6].upper()
    root = admin.ok("POST", "/orgs", {"name": f"示范大学{tag}", "dept_code": f"U{tag}"}, status=201)
    assert root["kind"] == "internal"
    child = admin.ok("POST", "/orgs", {"name": f"计算机学院{tag}", "parent_id": root["id"]},
                     status=201)
    assert child["parent_id"] == root["id"]
    rows = [
        [f"D{tag}1", f"文学院{tag}", f"U{tag}"],
        [f"D{tag}2", f"中文系{tag}", f"D{tag}1"],
        [f"D{tag}3", f"外语系{tag}", f"D{tag}1"],
        [f"D{tag}4", f"档案馆{tag}", None],
    ]
    sheet = xlsx_bytes(rows)
    user = platform.register()
    r = user.api.request("POST", "/orgs/import", data=sheet)
    expect(r, 403)
    out = admin.ok("POST", "/orgs/import", data=sheet, status=200,
                   headers={"Content-Type": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"})
    assert out == {"rows": 4, "created": 4, "updated": 0}, out
    tree = admin.ok("GET", "/orgs/tree")

    def find(nodes, code):
        for n in nodes:
            if n.get("dept_code") == code:
                return n
            hit = find(n.get("children", []), code)
            if hit:
                return hit
        return None

    u = find(tree, f"U{tag}")
    assert u and u["name"] == f"示范大学{tag}"
    assert {c["name"] for c in u["children"]} == {f"计算机学院{tag}", f"文学院{tag}"}, u
    d1 = find(u["children"], f"D{tag}1")
    assert {c["dept_code"] for c in d1["children"]} == {f"D{tag}2", f"D{tag}3"}
    assert find(tree, f"D{tag}4") in tree  # a top-level node
    # Re-import: renames and moves, nothing new.
    rows2 = [[f"D{tag}2", f"汉语言文学系{tag}", f"U{tag}"], [f"D{tag}3", f"外国语系{tag}", f"D{tag}1"]]
    out = admin.ok("POST", "/orgs/import", data=xlsx_bytes(rows2), status=200)
    assert out == {"rows": 2, "created": 0, "updated": 2}, out
    tree = admin.ok("GET", "/orgs/tree")
    u = find(tree, f"U{tag}")
    assert f"汉语言文学系{tag}" in {c["name"] for c in u["children"]}
    # English headers work too.
    out = admin.ok("POST", "/orgs/import",
                   data=xlsx_bytes([[f"E{tag}", f"后勤处{tag}", ""]], header=("code", "name", "parent_code")),
                   status=200)
    assert out["created"] == 1
    # A bad sheet: nothing imported, the row named.
    bad = xlsx_bytes([[f"X{tag}1", f"好部门{tag}", None], [f"X{tag}2", None, None]])
    r = admin.request("POST", "/orgs/import", data=bad)
    expect(r, 400)
    p = assert_problem(r)
    assert "row 3" in p["detail"], p
    assert find(admin.ok("GET", "/orgs/tree"), f"X{tag}1") is None, "a failed import left rows"
    dup = xlsx_bytes([[f"Y{tag}", "甲部门", None], [f"Y{tag}", "乙部门", None]])
    r = admin.request("POST", "/orgs/import", data=dup)
    expect(r, 400)
    assert "row 3" in assert_problem(r)["detail"]
    r = admin.request("POST", "/orgs/import", data=xlsx_bytes([["a", "b"]], header=("编号", "名字")))
    expect(r, 400)
    assert "部门编码" in assert_problem(r)["detail"]
    expect(admin.request("POST", "/orgs/import", data=b"not a workbook"), 400)
    # Rename and move through PATCH; a cycle is refused.
    moved = admin.ok("PATCH", f"/orgs/{child['id']}", {"name": f"信息学院{tag}", "parent_id": None})
    assert moved["name"] == f"信息学院{tag}" and moved["parent_id"] is None
    d4 = find(tree, f"D{tag}4")
    assert admin.ok("PATCH", f"/orgs/{d4['id']}", {"parent_id": root["id"]})["parent_id"] == root["id"]
    expect(admin.patch(f"/orgs/{root['id']}", {"parent_id": d1["id"]}), 400)
    expect(admin.patch(f"/orgs/{root['id']}", {"parent_id": root["id"]}), 400)
    # Members of the institution see the tree; strangers do not.
    expect(user.api.get("/orgs/tree"), 404)
    admin.ok("POST", f"/orgs/{d1['id']}/members", {"phone": user.phone}, status=201)
    expect(user.api.get("/orgs/tree"), 200)
    # The internal org's admin role is not needed: the platform admin manages members.
    expect(user.api.post(f"/orgs/{d1['id']}/members", {"phone": platform.register().phone}), 403)


def test_outsiders_get_404(platform: Platform):
    org_a, admin_a = platform.company(name="甲公司" + uuid.uuid4().hex[:4])
    member_a = platform.add_member(org_a["id"], admin_a.api, user=platform.verified_user("成员甲"))
    joiner = platform.verified_user("申请人")
    join = joiner.api.ok("POST", f"/orgs/{org_a['id']}/join-requests", {"message": "hi"}, status=201)
    org_b, admin_b = platform.company(name="乙公司" + uuid.uuid4().hex[:4])
    member_b = platform.add_member(org_b["id"], admin_b.api)
    a = org_a["id"]
    for who in (admin_b, member_b):
        api = who.api
        probes = [
            api.get(f"/orgs/{a}"),
            api.get(f"/orgs/{a}/members"),
            api.get(f"/orgs/{a}/trail"),
            api.get("/requests", params={"view": "decide", "org_id": a}),
            api.get(f"/requests/{join['id']}"),
            api.post(f"/requests/{join['id']}/approve"),
            api.post(f"/requests/{join['id']}/reject", {"reason": "试探一下"}),
            api.get(f"/blobs/{org_a['_licence_blob']}"),
            api.put(f"/orgs/{a}/members/{member_a.id}", {"role": "seal_operator"}),
            api.delete(f"/orgs/{a}/members/{member_a.id}"),
            api.post(f"/orgs/{a}/members", {"phone": who.phone}),
            api.post(f"/orgs/{a}/transfer-admin", {"user_id": who.id}),
            api.put("/me/acting-for", {"org_id": a}),
            api.patch(f"/orgs/{a}", {"name": "被改名"}),
            api.post(f"/orgs/{a}/admin-requests", {"reason": "我想当管理员"}),
        ]
        for r in probes:
            expect(r, 404)
            assert_problem(r)
    # Nothing changed.
    assert members(admin_a.api, a) == {admin_a.id: "admin", member_a.id: "member"}
    assert admin_a.api.ok("GET", f"/requests/{join['id']}")["status"] == "pending"
    # An unknown id answers the same as a hidden one.
    r1 = admin_b.api.get(f"/orgs/{a}")
    r2 = admin_b.api.get(f"/orgs/{uuid.uuid4()}")
    assert r1.status_code == r2.status_code == 404
    assert r1.json()["detail"] == r2.json()["detail"]


def test_non_admins_403_on_admin(platform: Platform):
    org, owner = platform.company()
    user = platform.register()
    for who in (user, owner):
        api = who.api
        for r in [api.get("/admin/users"),
                  api.get(f"/admin/users/{who.id}"),
                  api.get("/admin/outbox"),
                  api.get("/admin/outbox", params={"recipient": who.phone}),
                  api.get("/admin/trail", params={"object": f"user:{who.id}"}),
                  api.post("/admin/trail/verify"),
                  api.get("/orgs", params={"all": "true"}),
                  api.post("/orgs", {"name": "自建部门"}),
                  api.get("/requests", params={"view": "decide"}),
                  api.request("POST", "/orgs/import", data=xlsx_bytes([["Z1", "部门", None]]))]:
            expect(r, 403)
            assert_problem(r)
    # Anonymous: 401.
    for r in [platform.api().get("/admin/users"), platform.api().get("/orgs")]:
        expect(r, 401)
    # The platform admin: 200.
    out = platform.admin.ok("POST", "/admin/trail/verify", status=200)
    assert out["ok"] is True and out["events"] > 0, out
    detail = platform.admin.ok("GET", f"/admin/users/{owner.id}")
    assert {o["org_id"] for o in detail["orgs"]} == {org["id"]}
