"""Fixtures for tests/platform: the real `qz serve` driven over HTTP.

Environment:
  QZ_BIN          the qz binary under test (default target/debug/qz, then target/release/qz)
  QZ_TEST_PG      PostgreSQL server URL without a database
                  (default postgres://postgres@127.0.0.1:5432); tests create and drop their
                  own `qz_e2e_<random>` databases with psql
  QZ_PLATFORM_OUT work directory (default tests/out/platform, wiped at the start of a session)

Main pieces:
  - `ServerFactory` (fixture `servers`): starts `qz serve --listen 127.0.0.1:0` in a data
    directory with extra environment, reads stderr in a thread, parses the one-time admin
    password and the "serving on" address, waits for /readyz; at teardown every server still
    running gets SIGTERM and must exit 0 having printed "qz: stopped".
  - `Api`: a requests.Session against one server that sends X-CSRF-Token after login.
  - `Platform`: one server plus its logged-in admin client, with helpers to register users
    (fresh phone numbers, codes read from the development outbox), verify identities, upload
    files and set up verified outside companies.
  - `backend` (params sqlite, postgres) and the module-scoped `platform` fixture, so each
    suite runs once per database.
"""
from __future__ import annotations

import io
import itertools
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent

PG_SERVER = os.environ.get("QZ_TEST_PG", "postgres://postgres@127.0.0.1:5432").rstrip("/")

# Generous: a debug build creates the CA (key generation) on first start.
START_TIMEOUT = 60.0

# The quiet limits the servers of most tests run with.
QUIET_ENV = {
    "QZ_AUTH_RATE_PER_MINUTE": "100000",
    "QZ_MESSAGES_PER_HOUR": "100000",
}


# --------------------------------------------------------------------------- binaries, paths

def qz_bin() -> Path | None:
    env = os.environ.get("QZ_BIN")
    if env:
        return Path(env).resolve()
    for cand in (REPO / "target" / "debug" / "qz", REPO / "target" / "release" / "qz"):
        if cand.is_file() and os.access(cand, os.X_OK):
            return cand
    return None


@pytest.fixture(scope="session")
def qz() -> Path:
    path = qz_bin()
    if path is None or not path.is_file():
        pytest.skip("no qz binary: build it (cargo build -p qz-cli) or set QZ_BIN")
    return path


def out_root() -> Path:
    return Path(os.environ.get("QZ_PLATFORM_OUT", REPO / "tests" / "out" / "platform")).resolve()


@pytest.fixture(scope="session")
def out_dir() -> Path:
    root = out_root()
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    return root


_dir_counter = itertools.count(1)


def fresh_dir(root: Path, label: str) -> Path:
    path = root / f"{next(_dir_counter):03d}-{re.sub(r'[^A-Za-z0-9_.-]+', '_', label)[:60]}"
    path.mkdir(parents=True)
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(args: list, *, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, env=e,
                          timeout=timeout)


# --------------------------------------------------------------------------- PostgreSQL

def psql(sql: str, db: str = "postgres") -> subprocess.CompletedProcess:
    return run(["psql", f"{PG_SERVER}/{db}", "-v", "ON_ERROR_STOP=1", "-qAtc", sql], timeout=60)


def pg_available() -> bool:
    if not shutil.which("psql"):
        return False
    try:
        return psql("SELECT 1").returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


class PgDatabases:
    """Creates `qz_e2e_<random>` databases and drops them all at the end."""

    def __init__(self):
        self.names: list[str] = []

    def create(self) -> str:
        if not pg_available():
            pytest.skip(f"PostgreSQL not reachable at {PG_SERVER} (scripts/setup-test-env starts it)")
        name = f"qz_e2e_{secrets.token_hex(6)}"
        r = psql(f'CREATE DATABASE "{name}"')
        assert r.returncode == 0, f"CREATE DATABASE failed: {r.stderr}"
        self.names.append(name)
        return f"{PG_SERVER}/{name}"

    def drop_all(self):
        for name in self.names:
            psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.names.clear()


@pytest.fixture(scope="session")
def pg_databases():
    dbs = PgDatabases()
    yield dbs
    dbs.drop_all()


# --------------------------------------------------------------------------- the server

