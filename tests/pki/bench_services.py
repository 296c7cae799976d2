#!/usr/bin/env python3
"""Load benchmark of `qz pki serve`: TSA and OCSP throughput and latency on loopback.

    .venv/bin/python tests/pki/bench_services.py [--qz PATH] [--duration 10] [--connections 8]
                                                 [--targets tsa,ocsp,crl] [--client auto|wrk|python]

Not a pytest module (pytest only collects test_*.py). It:
  1. makes a throwaway CA (`qz ca init --base-url`) and a person certificate in --out
     (default tests/out/pki-bench, wiped), and starts `qz pki serve` on a free 127.0.0.1 port;
  2. builds one fixed request per service with openssl: a TSA query (SHA-256 imprint, nonce,
     certReq) and an OCSP request for the person certificate (SHA-1 CertID, no nonce, as RFC 5019
     high-volume clients send); `crl` (optional) is GET /pki/crl/ca.crl;
  3. checks one response of each with openssl (`ts -verify`, `ocsp ... good`) before the run;
  4. drives each service for --duration seconds with wrk (POST from a Lua script) or, when wrk is
     missing, with --connections Python processes using keep-alive http.client;
  5. prints responses/s, errors, latency p50/p90/p99/max, the server's peak RSS, and checks a
     response again after the load (the server must still answer correctly).
Everything stays on 127.0.0.1, every loop is bounded by time (and the Python client also by
count), and the server is stopped with SIGTERM at the end.

QZ_BIN overrides the binary; the default prefers target/release/qz (then target/debug/qz).
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
HOST = "127.0.0.1"
MAX_PY_REQUESTS = 2_000_000  # per worker, on top of the time bound

CTYPES = {"tsa": "application/timestamp-query", "ocsp": "application/ocsp-request"}

WRK_LUA = r"""
-- POST a fixed body from a file; report a JSON line at the end.
local path = os.getenv("QZ_BENCH_BODY")
if path and path ~= "" then
  local f = assert(io.open(path, "rb"))
  wrk.method = "POST"
  wrk.body = f:read("*a")
  f:close()
  wrk.headers["Content-Type"] = os.getenv("QZ_BENCH_CTYPE")
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'QZJSON {"requests":%d,"duration_us":%d,"bytes":%d,"err_connect":%d,"err_read":%d,' ..
    '"err_write":%d,"err_status":%d,"err_timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
    '"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
"""


def log(msg: str) -> None:
    print(msg, flush=True)


def run(args, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], capture_output=True, **kw)


def check(p: subprocess.CompletedProcess, what: str) -> subprocess.CompletedProcess:
    if p.returncode != 0:
        sys.exit(f"{what} failed (exit {p.returncode}):\n{p.stderr.decode(errors='replace')}"
                 f"{p.stdout.decode(errors='replace')}")
    return p


def default_qz() -> Path:
    if os.environ.get("QZ_BIN"):
        return Path(os.environ["QZ_BIN"]).resolve()
    for c in (REPO / "target" / "release" / "qz", REPO / "target" / "debug" / "qz"):
        if c.is_file() and os.access(c, os.X_OK):
            return c
    sys.exit("no qz binary: build target/release/qz or set QZ_BIN")


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def http(url: str, body: bytes | None = None, ctype: str | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, method="POST" if body is not None else "GET")
    if ctype:
        req.add_header("Content-Type", ctype)
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, r.read()


def rss_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) in KiB, 0 when unknown."""
    try:
        txt = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0, 0
    get = lambda k: int(re.search(rf"^{k}:\s+(\d+)", txt, re.M).group(1)) if re.search(rf"^{k}:", txt, re.M) else 0  # noqa: E731
    return get("VmRSS"), get("VmHWM")


# --------------------------------------------------------------------------- set-up

def setup(qz: Path, out: Path, port: int) -> dict:
    base = f"http://{HOST}:{port}"
    ca = out / "ca"
    check(run([qz, "ca", "init", "--dir", ca, "--base-url", base]), "qz ca init")
    check(run([qz, "ca", "issue", "--dir", ca, "--kind", "person", "--name", "压测用户",
               "--out", out / "person"]), "qz ca issue")
    return {"base": base, "ca": ca, "person": out / "person.pem"}


def start_server(qz: Path, ca: Path, port: int, logf: Path) -> subprocess.Popen:
    fh = open(logf, "ab")
    proc = subprocess.Popen([str(qz), "pki", "serve", "--dir", str(ca), "--listen", f"{HOST}:{port}"],
                            stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    fh.close()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"qz pki serve exited with {proc.returncode}:\n{logf.read_text(errors='replace')}")
        try:
            if http(f"http://{HOST}:{port}/pki/cert/root.crt")[0] == 200:
                return proc
        except OSError:
            pass
        time.sleep(0.05)
    stop_server(proc)
    sys.exit("qz pki serve did not answer within 20 s")


