"""A damaged model never looks like success (issue 13 item 1), through the CLI as a real subprocess.

The report: 4 KB of random bytes written into the middle of ``ovsub_decoder_model.bin`` (the size unchanged);
the entry was used, every window dropped by the guards, the SRT empty and the exit code 0.

- In the cache, the damage is found by the entry's content hashes and the entry rebuilt, with a warning naming
  the file; the transcription is then as good as ever.
- A ready OpenVINO folder named by path has no record to check and is never rebuilt: decoded with it, all the
  speech comes out as runaway text at every temperature, which must end in an error, not in an empty SRT.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ovsub.options import ModelOptions
from ovsub.whisper import files, models

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CLIP = DATA / "english/librispeech/ls_dev-clean_1272-128104-0000.wav"  # 5.9 s: "Mister Quilter is the apostle..."
DAMAGE_BYTES = 4096
STEP_WEIGHTS = Path(files.STEP_DECODER_MODEL).with_suffix(".bin").name

pytestmark = [pytest.mark.model, pytest.mark.skipif(not CLIP.is_file(), reason="shared/data clip not found")]


def _damage(path: Path) -> None:
    """4 KB of random bytes into the middle of the file: the same size, other content (as in the report)."""
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.seek(size // 2)
        f.write(os.urandom(DAMAGE_BYTES))
    assert path.stat().st_size == size


def _ovsub(out: Path, *args: str, cache: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "ovsub", "transcribe", str(CLIP), "-o", str(out), "-f", "srt",
               "--beam-size", "1", "--language", "en", *args]  # fmt: skip
    env = {**os.environ, "OVSUB_CACHE_DIR": str(cache)}
    return subprocess.run(command, capture_output=True, text=True, timeout=900, env=env)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache of its own holding Whisper base int8, copied from the user's cache (converted there if need be)."""
    root = tmp_path_factory.mktemp("cache")
    entry = models.ensure_model(ModelOptions(name="base", precision="int8"))
    copy = models.entry_dir("base", "int8", str(root))
    shutil.copytree(entry, copy)
    return root


def test_a_damaged_cache_entry_is_rebuilt_before_use(cache: Path, tmp_path: Path) -> None:
    damaged = models.entry_dir("base", "int8", str(cache)) / STEP_WEIGHTS
    _damage(damaged)
    run = _ovsub(tmp_path, cache=cache)
    assert run.returncode == 0, run.stderr
    assert f"{damaged}: its content differs from when it was built (damaged); rebuilding" in run.stderr
    text = (tmp_path / f"{CLIP.stem}.srt").read_text().lower()
    assert "quilter" in text or "apostle" in text, text
    assert models.entry_is_valid(damaged.parent, models.resolve("base"))


def test_a_damaged_model_folder_fails_instead_of_writing_empty_subtitles(cache: Path, tmp_path: Path) -> None:
    folder = tmp_path / "my-openvino-model"
    shutil.copytree(models.ensure_model(ModelOptions(name="base", cache_dir=str(cache))), folder)
    (folder / files.MANIFEST).unlink()  # a folder exported by another tool: nothing records its contents
    _damage(folder / STEP_WEIGHTS)
    out = tmp_path / "out"
    run = _ovsub(out, "--model", str(folder), cache=cache)
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr and "internal error" not in run.stderr, run.stderr
    message = next((ln for ln in run.stderr.splitlines() if ln.startswith("ovsub: ")), "")
    assert str(CLIP) in message and "runaway text" in message and "damaged" in message and str(folder) in message
    assert not out.exists() or not list(out.iterdir()), "no empty subtitles may be written"
