"""One input from start to finish: every audio track, every task, every output, the subtitled video.

The command line, ``ovsub batch`` and the web app all call :func:`process`, so they make the same files
from the same options and cannot drift apart:

    check the output folder -> fetch a link -> check the output files
      -> for each audio track: for each task: transcribe() -> build_cues() -> write each format
                               (the file read block by block; per channel when channels are split)
      -> embed the tracks / burn the first into the video

Nothing is decoded before every output location is known to take its file: a bad folder fails in a
second, not after an hour's work.

Memory: each task reads the file again, block by block (``transcription.streaming``), rather than keeping the
decoded audio for the second task: a second decode and voice activity pass cost a few percent of the
transcription, while holding the audio made memory grow with the file. Both tasks still decode the same windows
(the same audio gives the same voice activity and the same blocks), each window's language found by its own
decode. With channels split, the track is decoded whole once, a row per channel, and planned once for both
tasks (one voice activity pass, the same windows): memory then grows with the file.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ovsub import cues, languages, writers
from ovsub.audio import media
from ovsub.download import is_url
from ovsub.errors import OvsubError
from ovsub.options import CueOptions, JobOptions, ModelOptions, TranscribeOptions, to_dict
from ovsub.transcription import SegmentStream, channels, load_model, transcribe
from ovsub.transcription.planning import Plan
from ovsub.transcription.planning import plan as make_plan
from ovsub.types import Cue, Segment, TranscriptInfo
from ovsub.whisper import Transcriber
from ovsub.whisper.features import SAMPLE_RATE

log = logging.getLogger("ovsub")

EMBED_SHARE = 0.05  # of a file's progress, when a video is written too


@dataclass(frozen=True)
class Progress:
    """Where the work on one input stands."""

    stage: str  # downloading, transcribing, translating, embedding, burning
    done_s: float  # seconds of media this stage has done
    total_s: float  # seconds of media this stage has in all
    fraction: float  # of the whole input's work, 0..1


ProgressFn = Callable[[Progress], None]


@dataclass(frozen=True)
class Subtitles:
    """A finished transcription of one audio track for one task, ready to write or embed."""

    info: TranscriptInfo
    segments: tuple[Segment, ...]
    cues: tuple[Cue, ...]
    task: str  # transcribe or translate
    track: int | str | None = None  # the audio track it came from
    outputs: dict[str, Path] = field(default_factory=dict)  # format -> file written

    @property
    def language(self) -> str | None:
        """Language of the subtitles' text (English after translation)."""
        return "en" if self.task == "translate" else self.info.language


@dataclass(frozen=True)
class FileResult:
    """What :func:`process` made of one input."""

    source: str  # the input as named
    subtitles: tuple[Subtitles, ...]  # one per audio track and task
    outputs: tuple[Path, ...]  # every file written, subtitles first
    video_error: str | None = None  # why a requested video could not be written (the subtitles are fine)


def make_subtitles(
    source: str,
    options: TranscribeOptions,
    cue_options: CueOptions,
    transcriber: Transcriber,
    *,
    audio: np.ndarray | None = None,
    stream: int | str | None = None,
    plan: Plan | Sequence[Plan] | None = None,
    progress: Callable[[float], None] | None = None,
    label: str | None = None,
    model: ModelOptions | None = None,
) -> Subtitles:
    """Transcribe ``source`` (or its decoded ``audio``, by an earlier ``plan`` per channel) completely and build
    its cues.

    ``progress`` is told the media time (s) up to which the audio is decoded, after each batch of windows.
    ``label`` names the input in the result instead of its path (a server's path is nobody else's
    business); the model's cache folder is then left out of the echoed options too. ``model`` is what
    ``transcriber`` was loaded from, for the info and the JSON (the default model's options if not given).
    """
    segment_iter, info = transcribe(
        source, options, model, transcriber=transcriber, audio=audio, stream=stream, plan=plan, progress=progress
    )
    segments = list(segment_iter)
    if isinstance(segment_iter, SegmentStream):  # read block by block: its length and speech are known now
        info = segment_iter.completed(info)
    language = "en" if options.task == "translate" else info.language
    built = cues.build_cues(segments, cue_options, language)
    echoed = {**info.options, "cues": to_dict(cue_options)}  # so JSON says how cues were made
    if label is not None:
        echoed["model"] = {**echoed["model"], "cache_dir": None}
        info = replace(info, source=label)
    info = replace(info, options=echoed)
    return Subtitles(info, tuple(segments), tuple(built), options.task, stream)


