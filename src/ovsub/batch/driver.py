"""The driver of a batch: the one process that writes the ledger and renames outputs into place.

    recover()  markers left by a killed run are published (rolled forward); staging leftovers deleted;
               rows left running go back to queued
    sync()     every input gets its row: new or changed ones queued, done ones skipped, failed ones
               skipped (queued again with --retry-failed)
    run()      the executor takes tasks as its workers free up; each Outcome is published:
               staged files renamed into place, then the row done, then the staging files removed

No input is transcribed twice to completion: a worker's last act is the marker (written atomically,
after its outputs are on disk), and from then on every path leads to publishing that marker, never to
transcribing again: the driver publishes it when told; a run killed before (or while) publishing finds
the marker on its next start and finishes the renames; a worker that dies after writing it (its outcome
never sent) has its marker found by the driver before the task is offered again. A kill between the
ledger's commit and the removal of the marker leaves a marker of a done attempt, which is just deleted.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ovsub.batch import inputs
from ovsub.batch.inputs import Entry
from ovsub.batch.ledger import PENDING, Ledger, Row, open_ledger, options_fingerprint
from ovsub.batch.work import MARKER_SUFFIX, MAX_ATTEMPTS, Executor, Outcome, Task, marker_path, read_marker
from ovsub.errors import OutputError
from ovsub.fsutil import check_writable_dir
from ovsub.options import JobOptions, replace

log = logging.getLogger("ovsub")

WORK_DIR = ".ovsub-batch"  # under OUT: the driver's and workers' own files (staging folders, markers)


@dataclass
class Tally:
    """What a run did, for the progress lines and the summary."""

    total: int = 0  # inputs of this run
    skipped: int = 0  # done by an earlier run
    done: int = 0  # done by this run
    failed: dict[str, str] = field(default_factory=dict)  # source -> error, this run's and earlier ones kept
    failed_earlier: int = 0  # of those, failed in an earlier run and not tried again
    audio_total_s: float = 0.0  # of every input whose length is known
    audio_before_s: float = 0.0  # of those done earlier
    audio_done_s: float = 0.0  # transcribed by this run


Event = Callable[[str, Row, Tally], None]  # (what happened: started, done, failed, lost; the row; the tally)


def staging_root(out: Path) -> Path:
    return out / WORK_DIR / "staging"


def recover(ledger: Ledger, out: Path) -> int:
    """Finish what a killed run left (see the module docstring); the number of inputs rolled forward."""
    root = staging_root(out)
    published = 0
    for marker in sorted(root.glob("*" + MARKER_SUFFIX)):
        outcome = read_marker(marker)
        row = ledger.get(outcome.key) if outcome else None
        if outcome and row and row.state != "done" and row.attempts == outcome.attempt:
            published += publish(ledger, row, outcome, Path(str(marker)[: -len(MARKER_SUFFIX)]))
    if root.is_dir():
        for leftover in root.iterdir():  # staging folders without a marker, half-written markers
            shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink(missing_ok=True)
    ledger.requeue_running()
    return published


def publish(ledger: Ledger, row: Row, outcome: Outcome, staging: Path) -> bool:
    """Rename the staged outputs into place, record the row done, remove the staging files.

    An output already moved (by a run killed while publishing) is taken as it is. False, with the row
    failed, if an output cannot be put in place.
    """
    finals: list[Path] = []
    try:
        for name in outcome.outputs:
            target = inputs.final_path(row.out_prefix, row.source, name)
            target.parent.mkdir(parents=True, exist_ok=True)
            staged = staging / name
            if staged.exists() or not target.exists():
                os.replace(staged, target)
            finals.append(target)
        for folder in {p.parent for p in finals}:  # the renames reach the disk before the ledger says done
            _fsync_dir(folder)
    except OSError as e:
        ledger.fail(row.id, f"{row.out_prefix}: cannot put an output in place ({e.strerror or e})")
        _remove(staging)
        return False
    ledger.finish(row.id, outcome.attempt, [str(p) for p in finals], outcome.audio_s, outcome.wall_s,
                  outcome.content_hash)  # fmt: skip
    _remove(staging)
    return True


def _remove(staging: Path) -> None:
    shutil.rmtree(staging, ignore_errors=True)
    marker_path(staging).unlink(missing_ok=True)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sync(ledger: Ledger, entries: Sequence[Entry], job: JobOptions, retry_failed: bool) -> tuple[list[int], Tally]:
    """Give every input its row; the rows to run, in order, and the tally so far (see the module docstring)."""
    fingerprint = options_fingerprint(job)
    todo: list[int] = []
    tally = Tally(total=len(entries))
    for entry in entries:
        row = _enqueue(ledger, entry, fingerprint)
        if row.state == "failed" and retry_failed and row.content_hash != _UNREADABLE:
            ledger.requeue(row.id)
            row = ledger.get(row.id) or row
        tally.audio_total_s += row.audio_s or 0.0
        if row.state == "done":
            tally.skipped += 1
            tally.audio_before_s += row.audio_s or 0.0
        elif row.state == "failed":
            tally.failed[row.source] = row.error or "failed"
            tally.failed_earlier += row.content_hash != _UNREADABLE  # (that one failed just now)
        else:
            todo.append(row.id)
    return todo, tally


_UNREADABLE = "unreadable"


def _enqueue(ledger: Ledger, entry: Entry, fingerprint: tuple[str, str]) -> Row:
    """The entry's row, queued if new or changed; failed at once if the file cannot be read."""
    try:
        stat = inputs.file_stat(entry.source)
        digest = _digest(ledger, entry.source, stat)
    except OSError as e:
        former = ledger.find(entry.source)
        if former and former.state == "done":  # transcribed already; the file has gone since
            return former
        row, _ = ledger.enqueue(entry.source, _UNREADABLE, None, fingerprint, entry.out_prefix, None)
        ledger.fail(row.id, f"{entry.source}: cannot read ({e.strerror or e})")
        return ledger.get(row.id) or row
    row, fresh = ledger.enqueue(entry.source, digest, stat, fingerprint, entry.out_prefix, None)
    if fresh:
        length = inputs.duration_s(entry.source)
        if length is not None:
            ledger.set_audio(row.id, length)
            row = ledger.get(row.id) or row
    return row


