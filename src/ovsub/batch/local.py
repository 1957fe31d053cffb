"""Executors on this machine: ``LocalExecutor`` (N worker processes) and ``InlineExecutor`` (the driver's own
process, for tests and the Python API); ``make_executor`` picks one, or the Ray one of ``cluster.py``.

Worker processes are started with ``spawn`` (a fresh interpreter: no OpenVINO state or threads inherited
from the driver), load their model once, and talk to the driver over a pipe each. The driver waits on
the pipes and on the processes themselves, so a worker that dies (killed, out of memory, a crash in
native code) is noticed at once: its input is reported lost (the driver offers it again) and a new
worker takes its place. A worker whose driver is gone exits at its next read of the pipe.

Each worker gets ``cores // N`` inference threads (at least 1) unless ``--threads`` says otherwise, so
N workers share the machine instead of each starting a thread per core.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import multiprocessing
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

from ovsub.batch.work import Executor, Outcome, Task, WorkerSetup, run_one, warm
from ovsub.errors import MissingDependencyError, ModelError, OvsubError
from ovsub.options import ModelOptions
from ovsub.whisper import Transcriber

log = logging.getLogger("ovsub")

MAX_IDLE_DEATHS = 3  # workers that die before taking any task (while loading the model): then the run stops
STOP_TIMEOUT_S = 10.0  # at the end of a run, a worker not gone this long after being told to stop is terminated


def usable_cores() -> int:
    """The cores this process may run on (its affinity, which a container or taskset may narrow)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def worker_setup(model: ModelOptions, word_timestamps: bool, workers: int) -> WorkerSetup:
    """The setup of ``workers`` workers on this machine: each ``cores // workers`` threads unless set."""
    threads = model.threads or max(1, usable_cores() // workers)
    return WorkerSetup(replace(model, threads=threads), word_timestamps, workers)


class InlineExecutor:
    """Runs every task in the calling process, one at a time (``transcriber``: a model already loaded)."""

    def __init__(self, setup: WorkerSetup | None = None, transcriber: Transcriber | None = None) -> None:
        self.setup, self.transcriber = setup, transcriber

    def run(self, next_task: Callable[[], Task | None], on_done: Callable[[Outcome], None]) -> None:
        while (task := next_task()) is not None:
            on_done(run_one(task, self.transcriber, self.setup))


@dataclass
class _Worker:
    process: BaseProcess
    conn: Connection
    task: Task | None = None


def _worker_main(setup: WorkerSetup, conn: Connection) -> None:
    """A worker process: load the model, then run the tasks the driver sends until told to stop.

    Ctrl-C reaches the whole process group; the driver alone decides what it means (it stops the workers).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        warm(setup)
    except Exception as e:  # no model, no work: the driver stops the run with the reason
        conn.send(("broken", str(e) if isinstance(e, OvsubError) else f"{type(e).__name__}: {e}"))
        return
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):  # the driver is gone
            return
        if task is None:
            return
        conn.send(("done", run_one(task, setup=setup)))


class LocalExecutor:
    """``setup.workers`` worker processes on this machine (see the module docstring)."""

    def __init__(self, setup: WorkerSetup) -> None:
        self.setup = setup
        self.context = multiprocessing.get_context("spawn")
        self.workers: list[_Worker] = []
        self.idle_deaths = 0

    def _start(self) -> _Worker:
        mine, theirs = self.context.Pipe()
        process = self.context.Process(target=_worker_main, args=(self.setup, theirs), daemon=True,
                                       name="ovsub-batch-worker")  # fmt: skip
        process.start()
        theirs.close()
        return _Worker(process, mine)

    def run(self, next_task: Callable[[], Task | None], on_done: Callable[[Outcome], None]) -> None:
        self.workers = [self._start() for _ in range(self.setup.workers)]
        try:
            self._loop(next_task, on_done)
        except BaseException:  # Ctrl-C, a model that cannot load: stop now (the next run cleans up after them)
            self._stop(wait_s=0.0)
            raise
        self._stop(wait_s=STOP_TIMEOUT_S)

    def _loop(self, next_task: Callable[[], Task | None], on_done: Callable[[Outcome], None]) -> None:
        drained = False
        while True:
            for i, w in enumerate(self.workers):
                if w.task is None and not w.process.is_alive():
                    self._replace_idle(i)
                if not drained and self.workers[i].task is None:
                    task = next_task()
                    drained = task is None
                    if task is not None:
                        self.workers[i].task = task
                        self.workers[i].conn.send(task)
            busy = [w for w in self.workers if w.task is not None]
            if not busy:
                return
            ready = wait([w.conn for w in busy] + [w.process.sentinel for w in busy])
            for w in busy:
                outcome = self._outcome(w, ready)
                if outcome is not None:
                    w.task = None
                    drained = False  # a lost task may be offered again
                    on_done(outcome)

    def _outcome(self, w: _Worker, ready: list[Any]) -> Outcome | None:
        """What ``w`` has to say, if anything: its Outcome, or that it died on its task."""
        assert w.task is not None
        if w.conn in ready or w.conn.poll():
            try:
                kind, value = w.conn.recv()
            except (EOFError, OSError):
                kind, value = "died", None
            if kind == "done":
                return value if isinstance(value, Outcome) else None
            if kind == "broken":
                raise ModelError(f"a worker could not load the model: {value}")
        if w.process.sentinel in ready or not w.process.is_alive():
            w.process.join(1.0)
            why = f"its worker process died (exit code {w.process.exitcode})"
            log.info("%s: %s", w.task.source, why)
            lost = Outcome.lost_task(w.task, why)
            self.workers[self.workers.index(w)] = self._start()
            return lost
        return None

    def _replace_idle(self, i: int) -> None:
        self.idle_deaths += 1
        code = self.workers[i].process.exitcode
        if self.idle_deaths > MAX_IDLE_DEATHS:
            raise OvsubError(f"batch workers keep dying before any work (last exit code {code}); see the log with -v")
        self.workers[i] = self._start()

    def _stop(self, wait_s: float) -> None:
        for w in self.workers:
            with contextlib.suppress(OSError):
                w.conn.send(None)
        for w in self.workers:
            w.process.join(wait_s)
            if w.process.is_alive():
                w.process.terminate()
                w.process.join(STOP_TIMEOUT_S)
            w.conn.close()
        self.workers = []


def make_executor(setup: WorkerSetup, ray_address: str | None = None, use_ray: bool = False) -> Executor:
    """The executor a run asks for: Ray's when ``use_ray`` (``ray_address`` None: a local Ray), else local."""
    if not use_ray:
        return LocalExecutor(setup)
    try:
        cluster = importlib.import_module("ovsub.batch.cluster")  # only now: it needs Ray
        executor: Executor = cluster.RayExecutor(setup, ray_address)
    except ModuleNotFoundError as e:
        if (e.name or "").split(".")[0] != "ray":
            raise
        raise MissingDependencyError("--ray needs Ray: pip install 'ovsub[cluster]'") from e
    return executor


__all__ = ["InlineExecutor", "LocalExecutor", "make_executor", "usable_cores", "worker_setup"]
