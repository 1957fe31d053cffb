"""Soft subtitle tracks: add subtitle files to a copy of a video, streams copied, each track tagged."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ovsub.audio.formats import WEBM_AUDIO_CODECS, WEBM_VIDEO_CODECS
from ovsub.audio.streams import StreamInfo, probe
from ovsub.errors import InputNotFoundError, OutputError
from ovsub.fsutil import atomic_path
from ovsub.languages import iso639_2, language_name
from ovsub.video.ffmpeg import ff_path, run_ffmpeg

log = logging.getLogger("ovsub")

SUBTITLE_SUFFIXES = (".srt", ".ass", ".ssa", ".vtt")  # subtitle files embed() and burn() accept

# --- containers --------------------------------------------------------------------------------

MP4_LIKE = (".mp4", ".m4v", ".mov")
MATROSKA = (".mkv",)
WEBM = (".webm",)
EMBED_SUFFIXES = MP4_LIKE + MATROSKA + WEBM  # containers embed() writes
BURN_SUFFIXES = MP4_LIKE + MATROSKA  # containers that take H.264 (WebM does not)

TEXT_SUBTITLE_CODECS = frozenset({"subrip", "srt", "ass", "ssa", "webvtt", "mov_text", "text"})
# subtitle codecs each container can hold as they are (anything else textual is converted)
KEEP_AS_IS = {
    "mp4": frozenset({"mov_text"}),
    "mkv": frozenset({"subrip", "srt", "ass", "ssa", "webvtt", "hdmv_pgs_subtitle", "dvd_subtitle", "dvb_subtitle"}),
    "webm": frozenset({"webvtt"}),
}
# encoder used for a subtitle that must be converted, by container family
TEXT_ENCODER = {"mp4": "mov_text", "mkv": "srt", "webm": "webvtt"}
MP4_AUDIO = frozenset({"aac", "mp3", "ac3", "eac3", "alac", "opus", "flac"})  # audio an MP4 can carry as is


def _family(path: Path) -> str:
    ext = path.suffix.lower()
    if ext in MP4_LIKE:
        return "mp4"
    if ext in MATROSKA:
        return "mkv"
    if ext in WEBM:
        return "webm"
    raise OutputError(
        f"{path}: cannot write {ext or 'a file without extension'}; use one of {', '.join(EMBED_SUFFIXES)}"
    )


@dataclass(frozen=True)
class SubtitleTrack:
    """One subtitle file to add to a video as a switchable track."""

    path: Path  # an .srt, .ass/.ssa or .vtt file (UTF-8)
    language: str  # ISO 639-1 code of the text ('en'); stored in the container as ISO 639-2 ('eng')
    title: str | None = None  # the name players show, e.g. "English (translation)"; None uses the language name
    default: bool = False  # players show this track unless told otherwise; if no track says so, the first does

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))
        if self.path.suffix.lower() not in SUBTITLE_SUFFIXES:
            kinds = ", ".join(SUBTITLE_SUFFIXES)
            raise ValueError(f"a subtitle track must be one of {kinds} files, not {self.path.name!r}")
        iso639_2(self.language)  # validates

    @property
    def display_title(self) -> str:
        return self.title if self.title else language_name(self.language)


# --- embed -------------------------------------------------------------------------------------


def default_output(video: str | os.PathLike[str], suffix: str = "subtitled", ext: str | None = None) -> Path:
    """Where a subtitled copy goes by default: next to the input, a word before the extension.

    >>> default_output("talks/talk.mp4").as_posix()
    'talks/talk.subtitled.mp4'
    >>> default_output("clip.webm", suffix="burned", ext=".mp4").as_posix()
    'clip.burned.mp4'
    """
    video = Path(video)
    extension = ext if ext is not None else video.suffix
    if extension and not extension.startswith("."):
        extension = "." + extension
    return video.with_name(f"{video.stem}.{suffix}{extension}")


def check_not_input(video: Path, output: Path) -> None:
    same = output.resolve() == video.resolve()
    if not same and output.exists():
        with contextlib.suppress(OSError):
            same = os.path.samefile(video, output)
    if same:
        raise OutputError(
            f"{output}: this is the input video; ovsub never overwrites its input. "
            f"Choose another output path, e.g. {default_output(video)}"
        )


def embed(
    video_path: str | os.PathLike[str],
    tracks: Sequence[SubtitleTrack],
    output_path: str | os.PathLike[str] | None = None,
) -> Path:
    """Write a copy of ``video_path`` with ``tracks`` added as soft subtitle tracks; return its path.

    Video and audio are copied bit for bit, as are existing subtitles the output container can hold
    (text subtitles are converted to its subtitle format; picture subtitles that an MP4 or WebM
    cannot hold are dropped with a warning). Subtitle format by container: mov_text for
    .mp4/.m4v/.mov, SubRip or ASS for .mkv, WebVTT for .webm. Each new track is tagged with its
    language (ISO 639-2) and title; one is marked default (the first, unless a track says so), and
    existing subtitle tracks lose their default flag. The output is written atomically; the input
    is never modified. ``output_path`` defaults to ``default_output(video_path)``.
    """
    video = Path(video_path)
    output = Path(output_path) if output_path is not None else default_output(video)
    if not tracks:
        raise ValueError("embed needs at least one subtitle track")
    family = _family(output)
    check_not_input(video, output)
    for track in tracks:
        check_subtitle_file(track.path)
    streams = probe(video).streams
    if family == "webm":
        _check_webm_codecs(video, output, streams)

    args: list[str] = ["-i", ff_path(video)]
    for track in tracks:
        args += ["-i", ff_path(track.path)]
    kept_subtitles: list[StreamInfo] = []
    for s in streams:
        if s.kind in ("video", "audio"):
            args += ["-map", f"0:{s.index}"]
        elif s.kind == "subtitle":
            if s.codec in KEEP_AS_IS[family] or s.codec in TEXT_SUBTITLE_CODECS:
                args += ["-map", f"0:{s.index}"]
                kept_subtitles.append(s)
            else:
                log.warning("%s: dropping subtitle stream %d (%s): %s cannot hold it", video, s.index, s.codec, family)
        elif s.kind == "attachment" and family == "mkv":
            args += ["-map", f"0:{s.index}"]  # fonts attached for ASS subtitles
    for n in range(len(tracks)):
        args += ["-map", f"{n + 1}:0"]
    args += ["-c", "copy"]

    out_sub = 0
    for s in kept_subtitles:
        codec = "copy" if s.codec in KEEP_AS_IS[family] else TEXT_ENCODER[family]
        args += [f"-c:s:{out_sub}", codec, f"-disposition:s:{out_sub}", "0"]
        if s.title:  # MP4 and Matroska keep a track's name under different keys
            args += [f"-metadata:s:s:{out_sub}", f"title={s.title}"]
        out_sub += 1
    default_index = next((i for i, t in enumerate(tracks) if t.default), 0)
    bibliographic = family != "mp4" or output.suffix.lower() == ".mov"
    for i, track in enumerate(tracks):
        is_ass = track.path.suffix.lower() in (".ass", ".ssa")
        codec = "ass" if family == "mkv" and is_ass else TEXT_ENCODER[family]
        tag = iso639_2(track.language, bibliographic=bibliographic)
        args += [
            f"-c:s:{out_sub}", codec,
            f"-metadata:s:s:{out_sub}", f"language={tag}",
            f"-metadata:s:s:{out_sub}", f"title={track.display_title}",
            f"-disposition:s:{out_sub}", "default" if i == default_index else "0",
        ]  # fmt: skip
        if family == "mp4":
            args += [f"-metadata:s:s:{out_sub}", f"handler_name={track.display_title}"]
        out_sub += 1
    if family == "mp4":
        args += ["-movflags", "+faststart"]

    with atomic_path(output) as tmp:
        run_ffmpeg([*args, ff_path(tmp)], target=output)
    log.info("%s: %d subtitle track(s) embedded", output, len(tracks))
    return output


def check_subtitle_file(path: Path) -> None:
    if not path.is_file():
        raise InputNotFoundError(f"{path}: no such subtitle file")
    with path.open("rb") as f:
        if not f.read(4096).strip(b" \t\r\n\xef\xbb\xbf"):
            raise OutputError(f"{path}: the subtitle file is empty (no speech was found?); nothing to add")


def _check_webm_codecs(video: Path, output: Path, streams: Sequence[StreamInfo]) -> None:
    bad = [
        f"{s.kind} {s.codec}"
        for s in streams
        if (s.kind == "video" and not s.attached_pic and s.codec not in WEBM_VIDEO_CODECS)
        or (s.kind == "audio" and s.codec not in WEBM_AUDIO_CODECS)
    ]
    if bad:
        raise OutputError(
            f"{output}: WebM holds only VP8/VP9/AV1 video and Opus/Vorbis audio, and {video.name} has "
            f"{', '.join(bad)}; write .mkv or .mp4 instead (streams are copied, not re-encoded)"
        )


