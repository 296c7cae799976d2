"""Deployment: configuration errors and files, two instances on one PostgreSQL database, S3
blob storage (moto_server), e-mail over SMTP (aiosmtpd), the trail checker, graceful shutdown
and restart, health and metrics endpoints."""
from __future__ import annotations

import email
import email.policy
import hashlib
import re
import secrets
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from conftest import (CODE_RE, PASSWORD, Platform, StartFailed, expect, fresh_dir, free_port,
                      id_number, pg_available, png_bytes, psql, run)


# --------------------------------------------------------------------------- helpers

def serve_fails(qz: Path, args: list[str], env: dict, timeout: float = 60) -> subprocess.CompletedProcess:
    """Runs `qz serve` expecting it to refuse to start. It listens on a free port unless the
    case sets QZ_LISTEN, so a server that wrongly starts does not take 8080."""
    e = {"QZ_LISTEN": "127.0.0.1:0", **env}
    try:
        return run([qz, "serve", *args], env=e, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"qz serve {args} with {env} did not exit within {timeout}s (it should refuse to start)")


def restart(servers, old) -> "object":
    """The same server again (same data directory, environment and arguments)."""
    assert not old.running
    server = servers.make(data=old.data, env=old.env, args=old.args, quiet=False,
                          label=old.label + "-again")
    return server.start()


def pg_db_name(url: str) -> str:
    return url.rsplit("/", 1)[1]


# --------------------------------------------------------------------------- configuration

@pytest.mark.parametrize("env,needle", [
    ({"QZ_LISTEN": "nonsense"}, "QZ_LISTEN"),
    ({"QZ_DATABASE_URL": "mysql://x"}, "QZ_DATABASE_URL"),
    ({"QZ_SMTP_URL": "http://mail.example"}, "QZ_SMTP_URL"),
    ({"QZ_SMTP_URL": "smtp://127.0.0.1:25"}, "QZ_SMTP_FROM"),
    ({"QZ_SESSION_TTL": "5"}, "QZ_SESSION_TTL"),
    ({"QZ_PLATFORM_KEY": "abc"}, "platform"),
], ids=["listen", "database-scheme", "smtp-scheme", "smtp-no-from", "session-ttl", "platform-key"])
def test_bad_setting_refused(qz, out_dir, env, needle):
    data = fresh_dir(out_dir, "badconf")
    r = serve_fails(qz, ["--data", str(data)], env)
    assert r.returncode != 0, f"started with {env}?\n{r.stderr}"
    assert needle.lower() in r.stderr.lower(), f"no {needle!r} in the message:\n{r.stderr}"
    assert "panicked" not in r.stderr, r.stderr


def test_unknown_key_in_config_file(qz, out_dir):
    data = fresh_dir(out_dir, "badfile")
    cfg = data / "qz.toml"
    cfg.write_text(f'data = "{data}"\nlisten = "127.0.0.1:0"\ncolour = "blue"\n', encoding="utf-8")
    r = serve_fails(qz, ["--config", str(cfg)], {})
    assert r.returncode != 0, r.stderr
    assert "colour" in r.stderr and str(cfg) in r.stderr, r.stderr
    # A config file that is not TOML at all.
    cfg.write_text("listen = \n", encoding="utf-8")
    r = serve_fails(qz, ["--config", str(cfg)], {})
    assert r.returncode != 0 and str(cfg) in r.stderr, r.stderr
    r = serve_fails(qz, ["--config", str(data / "missing.toml")], {})
    assert r.returncode != 0 and "missing.toml" in r.stderr, r.stderr


def test_config_file_works(servers, out_dir):
    data = fresh_dir(out_dir, "conffile")
    cfg = data.parent / f"{data.name}.toml"
    cfg.write_text(
        f'data = "{data}"\n'
        'listen = "127.0.0.1:0"\n'
        "auth_rate_per_minute = 100000\n"
        "messages_per_hour = 100000\n"
        "session_ttl = 3600\n",
        encoding="utf-8")
    server = servers.make(data=data, args=["--config", str(cfg)], quiet=False, label="conffile")
    server.start()
    assert (data / "qz.db").exists() and (data / "ca" / "root.pem").exists()
    assert (data / "platform.key").exists()
    platform = Platform(server)
    r = platform.admin.s.get(server.url("/api/v1/me"), timeout=10)
    assert r.status_code == 200
    # session_ttl from the file reaches the cookie.
    r = requests.post(server.url("/api/v1/auth/login"),
                      json={"phone": "admin", "password": server.admin_password}, timeout=30)
    assert "Max-Age=3600" in r.headers.get("set-cookie", ""), r.headers
    # Flags beat the file.
    assert server.base.startswith("http://127.0.0.1:")


