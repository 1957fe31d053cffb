"""Plain text (.txt): the transcript, one segment per line, without times."""

from __future__ import annotations

from collections.abc import Sequence

from ovsub.types import Cue, Segment, TranscriptInfo


def render(
    cues: Sequence[Cue], segments: Sequence[Segment], info: TranscriptInfo | None, *, karaoke: bool = False
) -> str:
    """Each segment's text on its own line (the cues' text, one cue a line, when there are no segments)."""
    texts = [segment.text.strip() for segment in segments] if segments else [" ".join(cue.lines) for cue in cues]
    lines = [line for line in texts if line]
    return "".join(line + "\n" for line in lines)