def process(
    source: str,
    job: JobOptions,
    progress: ProgressFn | None = None,
    *,
    transcriber: Transcriber | None = None,
    label: str | None = None,
) -> FileResult:
    """Make every output ``job`` asks for from ``source`` (a file or a link); see the module docstring.

    Raises OvsubError for a problem with the input or its outputs (nothing half-written is left); a
    failure to write the extra video is reported in ``FileResult.video_error`` instead, since the
    subtitles were made. ``label``: see :func:`make_subtitles`.
    """
    report = progress or (lambda p: None)
    out_dir = _output_dir(source, job)
    check_output_dir(out_dir)
    local = _fetch(source, job, report)
    tracks: Sequence[int | str | None] = [job.audio_track]
    if job.all_audio_tracks:
        tracks = list(range(len(media.probe(local).audio_streams))) or [None]
    check_output_files(planned_outputs(source, local, job, out_dir, tracks))  # still before any decoding
    transcriber = transcriber or load_model(job.model, job.transcribe.word_timestamps)
    done: list[Subtitles] = []
    written: list[Path] = []
    steps = len(tracks) * len(job.tasks)
    video_share = EMBED_SHARE if job.output.embed or job.output.burn else 0.0
    for track in tracks:
        audio, planned, total_s = _track_audio(local, track, job, transcriber)
        for task in job.tasks:
            step = len(done)
            stage = _stage(task)

            def on_decoded(done_s: float, total_s: float = total_s, step: int = step, stage: str = stage) -> None:
                share = (step + (min(done_s / total_s, 1.0) if total_s > 0 else 1.0)) / steps
                report(Progress(stage, done_s, total_s, share * (1 - video_share)))

            on_decoded(0.0)
            options = replace(job.transcribe, task=task)
            subs = make_subtitles(
                local, options, job.cues, transcriber, audio=audio, stream=track, plan=planned, progress=on_decoded,
                label=label, model=job.model,
            )
            on_decoded(subs.info.duration_s if total_s <= 0 else total_s)  # the silence after the last speech
            written.extend(write_outputs(subs, source, job, out_dir))
            done.append(subs)
        del audio, planned
    video_error = None
    if video_share:
        try:
            written.extend(_video_outputs(local, source, done, job, out_dir, report))
        except OvsubError as e:
            video_error = str(e)
    return FileResult(source, tuple(done), tuple(written), video_error)


def _track_audio(
    local: str, track: int | str | None, job: JobOptions, transcriber: Transcriber
) -> tuple[np.ndarray | None, list[Plan] | None, float]:
    """What a track is transcribed from: nothing (each task reads the file again, block by block, so memory
    stays flat), or with channels split the whole track decoded, a row per channel, and one plan per channel
    for every task; and its length for progress (0 when the file does not say)."""
    if job.transcribe.channels != "split":
        info = media.probe(local)
        chosen = media.select_audio_stream(info, track)
        length_s = chosen.start_s + chosen.duration_s if chosen.duration_s is not None else info.duration_s
        return None, None, length_s or 0.0
    audio = channels.load(local, track, job.transcribe.channels)  # the mix (a mono track), or a row per channel
    # One plan per channel for every task: one voice activity pass, the same windows.
    planned = [make_plan(part, job.transcribe, transcriber) for part in channels.rows(audio)]
    return audio, planned, channels.duration_s(audio, SAMPLE_RATE)


def _stage(task: str) -> str:
    return "translating" if task == "translate" else "transcribing"


def output_name(source: str, extension: str, tag: str | None = None) -> str:
    """The file name an output gets: the input's name with ``extension`` (and a tag before it).

    >>> output_name("talks/day1.mp4", ".srt"), output_name("https://example.org/a/talk.mp4?x=1", ".vtt", "en")
    ('day1.srt', 'talk.en.vtt')
    """
    stem = (Path(source.split("?", 1)[0].rstrip("/")).stem or "download") if is_url(source) else Path(source).stem
    return f"{stem}.{tag}{extension}" if tag else f"{stem}{extension}"


def _tag(track: int | str | None, task: str, job: JobOptions) -> str | None:
    """What tells one input's outputs apart: the track when every track is done, "en" for a second task."""
    parts = [f"track{track}"] if job.all_audio_tracks else []
    if task == "translate" and len(job.tasks) > 1:
        parts.append("en")
    return ".".join(parts) or None


def _subtitle_path(source: str, fmt: str, track: int | str | None, task: str, job: JobOptions, out_dir: Path) -> Path:
    return out_dir / output_name(source, writers.get_writer(fmt).extension, _tag(track, task, job))