def test_unknown_env_variable_warned(servers):
    server = servers.start(env={"QZ_LISTN": "127.0.0.1:1"}, label="typo")
    assert any("QZ_LISTN" in l and "unknown" in l for l in server.lines), server.stderr


# --------------------------------------------------------------------------- health

def test_health_metrics_openapi(servers):
    server = servers.start(label="health")
    r = requests.get(server.url("/healthz"), timeout=10)
    assert r.status_code == 200 and r.text.strip() == "ok"
    r = requests.get(server.url("/readyz"), timeout=10)
    assert r.status_code == 200
    assert r.headers.get("x-content-type-options") == "nosniff"
    assert r.headers.get("cache-control") == "no-store"
    for _ in range(3):
        requests.get(server.url("/api/v1/me"), timeout=10)
    r = requests.get(server.url("/metrics"), timeout=10)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    m = re.search(r"^qz_http_requests_total (\d+)$", r.text, re.M)
    assert m and int(m.group(1)) >= 5, r.text
    assert "# TYPE qz_http_requests_total counter" in r.text
    r = requests.get(server.url("/api/v1/openapi.json"), timeout=10)
    assert r.status_code == 200
    doc = r.json()
    assert doc["openapi"].startswith("3.1")
    for path in ("/api/v1/auth/login", "/api/v1/orgs/{id}/members", "/api/v1/blobs"):
        assert path in doc["paths"], path
    # The PKI routes are served by the same process.
    r = requests.get(server.url("/pki/cert/root.crt"), timeout=10)
    assert r.status_code == 200 and r.content[:1] == b"\x30"


# --------------------------------------------------------------------------- shutdown, restart

@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_graceful_shutdown_and_restart(servers, backend):
    if backend == "postgres" and not pg_available():
        pytest.skip("PostgreSQL not reachable")
    server = servers.start(backend=backend, label="restart")
    password = server.admin_password
    platform = Platform(server)
    user = platform.register(name="重启用户")
    org = platform.admin.ok("POST", "/orgs", {"name": "重启前的部门"}, status=201)
    t0 = time.monotonic()
    assert server.stop() == 0, server.stderr
    assert time.monotonic() - t0 < 10
    assert "qz: stopped" in server.stderr
    again = restart(servers, server)
    assert again.admin_password is None
    assert "one-time password" not in again.stderr, again.stderr
    p2 = Platform(again, admin_password=password)
    api = again.api()
    api.login(user.phone, PASSWORD)
    assert api.me()["user"]["id"] == user.id
    assert p2.admin.ok("GET", f"/orgs/{org['id']}")["name"] == "重启前的部门"
    # The old session cookie survived the restart too.
    old = again.api().with_cookies_of(user.api)
    assert old.me()["user"]["id"] == user.id


def test_port_in_use(servers, qz):
    first = servers.start(label="port1")
    port = int(first.base.rsplit(":", 1)[1])
    second = servers.make(label="port2", args=None)
    second.args = ["--data", str(second.data), "--listen", f"127.0.0.1:{port}"]
    with pytest.raises(StartFailed) as info:
        second.start(timeout=60)
    assert info.value.rc not in (0, None)
    assert "QZ_LISTEN" in info.value.stderr or str(port) in info.value.stderr, info.value.stderr


# --------------------------------------------------------------------------- trail

