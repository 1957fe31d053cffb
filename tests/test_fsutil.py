"""Atomic outputs: their permissions follow the umask like any other file's, and failures are OutputErrors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ovsub.errors import OutputError
from ovsub.fsutil import atomic_path, write_text_atomic

VIDEO = Path(__file__).resolve().parents[2] / "shared" / "data" / "video" / "pydub_creative_common.mp4"

# Run in a child with the umask set first: a text output, a file another tool (ffmpeg) writes through
# atomic_path, and an output that overwrites a file whose mode the user chose.
_CHILD = """
import json, os, sys
from pathlib import Path
os.umask(int(sys.argv[1], 8))
from ovsub.fsutil import write_text_atomic
from ovsub.video.ffmpeg import extract_frame
out = Path(sys.argv[2])
write_text_atomic(out / "talk.srt", "1\\n")
extract_frame(sys.argv[3], 0.5, out / "frame.png")
(out / "kept.srt").write_text("old")
os.chmod(out / "kept.srt", 0o640)
write_text_atomic(out / "kept.srt", "new")
print(json.dumps({p.name: oct(p.stat().st_mode & 0o777) for p in sorted(out.iterdir())}))
"""


@pytest.mark.parametrize(("umask", "mode"), [("022", 0o644), ("077", 0o600), ("002", 0o664)])
def test_outputs_follow_the_umask(tmp_path: Path, umask: str, mode: int) -> None:
    if not VIDEO.is_file():
        pytest.skip(f"{VIDEO} not found")
    out = tmp_path / "out"
    out.mkdir()
    run = subprocess.run([sys.executable, "-c", _CHILD, umask, str(out), str(VIDEO)],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert run.returncode == 0, run.stderr
    modes = json.loads(run.stdout)
    assert modes == {"frame.png": oct(mode), "kept.srt": oct(0o640), "talk.srt": oct(mode)}


def test_a_folder_in_the_way_of_an_output_is_an_output_error(tmp_path: Path) -> None:
    from ovsub.fsutil import check_output_files

    (tmp_path / "talk.srt").mkdir()
    with pytest.raises(OutputError, match=r"talk.srt: cannot write \(a folder of that name is in the way\)"):
        write_text_atomic(tmp_path / "talk.srt", "1\n")
    assert [p.name for p in tmp_path.iterdir()] == ["talk.srt"]  # no temporary file left
    with pytest.raises(OutputError, match="talk.srt: a folder of that name is in the way"):
        check_output_files([tmp_path / "talk.vtt", tmp_path / "talk.srt"])
    check_output_files([tmp_path / "talk.vtt"])  # nothing there yet: fine


def test_a_folder_that_takes_no_files_is_an_output_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="cannot create the output folder"):
        write_text_atomic(blocker / "sub" / "talk.srt", "1\n")
    with pytest.raises(OutputError, match=r"cannot write"), atomic_path(Path("/proc") / "talk.srt"):
        pass  # a folder that exists but takes no files (as root too)


@pytest.mark.parametrize("proc", [True, False], ids=["proc", "no-proc"])
def test_mode_is_read_without_changing_the_umask(monkeypatch: pytest.MonkeyPatch, proc: bool) -> None:
    from ovsub import fsutil

    if not proc:  # not Linux: the umask is read by setting it and setting it back
        monkeypatch.setattr(fsutil, "PROC_STATUS", "/nonexistent/status")
    before = os.umask(0o027)
    try:
        assert fsutil.new_file_mode() == 0o640
        assert os.umask(0o027) == 0o027  # still what it was set to
    finally:
        os.umask(before)
