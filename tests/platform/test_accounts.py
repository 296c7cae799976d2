"""Accounts over HTTP, on SQLite and PostgreSQL: registration, login by password and by code,
logout, CSRF, lockout and reset, password and phone change, identity, uploads, rate limits,
problem+json, idempotency, pagination."""
from __future__ import annotations

import time
import uuid

import pytest
import requests

from conftest import (PASSWORD, Platform, User, assert_problem, bad_check_digit, expect,
                      id_number, new_phone, png_bytes)


@pytest.fixture(scope="module")
def aged(platform: Platform) -> dict[str, User]:
    """Users registered at the start of the module: tests that need a second code to the same
    phone (one code a minute) wait the least."""
    return {k: platform.register(name=f"老用户{k}") for k in ("by_code", "reset")}


def test_register_login_logout(platform: Platform, aged):
    phone = new_phone()
    code = platform.send_code("register", phone)
    api = platform.api()
    # A wrong code first: 400, and the right one still works afterwards.
    wrong = "000000" if code != "000000" else "111111"
    r = api.post("/auth/register", {"phone": phone, "code": wrong, "password": PASSWORD,
                                     "name": "王小明"})
    expect(r, 400, "wrong_code")
    # A weak password is refused before the code is used.
    expect(api.post("/auth/register", {"phone": phone, "code": code, "password": "abcdefgh",
                                        "name": "王小明"}), 400)
    r = api.post("/auth/register", {"phone": phone, "code": code, "password": PASSWORD,
                                     "name": "王小明"})
    expect(r, 201)
    body = r.json()
    assert body["user"]["phone"] == phone and body["user"]["name"] == "王小明"
    assert body["user"]["platform_admin"] is False
    assert "password_hash" not in body["user"] and "password" not in r.text
    assert len(body["csrf_token"]) >= 16
    # Cookies: the session is HttpOnly, the CSRF cookie readable and equal to the token.
    set_cookie = r.headers.get("set-cookie", "")
    assert "qz_session=" in set_cookie and "HttpOnly" in set_cookie, set_cookie
    assert api.s.cookies.get("qz_csrf") == body["csrf_token"]
    api._took_login(r)
    me = api.me()
    assert me["user"]["id"] == body["user"]["id"]
    assert me["csrf_token"] == body["csrf_token"]
    assert me["identity"]["status"] == "unverified"
    assert me["orgs"] == [] and me["acting_for"] is None
    # The code is used up: registering again with it fails.
    other = platform.api()
    expect(other.post("/auth/register", {"phone": phone, "code": code, "password": PASSWORD,
                                          "name": "x"}), (400, 409))
    # Password login, then logout ends that session.
    second = platform.api()
    second.login(phone, PASSWORD)
    assert second.me()["user"]["phone"] == phone
    second.logout()
    expect(second.get("/me"), 401, "unauthenticated")
    # The first session is untouched by the other's logout.
    assert api.me()["user"]["phone"] == phone
    # Wrong password: 401 bad_credentials, and an unknown phone looks the same.
    expect(platform.api().post("/auth/login", {"phone": phone, "password": "Wrong12345"}), 401,
           "bad_credentials")
    expect(platform.api().post("/auth/login", {"phone": new_phone(), "password": "Wrong12345"}),
           401, "bad_credentials")


def test_codes_for_unknown_numbers_look_the_same(platform: Platform):
    phone = new_phone()
    r = platform.api().post("/auth/codes", {"purpose": "login", "to": phone})
    expect(r, 202)
    assert platform.outbox(phone) == []
    expect(platform.api().post("/auth/codes", {"purpose": "login", "to": "12345"}), 400)
    expect(platform.api().post("/auth/codes", {"purpose": "nonsense", "to": phone}), 400)


def test_resend_within_a_minute_refused(platform: Platform):
    phone = new_phone()
    platform.send_code("register", phone)
    r = platform.api().post("/auth/codes", {"purpose": "register", "to": phone})
    expect(r, 429, "rate_limited")
    # The minute is per purpose: a registered user may ask for a login code at once.
    user = platform.register()
    platform.send_code("login", user.phone)


