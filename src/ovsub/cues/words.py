"""Words: collected from segments, spaced as they are shown, cut to fit a line, with stretched starts moved.

A word's leading space says whether a space goes before it (see :mod:`ovsub.cues`); these functions make that
true for every language and return new words, never changing one in place.
"""

from __future__ import annotations

import statistics
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import replace

from ovsub.cues.rules import (
    CLOSING,
    NO_LINE_START,
    ZERO_WIDTH_CATEGORIES,
    Rules,
    display,
    ends_sentence,
    rules_for,
    spaced_before,
    text_width,
    to_ms,
)
from ovsub.types import Segment, Word

# A sentence's first word lasting longer than both of these has its start moved later (clamp_stretched_starts).
STRETCH_MEDIAN_FACTOR = 2.0  # times the median word of the transcript (taken as at most STRETCH_MEDIAN_CAP_MS)
STRETCH_MEDIAN_CAP_MS = 700  # a transcript of slow words still doubts a word over twice this
STRETCH_MS_PER_CHAR = 120  # per character shown: long words take long to say (about 8 characters a second)


def tokenize(text: str, rules: Rules) -> list[str]:
    """Text cut into display words, each with a leading space where one goes before it.

    With spaces, the words are the spaced ones; in Thai and its neighbours, the phrases between spaces. Otherwise
    each character is a word, except that Latin letters and digits stay together and closing punctuation stays
    with the character before it.
    """
    if rules.spaced or rules.phrase_spaces:
        return [" " + token for token in text.split()]
    tokens: list[str] = []
    for run in text.split():
        start = len(tokens)
        for ch in run:
            here = len(tokens) > start
            if here and (
                unicodedata.category(ch) in ZERO_WIDTH_CATEGORIES
                or ch in NO_LINE_START
                or ch in CLOSING
                or (ch.isascii() and ch.isalnum() and tokens[-1][-1].isascii() and tokens[-1][-1].isalnum())
            ):
                tokens[-1] += ch
            else:
                tokens.append((" " if not here and tokens else "") + ch)
    return tokens


def words_from_text(text: str, start_s: float, end_s: float, language: str | None = None) -> tuple[Word, ...]:
    """Words for a segment that has no word timings: its text shared out over its span by character count.

    >>> [(w.text, w.start_s, w.end_s) for w in words_from_text("Hi there", 0.0, 7.0)]
    [(' Hi', 0.0, 2.0), (' there', 2.0, 7.0)]
    """
    tokens = tokenize(text, rules_for(language))
    widths = [max(1, text_width(token.strip())) for token in tokens]
    total = sum(widths)
    span_s = max(0.0, end_s - start_s)
    words = []
    done = 0
    for token, width in zip(tokens, widths, strict=True):
        begin = start_s + span_s * done / total
        done += width
        words.append(Word(start_s=begin, end_s=start_s + span_s * done / total, text=token))
    return tuple(words)


def respace(
    words: Sequence[Word], rules: Rules, segment_starts: frozenset[int] = frozenset(), previous: Word | None = None
) -> list[Word]:
    """Drop empty words and make each word's leading space say whether a space goes before it.

    With spaces (or spaces between phrases), a segment's first word always gets one. In Chinese and Japanese a
    space is kept only between two Latin letters or digits ("GPU 4090" inside Japanese text); ``previous`` is
    the word shown just before these.
    """
    out: list[Word] = []
    for i, word in enumerate(words):
        shown = display(word)
        if not shown:
            continue
        if rules.spaced or rules.phrase_spaces:
            spaced = spaced_before(word) or i in segment_starts
        else:
            last = out[-1] if out else previous
            before = display(last)[-1:] if last is not None else ""
            spaced = spaced_before(word) and _latin_or_digit(before) and _latin_or_digit(shown[0])
        out.append(_with_spacing(word, spaced))
    return out


def _with_spacing(word: Word, spaced: bool) -> Word:
    text = (" " if spaced else "") + display(word)
    return word if text == word.text else replace(word, text=text)


