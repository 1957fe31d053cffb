"""Which words make a cue: cut at long pauses, then where the cheapest cues that fit and can be read begin."""

from __future__ import annotations

import math
from collections.abc import Sequence

from ovsub.cues.lines import Run, lines_of
from ovsub.cues.rules import (
    CUE_COST,
    DANGLING_COST,
    DEFAULT_OPTIONS,
    LAYOUT_WEIGHT,
    PAUSE_BONUS,
    READING_WEIGHT,
    SHORT_WORD_CHARS,
    SLACK_WEIGHT,
    SPLIT_WEIGHT,
    TOO_FAST_COST,
    need_ms,
    rules_for,
    to_ms,
)
from ovsub.cues.words import respace, split_long_words
from ovsub.options import CueOptions
from ovsub.types import Cue, Word


def split_by_pause(words: Sequence[Word], max_pause_ms: int) -> tuple[tuple[Word, ...], ...]:
    """Split where the silence between two consecutive words is longer than ``max_pause_ms``.

    >>> words = (Word(0.0, 0.4, " Hi."), Word(0.5, 0.9, " You"), Word(2.0, 2.3, " again"))
    >>> [[w.text for w in group] for group in split_by_pause(words, 700)]
    [[' Hi.', ' You'], [' again']]
    """
    groups: list[tuple[Word, ...]] = []
    current: list[Word] = []
    for word in words:
        if current and to_ms(word.start_s) - to_ms(current[-1].end_s) > max_pause_ms:
            groups.append(tuple(current))
            current = []
        current.append(word)
    if current:
        groups.append(tuple(current))
    return tuple(groups)


def split_to_fit(
    words: Sequence[Word],
    options: CueOptions = DEFAULT_OPTIONS,
    language: str | None = None,
    *,
    tail_room_ms: int | None = None,
) -> tuple[tuple[Word, ...], ...]:
    """Split a run of words (with no long pause inside) into cues that fit, at the best places.

    Every cue fits in ``max_lines`` lines of ``max_line_chars`` and its words span at most ``max_duration_ms``
    (a single word that is longer on its own is its own cue). Among the splits that fit, a small dynamic program
    picks the cheapest: splits after sentences beat splits after commas, which beat splits before conjunctions
    and prepositions, which beat other splits; a split after an article, or one leaving a single short word as
    a cue, is avoided; shorter pauses between words are preferred places; neighbouring cues get balanced lengths,
    and a cue gets no more text than it has time to be read: when the run's cues would otherwise break
    ``max_cps``, it is cut into more, shorter ones. A cue's time is what :func:`place_in_time` can give it: from
    its first word (or ``lead_in_ms`` earlier, after the previous cue's own minimum) to ``min_gap_ms`` before the
    next cue's first word, or up to ``tail_room_ms`` after the last word (by default ``max_pause_ms -
    min_gap_ms``). Words wider than a line come back cut into pieces.

    >>> words = [Word(i * 0.4, i * 0.4 + 0.3, " " + t) for i, t in enumerate(
    ...     "We went to the market early. Then we walked along the river and talked for hours about nothing.".split())]
    >>> [" ".join(w.text.strip() for w in chunk) for chunk in split_to_fit(words, CueOptions(max_lines=1))]
    ['We went to the market early.', 'Then we walked along the river', 'and talked for hours about nothing.']
    """
    rules = rules_for(language)
    words = split_long_words(respace(words, rules), options.max_line_chars)
    if not words:
        return ()
    if tail_room_ms is None:
        tail_room_ms = options.max_pause_ms - options.min_gap_ms
    return split_run(Run(words, rules), options, tail_room_ms)[0]


