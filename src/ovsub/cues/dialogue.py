"""Speakers on their own channels: cues that hold one speaker, or two with a dash before each one's line.

With channels split (``TranscribeOptions.channels``) each segment says which channel, and so which speaker, it
was heard on. Each speaker's words are prepared as a lone speaker's are (collected, spaced, stretched starts
clamped) and cut into utterances at long pauses. Utterances of different speakers that overlap, or follow one
another within ``max_pause_ms``, make an *exchange*; every other utterance becomes cues exactly as one speaker's
words do (:func:`~ovsub.cues.split.draft_cues`).

An exchange is cut along time (:func:`exchange_cues`): a cue holds what each speaker says in its span. When
that is two speakers, each gets one line, starting with the dialogue dash of the language
(:attr:`~ovsub.cues.rules.Rules.dialogue_dash`; "-Are you coming?" / "-In a minute."), the one who starts first
on top: the subtitling convention for two speakers in one subtitle. So two people talking at once are shown
together, cue after cue in step with both voices, and a quick question and its answer share a cue, while a
reply that comes later gets a cue of its own (:data:`~ovsub.cues.rules.EARLY_LINE_WEIGHT`). Where the cuts go
is chosen as for one speaker: a small dynamic program over the possible cut times, weighing the same costs
(where sentences and clauses end, balanced cues, reading time).

Every hard limit of :mod:`ovsub.cues` holds as for one speaker, and every word is shown once; a cue's words
run line by line. Overlapping speech is often more than anyone can read in the time; those cues are then too
fast, the soft limit that gives way.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate

from ovsub.cues.lines import Run, lines_of
from ovsub.cues.rules import (
    CUE_COST,
    DANGLING_COST,
    EARLY_LINE_WEIGHT,
    LAYOUT_WEIGHT,
    PAUSE_BONUS,
    READING_WEIGHT,
    SHORT_WORD_CHARS,
    SLACK_WEIGHT,
    SPLIT_WEIGHT,
    TOO_FAST_COST,
    Rules,
    need_ms,
    text_width,
    to_ms,
)
from ovsub.cues.split import draft_cues, split_by_pause
from ovsub.cues.words import clamp_stretched_starts, collect_words
from ovsub.options import CueOptions
from ovsub.types import Cue, Segment, Word


@dataclass(frozen=True)
class Utterance:
    """One speaker's words between long pauses."""

    speaker: int  # position of the speaker's channel among the transcript's channels (lower channels first)
    words: tuple[Word, ...]

    @property
    def start_ms(self) -> int:
        return to_ms(self.words[0].start_s)

    @property
    def end_ms(self) -> int:
        return max(to_ms(w.end_s) for w in self.words)


def speaker_utterances(
    segments: Sequence[Segment], options: CueOptions, language: str | None
) -> tuple[list[Utterance], frozenset[int]]:
    """Each channel's words, prepared as one speaker's, cut at long pauses; and the ids of untimed words."""
    channels = sorted({s.channel for s in segments}, key=lambda c: (c is None, c or 0))
    utterances: list[Utterance] = []
    untimed: set[int] = set()
    for speaker, channel in enumerate(channels):
        words, invented = collect_words([s for s in segments if s.channel == channel], language, options.max_line_chars)
        untimed |= invented
        words = clamp_stretched_starts(words, keep=invented)
        utterances.extend(Utterance(speaker, group) for group in split_by_pause(words, options.max_pause_ms))
    return utterances, frozenset(untimed)


def exchanges(utterances: Sequence[Utterance], max_pause_ms: int) -> list[list[Utterance]]:
    """The utterances in order of start, grouped: each group is one utterance, or an exchange of speakers.

    An utterance joins the group before it when an utterance of another speaker there ends at most
    ``max_pause_ms`` before it starts (or has not ended yet).

    >>> def u(speaker, start, end): return Utterance(speaker, (Word(start, end, " x"),))
    >>> groups = exchanges([u(0, 0.0, 3.0), u(0, 6.0, 7.0), u(1, 1.0, 2.0), u(1, 7.5, 8.0), u(1, 10.0, 11.0)], 700)
    >>> [[(x.speaker, x.start_ms) for x in group] for group in groups]
    [[(0, 0), (1, 1000)], [(0, 6000), (1, 7500)], [(1, 10000)]]
    """
    groups: list[list[Utterance]] = []
    ends: dict[int, int] = {}  # the latest end of each speaker in the current group
    for utterance in sorted(utterances, key=lambda u: (u.start_ms, u.speaker)):
        reach = utterance.start_ms - max_pause_ms
        if not any(end >= reach for speaker, end in ends.items() if speaker != utterance.speaker):
            groups.append([])
            ends = {}
        groups[-1].append(utterance)
        ends[utterance.speaker] = max(ends.get(utterance.speaker, utterance.end_ms), utterance.end_ms)
    return groups


