"""Jobs: a bounded queue, a few worker threads, and every job's state kept in SQLite.

Why threads and not processes: the heavy work is native code (OpenVINO, FFmpeg) that runs without
the GIL, and all jobs that use the same model share the one pipeline ``whisper.load`` keeps per
process and settings. Its decode lock makes such jobs take turns on the model, so a second worker
adds one job's audio and cues to memory, not a second model; it still overlaps decoding audio,
voice detection and muxing of one job with inference of another.

Each job has a folder ``<data_dir>/jobs/<id>/`` holding the media, the subtitle files and the
subtitled video; its state lives in ``<data_dir>/jobs.sqlite3`` (``store.JobStore``), written at
every change of stage, by this queue alone. So jobs survive a restart:

- at start, jobs that were queued, or running when the server stopped, are queued again (a link's
  download starts over); one whose stored media is gone fails, saying so. Folders without a job
  (an upload cut off by the stop) and the temporary files of interrupted work are removed.
  ``job.json`` files of older versions are moved into the database.
- at shutdown, running jobs are saved as queued at once and the workers are not waited for: a
  worker may be inside one long native call (a batch of windows on the model, a download) that
  sees the cancel flag only when it returns. Its thread is a daemon and ends with the process.

Finished jobs beyond ``max_jobs`` are deleted with their folders as soon as another ends; one older
than ``max_age_s`` is hidden (404) from that moment and deleted by a timer thread that sleeps until
the next job's time is up.

Cancelling: a queued job is just dropped; a running one has its flag set, and the job stops at its
next progress report (``runner.Reporter.check`` raises JobCancelled), between stages at the latest.
"""

from __future__ import annotations

import json
import logging
import secrets
import shutil
import threading
import time
from collections import deque
from dataclasses import replace
from pathlib import Path
from typing import Any

from ovsub.errors import OvsubError
from ovsub.web import runner
from ovsub.web.records import FINISHED, Job
from ovsub.web.runner import JobCancelled, Reporter
from ovsub.web.security import address_check
from ovsub.web.settings import WebSettings
from ovsub.web.store import DB_FILE, JobStore, StoreError

log = logging.getLogger("ovsub")

LEGACY_JOB_FILE = "job.json"  # a job's state in its folder, before the job database; imported at start
ID_BYTES = 8  # random bytes in a job id (16 hex characters)
DEFAULT_SPEED = 0.5  # wall seconds per second of media per task, assumed until a job has finished
SPEED_WEIGHT = 0.3  # how far each finished job moves the speed estimate towards its own
PRUNE_RECHECK_S = 3600.0  # the timer reads the clock again at least this often (in case it was set)
CLOSE_TIMEOUT_S = 0.5  # how long shutting down waits for workers; their jobs are saved as queued before
MEDIA_GONE = "the server stopped before this job finished, and its media is gone since; please submit it again"


class QueueFull(Exception):
    """No room for another waiting job."""


class JobNotFound(KeyError):
    """No job with this id (never was, or deleted)."""


class JobFinished(Exception):
    """The job has already ended, so it cannot be cancelled."""