def split_run(
    run: Run, options: CueOptions, tail_room_ms: int, free_from_ms: int = 0
) -> tuple[tuple[tuple[Word, ...], ...], int]:
    """The cheapest cues for ``run`` (see :func:`split_to_fit`), and the moment after them a next cue may start.

    ``free_from_ms`` is the earliest moment the first cue may start (the previous cue's end, plus the gap).
    Where a cue may start depends on how long the cue before it must stay, so each best split up to a word
    carries that moment along.
    """
    words, n = run.words, len(run.words)
    starts_ms = [to_ms(w.start_s) for w in words]
    ends_ms = [to_ms(w.end_s) for w in words]
    line = options.max_line_chars
    capacity = line * options.max_lines

    split_cost = [0.0] * n  # split_cost[a]: starting a new cue at word a
    for a in range(1, n):
        pause_ms = min(max(0, starts_ms[a] - ends_ms[a - 1]), options.max_pause_ms)
        bonus = PAUSE_BONUS * pause_ms / options.max_pause_ms if options.max_pause_ms else 0.0
        split_cost[a] = max(0.0, SPLIT_WEIGHT * run.cost[a] - bonus)

    best = [math.inf] * (n + 1)
    back = [0] * (n + 1)
    free = [free_from_ms] * (n + 1)  # free[a]: earliest start of a cue at word a, after the best cues before it
    best[0] = 0.0
    for a in range(n):
        base = best[a] + (split_cost[a] if a else 0.0)
        lines, line_start = 1, a
        first_start = starts_ms[a]
        last_end = first_start
        for b in range(a + 1, n + 1):
            last_end = max(last_end, ends_ms[b - 1])
            if b - 1 > a and run.width(line_start, b) > line:
                lines, line_start = lines + 1, b - 1
            if b > a + 1 and (lines > options.max_lines or last_end - first_start > options.max_duration_ms):
                break
            width = run.width(a, b)
            cost = base + CUE_COST + SLACK_WEIGHT * (1 - min(width, capacity) / capacity) ** 2
            room_end = starts_ms[b] - options.min_gap_ms if b < n else last_end + tail_room_ms
            need = need_ms(width, options)
            start = first_start
            if room_end - start < need:  # as place_in_time does: the lead-in only for a cue that needs it
                start = min(first_start, max(first_start - options.lead_in_ms, free[a], 0))
            available = max(0, room_end - start)
            if available < need:
                cost += TOO_FAST_COST + READING_WEIGHT * (need - available) / need
            if b - a == 1 and n > 1 and run.widths[a] <= SHORT_WORD_CHARS:
                cost += DANGLING_COST
            if lines > 1:
                cost += LAYOUT_WEIGHT * run.best_layout(a, b, line, options.max_lines, lines)[0]
            if cost < best[b]:
                best[b], back[b] = cost, a
                # The cue keeps its reading time (or its words' time) even when the next one wants a lead-in.
                keep = min(max(start + need, last_end), start + options.max_duration_ms)
                free[b] = keep + options.min_gap_ms
    chunks = []
    b = n
    while b:
        a = back[b]
        chunks.append(words[a:b])
        b = a
    return tuple(reversed(chunks)), free[n]


def draft_cues(
    run: Run, options: CueOptions, tail_room_ms: int, free_from_ms: int = 0, untimed: frozenset[int] = frozenset()
) -> tuple[list[Cue], int]:
    """The cues of ``run`` (see :func:`split_run`) laid out in lines, timed by their words' speech.

    Each cue spans its first word's start to its last word's end (:func:`~ovsub.cues.timing.place_in_time`
    gives display times later); a cue holding a word whose ``id`` is in ``untimed`` carries no words. Also
    returns the moment after these cues a next one may start.
    """
    chunks, free_from_ms = split_run(run, options, tail_room_ms, free_from_ms)
    drafts = []
    offset = 0
    for chunk in chunks:
        lines = lines_of(run, offset, offset + len(chunk), options.max_line_chars, options.max_lines)
        offset += len(chunk)
        start_ms = to_ms(chunk[0].start_s)
        end_ms = max([start_ms] + [to_ms(w.end_s) for w in chunk])
        timed = not any(id(w) in untimed for w in chunk)
        drafts.append(Cue(start_ms=start_ms, end_ms=end_ms, lines=lines, words=chunk if timed else ()))
    return drafts, free_from_ms
