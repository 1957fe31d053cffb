"""The timeline: what the decoder reports about a window, put back on the media's timeline.

A window's audio is speech regions joined by short gaps (``windows.Window``); its chunk and word times
map back region by region, a word never stretches across silence VAD removed, and segment starts never
go back in time. When the decoder stopped early inside a window, :func:`unheard_rest` names the speech it
never reached, so it can be decoded again instead of lost.
"""

from __future__ import annotations

from dataclasses import replace

from ovsub.audio.vad import Region
from ovsub.transcription import guards
from ovsub.transcription.evidence import SpeechEvidence, refine_starts
from ovsub.transcription.guarded import WindowOutcome
from ovsub.transcription.windows import Window
from ovsub.types import Segment, Word

MIN_REST_S = 2.0  # speech left after an early stop of the decoder that is worth a second decode
REST_MARGIN_S = 0.5  # what counts as heard after the last timestamp (timestamps can end before the last word)


def _clamp_words(words: tuple[Word, ...], start_s: float, end_s: float) -> tuple[Word, ...]:
    out: list[Word] = []
    last = start_s
    for w in words:
        s = min(max(w.start_s, last), end_s)
        e = min(max(w.end_s, s), end_s)
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
        words = refine_starts(tuple(word_on_source(w, window) for w in chunk.words if w.text.strip()), evidence)
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


def unheard_rest(outcome: WindowOutcome, window: Window, min_rest_s: float = MIN_REST_S) -> Window | None:
    """The speech of a window after the point where the decoder stopped early, if enough is left.

    Whisper sometimes ends a window's text long before the window's speech ends (seen in packed windows
    of quiet speech); what follows its last timestamp would otherwise be lost without a trace.
    """
    if outcome.result is None or not outcome.result.chunks:
        return None
    covered = window.to_source_time(max(c.end_s for c in outcome.result.chunks)) + REST_MARGIN_S
    # Regions the decoder never reached, and the tail of the one it stopped in when that tail is long
    # (a short tail is most likely the last words, already written: decoding it again would repeat them).
    rest = tuple(
        Region(max(r.start_s, covered), r.end_s)
        for r in window.regions
        if r.start_s >= covered or r.end_s - covered >= min_rest_s
    )
    if not rest or sum(r.duration_s for r in rest) < min_rest_s:
        return None
    return Window(rest, gap_s=window.gap_s)
