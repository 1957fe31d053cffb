"""What a worker does with one input: ``run_one(Task) -> Outcome``, plain data in and out.

The same function runs in a local worker process (``local.py``), in a Ray actor (``cluster.py``) or in
the driver itself (``InlineExecutor``, for tests and the API); Task and Outcome are frozen dataclasses of
strings, numbers and the options objects, so they pickle to any of them.

A worker writes into ``task.staging_dir`` only, then the marker ``<staging_dir>.done.json`` as its last
step (see the package docstring); it never touches the ledger.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from ovsub.errors import OvsubError
from ovsub.options import JobOptions, ModelOptions
from ovsub.whisper import Transcriber

log = logging.getLogger("ovsub")

MAX_ATTEMPTS = 3  # an input whose worker died this many times (in one run) is failed, not offered again
MARKER_SUFFIX = ".done.json"  # beside a staging folder: the worker finished, its files are complete


@dataclass(frozen=True)
class WorkerSetup:
    """What every worker of a run loads once: the model, and how many inference threads it gets."""

    model: ModelOptions  # with threads set to the worker's share of the cores
    word_timestamps: bool
    workers: int  # worker processes (on a cluster: actors) running at once


@dataclass(frozen=True)
class Task:
    """One input for one worker."""

    key: int  # the ledger row
    attempt: int  # the row's attempts, this one included (1 for the first)
    source: str  # a path (absolute) or a link
    job: JobOptions  # the options, output_dir not set (the worker writes to staging_dir)
    staging_dir: str  # the worker writes every output here, then the marker beside it


@dataclass(frozen=True)
class Outcome:
    """What became of a Task. ``outputs`` are file names relative to its staging folder."""

    key: int
    attempt: int
    ok: bool
    outputs: tuple[str, ...] = ()
    audio_s: float = 0.0  # seconds of audio transcribed (the longest track)
    wall_s: float = 0.0  # worker time spent on it
    error: str | None = None  # why it failed
    lost: bool = False  # the worker died on it: not the input's fault (maybe), offer it again
    content_hash: str = ""  # sha256 of the file as the worker read it ("" for a link)

    @classmethod
    def lost_task(cls, task: Task, why: str) -> Outcome:
        """The Outcome of a task whose worker died (``why``: e.g. "worker exited with code -9")."""
        return cls(task.key, task.attempt, False, error=why, lost=True)


class Executor(Protocol):
    """Runs tasks on workers; the contract is in the package docstring."""

    def run(self, next_task: Callable[[], Task | None], on_done: Callable[[Outcome], None]) -> None: ...


def marker_path(staging_dir: str | Path) -> Path:
    """The file that says a staging folder is complete: ``<staging_dir>.done.json``."""
    folder = Path(staging_dir)
    return folder.with_name(folder.name + MARKER_SUFFIX)


def warm(setup: WorkerSetup) -> Transcriber:
    """Load the model once in this process (later loads of the same options return it)."""
    from ovsub.transcription import load_model

    return load_model(setup.model, setup.word_timestamps)


def run_one(task: Task, transcriber: Transcriber | None = None, setup: WorkerSetup | None = None) -> Outcome:
    """Transcribe ``task.source`` into its staging folder and write the marker; never raises for the input's
    faults (they are the Outcome's error). ``transcriber`` (or the model ``setup`` names, loaded once per
    process) is used; else the job's own model options."""
    started = time.monotonic()
    staging = Path(task.staging_dir)
    shutil.rmtree(staging, ignore_errors=True)  # a killed attempt's leftovers
    marker_path(staging).unlink(missing_ok=True)
    job = replace(task.job, output=replace(task.job.output, output_dir=str(staging)))
    if transcriber is None and setup is not None:
        transcriber = warm(setup)
    try:
        from ovsub import pipeline
        from ovsub.batch.inputs import content_hash
        from ovsub.download import is_url

        digest = "" if is_url(task.source) else content_hash(task.source)  # the ledger keeps it (see driver)
        result = pipeline.process(task.source, job, transcriber=transcriber)
        if result.video_error:
            raise OvsubError(result.video_error)
    except OvsubError as e:
        return _failed(task, staging, str(e), started)
    except OSError as e:  # the file cannot be read to hash it (or another system error on the way)
        return _failed(task, staging, f"{task.source}: {e.strerror or e}", started)
    except Exception as e:  # a defect of ovsub's: this input fails, the archive goes on
        log.debug("%s: internal error", task.source, exc_info=True)
        return _failed(task, staging, f"internal error ({type(e).__name__}: {e}); please report it", started)
    outputs = tuple(str(p.relative_to(staging)) for p in result.outputs)
    audio_s = max((s.info.duration_s for s in result.subtitles), default=0.0)
    outcome = Outcome(task.key, task.attempt, True, outputs, audio_s, time.monotonic() - started, content_hash=digest)
    write_marker(staging, outcome)
    return outcome


def _failed(task: Task, staging: Path, error: str, started: float) -> Outcome:
    shutil.rmtree(staging, ignore_errors=True)
    return Outcome(task.key, task.attempt, False, error=error, wall_s=time.monotonic() - started)


def write_marker(staging: Path, outcome: Outcome) -> None:
    """Say, atomically and durably, that ``staging`` holds the complete outputs of ``outcome``."""
    from ovsub.fsutil import atomic_path

    for name in outcome.outputs:  # the outputs' bytes reach the disk before the marker says they are there
        _fsync(staging / name)
    data = {"key": outcome.key, "attempt": outcome.attempt, "outputs": list(outcome.outputs),
            "audio_s": outcome.audio_s, "wall_s": outcome.wall_s, "content_hash": outcome.content_hash}  # fmt: skip
    with atomic_path(marker_path(staging)) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(json.dumps(data))
        f.flush()
        os.fsync(f.fileno())  # and so do the marker's, before its rename
    _fsync(staging.parent)


def read_marker(path: Path) -> Outcome | None:
    """The Outcome a marker records, or None if it is unreadable (then the attempt is redone)."""
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        outputs = tuple(str(n) for n in data["outputs"])
        return Outcome(int(data["key"]), int(data["attempt"]), True, outputs, float(data["audio_s"]),
                       float(data["wall_s"]), content_hash=str(data["content_hash"]))  # fmt: skip
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _fsync(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


__all__ = ["Executor", "MAX_ATTEMPTS", "Outcome", "Task", "WorkerSetup", "marker_path", "run_one", "warm"]
