"""Line breaking: a cue's words on as few lines as they need, broken where a reader expects it.

:class:`Run` holds what the line breaker and the cue splitter (:mod:`ovsub.cues.split`) keep asking about a
sequence of words, computed once: each word's width, the width of any stretch of them, the cost of a break
before each word, and the cheapest layout of a stretch on a number of lines.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import pairwise

from ovsub.cues.rules import (
    AVOID_COST,
    BOTTOM_HEAVY_WEIGHT,
    DANGLING_COST,
    SHORT_WORD_CHARS,
    TOP_HEAVY_WEIGHT,
    Rules,
    break_cost,
    display,
    rules_for,
    spaced_before,
    text_width,
)
from ovsub.cues.words import respace, split_long_words, tokenize
from ovsub.types import Word


class Run:
    """A sequence of words with what line breaking and splitting keep asking about it, precomputed."""

    def __init__(self, words: Sequence[Word], rules: Rules) -> None:
        self.words = tuple(words)
        self.widths = [text_width(display(w)) for w in self.words]
        self.spaced = [spaced_before(w) for w in self.words]
        # joined[j]: width of words[:j] on one line.
        self.joined = [0]
        for i, width in enumerate(self.widths):
            self.joined.append(self.joined[-1] + width + (1 if i and self.spaced[i] else 0))
        # cost[j]: breaking before word j (cost[0] unused).
        self.cost = [0.0] + [break_cost(a, b, rules) for a, b in pairwise(self.words)]

    def width(self, i: int, j: int) -> int:
        """Width of words[i:j] on one line."""
        return self.joined[j] - self.joined[i] - (1 if i and self.spaced[i] else 0)

    def layout(self, i: int, j: int, max_line_chars: int, lines: int) -> tuple[float, tuple[int, ...]]:
        """The cheapest way to lay words[i:j] on exactly ``lines`` lines: its cost and where each line starts.

        Cost adds the breaks' costs, a penalty for lines shorter or longer than an even share (upper lines
        longer than lower ones cost more: a pyramid reads better) and a penalty for a line of one short word.
        The caller makes sure the words fit (``lines`` is at least the greedy count).
        """
        if lines <= 1:
            return 0.0, (i,)
        ideal = self.width(i, j) / lines
        if lines == 2:  # the usual case, in one pass over the possible breaks
            best, where = math.inf, i + 1
            for s in range(i + 1, j):
                top, bottom = self.width(i, s), self.width(s, j)
                if top > max_line_chars:
                    break
                if bottom > max_line_chars:
                    continue
                cost = (
                    self._line_cost(i, s, j - i, top, ideal, max_line_chars, False)
                    + self._line_cost(s, j, j - i, bottom, ideal, max_line_chars, True)
                    + self.cost[s]
                )
                if cost < best:
                    best, where = cost, s
            return best, (i, where)
        inf = math.inf
        # best[k][e - i]: cheapest layout of words[i:e] on k lines; back[k][e - i]: where its k-th line starts.
        size = j - i + 1
        table = [[inf] * size for _ in range(lines + 1)]
        back = [[i] * size for _ in range(lines + 1)]
        table[0][0] = 0.0
        for k in range(1, lines + 1):
            last = k == lines
            for e in range(j if last else i + 1, j + 1):
                for s in range(e - 1, i - 1, -1):
                    width = self.width(s, e)
                    if width > max_line_chars and s < e - 1:
                        break
                    if table[k - 1][s - i] == inf:
                        continue
                    cost = table[k - 1][s - i] + self._line_cost(s, e, j - i, width, ideal, max_line_chars, last)
                    if s > i:
                        cost += self.cost[s]
                    if cost < table[k][e - i]:
                        table[k][e - i] = cost
                        back[k][e - i] = s
        starts = []
        e = j
        for k in range(lines, 0, -1):
            e = back[k][e - i]
            starts.append(e)
        return table[lines][j - i], tuple(reversed(starts))

    def _line_cost(
        self, s: int, e: int, count: int, width: int, ideal: float, max_line_chars: int, last: bool
    ) -> float:
        """What one line of words[s:e] costs in a layout of ``count`` words: its shape and whether it dangles."""
        deviation = (width - ideal) / max_line_chars
        upper_longer = deviation < 0 if last else deviation > 0
        cost = deviation * deviation * (TOP_HEAVY_WEIGHT if upper_longer else BOTTOM_HEAVY_WEIGHT)
        if e - s == 1 and count > 1 and self.widths[s] <= SHORT_WORD_CHARS:
            cost += DANGLING_COST
        return cost

    def best_layout(
        self, i: int, j: int, max_line_chars: int, max_lines: int, fewest: int | None = None
    ) -> tuple[float, tuple[int, ...]]:
        """The layout of words[i:j] on the fewest lines, unless one more line (up to ``max_lines``) avoids a
        break that should never happen, such as after an article. ``fewest`` is the greedy count, if known."""
        if fewest is None:
            fewest = self.greedy_lines(i, j, max_line_chars)
        first = self.layout(i, j, max_line_chars, fewest)
        for lines in range(fewest + 1, min(max_lines, j - i) + 1):
            if first[0] < AVOID_COST:
                break
            more = self.layout(i, j, max_line_chars, lines)
            if more[0] < AVOID_COST:
                return more
        return first

    def greedy_lines(self, i: int, j: int, max_line_chars: int) -> int:
        """The fewest lines words[i:j] need (filling each line as far as it goes is optimal for that)."""
        count, start = 1, i
        for e in range(i + 1, j):
            if self.width(start, e + 1) > max_line_chars:
                count, start = count + 1, e
        return count


def break_lines(
    words_or_text: Sequence[Word] | str,
    max_line_chars: int = 42,
    max_lines: int = 2,
    *,
    language: str | None = None,
) -> tuple[str, ...]:
    """Lay text out on as few lines as it needs, breaking where a reader expects it.

    One line when the text fits. Otherwise the break goes after punctuation or before a conjunction or
    preposition, never after an article (when only one more line avoids that, it is used), and the lower line
    is preferably the longer one. A word longer than a
    line starts its own line and is cut every ``max_line_chars`` characters. When the text cannot fit in
    ``max_lines`` lines, more lines are returned (:func:`split_to_fit` makes cues that fit).

    >>> break_lines("I never said she stole my money, but somebody else did.")
    ('I never said she stole my money,', 'but somebody else did.')
    >>> break_lines("我们明天早上八点在学校门口见面，然后一起去公园。", 16, language="zh")
    ('我们明天早上八点在学校门口见面，', '然后一起去公园。')
    """
    rules = rules_for(language)
    if isinstance(words_or_text, str):
        raw: Sequence[Word] = [Word(0.0, 0.0, token) for token in tokenize(words_or_text, rules)]
    else:
        raw = words_or_text
    words = split_long_words(respace(raw, rules), max_line_chars)
    if not words:
        return ()
    return lines_of(Run(words, rules), 0, len(words), max_line_chars, max_lines)


def lines_of(run: Run, i: int, j: int, max_line_chars: int, max_lines: int) -> tuple[str, ...]:
    """The text of words[i:j] of ``run`` laid out as :func:`break_lines` does."""
    _, starts = run.best_layout(i, j, max_line_chars, max_lines)
    ends = (*starts[1:], j)
    return tuple(_join(run.words[s:e]) for s, e in zip(starts, ends, strict=True))


def _join(words: Sequence[Word]) -> str:
    """Words as one line of text, with a space where a word asks for one (not before the first)."""
    parts = []
    for i, word in enumerate(words):
        if i and spaced_before(word):
            parts.append(" ")
        parts.append(display(word))
    return "".join(parts)