def dialogue_cues(segments: Sequence[Segment], options: CueOptions, rules: Rules, language: str | None) -> list[Cue]:
    """Draft cues (speech times, before :func:`~ovsub.cues.timing.place_in_time`) for segments of several channels."""
    utterances, untimed = speaker_utterances(segments, options, language)
    groups = exchanges(utterances, options.max_pause_ms)
    drafts: list[Cue] = []
    free_from_ms = 0
    for g, group in enumerate(groups):
        end_ms = max(u.end_ms for u in group)
        if g + 1 < len(groups):
            tail_room_ms = groups[g + 1][0].start_ms - end_ms - options.min_gap_ms
        else:
            tail_room_ms = options.max_duration_ms
        if len(group) == 1:
            cues, free_from_ms = draft_cues(Run(group[0].words, rules), options, tail_room_ms, free_from_ms, untimed)
        else:
            cues, free_from_ms = exchange_cues(group, options, rules, tail_room_ms, free_from_ms, untimed)
        drafts.extend(cues)
    return drafts


class _Speaker:
    """One speaker's words in an exchange, with what cutting them along time asks about them."""

    def __init__(self, words: Sequence[Word], rules: Rules) -> None:
        self.run = Run(words, rules)
        self.starts_ms = [to_ms(w.start_s) for w in words]
        self.ends_ms = [to_ms(w.end_s) for w in words]
        # Where a word sits in time: its start, but never before an earlier word's (Whisper's starts can step back).
        self.keys_ms = list(accumulate(self.starts_ms, max))

    def upto(self, cut_ms: float) -> int:
        """How many of the words come before ``cut_ms``."""
        return bisect.bisect_left(self.keys_ms, cut_ms)


@dataclass(frozen=True)
class _Piece:
    """What one candidate cue of an exchange holds: per speaker present, a range of its words, first starter first."""

    ranges: tuple[tuple[int, int, int], ...]  # (speaker, first word, end) in the order the lines are shown
    width: int  # characters shown, dashes included
    start_ms: int  # when its earliest first word starts
    end_ms: int  # when its last word ends


def exchange_cues(
    group: Sequence[Utterance],
    options: CueOptions,
    rules: Rules,
    tail_room_ms: int,
    free_from_ms: int = 0,
    untimed: frozenset[int] = frozenset(),
) -> tuple[list[Cue], int]:
    """Draft cues for an exchange (see the module docstring), and the moment after them a next cue may start.

    Cues may be cut before any word; among the cuttings whose cues fit, the cheapest is chosen, by the costs
    :func:`~ovsub.cues.split.split_run` weighs for one speaker plus :data:`EARLY_LINE_WEIGHT`. Should no cutting
    fit (two speakers starting at the same moment with words too wide for a dialogue line), each utterance gets
    cues of its own.
    """
    count = max(u.speaker for u in group) + 1
    speakers = [_Speaker([w for u in group if u.speaker == k for w in u.words], rules) for k in range(count)]
    cuts = sorted({key for s in speakers for key in s.keys_ms})
    bounds = [[s.upto(cut) for cut in cuts] + [len(s.keys_ms)] for s in speakers]  # bounds[k][i]: words before cut i
    m = len(cuts)
    best = [math.inf] * (m + 1)
    back = [0] * (m + 1)
    free = [free_from_ms] * (m + 1)
    pieces: dict[tuple[int, int], _Piece] = {}
    best[0] = 0.0
    for i in range(m):
        if best[i] == math.inf:
            continue
        base = best[i] + _cut_cost(speakers, [b[i] for b in bounds], options.max_pause_ms)
        for j in range(i + 1, m + 1):
            piece = _piece(speakers, [(b[i], b[j]) for b in bounds], rules, options)
            if piece is None:
                break
            if j > i + 1 and piece.end_ms - piece.start_ms > options.max_duration_ms:
                break
            if not _fits(piece, speakers, rules, options):
                continue
            room_end = cuts[j] - options.min_gap_ms if j < m else piece.end_ms + tail_room_ms
            cost, keep = _piece_cost(piece, speakers, options, room_end, free[i])
            if base + cost < best[j]:
                best[j], back[j], free[j] = base + cost, i, keep + options.min_gap_ms
                pieces[i, j] = piece
    if best[m] == math.inf:
        return _one_by_one(group, options, rules, tail_room_ms, free_from_ms, untimed)
    chosen = []
    j = m
    while j:
        chosen.append(pieces[back[j], j])
        j = back[j]
    return [_draft(piece, speakers, rules, options, untimed) for piece in reversed(chosen)], free[m]


def _piece(
    speakers: Sequence[_Speaker], ranges: Sequence[tuple[int, int]], rules: Rules, options: CueOptions
) -> _Piece | None:
    """The candidate cue holding these word ranges; None when it, and so any longer one, cannot fit."""
    present = [(k, a, b) for k, (a, b) in enumerate(ranges) if b > a]
    dash = text_width(rules.dialogue_dash) if len(present) > 1 else 0
    widths = [speakers[k].run.width(a, b) + dash for k, a, b in present]
    if len(present) > options.max_lines or sum(widths) > options.max_lines * options.max_line_chars:
        return None
    if len(present) > 1 and max(widths) > options.max_line_chars:
        return None  # a dialogue line is a speaker's only line, and it only grows
    present.sort(key=lambda r: (speakers[r[0]].starts_ms[r[1]], r[0]))
    start_ms = speakers[present[0][0]].starts_ms[present[0][1]]
    end_ms = max(max(speakers[k].ends_ms[a:b]) for k, a, b in present)
    return _Piece(tuple(present), sum(widths), start_ms, end_ms)


