"""The timeline: what the decoder reports about a window, put back on the media's timeline.

A window's audio is speech regions joined by short gaps (``windows.Window``); its chunk and word times
map back region by region, a word never stretches across silence VAD removed, and segment starts never
go back in time; a segment ends no later than the next one starts.
"""

from __future__ import annotations

from dataclasses import replace

from ovsub.transcription import guards
from ovsub.transcription.evidence import SpeechEvidence, refine_starts
from ovsub.transcription.guarded import WindowOutcome
from ovsub.transcription.windows import Window
from ovsub.types import Segment, Word

EDGE_S = 0.05  # a word ending this close to its region's end touches it
EDGE_GAP_S = 0.6  # ...and its phrase goes on within this of the next region's start (padding included)



def _clamp_words(words: tuple[Word, ...], start_s: float, end_s: float) -> tuple[Word, ...]:
    """Words inside [start_s, end_s], in order, each ending no later than the next one starts.

    >>> [(w.start_s, w.end_s) for w in _clamp_words((Word(0.5, 1.2, " a"), Word(1.0, 1.5, " b")), 0.6, 1.4)]
    [(0.6, 1.0), (1.0, 1.4)]
    """
    out: list[Word] = []
    last = start_s
    for w in words:
        s = min(max(w.start_s, last), end_s)
        e = min(max(w.end_s, s), end_s)
        if out and out[-1].end_s > s:
            out[-1] = replace(out[-1], end_s=max(out[-1].start_s, s))
        out.append(Word(s, e, w.text, w.probability))
        last = s
    return tuple(out)


def word_on_source(word: Word, window: Window) -> Word:
    """A word's timing on the source timeline, kept inside one speech region.

    The decoder hears regions joined by short gaps; a word whose timing straddles a join would stretch
    across all the silence VAD removed there, so it keeps the side of the join it mostly lies on.
    """
    start, end = window.to_source_time(word.start_s), window.to_source_time(word.end_s)
    for before, after in zip(window.regions, window.regions[1:]):
        if start <= before.end_s and end > after.start_s:  # across a removed stretch of silence (or from its edge)
            if before.end_s - start >= end - after.start_s:
                end = before.end_s
            else:
                start = after.start_s
    return Word(start, max(start, end), word.text, word.probability)


def _opening_word_with_its_phrase(words: tuple[Word, ...], window: Window) -> tuple[Word, ...]:
    """A segment's first word moved to the region its next word is in, when alignment left it behind.

    Decoded after a stretch that VAD took for speech (noise before a quiet voice), the first word of a
    phrase can be timed into the end of the region before, across removed silence from the rest of its
    phrase ("Three" at 11.2 s in noise, "people don't think..." from 13.4 s). A segment opens a phrase, so
    its first word goes with the word after it: from the start of that word's region to its start.

    >>> from ovsub.audio.vad import Region
    >>> w = Window((Region(0.0, 2.0), Region(5.0, 7.0)), gap_s=0.15)
    >>> words = (Word(1.7, 2.0, " Many"), Word(5.4, 5.8, " people"))
    >>> [(x.start_s, x.end_s) for x in _opening_word_with_its_phrase(words, w)]
    [(5.0, 5.4), (5.4, 5.8)]
    """
    if len(words) < 2:
        return words
    first, second = words[0], words[1]
    k = next((i for i, r in enumerate(window.regions) if r.start_s <= second.start_s < r.end_s), None)
    if k is None or k == 0:
        return words
    before, after = window.regions[k - 1], window.regions[k]
    left_behind = before.start_s <= first.start_s and first.end_s >= before.end_s - EDGE_S
    if not left_behind or second.start_s - after.start_s > EDGE_GAP_S:
        return words
    return (replace(first, start_s=after.start_s, end_s=max(after.start_s, second.start_s)), *words[1:])


def segments_from_result(
    outcome: WindowOutcome,
    window: Window,
    first_id: int,
    not_before_s: float,
    evidence: SpeechEvidence | None = None,
) -> list[Segment]:
    """The window's chunks as segments on the source timeline, starts never before ``not_before_s``.

    With ``evidence``, word starts that fall in non-speech move to where the voice starts
    (``evidence.refine_starts``), and a segment starts with its first word.
    """
    assert outcome.result is not None
    segments: list[Segment] = []
    for chunk in outcome.result.chunks:
        if not chunk.text:
            continue
        placed = _opening_word_with_its_phrase(tuple(word_on_source(w, window) for w in chunk.words if w.text.strip()),
                                               window)  # fmt: skip
        words = refine_starts(placed, evidence)
        start = max(window.to_source_time(chunk.start_s), not_before_s)
        end = max(window.to_source_time(chunk.end_s), start)
        if words:  # word timing is finer than the chunk's timestamp tokens
            start = max(words[0].start_s if evidence else min(start, words[0].start_s), not_before_s)
            end = max(end, words[-1].end_s)
            words = _clamp_words(words, start, end)
        segments.append(
            Segment(
                id=first_id + len(segments),
                start_s=start,
                end_s=end,
                text=chunk.text,
                words=words,
                language=outcome.result.language,
                avg_logprob=outcome.result.score,
                compression_ratio=round(guards.compression_ratio(chunk.text), 3),
                temperature=outcome.temperature,
                retried=outcome.retried,
            )
        )
        not_before_s = start
    return segments


def ends_by(segment: Segment, limit_s: float) -> Segment:
    """``segment`` ending no later than ``limit_s`` (the next segment's start), its words too, never before they start.

    >>> s = ends_by(Segment(0, 1.0, 2.5, "a b", (Word(1.0, 1.6, " a"), Word(1.7, 2.5, " b"))), 2.2)
    >>> s.end_s, [(w.start_s, w.end_s) for w in s.words]
    (2.2, [(1.0, 1.6), (1.7, 2.2)])
    """
    if segment.end_s <= limit_s:
        return segment
    words = tuple(w if w.end_s <= limit_s else replace(w, end_s=max(w.start_s, limit_s)) for w in segment.words)
    return replace(segment, end_s=max(segment.start_s, limit_s), words=words)
