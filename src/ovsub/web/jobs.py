"""Jobs: a bounded queue, a few worker threads, and each job's state kept on disk.

Why threads and not processes: the heavy work is native code (OpenVINO, FFmpeg) that runs without
the GIL, and all jobs that use the same model share the one pipeline ``whisper.load`` keeps per
process and settings. Its decode lock makes such jobs take turns on the model, so a second worker
adds one job's audio and cues to memory, not a second model; it still overlaps decoding audio,
voice detection and muxing of one job with inference of another.

Each job has a folder ``<data_dir>/jobs/<id>/`` holding the media, the subtitle files, the
subtitled video and ``job.json`` (its state, rewritten atomically at every change of stage), so
finished jobs survive a restart. Jobs that were queued or running when the server stopped are
marked failed when it starts again. Finished jobs beyond ``max_jobs``, or older than
``max_age_s``, are deleted with their folders: at start, whenever a job is queued or ends, and
hourly while the server is idle.

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
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from ovsub.errors import OvsubError
from ovsub.fsutil import write_text_atomic
from ovsub.options import JobOptions, from_dict, to_dict
from ovsub.web import runner
from ovsub.web.runner import JobCancelled, MediaFile, Reporter, TaskResult
from ovsub.web.security import address_check
from ovsub.web.settings import WebSettings

log = logging.getLogger("ovsub")

JOB_FILE = "job.json"  # a job's state, in its folder
RECORD_VERSION = 2  # bump when job.json changes shape; older records are then dropped
ID_BYTES = 8  # random bytes in a job id (16 hex characters)
FINISHED = frozenset({"done", "failed", "cancelled"})  # states a job never leaves
DEFAULT_SPEED = 0.5  # wall seconds per second of media per task, assumed until a job has finished
SPEED_WEIGHT = 0.3  # how far each finished job moves the speed estimate towards its own
ETA_MIN_PROGRESS = 0.05  # below this, a job's ETA comes from past speed, not its own pace yet
STRAY_AGE_S = 3600.0  # a folder with no job record this old is an upload that never finished; removed
PRUNE_INTERVAL_S = 3600.0  # an idle server still deletes jobs that grew too old, this often
CLOSE_TIMEOUT_S = 10.0  # how long shutting down waits for running jobs to notice they were cancelled


class QueueFull(Exception):
    """No room for another waiting job."""


class JobNotFound(KeyError):
    """No job with this id (never was, or deleted)."""


class JobFinished(Exception):
    """The job has already ended, so it cannot be cancelled."""


@dataclass
class Job:
    """One request to subtitle one input. Mutable: JobQueue changes it under its lock, readers get copies."""

    id: str  # random hex, also the folder name
    dir: Path  # the job's folder
    name: str  # the client's file name (or the link's last part), for display and download names only
    request: JobOptions  # what was asked for
    url: str | None = None  # the link, for jobs made from one
    media: MediaFile | None = None  # the input in the folder (set at once for uploads, after download for links)
    state: str = "queued"  # queued, running, done, failed or cancelled
    stage: str = "queued"  # what it is doing: downloading, transcribing, translating, embedding, ...
    progress: float = 0.0  # 0..1
    error: str | None = None  # why it failed, for the client
    results: tuple[TaskResult, ...] = ()  # one per task, once done
    video_file: str | None = None  # the subtitled video's name in the folder, for video inputs
    video_error: str | None = None  # why there is no subtitled video, if there is none
    created_at: float = field(default_factory=time.time)  # Unix time
    started_at: float | None = None  # when a worker took it
    work_started_at: float | None = None  # when transcription began (after any download)
    finished_at: float | None = None  # when it ended, whichever way
    cancel: threading.Event = field(default_factory=threading.Event, repr=False)  # set to stop it
    deleted: bool = False  # removed by a client while running; its folder goes when it stops

    def to_record(self) -> dict[str, Any]:
        return {
            "version": RECORD_VERSION,
            "id": self.id,
            "name": self.name,
            "url": self.url,
            "request": to_dict(self.request),
            "media": asdict(self.media) if self.media else None,
            "state": self.state,
            "stage": self.stage,
            "progress": self.progress,
            "error": self.error,
            "results": [asdict(r) for r in self.results],
            "video_file": self.video_file,
            "video_error": self.video_error,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "work_started_at": self.work_started_at,
            "finished_at": self.finished_at,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any], folder: Path) -> Job:
        if record.get("version") != RECORD_VERSION or record.get("id") != folder.name:
            raise ValueError("not a job record of this version for this folder")
        request = record["request"]
        return cls(
            id=record["id"],
            dir=folder,
            name=record["name"],
            request=from_dict(JobOptions, request),
            url=record.get("url"),
            media=MediaFile(**record["media"]) if record.get("media") else None,
            state=record["state"],
            stage=record["stage"],
            progress=float(record["progress"]),
            error=record.get("error"),
            results=tuple(TaskResult(**r) for r in record.get("results", [])),
            video_file=record.get("video_file"),
            video_error=record.get("video_error"),
            created_at=float(record["created_at"]),
            started_at=record.get("started_at"),
            work_started_at=record.get("work_started_at"),
            finished_at=record.get("finished_at"),
        )


def eta_s(job: Job, speed: float, now: float | None = None) -> float | None:
    """Seconds until a running job is likely done: its own pace once it has some, else past jobs' speed."""
    if job.state != "running" or job.work_started_at is None:
        return None
    now = time.time() if now is None else now
    elapsed = max(0.0, now - job.work_started_at)
    if job.progress >= ETA_MIN_PROGRESS:
        return elapsed * (1.0 - job.progress) / job.progress
    if job.media is not None and job.media.duration_s:
        return max(1.0, job.media.duration_s * len(job.request.tasks) * speed - elapsed)
    return None