def stop_server(proc: subprocess.Popen) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def make_bodies(env: dict, out: Path) -> dict:
    data = out / "document.bin"
    data.write_bytes(b"Qianzhang benchmark document\n" * 100)
    tsq = out / "bench.tsq"
    check(run(["openssl", "ts", "-query", "-data", data, "-sha256", "-cert", "-out", tsq]), "openssl ts -query")
    ocspq = out / "bench.ocsp-req.der"
    check(run(["openssl", "ocsp", "-issuer", env["ca"] / "ca.pem", "-cert", env["person"], "-no_nonce",
               "-reqout", ocspq]), "openssl ocsp -reqout")
    return {"tsa": tsq, "ocsp": ocspq}


def validate(service: str, env: dict, bodies: dict, out: Path) -> str:
    """Send one request and judge the answer with openssl. Returns a short verdict or exits."""
    base, ca = env["base"], env["ca"]
    if service == "tsa":
        st, body = http(f"{base}/pki/tsa", bodies["tsa"].read_bytes(), CTYPES["tsa"])
        tsr = out / "sample.tsr"
        tsr.write_bytes(body)
        p = run(["openssl", "ts", "-verify", "-queryfile", bodies["tsa"], "-in", tsr,
                 "-CAfile", ca / "root.pem", "-untrusted", ca / "ca.pem"])
        ok = st == 200 and p.returncode == 0 and b"Verification: OK" in p.stdout
        verdict = "TSA response: Verification: OK"
    elif service == "ocsp":
        st, body = http(f"{base}/pki/ocsp", bodies["ocsp"].read_bytes(), CTYPES["ocsp"])
        resp = out / "sample.ocsp-resp.der"
        resp.write_bytes(body)
        p = run(["openssl", "ocsp", "-respin", resp, "-reqin", bodies["ocsp"], "-issuer", ca / "ca.pem",
                 "-CAfile", ca / "root.pem", "-resp_text"])
        txt = p.stdout + p.stderr
        ok = st == 200 and b"Response verify OK" in txt and b"Cert Status: good" in txt
        verdict = "OCSP response: verify OK, good"
    else:
        st, body = http(f"{base}/pki/crl/ca.crl")
        crlf = out / "sample.crl"
        crlf.write_bytes(body)
        chain = out / "chain.pem"
        chain.write_bytes((ca / "ca.pem").read_bytes() + (ca / "root.pem").read_bytes())
        p = run(["openssl", "crl", "-inform", "DER", "-in", crlf, "-CAfile", chain, "-noout"])
        ok = st == 200 and b"verify OK" in p.stdout + p.stderr
        verdict = "CRL: verify OK"
    if not ok:
        sys.exit(f"{service}: the sample response is not valid (HTTP {st}):\n"
                 f"{p.stdout.decode(errors='replace')}{p.stderr.decode(errors='replace')}")
    return verdict


# --------------------------------------------------------------------------- load: wrk

def load_wrk(url: str, body: Path | None, ctype: str, duration: int, conns: int, threads: int,
             out: Path) -> dict:
    script = out / "post.lua"
    script.write_text(WRK_LUA)
    env = dict(os.environ, QZ_BENCH_BODY=str(body or ""), QZ_BENCH_CTYPE=ctype)
    p = subprocess.run(["wrk", f"-t{threads}", f"-c{conns}", f"-d{duration}s", "--timeout", "5s",
                        "--latency", "-s", str(script), url],
                       capture_output=True, env=env, timeout=duration + 60)
    txt = p.stdout.decode(errors="replace")
    m = re.search(r"^QZJSON (\{.*\})$", txt, re.M)
    if p.returncode != 0 or not m:
        sys.exit(f"wrk failed (exit {p.returncode}):\n{txt}{p.stderr.decode(errors='replace')}")
    j = json.loads(m.group(1))
    errors = j["err_connect"] + j["err_read"] + j["err_write"] + j["err_status"] + j["err_timeout"]
    return {"requests": j["requests"], "seconds": j["duration_us"] / 1e6, "errors": errors,
            "non2xx": j["err_status"], "p50_ms": j["p50_us"] / 1e3, "p90_ms": j["p90_us"] / 1e3,
            "p99_ms": j["p99_us"] / 1e3, "max_ms": j["max_us"] / 1e3, "mean_ms": j["mean_us"] / 1e3}


# --------------------------------------------------------------------------- load: Python fallback

def _py_worker(args) -> tuple[list[float], int, int]:
    import http.client
    port, path, body, ctype, deadline = args
    lat: list[float] = []
    errors = non2xx = 0
    conn = http.client.HTTPConnection(HOST, port, timeout=5)
    headers = {"Content-Type": ctype} if body is not None else {}
    while time.time() < deadline and len(lat) + errors < MAX_PY_REQUESTS:
        t = time.perf_counter()
        try:
            conn.request("POST" if body is not None else "GET", path, body=body, headers=headers)
            r = conn.getresponse()
            r.read()
            if not 200 <= r.status < 400:
                non2xx += 1
            lat.append(time.perf_counter() - t)
        except (OSError, http.client.HTTPException):
            errors += 1
            conn.close()
            conn = http.client.HTTPConnection(HOST, port, timeout=5)
    conn.close()
    return lat, errors, non2xx


