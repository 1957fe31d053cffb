"""Shared fixtures: real speech and media, and the schemas output is checked against, live beside the repository,
in shared/data and shared/schemas (never copied in)."""

from __future__ import annotations

from pathlib import Path

import pytest

DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"  # see its README.md and manifest.json
EBU_TT_D_XSD = Path(__file__).resolve().parents[2] / "shared" / "schemas" / "ebu-tt-d" / "ebutt_d.xsd"  # see README.md


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The folder of real test media; tests skip if it is missing."""
    if not DATA_DIR.is_dir():
        pytest.skip(f"test media not found at {DATA_DIR}")
    return DATA_DIR


@pytest.fixture(scope="session")
def ebu_tt_d_schema():
    """The EBU-TT-D XML Schema (EBU Tech 3380), loaded once; tests skip if it or xmlschema is missing."""
    if not EBU_TT_D_XSD.is_file():
        pytest.skip(f"EBU-TT-D schema not found at {EBU_TT_D_XSD}")
    xmlschema = pytest.importorskip("xmlschema", reason="validating TTML needs xmlschema (pip install -e '.[dev]')")
    return xmlschema.XMLSchema(str(EBU_TT_D_XSD))  # the xml: namespace schema it imports comes bundled, offline


@pytest.fixture(scope="session")
def base_model():
    """Whisper base (int8 IR, word timestamps on), converted into the user cache once and shared by all tests."""
    from ovsub.options import ModelOptions
    from ovsub.transcription import load_model

    return load_model(ModelOptions(name="base", precision="int8"), word_timestamps=True)


@pytest.fixture(scope="session")
def base_model_plain():
    """Whisper base without word timestamps (GenAI then keeps its fused attention): greedy reference runs."""
    from ovsub.options import ModelOptions
    from ovsub.transcription import load_model

    return load_model(ModelOptions(name="base", precision="int8"), word_timestamps=False)
