"""The type checker runs over the package, as part of the tests (STYLE.md: a type checker in CI)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "ovsub"


def test_mypy_finds_no_errors():
    pytest.importorskip("mypy")
    run = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental", str(SRC)], capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, run.stdout[-4000:]