class StartFailed(Exception):
    def __init__(self, rc: int | None, stderr: str):
        super().__init__(f"qz serve did not start (exit {rc}):\n{stderr}")
        self.rc = rc
        self.stderr = stderr


class Server:
    """One `qz serve` process."""

    def __init__(self, qz: Path, data: Path, env: dict, args: list[str], label: str):
        self.qz, self.data, self.env, self.args, self.label = qz, data, env, args, label
        self.proc: subprocess.Popen | None = None
        self.lines: list[str] = []
        self.admin_password: str | None = None
        self.base: str | None = None
        self.exit_code: int | None = None
        self._serving = threading.Event()
        self._reader: threading.Thread | None = None
        self.log = data.parent / f"{data.name}.serve.log"

    # -- life cycle

    def start(self, timeout: float = START_TIMEOUT) -> "Server":
        env = dict(os.environ)
        # Start from a clean QZ_* environment: the caller's shell must not leak settings in.
        for key in list(env):
            if key.startswith("QZ_") and key != "QZ_BIN":
                del env[key]
        env.update(self.env)
        cmd = [str(self.qz), "serve", *self.args]
        self.lines = []
        self._serving.clear()
        self.proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + timeout
        while not self._serving.is_set():
            if self.proc.poll() is not None:
                self._reader.join(5)
                self.exit_code = self.proc.returncode
                raise StartFailed(self.exit_code, self.stderr)
            if time.monotonic() > deadline:
                self.kill()
                raise StartFailed(None, self.stderr + "\n(timed out waiting for 'serving on')")
            time.sleep(0.05)
        while True:
            try:
                r = requests.get(self.url("/readyz"), timeout=5)
                if r.status_code == 200:
                    break
            except requests.RequestException:
                pass
            if self.proc.poll() is not None:
                raise StartFailed(self.proc.returncode, self.stderr)
            if time.monotonic() > deadline:
                self.kill()
                raise StartFailed(None, self.stderr + "\n(timed out waiting for /readyz)")
            time.sleep(0.1)
        return self

    def _read(self):
        assert self.proc and self.proc.stderr
        with open(self.log, "a", encoding="utf-8") as log:
            log.write(f"--- start: {' '.join(map(str, self.args))}\n")
            for raw in self.proc.stderr:
                line = raw.decode("utf-8", errors="replace").rstrip("\n")
                self.lines.append(line)
                log.write(line + "\n")
                log.flush()
                m = re.search(r'one-time password: ([0-9a-f]{24})\b', line)
                if m:
                    self.admin_password = m.group(1)
                m = re.search(r"qz: serving on (http://[0-9.:\[\]]+)", line)
                if m:
                    self.base = m.group(1)
                    self._serving.set()

    @property
    def stderr(self) -> str:
        return "\n".join(self.lines)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 20) -> int:
        """SIGTERM; returns the exit code (the reader thread has drained stderr)."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                pytest.fail(f"{self.label}: no exit {timeout}s after SIGTERM\n{self.stderr}")
        if self._reader:
            self._reader.join(5)
        self.exit_code = self.proc.returncode
        return self.exit_code

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def url(self, path: str) -> str:
        assert self.base, "server not started"
        return self.base + path

    def api(self) -> "Api":
        return Api(self)


class ServerFactory:
    """Starts servers; stops every one at the end, checking the graceful shutdown."""

    def __init__(self, qz: Path, root: Path, pg: PgDatabases):
        self.qz, self.root, self.pg = qz, root, pg
        self.servers: list[Server] = []

    def database_url(self, backend: str) -> str | None:
        if backend == "sqlite":
            return None
        if backend == "postgres":
            return self.pg.create()
        raise ValueError(backend)

    def make(self, *, backend: str = "sqlite", env: dict | None = None, data: Path | None = None,
             database_url: str | None = None, args: list[str] | None = None, quiet: bool = True,
             label: str = "serve") -> Server:
        """A server not yet started. `data` None: a fresh directory; `database_url` None with
        backend postgres: a fresh database."""
        if data is None:
            data = fresh_dir(self.root, f"{label}-{backend}")
        e = dict(QUIET_ENV) if quiet else {}
        if backend == "postgres" and database_url is None:
            database_url = self.database_url("postgres")
        if database_url:
            e["QZ_DATABASE_URL"] = database_url
        e.update(env or {})
        if args is None:
            args = ["--data", str(data), "--listen", "127.0.0.1:0"]
        server = Server(self.qz, data, e, args, label)
        self.servers.append(server)
        return server

    def start(self, **kw) -> Server:
        return self.make(**kw).start()

    def stop_all(self) -> list[str]:
        problems = []
        for s in self.servers:
            if s.running:
                rc = s.stop()
                if rc != 0:
                    problems.append(f"{s.label}: exit {rc} after SIGTERM\n{s.stderr[-3000:]}")
                elif "qz: stopped" not in s.stderr:
                    problems.append(f"{s.label}: no 'qz: stopped' after SIGTERM\n{s.stderr[-3000:]}")
            panic = [l for l in s.lines if "panicked" in l]
            if panic:
                problems.append(f"{s.label}: panic in the log: {panic[0]}")
        self.servers.clear()
        return problems


@pytest.fixture
def servers(qz, out_dir, pg_databases):
    factory = ServerFactory(qz, out_dir, pg_databases)
    yield factory
    problems = factory.stop_all()
    if problems:
        pytest.fail("\n".join(problems))


# --------------------------------------------------------------------------- the API client

class ApiError(AssertionError):
    pass


class Api:
    """requests.Session bound to one server; X-CSRF-Token is sent once logged in."""

    def __init__(self, server: Server):
        self.server = server
        self.s = requests.Session()
        self.csrf: str | None = None
        self.user: dict | None = None

    def request(self, method: str, path: str, *, json_body=None, data=None, headers=None,
                csrf: bool = True, params=None, timeout: float = 30) -> requests.Response:
        if not path.startswith("/"):
            path = "/" + path
        if not (path.startswith("/api/") or path in ("/healthz", "/readyz", "/metrics")
                or path.startswith("/pki/")):
            path = "/api/v1" + path
        h = dict(headers or {})
        if csrf and self.csrf and method.upper() not in ("GET", "HEAD", "OPTIONS"):
            h.setdefault("X-CSRF-Token", self.csrf)
        kwargs = {"headers": h, "params": params, "timeout": timeout}
        if json_body is not None:
            kwargs["json"] = json_body
        elif data is not None:
            kwargs["data"] = data
        return self.s.request(method, self.server.url(path), **kwargs)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, json_body=body, **kw)

    def put(self, path, body=None, **kw):
        return self.request("PUT", path, json_body=body, **kw)

    def patch(self, path, body=None, **kw):
        return self.request("PATCH", path, json_body=body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def ok(self, method: str, path: str, body=None, status: int | tuple = (200, 201, 202, 204),
           **kw):
        r = self.request(method, path, json_body=body, **kw)
        expect(r, status)
        if r.status_code == 204 or not r.content:
            return None
        return r.json()

    # -- accounts

    def _took_login(self, r: requests.Response):
        data = r.json()
        self.csrf = data["csrf_token"]
        self.user = data["user"]
        return data

    def login(self, phone: str, password: str | None = None, code: str | None = None):
        body = {"phone": phone}
        if password is not None:
            body["password"] = password
        if code is not None:
            body["code"] = code
        r = self.post("/auth/login", body, csrf=False)
        expect(r, 200)
        return self._took_login(r)

    def logout(self):
        expect(self.post("/auth/logout"), 204)
        self.csrf = None

    def me(self) -> dict:
        r = self.get("/me")
        expect(r, 200)
        return r.json()

    def with_cookies_of(self, other: "Api") -> "Api":
        """This client shares `other`'s session (cookies and CSRF token)."""
        for c in other.s.cookies:
            self.s.cookies.set(c.name, c.value)
        self.csrf, self.user = other.csrf, other.user
        return self