@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_verify_trail_and_tamper(servers, qz, backend):
    if backend == "postgres" and not pg_available():
        pytest.skip("PostgreSQL not reachable")
    server = servers.start(backend=backend, label="trail")
    platform = Platform(server)
    user = platform.register()
    user.api.ok("POST", "/me/identity", {"real_name": "审计员", "id_number": id_number()})
    assert server.stop() == 0
    db_url = server.env.get("QZ_DATABASE_URL")
    where = ["--database-url", db_url] if db_url else ["--data", str(server.data)]
    r = run([qz, "admin", "verify-trail", *where])
    assert r.returncode == 0, r.stderr + r.stdout
    m = re.search(r"trail ok: (\d+) events", r.stdout)
    assert m and int(m.group(1)) >= 3, r.stdout
    if db_url:
        t = psql("UPDATE trail SET details = 'x' WHERE seq = 1", db=pg_db_name(db_url))
        assert t.returncode == 0, t.stderr
    else:
        with sqlite3.connect(server.data / "qz.db") as con:
            cur = con.execute("UPDATE trail SET details = 'x' WHERE seq = 1")
            assert cur.rowcount >= 1
    r = run([qz, "admin", "verify-trail", *where])
    assert r.returncode == 1, f"exit {r.returncode}\n{r.stdout}\n{r.stderr}"
    assert "trail BROKEN" in r.stdout, r.stdout + r.stderr
    # The running server's check says the same.
    again = restart(servers, server)
    admin = again.api()
    admin.login("admin", server.admin_password)
    out = admin.ok("POST", "/admin/trail/verify", status=200)
    assert out["ok"] is False and out.get("seq") == 1, out


def test_verify_trail_missing_database(qz, out_dir):
    empty = fresh_dir(out_dir, "nodb")
    r = run([qz, "admin", "verify-trail", "--data", str(empty)])
    assert r.returncode not in (0, 1) or "BROKEN" not in r.stdout
    assert r.returncode != 0
    assert not (empty / "qz.db").exists(), "checking created an empty database"


# --------------------------------------------------------------------------- two instances

@pytest.fixture
def pg_pair(servers, out_dir):
    if not pg_available():
        pytest.skip("PostgreSQL not reachable")
    db = servers.database_url("postgres")
    key = secrets.token_hex(32)
    ca = fresh_dir(out_dir, "shared-ca") / "ca"
    env = {"QZ_PLATFORM_KEY": key, "QZ_CA_DIR": str(ca)}
    one = servers.start(backend="postgres", database_url=db, env=env, label="instance1")
    two = servers.start(backend="postgres", database_url=db, env=env, label="instance2")
    return db, key, ca, one, two


def test_two_instances_one_database(servers, pg_pair):
    db, key, ca, one, two = pg_pair
    assert one.admin_password and two.admin_password is None, two.stderr
    p1 = Platform(one)
    # The session made on instance 1 works on instance 2.
    admin2 = two.api().with_cookies_of(p1.admin)
    assert admin2.me()["user"]["id"] == p1.admin.user["id"]
    org = admin2.ok("POST", "/orgs", {"name": "实例二创建的部门"}, status=201)
    assert p1.admin.ok("GET", f"/orgs/{org['id']}")["name"] == "实例二创建的部门"
    # A user registered on 2 (code read on 1) logs in on 1.
    p2 = Platform(two, admin=admin2)
    phone_user = p2.register(name="跨实例")
    a1 = one.api()
    a1.login(phone_user.phone, PASSWORD)
    assert a1.me()["user"]["id"] == phone_user.id
    # Logout on 1 ends the session on 2.
    shared = two.api().with_cookies_of(a1)
    assert shared.me()["user"]["id"] == phone_user.id
    a1.logout()
    expect(shared.get("/me"), 401)
    # Idempotency keys are kept in the database: a retry on the other instance replays.
    key_h = {"Idempotency-Key": "cross-instance-" + secrets.token_hex(4)}
    r1 = p1.admin.post("/orgs", {"name": "跨实例幂等"}, headers=key_h)
    expect(r1, 201)
    r2 = admin2.post("/orgs", {"name": "跨实例幂等"}, headers=key_h)
    expect(r2, 201)
    assert r2.headers.get("idempotent-replayed") == "true" and r2.json() == r1.json()
    # Both serve the same CA.
    c1 = requests.get(one.url("/pki/cert/root.crt"), timeout=10).content
    c2 = requests.get(two.url("/pki/cert/root.crt"), timeout=10).content
    assert c1 == c2 and c1


def test_other_platform_key_refused(servers, pg_pair):
    db, key, ca, one, two = pg_pair
    other = servers.make(backend="postgres", database_url=db, label="instance3",
                         env={"QZ_PLATFORM_KEY": secrets.token_hex(32), "QZ_CA_DIR": str(ca)})
    with pytest.raises(StartFailed) as info:
        other.start()
    assert info.value.rc not in (0, None), info.value.stderr
    assert "platform key" in info.value.stderr, info.value.stderr
    # The others keep serving.
    assert requests.get(one.url("/readyz"), timeout=10).status_code == 200


