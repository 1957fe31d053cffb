"""A web job as plain data: what was asked, where it stands, what it made; and its record, as the store keeps it."""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ovsub.options import JobOptions, from_dict, to_dict
from ovsub.web.runner import MediaFile, TaskResult

RECORD_VERSION = 2  # bump when a job record changes shape; older records are then dropped
FINISHED = frozenset({"done", "failed", "cancelled"})  # states a job never leaves
ETA_MIN_PROGRESS = 0.05  # below this, a job's ETA comes from past speed, not its own pace yet


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

    def requeue(self) -> None:
        """Make an unfinished job wait again, as if just submitted (its media, if stored, is kept)."""
        self.state = self.stage = "queued"
        self.progress, self.error, self.results = 0.0, None, ()
        self.video_file = self.video_error = None
        self.started_at = self.work_started_at = self.finished_at = None

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