def _digest(ledger: Ledger, source: str, stat: tuple[int, int] | None) -> str:
    """The content hash to match ``source``'s row with. A file is read here only if it was hashed before and its
    size or time changed (touched, or changed?); a new one is hashed by the worker that transcribes it, so a first
    run over terabytes starts at once, and its workers hash in parallel what they read anyway."""
    if stat is None:
        return inputs.content_hash(source)  # a link: the hash of the link, nothing to read
    known = ledger.known_hash(source, *stat)
    if known is not None:
        return known  # as it was (PENDING if no worker has read it yet)
    former = ledger.find(source)
    return inputs.content_hash(source) if former and former.content_hash else PENDING


class Driver:
    """One run over ``entries``: hands tasks to an executor and publishes what comes back."""

    def __init__(self, ledger: Ledger, out: Path, job: JobOptions, tally: Tally, event: Event) -> None:
        self.ledger, self.out, self.tally, self.event = ledger, out, tally, event
        self.job = replace(job, output=replace(job.output, output_dir=None))
        self.queue: deque[int] = deque()
        self.lost: dict[int, int] = {}  # row -> times its worker died on it in this run

    def next_task(self) -> Task | None:
        if not self.queue:
            return None
        key = self.queue.popleft()
        attempt = self.ledger.start(key)
        row = self.ledger.get(key)
        assert row is not None
        self.event("started", row, self.tally)
        staging = staging_root(self.out) / str(key)
        return Task(key, attempt, row.source, self.job, str(staging))

    def on_done(self, outcome: Outcome) -> None:
        row = self.ledger.get(outcome.key)
        if row is None:
            return
        staging = staging_root(self.out) / str(outcome.key)
        if outcome.lost:  # the worker may have died after its marker: then the work is complete
            outcome = _marked(staging, outcome)
        if outcome.ok and publish(self.ledger, row, outcome, staging):
            self.tally.done += 1
            self.tally.audio_done_s += outcome.audio_s
            self.tally.audio_total_s += outcome.audio_s - (row.audio_s or 0.0)  # the decoded length now
            self.event("done", self.ledger.get(row.id) or row, self.tally)
        elif outcome.lost and self.lost.get(row.id, 0) + 1 < MAX_ATTEMPTS:
            self.lost[row.id] = self.lost.get(row.id, 0) + 1
            self.ledger.requeue(row.id, outcome.error)
            self.queue.append(row.id)
            self.event("lost", self.ledger.get(row.id) or row, self.tally)
        else:
            if not outcome.ok:
                _remove(staging)
                error = outcome.error or "failed"
                if outcome.lost:
                    error += f", {MAX_ATTEMPTS} times in this run; not tried again (--retry-failed will)"
                self.ledger.fail(row.id, error, outcome.wall_s)
            failed = self.ledger.get(row.id) or row
            self.tally.failed[row.source] = failed.error or "failed"
            self.event("failed", failed, self.tally)


def _marked(staging: Path, lost: Outcome) -> Outcome:
    found = read_marker(marker_path(staging))
    return found if found and found.key == lost.key and found.attempt == lost.attempt else lost


@contextmanager
def _only_run(out: Path) -> Iterator[None]:
    """Hold OUT's lock for the run: a second run on OUT would take the first one's inputs for a killed run's
    and do them again. The lock goes with the process, so a kill -9 leaves none behind."""
    try:
        import fcntl
    except ImportError:  # not POSIX: unguarded
        yield
        return
    lock = out / WORK_DIR / "lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as e:
            raise OutputError(f"{out}: another `ovsub batch` is running on this folder; wait for it, or stop it") from e
        yield


def run_batch(
    entries: Sequence[Entry],
    job: JobOptions,
    out: Path,
    executor: Executor,
    *,
    retry_failed: bool = False,
    event: Event | None = None,
) -> Tally:
    """Run the batch of ``entries`` into ``out`` with ``executor``; the tally of what became of them.

    Interrupted (Ctrl-C, a model that cannot load), the inputs handed out go back to queued for the next run.
    """
    check_writable_dir(out)
    with _only_run(out), open_ledger(out) as ledger:
        recover(ledger, out)
        todo, tally = sync(ledger, entries, job, retry_failed)
        driver = Driver(ledger, out, job, tally, event or (lambda kind, row, tally: None))
        driver.queue.extend(todo)
        try:
            if driver.queue:  # nothing left to do: no worker is started (nor a model loaded)
                executor.run(driver.next_task, driver.on_done)
        finally:
            ledger.requeue_running()
    return tally


__all__ = ["Driver", "Tally", "WORK_DIR", "publish", "recover", "run_batch", "sync"]
