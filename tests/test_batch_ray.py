"""``ovsub batch --ray``: the Ray executor on a real local cluster (2 CPUs), with real speech.

Each test starts its own local cluster through the executor (address None), as ``--ray`` without an
address does, and the executor shuts it down. The tests drive the executor the way the batch driver does:
``next_task`` hands out an input with its attempt counted, ``on_done`` takes the Outcome, and a lost task
(its worker died) is offered again until ``work.MAX_ATTEMPTS``.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pysubs2
import pytest

pytest.importorskip("ray", reason="the Ray executor needs Ray: pip install -e '.[cluster]'")

from ovsub.batch import work  # noqa: E402
from ovsub.batch.cluster import ACTOR_NAME, RayExecutor  # noqa: E402
from ovsub.batch.work import Outcome, Task, WorkerSetup  # noqa: E402
from ovsub.options import JobOptions, ModelOptions, TranscribeOptions  # noqa: E402

pytestmark = pytest.mark.model

SETUP = WorkerSetup(ModelOptions(name="base", precision="int8", threads=1), word_timestamps=True, workers=2)
JOB = JobOptions(transcribe=TranscribeOptions(language="en"), model=SETUP.model)


def _clips(data_dir: Path, n: int) -> list[Path]:
    return sorted((data_dir / "english" / "fleurs").glob("*.ogg"))[:n]


class MiniDriver:
    """The batch driver's side of the executor contract, without the ledger: attempts and outcomes in memory."""

    def __init__(self, sources: list[Path], out: Path) -> None:
        self.tasks = {key: str(src) for key, src in enumerate(sources)}
        self.waiting = list(self.tasks)
        self.attempts = dict.fromkeys(self.tasks, 0)
        self.outcomes: list[Outcome] = []
        self.in_flight: set[int] = set()
        self.out = out
        self.thread = threading.get_ident()

    def next_task(self) -> Task | None:
        if not self.waiting:
            return None
        key = self.waiting.pop(0)
        self.attempts[key] += 1
        self.in_flight.add(key)
        return Task(key, self.attempts[key], self.tasks[key], JOB, str(self.out / "staging" / str(key)))

    def on_done(self, outcome: Outcome) -> None:
        assert threading.get_ident() == self.thread  # the contract: on_done in the thread that called run
        assert outcome.key in self.in_flight  # once per task handed out
        self.in_flight.discard(outcome.key)
        self.outcomes.append(outcome)
        if outcome.lost and self.attempts[outcome.key] < work.MAX_ATTEMPTS:
            self.waiting.append(outcome.key)

    def done(self) -> dict[int, Outcome]:
        return {o.key: o for o in self.outcomes if o.ok}


def _srt_text(staging: Path, outcome: Outcome) -> str:
    (name,) = outcome.outputs
    subs = pysubs2.load(str(staging / name))
    assert len(subs) > 0
    return " ".join(line.plaintext for line in subs)


def test_ray_outputs_equal_those_of_a_local_worker(data_dir: Path, tmp_path: Path) -> None:
    clips = _clips(data_dir, 3)
    driver = MiniDriver(clips, tmp_path / "ray")
    executor = RayExecutor(SETUP, None)
    executor.run(driver.next_task, driver.on_done)
    assert sorted(driver.done()) == [0, 1, 2] and driver.in_flight == set()
    assert len(executor.load_s) == 2 and executor.hosts  # two actors, each loaded its own model
    ray = pytest.importorskip("ray")
    assert not ray.is_initialized()  # the local cluster it started is shut down

    local = work.warm(SETUP)  # the same model, the same single thread, in this process
    for key, src in enumerate(clips):
        outcome = driver.done()[key]
        staging = tmp_path / "ray" / "staging" / str(key)
        assert work.marker_path(staging).is_file() and outcome.audio_s > 0
        local_dir = tmp_path / "local" / str(key)
        ref = work.run_one(Task(key, 1, str(src), JOB, str(local_dir)), local)
        assert ref.ok and ref.outputs == outcome.outputs
        assert (staging / outcome.outputs[0]).read_text() == (local_dir / ref.outputs[0]).read_text()
        assert _srt_text(staging, outcome)


def _kill_mid_file(killed: list[tuple[int, float]], stop: threading.Event) -> None:
    """SIGKILL the first actor process seen working on a file, once it has been at it for a second."""
    title = f"ray::{ACTOR_NAME}.run".encode()
    first_seen: dict[int, float] = {}
    while not stop.is_set() and not killed:
        for proc in Path("/proc").iterdir():
            try:
                busy = proc.name.isdigit() and (proc / "cmdline").read_bytes().startswith(title)
            except OSError:
                continue
            if busy:
                pid = int(proc.name)
                seen = first_seen.setdefault(pid, time.monotonic())
                if time.monotonic() - seen > 1.0:
                    os.kill(pid, signal.SIGKILL)
                    killed.append((pid, time.monotonic()))
                    return
        time.sleep(0.05)


def test_a_worker_killed_mid_file_has_its_file_redone_and_nothing_is_lost(data_dir: Path, tmp_path: Path) -> None:
    clips = _clips(data_dir, 4)
    driver = MiniDriver(clips, tmp_path)
    killed: list[tuple[int, float]] = []
    stop = threading.Event()
    killer = threading.Thread(target=_kill_mid_file, args=(killed, stop), daemon=True)
    killer.start()
    try:
        RayExecutor(SETUP, None).run(driver.next_task, driver.on_done)
    finally:
        stop.set()
        killer.join()
    assert killed, "no actor was seen working on a file"
    lost = [o for o in driver.outcomes if o.lost]
    assert len(lost) == 1 and "lost" in (lost[0].error or "")
    redone = lost[0].key
    assert driver.attempts[redone] == 2 and driver.done()[redone].attempt == 2  # the attempt is counted
    assert sorted(driver.done()) == list(range(len(clips)))  # every file done, once each
    assert all(driver.attempts[k] == 1 for k in driver.tasks if k != redone)
    for key, outcome in driver.done().items():
        staging = tmp_path / "staging" / str(key)
        assert sorted(p.name for p in staging.iterdir()) == sorted(outcome.outputs)  # no half-written leftovers
        assert work.read_marker(work.marker_path(staging)) == outcome
        assert _srt_text(staging, outcome)
