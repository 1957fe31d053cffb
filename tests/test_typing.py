"""The type checker and the linter run over the code, as part of the tests (STYLE.md: a type checker in CI).

``mypy --strict`` (pyproject.toml turns strict on) over the package; ``ruff check`` over the package, the
tests and the benchmarks, with the rules pyproject.toml selects.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_mypy_strict_finds_no_errors():
    pytest.importorskip("mypy")
    run = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(ROOT / "src" / "ovsub")],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-4000:]


def test_ruff_finds_nothing():
    pytest.importorskip("ruff")
    run = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "src", "tests", "bench"],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-4000:]