# --------------------------------------------------------------------------- S3

@pytest.fixture
def moto(out_dir):
    exe = Path(sys.executable).parent / "moto_server"
    if not exe.exists():
        pytest.skip("moto_server not installed (pip install -r tests/interop/requirements.txt)")
    port = free_port()
    log = open(fresh_dir(out_dir, "moto") / "moto.log", "wb")
    proc = subprocess.Popen([str(exe), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=log, stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            requests.get(endpoint + "/", timeout=2)
            break
        except requests.RequestException:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail("moto_server did not start")
            time.sleep(0.2)
    yield endpoint
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


AWS_ENV = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
           "AWS_DEFAULT_REGION": "us-east-1"}


def test_s3_blobs(servers, moto, monkeypatch):
    import boto3
    for k, v in AWS_ENV.items():
        monkeypatch.setenv(k, v)
    s3 = boto3.client("s3", endpoint_url=moto, region_name="us-east-1")
    bucket = "qz-e2e-" + secrets.token_hex(4)
    s3.create_bucket(Bucket=bucket)
    server = servers.start(label="s3", env={
        **AWS_ENV, "QZ_BLOB_URL": f"s3://{bucket}?endpoint={moto}&region=us-east-1"})
    assert f"S3 bucket {bucket}" in server.stderr, server.stderr
    platform = Platform(server)
    user = platform.register()
    data = png_bytes(64, 64)
    info = platform.upload(user.api, data)
    digest = hashlib.sha256(data).hexdigest()
    assert info["sha256"] == digest
    r = user.api.get(f"/blobs/{info['id']}")
    expect(r, 200)
    assert r.content == data
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    mine = [k for k in keys if k.endswith(digest)]
    assert mine, keys
    assert s3.get_object(Bucket=bucket, Key=mine[0])["Body"].read() == data
    # Nothing of the blobs went to the data directory.
    local = server.data / "blobs"
    assert not local.exists() or not any(local.rglob(digest)), "the blob went to the data directory"
    # A licence stored in S3 goes through the whole verification.
    platform.verify_identity(user, "郭五")
    req = platform.submit_company(user)
    platform.admin.ok("POST", f"/requests/{req['id']}/approve", status=200)
    r = platform.admin.get(f"/blobs/{req['_body']['licence_blob']}")
    expect(r, 200)


def test_s3_missing_bucket_refused(servers, moto):
    server = servers.make(label="s3-nobucket", env={
        **AWS_ENV, "QZ_BLOB_URL": f"s3://no-such-bucket-{secrets.token_hex(3)}?endpoint={moto}&region=us-east-1"})
    try:
        server.start(timeout=90)
    except StartFailed as failed:
        assert failed.rc not in (0, None) and "QZ_BLOB_URL" in failed.stderr, failed.stderr
        return
    # Started and /readyz said 200 (start() waits for it): what does an upload do?
    platform = Platform(server)
    user = platform.register()
    r = user.api.request("POST", "/blobs", data=png_bytes())
    pytest.fail("qz serve started and /readyz answered 200 with a bucket that does not exist; "
                f"an upload then answers {r.status_code} {r.text[:200]}\n" + server.stderr)


# --------------------------------------------------------------------------- SMTP

@pytest.fixture
def smtp_sink():
    try:
        from aiosmtpd.controller import Controller
    except ImportError:
        pytest.skip("aiosmtpd not installed (pip install -r tests/interop/requirements.txt)")

    class Sink:
        def __init__(self):
            self.envelopes = []

        async def handle_DATA(self, server, session, envelope):
            self.envelopes.append(envelope)
            return "250 Message accepted for delivery"

    sink = Sink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    sink.port = port
    yield sink
    controller.stop()


def test_smtp_email_change(servers, smtp_sink):
    server = servers.start(label="smtp", env={
        "QZ_SMTP_URL": f"smtp://127.0.0.1:{smtp_sink.port}", "QZ_SMTP_FROM": "noreply@qz.test"})
    platform = Platform(server)
    user = platform.register()
    address = f"user{secrets.token_hex(3)}@example.test"
    expect(user.api.post("/auth/codes", {"purpose": "change_email", "to": "not-an-address"}), 400)
    expect(user.api.post("/auth/codes", {"purpose": "change_email", "to": address}), 202)
    deadline = time.monotonic() + 10
    mail = None
    while mail is None and time.monotonic() < deadline:
        for env in smtp_sink.envelopes:
            if address in env.rcpt_tos:
                mail = env
        time.sleep(0.2)
    assert mail is not None, f"no mail within 10 s; outbox: {platform.outbox(address)}"
    assert mail.mail_from == "noreply@qz.test", mail.mail_from
    msg = email.message_from_bytes(mail.original_content, policy=email.policy.default)
    assert "noreply@qz.test" in str(msg["From"]) and address in str(msg["To"])
    body = msg.get_body(("plain",)).get_content()
    m = CODE_RE.search(body)
    assert m, body
    code = m.group(1)
    assert "更换邮箱" in body, body
    expect(user.api.post("/me/email", {"email": address, "code": "000000" if code != "000000" else "111111"}), 400)
    # After a wrong try the right code still works (5 tries).
    expect(user.api.post("/me/email", {"email": address, "code": code}), 204)
    assert user.api.me()["user"]["email"] == address
    sent = [x for x in platform.outbox(address) if x.get("template") == "code"]
    assert sent and sent[-1]["status"] == "sent", sent
    assert code not in sent[-1]["body"], "the code stayed in the outbox after sending"
    # SMS still go to the development outbox.
    assert all(x["status"] in ("dev", "queued") for x in platform.outbox(user.phone))


def test_smtp_unreachable_retries(servers):
    port = free_port()  # nothing listens there
    server = servers.start(label="smtp-down", env={
        "QZ_SMTP_URL": f"smtp://127.0.0.1:{port}", "QZ_SMTP_FROM": "noreply@qz.test"})
    platform = Platform(server)
    user = platform.register()
    address = f"down{secrets.token_hex(3)}@example.test"
    expect(user.api.post("/auth/codes", {"purpose": "change_email", "to": address}), 202)
    # A failed send goes back to the queue (retried with backoff), counted in attempts.
    deadline = time.monotonic() + 15
    items = []
    while time.monotonic() < deadline:
        items = platform.outbox(address)
        if items and items[-1].get("attempts", 0) >= 1 and items[-1]["status"] == "queued":
            break
        time.sleep(0.5)
    assert items and items[-1]["status"] == "queued" and items[-1]["attempts"] >= 1, items
    time.sleep(2)
    assert platform.outbox(address)[-1]["attempts"] == items[-1]["attempts"], "retried at once, no backoff"
    assert requests.get(server.url("/readyz"), timeout=10).status_code == 200


def test_two_instances_send_each_mail_once(servers, smtp_sink, out_dir):
    """Both instances run the background sender over one outbox: every message must leave
    exactly once."""
    if not pg_available():
        pytest.skip("PostgreSQL not reachable")
    db = servers.database_url("postgres")
    env = {"QZ_PLATFORM_KEY": secrets.token_hex(32),
           "QZ_CA_DIR": str(fresh_dir(out_dir, "mail-ca") / "ca"),
           "QZ_SMTP_URL": f"smtp://127.0.0.1:{smtp_sink.port}", "QZ_SMTP_FROM": "noreply@qz.test"}
    one = servers.start(backend="postgres", database_url=db, env=env, label="mail1")
    two = servers.start(backend="postgres", database_url=db, env=env, label="mail2")
    platform = Platform(one)
    addresses = []
    for i in range(8):
        user = platform.register()
        # Alternate the instance that takes the request.
        api = (two.api().with_cookies_of(user.api)) if i % 2 else user.api
        address = f"once{i}-{secrets.token_hex(3)}@example.test"
        expect(api.post("/auth/codes", {"purpose": "change_email", "to": address}), 202)
        addresses.append(address)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        got = {a for e in smtp_sink.envelopes for a in e.rcpt_tos}
        if set(addresses) <= got:
            break
        time.sleep(0.3)
    time.sleep(3)  # let a duplicate, if any, arrive
    counts = {a: sum(a in e.rcpt_tos for e in smtp_sink.envelopes) for a in addresses}
    assert all(n == 1 for n in counts.values()), counts
    for a in addresses:
        assert [m["status"] for m in platform.outbox(a)] == ["sent"], platform.outbox(a)
