"""Segments and words -> readable subtitle cues.

The model's segments are windows of speech, not subtitles: they can run for 30 seconds or stop mid-sentence.
This module regroups the words into cues that follow the Netflix timed-text style guide, as set in
:class:`~ovsub.options.CueOptions`. Each step is a small pure function over tuples of :class:`~ovsub.types.Word`,
so it can be tested and reused on its own::

    words  --clamp_stretched_starts-->  words  --split_by_pause-->  groups  --split_to_fit-->  chunks
    chunks  --break_lines-->  lines
            --place_in_time-->  Cue (integer ms)

Word conventions (what Whisper writes): a word's leading space means "a space goes before me"; a word without one
is glued to the word before it. Times are rounded to integer milliseconds once, with :func:`to_ms`. Whisper often
starts the first word of a sentence when the silence before it starts; :func:`clamp_stretched_starts` moves such
a start to where the word plausibly begins, and the cues (and their words) use that time.

Hard and soft limits. These always hold for the output of :func:`build_cues`:

- at most ``max_lines`` lines of at most ``max_line_chars`` characters (as counted by :func:`text_width`);
- at most ``max_duration_ms`` on screen; end after start; starts strictly increasing; at least ``min_gap_ms``
  between one cue's end and the next one's start (so never overlapping);
- no cue spans a pause between consecutive words longer than ``max_pause_ms``;
- a cue starts no earlier than ``lead_in_ms`` before its first word (and never before 0; "its first word" as
  the cue's ``words`` carry it, after :func:`clamp_stretched_starts`);
- every word is shown, once, in order (words of only whitespace are dropped; a word wider than a line is cut
  into pieces of ``max_line_chars``, the last resort).

These are soft: a cue is shown for at least ``min_display_ms`` (the longer of ``min_duration_ms`` and the time
its characters take to read at ``max_cps``, capped at ``max_duration_ms``) *unless it is boxed in*: it ends exactly
``min_gap_ms`` before the next cue starts, and it starts at the earliest moment allowed, which is ``lead_in_ms``
before its first word (or 0), or ``min_gap_ms`` after the previous cue ends (that cue then keeps only its own
minimum). That happens only when speech is denser than anyone can read, which no timing can fix without
pulling the text away from the voice. Likewise a cue normally stays until its last word ends (and up to
``linger_ms`` longer), but ends early when the next cue's words start less than ``min_gap_ms`` after that (or,
in broken input, before it), or when a single word lasts longer than ``max_duration_ms``.

Languages written without spaces (:data:`NO_SPACE_LANGUAGES`) are measured in characters and their words are
joined without spaces; a line may break between any two of them in Chinese and Japanese, while Thai, Lao, Khmer
and Burmese keep the spaces their text puts between phrases and break there (:data:`PHRASE_SPACE_LANGUAGES`).
See :func:`options_for_language` for the shorter lines of Chinese and Japanese.

Segments heard on different channels (``Segment.channel``, with channels split: a speaker each) are cut into
cues per speaker, and where the speakers talk at once or answer each other quickly, into cues holding both, each
speaker on a line of its own that starts with the dialogue dash (see :mod:`~ovsub.cues.dialogue`). The limits
above hold there too; a cue's words then run line by line rather than in time order.

The steps live in one module each, and each imports only those listed before it:

- :mod:`~ovsub.cues.rules`: language rules, break costs and small measures (:func:`to_ms`, :func:`text_width`);
- :mod:`~ovsub.cues.words`: collecting, spacing and cutting words, :func:`clamp_stretched_starts`;
- :mod:`~ovsub.cues.lines`: line breaking, :func:`break_lines`;
- :mod:`~ovsub.cues.split`: which words make a cue, :func:`split_by_pause` and :func:`split_to_fit`;
- :mod:`~ovsub.cues.timing`: when each cue shows, :func:`place_in_time`;
- :mod:`~ovsub.cues.dialogue`: segments of several channels (a speaker each), with a dash before each speaker's
  line where a cue holds two, :func:`dialogue_cues`;
- this package: the whole stage, :func:`build_cues`, and :func:`check_cues`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import pairwise

from ovsub.cues.dialogue import dialogue_cues
from ovsub.cues.lines import Run, break_lines
from ovsub.cues.rules import (
    DEFAULT_OPTIONS,
    LINE_CHARS_BY_LANGUAGE,
    NO_SPACE_LANGUAGES,
    PHRASE_SPACE_LANGUAGES,
    display,
    min_display_ms,
    options_for_language,
    rules_for,
    text_width,
    to_ms,
)
from ovsub.cues.split import draft_cues, split_by_pause, split_to_fit
from ovsub.cues.timing import place_in_time
from ovsub.cues.words import clamp_stretched_starts, collect_words, split_long_words, words_from_text
from ovsub.options import CueOptions
from ovsub.types import Cue, Segment

__all__ = [
    "NO_SPACE_LANGUAGES",
    "PHRASE_SPACE_LANGUAGES",
    "LINE_CHARS_BY_LANGUAGE",
    "build_cues",
    "break_lines",
    "check_cues",
    "clamp_stretched_starts",
    "dialogue_cues",
    "min_display_ms",
    "options_for_language",
    "place_in_time",
    "split_by_pause",
    "split_long_words",
    "split_to_fit",
    "text_width",
    "to_ms",
    "words_from_text",
]


def build_cues(
    segments: Iterable[Segment], options: CueOptions = DEFAULT_OPTIONS, language: str | None = None
) -> list[Cue]:
    """Turn transcript segments into subtitle cues that respect ``options`` (see the module docstring).

    ``language`` (ISO 639-1) picks the spacing and line-breaking rules; by default the first segment's language.
    Segments without word timings are shared out by character count; their cues carry no words.

    >>> from ovsub.types import Word
    >>> segment = Segment(0, 0.0, 2.0, "Hello there, how are you?", words=tuple(
    ...     Word(i * 0.4, i * 0.4 + 0.3, " " + t) for i, t in enumerate("Hello there, how are you?".split())))
    >>> [(c.start_ms, c.end_ms, c.lines) for c in build_cues([segment])]
    [(0, 2400, ('Hello there, how are you?',))]
    """
    segments = list(segments)  # an engine's iterator is read once
    if language is None:
        language = next((s.language for s in segments if s.language), None)
    options = options_for_language(options, language)
    rules = rules_for(language)
    if len({s.channel for s in segments}) > 1:  # a speaker per channel
        return place_in_time(dialogue_cues(segments, options, rules, language), options)
    words, untimed = collect_words(segments, language, options.max_line_chars)
    words = clamp_stretched_starts(words, keep=untimed)
    groups = split_by_pause(words, options.max_pause_ms)
    drafts: list[Cue] = []
    free_from_ms = 0
    for g, group in enumerate(groups):
        if g + 1 < len(groups):
            tail_room_ms = to_ms(groups[g + 1][0].start_s) - to_ms(group[-1].end_s) - options.min_gap_ms
        else:
            tail_room_ms = options.max_duration_ms
        cues, free_from_ms = draft_cues(Run(group, rules), options, tail_room_ms, free_from_ms, untimed)
        drafts.extend(cues)
    return place_in_time(drafts, options)


def check_cues(cues: Sequence[Cue], options: CueOptions = DEFAULT_OPTIONS, *, soft: bool = True) -> list[str]:
    """Every way ``cues`` break ``options``, as sentences a person can act on (empty when all is well).

    Hard limits are always checked; with ``soft`` the minimum duration and reading speed are too (build_cues
    may break those when speech is too fast to read, see the module docstring). Cues are numbered from 1, as in
    an SRT file.

    >>> for problem in check_cues([Cue(0, 500, ("Hi.",)), Cue(520, 1500, ("Bye.",))]):
    ...     print(problem)
    cue 1 at 00:00:00.000: shown 0.500 s, under the minimum 0.833 s
    cue 2 at 00:00:00.520: starts 20 ms after cue 1 ends, under the 83 ms gap
    """
    problems: list[str] = []
    for number, cue in enumerate(cues, 1):
        where = f"cue {number} at {_clock(cue.start_ms)}"
        problems.extend(f"{where}: {problem}" for problem in _cue_problems(cue, options, soft))
        if number > 1:
            previous = cues[number - 2]
            gap_ms = cue.start_ms - previous.end_ms
            if cue.start_ms <= previous.start_ms:
                problems.append(f"{where}: does not start after cue {number - 1}")
            elif gap_ms < 0:
                problems.append(f"{where}: overlaps cue {number - 1} by {-gap_ms} ms")
            elif gap_ms < options.min_gap_ms:
                problems.append(
                    f"{where}: starts {gap_ms} ms after cue {number - 1} ends, under the {options.min_gap_ms} ms gap"
                )
    return problems


def _cue_problems(cue: Cue, options: CueOptions, soft: bool) -> Iterable[str]:
    """What is wrong with one cue on its own."""
    if not "".join(cue.lines).strip():
        yield "has no text"
    if len(cue.lines) > options.max_lines:
        yield f"{len(cue.lines)} lines, over the maximum {options.max_lines}"
    for k, line in enumerate(cue.lines, 1):
        if text_width(line) > options.max_line_chars:
            yield f"line {k} has {text_width(line)} characters, over the maximum {options.max_line_chars}"
    if cue.start_ms < 0:
        yield "starts before 0"
    shown_s = cue.duration_ms / 1000
    if cue.end_ms <= cue.start_ms:
        yield f"ends at {_clock(cue.end_ms)}, not after it starts"
    elif cue.duration_ms > options.max_duration_ms:
        yield f"shown {shown_s:.3f} s, over the maximum {options.max_duration_ms / 1000:.3f} s"
    elif soft:
        if cue.duration_ms < options.min_duration_ms:
            yield f"shown {shown_s:.3f} s, under the minimum {options.min_duration_ms / 1000:.3f} s"
        chars = sum(text_width(line) for line in cue.lines)
        if chars > options.max_cps * shown_s + 1e-9:
            yield f"{chars / shown_s:.1f} characters per second, over the maximum {options.max_cps:g}"
    if cue.words:
        lead_ms = to_ms(cue.words[0].start_s) - cue.start_ms
        if lead_ms > options.lead_in_ms:
            yield f"starts {lead_ms} ms before its first word, over the {options.lead_in_ms} ms lead-in"
        for before, after in pairwise(cue.words):
            pause_ms = to_ms(after.start_s) - to_ms(before.end_s)
            if pause_ms > options.max_pause_ms:
                yield f"spans a {pause_ms} ms pause before {display(after)!r}, over {options.max_pause_ms} ms"


def _clock(ms: int) -> str:
    sign = "-" if ms < 0 else ""
    ms = abs(ms)
    return f"{sign}{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"
