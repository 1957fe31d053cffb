"""What one web job does, start to finish: fetch, check, transcribe and/or translate, write, embed.

Everything lands in the job's own folder under names chosen here (``media.mp4``,
``media.transcribe.vtt``, ``subtitled.mp4``); nothing a client sent ever becomes part of a path.
The same pipeline as the CLI does the work (``pipeline.make_subtitles``), so the web app and the
command line make the same subtitles from the same options.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from ovsub import download, media, mux, pipeline
from ovsub.download import CONTAINER_EXTENSIONS
from ovsub.errors import NoAudioStreamError, OvsubError
from ovsub.options import CueOptions, ModelOptions, TranscribeOptions

log = logging.getLogger("ovsub")

SUBTITLE_FORMATS = ("srt", "vtt", "json")  # written for every task; the page plays the VTT
MEDIA_STEM = "media"  # the input's name on disk, whatever the client called it
WEBM_VIDEO_CODECS = frozenset({"vp8", "vp9", "av1"})  # a Matroska file with these is served as WebM
CONTENT_TYPES = {  # extension -> Content-Type a browser plays it as
    ".mp4": "video/mp4", ".m4a": "audio/mp4", ".webm": "video/webm", ".weba": "audio/webm",
    ".mkv": "video/x-matroska", ".mka": "audio/x-matroska", ".flac": "audio/flac", ".mp3": "audio/mpeg",
    ".wav": "audio/wav", ".ogg": "audio/ogg", ".aac": "audio/aac", ".avi": "video/x-msvideo",
    ".ts": "video/mp2t", ".wmv": "video/x-ms-wmv", ".mpg": "video/mpeg", ".aiff": "audio/aiff",
    ".flv": "video/x-flv",
}  # fmt: skip
TRANSCRIBE_SHARE = 0.95  # of a video job's progress; embedding the tracks is the rest


class JobCancelled(Exception):
    """Raised from the progress callback when a job's cancel flag is set; never leaves the worker."""


@dataclass(frozen=True)
class JobRequest:
    """What a client asked for, as ovsub's own option objects."""

    tasks: tuple[str, ...]  # ("transcribe",), ("translate",) or both, in that order
    transcribe: TranscribeOptions  # decoding options (its task is replaced per task)
    model: ModelOptions  # which model, at which precision
    cues: CueOptions  # line and reading-speed limits


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
        return ".weba" if {s.codec for s in info.audio_streams} <= {"opus", "vorbis"} else ".mka"
    return ext


def download_media(
    url: str, job_dir: Path, max_bytes: int, address_check: download.AddressCheck | None
) -> MediaFile:
    """Fetch a link into the job folder (yt-dlp, via download.fetch) and store it like an upload.

    The download stops as soon as it passes ``max_bytes``; ``address_check`` vets every connection.
    """
    staging = job_dir / "download"
    try:
        fetched = download.fetch(
            url, cache_dir=staging, audio_only=False, max_bytes=max_bytes, address_check=address_check
        )
        return store_media(fetched, job_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def transcribe_all(
    source: Path, request: JobRequest, report: Reporter, share: float, label: str
) -> list[TaskResult]:
    """Run each task on the stored media and write its subtitle files; progress goes from 0 to ``share``.

    The files name the input as ``label`` (what the client called it), never by its path on the server.
    """
    results: list[TaskResult] = []
    options = request.transcribe
    for i, task in enumerate(request.tasks):
        report.check()
        report.stage("translating" if task == "translate" else "transcribing")

        def progress(done_s: float, total_s: float, i: int = i) -> None:
            fraction = min(1.0, done_s / total_s) if total_s > 0 else 1.0
            report.progress(share * (i + fraction) / len(request.tasks))
            report.check()

        task_options = replace(options, task=task)
        subs = pipeline.make_subtitles(str(source), task_options, request.model, request.cues, progress=progress)
        subs = without_server_paths(subs, label)
        if options.language is None and subs.info.language:
            # translate what was heard in the language transcription detected, without detecting again
            options = replace(options, language=subs.info.language)
        written = pipeline.write_outputs(subs, str(source), SUBTITLE_FORMATS, source.parent, task)
        results.append(TaskResult(task, subs.language, {fmt: p.name for fmt, p in written.items()}, len(subs.cues)))
    return results


def without_server_paths(subs: pipeline.Subtitles, label: str) -> pipeline.Subtitles:
    """The result as a client may see it: the input named ``label``, and no model cache folder in the options."""
    options = dict(subs.info.options)
    if isinstance(options.get("model"), dict):
        options["model"] = {**options["model"], "cache_dir": None}  # the server's choice, and one of its paths
    return replace(subs, info=replace(subs.info, source=label, options=options))


def embed_tracks(source: Path, results: list[TaskResult]) -> Path | None:
    """The video again with every task's subtitles as soft tracks, or None when no task found speech."""
    tracks: list[mux.SubtitleTrack] = []
    for result in results:
        if not result.cues:
            continue
        language = result.language or "und"
        kind = "translation" if result.task == "translate" else "transcription"
        title = f"{mux.language_name(language)} ({kind})" if result.language else kind
        srt = source.parent / result.files["srt"]
        tracks.append(mux.SubtitleTrack(path=srt, language=language, title=title, default=not tracks))
    if not tracks:
        return None
    ext = source.suffix if source.suffix in (".mp4", ".webm", ".mkv") else ".mkv"
    return mux.embed(source, tracks, source.parent / f"subtitled{ext}")


def describe_failure(error: BaseException, job_dir: Path, name: str) -> str:
    """A message for the client: the error's own words, with the server's paths replaced by the file's name."""
    if isinstance(error, (OvsubError, ValueError)):
        text = str(error)
    else:
        text = f"internal error ({type(error).__name__}); the server log has the details"
    for path in sorted((str(p) for p in job_dir.glob("**/*")), key=len, reverse=True):
        text = text.replace(path, name)
    return text.replace(str(job_dir), "the job folder")
