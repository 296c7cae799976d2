"""Shared set-up for the interop tests: qz binary, PKI, corpus, seal images.

Environment:
  QZ_BIN              path to the `qz` binary (default: target/release/qz, then target/debug/qz)
  QZ_INTEROP_OUT      work directory (default: <repo>/tests/out/interop; wiped at start)
  QZ_INTEROP_BENCH=1  also sign the 100- and 1000-page bench files
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(HERE))

import make_corpus  # noqa: E402
import make_pki  # noqa: E402

BENCH = os.environ.get("QZ_INTEROP_BENCH", "") not in ("", "0")


def qz_bin() -> Path | None:
    env = os.environ.get("QZ_BIN")
    if env:
        return Path(env).resolve()
    for cand in (REPO / "target" / "release" / "qz", REPO / "target" / "debug" / "qz"):
        if cand.is_file() and os.access(cand, os.X_OK):
            return cand
    return None


def out_root() -> Path:
    return Path(os.environ.get("QZ_INTEROP_OUT", REPO / "tests" / "out" / "interop")).resolve()


_CORPUS: dict | None = None


def corpus_manifest() -> dict:
    """Build the corpus once per session (at collection time: tests are parametrized by it)."""
    global _CORPUS
    if _CORPUS is None:
        root = out_root()
        if root.exists():
            shutil.rmtree(root)
        (root / "corpus").mkdir(parents=True)
        try:
            m = make_corpus.make_corpus(root / "corpus", pki=None, bench=BENCH, log=lambda s: None)
        except Exception as e:  # noqa: BLE001
            m = {"files": [], "skipped": [], "errors": [{"name": "*", "error": f"{type(e).__name__}: {e}"}]}
        m["dir"] = str(root / "corpus")
        _CORPUS = m
    return _CORPUS


def corpus_entries(*expects: str) -> list[dict]:
    return [e for e in corpus_manifest()["files"] if e["expect"] in expects and (BENCH or not e["bench"])]


# --------------------------------------------------------------------------- fixtures

@dataclass
class Pki:
    dir: Path

    def f(self, name: str) -> Path:
        return self.dir / name

    @property
    def root(self) -> Path:
        return self.dir / "root.pem"

    @property
    def ca(self) -> Path:
        return self.dir / "ca.pem"


@pytest.fixture(scope="session")
def workdir() -> Path:
    corpus_manifest()  # creates (and wipes) the root first
    d = out_root() / "work"
    d.mkdir(parents=True, exist_ok=True)
    return d


@pytest.fixture(scope="session")
def corpus() -> dict:
    return corpus_manifest()


@pytest.fixture(scope="session")
def corpus_dir(corpus) -> Path:
    return Path(corpus["dir"])


@pytest.fixture(scope="session")
def pki(workdir) -> Pki:
    if not shutil.which("openssl"):
        pytest.skip("openssl not installed")
    d = out_root() / "pki"
    make_pki.make_pki(d)
    return Pki(d)


@pytest.fixture(scope="session")
def qz() -> Path:
    b = qz_bin()
    if b is None or not b.is_file():
        pytest.skip("qz binary not found: set QZ_BIN or build target/release/qz")
    return b


@pytest.fixture(scope="session")
def images(workdir) -> dict[str, Path]:
    d = out_root() / "images"
    d.mkdir(exist_ok=True)
    return make_images(d)


def make_images(d: Path) -> dict[str, Path]:
    from PIL import Image, ImageDraw
    import math

    # seal.png: red ring + red five-point star on a transparent background, 400x400 RGBA
    seal = Image.new("RGBA", (400, 400), (0, 0, 0, 0))
    dr = ImageDraw.Draw(seal)
    red = (230, 0, 18, 255)
    dr.ellipse((12, 12, 388, 388), outline=red, width=18)
    cx, cy, ro, ri = 200, 200, 110, 44
    pts = []
    for k in range(10):
        r = ro if k % 2 == 0 else ri
        a = -math.pi / 2 + k * math.pi / 5
        pts.append((cx + r * math.cos(a), cy + r * math.sin(a)))
    dr.polygon(pts, fill=red)
    seal.save(d / "seal.png")

    # orient.png: top half pure red, bottom half pure blue, opaque, 200x200
    orient = Image.new("RGB", (200, 200), (0, 0, 255))
    ImageDraw.Draw(orient).rectangle((0, 0, 199, 99), fill=(255, 0, 0))
    orient.save(d / "orient.png")

    # an image file that does not decode
    (d / "garbage.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"this is not really a png" * 20)
    return {"seal": d / "seal.png", "orient": d / "orient.png", "garbage": d / "garbage.png"}


# --------------------------------------------------------------------------- running qz

@dataclass
class QzRun:
    args: list[str]
    rc: int
    stdout: str
    stderr: str

    def describe(self) -> str:
        return (f"$ {' '.join(self.args)}\nexit {self.rc}\n--- stderr ---\n{self.stderr}"
                f"--- stdout ---\n{self.stdout}")


def run_qz(qz: Path, args: list, env: dict | None = None, timeout: float = 300) -> QzRun:
    full = [str(qz), *[str(a) for a in args]]
    e = dict(os.environ)
    e.update(env or {})
    try:
        p = subprocess.run(full, capture_output=True, timeout=timeout, env=e)
    except subprocess.TimeoutExpired:
        pytest.fail(f"qz timed out after {timeout}s: {' '.join(full)}")
    return QzRun(full, p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace"))


def signer_args(pki: Pki, which: str) -> list:
    """--key/--cert/--chain for a leaf of the test PKI."""
    key = {"ecdsa": "ecdsa.key", "rsa2048": "rsa2048.key", "rsa4096": "rsa4096.key",
           "ec-sec1": "ec-sec1.key", "expired": "expired.key"}[which]
    cert = {"ec-sec1": "ecdsa.pem"}.get(which, f"{which}.pem")
    return ["--key", pki.f(key), "--cert", pki.f(cert), "--chain", pki.ca]


def write_json(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, ensure_ascii=False, indent=2, default=str))