def expect(r: requests.Response, status: int | tuple, code: str | None = None):
    """Asserts the status (and the problem code); the message shows the whole answer."""
    wanted = (status,) if isinstance(status, int) else tuple(status)
    if r.status_code not in wanted:
        raise ApiError(f"{r.request.method} {r.request.url} -> {r.status_code}, expected "
                       f"{'/'.join(map(str, wanted))}\n{r.headers.get('content-type')}\n"
                       f"{r.text[:2000]}")
    if code is not None:
        problem = assert_problem(r)
        assert problem["code"] == code, f"{r.request.method} {r.request.url}: code {problem['code']!r}, expected {code!r}: {problem}"
    return r


def assert_problem(r: requests.Response) -> dict:
    """RFC 9457: application/problem+json with type, title, status, detail, code."""
    ct = r.headers.get("content-type", "")
    assert ct.split(";")[0].strip() == "application/problem+json", \
        f"{r.request.method} {r.request.url} -> {r.status_code} with content-type {ct!r}: {r.text[:500]}"
    p = r.json()
    for key in ("type", "title", "status", "detail", "code"):
        assert key in p, f"problem without {key}: {p}"
    assert p["status"] == r.status_code, p
    assert isinstance(p["detail"], str) and p["detail"], p
    return p


# --------------------------------------------------------------------------- test data

