"""When each cue shows: display times from speech times, within the limits set out in :mod:`ovsub.cues`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from ovsub.cues.rules import DEFAULT_OPTIONS, min_display_ms
from ovsub.options import CueOptions
from ovsub.types import Cue


def place_in_time(cues: Sequence[Cue], options: CueOptions = DEFAULT_OPTIONS) -> list[Cue]:
    """Give cues their display times from their speech times.

    Each input cue's ``start_ms``/``end_ms`` are when its first word starts and its last word ends. A cue
    starts with its first word (after the previous cue's end plus ``min_gap_ms``; ``lead_in_ms`` earlier only
    when it needs the time to be read) and stays ``linger_ms`` after its last word, or longer to reach
    :func:`min_display_ms`, as far as the next cue and ``max_duration_ms`` allow. The hard limits always hold;
    see :mod:`ovsub.cues` for when the soft ones give way.

    Here "Hi." cannot get its 833 ms before "Hello!" starts, so it takes the 100 ms lead-in and is boxed in:

    >>> [(c.start_ms, c.end_ms) for c in place_in_time([Cue(1000, 1300, ("Hi.",)), Cue(1400, 2600, ("Hello!",))])]
    [(900, 1317), (1400, 3100)]
    """
    n = len(cues)
    gap = options.min_gap_ms
    longest = max(1, options.max_duration_ms)
    spans = [(c.start_ms, max(c.start_ms, c.end_ms)) for c in cues]
    need = [min(min_display_ms(c, options), longest) for c in cues]

    # Earliest starts that keep starts increasing with room for a gap: the first word, or just after the last start.
    base: list[int] = []
    for speech_start, _ in spans:
        base.append(max(speech_start, 0) if not base else max(speech_start, 0, base[-1] + gap + 1))

    starts = list(base)
    ends = [0] * n
    keep_prev = 0  # the end the previous cue keeps even when this one takes a lead-in
    for i, (speech_start, speech_end) in enumerate(spans):
        start = base[i]
        room_end = min(base[i + 1] - gap, start + longest) if i + 1 < n else start + longest
        shortfall = need[i] - (room_end - start)
        if shortfall > 0:
            earliest = max(0, speech_start - options.lead_in_ms)
            if i:
                earliest = max(earliest, keep_prev + gap)
            if earliest < start:
                start = max(start - shortfall, earliest)
        starts[i] = start
        if i:
            ends[i - 1] = _end(starts[i - 1], spans[i - 1][1], need[i - 1], start - gap, longest, options)
        keep_prev = min(max(start + need[i], speech_end), start + longest)
    if n:
        ends[-1] = _end(starts[-1], spans[-1][1], need[-1], None, longest, options)
    return [replace(cue, start_ms=s, end_ms=e) for cue, s, e in zip(cues, starts, ends, strict=True)]


def _end(start: int, speech_end: int, need: int, limit: int | None, longest: int, options: CueOptions) -> int:
    wanted = max(speech_end + options.linger_ms, start + need)
    end = min(wanted, start + longest)
    return end if limit is None else min(end, limit)
