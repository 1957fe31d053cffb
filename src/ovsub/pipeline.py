"""One file from start to finish: transcribe, build cues, write every requested format.

Shared by the CLI, batch runs and the web app so they behave the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from ovsub import cues, writers
from ovsub.options import CueOptions, ModelOptions, TranscribeOptions, to_dict
from ovsub.transcription import transcribe
from ovsub.types import Cue, Segment, TranscriptInfo

log = logging.getLogger("ovsub")

ProgressFn = Callable[[float, float], None]  # (seconds of media done, seconds in all)


@dataclass(frozen=True)
class Subtitles:
    """A finished transcription of one input, ready to write or embed."""

    info: TranscriptInfo
    segments: tuple[Segment, ...]
    cues: tuple[Cue, ...]
    task: str  # transcribe or translate
    outputs: dict[str, Path] = field(default_factory=dict)  # format -> file written

    @property
    def language(self) -> str | None:
        """Language of the subtitles' text (English after translation)."""
        return "en" if self.task == "translate" else self.info.language


def make_subtitles(
    source: str,
    options: TranscribeOptions,
    model: ModelOptions,
    cue_options: CueOptions,
    *,
    stream: int | str | None = None,
    progress: ProgressFn | None = None,
) -> Subtitles:
    """Transcribe ``source`` completely and build its cues."""
    segment_iter, info = transcribe(source, options, model, stream=stream)
    segments: list[Segment] = []
    for segment in segment_iter:
        segments.append(segment)
        if progress:
            progress(segment.end_s, info.duration_s)
    if progress:
        progress(info.duration_s, info.duration_s)
    language = "en" if options.task == "translate" else info.language
    built = cues.build_cues(segments, cue_options, language)
    info = replace(info, options={**info.options, "cues": to_dict(cue_options)})  # so JSON says how cues were made
    return Subtitles(info, tuple(segments), tuple(built), options.task)


def output_path(source: str, out_dir: str | Path | None, fmt: str, tag: str | None = None) -> Path:
    """Where a format goes: next to a local input by default, in ``out_dir`` otherwise."""
    if "://" in source:
        stem = Path(source.split("?", 1)[0].rstrip("/")).stem or "download"
        folder = Path(out_dir) if out_dir else Path.cwd()
    else:
        stem = Path(source).stem
        folder = Path(out_dir) if out_dir else Path(source).parent
    name = f"{stem}.{tag}.{fmt}" if tag else f"{stem}.{fmt}"
    return folder / name


def write_outputs(
    subs: Subtitles,
    source: str,
    formats: Sequence[str],
    out_dir: str | Path | None = None,
    tag: str | None = None,
    karaoke: bool = False,
) -> dict[str, Path]:
    """Write every format atomically; return format -> path."""
    written: dict[str, Path] = {}
    for fmt in formats:
        path = output_path(source, out_dir, fmt, tag)
        writers.save(fmt, path, list(subs.cues), list(subs.segments), subs.info, karaoke=karaoke)
        written[fmt] = path
    subs.outputs.update(written)
    return written
