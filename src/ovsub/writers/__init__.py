"""Cues and segments -> subtitle files: one small module per format, and a registry.

The shape follows pysubs2 (which writes SRT, WebVTT and ASS for us; EBU-TT-D is ours, with ElementTree):
:func:`save` writes what :func:`to_string` returns, so tests compare strings. Writers only format; cue times are
already integer milliseconds (see :mod:`ovsub.cues`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TextIO

from ovsub.errors import OutputError
from ovsub.fsutil import write_text_atomic
from ovsub.types import Cue, Segment, TranscriptInfo
from ovsub.writers import ass, jsonformat, srt, ttml, txt, vtt

__all__ = ["FORMATS", "Writer", "format_from_path", "get_writer", "save", "to_file", "to_string"]


class Render(Protocol):
    """What a format module provides: the whole file as text."""

    def __call__(
        self,
        cues: Sequence[Cue],
        segments: Sequence[Segment],
        info: TranscriptInfo | None,
        *,
        karaoke: bool = False,
    ) -> str: ...


@dataclass(frozen=True)
class Writer:
    """One output format."""

    name: str  # the format's name, as the command line spells it
    extension: str  # file name extension, with its dot
    render: Render  # cues, segments and info -> the file's text
    karaoke: bool = False  # whether render can time each word (karaoke=True); other formats ignore it


# Every format ovsub writes, by name.
FORMATS: dict[str, Writer] = {
    writer.name: writer
    for writer in (
        Writer("srt", ".srt", srt.render),
        Writer("vtt", ".vtt", vtt.render, karaoke=True),
        Writer("ass", ".ass", ass.render, karaoke=True),
        Writer("ttml", ".ttml", ttml.render),  # EBU-TT-D, also IMSC Text Profile; broadcasters often name it .xml
        Writer("json", ".json", jsonformat.render),
        Writer("txt", ".txt", txt.render),
    )
}


def get_writer(fmt: str) -> Writer:
    """The writer for ``fmt`` ("srt", ".SRT", ...), or an OutputError naming the formats there are."""
    name = fmt.strip().lower().lstrip(".")
    try:
        return FORMATS[name]
    except KeyError:
        raise OutputError(f"unknown subtitle format {fmt!r}; choose one of {', '.join(FORMATS)}") from None


def format_from_path(path: str | os.PathLike[str]) -> str:
    """The format a file name asks for, by its extension.

    >>> format_from_path("talk.en.vtt")
    'vtt'
    """
    return get_writer(Path(path).suffix or str(path)).name


def to_string(
    fmt: str,
    cues: Sequence[Cue],
    segments: Sequence[Segment] = (),
    info: TranscriptInfo | None = None,
    *,
    karaoke: bool = False,
) -> str:
    """The text of a ``fmt`` file for these cues (subtitle formats) or segments (txt) and info (json).

    >>> print(to_string("srt", [Cue(1000, 2500, ("Hello,", "world."))]), end="")
    1
    00:00:01,000 --> 00:00:02,500
    Hello,
    world.
    <BLANKLINE>
    """
    return get_writer(fmt).render(cues, segments, info, karaoke=karaoke)


def to_file(
    fmt: str,
    fp: TextIO,
    cues: Sequence[Cue],
    segments: Sequence[Segment] = (),
    info: TranscriptInfo | None = None,
    *,
    karaoke: bool = False,
) -> None:
    """Write :func:`to_string` to an open text file."""
    fp.write(to_string(fmt, cues, segments, info, karaoke=karaoke))


def save(
    fmt: str,
    path: str | os.PathLike[str],
    cues: Sequence[Cue],
    segments: Sequence[Segment] = (),
    info: TranscriptInfo | None = None,
    *,
    karaoke: bool = False,
) -> Path:
    """Write a ``fmt`` file at ``path`` atomically (UTF-8) and return the path.

    The text is made before the file is touched, and is written beside it and renamed over it: on any failure
    an existing file at ``path`` stays as it was and no temporary file is left behind.
    """
    text = to_string(fmt, cues, segments, info, karaoke=karaoke)
    return write_text_atomic(path, text)