def load_python(port: int, path: str, body: Path | None, ctype: str, duration: int, conns: int) -> dict:
    data = body.read_bytes() if body else None
    t0 = time.time()
    deadline = t0 + duration
    with mp.Pool(conns) as pool:
        res = pool.map(_py_worker, [(port, path, data, ctype, deadline)] * conns)
    secs = time.time() - t0
    lat = sorted(x for r in res for x in r[0])
    errors = sum(r[1] for r in res)
    non2xx = sum(r[2] for r in res)
    pct = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1e3 if lat else float("nan")  # noqa: E731
    return {"requests": len(lat), "seconds": secs, "errors": errors + non2xx, "non2xx": non2xx,
            "p50_ms": pct(0.50), "p90_ms": pct(0.90), "p99_ms": pct(0.99),
            "max_ms": lat[-1] * 1e3 if lat else float("nan"),
            "mean_ms": sum(lat) / len(lat) * 1e3 if lat else float("nan")}


# --------------------------------------------------------------------------- main

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--qz", type=Path, default=None, help="qz binary (default: QZ_BIN, release, debug)")
    ap.add_argument("--duration", type=int, default=10, help="seconds per service (max 120)")
    ap.add_argument("--connections", type=int, default=8, help="concurrent connections (max 256)")
    ap.add_argument("--threads", type=int, default=1, help="wrk threads (default 1: 2-core machine)")
    ap.add_argument("--targets", default="tsa,ocsp", help="comma list of tsa, ocsp, crl")
    ap.add_argument("--client", choices=["auto", "wrk", "python"], default="auto")
    ap.add_argument("--out", type=Path, default=REPO / "tests" / "out" / "pki-bench")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    a = ap.parse_args()
    duration = max(1, min(a.duration, 120))
    conns = max(1, min(a.connections, 256))
    targets = [t.strip() for t in a.targets.split(",") if t.strip()]
    for t in targets:
        if t not in ("tsa", "ocsp", "crl"):
            sys.exit(f"unknown target {t!r}")
    if not shutil.which("openssl"):
        sys.exit("openssl is needed to build and check the requests")
    client = a.client
    if client == "auto":
        client = "wrk" if shutil.which("wrk") else "python"
    if client == "wrk" and not shutil.which("wrk"):
        sys.exit("wrk not installed (apt-get install wrk, or scripts/setup-test-env)")

    qz = (a.qz or default_qz()).resolve()
    kind = "release" if "/release/" in str(qz) else "debug" if "/debug/" in str(qz) else "custom"
    out = a.out.resolve()
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    port = free_port()
    env = setup(qz, out, port)
    bodies = make_bodies(env, out)
    proc = start_server(qz, env["ca"], port, out / "serve.log")
    results = {"binary": str(qz), "build": kind, "client": client, "connections": conns,
               "duration_s": duration, "cpus": os.cpu_count(), "targets": {}}
    try:
        log(f"qz pki serve ({kind} build: {qz}) on {env['base']}; client {client}, {conns} connections, "
            f"{duration} s per target, {os.cpu_count()} CPUs shared by client and server")
        for t in targets:
            before = validate(t, env, bodies, out)
            path = {"tsa": "/pki/tsa", "ocsp": "/pki/ocsp", "crl": "/pki/crl/ca.crl"}[t]
            body = bodies.get(t)
            ctype = CTYPES.get(t, "")
            if client == "wrk":
                r = load_wrk(env["base"] + path, body, ctype, duration, conns, a.threads, out)
            else:
                r = load_python(port, path, body, ctype, duration, conns)
            if proc.poll() is not None:
                sys.exit(f"the server died during the {t} load (exit {proc.returncode})")
            after = validate(t, env, bodies, out)
            r["rps"] = r["requests"] / r["seconds"] if r["seconds"] else 0.0
            r["check"] = f"{before} (before and after the load)" if before == after else f"{before} / {after}"
            r["server_rss_kib"], r["server_peak_rss_kib"] = rss_kib(proc.pid)
            results["targets"][t] = r
            log(f"  {t:5s} {r['rps']:9.1f} responses/s  ({r['requests']} in {r['seconds']:.1f} s, "
                f"errors {r['errors']}, non-2xx {r['non2xx']})  latency ms: p50 {r['p50_ms']:.2f}  "
                f"p90 {r['p90_ms']:.2f}  p99 {r['p99_ms']:.2f}  max {r['max_ms']:.2f}  "
                f"| server RSS {r['server_rss_kib'] // 1024} MiB (peak {r['server_peak_rss_kib'] // 1024} MiB)"
                f"  | {r['check']}")
    finally:
        rc = stop_server(proc)
        results["server_exit"] = rc
    if a.json:
        a.json.write_text(json.dumps(results, indent=2))
    bad = [t for t, r in results["targets"].items() if r["errors"]]
    if bad:
        log(f"FAIL: errors under load for {', '.join(bad)}")
        return 1
    log(f"ok (server exit {rc} after SIGTERM)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
