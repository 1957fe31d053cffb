"""Where each word of a cue sits in its lines, and when it is spoken, for karaoke-style output."""

from __future__ import annotations

from dataclasses import dataclass

from ovsub.cues import to_ms
from ovsub.types import Cue


@dataclass(frozen=True)
class Run:
    """A stretch of one display line."""

    text: str  # the characters as shown, spaces included
    word: int | None  # index in cue.words of the word starting here; None for a line's start inside a cut word


def runs_by_line(cue: Cue) -> list[list[Run]] | None:
    """Each line of ``cue`` cut where its words start, or None when the cue has no words or they don't match.

    Words are matched to the lines by their non-space characters, so a word cut across two lines is found too.
    """
    owners: list[tuple[str, int, bool]] = []  # (character, word index, first character of the word)
    for k, word in enumerate(cue.words):
        chars = [ch for ch in word.text if not ch.isspace()]
        owners.extend((ch, k, i == 0) for i, ch in enumerate(chars))
    if not owners:
        return None
    lines: list[list[Run]] = []
    pos = 0
    for line in cue.lines:
        runs: list[Run] = []
        for ch in line:
            if not ch.isspace():
                if pos >= len(owners) or owners[pos][0] != ch:
                    return None
                _, k, first = owners[pos]
                pos += 1
                if first or not runs:
                    runs.append(Run(ch, k if first else None))
                    continue
            if runs:
                runs[-1] = Run(runs[-1].text + ch, runs[-1].word)
        lines.append(runs)
    return lines if pos == len(owners) else None


def word_starts_ms(cue: Cue) -> tuple[list[int], int]:
    """When each word starts, and when the last one ends, kept inside the cue and never going back in time."""
    starts: list[int] = []
    for word in cue.words:
        start = min(max(to_ms(word.start_s), cue.start_ms), cue.end_ms)
        starts.append(max(start, starts[-1]) if starts else start)
    end = min(max(to_ms(cue.words[-1].end_s), starts[-1]), cue.end_ms) if starts else cue.end_ms
    return starts, end
