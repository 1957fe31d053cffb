"""The Executor for a Ray cluster (``ovsub batch ... --ray [ADDRESS]``; needs ``pip install 'ovsub[cluster]'``).

One Ray actor per worker, each reserving ``threads`` of a node's CPUs and loading its own model inside
the actor with as many OpenVINO threads (compiled models do not pickle, so they never travel). What
travels is plain data: the WorkerSetup once per actor, then one Task per input (a path or a link, the
options, the staging folder), and an Outcome back; audio is decoded where it is transcribed, never
shipped. The ledger stays with the driver: the actors write outputs into the staging folders, so OUT
and the inputs must be at the same paths on every node (a shared file system).

    ADDRESS None   a new local cluster just for this run (``ray.init(address="local")``), shut down after it
    "auto"         the cluster ``ray start`` runs on this machine
    host:port      the head of a cluster (``ray start --head`` there, ``ray start --address=host:port``
                   on every other node), or ``ray://host:10001`` through Ray Client

An actor that dies (its process killed, out of memory, its node lost) is killed for certain, so it can
write nothing more, and replaced by a fresh one; its task comes back to the driver as
``Outcome.lost_task`` and the driver offers it again (``work.MAX_ATTEMPTS``), as it does for a local
worker process that dies.

Ray is imported only here and only when an executor starts, so ovsub imports (and its doctests run)
without it; ray's objects stay ``Any`` behind :func:`_ray`.
"""

from __future__ import annotations

import importlib
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import ovsub
from ovsub.batch import work
from ovsub.batch.work import Outcome, Task, WorkerSetup
from ovsub.errors import MissingDependencyError, ModelError, OvsubError

log = logging.getLogger("ovsub")

ACTOR_NAME = "OvsubWorker"  # the class name Ray shows, and the process title: "ray::OvsubWorker.run" while on a file
MAX_FAILED_STARTS = 3  # actors that die while loading their model, per actor slot, before the run gives up


def _ray() -> Any:
    """The ``ray`` module, or an error that says how to get it."""
    try:
        return importlib.import_module("ray")
    except ImportError as e:
        raise MissingDependencyError("--ray needs Ray: pip install 'ovsub[cluster]'") from e


class OvsubWorker:
    """The body of one actor: a model loaded once, then ``run`` for one Task at a time."""

    def __init__(self, setup: WorkerSetup) -> None:
        started = time.monotonic()
        self.transcriber: Any = None
        self.broken: str | None = None  # why the model could not be loaded here
        try:
            self.transcriber = work.warm(setup)  # compiled here, in the actor's process, with setup.model.threads
        except OvsubError as e:
            self.broken = str(e)
        self.load_s = time.monotonic() - started

    def ready(self) -> dict[str, Any]:
        """Where this actor runs, how long its model took to load, or why it could not."""
        return {"host": socket.gethostname(), "pid": os.getpid(), "load_s": self.load_s,
                "version": ovsub.__version__, "broken": self.broken}  # fmt: skip

    def run(self, task: Task) -> Outcome:
        return work.run_one(task, self.transcriber)


@dataclass
class _Slot:
    """An actor, and the task it is on (None while it loads its model, or while it waits idle)."""

    actor: Any
    task: Task | None = None


