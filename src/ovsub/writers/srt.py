"""SubRip (.srt): numbered cues, ``HH:MM:SS,mmm`` times, the most widely read subtitle format."""

from __future__ import annotations

from collections.abc import Sequence

from ovsub.types import Cue, Segment, TranscriptInfo
from ovsub.writers._pysubs import ssafile


def render(
    cues: Sequence[Cue], segments: Sequence[Segment], info: TranscriptInfo | None, *, karaoke: bool = False
) -> str:
    """The cues as SRT (hours zero-padded: ``00:00:01,000``); segments, info and karaoke are not used."""
    subs = ssafile(cues, lambda cue: r"\N".join(cue.lines))
    # keep_ssa_tags: write the text as it is, without reading "{...}" in a transcript as styling.
    return subs.to_string("srt", keep_ssa_tags=True)