class JobQueue:
    """Jobs by id, the queue of those waiting, the worker threads that run them and the timer that prunes."""

    def __init__(self, settings: WebSettings, data_dir: Path) -> None:
        self.settings = settings
        self.jobs_dir = data_dir / "jobs"
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        self.speed = DEFAULT_SPEED  # wall seconds per media second per task, learned from finished jobs
        # every connection a link's download makes is vetted, unless private addresses are allowed anyway
        self._address_check = None if settings.allow_private_urls else address_check(settings.private_networks())
        self._lock = threading.Lock()  # guards everything below, and every use of the store
        self._cond = threading.Condition(self._lock)  # a job is waiting, or the queue closed
        self._expiry = threading.Condition(self._lock)  # a job ended (so one more will expire), or the queue closed
        self._jobs: dict[str, Job] = {}
        self._pending: deque[str] = deque()
        self._closed = False
        self._store = JobStore(data_dir / DB_FILE)
        try:
            with self._cond:
                self._recover()
        except BaseException:
            self._store.close()
            raise
        self._threads = [
            threading.Thread(target=self._work, name=f"ovsub-web-{n}", daemon=True) for n in range(settings.workers)
        ]
        self._threads.append(threading.Thread(target=self._prune_on_time, name="ovsub-web-prune", daemon=True))
        for thread in self._threads:
            thread.start()

    # --- what the API calls ----------------------------------------------------------------------

    def new_folder(self) -> tuple[str, Path]:
        """A fresh job id and its (empty) folder, for a request still being received."""
        while True:
            job_id = secrets.token_hex(ID_BYTES)
            folder = self.jobs_dir / job_id
            try:
                folder.mkdir()
            except FileExistsError:
                continue
            return job_id, folder

    def has_room(self) -> bool:
        with self._cond:
            return not self._closed and len(self._pending) < self.settings.max_queue

    def submit(self, job: Job) -> Job:
        """Queue a job whose folder is ready; raise QueueFull when too many are waiting."""
        with self._cond:
            if self._closed:
                raise QueueFull("the server is shutting down")
            if len(self._pending) >= self.settings.max_queue:
                raise QueueFull(f"{len(self._pending)} jobs are already waiting; try again when one has finished")
            self._jobs[job.id] = job
            self._pending.append(job.id)
            self._save(job)
            self._cond.notify()
            return replace(job)

    def get(self, job_id: str) -> Job:
        """A copy of the job (safe to read while it runs); JobNotFound also once it is past its age limit."""
        with self._cond:
            return replace(self._live(job_id))

    def all(self) -> list[Job]:
        """Copies of every job not past its age limit, newest first."""
        now = time.time()
        with self._cond:
            jobs = [replace(j) for j in self._jobs.values() if not self._expired(j, now)]
        return sorted(jobs, key=lambda j: j.created_at, reverse=True)

    def position(self, job_id: str) -> int | None:
        """1 for the next job to start, 2 for the one after, ...; None if not waiting."""
        with self._cond:
            try:
                return self._pending.index(job_id) + 1
            except ValueError:
                return None

    def cancel(self, job_id: str) -> Job:
        """Drop a waiting job, or ask a running one to stop; raise JobFinished if it has ended."""
        with self._cond:
            job = self._live(job_id)
            if job.state in FINISHED:
                raise JobFinished(job.state)
            job.cancel.set()
            if job.state == "queued":
                self._pending.remove(job_id)
                self._end(job, "cancelled")
                self._save(job)
            return replace(job)

    def delete(self, job_id: str) -> None:
        """Forget a job and remove its folder (once it has stopped, if it is running)."""
        with self._cond:
            job = self._live(job_id)
            del self._jobs[job_id]
            job.deleted = True
            job.cancel.set()
            if job.state == "queued":
                self._pending.remove(job_id)
            running = job.state == "running"
            self._write(remove=[job_id])
        if not running:
            shutil.rmtree(job.dir, ignore_errors=True)

    def prune(self) -> None:
        """Delete finished jobs past their age limit, then the oldest beyond max_jobs."""
        with self._cond:
            expired = self._take_expired()
        _remove(expired)

    def close(self, timeout_s: float = CLOSE_TIMEOUT_S) -> bool:
        """Stop taking jobs, save running ones as queued for the next start, wait a little for the threads.

        True if every thread has ended. The store is closed either way: what it holds now is what the next
        server finds, whatever a worker still inside a long call does afterwards.
        """
        with self._cond:
            if not self._closed:
                self._closed = True
                self._shelve_running()
                self._cond.notify_all()
                self._expiry.notify_all()
        stopped = self.join(timeout_s)
        with self._cond:
            self._store.close()
        return stopped

    def join(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for the worker and timer threads to end (after close); True if they have."""
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(thread.is_alive() for thread in self._threads)

    # --- age and retention (the caller holds the lock) ---------------------------------------------

    def _live(self, job_id: str) -> Job:
        job = self._jobs.get(job_id)
        if job is None or self._expired(job, time.time()):
            raise JobNotFound(job_id)
        return job

    def _expires_at(self, job: Job) -> float | None:
        if job.state not in FINISHED:
            return None
        return (job.finished_at or job.created_at) + self.settings.max_age_s

    def _expired(self, job: Job, now: float) -> bool:
        due = self._expires_at(job)
        return due is not None and now >= due

    def _take_expired(self) -> list[Job]:
        """Forget the jobs prune() deletes and return them (the caller removes their folders, after the lock)."""
        now = time.time()
        finished = sorted(
            (j for j in self._jobs.values() if j.state in FINISHED),
            key=lambda j: j.finished_at or j.created_at,
            reverse=True,
        )
        expired = [j for n, j in enumerate(finished) if n >= self.settings.max_jobs or self._expired(j, now)]
        for job in expired:
            del self._jobs[job.id]
        if expired:  # rows first: a crash before the folders go leaves folders without a job, removed at start
            self._write(remove=[j.id for j in expired])
        return expired

    def _prune_on_time(self) -> None:
        """The timer thread: sleep until the next finished job's age limit, then prune."""
        while True:
            with self._cond:
                if self._closed:
                    return
                due = min((d for j in self._jobs.values() if (d := self._expires_at(j)) is not None), default=None)
                if due is None or due > time.time():
                    wait_s = PRUNE_RECHECK_S if due is None else min(PRUNE_RECHECK_S, due - time.time())
                    self._expiry.wait(max(0.0, wait_s))
                if self._closed:
                    return
            self.prune()

    # --- workers ---------------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                job = self._jobs[self._pending.popleft()]
                job.state, job.stage, job.started_at = "running", "starting", time.time()
                self._save(job)
            self._run(job)

    def _run(self, job: Job) -> None:
        report = Reporter(
            stage=lambda stage: self._set(job, save=True, stage=stage),
            progress=lambda fraction: self._set(job, progress=fraction),
            cancelled=job.cancel.is_set,
        )
        try:
            media = job.media
            if media is None:
                assert job.url is not None
                report.stage("downloading")
                media = runner.download_media(job.url, job.dir, self.settings.max_upload_bytes, self._address_check)
                self._set(job, save=True, media=media)  # a restart need not download it again
            report.check()
            self._set(job, work_started_at=time.time())
            results, video_file, video_error = runner.run(media, job.dir, job.request, report, job.url or job.name)
            if video_error:
                log.warning("web: job %s: no subtitled video: %s", job.id, video_error)
                video_error = runner.describe_failure(OvsubError(video_error), job.dir, job.name)
            self._set(job, results=tuple(results), video_file=video_file, video_error=video_error)
        except JobCancelled:
            self._finish(job, "cancelled")
        except Exception as e:  # the worker must survive anything a job does
            if isinstance(e, (OvsubError, ValueError)):
                log.warning("web: job %s failed: %s", job.id, e)
            else:
                log.exception("web: job %s failed unexpectedly", job.id)
            self._finish(job, "failed", runner.describe_failure(e, job.dir, job.name))
        else:
            self._finish(job, "done")

    def _set(self, job: Job, save: bool = False, **changes: Any) -> None:
        with self._cond:
            if self._closed:  # shut down: the job is saved as queued, and stays so in memory too
                return
            for name, value in changes.items():
                setattr(job, name, value)
            if save:
                self._save(job)

    def _finish(self, job: Job, state: str, error: str | None = None) -> None:
        with self._cond:
            if self._closed:  # shut down meanwhile: the job was saved as queued (or cancelled) already
                gone = [job] if job.deleted else []
            else:
                if state == "done" and job.media and job.media.duration_s and job.work_started_at:
                    took = time.time() - job.work_started_at
                    pace = took / (job.media.duration_s * len(job.request.tasks))
                    self.speed += SPEED_WEIGHT * (pace - self.speed)
                self._end(job, state, error)
                self._save(job)
                # the listing never shows more than max_jobs finished jobs, not even for a moment
                gone = [job] if job.deleted else self._take_expired()
        _remove(gone)

    def _end(self, job: Job, state: str, error: str | None = None) -> None:
        """Put a job in a final state (the caller holds the lock, and saves it)."""
        job.state, job.stage, job.error, job.finished_at = state, state, error, time.time()
        if state == "done":
            job.progress = 1.0
        self._expiry.notify()  # one more job whose age limit the timer must watch

    # --- the store (the caller holds the lock) ---------------------------------------------------

    def _save(self, job: Job) -> None:
        """Write a job's record; nothing once closed (the state at close is what the next start finds)."""
        if not self._closed and not job.deleted:
            self._write(put=[job.to_record()])

    def _write(self, put: list[dict[str, Any]] | None = None, remove: list[str] | None = None) -> None:
        try:
            self._store.write(put or (), remove or ())
        except StoreError as e:  # the job goes on in memory; only a restart would lose this change
            log.warning("web: %s", e)

    def _shelve_running(self) -> None:
        """At close: running jobs go back to queued (or cancelled, if a client asked), saved in one go."""
        changed = []
        for job in self._jobs.values():
            if job.state != "running":
                continue
            if job.cancel.is_set():
                self._end(job, "cancelled")
            else:
                job.requeue()
                job.cancel.set()  # a worker that reaches a check stops; it saves nothing now
            changed.append(job.to_record())
        self._write(put=changed)

    def _recover(self) -> None:
        """Take up what an earlier server left: queue unfinished jobs again, remove what belongs to none."""
        _import_legacy(self.jobs_dir, self._store)
        changed, broken = [], []
        for record in self._store.records():
            job_id = str(record.get("id"))
            try:
                job = Job.from_record(record, self.jobs_dir / job_id)
            except (ValueError, KeyError, TypeError) as e:
                log.info("web: dropping job %s, whose record this version cannot use (%s)", job_id, e)
                broken.append(job_id)
                continue
            self._jobs[job.id] = job
            if job.state not in FINISHED:
                job.dir.mkdir(exist_ok=True)
                if job.media is not None and not (job.dir / job.media.file).is_file():
                    self._end(job, "failed", MEDIA_GONE)
                else:
                    log.info("web: queuing job %s (%s) again: the server stopped before it finished", job.id, job.name)
                    job.requeue()
                    self._pending.append(job.id)
                changed.append(job.to_record())
        self._write(put=changed, remove=broken)
        for path in sorted(self.jobs_dir.iterdir()):
            if path.name not in self._jobs:  # an upload cut off by the stop, or a job whose record went
                log.info("web: removing %s, which belongs to no job", path)
                _remove_path(path)
            elif removed := runner.remove_temporary(path):
                log.info("web: removed temporary files of job %s: %s", path.name, ", ".join(removed))


def _import_legacy(jobs_dir: Path, store: JobStore) -> None:
    """Move the job.json records of older versions into the store, then delete the files.

    A record this version cannot read is not imported; its folder, belonging to no job, is then removed.
    """
    files = sorted(jobs_dir.glob(f"*/{LEGACY_JOB_FILE}"))
    if not files:
        return
    known = {record.get("id") for record in store.records()}
    records = []
    for path in files:
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            Job.from_record(record, path.parent)
        except (OSError, ValueError, KeyError, TypeError) as e:
            log.info("web: not importing %s (%s)", path, e)
            continue
        if record["id"] not in known:
            records.append(record)
    store.write(put=records)
    log.info("web: moved %d job records from job.json files into %s", len(records), store.path)
    for path in files:
        path.unlink(missing_ok=True)


def _remove_path(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _remove(jobs: list[Job]) -> None:
    """Delete the folders of jobs already taken out of the queue."""
    for job in jobs:
        log.info("web: deleting job %s (%s)", job.id, job.name)
        shutil.rmtree(job.dir, ignore_errors=True)