class RayExecutor:
    """Runs tasks on Ray actors; the contract is ``work.Executor``'s (see the package docstring).

    ``run`` connects (or starts a local cluster), starts the actors and, when done, kills them and
    disconnects, shutting down a cluster it started (a Ray already initialized in this process is used
    as it is, and left connected).
    """

    def __init__(self, setup: WorkerSetup, address: str | None = None) -> None:
        threads = setup.model.threads or 1  # on a cluster, "automatic" would take every core of a node
        self.setup = replace(setup, model=replace(setup.model, threads=threads))
        self.address = address
        self.threads = threads
        self.workers = max(0, setup.workers)  # 0: as many as the cluster's CPUs allow
        self.load_s: list[float] = []  # each actor's model loading time, as actors become ready
        self.hosts: dict[str, int] = {}  # actors per node
        self.failed_starts = 0
        self._slots: dict[Any, _Slot] = {}  # by the ObjectRef of the call in flight (ready() or run())
        self._idle: list[_Slot] = []
        self._actor_class: Any = None
        self._connected_here = False
        self._open = False

    def start(self) -> None:
        """Connect to the cluster (or start a local one) and start the actors; they load their models."""
        if self._open:
            return
        ray = _ray()
        if not ray.is_initialized():
            self._connect(ray)
        self._open = True  # from here on, close() undoes it
        cpus = int(ray.cluster_resources().get("CPU", 0))
        self.workers = _fit_workers(self.workers, self.threads, cpus)
        self._actor_class = ray.remote(num_cpus=self.threads, max_restarts=0)(OvsubWorker)
        for _ in range(self.workers):
            self._start_actor()
        log.info("ray: %d actors of %d CPU(s) each, on a cluster of %d CPUs", self.workers, self.threads, cpus)

    def _connect(self, ray: Any) -> None:
        verbose = log.isEnabledFor(logging.INFO)  # -v: Ray's own lines and the actors' logs too
        quiet = {"logging_level": logging.INFO if verbose else logging.WARNING, "log_to_driver": verbose}
        if self.address is None:
            # A new cluster of just the CPUs this run asks for; the workers import the driver's ovsub.
            cpus = max(1, self.workers) * self.threads
            ray.init(address="local", num_cpus=cpus, include_dashboard=False,
                     runtime_env={"env_vars": _local_pythonpath()}, **quiet)  # fmt: skip
        else:
            ray.init(address=self.address, **quiet)
        self._connected_here = True

    def close(self) -> None:
        """Kill the actors and disconnect (which stops a cluster this executor started)."""
        if not self._open:
            return
        ray = _ray()
        for slot in list(self._slots.values()) + self._idle:
            ray.kill(slot.actor, no_restart=True)
        self._slots.clear()
        self._idle.clear()
        self._open = False
        if self._connected_here:
            ray.shutdown()
            self._connected_here = False

    def run(self, next_task: Callable[[], Task | None], on_done: Callable[[Outcome], None]) -> None:
        """Hand tasks to free actors until ``next_task`` has none and none is in flight."""
        self.start()
        try:
            self._loop(next_task, on_done)
        finally:
            self.close()

    def _loop(self, next_task: Callable[[], Task | None], on_done: Callable[[Outcome], None]) -> None:
        ray = _ray()
        while True:
            drained = False  # next_task() said nothing is waiting
            while self._idle:
                task = next_task()
                if task is None:
                    drained = True
                    break
                slot = self._idle.pop()
                slot.task = task
                # Through the object store: a path, options and a staging folder (Ray hands the actor the value).
                self._slots[slot.actor.run.remote(ray.put(task))] = slot
            if drained and not any(s.task is not None for s in self._slots.values()):
                return  # nothing waiting, nothing in flight (actors still loading are not waited for)
            done, _ = ray.wait(list(self._slots), num_returns=1)
            for ref in done:
                self._finished(ray, ref, on_done)

    def _finished(self, ray: Any, ref: Any, on_done: Callable[[Outcome], None]) -> None:
        slot = self._slots.pop(ref)
        task, slot.task = slot.task, None
        result: Any = None
        error: Exception | None = None
        died = False
        try:
            result = ray.get(ref)
        except ray.exceptions.RayTaskError as e:  # an exception out of the actor's method; the actor lives
            error = e
        except ray.exceptions.RayError as e:  # the actor died: killed, out of memory, its node lost
            error, died = e, True
        if task is None:  # the answer to ready(): the actor has loaded its model, or failed to
            if error is None:
                self._ready(slot, result)
            else:
                self._start_failed(ray, slot, error)
            return
        if died:
            log.warning("ray: a worker died on %s (attempt %d); it goes back to the queue", task.source, task.attempt)
            self._replace(ray, slot)
            outcome = Outcome.lost_task(task, f"Ray worker lost ({type(error).__name__})")
        else:
            self._idle.append(slot)
            outcome = result if error is None else Outcome(task.key, task.attempt, False, error=f"internal error in a "
                                                           f"Ray worker: {error}")  # fmt: skip
        on_done(outcome)

    def _ready(self, slot: _Slot, info: dict[str, Any]) -> None:
        if info["broken"] is not None:
            raise ModelError(f"a Ray worker on {info['host']} could not load the model: {info['broken']}")
        self.load_s.append(float(info["load_s"]))
        self.hosts[str(info["host"])] = self.hosts.get(str(info["host"]), 0) + 1
        if info["version"] != ovsub.__version__:
            log.warning("ray: ovsub %s on %s, %s here", info["version"], info["host"], ovsub.__version__)
        log.info("ray: worker ready on %s (pid %s), model loaded in %.1f s", info["host"], info["pid"], info["load_s"])
        self._idle.append(slot)

    def _start_failed(self, ray: Any, slot: _Slot, error: Exception) -> None:
        self.failed_starts += 1
        if self.failed_starts >= MAX_FAILED_STARTS * self.workers:
            raise OvsubError(f"Ray workers fail to start (is the same ovsub installed on every node? Ray's logs are in "
                             f"/tmp/ray/session_latest/logs on each): {error}")
        log.warning("ray: a worker failed to start, starting another: %s", error)
        self._replace(ray, slot)

    def _replace(self, ray: Any, slot: _Slot) -> None:
        ray.kill(slot.actor, no_restart=True)  # dead already, or unreachable: then it must not write on
        self._start_actor()

    def _start_actor(self) -> None:
        actor = self._actor_class.remote(self.setup)
        self._slots[actor.ready.remote()] = _Slot(actor)


def _fit_workers(workers: int, threads: int, cpus: int) -> int:
    """Actors to start: ``workers`` (0: as many as fit), lowered to what the cluster's CPUs hold, at least 1.

    >>> _fit_workers(2, 1, 8), _fit_workers(0, 2, 8), _fit_workers(6, 2, 8), _fit_workers(3, 4, 2)
    (2, 4, 4, 1)
    """
    fit = max(1, cpus // threads)
    if workers == 0:
        return fit
    if workers > fit:
        log.warning("ray: %d workers x %d threads need %d CPUs, the cluster has %d: %d workers", workers, threads,
                    workers * threads, cpus, fit)  # fmt: skip
        return fit
    return workers


def _local_pythonpath() -> dict[str, str]:
    """PYTHONPATH for the workers of a local cluster: the folder this ovsub was imported from, first."""
    here = str(Path(ovsub.__file__).resolve().parents[1])
    rest = os.environ.get("PYTHONPATH", "")
    return {"PYTHONPATH": os.pathsep.join(p for p in (here, rest) if p)}


__all__ = ["ACTOR_NAME", "RayExecutor"]