def test_csrf_refused(platform: Platform):
    user = platform.register()
    api = user.api
    for method, path, body in [("POST", "/auth/logout", None),
                               ("PUT", "/me/locale", {"locale": "en"}),
                               ("POST", "/me/password", {"current": PASSWORD, "new": "Another123"})]:
        r = api.request(method, path, json_body=body, csrf=False)
        expect(r, 403, "csrf")
        r = api.request(method, path, json_body=body, csrf=False,
                        headers={"X-CSRF-Token": "0" * 32})
        expect(r, 403, "csrf")
    # Uploads too.
    r = api.request("POST", "/blobs", data=png_bytes(), csrf=False)
    expect(r, 403, "csrf")
    # Still logged in, password unchanged.
    assert api.me()["user"]["id"] == user.id
    platform.api().login(user.phone, PASSWORD)
    # With the token it works.
    expect(api.put("/me/locale", {"locale": "en"}), 204)
    assert api.me()["user"]["locale"] == "en"


def test_password_change_ends_other_sessions(platform: Platform):
    user = platform.register()
    other = platform.api()
    other.login(user.phone, PASSWORD)
    expect(user.api.post("/me/password", {"current": "Wrong12345", "new": "NewPass123"}), 403)
    expect(user.api.post("/me/password", {"current": PASSWORD, "new": "short"}), 400)
    expect(user.api.post("/me/password", {"current": PASSWORD, "new": "NewPass123"}), 204)
    assert user.api.me()["user"]["id"] == user.id, "this session stays"
    expect(other.get("/me"), 401)
    expect(platform.api().post("/auth/login", {"phone": user.phone, "password": PASSWORD}), 401)
    platform.api().login(user.phone, "NewPass123")
    trail = user.api.ok("GET", "/me/trail", params={"limit": 100})
    assert any(e["action"] == "user.password_changed" for e in trail["items"]), trail


def test_phone_change(platform: Platform):
    user = platform.register()
    new = new_phone()
    # The code needs a session and the CSRF header.
    expect(platform.api().post("/auth/codes", {"purpose": "change_phone", "to": new}), 401)
    expect(user.api.post("/auth/codes", {"purpose": "change_phone", "to": new}, csrf=False), 403,
           "csrf")
    code = platform.send_code("change_phone", new, api=user.api)
    expect(user.api.post("/me/phone", {"phone": new, "code": code, "password": "Wrong12345"}), 403)
    expect(user.api.post("/me/phone", {"phone": new, "code": code, "password": PASSWORD}), 204)
    assert user.api.me()["user"]["phone"] == new
    expect(platform.api().post("/auth/login", {"phone": user.phone, "password": PASSWORD}), 401)
    platform.api().login(new, PASSWORD)


def test_identity(platform: Platform):
    user = platform.register()
    r = user.api.get("/me/identity")
    expect(r, 200)
    assert r.json()["status"] == "unverified"
    number = id_number()
    expect(user.api.post("/me/identity", {"real_name": "赵六", "id_number": bad_check_digit(number)}),
           400)
    expect(user.api.post("/me/identity", {"real_name": "赵六", "id_number": number[:17]}), 400)
    expect(user.api.post("/me/identity", {"real_name": "1", "id_number": number}), 400)
    out = user.api.ok("POST", "/me/identity", {"real_name": "赵六", "id_number": number}, status=200)
    assert out["status"] == "verified" and out["provider"] == "development", out
    assert number not in str(out)
    assert out.get("id_masked") and out["id_masked"] != number, out
    me = user.api.me()
    assert me["identity"]["status"] == "verified"
    assert number not in str(me)
    other = platform.register()
    r = other.api.post("/me/identity", {"real_name": "赵六", "id_number": number})
    expect(r, 409)
    assert_problem(r)