def _fits(piece: _Piece, speakers: Sequence[_Speaker], rules: Rules, options: CueOptions) -> bool:
    """Whether the piece lays out within the line limits and spans no pause longer than ``max_pause_ms``."""
    if len(piece.ranges) == 1:
        k, a, b = piece.ranges[0]
        if b - a > 1 and speakers[k].run.greedy_lines(a, b, options.max_line_chars) > options.max_lines:
            return False
    previous_end: int | None = None
    for k, a, b in piece.ranges:  # the words as the cue lists them: line after line
        for n in range(a, b):
            if previous_end is not None and speakers[k].starts_ms[n] - previous_end > options.max_pause_ms:
                return False
            previous_end = speakers[k].ends_ms[n]
    return True


def _cut_cost(speakers: Sequence[_Speaker], at: Sequence[int], max_pause_ms: int) -> float:
    """Cutting each speaker's words before word ``at[k]``: costed as split_run costs a split, summed over them."""
    cost = 0.0
    for speaker, n in zip(speakers, at):
        if 0 < n < len(speaker.keys_ms):
            pause_ms = min(max(0, speaker.starts_ms[n] - speaker.ends_ms[n - 1]), max_pause_ms)
            bonus = PAUSE_BONUS * pause_ms / max_pause_ms if max_pause_ms else 0.0
            cost += max(0.0, SPLIT_WEIGHT * speaker.run.cost[n] - bonus)
    return cost


def _piece_cost(
    piece: _Piece, speakers: Sequence[_Speaker], options: CueOptions, room_end_ms: int, free_from_ms: int
) -> tuple[float, int]:
    """What the piece costs as a cue (as split_run weighs a cue), and until when it keeps the screen."""
    capacity = options.max_line_chars * options.max_lines
    cost = CUE_COST + SLACK_WEIGHT * (1 - min(piece.width, capacity) / capacity) ** 2
    need = need_ms(piece.width, options)
    start = piece.start_ms
    if room_end_ms - start < need:  # as place_in_time does: the lead-in only for a cue that needs it
        start = min(piece.start_ms, max(piece.start_ms - options.lead_in_ms, free_from_ms, 0))
    available = max(0, room_end_ms - start)
    if available < need:
        cost += TOO_FAST_COST + READING_WEIGHT * (need - available) / need
    if len(piece.ranges) == 1:
        k, a, b = piece.ranges[0]
        if b - a == 1 and speakers[k].run.widths[a] <= SHORT_WORD_CHARS:  # an exchange has other words
            cost += DANGLING_COST
        lines = speakers[k].run.greedy_lines(a, b, options.max_line_chars)
        if lines > 1:
            cost += LAYOUT_WEIGHT * speakers[k].run.best_layout(a, b, options.max_line_chars, options.max_lines)[0]
    for k, a, _ in piece.ranges[1:]:
        cost += EARLY_LINE_WEIGHT * (speakers[k].starts_ms[a] - piece.start_ms) / 1000
    keep = min(max(start + need, piece.end_ms), start + options.max_duration_ms)
    return cost, keep


def _draft(
    piece: _Piece, speakers: Sequence[_Speaker], rules: Rules, options: CueOptions, untimed: frozenset[int]
) -> Cue:
    """The piece as a draft cue: one speaker laid out as usual, or a dashed line per speaker."""
    words = tuple(w for k, a, b in piece.ranges for w in speakers[k].run.words[a:b])
    if len(piece.ranges) == 1:
        k, a, b = piece.ranges[0]
        lines = lines_of(speakers[k].run, a, b, options.max_line_chars, options.max_lines)
    else:
        narrow = options.max_line_chars - text_width(rules.dialogue_dash)
        lines = tuple(rules.dialogue_dash + lines_of(speakers[k].run, a, b, narrow, 1)[0] for k, a, b in piece.ranges)
    timed = not any(id(w) in untimed for w in words)
    return Cue(piece.start_ms, max(piece.start_ms, piece.end_ms), lines, words if timed else ())


def _one_by_one(
    group: Sequence[Utterance],
    options: CueOptions,
    rules: Rules,
    tail_room_ms: int,
    free_from_ms: int,
    untimed: frozenset[int],
) -> tuple[list[Cue], int]:
    """Each utterance's own cues, in order of start (place_in_time then keeps them apart)."""
    drafts: list[Cue] = []
    for n, utterance in enumerate(group):
        room_ms = group[n + 1].start_ms - utterance.end_ms - options.min_gap_ms if n + 1 < len(group) else tail_room_ms
        cues, free_from_ms = draft_cues(Run(utterance.words, rules), options, room_ms, free_from_ms, untimed)
        drafts.extend(cues)
    return drafts, free_from_ms