def _latin_or_digit(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


def split_long_words(words: Sequence[Word], max_line_chars: int) -> tuple[Word, ...]:
    """Cut each word wider than a line into pieces of ``max_line_chars`` characters: the last resort.

    The pieces share the word's time by character count; the first keeps the word's leading space and the
    others are glued to it, so they read back as the same word.

    >>> [w.text for w in split_long_words([Word(0.0, 1.0, " abcdefghijklm")], 10)]
    [' abcdefghij', 'klm']
    """
    out: list[Word] = []
    for word in words:
        shown = display(word)
        total = text_width(shown)
        if total <= max_line_chars:
            out.append(word)
            continue
        pieces = [""]
        for ch in shown:
            takes_column = unicodedata.category(ch) not in ZERO_WIDTH_CATEGORIES
            if takes_column and text_width(pieces[-1]) == max_line_chars:
                pieces.append("")
            pieces[-1] += ch
        span_s = word.end_s - word.start_s
        done = 0
        for i, piece in enumerate(pieces):
            begin = word.start_s + span_s * done / total
            done += text_width(piece)
            text = (" " if i == 0 and spaced_before(word) else "") + piece
            out.append(replace(word, start_s=begin, end_s=word.start_s + span_s * done / total, text=text))
    return tuple(out)


def clamp_stretched_starts(words: Sequence[Word], keep: frozenset[int] = frozenset()) -> tuple[Word, ...]:
    """Move the start of a sentence's first word later when it lasts implausibly long.

    Whisper's word timing tends to start the word after a sentence end where the silence before it starts: in
    LibriSpeech a two-letter "He" can last 1.8 s. A cue built on that shows up early, and the silence it
    swallows is missing from :func:`split_by_pause` and from the reading time of the cue before. Such a word
    (one following a sentence end) lasting longer than twice the median word and longer than
    :data:`STRETCH_MS_PER_CHAR` per character is shortened to the longer of those two, from its start: its end,
    where the next word takes over, is the reliable side. Other words keep their times (a long one inside a
    sentence may be a real drawl; the first one is bounded by the speech region decoded), as do the words whose
    ``id`` is in ``keep``.

    >>> words = [Word(0.0, 0.3, " Stop."), Word(0.3, 2.3, " He"), Word(2.3, 2.6, " ran."), Word(2.6, 2.9, " Go")]
    >>> [(w.text, to_ms(w.start_s)) for w in clamp_stretched_starts(words)]
    [(' Stop.', 0), (' He', 1700), (' ran.', 2300), (' Go', 2600)]
    """
    timed = [to_ms(w.end_s) - to_ms(w.start_s) for w in words if id(w) not in keep]
    if not timed:
        return tuple(words)
    typical_ms = STRETCH_MEDIAN_FACTOR * min(statistics.median(timed), STRETCH_MEDIAN_CAP_MS)
    out: list[Word] = []
    for i, word in enumerate(words):
        starts_sentence = i > 0 and ends_sentence(display(words[i - 1]))
        limit_ms = max(typical_ms, STRETCH_MS_PER_CHAR * text_width(display(word)))
        if starts_sentence and id(word) not in keep and to_ms(word.end_s) - to_ms(word.start_s) > limit_ms:
            word = replace(word, start_s=word.end_s - limit_ms / 1000)
        out.append(word)
    return tuple(out)


def collect_words(
    segments: Iterable[Segment], language: str | None, max_line_chars: int
) -> tuple[tuple[Word, ...], frozenset[int]]:
    """All words in order, spaced and cut to fit a line, plus the ids of words invented for untimed segments."""
    rules = rules_for(language)
    words: list[Word] = []
    untimed: set[int] = set()
    for segment in segments:
        if segment.words:
            raw = list(segment.words)
            # An engine that strips every leading space (the text has spaces, no word after the first does):
            # with spaces, treat each word as a separate one.
            stripped = (
                rules.spaced and " " in segment.text.strip() and not any(spaced_before(w) for w in raw[1:])
            )
            starts = frozenset(range(len(raw))) if stripped else frozenset({0})
            timed = True
        else:
            raw = list(words_from_text(segment.text, segment.start_s, segment.end_s, language))
            starts = frozenset({0})
            timed = False
        previous = words[-1] if words else None
        prepared = split_long_words(respace(raw, rules, starts, previous), max_line_chars)
        if not timed:
            untimed.update(id(w) for w in prepared)
        words.extend(prepared)
    return tuple(words), frozenset(untimed)
