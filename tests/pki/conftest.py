"""Fixtures for tests/pki: a CA made by `qz ca`, its services run by `qz pki serve`.

Environment:
  QZ_BIN      the qz binary under test (default target/debug/qz, then target/release/qz)
  QZ_PKI_OUT  work directory (default tests/out/pki, wiped at the start of a session)

The session fixture `pki` makes a CA with `--base-url http://127.0.0.1:PORT` (PORT: a free
loopback port), issues a person, an organization and a TSA certificate, and starts
`qz pki serve --dir CA --listen 127.0.0.1:PORT`. The server is stopped (SIGTERM) at the end;
tests that need it down (offline validation) use the `offline` fixture, which restarts it.

Behaviour worth knowing that the tests observed goes to NOTES and is printed in the
terminal summary ("qz pki notes").
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent

# Valid identifiers (GB 11643 / GB 32100 check digits).
PERSON_ID = "11010519491231002X"
CREDIT_CODE = "91350100M000100Y43"

NOTES: list[str] = []


def note(msg: str) -> None:
    if msg not in NOTES:
        NOTES.append(msg)


def pytest_terminal_summary(terminalreporter):
    if NOTES:
        terminalreporter.section("qz pki notes")
        for n in NOTES:
            terminalreporter.write_line(n)


def qz_bin() -> Path | None:
    env = os.environ.get("QZ_BIN")
    if env:
        return Path(env).resolve()
    for cand in (REPO / "target" / "debug" / "qz", REPO / "target" / "release" / "qz"):
        if cand.is_file() and os.access(cand, os.X_OK):
            return cand
    return None


def out_root() -> Path:
    return Path(os.environ.get("QZ_PKI_OUT", REPO / "tests" / "out" / "pki")).resolve()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- processes

@dataclass
class Run:
    args: list[str]
    rc: int
    stdout: str
    stderr: str

    def describe(self) -> str:
        return (f"$ {' '.join(self.args)}\nexit {self.rc}\n--- stderr ---\n{self.stderr}"
                f"--- stdout ---\n{self.stdout}")


def run(args: list, *, cwd: Path | None = None, env: dict | None = None, timeout: float = 120,
        input: bytes | None = None) -> Run:
    full = [str(a) for a in args]
    e = dict(os.environ)
    e.update(env or {})
    try:
        p = subprocess.run(full, capture_output=True, timeout=timeout, env=e, cwd=cwd, input=input)
    except subprocess.TimeoutExpired:
        pytest.fail(f"timed out after {timeout}s: {' '.join(full)}")
    return Run(full, p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace"))


def need_tool(name: str) -> str:
    path = shutil.which(name)
    if not path:
        pytest.skip(f"{name} not installed (scripts/setup-test-env installs it)")
    return path


def pyhanko_cli() -> str:
    cand = Path(sys.executable).parent / "pyhanko"
    if cand.is_file():
        return str(cand)
    return need_tool("pyhanko")


# --------------------------------------------------------------------------- HTTP

@dataclass
class Http:
    status: int
    content_type: str
    body: bytes


def http(url: str, body: bytes | None = None, content_type: str | None = None,
         timeout: float = 30) -> Http:
    """GET (body None) or POST; HTTP errors are returned, not raised."""
    req = urllib.request.Request(url, data=body, method="GET" if body is None else "POST")
    if content_type:
        req.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return Http(r.status, r.headers.get("Content-Type", ""), r.read())
    except urllib.error.HTTPError as e:
        return Http(e.code, e.headers.get("Content-Type", "") if e.headers else "", e.read())


# --------------------------------------------------------------------------- the server

class Server:
    def __init__(self, qz: Path, ca_dir: Path, port: int, log: Path):
        self.qz, self.ca_dir, self.port, self.log = qz, ca_dir, port, log
        self.proc: subprocess.Popen | None = None
        self.last_exit: int | None = None
        self.last_stop_seconds: float | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base + path

    def start(self, timeout: float = 20) -> None:
        if self.running():
            return
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [str(self.qz), "pki", "serve", "--dir", str(self.ca_dir), "--listen", f"127.0.0.1:{self.port}"],
            stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        logf.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"qz pki serve exited with {self.proc.returncode}:\n{self.log_text()}")
            if self.answers():
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"qz pki serve did not answer on port {self.port} within {timeout}s:\n{self.log_text()}")

    def answers(self) -> bool:
        try:
            with urllib.request.urlopen(self.url("/pki/cert/root.crt"), timeout=1) as r:
                return r.status == 200
        except Exception:  # noqa: BLE001
            return False

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 10) -> int | None:
        """SIGTERM, wait; SIGKILL only if it does not exit. Returns the exit code."""
        if self.proc is None:
            return self.last_exit
        t0 = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                note(f"qz pki serve did not exit within {timeout}s of SIGTERM: killed")
        self.last_stop_seconds = time.monotonic() - t0
        self.last_exit = self.proc.returncode
        self.proc = None
        return self.last_exit

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""


# --------------------------------------------------------------------------- the PKI

@dataclass
class Pki:
    qz: Path
    root_dir: Path          # everything for this session
    ca: Path                # the CA directory
    server: Server
    person: Path            # PREFIX (PREFIX.pem, PREFIX.key)
    org: Path
    tsa: Path
    serials: dict = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return self.server.base

    @property
    def root_pem(self) -> Path:
        return self.ca / "root.pem"

    @property
    def ca_pem(self) -> Path:
        return self.ca / "ca.pem"

    @property
    def work(self) -> Path:
        d = self.root_dir / "work"
        d.mkdir(exist_ok=True)
        return d

    def qz_run(self, *args, env: dict | None = None, timeout: float = 120) -> Run:
        return run([self.qz, *args], env=env, timeout=timeout)

    def issue(self, kind: str, name: str, out: Path, *extra) -> tuple[Path, str]:
        """`qz ca issue`; returns (PREFIX, serial hex lower-case)."""
        r = self.qz_run("ca", "issue", "--dir", self.ca, "--kind", kind, "--name", name,
                        "--out", out, *extra)
        assert r.rc == 0, r.describe()
        m = re.search(r"serial=([0-9A-Fa-f]+)", r.stdout)
        assert m, f"no serial= in the output of qz ca issue:\n{r.describe()}"
        return out, m.group(1).lower()

    def revoke(self, serial: str, reason: str) -> Run:
        r = self.qz_run("ca", "revoke", "--dir", self.ca, "--serial", serial, "--reason", reason)
        assert r.rc == 0, r.describe()
        return r


@pytest.fixture(scope="session")
def qz() -> Path:
    b = qz_bin()
    if b is None or not b.is_file():
        pytest.skip("qz binary not found: set QZ_BIN or build target/debug/qz")
    return b


@pytest.fixture(scope="session")
def pki(qz) -> Pki:
    need_tool("openssl")
    root = out_root()
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    port = free_port()
    ca = root / "ca"
    r = run([qz, "ca", "init", "--dir", ca, "--base-url", f"http://127.0.0.1:{port}"])
    assert r.rc == 0, r.describe()
    server = Server(qz, ca, port, root / "serve.log")
    p = Pki(qz=qz, root_dir=root, ca=ca, server=server,
            person=root / "person", org=root / "org", tsa=root / "tsa")
    _, p.serials["person"] = p.issue("person", "张三", p.person, "--id-number", PERSON_ID)
    _, p.serials["org"] = p.issue("org", "千章测试有限公司", p.org, "--credit-code", CREDIT_CODE)
    _, p.serials["tsa"] = p.issue("tsa", "千章测试时间戳", p.tsa)
    server.start()
    yield p
    server.stop()


@pytest.fixture
def offline(pki):
    """The server stopped (and its port closed) for the duration of a test; restarted after."""
    pki.server.stop()
    deadline = time.monotonic() + 5
    while pki.server.answers() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pki.server.answers(), "something still answers on the PKI port"
    yield pki
    pki.server.start()


@pytest.fixture(scope="session")
def small_pdf(pki) -> Path:
    try:
        from reportlab.lib.pagesizes import A4
        from reportlab.pdfgen import canvas
    except ImportError:
        pytest.skip("reportlab not installed in this Python (use .venv)")
    path = pki.root_dir / "input.pdf"
    c = canvas.Canvas(str(path), pagesize=A4)
    c.setTitle("qz pki test")
    c.drawString(72, 770, "Qianzhang PKI services test document")
    c.drawString(72, 750, "PAdES B-B / B-T / B-LT / B-LTA")
    c.showPage()
    c.save()
    return path
