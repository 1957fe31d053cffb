"""The ovsub command, in-process and as a real subprocess, on real media and on every kind of bad input."""

from __future__ import annotations

import json
import subprocess
import sys
import wave
from pathlib import Path

import pysubs2
import pytest

from ovsub.cli import main

pytestmark = pytest.mark.model


@pytest.fixture
def bad_inputs(tmp_path, data_dir):
    """One input of each kind that must fail, each with what its message must say."""
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 50)
    empty = tmp_path / "empty.wav"
    with wave.open(str(empty), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"")
    return {
        str(tmp_path / "missing.wav"): "no such file",
        str(text): "not",
        str(data_dir / "video/moviepy_example_video_only.mp4"): "no audio stream",
        str(empty): "no samples",
    }


def test_every_bad_input_fails_clearly_and_the_good_one_still_gets_subtitles(tmp_path, data_dir, bad_inputs, capsys):
    good = data_dir / "english/other/jfk.flac"
    out = tmp_path / "out"
    rc = main(["transcribe", *bad_inputs, str(good), "-o", str(out), "-f", "srt,json", "--beam-size", "1"])
    err = capsys.readouterr().err
    assert rc == 1
    for path, words in bad_inputs.items():
        # The error line names the file (a progress line may name it first: the file is read as it is decoded).
        errors = [ln for ln in err.splitlines() if ln.startswith("ovsub: ") and Path(path).name in ln]
        assert len(errors) == 1 and words in errors[0].lower(), (path, err)
    srt = pysubs2.load(str(out / "jfk.srt"))
    assert len(srt) >= 2 and "country" in srt.events[-1].plaintext.lower()
    data = json.loads((out / "jfk.json").read_text())
    assert data["language"] == "en"
    assert data["segments"][0]["words"]
    assert not [p for p in out.iterdir() if ".part" in p.name]  # no temporary files left behind


def test_success_exits_zero_and_writes_next_to_the_input(tmp_path, data_dir):
    clip = tmp_path / "talk.wav"
    clip.write_bytes((data_dir / "english/other/jfk.wav").read_bytes())
    assert main(["transcribe", str(clip), "-q", "--beam-size", "1"]) == 0
    cues = pysubs2.load(str(tmp_path / "talk.srt"))
    assert all(0 <= e.start < e.end <= 11_100 for e in cues)


def test_bad_options_exit_two(capsys):
    assert main(["transcribe", "x.wav", "--beam-size", "0"]) == 2
    assert "beam_size" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["transcribe", "x.wav", "-f", "docx"])
    assert e.value.code == 2


def test_real_subprocess_with_translation_and_models_listing(tmp_path, data_dir):
    clip = data_dir / "non_english/leopard/leopard_test_de.wav"
    run = subprocess.run(
        [sys.executable, "-m", "ovsub", "transcribe", str(clip), "-o", str(tmp_path), "-f", "vtt,txt",
         "--task", "transcribe,translate", "--beam-size", "1"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "leopard_test_de.vtt").read_text().startswith("WEBVTT")
    english = (tmp_path / "leopard_test_de.en.txt").read_text()
    german = (tmp_path / "leopard_test_de.txt").read_text()
    assert english.strip() and english != german
    listing = subprocess.run([sys.executable, "-m", "ovsub", "models"], capture_output=True, text=True, timeout=120)
    assert listing.returncode == 0 and "base" in listing.stdout and "tiny.en" in listing.stdout
