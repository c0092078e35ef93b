"""`make demo` installs BackSoon alone; the dev tools come with `make install` / `make test` (dry runs, nothing run)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _dry_run(target: str, venv: Path, *flags: str) -> list[str]:
    # Under `make test` this make is a sub-make: without the parent's flags, and without "Entering directory" lines.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")}
    done = subprocess.run(
        ["make", "--no-print-directory", "-n", *flags, target, f"VENV={venv}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env=env,
    )
    return done.stdout.splitlines()


@pytest.fixture
def venv(tmp_path: Path) -> Path:
    # Never skipped: these tests run under `make test`, so make is there.
    return tmp_path / "venv"


def test_demo_installs_the_app_without_dev_tools(venv: Path) -> None:
    assert _dry_run("demo", venv) == [
        f"test -x {venv}/bin/python || python3 -m venv {venv}",
        f"{venv}/bin/python -m pip install --quiet --upgrade pip",
        f"{venv}/bin/python -m pip install --quiet -e .",
        f"touch {venv}/.runtime-stamp",
        f"PORT=5000 BACKSOON_DEMO=1 {venv}/bin/backsoon demo",
    ]


@pytest.mark.parametrize("target", ["install", "test"])
def test_install_and_test_add_the_dev_tools(venv: Path, target: str) -> None:
    lines = _dry_run(target, venv)
    assert lines[:6] == [
        f"test -x {venv}/bin/python || python3 -m venv {venv}",
        f"{venv}/bin/python -m pip install --quiet --upgrade pip",
        f"{venv}/bin/python -m pip install --quiet -e .",
        f"touch {venv}/.runtime-stamp",
        f"{venv}/bin/python -m pip install --quiet -e '.[dev]'",
        f"touch {venv}/.installed-stamp",
    ]


def test_make_test_installs_the_pinned_node_tools_axe_core_among_them(venv: Path) -> None:
    # -W: as if package-lock.json had just changed, so the install shows whatever the checkout's node_modules holds.
    lines = _dry_run("test", venv, "-W", "package-lock.json")
    assert "npm ci --no-audit --no-fund" in lines
    assert lines.index("npm ci --no-audit --no-fund") < lines.index(f"{venv}/bin/pytest")
    lock = json.loads((ROOT / "package-lock.json").read_text(encoding="utf-8"))
    pinned = json.loads((ROOT / "package.json").read_text(encoding="utf-8"))["devDependencies"]["axe-core"]
    assert pinned == lock["packages"]["node_modules/axe-core"]["version"]
    assert lock["packages"][""]["devDependencies"]["axe-core"] == pinned
