"""A local file whose name looks like a link (``http:x.wav``) is a file (issue 13 item 6).

FFmpeg picks a protocol from the text before a colon, so ``http:x.wav`` handed to it as it is would be
fetched over HTTP. An existing local path is a file, whatever its name; ``http://...`` that names no
existing path is still a link.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import ovsub
from ovsub.audio import media
from ovsub.cli import expand_inputs
from ovsub.download import is_url
from ovsub.pipeline import output_name

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
WAV = DATA / "english/other/jfk.wav"  # "And so my fellow Americans, ask not what your country can do for you..."
MP3 = DATA / "english/other/cv_en_651325.mp3"  # "Every purchase is a vote."

pytestmark = pytest.mark.skipif(not (WAV.is_file() and MP3.is_file()), reason="shared/data clips not found")


@pytest.fixture
def link_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder (the current one) holding ``http:x.wav``, ``https:y.mp3`` and ``http:/host/z.wav``."""
    shutil.copyfile(WAV, tmp_path / "http:x.wav")
    shutil.copyfile(MP3, tmp_path / "https:y.mp3")
    (tmp_path / "http:" / "host").mkdir(parents=True)
    shutil.copyfile(MP3, tmp_path / "http:" / "host" / "z.wav")  # what "http://host/z.wav" names as a path
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_files_named_like_links_are_read_as_files(link_named: Path) -> None:
    for name, seconds in (("http:x.wav", 11.0), ("https:y.mp3", 2.4)):
        assert media.probe(name).duration_s == pytest.approx(seconds, abs=0.2)
        assert len(media.load_audio(name)) == pytest.approx(seconds * media.SAMPLE_RATE, rel=0.02)


def test_an_existing_path_is_a_file_and_anything_else_a_link(link_named: Path) -> None:
    assert not is_url("http:x.wav") and not is_url("https:y.mp3")
    assert not is_url("http://host/z.wav"), "an existing local path is a file"
    assert output_name("http://host/z.wav", ".srt") == "z.srt"
    assert is_url("http://host/other.wav") and is_url("https://example.org/talk.mp4")
    assert expand_inputs(["http://host/other.wav", "http:"]) == ["http://host/other.wav", "http:/host/z.wav"]


def test_cli_transcribes_files_named_like_links(link_named: Path) -> None:
    out = link_named / "out"
    command = [sys.executable, "-m", "ovsub", "transcribe", "http:x.wav", "https:y.mp3", "http://host/z.wav",
               "-o", str(out), "-f", "json", "--beam-size", "1", "--language", "en", "-q"]  # fmt: skip
    src = str(Path(ovsub.__file__).resolve().parents[1])  # this ovsub, from another working directory
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")]))}
    run = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=link_named, env=env)
    assert run.returncode == 0, run.stderr
    texts = {p.name: " ".join(s["text"] for s in json.loads(p.read_text())["segments"]) for p in out.iterdir()}
    assert sorted(texts) == ["http:x.json", "https:y.json", "z.json"]
    assert "country" in texts["http:x.json"].lower()
    assert "purchase" in texts["https:y.json"].lower() and "purchase" in texts["z.json"].lower()
