"""What one web job does, start to finish: fetch, check, then the CLI's own per-file pipeline.

Everything lands in the job's own folder under names chosen here (``media.mp4``, ``media.vtt``,
``media.en.vtt``, ``media.subtitled.mp4``); nothing a client sent ever becomes part of a path. The
work itself is ``pipeline.process``, as for the command line, so the web app and the command line make
the same subtitles from the same options.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from ovsub import download, pipeline
from ovsub.audio import media
from ovsub.audio.formats import CONTAINER_EXTENSIONS, CONTENT_TYPES, WEBM_AUDIO_CODECS, WEBM_VIDEO_CODECS
from ovsub.errors import NoAudioStreamError, OvsubError
from ovsub.options import JobOptions
from ovsub.writers import FORMATS

log = logging.getLogger("ovsub")

SUBTITLE_FORMATS = ("srt", "vtt", "ttml", "json")  # written for every task; the page plays the VTT
MEDIA_STEM = "media"  # the input's name on disk, whatever the client called it
UPLOAD_PART = "upload.part"  # where an upload is written while it arrives
DOWNLOAD_DIR = "download"  # where a link's download is staged until it is stored as the media
# Also temporary, and all hidden: an output being written (fsutil.atomic_path: ``.media.*.part.vtt``) and a
# writability probe (``.ovsub-write-check.*``). Nothing a job keeps has a name that starts with a dot.


class JobCancelled(Exception):
    """Raised from the progress callback when a job's cancel flag is set; never leaves the worker."""


@dataclass(frozen=True)
class MediaFile:
    """The input as stored in the job folder."""

    file: str  # its generated name in the job folder
    content_type: str  # what it is served as
    has_video: bool  # a picture track, so the page shows a <video> and a subtitled copy is made
    duration_s: float | None  # length, when known


@dataclass(frozen=True)
class TaskResult:
    """The subtitles one task made."""

    task: str  # transcribe or translate
    language: str | None  # language of the text (ISO 639-1)
    files: dict[str, str]  # format -> generated file name in the job folder
    cues: int  # how many cues


class Reporter:
    """How a running job tells its queue what it is doing; ``check`` raises JobCancelled when asked to stop."""

    def __init__(
        self, stage: Callable[[str], None], progress: Callable[[float], None], cancelled: Callable[[], bool]
    ) -> None:
        self.stage, self.progress, self._cancelled = stage, progress, cancelled

    def check(self) -> None:
        if self._cancelled():
            raise JobCancelled()


def store_media(path: Path, job_dir: Path) -> MediaFile:
    """Check that ``path`` is media with sound and move it to a generated name in ``job_dir``.

    Raises NotMediaError (or another MediaError) for what FFmpeg cannot read, and
    NoAudioStreamError for media without an audio track.
    """
    info = media.probe(path)
    if not info.audio_streams:
        what = "a video with no audio track" if info.has_video else "media with no audio track"
        raise NoAudioStreamError(f"this is {what}, so there is nothing to transcribe")
    ext = _extension(info)
    target = job_dir / f"{MEDIA_STEM}{ext}"
    path.replace(target)
    return MediaFile(target.name, CONTENT_TYPES.get(ext, "application/octet-stream"), info.has_video, info.duration_s)


def _extension(info: media.MediaInfo) -> str:
    ext = CONTAINER_EXTENSIONS.get(info.format, ".bin")
    if ext == ".mp4" and not info.has_video:
        return ".m4a"
    if ext == ".mkv":
        if info.has_video:
            return ".webm" if info.video_codec in WEBM_VIDEO_CODECS else ".mkv"
        return ".weba" if {s.codec for s in info.audio_streams} <= WEBM_AUDIO_CODECS else ".mka"
    return ext


def download_media(
    url: str, job_dir: Path, max_bytes: int, address_check: download.AddressCheck | None
) -> MediaFile:
    """Fetch a link into the job folder (yt-dlp, via download.fetch) and store it like an upload.

    The download stops as soon as it passes ``max_bytes``; ``address_check`` vets every connection.
    """
    staging = job_dir / DOWNLOAD_DIR
    try:
        fetched = download.fetch(
            url, cache_dir=staging, audio_only=False, max_bytes=max_bytes, address_check=address_check
        )
        return store_media(fetched, job_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def run(
    source: MediaFile, folder: Path, request: JobOptions, report: Reporter, label: str
) -> tuple[list[TaskResult], str | None, str | None]:
    """Make the job's subtitles (and, for a video, the video with them) in the job folder.

    The files name the input as ``label`` (what the client called it), never by its path on the server.

    Returns each task's result, the subtitled video's file name (None if there is none) and why there is
    none when one was due. Progress goes to ``report``; its ``check`` stops the work when cancelled.
    """

    def progress(p: pipeline.Progress) -> None:
        report.stage(p.stage)
        report.progress(p.fraction)
        report.check()

    output = replace(request.output, formats=SUBTITLE_FORMATS, output_dir=str(folder), embed=source.has_video)
    result = pipeline.process(str(folder / source.file), replace(request, output=output), progress, label=label)
    results = [
        TaskResult(s.task, s.language, {fmt: p.name for fmt, p in s.outputs.items()}, len(s.cues))
        for s in result.subtitles
    ]
    videos = [p.name for p in result.outputs if p.suffix not in {w.extension for w in FORMATS.values()}]
    return results, (videos[0] if videos else None), result.video_error


def remove_temporary(job_dir: Path) -> list[str]:
    """Delete what an interrupted request or job left half-made in ``job_dir``; the names removed."""
    removed = []
    for path in sorted(job_dir.iterdir()) if job_dir.is_dir() else []:
        if path.name in (UPLOAD_PART, DOWNLOAD_DIR) or path.name.startswith("."):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed.append(path.name)
    return removed


def describe_failure(error: BaseException, job_dir: Path, name: str) -> str:
    """A message for the client: the error's own words, with the server's paths replaced by the file's name."""
    if isinstance(error, (OvsubError, ValueError)):
        text = str(error)
    else:
        text = f"internal error ({type(error).__name__}); the server log has the details"
    for path in sorted((str(p) for p in job_dir.glob("**/*")), key=len, reverse=True):
        text = text.replace(path, name)
    return text.replace(str(job_dir), "the job folder")