_phone_counter = itertools.count(random.randrange(10_000_000, 90_000_000))


def new_phone() -> str:
    """A mainland mobile number never used before in this run."""
    return f"1{random.choice('3456789')}{next(_phone_counter):09d}"


_id_seen: set[str] = set()


def id_number(region: str = "110105") -> str:
    """A resident ID number with a real birth date and the GB 11643 check digit."""
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    while True:
        body = (f"{region}{random.randint(1950, 2004):04d}{random.randint(1, 12):02d}"
                f"{random.randint(1, 28):02d}{random.randint(0, 999):03d}")
        total = sum(int(c) * w for c, w in zip(body, weights))
        number = body + "10X98765432"[total % 11]
        if number not in _id_seen:
            _id_seen.add(number)
            return number


def bad_check_digit(number: str) -> str:
    last = number[-1]
    return number[:-1] + ("0" if last != "0" else "1")


CREDIT_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_credit_seen: set[str] = set()


def credit_code() -> str:
    """A unified social credit code (GB 32100 check character) never used before in this run."""
    weights = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
    while True:
        body = "91" + "110000" + "".join(random.choice(CREDIT_CHARS) for _ in range(9))
        total = sum(CREDIT_CHARS.index(c) * w for c, w in zip(body, weights))
        code = body + CREDIT_CHARS[(31 - total % 31) % 31]
        if code not in _credit_seen:
            _credit_seen.add(code)
            return code


def png_bytes(width: int = 4, height: int = 3, seed: int | None = None) -> bytes:
    """A small valid PNG (RGB), different for every seed."""
    rnd = random.Random(seed if seed is not None else secrets.randbits(64))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    raw = b"".join(b"\x00" + bytes(rnd.randrange(256) for _ in range(width * 3))
                   for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw))
            + chunk(b"IEND", b""))


def xlsx_bytes(rows: list[list], header=("部门编码", "部门名称", "上级部门编码")) -> bytes:
    import openpyxl
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "部门"
    ws.append(list(header))
    for row in rows:
        ws.append(list(row))
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


PASSWORD = "Passw0rd2024"

CODE_RE = re.compile(r"(?<!\d)(\d{6})(?!\d)")


# --------------------------------------------------------------------------- the platform

@dataclass
class User:
    api: Api
    phone: str
    password: str
    name: str
    id: str
    last_code_at: float = 0.0        # monotonic time of the latest code sent to the phone
    id_number: str | None = None


