"""Shared fixtures: real speech and media live beside the repository, in shared/data (never copied in)."""

from __future__ import annotations

from pathlib import Path

import pytest

DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"  # see its README.md and manifest.json


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The folder of real test media; tests skip if it is missing."""
    if not DATA_DIR.is_dir():
        pytest.skip(f"test media not found at {DATA_DIR}")
    return DATA_DIR
