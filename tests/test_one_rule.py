"""One rule for every way in (issue 13 items 5 and 8): the CLI, the web form and the Python API refuse and
accept the same values, because all of them build the same option dataclasses.

- ``beam_size`` is bounded by MAX_BEAM_SIZE: 1000 beams would hold 1000 self-attention caches per window.
- A spoken language is normalized by ``languages.normalize``: ``EN`` is English everywhere, ``xx`` nowhere.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

import ovsub
from ovsub.cli import main
from ovsub.errors import OptionError
from ovsub.options import MAX_BEAM_SIZE, TranscribeOptions

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CLIP = DATA / "english/other/cv_en_651325.mp3"  # MP3, 2.4 s: "Every purchase is a vote."

pytestmark = pytest.mark.skipif(not CLIP.is_file(), reason="shared/data clips not found")


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The web app, in-process, with a data folder of its own."""
    pytest.importorskip("fastapi", reason="the web app needs: pip install 'ovsub[web]'")
    pytest.importorskip("python_multipart", reason="the web app needs: pip install 'ovsub[web]'")
    from fastapi.testclient import TestClient

    from ovsub.web import WebSettings, create_app

    app = create_app(WebSettings(data_dir=str(tmp_path_factory.mktemp("web"))))
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        yield client


def _upload(client: Any, **fields: str) -> Any:
    with CLIP.open("rb") as f:
        return client.post("/api/jobs", files={"file": (CLIP.name, f)}, data={"model": "base", **fields})


def _finished(client: Any, job_id: str, timeout_s: float = 120.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job: dict[str, Any] = client.get(f"/api/jobs/{job_id}").json()
        if job["state"] in ("done", "failed", "cancelled"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish in {timeout_s} s")


# --- item 5: --beam-size is bounded, by one bound -------------------------------------------------


def test_cli_refuses_too_many_beams(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["transcribe", str(CLIP), "--beam-size", "1000"]) == 2
    err = capsys.readouterr().err
    assert "beam_size" in err and str(MAX_BEAM_SIZE) in err and "1000" in err, err


def test_web_form_refuses_too_many_beams_with_the_same_bound(web: Any) -> None:
    response = _upload(web, beam_size="1000")
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert "beam_size" in detail and str(MAX_BEAM_SIZE) in detail, detail
    assert _upload(web, beam_size=str(MAX_BEAM_SIZE + 1)).status_code == 422


def test_api_refuses_too_many_beams_before_reading_anything() -> None:
    with pytest.raises(OptionError, match=f"beam_size.*{MAX_BEAM_SIZE}"):
        ovsub.transcribe("no-such-file.wav", beam_size=1000)
    with pytest.raises(OptionError, match="beam_size"):
        TranscribeOptions(beam_size=MAX_BEAM_SIZE + 1)
    assert TranscribeOptions(beam_size=MAX_BEAM_SIZE).beam_size == MAX_BEAM_SIZE


# --- item 8: --language EN is English for the CLI and the web app alike -----------------------------


@pytest.mark.model
def test_cli_takes_language_en_in_capitals(tmp_path: Path) -> None:
    assert main(["transcribe", str(CLIP), "-o", str(tmp_path), "-f", "json", "--language", "EN",
                 "--beam-size", "1", "-q"]) == 0  # fmt: skip
    data = json.loads((tmp_path / f"{CLIP.stem}.json").read_text())
    assert data["language"] == "en" and data["options"]["transcribe"]["language"] == "en"
    assert "purchase" in " ".join(s["text"] for s in data["segments"]).lower()


@pytest.mark.model
def test_web_form_takes_language_en_in_capitals(web: Any) -> None:
    response = _upload(web, language="EN", beam_size="1")
    assert response.status_code == 202, response.text
    job = _finished(web, response.json()["id"])
    assert job["state"] == "done", job["error"]
    assert job["options"]["language"] == "en" and job["results"][0]["language"] == "en"


def test_an_unknown_language_is_refused_by_both_in_the_same_words(
    web: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["transcribe", str(CLIP), "--language", "xx"]) == 2
    cli_message = capsys.readouterr().err.strip().removeprefix("ovsub: ")
    response = _upload(web, language="xx")
    assert response.status_code == 422
    assert response.json()["detail"] == cli_message
    assert "'xx'" in cli_message and "language" in cli_message
