"""Fixtures for tests/verify: attacked / clean / pyHanko-level files and running `qz verify`.

Environment:
  QZ_BIN          qz binary: signs the qz base files and, unless QZ_VERIFY_BIN is set, is the
                  verifier under test (default target/release/qz, then target/debug/qz)
  QZ_VERIFY_BIN   another verifier with the same CLI (`... verify --json --trust R FILE`);
                  (a path ending in .py is run with this Python)
  QZ_VERIFY_OUT   work directory (default tests/out/verify, wiped at the start of a run)

The files are generated once per session at collection time (tests are parametrized by the
manifests): PKIs (tests/interop/make_pki.py + ltv_pki.py), make_attacks.py, make_pyhanko_levels.py.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "interop"))

import make_attacks  # noqa: E402
import make_pki  # noqa: E402
import make_pyhanko_levels  # noqa: E402
import signing  # noqa: E402
from ltv_pki import ensure_ltv_pki  # noqa: E402

EXIT_CODES = make_attacks.EXIT_CODES


def pytest_configure(config):
    config.addinivalue_line("markers", "verify: needs `qz verify` (deselect with -m 'not verify')")


def out_root() -> Path:
    return Path(os.environ.get("QZ_VERIFY_OUT", REPO / "tests" / "out" / "verify")).resolve()


_BUILT: dict | None = None


def built() -> dict:
    """Generate everything once (at collection time). Never raises: errors are recorded and
    reported by test_generators_ok, and the parametrized tests then have a failing placeholder."""
    global _BUILT
    if _BUILT is not None:
        return _BUILT
    root = out_root()
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    res: dict = {"root": root, "errors": [], "timing": {}}
    t0 = time.monotonic()
    try:
        pki = root / "pki"
        make_pki.make_pki(pki)
        ensure_ltv_pki(pki)
        res["pki"] = pki
        res["timing"]["pki"] = time.monotonic() - t0
        t = time.monotonic()
        res["attacks"] = make_attacks.make_attacks(root / "attacks", pki, judge=True, log=lambda s: None)
        res["attacks"]["dir"] = str(root / "attacks")
        res["timing"]["attacks"] = time.monotonic() - t
        t = time.monotonic()
        res["levels"] = make_pyhanko_levels.make_levels(root / "levels", pki, log=lambda s: None)
        res["levels"]["dir"] = str(root / "levels")
        res["timing"]["levels"] = time.monotonic() - t
    except Exception as e:  # noqa: BLE001
        res["errors"].append(f"{type(e).__name__}: {e}\n{traceback.format_exc()}")
    _BUILT = res
    return res


def attack_entries(pred=lambda e: True) -> list:
    b = built()
    if "attacks" not in b:
        return [pytest.param(None, id="generator-failed")]
    return [pytest.param(e, id=e["name"]) for e in b["attacks"]["files"] if pred(e)]


def level_entries() -> list:
    b = built()
    if "levels" not in b:
        return [pytest.param(None, id="generator-failed")]
    return [pytest.param(e, id=e["name"]) for e in b["levels"]["files"]]


# --------------------------------------------------------------------------- running the verifier

def verifier_cmd() -> tuple[list[str] | None, str]:
    env = os.environ.get("QZ_VERIFY_BIN")
    if env:
        p = Path(env).resolve()
        if not p.is_file():
            return None, f"QZ_VERIFY_BIN={env} does not exist"
        return ([sys.executable, str(p)] if p.suffix == ".py" else [str(p)]), str(p)
    b = signing.qz_bin()
    if b is None or not b.is_file():
        return None, "qz binary not found (set QZ_BIN or build target/release/qz)"
    return [str(b)], str(b)


@dataclass
class VerifyRun:
    args: list[str]
    rc: int
    stdout: str
    stderr: str
    doc: dict | None
    json_error: str | None

    def describe(self) -> str:
        out = self.stdout if len(self.stdout) < 6000 else self.stdout[:6000] + "…"
        return (f"$ {' '.join(self.args)}\nexit {self.rc}\n--- stderr ---\n{self.stderr.strip()[:2000]}\n"
                f"--- stdout ---\n{out}")


class Verifier:
    def __init__(self):
        self.cmd, self.label = verifier_cmd()
        self.cache: dict = {}
        self.unavailable: str | None = None
        if self.cmd is None:
            self.unavailable = self.label
        else:
            p = subprocess.run(self.cmd + ["verify", "--help"], capture_output=True, timeout=60)
            if p.returncode != 0:
                self.unavailable = (f"`{self.label} verify` is not available (exit {p.returncode}): "
                                    + (p.stderr or p.stdout).decode(errors="replace").strip()[:300])

    def run(self, pdf: Path, trust: list[Path]) -> VerifyRun:
        if self.unavailable:
            pytest.fail(f"qz verify does not exist yet or cannot run: {self.unavailable}", pytrace=False)
        key = (str(pdf), tuple(map(str, trust)))
        if key not in self.cache:
            args = self.cmd + ["verify", "--json"]
            for t in trust:
                args += ["--trust", str(t)]
            args.append(str(pdf))
            try:
                p = subprocess.run(args, capture_output=True, timeout=120)
            except subprocess.TimeoutExpired:
                pytest.fail(f"qz verify timed out after 120 s: {' '.join(args)}", pytrace=False)
            out, err = p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
            doc, jerr = None, None
            try:
                doc = json.loads(out)
            except ValueError as e:
                jerr = f"stdout is not JSON: {e}"
            self.cache[key] = VerifyRun(args, p.returncode, out, err, doc, jerr)
        return self.cache[key]


@pytest.fixture(scope="session")
def build() -> dict:
    return built()


@pytest.fixture(scope="session")
def verifier() -> Verifier:
    return Verifier()


@pytest.fixture(scope="session")
def attacks_dir(build) -> Path:
    if "attacks" not in build:
        pytest.fail("make_attacks failed:\n" + "\n".join(build["errors"]), pytrace=False)
    return Path(build["attacks"]["dir"])


@pytest.fixture(scope="session")
def levels_dir(build) -> Path:
    if "levels" not in build:
        pytest.fail("make_pyhanko_levels failed:\n" + "\n".join(build["errors"]), pytrace=False)
    return Path(build["levels"]["dir"])
