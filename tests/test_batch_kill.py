"""THE test of issue 12 item 2: ``ovsub batch`` over 20 real clips, its whole process group killed with
``kill -9`` twice at random moments (seeded), run again each time, then run to the end. Afterwards every
input is done exactly once, every output is complete, nothing partial or temporary is left, and the
ledger agrees with what the kills interrupted.

"Random moments" are drawn inside the work, not before it: each kill waits for a random number of inputs
to be done (so the model is loaded and workers are busy) and then a random fraction of a second more, so it
lands anywhere in an input's life: decoding, writing, the marker, publishing, the ledger's commit.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pysubs2
import pytest

from ovsub.batch.driver import WORK_DIR
from ovsub.batch.ledger import LEDGER_NAME

SEED = int(os.environ.get("OVSUB_KILL_SEED", "1212"))  # another seed, other moments (for a stress loop)
FORMATS = ("srt", "json")
TIMEOUT_S = 900  # for a whole run, on a busy machine


def _clips(data_dir: Path) -> list[Path]:
    english = data_dir / "english"
    clips = sorted((english / "fleurs").glob("*.ogg")) + sorted(
        p for p in (english / "librispeech").iterdir() if p.suffix in (".wav", ".flac")
    )
    return clips[:20]


def _command(listing: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "ovsub", "batch", str(listing), "-o", str(out), "--workers", "2",
            "--beam-size", "1", "-f", ",".join(FORMATS)]  # fmt: skip


def _rows(out: Path) -> dict[str, sqlite3.Row]:
    """The ledger's rows by source (read only: WAL lets a reader in while the batch writes)."""
    path = out / LEDGER_NAME
    if not path.is_file():
        return {}
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30) as conn:
        conn.row_factory = sqlite3.Row
        try:
            return {r["source"]: r for r in conn.execute("SELECT * FROM inputs")}
        except sqlite3.OperationalError:  # the table is not made yet
            return {}


def _kill_when(proc: subprocess.Popen[bytes], out: Path, done_at_least: int, extra_s: float) -> None:
    """Once ``done_at_least`` inputs are done (in the ledger), wait ``extra_s`` more and kill -9 the group."""
    deadline = time.monotonic() + TIMEOUT_S
    while sum(r["state"] == "done" for r in _rows(out).values()) < done_at_least:
        assert proc.poll() is None, "the batch ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(extra_s)
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and its workers, at once
    proc.wait()


def _outputs(out: Path) -> list[Path]:
    return sorted(p for p in out.rglob("*") if p.is_file() and WORK_DIR not in p.parts
                  and not p.name.startswith(LEDGER_NAME))  # fmt: skip


def _assert_complete(paths: list[Path]) -> None:
    """Every output in OUT proper is whole: SRT that parses with cues, JSON that parses with segments."""
    for path in paths:
        assert path.suffix in (".srt", ".json") and ".part" not in path.name, path
        if path.suffix == ".srt":
            assert pysubs2.load(str(path)).events, path
        else:
            assert json.loads(path.read_text())["segments"], path


def _cut_short(out: Path) -> set[tuple[str, int]]:
    """After a kill: the attempts it cut short, (input, attempt), which the next run must make again (running,
    with no marker of a finished attempt). A kill before the next run requeued them sees them again."""
    staging = out / WORK_DIR / "staging"
    cut = set()
    for source, row in _rows(out).items():
        marker = staging / f"{row['id']}.done.json"
        finished = marker.is_file() and json.loads(marker.read_text())["attempt"] == row["attempts"]
        if row["state"] == "running" and not finished:
            cut.add((source, row["attempts"]))
    return cut


def test_kill_9_twice_then_resume_transcribes_every_input_once(data_dir, tmp_path):
    clips = _clips(data_dir)
    assert len(clips) == 20
    listing = tmp_path / "inputs.txt"
    listing.write_text("".join(f"{p}\n" for p in clips))
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    rng = random.Random(SEED)
    cut_short: set[tuple[str, int]] = set()
    kept: dict[Path, tuple[int, int]] = {}  # outputs of inputs done before the last run: never rewritten
    first = rng.randint(1, 8)
    for done_at_least in (first, first + rng.randint(1, 8)):
        proc = subprocess.Popen(_command(listing, out), env=env, start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        _kill_when(proc, out, done_at_least, rng.uniform(0.0, 3.0))  # an input takes 2-10 s
        rows = _rows(out)
        assert 0 < sum(r["state"] == "done" for r in rows.values()) < 20, "the kill came too late to test anything"
        _assert_complete(_outputs(out))  # killed at any moment: what is in OUT is whole
        cut_short |= _cut_short(out)
        done_paths = [Path(p) for r in rows.values() if r["state"] == "done" for p in json.loads(r["outputs"])]
        kept.update({p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in done_paths})

    final = subprocess.run(_command(listing, out), env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert final.returncode == 0, final.stderr[-3000:]
    assert "20 inputs: 20 done" in final.stderr

    rows = _rows(out)
    assert sorted(rows) == sorted(str(p) for p in clips)
    for source, row in rows.items():
        assert (row["state"], row["completions"], row["error"]) == ("done", 1, None), source
        extra = sum(s == source for s, _attempt in cut_short)
        assert row["attempts"] == 1 + extra, source  # each attempt a kill cut short is made again, no more
        assert len(json.loads(row["outputs"])) == len(FORMATS) and row["audio_s"] > 0 and row["wall_s"] > 0
    listed = sorted(Path(p) for r in rows.values() for p in json.loads(r["outputs"]))
    assert _outputs(out) == listed  # exactly the outputs the ledger lists: no partial, no stray, no temp file
    _assert_complete(listed)
    assert not any((out / WORK_DIR / "staging").iterdir())
    assert {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in kept} == kept  # done inputs were not redone


@pytest.fixture(autouse=True)
def _posix_only() -> None:
    if not hasattr(os, "killpg"):
        pytest.skip("kill -9 of a process group needs POSIX")