class JobQueue:
    """Jobs by id, the queue of those waiting, and the worker threads that run them."""

    def __init__(self, settings: WebSettings, data_dir: Path) -> None:
        self.settings = settings
        self.jobs_dir = data_dir / "jobs"
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        self.speed = DEFAULT_SPEED  # wall seconds per media second per task, learned from finished jobs
        # every connection a link's download makes is vetted, unless private addresses are allowed anyway
        self._address_check = None if settings.allow_private_urls else address_check(settings.private_networks())
        self._cond = threading.Condition()
        self._jobs: dict[str, Job] = {}
        self._pending: deque[str] = deque()
        self._closed = False
        self._load()
        self.prune()
        self._threads = [
            threading.Thread(target=self._work, name=f"ovsub-web-{n}", daemon=True) for n in range(settings.workers)
        ]
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
            snapshot = replace(job)
        self.prune()
        return snapshot

    def get(self, job_id: str) -> Job:
        """A copy of the job (safe to read while it runs)."""
        with self._cond:
            job = self._jobs.get(job_id)
            if job is None:
                raise JobNotFound(job_id)
            return replace(job)

    def all(self) -> list[Job]:
        """Copies of every job, newest first."""
        with self._cond:
            return sorted((replace(j) for j in self._jobs.values()), key=lambda j: j.created_at, reverse=True)

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
            job = self._jobs.get(job_id)
            if job is None:
                raise JobNotFound(job_id)
            if job.state in FINISHED:
                raise JobFinished(job.state)
            job.cancel.set()
            if job.state == "queued":
                self._pending.remove(job_id)
                self._end(job, "cancelled")
            return replace(job)

    def delete(self, job_id: str) -> None:
        """Forget a job and remove its folder (once it has stopped, if it is running)."""
        with self._cond:
            job = self._jobs.pop(job_id, None)
            if job is None:
                raise JobNotFound(job_id)
            job.deleted = True
            job.cancel.set()
            if job.state == "queued":
                self._pending.remove(job_id)
            running = job.state == "running"
        if not running:
            shutil.rmtree(job.dir, ignore_errors=True)

    def prune(self) -> None:
        """Delete finished jobs older than max_age_s, then the oldest beyond max_jobs."""
        with self._cond:
            expired = self._take_expired()
        _remove(expired)

    def _take_expired(self) -> list[Job]:
        """Forget the jobs prune() deletes and return them (caller holds the lock, then removes their folders)."""
        now = time.time()
        finished = sorted(
            (j for j in self._jobs.values() if j.state in FINISHED),
            key=lambda j: j.finished_at or j.created_at,
            reverse=True,
        )
        expired = [
            j
            for n, j in enumerate(finished)
            if n >= self.settings.max_jobs or now - (j.finished_at or j.created_at) > self.settings.max_age_s
        ]
        for job in expired:
            del self._jobs[job.id]
        return expired

    def close(self, timeout_s: float = CLOSE_TIMEOUT_S) -> None:
        """Stop taking jobs, cancel running ones and wait (a while) for the workers to end."""
        with self._cond:
            self._closed = True
            for job in self._jobs.values():
                if job.state == "running":
                    job.cancel.set()
            self._cond.notify_all()
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    # --- workers ---------------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            job = None
            with self._cond:
                while not self._pending and not self._closed:
                    if not self._cond.wait(timeout=PRUNE_INTERVAL_S):
                        break  # idle for a while: time to look for old jobs
                if self._closed:
                    return
                if self._pending:
                    job = self._jobs[self._pending.popleft()]
                    job.state, job.stage, job.started_at = "running", "starting", time.time()
                    self._save(job)
            if job is None:
                self.prune()
            else:
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
                self._set(job, media=media)
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
            for name, value in changes.items():
                setattr(job, name, value)
            if save and not job.deleted:
                self._save(job)

    def _finish(self, job: Job, state: str, error: str | None = None) -> None:
        with self._cond:
            if state == "done" and job.media and job.media.duration_s and job.work_started_at:
                took = time.time() - job.work_started_at
                pace = took / (job.media.duration_s * len(job.request.tasks))
                self.speed += SPEED_WEIGHT * (pace - self.speed)
            self._end(job, state, error)
            # the listing never shows more than max_jobs finished jobs, not even for a moment
            gone = [job] if job.deleted else self._take_expired()
        _remove(gone)

    def _end(self, job: Job, state: str, error: str | None = None) -> None:
        """Put a job in a final state (caller holds the lock)."""
        job.state, job.stage, job.error, job.finished_at = state, state, error, time.time()
        if state == "done":
            job.progress = 1.0
        if not job.deleted:
            self._save(job)

    # --- disk ------------------------------------------------------------------------------------

    def _save(self, job: Job) -> None:
        try:
            write_text_atomic(job.dir / JOB_FILE, json.dumps(job.to_record(), ensure_ascii=False, indent=1))
        except OvsubError as e:  # the job goes on in memory; only a restart would lose it
            log.warning("web: cannot save job %s: %s", job.id, e)

    def _load(self) -> None:
        """Read the jobs an earlier server left; unfinished ones are marked failed, stray folders removed."""
        now = time.time()
        for folder in sorted(p for p in self.jobs_dir.iterdir() if p.is_dir()):
            try:
                job = Job.from_record(json.loads((folder / JOB_FILE).read_text(encoding="utf-8")), folder)
            except (OSError, ValueError, KeyError, TypeError) as e:
                if now - folder.stat().st_mtime > STRAY_AGE_S:
                    log.info("web: removing %s, which holds no usable job (%s)", folder, e)
                    shutil.rmtree(folder, ignore_errors=True)
                continue
            if job.state not in FINISHED:
                self._end(job, "failed", "the server stopped before this job finished; please submit it again")
            self._jobs[job.id] = job


def _remove(jobs: list[Job]) -> None:
    """Delete the folders of jobs already taken out of the queue."""
    for job in jobs:
        log.info("web: deleting job %s (%s)", job.id, job.name)
        shutil.rmtree(job.dir, ignore_errors=True)
