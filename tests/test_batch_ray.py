"""``ovsub batch --ray``: the Ray executor on a real local cluster (2 CPUs: 2 actors x 1 thread), with real speech.

Each run is the real command (``cli.main``), so the ledger, the driver and the Ray executor work together;
``--ray`` without an address starts a local cluster, and the executor shuts it down after the run.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pysubs2
import pytest

ray = pytest.importorskip("ray", reason="the Ray executor needs Ray: pip install -e '.[cluster]'")

from ovsub import cli  # noqa: E402
from ovsub.batch.cluster import ACTOR_NAME  # noqa: E402
from ovsub.batch.driver import WORK_DIR  # noqa: E402
from ovsub.batch.ledger import open_ledger  # noqa: E402

pytestmark = pytest.mark.model

OPTIONS = ["--threads", "1", "--language", "en", "-q"]


def _clips(data_dir: Path, n: int) -> list[str]:
    return [str(p) for p in sorted((data_dir / "english" / "fleurs").glob("*.ogg"))[:n]]


def _outputs(out: Path) -> dict[str, str]:
    """Every output file under OUT (relative name -> text), the ledger and the work folder left aside."""
    return {str(p.relative_to(out)): p.read_text() for p in sorted(out.rglob("*.srt")) if WORK_DIR not in p.parts}


def _check_done(out: Path, n: int) -> dict[str, int]:
    """Every row done once, its subtitles in place and readable, nothing staged left; attempts by source."""
    with open_ledger(out, create=False) as ledger:
        rows = ledger.rows()
    assert len(rows) == n and {r.state for r in rows} == {"done"}
    assert all(r.completions == 1 for r in rows)  # nothing transcribed twice to completion
    for row in rows:
        (srt,) = row.outputs
        assert Path(srt).is_relative_to(out) and len(pysubs2.load(srt)) > 0
    staging = out / WORK_DIR / "staging"
    assert not staging.exists() or not any(staging.iterdir())  # no partial attempt left behind
    return {Path(r.source).name: r.attempts for r in rows}


def test_ray_batch_makes_the_files_a_local_batch_makes(data_dir: Path, tmp_path: Path) -> None:
    clips = _clips(data_dir, 2)
    ray_out, local_out = tmp_path / "ray", tmp_path / "local"
    assert cli.main(["batch", *clips, "-o", str(ray_out), "--workers", "2", *OPTIONS, "--ray"]) == 0
    assert not ray.is_initialized()  # the local cluster it started is shut down
    assert cli.main(["batch", *clips, "-o", str(local_out), "--workers", "1", *OPTIONS]) == 0
    assert set(_check_done(ray_out, 2).values()) == {1}
    made = _outputs(ray_out)
    assert len(made) == 2 and made == _outputs(local_out)  # the same files, byte for byte


def _kill_mid_file(killed: list[int], stop: threading.Event) -> None:
    """SIGKILL the first actor process seen working on a file, once it has been at it for a second."""
    title = f"ray::{ACTOR_NAME}.run".encode()  # Ray's process title while the actor runs a task
    first_seen: dict[int, float] = {}
    while not stop.is_set():
        for proc in Path("/proc").iterdir():
            try:
                busy = proc.name.isdigit() and (proc / "cmdline").read_bytes().startswith(title)
            except OSError:
                continue
            if busy and time.monotonic() - first_seen.setdefault(int(proc.name), time.monotonic()) > 1.0:
                os.kill(int(proc.name), signal.SIGKILL)
                killed.append(int(proc.name))
                return
        time.sleep(0.05)


def test_a_ray_worker_killed_mid_file_has_its_file_redone_and_nothing_is_lost(data_dir: Path, tmp_path: Path) -> None:
    clips = _clips(data_dir, 3)
    killed: list[int] = []
    stop = threading.Event()
    killer = threading.Thread(target=_kill_mid_file, args=(killed, stop), daemon=True)
    killer.start()
    try:
        code = cli.main(["batch", *clips, "-o", str(tmp_path), "--workers", "2", *OPTIONS, "--ray"])
    finally:
        stop.set()
        killer.join()
    assert killed, "no Ray worker was seen working on a file"
    assert code == 0
    attempts = _check_done(tmp_path, 3)
    assert sorted(attempts.values()) == [1, 1, 2]  # the killed file was redone, and its attempt counted


def test_a_model_no_worker_can_load_stops_the_run_with_the_reason(data_dir: Path, tmp_path: Path, capsys) -> None:
    empty = tmp_path / "not-a-model"
    empty.mkdir()
    argv = ["batch", *_clips(data_dir, 1), "-o", str(tmp_path / "out"), "--workers", "2", *OPTIONS]
    assert cli.main([*argv, "--model", str(empty), "--ray"]) == 1
    err = capsys.readouterr().err
    assert "could not load the model" in err and "not a model folder" in err
    assert not ray.is_initialized()  # the cluster is shut down all the same
    with open_ledger(tmp_path / "out", create=False) as ledger:
        assert [r.state for r in ledger.rows()] == ["queued"]  # nothing was lost: the next run takes it