def _video_paths(local: str, source: str, job: JobOptions, out_dir: Path) -> dict[str, Path]:
    """Where the subtitled video goes (``embed``) and the one with subtitles drawn on it (``burn``), if asked for."""
    if not (job.output.embed or job.output.burn):
        return {}
    from ovsub.video import BURN_SUFFIXES, EMBED_SUFFIXES

    suffix = Path(local).suffix.lower()
    paths = {}
    if job.output.embed:
        paths["embed"] = out_dir / output_name(source, suffix if suffix in EMBED_SUFFIXES else ".mkv", "subtitled")
    if job.output.burn:
        paths["burn"] = out_dir / output_name(source, suffix if suffix in BURN_SUFFIXES else ".mp4", "burned")
    return paths


def planned_outputs(
    source: str, local: str, job: JobOptions, out_dir: Path, tracks: Sequence[int | str | None]
) -> list[Path]:
    """Every file :func:`process` will write for ``source`` (``local``: the file it reads), known before decoding."""
    subtitles = [
        _subtitle_path(source, fmt, track, task, job, out_dir)
        for track in tracks
        for task in job.tasks
        for fmt in job.output.formats
    ]
    return subtitles + list(_video_paths(local, source, job, out_dir).values())


def write_outputs(subs: Subtitles, source: str, job: JobOptions, out_dir: Path) -> list[Path]:
    """Write every format of ``job`` atomically; return the paths (also kept in ``subs.outputs``)."""
    written = []
    for fmt in job.output.formats:
        path = _subtitle_path(source, fmt, subs.track, subs.task, job, out_dir)
        writers.save(fmt, path, subs.cues, subs.segments, subs.info, karaoke=job.output.karaoke)
        subs.outputs[fmt] = path
        written.append(path)
    return written


def _output_dir(source: str, job: JobOptions) -> Path:
    """Where an input's outputs go: the chosen folder, else next to a local input, else the current folder."""
    if job.output.output_dir:
        return Path(job.output.output_dir)
    return Path.cwd() if is_url(source) else Path(source).parent


def check_output_dir(folder: Path) -> None:
    """Make sure outputs can be written into ``folder`` before any decoding (creating it if needed)."""
    from ovsub.fsutil import check_writable_dir

    check_writable_dir(folder)


def check_output_files(paths: Sequence[Path]) -> None:
    """Make sure nothing stands where an output goes (a folder named like it), before any decoding."""
    from ovsub import fsutil

    fsutil.check_output_files(paths)


def _fetch(source: str, job: JobOptions, report: ProgressFn) -> str:
    """A local file for ``source``: itself, or a link's download (with its video when a video is written)."""
    if not is_url(source):
        return source
    from ovsub import download

    report(Progress("downloading", 0.0, 0.0, 0.0))
    return str(download.fetch(source, audio_only=not (job.output.embed or job.output.burn)))


def _video_outputs(
    video: str, source: str, done: Sequence[Subtitles], job: JobOptions, out_dir: Path, report: ProgressFn
) -> list[Path]:
    """The video again with soft subtitle tracks (embed) and/or the first subtitles drawn on it (burn)."""
    from ovsub import video as video_out

    if not media.probe(video).has_video:
        raise OvsubError(f"{source}: has no video track, so there is no video to add subtitles to")
    speaking = [subs for subs in done if subs.cues]  # an empty track helps nobody
    if not speaking:
        raise OvsubError(f"{source}: no speech was found, so there are no subtitles to add to the video")
    written = []
    paths = _video_paths(video, source, job, out_dir)
    with tempfile.TemporaryDirectory(prefix="ovsub-tracks-") as scratch:
        tracks = []
        for i, subs in enumerate(speaking):
            srt = subs.outputs.get("srt") or writers.save("srt", Path(scratch) / f"{i}.srt", subs.cues)
            title = languages.track_title(subs.language, subs.task)
            tracks.append(video_out.SubtitleTrack(srt, subs.language or "und", title, default=i == 0))
        if "embed" in paths:
            report(Progress("embedding", 0.0, 0.0, 1 - EMBED_SHARE))
            written.append(video_out.embed(Path(video), tracks, paths["embed"]))
        if "burn" in paths:
            report(Progress("burning", 0.0, 0.0, 1 - EMBED_SHARE / 2))
            written.append(video_out.burn(Path(video), tracks[0].path, paths["burn"], language=tracks[0].language))
    return written


__all__ = ["FileResult", "Progress", "Subtitles", "make_subtitles", "output_name", "process", "write_outputs"]
