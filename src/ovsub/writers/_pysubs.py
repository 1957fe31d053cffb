"""Cues -> a pysubs2 SSAFile, shared by the SRT, WebVTT and ASS writers.

pysubs2 already formats these three correctly (zero-padded SRT hours, the WEBVTT header, ASS sections), so we
only hand it events. Lines are joined with ASS's ``\\N``, which pysubs2 turns into a line break for SRT/VTT.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pysubs2

from ovsub.types import Cue


def ssafile(cues: Sequence[Cue], text: Callable[[Cue], str]) -> pysubs2.SSAFile:
    """An SSAFile with one event per cue, its text made by ``text``."""
    subs = pysubs2.SSAFile()
    for cue in cues:
        subs.events.append(pysubs2.SSAEvent(start=cue.start_ms, end=cue.end_ms, text=text(cue)))
    return subs