def test_blobs(platform: Platform):
    user = platform.register()
    data = png_bytes(seed=1234)
    info = platform.upload(user.api, data)
    assert info["size"] == len(data) and info["content_type"] == "image/png"
    import hashlib
    assert info["sha256"] == hashlib.sha256(data).hexdigest()
    r = user.api.get(f"/blobs/{info['id']}")
    expect(r, 200)
    assert r.content == data
    assert r.headers["content-type"] == "image/png"
    # Others: 404; the platform admin: 200.
    expect(platform.register().api.get(f"/blobs/{info['id']}"), 404)
    expect(platform.api().get(f"/blobs/{info['id']}"), 401)
    r = platform.admin.get(f"/blobs/{info['id']}")
    expect(r, 200)
    assert r.content == data
    # Kinds by magic bytes.
    platform.upload(user.api, b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\n%%EOF\n")
    platform.upload(user.api, b"\xff\xd8\xff\xe0" + b"\x00" * 64)
    r = user.api.request("POST", "/blobs", data=b"hello, not a picture",
                         headers={"Content-Type": "image/png"})
    expect(r, 400)
    assert_problem(r)
    expect(user.api.request("POST", "/blobs", data=b""), 400)
    big = b"\x89PNG\r\n\x1a\n" + b"\x00" * (10 * 1024 * 1024 + 16)
    try:
        r = user.api.request("POST", "/blobs", data=big, timeout=60)
        assert r.status_code == 413, f"{r.status_code}: {r.text[:300]}"
    except requests.ConnectionError:
        pass  # closing the connection on an oversized body is also acceptable
    expect(user.api.get(f"/blobs/{uuid.uuid4()}"), 404)


def test_problem_json_shape(platform: Platform):
    api = platform.api()
    cases = [
        api.get("/me"),                                                  # 401
        api.post("/auth/login", {"phone": "13800000000"}),               # 400: neither
        api.request("POST", "/auth/login", data=b"{not json",
                    headers={"Content-Type": "application/json"}),       # 400 body
        platform.register().api.get("/admin/users"),                     # 403
        platform.admin.get(f"/orgs/{uuid.uuid4()}"),                     # 404
    ]
    statuses = []
    for r in cases:
        p = assert_problem(r)
        assert p["type"].startswith(("https://", "about:")), p
        assert p["title"], p
        statuses.append(r.status_code)
    assert statuses == [401, 400, 400, 403, 404], statuses
    r = api.get("/api/v1/no-such-route")
    assert r.status_code == 404


def test_idempotency_replay(platform: Platform):
    admin = platform.admin
    key = f"e2e-{uuid.uuid4()}"
    body = {"name": f"幂等测试部门{uuid.uuid4().hex[:6]}"}
    first = admin.post("/orgs", body, headers={"Idempotency-Key": key})
    expect(first, 201)
    assert first.headers.get("idempotent-replayed") is None
    again = admin.post("/orgs", body, headers={"Idempotency-Key": key})
    expect(again, 201)
    assert again.headers.get("idempotent-replayed") == "true"
    assert again.json() == first.json()
    other = admin.post("/orgs", {"name": body["name"] + "乙"}, headers={"Idempotency-Key": key})
    expect(other, 422, "idempotency_mismatch")
    # Only one organization of that name exists.
    names, cursor = [], None
    while True:
        params = {"all": "true", "limit": 100}
        if cursor:
            params["cursor"] = cursor
        page = admin.ok("GET", "/orgs", params=params)
        names += [o["name"] for o in page["items"]]
        cursor = page.get("next_cursor")
        if not cursor:
            break
    assert names.count(body["name"]) == 1, names
    # Keys are per user: the same key from another user is a new request.
    user = platform.verified_user()
    blob_body = png_bytes(seed=77)
    a = user.api.request("POST", "/blobs", data=blob_body, headers={"Idempotency-Key": key})
    expect(a, 201)
    b = user.api.request("POST", "/blobs", data=blob_body, headers={"Idempotency-Key": key})
    expect(b, 201)
    assert b.headers.get("idempotent-replayed") == "true" and b.json() == a.json()


def test_pagination_admin_users(platform: Platform):
    for i in range(5):
        platform.register(name=f"分页{i}")
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = platform.admin.ok("GET", "/admin/users", params=params)
        assert len(page["items"]) <= 2
        seen += [u["id"] for u in page["items"]]
        pages += 1
        cursor = page.get("next_cursor")
        if not cursor:
            break
        assert pages < 1000
    assert len(seen) == len(set(seen)), "a user appeared twice"
    everyone, cursor = [], None
    while True:
        params = {"limit": 100}
        if cursor:
            params["cursor"] = cursor
        page = platform.admin.ok("GET", "/admin/users", params=params)
        everyone += [u["id"] for u in page["items"]]
        cursor = page.get("next_cursor")
        if not cursor:
            break
    assert set(seen) == set(everyone) and len(seen) >= 6
    admin_id = platform.admin.user["id"]
    assert admin_id in seen
    expect(platform.admin.get("/admin/users", params={"limit": 2, "cursor": "garbage!!"}),
           (200, 400))


def test_auth_rate_limit(servers, backend):
    server = servers.start(backend=backend, label="ratelimit",
                           env={"QZ_AUTH_RATE_PER_MINUTE": "3", "QZ_MESSAGES_PER_HOUR": "1000"})
    # Fixed one-minute windows: 8 quick tries cross at most one boundary.
    statuses = []
    for _ in range(8):
        r = requests.post(server.url("/api/v1/auth/login"),
                          json={"phone": "13900000000", "password": "Wrong12345"}, timeout=30)
        statuses.append(r.status_code)
        if r.status_code == 429:
            p = assert_problem(r)
            assert p["code"] == "rate_limited", p
    assert 429 in statuses, statuses
    assert statuses[0] == 401, statuses
    # Other endpoints are still reachable.
    assert requests.get(server.url("/healthz"), timeout=10).status_code == 200


# Login by code and reset need a second code to a registered number. The minute between codes
# is per purpose, so a register code does not hold them up.

def test_login_by_code(platform: Platform, aged):
    user = aged["by_code"]
    code = platform.send_code("login", user.phone)
    api = platform.api()
    expect(api.post("/auth/login", {"phone": user.phone, "code": "12345x"}), 400)
    data = api.login(user.phone, code=code)
    assert data["user"]["id"] == user.id
    assert api.me()["user"]["id"] == user.id
    # Used once only.
    expect(platform.api().post("/auth/login", {"phone": user.phone, "code": code}), 400)


def test_lockout_and_reset(platform: Platform, aged):
    user = aged["reset"]
    other_session = platform.api()
    other_session.login(user.phone, PASSWORD)
    for _ in range(5):
        expect(platform.api().post("/auth/login", {"phone": user.phone, "password": "Wrong12345"}),
               (401, 403))
    r = platform.api().post("/auth/login", {"phone": user.phone, "password": PASSWORD})
    expect(r, 403)
    assert_problem(r)
    code = platform.send_code("reset_password", user.phone)
    new_password = "Reset2024abc"
    expect(platform.api().post("/auth/reset-password",
                               {"phone": user.phone, "code": "000000" if code != "000000" else "111111",
                                "password": new_password}), 400)
    expect(platform.api().post("/auth/reset-password",
                               {"phone": user.phone, "code": code, "password": new_password}), 204)
    # Every session ended.
    expect(user.api.get("/me"), 401)
    expect(other_session.get("/me"), 401)
    # Unlocked: the new password works, the old one not.
    expect(platform.api().post("/auth/login", {"phone": user.phone, "password": PASSWORD}), 401)
    api = platform.api()
    api.login(user.phone, new_password)
    user.api, user.password = api, new_password
    # The account was told by SMS.
    assert any(m.get("template") == "password_changed" for m in platform.outbox(user.phone))


def test_trail_records_client(platform: Platform):
    user = platform.register()
    user.api.s.headers["User-Agent"] = "qz-e2e/1.0"
    expect(user.api.put("/me/locale", {"locale": "zh-CN"}), 204)
    user.api.login(user.phone, PASSWORD)
    events = user.api.ok("GET", "/me/trail", params={"limit": 100})["items"]
    assert events, events
    assert all(e["object"] == f"user:{user.id}" for e in events)
    seqs = [e["seq"] for e in events]
    assert len(set(seqs)) == len(seqs)
    assert any(e["ip"] == "127.0.0.1" and e["user_agent"] == "qz-e2e/1.0" for e in events), events
    # Hash chain: each event's prev_hash is the previous event's hash.
    by_seq = {e["seq"]: e for e in events}
    for seq, e in by_seq.items():
        if seq - 1 in by_seq:
            assert e["prev_hash"] == by_seq[seq - 1]["hash"], (by_seq[seq - 1], e)
    # Other users' trails are not reachable.
    expect(user.api.get("/admin/trail", params={"object": f"user:{platform.admin.user['id']}"}), 403)


def _parallel(calls):
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(len(calls)) as pool:
        return [f.result() for f in [pool.submit(c) for c in calls]]


def test_races(platform: Platform):
    """The same code, the same Idempotency-Key and the same approval, all at once: one wins,
    the others are refused cleanly (never a 5xx, never a duplicate)."""
    phone = new_phone()
    code = platform.send_code("register", phone)
    body = {"phone": phone, "code": code, "password": PASSWORD, "name": "并发"}
    results = _parallel([lambda: requests.post(platform.server.url("/api/v1/auth/register"),
                                               json=body, timeout=60) for _ in range(6)])
    statuses = sorted(r.status_code for r in results)
    assert statuses.count(201) == 1 and all(s in (201, 400, 409) for s in statuses), \
        [(r.status_code, r.text[:200]) for r in results]

    key = {"Idempotency-Key": f"race-{uuid.uuid4()}"}
    name = f"并发部门{uuid.uuid4().hex[:6]}"
    clients = [platform.api().with_cookies_of(platform.admin) for _ in range(6)]
    results = _parallel([lambda c=c: c.post("/orgs", {"name": name}, headers=key) for c in clients])
    statuses = [r.status_code for r in results]
    assert all(s in (201, 409) for s in statuses), [(r.status_code, r.text[:200]) for r in results]
    created = {r.json()["id"] for r in results if r.status_code == 201}
    assert len(created) == 1, results
    names, cursor = [], None
    while True:
        params = {"all": "true", "limit": 100, **({"cursor": cursor} if cursor else {})}
        page = platform.admin.ok("GET", "/orgs", params=params)
        names += [o["name"] for o in page["items"]]
        cursor = page.get("next_cursor")
        if not cursor:
            break
    assert names.count(name) == 1, names

    org, owner = platform.company()
    joiner = platform.verified_user("并发者")
    req = joiner.api.ok("POST", f"/orgs/{org['id']}/join-requests", {"message": ""}, status=201)
    clients = [platform.api().with_cookies_of(owner.api) for _ in range(5)]
    results = _parallel([lambda c=c: c.post(f"/requests/{req['id']}/approve") for c in clients])
    statuses = sorted(r.status_code for r in results)
    assert statuses.count(200) == 1 and all(s in (200, 409) for s in statuses), \
        [(r.status_code, r.text[:200]) for r in results]
    roles = owner.api.ok("GET", f"/orgs/{org['id']}/members", params={"limit": 100})["items"]
    assert [m["role"] for m in roles if m["user_id"] == joiner.id] == ["member"]


def test_lockout_holds_under_concurrent_guesses(platform: Platform):
    """Twelve wrong passwords sent at once are twelve failures: the account must be locked
    afterwards, as after five sent one by one."""
    user = platform.register()
    url = platform.server.url("/api/v1/auth/login")
    results = _parallel([lambda: requests.post(url, json={"phone": user.phone,
                                                          "password": "Wrong12345"}, timeout=60)
                         for _ in range(12)])
    assert all(r.status_code in (401, 403) for r in results), [r.status_code for r in results]
    r = requests.post(url, json={"phone": user.phone, "password": PASSWORD}, timeout=60)
    assert r.status_code == 403, (
        f"after 12 concurrent wrong passwords the right one answers {r.status_code}, not 403 "
        f"(locked); statuses of the guesses: {sorted(x.status_code for x in results)}")