class Platform:
    """One running server and its logged-in platform admin."""

    def __init__(self, server: Server, admin_password: str | None = None, admin: Api | None = None):
        """`admin`: an already logged-in admin client (e.g. another instance's session);
        otherwise logs in with `admin_password` or the one the server printed."""
        self.server = server
        if admin is not None:
            self.admin = admin
            return
        self.admin = server.api()
        password = admin_password or server.admin_password
        assert password, f"no one-time admin password printed:\n{server.stderr}"
        self.admin.login("admin", password)

    def api(self) -> Api:
        return self.server.api()

    # -- codes

    def outbox(self, recipient: str) -> list[dict]:
        items, cursor = [], None
        while True:
            params = {"recipient": recipient, "limit": 100}
            if cursor:
                params["cursor"] = cursor
            page = self.admin.ok("GET", "/admin/outbox", params=params)
            items += page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                return items

    def latest_code(self, recipient: str, after: list[str] | None = None,
                    timeout: float = 5) -> str:
        """The newest one-time code sent to `recipient` (development outbox)."""
        deadline = time.monotonic() + timeout
        while True:
            msgs = [m for m in self.outbox(recipient)
                    if m.get("template") == "code" and (after is None or m["id"] not in after)]
            found = []
            for m in msgs:
                match = CODE_RE.search(m.get("body", ""))
                if match:
                    found.append((m.get("created_at", 0), m["id"], match.group(1)))
            if found:
                return max(found)[2]
            if time.monotonic() > deadline:
                raise AssertionError(f"no code for {recipient} in the outbox: {msgs}")
            time.sleep(0.2)

    def send_code(self, purpose: str, to: str, api: Api | None = None) -> str:
        before = [m["id"] for m in self.outbox(to)]
        client = api or self.api()
        r = client.post("/auth/codes", {"purpose": purpose, "to": to})
        expect(r, 202)
        return self.latest_code(to, after=before)

    # -- users

    def register(self, name: str = "测试用户", password: str = PASSWORD, phone: str | None = None) -> User:
        phone = phone or new_phone()
        code = self.send_code("register", phone)
        api = self.api()
        r = api.post("/auth/register", {"phone": phone, "code": code, "password": password,
                                        "name": name}, csrf=False)
        expect(r, 201)
        data = api._took_login(r)
        return User(api=api, phone=phone, password=password, name=name, id=data["user"]["id"],
                    last_code_at=time.monotonic())

    def verified_user(self, real_name: str = "张三") -> User:
        user = self.register(name=real_name)
        self.verify_identity(user, real_name)
        return user

    def verify_identity(self, user: User, real_name: str = "张三") -> dict:
        number = id_number()
        out = user.api.ok("POST", "/me/identity", {"real_name": real_name, "id_number": number},
                          status=200)
        assert out["status"] == "verified", out
        user.id_number = number
        return out

    # -- files

    def upload(self, api: Api, data: bytes, status=201) -> dict:
        r = api.request("POST", "/blobs", data=data,
                        headers={"Content-Type": "application/octet-stream"})
        expect(r, status)
        return r.json()

    # -- outside companies

    def submit_company(self, applicant: User, name: str | None = None, code: str | None = None,
                       legal_rep: str = "王五") -> dict:
        blob = self.upload(applicant.api, png_bytes())
        body = {"name": name or f"测试科技有限公司{secrets.token_hex(3)}",
                "credit_code": code or credit_code(), "legal_rep": legal_rep,
                "licence_blob": blob["id"]}
        req = applicant.api.ok("POST", "/org-verifications", body, status=201)
        assert req["status"] == "pending", req
        req["_body"] = body
        return req

    def company(self, admin: User | None = None, name: str | None = None) -> tuple[dict, User]:
        """A verified outside company whose admin is `admin` (a new verified user if None).
        Returns (org, admin)."""
        admin = admin or self.verified_user("李四")
        req = self.submit_company(admin, name=name)
        out = self.admin.ok("POST", f"/requests/{req['id']}/approve", status=200)
        assert out["status"] == "approved", out
        org = admin.api.ok("GET", f"/orgs/{req['org_id']}", status=200)
        assert org["verified"] is True and org["kind"] == "external", org
        org["_licence_blob"] = req["_body"]["licence_blob"]
        return org, admin

    def add_member(self, org_id: str, manager: Api, role: str = "member",
                   user: User | None = None) -> User:
        user = user or self.register(name="成员")
        manager.ok("POST", f"/orgs/{org_id}/members", {"phone": user.phone, "role": role},
                   status=201)
        return user


# --------------------------------------------------------------------------- per-backend platform

BACKENDS = ["sqlite", "postgres"]


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request) -> str:
    if request.param == "postgres" and not pg_available():
        pytest.skip(f"PostgreSQL not reachable at {PG_SERVER}")
    return request.param


@pytest.fixture(scope="module")
def module_servers(qz, out_dir, pg_databases, request):
    factory = ServerFactory(qz, out_dir, pg_databases)
    yield factory
    problems = factory.stop_all()
    if problems:
        pytest.fail("\n".join(problems))


@pytest.fixture(scope="module")
def platform(backend, module_servers, request) -> Platform:
    """One server per (module, backend), quiet limits, admin logged in."""
    label = f"{Path(request.module.__file__).stem}"
    server = module_servers.start(backend=backend, label=label)
    return Platform(server)
