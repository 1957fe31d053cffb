"""Output locations are checked before any decoding (issue 13 items 2 and 3), through the CLI as a real subprocess.

Each case gives the command two inputs and an output location that cannot take them: each input must fail
at once with an OvsubError naming the location (no traceback, no "internal error"), both inputs must be
tried, and the exit code must be 1. ``-v`` makes the command log each model it loads and the voice activity
detector it compiles for the first audio it decodes; a failure found before decoding logs neither.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CLIPS = (DATA / "english/other/cv_en_651325.mp3", DATA / "english/other/jfk.flac")  # 2.4 s and 11 s of speech
# What -v logs once a model is loaded, and once voice activity detection is compiled (the first decoded audio)
DECODING = ("loading the model", "compiled silero_vad")

pytestmark = pytest.mark.skipif(not all(c.is_file() for c in CLIPS), reason="shared/data clips not found")


def _ovsub(*args: str, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    command = [*prefix, sys.executable, "-m", "ovsub", "transcribe", *args, "-v", "--beam-size", "1"]
    return subprocess.run(command, capture_output=True, text=True, timeout=600)


def _read_only(folder: Path) -> tuple[str, ...]:
    """Make ``folder`` refuse new files, and return the command prefix under which that holds.

    ``chmod 0555`` does not stop root, whose CAP_DAC_OVERRIDE writes anywhere: as root the command runs
    under ``setpriv`` without that capability (still root, still reading everything it owns).
    """
    folder.mkdir(exist_ok=True)
    folder.chmod(0o555)
    prefix: tuple[str, ...] = ()
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: no way to make a folder read-only")
        prefix = (setpriv, "--inh-caps=-all", "--bounding-set=-dac_override", "--")
    probe = "import sys, tempfile; tempfile.mkstemp(dir=sys.argv[1])"
    if subprocess.run([*prefix, sys.executable, "-c", probe, str(folder)], capture_output=True).returncode == 0:
        pytest.skip(f"{folder} still takes files after chmod 0555 here")
    return prefix


def _failed_before_decoding(run: subprocess.CompletedProcess[str], words: str) -> None:
    """Both inputs failed with ``words`` in their message, cleanly, and no model was loaded."""
    err = run.stderr
    assert run.returncode == 1, err
    assert "Traceback" not in err and "internal error" not in err, err
    assert not any(sign in err for sign in DECODING), f"decoding began before the output problem was found:\n{err}"
    for clip in CLIPS:
        line = next((ln for ln in err.splitlines() if ln.startswith("ovsub: ") and str(clip) in ln), "")
        assert words in line, (clip, err)
    assert "2 of 2 inputs failed" in err


def test_a_read_only_output_folder(tmp_path: Path) -> None:
    out = tmp_path / "out"
    prefix = _read_only(out)
    try:
        run = _ovsub(*map(str, CLIPS), "-o", str(out), "-f", "srt,json", prefix=prefix)
    finally:
        out.chmod(0o755)
    _failed_before_decoding(run, f"{out}: cannot write outputs here (Permission denied)")
    assert list(out.iterdir()) == []


def test_output_folder_that_is_a_file(tmp_path: Path) -> None:
    out = tmp_path / "notes.txt"
    out.write_text("not a folder")
    run = _ovsub(*map(str, CLIPS), "-o", str(out))
    _failed_before_decoding(run, f"{out}: exists and is not a folder")
    assert out.read_text() == "not a folder"


def test_output_folder_under_a_file(tmp_path: Path) -> None:
    blocker = tmp_path / "notes.txt"
    blocker.write_text("not a folder")
    out = blocker / "subtitles"
    run = _ovsub(*map(str, CLIPS), "-o", str(out))
    _failed_before_decoding(run, f"{out}: cannot write outputs here (Not a directory)")


def test_a_folder_where_an_output_file_goes(tmp_path: Path) -> None:
    """``a.srt`` is a folder: input a fails before decoding, naming it; input b is transcribed."""
    a, b = tmp_path / "a.mp3", tmp_path / "b.mp3"
    for copy in (a, b):
        shutil.copyfile(CLIPS[0], copy)
    out = tmp_path / "out"
    (out / "a.srt").mkdir(parents=True)
    run = _ovsub(str(a), str(b), "-o", str(out), "-f", "json,srt")
    err = run.stderr
    assert run.returncode == 1, err
    assert "Traceback" not in err and "internal error" not in err, err
    lines = err.splitlines()
    failed = next(i for i, ln in enumerate(lines) if ln.startswith("ovsub: ") and str(a) in ln)
    assert f"{out / 'a.srt'}: a folder of that name is in the way" in lines[failed]
    began = next(i for i, ln in enumerate(lines) if any(sign in ln for sign in DECODING))
    assert failed < began, "a was decoded before it failed"
    assert "1 of 2 inputs failed" in err
    assert sorted(p.name for p in out.iterdir()) == ["a.srt", "b.json", "b.srt"]  # nothing of a's written
    assert (out / "b.srt").read_text().strip()
